//! The HTTP routes: JSON in, JSON out, errors as
//! `{ "error": { "code", "message", "field" } }`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use sluice_pipeline::inference::VersionRef;
use sluice_pipeline::{InferenceError, ModelRef, ModelSource};

use sluice_store::{NewPrediction, PredictionLog, prediction_text_hash};

use crate::auth::{Auth, Caller, Denied, Role};
use crate::config::{Action, Config};
use crate::engine::{Candidate, Engine, Failure, Served};
use crate::metrics::RequestLabels;

/// What every handler shares.
pub struct AppState {
    pub engine: OnceLock<Arc<Engine>>,
    pub auth: Auth,
    pub log: Arc<PredictionLog>,
    /// `log.keep_text`: the prediction log keeps texts, not only hashes.
    pub keep_text: bool,
    pub body_bytes: usize,
    /// Graphs of other registered models, by (name, version), built on first use.
    pub others: tokio::sync::Mutex<HashMap<(String, i64), Arc<Served>>>,
    request_prefix: String,
    requests: AtomicU64,
}

impl AppState {
    pub fn new(auth: Auth, log: Arc<PredictionLog>, config: &Config) -> Self {
        let started = (SystemTime::now().duration_since(UNIX_EPOCH))
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        AppState {
            engine: OnceLock::new(),
            auth,
            log,
            keep_text: config.log.keep_text,
            body_bytes: config.limits.body_bytes,
            others: Default::default(),
            request_prefix: format!("{:x}", started & 0xffff_ffff_ffff),
            requests: AtomicU64::new(0),
        }
    }

    fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n:x}", self.request_prefix)
    }
}

type Shared = Arc<AppState>;

pub fn router(state: Shared) -> axum::Router {
    let limit = state.body_bytes;
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/moderate", post(moderate))
        .route("/v1/moderate/batch", post(moderate_batch))
        .route("/v1/models/{name}/predict", post(predict))
        .route("/v1/feedback", post(feedback))
        .route("/v1/review", get(review_queue))
        .route("/v1/review/{request_id}", post(review_decide))
        .route("/v1/admin/status", get(admin_status))
        .route("/v1/admin/deploy", post(admin_deploy))
        .route("/v1/admin/rollback", post(admin_rollback))
        .route("/v1/admin/deployments", get(admin_deployments))
        .route("/v1/admin/reload", post(admin_reload))
        .route("/v1/admin/purge-texts", post(admin_purge_texts))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A JSON error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).field(field)
    }

    fn overloaded() -> Self {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the request queue is full; retry later",
            )
        }
    }

    fn not_ready() -> Self {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the model is still loading",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": {
            "code": self.code,
            "message": self.message,
            "field": self.field,
        }});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Shared>) -> Response {
    match state.engine.get() {
        Some(engine) => {
            let served = engine.served.load();
            Json(json!({
                "status": "ready",
                "model": { "name": served.graph.name(), "version": served.graph.version() },
            }))
            .into_response()
        }
        None => ApiError::not_ready().into_response(),
    }
}

async fn metrics(State(state): State<Shared>) -> Response {
    let text = match state.engine.get() {
        Some(engine) => {
            engine.metrics.record_log(&state.log.stats());
            engine.metrics.encode()
        }
        None => String::new(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn authorize(state: &AppState, headers: &HeaderMap, role: Role) -> Result<Caller, ApiError> {
    let bearer = (headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match state.auth.authorize(bearer, role) {
        Ok(caller) => Ok(caller),
        Err(Denied::Unauthenticated(m)) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            m,
        )),
        Err(Denied::Forbidden(m)) => Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)),
    }
}

/// The body as JSON: 413 past the limit, 400 when it is not JSON.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                rejection.body_text(),
            )
        } else {
            ApiError::new(rejection.status(), "bad_body", rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON: {e}"),
        )
        .field("body")
    })
}

fn engine(state: &AppState) -> Result<&Arc<Engine>, ApiError> {
    state.engine.get().ok_or_else(ApiError::not_ready)
}

/// One message of a moderation request, checked.
struct Message {
    text: String,
    user_id: Option<String>,
    channel: Option<String>,
    lang: Option<String>,
}

fn optional_text(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 256 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ApiError::invalid(
            path,
            format!("`{path}` is longer than 256 characters"),
        )),
        Some(_) => Err(ApiError::invalid(
            path,
            format!("`{path}` must be a string"),
        )),
    }
}

