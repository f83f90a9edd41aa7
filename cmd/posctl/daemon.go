package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
)

// parseMixed parses flags that may come before or after the positional arguments and
// returns the positional ones.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// readBodyArg reads a request body from the file named by the single argument, or stdin
// for "-".
func readBodyArg(args []string, stdin io.Reader) ([]byte, error) {
	if len(args) != 1 {
		return nil, usageError{"give the sale JSON file (or - for stdin)"}
	}
	if args[0] == "-" {
		return io.ReadAll(io.LimitReader(stdin, apitype.MaxSaleBody+1))
	}
	return os.ReadFile(args[0])
}

// documentCommand is sale, return and debit.
func documentCommand(name string, issue func(*client.Client, context.Context, any) (*apitype.Document, error)) func(context.Context, []string, io.Reader, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		fs := newFlagSet(name, stderr)
		c := addCommon(fs)
		pos, err := parseMixed(fs, args)
		if err != nil {
			return err
		}
		body, err := readBodyArg(pos, stdin)
		if err != nil {
			return err
		}
		cl, err := connect(c)
		if err != nil {
			return err
		}
		d, err := issue(cl, ctx, body)
		if err != nil {
			return explain(err)
		}
		return printDocument(stdout, c.json, d)
	}
}

func printDocument(w io.Writer, asJSON bool, d *apitype.Document) error {
	if asJSON {
		return printJSON(w, d)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("uuid", d.UUID)
	row("icv", strconv.FormatUint(d.ICV, 10))
	row("irn", d.IRN)
	row("type", d.Type+" ("+d.TypeName+")")
	row("issued", d.IssuedAt.Format(time.RFC3339))
	row("total excl. VAT", d.Totals.TaxExclusive)
	row("VAT", d.Totals.VAT)
	row("total incl. VAT", d.Totals.TaxInclusive)
	row("hash", d.Hash)
	if d.BillingReference != "" {
		row("original invoice", d.BillingReference)
	}
	printLinks(row, d.Links)
	if d.FailurePeriod {
		row("failure period", "yes, supply date "+d.SupplyDate)
	}
	if d.Replayed {
		row("replayed", "yes: this idempotency key was used before; this is the stored document")
	}
	printed := "no"
	if d.Printed {
		printed = "yes"
		if d.Copy {
			printed = "yes (COPY)"
		}
	}
	if d.PrintError != "" {
		printed += " — " + d.PrintError
	}
	row("printed", printed)
	rep := d.Report.Status
	if d.Report.HTTPStatus != 0 {
		rep += fmt.Sprintf(" (HTTP %d)", d.Report.HTTPStatus)
	}
	row("report", rep)
	row("qr", d.QR)
	return tw.Flush()
}

func runReprint(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("reprint", stderr)
	c := addCommon(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give the document UUID or invoice number"}
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	d, err := cl.Reprint(ctx, pos[0])
	if err != nil {
		return explain(err)
	}
	return printDocument(stdout, c.json, d)
}

func runDoc(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("doc", stderr)
	c := addCommon(fs)
	icv := fs.Uint64("icv", 0, "find the document by ICV")
	key := fs.String("key", "", "find the document by idempotency key")
	xml := fs.Bool("xml", false, "print the signed XML")
	out := fs.String("out", "", "write the signed XML to this file")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	var d *apitype.Document
	switch {
	case len(pos) == 1 && *icv == 0 && *key == "":
		d, err = cl.Document(ctx, pos[0])
	case len(pos) == 0 && *icv != 0 && *key == "":
		d, err = cl.DocumentByICV(ctx, *icv)
	case len(pos) == 0 && *icv == 0 && *key != "":
		d, err = cl.DocumentByKey(ctx, *key)
	default:
		return usageError{"give a UUID or invoice number, --icv or --key"}
	}
	if err != nil {
		return explain(err)
	}
	if *xml || *out != "" {
		b, err := cl.DocumentXML(ctx, d.UUID)
		if err != nil {
			return explain(err)
		}
		if *out != "" {
			if err := os.WriteFile(*out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintln(stdout, *out)
			return nil
		}
		_, err = stdout.Write(b)
		return err
	}
	return printDocument(stdout, c.json, d)
}

func runStatus(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	c, cl, err := connectCommand("status", args, stderr)
	if err != nil {
		return err
	}
	s, err := cl.Status(ctx)
	if err != nil {
		return explain(err)
	}
	if c.json {
		return printJSON(stdout, s)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	row := func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(f, a...)) }
	ready := "yes"
	if !s.Ready {
		ready = "NO"
	}
	row("ready", "%s", ready)
	for _, r := range s.Reasons {
		row("  reason", "%s: %s", r.Code, r.Message)
	}
	row("clock", "%s %s", s.Clock.State, s.Clock.Message)
	row("key", "%s %s %s", s.Key.State, s.Key.Type, s.Key.Fingerprint)
	cr := s.Credentials.State
	if s.Credentials.NotAfter != nil {
		cr += fmt.Sprintf(", CSID %s valid until %s", s.Credentials.RequestID, s.Credentials.NotAfter.Format(time.DateOnly))
		if s.Credentials.DaysLeft != nil {
			cr += fmt.Sprintf(" (%d days)", *s.Credentials.DaysLeft)
		}
	}
	if s.Credentials.RenewalNeeded {
		cr += ", RENEWAL NEEDED"
	}
	row("credentials", "%s", cr)
	row("printer", "%s %s", s.Printer.State, s.Printer.Message)
	row("chain", "ICV %d, hash %s", s.Chain.ICV, s.Chain.Hash)
	q := fmt.Sprintf("%d unreported (%d due, %d retrying), %d reported, %d rejected; uploader %s", s.Queue.Unreported,
		s.Queue.Due, s.Queue.Retrying, s.Queue.Reported, s.Queue.Rejected, s.Queue.Uploader)
	if s.Queue.OldestUnreported != nil {
		q += fmt.Sprintf("; oldest unreported %s old", (time.Duration(s.Queue.OldestUnreportedAgeSeconds) * time.Second).String())
	}
	if s.Queue.PausedReason != "" {
		q += "; paused: " + s.Queue.PausedReason
	}
	row("reporting", "%s", q)
	row("onboarding", "%s %s %s", s.Onboarding.State, s.Onboarding.Step, s.Onboarding.LastError)
	for _, a := range s.Alarms {
		row("ALARM", "%s", a)
	}
	return tw.Flush()
}

func runStats(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("stats", stderr)
	c := addCommon(fs)
	month := fs.String("month", "", "one month, YYYY-MM (default: every month)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	s, err := cl.Stats(ctx, *month)
	if err != nil {
		return explain(err)
	}
	if c.json {
		return printJSON(stdout, s)
	}
	fmt.Fprintf(stdout, "chain head ICV %d; %d unreported (%d never attempted, %d retrying, %d paused); %d reported, %d with warnings, %d already reported, %d rejected\n",
		s.Chain.ICV, s.Unreported, s.NeverAttempted, s.Retrying, s.Paused, s.Reported, s.ReportedWithWarnings, s.AlreadyReported, s.Rejected)
	if len(s.Months) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "month\tissued\taccepted\twith warnings\talready\trejected\tpending\tlate\tfailure period\t")
	for _, m := range s.Months {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", m.Month, m.Issued, m.Accepted, m.AcceptedWithWarnings,
			m.AlreadyReported, m.Rejected, m.Pending, m.Late, m.FailurePeriod)
	}
	return tw.Flush()
}

func onboardCommand(name string, renewal bool) func(context.Context, []string, io.Reader, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		fs := newFlagSet(name, stderr)
		c := addCommon(fs)
		otp := fs.String("otp", "", "the 6-digit OTP from the Fatoora portal")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if *otp == "" {
			return usageError{"--otp is required"}
		}
		cl, err := connect(c)
		if err != nil {
			return err
		}
		var res *apitype.OnboardResult
		if renewal {
			res, err = cl.Renew(ctx, *otp)
		} else {
			res, err = cl.Onboard(ctx, *otp)
		}
		if err != nil {
			return explain(err)
		}
		if c.json {
			return printJSON(stdout, res)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, s := range res.Steps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Status, s.Detail)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "production CSID %s (serial %s) valid until %s; key %s\n", res.RequestID, res.Serial,
			res.NotAfter.Format(time.DateOnly), res.KeyFingerprint)
		return nil
	}
}

