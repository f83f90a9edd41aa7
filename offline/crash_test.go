package offline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/store/sqlite"
)

// Child processes: the test binary re-executed with one of these roles.
const (
	childEnv    = "POSAGENT_OFFLINE_CHILD"
	childWorker = "worker" // runs the worker on a journal until every report is final
	childSim    = "sim"    // serves a simulator (the benchmark's, out of the measured process)
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case childWorker:
		os.Exit(runChildWorker())
	case childSim:
		os.Exit(runChildSim())
	}
	code := m.Run()
	cleanupBacklog()
	os.Exit(code)
}

// childCommand re-executes the test binary in a role. Under qemu-user an
// arm64 binary cannot exec itself directly: $POSAGENT_EXEC_PREFIX holds the
// emulator command line to put in front.
func childCommand(role string, env ...string) *exec.Cmd {
	args := strings.Fields(os.Getenv("POSAGENT_EXEC_PREFIX"))
	args = append(args, os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	return cmd
}

// childCreds is how the parent hands the production CSID to a child.
type childCreds struct {
	Token  string `json:"token"`
	Secret string `json:"secret"`
}

func writeCreds(t testing.TB, c zatca.Credentials) string {
	t.Helper()
	b, err := json.Marshal(childCreds{c.Token, c.Secret})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "creds.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runChildWorker reports the journal at $JOURNAL to the simulator at
// $SIM_URL with the credentials in $CREDS until every report is final.
func runChildWorker() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child worker:", err); return 2 }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := os.ReadFile(os.Getenv("CREDS"))
	if err != nil {
		return fail(err)
	}
	var cc childCreds
	if err := json.Unmarshal(b, &cc); err != nil {
		return fail(err)
	}
	db, err := sqlite.Open(ctx, os.Getenv("JOURNAL"), sqlite.DefaultOptions())
	if err != nil {
		return fail(err)
	}
	defer db.Close(context.Background())
	zc := zatca.DefaultConfig()
	zc.Environment, zc.BaseURL, zc.Timeout = zatca.Custom, os.Getenv("SIM_URL"), 10*time.Second
	client, err := zatca.New(zc, nil)
	if err != nil {
		return fail(err)
	}
	up, err := offline.NewZATCAUploader(client, offline.StaticCredentials(zatca.Credentials{Token: cc.Token, Secret: cc.Secret}))
	if err != nil {
		return fail(err)
	}
	cfg := offline.DefaultConfig()
	cfg.RateLimit = 0
	cfg.RetryBase, cfg.RetryMax, cfg.PollInterval = 20*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond
	w, err := offline.New(offline.Options{Config: cfg, Store: db, Uploader: up})
	if err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return fail(fmt.Errorf("worker stopped: %w", err))
		case <-time.After(20 * time.Millisecond):
		}
		left, err := db.Pending(ctx, time.Now().AddDate(100, 0, 0), 1)
		if err != nil {
			return fail(err)
		}
		if len(left) == 0 {
			cancel()
			<-done
			return 0
		}
	}
}

// SIGKILL during uploads: a child process reports the journal and is killed
// at random moments; after a restart nothing is lost and the simulator
// accepted every document exactly once (the resends after a kill get 409).
func TestKilledDuringUploads(t *testing.T) {
	n, kills := 400, 6
	if testing.Short() {
		n, kills = 120, 3
	}
	h := newHarness(t, harnessOptions{})
	for i := range n {
		h.issue(i, time.Now(), nil)
	}
	if err := h.db.Close(context.Background()); err != nil { // the children own it now
		t.Fatal(err)
	}
	// Slow answers, so that kills land while requests are in flight, and
	// some answers lost after the commit.
	for _, f := range []fatoorasim.Fault{
		{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultLatency, Latency: fatoorasim.Duration(30 * time.Millisecond)},
		{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultCommitDrop, Probability: 0.03, Seed: 11},
	} {
		if _, err := h.sim.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"JOURNAL=" + h.dbPath, "SIM_URL=" + h.hs.URL, "CREDS=" + writeCreds(t, h.creds)}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	run := func(kill bool) {
		var out bytes.Buffer
		cmd := childCommand(childWorker, env...)
		cmd.Stdout, cmd.Stderr = &out, &out
		before := h.wire.count()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if !kill {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("final child: %v\n%s", err, out.String())
			}
			return
		}
		// Kill at a random moment once it is reporting.
		deadline := time.Now().Add(60 * time.Second)
		for h.wire.count() == before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child was not killed (it finished first?): %v\n%s", err, out.String())
		}
	}
	for range kills {
		run(true)
	}
	killedAt := h.wire.count()
	run(false)

	db := openJournal(t, h.dbPath)
	h.db = db
	rep, err := db.Verify(context.Background(), ubl.InvoiceHashBase64)
	if err != nil || !rep.OK() || rep.Documents != uint64(n) {
		t.Fatalf("journal after the kills: %v %+v", err, rep)
	}
	docs := h.allDocs()
	h.checkReportedOnce(docs)
	resent, dup := 0, 0
	for _, d := range docs {
		e := h.wire.entry(d.UUID)
		if len(e.bodies) != 1 {
			t.Errorf("ICV %d: %d distinct bodies sent, want the same bytes every time", d.ICV, len(e.bodies))
		}
		if e.requests > 1 {
			resent++
		}
		for _, s := range e.statuses {
			if s == 409 {
				dup++
			}
		}
	}
	t.Logf("%d documents, %d kills, %d requests before the last run, %d total; %d documents sent more than once, %d answers 409",
		n, kills, killedAt, h.wire.count(), resent, dup)
	if resent == 0 {
		t.Errorf("no document was sent twice: the kills did not interrupt anything")
	}
}
