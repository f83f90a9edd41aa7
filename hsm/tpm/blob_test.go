package tpm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/posagent/posagent/hsm"
)

func sampleBlobs() []*blob {
	sealedPub := tpm2.New2B(tpm2.TPMTPublic{
		Type:             tpm2.TPMAlgKeyedHash,
		NameAlg:          tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, NoDA: true},
		AuthPolicy:       tpm2.TPM2BDigest{Buffer: bytes.Repeat([]byte{7}, 32)},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{Buffer: bytes.Repeat([]byte{9}, 32)}),
	})
	priv := tpm2.TPM2BPrivate{Buffer: bytes.Repeat([]byte{0xa5}, 158)}
	pub33 := append([]byte{2}, bytes.Repeat([]byte{3}, 32)...)
	return []*blob{
		{kind: kindSealedSecp256k1, salt: [16]byte{1}, pcrMask: 1 << 16, public: sealedPub, private: priv, secpPub: pub33},
		{kind: kindNativeP256, da: true, salt: [16]byte{2}, public: tpm2.New2B(p256Template(true)), private: priv},
		{kind: kindSealedSecret, salt: [16]byte{3}, public: sealedPub, private: priv, nonce: make([]byte, 12), ciphertext: []byte("ciphertext and tag")},
	}
}

func TestBlobRoundTrip(t *testing.T) {
	for _, b := range sampleBlobs() {
		data := b.marshal()
		got, err := parseBlob(data)
		if err != nil {
			t.Fatalf("%v: %v", b.kind, err)
		}
		if !bytes.Equal(got.marshal(), data) {
			t.Fatalf("%v: round trip changed the bytes", b.kind)
		}
		if got.kind != b.kind || got.da != b.da || got.salt != b.salt || got.pcrMask != b.pcrMask ||
			!bytes.Equal(got.secpPub, b.secpPub) || !bytes.Equal(got.ciphertext, b.ciphertext) {
			t.Fatalf("%v: fields differ", b.kind)
		}
		// Every truncation and every single-bit flip is refused as corrupt.
		for i := 0; i < len(data); i++ {
			if _, err := parseBlob(data[:i]); !errors.Is(err, hsm.ErrCorrupt) {
				t.Fatalf("%v truncated to %d: %v", b.kind, i, err)
			}
			flipped := bytes.Clone(data)
			flipped[i] ^= 0x10
			if _, err := parseBlob(flipped); !errors.Is(err, hsm.ErrCorrupt) {
				t.Fatalf("%v bit flip at %d: %v", b.kind, i, err)
			}
		}
	}
}

// FuzzParseBlob fuzzes the body of a blob and appends a valid checksum, so that the
// parser behind the checksum is what gets exercised.
func FuzzParseBlob(f *testing.F) {
	for _, b := range sampleBlobs() {
		data := b.marshal()
		f.Add(data[:len(data)-sha256.Size])
	}
	f.Add([]byte("PAHSMB"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		data := append(bytes.Clone(body), sum[:]...)
		b, err := parseBlob(data)
		if err != nil {
			if !errors.Is(err, hsm.ErrCorrupt) {
				t.Fatalf("error not classified as corrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(b.marshal(), data) {
			t.Fatal("accepted blob does not re-marshal to its bytes")
		}
	})
}
