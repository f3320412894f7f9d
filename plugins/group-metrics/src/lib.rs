//! `group-metrics`: a fairness gap report. Accumulates actual and predicted
//! binary labels, an optional positive-class probability and a group per
//! row; `finish` returns the classification metrics of each group and, for
//! each metric, the largest gap between two groups.

use std::collections::BTreeMap;

use sluice_metrics as metrics;
use sluice_metrics::names::{self, label};
use sluice_sdk::*;

pub struct GroupMetrics {
    actual_column: String,
    predicted_column: String,
    score_column: String,
    group_column: String,
    positive: i64,
    actual: Vec<i64>,
    predicted: Vec<i64>,
    score: Vec<f64>,
    has_score: Option<bool>,
    /// group name → rows (indices into the vectors above), names sorted
    groups: BTreeMap<String, Vec<usize>>,
}

/// Metrics compared across groups, in output order (support is a count,
/// not a quality: it has no gap).
const GAP_METRICS: [&str; 6] = [
    names::ACCURACY,
    names::PRECISION,
    names::RECALL,
    names::F1,
    names::SELECTION_RATE,
    names::ROC_AUC,
];

fn missing(column: &str, row: usize) -> StepError {
    StepError::InvalidInput(format!(
        "column `{column}` has a missing value at row {row} (0-based, across chunks)"
    ))
}

fn metrics_error(error: metrics::MetricsError) -> StepError {
    StepError::InvalidInput(error.to_string())
}

impl Step for GroupMetrics {
    fn describe() -> StepInfo {
        StepInfo::new("group-metrics", env!("CARGO_PKG_VERSION"), StepKind::Evaluator,
            "Fairness gap report: binary classification metrics per group and the largest gap between groups for each.")
            .param(ParamSpec::text("actual", Some("label"), "int64 column holding the true class"))
            .param(ParamSpec::text("predicted", Some("prediction"), "int64 column holding the predicted class"))
            .param(ParamSpec::text("score", Some("score"), "float64 column holding the probability of the positive class (optional)"))
            .param(ParamSpec::text("group", Some("group"), "text column naming each row's group"))
            .param(ParamSpec::int64("positive", Some(1), "label of the positive class"))
            .reads(ColumnSpec::int64("label", "true class").named_by("actual"))
            .reads(ColumnSpec::int64("prediction", "predicted class").named_by("predicted"))
            .reads(ColumnSpec::float64("score", "probability of the positive class, in [0, 1]").named_by("score").optional())
            .reads(ColumnSpec::text("group", "the row's group, e.g. a language or region").named_by("group"))
    }

    fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
        Ok(GroupMetrics {
            actual_column: params.text("actual")?,
            predicted_column: params.text("predicted")?,
            score_column: params.text("score")?,
            group_column: params.text("group")?,
            positive: params.int64("positive")?,
            actual: Vec::new(),
            predicted: Vec::new(),
            score: Vec::new(),
            has_score: None,
            groups: BTreeMap::new(),
        })
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let first_row = self.actual.len();
        // read and check everything before keeping anything
        let actual = input.int64(&self.actual_column)?;
        let predicted = input.int64(&self.predicted_column)?;
        let group = input.text(&self.group_column)?;
        let present = input.column(&self.score_column).is_ok();
        if *self.has_score.get_or_insert(present) != present {
            return Err(StepError::InvalidInput(format!(
                "column `{}` is in some chunks and not in others",
                self.score_column
            )));
        }
        let score = if present {
            Some(input.float64(&self.score_column)?)
        } else {
            None
        };
        for i in 0..input.rows as usize {
            let row = first_row + i;
            let a = actual
                .get(i)
                .ok_or_else(|| missing(&self.actual_column, row))?;
            let p = predicted
                .get(i)
                .ok_or_else(|| missing(&self.predicted_column, row))?;
            let g = group
                .get(i)
                .ok_or_else(|| missing(&self.group_column, row))?;
            if let Some(score) = &score {
                let s = score
                    .get(i)
                    .ok_or_else(|| missing(&self.score_column, row))?;
                if !(0.0..=1.0).contains(&s) {
                    return Err(StepError::InvalidInput(format!(
                        "column `{}` row {row} (0-based, across chunks): {s} is not a probability in [0, 1]",
                        self.score_column
                    )));
                }
                self.score.push(s);
            }
            self.actual.push(a);
            self.predicted.push(p);
            match self.groups.get_mut(g) {
                Some(rows) => rows.push(row),
                None => {
                    self.groups.insert(g.to_string(), vec![row]);
                }
            }
        }
        // an evaluator writes no columns
        Ok(Chunk::new(input.rows))
    }

    fn finish(&mut self) -> Result<Vec<Metric>, StepError> {
        if self.actual.is_empty() {
            return Err(StepError::InvalidInput("no rows to evaluate".into()));
        }
        // the whole data must be a binary task for `positive`
        metrics::binary_scores(&self.actual, &self.predicted, self.positive).map_err(|e| {
            StepError::InvalidInput(format!(
                "group-metrics evaluates binary tasks: {e} (set param `positive`)"
            ))
        })?;
        let mut out = Vec::new();
        // per metric: (group, value) in group-name order
        let mut by_metric: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
        for (name, rows) in &self.groups {
            let actual: Vec<i64> = rows.iter().map(|&r| self.actual[r]).collect();
            let predicted: Vec<i64> = rows.iter().map(|&r| self.predicted[r]).collect();
            let scores = metrics::binary_scores(&actual, &predicted, self.positive)
                .map_err(metrics_error)?;
            let selected = predicted.iter().filter(|&&p| p == self.positive).count();
            let mut values = vec![
                (names::SUPPORT, rows.len() as f64),
                (
                    names::ACCURACY,
                    metrics::accuracy(&actual, &predicted).map_err(metrics_error)?,
                ),
                (names::PRECISION, scores.scores.precision),
                (names::RECALL, scores.scores.recall),
                (names::F1, scores.scores.f1),
                (names::SELECTION_RATE, selected as f64 / rows.len() as f64),
            ];
            if self.has_score == Some(true) {
                let truth = metrics::binarize(&actual, self.positive);
                let score: Vec<f64> = rows.iter().map(|&r| self.score[r]).collect();
                match metrics::roc_auc(&truth, &score) {
                    Ok(auc) => values.push((names::ROC_AUC, auc)),
                    // one class in this group: ROC-AUC is undefined there
                    Err(metrics::MetricsError::SingleClass) => {}
                    Err(e) => return Err(metrics_error(e)),
                }
            }
            for (metric, value) in values {
                out.push(Metric::new(metric, value).label(label::GROUP, name));
                by_metric.entry(metric).or_default().push((name, value));
            }
        }
        for metric in GAP_METRICS {
            let Some(values) = by_metric.get(metric).filter(|v| v.len() >= 2) else {
                continue;
            };
            // the first group (by name) holding the extreme wins a tie
            let (mut max, mut min) = (values[0], values[0]);
            for &(group, value) in &values[1..] {
                if value > max.1 {
                    max = (group, value);
                }
                if value < min.1 {
                    min = (group, value);
                }
            }
            out.push(
                Metric::new(&names::gap(metric), max.1 - min.1)
                    .label(label::MAX_GROUP, max.0)
                    .label(label::MIN_GROUP, min.0),
            );
        }
        Ok(out)
    }
}

