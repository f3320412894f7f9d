//! Every hostile plugin in tests/guests/src/bin has a test here (the
//! `foreach_hostile!` check below fails the build otherwise). Each asserts
//! the outcome, that the error names the plugin and the limit or capability,
//! and that the same host process then runs a well-behaved plugin.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_runtime::capture::ENTRY_OVERHEAD;
use sluice_runtime::policy::Policy;
use sluice_runtime::{GuestOutput, Plugin, Runtime, RuntimeError, SessionStats};
use sluice_tests::*;

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
sluice_tests::foreach_hostile!(assert_test_exists);

const TEXT_POLICY: &str = "read = [\"text\"]\nwrite = [\"out\"]\n";

fn policy_for(name: &str, extra: &str) -> Policy {
    policy(
        &format!("[plugin.{name}]\n{TEXT_POLICY}{extra}"),
        Path::new("."),
    )
}

fn load(runtime: &Runtime, path: &str, name: &str, extra: &str) -> Result<Plugin, RuntimeError> {
    runtime.load_file(Path::new(path), Some(name), &policy_for(name, extra))
}

/// Loads, opens a session and processes one chunk of `rows` rows.
fn process(
    runtime: &Runtime,
    path: &str,
    name: &str,
    extra: &str,
    rows: usize,
) -> Result<sluice_core::Chunk, RuntimeError> {
    let plugin = load(runtime, path, name, extra)?;
    let (params, effective) = plugin.effective_grant(&[])?;
    let mut session = plugin.session(&params, &effective, None)?;
    let input: Vec<String> = (0..rows).map(|i| format!("message {i}")).collect();
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    session.process(text_chunk("text", &input))
}

fn expect_err(result: Result<impl std::fmt::Debug, RuntimeError>) -> RuntimeError {
    result.expect_err("the hostile plugin must fail")
}

