package escpossim

import (
	"github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/printer/internal/raster"
)

// Paper geometry of the simulated mechanism, in dots.
const (
	defaultSpacing = 30      // LF at the default line spacing
	cutFeed        = 96      // head to cutter: GS V 65/66 feeds this far before cutting
	maxPageHeight  = 1 << 14 // 2 m of paper
)

// glyphRun is a character waiting in the line buffer.
type glyphRun struct {
	bm        *raster.Bitmap // the character cell, already scaled
	x         int
	reverse   bool
	underline int
}

// page is the receipt being printed: rows of dots and the current line.
type page struct {
	width   int
	rows    []byte // stride width/8
	y       int    // top of the next line
	inked   bool
	line    []glyphRun
	lineX   int
	lineH   int
	lineAln byte
}

func newPage(width int) *page { return &page{width: width} }

func (p *page) stride() int { return (p.width + 7) / 8 }

// ensure grows the paper to at least h rows.
func (p *page) ensure(h int) {
	if need := h * p.stride(); need > len(p.rows) {
		p.rows = append(p.rows, make([]byte, need-len(p.rows))...)
	}
}

func (p *page) set(x, y int) {
	if x < 0 || x >= p.width || y < 0 || y >= maxPageHeight {
		return
	}
	p.ensure(y + 1)
	p.rows[y*p.stride()+x>>3] |= 0x80 >> uint(x&7)
	p.inked = true
}

// blit ORs bm onto the paper at (x, y); with reverse the cell is inverted.
func (p *page) blit(bm *raster.Bitmap, x, y int, reverse bool) {
	for j := 0; j < bm.H; j++ {
		for i := 0; i < bm.W; i++ {
			if bm.At(i, j) != reverse {
				p.set(x+i, y+j)
			}
		}
	}
}

// advance moves the print position down by n dots.
func (p *page) advance(n int) {
	p.y = min(p.y+n, maxPageHeight)
	p.ensure(p.y)
}

// bitmap returns the printed paper.
func (p *page) bitmap() *raster.Bitmap {
	h := max(p.y, len(p.rows)/p.stride(), 1)
	bm := raster.NewBitmap(p.width, h)
	copy(bm.Pix, p.rows)
	return bm
}

// state is the interpreter's mode state (reset by ESC @).
type state struct {
	align     byte
	bold      bool
	fontB     bool
	underline int
	scaleW    int
	scaleH    int
	reverse   bool
	spacing   int
	qrModule  int
	qrECC     qrcode.RecoveryLevel
	qrData    []byte
}

func defaultState() state {
	return state{scaleW: 1, scaleH: 1, spacing: defaultSpacing, qrModule: 3, qrECC: qrcode.Low}
}

// interp executes commands onto pages.
type interp struct {
	width  int
	glyphs *glyphCache
	st     state
	pg     *page
}

func newInterp(width int, g *glyphCache) *interp {
	return &interp{width: width, glyphs: g, st: defaultState(), pg: newPage(width)}
}

// alignX returns the left edge of something w dots wide under the current
// alignment.
func (in *interp) alignX(w int, align byte) int {
	switch align {
	case 1, '1':
		return max((in.width-w)/2, 0)
	case 2, '2':
		return max(in.width-w, 0)
	}
	return 0
}

// char puts one character into the line buffer, printing the line first
// when it is full.
func (in *interp) char(b byte) {
	cell := in.glyphs.glyph(b, in.st.fontB, in.st.bold).Scale(in.st.scaleW, in.st.scaleH)
	if in.pg.lineX+cell.W > in.width {
		in.printLine(false)
	}
	if len(in.pg.line) == 0 {
		in.pg.lineAln = in.st.align
	}
	in.pg.line = append(in.pg.line, glyphRun{bm: cell, x: in.pg.lineX, reverse: in.st.reverse, underline: in.st.underline})
	in.pg.lineX += cell.W
	in.pg.lineH = max(in.pg.lineH, cell.H)
}

// printLine prints the line buffer and feeds one line (feed) or just the
// line's height.
func (in *interp) printLine(feed bool) {
	pg := in.pg
	if len(pg.line) == 0 {
		if feed {
			pg.advance(in.st.spacing)
		}
		return
	}
	off := in.alignX(pg.lineX, pg.lineAln)
	for _, g := range pg.line {
		y := pg.y + pg.lineH - g.bm.H // characters sit on the bottom of the line
		pg.blit(g.bm, off+g.x, y, g.reverse)
		for u := 0; u < g.underline; u++ {
			for i := 0; i < g.bm.W; i++ {
				pg.set(off+g.x+i, pg.y+pg.lineH-1-u)
			}
		}
	}
	pg.advance(max(in.st.spacing, pg.lineH))
	pg.line, pg.lineX, pg.lineH = pg.line[:0], 0, 0
}

