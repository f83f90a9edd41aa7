package csr_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/csr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// samplesRoot is the copy of the ZATCA SDK samples in the repository (testdata/zatca).
func samplesRoot(t testing.TB) string {
	t.Helper()
	return "../../testdata/zatca"
}

func readSample(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// k1Signer is a crypto.Signer over a decred secp256k1 key (RFC 6979).
type k1Signer struct{ k *secp256k1.PrivateKey }

func (s k1Signer) Public() crypto.PublicKey { return s.k.PubKey() }

func (s k1Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, fmt.Errorf("k1Signer: want a SHA-256 digest")
	}
	return decredecdsa.Sign(s.k, digest).Serialize(), nil
}

func sdkKey(t testing.TB) k1Signer {
	t.Helper()
	return k1Signer{sdkPrivateKey(t, readSample(t, "Certificates/ec-secp256k1-priv-key.pem"))}
}

func newK1(t testing.TB) k1Signer {
	t.Helper()
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k1Signer{k}
}

func loadConfig(t testing.TB, name string, env csr.Env) csr.Config {
	t.Helper()
	c, err := csr.ParseProperties(readSample(t, "Input/"+name))
	if err != nil {
		t.Fatal(err)
	}
	c.Environment = env
	return c
}

func sampleRequest(t testing.TB) (*csr.Request, []byte) {
	t.Helper()
	text := readSample(t, "ApiExamples/compliance-csid-request-example.csr.pem")
	r, err := csr.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return r, text
}

// TestSampleByteExact rebuilds ZATCA's example CSR from the SDK's English
// config and the SDK key: the signed CertificationRequestInfo must be
// identical byte for byte (the ECDSA signature itself is randomised).
func TestSampleByteExact(t *testing.T) {
	sample, _ := sampleRequest(t)
	cfg := loadConfig(t, "csr-config-example-EN.properties", csr.Production)
	key := sdkKey(t)
	info, err := csr.MarshalInfo(cfg, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info, sample.RawInfo) {
		t.Fatalf("CertificationRequestInfo differs from the example:\n got %x\nwant %x", info, sample.RawInfo)
	}
	der, err := csr.Create(cfg, key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := csr.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.RawInfo, sample.RawInfo) {
		t.Error("Create signed a different CertificationRequestInfo")
	}
	got, err := sample.Config()
	if err != nil || got != cfg {
		t.Errorf("example Config() = %+v, %v\nwant %+v", got, err, cfg)
	}
}

// node is one TLV of a DER walk.
type node struct {
	tag  cbasn1.Tag
	body []byte
	kids []*node // constructed, or an OCTET STRING that wraps DER
}

func walk(t *testing.T, b []byte) []*node {
	t.Helper()
	ns, ok := tryWalk(b)
	if !ok {
		t.Fatalf("not DER: %x", b)
	}
	return ns
}

func tryWalk(b []byte) ([]*node, bool) {
	s := cryptobyte.String(b)
	var out []*node
	for !s.Empty() {
		var body cryptobyte.String
		var tag cbasn1.Tag
		if !s.ReadAnyASN1(&body, &tag) {
			return nil, false
		}
		n := &node{tag: tag, body: body}
		switch {
		case tag&0x20 != 0:
			kids, ok := tryWalk(body)
			if !ok {
				return nil, false
			}
			n.kids = kids
		case tag == cbasn1.OCTET_STRING:
			if kids, ok := tryWalk(body); ok && len(body) > 0 {
				n.kids = kids // extnValue: encapsulated DER
			}
		}
		out = append(out, n)
	}
	return out, true
}

var stringTags = map[cbasn1.Tag]string{
	cbasn1.UTF8String: "UTF8String", cbasn1.PrintableString: "PrintableString",
	cbasn1.IA5String: "IA5String", cbasn1.Tag(30): "BMPString", cbasn1.T61String: "T61String",
}

