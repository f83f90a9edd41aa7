package raster

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"unicode"

	"github.com/go-text/typesetting/bidi"
	"github.com/go-text/typesetting/di"
	"github.com/go-text/typesetting/font"
	ot "github.com/go-text/typesetting/font/opentype"
	"github.com/go-text/typesetting/language"
	"github.com/go-text/typesetting/shaping"
	"golang.org/x/image/math/fixed"
)

// Faces is the set of typefaces text is drawn with: a primary face for RTL
// scripts (Arabic) and one for everything else, in regular and bold.
type Faces struct {
	Arabic, ArabicBold, Latin, LatinBold *font.Face
}

// ParseFaces parses TrueType/OpenType files into Faces.
func ParseFaces(arabic, arabicBold, latin, latinBold []byte) (Faces, error) {
	var f Faces
	for _, x := range []struct {
		dst  **font.Face
		data []byte
		name string
	}{
		{&f.Arabic, arabic, "arabic"},
		{&f.ArabicBold, arabicBold, "arabic bold"},
		{&f.Latin, latin, "latin"},
		{&f.LatinBold, latinBold, "latin bold"},
	} {
		face, err := font.ParseTTF(bytes.NewReader(x.data))
		if err != nil {
			return Faces{}, fmt.Errorf("parse %s font: %w", x.name, err)
		}
		*x.dst = face
	}
	return f, nil
}

// Style selects the face and the em size (in dots) of a text.
type Style struct {
	Size int
	Bold bool
}

// Glyph is one positioned glyph of shaped text.
type Glyph struct {
	Face *font.Face
	ID   font.GID
	// X and Y are the glyph origin relative to the text's origin (left end of
	// the baseline), in 1/256 dot, y down.
	X, Y int64
}

// Text is a shaped line of text, with its glyphs in visual (left to right)
// order.
type Text struct {
	Glyphs []Glyph
	// Width is the advance of the whole line in 1/256 dot.
	Width int64
	// RTL is the resolved paragraph direction.
	RTL  bool
	Size int
}

// Dots returns the advance width rounded up to whole dots.
func (t Text) Dots() int { return int((t.Width + one - 1) >> fracBits) }

// Shaper shapes text with HarfBuzz (bidi ordering, Arabic joining, font
// fallback) and rasterises it. It is not safe for concurrent use.
type Shaper struct {
	faces Faces
	hb    shaping.HarfbuzzShaper
	seg   shaping.Segmenter
	para  bidi.Paragraph
	fm    fontmap
	path  Path
	cache map[glyphKey]Outline
}

type glyphKey struct {
	face *font.Face
	id   font.GID
	size int
}

// NewShaper returns a Shaper drawing with faces.
func NewShaper(faces Faces) *Shaper {
	return &Shaper{faces: faces, cache: map[glyphKey]Outline{}}
}

// fontmap picks the Arabic face for Arabic-script runs and the Latin face
// otherwise, falling back to whichever face has the glyph.
type fontmap struct {
	arabic, latin *font.Face
	script        language.Script
}

func (m *fontmap) SetScript(s language.Script) { m.script = s }

func (m *fontmap) ResolveFace(r rune) *font.Face {
	first, second := m.latin, m.arabic
	if m.script == language.Arabic || unicode.Is(unicode.Arabic, r) {
		first, second = m.arabic, m.latin
	}
	if _, ok := first.NominalGlyph(r); ok {
		return first
	}
	if _, ok := second.NominalGlyph(r); ok {
		return second
	}
	return first
}

// IsRTL reports whether s is a right-to-left paragraph: its first strong
// character is right-to-left (Unicode bidi rules P2 and P3).
func IsRTL(s string) bool {
	for _, r := range s {
		switch {
		case isRTLRune(r):
			return true
		case unicode.IsLetter(r):
			return false
		}
	}
	return false
}

func isRTLRune(r rune) bool {
	return unicode.In(r, unicode.Arabic, unicode.Hebrew, unicode.Syriac, unicode.Thaana, unicode.Nko) &&
		(unicode.IsLetter(r) || r == '\u061c' || r == '\u200f')
}

