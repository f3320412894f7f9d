//! One behaviour suite, run against a fresh SQLite file and a fresh
//! PostgreSQL database per test.
//!
//! PostgreSQL: `SLUICE_TEST_POSTGRES` names a database to connect to for
//! creating and dropping the per-test databases (default
//! `postgres://postgres@127.0.0.1:5432/test`); set it to `off` to skip the
//! PostgreSQL half.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest as _, Sha256};
use sqlx::Connection;

use super::*;

const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn digest(seed: &str) -> Digest {
    Digest::of(seed.as_bytes())
}

fn outcome(status: StepStatus) -> StepOutcome {
    StepOutcome {
        status,
        cache_hit: false,
        cpu_ms: Some(12),
        peak_memory: Some(1 << 20),
        rows_in: Some(100),
        rows_out: Some(90),
        attempts: 1,
        error: None,
        output_digest: None,
    }
}

fn new_artifact(seed: &str, run: i64, inputs: &[&str]) -> NewArtifact {
    NewArtifact {
        digest: digest(seed),
        kind: ArtifactKind::Table,
        path: format!("tables/{seed}.parquet"),
        rows: Some(10),
        bytes: 1234,
        created_by_run: run,
        created_by_step: format!("step-{seed}"),
        plugin_digest: Some(digest("plugin")),
        params: serde_json::json!({"k": 1}),
        inputs: inputs.iter().map(|s| digest(s)).collect(),
    }
}

/// A run owned by a fresh lease of the default length.
async fn new_lease(store: &Store, pipeline: &str) -> RunLease {
    store
        .create_run(pipeline, &digest(pipeline), DEFAULT_RUN_LEASE)
        .await
        .unwrap()
}

/// `lease` as another process would hold it: same run, another owner.
fn impostor(lease: &RunLease) -> RunLease {
    RunLease {
        owner: "elsewhere:1:0000000000000000".into(),
        ..lease.clone()
    }
}

/// Asserts `result` is an error whose message contains every needle.
fn assert_err_contains<T: std::fmt::Debug, E: std::fmt::Display>(
    result: Result<T, E>,
    needles: &[&str],
) {
    match result {
        Ok(v) => panic!("expected an error containing {needles:?}, got Ok({v:?})"),
        Err(e) => {
            let msg = e.to_string();
            for needle in needles {
                assert!(
                    msg.contains(needle),
                    "error `{msg}` does not contain `{needle}`"
                );
            }
        }
    }
}

// ---- the suite ------------------------------------------------------------

async fn run_lifecycle(store: &Store) {
    let a = new_lease(store, "train").await;
    let b = new_lease(store, "score").await;
    assert!(b.run() > a.run());
    assert_ne!(a.owner(), b.owner(), "each run has its own owner token");
    assert!(
        a.owner().contains(&format!(":{}:", std::process::id())),
        "{}",
        a.owner()
    );

    let run = store.run(a.run()).await.unwrap().unwrap();
    assert_eq!(run.pipeline, "train");
    assert_eq!(run.pipeline_digest, digest("train"));
    assert_eq!(run.status, RunStatus::Running);
    assert!(
        run.started_at > 1_600_000_000_000,
        "unix ms: {}",
        run.started_at
    );
    assert_eq!(run.finished_at, None);
    assert_eq!(run.owner.as_deref(), Some(a.owner()));
    let lease_until = run.lease_expires_at.unwrap();
    assert!(
        (lease_until - run.started_at - 30_000).abs() < 5_000,
        "the lease ends about 30 s after the start: {lease_until} vs {}",
        run.started_at
    );

    // another owner cannot finish it; the owner can
    assert_err_contains(
        store
            .finish_run(&impostor(&a), RunStatus::Succeeded, None)
            .await,
        &[
            "finish_run",
            &format!("run {} is no longer owned", a.run()),
            "running under",
        ],
    );
    store
        .finish_run(&a, RunStatus::Failed, Some("step `x` trapped"))
        .await
        .unwrap();
    let run = store.run(a.run()).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("step `x` trapped"));
    assert!(run.finished_at.unwrap() >= run.started_at);
    // the finish and its audit entry are one write: the entry is there
    let audit = store.audit_log(10).await.unwrap();
    let finish = audit
        .iter()
        .find(|e| e.action == "run.finish" && e.detail.contains(&format!("\"run\":{}", a.run())))
        .expect("the run.finish audit entry");
    assert_eq!(finish.subject, "train");
    assert!(
        finish.detail.contains("\"status\":\"failed\""),
        "{}",
        finish.detail
    );
    // a run that no longer holds its lease registers no model
    let lost = store
        .register_model(&new_model(a.run(), "after-the-end"), Some(&a))
        .await;
    assert!(matches!(&lost, Err(e) if e.is_lease_lost()), "{lost:?}");
    assert!(store.model_versions(Some("spam")).await.unwrap().is_empty());

    let again = store.finish_run(&a, RunStatus::Succeeded, None).await;
    assert!(matches!(&again, Err(e) if e.is_lease_lost()), "{again:?}");
    assert_err_contains(again, &["finish_run", "already failed"]);
    assert_err_contains(
        store.finish_run(&b, RunStatus::Running, None).await,
        &["cannot finish run"],
    );
    let missing = RunLease {
        run: 9999,
        ..a.clone()
    };
    let missing = store.finish_run(&missing, RunStatus::Succeeded, None).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { what: "run", .. })),
        "{missing:?}"
    );

    let runs = store.runs(10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![b.run(), a.run()],
        "newest first"
    );
    assert_eq!(store.runs(1).await.unwrap().len(), 1);
    assert!(store.runs(0).await.unwrap().is_empty());
    assert_err_contains(store.runs(-1).await, &["limit"]);
    assert_eq!(store.run(9999).await.unwrap(), None);
}

async fn step_runs_lifecycle(store: &Store) {
    let lease = new_lease(store, "p").await;
    let run = lease.run();
    let s1 = store
        .start_step(&lease, "load", None, "key-load")
        .await
        .unwrap();
    let s2 = store
        .start_step(&lease, "clean", Some(&digest("clean.wasm")), "key-clean")
        .await
        .unwrap();
    let other_run = new_lease(store, "q").await;
    let elsewhere = store
        .start_step(&other_run, "elsewhere", None, "k")
        .await
        .unwrap();

    let steps = store.step_runs(run).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s1, s2],
        "start order"
    );
    assert_eq!(steps[0].status, StepStatus::Running);
    assert_eq!(steps[0].plugin_digest, None);
    assert_eq!(steps[0].attempts, 1);
    assert_eq!(steps[1].plugin_digest, Some(digest("clean.wasm")));
    assert_eq!(steps[1].cache_key, "key-clean");

    store
        .finish_step(
            &lease,
            s1,
            &StepOutcome {
                cache_hit: true,
                ..outcome(StepStatus::Succeeded)
            },
        )
        .await
        .unwrap();
    let failed = StepOutcome {
        attempts: 3,
        error: Some("trap: unreachable".into()),
        ..outcome(StepStatus::Failed)
    };
    store.finish_step(&lease, s2, &failed).await.unwrap();

    let steps = store.step_runs(run).await.unwrap();
    let (load, clean) = (&steps[0], &steps[1]);
    assert_eq!(load.status, StepStatus::Succeeded);
    assert!(load.cache_hit);
    assert_eq!(
        (load.cpu_ms, load.peak_memory, load.rows_in, load.rows_out),
        (Some(12), Some(1 << 20), Some(100), Some(90))
    );
    assert!(load.finished_at.unwrap() >= load.started_at);
    assert_eq!(clean.status, StepStatus::Failed);
    assert!(!clean.cache_hit);
    assert_eq!(clean.attempts, 3);
    assert_eq!(clean.error.as_deref(), Some("trap: unreachable"));

    assert_err_contains(
        store
            .finish_step(&lease, s1, &outcome(StepStatus::Failed))
            .await,
        &["finish_step", "already succeeded"],
    );
    assert_err_contains(
        store
            .finish_step(&lease, s1, &outcome(StepStatus::Running))
            .await,
        &["cannot finish step run"],
    );
    let missing = store
        .finish_step(&lease, 9999, &outcome(StepStatus::Succeeded))
        .await;
    assert!(
        matches!(
            missing,
            Err(StoreError::NotFound {
                what: "step run",
                ..
            })
        ),
        "{missing:?}"
    );
    // a step of another run cannot be ended through this run's lease
    assert_err_contains(
        store
            .finish_step(&lease, elsewhere, &outcome(StepStatus::Succeeded))
            .await,
        &[&format!(
            "step run {elsewhere} belongs to run {}",
            other_run.run()
        )],
    );
    // nor can another owner start or end this run's steps
    let stolen = store.start_step(&impostor(&lease), "x", None, "k").await;
    assert!(matches!(&stolen, Err(e) if e.is_lease_lost()), "{stolen:?}");
    let missing = RunLease {
        run: 9999,
        ..lease.clone()
    };
    let missing = store.start_step(&missing, "x", None, "k").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { what: "run", .. })),
        "{missing:?}"
    );
    assert!(store.step_runs(9999).await.unwrap().is_empty());
}

