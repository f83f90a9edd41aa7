package fatoorasim_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/hsm/softkey"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
)

// testVAT is the VAT number of the test seller (testdata/seller.json).
const testVAT = "399999999900003"

// initialPIH is base64(hex(SHA-256("0"))).
const initialPIH = "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ=="

// sim is a simulator served over real HTTP on 127.0.0.1 with a client pointed at it.
type sim struct {
	srv    *fatoorasim.Server
	http   *httptest.Server
	client *zatca.Client
	dir    string
}

type simOption func(*fatoorasim.Options)

func startSim(t testing.TB, opts ...simOption) *sim {
	t.Helper()
	o := fatoorasim.DefaultOptions()
	o.Dir = t.TempDir()
	o.Logger = testLogger(t)
	for _, f := range opts {
		f(&o)
	}
	return startSimIn(t, o)
}

func startSimIn(t testing.TB, o fatoorasim.Options) *sim {
	t.Helper()
	srv, err := fatoorasim.New(o)
	if err != nil {
		t.Fatalf("fatoorasim.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler()) // listens on 127.0.0.1:0
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	cfg := zatca.DefaultConfig()
	cfg.Environment = zatca.Custom
	cfg.BaseURL = hs.URL
	cfg.Timeout = 10 * time.Second
	cl, err := zatca.New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("zatca.New: %v", err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return &sim{srv: srv, http: hs, client: cl, dir: o.Dir}
}

// clientWithTimeout returns another client to the same simulator.
func (s *sim) clientWithTimeout(t testing.TB, d time.Duration) *zatca.Client {
	t.Helper()
	cfg := zatca.DefaultConfig()
	cfg.Environment = zatca.Custom
	cfg.BaseURL = s.http.URL
	cfg.Timeout = d
	cl, err := zatca.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// egs is an EGS unit under test: its key, CSR configuration, credentials and chain.
type egs struct {
	key    *softkey.Key
	cfg    csr.Config
	seller *invoice.Seller

	compliance   zatca.Credentials
	complianceID string
	production   zatca.Credentials
	signCert     *cert.Certificate // the certificate documents are signed with

	icv uint64
	pih string
	// standard makes doc write a standard tax invoice (transaction code 0100000).
	standard bool
}

func newEGS(t testing.TB, invoiceType string) *egs {
	t.Helper()
	key, err := softkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { key.Close() })
	sellerJSON := readRepoFile(t, "testdata/seller.json")
	seller, err := invoice.DecodeSeller(sellerJSON)
	if err != nil {
		t.Fatalf("seller: %v", err)
	}
	return &egs{
		key: key,
		cfg: csr.Config{
			CommonName:             "TST-886431145-" + testVAT,
			SerialNumber:           "1-posagent|2-test|3-" + randomUUID(t),
			OrganizationIdentifier: testVAT,
			OrganizationUnit:       "Riyadh Branch",
			Organization:           "Maximum Speed Tech Supply LTD",
			Country:                "SA",
			InvoiceType:            invoiceType,
			Location:               "RRRD2929",
			Industry:               "Supply activities",
			Environment:            csr.Simulation,
		},
		seller: seller,
		icv:    0,
		pih:    initialPIH,
	}
}

// csrPEM makes a CSR for the EGS's current key.
func (e *egs) csrPEM(t testing.TB) []byte {
	t.Helper()
	der, err := csr.Create(e.cfg, e.key)
	if err != nil {
		t.Fatalf("csr.Create: %v", err)
	}
	return csr.PEM(der)
}

// useCredentials parses the certificate of creds and signs with it from now on.
func (e *egs) useCredentials(t testing.TB, creds zatca.Credentials) {
	t.Helper()
	der, err := creds.CertificateDER()
	if err != nil {
		t.Fatal(err)
	}
	c, err := cert.Parse(der)
	if err != nil {
		t.Fatalf("parse issued certificate: %v", err)
	}
	e.signCert = c
}

// doc builds and signs the next document of the chain from a sale fixture, issued at
// the given time.
func (e *egs) doc(t testing.TB, saleFile string, issued time.Time) zatca.Document {
	t.Helper()
	return e.docWith(t, saleFile, issued, nil)
}

// docWith is doc with the unsigned XML changed by mutate before signing.
func (e *egs) docWith(t testing.TB, saleFile string, issued time.Time, mutate func([]byte) []byte) zatca.Document {
	t.Helper()
	sale, err := invoice.DecodeSale(readRepoFile(t, filepath.Join("testdata/sales", saleFile)))
	if err != nil {
		t.Fatalf("sale %s: %v", saleFile, err)
	}
	d, err := invoice.Compute(sale, e.seller)
	if err != nil {
		t.Fatalf("compute %s: %v", saleFile, err)
	}
	e.icv++
	uuid := randomUUID(t)
	unsigned, err := ubl.Build(d, ubl.Header{IRN: fmt.Sprintf("SME%05d", e.icv), UUID: uuid, ICV: e.icv, PIH: e.pih, Issued: issued})
	if err != nil {
		t.Fatalf("ubl.Build: %v", err)
	}
	if e.standard {
		unsigned = bytes.Replace(unsigned, []byte(`name="0200000"`), []byte(`name="0100000"`), 1)
	}
	if mutate != nil {
		changed := mutate(unsigned)
		if bytes.Equal(changed, unsigned) {
			t.Fatalf("mutation changed nothing in %s", saleFile)
		}
		unsigned = changed
	}
	signed, err := ubl.Sign(unsigned, e.key, e.signCert, issued)
	if err != nil {
		t.Fatalf("ubl.Sign: %v", err)
	}
	e.pih = signed.Hash
	return zatca.Document{UUID: uuid, InvoiceHash: signed.Hash, XML: signed.XML}
}

// onboard runs the whole onboarding: OTP → compliance CSID → the compliance documents
// for the title flags → production CSID.
func (e *egs) onboard(t testing.TB, s *sim) {
	t.Helper()
	ctx := context.Background()
	otps, err := s.srv.GenerateOTPs(ctx, e.cfg.OrganizationIdentifier, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.client.ComplianceCSID(ctx, otps[0].Code, e.csrPEM(t))
	if err != nil {
		t.Fatalf("compliance CSID: %v", err)
	}
	e.compliance, e.complianceID = res.Credentials, res.RequestID
	e.useCredentials(t, res.Credentials)
	e.passCompliance(t, s, e.compliance)
	pres, err := s.client.ProductionCSID(ctx, e.compliance, e.complianceID)
	if err != nil {
		t.Fatalf("production CSID: %v", err)
	}
	e.production = pres.Credentials
	e.useCredentials(t, pres.Credentials)
}

// passCompliance submits the simplified 388, 381 and 383 (signed with the compliance
// certificate) and fails the test unless each passes.
func (e *egs) passCompliance(t testing.TB, s *sim, creds zatca.Credentials) {
	t.Helper()
	for _, f := range []string{"01-cash-single-line.json", "09-credit-note.json", "10-debit-note.json"} {
		res, err := s.client.ComplianceCheck(context.Background(), creds, e.doc(t, f, time.Now()))
		if err != nil {
			t.Fatalf("compliance check %s: %v", f, err)
		}
		if !res.Passed || res.ReportingStatus != "REPORTED" {
			t.Fatalf("compliance check %s: HTTP %d, %+v", f, res.HTTPStatus, res.ValidationResults)
		}
	}
}

func readRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomUUID(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func codes(v zatca.ValidationResults) []string {
	var out []string
	for _, m := range v.Errors {
		out = append(out, "E:"+m.Code)
	}
	for _, m := range v.Warnings {
		out = append(out, "W:"+m.Code)
	}
	return out
}

// rotateKey gives the EGS a new key (renewal needs one); the certificate is set when
// the new credentials arrive.
func (e *egs) rotateKey(t testing.TB) {
	t.Helper()
	key, err := softkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { key.Close() })
	e.key = key
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// docBody is the JSON body of reporting, clearance and compliance checks.
func docBody(d zatca.Document) string {
	b, _ := json.Marshal(map[string]string{
		"invoiceHash": d.InvoiceHash,
		"uuid":        d.UUID,
		"invoice":     base64.StdEncoding.EncodeToString(d.XML),
	})
	return string(b)
}

// rawRequestAuth posts a document with Basic auth, bypassing the client's headers.
func rawRequestAuth(t testing.TB, s *sim, path string, headers map[string]string, creds zatca.Credentials, d zatca.Document) rawReply {
	t.Helper()
	h := map[string]string{"Authorization": "Basic " + b64(creds.Token+":"+creds.Secret)}
	for k, v := range headers {
		h[k] = v
	}
	return rawPost(t, s, path, h, docBody(d))
}

// standardDoc is doc with the transaction code of a standard tax invoice (0100000).
func (e *egs) standardDoc(t testing.TB, saleFile string, issued time.Time) zatca.Document {
	t.Helper()
	e.standard = true
	defer func() { e.standard = false }()
	return e.doc(t, saleFile, issued)
}

func newP256Signer(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
