package fatoorasim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/hsm/softkey"
)

// authority is the simulator's CA: a secp256k1 key generated at first start and kept in
// the state database, and its self-signed certificate.
type authority struct {
	key  *softkey.Key
	cert *cert.Certificate
	// verified caches issuedBy: SHA-256 of a certificate's DER → true once its CA
	// signature verified (every report carries the same few certificates).
	verified sync.Map
}

const (
	metaCAKey  = "ca_key"
	metaCACert = "ca_cert_der"
)

func loadOrCreateAuthority(ctx context.Context, st *store, opts Options, now time.Time) (*authority, error) {
	// The CA key is stored as its raw 32-byte secp256k1 scalar: this is a
	// simulator's CA, not a stamping key, and the agent has no key-export code.
	keyBytes, haveKey, err := st.getMeta(ctx, metaCAKey)
	if err != nil {
		return nil, err
	}
	certDER, haveCert, err := st.getMeta(ctx, metaCACert)
	if err != nil {
		return nil, err
	}
	if !haveKey || !haveCert {
		keyBytes, certDER, err = createAuthority(opts, now)
		if err != nil {
			return nil, fmt.Errorf("create CA: %w", err)
		}
		err = st.write(ctx, func(tx *sql.Tx) error {
			if err := putMeta(ctx, tx, metaCAKey, keyBytes); err != nil {
				return err
			}
			return putMeta(ctx, tx, metaCACert, certDER)
		})
		if err != nil {
			return nil, fmt.Errorf("store CA: %w", err)
		}
	}
	key, err := softkey.FromBytes(keyBytes)
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	c, err := cert.Parse(certDER)
	if err != nil {
		key.Close()
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	pub, ok := c.PublicKey.(*secp256k1.PublicKey)
	if !ok || !pub.IsEqual(key.PublicKey()) {
		key.Close()
		return nil, fmt.Errorf("load CA: the stored key does not match the stored certificate")
	}
	return &authority{key: key, cert: c}, nil
}

func createAuthority(opts Options, now time.Time) (keyBytes, certDER []byte, err error) {
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, nil, err
	}
	keyBytes = priv.Serialize()
	signer := softkey.New(priv)
	defer signer.Close()
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	// ASN.1 order DC=local, DC=fatoora-sim, DC=<env>, CN=…; Java renders it reversed:
	// "CN=FATOORASIM-EINVOICESCA1-CA, DC=simulation, DC=fatoora-sim, DC=local", the
	// shape of ZATCA's "CN=PRZEINVOICESCA4-CA, DC=extgazt, DC=gov, DC=local".
	subject := cert.Name{
		{{Type: cert.OIDDomainComponent, Tag: cert.TagIA5String, Value: "local"}},
		{{Type: cert.OIDDomainComponent, Tag: cert.TagIA5String, Value: "fatoora-sim"}},
		{{Type: cert.OIDDomainComponent, Tag: cert.TagIA5String, Value: opts.Env.String()}},
		{{Type: cert.OIDCommonName, Tag: cert.TagPrintableString, Value: opts.CACommonName}},
	}
	certDER, err = cert.Create(&cert.Template{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(20 * 365 * 24 * time.Hour),
		PublicKey:    priv.PubKey(),
		IsCA:         true,
	}, nil, signer)
	if err != nil {
		return nil, nil, err
	}
	return keyBytes, certDER, nil
}

// randomSerial returns a positive serial of up to 150 bits, like ZATCA's
// 45-digit serials.
func randomSerial() (*big.Int, error) {
	max := new(big.Int).Lsh(big.NewInt(1), 150)
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}

// issue signs an EGS certificate: subject and SAN as requested in the CSR.
func (a *authority) issue(subject cert.Name, san *cert.SubjectAltName, pub crypto.PublicKey, notBefore, notAfter time.Time) (*cert.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	der, err := cert.Create(&cert.Template{
		SerialNumber:   serial,
		Subject:        subject,
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		PublicKey:      pub,
		SubjectAltName: san,
	}, a.cert, a.key)
	if err != nil {
		return nil, err
	}
	return cert.Parse(der)
}

// certPEM returns the CA certificate as PEM.
func (a *authority) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw})
}

// issuedBy reports whether c was signed by this CA.
func (a *authority) issuedBy(c *cert.Certificate) bool {
	key := sha256.Sum256(c.Raw)
	if _, ok := a.verified.Load(key); ok {
		return true
	}
	if !bytes.Equal(c.RawIssuer, a.cert.RawSubject) || c.CheckSignatureFrom(a.cert) != nil {
		return false
	}
	a.verified.Store(key, true)
	return true
}

func (a *authority) close() error { return a.key.Close() }
