package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
)

// Result lines (the host parses them; keep them stable):
//
//	POSDRIVE UP uptime=12.345s
//	POSDRIVE READY uptime=23.456s
//	POSDRIVE KEY state=unsealed type=T fingerprint=HEX credentials=ok request_id=ID
//	POSDRIVE ONBOARDED ms=1234
//	POSDRIVE EXEC posctl-version n=5 p50=12.3ms
//	POSDRIVE SALE 7 BEGIN key=K file=F
//	POSDRIVE SALE 7 OK key=K icv=7 uuid=U ms=123.4 printed=true replayed=false report=pending qr=BASE64
//	POSDRIVE LATENCY n=50 p50=1.0ms p90=1.0ms p99=1.0ms max=1.0ms mean=1.0ms
//	POSDRIVE RSS after-sales pid=123 vmrss_kb=45678 vmhwm_kb=45678
//	POSDRIVE RETRY n=20 key=K icv=70 uuid=U replayed=true printed=false qr=BASE64
//	POSDRIVE REPRINT n=20 icv=70 uuid=U copy=false
//	POSDRIVE QUEUE head=75 unreported=0 reported=75 rejected=0
//	POSDRIVE DOC icv=1 uuid=U key=K report=reported
const linePrefix = "POSDRIVE "

func (d *driver) linef(format string, args ...any) {
	fmt.Fprintf(d.out, linePrefix+format+"\n", args...)
}

func (d *driver) client() *client.Client { return &client.Client{Socket: d.socket} }

