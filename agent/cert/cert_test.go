package cert_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"github.com/posagent/posagent/hsm/softkey"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/posagent/posagent/agent/cert"
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

// k1Signer is a crypto.Signer over a decred secp256k1 key (RFC 6979, so
// deterministic).
type k1Signer struct{ k *secp256k1.PrivateKey }

func (s k1Signer) Public() crypto.PublicKey { return s.k.PubKey() }

func (s k1Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, fmt.Errorf("k1Signer: want a SHA-256 digest")
	}
	return decredecdsa.Sign(s.k, digest).Serialize(), nil
}

// testKey derives a fixed secp256k1 key from a label.
func testKey(label string) k1Signer {
	h := sha256.Sum256([]byte("posagent cert test key: " + label))
	return k1Signer{secp256k1.PrivKeyFromBytes(h[:])}
}

func mustParseText(t *testing.T, b []byte) *cert.Certificate {
	t.Helper()
	c, err := cert.ParsePEMOrBase64(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSDKCertificate(t *testing.T) {
	text := readSample(t, "Certificates/cert.pem")
	c := mustParseText(t, text)

	if got, want := c.IssuerName(), "CN=PRZEINVOICESCA4-CA, DC=extgazt, DC=gov, DC=local"; got != want {
		t.Errorf("IssuerName = %q, want %q", got, want)
	}
	if got, want := c.SerialNumber.String(), "379112742831380471835263969587287663520528387"; got != want {
		t.Errorf("serial = %s, want %s", got, want)
	}
	if len(c.SPKI) != 88 || !strings.HasPrefix(hex.EncodeToString(c.SPKI), "3056301006072a8648ce3d020106052b8104000a") {
		t.Errorf("SPKI = %x", c.SPKI)
	}
	if len(c.SignatureValue) != 71 || !strings.HasPrefix(hex.EncodeToString(c.SignatureValue), "3045022100") {
		t.Errorf("SignatureValue = %x", c.SignatureValue)
	}
	if c.Base64() != strings.TrimSpace(string(text)) {
		t.Error("Base64() is not the ds:X509Certificate text of the sample")
	}
	if c.Curve != cert.Secp256k1 || c.Curve.String() != "secp256k1" || !c.Curve.OID().Equal(cert.OIDCurveSecp256k1) {
		t.Errorf("curve %v", c.Curve)
	}
	if _, ok := c.PublicKey.(*secp256k1.PublicKey); !ok {
		t.Errorf("PublicKey is %T", c.PublicKey)
	}
	if c.Version != 3 || !c.SignatureAlgorithm.Equal(cert.OIDECDSAWithSHA256) {
		t.Errorf("version %d, algorithm %v", c.Version, c.SignatureAlgorithm)
	}
	wantSAN := cert.SubjectAltName{
		SerialNumber: "1-TST|2-TST|3-ed22f1d8-e6a2-1118-9b58-d9a8f11e445f",
		VATNumber:    "399999999900003", InvoiceType: "1100", Location: "RRRD2929", Industry: "Supply activities",
	}
	if c.SubjectAltName == nil || *c.SubjectAltName != wantSAN {
		t.Errorf("SAN = %+v", c.SubjectAltName)
	}
	if got := c.SubjectName(); got != "CN=TST-886431145-399999999900003, OU=Riyadh Branch, O=Maximum Speed Tech Supply LTD, C=SA" {
		t.Errorf("SubjectName = %q", got)
	}
	if c.Subject.Get(cert.OIDCountry) != "SA" || c.Subject[0][0].Tag != cert.TagPrintableString {
		t.Errorf("subject C = %+v", c.Subject[0])
	}
	if c.Issuer[0][0].Tag != cert.TagIA5String {
		t.Errorf("issuer DC tag %d, want IA5String", c.Issuer[0][0].Tag)
	}
	nb, na := time.Date(2024, 1, 11, 9, 19, 30, 0, time.UTC), time.Date(2029, 1, 9, 9, 19, 30, 0, time.UTC)
	if !c.NotBefore.Equal(nb) || !c.NotAfter.Equal(na) {
		t.Errorf("validity %v – %v", c.NotBefore, c.NotAfter)
	}
	if c.KeyUsage != cert.KeyUsageDigitalSignature || len(c.ExtKeyUsage) != 2 || c.IsCA {
		t.Errorf("key usage %b, EKU %v, CA %v", c.KeyUsage, c.ExtKeyUsage, c.IsCA)
	}
	if hex.EncodeToString(c.SubjectKeyID) != "45fe62f9a6b676280dff4119b2a8ee87132982b5" ||
		hex.EncodeToString(c.AuthorityKeyID) != "9bcaaaa2ed9aac2c90817356fa4fd8fc53fbd367" {
		t.Errorf("SKI %x AKI %x", c.SubjectKeyID, c.AuthorityKeyID)
	}
	// The SDK key is the key of this certificate.
	k, err := softkey.ParseKey(readSample(t, "Certificates/ec-secp256k1-priv-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if !k.PublicKey().IsEqual(c.PublicKey.(*secp256k1.PublicKey)) {
		t.Error("SDK private key does not match the SDK certificate")
	}
	spki, err := cert.MarshalPKIXPublicKey(k.PublicKey())
	if err != nil || !bytes.Equal(spki, c.SPKI) {
		t.Errorf("MarshalPKIXPublicKey = %x, %v; want the certificate's SPKI", spki, err)
	}
}

// TestSDKSampleSignatures verifies the ds:SignatureValue of the signed SDK
// Simplified_Invoice.xml with the certificate key: SHA256withECDSA over the
// raw 32-byte invoice hash (SPEC §5.4).
func TestSDKSampleSignatures(t *testing.T) {
	c := mustParseText(t, readSample(t, "Certificates/cert.pem"))
	hash, _ := base64.StdEncoding.DecodeString("Hss2gNFjBY5OJn/5CEVZSSNUMrSf4QlCMxwsioPN6fA=")
	sig, _ := base64.StdEncoding.DecodeString("MEUCIQCs+DNQ1vlz7JoovA7JRjakn4tUs0JlCcAoJNh/J65FHwIgKppt2+DfcLXtKQ6yR49tcVydgs/MSY2yV9vATzcpUq4=")
	digest := sha256.Sum256(hash)
	if !cert.VerifySignature(c.PublicKey, digest[:], sig) {
		t.Error("sample signature does not verify")
	}
	// The same key as an *ecdsa.PublicKey on secp256k1.S256().
	if !cert.VerifySignature(c.PublicKey.(*secp256k1.PublicKey).ToECDSA(), digest[:], sig) {
		t.Error("sample signature does not verify with the ecdsa form of the key")
	}
	digest[0] ^= 1
	if cert.VerifySignature(c.PublicKey, digest[:], sig) {
		t.Error("signature verifies over a different digest")
	}
}

func TestComplianceCertificate(t *testing.T) {
	c := mustParseText(t, readSample(t, "ApiExamples/compliance-csid-response-example.cert.pem"))
	if got := c.IssuerName(); got != "CN=eInvoicing" {
		t.Errorf("IssuerName = %q", got)
	}
	if got := c.SerialNumber.String(); got != "1704892319821" {
		t.Errorf("serial %s", got)
	}
	if c.SubjectAltName == nil || c.SubjectAltName.VATNumber != "399999999900003" || c.SubjectAltName.InvoiceType != "1100" {
		t.Errorf("SAN %+v", c.SubjectAltName)
	}
	if !c.BasicConstraintsValid || c.IsCA {
		t.Errorf("basic constraints %v CA %v", c.BasicConstraintsValid, c.IsCA)
	}
	if len(c.SPKI) != 88 || len(c.SignatureValue) != 71 {
		t.Errorf("SPKI %d bytes, signature %d bytes", len(c.SPKI), len(c.SignatureValue))
	}
	if c.Subject[1][0].Tag != cert.TagUTF8String || c.Subject.Get(cert.OIDOrganizationalUnit) != "Riyadh Branch" {
		t.Errorf("subject %+v", c.Subject)
	}
}

// TestTextForms feeds the same certificate as PEM, bare base64 (one line
// and wrapped), binarySecurityToken, and DER.
func TestTextForms(t *testing.T) {
	text := strings.TrimSpace(string(readSample(t, "Certificates/cert.pem")))
	der, _ := base64.StdEncoding.DecodeString(text)
	var wrapped strings.Builder
	for i := 0; i < len(text); i += 64 {
		wrapped.WriteString(text[i:min(i+64, len(text))] + "\r\n")
	}
	forms := map[string][]byte{
		"PEM":                 pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"bare base64":         []byte(text),
		"bare base64 newline": []byte(text + "\n"),
		"wrapped base64":      []byte(wrapped.String()),
		"binarySecurityToken": []byte(base64.StdEncoding.EncodeToString([]byte(text))),
		"base64 of PEM":       []byte(base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		"DER":                 der,
	}
	for name, in := range forms {
		c, err := cert.ParsePEMOrBase64(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.Base64() != text {
			t.Errorf("%s: wrong certificate", name)
		}
	}
	bad := map[string][]byte{
		"empty":          nil,
		"PEM key":        pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"two PEM blocks": append(forms["PEM"], forms["PEM"]...),
		"not base64":     []byte("hello, world"),
		"base64 garbage": []byte(base64.StdEncoding.EncodeToString([]byte("hello, world"))),
	}
	for name, in := range bad {
		if _, err := cert.ParsePEMOrBase64(in); !errors.Is(err, cert.ErrEncoding) {
			t.Errorf("%s: got %v, want ErrEncoding", name, err)
		}
	}
	if _, err := cert.ParsePEMOrBase64(der[:len(der)-1]); !errors.Is(err, cert.ErrMalformed) {
		t.Errorf("truncated DER: got %v, want ErrMalformed", err)
	}
}

func TestParseMalformed(t *testing.T) {
	der, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(readSample(t, "Certificates/cert.pem"))))
	mut := func(f func([]byte) []byte) []byte { return f(bytes.Clone(der)) }
	tests := map[string][]byte{
		"empty":            {},
		"trailing byte":    append(bytes.Clone(der), 0),
		"truncated":        der[:100],
		"not a SEQUENCE":   mut(func(b []byte) []byte { b[0] = 0x31; return b }),
		"bad inner length": mut(func(b []byte) []byte { b[6]++; return b }),
	}
	for name, in := range tests {
		if _, err := cert.Parse(in); !errors.Is(err, cert.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	// Every single-byte truncation is rejected without panicking.
	for n := 0; n < len(der); n++ {
		if _, err := cert.Parse(der[:n]); err == nil {
			t.Fatalf("prefix of %d bytes parsed", n)
		}
	}
}

func TestJavaString(t *testing.T) {
	attr := func(oid []int, v string) cert.RDN { return cert.RDN{{Type: oid, Value: v}} }
	tests := []struct {
		name cert.Name
		want string
	}{
		{cert.Name{attr(cert.OIDDomainComponent, "local"), attr(cert.OIDCommonName, "CA")}, "CN=CA, DC=local"},
		{cert.Name{attr(cert.OIDCommonName, "a,b")}, `CN="a,b"`},
		{cert.Name{attr(cert.OIDCommonName, `say "hi"`)}, `CN="say \"hi\""`},
		{cert.Name{attr(cert.OIDCommonName, " lead")}, `CN=" lead"`},
		{cert.Name{attr(cert.OIDCommonName, "trail ")}, `CN="trail "`},
		{cert.Name{attr(cert.OIDCommonName, "two  spaces")}, `CN="two  spaces"`},
		{cert.Name{attr(cert.OIDOrganizationID, "399999999900003")}, "OID.2.5.4.97=399999999900003"},
		{cert.Name{{{Type: cert.OIDCommonName, Value: "x"}, {Type: cert.OIDOrganization, Value: "y"}}}, "CN=x + O=y"},
		{cert.Name{attr(cert.OIDCommonName, "شركة")}, "CN=شركة"},
	}
	for _, tt := range tests {
		if got := tt.name.JavaString(); got != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// zatcaCA returns a self-signed CA named like ZATCA's issuing CA.
func zatcaCA(t *testing.T, key crypto.Signer) (*cert.Certificate, []byte) {
	t.Helper()
	ia5 := func(oid []int, v string) cert.RDN { return cert.RDN{{Type: oid, Tag: cert.TagIA5String, Value: v}} }
	der, err := cert.Create(&cert.Template{
		SerialNumber: big.NewInt(1),
		Subject: cert.Name{ia5(cert.OIDDomainComponent, "local"), ia5(cert.OIDDomainComponent, "gov"),
			ia5(cert.OIDDomainComponent, "extgazt"), {{Type: cert.OIDCommonName, Tag: cert.TagPrintableString, Value: "PRZEINVOICESCA4-CA"}}},
		NotBefore: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC),
		PublicKey: key.Public(),
		IsCA:      true,
	}, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cert.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, der
}

func egsTemplate(pub crypto.PublicKey) *cert.Template {
	return &cert.Template{
		SerialNumber: new(big.Int).SetBytes([]byte{0x11, 0, 0, 0x38, 0x03, 0xc5, 0xf7}),
		Subject: cert.Name{
			{{Type: cert.OIDCountry, Tag: cert.TagPrintableString, Value: "SA"}},
			{{Type: cert.OIDOrganizationalUnit, Value: "Riyadh Branch"}},
			{{Type: cert.OIDOrganization, Value: "Maximum Speed Tech Supply LTD"}},
			{{Type: cert.OIDCommonName, Value: "TST-886431145-399999999900003"}},
		},
		NotBefore: time.Date(2024, 1, 11, 9, 19, 30, 0, time.UTC),
		NotAfter:  time.Date(2029, 1, 9, 9, 19, 30, 0, time.UTC),
		PublicKey: pub,
		SubjectAltName: &cert.SubjectAltName{
			SerialNumber: "1-TST|2-TST|3-ed22f1d8-e6a2-1118-9b58-d9a8f11e445f",
			VATNumber:    "399999999900003", InvoiceType: "0100", Location: "RRRD2929", Industry: "Supply activities",
		},
		TemplateName: "ZATCA-Code-Signing",
	}
}

func writePEM(t *testing.T, dir, name string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCreate issues ZATCA-shaped certificates for each combination of CA
// and subject curve, parses them back, checks the signature with our code
// and with openssl.
func TestCreate(t *testing.T) {
	p256CA, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256Leaf, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cases := []struct {
		name         string
		caKey        crypto.Signer
		leafPub      crypto.PublicKey
		wantSPKILen  int
		wantLeafType string
	}{
		{"secp256k1 CA, secp256k1 EGS", testKey("ca"), testKey("egs").Public(), 88, "*secp256k1.PublicKey"},
		{"secp256k1 CA, P-256 EGS", testKey("ca"), p256Leaf.Public(), 91, "*ecdsa.PublicKey"},
		{"P-256 CA, secp256k1 EGS", p256CA, testKey("egs").Public(), 88, "*secp256k1.PublicKey"},
		{"secp256k1 CA, ecdsa-form secp256k1 EGS", testKey("ca"), testKey("egs").k.PubKey().ToECDSA(), 88, "*secp256k1.PublicKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ca, caDER := zatcaCA(t, tc.caKey)
			if err := ca.CheckSignatureFrom(ca); err != nil {
				t.Fatalf("self-signed CA: %v", err)
			}
			if !ca.IsCA || ca.KeyUsage != cert.KeyUsageCertSign|cert.KeyUsageCRLSign {
				t.Errorf("CA flags %v %b", ca.IsCA, ca.KeyUsage)
			}
			tpl := egsTemplate(tc.leafPub)
			der, err := cert.Create(tpl, ca, tc.caKey)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := cert.Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := leaf.CheckSignatureFrom(ca); err != nil {
				t.Fatalf("CheckSignatureFrom: %v", err)
			}
			if leaf.IssuerName() != "CN=PRZEINVOICESCA4-CA, DC=extgazt, DC=gov, DC=local" {
				t.Errorf("issuer %q", leaf.IssuerName())
			}
			if leaf.SerialNumber.Cmp(tpl.SerialNumber) != 0 || !leaf.NotBefore.Equal(tpl.NotBefore) || !leaf.NotAfter.Equal(tpl.NotAfter) {
				t.Errorf("serial/validity %v %v %v", leaf.SerialNumber, leaf.NotBefore, leaf.NotAfter)
			}
			if *leaf.SubjectAltName != *tpl.SubjectAltName || leaf.TemplateName != "ZATCA-Code-Signing" {
				t.Errorf("SAN %+v template %q", leaf.SubjectAltName, leaf.TemplateName)
			}
			if len(leaf.SPKI) != tc.wantSPKILen || fmt.Sprintf("%T", leaf.PublicKey) != tc.wantLeafType {
				t.Errorf("SPKI %d bytes, key %T", len(leaf.SPKI), leaf.PublicKey)
			}
			if leaf.KeyUsage != cert.KeyUsageDigitalSignature || leaf.IsCA || !leaf.BasicConstraintsValid ||
				len(leaf.ExtKeyUsage) != 2 || !bytes.Equal(leaf.AuthorityKeyID, ca.SubjectKeyID) {
				t.Errorf("extensions: KU %b CA %v EKU %v AKI %x", leaf.KeyUsage, leaf.IsCA, leaf.ExtKeyUsage, leaf.AuthorityKeyID)
			}
			if leaf.SubjectName() != "CN=TST-886431145-399999999900003, O=Maximum Speed Tech Supply LTD, OU=Riyadh Branch, C=SA" {
				t.Errorf("subject %q", leaf.SubjectName())
			}

			dir := t.TempDir()
			caPath, leafPath := writePEM(t, dir, "ca.pem", caDER), writePEM(t, dir, "leaf.pem", der)
			txt := run(t, "openssl", "x509", "-in", leafPath, "-noout", "-text")
			for _, want := range []string{
				"Issuer: DC = local, DC = gov, DC = extgazt, CN = PRZEINVOICESCA4-CA",
				"Subject: C = SA, OU = Riyadh Branch, O = Maximum Speed Tech Supply LTD, CN = TST-886431145-399999999900003",
				"Signature Algorithm: ecdsa-with-SHA256",
				"DirName:/SN=1-TST|2-TST|3-ed22f1d8-e6a2-1118-9b58-d9a8f11e445f/UID=399999999900003/title=0100/registeredAddress=RRRD2929/businessCategory=Supply activities",
				"Code Signing, TLS Web Client Authentication",
				"Digital Signature",
			} {
				if !strings.Contains(txt, want) {
					t.Errorf("openssl x509 -text lacks %q:\n%s", want, txt)
				}
			}
			run(t, "openssl", "verify", "-CAfile", caPath, "-purpose", "any", leafPath)
		})
	}
}

// TestCreateGolden pins the bytes of a certificate issued with fixed
// secp256k1 keys (RFC 6979 signatures are deterministic).
func TestCreateGolden(t *testing.T) {
	caKey := testKey("ca")
	ca, caDER := zatcaCA(t, caKey)
	der, err := cert.Create(egsTemplate(testKey("egs").Public()), ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	got := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	p := filepath.Join("testdata", "issued.pem")
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
		t.Errorf("issued certificates differ from %s", p)
	}
}

func TestCheckSignatureFromFailures(t *testing.T) {
	caKey := testKey("ca")
	ca, _ := zatcaCA(t, caKey)
	der, err := cert.Create(egsTemplate(testKey("egs").Public()), ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte of the CN inside tbsCertificate.
	bad := bytes.Replace(der, []byte("TST-886431145"), []byte("TST-886431146"), 1)
	leaf, err := cert.Parse(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.CheckSignatureFrom(ca); !errors.Is(err, cert.ErrBadSignature) {
		t.Errorf("tampered: got %v, want ErrBadSignature", err)
	}
	otherCA, _ := zatcaCA(t, testKey("other CA"))
	good, _ := cert.Parse(der)
	if err := good.CheckSignatureFrom(otherCA); !errors.Is(err, cert.ErrBadSignature) {
		t.Errorf("other CA with the same name: got %v, want ErrBadSignature", err)
	}
	sdk := mustParseText(t, readSample(t, "Certificates/cert.pem"))
	if err := good.CheckSignatureFrom(sdk); !errors.Is(err, cert.ErrBadSignature) {
		t.Errorf("wrong issuer name: got %v, want ErrBadSignature", err)
	}
	if err := good.CheckSignatureFrom(nil); err == nil {
		t.Error("nil parent accepted")
	}
}

func TestCreateErrors(t *testing.T) {
	caKey := testKey("ca")
	ca, _ := zatcaCA(t, caKey)
	tests := map[string]func(*cert.Template){
		"no serial":        func(tp *cert.Template) { tp.SerialNumber = nil },
		"zero serial":      func(tp *cert.Template) { tp.SerialNumber = big.NewInt(0) },
		"negative serial":  func(tp *cert.Template) { tp.SerialNumber = big.NewInt(-5) },
		"21-byte serial":   func(tp *cert.Template) { tp.SerialNumber = new(big.Int).Lsh(big.NewInt(1), 164) },
		"no subject":       func(tp *cert.Template) { tp.Subject = nil },
		"empty RDN":        func(tp *cert.Template) { tp.Subject = cert.Name{{}} },
		"bad printable":    func(tp *cert.Template) { tp.Subject[0][0].Value = "S@" },
		"bad UTF-8":        func(tp *cert.Template) { tp.Subject[3][0].Value = "\xff" },
		"no validity":      func(tp *cert.Template) { tp.NotAfter = time.Time{} },
		"inverted":         func(tp *cert.Template) { tp.NotAfter = tp.NotBefore.Add(-time.Hour) },
		"no key":           func(tp *cert.Template) { tp.PublicKey = nil },
		"empty SAN field":  func(tp *cert.Template) { tp.SubjectAltName.VATNumber = "" },
		"duplicate extra":  func(tp *cert.Template) { tp.ExtraExtensions = []cert.Extension{{ID: cert.OIDExtKeyUsage}} },
		"bad template str": func(tp *cert.Template) { tp.TemplateName = "\xff" },
	}
	for name, mutate := range tests {
		tp := egsTemplate(testKey("egs").Public())
		mutate(tp)
		if _, err := cert.Create(tp, ca, caKey); !errors.Is(err, cert.ErrInvalidTemplate) {
			t.Errorf("%s: got %v, want ErrInvalidTemplate", name, err)
		}
	}
	tp := egsTemplate(testKey("egs").Public())
	if _, err := cert.Create(tp, ca, testKey("not the CA")); !errors.Is(err, cert.ErrInvalidTemplate) {
		t.Errorf("wrong issuer key: %v", err)
	}
	if _, err := cert.Create(tp, nil, caKey); !errors.Is(err, cert.ErrInvalidTemplate) {
		t.Errorf("self-signed with a foreign key: %v", err)
	}
	rsaLike := struct{ crypto.PublicKey }{}
	tp.PublicKey = rsaLike
	if _, err := cert.Create(tp, ca, caKey); !errors.Is(err, cert.ErrUnsupported) {
		t.Errorf("unsupported subject key: %v", err)
	}
	tp = egsTemplate(testKey("egs").Public())
	if _, err := cert.Create(tp, ca, brokenSigner{caKey}); !errors.Is(err, cert.ErrBadSignature) {
		t.Errorf("signer returning garbage: %v", err)
	}
}

// brokenSigner returns a signature that does not verify.
type brokenSigner struct{ k1Signer }

func (b brokenSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	d := bytes.Clone(digest)
	d[0] ^= 0xff
	return b.k1Signer.Sign(r, d, opts)
}

func TestPublicKeys(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, err := cert.MarshalPKIXPublicKey(p256.Public())
	if err != nil || len(spki) != 91 {
		t.Fatalf("P-256 SPKI %d bytes, %v", len(spki), err)
	}
	pub, curve, err := cert.ParsePKIXPublicKey(spki)
	if err != nil || curve != cert.P256 || !pub.(*ecdsa.PublicKey).Equal(p256.Public()) {
		t.Fatalf("P-256 round trip: %v %v", curve, err)
	}
	digest := sha256.Sum256([]byte("x"))
	sig, _ := ecdsa.SignASN1(rand.Reader, p256, digest[:])
	if !cert.VerifySignature(pub, digest[:], sig) || cert.VerifySignature(testKey("a").Public(), digest[:], sig) {
		t.Error("P-256 VerifySignature")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := cert.MarshalPKIXPublicKey(p384.Public()); !errors.Is(err, cert.ErrUnsupported) {
		t.Errorf("P-384: %v", err)
	}
	if cert.VerifySignature(p384.Public(), digest[:], sig) || cert.VerifySignature(nil, digest[:], sig) {
		t.Error("VerifySignature accepted an unsupported key")
	}
	p384spki := run(t, "sh", "-c", "openssl ecparam -name secp384r1 -genkey | openssl pkey -pubout")
	blk, _ := pem.Decode([]byte(p384spki))
	if _, _, err := cert.ParsePKIXPublicKey(blk.Bytes); !errors.Is(err, cert.ErrUnsupported) {
		t.Errorf("P-384 SPKI: %v", err)
	}
	// A secp256k1 point that is not on the curve.
	good, _ := cert.MarshalPKIXPublicKey(testKey("a").Public())
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	if _, _, err := cert.ParsePKIXPublicKey(bad); !errors.Is(err, cert.ErrMalformed) {
		t.Errorf("off-curve point: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"Certificates/cert.pem", "ApiExamples/compliance-csid-response-example.cert.pem"} {
		c, err := cert.ParsePEMOrBase64(readSample(f, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c.Raw)
	}
	issued, _ := os.ReadFile(filepath.Join("testdata", "issued.pem"))
	for rest := issued; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		f.Add(b.Bytes)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := cert.Parse(der)
		if err != nil {
			if !errors.Is(err, cert.ErrMalformed) && !errors.Is(err, cert.ErrUnsupported) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if !bytes.Equal(c.Raw, der) || c.SerialNumber == nil || c.PublicKey == nil {
			t.Fatal("accepted certificate is incomplete")
		}
		_ = c.IssuerName()
		_ = c.CheckSignatureFrom(c)
		again, err := cert.ParsePEMOrBase64([]byte(c.Base64()))
		if err != nil || !bytes.Equal(again.Raw, der) {
			t.Fatalf("base64 round trip: %v", err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	c, err := cert.ParsePEMOrBase64(readSample(b, "Certificates/cert.pem"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cert.Parse(c.Raw); err != nil {
			b.Fatal(err)
		}
	}
}
