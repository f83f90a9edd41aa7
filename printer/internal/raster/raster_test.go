package raster

import (
	"bytes"
	"image"
	"testing"

	"github.com/go-text/typesetting/font"

	"github.com/posagent/posagent/printer/escpos/fonts"
)

func shaper(t testing.TB) (*Shaper, Faces) {
	t.Helper()
	f, err := ParseFaces(fonts.ArabicRegular, fonts.ArabicBold, fonts.LatinRegular, fonts.LatinBold)
	if err != nil {
		t.Fatal(err)
	}
	return NewShaper(f), f
}

// The shaper joins Arabic letters: the glyphs of "فاتورة" are contextual
// forms, not the isolated forms of its letters, and they come out right to
// left (the first letter is the rightmost glyph).
func TestArabicJoiningGlyphs(t *testing.T) {
	s, f := shaper(t)
	const word = "فاتورة"
	txt := s.Shape(word, Style{Size: 24})
	letters := []rune(word)
	if len(txt.Glyphs) != len(letters) {
		t.Fatalf("%d glyphs for %d letters", len(txt.Glyphs), len(letters))
	}
	if !txt.RTL {
		t.Fatal("Arabic paragraph not detected as right-to-left")
	}
	isolated := make([]font.GID, len(letters))
	for i, r := range letters {
		iso := s.Shape(string(r), Style{Size: 24})
		if len(iso.Glyphs) != 1 {
			t.Fatalf("%q alone gave %d glyphs", r, len(iso.Glyphs))
		}
		isolated[i] = iso.Glyphs[0].ID
		nominal, _ := f.Arabic.NominalGlyph(r)
		if isolated[i] != nominal {
			t.Fatalf("%q alone: glyph %d, the font's isolated form is %d", r, isolated[i], nominal)
		}
	}
	// Visual order is the reverse of logical order.
	n := len(letters)
	joined := 0
	for i := range letters {
		got := txt.Glyphs[n-1-i].ID
		if got != isolated[i] {
			joined++
		}
		t.Logf("%q: isolated %d, in the word %d", letters[i], isolated[i], got)
	}
	// ف (initial), ا (final), ت (initial), و (final) change form; ر and ة
	// follow a non-joining letter and stay isolated.
	if joined != 4 {
		t.Fatalf("%d letters took a contextual form, want 4", joined)
	}
	if txt.Glyphs[n-1].ID == isolated[0] || txt.Glyphs[0].ID != isolated[n-1] {
		t.Fatal("the first letter must be the rightmost glyph, in its initial form")
	}
}

// Drawn, the word is not the isolated letters set side by side.
func TestArabicJoiningRaster(t *testing.T) {
	s, _ := shaper(t)
	const word = "فاتورة"
	st := Style{Size: 32}
	joined := NewBitmap(300, 60)
	s.Draw(joined, s.Shape(word, st), 10, 44)

	apart := NewBitmap(300, 60)
	letters := []rune(word)
	x := 10
	for i := len(letters) - 1; i >= 0; i-- { // right to left: draw the last letter leftmost
		t1 := s.Shape(string(letters[i]), st)
		s.Draw(apart, t1, x, 44)
		x += t1.Dots()
	}
	if joined.Ink().Empty() || apart.Ink().Empty() {
		t.Fatal("nothing drawn")
	}
	if bytes.Equal(joined.Pix, apart.Pix) {
		t.Fatal("the shaped word is drawn like its isolated letters")
	}
	diff := 0
	for i := range joined.Pix {
		for b := joined.Pix[i] ^ apart.Pix[i]; b != 0; b &= b - 1 {
			diff++
		}
	}
	t.Logf("%d dots differ; joined width %d, isolated letters %d", diff, joined.Ink().Dx(), apart.Ink().Dx())
	if joined.Ink().Dx() >= apart.Ink().Dx() {
		t.Fatal("joined letters should be narrower than isolated ones side by side")
	}
}

