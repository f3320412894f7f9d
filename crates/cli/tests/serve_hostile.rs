//! A hostile detector in `sluice serve`'s path, on SQLite and PostgreSQL:
//! the example trained with the poisoned detector (tests/guests) in front
//! of the model, so the registered graph runs its exact bytes on every
//! message; it traps on `POISON`, spins on `HANG` and allocates without
//! bound on `BLOAT`. Asked over real HTTP on loopback, the real server
//! answers those with the fail-safe (never a 500, a hang within its
//! deadline), keeps clean batch-mates' real answers, opens the step's
//! breaker after repeated failures and closes it on a half-open probe, and
//! answers every clean request while another client hammers it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::postgres::PgTestDb;
use common::serving::{Project, Served};

/// The server's deadline for a micro-batch through the plugins.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// How long past its deadline a hung message may take to be answered.
const MARGIN: Duration = Duration::from_millis(1500);
/// An answer that runs no guest (an open breaker) comes well before a
/// deadline could.
const FAST: Duration = Duration::from_millis(500);
const COOLDOWN: Duration = Duration::from_millis(2000);

const CLEAN: &str = "see you at the station at six";
const POISON: &str = "this message is POISON";
const HANG: &str = "HANG on a second";
const BLOAT: &str = "BLOAT the heap please";

/// The timing assertions need the machine: one scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The example with the poisoned detector between the spam detector and
/// the features, granted 60 s of CPU (only the server's deadline stops
/// a hang) and 64 MiB; trained and promoted to `production`.
fn trained(db: Option<String>) -> Project {
    Project::trained_with(db, |root| {
        let pipeline = root.join("pipeline.toml");
        let text = std::fs::read_to_string(&pipeline).unwrap();
        let features = "[step.features]\nplugin = \"hash-features\"\ninput = \"spam\"";
        assert!(text.contains(features));
        let text = text.replace(
            features,
            &format!(
                "[step.poison]\nplugin = \"{}\"\ninput = \"spam\"\n\n\
                 [step.features]\nplugin = \"hash-features\"\ninput = \"poison\"",
                sluice_tests::POISONED_DETECTOR
            ),
        );
        std::fs::write(pipeline, text).unwrap();
        let policy = root.join("policy.toml");
        let mut text = std::fs::read_to_string(&policy).unwrap();
        text.push_str(
            "\n[plugin.poisoned-detector]\nread = [\"text\"]\n\
             write = [\"poisoned_score\", \"poisoned_rules\"]\ncpu = \"60s\"\nmemory = \"64MiB\"\n",
        );
        std::fs::write(policy, text).unwrap();
    })
}

/// `POST /v1/moderate`: asserts 200; the answer and how long it took.
fn moderate(server: &Served, text: &str) -> (Value, Duration) {
    let started = Instant::now();
    let (status, answer) = server.post("/v1/moderate", &json!({ "text": text }));
    assert_eq!(status, 200, "{text}: {answer}");
    (answer, started.elapsed())
}

fn rules(answer: &Value) -> Vec<&str> {
    (answer["rules_triggered"].as_array().unwrap().iter())
        .map(|r| r.as_str().unwrap())
        .collect()
}

/// A real answer, through the poisoned detector (its rule is merged).
fn assert_real(answer: &Value) {
    assert!(answer.get("fail_safe").is_none(), "{answer}");
    assert!(answer["score"].is_f64(), "{answer}");
    assert!(rules(answer).contains(&"poisoned.checked"), "{answer}");
}

/// The fail-safe answer: `action` with only the rule `rule`.
fn assert_fail_safe(answer: &Value, action: &str, rule: &str) {
    assert_eq!(answer["fail_safe"], true, "{answer}");
    assert_eq!(answer["action"], action, "{answer}");
    assert_eq!(rules(answer), vec![rule], "{answer}");
    assert_eq!(answer["label"], "unknown", "{answer}");
    assert!(answer["score"].is_null(), "{answer}");
}

