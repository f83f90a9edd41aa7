package escpossim

import (
	"bytes"
	"sync"

	"github.com/go-text/typesetting/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"

	"github.com/posagent/posagent/printer/internal/raster"
)

// The simulator's resident fonts, drawn from Go Mono (BSD licence, shipped in
// golang.org/x/image): font A is 12×24 dots, font B 9×17 dots, like most
// 203 dpi printers.
type cellFont struct {
	w, h, em, baseline int
}

var (
	fontA = cellFont{w: 12, h: 24, em: 20, baseline: 19}
	fontB = cellFont{w: 9, h: 17, em: 15, baseline: 13}
)

// cp437High maps bytes 0x80..0xff of code page 437 (the default character
// table) to Unicode.
const cp437High = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"

var cp437 = func() [256]rune {
	var t [256]rune
	for i := 0; i < 0x80; i++ {
		t[i] = rune(i)
	}
	i := 0x80
	for _, r := range cp437High {
		t[i] = r
		i++
	}
	return t
}()

type glyphKey struct {
	b    byte
	fb   bool // font B
	bold bool
}

// glyphCache renders each character once. Its faces are guarded by mu.
type glyphCache struct {
	mu      sync.Mutex
	regular *font.Face
	bold    *font.Face
	cells   map[glyphKey]*raster.Bitmap
	path    raster.Path
}

var monoFonts = sync.OnceValues(func() ([2]*font.Font, error) {
	r, err := font.ParseTTF(bytes.NewReader(gomono.TTF))
	if err != nil {
		return [2]*font.Font{}, err
	}
	b, err := font.ParseTTF(bytes.NewReader(gomonobold.TTF))
	if err != nil {
		return [2]*font.Font{}, err
	}
	return [2]*font.Font{r.Font, b.Font}, nil
})

// newGlyphCache returns the process-wide cache (character cells never
// change, so every simulator shares them).
var newGlyphCache = sync.OnceValues(func() (*glyphCache, error) {
	f, err := monoFonts()
	if err != nil {
		return nil, err
	}
	return &glyphCache{regular: font.NewFace(f[0]), bold: font.NewFace(f[1]), cells: map[glyphKey]*raster.Bitmap{}}, nil
})

// glyph returns the cell bitmap of byte b.
func (g *glyphCache) glyph(b byte, fb, bold bool) *raster.Bitmap {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := glyphKey{b, fb, bold}
	if bm, ok := g.cells[k]; ok {
		return bm
	}
	cf := fontA
	if fb {
		cf = fontB
	}
	face := g.regular
	if bold {
		face = g.bold
	}
	bm := raster.NewBitmap(cf.w, cf.h)
	if r := cp437[b]; r > ' ' && r != 0x7f && r != '\u00a0' {
		gid, ok := face.NominalGlyph(r)
		if !ok {
			gid, _ = face.NominalGlyph('?')
		}
		g.path.Reset()
		adv := int64(face.HorizontalAdvance(gid)) * int64(cf.em) * 256 / int64(face.Upem())
		ox := (int64(cf.w)*256 - adv) / 2
		raster.AppendGlyph(&g.path, face, gid, cf.em, ox, int64(cf.baseline)*256)
		g.path.Fill(bm)
	}
	g.cells[k] = bm
	return bm
}
