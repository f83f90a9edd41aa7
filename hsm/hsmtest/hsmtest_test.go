package hsmtest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/hsm/hsmtest"
)

func TestStartRestartStop(t *testing.T) {
	for _, start := range []func(testing.TB, string) *hsmtest.SWTPM{hsmtest.StartSWTPM, hsmtest.StartSWTPMUnix} {
		state := t.TempDir()
		sw := start(t, state)
		spec := sw.Spec()
		if !strings.HasPrefix(spec, "tcp:127.0.0.1:") && !strings.HasPrefix(spec, "unix:/") {
			t.Fatalf("spec %q", spec)
		}
		pid := sw.PID()
		if pid == 0 {
			t.Fatal("no pid")
		}
		if _, err := os.Stat(filepath.Join(state, "tpm2-00.permall")); err != nil {
			t.Fatalf("swtpm wrote no state: %v", err)
		}
		sw.Restart()
		t.Logf("%s -> %s", spec, sw.Spec())
		if sw.PID() == pid || sw.PID() == 0 {
			t.Fatalf("restart kept pid %d", pid)
		}
		if err := hsmtest.Ping(sw.Spec()); err != nil {
			t.Fatalf("after restart: %v", err)
		}
		sw.Stop()
		sw.Stop()
		if err := hsmtest.Ping(spec); err == nil {
			t.Fatal("swtpm still answers after Stop")
		}
	}
}