async fn artifacts_lineage_and_idempotent_put(store: &Store) {
    let run = new_lease(store, "p").await.run();
    let source = NewArtifact {
        plugin_digest: None,
        ..new_artifact("source", run, &[])
    };
    store.put_artifact(&source).await.unwrap();
    let state = NewArtifact {
        kind: ArtifactKind::State,
        rows: None,
        ..new_artifact("state", run, &["source"])
    };
    store.put_artifact(&state).await.unwrap();
    // Inputs keep their order, including one (`external`) that is not an artifact.
    let derived = new_artifact("derived", run, &["state", "source", "external"]);
    store.put_artifact(&derived).await.unwrap();

    let got = store.artifact(&derived.digest).await.unwrap().unwrap();
    assert_eq!(
        got.inputs,
        vec![digest("state"), digest("source"), digest("external")]
    );
    assert_eq!(got.kind, ArtifactKind::Table);
    assert_eq!(got.path, "tables/derived.parquet");
    assert_eq!((got.rows, got.bytes), (Some(10), 1234));
    assert_eq!(
        (got.created_by_run, got.created_by_step.as_str()),
        (run, "step-derived")
    );
    assert_eq!(got.plugin_digest, Some(digest("plugin")));
    assert_eq!(got.params, r#"{"k":1}"#);
    assert!(got.created_at > 0);
    let got_state = store.artifact(&state.digest).await.unwrap().unwrap();
    assert_eq!(
        (got_state.kind, got_state.rows),
        (ArtifactKind::State, None)
    );

    // Same digest from a later run: no-op, first producer kept.
    let later = new_lease(store, "p").await.run();
    let again = NewArtifact {
        path: "elsewhere".into(),
        inputs: vec![],
        ..new_artifact("derived", later, &[])
    };
    store.put_artifact(&again).await.unwrap();
    store.put_artifact(&derived).await.unwrap();
    assert_eq!(store.artifact(&derived.digest).await.unwrap().unwrap(), got);

    let of_run = store.artifacts_of_run(run).await.unwrap();
    let mut digests: Vec<_> = of_run.iter().map(|a| a.digest).collect();
    digests.sort();
    let mut expected = vec![source.digest, state.digest, derived.digest];
    expected.sort();
    assert_eq!(digests, expected);
    let of_run_derived = of_run.iter().find(|a| a.digest == derived.digest).unwrap();
    assert_eq!(of_run_derived, &got, "artifacts_of_run includes inputs");
    assert!(store.artifacts_of_run(later).await.unwrap().is_empty());

    assert_eq!(store.artifact(&digest("nope")).await.unwrap(), None);
    let missing = store.put_artifact(&new_artifact("z", 9999, &[])).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { what: "run", .. })),
        "{missing:?}"
    );
}

async fn cache_get_put_upsert(store: &Store) {
    let run = new_lease(store, "p").await.run();
    for seed in ["out1", "out2", "state2"] {
        store
            .put_artifact(&new_artifact(seed, run, &[]))
            .await
            .unwrap();
    }
    assert_eq!(store.cache_get("k1").await.unwrap(), None);

    let entry = CacheEntry {
        cache_key: "k1".into(),
        output_digest: digest("out1"),
        state_digest: None,
        created_at: 0,
        metrics: Vec::new(),
    };
    store.cache_put(&entry).await.unwrap();
    let got = store.cache_get("k1").await.unwrap().unwrap();
    assert_eq!(
        (got.output_digest, got.state_digest),
        (digest("out1"), None)
    );
    assert!(got.created_at > 0, "set by the store");

    let fitted = CacheEntry {
        output_digest: digest("out2"),
        state_digest: Some(digest("state2")),
        ..entry.clone()
    };
    store.cache_put(&fitted).await.unwrap();
    let got = store.cache_get("k1").await.unwrap().unwrap();
    assert_eq!(got.output_digest, digest("out2"));
    assert_eq!(got.state_digest, Some(digest("state2")));
    assert_eq!(store.cache_get("k2").await.unwrap(), None);

    let dangling = CacheEntry {
        cache_key: "k3".into(),
        output_digest: digest("never-stored"),
        ..entry
    };
    let missing = store.cache_put(&dangling).await;
    assert!(
        matches!(
            missing,
            Err(StoreError::NotFound {
                what: "artifact",
                ..
            })
        ),
        "{missing:?}"
    );
    assert_eq!(store.cache_get("k3").await.unwrap(), None);
}

async fn complete_step_is_one_transaction(store: &Store) {
    let lease = new_lease(store, "p").await;
    let run = lease.run();
    store
        .put_artifact(&new_artifact("source", run, &[]))
        .await
        .unwrap();
    let step = store
        .start_step(&lease, "fit", Some(&digest("plugin")), "key-fit")
        .await
        .unwrap();
    let mut state = new_artifact("state", run, &["source"]);
    state.kind = ArtifactKind::State;
    state.rows = None;
    let table = new_artifact("table", run, &["source", "state"]);
    let entry = CacheEntry {
        cache_key: "key-fit".into(),
        output_digest: digest("table"),
        state_digest: Some(digest("state")),
        created_at: 0,
        metrics: Vec::new(),
    };
    store
        .complete_step(
            &lease,
            step,
            &outcome(StepStatus::Succeeded),
            &[state, table.clone()],
            Some(&entry),
        )
        .await
        .unwrap();
    let recorded = store.artifact(&digest("table")).await.unwrap().unwrap();
    assert_eq!(recorded.inputs, vec![digest("source"), digest("state")]);
    let hit = store.cache_lookup("key-fit").await.unwrap().unwrap();
    assert_eq!(
        hit,
        CacheHit {
            output_digest: digest("table"),
            state_digest: Some(digest("state")),
            path: "tables/table.parquet".into(),
            rows: Some(10),
            bytes: 1234,
            state_path: Some("tables/state.parquet".into()),
            state_bytes: Some(1234),
        }
    );
    assert_eq!(store.cache_lookup("key-other").await.unwrap(), None);
    let steps = store.step_runs(run).await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Succeeded);

    // A second completion of the same step run fails, and nothing of it
    // is kept: the new artifact and cache entry roll back with it.
    let again = store
        .complete_step(
            &lease,
            step,
            &outcome(StepStatus::Succeeded),
            &[new_artifact("late", run, &["source"])],
            Some(&CacheEntry {
                cache_key: "key-late".into(),
                output_digest: digest("late"),
                state_digest: None,
                created_at: 0,
                metrics: Vec::new(),
            }),
        )
        .await;
    assert_err_contains(again, &["complete_step", "already succeeded"]);
    assert_eq!(store.artifact(&digest("late")).await.unwrap(), None);
    assert_eq!(store.cache_lookup("key-late").await.unwrap(), None);
    assert_err_contains(
        store
            .complete_step(&lease, step, &outcome(StepStatus::Running), &[], None)
            .await,
        &["complete_step", "cannot finish"],
    );
}

fn new_model(run: i64, seed: &str) -> NewModelVersion {
    NewModelVersion {
        name: "spam".into(),
        model_digest: digest(seed),
        run_id: run,
        step: "model".into(),
        algorithm: "logistic-regression".into(),
        params: serde_json::json!({"c": 1.0}),
        metrics: serde_json::json!([{"step": "eval", "name": "f1", "value": 0.9, "labels": []}]),
        lineage: serde_json::json!({"training_data": "x", "sources": [], "steps": []}),
        gate: Some("f1 >= 0.85".into()),
    }
}

async fn registry_versions_aliases_and_history(store: &Store) {
    let run = new_lease(store, "p").await.run();
    for seed in ["m1", "m2"] {
        let mut model = new_artifact(seed, run, &[]);
        model.kind = ArtifactKind::Model;
        model.rows = None;
        store.put_artifact(&model).await.unwrap();
    }
    let scored = CacheEntry {
        cache_key: "eval-key".into(),
        output_digest: digest("m1"),
        state_digest: None,
        created_at: 0,
        metrics: vec![sluice_core::contract::Metric {
            name: "cv.f1".into(),
            value: f64::NAN,
            labels: vec![("candidate".into(), "0".into())],
        }],
    };
    store.cache_put(&scored).await.unwrap();
    let stored = store.step_metrics("eval-key").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].value.is_nan(), "NaN survives the round trip");
    assert_eq!(
        stored[0].labels,
        vec![("candidate".to_string(), "0".to_string())]
    );
    // replacing the entry replaces its metrics
    store
        .cache_put(&CacheEntry {
            metrics: Vec::new(),
            ..scored
        })
        .await
        .unwrap();
    assert!(store.step_metrics("eval-key").await.unwrap().is_empty());

    assert_eq!(
        store
            .register_model(&new_model(run, "m1"), None)
            .await
            .unwrap(),
        (1, true)
    );
    // the same model again is the same version
    assert_eq!(
        store
            .register_model(&new_model(run, "m1"), None)
            .await
            .unwrap(),
        (1, false)
    );
    assert_eq!(
        store
            .register_model(&new_model(run, "m2"), None)
            .await
            .unwrap(),
        (2, true)
    );
    let versions = store.model_versions(Some("spam")).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(versions[1].gate.as_deref(), Some("f1 >= 0.85"));
    assert_eq!(store.model_versions(Some("other")).await.unwrap(), vec![]);
    assert_eq!(store.model_versions_of_run(run).await.unwrap().len(), 2);
    assert_eq!(store.model_version("spam", 3).await.unwrap(), None);

    assert_eq!(
        store.alias_version("spam", "production").await.unwrap(),
        None
    );
    let detail = json!({"gate": "f1 >= 0.85"});
    assert_eq!(
        store
            .set_alias("spam", "production", 1, "ana", &detail)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .set_alias("spam", "production", 2, "ben", &detail)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store.alias_version("spam", "production").await.unwrap(),
        Some(2)
    );
    let history = store.alias_history("spam").await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.version, h.previous_version, h.actor.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, None, "ana"), (2, Some(1), "ben")]
    );
    let audit = store.audit_log(10).await.unwrap();
    let moves: Vec<&AuditRecord> = audit.iter().filter(|a| a.action == "model.alias").collect();
    assert_eq!(moves.len(), 2, "every alias move is audited");
    assert!(moves[0].detail.contains("\"previous\":1") && moves[0].detail.contains("gate"));
    assert!(store.verify_audit().await.unwrap().is_ok());

    assert_err_contains(
        store
            .set_alias("spam", "production", 9, "ana", &detail)
            .await,
        &["set_alias", "spam 9"],
    );
    assert_eq!(
        store.alias_version("spam", "production").await.unwrap(),
        Some(2)
    );
    assert_err_contains(
        store
            .set_alias("spam", "bad alias", 1, "ana", &detail)
            .await,
        &["alias `bad alias`"],
    );
    assert_err_contains(
        store
            .register_model(&new_model(run, "never-stored"), None)
            .await,
        &["register_model"],
    );
}

