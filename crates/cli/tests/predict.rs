//! Predicting with a registered model, as a user does it: the example's
//! pipeline trained in a temporary project, then `sluice predict`, a
//! pipeline's `predict = { model = ... }` step and a bundle imported into
//! a fresh store, all scoring the held-out rows exactly as training did.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;

use sluice_data::TableWriter;

mod common;
use common::{copy_example, ok, read_table};

fn sluice(home: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_HOME", home)
        .env_remove("SLUICE_DATABASE_URL")
        .current_dir(dir)
        .output()
        .expect("run sluice")
}

fn failed(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "should have failed:\n{stdout}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The bytes of embedded plugin `name` with a custom section appended:
/// the same code under another digest, so it is not found among the
/// embedded plugins and is read from the store's plugin folder by digest.
fn local_copy(name: &str) -> Vec<u8> {
    let mut bytes = sluice_stdlib::get(name).expect("embedded").bytes.to_vec();
    let section_name = b"sluice-test-copy";
    let payload = [section_name.len() as u8]
        .iter()
        .chain(section_name)
        .copied()
        .collect::<Vec<u8>>();
    bytes.push(0); // custom section
    bytes.push(payload.len() as u8);
    bytes.extend(payload);
    bytes
}

/// The example project (pipeline, policy, data) in a temporary folder,
/// with the spam detector read from a local file and the train step's
/// held-out predictions written to `out/held_out.parquet`.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn trained() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("local")).unwrap();
        std::fs::write(
            root.join("local/spam-detector.wasm"),
            local_copy("spam-detector"),
        )
        .unwrap();
        copy_example(root, |pipeline| {
            let pipeline = pipeline.replace(
                "plugin = \"spam-detector\"\ninput = \"offensive\"",
                "plugin = \"local/spam-detector.wasm\"\ninput = \"offensive\"",
            );
            // The registered model must be the one that scored the held-out
            // rows: without refitting on every labelled row.
            let pipeline = pipeline.replace(
                "split = { test = 0.2, seed = 7 }",
                "split = { test = 0.2, seed = 7 }\nrefit = false",
            );
            assert!(pipeline.contains("local/spam-detector.wasm"));
            assert!(pipeline.contains("refit = false"));
            assert!(
                pipeline.contains(
                    "[output.held_out]\nstep = \"model\"\npath = \"out/held_out.parquet\""
                )
            );
            pipeline
        });
        let project = Project { dir };
        let run = ok(&project.sluice(&["run", "pipeline.toml"]));
        assert!(
            run.contains("model chat-moderation version 1 (new, now `candidate`)"),
            "{run}"
        );
        ok(&project.sluice(&["promote", "chat-moderation", "1", "--alias", "production"]));
        // the held-out rows as new input: the source's columns only
        let held_out = project.read("out/held_out.parquet");
        let input = held_out
            .project(&[
                held_out.schema().index_of("text").unwrap(),
                held_out.schema().index_of("label").unwrap(),
            ])
            .unwrap();
        let mut writer = TableWriter::create(&project.path("new.csv")).unwrap();
        writer.write(&input).unwrap();
        writer.finish().unwrap();
        project
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path(".sluice")
    }

    fn sluice(&self, args: &[&str]) -> Output {
        sluice(&self.home(), self.dir.path(), args)
    }

    fn read(&self, name: &str) -> RecordBatch {
        read_table(&self.path(name))
    }
}

/// `scored` has the held-out rows' scores bit for bit, the same
/// predictions, and every column both tables hold equal.
fn assert_scores_equal(held_out: &RecordBatch, scored: &RecordBatch) {
    assert_eq!(held_out.num_rows(), scored.num_rows());
    assert!(held_out.num_rows() > 500, "{}", held_out.num_rows());
    let bits = |batch: &RecordBatch| -> Vec<u64> {
        let score = batch.column_by_name("score").expect("a score column");
        (score.as_primitive::<Float64Type>().values().iter())
            .map(|s| s.to_bits())
            .collect()
    };
    let (ours, theirs) = (bits(held_out), bits(scored));
    let differ: Vec<usize> = (0..ours.len()).filter(|i| ours[*i] != theirs[*i]).collect();
    let text = |batch: &RecordBatch, row: usize| {
        let column = batch.column_by_name("text").unwrap();
        format!("{:?}", column.as_string::<i32>().value(row))
    };
    assert!(
        differ.is_empty(),
        "{} of {} scores differ, e.g. {:?}",
        differ.len(),
        ours.len(),
        (differ.iter().take(3))
            .map(|r| (
                *r,
                f64::from_bits(ours[*r]),
                f64::from_bits(theirs[*r]),
                text(held_out, *r),
                text(scored, *r)
            ))
            .collect::<Vec<_>>()
    );
    let mut compared = Vec::new();
    for field in held_out.schema().fields() {
        let Some(other) = scored.column_by_name(field.name()) else {
            continue;
        };
        let ours = held_out.column_by_name(field.name()).unwrap();
        if ours.data_type() == other.data_type() {
            assert!(
                ours.as_ref() == other.as_ref(),
                "column `{}` differs",
                field.name()
            );
            compared.push(field.name().clone());
        }
    }
    for column in [
        "text",
        "label",
        "text_clean",
        "text_masked",
        "pii_label",
        "offensive_rules",
        "spam_rules",
        "prediction",
    ] {
        assert!(
            compared.iter().any(|c| c == column),
            "`{column}` not compared: {compared:?}"
        );
    }
}