fn message(value: &Value, at: &str, text_chars: usize) -> Result<Message, ApiError> {
    let path = |key: &str| format!("{at}{key}");
    let object = value.as_object().ok_or_else(|| {
        ApiError::invalid(
            if at.is_empty() {
                "body"
            } else {
                at.trim_end_matches('.')
            },
            "must be a JSON object",
        )
    })?;
    let text = match object.get("text") {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                &path("text"),
                format!("`{}` is required", path("text")),
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                &path("text"),
                format!("`{}` must be a string", path("text")),
            ));
        }
    };
    let chars = text.chars().count();
    if chars > text_chars {
        return Err(ApiError::invalid(
            &path("text"),
            format!(
                "`{}` has {chars} characters; the limit is {text_chars}",
                path("text")
            ),
        ));
    }
    let user_id = optional_text(object, "user_id", &path("user_id"))?;
    let (channel, lang) = match object.get("context") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Object(context)) => (
            optional_text(context, "channel", &path("context.channel"))?,
            optional_text(context, "lang", &path("context.lang"))?,
        ),
        Some(_) => {
            return Err(ApiError::invalid(
                &path("context"),
                format!("`{}` must be an object", path("context")),
            ));
        }
    };
    Ok(Message {
        text,
        user_id,
        channel,
        lang,
    })
}

/// Rows (JSON objects) in `served`'s input schema.
fn decode_rows(served: &Served, rows: &[Value], field: &str) -> Result<RecordBatch, ApiError> {
    let mut decoder = arrow::json::ReaderBuilder::new(served.input.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(|e| ApiError::invalid(field, e.to_string()))?;
    decoder
        .serialize(rows)
        .map_err(|e| ApiError::invalid(field, format!("`{field}`: {e}")))?;
    Ok(decoder
        .flush()
        .map_err(|e| ApiError::invalid(field, format!("`{field}`: {e}")))?
        .unwrap_or_else(|| RecordBatch::new_empty(served.input.clone())))
}

fn message_rows(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| {
            json!({
                "text": m.text,
                "lang": m.lang,
                "channel": m.channel,
                "user_id": m.user_id,
            })
        })
        .collect()
}

/// Rule ids a detector wrote (its `*_rules` tag columns) at `row`.
fn detector_rules(batch: &RecordBatch, row: usize) -> Vec<String> {
    let mut rules = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !field.name().ends_with("_rules") || column.is_null(row) {
            continue;
        }
        if let DataType::List(_) = field.data_type() {
            let values = column.as_list::<i32>().value(row);
            if let Some(strings) = values.as_string_opt::<i32>() {
                // guest-supplied: bounded and escaped
                rules.extend(
                    (strings.iter().flatten()).map(|id| sluice_core::text::clean_line(id, 128)),
                );
            }
        }
    }
    rules
}

fn score_at(batch: &RecordBatch, row: usize) -> Option<f64> {
    let column = batch.column_by_name("score")?;
    let scores = column.as_primitive_opt::<Float64Type>()?;
    (!scores.is_null(row)).then(|| scores.value(row))
}

fn predicted_positive(batch: &RecordBatch, row: usize) -> bool {
    (batch.column_by_name("prediction"))
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .is_some_and(|p| !p.is_null(row) && p.value(row) == 1)
}

