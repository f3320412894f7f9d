//! Training benchmarks (issue: native training), each next to scikit-learn
//! in the same run, on identical data: the bench generates or featurises
//! the data, writes it to a temporary directory (CSV for dense, svmlight
//! for sparse), fits with sluice in-process and runs
//! `benches/train_sklearn.py` on the files. Fit time only (no loading),
//! median of `REPEATS`; test accuracy and F1 of the positive class.
//! scikit-learn runs twice, with its default thread pools and with one
//! thread (`OMP_NUM_THREADS=1` etc.); the table compares with the faster.
//! sluice fits on one thread at these sizes (its logistic loss pass
//! uses threads only from 8M values).
//! - `dense`: synthetic 100,000 × 20 binary classification in the manner
//!   of `make_classification` (seed 42; 10 informative, 5 redundant, 5
//!   noise features; 1% flipped labels), stratified 80/20 split;
//! - `sms`: examples/chat-moderation/data/messages.csv featurised by the
//!   hash-features plugin natively (2^16 dims, word 1–2-grams, tf-idf
//!   fitted on the training rows, l2), stratified 80/20 split.
//!
//! - `chat-moderation`: the example pipeline end to end (`sluice run`,
//!   release build: plugins, 2^16-dim sparse logistic regression with a
//!   5-fold search, evaluator), its wall time and peak RSS, then its
//!   held-out F1 / ROC-AUC next to scikit-learn's TF-IDF + logistic
//!   regression recipe fitted on the same training rows and the pretrained
//!   alt-profanity-check model (`benches/chat_baseline.py`).
//!
//! Algorithms: logistic regression (sklearn `LogisticRegression()`, lbfgs)
//! and decision tree (`DecisionTreeClassifier(random_state=seed)`).
//!
//! Run: `cargo bench -p sluice --bench train` (needs python3 with the
//! baselines: `pip install -r crates/cli/benches/requirements.txt`). For a strictly
//! one-core comparison run the bench binary under `taskset -c 0`: both
//! sides then see one CPU.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sluice_core::{ColumnType, ColumnValues};
use sluice_data::blobs::ArtifactDir;
use sluice_data::{TableReader, batch_to_chunk};
use sluice_store::Store;
use sluice_train::split::train_test_split;
use sluice_train::{Features, HyperParams, Model, Predictions, SparseMatrix, Target, learner};

const REPEATS: usize = 5;
const SEED: u64 = 42;
const SKLEARN_SCRIPT: &str = include_str!("train_sklearn.py");
const MESSAGES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/chat-moderation/data/messages.csv"
);

struct Data {
    name: &'static str,
    train: Features,
    train_y: Target,
    test: Features,
    test_y: Target,
}

/// One standard normal draw (Box–Muller; rand alone has no normal).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A `make_classification`-like binary set: each class is a Gaussian
/// cluster around a vertex of a hypercube (side 2) in the informative
/// dimensions; redundant features are random combinations of those; the
/// rest is noise; 1% of labels are flipped.
fn synthetic(rows: usize, seed: u64) -> (Array2<f64>, Vec<i64>) {
    const INFORMATIVE: usize = 10;
    const REDUNDANT: usize = 5;
    const NOISE: usize = 5;
    let mut rng = StdRng::seed_from_u64(seed);
    let centroids: Vec<Vec<f64>> = (0..2)
        .map(|_| {
            (0..INFORMATIVE)
                .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                .collect()
        })
        .collect();
    let mixing: Vec<f64> = (0..INFORMATIVE * REDUNDANT)
        .map(|_| 2.0 * rng.random::<f64>() - 1.0)
        .collect();
    let cols = INFORMATIVE + REDUNDANT + NOISE;
    let mut x = Array2::zeros((rows, cols));
    let mut labels = Vec::with_capacity(rows);
    for (i, mut row) in x.outer_iter_mut().enumerate() {
        let class = i % 2;
        for j in 0..INFORMATIVE {
            row[j] = centroids[class][j] + normal(&mut rng);
        }
        for r in 0..REDUNDANT {
            row[INFORMATIVE + r] = (0..INFORMATIVE)
                .map(|j| row[j] * mixing[r * INFORMATIVE + j])
                .sum();
        }
        for n in 0..NOISE {
            row[INFORMATIVE + REDUNDANT + n] = normal(&mut rng);
        }
        let flipped = rng.random::<f64>() < 0.01;
        labels.push((class as i64) ^ i64::from(flipped));
    }
    (x, labels)
}