#[test]
fn infinite_loop() {
    let runtime = runtime();
    let started = Instant::now();
    let err = expect_err(process(
        &runtime,
        INFINITE_LOOP,
        "infinite-loop",
        "cpu = \"300ms\"\n",
        10,
    ));
    let elapsed = started.elapsed();
    assert!(matches!(err, RuntimeError::CpuLimit { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("infinite-loop") && message.contains("cpu") && message.contains("300ms"),
        "{message}"
    );
    // stopped within its budget (plus scheduling slack), not after the default 10s
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_host_still_works(&runtime);
}

#[test]
fn deep_recursion() {
    let runtime = runtime();
    let err = expect_err(process(&runtime, DEEP_RECURSION, "deep-recursion", "", 10));
    assert!(matches!(err, RuntimeError::StackOverflow { .. }), "{err}");
    assert!(
        err.to_string().contains("deep-recursion") && err.to_string().contains("stack overflow"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn memory_bomb() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        MEMORY_BOMB,
        "memory-bomb",
        "memory = \"64MiB\"\n",
        10,
    ));
    assert!(matches!(err, RuntimeError::MemoryLimit { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("memory-bomb")
            && message.contains("64.0 MiB")
            && message.contains("policy `memory`"),
        "{message}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn big_table() {
    let runtime = runtime();
    // the same plugin runs under a grant whose table bound fits it...
    let out =
        process(&runtime, BIG_TABLE, "big-table", "", 3).expect("fits the default table bound");
    assert_eq!(out.rows, 3);
    // ...and is stopped when the grant is smaller than its table
    let err = expect_err(process(
        &runtime,
        BIG_TABLE,
        "big-table",
        "table_elements = 64\n",
        3,
    ));
    assert!(matches!(err, RuntimeError::TableLimit { .. }), "{err}");
    assert!(
        err.to_string().contains("big-table") && err.to_string().contains("table_elements"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn huge_output() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        HUGE_OUTPUT,
        "huge-output",
        "max_output_bytes = \"8MiB\"\n",
        16,
    ));
    assert!(
        matches!(
            err,
            RuntimeError::OutputLimit {
                field: "max_output_bytes",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("huge-output"), "{err}");
    assert_host_still_works(&runtime);
}

#[test]
fn many_rows() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        MANY_ROWS,
        "many-rows",
        "max_output_rows = 5000\n",
        10,
    ));
    assert!(
        matches!(
            err,
            RuntimeError::OutputLimit {
                field: "max_output_rows",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("many-rows") && err.to_string().contains("10000 rows"),
        "{err}"
    );
    // without the row bound it is still refused: not row-aligned
    let err = expect_err(process(&runtime, MANY_ROWS, "many-rows", "", 10));
    assert!(
        matches!(err, RuntimeError::BadOutput { .. }) && err.to_string().contains("row-aligned"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn wrong_row_count() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        WRONG_ROW_COUNT,
        "wrong-row-count",
        "",
        10,
    ));
    assert!(matches!(err, RuntimeError::BadOutput { .. }), "{err}");
    assert!(
        err.to_string().contains("wrong-row-count")
            && err
                .to_string()
                .contains("returned 9 rows for a 10-row chunk"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn wrong_column_type() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        WRONG_COLUMN_TYPE,
        "wrong-column-type",
        "",
        4,
    ));
    assert!(
        err.to_string().contains("wrong-column-type")
            && err
                .to_string()
                .contains("column `out` is float64, declared text"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn undeclared_column() {
    let runtime = runtime();
    let err = expect_err(process(
        &runtime,
        UNDECLARED_COLUMN,
        "undeclared-column",
        "",
        4,
    ));
    assert!(
        err.to_string().contains("undeclared-column")
            && err.to_string().contains("`sneaky`")
            && err.to_string().contains("did not declare"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn writing_a_declared_but_ungranted_column_is_refused_before_running() {
    let runtime = runtime();
    let plugin = runtime
        .load_file(
            Path::new(UNDECLARED_COLUMN),
            Some("undeclared-column"),
            &policy(
                "[plugin.undeclared-column]\nread = [\"text\"]\n",
                Path::new("."),
            ),
        )
        .unwrap();
    let err = plugin.effective_grant(&[]).unwrap_err().to_string();
    assert!(
        err.contains("undeclared-column")
            && err.contains("writes column `out`")
            && err.contains("write = []"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn bad_offsets() {
    let runtime = runtime();
    let err = expect_err(process(&runtime, BAD_OFFSETS, "bad-offsets", "", 4));
    assert!(matches!(err, RuntimeError::BadOutput { .. }), "{err}");
    assert!(
        err.to_string().contains("bad-offsets") && err.to_string().contains("column `out`"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn panic_mid_chunk() {
    let runtime = runtime();
    let plugin = load(&runtime, PANIC_MID_CHUNK, "panic-mid-chunk", "").unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let mut session = plugin.session(&params, &effective, None).unwrap();
    let err = session
        .process(text_chunk("text", &["a", "b", "c", "d"]))
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Trap { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("panic-mid-chunk") && message.contains("boom at row 2"),
        "the guest's panic message is captured: {message}"
    );
    // the trapped session is never used again
    let again = session.process(text_chunk("text", &["a"])).unwrap_err();
    assert!(matches!(again, RuntimeError::Poisoned { .. }), "{again}");
    assert_host_still_works(&runtime);
}

/// The detector `sluice serve` is tested against (crates/cli/tests/
/// serve_hostile.rs): clean rows answered, each trigger stopped by its bound.
#[test]
fn poisoned_detector() {
    let runtime = runtime();
    let policy = policy(
        "[plugin.poisoned-detector]\nread = [\"text\"]\nwrite = [\"poisoned_score\", \"poisoned_rules\"]\ncpu = \"60s\"\nmemory = \"64MiB\"\n",
        Path::new("."),
    );
    let plugin = load_file_named(&runtime, POISONED_DETECTOR, "poisoned-detector", &policy);
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let run = |rows: &[&str], deadline: Duration| {
        let stop = sluice_runtime::Stop {
            deadline: Some(Instant::now() + deadline),
            cancel: None,
        };
        let mut session = plugin.session_until(&params, &effective, None, stop)?;
        session.process(text_chunk("text", rows))
    };
    let out = run(&["hello", "poison in lower case"], Duration::from_secs(5)).unwrap();
    assert_eq!(out.rows, 2);
    let Some(sluice_core::ColumnValues::Tags {
        data, row_offsets, ..
    }) = out.column("poisoned_rules")
    else {
        panic!("no tags column: {out:?}");
    };
    assert_eq!(
        (data.as_str(), row_offsets.as_slice()),
        ("poisoned.checkedpoisoned.checked", &[0, 1, 2][..])
    );

    let err = run(&["hello", "a POISON pill"], Duration::from_secs(5)).unwrap_err();
    assert!(matches!(err, RuntimeError::Trap { .. }), "{err}");
    assert!(err.to_string().contains("poisoned by"), "{err}");

    // only the deadline stops the spin (its CPU budget is 60 s)
    let started = Instant::now();
    let err = run(&["HANG"], Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err, RuntimeError::StepTimeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let err = run(&["BLOAT"], Duration::from_secs(5)).unwrap_err();
    assert!(matches!(err, RuntimeError::MemoryLimit { .. }), "{err}");
    assert!(err.to_string().contains("64.0 MiB"), "{err}");
    assert_host_still_works(&runtime);
}

#[test]
fn column_snoop() {
    let runtime = runtime();
    // `secret` is declared (optional) but not granted: the step never sees
    // it, nor the undeclared `password`, and asking for `secret` errors
    let mut input = text_chunk("text", &["hi", "there"]);
    for name in ["secret", "password"] {
        let extra = text_chunk(name, &["s3cr3t", "hunter2"]);
        input.columns.extend(extra.columns);
    }
    let plugin = load(&runtime, COLUMN_SNOOP, "column-snoop", "").unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    assert_eq!(effective.withheld, vec!["secret".to_string()]);
    let mut session = plugin.session(&params, &effective, None).unwrap();
    let err = session.process(input.clone()).unwrap_err();
    assert!(matches!(err, RuntimeError::Step { .. }), "{err}");
    assert!(
        err.to_string().contains("column-snoop")
            && err
                .to_string()
                .contains("column `secret` is not in the input chunk"),
        "{err}"
    );

    // granted: it sees exactly text and secret, never password
    let granted = policy(
        "[plugin.column-snoop]\nread = [\"text\", \"secret\", \"password\"]\nwrite = [\"out\"]\n",
        Path::new("."),
    );
    let plugin = runtime
        .load_file(Path::new(COLUMN_SNOOP), Some("column-snoop"), &granted)
        .unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(input)
        .unwrap();
    assert_eq!(texts(&out, "out")[0].as_deref(), Some("text,secret"));
    assert_host_still_works(&runtime);
}

#[test]
fn env_snoop() {
    let runtime = runtime();
    let out = process(&runtime, ENV_SNOOP, "env-snoop", "", 1).unwrap();
    assert_eq!(
        texts(&out, "out")[0].as_deref(),
        Some("vars=[] args=[]"),
        "no host environment leaks"
    );
    let out = process(
        &runtime,
        ENV_SNOOP,
        "env-snoop",
        "env = { LANG = \"C\" }\n",
        1,
    )
    .unwrap();
    assert_eq!(
        texts(&out, "out")[0].as_deref(),
        Some("vars=[LANG=C] args=[]"),
        "only granted variables"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn fs_escape() {
    let runtime = runtime();
    // without a directory grant there is no preopen: every path is denied
    let out = process(&runtime, FS_ESCAPE, "fs-escape", "", 1).unwrap();
    let report = texts(&out, "out")[0].clone().unwrap();
    assert!(report.lines().all(|l| l.contains("denied")), "{report}");

    // with a read-only grant: every escape and every write is denied
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("inside.txt"), "granted").unwrap();
    std::fs::write(root.path().join("outside.txt"), "host secret").unwrap();
    std::os::unix::fs::symlink(
        root.path().join("outside.txt"),
        data.join("link-to-outside"),
    )
    .unwrap();
    let grant = format!(
        "[plugin.fs-escape]\n{TEXT_POLICY}dirs = [{{ host = \"{}\", guest = \"/data\", mode = \"ro\" }}]\n",
        data.display()
    );
    let plugin = runtime
        .load_file(
            Path::new(FS_ESCAPE),
            Some("fs-escape"),
            &policy(&grant, root.path()),
        )
        .unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(text_chunk("text", &["x"]))
        .unwrap();
    let report = texts(&out, "out")[0].clone().unwrap();
    for line in report.lines() {
        if line.starts_with("read granted") {
            assert!(line.contains("ok \"granted\""), "{report}");
        } else {
            assert!(
                line.contains("denied"),
                "escape or write not denied: {line}\n{report}"
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(data.join("inside.txt")).unwrap(),
        "granted"
    );
    let mut left: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec!["inside.txt", "link-to-outside"],
        "nothing created, renamed or removed"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn network() {
    let runtime = runtime();
    let err = expect_err(load(&runtime, NETWORK, "network", ""));
    assert!(matches!(err, RuntimeError::ImportsRefused { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("network")
            && message.contains("wasi:sockets/")
            && message.contains("network access is never granted"),
        "{message}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn future_contract() {
    let runtime = runtime();
    let err = expect_err(load(&runtime, FUTURE_CONTRACT, "future-contract", ""));
    assert!(
        matches!(err, RuntimeError::UnsupportedVersion { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("future-contract")
            && err.to_string().contains("1.0.0")
            && err.to_string().contains("0.1.x"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}

#[test]
fn tampered_bytes_under_a_pinned_name_are_refused_before_compiling() {
    let runtime = runtime();
    let genuine = sluice_stdlib::get("clean-text").unwrap().bytes;
    let digest = sluice_core::Digest::of(genuine);
    let pinned = policy(
        &format!(
            "[plugin.clean-text]\ndigest = \"{digest}\"\nread = [\"text\"]\nwrite = [\"text_clean\"]\n"
        ),
        Path::new("."),
    );
    runtime
        .load(genuine, Some("clean-text"), &pinned)
        .expect("the pinned bytes load");
    // one flipped byte near the end (inside a custom section or code)
    let mut tampered = genuine.to_vec();
    let at = tampered.len() - 10;
    tampered[at] ^= 0x55;
    let err = expect_err(runtime.load(&tampered, Some("clean-text"), &pinned));
    let message = err.to_string();
    assert!(
        message.contains("clean-text")
            && message.contains("refused before compiling")
            && message.contains(&digest.to_string()),
        "{message}"
    );
    // the step's own name is pinned too, even when loaded under another
    // name; that pin is only known after `describe()`, and the message says so
    let err = expect_err(runtime.load(&tampered, Some("innocent-name"), &pinned));
    let message = err.to_string();
    assert!(
        message.contains("innocent-name")
            && message.contains("declares itself `clean-text`")
            && message.contains("refused after compiling")
            && !message.contains("before compiling"),
        "{message}"
    );
    assert_host_still_works(&runtime);
}

/// Every file in `dir` (recursively), for checking what was left behind.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn a_pin_on_the_declared_name_is_checked_before_anything_is_cached() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(sluice_runtime::RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let genuine = sluice_stdlib::get("clean-text").unwrap().bytes;
    let pinned = policy(
        &format!(
            "[plugin.clean-text]\ndigest = \"{}\"\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
            sluice_core::Digest::of(genuine)
        ),
        Path::new("."),
    );
    // the impostor declares the pinned name: refused, and nothing cached
    let err = expect_err(runtime.load_file(Path::new(IMPOSTOR), Some("impostor"), &pinned));
    assert!(
        matches!(
            err,
            RuntimeError::Policy(sluice_runtime::policy::PolicyError::DeclaredNamePinned { .. })
        ),
        "{err}"
    );
    assert!(
        files_under(cache.path()).is_empty(),
        "{:?}",
        files_under(cache.path())
    );
    // a plugin that passes every check is cached
    runtime.load(genuine, Some("clean-text"), &pinned).unwrap();
    assert_eq!(files_under(cache.path()).len(), 1);
    assert_host_still_works(&runtime);
}

const IMPOSTOR_POLICY: &str = "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\nenv = { SECRET = \"hunter2\" }\ndirs = [{ host = \"granted\", guest = \"/granted\", mode = \"ro\" }]\n";

/// A directory with `granted/secret.txt` and a policy granting it (and an
/// environment variable and the `text` column) to `clean-text` only.
fn impostor_project() -> (tempfile::TempDir, Policy) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("granted")).unwrap();
    std::fs::write(
        root.path().join("granted/secret.txt"),
        "clean-text's lexicon",
    )
    .unwrap();
    let policy = policy(IMPOSTOR_POLICY, root.path());
    (root, policy)
}

#[test]
fn impostor() {
    let runtime = runtime();
    let (root, granted) = impostor_project();
    // from its own file, the impostor is known by the file's name, gets the
    // default grant (nothing), and is shown as what it is
    let plugin = load_file_named(&runtime, IMPOSTOR, "impostor", &granted);
    assert_eq!(plugin.name(), "impostor");
    assert_eq!(plugin.declared_name(), "clean-text");
    assert_eq!(plugin.grant().entry, None);
    assert!(plugin.grant().env.is_empty() && plugin.grant().dirs.is_empty());
    assert_eq!(plugin.display_name(), "impostor (declares `clean-text`)");
    let err = plugin.effective_grant(&[]).unwrap_err().to_string();
    assert!(
        err.contains("plugin `impostor`") && err.contains("reads column `text`"),
        "{err}"
    );
    // unnamed bytes are known by their digest, never by their claim
    let bytes = std::fs::read(IMPOSTOR).unwrap();
    let unnamed = runtime.load(&bytes, None, &granted).unwrap();
    assert!(unnamed.name().starts_with("sha256:"), "{}", unnamed.name());
    assert_eq!(unnamed.grant().entry, None);

    // granted columns under its own name, it still sees no env and no dir
    let own = policy(
        &format!(
            "{IMPOSTOR_POLICY}[plugin.impostor]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n"
        ),
        root.path(),
    );
    let plugin = load_file_named(&runtime, IMPOSTOR, "impostor", &own);
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(text_chunk("text", &["x"]))
        .unwrap();
    let report = texts(&out, "text_clean")[0].clone().unwrap();
    assert!(
        report.starts_with("vars=[] dir=denied"),
        "the impostor saw clean-text's grant: {report}"
    );

    // in a pipeline, `sluice check` shows the step as the file it is
    std::fs::write(
        root.path().join("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"impostor\"\npolicy = \"policy.toml\"\n[source.messages]\npath = \"messages.csv\"\n[step.clean]\nplugin = \"{IMPOSTOR}\"\ninput = \"messages\"\n"
        ),
    )
    .unwrap();
    std::fs::write(root.path().join("messages.csv"), "text\nhello\n").unwrap();
    std::fs::write(root.path().join("policy.toml"), IMPOSTOR_POLICY).unwrap();
    let err = plan(&runtime, root.path()).unwrap_err();
    assert!(
        err.contains("[step.clean]")
            && err.contains("plugin `impostor`")
            && err.contains("reads column `text`"),
        "{err}"
    );
    std::fs::write(
        root.path().join("policy.toml"),
        format!(
            "{IMPOSTOR_POLICY}[plugin.impostor]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n"
        ),
    )
    .unwrap();
    let checked = sluice_pipeline::describe_plan(&plan(&runtime, root.path()).unwrap());
    assert!(
        checked.contains("impostor (declares `clean-text`) 9.9.9"),
        "{checked}"
    );
    assert_host_still_works(&runtime);
}

fn load_file_named(runtime: &Runtime, path: &str, name: &str, policy: &Policy) -> Plugin {
    runtime
        .load_file(Path::new(path), Some(name), policy)
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// `sluice check` on `<dir>/pipeline.toml`.
fn plan(runtime: &Runtime, dir: &Path) -> Result<sluice_pipeline::Plan, String> {
    let pipeline =
        sluice_pipeline::Pipeline::load(&dir.join("pipeline.toml")).map_err(|e| e.to_string())?;
    sluice_pipeline::plan(pipeline, runtime, &dir.join(".sluice")).map_err(|e| e.to_string())
}

/// Runs `<dir>/pipeline.toml` on a SQLite store under `<dir>/.sluice`.
fn run_pipeline(dir: &Path) -> sluice_pipeline::RunSummary {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    tokio.block_on(async {
        let plan = std::sync::Arc::new(plan(&runtime(), dir).unwrap());
        let home = dir.join(".sluice");
        let store = sluice_store::Store::open_default(&home).await.unwrap();
        sluice_pipeline::execute(
            plan,
            &store,
            &home,
            &sluice_pipeline::RunOptions::default(),
            std::sync::Arc::new(sluice_pipeline::Quiet),
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .await
        .unwrap()
    })
}

/// A project directory with `messages.csv`, `policy.toml` and a one-step
/// `pipeline.toml` running `plugin` over the messages.
fn one_step_project(plugin: &str, policy_text: &str, step_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("messages.csv"), "text\na\nb\nc\n").unwrap();
    std::fs::write(dir.path().join("policy.toml"), policy_text).unwrap();
    std::fs::write(
        dir.path().join("pipeline.toml"),
        format!(
            "[pipeline]\nname = \"one\"\npolicy = \"policy.toml\"\nchunk_rows = 2\n[source.messages]\npath = \"messages.csv\"\n[step.only]\nplugin = \"{plugin}\"\ninput = \"messages\"\n{step_extra}"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn sleeper() {
    let runtime = runtime();
    let grant = "cpu = \"2s\"\n";
    let plugin = load(&runtime, SLEEPER, "sleeper", grant).unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    // a sleep within the call's bound is virtual: the guest sees the time
    // pass, the host does not wait, and stdin is empty (not blocking)
    let started = Instant::now();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(text_chunk("text", &["1.5"]))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        texts(&out, "out")[0].as_deref(),
        Some("slept 1.500s stdin Ok(0)")
    );
    // a sleep past the bound fails at once, saying what happened
    let started = Instant::now();
    let err = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(text_chunk("text", &["30"]))
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, RuntimeError::SleepLimit { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("sleeper")
            && message.contains("slept past its time bound")
            && message.contains("30s")
            && message.contains("policy `cpu`"),
        "{message}"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert_host_still_works(&runtime);
}

#[test]
fn a_step_deadline_and_cancellation_stop_a_guest_inside_a_call() {
    let runtime = runtime();
    // a CPU budget far beyond the deadline: only the deadline can stop it
    let plugin = load(&runtime, INFINITE_LOOP, "infinite-loop", "cpu = \"60s\"\n").unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let started = Instant::now();
    let stop = sluice_runtime::Stop {
        deadline: Some(started + Duration::from_millis(300)),
        cancel: None,
    };
    let err = plugin
        .session_until(&params, &effective, None, stop)
        .unwrap()
        .process(text_chunk("text", &["x"]))
        .unwrap_err();
    assert!(matches!(err, RuntimeError::StepTimeout { .. }), "{err}");
    assert!(err.to_string().contains("policy `timeout`"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let started = Instant::now();
    let stop = sluice_runtime::Stop {
        deadline: None,
        cancel: Some(cancel),
    };
    let err = plugin
        .session_until(&params, &effective, None, stop)
        .unwrap()
        .process(text_chunk("text", &["x"]))
        .unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, RuntimeError::Cancelled { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_host_still_works(&runtime);
}

#[test]
fn a_pipeline_step_timeout_stops_a_guest_inside_a_call() {
    let project = one_step_project(
        INFINITE_LOOP,
        "[plugin.infinite-loop]\nread = [\"text\"]\nwrite = [\"out\"]\ncpu = \"60s\"\ntimeout = \"1s\"\n",
        "",
    );
    let started = Instant::now();
    let summary = run_pipeline(project.path());
    let elapsed = started.elapsed();
    let step = &summary.steps[0];
    assert_eq!(step.status, sluice_store::StepStatus::Failed);
    let error = step.error.clone().unwrap();
    assert!(
        error.contains("infinite-loop") && error.contains("step timeout"),
        "{error}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn fit_then_fail() {
    let project = one_step_project(
        FIT_THEN_FAIL,
        "[plugin.fit-then-fail]\nread = [\"text\"]\nwrite = [\"out\"]\n",
        "fit = \"messages\"\n",
    );
    let summary = run_pipeline(project.path());
    let step = &summary.steps[0];
    assert_eq!(step.status, sluice_store::StepStatus::Failed);
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .contains("fails after finish-fit"),
        "{step:?}"
    );
    let state = sluice_core::Digest::of(b"fitted state of fit-then-fail, never to be kept");
    let left: Vec<_> = files_under(&project.path().join(".sluice"))
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(&state.hex()))
        .collect();
    assert!(left.is_empty(), "state file left behind: {left:?}");
}

#[test]
fn a_sparse_2gib_plugin_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.wasm");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let project = one_step_project(huge.to_str().unwrap(), "", "");
    let started = Instant::now();
    let err = plan(&runtime(), project.path()).unwrap_err();
    assert!(
        err.contains("[step.only] plugin")
            && err.contains("huge")
            && err.contains("2147483648 bytes is over the 33554432-byte limit"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn table_bounds_are_reported_as_limits() {
    // a grant above what the instance pool can give is refused, not capped
    let runtime = runtime();
    let err = expect_err(load(
        &runtime,
        BIG_TABLE,
        "big-table",
        "table_elements = 200000\n",
    ));
    assert!(
        matches!(
            err,
            RuntimeError::GrantOverHostLimit {
                field: "table_elements",
                ..
            }
        ) && err.to_string().contains("200000")
            && err.to_string().contains("100000"),
        "{err}"
    );
    // a grant up to the pool's size is honoured (the pool once capped it at 20,000)
    load(
        &runtime,
        BIG_TABLE,
        "big-table",
        "table_elements = 100000\n",
    )
    .unwrap();
    // a component whose table is larger than the host's pool slots is
    // refused as over a limit, not as an invalid component
    let small = Runtime::new(sluice_runtime::RuntimeConfig {
        max_table_elements: 64,
        ..Default::default()
    })
    .unwrap();
    let err = expect_err(load(
        &small,
        BIG_TABLE,
        "big-table",
        "table_elements = 64\n",
    ));
    assert!(matches!(err, RuntimeError::HostLimit { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("big-table")
            && message.contains("over a host limit")
            && message.contains("table")
            && !message.contains("not a valid"),
        "{message}"
    );
}

#[test]
fn malformed_binary_is_refused_with_its_name() {
    let runtime = runtime();
    let err = expect_err(runtime.load(
        b"\0asm\x0d\0\x01\0garbage that is not a component",
        Some("garbage"),
        &Policy::deny_all(),
    ));
    assert!(matches!(err, RuntimeError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains("garbage")
            && err
                .to_string()
                .contains("not a valid WebAssembly component"),
        "{err}"
    );
    let err = expect_err(runtime.load(&[0u8; 64], Some("zeros"), &Policy::deny_all()));
    assert!(matches!(err, RuntimeError::Invalid { .. }), "{err}");
    assert_host_still_works(&runtime);
}

#[test]
fn oversized_plugin_is_refused_before_hashing() {
    let runtime = Runtime::new(sluice_runtime::RuntimeConfig {
        max_plugin_bytes: 1024,
        ..Default::default()
    })
    .unwrap();
    let err = expect_err(runtime.load(&vec![0u8; 4096], Some("huge"), &Policy::deny_all()));
    assert!(
        matches!(err, RuntimeError::TooLarge { .. }) && err.to_string().contains("huge"),
        "{err}"
    );
}

// ---- what a guest can make the host keep, and what reaches people --------

/// As [`process`], also returning what the session kept and its stats
/// (read after the call, whether it succeeded or not).
fn process_keeping_output(
    runtime: &Runtime,
    path: &str,
    name: &str,
    extra: &str,
    rows: usize,
) -> (
    Result<sluice_core::Chunk, RuntimeError>,
    GuestOutput,
    SessionStats,
) {
    let plugin = load(runtime, path, name, extra).expect("loads");
    let (params, effective) = plugin.effective_grant(&[]).expect("grant");
    let mut session = plugin.session(&params, &effective, None).expect("session");
    let input: Vec<String> = (0..rows).map(|i| format!("message {i}")).collect();
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    let result = session.process(text_chunk("text", &input));
    (result, session.output(), session.stats().clone())
}

/// What the host keeps for `output`, measured from what it holds: text
/// plus the per-entry overhead of each log line and metric.
fn held_bytes(output: &GuestOutput) -> usize {
    let lines: usize = output
        .log
        .iter()
        .map(|l| l.message.len() + ENTRY_OVERHEAD)
        .sum();
    let metrics: usize = (output.metrics.iter())
        .map(|(n, _)| n.len() + ENTRY_OVERHEAD)
        .sum();
    lines + metrics + output.stdout.len() + output.stderr.len()
}

#[test]
fn log_flood() {
    let runtime = runtime();
    let (result, output, stats) =
        process_keeping_output(&runtime, LOG_FLOOD, "log-flood", "log = \"64KiB\"\n", 3);
    result.expect("a chatty plugin is not failed for it");
    // 200,000 empty lines: each costs its overhead, so the bound fills
    let kept = (64 << 10) / ENTRY_OVERHEAD;
    assert_eq!(output.log.len(), kept);
    assert!(held_bytes(&output) <= 64 << 10);
    assert_eq!(output.charged as usize, held_bytes(&output));
    assert_eq!(output.dropped.log_lines, (200_000 - kept) as u64);
    assert_eq!(stats.log_dropped, (200_000 - kept) as u64);
    assert_host_still_works(&runtime);
}

#[test]
fn metric_flood() {
    let runtime = runtime();
    let (result, output, stats) = process_keeping_output(
        &runtime,
        METRIC_FLOOD,
        "metric-flood",
        "log = \"64KiB\"\n",
        3,
    );
    result.expect("a plugin recording too much is not failed for it");
    // names of 1 MiB are never kept; short names until the bound is full
    assert!(
        output
            .metrics
            .iter()
            .all(|(n, _)| n.starts_with("short_name_"))
    );
    assert!(held_bytes(&output) <= 64 << 10);
    assert_eq!(output.charged as usize, held_bytes(&output));
    assert!(output.metrics.len() > 500, "{}", output.metrics.len());
    assert_eq!(
        output.metrics.len() as u64 + output.dropped.metrics,
        64 + 5_000
    );
    assert_eq!(stats.log_dropped, output.dropped.metrics);
    assert_host_still_works(&runtime);
}

#[test]
fn stdio_flood() {
    let runtime = runtime();
    let (result, output, stats) =
        process_keeping_output(&runtime, STDIO_FLOOD, "stdio-flood", "log = \"1MiB\"\n", 3);
    // 4 MiB to each stream: kept up to one shared bound, the rest counted,
    // and the guest runs on (it used to trap past its own stream's bound)
    result.expect("writing past the bound is not a trap");
    assert_eq!(output.log[0].message, "before the flood");
    assert!(!output.stdout.is_empty() && !output.stderr.is_empty());
    assert!(held_bytes(&output) <= 1 << 20, "{}", held_bytes(&output));
    assert_eq!(
        held_bytes(&output),
        1 << 20,
        "the bound is used, not exceeded"
    );
    let written = 2 * 4096 * 1024;
    let dropped = output.dropped.stdout_bytes + output.dropped.stderr_bytes;
    assert_eq!(
        (output.stdout.len() + output.stderr.len()) as u64 + dropped,
        written
    );
    assert_eq!(stats.stdio_dropped, dropped);
    assert_host_still_works(&runtime);
}

fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text.contains(['\x1b', '\u{9b}', '\x07', '\r']),
        "{what} carries raw control characters: {:?}",
        &text[..text.len().min(200)]
    );
}

#[test]
fn escape_injection() {
    let runtime = runtime();
    let (result, output, stats) =
        process_keeping_output(&runtime, ESCAPE_INJECTION, "escape-injection", "", 3);
    let err = expect_err(result);
    assert!(matches!(err, RuntimeError::Step { .. }), "{err}");
    let message = err.to_string();
    // a 16 MiB failure is cut to the message bound, with a note
    assert!(message.len() <= 4096 + 200, "{}", message.len());
    assert!(message.contains("escape-injection") && message.contains("MiB more cut]"));
    assert!(message.contains("\\x1b[2J\\x1b]0;pwned\\x07"), "{message}");
    assert_no_raw_controls("the error", &message);
    // the log line is one line, escaped; the metric name too
    assert_eq!(output.log.len(), 1);
    assert!(
        output.log[0].message.contains("\\x1b[2J") && output.log[0].message.contains("\\nFAKE")
    );
    assert_no_raw_controls("the log", &output.log[0].message);
    assert_no_raw_controls("the metric name", &output.metrics[0].0);
    // a failed call still reports what it used
    assert!(stats.peak_memory >= 16 << 20, "{stats:?}");
    assert_host_still_works(&runtime);
}

/// The same plugin in a pipeline: what is stored with the failed step and
/// the run, and what the report shows, is bounded and escaped; the step
/// records the CPU and memory it used before it failed, and its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_injection_in_a_pipeline_is_stored_bounded_and_escaped() {
    use sluice_store::{StepLogKind, Store};
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    // referred to by its policy name, whose entry says where the bytes are
    let policy = format!("[plugin.escape-injection]\npath = \"{ESCAPE_INJECTION}\"\n{TEXT_POLICY}");
    std::fs::write(path("policy.toml"), policy).unwrap();
    std::fs::write(path("messages.csv"), "text\nhello\nworld\n").unwrap();
    let pipeline = "[pipeline]\nname = \"hostile\"\npolicy = \"policy.toml\"\n\
                    [source.messages]\npath = \"messages.csv\"\n\
                    [step.inject]\nplugin = \"escape-injection\"\ninput = \"messages\"\n";
    std::fs::write(path("pipeline.toml"), pipeline).unwrap();
    let home = path(".sluice");
    let runtime = runtime();
    let loaded = sluice_pipeline::Pipeline::load(&path("pipeline.toml")).unwrap();
    let plan = std::sync::Arc::new(sluice_pipeline::plan(loaded, &runtime, &home).unwrap());
    let store = Store::open_default(&home).await.unwrap();
    let summary = sluice_pipeline::execute(
        plan,
        &store,
        &home,
        &Default::default(),
        std::sync::Arc::new(sluice_pipeline::Quiet),
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .await
    .unwrap();
    let step = &summary.steps[0];
    assert_eq!(step.status, sluice_store::StepStatus::Failed);
    assert_no_raw_controls("the summary's error", step.error.as_deref().unwrap());

    let run = store.run(summary.run_id).await.unwrap().unwrap();
    let step_run = &store.step_runs(summary.run_id).await.unwrap()[0];
    for (what, error) in [
        ("the run's error", &run.error),
        ("the step's error", &step_run.error),
    ] {
        let error = error.as_deref().unwrap();
        assert!(
            error.len() <= sluice_core::text::MESSAGE_LIMIT,
            "{what}: {}",
            error.len()
        );
        assert_no_raw_controls(what, error);
    }
    // item: failed steps recorded 0 CPU and 0 memory
    assert!(step_run.peak_memory.unwrap() >= 16 << 20, "{step_run:?}");
    assert!(
        step_run.cpu_ms.is_some() && step.stats.calls >= 2,
        "{step_run:?}"
    );

    let logs = store.step_logs(summary.run_id).await.unwrap();
    let kinds: Vec<StepLogKind> = logs.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [
            StepLogKind::Log,
            StepLogKind::Metric,
            StepLogKind::Stdout,
            StepLogKind::Stderr
        ]
    );
    for log in &logs {
        assert_no_raw_controls("a stored log row", &log.message);
        assert!(log.message.contains("\\x1b]0;pwned\\x07"), "{log:?}");
    }
    let report = sluice_report::collect::collect(&store, summary.run_id)
        .await
        .unwrap()
        .unwrap();
    let html = sluice_report::render_html(&report).unwrap();
    assert!(html.contains("id=\"logs\""));
    assert_no_raw_controls("the report", &html);
    store.close().await;
}

#[test]
fn a_compile_that_outlives_its_bound_keeps_the_only_compile_slot() {
    let runtime = Runtime::new(sluice_runtime::RuntimeConfig {
        compile_timeout: Duration::from_millis(1),
        ..Default::default()
    })
    .unwrap();
    let deny = Policy::deny_all();
    let clean_text = sluice_stdlib::get("clean-text").unwrap().bytes;
    let err = expect_err(runtime.load(clean_text, Some("clean-text"), &deny));
    assert!(matches!(err, RuntimeError::CompileTimeout { .. }), "{err}");
    // that compile still runs: another cannot start beside it
    let word_count = sluice_stdlib::get("word-count").unwrap().bytes;
    let err = expect_err(runtime.load(word_count, Some("word-count"), &deny));
    assert!(matches!(err, RuntimeError::CompileBusy { .. }), "{err}");
    assert!(
        err.to_string().contains("word-count") && err.to_string().contains("compile slot"),
        "{err}"
    );
}

#[test]
fn describe_injection() {
    let runtime = runtime();
    // free text (summary, docs) may hold anything: it is kept within the
    // bound and escaped wherever it is shown
    let dir = one_step_project(
        DESCRIBE_INJECTION,
        &format!("[plugin.describe-injection]\n{TEXT_POLICY}"),
        "",
    );
    let checked = sluice_pipeline::describe_plan(&plan(&runtime, dir.path()).unwrap());
    assert_no_raw_controls("sluice check", &checked);
    let summary = run_pipeline(dir.path());
    assert_eq!(
        summary.status,
        sluice_store::RunStatus::Succeeded,
        "{:?}",
        summary.error
    );
    // names and version reach the store and every listing: plain text or
    // refused at load, naming the plugin and the field
    for (attack, field) in [("name", "name"), ("version", "version")] {
        let err = expect_err(load(
            &runtime,
            DESCRIBE_INJECTION,
            "describe-injection",
            &format!("env = {{ ATTACK = \"{attack}\" }}\n"),
        ));
        assert!(matches!(err, RuntimeError::BadDescription { .. }), "{err}");
        let message = err.to_string();
        assert_no_raw_controls("the load error", &message);
        assert!(
            message.contains("`describe-injection`") && message.contains(&format!("{field} `")),
            "{message}"
        );
    }
    // a description the host would keep must fit its bound
    let err = expect_err(load(
        &runtime,
        DESCRIBE_INJECTION,
        "describe-injection",
        "env = { ATTACK = \"flood\" }\n",
    ));
    assert!(
        matches!(err, RuntimeError::BadDescription { .. })
            && err.to_string().contains("over the 64.0 KiB"),
        "{err}"
    );
    assert_host_still_works(&runtime);
}
