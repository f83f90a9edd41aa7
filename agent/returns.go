package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/shopspring/decimal"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/store"
)

// Returns at any till. A note refers to an invoice of this terminal, found in the
// journal, or to one of another terminal of the same seller, which this journal has
// never seen: that reference is accepted as given and recorded as foreign. For a
// credit note of an own invoice, every line must match a line sold on it (same item
// name and VAT category), and per line the quantity and the tax-inclusive amount
// returned by all its credit notes together never exceed what was sold; the journal
// checks the sums again inside its write transaction, so two concurrent returns of
// the same invoice cannot both pass.

const (
	fieldRelatedRef  = "notes_details.related_doc_reference"
	fieldRelatedDate = "notes_details.related_doc_issue_date"
	fieldRelatedEGS  = "notes_details.related_doc_egs"
)

// noteTarget is the resolved original of a note.
type noteTarget struct {
	ref  store.NoteRef
	orig *store.Document // nil when foreign
}

// resolveNote resolves a note's related_doc_reference (with its optional issue date
// and issuing EGS) to an invoice of this journal or a foreign one.
func (a *Agent) resolveNote(ctx context.Context, n *invoice.SaleNotes) (*noteTarget, error) {
	ref := strings.TrimSpace(n.RelatedDocReference)
	date := strings.TrimSpace(n.RelatedDocIssueDate)
	egs := strings.TrimSpace(n.RelatedDocEGS)
	if date != "" {
		day, err := time.ParseInLocation(time.DateOnly, date, ksa)
		if err != nil {
			return nil, inputError(fieldRelatedDate, apitype.RuleValue, fmt.Sprintf("%q is not a date YYYY-MM-DD", date))
		}
		if day.After(a.clock.Now().In(ksa)) {
			return nil, inputError(fieldRelatedDate, apitype.RuleValue, fmt.Sprintf("%s is in the future: a note corrects an invoice already issued", date))
		}
	}
	if len(egs) > 127 {
		return nil, inputError(fieldRelatedEGS, apitype.RuleLimit, "more than 127 bytes")
	}
	foreign := &noteTarget{ref: store.NoteRef{IRN: ref, Foreign: true, EGS: egs, IssueDate: date}}
	if egs != "" && !a.ownEGS(egs) {
		if isUUID(ref) {
			return nil, inputError(fieldRelatedRef, "BR-KSA-56", "an invoice of another terminal is referred to by its invoice number (printed on the receipt), not its UUID")
		}
		return foreign, nil
	}
	orig, err := a.findOwnInvoice(ctx, ref)
	if err != nil {
		return nil, err
	}
	if orig == nil {
		if egs != "" || isUUID(ref) {
			return nil, inputError(fieldRelatedRef, "BR-KSA-56", fmt.Sprintf("no invoice with number or UUID %q was issued by this terminal", ref))
		}
		return foreign, nil
	}
	if orig.Type != store.TypeInvoice {
		return nil, inputError(fieldRelatedRef, "BR-KSA-56", fmt.Sprintf("%q is a %s, not an invoice: a note corrects an invoice", ref, typeName(invoice.DocType(orig.Type))))
	}
	if l, err := a.st.Links(ctx, orig.ICV); err != nil {
		return nil, fmt.Errorf("sale: original invoice: %w", err)
	} else if l.ReplacedBy != 0 {
		by := a.docRef(ctx, l.ReplacedBy)
		return nil, inputError(fieldRelatedRef, "BR-KSA-56", fmt.Sprintf("invoice %s was rejected by ZATCA and replaced by %s: a note refers to %s", orig.IRN, by.IRN, by.IRN))
	}
	if day := orig.IssuedAt.In(ksa).Format(time.DateOnly); date != "" && date != day {
		return nil, inputError(fieldRelatedDate, apitype.RuleValue, fmt.Sprintf("invoice %s of this terminal was issued on %s, not %s (for another terminal's invoice, give related_doc_egs)",
			orig.IRN, day, date))
	}
	return &noteTarget{ref: store.NoteRef{IRN: orig.IRN, ICV: orig.ICV}, orig: orig}, nil
}