func runCashier(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"give a cashier subcommand: add, list or pin"}
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("cashier "+sub, stderr)
	c := addCommon(fs)
	var id, name, role, pin *string
	switch sub {
	case "add":
		id = fs.String("id", "", "cashier id (a-z, 0-9, . _ -)")
		name = fs.String("name", "", "display name")
		role = fs.String("role", "cashier", "cashier, supervisor or admin")
		pin = fs.String("pin", "", "default PIN, to be changed at first login")
	case "pin":
		id = fs.String("id", "", "cashier id")
		pin = fs.String("pin", "", "new default PIN, to be changed at the next login")
	case "list":
	default:
		return usageError{fmt.Sprintf("unknown cashier subcommand %q (add, list, pin)", sub)}
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		cs, err := cl.Cashiers(ctx)
		if err != nil {
			return explain(err)
		}
		if c.json {
			return printJSON(stdout, apitype.CashierList{Cashiers: cs})
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "id\tname\trole\tdefault PIN\tfailed\tlocked until")
		for _, x := range cs {
			locked := ""
			if x.LockedUntil != nil {
				locked = x.LockedUntil.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\n", x.ID, x.Name, x.Role, x.MustChangePIN, x.FailedLogins, locked)
		}
		return tw.Flush()
	case "add":
		if *id == "" || *name == "" || *pin == "" {
			return usageError{"--id, --name and --pin are required"}
		}
		x, err := cl.AddCashier(ctx, apitype.AddCashierRequest{ID: *id, Name: *name, Role: apitype.Role(*role), PIN: *pin})
		if err != nil {
			return explain(err)
		}
		if c.json {
			return printJSON(stdout, x)
		}
		fmt.Fprintf(stdout, "cashier %s (%s, %s) added; the PIN must be changed at first login\n", x.ID, x.Name, x.Role)
	default: // pin
		if *id == "" || *pin == "" {
			return usageError{"--id and --pin are required"}
		}
		x, err := cl.ResetPIN(ctx, *id, *pin)
		if err != nil {
			return explain(err)
		}
		if c.json {
			return printJSON(stdout, x)
		}
		fmt.Fprintf(stdout, "cashier %s has a new default PIN, to be changed at the next login\n", x.ID)
	}
	return nil
}

