package escpossim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// Disassemble writes a readable listing of an ESC/POS stream to w, one
// command per line: mnemonics with their parameters, text quoted, and for
// raster images and QR data their size and CRC-32 (the bytes themselves are
// in the stream; the listing is for review).
func Disassemble(w io.Writer, data []byte) error {
	bw := bufio.NewWriter(w)
	p := newParser(bytes.NewReader(data))
	var off int64
	for {
		c, err := p.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(bw, "%06x  truncated command (%v)\n", off, err)
			break
		}
		fmt.Fprintf(bw, "%06x  %s\n", off, describe(c))
		off += int64(c.size)
	}
	return bw.Flush()
}

func describe(c command) string {
	args := func() string {
		s := ""
		for _, a := range c.args {
			s += " " + strconv.Itoa(int(a))
		}
		return s
	}
	switch c.op {
	case opText:
		return fmt.Sprintf("TEXT %q", c.data)
	case opRaster:
		w, h := int(c.args[1])|int(c.args[2])<<8, int(c.args[3])|int(c.args[4])<<8
		return fmt.Sprintf("GS v 0 m=%d width=%d bytes (%d dots) height=%d rows, %d bytes crc32=%08x",
			c.args[0], w, w*8, h, len(c.data), crc32.ChecksumIEEE(c.data))
	case opQR:
		fn := c.args[1]
		switch fn {
		case 'A':
			return fmt.Sprintf("GS ( k QR select model %q", c.data)
		case 'C':
			return fmt.Sprintf("GS ( k QR module size %d dots", firstByte(c.data))
		case 'E':
			return fmt.Sprintf("GS ( k QR error correction %q", c.data)
		case 'P':
			d := c.data
			if len(d) > 0 {
				d = d[1:]
			}
			return fmt.Sprintf("GS ( k QR store %d bytes crc32=%08x %q", len(d), crc32.ChecksumIEEE(d), d)
		case 'Q':
			return "GS ( k QR print"
		}
		return fmt.Sprintf("GS ( k QR function %d", fn)
	case opCut:
		return "CUT " + c.name + args()
	case opDrawer:
		return "DRAWER " + c.name + args()
	case opStatus:
		return "STATUS DLE EOT" + args()
	}
	return c.name + args()
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}
