package main

import (
	"context"
	"fmt"
	"io"
	"strings"
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
	row := func(label, format string, a ...any) {
		fmt.Fprintf(stdout, "  %-11s %s\n", label, fmt.Sprintf(format, a...))
	}
	for i, d := range dl {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "ICV %d  %s  uuid %s\n", d.ICV, d.IRN, d.UUID)
		row("issued", "%s, rejected %s (HTTP %d)", d.IssuedAt.Format(time.RFC3339), d.RejectedAt.Format(time.RFC3339), d.HTTPStatus)
		for _, m := range d.Errors {
			row("error", "%s: %s", m.Code, m.Message)
		}
		for _, m := range d.Warnings {
			row("warning", "%s: %s", m.Code, m.Message)
		}
		if d.Resends > 0 {
			row("resent", "%d time(s)", d.Resends)
		}
		if d.ReplacedBy != nil {
			row("replaced by", "%s (ICV %d, uuid %s)", d.ReplacedBy.IRN, d.ReplacedBy.ICV, d.ReplacedBy.UUID)
			continue
		}
		if d.ContentRejected {
			row("cause", "ZATCA rejected the content: correct it (resending the same bytes cannot help)")
		}
		for _, a := range d.Actions {
			switch a {
			case apitype.ActionCorrect:
				row("action", "posctl deadletters correct %s FILE   (a corrected sale; issues a new document)", d.IRN)
			case apitype.ActionResend:
				row("action", "posctl deadletters resend %s --reason TEXT   (the same bytes, when the cause was not the content)", d.IRN)
			}
		}
	}
	return nil
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
