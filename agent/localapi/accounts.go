package localapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/scrypt"

	"github.com/posagent/posagent/agent/apitype"
)

// Account errors; match them with errors.Is (LockedError matches ErrLocked).
var (
	// ErrBadCredentials: unknown cashier or wrong PIN.
	ErrBadCredentials = errors.New("localapi: wrong cashier or PIN")
	// ErrLocked: too many wrong PINs; see LockedError.
	ErrLocked = errors.New("localapi: cashier locked out")
	// ErrExists: a cashier with that id exists.
	ErrExists = errors.New("localapi: cashier exists")
	// ErrNoCashier: no cashier with that id.
	ErrNoCashier = errors.New("localapi: no such cashier")
)

// LockedError says until when a cashier is locked out.
type LockedError struct {
	Cashier string
	Until   time.Time
	// Now: this failure locked the account (it was not locked before).
	Now bool
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("cashier %s is locked out until %s after repeated wrong PINs", e.Cashier, e.Until.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// FieldError is a bad field of an account request (a PIN that breaks the PIN rules, an
// id with characters not allowed).
type FieldError struct {
	Field, Rule, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// PINPolicy configures PIN hashing and lockout.
type PINPolicy struct {
	// ScryptN is scrypt's cost (a power of two); r = 8, p = 1. 32768 costs about 32 MiB
	// and some tens of milliseconds per check on an ARM terminal.
	ScryptN int
	// MaxFailures consecutive wrong PINs lock the cashier out for Lockout.
	MaxFailures int
	Lockout     time.Duration
}

// Validate checks the policy.
func (p PINPolicy) Validate() error {
	var errs []error
	if p.ScryptN < 1024 || p.ScryptN&(p.ScryptN-1) != 0 {
		errs = append(errs, fmt.Errorf("ScryptN: %d, want a power of two of at least 1024", p.ScryptN))
	}
	if p.MaxFailures < 1 {
		errs = append(errs, fmt.Errorf("MaxFailures: %d, want at least 1", p.MaxFailures))
	}
	if p.Lockout <= 0 {
		errs = append(errs, fmt.Errorf("Lockout: %v, want positive", p.Lockout))
	}
	return errors.Join(errs...)
}

// account is one stored cashier. PINHash is "scrypt$N$r$p$salt$hash" (base64).
type account struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	Role         apitype.Role `json:"role"`
	PINHash      string       `json:"pin_hash"`
	MustChange   bool         `json:"must_change"`
	Failed       int          `json:"failed"`
	LockedUntil  time.Time    `json:"locked_until,omitzero"`
	CreatedAt    time.Time    `json:"created_at"`
	PINChangedAt time.Time    `json:"pin_changed_at"`
}

type accountsFile struct {
	Version  int        `json:"version"`
	Accounts []*account `json:"accounts"`
}

// Accounts is the cashier directory: ids, names, roles and slow PIN hashes (scrypt),
// the failed-PIN counters and lockouts, kept in one JSON file (mode 0600) that every
// change rewrites atomically (temp file, fsync, rename, fsync of the folder). It is
// safe for concurrent use.
type Accounts struct {
	path   string
	policy PINPolicy

	mu    sync.Mutex
	accts map[string]*account
	// dummy is a hash to check unknown cashiers against, so they cost the same time
	// as known ones. It is made on first use, not at start-up: scrypt takes seconds
	// on a terminal's CPU and would delay the socket.
	dummyOnce sync.Once
	dummy     string
	dummyErr  error
}

// dummyHash returns the hash unknown cashiers are checked against.
func (a *Accounts) dummyHash() (string, error) {
	a.dummyOnce.Do(func() { a.dummy, a.dummyErr = hashPIN("000000", a.policy.ScryptN) })
	return a.dummy, a.dummyErr
}

// OpenAccounts loads the directory at path (an absent file is an empty directory).
func OpenAccounts(path string, policy PINPolicy) (*Accounts, error) {
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("open accounts: %w", err)
	}
	a := &Accounts{path: path, policy: policy, accts: map[string]*account{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("open accounts: %w", err)
	default:
		var f accountsFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("open accounts %s: %w", path, err)
		}
		if f.Version != 1 {
			return nil, fmt.Errorf("open accounts %s: version %d, want 1", path, f.Version)
		}
		for _, ac := range f.Accounts {
			a.accts[ac.ID] = ac
		}
	}
	return a, nil
}

// Len is the number of cashiers.
func (a *Accounts) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.accts)
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// CheckPIN enforces the PIN rules: 4 to 12 digits, not one digit repeated, not a run of
// consecutive digits (1234, 9876).
func CheckPIN(field, pin string) error {
	bad := func(msg string) error { return &FieldError{Field: field, Rule: apitype.RuleValue, Message: msg} }
	if len(pin) < 4 || len(pin) > 12 {
		return bad("a PIN is 4 to 12 digits")
	}
	up, down, same := true, true, true
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return bad("a PIN is 4 to 12 digits")
		}
		if i > 0 {
			d := int(pin[i]) - int(pin[i-1])
			up, down, same = up && d == 1, down && d == -1, same && d == 0
		}
	}
	if up || down || same {
		return bad("a PIN must not be one repeated digit or a run of consecutive digits")
	}
	return nil
}

