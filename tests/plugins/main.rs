//! The first-party plugins (plugins/), run through the real host under the
//! least grant each needs: one module per plugin, named after it.
//! `foreach_stdlib_plugin!` fails the build when a plugin has no module.

mod cast;
mod classification_metrics;
mod clean_text;
mod clip_outliers;
mod group_metrics;
mod hash_features;
mod impute;
mod lexicon_detector;
mod metric_fixtures;
mod one_hot;
mod pii_detector;
mod regression_metrics;
mod spam_detector;
mod standard_scaler;
mod word_count;

use sluice_core::ColumnValues;
use sluice_runtime::{Runtime, RuntimeConfig};

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
sluice_stdlib::foreach_stdlib_plugin!(assert_test_exists);

pub(crate) fn embedded(name: &str) -> &'static [u8] {
    sluice_stdlib::get(name)
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
    let policy = sluice_runtime::policy::Policy::deny_all();
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

/// Least capability: every column a first-party plugin declares it reads
/// must influence its output. For each plugin (params chosen to exercise
/// it), each required read column is perturbed in turn; if the output does
/// not change, the plugin asks for a column it never touches. For an
/// evaluator (it writes no columns) the output compared includes the
/// metrics its `finish` returns.
#[test]
fn first_party_plugins_declare_only_columns_they_use() {
    use sluice_core::contract::ParamValue;
    use sluice_core::{Chunk, ColumnType};
    use sluice_runtime::policy::Policy;

    let texts_a = [
        "FREE cash now!!! call 0800 123 4567",
        "hello @Bob see www.example.com",
        "you are a fucking idiot",
        "hola amigo, que tal",
        "mail a.b@example.org",
        "2024-01-05",
        "true",
        "42",
    ];
    let texts_b = [
        "ok",
        "see you later",
        "lovely day",
        "CLAIM YOUR PRIZE",
        "adios",
        "1999-12-31",
        "no",
        "7",
    ];
    let floats_a = [
        Some(1.0),
        Some(2.0),
        None,
        Some(4.0),
        Some(100.0),
        Some(-3.0),
        Some(0.5),
        Some(2.5),
    ];
    let floats_b = [
        Some(9.0),
        None,
        Some(7.0),
        Some(-4.0),
        Some(1.0),
        Some(30.0),
        Some(5.5),
        Some(0.0),
    ];
    // evaluators refuse missing values (an error names the row), so they
    // get complete float columns
    let complete_a = [1.0, 2.0, 3.5, 4.0, 100.0, -3.0, 0.5, 2.5].map(Some);
    let complete_b = [9.0, 1.0, 7.0, -4.0, 1.0, 30.0, 5.5, 0.0].map(Some);
    // class labels: a binary task whose perturbation changes every metric
    let ints_a = [0i64, 1, 1, 0, 1, 0, 0, 1];
    let ints_b = [1i64, 1, 0, 0, 1, 1, 0, 0];
    let sample = |ty: ColumnType, alternative: bool, evaluator: bool| -> ColumnValues {
        match ty {
            ColumnType::Text => {
                let rows = if alternative { texts_b } else { texts_a };
                sluice_tests::text_chunk("x", &rows)
                    .columns
                    .remove(0)
                    .values
            }
            ColumnType::Float64 if evaluator => floats(if alternative {
                &complete_b
            } else {
                &complete_a
            }),
            ColumnType::Float64 => floats(if alternative { &floats_b } else { &floats_a }),
            ColumnType::Int64 => ColumnValues::Int64 {
                values: (if alternative { ints_b } else { ints_a }).to_vec(),
                valid: vec![],
            },
            other => panic!("no sample data for {other} columns"),
        }
    };
    let text = |v: &str| ParamValue::Text(v.into());
    let list = |v: &[&str]| ParamValue::TextList(v.iter().map(|s| s.to_string()).collect());
    let cases: Vec<(&str, Vec<(String, ParamValue)>)> = vec![
        (
            "cast",
            vec![
                ("column".into(), text("text")),
                ("to_date".into(), list(&["day"])),
            ],
        ),
        ("classification-metrics", vec![]),
        ("clean-text", vec![]),
        ("clip-outliers", vec![("columns".into(), list(&["a", "b"]))]),
        ("group-metrics", vec![]),
        ("hash-features", vec![("column".into(), text("text"))]),
        ("impute", vec![("columns".into(), list(&["a", "b"]))]),
        ("lexicon-detector", vec![]),
        ("one-hot", vec![("column".into(), text("text"))]),
        ("pii-detector", vec![]),
        ("regression-metrics", vec![]),
        ("spam-detector", vec![]),
        (
            "standard-scaler",
            vec![("columns".into(), list(&["a", "b"]))],
        ),
        ("word-count", vec![]),
    ];
    let covered: Vec<&str> = cases.iter().map(|(n, _)| *n).collect();
    for plugin in sluice_stdlib::PLUGINS {
        assert!(
            covered.contains(&plugin.name),
            "add a least-capability case for `{}`",
            plugin.name
        );
    }

    let runtime = sluice_tests::runtime();
    for (name, given) in cases {
        let probe = runtime
            .load(embedded(name), Some(name), &Policy::deny_all())
            .unwrap();
        let params = probe.info().resolve_params(&given).unwrap();
        let reads = sluice_core::contract::StepInfo::resolve_columns(&probe.info().reads, &params);
        let writes =
            sluice_core::contract::StepInfo::resolve_columns(&probe.info().writes, &params);
        let quote = |cols: &[(String, sluice_core::contract::ColumnSpec)]| {
            cols.iter()
                .map(|(n, _)| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let policy = format!(
            "[plugin.{name}]\nread = [{}]\nwrite = [{}]\n",
            quote(&reads),
            quote(&writes)
        );
        let plugin = sluice_tests::load_stdlib_on(&runtime, name, &policy);
        let (params, effective) = plugin.effective_grant(&given).unwrap();
        // an evaluator writes no columns: what must change is its metrics
        let evaluator = plugin.info().kind == sluice_core::contract::StepKind::Evaluator;
        let build = |perturbed: Option<&str>| -> Chunk {
            let mut chunk = Chunk::new(8);
            for (column, spec) in &reads {
                if spec.optional {
                    continue;
                }
                chunk.set(
                    column,
                    sample(spec.ty, perturbed == Some(column.as_str()), evaluator),
                );
            }
            chunk
        };
        let run = |input: Chunk| -> (Chunk, Vec<sluice_core::contract::Metric>) {
            let state = if plugin.info().fits {
                let mut fit = plugin.session(&params, &effective, None).unwrap();
                fit.fit(input.clone()).unwrap();
                Some(fit.finish_fit().unwrap())
            } else {
                None
            };
            let mut session = plugin
                .session(&params, &effective, state.as_deref())
                .unwrap();
            let output = session
                .process(input)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let metrics = if evaluator {
                let metrics = session.finish().unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(
                    !metrics.is_empty(),
                    "evaluator `{name}` returned no metrics"
                );
                metrics
            } else {
                Vec::new()
            };
            (output, metrics)
        };
        let baseline = run(build(None));
        for (column, spec) in &reads {
            if spec.optional {
                continue;
            }
            let changed = run(build(Some(column)));
            assert_ne!(
                changed, baseline,
                "`{name}` declares it reads `{column}` but its output does not depend on it"
            );
        }
    }
}