#[test]
fn predict_reproduces_the_training_runs_held_out_scores_bit_for_bit() {
    let project = Project::trained();
    let held_out = project.read("out/held_out.parquet");

    // by alias, Parquet out
    let out = ok(&project.sluice(&[
        "predict",
        "chat-moderation@production",
        "--input",
        "new.csv",
        "--out",
        "scored.parquet",
    ]));
    assert!(
        out.contains("rows scored by model chat-moderation version 1 (5 plugin steps"),
        "{out}"
    );
    let scored = project.read("scored.parquet");
    assert_scores_equal(&held_out, &scored);
    // the model's features are not in the output, the detectors' columns are
    assert!(scored.column_by_name("features").is_none());
    assert!(scored.column_by_name("spam_rules").is_some());

    // by number, CSV out, under the project's policy instead of the
    // recorded grants, in small batches
    ok(&project.sluice(&[
        "predict",
        "chat-moderation@1",
        "--input",
        "new.csv",
        "--out",
        "scored.csv",
        "--policy",
        "policy.toml",
        "--chunk-rows",
        "100",
    ]));
    let from_csv = project.read("scored.csv");
    let bits = |batch: &RecordBatch| -> Vec<u64> {
        (batch
            .column_by_name("score")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values()
            .iter())
        .map(|s| s.to_bits())
        .collect()
    };
    // CSV prints floats in their shortest round-trip form
    assert_eq!(bits(&held_out), bits(&from_csv));

    // a pipeline step predicting with the registered model
    std::fs::write(
        project.path("score.toml"),
        r#"
[pipeline]
name = "scoring"
policy = "policy.toml"

[source.new]
path = "new.csv"

[step.scored]
predict = { model = "chat-moderation", alias = "production" }
input = "new"

[output.scored]
step = "scored"
path = "out/scored_by_step.parquet"
"#,
    )
    .unwrap();
    let check = ok(&project.sluice(&["check", "score.toml"]));
    assert!(
        check.contains("predict with model `chat-moderation` version 1")
            && check.contains("reads [text]"),
        "{check}"
    );
    ok(&project.sluice(&["run", "score.toml"]));
    assert_scores_equal(&held_out, &project.read("out/scored_by_step.parquet"));

    // the bundle, imported into a fresh store, predicts the same
    ok(&project.sluice(&[
        "bundle",
        "export",
        "chat-moderation",
        "production",
        "--out",
        "moderation.bundle",
    ]));
    let fresh = tempfile::tempdir().unwrap();
    let fresh_home = fresh.path().join("home");
    let in_fresh = |args: &[&str]| sluice(&fresh_home, project.dir.path(), args);
    ok(&in_fresh(&["bundle", "import", "moderation.bundle"]));
    ok(&in_fresh(&[
        "predict",
        "chat-moderation@1",
        "--input",
        "new.csv",
        "--out",
        "from_bundle.parquet",
    ]));
    assert_scores_equal(&held_out, &project.read("from_bundle.parquet"));

    // and a bundle file builds the same graph without any store
    let bundle = sluice_registry::bundle::read(&project.path("moderation.bundle")).unwrap();
    let source = sluice_pipeline::ModelSource::from_bundle(bundle);
    let runtime = sluice_runtime::Runtime::new(sluice_runtime::RuntimeConfig {
        cache_dir: Some(project.home().join("cache")),
        ..Default::default()
    })
    .unwrap();
    let graph = sluice_pipeline::InferenceGraph::build(
        &source,
        &runtime,
        sluice_pipeline::Grants::Recorded,
    )
    .unwrap();
    let input = project.read("new.csv");
    let scored = graph
        .predict(&input, &sluice_runtime::Stop::default())
        .unwrap();
    assert_scores_equal(&held_out, &scored.batch);
    // a second batch through the same graph: fresh sessions, same scores
    let again = graph
        .predict(&input.slice(0, 10), &Default::default())
        .unwrap();
    assert_eq!(again.batch, scored.batch.slice(0, 10));

    // a template repeated in the training rows (here with other numbers) is
    // `spam.repeated` alone as in a batch, with the same score
    let template = "U have a secret admirer who is looking 2 make contact with U-find out who they R*reveal who thinks UR so special-call on 09058000000";
    let texts = |rows: &[&str]| {
        let text = arrow::array::StringArray::from(rows.to_vec());
        RecordBatch::try_from_iter([("text", std::sync::Arc::new(text) as _)]).unwrap()
    };
    let repeated_and_score = |batch: &RecordBatch| {
        let rules = batch.column_by_name("spam_rules").unwrap().as_list::<i32>();
        let rules = rules.value(0);
        let rules = rules.as_string::<i32>();
        let score = batch.column_by_name("score").unwrap();
        (
            rules.iter().any(|r| r == Some("spam.repeated")),
            score.as_primitive::<Float64Type>().value(0),
        )
    };
    let alone = graph
        .predict(&texts(&[template]), &Default::default())
        .unwrap();
    let among = graph
        .predict(
            &texts(&[template, "ok", "see you later"]),
            &Default::default(),
        )
        .unwrap();
    assert!(repeated_and_score(&alone.batch).0, "{:?}", alone.batch);
    assert_eq!(
        repeated_and_score(&alone.batch),
        repeated_and_score(&among.batch)
    );
}

