//! One circuit breaker per plugin step: closed until `failures` consecutive
//! failures, then open (fail fast, the fail-safe answer) for `cooldown`,
//! then half-open: one micro-batch probes, and its outcome closes or
//! reopens the breaker.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Closed,
    Open,
    HalfOpen,
}

impl Phase {
    /// The `sluice_breaker_state` gauge's value.
    pub fn gauge(self) -> i64 {
        match self {
            Phase::Closed => 0,
            Phase::Open => 1,
            Phase::HalfOpen => 2,
        }
    }
}

#[derive(Debug, Default)]
struct StepBreaker {
    consecutive: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

/// Whether a micro-batch may run.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Run,
    /// The breaker of this step is open (or its probe is in flight).
    Refuse(String),
}

pub struct Breakers {
    failures: u32,
    cooldown: Duration,
    steps: Mutex<BTreeMap<String, StepBreaker>>,
}

impl Breakers {
    pub fn new(failures: u32, cooldown: Duration) -> Breakers {
        Breakers {
            failures,
            cooldown,
            steps: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StepBreaker>> {
        // a panic while holding it leaves counters only: still usable
        self.steps.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn admit(&self) -> Admit {
        let now = Instant::now();
        let mut steps = self.lock();
        let refusing = steps.iter().find(|(_, step)| {
            step.probing
                || step
                    .opened_at
                    .is_some_and(|opened| now < opened + self.cooldown)
        });
        if let Some((name, _)) = refusing {
            return Admit::Refuse(name.clone());
        }
        // every open breaker has cooled down: this batch is their probe
        // (marked only now, so a refusal never leaves a probe no batch runs)
        for step in steps.values_mut().filter(|s| s.opened_at.is_some()) {
            step.probing = true;
        }
        Admit::Run
    }

    /// The batch admitted failed before any plugin could (not a plugin's
    /// failure): a probe it carried no longer holds the breakers half-open.
    pub fn abandoned(&self) {
        for step in self.lock().values_mut() {
            step.probing = false;
        }
    }

    /// Every step ran: all breakers close.
    pub fn succeeded(&self) {
        for step in self.lock().values_mut() {
            *step = StepBreaker::default();
        }
    }

    /// Step `failed` trapped or ran out of time.
    pub fn failed(&self, failed: &str) {
        let mut steps = self.lock();
        for step in steps.values_mut() {
            step.probing = false;
        }
        let step = steps.entry(failed.to_string()).or_default();
        step.consecutive += 1;
        if step.opened_at.is_some() || step.consecutive >= self.failures {
            if step.opened_at.is_none() {
                tracing::warn!(step = failed, "circuit breaker opened");
            }
            step.opened_at = Some(Instant::now());
        }
    }

    /// Each step that has failed, with its phase now.
    pub fn phases(&self) -> Vec<(String, Phase)> {
        let now = Instant::now();
        (self.lock().iter())
            .map(|(name, step)| {
                let phase = match step.opened_at {
                    None => Phase::Closed,
                    Some(opened) if now < opened + self.cooldown && !step.probing => Phase::Open,
                    Some(_) => Phase::HalfOpen,
                };
                (name.clone(), phase)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_then_probes_half_open() {
        let breakers = Breakers::new(2, Duration::from_millis(50));
        breakers.failed("spam");
        assert_eq!(breakers.admit(), Admit::Run);
        breakers.failed("spam");
        assert_eq!(breakers.admit(), Admit::Refuse("spam".into()));
        assert_eq!(breakers.phases(), vec![("spam".into(), Phase::Open)]);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breakers.phases(), vec![("spam".into(), Phase::HalfOpen)]);
        // one probe at a time
        assert_eq!(breakers.admit(), Admit::Run);
        assert_eq!(breakers.admit(), Admit::Refuse("spam".into()));
        // a failed probe reopens at once
        breakers.failed("spam");
        assert_eq!(breakers.admit(), Admit::Refuse("spam".into()));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breakers.admit(), Admit::Run);
        breakers.succeeded();
        assert_eq!(breakers.phases(), vec![("spam".into(), Phase::Closed)]);
        assert_eq!(breakers.admit(), Admit::Run);
    }

    #[test]
    fn a_cooled_breaker_is_not_left_probing_while_another_refuses() {
        let breakers = Breakers::new(1, Duration::from_millis(50));
        breakers.failed("a");
        std::thread::sleep(Duration::from_millis(60));
        breakers.failed("b");
        // `b` refuses: `a` must not be marked as probed by a batch that never ran
        assert_eq!(breakers.admit(), Admit::Refuse("b".into()));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breakers.admit(), Admit::Run);
        breakers.succeeded();
        assert_eq!(breakers.admit(), Admit::Run);
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_batch_probe() {
        let breakers = Breakers::new(1, Duration::from_millis(10));
        breakers.failed("spam");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(breakers.admit(), Admit::Run);
        assert_eq!(breakers.admit(), Admit::Refuse("spam".into()));
        breakers.abandoned();
        assert_eq!(breakers.admit(), Admit::Run);
    }
}
