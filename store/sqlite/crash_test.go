package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/store"
	"github.com/posagent/posagent/store/sqlite"
)

var (
	crashKills = flag.Int("crash-kills", 200, "TestCrashTorture: how many times the appending child is killed")
	crashSeed  = flag.Uint64("crash-seed", 0, "TestCrashTorture: random seed (0: from the clock)")
)

// The child side of TestCrashTorture: the test binary re-executed with
// these variables set appends documents until it is killed.
const (
	crashChildEnv = "POSAGENT_STORE_CRASH_CHILD" // the journal path
	crashRunEnv   = "POSAGENT_STORE_CRASH_RUN"   // the run number, for unique keys
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path, os.Getenv(crashRunEnv)))
	}
	os.Exit(m.Run())
}

// crashChild appends documents in a loop and prints one line per document
// after Append has returned: "ok <icv> <key> <uuid> <hash> <sha256(xml)>".
// Every fifth iteration it repeats the previous key first, which must
// return the same document ("dup <key> <icv>"); every third document is
// marked printed and every fourth gets a retry attempt, so kills also land
// in those transactions. It never returns normally: the parent kills it.
func crashChild(path, run string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		return 3
	}
	tmpl, err := os.ReadFile(templatePath)
	if err != nil {
		return fail("%v", err)
	}
	seed, _ := strconv.ParseUint(run, 10, 64)
	g, err := newInvoicesFrom(tmpl, seed+1000)
	if err != nil {
		return fail("%v", err)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.DefaultOptions())
	if err != nil {
		return fail("open: %v", err)
	}
	var prev *store.Document
	for i := 0; ; i++ {
		if i%5 == 4 && prev != nil {
			d, existed, err := db.Append(ctx, prev.IdempotencyKey, time.Now(), g.Build(time.Now()))
			if err != nil || !existed || d.ICV != prev.ICV || d.Hash != prev.Hash {
				return fail("repeat of %s: existed %v, %v", prev.IdempotencyKey, existed, err)
			}
			os.Stdout.WriteString("dup " + prev.IdempotencyKey + " " + strconv.FormatUint(d.ICV, 10) + "\n")
		}
		key := "r" + run + "-" + strconv.Itoa(i)
		now := time.Now()
		d, existed, err := db.Append(ctx, key, now, g.Build(now))
		if err != nil || existed {
			return fail("append %s: existed %v, %v", key, existed, err)
		}
		sum := sha256.Sum256(d.XML)
		os.Stdout.WriteString(fmt.Sprintf("ok %d %s %s %s %s\n", d.ICV, key, d.UUID, d.Hash, hex.EncodeToString(sum[:])))
		if i%3 == 0 {
			if err := db.MarkPrinted(ctx, d.UUID, time.Now(), false); err != nil {
				return fail("mark printed: %v", err)
			}
		}
		if i%4 == 0 {
			at := time.Now()
			if err := db.RecordAttempt(ctx, d.UUID, store.Attempt{At: at, HTTPStatus: 503, Outcome: store.OutcomeRetry, NextAttemptAt: at.Add(time.Minute)}); err != nil {
				return fail("record attempt: %v", err)
			}
		}
		prev = d
	}
}

type printedDoc struct {
	icv                 uint64
	key, uuid, hash, xs string
}

// TestCrashTorture kills a child process that appends documents with
// SIGKILL at random moments, -crash-kills times in all, and after every
// kill reopens the journal and checks: ICVs contiguous, the PIH chain
// intact, every document whose Append returned (printed by the child)
// present and identical, repeated keys never duplicated, and the new
// documents' hashes recomputed from their XML. Every 25 kills and at the
// end the whole journal is verified (including the audit chain and key
// uniqueness). The kills are shared among parallel lanes, one journal
// each, one per CPU (at most 4): under qemu-user, starting the child is
// most of the time.
func TestCrashTorture(t *testing.T) {
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -crash-seed=%d)", seed, seed)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var argv []string
	if p := strings.Fields(os.Getenv("POSAGENT_EXEC_PREFIX")); len(p) > 0 { // qemu-user
		argv = append(argv, p...)
	}
	argv = append(argv, exe, "-test.run=^$")
	lanes := max(1, min(runtime.NumCPU(), 4, *crashKills))
	t.Run("lanes", func(t *testing.T) {
		for lane := range lanes {
			kills := *crashKills / lanes
			if lane < *crashKills%lanes {
				kills++
			}
			t.Run(strconv.Itoa(lane), func(t *testing.T) {
				t.Parallel()
				crashLane(t, argv, seed+uint64(lane), kills)
			})
		}
	})
}

