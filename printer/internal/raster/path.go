package raster

import "slices"

// Fixed-point coordinates: 1/256 dot, y grows downwards.
const (
	fracBits = 8
	one      = 1 << fracBits
	// subRows is the number of vertical samples per dot row. Horizontal
	// coverage is exact, so a dot's coverage is a sum of subRows spans of
	// up to one unit each (fullCover in total); it turns black at half.
	subRows   = 4
	fullCover = subRows * one
)

// Path is a filled outline (non-zero winding) made of lines and Bézier
// curves, in 1/256-dot fixed-point units. It uses integer arithmetic only,
// so the same path yields the same dots on every architecture.
type Path struct {
	edges      []edge
	start, cur [2]int64
	open       bool
}

type edge struct {
	x0, y0, x1, y1 int64 // y0 < y1
	dir            int32 // +1 downwards in the source, -1 upwards
}

// Reset empties the path, keeping its storage.
func (p *Path) Reset() {
	p.edges = p.edges[:0]
	p.open = false
}

// MoveTo starts a new contour at (x, y), closing the previous one.
func (p *Path) MoveTo(x, y int64) {
	p.Close()
	p.start = [2]int64{x, y}
	p.cur = p.start
	p.open = true
}

// LineTo adds a straight segment.
func (p *Path) LineTo(x, y int64) {
	if !p.open {
		p.MoveTo(p.cur[0], p.cur[1])
	}
	p.addEdge(p.cur[0], p.cur[1], x, y)
	p.cur = [2]int64{x, y}
}

// QuadTo adds a quadratic Bézier segment with control point (cx, cy).
func (p *Path) QuadTo(cx, cy, x, y int64) {
	x0, y0 := p.cur[0], p.cur[1]
	dev := max(abs(x0-2*cx+x), abs(y0-2*cy+y)) / 4
	n := segments(dev)
	nn := n * n
	for i := int64(1); i < n; i++ {
		a, b, c := (n-i)*(n-i), 2*i*(n-i), i*i
		p.LineTo(divRound(a*x0+b*cx+c*x, nn), divRound(a*y0+b*cy+c*y, nn))
	}
	p.LineTo(x, y)
}

// CubeTo adds a cubic Bézier segment with control points (c1x, c1y) and
// (c2x, c2y).
func (p *Path) CubeTo(c1x, c1y, c2x, c2y, x, y int64) {
	x0, y0 := p.cur[0], p.cur[1]
	dev := max(abs(x0-2*c1x+c2x), abs(y0-2*c1y+c2y), abs(c1x-2*c2x+x), abs(c1y-2*c2y+y)) * 3 / 4
	n := segments(dev)
	n3 := n * n * n
	for i := int64(1); i < n; i++ {
		t, u := i, n-i
		a, b, c, d := u*u*u, 3*u*u*t, 3*u*t*t, t*t*t
		p.LineTo(divRound(a*x0+b*c1x+c*c2x+d*x, n3), divRound(a*y0+b*c1y+c*c2y+d*y, n3))
	}
	p.LineTo(x, y)
}

// Close closes the current contour.
func (p *Path) Close() {
	if p.open && p.cur != p.start {
		p.addEdge(p.cur[0], p.cur[1], p.start[0], p.start[1])
	}
	p.cur = p.start
	p.open = false
}

func (p *Path) addEdge(x0, y0, x1, y1 int64) {
	switch {
	case y0 == y1:
		return
	case y0 < y1:
		p.edges = append(p.edges, edge{x0, y0, x1, y1, 1})
	default:
		p.edges = append(p.edges, edge{x1, y1, x0, y0, -1})
	}
}

// segments returns how many line segments approximate a curve whose control
// polygon deviates dev (fixed-point) from its chord, for an error of about
// 1/10 dot.
func segments(dev int64) int64 {
	const tol = one / 10
	n := isqrt(dev/tol) + 1
	return min(max(n, 1), 32)
}