// raster prints a GS v 0 image.
func (in *interp) raster(args, data []byte) {
	in.printLine(false)
	m := args[0]
	wBytes := int(args[1]) | int(args[2])<<8
	h := int(args[3]) | int(args[4])<<8
	sx, sy := 1, 1
	if m == 1 || m == 3 || m == 49 || m == 51 {
		sx = 2
	}
	if m == 2 || m == 3 || m == 50 || m == 51 {
		sy = 2
	}
	if data == nil || wBytes == 0 || h == 0 {
		return
	}
	w := wBytes * 8 * sx
	x0 := in.alignX(min(w, in.width), in.st.align)
	for y := 0; y < h; y++ {
		for i := 0; i < wBytes; i++ {
			v := data[y*wBytes+i]
			if v == 0 {
				continue
			}
			for bit := 0; bit < 8; bit++ {
				if v&(0x80>>uint(bit)) == 0 {
					continue
				}
				for dy := 0; dy < sy; dy++ {
					for dx := 0; dx < sx; dx++ {
						in.pg.set(x0+(i*8+bit)*sx+dx, in.pg.y+y*sy+dy)
					}
				}
			}
		}
	}
	in.pg.advance(h * sy)
}

// qr handles GS ( k for QR codes (cn = 49): model, size, error correction,
// store and print.
func (in *interp) qr(fn byte, data []byte) {
	switch fn {
	case 'C':
		if len(data) >= 1 && data[0] >= 1 && data[0] <= 16 {
			in.st.qrModule = int(data[0])
		}
	case 'E':
		if len(data) >= 1 {
			switch data[0] {
			case '0':
				in.st.qrECC = qrcode.Low
			case '1':
				in.st.qrECC = qrcode.Medium
			case '2':
				in.st.qrECC = qrcode.High
			case '3':
				in.st.qrECC = qrcode.Highest
			}
		}
	case 'P':
		if len(data) >= 1 {
			in.st.qrData = append([]byte(nil), data[1:]...)
		}
	case 'Q':
		in.printLine(false)
		if len(in.st.qrData) == 0 {
			return
		}
		q, err := qrcode.New(string(in.st.qrData), in.st.qrECC)
		if err != nil {
			return // too long for a QR code: a printer prints nothing
		}
		q.DisableBorder = true
		mod := q.Bitmap()
		m := in.st.qrModule
		size := len(mod) * m
		x0 := in.alignX(size, in.st.align)
		for y, row := range mod {
			for x, black := range row {
				if !black {
					continue
				}
				for j := 0; j < m; j++ {
					for i := 0; i < m; i++ {
						in.pg.set(x0+x*m+i, in.pg.y+y*m+j)
					}
				}
			}
		}
		in.pg.advance(size)
	}
}

// printMode applies ESC ! n.
func (in *interp) printMode(n byte) {
	in.st.fontB = n&0x01 != 0
	in.st.bold = n&0x08 != 0
	in.st.scaleH, in.st.scaleW = 1, 1
	if n&0x10 != 0 {
		in.st.scaleH = 2
	}
	if n&0x20 != 0 {
		in.st.scaleW = 2
	}
	in.st.underline = 0
	if n&0x80 != 0 {
		in.st.underline = 1
	}
}

// exec executes one command on the page. It reports whether the command cut
// the paper (the receipt is complete).
func (in *interp) exec(c command) (cut bool) {
	st := &in.st
	switch c.op {
	case opText:
		for _, b := range c.data {
			in.char(b)
		}
	case opLF:
		in.printLine(true)
	case opHT:
		cw := fontA.w
		if st.fontB {
			cw = fontB.w
		}
		next := (in.pg.lineX/(8*cw) + 1) * 8 * cw
		for in.pg.lineX < next && in.pg.lineX+cw*st.scaleW <= in.width {
			in.char(' ')
		}
	case opInit:
		*st = defaultState()
		in.pg.line, in.pg.lineX, in.pg.lineH = in.pg.line[:0], 0, 0
	case opAlign:
		if a := c.args[0]; a <= 2 || (a >= '0' && a <= '2') {
			st.align = a
		}
	case opEmph:
		st.bold = c.args[0]&1 != 0
	case opUnderline:
		switch c.args[0] {
		case 0, '0':
			st.underline = 0
		case 1, '1':
			st.underline = 1
		case 2, '2':
			st.underline = 2
		}
	case opPrintMode:
		in.printMode(c.args[0])
	case opFont:
		st.fontB = c.args[0] == 1 || c.args[0] == '1'
	case opFeedLines:
		in.printLine(false)
		in.pg.advance(int(c.args[0]) * st.spacing)
	case opFeedDots:
		in.printLine(false)
		in.pg.advance(int(c.args[0]))
	case opSpacing:
		st.spacing = int(c.args[0])
	case opSpacingDef:
		st.spacing = defaultSpacing
	case opSize:
		w, h := int(c.args[0]>>4)+1, int(c.args[0]&0x0f)+1
		if w <= 8 && h <= 8 {
			st.scaleW, st.scaleH = w, h
		}
	case opReverse:
		st.reverse = c.args[0]&1 != 0
	case opRaster:
		in.raster(c.args, c.data)
	case opQR:
		in.qr(c.args[1], c.data)
	case opCut:
		in.printLine(false)
		if len(c.args) == 2 {
			in.pg.advance(cutFeed + int(c.args[1]))
		}
		return true
	}
	return false
}

// take returns the finished page and starts a new one.
func (in *interp) take() *page {
	pg := in.pg
	in.pg = newPage(in.width)
	return pg
}

// empty reports whether nothing was printed or fed on the current page.
func (in *interp) empty() bool { return !in.pg.inked && in.pg.y == 0 && len(in.pg.line) == 0 }
