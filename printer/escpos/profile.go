package escpos

import (
	"errors"
	"fmt"
)

// Profile describes what a printer model can do. The presets cover the two
// common paper widths of 203 dpi thermal receipt printers.
type Profile struct {
	// Name identifies the profile in logs and configuration.
	Name string
	// Width is the printable width in dots: 384 for 58 mm paper, 576 for
	// 80 mm paper. It must be a multiple of 8 and of the 12-dot character
	// width of font A.
	Width int
	// NativeQR selects GS ( k (QR model 2) for the QR code; otherwise the QR
	// code is drawn as a raster image.
	NativeQR bool
	// MaxQRModule caps the QR module size in dots (the size is otherwise the
	// largest that fits the width).
	MaxQRModule int
	// TextSize is the em size in dots of text drawn as raster (Arabic and
	// mixed lines). Latin-only lines use the printer's font A (12×24 dots).
	TextSize int
	// BufferSize is the printer's receive buffer in bytes. A transport sends
	// at most this much before it waits for the printer to catch up.
	BufferSize int
}

// CharWidth is the width of a font A character in dots.
const CharWidth = 12

// LineHeight is the paper feed of one text line (LF) at the default line
// spacing, in dots.
const LineHeight = 30

// Profile58 is a 58 mm printer (384 dots) with native QR support.
func Profile58() Profile {
	return Profile{Name: "58mm", Width: 384, NativeQR: true, MaxQRModule: 4, TextSize: 22, BufferSize: 4096}
}

// Profile80 is an 80 mm printer (576 dots) with native QR support.
func Profile80() Profile {
	return Profile{Name: "80mm", Width: 576, NativeQR: true, MaxQRModule: 4, TextSize: 24, BufferSize: 4096}
}

// ProfileByName returns the preset named "58mm" or "80mm".
func ProfileByName(name string) (Profile, error) {
	switch name {
	case "58mm":
		return Profile58(), nil
	case "80mm":
		return Profile80(), nil
	}
	return Profile{}, fmt.Errorf("escpos: unknown profile %q (want 58mm or 80mm)", name)
}

// Columns is the number of font A characters on one line.
func (p Profile) Columns() int { return p.Width / CharWidth }

// Validate checks the profile's fields.
func (p Profile) Validate() error {
	var errs []error
	if p.Width < 192 || p.Width > 832 || p.Width%8 != 0 || p.Width%CharWidth != 0 {
		errs = append(errs, fmt.Errorf("width: %d dots, want a multiple of 24 between 192 and 832", p.Width))
	}
	if p.MaxQRModule < 1 || p.MaxQRModule > 16 {
		errs = append(errs, fmt.Errorf("max_qr_module: %d, want 1..16", p.MaxQRModule))
	}
	if p.TextSize < 12 || p.TextSize > 64 {
		errs = append(errs, fmt.Errorf("text_size: %d dots, want 12..64", p.TextSize))
	}
	if p.BufferSize < 512 {
		errs = append(errs, fmt.Errorf("buffer_size: %d bytes, want at least 512", p.BufferSize))
	}
	if len(errs) > 0 {
		return fmt.Errorf("escpos profile %q: %w", p.Name, errors.Join(errs...))
	}
	return nil
}
