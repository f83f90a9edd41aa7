package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	_ "github.com/mattn/go-sqlite3"
	"github.com/tarm/serial"

	"github.com/posagent/posagent/board"
	"github.com/posagent/posagent/board/linux"
	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/hsm/tpm"
)

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func newBoard() (*linux.Board, error) {
	cfg := linux.DefaultConfig()
	cfg.Logger = logger()
	return linux.New(cfg)
}

// checkBoard: the real guest is detected as the expected profile, with a usable identity,
// the vTPM behind /dev/tpmrm0, the pci-serial printer and a plausible clock with an RTC.
func checkBoard(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("board", flag.ContinueOnError)
	want := fs.String("profile", linux.ProfileQEMUVirt, "expected profile")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := newBoard()
	if err != nil {
		return err
	}
	id, dev := b.Identity(), b.Devices()
	var errs []error
	if id.Profile != *want {
		errs = append(errs, fmt.Errorf("profile %q, want %q", id.Profile, *want))
	}
	if err := id.Validate(); err != nil {
		errs = append(errs, err)
	}
	egs := id.EGSSerial("posagent", "qemu")
	if egs == "" {
		errs = append(errs, errors.New("no EGS serial"))
	}
	if dev.TPM != "/dev/tpmrm0" {
		errs = append(errs, fmt.Errorf("TPM %q, want /dev/tpmrm0", dev.TPM))
	}
	if p := b.Profile(); dev.Printer != (board.SerialPort{Path: p.PrinterPorts[0], Baud: p.PrinterBaud}) {
		errs = append(errs, fmt.Errorf("printer %+v, want the profile's %v at %d", dev.Printer, p.PrinterPorts, p.PrinterBaud))
	}
	clock, err := b.ClockSanity(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	if !clock.RTC.Present || clock.RTC.Time.IsZero() {
		errs = append(errs, fmt.Errorf("RTC %+v: want the PL031 with a time", clock.RTC))
	}
	if clock.Sync == board.SyncUnknown {
		errs = append(errs, errors.New("adjtimex did not answer"))
	}
	fmt.Printf("BOARD profile=%s model=%q serial=%s source=%s egs=%q tpm=%s printer=%s@%d clock=%s sync=%s rtc=%s skew=%v\n",
		id.Profile, id.Model, id.Serial, id.SerialSource, egs, dev.TPM, dev.Printer.Path, dev.Printer.Baud,
		clock.Now.UTC().Format(time.RFC3339), clock.Sync, clock.RTC.Driver, clock.RTCSkew().Round(time.Second))
	return errors.Join(errs...)
}

// checkTPM opens hsm/tpm on the TPM the board reports, makes a stamping key the first
// time (and seals a secret), and on every run signs with the current key, verifies the
// signature independently and unseals the secret. It prints "TPMKEY <public key hex>"
// so that the host can check the key survived reboots and power cuts.
func checkTPM(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tpm", flag.ContinueOnError)
	state := fs.String("state", "", "key store directory (on the persistent disk)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := newBoard()
	if err != nil {
		return err
	}
	cfg := tpm.DefaultConfig()
	cfg.Transport = b.Devices().TPMSpec()
	cfg.StateDir = *state
	cfg.ActivationSecret = []byte("qemu guest board secret 0123456789")
	cfg.Logger = logger()
	start := time.Now()
	ks, err := tpm.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer ks.Close()
	secret := []byte("csid api secret for the qemu guest")
	key, err := ks.Current()
	if errors.Is(err, hsm.ErrNoKey) {
		if _, err := ks.GenerateNext(ctx); err != nil {
			return err
		}
		if err := ks.Activate(ctx); err != nil {
			return err
		}
		if err := ks.Seal(ctx, "csid-secret", secret); err != nil {
			return err
		}
		fmt.Println("TPM new stamping key made and secret sealed")
		key, err = ks.Current()
	}
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("a ZATCA invoice hash from the qemu guest"))
	signStart := time.Now()
	der, err := key.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	signTime := time.Since(signStart)
	pub, ok := key.Public().(*secp256k1.PublicKey)
	if !ok {
		return fmt.Errorf("public key is %T, want secp256k1", key.Public())
	}
	sig, err := secpecdsa.ParseDERSignature(der)
	if err != nil || !sig.Verify(digest[:], pub) {
		return fmt.Errorf("signature does not verify (parse: %v)", err)
	}
	got, err := ks.Unseal(ctx, "csid-secret")
	if err != nil {
		return err
	}
	if string(got) != string(secret) {
		return errors.New("unsealed secret differs from the sealed one")
	}
	fmt.Printf("TPMKEY %s transport=%s open+sign=%v sign=%v\n", hex.EncodeToString(pub.SerializeCompressed()),
		ks.Transport(), time.Since(start).Round(time.Millisecond), signTime.Round(time.Microsecond))
	return nil
}

// serialPayload is what checkSerial sends: ESC @, every byte value once (raw mode must
// pass them unchanged), a text line and a full cut (GS V 66 0). It contains no DLE EOT.
func serialPayload() []byte {
	p := []byte{0x1b, '@'}
	for i := 0; i < 256; i++ {
		p = append(p, byte(i))
	}
	p = append(p, "\r\nposagent qemu serial check\n"...)
	return append(p, 0x1d, 'V', 66, 0)
}

// checkSerial writes the payload to the board's printer port, asks for the real-time
// status (DLE EOT 1) and expects the host printer's answer 0x12 (online, no error). It
// prints "SERIAL bytes=N sha256=H" for the host to compare with what it received.
func checkSerial(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serial", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := newBoard()
	if err != nil {
		return err
	}
	dev := b.Devices().Printer
	port, err := serial.OpenPort(&serial.Config{Name: dev.Path, Baud: dev.Baud, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("open %s: %w", dev.Path, err)
	}
	defer port.Close()
	payload := serialPayload()
	status := []byte{0x10, 0x04, 0x01}
	if _, err := port.Write(append(payload, status...)); err != nil {
		return fmt.Errorf("write %s: %w", dev.Path, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var got []byte
	for len(got) == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		buf := make([]byte, 16)
		n, err := port.Read(buf)
		got = append(got, buf[:n]...)
		// tarm/serial reports a read timeout as io.EOF: it means "no data yet".
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", dev.Path, err)
		}
	}
	sum := sha256.Sum256(append(payload, status...))
	fmt.Printf("SERIAL bytes=%d sha256=%s port=%s@%d status=%x\n", len(payload)+len(status), hex.EncodeToString(sum[:]),
		dev.Path, dev.Baud, got)
	if len(got) != 1 || got[0] != 0x12 {
		return fmt.Errorf("status reply %x, want 12", got)
	}
	return nil
}

// checkHTTP fetches url and wants a 200 whose body contains want.
func checkHTTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	url := fs.String("url", "", "URL to GET")
	want := fs.String("want", "", "text the body must contain")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	fmt.Printf("HTTP %s status=%d body=%q\n", *url, resp.StatusCode, body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), *want) {
		return fmt.Errorf("status %d body %q, want 200 containing %q", resp.StatusCode, body, *want)
	}
	return nil
}

