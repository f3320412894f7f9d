//! The step as the host drives it (natively, through `sluice_sdk::testing`).

use std::path::PathBuf;

use lexicon_detector::LexiconDetector;
use sluice_sdk::testing::{process, text_chunk};
use sluice_sdk::*;

fn labels(out: &Chunk, name: &str) -> Vec<Option<bool>> {
    out.boolean(name).unwrap().iter().collect()
}

fn scores(out: &Chunk, name: &str) -> Vec<Option<f64>> {
    out.float64(name).unwrap().iter().collect()
}

fn rules(out: &Chunk, name: &str) -> Vec<Vec<String>> {
    let tags = out.tags(name).unwrap();
    (0..tags.len())
        .map(|row| tags.get(row).into_iter().map(str::to_string).collect())
        .collect()
}

/// A fresh directory under the system temp dir (no dev-dependencies).
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lexicon-detector-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn writes_label_score_and_rules_and_keeps_missing_rows_missing() {
    let input = text_chunk(
        "text",
        &[
            Some("you f.u.c.k!ng b1tch"),
            Some("what a lovely cocktail"),
            None,
            Some(""),
            Some("my ass"),
            Some("pútâ"),
        ],
    );
    let out = process::<LexiconDetector>(&[], input).unwrap();
    assert_eq!(out.rows, 6);
    assert_eq!(out.columns.len(), 3, "exactly the declared writes");
    // missing text: label and score missing (unknown is not clean), no rules
    assert_eq!(
        labels(&out, "offensive_label"),
        vec![
            Some(true),
            Some(false),
            None,
            Some(false),
            Some(false),
            Some(true)
        ]
    );
    let score = scores(&out, "offensive_score");
    // two strong terms aimed at the reader (`you`): 1 - 0.25 · 0.25 · 0.65
    assert!((score[0].unwrap() - (1.0 - 0.25 * 0.25 * 0.65)).abs() < 1e-9);
    assert_eq!(score[1], Some(0.0));
    assert_eq!(score[2], None);
    assert_eq!(score[3], Some(0.0));
    assert!(
        (score[4].unwrap() - 0.35).abs() < 1e-9,
        "a mild term alone stays under the threshold"
    );
    assert_eq!(
        rules(&out, "offensive_rules"),
        vec![
            vec![
                "lexicon.insult.en.bitch".to_string(),
                "lexicon.insult.targeted".to_string(),
                "lexicon.profanity.en.fucking".to_string()
            ],
            vec![],
            vec![],
            vec![],
            vec!["lexicon.profanity.en.ass".to_string()],
            vec!["lexicon.insult.es.puta".to_string()],
        ]
    );
}

#[test]
fn columns_are_named_by_params() {
    let input = text_chunk("msg", &[Some("shit")]);
    let given = [
        ("column", "msg".into()),
        ("label_output", "bad".into()),
        ("score_output", "bad_score".into()),
        ("rules_output", "bad_rules".into()),
    ];
    let out = process::<LexiconDetector>(&given, input).unwrap();
    assert_eq!(labels(&out, "bad"), vec![Some(true)]);
    assert_eq!(scores(&out, "bad_score"), vec![Some(0.75)]);
    assert_eq!(
        rules(&out, "bad_rules"),
        vec![vec!["lexicon.profanity.en.shit".to_string()]]
    );
    // reading a column that is not there is the input's error, named
    let err = process::<LexiconDetector>(&[], text_chunk("msg", &[Some("x")])).unwrap_err();
    assert!(err.to_string().contains("`text`"), "{err}");
}

#[test]
fn threshold_sets_the_label() {
    let input = || text_chunk("text", &[Some("horny"), Some("horny porn")]);
    let out = process::<LexiconDetector>(&[], input()).unwrap();
    assert_eq!(
        labels(&out, "offensive_label"),
        vec![Some(false), Some(true)],
        "two mild terms reach 0.5"
    );
    let out = process::<LexiconDetector>(&[("threshold", 0.3.into())], input()).unwrap();
    assert_eq!(
        labels(&out, "offensive_label"),
        vec![Some(true), Some(true)]
    );
    let err = process::<LexiconDetector>(&[("threshold", 0.0.into())], input()).unwrap_err();
    assert!(
        matches!(&err, StepError::InvalidParams(m) if m.contains("threshold")),
        "{err}"
    );
}

