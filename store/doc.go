// Package store owns the contracts of posagent's fiscal journal: the one
// chain of issued documents (Journal), the reporting queue the uploader
// drains (Outbox), the hash-chained audit log (Audit), what corrects what
// (Corrections: note references, returned lines, replacements of rejected
// documents, resends), the integrity check (Verifier) and the archive
// export with ZATCA file names (Export).
//
// The rules it encodes are ZATCA's (SPEC §4 and §8): one sequence per
// terminal, ICV contiguous from 1, each document's PIH the previous
// document's hash (the first one the genesis value), issued documents never
// changed or deleted, logs never changed or deleted and chained with the
// invoice hash, and no document signed with a clock earlier than the last
// one. Append is the only way a document enters the journal, and it runs
// the caller's build function inside the journal's write transaction, so a
// number is either used by a committed document or never used.
//
// store knows nothing of UBL: a document is opaque signed bytes plus the
// few fields the journal, the receipt and the uploader need. The caller
// passes the invoice hash function to Verify. store imports only the
// standard library and github.com/shopspring/decimal; it must not import
// agent/* or any implementation. Implementations live in sub-packages
// (store/sqlite); store/storetest holds the conformance suite.
package store