// openDB opens the SQLite database the way the journal does: WAL, synchronous=FULL.
func openDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS rows (
		i INTEGER PRIMARY KEY, v TEXT NOT NULL, h TEXT NOT NULL)`); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// rowValue is row i's content (about 1 KiB, so that the WAL grows and checkpoints run)
// and its SHA-256.
func rowValue(i int64) (v, h string) {
	v = strings.Repeat(fmt.Sprintf("row %d;", i), 1024/len(fmt.Sprintf("row %d;", i)))
	sum := sha256.Sum256([]byte(v))
	return v, hex.EncodeToString(sum[:])
}

// sqliteWrite commits one row per transaction and prints "COMMITTED n" after each
// commit returned; it runs until killed (the power cut) or until -max rows, which is a
// failure: the cut never came.
func sqliteWrite(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sqlite-write", flag.ContinueOnError)
	path := fs.String("db", "", "database file")
	maxRows := fs.Int64("max", 100000, "give up after this many rows")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(*path)
	if err != nil {
		return err
	}
	defer db.Close()
	var last int64
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(i), 0) FROM rows").Scan(&last); err != nil {
		return err
	}
	for i := last + 1; i <= *maxRows; i++ {
		v, h := rowValue(i)
		if _, err := db.ExecContext(ctx, "INSERT INTO rows (i, v, h) VALUES (?, ?, ?)", i, v, h); err != nil {
			return fmt.Errorf("insert %d: %w", i, err)
		}
		fmt.Printf("COMMITTED %d\n", i)
	}
	return fmt.Errorf("wrote %d rows and no power cut came", *maxRows)
}

// sqliteVerify checks the database after a power cut: integrity, rows 1..max all there
// and intact, and max at least -min (every commit acknowledged before the cut).
func sqliteVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sqlite-verify", flag.ContinueOnError)
	path := fs.String("db", "", "database file")
	minRows := fs.Int64("min", 1, "rows that must be there")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(*path); err != nil {
		return err
	}
	db, err := openDB(*path)
	if err != nil {
		return err
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, "SELECT i, v, h FROM rows ORDER BY i")
	if err != nil {
		return err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var i int64
		var v, h string
		if err := rows.Scan(&i, &v, &h); err != nil {
			return err
		}
		n++
		if wv, wh := rowValue(i); i != n || v != wv || h != wh {
			return fmt.Errorf("row %d (position %d) is not the row written", i, n)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Printf("SQLITE rows=%d min=%d integrity=%s\n", n, *minRows, integrity)
	if integrity != "ok" {
		return fmt.Errorf("integrity_check: %s", integrity)
	}
	if n < *minRows {
		return fmt.Errorf("%d rows, but %d commits were acknowledged before the power cut", n, *minRows)
	}
	return nil
}
