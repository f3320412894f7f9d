//! `sluice token`: API tokens for `sluice serve`.

use anyhow::Result;
use clap::Subcommand;

use sluice_store::TokenRole;

use super::Context;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown this once; only its
    /// SHA-256 is stored). Audited.
    Create {
        /// predict (ask for predictions), review (read and label them) or admin.
        #[arg(long)]
        role: TokenRole,
    },
    /// Every token: id, role, who created it and when, whether revoked.
    List,
    /// Revoke a token by id: it authenticates nothing from now on. Audited.
    Revoke { id: i64 },
}

pub fn run(ctx: &Context, command: TokenCommand) -> Result<()> {
    let tokio = ctx.tokio()?;
    tokio.block_on(async {
        let store = ctx.store().await?;
        match command {
            TokenCommand::Create { role } => {
                let token = store.create_token(role, &ctx.actor()).await?;
                eprintln!(
                    "token {} ({}) created; its secret is shown this once:",
                    token.record.id, token.record.role
                );
                // stdout holds only the secret, so scripts can capture it
                println!("{}", token.secret);
            }
            TokenCommand::List => {
                let tokens = store.tokens().await?;
                if tokens.is_empty() {
                    println!("no tokens (`sluice token create --role admin` makes one)");
                }
                for t in tokens {
                    let state = match (t.revoked_at, &t.revoked_by) {
                        (Some(at), by) => format!(
                            "revoked {} by {}",
                            super::runs::when(at),
                            by.as_deref().unwrap_or("?")
                        ),
                        (None, _) => "active".to_owned(),
                    };
                    println!(
                        "{:>5} {:<8} created {} by {:<12} {state}",
                        t.id,
                        t.role,
                        super::runs::when(t.created_at),
                        t.created_by
                    );
                }
            }
            TokenCommand::Revoke { id } => {
                let token = store.revoke_token(id, &ctx.actor()).await?;
                println!("token {} ({}) revoked", token.id, token.role);
            }
        }
        Ok(())
    })
}
