package offline

import (
	"context"
	"errors"
	"fmt"

	"github.com/posagent/posagent/offline/zatca"
)

// Sentinel errors.
var (
	// ErrInvalidConfig: a Config or Options field is wrong; see ConfigError.
	ErrInvalidConfig = errors.New("offline: invalid configuration")
	// ErrNoCredentials: no usable production credentials (none yet, or the
	// provider failed). It pauses the queue like a 401; documents wait.
	ErrNoCredentials = errors.New("offline: no usable credentials")
	// ErrRunning: Run was called while the worker was already running.
	ErrRunning = errors.New("offline: worker already running")
	// ErrInvalidInput: an argument is wrong (e.g. a month that is not YYYY-MM).
	ErrInvalidInput = errors.New("offline: invalid input")
)

// Submission is one document to report: the exact stored bytes with the
// invoice hash and UUID they were journaled with. They are never rebuilt or
// re-signed; a resend sends the same bytes.
type Submission struct {
	ICV  uint64
	UUID string
	// Hash is the invoice hash, base64 of the raw SHA-256 (44 characters).
	Hash string
	XML  []byte
}

// Uploader reports one document to ZATCA (POST /invoices/reporting/single)
// under the current credentials. The worker classifies its answer per SPEC
// §2.5:
//   - a definitive answer (200, 202, 409, 400) is a *zatca.ReportResult and
//     a nil error;
//   - anything else is an error that zatca.DispositionOf classifies (an
//     *zatca.APIError for an HTTP status or a transport failure), or one
//     matching ErrNoCredentials when no usable credentials exist.
//
// It must be safe for concurrent use.
type Uploader interface {
	Report(ctx context.Context, s Submission) (*zatca.ReportResult, error)
}

// CredentialsError is an Uploader's failure to obtain usable credentials.
// It matches ErrNoCredentials with errors.Is.
type CredentialsError struct {
	Err error
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("no usable credentials: %v", e.Err)
}

// Unwrap returns the provider's error.
func (e *CredentialsError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNoCredentials) true.
func (e *CredentialsError) Is(target error) bool { return target == ErrNoCredentials }
