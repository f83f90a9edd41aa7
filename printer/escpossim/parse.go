package escpossim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// op identifies a parsed command.
type op int

const (
	opText       op = iota // printable bytes
	opLF                   // LF
	opCR                   // CR
	opHT                   // HT
	opInit                 // ESC @
	opAlign                // ESC a n
	opEmph                 // ESC E n, ESC G n
	opUnderline            // ESC - n
	opPrintMode            // ESC ! n
	opFont                 // ESC M n
	opFeedLines            // ESC d n
	opFeedDots             // ESC J n
	opSpacing              // ESC 3 n
	opSpacingDef           // ESC 2
	opSize                 // GS ! n
	opReverse              // GS B n
	opRaster               // GS v 0 m xL xH yL yH d...
	opQR                   // GS ( k cn=49 fn ...
	opCut                  // GS V, ESC i, ESC m
	opDrawer               // ESC p m t1 t2, DLE DC4 1 m t
	opStatus               // DLE EOT n
	opTransmit             // GS r n
	opIgnored              // parsed and ignored (known length)
	opUnknown              // a byte the parser does not know
)

// command is one parsed command with its raw bytes.
type command struct {
	op    op
	name  string // mnemonic, e.g. "ESC a"
	args  []byte // numeric parameters
	data  []byte // text, raster or QR payload
	raw   []byte // every byte of the command (nil when oversize)
	size  int    // length of the command in bytes
	small bool   // payload was within limits and stored
}

// maxPayload bounds what one command may store; longer payloads are read
// and discarded.
const maxPayload = 1 << 22

// parser reads ESC/POS commands from a stream.
type parser struct {
	r     *bufio.Reader
	raw   []byte
	big   bool  // current command exceeded maxPayload
	pos   int64 // bytes consumed from the stream
	start int64 // stream offset of the current command
}

func newParser(r io.Reader) *parser {
	return &parser{r: bufio.NewReaderSize(r, 64<<10)}
}

func (p *parser) byte() (byte, error) {
	b, err := p.r.ReadByte()
	if err != nil {
		return 0, err
	}
	p.pos++
	if !p.big {
		p.raw = append(p.raw, b)
	}
	return b, nil
}

