//! Native tests. Expected vectors marked "sklearn" were produced by
//! scikit-learn 1.9.1 (`HashingVectorizer(lowercase=False, ...)`,
//! `TfidfTransformer(smooth_idf=True)`), rounded to 7 decimals.

use super::*;
use sluice_sdk::testing::{self, fit, fit_process, process, text_chunk};

type Row = Vec<(u32, f32)>;

fn rows(out: &Chunk, name: &str) -> Vec<Row> {
    let sparse = out.sparse(name).unwrap();
    (0..sparse.len())
        .map(|i| {
            let (indices, values) = sparse.get(i).unwrap();
            indices
                .iter()
                .copied()
                .zip(values.iter().copied())
                .collect()
        })
        .collect()
}

fn assert_rows_close(got: &[Row], want: &[&[(u32, f32)]]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.len(), w.len(), "got {g:?}\nwant {w:?}");
        for ((gi, gv), (wi, wv)) in g.iter().zip(w.iter()) {
            assert_eq!(gi, wi, "got {g:?}\nwant {w:?}");
            assert!((gv - wv).abs() < 1e-6, "got {g:?}\nwant {w:?}");
        }
    }
}

const DOCS: [Option<&str>; 3] = [
    Some("free entry in a wkly comp to win fa cup final"),
    Some("win win win cash now"),
    Some("hello world"),
];

