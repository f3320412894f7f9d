-- Run leases and audit checkpoints, SQLite flavour. Keep in step with
-- ../postgres/0004_run_lease.sql.

-- A run belongs to the process that created it (`owner`: host, process id
-- and a random token) while its lease holds; the owner renews
-- `lease_expires_at` (database clock, unix ms) by heartbeat and with every
-- change it makes. Recovery cancels only runs whose lease expired, and each
-- change of a run or its steps is conditional on `owner`. Runs from before
-- leases have neither column: a NULL lease counts as expired.
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at BIGINT;
CREATE INDEX runs_lease ON runs (status, lease_expires_at);

-- A checkpoint records the audit chain's head (row id and hash) so that
-- cutting rows from the tail is seen: the anchored row must still exist
-- with that hash. No foreign key: verification must report a missing
-- row, not be prevented from seeing one. Append-only like the log.
CREATE TABLE audit_checkpoints (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    audit_id BIGINT  NOT NULL,
    hash     TEXT    NOT NULL,
    at       BIGINT  NOT NULL,
    actor    TEXT    NOT NULL
);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: DELETE refused');
END;
