-- What a server keeps, PostgreSQL flavour. Keep in step with
-- ../sqlite/0006_serving.sql.

-- API tokens for `sluice serve`. Only the SHA-256 of the secret is kept:
-- the secret is 256 random bits, shown once when the token is created.
-- Revoked tokens stay, so the audit log's token ids keep their meaning.
CREATE TABLE api_tokens (
    id          BIGSERIAL PRIMARY KEY,
    role        TEXT   NOT NULL CHECK (role IN ('predict', 'review', 'admin')),
    secret_hash TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    created_by  TEXT   NOT NULL,
    revoked_at  BIGINT,
    revoked_by  TEXT
);

-- One row per answer a server gave, written off the request path in
-- batches; a replay of the same request id adds nothing. `text` is kept
-- only where the service keeps texts, and nulled past its retention.
CREATE TABLE predictions (
    request_id TEXT   PRIMARY KEY,
    at         BIGINT NOT NULL,
    model      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    variant    TEXT   NOT NULL,
    -- NULL when no score was computed (a fail-safe answer)
    score      DOUBLE PRECISION,
    label      TEXT,
    action     TEXT   NOT NULL,
    -- JSON array of rule ids
    rules      TEXT   NOT NULL,
    latency_us BIGINT NOT NULL,
    text_hash  TEXT   NOT NULL,
    text       TEXT,
    user_hash  TEXT,
    channel    TEXT,
    lang       TEXT
);
CREATE INDEX predictions_at ON predictions (at, request_id);
