package sqlite

import (
	"bytes"
	"os"
	"testing"
)

const sampleInvoice = "../../testdata/zatca/Samples/Simplified/Invoice/Simplified Tax Invoice with Zero Rated Item.xml"

func TestPayloadRoundTrip(t *testing.T) {
	xml, err := os.ReadFile(sampleInvoice)
	if err != nil {
		t.Fatal(err)
	}
	qr := "AQVTZWxsZXI="
	p, err := encodePayload(xml, qr)
	if err != nil {
		t.Fatal(err)
	}
	gotXML, gotQR, err := decodePayload(codecDeflateV1, p, int64(len(xml)))
	if err != nil || !bytes.Equal(gotXML, xml) || gotQR != qr {
		t.Fatalf("round trip: %v, XML equal %v, QR %q", err, bytes.Equal(gotXML, xml), gotQR)
	}
	t.Logf("%d bytes of XML stored in %d", len(xml), len(p))
	if _, _, err := decodePayload(codecDeflateV1, p, int64(len(xml))+1); err == nil {
		t.Fatal("a wrong xml_len decodes")
	}
	if _, _, err := decodePayload(2, p, int64(len(xml))); err == nil {
		t.Fatal("an unknown codec decodes")
	}
	if _, _, err := decodePayload(codecDeflateV1, p[:len(p)/2], int64(len(xml))); err == nil {
		t.Fatal("a truncated payload decodes")
	}
	if err := checkDictionary(); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecodePayload: a damaged payload column is an error, never a panic.
func FuzzDecodePayload(f *testing.F) {
	xml, err := os.ReadFile(sampleInvoice)
	if err != nil {
		f.Fatal(err)
	}
	p, err := encodePayload(xml, "QR")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p, int64(len(xml)))
	f.Add([]byte{0x01, 0x02}, int64(3))
	f.Fuzz(func(t *testing.T, payload []byte, xmlLen int64) {
		x, _, err := decodePayload(codecDeflateV1, payload, xmlLen)
		if err == nil && int64(len(x)) != xmlLen {
			t.Fatalf("decoded %d bytes of XML, row says %d", len(x), xmlLen)
		}
	})
}

// BenchmarkEncodePayload: compression cost and size of one document.
func BenchmarkEncodePayload(b *testing.B) {
	xml, err := os.ReadFile(sampleInvoice)
	if err != nil {
		b.Fatal(err)
	}
	var n int
	b.SetBytes(int64(len(xml)))
	for b.Loop() {
		p, err := encodePayload(xml, "")
		if err != nil {
			b.Fatal(err)
		}
		n = len(p)
	}
	b.ReportMetric(float64(n), "stored-B")
}
