use std::path::Path;

use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnValues};
use sluice_tests::{load_stdlib, policy, runtime, text_chunk, texts};

#[test]
fn cast_to_float64_marks_failures_missing_and_explains_them() {
    let plugin = load_stdlib(
        "cast",
        "[plugin.cast]\nread = [\"price\"]\nwrite = [\"price_num\", \"price_errors\"]\n",
    );
    assert_eq!(plugin.info().name, "cast");
    assert!(!plugin.info().fits);
    let given = vec![
        ("column".to_string(), ParamValue::Text("price".into())),
        (
            "to_float64".to_string(),
            ParamValue::TextList(vec!["price_num".into()]),
        ),
        (
            "errors".to_string(),
            ParamValue::Text("price_errors".into()),
        ),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    // rows: "1.5", " -2e3 ", "abc", "", missing, "NaN"
    let mut input = Chunk::new(6);
    input.set(
        "price",
        ColumnValues::Text {
            data: "1.5 -2e3 abcNaN".into(),
            offsets: vec![0, 3, 9, 12, 12, 12, 15],
            valid: vec![0b101111],
        },
    );
    let run = || {
        plugin
            .session(&params, &effective, None)
            .unwrap()
            .process(input.clone())
            .unwrap()
    };
    let out = run();
    assert_eq!(out.columns.len(), 2);
    assert_eq!(
        out.column("price_num"),
        Some(&ColumnValues::Float64 {
            values: vec![1.5, -2000.0, 0.0, 0.0, 0.0, 0.0],
            valid: vec![0b000011]
        })
    );
    assert_eq!(
        texts(&out, "price_errors"),
        vec![
            None,
            None,
            Some("`abc` is not a number".to_string()),
            None,
            None,
            Some("`NaN` is not a finite number".to_string()),
        ]
    );
    assert_eq!(run(), out, "same input, same output");
}

#[test]
fn cast_to_date_int64_and_boolean() {
    let plugin = load_stdlib(
        "cast",
        "[plugin.cast]\nread = [\"raw\"]\nwrite = [\"out\", \"cast_errors\"]\n",
    );
    let cast = |target: &str, rows: &[&str]| {
        let given = vec![
            ("column".to_string(), ParamValue::Text("raw".into())),
            (
                format!("to_{target}"),
                ParamValue::TextList(vec!["out".into()]),
            ),
        ];
        let (params, effective) = plugin.effective_grant(&given).unwrap();
        plugin
            .session(&params, &effective, None)
            .unwrap()
            .process(text_chunk("raw", rows))
            .unwrap()
    };

    // days since 1970-01-01
    let out = cast(
        "date",
        &[
            "1970-01-01",
            "2024-02-29",
            "1969-12-31",
            "2023-02-29",
            "03/01/2024",
        ],
    );
    assert_eq!(
        out.column("out"),
        Some(&ColumnValues::Int64 {
            values: vec![0, 19_782, -1, 0, 0],
            valid: vec![0b00111]
        })
    );
    let errors = texts(&out, "cast_errors");
    assert_eq!(
        errors[3].as_deref(),
        Some("`2023-02-29` is not a valid date: 2023-02 has 28 days")
    );
    assert_eq!(
        errors[4].as_deref(),
        Some("`03/01/2024` is not an ISO date (expected YYYY-MM-DD)")
    );

    let out = cast("int64", &["42", "-7", "5.0", "99999999999999999999"]);
    assert_eq!(
        out.column("out"),
        Some(&ColumnValues::Int64 {
            values: vec![42, -7, 0, 0],
            valid: vec![0b0011]
        })
    );
    assert_eq!(
        texts(&out, "cast_errors")[3].as_deref(),
        Some("`99999999999999999999` is out of int64 range")
    );

    let out = cast("boolean", &["TRUE", "no", "t", "0", "Yes", "maybe"]);
    assert_eq!(
        out.column("out"),
        Some(&ColumnValues::Boolean {
            values: vec![1, 0, 1, 0, 1, 0],
            valid: vec![0b011111]
        })
    );
    assert!(
        texts(&out, "cast_errors")[5]
            .as_deref()
            .unwrap()
            .starts_with("`maybe` is not a boolean")
    );
}

#[test]
fn cast_declares_only_the_output_it_writes() {
    let runtime = runtime();
    // grants no float64 / boolean / date output: none is needed for to_int64
    let policy = policy(
        "[plugin.cast]\nread = [\"raw\"]\nwrite = [\"n\", \"cast_errors\"]\n",
        Path::new("."),
    );
    let plugin = runtime
        .load(
            sluice_stdlib::get("cast").unwrap().bytes,
            Some("cast"),
            &policy,
        )
        .unwrap();
    let column = ("column".to_string(), ParamValue::Text("raw".into()));
    let (_, effective) = plugin
        .effective_grant(&[
            column.clone(),
            (
                "to_int64".to_string(),
                ParamValue::TextList(vec!["n".into()]),
            ),
        ])
        .unwrap();
    let reads: Vec<&str> = effective
        .reads
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    let writes: Vec<&str> = effective
        .writes
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!((reads, writes), (vec!["raw"], vec!["n", "cast_errors"]));

    // the errors column is always written, so it must be granted
    let err = plugin
        .effective_grant(&[
            column.clone(),
            (
                "to_int64".to_string(),
                ParamValue::TextList(vec!["n".into()]),
            ),
            ("errors".to_string(), ParamValue::Text("why".into())),
        ])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cast")
            && err.contains("writes column `why` but the policy does not grant it"),
        "{err}"
    );
}

#[test]
fn cast_rejects_missing_or_conflicting_targets_by_param_name() {
    let plugin = load_stdlib(
        "cast",
        "[plugin.cast]\nread = [\"raw\"]\nwrite = [\"a\", \"b\", \"cast_errors\"]\n",
    );
    let column = ("column".to_string(), ParamValue::Text("raw".into()));
    let (params, effective) = plugin
        .effective_grant(std::slice::from_ref(&column))
        .unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cast")
            && err.contains(
                "set one of the params `to_float64`, `to_int64`, `to_boolean`, `to_date`"
            ),
        "{err}"
    );

    let (params, effective) = plugin
        .effective_grant(&[
            column,
            (
                "to_float64".to_string(),
                ParamValue::TextList(vec!["a".into()]),
            ),
            (
                "to_boolean".to_string(),
                ParamValue::TextList(vec!["b".into()]),
            ),
        ])
        .unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("set only one of the params"), "{err}");

    let err = plugin
        .effective_grant(&[(
            "to_float64".to_string(),
            ParamValue::TextList(vec!["a".into()]),
        )])
        .unwrap_err()
        .to_string();
    assert!(err.contains("param `column` (text) is required"), "{err}");
}