async fn plugin_upsert(store: &Store) {
    let d = digest("plugin.wasm");
    store
        .record_plugin(&d, "clean-text", "0.1.0", "0.1")
        .await
        .unwrap();
    let first = store.plugin(&d).await.unwrap().unwrap();
    assert_eq!(
        (
            first.name.as_str(),
            first.version.as_str(),
            first.contract.as_str()
        ),
        ("clean-text", "0.1.0", "0.1")
    );
    assert_eq!(first.first_seen, first.last_seen);

    // last_seen is in ms; make sure the clock moves.
    std::thread::sleep(Duration::from_millis(5));
    store
        .record_plugin(&d, "clean-text", "0.1.1", "0.1")
        .await
        .unwrap();
    let second = store.plugin(&d).await.unwrap().unwrap();
    assert_eq!(second.first_seen, first.first_seen);
    assert!(second.last_seen > first.last_seen);
    assert_eq!(second.version, "0.1.1");
    assert_eq!(store.plugins().await.unwrap(), vec![second]);
    assert_eq!(store.plugin(&digest("other")).await.unwrap(), None);
}

async fn audit_chain_appends_and_verifies(store: &Store) {
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification {
            rows_checked: 0,
            head: None,
            anchors_checked: 0,
            broken: Vec::new(),
            broken_total: 0,
        }
    );

    let id1 = store
        .audit(
            "alice",
            "run.start",
            "run/1",
            &json!({"pipeline": "train", "b": [1, 2]}),
        )
        .await
        .unwrap();
    let id2 = store
        .audit(
            "alice",
            "run.finish",
            "run/1",
            &json!({"status": "succeeded"}),
        )
        .await
        .unwrap();
    let id3 = store
        .audit("bob", "grant.change", "plugin/x", &json!(null))
        .await
        .unwrap();
    assert_eq!((id1, id2, id3), (1, 2, 3));

    let log = store.audit_log(10).await.unwrap();
    assert_eq!(
        log.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![3, 2, 1],
        "newest first"
    );
    let (r1, r2, r3) = (&log[2], &log[1], &log[0]);
    assert_eq!(r1.prev_hash, audit::GENESIS);
    assert_eq!(r2.prev_hash, r1.hash);
    assert_eq!(r3.prev_hash, r2.hash);
    assert_eq!(
        r1.detail, r#"{"b":[1,2],"pipeline":"train"}"#,
        "canonical: sorted keys"
    );
    assert_eq!(
        (r1.actor.as_str(), r1.action.as_str(), r1.subject.as_str()),
        ("alice", "run.start", "run/1")
    );
    assert_eq!(r3.detail, "null");
    assert!(r1.at > 0);
    assert_eq!(store.audit_log(1).await.unwrap().len(), 1);

    let v = store.verify_audit().await.unwrap();
    assert_eq!(
        v,
        AuditVerification {
            rows_checked: 3,
            head: Some(AuditAnchor {
                id: 3,
                hash: r3.hash.clone()
            }),
            anchors_checked: 0,
            broken: Vec::new(),
            broken_total: 0,
        }
    );
    assert!(v.is_ok());
}

/// Drops an append-only trigger as an attacker with DDL rights would.
async fn drop_guard(store: &Store, trigger: &str, table: &str) {
    let sql = match store.backend_name() {
        "postgres" => format!("DROP TRIGGER {trigger} ON {table}"),
        _ => format!("DROP TRIGGER {trigger}"),
    };
    store.execute_raw(&sql).await.unwrap();
}

fn broken_ids(v: &AuditVerification) -> Vec<i64> {
    v.broken.iter().map(|b| b.id).collect()
}

async fn audit_tampering_detected(store: &Store) {
    for i in 0..5 {
        store
            .audit(
                "alice",
                "model.promote",
                &format!("model/{i}"),
                &json!({ "i": i }),
            )
            .await
            .unwrap();
    }
    drop_guard(store, "audit_log_no_update", "audit_log").await;
    let edited = store
        .execute_raw("UPDATE audit_log SET actor = 'mallory' WHERE id IN (2, 4)")
        .await
        .unwrap();
    assert_eq!(edited, 2);

    // both changed rows are reported, not only the first
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.rows_checked, 5);
    assert!(!v.is_ok());
    assert_eq!(broken_ids(&v), vec![2, 4], "{v:#?}");
    assert_eq!(v.broken_total, 2);
    for row in &v.broken {
        assert!(row.reason.starts_with("hash mismatch"), "{row:?}");
    }

    // Rewriting row 2's hash to match its new content moves its break to row 3.
    let row2 = store
        .audit_log(10)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == 2)
        .unwrap();
    let content = audit::RowContent {
        id: row2.id,
        at: row2.at,
        actor: &row2.actor,
        action: &row2.action,
        subject: &row2.subject,
        detail: &row2.detail,
    };
    let forged = audit::row_hash(&row2.prev_hash, &content);
    store
        .execute_raw(&format!(
            "UPDATE audit_log SET hash = '{forged}' WHERE id = 2"
        ))
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!(broken_ids(&v), vec![3, 4], "{v:#?}");
    assert!(
        v.broken[0].reason.starts_with("prev_hash mismatch"),
        "{v:#?}"
    );
    assert!(v.broken[1].reason.starts_with("hash mismatch"), "{v:#?}");
}

async fn audit_deletion_detected(store: &Store) {
    for i in 0..4 {
        store
            .audit("alice", "run.start", &format!("run/{i}"), &json!({}))
            .await
            .unwrap();
    }
    drop_guard(store, "audit_log_no_delete", "audit_log").await;
    store
        .execute_raw("DELETE FROM audit_log WHERE id = 2")
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.rows_checked, 3);
    assert_eq!(broken_ids(&v), vec![3]);
    let reason = &v.broken[0].reason;
    assert!(
        reason.starts_with("row 2 is missing; prev_hash mismatch"),
        "{reason}"
    );
}

async fn audit_cut_tail_is_caught_by_checkpoints(store: &Store) {
    assert_err_contains(
        store.audit_checkpoint("alice").await,
        &["audit_checkpoint", "empty"],
    );
    for i in 0..5 {
        store
            .audit("alice", "run.start", &format!("run/{i}"), &json!({}))
            .await
            .unwrap();
    }
    let checkpoint = store.audit_checkpoint("alice").await.unwrap();
    assert_eq!(
        (
            checkpoint.id,
            checkpoint.audit_id,
            checkpoint.actor.as_str()
        ),
        (1, 5, "alice")
    );
    let head = store.audit_log(1).await.unwrap().remove(0);
    assert_eq!(checkpoint.hash, head.hash);
    assert_eq!(
        store.audit_checkpoints().await.unwrap(),
        vec![checkpoint.clone()]
    );
    // the anchor as printed parses back
    let kept: AuditAnchor = checkpoint.anchor().to_string().parse().unwrap();
    assert_eq!(kept, checkpoint.anchor());
    store
        .audit("alice", "run.finish", "run/4", &json!({}))
        .await
        .unwrap();
    let v = store
        .verify_audit_with(std::slice::from_ref(&kept))
        .await
        .unwrap();
    assert!(v.is_ok(), "{v:#?}");
    assert_eq!((v.rows_checked, v.anchors_checked), (6, 2));

    // Without a checkpoint the cut is invisible: that is the hole closed here.
    drop_guard(store, "audit_log_no_delete", "audit_log").await;
    store
        .execute_raw("DELETE FROM audit_log WHERE id >= 4")
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.rows_checked, 3);
    assert_eq!(broken_ids(&v), vec![5], "{v:#?}");
    let reason = &v.broken[0].reason;
    assert!(
        reason.contains("checkpoint 1 (taken by alice) anchors row 5")
            && reason.contains("the row is missing; the log ends at row 3"),
        "{reason}"
    );

    // An admin who also deletes the checkpoint is still caught by a head
    // kept outside the database.
    drop_guard(store, "audit_checkpoints_no_delete", "audit_checkpoints").await;
    store
        .execute_raw("DELETE FROM audit_checkpoints")
        .await
        .unwrap();
    assert!(store.verify_audit().await.unwrap().is_ok());
    let v = store.verify_audit_with(&[kept]).await.unwrap();
    assert_eq!(broken_ids(&v), vec![5], "{v:#?}");
    assert!(
        v.broken[0]
            .reason
            .starts_with("the expected head anchors row 5"),
        "{v:#?}"
    );

    // A rewritten row under an anchor: the anchor's hash no longer matches.
    let row3 = store.audit_log(1).await.unwrap().remove(0);
    let wrong = AuditAnchor {
        id: 3,
        hash: "0".repeat(64),
    };
    let v = store.verify_audit_with(&[wrong]).await.unwrap();
    assert_eq!(broken_ids(&v), vec![3]);
    assert!(
        v.broken[0]
            .reason
            .contains(&format!("the row stores {}", row3.hash)),
        "{v:#?}"
    );

    // A checkpoint never blesses a broken chain.
    drop_guard(store, "audit_log_no_update", "audit_log").await;
    store
        .execute_raw("UPDATE audit_log SET subject = 'x' WHERE id = 2")
        .await
        .unwrap();
    assert_err_contains(
        store.audit_checkpoint("alice").await,
        &["audit_checkpoint", "does not verify", "row 2"],
    );
}

