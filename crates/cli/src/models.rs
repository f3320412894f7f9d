//! `sluice models`, `sluice promote`, `sluice bundle`, `sluice report`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;

use sluice_registry::bundle;
use sluice_store::{ModelVersionRecord, Store};

use super::Context;
use super::pipeline::short;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// One model version: params, metrics, lineage, aliases.
    Show {
        name: String,
        /// A version number or an alias (default: `production`, else the latest).
        version: Option<String>,
    },
    /// Every move of a model's aliases.
    History { name: String },
}

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Write a model version and the plugins and states that feed it to one file.
    Export {
        name: String,
        /// A version number or an alias.
        version: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a bundle's digests and register its model here.
    Import { file: PathBuf },
}

/// Resolves a version number or alias of `name`.
async fn resolve(store: &Store, name: &str, version: Option<&str>) -> Result<ModelVersionRecord> {
    let number = match version {
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) => store
                .alias_version(name, v)
                .await?
                .with_context(|| format!("model `{name}` has no alias `{v}`"))?,
        },
        None => match store.alias_version(name, "production").await? {
            Some(n) => n,
            None => store
                .model_versions(Some(name))
                .await?
                .first()
                .map(|m| m.version)
                .with_context(|| format!("no model `{name}` is registered"))?,
        },
    };
    store
        .model_version(name, number)
        .await?
        .with_context(|| format!("model `{name}` has no version {number}"))
}

/// `sluice models [NAME]`: versions with their aliases and headline metric.
pub fn list(ctx: &Context, name: Option<&str>) -> Result<()> {
    let tokio = ctx.tokio()?;
    tokio.block_on(async {
        let store = ctx.store().await?;
        let versions = store.model_versions(name).await?;
        if versions.is_empty() {
            match name {
                Some(name) => bail!("no model `{name}` is registered"),
                None => {
                    println!(
                        "no models registered yet (a pipeline with a `train` step registers one)"
                    );
                    return Ok(());
                }
            }
        }
        let aliases = store.aliases(name).await?;
        println!(
            "{:<20} {:>7}  {:<22} {:<20} {:>8} {:>8} {:>5}  aliases",
            "model", "version", "algorithm", "created (UTC)", "f1", "roc_auc", "run"
        );
        for v in &versions {
            let metrics = sluice_registry::version_metrics(v)?;
            let show = |m: &str| {
                sluice_registry::metric_value(&metrics, m)
                    .map(|x| format!("{x:.4}"))
                    .unwrap_or_else(|| "-".into())
            };
            let held: Vec<&str> = aliases
                .iter()
                .filter(|a| a.name == v.name && a.version == v.version)
                .map(|a| a.alias.as_str())
                .collect();
            println!(
                "{:<20} {:>7}  {:<22} {:<20} {:>8} {:>8} {:>5}  {}",
                v.name,
                v.version,
                v.algorithm,
                sluice_report::collect::format_time(v.created_at),
                show("f1"),
                show("roc_auc"),
                v.run_id,
                held.join(", ")
            );
        }
        Ok(())
    })
}

