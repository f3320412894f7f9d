//! `sluice serve` as an operator runs it: the example trained in a
//! temporary project, then the real binary listening on loopback, asked
//! over real HTTP (a plain HTTP/1.1 client on a TCP socket).

use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use serde_json::json;

use sluice_data::TableWriter;

mod common;
use common::serving::{Answer, Project, load};
use common::{EXAMPLE, ok, read_table};

#[test]
fn serve_answers_like_batch_predict_sheds_load_and_follows_promotion() {
    let project = Project::trained(None);
    let server = project.serve("moderation", "");

    assert_eq!(server.try_request("GET", "/healthz", None).unwrap().0, 200);

    // the batch path's scores for a few real messages
    let messages = read_table(&Path::new(EXAMPLE).join("data/messages.csv"));
    let texts: Vec<String> = (0..8)
        .map(|i| {
            messages
                .column_by_name("text")
                .unwrap()
                .as_string::<i32>()
                .value(i)
                .to_string()
        })
        .chain(["you stupid bastard, call me on +44 7700 900123".to_string()])
        .collect();
    let input = RecordBatch::try_from_iter([(
        "text",
        std::sync::Arc::new(arrow::array::StringArray::from(texts.clone())) as _,
    )])
    .unwrap();
    let mut writer = TableWriter::create(&project.path("few.csv")).unwrap();
    writer.write(&input).unwrap();
    writer.finish().unwrap();
    ok(&project.sluice(&[
        "predict",
        "chat-moderation@production",
        "--input",
        "few.csv",
        "--out",
        "few.parquet",
    ]));
    let batch = read_table(&project.path("few.parquet"));
    let scores = batch
        .column_by_name("score")
        .unwrap()
        .as_primitive::<Float64Type>();

    for (i, text) in texts.iter().enumerate() {
        let (status, answer) = server.post(
            "/v1/moderate",
            &json!({ "text": text, "user_id": "u1", "context": { "channel": "chat", "lang": "en" } }),
        );
        assert_eq!(status, 200, "{answer}");
        let served = answer["score"].as_f64().unwrap();
        assert!(
            (served - scores.value(i)).abs() <= 1e-12,
            "{served} vs {}",
            scores.value(i)
        );
        assert_eq!(
            answer["model"],
            json!({ "name": "chat-moderation", "version": 1 })
        );
        assert_eq!(answer["variant"], "production");
        assert!(answer["request_id"].is_string());
        assert!(answer["latency_ms"].as_f64().unwrap() >= 0.0);
        assert!(
            ["allow", "warn", "escalate", "block"].contains(&answer["action"].as_str().unwrap())
        );
    }
    // the detectors' rules are merged into the answer and drive the policy
    let (_, insult) = server.post("/v1/moderate", &json!({ "text": texts[8] }));
    let rules: Vec<&str> = insult["rules_triggered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(rules.iter().any(|r| r.starts_with("lexicon.")), "{insult}");
    assert!(rules.iter().any(|r| r.starts_with("pii.")), "{insult}");
    assert_eq!(insult["action"], "block", "{insult}");

    // batch: one answer per message, the same scores
    let (status, batch_answer) = server.post(
        "/v1/moderate/batch",
        &json!({ "messages": texts.iter().map(|t| json!({ "text": t })).collect::<Vec<_>>() }),
    );
    assert_eq!(status, 200, "{batch_answer}");
    let results = batch_answer["results"].as_array().unwrap();
    assert_eq!(results.len(), texts.len());
    for (i, result) in results.iter().enumerate() {
        assert!((result["score"].as_f64().unwrap() - scores.value(i)).abs() <= 1e-12);
    }

    // generic predict: rows as JSON objects
    let (status, predicted) = server.post(
        "/v1/models/chat-moderation/predict",
        &json!({ "rows": [{ "text": texts[0] }, { "text": texts[1] }] }),
    );
    assert_eq!(status, 200, "{predicted}");
    let predictions = predicted["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2);
    assert!((predictions[1]["score"].as_f64().unwrap() - scores.value(1)).abs() <= 1e-12);
    let (status, unknown) = server.post(
        "/v1/models/nope/predict",
        &json!({ "rows": [{ "text": "x" }] }),
    );
    assert_eq!(status, 404, "{unknown}");

    // malformed bodies name the field
    let (status, _, body) = server
        .try_request("POST", "/v1/moderate", Some(b"{not json"))
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("malformed_json"), "{body}");
    for (body, field) in [
        (json!({ "user_id": "u" }), "text"),
        (json!({ "text": 3 }), "text"),
        (
            json!({ "text": "hi", "context": { "lang": 5 } }),
            "context.lang",
        ),
        (json!({ "text": "x".repeat(5000) }), "text"),
    ] {
        let (status, error) = server.post("/v1/moderate", &body);
        assert_eq!(status, 422, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (status, error) = server.post(
        "/v1/moderate/batch",
        &json!({ "messages": [{ "text": "ok" }, { "txt": "no" }] }),
    );
    assert_eq!(status, 422);
    assert_eq!(error["error"]["field"], "messages[1].text", "{error}");
    let (status, error) = server.post(
        "/v1/models/chat-moderation/predict",
        &json!({ "rows": [{ "body": "x" }] }),
    );
    assert_eq!(status, 422);
    assert_eq!(error["error"]["field"], "rows[0].text", "{error}");
    // past the body limit: 413
    let big = json!({ "text": "a".repeat(300 * 1024) }).to_string();
    let (status, _, body) = server
        .try_request("POST", "/v1/moderate", Some(big.as_bytes()))
        .unwrap();
    assert_eq!(status, 413, "{body}");

    // metrics: by route, variant and action; queue depth; breaker state
    let (status, _, metrics) = server.try_request("GET", "/metrics", None).unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("sluice_requests_total{route=\"/v1/moderate\",variant=\"production\",action=\"block\",status=\"200\"}"), "{metrics}");
    assert!(
        metrics.contains("sluice_request_latency_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("sluice_queue_depth"), "{metrics}");

    // overload: one request in flight at most
    {
        // one request in flight at most, and it waits 500 ms for batch-mates
        let tiny = std::sync::Arc::new(project.serve(
            "tiny",
            "[limits]\nqueue_depth = 1\nworkers = 1\nmax_wait_ms = 500\n",
        ));
        let answers: Vec<Answer> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let server = tiny.clone();
                    scope.spawn(move || {
                        server
                            .try_request("POST", "/v1/moderate", Some(br#"{"text":"hello there"}"#))
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(answers.iter().any(|a| a.0 == 200), "{answers:?}");
        let shed: Vec<&Answer> = answers.iter().filter(|a| a.0 == 503).collect();
        assert!(!shed.is_empty(), "{answers:?}");
        for (_, head, body) in shed {
            assert!(head.contains("retry-after: 1"), "{head}");
            assert!(body.contains("overloaded"), "{body}");
        }
        // a bad serve.toml names the field
        std::fs::write(
            project.path("bad.toml"),
            "[service]\nname = \"x\"\nmodel = \"m@production\"\n[limits]\nmax_rows = 0\n",
        )
        .unwrap();
        let output = project.sluice(&["serve", "--config", "bad.toml"]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("limits.max_rows"), "{stderr}");
    }

    // a second version promoted to production is picked up without a
    // restart, while requests keep being answered
    let pipeline = std::fs::read_to_string(project.path("pipeline.toml"))
        .unwrap()
        .replace("seed = 7", "seed = 8")
        // the gate compares with production: another split may score lower
        .replace("and f1 >= production.f1 - 0.01", "");
    std::fs::write(project.path("pipeline.toml"), pipeline).unwrap();
    let run = ok(&project.sluice(&["run", "pipeline.toml"]));
    assert!(run.contains("version 2"), "{run}");
    // under load: every request through the swap is answered 200
    let server = std::sync::Arc::new(server);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::spawn(move || load(&server, 3, &stop))
    };
    ok(&project.sluice(&["promote", "chat-moderation", "2", "--alias", "production"]));
    let started = Instant::now();
    loop {
        let (status, answer) = server.post("/v1/moderate", &json!({ "text": texts[0] }));
        assert_eq!(status, 200, "{answer}");
        assert!(answer.get("fail_safe").is_none(), "{answer}");
        if answer["model"]["version"] == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "version 2 never served"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // `load` asserts each answer was 200
    let answered = loader.join().expect("a request failed during the swap");
    assert!(answered.len() > 10, "{} answers under load", answered.len());
}
