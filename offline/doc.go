// Package offline owns reporting: the worker that drains the journal's
// reporting queue (store.Outbox) to ZATCA and keeps every answer.
//
// It reads due documents oldest first and reports each one's exact stored
// bytes, with its invoice hash and UUID, through an Uploader under the
// current credentials, with bounded concurrency and an optional rate limit.
// ZATCA accepts reports out of ICV order, so one stuck document never
// blocks the rest. Every attempt and ZATCA's full answer (HTTP status,
// outcome, response body, warnings and errors, next attempt time) is
// recorded through Outbox.RecordAttempt. Answers are classified per SPEC
// §2.5 from offline/zatca's typed results and errors, never from strings:
// 200/202 reported (warnings kept), 409 already reported (success), 400
// and 413 rejected (dead letter, never resent), 401/406 pause the whole
// queue with an alarm until credentials or configuration are fixed,
// 429/5xx/timeouts/network errors back off (per document and for the
// service as a whole) and resend the same bytes.
//
// It also owns the 24-hour clock of each unreported document (a warning at
// WarnAge, an alarm at AlarmAge, in status, logs, the audit log and the
// notices printed on receipts) and the portal-like statistics computed
// from the journal's attempts.
//
// offline imports store and offline/zatca only (plus the standard
// library). It must not import agent, printer, hsm, store/sqlite or
// offline/fatoorasim: the daemon wires the concrete store and client in.
// offline/offlinetest holds a fake Clock for tests.
package offline
