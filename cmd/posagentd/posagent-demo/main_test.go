// The demo starts real child processes (swtpm, fatoora-sim, printer-sim, posagentd) that it
// builds for this machine; under qemu-user an ARM test binary cannot exec ARM children, so
// this test runs natively only (the same programs are exercised on ARM by the daemon's
// own tests and by the QEMU guest).

//go:build !arm64 && !arm

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/ubl"
)

// buildBinaries builds the four programs `make run` starts.
func buildBinaries(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+"/",
		"github.com/posagent/posagent/cmd/posagentd", "github.com/posagent/posagent/cmd/posctl",
		"github.com/posagent/posagent/cmd/fatoora-sim", "github.com/posagent/posagent/cmd/printer-sim")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// field reads "  name   value" from the demo's summary.
func field(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` +(.+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo printed no %q line:\n%s", name, out)
	}
	return strings.TrimSpace(m[1])
}

// TestMakeRun runs what `make run` runs, twice on the same state (a fresh machine, then a
// restart): each time the terminal is ready, a sale is signed, printed, reported, and
// every process the demo started is stopped again.
func TestMakeRun(t *testing.T) {
	bin := buildBinaries(t)
	varDir := t.TempDir()
	for i, wantICV := range []string{"1", "2"} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		var out bytes.Buffer
		err := run(ctx, []string{"-var", varDir, "-bin", bin, "-repo", "../../..", "-once"}, &out)
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
		s := out.String()
		if i == 0 && !strings.Contains(s, "onboarded: production CSID") {
			t.Errorf("first run did not onboard:\n%s", s)
		}
		if doc := field(t, s, "document"); !strings.Contains(doc, "ICV "+wantICV+" ") {
			t.Errorf("run %d: document %q, want ICV %s (one chain across restarts)", i+1, doc, wantICV)
		}
		if r := field(t, s, "reported"); !strings.HasPrefix(r, "reported") {
			t.Errorf("run %d: reported %q", i+1, r)
		}
		if p := field(t, s, "printed"); !strings.HasPrefix(p, "true") {
			t.Errorf("run %d: printed %q", i+1, p)
		}
		qrText := field(t, s, "QR")

		xml, err := os.ReadFile(field(t, s, "signed XML"))
		if err != nil {
			t.Fatal(err)
		}
		v, err := ubl.Verify(xml, ubl.VerifyOptions{})
		if err != nil {
			t.Fatalf("run %d: the signed XML does not verify: %v", i+1, err)
		}
		if v.QRText != qrText {
			t.Errorf("run %d: the printed QR is not the document's", i+1)
		}
		png := field(t, s, "receipt PNG")
		decoded, err := exec.Command("zbarimg", "--quiet", "--raw", png).Output()
		if err != nil {
			t.Fatalf("zbarimg %s: %v", png, err)
		}
		if strings.TrimSpace(string(decoded)) != qrText {
			t.Errorf("run %d: the receipt's QR decodes to something else than the document's QR", i+1)
		}
	}
	// Nothing the demo started is left running.
	out, _ := exec.Command("pgrep", "-f", filepath.Join(varDir, "")).Output()
	if len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("processes left running after the demo: %s", out)
	}
}
