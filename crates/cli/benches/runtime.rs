//! Session start-up benchmarks (issue #12), every call timed on its own so
//! that the tables give a per-call median and p99, variants interleaved
//! round by round (see `common`):
//! - `instantiate`: a fresh `Store` + WASI context + pooled instance from
//!   the plugin's `InstancePre` (no guest call), alone, with two threads
//!   instantiating at once, and with 32 instances of two plugins live so
//!   that the pool cycles through many slots; teardown (freeing the slot)
//!   timed apart; baseline: spawning `/bin/true`;
//! - `pool`: the same under each of wasmtime's pool recycling knobs
//!   (`sluice_runtime::PoolTuning`), plus a whole small session cycle;
//! - `open`: a fresh session including the plugin's own `open`, for every
//!   first-party plugin (default params; required ones filled in).
//!
//! Run: `cargo bench -p sluice --bench runtime [-- GROUP]`

mod common;

use std::path::Path;
use std::time::Instant;

use common::{Results, interleave, selected};
use sluice_core::contract::{ParamType, ParamValue};
use sluice_runtime::policy::Policy;
use sluice_runtime::{Plugin, PoolTuning, Runtime, RuntimeConfig};

/// Calls per variant per round, and rounds.
const CALLS: usize = 1000;
const ROUNDS: usize = 20;

/// Every column readable and writable: these benches time start-up, not
/// grants.
fn open_policy() -> Policy {
    let mut text = String::new();
    for plugin in sluice_stdlib::PLUGINS {
        text.push_str(&format!(
            "[plugin.{}]\nread = [\"*\"]\nwrite = [\"*\"]\n",
            plugin.name
        ));
    }
    Policy::parse(&text, Path::new("bench-policy.toml"), Path::new(".")).unwrap()
}

fn load(runtime: &Runtime, name: &str) -> Plugin {
    runtime
        .load(
            sluice_stdlib::get(name).unwrap().bytes,
            Some(name),
            &open_policy(),
        )
        .unwrap()
}

fn micros(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e6
}

/// One timed instantiate; the slot is freed after the clock stops, and
/// that teardown is timed too.
fn instantiate_once(plugin: &Plugin, inst: &mut Vec<f64>, drop_times: &mut Vec<f64>) {
    let started = Instant::now();
    let instance = plugin.instantiate().unwrap();
    inst.push(micros(started));
    let started = Instant::now();
    drop(instance);
    drop_times.push(micros(started));
}

fn instantiate(results: &mut Results) {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let clean = load(&runtime, "clean-text");
    let count = load(&runtime, "word-count");
    for _ in 0..CALLS {
        instantiate_once(&clean, &mut Vec::new(), &mut Vec::new());
    }
    let (mut alone, mut teardown, mut parallel, mut cycled) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut spawn = Vec::new();
    let mut ring = std::collections::VecDeque::new();
    interleave(ROUNDS, 4, |variant, _| match variant {
        0 => {
            for _ in 0..CALLS {
                instantiate_once(&clean, &mut alone, &mut teardown);
            }
        }
        1 => {
            // two sessions starting at once on the two cores
            let barrier = std::sync::Barrier::new(2);
            let samples: Vec<Vec<f64>> = std::thread::scope(|s| {
                let threads: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            let mut times = Vec::with_capacity(CALLS / 2);
                            barrier.wait();
                            for _ in 0..CALLS / 2 {
                                instantiate_once(&clean, &mut times, &mut Vec::new());
                            }
                            times
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).collect()
            });
            parallel.extend(samples.into_iter().flatten());
        }
        2 => {
            // 32 live instances of two plugins: each new one takes a slot
            // another instance (often of the other plugin) used last
            for i in 0..CALLS {
                let plugin = if i % 2 == 0 { &clean } else { &count };
                let started = Instant::now();
                let instance = plugin.instantiate().unwrap();
                cycled.push(micros(started));
                ring.push_back(instance);
                if ring.len() > 32 {
                    ring.pop_front();
                }
            }
            ring.clear();
        }
        _ => {
            for _ in 0..10 {
                let started = Instant::now();
                std::process::Command::new("/bin/true").status().unwrap();
                spawn.push(micros(started));
            }
        }
    });
    results.dist("instantiate", "alone", "µs", &alone);
    results.dist("instantiate", "two_threads_at_once", "µs", &parallel);
    results.dist("instantiate", "32_live_two_plugins", "µs", &cycled);
    results.dist("instantiate", "teardown_alone", "µs", &teardown);
    results.dist("instantiate", "baseline_spawn_bin_true", "µs", &spawn);
}

/// The pool knobs worth measuring, each changed alone from the default.
fn pool_variants() -> Vec<(&'static str, PoolTuning)> {
    let default = PoolTuning::default();
    vec![
        ("default", default.clone()),
        (
            "pagemap_scan",
            PoolTuning {
                pagemap_scan: true,
                ..default.clone()
            },
        ),
        (
            "keep_resident_0",
            PoolTuning {
                memory_keep_resident: 0,
                table_keep_resident: 0,
                ..default.clone()
            },
        ),
        (
            "keep_resident_1mib",
            PoolTuning {
                memory_keep_resident: 1 << 20,
                ..default.clone()
            },
        ),
        (
            "no_memory_init_cow",
            PoolTuning {
                memory_init_cow: false,
                ..default.clone()
            },
        ),
        (
            "eager_tables",
            PoolTuning {
                table_lazy_init: false,
                ..default.clone()
            },
        ),
    ]
}