// Fill paints the path's inside black into dst, with (0, 0) of the path at
// dst's top-left corner. A dot turns black when at least half of it is
// covered.
func (p *Path) Fill(dst *Bitmap) {
	p.Close()
	if len(p.edges) == 0 || dst.W == 0 {
		return
	}
	ymin, ymax := p.edges[0].y0, p.edges[0].y1
	for _, e := range p.edges {
		ymin, ymax = min(ymin, e.y0), max(ymax, e.y1)
	}
	p.sortByTop(ymin, ymax)
	row0 := max(int(floorDiv(ymin, one)), 0)
	row1 := min(int(floorDiv(ymax+one-1, one)), dst.H)
	acc := make([]int32, dst.W)
	type cross struct {
		x   int64
		dir int32
	}
	var (
		active  []edge
		crosses []cross
		next    int
	)
	limit := int64(dst.W) * one
	for row := row0; row < row1; row++ {
		clear(acc)
		for k := 0; k < subRows; k++ {
			ys := int64(row)*one + (int64(k)*2+1)*one/(2*subRows)
			// Edges come in buckets of one sample row; admitting a bucket
			// early is harmless (an edge only crosses from its y0 on).
			for next < len(p.edges) && p.edges[next].y0 <= ys+one/subRows {
				active = append(active, p.edges[next])
				next++
			}
			crosses = crosses[:0]
			kept := active[:0]
			for _, e := range active {
				if e.y1 <= ys {
					continue
				}
				kept = append(kept, e)
				if e.y0 <= ys {
					x := e.x0 + floorDiv((e.x1-e.x0)*(ys-e.y0), e.y1-e.y0)
					crosses = append(crosses, cross{x, e.dir})
				}
			}
			active = kept
			// Insertion sort: a handful of crossings per sample row.
			for i := 1; i < len(crosses); i++ {
				for j := i; j > 0 && (crosses[j].x < crosses[j-1].x ||
					crosses[j].x == crosses[j-1].x && crosses[j].dir < crosses[j-1].dir); j-- {
					crosses[j], crosses[j-1] = crosses[j-1], crosses[j]
				}
			}
			wind := int32(0)
			var spanStart int64
			for _, c := range crosses {
				before := wind
				wind += c.dir
				switch {
				case before == 0 && wind != 0:
					spanStart = c.x
				case before != 0 && wind == 0:
					addSpan(acc, max(spanStart, 0), min(c.x, limit))
				}
			}
		}
		for x, a := range acc {
			if a*2 >= fullCover {
				dst.Pix[row*dst.Stride+x>>3] |= 0x80 >> uint(x&7)
			}
		}
	}
}

// sortByTop orders the edges by their first sample row (a counting sort;
// the order within a row does not matter).
func (p *Path) sortByTop(ymin, ymax int64) {
	first := func(e edge) int64 { return floorDiv(e.y0-ymin, one/subRows) }
	n := int(first(edge{y0: ymax})) + 2
	count := make([]int, n+1)
	for _, e := range p.edges {
		count[first(e)+1]++
	}
	for i := 1; i <= n; i++ {
		count[i] += count[i-1]
	}
	sorted := make([]edge, len(p.edges))
	for _, e := range p.edges {
		k := first(e)
		sorted[count[k]] = e
		count[k]++
	}
	p.edges = sorted
}

// AddOutline adds edges recorded with Edges, translated by (dx, dy).
func (p *Path) AddOutline(o Outline, dx, dy int64) {
	p.Close()
	for _, e := range o.edges {
		p.edges = append(p.edges, edge{e.x0 + dx, e.y0 + dy, e.x1 + dx, e.y1 + dy, e.dir})
	}
}

// Outline is a closed, flattened path kept for reuse at other positions.
type Outline struct{ edges []edge }

// Outline returns the path's edges (the path is closed first).
func (p *Path) Outline() Outline {
	p.Close()
	return Outline{edges: slices.Clone(p.edges)}
}

// addSpan adds the horizontal coverage of [x0, x1) (fixed-point) to acc.
func addSpan(acc []int32, x0, x1 int64) {
	if x1 <= x0 {
		return
	}
	p0, p1 := int(x0>>fracBits), int(x1>>fracBits)
	if p0 == p1 {
		acc[p0] += int32(x1 - x0)
		return
	}
	acc[p0] += int32(one - x0&(one-1))
	for x := p0 + 1; x < p1; x++ {
		acc[x] += one
	}
	if p1 < len(acc) {
		acc[p1] += int32(x1 & (one - 1))
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// divRound divides rounding half up; b > 0.
func divRound(a, b int64) int64 { return floorDiv(2*a+b, 2*b) }

func isqrt(v int64) int64 {
	if v <= 0 {
		return 0
	}
	x := int64(1)
	for x*x <= v {
		x <<= 1
	}
	lo, hi := x>>1, x
	for lo+1 < hi {
		m := (lo + hi) / 2
		if m*m <= v {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}
