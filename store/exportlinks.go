package store

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"time"
)

// LinksName is the export file listing what corrects what (written when the
// source keeps Corrections): one row per link of an exported document.
const LinksName = "links.csv"

// linksFile collects links.csv during an export.
type linksFile struct {
	src Corrections // nil: the source keeps no links, no file
	buf bytes.Buffer
	w   *csv.Writer
}

func newLinksFile(src ExportSource) *linksFile {
	lf := &linksFile{}
	if c, ok := src.(Corrections); ok {
		lf.src = c
		lf.w = csv.NewWriter(&lf.buf)
		lf.w.Write([]string{"icv", "irn", "link", "other_irn", "other_icv", "egs", "issue_date", "line", "quantity", "amount"})
	}
	return lf
}

// add writes d's links: "corrects" (a note of an own invoice),
// "corrects_foreign" (a note of another terminal's invoice), "returns" (one
// line returned), "replaces" (the rejected document d replaces) and
// "resent" (times d was resent after a rejection).
func (lf *linksFile) add(ctx context.Context, d *Document) error {
	if lf.src == nil {
		return nil
	}
	l, err := lf.src.Links(ctx, d.ICV)
	if err != nil {
		return fmt.Errorf("links of ICV %d: %w", d.ICV, err)
	}
	icv := strconv.FormatUint(d.ICV, 10)
	u := func(n uint64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatUint(n, 10)
	}
	if n := l.Note; n != nil {
		kind := "corrects"
		if n.Foreign {
			kind = "corrects_foreign"
		}
		lf.w.Write([]string{icv, d.IRN, kind, n.IRN, u(n.ICV), n.EGS, n.IssueDate, "", "", ""})
		for _, r := range l.Returned {
			lf.w.Write([]string{icv, d.IRN, "returns", n.IRN, u(n.ICV), "", "", r.Line, r.Quantity, r.Amount})
		}
	}
	if l.Replaces != 0 {
		lf.w.Write([]string{icv, d.IRN, "replaces", "", u(l.Replaces), "", "", "", "", ""})
	}
	if l.Resends > 0 {
		lf.w.Write([]string{icv, d.IRN, "resent", "", "", "", "", "", strconv.Itoa(l.Resends), ""})
	}
	return nil
}

func (lf *linksFile) write(s *sinks, now time.Time) error {
	if lf.src == nil {
		return nil
	}
	lf.w.Flush()
	if err := lf.w.Error(); err != nil {
		return fmt.Errorf("links: %w", err)
	}
	return s.write(LinksName, lf.buf.Bytes(), now)
}
