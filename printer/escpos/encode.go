// Package escpos owns the translation of a printer.Receipt into the ESC/POS
// byte stream a thermal receipt printer prints: Latin-only lines in the
// printer's own font (text mode), Arabic and mixed lines shaped with
// HarfBuzz (go-text/typesetting), drawn with the embedded Noto fonts and sent
// as GS v 0 raster images, the QR code as GS ( k or as a raster image, the cut
// and the drawer pulse. Output is deterministic: the same Receipt and Profile
// always give the same bytes, on every architecture.
//
// It imports printer (the model), printer/escpos/fonts and
// printer/internal/raster; it must not import a transport (serialport) or
// the simulator, and it knows nothing of ZATCA.
package escpos

import (
	"errors"
	"fmt"
	"image"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpos/fonts"
	"github.com/posagent/posagent/printer/internal/raster"
)

// Job is an encoded receipt.
type Job struct {
	// Data is the complete ESC/POS byte stream, from ESC @ to the cut (and
	// the drawer pulse, if asked for).
	Data []byte
	// Breaks are the offsets in Data at which a command starts. A transport
	// may pause or insert status requests only there.
	Breaks []int
}

// Chunks splits the job at its breaks into pieces of at most max bytes (a
// single command longer than max stays whole).
func (j *Job) Chunks(max int) [][]byte {
	var out [][]byte
	start := 0
	last := 0
	for _, b := range append(j.Breaks[:len(j.Breaks):len(j.Breaks)], len(j.Data)) {
		if b-start > max && last > start {
			out = append(out, j.Data[start:last])
			start = last
		}
		last = b
	}
	if start < len(j.Data) {
		out = append(out, j.Data[start:])
	}
	return out
}

// Encoder renders receipts for one printer profile. It is safe for
// concurrent use; encodings are serialised.
type Encoder struct {
	mu      sync.Mutex
	profile Profile
	shaper  *raster.Shaper
}

var parsedFaces = sync.OnceValues(func() (raster.Faces, error) {
	return raster.ParseFaces(fonts.ArabicRegular, fonts.ArabicBold, fonts.LatinRegular, fonts.LatinBold)
})

// NewEncoder returns an Encoder for profile p.
func NewEncoder(p Profile) (*Encoder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	faces, err := parsedFaces()
	if err != nil {
		return nil, fmt.Errorf("escpos: load fonts: %w", err)
	}
	return &Encoder{profile: p, shaper: raster.NewShaper(faces.Clone())}, nil
}

// Profile returns the encoder's profile.
func (e *Encoder) Profile() Profile { return e.profile }

