//! `lexicon-detector` through the real host, under the least grant it needs:
//! detection, the optional per-row language column, extra term lists from a
//! directory granted read-only, and the error when that directory is not
//! granted. Meant for tests/plugins/lexicon_detector.rs (a module of the
//! `plugins` test; no crate-level items here).

use std::path::Path;

use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnValues};
use sluice_tests::{policy, runtime, text_chunk};

const POLICY: &str = "[plugin.lexicon-detector]\nread = [\"text\"]\nwrite = [\"offensive_label\", \"offensive_score\", \"offensive_rules\"]\n";

fn embedded() -> &'static [u8] {
    sluice_stdlib::get("lexicon-detector")
        .expect("lexicon-detector is embedded")
        .bytes
}

fn valid(bitmap: &[u8], row: usize) -> bool {
    bitmap.is_empty() || bitmap[row / 8] & (1 << (row % 8)) != 0
}

fn labels(chunk: &Chunk, name: &str) -> Vec<Option<bool>> {
    match chunk.column(name) {
        Some(ColumnValues::Boolean {
            values,
            valid: bitmap,
        }) => values
            .iter()
            .enumerate()
            .map(|(row, v)| valid(bitmap, row).then_some(*v != 0))
            .collect(),
        other => panic!("`{name}` should be a boolean column, got {other:?}"),
    }
}

fn scores(chunk: &Chunk, name: &str) -> Vec<Option<f64>> {
    match chunk.column(name) {
        Some(ColumnValues::Float64 {
            values,
            valid: bitmap,
        }) => values
            .iter()
            .enumerate()
            .map(|(row, v)| valid(bitmap, row).then_some(*v))
            .collect(),
        other => panic!("`{name}` should be a float64 column, got {other:?}"),
    }
}

fn tags(chunk: &Chunk, name: &str) -> Vec<Vec<String>> {
    match chunk.column(name) {
        Some(ColumnValues::Tags {
            data,
            offsets,
            row_offsets,
        }) => row_offsets
            .windows(2)
            .map(|rows| {
                (rows[0] as usize..rows[1] as usize)
                    .map(|j| data[offsets[j] as usize..offsets[j + 1] as usize].to_string())
                    .collect()
            })
            .collect(),
        other => panic!("`{name}` should be a tags column, got {other:?}"),
    }
}

/// A text column with missing rows (`None`).
fn text_column(rows: &[Option<&str>]) -> ColumnValues {
    let (mut data, mut offsets, mut bitmap) =
        (String::new(), vec![0u32], vec![0u8; rows.len().div_ceil(8)]);
    for (row, value) in rows.iter().enumerate() {
        if let Some(value) = value {
            data.push_str(value);
            bitmap[row / 8] |= 1 << (row % 8);
        }
        offsets.push(data.len() as u32);
    }
    ColumnValues::Text {
        data,
        offsets,
        valid: bitmap,
    }
}

#[test]
fn lexicon_detector() {
    let runtime = runtime();
    let plugin = runtime
        .load(
            embedded(),
            Some("lexicon-detector"),
            &policy(POLICY, Path::new(".")),
        )
        .unwrap();
    assert_eq!(plugin.info().name, "lexicon-detector");
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    // the per-row language column is optional: not granted, so withheld
    assert_eq!(effective.withheld, vec!["lang".to_string()]);

    let mut input = Chunk::new(5);
    input.set(
        "text",
        text_column(&[
            Some("you f.u.c.k!ng b1tch"),
            Some("what a lovely cocktail in Scunthorpe"),
            None,
            Some("¡pútâ madre!"),
            Some("my ass"),
        ]),
    );
    let run = || {
        plugin
            .session(&params, &effective, None)
            .unwrap()
            .process(input.clone())
            .unwrap()
    };
    let out = run();
    assert_eq!(
        labels(&out, "offensive_label"),
        vec![Some(true), Some(false), None, Some(true), Some(false)]
    );
    let score = scores(&out, "offensive_score");
    assert!(
        (score[0].unwrap() - (1.0 - 0.25 * 0.25 * 0.65)).abs() < 1e-9,
        "two strong rules aimed at the reader: 1 - 0.25² · 0.65: {score:?}"
    );
    assert_eq!(score[1], Some(0.0));
    assert_eq!(score[2], None, "missing text: missing score");
    assert_eq!(score[3], Some(0.75));
    assert_eq!(
        score[4],
        Some(0.35),
        "a mild term alone stays under the 0.5 threshold"
    );
    assert_eq!(
        tags(&out, "offensive_rules"),
        vec![
            vec![
                "lexicon.insult.en.bitch".to_string(),
                "lexicon.insult.targeted".to_string(),
                "lexicon.profanity.en.fucking".to_string()
            ],
            vec![],
            vec![],
            vec!["lexicon.insult.es.puta".to_string()],
            vec!["lexicon.profanity.en.ass".to_string()],
        ]
    );
    assert_eq!(run(), out, "same input, same output");
}

