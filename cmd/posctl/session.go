package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
)

// common are the flags every daemon subcommand takes.
type common struct {
	socket string
	json   bool
}

func addCommon(fs *flag.FlagSet) *common {
	c := &common{}
	def := os.Getenv("POSAGENT_SOCKET")
	if def == "" {
		def = apitype.DefaultSocketPath
	}
	fs.StringVar(&c.socket, "socket", def, "posagentd socket (env POSAGENT_SOCKET)")
	fs.BoolVar(&c.json, "json", false, "print the answer as JSON")
	return c
}

// sessionFile is where the session token is kept: $POSCTL_SESSION_FILE, else
// $XDG_RUNTIME_DIR/posctl/session, else ~/.posctl/session (mode 0600).
func sessionFile() (string, error) {
	if p := os.Getenv("POSCTL_SESSION_FILE"); p != "" {
		return p, nil
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "posctl", "session"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("session file: %w", err)
	}
	return filepath.Join(home, ".posctl", "session"), nil
}

type savedSession struct {
	Socket  string `json:"socket"`
	Token   string `json:"token"`
	Cashier string `json:"cashier"`
}

func saveSession(socket, token, cashier string) error {
	path, err := sessionFile()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("session file: %w", err)
	}
	b, _ := json.Marshal(savedSession{Socket: socket, Token: token, Cashier: cashier})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("session file: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("session file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("session file: %w", err)
	}
	return nil
}

func loadSession(socket string) (savedSession, error) {
	path, err := sessionFile()
	if err != nil {
		return savedSession{}, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return savedSession{}, nil
	}
	if err != nil {
		return savedSession{}, fmt.Errorf("session file: %w", err)
	}
	var s savedSession
	if err := json.Unmarshal(b, &s); err != nil || s.Socket != socket {
		return savedSession{}, nil
	}
	return s, nil
}

func removeSession() error {
	path, err := sessionFile()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// connect returns a client for the socket with the saved session token, if any.
// connectCommand parses the flags of a command that has only the common ones and
// connects to the daemon with the saved session.
func connectCommand(name string, args []string, stderr io.Writer) (*common, *client.Client, error) {
	fs := newFlagSet(name, stderr)
	c := addCommon(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, nil, err
	}
	cl, err := connect(c)
	if err != nil {
		return nil, nil, err
	}
	return c, cl, nil
}

func connect(c *common) (*client.Client, error) {
	cl := &client.Client{Socket: c.socket}
	s, err := loadSession(c.socket)
	if err != nil {
		return nil, err
	}
	cl.SetToken(s.Token)
	return cl, nil
}

// explain adds what to do to the API errors a person at the terminal can fix.
func explain(err error) error {
	switch {
	case err == nil:
		return nil
	case client.IsUnauthenticated(err):
		return fmt.Errorf("%w\n(log in with: posctl login --cashier ID)", err)
	case client.IsPINChangeRequired(err):
		return fmt.Errorf("%w\n(change the default PIN with: posctl pin)", err)
	}
	var ae *client.APIError
	if errors.As(err, &ae) && len(ae.Reasons) > 0 {
		var b strings.Builder
		b.WriteString(err.Error())
		for _, r := range ae.Reasons {
			fmt.Fprintf(&b, "\n  %s: %s", r.Code, r.Message)
		}
		return errors.New(b.String())
	}
	return err
}

// readSecret returns value, or the first line of stdin when value is "-" or empty and
// allowed.
func readSecret(value, name string, stdin io.Reader) (string, error) {
	if value != "" && value != "-" {
		return value, nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 256))
	if err != nil {
		return "", fmt.Errorf("reading %s from stdin: %w", name, err)
	}
	v := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if v == "" {
		return "", usageError{"--" + name + " is required (or give it on stdin)"}
	}
	return v, nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func runLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("login", stderr)
	c := addCommon(fs)
	cashier := fs.String("cashier", "", "cashier id")
	pin := fs.String("pin", "", "PIN (default: read from stdin)")
	newPIN := fs.String("new-pin", "", "replace a default PIN with this one right after login")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cashier == "" {
		return usageError{"--cashier is required"}
	}
	p, err := readSecret(*pin, "pin", stdin)
	if err != nil {
		return err
	}
	cl := &client.Client{Socket: c.socket}
	s, err := cl.Login(ctx, *cashier, p)
	if err != nil {
		return explain(err)
	}
	if err := saveSession(c.socket, s.Token, s.Cashier); err != nil {
		return err
	}
	if s.MustChangePIN && *newPIN != "" {
		if err := cl.ChangePIN(ctx, p, *newPIN); err != nil {
			return explain(err)
		}
		s.MustChangePIN = false
	}
	s.Token = ""
	if c.json {
		return printJSON(stdout, s)
	}
	fmt.Fprintf(stdout, "logged in as %s (%s, %s) until %s idle\n", s.Cashier, s.Name, s.Role, s.ExpiresAt.Format("15:04:05"))
	if s.MustChangePIN {
		fmt.Fprintln(stdout, "the PIN is a default PIN: change it now with: posctl pin")
	}
	return nil
}

func runLogout(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	c, cl, err := connectCommand("logout", args, stderr)
	if err != nil {
		return err
	}
	err = cl.Logout(ctx)
	if rerr := removeSession(); rerr != nil {
		return rerr
	}
	if err != nil && !client.IsUnauthenticated(err) {
		return explain(err)
	}
	if !c.json {
		fmt.Fprintln(stdout, "logged out")
	}
	return nil
}

func runPIN(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("pin", stderr)
	c := addCommon(fs)
	cur := fs.String("pin", "", "current PIN")
	next := fs.String("new-pin", "", "new PIN (4-12 digits)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cur == "" || *next == "" {
		return usageError{"--pin and --new-pin are required"}
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	if err := cl.ChangePIN(ctx, *cur, *next); err != nil {
		return explain(err)
	}
	if !c.json {
		fmt.Fprintln(stdout, "PIN changed")
	}
	return nil
}