// Encode validates r and renders it.
func (e *Encoder) Encode(r *printer.Receipt) (*Job, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("escpos encode: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := &builder{p: e.profile, sh: e.shaper, cols: e.profile.Columns()}
	if err := b.receipt(r); err != nil {
		return nil, fmt.Errorf("escpos encode: %w", err)
	}
	return &Job{Data: b.out, Breaks: b.breaks}, nil
}

// Anchors of a cell: where its x refers to.
const (
	anchorLeft = iota
	anchorCenter
	anchorRight
)

// cell is one piece of text on a printed line.
type cell struct {
	text   string
	x      int // dots
	anchor int
	// set by place
	shaped     raster.Text
	start, end int
}

// builder accumulates the byte stream and tracks the printer's modes so
// that mode commands are sent only on change.
type builder struct {
	p      Profile
	sh     *raster.Shaper
	cols   int
	out    []byte
	breaks []int

	align   byte
	bold    bool
	size    byte
	reverse bool
	white   int // pending blank dots, see blank
}

// gap is the minimum space between two cells on a line, in dots.
const gap = 8

func (b *builder) cmd(bs ...byte) {
	b.flushBlank()
	b.breaks = append(b.breaks, len(b.out))
	b.out = append(b.out, bs...)
}

func (b *builder) setAlign(a byte) {
	if b.align != a {
		b.cmd(ESC, 'a', a)
		b.align = a
	}
}

func (b *builder) setBold(v bool) {
	if b.bold != v {
		b.cmd(ESC, 'E', boolByte(v))
		b.bold = v
	}
}

func (b *builder) setLarge(v bool) {
	n := byte(0)
	if v {
		n = 0x11
	}
	if b.size != n {
		b.cmd(GS, '!', n)
		b.size = n
	}
}

func (b *builder) setReverse(v bool) {
	if b.reverse != v {
		b.cmd(GS, 'B', boolByte(v))
		b.reverse = v
	}
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// textMode reports whether s can be printed with the printer's font:
// printable ASCII only.
func textMode(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func (b *builder) rasterSize(large bool) int {
	if large {
		return b.p.TextSize * 2
	}
	return b.p.TextSize
}

// band returns the nominal ascent and descent of a raster text line in
// dots: 1.25 em, about the height of a text line. Taller ink (stacked Arabic
// marks, accents) extends the line instead of being clipped.
func band(size int) (ascent, descent int) {
	return (size*17 + 19) / 20, (size*8 + 19) / 20
}

// place measures and positions cells on one line. It reports whether they
// fit the width without touching each other. In text mode (every cell is
// ASCII) positions are in whole characters.
func (b *builder) place(cells []cell, bold, large, text bool) bool {
	cw := CharWidth
	if large {
		cw *= 2
	}
	for i := range cells {
		c := &cells[i]
		var w int
		if text {
			w = len(c.text) * cw
		} else {
			c.shaped = b.sh.Shape(c.text, raster.Style{Size: b.rasterSize(large), Bold: bold})
			w = c.shaped.Dots()
		}
		switch c.anchor {
		case anchorLeft:
			c.start = c.x
		case anchorRight:
			c.start = c.x - w
		default:
			c.start = c.x - w/2
		}
		if c.start < 0 {
			return false
		}
		if text {
			c.start = c.start / cw * cw
		}
		c.end = c.start + w
		if c.end > b.p.Width {
			return false
		}
	}
	for i := range cells {
		for j := range cells {
			if i != j && cells[i].start <= cells[j].start && cells[j].start < cells[i].end+gap {
				return false
			}
		}
	}
	return true
}

// line prints cells on one line if they fit, and reports whether they did.
// Empty cells are dropped.
func (b *builder) line(cells []cell, bold, large bool) bool {
	cells = nonEmpty(cells)
	if len(cells) == 0 {
		return true
	}
	text := true
	for _, c := range cells {
		text = text && textMode(c.text)
	}
	if !b.place(cells, bold, large, text) {
		return false
	}
	if !text {
		b.rasterLine(cells, bold, large)
		return true
	}
	b.setBold(bold)
	b.setLarge(large)
	if len(cells) == 1 {
		// Let the printer align a lone cell.
		a := byte(AlignLeft)
		switch cells[0].anchor {
		case anchorCenter:
			a = AlignCenter
		case anchorRight:
			a = AlignRight
		}
		if a == AlignLeft && cells[0].start > 0 {
			b.setAlign(AlignLeft)
			b.cmd(append([]byte(strings.Repeat(" ", cells[0].start/CharWidth/scale(large))+cells[0].text), LF)...)
			return true
		}
		b.setAlign(a)
		b.cmd(append([]byte(cells[0].text), LF)...)
		return true
	}
	cw := CharWidth * scale(large)
	buf := []byte(strings.Repeat(" ", b.p.Width/cw))
	for _, c := range cells {
		copy(buf[c.start/cw:], c.text)
	}
	b.setAlign(AlignLeft)
	b.cmd(append([]byte(strings.TrimRight(string(buf), " ")), LF)...)
	return true
}

func scale(large bool) int {
	if large {
		return 2
	}
	return 1
}

func nonEmpty(cells []cell) []cell {
	out := cells[:0:0]
	for _, c := range cells {
		if strings.TrimSpace(c.text) != "" {
			out = append(out, c)
		}
	}
	return out
}

// rasterLine draws placed cells into a band and sends it.
func (b *builder) rasterLine(cells []cell, bold, large bool) {
	size := b.rasterSize(large)
	asc, desc := band(size)
	room := size * 2 // above and below the nominal band
	bm := raster.NewBitmap(b.p.Width, room+asc+desc+room)
	for _, c := range cells {
		b.sh.Draw(bm, c.shaped, c.start, room+asc)
	}
	ink := bm.Ink()
	top, bottom := room, room+asc+desc
	if !ink.Empty() {
		top, bottom = min(top, ink.Min.Y), max(bottom, ink.Max.Y)
	}
	b.image(bm.Sub(image.Rect(0, top, bm.W, bottom)))
}

// maxRasterBytes bounds one GS v 0 command, so that a transport can pace a
// job in pieces smaller than the printer's buffer.
func (b *builder) maxRasterBytes() int { return min(2048, b.p.BufferSize/2) }

// image sends a full-width bitmap as GS v 0 commands. White rows above and
// below the ink go as one-byte-wide blank images; the inked rows are cropped
// at the sides (keeping their position exact with ESC a) and split into
// bands of at most maxRasterBytes.
func (b *builder) image(bm *raster.Bitmap) {
	ink := bm.Ink()
	if ink.Empty() {
		b.blank(bm.H)
		return
	}
	b.blank(ink.Min.Y)
	b.rasterRows(bm, ink)
	b.blank(bm.H - ink.Max.Y)
}

// blank feeds h dots of white paper. Consecutive blanks are merged and sent
// before the next command as one-byte-wide raster images (exact on every
// printer, unlike feeds in motion units).
func (b *builder) blank(h int) { b.white += h }

func (b *builder) flushBlank() {
	for b.white > 0 {
		n := min(b.white, 255)
		b.white -= n
		b.breaks = append(b.breaks, len(b.out))
		b.out = append(b.out, GS, 'v', '0', 0, 1, 0, byte(n), 0)
		b.out = append(b.out, make([]byte, n)...)
	}
}

func (b *builder) rasterRows(bm *raster.Bitmap, ink image.Rectangle) {
	stride := bm.Stride
	var (
		from, to int // byte columns sent
		align    byte
	)
	l, r := ink.Min.X/8, stride-(ink.Max.X+7)/8
	from, to, align = 0, stride-r, AlignLeft
	if w := stride - l; w < to-from {
		from, to, align = l, stride, AlignRight
	}
	if k := min(l, r); stride-2*k < to-from {
		from, to, align = k, stride-k, AlignCenter
	}
	b.setAlign(align)
	w := to - from
	rows := max(1, b.maxRasterBytes()/w)
	for y0 := ink.Min.Y; y0 < ink.Max.Y; y0 += rows {
		h := min(rows, ink.Max.Y-y0)
		c := []byte{GS, 'v', '0', 0, byte(w), byte(w >> 8), byte(h), byte(h >> 8)}
		for y := y0; y < y0+h; y++ {
			c = append(c, bm.Pix[y*stride+from:y*stride+to]...)
		}
		b.cmd(c...)
	}
}

// para prints text as a paragraph, wrapped at word boundaries. Breaks fall
// preferably between phrases of different scripts (an Arabic phrase is not
// split while it fits a line), then between words.
func (b *builder) para(text string, anchor int, bold, large bool) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	x := 0
	switch anchor {
	case anchorCenter:
		x = b.p.Width / 2
	case anchorRight:
		x = b.p.Width
	}
	fits := func(s string) bool {
		return b.place([]cell{{text: s, x: x, anchor: anchor}}, bold, large, textMode(s))
	}
	var line []string // words of the line being built
	flush := func() {
		if len(line) > 0 {
			s := strings.Join(line, " ")
			if !b.line([]cell{{text: s, x: x, anchor: anchor}}, bold, large) {
				b.longWord(s, x, anchor, bold, large) // one word wider than the paper
			}
			line = nil
		}
	}
	for _, ph := range phrases(strings.Fields(text)) {
		if fits(strings.Join(append(line[:len(line):len(line)], ph...), " ")) {
			line = append(line, ph...)
			continue
		}
		flush()
		for _, w := range ph {
			if len(line) > 0 && !fits(strings.Join(append(line[:len(line):len(line)], w), " ")) {
				flush()
			}
			line = append(line, w)
		}
	}
	flush()
}

// phrases groups consecutive words by direction: a word with a
// right-to-left letter, a word with another letter, or a neutral word
// (digits, punctuation), which joins the phrase before it.
func phrases(words []string) [][]string {
	var (
		out  [][]string
		last = -1
	)
	for _, w := range words {
		class := 0 // neutral
		for _, r := range w {
			if raster.IsRTL(string(r)) {
				class = 2
				break
			}
			if unicode.IsLetter(r) {
				class = 1
			}
		}
		if len(out) == 0 || (class != 0 && class != last && last != -1) {
			out = append(out, nil)
		}
		if class != 0 {
			last = class
		}
		out[len(out)-1] = append(out[len(out)-1], w)
	}
	return out
}

// longWord breaks a single word that is wider than the paper.
func (b *builder) longWord(s string, x, anchor int, bold, large bool) {
	runes := []rune(s)
	for len(runes) > 0 {
		n := len(runes)
		for n > 1 && !b.place([]cell{{text: string(runes[:n]), x: x, anchor: anchor}}, bold, large, textMode(string(runes[:n]))) {
			n--
		}
		if !b.line([]cell{{text: string(runes[:n]), x: x, anchor: anchor}}, bold, large) {
			// A single glyph wider than the paper cannot happen with the
			// profile limits; draw it clipped rather than lose it.
			b.rasterLine([]cell{{text: string(runes[:n]), shaped: b.sh.Shape(string(runes[:n]), raster.Style{Size: b.rasterSize(large), Bold: bold})}}, bold, large)
		}
		runes = runes[n:]
	}
}

// startAnchor aligns text at the start of its reading direction.
func startAnchor(s string) int {
	if raster.IsRTL(s) {
		return anchorRight
	}
	return anchorLeft
}

func (b *builder) separator() {
	b.setBold(false)
	b.setLarge(false)
	b.setAlign(AlignLeft)
	b.cmd(append([]byte(strings.Repeat("-", b.cols)), LF)...)
}

func (b *builder) feed() {
	b.setLarge(false)
	b.cmd(LF)
}

// receipt lays out the whole receipt.
func (b *builder) receipt(r *printer.Receipt) error {
	b.cmd(ESC, '@')
	if r.Copy {
		b.copyBanner(r.CopyLabel)
	}
	for _, l := range r.Header {
		b.para(l.Text, anchorCenter, l.Bold, l.Large)
	}
	if len(r.Title) > 0 {
		if len(r.Header) > 0 {
			b.separator()
		}
		for _, l := range r.Title {
			b.para(l.Text, anchorCenter, true, l.Large)
		}
	}
	if len(r.Meta) > 0 {
		b.separator()
		for _, f := range r.Meta {
			b.field(f)
		}
	}
	b.separator()
	b.items(r)
	if len(r.Totals) > 0 {
		b.separator()
		b.totals(r.Totals, r.Currency)
	}
	if r.QR != "" {
		if err := b.qr(r.QR); err != nil {
			return err
		}
	}
	if len(r.Notices) > 0 {
		b.separator()
		for _, n := range r.Notices {
			b.para(n, startAnchor(n), false, false)
		}
	}
	if len(r.Footer) > 0 {
		b.feed()
		for _, l := range r.Footer {
			b.para(l.Text, anchorCenter, l.Bold, l.Large)
		}
	}
	if r.Copy {
		b.feed()
		b.copyBanner(r.CopyLabel)
	}
	if r.OpenDrawer {
		b.cmd(DrawerKick(false)...) // before the cut, so the job ends with it
	}
	b.cmd(GS, 'V', 66, 0) // feed to the cutter and cut (partial)
	return nil
}

// copyBanner prints the reprint marking: reverse-video double-size text.
func (b *builder) copyBanner(label string) {
	label = strings.TrimSpace(label)
	if label == "" {
		label = "COPY"
	}
	if textMode(label) && utf8.RuneCountInString(label)+4 <= b.cols/2 {
		b.setBold(true)
		b.setLarge(true)
		b.setAlign(AlignCenter)
		b.setReverse(true)
		b.cmd(append([]byte("  "+label+"  "), LF)...)
		b.setReverse(false)
		b.setLarge(false)
		b.setBold(false)
		return
	}
	size := b.rasterSize(true)
	asc, desc := band(size)
	pad := size / 6
	h := pad + asc + desc + pad
	t := b.sh.Shape(label, raster.Style{Size: size, Bold: true})
	w := min(t.Dots(), b.p.Width-4*gap)
	x0 := (b.p.Width - w) / 2
	box := raster.NewBitmap(b.p.Width, h)
	box.Fill(image.Rect(x0-2*gap, 0, x0+w+2*gap, h), true)
	txt := raster.NewBitmap(b.p.Width, h)
	b.sh.Draw(txt, t, x0, pad+asc)
	bm := raster.NewBitmap(b.p.Width, h)
	bm.Draw(box, 0, 0, false)
	bm.Draw(txt, 0, 0, true)
	b.image(bm)
}

// field prints one label/value row: label at the left, the second-language
// label at the right, the value between them (or below when it does not
// fit).
func (b *builder) field(f printer.Field) {
	W := b.p.Width
	label, alt, value := strings.TrimSpace(f.Label), strings.TrimSpace(f.LabelAlt), strings.TrimSpace(f.Value)
	if alt != "" && value != "" {
		if b.line([]cell{{text: label, x: 0}, {text: value, x: W / 2, anchor: anchorCenter}, {text: alt, x: W, anchor: anchorRight}}, false, false) {
			return
		}
	}
	if alt == "" && value != "" {
		if b.line([]cell{{text: label, x: 0}, {text: value, x: W, anchor: anchorRight}}, false, false) {
			return
		}
	}
	if label == "" && alt == "" {
		b.para(value, startAnchor(value), false, false)
		return
	}
	if !b.line([]cell{{text: label, x: 0}, {text: alt, x: W, anchor: anchorRight}}, false, false) {
		b.para(label, anchorLeft, false, false)
		b.para(alt, anchorRight, false, false)
	}
	b.para(value, anchorCenter, false, false)
}

// wide reports whether the paper is wide enough (80 mm) to print an item's
// Latin name on the same line as its numbers.
func (b *builder) wide() bool { return b.cols >= 40 }

// columnEnds returns where the right-aligned numeric columns of the item
// table end, in characters; the total ends at the right edge.
func (b *builder) columnEnds() (qty, price, vat int) {
	if b.wide() {
		return b.cols * 22 / 48, b.cols * 32 / 48, b.cols * 39 / 48
	}
	return b.cols * 3 / 16, b.cols * 15 / 32, b.cols * 11 / 16
}

// numbers returns the cells of the numeric columns.
func (b *builder) numbers(qty, price, vat, total string) []cell {
	qe, pe, ve := b.columnEnds()
	return []cell{
		{text: qty, x: qe * CharWidth, anchor: anchorRight},
		{text: price, x: pe * CharWidth, anchor: anchorRight},
		{text: vat, x: ve * CharWidth, anchor: anchorRight},
		{text: total, x: b.p.Width, anchor: anchorRight},
	}
}

// items prints the item table. On wide paper a line reads
//
//	Latin name            qty   price  vat   total
//	                                 Arabic name
//
// and on narrow paper the names are stacked above the numbers. Arabic names
// are narrow raster images at the right; everything else is text.
func (b *builder) items(r *printer.Receipt) {
	W := b.p.Width
	if !r.Columns.IsZero() || !r.ColumnsAlt.IsZero() {
		if b.wide() {
			for _, c := range []printer.Columns{r.Columns, r.ColumnsAlt} {
				cells := append([]cell{{text: c.Item, x: 0}}, b.numbers(c.Quantity, c.UnitPrice, c.VAT, c.Total)...)
				bold := textMode(strings.Join(texts(cells), ""))
				if !b.line(cells, bold, false) {
					b.para(strings.Join(texts(nonEmpty(cells)), " / "), startAnchor(c.Item), bold, false)
				}
			}
		} else {
			if !b.line([]cell{{text: r.Columns.Item, x: 0}, {text: r.ColumnsAlt.Item, x: W, anchor: anchorRight}}, true, false) {
				b.para(r.Columns.Item, anchorLeft, true, false)
				b.para(r.ColumnsAlt.Item, anchorRight, true, false)
			}
			for _, c := range []printer.Columns{r.Columns, r.ColumnsAlt} {
				cells := b.numbers(c.Quantity, c.UnitPrice, c.VAT, c.Total)
				bold := textMode(strings.Join(texts(cells), ""))
				if !b.line(cells, bold, false) {
					b.para(strings.Join(texts(nonEmpty(cells)), " / "), startAnchor(c.Total), bold, false)
				}
			}
		}
		b.separator()
	}
	for _, it := range r.Items {
		name, alt := strings.TrimSpace(it.Name), strings.TrimSpace(it.NameAlt)
		qty, price, vat, total := it.Quantity.String(), Amount(it.UnitPrice), it.VATRate.String()+"%", Amount(it.Total)
		nums := b.numbers(qty, price, vat, total)
		if b.wide() && name != "" && b.line(append([]cell{{text: name, x: 0}}, nums...), false, false) {
			// The second name goes under the first, right-aligned to the
			// name column when it fits there.
			qe, _, _ := b.columnEnds()
			if alt != "" && !b.line([]cell{{text: alt, x: (qe - 5) * CharWidth, anchor: anchorRight}}, false, false) {
				b.para(alt, startAnchor(alt), false, false)
			}
			if alt != "" {
				b.blank(6) // keep the next item's line off this name's descenders
			}
			continue
		}
		b.para(name, startAnchor(name), false, false)
		b.para(alt, startAnchor(alt), false, false)
		if !b.line(nums, false, false) {
			b.para(qty+" x "+price+"  "+vat, anchorLeft, false, false)
			b.para(total, anchorRight, false, false)
		}
	}
}

func texts(cells []cell) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = c.text
	}
	return out
}

