//! `serve.toml`: the service, the model it serves, the moderation policy,
//! limits, the fail-safe answer and the circuit breaker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sluice_pipeline::ModelRef;

use crate::ServeError;

/// What the service answers for a message (ordered by severity: a decision
/// takes the most severe action any policy entry gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Warn,
    Escalate,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::Escalate => "escalate",
            Action::Block => "block",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub service: Service,
    #[serde(default)]
    pub policy: ModerationPolicy,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub fail_safe: FailSafe,
    #[serde(default)]
    pub breaker: Breaker,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub log: Log,
    /// Absent: plain HTTP.
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    /// `NAME@ALIAS` (followed: a promotion is picked up) or `NAME@VERSION`.
    pub model: String,
    /// The label answered when the model predicts the positive class (1).
    #[serde(default = "default_positive")]
    pub positive_label: String,
    /// The label answered otherwise.
    #[serde(default = "default_negative")]
    pub negative_label: String,
    /// How often the alias is checked for a new version.
    #[serde(default = "default_reload_ms")]
    pub reload_ms: u64,
}

fn default_positive() -> String {
    "flagged".into()
}
fn default_negative() -> String {
    "ok".into()
}
fn default_reload_ms() -> u64 {
    500
}

/// Score thresholds and rules → actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModerationPolicy {
    /// score ≥ this → block
    #[serde(default = "default_block_at")]
    pub block_at: f64,
    /// score ≥ this (and below `block_at`) → escalate to a person
    #[serde(default = "default_escalate_at")]
    pub escalate_at: f64,
    /// score ≥ this (and below `escalate_at`) → warn
    #[serde(default = "default_warn_at")]
    pub warn_at: f64,
    /// Rule id (or prefix: `lexicon` matches `lexicon.en.x`) → action.
    #[serde(default)]
    pub rules: BTreeMap<String, Action>,
}

fn default_block_at() -> f64 {
    0.9
}
fn default_escalate_at() -> f64 {
    0.6
}
fn default_warn_at() -> f64 {
    0.4
}

impl Default for ModerationPolicy {
    fn default() -> Self {
        ModerationPolicy {
            block_at: default_block_at(),
            escalate_at: default_escalate_at(),
            warn_at: default_warn_at(),
            rules: BTreeMap::new(),
        }
    }
}

impl ModerationPolicy {
    /// The action for a score and the rules that fired.
    pub fn decide(&self, score: f64, rules: &[String]) -> Action {
        let by_score = if score >= self.block_at {
            Action::Block
        } else if score >= self.escalate_at {
            Action::Escalate
        } else if score >= self.warn_at {
            Action::Warn
        } else {
            Action::Allow
        };
        let by_rules = rules.iter().filter_map(|id| {
            self.rules
                .iter()
                .filter(|(key, _)| {
                    id == *key || (id.starts_with(key.as_str()) && id[key.len()..].starts_with('.'))
                })
                .map(|(_, action)| *action)
                .max()
        });
        by_rules.fold(by_score, Action::max)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Request bodies above this are refused with 413.
    pub body_bytes: usize,
    /// Characters of one message's text.
    pub text_chars: usize,
    /// Messages in one `/v1/moderate/batch` request (and rows in one
    /// `/v1/models/{name}/predict`).
    pub batch_count: usize,
    /// Requests waiting for inference; beyond it, 503 with `Retry-After`.
    pub queue_depth: usize,
    /// Rows one micro-batch takes at most.
    pub max_rows: usize,
    /// How long the first request of a micro-batch waits for others.
    pub max_wait_ms: u64,
    /// A micro-batch's deadline through the plugins.
    pub timeout_ms: u64,
    /// Micro-batches scored at once (blocking threads).
    pub workers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 256 * 1024,
            text_chars: 4096,
            batch_count: 256,
            queue_depth: 1024,
            max_rows: 64,
            max_wait_ms: 2,
            timeout_ms: 2000,
            workers: 2,
        }
    }
}

