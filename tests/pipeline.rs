//! Pipelines end to end: real plugins, a real SQLite file (and the real
//! PostgreSQL server), real Parquet artifacts.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use sluice_core::Digest;
use sluice_data::blobs::ArtifactDir;

use sluice_pipeline::{Pipeline, Quiet, RunOptions, RunSummary};
use sluice_store::{RunStatus, StepStatus, Store};

/// A temporary project: pipeline file, policy, data, and a sluice home.
struct Project {
    dir: tempfile::TempDir,
}

const POLICY: &str = r#"
[plugin.clean-text]
read = ["text"]
write = ["text_clean"]
[plugin.word-count]
read = ["text_clean", "out"]
write = ["word_count"]
[plugin.spam-detector]
read = ["text"]
write = ["spam_label", "spam_score", "spam_rules"]
[plugin.standard-scaler]
read = ["n"]
write = ["n"]
[plugin.panic-mid-chunk]
read = ["text"]
write = ["out"]
"#;

const PIPELINE: &str = r#"
[pipeline]
name = "demo"
policy = "policy.toml"
chunk_rows = 2
concurrency = 2

[source.messages]
path = "messages.csv"

[step.clean]
plugin = "clean-text"
input = "messages"

[step.count]
plugin = "word-count"
input = "clean"
params = { column = "text_clean" }

[step.spam]
plugin = "spam-detector"
input = "messages"

[step.scale]
plugin = "standard-scaler"
input = "messages"
params = { columns = ["n"] }

[output.counted]
step = "count"
path = "out/counted.csv"
"#;

const MESSAGES: &str = "text,n\n\"FREE entry!! WIN cash now www.win.example.com\",1\nhello mum see you at 5,2\n\"  ｈｅｌｌｏ   @Bob \",3\nURGENT call now to claim your prize,4\nok,5\n";