// totals prints the totals as a table: label, amount, second-language
// label; or, when that does not fit, label and amount with the
// second-language label on the next line.
func (b *builder) totals(rows []printer.Amount, currency string) {
	W := b.p.Width
	values := make([]string, len(rows))
	text := true
	altW := 0
	for i, a := range rows {
		values[i] = Amount(a.Value)
		if currency != "" {
			values[i] += " " + currency
		}
		text = text && textMode(a.Label) && textMode(a.LabelAlt) && textMode(values[i])
	}
	for _, a := range rows {
		if a.LabelAlt == "" {
			continue
		}
		c := []cell{{text: a.LabelAlt}}
		if !b.place(c, a.Bold, false, text) {
			altW = W
			break
		}
		altW = max(altW, c[0].end)
	}
	valueEnd := W
	if altW > 0 {
		valueEnd = W - altW - gap
		if text {
			valueEnd = valueEnd / CharWidth * CharWidth
		}
	}
	row := func(i int) []cell {
		return nonEmpty([]cell{
			{text: rows[i].Label, x: 0},
			{text: values[i], x: valueEnd, anchor: anchorRight},
			{text: rows[i].LabelAlt, x: W, anchor: anchorRight},
		})
	}
	table := valueEnd > 0
	for i := range rows {
		table = table && b.place(row(i), rows[i].Bold, false, text)
	}
	for i, a := range rows {
		if table && b.line(row(i), a.Bold, false) {
			continue
		}
		if !b.line([]cell{{text: a.Label, x: 0}, {text: values[i], x: W, anchor: anchorRight}}, a.Bold, false) {
			b.para(a.Label, anchorLeft, a.Bold, false)
			b.para(values[i], anchorRight, a.Bold, false)
		}
		b.para(a.LabelAlt, anchorRight, a.Bold, false)
	}
}

