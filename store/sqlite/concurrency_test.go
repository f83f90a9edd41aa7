package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/store"
	"github.com/posagent/posagent/store/storetest"
)

// TestConcurrentAppends runs 8 goroutines appending at once, while 2
// more read, and checks for one contiguous chain and no error at all.
//
// The clock is a counter read before each Append, as a caller reads its
// clock, advancing 200 µs per reading: readings reach Append out of order
// (a goroutine that read first may commit second), all within one second,
// which the clock guard tolerates (it works to the second of IssueTime).
func TestConcurrentAppends(t *testing.T) {
	const writers, each = 8, 25
	db := openDB(t, filepath.Join(t.TempDir(), "journal.db"))
	defer db.Close(context.Background())
	g := newInvoices(t, true, 3)
	var ticks atomic.Int64
	clock := func() time.Time { return storetest.T0.Add(time.Duration(ticks.Add(1)) * 200 * time.Microsecond) }

	ctx, cancel := context.WithCancel(context.Background())
	var wg, readers sync.WaitGroup
	errs := make(chan error, writers*each+16)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("w%d-%d", w, i)
				now := clock()
				d, existed, err := db.Append(context.Background(), key, now, g.Build(now))
				switch {
				case err != nil:
					errs <- fmt.Errorf("append %s: %w", key, err)
				case existed:
					errs <- fmt.Errorf("append %s: existed", key)
				case d.IdempotencyKey != key:
					errs <- fmt.Errorf("append %s returned key %s", key, d.IdempotencyKey)
				}
			}
		}()
	}
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for ctx.Err() == nil {
				h, err := db.Head(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("head: %w", err)
					}
					return
				}
				if h.ICV > 0 {
					if _, err := db.GetByICV(ctx, h.ICV); err != nil && ctx.Err() == nil {
						errs <- fmt.Errorf("get head ICV %d: %w", h.ICV, err)
						return
					}
				}
				if _, err := db.Pending(ctx, storetest.T0.Add(time.Hour), 10); err != nil && ctx.Err() == nil {
					errs <- fmt.Errorf("pending: %w", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	cancel()
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	rep, err := db.Verify(context.Background(), rehash)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if rep.Documents != writers*each || rep.Head.ICV != writers*each || rep.AuditEntries != writers*each {
		t.Fatalf("%d documents, head ICV %d, %d audit entries; want %d each", rep.Documents, rep.Head.ICV, rep.AuditEntries, writers*each)
	}
	for w := range writers {
		for i := range each {
			if _, err := db.GetByKey(context.Background(), fmt.Sprintf("w%d-%d", w, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	docs, err := db.List(context.Background(), store.Range{})
	if err != nil || len(docs) != writers*each {
		t.Fatalf("list: %d, %v", len(docs), err)
	}
}
