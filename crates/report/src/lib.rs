//! Offline HTML report of one run (`sluice report RUN`).
//!
//! The caller fills a [`RunReport`] from the store and [`render_html`] turns
//! it into one self-contained HTML page: inline CSS, charts as inline SVG,
//! no scripts, fonts or URLs, so it can be mailed, archived or opened with
//! no network. Every string from the data is HTML-escaped (step names,
//! labels and group values are user-controlled), and a Content Security
//! Policy forbids scripts as a second line of defence.
//!
//! Sections without data are left out, except the run summary and steps.

pub mod charts;
pub mod collect;

use std::fmt::Write as _;

use sluice_core::text;
use thiserror::Error;

use charts::{Chart, ChartError};

#[derive(Debug, Error)]
pub enum ReportError {
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// The data contradicts itself (e.g. a confusion matrix that is not
    /// labels × labels).
    #[error("invalid report data: {0}")]
    InvalidData(String),
}

/// Everything the report shows about one run. Plain data: timestamps and
/// statuses arrive pre-formatted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    pub run_id: String,
    pub pipeline: String,
    /// e.g. "succeeded", "failed", "cancelled", "running".
    pub status: String,
    /// Pre-formatted, e.g. RFC 3339.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub steps: Vec<StepRow>,
    pub metrics: Vec<MetricRow>,
    /// One entry per binary-classification evaluator step.
    pub curves: Vec<BinaryCurves>,
    pub confusion_matrices: Vec<ConfusionMatrix>,
    pub group_metrics: Vec<GroupMetric>,
    pub model: Option<ModelInfo>,
    /// What the steps' plugins logged, measured and printed.
    pub logs: Vec<LogRow>,
}