fn now_ms() -> i64 {
    (SystemTime::now().duration_since(UNIX_EPOCH))
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The policy's action for row `row` of a scored batch, its score, whether
/// the model predicted the positive class, and the rules that fired.
pub(crate) fn judged(
    config: &crate::Config,
    batch: &RecordBatch,
    row: usize,
) -> (Action, Option<f64>, bool, Vec<String>) {
    let score = score_at(batch, row);
    let positive = predicted_positive(batch, row);
    let mut rules = detector_rules(batch, row);
    if positive {
        rules.push(format!("model.{}", config.service.positive_label));
    }
    let action = config.policy.decide(score.unwrap_or(0.0), &rules);
    (action, score, positive, rules)
}

/// Which graph a message went to, and as which variant.
struct Route {
    served: Arc<Served>,
    variant: String,
    candidate: Option<Arc<Candidate>>,
}

impl Route {
    fn of(engine: &Engine, message: &Message, request_id: &str) -> Route {
        let user = message.user_id.as_deref().unwrap_or(request_id);
        let (served, variant, candidate) = engine.route(user);
        Route {
            served,
            variant,
            candidate,
        }
    }
}

/// A decision for message `row` of a scored batch, or the fail-safe; kept
/// in the prediction log and, during a deployment, in its comparison.
#[allow(clippy::too_many_arguments)]
fn decide(
    state: &AppState,
    engine: &Engine,
    request_id: String,
    message: &Message,
    route: &Route,
    outcome: Result<(&RecordBatch, &Served), &Failure>,
    row: usize,
    started: Instant,
) -> Value {
    let config = &engine.config;
    let variant = route.variant.clone();
    let (label, score, action, rules, model, fail_safe) = match outcome {
        Ok((batch, served)) => {
            let (action, score, positive, rules) = judged(config, batch, row);
            let label = if positive {
                &config.service.positive_label
            } else {
                &config.service.negative_label
            };
            (
                label.clone(),
                score,
                action,
                rules,
                (served.graph.name().to_string(), served.graph.version()),
                false,
            )
        }
        Err(_) => {
            engine.metrics.fail_safe.inc();
            let served = &route.served;
            (
                "unknown".to_string(),
                None,
                config.fail_safe.action,
                vec![config.fail_safe.rule.clone()],
                (served.graph.name().to_string(), served.graph.version()),
                true,
            )
        }
    };
    let elapsed = started.elapsed();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if let Some(candidate) = &route.candidate {
        let comparison = &candidate.comparison;
        if Arc::ptr_eq(&route.served, &candidate.served) {
            comparison.record_candidate(action, score, elapsed, fail_safe);
        } else {
            comparison.record_production(action, score, elapsed, fail_safe);
            if candidate.deployment.mode == sluice_store::DeploymentMode::Shadow
                && !fail_safe
                && let Ok(rows) = decode_rows(
                    &candidate.served,
                    &message_rows(std::slice::from_ref(message)),
                    "body",
                )
            {
                engine.mirror(candidate, rows, label == config.service.positive_label);
            }
        }
    }
    state.log.log(NewPrediction {
        request_id: request_id.clone(),
        at: now_ms(),
        model: model.0.clone(),
        version: model.1,
        variant: variant.clone(),
        score,
        label: Some(label.clone()),
        action: action.as_str().to_string(),
        rules: rules.clone(),
        latency_us: i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX),
        text_hash: prediction_text_hash(&message.text),
        text: state.keep_text.then(|| message.text.clone()),
        // pseudonymous, not anonymous: a known id can be hashed and found
        user_hash: (message.user_id.as_deref()).map(|u| prediction_text_hash(&format!("user:{u}"))),
        channel: message.channel.clone(),
        lang: message.lang.clone(),
    });
    let mut answer = json!({
        "request_id": request_id,
        "label": label,
        "score": score,
        "action": action.as_str(),
        "rules_triggered": rules,
        "model": { "name": model.0, "version": model.1 },
        "variant": variant,
        "latency_ms": latency_ms,
    });
    if fail_safe {
        answer["fail_safe"] = json!(true);
    }
    answer
}

fn observe(
    engine: &Engine,
    route: &str,
    variant: Option<&str>,
    action: &str,
    status: StatusCode,
    started: Instant,
) {
    let labels = RequestLabels {
        route: route.to_string(),
        variant: variant.map_or_else(|| engine.production_variant(), str::to_string),
        action: action.to_string(),
        status: status.as_u16().to_string(),
    };
    engine.metrics.requests.get_or_create(&labels).inc();
    (engine.metrics.latency.get_or_create(&labels)).observe(started.elapsed().as_secs_f64());
}

