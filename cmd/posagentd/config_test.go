package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleConfig: the packaged example configuration loads and validates.
func TestExampleConfig(t *testing.T) {
	cfg, err := LoadConfig("packaging/posagentd.example.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the example configuration is invalid: %v", err)
	}
	if cfg.Socket.Mode != 0o660 || time.Duration(cfg.Upload.WarnAge) != 12*time.Hour {
		t.Errorf("example values: mode %o warn age %v", cfg.Socket.Mode, time.Duration(cfg.Upload.WarnAge))
	}
}

// TestConfigErrors: every bad field is named, and an unknown field is refused.
func TestConfigErrors(t *testing.T) {
	cfg, err := LoadConfig("packaging/posagentd.example.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = "relative"
	cfg.Socket.AllowedGIDs = nil
	cfg.Seller.VATNumber = "123"
	cfg.EGS.InvoiceType = "1100"
	cfg.EGS.CommonName = ""
	cfg.Printer.Profile = "110mm"
	cfg.ZATCA.Environment = "custom"
	cfg.Session.ScryptN = 1000
	cfg.Log.Level = "loud"
	err = cfg.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Validate: %v, want *ConfigError", err)
	}
	for _, f := range []string{"state_dir", "socket.allowed_uids", "seller.vat_number", "egs.invoice_type", "egs.common_name",
		"printer.profile", "zatca.base_url", "sessions.scrypt_n", "log.level"} {
		if !ce.Has(f) {
			t.Errorf("no error for %s in\n%v", f, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"state_dir": "/x", "sokcet": {}}`), 0o600)
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), "sokcet") {
		t.Fatalf("unknown field: %v", err)
	}
	os.WriteFile(bad, []byte(`{"shutdown_timeout": 15}`), 0o600)
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("a number as duration: %v", err)
	}
}
