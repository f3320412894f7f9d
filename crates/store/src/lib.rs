//! The persistent store: runs, step runs, artifacts and their lineage, the
//! step cache, seen plugins, a hash-chained append-only audit log, the
//! model registry, API tokens and the prediction log.
//!
//! One SQL dialect serves both backends: `$N` placeholders (SQLite reads
//! them as numbered parameters), `ON CONFLICT ... DO UPDATE/NOTHING`,
//! `RETURNING`, `BIGINT`. Only the DDL differs (`migrations/sqlite` vs
//! `migrations/postgres`: id columns, booleans, triggers).

mod audit;
mod error;
mod prediction_log;
mod query;
mod types;
mod url;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_core::Digest;
use sluice_core::text;
use sluice_data::FileFingerprint;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub use error::StoreError;
pub use prediction_log::{
    PredictionLog, PredictionLogConfig, PredictionLogError, PredictionLogStats,
};
pub use predictions::PREDICTION_TEXT_LIMIT;
pub use rollout::ReviewCounts;
pub use tokens::{TOKEN_PREFIX, TokenSet};
pub use types::{
    AliasChange, AliasRecord, ArtifactKind, ArtifactRecord, AuditAnchor, AuditCheckpoint,
    AuditRecord, AuditVerification, BrokenAuditRow, CacheEntry, CacheHit, DeploymentMode,
    DeploymentRecord, DeploymentStatus, FeedbackRecord, FileRecord, ModelVersionRecord,
    NewArtifact, NewDeployment, NewFeedback, NewModelVersion, NewPrediction, NewStepLog, NewToken,
    ParseEnumError, PluginRecord, PredictionRecord, RunLease, RunRecord, RunStatus, StepLogKind,
    StepLogRecord, StepOutcome, StepRunRecord, StepStatus, TokenRecord, TokenRole,
    prediction_text_hash,
};

use audit::{GENESIS, PG_AUDIT_LOCK, RowContent, canonical_json, row_hash};
use error::OpError;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Bytes kept of a step's captured stdout or stderr (one row each): the
/// runtime's `log` budget bounds them already; this bounds a row whatever
/// the grant was.
pub const STDIO_LIMIT: usize = 1 << 20;

/// An error message as stored: guest text inside it may carry escape
/// sequences or be huge, and it is stored for the run and its step.
fn bounded_message(message: &str) -> String {
    text::cleaned(message, text::MESSAGE_LIMIT).into_owned()
}

/// How long a SQLite writer waits for another writer's lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Rows per page when verifying the audit chain (bounded memory).
const VERIFY_PAGE: i64 = 1000;
/// How long a run's lease holds without renewal: a process that stops
/// heartbeating for this long is taken for dead and its run recovered.
pub const DEFAULT_RUN_LEASE: Duration = Duration::from_secs(30);

/// Handle to the store; cheap to clone (the pool is shared).
///
/// Backed by an enum of the two concrete pools rather than `sqlx::Any`:
/// the concrete drivers keep native types (`BOOLEAN` on PostgreSQL), need
/// no runtime driver registration, and let the few backend-specific steps
/// (`BEGIN IMMEDIATE`, advisory locks) be plain code. The query text is
/// shared; the `with_pool!`/`with_write_tx!` macros expand one body per
/// backend so each compiles against its own driver.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    display_url: Arc<str>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.display_url)
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$pool` bound to whichever concrete pool the store has.
macro_rules! with_pool {
    ($backend:expr, $pool:ident => $body:expr) => {
        match $backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` (which may use `?`) in a write transaction bound to `$tx`
