package escpos_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpos"
	"github.com/posagent/posagent/printer/escpossim"
	"github.com/posagent/posagent/printer/printertest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type goldenCase struct {
	name    string
	receipt func() *printer.Receipt
	profile escpos.Profile
}

func rasterQR58() escpos.Profile {
	p := escpos.Profile58()
	p.Name = "58mm-rasterqr"
	p.NativeQR = false
	return p
}

func goldenCases() []goldenCase {
	var cs []goldenCase
	for _, p := range []escpos.Profile{escpos.Profile58(), escpos.Profile80()} {
		cs = append(cs,
			goldenCase{"simple-" + p.Name, printertest.SimpleSale, p},
			goldenCase{"long40-" + p.Name, func() *printer.Receipt { return printertest.LongSale(40) }, p},
			goldenCase{"credit-" + p.Name, printertest.CreditNote, p},
			goldenCase{"reprint-" + p.Name, printertest.Reprint, p},
		)
	}
	return append(cs, goldenCase{"simple-58mm-rasterqr", printertest.SimpleSale, rasterQR58()})
}

func encode(t testing.TB, p escpos.Profile, r *printer.Receipt) *escpos.Job {
	t.Helper()
	e, err := escpos.NewEncoder(p)
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func render(t testing.TB, job *escpos.Job, width int) *image.Paletted {
	t.Helper()
	pages, err := escpossim.Render(job.Data, width)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 1 || pages[0].Incomplete {
		t.Fatalf("rendered %d pages (first incomplete: %v), want 1 complete page", len(pages), len(pages) > 0 && pages[0].Incomplete)
	}
	return pages[0].Image()
}

// TestGolden pins the ESC/POS bytes (.bin, with a readable .txt listing)
// and the printed image (.png, rendered by escpossim) of each receipt.
// Refresh with: go test ./printer/escpos -run TestGolden -update
func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			job := encode(t, c.profile, c.receipt())
			var listing bytes.Buffer
			if err := escpossim.Disassemble(&listing, job.Data); err != nil {
				t.Fatal(err)
			}
			img := render(t, job, c.profile.Width)
			base := filepath.Join("testdata", c.name)
			if *update {
				var pngBuf bytes.Buffer
				if err := png.Encode(&pngBuf, img); err != nil {
					t.Fatal(err)
				}
				for ext, data := range map[string][]byte{".bin": job.Data, ".txt": listing.Bytes(), ".png": pngBuf.Bytes()} {
					if err := os.WriteFile(base+ext, data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			want, err := os.ReadFile(base + ".bin")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(job.Data, want) {
				t.Errorf("ESC/POS bytes differ from %s.bin (%d bytes, want %d); compare the listings", base, len(job.Data), len(want))
			}
			wantTxt, err := os.ReadFile(base + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(listing.Bytes(), wantTxt) {
				t.Errorf("listing differs from %s.txt:\n%s", base, firstDiff(listing.String(), string(wantTxt)))
			}
			f, err := os.Open(base + ".png")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			wantImg, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if !samePixels(img, wantImg) {
				t.Errorf("rendered receipt differs from %s.png", base)
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d\n got: %s\nwant: %s", i+1, a, b)
		}
	}
	return "(equal)"
}

func samePixels(a *image.Paletted, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Rect.Min.Y; y < a.Rect.Max.Y; y++ {
		for x := a.Rect.Min.X; x < a.Rect.Max.X; x++ {
			r1, _, _, _ := a.At(x, y).RGBA()
			r2, _, _, _ := b.At(x, y).RGBA()
			if (r1 < 0x8000) != (r2 < 0x8000) {
				return false
			}
		}
	}
	return true
}

// The QR code in the printed image, read back by an independent decoder
// (zbarimg from zbar-tools), is the receipt's payload, for native (GS ( k)
// and raster QR codes, on both widths.
func TestQRDecodesWithZbar(t *testing.T) {
	dir := t.TempDir()
	for _, c := range goldenCases() {
		if !strings.HasPrefix(c.name, "simple") && !strings.HasPrefix(c.name, "credit") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			r := c.receipt()
			if len(r.QR) < 600 {
				t.Fatalf("sample QR payload is only %d characters", len(r.QR))
			}
			img := render(t, encode(t, c.profile, r), c.profile.Width)
			path := filepath.Join(dir, c.name+".png")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, img); err != nil {
				t.Fatal(err)
			}
			f.Close()
			out, err := exec.Command("zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
			if err != nil {
				t.Fatalf("zbarimg: %v", err)
			}
			if got := strings.TrimRight(string(out), "\n"); got != r.QR {
				t.Fatalf("zbarimg decoded %d characters:\n%s\nwant %d:\n%s", len(got), got, len(r.QR), r.QR)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	r := printertest.LongSale(12)
	a := encode(t, escpos.Profile80(), r)
	b := encode(t, escpos.Profile80(), r)
	c := encode(t, escpos.Profile80(), printertest.LongSale(12))
	if !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.Data, c.Data) {
		t.Fatal("encoding the same receipt twice gave different bytes")
	}
}

// Latin text goes as printer text; raster images appear only where there is
// Arabic (or for the QR code on printers without native QR).
func TestRasterOnlyForArabic(t *testing.T) {
	latin := &printer.Receipt{
		Header: []printer.Line{{Text: "Corner Shop", Bold: true, Large: true}},
		Title:  []printer.Line{{Text: "Simplified Tax Invoice"}},
		Meta:   []printer.Field{{Label: "Invoice No.", Value: "INV-1"}},
		Items: []printer.Item{{Name: "Tea", Quantity: decimal.NewFromInt(1), UnitPrice: decimal.RequireFromString("2.00"),
			VATRate: decimal.NewFromInt(15), Total: decimal.RequireFromString("2.30")}},
		Totals: []printer.Amount{{Label: "Total", Value: decimal.RequireFromString("2.30"), Bold: true}},
		QR:     "hello",
	}
	var listing bytes.Buffer
	job := encode(t, escpos.Profile80(), latin)
	if err := escpossim.Disassemble(&listing, job.Data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(listing.String(), "GS v 0") {
		t.Fatalf("a Latin-only receipt should need no raster image:\n%s", listing.String())
	}
	arabic := *latin
	arabic.Items = append([]printer.Item(nil), latin.Items...)
	arabic.Items[0].NameAlt = "شاي"
	listing.Reset()
	if err := escpossim.Disassemble(&listing, encode(t, escpos.Profile80(), &arabic).Data); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(listing.String(), "GS v 0") {
		t.Fatal("the Arabic name was not drawn as raster")
	}
	for _, l := range strings.Split(listing.String(), "\n") {
		if i := strings.Index(l, "TEXT "); i >= 0 && strings.ContainsFunc(l[i:], func(r rune) bool { return r > 0x7e }) {
			t.Fatalf("non-ASCII sent as printer text: %s", l)
		}
	}
}

func TestOpenDrawer(t *testing.T) {
	r := printertest.SimpleSale()
	r.OpenDrawer = true
	job := encode(t, escpos.Profile58(), r)
	cut := []byte{escpos.GS, 'V', 66, 0}
	if !bytes.HasSuffix(job.Data, append(escpos.DrawerKick(false), cut...)) {
		t.Fatal("the job does not end with the drawer pulse and the cut")
	}
	sim, err := escpossim.New(escpossim.Config{Width: 384})
	if err != nil {
		t.Fatal(err)
	}
	sim.Write(job.Data)
	if st := sim.Stats(); st.DrawerPulses != 1 || st.Pages != 1 {
		t.Fatalf("simulator stats %+v", st)
	}
}

func TestJobChunks(t *testing.T) {
	job := encode(t, escpos.Profile80(), printertest.LongSale(40))
	for i, b := range job.Breaks {
		end := len(job.Data)
		if i+1 < len(job.Breaks) {
			end = job.Breaks[i+1]
		}
		if n := end - b; n > escpos.MaxCommandLen {
			t.Fatalf("command at %d is %d bytes, more than MaxCommandLen", b, n)
		}
	}
	const max = 2048
	chunks := job.Chunks(max)
	var joined []byte
	breaks := map[int]bool{}
	for _, b := range job.Breaks {
		breaks[b] = true
	}
	for _, c := range chunks {
		if !breaks[len(joined)] {
			t.Fatalf("chunk starts at %d, not at a command boundary", len(joined))
		}
		if len(c) > max {
			t.Fatalf("chunk of %d bytes", len(c))
		}
		joined = append(joined, c...)
	}
	if !bytes.Equal(joined, job.Data) {
		t.Fatal("chunks do not add up to the job")
	}
	if len(chunks) < len(job.Data)/max {
		t.Fatalf("%d chunks for %d bytes", len(chunks), len(job.Data))
	}
}

// The version table matches what go-qrcode chooses for byte-mode data.
func TestQRVersionTable(t *testing.T) {
	for n := 1; n <= printer.MaxQRBytes; n += 7 {
		q, err := qrcode.New(strings.Repeat("a", n), qrcode.Medium)
		if err != nil {
			t.Fatal(err)
		}
		if v := escpos.QRVersion(n); v != q.VersionNumber {
			t.Fatalf("%d bytes: version %d, go-qrcode uses %d", n, v, q.VersionNumber)
		}
	}
	if escpos.QRVersion(printer.MaxQRBytes+1) != 0 {
		t.Fatal("QRVersion accepts more than a QR code holds")
	}
}

func TestEncodeRejectsInvalidReceipt(t *testing.T) {
	e, err := escpos.NewEncoder(escpos.Profile58())
	if err != nil {
		t.Fatal(err)
	}
	r := printertest.SimpleSale()
	r.Meta[1].Value = "2026-11-21\r\n" + "\x1d\x56\x00"
	_, err = e.Encode(r)
	var verr *printer.ValidationError
	if !errors.As(err, &verr) || verr.Faults[0].Field != "meta[1].value" {
		t.Fatalf("encode: %v", err)
	}
}

func TestProfiles(t *testing.T) {
	for _, name := range []string{"58mm", "80mm"} {
		p, err := escpos.ProfileByName(name)
		if err != nil || p.Validate() != nil {
			t.Fatalf("%s: %v %v", name, err, p.Validate())
		}
	}
	if _, err := escpos.ProfileByName("76mm"); err == nil {
		t.Fatal("unknown profile accepted")
	}
	bad := escpos.Profile80()
	bad.Width = 500
	bad.TextSize = 2
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "width") || !strings.Contains(err.Error(), "text_size") {
		t.Fatalf("validate: %v", err)
	}
}

func TestStatusBytes(t *testing.T) {
	for _, st := range []printer.Status{
		{Online: true},
		{Online: true, PaperNearEnd: true},
		{PaperOut: true, PaperNearEnd: true},
		{CoverOpen: true},
		{Error: true},
		{Online: true, DrawerOpen: true},
	} {
		raw := escpos.EncodeStatus(st)
		for _, b := range []byte{raw.Printer, raw.Offline, raw.Paper} {
			if !escpos.StatusByteValid(b) {
				t.Fatalf("%+v: invalid status byte %#x", st, b)
			}
		}
		if got := raw.Status(); got != st {
			t.Fatalf("round trip of %+v gave %+v", st, got)
		}
	}
	// DLE EOT 1 answer of a TM-series printer that is online: 0x16 (drawer
	// pin high), 0x12 otherwise; paper end on DLE EOT 4: 0x72.
	if st := (escpos.RawStatus{Printer: 0x12, Offline: 0x12, Paper: 0x72}).Status(); !st.PaperOut {
		t.Fatal("0x72 on DLE EOT 4 is paper end")
	}
	if near, out := escpos.DecodePaperSync(escpos.EncodePaperSync(true, false)); !near || out {
		t.Fatal("paper sync round trip")
	}
}

func TestAmount(t *testing.T) {
	for in, want := range map[string]string{"1": "1.00", "1.5": "1.50", "-2.345": "-2.345", "1000000": "1000000.00"} {
		if got := escpos.Amount(decimal.RequireFromString(in)); got != want {
			t.Errorf("Amount(%s) = %s, want %s", in, got, want)
		}
	}
}

// Bytes per receipt and encoding time. The transfer time at 115200 baud
// (10 bits per byte on an 8N1 line) is reported as line-ms.
func BenchmarkRender(b *testing.B) {
	for _, p := range []escpos.Profile{escpos.Profile58(), escpos.Profile80()} {
		for _, c := range []struct {
			name string
			r    *printer.Receipt
		}{{"simple", printertest.SimpleSale()}, {"long40", printertest.LongSale(40)}} {
			b.Run(p.Name+"/"+c.name, func(b *testing.B) {
				e, err := escpos.NewEncoder(p)
				if err != nil {
					b.Fatal(err)
				}
				var n int
				for b.Loop() {
					job, err := e.Encode(c.r)
					if err != nil {
						b.Fatal(err)
					}
					n = len(job.Data)
				}
				b.ReportMetric(float64(n), "bytes/receipt")
				b.ReportMetric(float64(n)*10/115200*1000, "line-ms@115200")
			})
		}
	}
}