// compareTrees requires the same shape, the same tags (so the same string
// types) and the same OIDs, INTEGER versions and BOOLEANs; string values,
// key bits and signatures may differ.
func compareTrees(t *testing.T, path string, got, want []*node) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d elements, the example has %d", path, len(got), len(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		p := fmt.Sprintf("%s/%d", path, i)
		if g.tag != w.tag {
			t.Errorf("%s: tag 0x%02x, the example has 0x%02x", p, uint8(g.tag), uint8(w.tag))
			continue
		}
		if name, ok := stringTags[g.tag]; ok {
			p += "(" + name + ")"
		}
		switch g.tag {
		case cbasn1.OBJECT_IDENTIFIER, cbasn1.BOOLEAN:
			if !bytes.Equal(g.body, w.body) {
				t.Errorf("%s: value %x, the example has %x", p, g.body, w.body)
			}
		case cbasn1.INTEGER:
			if path == "/0/0" && !bytes.Equal(g.body, w.body) { // version
				t.Errorf("%s: version %x, the example has %x", p, g.body, w.body)
			}
		}
		if (g.kids == nil) != (w.kids == nil) {
			t.Errorf("%s: encapsulation differs", p)
			continue
		}
		compareTrees(t, p, g.kids, w.kids)
	}
}

// TestStructureMatchesExample walks our CSR (Arabic config, sandbox
// template, fresh key) and ZATCA's example side by side.
func TestStructureMatchesExample(t *testing.T) {
	_, text := sampleRequest(t)
	wantDER, err := cert.DecodeText(text, csr.PEMType)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"csr-config-example-AR.properties", "csr-config-example-EN-VAT-group.properties"} {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, name, csr.Sandbox)
			der, err := csr.Create(cfg, newK1(t))
			if err != nil {
				t.Fatal(err)
			}
			got, want := walk(t, der), walk(t, wantDER)
			compareTrees(t, "", got, want)

			// Spot checks on the walk: subject C is PrintableString, the rest
			// UTF8String; the extension values carry the expected strings.
			subject := got[0].kids[0].kids[1].kids
			if subject[0].kids[0].kids[1].tag != cbasn1.PrintableString {
				t.Error("C is not a PrintableString")
			}
			exts := got[0].kids[0].kids[3].kids[0].kids[1].kids[0].kids
			if len(exts) != 2 {
				t.Fatalf("%d extensions", len(exts))
			}
			tmpl := exts[0].kids[1].kids[0]
			if tmpl.tag != cbasn1.UTF8String || string(tmpl.body) != "TSTZATCA-Code-Signing" {
				t.Errorf("template name %v %q", tmpl.tag, tmpl.body)
			}
			dirName := exts[1].kids[1].kids[0].kids[0].kids[0].kids
			var vals []string
			for _, rdn := range dirName {
				vals = append(vals, string(rdn.kids[0].kids[1].body))
			}
			wantVals := []string{cfg.SerialNumber, cfg.OrganizationIdentifier, cfg.InvoiceType, cfg.Location, cfg.Industry}
			if strings.Join(vals, "\n") != strings.Join(wantVals, "\n") {
				t.Errorf("SAN values %q, want %q", vals, wantVals)
			}
		})
	}
}

