//! `sluice serve`: a registered model's inference graph behind an HTTP
//! moderation API (axum on tokio). See docs/SERVING.md.
//!
//! The request path: a handler checks the caller ([`hooks::Authorizer`])
//! and the body, is admitted to a bounded queue (or answered 503), and
//! hands its rows to the micro-batcher ([`engine`]), which scores batches
//! on blocking threads through the one [`sluice_pipeline::InferenceGraph`]
//! (fresh sandboxed sessions per micro-batch). A trap, a timeout or an
//! open circuit breaker gives the configured fail-safe answer. Every
//! answer goes to the [`hooks::PredictionLog`].

// the errors carried are the pipeline's `InferenceError`, whose size is
// its crate's choice; they occur once per failed batch, not per row
#![allow(clippy::result_large_err)]

pub mod api;
pub mod breaker;
pub mod config;
pub mod engine;
pub mod hooks;
pub mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use sluice_pipeline::InferenceError;
use sluice_runtime::Runtime;
use sluice_store::Store;

pub use config::{Action, Config};
pub use hooks::{Authorizer, Denied, Open, Prediction, PredictionLog, Role, TraceLog};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error(transparent)]
    Model(#[from] InferenceError),
    #[error("listening on {addr}: {message}")]
    Listen { addr: String, message: String },
    #[error("{0}")]
    Internal(String),
}

/// What a server needs from its process.
pub struct Server {
    pub config: Config,
    pub store: Store,
    /// The store's home (artifact files).
    pub home: PathBuf,
    pub runtime: Runtime,
    pub auth: Arc<dyn Authorizer>,
    pub log: Arc<dyn PredictionLog>,
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
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = Arc::new(api::AppState::new(
            self.auth,
            self.log,
            self.config.limits.body_bytes,
        ));
        let app = api::router(state.clone());
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let http = axum::serve(listener, app).with_graceful_shutdown(shutdown);
        let http = tokio::spawn(async move { http.await });
        let engine = engine::Engine::start(self.config, self.store, self.home, self.runtime).await;
        let engine = match engine {
            Ok(engine) => engine,
            Err(error) => {
                http.abort();
                return Err(error);
            }
        };
        let served = engine.served.load();
        tracing::info!(
            "ready on {addr}: model {} version {}",
            served.graph.name(),
            served.graph.version()
        );
        drop(served);
        let _ = state.engine.set(engine);
        http.await
            .map_err(|e| ServeError::Internal(e.to_string()))?
            .map_err(|e| ServeError::Listen {
                addr,
                message: e.to_string(),
            })
    }
}
