use crate::metric_fixtures::*;

#[test]
fn group_metrics_agrees_with_sklearn() {
    let policy = "[plugin.group-metrics]\nread = [\"label\", \"prediction\", \"score\", \"group\"]\nwrite = []\n";
    for case in load("groups") {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let actual = ints(&case["actual"]);
        let predicted = ints(&case["predicted"]);
        let score = floats(&case["score"]);
        let group: Vec<&str> = case["group"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        let label = |r: std::ops::Range<usize>| int_column(&actual[r]);
        let prediction = |r: std::ops::Range<usize>| int_column(&predicted[r]);
        let probability = |r: std::ops::Range<usize>| float_column(&score[r]);
        let groups = |r: std::ops::Range<usize>| text_column(&group[r]);
        let input = chunks(
            &[
                ("label", &label),
                ("prediction", &prediction),
                ("score", &probability),
                ("group", &groups),
            ],
            actual.len(),
        );
        let given = [(
            "positive",
            sluice_core::contract::ParamValue::Int64(case["positive"].as_i64().unwrap()),
        )];
        let m = evaluate("group-metrics", policy, &given, input)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let mut expected_count = 0;
        for (g, want) in e["groups"].as_object().unwrap() {
            for (metric, value) in want.as_object().unwrap() {
                assert_metric(name, &m, metric, &[("group", g)], num(value));
                expected_count += 1;
            }
            if want.get("roc_auc").is_none() {
                assert_eq!(metric(&m, "roc_auc", &[("group", g)]), None, "{name}/{g}");
            }
        }
        for (metric_name, gap) in e["gaps"].as_object().unwrap() {
            let (hi, lo) = (
                gap["max_group"].as_str().unwrap(),
                gap["min_group"].as_str().unwrap(),
            );
            assert_metric(
                name,
                &m,
                &format!("gap.{metric_name}"),
                &[("max_group", hi), ("min_group", lo)],
                num(&gap["value"]),
            );
            expected_count += 1;
        }
        assert_eq!(
            m.len(),
            expected_count,
            "{name}: no metric beyond the fixture's"
        );
    }
}

#[test]
fn group_metrics_rejects_missing_group() {
    let policy =
        "[plugin.group-metrics]\nread = [\"label\", \"prediction\", \"group\"]\nwrite = []\n";
    let mut chunk = sluice_core::Chunk::new(2);
    chunk.set("label", int_column(&[1, 0]));
    chunk.set("prediction", int_column(&[1, 0]));
    chunk.set(
        "group",
        sluice_core::ColumnValues::Text {
            data: "a".into(),
            offsets: vec![0, 1, 1],
            valid: vec![0b01],
        },
    );
    let err = evaluate("group-metrics", policy, &[], vec![chunk]).unwrap_err();
    assert!(
        err.contains("column `group` has a missing value at row 1"),
        "{err}"
    );
}