func TestOpenSSLVerifies(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]crypto.Signer{"secp256k1": newK1(t), "P-256": p256, "SDK key": sdkKey(t)}
	cfg := loadConfig(t, "csr-config-example-AR.properties", csr.Simulation)
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			der, err := csr.Create(cfg, key)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "req.pem")
			if err := os.WriteFile(p, csr.PEM(der), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("openssl", "req", "-in", p, "-verify", "-noout").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "verify OK") {
				t.Fatalf("openssl req -verify: %v\n%s", err, out)
			}
			r, err := csr.Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			wantCurve := map[string]cert.Curve{"secp256k1": cert.Secp256k1, "P-256": cert.P256, "SDK key": cert.Secp256k1}[name]
			if r.Curve != wantCurve {
				t.Errorf("curve %v", r.Curve)
			}
			if got, err := r.Config(); err != nil || got != cfg {
				t.Errorf("Config() = %+v, %v", got, err)
			}
		})
	}
	// And a tampered CSR is refused by openssl as well as by Parse.
	der, _ := csr.Create(cfg, newK1(t))
	bad := bytes.Replace(der, []byte("RRRD2929"), []byte("RRRD2930"), 1)
	p := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(p, csr.PEM(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	// openssl 3.0 exits 0 either way; the message tells.
	if out, _ := exec.Command("openssl", "req", "-in", p, "-verify", "-noout").CombinedOutput(); strings.Contains(string(out), "verify OK") ||
		!strings.Contains(string(out), "verify failure") {
		t.Errorf("openssl on a tampered CSR: %s", out)
	}
	if _, err := csr.Parse(bad); !errors.Is(err, cert.ErrBadSignature) {
		t.Errorf("Parse of a tampered CSR: %v, want ErrBadSignature", err)
	}
}

func TestForms(t *testing.T) {
	sample, text := sampleRequest(t)
	b64pem := csr.Base64PEM(sample.Raw)
	if !strings.HasPrefix(b64pem, "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K") {
		t.Errorf("Base64PEM starts %q", b64pem[:48])
	}
	if !bytes.Equal(csr.PEM(sample.Raw), text) {
		t.Error("PEM() does not reproduce the example file")
	}
	for name, in := range map[string][]byte{
		"DER": sample.Raw, "PEM": text, "base64 of PEM": []byte(b64pem),
		"base64 of DER": []byte(base64.StdEncoding.EncodeToString(sample.Raw)),
	} {
		r, err := csr.Parse(in)
		if err != nil || !bytes.Equal(r.Raw, sample.Raw) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := csr.Parse([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); !errors.Is(err, cert.ErrEncoding) {
		t.Errorf("certificate PEM: %v, want ErrEncoding", err)
	}
	if sample.TemplateName != "ZATCA-Code-Signing" || len(sample.Extensions) != 2 || sample.Extensions[0].Critical {
		t.Errorf("example: template %q, %d extensions", sample.TemplateName, len(sample.Extensions))
	}
	if len(sample.SPKI) != 88 || hex.EncodeToString(sample.SPKI[:20]) != "3056301006072a8648ce3d020106052b8104000a" {
		t.Errorf("SPKI %x", sample.SPKI)
	}
}

// TestGolden pins a CSR made with the SDK key (RFC 6979: deterministic).
func TestGolden(t *testing.T) {
	cfg := loadConfig(t, "csr-config-example-AR.properties", csr.Sandbox)
	der, err := csr.Create(cfg, sdkKey(t))
	if err != nil {
		t.Fatal(err)
	}
	got := []byte(csr.Base64PEM(der) + "\n")
	p := filepath.Join("testdata", "sdk-key-AR-sandbox.csr.b64")
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("CSR differs from %s", p)
	}
}

func validConfig() csr.Config {
	return csr.Config{
		CommonName: "TST-886431145-399999999900003", SerialNumber: "1-TST|2-TST|3-ed22f1d8-e6a2-1118-9b58-d9a8f11e445f",
		OrganizationIdentifier: "399999999900003", OrganizationUnit: "Riyadh Branch",
		Organization: "Maximum Speed Tech Supply LTD", Country: "SA", InvoiceType: "0100",
		Location: "RRRD2929", Industry: "Supply activities", Environment: csr.Simulation,
	}
}

func TestValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*csr.Config)
		field  string
	}{
		{"empty CN", func(c *csr.Config) { c.CommonName = "" }, "CommonName"},
		{"blank CN", func(c *csr.Config) { c.CommonName = "   " }, "CommonName"},
		{"CN 65 characters", func(c *csr.Config) { c.CommonName = strings.Repeat("a", 65) }, "CommonName"},
		{"O 65 Arabic characters", func(c *csr.Config) { c.Organization = strings.Repeat("ش", 65) }, "Organization"},
		{"O not UTF-8", func(c *csr.Config) { c.Organization = "\xff" }, "Organization"},
		{"O trailing space", func(c *csr.Config) { c.Organization = "X " }, "Organization"},
		{"empty serial", func(c *csr.Config) { c.SerialNumber = "" }, "SerialNumber"},
		{"serial without parts", func(c *csr.Config) { c.SerialNumber = "ed22f1d8" }, "SerialNumber"},
		{"serial parts out of order", func(c *csr.Config) { c.SerialNumber = "2-TST|1-TST|3-x" }, "SerialNumber"},
		{"serial empty part", func(c *csr.Config) { c.SerialNumber = "1-|2-TST|3-x" }, "SerialNumber"},
		{"serial 4 parts", func(c *csr.Config) { c.SerialNumber = "1-a|2-b|3-c|4-d" }, "SerialNumber"},
		{"VAT 14 digits", func(c *csr.Config) { c.OrganizationIdentifier = "39999999990003" }, "OrganizationIdentifier"},
		{"VAT starts with 4", func(c *csr.Config) { c.OrganizationIdentifier = "499999999900003" }, "OrganizationIdentifier"},
		{"VAT ends with 4", func(c *csr.Config) { c.OrganizationIdentifier = "399999999900004" }, "OrganizationIdentifier"},
		{"VAT with letter", func(c *csr.Config) { c.OrganizationIdentifier = "3999999999A0003" }, "OrganizationIdentifier"},
		{"VAT group OU not a TIN", func(c *csr.Config) { c.OrganizationIdentifier = "399999999910003" }, "OrganizationUnit"},
		{"VAT group OU 9 digits", func(c *csr.Config) {
			c.OrganizationIdentifier, c.OrganizationUnit = "399999999910003", "399999999"
		}, "OrganizationUnit"},
		{"empty OU", func(c *csr.Config) { c.OrganizationUnit = "" }, "OrganizationUnit"},
		{"empty O", func(c *csr.Config) { c.Organization = "" }, "Organization"},
		{"country lower case", func(c *csr.Config) { c.Country = "sa" }, "Country"},
		{"country 3 letters", func(c *csr.Config) { c.Country = "SAU" }, "Country"},
		{"invoice type 3 digits", func(c *csr.Config) { c.InvoiceType = "010" }, "InvoiceType"},
		{"invoice type with 2", func(c *csr.Config) { c.InvoiceType = "0200" }, "InvoiceType"},
		{"invoice type neither T nor S", func(c *csr.Config) { c.InvoiceType = "0011" }, "InvoiceType"},
		{"empty location", func(c *csr.Config) { c.Location = "" }, "Location"},
		{"empty industry", func(c *csr.Config) { c.Industry = "" }, "Industry"},
		{"no environment", func(c *csr.Config) { c.Environment = csr.EnvUnset }, "Environment"},
		{"bad environment", func(c *csr.Config) { c.Environment = csr.Env(9) }, "Environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			var ve *csr.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, csr.ErrInvalidConfig) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			if len(ve.Fields) != 1 || ve.Fields[0].Field != tt.field {
				t.Fatalf("got %v, want exactly one error on %s", err, tt.field)
			}
			var fe *csr.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("errors.As FieldError: %v", fe)
			}
			// Create refuses the config without calling the signer.
			if _, err := csr.Create(c, panicSigner{}); !errors.Is(err, csr.ErrInvalidConfig) {
				t.Errorf("Create: %v", err)
			}
		})
	}
	// VAT group with a TIN in OU is valid; several errors are all listed.
	c := validConfig()
	c.OrganizationIdentifier, c.OrganizationUnit = "399999999910003", "3999999999"
	if err := c.Validate(); err != nil {
		t.Errorf("VAT group: %v", err)
	}
	var ve *csr.ValidationError
	if err := (csr.Config{}).Validate(); !errors.As(err, &ve) || len(ve.Fields) != 10 {
		t.Errorf("zero Config: %v", err)
	}
}

