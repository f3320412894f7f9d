-- sluice store schema, SQLite flavour. Keep in step with ../postgres/0001_init.sql:
-- the Rust code runs the same SQL against both.

CREATE TABLE runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline        TEXT    NOT NULL,
    pipeline_digest TEXT    NOT NULL,
    status          TEXT    NOT NULL
        CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    started_at      BIGINT  NOT NULL,
    finished_at     BIGINT,
    error           TEXT
);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE step_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        BIGINT  NOT NULL REFERENCES runs (id),
    step          TEXT    NOT NULL,
    plugin_digest TEXT,
    cache_key     TEXT    NOT NULL,
    status        TEXT    NOT NULL
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled')),
    cache_hit     INTEGER NOT NULL DEFAULT 0 CHECK (cache_hit IN (0, 1)),
    started_at    BIGINT  NOT NULL,
    finished_at   BIGINT,
    cpu_ms        BIGINT,
    peak_memory   BIGINT,
    rows_in       BIGINT,
    rows_out      BIGINT,
    attempts      BIGINT  NOT NULL DEFAULT 0,
    error         TEXT
);
CREATE INDEX step_runs_run ON step_runs (run_id, id);

CREATE TABLE artifacts (
    digest          TEXT   PRIMARY KEY,
    kind            TEXT   NOT NULL CHECK (kind IN ('table', 'state', 'model', 'report')),
    path            TEXT   NOT NULL,
    rows            BIGINT,
    bytes           BIGINT NOT NULL,
    created_by_run  BIGINT NOT NULL REFERENCES runs (id),
    created_by_step TEXT   NOT NULL,
    plugin_digest   TEXT,
    params          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX artifacts_run ON artifacts (created_by_run);

-- input_digest has no foreign key: a source file hashed by the engine is a
-- valid lineage input without being an artifact of its own.
CREATE TABLE artifact_inputs (
    artifact_digest TEXT   NOT NULL REFERENCES artifacts (digest),
    input_digest    TEXT   NOT NULL,
    position        BIGINT NOT NULL,
    PRIMARY KEY (artifact_digest, position)
);
CREATE INDEX artifact_inputs_input ON artifact_inputs (input_digest);

CREATE TABLE step_cache (
    cache_key     TEXT   PRIMARY KEY,
    output_digest TEXT   NOT NULL REFERENCES artifacts (digest),
    state_digest  TEXT   REFERENCES artifacts (digest),
    created_at    BIGINT NOT NULL
);

CREATE TABLE plugins (
    digest     TEXT   PRIMARY KEY,
    name       TEXT   NOT NULL,
    version    TEXT   NOT NULL,
    contract   TEXT   NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);

-- ids are assigned by the store under the append lock (they are part of the
-- hashed content), so no AUTOINCREMENT. UNIQUE (prev_hash) makes a forked
-- chain impossible even for a writer that skips the lock.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL UNIQUE,
    hash      TEXT    NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;
