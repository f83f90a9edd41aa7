package escpos

import (
	"fmt"

	"github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/printer/internal/raster"
)

// qrByteCapacityM is the byte-mode capacity of QR versions 1..40 at error
// correction level M (ISO/IEC 18004 table 7).
var qrByteCapacityM = [40]int{
	14, 26, 42, 62, 84, 106, 122, 152, 180, 213,
	251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
	711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370,
	1452, 1538, 1628, 1722, 1809, 1911, 1989, 2099, 2213, 2331,
}

// QRVersion returns the smallest QR version that holds n bytes in byte mode
// at error correction M, or 0 when none does.
func QRVersion(n int) int {
	for i, c := range qrByteCapacityM {
		if n <= c {
			return i + 1
		}
	}
	return 0
}

// qrQuiet is the quiet zone the layout keeps around a QR code, in modules.
const qrQuiet = 4

// qrModule returns the module size in dots for a symbol of the given
// version: the largest that fits the width with its quiet zone, capped by the
// profile.
func (p Profile) qrModule(version int) (int, error) {
	modules := 17 + 4*version
	m := min(p.Width/(modules+2*qrQuiet), p.MaxQRModule)
	if m < 1 {
		return 0, fmt.Errorf("qr: version %d (%d modules) does not fit %d dots", version, modules, p.Width)
	}
	return m, nil
}

// qrBitmap draws the QR code of payload (error correction M, no quiet zone)
// with module size m, with skip2/go-qrcode.
func qrBitmap(payload string, m int) (*raster.Bitmap, error) {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	q.DisableBorder = true
	mod := q.Bitmap()
	bm := raster.NewBitmap(len(mod)*m, len(mod)*m)
	for y, row := range mod {
		for x, black := range row {
			if black {
				for j := 0; j < m; j++ {
					for i := 0; i < m; i++ {
						bm.Set(x*m+i, y*m+j, true)
					}
				}
			}
		}
	}
	return bm, nil
}