/// Runs `handler`, counting and timing it by route and outcome.
async fn measured<F>(state: &AppState, route: &str, handler: F) -> Response
where
    F: Future<Output = Result<(Value, &'static str), ApiError>>,
{
    let started = Instant::now();
    let result = handler.await;
    let (response, variant, action, status) = match result {
        Ok((body, action)) => {
            let variant = body["variant"].as_str().map(str::to_string);
            (Json(body).into_response(), variant, action, StatusCode::OK)
        }
        Err(error) => {
            let status = error.status;
            (error.into_response(), None, "none", status)
        }
    };
    if let Some(engine) = state.engine.get() {
        observe(engine, route, variant.as_deref(), action, status, started);
    }
    response
}

async fn moderate(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    measured(&state.clone(), "/v1/moderate", async {
        let started = Instant::now();
        authorize(&state, &headers, Role::Predict)?;
        let engine = engine(&state)?;
        let value = json_body(body)?;
        let message = message(&value, "", engine.config.limits.text_chars)?;
        let _admitted = engine.admit().ok_or_else(ApiError::overloaded)?;
        let request_id = state.request_id();
        let route = Route::of(engine, &message, &request_id);
        let batch = decode_rows(
            &route.served,
            &message_rows(std::slice::from_ref(&message)),
            "body",
        )?;
        let outcome = engine.score(route.served.clone(), batch).await;
        let answer = decide(
            &state,
            engine,
            request_id,
            &message,
            &route,
            outcome.as_ref().map(|s| (&s.batch, s.model.as_ref())),
            0,
            started,
        );
        let action = action_label(&answer);
        Ok((answer, action))
    })
    .await
}

fn action_label(answer: &Value) -> &'static str {
    match answer["action"].as_str() {
        Some("allow") => Action::Allow.as_str(),
        Some("warn") => Action::Warn.as_str(),
        Some("block") => Action::Block.as_str(),
        _ => Action::Escalate.as_str(),
    }
}

async fn moderate_batch(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    measured(&state.clone(), "/v1/moderate/batch", async {
        let started = Instant::now();
        authorize(&state, &headers, Role::Predict)?;
        let engine = engine(&state)?;
        let value = json_body(body)?;
        let items = match value.get("messages") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(ApiError::invalid(
                    "messages",
                    "`messages` must be an array of messages",
                ));
            }
        };
        let limit = engine.config.limits.batch_count;
        if items.is_empty() || items.len() > limit {
            return Err(ApiError::invalid(
                "messages",
                format!("`messages` has {} entries; send 1 to {limit}", items.len()),
            ));
        }
        let text_chars = engine.config.limits.text_chars;
        let messages = (items.iter().enumerate())
            .map(|(i, item)| message(item, &format!("messages[{i}]."), text_chars))
            .collect::<Result<Vec<_>, _>>()?;
        let _admitted = engine.admit().ok_or_else(ApiError::overloaded)?;
        let batch_id = state.request_id();
        let ids: Vec<String> = (0..messages.len())
            .map(|row| format!("{batch_id}.{row}"))
            .collect();
        // each message routed by its user, and a job of its own: a
        // poisoned one gets the fail-safe alone
        let routes: Vec<Route> = (messages.iter().zip(&ids))
            .map(|(message, id)| Route::of(engine, message, id))
            .collect();
        let mut jobs = Vec::with_capacity(messages.len());
        for (i, (message, route)) in messages.iter().zip(&routes).enumerate() {
            let rows = message_rows(std::slice::from_ref(message));
            let batch = decode_rows(&route.served, &rows, &format!("messages[{i}]"))?;
            jobs.push((route.served.clone(), batch));
        }
        let outcomes = engine.score_rows(jobs).await;
        let results: Vec<Value> = (messages.iter().zip(&outcomes).zip(routes.iter().zip(ids)))
            .map(|((message, outcome), (route, id))| {
                decide(
                    &state,
                    engine,
                    id,
                    message,
                    route,
                    outcome.as_ref().map(|s| (&s.batch, s.model.as_ref())),
                    0,
                    started,
                )
            })
            .collect();
        Ok((json!({ "results": results }), "batch"))
    })
    .await
}

#[derive(serde::Deserialize)]
struct PredictQuery {
    alias: Option<String>,
    version: Option<i64>,
}

