package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/store"
	"github.com/posagent/posagent/store/sqlite"
	"github.com/posagent/posagent/store/storetest"
)

// fillUntilFull appends until Append fails with store.ErrStorageFull and
// checks that the failure changed nothing; it returns the refused key.
func fillUntilFull(t *testing.T, db *sqlite.DB, g *storetest.Invoices, now *time.Time) string {
	t.Helper()
	ctx := context.Background()
	for i := range 5000 {
		before, err := db.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("fill-%d", i)
		*now = now.Add(time.Second)
		_, _, err = db.Append(ctx, key, *now, g.Build(*now))
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrStorageFull) {
			t.Fatalf("append %s: %v, want ErrStorageFull", key, err)
		}
		t.Logf("after %d documents: %v", before.ICV, err)
		after, err := db.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Fatalf("head moved on a failed append: %+v, was %+v", after, before)
		}
		if _, err := db.GetByKey(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused key %s journaled: %v", key, err)
		}
		// Still full: refused again, cleanly.
		if _, _, err := db.Append(ctx, key, *now, g.Build(*now)); !errors.Is(err, store.ErrStorageFull) {
			t.Fatalf("second append on a full disk: %v, want ErrStorageFull", err)
		}
		if h, _ := db.Head(ctx); h != before {
			t.Fatal("head moved on the second failed append")
		}
		return key
	}
	t.Fatal("storage never filled up")
	return ""
}

// TestStorageFullQuota fills the journal up to its configured size cap
// (PRAGMA max_page_count), then raises the cap: the refused sale then
// goes through with the ICV it would have had.
func TestStorageFullQuota(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	quota := func(n int64) func(*sqlite.Options) { return func(o *sqlite.Options) { o.MaxDatabaseBytes = n } }
	db := openDB(t, path, quota(192<<10))
	g := newInvoices(t, true, 5)
	now := storetest.T0
	key := fillUntilFull(t, db, g, &now)
	head, _ := db.Head(context.Background())
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, path, quota(1<<20))
	defer db.Close(context.Background())
	d, existed, err := db.Append(context.Background(), key, now, g.Build(now))
	if err != nil || existed || d.ICV != head.ICV+1 || d.PIH != head.Hash {
		t.Fatalf("append after space returned: %v (existed %v)", err, existed)
	}
	rep, err := db.Verify(context.Background(), rehash)
	if err != nil || rep.Err() != nil {
		t.Fatalf("verify: %v %v", err, rep.Err())
	}
}

// TestStorageFullDisk puts the journal on a 1 MiB tmpfs and fills the
// file system with a ballast file: Append fails with ErrStorageFull
// (ENOSPC from the WAL), the head stays, and once the ballast is removed
// the same open journal takes the refused sale. Mounting needs root
// (CAP_SYS_ADMIN), which `make test` has.
func TestStorageFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestStorageFullDisk mounts a tmpfs and needs root (CAP_SYS_ADMIN); run the suite as root (make test does)")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	db := openDB(t, filepath.Join(mnt, "journal.db"))
	t.Cleanup(func() { db.Close(context.Background()) }) // before the unmount
	g := newInvoices(t, true, 6)
	now := storetest.T0
	for i := range 5 {
		now = now.Add(time.Second)
		storetest.MustAppend(t, db, g, fmt.Sprintf("before-%d", i), now)
	}

	ballast := filepath.Join(mnt, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("ballast: %v", err)
			}
			break
		}
	}
	f.Close()

	key := fillUntilFull(t, db, g, &now)
	head, _ := db.Head(context.Background())

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	d, existed, err := db.Append(context.Background(), key, now, g.Build(now))
	if err != nil || existed || d.ICV != head.ICV+1 || d.PIH != head.Hash {
		t.Fatalf("append after space returned: %v (existed %v)", err, existed)
	}
	rep, err := db.Verify(context.Background(), rehash)
	if err != nil || rep.Err() != nil {
		t.Fatalf("verify: %v %v", err, rep.Err())
	}
}
