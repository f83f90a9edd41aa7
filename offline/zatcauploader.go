package offline

import (
	"context"
	"errors"
	"fmt"

	"github.com/posagent/posagent/offline/zatca"
)

// CredentialsFunc returns the current production CSID. It is called for
// every report, so a renewal or credentials fixed after a 401 take effect
// at the next attempt (call Worker.Resume to resume a paused queue at
// once).
type CredentialsFunc func(ctx context.Context) (zatca.Credentials, error)

// ZATCAUploader is the Uploader over an offline/zatca.Client.
type ZATCAUploader struct {
	client *zatca.Client
	creds  CredentialsFunc
}

var _ Uploader = (*ZATCAUploader)(nil)

// NewZATCAUploader returns an Uploader that reports through client with the
// credentials creds returns.
func NewZATCAUploader(client *zatca.Client, creds CredentialsFunc) (*ZATCAUploader, error) {
	if client == nil {
		return nil, fmt.Errorf("new zatca uploader: client is nil: %w", ErrInvalidConfig)
	}
	if creds == nil {
		return nil, fmt.Errorf("new zatca uploader: credentials provider is nil: %w", ErrInvalidConfig)
	}
	return &ZATCAUploader{client: client, creds: creds}, nil
}

// StaticCredentials returns a CredentialsFunc that always returns c.
func StaticCredentials(c zatca.Credentials) CredentialsFunc {
	return func(context.Context) (zatca.Credentials, error) { return c, nil }
}

// Report implements Uploader. Missing or malformed credentials are a
// *CredentialsError (the queue pauses), checked before anything is sent,
// because the client would otherwise report them as an invalid request,
// which dead-letters the document.
func (u *ZATCAUploader) Report(ctx context.Context, s Submission) (*zatca.ReportResult, error) {
	c, err := u.creds(ctx)
	if err == nil && c.IsZero() {
		err = errors.New("the provider returned empty credentials")
	}
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("zatca uploader: %w", &CredentialsError{Err: err})
	}
	return u.client.Report(ctx, c, zatca.Document{UUID: s.UUID, InvoiceHash: s.Hash, XML: s.XML})
}
