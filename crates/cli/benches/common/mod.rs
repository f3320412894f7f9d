//! What the benches share: per-sample timing summarised as a distribution
//! (median, p99, quartiles, extremes — never one timed pass, never a mean
//! of means), variants interleaved round by round, and results written as
//! JSON next to the printed table when `SLUICE_BENCH_OUT` names a folder
//! (`scripts/bench.sh` sets it).

#![allow(dead_code)] // each bench uses its own subset

use std::path::PathBuf;

/// A distribution of samples (nearest-rank percentiles).
#[derive(Debug, Clone, Copy)]
pub struct Dist {
    pub n: usize,
    pub min: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p99: f64,
    pub max: f64,
}

impl Dist {
    pub fn of(samples: &[f64]) -> Dist {
        assert!(!samples.is_empty(), "a distribution needs samples");
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank =
            |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Dist {
            n: sorted.len(),
            min: sorted[0],
            p25: rank(0.25),
            p50: rank(0.50),
            p75: rank(0.75),
            p99: rank(0.99),
            max: sorted[sorted.len() - 1],
        }
    }

    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "n": self.n, "min": self.min, "p25": self.p25, "p50": self.p50,
            "p75": self.p75, "p99": self.p99, "max": self.max,
        })
    }
}

/// Runs `rounds` rounds; each round runs every variant once, starting one
/// further along each round, so that no variant always goes first (warm
/// caches, turbo, a neighbour's build) or last.
pub fn interleave(rounds: usize, variants: usize, mut run: impl FnMut(usize, usize)) {
    for round in 0..rounds {
        for i in 0..variants {
            run((round + i) % variants, round);
        }
    }
}

/// Whether the group `name` was selected on the command line
/// (`cargo bench --bench X -- FILTER`: groups whose name contains FILTER).
pub fn selected(name: &str) -> bool {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    filter.as_deref().is_none_or(|f| name.contains(f))
}

/// The results of one bench binary: printed as they come, written as JSON
/// at the end.
pub struct Results {
    bench: &'static str,
    rows: Vec<serde_json::Value>,
}

impl Results {
    pub fn new(bench: &'static str) -> Self {
        println!("machine: {}", machine());
        Results {
            bench,
            rows: Vec::new(),
        }
    }

    /// Records and prints a distribution of `samples` (in `unit`).
    pub fn dist(&mut self, group: &str, variant: &str, unit: &str, samples: &[f64]) -> Dist {
        let d = Dist::of(samples);
        println!(
            "{group}/{variant}: median {} {unit}, p99 {} (quartiles {}–{}, min {}, max {}, n = {})",
            fmt(d.p50),
            fmt(d.p99),
            fmt(d.p25),
            fmt(d.p75),
            fmt(d.min),
            fmt(d.max),
            d.n
        );
        self.rows.push(serde_json::json!({
            "group": group, "variant": variant, "unit": unit, "dist": d.to_json(),
        }));
        d
    }

    /// Records a figure that is not a distribution, or a baseline that did
    /// not run (`{"not_run": "why"}`).
    pub fn note(&mut self, group: &str, variant: &str, value: serde_json::Value) {
        println!("{group}/{variant}: {value}");
        self.rows.push(serde_json::json!({
            "group": group, "variant": variant, "value": value,
        }));
    }

    /// Writes `$SLUICE_BENCH_OUT/<bench>.json` when the variable is set.
    pub fn finish(self) {
        let Some(dir) = std::env::var_os("SLUICE_BENCH_OUT").map(PathBuf::from) else {
            return;
        };
        std::fs::create_dir_all(&dir).expect("create SLUICE_BENCH_OUT");
        let path = dir.join(format!("{}.json", self.bench));
        let json = serde_json::json!({
            "bench": self.bench,
            "machine": machine(),
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "results": self.rows,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap())
            .expect("write bench results");
        println!("results: {}", path.display());
    }
}

fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// CPU model, cores and kernel, as the tables name the machine.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {} CPUs, Linux {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel.trim()
    )
}