fn dense_data() -> Data {
    let (x, labels) = synthetic(100_000, SEED);
    let y = Target::classes(&labels);
    let split = train_test_split(&y, 0.2, SEED).expect("split");
    let x = Features::Dense(x);
    Data {
        name: "dense 100k×20",
        train: x.select_rows(&split.train),
        train_y: y.select_rows(&split.train),
        test: x.select_rows(&split.test),
        test_y: y.select_rows(&split.test),
    }
}

/// RFC 4180 records (quoted fields, doubled quotes, newlines in quotes).
/// The example's messages and labels, read by sluice's own CSV reader.
fn sms_rows() -> (Vec<String>, Vec<i64>) {
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    let reader = TableReader::open(Path::new(MESSAGES), 4096).expect("messages.csv");
    for batch in reader {
        let columns = [
            ("text".to_string(), ColumnType::Text),
            ("label".to_string(), ColumnType::Int64),
        ];
        let chunk = batch_to_chunk(&batch.expect("a batch"), &columns).expect("text and label");
        let (ColumnValues::Text { data, offsets, .. }, ColumnValues::Int64 { values, .. }) =
            (&chunk.columns[0].values, &chunk.columns[1].values)
        else {
            unreachable!("read as text and int64")
        };
        for row in 0..values.len() {
            texts.push(data[offsets[row] as usize..offsets[row + 1] as usize].to_string());
        }
        labels.extend_from_slice(values);
    }
    (texts, labels)
}

fn sms_data() -> Data {
    sms_data_hashed(16, "sms text 2^16")
}

/// The example's messages hashed into 2^`log2` dimensions (tf-idf fitted
/// on the training rows, l2).
fn sms_data_hashed(log2: u32, name: &'static str) -> Data {
    let (texts, labels) = sms_rows();
    let y = Target::classes(&labels);
    let split = train_test_split(&y, 0.2, SEED).expect("split");

    let config = hash_features::Config {
        word_ngrams: 2,
        char_ngrams: 0,
        n_features_log2: log2,
        weighting: hash_features::Weighting::TfIdf,
        norm: hash_features::Norm::L2,
        ..hash_features::Config::default()
    };
    // The plugin's fit pass: document frequencies over the training rows.
    let mut featurizer = hash_features::Featurizer::new(config);
    let dim = 1usize << log2;
    let mut df = vec![0u32; dim];
    for &row in &split.train {
        for &(index, _) in featurizer.hash_row(&texts[row]) {
            df[index as usize] += 1;
        }
    }
    let n_docs = split.train.len() as u64;
    featurizer.set_idf(
        df.iter()
            .map(|&d| hash_features::smooth_idf(n_docs, d) as f32)
            .collect(),
    );
    let mut featurise = |rows: &[usize]| {
        let mut m = SparseMatrix {
            dim,
            row_offsets: vec![0],
            ..Default::default()
        };
        for &row in rows {
            for &(index, value) in featurizer.row(&texts[row]).expect("featurise") {
                m.indices.push(index);
                m.values.push(value);
            }
            m.row_offsets.push(m.indices.len());
        }
        Features::Sparse(m)
    };
    Data {
        name,
        train: featurise(&split.train),
        train_y: y.select_rows(&split.train),
        test: featurise(&split.test),
        test_y: y.select_rows(&split.test),
    }
}

fn regression_values(y: &Target) -> &[f64] {
    let Target::Values(values) = y else {
        unreachable!("regression")
    };
    values
}

fn labels(y: &Target) -> Vec<i64> {
    let Target::Classes { classes, codes } = y else {
        unreachable!("classification")
    };
    codes.iter().map(|&c| classes[c]).collect()
}

