// Package invoice owns the sale domain of posagent: it decodes a POS sale
// (JSON, field names of the Flick e-invoice API) and the seller profile
// (Fatoora onboarding field names), validates them against the ZATCA
// business rules that apply to a simplified document (every failure is a
// FieldError naming the JSON path and the BR rule ID), and computes the
// Document: lines, per-category VAT and totals with ZATCA's half-up
// rounding (SPEC §3.2), so that the BR-CO-10/13/14/15/16/17, BR-KSA-51
// and BR-KSA-EN16931-11 equalities hold by construction.
//
// It owns no XML, hashing, signing, storage or I/O. It imports only the
// standard library and github.com/shopspring/decimal, and must not import
// any other posagent package.
package invoice
