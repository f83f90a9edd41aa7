package softkey

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// The scalar of a key made by Generate lives in a locked, dump-excluded page: the
// kernel reports the page in the locked total and flags its mapping "dd" (do not dump).
func TestLockedPage(t *testing.T) {
	before := vmLocked(t)
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if got := vmLocked(t); got <= before {
		t.Errorf("VmLck %d kB -> %d kB: the key page is not locked", before, got)
	}
	addr := uintptr(unsafe.Pointer(&k.mem.b[0]))
	flags := " " + vmFlags(t, addr) + " "
	if !strings.Contains(flags, " lo ") {
		t.Errorf("mapping flags %q lack lo (mlock)", flags)
	}
	if !strings.Contains(flags, " dd ") {
		if os.Getenv("POSAGENT_EXEC_PREFIX") != "" {
			// qemu-user answers madvise with success without passing it on (and writes
			// guest core dumps itself), so MADV_DONTDUMP cannot be observed here.
			t.Logf("under %s: mapping flags %q (qemu-user does not forward madvise)", os.Getenv("POSAGENT_EXEC_PREFIX"), flags)
		} else {
			t.Errorf("mapping flags %q lack dd (MADV_DONTDUMP)", flags)
		}
	}
	page := k.mem.b
	if bytes.Equal(page[:32], make([]byte, 32)) {
		t.Fatal("scalar not in the page")
	}
	_ = k.Close()
	if k.mem != nil {
		t.Fatal("page still referenced after Close")
	}
}

func vmLocked(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb int
		if n, _ := fmt.Sscanf(s.Text(), "VmLck: %d kB", &kb); n == 1 {
			return kb
		}
	}
	t.Fatal("no VmLck in /proc/self/status")
	return 0
}

// vmFlags returns the VmFlags line of the mapping containing addr.
func vmFlags(t *testing.T, addr uintptr) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			a, errA := strconv.ParseUint(lo, 16, 64)
			b, errB := strconv.ParseUint(hi, 16, 64)
			if errA == nil && errB == nil {
				in = uint64(addr) >= a && uint64(addr) < b
				continue
			}
		}
		if in && fields[0] == "VmFlags:" {
			return strings.Join(fields[1:], " ")
		}
	}
	t.Fatalf("no mapping for %#x in /proc/self/smaps", addr)
	return ""
}
