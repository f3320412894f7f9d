//! The seams where the store side plugs in: who may call (API tokens) and
//! where answers are kept (the prediction log). The server calls these and
//! nothing else; the defaults let every call in and log through `tracing`.

use crate::config::Action;

/// What a route needs from its caller's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Predict,
    Review,
    Admin,
}

/// Why a caller was refused: no or unknown token (401), or a token
/// without the role (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Unauthenticated(String),
    Forbidden(String),
}

/// Checks a request's bearer token (`None` when it sent none) for `role`.
/// Returns the token's id, which admin actions are audited with. Called on
/// the async reactor: must not block (keep tokens in memory).
pub trait Authorizer: Send + Sync + 'static {
    fn authorize(&self, bearer: Option<&str>, role: Role) -> Result<Option<String>, Denied>;
}

/// No tokens: every caller is let in (the default until tokens are wired).
pub struct Open;

impl Authorizer for Open {
    fn authorize(&self, _: Option<&str>, _: Role) -> Result<Option<String>, Denied> {
        Ok(None)
    }
}

/// One answered message, as the prediction log keeps it.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub request_id: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub service: String,
    pub variant: String,
    pub model: String,
    pub model_version: i64,
    pub score: Option<f64>,
    pub label: String,
    pub action: Action,
    pub rules: Vec<String>,
    pub latency_ms: f64,
    /// sha256 of the message text, hex.
    pub text_sha256: String,
    pub user_id: Option<String>,
    pub fail_safe: bool,
}

/// Receives every answer. Called on the async reactor after the answer
/// is ready: must not block (queue and write in batches elsewhere).
pub trait PredictionLog: Send + Sync + 'static {
    fn record(&self, prediction: Prediction);
}

/// Logs each answer at `debug` through `tracing` (the default until the
/// store's prediction log is wired).
pub struct TraceLog;

impl PredictionLog for TraceLog {
    fn record(&self, p: Prediction) {
        tracing::debug!(
            request_id = %p.request_id,
            model = %p.model,
            version = p.model_version,
            action = p.action.as_str(),
            score = ?p.score,
            latency_ms = p.latency_ms,
            "prediction"
        );
    }
}