#[test]
fn murmur3_matches_sklearn_and_reference_vectors() {
    // sklearn.utils.murmurhash3_32
    assert_eq!(murmur3_32(b"foo", 0) as i32, -156_908_512);
    assert_eq!(murmur3_32(b"foo", 42) as i32, -1_322_301_282);
    assert_eq!(murmur3_32(b"foo", 0), 4_138_058_784);
    assert_eq!(murmur3_32(b"", 0), 0);
    assert_eq!(murmur3_32(b"", 1), 1_364_076_727);
    assert_eq!(murmur3_32(b"a", 0), 1_009_084_850);
    assert_eq!(murmur3_32(b"ab", 0) as i32, -1_681_926_305);
    assert_eq!(murmur3_32(b"abc", 0) as i32, -1_277_324_294);
    assert_eq!(murmur3_32(b"abcd", 0), 1_139_631_978);
    assert_eq!(murmur3_32("niño".as_bytes(), 0) as i32, -1_374_806_715);
    assert_eq!(murmur3_32(b"<url>", 0), 1_719_683_268);
    // the widely published x86_32 vectors with seed 0x9747b28c
    for (input, want) in [
        (&b""[..], 0xebb6_c228u32),
        (b"a", 0x7fa0_9ea6),
        (b"aaa", 0x283e_0130),
        (b"aaaa", 0x5a97_808a),
        (b"Hello, world!", 0x2488_4cba),
        (b"The quick brown fox jumps over the lazy dog", 0x2fa8_26cd),
    ] {
        assert_eq!(
            murmur3_32(input, 0x9747_b28c),
            want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn incremental_murmur3_equals_one_shot_for_every_split() {
    let text = b"The quick brown fox jumps over the lazy dog";
    let whole = murmur3_32(text, 7);
    for a in 0..=text.len() {
        for b in a..=text.len() {
            let mut h = Murmur3::new(7);
            h.write(&text[..a]);
            let _ = h.finish(); // finishing must not disturb the state
            h.write(&text[a..b]);
            h.write(&text[b..]);
            assert_eq!(h.finish(), whole, "split at {a}, {b}");
        }
    }
}

#[test]
fn word_bigrams_l2_match_sklearn() {
    // HashingVectorizer(n_features=2**18, ngram_range=(1, 2), lowercase=False)
    let out = process::<HashFeatures>(
        &[("column", "text".into()), ("min_token_len", 2i64.into())],
        text_chunk("text", &DOCS),
    )
    .unwrap();
    assert_eq!(out.sparse("features").unwrap().dim(), 1 << 18);
    let a = 0.229_415_7;
    assert_rows_close(
        &rows(&out, "features"),
        &[
            &[
                (32615, a),
                (34256, a),
                (42257, a),
                (80637, a),
                (83894, -a),
                (89542, -a),
                (95006, a),
                (151274, -a),
                (156782, a),
                (157068, -a),
                (173015, -a),
                (174171, a),
                (182662, -a),
                (187079, -a),
                (194611, -a),
                (243590, -a),
                (247883, -a),
                (253893, a),
                (259525, a),
            ],
            &[
                (41947, 0.242_535_6),
                (68115, 0.242_535_6),
                (71978, 0.485_071_3),
                (95979, -0.242_535_6),
                (121974, 0.242_535_6),
                (182662, -0.727_606_9),
            ],
            &[
                (115461, -0.577_350_3),
                (167695, 0.577_350_3),
                (260679, 0.577_350_3),
            ],
        ],
    );
}

#[test]
fn unigram_counts_without_norm_match_sklearn() {
    // HashingVectorizer(n_features=2**10, ngram_range=(1, 1), lowercase=False, norm=None)
    let given = [
        ("column", "text".into()),
        ("word_ngrams", 1i64.into()),
        ("n_features_log2", 10i64.into()),
        ("min_token_len", 2i64.into()),
        ("norm", "none".into()),
    ];
    let out = process::<HashFeatures>(&given, text_chunk("text", &DOCS)).unwrap();
    assert_rows_close(
        &rows(&out, "features"),
        &[
            &[
                (51, -1.0),
                (91, 1.0),
                (110, 1.0),
                (273, 1.0),
                (390, -1.0),
                (454, -1.0),
                (765, 1.0),
                (871, 1.0),
                (902, -1.0),
                (965, 1.0),
            ],
            &[(390, -3.0), (531, 1.0), (747, -1.0)],
            &[(583, 1.0), (773, -1.0)],
        ],
    );
}

#[test]
fn char_wb_trigrams_match_sklearn_including_unicode_and_short_words() {
    // HashingVectorizer(analyzer="char_wb", ngram_range=(3, 3), lowercase=False, norm=None)
    let given = [
        ("column", "text".into()),
        ("word_ngrams", 0i64.into()),
        ("char_ngrams", 3i64.into()),
        ("norm", "none".into()),
    ];
    let input = text_chunk("text", &[Some("hi café"), Some("win cash  now"), Some("a")]);
    let out = process::<HashFeatures>(&given, input).unwrap();
    assert_rows_close(
        &rows(&out, "features"),
        &[
            &[
                (46856, 1.0),
                (54368, -1.0),
                (119270, -1.0),
                (145298, 1.0),
                (159094, -1.0),
                (259313, -1.0),
            ],
            &[
                (8715, -1.0),
                (31806, 1.0),
                (52780, 1.0),
                (68115, 1.0),
                (139048, 1.0),
                (148643, 1.0),
                (175715, 1.0),
                (182662, -1.0),
                (248984, -1.0),
                (259313, -1.0),
            ],
            &[(238520, -1.0)],
        ],
    );
}

#[test]
fn binary_sets_every_stored_value_to_one_like_sklearn() {
    // HashingVectorizer(n_features=2**4, ngram_range=(1, 1), lowercase=False, norm=None, binary=True)
    let given = [
        ("column", "text".into()),
        ("word_ngrams", 1i64.into()),
        ("n_features_log2", 4i64.into()),
        ("min_token_len", 2i64.into()),
        ("norm", "none".into()),
        ("binary", true.into()),
    ];
    let out = process::<HashFeatures>(&given, text_chunk("text", &DOCS)).unwrap();
    let ones = |idx: &[u32]| idx.iter().map(|&i| (i, 1.0)).collect::<Vec<_>>();
    assert_rows_close(
        &rows(&out, "features"),
        &[
            &ones(&[1, 3, 5, 6, 7, 11, 13, 14]),
            &ones(&[3, 6, 11]),
            &ones(&[5, 7]),
        ],
    );
}

#[test]
fn tfidf_fitted_over_several_chunks_matches_sklearn() {
    // hv = HashingVectorizer(n_features=2**18, ngram_range=(1, 2), lowercase=False, norm=None)
    // TfidfTransformer(smooth_idf=True, norm="l2").fit(hv.transform(DOCS))
    let given = [
        ("column", "text".into()),
        ("min_token_len", 2i64.into()),
        ("weighting", "tfidf".into()),
    ];
    // training split over two chunks, with a missing row that must not count
    let training = vec![
        text_chunk("text", &DOCS[..2]),
        text_chunk("text", &[None, DOCS[2]]),
    ];
    let out = fit_process::<HashFeatures>(
        &given,
        training,
        text_chunk(
            "text",
            &[Some("win cash now"), Some("unseen words here"), None],
        ),
    )
    .unwrap();
    assert_rows_close(
        &rows(&out, "features"),
        &[
            &[
                (41947, 0.467_351),
                (68115, 0.467_351),
                (95979, -0.467_351),
                (121974, 0.467_351),
                (182662, -0.355_432_5),
            ],
            &[
                (19009, -0.447_213_6),
                (81635, -0.447_213_6),
                (128554, -0.447_213_6),
                (214097, 0.447_213_6),
                (237836, -0.447_213_6),
            ],
            &[],
        ],
    );
}

#[test]
fn multi_chunk_fit_equals_single_chunk_fit_and_is_deterministic() {
    let given = [("column", "text".into()), ("weighting", "tfidf".into())];
    let one = fit::<HashFeatures>(&given, vec![text_chunk("text", &DOCS)]).unwrap();
    let split = fit::<HashFeatures>(
        &given,
        vec![
            text_chunk("text", &DOCS[..1]),
            text_chunk("text", &DOCS[1..]),
        ],
    )
    .unwrap();
    assert_eq!(one, split);
    assert_eq!(
        fit::<HashFeatures>(&given, vec![text_chunk("text", &DOCS)]).unwrap(),
        one
    );
    let fitted = Fitted::decode(&one).unwrap();
    assert_eq!(fitted.n_docs, 3);
    // "win" (and its bigrams with itself) counted once per document
    let win = murmur3_32(b"win", 0) as i32;
    let win_index = win.unsigned_abs() & ((1 << 18) - 1);
    assert_eq!(
        fitted
            .df
            .iter()
            .find(|(i, _)| *i == win_index)
            .map(|(_, d)| *d),
        Some(2)
    );
    // same input, same output
    let run = || {
        fit_process::<HashFeatures>(
            &given,
            vec![text_chunk("text", &DOCS)],
            text_chunk("text", &DOCS),
        )
        .unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn placeholders_stay_whole_tokens() {
    let mut f = Featurizer::new(Config {
        word_ngrams: 2,
        norm: Norm::None,
        ..Config::default()
    });
    let got: Vec<_> = f.hash_row("click <url> now").to_vec();
    let mut want: Vec<(u32, i32)> = ["click", "<url>", "now", "click <url>", "<url> now"]
        .iter()
        .map(|s| {
            let h = murmur3_32(s.as_bytes(), 0) as i32;
            (
                h.unsigned_abs() & ((1 << 18) - 1),
                if h >= 0 { 1 } else { -1 },
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want);

    let mut tokens = Vec::new();
    let text = "a<num>th <b> <URL> < x> <> x_y niño's café—naïve ½ ٣٤ 日本語";
    tokenize(text, 1, &mut tokens);
    let words: Vec<&str> = tokens
        .iter()
        .map(|&(s, e)| &text[s as usize..e as usize])
        .collect();
    // Python's re.findall(r"(?u)\b\w+\b") plus the lower-case placeholders
    assert_eq!(
        words,
        [
            "a",
            "<num>",
            "th",
            "<b>",
            "URL",
            "x",
            "x_y",
            "niño",
            "s",
            "café",
            "naïve",
            "½",
            "٣٤",
            "日本語"
        ]
    );
    tokenize(text, 2, &mut tokens);
    assert_eq!(
        tokens.len(),
        10,
        "one-char words dropped, placeholders kept"
    );
}

#[test]
fn rows_are_sorted_unique_and_collisions_merge() {
    // 2 dims: every feature collides
    let given = [
        ("column", "text".into()),
        ("n_features_log2", 1i64.into()),
        ("norm", "none".into()),
    ];
    let input = text_chunk(
        "text",
        &[Some(
            "the quick brown fox jumps over the lazy dog again and again",
        )],
    );
    let out = process::<HashFeatures>(&given, input).unwrap();
    let row = &rows(&out, "features")[0];
    assert!(row.windows(2).all(|w| w[0].0 < w[1].0), "{row:?}");
    assert!(
        row.iter()
            .all(|&(i, v)| i < 2 && v != 0.0 && v.fract() == 0.0),
        "{row:?}"
    );
    let mut f = Featurizer::new(Config {
        n_features_log2: 1,
        ..Config::default()
    });
    let total: i32 = f
        .hash_row("the quick brown fox jumps over the lazy dog again and again")
        .iter()
        .map(|e| e.1)
        .sum();
    let raw: i32 = [
        "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "again", "and",
        "again",
    ]
    .windows(2)
    .map(|w| w.join(" "))
    .chain(
        [
            "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "again", "and",
            "again",
        ]
        .map(String::from),
    )
    .map(|s| {
        if (murmur3_32(s.as_bytes(), 0) as i32) >= 0 {
            1
        } else {
            -1
        }
    })
    .sum();
    assert_eq!(total, raw, "merging keeps the signed sum");
}

#[test]
fn missing_and_empty_rows_are_zero_vectors() {
    let input = text_chunk("text_clean", &[None, Some(""), Some("  ...  "), Some("hi")]);
    let out = process::<HashFeatures>(&[], input).unwrap();
    assert_eq!(out.rows, 4);
    assert_eq!(out.columns.len(), 1, "writes exactly the declared column");
    let got = rows(&out, "features");
    assert!(got[..3].iter().all(Vec::is_empty), "{got:?}");
    assert_eq!(got[3].len(), 1);
    assert!((got[3][0].1.abs() - 1.0).abs() < 1e-6);
}

#[test]
fn tf_fit_pass_is_a_cheap_record_of_the_params() {
    let given = [("column", "text".into())];
    let state = fit::<HashFeatures>(&given, vec![text_chunk("text", &DOCS)]).unwrap();
    assert_eq!(state.len(), 41, "header only: no counts kept for tf");
    let fitted = Fitted::decode(&state).unwrap();
    assert_eq!(
        (fitted.weighting, fitted.n_docs, fitted.df.len()),
        (Weighting::Tf, 0, 0)
    );
    // state or not, tf gives the same features
    let with_state = fit_process::<HashFeatures>(
        &given,
        vec![text_chunk("text", &DOCS)],
        text_chunk("text", &DOCS),
    )
    .unwrap();
    assert_eq!(
        with_state,
        process::<HashFeatures>(&given, text_chunk("text", &DOCS)).unwrap()
    );
}

#[test]
fn tfidf_without_state_or_training_rows_is_an_error() {
    let given = [("column", "text".into()), ("weighting", "tfidf".into())];
    let err = process::<HashFeatures>(&given, text_chunk("text", &DOCS)).unwrap_err();
    assert!(err.to_string().contains("fit"), "{err}");
    let err = fit::<HashFeatures>(&given, vec![text_chunk("text", &[None, None])]).unwrap_err();
    assert!(err.to_string().contains("column `text`"), "{err}");
}

#[test]
fn missing_column_is_named() {
    let err = process::<HashFeatures>(&[], text_chunk("text", &DOCS)).unwrap_err();
    assert!(err.to_string().contains("`text_clean`"), "{err}");
    let err = fit::<HashFeatures>(&[], vec![text_chunk("text", &DOCS)]).unwrap_err();
    assert!(err.to_string().contains("`text_clean`"), "{err}");
}

#[test]
fn bad_params_are_named() {
    let cases: Vec<(&str, ParamValue)> = vec![
        ("weighting", "bm25".into()),
        ("norm", "l1".into()),
        ("n_features_log2", 0i64.into()),
        ("n_features_log2", 25i64.into()),
        ("word_ngrams", (-1i64).into()),
        ("word_ngrams", 9i64.into()),
        ("char_ngrams", 17i64.into()),
        ("min_token_len", 0i64.into()),
        ("binary", "yes".into()),
    ];
    for (name, value) in cases {
        let err =
            process::<HashFeatures>(&[(name, value.clone())], text_chunk("text_clean", &DOCS))
                .unwrap_err();
        assert!(
            matches!(err, StepError::InvalidParams(_))
                && err.to_string().contains(&format!("`{name}`")),
            "{name} = {value:?}: {err}"
        );
    }
    let err = process::<HashFeatures>(
        &[("word_ngrams", 0i64.into())],
        text_chunk("text_clean", &DOCS),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("`word_ngrams` and `char_ngrams`"),
        "{err}"
    );
}

#[test]
fn corrupt_or_mismatched_state_is_refused() {
    let tfidf = [("weighting", "tfidf".into())];
    let state = fit::<HashFeatures>(&tfidf, vec![text_chunk("text_clean", &DOCS)]).unwrap();
    let open = |given: &[(&str, ParamValue)], state: Vec<u8>| {
        let params = Params::resolve(
            &HashFeatures::describe().params,
            given
                .iter()
                .map(|(n, v)| Param {
                    name: n.to_string(),
                    value: v.clone(),
                })
                .collect(),
        )
        .unwrap();
        HashFeatures::open(params, Some(state))
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(open(&tfidf, state.clone()), None);
    assert!(
        open(&tfidf, b"garbage".to_vec())
            .unwrap()
            .contains("fitted state is corrupt: wrong magic")
    );
    assert!(
        open(&tfidf, state[..state.len() - 3].to_vec())
            .unwrap()
            .contains("truncated")
    );
    let mut trailing = state.clone();
    trailing.push(0);
    assert!(open(&tfidf, trailing).unwrap().contains("trailing bytes"));
    let mut bad_df = state.clone();
    let n = bad_df.len();
    bad_df[n - 4..].copy_from_slice(&0u32.to_le_bytes());
    assert!(open(&tfidf, bad_df).unwrap().contains("document frequency"));
    let mut bad_index = state.clone();
    bad_index[41..45].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(
        open(&tfidf, bad_index)
            .unwrap()
            .contains("index out of range")
    );

    let err = open(&[], state.clone()).unwrap();
    assert!(
        err.contains("`weighting` = tfidf but this session has tf") && err.contains("refit"),
        "{err}"
    );
    let err = open(
        &[("weighting", "tfidf".into()), ("word_ngrams", 3i64.into())],
        state.clone(),
    )
    .unwrap();
    assert!(err.contains("`word_ngrams` = 2"), "{err}");
    let err = open(
        &[
            ("weighting", "tfidf".into()),
            ("n_features_log2", 20i64.into()),
        ],
        state,
    )
    .unwrap();
    assert!(err.contains("`n_features_log2` = 18"), "{err}");
    // norm and binary do not change the indices: a state stays valid
    let tf_state = fit::<HashFeatures>(&[], vec![text_chunk("text_clean", &DOCS)]).unwrap();
    assert_eq!(
        open(
            &[("norm", "none".into()), ("binary", true.into())],
            tf_state
        ),
        None
    );
}

#[test]
fn output_column_is_renamed_by_param() {
    let out = testing::process::<HashFeatures>(
        &[("output", "x".into())],
        text_chunk("text_clean", &DOCS),
    )
    .unwrap();
    assert!(out.sparse("x").is_ok());
    assert_eq!(out.columns.len(), 1);
    let info = HashFeatures::describe();
    assert!(info.fits);
    assert_eq!(info.reads.len(), 1);
    assert_eq!(info.writes.len(), 1);
}

#[test]
fn state_round_trips_in_a_stable_format() {
    let state = Fitted {
        weighting: Weighting::TfIdf,
        word_ngrams: 2,
        char_ngrams: 0,
        char_ngrams_min: 0,
        n_features_log2: 4,
        min_token_len: 1,
        min_df: 1,
        n_docs: 3,
        df: vec![(1, 3), (9, 1)],
    };
    let bytes = testing::assert_state_round_trips(&state);
    let u32s = |values: &[u32]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>()
    };
    let expected = [
        &b"HSF2\x01"[..],
        &u32s(&[2, 0, 0, 4, 1, 1]),
        &3u64.to_le_bytes(),
        &u32s(&[2, 1, 3, 9, 1]),
    ]
    .concat();
    assert_eq!(bytes, expected, "the state format is stable");
}

fn sklearn_case(given: &[(&str, ParamValue)], want: &[&[(u32, f32)]]) {
    let mut params = vec![
        ("column", "text".into()),
        ("n_features_log2", sklearn_fixture::LOG2.into()),
        ("weighting", "tfidf".into()),
    ];
    params.extend(given.iter().cloned());
    let docs: Vec<Option<&str>> = sklearn_fixture::DOCS.iter().copied().map(Some).collect();
    let out = fit_process::<HashFeatures>(
        &params,
        vec![
            text_chunk("text", &docs[..2]),
            text_chunk("text", &docs[2..]),
        ],
        text_chunk("text", &docs),
    )
    .unwrap();
    assert_rows_close(&rows(&out, "features"), want);
}

#[test]
fn char_wb_range_sublinear_tf_and_min_df_match_sklearn_tfidf_vectorizer() {
    sklearn_case(
        &[
            ("word_ngrams", 0i64.into()),
            ("char_ngrams", 5i64.into()),
            ("char_ngrams_min", 2i64.into()),
            ("sublinear_tf", true.into()),
            ("min_df", 2i64.into()),
        ],
        &sklearn_fixture::CHAR_WB_2_5_SUBLINEAR_MIN_DF_2,
    );
}

#[test]
fn word_ngrams_with_sublinear_tf_match_sklearn_tfidf_vectorizer() {
    sklearn_case(
        &[
            ("word_ngrams", 2i64.into()),
            ("min_token_len", 2i64.into()),
            ("sublinear_tf", true.into()),
        ],
        &sklearn_fixture::WORDS_1_2_SUBLINEAR,
    );
}

#[test]
fn words_and_char_ngrams_share_one_space_with_min_df_like_sklearn() {
    sklearn_case(
        &[
            ("word_ngrams", 1i64.into()),
            ("min_token_len", 2i64.into()),
            ("char_ngrams", 4i64.into()),
            ("char_ngrams_min", 2i64.into()),
            ("min_df", 2i64.into()),
        ],
        &sklearn_fixture::WORDS_AND_CHAR_WB_2_4_MIN_DF_2,
    );
}

#[test]
fn min_df_with_tf_is_fitted_and_changing_it_needs_a_refit() {
    let given = [("column", "text".into()), ("min_df", 2i64.into())];
    let state = fit::<HashFeatures>(&given, vec![text_chunk("text", &DOCS)]).unwrap();
    let fitted = Fitted::decode(&state).unwrap();
    assert_eq!(fitted.min_df, 2);
    // only "win" (docs 1 and 2) is in two of the three rows
    assert_eq!(fitted.df.len(), 1, "{:?}", fitted.df);
    let out = fit_process::<HashFeatures>(
        &given,
        vec![text_chunk("text", &DOCS)],
        text_chunk("text", &[Some("win a prize")]),
    )
    .unwrap();
    let row = &rows(&out, "features")[0];
    assert_eq!(
        row.len(),
        1,
        "unseen and rare features are dropped: {row:?}"
    );
    assert!((row[0].1.abs() - 1.0).abs() < 1e-6);
    let params = Params::resolve(
        &HashFeatures::describe().params,
        vec![Param {
            name: "min_df".into(),
            value: 3i64.into(),
        }],
    )
    .unwrap();
    let err = HashFeatures::open(params, Some(state)).err().unwrap();
    assert!(err.to_string().contains("`min_df` = 2"), "{err}");
}

#[test]
fn char_ngram_bounds_are_checked() {
    let err = process::<HashFeatures>(
        &[
            ("char_ngrams", 3i64.into()),
            ("char_ngrams_min", 4i64.into()),
        ],
        text_chunk("text_clean", &DOCS),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`char_ngrams_min`"), "{err}");
    for (name, value) in [("min_df", 0i64), ("char_ngrams_min", 17)] {
        let err = process::<HashFeatures>(&[(name, value.into())], text_chunk("text_clean", &DOCS))
            .unwrap_err();
        assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
    }
}
