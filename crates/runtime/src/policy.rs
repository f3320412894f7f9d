//! Who may touch what: `policy.toml`, grants by plugin name or digest, and
//! the effective grant (what a step declares ∩ what the policy allows).
//!
//! The default is nothing: no columns, no directories, no environment, and
//! conservative CPU / memory / output bounds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::contract;
use sluice_core::Digest;
use sluice_core::contract::{ColumnSpec, ColumnType, Params, StepInfo};
use sluice_core::units::{parse_duration, parse_size};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: [plugin.{plugin}] {field}: {message}")]
    Field {
        path: PathBuf,
        plugin: String,
        field: &'static str,
        message: String,
    },
    #[error(
        "plugin `{plugin}`: refused before compiling: its bytes have digest {actual}, but {policy} pins `{plugin}` to {expected}"
    )]
    DigestMismatch {
        plugin: String,
        policy: PathBuf,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "plugin `{plugin}`: refused after compiling and `describe()` (nothing cached): it declares itself `{declared}`, which {policy} pins to {expected}, but its bytes have digest {actual}"
    )]
    DeclaredNamePinned {
        plugin: String,
        declared: String,
        policy: PathBuf,
        // as text: five fields of this variant as digests would make every
        // `Result<_, PolicyError>` larger
        expected: String,
        actual: String,
    },
    #[error("plugin `{plugin}`: {problems}")]
    Columns { plugin: String, problems: String },
}

/// Resource bounds for one plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Guest execution time per call (one chunk), enforced by epoch interruption.
    pub cpu: Duration,
    /// Wall time for a whole pipeline step (all chunks), checked between chunks.
    pub timeout: Duration,
    /// Linear memory, bytes.
    pub memory: u64,
    /// Table elements (indirect function tables).
    pub table_elements: u64,
    /// Rows one call may return.
    pub max_output_rows: u64,
    /// Bytes one call may return (column buffers).
    pub max_output_bytes: u64,
    /// Bytes of log (host `log` calls plus stdout and stderr) per session.
    pub log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Duration::from_secs(10),
            timeout: Duration::from_secs(3600),
            memory: 256 << 20,
            table_elements: 20_000,
            max_output_rows: 1_000_000,
            max_output_bytes: 256 << 20,
            log_bytes: 1 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirMode {
    #[serde(rename = "ro")]
    ReadOnly,
    #[serde(rename = "rw")]
    ReadWrite,
}

/// A host directory mapped into the guest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirGrant {
    pub host: PathBuf,
    pub guest: String,
    pub mode: DirMode,
}

/// A set of column names; `*` grants every column.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ColumnSet(pub Vec<String>);

impl ColumnSet {
    pub fn allows(&self, column: &str) -> bool {
        self.0.iter().any(|c| c == column || c == "*")
    }
}

/// Everything one plugin is allowed.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Grant {
    /// The policy entry this came from (`None` = the default: nothing).
    pub entry: Option<String>,
    pub read: ColumnSet,
    pub write: ColumnSet,
    pub dirs: Vec<DirGrant>,
    pub env: BTreeMap<String, String>,
    pub limits: Limits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    plugin: BTreeMap<String, EntryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    digest: Option<String>,
    path: Option<PathBuf>,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    dirs: Vec<DirFile>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cpu: Option<String>,
    timeout: Option<String>,
    memory: Option<String>,
    table_elements: Option<u64>,
    max_output_rows: Option<u64>,
    max_output_bytes: Option<String>,
    log: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirFile {
    host: PathBuf,
    guest: String,
    mode: DirMode,
}

#[derive(Debug, Clone)]
struct Entry {
    digest: Option<Digest>,
    /// Where the plugin's bytes live (`path = "..."`, relative to the policy file).
    path: Option<PathBuf>,
    grant: Grant,
}

/// A parsed `policy.toml`.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    path: PathBuf,
    by_name: BTreeMap<String, Entry>,
    by_digest: BTreeMap<Digest, Entry>,
}

