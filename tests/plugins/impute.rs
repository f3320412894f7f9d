use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnValues};
use sluice_tests::{load_stdlib, text_chunk};

#[test]
fn impute_median_is_fitted_over_chunks_and_fills_missing_and_nan_in_place() {
    let plugin = load_stdlib(
        "impute",
        "[plugin.impute]\nread = [\"a\", \"b\"]\nwrite = [\"a\", \"b\"]\n",
    );
    assert_eq!(plugin.info().name, "impute");
    assert!(plugin.info().fits);
    let given = vec![
        (
            "columns".to_string(),
            ParamValue::TextList(vec!["a".into(), "b".into()]),
        ),
        ("strategy".to_string(), ParamValue::Text("median".into())),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();

    // a: 10, missing, 1 | 3, 2, NaN  -> np.nanmedian([10, 1, 3, 2]) = 2.5
    // b: 4, 4, missing | 8, missing, 6 -> np.nanmedian([4, 4, 8, 6]) = 5
    let mut first = Chunk::new(3);
    first.set(
        "a",
        ColumnValues::Float64 {
            values: vec![10.0, 0.0, 1.0],
            valid: vec![0b101],
        },
    );
    first.set(
        "b",
        ColumnValues::Float64 {
            values: vec![4.0, 4.0, 0.0],
            valid: vec![0b011],
        },
    );
    let mut second = Chunk::new(3);
    second.set(
        "a",
        ColumnValues::Float64 {
            values: vec![3.0, 2.0, f64::NAN],
            valid: vec![],
        },
    );
    second.set(
        "b",
        ColumnValues::Float64 {
            values: vec![8.0, 0.0, 6.0],
            valid: vec![0b101],
        },
    );
    let fit = || {
        let mut session = plugin.session(&params, &effective, None).unwrap();
        session.fit(first.clone()).unwrap();
        session.fit(second.clone()).unwrap();
        session.finish_fit().unwrap()
    };
    let state = fit();
    assert!(state.starts_with(b"SIMP\x01"), "versioned state bytes");
    assert_eq!(fit(), state, "fitted state is reproducible byte for byte");

    let mut input = Chunk::new(3);
    input.set(
        "a",
        ColumnValues::Float64 {
            values: vec![0.0, f64::NAN, -7.0],
            valid: vec![0b110],
        },
    );
    input.set(
        "b",
        ColumnValues::Float64 {
            values: vec![1.0, 0.0, 0.0],
            valid: vec![0b001],
        },
    );
    // a column the step is not granted never reaches it and is not returned
    input.set(
        "secret",
        text_chunk("secret", &["x", "y", "z"])
            .columns
            .remove(0)
            .values,
    );
    let out = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(input)
        .unwrap();
    assert_eq!(out.columns.len(), 2);
    assert_eq!(
        out.column("a"),
        Some(&ColumnValues::Float64 {
            values: vec![2.5, 2.5, -7.0],
            valid: vec![]
        })
    );
    assert_eq!(
        out.column("b"),
        Some(&ColumnValues::Float64 {
            values: vec![1.0, 5.0, 5.0],
            valid: vec![]
        })
    );
}

#[test]
fn impute_mean_most_frequent_and_constant_follow_scikit_learn() {
    let plugin = load_stdlib(
        "impute",
        "[plugin.impute]\nread = [\"x\"]\nwrite = [\"x\"]\n",
    );
    let mut training = Chunk::new(6);
    training.set(
        "x",
        ColumnValues::Float64 {
            values: vec![3.0, -1.0, 0.0, 3.0, -1.0, 9.0],
            valid: vec![0b111011],
        },
    );
    // SimpleImputer: mean 2.6; most_frequent: 3 and -1 tie, the smallest wins; constant: fill_value
    for (strategy, expected) in [("mean", 2.6), ("most_frequent", -1.0), ("constant", 42.0)] {
        let given = vec![
            (
                "columns".to_string(),
                ParamValue::TextList(vec!["x".into()]),
            ),
            ("strategy".to_string(), ParamValue::Text(strategy.into())),
            ("fill_value".to_string(), ParamValue::Int64(42)),
        ];
        let (params, effective) = plugin.effective_grant(&given).unwrap();
        let mut session = plugin.session(&params, &effective, None).unwrap();
        session.fit(training.clone()).unwrap();
        let state = session.finish_fit().unwrap();
        let mut input = Chunk::new(2);
        input.set(
            "x",
            ColumnValues::Float64 {
                values: vec![0.0, 5.0],
                valid: vec![0b10],
            },
        );
        let out = plugin
            .session(&params, &effective, Some(&state))
            .unwrap()
            .process(input)
            .unwrap();
        assert_eq!(
            out.column("x"),
            Some(&ColumnValues::Float64 {
                values: vec![expected, 5.0],
                valid: vec![]
            }),
            "{strategy}"
        );
    }
}

#[test]
fn impute_needs_read_and_write_on_exactly_its_columns() {
    let plugin = load_stdlib("impute", "[plugin.impute]\nread = [\"a\"]\nwrite = []\n");
    let given = vec![(
        "columns".to_string(),
        ParamValue::TextList(vec!["a".into()]),
    )];
    let err = plugin.effective_grant(&given).unwrap_err().to_string();
    assert!(
        err.contains("impute")
            && err.contains("writes column `a` but the policy does not grant it"),
        "{err}"
    );
    let err = plugin.effective_grant(&[]).unwrap_err().to_string();
    assert!(
        err.contains("param `columns` (text-list) is required"),
        "{err}"
    );
}

#[test]
fn impute_rejects_bad_params_corrupt_state_and_process_before_fit() {
    let plugin = load_stdlib(
        "impute",
        "[plugin.impute]\nread = [\"x\"]\nwrite = [\"x\"]\n",
    );
    let columns = (
        "columns".to_string(),
        ParamValue::TextList(vec!["x".into()]),
    );
    let (params, effective) = plugin
        .effective_grant(&[
            columns.clone(),
            ("strategy".to_string(), ParamValue::Text("mode".into())),
        ])
        .unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("impute") && err.contains("param `strategy` must be one of"),
        "{err}"
    );

    let (params, effective) = plugin.effective_grant(&[columns]).unwrap();
    let err = plugin
        .session(&params, &effective, Some(b"garbage"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("impute") && err.contains("fitted state is corrupt"),
        "{err}"
    );
    let err = plugin
        .session(&params, &effective, Some(b"SIMP\x01\x00\x01\x00"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("fitted state is corrupt: truncated"), "{err}");

    let mut input = Chunk::new(1);
    input.set(
        "x",
        ColumnValues::Float64 {
            values: vec![0.0],
            valid: vec![0],
        },
    );
    let err = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(input)
        .unwrap_err()
        .to_string();
    assert!(err.contains("run the fit pass first"), "{err}");

    // all-missing training data cannot give a mean: the error names the column
    let mut training = Chunk::new(2);
    training.set(
        "x",
        ColumnValues::Float64 {
            values: vec![0.0, 0.0],
            valid: vec![0],
        },
    );
    let mut session = plugin.session(&params, &effective, None).unwrap();
    session.fit(training).unwrap();
    let err = session.finish_fit().unwrap_err().to_string();
    assert!(err.contains("column `x` has no values"), "{err}");
}
