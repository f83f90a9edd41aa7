-- 0002: what corrects what.
--
-- note_refs: the invoice a note corrects, of this journal (original_icv)
-- or of another terminal of the same seller (foreign = 1, original_icv
-- NULL). returned_lines: per credit note, what it returns of each line of
-- an own invoice, with the line's sold quantity and amount (the journal
-- refuses a note that would take the sum beyond them). replacements: the
-- document issued to replace one ZATCA rejected (one replacement each).
-- resends: a rejected document put back in the reporting queue as the
-- same bytes. All four are append-only.

CREATE TABLE note_refs (
	icv                INTEGER PRIMARY KEY REFERENCES documents (icv),
	original_irn       TEXT    NOT NULL,
	original_icv       INTEGER REFERENCES documents (icv),
	is_foreign         INTEGER NOT NULL CHECK (is_foreign IN (0, 1)),
	foreign_egs        TEXT    NOT NULL,
	foreign_issue_date TEXT    NOT NULL,
	CHECK ((is_foreign = 1) = (original_icv IS NULL))
);
CREATE INDEX note_refs_original ON note_refs (original_icv) WHERE original_icv IS NOT NULL;

CREATE TABLE returned_lines (
	icv           INTEGER NOT NULL REFERENCES documents (icv),
	original_icv  INTEGER NOT NULL REFERENCES documents (icv),
	line          TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	quantity      TEXT    NOT NULL,
	amount        TEXT    NOT NULL,
	sold_quantity TEXT    NOT NULL,
	sold_amount   TEXT    NOT NULL,
	PRIMARY KEY (icv, line)
);
CREATE INDEX returned_lines_original ON returned_lines (original_icv, line);

CREATE TABLE replacements (
	icv          INTEGER PRIMARY KEY REFERENCES documents (icv),
	replaces_icv INTEGER NOT NULL UNIQUE REFERENCES documents (icv)
);

CREATE TABLE resends (
	id     INTEGER PRIMARY KEY,
	icv    INTEGER NOT NULL REFERENCES documents (icv),
	at     INTEGER NOT NULL,
	actor  TEXT    NOT NULL,
	reason TEXT    NOT NULL
);
CREATE INDEX resends_icv ON resends (icv);

CREATE TRIGGER note_refs_no_update BEFORE UPDATE ON note_refs
BEGIN
	SELECT RAISE(ABORT, 'note_refs are append-only: UPDATE refused');
END;
CREATE TRIGGER note_refs_no_delete BEFORE DELETE ON note_refs
BEGIN
	SELECT RAISE(ABORT, 'note_refs are append-only: DELETE refused');
END;
CREATE TRIGGER returned_lines_no_update BEFORE UPDATE ON returned_lines
BEGIN
	SELECT RAISE(ABORT, 'returned_lines are append-only: UPDATE refused');
END;
CREATE TRIGGER returned_lines_no_delete BEFORE DELETE ON returned_lines
BEGIN
	SELECT RAISE(ABORT, 'returned_lines are append-only: DELETE refused');
END;
CREATE TRIGGER replacements_no_update BEFORE UPDATE ON replacements
BEGIN
	SELECT RAISE(ABORT, 'replacements are append-only: UPDATE refused');
END;
CREATE TRIGGER replacements_no_delete BEFORE DELETE ON replacements
BEGIN
	SELECT RAISE(ABORT, 'replacements are append-only: DELETE refused');
END;
CREATE TRIGGER replacements_of_dead_letter BEFORE INSERT ON replacements
BEGIN
	SELECT RAISE(ABORT, 'replacements: only a rejected document is replaced')
	WHERE NOT EXISTS (SELECT 1 FROM report_status WHERE icv = NEW.replaces_icv AND status = 'rejected');
END;
CREATE TRIGGER resends_no_update BEFORE UPDATE ON resends
BEGIN
	SELECT RAISE(ABORT, 'resends are append-only: UPDATE refused');
END;
CREATE TRIGGER resends_no_delete BEFORE DELETE ON resends
BEGIN
	SELECT RAISE(ABORT, 'resends are append-only: DELETE refused');
END;
CREATE TRIGGER resends_of_dead_letter BEFORE INSERT ON resends
BEGIN
	SELECT RAISE(ABORT, 'resends: only a rejected document that was not replaced is resent')
	WHERE NOT EXISTS (SELECT 1 FROM report_status WHERE icv = NEW.icv AND status = 'rejected')
	   OR EXISTS (SELECT 1 FROM replacements WHERE replaces_icv = NEW.icv);
END;

-- A final status stays frozen, except that a rejected document goes back
-- to pending when a resend was recorded after the rejection.
DROP TRIGGER report_status_frozen;
CREATE TRIGGER report_status_frozen BEFORE UPDATE ON report_status
WHEN OLD.final = 1 AND NOT (OLD.status = 'rejected' AND NEW.status = 'pending'
	AND EXISTS (SELECT 1 FROM resends WHERE icv = OLD.icv AND at >= OLD.final_at))
BEGIN
	SELECT RAISE(ABORT, 'report_status: a final status does not change');
END;
