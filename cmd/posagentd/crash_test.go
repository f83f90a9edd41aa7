package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
	"github.com/posagent/posagent/offline/fatoorasim"
)

// saleBody is testdata's single-line sale under its own idempotency key.
func saleBody(t testing.TB, key string) []byte {
	t.Helper()
	b := string(agenttest.ReadRepoFile(t, "testdata/sales/01-cash-single-line.json"))
	return []byte(strings.Replace(b, `"pos1-0001"`, `"`+key+`"`, 1))
}

// TestCrashDuringSales kills the daemon (a real child process) with SIGKILL while a POS
// streams sales, several times, restarting it each time. Every sale the POS got a 200
// for is in the journal; a retry of every key sent (answered or cut off) returns one
// document, the same one for the answered keys, and never a second; the journal
// verifies.
func TestCrashDuringSales(t *testing.T) {
	rounds := 6
	if testing.Short() {
		rounds = 3
	}
	in := startInfra(t, false)
	cfgPath := in.config(t, nil)
	logPath := filepath.Join(in.dir, "daemon.log")
	ch := startChild(t, cfgPath, logPath)
	waitUp(t, in.socket(), 60*time.Second, ch.exited)
	ctx := context.Background()
	stateDir := filepath.Join(in.dir, "state")
	admin := adminClient(t, in.socket(), stateDir, "271828")
	if _, err := admin.Onboard(ctx, in.sim.OTP(t)); err != nil {
		t.Fatalf("onboard: %v\n%s", err, ch.logTail())
	}
	cashierClient(t, in.socket(), admin, "c1", apitype.RoleCashier)

	var (
		mu       sync.Mutex
		answered = map[string]*apitype.Document{} // keys the POS got a 200 for
		sent     []string                         // every key sent, in order
	)
	next := 0
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := 0; round < rounds; round++ {
		c := &client.Client{Socket: in.socket()}
		if _, err := c.Login(ctx, "c1", "8642"); err != nil {
			t.Fatalf("round %d: login: %v\n%s", round, err, ch.logTail())
		}
		mu.Lock()
		base := len(answered)
		mu.Unlock()
		killAfter := base + 3 + rng.IntN(30)
		stop := make(chan struct{})
		streamDone := make(chan int)
		go func() {
			ok := 0
			defer func() { streamDone <- ok }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				key := fmt.Sprintf("crash-%04d", next)
				next++
				sent = append(sent, key)
				mu.Unlock()
				d, err := c.Sale(ctx, saleBody(t, key))
				if err != nil {
					return // the daemon is gone: the answer for key was lost
				}
				mu.Lock()
				answered[key] = d
				mu.Unlock()
				ok++
			}
		}()
		// Kill once enough sales were answered in this round, at a random point of the
		// next one.
		for {
			mu.Lock()
			n := len(answered)
			mu.Unlock()
			if n >= killAfter {
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		ch.kill()
		close(stop)
		got := <-streamDone
		t.Logf("round %d: %d sales answered before SIGKILL", round, got)
		ch = startChild(t, cfgPath, logPath)
		waitUp(t, in.socket(), 60*time.Second, ch.exited)
	}

	c := &client.Client{Socket: in.socket()}
	if _, err := c.Login(ctx, "c1", "8642"); err != nil {
		t.Fatal(err)
	}
	head := uint64(0)
	for _, key := range sent {
		d, err := c.Sale(ctx, saleBody(t, key))
		if err != nil {
			t.Fatalf("retry of %s after the crashes: %v\n%s", key, err, ch.logTail())
		}
		if prev, ok := answered[key]; ok {
			if !d.Replayed || d.UUID != prev.UUID || d.Hash != prev.Hash || d.ICV != prev.ICV {
				t.Fatalf("retry of answered %s: got ICV %d %s (replayed %v), the POS had ICV %d %s",
					key, d.ICV, d.UUID, d.Replayed, prev.ICV, prev.UUID)
			}
		}
		byKey, err := c.DocumentByKey(ctx, key)
		if err != nil || byKey.UUID != d.UUID {
			t.Fatalf("document by key %s: %v", key, err)
		}
		head = max(head, d.ICV)
	}
	if head != uint64(len(sent)) {
		t.Fatalf("%d keys sent, the chain has %d documents: a key was issued twice or a number skipped", len(sent), head)
	}
	res, err := admin.Login(ctx, "admin", "271828")
	if err != nil || res == nil {
		t.Fatal(err)
	}
	v, err := admin.Verify(ctx)
	if err != nil || !v.OK || v.Documents != head {
		t.Fatalf("verify after the crashes: %+v %v", v, err)
	}
	t.Logf("%d sales, %d answered before a kill, %d rounds; journal verifies (%d audit entries)", len(sent), len(answered), rounds, v.AuditEntries)
}

// TestGracefulShutdown: SIGTERM while a request is in flight (an onboarding held up by
// a slow ZATCA) lets it finish with its answer before the daemon exits 0.
func TestGracefulShutdown(t *testing.T) {
	in := startInfra(t, false)
	cfgPath := in.config(t, nil)
	ch := startChild(t, cfgPath, filepath.Join(in.dir, "daemon.log"))
	waitUp(t, in.socket(), 60*time.Second, ch.exited)
	ctx := context.Background()
	admin := adminClient(t, in.socket(), filepath.Join(in.dir, "state"), "271828")
	if _, err := in.sim.Server.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointCompliance, Action: fatoorasim.FaultLatency,
		Latency: fatoorasim.Duration(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		res *apitype.OnboardResult
		err error
	}
	done := make(chan result, 1)
	otp := in.sim.OTP(t)
	go func() {
		r, err := admin.Onboard(ctx, otp)
		done <- result{r, err}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := ch.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("the onboarding in flight at SIGTERM: %v\n%s", r.err, ch.logTail())
	}
	select {
	case err := <-ch.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, ch.logTail())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not exit after SIGTERM")
	}
	// Restarted, the terminal is onboarded.
	ch = startChild(t, cfgPath, filepath.Join(in.dir, "daemon.log"))
	waitUp(t, in.socket(), 60*time.Second, ch.exited)
	c := &client.Client{Socket: in.socket()}
	if _, err := c.Login(ctx, "admin", "271828"); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || !st.Ready || st.Credentials.RequestID != r.res.RequestID {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	var ae *client.APIError
	if _, err := (&client.Client{Socket: in.socket()}).Status(ctx); !errors.As(err, &ae) {
		t.Fatalf("no session: %v", err)
	}
}
