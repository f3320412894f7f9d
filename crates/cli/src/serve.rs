//! `sluice serve --config serve.toml [--listen ADDR]`: the server lives in
//! `sluice-serve`; this opens the store and the sandbox and waits for
//! Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Result;

use sluice_serve::{Config, Server};

use super::Context;

pub fn serve(ctx: &Context, config: &Path, listen: SocketAddr) -> Result<()> {
    let config = Config::load(config)?;
    let runtime = ctx.runtime()?;
    ctx.tokio()?.block_on(async {
        let store = ctx.store().await?;
        let listener = Server::bind(listen).await?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        eprintln!(
            "serving {} on {scheme}://{} (ready once /readyz answers 200)",
            config.service.model,
            listener.local_addr()?
        );
        let server = Server {
            config,
            store,
            home: ctx.home.clone(),
            runtime,
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
