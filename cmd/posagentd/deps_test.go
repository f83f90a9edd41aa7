package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/posagent/posagent"

// listed is one dependency as go list reports it.
type listed struct {
	imports  []string
	cgo      bool
	standard bool
}

// goList runs `go list -deps` on a package and returns each dependency.
func goList(t *testing.T, pkg string, env ...string) map[string]listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}|{{join .Imports ","}}|{{len .CgoFiles}}|{{.Standard}}`, pkg)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", pkg, err, stderr)
	}
	deps := map[string]listed{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 4)
		if len(parts) != 4 {
			t.Fatalf("go list line %q", line)
		}
		var imports []string
		if parts[1] != "" {
			imports = strings.Split(parts[1], ",")
		}
		deps[parts[0]] = listed{imports: imports, cgo: parts[2] != "0", standard: parts[3] == "true"}
	}
	return deps
}

// TestDaemonDeps: posagentd links no test helper, no simulator, and no software-only
// stamping key. hsm/softkey is the in-memory half of hsm/tpm's sealed secp256k1 key
// (hsm/tpm unseals into it), so it may be linked through hsm/tpm and nothing else.
func TestDaemonDeps(t *testing.T) {
	deps := goList(t, module+"/cmd/posagentd")
	for pkg, l := range deps {
		if !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		last := pkg[strings.LastIndex(pkg, "/")+1:]
		switch {
		case strings.HasSuffix(last, "test"):
			t.Errorf("posagentd links the test package %s", pkg)
		case strings.Contains(pkg, "fatoorasim"), strings.Contains(pkg, "escpossim"), strings.HasPrefix(pkg, module+"/cmd/") && pkg != module+"/cmd/posagentd":
			t.Errorf("posagentd links the simulator or command %s", pkg)
		}
		for _, imp := range l.imports {
			if imp == module+"/hsm/softkey" && pkg != module+"/hsm/tpm" {
				t.Errorf("%s imports hsm/softkey: the daemon's keys come from hsm/tpm only", pkg)
			}
		}
	}
	if _, ok := deps[module+"/hsm/tpm"]; !ok {
		t.Error("posagentd does not link hsm/tpm")
	}
}

// TestClientDeps: agent/client links only the standard library and agent/apitype, and
// builds without cgo, so POS integrators can use it without a C toolchain.
func TestClientDeps(t *testing.T) {
	for pkg, l := range goList(t, module+"/agent/client", "CGO_ENABLED=0") {
		if !l.standard && pkg != module+"/agent/client" && pkg != module+"/agent/apitype" {
			t.Errorf("agent/client links %s", pkg)
		}
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, module+"/agent/client")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("agent/client does not build without cgo: %v\n%s", err, out)
	}
	for pkg, l := range goList(t, module+"/agent/client", "CGO_ENABLED=1") {
		if l.cgo && !l.standard {
			t.Errorf("%s, linked by agent/client, uses cgo", pkg)
		}
	}
}
