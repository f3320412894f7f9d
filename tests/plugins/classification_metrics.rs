use serde_json::Value;
use sluice_core::contract::ParamValue;

use crate::metric_fixtures::*;

const POLICY: &str =
    "[plugin.classification-metrics]\nread = [\"label\", \"prediction\", \"score\"]\nwrite = []\n";

fn input(case: &Value, with_score: bool) -> Vec<sluice_core::Chunk> {
    let actual = ints(&case["actual"]);
    let predicted = ints(&case["predicted"]);
    let score = case.get("score").map(floats);
    let label = |r: std::ops::Range<usize>| int_column(&actual[r]);
    let prediction = |r: std::ops::Range<usize>| int_column(&predicted[r]);
    let probability = |r: std::ops::Range<usize>| float_column(&score.as_ref().unwrap()[r]);
    let mut columns: Vec<ColumnSource> = vec![("label", &label), ("prediction", &prediction)];
    if with_score {
        columns.push(("score", &probability));
    }
    chunks(&columns, actual.len())
}

fn check_confusion(name: &str, m: &[sluice_core::contract::Metric], e: &Value) {
    let labels = ints(&e["confusion"]["labels"]);
    let counts: Vec<Vec<u64>> = serde_json::from_value(e["confusion"]["counts"].clone()).unwrap();
    for (i, a) in labels.iter().enumerate() {
        for (j, p) in labels.iter().enumerate() {
            let (a, p) = (a.to_string(), p.to_string());
            assert_metric(
                name,
                m,
                "confusion",
                &[("actual", &a), ("predicted", &p)],
                counts[i][j] as f64,
            );
        }
    }
    assert_eq!(count(m, "confusion"), labels.len() * labels.len(), "{name}");
}

/// Every binary fixture through the Wasm plugin, against scikit-learn.
#[test]
fn classification_metrics_binary_agrees_with_sklearn() {
    for case in load("binary") {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let given = [
            (
                "positive",
                ParamValue::Int64(case["positive"].as_i64().unwrap()),
            ),
            ("bins", ParamValue::Int64(e["bins"].as_i64().unwrap())),
        ];
        let m = evaluate("classification-metrics", POLICY, &given, input(&case, true))
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        for metric in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "log_loss",
            "brier",
            "ece",
        ] {
            assert_metric(name, &m, metric, &[], num(&e[metric]));
        }
        assert_metric(name, &m, "support", &[], num(&e["support"]));
        for (class, support) in e["class_support"].as_object().unwrap() {
            assert_metric(name, &m, "support", &[("class", class)], num(support));
        }
        assert_metric(name, &m, "pr_auc", &[], num(&e["average_precision"]));
        check_confusion(name, &m, e);
        if e["roc_auc"].is_null() {
            // undefined (single class): omitted, as is the ROC curve
            assert_eq!(metric(&m, "roc_auc", &[]), None, "{name}");
            assert_eq!(count(&m, "roc.fpr"), 0, "{name}");
        } else {
            assert_metric(name, &m, "roc_auc", &[], num(&e["roc_auc"]));
            let roc = &e["roc_curve"];
            let (fpr, tpr, thresholds) = (
                floats(&roc["fpr"]),
                floats(&roc["tpr"]),
                floats(&roc["thresholds"]),
            );
            assert_eq!(count(&m, "roc.fpr"), fpr.len(), "{name}: ROC points");
            assert_eq!(count(&m, "roc.threshold"), fpr.len() - 1, "{name}");
            for i in 0..fpr.len() {
                let point = i.to_string();
                assert_metric(name, &m, "roc.fpr", &[("point", &point)], fpr[i]);
                assert_metric(name, &m, "roc.tpr", &[("point", &point)], tpr[i]);
                if i > 0 {
                    assert_metric(
                        name,
                        &m,
                        "roc.threshold",
                        &[("point", &point)],
                        thresholds[i],
                    );
                }
            }
        }
        let pr = &e["pr_curve"];
        let (precision, recall, thresholds) = (
            floats(&pr["precision"]),
            floats(&pr["recall"]),
            floats(&pr["thresholds"]),
        );
        assert_eq!(
            count(&m, "pr.precision"),
            precision.len(),
            "{name}: PR points"
        );
        assert_eq!(count(&m, "pr.threshold"), thresholds.len(), "{name}");
        for i in 0..precision.len() {
            let point = i.to_string();
            assert_metric(name, &m, "pr.precision", &[("point", &point)], precision[i]);
            assert_metric(name, &m, "pr.recall", &[("point", &point)], recall[i]);
            if let Some(t) = thresholds.get(i) {
                assert_metric(name, &m, "pr.threshold", &[("point", &point)], *t);
            }
        }
    }
}

