package tpm

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/posagent/posagent/hsm"
)

// This file holds the TPM command sequences. Every function runs under device.do and
// flushes every transient handle it creates before returning.

// srk is the storage root key: an ECC P-256 primary in the owner hierarchy made from the
// TCG reference template, so it is the same key every time on the same TPM (and a
// different one on any other TPM or after the owner hierarchy is cleared).
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	pub    tpm2.TPMTPublic
}

// withSRK creates the SRK, runs fn and flushes the SRK.
func withSRK(t transport.TPM, fn func(s *srk) error) error {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		return classify("create storage root key", err)
	}
	defer flush(t, rsp.ObjectHandle)
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return fmt.Errorf("create storage root key: %w", err)
	}
	return fn(&srk{handle: rsp.ObjectHandle, name: rsp.Name, pub: *pub})
}

func flush(t transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(t)
}

// encryptIn is a one-use HMAC session, salted with the SRK, that authorises use of the
// SRK (empty authValue) and encrypts the first command parameter (the sensitive data
// of TPM2_Create), so nothing secret crosses the TPM bus in the clear.
func (s *srk) encryptIn() tpm2.Session {
	return tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptIn), tpm2.Salted(s.handle, s.pub))
}

func (s *srk) authHandle(sess tpm2.Session) tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: sess}
}

// authValue derives an object's authValue from the activation secret and the blob's
// salt: 192 bits of HMAC-SHA256, base64url-encoded to the 32 bytes a SHA-256 object
// allows. The text form has no zero bytes, which matters twice: the TPM drops trailing
// zeros of an authValue, and go-tpm v0.9.8 (hmacKeyFromAuthValue) cuts an authValue at
// its first zero byte anywhere (google/go-tpm#446, open), which would make session
// HMACs fail for about 1 salt in 8.
func authValue(secret []byte, salt [16]byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("posagent/hsm/tpm authValue v1\x00"))
	m.Write(salt[:])
	sum := m.Sum(nil)
	defer clear(sum)
	out := make([]byte, base64.RawURLEncoding.EncodedLen(24))
	base64.RawURLEncoding.Encode(out, sum[:24])
	return out
}

func pcrSelection(mask uint32) tpm2.TPMLPCRSelection {
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgSHA256,
		PCRSelect: tpm2.PCClientCompatible.PCRs(maskPCRs(mask)...),
	}}}
}

// policyDigest computes the authPolicy of a sealed object: [PolicyPCR(current values
// of the masked PCRs)] then PolicyAuthValue.
func policyDigest(t transport.TPM, mask uint32) ([]byte, error) {
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	if mask != 0 {
		h := sha256.New()
		for _, p := range maskPCRs(mask) {
			rsp, err := tpm2.PCRRead{PCRSelectionIn: pcrSelection(1 << p)}.Execute(t)
			if err != nil {
				return nil, classify(fmt.Sprintf("read PCR %d", p), err)
			}
			if len(rsp.PCRValues.Digests) != 1 {
				return nil, fmt.Errorf("read PCR %d: the TPM has no SHA-256 bank value for it: %w", p, hsm.ErrUnsupported)
			}
			h.Write(rsp.PCRValues.Digests[0].Buffer)
		}
		if err := (tpm2.PolicyPCR{PcrDigest: tpm2.TPM2BDigest{Buffer: h.Sum(nil)}, Pcrs: pcrSelection(mask)}).Update(calc); err != nil {
			return nil, err
		}
	}
	if err := (tpm2.PolicyAuthValue{}).Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}

// seal creates a keyedhash object holding data under the SRK and returns its blob
// parts. The object is fixedTPM|fixedParent, cannot be used with a plain password
// (userWithAuth clear) and is governed by the policy of policyDigest.
func seal(t transport.TPM, s *srk, data, auth []byte, mask uint32, da bool) (tpm2.TPM2BPublic, tpm2.TPM2BPrivate, error) {
	policy, err := policyDigest(t, mask)
	if err != nil {
		return tpm2.TPM2BPublic{}, tpm2.TPM2BPrivate{}, fmt.Errorf("seal: policy: %w", err)
	}
	rsp, err := tpm2.Create{
		ParentHandle: s.authHandle(s.encryptIn()),
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: auth},
			Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: data}),
		}},
		InPublic: tpm2.New2B(tpm2.TPMTPublic{
			Type:    tpm2.TPMAlgKeyedHash,
			NameAlg: tpm2.TPMAlgSHA256,
			ObjectAttributes: tpm2.TPMAObject{
				FixedTPM:    true,
				FixedParent: true,
				NoDA:        !da,
			},
			AuthPolicy: tpm2.TPM2BDigest{Buffer: policy},
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
				Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
			}),
		}),
	}.Execute(t)
	if err != nil {
		return tpm2.TPM2BPublic{}, tpm2.TPM2BPrivate{}, classify("seal: create object", err)
	}
	return rsp.OutPublic, rsp.OutPrivate, nil
}

