package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/board/qemu/plan"
)

// syncBuffer is the console: steps and the runner write to it from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func sh(name, script string) plan.Step {
	return plan.Step{Name: name, Args: []string{"/bin/sh", "-c", script}}
}

func TestRunSteps(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "daemon.ready")
	marker := filepath.Join(dir, "daemon.stopped")
	steps := []plan.Step{
		sh("ok", "echo hello from ok"),
		sh("no-newline", "printf 'no newline at the end'"),
		sh("fails", "exit 3"),
		{Name: "env-and-dir", Args: []string{"/bin/sh", "-c", `test "$PWD" = "$1" && test "$A" = "x=y" && test "$FROM_BOOT" = boot && echo "arg ${0}"`, "${FROM_BOOT}", filepath.Join(dir, "made/here")},
			Dir: filepath.Join(dir, "made/here"), Env: []string{"A=x=y"}},
		{Name: "slow", Args: []string{"/bin/sh", "-c", "sleep 30"}, Timeout: "300ms"},
		// A daemon: ready when its file exists, stops cleanly on SIGTERM.
		{Name: "daemon", Args: []string{"/bin/sh", "-c", `trap 'touch "$1"; exit 0' TERM; touch "$2"; while :; do sleep 0.05; done`, "sh", marker, sock},
			Background: true, WaitFor: sock, Timeout: "10s"},
		sh("uses-daemon", "test -e "+sock),
		{Name: "never-ready", Args: []string{"/bin/sh", "-c", "exit 0"}, Background: true, WaitFor: filepath.Join(dir, "nope"), Timeout: "2s"},
		{Name: "missing", Args: []string{"/nonexistent/program"}},
	}
	var out syncBuffer
	env := append(os.Environ(), "FROM_BOOT=boot")
	start := time.Now()
	fail := runSteps(context.Background(), steps, env, &console{w: &out})
	console := out.String()
	t.Log(console)
	if fail != 4 {
		t.Errorf("fail = %d, want 4 (fails, slow, never-ready, missing)", fail)
	}
	got := plan.ParseConsole(console)
	if want := []string{"ok", "no-newline", "env-and-dir", "daemon", "uses-daemon"}; !reflect.DeepEqual(got.Passed, want) {
		t.Errorf("passed %v, want %v", got.Passed, want)
	}
	if want := []string{"fails", "slow", "never-ready", "missing"}; !reflect.DeepEqual(got.Failed, want) {
		t.Errorf("failed %v, want %v", got.Failed, want)
	}
	for _, s := range []string{"hello from ok", "arg boot", "no newline at the end\nTESTINIT PASS no-newline", "TESTINIT FAIL slow: timed out after 300ms",
		"TESTINIT FAIL fails: exit status 3", "TESTINIT FAIL never-ready: exited (<nil>) before"} {
		if !strings.Contains(console, s) {
			t.Errorf("console lacks %q", s)
		}
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the background daemon was not stopped with SIGTERM: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v: the timed-out step was not killed", d)
	}
}

func TestBackgroundExitsEarly(t *testing.T) {
	var out syncBuffer
	steps := []plan.Step{
		{Name: "crasher", Args: []string{"/bin/sh", "-c", "sleep 0.2; exit 7"}, Background: true},
		sh("wait", "sleep 0.6"),
	}
	if fail := runSteps(context.Background(), steps, os.Environ(), &console{w: &out}); fail != 1 {
		t.Fatalf("fail = %d, want 1\n%s", fail, out.String())
	}
	if !strings.Contains(out.String(), "TESTINIT FAIL crasher: background: exited early: exit status 7") {
		t.Fatalf("console:\n%s", out.String())
	}
}

// TestMainOffPID1 runs the built command as the host would: plan file and name as flags.
func TestMainOffPID1(t *testing.T) {
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans.json")
	if err := os.WriteFile(plans, []byte(`{"plans": {"good": [{"name": "t", "args": ["/bin/true"]}],
		"bad": [{"name": "f", "args": ["/bin/false"]}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		// Under qemu-user the test binary is foreign: the go_linux_*_exec wrapper names
		// the emulator in POSAGENT_EXEC_PREFIX.
		argv := append(append(strings.Fields(os.Getenv("POSAGENT_EXEC_PREFIX")), self), args...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "TESTINIT_AS_MAIN=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("-plans", plans, "-plan", "good")
	if err != nil || !strings.Contains(out, "TESTINIT PASS t") || !strings.Contains(out, plan.DonePrefix+"0 ") {
		t.Fatalf("good plan: %v\n%s", err, out)
	}
	out, err = run("-plans", plans, "-plan", "bad")
	if err == nil || !strings.Contains(out, plan.DonePrefix+"1 ") {
		t.Fatalf("bad plan: %v\n%s", err, out)
	}
	out, err = run("-plans", plans, "-plan", "absent")
	if err == nil || !strings.Contains(out, `TESTINIT FAIL plan: no plan "absent"`) {
		t.Fatalf("absent plan: %v\n%s", err, out)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("TESTINIT_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