#[test]
fn classification_metrics_multiclass_agrees_with_sklearn() {
    for case in load("multiclass") {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let m = evaluate("classification-metrics", POLICY, &[], input(&case, false))
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_metric(name, &m, "accuracy", &[], num(&e["accuracy"]));
        assert_metric(name, &m, "support", &[], num(&e["support"]));
        for average in ["macro", "weighted"] {
            for metric in ["precision", "recall", "f1"] {
                assert_metric(
                    name,
                    &m,
                    metric,
                    &[("average", average)],
                    num(&e[average][metric]),
                );
            }
        }
        let per = &e["per_class"];
        for (i, class) in ints(&per["labels"]).iter().enumerate() {
            let class = class.to_string();
            for metric in ["precision", "recall", "f1", "support"] {
                assert_metric(name, &m, metric, &[("class", &class)], num(&per[metric][i]));
            }
        }
        check_confusion(name, &m, e);
        // binary-only metrics are absent
        for absent in ["precision", "roc_auc", "pr_auc", "log_loss"] {
            assert_eq!(metric(&m, absent, &[]), None, "{name}: {absent}");
        }
    }
}

/// Least grant: without the score column granted the plugin still runs,
/// and returns only the label metrics; renamed columns via params.
#[test]
fn classification_metrics_least_grant_and_renamed_columns() {
    let case = &load("binary")[0];
    let policy = "[plugin.classification-metrics]\nread = [\"y\", \"y_hat\"]\nwrite = []\n";
    let input: Vec<_> = input(case, true)
        .into_iter()
        .map(|mut chunk| {
            for column in &mut chunk.columns {
                column.name = match column.name.as_str() {
                    "label" => "y".into(),
                    "prediction" => "y_hat".into(),
                    other => other.into(),
                };
            }
            chunk
        })
        .collect();
    let given = [
        ("actual", ParamValue::Text("y".into())),
        ("predicted", ParamValue::Text("y_hat".into())),
    ];
    let m = evaluate("classification-metrics", policy, &given, input).unwrap();
    let e = &case["expected"];
    assert_metric("renamed", &m, "f1", &[], num(&e["f1"]));
    // the score column was in the data but not granted: never seen
    assert_eq!(metric(&m, "roc_auc", &[]), None);
    assert_eq!(count(&m, "pr.recall"), 0);
}

#[test]
fn classification_metrics_missing_value_names_column_and_row() {
    let mut chunk = sluice_core::Chunk::new(3);
    chunk.set("label", int_column(&[1, 0, 1]));
    chunk.set(
        "prediction",
        sluice_core::ColumnValues::Int64 {
            values: vec![1, 0, 0],
            valid: vec![0b011],
        },
    );
    let mut first = sluice_core::Chunk::new(2);
    first.set("label", int_column(&[1, 0]));
    first.set("prediction", int_column(&[1, 0]));
    let err = evaluate("classification-metrics", POLICY, &[], vec![first, chunk]).unwrap_err();
    assert!(
        err.contains("invalid input")
            && err.contains("column `prediction` has a missing value at row 4"),
        "{err}"
    );
}
