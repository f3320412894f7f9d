//! `sluice check`, `sluice graph`, `sluice run`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};
use indicatif::{HumanCount, MultiProgress, ProgressBar, ProgressState, ProgressStyle};

use sluice_core::Digest;
use sluice_core::text;
use sluice_core::units::format_size;
use sluice_data::blobs::{ArtifactDir, BlobProblem};
use sluice_pipeline::native::CHOSEN;
use sluice_pipeline::{Event, Observer, Pipeline, PlanOptions, RunOptions, RunSummary};
use sluice_runtime::Runtime;
use sluice_store::{RunStatus, StepStatus};

use super::Context;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
}

/// Loads and checks `file`; every error found is reported, one per line.
fn plan(
    ctx: &Context,
    runtime: &Runtime,
    file: &Path,
    allow_paths: Vec<PathBuf>,
) -> Result<sluice_pipeline::Plan> {
    let pipeline = Pipeline::load(file)?;
    // predict steps naming registered models need the registry: only
    // then is the store opened
    let models = match pipeline.registered_models().is_empty() {
        true => Default::default(),
        false => ctx.tokio()?.block_on(async {
            let store = ctx.store().await?;
            anyhow::Ok(sluice_pipeline::fetch_models(&pipeline, &store, &ctx.home).await)
        })?,
    };
    let options = PlanOptions {
        allow_paths,
        models,
    };
    let plan = sluice_pipeline::plan_with(pipeline, runtime, &ctx.home, &options);
    plan.map_err(|errors| match errors.0.len() {
        1 => anyhow::anyhow!("{errors}"),
        n => anyhow::anyhow!("{n} errors:\n{errors}"),
    })
}

pub fn check(ctx: &Context, file: &Path, allow_paths: Vec<PathBuf>) -> Result<()> {
    let runtime = ctx.runtime()?;
    let plan = plan(ctx, &runtime, file, allow_paths)?;
    println!(
        "{}: ok — {} steps, policy {}",
        file.display(),
        plan.steps.len(),
        plan.policy.path().display()
    );
    // the plan shows what plugins say of themselves (`describe()`)
    print!("{}", text::escaped(&sluice_pipeline::describe_plan(&plan)));
    for warning in &plan.warnings {
        println!("warning: {}", text::escaped(warning));
    }
    Ok(())
}

/// A rate as people read it: whole rows per second with thousands
/// separators (`43,422/s`), not indicatif's raw float.
pub fn format_rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return "-".to_string();
    }
    format!("{}/s", HumanCount(per_sec.round() as u64))
}

pub fn graph(file: &Path, format: GraphFormat) -> Result<()> {
    let pipeline = Pipeline::load(file)?;
    let dag = sluice_pipeline::Dag::build(&pipeline)?;
    print!(
        "{}",
        match format {
            GraphFormat::Text => dag.to_text(&pipeline),
            GraphFormat::Dot => dag.to_dot(&pipeline),
            GraphFormat::Mermaid => dag.to_mermaid(),
        }
    );
    Ok(())
}

/// One progress line per step.
struct Bars {
    multi: MultiProgress,
    bars: std::sync::Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn bar(&self, step: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap();
        bars.entry(step.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {prefix:<16} {human_pos:>10} rows {rate:>12} {msg}",
                    )
                    .unwrap()
                    .with_key(
                        "rate",
                        |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                            let _ = out.write_str(&format_rate(state.per_sec()));
                        },
                    ),
                );
                bar.set_prefix(step.to_string());
                bar
            })
            .clone()
    }
}

impl Observer for Bars {
    fn event(&self, event: Event) {
        match event {
            // no steady tick: it costs a thread per bar (a 100-step pipeline
            // would start 100); arriving rows move the bar instead
            Event::StepStarted { step } => self.bar(&step).tick(),
            Event::Rows { step, rows } => self.bar(&step).inc(rows),
            Event::Progress { step, message } => self.bar(&step).set_message(message),
            Event::StepFinished {
                step,
                status,
                cache_hit,
            } => {
                let bar = self.bar(&step);
                bar.finish_with_message(if cache_hit {
                    "cached".to_string()
                } else {
                    status.to_string()
                });
            }
        }
    }
}