/// and commits; an error drops the transaction, rolling it back.
///
/// SQLite: `BEGIN IMMEDIATE` takes the write lock up front, so concurrent
/// writers queue in the busy timeout instead of failing with SQLITE_BUSY
/// when a read tries to upgrade to a write. PostgreSQL: with `lock = key`,
/// a transaction-scoped advisory lock serialises the critical section.
macro_rules! with_write_tx {
    ($backend:expr, $tx:ident => $body:expr) => {
        with_write_tx!($backend, $tx, lock = None::<i64> => $body)
    };
    ($backend:expr, $tx:ident, lock = $lock:expr => $body:expr) => {
        match $backend {
            Backend::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                if let Some(key) = $lock {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(key)
                        .execute(&mut *$tx)
                        .await?;
                }
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// The database's clock in unix ms, as SQL. Leases are set and compared on
/// one clock (the database's), so processes on hosts whose clocks disagree
/// still agree on whether a lease expired.
fn sql_now(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite(_) => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        Backend::Postgres(_) => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

/// `sql` with `{now}` replaced by the backend's clock expression.
fn with_db_clock(backend: &Backend, sql: &str) -> String {
    sql.replace("{now}", sql_now(backend))
}

/// `host:pid:token` for a new run: host and pid say which process to look
/// for; the random token tells apart runs of one process and reused pids.
fn new_owner() -> String {
    let mut token = [0u8; 8];
    if getrandom::fill(&mut token).is_err() {
        // no OS randomness: the clock still tells runs apart in practice
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        token = nanos.to_le_bytes();
    }
    format!(
        "{}:{}:{}",
        host_name(),
        std::process::id(),
        hex::encode(token)
    )
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Why a change to `lease`'s run found no row it still owns; `row` is the
/// run's current status and owner.
fn lease_lost(lease: &RunLease, row: Option<(String, Option<String>)>) -> OpError {
    let Some((status, owner)) = row else {
        return OpError::NotFound {
            what: "run",
            key: lease.run.to_string(),
        };
    };
    let reason = match owner {
        Some(owner) if owner != lease.owner() => format!("it is {status} under {owner}"),
        None => format!("it is {status} and has no owner"),
        Some(_) if status == RunStatus::Cancelled.as_str() => {
            "it is cancelled (its lease expired and another process recovered it)".to_owned()
        }
        Some(_) => format!("it is already {status}"),
    };
    OpError::LeaseLost {
        run: lease.run,
        owner: lease.owner().to_owned(),
        reason,
    }
}

fn now_ms() -> i64 {
    // A clock before 1970 is a broken machine; 0 keeps rows writable.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn check_limit(limit: i64) -> Result<(), OpError> {
    if limit < 0 {
        return Err(OpError::Invalid(format!(
            "limit must not be negative, got {limit}"
        )));
    }
    Ok(())
}

/// Turns a foreign-key violation into "`what` `key` does not exist".
fn missing_parent(e: sqlx::Error, what: &'static str, key: impl Into<String>) -> OpError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => OpError::NotFound {
            what,
            key: key.into(),
        },
        _ => OpError::Sql(e),
    }
}

/// `SELECT <every runs column> FROM runs <tail>` as a `&'static str`.
macro_rules! select_runs {
    ($tail:literal) => {
        concat!(
            "SELECT id, pipeline, pipeline_digest, status, started_at, finished_at, error, owner, \
                 lease_expires_at FROM runs ",
            $tail
        )
    };
}

fn check_artifact(artifact: &NewArtifact) -> Result<(), OpError> {
    if artifact.bytes < 0 || artifact.rows.is_some_and(|r| r < 0) {
        return Err(OpError::Invalid(
            "rows and bytes must not be negative".into(),
        ));
    }
    Ok(())
}

fn check_terminal(step_run: i64, outcome: &StepOutcome) -> Result<(), OpError> {
    if outcome.status.is_terminal() {
        Ok(())
    } else {
        Err(OpError::Invalid(format!(
            "cannot finish step run {step_run} with status `{}`",
            outcome.status
        )))
    }
}

/// Inserts `$artifact` and, when it is new, its lineage rows (one
/// statement). Content-addressed: an existing digest keeps its first
/// producer. `$exec` is a transaction.
/// Inserts or replaces a file's fingerprint row.
macro_rules! upsert_fingerprint {
    ($exec:ident, $file:expr, $now:expr) => {{
        let file: &FileRecord = $file;
        sqlx::query(
            "INSERT INTO file_fingerprints (path, bytes, mtime_ns, ctime_ns, inode, device, digest, \
             recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (path) DO UPDATE SET \
             bytes = excluded.bytes, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, \
             inode = excluded.inode, device = excluded.device, digest = excluded.digest, \
             recorded_at = excluded.recorded_at",
        )
        .bind(&file.path)
        .bind(file.fingerprint.bytes as i64)
        .bind(file.fingerprint.mtime_ns)
        .bind(file.fingerprint.ctime_ns)
        .bind(file.fingerprint.inode as i64)
        .bind(file.fingerprint.device as i64)
        .bind(&file.digest)
        .bind($now)
        .execute(&mut *$exec)
        .await?;
    }};
}

macro_rules! insert_artifact {
    ($exec:ident, $artifact:expr, $now:expr) => {{
        let artifact: &NewArtifact = $artifact;
        let inserted = sqlx::query(
            "INSERT INTO artifacts (digest, kind, path, rows, bytes, created_by_run, created_by_step, \
             plugin_digest, params, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&artifact.digest)
        .bind(artifact.kind.as_str())
        .bind(&artifact.path)
        .bind(artifact.rows)
        .bind(artifact.bytes)
        .bind(artifact.created_by_run)
        .bind(&artifact.created_by_step)
        .bind(artifact.plugin_digest)
        .bind(artifact.params.to_string())
        .bind($now)
        .execute(&mut *$exec)
        .await
        .map_err(|e| missing_parent(e, "run", artifact.created_by_run.to_string()))?
        .rows_affected()
            == 1;
        if inserted && !artifact.inputs.is_empty() {
            let mut sql = String::from(
                "INSERT INTO artifact_inputs (artifact_digest, input_digest, position) VALUES ",
            );
            for i in 0..artifact.inputs.len() {
                let base = 2 + 2 * i;
                let sep = if i == 0 { "" } else { ", " };
                sql.push_str(&format!("{sep}($1, ${base}, ${})", base + 1));
            }
            // the SQL is built from placeholders only; every value is bound
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&artifact.digest);
            for (position, input) in artifact.inputs.iter().enumerate() {
                query = query.bind(input).bind(position as i64);
            }
            query.execute(&mut *$exec).await?;
        }
        if inserted {
            tracing::debug!(digest = %artifact.digest, kind = %artifact.kind, "artifact recorded");
        } else {
            tracing::debug!(digest = %artifact.digest, "artifact already recorded");
        }
    }};
}

/// Inserts or replaces a step-cache entry and its metrics; `$exec` is a
/// connection or transaction.
macro_rules! upsert_cache {
    ($exec:ident, $entry:expr, $now:expr) => {{
        let entry: &CacheEntry = $entry;
        sqlx::query(
            "INSERT INTO step_cache (cache_key, output_digest, state_digest, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (cache_key) DO UPDATE SET \
             output_digest = excluded.output_digest, state_digest = excluded.state_digest, \
             created_at = excluded.created_at",
        )
        .bind(&entry.cache_key)
        .bind(entry.output_digest)
        .bind(entry.state_digest)
        .bind($now)
        .execute(&mut *$exec)
        .await
        .map_err(|e| {
            let key = match &entry.state_digest {
                Some(state) => format!("{} or {state}", entry.output_digest),
                None => entry.output_digest.to_string(),
            };
            missing_parent(e, "artifact", key)
        })?;
        sqlx::query("DELETE FROM step_metrics WHERE cache_key = $1")
            .bind(&entry.cache_key)
            .execute(&mut *$exec)
            .await?;
        // many rows per statement: a curve can be hundreds of points
        for (batch, metrics) in entry.metrics.chunks(100).enumerate() {
            let mut sql = String::from(
                "INSERT INTO step_metrics (cache_key, position, name, value, labels) VALUES ",
            );
            for i in 0..metrics.len() {
                let base = 2 + 4 * i;
                let sep = if i == 0 { "" } else { ", " };
                sql.push_str(&format!(
                    "{sep}($1, ${base}, ${}, ${}, ${})",
                    base + 1,
                    base + 2,
                    base + 3
                ));
            }
            // the SQL is built from placeholders only; every value is bound
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&entry.cache_key);
            for (i, metric) in metrics.iter().enumerate() {
                let labels = serde_json::to_string(&metric.labels).expect("labels serialise");
                query = query
                    .bind((batch * 100 + i) as i64)
                    .bind(&metric.name)
                    .bind(metric.value)
                    .bind(labels);
            }
            query.execute(&mut *$exec).await?;
        }
    }};
}

/// Moves a `pending`/`running` step run of `$run` to its terminal outcome;
/// errors name the step run when it is unknown, of another run, or over.
macro_rules! update_step {
    ($exec:ident, $run:expr, $step_run:expr, $outcome:expr, $now:expr) => {{
        let run: i64 = $run;
        let step_run: i64 = $step_run;
        let outcome: &StepOutcome = $outcome;
        let updated = sqlx::query(
            "UPDATE step_runs SET status = $1, cache_hit = $2, finished_at = $3, cpu_ms = $4, \
             peak_memory = $5, rows_in = $6, rows_out = $7, attempts = $8, error = $9, \
             output_digest = $11 WHERE id = $10 AND run_id = $12 AND status IN ('pending', 'running')",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.cache_hit)
        .bind($now)
        .bind(outcome.cpu_ms)
        .bind(outcome.peak_memory)
        .bind(outcome.rows_in)
        .bind(outcome.rows_out)
        .bind(outcome.attempts)
        .bind(outcome.error.as_deref().map(bounded_message))
        .bind(step_run)
        .bind(outcome.output_digest)
        .bind(run)
        .execute(&mut *$exec)
        .await?
        .rows_affected();
        if updated == 0 {
            let found: Option<(String, i64)> =
                sqlx::query_as("SELECT status, run_id FROM step_runs WHERE id = $1")
                    .bind(step_run)
                    .fetch_optional(&mut *$exec)
                    .await?;
            return Err(match found {
                Some((status, of_run)) if of_run == run => {
                    OpError::Invalid(format!("step run {step_run} is already {status}"))
                }
                Some((_, of_run)) => OpError::Invalid(format!(
                    "step run {step_run} belongs to run {of_run}, not run {run}"
                )),
                None => OpError::NotFound {
                    what: "step run",
                    key: step_run.to_string(),
                },
            });
        }
    }};
}

/// The first statement of every change to a run or its steps, inside the
/// change's write transaction: renews the lease (a change is a heartbeat
/// too) if `$lease` still owns the running run, else returns why not. On
/// PostgreSQL the update also locks the run row until commit, so recovery
/// cannot cancel the run in the middle of the change.
macro_rules! hold_lease {
    ($tx:ident, $backend:expr, $lease:expr) => {{
        let lease: &RunLease = $lease;
        let sql = with_db_clock(
            $backend,
            "UPDATE runs SET lease_expires_at = {now} + $1 \
             WHERE id = $2 AND owner = $3 AND status = 'running'",
        );
        let held = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lease.ttl_ms())
            .bind(lease.run)
            .bind(lease.owner())
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            == 1;
        if !held {
            let row: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT status, owner FROM runs WHERE id = $1")
                    .bind(lease.run)
                    .fetch_optional(&mut *$tx)
                    .await?;
            return Err(lease_lost(lease, row));
        }
    }};
}

/// Appends one audit row chained to the last; `$tx` is a write
/// transaction holding the audit lock. Evaluates to the new row's id.
macro_rules! append_audit {
    ($tx:ident, $at:expr, $actor:expr, $action:expr, $subject:expr, $detail:expr) => {{
        let (at, actor, action, subject, detail): (i64, &str, &str, &str, &str) =
            ($at, $actor, $action, $subject, $detail);
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(&mut *$tx)
                .await?;
        let (id, prev_hash) = match last {
            Some((id, hash)) => (id + 1, hash),
            None => (1, GENESIS.to_owned()),
        };
        let row = RowContent {
            id,
            at,
            actor,
            action,
            subject,
            detail,
        };
        let hash = row_hash(&prev_hash, &row);
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, subject, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *$tx)
        .await?;
        id
    }};
}