#[test]
fn lang_param_and_lang_column() {
    let texts = [Some("puta madre"), Some("fuck"), Some("puta"), Some("fuck")];
    let out =
        process::<LexiconDetector>(&[("lang", "en".into())], text_chunk("text", &texts)).unwrap();
    assert_eq!(
        labels(&out, "offensive_label"),
        vec![Some(false), Some(true), Some(false), Some(true)]
    );

    // per-row codes win over `lang`; a missing or unknown code falls back
    let mut codes = TextBuilder::default();
    for code in [Some("es-MX"), Some("es"), None, Some("fr")] {
        codes.push_option(code);
    }
    let input = text_chunk("text", &texts).with("lang", codes.finish());
    let out = process::<LexiconDetector>(&[("lang", "en".into())], input).unwrap();
    assert_eq!(
        labels(&out, "offensive_label"),
        vec![Some(true), Some(false), Some(false), Some(true)]
    );

    // the column is optional: without it every row uses `lang`
    let out =
        process::<LexiconDetector>(&[("lang", "es".into())], text_chunk("text", &texts)).unwrap();
    assert_eq!(
        labels(&out, "offensive_label"),
        vec![Some(true), Some(false), Some(true), Some(false)]
    );

    let err = process::<LexiconDetector>(&[("lang", "fr".into())], text_chunk("text", &texts))
        .unwrap_err();
    assert!(
        matches!(&err, StepError::InvalidParams(m) if m.contains("`lang`") && m.contains("fr")),
        "{err}"
    );
}

#[test]
fn describe_declares_optional_lang_column_and_named_outputs() {
    let info = LexiconDetector::describe();
    assert_eq!(info.name, "lexicon-detector");
    assert_eq!(info.kind, StepKind::Detector);
    let lang = info.reads.iter().find(|c| c.name == "lang").unwrap();
    assert!(lang.optional && lang.name_param.as_deref() == Some("lang_column"));
    let text = info.reads.iter().find(|c| c.name == "text").unwrap();
    assert!(!text.optional && text.name_param.as_deref() == Some("column"));
    let writes: Vec<(&str, ColumnType, Option<&str>)> = info
        .writes
        .iter()
        .map(|c| (c.name.as_str(), c.type_, c.name_param.as_deref()))
        .collect();
    assert_eq!(
        writes,
        vec![
            ("offensive_label", ColumnType::Boolean, Some("label_output")),
            ("offensive_score", ColumnType::Float64, Some("score_output")),
            ("offensive_rules", ColumnType::Tags, Some("rules_output")),
        ]
    );
}

#[test]
fn outputs_must_differ() {
    let err = process::<LexiconDetector>(
        &[("score_output", "offensive_label".into())],
        text_chunk("text", &[Some("x")]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, StepError::InvalidParams(m) if m.contains("different columns")),
        "{err}"
    );
}

#[test]
fn extra_dir_adds_lists_by_language() {
    let dir = temp_dir("extra");
    std::fs::write(
        dir.join("en.txt"),
        "# house rules\nfrak\tstrong\nsmeg\tmild\n!dick\n",
    )
    .unwrap();
    std::fs::write(dir.join("es.txt"), "joder\tstrong\n").unwrap();
    std::fs::write(dir.join("any.txt"), "grundle\tslur\tgrundle\n").unwrap();
    std::fs::write(dir.join("notes.md"), "not a list").unwrap();
    let given = [
        ("extra_dir", dir.to_str().unwrap().into()),
        ("lang", "en".into()),
    ];
    let input = text_chunk(
        "text",
        &[
            Some("fr4kking hell"),
            Some("joder"),
            Some("grundle"),
            Some("Moby Dick"),
            Some("fuck"),
        ],
    );
    let out = process::<LexiconDetector>(&given, input).unwrap();
    assert_eq!(
        rules(&out, "offensive_rules"),
        vec![
            vec!["lexicon.profanity.en.frak".to_string()],
            vec![],
            vec!["lexicon.profanity.any.grundle".to_string()],
            vec![],
            vec!["lexicon.profanity.en.fuck".to_string()],
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn extra_dir_errors_name_the_path() {
    let missing =
        std::env::temp_dir().join(format!("lexicon-detector-{}-nope", std::process::id()));
    let err = process::<LexiconDetector>(
        &[("extra_dir", missing.to_str().unwrap().into())],
        text_chunk("text", &[]),
    )
    .unwrap_err();
    match &err {
        StepError::InvalidParams(m) => {
            assert!(
                m.contains(missing.to_str().unwrap()) && m.contains("extra_dir"),
                "{m}"
            );
            assert!(
                m.contains("No such file or directory") || m.contains("not found"),
                "the OS error: {m}"
            );
        }
        other => panic!("{other:?}"),
    }

    let dir = temp_dir("bad");
    std::fs::write(dir.join("en.txt"), "ok\tmild\nbad\tawful\n").unwrap();
    let err = process::<LexiconDetector>(
        &[("extra_dir", dir.to_str().unwrap().into())],
        text_chunk("text", &[]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, StepError::InvalidParams(m) if m.contains("en.txt:2") && m.contains("awful")),
        "{err}"
    );

    std::fs::remove_file(dir.join("en.txt")).unwrap();
    std::fs::write(dir.join("fr.txt"), "merde\n").unwrap();
    let err = process::<LexiconDetector>(
        &[("extra_dir", dir.to_str().unwrap().into())],
        text_chunk("text", &[]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, StepError::InvalidParams(m) if m.contains("fr.txt") && m.contains("language")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
