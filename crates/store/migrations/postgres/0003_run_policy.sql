-- The policy each run ran under, PostgreSQL flavour. Keep in step with
-- ../sqlite/0003_run_policy.sql.

-- A run compares its policy fingerprint with the previous run of its
-- pipeline (a change is audited as `grant.change`): one indexed lookup.
ALTER TABLE runs ADD COLUMN policy_fingerprint TEXT;
CREATE INDEX runs_pipeline ON runs (pipeline, id);

-- Runs from before this migration: their `run.start` audit entries hold
-- the fingerprint. Only sluice writes those, always as a JSON object.
UPDATE runs SET policy_fingerprint = started.policy
FROM (
    SELECT subject, detail::jsonb ->> 'run' AS run, detail::jsonb ->> 'policy' AS policy
    FROM audit_log
    WHERE action = 'run.start' AND actor = 'sluice'
) AS started
WHERE started.subject = runs.pipeline AND started.run = runs.id::text;