// Bidi: in a left-to-right line the Arabic word and the number after it
// form one right-to-left sequence, so the number ends up left of the Arabic
// (Unicode rules W2, N1 and L2); in a right-to-left line a Latin run with
// its number keeps its internal order, left of the Arabic.
func TestBidiOrder(t *testing.T) {
	s, _ := shaper(t)
	// index finds the glyph drawn for rune r, whichever face drew it.
	index := func(txt Text, r rune) int {
		for i, g := range txt.Glyphs {
			if id, ok := g.Face.NominalGlyph(r); ok && id == g.ID {
				return i
			}
		}
		t.Fatalf("no glyph for %q", r)
		return -1
	}
	ltr := s.Shape("VAT No. الرقم 30", Style{Size: 24})
	if ltr.RTL {
		t.Fatal("line starting with Latin should be left-to-right")
	}
	v, three, zero := index(ltr, 'V'), index(ltr, '3'), index(ltr, '0')
	arabicStart := len(ltr.Glyphs) - 5 // the five letters of الرقم, rightmost
	if !(v == 0 && three < zero && zero < arabicStart) {
		t.Fatalf("visual order: V at %d, 3 at %d, 0 at %d, Arabic from %d", v, three, zero, arabicStart)
	}
	rtl := s.Shape("المجموع SAR 12", Style{Size: 24})
	if !rtl.RTL {
		t.Fatal("line starting with Arabic should be right-to-left")
	}
	S, A, R := index(rtl, 'S'), index(rtl, 'A'), index(rtl, 'R')
	one, two := index(rtl, '1'), index(rtl, '2')
	// "SAR 12" is one left-to-right run (W7: the number follows a Latin
	// word), drawn left of the Arabic word.
	if !(S == 0 && S < A && A < R && R < one && one < two && two < len(rtl.Glyphs)-7) {
		t.Fatalf("in an RTL line: S %d A %d R %d 1 %d 2 %d of %d glyphs", S, A, R, one, two, len(rtl.Glyphs))
	}
}

func TestPathFill(t *testing.T) {
	var p Path
	// A 4×3 dot rectangle from (2,1): exact dots.
	p.MoveTo(2*one, 1*one)
	p.LineTo(6*one, 1*one)
	p.LineTo(6*one, 4*one)
	p.LineTo(2*one, 4*one)
	p.Close()
	bm := NewBitmap(10, 6)
	p.Fill(bm)
	if got := bm.Ink(); got != image.Rect(2, 1, 6, 4) {
		t.Fatalf("ink %v", got)
	}
	for y := 1; y < 4; y++ {
		for x := 2; x < 6; x++ {
			if !bm.At(x, y) {
				t.Fatalf("dot %d,%d white", x, y)
			}
		}
	}
	// An edge covering 40 % of a dot leaves it white; 60 % blackens it.
	for _, c := range []struct {
		right int64
		black bool
	}{{one*3 + one*4/10, false}, {one*3 + one*6/10, true}} {
		p.Reset()
		p.MoveTo(0, 0)
		p.LineTo(c.right, 0)
		p.LineTo(c.right, one)
		p.LineTo(0, one)
		bm := NewBitmap(8, 1)
		p.Fill(bm)
		if bm.At(3, 0) != c.black || !bm.At(2, 0) {
			t.Fatalf("right edge at %d/256: dot 3 black=%v", c.right, bm.At(3, 0))
		}
	}
	// Non-zero winding: two overlapping squares drawn the same way fill
	// their union; a reversed inner square cuts a hole.
	p.Reset()
	square := func(x0, y0, x1, y1 int64, ccw bool) {
		p.MoveTo(x0, y0)
		if ccw {
			p.LineTo(x0, y1)
			p.LineTo(x1, y1)
			p.LineTo(x1, y0)
		} else {
			p.LineTo(x1, y0)
			p.LineTo(x1, y1)
			p.LineTo(x0, y1)
		}
		p.Close()
	}
	square(0, 0, 8*one, 8*one, false)
	square(2*one, 2*one, 6*one, 6*one, true)
	bm = NewBitmap(8, 8)
	p.Fill(bm)
	if !bm.At(1, 1) || bm.At(4, 4) {
		t.Fatal("hole not cut")
	}
}

func TestBitmap(t *testing.T) {
	b := NewBitmap(20, 5)
	b.Set(3, 1, true)
	b.Set(17, 4, true)
	b.Set(99, 99, true) // outside: ignored
	if b.Ink() != image.Rect(3, 1, 18, 5) {
		t.Fatalf("ink %v", b.Ink())
	}
	s := b.Sub(image.Rect(3, 1, 18, 5))
	if !s.At(0, 0) || !s.At(14, 3) || s.Ink() != image.Rect(0, 0, 15, 4) {
		t.Fatal("sub")
	}
	sc := s.Scale(2, 3)
	if sc.W != 30 || sc.H != 12 || !sc.At(1, 2) || sc.At(2, 0) {
		t.Fatal("scale")
	}
	img := b.Image()
	if img.ColorIndexAt(3, 1) != 1 || img.ColorIndexAt(4, 1) != 0 {
		t.Fatal("image")
	}
}

func BenchmarkShapeAndDraw(b *testing.B) {
	s, _ := shaper(b)
	bm := NewBitmap(576, 40)
	for b.Loop() {
		s.Draw(bm, s.Shape("الإجمالي شامل الضريبة 76.48 SAR", Style{Size: 24}), 0, 28)
	}
}
