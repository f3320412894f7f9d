//! pii-detector through the real host, under the least grant it needs:
//! read the text column, write the four result columns.

use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnValues};
use sluice_tests::{load_stdlib, text_chunk, texts};

#[test]
fn pii_detector_labels_scores_tags_and_masks() {
    let plugin = load_stdlib(
        "pii-detector",
        "[plugin.pii-detector]\nread = [\"text\"]\nwrite = [\"pii_label\", \"pii_score\", \"pii_rules\", \"text_masked\"]\n",
    );
    assert!(!plugin.info().fits);
    let (params, effective) = plugin
        .effective_grant(&[("column".to_string(), ParamValue::Text("text".into()))])
        .unwrap();
    let input = text_chunk(
        "text",
        &[
            "mail ana@example.es or call +44 20 7946 0958",
            "card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00",
            "meeting 2024-01-05 at 12:30, order 4111111111111112, total $1,234.56",
            "server 10.0.0.1 and 2001:db8::1",
        ],
    );
    let run = || {
        plugin
            .session(&params, &effective, None)
            .unwrap()
            .process(input.clone())
            .unwrap()
    };
    let out: Chunk = run();
    assert_eq!(run(), out, "same input, same output");
    assert_eq!(out.columns.len(), 4);
    assert_eq!(
        out.column("pii_label"),
        Some(&ColumnValues::Boolean {
            values: vec![1, 1, 0, 1],
            valid: vec![]
        })
    );
    assert_eq!(
        out.column("pii_score"),
        Some(&ColumnValues::Float64 {
            values: vec![1.0, 1.0, 0.0, 0.9],
            valid: vec![]
        })
    );
    let Some(ColumnValues::Tags {
        data,
        offsets,
        row_offsets,
    }) = out.column("pii_rules")
    else {
        panic!("{out:?}")
    };
    let tag = |j: usize| &data[offsets[j] as usize..offsets[j + 1] as usize];
    let rows: Vec<Vec<&str>> = (0..4)
        .map(|i| {
            (row_offsets[i] as usize..row_offsets[i + 1] as usize)
                .map(tag)
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["pii.email", "pii.phone"],
            vec!["pii.credit_card", "pii.iban"],
            vec![],
            vec!["pii.ipv4", "pii.ipv6"],
        ]
    );
    assert_eq!(
        texts(&out, "text_masked"),
        vec![
            Some("mail <email> or call <phone>".to_string()),
            Some("card <card>, IBAN <iban>".to_string()),
            Some(
                "meeting 2024-01-05 at 12:30, order 4111111111111112, total $1,234.56".to_string()
            ),
            Some("server <ip> and <ip>".to_string()),
        ]
    );
}

#[test]
fn pii_detector_missing_text_is_unknown_not_clean() {
    let plugin = load_stdlib(
        "pii-detector",
        "[plugin.pii-detector]\nread = [\"text\"]\nwrite = [\"pii_label\", \"pii_score\", \"pii_rules\", \"text_masked\"]\n",
    );
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let mut input = Chunk::new(2);
    // row 0 missing (validity bitmap 0b10)
    input.set(
        "text",
        ColumnValues::Text {
            data: "x@y.com".into(),
            offsets: vec![0, 0, 7],
            valid: vec![0b10],
        },
    );
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(input)
        .unwrap();
    assert_eq!(
        out.column("pii_label"),
        Some(&ColumnValues::Boolean {
            values: vec![0, 1],
            valid: vec![0b10]
        })
    );
    assert_eq!(
        out.column("pii_score"),
        Some(&ColumnValues::Float64 {
            values: vec![0.0, 1.0],
            valid: vec![0b10]
        })
    );
    assert_eq!(
        texts(&out, "text_masked"),
        vec![None, Some("<email>".to_string())]
    );
}

#[test]
fn pii_detector_renamed_outputs_need_their_own_grant() {
    let plugin = load_stdlib(
        "pii-detector",
        "[plugin.pii-detector]\nread = [\"msg\"]\nwrite = [\"has_pii\", \"pii_conf\", \"pii_tags\", \"msg_safe\"]\n",
    );
    let given = vec![
        ("column".to_string(), ParamValue::Text("msg".into())),
        (
            "label_output".to_string(),
            ParamValue::Text("has_pii".into()),
        ),
        (
            "score_output".to_string(),
            ParamValue::Text("pii_conf".into()),
        ),
        (
            "rules_output".to_string(),
            ParamValue::Text("pii_tags".into()),
        ),
        (
            "masked_output".to_string(),
            ParamValue::Text("msg_safe".into()),
        ),
        (
            "rules".to_string(),
            ParamValue::TextList(vec!["pii.email".into()]),
        ),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(text_chunk("msg", &["a@b.io, +44 20 7946 0958"]))
        .unwrap();
    assert_eq!(
        texts(&out, "msg_safe"),
        vec![Some("<email>, +44 20 7946 0958".to_string())],
        "phone rule off"
    );

    // the default names are not granted under this policy
    let err = plugin.effective_grant(&given[..1]).unwrap_err().to_string();
    assert!(
        err.contains("writes column `pii_label` but the policy does not grant it"),
        "{err}"
    );
    // an unknown rule id is the plugin's error, naming the param
    let mut bad = given[..5].to_vec();
    bad.push((
        "rules".to_string(),
        ParamValue::TextList(vec!["pii.ssn".into()]),
    ));
    let (params, effective) = plugin.effective_grant(&bad).unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("pii-detector") && err.contains("param `rules`: unknown rule `pii.ssn`"),
        "{err}"
    );
}
