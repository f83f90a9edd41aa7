package offline

import (
	"container/heap"
	"time"
)

// level is how far a document's 24-hour clock has run.
type level uint8

const (
	levelNone    level = iota
	levelWarning       // WarnAge reached (audited)
	levelAlarm         // AlarmAge reached (audited)
	levelOverdue       // Deadline reached (counted only)
	numLevels
)

// tracked is an unreported document the deadline clock follows.
type tracked struct {
	icv    uint64
	uuid   string
	issued time.Time
	level  level // the highest level reached (warning and alarm audited)
}

// tracker follows every unreported document's age. It learns documents
// from the journal by ICV (scannedTo is the highest ICV read) and forgets
// them when their report is final. Levels rise in the dispatcher's rounds
// (crossings), which run at every crossing time; counts per level and the
// oldest document are kept up to date so that status is cheap. It is
// guarded by the worker's mutex.
type tracker struct {
	loaded    bool
	docs      map[uint64]*tracked
	scannedTo uint64
	// fired holds the levels the audit log already has for documents not
	// read yet (a previous run's entries), applied when they are read.
	fired map[uint64]level
	// finals holds documents finalised above scannedTo, so that a journal
	// read racing with the final attempt does not track them again.
	finals map[uint64]struct{}
	// next is the earliest time a tracked document crosses a level; zero
	// when none will.
	next  time.Time
	dirty bool // documents were added since next was computed
	// count[l] is the number of tracked documents at level l or above.
	count [numLevels]int
	// order holds the tracked ICVs (and, lazily, removed ones) to find the
	// oldest.
	order icvHeap
}

func newTracker() tracker {
	return tracker{docs: map[uint64]*tracked{}, fired: map[uint64]level{}, finals: map[uint64]struct{}{}}
}

// add starts following an unreported document.
func (t *tracker) add(icv uint64, uuid string, issued time.Time) {
	if _, ok := t.finals[icv]; ok {
		return
	}
	if _, ok := t.docs[icv]; ok {
		return
	}
	d := &tracked{icv: icv, uuid: uuid, issued: issued}
	t.docs[icv] = d
	heap.Push(&t.order, icv)
	if l, ok := t.fired[icv]; ok {
		delete(t.fired, icv)
		t.raise(d, l)
	}
	t.dirty = true
}

// raise moves d up to level l, keeping the counts.
func (t *tracker) raise(d *tracked, l level) {
	for d.level < l {
		d.level++
		t.count[d.level]++
	}
}

// lower moves d down to level l (an audit entry that could not be
// written is written at a later round).
func (t *tracker) lower(d *tracked, l level) {
	if _, ok := t.docs[d.icv]; !ok {
		return
	}
	for d.level > l {
		t.count[d.level]--
		d.level--
	}
	t.dirty = true
}

// advance records that the journal was read up to icv.
func (t *tracker) advance(icv uint64) {
	if icv <= t.scannedTo {
		return
	}
	t.scannedTo = icv
	for f := range t.finals {
		if f <= icv {
			delete(t.finals, f)
		}
	}
}

// remove stops following a document whose report is final.
func (t *tracker) remove(icv uint64) {
	if d, ok := t.docs[icv]; ok {
		for l := d.level; l > levelNone; l-- {
			t.count[l]--
		}
		delete(t.docs, icv)
	}
	if icv > t.scannedTo {
		t.finals[icv] = struct{}{}
	}
}

// due reports whether a crossing may have happened by now.
func (t *tracker) due(now time.Time) bool {
	return t.dirty || !t.next.IsZero() && !now.Before(t.next)
}

// crossings raises the level of every document whose age reached a
// threshold by now, returns those that reached WarnAge and AlarmAge (a
// document can be in both), and recomputes next.
func (t *tracker) crossings(now time.Time, ages [numLevels]time.Duration) (warn, alarm []*tracked) {
	var next time.Time
	for _, d := range t.docs {
		age := now.Sub(d.issued)
		for l := d.level + 1; l < numLevels && age >= ages[l]; l++ {
			t.raise(d, l)
			switch l {
			case levelWarning:
				warn = append(warn, d)
			case levelAlarm:
				alarm = append(alarm, d)
			}
		}
		if d.level+1 < numLevels {
			at := d.issued.Add(ages[d.level+1])
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	t.next, t.dirty = next, false
	return warn, alarm
}

// oldest returns the tracked document with the lowest ICV.
func (t *tracker) oldest() *tracked {
	for t.order.Len() > 0 {
		if d, ok := t.docs[t.order[0]]; ok {
			return d
		}
		heap.Pop(&t.order)
	}
	return nil
}

// icvHeap is a min-heap of ICVs.
type icvHeap []uint64

func (h icvHeap) Len() int           { return len(h) }
func (h icvHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h icvHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *icvHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *icvHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}
