//! Fills a [`RunReport`] from the store: the run, its steps, and the
//! metrics each step's output carries. Knows how evaluators name their
//! metrics (see plugins/classification-metrics and group-metrics):
//! curve points are `roc.fpr` / `roc.tpr` and `pr.recall` / `pr.precision`
//! labelled `point`; confusion counts are `confusion` labelled `actual`
//! and `predicted`; per-group values carry a `group` label.

use std::collections::BTreeMap;

use super::{
    BinaryCurves, ConfusionMatrix, DeploymentRow, GroupMetric, LogRow, MetricRow, ModelInfo,
    PrCurve, RocCurve, RunReport, StepRow, format_value,
};
use sluice_core::contract::Metric;
use sluice_metrics::names;
use sluice_store::{Store, StoreError};

fn label<'a>(metric: &'a Metric, key: &str) -> Option<&'a str> {
    metric
        .labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Milliseconds since the epoch as `YYYY-MM-DD hh:mm:ss` (UTC).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil-from-days (Howard Hinnant), so no date crate is needed
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Points of a curve from `x` / `y` metrics labelled `point`, in order.
fn curve(metrics: &[Metric], x: &str, y: &str) -> Vec<(f64, f64)> {
    let mut points: BTreeMap<usize, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for m in metrics {
        let Some(point) = label(m, names::label::POINT).and_then(|p| p.parse::<usize>().ok())
        else {
            continue;
        };
        if m.name == x {
            points.entry(point).or_default().0 = Some(m.value);
        } else if m.name == y {
            points.entry(point).or_default().1 = Some(m.value);
        }
    }
    points
        .into_values()
        .filter_map(|(x, y)| Some((x?, y?)))
        .collect()
}

fn unlabelled(metrics: &[Metric], name: &str) -> Option<f64> {
    metrics
        .iter()
        .find(|m| m.name == name && m.labels.is_empty())
        .map(|m| m.value)
}

/// Adds one step's metrics to the report's sections.
fn add_step_metrics(report: &mut RunReport, step: &str, metrics: &[Metric]) {
    for m in metrics {
        let is_point = label(m, names::label::POINT).is_some();
        let is_confusion = m.name == names::CONFUSION;
        let is_grouped = label(m, names::label::GROUP).is_some();
        if !is_point && !is_confusion && !is_grouped {
            report.metrics.push(MetricRow {
                step: step.to_string(),
                name: m.name.clone(),
                value: m.value,
                labels: m.labels.clone(),
            });
        }
    }
    let roc = curve(metrics, names::ROC_FPR, names::ROC_TPR);
    let pr = curve(metrics, names::PR_RECALL, names::PR_PRECISION);
    if !roc.is_empty() || !pr.is_empty() {
        report.curves.push(BinaryCurves {
            step: step.to_string(),
            roc: (!roc.is_empty()).then(|| RocCurve {
                points: roc,
                auc: unlabelled(metrics, names::ROC_AUC).unwrap_or(f64::NAN),
            }),
            pr: (!pr.is_empty()).then(|| PrCurve {
                points: pr,
                average_precision: unlabelled(metrics, names::PR_AUC).unwrap_or(f64::NAN),
                positive_rate: None,
            }),
        });
    }
    let cells: Vec<(&str, &str, f64)> = metrics
        .iter()
        .filter(|m| m.name == names::CONFUSION)
        .filter_map(|m| {
            Some((
                label(m, names::label::ACTUAL)?,
                label(m, names::label::PREDICTED)?,
                m.value,
            ))
        })
        .collect();
    if !cells.is_empty() {
        let mut labels: Vec<String> = cells
            .iter()
            .flat_map(|(a, p, _)| [a.to_string(), p.to_string()])
            .collect();
        // numeric class labels sort as numbers
        labels.sort_by(|a, b| match (a.parse::<i64>(), b.parse::<i64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        });
        labels.dedup();
        let mut counts = vec![vec![0u64; labels.len()]; labels.len()];
        for (actual, predicted, value) in cells {
            let i = labels.iter().position(|l| l == actual).expect("collected");
            let j = labels
                .iter()
                .position(|l| l == predicted)
                .expect("collected");
            counts[i][j] = value.max(0.0) as u64;
        }
        report.confusion_matrices.push(ConfusionMatrix {
            step: step.to_string(),
            labels,
            counts,
        });
    }
    let mut groups: BTreeMap<&str, Vec<(String, f64)>> = BTreeMap::new();
    for m in metrics {
        if let Some(group) = label(m, names::label::GROUP)
            && m.name != names::SUPPORT
        {
            groups
                .entry(m.name.as_str())
                .or_default()
                .push((group.to_string(), m.value));
        }
    }
    for (metric, values) in groups {
        report.group_metrics.push(GroupMetric {
            step: step.to_string(),
            metric: metric.to_string(),
            groups: values,
        });
    }
}

