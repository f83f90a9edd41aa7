// Package raster owns the 1-bit drawing used by the receipt encoder and the
// printer simulator: a Bitmap in ESC/POS raster layout, an integer-only
// outline rasteriser (so the output is bit-identical on every architecture),
// and text shaping with go-text/typesetting (HarfBuzz port: Arabic joining,
// bidi ordering, font fallback).
//
// It is internal to printer/ and imports no posagent package.
package raster

import (
	"image"
	"image/color"
)

// Bitmap is a 1-bit image in ESC/POS raster layout: rows of Stride bytes,
// most significant bit leftmost, 1 = black dot.
type Bitmap struct {
	W, H   int
	Stride int
	Pix    []byte
}

// NewBitmap returns a white w×h bitmap.
func NewBitmap(w, h int) *Bitmap {
	if w < 0 {
		w = 0
	}
	if h < 0 {
		h = 0
	}
	stride := (w + 7) / 8
	return &Bitmap{W: w, H: h, Stride: stride, Pix: make([]byte, stride*h)}
}

// At reports whether the dot at (x, y) is black; outside is white.
func (b *Bitmap) At(x, y int) bool {
	if x < 0 || y < 0 || x >= b.W || y >= b.H {
		return false
	}
	return b.Pix[y*b.Stride+x>>3]&(0x80>>uint(x&7)) != 0
}

// Set paints the dot at (x, y) black (v) or white; outside is ignored.
func (b *Bitmap) Set(x, y int, v bool) {
	if x < 0 || y < 0 || x >= b.W || y >= b.H {
		return
	}
	i, m := y*b.Stride+x>>3, byte(0x80>>uint(x&7))
	if v {
		b.Pix[i] |= m
	} else {
		b.Pix[i] &^= m
	}
}

// Fill paints the rectangle r (clipped) black or white.
func (b *Bitmap) Fill(r image.Rectangle, v bool) {
	r = r.Intersect(image.Rect(0, 0, b.W, b.H))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			b.Set(x, y, v)
		}
	}
}

// Draw ORs src into b with src's top-left corner at (x, y). With invert, src
// black dots are painted white instead.
func (b *Bitmap) Draw(src *Bitmap, x, y int, invert bool) {
	for sy := 0; sy < src.H; sy++ {
		dy := y + sy
		if dy < 0 || dy >= b.H {
			continue
		}
		for sx := 0; sx < src.W; sx++ {
			if src.At(sx, sy) {
				b.Set(x+sx, dy, !invert)
			}
		}
	}
}

// Scale returns b enlarged sx times horizontally and sy times vertically.
func (b *Bitmap) Scale(sx, sy int) *Bitmap {
	if sx <= 1 && sy <= 1 {
		return b
	}
	out := NewBitmap(b.W*sx, b.H*sy)
	for y := 0; y < b.H; y++ {
		for x := 0; x < b.W; x++ {
			if !b.At(x, y) {
				continue
			}
			for j := 0; j < sy; j++ {
				for i := 0; i < sx; i++ {
					out.Set(x*sx+i, y*sy+j, true)
				}
			}
		}
	}
	return out
}

// Ink returns the smallest rectangle holding every black dot; it is empty
// when the bitmap is blank.
func (b *Bitmap) Ink() image.Rectangle {
	minX, minY, maxX, maxY := b.W, b.H, -1, -1
	for y := 0; y < b.H; y++ {
		row := b.Pix[y*b.Stride : (y+1)*b.Stride]
		for i, v := range row {
			if v == 0 {
				continue
			}
			for bit := 0; bit < 8; bit++ {
				if v&(0x80>>uint(bit)) == 0 {
					continue
				}
				x := i*8 + bit
				if x >= b.W {
					break
				}
				minX, maxX = min(minX, x), max(maxX, x)
				minY, maxY = min(minY, y), max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		return image.Rectangle{}
	}
	return image.Rect(minX, minY, maxX+1, maxY+1)
}

// Sub returns a copy of the rectangle r of b (clipped), as a new Bitmap.
func (b *Bitmap) Sub(r image.Rectangle) *Bitmap {
	r = r.Intersect(image.Rect(0, 0, b.W, b.H))
	out := NewBitmap(r.Dx(), r.Dy())
	if r.Min.X == 0 && r.Max.X == b.W {
		copy(out.Pix, b.Pix[r.Min.Y*b.Stride:r.Max.Y*b.Stride])
		return out
	}
	for y := 0; y < out.H; y++ {
		for x := 0; x < out.W; x++ {
			if b.At(r.Min.X+x, r.Min.Y+y) {
				out.Set(x, y, true)
			}
		}
	}
	return out
}

// Palette is the two-colour palette of Image: paper white and print black.
var Palette = color.Palette{color.Gray{Y: 0xff}, color.Gray{Y: 0}}

// Image converts b to a paletted image (index 1 = black), which image/png
// encodes with one bit per pixel.
func (b *Bitmap) Image() *image.Paletted {
	img := image.NewPaletted(image.Rect(0, 0, b.W, b.H), Palette)
	for y := 0; y < b.H; y++ {
		row := b.Pix[y*b.Stride : (y+1)*b.Stride]
		out := img.Pix[y*img.Stride : y*img.Stride+b.W]
		for i, v := range row {
			if v == 0 {
				continue
			}
			for bit := 0; bit < 8 && i*8+bit < b.W; bit++ {
				if v&(0x80>>uint(bit)) != 0 {
					out[i*8+bit] = 1
				}
			}
		}
	}
	return img
}
