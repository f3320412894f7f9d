//! Records the store reads and writes. Plain data: the SQL lives in `mod.rs`.
//!
//! Times are unix milliseconds, set by the store. Counters are `i64` because
//! that is what both backends store natively (PostgreSQL has no unsigned
//! integers).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sluice_core::Digest;

/// A stored status or kind string that is none of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected one of: {expected})")]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// A text-stored enum: `Display`/`FromStr` use the exact strings in the
/// schema's CHECK constraints, and `TryFrom<String>` lets `sqlx::FromRow`
/// decode the column.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;

            fn from_str(s: &str) -> Result<Self, ParseEnumError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError {
                        what: $what,
                        value: s.to_owned(),
                        expected: concat!($($text, ", "),+).trim_end_matches(", "),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseEnumError;

            fn try_from(s: String) -> Result<Self, ParseEnumError> {
                s.parse()
            }
        }
    };
}

text_enum! {
    /// Where a pipeline run stands.
    RunStatus, "run status" {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// Where one step of a run stands.
    StepStatus, "step status" {
        Pending => "pending",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// Not executed (e.g. an upstream step failed).
        Skipped => "skipped",
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// What an artifact holds.
    ArtifactKind, "artifact kind" {
        Table => "table",
        /// Fitted state of a stateful step (e.g. a scaler's means).
        State => "state",
        Model => "model",
        Report => "report",
    }
}

text_enum! {
    /// What a step log row holds.
    StepLogKind, "step log kind" {
        /// A line from the host `log` import (with its level).
        Log => "log",
        /// A measurement from the host `metric` import (with its value).
        Metric => "metric",
        Stdout => "stdout",
        Stderr => "stderr",
        /// What did not fit the plugin's `log` grant.
        Dropped => "dropped",
    }
}

impl RunStatus {
    /// Whether a run in this status is over.
    pub fn is_terminal(self) -> bool {
        self != RunStatus::Running
    }
}

impl StepStatus {
    /// Whether a step in this status is over.
    pub fn is_terminal(self) -> bool {
        !matches!(self, StepStatus::Pending | StepStatus::Running)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RunRecord {
    pub id: i64,
    pub pipeline: String,
    pub pipeline_digest: Digest,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// The process that runs (or ran) it: `host:pid:token`.
    pub owner: Option<String>,
    /// Until when (database clock, unix ms) the owner's lease holds.
    pub lease_expires_at: Option<i64>,
}

/// A run owned by this process; see [`super::Store::create_run`].
///
/// Every change to the run or its steps passes the lease and succeeds only
/// while the run is still `running` under this owner, renewing the lease as
/// it goes; [`super::Store::keep_alive`] renews it between changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLease {
    pub(crate) run: i64,
    pub(crate) owner: std::sync::Arc<str>,
    pub(crate) ttl: std::time::Duration,
}

impl RunLease {
    pub fn run(&self) -> i64 {
        self.run
    }

    /// `host:pid:token`, as stored in `runs.owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How long the lease holds after each renewal.
    pub fn ttl(&self) -> std::time::Duration {
        self.ttl
    }

    pub(crate) fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StepRunRecord {
    pub id: i64,
    pub run_id: i64,
    pub step: String,
    /// `None` for native (host) steps.
    pub plugin_digest: Option<Digest>,
    pub cache_key: String,
    #[sqlx(try_from = "String")]
    pub status: StepStatus,
    pub cache_hit: bool,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// Guest CPU time.
    pub cpu_ms: Option<i64>,
    /// Peak guest linear memory, bytes.
    pub peak_memory: Option<i64>,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub attempts: i64,
    pub error: Option<String>,
    /// The table the step produced or found in the cache.
    pub output_digest: Option<Digest>,
}

/// How a step ended; see [`super::Store::finish_step`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOutcome {
    /// Must be terminal (not `pending`/`running`).
    pub status: StepStatus,
    pub cache_hit: bool,
    pub cpu_ms: Option<i64>,
    pub peak_memory: Option<i64>,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub attempts: i64,
    pub error: Option<String>,
    /// The table the step produced or found in the cache.
    pub output_digest: Option<Digest>,
}

/// A file's digest as of its fingerprint (see
/// [`crate::Store::fingerprinted_digest`]). `path` is absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub path: String,
    pub fingerprint: sluice_data::FileFingerprint,
    pub digest: Digest,
}

/// An artifact to record; see [`super::Store::put_artifact`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewArtifact {
    pub digest: Digest,
    pub kind: ArtifactKind,
    /// Relative to the artifact directory.
    pub path: String,
    /// `None` where rows make no sense (state, model, report).
    pub rows: Option<i64>,
    pub bytes: i64,
    pub created_by_run: i64,
    pub created_by_step: String,
    pub plugin_digest: Option<Digest>,
    /// The producing step's params (stored as JSON text).
    pub params: serde_json::Value,
    /// Lineage: digests this artifact was computed from, in order.
    pub inputs: Vec<Digest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ArtifactRecord {
    pub digest: Digest,
    #[sqlx(try_from = "String")]
    pub kind: ArtifactKind,
    pub path: String,
    pub rows: Option<i64>,
    pub bytes: i64,
    /// First producer: a later run producing the same digest does not change it.
    pub created_by_run: i64,
    pub created_by_step: String,
    pub plugin_digest: Option<Digest>,
    /// JSON text as stored.
    pub params: String,
    pub created_at: i64,
    /// Filled from `artifact_inputs`, ordered by position.
    #[sqlx(skip)]
    pub inputs: Vec<Digest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CacheEntry {
    pub cache_key: String,
    pub output_digest: Digest,
    /// Fitted state, for steps that produce one besides their output.
    pub state_digest: Option<Digest>,
    /// Set by the store on [`super::Store::cache_put`]; the value passed in is ignored.
    pub created_at: i64,
    /// What the step reported from `finish` (read back with
    /// [`super::Store::step_metrics`]).
    #[sqlx(skip)]
    pub metrics: Vec<sluice_core::contract::Metric>,
}

/// A cache entry joined with its output artifact; see
/// [`super::Store::cache_lookup`].
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CacheHit {
    pub output_digest: Digest,
    pub state_digest: Option<Digest>,
    /// The output artifact's file name under the artifact directory.
    pub path: String,
    pub rows: Option<i64>,
    /// The output artifact's recorded size.
    pub bytes: i64,
    /// The state (or model) artifact's file name, when there is one.
    pub state_path: Option<String>,
    pub state_bytes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PluginRecord {
    pub digest: Digest,
    pub name: String,
    pub version: String,
    pub contract: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// Canonical JSON text (object keys sorted, no whitespace); this exact
    /// text is hashed.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The outcome of [`super::Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    pub rows_checked: u64,
    /// The last row (id and stored hash): what a checkpoint would record.
    pub head: Option<AuditAnchor>,
    /// Anchors compared with the log: recorded checkpoints and expected heads.
    pub anchors_checked: u64,
    /// Every row that breaks the chain or an anchor, chain breaks first in
    /// id order; at most [`AuditVerification::MAX_REPORTED`] are kept.
    pub broken: Vec<BrokenAuditRow>,
    /// All breaks found, including those past the kept ones.
    pub broken_total: u64,
}

impl AuditVerification {
    /// Breaks kept with their reasons (memory stays bounded on a log
    /// rewritten wholesale; the total is still counted).
    pub const MAX_REPORTED: usize = 1000;

    pub fn is_ok(&self) -> bool {
        self.broken_total == 0
    }
}

/// One row that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenAuditRow {
    pub id: i64,
    pub reason: String,
}

/// An audit row's id and stored hash: the head a checkpoint records, or one
/// kept outside the database and given back as `HASH@ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditAnchor {
    pub id: i64,
    pub hash: String,
}

impl fmt::Display for AuditAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.hash, self.id)
    }
}

