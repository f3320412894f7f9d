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
    let (texts, labels) = sms_rows();
    let y = Target::classes(&labels);
    let split = train_test_split(&y, 0.2, SEED).expect("split");

    let config = hash_features::Config {
        word_ngrams: 2,
        char_ngrams: 0,
        n_features_log2: 16,
        weighting: hash_features::Weighting::TfIdf,
        norm: hash_features::Norm::L2,
        ..hash_features::Config::default()
    };
    // The plugin's fit pass: document frequencies over the training rows.
    let mut featurizer = hash_features::Featurizer::new(config);
    let dim = 1usize << 16;
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
        name: "sms text 2^16",
        train: featurise(&split.train),
        train_y: y.select_rows(&split.train),
        test: featurise(&split.test),
        test_y: y.select_rows(&split.test),
    }
}

fn labels(y: &Target) -> Vec<i64> {
    let Target::Classes { classes, codes } = y else {
        unreachable!("classification")
    };
    codes.iter().map(|&c| classes[c]).collect()
}

/// Writes `x`, `y` as CSV (label last) or svmlight (zero-based indices).
fn write_data(path: &Path, x: &Features, y: &Target) {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create"));
    let y = labels(y);
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

fn main() {
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