/// Writes `x`, `y` as CSV (label or value last) or svmlight (zero-based
/// indices).
fn write_data(path: &Path, x: &Features, y: &Target) {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create"));
    let y: Vec<String> = match y {
        Target::Classes { .. } => labels(y).iter().map(|l| l.to_string()).collect(),
        Target::Values(v) => v.iter().map(|v| v.to_string()).collect(),
    };
    match x {
        Features::Dense(m) => {
            for (row, label) in m.outer_iter().zip(&y) {
                let mut line = String::new();
                for v in row {
                    // `{}` prints the shortest text that parses back exactly.
                    write!(line, "{v},").expect("format");
                }
                writeln!(out, "{line}{label}").expect("write");
            }
        }
        Features::Sparse(m) => {
            for (i, label) in y.iter().enumerate() {
                let (idx, val) = m.row(i);
                write!(out, "{label}").expect("write");
                for (j, v) in idx.iter().zip(val) {
                    write!(out, " {j}:{v}").expect("write");
                }
                writeln!(out).expect("write");
            }
        }
    }
    out.flush().expect("flush");
}

/// Accuracy and F1 of class 1.
/// Held-out accuracy and F1 of class 1, by the definitions the evaluator
/// plugins use.
fn scores(y: &Target, predictions: &Predictions) -> (f64, f64) {
    let Predictions::Classes { predicted, .. } = predictions else {
        unreachable!("classes")
    };
    let truth = labels(y);
    (
        sluice_metrics::accuracy(&truth, predicted).expect("accuracy"),
        sluice_metrics::f1(&truth, predicted, 1).expect("f1"),
    )
}

fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}

struct Side {
    fit_seconds: f64,
    /// Solver iterations (logistic regression), 0 when not applicable.
    iterations: usize,
    accuracy: f64,
    f1: f64,
}

fn sluice_side(algorithm: &str, data: &Data) -> Result<Side, String> {
    let params = HyperParams::new(BTreeMap::new());
    let learner = learner(algorithm, &params, SEED).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut model = None;
    for _ in 0..REPEATS {
        let started = Instant::now();
        let fitted = learner
            .fit(&data.train, Some(&data.train_y))
            .map_err(|e| e.to_string())?;
        times.push(started.elapsed().as_secs_f64());
        model = Some(fitted);
    }
    let model = model.expect("fitted");
    let iterations = match &model {
        Model::Logistic(m) => m.iterations(),
        _ => 0,
    };
    let predictions = model.predict(&data.test).map_err(|e| e.to_string())?;
    let (accuracy, f1) = scores(&data.test_y, &predictions);
    Ok(Side {
        fit_seconds: median(times),
        iterations,
        accuracy,
        f1,
    })
}

/// `one_thread`: BLAS / OpenMP pools limited to one thread; otherwise
/// scikit-learn's defaults (all cores, which on a shared machine can be
/// slower: spinning pools contend).
fn sklearn_side(
    algorithm: &str,
    data: &Data,
    dir: &Path,
    one_thread: bool,
) -> Result<Side, String> {
    let (kind, ext) = match data.train {
        Features::Dense(_) => ("dense", "csv"),
        Features::Sparse(_) => ("sparse", "svm"),
    };
    let (train, test) = (
        dir.join(format!("{kind}-train.{ext}")),
        dir.join(format!("{kind}-test.{ext}")),
    );
    if !train.exists() {
        write_data(&train, &data.train, &data.train_y);
        write_data(&test, &data.test, &data.test_y);
    }
    let script = dir.join("train_sklearn.py");
    std::fs::write(&script, SKLEARN_SCRIPT).map_err(|e| e.to_string())?;
    let mut command = Command::new("python3");
    if one_thread {
        for pool in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"] {
            command.env(pool, "1");
        }
    }
    let output = command
        .arg(&script)
        .args([algorithm, kind])
        .arg(&train)
        .arg(&test)
        .args([REPEATS.to_string(), SEED.to_string()])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr)
            .lines()
            .last()
            .unwrap_or("failed")
            .to_string());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    // One JSON line: {"fit_seconds": [..], "accuracy": a, "f1": f, ...}.
    let field = |name: &str| -> &str {
        let start = stdout.find(&format!("\"{name}\": ")).expect("field") + name.len() + 4;
        let rest = &stdout[start..];
        &rest[..rest.find([',', '}']).expect("end")]
    };
    let times_start = stdout.find('[').expect("times") + 1;
    let times_end = stdout.find(']').expect("times");
    let times = stdout[times_start..times_end]
        .split(',')
        .map(|t| t.trim().parse().expect("time"))
        .collect();
    Ok(Side {
        fit_seconds: median(times),
        iterations: field("n_iter").parse().expect("n_iter"),
        accuracy: field("accuracy").parse().expect("accuracy"),
        f1: field("f1").parse().expect("f1"),
    })
}