impl Policy {
    /// The empty policy: every plugin gets the default grant (nothing).
    pub fn deny_all() -> Self {
        Policy {
            path: PathBuf::from("<no policy>"),
            ..Default::default()
        }
    }

    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Parses policy text; relative directory grants resolve against `base`.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::File {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut policy = Policy {
            path: path.to_path_buf(),
            ..Default::default()
        };
        for (key, entry) in file.plugin {
            let field_error = |field: &'static str, message: String| PolicyError::Field {
                path: path.to_path_buf(),
                plugin: key.clone(),
                field,
                message,
            };
            let defaults = Limits::default();
            let limits = Limits {
                cpu: entry
                    .cpu
                    .as_deref()
                    .map(parse_duration)
                    .transpose()
                    .map_err(|m| field_error("cpu", m))?
                    .unwrap_or(defaults.cpu),
                timeout: entry
                    .timeout
                    .as_deref()
                    .map(parse_duration)
                    .transpose()
                    .map_err(|m| field_error("timeout", m))?
                    .unwrap_or(defaults.timeout),
                memory: entry
                    .memory
                    .as_deref()
                    .map(parse_size)
                    .transpose()
                    .map_err(|m| field_error("memory", m))?
                    .unwrap_or(defaults.memory),
                table_elements: entry.table_elements.unwrap_or(defaults.table_elements),
                max_output_rows: entry.max_output_rows.unwrap_or(defaults.max_output_rows),
                max_output_bytes: entry
                    .max_output_bytes
                    .as_deref()
                    .map(parse_size)
                    .transpose()
                    .map_err(|m| field_error("max_output_bytes", m))?
                    .unwrap_or(defaults.max_output_bytes),
                log_bytes: entry
                    .log
                    .as_deref()
                    .map(parse_size)
                    .transpose()
                    .map_err(|m| field_error("log", m))?
                    .unwrap_or(defaults.log_bytes),
            };
            let mut dirs = Vec::new();
            for dir in entry.dirs {
                if !dir.guest.starts_with('/') {
                    return Err(field_error(
                        "dirs",
                        format!("guest path `{}` must be absolute", dir.guest),
                    ));
                }
                let host = base.join(&dir.host);
                if !host.is_dir() {
                    return Err(field_error(
                        "dirs",
                        format!("host directory `{}` does not exist", host.display()),
                    ));
                }
                dirs.push(DirGrant {
                    host,
                    guest: dir.guest,
                    mode: dir.mode,
                });
            }
            let grant = Grant {
                entry: Some(key.clone()),
                read: ColumnSet(entry.read),
                write: ColumnSet(entry.write),
                dirs,
                env: entry.env,
                limits,
            };
            let key_digest = key
                .starts_with(sluice_core::DIGEST_PREFIX)
                .then(|| key.parse::<Digest>())
                .transpose()
                .map_err(|e| field_error("name", e.to_string()))?;
            let location = entry.path.as_ref().map(|p| base.join(p));
            let pinned = entry
                .digest
                .as_deref()
                .map(str::parse::<Digest>)
                .transpose()
                .map_err(|e| field_error("digest", e.to_string()))?;
            match key_digest {
                Some(digest) => {
                    policy.by_digest.insert(
                        digest,
                        Entry {
                            digest: Some(digest),
                            path: None,
                            grant,
                        },
                    );
                }
                None => {
                    if let Some(digest) = pinned {
                        policy.by_digest.insert(
                            digest,
                            Entry {
                                digest: Some(digest),
                                path: None,
                                grant: grant.clone(),
                            },
                        );
                    }
                    policy.by_name.insert(
                        key.clone(),
                        Entry {
                            digest: pinned,
                            path: location,
                            grant,
                        },
                    );
                }
            }
        }
        Ok(policy)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `.wasm` file a policy entry points at (`path = "..."`), if any.
    pub fn plugin_location(&self, name: &str) -> Option<&Path> {
        self.by_name.get(name).and_then(|e| e.path.as_deref())
    }

    /// A digest of the policy text's meaning (entries and grants), to
    /// notice grant changes between runs.
    pub fn fingerprint(&self) -> String {
        let mut entries: Vec<String> = self
            .by_name
            .iter()
            .map(|(k, e)| format!("{k}={:?}{:?}", e.digest, e.grant))
            .collect();
        entries.extend(
            self.by_digest
                .iter()
                .map(|(k, e)| format!("{k}={:?}", e.grant)),
        );
        Digest::of(entries.join("\n").as_bytes()).to_string()
    }

