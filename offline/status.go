package offline

import (
	"fmt"
	"time"

	"github.com/posagent/posagent/store"
)

// Audit actions the worker writes (the journal itself writes
// store.ActionReportFinal for every final outcome).
const (
	// ActionDeadlineWarning: a document is still unreported at WarnAge.
	ActionDeadlineWarning = "uploader.deadline.warning"
	// ActionDeadlineAlarm: a document is still unreported at AlarmAge.
	ActionDeadlineAlarm = "uploader.deadline.alarm"
	// ActionPaused: the queue stopped (401, 406, no credentials).
	ActionPaused = "uploader.paused"
	// ActionResumed: the queue runs again.
	ActionResumed = "uploader.resumed"

	deadlineActions = "uploader.deadline."
)

// Level is how serious a notice is.
type Level string

// Levels.
const (
	LevelWarning Level = "warning"
	LevelAlarm   Level = "alarm"
)

// Notice codes: stable identifiers of the conditions Notices reports.
const (
	NoticePaused      = "reporting-paused"       // alarm: the queue is stopped
	NoticeOverdue     = "report-overdue"         // alarm: documents past the 24-hour deadline
	NoticeAlarmAge    = "report-alarm-age"       // alarm: documents past AlarmAge
	NoticeWarnAge     = "report-warn-age"        // warning: documents past WarnAge
	NoticeUnreachable = "zatca-unreachable"      // warning: ZATCA does not answer; retrying
	NoticeRejected    = "documents-rejected"     // alarm: rejections within NoticeWindow
	NoticeWarnings    = "reported-with-warnings" // warning: answers with warnings within NoticeWindow
)

// Notice is one condition the operator must see; the agent prints the
// current list on the next receipt. Message is short plain text.
type Notice struct {
	Code    string
	Level   Level
	Message string
	// Count is the number of documents concerned (0 when not about documents).
	Count int
	// Since is when the condition began (zero when not known).
	Since time.Time
}

// Counters count the worker's attempts since it was created.
type Counters struct {
	Attempts             int
	Reported             int // 200
	ReportedWithWarnings int // 202 (or 200 with warnings)
	Late                 int // answers carrying BR-KSA-98 (reported after 24 hours)
	AlreadyReported      int // 409
	Rejected             int // 400, 413: dead letters
	Retries              int // 429, 5xx, timeouts, network errors
	Paused               int // 401, 406, no credentials
	Probes               int // single documents sent to test a paused or failing service
	RecordErrors         int // attempts the journal could not record
	Unrecorded           int // attempts cut short by shutdown (resent at the next start)
}

// Status is a snapshot of the worker.
type Status struct {
	At      time.Time
	Running bool

	// Paused: the queue is stopped until the problem is fixed (Resume, or a
	// probe every ProbeInterval).
	Paused           bool
	PauseReason      string
	PauseHTTPStatus  int
	PausedSince      time.Time
	NextProbeAt      time.Time
	BackingOff       bool      // the service failed; nothing is sent before BackoffUntil
	BackoffUntil     time.Time // zero when not backing off
	FailingSince     time.Time // first of the consecutive retryable failures
	ConsecutiveFails int

	InFlight int
	// Queue is the journal's count per report status, with the oldest
	// unreported document and its age.
	Queue store.OutboxStats
	// Tracked unreported documents past WarnAge, AlarmAge and Deadline.
	PastWarnAge  int
	PastAlarmAge int
	PastDeadline int

	Counters       Counters
	LastAttemptAt  time.Time
	LastAnsweredAt time.Time // last definitive answer (reported, 409, rejected)
	LastError      string

	Notices []Notice
}

// Alarms returns the notices at alarm level.
func (s Status) Alarms() []Notice {
	var out []Notice
	for _, n := range s.Notices {
		if n.Level == LevelAlarm {
			out = append(out, n)
		}
	}
	return out
}

// hours renders a duration as whole hours ("12h") or as Go does otherwise.
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