async fn audit_log_refuses_update_and_delete(store: &Store) {
    store
        .audit("alice", "run.start", "run/1", &json!({}))
        .await
        .unwrap();
    store
        .audit("alice", "run.finish", "run/1", &json!({}))
        .await
        .unwrap();

    let update = store
        .execute_raw("UPDATE audit_log SET actor = 'mallory' WHERE id = 1")
        .await;
    assert_err_contains(update, &["audit_log is append-only", "UPDATE refused"]);
    let delete = store
        .execute_raw("DELETE FROM audit_log WHERE id = 2")
        .await;
    assert_err_contains(delete, &["audit_log is append-only", "DELETE refused"]);
    let delete_all = store.execute_raw("DELETE FROM audit_log").await;
    assert_err_contains(delete_all, &["append-only"]);
    if store.backend_name() == "postgres" {
        let truncate = store.execute_raw("TRUNCATE audit_log").await;
        assert_err_contains(truncate, &["append-only", "TRUNCATE refused"]);
    }
    // A second row claiming the same parent (a fork) is refused too.
    let fork = store
        .execute_raw(
            "INSERT INTO audit_log (id, at, actor, action, subject, detail, prev_hash, hash) \
             SELECT 100, at, actor, action, subject, detail, prev_hash, hash FROM audit_log WHERE id = 2",
        )
        .await;
    assert!(fork.is_err(), "fork accepted");
    // Checkpoints are append-only too.
    store.audit_checkpoint("alice").await.unwrap();
    let moved = store
        .execute_raw("UPDATE audit_checkpoints SET audit_id = 1")
        .await;
    assert_err_contains(
        moved,
        &["audit_checkpoints is append-only", "UPDATE refused"],
    );
    let removed = store.execute_raw("DELETE FROM audit_checkpoints").await;
    assert_err_contains(
        removed,
        &["audit_checkpoints is append-only", "DELETE refused"],
    );

    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok(), "{v:#?}");
    assert_eq!((v.rows_checked, v.anchors_checked), (2, 1));
    assert_eq!(store.audit_log(10).await.unwrap()[1].actor, "alice");
}

async fn concurrent_audit_appends_keep_one_chain(store: &Store) {
    const TASKS: i64 = 6;
    const EACH: i64 = 8;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let detail = json!({ "task": t, "i": i });
                ids.push(
                    store
                        .audit(&format!("writer-{t}"), "run.start", "run/x", &detail)
                        .await
                        .unwrap(),
                );
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for handle in handles {
        ids.extend(handle.await.unwrap());
    }
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=TASKS * EACH).collect::<Vec<_>>(),
        "each append got its own id, no gaps"
    );
    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok(), "{v:#?}");
    assert_eq!(v.rows_checked, (TASKS * EACH) as u64);
}

