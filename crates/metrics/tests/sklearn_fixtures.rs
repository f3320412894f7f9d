//! Agreement with scikit-learn 1.9.1 to 1e-9 on the committed fixtures
//! (tests/fixtures/metrics/*.json, made by generate.py there; no Python
//! needed to run this).

use serde_json::Value;
use sluice_metrics::*;

const TOLERANCE: f64 = 1e-9;

fn fixtures(kind: &str) -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/metrics");
    let mut cases: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap())
        .filter(|case: &Value| case["kind"] == kind)
        .collect();
    cases.sort_by_key(|case| case["name"].as_str().unwrap().to_string());
    assert!(
        !cases.is_empty(),
        "no `{kind}` fixtures in {}",
        dir.display()
    );
    cases
}

/// A fixture number: "inf" / "-inf" strings for infinities.
fn num(value: &Value) -> f64 {
    match value {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

fn ints(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(num).collect()
}

fn close(case: &str, what: &str, got: f64, want: f64) {
    let ok = if want.is_infinite() {
        got == want
    } else {
        (got - want).abs() <= TOLERANCE
    };
    assert!(ok, "{case}: {what} = {got}, scikit-learn says {want}");
}

fn close_all(case: &str, what: &str, got: &[f64], want: &Value) {
    let want = floats(want);
    assert_eq!(
        got.len(),
        want.len(),
        "{case}: {what} has {} points, scikit-learn {}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        close(case, &format!("{what}[{i}]"), *g, *w);
    }
}

#[test]
fn binary_cases_agree_with_sklearn() {
    for case in fixtures("binary") {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let actual = ints(&case["actual"]);
        let predicted = ints(&case["predicted"]);
        let positive = case["positive"].as_i64().unwrap();

        close(
            name,
            "accuracy",
            accuracy(&actual, &predicted).unwrap(),
            num(&e["accuracy"]),
        );
        let s = binary_scores(&actual, &predicted, positive).unwrap();
        close(name, "precision", s.scores.precision, num(&e["precision"]));
        close(name, "recall", s.scores.recall, num(&e["recall"]));
        close(name, "f1", s.scores.f1, num(&e["f1"]));
        close(
            name,
            "precision()",
            precision(&actual, &predicted, positive).unwrap(),
            num(&e["precision_score"]),
        );
        close(
            name,
            "recall()",
            recall(&actual, &predicted, positive).unwrap(),
            num(&e["recall_score"]),
        );
        close(
            name,
            "f1()",
            f1(&actual, &predicted, positive).unwrap(),
            num(&e["f1_score"]),
        );

        let cm = confusion_matrix(&actual, &predicted).unwrap();
        assert_eq!(cm.labels, ints(&e["confusion"]["labels"]), "{name}");
        let want: Vec<Vec<u64>> = serde_json::from_value(e["confusion"]["counts"].clone()).unwrap();
        assert_eq!(cm.counts, want, "{name}: confusion matrix");

        let truth = binarize(&actual, positive);
        let score = floats(&case["score"]);
        match num_or_none(&e["roc_auc"]) {
            Some(want) => close(name, "roc_auc", roc_auc(&truth, &score).unwrap(), want),
            None => assert_eq!(
                roc_auc(&truth, &score),
                Err(MetricsError::SingleClass),
                "{name}"
            ),
        }
        if let Some(roc) = e.get("roc_curve") {
            let c = roc_curve(&truth, &score).unwrap();
            close_all(name, "roc fpr", &c.fpr, &roc["fpr"]);
            close_all(name, "roc tpr", &c.tpr, &roc["tpr"]);
            close_all(name, "roc thresholds", &c.thresholds, &roc["thresholds"]);
        }
        let c = precision_recall_curve(&truth, &score).unwrap();
        close_all(
            name,
            "pr precision",
            &c.precision,
            &e["pr_curve"]["precision"],
        );
        close_all(name, "pr recall", &c.recall, &e["pr_curve"]["recall"]);
        close_all(
            name,
            "pr thresholds",
            &c.thresholds,
            &e["pr_curve"]["thresholds"],
        );
        close(
            name,
            "average_precision",
            average_precision(&truth, &score).unwrap(),
            num(&e["average_precision"]),
        );
        close(
            name,
            "pr_auc_trapezoid",
            pr_auc_trapezoid(&truth, &score).unwrap(),
            num(&e["pr_auc_trapezoid"]),
        );
        close(
            name,
            "log_loss",
            log_loss(&truth, &score).unwrap(),
            num(&e["log_loss"]),
        );
        close(
            name,
            "brier",
            brier_score(&truth, &score).unwrap(),
            num(&e["brier"]),
        );
        let bins = e["bins"].as_u64().unwrap() as usize;
        close(
            name,
            "ece",
            expected_calibration_error(&truth, &score, bins).unwrap(),
            num(&e["ece"]),
        );
    }
}

fn num_or_none(value: &Value) -> Option<f64> {
    (!value.is_null()).then(|| num(value))
}

#[test]
fn multiclass_cases_agree_with_sklearn() {
    for case in fixtures("multiclass") {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let actual = ints(&case["actual"]);
        let predicted = ints(&case["predicted"]);
        close(
            name,
            "accuracy",
            accuracy(&actual, &predicted).unwrap(),
            num(&e["accuracy"]),
        );
        let m = multiclass_scores(&actual, &predicted).unwrap();
        let per = &e["per_class"];
        let labels: Vec<i64> = m.per_class.iter().map(|c| c.label).collect();
        assert_eq!(labels, ints(&per["labels"]), "{name}");
        let column = |f: fn(&ClassScores) -> f64| m.per_class.iter().map(f).collect::<Vec<_>>();
        close_all(
            name,
            "precision",
            &column(|c| c.scores.precision),
            &per["precision"],
        );
        close_all(name, "recall", &column(|c| c.scores.recall), &per["recall"]);
        close_all(name, "f1", &column(|c| c.scores.f1), &per["f1"]);
        close_all(
            name,
            "support",
            &column(|c| c.support as f64),
            &per["support"],
        );
        for (average, got) in [("macro", m.macro_avg), ("weighted", m.weighted_avg)] {
            close(
                name,
                &format!("{average} precision"),
                got.precision,
                num(&e[average]["precision"]),
            );
            close(
                name,
                &format!("{average} recall"),
                got.recall,
                num(&e[average]["recall"]),
            );
            close(
                name,
                &format!("{average} f1"),
                got.f1,
                num(&e[average]["f1"]),
            );
        }
        let cm = confusion_matrix(&actual, &predicted).unwrap();
        let want: Vec<Vec<u64>> = serde_json::from_value(e["confusion"]["counts"].clone()).unwrap();
        assert_eq!(cm.counts, want, "{name}: confusion matrix");
    }
}

#[test]
fn regression_cases_agree_with_sklearn() {
    for case in fixtures("regression") {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let actual = floats(&case["actual"]);
        let predicted = floats(&case["predicted"]);
        close(
            name,
            "mae",
            mean_absolute_error(&actual, &predicted).unwrap(),
            num(&e["mae"]),
        );
        close(
            name,
            "mse",
            mean_squared_error(&actual, &predicted).unwrap(),
            num(&e["mse"]),
        );
        close(
            name,
            "rmse",
            root_mean_squared_error(&actual, &predicted).unwrap(),
            num(&e["rmse"]),
        );
        close(name, "r2", r2(&actual, &predicted).unwrap(), num(&e["r2"]));
        close(
            name,
            "max_error",
            max_error(&actual, &predicted).unwrap(),
            num(&e["max_error"]),
        );
    }
}

#[test]
fn group_cases_agree_with_sklearn_per_group() {
    for case in fixtures("groups") {
        let name = case["name"].as_str().unwrap();
        let actual = ints(&case["actual"]);
        let predicted = ints(&case["predicted"]);
        let score = floats(&case["score"]);
        let positive = case["positive"].as_i64().unwrap();
        let group: Vec<&str> = case["group"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        for (g, want) in case["expected"]["groups"].as_object().unwrap() {
            let rows: Vec<usize> = (0..group.len()).filter(|&i| group[i] == g).collect();
            let a: Vec<i64> = rows.iter().map(|&i| actual[i]).collect();
            let p: Vec<i64> = rows.iter().map(|&i| predicted[i]).collect();
            let s: Vec<f64> = rows.iter().map(|&i| score[i]).collect();
            let what = format!("{name}/{g}");
            close(
                &what,
                "accuracy",
                accuracy(&a, &p).unwrap(),
                num(&want["accuracy"]),
            );
            let b = binary_scores(&a, &p, positive).unwrap();
            close(
                &what,
                "precision",
                b.scores.precision,
                num(&want["precision"]),
            );
            close(&what, "recall", b.scores.recall, num(&want["recall"]));
            close(&what, "f1", b.scores.f1, num(&want["f1"]));
            match want.get("roc_auc") {
                Some(v) => close(
                    &what,
                    "roc_auc",
                    roc_auc(&binarize(&a, positive), &s).unwrap(),
                    num(v),
                ),
                None => assert!(roc_auc(&binarize(&a, positive), &s).is_err(), "{what}"),
            }
        }
    }
}