func checkID(id string) error {
	if !idRE.MatchString(id) {
		return &FieldError{Field: "id", Rule: apitype.RuleValue, Message: "a cashier id is 1 to 32 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit"}
	}
	return nil
}

func checkName(name string) error {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return &FieldError{Field: "name", Rule: apitype.RuleValue, Message: "a name is 1 to 64 printable characters"}
	}
	return nil
}

// Add creates a cashier whose PIN is a default PIN: it must be changed at first login.
func (a *Accounts) Add(id, name string, role apitype.Role, pin string, now time.Time) (apitype.Cashier, error) {
	if err := checkID(id); err != nil {
		return apitype.Cashier{}, err
	}
	if err := checkName(name); err != nil {
		return apitype.Cashier{}, err
	}
	if !role.Valid() {
		return apitype.Cashier{}, &FieldError{Field: "role", Rule: apitype.RuleValue, Message: "role must be cashier, supervisor or admin"}
	}
	if err := CheckPIN("pin", pin); err != nil {
		return apitype.Cashier{}, err
	}
	h, err := hashPIN(pin, a.policy.ScryptN)
	if err != nil {
		return apitype.Cashier{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.accts[id]; ok {
		return apitype.Cashier{}, fmt.Errorf("add cashier %s: %w", id, ErrExists)
	}
	ac := &account{ID: id, Name: name, Role: role, PINHash: h, MustChange: true, CreatedAt: now, PINChangedAt: now}
	a.accts[id] = ac
	if err := a.save(); err != nil {
		delete(a.accts, id)
		return apitype.Cashier{}, err
	}
	return ac.public(now), nil
}

// Authenticate checks a cashier's PIN. Wrong PINs count; MaxFailures in a row lock the
// cashier out (a *LockedError with Now set, then ErrLocked until the lockout ends). An
// unknown cashier costs the same hash as a known one.
func (a *Accounts) Authenticate(id, pin string, now time.Time) (apitype.Cashier, error) {
	a.mu.Lock()
	ac, ok := a.accts[id]
	var hash string
	if ok {
		if now.Before(ac.LockedUntil) {
			until := ac.LockedUntil
			a.mu.Unlock()
			return apitype.Cashier{}, &LockedError{Cashier: id, Until: until}
		}
		hash = ac.PINHash
	}
	a.mu.Unlock()
	if !ok {
		var err error
		if hash, err = a.dummyHash(); err != nil {
			return apitype.Cashier{}, fmt.Errorf("authenticate: %w", err)
		}
	}
	match := verifyPIN(pin, hash) // slow: outside the lock
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok || a.accts[id] != ac {
		return apitype.Cashier{}, ErrBadCredentials
	}
	if !match {
		ac.Failed++
		var err error = ErrBadCredentials
		if ac.Failed >= a.policy.MaxFailures {
			ac.LockedUntil, ac.Failed = now.Add(a.policy.Lockout), 0
			err = &LockedError{Cashier: id, Until: ac.LockedUntil, Now: true}
		}
		if serr := a.save(); serr != nil {
			return apitype.Cashier{}, errors.Join(err, serr)
		}
		return apitype.Cashier{}, err
	}
	if ac.Failed != 0 || !ac.LockedUntil.IsZero() {
		ac.Failed, ac.LockedUntil = 0, time.Time{}
		if err := a.save(); err != nil {
			return apitype.Cashier{}, err
		}
	}
	return ac.public(now), nil
}

// ChangePIN sets a cashier's own new PIN after checking the current one (wrong current
// PINs count towards the lockout). The new PIN is no longer a default PIN.
func (a *Accounts) ChangePIN(id, current, next string, now time.Time) error {
	if err := CheckPIN("new_pin", next); err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(current), []byte(next)) == 1 {
		return &FieldError{Field: "new_pin", Rule: apitype.RuleValue, Message: "the new PIN must differ from the current one"}
	}
	if _, err := a.Authenticate(id, current, now); err != nil {
		return err
	}
	h, err := hashPIN(next, a.policy.ScryptN)
	if err != nil {
		return err
	}
	return a.update(id, func(ac *account) {
		ac.PINHash, ac.MustChange, ac.PINChangedAt = h, false, now
	})
}

// ResetPIN gives a cashier a new default PIN (to be changed at the next login) and lifts
// a lockout.
func (a *Accounts) ResetPIN(id, pin string, now time.Time) error {
	if err := CheckPIN("pin", pin); err != nil {
		return err
	}
	h, err := hashPIN(pin, a.policy.ScryptN)
	if err != nil {
		return err
	}
	return a.update(id, func(ac *account) {
		ac.PINHash, ac.MustChange, ac.PINChangedAt = h, true, now
		ac.Failed, ac.LockedUntil = 0, time.Time{}
	})
}

func (a *Accounts) update(id string, fn func(*account)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ac, ok := a.accts[id]
	if !ok {
		return fmt.Errorf("cashier %s: %w", id, ErrNoCashier)
	}
	saved := *ac
	fn(ac)
	if err := a.save(); err != nil {
		*ac = saved
		return err
	}
	return nil
}

// Get returns one cashier.
func (a *Accounts) Get(id string, now time.Time) (apitype.Cashier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ac, ok := a.accts[id]
	if !ok {
		return apitype.Cashier{}, fmt.Errorf("cashier %s: %w", id, ErrNoCashier)
	}
	return ac.public(now), nil
}

// List returns every cashier, by id.
func (a *Accounts) List(now time.Time) []apitype.Cashier {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]apitype.Cashier, 0, len(a.accts))
	for _, ac := range a.accts {
		out = append(out, ac.public(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (ac *account) public(now time.Time) apitype.Cashier {
	c := apitype.Cashier{ID: ac.ID, Name: ac.Name, Role: ac.Role, MustChangePIN: ac.MustChange,
		FailedLogins: ac.Failed, CreatedAt: ac.CreatedAt, PINChangedAt: ac.PINChangedAt}
	if now.Before(ac.LockedUntil) {
		t := ac.LockedUntil
		c.LockedUntil = &t
	}
	return c
}

// Bootstrap creates the first administrator, "admin", with a random 6-digit default PIN
// written to pinFile (mode 0600), when the directory is empty. It returns whether it
// created the account.
func (a *Accounts) Bootstrap(pinFile string, now time.Time) (bool, error) {
	if a.Len() > 0 {
		return false, nil
	}
	var pin string
	for {
		n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
		if err != nil {
			return false, fmt.Errorf("bootstrap admin: %w", err)
		}
		pin = fmt.Sprintf("%06d", n.Int64())
		if CheckPIN("pin", pin) == nil {
			break
		}
	}
	if err := writeFileAtomic(pinFile, []byte(pin+"\n")); err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	if _, err := a.Add("admin", "Administrator", apitype.RoleAdmin, pin, now); err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return true, nil
}

// save writes the directory. The caller holds mu.
func (a *Accounts) save() error {
	f := accountsFile{Version: 1}
	for _, ac := range a.accts {
		f.Accounts = append(f.Accounts, ac)
	}
	sort.Slice(f.Accounts, func(i, j int) bool { return f.Accounts[i].ID < f.Accounts[j].ID })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save accounts: %w", err)
	}
	if err := writeFileAtomic(a.path, b); err != nil {
		return fmt.Errorf("save accounts: %w", err)
	}
	return nil
}

// writeFileAtomic writes path (mode 0600) so that a crash leaves the old content or the
// new one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const scryptR, scryptP, scryptKeyLen = 8, 1, 32

func hashPIN(pin string, n int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := scrypt.Key([]byte(pin), salt, n, scryptR, scryptP, scryptKeyLen)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("scrypt$%d$%d$%d$%s$%s", n, scryptR, scryptP, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

func verifyPIN(pin, stored string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 6 || parts[0] != "scrypt" {
		return false
	}
	n, err1 := strconv.Atoi(parts[1])
	r, err2 := strconv.Atoi(parts[2])
	p, err3 := strconv.Atoi(parts[3])
	salt, err4 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err5 := base64.RawStdEncoding.DecodeString(parts[5])
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil || len(want) == 0 {
		return false
	}
	got, err := scrypt.Key([]byte(pin), salt, n, r, p, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}
