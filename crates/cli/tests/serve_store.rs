//! `sluice serve` and the store it shares: bearer tokens with roles, admin
//! actions in the audit chain, the prediction log keeping every answer
//! (through a store outage too), on SQLite and PostgreSQL; and TLS. The
//! real binary on loopback, asked over real HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

mod common;
use common::ok;
use common::postgres::PgTestDb;
use common::serving::{Project, Served, exchange, load};

fn body(answer: &str) -> Value {
    serde_json::from_str(answer).unwrap_or_else(|_| panic!("not JSON: {answer}"))
}

fn token_id(project: &Project, role: &str) -> i64 {
    let list = ok(&project.sluice(&["token", "list"]));
    list.lines()
        .rev()
        .filter(|l| l.contains(role) && l.contains("active"))
        .find_map(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no active {role} token in {list}"))
}

#[test]
fn tokens_and_roles_guard_every_route_and_admin_actions_are_audited() {
    let project = Project::trained(None);
    let admin = project.token("admin");
    let review = project.token("review");
    let server = project.serve("guarded", "[auth]\nrefresh_ms = 200\n");
    let message = br#"{"text":"hello there"}"#.as_slice();

    // open without a token: liveness, readiness and metrics (scraped by
    // the platform, no message content)
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(server.request_as(None, "GET", path, None).unwrap().0, 200);
    }
    // no token, a malformed one, an unknown well-formed one: 401
    for token in [
        None,
        Some("nope"),
        Some("slc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let (status, _, answer) = server
            .request_as(token, "POST", "/v1/moderate", Some(message))
            .unwrap();
        assert_eq!(status, 401, "{token:?}: {answer}");
        assert_eq!(body(&answer)["error"]["code"], "unauthenticated");
    }
    // roles are ranked: predict < review < admin
    for token in [&project.predict_token, &review, &admin] {
        let (status, _, answer) = server
            .request_as(Some(token), "POST", "/v1/moderate", Some(message))
            .unwrap();
        assert_eq!(status, 200, "{answer}");
    }
    for token in [&project.predict_token, &review] {
        let (status, _, answer) = server
            .request_as(Some(token), "GET", "/v1/admin/status", None)
            .unwrap();
        assert_eq!(status, 403, "{answer}");
        let error = body(&answer);
        assert_eq!(error["error"]["code"], "forbidden");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("admin"),
            "{error}"
        );
        // the secret never comes back in an answer
        assert!(!answer.contains(token.as_str()));
    }
    let (status, _, status_body) = server
        .request_as(Some(&admin), "GET", "/v1/admin/status", None)
        .unwrap();
    assert_eq!(status, 200, "{status_body}");
    let status_body = body(&status_body);
    assert_eq!(status_body["model"]["version"], 1, "{status_body}");
    assert!(status_body["prediction_log"]["logged"].as_u64().unwrap() >= 3);

    // admin actions go to the audit chain as the token, never its secret
    let admin_id = token_id(&project, "admin");
    for path in ["/v1/admin/reload", "/v1/admin/purge-texts"] {
        let (status, _, answer) = server
            .request_as(Some(&admin), "POST", path, Some(b"{}"))
            .unwrap();
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let audit = ok(&project.sluice(&["audit", "log", "--limit", "10"]));
    for action in ["serve.reload", "serve.purge_texts"] {
        let line = audit
            .lines()
            .find(|l| l.contains(action))
            .unwrap_or_else(|| panic!("no {action} in\n{audit}"));
        assert!(line.contains(&format!("token/{admin_id}")), "{line}");
    }
    assert!(!audit.contains(&admin), "a secret reached the audit log");

    // a revoked token is refused within the refresh period, without a restart
    let predict_id = token_id(&project, "predict");
    ok(&project.sluice(&["token", "revoke", &predict_id.to_string()]));
    let started = Instant::now();
    loop {
        let (status, _, _) = server
            .try_request("POST", "/v1/moderate", Some(message))
            .unwrap();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "revocation never took effect"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // no token required is only allowed on loopback
    std::fs::write(
        project.path("open.toml"),
        "[service]\nname = \"open\"\nmodel = \"chat-moderation@production\"\n[auth]\nrequired = false\n",
    )
    .unwrap();
    let refused = project.sluice(&["serve", "--config", "open.toml", "--listen", "0.0.0.0:0"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("auth.required = false"), "{stderr}");
}

/// Every row the store holds for this server's answers: request id → text.
fn stored_predictions(project: &Project) -> Vec<(String, Option<String>, String)> {
    let url = match &project.db {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", project.path(".sluice/sluice.db").display()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let query = "SELECT request_id, text, text_hash FROM predictions ORDER BY request_id";
        if url.starts_with("sqlite") {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_as(query).fetch_all(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_as(query).fetch_all(&mut conn).await.unwrap()
        }
    })
}

/// Makes the store unavailable for `length` while the server is under
/// load: an exclusive lock on the SQLite file, or (PostgreSQL) the
/// database's other connections terminated again and again. Never stops
/// the shared PostgreSQL server.
fn store_outage(project: &Project, length: Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match &project.db {
            None => {
                let url = format!("sqlite://{}", project.path(".sluice/sluice.db").display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::raw_sql("BEGIN EXCLUSIVE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                tokio::time::sleep(length).await;
                sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
            }
            Some(url) => {
                let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
                let until = Instant::now() + length;
                let mut ended = 0;
                while Instant::now() < until {
                    let killed: Vec<bool> = sqlx::query_scalar(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    )
                    .fetch_all(&mut admin)
                    .await
                    .unwrap();
                    ended += killed.into_iter().filter(|k| *k).count();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                assert!(ended > 0, "no connection of the server was ended");
            }
        }
    });
}

fn metric(server: &Served, name: &str) -> f64 {
    let (_, _, text) = server.try_request("GET", "/metrics", None).unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Every answer is in the store, with its text (kept here) and hash; an
/// outage mid-load spills answers to the local file and replays them.
fn prediction_log_keeps_every_answer_through_an_outage(project: Project) {
    let server = Arc::new(project.serve(
        "logged",
        "[log]\nkeep_text = true\ncapacity = 64\nbatch_rows = 50\nmax_wait_ms = 10\nwrite_timeout_ms = 300\n",
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let server = server.clone();
        let stop = stop.clone();
        std::thread::spawn(move || load(&server, 3, &stop))
    };
    std::thread::sleep(Duration::from_millis(500));
    store_outage(&project, Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let mut answered = loader.join().unwrap();
    answered.sort();
    assert!(answered.len() > 50, "only {} answers", answered.len());
    assert!(
        metric(&server, "sluice_prediction_log_entries{state=\"spilled\"}") > 0.0,
        "the outage spilled nothing: it did not happen"
    );

    let started = Instant::now();
    let stored = loop {
        let stored = stored_predictions(&project);
        if stored.len() >= answered.len() {
            break stored;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {} answers stored",
            stored.len(),
            answered.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let ids: Vec<&String> = stored.iter().map(|(id, _, _)| id).collect();
    assert_eq!(
        ids,
        answered.iter().collect::<Vec<_>>(),
        "lost or extra rows"
    );
    for (id, text, hash) in &stored {
        let text = text.as_deref().unwrap_or_else(|| panic!("{id}: no text"));
        assert!(text.starts_with("message "), "{text}");
        assert!(hash.starts_with("sha256:"), "{hash}");
    }
    assert_eq!(
        metric(&server, "sluice_prediction_log_entries{state=\"lost\"}"),
        0.0
    );
}

#[test]
fn sqlite_prediction_log_keeps_every_answer_through_an_outage() {
    prediction_log_keeps_every_answer_through_an_outage(Project::trained(None));
}

#[test]
fn postgres_prediction_log_keeps_every_answer_through_an_outage() {
    let Some(db) = PgTestDb::create("serve_prediction_log") else {
        return;
    };
    prediction_log_keeps_every_answer_through_an_outage(Project::trained(Some(db.url.clone())));
}

#[test]
fn tls_serves_https_with_the_configured_certificate() {
    let project = Project::trained(None);
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(project.path("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(project.path("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let server = project.serve("tls", "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let https = |token: Option<&str>, method: &str, path: &str, body: Option<&[u8]>| {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let tcp = std::net::TcpStream::connect(&server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        exchange(&mut stream, "localhost", token, method, path, body)
    };
    let started = Instant::now();
    while !matches!(https(None, "GET", "/readyz", None), Ok((200, _, _))) {
        assert!(started.elapsed() < Duration::from_secs(120), "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _, answer) = https(
        Some(&project.predict_token),
        "POST",
        "/v1/moderate",
        Some(br#"{"text":"hello there"}"#),
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(body(&answer)["model"]["version"], 1);
    // plain HTTP on the TLS port gets no HTTP answer
    let plain = server.try_request("GET", "/healthz", None);
    assert!(!matches!(plain, Ok((200, _, _))), "{plain:?}");

    // a key that is not PEM is refused at start, naming the file
    std::fs::write(project.path("bad-key.pem"), "not a key").unwrap();
    std::fs::write(
        project.path("badtls.toml"),
        "[service]\nname = \"badtls\"\nmodel = \"chat-moderation@production\"\n\
         [tls]\ncert = \"cert.pem\"\nkey = \"bad-key.pem\"\n",
    )
    .unwrap();
    let refused = project.sluice(&[
        "serve",
        "--config",
        "badtls.toml",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("bad-key.pem") && stderr.contains("tls.key"),
        "{stderr}"
    );
}

/// Users' feedback and reviewers' decisions over HTTP and from the CLI:
/// roles, the review queue oldest first, bad verdicts named by field.
fn feedback_and_review(project: Project) {
    let review = project.token("review");
    // every answer escalates: a person decides
    let server = project.serve(
        "reviewed",
        "[policy]\nwarn_at = 0.0\nescalate_at = 0.0\nblock_at = 1.0\n[log]\nkeep_text = true\n",
    );
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let (status, answer) = server.post(
                "/v1/moderate",
                &json!({ "text": format!("message number {i}") }),
            );
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["action"], "escalate", "{answer}");
            answer["request_id"].as_str().unwrap().to_string()
        })
        .collect();

    // a user's verdict, sent right after the answer
    let (status, answer) = server.post(
        "/v1/feedback",
        &json!({ "request_id": ids[0], "label": "flagged" }),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["feedback"]["source"], "user");
    for (bad, status, field) in [
        (
            json!({ "request_id": ids[0], "label": "maybe" }),
            422,
            "label",
        ),
        (json!({ "label": "ok" }), 422, "request_id"),
        (
            json!({ "request_id": ids[0], "label": "ok", "source": "review" }),
            422,
            "source",
        ),
        (
            json!({ "request_id": "never-answered", "label": "ok" }),
            404,
            "request_id",
        ),
    ] {
        let (got, error) = server.post("/v1/feedback", &bad);
        assert_eq!(got, status, "{bad}: {error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }

    // the queue: reviewers only, oldest first, with the text kept
    let (status, _, _) = server.try_request("GET", "/v1/review", None).unwrap();
    assert_eq!(status, 403);
    let queue = |server: &Served| {
        let (status, _, body) = server
            .request_as(Some(&review), "GET", "/v1/review?limit=10", None)
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        body["queue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert!(p["text"].as_str().unwrap().starts_with("message number"));
                p["request_id"].as_str().unwrap().to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(queue(&server), ids);
    let decide = |id: &str, body: &str| {
        server
            .request_as(
                Some(&review),
                "POST",
                &format!("/v1/review/{id}"),
                Some(body.as_bytes()),
            )
            .unwrap()
    };
    let (status, _, decided) = decide(&ids[1], r#"{"label":"ok","action":"allow"}"#);
    assert_eq!(status, 200, "{decided}");
    assert!(decided.contains("token/"), "{decided}");
    let (status, _, error) = decide(&ids[2], r#"{"label":"ok","action":"ban"}"#);
    assert_eq!(status, 422, "{error}");
    assert_eq!(queue(&server), [ids[0].clone(), ids[2].clone()]);

    // the CLI sees and decides the same queue
    let listed = ok(&project.sluice(&["review", "list", "chat-moderation"]));
    assert!(
        listed.contains(&ids[0]) && listed.contains("message number 2"),
        "{listed}"
    );
    ok(&project.sluice(&[
        "review", "decide", &ids[2], "--label", "flagged", "--action", "block",
    ]));
    assert_eq!(queue(&server), [ids[0].clone()]);
    // per version: two answers reviewed
    let stats = ok(&project.sluice(&["review", "stats", "chat-moderation"]));
    assert!(
        stats
            .lines()
            .nth(1)
            .is_some_and(|l| l.trim_start().starts_with("1 ") && l.contains(" 2 ")),
        "{stats}"
    );
}

#[test]
fn sqlite_feedback_and_review() {
    feedback_and_review(Project::trained(None));
}

#[test]
fn postgres_feedback_and_review() {
    let Some(db) = PgTestDb::create("serve_feedback_and_review") else {
        return;
    };
    feedback_and_review(Project::trained(Some(db.url.clone())));
}