    /// The grant for a plugin known by `name` (if any) with these bytes'
    /// `digest`. A name pinned to another digest is refused, before the
    /// bytes are ever compiled. Unknown plugins get the default: nothing.
    pub fn grant_for(&self, name: Option<&str>, digest: &Digest) -> Result<Grant, PolicyError> {
        if let Some(entry) = name.and_then(|n| self.by_name.get(n)) {
            if let Some(expected) = entry.digest
                && expected != *digest
            {
                return Err(PolicyError::DigestMismatch {
                    plugin: name.unwrap().to_string(),
                    policy: self.path.clone(),
                    expected,
                    actual: *digest,
                });
            }
            return Ok(entry.grant.clone());
        }
        if let Some(entry) = self.by_digest.get(digest) {
            return Ok(entry.grant.clone());
        }
        Ok(Grant::default())
    }
}

impl Policy {
    /// A plugin referred to as `plugin` declares itself `declared`: a pin
    /// on the declared name must hold for these bytes. The declared name
    /// never selects a grant (that is the referred name's or the digest's
    /// entry), it can only get bytes refused.
    pub fn check_declared_name(
        &self,
        plugin: &str,
        declared: &str,
        digest: &Digest,
    ) -> Result<(), PolicyError> {
        match self.by_name.get(declared).and_then(|e| e.digest) {
            Some(expected) if expected != *digest => Err(PolicyError::DeclaredNamePinned {
                plugin: plugin.to_string(),
                declared: crate::guest_text(declared),
                policy: self.path.clone(),
                expected: expected.to_string(),
                actual: digest.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

/// What a step may actually touch for given params: declared ∩ granted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectiveGrant {
    pub plugin: String,
    /// (column, type) the step receives.
    pub reads: Vec<(String, ColumnType)>,
    /// (column, type) the step must return.
    pub writes: Vec<(String, ColumnType)>,
    /// Optional columns declared but not granted: the step will not see them.
    pub withheld: Vec<String>,
    pub grant: Grant,
}

impl EffectiveGrant {
    /// Intersects the step's declaration (resolved for `params`) with
    /// `grant`. A required column that is declared but not granted is an
    /// error naming it: the step could not run.
    /// `plugin` is the name the plugin was loaded under (errors name it).
    pub fn new(
        plugin: &str,
        info: &StepInfo,
        params: &Params,
        grant: &Grant,
    ) -> Result<Self, PolicyError> {
        let reads = StepInfo::resolve_columns(&info.reads, params);
        let writes = StepInfo::resolve_columns(&info.writes, params);
        let mut problems = Vec::new();
        let mut effective_reads = Vec::new();
        let mut withheld = Vec::new();
        for (name, spec) in &reads {
            if grant.read.allows(name) {
                effective_reads.push((name.clone(), spec.ty));
            } else if spec.optional {
                withheld.push(name.clone());
            } else {
                problems.push(format!(
                    "reads column `{name}` but the policy does not grant it ({})",
                    describe_set("read", &grant.read)
                ));
            }
        }
        let mut effective_writes = Vec::new();
        for (name, ColumnSpec { ty, .. }) in &writes {
            if grant.write.allows(name) {
                effective_writes.push((name.clone(), *ty));
            } else {
                problems.push(format!(
                    "writes column `{name}` but the policy does not grant it ({})",
                    describe_set("write", &grant.write)
                ));
            }
        }
        if !problems.is_empty() {
            return Err(PolicyError::Columns {
                plugin: plugin.to_string(),
                problems: problems.join("; "),
            });
        }
        Ok(EffectiveGrant {
            plugin: plugin.to_string(),
            reads: effective_reads,
            writes: effective_writes,
            withheld,
            grant: grant.clone(),
        })
    }
}

fn describe_set(field: &str, set: &ColumnSet) -> String {
    if set.0.is_empty() {
        format!("{field} = []")
    } else {
        format!("{field} = {:?}", set.0)
    }
}

/// WASI interfaces every plugin may import: std's baseline (I/O streams,
/// exit, an empty environment, captured stdio) plus clocks and randomness,
/// which the host makes deterministic.
const BASELINE_IMPORTS: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// File system interfaces. Importing them is harmless without a `dirs`
/// grant: with no preopened directory there is no path that resolves, so a
/// plugin may carry optional file support (e.g. extra term lists) and still
/// load under a grant without directories.
const FILESYSTEM_IMPORTS: &[&str] = &["wasi:filesystem/types", "wasi:filesystem/preopens"];

impl Grant {
    /// Whether a component may import `name` (e.g. `wasi:io/streams@0.2.6`)
    /// under this grant. Sockets and HTTP are never allowed.
    pub fn allows_import(&self, name: &str) -> bool {
        let (interface, version) = name.split_once('@').unwrap_or((name, ""));
        if contract::is_contract_interface(interface) {
            return contract::links_contract_version(version);
        }
        if !version.starts_with("0.2.") {
            return false;
        }
        BASELINE_IMPORTS.contains(&interface) || FILESYSTEM_IMPORTS.contains(&interface)
    }

    /// Why an import is refused, for error messages.
    pub fn import_refusal(&self, name: &str) -> &'static str {
        if name.starts_with("wasi:sockets/") || name.starts_with("wasi:http/") {
            "network access is never granted"
        } else {
            "not part of the plugin contract"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
[plugin.clean-text]
digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
read = ["text"]
write = ["text_clean"]
cpu = "2s"
memory = "64MiB"

[plugin."sha256:0000000000000000000000000000000000000000000000000000000000000002"]
read = ["*"]
"#;

    fn digest(n: u8) -> Digest {
        let mut bytes = [0u8; 32];
        bytes[31] = n;
        Digest(bytes)
    }

    #[test]
    fn grants_by_name_and_digest_and_defaults_to_nothing() {
        let policy = Policy::parse(POLICY, Path::new("policy.toml"), Path::new(".")).unwrap();
        let grant = policy.grant_for(Some("clean-text"), &digest(1)).unwrap();
        assert!(grant.read.allows("text") && !grant.read.allows("secret"));
        assert_eq!(grant.limits.cpu, Duration::from_secs(2));
        assert_eq!(grant.limits.memory, 64 << 20);
        assert!(
            policy
                .grant_for(None, &digest(2))
                .unwrap()
                .read
                .allows("anything")
        );
        assert_eq!(
            policy.grant_for(Some("other"), &digest(3)).unwrap(),
            Grant::default()
        );
    }

    #[test]
    fn pinned_name_refuses_other_bytes() {
        let policy = Policy::parse(POLICY, Path::new("policy.toml"), Path::new(".")).unwrap();
        let err = policy
            .grant_for(Some("clean-text"), &digest(9))
            .unwrap_err()
            .to_string();
        assert!(err.contains("clean-text") && err.contains("pins"), "{err}");
    }

    #[test]
    fn bad_policy_files_name_the_problem() {
        let err = Policy::parse(
            "[plugin.x]\nreed = []\n",
            Path::new("p.toml"),
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("p.toml") && err.contains("reed"), "{err}");
        let err = Policy::parse(
            "[plugin.x]\nmemory = \"lots\"\n",
            Path::new("p.toml"),
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("[plugin.x] memory"), "{err}");
        let err = Policy::parse(
            "[plugin.x]\ndirs = [{ host = \"/nonexistent-dir\", guest = \"/d\", mode = \"ro\" }]\n",
            Path::new("p.toml"),
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn import_allow_list_follows_the_grant() {
        let grant = Grant::default();
        assert!(grant.allows_import("wasi:io/streams@0.2.6"));
        assert!(grant.allows_import("sluice:plugin/host@0.1.0"));
        assert!(!grant.allows_import("sluice:plugin/host@1.0.0"));
        assert!(!grant.allows_import("wasi:sockets/tcp@0.2.6"));
        assert!(grant.allows_import("wasi:filesystem/preopens@0.2.6"));
        assert!(!grant.allows_import("wasi:keyvalue/store@0.2.0"));
        assert!(!grant.allows_import("wasi:http/outgoing-handler@0.2.6"));
    }
}
