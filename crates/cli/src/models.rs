//! `sluice models`, `sluice promote`, `sluice bundle`, `sluice report`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;

use sluice_core::text;
use sluice_registry::bundle;
use sluice_store::{ModelVersionRecord, Store};

use super::Context;
use super::pipeline::short_or;

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
                println!("params:");
                for line in param_lines(&params) {
                    println!("  {line}");
                }
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
                    lineage.training_data.short()
                );
                for (source, digest) in &lineage.sources {
                    println!("  source {source:<14} {}", digest.short());
                }
                for step in &lineage.steps {
                    println!(
                        "  step   {:<14} plugin {:<12} state {:<12} -> {}",
                        step.name,
                        short_or(step.plugin_digest.as_ref(), "native"),
                        short_or(step.state_digest.as_ref(), "-"),
                        step.output_digest.short()
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

/// Recorded params as `name = value` lines, nested tables as `a.b = …`:
/// hyperparameters print as values (`c = 16`), not as their stored,
/// type-tagged form (`{"Float":16.0}`).
pub fn param_lines(params: &serde_json::Value) -> Vec<String> {
    fn value(v: &serde_json::Value) -> String {
        if let Ok(hyper) = serde_json::from_value::<sluice_train::HyperValue>(v.clone()) {
            return match hyper {
                sluice_train::HyperValue::Text(t) => format!("{:?}", text::clean_line(&t, 200)),
                other => other.to_string(),
            };
        }
        match v {
            serde_json::Value::Array(items) => {
                format!(
                    "[{}]",
                    items.iter().map(value).collect::<Vec<_>>().join(", ")
                )
            }
            serde_json::Value::String(s) => format!("{:?}", text::clean_line(s, 200)),
            other => other.to_string(),
        }
    }
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map)
                if serde_json::from_value::<sluice_train::HyperValue>(v.clone()).is_err() =>
            {
                for (key, inner) in map {
                    let name = match prefix {
                        "" => key.clone(),
                        _ => format!("{prefix}.{key}"),
                    };
                    walk(&name, inner, out);
                }
            }
            serde_json::Value::Null => out.push(format!("{prefix} = (none)")),
            other => out.push(format!("{prefix} = {}", value(other))),
        }
    }
    let mut out = Vec::new();
    walk("", params, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn params_print_as_values() {
        let params = serde_json::json!({
            "algorithm": "logistic-regression",
            "hyper": { "c": { "Float": 16.0 }, "max_iter": { "Int": 200 }, "class_weight": { "Text": "balanced" } },
            "search": { "grid": { "c": [{ "Float": 1.0 }, { "Float": 0.5 }] }, "folds": 5, "random": null },
        });
        let lines = super::param_lines(&params);
        assert_eq!(
            lines,
            [
                "algorithm = \"logistic-regression\"",
                "hyper.c = 16",
                "hyper.class_weight = \"balanced\"",
                "hyper.max_iter = 200",
                "search.folds = 5",
                "search.grid.c = [1, 0.5]",
                "search.random = (none)",
            ]
        );
    }
}
