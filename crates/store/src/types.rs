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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    pub rows_checked: u64,
    /// The first row that breaks the chain: its id and why.
    pub first_bad: Option<(i64, String)>,
}

impl AuditVerification {
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
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