// load loads a blob's object under the SRK. The caller flushes the handle.
func load(t transport.TPM, s *srk, b *blob) (tpm2.TPMHandle, tpm2.TPM2BName, error) {
	rsp, err := tpm2.Load{
		ParentHandle: s.authHandle(tpm2.PasswordAuth(nil)),
		InPrivate:    b.private,
		InPublic:     b.public,
	}.Execute(t)
	if err != nil {
		return 0, tpm2.TPM2BName{}, classify("load "+b.kind.String(), err)
	}
	return rsp.ObjectHandle, rsp.Name, nil
}

// unseal loads a sealed blob, satisfies its policy in a policy session salted with the
// SRK whose response parameter is encrypted, and returns the sealed data. The caller
// zeroes the result.
func unseal(t transport.TPM, s *srk, b *blob, auth []byte) ([]byte, error) {
	h, name, err := load(t, s, b)
	if err != nil {
		return nil, err
	}
	defer flush(t, h)
	sess, closeSess, err := tpm2.PolicySession(t, tpm2.TPMAlgSHA256, 16,
		tpm2.Auth(auth), tpm2.AESEncryption(128, tpm2.EncryptOut), tpm2.Salted(s.handle, s.pub))
	if err != nil {
		return nil, classify("unseal: start policy session", err)
	}
	defer func() { _ = closeSess() }()
	if b.pcrMask != 0 {
		if _, err := (tpm2.PolicyPCR{PolicySession: sess.Handle(), Pcrs: pcrSelection(b.pcrMask)}).Execute(t); err != nil {
			return nil, classify("unseal: PolicyPCR", err)
		}
	}
	if _, err := (tpm2.PolicyAuthValue{PolicySession: sess.Handle()}).Execute(t); err != nil {
		return nil, classify("unseal: PolicyAuthValue", err)
	}
	rsp, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: h, Name: name, Auth: sess}}.Execute(t)
	if err != nil {
		return nil, classify("unseal "+b.kind.String(), err)
	}
	return rsp.OutData.Buffer, nil
}

// p256Template is the native signing key: non-exportable (fixedTPM|fixedParent),
// generated inside the TPM (sensitiveDataOrigin), usable with its authValue
// (userWithAuth), ECDSA-SHA256 on P-256 only.
func p256Template(da bool) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:            true,
			FixedParent:         true,
			SensitiveDataOrigin: true,
			UserWithAuth:        true,
			SignEncrypt:         true,
			NoDA:                !da,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme: tpm2.TPMTECCScheme{
				Scheme:  tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
			},
			CurveID: tpm2.TPMECCNistP256,
			KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{}),
	}
}

// createP256 creates a native P-256 signing key under the SRK.
func createP256(t transport.TPM, s *srk, auth []byte, da bool) (tpm2.TPM2BPublic, tpm2.TPM2BPrivate, error) {
	rsp, err := tpm2.Create{
		ParentHandle: s.authHandle(s.encryptIn()),
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: auth},
		}},
		InPublic: tpm2.New2B(p256Template(da)),
	}.Execute(t)
	if err != nil {
		return tpm2.TPM2BPublic{}, tpm2.TPM2BPrivate{}, classify("create P-256 key", err)
	}
	return rsp.OutPublic, rsp.OutPrivate, nil
}