async fn recover_cancels_only_runs_whose_lease_expired(store: &Store) {
    let short = Duration::from_millis(1);
    let crashed = store.create_run("p", &digest("p"), short).await.unwrap();
    let done_step = store
        .start_step(&crashed, "load", None, "k1")
        .await
        .unwrap();
    store
        .finish_step(&crashed, done_step, &outcome(StepStatus::Succeeded))
        .await
        .unwrap();
    let hung_step = store
        .start_step(&crashed, "train", None, "k2")
        .await
        .unwrap();
    let live = new_lease(store, "live").await;
    let live_step = store.start_step(&live, "load", None, "k3").await.unwrap();
    let finished = store.create_run("p", &digest("p"), short).await.unwrap();
    store
        .finish_run(&finished, RunStatus::Succeeded, None)
        .await
        .unwrap();
    // a run from before leases (no owner, no lease) counts as expired
    let legacy = new_lease(store, "legacy").await;
    store
        .execute_raw(&format!(
            "UPDATE runs SET owner = NULL, lease_expires_at = NULL WHERE id = {}",
            legacy.run()
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let recovered = store.recover_interrupted().await.unwrap();
    assert_eq!(recovered, vec![crashed.run(), legacy.run()]);
    let run = store.run(crashed.run()).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(run.finished_at.is_some());
    let error = run.error.unwrap();
    assert!(
        error.contains("interrupted") && error.contains(crashed.owner()),
        "{error}"
    );
    let steps = store.step_runs(crashed.run()).await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Succeeded);
    assert_eq!(steps[1].id, hung_step);
    assert_eq!(steps[1].status, StepStatus::Cancelled);
    assert_eq!(
        store.run(finished.run()).await.unwrap().unwrap().status,
        RunStatus::Succeeded
    );
    // the live run and its step are untouched and still writable
    assert_eq!(
        store.run(live.run()).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    store
        .finish_step(&live, live_step, &outcome(StepStatus::Succeeded))
        .await
        .unwrap();
    store
        .finish_run(&live, RunStatus::Succeeded, None)
        .await
        .unwrap();

    // the crashed process, were it only paused, can change nothing now
    let late = store
        .finish_step(&crashed, hung_step, &outcome(StepStatus::Succeeded))
        .await;
    assert!(matches!(&late, Err(e) if e.is_lease_lost()), "{late:?}");
    assert_err_contains(late, &["another process recovered it"]);
    let late = store.finish_run(&crashed, RunStatus::Succeeded, None).await;
    assert!(matches!(&late, Err(e) if e.is_lease_lost()), "{late:?}");

    // recovery writes the run-finish audit entry, and the chain verifies
    let finishes: Vec<AuditRecord> = store
        .audit_log(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "run.finish")
        .collect();
    // two runs finished by their owners, two recovered
    assert_eq!(finishes.len(), 4, "{finishes:#?}");
    let finishes: Vec<AuditRecord> = finishes
        .into_iter()
        .filter(|a| a.detail.contains("\"recovered\":true"))
        .collect();
    assert_eq!(finishes.len(), 2, "{finishes:#?}");
    let entry = finishes.iter().find(|a| a.subject == "p").unwrap();
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(detail["run"], crashed.run());
    assert_eq!(detail["status"], "cancelled");
    assert_eq!(detail["recovered"], true);
    assert_eq!(detail["owner"], crashed.owner());
    assert!(store.verify_audit().await.unwrap().is_ok());

    assert!(store.recover_interrupted().await.unwrap().is_empty());
}

async fn heartbeat_keeps_a_short_lease_and_reports_its_loss(store: &Store) {
    // beats every third of the lease: two may be late before it expires
    let ttl = Duration::from_secs(1);
    let lease = store.create_run("p", &digest("p"), ttl).await.unwrap();
    let heartbeat = store.keep_alive(&lease, |_| panic!("the lease must hold"));
    tokio::time::sleep(ttl * 3).await;
    assert!(
        store.recover_interrupted().await.unwrap().is_empty(),
        "a renewed lease is not recovered"
    );
    drop(heartbeat);
    tokio::time::sleep(ttl * 2).await;
    assert_eq!(
        store.recover_interrupted().await.unwrap(),
        vec![lease.run()]
    );

    // a heartbeat on a recovered run reports the loss (the run then stops)
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel();
    let _heartbeat = store.keep_alive(&lease, move |e| {
        let _ = lost_tx.send(e.to_string());
    });
    let message = tokio::time::timeout(Duration::from_secs(5), lost_rx)
        .await
        .expect("the loss is reported within a few beats")
        .unwrap();
    assert!(
        message.contains("renew_lease")
            && message.contains(&format!("run {} is no longer owned", lease.run())),
        "{message}"
    );
}

/// Several writers (each a run with a short lease and a heartbeat) and a
/// recoverer running at the same time: nobody's live run is cancelled.
async fn concurrent_writers_and_recovery_keep_every_run(store: &Store) {
    const WRITERS: usize = 4;
    const STEPS: usize = 15;
    let ttl = Duration::from_secs(2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recoverer = {
        let store = store.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut recovered = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                recovered.extend(store.recover_interrupted().await.unwrap());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            recovered
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let lease = store
                .create_run(&format!("writer-{w}"), &digest("w"), ttl)
                .await
                .unwrap();
            let _heartbeat = store.keep_alive(&lease, |e| panic!("lease lost: {e}"));
            for i in 0..STEPS {
                let step = store
                    .start_step(&lease, &format!("s{i}"), None, "k")
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                store
                    .finish_step(&lease, step, &outcome(StepStatus::Succeeded))
                    .await
                    .unwrap();
            }
            store
                .finish_run(&lease, RunStatus::Succeeded, None)
                .await
                .unwrap();
            lease.run()
        }));
    }
    let mut runs = Vec::new();
    for writer in writers {
        runs.push(writer.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    assert!(recoverer.await.unwrap().is_empty());
    for run in runs {
        assert_eq!(
            store.run(run).await.unwrap().unwrap().status,
            RunStatus::Succeeded
        );
        assert_eq!(store.step_runs(run).await.unwrap().len(), STEPS);
    }
}

async fn reopen_keeps_data(store: &Store) {
    let run = new_lease(store, "p").await.run();
    store
        .audit("alice", "run.start", "run/1", &json!({}))
        .await
        .unwrap();
    // Migrations must be idempotent, and the display URL must be usable to reconnect.
    let again = Store::open(&store.url_for_display()).await.unwrap();
    assert_eq!(again.run(run).await.unwrap().unwrap().pipeline, "p");
    assert!(again.verify_audit().await.unwrap().is_ok());
    again.close().await;
}

/// Step logs keep their order and kinds, and whatever the caller passes,
/// what is written is bounded and has no raw control characters; an error
/// message is bounded and escaped in both places it is stored.
async fn step_logs_are_stored_bounded_and_escaped(store: &Store) {
    let lease = store
        .create_run("logs", &digest("p"), DEFAULT_RUN_LEASE)
        .await
        .unwrap();
    let run = lease.run();
    let step = store.start_step(&lease, "clean", None, "k").await.unwrap();
    let hostile = format!("\x1b]0;owned\x07{}", "y".repeat(16 << 20));
    let mut failed = outcome(StepStatus::Failed);
    failed.error = Some(hostile.clone());
    store.finish_step(&lease, step, &failed).await.unwrap();
    let row = |kind, level: Option<&str>, message: &str, value| NewStepLog {
        kind,
        level: level.map(str::to_string),
        message: message.to_string(),
        value,
    };
    let logs = [
        row(
            StepLogKind::Log,
            Some("warn"),
            "\x1b[2Jcleared\nFAKE line",
            None,
        ),
        row(StepLogKind::Metric, None, "rows_changed", Some(3.0)),
        row(StepLogKind::Stdout, None, &"o\n".repeat(1 << 20), None),
        row(StepLogKind::Stderr, None, "panicked\r\n", None),
        row(StepLogKind::Dropped, None, "12 log lines dropped", None),
    ];
    store.record_step_logs(step, &logs).await.unwrap();
    let stored = store.step_logs(run).await.unwrap();
    let kinds: Vec<StepLogKind> = stored.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [
            StepLogKind::Log,
            StepLogKind::Metric,
            StepLogKind::Stdout,
            StepLogKind::Stderr,
            StepLogKind::Dropped
        ]
    );
    assert!(
        stored
            .iter()
            .all(|l| l.step == "clean" && l.step_run_id == step)
    );
    assert_eq!(stored[0].message, "\\x1b[2Jcleared\nFAKE line");
    assert_eq!(stored[0].level.as_deref(), Some("warn"));
    assert_eq!(
        (stored[1].message.as_str(), stored[1].value),
        ("rows_changed", Some(3.0))
    );
    assert!(stored[2].message.len() <= STDIO_LIMIT && stored[2].message.ends_with("more cut]"));
    assert_eq!(stored[3].message, "panicked\\x0d\n");
    assert!(stored.iter().all(|l| !l.message.contains(['\x1b', '\r'])));

    store
        .finish_run(&lease, RunStatus::Failed, Some(&hostile))
        .await
        .unwrap();
    let step_error = store.step_runs(run).await.unwrap()[0]
        .error
        .clone()
        .unwrap();
    let run_error = store.run(run).await.unwrap().unwrap().error.unwrap();
    for error in [step_error, run_error] {
        assert!(
            error.len() <= sluice_core::text::MESSAGE_LIMIT,
            "{}",
            error.len()
        );
        assert!(error.starts_with("\\x1b]0;owned\\x07yyy") && error.ends_with("MiB more cut]"));
    }
    // logs of a step run that does not exist are refused, naming it
    assert_err_contains(
        store.record_step_logs(9999, &logs[..1]).await,
        &["step run", "9999"],
    );
}

// ---- harness --------------------------------------------------------------

/// Short digests as people type them, the references `sluice gc` keeps,
/// and a digest column holding something else failing loudly.
async fn artifact_prefixes_references_and_bad_digest_text(store: &Store) {
    let lease = new_lease(store, "p").await;
    let run = lease.run();
    for (seed, inputs) in [
        ("kept-table", &["source"][..]),
        ("kept-state", &[]),
        ("only-recorded", &[]),
    ] {
        store
            .put_artifact(&new_artifact(seed, run, inputs))
            .await
            .unwrap();
    }
    let table = digest("kept-table");
    let hex = table.hex();
    for typed in [&hex[..12], &hex[..1], &hex[..]] {
        let found = store.artifacts_by_prefix(typed, 2).await.unwrap();
        assert!(found.iter().any(|a| a.digest == table), "{typed}");
    }
    assert_eq!(store.artifacts_by_prefix("", 10).await.unwrap().len(), 3);
    assert_err_contains(
        store.artifacts_by_prefix("%", 2).await,
        &["digest prefix", "hexadecimal"],
    );
    assert_eq!(store.all_artifacts().await.unwrap().len(), 3);

    let step = store.start_step(&lease, "s", None, "key").await.unwrap();
    let entry = CacheEntry {
        cache_key: "key".into(),
        output_digest: table,
        state_digest: Some(digest("kept-state")),
        created_at: 0,
        metrics: Vec::new(),
    };
    let mut done = outcome(StepStatus::Succeeded);
    done.output_digest = Some(table);
    store
        .complete_step(&lease, step, &done, &[], Some(&entry))
        .await
        .unwrap();
    let referenced = store.referenced_digests().await.unwrap();
    let expected: BTreeSet<Digest> = ["kept-table", "kept-state", "only-recorded", "source"]
        .iter()
        .map(|s| digest(s))
        .collect();
    assert_eq!(referenced, expected);

    store
        .execute_raw("UPDATE step_runs SET output_digest = 'sha256:not-hex'")
        .await
        .unwrap();
    assert_err_contains(store.step_runs(run).await, &["step_runs", "sha256:not-hex"]);
}

// ---- API tokens and the prediction log ------------------------------------

async fn tokens_authenticate_revoke_and_audit(store: &Store) {
    let admin = store.create_token(TokenRole::Admin, "ops").await.unwrap();
    let predict = store.create_token(TokenRole::Predict, "ops").await.unwrap();
    assert!(admin.secret.starts_with(TOKEN_PREFIX), "{}", admin.secret);
    assert_eq!(admin.secret.len(), TOKEN_PREFIX.len() + 43);
    assert_ne!(admin.secret, predict.secret);
    assert!(
        !format!("{admin:?}").contains(&admin.secret),
        "Debug hides the secret"
    );
    assert_eq!(admin.record.role, TokenRole::Admin);
    assert_eq!(admin.record.created_by, "ops");

    let found = store.authenticate(&admin.secret).await.unwrap().unwrap();
    assert_eq!(found, admin.record);
    let found = store.authenticate(&predict.secret).await.unwrap().unwrap();
    assert_eq!(found.role, TokenRole::Predict);

    // wrong secrets: one character changed, another well-formed secret, junk
    let mut altered = admin.secret.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let other = format!("{TOKEN_PREFIX}{}", "A".repeat(43));
    for wrong in [
        altered.as_str(),
        other.as_str(),
        "",
        "slc_",
        "Bearer x",
        &admin.secret[4..],
    ] {
        assert_eq!(store.authenticate(wrong).await.unwrap(), None, "`{wrong}`");
    }

    // the secret is not stored: only its SHA-256, and the audit log has neither
    let sql = "SELECT secret_hash FROM api_tokens ORDER BY id";
    let hashes: Vec<String> = match &store.backend {
        Backend::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
        Backend::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
    };
    assert_eq!(
        hashes[0],
        hex::encode(Sha256::digest(admin.secret.as_bytes()))
    );
    for hash in &hashes {
        assert!(!hash.contains(&admin.secret[4..]) && !hash.contains(&predict.secret[4..]));
    }

    // the in-memory set agrees
    let set = store.active_tokens().await.unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.authenticate(&admin.secret), Some(&admin.record));
    assert_eq!(set.authenticate(&altered), None);

    let revoked = store
        .revoke_token(predict.record.id, "alice")
        .await
        .unwrap();
    assert_eq!(revoked.revoked_by.as_deref(), Some("alice"));
    assert!(revoked.revoked_at.is_some());
    assert_eq!(store.authenticate(&predict.secret).await.unwrap(), None);
    assert_eq!(
        store
            .active_tokens()
            .await
            .unwrap()
            .authenticate(&predict.secret),
        None
    );
    assert!(store.authenticate(&admin.secret).await.unwrap().is_some());
    assert_err_contains(
        store.revoke_token(predict.record.id, "alice").await,
        &[
            "revoke_token",
            &format!("token {} was already revoked", predict.record.id),
            "by alice",
        ],
    );
    assert_err_contains(
        store.revoke_token(999, "alice").await,
        &["revoke_token", "token `999` does not exist"],
    );

    let tokens = store.tokens().await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0].revoked_at, None);
    assert_eq!(tokens[1], revoked);

    // audited with the token id, never the secret
    let audit = store.audit_log(10).await.unwrap();
    let actions: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.subject.as_str(), a.actor.as_str()))
        .collect();
    let (a, p) = (admin.record.id, predict.record.id);
    assert_eq!(
        actions,
        [
            ("token.revoke", format!("token/{p}").as_str(), "alice"),
            ("token.create", format!("token/{p}").as_str(), "ops"),
            ("token.create", format!("token/{a}").as_str(), "ops"),
        ]
    );
    assert_eq!(
        audit[2].detail,
        format!(r#"{{"role":"admin","token":{a}}}"#)
    );
    for row in &audit {
        assert!(!row.detail.contains("slc_") && !row.subject.contains("slc_"));
    }
    assert!(store.verify_audit().await.unwrap().is_ok());
}

