//! `sluice runs`, `sluice show`, `sluice audit`.

use anyhow::{Result, bail};

use sluice_core::text;
use sluice_core::units::format_size;
use sluice_store::{AuditAnchor, RunStatus, STDIO_LIMIT, StepLogKind, StepLogRecord};

use super::Context;
use super::pipeline::short_or;

pub(crate) fn when(ms: i64) -> String {
    sluice_report::collect::format_time(ms)
}

fn duration(start: i64, end: Option<i64>) -> String {
    end.map(|e| format!("{:.2}s", (e - start) as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

/// A running run whose owner stopped renewing its lease: its process is
/// most likely gone, and the next `sluice run` on this store cancels it.
fn lease_note(run: &sluice_store::RunRecord) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    match run.lease_expires_at {
        Some(expired) if run.status == RunStatus::Running && expired < now => format!(
            "lease expired {} UTC: its process stopped; the next `sluice run` cancels it",
            when(expired)
        ),
        _ => String::new(),
    }
}

pub fn runs(ctx: &Context, limit: i64) -> Result<()> {
    let tokio = ctx.tokio()?;
    let store = tokio.block_on(ctx.store())?;
    let runs = tokio.block_on(store.runs(limit))?;
    println!(
        "{:>5}  {:<20} {:<10} {:<20} {:>9}",
        "run", "pipeline", "status", "started (UTC)", "took"
    );
    for run in runs {
        println!(
            "{:>5}  {:<20} {:<10} {:<20} {:>9}  {}",
            run.id,
            run.pipeline,
            run.status.to_string(),
            when(run.started_at),
            duration(run.started_at, run.finished_at),
            lease_note(&run)
        );
    }
    Ok(())
}

pub fn show(ctx: &Context, id: i64, logs: bool) -> Result<()> {
    let tokio = ctx.tokio()?;
    let store = tokio.block_on(ctx.store())?;
    let Some(run) = tokio.block_on(store.run(id))? else {
        bail!("no run {id} in {}", store.url_for_display());
    };
    println!("run {} — {} — {}", run.id, run.pipeline, run.status);
    println!(
        "started {} UTC, took {}, pipeline {}",
        when(run.started_at),
        duration(run.started_at, run.finished_at),
        run.pipeline_digest.short()
    );
    // stored text is cleaned when written; cleaned again for rows written
    // before that
    if let Some(error) = &run.error {
        println!("error: {}", text::cleaned(error, text::MESSAGE_LIMIT));
    }
    if run.status == RunStatus::Running {
        println!(
            "owner {}, lease until {} UTC",
            run.owner.as_deref().unwrap_or("-"),
            run.lease_expires_at.map(when).unwrap_or_else(|| "-".into())
        );
        let note = lease_note(&run);
        if !note.is_empty() {
            println!("{note}");
        }
    }
    println!(
        "\n{:<16} {:<10} {:>6} {:>9} {:>10} {:>10} {:>10} {:>8}  plugin",
        "step", "status", "cache", "time", "rows in", "rows out", "memory", "cpu"
    );
    for step in tokio.block_on(store.step_runs(id))? {
        println!(
            "{:<16} {:<10} {:>6} {:>9} {:>10} {:>10} {:>10} {:>7}ms  {}",
            step.step,
            step.status.to_string(),
            if step.cache_hit { "hit" } else { "" },
            duration(step.started_at, step.finished_at),
            step.rows_in.map(|r| r.to_string()).unwrap_or_default(),
            step.rows_out.map(|r| r.to_string()).unwrap_or_default(),
            step.peak_memory
                .map(|m| format_size(m as u64))
                .unwrap_or_default(),
            step.cpu_ms.unwrap_or(0),
            short_or(step.plugin_digest.as_ref(), "-"),
        );
        if let Some(error) = &step.error {
            println!("    {}", text::cleaned(error, text::MESSAGE_LIMIT));
        }
    }
    let artifacts = tokio.block_on(store.artifacts_of_run(id))?;
    if !artifacts.is_empty() {
        println!("\nartifacts");
        for a in artifacts {
            let inputs: Vec<String> = a.inputs.iter().map(|i| i.short()).collect();
            println!(
                "  {} {:<6} {:<14} {:>8} rows {:>10}  from [{}]",
                a.digest,
                a.kind.to_string(),
                a.created_by_step,
                a.rows.unwrap_or(0),
                format_size(a.bytes as u64),
                inputs.join(", ")
            );
        }
    }
    if logs {
        print_step_logs(&tokio.block_on(store.step_logs(id))?);
    }
    Ok(())
}

/// What each step's plugin logged, measured and printed, step by step.
fn print_step_logs(logs: &[StepLogRecord]) {
    println!("\nlogs");
    if logs.is_empty() {
        println!("  (no step logged anything)");
    }
    let mut step_run = None;
    for log in logs {
        if step_run != Some(log.step_run_id) {
            step_run = Some(log.step_run_id);
            println!("  {}", log.step);
        }
        let message = text::cleaned(&log.message, STDIO_LIMIT);
        match log.kind {
            StepLogKind::Log => println!(
                "    {:<5} {}",
                log.level.as_deref().unwrap_or("info"),
                text::clean_line(&message, text::MESSAGE_LIMIT)
            ),
            StepLogKind::Metric => println!(
                "    metric {} = {}",
                text::clean_line(&message, text::MESSAGE_LIMIT),
                log.value.unwrap_or(f64::NAN)
            ),
            StepLogKind::Stdout | StepLogKind::Stderr => {
                for line in message.lines() {
                    println!("    {} | {line}", log.kind);
                }
            }
            StepLogKind::Dropped => println!("    warning: {message}"),
        }
    }
}

pub fn audit_verify(ctx: &Context, since_checkpoint: bool, expect: &[AuditAnchor]) -> Result<()> {
    let tokio = ctx.tokio()?;
    let store = tokio.block_on(ctx.store())?;
    let result = tokio.block_on(store.verify_audit_with(expect))?;
    for row in &result.broken {
        println!("row {}: {}", row.id, row.reason);
    }
    if result.broken_total > result.broken.len() as u64 {
        println!(
            "... and {} more broken rows",
            result.broken_total - result.broken.len() as u64
        );
    }
    if !result.is_ok() {
        bail!(
            "audit log broken: {} broken row(s) of {} checked, {} anchor(s) checked",
            result.broken_total,
            result.rows_checked,
            result.anchors_checked
        );
    }
    if since_checkpoint && result.anchors_checked == 0 {
        bail!(
            "no checkpoint in {}: nothing anchors the log's tail (record one with `sluice audit checkpoint`)",
            store.url_for_display()
        );
    }
    println!(
        "audit log ok: {} rows, hash chain intact, {} anchor(s) hold",
        result.rows_checked, result.anchors_checked
    );
    if result.anchors_checked == 0 {
        println!(
            "note: without a checkpoint, rows cut from the end cannot be seen (`sluice audit checkpoint`)"
        );
    }
    Ok(())
}

pub fn audit_checkpoint(ctx: &Context) -> Result<()> {
    let tokio = ctx.tokio()?;
    let store = tokio.block_on(ctx.store())?;
    let checkpoint = tokio.block_on(store.audit_checkpoint(&ctx.actor()))?;
    println!(
        "checkpoint {}: audit head row {} hash {}",
        checkpoint.id, checkpoint.audit_id, checkpoint.hash
    );
    println!("keep this anchor outside the database, and check it with:");
    println!("  sluice audit verify --expect {}", checkpoint.anchor());
    Ok(())
}

pub fn audit_log(ctx: &Context, limit: i64) -> Result<()> {
    let tokio = ctx.tokio()?;
    let store = tokio.block_on(ctx.store())?;
    for entry in tokio.block_on(store.audit_log(limit))? {
        println!(
            "{:>5} {} {:<8} {:<14} {:<20} {}",
            entry.id,
            when(entry.at),
            entry.actor,
            entry.action,
            entry.subject,
            entry.detail
        );
    }
    Ok(())
}
