//! The `sluice` binary as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn sluice(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_HOME", home)
        .env_remove("SLUICE_DATABASE_URL")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("run sluice")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn plugin_inspect_shows_digest_contract_params_imports_and_needed_grant() {
    let home = tempfile::tempdir().unwrap();
    let out = sluice(home.path(), &["plugin", "inspect", "clean-text"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for expected in [
        "plugin     clean-text",
        "digest     sha256:",
        "contract   sluice:plugin/step@0.1.0",
        "max_repeat",
        "wasi:io/streams",
        "[plugin.clean-text]",
        "read = [\"text\"]",
        "write = [\"text_clean\"]",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let json = sluice(home.path(), &["plugin", "inspect", "clean-text", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["describe"]["name"], "clean-text");
}

#[test]
fn plugin_run_writes_parquet_and_csv_and_reports() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.csv"),
        "id,text\n1,HELLO   World\n2,\"mail a@b.org now\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
    )
    .unwrap();
    let input = dir.path().join("in.csv");
    let policy = dir.path().join("policy.toml");
    for out in ["out.parquet", "out.csv"] {
        let target = dir.path().join(out);
        let run = sluice(
            home.path(),
            &[
                "plugin",
                "run",
                "clean-text",
                "--input",
                input.to_str().unwrap(),
                "--policy",
                policy.to_str().unwrap(),
                "--out",
                target.to_str().unwrap(),
            ],
        );
        let (_, stderr) = text(&run);
        assert!(run.status.success(), "{stderr}");
        assert!(
            stderr.contains("clean-text: 2 rows in 1 chunks")
                && stderr.contains("peak plugin memory"),
            "{stderr}"
        );
        assert!(target.exists());
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.csv")).unwrap(),
        "id,text,text_clean\n1,HELLO   World,hello world\n2,mail a@b.org now,mail <email> now\n"
    );
    // without the policy, the plugin may read nothing
    let denied = sluice(
        home.path(),
        &[
            "plugin",
            "run",
            "clean-text",
            "--input",
            input.to_str().unwrap(),
        ],
    );
    let (_, stderr) = text(&denied);
    assert!(!denied.status.success());
    assert!(
        stderr.contains("clean-text")
            && stderr.contains("reads column `text` but the policy does not grant it"),
        "{stderr}"
    );
}

#[test]
fn the_example_pipeline_runs_caches_and_is_recorded() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let run = sluice(home, &["run", "examples/chat-moderation/pipeline.toml"]);
    let (stdout, stderr) = text(&run);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("run 1 succeeded"), "{stdout}");
    for step in [
        "clean",
        "pii",
        "offensive",
        "spam",
        "features",
        "model",
        "metrics",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(step) && l.contains("succeeded")),
            "{step} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("model chat-moderation version 1 (new, now `candidate`)"),
        "{stdout}"
    );
    // the summary names what the search chose; check warns of what the
    // pipeline cannot keep out of a fit
    assert!(stdout.contains("    chosen: "), "{stdout}");
    assert!(
        stderr.contains("warning: [step.features] is fitted on the training rows of `model`"),
        "{stderr}"
    );
    let again = sluice(home, &["run", "examples/chat-moderation/pipeline.toml"]);
    let (stdout, _) = text(&again);
    assert!(again.status.success());
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" cached ")).count(),
        7,
        "{stdout}"
    );
    assert!(stdout.contains("version 1 (unchanged)"), "{stdout}");

    // the README's promotion path: gate checked, alias moved, audited
    let promote = sluice(
        home,
        &["promote", "chat-moderation", "1", "--alias", "production"],
    );
    let (stdout, stderr) = text(&promote);
    assert!(promote.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("f1 >= 0.85") && stdout.contains("passed") && stdout.contains("skipped"),
        "{stdout}"
    );
    let (models, _) = text(&sluice(home, &["models"]));
    assert!(
        models.contains("chat-moderation") && models.contains("candidate, production"),
        "{models}"
    );
    let (shown, _) = text(&sluice(
        home,
        &["models", "show", "chat-moderation", "production"],
    ));
    assert!(
        shown.contains("roc_auc") && shown.contains("lineage") && shown.contains("step   features"),
        "{shown}"
    );
    // params as values, not as their stored type tags
    assert!(
        shown.contains("  hyper.class_weight = \"balanced\"") && !shown.contains("{\"Float\""),
        "{shown}"
    );
    let bundle = home.join("moderation.bundle");
    let export = sluice(
        home,
        &[
            "bundle",
            "export",
            "chat-moderation",
            "production",
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(export.status.success(), "{}", text(&export).1);
    let report = home.join("report.html");
    let written = sluice(home, &["report", "1", "--out", report.to_str().unwrap()]);
    assert!(written.status.success(), "{}", text(&written).1);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("ROC") && html.contains("Confusion"), "report");
    let elsewhere = tempfile::tempdir().unwrap();
    let import = sluice(
        elsewhere.path(),
        &["bundle", "import", bundle.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&import);
    assert!(import.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("every digest checked"), "{stdout}");

    let (runs, _) = text(&sluice(home, &["runs"]));
    assert!(
        runs.contains("chat-moderation") && runs.lines().count() == 3,
        "{runs}"
    );
    let (audit, _) = text(&sluice(home, &["audit", "log"]));
    assert!(audit.contains("model.alias"), "{audit}");
    let (show, _) = text(&sluice(home, &["show", "1"]));
    assert!(
        show.contains("features") && show.contains("artifacts") && show.contains("state"),
        "{show}"
    );
    // the plugins' own log lines are kept with their step runs
    let (logs, stderr) = text(&sluice(home, &["show", "1", "--logs"]));
    let features_log = logs
        .split("\nlogs\n")
        .nth(1)
        .and_then(|logs| logs.split("  features\n").nth(1))
        .unwrap_or_else(|| panic!("a logs section with the features step:\n{logs}\n{stderr}"));
    assert!(
        features_log.starts_with("    info  fitted on ") && features_log.contains(" documents: "),
        "{logs}"
    );
    let (verify, _) = text(&sluice(home, &["audit", "verify"]));
    assert!(verify.contains("hash chain intact"), "{verify}");

    let digest = show
        .lines()
        .find(|l| l.contains(" table ") && l.contains("clean"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let out = home.join("clean.csv");
    let export = sluice(
        home,
        &[
            "artifacts",
            "export",
            &digest,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(export.status.success(), "{}", text(&export).1);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("text,label,orig_label,text_clean\n")
    );
}

#[test]
fn check_and_graph_point_at_the_problem() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.toml");
    std::fs::write(&file, "[pipeline]\nname = \"x\"\n[source.s]\npath = \"s.csv\"\n[step.a]\nplugin = \"clean-text\"\ninput = \"b\"\n[step.b]\nplugin = \"clean-text\"\ninput = \"a\"\n").unwrap();
    let check = sluice(home.path(), &["check", file.to_str().unwrap()]);
    let (_, stderr) = text(&check);
    assert!(!check.status.success());
    assert!(
        stderr.contains("pipeline.toml") && stderr.contains("cycle"),
        "{stderr}"
    );

    let graph = sluice(
        home.path(),
        &[
            "graph",
            "examples/chat-moderation/pipeline.toml",
            "--format",
            "mermaid",
        ],
    );
    let (stdout, stderr) = text(&graph);
    assert!(graph.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("flowchart LR") && stdout.contains("clean --> pii"),
        "{stdout}"
    );
    let ok = sluice(
        home.path(),
        &["check", "examples/chat-moderation/pipeline.toml"],
    );
    assert!(ok.status.success(), "{}", text(&ok).1);
}

#[test]
fn printing_into_a_closed_pipe_ends_quietly() {
    let home = tempfile::tempdir().unwrap();
    // the reader is gone before sluice writes its first byte: `... | head -0`
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["plugin", "inspect", "clean-text"])
        .env("SLUICE_HOME", home.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run sluice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn warnings_into_a_file_carry_no_colour_codes() {
    let home = tempfile::tempdir().unwrap();
    // a bad database path makes sluice warn or fail on stderr; either way no ESC byte
    let out = sluice(home.path(), &["-v", "runs"]);
    let (_, stderr) = text(&out);
    assert!(!stderr.is_empty(), "expected some log output with -v");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// The 12-digit digests `sluice run` prints are what `artifacts export`
/// takes (any unique prefix, with or without `sha256:`); an ambiguous or
/// unknown prefix is refused saying which.
#[test]
fn artifacts_export_takes_the_short_digests_run_prints() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "text\nHELLO   World\n").unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pipeline.toml"),
        "[pipeline]\nname = \"short\"\npolicy = \"policy.toml\"\n[source.rows]\npath = \"in.csv\"\n\
         [step.clean]\nplugin = \"clean-text\"\ninput = \"rows\"\n",
    )
    .unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    let run = sluice(home.path(), &["run", pipeline.to_str().unwrap()]);
    let (stdout, stderr) = text(&run);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    let short = stdout
        .lines()
        .find(|l| l.starts_with("clean "))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("a clean line in:\n{stdout}"))
        .to_string();
    assert_eq!(short.len(), 12, "{stdout}");
    let out = dir.path().join("out.csv");
    for typed in [short.clone(), format!("sha256:{}", short.to_uppercase())] {
        let export = sluice(
            home.path(),
            &[
                "artifacts",
                "export",
                &typed,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let (stdout, stderr) = text(&export);
        assert!(export.status.success(), "{typed}: {stdout}\n{stderr}");
        assert!(
            std::fs::read_to_string(&out)
                .unwrap()
                .contains("hello world"),
            "{typed}"
        );
    }

    // two recorded artifacts sharing their first six digits
    let store_url = home.path().join("sluice.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = sluice_store::Store::open(store_url.to_str().unwrap())
            .await
            .unwrap();
        for tail in ["0", "1"] {
            let digest =
                sluice_core::Digest::from_hex(&format!("abcdef{}", tail.repeat(58))).unwrap();
            let record = sluice_store::NewArtifact {
                digest,
                kind: sluice_store::ArtifactKind::Table,
                path: format!("{}.parquet", digest.hex()),
                rows: Some(0),
                bytes: 0,
                created_by_run: 1,
                created_by_step: "twin".into(),
                plugin_digest: None,
                params: serde_json::json!({}),
                inputs: Vec::new(),
            };
            store.put_artifact(&record).await.unwrap();
        }
        store.close().await;
    });
    for (typed, expected) in [
        ("abcdef", &["ambiguous", "abcdef000000", "abcdef111111"][..]),
        (
            "sha256:0123456789abcdef0123",
            &["no artifact starts with", "sha256:0123456789abcdef0123"],
        ),
        ("sha256:xyz", &["not hexadecimal"]),
    ] {
        let export = sluice(
            home.path(),
            &["artifacts", "export", typed, "--out", out.to_str().unwrap()],
        );
        let (_, stderr) = text(&export);
        assert!(!export.status.success(), "{typed}");
        for needle in expected {
            assert!(stderr.contains(needle), "{typed}: {needle} not in {stderr}");
        }
    }
}

/// `sluice gc --dry-run` lists an unreferenced artifact file without
/// removing it; `sluice gc` removes it; `sluice artifacts verify` reports a
/// damaged one and fails.
#[test]
fn gc_and_verify_from_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "text\nHELLO   World\n").unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pipeline.toml"),
        "[pipeline]\nname = \"gc\"\npolicy = \"policy.toml\"\n[source.rows]\npath = \"in.csv\"\n\
         [step.clean]\nplugin = \"clean-text\"\ninput = \"rows\"\n",
    )
    .unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    let run = sluice(home.path(), &["run", pipeline.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run).1);
    let artifacts = home.path().join("artifacts");
    let kept: Vec<_> = std::fs::read_dir(&artifacts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let orphan = artifacts.join(format!("{}.state", "e".repeat(64)));
    std::fs::write(&orphan, b"nobody records me").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    let dry = sluice(home.path(), &["gc", "--dry-run"]);
    let (stdout, stderr) = text(&dry);
    assert!(dry.status.success(), "{stderr}");
    assert!(
        stdout.contains("would remove") && stdout.contains(&"e".repeat(64)),
        "{stdout}"
    );
    assert!(orphan.exists());
    let gc = sluice(home.path(), &["gc"]);
    let (stdout, stderr) = text(&gc);
    assert!(gc.status.success(), "{stderr}");
    assert!(stdout.contains("removed 1 unreferenced"), "{stdout}");
    assert!(!orphan.exists() && kept.iter().all(|p| p.exists()));

    let verify = sluice(home.path(), &["artifacts", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify).0);
    std::fs::write(&kept[0], b"damaged").unwrap();
    let verify = sluice(home.path(), &["artifacts", "verify"]);
    let (stdout, stderr) = text(&verify);
    assert!(!verify.status.success());
    assert!(
        stdout.contains("7 bytes on disk") && stderr.contains("1 artifacts are damaged"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn check_lists_every_error_and_allow_path_lets_a_pipeline_reach_a_folder() {
    let home = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let (project, shared) = (root.path().join("project"), root.path().join("shared"));
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("in.csv"), "id,text\n1,HELLO   World\n").unwrap();
    std::fs::write(
        project.join("policy.toml"),
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
    )
    .unwrap();
    let pipeline = "[pipeline]\nname = \"x\"\npolicy = \"policy.toml\"\n\
                    [source.s]\npath = \"../shared/in.csv\"\n\
                    [step.a]\nplugin = \"no-such-plugin\"\ninput = \"s\"\n\
                    [step.b]\nplugin = \"clean-text\"\ninput = \"s\"\nparams = { colunm = \"text\" }\n\
                    [output.a]\nstep = \"b\"\npath = \"../shared/out.csv\"\n";
    let file = project.join("pipeline.toml");
    std::fs::write(&file, pipeline).unwrap();
    let file = file.to_str().unwrap();

    let check = sluice(home.path(), &["check", file]);
    let (_, stderr) = text(&check);
    assert!(!check.status.success());
    // the steps reading the refused source are not checked further: one
    // mistake is reported once
    for expected in [
        "2 errors",
        "[source.s] path",
        "in.csv is outside",
        "--allow-path DIR",
        "[output.a] path",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
    let shared_dir = shared.to_str().unwrap();
    let check = sluice(home.path(), &["check", file, "--allow-path", shared_dir]);
    let (_, stderr) = text(&check);
    assert!(!check.status.success());
    assert!(
        stderr.contains("2 errors")
            && stderr.contains("[step.a] plugin")
            && stderr.contains("[step.b] params")
            && !stderr.contains("outside"),
        "{stderr}"
    );

    std::fs::write(
        file,
        pipeline
            .replace("plugin = \"no-such-plugin\"", "plugin = \"clean-text\"")
            .replace("colunm", "column"),
    )
    .unwrap();
    let run = sluice(home.path(), &["run", file, "--allow-path", shared_dir]);
    let (stdout, stderr) = text(&run);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(
        std::fs::read_to_string(shared.join("out.csv"))
            .unwrap()
            .contains("hello world")
    );
}

/// A runtime that compiles in `sluice compile-plugin` children, as the
/// binary's commands do.
fn child_compiling_runtime(
    compile_timeout: std::time::Duration,
    max_table_elements: u32,
) -> sluice_runtime::Runtime {
    sluice_runtime::Runtime::new(sluice_runtime::RuntimeConfig {
        compile_timeout,
        max_table_elements,
        compiler: sluice_runtime::Compiler::ChildProcess {
            program: env!("CARGO_BIN_EXE_sluice").into(),
            args: vec!["compile-plugin".into()],
        },
        ..Default::default()
    })
    .unwrap()
}

/// Live `compile-plugin` children of this test process.
fn compile_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid …: the command name may hold spaces
        let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let ppid = after_comm.split_whitespace().nth(1).unwrap_or("");
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == me && String::from_utf8_lossy(&cmdline).contains("compile-plugin") {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_compile_over_its_bound_is_killed_and_the_next_compile_starts_at_once() {
    use sluice_runtime::RuntimeError;
    let deny = sluice_runtime::policy::Policy::deny_all();
    let clean_text = sluice_stdlib::get("clean-text").unwrap().bytes;
    let hurried = child_compiling_runtime(std::time::Duration::from_millis(1), 100_000);
    let err = hurried
        .load(clean_text, Some("clean-text"), &deny)
        .expect_err("a 1 ms compile bound is exceeded");
    assert!(matches!(err, RuntimeError::CompileTimeout { .. }), "{err}");
    assert!(err.to_string().contains("clean-text"), "{err}");
    // the compile was killed and reaped, not left running: nothing holds
    // the machine, and nothing holds a compile slot either
    assert_eq!(compile_children(), Vec::<u32>::new());
    let runtime = child_compiling_runtime(std::time::Duration::from_secs(60), 100_000);
    let plugin = runtime
        .load(clean_text, Some("clean-text"), &deny)
        .expect("compiled in a child and loaded by the host's engine");
    assert_eq!(plugin.info().name, "clean-text");
    let err = hurried
        .load(
            sluice_stdlib::get("word-count").unwrap().bytes,
            Some("word-count"),
            &deny,
        )
        .expect_err("still bounded");
    assert!(matches!(err, RuntimeError::CompileTimeout { .. }), "{err}");
    a_child_compile_keeps_the_error_classes_of_an_in_process_one();
}

/// Part of the test above (one test, so that no other test's compile
/// children are alive while it counts them).
fn a_child_compile_keeps_the_error_classes_of_an_in_process_one() {
    use sluice_runtime::RuntimeError;
    let deny = sluice_runtime::policy::Policy::deny_all();
    let runtime = child_compiling_runtime(std::time::Duration::from_secs(60), 1);
    // over the instance pool's table bound: a host limit, named as such
    let small_tables = sluice_runtime::policy::Policy::parse(
        "[plugin.clean-text]\ntable_elements = 1\n",
        Path::new("policy.toml"),
        Path::new("."),
    )
    .unwrap();
    let err = runtime
        .load(
            sluice_stdlib::get("clean-text").unwrap().bytes,
            Some("clean-text"),
            &small_tables,
        )
        .expect_err("a one-element table bound is exceeded");
    assert!(matches!(err, RuntimeError::HostLimit { .. }), "{err}");
    assert!(err.to_string().contains("max_table_elements"), "{err}");
    // bytes wasmtime refuses: invalid, with wasmtime's reason
    let runtime = child_compiling_runtime(std::time::Duration::from_secs(60), 100_000);
    let err = runtime
        .load(b"\0asm\x0d\0\x01\0garbage", Some("garbage"), &deny)
        .expect_err("garbage is refused");
    assert!(matches!(err, RuntimeError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("garbage"), "{err}");
}

#[test]
fn an_output_that_cannot_be_written_says_why_in_the_run_output() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "text\nHello\n").unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
    )
    .unwrap();
    // the output path is a folder: the export fails
    std::fs::create_dir(dir.path().join("taken.csv")).unwrap();
    std::fs::write(
        dir.path().join("pipeline.toml"),
        "[pipeline]\nname = \"p\"\npolicy = \"policy.toml\"\n\n[source.rows]\npath = \"in.csv\"\n\n\
         [step.clean]\nplugin = \"clean-text\"\ninput = \"rows\"\n\n\
         [output.cleaned]\nstep = \"clean\"\npath = \"taken.csv\"\n",
    )
    .unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    let run = sluice(home.path(), &["run", pipeline.to_str().unwrap()]);
    let (stdout, stderr) = text(&run);
    assert!(!run.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("output cleaned not written to "))
        .unwrap_or_else(|| panic!("no output line in:\n{stdout}\n{stderr}"));
    assert!(line.contains("taken.csv: "), "{line}");
}

#[test]
fn tokens_are_created_listed_revoked_and_audited() {
    let home = tempfile::tempdir().unwrap();
    let out = sluice(home.path(), &["token", "create", "--role", "admin"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("token 1 (admin) created"), "{stderr}");
    let secret = stdout.trim();
    assert!(secret.starts_with("slc_") && secret.len() == 47, "{stdout}");

    let out = sluice(home.path(), &["token", "create", "--role", "boss"]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("predict, review, admin"),
        "{:?}",
        text(&out)
    );

    let out = sluice(home.path(), &["token", "revoke", "1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("token 1 (admin) revoked"));
    let out = sluice(home.path(), &["token", "revoke", "1"]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("token 1 was already revoked"),
        "{:?}",
        text(&out)
    );

    let out = sluice(home.path(), &["token", "list"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("admin") && stdout.contains("revoked"),
        "{stdout}"
    );
    assert!(!stdout.contains(secret), "the secret is never shown again");

    let out = sluice(home.path(), &["audit", "log"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("token.create") && stdout.contains("token.revoke"),
        "{stdout}"
    );
    assert!(!stdout.contains(secret), "{stdout}");
}