const BASELINE_SCRIPT: &str = include_str!("chat_baseline.py");

/// The example pipeline end to end, then its held-out rows against the
/// baselines a user would otherwise reach for.
fn chat_moderation() {
    let home = tempfile::tempdir().expect("temp home");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let started = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "examples/chat-moderation/pipeline.toml"])
        .current_dir(root)
        .env("SLUICE_HOME", home.path())
        .env_remove("SLUICE_DATABASE_URL")
        .output()
        .expect("run sluice");
    let elapsed = started.elapsed();
    assert!(
        run.status.success(),
        "sluice run failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // SAFETY: getrusage writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let held_out = tokio.block_on(async {
        let store = Store::open_default(home.path()).await.expect("store");
        let steps = store.step_runs(1).await.expect("step runs");
        let digest = steps
            .iter()
            .find(|s| s.step == "model")
            .and_then(|s| s.output_digest)
            .expect("the model step's table");
        let artifact = store
            .artifact(&digest)
            .await
            .expect("artifact")
            .expect("recorded");
        ArtifactDir::new(home.path()).path(&artifact.path)
    });
    let script = home.path().join("chat_baseline.py");
    std::fs::write(&script, BASELINE_SCRIPT).expect("script");
    let baseline = Command::new("python3")
        .arg(&script)
        .arg(MESSAGES)
        .arg(&held_out)
        .output()
        .expect("python3");
    assert!(
        baseline.status.success(),
        "baseline failed (pip install -r crates/cli/benches/requirements.txt):\n{}",
        String::from_utf8_lossy(&baseline.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_slice(&baseline.stdout).expect("baseline JSON");
    println!(
        "\nchat-moderation example, release `sluice run` end to end: {:.2} s wall, peak RSS {:.0} MiB \
         (clean, pii, offensive, spam, 2^16 tf-idf features, 5-fold search over C, fit, evaluate)",
        elapsed.as_secs_f64(),
        usage.ru_maxrss as f64 / 1024.0
    );
    println!(
        "held-out rows: {} (trained on {})",
        result["rows"]["test"], result["rows"]["train"]
    );
    println!("{:<46} {:>8} {:>8}", "model", "F1", "ROC-AUC");
    for (key, name) in [
        (
            "sluice",
            "sluice logistic regression (sparse 2^16 + scores)",
        ),
        (
            "sklearn_tfidf_logreg",
            "scikit-learn TF-IDF 1-2-grams + LogisticRegression",
        ),
        (
            "alt_profanity_check",
            "alt-profanity-check 1.9.1 (pretrained, as shipped)",
        ),
    ] {
        println!(
            "{name:<46} {:>8.4} {:>8.4}",
            result[key]["f1"].as_f64().unwrap_or(f64::NAN),
            result[key]["roc_auc"].as_f64().unwrap_or(f64::NAN)
        );
    }
}

/// linfa 0.8.1, sluice's own solver and scikit-learn 1.9.1 on the same
/// rows (issue #11), for the algorithms both sluice and linfa have. Each of
/// `LINFA_REPEATS` rounds fits every variant once, in turn (sluice, linfa,
/// scikit-learn), so drift on a shared machine hits all alike; the table
/// gives the median fit time and its spread (min–max), and the held-out
/// quality of the last fit. Everything runs on one thread: scikit-learn's
/// OpenMP / BLAS pools and linfa's rayon pool are set to 1.
mod versus_linfa {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;
    use std::time::Instant;

    use linfa::DatasetBase;
    use linfa::traits::{Fit, Predict};
    use ndarray::{Array1, Array2};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256Plus;
    use rand_xoshiro::rand_core::SeedableRng as _;
    use sluice_train::split::train_test_split;
    use sluice_train::{Features, HyperParams, HyperValue, Predictions, Target, learner};

    use super::{Data, SEED, SKLEARN_SCRIPT, labels, regression_values, write_data};

    pub const LINFA_REPEATS: usize = 3;
    /// k-means settings all three share: scikit-learn's `max_iter` and
    /// `tol`, linfa's (and sluice's) `n_init`.
    const K: usize = 8;
    const N_INIT: usize = 10;
    /// Elastic-net penalty for all three (the default 1.0 zeroes most weights here).
    const ALPHA: f64 = 0.1;

    /// A linear regression set: the classification set's features, the
    /// target a fixed random combination of the informative ones plus
    /// unit noise.
    pub fn regression_data() -> Data {
        let (x, _) = super::synthetic(100_000, SEED + 1);
        let mut rng = StdRng::seed_from_u64(SEED + 2);
        let weights: Vec<f64> = (0..10).map(|_| 4.0 * rng.random::<f64>() - 2.0).collect();
        let values: Vec<f64> = x
            .outer_iter()
            .map(|row| (0..10).map(|j| row[j] * weights[j]).sum::<f64>() + super::normal(&mut rng))
            .collect();
        let y = Target::Values(values);
        let split = train_test_split(&y, 0.2, SEED).expect("split");
        let x = Features::Dense(x);
        Data {
            name: "dense 100k×20 reg",
            train: x.select_rows(&split.train),
            train_y: y.select_rows(&split.train),
            test: x.select_rows(&split.test),
            test_y: y.select_rows(&split.test),
        }
    }

    /// The sparse set as a dense matrix (small dimensions only).
    pub fn densify(data: Data, name: &'static str) -> Data {
        let dense = |x: &Features| {
            let Features::Sparse(m) = x else {
                unreachable!("sparse")
            };
            let mut out = Array2::zeros((m.rows(), m.dim));
            for r in 0..m.rows() {
                let (idx, val) = m.row(r);
                for (j, v) in idx.iter().zip(val) {
                    out[[r, *j as usize]] = f64::from(*v);
                }
            }
            Features::Dense(out)
        };
        Data {
            name,
            train: dense(&data.train),
            test: dense(&data.test),
            ..data
        }
    }

    /// One fit: its time and the held-out quality (accuracy, R² or
    /// k-means inertia per row).
    type Fitted = Result<(f64, f64), String>;

    fn dense(x: &Features) -> Result<&Array2<f64>, String> {
        match x {
            Features::Dense(x) => Ok(x),
            Features::Sparse(_) => Err("not supported (dense input only)".into()),
        }
    }

    fn codes(y: &Target) -> Array1<usize> {
        let Target::Classes { codes, .. } = y else {
            unreachable!("classes")
        };
        Array1::from(codes.clone())
    }

    fn accuracy_of(y: &Target, predicted: &Array1<usize>) -> f64 {
        let truth = codes(y);
        let right = truth.iter().zip(predicted).filter(|(a, b)| a == b).count();
        right as f64 / truth.len() as f64
    }

    /// Mean squared distance of `x`'s rows to their nearest centroid.
    fn inertia_per_row(x: &Array2<f64>, centroids: &Array2<f64>) -> f64 {
        let total: f64 = x
            .outer_iter()
            .map(|row| {
                centroids
                    .outer_iter()
                    .map(|c| (&row - &c).mapv(|v| v * v).sum())
                    .fold(f64::INFINITY, f64::min)
            })
            .sum();
        total / x.nrows() as f64
    }

    fn timed<T>(fit: impl FnOnce() -> Result<T, String>) -> Result<(f64, T), String> {
        let started = Instant::now();
        let model = fit()?;
        Ok((started.elapsed().as_secs_f64(), model))
    }

    fn linfa_fit(algorithm: &str, data: &Data) -> Fitted {
        let (x, test) = (dense(&data.train)?, dense(&data.test)?);
        let err = |e: &dyn std::fmt::Display| e.to_string();
        match algorithm {
            "logistic-regression" => {
                let set = DatasetBase::new(x.view(), codes(&data.train_y));
                let (t, m) = timed(|| {
                    linfa_logistic::LogisticRegression::default()
                        .fit(&set)
                        .map_err(|e| err(&e))
                })?;
                Ok((t, accuracy_of(&data.test_y, &m.predict(test))))
            }
            "decision-tree" => {
                let set = DatasetBase::new(x.view(), codes(&data.train_y));
                let (t, m) = timed(|| {
                    linfa_trees::DecisionTree::params()
                        .fit(&set)
                        .map_err(|e| err(&e))
                })?;
                Ok((t, accuracy_of(&data.test_y, &m.predict(test))))
            }
            "gaussian-nb" => {
                let set = DatasetBase::new(x.view(), codes(&data.train_y));
                let (t, m) = timed(|| {
                    linfa_bayes::GaussianNb::params()
                        .fit(&set)
                        .map_err(|e| err(&e))
                })?;
                Ok((t, accuracy_of(&data.test_y, &m.predict(test))))
            }
            "multinomial-nb" => {
                let set = DatasetBase::new(x.view(), codes(&data.train_y));
                let (t, m) = timed(|| {
                    linfa_bayes::MultinomialNb::params()
                        .alpha(1.0)
                        .fit(&set)
                        .map_err(|e| err(&e))
                })?;
                Ok((t, accuracy_of(&data.test_y, &m.predict(test))))
            }
            "elastic-net" => {
                let y = Array1::from(regression_values(&data.train_y).to_vec());
                let set = DatasetBase::new(x.view(), y);
                let (t, m) = timed(|| {
                    linfa_elasticnet::ElasticNet::params()
                        .penalty(ALPHA)
                        .l1_ratio(0.5)
                        .max_iterations(1000)
                        .tolerance(1e-4)
                        .fit(&set)
                        .map_err(|e| err(&e))
                })?;
                let predicted: Array1<f64> = m.predict(test);
                let r2 = sluice_metrics::r2(
                    regression_values(&data.test_y),
                    predicted.as_slice().expect("contiguous"),
                )
                .map_err(|e| err(&e))?;
                Ok((t, r2))
            }
            "k-means" => {
                let set = DatasetBase::from(x.view());
                let (t, m) = timed(|| {
                    linfa_clustering::KMeans::params_with_rng(
                        K,
                        Xoshiro256Plus::seed_from_u64(SEED),
                    )
                    .n_runs(N_INIT)
                    .max_n_iterations(300)
                    .tolerance(1e-4)
                    .fit(&set)
                    .map_err(|e| err(&e))
                })?;
                Ok((t, inertia_per_row(test, m.centroids())))
            }
            other => Err(format!("no linfa {other}")),
        }
    }

    fn sluice_fit(algorithm: &str, data: &Data) -> Fitted {
        let mut params = BTreeMap::new();
        match algorithm {
            "elastic-net" => {
                params.insert("alpha".to_string(), HyperValue::Float(ALPHA));
            }
            "k-means" => {
                params.insert("k".to_string(), HyperValue::Int(K as i64));
                params.insert("n_init".to_string(), HyperValue::Int(N_INIT as i64));
            }
            _ => {}
        }
        let learner =
            learner(algorithm, &HyperParams::new(params), SEED).map_err(|e| e.to_string())?;
        let y = (algorithm != "k-means").then_some(&data.train_y);
        let (t, model) = timed(|| learner.fit(&data.train, y).map_err(|e| e.to_string()))?;
        let quality = match model.predict(&data.test).map_err(|e| e.to_string())? {
            Predictions::Classes { predicted, .. } => {
                sluice_metrics::accuracy(&labels(&data.test_y), &predicted)
                    .map_err(|e| e.to_string())?
            }
            Predictions::Values(values) => {
                sluice_metrics::r2(regression_values(&data.test_y), &values)
                    .map_err(|e| e.to_string())?
            }
            Predictions::Clusters { distance, .. } => {
                distance.iter().map(|d| d * d).sum::<f64>() / distance.len() as f64
            }
        };
        Ok((t, quality))
    }

    /// One scikit-learn fit (the script repeats once), one thread.
    fn sklearn_fit(algorithm: &str, data: &Data, dir: &Path) -> Fitted {
        let slug: String = data
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let (kind, ext) = match data.train {
            Features::Dense(_) => ("dense", "csv"),
            Features::Sparse(_) => ("sparse", "svm"),
        };
        let train = dir.join(format!("{slug}-train.{ext}"));
        let test = dir.join(format!("{slug}-test.{ext}"));
        if !train.exists() {
            write_data(&train, &data.train, &data.train_y);
            write_data(&test, &data.test, &data.test_y);
        }
        let script = dir.join("train_sklearn.py");
        std::fs::write(&script, SKLEARN_SCRIPT).map_err(|e| e.to_string())?;
        let mut command = Command::new("python3");
        for pool in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"] {
            command.env(pool, "1");
        }
        let output = command
            .arg(&script)
            .args([algorithm, kind])
            .arg(&train)
            .arg(&test)
            .args(["1", &SEED.to_string()])
            .env("SLUICE_BENCH_K", K.to_string())
            .env("SLUICE_BENCH_N_INIT", N_INIT.to_string())
            .env("SLUICE_BENCH_ALPHA", ALPHA.to_string())
            .output()
            .map_err(|e| format!("python3: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
                .to_string());
        }
        let result: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
        Ok((
            result["fit_seconds"][0].as_f64().ok_or("fit_seconds")?,
            result["quality"].as_f64().ok_or("quality")?,
        ))
    }

    /// Median and spread of the times, and the last quality.
    fn summary(fits: &[Fitted]) -> Result<(f64, f64, f64, f64), String> {
        let mut times = Vec::new();
        let mut quality = f64::NAN;
        for fit in fits {
            let (t, q) = fit.clone()?;
            times.push(t);
            quality = q;
        }
        times.sort_by(f64::total_cmp);
        Ok((
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            quality,
        ))
    }

    pub fn compare(sets: &[(Data, &[&str])], dir: &Path) {
        let quality_name = |algorithm: &str| match algorithm {
            "elastic-net" => "R²",
            "k-means" => "inertia/row",
            _ => "accuracy",
        };
        println!(
            "\nlinfa 0.8.1 vs sluice vs scikit-learn 1.9.1: fit time, median (min–max) of \
             {LINFA_REPEATS} interleaved rounds, one thread each; held-out quality"
        );
        println!(
            "{:<20} {:<20} {:<13} {:>26} {:>26} {:>26}",
            "data", "algorithm", "quality", "sluice", "linfa", "scikit-learn"
        );
        for (data, algorithms) in sets {
            for algorithm in algorithms.iter() {
                let mut fits: [Vec<Fitted>; 3] = Default::default();
                for _ in 0..LINFA_REPEATS {
                    fits[0].push(sluice_fit(algorithm, data));
                    fits[1].push(linfa_fit(algorithm, data));
                    fits[2].push(sklearn_fit(algorithm, data, dir));
                }
                let cell = |fits: &[Fitted]| match summary(fits) {
                    Ok((median, low, high, quality)) => format!(
                        "{:.1} ms ({:.1}–{:.1}) {quality:.4}",
                        median * 1e3,
                        low * 1e3,
                        high * 1e3
                    ),
                    Err(e) => e,
                };
                println!(
                    "{:<20} {:<20} {:<13} {:>26} {:>26} {:>26}",
                    data.name,
                    algorithm,
                    quality_name(algorithm),
                    cell(&fits[0]),
                    cell(&fits[1]),
                    cell(&fits[2])
                );
            }
        }
    }

    /// Rows (train + test) and features of a set.
    pub fn shape(data: &Data) -> (usize, usize) {
        (data.train.rows() + data.test.rows(), data.train.cols())
    }
}