/// The graph for model `name` at the query's alias (default `production`)
/// or version: the served one when it is that, else built once and kept.
async fn graph_for(
    state: &AppState,
    engine: &Engine,
    name: &str,
    query: &PredictQuery,
) -> Result<Arc<Served>, ApiError> {
    let version = match (query.version, &query.alias) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "version",
                "give `alias` or `version`, not both",
            ));
        }
        (Some(n), None) => VersionRef::Number(n),
        (None, alias) => VersionRef::Alias(alias.clone().unwrap_or_else(|| "production".into())),
    };
    let reference = ModelRef {
        name: name.to_string(),
        version,
    };
    let not_found = |e: InferenceError| {
        ApiError::new(StatusCode::NOT_FOUND, "no_model", e.to_string()).field("name")
    };
    let number = match &reference.version {
        VersionRef::Number(n) => *n,
        VersionRef::Alias(alias) => {
            let found = (engine.store.alias_version(name, alias).await).map_err(|e| {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string())
            })?;
            match found {
                Some(n) => n,
                None => {
                    return Err(not_found(
                        ModelSource::fetch(&engine.store, &engine.home, &reference)
                            .await
                            .err()
                            .unwrap_or(InferenceError::Reference(format!(
                                "{reference}: no such alias"
                            ))),
                    ));
                }
            }
        }
    };
    let served = engine.served.load_full();
    if served.graph.name() == name && served.graph.version() == number {
        return Ok(served);
    }
    let mut others = state.others.lock().await;
    if let Some(found) = others.get(&(name.to_string(), number)) {
        return Ok(found.clone());
    }
    let exact = ModelRef {
        name: name.to_string(),
        version: VersionRef::Number(number),
    };
    let source = ModelSource::fetch(&engine.store, &engine.home, &exact)
        .await
        .map_err(not_found)?;
    let runtime = engine.runtime.clone();
    let built = tokio::task::spawn_blocking(move || {
        sluice_pipeline::InferenceGraph::build(&source, &runtime, sluice_pipeline::Grants::Recorded)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_unavailable",
            e.to_string(),
        )
    })?;
    let served = Arc::new(Served::new(built, &engine.config.breaker));
    others.insert((name.to_string(), number), served.clone());
    Ok(served)
}

async fn predict(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<PredictQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    measured(&state.clone(), "/v1/models/{name}/predict", async {
        authorize(&state, &headers, Role::Predict)?;
        let engine = engine(&state)?;
        let value = json_body(body)?;
        let rows = match value.get("rows") {
            Some(Value::Array(rows)) => rows,
            _ => {
                return Err(ApiError::invalid(
                    "rows",
                    "`rows` must be an array of JSON objects",
                ));
            }
        };
        let limit = engine.config.limits.batch_count;
        if rows.is_empty() || rows.len() > limit {
            return Err(ApiError::invalid(
                "rows",
                format!("`rows` has {} entries; send 1 to {limit}", rows.len()),
            ));
        }
        let served = graph_for(&state, engine, &name, &query).await?;
        for (i, row) in rows.iter().enumerate() {
            let Some(object) = row.as_object() else {
                return Err(ApiError::invalid(
                    &format!("rows[{i}]"),
                    "must be a JSON object",
                ));
            };
            for column in served.graph.inputs() {
                if !object.contains_key(&column.name) {
                    let field = format!("rows[{i}].{}", column.name);
                    return Err(ApiError::invalid(
                        &field,
                        format!(
                            "`{field}` is required ({} reads it as {})",
                            column.reader, column.ty
                        ),
                    ));
                }
            }
        }
        let batch = decode_rows(&served, rows, "rows")?;
        let _admitted = engine.admit().ok_or_else(ApiError::overloaded)?;
        let is_served = Arc::ptr_eq(&served, &engine.served.load_full());
        let scored = if is_served {
            engine
                .score(served.clone(), batch)
                .await
                .map(|s| (s.batch, s.model))
        } else {
            let graph = served.clone();
            let timeout = engine.config.limits.timeout();
            tokio::task::spawn_blocking(move || {
                let stop = sluice_runtime::Stop {
                    deadline: Some(Instant::now() + timeout),
                    cancel: None,
                };
                graph
                    .graph
                    .predict(&batch, &stop)
                    .map(|s| (s.batch, graph.clone()))
            })
            .await
            .map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?
            .map_err(|e| Failure {
                step: None,
                message: e.to_string(),
            })
        };
        let (batch, model) = scored.map_err(|f| {
            ApiError::new(StatusCode::BAD_GATEWAY, "plugin_error", f.message.clone()).field(
                f.step
                    .map(|s| format!("step.{s}"))
                    .unwrap_or_else(|| "model".into()),
            )
        })?;
        let inputs: Vec<&str> = model
            .input
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let keep: Vec<usize> = (batch.schema().fields().iter().enumerate())
            .filter(|(_, f)| !inputs.contains(&f.name().as_str()))
            .map(|(i, _)| i)
            .collect();
        let outputs = batch.project(&keep).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        let mut writer = arrow::json::ArrayWriter::new(Vec::new());
        writer
            .write(&outputs)
            .and_then(|_| writer.finish())
            .map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?;
        let predictions: Value =
            serde_json::from_slice(&writer.into_inner()).unwrap_or(Value::Array(Vec::new()));
        Ok((
            json!({
                "model": { "name": model.graph.name(), "version": model.graph.version() },
                "predictions": predictions,
            }),
            "predict",
        ))
    })
    .await
}