impl Limits {
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The answer when the detectors cannot give one (a trap, a timeout, an
/// open breaker).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailSafe {
    pub action: Action,
    pub rule: String,
}

impl Default for FailSafe {
    fn default() -> Self {
        FailSafe {
            action: Action::Escalate,
            rule: "detector_error".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Breaker {
    /// Consecutive failures of one plugin step that open its breaker.
    pub failures: u32,
    /// How long an open breaker fails fast before a half-open probe.
    pub cooldown_ms: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            failures: 5,
            cooldown_ms: 5000,
        }
    }
}

/// Who may call: bearer tokens from `sluice token create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// `false` answers every caller without a token; allowed only on a
    /// loopback listen address (local development).
    pub required: bool,
    /// How often the live tokens are re-read (creations and revocations
    /// take effect within this).
    pub refresh_ms: u64,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            required: true,
            refresh_ms: 1000,
        }
    }
}

/// The prediction log: every answer, written to the store off the
/// request path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// Keep each message's text (else only its hash).
    pub keep_text: bool,
    /// Texts older than this are purged (hash, score and decision stay).
    pub text_retention_days: u64,
    /// Where answers go while the store cannot take them; relative to the
    /// store's home. Default `serve/<service.name>.spill.jsonl`.
    pub spill: Option<PathBuf>,
    /// Answers waiting in memory at most; past it they go to the spill file.
    pub capacity: usize,
    /// Rows per store transaction at most.
    pub batch_rows: usize,
    /// How long a batch waits to fill.
    pub max_wait_ms: u64,
    /// A store write slower than this counts as failed and its batch goes
    /// to the spill file (SQLite would otherwise wait out a lock).
    pub write_timeout_ms: u64,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            keep_text: false,
            text_retention_days: 30,
            spill: None,
            capacity: 10_000,
            batch_rows: 500,
            max_wait_ms: 50,
            write_timeout_ms: 5000,
        }
    }
}

impl Log {
    pub fn text_retention(&self) -> Duration {
        Duration::from_secs(self.text_retention_days.saturating_mul(86_400))
    }
}

