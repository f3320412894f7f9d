//! `sluice serve`: a registered model's inference graph behind an HTTP
//! moderation API (axum on tokio). See docs/SERVING.md.
//!
//! The request path: a handler checks the caller's bearer token
//! ([`auth`]) and the body, is admitted to a bounded queue (or answered
//! 503), and hands its rows to the micro-batcher ([`engine`]), which scores
//! batches on blocking threads through the one
//! [`sluice_pipeline::InferenceGraph`] (fresh sandboxed sessions per
//! micro-batch). A trap, a timeout or an open circuit breaker gives the
//! configured fail-safe answer. Every answer goes to the store's
//! prediction log ([`sluice_store::PredictionLog`]), off the request path.

// the errors carried are the pipeline's `InferenceError`, whose size is
// its crate's choice; they occur once per failed batch, not per row
#![allow(clippy::result_large_err)]

pub mod api;
pub mod auth;
pub mod breaker;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod tls;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sluice_pipeline::InferenceError;
use sluice_runtime::Runtime;
use sluice_store::{PredictionLog, PredictionLogConfig, Store, StoreError};

pub use auth::{Auth, Caller, Denied, Role};
pub use config::{Action, Config};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error(transparent)]
    Model(#[from] InferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    PredictionLog(#[from] sluice_store::PredictionLogError),
    #[error("listening on {addr}: {message}")]
    Listen { addr: String, message: String },
    #[error("{0}")]
    Internal(String),
}

/// How often texts past `log.text_retention_days` are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What a server needs from its process.
pub struct Server {
    pub config: Config,
    pub store: Store,
    /// The store's home (artifact files, the prediction log's spill file).
    pub home: PathBuf,
    pub runtime: Runtime,
}

impl Server {
    pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Listen {
                addr: addr.to_string(),
                message: e.to_string(),
            })
    }

    /// Serves on `listener` until `shutdown` resolves. `/healthz` answers at
    /// once; `/readyz` and the model routes once the graph is built and
    /// warmed. A model that cannot be loaded ends the server with its error.
    /// On shutdown the prediction log is flushed (what the store refuses
    /// stays in the spill file for the next start).
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let local = listener.local_addr().map_err(|e| ServeError::Listen {
            addr: "?".into(),
            message: e.to_string(),
        })?;
        if !self.config.auth.required && !local.ip().is_loopback() {
            return Err(ServeError::Config {
                path: "serve.toml".into(),
                message: format!(
                    "auth.required = false is only allowed on a loopback address, not {local}"
                ),
            });
        }
        let tls = self
            .config
            .tls
            .as_ref()
            .map(tls::server_config)
            .transpose()?;
        let auth = Auth::start(&self.config.auth, &self.store).await?;
        let spill = spill_path(&self.config, &self.home);
        let _spill_lock = lock_spill(&spill)?;
        let log = Arc::new(PredictionLog::start(self.store.clone(), {
            let mut c = PredictionLogConfig::new(&spill);
            c.capacity = self.config.log.capacity;
            c.batch_rows = self.config.log.batch_rows;
            c.max_wait = Duration::from_millis(self.config.log.max_wait_ms);
            c.write_timeout = Duration::from_millis(self.config.log.write_timeout_ms);
            c
        })?);
        let purge = tokio::spawn(purge_texts(self.store.clone(), self.config.clone()));
        let state = Arc::new(api::AppState::new(auth, log.clone(), &self.config));
        let app = api::router(state.clone());
        let http = match tls {
            Some(tls) => {
                let listener =
                    tls::TlsListener::new(listener, tls).map_err(|e| ServeError::Listen {
                        addr: local.to_string(),
                        message: e.to_string(),
                    })?;
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                })
            }
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }),
        };
        let engine = engine::Engine::start(self.config, self.store, self.home, self.runtime).await;
        let engine = match engine {
            Ok(engine) => engine,
            Err(error) => {
                http.abort();
                purge.abort();
                log.shutdown().await;
                return Err(error);
            }
        };
        let served = engine.served.load();
        tracing::info!(
            "ready on {local}: model {} version {}",
            served.graph.name(),
            served.graph.version()
        );
        drop(served);
        let _ = state.engine.set(engine);
        let served = http.await;
        purge.abort();
        let stats = log.shutdown().await;
        tracing::info!(
            stored = stats.stored,
            spilled = stats.spilled,
            pending = stats.pending,
            "prediction log flushed"
        );
        served
            .map_err(|e| ServeError::Internal(e.to_string()))?
            .map_err(|e| ServeError::Listen {
                addr: local.to_string(),
                message: e.to_string(),
            })
    }
}

/// `log.spill` under the home, or `serve/<service>.spill.jsonl`.
pub fn spill_path(config: &Config, home: &Path) -> PathBuf {
    match &config.log.spill {
        Some(path) => home.join(path),
        None => home
            .join("serve")
            .join(format!("{}.spill.jsonl", config.service.name)),
    }
}

/// Two servers replaying one spill file would each rename it aside and
/// race; the second server of a service on one home is refused instead.
fn lock_spill(spill: &Path) -> Result<File, ServeError> {
    use std::os::fd::AsRawFd;
    let lock_path = spill.with_extension("lock");
    let error = |message: String| ServeError::Config {
        path: lock_path.display().to_string(),
        message,
    };
    if let Some(parent) = lock_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| error(e.to_string()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| error(e.to_string()))?;
    // SAFETY: flock on a descriptor this function owns; released when the
    // file is closed (the server's end, or the process's)
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        return Err(error(
            "another server of this service uses this prediction-log spill file; \
             give each its own `log.spill` or `service.name`"
                .into(),
        ));
    }
    Ok(file)
}

/// Nulls the texts of this service's model older than the retention, now
/// and every [`PURGE_EVERY`].
async fn purge_texts(store: Store, config: Config) {
    let model = config.model_ref().map(|r| r.name).unwrap_or_default();
    loop {
        if let Err(e) = store
            .purge_prediction_texts(config.log.text_retention(), Some(&model))
            .await
        {
            tracing::warn!("purging prediction texts past retention: {e}");
        }
        tokio::time::sleep(PURGE_EVERY).await;
    }
}
