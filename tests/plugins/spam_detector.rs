//! spam-detector through the real host, under the least grant it needs:
//! read the text column, write label, score and rules. It is fitted: the
//! fit pass finds the repeated templates, the process pass scores rows.

use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnValues};
use sluice_tests::{load_stdlib, text_chunk};

#[test]
fn spam_detector_scores_labels_and_explains() {
    let plugin = load_stdlib(
        "spam-detector",
        "[plugin.spam-detector]\nread = [\"text\"]\nwrite = [\"spam_label\", \"spam_score\", \"spam_rules\"]\n",
    );
    assert!(plugin.info().fits);
    let (params, effective) = plugin
        .effective_grant(&[("column".to_string(), ParamValue::Text("text".into()))])
        .unwrap();
    // fitted on no rows: no templates, every other signal as usual
    let state = plugin
        .session(&params, &effective, None)
        .unwrap()
        .finish_fit()
        .unwrap();
    let input = text_chunk(
        "text",
        &[
            "URGENT!!!! YOU HAVE WON A CASH PRIZE, claim at www.win.example.com",
            "Are you coming to dinner tonight? I'll call you later.",
            "¡Gana dinero gratis! Llama ya",
            "feel free to come by",
        ],
    );
    let run = || {
        plugin
            .session(&params, &effective, Some(&state))
            .unwrap()
            .process(input.clone())
            .unwrap()
    };
    let out: Chunk = run();
    assert_eq!(run(), out, "same input, same output");
    assert_eq!(out.columns.len(), 3);
    assert_eq!(
        out.column("spam_label"),
        Some(&ColumnValues::Boolean {
            values: vec![1, 0, 1, 0],
            valid: vec![]
        })
    );
    let Some(ColumnValues::Float64 { values: scores, .. }) = out.column("spam_score") else {
        panic!("{out:?}")
    };
    // noisy-OR of the weights: flood 0.25, links 0.45, money 0.6, shouting 0.3
    let want = [1.0 - 0.75 * 0.55 * 0.4 * 0.7, 0.0, 0.6, 0.3];
    assert!(
        scores.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-9),
        "{scores:?}"
    );
    let Some(ColumnValues::Tags {
        data,
        offsets,
        row_offsets,
    }) = out.column("spam_rules")
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
            vec!["spam.flood", "spam.links", "spam.money", "spam.shouting"],
            vec![],
            vec!["spam.money"],
            vec!["spam.money"]
        ]
    );
}

#[test]
fn spam_detector_fits_repeated_templates_and_keeps_missing_rows_missing() {
    let plugin = load_stdlib(
        "spam-detector",
        "[plugin.spam-detector]\nread = [\"msg\"]\nwrite = [\"is_spam\", \"p_spam\", \"why\"]\n",
    );
    let given = vec![
        ("column".to_string(), ParamValue::Text("msg".into())),
        (
            "label_output".to_string(),
            ParamValue::Text("is_spam".into()),
        ),
        (
            "score_output".to_string(),
            ParamValue::Text("p_spam".into()),
        ),
        ("rules_output".to_string(), ParamValue::Text("why".into())),
        ("repeat_threshold".to_string(), ParamValue::Int64(2)),
        ("threshold".to_string(), ParamValue::Float64(0.4)),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    // rows: "Join my channel now", missing, "JOIN my channel, now!"
    let data = "Join my channel nowJOIN my channel, now!";
    let mut input = Chunk::new(3);
    input.set(
        "msg",
        ColumnValues::Text {
            data: data.into(),
            offsets: vec![0, 19, 19, 40],
            valid: vec![0b101],
        },
    );
    // fitted on the rows it scores, as `sluice plugin run` does by default
    let mut fit = plugin.session(&params, &effective, None).unwrap();
    fit.fit(input.clone()).unwrap();
    let state = fit.finish_fit().unwrap();
    let out = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(input.clone())
        .unwrap();
    assert_eq!(
        out.column("is_spam"),
        Some(&ColumnValues::Boolean {
            values: vec![1, 0, 1],
            valid: vec![0b101]
        })
    );
    assert_eq!(
        out.column("p_spam"),
        Some(&ColumnValues::Float64 {
            values: vec![0.4, 0.0, 0.4],
            valid: vec![0b101]
        })
    );
    let Some(ColumnValues::Tags { row_offsets, .. }) = out.column("why") else {
        panic!("{out:?}")
    };
    assert_eq!(
        row_offsets,
        &[0, 1, 1, 2],
        "spam.repeated on both copies, nothing for the missing row"
    );
    // without state there are no templates to apply: the plugin's error
    let err = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(input)
        .unwrap_err()
        .to_string();
    assert!(err.contains("run the fit pass first"), "{err}");
}

/// The fit pass's memory is bounded however many distinct messages it
/// sees, and a template recurring among them is still found.
#[test]
fn spam_detector_fit_memory_is_bounded_on_a_million_distinct_messages() {
    let plugin = load_stdlib(
        "spam-detector",
        "[plugin.spam-detector]\nread = [\"text\"]\nwrite = [\"spam_label\", \"spam_score\", \"spam_rules\"]\nmemory = \"64MiB\"\n",
    );
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let template = "your parcel is waiting at the depot click here";
    let mut fit = plugin.session(&params, &effective, None).unwrap();
    let mut rows: Vec<String> = Vec::with_capacity(4096);
    for chunk in 0..250 {
        rows.clear();
        for i in 0..4000 {
            // words, not digits: digit runs are one key
            let n = chunk * 4000 + i;
            rows.push(format!(
                "message number {} {} from user",
                words(n),
                words(n / 7)
            ));
        }
        if chunk % 50 == 0 {
            rows.push(template.to_string());
        }
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        fit.fit(text_chunk("text", &refs)).unwrap();
    }
    let state = fit.finish_fit().unwrap();
    let peak = fit.stats().peak_memory;
    // measured 17.2 MiB; a table that doubled past its bound took 34 MiB
    assert!(peak < 24 << 20, "peak guest memory {peak} bytes");
    assert!(
        fit.log().iter().any(|l| l.message.contains("approximate")),
        "{:?}",
        fit.log()
    );
    let out = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(text_chunk(
            "text",
            &[template, "message number ab cd from user"],
        ))
        .unwrap();
    let Some(ColumnValues::Tags { row_offsets, .. }) = out.column("spam_rules") else {
        panic!("{out:?}")
    };
    assert_eq!(row_offsets, &[0, 1, 1], "the template only: {out:?}");
}

/// `n` spelt in letters (base 26), so every `n` gives another message.
fn words(mut n: usize) -> String {
    let mut out = String::new();
    loop {
        out.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return out;
        }
    }
}

#[test]
fn spam_detector_rejects_bad_params_with_their_names() {
    let plugin = load_stdlib(
        "spam-detector",
        "[plugin.spam-detector]\nread = [\"text\"]\nwrite = [\"spam_label\", \"spam_score\", \"spam_rules\"]\n",
    );
    for (name, value) in [
        ("threshold", ParamValue::Float64(1.5)),
        ("repeat_threshold", ParamValue::Int64(1)),
    ] {
        let (params, effective) = plugin
            .effective_grant(&[(name.to_string(), value)])
            .unwrap();
        let err = plugin
            .session(&params, &effective, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("spam-detector") && err.contains(&format!("param `{name}`")),
            "{err}"
        );
    }
    let err = plugin
        .effective_grant(&[("threshold".to_string(), ParamValue::Text("high".into()))])
        .unwrap_err()
        .to_string();
    assert!(err.contains("threshold"), "{err}");
}
