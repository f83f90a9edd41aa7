package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/offline/zatca"
)

// The sealed secret holding the production CSID.
const sealedCSID = "csid-production"

// Credential states (apitype.CredentialsStatus.State).
const (
	credOK            = "ok"
	credMissing       = "missing"
	credMismatch      = "mismatch"
	credError         = "error"
	credExpired       = "expired"
	credRevoked       = "revoked"
	credRenewalNeeded = "renewal_needed"
)

// sealedCredentials is the JSON sealed under sealedCSID.
type sealedCredentials struct {
	Token     string    `json:"token"`
	Secret    string    `json:"secret"`
	RequestID string    `json:"request_id"`
	SealedAt  time.Time `json:"sealed_at"`
}

// sealCredentials seals a production CSID (replacing the previous one atomically).
func (a *Agent) sealCredentials(ctx context.Context, creds zatca.Credentials, requestID string) error {
	b, err := json.Marshal(sealedCredentials{Token: creds.Token, Secret: creds.Secret, RequestID: requestID, SealedAt: a.clock.Now()})
	if err != nil {
		return fmt.Errorf("seal credentials: %w", err)
	}
	defer clear(b)
	if err := a.keys.Seal(ctx, sealedCSID, b); err != nil {
		return fmt.Errorf("seal credentials: %w", err)
	}
	return nil
}

// unsealCredentials returns the sealed production CSID, or an error wrapping
// hsm.ErrNoKey when there is none.
func (a *Agent) unsealCredentials(ctx context.Context) (zatca.Credentials, string, error) {
	b, err := a.keys.Unseal(ctx, sealedCSID)
	if err != nil {
		return zatca.Credentials{}, "", fmt.Errorf("unseal credentials: %w", err)
	}
	defer clear(b)
	var s sealedCredentials
	if err := json.Unmarshal(b, &s); err != nil {
		return zatca.Credentials{}, "", fmt.Errorf("unseal credentials: stored CSID is not readable: %w", err)
	}
	c := zatca.Credentials{Token: s.Token, Secret: s.Secret}
	if err := c.Validate(); err != nil {
		return zatca.Credentials{}, "", fmt.Errorf("unseal credentials: %w", err)
	}
	return c, s.RequestID, nil
}

// certOf parses the certificate of a CSID.
func certOf(c zatca.Credentials) (*cert.Certificate, error) {
	der, err := c.CertificateDER()
	if err != nil {
		return nil, err
	}
	return cert.Parse(der)
}

// sameKey reports whether the signer holds the certificate's key.
func sameKey(k hsm.Signer, c *cert.Certificate) bool {
	spki, err := cert.MarshalPKIXPublicKey(k.Public())
	return err == nil && bytes.Equal(spki, c.SPKI)
}

// fingerprint is a short public identifier of a key: hex of the first 8 bytes of
// SHA-256 over its SubjectPublicKeyInfo.
func fingerprint(pub crypto.PublicKey) string {
	spki, err := cert.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:8])
}

// loadCredentials loads the sealed production CSID and the key it belongs to. A crash
// between sealing a new CSID and activating its key (onboarding or renewal) is finished
// here: the pending key that matches the sealed certificate is activated.
func (a *Agent) loadCredentials(ctx context.Context) {
	st := a.readStamp(ctx)
	a.stampMu.Lock()
	old := a.stamp
	a.stamp = st
	a.stampMu.Unlock()
	if old != nil && old.key != nil && old.key != st.key {
		_ = old.key.Close()
	}
	if st.state != credOK {
		a.log.Warn("no usable production CSID", "state", st.state, "message", st.message)
	}
}

func (a *Agent) readStamp(ctx context.Context) *stampState {
	creds, reqID, err := a.unsealCredentials(ctx)
	switch {
	case errors.Is(err, hsm.ErrNoKey):
		return &stampState{state: credMissing, message: "not onboarded: run onboarding with an OTP from the Fatoora portal"}
	case err != nil:
		return &stampState{state: credError, message: err.Error()}
	}
	c, err := certOf(creds)
	if err != nil {
		return &stampState{state: credError, message: "the sealed CSID's certificate cannot be read: " + err.Error()}
	}
	st := &stampState{creds: creds, cert: c, requestID: reqID}
	key, err := a.keys.Current()
	if err == nil && !sameKey(key, c) {
		_ = key.Close()
		key, err = nil, errors.New("the current key does not match the CSID")
	}
	if key == nil {
		// Interrupted rotation: the CSID is sealed, its key still pending.
		if p, perr := a.keys.Pending(); perr == nil {
			match := sameKey(p, c)
			_ = p.Close()
			if match {
				if aerr := a.keys.Activate(ctx); aerr != nil {
					st.state, st.message = credError, "activating the key of the sealed CSID failed: "+aerr.Error()
					return st
				}
				a.audit(ctx, "onboard.activation_recovered", 0, map[string]any{"request_id": reqID, "serial": c.SerialNumber.String()})
				a.log.Warn("finished an interrupted key activation", "request_id", reqID)
				key, err = a.keys.Current()
				if err == nil && !sameKey(key, c) {
					_ = key.Close()
					key, err = nil, errors.New("the activated key does not match the CSID")
				}
			}
		}
	}
	if key == nil {
		st.state = credMismatch
		st.message = "the stamping key for the sealed CSID is not available"
		if err != nil {
			st.message += ": " + err.Error()
		}
		return st
	}
	st.key = key
	st.keyType = cert.CurveOf(key.Public()).String()
	st.keyFP = fingerprint(key.Public())
	st.state = credOK
	return st
}
