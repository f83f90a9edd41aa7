package sqlite

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/posagent/posagent/store"
)

// A document's signed XML and QR are stored as one payload: DEFLATE
// (RFC 1951) of uvarint(len(XML)) || XML || QR, with a preset dictionary.
// A signed invoice is 8–16 KB of mostly fixed markup, and its QR text is
// repeated inside it; compressed against a sample invoice the payload is
// about 2 KB, which keeps a sale's disk writes (WAL and checkpoint) small:
// POS terminals write to flash.
//
// The dictionary is part of the on-disk format: codecDeflateV1 must
// always decode with exactly these bytes. A better dictionary is a new
// codec number, never an edit of this file.
const (
	codecDeflateV1 = 1
	flateLevel     = 3 // with the dictionary: as small as 6, a third of the time
)

//go:embed dict/invoice-v1.xml
var dictV1 []byte

// dictV1SHA256 pins the dictionary: a changed file would make old rows
// undecodable, so Open refuses to run with it.
const dictV1SHA256 = "14793a585bfdfde73f290c7dc87b05df38be7b8a1535ea366f77425c0336508b"

func checkDictionary() error {
	sum := sha256.Sum256(dictV1)
	if hex.EncodeToString(sum[:]) != dictV1SHA256 {
		return fmt.Errorf("dict/invoice-v1.xml was changed (SHA-256 %x); it is part of the on-disk format", sum)
	}
	return nil
}

var writers = sync.Pool{New: func() any {
	w, err := flate.NewWriterDict(io.Discard, flateLevel, dictV1)
	if err != nil {
		panic(err) // only for an invalid level, a constant
	}
	return w
}}

var readers = sync.Pool{New: func() any {
	return flate.NewReaderDict(bytes.NewReader(nil), dictV1)
}}

// encodePayload compresses a document's XML and QR.
func encodePayload(xml []byte, qr string) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(xml)/4 + 64)
	w := writers.Get().(*flate.Writer)
	defer writers.Put(w)
	w.Reset(&buf)
	var n [binary.MaxVarintLen64]byte
	if _, err := w.Write(n[:binary.PutUvarint(n[:], uint64(len(xml)))]); err != nil {
		return nil, err
	}
	if _, err := w.Write(xml); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, qr); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodePayload reverses encodePayload.
func decodePayload(codec int64, payload []byte, xmlLen int64) (xml []byte, qr string, err error) {
	if codec != codecDeflateV1 {
		return nil, "", fmt.Errorf("unknown payload codec %d", codec)
	}
	r := readers.Get().(io.ReadCloser)
	defer readers.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(payload), dictV1); err != nil {
		return nil, "", err
	}
	var out bytes.Buffer
	out.Grow(int(min(max(xmlLen, 0), 64<<10)) + store.MaxQRLength + binary.MaxVarintLen64)
	if _, err := io.Copy(&out, io.LimitReader(r, store.MaxXMLBytes+store.MaxQRLength+binary.MaxVarintLen64+1)); err != nil {
		return nil, "", fmt.Errorf("inflate payload: %w", err)
	}
	b := out.Bytes()
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, "", fmt.Errorf("payload framing: bad XML length")
	}
	if int64(n) != xmlLen {
		return nil, "", fmt.Errorf("payload framing: XML is %d bytes, row says %d", n, xmlLen)
	}
	return b[k : k+int(n)], string(b[k+int(n):]), nil
}

// rowSum is the checksum of a document row: hex SHA-256 of the canonical
// bytes of every immutable column (the XML by its SHA-256). Verify
// recomputes it, so an edit of any column shows even when the invoice hash
// and the chain still agree.
func rowSum(d *store.Document, xmlSHA256 string) string {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint32(n[:4], uint32(len(s)))
		h.Write(n[:4])
		io.WriteString(h, s)
	}
	u64 := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	field("posagent.document.v1")
	u64(d.ICV)
	u64(uint64(d.IssuedAt.UnixNano()))
	u64(uint64(d.JournaledAt.UnixNano()))
	fp := uint64(0)
	if d.FailurePeriod {
		fp = 1
	}
	u64(fp)
	u64(uint64(len(d.XML)))
	for _, s := range []string{d.UUID, d.IdempotencyKey, string(d.Type), d.TypeName, d.IRN, d.Hash, d.PIH,
		d.SellerVAT, d.TaxExclusive, d.VATTotal, d.TaxInclusive, d.BillingReference, d.SupplyDate, xmlSHA256, d.QR} {
		field(s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