// qr prints the QR code centred, with a quiet zone of blank lines.
func (b *builder) qr(payload string) error {
	b.feed()
	if b.p.NativeQR {
		v := QRVersion(len(payload))
		if v == 0 {
			return fmt.Errorf("qr: payload of %d bytes exceeds QR capacity", len(payload))
		}
		m, err := b.p.qrModule(v)
		if err != nil {
			return err
		}
		b.setAlign(AlignCenter)
		b.cmd(GS, '(', 'k', 4, 0, '1', 'A', '2', 0) // model 2
		b.cmd(GS, '(', 'k', 3, 0, '1', 'C', byte(m))
		b.cmd(GS, '(', 'k', 3, 0, '1', 'E', '1') // error correction M
		n := len(payload) + 3
		store := []byte{GS, '(', 'k', byte(n), byte(n >> 8), '1', 'P', '0'}
		b.cmd(append(store, payload...)...)
		b.cmd(GS, '(', 'k', 3, 0, '1', 'Q', '0')
	} else {
		sym, err := qrBitmap(payload, 1)
		if err != nil {
			return err
		}
		m := min(b.p.Width/(sym.W+2*qrQuiet), b.p.MaxQRModule)
		if m < 1 {
			return errors.New("qr: symbol does not fit the paper width")
		}
		sym = sym.Scale(m, m)
		bm := raster.NewBitmap(b.p.Width, sym.H)
		bm.Draw(sym, (b.p.Width-sym.W)/2, 0, false)
		b.image(bm)
	}
	b.feed()
	return nil
}

// Amount formats a money amount with two decimals, or more when the value
// has more (never rounding a digit away).
func Amount(d decimal.Decimal) string {
	if d.Exponent() >= -2 {
		return d.StringFixed(2)
	}
	return d.String()
}
