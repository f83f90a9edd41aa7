// Command guestcheck runs device checks inside the QEMU test guest (a static
// linux/arm64 binary in the initramfs) and prints one result line per check that the
// host-side test compares with what it observed:
//
//	guestcheck board -profile qemu-virt      board/linux on the real guest: profile, identity, devices, clock
//	guestcheck tpm -state DIR                hsm/tpm on the board's TPM device: key made once, kept across boots
//	guestcheck serial                        ESC/POS bytes out of the board's printer port, a DLE EOT status back
//	guestcheck http -url URL -want TEXT      an HTTP GET to the host over user-mode networking
//	guestcheck sqlite-write -db PATH         durable WAL commits, one per line "COMMITTED n", until killed
//	guestcheck sqlite-verify -db PATH -min N every commit acknowledged before a power cut is there, intact
//
// Exit status 0 means the check passed.
package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: guestcheck board|tpm|serial|http|sqlite-write|sqlite-verify [flags]")
		os.Exit(2)
	}
	checks := map[string]func(context.Context, []string) error{
		"board":         checkBoard,
		"tpm":           checkTPM,
		"serial":        checkSerial,
		"http":          checkHTTP,
		"sqlite-write":  sqliteWrite,
		"sqlite-verify": sqliteVerify,
	}
	check, ok := checks[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "guestcheck: unknown check %q\n", os.Args[1])
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := check(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "guestcheck %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
