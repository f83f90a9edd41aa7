// Command testinit is /init of the QEMU test guest (a static linux/arm64 binary in the
// initramfs built by board/qemu). As PID 1 it mounts proc, sys, devtmpfs and tmpfs, puts
// /dev/console on fds 0-2, loads the kernel modules the plan lists (finit_module), waits
// for the plan's devices, brings up the network and mounts the persistent disk when the
// plan says so, runs the steps of the plan named by TESTINIT_PLAN, prints
// "TESTINIT DONE fail=N", unmounts the disk and powers the machine off.
//
// Run as any other PID (on the host, for its own tests) it only runs the steps:
//
//	testinit -plans plans.json -plan NAME
//
// and exits with status 1 when a step failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/posagent/posagent/board/qemu/plan"
)

func main() {
	pid1 := os.Getpid() == 1
	plansPath := flag.String("plans", plan.Path, "plan file")
	planName := flag.String("plan", os.Getenv("TESTINIT_PLAN"), "plan to run (default $TESTINIT_PLAN)")
	if !pid1 {
		flag.Parse()
	}
	out := &console{w: os.Stdout}
	start := time.Now()
	fail := run(*plansPath, *planName, pid1, out)
	out.linef("%s%d (%.1fs)\n", plan.DonePrefix, fail, time.Since(start).Seconds())
	if pid1 {
		shutdown(out) // does not return
	}
	if fail > 0 {
		os.Exit(1)
	}
}

// run sets the system up (as PID 1) and runs the plan; it returns the number of failures.
func run(plansPath, planName string, pid1 bool, out *console) int {
	if pid1 {
		if err := setupSystem(); err != nil {
			out.linef("%ssystem: %v\n", plan.FailPrefix, err)
			return 1
		}
		if up, err := os.ReadFile("/proc/uptime"); err == nil {
			out.linef("testinit: started at uptime %ss\n", strings.Fields(string(up))[0])
		}
	}
	data, err := os.ReadFile(plansPath)
	if err != nil {
		out.linef("%splan: %v\n", plan.FailPrefix, err)
		return 1
	}
	f, err := plan.Parse(data)
	if err != nil {
		out.linef("%splan: %v\n", plan.FailPrefix, err)
		return 1
	}
	steps, ok := f.Plans[planName]
	if !ok {
		names := make([]string, 0, len(f.Plans))
		for n := range f.Plans {
			names = append(names, n)
		}
		out.linef("%splan: no plan %q (TESTINIT_PLAN); have %s\n", plan.FailPrefix, planName, strings.Join(names, ", "))
		return 1
	}
	if pid1 {
		if err := setupPlan(f, out); err != nil {
			out.linef("%ssetup: %v\n", plan.FailPrefix, err)
			return 1
		}
	}
	return runSteps(context.Background(), steps, stepEnv(), out)
}

// console serialises writes to the console and remembers whether the last byte was a
// newline, so that testinit's result lines always start a line of their own even when a
// step's output does not end with one.
type console struct {
	mu  sync.Mutex
	w   io.Writer
	mid bool // the last byte written was not a newline
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.w.Write(p)
	if n > 0 {
		c.mid = p[n-1] != '\n'
	}
	return n, err
}

// linef prints one line (format ends with a newline) at the start of a line.
func (c *console) linef(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mid {
		_, _ = io.WriteString(c.w, "\n")
	}
	fmt.Fprintf(c.w, format, args...)
	c.mid = false
}

// stepEnv is the environment every step starts with: init's own (the kernel passes
// KEY=value boot parameters there) plus PATH and TMPDIR defaults.
func stepEnv() []string {
	env := os.Environ()
	has := func(k string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		env = append(env, "PATH=/bin:/sbin:/usr/bin:/tests")
	}
	if !has("TMPDIR") {
		env = append(env, "TMPDIR=/tmp")
	}
	return env
}
