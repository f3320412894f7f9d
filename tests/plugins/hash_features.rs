//! hash-features through the real host, under the least grant it needs
//! (read the text column, write the sparse column). Expected vectors are
//! scikit-learn 1.9.1's `HashingVectorizer(lowercase=False, ...)` output.

use sluice_core::contract::ParamValue;
use sluice_core::{Chunk, ColumnValues};
use sluice_tests::{load_stdlib, text_chunk};

#[test]
fn hash_features_tf_matches_sklearn_through_the_fit_lifecycle() {
    let plugin = load_stdlib(
        "hash-features",
        "[plugin.hash-features]\nread = [\"text_clean\"]\nwrite = [\"features\"]\n",
    );
    assert!(
        plugin.info().fits,
        "declared fitted: tfidf needs a fit pass, so the declaration is static"
    );
    let (params, effective) = plugin.effective_grant(&[]).unwrap();

    let input = text_chunk("text_clean", &["hello world", "", "click <url> now"]);
    let mut fit = plugin.session(&params, &effective, None).unwrap();
    fit.fit(input.clone()).unwrap();
    let state = fit.finish_fit().unwrap();
    assert_eq!(
        state.len(),
        41,
        "tf keeps no counts: the state only records the params"
    );

    let out: Chunk = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(input)
        .unwrap();
    assert_eq!(out.columns.len(), 1);
    let Some(ColumnValues::Sparse {
        dim,
        row_offsets,
        indices,
        values,
    }) = out.column("features")
    else {
        panic!("features is not sparse: {out:?}")
    };
    assert_eq!(*dim, 1 << 18);
    assert_eq!(
        row_offsets[..3],
        [0, 3, 3],
        "the empty row is the zero vector"
    );
    // HashingVectorizer(n_features=2**18, ngram_range=(1, 2), lowercase=False) on "hello world"
    assert_eq!(indices[..3], [115461, 167695, 260679]);
    let want = [-0.5773503f32, 0.5773503, 0.5773503];
    assert!(
        values[..3]
            .iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() < 1e-6),
        "{values:?}"
    );
    // "<url>" stays one token: 5 features (3 words, 2 bigrams), sorted, unique
    let row = &indices[row_offsets[2] as usize..row_offsets[3] as usize];
    assert!(
        row.len() <= 5 && !row.is_empty() && row.windows(2).all(|w| w[0] < w[1]),
        "{row:?}"
    );
}

#[test]
fn hash_features_tfidf_fits_over_chunks_reproducibly_and_matches_sklearn() {
    let plugin = load_stdlib(
        "hash-features",
        "[plugin.hash-features]\nread = [\"text\"]\nwrite = [\"tfidf\"]\n",
    );
    let given = vec![
        ("column".to_string(), ParamValue::Text("text".into())),
        ("output".to_string(), ParamValue::Text("tfidf".into())),
        ("weighting".to_string(), ParamValue::Text("tfidf".into())),
        ("min_token_len".to_string(), ParamValue::Int64(2)),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    let fit = || {
        let mut session = plugin.session(&params, &effective, None).unwrap();
        session
            .fit(text_chunk(
                "text",
                &[
                    "free entry in a wkly comp to win fa cup final",
                    "win win win cash now",
                ],
            ))
            .unwrap();
        session.fit(text_chunk("text", &["hello world"])).unwrap();
        session.finish_fit().unwrap()
    };
    let state = fit();
    assert_eq!(fit(), state, "fitted state is reproducible byte for byte");

    let out = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(text_chunk("text", &["win cash now"]))
        .unwrap();
    // TfidfTransformer(smooth_idf=True).fit(HashingVectorizer(ngram_range=(1, 2), norm=None).transform(docs))
    let Some(ColumnValues::Sparse {
        indices, values, ..
    }) = out.column("tfidf")
    else {
        panic!("{out:?}")
    };
    assert_eq!(indices, &[41947, 68115, 95979, 121974, 182662]);
    let want = [0.467351f32, 0.467351, -0.467351, 0.467351, -0.3554325];
    assert!(
        values.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
        "{values:?}"
    );

    // a state fitted under other params is refused at open, naming the param
    let (other, effective_other) = plugin
        .effective_grant(
            &[
                given.clone(),
                vec![("word_ngrams".to_string(), ParamValue::Int64(3))],
            ]
            .concat(),
        )
        .unwrap();
    let err = plugin
        .session(&other, &effective_other, Some(&state))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("hash-features") && err.contains("`word_ngrams` = 2"),
        "{err}"
    );
    // corrupt state is the plugin's error
    let err = plugin
        .session(&params, &effective, Some(b"garbage"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("hash-features") && err.contains("fitted state is corrupt"),
        "{err}"
    );
}

#[test]
fn hash_features_missing_rows_are_zero_vectors() {
    let plugin = load_stdlib(
        "hash-features",
        "[plugin.hash-features]\nread = [\"text_clean\"]\nwrite = [\"features\"]\n",
    );
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let mut input = Chunk::new(3);
    // row 1 missing (validity bitmap 0b101)
    input.set(
        "text_clean",
        ColumnValues::Text {
            data: "ab".into(),
            offsets: vec![0, 1, 1, 2],
            valid: vec![0b101],
        },
    );
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(input)
        .unwrap();
    let Some(ColumnValues::Sparse { row_offsets, .. }) = out.column("features") else {
        panic!("{out:?}")
    };
    assert_eq!(row_offsets, &[0, 1, 1, 2]);
}

#[test]
fn hash_features_rejects_bad_params_with_their_names() {
    let plugin = load_stdlib(
        "hash-features",
        "[plugin.hash-features]\nread = [\"text_clean\"]\nwrite = [\"features\"]\n",
    );
    for (name, value) in [
        ("weighting", ParamValue::Text("bm25".into())),
        ("norm", ParamValue::Text("l1".into())),
        ("n_features_log2", ParamValue::Int64(40)),
        ("word_ngrams", ParamValue::Int64(-1)),
    ] {
        let (params, effective) = plugin
            .effective_grant(&[(name.to_string(), value)])
            .unwrap();
        let err = plugin
            .session(&params, &effective, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(&format!("param `{name}`")), "{err}");
    }
    // writing anywhere but the granted column is refused before running
    let err = plugin
        .effective_grant(&[("output".to_string(), ParamValue::Text("other".into()))])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("writes column `other` but the policy does not grant it"),
        "{err}"
    );
}