// p256Public extracts the *ecdsa.PublicKey of a native key's public area.
func p256Public(pub tpm2.TPM2BPublic) (*ecdsa.PublicKey, error) {
	area, err := pub.Contents()
	if err != nil {
		return nil, err
	}
	parms, err := area.Parameters.ECCDetail()
	if err != nil {
		return nil, err
	}
	point, err := area.Unique.ECC()
	if err != nil {
		return nil, err
	}
	if parms.CurveID != tpm2.TPMECCNistP256 {
		return nil, fmt.Errorf("native key on curve %#x, want P-256: %w", uint16(parms.CurveID), hsm.ErrUnsupported)
	}
	k, err := tpm2.ECDSAPub(parms, point)
	if err != nil {
		return nil, err
	}
	if !k.Curve.IsOnCurve(k.X, k.Y) {
		return nil, fmt.Errorf("native key: public point not on P-256: %w", hsm.ErrCorrupt)
	}
	return k, nil
}

// signP256 signs digest with a loaded native key through a one-use HMAC session (the
// authValue itself never crosses the bus). It returns r and s.
func signP256(t transport.TPM, h tpm2.TPMHandle, name tpm2.TPM2BName, auth, digest []byte) ([]byte, []byte, error) {
	rsp, err := tpm2.Sign{
		KeyHandle:  tpm2.AuthHandle{Handle: h, Name: name, Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Auth(auth))},
		Digest:     tpm2.TPM2BDigest{Buffer: digest},
		InScheme:   tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
	}.Execute(t)
	if err != nil {
		return nil, nil, classify("TPM2_Sign", err)
	}
	sig, err := rsp.Signature.Signature.ECDSA()
	if err != nil {
		return nil, nil, fmt.Errorf("TPM2_Sign: %w", err)
	}
	return sig.SignatureR.Buffer, sig.SignatureS.Buffer, nil
}

// getRandom returns n bytes from TPM2_GetRandom.
func getRandom(t transport.TPM, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for len(out) < n {
		rsp, err := tpm2.GetRandom{BytesRequested: uint16(n - len(out))}.Execute(t)
		if err != nil {
			return nil, classify("TPM2_GetRandom", err)
		}
		if len(rsp.RandomBytes.Buffer) == 0 {
			return nil, errors.New("TPM2_GetRandom: empty answer")
		}
		out = append(out, rsp.RandomBytes.Buffer...)
	}
	return out[:n], nil
}

// classify wraps a TPM error with the operation's name and, where the response code
// says so, with the matching hsm sentinel. The TPM response code stays reachable with
// errors.Is (e.g. errors.Is(err, tpm2.TPMRCIntegrity)).
func classify(op string, err error) error {
	switch {
	case errors.Is(err, tpm2.TPMRCIntegrity), errors.Is(err, tpm2.TPMRCBinding):
		return fmt.Errorf("%s: %w (the blob was made by another TPM, or this TPM's owner hierarchy was cleared): %w", op, hsm.ErrWrongTPM, err)
	case errors.Is(err, tpm2.TPMRCLockout):
		return fmt.Errorf("%s: %w (the TPM is in dictionary-attack lockout): %w", op, hsm.ErrAuth, err)
	case errors.Is(err, tpm2.TPMRCAuthFail), errors.Is(err, tpm2.TPMRCBadAuth):
		return fmt.Errorf("%s: %w (wrong activation secret): %w", op, hsm.ErrAuth, err)
	case errors.Is(err, tpm2.TPMRCPolicyFail):
		return fmt.Errorf("%s: %w (policy not satisfied: a PCR changed or the activation secret is wrong): %w", op, hsm.ErrAuth, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// manufacturer returns the TPM's manufacturer ID (four ASCII characters, e.g. "IBM " for
// swtpm) and firmware version. It is the probe Open uses to check that a TPM answers.
func manufacturer(t transport.TPM) (string, uint32, error) {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTManufacturer),
		PropertyCount: uint32(tpm2.TPMPTFirmwareVersion1-tpm2.TPMPTManufacturer) + 1,
	}.Execute(t)
	if err != nil {
		return "", 0, classify("TPM2_GetCapability", err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return "", 0, fmt.Errorf("TPM2_GetCapability: %w", err)
	}
	var id string
	var fw uint32
	for _, p := range props.TPMProperty {
		switch p.Property {
		case tpm2.TPMPTManufacturer:
			id = string([]byte{byte(p.Value >> 24), byte(p.Value >> 16), byte(p.Value >> 8), byte(p.Value)})
		case tpm2.TPMPTFirmwareVersion1:
			fw = p.Value
		}
	}
	return strings.TrimRight(id, " \x00"), fw, nil
}
