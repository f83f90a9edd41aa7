package printer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/printertest"
)

func TestValidateFixtures(t *testing.T) {
	for name, r := range map[string]*printer.Receipt{
		"simple": printertest.SimpleSale(), "long": printertest.LongSale(40),
		"credit": printertest.CreditNote(), "reprint": printertest.Reprint(),
	} {
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Each bad receipt names exactly the field and the rule it breaks.
func TestValidateRejects(t *testing.T) {
	for _, c := range []struct {
		name, field, problem string
		edit                 func(*printer.Receipt)
	}{
		{"escape in an item name", "items[1].name", "control character U+001B", func(r *printer.Receipt) { r.Items[1].Name = "Tea\x1bp\x00" }},
		{"newline in a header", "header[0].text", "control character U+000A", func(r *printer.Receipt) { r.Header[0].Text = "a\nb" }},
		{"C1 control", "footer[1].text", "control character U+009B", func(r *printer.Receipt) { r.Footer[1].Text = "x\u009by" }},
		{"invalid UTF-8", "meta[0].value", "not valid UTF-8", func(r *printer.Receipt) { r.Meta[0].Value = "\xff\xfe" }},
		{"no items", "items", "at least one item", func(r *printer.Receipt) { r.Items = nil }},
		{"nameless item", "items[0].name", "name or name_alt is required", func(r *printer.Receipt) { r.Items[0].Name, r.Items[0].NameAlt = " ", "" }},
		{"too long", "notices[0]", "at most 256 allowed", func(r *printer.Receipt) { r.Notices = []string{strings.Repeat("ب", 257)} }},
		{"QR too long", "qr", "at most 2331", func(r *printer.Receipt) { r.QR = strings.Repeat("A", 2332) }},
		{"unlabelled total", "totals[2].label", "label or label_alt is required", func(r *printer.Receipt) { r.Totals[2].Label, r.Totals[2].LabelAlt = "", "" }},
		{"too many items", "items", "at most 1000", func(r *printer.Receipt) { r.Items = printertest.LongSale(1001).Items }},
		{"line separator", "copy_label", "U+2028", func(r *printer.Receipt) { r.CopyLabel = "COPY\u2028" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := printertest.SimpleSale()
			c.edit(r)
			err := r.Validate()
			if !errors.Is(err, printer.ErrInvalidReceipt) {
				t.Fatalf("Validate: %v, want ErrInvalidReceipt", err)
			}
			var verr *printer.ValidationError
			if !errors.As(err, &verr) || len(verr.Faults) != 1 {
				t.Fatalf("want exactly one fault, got %v", err)
			}
			f := verr.Faults[0]
			if f.Field != c.field || !strings.Contains(f.Problem, c.problem) {
				t.Fatalf("fault %q: %q, want %q: ...%s...", f.Field, f.Problem, c.field, c.problem)
			}
		})
	}
	var nilReceipt *printer.Receipt
	if err := nilReceipt.Validate(); !errors.Is(err, printer.ErrInvalidReceipt) {
		t.Fatalf("nil receipt: %v", err)
	}
}

func TestStatusErr(t *testing.T) {
	for _, c := range []struct {
		st   printer.Status
		want error
	}{
		{printer.Status{Online: true}, nil},
		{printer.Status{Online: true, PaperNearEnd: true, DrawerOpen: true}, nil},
		{printer.Status{PaperOut: true}, printer.ErrPaperOut},
		{printer.Status{CoverOpen: true, PaperOut: true}, printer.ErrCoverOpen},
		{printer.Status{}, printer.ErrOffline},
		{printer.Status{Online: true, Error: true}, printer.ErrOffline},
	} {
		if got := c.st.Err(); !errors.Is(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("%+v: %v, want %v", c.st, got, c.want)
		}
	}
}