func crashLane(t *testing.T, argv []string, seed uint64, kills int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	path := filepath.Join(t.TempDir(), "journal.db")

	all := map[string]printedDoc{} // by key, across runs
	head := store.GenesisHead()
	var earlyKills, dups int
	start := time.Now()
	for run := 0; run < kills; run++ {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashRunEnv+"="+strconv.Itoa(run))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			lines []string
			first = make(chan struct{})
			done  = make(chan struct{})
		)
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			once := sync.OnceFunc(func() { close(first) })
			for sc.Scan() {
				mu.Lock()
				lines = append(lines, sc.Text())
				mu.Unlock()
				once()
			}
			io.Copy(io.Discard, out)
		}()
		if rng.IntN(4) == 0 {
			// Anywhere from exec to the first appends, opening and recovery included.
			time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
			earlyKills++
		} else {
			select {
			case <-first:
			case <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("run %d: child printed nothing in 60 s; stderr:\n%s", run, stderr.String())
			}
			time.Sleep(time.Duration(rng.IntN(15_000)) * time.Microsecond)
		}
		cmd.Process.Kill() // SIGKILL
		<-done
		werr := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(werr, &ee) || ee.ExitCode() != -1 { // -1: killed by a signal
			t.Fatalf("run %d: child ended by itself (%v); stderr:\n%s", run, werr, stderr.String())
		}

		// What the child reported.
		var printed []printedDoc
		for _, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) == 6 && f[0] == "ok":
				icv, _ := strconv.ParseUint(f[1], 10, 64)
				p := printedDoc{icv: icv, key: f[2], uuid: f[3], hash: f[4], xs: f[5]}
				if _, dup := all[p.key]; dup {
					t.Fatalf("run %d: key %s appended twice", run, p.key)
				}
				all[p.key] = p
				printed = append(printed, p)
			case len(f) == 3 && f[0] == "dup":
				dups++
			default:
				t.Fatalf("run %d: unexpected child output %q", run, l)
			}
		}

		// Reopen (recovery) and check.
		db := openDB(t, path)
		ctx := context.Background()
		newHead, err := db.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if newHead.ICV < head.ICV {
			t.Fatalf("run %d: head went back from ICV %d to %d", run, head.ICV, newHead.ICV)
		}
		docs, err := db.List(ctx, store.Range{From: head.ICV + 1})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		prev := head
		for _, d := range docs {
			if d.ICV != prev.ICV+1 || d.PIH != prev.Hash {
				t.Fatalf("run %d: ICV %d (PIH %s) does not continue ICV %d (%s)", run, d.ICV, d.PIH, prev.ICV, prev.Hash)
			}
			if h, err := rehash(d.XML); err != nil || h != d.Hash {
				t.Fatalf("run %d: ICV %d hash %s, XML hashes to %s (%v)", run, d.ICV, d.Hash, h, err)
			}
			prev = store.Head{ICV: d.ICV, Hash: d.Hash, IssuedAt: d.IssuedAt}
		}
		if prev.ICV != newHead.ICV {
			t.Fatalf("run %d: listed up to ICV %d, head is %d", run, prev.ICV, newHead.ICV)
		}
		for _, p := range printed {
			checkPrinted(t, db, p)
		}
		head = newHead
		if run%25 == 24 || run == kills-1 {
			rep, err := db.Verify(ctx, rehash)
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Err(); err != nil || rep.Documents != head.ICV {
				t.Fatalf("run %d: verify: %v (%d documents, head %d)", run, err, rep.Documents, head.ICV)
			}
		}
		if err := db.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}

	db := openDB(t, path)
	defer db.Close(context.Background())
	for _, p := range all {
		checkPrinted(t, db, p)
	}
	t.Logf("%d kills (%d before the first append returned) in %s: %d documents journaled, %d reported by the child, %d repeated keys answered",
		kills, earlyKills, time.Since(start).Round(time.Millisecond), head.ICV, len(all), dups)
	if len(all) == 0 || head.ICV < uint64(len(all)) {
		t.Fatalf("%d documents journaled, %d reported appended", head.ICV, len(all))
	}
}

// checkPrinted fails unless the document the child reported is in the
// journal, identical.
func checkPrinted(t *testing.T, db *sqlite.DB, p printedDoc) {
	t.Helper()
	d, err := db.GetByKey(context.Background(), p.key)
	if err != nil {
		t.Fatalf("document %s (ICV %d) reported appended, then: %v", p.key, p.icv, err)
	}
	sum := sha256.Sum256(d.XML)
	if d.ICV != p.icv || d.UUID != p.uuid || d.Hash != p.hash || hex.EncodeToString(sum[:]) != p.xs {
		t.Fatalf("document %s changed: ICV %d %s %s, reported ICV %d %s %s", p.key, d.ICV, d.UUID, d.Hash, p.icv, p.uuid, p.hash)
	}
}
