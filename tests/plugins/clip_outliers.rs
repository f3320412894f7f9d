use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnValues};
use sluice_tests::load_stdlib;

#[test]
fn clip_outliers_iqr_bounds_are_fitted_over_chunks_like_numpy() {
    let plugin = load_stdlib(
        "clip-outliers",
        "[plugin.clip-outliers]\nread = [\"x\"]\nwrite = [\"x\"]\n",
    );
    assert_eq!(plugin.info().name, "clip-outliers");
    assert!(plugin.info().fits);
    let given = vec![(
        "columns".to_string(),
        ParamValue::TextList(vec!["x".into()]),
    )];
    let (params, effective) = plugin.effective_grant(&given).unwrap();

    // present values 1..=8 and 100 (NaN and inf are not fitted on):
    // np.percentile(x, [25, 75]) = [3, 7], IQR 4, k 1.5 -> bounds [-3, 13]
    let mut first = Chunk::new(5);
    first.set(
        "x",
        ColumnValues::Float64 {
            values: vec![100.0, 1.0, 0.0, 2.0, 8.0],
            valid: vec![0b11011],
        },
    );
    let mut second = Chunk::new(6);
    second.set(
        "x",
        ColumnValues::Float64 {
            values: vec![f64::NAN, 3.0, 4.0, 5.0, 6.0, 7.0],
            valid: vec![],
        },
    );
    let mut third = Chunk::new(1);
    third.set(
        "x",
        ColumnValues::Float64 {
            values: vec![f64::INFINITY],
            valid: vec![],
        },
    );
    let fit = || {
        let mut session = plugin.session(&params, &effective, None).unwrap();
        for chunk in [&first, &second, &third] {
            session.fit(chunk.clone()).unwrap();
        }
        session.finish_fit().unwrap()
    };
    let state = fit();
    assert!(state.starts_with(b"SCLP\x01"), "versioned state bytes");
    assert_eq!(fit(), state, "fitted state is reproducible byte for byte");

    let mut input = Chunk::new(5);
    input.set(
        "x",
        ColumnValues::Float64 {
            values: vec![100.0, -50.0, 5.0, 0.0, f64::NEG_INFINITY],
            valid: vec![0b10111],
        },
    );
    let mut session = plugin.session(&params, &effective, Some(&state)).unwrap();
    let out = session.process(input).unwrap();
    // missing stays missing (row 3), -inf is clipped like any low value
    assert_eq!(
        out.column("x"),
        Some(&ColumnValues::Float64 {
            values: vec![13.0, -3.0, 5.0, 0.0, -3.0],
            valid: vec![0b10111]
        })
    );
    assert!(
        session
            .metrics()
            .iter()
            .any(|(name, value)| name == "values_clipped" && *value == 3.0),
        "{:?}",
        session.metrics()
    );
}

#[test]
fn clip_outliers_zscore_keeps_nan_and_uses_population_sd() {
    let plugin = load_stdlib(
        "clip-outliers",
        "[plugin.clip-outliers]\nread = [\"a\", \"b\"]\nwrite = [\"a\", \"b\"]\n",
    );
    let given = vec![
        (
            "columns".to_string(),
            ParamValue::TextList(vec!["a".into(), "b".into()]),
        ),
        ("method".to_string(), ParamValue::Text("zscore".into())),
        ("k".to_string(), ParamValue::Int64(1)),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    // a: mean 5, population sd 2 -> [3, 7]; b: mean 0, sd 10 -> [-10, 10]
    let mut training = Chunk::new(8);
    training.set(
        "a",
        ColumnValues::Float64 {
            values: vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0],
            valid: vec![],
        },
    );
    training.set(
        "b",
        ColumnValues::Float64 {
            values: vec![-10.0, 10.0, -10.0, 10.0, 0.0, 0.0, 0.0, 0.0],
            valid: vec![0b1111],
        },
    );
    let mut session = plugin.session(&params, &effective, None).unwrap();
    session.fit(training).unwrap();
    let state = session.finish_fit().unwrap();

    let mut input = Chunk::new(3);
    input.set(
        "a",
        ColumnValues::Float64 {
            values: vec![0.0, f64::NAN, 6.0],
            valid: vec![],
        },
    );
    input.set(
        "b",
        ColumnValues::Float64 {
            values: vec![25.0, 0.0, -3.0],
            valid: vec![0b101],
        },
    );
    let out = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(input)
        .unwrap();
    let Some(ColumnValues::Float64 { values, valid }) = out.column("a") else {
        panic!("a is float64: {out:?}")
    };
    assert_eq!(
        (values[0], values[2], valid.as_slice()),
        (3.0, 6.0, &[][..])
    );
    assert!(values[1].is_nan(), "NaN is not an outlier: it stays NaN");
    assert_eq!(
        out.column("b"),
        Some(&ColumnValues::Float64 {
            values: vec![10.0, 0.0, -3.0],
            valid: vec![0b101]
        })
    );
}

#[test]
fn clip_outliers_needs_its_columns_granted_and_rejects_bad_params_and_state() {
    let plugin = load_stdlib(
        "clip-outliers",
        "[plugin.clip-outliers]\nread = [\"x\"]\nwrite = [\"x\"]\n",
    );
    let err = plugin
        .effective_grant(&[(
            "columns".to_string(),
            ParamValue::TextList(vec!["x".into(), "y".into()]),
        )])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("reads column `y` but the policy does not grant it"),
        "{err}"
    );

    let columns = (
        "columns".to_string(),
        ParamValue::TextList(vec!["x".into()]),
    );
    let (params, effective) = plugin
        .effective_grant(&[
            columns.clone(),
            ("method".to_string(), ParamValue::Text("mad".into())),
        ])
        .unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("clip-outliers") && err.contains("param `method` must be `iqr` or `zscore`"),
        "{err}"
    );
    let (params, effective) = plugin
        .effective_grant(&[
            columns.clone(),
            ("k".to_string(), ParamValue::Float64(-1.0)),
        ])
        .unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("param `k`"), "{err}");

    let (params, effective) = plugin.effective_grant(&[columns]).unwrap();
    let err = plugin
        .session(&params, &effective, Some(b"garbage"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("clip-outliers") && err.contains("fitted state is corrupt"),
        "{err}"
    );

    // a column with no finite training value cannot be fitted: the error names it
    let mut training = Chunk::new(2);
    training.set(
        "x",
        ColumnValues::Float64 {
            values: vec![f64::NAN, 0.0],
            valid: vec![0b01],
        },
    );
    let mut session = plugin.session(&params, &effective, None).unwrap();
    session.fit(training).unwrap();
    let err = session.finish_fit().unwrap_err().to_string();
    assert!(err.contains("column `x` has no finite values"), "{err}");
}