// ownEGS reports whether egs names this terminal: its EGS unit name (CSR common
// name) or serial number.
func (a *Agent) ownEGS(egs string) bool {
	return strings.EqualFold(egs, a.cfg.EGS.CommonName) || strings.EqualFold(egs, a.cfg.EGS.SerialNumber)
}

// findOwnInvoice finds a document of this journal by UUID, by the invoice number the
// agent assigns (INV-000042 → ICV 42), or by searching the newest ReturnLookback
// documents for the POS's own invoice number. It returns nil when there is none.
func (a *Agent) findOwnInvoice(ctx context.Context, ref string) (*store.Document, error) {
	d, err := a.findDocument(ctx, ref)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("sale: original invoice: %w", err)
	}
	return d, nil
}

// findDocument looks a document up by UUID or invoice number (ErrNotFound when none).
func (a *Agent) findDocument(ctx context.Context, ref string) (*store.Document, error) {
	ref = strings.TrimSpace(ref)
	if isUUID(ref) {
		return a.st.Get(ctx, strings.ToLower(ref))
	}
	if m := defaultIRNRE.FindStringSubmatch(ref); m != nil {
		icv, _ := strconv.ParseUint(m[1], 10, 64)
		d, err := a.st.GetByICV(ctx, icv)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if d != nil && d.IRN == ref {
			return d, nil
		}
	}
	for _, prefix := range []string{"CRN-", "DBN-"} {
		if rest, ok := strings.CutPrefix(ref, prefix); ok && len(rest) >= 6 {
			if icv, err := strconv.ParseUint(rest, 10, 64); err == nil {
				d, err := a.st.GetByICV(ctx, icv)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
				if d != nil && d.IRN == ref {
					return d, nil
				}
			}
		}
	}
	d, err := a.searchIRN(ctx, ref)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, store.ErrNotFound
	}
	return d, nil
}

// searchIRN searches the newest ReturnLookback documents for an invoice number.
func (a *Agent) searchIRN(ctx context.Context, irn string) (*store.Document, error) {
	head, err := a.st.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("find %q: %w", irn, err)
	}
	const page = 200
	seen := 0
	for hi := head.ICV; hi > 0 && seen < a.cfg.ReturnLookback; {
		lo := uint64(1)
		if hi > page {
			lo = hi - page + 1
		}
		docs, err := a.st.List(ctx, store.Range{From: lo, To: hi})
		if err != nil {
			return nil, fmt.Errorf("find %q: %w", irn, err)
		}
		for i := len(docs) - 1; i >= 0; i-- {
			if docs[i].IRN == irn {
				return docs[i], nil
			}
		}
		seen += len(docs)
		hi = lo - 1
	}
	return nil, nil
}

// soldLine is one item of an invoice as signed: its lines of the same item name and
// VAT category taken together.
type soldLine struct {
	id, name, cat string
	qty, total    decimal.Decimal
}

func lineKey(name, cat string, pct decimal.Decimal) string {
	return name + "\x00" + cat + "\x00" + pct.String()
}

// soldLines reads the lines of a signed invoice.
func soldLines(xml []byte) (map[string]*soldLine, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		return nil, err
	}
	out := map[string]*soldLine{}
	for _, l := range doc.FindElements("/Invoice/cac:InvoiceLine") {
		txt := func(path string) string {
			if e := l.FindElement(path); e != nil {
				return strings.TrimSpace(e.Text())
			}
			return ""
		}
		qty, err1 := decimal.NewFromString(txt("./cbc:InvoicedQuantity"))
		total, err2 := decimal.NewFromString(txt("./cac:TaxTotal/cbc:RoundingAmount"))
		pct, err3 := decimal.NewFromString(txt("./cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"))
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("line %s: %w", txt("./cbc:ID"), err)
		}
		name, cat := txt("./cac:Item/cbc:Name"), txt("./cac:Item/cac:ClassifiedTaxCategory/cbc:ID")
		k := lineKey(name, cat, pct)
		if s := out[k]; s != nil {
			s.qty, s.total = s.qty.Add(qty), s.total.Add(total)
			continue
		}
		out[k] = &soldLine{id: txt("./cbc:ID"), name: name, cat: cat, qty: qty, total: total}
	}
	return out, nil
}

