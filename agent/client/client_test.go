package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
)

// serve answers every request on a unix socket with h.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// TestErrors: error answers become *APIError with the body's code, fields and reasons;
// a body that is not the JSON error shape still gives the status and the text.
func TestErrors(t *testing.T) {
	sock := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/sales":
			if r.Header.Get("Authorization") != "Bearer tok" {
				t.Errorf("token not sent: %q", r.Header.Get("Authorization"))
			}
			w.WriteHeader(503)
			w.Write([]byte(`{"code":"not_ready","message":"no","reasons":[{"code":"not_onboarded","message":"onboard"}]}`))
		case "/v1/status":
			w.WriteHeader(502)
			w.Write([]byte("bad gateway"))
		default:
			w.WriteHeader(400)
			w.Write([]byte(`{"code":"invalid_request","message":"m","fields":[{"field":"pin","rule":"POS-TYPE","message":"x"}]}`))
		}
	})
	ctx := context.Background()
	c := &client.Client{Socket: sock}
	c.SetToken("tok")
	_, err := c.Sale(ctx, []byte(`{}`))
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 503 || !client.IsNotReady(err) || len(ae.Reasons) != 1 || ae.Reasons[0].Code != apitype.ReasonNotOnboarded {
		t.Fatalf("503: %v", err)
	}
	_, err = c.Status(ctx)
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != apitype.CodeInternal || ae.Message != "bad gateway" {
		t.Fatalf("non-JSON error: %v", err)
	}
	err = c.ChangePIN(ctx, "1", "2")
	if !client.IsInvalid(err) || !errors.As(err, &ae) || ae.Fields[0].Field != "pin" {
		t.Fatalf("400: %v", err)
	}
	if client.IsUnauthenticated(err) || client.IsForbidden(err) {
		t.Fatal("helpers match the wrong codes")
	}
}

// TestDialOverride: a custom dialer is used for every request.
func TestDialOverride(t *testing.T) {
	sock := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"token":"abc","cashier":"c1","role":"cashier"}`))
	})
	dialed := 0
	c := &client.Client{Socket: "/nonexistent", Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed++
		if network != "unix" || addr != "/nonexistent" {
			t.Errorf("dial %s %s", network, addr)
		}
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	s, err := c.Login(context.Background(), "c1", "8642")
	if err != nil || s.Role != apitype.RoleCashier || c.Token() != "abc" || dialed != 1 {
		t.Fatalf("login through the dialer: %+v %v token %q dialed %d", s, err, c.Token(), dialed)
	}
}
