// Package printer owns the contract between posagent and a receipt printer:
// the generic Receipt model, the Printer interface, the printer Status and the
// typed errors callers classify with errors.Is.
//
// It knows nothing of ZATCA or invoices: the agent maps a document to a
// Receipt. It must not import any other posagent package; implementations
// live in sub-packages named for their mechanism (printer/escpos encodes a
// Receipt to ESC/POS bytes, printer/serialport drives a serial printer,
// printer/escpossim simulates one).
package printer

import (
	"context"
	"errors"
)

// Printer prints receipts on one device. Implementations are safe for
// concurrent use; jobs are serialised.
type Printer interface {
	// Print validates r, renders it and sends it to the device. It checks the
	// device status first and returns an error wrapping ErrPaperOut,
	// ErrCoverOpen, ErrOffline or ErrTimeout when the receipt cannot be
	// (completely) printed. A failed Print may be retried with the same
	// Receipt once the cause is fixed.
	Print(ctx context.Context, r *Receipt) error
	// Status asks the device for its state.
	Status(ctx context.Context) (Status, error)
	// Close releases the device.
	Close() error
}

// DrawerKicker is implemented by printers with a cash drawer port.
type DrawerKicker interface {
	// KickDrawer pulses the drawer kick-out connector.
	KickDrawer(ctx context.Context) error
}

// Status is the state a printer reports.
type Status struct {
	// Online is true when the printer accepts and prints data.
	Online bool
	// CoverOpen is true while the cover is open.
	CoverOpen bool
	// PaperOut is true when the roll is empty and printing stopped.
	PaperOut bool
	// PaperNearEnd is true when the near-end sensor fires; printing
	// continues.
	PaperNearEnd bool
	// DrawerOpen reflects the drawer kick-out connector pin 3 signal.
	DrawerOpen bool
	// Error is true after a cutter, mechanical or unrecoverable error.
	Error bool
}

// Err returns nil when the printer can print, or the sentinel error that
// best explains why not: ErrCoverOpen, ErrPaperOut or ErrOffline.
func (s Status) Err() error {
	switch {
	case s.CoverOpen:
		return ErrCoverOpen
	case s.PaperOut:
		return ErrPaperOut
	case !s.Online || s.Error:
		return ErrOffline
	}
	return nil
}

// Sentinel errors. Implementations wrap them with the operation's name, so
// callers test them with errors.Is.
var (
	// ErrPaperOut: the paper roll is empty.
	ErrPaperOut = errors.New("printer: paper out")
	// ErrCoverOpen: the printer cover is open.
	ErrCoverOpen = errors.New("printer: cover open")
	// ErrOffline: the printer is offline, in error, or the device is gone.
	ErrOffline = errors.New("printer: offline")
	// ErrTimeout: the printer did not answer or accept data in time.
	ErrTimeout = errors.New("printer: timeout")
	// ErrClosed: the Printer was closed.
	ErrClosed = errors.New("printer: closed")
	// ErrInvalidReceipt: the Receipt failed validation; see ValidationError.
	ErrInvalidReceipt = errors.New("printer: invalid receipt")
)