// noteLinks returns what the journal records with a note: its original and, for a
// credit note of an own invoice, the lines it returns, checked against what is left
// to return (the journal checks again in its transaction). replaces is the rejected
// document a correction replaces (0 for a sale): its lines are not counted.
// index maps each returned invoice line's ID to the first note line returning it, for
// naming the field of a refusal.
func (a *Agent) noteLinks(ctx context.Context, t *noteTarget, doc *invoice.Document, replaces uint64) (ref *store.NoteRef, out []store.ReturnedLine, index map[string]int, err error) {
	if t == nil {
		return nil, nil, nil, nil
	}
	r := t.ref
	if t.orig == nil || doc.Type != invoice.TypeCreditNote {
		return &r, nil, nil, nil
	}
	sold, err := soldLines(t.orig.XML)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sale: original invoice %s: %w", t.orig.IRN, err)
	}
	index = map[string]int{}
	at := map[string]int{} // line ID → position in out
	for i := range doc.Lines {
		l := &doc.Lines[i]
		s := sold[lineKey(l.Name, l.Tax.ID, l.Tax.Percent)]
		if s == nil {
			return nil, nil, nil, inputError(fmt.Sprintf("lineitems[%d]", i), apitype.RuleValue,
				fmt.Sprintf("%q at %s %s%% was not sold on invoice %s of this terminal (%s): a credit note returns items of its invoice; for another terminal's invoice give related_doc_egs",
					l.Name, l.Tax.ID, l.Tax.Percent, t.orig.IRN, soldSummary(sold)))
		}
		if j, ok := at[s.id]; ok {
			r := &out[j]
			r.Quantity = decimal.RequireFromString(r.Quantity).Add(l.Quantity).String()
			r.Amount = decimal.RequireFromString(r.Amount).Add(l.Total).StringFixed(2)
			continue
		}
		index[s.id], at[s.id] = i, len(out)
		out = append(out, store.ReturnedLine{Line: s.id, Name: s.name, Quantity: l.Quantity.String(), Amount: l.Total.StringFixed(2),
			SoldQuantity: s.qty.String(), SoldAmount: s.total.StringFixed(2)})
	}
	prev, err := a.st.Returned(ctx, t.orig.ICV)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sale: returns of %s: %w", t.orig.IRN, err)
	}
	if replaces != 0 {
		kept := prev[:0]
		for _, r := range prev {
			if r.NoteICV != replaces {
				kept = append(kept, r)
			}
		}
		prev = kept
	}
	if err := store.CheckReturns(t.orig.IRN, prev, out); err != nil {
		return nil, nil, nil, returnLimitInput(err, index)
	}
	return &r, out, index, nil
}

func soldSummary(sold map[string]*soldLine) string {
	lines := make([]*soldLine, 0, len(sold))
	for _, s := range sold {
		lines = append(lines, s)
	}
	sort.Slice(lines, func(i, j int) bool {
		a, _ := strconv.Atoi(lines[i].id)
		b, _ := strconv.Atoi(lines[j].id)
		return a < b || a == b && lines[i].id < lines[j].id
	})
	var parts []string
	for _, s := range lines {
		parts = append(parts, fmt.Sprintf("line %s %q", s.id, s.name))
	}
	if len(parts) > 5 {
		parts = append(parts[:5], "…")
	}
	return "sold: " + strings.Join(parts, ", ")
}

// returnLimitInput turns the journal's *store.ReturnLimitError into a 400 naming the
// note's line; other errors pass unchanged.
func returnLimitInput(err error, index map[string]int) error {
	var rl *store.ReturnLimitError
	if !errors.As(err, &rl) {
		return err
	}
	field := "lineitems"
	if i, ok := index[rl.Line]; ok {
		field = fmt.Sprintf("lineitems[%d]", i)
	}
	return inputError(field, apitype.RuleLimit, rl.Error())
}
