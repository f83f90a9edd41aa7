package tpm

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"golang.org/x/crypto/cryptobyte"

	"github.com/posagent/posagent/hsm"
)

// blobKind says what a blob file holds.
type blobKind uint8

const (
	kindSealedSecp256k1 blobKind = 1 // keyedhash object sealing a secp256k1 scalar
	kindNativeP256      blobKind = 2 // TPM ECC P-256 signing key
	kindSealedSecret    blobKind = 3 // keyedhash object sealing an AES-256-GCM key, plus the ciphertext
)

func (k blobKind) String() string {
	switch k {
	case kindSealedSecp256k1:
		return "sealed secp256k1 key"
	case kindNativeP256:
		return "native P-256 key"
	case kindSealedSecret:
		return "sealed secret"
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// blob is the only thing a KeyStore writes to disk: public and (TPM-encrypted) private
// parts of one TPM object, plus what is needed to use it again. Nothing in it is secret
// without this TPM and the activation secret.
//
// File layout (big-endian):
//
//	"PAHSMB" | version=1 | kind | flags (bit0 = DA-protected)
//	salt [16] | PCR mask u32
//	u16-len TPM2B_PUBLIC | u16-len TPM2B_PRIVATE
//	kind 1: u8-len compressed secp256k1 public key
//	kind 3: u8-len GCM nonce | u32-len ciphertext
//	SHA-256 of everything above (corruption check; the TPM checks integrity itself)
type blob struct {
	kind    blobKind
	da      bool
	salt    [16]byte
	pcrMask uint32
	public  tpm2.TPM2BPublic
	private tpm2.TPM2BPrivate

	secpPub    []byte // kind 1: compressed public key, checked after unsealing
	nonce      []byte // kind 3
	ciphertext []byte // kind 3
}

var blobMagic = []byte("PAHSMB")

const blobVersion = 1

func (b *blob) marshal() []byte {
	var bb cryptobyte.Builder
	bb.AddBytes(blobMagic)
	bb.AddUint8(blobVersion)
	bb.AddUint8(uint8(b.kind))
	var flags uint8
	if b.da {
		flags |= 1
	}
	bb.AddUint8(flags)
	bb.AddBytes(b.salt[:])
	bb.AddUint32(b.pcrMask)
	bb.AddUint16LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(tpm2.Marshal(b.public)) })
	bb.AddUint16LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(tpm2.Marshal(b.private)) })
	switch b.kind {
	case kindSealedSecp256k1:
		bb.AddUint8LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(b.secpPub) })
	case kindSealedSecret:
		bb.AddUint8LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(b.nonce) })
		bb.AddUint32LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(b.ciphertext) })
	}
	body := bb.BytesOrPanic() // only fails on overlong fields, which marshal never builds
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

// parseBlob decodes a blob file. Every defect is an error wrapping hsm.ErrCorrupt.
func parseBlob(data []byte) (b *blob, err error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("blob: %s: %w", fmt.Sprintf(format, args...), hsm.ErrCorrupt)
	}
	if len(data) < len(blobMagic)+sha256.Size {
		return nil, corrupt("%d bytes is too short", len(data))
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if !bytes.HasPrefix(body, blobMagic) {
		return nil, corrupt("bad magic")
	}
	if want := sha256.Sum256(body); !bytes.Equal(want[:], sum) {
		return nil, corrupt("checksum mismatch")
	}
	// go-tpm's reflection-based unmarshalling is not written for hostile input; a
	// panic there must not take the daemon down.
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, corrupt("unmarshal TPM structures: %v", r)
		}
	}()

	s := cryptobyte.String(body[len(blobMagic):])
	var version, kind, flags uint8
	var pub, priv cryptobyte.String
	b = &blob{}
	if !s.ReadUint8(&version) || !s.ReadUint8(&kind) || !s.ReadUint8(&flags) {
		return nil, corrupt("truncated header")
	}
	if version != blobVersion {
		return nil, corrupt("version %d, want %d", version, blobVersion)
	}
	b.kind, b.da = blobKind(kind), flags&1 != 0
	if flags&^1 != 0 {
		return nil, corrupt("unknown flags %#x", flags)
	}
	if !s.CopyBytes(b.salt[:]) || !s.ReadUint32(&b.pcrMask) ||
		!s.ReadUint16LengthPrefixed(&pub) || !s.ReadUint16LengthPrefixed(&priv) {
		return nil, corrupt("truncated object")
	}
	if b.pcrMask>>24 != 0 {
		return nil, corrupt("PCR mask %#x selects PCRs above 23", b.pcrMask)
	}
	switch b.kind {
	case kindSealedSecp256k1:
		var p cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&p) || len(p) != 33 {
			return nil, corrupt("bad recorded public key")
		}
		b.secpPub = bytes.Clone(p)
	case kindNativeP256:
	case kindSealedSecret:
		var n cryptobyte.String
		var clen uint32
		var c []byte
		if !s.ReadUint8LengthPrefixed(&n) || len(n) != 12 || !s.ReadUint32(&clen) || !s.ReadBytes(&c, int(clen)) {
			return nil, corrupt("bad ciphertext")
		}
		b.nonce, b.ciphertext = bytes.Clone(n), bytes.Clone(c)
	default:
		return nil, corrupt("unknown kind %d", kind)
	}
	if !s.Empty() {
		return nil, corrupt("%d trailing bytes", len(s))
	}
	p2, err := tpm2.Unmarshal[tpm2.TPM2BPublic](pub)
	if err != nil {
		return nil, corrupt("public area: %v", err)
	}
	v2, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](priv)
	if err != nil {
		return nil, corrupt("private area: %v", err)
	}
	b.public, b.private = *p2, *v2
	if !bytes.Equal(tpm2.Marshal(b.public), pub) || !bytes.Equal(tpm2.Marshal(b.private), priv) {
		return nil, corrupt("TPM structures have trailing bytes")
	}
	pubArea, err := b.public.Contents()
	if err != nil {
		return nil, corrupt("public area: %v", err)
	}
	wantType := tpm2.TPMAlgKeyedHash
	if b.kind == kindNativeP256 {
		wantType = tpm2.TPMAlgECC
	}
	if pubArea.Type != wantType {
		return nil, corrupt("%v blob holds object type %#x", b.kind, uint16(pubArea.Type))
	}
	return b, nil
}
