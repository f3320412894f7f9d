//! `sluice deploy`, `sluice rollback`, `sluice deployments`: the CLI side
//! of rollouts (the logic and its audit live in `sluice_registry::rollout`).

use anyhow::Result;
use clap::{Args, Subcommand};
use sluice_core::text;
use sluice_registry::rollout::{self, RolledBack};
use sluice_store::{DeploymentMode, NewDeployment, NewFeedback};

use super::Context;

/// Exactly one of the three modes.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ModeArgs {
    /// Route this percent of users (sticky by `user_id`) to the version.
    #[arg(long, value_name = "PERCENT")]
    canary: Option<f64>,
    /// A/B: route this percent of users to the version as variant `--variant`.
    #[arg(long, value_name = "PERCENT")]
    ab: Option<f64>,
    /// Score mirrored traffic with the version off the request path; its
    /// answers are compared, never returned.
    #[arg(long)]
    shadow: bool,
}

impl ModeArgs {
    fn deployment(&self, name: &str, version: i64, variant: Option<&str>) -> Result<NewDeployment> {
        if variant.is_some() && self.ab.is_none() {
            anyhow::bail!("--variant names an A/B variant: use it with --ab PERCENT");
        }
        let (mode, variant, percent) = match (self.canary, self.ab, self.shadow) {
            (Some(p), _, _) => (DeploymentMode::Canary, "canary".to_string(), p),
            (_, Some(p), _) => (DeploymentMode::Ab, variant.unwrap_or("b").to_string(), p),
            _ => (DeploymentMode::Shadow, "shadow".to_string(), 0.0),
        };
        Ok(NewDeployment {
            model: name.to_string(),
            version,
            mode,
            variant,
            percent,
        })
    }
}

pub fn deploy(
    ctx: &Context,
    name: &str,
    version: i64,
    mode: &ModeArgs,
    variant: Option<&str>,
) -> Result<()> {
    ctx.tokio()?.block_on(async {
        let store = ctx.store().await?;
        let new = mode.deployment(name, version, variant)?;
        let d = rollout::deploy(&store, &new, &ctx.actor()).await?;
        let baseline = d
            .baseline
            .map_or("none".to_string(), |v| format!("version {v}"));
        match d.mode {
            DeploymentMode::Shadow => println!(
                "deployment {}: {name} version {version} shadows production ({baseline}) on mirrored traffic",
                d.id
            ),
            _ => println!(
                "deployment {}: {name} version {version} serves {}% of users as `{}`; production ({baseline}) the rest",
                d.id, d.percent, d.variant
            ),
        }
        Ok(())
    })
}

pub fn rollback(ctx: &Context, name: &str, reason: &str) -> Result<()> {
    ctx.tokio()?.block_on(async {
        let store = ctx.store().await?;
        let by_hand = serde_json::json!({ "by_hand": true });
        match rollout::rollback(&store, name, &ctx.actor(), reason, &by_hand).await? {
            RolledBack::Deployment(d) => println!(
                "deployment {} ({} of version {}) rolled back; production stays at {}",
                d.id,
                d.mode,
                d.version,
                d.baseline
                    .map_or("no version".to_string(), |v| format!("version {v}"))
            ),
            RolledBack::Production { from, to } => {
                println!("{name}: `production` moved back from version {from} to {to}")
            }
        }
        Ok(())
    })
}

pub fn list(ctx: &Context, name: Option<&str>, limit: i64) -> Result<()> {
    ctx.tokio()?.block_on(async {
        let store = ctx.store().await?;
        let deployments = store.deployments(name, limit).await?;
        if deployments.is_empty() {
            println!("no deployments (`sluice deploy NAME VERSION --canary 5` starts one)");
            return Ok(());
        }
        println!(
            "{:>4} {:<18} {:>7} {:>8} {:<7} {:>6} {:<12} {:<20} {:<12} why",
            "id", "model", "version", "baseline", "mode", "split", "status", "started", "by"
        );
        for d in deployments {
            let split = match d.mode {
                DeploymentMode::Shadow => "mirror".to_string(),
                _ => format!("{}%", d.percent),
            };
            println!(
                "{:>4} {:<18} {:>7} {:>8} {:<7} {:>6} {:<12} {:<20} {:<12} {}",
                d.id,
                text::escaped(&d.model),
                d.version,
                d.baseline.map_or("-".to_string(), |v| v.to_string()),
                d.mode,
                split,
                d.status,
                super::runs::when(d.created_at),
                text::escaped(&d.created_by),
                text::escaped(d.reason.as_deref().unwrap_or("")),
            );
            if let Some(figures) = &d.figures {
                println!("       figures: {}", text::escaped(figures));
            }
        }
        Ok(())
    })
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Escalated answers of MODEL no person has decided yet, oldest first.
    List {
        model: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Per version of MODEL: answers reviewed and how many were overturned.
    Stats { model: String },
    /// Record a decision on answer REQUEST_ID.
    Decide {
        request_id: String,
        /// The label it should have had (the service's labels).
        #[arg(long)]
        label: String,
        /// allow, warn, escalate or block.
        #[arg(long, value_parser = ["allow", "warn", "escalate", "block"])]
        action: String,
    },
}

pub fn review(ctx: &Context, command: ReviewCommand) -> Result<()> {
    ctx.tokio()?.block_on(async {
        let store = ctx.store().await?;
        match command {
            ReviewCommand::List { model, limit } => {
                let queue = store.review_queue(&model, limit).await?;
                if queue.is_empty() {
                    println!("nothing to review for {}", text::escaped(&model));
                }
                for p in queue {
                    println!(
                        "{}  {}  v{} {}  score {}  rules {}\n    {}",
                        text::escaped(&p.request_id),
                        super::runs::when(p.at),
                        p.version,
                        text::escaped(&p.variant),
                        p.score.map_or("-".to_string(), |s| format!("{s:.3}")),
                        text::escaped(&p.rules.join(",")),
                        p.text
                            .as_deref()
                            .map_or("(text not kept)".into(), text::escaped),
                    );
                }
            }
            ReviewCommand::Stats { model } => {
                let counts = store.review_counts(&model).await?;
                if counts.is_empty() {
                    println!("no reviewed answers of {}", text::escaped(&model));
                }
                println!(
                    "{:>7} {:>9} {:>11} {:>7}",
                    "version", "reviewed", "overturned", "rate"
                );
                for c in counts {
                    println!(
                        "{:>7} {:>9} {:>11} {:>6.1}%",
                        c.version,
                        c.reviewed,
                        c.overturned,
                        100.0 * c.overturned as f64 / c.reviewed.max(1) as f64
                    );
                }
            }
            ReviewCommand::Decide {
                request_id,
                label,
                action,
            } => {
                let record = store
                    .record_feedback(&NewFeedback {
                        request_id,
                        label,
                        source: "review".into(),
                        actor: ctx.actor(),
                        action: Some(action),
                    })
                    .await?;
                println!(
                    "{}: decided `{}` ({})",
                    text::escaped(&record.request_id),
                    text::escaped(&record.label),
                    record.action.as_deref().unwrap_or("")
                );
            }
        }
        Ok(())
    })
}
