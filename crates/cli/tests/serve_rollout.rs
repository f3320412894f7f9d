//! Rollouts in a running `sluice serve`, on SQLite and PostgreSQL, over
//! real HTTP on loopback: a canary of a deliberately worse version (its
//! graph carries the poisoned detector, which traps on `POISON`) is picked
//! up without a restart and rolled back by the server itself, audited; a
//! sound version's canary is sticky per user and promoted by itself; a
//! shadow scores mirrored traffic and never answers. No request fails
//! throughout.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::ok;
use common::postgres::PgTestDb;
use common::serving::{Project, Served};

/// Trains version 2 with the poisoned detector in front of the features
/// (and another split seed), and version 3 as the example with another split seed.
fn worse_and_sound_versions(project: &Project) {
    let path = project.path("pipeline.toml");
    let clean = std::fs::read_to_string(&path)
        .unwrap()
        .replace("and f1 >= production.f1 - 0.01", "");
    let features = "[step.features]\nplugin = \"hash-features\"\ninput = \"spam\"";
    assert!(clean.contains(features));
    let poisoned = clean.replace(
        features,
        &format!(
            "[step.poison]\nplugin = \"{}\"\ninput = \"spam\"\n\n\
             [step.features]\nplugin = \"hash-features\"\ninput = \"poison\"",
            sluice_tests::POISONED_DETECTOR
        ),
    );
    let policy = project.path("policy.toml");
    let mut grants = std::fs::read_to_string(&policy).unwrap();
    grants.push_str(
        "\n[plugin.poisoned-detector]\nread = [\"text\"]\n\
         write = [\"poisoned_score\", \"poisoned_rules\"]\n",
    );
    std::fs::write(&policy, grants).unwrap();
    // another seed too: the same model would be the same version
    std::fs::write(&path, poisoned.replace("seed = 7", "seed = 9")).unwrap();
    assert!(ok(&project.sluice(&["run", "pipeline.toml"])).contains("version 2"));
    std::fs::write(&path, clean.replace("seed = 7", "seed = 8")).unwrap();
    assert!(ok(&project.sluice(&["run", "pipeline.toml"])).contains("version 3"));
}

/// Traffic from many users until stopped; one message in `poison_every`
/// carries `POISON`. Every request must be answered 200. Returns each
/// answer as (user, variant, version).
fn traffic(
    server: &Arc<Served>,
    stop: &Arc<AtomicBool>,
    poison_every: usize,
) -> std::thread::JoinHandle<Vec<(String, String, i64)>> {
    let (server, stop) = (server.clone(), stop.clone());
    std::thread::spawn(move || {
        let sent = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (server, stop, sent) = (server.clone(), stop.clone(), sent.clone());
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let n = sent.fetch_add(1, Ordering::Relaxed);
                        let user = format!("user-{}", n % 97);
                        let text = if n % poison_every == 0 {
                            format!("message {n} is POISON")
                        } else {
                            format!("see you at six, message {n}")
                        };
                        let (status, answer) =
                            server.post("/v1/moderate", &json!({ "text": text, "user_id": user }));
                        assert_eq!(status, 200, "{answer}");
                        seen.push((
                            user,
                            answer["variant"].as_str().unwrap().to_string(),
                            answer["model"]["version"].as_i64().unwrap(),
                        ));
                    }
                    seen
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a request failed"))
            .collect()
    })
}

