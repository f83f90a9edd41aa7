// Package zatca is the HTTP client for ZATCA's e-invoicing (Fatoora) API as an EGS unit
// uses it: compliance CSID (POST /compliance with an OTP), compliance checks (POST
// /compliance/invoices), production CSID (POST /production/csids), renewal (PATCH
// /production/csids with an OTP), reporting (POST /invoices/reporting/single) and
// clearance (POST /invoices/clearance/single). SPEC §2 is the contract.
//
// It owns the wire format (headers, Basic auth with the binarySecurityToken used
// verbatim, request bodies, lenient parsing of ZATCA's response bodies), the mapping of
// HTTP outcomes to typed results (ReportResult, ComplianceResult, ClearanceResult,
// CSIDResult) and typed errors (*APIError) whose Disposition says what the caller must
// do (retry, pause the queue, dead-letter), per SPEC §2.5. Callers never match error
// strings.
//
// It does not build, hash or sign documents, keep state, retry or schedule: the
// reporting worker (package offline) does that. It imports only the standard library
// and must not import any other posagent package.
package zatca
