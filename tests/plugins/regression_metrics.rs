use crate::metric_fixtures::*;

#[test]
fn regression_metrics_agrees_with_sklearn() {
    let policy = "[plugin.regression-metrics]\nread = [\"label\", \"prediction\"]\nwrite = []\n";
    for case in load("regression") {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let actual = floats(&case["actual"]);
        let predicted = floats(&case["predicted"]);
        let label = |r: std::ops::Range<usize>| float_column(&actual[r]);
        let prediction = |r: std::ops::Range<usize>| float_column(&predicted[r]);
        let input = chunks(
            &[("label", &label), ("prediction", &prediction)],
            actual.len(),
        );
        let m = evaluate("regression-metrics", policy, &[], input)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        for metric in ["mae", "mse", "rmse", "r2", "max_error", "support"] {
            assert_metric(name, &m, metric, &[], num(&e[metric]));
        }
        assert_eq!(m.len(), 6, "{name}: {m:?}");
    }
}

#[test]
fn regression_metrics_rejects_missing_values() {
    let policy = "[plugin.regression-metrics]\nread = [\"label\", \"prediction\"]\nwrite = []\n";
    let mut chunk = sluice_core::Chunk::new(2);
    chunk.set("label", crate::floats(&[Some(1.0), None]));
    chunk.set("prediction", float_column(&[1.0, 2.0]));
    let err = evaluate("regression-metrics", policy, &[], vec![chunk]).unwrap_err();
    assert!(
        err.contains("column `label` has a missing value at row 1"),
        "{err}"
    );
}