func (p *parser) bytes(n int) ([]byte, error) {
	out := make([]byte, 0, min(n, 4096))
	for i := 0; i < n; i++ {
		b, err := p.byte()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// payload reads n bytes; beyond maxPayload it discards them and returns nil.
func (p *parser) payload(n int) ([]byte, error) {
	if n <= maxPayload {
		return p.bytes(n)
	}
	p.big = true
	p.raw = nil
	m, err := io.CopyN(io.Discard, p.r, int64(n))
	p.pos += m
	if err != nil {
		return nil, err
	}
	return nil, nil
}

// next parses one command. At the end of the stream it returns io.EOF; a
// command cut short by the end of the stream gives io.ErrUnexpectedEOF.
func (p *parser) next() (command, error) {
	p.raw = p.raw[:0:0]
	p.big = false
	p.start = p.pos
	c, err := p.parse()
	if err != nil {
		if errors.Is(err, io.EOF) && len(p.raw) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return command{}, err
	}
	c.raw = p.raw
	c.size = int(p.pos - p.start)
	c.small = !p.big
	return c, nil
}

func (p *parser) args(n int) ([]byte, error) { return p.bytes(n) }

func (p *parser) parse() (command, error) {
	b, err := p.byte()
	if err != nil {
		return command{}, err
	}
	switch {
	case b >= 0x20 && b != 0x7f:
		text := []byte{b}
		// Gather the printable bytes already buffered (never block).
		for p.r.Buffered() > 0 {
			nb, _ := p.r.Peek(1)
			if nb[0] < 0x20 || nb[0] == 0x7f {
				break
			}
			c, _ := p.byte()
			text = append(text, c)
		}
		return command{op: opText, name: "TEXT", data: text}, nil
	case b == 0x0a:
		return command{op: opLF, name: "LF"}, nil
	case b == 0x0d:
		return command{op: opCR, name: "CR"}, nil
	case b == 0x09:
		return command{op: opHT, name: "HT"}, nil
	case b == 0x00:
		return command{op: opIgnored, name: "NUL"}, nil
	case b == 0x1b:
		return p.esc()
	case b == 0x1d:
		return p.gs()
	case b == 0x10:
		return p.dle()
	}
	return command{op: opUnknown, name: fmt.Sprintf("0x%02x", b)}, nil
}

func (p *parser) simple(o op, name string, nargs int) (command, error) {
	a, err := p.args(nargs)
	if err != nil {
		return command{}, err
	}
	return command{op: o, name: name, args: a}, nil
}

func (p *parser) esc() (command, error) {
	b, err := p.byte()
	if err != nil {
		return command{}, err
	}
	switch b {
	case '@':
		return command{op: opInit, name: "ESC @"}, nil
	case 'a':
		return p.simple(opAlign, "ESC a", 1)
	case 'E':
		return p.simple(opEmph, "ESC E", 1)
	case 'G':
		return p.simple(opEmph, "ESC G", 1)
	case '-':
		return p.simple(opUnderline, "ESC -", 1)
	case '!':
		return p.simple(opPrintMode, "ESC !", 1)
	case 'M':
		return p.simple(opFont, "ESC M", 1)
	case 'd':
		return p.simple(opFeedLines, "ESC d", 1)
	case 'J':
		return p.simple(opFeedDots, "ESC J", 1)
	case '3':
		return p.simple(opSpacing, "ESC 3", 1)
	case '2':
		return command{op: opSpacingDef, name: "ESC 2"}, nil
	case 'p':
		return p.simple(opDrawer, "ESC p", 3)
	case 'i', 'm':
		return command{op: opCut, name: "ESC " + string(rune(b)), args: []byte{1}}, nil
	case 't', 'R', 'U', 'V', '{', 'c', ' ', 'r', 'S', 'T':
		if b == 'c' {
			// ESC c 3 n, ESC c 4 n, ESC c 5 n: two bytes.
			return p.simple(opIgnored, "ESC c", 2)
		}
		if b == 'S' {
			return command{op: opIgnored, name: "ESC S"}, nil
		}
		return p.simple(opIgnored, "ESC "+string(rune(b)), 1)
	case '$', '\\':
		return p.simple(opIgnored, "ESC "+string(rune(b)), 2)
	case 'D':
		// Tab positions, NUL-terminated (at most 32).
		for i := 0; i < 33; i++ {
			c, err := p.byte()
			if err != nil {
				return command{}, err
			}
			if c == 0 {
				break
			}
		}
		return command{op: opIgnored, name: "ESC D"}, nil
	case '*':
		a, err := p.args(3)
		if err != nil {
			return command{}, err
		}
		n := int(a[1]) | int(a[2])<<8
		if a[0] == 32 || a[0] == 33 {
			n *= 3
		}
		if _, err := p.payload(n); err != nil {
			return command{}, err
		}
		return command{op: opIgnored, name: "ESC *", args: a}, nil
	}
	return command{op: opUnknown, name: fmt.Sprintf("ESC 0x%02x", b)}, nil
}

func (p *parser) gs() (command, error) {
	b, err := p.byte()
	if err != nil {
		return command{}, err
	}
	switch b {
	case '!':
		return p.simple(opSize, "GS !", 1)
	case 'B':
		return p.simple(opReverse, "GS B", 1)
	case 'r':
		return p.simple(opTransmit, "GS r", 1)
	case 'V':
		m, err := p.byte()
		if err != nil {
			return command{}, err
		}
		if m == 65 || m == 66 || m == 97 || m == 98 || m == 103 || m == 104 {
			n, err := p.byte()
			if err != nil {
				return command{}, err
			}
			return command{op: opCut, name: "GS V", args: []byte{m, n}}, nil
		}
		return command{op: opCut, name: "GS V", args: []byte{m}}, nil
	case 'v':
		a, err := p.args(6)
		if err != nil {
			return command{}, err
		}
		if a[0] != '0' {
			return command{op: opUnknown, name: "GS v", args: a}, nil
		}
		w, h := int(a[2])|int(a[3])<<8, int(a[4])|int(a[5])<<8
		d, err := p.payload(w * h)
		if err != nil {
			return command{}, err
		}
		return command{op: opRaster, name: "GS v 0", args: a[1:], data: d}, nil
	case '(':
		a, err := p.args(3)
		if err != nil {
			return command{}, err
		}
		n := int(a[1]) | int(a[2])<<8
		d, err := p.payload(n)
		if err != nil {
			return command{}, err
		}
		name := "GS ( " + string(rune(a[0]))
		if a[0] == 'k' && len(d) >= 2 && d[0] == '1' {
			return command{op: opQR, name: name, args: d[:2], data: d[2:]}, nil
		}
		return command{op: opIgnored, name: name, args: a}, nil
	case '8':
		// GS 8 L p1 p2 p3 p4 ...: 32-bit length.
		a, err := p.args(5)
		if err != nil {
			return command{}, err
		}
		n := int(a[1]) | int(a[2])<<8 | int(a[3])<<16 | int(a[4])<<24
		if _, err := p.payload(n); err != nil {
			return command{}, err
		}
		return command{op: opIgnored, name: "GS 8", args: a[:1]}, nil
	case 'L', 'W':
		return p.simple(opIgnored, "GS "+string(rune(b)), 2)
	case 'H', 'f', 'h', 'w', 'a', 'P', 'b', 'I', 'E':
		if b == 'P' {
			return p.simple(opIgnored, "GS P", 2)
		}
		return p.simple(opIgnored, "GS "+string(rune(b)), 1)
	case 'k':
		m, err := p.byte()
		if err != nil {
			return command{}, err
		}
		if m <= 6 {
			for i := 0; i < 256; i++ {
				c, err := p.byte()
				if err != nil {
					return command{}, err
				}
				if c == 0 {
					break
				}
			}
		} else {
			n, err := p.byte()
			if err != nil {
				return command{}, err
			}
			if _, err := p.bytes(int(n)); err != nil {
				return command{}, err
			}
		}
		return command{op: opIgnored, name: "GS k", args: []byte{m}}, nil
	}
	return command{op: opUnknown, name: fmt.Sprintf("GS 0x%02x", b)}, nil
}

func (p *parser) dle() (command, error) {
	b, err := p.byte()
	if err != nil {
		return command{}, err
	}
	switch b {
	case 0x04:
		return p.simple(opStatus, "DLE EOT", 1)
	case 0x05:
		return p.simple(opIgnored, "DLE ENQ", 1)
	case 0x14:
		fn, err := p.byte()
		if err != nil {
			return command{}, err
		}
		switch fn {
		case 1:
			a, err := p.args(2)
			if err != nil {
				return command{}, err
			}
			return command{op: opDrawer, name: "DLE DC4", args: append([]byte{fn}, a...)}, nil
		case 2:
			return p.simple(opIgnored, "DLE DC4 2", 2)
		case 8:
			return p.simple(opIgnored, "DLE DC4 8", 7)
		}
		return command{op: opIgnored, name: "DLE DC4", args: []byte{fn}}, nil
	}
	return command{op: opUnknown, name: fmt.Sprintf("DLE 0x%02x", b)}, nil
}