fn phase_name(phase: crate::breaker::Phase) -> &'static str {
    match phase {
        crate::breaker::Phase::Closed => "closed",
        crate::breaker::Phase::Open => "open",
        crate::breaker::Phase::HalfOpen => "half-open",
    }
}

/// `GET /v1/admin/status` (role `admin`): what is served and how the
/// server is doing. Read-only, so not audited.
async fn admin_status(State(state): State<Shared>, headers: HeaderMap) -> Response {
    measured(&state.clone(), "/v1/admin/status", async {
        authorize(&state, &headers, Role::Admin)?;
        let engine = engine(&state)?;
        let served = engine.served.load();
        let breakers: Vec<Value> = (served.breakers.phases().into_iter())
            .map(|(step, phase)| json!({ "step": step, "state": phase_name(phase) }))
            .collect();
        Ok((
            json!({
                "service": engine.config.service.name,
                "follows": engine.reference.to_string(),
                "model": { "name": served.graph.name(), "version": served.graph.version() },
                "queue_depth": engine.metrics.queue_depth.get(),
                "breakers": breakers,
                "prediction_log": state.log.stats(),
            }),
            "admin",
        ))
    })
    .await
}

/// Appends an admin action to the store's audit chain as the caller's
/// token (`token/<id>`, never the secret).
async fn audit_admin(
    engine: &Engine,
    caller: &Caller,
    action: &str,
    detail: Value,
) -> Result<(), ApiError> {
    let subject = format!("service/{}", engine.config.service.name);
    (engine.store)
        .audit(&caller.actor(), action, &subject, &detail)
        .await
        .map(|_| ())
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()))
}

/// `POST /v1/admin/reload` (role `admin`): checks the followed alias now
/// instead of at the next `service.reload_ms` tick; audited.
async fn admin_reload(State(state): State<Shared>, headers: HeaderMap) -> Response {
    measured(&state.clone(), "/v1/admin/reload", async {
        let caller = authorize(&state, &headers, Role::Admin)?;
        let engine = engine(&state)?;
        let before = engine.served.load().graph.version();
        crate::engine::reload_once(engine).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "reload_failed",
                e.to_string(),
            )
        })?;
        let after = engine.served.load().graph.version();
        let detail = json!({
            "follows": engine.reference.to_string(),
            "from": before,
            "to": after,
        });
        audit_admin(engine, &caller, "serve.reload", detail.clone()).await?;
        Ok((detail, "admin"))
    })
    .await
}

/// `POST /v1/admin/purge-texts` (role `admin`): purges the served model's
/// prediction texts past `log.text_retention_days` now; audited.
async fn admin_purge_texts(State(state): State<Shared>, headers: HeaderMap) -> Response {
    measured(&state.clone(), "/v1/admin/purge-texts", async {
        let caller = authorize(&state, &headers, Role::Admin)?;
        let engine = engine(&state)?;
        let model = engine.reference.name.clone();
        let retention_days = engine.config.log.text_retention_days;
        let purged = (engine.store)
            .purge_prediction_texts(engine.config.log.text_retention(), Some(&model))
            .await
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()))?;
        let detail = json!({ "model": model, "retention_days": retention_days, "purged": purged });
        audit_admin(engine, &caller, "serve.purge_texts", detail.clone()).await?;
        Ok((detail, "admin"))
    })
    .await
}

/// A required short string field of a JSON object, or 422 naming it.
fn required_text(value: &Value, key: &str) -> Result<String, ApiError> {
    match value.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => Ok(s.clone()),
        Some(Value::String(_)) => Err(ApiError::invalid(
            key,
            format!("`{key}` must be 1 to 256 characters"),
        )),
        Some(_) => Err(ApiError::invalid(key, format!("`{key}` must be a string"))),
        None => Err(ApiError::invalid(key, format!("`{key}` is required"))),
    }
}

