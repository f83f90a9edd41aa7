package plan_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/posagent/posagent/board/qemu/plan"
)

const valid = `{
  "modules": "/modules/order",
  "network": true,
  "disk": {"device": "/dev/vda", "mount": "/var/lib/posagent", "fstype": "ext4"},
  "wait_for": ["/dev/tpmrm0"],
  "plans": {
    "smoke": [
      {"name": "daemon", "args": ["/bin/posagentd", "-config", "/etc/posagent.json"], "background": true,
       "wait_for": "/run/posagent.sock", "timeout": "30s"},
      {"name": "sale", "args": ["/bin/posctl", "sale", "${SALE}"], "dir": "/src/cmd/posctl", "env": ["A=b=c"]}
    ]
  }
}`

func TestParse(t *testing.T) {
	f, err := plan.Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	steps := f.Plans["smoke"]
	if len(steps) != 2 || !steps[0].Background || steps[0].TimeoutOrDefault().String() != "30s" ||
		steps[1].TimeoutOrDefault() != plan.DefaultTimeout || f.Disk.FSType != "ext4" {
		t.Fatalf("parsed %+v", f)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, from, to, field string
	}{
		{"unknown field", `"network": true`, `"netwrok": true`, "unknown field"},
		{"relative modules", `"/modules/order"`, `"modules/order"`, "modules"},
		{"relative program", `"/bin/posctl"`, `"posctl"`, "plans[smoke][1].args[0]"},
		{"bad step name", `"name": "sale"`, `"name": "a sale"`, "plans[smoke][1].name"},
		{"duplicate step", `"name": "sale"`, `"name": "daemon"`, "plans[smoke][1].name"},
		{"bad timeout", `"timeout": "30s"`, `"timeout": "-1s"`, "plans[smoke][0].timeout"},
		{"bad env", `"A=b=c"`, `"=b"`, "plans[smoke][1].env"},
		{"wait_for on foreground", `"background": true,`, ``, "plans[smoke][0].wait_for"},
		{"disk without fstype", `"fstype": "ext4"`, `"fstype": ""`, "disk.fstype"},
		{"relative wait", `["/dev/tpmrm0"]`, `["tpmrm0"]`, "wait_for[0]"},
		{"bad plan name", `"smoke": [`, `"smoke test": [`, "plans"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(valid, tc.from, tc.to, 1)
			if in == valid {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := plan.Parse([]byte(in))
			if !errors.Is(err, plan.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Parse = %v, want ErrInvalid naming %s", err, tc.field)
			}
		})
	}
	if _, err := plan.Parse([]byte(`{"plans": {}}`)); !errors.Is(err, plan.ErrInvalid) {
		t.Fatalf("empty plans: %v", err)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"PORT": "8080", "X_1": "y"}
	get := func(k string) string { return env[k] }
	for in, want := range map[string]string{
		"http://10.0.2.2:${PORT}/": "http://10.0.2.2:8080/",
		"${X_1}${X_1}":             "yy",
		"${MISSING}-":              "-",
		"$PORT ${ PORT} ${1A}":     "$PORT ${ PORT} ${1A}",
	} {
		if got := plan.Expand(in, get); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseConsole(t *testing.T) {
	console := "[    1.0] booting\r\n" +
		"TESTINIT RUN board\r\n" +
		"TESTINIT PASS board (0.5s)\r\n" +
		"TESTINIT RUN tpm\r\n" +
		"TESTINIT FAIL tpm: exit status 1 (1.2s)\r\n" +
		"TESTINIT FAIL store.test: background: exited early\r\n" +
		"a step printing TESTINIT DONE fail=0 mid-line\r\n" +
		"TESTINIT DONE fail=2 (3.1s)\r\n"
	got := plan.ParseConsole(console)
	want := plan.Result{Done: true, Fail: 2, Passed: []string{"board"}, Failed: []string{"tpm", "store.test"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseConsole = %+v, want %+v", got, want)
	}
	if got := plan.ParseConsole("[ 1.0] Kernel panic\n"); got.Done {
		t.Fatalf("no DONE line: %+v", got)
	}
}