/// `linfa` as the bench's argument runs only the linfa comparison:
/// `cargo bench -p sluice --bench train -- linfa`; words after it keep
/// only the data sets whose name contains one (`-- linfa reg sms`).
fn linfa_only() -> Option<Vec<String>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let at = args.iter().position(|a| a == "linfa")?;
    Some(args[at + 1..].to_vec())
}

fn main() {
    if let Some(filters) = linfa_only() {
        // SAFETY: set before any thread (and so before rayon's pool) starts.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
        let dir = tempfile::tempdir().expect("temp dir");
        let classification: &[&str] = &[
            "logistic-regression",
            "decision-tree",
            "gaussian-nb",
            "k-means",
        ];
        let text: &[&str] = &["logistic-regression", "decision-tree", "multinomial-nb"];
        let sets = [
            (dense_data(), classification),
            (versus_linfa::regression_data(), &["elastic-net"][..]),
            (
                versus_linfa::densify(sms_data_hashed(10, "sms"), "sms text 2^10 dense"),
                text,
            ),
            (sms_data(), text),
        ];
        let sets: Vec<_> = sets
            .into_iter()
            .filter(|(data, _)| {
                filters.is_empty() || filters.iter().any(|f| data.name.contains(f.as_str()))
            })
            .collect();
        for (data, _) in &sets {
            eprintln!(
                "{}: {:?} rows × features",
                data.name,
                versus_linfa::shape(data)
            );
        }
        versus_linfa::compare(&sets, dir.path());
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let sets = [dense_data(), sms_data()];
    eprintln!("data ready in {:.1}s", started.elapsed().as_secs_f64());
    println!(
        "{:<16} {:<20} {:>17} {:>17} {:>6}  {:>15}  {:>15}",
        "data",
        "algorithm",
        "sluice fit",
        "sklearn fit",
        "ratio",
        "sluice acc/F1",
        "sklearn acc/F1"
    );
    for data in &sets {
        for algorithm in ["logistic-regression", "decision-tree"] {
            let ours = sluice_side(algorithm, data);
            // Against the faster of scikit-learn's default and one-thread runs.
            let theirs = match (
                sklearn_side(algorithm, data, dir.path(), false),
                sklearn_side(algorithm, data, dir.path(), true),
            ) {
                (Ok(default), Ok(single)) => {
                    eprintln!(
                        "{} {algorithm}: scikit-learn default threads {:.1} ms, one thread {:.1} ms",
                        data.name,
                        default.fit_seconds * 1e3,
                        single.fit_seconds * 1e3
                    );
                    Ok(if default.fit_seconds <= single.fit_seconds {
                        default
                    } else {
                        single
                    })
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            let cell = |side: &Result<Side, String>| match side {
                Ok(s) if s.iterations > 0 => (
                    format!("{:.1} ms ({} it)", s.fit_seconds * 1e3, s.iterations),
                    format!("{:.4}/{:.4}", s.accuracy, s.f1),
                ),
                Ok(s) => (
                    format!("{:.1} ms", s.fit_seconds * 1e3),
                    format!("{:.4}/{:.4}", s.accuracy, s.f1),
                ),
                Err(e) => (format!("error: {e}"), String::new()),
            };
            let ((our_time, our_score), (their_time, their_score)) = (cell(&ours), cell(&theirs));
            let ratio = match (&ours, &theirs) {
                (Ok(a), Ok(b)) => format!("{:.2}", a.fit_seconds / b.fit_seconds),
                _ => "-".into(),
            };
            println!(
                "{:<16} {:<20} {:>17} {:>17} {:>6}  {:>15}  {:>15}",
                data.name, algorithm, our_time, their_time, ratio, our_score, their_score
            );
        }
    }
    println!(
        "fit time: median of {REPEATS}; ratio = sluice / faster scikit-learn run (≤ 1: sluice \
         faster); scores on the held-out 20%, F1 of class 1"
    );
    chat_moderation();
}