// poll calls f every interval until it returns done or an error, or timeout passes.
func poll(ctx context.Context, timeout, interval time.Duration, what string, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := f()
		if err == nil && done {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%s: not within %v: %w", what, timeout, last)
			}
			return fmt.Errorf("%s: not within %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// runUp waits until the socket answers (a status request without a session is refused
// as unauthenticated: the API is serving) and prints the uptime.
func runUp(ctx context.Context, d *driver, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, false); err != nil {
		return err
	}
	c := d.client()
	err := poll(ctx, d.timeout, 20*time.Millisecond, "socket answering", func() (bool, error) {
		_, err := c.Status(ctx)
		if err == nil || client.IsUnauthenticated(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	up, err := uptime()
	if err != nil {
		return err
	}
	d.linef("UP uptime=%.3fs", up.Seconds())
	return nil
}

// runSetup is the first start of a terminal, through posctl: the first administrator
// logs in with the PIN from the daemon's file and replaces it, onboards with a portal
// OTP, adds a cashier, and the cashier logs in and replaces its default PIN.
func runSetup(ctx context.Context, d *driver, fs *flag.FlagSet, args []string) error {
	pinFile := fs.String("pin-file", "/var/lib/posagent/initial-admin-pin", "the first administrator's PIN file")
	otp := fs.String("otp", "", "portal OTP for onboarding")
	adminPIN := fs.String("admin-pin", "", "the administrator's new PIN")
	cashier := fs.String("cashier", "c1", "cashier id to create")
	name := fs.String("cashier-name", "Cashier One", "the cashier's name")
	role := fs.String("cashier-role", "cashier", "the cashier's role")
	defaultPIN := fs.String("default-pin", "4711", "the cashier's default PIN")
	cashierPIN := fs.String("cashier-pin", "", "the cashier's own PIN, set at first login")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *otp == "" || *adminPIN == "" || *cashierPIN == "" {
		return usageError{"-otp, -admin-pin and -cashier-pin are required"}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	b, err := os.ReadFile(*pinFile)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	initial := strings.TrimSpace(string(b))
	if err := d.echo(ctx, "admin", "login", "--cashier", "admin", "--pin", initial, "--new-pin", *adminPIN); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if _, err := os.Stat(*pinFile); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("setup: the first administrator's PIN file is still there after the PIN change (%v)", err)
	}
	if err := d.echo(ctx, "admin", "status"); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	start := time.Now()
	if err := d.echo(ctx, "admin", "onboard", "--otp", *otp); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	d.linef("ONBOARDED ms=%.0f", ms(time.Since(start)))
	if err := d.echo(ctx, "admin", "cashier", "add", "--id", *cashier, "--name", *name, "--role", *role, "--pin", *defaultPIN); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if err := d.echo(ctx, *cashier, "login", "--cashier", *cashier, "--pin", *defaultPIN, "--new-pin", *cashierPIN); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}

// runReady logs in and waits until the agent is ready to sign, then prints the uptime
// and the stamping key.
func runReady(ctx context.Context, d *driver, fs *flag.FlagSet, args []string) error {
	cashier := fs.String("cashier", "c1", "cashier id")
	pin := fs.String("pin", "", "the cashier's PIN")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	c := d.client()
	if _, err := c.Login(ctx, *cashier, *pin); err != nil {
		return fmt.Errorf("ready: login: %w", err)
	}
	var st *apitype.Status
	err := poll(ctx, d.timeout, 50*time.Millisecond, "ready", func() (bool, error) {
		var err error
		st, err = c.Status(ctx)
		return err == nil && st.Ready, err
	})
	if err != nil {
		if st != nil {
			for _, r := range st.Reasons {
				fmt.Fprintf(d.out, "not ready: %s: %s\n", r.Code, r.Message)
			}
		}
		return err
	}
	up, err := uptime()
	if err != nil {
		return err
	}
	d.linef("READY uptime=%.3fs", up.Seconds())
	d.linef("KEY state=%s type=%s fingerprint=%s credentials=%s request_id=%s", st.Key.State, st.Key.Type,
		st.Key.Fingerprint, st.Credentials.State, st.Credentials.RequestID)
	return nil
}

// saleFlags are the flags that decide which sale a number is.
type saleFlags struct {
	dir, prefix, cashier *string
}

func addSaleFlags(fs *flag.FlagSet) saleFlags {
	return saleFlags{
		dir:     fs.String("sales", "/src/testdata/sales", "directory of sale bodies"),
		prefix:  fs.String("prefix", "", "idempotency key prefix of this run (sale i has key PREFIX%04d)"),
		cashier: fs.String("cashier", "c1", "the cashier whose posctl session sells"),
	}
}

// sell issues sale i through `posctl sale --json` and returns the document and the
// wall time of posctl.
func (d *driver) sell(ctx context.Context, files []saleFile, sf saleFlags, i int) (*apitype.Document, string, time.Duration, error) {
	key := saleKey(*sf.prefix, i)
	name, body, err := saleFor(files, i, key)
	if err != nil {
		return nil, "", 0, err
	}
	path := filepath.Join(d.work, "posdrive-sale.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		return nil, name, 0, fmt.Errorf("sale %d: %w", i, err)
	}
	out, took, err := d.runPosctl(ctx, *sf.cashier, "sale", "--json", path)
	if err != nil {
		return nil, name, took, fmt.Errorf("sale %d (%s, key %s): %w", i, name, key, err)
	}
	var doc apitype.Document
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, name, took, fmt.Errorf("sale %d: posctl's answer: %w", i, err)
	}
	if doc.IdempotencyKey != key {
		return nil, name, took, fmt.Errorf("sale %d: document %s has idempotency key %q, want %q", i, doc.UUID, doc.IdempotencyKey, key)
	}
	return &doc, name, took, nil
}

// runSales makes -n sales through posctl, one at a time, as a till does, and prints
// each, the latency summary and the daemon's memory.
func runSales(ctx context.Context, d *driver, fs *flag.FlagSet, args []string) error {
	sf := addSaleFlags(fs)
	n := fs.Int("n", 50, "number of sales")
	first := fs.Int("first", 1, "number of the first sale")
	rss := fs.String("rss", "", "after the sales, print the memory of the process with this command name (e.g. posagentd)")
	baseline := fs.Int("baseline", 5, "time this many `posctl version` runs first (the cost of starting posctl)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *n < 1 || *first < 1 || *sf.prefix == "" {
		return usageError{"-n and -first must be positive and -prefix is required"}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	files, err := loadSales(*sf.dir)
	if err != nil {
		return err
	}
	if *baseline > 0 {
		var base []time.Duration
		for range *baseline {
			_, took, err := d.runPosctl(ctx, "", "version")
			if err != nil {
				return err
			}
			base = append(base, took)
		}
		d.linef("EXEC posctl-version n=%d p50=%.1fms", len(base), ms(summarize(base).P50))
	}
	var took []time.Duration
	for i := *first; i < *first+*n; i++ {
		name, _, err := saleFor(files, i, saleKey(*sf.prefix, i))
		if err != nil {
			return err
		}
		d.linef("SALE %d BEGIN key=%s file=%s", i, saleKey(*sf.prefix, i), name)
		doc, _, t, err := d.sell(ctx, files, sf, i)
		if err != nil {
			return err
		}
		took = append(took, t)
		d.linef("SALE %d OK key=%s icv=%d uuid=%s ms=%.1f printed=%t replayed=%t report=%s qr=%s", i, doc.IdempotencyKey,
			doc.ICV, doc.UUID, ms(t), doc.Printed, doc.Replayed, doc.Report.Status, doc.QR)
		if !doc.Printed {
			return fmt.Errorf("sale %d (ICV %d) was not printed: %s", i, doc.ICV, doc.PrintError)
		}
	}
	l := summarize(took)
	d.linef("LATENCY n=%d p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms mean=%.1fms", l.N, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), ms(l.Mean))
	if *rss != "" {
		return d.printMemory(*rss, "after-sales")
	}
	return nil
}

// printMemory prints the RSS line of the process named comm.
func (d *driver) printMemory(comm, label string) error {
	pid, err := findPID(comm)
	if err != nil {
		return err
	}
	m, err := readMemory(pid)
	if err != nil {
		return err
	}
	d.linef("RSS %s pid=%d vmrss_kb=%d vmhwm_kb=%d", label, pid, m.RSS, m.HWM)
	return nil
}

// runMem prints the memory of a process.
func runMem(_ context.Context, d *driver, fs *flag.FlagSet, args []string) error {
	comm := fs.String("comm", "posagentd", "command name of the process")
	label := fs.String("label", "now", "label of the RSS line ([a-z0-9-]+)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if !labelRE.MatchString(*label) {
		return usageError{fmt.Sprintf("-label %q: want [a-z0-9-]+", *label)}
	}
	return d.printMemory(*comm, *label)
}

var labelRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// runRetry sends sales again with their original body and idempotency key, as a till
// does when it never got the answer.
func runRetry(ctx context.Context, d *driver, fs *flag.FlagSet, args []string) error {
	sf := addSaleFlags(fs)
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if *sf.prefix == "" || fs.NArg() == 0 {
		return usageError{"-prefix and at least one sale number are required"}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	files, err := loadSales(*sf.dir)
	if err != nil {
		return err
	}
	for _, a := range fs.Args() {
		i, err := strconv.Atoi(a)
		if err != nil || i < 1 {
			return usageError{fmt.Sprintf("sale number %q: want a positive integer", a)}
		}
		doc, _, _, err := d.sell(ctx, files, sf, i)
		if err != nil {
			return err
		}
		d.linef("RETRY n=%d key=%s icv=%d uuid=%s replayed=%t printed=%t qr=%s", i, doc.IdempotencyKey, doc.ICV, doc.UUID,
			doc.Replayed, doc.Printed, doc.QR)
		if doc.Printed {
			continue
		}
		// The customer never got this receipt (the answer was lost before it printed):
		// the till prints it now.
		out, _, err := d.runPosctl(ctx, *sf.cashier, "reprint", "--json", doc.UUID)
		if err != nil {
			return fmt.Errorf("retry %d: %w", i, err)
		}
		var re apitype.Document
		if err := json.Unmarshal(out, &re); err != nil {
			return fmt.Errorf("retry %d: posctl's answer to reprint: %w", i, err)
		}
		if re.UUID != doc.UUID || !re.Printed {
			return fmt.Errorf("retry %d: reprint of %s answered %s printed=%t: %s", i, doc.UUID, re.UUID, re.Printed, re.PrintError)
		}
		d.linef("REPRINT n=%d icv=%d uuid=%s copy=%t", i, re.ICV, re.UUID, re.Copy)
	}
	return nil
}

// runReport waits until the reporting queue is empty and lists every journaled
// document by ICV; a rejected document or a gap in the ICVs fails it.
func runReport(ctx context.Context, d *driver, fs *flag.FlagSet, args []string) error {
	cashier := fs.String("cashier", "c1", "cashier id")
	pin := fs.String("pin", "", "the cashier's PIN")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	c := d.client()
	if _, err := c.Login(ctx, *cashier, *pin); err != nil {
		return fmt.Errorf("report: login: %w", err)
	}
	var st *apitype.Status
	err := poll(ctx, d.timeout, 200*time.Millisecond, "reporting queue empty", func() (bool, error) {
		var err error
		st, err = c.Status(ctx)
		return err == nil && st.Queue.Unreported == 0, err
	})
	if st != nil {
		d.linef("QUEUE head=%d unreported=%d reported=%d rejected=%d", st.Chain.ICV, st.Queue.Unreported, st.Queue.Reported, st.Queue.Rejected)
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if st.Queue.Rejected != 0 {
		dl, _ := c.DeadLetters(ctx)
		for _, x := range dl {
			fmt.Fprintf(d.out, "rejected: ICV %d %s: %+v\n", x.ICV, x.IRN, x.Errors)
		}
		return fmt.Errorf("report: %d documents rejected", st.Queue.Rejected)
	}
	for icv := uint64(1); icv <= st.Chain.ICV; icv++ {
		doc, err := c.DocumentByICV(ctx, icv)
		if err != nil {
			return fmt.Errorf("report: ICV %d: %w", icv, err)
		}
		if doc.ICV != icv {
			return fmt.Errorf("report: asked for ICV %d, got ICV %d", icv, doc.ICV)
		}
		d.linef("DOC icv=%d uuid=%s key=%s report=%s", doc.ICV, doc.UUID, doc.IdempotencyKey, doc.Report.Status)
	}
	return nil
}
