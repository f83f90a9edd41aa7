package offline

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/posagent/posagent/store"
)

// ReportSource is what the statistics read: the journal's documents with
// their report state, and each document's attempts. store/sqlite's DB
// implements it.
type ReportSource interface {
	List(ctx context.Context, r store.Range) ([]*store.Document, error)
	Attempts(ctx context.Context, uuid string) ([]store.Attempt, error)
}

// MonthStats are one month's reporting statistics, like the Fatoora
// portal's. Documents count in the month of their issue time (KSA).
type MonthStats struct {
	Month  string // YYYY-MM
	Issued int
	// Final outcomes.
	Accepted             int // 200 without warnings
	AcceptedWithWarnings int // 202 (or 200 with warnings)
	AlreadyReported      int // 409: accepted by an earlier attempt whose answer was lost
	Rejected             int // 400, 413: dead letters
	// Pending documents have no final outcome yet.
	Pending int
	// Late documents were accepted with BR-KSA-98 (reported after 24 hours).
	Late int
	// FailurePeriod documents were issued while reporting was impossible.
	FailurePeriod int
}

var monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

func checkMonth(op, month string) error {
	if month != "" && !monthRE.MatchString(month) {
		return fmt.Errorf("%s: month %q must be YYYY-MM: %w", op, month, ErrInvalidInput)
	}
	return nil
}

// eachDocument calls fn for every journaled document of month (all when
// month is empty), in ICV order, reading the journal in chunks.
func eachDocument(ctx context.Context, src ReportSource, month string, fn func(d *store.Document) error) error {
	for from := uint64(1); ; from += scanChunk {
		docs, err := src.List(ctx, store.Range{From: from, To: from + scanChunk - 1})
		if err != nil {
			return err
		}
		for _, d := range docs {
			if month != "" && monthOf(d.IssuedAt) != month {
				continue
			}
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(docs) < scanChunk {
			return nil
		}
	}
}

func monthOf(t time.Time) string { return t.In(store.KSA).Format("2006-01") }

// MonthlyStats computes the statistics per month (oldest first) from the
// journal's report states; month ("YYYY-MM") restricts them to one month.
func MonthlyStats(ctx context.Context, src ReportSource, month string) ([]MonthStats, error) {
	const op = "uploader monthly stats"
	if src == nil {
		return nil, fmt.Errorf("%s: source is nil: %w", op, ErrInvalidInput)
	}
	if err := checkMonth(op, month); err != nil {
		return nil, err
	}
	var out []MonthStats
	idx := map[string]int{}
	err := eachDocument(ctx, src, month, func(d *store.Document) error {
		m := monthOf(d.IssuedAt)
		i, ok := idx[m]
		if !ok {
			i = len(out)
			idx[m] = i
			out = append(out, MonthStats{Month: m})
		}
		s := &out[i]
		s.Issued++
		if d.FailurePeriod {
			s.FailurePeriod++
		}
		switch d.Report.Status {
		case store.OutcomeReported:
			s.Accepted++
		case store.OutcomeReportedWithWarnings:
			s.AcceptedWithWarnings++
		case store.OutcomeAlreadyReported:
			s.AlreadyReported++
		case store.OutcomeRejected:
			s.Rejected++
		default:
			s.Pending++
		}
		if d.Report.Final() && d.Report.Status != store.OutcomeRejected && hasCode(d.Report.Warnings, "BR-KSA-98") {
			s.Late++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if out == nil {
		out = []MonthStats{}
	}
	return out, nil
}

// IssuesCSVHeader is the header row of WriteIssuesCSV.
var IssuesCSVHeader = []string{"month", "icv", "uuid", "irn", "issued_at", "attempt_at", "http_status", "outcome",
	"type", "code", "category", "message"}

// WriteIssuesCSV writes every error and warning ZATCA returned, attempt by
// attempt, for the documents of month (all when empty), in ICV order: one
// row per message. Times are RFC 3339 in KSA time.
func WriteIssuesCSV(ctx context.Context, w io.Writer, src ReportSource, month string) error {
	const op = "uploader issues csv"
	if src == nil || w == nil {
		return fmt.Errorf("%s: source or writer is nil: %w", op, ErrInvalidInput)
	}
	if err := checkMonth(op, month); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(IssuesCSVHeader); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err := eachDocument(ctx, src, month, func(d *store.Document) error {
		// The report state holds the last attempt's messages; earlier
		// attempts can have had some only when there were several.
		if d.Report.Attempts == 0 || d.Report.Attempts == 1 && len(d.Report.Warnings) == 0 && len(d.Report.Errors) == 0 {
			return nil
		}
		attempts, err := src.Attempts(ctx, d.UUID)
		if err != nil {
			return err
		}
		for _, a := range attempts {
			for _, l := range []struct {
				typ string
				ms  []store.Message
			}{{"ERROR", a.Errors}, {"WARNING", a.Warnings}} {
				for _, m := range l.ms {
					typ := m.Type
					if typ == "" {
						typ = l.typ
					}
					rec := []string{monthOf(d.IssuedAt), strconv.FormatUint(d.ICV, 10), d.UUID, d.IRN,
						d.IssuedAt.In(store.KSA).Format(time.RFC3339), a.At.In(store.KSA).Format(time.RFC3339),
						strconv.Itoa(a.HTTPStatus), string(a.Outcome), typ, m.Code, m.Category, m.Message}
					if err := cw.Write(rec); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// MonthlyStats is the package function over the worker's store.
func (w *Worker) MonthlyStats(ctx context.Context, month string) ([]MonthStats, error) {
	return MonthlyStats(ctx, w.st, month)
}

// WriteIssuesCSV is the package function over the worker's store.
func (w *Worker) WriteIssuesCSV(ctx context.Context, out io.Writer, month string) error {
	return WriteIssuesCSV(ctx, out, w.st, month)
}