#[test]
fn lexicon_detector_uses_the_granted_lang_column_and_renamed_outputs() {
    let runtime = runtime();
    let text = "[plugin.lexicon-detector]\nread = [\"msg\", \"lang\"]\nwrite = [\"bad\", \"bad_score\", \"bad_rules\"]\n";
    let plugin = runtime
        .load(
            embedded(),
            Some("lexicon-detector"),
            &policy(text, Path::new(".")),
        )
        .unwrap();
    let given = vec![
        ("column".to_string(), ParamValue::Text("msg".into())),
        ("lang".to_string(), ParamValue::Text("en".into())),
        ("label_output".to_string(), ParamValue::Text("bad".into())),
        (
            "score_output".to_string(),
            ParamValue::Text("bad_score".into()),
        ),
        (
            "rules_output".to_string(),
            ParamValue::Text("bad_rules".into()),
        ),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    assert!(effective.withheld.is_empty());
    let mut input = text_chunk("msg", &["puta", "puta", "fuck"]);
    input.set("lang", text_column(&[Some("es-MX"), None, Some("es")]));
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(input)
        .unwrap();
    // row 0 is Spanish; row 1 has no code and falls back to `lang` = en;
    // row 2 is Spanish, so the English term does not count
    assert_eq!(
        labels(&out, "bad"),
        vec![Some(true), Some(false), Some(false)]
    );
    assert_eq!(
        tags(&out, "bad_rules"),
        vec![vec!["lexicon.insult.es.puta".to_string()], vec![], vec![]]
    );
}

#[test]
fn lexicon_detector_reads_extra_lists_from_a_directory_granted_read_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("en.txt"),
        "# house rules\nfrak\tstrong\n!dick\n[insult]\nnumpty\tstrong\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("any.txt"), "grundle\tslur\n").unwrap();
    let text = format!(
        "[plugin.lexicon-detector]\nread = [\"text\"]\nwrite = [\"offensive_label\", \"offensive_score\", \"offensive_rules\"]\ndirs = [{{ host = {:?}, guest = \"/lexicons\", mode = \"ro\" }}]\n",
        dir.path().display().to_string()
    );
    let runtime = runtime();
    let plugin = runtime
        .load(
            embedded(),
            Some("lexicon-detector"),
            &policy(&text, Path::new(".")),
        )
        .unwrap();
    let given = vec![(
        "extra_dir".to_string(),
        ParamValue::Text("/lexicons".into()),
    )];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    let input = text_chunk(
        "text",
        &["fr4k off", "Moby Dick", "grundle", "fuck", "what a numpty"],
    );
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(input)
        .unwrap();
    assert_eq!(
        tags(&out, "offensive_rules"),
        vec![
            vec!["lexicon.profanity.en.frak".to_string()],
            vec![],
            vec!["lexicon.profanity.any.grundle".to_string()],
            vec!["lexicon.profanity.en.fuck".to_string()],
            // an extra list's `[category]` line names the category
            vec!["lexicon.insult.en.numpty".to_string()],
        ]
    );
    assert_eq!(
        labels(&out, "offensive_label"),
        vec![Some(true), Some(false), Some(true), Some(true), Some(true)]
    );

    // a bad line is reported with the file and line
    std::fs::write(dir.path().join("es.txt"), "joder\tawful\n").unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .expect_err("invalid list")
        .to_string();
    assert!(
        err.contains("/lexicons/es.txt:1") && err.contains("awful"),
        "{err}"
    );
}

#[test]
fn lexicon_detector_extra_dir_without_a_dir_grant_fails_naming_the_path() {
    let runtime = runtime();
    let plugin = runtime
        .load(
            embedded(),
            Some("lexicon-detector"),
            &policy(POLICY, Path::new(".")),
        )
        .unwrap();
    let given = vec![(
        "extra_dir".to_string(),
        ParamValue::Text("/lexicons".into()),
    )];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .expect_err("no directory is granted")
        .to_string();
    assert!(
        err.contains("lexicon-detector")
            && err.contains("extra_dir")
            && err.contains("`/lexicons`"),
        "{err}"
    );
    assert!(err.contains("os error"), "the OS error is included: {err}");

    // other param values the plugin checks in `open`
    let given = vec![("lang".to_string(), ParamValue::Text("fr".into()))];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    let err = plugin
        .session(&params, &effective, None)
        .expect_err("unknown lang")
        .to_string();
    assert!(
        err.contains("param `lang` should be auto, en or es"),
        "{err}"
    );
}
