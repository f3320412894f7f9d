-- Rollouts and people in the loop, sqlite flavour. Keep in step with
-- ../postgres/0008_rollout.sql.

-- A candidate version served next to production: to a share of users
-- (canary, A/B) or to mirrored traffic (shadow). At most one active
-- deployment per model (the partial unique index); ending one is a
-- conditional update on status = 'active', so two processes cannot both
-- end it.
CREATE TABLE deployments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    model      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    -- the version `production` named when the deployment began
    baseline   BIGINT,
    mode       TEXT   NOT NULL CHECK (mode IN ('canary', 'ab', 'shadow')),
    variant    TEXT   NOT NULL,
    -- share of users routed to the candidate, 0..=100 (0 for shadow)
    percent    REAL NOT NULL,
    status     TEXT   NOT NULL CHECK (status IN ('active', 'promoted', 'rolled_back', 'ended')),
    created_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL,
    ended_at   BIGINT,
    ended_by   TEXT,
    reason     TEXT,
    -- JSON: the comparator's figures when it ended
    figures    TEXT
);
CREATE UNIQUE INDEX deployments_one_active ON deployments (model) WHERE status = 'active';

-- Verdicts on answers: a user's or a reviewer's label for a request, and
-- for reviews the action a person decided. One verdict per request,
-- source and actor; a second replaces the first.
CREATE TABLE feedback (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT   NOT NULL,
    label      TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT,
    at         BIGINT NOT NULL,
    UNIQUE (request_id, source, actor)
);
CREATE INDEX feedback_request ON feedback (request_id);
CREATE INDEX predictions_review ON predictions (action, at);