mod predictions;
mod registry;
mod rollout;
mod tokens;

impl Store {
    /// Opens (creating if needed) and migrates the store at `url`:
    /// `sqlite:///abs/path.db`, `sqlite://relative.db`, `sqlite::memory:`,
    /// a bare file path (SQLite; the file and its parent directory are
    /// created), or `postgres://...` (the database must exist).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let redacted = url::redact(url);
        let target = url::parse(url).map_err(|reason| StoreError::BadUrl {
            url: redacted.clone(),
            reason,
        })?;
        match target {
            url::Target::SqliteFile(path) => Self::open_sqlite_file(path).await,
            url::Target::SqliteMemory => {
                let display = "sqlite::memory:".to_owned();
                // `new()` is an in-memory database until given a filename.
                let options = SqliteConnectOptions::new();
                // One connection that never expires: each in-memory connection is its own database.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(|cause| StoreError::Database {
                        op: "open",
                        url: display.clone(),
                        cause,
                    })?;
                Self::finish_open(Backend::Sqlite(pool), display).await
            }
            url::Target::Postgres => {
                let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl {
                    url: redacted.clone(),
                    reason: url::redact(&e.to_string()),
                })?;
                // A direct first connection reports the real failure (refused,
                // auth, no such database); the pool would retry a refused
                // connection until its timeout and then only say "timed out".
                let conn = PgConnection::connect_with(&options)
                    .await
                    .map_err(|cause| StoreError::Database {
                        op: "open",
                        url: redacted.clone(),
                        cause,
                    })?;
                let _ = conn.close().await;
                let pool = PgPoolOptions::new()
                    .max_connections(5)
                    .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options);
                Self::finish_open(Backend::Postgres(pool), redacted).await
            }
        }
    }

    /// The default store: SQLite at `<home>/sluice.db` (home is usually `.sluice`).
    pub async fn open_default(home: &Path) -> Result<Store, StoreError> {
        Self::open_sqlite_file(home.join("sluice.db")).await
    }

    async fn open_sqlite_file(path: PathBuf) -> Result<Store, StoreError> {
        let display = format!("sqlite://{}", path.display());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Blocking, but once per process and tiny.
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Io {
                op: "open",
                url: display.clone(),
                path: parent.to_path_buf(),
                message: format!("creating the directory: {e}"),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            // WAL: readers (e.g. `sluice runs` during a run) do not block the writer.
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: commits do not fsync (checkpoints do); the
            // database cannot corrupt, a power cut may lose the last commits
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        // sqlx takes no lock around SQLite migrations: two processes opening
        // a new (or just upgraded) file at once would both apply them and
        // one would fail (`table runs already exists`), and switching a new
        // file to WAL while another connection does can fail with `database
        // is locked`. A lock file next to the database serialises the whole
        // open; the database file itself must not be used, as closing any
        // handle on it drops SQLite's own locks.
        let lock_path = PathBuf::from(format!("{}-migrate.lock", path.display()));
        let io_error = |message: String| StoreError::Io {
            op: "open",
            url: display.clone(),
            path: lock_path.clone(),
            message,
        };
        let locking = lock_path.clone();
        let lock = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&locking)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| io_error(format!("locking for migrations: {e}")))?
        .map_err(|e| io_error(format!("locking for migrations: {e}")))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|cause| StoreError::Database {
                op: "open",
                url: display.clone(),
                cause,
            })?;
        let opened = Self::finish_open(Backend::Sqlite(pool), display).await;
        drop(lock); // closing the file releases the lock
        opened
    }

    async fn finish_open(backend: Backend, display_url: String) -> Result<Store, StoreError> {
        let migrated = match &backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await,
            Backend::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await,
        };
        if let Err(cause) = migrated {
            with_pool!(&backend, pool => pool.close().await);
            return Err(StoreError::Migrate {
                op: "open",
                url: display_url,
                cause,
            });
        }
        tracing::debug!(url = %display_url, "store opened");
        Ok(Store {
            backend,
            display_url: display_url.into(),
        })
    }

    /// The URL without any password, for messages and `--verbose` output.
    pub fn url_for_display(&self) -> String {
        self.display_url.to_string()
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections in use to come back (and
    /// letting SQLite checkpoint its WAL). Clones of this store stop working.
    pub async fn close(&self) {
        with_pool!(&self.backend, pool => pool.close().await);
    }

    /// Maps an op body's error into a [`StoreError`] naming `op` and the URL.
    async fn op<T>(
        &self,
        op: &'static str,
        body: impl Future<Output = Result<T, OpError>>,
    ) -> Result<T, StoreError> {
        body.await.map_err(|e| {
            let e = e.into_store_error(op, self.url_for_display());
            tracing::debug!(error = %e, "store operation failed");
            e
        })
    }

    // ---- runs -------------------------------------------------------------

    /// Creates a `running` run owned by this process under a lease of
    /// `ttl` (renewed by every change through the returned lease and by
    /// [`Store::keep_alive`]).
    pub async fn create_run(
        &self,
        pipeline: &str,
        pipeline_digest: &Digest,
        ttl: Duration,
    ) -> Result<RunLease, StoreError> {
        self.op("create_run", async {
            let owner: Arc<str> = new_owner().into();
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            let sql = with_db_clock(
                &self.backend,
                "INSERT INTO runs (pipeline, pipeline_digest, status, started_at, owner, lease_expires_at) \
                 VALUES ($1, $2, $3, $4, $5, {now} + $6) RETURNING id",
            );
            let id: i64 = with_pool!(&self.backend, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(pipeline)
                .bind(pipeline_digest)
                .bind(RunStatus::Running.as_str())
                .bind(now_ms())
                .bind(&*owner)
                .bind(ttl_ms)
                .fetch_one(pool)
                .await?);
            tracing::debug!(run = id, pipeline, %owner, "run created");
            Ok(RunLease {
                run: id,
                owner,
                ttl,
            })
        })
        .await
    }

    /// Renews the lease; fails with [`StoreError::LeaseLost`] when the run
    /// is over or no longer this lease's.
    pub async fn renew_lease(&self, lease: &RunLease) -> Result<(), StoreError> {
        self.op("renew_lease", async {
            with_write_tx!(&self.backend, tx => {
                hold_lease!(tx, &self.backend, lease);
            });
            Ok(())
        })
        .await
    }

    /// Renews `lease` every third of its ttl on the tokio runtime until the
    /// returned guard is dropped. When the lease is lost (the run was
    /// recovered by another process, or is over) it calls `on_lost` once and
    /// stops; other failures (the database briefly away) are logged and
    /// retried at the next beat.
    pub fn keep_alive(
        &self,
        lease: &RunLease,
        on_lost: impl FnOnce(&StoreError) + Send + 'static,
    ) -> Heartbeat {
        let store = self.clone();
        let lease = lease.clone();
        let every = (lease.ttl / 3).max(Duration::from_millis(50));
        let task = tokio::spawn(async move {
            let mut beats = tokio::time::interval(every);
            beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            beats.tick().await; // the first tick is immediate; the lease is fresh
            loop {
                beats.tick().await;
                match store.renew_lease(&lease).await {
                    Ok(()) => tracing::trace!(run = lease.run, "lease renewed"),
                    Err(e) if e.is_lease_lost() => {
                        tracing::error!(run = lease.run, error = %e, "the run's lease is lost");
                        on_lost(&e);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(run = lease.run, error = %e, "renewing the run's lease failed; retrying")
                    }
                }
            }
        });
        Heartbeat { task }
    }

    /// Ends the run `lease` owns and appends its `run.finish` audit entry in
    /// the same transaction (a crash between the two cannot leave a finished
    /// run unaudited). Finishing a run that is over or no longer this
    /// lease's, or finishing with `running`, is an error.
    pub async fn finish_run(
        &self,
        lease: &RunLease,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let run = lease.run;
        self.op("finish_run", async {
            if !status.is_terminal() {
                return Err(OpError::Invalid(format!(
                    "cannot finish run {run} with status `{status}`"
                )));
            }
            let now = now_ms();
            let detail = canonical_json(&serde_json::json!({"run": run, "status": status.as_str()}));
            with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                hold_lease!(tx, &self.backend, lease);
                let pipeline: String = sqlx::query_scalar(
                    "UPDATE runs SET status = $1, finished_at = $2, error = $3 WHERE id = $4 RETURNING pipeline",
                )
                .bind(status.as_str())
                .bind(now)
                .bind(error.map(bounded_message))
                .bind(run)
                .fetch_one(&mut *tx)
                .await?;
                append_audit!(tx, now, "sluice", "run.finish", &pipeline, &detail);
            });
            tracing::debug!(run, %status, "run finished");
            Ok(())
        })
        .await
    }

    /// Records the policy fingerprint `run` runs under and returns the one
    /// the previous run of the same pipeline ran under, if any.
    pub async fn record_run_policy(
        &self,
        lease: &RunLease,
        fingerprint: &str,
    ) -> Result<Option<String>, StoreError> {
        let run = lease.run;
        self.op("record_run_policy", async {
            let previous_sql = "SELECT policy_fingerprint FROM runs \
                                WHERE pipeline = (SELECT pipeline FROM runs WHERE id = $1) \
                                AND id < $1 AND policy_fingerprint IS NOT NULL \
                                ORDER BY id DESC LIMIT 1";
            let record_sql = "UPDATE runs SET policy_fingerprint = $1 WHERE id = $2";
            let (previous, updated) = with_write_tx!(&self.backend, tx => {
                hold_lease!(tx, &self.backend, lease);
                let previous: Option<String> = sqlx::query_scalar(previous_sql)
                    .bind(run)
                    .fetch_optional(&mut *tx)
                    .await?;
                let updated = sqlx::query(record_sql)
                    .bind(fingerprint)
                    .bind(run)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                (previous, updated)
            });
            if updated == 0 {
                return Err(OpError::NotFound {
                    what: "run",
                    key: run.to_string(),
                });
            }
            Ok(previous)
        })
        .await
    }

    /// The latest `limit` runs, newest first.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        self.op("runs", async {
            check_limit(limit)?;
            let sql = select_runs!("ORDER BY id DESC LIMIT $1");
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(limit)
                .fetch_all(pool)
                .await?))
        })
        .await
    }

    pub async fn run(&self, run: i64) -> Result<Option<RunRecord>, StoreError> {
        self.op("run", async {
            let sql = select_runs!("WHERE id = $1");
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(run)
                .fetch_optional(pool)
                .await?))
        })
        .await
    }

    /// Cancels the runs whose owner stopped renewing their lease (a crashed
    /// or killed process) and their unfinished steps, and appends each one's
    /// `run.finish` audit entry; returns the runs recovered. Runs whose
    /// lease still holds belong to a live process and are left alone, so
    /// any number of processes may call this at any time.
    pub async fn recover_interrupted(&self) -> Result<Vec<i64>, StoreError> {
        self.op("recover_interrupted", async {
            let expired = "status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < {now})";
            let find = with_db_clock(
                &self.backend,
                &format!("SELECT id, pipeline, owner, lease_expires_at FROM runs WHERE {expired} ORDER BY id"),
            );
            // A read first: the common case (nothing expired) takes no write lock.
            let candidates: Vec<(i64, String, Option<String>, Option<i64>)> =
                with_pool!(&self.backend, pool => sqlx::query_as(sqlx::AssertSqlSafe(find.as_str()))
                    .fetch_all(pool)
                    .await?);
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            let cancel_run = with_db_clock(
                &self.backend,
                &format!(
                    "UPDATE runs SET status = 'cancelled', finished_at = $1, error = COALESCE(error, $2) \
                     WHERE id = $3 AND {expired}"
                ),
            );
            let now = now_ms();
            let recovered = with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                let mut recovered = Vec::new();
                for (run, pipeline, owner, lease_expired_at) in &candidates {
                    let owner = owner.as_deref().unwrap_or("unknown");
                    let reason = format!(
                        "interrupted: its process ({owner}) stopped renewing the run's lease; recovered by {}",
                        host_name()
                    );
                    // Checked again under the write lock: the owner may have renewed since the read.
                    let cancelled = sqlx::query(sqlx::AssertSqlSafe(cancel_run.as_str()))
                        .bind(now)
                        .bind(&reason)
                        .bind(run)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if cancelled == 0 {
                        continue;
                    }
                    sqlx::query(
                        "UPDATE step_runs SET status = 'cancelled', finished_at = $1, error = COALESCE(error, $2) \
                         WHERE run_id = $3 AND status IN ('pending', 'running')",
                    )
                    .bind(now)
                    .bind(&reason)
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
                    let detail = canonical_json(&serde_json::json!({
                        "run": run,
                        "status": RunStatus::Cancelled.as_str(),
                        "recovered": true,
                        "owner": owner,
                        "lease_expired_at": lease_expired_at,
                    }));
                    append_audit!(tx, now, "sluice", "run.finish", pipeline, &detail);
                    recovered.push(*run);
                }
                recovered
            });
            if !recovered.is_empty() {
                tracing::warn!(runs = ?recovered, "cancelled runs whose process stopped (lease expired)");
            }
            Ok(recovered)
        })
        .await
    }

    // ---- step runs --------------------------------------------------------

    /// Records a step of `lease`'s run starting (status `running`, attempt 1).
    pub async fn start_step(
        &self,
        lease: &RunLease,
        step: &str,
        plugin_digest: Option<&Digest>,
        cache_key: &str,
    ) -> Result<i64, StoreError> {
        self.op("start_step", async {
            let sql = "INSERT INTO step_runs (run_id, step, plugin_digest, cache_key, status, cache_hit, started_at, attempts) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, 1) RETURNING id";
            let id: i64 = with_write_tx!(&self.backend, tx => {
                hold_lease!(tx, &self.backend, lease);
                sqlx::query_scalar(sql)
                    .bind(lease.run)
                    .bind(step)
                    .bind(plugin_digest)
                    .bind(cache_key)
                    .bind(StepStatus::Running.as_str())
                    .bind(false)
                    .bind(now_ms())
                    .fetch_one(&mut *tx)
                    .await?
            });
            Ok(id)
        })
        .await
    }

    /// Ends a `pending`/`running` step run of `lease`'s run with a
    /// terminal outcome.
    pub async fn finish_step(
        &self,
        lease: &RunLease,
        step_run: i64,
        outcome: &StepOutcome,
    ) -> Result<(), StoreError> {
        self.op("finish_step", async {
            check_terminal(step_run, outcome)?;
            let now = now_ms();
            with_write_tx!(&self.backend, tx => {
                hold_lease!(tx, &self.backend, lease);
                update_step!(tx, lease.run, step_run, outcome, now);
            });
            Ok(())
        })
        .await
    }

    /// The run's step runs in the order they started.
    pub async fn step_runs(&self, run: i64) -> Result<Vec<StepRunRecord>, StoreError> {
        self.op("step_runs", async {
            let sql = "SELECT id, run_id, step, plugin_digest, cache_key, status, cache_hit, started_at, \
                       finished_at, cpu_ms, peak_memory, rows_in, rows_out, attempts, error, output_digest \
                       FROM step_runs WHERE run_id = $1 ORDER BY id";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(run)
                .fetch_all(pool)
                .await?))
        })
        .await
    }

    /// Records what a step run's plugin left with the host (log lines,
    /// metrics, stdout, stderr, what it dropped), in order, in one write
    /// transaction. Each message is escaped and bounded
    /// ([`text::MESSAGE_LIMIT`]; stdout and stderr [`STDIO_LIMIT`]) whatever
    /// the caller did: guest text reaches the store only this way.
    pub async fn record_step_logs(
        &self,
        step_run: i64,
        logs: &[NewStepLog],
    ) -> Result<(), StoreError> {
        self.op("record_step_logs", async {
            let sql = "INSERT INTO step_logs (step_run_id, seq, kind, level, message, value) \
                       VALUES ($1, $2, $3, $4, $5, $6)";
            with_write_tx!(&self.backend, tx => {
                for (seq, log) in logs.iter().enumerate() {
                    let limit = match log.kind {
                        StepLogKind::Stdout | StepLogKind::Stderr => STDIO_LIMIT,
                        _ => text::MESSAGE_LIMIT,
                    };
                    sqlx::query(sql)
                        .bind(step_run)
                        .bind(seq as i64)
                        .bind(log.kind.as_str())
                        .bind(log.level.as_deref().map(|l| text::clean_line(l, 16)))
                        .bind(text::cleaned(&log.message, limit).into_owned())
                        .bind(log.value)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| missing_parent(e, "step run", step_run.to_string()))?;
                }
            });
            Ok(())
        })
        .await
    }

    /// The step log rows of a run's step runs, in step-run order.
    pub async fn step_logs(&self, run: i64) -> Result<Vec<StepLogRecord>, StoreError> {
        self.op("step_logs", async {
            let sql = "SELECT l.step_run_id, s.step, l.seq, l.kind, l.level, l.message, l.value \
                       FROM step_logs l JOIN step_runs s ON s.id = l.step_run_id \
                       WHERE s.run_id = $1 ORDER BY l.step_run_id, l.seq";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(run)
                .fetch_all(pool)
                .await?))
        })
        .await
    }

    // ---- artifacts --------------------------------------------------------

    /// Records an artifact and its lineage. Content-addressed, so putting a
    /// digest that exists is a no-op (the first producer stays recorded).
    pub async fn put_artifact(&self, artifact: &NewArtifact) -> Result<(), StoreError> {
        self.op("put_artifact", async {
            check_artifact(artifact)?;
            let now = now_ms();
            with_write_tx!(&self.backend, tx => {
                insert_artifact!(tx, artifact, now);
            });
            Ok(())
        })
        .await
    }

    /// Records a finished step in one write transaction: its artifacts
    /// (with lineage), its cache entry and its terminal outcome. One commit
    /// per step instead of one per row keeps the scheduler's per-step cost
    /// low, and an interrupted write leaves all of it or none.
    pub async fn complete_step(
        &self,
        lease: &RunLease,
        step_run: i64,
        outcome: &StepOutcome,
        artifacts: &[NewArtifact],
        cache: Option<&CacheEntry>,
    ) -> Result<(), StoreError> {
        self.complete_step_with_files(lease, step_run, outcome, artifacts, cache, &[])
            .await
    }

    /// [`Store::complete_step`], recording in the same transaction the
    /// fingerprints of the files the step wrote (see
    /// [`Store::fingerprinted_digest`]).
    pub async fn complete_step_with_files(
        &self,
        lease: &RunLease,
        step_run: i64,
        outcome: &StepOutcome,
        artifacts: &[NewArtifact],
        cache: Option<&CacheEntry>,
        files: &[FileRecord],
    ) -> Result<(), StoreError> {
        self.op("complete_step", async {
            check_terminal(step_run, outcome)?;
            for artifact in artifacts {
                check_artifact(artifact)?;
            }
            let now = now_ms();
            with_write_tx!(&self.backend, tx => {
                hold_lease!(tx, &self.backend, lease);
                for artifact in artifacts {
                    insert_artifact!(tx, artifact, now);
                }
                if let Some(entry) = cache {
                    upsert_cache!(tx, entry, now);
                }
                update_step!(tx, lease.run, step_run, outcome, now);
                for file in files {
                    upsert_fingerprint!(tx, file, now);
                }
            });
            Ok(())
        })
        .await
    }

    // ---- file fingerprints ------------------------------------------------

    /// The digest recorded for the file at `path` when it had exactly
    /// `fingerprint`: its content, without reading it (see
    /// [`sluice_data::FileFingerprint`] for what that trusts).
    pub async fn fingerprinted_digest(
        &self,
        path: &str,
        fingerprint: &FileFingerprint,
    ) -> Result<Option<Digest>, StoreError> {
        self.op("fingerprinted_digest", async {
            let sql = "SELECT digest FROM file_fingerprints WHERE path = $1 AND bytes = $2 \
                       AND mtime_ns = $3 AND ctime_ns = $4 AND inode = $5 AND device = $6";
            Ok(with_pool!(&self.backend, pool => sqlx::query_scalar(sql)
                .bind(path)
                .bind(fingerprint.bytes as i64)
                .bind(fingerprint.mtime_ns)
                .bind(fingerprint.ctime_ns)
                .bind(fingerprint.inode as i64)
                .bind(fingerprint.device as i64)
                .fetch_optional(pool)
                .await?))
        })
        .await
    }

    /// Records (or replaces) the digests of files as of their fingerprints.
    pub async fn record_fingerprints(&self, files: &[FileRecord]) -> Result<(), StoreError> {
        self.op("record_fingerprints", async {
            let now = now_ms();
            with_write_tx!(&self.backend, tx => {
                for file in files {
                    upsert_fingerprint!(tx, file, now);
                }
            });
            Ok(())
        })
        .await
    }

    /// One artifact with its inputs.
    pub async fn artifact(&self, digest: &Digest) -> Result<Option<ArtifactRecord>, StoreError> {
        self.op("artifact", async {
            let sql = "SELECT digest, kind, path, rows, bytes, created_by_run, created_by_step, plugin_digest, \
                       params, created_at FROM artifacts WHERE digest = $1";
            let record: Option<ArtifactRecord> = with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(digest)
                .fetch_optional(pool)
                .await?);
            let Some(mut record) = record else { return Ok(None) };
            // Inputs are committed with their artifact, so no transaction is needed.
            record.inputs = with_pool!(&self.backend, pool => sqlx::query_scalar(
                "SELECT input_digest FROM artifact_inputs WHERE artifact_digest = $1 ORDER BY position",
            )
            .bind(digest)
            .fetch_all(pool)
            .await?);
            Ok(Some(record))
        })
        .await
    }

    /// Artifacts a run produced first (oldest first), each with its inputs.
    pub async fn artifacts_of_run(&self, run: i64) -> Result<Vec<ArtifactRecord>, StoreError> {
        self.op("artifacts_of_run", async {
            let sql = "SELECT digest, kind, path, rows, bytes, created_by_run, created_by_step, plugin_digest, \
                       params, created_at FROM artifacts WHERE created_by_run = $1 ORDER BY created_at, digest";
            let mut records: Vec<ArtifactRecord> = with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(run)
                .fetch_all(pool)
                .await?);
            let links: Vec<(Digest, Digest)> = with_pool!(&self.backend, pool => sqlx::query_as(
                "SELECT i.artifact_digest, i.input_digest FROM artifact_inputs i \
                 JOIN artifacts a ON a.digest = i.artifact_digest \
                 WHERE a.created_by_run = $1 ORDER BY i.artifact_digest, i.position",
            )
            .bind(run)
            .fetch_all(pool)
            .await?);
            let mut inputs: HashMap<Digest, Vec<Digest>> = HashMap::new();
            for (artifact, input) in links {
                inputs.entry(artifact).or_default().push(input);
            }
            for record in &mut records {
                record.inputs = inputs.remove(&record.digest).unwrap_or_default();
            }
            Ok(records)
        })
        .await
    }

    // ---- step cache -------------------------------------------------------

    pub async fn cache_get(&self, cache_key: &str) -> Result<Option<CacheEntry>, StoreError> {
        self.op("cache_get", async {
            let sql = "SELECT cache_key, output_digest, state_digest, created_at FROM step_cache WHERE cache_key = $1";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(cache_key)
                .fetch_optional(pool)
                .await?))
        })
        .await
    }

    /// Inserts or replaces the entry for `entry.cache_key`. The artifacts
    /// must already be recorded; `created_at` is set to now.
    pub async fn cache_put(&self, entry: &CacheEntry) -> Result<(), StoreError> {
        self.op("cache_put", async {
            let now = now_ms();
            with_pool!(&self.backend, pool => {
                let mut conn = pool.acquire().await?;
                upsert_cache!(conn, entry, now);
            });
            Ok(())
        })
        .await
    }

    /// The cache entry for `cache_key` joined with its output artifact, in
    /// one query: what the scheduler needs to skip a step.
    pub async fn cache_lookup(&self, cache_key: &str) -> Result<Option<CacheHit>, StoreError> {
        self.op("cache_lookup", async {
            let sql = "SELECT c.output_digest, c.state_digest, a.path, a.rows, a.bytes, s.path AS state_path, \
                       s.bytes AS state_bytes \
                       FROM step_cache c JOIN artifacts a ON a.digest = c.output_digest \
                       LEFT JOIN artifacts s ON s.digest = c.state_digest WHERE c.cache_key = $1";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(cache_key)
                .fetch_optional(pool)
                .await?))
        })
        .await
    }

    /// The artifacts whose digest starts with `hex_prefix` (lowercase hex
    /// digits, see [`Digest::hex_prefix`]), at most `limit`, by digest:
    /// what a person typing a short digest means.
    pub async fn artifacts_by_prefix(
        &self,
        hex_prefix: &str,
        limit: i64,
    ) -> Result<Vec<ArtifactRecord>, StoreError> {
        self.op("artifacts_by_prefix", async {
            check_limit(limit)?;
            if !hex_prefix.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(OpError::Invalid(format!(
                    "digest prefix `{}` is not lowercase hexadecimal",
                    hex_prefix.escape_default()
                )));
            }
            // hex digits only, so no LIKE wildcard can be in the pattern
            let pattern = format!("{}{hex_prefix}%", sluice_core::DIGEST_PREFIX);
            let sql = "SELECT digest, kind, path, rows, bytes, created_by_run, created_by_step, plugin_digest, \
                       params, created_at FROM artifacts WHERE digest LIKE $1 ORDER BY digest LIMIT $2";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(pattern)
                .bind(limit)
                .fetch_all(pool)
                .await?))
        })
        .await
    }

    /// Every recorded artifact (without inputs), by digest: what
    /// `sluice artifacts verify` checks.
    pub async fn all_artifacts(&self) -> Result<Vec<ArtifactRecord>, StoreError> {
        self.op("all_artifacts", async {
            let sql = "SELECT digest, kind, path, rows, bytes, created_by_run, created_by_step, plugin_digest, \
                       params, created_at FROM artifacts ORDER BY digest";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql).fetch_all(pool).await?))
        })
        .await
    }

    /// Every digest the store refers to: recorded artifacts (each made by a
    /// run), step-run outputs, cache entries, model versions and lineage
    /// inputs. A file in the artifact directory outside this set is
    /// garbage (`sluice gc`).
    pub async fn referenced_digests(&self) -> Result<BTreeSet<Digest>, StoreError> {
        self.op("referenced_digests", async {
            let sql = "SELECT digest FROM artifacts \
                       UNION SELECT output_digest FROM step_runs WHERE output_digest IS NOT NULL \
                       UNION SELECT output_digest FROM step_cache \
                       UNION SELECT state_digest FROM step_cache WHERE state_digest IS NOT NULL \
                       UNION SELECT model_digest FROM model_versions \
                       UNION SELECT input_digest FROM artifact_inputs";
            let digests: Vec<Digest> =
                with_pool!(&self.backend, pool => sqlx::query_scalar(sql).fetch_all(pool).await?);
            Ok(digests.into_iter().collect())
        })
        .await
    }

    // ---- plugins ----------------------------------------------------------

    /// Notes a plugin as seen now (first_seen is kept on later calls).
    pub async fn record_plugin(
        &self,
        digest: &Digest,
        name: &str,
        version: &str,
        contract: &str,
    ) -> Result<(), StoreError> {
        self.op("record_plugin", async {
            let sql = "INSERT INTO plugins (digest, name, version, contract, first_seen, last_seen) \
                       VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (digest) DO UPDATE SET \
                       name = excluded.name, version = excluded.version, contract = excluded.contract, \
                       last_seen = excluded.last_seen";
            with_pool!(&self.backend, pool => {
                sqlx::query(sql)
                    .bind(digest)
                    .bind(name)
                    .bind(version)
                    .bind(contract)
                    .bind(now_ms())
                    .execute(pool)
                    .await?;
            });
            Ok(())
        })
        .await
    }

    pub async fn plugin(&self, digest: &Digest) -> Result<Option<PluginRecord>, StoreError> {
        self.op("plugin", async {
            let sql = "SELECT digest, name, version, contract, first_seen, last_seen FROM plugins WHERE digest = $1";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(digest)
                .fetch_optional(pool)
                .await?))
        })
        .await
    }

    /// All plugins seen, most recently seen first.
    pub async fn plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
        self.op("plugins", async {
            let sql = "SELECT digest, name, version, contract, first_seen, last_seen FROM plugins \
                       ORDER BY last_seen DESC, digest";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql).fetch_all(pool).await?))
        })
        .await
    }

    // ---- audit log --------------------------------------------------------

    /// Appends an entry to the audit chain and returns its id.
    ///
    /// Appends are serialised (PostgreSQL advisory lock, SQLite `BEGIN
    /// IMMEDIATE`) so concurrent writers extend one chain; `UNIQUE
    /// (prev_hash)` would reject a fork even if they were not.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.op("audit", async {
            let detail = canonical_json(detail);
            let at = now_ms();
            let id = with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                append_audit!(tx, at, actor, action, subject, &detail)
            });
            tracing::debug!(id, actor, action, subject, "audit entry appended");
            Ok(id)
        })
        .await
    }

    /// The latest `limit` audit entries, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        self.op("audit_log", async {
            check_limit(limit)?;
            let sql = "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit_log \
                       ORDER BY id DESC LIMIT $1";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql)
                .bind(limit)
                .fetch_all(pool)
                .await?))
        })
        .await
    }

    /// Records the head of the audit chain (its last row's id and hash) as
    /// a checkpoint, after verifying the chain up to it: later, rows cut
    /// from the tail up to the checkpoint, or changed, are reported by
    /// [`Store::verify_audit`]. Print the anchor and keep it outside the
    /// database too: someone who can cut the log can cut this table.
    pub async fn audit_checkpoint(&self, actor: &str) -> Result<AuditCheckpoint, StoreError> {
        let verified = self.verify_audit().await?;
        self.op("audit_checkpoint", async {
            if let Some(first) = verified.broken.first() {
                return Err(OpError::Invalid(format!(
                    "the audit log does not verify ({} broken rows; row {}: {}): not checkpointing a broken chain",
                    verified.broken_total, first.id, first.reason
                )));
            }
            let Some(head) = verified.head else {
                return Err(OpError::Invalid("the audit log is empty: there is no head to checkpoint".into()));
            };
            let at = now_ms();
            let checkpoint: AuditCheckpoint = with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                // The verified head must still be there as verified; rows
                // appended since are not verified, so they are not anchored.
                let stored: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE id = $1")
                    .bind(head.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if stored.as_deref() != Some(head.hash.as_str()) {
                    return Err(OpError::Invalid(format!(
                        "audit row {} changed while it was being verified", head.id
                    )));
                }
                sqlx::query_as(
                    "INSERT INTO audit_checkpoints (audit_id, hash, at, actor) VALUES ($1, $2, $3, $4) \
                     RETURNING id, audit_id, hash, at, actor",
                )
                .bind(head.id)
                .bind(&head.hash)
                .bind(at)
                .bind(actor)
                .fetch_one(&mut *tx)
                .await?
            });
            tracing::info!(checkpoint = checkpoint.id, row = head.id, "audit head checkpointed");
            Ok(checkpoint)
        })
        .await
    }

    /// Every recorded checkpoint, oldest first.
    pub async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        self.op("audit_checkpoints", async {
            let sql = "SELECT id, audit_id, hash, at, actor FROM audit_checkpoints ORDER BY id";
            Ok(with_pool!(&self.backend, pool => sqlx::query_as(sql).fetch_all(pool).await?))
        })
        .await
    }

    /// [`Store::verify_audit_with`] the recorded checkpoints only.
    pub async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        self.verify_audit_with(&[]).await
    }

    /// Recomputes the chain from the first row and checks its anchors.
    ///
    /// Every row is checked against the stored hash of the row before it
    /// and against its own content, and ids must follow on without gaps;
    /// every broken row is reported (up to
    /// [`AuditVerification::MAX_REPORTED`], all counted). The chain alone
    /// cannot show rows cut from its end: each recorded checkpoint and each
    /// `expected` anchor (a head kept outside the database) must still name
    /// a row with that hash.
    pub async fn verify_audit_with(
        &self,
        expected: &[AuditAnchor],
    ) -> Result<AuditVerification, StoreError> {
        let checkpoints = self.audit_checkpoints().await?;
        self.op("verify_audit", async {
            let mut verification = AuditVerification {
                rows_checked: 0,
                head: None,
                anchors_checked: 0,
                broken: Vec::new(),
                broken_total: 0,
            };
            let mut expected_prev = GENESIS.to_owned();
            let mut previous_id = 0;
            loop {
                let sql = "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit_log \
                           WHERE id > $1 ORDER BY id LIMIT $2";
                let page: Vec<AuditRecord> = with_pool!(&self.backend, pool => sqlx::query_as(sql)
                    .bind(previous_id)
                    .bind(VERIFY_PAGE)
                    .fetch_all(pool)
                    .await?);
                if page.is_empty() {
                    break;
                }
                for row in &page {
                    verification.rows_checked += 1;
                    let mut reasons = Vec::new();
                    if row.id != previous_id + 1 {
                        reasons.push(match row.id - previous_id {
                            2 => format!("row {} is missing", previous_id + 1),
                            _ => format!("rows {} to {} are missing", previous_id + 1, row.id - 1),
                        });
                    }
                    reasons.extend(check_row(&expected_prev, row));
                    if !reasons.is_empty() {
                        note_broken(&mut verification, row.id, reasons.join("; "));
                    }
                    expected_prev.clone_from(&row.hash);
                    previous_id = row.id;
                }
                let last = page.last().expect("not empty");
                verification.head = Some(AuditAnchor {
                    id: last.id,
                    hash: last.hash.clone(),
                });
            }
            let labelled = checkpoints
                .iter()
                .map(|c| (format!("checkpoint {} (taken by {})", c.id, c.actor), c.anchor()))
                .chain(expected.iter().map(|a| ("the expected head".to_owned(), a.clone())));
            for (label, anchor) in labelled {
                verification.anchors_checked += 1;
                let stored: Option<String> = with_pool!(&self.backend, pool =>
                    sqlx::query_scalar("SELECT hash FROM audit_log WHERE id = $1")
                        .bind(anchor.id)
                        .fetch_optional(pool)
                        .await?);
                let reason = match stored {
                    Some(hash) if hash == anchor.hash => continue,
                    Some(hash) => format!(
                        "{label} recorded hash {} for row {}; the row stores {hash}",
                        anchor.hash, anchor.id
                    ),
                    None => format!(
                        "{label} anchors row {} (hash {}), but the row is missing; the log ends at {}: rows were cut",
                        anchor.id,
                        anchor.hash,
                        verification.head.as_ref().map_or("no row".to_owned(), |h| format!("row {}", h.id)),
                    ),
                };
                note_broken(&mut verification, anchor.id, reason);
            }
            if verification.is_ok() {
                tracing::debug!(rows = verification.rows_checked, anchors = verification.anchors_checked, "audit chain verified");
            } else {
                tracing::warn!(broken = verification.broken_total, "audit chain broken");
            }
            Ok(verification)
        })
        .await
    }

    /// Runs raw SQL for tests that must get around the store (tampering).
    #[cfg(test)]
    async fn execute_raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        Ok(
            with_pool!(&self.backend, pool => sqlx::raw_sql(sql).execute(pool).await?.rows_affected()),
        )
    }
}

