use std::path::Path;

use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnValues};
use sluice_tests::{load_stdlib, policy, runtime, text_chunk};

#[test]
fn one_hot_fits_categories_over_chunks_with_unknown_and_missing_buckets() {
    let plugin = load_stdlib(
        "one-hot",
        "[plugin.one-hot]\nread = [\"color\"]\nwrite = [\"color_vec\"]\n",
    );
    assert_eq!(plugin.info().name, "one-hot");
    assert!(plugin.info().fits);
    let given = vec![
        ("column".to_string(), ParamValue::Text("color".into())),
        ("output".to_string(), ParamValue::Text("color_vec".into())),
        ("max_categories".to_string(), ParamValue::Int64(2)),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();

    // blue 3, red 2, green 1 (rare with max_categories = 2), one missing row
    let first = text_chunk("color", &["red", "blue", "green", "blue"]);
    let mut second = Chunk::new(3);
    second.set(
        "color",
        ColumnValues::Text {
            data: "redblue".into(),
            offsets: vec![0, 3, 3, 7],
            valid: vec![0b101],
        },
    );
    let fit = || {
        let mut session = plugin.session(&params, &effective, None).unwrap();
        session.fit(first.clone()).unwrap();
        session.fit(second.clone()).unwrap();
        let state = session.finish_fit().unwrap();
        (state, session.log().to_vec(), session.metrics().to_vec())
    };
    let (state, log, metrics) = fit();
    assert!(state.starts_with(b"SOHE\x01"), "versioned state bytes");
    assert_eq!(fit().0, state, "fitted state is reproducible byte for byte");
    // the index mapping is logged at finish_fit
    let mapping = log
        .iter()
        .find(|line| line.level == "info" && line.message.contains("dim 4"))
        .expect("mapping logged");
    for part in [
        "0 `color=blue` (3)",
        "1 `color=red` (2)",
        "2 `color=__unknown__`",
        "3 `color=__missing__`",
    ] {
        assert!(
            mapping.message.contains(part),
            "{part} in {}",
            mapping.message
        );
    }
    assert!(
        metrics
            .iter()
            .any(|(name, value)| name == "categories" && *value == 2.0),
        "{metrics:?}"
    );

    // green (rare) and purple (unseen) -> 2 = unknown; missing -> 3
    let mut input = Chunk::new(5);
    input.set(
        "color",
        ColumnValues::Text {
            data: "greenbluepurplered".into(),
            offsets: vec![0, 5, 9, 9, 15, 18],
            valid: vec![0b11011],
        },
    );
    let mut session = plugin.session(&params, &effective, Some(&state)).unwrap();
    let out = session.process(input).unwrap();
    assert_eq!(out.columns.len(), 1);
    assert_eq!(
        out.column("color_vec"),
        Some(&ColumnValues::Sparse {
            dim: 4,
            row_offsets: vec![0, 1, 2, 3, 4, 5],
            indices: vec![2, 0, 3, 2, 1],
            values: vec![1.0; 5],
        })
    );
    assert!(
        session
            .metrics()
            .iter()
            .any(|(name, value)| name == "unknown_values" && *value == 2.0),
        "{:?}",
        session.metrics()
    );
}

#[test]
fn one_hot_ties_are_broken_by_value_whatever_the_row_order() {
    let plugin = load_stdlib(
        "one-hot",
        "[plugin.one-hot]\nread = [\"c\"]\nwrite = [\"onehot\"]\n",
    );
    let (params, effective) = plugin
        .effective_grant(&[("column".to_string(), ParamValue::Text("c".into()))])
        .unwrap();
    let fit = |rows: &[&str]| {
        let mut session = plugin.session(&params, &effective, None).unwrap();
        session.fit(text_chunk("c", rows)).unwrap();
        session.finish_fit().unwrap()
    };
    let state = fit(&["b", "a", "c", "a", "b", "c"]);
    assert_eq!(fit(&["c", "c", "b", "a", "b", "a"]), state);
    let out = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(text_chunk("c", &["a", "b", "c", ""]))
        .unwrap();
    // a, b, c tie at 2: byte order; "" was never seen -> unknown (3); dim 3 + 2
    assert_eq!(
        out.column("onehot"),
        Some(&ColumnValues::Sparse {
            dim: 5,
            row_offsets: vec![0, 1, 2, 3, 4],
            indices: vec![0, 1, 2, 3],
            values: vec![1.0; 4]
        })
    );
}

#[test]
fn one_hot_needs_its_output_granted_and_rejects_bad_params_and_state() {
    let runtime = runtime();
    let denied = policy("[plugin.one-hot]\nread = [\"color\"]\n", Path::new("."));
    let plugin = runtime
        .load(
            sluice_stdlib::get("one-hot").unwrap().bytes,
            Some("one-hot"),
            &denied,
        )
        .unwrap();
    let column = ("column".to_string(), ParamValue::Text("color".into()));
    let err = plugin
        .effective_grant(std::slice::from_ref(&column))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("one-hot")
            && err.contains("writes column `onehot` but the policy does not grant it"),
        "{err}"
    );

    let policy = policy(
        "[plugin.one-hot]\nread = [\"color\", \"colour\"]\nwrite = [\"onehot\"]\n",
        Path::new("."),
    );
    let plugin = runtime
        .load(
            sluice_stdlib::get("one-hot").unwrap().bytes,
            Some("one-hot"),
            &policy,
        )
        .unwrap();
    let (params, effective) = plugin
        .effective_grant(&[
            column.clone(),
            ("max_categories".to_string(), ParamValue::Int64(0)),
        ])
        .unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("param `max_categories`"), "{err}");

    let (params, effective) = plugin
        .effective_grant(std::slice::from_ref(&column))
        .unwrap();
    let err = plugin
        .session(&params, &effective, Some(b"garbage"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("one-hot") && err.contains("fitted state is corrupt"),
        "{err}"
    );

    // state fitted on `color` refuses to encode `colour`
    let mut session = plugin.session(&params, &effective, None).unwrap();
    session.fit(text_chunk("color", &["a"])).unwrap();
    let state = session.finish_fit().unwrap();
    let (other, other_effective) = plugin
        .effective_grant(&[("column".to_string(), ParamValue::Text("colour".into()))])
        .unwrap();
    let err = plugin
        .session(&other, &other_effective, Some(&state))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("fitted state is for column `color` but param `column` is `colour`"),
        "{err}"
    );
}