// panicSigner fails the test if Create ever signs with it.
type panicSigner struct{}

func (panicSigner) Public() crypto.PublicKey { return nil }
func (panicSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("signer must not be called for an invalid config")
}

func TestCreateErrors(t *testing.T) {
	if _, err := csr.Create(validConfig(), nil); err == nil {
		t.Error("nil key accepted")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := csr.Create(validConfig(), p384); !errors.Is(err, cert.ErrUnsupported) {
		t.Errorf("P-384 key: %v, want ErrUnsupported", err)
	}
	if _, err := csr.Create(validConfig(), wrongSigner{newK1(t)}); !errors.Is(err, cert.ErrBadSignature) {
		t.Errorf("signer with a different key: %v, want ErrBadSignature", err)
	}
}

// wrongSigner signs with a key other than the one it reports.
type wrongSigner struct{ k1Signer }

func (w wrongSigner) Public() crypto.PublicKey {
	h := sha256.Sum256([]byte("other"))
	return secp256k1.PrivKeyFromBytes(h[:]).PubKey()
}

func TestProperties(t *testing.T) {
	ar := loadConfig(t, "csr-config-example-AR.properties", csr.Production)
	if ar.Organization != "شركة توريد التكنولوجيا بأقصى سرعة المحدودة" || ar.OrganizationUnit != "فرع الرياض" ||
		ar.Industry != "أنشطة توريدات" || ar.InvoiceType != "1100" {
		t.Errorf("AR config %+v", ar)
	}
	for _, name := range []string{"csr-config-example-AR.properties", "csr-config-example-EN.properties",
		"csr-config-example-AR-VAT-Group.properties", "csr-config-example-EN-VAT-group.properties"} {
		if err := loadConfig(t, name, csr.Sandbox).Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var ve *csr.ValidationError
	if err := loadConfig(t, "csr-config-template.properties", csr.Sandbox).Validate(); !errors.As(err, &ve) || len(ve.Fields) != 9 {
		t.Errorf("empty template: %v", err)
	}
	c, err := csr.ParseProperties([]byte("# comment\n! bang\n  csr.common.name : a\\\n    b\ncsr.organization.name=\\u0634\\u0631\\u0643\\u0629 \\ud83d\\ude00\ncsr.country.name SA\n"))
	if err != nil || c.CommonName != "ab" || c.Organization != "شركة 😀" || c.Country != "SA" {
		t.Errorf("escapes: %+v %v", c, err)
	}
	for name, in := range map[string]string{
		"unknown key":   "csr.common.nam=x\n",
		"repeated key":  "csr.common.name=x\ncsr.common.name=y\n",
		"bad escape":    "csr.common.name=\\uzzzz\n",
		"short escape":  "csr.common.name=\\u12\n",
		"not UTF-8":     "csr.common.name=\xff\n",
		"bad key chars": "csr.common.name\\u00=x\n",
	} {
		if _, err := csr.ParseProperties([]byte(in)); !errors.Is(err, csr.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestEnv(t *testing.T) {
	for _, tt := range []struct {
		env  csr.Env
		name string
		tmpl string
	}{
		{csr.Sandbox, "sandbox", "TSTZATCA-Code-Signing"},
		{csr.Simulation, "simulation", "PREZATCA-Code-Signing"},
		{csr.Production, "production", "ZATCA-Code-Signing"},
	} {
		e, err := csr.ParseEnv(tt.name)
		if err != nil || e != tt.env || e.TemplateName() != tt.tmpl || e.String() != tt.name {
			t.Errorf("%s: %v %v %q", tt.name, e, err, e.TemplateName())
		}
		if e, ok := csr.EnvForTemplate(tt.tmpl); !ok || e != tt.env {
			t.Errorf("EnvForTemplate(%s)", tt.tmpl)
		}
	}
	if _, err := csr.ParseEnv("prod"); !errors.Is(err, csr.ErrInvalidConfig) {
		t.Errorf("ParseEnv(prod): %v", err)
	}
}

func FuzzParse(f *testing.F) {
	sample := readSample(f, "ApiExamples/compliance-csid-request-example.csr.pem")
	der, _ := cert.DecodeText(sample, csr.PEMType)
	f.Add(der)
	golden, _ := os.ReadFile(filepath.Join("testdata", "sdk-key-AR-sandbox.csr.b64"))
	if g, err := cert.DecodeText(golden, csr.PEMType); err == nil {
		f.Add(g)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := csr.Parse(in)
		if err != nil {
			if !errors.Is(err, cert.ErrMalformed) && !errors.Is(err, cert.ErrUnsupported) &&
				!errors.Is(err, cert.ErrBadSignature) && !errors.Is(err, cert.ErrEncoding) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		digest := sha256.Sum256(r.RawInfo)
		if !cert.VerifySignature(r.PublicKey, digest[:], r.Signature) {
			t.Fatal("accepted a CSR whose signature does not verify")
		}
		if again, err := csr.Parse([]byte(csr.Base64PEM(r.Raw))); err != nil || !bytes.Equal(again.Raw, r.Raw) {
			t.Fatalf("Base64PEM round trip: %v", err)
		}
	})
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