impl FromStr for AuditAnchor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{s}` is not an audit anchor (expected HASH@ID: 64 hex digits, `@`, a row id)")
        };
        let (hash, id) = s.rsplit_once('@').ok_or_else(bad)?;
        let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        let id: i64 = id.parse().map_err(|_| bad())?;
        if !hex || id < 1 {
            return Err(bad());
        }
        Ok(AuditAnchor {
            id,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// A recorded head of the audit chain; see [`super::Store::audit_checkpoint`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditCheckpoint {
    pub id: i64,
    /// The audit row anchored.
    pub audit_id: i64,
    /// That row's hash when the checkpoint was taken.
    pub hash: String,
    pub at: i64,
    pub actor: String,
}

impl AuditCheckpoint {
    pub fn anchor(&self) -> AuditAnchor {
        AuditAnchor {
            id: self.audit_id,
            hash: self.hash.clone(),
        }
    }
}

/// A model version to register; see [`super::Store::register_model`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewModelVersion {
    pub name: String,
    /// The `model` artifact (must be recorded).
    pub model_digest: Digest,
    pub run_id: i64,
    pub step: String,
    pub algorithm: String,
    /// The train step as written (hyperparameters, split, search).
    pub params: serde_json::Value,
    /// `[{"step", "name", "value", "labels"}]` from the evaluators that
    /// scored the model's held-out predictions.
    pub metrics: serde_json::Value,
    /// Training data digests and the plugin digests, params and fitted
    /// states of every step before the model.
    pub lineage: serde_json::Value,
    /// The promotion gate the pipeline declared.
    pub gate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ModelVersionRecord {
    pub name: String,
    pub version: i64,
    pub model_digest: Digest,
    pub run_id: i64,
    pub step: String,
    pub algorithm: String,
    pub params: String,
    pub metrics: String,
    pub lineage: String,
    pub gate: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AliasRecord {
    pub name: String,
    pub alias: String,
    pub version: i64,
    pub updated_at: i64,
}

/// One move of an alias, oldest first in [`super::Store::alias_history`].
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AliasChange {
    pub id: i64,
    pub name: String,
    pub alias: String,
    pub version: i64,
    pub previous_version: Option<i64>,
    pub actor: String,
    pub at: i64,
}

/// A step log row to write; see [`super::Store::record_step_logs`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewStepLog {
    pub kind: StepLogKind,
    pub level: Option<String>,
    /// Bounded and escaped by the store before it is written.
    pub message: String,
    pub value: Option<f64>,
}

/// A stored step log row, with the step's name.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StepLogRecord {
    pub step_run_id: i64,
    pub step: String,
    pub seq: i64,
    #[sqlx(try_from = "String")]
    pub kind: StepLogKind,
    pub level: Option<String>,
    pub message: String,
    pub value: Option<f64>,
}

text_enum! {
    /// What an API token may do on a server.
    TokenRole, "token role" {
        /// Ask for predictions.
        Predict => "predict",
        /// Read and label predictions for review.
        Review => "review",
        /// Everything, including changing what is served.
        Admin => "admin",
    }
}

/// An API token as stored: never its secret, which only its creator saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub role: TokenRole,
    pub created_at: i64,
    pub created_by: String,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

/// A new token: its record and the secret, shown this once.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    pub record: TokenRecord,
    /// `slc_` + base64url of 32 random bytes.
    pub secret: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // a secret must not reach a log through `{:?}`
        f.debug_struct("NewToken")
            .field("record", &self.record)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One answer a server gave, for [`super::Store::append_predictions`] and
/// the [`super::PredictionLog`]. Serialised as a JSON line in the log's
/// spill file.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NewPrediction {
    /// Unique per answer: a second append of the same id adds nothing.
    pub request_id: String,
    /// Unix ms when the answer was given.
    pub at: i64,
    pub model: String,
    pub version: i64,
    /// `production`, `canary`, ...
    pub variant: String,
    /// `None` for a fail-safe answer that computed no score.
    pub score: Option<f64>,
    pub label: Option<String>,
    /// `allow`, `warn`, `block`, `escalate`, ...
    pub action: String,
    /// Rule ids the detectors and the policy triggered.
    pub rules: Vec<String>,
    pub latency_us: i64,
    /// [`prediction_text_hash`] of the text, kept whether or not the text is.
    pub text_hash: String,
    /// The text itself, only where the service keeps texts.
    pub text: Option<String>,
    /// A hash of the caller's user id, never the id itself.
    pub user_hash: Option<String>,
    pub channel: Option<String>,
    pub lang: Option<String>,
}

/// `sha256:<hex>` of a message text, as [`NewPrediction::text_hash`] holds
/// it: the same text always hashes the same, so answers about one message
/// can be found after its text was purged.
pub fn prediction_text_hash(text: &str) -> String {
    Digest::of(text.as_bytes()).to_string()
}

/// A stored prediction; fields as in [`NewPrediction`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionRecord {
    pub request_id: String,
    pub at: i64,
    pub model: String,
    pub version: i64,
    pub variant: String,
    pub score: Option<f64>,
    pub label: Option<String>,
    pub action: String,
    pub rules: Vec<String>,
    pub latency_us: i64,
    pub text_hash: String,
    pub text: Option<String>,
    pub user_hash: Option<String>,
    pub channel: Option<String>,
    pub lang: Option<String>,
}

text_enum! {
    /// How a candidate version meets traffic.
    DeploymentMode, "deployment mode" {
        /// A share of users (sticky by user), answered by the candidate.
        Canary => "canary",
        /// A named variant for a share of users, compared with production.
        Ab => "ab",
        /// Mirrored traffic scored off the request path; answers discarded.
        Shadow => "shadow",
    }
}

text_enum! {
    /// Where a deployment stands.
    DeploymentStatus, "deployment status" {
        Active => "active",
        /// Its version became `production`.
        Promoted => "promoted",
        /// Ended because the candidate was worse (or by a person).
        #[serde(rename = "rolled_back")]
        RolledBack => "rolled_back",
        /// Ended without a verdict.
        Ended => "ended",
    }
}

/// A deployment to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeployment {
    pub model: String,
    pub version: i64,
    pub mode: DeploymentMode,
    /// The answers' `variant` for the candidate (`canary`, `shadow`, or an
    /// A/B variant's name).
    pub variant: String,
    /// Share of users routed to the candidate, 0..=100 (0 for shadow).
    pub percent: f64,
}

/// A deployment as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DeploymentRecord {
    pub id: i64,
    pub model: String,
    pub version: i64,
    /// The version `production` named when it began.
    pub baseline: Option<i64>,
    #[sqlx(try_from = "String")]
    pub mode: DeploymentMode,
    pub variant: String,
    pub percent: f64,
    #[sqlx(try_from = "String")]
    pub status: DeploymentStatus,
    pub created_at: i64,
    pub created_by: String,
    pub ended_at: Option<i64>,
    pub ended_by: Option<String>,
    pub reason: Option<String>,
    /// JSON: the comparator's figures when it ended.
    pub figures: Option<String>,
}

/// A verdict on one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeedback {
    pub request_id: String,
    /// The label the answer should have had (the service's labels).
    pub label: String,
    /// `user`, `review`, or another source the caller names.
    pub source: String,
    /// `token/<id>`, a user name: who gave the verdict.
    pub actor: String,
    /// For a review: the action the person decided.
    pub action: Option<String>,
}

/// A verdict as stored, with what the model had answered.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct FeedbackRecord {
    pub id: i64,
    pub request_id: String,
    pub label: String,
    pub source: String,
    pub actor: String,
    pub action: Option<String>,
    pub at: i64,
}
