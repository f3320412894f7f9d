-- What a step's plugin left with the host, PostgreSQL flavour. Keep in step with
-- ../sqlite/0005_step_logs.sql.

-- One row per log line, metric (from the host `metric` import), captured
-- stdout / stderr, and a final `dropped` row when the plugin went past its
-- `log` grant. All within that grant: the runtime charges every byte,
-- and the store bounds and escapes each message again before writing it.
CREATE TABLE step_logs (
    step_run_id BIGINT NOT NULL REFERENCES step_runs (id),
    seq         BIGINT NOT NULL,
    kind        TEXT   NOT NULL
        CHECK (kind IN ('log', 'metric', 'stdout', 'stderr', 'dropped')),
    -- log lines: trace, debug, info, warn, error
    level       TEXT,
    message     TEXT   NOT NULL,
    -- metrics: the value (SQLite keeps NaN as NULL)
    value       DOUBLE PRECISION,
    PRIMARY KEY (step_run_id, seq)
);