impl Project {
    fn new(pipeline: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
        std::fs::write(dir.path().join("messages.csv"), MESSAGES).unwrap();
        std::fs::write(dir.path().join("pipeline.toml"), pipeline).unwrap();
        Project { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path(".sluice")
    }

    async fn store(&self) -> Store {
        Store::open_default(&self.home()).await.unwrap()
    }

    fn plan(&self) -> Result<sluice_pipeline::Plan, String> {
        let runtime = sluice_tests::runtime();
        let pipeline = Pipeline::load(&self.path("pipeline.toml")).map_err(|e| e.to_string())?;
        sluice_pipeline::plan(pipeline, &runtime, &self.home()).map_err(|e| e.to_string())
    }

    async fn run_with(&self, store: &Store, options: RunOptions) -> RunSummary {
        let plan = Arc::new(self.plan().unwrap());
        sluice_pipeline::execute(
            plan,
            store,
            &self.home(),
            &options,
            Arc::new(Quiet),
            Arc::new(AtomicBool::new(false)),
        )
        .await
        .unwrap()
    }

    async fn run(&self, options: RunOptions) -> RunSummary {
        self.run_with(&self.store().await, options).await
    }
}

fn statuses(summary: &RunSummary) -> Vec<(String, StepStatus, bool)> {
    let mut out: Vec<_> = summary
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.status, s.cache_hit))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn outputs(summary: &RunSummary) -> Vec<(String, Option<Digest>)> {
    let mut out: Vec<_> = summary
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.output))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_end_to_end_then_caches_then_reruns_only_what_changed() {
    let project = Project::new(PIPELINE);
    let first = project.run(RunOptions::default()).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:#?}");
    assert!(first.steps.iter().all(|s| !s.cache_hit));
    let csv = std::fs::read_to_string(project.path("out/counted.csv")).unwrap();
    assert!(csv.starts_with("text,n,text_clean,word_count\n"), "{csv}");
    assert!(csv.contains("hello <user>,2"), "{csv}");

    // unchanged: nothing executes
    let second = project.run(RunOptions::default()).await;
    assert_eq!(second.status, RunStatus::Succeeded);
    assert!(
        second.steps.iter().all(|s| s.cache_hit),
        "{:?}",
        statuses(&second)
    );
    assert_eq!(outputs(&first), outputs(&second));

    // one param changed: that step and its dependants re-run, nothing else
    let changed = PIPELINE.replace(
        "[step.clean]\nplugin = \"clean-text\"\ninput = \"messages\"",
        "[step.clean]\nplugin = \"clean-text\"\ninput = \"messages\"\nparams = { max_repeat = 1 }",
    );
    std::fs::write(project.path("pipeline.toml"), changed).unwrap();
    let third = project.run(RunOptions::default()).await;
    let hits: Vec<(String, bool)> = statuses(&third)
        .into_iter()
        .map(|(n, _, hit)| (n, hit))
        .collect();
    assert_eq!(
        hits,
        vec![
            ("clean".into(), false),
            ("count".into(), false),
            ("scale".into(), true),
            ("spam".into(), true)
        ]
    );

    // --no-cache forces everything
    let forced = project
        .run(RunOptions {
            no_cache: true,
            ..Default::default()
        })
        .await;
    assert!(
        forced
            .steps
            .iter()
            .all(|s| !s.cache_hit && s.status == StepStatus::Succeeded)
    );
    assert_eq!(
        outputs(&forced),
        outputs(&third),
        "same inputs, same artifact digests"
    );

    // the store has every run, step and artifact with lineage
    let store = project.store().await;
    let runs = store.runs(10).await.unwrap();
    assert_eq!(runs.len(), 4);
    let steps = store.step_runs(first.run_id).await.unwrap();
    assert_eq!(steps.len(), 4);
    let count = first.steps.iter().find(|s| s.name == "count").unwrap();
    let artifact = store
        .artifact(count.output.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    let clean = first.steps.iter().find(|s| s.name == "clean").unwrap();
    assert_eq!(artifact.inputs, vec![clean.output.unwrap()]);
    assert_eq!(artifact.rows, Some(5));
    // the fitted scaler's state is an artifact too
    let scale = first.steps.iter().find(|s| s.name == "scale").unwrap();
    assert!(scale.state.is_some());
    assert!(store.verify_audit().await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clean_runs_produce_identical_artifact_digests() {
    let a = Project::new(PIPELINE).run(RunOptions::default()).await;
    let b = Project::new(PIPELINE).run(RunOptions::default()).await;
    assert_eq!(a.status, RunStatus::Succeeded);
    assert_eq!(outputs(&a), outputs(&b));
    let states = |s: &RunSummary| s.steps.iter().map(|s| s.state).collect::<Vec<_>>();
    assert_eq!(states(&a), states(&b));
}

/// The spam detector is a fitted step: with no train step downstream it is
/// fitted on every row of its input, so a message repeated across chunks
/// is a repeated template, and each row's output does not depend on the
/// chunk it falls in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spam_detector_without_a_train_step_finds_repeats_across_chunks() {
    let project = Project::new(
        r#"
[pipeline]
name = "repeats"
policy = "policy.toml"
chunk_rows = 2

[source.messages]
path = "messages.csv"

[step.spam]
plugin = "spam-detector"
input = "messages"

[output.spam]
step = "spam"
path = "out/spam.jsonl"
"#,
    );
    // the template's three copies fall in three different 2-row chunks
    std::fs::write(
        project.path("messages.csv"),
        "text,n\nJoin my channel for daily tips,1\nhello mum see you later,2\n\
         see you at dinner tonight,3\nJOIN MY CHANNEL for daily tips!,4\n\
         ok,5\njoin my channel - for daily tips,6\n",
    )
    .unwrap();
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");
    let spam = summary.steps.iter().find(|s| s.name == "spam").unwrap();
    assert!(spam.state.is_some(), "the fitted templates are an artifact");
    let rows = std::fs::read_to_string(project.path("out/spam.jsonl")).unwrap();
    let repeated: Vec<bool> = rows
        .lines()
        .map(|row| row.contains("spam.repeated"))
        .collect();
    assert_eq!(repeated, [true, false, false, true, false, true], "{rows}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_its_downstream_and_nothing_else() {
    let pipeline = format!(
        r#"
[pipeline]
name = "partly-broken"
policy = "policy.toml"
[source.messages]
path = "messages.csv"
[step.boom]
plugin = "{}"
input = "messages"
[step.after]
plugin = "word-count"
input = "boom"
params = {{ column = "out" }}
[step.spam]
plugin = "spam-detector"
input = "messages"
"#,
        sluice_tests::PANIC_MID_CHUNK
    );
    let project = Project::new(&pipeline);
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let by_name = |n: &str| summary.steps.iter().find(|s| s.name == n).unwrap().clone();
    let boom = by_name("boom");
    assert_eq!(boom.status, StepStatus::Failed);
    assert!(
        boom.error.as_ref().unwrap().contains("[step.boom]")
            && boom.error.as_ref().unwrap().contains("panic-mid-chunk"),
        "{boom:?}"
    );
    assert_eq!(boom.attempts, 1, "a trap is never retried");
    assert_eq!(by_name("after").status, StepStatus::Skipped);
    assert!(by_name("after").error.unwrap().contains("upstream `boom`"));
    assert_eq!(
        by_name("spam").status,
        StepStatus::Succeeded,
        "an independent branch is unaffected"
    );
    let store = project.store().await;
    assert_eq!(
        store.run(summary.run_id).await.unwrap().unwrap().status,
        RunStatus::Failed
    );
    assert!(
        store
            .step_runs(summary.run_id)
            .await
            .unwrap()
            .iter()
            .all(|s| s.finished_at.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_headline_names_the_step_that_failed_first() {
    // `z_boom` panics at once; `b_spin` fails later (its CPU budget);
    // `a_after` is skipped because of `z_boom`. Alphabetically the skipped
    // step, then the later failure, come first: neither is the root cause.
    let pipeline = format!(
        r#"
[pipeline]
name = "root-cause"
policy = "policy.toml"
concurrency = 2
[source.messages]
path = "messages.csv"
[step.z_boom]
plugin = "{}"
input = "messages"
[step.a_after]
plugin = "word-count"
input = "z_boom"
params = {{ column = "out" }}
[step.b_spin]
plugin = "{}"
input = "messages"
"#,
        sluice_tests::PANIC_MID_CHUNK,
        sluice_tests::INFINITE_LOOP
    );
    let project = Project::new(&pipeline);
    let policy = format!(
        "{POLICY}[plugin.infinite-loop]\nread = [\"text\"]\nwrite = [\"out\"]\ncpu = \"1s\"\n"
    );
    std::fs::write(project.path("policy.toml"), policy).unwrap();
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let status = |n: &str| summary.steps.iter().find(|s| s.name == n).unwrap().status;
    assert_eq!(
        (status("z_boom"), status("b_spin"), status("a_after")),
        (StepStatus::Failed, StepStatus::Failed, StepStatus::Skipped)
    );
    let headline = summary.error.clone().unwrap();
    assert!(
        headline.starts_with("[step.z_boom]") && headline.contains("panic-mid-chunk"),
        "{headline}"
    );
    let store = project.store().await;
    let run = store.run(summary.run_id).await.unwrap().unwrap();
    assert_eq!(run.error.as_deref(), Some(headline.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_data_names_file_and_line_and_writes_nothing() {
    // caught by `check` when the bad row is within the rows read to infer types
    let project = Project::new(PIPELINE);
    std::fs::write(
        project.path("messages.csv"),
        format!("{MESSAGES}broken,row,with,extra,fields\n"),
    )
    .unwrap();
    let e = project.plan().unwrap_err();
    assert!(
        e.contains("[source.messages]") && e.contains("messages.csv") && e.contains("line 7"),
        "{e}"
    );

    // past them, the step that reads it fails at run time, naming the line
    let mut data = String::from(MESSAGES);
    for i in 0..10_100 {
        data.push_str(&format!("message {i},{i}\n"));
    }
    data.push_str("broken,row,with,extra,fields\n");
    std::fs::write(project.path("messages.csv"), data).unwrap();
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let clean = summary.steps.iter().find(|s| s.name == "clean").unwrap();
    assert_eq!(clean.status, StepStatus::Failed);
    let error = clean.error.clone().unwrap();
    assert!(
        error.contains("[step.clean]")
            && error.contains("messages.csv")
            && error.contains("line 10107"),
        "{error}"
    );
    assert_eq!(
        summary
            .steps
            .iter()
            .find(|s| s.name == "count")
            .unwrap()
            .status,
        StepStatus::Skipped
    );
    assert!(!project.path("out/counted.csv").exists());
    let partials: Vec<_> = std::fs::read_dir(project.home().join("artifacts"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");
}

fn check_error(pipeline: &str) -> String {
    Project::new(pipeline)
        .plan()
        .expect_err("the check must fail")
}

#[test]
fn check_reports_problems_with_file_step_and_field() {
    let e =
        check_error(&PIPELINE.replace("plugin = \"word-count\"", "plugin = \"no-such-plugin\""));
    assert!(
        e.contains("pipeline.toml")
            && e.contains("[step.count] plugin")
            && e.contains("unknown plugin `no-such-plugin`"),
        "{e}"
    );

    let e = check_error(&PIPELINE.replace(
        "params = { column = \"text_clean\" }",
        "params = { colunm = \"text_clean\" }",
    ));
    assert!(
        e.contains("[step.count] params") && e.contains("unknown param `colunm`"),
        "{e}"
    );

    let e = check_error(&PIPELINE.replace(
        "params = { column = \"text_clean\" }",
        "params = { column = \"text\" }",
    ));
    assert!(
        e.contains("[step.count]")
            && e.contains("reads column `text`")
            && e.contains("does not grant"),
        "{e}"
    );

    let e = check_error(&PIPELINE.replace(
        "[step.count]\nplugin = \"word-count\"\ninput = \"clean\"",
        "[step.count]\nplugin = \"word-count\"\ninput = \"messages\"",
    ));
    assert!(
        e.contains("[step.count] input")
            && e.contains("`text_clean`")
            && e.contains("`messages` does not produce"),
        "{e}"
    );

    let e = check_error(&PIPELINE.replace(
        "input = \"messages\"\n\n[step.count]",
        "input = \"count\"\n\n[step.count]",
    ));
    assert!(
        e.contains("cycle: ") && e.contains("clean -> count -> clean")
            || e.contains("count -> clean -> count"),
        "{e}"
    );

    let e = check_error(&PIPELINE.replace("input = \"clean\"", "input = \"cleaned\""));
    assert!(
        e.contains("[step.count] input") && e.contains("`cleaned` is neither a source nor a step"),
        "{e}"
    );

    let e = check_error(&PIPELINE.replace("path = \"messages.csv\"", "path = \"missing.csv\""));
    assert!(
        e.contains("[source.messages] path") && e.contains("does not exist"),
        "{e}"
    );

    let e = check_error(&PIPELINE.replace(
        "[step.spam]\nplugin = \"spam-detector\"",
        "[step.spam]\ntrain = \"logistic-regression\"",
    ));
    assert!(
        e.contains("[step.spam] target") && e.contains("learns from a target column"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_query_source_reads_the_store_database() {
    let project = Project::new(PIPELINE);
    let pipeline = r#"
[pipeline]
name = "from-sql"
policy = "policy.toml"
[source.rows]
query = "SELECT 'FREE WIN cash' AS text, 1 AS n UNION ALL SELECT 'hi there', 2"
[step.spam]
plugin = "spam-detector"
input = "rows"
"#;
    std::fs::write(project.path("pipeline.toml"), pipeline).unwrap();
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");
    assert_eq!(summary.steps[0].stats.rows_out, 2);
}

/// The same pipeline against the PostgreSQL server the machine runs (a
/// fresh database, dropped afterwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_against_postgresql() {
    let admin = std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if admin == "off" {
        return;
    }
    let name = format!("sluice_pipeline_{}", std::process::id());
    sluice_tests::pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let url = admin
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/{name}"))
        .unwrap();
    let target = url.clone();
    let result = async move {
        let url = target;
        let project = Project::new(PIPELINE);
        let store = Store::open(&url).await.unwrap();
        let first = project.run_with(&store, RunOptions::default()).await;
        // a policy entry no step uses: a grant change, but the same cache keys
        let widened = format!("{POLICY}\n[plugin.extra]\nread = [\"text\"]\n");
        std::fs::write(project.path("policy.toml"), widened).unwrap();
        let second = project.run_with(&store, RunOptions::default()).await;
        let log = store.audit_log(20).await.unwrap();
        store.close().await;
        (first, second, log)
    };
    let (first, second, log) = tokio::spawn(result).await.unwrap_or_else(|e| panic!("{e}"));
    sluice_tests::pg_exec(&admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    assert_eq!(first.status, RunStatus::Succeeded);
    assert!(second.steps.iter().all(|s| s.cache_hit));
    let changes = log.iter().filter(|a| a.action == "grant.change").count();
    assert_eq!(changes, 1);
}

/// Cancels the run as soon as any step reports its first chunk (what
/// Ctrl-C does through the same flag).
struct CancelOnFirstRows(Arc<AtomicBool>);

impl sluice_pipeline::Observer for CancelOnFirstRows {
    fn event(&self, event: sluice_pipeline::Event) {
        if matches!(event, sluice_pipeline::Event::Rows { .. }) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_stops_at_a_chunk_boundary_and_leaves_the_store_consistent() {
    let project = Project::new(&PIPELINE.replace("concurrency = 2", "concurrency = 1"));
    let plan = Arc::new(project.plan().unwrap());
    let store = project.store().await;
    let cancel = Arc::new(AtomicBool::new(false));
    let observer = Arc::new(CancelOnFirstRows(cancel.clone()));
    let summary = sluice_pipeline::execute(
        plan,
        &store,
        &project.home(),
        &RunOptions::default(),
        observer,
        cancel,
    )
    .await
    .unwrap();
    assert_eq!(summary.status, RunStatus::Cancelled);
    assert!(
        summary
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Cancelled),
        "{:?}",
        statuses(&summary)
    );
    let run = store.run(summary.run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    let steps = store.step_runs(summary.run_id).await.unwrap();
    assert_eq!(steps.len(), 4);
    assert!(
        steps
            .iter()
            .all(|s| s.status == StepStatus::Cancelled && s.finished_at.is_some())
    );
    assert!(
        !project.path("out/counted.csv").exists(),
        "no outputs from a cancelled run"
    );
    // the next run starts clean and completes
    let next = project.run(RunOptions::default()).await;
    assert_eq!(next.status, RunStatus::Succeeded);
}

/// The previous run's policy is found however many audit entries came
/// after it: a changed policy is audited as `grant.change`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_is_audited_after_many_audit_entries() {
    let project = Project::new(PIPELINE);
    let store = project.store().await;
    let first = project.run_with(&store, RunOptions::default()).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:#?}");
    for i in 0..250 {
        store
            .audit(
                "tester",
                "note",
                &format!("entry/{i}"),
                &serde_json::json!({}),
            )
            .await
            .unwrap();
    }
    let widened = format!("{POLICY}\n[plugin.extra]\nread = [\"text\"]\n");
    std::fs::write(project.path("policy.toml"), widened).unwrap();
    let second = project.run_with(&store, RunOptions::default()).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:#?}");
    let log = store.audit_log(10).await.unwrap();
    let change = log
        .iter()
        .find(|a| a.action == "grant.change" && a.subject == "demo")
        .expect("a grant.change entry");
    let detail: serde_json::Value = serde_json::from_str(&change.detail).unwrap();
    assert_ne!(detail["policy"], detail["previous"], "{detail}");
    // an unchanged policy is not a change
    let third = project.run_with(&store, RunOptions::default()).await;
    assert_eq!(third.status, RunStatus::Succeeded);
    let changes = store
        .audit_log(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "grant.change")
        .count();
    assert_eq!(changes, 1);
}

// ---- artifacts: damaged files, temporaries, garbage -----------------------

/// The file of the artifact `step` produced in `summary`, and its digest.
async fn output_file(
    project: &Project,
    store: &Store,
    summary: &RunSummary,
    step: &str,
) -> (PathBuf, Digest) {
    let digest = summary
        .steps
        .iter()
        .find(|s| s.name == step)
        .and_then(|s| s.output)
        .unwrap_or_else(|| panic!("{step} has an output"));
    let record = store.artifact(&digest).await.unwrap().unwrap();
    (ArtifactDir::new(&project.home()).path(&record.path), digest)
}

/// Sets a file's modification time `age` into the past.
fn age_file(path: &std::path::Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

fn hit(summary: &RunSummary, step: &str) -> bool {
    summary
        .steps
        .iter()
        .find(|s| s.name == step)
        .unwrap()
        .cache_hit
}

/// A truncated artifact (what a full disk or a kill during a copy leaves)
/// and one altered without changing its size are not served from the
/// cache: their steps run again and rewrite the files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_cached_artifact_is_detected_recomputed_and_rewritten() {
    let project = Project::new(PIPELINE);
    let store = project.store().await;
    let first = project.run_with(&store, RunOptions::default()).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:#?}");
    let (clean, clean_digest) = output_file(&project, &store, &first, "clean").await;
    let (spam, spam_digest) = output_file(&project, &store, &first, "spam").await;
    let length = std::fs::metadata(&clean).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&clean)
        .unwrap()
        .set_len(length / 2)
        .unwrap();
    let mut altered = std::fs::read(&spam).unwrap();
    let middle = altered.len() / 2;
    altered[middle] ^= 0xff;
    std::fs::write(&spam, &altered).unwrap();

    let second = project.run_with(&store, RunOptions::default()).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:#?}");
    assert!(
        !hit(&second, "clean") && !hit(&second, "spam"),
        "{:?}",
        statuses(&second)
    );
    assert!(
        hit(&second, "scale") && hit(&second, "count"),
        "{:?}",
        statuses(&second)
    );
    assert_eq!(outputs(&second), outputs(&first));
    assert_eq!(Digest::of_file(&clean).unwrap(), clean_digest);
    assert_eq!(Digest::of_file(&spam).unwrap(), spam_digest);
    // repaired: the next run is all hits
    let third = project.run_with(&store, RunOptions::default()).await;
    assert!(
        third.steps.iter().all(|s| s.cache_hit),
        "{:?}",
        statuses(&third)
    );
}

/// Sets a file's modification time to exactly `mtime`.
fn set_mtime(path: &std::path::Path, mtime: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

/// Sources and cached artifacts are known by their recorded fingerprint
/// (size, times, inode), not re-hashed on every run: a source rewritten at
/// the same size with its old modification time put back still re-runs
/// its steps (the change time tells), one touched but unchanged is still
/// served from the cache, and so is an artifact touched without change,
/// while one altered at the same size with its mtime restored is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprints_tell_changed_sources_and_artifacts_from_touched_ones() {
    let project = Project::new(PIPELINE);
    let store = project.store().await;
    let first = project.run_with(&store, RunOptions::default()).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:#?}");
    let source = project.path("messages.csv");
    let all_hits = |summary: &RunSummary| summary.steps.iter().all(|s| s.cache_hit);

    // touched, same bytes: the fingerprint differs, the hash does not
    std::thread::sleep(Duration::from_millis(20)); // past a coarse clock tick
    set_mtime(&source, SystemTime::now());
    let touched = project.run_with(&store, RunOptions::default()).await;
    assert!(all_hits(&touched), "{:?}", statuses(&touched));
    assert_eq!(outputs(&touched), outputs(&first));

    // same size, other bytes, the old modification time put back
    let mtime = std::fs::metadata(&source).unwrap().modified().unwrap();
    let changed = MESSAGES.replace("hello mum", "HELLO MUM");
    assert_eq!(changed.len(), MESSAGES.len());
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&source, &changed).unwrap();
    set_mtime(&source, mtime);
    let rerun = project.run_with(&store, RunOptions::default()).await;
    assert_eq!(rerun.status, RunStatus::Succeeded, "{rerun:#?}");
    assert!(
        rerun.steps.iter().all(|s| !s.cache_hit),
        "a changed source re-runs every step: {:?}",
        statuses(&rerun)
    );
    assert_ne!(outputs(&rerun), outputs(&first));
    let again = project.run_with(&store, RunOptions::default()).await;
    assert!(all_hits(&again), "{:?}", statuses(&again));

    // a cached artifact touched without change is still served
    let (clean, clean_digest) = output_file(&project, &store, &again, "clean").await;
    std::thread::sleep(Duration::from_millis(20));
    set_mtime(&clean, SystemTime::now());
    let served = project.run_with(&store, RunOptions::default()).await;
    assert!(all_hits(&served), "{:?}", statuses(&served));

    // altered at the same size, mtime restored: caught, recomputed
    let mtime = std::fs::metadata(&clean).unwrap().modified().unwrap();
    let mut altered = std::fs::read(&clean).unwrap();
    let middle = altered.len() / 2;
    altered[middle] ^= 0xff;
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&clean, &altered).unwrap();
    set_mtime(&clean, mtime);
    let repaired = project.run_with(&store, RunOptions::default()).await;
    assert!(!hit(&repaired, "clean"), "{:?}", statuses(&repaired));
    assert_eq!(Digest::of_file(&clean).unwrap(), clean_digest);
    assert_eq!(outputs(&repaired), outputs(&again));
}

/// `--no-cache` recomputes a step; a damaged file under the same digest is
/// replaced, not kept because it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_rewrites_a_damaged_artifact() {
    let project = Project::new(PIPELINE);
    let store = project.store().await;
    let first = project.run_with(&store, RunOptions::default()).await;
    let (clean, digest) = output_file(&project, &store, &first, "clean").await;
    std::fs::write(&clean, b"PAR1 truncated").unwrap();
    let forced = project
        .run_with(
            &store,
            RunOptions {
                no_cache: true,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(forced.status, RunStatus::Succeeded, "{forced:#?}");
    assert_eq!(Digest::of_file(&clean).unwrap(), digest);
}

/// `verify` (`sluice run --verify`, `sluice artifacts verify`) hashes every
/// recorded artifact and removes the damaged ones, so they are recomputed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_and_removes_damaged_artifacts() {
    let project = Project::new(PIPELINE);
    let store = project.store().await;
    let first = project.run_with(&store, RunOptions::default()).await;
    let clean_verification = sluice_pipeline::verify_artifacts(&store, &project.home())
        .await
        .unwrap();
    assert!(
        clean_verification.problems.is_empty(),
        "{clean_verification:?}"
    );
    assert_eq!(
        clean_verification.checked,
        store.all_artifacts().await.unwrap().len()
    );
    let (count, digest) = output_file(&project, &store, &first, "count").await;
    let mut bytes = std::fs::read(&count).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&count, &bytes).unwrap();
    let verified = project
        .run_with(
            &store,
            RunOptions {
                verify: true,
                ..Default::default()
            },
        )
        .await;
    assert!(
        !hit(&verified, "count") && hit(&verified, "clean"),
        "{:?}",
        statuses(&verified)
    );
    assert_eq!(Digest::of_file(&count).unwrap(), digest);
}

/// Temporaries of a killed process (pid gone, untouched for a while) are
/// swept when a run starts; a live process's are kept, old or not, and so
/// is a fresh one whose process is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_temporaries_are_swept_and_live_ones_kept() {
    let project = Project::new(PIPELINE);
    let artifacts = ArtifactDir::new(&project.home());
    std::fs::create_dir_all(artifacts.root()).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let live = std::process::id();
    let temp = |pid: u32, tag: &str| artifacts.path(&format!(".tmp-{pid}-1700000000000-{tag}"));
    let (stale, live_old, dead_fresh) =
        (temp(dead, "stale"), temp(live, "live"), temp(dead, "fresh"));
    let old_query = artifacts.path(&format!(".query-{dead}-3.parquet"));
    for path in [&stale, &live_old, &dead_fresh, &old_query] {
        std::fs::write(path, b"partial").unwrap();
    }
    for path in [&stale, &live_old, &old_query] {
        age_file(path, Duration::from_secs(3600));
    }
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Succeeded);
    assert!(
        !stale.exists() && !old_query.exists(),
        "a killed process's temporaries are swept"
    );
    assert!(live_old.exists(), "a live process's temporary is kept");
    assert!(dead_fresh.exists(), "a recent temporary is kept");
}

/// `gc` removes artifact files nothing in the store refers to (older than
/// the grace period a live run needs to record its files), keeps every
/// referenced one, and leaves files that are not sluice's alone.
async fn gc_keeps_referenced_and_removes_unreferenced(project: &Project, store: &Store) {
    let first = project.run_with(store, RunOptions::default()).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:#?}");
    let artifacts = ArtifactDir::new(&project.home());
    let referenced = artifacts.list().unwrap();
    let orphan = Digest::of(b"a fitted state nobody recorded");
    let orphan_path = artifacts.path(&format!("{}.state", orphan.hex()));
    let young = artifacts.path(&format!("{}.parquet", Digest::of(b"being recorded").hex()));
    let foreign = artifacts.path("README.txt");
    for path in [&orphan_path, &young, &foreign] {
        std::fs::write(path, b"x").unwrap();
    }
    for path in referenced
        .iter()
        .map(|n| artifacts.path(n))
        .chain([orphan_path.clone(), foreign.clone()])
    {
        age_file(&path, Duration::from_secs(3600));
    }

    let dry = sluice_pipeline::collect_garbage(store, &project.home(), true)
        .await
        .unwrap();
    assert_eq!(dry.unreferenced, vec![orphan_path.clone()]);
    assert!(orphan_path.exists(), "a dry run removes nothing");
    let collected = sluice_pipeline::collect_garbage(store, &project.home(), false)
        .await
        .unwrap();
    assert_eq!(collected.unreferenced, vec![orphan_path.clone()]);
    assert_eq!(collected.kept, referenced.len() + 1);
    assert!(!orphan_path.exists());
    assert!(young.exists() && foreign.exists());
    for name in &referenced {
        assert!(artifacts.path(name).exists(), "{name} is referenced");
    }
    let again = project.run_with(store, RunOptions::default()).await;
    assert!(
        again.steps.iter().all(|s| s.cache_hit),
        "{:?}",
        statuses(&again)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_on_sqlite() {
    let project = Project::new(PIPELINE);
    let store = project.store().await;
    gc_keeps_referenced_and_removes_unreferenced(&project, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_on_postgresql() {
    let admin = std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if admin == "off" {
        return;
    }
    let name = format!("sluice_gc_{}", std::process::id());
    sluice_tests::pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let url = admin
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/{name}"))
        .unwrap();
    let result = tokio::spawn(async move {
        let project = Project::new(PIPELINE);
        let store = Store::open(&url).await.unwrap();
        gc_keeps_referenced_and_removes_unreferenced(&project, &store).await;
        store.close().await;
    })
    .await;
    sluice_tests::pg_exec(&admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A short digest as `sluice run` prints it finds its artifact; a prefix
/// two artifacts share, or none has, is refused saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_found_by_any_unique_prefix() {
    let project = Project::new(PIPELINE);
    let store = project.store().await;
    let first = project.run_with(&store, RunOptions::default()).await;
    let (_, digest) = output_file(&project, &store, &first, "count").await;
    for typed in [
        digest.short(),
        format!("sha256:{}", digest.short().to_uppercase()),
        digest.to_string(),
    ] {
        let found = sluice_pipeline::find_artifact(&store, &typed)
            .await
            .unwrap();
        assert_eq!(found.digest, digest, "{typed}");
    }
    // two recorded artifacts that share their first six digits
    for tail in ["0", "1"] {
        let twin = Digest::from_hex(&format!("abcdef{}", tail.repeat(58))).unwrap();
        let record = sluice_store::NewArtifact {
            digest: twin,
            kind: sluice_store::ArtifactKind::Table,
            path: format!("{}.parquet", twin.hex()),
            rows: Some(0),
            bytes: 0,
            created_by_run: first.run_id,
            created_by_step: "twin".into(),
            plugin_digest: None,
            params: serde_json::json!({}),
            inputs: Vec::new(),
        };
        store.put_artifact(&record).await.unwrap();
    }
    let e = sluice_pipeline::find_artifact(&store, "sha256:ABCDEF")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ambiguous") && e.contains("abcdef000000") && e.contains("abcdef111111"),
        "{e}"
    );
    let one = sluice_pipeline::find_artifact(&store, "abcdef1")
        .await
        .unwrap();
    assert_eq!(one.created_by_step, "twin");
    let unknown = if digest.hex().starts_with('0') {
        "f"
    } else {
        "0"
    }
    .repeat(20);
    let e = sluice_pipeline::find_artifact(&store, &unknown)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no artifact starts with") && e.contains(&unknown),
        "{e}"
    );
    let e = sluice_pipeline::find_artifact(&store, "\u{1b}[2Jnope")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not hexadecimal") && !e.contains('\u{1b}'),
        "{e}"
    );
}

/// The rows and column names of a table file.
fn table_shape(path: &std::path::Path) -> (usize, Vec<String>) {
    let reader = sluice_data::TableReader::open(path, 1024).unwrap();
    let names = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    (reader.map(|b| b.unwrap().num_rows()).sum(), names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_only_csv_gives_empty_tables_that_later_steps_and_outputs_read() {
    // without rows, `n` has no inferred type for the scaler to read
    let pipeline = PIPELINE
        .replace("out/counted.csv", "out/counted.parquet")
        .replace(
            "[step.scale]\nplugin = \"standard-scaler\"\ninput = \"messages\"\nparams = { columns = [\"n\"] }\n",
            "",
        );
    assert!(!pipeline.contains("scale"));
    let project = Project::new(&pipeline);
    std::fs::write(project.path("messages.csv"), "text,n\n").unwrap();
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");
    let clean = summary.steps.iter().find(|s| s.name == "clean").unwrap();
    let artifact = project
        .home()
        .join("artifacts")
        .join(format!("{}.parquet", clean.output.as_ref().unwrap().hex()));
    assert_eq!(
        table_shape(&artifact),
        (0, vec!["text".into(), "n".into(), "text_clean".into()])
    );
    // the step after it read that empty table, and the output has its columns
    let (rows, columns) = table_shape(&project.path("out/counted.parquet"));
    assert_eq!(rows, 0);
    assert!(columns.contains(&"word_count".to_string()), "{columns:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_column_type_is_enforced_at_the_source_naming_file_line_and_column() {
    let typed = PIPELINE.replace(
        "path = \"messages.csv\"",
        "path = \"messages.csv\"\ntypes = { n = \"int64\" }",
    );
    let project = Project::new(&typed);
    // `check` reads only the header with the declared types; the run reads
    // every cell with them, and the source fails at the first bad one
    let mut data = String::from(MESSAGES);
    data.push_str("one more,6\nand another,seven\n");
    std::fs::write(project.path("messages.csv"), data).unwrap();
    project.plan().unwrap();
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Failed);
    for step in &summary.steps {
        assert_eq!(step.status, StepStatus::Skipped, "{step:#?}");
        let error = step.error.clone().unwrap();
        assert!(
            error.contains("[source.messages]")
                && error.contains("messages.csv")
                && error.contains("line 8")
                && error.contains("column `n`")
                && error.contains("'seven'"),
            "{error}"
        );
    }

    // well-typed cells: the run succeeds, steps reading the declared type
    std::fs::write(project.path("messages.csv"), MESSAGES).unwrap();
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");
    let scale = summary.steps.iter().find(|s| s.name == "scale").unwrap();
    assert_eq!(scale.stats.rows_out, 5);
}

#[test]
fn check_reports_every_error_not_only_the_first() {
    let broken = PIPELINE
        .replace("plugin = \"word-count\"", "plugin = \"no-such-plugin\"")
        .replace(
            "[step.spam]\nplugin = \"spam-detector\"\ninput = \"messages\"",
            "[step.spam]\nplugin = \"spam-detector\"\ninput = \"messages\"\nparams = { colunm = 1 }",
        )
        .replace("params = { columns = [\"n\"] }", "params = { columns = [\"m\"] }");
    let e = check_error(&broken);
    assert!(
        e.contains("[step.count] plugin") && e.contains("no-such-plugin"),
        "{e}"
    );
    assert!(
        e.contains("[step.spam] params") && e.contains("colunm"),
        "{e}"
    );
    assert!(e.contains("[step.scale]") && e.contains("`m`"), "{e}");
    assert_eq!(e.lines().count(), 3, "one line per error: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_source_is_streamed_into_bounded_row_groups() {
    let project = Project::new(PIPELINE);
    let pipeline = r#"
[pipeline]
name = "from-sql"
policy = "policy.toml"
chunk_rows = 4096
[source.rows]
query = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 70000) SELECT 'message ' || i AS text, i AS n FROM r"
[step.spam]
plugin = "spam-detector"
input = "rows"
"#;
    std::fs::write(project.path("pipeline.toml"), pipeline).unwrap();
    let summary = project.run(RunOptions::default()).await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");
    assert_eq!(summary.steps[0].stats.rows_out, 70_000);
    // every Parquet file the run wrote (source and step) has row groups of
    // at most 65,536 rows, where parquet's default holds 1,048,576 in memory
    let mut files = 0;
    for entry in std::fs::read_dir(project.home().join("artifacts")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "parquet") {
            let file = std::fs::File::open(&path).unwrap();
            let meta = parquet::file::reader::FileReader::metadata(
                &parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap(),
            )
            .clone();
            assert_eq!(meta.num_row_groups(), 2, "{}", path.display());
            files += 1;
        }
    }
    assert_eq!(files, 2);
}

const OUTSIDE: &str = "text,n\nsecret,1\n";

#[test]
fn sources_and_outputs_outside_the_project_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let project = Project::new(PIPELINE);
    std::fs::write(outer.path().join("secret.csv"), OUTSIDE).unwrap();
    let secret = outer.path().join("secret.csv");
    let up = pathdiff(&secret, project.dir.path());

    // `..` out of the project
    let e = check_error_in(&project, &PIPELINE.replace("messages.csv", &up));
    assert!(
        e.contains("[source.messages] path")
            && e.contains("secret.csv")
            && e.contains("outside")
            && e.contains("--allow-path"),
        "{e}"
    );
    // an absolute path elsewhere, and an output that leaves the project
    let e = check_error_in(
        &project,
        &PIPELINE
            .replace(
                "\"messages.csv\"",
                &format!("{:?}", secret.display().to_string()),
            )
            .replace("out/counted.csv", "../counted.csv"),
    );
    assert!(
        e.contains("[source.messages] path") && e.contains("[output.counted] path"),
        "{e}"
    );

    // a symlink inside the project that points out of it
    std::os::unix::fs::symlink(&secret, project.path("linked.csv")).unwrap();
    let e = check_error_in(&project, &PIPELINE.replace("messages.csv", "linked.csv"));
    assert!(e.contains("linked.csv") && e.contains("symlink"), "{e}");
    std::os::unix::fs::symlink(outer.path(), project.path("elsewhere")).unwrap();
    let e = check_error_in(
        &project,
        &PIPELINE.replace("out/counted.csv", "elsewhere/counted.csv"),
    );
    assert!(
        e.contains("[output.counted] path") && e.contains("symlink"),
        "{e}"
    );

    // a directory the policy grants a step, outside the project
    let policy = POLICY.replace(
        "write = [\"spam_label\", \"spam_score\", \"spam_rules\"]",
        &format!(
            "write = [\"spam_label\", \"spam_score\", \"spam_rules\"]\ndirs = [{{ host = {:?}, guest = \"/d\", mode = \"ro\" }}]",
            outer.path().display().to_string()
        ),
    );
    std::fs::write(project.path("policy.toml"), policy).unwrap();
    let e = check_error_in(&project, PIPELINE);
    assert!(
        e.contains("[step.spam] policy dirs") && e.contains("is outside"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_paths_may_be_used() {
    let outer = tempfile::tempdir().unwrap();
    let project = Project::new(PIPELINE);
    std::fs::write(outer.path().join("secret.csv"), MESSAGES).unwrap();
    let up = pathdiff(&outer.path().join("secret.csv"), project.dir.path());
    let text = PIPELINE.replace("messages.csv", &up).replace(
        "out/counted.csv",
        &pathdiff(&outer.path().join("counted.csv"), project.dir.path()),
    );
    std::fs::write(project.path("pipeline.toml"), text).unwrap();
    let options = sluice_pipeline::PlanOptions {
        allow_paths: vec![outer.path().to_path_buf()],
        ..Default::default()
    };
    let pipeline = Pipeline::load(&project.path("pipeline.toml")).unwrap();
    let plan = sluice_pipeline::plan_with(
        pipeline,
        &sluice_tests::runtime(),
        &project.home(),
        &options,
    )
    .unwrap();
    let summary = sluice_pipeline::execute(
        Arc::new(plan),
        &project.store().await,
        &project.home(),
        &RunOptions::default(),
        Arc::new(Quiet),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");
    assert!(outer.path().join("counted.csv").exists());
}

fn check_error_in(project: &Project, pipeline: &str) -> String {
    std::fs::write(project.path("pipeline.toml"), pipeline).unwrap();
    project.plan().expect_err("the check must fail")
}

/// `path` relative to `base`, through `..` (both absolute).
fn pathdiff(path: &std::path::Path, base: &std::path::Path) -> String {
    let depth = base.components().count() - 1;
    format!(
        "{}{}",
        "../".repeat(depth),
        path.strip_prefix("/").unwrap().display()
    )
}

/// The SQL source stream on PostgreSQL (types from the column types, rows
/// in batches), against a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_source_is_streamed_from_postgresql() {
    let admin = std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if admin == "off" {
        return;
    }
    let name = format!("sluice_stream_{}", std::process::id());
    sluice_tests::pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let url = admin
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/{name}"))
        .unwrap();
    let result = tokio::spawn(async move {
        let project = Project::new(PIPELINE);
        let pipeline = r#"
[pipeline]
name = "from-postgres"
policy = "policy.toml"
chunk_rows = 4096
[source.rows]
query = "SELECT 'message ' || i AS text, i::bigint AS n, (i / 2.0)::float8 AS half FROM generate_series(1, 70000) AS i"
[step.spam]
plugin = "spam-detector"
input = "rows"
"#;
        std::fs::write(project.path("pipeline.toml"), pipeline).unwrap();
        let store = Store::open(&url).await.unwrap();
        let summary = project.run_with(&store, RunOptions::default()).await;
        store.close().await;
        summary
    })
    .await;
    sluice_tests::pg_exec(&admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    let summary = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");
    assert_eq!(summary.steps[0].stats.rows_out, 70_000);
}
