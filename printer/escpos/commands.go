package escpos

import "github.com/posagent/posagent/printer"

// Control bytes of the ESC/POS command set.
const (
	LF  = 0x0a
	DLE = 0x10
	EOT = 0x04
	ESC = 0x1b
	GS  = 0x1d
)

// MaxCommandLen is the longest single command an Encoder emits (a QR code
// store of printer.MaxQRBytes); raster bands are shorter. A printer left
// waiting inside a command after an aborted job is released by this many
// NUL bytes.
const MaxCommandLen = printer.MaxQRBytes + 8

// Alignment values of ESC a.
const (
	AlignLeft   = 0
	AlignCenter = 1
	AlignRight  = 2
)

// Status request numbers of DLE EOT n.
const (
	StatusPrinter = 1 // printer status: offline, drawer
	StatusOffline = 2 // offline cause: cover open, paper end, error
	StatusError   = 3 // error cause
	StatusPaper   = 4 // roll paper sensors
)

// StatusRequest returns DLE EOT n, the real-time status request. The printer
// answers with one byte; see StatusByteValid and DecodeStatus.
func StatusRequest(n byte) []byte { return []byte{DLE, EOT, n} }

// PaperSync returns GS r 1, the "transmit paper sensor status" command. Unlike
// DLE EOT it is processed in sequence, so its one-byte answer (see
// DecodePaperSync) arrives only after everything sent before it has been
// processed: transports use it to pace large jobs.
func PaperSync() []byte { return []byte{GS, 'r', 1} }

// DrawerKick returns ESC p m t1 t2: a pulse on drawer kick-out connector pin
// 2 (pin5 false) or pin 5, 50 ms on and 500 ms off.
func DrawerKick(pin5 bool) []byte {
	m := byte(0)
	if pin5 {
		m = 1
	}
	return []byte{ESC, 'p', m, 25, 250}
}

// StatusByteValid reports whether b has the fixed bits of a DLE EOT answer
// (bits 1 and 4 set, bits 0 and 7 clear).
func StatusByteValid(b byte) bool { return b&0x93 == 0x12 }

// PaperSyncValid reports whether b has the fixed bits of a GS r 1 answer
// (bits 4 and 7 clear).
func PaperSyncValid(b byte) bool { return b&0x90 == 0 }

// Bits of the DLE EOT answers.
const (
	statusDrawer      = 0x04 // n=1: drawer kick-out connector pin 3 high
	statusOffline     = 0x08 // n=1: offline
	statusCoverOpen   = 0x04 // n=2: cover open
	statusPaperStop   = 0x20 // n=2: printing stopped by paper end
	statusErrorOccurs = 0x40 // n=2: error
	statusNearEnd     = 0x0c // n=4: near-end sensor
	statusPaperEnd    = 0x60 // n=4: paper end sensor
)

// RawStatus holds the answers to DLE EOT 1, 2 and 4.
type RawStatus struct {
	Printer, Offline, Paper byte
}

// Status decodes the three answers.
func (r RawStatus) Status() printer.Status {
	return printer.Status{
		Online:       r.Printer&statusOffline == 0,
		DrawerOpen:   r.Printer&statusDrawer != 0,
		CoverOpen:    r.Offline&statusCoverOpen != 0,
		PaperOut:     r.Offline&statusPaperStop != 0 || r.Paper&statusPaperEnd != 0,
		PaperNearEnd: r.Paper&statusNearEnd != 0,
		Error:        r.Offline&statusErrorOccurs != 0 && r.Offline&(statusCoverOpen|statusPaperStop) == 0,
	}
}

// EncodeStatus is the inverse of RawStatus.Status: the three answer bytes a
// printer in state s sends. The simulator uses it.
func EncodeStatus(s printer.Status) RawStatus {
	r := RawStatus{Printer: 0x12, Offline: 0x12, Paper: 0x12}
	if !s.Online || s.CoverOpen || s.PaperOut || s.Error {
		r.Printer |= statusOffline
	}
	if s.DrawerOpen {
		r.Printer |= statusDrawer
	}
	if s.CoverOpen {
		r.Offline |= statusCoverOpen
	}
	if s.PaperOut {
		r.Offline |= statusPaperStop
		r.Paper |= statusPaperEnd | statusNearEnd
	}
	if s.Error {
		r.Offline |= statusErrorOccurs
	}
	if s.PaperNearEnd {
		r.Paper |= statusNearEnd
	}
	return r
}

// Bits of the GS r 1 answer.
const (
	syncNearEnd  = 0x03
	syncPaperEnd = 0x0c
)

// DecodePaperSync reads the GS r 1 answer: paper near end and paper out.
func DecodePaperSync(b byte) (nearEnd, paperOut bool) {
	return b&syncNearEnd != 0, b&syncPaperEnd != 0
}

// EncodePaperSync is the inverse of DecodePaperSync.
func EncodePaperSync(nearEnd, paperOut bool) byte {
	var b byte
	if nearEnd || paperOut {
		b |= syncNearEnd
	}
	if paperOut {
		b |= syncPaperEnd
	}
	return b
}