/// Counts a broken row, keeping its reason while under the report bound.
fn note_broken(verification: &mut AuditVerification, id: i64, reason: String) {
    verification.broken_total += 1;
    if verification.broken.len() < AuditVerification::MAX_REPORTED {
        verification.broken.push(BrokenAuditRow { id, reason });
    }
}

/// Why `row` does not follow a row whose stored hash is `expected_prev`,
/// or does not hash to its stored hash.
fn check_row(expected_prev: &str, row: &AuditRecord) -> Vec<String> {
    let mut reasons = Vec::new();
    if row.prev_hash != expected_prev {
        reasons.push(format!(
            "prev_hash mismatch: row stores {}, the row before it hashes to {expected_prev}",
            row.prev_hash
        ));
    }
    let content = RowContent {
        id: row.id,
        at: row.at,
        actor: &row.actor,
        action: &row.action,
        subject: &row.subject,
        detail: &row.detail,
    };
    let recomputed = row_hash(&row.prev_hash, &content);
    if recomputed != row.hash {
        reasons.push(format!(
            "hash mismatch: row stores {}, its content hashes to {recomputed}",
            row.hash
        ));
    }
    reasons
}

/// Renews a run's lease in the background; see [`Store::keep_alive`].
/// Dropping it stops the renewals.
#[must_use = "the heartbeat stops when dropped"]
pub struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