/// TLS (rustls) from PEM files; relative paths are relative to serve.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Config {
    /// Reads and checks `path`; errors name the file and the field.
    pub fn load(path: &Path) -> Result<Config, ServeError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServeError::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        if let Some(tls) = &mut config.tls {
            let base = path.parent().unwrap_or(Path::new(""));
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
        }
        Ok(config)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Config, ServeError> {
        let bad = |message: String| ServeError::Config {
            path: origin.to_string(),
            message,
        };
        // toml's message names the line, column and field (unknown field
        // `x`, missing field `model`, invalid type for `limits.max_rows`)
        let config: Config = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        config
            .model_ref()
            .map_err(|e| bad(format!("service.model: {e}")))?;
        let p = &config.policy;
        for (field, value) in [
            ("policy.warn_at", p.warn_at),
            ("policy.escalate_at", p.escalate_at),
            ("policy.block_at", p.block_at),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(bad(format!("{field}: {value} is not within 0..=1")));
            }
        }
        if !(p.warn_at <= p.escalate_at && p.escalate_at <= p.block_at) {
            return Err(bad(
                "policy: thresholds must satisfy warn_at <= escalate_at <= block_at".into(),
            ));
        }
        let l = &config.limits;
        for (field, value) in [
            ("limits.body_bytes", l.body_bytes),
            ("limits.text_chars", l.text_chars),
            ("limits.batch_count", l.batch_count),
            ("limits.queue_depth", l.queue_depth),
            ("limits.max_rows", l.max_rows),
            ("limits.workers", l.workers),
            ("limits.timeout_ms", l.timeout_ms as usize),
            ("breaker.failures", config.breaker.failures as usize),
            ("service.reload_ms", config.service.reload_ms as usize),
            ("auth.refresh_ms", config.auth.refresh_ms as usize),
            ("log.capacity", config.log.capacity),
            ("log.batch_rows", config.log.batch_rows),
            ("log.write_timeout_ms", config.log.write_timeout_ms as usize),
            (
                "log.text_retention_days",
                config.log.text_retention_days as usize,
            ),
        ] {
            if value == 0 {
                return Err(bad(format!("{field}: must be at least 1")));
            }
        }
        // the name also names the spill file and the prediction log's rows
        let name = &config.service.name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || name.starts_with('.')
        {
            return Err(bad(format!(
                "service.name: {name:?} must be 1 to 64 of A-Z a-z 0-9 - _ . (not starting with .)"
            )));
        }
        Ok(config)
    }

    pub fn model_ref(&self) -> Result<ModelRef, sluice_pipeline::InferenceError> {
        self.service.model.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[service]\nname = \"m\"\nmodel = \"chat-moderation@production\"\n";

    #[test]
    fn the_example_parses_and_its_policy_decides_by_score_and_rules() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/chat-moderation/serve.toml"
        ))
        .unwrap();
        let config = Config::parse(&text, "serve.toml").unwrap();
        let policy = &config.policy;
        assert_eq!(policy.decide(0.1, &[]), Action::Allow);
        assert_eq!(policy.decide(0.35, &[]), Action::Warn);
        assert_eq!(policy.decide(0.7, &[]), Action::Escalate);
        assert_eq!(policy.decide(0.95, &[]), Action::Block);
        // a slur blocks whatever the score; a rule only raises the action
        assert_eq!(
            policy.decide(0.0, &["lexicon.en.bastard".into()]),
            Action::Block
        );
        assert_eq!(policy.decide(0.0, &["pii.phone".into()]), Action::Warn);
        assert_eq!(policy.decide(0.0, &["pii.card".into()]), Action::Block);
        assert_eq!(policy.decide(0.7, &["pii.email".into()]), Action::Escalate);
        // a prefix matches whole segments only
        assert_eq!(policy.decide(0.0, &["piiish".into()]), Action::Allow);
        assert_eq!(config.fail_safe.action, Action::Escalate);
        assert_eq!(config.fail_safe.rule, "detector_error");
    }

    #[test]
    fn errors_name_the_field() {
        let error = |extra: &str| {
            Config::parse(&format!("{BASE}{extra}"), "serve.toml")
                .unwrap_err()
                .to_string()
        };
        assert!(error("[limits]\nmax_rows = 0\n").contains("limits.max_rows"));
        assert!(error("[limits]\nmax_rowz = 3\n").contains("max_rowz"));
        assert!(error("[policy]\nblock_at = 1.5\n").contains("policy.block_at"));
        assert!(error("[policy]\nwarn_at = 0.8\n").contains("warn_at <= escalate_at"));
        assert!(error("[policy.rules]\nlexicon = \"ban\"\n").contains("ban"));
        assert!(error("[fail_safe]\naction = \"maybe\"\n").contains("maybe"));
        assert!(error("[log]\nbatch_rows = 0\n").contains("log.batch_rows"));
        assert!(error("[auth]\nrefresh_ms = 0\n").contains("auth.refresh_ms"));
        assert!(error("[tls]\ncert = \"c.pem\"\n").contains("key"));
        // the service name also names a file: no path tricks
        for name in ["../x", "a/b", ".hidden", ""] {
            let text = format!("[service]\nname = \"{name}\"\nmodel = \"m@production\"\n");
            let e = Config::parse(&text, "serve.toml").unwrap_err().to_string();
            assert!(e.contains("service.name"), "{e}");
        }
        let defaults = Config::parse(BASE, "serve.toml").unwrap();
        assert!(defaults.auth.required);
        assert!(!defaults.log.keep_text);
        assert!(defaults.tls.is_none());
        let missing = Config::parse("[service]\nname = \"m\"\n", "serve.toml")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("model"), "{missing}");
        let bad_ref = Config::parse("[service]\nname = \"m\"\nmodel = \"m\"\n", "serve.toml")
            .unwrap_err()
            .to_string();
        assert!(bad_ref.contains("service.model"), "{bad_ref}");
    }
}
