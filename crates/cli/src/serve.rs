//! `sluice serve --config serve.toml [--listen ADDR]`: the server lives in
//! `sluice-serve`; this opens the store and the sandbox and waits for
//! Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use sluice_serve::{Config, Open, Server, TraceLog};

use super::Context;

pub fn serve(ctx: &Context, config: &Path, listen: SocketAddr) -> Result<()> {
    let config = Config::load(config)?;
    let runtime = ctx.runtime()?;
    ctx.tokio()?.block_on(async {
        let store = ctx.store().await?;
        let listener = Server::bind(listen).await?;
        eprintln!(
            "serving {} on http://{} (ready once /readyz answers 200)",
            config.service.model,
            listener.local_addr()?
        );
        let server = Server {
            config,
            store,
            home: ctx.home.clone(),
            runtime,
            // tokens and the prediction log are wired here when the store has them
            auth: Arc::new(Open),
            log: Arc::new(TraceLog),
        };
        server.run(listener, shutdown_signal()).await?;
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
