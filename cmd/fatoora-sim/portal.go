package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posagent/posagent/offline/fatoorasim"
)

// portal runs one admin subcommand against a running simulator.
func portal(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	if cmd == "fault" {
		if len(args) == 0 {
			return usagef("fault: want add, list, rm or clear")
		}
		cmd, args = "fault "+args[0], args[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:8443", "base URL of the simulator (or of its admin listener)")
	cacert := fs.String("cacert", "", "PEM certificate to trust for an https -server")
	state := fs.String("state", "", "state directory of the simulator: trust its tls-cert.pem")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")

	// Flags of the individual commands: each command accepts only its own.
	var (
		vat, force, month, now *string
		n                      *int
		id, device             *int64
		notCompliant           *bool
		offset, advance        *time.Duration
		f                      faultFlags
	)
	switch cmd {
	case "otp", "otps":
		vat = fs.String("vat", "", "VAT number (15 digits, 3…3)")
		if cmd == "otp" {
			n = fs.Int("n", 1, "number of OTPs")
		}
	case "revoke":
		id = fs.Int64("id", 0, "CSID requestID")
	case "renewal":
		device = fs.Int64("device", 0, "device ID")
		notCompliant = fs.Bool("not-compliant", true, "answer 428 NOT_COMPLIANT for -device (false: 200)")
		force = fs.String("force", "", "true/false: force 428 NOT_COMPLIANT for every device")
	case "stats", "issues":
		month = fs.String("month", "", "YYYY-MM")
	case "clock":
		offset = fs.Duration("offset", 0, "set the offset from real time")
		advance = fs.Duration("advance", 0, "move forward (or back) by this much")
		now = fs.String("now", "", "set the clock to this RFC 3339 instant")
	case "fault add":
		f.register(fs)
	case "fault rm":
		id = fs.Int64("id", 0, "fault ID")
	case "devices", "fault list", "fault clear":
	default:
		return usagef("unknown command %q", cmd)
	}
	if err := fs.Parse(args); err != nil {
		return usagef("%s: %v", cmd, err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected arguments %q", cmd, fs.Args())
	}
	hc, err := httpClient(*cacert, *state)
	if err != nil {
		return err
	}
	adm := &fatoorasim.AdminClient{BaseURL: strings.TrimRight(*server, "/"), HTTP: hc}
	out := printer{w: stdout, json: *asJSON}

	switch cmd {
	case "otp":
		if *vat == "" {
			return usagef("otp: -vat is required")
		}
		otps, err := adm.GenerateOTPs(ctx, *vat, *n)
		if err != nil {
			return err
		}
		return out.otps(otps)
	case "otps":
		otps, err := adm.OTPs(ctx, *vat)
		if err != nil {
			return err
		}
		return out.otps(otps)
	case "devices":
		devs, err := adm.Devices(ctx)
		if err != nil {
			return err
		}
		return out.devices(devs)
	case "revoke":
		if *id <= 0 {
			return usagef("revoke: -id REQUEST_ID is required")
		}
		if err := adm.RevokeCSID(ctx, *id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked CSID %d\n", *id)
		return nil
	case "renewal":
		switch {
		case *force != "":
			on, err := parseBool(*force)
			if err != nil {
				return usagef("renewal: -force: %v", err)
			}
			if err := adm.ForceRenewalNotCompliant(ctx, on); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "renewals of every device answer %s\n", renewalAnswer(on))
		case *device > 0:
			if err := adm.SetRenewalNotCompliant(ctx, *device, *notCompliant); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "renewals of device %d answer %s\n", *device, renewalAnswer(*notCompliant))
		default:
			return usagef("renewal: give -device ID [-not-compliant=false] or -force=true|false")
		}
		return nil
	case "stats":
		st, err := adm.Stats(ctx, *month)
		if err != nil {
			return err
		}
		return out.stats(st)
	case "issues":
		csv, err := adm.IssuesCSV(ctx, *month)
		if err != nil {
			return err
		}
		_, err = stdout.Write(csv)
		return err
	case "clock":
		var ch fatoorasim.ClockChange
		set := 0
		if isFlagSet(fs, "offset") {
			d := fatoorasim.Duration(*offset)
			ch.Offset, set = &d, set+1
		}
		if isFlagSet(fs, "advance") {
			d := fatoorasim.Duration(*advance)
			ch.Advance, set = &d, set+1
		}
		if *now != "" {
			t, err := time.Parse(time.RFC3339, *now)
			if err != nil {
				return usagef("clock: -now: %v", err)
			}
			ch.Now, set = &t, set+1
		}
		var st fatoorasim.ClockState
		switch set {
		case 0:
			st, err = adm.Clock(ctx)
		case 1:
			st, err = adm.SetClock(ctx, ch)
		default:
			return usagef("clock: give at most one of -offset, -advance, -now")
		}
		if err != nil {
			return err
		}
		return out.value(st, fmt.Sprintf("now %s (offset %s)\n", st.Now.Format(time.RFC3339), time.Duration(st.Offset)))
	case "fault add":
		fault, err := f.fault()
		if err != nil {
			return usagef("fault add: %v", err)
		}
		added, err := adm.AddFault(ctx, fault)
		if err != nil {
			return err
		}
		return out.faults([]fatoorasim.Fault{added})
	case "fault list":
		faults, err := adm.Faults(ctx)
		if err != nil {
			return err
		}
		return out.faults(faults)
	case "fault rm":
		if *id <= 0 {
			return usagef("fault rm: -id is required")
		}
		if err := adm.RemoveFault(ctx, *id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed fault %d\n", *id)
		return nil
	case "fault clear":
		if err := adm.ClearFaults(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "removed every fault")
		return nil
	}
	return usagef("unknown command %q", cmd)
}

func renewalAnswer(notCompliant bool) string {
	if notCompliant {
		return "428 NOT_COMPLIANT"
	}
	return "200 ISSUED"
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

// httpClient trusts cacert, or the simulator's tls-cert.pem in state, for https.
func httpClient(cacert, state string) (*http.Client, error) {
	path := cacert
	if path == "" && state != "" {
		path = filepath.Join(state, fatoorasim.TLSCertFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			path = ""
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if path != "" {
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%s holds no PEM certificate", path)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// faultFlags are the flags of "fault add".
type faultFlags struct {
	endpoint, action, from, to string
	status, times              int
	latency, forDur            time.Duration
	probability                float64
	seed                       uint64
}

func (f *faultFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", "reporting", "compliance, compliance-invoices, production-csids, renewal, reporting, clearance or *")
	fs.StringVar(&f.action, "action", "", "latency, status, hang, reset, outage or commit-drop")
	fs.IntVar(&f.status, "status", 0, "status: the HTTP status to answer (429, 500, 503, 504 …)")
	fs.DurationVar(&f.latency, "latency", 0, "latency: the delay")
	fs.StringVar(&f.from, "from", "", "window start, RFC 3339 (simulator clock)")
	fs.StringVar(&f.to, "to", "", "window end, RFC 3339 (simulator clock)")
	fs.DurationVar(&f.forDur, "for", 0, "window length from -from (default: now)")
	fs.IntVar(&f.times, "times", 0, "fire at most N times (0: no limit)")
	fs.Float64Var(&f.probability, "probability", 0, "fire with this probability (0: always)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the probability draws")
}

func (f *faultFlags) fault() (fatoorasim.Fault, error) {
	out := fatoorasim.Fault{
		Endpoint: f.endpoint, Action: fatoorasim.FaultAction(f.action), Status: f.status,
		Latency: fatoorasim.Duration(f.latency), For: fatoorasim.Duration(f.forDur),
		Times: f.times, Probability: f.probability, Seed: f.seed,
	}
	if f.action == "" {
		return out, errors.New("-action is required")
	}
	for _, p := range []struct {
		s   string
		dst **time.Time
	}{{f.from, &out.From}, {f.to, &out.To}} {
		if p.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.s)
		if err != nil {
			return out, err
		}
		*p.dst = &t
	}
	return out, nil
}

// printer writes results as a table or as JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) value(v any, text string) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(p.w, text)
	return err
}

func (p printer) table(v any, header string, rows [][]any) error {
	if p.json {
		return p.value(v, "")
	}
	tw := tabwriter.NewWriter(p.w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		for i, c := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func (p printer) otps(otps []fatoorasim.OTP) error {
	var rows [][]any
	for _, o := range otps {
		used := "-"
		if o.UsedAt != nil {
			used = o.UsedAt.Format(time.RFC3339)
		}
		rows = append(rows, []any{o.Code, o.VAT, o.ExpiresAt.Format(time.RFC3339), used})
	}
	return p.table(otps, "OTP\tVAT\tEXPIRES\tUSED", rows)
}

func (p printer) devices(devs []fatoorasim.Device) error {
	var rows [][]any
	for _, d := range devs {
		for _, c := range d.CSIDs {
			status := c.Status
			if c.Expired {
				status += " (expired)"
			}
			rows = append(rows, []any{d.ID, d.VAT, d.EGSSerial, c.RequestID, c.Kind, status, c.InvoiceTypes,
				c.NotAfter.Format("2006-01-02"), strings.Join(c.ComplianceSteps, ","), d.LastICV})
		}
	}
	return p.table(devs, "DEVICE\tVAT\tEGS\tREQUEST_ID\tKIND\tSTATUS\tTYPES\tEXPIRES\tCOMPLIANCE\tLAST_ICV", rows)
}

func (p printer) stats(st []fatoorasim.MonthStats) error {
	var rows [][]any
	for _, m := range st {
		rows = append(rows, []any{m.Month, m.Accepted, m.AcceptedWithWarnings, m.Rejected, m.Duplicates})
	}
	return p.table(st, "MONTH\tACCEPTED\tWITH_WARNINGS\tREJECTED\tDUPLICATES", rows)
}

func (p printer) faults(fs []fatoorasim.Fault) error {
	var rows [][]any
	for _, f := range fs {
		detail := ""
		switch f.Action {
		case fatoorasim.FaultStatus:
			detail = fmt.Sprint(f.Status)
		case fatoorasim.FaultLatency:
			detail = time.Duration(f.Latency).String()
		}
		window := "-"
		if f.From != nil || f.To != nil {
			window = fmt.Sprintf("%s..%s", fmtTime(f.From), fmtTime(f.To))
		}
		rows = append(rows, []any{f.ID, f.Endpoint, f.Action, detail, window, f.Times, f.Probability, f.Matched, f.Fired})
	}
	return p.table(fs, "ID\tENDPOINT\tACTION\tDETAIL\tWINDOW\tTIMES\tPROBABILITY\tMATCHED\tFIRED", rows)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339)
}
