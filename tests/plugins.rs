//! The first-party plugins (plugins/), run through the real host under the
//! least grant each needs. `foreach_stdlib_plugin!` fails the build when a
//! plugin has no test here.

use std::path::Path;

use sluice::contract::ParamValue;
use sluice::data::{Chunk, ColumnValues};
use sluice::runtime::{Runtime, RuntimeConfig};
use sluice_tests::*;

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
sluice::foreach_stdlib_plugin!(assert_test_exists);

fn embedded(name: &str) -> &'static [u8] {
    sluice::stdlib::get(name)
        .unwrap_or_else(|| panic!("{name} is embedded"))
        .bytes
}

fn floats(values: &[Option<f64>]) -> ColumnValues {
    let mut valid = vec![0u8; values.len().div_ceil(8)];
    for (i, v) in values.iter().enumerate() {
        if v.is_some() {
            valid[i / 8] |= 1 << (i % 8);
        }
    }
    if values.iter().all(Option::is_some) {
        valid.clear();
    }
    ColumnValues::Float64 {
        values: values.iter().map(|v| v.unwrap_or(0.0)).collect(),
        valid,
    }
}

#[test]
fn clean_text() {
    let runtime = runtime();
    let policy = policy(
        "[plugin.clean-text]\nread = [\"message\"]\nwrite = [\"message\"]\n",
        Path::new("."),
    );
    let plugin = runtime
        .load(embedded("clean-text"), Some("clean-text"), &policy)
        .unwrap();
    assert_eq!(plugin.info().name, "clean-text");
    let given = vec![
        ("column".to_string(), ParamValue::Text("message".into())),
        ("output".to_string(), ParamValue::Text("message".into())),
        ("mask_numbers".to_string(), ParamValue::Boolean(true)),
    ];
    let (params, effective) = plugin.effective_grant(&given).unwrap();
    let input = text_chunk(
        "message",
        &[
            "FREE entry!! Txt WIN to 80082 www.win.example.com",
            "  ｈｅｌｌｏ   @Mum ",
            "mail x.y@example.org now",
        ],
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
        texts(&out, "message"),
        vec![
            Some("free entry!! txt win to <num> <url>".to_string()),
            Some("hello <user>".to_string()),
            Some("mail <email> now".to_string()),
        ]
    );
    assert_eq!(run(), out, "same input, same output");
}

#[test]
fn clean_text_rejects_unknown_and_mistyped_params_with_their_names() {
    let runtime = runtime();
    let plugin = runtime
        .load(
            embedded("clean-text"),
            Some("clean-text"),
            &sluice::policy::Policy::deny_all(),
        )
        .unwrap();
    let err = plugin
        .effective_grant(&[("colum".into(), ParamValue::Text("x".into()))])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("clean-text")
            && err.contains("unknown param `colum`")
            && err.contains("column"),
        "{err}"
    );
    let err = plugin
        .effective_grant(&[("lowercase".into(), ParamValue::Text("yes".into()))])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("param `lowercase` should be boolean, got text"),
        "{err}"
    );
    // under the default (empty) policy it may touch nothing
    let err = plugin.effective_grant(&[]).unwrap_err().to_string();
    assert!(
        err.contains("reads column `text` but the policy does not grant it (read = [])"),
        "{err}"
    );
}

#[test]
fn standard_scaler() {
    let runtime = runtime();
    let policy = policy(
        "[plugin.standard-scaler]\nread = [\"a\", \"b\"]\nwrite = [\"a\", \"b\"]\n",
        Path::new("."),
    );
    let plugin = runtime
        .load(
            embedded("standard-scaler"),
            Some("standard-scaler"),
            &policy,
        )
        .unwrap();
    assert!(plugin.info().fits);
    let given = vec![(
        "columns".to_string(),
        ParamValue::TextList(vec!["a".into(), "b".into()]),
    )];
    let (params, effective) = plugin.effective_grant(&given).unwrap();

    let mut training = Chunk::new(4);
    training.set("a", floats(&[Some(1.0), Some(2.0), Some(3.0), Some(4.0)]));
    training.set("b", floats(&[Some(10.0), None, Some(10.0), Some(10.0)]));
    let fit = || {
        let mut session = plugin.session(&params, &effective, None).unwrap();
        session.fit(training.clone()).unwrap();
        session.finish_fit().unwrap()
    };
    let state = fit();
    assert_eq!(fit(), state, "fitted state is reproducible byte for byte");

    let mut input = Chunk::new(2);
    input.set("a", floats(&[Some(2.5), None]));
    input.set("b", floats(&[Some(10.0), Some(12.0)]));
    let out = plugin
        .session(&params, &effective, Some(&state))
        .unwrap()
        .process(input)
        .unwrap();
    assert_eq!(out.column("a"), Some(&floats(&[Some(0.0), None])));
    // constant column: sd 0 keeps scale 1, as scikit-learn does
    assert_eq!(out.column("b"), Some(&floats(&[Some(0.0), Some(2.0)])));

    // corrupt state is the plugin's error, reported with its name
    let err = plugin
        .session(&params, &effective, Some(b"garbage"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("standard-scaler") && err.contains("fitted state is corrupt"),
        "{err}"
    );
}

#[test]
fn word_count() {
    let runtime = runtime();
    let policy = policy(
        "[plugin.word-count]\nread = [\"text\"]\nwrite = [\"word_count\"]\n",
        Path::new("."),
    );
    let plugin = runtime
        .load(embedded("word-count"), Some("word-count"), &policy)
        .unwrap();
    let (params, effective) = plugin.effective_grant(&[]).unwrap();
    let out = plugin
        .session(&params, &effective, None)
        .unwrap()
        .process(text_chunk("text", &["one two  three", ""]))
        .unwrap();
    assert_eq!(
        out.column("word_count"),
        Some(&ColumnValues::Int64 {
            values: vec![3, 0],
            valid: vec![]
        })
    );
}

#[test]
fn compiled_plugins_are_cached_on_disk_by_digest() {
    let cache = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let policy = sluice::policy::Policy::deny_all();
    let first = Runtime::new(config.clone())
        .unwrap()
        .load(embedded("word-count"), None, &policy)
        .unwrap();
    assert!(!first.cache_hit());
    let files: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].starts_with(&first.digest().hex()), "{files:?}");
    let second = Runtime::new(config.clone())
        .unwrap()
        .load(embedded("word-count"), None, &policy)
        .unwrap();
    assert!(second.cache_hit());
    assert_eq!(second.info(), first.info());
    // a corrupt cache entry is discarded and recompiled, not trusted
    std::fs::write(cache.path().join(&files[0]), b"corrupt").unwrap();
    let third = Runtime::new(config)
        .unwrap()
        .load(embedded("word-count"), None, &policy)
        .unwrap();
    assert!(!third.cache_hit());
    assert_eq!(third.info(), first.info());
}
