-- Metrics and the model registry, PostgreSQL flavour. Keep in step with
-- ../sqlite/0002_models.sql.

-- What a step reported from `finish` (evaluators) or a train step, kept
-- with its cache entry: a cached step still has its metrics. Keyed by the
-- cache key, not the output digest: an evaluator's output table is its
-- input table. NaN is stored as NaN.
CREATE TABLE step_metrics (
    cache_key TEXT   NOT NULL REFERENCES step_cache (cache_key),
    position  BIGINT NOT NULL,
    name      TEXT   NOT NULL,
    value     DOUBLE PRECISION,
    labels    TEXT   NOT NULL,
    PRIMARY KEY (cache_key, position)
);

-- One row per distinct fitted model under a name: re-running an unchanged
-- pipeline finds its model digest here and adds no version.
CREATE TABLE model_versions (
    name         TEXT   NOT NULL,
    version      BIGINT NOT NULL,
    model_digest TEXT   NOT NULL REFERENCES artifacts (digest),
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    step         TEXT   NOT NULL,
    algorithm    TEXT   NOT NULL,
    params       TEXT   NOT NULL,
    metrics      TEXT   NOT NULL,
    lineage      TEXT   NOT NULL,
    gate         TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (name, version),
    UNIQUE (name, model_digest)
);

CREATE TABLE model_aliases (
    name       TEXT   NOT NULL,
    alias      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
);

CREATE TABLE model_alias_history (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT   NOT NULL,
    alias            TEXT   NOT NULL,
    version          BIGINT NOT NULL,
    previous_version BIGINT,
    actor            TEXT   NOT NULL,
    at               BIGINT NOT NULL,
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
);
CREATE INDEX model_alias_history_name ON model_alias_history (name, alias, id);

-- The table a step run produced (or found in the cache), so reports and
-- lineage can go from a run to its artifacts, cached steps included.
ALTER TABLE step_runs ADD COLUMN output_digest TEXT;