/// One stored step log row (see `sluice_store::StepLogRecord`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRow {
    pub step: String,
    /// `log`, `metric`, `stdout`, `stderr` or `dropped`.
    pub kind: String,
    /// A log line's level, or a metric's value.
    pub detail: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRow {
    pub name: String,
    pub status: String,
    pub duration_ms: Option<u64>,
    pub cache_hit: bool,
    pub rows_in: Option<u64>,
    pub rows_out: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricRow {
    pub step: String,
    pub name: String,
    pub value: f64,
    pub labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BinaryCurves {
    pub step: String,
    pub roc: Option<RocCurve>,
    pub pr: Option<PrCurve>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RocCurve {
    /// (false positive rate, true positive rate), in threshold order.
    pub points: Vec<(f64, f64)>,
    pub auc: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrCurve {
    /// (recall, precision), in threshold order.
    pub points: Vec<(f64, f64)>,
    pub average_precision: f64,
    /// Share of positives: the precision of a random classifier, drawn as
    /// the baseline when known.
    pub positive_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfusionMatrix {
    pub step: String,
    /// Class labels, in the order of both rows and columns.
    pub labels: Vec<String>,
    /// `counts[actual][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

/// One metric computed per group (e.g. f1 per region).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupMetric {
    pub step: String,
    pub metric: String,
    /// (group value, metric value).
    pub groups: Vec<(String, f64)>,
}

/// The widest difference between two groups of a [`GroupMetric`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupGap {
    /// (group, value) with the highest value.
    pub high: (String, f64),
    /// (group, value) with the lowest value.
    pub low: (String, f64),
    /// `high - low`.
    pub gap: f64,
}

impl GroupMetric {
    /// Highest minus lowest finite value; `None` with fewer than two
    /// finite values.
    pub fn largest_gap(&self) -> Option<GroupGap> {
        let finite: Vec<&(String, f64)> = self
            .groups
            .iter()
            .filter(|(_, value)| value.is_finite())
            .collect();
        if finite.len() < 2 {
            return None;
        }
        let high = finite.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
        let low = finite.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
        Some(GroupGap {
            gap: high.1 - low.1,
            high: (*high).clone(),
            low: (*low).clone(),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub algorithm: String,
    /// Hyperparameters, pre-formatted.
    pub params: Vec<(String, String)>,
    /// This version's rollouts next to production, newest first.
    pub deployments: Vec<DeploymentRow>,
}

/// A rollout of the model version, as the report shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentRow {
    pub id: i64,
    /// `canary 5 %`, `ab 50 % as b`, `shadow`.
    pub split: String,
    pub status: String,
    pub started: String,
    /// Who ended it, and why (the comparator's reason for a server).
    pub ended_by: String,
    pub reason: String,
}

/// Escapes text for HTML element content and quoted attribute values;
/// control characters (which HTML forbids) are shown as `\x1b`.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text::escaped(text).chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Renders the whole report as one self-contained HTML document.
pub fn render_html(report: &RunReport) -> Result<String, ReportError> {
    validate(report)?;
    let mut sections = Vec::new();
    sections.push(Section::new("summary", "Run", summary_section(report)));
    if let Some(model) = &report.model {
        sections.push(Section::new("model", "Model", model_section(model)));
    }
    sections.push(Section::new("steps", "Steps", steps_section(&report.steps)));
    if !report.metrics.is_empty() {
        sections.push(Section::new(
            "metrics",
            "Metrics",
            metrics_section(&report.metrics),
        ));
    }
    if !report.curves.is_empty() {
        sections.push(Section::new(
            "curves",
            "ROC and precision–recall",
            curves_section(&report.curves)?,
        ));
    }
    if !report.confusion_matrices.is_empty() {
        sections.push(Section::new(
            "confusion",
            "Confusion matrices",
            confusion_section(&report.confusion_matrices)?,
        ));
    }
    if !report.group_metrics.is_empty() {
        sections.push(Section::new(
            "groups",
            "Metrics by group",
            groups_section(&report.group_metrics)?,
        ));
    }

    if !report.logs.is_empty() {
        sections.push(Section::new(
            "logs",
            "Step logs",
            logs_section(&report.logs),
        ));
    }

    let title = format!("Run {} — {}", report.run_id, report.pipeline);
    let mut html = String::with_capacity(64 * 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing may load or run, even if some escaping were ever missed.
    html.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:\">\n",
    );
    let _ = writeln!(html, "<title>{}</title>", escape(&title));
    let _ = writeln!(html, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(
        html,
        "<header><h1>{}</h1><p class=\"subtitle\">Pipeline <strong>{}</strong> · {}</p></header>",
        escape(&format!("Run {}", report.run_id)),
        escape(&report.pipeline),
        status_badge(&report.status),
    );
    html.push_str("<nav aria-label=\"Sections\"><ul>\n");
    for section in &sections {
        let _ = writeln!(
            html,
            "<li><a href=\"#{}\">{}</a></li>",
            section.id,
            escape(section.heading)
        );
    }
    html.push_str("</ul></nav>\n<main>\n");
    for section in &sections {
        let _ = writeln!(
            html,
            "<section id=\"{id}\" aria-labelledby=\"{id}-heading\">\n<h2 id=\"{id}-heading\">{}</h2>\n{}</section>",
            escape(section.heading),
            section.body,
            id = section.id,
        );
    }
    html.push_str("</main>\n<footer>Generated by sluice. This file is self-contained and works offline.</footer>\n</body>\n</html>\n");
    Ok(html)
}

struct Section {
    id: &'static str,
    heading: &'static str,
    body: String,
}

impl Section {
    fn new(id: &'static str, heading: &'static str, body: String) -> Self {
        Section { id, heading, body }
    }
}

fn validate(report: &RunReport) -> Result<(), ReportError> {
    for matrix in &report.confusion_matrices {
        let classes = matrix.labels.len();
        if matrix.counts.len() != classes || matrix.counts.iter().any(|row| row.len() != classes) {
            return Err(ReportError::InvalidData(format!(
                "confusion matrix of step `{}` has {classes} labels but is not {classes}×{classes}",
                matrix.step
            )));
        }
    }
    Ok(())
}

const STYLE: &str = "
:root { color-scheme: light; --fg: #1b1b1f; --muted: #5c5f66; --line: #dcdfe4; --bg-alt: #f5f6f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; color: var(--fg); background: #fff; }
header, nav, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
td pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }
h1 { margin: 0 0 4px; font-size: 26px; overflow-wrap: anywhere; }
h2 { margin: 32px 0 12px; font-size: 20px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { margin: 20px 0 8px; font-size: 16px; overflow-wrap: anywhere; }
.subtitle { margin: 0; color: var(--muted); }
nav ul { list-style: none; padding: 0; margin: 16px 0 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
nav a { color: #0b57d0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; color: var(--muted); }
th, td { border-bottom: 1px solid var(--line); padding: 5px 12px 5px 0; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { font-weight: 600; }
td.num, th.num { text-align: right; padding-left: 12px; }
tbody tr:nth-child(even) { background: var(--bg-alt); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px; font-weight: 600; background: #e8eaed; color: #3c4043; }
.badge.ok { background: #d7f0dd; color: #0d5223; }
.badge.bad { background: #fbdcdc; color: #8a1414; }
.badge.warn { background: #fdf0c7; color: #6b4e00; }
.label { display: inline-block; margin: 0 4px 2px 0; padding: 0 6px; border-radius: 4px; background: #eef1f6; font-size: 13px; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0 0 16px; }
figcaption { color: var(--muted); font-size: 13px; max-width: 560px; }
svg.chart { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
details { margin: 4px 0 16px; }
summary { cursor: pointer; color: #0b57d0; }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 40px; padding-bottom: 24px; color: var(--muted); font-size: 13px; }
@media print { nav { display: none; } svg.chart { border: none; } }
";

fn status_badge(status: &str) -> String {
    let class = match status.to_ascii_lowercase().as_str() {
        "succeeded" | "success" | "ok" | "passed" | "completed" | "done" => "badge ok",
        "failed" | "failure" | "error" | "errored" => "badge bad",
        "cancelled" | "canceled" | "skipped" | "running" | "pending" => "badge warn",
        _ => "badge",
    };
    format!("<span class=\"{class}\">{}</span>", escape(status))
}

fn summary_section(report: &RunReport) -> String {
    let missing = || "<span class=\"empty\">unknown</span>".to_owned();
    let time = |value: &Option<String>| value.as_deref().map_or_else(missing, escape);
    let total_ms: u64 = report.steps.iter().filter_map(|s| s.duration_ms).sum();
    let cache_hits = report.steps.iter().filter(|s| s.cache_hit).count();
    format!(
        "<dl class=\"facts\">\n<dt>Run</dt><dd><code>{}</code></dd>\n<dt>Pipeline</dt><dd>{}</dd>\n\
         <dt>Status</dt><dd>{}</dd>\n<dt>Started</dt><dd>{}</dd>\n<dt>Finished</dt><dd>{}</dd>\n\
         <dt>Steps</dt><dd>{} ({} from cache, {} of step time)</dd>\n</dl>\n",
        escape(&report.run_id),
        escape(&report.pipeline),
        status_badge(&report.status),
        time(&report.started_at),
        time(&report.finished_at),
        report.steps.len(),
        cache_hits,
        format_duration(total_ms),
    )
}

fn model_section(model: &ModelInfo) -> String {
    let mut body = format!(
        "<dl class=\"facts\">\n<dt>Name</dt><dd>{}</dd>\n<dt>Version</dt><dd>{}</dd>\n\
         <dt>Algorithm</dt><dd>{}</dd>\n</dl>\n",
        escape(&model.name),
        escape(&model.version),
        escape(&model.algorithm),
    );
    if !model.params.is_empty() {
        body.push_str(
            "<table>\n<caption>Hyperparameters</caption>\n<thead><tr><th scope=\"col\">Parameter</th>\
             <th scope=\"col\">Value</th></tr></thead>\n<tbody>\n",
        );
        for (name, value) in &model.params {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td><code>{}</code></td></tr>",
                escape(name),
                escape(value)
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }
    if !model.deployments.is_empty() {
        body.push_str(
            "<table>\n<caption>Rollouts next to production</caption>\n<thead><tr>\
             <th scope=\"col\" class=\"num\">Deployment</th><th scope=\"col\">Split</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Started</th>\
             <th scope=\"col\">Ended by</th><th scope=\"col\">Why</th></tr></thead>\n<tbody>\n",
        );
        for d in &model.deployments {
            let _ = writeln!(
                body,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                d.id,
                escape(&d.split),
                escape(&d.status),
                escape(&d.started),
                escape(&d.ended_by),
                escape(&d.reason)
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }
    body
}

fn steps_section(steps: &[StepRow]) -> String {
    if steps.is_empty() {
        return "<p class=\"empty\">No steps recorded.</p>\n".to_owned();
    }
    let mut body = String::from(
        "<table>\n<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Status</th>\
         <th scope=\"col\" class=\"num\">Duration</th><th scope=\"col\">Cache</th>\
         <th scope=\"col\" class=\"num\">Rows in</th><th scope=\"col\" class=\"num\">Rows out</th>\
         </tr></thead>\n<tbody>\n",
    );
    let count = |rows: Option<u64>| rows.map_or_else(|| "—".to_owned(), format_count);
    for step in steps {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&step.name),
            status_badge(&step.status),
            step.duration_ms
                .map_or_else(|| "—".to_owned(), format_duration),
            if step.cache_hit { "hit" } else { "miss" },
            count(step.rows_in),
            count(step.rows_out),
        );
    }
    body.push_str("</tbody>\n</table>\n");
    body
}

fn logs_section(logs: &[LogRow]) -> String {
    let mut body = String::from(
        "<table>\n<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Kind</th>\
         <th scope=\"col\"></th><th scope=\"col\">Message</th></tr></thead>\n<tbody>\n",
    );
    for log in logs {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            escape(&log.step),
            escape(&log.kind),
            escape(&log.detail),
            escape(&log.message),
        );
    }
    body.push_str("</tbody>\n</table>\n");
    body
}

fn metrics_section(metrics: &[MetricRow]) -> String {
    let mut body = String::from(
        "<table>\n<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Metric</th>\
         <th scope=\"col\" class=\"num\">Value</th><th scope=\"col\">Labels</th></tr></thead>\n<tbody>\n",
    );
    for metric in metrics {
        let labels: String = metric
            .labels
            .iter()
            .map(|(key, value)| {
                format!(
                    "<span class=\"label\">{}={}</span>",
                    escape(key),
                    escape(value)
                )
            })
            .collect();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{labels}</td></tr>",
            escape(&metric.step),
            escape(&metric.name),
            format_value(metric.value),
        );
    }
    body.push_str("</tbody>\n</table>\n");
    body
}

/// A chart in a `<figure>`; `id` must be unique in the page.
fn figure(chart: &Chart, id: &str, caption: &str) -> String {
    format!(
        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
        chart.inline_svg(id),
        escape(caption)
    )
}

fn curves_section(curves: &[BinaryCurves]) -> Result<String, ReportError> {
    let mut body = String::new();
    for (index, evaluation) in curves.iter().enumerate() {
        let _ = writeln!(
            body,
            "<h3>{}</h3>\n<div class=\"figures\">",
            escape(&evaluation.step)
        );
        if let Some(roc) = &evaluation.roc {
            let chart = charts::roc_chart(&evaluation.step, roc)?;
            let caption = format!(
                "AUC {}. Higher and further left is better; the dashed diagonal is chance.",
                format_value(roc.auc)
            );
            body.push_str(&figure(&chart, &format!("roc-{index}"), &caption));
        }
        if let Some(pr) = &evaluation.pr {
            let chart = charts::pr_chart(&evaluation.step, pr)?;
            let caption = format!(
                "Average precision {}. Higher and further right is better.",
                format_value(pr.average_precision)
            );
            body.push_str(&figure(&chart, &format!("pr-{index}"), &caption));
        }
        if evaluation.roc.is_none() && evaluation.pr.is_none() {
            body.push_str("<p class=\"empty\">No curves recorded for this step.</p>\n");
        }
        body.push_str("</div>\n");
    }
    Ok(body)
}

fn confusion_section(matrices: &[ConfusionMatrix]) -> Result<String, ReportError> {
    let mut body = String::new();
    for (index, matrix) in matrices.iter().enumerate() {
        let chart = charts::confusion_matrix_chart(matrix)?;
        let _ = writeln!(body, "<h3>{}</h3>", escape(&matrix.step));
        body.push_str(&figure(
            &chart,
            &format!("confusion-{index}"),
            "Rows are actual classes, columns predicted; shading is the share of each actual class.",
        ));
        // The same numbers as a table, for screen readers and copying.
        body.push_str("<details>\n<summary>Counts as a table</summary>\n<table>\n<thead><tr><th scope=\"col\">Actual \\ predicted</th>");
        for label in &matrix.labels {
            let _ = write!(
                body,
                "<th scope=\"col\" class=\"num\">{}</th>",
                escape(label)
            );
        }
        body.push_str("</tr></thead>\n<tbody>\n");
        for (label, row) in matrix.labels.iter().zip(&matrix.counts) {
            let _ = write!(body, "<tr><th scope=\"row\">{}</th>", escape(label));
            for count in row {
                let _ = write!(body, "<td class=\"num\">{}</td>", format_count(*count));
            }
            body.push_str("</tr>\n");
        }
        body.push_str("</tbody>\n</table>\n</details>\n");
    }
    Ok(body)
}

fn groups_section(group_metrics: &[GroupMetric]) -> Result<String, ReportError> {
    let mut body = String::new();
    for (index, group_metric) in group_metrics.iter().enumerate() {
        let _ = writeln!(
            body,
            "<h3>{} — {}</h3>",
            escape(&group_metric.metric),
            escape(&group_metric.step)
        );
        let gap = group_metric.largest_gap();
        let caption = match &gap {
            Some(gap) => format!(
                "Largest gap {} between {} ({}) and {} ({}).",
                format_value(gap.gap),
                gap.high.0,
                format_value(gap.high.1),
                gap.low.0,
                format_value(gap.low.1)
            ),
            None => "Fewer than two groups with a value: no gap.".to_owned(),
        };
        if !group_metric.groups.is_empty() {
            let chart = charts::group_metric_chart(group_metric)?;
            body.push_str(&figure(&chart, &format!("groups-{index}"), &caption));
        }
        let _ = write!(
            body,
            "<table>\n<thead><tr><th scope=\"col\">Group</th><th scope=\"col\" class=\"num\">{}</th>\
             <th scope=\"col\" class=\"num\">Below best</th></tr></thead>\n<tbody>\n",
            escape(&group_metric.metric)
        );
        for (group, value) in &group_metric.groups {
            let below_best = match &gap {
                Some(gap) if value.is_finite() => format_value(gap.high.1 - value),
                _ => "—".to_owned(),
            };
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{below_best}</td></tr>",
                escape(group),
                format_value(*value),
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }
    Ok(body)
}

/// Metric values: integers as integers, otherwise 4 decimals (trimmed),
/// scientific notation for very small or large magnitudes.
pub(crate) fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    if value.fract() == 0.0 && magnitude < 1e15 {
        format!("{value:.0}")
    } else if magnitude != 0.0 && !(1e-3..1e6).contains(&magnitude) {
        format!("{value:.3e}")
    } else {
        let text = format!("{value:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// 1234567 → "1,234,567".
fn format_count(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn format_duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

#[cfg(test)]
mod tests;
