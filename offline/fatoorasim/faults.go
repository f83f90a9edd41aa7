package fatoorasim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Endpoint names used by faults and statistics.
const (
	EndpointCompliance         = "compliance"          // POST /compliance
	EndpointComplianceInvoices = "compliance-invoices" // POST /compliance/invoices
	EndpointProductionCSIDs    = "production-csids"    // POST /production/csids
	EndpointRenewal            = "renewal"             // PATCH /production/csids
	EndpointReporting          = "reporting"           // POST /invoices/reporting/single
	EndpointClearance          = "clearance"           // POST /invoices/clearance/single
	EndpointAll                = "*"
)

var endpointNames = []string{EndpointCompliance, EndpointComplianceInvoices, EndpointProductionCSIDs,
	EndpointRenewal, EndpointReporting, EndpointClearance, EndpointAll}

// FaultAction is what a fault does to a request.
type FaultAction string

// Fault actions.
const (
	// FaultLatency delays the request by Latency, then processes it normally.
	FaultLatency FaultAction = "latency"
	// FaultStatus answers Status (429, 500, 503, 504 …) without processing.
	FaultStatus FaultAction = "status"
	// FaultHang never answers: the request blocks until the client gives up (or
	// Options.MaxHang passes, or the server closes).
	FaultHang FaultAction = "hang"
	// FaultReset closes the connection without processing or answering.
	FaultReset FaultAction = "reset"
	// FaultOutage is FaultReset limited to a window (From/To or For): the service is
	// unreachable for that time.
	FaultOutage FaultAction = "outage"
	// FaultCommitDrop processes and commits the request, then closes the connection
	// without answering: a retry of a report then gets 409.
	FaultCommitDrop FaultAction = "commit-drop"
)

// Duration is a time.Duration written in JSON as a Go duration string ("1.5s").
type Duration time.Duration

// MarshalJSON writes "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts "1m30s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"1s\" or nanoseconds: %w", err)
	}
	*d = Duration(n)
	return nil
}

// Fault is one fault-injection rule. Rules apply to one endpoint (or "*"), optionally
// inside a window of the simulator's clock, at most Times times (0 = no limit), each
// time with Probability (0 means always) drawn from a generator seeded with Seed.
type Fault struct {
	ID          int64       `json:"id"`
	Endpoint    string      `json:"endpoint"`
	Action      FaultAction `json:"action"`
	Status      int         `json:"status,omitempty"`
	Latency     Duration    `json:"latency,omitempty"`
	From        *time.Time  `json:"from,omitempty"`
	To          *time.Time  `json:"to,omitempty"`
	For         Duration    `json:"for,omitempty"`
	Times       int         `json:"times,omitempty"`
	Probability float64     `json:"probability,omitempty"`
	Seed        uint64      `json:"seed,omitempty"`
	// Counters, maintained by the server.
	Matched int `json:"matched"`
	Fired   int `json:"fired"`

	rng *rand.Rand
}

func (f *Fault) validate() error {
	if !slices.Contains(endpointNames, f.Endpoint) {
		return fmt.Errorf("fault endpoint %q: want one of %v: %w", f.Endpoint, endpointNames, ErrInvalidInput)
	}
	switch f.Action {
	case FaultLatency:
		if f.Latency <= 0 {
			return fmt.Errorf("fault latency: latency must be positive: %w", ErrInvalidInput)
		}
	case FaultStatus:
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("fault status: status %d must be 400..599: %w", f.Status, ErrInvalidInput)
		}
	case FaultOutage:
		if f.From == nil && f.To == nil && f.For <= 0 {
			return fmt.Errorf("fault outage: needs a window (from/to or for): %w", ErrInvalidInput)
		}
	case FaultHang, FaultReset, FaultCommitDrop:
	default:
		return fmt.Errorf("fault action %q: want latency, status, hang, reset, outage or commit-drop: %w", f.Action, ErrInvalidInput)
	}
	if f.Times < 0 {
		return fmt.Errorf("fault times %d must not be negative: %w", f.Times, ErrInvalidInput)
	}
	if f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("fault probability %v must be 0..1: %w", f.Probability, ErrInvalidInput)
	}
	if f.For < 0 {
		return fmt.Errorf("fault for %v must not be negative: %w", time.Duration(f.For), ErrInvalidInput)
	}
	if f.From != nil && f.To != nil && !f.To.After(*f.From) {
		return fmt.Errorf("fault window: to %v is not after from %v: %w", f.To, f.From, ErrInvalidInput)
	}
	return nil
}

// faults is the live rule set.
type faults struct {
	mu    sync.Mutex
	next  int64
	rules []*Fault
}

func (fs *faults) add(f Fault, now time.Time) (Fault, error) {
	if err := f.validate(); err != nil {
		return Fault{}, err
	}
	if f.For > 0 {
		from := now
		if f.From != nil {
			from = *f.From
		}
		to := from.Add(time.Duration(f.For))
		f.From, f.To = &from, &to
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	f.ID = fs.next
	f.Matched, f.Fired = 0, 0
	f.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	fs.rules = append(fs.rules, &f)
	return f.public(), nil
}

func (f *Fault) public() Fault {
	c := *f
	c.rng = nil
	return c
}

func (fs *faults) list() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.rules))
	for _, f := range fs.rules {
		out = append(out, f.public())
	}
	return out
}

func (fs *faults) remove(id int64) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.rules {
		if f.ID == id {
			fs.rules = slices.Delete(fs.rules, i, i+1)
			return true
		}
	}
	return false
}

func (fs *faults) clear() {
	fs.mu.Lock()
	fs.rules = nil
	fs.mu.Unlock()
}

// plan is what the faults decided for one request.
type plan struct {
	latency    time.Duration
	terminal   FaultAction // "" (process), FaultStatus, FaultHang, FaultReset/FaultOutage
	status     int
	commitDrop bool
}

// decide evaluates the rules for one request on endpoint at now: every firing latency
// rule adds its delay; the first firing terminal rule (status, hang, reset, outage)
// decides; a firing commit-drop rule marks the answer to be dropped.
func (fs *faults) decide(endpoint string, now time.Time) plan {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var p plan
	for _, f := range fs.rules {
		if f.Endpoint != EndpointAll && f.Endpoint != endpoint {
			continue
		}
		if f.From != nil && now.Before(*f.From) || f.To != nil && !now.Before(*f.To) {
			continue
		}
		if f.Times > 0 && f.Fired >= f.Times {
			continue
		}
		switch f.Action {
		case FaultStatus, FaultHang, FaultReset, FaultOutage:
			if p.terminal != "" {
				continue
			}
		case FaultCommitDrop:
			if p.commitDrop {
				continue
			}
		}
		f.Matched++
		if f.Probability > 0 && f.Probability < 1 && f.rng.Float64() >= f.Probability {
			continue
		}
		f.Fired++
		switch f.Action {
		case FaultLatency:
			p.latency += time.Duration(f.Latency)
		case FaultStatus:
			p.terminal, p.status = FaultStatus, f.Status
		case FaultHang, FaultReset, FaultOutage:
			p.terminal = f.Action
		case FaultCommitDrop:
			p.commitDrop = true
		}
	}
	return p
}