/// Model `spam` with versions 1..=`versions` registered, version 1 in production.
async fn spam_versions(store: &Store, versions: usize) {
    let run = new_lease(store, "p").await.run();
    for v in 1..=versions {
        let seed = format!("m{v}");
        let mut model = new_artifact(&seed, run, &[]);
        model.kind = ArtifactKind::Model;
        model.rows = None;
        store.put_artifact(&model).await.unwrap();
        store
            .register_model(&new_model(run, &seed), None)
            .await
            .unwrap();
    }
    store
        .set_alias("spam", "production", 1, "ops", &serde_json::json!({}))
        .await
        .unwrap();
}

async fn deployments_one_active_per_model_ended_once(store: &Store) {
    spam_versions(store, 3).await;
    let canary = |version| NewDeployment {
        model: "spam".into(),
        version,
        mode: DeploymentMode::Canary,
        variant: "canary".into(),
        percent: 5.0,
    };
    let first = store.start_deployment(&canary(2), "ops").await.unwrap();
    assert_eq!(first.status, DeploymentStatus::Active);
    assert_eq!(first.baseline, Some(1));
    // one active deployment per model
    assert_err_contains(
        store.start_deployment(&canary(3), "ops").await,
        &[
            "start_deployment",
            "already has active deployment",
            "canary of version 2",
        ],
    );
    // bad input names what is wrong, and nothing is stored
    for (bad, words) in [
        (
            NewDeployment {
                percent: 0.0,
                ..canary(3)
            },
            &["percent"][..],
        ),
        (
            NewDeployment {
                percent: 100.0,
                ..canary(3)
            },
            &["percent"],
        ),
        (
            NewDeployment {
                version: 9,
                ..canary(3)
            },
            &["model version", "spam 9"],
        ),
        (
            NewDeployment {
                variant: "production".into(),
                ..canary(3)
            },
            &["variant"],
        ),
        (
            NewDeployment {
                mode: DeploymentMode::Shadow,
                ..canary(3)
            },
            &["shadow", "percent"],
        ),
    ] {
        assert_err_contains(store.start_deployment(&bad, "ops").await, words);
    }
    assert_eq!(
        store.active_deployment("spam").await.unwrap().unwrap().id,
        first.id
    );

    // two processes end it at once: exactly one wins, the other is told who did
    let (rolled, none) = (serde_json::json!({"p99_ratio": 2.3}), serde_json::json!({}));
    let (a, b) = tokio::join!(
        store.end_deployment(
            first.id,
            DeploymentStatus::RolledBack,
            "monitor",
            "p99 2.3x production",
            &rolled
        ),
        store.end_deployment(
            first.id,
            DeploymentStatus::Promoted,
            "ops",
            "looks good",
            &none
        ),
    );
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one end should win: {other:?}"),
    };
    assert!(lost.is_conflict(), "{lost}");
    assert!(lost.to_string().contains("already ended"), "{lost}");
    assert!(store.active_deployment("spam").await.unwrap().is_none());
    let ended = &store.deployments(Some("spam"), 10).await.unwrap()[0];
    assert_eq!(ended, &won);
    assert!(ended.ended_at.is_some());
    let audit = store.audit_log(5).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "deployment.start"));
    assert!(
        audit
            .iter()
            .any(|a| a.action == format!("deployment.{}", won.status))
    );

    // a new one may start once the last ended; shadows carry no percent
    let shadow = store
        .start_deployment(
            &NewDeployment {
                mode: DeploymentMode::Shadow,
                variant: "shadow".into(),
                percent: 0.0,
                ..canary(3)
            },
            "ops",
        )
        .await
        .unwrap();
    assert_eq!(store.deployments(None, 10).await.unwrap().len(), 2);
    assert_err_contains(
        store
            .end_deployment(
                shadow.id,
                DeploymentStatus::Active,
                "x",
                "",
                &serde_json::json!({}),
            )
            .await,
        &["cannot end as `active`"],
    );
    assert_err_contains(
        store
            .end_deployment(99, DeploymentStatus::Ended, "x", "", &serde_json::json!({}))
            .await,
        &["deployment", "99"],
    );
}