fn is_fail_safe(answer: &Value) -> bool {
    answer.get("fail_safe").is_some()
}

fn metric(server: &Served, series: &str) -> f64 {
    server.metric(series).unwrap_or_default()
}

const FAILURES: &str = "sluice_plugin_failures_total{step=\"poison\"}";
const BREAKER: &str = "sluice_breaker_state{step=\"poison\"}";

/// One client sending `hostile` messages in a loop while `clients` others
/// each send `each` clean messages; every answer is a 200. The clean
/// answers, and how many hostile messages were sent.
fn hammered(server: &Served, hostile: &[&str], clients: usize, each: usize) -> (Vec<Value>, usize) {
    let done = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    let clean = std::thread::scope(|scope| {
        let hammer = scope.spawn(|| {
            for text in hostile.iter().cycle() {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let (status, answer) = server.post("/v1/moderate", &json!({ "text": text }));
                assert_eq!(status, 200, "{text}: {answer}");
                assert!(is_fail_safe(&answer), "{answer}");
                sent.fetch_add(1, Ordering::Relaxed);
            }
        });
        // the hammer is already at it when the clean clients start
        while sent.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let clients: Vec<_> = (0..clients)
            .map(|client| {
                scope.spawn(move || {
                    (0..each)
                        .map(|i| {
                            let text = format!("{CLEAN}, client {client} message {i}");
                            moderate(server, &text).0
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let clean: Vec<Value> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        done.store(true, Ordering::Relaxed);
        hammer.join().unwrap();
        clean
    });
    (clean, sent.into_inner())
}

fn hostile_detector_in_the_serving_path(project: &Project) {
    let server = project.serve(
        "guarded",
        &format!(
            "[limits]\ntimeout_ms = {}\nmax_wait_ms = 50\n\n[breaker]\nfailures = 3\ncooldown_ms = {}\n",
            TIMEOUT.as_millis(),
            COOLDOWN.as_millis()
        ),
    );
    assert_real(&moderate(&server, CLEAN).0);

    // each trigger: the default fail-safe, a 200; a clean message between
    // them resets the failure count, so the breaker stays closed
    for hostile in [POISON, HANG, BLOAT] {
        let (answer, took) = moderate(&server, hostile);
        assert_fail_safe(&answer, "escalate", "detector_error");
        if hostile == HANG {
            // stopped at the micro-batch's deadline, not by its 60 s of CPU
            assert!(took >= TIMEOUT && took < TIMEOUT + MARGIN, "{took:?}");
        }
        assert_real(&moderate(&server, CLEAN).0);
    }
    assert_eq!(metric(&server, FAILURES), 3.0);
    assert_eq!(metric(&server, BREAKER), 0.0);

    // one request, one micro-batch: the poisoned messages get the
    // fail-safe, their clean batch-mates their real answers
    let batches = metric(&server, "sluice_micro_batch_rows_count");
    let rows = metric(&server, "sluice_micro_batch_rows_sum");
    let (status, answer) = server.post(
        "/v1/moderate/batch",
        &json!({ "messages": [
            { "text": CLEAN }, { "text": POISON }, { "text": "and a second clean one" }, { "text": BLOAT },
        ] }),
    );
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_real(&results[0]);
    assert_fail_safe(&results[1], "escalate", "detector_error");
    assert_real(&results[2]);
    assert_fail_safe(&results[3], "escalate", "detector_error");
    assert_eq!(
        metric(&server, "sluice_micro_batch_rows_count"),
        batches + 1.0
    );
    assert_eq!(metric(&server, "sluice_micro_batch_rows_sum"), rows + 4.0);
    assert_real(&moderate(&server, CLEAN).0);

    // a hang in a micro-batch costs it one deadline, not one per message
    let started = Instant::now();
    let (status, answer) = server.post(
        "/v1/moderate/batch",
        &json!({ "messages": [{ "text": HANG }, { "text": CLEAN }, { "text": HANG }] }),
    );
    let took = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert_fail_safe(&answer["results"][0], "escalate", "detector_error");
    assert_fail_safe(&answer["results"][2], "escalate", "detector_error");
    assert!(took >= TIMEOUT && took < TIMEOUT + MARGIN, "{took:?}");
    assert_real(&moderate(&server, CLEAN).0);

    // repeated failures open the breaker: fail-safe at once, no guest runs
    for _ in 0..3 {
        assert_fail_safe(&moderate(&server, POISON).0, "escalate", "detector_error");
    }
    let opened = Instant::now();
    assert_eq!(metric(&server, BREAKER), 1.0);
    let failures = metric(&server, FAILURES);
    for text in [CLEAN, HANG, CLEAN] {
        let (answer, took) = moderate(&server, text);
        assert_fail_safe(&answer, "escalate", "detector_error");
        assert!(took < FAST, "{took:?}");
    }
    assert_eq!(metric(&server, FAILURES), failures);
    assert_eq!(metric(&server, BREAKER), 1.0);
    // after the cooldown a clean probe closes it: real answers again
    std::thread::sleep(COOLDOWN.saturating_sub(opened.elapsed()) + Duration::from_millis(100));
    assert_real(&moderate(&server, CLEAN).0);
    assert_eq!(metric(&server, BREAKER), 0.0);
    assert_real(&moderate(&server, CLEAN).0);

    // a client hammering every trigger: every clean request of the others
    // is answered (the real answer, or the fail-safe while the breaker is
    // open), none lost
    let started = Instant::now();
    let (clean, hostile) = hammered(&server, &[POISON, HANG, BLOAT], 3, 15);
    assert_eq!(clean.len(), 45);
    let real = clean.iter().filter(|a| !is_fail_safe(a)).count();
    for answer in &clean {
        if is_fail_safe(answer) {
            assert_fail_safe(answer, "escalate", "detector_error");
        } else {
            assert_real(answer);
        }
    }
    eprintln!(
        "guarded, hammered with {hostile} hostile messages: 45 clean answered ({real} real, {} fail-safe) in {:?}",
        45 - real,
        started.elapsed()
    );
    drop(server);

    // breaker out of reach and another fail-safe: while traps hammer it,
    // every clean request, batched with them or not, keeps its real answer
    let server = project.serve(
        "isolated",
        &format!(
            "[limits]\ntimeout_ms = {}\nmax_wait_ms = 50\n\n[breaker]\nfailures = 1000000\n\n\
             [fail_safe]\naction = \"block\"\nrule = \"plugin_down\"\n",
            TIMEOUT.as_millis()
        ),
    );
    assert_fail_safe(&moderate(&server, POISON).0, "block", "plugin_down");
    let started = Instant::now();
    let (clean, hostile) = hammered(&server, &[POISON, BLOAT], 3, 15);
    assert_eq!(clean.len(), 45);
    clean.iter().for_each(assert_real);
    let fail_safe = metric(&server, "sluice_fail_safe_answers_total");
    assert_eq!(fail_safe, (hostile + 1) as f64);
    // the hammer sends one message at a time: a failure beyond one per
    // hostile message is a micro-batch it shared with clean ones, which
    // were re-scored alone
    let failures = metric(&server, FAILURES);
    assert!(failures > (hostile + 1) as f64, "{failures} failures");
    let batches = metric(&server, "sluice_micro_batch_rows_count");
    let rows = metric(&server, "sluice_micro_batch_rows_sum");
    eprintln!(
        "isolated, hammered with {hostile} traps: 45 clean answered, all real, in {:?}; \
         {failures} plugin failures; {rows} rows in {batches} micro-batches",
        started.elapsed()
    );
}

#[test]
fn sqlite_hostile_detector_in_the_serving_path() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    hostile_detector_in_the_serving_path(&trained(None));
}

#[test]
fn postgres_hostile_detector_in_the_serving_path() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(db) = PgTestDb::create("hostile_detector_in_the_serving_path") else {
        return;
    };
    hostile_detector_in_the_serving_path(&trained(Some(db.url.clone())));
}
