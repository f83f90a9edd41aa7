package offline

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config tunes the worker. Start from DefaultConfig.
type Config struct {
	// Concurrency is how many reports are in flight at once.
	Concurrency int
	// RateLimit caps reports per second (catch-up after an outage runs at
	// this pace); 0 means no limit.
	RateLimit float64
	// Burst is how many reports may start back to back before RateLimit
	// applies; ignored without a rate limit.
	Burst int
	// BatchSize is how many due documents one read of the queue returns.
	BatchSize int
	// PollInterval is how often the queue is read without a Kick.
	PollInterval time.Duration

	// RetryBase and RetryMax bound the capped exponential backoff after a
	// retryable failure (429, 5xx, timeout, network): the n-th retry of a
	// document waits RetryBase·2^n, at most RetryMax, minus up to Jitter of
	// it. The service as a whole backs off the same way: after a retryable
	// failure nothing is sent until the backoff ends, then one document at
	// a time until one gets an answer.
	RetryBase time.Duration
	RetryMax  time.Duration
	// Jitter is the random fraction (0 to 1) taken off each backoff.
	Jitter float64

	// ProbeInterval is how often a paused queue (401, 406, no credentials)
	// tries one document to see whether the problem was fixed.
	ProbeInterval time.Duration

	// WarnAge and AlarmAge are the ages of an unreported document that
	// raise a warning and an alarm; Deadline is ZATCA's reporting deadline
	// (24 hours, SPEC §2.5).
	WarnAge  time.Duration
	AlarmAge time.Duration
	Deadline time.Duration

	// NoticeWindow is how long rejections and answers with warnings stay in
	// Notices.
	NoticeWindow time.Duration
	// LogEvery rate-limits repeated log lines (retries, store errors, a
	// paused queue, deadline crossings).
	LogEvery time.Duration
	// Actor is who the worker's audit entries name.
	Actor string
}

// DefaultConfig returns the daemon's settings.
func DefaultConfig() Config {
	return Config{
		Concurrency:   8,
		RateLimit:     50,
		Burst:         8,
		BatchSize:     200,
		PollInterval:  time.Minute,
		RetryBase:     10 * time.Second,
		RetryMax:      10 * time.Minute,
		Jitter:        0.2,
		ProbeInterval: 5 * time.Minute,
		WarnAge:       12 * time.Hour,
		AlarmAge:      20 * time.Hour,
		Deadline:      24 * time.Hour,
		NoticeWindow:  24 * time.Hour,
		LogEvery:      time.Minute,
		Actor:         "uploader",
	}
}

// maxBatch is the largest batch store/sqlite's Pending serves, less room
// for the documents in flight.
const maxBatch = 900

// Validate returns every bad field, each naming the field and the rule.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		bad("Concurrency", "must be 1 to 64, got %d", c.Concurrency)
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		bad("RateLimit", "must be 0 (no limit) or a positive number of documents per second, got %v", c.RateLimit)
	}
	if c.RateLimit > 0 && c.Burst < 1 {
		bad("Burst", "must be at least 1 with a rate limit, got %d", c.Burst)
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatch {
		bad("BatchSize", "must be 1 to %d, got %d", maxBatch, c.BatchSize)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"PollInterval", c.PollInterval}, {"RetryBase", c.RetryBase}, {"RetryMax", c.RetryMax},
		{"ProbeInterval", c.ProbeInterval}, {"WarnAge", c.WarnAge}, {"AlarmAge", c.AlarmAge},
		{"Deadline", c.Deadline}, {"NoticeWindow", c.NoticeWindow}, {"LogEvery", c.LogEvery},
	} {
		if d.v <= 0 {
			bad(d.name, "must be positive, got %v", d.v)
		}
	}
	if c.RetryBase > 0 && c.RetryMax > 0 && c.RetryMax < c.RetryBase {
		bad("RetryMax", "%v is below RetryBase %v", c.RetryMax, c.RetryBase)
	}
	if c.Jitter < 0 || c.Jitter > 1 || math.IsNaN(c.Jitter) {
		bad("Jitter", "must be 0 to 1, got %v", c.Jitter)
	}
	if c.WarnAge > 0 && c.AlarmAge > 0 && c.AlarmAge <= c.WarnAge {
		bad("AlarmAge", "%v must be above WarnAge %v", c.AlarmAge, c.WarnAge)
	}
	if c.AlarmAge > 0 && c.Deadline > 0 && c.Deadline <= c.AlarmAge {
		bad("Deadline", "%v must be above AlarmAge %v", c.Deadline, c.AlarmAge)
	}
	if c.Actor == "" || len(c.Actor) > 64 {
		bad("Actor", "must be 1 to 64 characters, got %q", c.Actor)
	}
	if len(errs) > 0 {
		return fmt.Errorf("offline config: %w", &ConfigError{Errs: errs})
	}
	return nil
}

// ConfigError lists the invalid fields of a Config. It matches
// ErrInvalidConfig with errors.Is.
type ConfigError struct {
	Errs []error
}

func (e *ConfigError) Error() string { return errors.Join(e.Errs...).Error() }

// Unwrap returns the field errors.
func (e *ConfigError) Unwrap() []error { return e.Errs }

// Is makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
