package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/posagent/posagent/board/qemu/plan"
)

// background is a step left running for later steps.
type background struct {
	step plan.Step
	cmd  *exec.Cmd
	done chan error // receives Wait's result once
	err  error      // Wait's result after done fired
	over bool       // done has fired
}

// runSteps runs steps in order, printing a RUN line before and a PASS or FAIL line after
// each; background steps are stopped after the last step. It returns the failure count.
func runSteps(ctx context.Context, steps []plan.Step, env []string, out *console) int {
	fail := 0
	var bg []*background
	lookup := func(k string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], k+"="); ok {
				return v
			}
		}
		return ""
	}
	for _, s := range steps {
		out.linef("%s%s\n", plan.RunPrefix, s.Name)
		start := time.Now()
		var err error
		if s.Background {
			var b *background
			b, err = startBackground(s, env, lookup, out)
			if b != nil {
				bg = append(bg, b)
			}
		} else {
			err = runStep(ctx, s, env, lookup, out)
		}
		if err != nil {
			fail++
			out.linef("%s%s: %v (%.1fs)\n", plan.FailPrefix, s.Name, err, time.Since(start).Seconds())
			continue
		}
		out.linef("%s%s (%.1fs)\n", plan.PassPrefix, s.Name, time.Since(start).Seconds())
	}
	for _, b := range bg {
		if err := b.stop(); err != nil {
			fail++
			out.linef("%s%s: background: %v\n", plan.FailPrefix, b.step.Name, err)
		}
	}
	return fail
}

func command(s plan.Step, env []string, lookup func(string) string, out *console) *exec.Cmd {
	args := make([]string, len(s.Args))
	for i, a := range s.Args {
		args[i] = plan.Expand(a, lookup)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = s.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = append(append([]string(nil), env...), s.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a timeout kills the step's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// runStep runs one foreground step to completion or to its timeout.
func runStep(ctx context.Context, s plan.Step, env []string, lookup func(string) string, out *console) error {
	cmd := command(s, env, lookup, out)
	if err := os.MkdirAll(cmd.Dir, 0o755); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(s.TimeoutOrDefault())
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		killGroup(cmd)
		<-done
		return fmt.Errorf("timed out after %v", s.TimeoutOrDefault())
	case <-ctx.Done():
		killGroup(cmd)
		<-done
		return ctx.Err()
	}
}

// startBackground starts a background step and waits for its WaitFor path.
func startBackground(s plan.Step, env []string, lookup func(string) string, out *console) (*background, error) {
	cmd := command(s, env, lookup, out)
	if err := os.MkdirAll(cmd.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &background{step: s, cmd: cmd, done: make(chan error, 1)}
	go func() { b.done <- cmd.Wait() }()
	if s.WaitFor == "" {
		return b, nil
	}
	path := plan.Expand(s.WaitFor, lookup)
	deadline := time.Now().Add(s.TimeoutOrDefault())
	for {
		if _, err := os.Stat(path); err == nil {
			return b, nil
		}
		select {
		case err := <-b.done:
			b.over, b.err = true, err
			return b, fmt.Errorf("exited (%v) before %s appeared", err, path)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return b, fmt.Errorf("%s did not appear within %v", path, s.TimeoutOrDefault())
		}
	}
}

// stop ends a background step: SIGTERM, then SIGKILL after 5 s. An exit before stop
// was called with an error counts as a failure.
func (b *background) stop() error {
	if !b.over {
		select {
		case err := <-b.done:
			b.over, b.err = true, err
			if err != nil {
				return fmt.Errorf("exited early: %w", err)
			}
			return nil
		default:
		}
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			killGroup(b.cmd)
			<-b.done
			return errors.New("did not stop within 5s of SIGTERM")
		}
		return nil
	}
	return nil // already reported by startBackground
}

func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
