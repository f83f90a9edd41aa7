// Package fatoorasim is a faithful simulator of ZATCA's e-invoicing (Fatoora) API, used
// by tests, by `make run`, by the ARM QEMU test and by benchmarks, because ZATCA is not
// reachable from the machines the product is built on.
//
// It owns:
//   - the EGS API (SPEC §2): POST /compliance, POST /compliance/invoices, POST and PATCH
//     /production/csids, POST /invoices/reporting/single, POST /invoices/clearance/single,
//     with ZATCA's headers, status codes (§2.5) and response bodies (§2.4, including the
//     misspelt qrSellertStatus);
//   - a certificate authority issuing secp256k1 CSIDs shaped like ZATCA's (subject and SAN
//     from the CSR, a ZATCA-like issuer DN), through agent/cert;
//   - real validation of submitted documents: XML structure, invoice hash, signature,
//     certificate and QR (agent/ubl), the certificate's VAT and invoice types, key BR-KSA
//     rules checked on the XML, PIH continuity per EGS, duplicates (409) and late reports
//     (BR-KSA-98);
//   - the portal side, as admin endpoints under /admin/ (OTPs, onboarded devices,
//     revocation, monthly statistics, CSV export of errors and warnings, the clock);
//   - fault injection per endpoint (latency, status codes, hangs, outage windows, commit
//     then drop the connection), set at runtime;
//   - its state in SQLite (WAL) so that it survives restarts.
//
// It is test and development infrastructure: the daemon never links it. It may import
// agent/cert, agent/csr, agent/ubl, agent/qr and hsm/softkey; it must not import agent,
// store, printer, offline (the worker) or offline/zatca (the client it is tested with).
package fatoorasim