export_step!(GroupMetrics);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing;

    fn chunk(rows: &[(i64, i64, f64, &str)], with_score: bool) -> Chunk {
        let (mut a, mut p, mut s) = (
            Int64Builder::default(),
            Int64Builder::default(),
            Float64Builder::default(),
        );
        let mut g = TextBuilder::default();
        for &(actual, predicted, score, group) in rows {
            a.push(actual);
            p.push(predicted);
            s.push(score);
            g.push(group);
        }
        let mut chunk = Chunk::new(rows.len() as u32)
            .with("label", a.finish())
            .with("prediction", p.finish())
            .with("group", g.finish());
        if with_score {
            chunk.set("score", s.finish());
        }
        chunk
    }

    fn get(metrics: &[Metric], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metrics
            .iter()
            .find(|m| {
                m.name == name
                    && m.labels
                        == labels
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect::<Vec<_>>()
            })
            .map(|m| m.value)
    }

    #[test]
    fn per_group_metrics_and_gaps() {
        let rows = [
            (1, 1, 0.9, "es"),
            (0, 0, 0.2, "es"),
            (1, 0, 0.4, "en"),
            (0, 1, 0.6, "en"),
            (1, 1, 0.7, "en"),
            (0, 0, 0.1, "fr"),
        ];
        let m = testing::evaluate::<GroupMetrics>(
            &[],
            vec![chunk(&rows[..3], true), chunk(&rows[3..], true)],
        )
        .unwrap();
        assert_eq!(get(&m, "accuracy", &[("group", "es")]), Some(1.0));
        assert_eq!(get(&m, "accuracy", &[("group", "en")]), Some(1.0 / 3.0));
        assert_eq!(
            get(&m, "selection_rate", &[("group", "en")]),
            Some(2.0 / 3.0)
        );
        assert_eq!(get(&m, "support", &[("group", "fr")]), Some(1.0));
        // fr has no positive: no ROC-AUC there, and none in the gap
        assert_eq!(get(&m, "roc_auc", &[("group", "fr")]), None);
        assert_eq!(get(&m, "roc_auc", &[("group", "en")]), Some(0.5));
        assert_eq!(
            get(
                &m,
                "gap.roc_auc",
                &[("max_group", "es"), ("min_group", "en")]
            ),
            Some(0.5)
        );
        // accuracy: es and fr tie at 1.0; the first by name (es) is reported
        assert_eq!(
            get(
                &m,
                "gap.accuracy",
                &[("max_group", "es"), ("min_group", "en")]
            ),
            Some(1.0 - 1.0 / 3.0)
        );
        assert!(m.iter().all(|m| m.name != "gap.support"));
    }

    #[test]
    fn missing_group_and_multiclass_are_errors() {
        let mut c = chunk(&[(1, 1, 0.5, "a")], false);
        let mut g = TextBuilder::default();
        g.push_missing();
        c.set("group", g.finish());
        let err = testing::evaluate::<GroupMetrics>(&[], vec![c]).unwrap_err();
        assert!(
            err.to_string()
                .contains("column `group` has a missing value at row 0"),
            "{err}"
        );
        let err = testing::evaluate::<GroupMetrics>(
            &[],
            vec![chunk(
                &[(0, 0, 0.5, "a"), (1, 1, 0.5, "a"), (2, 2, 0.5, "b")],
                false,
            )],
        )
        .unwrap_err();
        assert!(err.to_string().contains("binary"), "{err}");
    }
}
