//! `GET /metrics`: Prometheus text format through `prometheus-client`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sluice_store::PredictionLogStats;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub variant: String,
    pub action: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LogLabels {
    pub state: &'static str,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    pub plugin_failures: Family<StepLabels, Counter>,
    pub breaker_state: Family<StepLabels, Gauge>,
    pub candidate_breaker_state: Family<StepLabels, Gauge>,
    pub shadow_dropped: Counter,
    pub fail_safe: Counter,
    pub queue_depth: Gauge,
    pub batch_rows: Histogram,
    pub model_version: Gauge,
    pub reloads: Counter,
    pub log_entries: Family<LogLabels, Gauge>,
    pub log_lag: Gauge<f64, AtomicU64>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sluice");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests by route, variant, action and status",
            requests.clone(),
        );
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "request_latency_seconds",
            "request latency by route, variant, action and status",
            latency.clone(),
        );
        let plugin_failures = Family::<StepLabels, Counter>::default();
        registry.register(
            "plugin_failures",
            "plugin traps and timeouts in the serving path, by step",
            plugin_failures.clone(),
        );
        let breaker_state = Family::<StepLabels, Gauge>::default();
        registry.register(
            "breaker_state",
            "circuit breaker per plugin step: 0 closed, 1 open, 2 half-open",
            breaker_state.clone(),
        );
        let candidate_breaker_state = Family::<StepLabels, Gauge>::default();
        registry.register(
            "candidate_breaker_state",
            "circuit breaker per plugin step of a deployment's candidate: 0 closed, 1 open, 2 half-open",
            candidate_breaker_state.clone(),
        );
        let shadow_dropped = Counter::default();
        registry.register(
            "shadow_dropped",
            "mirrored requests a busy shadow did not score",
            shadow_dropped.clone(),
        );
        let fail_safe = Counter::default();
        registry.register(
            "fail_safe_answers",
            "messages answered with the fail-safe action",
            fail_safe.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "requests admitted and not yet answered",
            queue_depth.clone(),
        );
        let batch_rows = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "micro_batch_rows",
            "rows per micro-batch through the graph",
            batch_rows.clone(),
        );
        let model_version = Gauge::default();
        registry.register(
            "model_version",
            "version of the served model",
            model_version.clone(),
        );
        let reloads = Counter::default();
        registry.register(
            "model_reloads",
            "new versions swapped in without a restart",
            reloads.clone(),
        );
        let log_entries = Family::<LogLabels, Gauge>::default();
        registry.register(
            "prediction_log_entries",
            "prediction log since start: logged, stored, spilled, replayed, pending, lost, store_errors, queued",
            log_entries.clone(),
        );
        let log_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "prediction_log_lag_seconds",
            "how long the prediction log has had answers not yet in the store",
            log_lag.clone(),
        );
        Metrics {
            registry,
            log_entries,
            log_lag,
            requests,
            latency,
            plugin_failures,
            breaker_state,
            candidate_breaker_state,
            shadow_dropped,
            fail_safe,
            queue_depth,
            batch_rows,
            model_version,
            reloads,
        }
    }

    /// Copies the prediction log's counts into the gauges (at scrape time).
    pub fn record_log(&self, stats: &PredictionLogStats) {
        for (state, value) in [
            ("logged", stats.logged),
            ("stored", stats.stored),
            ("spilled", stats.spilled),
            ("replayed", stats.replayed),
            ("pending", stats.pending),
            ("lost", stats.lost),
            ("store_errors", stats.store_errors),
            ("queued", stats.queue_depth),
        ] {
            (self.log_entries.get_or_create(&LogLabels { state }))
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
        self.log_lag.set(stats.lag_ms as f64 / 1000.0);
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // writing to a String cannot fail
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
