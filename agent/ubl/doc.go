// Package ubl owns the ZATCA invoice document: it writes the unsigned UBL 2.1
// XML of a simplified invoice, credit note or debit note (Build), computes
// the invoice hash over the Canonical XML 1.1 form (InvoiceHash), stamps the
// document with the XAdES signature block and the QR reference (Sign), and
// checks a signed document the way ZATCA's validator does (Verify), with a
// stable Code per failed check.
//
// The canonicaliser is this package's own strict, byte-level XML reader
// (UTF-8 only, no DTDs); it is gated by golden tests on every official SDK
// sample, by xmllint's C14N 1.1 on the same files, and by a differential
// test on hand-written edge cases.
//
// Signing goes through a plain crypto.Signer: the package never sees a
// private key and must not import hsm, store, offline or printer packages.
// It imports agent/invoice (the Document it formats), agent/cert (the
// certificate's issuer, serial, key and signature) and agent/qr (the TLV).
//
// # Layout of a signed document
//
// Build emits the document without ext:UBLExtensions, the QR
// AdditionalDocumentReference and cac:Signature. Sign inserts
// ext:UBLExtensions directly after the Invoice start tag, and the QR
// reference and cac:Signature before cac:AccountingSupplierParty, each
// followed by a line break and the children's indentation. The white space
// around the blocks is part of the hash input, so the hash is computed over
// the final layout before the blocks are filled in.
package ubl