fn pool(results: &mut Results) {
    let cache = tempfile::tempdir().unwrap();
    let variants: Vec<_> = pool_variants()
        .into_iter()
        .map(|(name, pool)| {
            let runtime = Runtime::new(RuntimeConfig {
                pool,
                cache_dir: Some(cache.path().to_path_buf()),
                ..RuntimeConfig::default()
            })
            .unwrap();
            let plugin = load(&runtime, "clean-text");
            (name, runtime, plugin)
        })
        .collect();
    let chunk = small_text_chunk();
    let n = variants.len();
    let mut inst = vec![Vec::new(); n];
    let mut teardown = vec![Vec::new(); n];
    let mut cycle = vec![Vec::new(); n];
    for (_, _, plugin) in &variants {
        for _ in 0..CALLS {
            instantiate_once(plugin, &mut Vec::new(), &mut Vec::new());
        }
    }
    interleave(ROUNDS, n, |v, _| {
        let plugin = &variants[v].2;
        for _ in 0..CALLS / 2 {
            instantiate_once(plugin, &mut inst[v], &mut teardown[v]);
        }
        // a whole small session: open, one 64-row chunk, close
        let (params, effective) = plugin.effective_grant(&[]).unwrap();
        for _ in 0..CALLS / 4 {
            let started = Instant::now();
            let mut session = plugin.session(&params, &effective, None).unwrap();
            std::hint::black_box(session.process(chunk.clone()).unwrap());
            drop(session);
            cycle[v].push(micros(started));
        }
    });
    for (v, (name, _, _)) in variants.iter().enumerate() {
        results.dist("pool_instantiate", name, "µs", &inst[v]);
        results.dist("pool_teardown", name, "µs", &teardown[v]);
        results.dist("pool_session_cycle_64_rows", name, "µs", &cycle[v]);
    }
    results.note(
        "pool",
        "memory_protection_keys",
        serde_json::json!({
            "available": wasmtime_mpk_available(),
            "note": "MPK needs the CPU's pku flag",
        }),
    );
}

fn wasmtime_mpk_available() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| c.split_whitespace().any(|f| f == "pku"))
}

fn small_text_chunk() -> sluice_core::Chunk {
    let mut data = String::new();
    let mut offsets = vec![0u32];
    for i in 0..64 {
        data.push_str(&format!("Hello   WORLD @bob number {i} www.example.com"));
        offsets.push(data.len() as u32);
    }
    let mut chunk = sluice_core::Chunk::new(64);
    chunk.set(
        "text",
        sluice_core::ColumnValues::Text {
            data,
            offsets,
            valid: vec![],
        },
    );
    chunk
}

/// Values for the params a plugin requires (no default): a column name
/// for text params, one for lists; `cast` needs one output named.
fn required_params(plugin: &Plugin) -> Vec<(String, ParamValue)> {
    let mut given: Vec<(String, ParamValue)> = Vec::new();
    if plugin.name() == "cast" {
        given.push(("to_float64".into(), ParamValue::TextList(vec!["y".into()])));
    }
    given.extend(
        plugin
            .info()
            .params
            .iter()
            .filter(|p| p.default.is_none())
            .map(|p| {
                let value = match p.ty {
                    ParamType::Text => ParamValue::Text("x".into()),
                    ParamType::TextList => ParamValue::TextList(vec!["x".into()]),
                    ParamType::Float64List => ParamValue::Float64List(vec![0.5]),
                    ParamType::Int64 => ParamValue::Int64(1),
                    ParamType::Float64 => ParamValue::Float64(0.5),
                    ParamType::Boolean => ParamValue::Boolean(false),
                };
                (p.name.clone(), value)
            }),
    );
    given
}

fn open(results: &mut Results) {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let mut plugins = Vec::new();
    for embedded in sluice_stdlib::PLUGINS {
        let plugin = load(&runtime, embedded.name);
        let opened =
            plugin
                .effective_grant(&required_params(&plugin))
                .and_then(|(params, effective)| {
                    plugin.session(&params, &effective, None)?;
                    Ok((params, effective))
                });
        match opened {
            Ok((params, effective)) => plugins.push((plugin, params, effective)),
            Err(e) => results.note(
                "open_session",
                embedded.name,
                serde_json::json!({ "not_run": e.to_string() }),
            ),
        }
    }
    let n = plugins.len();
    let mut sessions = vec![Vec::new(); n];
    let mut instances = vec![Vec::new(); n];
    for (plugin, params, effective) in &plugins {
        for _ in 0..50 {
            drop(plugin.session(params, effective, None).unwrap());
        }
    }
    interleave(ROUNDS, n, |v, _| {
        let (plugin, params, effective) = &plugins[v];
        for _ in 0..100 {
            let started = Instant::now();
            let session = plugin.session(params, effective, None).unwrap();
            sessions[v].push(micros(started));
            drop(session);
            instantiate_once(plugin, &mut instances[v], &mut Vec::new());
        }
    });
    for (v, (plugin, _, _)) in plugins.iter().enumerate() {
        let session = results.dist("open_session", plugin.name(), "µs", &sessions[v]);
        let instance = results.dist("open_instantiate_only", plugin.name(), "µs", &instances[v]);
        results.note(
            "open_guest_open_alone",
            plugin.name(),
            serde_json::json!({ "median_us": session.p50 - instance.p50 }),
        );
    }
}

fn main() {
    let mut results = Results::new("runtime");
    type Bench = fn(&mut Results);
    let all: [(&str, Bench); 3] = [("instantiate", instantiate), ("pool", pool), ("open", open)];
    for (name, bench) in all {
        if selected(name) {
            bench(&mut results);
        }
    }
    results.finish();
}
