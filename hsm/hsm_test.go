package hsm_test

import (
	"crypto"
	"errors"
	"strings"
	"testing"

	"github.com/posagent/posagent/hsm"
)

func TestCheckDigest(t *testing.T) {
	if err := hsm.CheckDigest(make([]byte, 32), crypto.SHA256); err != nil {
		t.Fatalf("valid digest: %v", err)
	}
	for _, tc := range []struct {
		n    int
		opts crypto.SignerOpts
		want error
	}{
		{32, nil, hsm.ErrUnsupported},
		{32, crypto.Hash(0), hsm.ErrUnsupported},
		{48, crypto.SHA384, hsm.ErrUnsupported},
		{20, crypto.SHA1, hsm.ErrUnsupported},
		{0, crypto.SHA256, hsm.ErrBadDigest},
		{31, crypto.SHA256, hsm.ErrBadDigest},
		{33, crypto.SHA256, hsm.ErrBadDigest},
	} {
		err := hsm.CheckDigest(make([]byte, tc.n), tc.opts)
		if !errors.Is(err, tc.want) {
			t.Errorf("CheckDigest(%d bytes, %v) = %v, want %v", tc.n, tc.opts, err, tc.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "csid-token", "csid.secret_2", "0", strings.Repeat("z", 64)} {
		if err := hsm.CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", ".a", "_a", "A", "a/b", "../a", "a b", "a\x00", "é", strings.Repeat("z", 65)} {
		if err := hsm.CheckName(bad); !errors.Is(err, hsm.ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}
