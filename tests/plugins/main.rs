//! The first-party plugins (plugins/), run through the real host under the
//! least grant each needs: one module per plugin, named after it.
//! `foreach_stdlib_plugin!` fails the build when a plugin has no module.

mod clean_text;
mod hash_features;
mod lexicon_detector;
mod pii_detector;
mod spam_detector;
mod standard_scaler;
mod word_count;

use sluice::data::ColumnValues;
use sluice::runtime::{Runtime, RuntimeConfig};

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
sluice::foreach_stdlib_plugin!(assert_test_exists);

pub(crate) fn embedded(name: &str) -> &'static [u8] {
    sluice::stdlib::get(name)
        .unwrap_or_else(|| panic!("{name} is embedded"))
        .bytes
}

pub(crate) fn floats(values: &[Option<f64>]) -> ColumnValues {
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