/// `label` must be one of the service's two labels.
fn service_label(engine: &Engine, value: &Value) -> Result<String, ApiError> {
    let label = required_text(value, "label")?;
    let service = &engine.config.service;
    if label != service.positive_label && label != service.negative_label {
        return Err(ApiError::invalid(
            "label",
            format!(
                "`label` must be `{}` or `{}`",
                service.positive_label, service.negative_label
            ),
        ));
    }
    Ok(label)
}

/// Stores a verdict. An answer given moments ago may still be on its way
/// to the store (the prediction log writes in batches): while the log has
/// answers pending, an unknown request id is looked up again for up to a
/// second before it is 404.
async fn store_verdict(
    state: &AppState,
    engine: &Engine,
    verdict: sluice_store::NewFeedback,
) -> Result<sluice_store::FeedbackRecord, ApiError> {
    let mut tries = 0;
    loop {
        match engine.store.record_feedback(&verdict).await {
            Ok(record) => return Ok(record),
            Err(e) if e.is_not_found() && tries < 10 && state.log.stats().pending > 0 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) if e.is_not_found() => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_prediction",
                    "no answer with this request id",
                )
                .field("request_id"));
            }
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store",
                    e.to_string(),
                ));
            }
        }
    }
}

/// `POST /v1/feedback {request_id, label, source?}` (role `predict`): a
/// user's (or an app's) verdict on an answer. `source` defaults to `user`;
/// `review` is the review route's own.
async fn feedback(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    measured(&state.clone(), "/v1/feedback", async {
        let caller = authorize(&state, &headers, Role::Predict)?;
        let engine = engine(&state)?;
        let value = json_body(body)?;
        let request_id = required_text(&value, "request_id")?;
        let label = service_label(engine, &value)?;
        let source = match value.get("source") {
            None | Some(Value::Null) => "user".to_string(),
            Some(_) => required_text(&value, "source")?,
        };
        if source == "review" {
            return Err(ApiError::invalid(
                "source",
                "`review` verdicts go through POST /v1/review/{request_id}",
            ));
        }
        let record = store_verdict(
            &state,
            engine,
            sluice_store::NewFeedback {
                request_id,
                label,
                source,
                actor: caller.actor(),
                action: None,
            },
        )
        .await?;
        Ok((json!({ "feedback": record }), "feedback"))
    })
    .await
}

#[derive(serde::Deserialize)]
struct ReviewQuery {
    limit: Option<i64>,
}

/// `GET /v1/review?limit=N` (role `review`): the served model's escalated
/// answers no person has decided yet, oldest first, with what the model
/// saw (the text, where kept) and said.
async fn review_queue(
    State(state): State<Shared>,
    Query(query): Query<ReviewQuery>,
    headers: HeaderMap,
) -> Response {
    measured(&state.clone(), "/v1/review", async {
        authorize(&state, &headers, Role::Review)?;
        let engine = engine(&state)?;
        let limit = query.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid("limit", "`limit` must be 1 to 1000"));
        }
        let queue = (engine.store)
            .review_queue(&engine.reference.name, limit)
            .await
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()))?;
        Ok((
            json!({ "model": engine.reference.name, "queue": queue }),
            "review",
        ))
    })
    .await
}

/// `POST /v1/review/{request_id} {label, action}` (role `review`): a
/// person's decision on an answer, kept as a `review` verdict by the
/// reviewer's token.
async fn review_decide(
    State(state): State<Shared>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    measured(&state.clone(), "/v1/review/{request_id}", async {
        let caller = authorize(&state, &headers, Role::Review)?;
        let engine = engine(&state)?;
        let value = json_body(body)?;
        let label = service_label(engine, &value)?;
        let action = required_text(&value, "action")?;
        let action = serde_json::from_value::<Action>(Value::String(action))
            .map_err(|_| {
                ApiError::invalid("action", "`action` must be allow, warn, escalate or block")
            })?
            .as_str()
            .to_string();
        let record = store_verdict(
            &state,
            engine,
            sluice_store::NewFeedback {
                request_id,
                label,
                source: "review".into(),
                actor: caller.actor(),
                action: Some(action),
            },
        )
        .await?;
        Ok((json!({ "review": record }), "review"))
    })
    .await
}

