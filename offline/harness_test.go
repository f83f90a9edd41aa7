package offline_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/posagent/posagent/agent"
	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/hsm/softkey"
	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/offlinetest"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/store"
	"github.com/posagent/posagent/store/sqlite"
)

// testVAT is the VAT number of testdata/seller.json, used in the CSR.
const testVAT = "399999999900003"

// repo is the repository root, relative to this package.
const repo = ".."

// t0 is when the fake-clock tests start.
var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, store.KSA)

// harness is one EGS unit against an in-process fatoora-sim served over
// real HTTP on 127.0.0.1, with a real SQLite journal.
type harness struct {
	t      testing.TB
	clock  *offlinetest.Clock // nil: the real clock
	sim    *fatoorasim.Server
	simDir string
	hs     *httptest.Server
	wire   *wireLog
	client *zatca.Client
	db     *sqlite.DB
	dbPath string
	seller *invoice.Seller
	stamp  agent.Stamp
	creds  zatca.Credentials // production CSID
	sales  []fixture
	rng    *rand.Rand
	seq    int
}

type fixture struct {
	name string
	doc  *invoice.Document
}

type harnessOptions struct {
	clock         *offlinetest.Clock
	clientTimeout time.Duration
	// simDir and dbPath reuse existing state (a copied backlog).
	simDir, dbPath string
	// noOnboard skips onboarding (the state already has a device).
	noOnboard bool
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, clock: o.clock, wire: newWireLog(), rng: rand.New(rand.NewPCG(1, 2))}
	h.seller = loadSeller(t)
	h.sales = loadSales(t, h.seller)

	h.simDir = o.simDir
	if h.simDir == "" {
		h.simDir = t.TempDir()
	}
	so := fatoorasim.DefaultOptions()
	so.Dir = h.simDir
	so.Logger = testLogger(t, "fatoorasim")
	if h.clock != nil {
		so.Now = h.clock.Now
	}
	srv, err := fatoorasim.New(so)
	if err != nil {
		t.Fatalf("fatoorasim.New: %v", err)
	}
	h.sim = srv
	h.hs = httptest.NewServer(h.wire.wrap(srv.Handler())) // 127.0.0.1
	t.Cleanup(func() {
		h.hs.CloseClientConnections()
		h.hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	timeout := o.clientTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	h.client = newClient(t, h.hs.URL, timeout)

	h.dbPath = o.dbPath
	if h.dbPath == "" {
		h.dbPath = filepath.Join(t.TempDir(), "journal.db")
	}
	h.db = openJournal(t, h.dbPath)
	if !o.noOnboard {
		h.onboard()
	}
	return h
}

func newClient(t testing.TB, url string, timeout time.Duration) *zatca.Client {
	t.Helper()
	cfg := zatca.DefaultConfig()
	cfg.Environment = zatca.Custom
	cfg.BaseURL = url
	cfg.Timeout = timeout
	c, err := zatca.New(cfg, testLogger(t, "zatca"))
	if err != nil {
		t.Fatalf("zatca.New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func openJournal(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	opts := sqlite.DefaultOptions()
	opts.Logger = testLogger(t, "journal")
	db, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("open journal: %v", err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

func (h *harness) now() time.Time {
	if h.clock != nil {
		return h.clock.Now()
	}
	return time.Now()
}

func loadSeller(t testing.TB) *invoice.Seller {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "testdata", "seller.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := invoice.DecodeSeller(b)
	if err != nil {
		t.Fatalf("seller: %v", err)
	}
	if s.VATNumber != testVAT {
		t.Fatalf("seller VAT %s, want %s", s.VATNumber, testVAT)
	}
	return s
}

// loadSales computes every valid sale fixture of testdata/sales.
func loadSales(t testing.TB, seller *invoice.Seller) []fixture {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(repo, "testdata", "sales", "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("sale fixtures: %v (%d)", err, len(names))
	}
	sort.Strings(names)
	var out []fixture
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		sale, err := invoice.DecodeSale(b)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		doc, err := invoice.Compute(sale, seller)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, fixture{name: filepath.Base(n), doc: doc})
	}
	return out
}

func (h *harness) fixture(name string) *invoice.Document {
	for _, f := range h.sales {
		if f.name == name {
			return f.doc
		}
	}
	h.t.Fatalf("no sale fixture %s", name)
	return nil
}

func (h *harness) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(h.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func parseCert(t testing.TB, c zatca.Credentials) *cert.Certificate {
	t.Helper()
	der, err := c.CertificateDER()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := cert.Parse(der)
	if err != nil {
		t.Fatalf("parse issued certificate: %v", err)
	}
	return pc
}

// onboard runs the EGS onboarding against the simulator: CSR (VAT
// 399999999900003) → portal OTP → compliance CSID → the simplified 388, 381
// and 383 compliance checks → production CSID.
func (h *harness) onboard() {
	t := h.t
	t.Helper()
	ctx := context.Background()
	key, err := softkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { key.Close() })
	cfg := csr.Config{
		CommonName:             "TST-886431145-" + testVAT,
		SerialNumber:           "1-posagent|2-offline-test|3-" + h.uuid(),
		OrganizationIdentifier: testVAT,
		OrganizationUnit:       h.seller.BranchName,
		Organization:           "Maximum Speed Tech Supply LTD",
		Country:                "SA",
		InvoiceType:            "0100",
		Location:               "RRRD2929",
		Industry:               h.seller.BranchIndustry,
		Environment:            csr.Simulation,
	}
	der, err := csr.Create(cfg, key)
	if err != nil {
		t.Fatalf("csr.Create: %v", err)
	}
	otps, err := h.sim.GenerateOTPs(ctx, testVAT, 1)
	if err != nil {
		t.Fatal(err)
	}
	cres, err := h.client.ComplianceCSID(ctx, otps[0].Code, csr.PEM(der))
	if err != nil {
		t.Fatalf("compliance CSID: %v", err)
	}
	stamp := agent.Stamp{Key: key, Cert: parseCert(t, cres.Credentials)}
	pih := store.GenesisPIH
	for i, name := range []string{"01-cash-single-line.json", "09-credit-note.json", "10-debit-note.json"} {
		uuid := h.uuid()
		signed, err := agent.Issue(h.fixture(name), ubl.Header{UUID: uuid, ICV: uint64(i + 1), PIH: pih,
			Issued: h.now().Truncate(time.Second)}, stamp)
		if err != nil {
			t.Fatalf("issue %s: %v", name, err)
		}
		pih = signed.Hash
		res, err := h.client.ComplianceCheck(ctx, cres.Credentials, zatca.Document{UUID: uuid, InvoiceHash: signed.Hash, XML: signed.XML})
		if err != nil {
			t.Fatalf("compliance check %s: %v", name, err)
		}
		if !res.Passed {
			t.Fatalf("compliance check %s: HTTP %d %+v", name, res.HTTPStatus, res.ValidationResults)
		}
	}
	pres, err := h.client.ProductionCSID(ctx, cres.Credentials, cres.RequestID)
	if err != nil {
		t.Fatalf("production CSID: %v", err)
	}
	h.creds = pres.Credentials
	h.stamp = agent.Stamp{Key: key, Cert: parseCert(t, pres.Credentials)}
}

// issue journals the next document (sale fixture i, cyclically) at the
// given time through the journal's Append, signing inside the transaction.
// tamper, when set, changes the signed bytes (a document ZATCA rejects).
func (h *harness) issue(i int, at time.Time, tamper func([]byte) []byte) *store.Document {
	h.t.Helper()
	f := h.sales[i%len(h.sales)]
	h.seq++
	key := fmt.Sprintf("offline-test-%06d", h.seq)
	uuid := h.uuid()
	d, existed, err := h.db.Append(context.Background(), key, at, func(_ context.Context, head store.Head) (*store.Document, error) {
		return buildDocument(f.doc, h.stamp, h.seller.VATNumber, head, at, uuid, tamper)
	})
	if err != nil || existed {
		h.t.Fatalf("append %s: existed=%v err=%v", f.name, existed, err)
	}
	return d
}

// buildDocument is the sale pipeline's build step: chain header from the
// head, agent.Issue, and the journal's view of the signed document.
func buildDocument(doc *invoice.Document, st agent.Stamp, vat string, head store.Head, at time.Time, uuid string,
	tamper func([]byte) []byte) (*store.Document, error) {
	issued := at.Truncate(time.Second)
	hdr := ubl.Header{UUID: uuid, ICV: head.ICV + 1, PIH: head.Hash, Issued: issued}
	irn := doc.RefNumber
	if irn == "" {
		irn = agent.DefaultIRN(doc.Type, hdr.ICV)
		hdr.IRN = irn
	}
	signed, err := agent.Issue(doc, hdr, st)
	if err != nil {
		return nil, err
	}
	xml := signed.XML
	if tamper != nil {
		xml = tamper(bytes.Clone(xml))
	}
	return &store.Document{
		ICV: hdr.ICV, UUID: uuid, Type: store.DocType(doc.Type), TypeName: doc.TransactionCode, IRN: irn,
		IssuedAt: issued, Hash: signed.Hash, PIH: head.Hash, XML: xml, QR: signed.QR, SellerVAT: vat,
		TaxExclusive: invoice.Amount(doc.Totals.TaxExclusive), VATTotal: invoice.Amount(doc.Totals.Tax),
		TaxInclusive: invoice.Amount(doc.Totals.TaxInclusive), BillingReference: doc.BillingReference,
		SupplyDate: doc.SupplyDate, FailurePeriod: doc.SupplyDate != "",
	}, nil
}

// config is a worker configuration for tests on the real clock: short
// backoffs.
func fastConfig() offline.Config {
	c := offline.DefaultConfig()
	c.RateLimit = 0
	c.RetryBase = 20 * time.Millisecond
	c.RetryMax = 200 * time.Millisecond
	c.ProbeInterval = 100 * time.Millisecond
	c.PollInterval = 50 * time.Millisecond
	return c
}

// newWorker builds a worker on the harness's journal and simulator.
func (h *harness) newWorker(cfg offline.Config, creds offline.CredentialsFunc) *offline.Worker {
	h.t.Helper()
	if creds == nil {
		creds = offline.StaticCredentials(h.creds)
	}
	up, err := offline.NewZATCAUploader(h.client, creds)
	if err != nil {
		h.t.Fatal(err)
	}
	o := offline.Options{Config: cfg, Store: h.db, Uploader: up, Logger: testLogger(h.t, "uploader")}
	if h.clock != nil {
		o.Clock = h.clock
	}
	w, err := offline.New(o)
	if err != nil {
		h.t.Fatal(err)
	}
	return w
}

// start runs w until the returned stop is called (or the test ends).
func start(t testing.TB, w *offline.Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run returned %v, want context.Canceled", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond (real time) until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) stats() store.OutboxStats {
	h.t.Helper()
	s, err := h.db.Stats(context.Background(), h.now())
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// due reports whether a document is due now (cheap: one indexed row).
func (h *harness) due() bool {
	h.t.Helper()
	docs, err := h.db.Pending(context.Background(), h.now(), 1)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(docs) > 0
}

// allFinal reports whether every document's report is final.
func (h *harness) allFinal() bool {
	h.t.Helper()
	docs, err := h.db.Pending(context.Background(), h.now().AddDate(100, 0, 0), 1)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(docs) == 0
}

func (h *harness) allDocs() []*store.Document {
	h.t.Helper()
	docs, err := h.db.List(context.Background(), store.Range{})
	if err != nil {
		h.t.Fatal(err)
	}
	return docs
}

func (h *harness) attempts(uuid string) []store.Attempt {
	h.t.Helper()
	as, err := h.db.Attempts(context.Background(), uuid)
	if err != nil {
		h.t.Fatal(err)
	}
	return as
}

// checkReportedOnce checks that every journaled document has a final
// accepting outcome and that the simulator accepted each exactly once.
func (h *harness) checkReportedOnce(docs []*store.Document) {
	h.t.Helper()
	acc, err := h.sim.Acceptances(context.Background(), "reporting")
	if err != nil {
		h.t.Fatal(err)
	}
	for _, d := range docs {
		switch d.Report.Status {
		case store.OutcomeReported, store.OutcomeReportedWithWarnings, store.OutcomeAlreadyReported:
		default:
			h.t.Errorf("ICV %d: report status %s, want reported", d.ICV, d.Report.Status)
		}
		if n := acc[d.UUID]; n != 1 {
			h.t.Errorf("ICV %d: the simulator accepted it %d times, want 1", d.ICV, n)
		}
	}
	if len(acc) != len(docs) {
		h.t.Errorf("the simulator accepted %d documents, the journal has %d", len(acc), len(docs))
	}
}

// ---------------------------------------------------------------------------
// wire log: what reached the simulator, per UUID

type wireLog struct {
	mu      sync.Mutex
	reports map[string]*wireEntry
	total   int
}

type wireEntry struct {
	requests int
	bodies   map[string]int // SHA-256 of the submitted XML → requests
	statuses []int          // 0: connection dropped
}

func newWireLog() *wireLog { return &wireLog{reports: map[string]*wireEntry{}} }

func (l *wireLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/invoices/reporting/single") {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var b struct {
			UUID    string `json:"uuid"`
			Invoice string `json:"invoice"`
		}
		_ = json.Unmarshal(body, &b)
		xml, _ := base64.StdEncoding.DecodeString(b.Invoice)
		sum := sha256.Sum256(xml)
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		defer l.mu.Unlock()
		e := l.reports[b.UUID]
		if e == nil {
			e = &wireEntry{bodies: map[string]int{}}
			l.reports[b.UUID] = e
		}
		e.requests++
		e.bodies[hex.EncodeToString(sum[:])]++
		e.statuses = append(e.statuses, rec.status)
		l.total++
	})
}

func (l *wireLog) entry(uuid string) wireEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.reports[uuid]; e != nil {
		c := *e
		c.statuses = append([]int(nil), e.statuses...)
		return c
	}
	return wireEntry{}
}

func (l *wireLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("not a hijacker")
	}
	return hj.Hijack()
}

// ---------------------------------------------------------------------------
// logs

func testLogger(t testing.TB, name string) *slog.Logger {
	if !testing.Verbose() || os.Getenv("OFFLINE_TEST_LOGS") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("sys", name)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
