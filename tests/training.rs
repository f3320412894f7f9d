//! Training end to end: a real data set, native training, the real
//! evaluator plugin in Wasm, the model registry (on SQLite and on the
//! PostgreSQL server), promotion gates, bundles and the HTML report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sluice_pipeline::{Pipeline, Quiet, RunOptions, RunSummary};
use sluice_registry::{RegistryError, bundle};
use sluice_store::{RunStatus, Store};

/// Wisconsin diagnostic breast cancer, 569 rows × 30 features, `target`.
const CANCER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/train/tests/data/tabular/sklearn_breast_cancer.csv"
);

const POLICY: &str = r#"
[plugin.classification-metrics]
read = ["target", "prediction", "score"]
"#;

fn pipeline_text(seed: u64, gate: &str) -> String {
    format!(
        r#"
[pipeline]
name = "cancer"
policy = "policy.toml"

[source.cells]
path = "cancer.csv"
types = {{ target = "int64" }}

[step.model]
train = "logistic-regression"
input = "cells"
target = "target"
params = {{ max_iter = 1000 }}
split = {{ test = 0.25, seed = {seed} }}
gate = "{gate}"

[step.metrics]
plugin = "classification-metrics"
input = "model.test_predictions"
params = {{ actual = "target" }}

[step.scored]
predict = "model"
input = "cells"
"#
    )
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(pipeline: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(CANCER, dir.path().join("cancer.csv")).unwrap();
        std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
        std::fs::write(dir.path().join("pipeline.toml"), pipeline).unwrap();
        Project { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path(".sluice")
    }

    fn plan(&self) -> Result<sluice_pipeline::Plan, String> {
        let pipeline = Pipeline::load(&self.path("pipeline.toml")).map_err(|e| e.to_string())?;
        sluice_pipeline::plan(pipeline, &sluice_tests::runtime(), &self.home())
            .map_err(|e| e.to_string())
    }

    async fn run(&self, store: &Store) -> RunSummary {
        sluice_pipeline::execute(
            Arc::new(self.plan().unwrap()),
            store,
            &self.home(),
            &RunOptions::default(),
            Arc::new(Quiet),
            Arc::new(AtomicBool::new(false)),
        )
        .await
        .unwrap()
    }
}

fn read_table(path: &std::path::Path) -> arrow::array::RecordBatch {
    let reader = sluice_data::TableReader::open(path, 1 << 20).unwrap();
    let schema = reader.schema();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

fn metric(summary: &RunSummary, step: &str, name: &str) -> f64 {
    summary
        .steps
        .iter()
        .find(|s| s.name == step)
        .unwrap()
        .metrics
        .iter()
        .find(|m| m.name == name && m.labels.is_empty())
        .unwrap_or_else(|| panic!("{step} reports {name}"))
        .value
}

/// Train → evaluate → register → re-run (cached, same version) → promote
/// (gate passes, then a stricter gate refuses) → bundle → report.
async fn lifecycle(project: &Project, store: &Store) {
    let first = project.run(store).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:#?}");
    let f1 = metric(&first, "metrics", "f1");
    let auc = metric(&first, "metrics", "roc_auc");
    // scikit-learn's LogisticRegression on this data scores F1 ≈ 0.97
    assert!(f1 > 0.93 && auc > 0.97, "f1 {f1}, roc_auc {auc}");
    assert_eq!(first.models.len(), 1);
    assert_eq!(
        (first.models[0].name.as_str(), first.models[0].version),
        ("cancer", 1)
    );
    assert!(first.models[0].created);
    assert_eq!(
        store.alias_version("cancer", "candidate").await.unwrap(),
        Some(1)
    );
    let scored = first.steps.iter().find(|s| s.name == "scored").unwrap();
    assert_eq!(scored.stats.rows_out, 569, "predict scores every row");

    let version = store.model_version("cancer", 1).await.unwrap().unwrap();
    let metrics = sluice_registry::version_metrics(&version).unwrap();
    assert_eq!(sluice_registry::metric_value(&metrics, "f1"), Some(f1));
    let lineage = sluice_registry::version_lineage(&version).unwrap();
    assert_eq!(lineage.sources.len(), 1);
    assert_eq!(lineage.training_data, lineage.sources[0].1);

    // unchanged: everything cached, the same version, metrics still there
    let second = project.run(store).await;
    assert!(second.steps.iter().all(|s| s.cache_hit), "{second:#?}");
    assert_eq!(metric(&second, "metrics", "f1"), f1);
    assert!(!second.models[0].created);
    assert_eq!(second.models[0].version, 1);

    // first promotion: `production.f1` is skipped (nothing holds it yet)
    let (previous, outcome) = sluice_registry::promote(store, "cancer", 1, "production", "ana")
        .await
        .unwrap();
    assert_eq!(previous, None);
    let outcome = outcome.unwrap();
    assert!(
        outcome.passed() && outcome.skipped().count() == 1,
        "{outcome}"
    );
    assert_eq!(
        store.alias_version("cancer", "production").await.unwrap(),
        Some(1)
    );

    // the registered model, fetched from this store, scores the table as
    // the pipeline's own predict step did, bit for bit
    let reference: sluice_pipeline::ModelRef = "cancer@production".parse().unwrap();
    let source = sluice_pipeline::ModelSource::fetch(store, &project.home(), &reference)
        .await
        .unwrap();
    assert_eq!(
        (source.version, source.model_digest),
        (1, version.model_digest)
    );
    let graph = sluice_pipeline::InferenceGraph::build(
        &source,
        &sluice_tests::runtime(),
        sluice_pipeline::Grants::Recorded,
    )
    .unwrap();
    let scored_digest = scored.output.unwrap();
    let scored_file = store.artifact(&scored_digest).await.unwrap().unwrap().path;
    let by_step =
        read_table(&sluice_data::blobs::ArtifactDir::new(&project.home()).path(&scored_file));
    let by_graph = graph
        .predict(
            &read_table(&project.path("cancer.csv")),
            &Default::default(),
        )
        .unwrap()
        .batch;
    for column in ["prediction", "score"] {
        assert!(
            by_step.column_by_name(column).unwrap().as_ref()
                == by_graph.column_by_name(column).unwrap().as_ref(),
            "{column}"
        );
    }
    assert!(
        by_graph.column_by_name("mean radius").is_none(),
        "features are dropped"
    );

    // another C gives a new model (another split alone would not: the
    // registered model is refitted on every row); its gate demands the
    // impossible
    std::fs::write(
        project.path("pipeline.toml"),
        pipeline_text(11, "f1 >= 0.999 and f1 >= production.f1 - 0.05")
            .replace("max_iter = 1000", "max_iter = 1000, c = 0.5"),
    )
    .unwrap();
    let third = project.run(store).await;
    assert_eq!(third.models[0].version, 2);
    assert!(third.models[0].created);
    let refused = sluice_registry::promote(store, "cancer", 2, "production", "ana").await;
    match refused {
        Err(RegistryError::GateFailed { failed, .. }) => {
            assert!(failed.starts_with("f1 >= 0.999"), "{failed}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        store.alias_version("cancer", "production").await.unwrap(),
        Some(1),
        "a refused promotion moves nothing"
    );
    let audit = store.audit_log(50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "model.promote.refused"));
    assert!(
        audit
            .iter()
            .any(|a| a.action == "model.alias" && a.actor == "ana")
    );
    assert!(store.verify_audit().await.unwrap().is_ok());

    // bundle version 1 and import it elsewhere
    let file = project.path("cancer.bundle");
    let manifest = bundle::export(store, &project.home(), "cancer", 1, &file)
        .await
        .unwrap();
    assert_eq!(manifest.model_digest, version.model_digest);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "a bundle is readable once shipped");
    }
    let elsewhere = tempfile::tempdir().unwrap();
    let other = Store::open_default(elsewhere.path()).await.unwrap();
    let (imported, there) = bundle::import(&other, elsewhere.path(), &file)
        .await
        .unwrap();
    assert_eq!((imported.name.as_str(), there), ("cancer", 1));
    let copy = other.model_version("cancer", 1).await.unwrap().unwrap();
    assert_eq!(copy.model_digest, version.model_digest);
    assert_eq!(copy.metrics, version.metrics);
    other.close().await;

    // one flipped byte in the model blob: refused, naming the blob
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    let tampered = project.path("tampered.bundle");
    std::fs::write(&tampered, &bytes).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let other = Store::open_default(fresh.path()).await.unwrap();
    let error = bundle::import(&other, fresh.path(), &tampered)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tampered.bundle") && error.contains("does not match its digest"),
        "{error}"
    );
    assert!(other.model_versions(None).await.unwrap().is_empty());
    other.close().await;

    // the report of the first run draws its curves and confusion matrix
    let report = sluice_report::collect::collect(store, first.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.curves.len(), 1);
    assert_eq!(report.confusion_matrices[0].labels, vec!["0", "1"]);
    let html = sluice_report::render_html(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("cancer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trains_evaluates_registers_promotes_and_bundles_on_sqlite() {
    let project = Project::new(&pipeline_text(
        7,
        "f1 >= 0.9 and f1 >= production.f1 - 0.01",
    ));
    let store = Store::open_default(&project.home()).await.unwrap();
    lifecycle(&project, &store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trains_evaluates_registers_promotes_and_bundles_on_postgresql() {
    let admin = std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if admin == "off" {
        return;
    }
    let name = format!("sluice_training_{}", std::process::id());
    sluice_tests::pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let url = admin
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/{name}"))
        .unwrap();
    let result = tokio::spawn(async move {
        let project = Project::new(&pipeline_text(
            7,
            "f1 >= 0.9 and f1 >= production.f1 - 0.01",
        ));
        let store = Store::open(&url).await.unwrap();
        lifecycle(&project, &store).await;
        store.close().await;
    })
    .await;
    sluice_tests::pg_exec(&admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `sluice check` reports bad train and predict steps naming file, step and field.
#[test]
fn bad_native_steps_name_the_step_and_field() {
    let base = pipeline_text(7, "f1 >= 0.9");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "train = \"logistic-regression\"",
            "train = \"logistic-regresion\"",
            &[
                "[step.model] train",
                "unknown algorithm",
                "logistic-regression",
            ],
        ),
        (
            "target = \"target\"",
            "target = \"diagnosis\"",
            &["[step.model] target", "`diagnosis` is not in the input"],
        ),
        (
            "params = { max_iter = 1000 }",
            "params = { max_iter = 1000, max_iters = 3 }",
            &["[step.model] params", "max_iters"],
        ),
        (
            "params = { max_iter = 1000 }",
            "params = { max_iter = 1000 }\nfeatures = [\"mean radius\", \"mean girth\"]",
            &["[step.model] features", "`mean girth`"],
        ),
        (
            "gate = \"f1 >= 0.9\"",
            "gate = \"f1 >= >= 0.9\"",
            &["[step.model] gate", "column"],
        ),
        (
            "input = \"model.test_predictions\"",
            "input = \"model.predictions\"",
            &["[step.metrics] input", "model.test_predictions"],
        ),
        (
            "predict = \"model\"",
            "predict = \"metrics\"",
            &["[step.scored] predict", "not a train step"],
        ),
        (
            "split = { test = 0.25, seed = 7 }",
            "split = { test = 1.5, seed = 7 }",
            &["[step.model] split.test", "1.5"],
        ),
    ];
    for (from, to, needles) in cases {
        assert!(base.contains(from), "{from}");
        let project = Project::new(&base.replacen(from, to, 1));
        let error = project.plan().unwrap_err();
        assert!(error.contains("pipeline.toml"), "{error}");
        for needle in *needles {
            assert!(error.contains(needle), "`{needle}` not in: {error}");
        }
    }
    // text labels cannot be class labels
    let project = Project::new(&base.replace(
        "types = { target = \"int64\" }",
        "types = { target = \"text\" }",
    ));
    let error = project.plan().unwrap_err();
    assert!(
        error.contains("[step.model] target") && error.contains("cast"),
        "{error}"
    );
}

/// A table whose target has a missing value fails the train step with the
/// row named, and nothing is registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_target_value_fails_the_step_naming_the_row() {
    let project = Project::new(&pipeline_text(7, "f1 >= 0.9"));
    let text = std::fs::read_to_string(project.path("cancer.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let row = &mut lines[5];
    let cut = row.rfind(',').unwrap();
    row.truncate(cut + 1); // empty target on data row 5
    std::fs::write(project.path("cancer.csv"), lines.join("\n") + "\n").unwrap();
    let store = Store::open_default(&project.home()).await.unwrap();
    let summary = project.run(&store).await;
    assert_eq!(summary.status, RunStatus::Failed);
    let model = summary.steps.iter().find(|s| s.name == "model").unwrap();
    let error = model.error.as_deref().unwrap();
    assert!(
        error.contains("[step.model]") && error.contains("row 5"),
        "{error}"
    );
    assert!(store.model_versions(None).await.unwrap().is_empty());
    store.close().await;
}

const SCALED_POLICY: &str = r#"
[plugin.standard-scaler]
read = ["mean radius", "mean texture"]
write = ["mean radius", "mean texture"]

[plugin.classification-metrics]
read = ["target", "prediction", "score"]
"#;

fn scaled_pipeline(fit: &str) -> String {
    format!(
        r#"
[pipeline]
name = "cancer"
policy = "policy.toml"

[source.cells]
path = "cancer.csv"
types = {{ target = "int64" }}

[step.scale]
plugin = "standard-scaler"
input = "cells"
{fit}
params = {{ columns = ["mean radius", "mean texture"] }}

[step.model]
train = "logistic-regression"
input = "scale"
target = "target"
features = ["mean radius", "mean texture"]
split = {{ test = 0.25, seed = 3 }}
search = {{ metric = "log_loss", folds = 3, grid = {{ c = [0.0001, 0.001] }}, extend = 2 }}

[step.metrics]
plugin = "classification-metrics"
input = "model.test_predictions"
params = {{ actual = "target" }}
"#
    )
}

/// Records what a run tells its observer about long native steps.
#[derive(Default)]
struct Progress(std::sync::Mutex<Vec<String>>);

impl sluice_pipeline::Observer for Progress {
    fn event(&self, event: sluice_pipeline::Event) {
        if let sluice_pipeline::Event::Progress { step, message } = event {
            self.0.lock().unwrap().push(format!("{step}: {message}"));
        }
    }
}

fn float_column(path: &std::path::Path, name: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for batch in sluice_data::TableReader::open(path, 4096).unwrap() {
        let chunk = sluice_data::batch_to_chunk(
            &batch.unwrap(),
            &[(name.to_string(), sluice_core::ColumnType::Float64)],
        )
        .unwrap();
        let sluice_core::ColumnValues::Float64 { values, .. } = &chunk.columns[0].values else {
            panic!("{name} is float64")
        };
        out.extend_from_slice(values);
    }
    out
}

/// A fitted step upstream of a train step is fitted on the training rows
/// only; the search extends a grid whose best value is on its edge; the
/// registered model is refitted on every row; the run reports progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_fit_sees_training_rows_only_and_the_model_is_refit_on_all_rows() {
    let project = Project::new(&scaled_pipeline(""));
    std::fs::write(project.path("policy.toml"), SCALED_POLICY).unwrap();
    let plan = project.plan().unwrap();
    let split = &plan.fit_splits["scale"];
    assert_eq!(
        (split.train_step.as_str(), split.seed, split.test_fraction),
        ("model", 3, 0.25)
    );
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(
        plan.warnings[0].contains("[step.scale]")
            && plan.warnings[0].contains("not refitted per cross-validation fold"),
        "{}",
        plan.warnings[0]
    );

    let store = Store::open_default(&project.home()).await.unwrap();
    let progress = Arc::new(Progress::default());
    let summary = sluice_pipeline::execute(
        Arc::new(plan),
        &store,
        &project.home(),
        &RunOptions::default(),
        progress.clone(),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");

    // the scaled column has mean 0 over the training rows, not over all
    let scale = summary.steps.iter().find(|s| s.name == "scale").unwrap();
    let table = project
        .home()
        .join("artifacts")
        .join(format!("{}.parquet", scale.output.unwrap().hex()));
    let labels: Vec<i64> = {
        let mut out = Vec::new();
        for batch in sluice_data::TableReader::open(&table, 4096).unwrap() {
            let chunk = sluice_data::batch_to_chunk(
                &batch.unwrap(),
                &[("target".to_string(), sluice_core::ColumnType::Int64)],
            )
            .unwrap();
            let sluice_core::ColumnValues::Int64 { values, .. } = &chunk.columns[0].values else {
                panic!()
            };
            out.extend_from_slice(values);
        }
        out
    };
    let radius = float_column(&table, "mean radius");
    let rows =
        sluice_train::split::train_test_split(&sluice_train::Target::classes(&labels), 0.25, 3)
            .unwrap();
    let mean = |rows: &[usize]| rows.iter().map(|&r| radius[r]).sum::<f64>() / rows.len() as f64;
    assert!(mean(&rows.train).abs() < 1e-9, "{}", mean(&rows.train));
    assert!(
        mean(&rows.test).abs() > 1e-3,
        "held-out rows were not in the fit"
    );

    // c = 1e-4 and 1e-3 regularise far too much: the grid grows past its edge
    assert_eq!(metric(&summary, "model", "search.extended"), 2.0);
    assert_eq!(
        metric(&summary, "model", "train_rows"),
        rows.train.len() as f64
    );
    assert_eq!(
        metric(&summary, "model", "fit_rows"),
        569.0,
        "refit on every row"
    );
    let model = summary.steps.iter().find(|s| s.name == "model").unwrap();
    let chosen = model.metrics.iter().find(|m| m.name == "chosen").unwrap();
    assert!(
        chosen
            .labels
            .iter()
            .any(|(k, v)| k == "param.c" && v.starts_with("0.1")),
        "{chosen:?}"
    );
    let seen = progress.0.lock().unwrap().clone();
    assert!(
        seen.contains(&"model: cv candidate 1/2 fold 1/3".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"model: cv candidate 4/4 fold 3/3".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"model: refitting on all 569 rows".to_string()),
        "{seen:?}"
    );

    // the registered model is the step's model: the refitted one
    let registered = store.model_version("cancer", 1).await.unwrap().unwrap();
    assert_eq!(registered.model_digest, model.state.unwrap());
}

#[test]
fn a_fit_the_split_cannot_reach_is_warned_of_naming_the_step() {
    // `scale` fits on another table than its input: its rows cannot be
    // matched with the train step's split
    let text = scaled_pipeline("fit = \"again\"")
        + "\n[source.again]\npath = \"cancer.csv\"\ntypes = { target = \"int64\" }\n";
    let project = Project::new(&text);
    std::fs::write(project.path("policy.toml"), SCALED_POLICY).unwrap();
    let plan = project.plan().unwrap();
    assert!(plan.fit_splits.is_empty(), "{:?}", plan.fit_splits);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("[step.scale] is fitted on all its rows")
                && w.contains("held-out rows of train step `model`")
                && w.contains("`again`")),
        "{:?}",
        plan.warnings
    );
}

/// linfa underneath: a PCA `transform` step (fitted on the rows it sees)
/// feeds an SVM, FTRL and a Gaussian mixture train on it; the evaluator
/// reads the SVM's held-out rows; a second run is served from the cache.
/// Dense-only learners and transforms refuse what they cannot take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pca_transform_feeds_linfa_learners() {
    let text = r#"
[pipeline]
name = "cancer-linfa"
policy = "policy.toml"

[source.cells]
path = "cancer.csv"
types = { target = "int64" }

[step.reduce]
transform = "pca"
input = "cells"
features = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness", "mean concavity", "worst radius", "worst texture", "worst area", "worst concavity"]
params = { n_components = 4, whiten = true }

[step.model]
train = "svm"
input = "reduce"
target = "target"
features = ["pca_0", "pca_1", "pca_2", "pca_3"]
params = { c = 2.0 }
split = { test = 0.25, seed = 7 }

[step.online]
train = "ftrl"
input = "reduce"
target = "target"
features = ["pca_0", "pca_1", "pca_2", "pca_3"]
split = { test = 0.25, seed = 7 }
model = "cancer-online"

[step.groups]
train = "gaussian-mixture"
input = "reduce"
features = ["pca_0", "pca_1"]
params = { n_components = 2 }
model = "cancer-groups"

[step.metrics]
plugin = "classification-metrics"
input = "model.test_predictions"
params = { actual = "target" }
"#;
    let project = Project::new(text);
    let store = Store::open_default(&project.home()).await.unwrap();
    let first = project.run(&store).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:#?}");
    let f1 = metric(&first, "metrics", "f1");
    let auc = metric(&first, "metrics", "roc_auc");
    // scikit-learn's PCA(4, whiten=True) + SVC(C=2) here: F1 ≈ 0.96
    assert!(f1 > 0.9 && auc > 0.95, "f1 {f1}, roc_auc {auc}");
    assert_eq!(first.models.len(), 3);
    let reduce = first.steps.iter().find(|s| s.name == "reduce").unwrap();
    assert!(reduce.state.is_some(), "the fitted PCA is the step's state");
    assert_eq!(reduce.stats.rows_out, 569);
    let second = project.run(&store).await;
    assert!(second.steps.iter().all(|s| s.cache_hit), "{second:#?}");
    store.close().await;

    let cases: &[(&str, &str, &[&str])] = &[
        (
            "transform = \"pca\"",
            "transform = \"tsne\"",
            &["[step.reduce] transform", "unknown transform `tsne`", "pca"],
        ),
        (
            "params = { n_components = 4, whiten = true }",
            "params = { n_components = 4, whiten = \"yes\" }",
            &["[step.reduce] params", "`whiten`"],
        ),
        (
            "params = { n_components = 4, whiten = true }",
            "params = { n_components = 0 }",
            &["[step.reduce] params", "`n_components`"],
        ),
        (
            "features = [\"mean radius\", \"mean texture\",",
            "features = [\"mean radius\", \"mean girth\",",
            &["[step.reduce] features", "`mean girth`"],
        ),
        (
            "params = { c = 2.0 }",
            "params = { c = -2.0 }",
            &["[step.model] params", "`c`"],
        ),
        (
            "params = { c = 2.0 }",
            "params = { c = 2.0, degree = 3 }",
            &["[step.model] params", "`degree`"],
        ),
        (
            "transform = \"pca\"\ninput = \"cells\"",
            "transform = \"pca\"\ninput = \"cells\"\ntarget = \"target\"",
            &["[step.reduce] target", "only `train` steps"],
        ),
    ];
    for (from, to, needles) in cases {
        assert!(text.contains(from), "{from}");
        let project = Project::new(&text.replacen(from, to, 1));
        let error = project.plan().unwrap_err();
        for needle in *needles {
            assert!(error.contains(needle), "`{needle}` not in: {error}");
        }
    }
}