fn store_error(e: sluice_store::StoreError) -> ApiError {
    if e.is_conflict() {
        ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
    } else if e.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
    } else if matches!(e, sluice_store::StoreError::Invalid { .. }) {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string())
    }
}

fn registry_error(e: sluice_registry::RegistryError) -> ApiError {
    match e {
        sluice_registry::RegistryError::Store(e) => store_error(e),
        other => ApiError::new(StatusCode::CONFLICT, "refused", other.to_string()),
    }
}

/// `POST /v1/admin/deploy {version, canary | ab | shadow, variant?}` (role
/// `admin`): as `sluice deploy`, for the served model; audited as the token.
async fn admin_deploy(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    measured(&state.clone(), "/v1/admin/deploy", async {
        let caller = authorize(&state, &headers, Role::Admin)?;
        let engine = engine(&state)?;
        let value = json_body(body)?;
        let version = value["version"]
            .as_i64()
            .ok_or_else(|| ApiError::invalid("version", "`version` must be an integer"))?;
        let percent = |key: &str| match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| ApiError::invalid(key, format!("`{key}` must be a percent"))),
        };
        let shadow = value["shadow"].as_bool().unwrap_or(false);
        let (mode, variant, percent) = match (percent("canary")?, percent("ab")?, shadow) {
            (Some(p), None, false) => (
                sluice_store::DeploymentMode::Canary,
                "canary".to_string(),
                p,
            ),
            (None, Some(p), false) => (
                sluice_store::DeploymentMode::Ab,
                value["variant"].as_str().unwrap_or("b").to_string(),
                p,
            ),
            (None, None, true) => (
                sluice_store::DeploymentMode::Shadow,
                "shadow".to_string(),
                0.0,
            ),
            _ => {
                return Err(ApiError::invalid(
                    "body",
                    "give exactly one of `canary`, `ab` (percents) or `shadow: true`",
                ));
            }
        };
        let new = sluice_store::NewDeployment {
            model: engine.reference.name.clone(),
            version,
            mode,
            variant,
            percent,
        };
        let record = sluice_registry::rollout::deploy(&engine.store, &new, &caller.actor())
            .await
            .map_err(registry_error)?;
        Ok((json!({ "deployment": record }), "admin"))
    })
    .await
}

/// `POST /v1/admin/rollback {reason?}` (role `admin`): as `sluice rollback`
/// for the served model, with this server's comparison as the figures.
async fn admin_rollback(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    measured(&state.clone(), "/v1/admin/rollback", async {
        let caller = authorize(&state, &headers, Role::Admin)?;
        let engine = engine(&state)?;
        let value = json_body(body)?;
        let reason = value["reason"]
            .as_str()
            .unwrap_or("rolled back by an admin");
        let figures = (engine.candidate.load_full())
            .map(|c| c.comparison.figures(Default::default()))
            .unwrap_or_else(|| json!({}));
        let undone = sluice_registry::rollout::rollback(
            &engine.store,
            &engine.reference.name,
            &caller.actor(),
            reason,
            &figures,
        )
        .await
        .map_err(registry_error)?;
        let body = match undone {
            sluice_registry::rollout::RolledBack::Deployment(d) => json!({ "deployment": d }),
            sluice_registry::rollout::RolledBack::Production { from, to } => {
                json!({ "production": { "from": from, "to": to } })
            }
        };
        Ok((body, "admin"))
    })
    .await
}

/// `GET /v1/admin/deployments` (role `admin`): the served model's
/// deployments, newest first, and the live comparison of the active one as
/// this server sees it.
async fn admin_deployments(State(state): State<Shared>, headers: HeaderMap) -> Response {
    measured(&state.clone(), "/v1/admin/deployments", async {
        authorize(&state, &headers, Role::Admin)?;
        let engine = engine(&state)?;
        let deployments = (engine.store)
            .deployments(Some(&engine.reference.name), 50)
            .await
            .map_err(store_error)?;
        let live = engine.candidate.load_full().map(|c| {
            json!({
                "deployment": c.deployment.id,
                "running_s": c.started.elapsed().as_secs_f64(),
                "figures": c.comparison.figures(Default::default()),
            })
        });
        Ok((json!({ "deployments": deployments, "live": live }), "admin"))
    })
    .await
}
