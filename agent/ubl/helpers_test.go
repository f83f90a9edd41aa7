package ubl

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/posagent/posagent/agent/cert"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	zatcaDir   = "../../testdata/zatca"
	samplesDir = zatcaDir + "/Samples"
	certPath   = zatcaDir + "/Certificates/cert.pem"
	keyPath    = zatcaDir + "/Certificates/ec-secp256k1-priv-key.pem"
	xsdRoot    = zatcaDir + "/Schemas/xsds"
)

// unsignedSamples lists SDK samples that carry no signature and are
// therefore skipped by the signature checks. Every sample of SDK R4.0.0 is
// signed, so the list is empty; TestSamplesGolden fails if a sample without
// a signature appears that is not listed here (or a listed one is signed).
var unsignedSamples = map[string]bool{}

// sampleFiles returns every XML sample, as paths relative to samplesDir.
func sampleFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(samplesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".xml") {
			rel, _ := filepath.Rel(samplesDir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 26 {
		t.Fatalf("found %d samples under %s, want the 26 of SDK R4.0.0", len(out), samplesDir)
	}
	sort.Strings(out)
	return out
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run the tests with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (%d vs %d bytes); first difference at byte %d; run with -update and review the diff",
			p, len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// goldenName turns a sample path into a flat file name.
func goldenName(rel string) string {
	return strings.NewReplacer("/", "__", " ", "_").Replace(strings.TrimSuffix(rel, ".xml"))
}

// textOfTag extracts the text of the first <tag>…</tag> by regular
// expression: deliberately not this package's parser.
func textOfTag(t testing.TB, doc []byte, after, tag string) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(after) + `[\s\S]*?<` + regexp.QuoteMeta(tag) + `(?:\s[^>]*)?>([^<]*)</` + regexp.QuoteMeta(tag) + `>`)
	m := re.FindSubmatch(doc)
	if m == nil {
		t.Fatalf("no <%s> after %q", tag, after)
	}
	return string(m[1])
}

func runTool(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// testSigner is a crypto.Signer over a decred secp256k1 key: deterministic
// RFC 6979 signatures in DER, like hsm/softkey. The package must not import
// hsm, so the tests carry this small adapter.
type testSigner struct {
	priv *secp256k1.PrivateKey
	pub  *secp256k1.PublicKey // cached, as hsm/softkey does
	// raw makes Sign return r||s instead of DER, to test the DER check.
	raw bool
}

func (s *testSigner) Public() crypto.PublicKey {
	if s.pub == nil {
		s.pub = s.priv.PubKey()
	}
	return s.pub
}

func (s *testSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("testSigner: want a SHA-256 digest")
	}
	sig := ecdsa.Sign(s.priv, digest)
	if s.raw {
		r, ss := sig.R(), sig.S()
		var out [64]byte
		r.PutBytesUnchecked(out[:32])
		ss.PutBytesUnchecked(out[32:])
		return out[:], nil
	}
	return sig.Serialize(), nil
}

// sdkKeyAndCert loads the SDK's test key and certificate.
func sdkKeyAndCert(t testing.TB) (*testSigner, *cert.Certificate) {
	t.Helper()
	priv := sdkPrivateKey(t, readFile(t, keyPath))
	c, err := cert.ParsePEMOrBase64(readFile(t, certPath))
	if err != nil {
		t.Fatalf("parse SDK certificate: %v", err)
	}
	return &testSigner{priv: priv}, c
}

// sdkPrivateKey reads the SDK's test key file (bare base64 of SEC 1 DER) into a
// raw decred key for the test signers; the product parses keys only in
// hsm/softkey, into locked memory.
func sdkPrivateKey(t testing.TB, data []byte) *secp256k1.PrivateKey {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("SDK key: %v", err)
	}
	var k struct {
		Version int
		Key     []byte
		Curve   asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
		Public  asn1.BitString        `asn1:"optional,explicit,tag:1"`
	}
	if _, err := asn1.Unmarshal(der, &k); err != nil || len(k.Key) != 32 {
		t.Fatalf("SDK key: %v", err)
	}
	return secp256k1.PrivKeyFromBytes(k.Key)
}