/// Waits until `sluice deployments` shows `status` for the newest one.
fn wait_for_status(project: &Project, status: &str, within: Duration) -> String {
    let started = Instant::now();
    loop {
        let listed = ok(&project.sluice(&["deployments", "chat-moderation", "--limit", "1"]));
        if listed.lines().nth(1).is_some_and(|l| l.contains(status)) {
            return listed;
        }
        assert!(started.elapsed() < within, "never {status}:\n{listed}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn rollouts(project: Project) {
    worse_and_sound_versions(&project);
    let admin = project.token("admin");
    let server = Arc::new(project.serve(
        "rollout",
        "[rollout]\nmin_requests = 40\npromote_after_requests = 80\ncheck_ms = 200\n\
         max_p99_ratio = 20.0\nmax_action_rate_diff = 0.5\nmax_score_psi = 5.0\n",
    ));

    // 1. the worse version as a 50 % canary, under load: picked up without
    // a restart, then rolled back by the server on its fail-safe rate
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&server, &stop, 5);
    std::thread::sleep(Duration::from_millis(500));
    ok(&project.sluice(&["deploy", "chat-moderation", "2", "--canary", "50"]));
    let deployed = Instant::now();
    let listed = wait_for_status(&project, "rolled_back", Duration::from_secs(90));
    assert!(listed.contains("fail-safe rate"), "{listed}");
    assert!(listed.contains("\"requests\""), "figures kept: {listed}");
    std::thread::sleep(Duration::from_millis(600));
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().unwrap();
    let canary = seen.iter().filter(|(_, v, _)| v == "canary").count();
    assert!(canary >= 40, "{canary} canary answers");
    assert!(
        seen.iter()
            .any(|(_, v, version)| v == "canary" && *version == 2)
    );
    // after the rollback, production answers everyone again
    let tail = &seen[seen.len().saturating_sub(20)..];
    assert!(
        tail.iter()
            .all(|(_, v, version)| v == "production" && *version == 1),
        "{tail:?}"
    );
    let audit = ok(&project.sluice(&["audit", "log", "--limit", "20"]));
    let line = audit
        .lines()
        .find(|l| l.contains("deployment.rolled_back"))
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(line.contains("serve/rollout"), "{line}");
    eprintln!("rolled back {:?} after deploying", deployed.elapsed());

    // 2. the sound version as an A/B through the admin route: sticky per user
    let (status, _, answer) = server
        .request_as(
            Some(&admin),
            "POST",
            "/v1/admin/deploy",
            Some(br#"{"version": 3, "ab": 50, "variant": "seed8"}"#),
        )
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    let (status, _, conflict) = server
        .request_as(
            Some(&admin),
            "POST",
            "/v1/admin/deploy",
            Some(br#"{"version": 2, "shadow": true}"#),
        )
        .unwrap();
    assert_eq!(status, 409, "{conflict}");
    let started = Instant::now();
    for probe in 0.. {
        let user = format!("probe-{probe}");
        let (_, a) = server.post("/v1/moderate", &json!({ "text": "hi", "user_id": user }));
        if a["variant"] == "seed8" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never picked up"
        );
    }
    let mut sides: HashMap<String, String> = HashMap::new();
    for round in 0..2 {
        for user in 0..30 {
            let user = format!("sticky-{user}");
            let (status, answer) = server.post(
                "/v1/moderate",
                &json!({ "text": format!("round {round}"), "user_id": user }),
            );
            assert_eq!(status, 200);
            let variant = answer["variant"].as_str().unwrap().to_string();
            if let Some(before) = sides.insert(user.clone(), variant.clone()) {
                assert_eq!(before, variant, "{user} changed sides");
            }
        }
    }
    let on_b = sides.values().filter(|v| *v == "seed8").count();
    assert!(
        (5..=25).contains(&on_b),
        "{on_b} of 30 users on the A/B variant"
    );
    // live figures for an admin
    let (status, _, live) = server
        .request_as(Some(&admin), "GET", "/v1/admin/deployments", None)
        .unwrap();
    assert_eq!(status, 200, "{live}");
    let live: Value = serde_json::from_str(&live).unwrap();
    assert!(
        live["live"]["figures"]["candidate"]["requests"]
            .as_u64()
            .unwrap()
            > 0,
        "{live}"
    );

    // healthy: promoted by the server through the model's gate
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&server, &stop, usize::MAX);
    let listed = wait_for_status(&project, "promoted", Duration::from_secs(90));
    assert!(listed.contains("healthy after"), "{listed}");
    let started = Instant::now();
    loop {
        let (_, answer) = server.post("/v1/moderate", &json!({ "text": "hi", "user_id": "after" }));
        if answer["model"]["version"] == 3 && answer["variant"] == "production" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{answer}");
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let models = ok(&project.sluice(&["audit", "log", "--limit", "20"]));
    assert!(models.contains("deployment.promoted"), "{models}");

    // 3. a shadow scores mirrored traffic; every answer is production's
    ok(&project.sluice(&["deploy", "chat-moderation", "1", "--shadow"]));
    let started = Instant::now();
    loop {
        for i in 0..20 {
            let (status, answer) =
                server.post("/v1/moderate", &json!({ "text": format!("shadowed {i}") }));
            assert_eq!(status, 200);
            assert_eq!(answer["variant"], "production", "{answer}");
        }
        let (_, _, live) = server
            .request_as(Some(&admin), "GET", "/v1/admin/deployments", None)
            .unwrap();
        let live: Value = serde_json::from_str(&live).unwrap();
        let compared = live["live"]["figures"]["shadow_label_agreement"]["compared"]
            .as_u64()
            .unwrap_or(0);
        if compared >= 10 {
            assert!(
                live["live"]["figures"]["candidate"]["requests"]
                    .as_u64()
                    .unwrap()
                    >= 10,
                "{live}"
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{live}");
    }
    let (status, _, rolled) = server
        .request_as(
            Some(&admin),
            "POST",
            "/v1/admin/rollback",
            Some(br#"{"reason": "seen enough"}"#),
        )
        .unwrap();
    assert_eq!(status, 200, "{rolled}");
    let audit = ok(&project.sluice(&["audit", "log", "--limit", "5"]));
    assert!(audit.contains("token/"), "{audit}");
}

#[test]
fn sqlite_rollouts() {
    rollouts(Project::trained(None));
}

#[test]
fn postgres_rollouts() {
    let Some(db) = PgTestDb::create("serve_rollouts") else {
        return;
    };
    rollouts(Project::trained(Some(db.url.clone())));
}