#[test]
fn predict_refuses_unknown_models_missing_columns_and_tampered_plugins() {
    let project = Project::trained();
    let predict = |model: &str, input: &str| {
        project.sluice(&["predict", model, "--input", input, "--out", "x.parquet"])
    };

    let e = failed(&predict("no-such-model@production", "new.csv"));
    assert!(
        e.contains("no model `no-such-model` is registered (registered: chat-moderation)"),
        "{e}"
    );
    let e = failed(&predict("chat-moderation@staging", "new.csv"));
    assert!(
        e.contains("model `chat-moderation` has no alias `staging`")
            && e.contains("candidate -> 1")
            && e.contains("production -> 1"),
        "{e}"
    );
    let e = failed(&predict("chat-moderation@7", "new.csv"));
    assert!(
        e.contains("model `chat-moderation` has no version 7 (versions: 1;"),
        "{e}"
    );
    let e = failed(&predict("chat-moderation", "new.csv"));
    assert!(e.contains("NAME@ALIAS or NAME@VERSION"), "{e}");

    std::fs::write(project.path("wrong.csv"), "body,label\nhello,0\n").unwrap();
    let e = failed(&predict("chat-moderation@production", "wrong.csv"));
    assert!(
        e.contains("model `chat-moderation` version 1 (`chat-moderation@production`): wrong.csv has no column `text`, which step `clean` (clean-text) reads (it has: body, label)"),
        "{e}"
    );
    assert!(!project.path("x.parquet").exists());

    // under a policy that does not grant a step's plugin (by the name it
    // was trained under) its columns
    std::fs::write(
        project.path("narrow.toml"),
        std::fs::read_to_string(project.path("policy.toml"))
            .unwrap()
            .replace("[plugin.spam-detector]", "[plugin.other]"),
    )
    .unwrap();
    let e = failed(&project.sluice(&[
        "predict",
        "chat-moderation@production",
        "--input",
        "new.csv",
        "--out",
        "x.parquet",
        "--policy",
        "narrow.toml",
    ]));
    assert!(
        e.contains("step `spam`")
            && e.contains("reads column `text` but the policy does not grant it"),
        "{e}"
    );

    // a pipeline naming an alias nobody holds fails its check at the step
    std::fs::write(
        project.path("score.toml"),
        "[pipeline]\nname = \"s\"\npolicy = \"policy.toml\"\n[source.new]\npath = \"new.csv\"\n[step.scored]\npredict = { model = \"chat-moderation\", alias = \"canary\" }\ninput = \"new\"\n",
    )
    .unwrap();
    let e = failed(&project.sluice(&["check", "score.toml"]));
    assert!(
        e.contains("[step.scored] predict: model `chat-moderation` has no alias `canary`"),
        "{e}"
    );

    // the plugin the model was trained with, altered in the store: refused
    let digest = sluice_core::Digest::of(&local_copy("spam-detector"));
    let saved = project
        .home()
        .join("plugins")
        .join(format!("{}.wasm", digest.hex()));
    let mut bytes = std::fs::read(&saved).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&saved, &bytes).unwrap();
    let e = failed(&predict("chat-moderation@production", "new.csv"));
    assert!(
        e.contains("step `spam`")
            && e.contains("does not match its digest")
            && e.contains("refused"),
        "{e}"
    );
    assert!(!project.path("x.parquet").exists());
}