async fn feedback_and_the_review_queue(store: &Store) {
    let now = now_ms();
    let mut rows = Vec::new();
    for (i, action) in ["escalate", "allow", "escalate", "block", "escalate"]
        .iter()
        .enumerate()
    {
        let mut p = prediction(&format!("r{i}"), now + i as i64, Some("hola"));
        p.action = action.to_string();
        rows.push(p);
    }
    store.append_predictions(&rows).await.unwrap();
    let queue = |store: &Store| {
        let store = store.clone();
        async move {
            store
                .review_queue("chat-moderation", 10)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.request_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(queue(store).await, ["r0", "r2", "r4"]);
    let verdict = |request_id: &str, source: &str, label: &str| NewFeedback {
        request_id: request_id.into(),
        label: label.into(),
        source: source.into(),
        actor: "token/3".into(),
        action: (source == "review").then(|| "block".to_string()),
    };
    // a user's verdict does not take an answer off the review queue
    store
        .record_feedback(&verdict("r0", "user", "spam"))
        .await
        .unwrap();
    assert_eq!(queue(store).await, ["r0", "r2", "r4"]);
    store
        .record_feedback(&verdict("r0", "review", "spam"))
        .await
        .unwrap();
    // a second verdict of the same source and actor replaces the first
    let again = store
        .record_feedback(&verdict("r0", "review", "ok"))
        .await
        .unwrap();
    assert_eq!(again.label, "ok");
    assert_eq!(queue(store).await, ["r2", "r4"]);
    let on_r0 = store.feedback_for("r0").await.unwrap();
    assert_eq!(on_r0.len(), 2);
    assert_eq!(on_r0[1].action.as_deref(), Some("block"));
    // r0 was answered `ok`: the user's `spam` disagrees, the review's `ok` agrees
    assert_eq!(
        store
            .feedback_agreement("chat-moderation", 3, "production", 0)
            .await
            .unwrap(),
        (2, 1)
    );
    // r0 answered `ok`, reviewed `ok`: reviewed, not overturned
    assert_eq!(
        store.review_counts("chat-moderation").await.unwrap(),
        [ReviewCounts {
            version: 3,
            reviewed: 1,
            overturned: 0
        }]
    );
    store
        .record_feedback(&verdict("r2", "review", "spam"))
        .await
        .unwrap();
    assert_eq!(
        store.review_counts("chat-moderation").await.unwrap(),
        [ReviewCounts {
            version: 3,
            reviewed: 2,
            overturned: 1
        }]
    );
    assert_eq!(
        store
            .feedback_agreement("chat-moderation", 3, "canary", 0)
            .await
            .unwrap(),
        (0, 0)
    );
    // a verdict on an answer never given is refused, naming it
    assert_err_contains(
        store
            .record_feedback(&verdict("nope", "user", "spam"))
            .await,
        &["prediction", "nope"],
    );
    assert_err_contains(
        store.record_feedback(&verdict("r1", "user", "")).await,
        &["label"],
    );
    // guest-controlled text is bounded and escaped on the way in
    let mut hostile = verdict("r1", "user\u{1b}[2J", &"x".repeat(10_000));
    hostile.actor = "a\u{202e}b".into();
    let stored = store.record_feedback(&hostile).await.unwrap();
    assert!(stored.label.len() < 400, "{}", stored.label.len());
    assert!(!stored.source.contains('\u{1b}'));
    assert!(!stored.actor.contains('\u{202e}'));
}

fn prediction(request_id: &str, at: i64, text: Option<&str>) -> NewPrediction {
    NewPrediction {
        request_id: request_id.to_owned(),
        at,
        model: "chat-moderation".into(),
        version: 3,
        variant: "production".into(),
        score: Some(0.25),
        label: Some("ok".into()),
        action: "allow".into(),
        rules: vec!["lexicon:slur".into(), "pii:email".into()],
        latency_us: 812,
        text_hash: prediction_text_hash(text.unwrap_or("")),
        text: text.map(str::to_owned),
        user_hash: Some(prediction_text_hash("user-7")),
        channel: Some("chat".into()),
        lang: Some("es".into()),
    }
}

async fn predictions_append_idempotently_query_and_purge(store: &Store) {
    let now = now_ms();
    let day = 86_400_000;
    let old = prediction("req-old", now - 2 * day, Some("hola, ¿qué tal?"));
    let mut fresh = prediction("req-new", now, Some("buenas"));
    fresh.score = None;
    fresh.action = "escalate".into();
    fresh.rules = vec!["detector_error".into(), "bad\x1b[31mrule".into()];
    let mid = prediction("req-mid", now - day, None);
    let batch = [old.clone(), mid.clone(), fresh.clone()];
    assert_eq!(store.append_predictions(&batch).await.unwrap(), 3);
    // a replay of the same answers, and one new one: only the new one is added
    let extra = prediction("req-extra", now, None);
    let replay = [fresh.clone(), old.clone(), extra.clone(), mid.clone()];
    assert_eq!(store.append_predictions(&replay).await.unwrap(), 1);
    assert_eq!(store.prediction_count().await.unwrap(), 4);
    assert_eq!(store.append_predictions(&[]).await.unwrap(), 0);

    let got = store.prediction("req-old").await.unwrap().unwrap();
    assert_eq!(got.request_id, "req-old");
    assert_eq!(got.at, old.at);
    assert_eq!(
        (got.model.as_str(), got.version, got.variant.as_str()),
        ("chat-moderation", 3, "production")
    );
    assert_eq!(got.score, Some(0.25));
    assert_eq!(got.label.as_deref(), Some("ok"));
    assert_eq!(got.rules, ["lexicon:slur", "pii:email"]);
    assert_eq!(got.latency_us, 812);
    assert_eq!(got.text_hash, prediction_text_hash("hola, ¿qué tal?"));
    assert_eq!(got.text.as_deref(), Some("hola, ¿qué tal?"));
    assert_eq!(got.channel.as_deref(), Some("chat"));
    assert_eq!(got.lang.as_deref(), Some("es"));
    let got = store.prediction("req-new").await.unwrap().unwrap();
    assert_eq!(got.score, None);
    assert_eq!(got.action, "escalate");
    // guest-supplied rule ids are escaped before they are stored
    assert_eq!(got.rules, ["detector_error", "bad\\x1b[31mrule"]);
    assert_eq!(store.prediction("nope").await.unwrap(), None);

    // oldest first, from a time on, bounded
    let since: Vec<String> = store
        .predictions_since(now - day, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.request_id)
        .collect();
    assert_eq!(since, ["req-mid", "req-extra", "req-new"]);
    assert_eq!(
        store.predictions_since(0, 1).await.unwrap()[0].request_id,
        "req-old"
    );
    assert_err_contains(
        store.predictions_since(0, -1).await,
        &["limit must not be negative"],
    );

    // retention: texts older than a day and a half are nulled, hashes stay
    // (another model's texts are not this retention's to purge)
    assert_eq!(
        store
            .purge_prediction_texts(Duration::from_millis(day as u64 * 3 / 2), Some("other"))
            .await
            .unwrap(),
        0
    );
    let purged = store
        .purge_prediction_texts(Duration::from_millis(day as u64 * 3 / 2), None)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let got = store.prediction("req-old").await.unwrap().unwrap();
    assert_eq!(got.text, None);
    assert_eq!(got.text_hash, prediction_text_hash("hola, ¿qué tal?"));
    assert_eq!(
        store
            .prediction("req-new")
            .await
            .unwrap()
            .unwrap()
            .text
            .as_deref(),
        Some("buenas")
    );
    assert_eq!(
        store
            .purge_prediction_texts(Duration::from_millis(day as u64), None)
            .await
            .unwrap(),
        0
    );

    // a bad entry fails the batch naming it, and nothing of the batch is stored
    let mut bad = prediction("req-bad", now, None);
    bad.latency_us = -1;
    assert_err_contains(
        store
            .append_predictions(&[prediction("req-ok", now, None), bad])
            .await,
        &["append_predictions", "prediction `req-bad`", "latency_us"],
    );
    assert_err_contains(
        store.append_predictions(&[prediction("", now, None)]).await,
        &["request_id must be 1 to 256 bytes"],
    );
    assert_eq!(store.prediction_count().await.unwrap(), 4);
}

/// A prediction log configured to notice an outage quickly.
fn outage_config(spill: &std::path::Path) -> PredictionLogConfig {
    PredictionLogConfig {
        capacity: 64,
        batch_rows: 50,
        max_wait: Duration::from_millis(10),
        write_timeout: Duration::from_millis(300),
        retry_every: Duration::from_millis(200),
        ..PredictionLogConfig::new(spill)
    }
}

/// Makes the store unavailable for `length`: on SQLite another connection
/// holds an exclusive lock on the file; on PostgreSQL every other
/// connection to the database (the store's) is terminated again and again.
/// Returns how many times the store was refused or cut off.
async fn store_outage(store: &Store, length: Duration) -> u64 {
    let url = store.url_for_display();
    match store.backend_name() {
        "sqlite" => {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("BEGIN EXCLUSIVE")
                .execute(&mut conn)
                .await
                .unwrap();
            tokio::time::sleep(length).await;
            sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
            1
        }
        _ => {
            let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
            let until = Instant::now() + length;
            let mut ended = 0u64;
            while Instant::now() < until {
                let killed: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .fetch_all(&mut admin)
                .await
                .unwrap();
                ended += killed.into_iter().filter(|k| *k).count() as u64;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            admin.close().await.unwrap();
            ended
        }
    }
}

async fn prediction_log_loses_nothing_through_a_store_outage(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill/predictions.jsonl");
    let log = Arc::new(PredictionLog::start(store.clone(), outage_config(&spill)).unwrap());
    const ROUNDS: usize = 60;
    const PER_ROUND: usize = 50;
    let now = now_ms();
    let load = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                for i in 0..PER_ROUND {
                    let n = round * PER_ROUND + i;
                    log.log(prediction(
                        &format!("req-{n:05}"),
                        now + n as i64,
                        Some("hola"),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = store_outage(store, Duration::from_millis(1000)).await;
    assert!(refused > 0, "the outage ended no connection");
    load.await.unwrap();
    let during = log.stats();
    let stats = log.shutdown().await;
    eprintln!(
        "{}: during {during:?}\nafter {stats:?}",
        store.backend_name()
    );

    let total = (ROUNDS * PER_ROUND) as u64;
    assert_eq!(stats.logged, total);
    assert_eq!(stats.lost, 0);
    assert_eq!(stats.unreadable, 0);
    assert_eq!(stats.pending, 0, "{stats:?}");
    assert_eq!(stats.queue_depth, 0);
    assert_eq!(stats.lag_ms, 0);
    if store.backend_name() == "sqlite" {
        // the lock outlasts the write timeout: batches were spilled and replayed
        assert!(
            stats.store_errors > 0 && stats.spilled > 0 && stats.replayed > 0,
            "{stats:?}"
        );
    }
    // every entry is stored once
    assert_eq!(store.prediction_count().await.unwrap(), total as i64);
    let ids: BTreeSet<String> = store
        .predictions_since(0, total as i64 + 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.request_id)
        .collect();
    assert_eq!(ids.len() as u64, total);
    assert!(ids.contains("req-00000") && ids.contains(&format!("req-{:05}", total - 1)));
    // the spill files are gone once replayed
    assert!(!spill.exists() || std::fs::metadata(&spill).unwrap().len() == 0);
    assert!(!spill.with_extension("jsonl.replay").exists());
}

async fn prediction_log_replays_what_an_earlier_process_spilled(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("predictions.jsonl");
    let now = now_ms();
    // an earlier process spilled three entries, one of them already stored,
    // and died in the middle of writing a fourth line
    store
        .append_predictions(&[prediction("a", now, None)])
        .await
        .unwrap();
    let mut lines = String::new();
    for id in ["a", "b", "c"] {
        lines.push_str(&serde_json::to_string(&prediction(id, now, None)).unwrap());
        lines.push('\n');
    }
    lines.push_str(r#"{"request_id":"d","at":"#);
    std::fs::write(&spill, lines).unwrap();

    let log = PredictionLog::start(store.clone(), outage_config(&spill)).unwrap();
    log.log(prediction("e", now, None));
    let stats = log.shutdown().await;
    assert_eq!(stats.unreadable, 1, "{stats:?}");
    assert_eq!(stats.replayed, 3);
    assert_eq!(stats.lost, 0);
    let ids: Vec<String> = store
        .predictions_since(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.request_id)
        .collect();
    assert_eq!(ids, ["a", "b", "c", "e"]);

    // after shutdown an entry is spilled (and synced), and the next start stores it
    log.log(prediction("f", now, None));
    assert!(std::fs::metadata(&spill).unwrap().len() > 0);
    let again = PredictionLog::start(store.clone(), outage_config(&spill)).unwrap();
    again.shutdown().await;
    assert!(store.prediction("f").await.unwrap().is_some());
}

/// Expands each suite fn into `sqlite::<name>` and `postgres::<name>` tests.
macro_rules! store_suite {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::Store::open(dir.path().join("sluice.db").to_str().unwrap()).await.unwrap();
                    super::$name(&store).await;
                    store.close().await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::PgTestDb::create(stringify!($name)).await else { return };
                    let store = super::Store::open(&db.url).await.unwrap();
                    let in_task = store.clone();
                    // In a task so a failed assertion still reaches the DROP below.
                    let result = tokio::spawn(async move { super::$name(&in_task).await }).await;
                    store.close().await;
                    db.drop().await;
                    if let Err(e) = result {
                        std::panic::resume_unwind(e.into_panic());
                    }
                }
            )+
        }
    };
}

/// A file's digest is found only under exactly the fingerprint it was
/// recorded with; recording again replaces it; unsigned fields keep their
/// full range; the step's completion records its files in its transaction.
async fn file_fingerprints_match_exactly(store: &Store) {
    let fingerprint = sluice_data::FileFingerprint {
        bytes: u64::MAX - 1,
        mtime_ns: 1_700_000_000_123_456_789,
        ctime_ns: 1_700_000_001_000_000_001,
        inode: u64::MAX,
        device: 2049,
    };
    let file = FileRecord {
        path: "/data/messages.csv".into(),
        fingerprint,
        digest: digest("v1"),
    };
    assert_eq!(
        store
            .fingerprinted_digest(&file.path, &fingerprint)
            .await
            .unwrap(),
        None
    );
    store
        .record_fingerprints(std::slice::from_ref(&file))
        .await
        .unwrap();
    assert_eq!(
        store
            .fingerprinted_digest(&file.path, &fingerprint)
            .await
            .unwrap(),
        Some(digest("v1"))
    );
    for changed in [
        sluice_data::FileFingerprint {
            ctime_ns: fingerprint.ctime_ns + 1,
            ..fingerprint
        },
        sluice_data::FileFingerprint {
            mtime_ns: fingerprint.mtime_ns - 1,
            ..fingerprint
        },
        sluice_data::FileFingerprint {
            inode: 7,
            ..fingerprint
        },
        sluice_data::FileFingerprint {
            bytes: 1,
            ..fingerprint
        },
    ] {
        assert_eq!(
            store
                .fingerprinted_digest(&file.path, &changed)
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        store
            .fingerprinted_digest("/data/other.csv", &fingerprint)
            .await
            .unwrap(),
        None
    );

    // a newer version of the file replaces the record
    let newer = FileRecord {
        fingerprint: sluice_data::FileFingerprint {
            ctime_ns: fingerprint.ctime_ns + 5,
            ..fingerprint
        },
        digest: digest("v2"),
        ..file.clone()
    };
    let lease = new_lease(store, "fingerprints").await;
    let step = store.start_step(&lease, "s", None, "k").await.unwrap();
    let mut done = outcome(StepStatus::Succeeded);
    done.output_digest = Some(digest("v2"));
    store
        .complete_step_with_files(&lease, step, &done, &[], None, std::slice::from_ref(&newer))
        .await
        .unwrap();
    assert_eq!(
        store
            .fingerprinted_digest(&file.path, &fingerprint)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .fingerprinted_digest(&file.path, &newer.fingerprint)
            .await
            .unwrap(),
        Some(digest("v2"))
    );
}

store_suite!(
    run_lifecycle,
    registry_versions_aliases_and_history,
    complete_step_is_one_transaction,
    step_runs_lifecycle,
    artifacts_lineage_and_idempotent_put,
    cache_get_put_upsert,
    artifact_prefixes_references_and_bad_digest_text,
    plugin_upsert,
    audit_chain_appends_and_verifies,
    audit_tampering_detected,
    audit_deletion_detected,
    audit_log_refuses_update_and_delete,
    concurrent_audit_appends_keep_one_chain,
    audit_cut_tail_is_caught_by_checkpoints,
    recover_cancels_only_runs_whose_lease_expired,
    heartbeat_keeps_a_short_lease_and_reports_its_loss,
    concurrent_writers_and_recovery_keep_every_run,
    reopen_keeps_data,
    step_logs_are_stored_bounded_and_escaped,
    file_fingerprints_match_exactly,
    tokens_authenticate_revoke_and_audit,
    predictions_append_idempotently_query_and_purge,
    prediction_log_loses_nothing_through_a_store_outage,
    prediction_log_replays_what_an_earlier_process_spilled,
    deployments_one_active_per_model_ended_once,
    feedback_and_the_review_queue,
);

/// A throwaway database on the test server, dropped by [`PgTestDb::drop`].
struct PgTestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl PgTestDb {
    /// `None` when PostgreSQL tests are switched off.
    async fn create(test: &str) -> Option<PgTestDb> {
        let admin_url =
            std::env::var("SLUICE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.into());
        if admin_url == "off" {
            eprintln!("SLUICE_TEST_POSTGRES=off: skipping the PostgreSQL run of {test}");
            return None;
        }
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = format!(
            "{test}/{}/{:?}/{}",
            std::process::id(),
            std::time::SystemTime::now(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let name = format!(
            "sluice_test_{}",
            &hex::encode(Sha256::digest(seed.as_bytes()))[..16]
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("connecting to {admin_url} (set SLUICE_TEST_POSTGRES): {e}")
            });
        // The name is generated hex, never input: safe to splice.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(PgTestDb {
            admin_url,
            name,
            url,
        })
    }

    async fn drop(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
    }
}

// ---- SQLite-only and backend-independent tests -----------------------------

#[tokio::test]
async fn open_creates_sqlite_file_and_parent_dirs() {
    let dir = tempfile::tempdir().unwrap();

    let bare = dir.path().join("a/b/bare.db");
    let store = Store::open(bare.to_str().unwrap()).await.unwrap();
    assert!(bare.is_file());
    assert_eq!(
        store.url_for_display(),
        format!("sqlite://{}", bare.display())
    );
    assert_eq!(store.backend_name(), "sqlite");
    store.close().await;

    let abs = dir.path().join("c/url.db");
    let store = Store::open(&format!("sqlite://{}", abs.display()))
        .await
        .unwrap();
    assert!(abs.is_file());
    new_lease(&store, "p").await.run();
    store.close().await;

    let home = dir.path().join(".sluice");
    let store = Store::open_default(&home).await.unwrap();
    assert!(home.join("sluice.db").is_file());
    assert_eq!(
        store.url_for_display(),
        format!("sqlite://{}", home.join("sluice.db").display())
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_a_new_sqlite_file_at_once_all_succeed() {
    // Each open has its own connections and lock handle, as separate
    // processes would; unserialised, some failed migrating
    // (`table runs already exists`).
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sluice.db").display().to_string();
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move { Store::open(&path).await })
            })
            .collect();
        for open in opens {
            let store = open.await.unwrap().unwrap();
            store.runs(1).await.unwrap();
            store.close().await;
        }
    }
}

#[tokio::test]
async fn open_in_memory_sqlite() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let run = new_lease(&store, "p").await.run();
    store
        .audit("a", "run.start", "run/1", &json!({}))
        .await
        .unwrap();
    assert_eq!(store.run(run).await.unwrap().unwrap().id, run);
    assert!(store.verify_audit().await.unwrap().is_ok());
}

#[tokio::test]
async fn bad_url_error_names_the_problem_without_password() {
    let err = Store::open("mysql://root:hunter2@db.example/sluice")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadUrl { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("unsupported scheme `mysql`"), "{msg}");
    assert!(msg.contains("mysql://root@db.example/sluice"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");

    assert_err_contains(
        Store::open("sqlite://").await,
        &["store URL", "no database file path"],
    );
    assert_err_contains(Store::open("").await, &["empty"]);

    // Nothing listens on port 1: a connection error naming op and URL, password dropped.
    let err = Store::open("postgres://sluice:hunter2@127.0.0.1:1/sluice")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("open on postgres://sluice@127.0.0.1:1/sluice: "),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[tokio::test]
async fn sqlite_path_that_is_a_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path().to_str().unwrap()).await.unwrap_err();
    assert!(err.to_string().starts_with("open on sqlite://"), "{err}");
}

#[test]
fn statuses_round_trip_as_text() {
    for s in RunStatus::ALL {
        assert_eq!(s.to_string().parse::<RunStatus>().unwrap(), *s);
    }
    for s in StepStatus::ALL {
        assert_eq!(s.to_string().parse::<StepStatus>().unwrap(), *s);
    }
    for k in ArtifactKind::ALL {
        assert_eq!(k.to_string().parse::<ArtifactKind>().unwrap(), *k);
    }
    assert_eq!(StepStatus::Skipped.to_string(), "skipped");
    let err = "done".parse::<RunStatus>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown run status `done` (expected one of: running, succeeded, failed, cancelled)"
    );
    assert_eq!(
        serde_json::to_string(&RunStatus::Cancelled).unwrap(),
        r#""cancelled""#
    );
}