func runVerify(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	c, cl, err := connectCommand("verify", args, stderr)
	if err != nil {
		return err
	}
	r, err := cl.Verify(ctx)
	if err != nil {
		return explain(err)
	}
	if c.json {
		if err := printJSON(stdout, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%d documents, %d audit entries, head ICV %d %s\n", r.Documents, r.AuditEntries, r.HeadICV, r.HeadHash)
		for _, p := range r.Problems {
			fmt.Fprintln(stdout, "PROBLEM", p)
		}
	}
	if !r.OK {
		return fmt.Errorf("the journal does not verify: %d problem(s)", len(r.Problems))
	}
	if !c.json {
		fmt.Fprintln(stdout, "journal OK")
	}
	return nil
}

func runExport(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", stderr)
	c := addCommon(fs)
	dir := fs.String("dir", "", "write the files into this (new or empty) folder on the terminal")
	tar := fs.String("tar", "", "write a tar archive to this path on the terminal")
	from := fs.Uint64("from", 0, "first ICV (default: 1)")
	to := fs.Uint64("to", 0, "last ICV (default: the head)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" && *tar == "" {
		return usageError{"--dir or --tar is required"}
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	r, err := cl.Export(ctx, apitype.ExportRequest{Dir: *dir, Tar: *tar, FromICV: *from, ToICV: *to})
	if err != nil {
		return explain(err)
	}
	if c.json {
		return printJSON(stdout, r)
	}
	fmt.Fprintf(stdout, "exported %d documents (ICV %d-%d) and %d audit entries; manifest SHA-256 %s\n", r.Documents,
		r.FirstICV, r.LastICV, r.AuditEntries, r.ManifestSHA256)
	return nil
}