// Shape shapes s as one line: bidi runs, Arabic contextual forms and
// ligatures, kerning, and font fallback between the Arabic and Latin faces.
func (s *Shaper) Shape(str string, st Style) Text {
	runes := []rune(str)
	out := Text{RTL: IsRTL(str), Size: st.Size}
	if len(runes) == 0 {
		return out
	}
	s.fm.arabic, s.fm.latin = s.faces.Arabic, s.faces.Latin
	if st.Bold {
		s.fm.arabic, s.fm.latin = s.faces.ArabicBold, s.faces.LatinBold
	}
	s.fm.script = 0
	dir := di.DirectionLTR
	if out.RTL {
		dir = di.DirectionRTL
	}
	in := shaping.Input{
		Text:      runes,
		RunStart:  0,
		RunEnd:    len(runes),
		Direction: dir,
		Size:      fixed.I(st.Size),
		Language:  language.NewLanguage("ar"),
	}
	if !out.RTL {
		in.Language = language.NewLanguage("en")
	}
	// Resolve bidi levels on the whole line, then split every level run by
	// script and face and shape it with the whole line as context.
	def := bidi.LeftToRight
	if out.RTL {
		def = bidi.RightToLeft
	}
	levels := s.para.Segment(runes, def)
	var (
		shaped []shaping.Output
		lv     []bidi.Level
	)
	for i := 0; i < levels.NumRuns(); i++ {
		br := levels.Run(i)
		sub := in
		sub.RunStart, sub.RunEnd = br.Start, br.End
		sub.Direction = di.DirectionLTR
		if !br.IsLeftToRight() {
			sub.Direction = di.DirectionRTL
		}
		for _, r := range s.seg.Split(sub, &s.fm) {
			shaped = append(shaped, s.hb.Shape(r))
			lv = append(lv, br.Level)
		}
	}
	if levels.NumRuns() == 0 {
		for _, r := range s.seg.Split(in, &s.fm) {
			shaped = append(shaped, s.hb.Shape(r))
			lv = append(lv, 0)
		}
	}
	var pen int64
	for _, i := range visualOrder(lv) {
		o := shaped[i]
		for _, g := range o.Glyphs {
			out.Glyphs = append(out.Glyphs, Glyph{
				Face: o.Face,
				ID:   g.GlyphID,
				X:    pen + int64(g.XOffset)*4,
				Y:    -int64(g.YOffset) * 4,
			})
			pen += int64(g.Advance) * 4
		}
	}
	out.Width = pen
	return out
}

// visualOrder returns the indices of runs (in logical order, with bidi
// levels lv) from left to right, by Unicode bidi rule L2: from the highest
// level down to the lowest odd level, reverse every sequence of runs at that
// level or higher.
func visualOrder(lv []bidi.Level) []int {
	order := make([]int, len(lv))
	var hi, lo bidi.Level = 0, 127
	for i, l := range lv {
		order[i] = i
		hi, lo = max(hi, l), min(lo, l)
	}
	if lo%2 == 0 {
		lo++
	}
	for level := hi; level >= lo && level > 0; level-- {
		for i := 0; i < len(order); {
			if lv[order[i]] < level {
				i++
				continue
			}
			j := i
			for j < len(order) && lv[order[j]] >= level {
				j++
			}
			slices.Reverse(order[i:j])
			i = j
		}
	}
	return order
}

// Draw rasterises t into dst with the left end of its baseline at (x, y)
// dots.
func (s *Shaper) Draw(dst *Bitmap, t Text, x, y int) {
	s.path.Reset()
	ox, oy := int64(x)<<fracBits, int64(y)<<fracBits
	for _, g := range t.Glyphs {
		k := glyphKey{g.Face, g.ID, t.Size}
		o, ok := s.cache[k]
		if !ok {
			var p Path
			AppendGlyph(&p, g.Face, g.ID, t.Size, 0, 0)
			o = p.Outline()
			s.cache[k] = o
		}
		s.path.AddOutline(o, ox+g.X, oy+g.Y)
	}
	s.path.Fill(dst)
}

// AppendGlyph adds the outline of glyph id of face, scaled to an em of size
// dots, with its origin at (ox, oy) in 1/256 dot, to p.
func AppendGlyph(p *Path, face *font.Face, id font.GID, size int, ox, oy int64) {
	data := face.GlyphData(id)
	outline, ok := data.(font.GlyphOutline)
	if !ok {
		return
	}
	upem := int64(face.Upem())
	scale := int64(size) << fracBits
	pt := func(v float32) int64 {
		return divRound(int64(math.Round(float64(v)))*scale, upem)
	}
	for _, seg := range outline.Segments {
		a := seg.Args
		switch seg.Op {
		case ot.SegmentOpMoveTo:
			p.MoveTo(ox+pt(a[0].X), oy-pt(a[0].Y))
		case ot.SegmentOpLineTo:
			p.LineTo(ox+pt(a[0].X), oy-pt(a[0].Y))
		case ot.SegmentOpQuadTo:
			p.QuadTo(ox+pt(a[0].X), oy-pt(a[0].Y), ox+pt(a[1].X), oy-pt(a[1].Y))
		case ot.SegmentOpCubeTo:
			p.CubeTo(ox+pt(a[0].X), oy-pt(a[0].Y), ox+pt(a[1].X), oy-pt(a[1].Y), ox+pt(a[2].X), oy-pt(a[2].Y))
		}
	}
	p.Close()
}

// Clone returns Faces sharing the parsed fonts but with their own caches, for
// use by another goroutine.
func (f Faces) Clone() Faces {
	return Faces{
		Arabic:     font.NewFace(f.Arabic.Font),
		ArabicBold: font.NewFace(f.ArabicBold.Font),
		Latin:      font.NewFace(f.Latin.Font),
		LatinBold:  font.NewFace(f.LatinBold.Font),
	}
}
