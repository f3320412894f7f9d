-- The policy each run ran under, SQLite flavour. Keep in step with
-- ../postgres/0003_run_policy.sql.

-- A run compares its policy fingerprint with the previous run of its
-- pipeline (a change is audited as `grant.change`): one indexed lookup.
ALTER TABLE runs ADD COLUMN policy_fingerprint TEXT;
CREATE INDEX runs_pipeline ON runs (pipeline, id);

-- Runs from before this migration: their `run.start` audit entries hold
-- the fingerprint. Only sluice writes those, always as a JSON object.
UPDATE runs SET policy_fingerprint = (
    SELECT json_extract(a.detail, '$.policy')
    FROM audit_log a
    WHERE a.action = 'run.start'
      AND a.actor = 'sluice'
      AND a.subject = runs.pipeline
      AND CASE WHEN json_valid(a.detail) THEN json_extract(a.detail, '$.run') END = runs.id
    ORDER BY a.id DESC
    LIMIT 1
);