pub fn run(
    ctx: &Context,
    file: &Path,
    options: RunOptions,
    allow_paths: Vec<PathBuf>,
) -> Result<()> {
    let runtime: Runtime = ctx.runtime()?;
    let plan = Arc::new(plan(ctx, &runtime, file, allow_paths)?);
    for warning in &plan.warnings {
        eprintln!("warning: {}", text::escaped(warning));
    }
    let tokio = ctx.tokio()?;
    let summary = tokio.block_on(async {
        let store = ctx.store().await?;
        // only runs whose process stopped heartbeating: live ones keep their lease
        let recovered = store.recover_interrupted().await?;
        if !recovered.is_empty() {
            tracing::warn!(
                "cancelled interrupted run(s) {recovered:?}: their process stopped renewing the lease"
            );
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: finishing the current chunks, marking the run cancelled");
                on_signal.store(true, Ordering::Relaxed);
            }
        });
        let observer = Arc::new(Bars {
            multi: MultiProgress::new(),
            bars: Default::default(),
        });
        let summary =
            sluice_pipeline::execute(plan.clone(), &store, &ctx.home, &options, observer, cancel)
                .await?;
        anyhow::Ok(summary)
    })?;
    print_summary(&summary);
    for output in &plan.pipeline.outputs {
        match output_failure(&summary, &output.name, &output.step) {
            None => println!("output {} -> {}", output.name, output.path.display()),
            Some(why) => println!(
                "output {} not written to {}: {}",
                output.name,
                output.path.display(),
                text::clean_line(&why, text::MESSAGE_LIMIT)
            ),
        }
    }
    match summary.status {
        RunStatus::Succeeded => Ok(()),
        status => match &summary.error {
            Some(error) => bail!("run {} {status}: {error}", summary.run_id),
            None => bail!("run {} {status}", summary.run_id),
        },
    }
}

/// Why output `name` (of step `step`) was not written, or `None` if it was.
fn output_failure(summary: &RunSummary, name: &str, step: &str) -> Option<String> {
    if summary.status == RunStatus::Succeeded {
        return None;
    }
    let own = format!("[output.{name}]");
    if let Some(error) = summary.error.as_ref().filter(|e| e.starts_with(&own)) {
        return Some(error[own.len()..].trim_start().to_string());
    }
    let from_step = summary.steps.iter().find(|s| s.name == step);
    Some(match from_step {
        Some(s) if s.status != StepStatus::Succeeded => match &s.error {
            Some(error) => format!("step `{step}` {}: {error}", s.status),
            None => format!("step `{step}` {}", s.status),
        },
        _ => match &summary.error {
            Some(error) => format!("the run {}: {error}", summary.status),
            None => format!("the run {}", summary.status),
        },
    })
}

