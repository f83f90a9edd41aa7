-- 0001: the fiscal journal.
--
-- documents and audit are append-only: triggers refuse UPDATE and DELETE,
-- and refuse an INSERT that does not continue its chain (documents: ICV =
-- last ICV + 1, PIH = last hash; audit: seq = last seq + 1, prev_hash =
-- last hash, chain_hash = the document head). chain_state holds both heads
-- and only follows the last rows. report_status is the one mutable table
-- (the uploader's view); a final status never changes. prints and
-- report_attempts are append-only histories.
--
-- Times are Unix nanoseconds. '<genesis>' below is store.GenesisPIH and
-- the 64 zeros are store.AuditGenesis.

CREATE TABLE documents (
	icv               INTEGER PRIMARY KEY CHECK (icv >= 1),
	issued_at         INTEGER NOT NULL,
	hash              TEXT    NOT NULL CHECK (length(hash) = 44),
	pih               TEXT    NOT NULL,
	uuid              TEXT    NOT NULL UNIQUE,
	idempotency_key   TEXT    NOT NULL UNIQUE,
	type              TEXT    NOT NULL CHECK (type IN ('388', '381', '383')),
	type_name         TEXT    NOT NULL,
	irn               TEXT    NOT NULL,
	seller_vat        TEXT    NOT NULL,
	tax_exclusive     TEXT    NOT NULL,
	vat_total         TEXT    NOT NULL,
	tax_inclusive     TEXT    NOT NULL,
	billing_reference TEXT    NOT NULL,
	supply_date       TEXT    NOT NULL,
	failure_period    INTEGER NOT NULL CHECK (failure_period IN (0, 1)),
	journaled_at      INTEGER NOT NULL,
	xml_len           INTEGER NOT NULL,
	xml_sha256        TEXT    NOT NULL, -- hex SHA-256 of the signed XML
	row_sum           TEXT    NOT NULL, -- hex SHA-256 of the row's canonical bytes
	payload_codec     INTEGER NOT NULL, -- 1: DEFLATE with dictionary v1 of (XML, QR)
	payload           BLOB    NOT NULL  -- last: the large column
);

CREATE TABLE chain_state (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	doc_icv    INTEGER NOT NULL,
	doc_hash   TEXT    NOT NULL,
	audit_seq  INTEGER NOT NULL,
	audit_hash TEXT    NOT NULL
);
INSERT INTO chain_state VALUES (1, 0,
	'NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==',
	0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit (
	seq          INTEGER PRIMARY KEY CHECK (seq >= 1),
	at           INTEGER NOT NULL,
	actor        TEXT    NOT NULL,
	action       TEXT    NOT NULL,
	details      TEXT    NOT NULL,
	document_icv INTEGER REFERENCES documents (icv), -- NULL when none
	chain_hash   TEXT    NOT NULL,
	prev_hash    TEXT    NOT NULL,
	hash         TEXT    NOT NULL
);

CREATE TABLE report_status (
	icv             INTEGER PRIMARY KEY REFERENCES documents (icv),
	status          TEXT    NOT NULL CHECK (status IN ('pending', 'retry', 'paused', 'reported',
	                        'reported_with_warnings', 'already_reported', 'rejected')),
	final           INTEGER NOT NULL CHECK (final = (status IN ('reported', 'reported_with_warnings',
	                        'already_reported', 'rejected'))),
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER,          -- NULL once final
	last_attempt_at INTEGER,
	final_at        INTEGER,
	http_status     INTEGER NOT NULL, -- of the last attempt
	warnings        TEXT    NOT NULL, -- JSON array, of the last attempt
	errors          TEXT    NOT NULL  -- JSON array, of the last attempt
);
CREATE INDEX report_status_due ON report_status (next_attempt_at) WHERE final = 0;
CREATE INDEX report_status_rejected ON report_status (icv) WHERE status = 'rejected';

CREATE TABLE report_attempts (
	id              INTEGER PRIMARY KEY,
	icv             INTEGER NOT NULL REFERENCES documents (icv),
	at              INTEGER NOT NULL,
	http_status     INTEGER NOT NULL,
	outcome         TEXT    NOT NULL,
	next_attempt_at INTEGER,
	warnings        TEXT    NOT NULL,
	errors          TEXT    NOT NULL,
	transport_error TEXT    NOT NULL,
	response        BLOB    NOT NULL
);
CREATE INDEX report_attempts_icv ON report_attempts (icv);

CREATE TABLE prints (
	id   INTEGER PRIMARY KEY,
	icv  INTEGER NOT NULL REFERENCES documents (icv),
	at   INTEGER NOT NULL,
	copy INTEGER NOT NULL CHECK (copy IN (0, 1))
);
CREATE INDEX prints_icv ON prints (icv, copy);

-- documents: append-only, one contiguous chain.
CREATE TRIGGER documents_no_update BEFORE UPDATE ON documents
BEGIN
	SELECT RAISE(ABORT, 'documents are append-only: UPDATE refused');
END;
CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents
BEGIN
	SELECT RAISE(ABORT, 'documents are append-only: DELETE refused');
END;
CREATE TRIGGER documents_chain BEFORE INSERT ON documents
BEGIN
	SELECT RAISE(ABORT, 'documents: ICV must be the last ICV + 1')
	WHERE NEW.icv IS NOT (SELECT coalesce(max(icv), 0) + 1 FROM documents);
	SELECT RAISE(ABORT, 'documents: PIH must be the hash of the previous document')
	WHERE NEW.pih IS NOT coalesce((SELECT hash FROM documents WHERE icv = NEW.icv - 1),
		'NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==');
	SELECT RAISE(ABORT, 'documents: UUID already journaled')
	WHERE EXISTS (SELECT 1 FROM documents WHERE uuid = NEW.uuid);
	SELECT RAISE(ABORT, 'documents: idempotency key already journaled')
	WHERE EXISTS (SELECT 1 FROM documents WHERE idempotency_key = NEW.idempotency_key);
END;
CREATE TRIGGER documents_head AFTER INSERT ON documents
BEGIN
	UPDATE chain_state SET doc_icv = NEW.icv, doc_hash = NEW.hash WHERE id = 1;
END;

-- audit: append-only, hash-chained, carrying the document head.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused');
END;
CREATE TRIGGER audit_chain BEFORE INSERT ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit: seq must be the last seq + 1')
	WHERE NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM audit);
	SELECT RAISE(ABORT, 'audit: prev_hash must be the hash of the previous entry')
	WHERE NEW.prev_hash IS NOT (SELECT audit_hash FROM chain_state WHERE id = 1);
	SELECT RAISE(ABORT, 'audit: chain_hash must be the document head hash')
	WHERE NEW.chain_hash IS NOT (SELECT doc_hash FROM chain_state WHERE id = 1);
END;
CREATE TRIGGER audit_head AFTER INSERT ON audit
BEGIN
	UPDATE chain_state SET audit_seq = NEW.seq, audit_hash = NEW.hash WHERE id = 1;
END;

-- chain_state: one row that only follows the last document and audit rows.
CREATE TRIGGER chain_state_no_delete BEFORE DELETE ON chain_state
BEGIN
	SELECT RAISE(ABORT, 'chain_state: DELETE refused');
END;
CREATE TRIGGER chain_state_follows BEFORE UPDATE ON chain_state
BEGIN
	SELECT RAISE(ABORT, 'chain_state: the document head must be the last document')
	WHERE NEW.doc_icv IS NOT (SELECT coalesce(max(icv), 0) FROM documents)
	   OR NEW.doc_hash IS NOT coalesce((SELECT hash FROM documents WHERE icv = NEW.doc_icv),
		'NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==');
	SELECT RAISE(ABORT, 'chain_state: the audit head must be the last audit entry')
	WHERE NEW.audit_seq IS NOT (SELECT coalesce(max(seq), 0) FROM audit)
	   OR NEW.audit_hash IS NOT coalesce((SELECT hash FROM audit WHERE seq = NEW.audit_seq),
		'0000000000000000000000000000000000000000000000000000000000000000');
END;

-- report_status: one row per document; a final status is frozen.
CREATE TRIGGER report_status_no_delete BEFORE DELETE ON report_status
BEGIN
	SELECT RAISE(ABORT, 'report_status: DELETE refused');
END;
CREATE TRIGGER report_status_frozen BEFORE UPDATE ON report_status WHEN OLD.final = 1
BEGIN
	SELECT RAISE(ABORT, 'report_status: a final status does not change');
END;
CREATE TRIGGER report_status_same_document BEFORE UPDATE OF icv ON report_status
BEGIN
	SELECT RAISE(ABORT, 'report_status: icv does not change');
END;

-- histories: append-only.
CREATE TRIGGER report_attempts_no_update BEFORE UPDATE ON report_attempts
BEGIN
	SELECT RAISE(ABORT, 'report_attempts are append-only: UPDATE refused');
END;
CREATE TRIGGER report_attempts_no_delete BEFORE DELETE ON report_attempts
BEGIN
	SELECT RAISE(ABORT, 'report_attempts are append-only: DELETE refused');
END;
CREATE TRIGGER prints_no_update BEFORE UPDATE ON prints
BEGIN
	SELECT RAISE(ABORT, 'prints are append-only: UPDATE refused');
END;
CREATE TRIGGER prints_no_delete BEFORE DELETE ON prints
BEGIN
	SELECT RAISE(ABORT, 'prints are append-only: DELETE refused');
END;
CREATE TRIGGER prints_one_original BEFORE INSERT ON prints WHEN NEW.copy = 0
BEGIN
	SELECT RAISE(ABORT, 'prints: the document was already printed; a reprint is a copy')
	WHERE EXISTS (SELECT 1 FROM prints WHERE icv = NEW.icv AND copy = 0);
END;