/// The report of run `run`, or `None` when there is no such run.
pub async fn collect(store: &Store, run: i64) -> Result<Option<RunReport>, StoreError> {
    let Some(record) = store.run(run).await? else {
        return Ok(None);
    };
    let mut report = RunReport {
        run_id: record.id.to_string(),
        pipeline: record.pipeline.clone(),
        status: record.status.to_string(),
        started_at: Some(format!("{} UTC", format_time(record.started_at))),
        finished_at: record
            .finished_at
            .map(|t| format!("{} UTC", format_time(t))),
        ..Default::default()
    };
    for step in store.step_runs(run).await? {
        report.steps.push(StepRow {
            name: step.step.clone(),
            status: step.status.to_string(),
            duration_ms: step
                .finished_at
                .map(|f| (f - step.started_at).max(0) as u64),
            cache_hit: step.cache_hit,
            rows_in: step.rows_in.map(|r| r as u64),
            rows_out: step.rows_out.map(|r| r as u64),
        });
        if !step.cache_key.is_empty() {
            let metrics = store.step_metrics(&step.cache_key).await?;
            add_step_metrics(&mut report, &step.step, &metrics);
        }
    }
    for log in store.step_logs(run).await? {
        let detail = match (&log.level, log.value) {
            (Some(level), _) => level.clone(),
            (None, Some(value)) => format_value(value),
            (None, None) => String::new(),
        };
        report.logs.push(LogRow {
            step: log.step,
            kind: log.kind.to_string(),
            detail,
            message: log.message,
        });
    }
    if let Some(model) = store.model_versions_of_run(run).await?.into_iter().next() {
        let params: serde_json::Value =
            serde_json::from_str(&model.params).unwrap_or(serde_json::Value::Null);
        let mut shown = Vec::new();
        let hyper: BTreeMap<String, sluice_train::HyperValue> = params
            .get("hyper")
            .and_then(|h| serde_json::from_value(h.clone()).ok())
            .unwrap_or_default();
        for (k, v) in hyper {
            shown.push((k, v.to_string()));
        }
        for key in ["target", "test_fraction", "seed", "features"] {
            if let Some(v) = params.get(key).filter(|v| !v.is_null()) {
                shown.push((key.to_string(), v.to_string()));
            }
        }
        let deployments = (store.deployments(Some(&model.name), 100).await?.into_iter())
            .filter(|d| d.version == model.version)
            .map(|d| DeploymentRow {
                id: d.id,
                split: match d.mode {
                    sluice_store::DeploymentMode::Shadow => "shadow".to_string(),
                    sluice_store::DeploymentMode::Canary => format!("canary {} %", d.percent),
                    sluice_store::DeploymentMode::Ab => {
                        format!("ab {} % as {}", d.percent, d.variant)
                    }
                },
                status: d.status.to_string(),
                started: format!("{} UTC by {}", format_time(d.created_at), d.created_by),
                ended_by: d.ended_by.unwrap_or_default(),
                reason: d.reason.unwrap_or_default(),
            })
            .collect();
        report.model = Some(ModelInfo {
            name: model.name,
            version: model.version.to_string(),
            algorithm: model.algorithm,
            params: shown,
            deployments,
        });
    }
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_795_687_200_000), "2026-11-26 10:00:00");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn evaluator_metrics_fill_the_sections() {
        let m = |name: &str, value: f64, labels: &[(&str, &str)]| Metric {
            name: name.into(),
            value,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let metrics = vec![
            m("f1", 0.9, &[]),
            m("roc_auc", 0.95, &[]),
            m("roc.fpr", 0.0, &[("point", "0")]),
            m("roc.tpr", 0.0, &[("point", "0")]),
            m("roc.fpr", 1.0, &[("point", "1")]),
            m("roc.tpr", 1.0, &[("point", "1")]),
            m("confusion", 5.0, &[("actual", "1"), ("predicted", "1")]),
            m("confusion", 2.0, &[("actual", "10"), ("predicted", "1")]),
            m("f1", 0.8, &[("group", "es")]),
            m("f1", 0.7, &[("group", "en")]),
        ];
        let mut report = RunReport::default();
        add_step_metrics(&mut report, "eval", &metrics);
        assert_eq!(report.metrics.len(), 2);
        let roc = report.curves[0].roc.as_ref().unwrap();
        assert_eq!(roc.points, vec![(0.0, 0.0), (1.0, 1.0)]);
        assert_eq!(roc.auc, 0.95);
        let confusion = &report.confusion_matrices[0];
        assert_eq!(confusion.labels, vec!["1", "10"]);
        assert_eq!(confusion.counts, vec![vec![5, 0], vec![2, 0]]);
        assert_eq!(report.group_metrics[0].metric, "f1");
        assert_eq!(report.group_metrics[0].groups.len(), 2);
    }
}