/// A search's chosen configuration (the `chosen` metric's labels) as
/// `c = 16, class_weight = balanced`.
fn chosen_line(metric: &sluice_core::contract::Metric) -> String {
    metric
        .labels
        .iter()
        .map(|(k, v)| format!("{} = {v}", k.strip_prefix("param.").unwrap_or(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn print_summary(summary: &RunSummary) {
    println!(
        "\nrun {} {} in {:.2}s",
        summary.run_id,
        summary.status,
        summary.elapsed.as_secs_f64()
    );
    println!(
        "{:<16} {:<10} {:>9} {:>10} {:>10} {:>10} {:>14}  output",
        "step", "status", "time", "rows", "in plugin", "memory", ""
    );
    for step in &summary.steps {
        let status = if step.cache_hit {
            "cached".to_string()
        } else {
            step.status.to_string()
        };
        println!(
            "{:<16} {:<10} {:>8.2}s {:>10} {:>9.2}s {:>10} {:>14}  {}",
            step.name,
            status,
            step.elapsed.as_secs_f64(),
            step.stats.rows_out,
            step.stats.guest_time.as_secs_f64(),
            format_size(step.stats.peak_memory),
            if step.attempts > 1 {
                format!("{} attempts", step.attempts)
            } else {
                String::new()
            },
            short_or(step.output.as_ref(), "-"),
        );
        // headline numbers only; curves and per-class values are in the report
        let headline: Vec<_> = step
            .metrics
            .iter()
            .filter(|m| m.labels.is_empty())
            .collect();
        for metric in &headline {
            println!(
                "    {} = {:.6}",
                text::clean_line(&metric.name, text::MESSAGE_LIMIT),
                metric.value
            );
        }
        for chosen in step.metrics.iter().filter(|m| m.name == CHOSEN) {
            println!(
                "    chosen: {} (cross-validated {:.6})",
                text::clean_line(&chosen_line(chosen), text::MESSAGE_LIMIT),
                chosen.value
            );
        }
        let extended: Vec<String> = (step.metrics.iter())
            .filter(|m| m.name == "search.extended" && !m.labels.is_empty())
            .map(chosen_line)
            .collect();
        if !extended.is_empty() {
            println!(
                "    the best value was on the grid's edge: also tried {}",
                text::clean_line(&extended.join(", "), text::MESSAGE_LIMIT)
            );
        }
        if step.metrics.len() > headline.len() {
            println!(
                "    (+{} labelled values: `sluice report {}`)",
                step.metrics.len() - headline.len(),
                summary.run_id
            );
        }
    }
    for model in &summary.models {
        println!(
            "\nmodel {} version {} ({}) from step `{}`",
            model.name,
            model.version,
            if model.created {
                "new, now `candidate`"
            } else {
                "unchanged"
            },
            model.step
        );
        println!(
            "  promote it with: sluice promote {} {} --alias production",
            model.name, model.version
        );
    }
    for step in summary
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Succeeded)
    {
        if let Some(error) = &step.error {
            println!("\n{}: {}", step.name, text::escaped(error));
        }
    }
}

/// A digest as tables print it (12 hex digits), or `none`.
pub fn short_or(digest: Option<&Digest>, none: &str) -> String {
    digest.map_or_else(|| none.to_string(), Digest::short)
}

/// `sluice artifacts export`: `digest` is any unique prefix of one, as
/// `run` and `show` print them.
pub fn export(ctx: &Context, digest: &str, out: &Path) -> Result<()> {
    let tokio = ctx.tokio()?;
    let store = tokio.block_on(ctx.store())?;
    let artifact = tokio.block_on(sluice_pipeline::find_artifact(&store, digest))?;
    if artifact.kind != sluice_store::ArtifactKind::Table {
        bail!(
            "artifact {} is {}, not a table",
            artifact.digest,
            artifact.kind
        );
    }
    let artifacts = ArtifactDir::new(&ctx.home);
    let blob = sluice_pipeline::artifacts::stored_blob(&artifact);
    if let Some(problem) = artifacts.check(&blob)? {
        bail!(
            "artifact {}: its file {} is {problem} (`sluice run` recomputes it)",
            artifact.digest,
            artifacts.path(&blob.file_name).display()
        );
    }
    sluice_pipeline::export(&artifacts.path(&artifact.path), out)?;
    println!("{} rows -> {}", artifact.rows.unwrap_or(0), out.display());
    Ok(())
}

/// `sluice artifacts verify`: hashes every recorded artifact; damaged
/// files are removed so that the next run recomputes them.
pub fn verify(ctx: &Context) -> Result<()> {
    let tokio = ctx.tokio()?;
    let store = tokio.block_on(ctx.store())?;
    let verification = tokio.block_on(sluice_pipeline::verify_artifacts(&store, &ctx.home))?;
    for (record, problem) in &verification.problems {
        let action = match problem {
            BlobProblem::Missing => "",
            _ => " (removed; the next run recomputes it)",
        };
        println!(
            "{} {:<6} {}: {problem}{action}",
            record.digest,
            record.kind.to_string(),
            record.path
        );
    }
    println!(
        "{} artifacts checked, {} damaged or missing",
        verification.checked,
        verification.problems.len()
    );
    if !verification.problems.is_empty() {
        bail!(
            "{} artifacts are damaged or missing",
            verification.problems.len()
        );
    }
    Ok(())
}

/// `sluice gc`: removes artifact files nothing refers to and temporaries
/// of killed processes.
pub fn gc(ctx: &Context, dry_run: bool) -> Result<()> {
    let tokio = ctx.tokio()?;
    let store = tokio.block_on(ctx.store())?;
    let collection =
        tokio.block_on(sluice_pipeline::collect_garbage(&store, &ctx.home, dry_run))?;
    let verb = if dry_run { "would remove" } else { "removed" };
    for path in collection
        .unreferenced
        .iter()
        .chain(&collection.temporaries)
    {
        println!("{verb} {}", path.display());
    }
    println!(
        "{verb} {} unreferenced artifacts ({}) and {} stale temporary files; kept {}",
        collection.unreferenced.len(),
        format_size(collection.bytes),
        collection.temporaries.len(),
        collection.kept
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_print_as_whole_rows_per_second() {
        assert_eq!(super::format_rate(43_421.761_205_310_52), "43,422/s");
        assert_eq!(super::format_rate(0.4), "0/s");
        assert_eq!(super::format_rate(f64::NAN), "-");
        assert_eq!(super::format_rate(0.0), "-");
    }
}
