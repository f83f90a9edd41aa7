package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posagent/posagent/agent/apitype"
)

// runDeadLetters is `posctl deadletters [correct REF FILE | resend REF --reason R]`:
// the documents ZATCA rejected, each reason with its rule ID and the actions
// available; correct issues a corrected sale that replaces one, resend sends one
// again as the same bytes.
func runDeadLetters(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	// The action is the first positional argument; flags may come before it.
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			if !strings.Contains(a, "=") && (strings.TrimLeft(a, "-") == "socket" || strings.TrimLeft(a, "-") == "reason") {
				i++ // the flag's value
			}
			continue
		}
		rest := append(append([]string{}, args[:i]...), args[i+1:]...)
		switch a {
		case "correct":
			return runCorrect(ctx, rest, stdin, stdout, stderr)
		case "resend":
			return runResend(ctx, rest, stdout, stderr)
		}
		break
	}
	c, cl, err := connectCommand("deadletters", args, stderr)
	if err != nil {
		return err
	}
	dl, err := cl.DeadLetters(ctx)
	if err != nil {
		return explain(err)
	}
	if c.json {
		return printJSON(stdout, apitype.DeadLetterList{DeadLetters: dl})
	}
	if len(dl) == 0 {
		fmt.Fprintln(stdout, "no rejected documents")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, d := range dl {
		fmt.Fprintf(tw, "ICV %d\t%s\tuuid %s\n", d.ICV, d.IRN, d.UUID)
		fmt.Fprintf(tw, "  issued\t%s\trejected %s (HTTP %d)\n", d.IssuedAt.Format(time.RFC3339), d.RejectedAt.Format(time.RFC3339), d.HTTPStatus)
		for _, m := range d.Errors {
			fmt.Fprintf(tw, "  error\t%s\t%s\n", m.Code, m.Message)
		}
		for _, m := range d.Warnings {
			fmt.Fprintf(tw, "  warning\t%s\t%s\n", m.Code, m.Message)
		}
		if d.Resends > 0 {
			fmt.Fprintf(tw, "  resent\t%d time(s)\t\n", d.Resends)
		}
		switch {
		case d.ReplacedBy != nil:
			fmt.Fprintf(tw, "  replaced by\t%s\tICV %d, uuid %s\n", d.ReplacedBy.IRN, d.ReplacedBy.ICV, d.ReplacedBy.UUID)
		default:
			var acts []string
			for _, a := range d.Actions {
				switch a {
				case apitype.ActionCorrect:
					acts = append(acts, "posctl deadletters correct "+d.IRN+" FILE (a corrected sale; issues a new document)")
				case apitype.ActionResend:
					acts = append(acts, "posctl deadletters resend "+d.IRN+" --reason TEXT (the same bytes, when the cause was not the content)")
				}
			}
			if d.ContentRejected {
				acts = append(acts, "(ZATCA rejected the content: resending the same bytes cannot help)")
			}
			fmt.Fprintf(tw, "  actions\t%s\t\n", strings.Join(acts, "\n  \t"))
		}
	}
	return tw.Flush()
}

func runCorrect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("deadletters correct", stderr)
	c := addCommon(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"give the rejected document (UUID or invoice number) and the corrected sale JSON file (or - for stdin)"}
	}
	body, err := readBodyArg(pos[1:], stdin)
	if err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	d, err := cl.CorrectDeadLetter(ctx, pos[0], body)
	if err != nil {
		return explain(err)
	}
	return printDocument(stdout, c.json, d)
}

func runResend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("deadletters resend", stderr)
	c := addCommon(fs)
	reason := fs.String("reason", "", "why the same bytes should pass now (audited), e.g. \"certificate renewed\"")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give the rejected document (UUID or invoice number)"}
	}
	if strings.TrimSpace(*reason) == "" {
		return usageError{"--reason is required"}
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	d, err := cl.ResendDeadLetter(ctx, pos[0], *reason)
	if err != nil {
		return explain(err)
	}
	return printDocument(stdout, c.json, d)
}

// printLinks adds the rows of what a document corrects or replaces.
func printLinks(row func(k, v string), l *apitype.DocumentLinks) {
	if l == nil {
		return
	}
	if c := l.Corrects; c != nil && c.Foreign {
		v := c.IRN + " of another terminal"
		if c.EGS != "" {
			v += " (" + c.EGS + ")"
		}
		if c.IssueDate != "" {
			v += ", issued " + c.IssueDate
		}
		row("corrects", v)
	}
	for _, r := range l.Returned {
		row("returns", fmt.Sprintf("line %s %s: %s of %s, %s of %s SAR", r.Line, r.Name, r.Quantity, r.SoldQuantity, r.Amount, r.SoldAmount))
	}
	if r := l.Replaces; r != nil {
		row("replaces", fmt.Sprintf("rejected %s (ICV %d)", r.IRN, r.ICV))
	}
	if r := l.ReplacedBy; r != nil {
		row("replaced by", fmt.Sprintf("%s (ICV %d)", r.IRN, r.ICV))
	}
	if l.Resends > 0 {
		row("resent", fmt.Sprintf("%d time(s)", l.Resends))
	}
}