pub fn run(ctx: &Context, command: ModelsCommand) -> Result<()> {
    let tokio = ctx.tokio()?;
    tokio.block_on(async {
        let store = ctx.store().await?;
        match command {
            ModelsCommand::Show { name, version } => {
                let v = resolve(&store, &name, version.as_deref()).await?;
                let aliases: Vec<String> = store
                    .aliases(Some(&name))
                    .await?
                    .into_iter()
                    .filter(|a| a.version == v.version)
                    .map(|a| a.alias)
                    .collect();
                println!("model {} version {} — {}", v.name, v.version, v.algorithm);
                println!(
                    "registered {} UTC by run {} (step `{}`); aliases: {}",
                    sluice_report::collect::format_time(v.created_at),
                    v.run_id,
                    v.step,
                    if aliases.is_empty() {
                        "none".into()
                    } else {
                        aliases.join(", ")
                    }
                );
                println!("model artifact {}", v.model_digest);
                println!("gate: {}", v.gate.as_deref().unwrap_or("(none)"));
                let params: serde_json::Value = serde_json::from_str(&v.params)?;
                println!("params: {params}");
                println!("\nmetrics:");
                for m in sluice_registry::version_metrics(&v)?
                    .iter()
                    .filter(|m| !m.labels.iter().any(|(k, _)| k == "point"))
                {
                    let labels: Vec<String> =
                        m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    println!(
                        "  {:<14} {:<22} {:>12.6} {}",
                        m.step,
                        m.name,
                        m.value,
                        labels.join(" ")
                    );
                }
                let lineage = sluice_registry::version_lineage(&v)?;
                println!(
                    "\nlineage: trained on table {}",
                    short(&lineage.training_data)
                );
                for (source, digest) in &lineage.sources {
                    println!("  source {source:<14} {}", short(digest));
                }
                for step in &lineage.steps {
                    println!(
                        "  step   {:<14} plugin {:<12} state {:<12} -> {}",
                        step.name,
                        step.plugin_digest.as_deref().map(short).unwrap_or("native"),
                        step.state_digest.as_deref().map(short).unwrap_or("-"),
                        short(&step.output_digest)
                    );
                }
                Ok(())
            }
            ModelsCommand::History { name } => {
                let history = store.alias_history(&name).await?;
                if history.is_empty() {
                    println!("no alias of `{name}` has been set");
                }
                for change in history {
                    println!(
                        "{}  {:<12} -> version {:<4} (was {})  by {}",
                        sluice_report::collect::format_time(change.at),
                        change.alias,
                        change.version,
                        change
                            .previous_version
                            .map_or("unset".to_string(), |v| v.to_string()),
                        change.actor
                    );
                }
                Ok(())
            }
        }
    })
}

/// `sluice promote NAME VERSION --alias ALIAS`.
pub fn promote(ctx: &Context, name: &str, version: i64, alias: &str) -> Result<()> {
    let tokio = ctx.tokio()?;
    tokio.block_on(async {
        let store = ctx.store().await?;
        let actor = ctx.actor();
        let (previous, outcome) =
            sluice_registry::promote(&store, name, version, alias, &actor).await?;
        if let Some(outcome) = &outcome {
            println!("gate:\n{outcome}");
        }
        match previous {
            Some(previous) => {
                println!("{name}: `{alias}` moved from version {previous} to {version}")
            }
            None => println!("{name}: `{alias}` now points at version {version}"),
        }
        Ok(())
    })
}

pub fn bundle_command(ctx: &Context, command: BundleCommand) -> Result<()> {
    let tokio = ctx.tokio()?;
    tokio.block_on(async {
        let store = ctx.store().await?;
        match command {
            BundleCommand::Export { name, version, out } => {
                let v = resolve(&store, &name, Some(&version)).await?;
                let manifest = bundle::export(&store, &ctx.home, &name, v.version, &out).await?;
                let bytes: u64 = manifest.blobs.iter().map(|b| b.size).sum();
                println!(
                    "bundle {} — model {} version {}: {} blobs, {} ({} plugins, {} states)",
                    out.display(),
                    name,
                    v.version,
                    manifest.blobs.len(),
                    sluice_core::units::format_size(bytes),
                    manifest.blobs.iter().filter(|b| b.kind == bundle::BlobKind::Plugin).count(),
                    manifest.blobs.iter().filter(|b| b.kind == bundle::BlobKind::State).count(),
                );
                Ok(())
            }
            BundleCommand::Import { file } => {
                let (manifest, version) = bundle::import(&store, &ctx.home, &file).await?;
                println!(
                    "imported {}: model {} (version {} there) is version {version} here; every digest checked",
                    file.display(),
                    manifest.name,
                    manifest.version
                );
                Ok(())
            }
        }
    })
}

/// `sluice report RUN [--out FILE]`.
pub fn report(ctx: &Context, run: i64, out: Option<&Path>) -> Result<()> {
    let tokio = ctx.tokio()?;
    let report = tokio.block_on(async {
        let store = ctx.store().await?;
        let report = sluice_report::collect::collect(&store, run).await?;
        report.with_context(|| format!("no run {run} in {}", store.url_for_display()))
    })?;
    let html = sluice_report::render_html(&report)?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("sluice-report-{run}.html")));
    std::fs::write(&out, html).with_context(|| format!("writing {}", out.display()))?;
    println!("report of run {run} written to {}", out.display());
    Ok(())
}
