//! A deployment judged against production: per side, the latency
//! distribution, fail-safe rate, action shares and score distribution of
//! the requests each answered (or, for a shadow, scored), and the
//! agreement with feedback labels; then the decision `[rollout]` asks for.

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::config::{Action, Rollout};

/// Score bins for the PSI: ten equal bins over 0..=1.
const SCORE_BINS: usize = 10;
const ACTIONS: [Action; 4] = [Action::Allow, Action::Warn, Action::Escalate, Action::Block];

/// What one side answered.
#[derive(Debug, Clone)]
pub struct SideStats {
    pub requests: u64,
    pub fail_safe: u64,
    actions: [u64; 4],
    scores: [u64; SCORE_BINS],
    /// Microseconds, 1 µs .. 60 s at 3 significant figures (bounded memory).
    latency: Histogram<u64>,
}

impl Default for SideStats {
    fn default() -> Self {
        SideStats {
            requests: 0,
            fail_safe: 0,
            actions: [0; 4],
            scores: [0; SCORE_BINS],
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds"),
        }
    }
}

impl SideStats {
    pub fn record(
        &mut self,
        action: Action,
        score: Option<f64>,
        latency: Duration,
        fail_safe: bool,
    ) {
        self.requests += 1;
        if fail_safe {
            self.fail_safe += 1;
        }
        let index = ACTIONS.iter().position(|a| *a == action).unwrap_or(2);
        self.actions[index] += 1;
        if let Some(score) = score.filter(|s| s.is_finite()) {
            let bin = ((score.clamp(0.0, 1.0) * SCORE_BINS as f64) as usize).min(SCORE_BINS - 1);
            self.scores[bin] += 1;
        }
        let micros = (latency.as_micros() as u64).clamp(1, 60_000_000);
        self.latency.saturating_record(micros);
    }

    pub fn p(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn fail_safe_rate(&self) -> f64 {
        rate(self.fail_safe, self.requests)
    }

    fn action_rate(&self, index: usize) -> f64 {
        rate(self.actions[index], self.requests)
    }

    fn figures(&self) -> Value {
        json!({
            "requests": self.requests,
            "p50_ms": self.p(0.5),
            "p99_ms": self.p(0.99),
            "fail_safe_rate": self.fail_safe_rate(),
            "actions": ACTIONS.iter().enumerate()
                .map(|(i, a)| (a.as_str().to_string(), json!(self.action_rate(i))))
                .collect::<serde_json::Map<_, _>>(),
        })
    }
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Population stability index of `actual` against `expected` over the same
/// bins, with empty bins floored at 1e-4 as is usual.
pub fn psi(expected: &[u64], actual: &[u64]) -> f64 {
    let (e_total, a_total) = (expected.iter().sum::<u64>(), actual.iter().sum::<u64>());
    if e_total == 0 || a_total == 0 {
        return 0.0;
    }
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let e = (e as f64 / e_total as f64).max(1e-4);
            let a = (a as f64 / a_total as f64).max(1e-4);
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// Agreement of one side's answers with feedback labels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Agreement {
    pub verdicts: u64,
    pub agreed: u64,
}

impl Agreement {
    pub fn rate(&self) -> f64 {
        rate(self.agreed, self.verdicts)
    }
}

/// Both sides of one deployment.
#[derive(Debug, Default)]
pub struct Comparison {
    pub production: Mutex<SideStats>,
    pub candidate: Mutex<SideStats>,
    /// Shadow mode: how often the shadow's label agreed with the answer
    /// production gave for the same message.
    pub mirrored: Mutex<Agreement>,
}

/// What the comparator concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not enough requests yet, or healthy and not yet due for promotion.
    Wait,
    Rollback {
        reason: String,
    },
    Promote {
        reason: String,
    },
}

impl Comparison {
    fn lock(side: &Mutex<SideStats>) -> SideStats {
        side.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn record_production(
        &self,
        action: Action,
        score: Option<f64>,
        latency: Duration,
        fail_safe: bool,
    ) {
        (self.production.lock().unwrap_or_else(|p| p.into_inner()))
            .record(action, score, latency, fail_safe);
    }

    pub fn record_candidate(
        &self,
        action: Action,
        score: Option<f64>,
        latency: Duration,
        fail_safe: bool,
    ) {
        (self.candidate.lock().unwrap_or_else(|p| p.into_inner()))
            .record(action, score, latency, fail_safe);
    }

    pub fn mirrored(&self, agreed: bool) {
        let mut m = self.mirrored.lock().unwrap_or_else(|p| p.into_inner());
        m.verdicts += 1;
        m.agreed += u64::from(agreed);
    }

    /// The figures behind a decision, with the number of requests behind
    /// each, as the audit chain and `sluice deployments` keep them.
    pub fn figures(&self, agreement: (Agreement, Agreement)) -> Value {
        let (production, candidate) = (Self::lock(&self.production), Self::lock(&self.candidate));
        let mirrored = *self.mirrored.lock().unwrap_or_else(|p| p.into_inner());
        json!({
            "production": production.figures(),
            "candidate": candidate.figures(),
            "score_psi": psi(&production.scores, &candidate.scores),
            "shadow_label_agreement": { "compared": mirrored.verdicts, "agreement": mirrored.rate() },
            "feedback": {
                "production": { "verdicts": agreement.0.verdicts, "agreement": agreement.0.rate() },
                "candidate": { "verdicts": agreement.1.verdicts, "agreement": agreement.1.rate() },
            },
        })
    }

    /// Judges the candidate against production by `policy`; `running` is
    /// how long the deployment has run.
    pub fn judge(
        &self,
        policy: &Rollout,
        agreement: (Agreement, Agreement),
        running: Duration,
    ) -> Verdict {
        let (production, candidate) = (Self::lock(&self.production), Self::lock(&self.candidate));
        if production.requests < policy.min_requests || candidate.requests < policy.min_requests {
            return Verdict::Wait;
        }
        let worse = |reason: String| Verdict::Rollback { reason };
        let (p99, base_p99) = (candidate.p(0.99), production.p(0.99));
        // a floor of 1 ms: sub-millisecond jitter is not a regression
        if p99 > policy.max_p99_ratio * base_p99.max(1.0) {
            return worse(format!(
                "p99 latency {p99:.2} ms is over {:.1}x production's {base_p99:.2} ms ({} vs {} requests)",
                policy.max_p99_ratio, candidate.requests, production.requests
            ));
        }
        let (errors, base_errors) = (candidate.fail_safe_rate(), production.fail_safe_rate());
        if errors > base_errors + policy.max_error_rate_increase {
            return worse(format!(
                "fail-safe rate {:.2} % against production's {:.2} % ({} vs {} requests)",
                errors * 100.0,
                base_errors * 100.0,
                candidate.requests,
                production.requests
            ));
        }
        for (i, action) in ACTIONS.iter().enumerate() {
            let diff = (candidate.action_rate(i) - production.action_rate(i)).abs();
            if diff > policy.max_action_rate_diff {
                return worse(format!(
                    "`{}` share {:.1} % against production's {:.1} %",
                    action.as_str(),
                    candidate.action_rate(i) * 100.0,
                    production.action_rate(i) * 100.0
                ));
            }
        }
        let drift = psi(&production.scores, &candidate.scores);
        if drift > policy.max_score_psi {
            return worse(format!(
                "score distribution PSI {drift:.3} against production is over {}",
                policy.max_score_psi
            ));
        }
        let (base_agreement, agreement) = agreement;
        if agreement.verdicts >= policy.min_feedback
            && base_agreement.verdicts >= policy.min_feedback
            && agreement.rate() < base_agreement.rate() - policy.max_agreement_drop
        {
            return worse(format!(
                "agrees with {:.1} % of {} feedback labels against production's {:.1} % of {}",
                agreement.rate() * 100.0,
                agreement.verdicts,
                base_agreement.rate() * 100.0,
                base_agreement.verdicts
            ));
        }
        let by_count = policy.promote_after_requests > 0
            && candidate.requests >= policy.promote_after_requests;
        let by_time = policy.promote_after_s > 0 && running.as_secs() >= policy.promote_after_s;
        if by_count || by_time {
            return Verdict::Promote {
                reason: format!(
                    "healthy after {} requests in {} s: p99 {p99:.2} ms vs {base_p99:.2} ms, fail-safe {:.2} % vs {:.2} %, score PSI {drift:.3}",
                    candidate.requests,
                    running.as_secs(),
                    errors * 100.0,
                    base_errors * 100.0
                ),
            };
        }
        Verdict::Wait
    }
}

/// Which side user `user` is on for a deployment sending `percent` of users
/// to the candidate: sticky, the same for every request and every server
/// (a hash of the user id, not of the process).
pub fn is_candidate(user: &str, percent: f64) -> bool {
    let digest = sluice_core::Digest::of(user.as_bytes());
    let hex = digest.hex();
    let bucket = u64::from_str_radix(&hex[..8], 16).unwrap_or(0) % 10_000;
    (bucket as f64) < percent * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(n: u64, latency_ms: u64, action: Action, score: f64, fail_every: u64) -> SideStats {
        let mut s = SideStats::default();
        for i in 0..n {
            let fail = fail_every > 0 && i % fail_every == 0;
            s.record(
                action,
                Some(score + (i % 10) as f64 * 0.01),
                Duration::from_millis(latency_ms),
                fail,
            );
        }
        s
    }

    fn comparison(production: SideStats, candidate: SideStats) -> Comparison {
        Comparison {
            production: Mutex::new(production),
            candidate: Mutex::new(candidate),
            mirrored: Mutex::default(),
        }
    }

    const NONE: (Agreement, Agreement) = (
        Agreement {
            verdicts: 0,
            agreed: 0,
        },
        Agreement {
            verdicts: 0,
            agreed: 0,
        },
    );

    #[test]
    fn psi_is_zero_for_equal_and_large_for_shifted_distributions() {
        assert_eq!(psi(&[10, 20, 30], &[1, 2, 3]), 0.0);
        assert!(psi(&[100, 0, 0], &[0, 0, 100]) > 1.0);
        // scikit-style hand check: expected .5/.5, actual .8/.2
        let v = psi(&[50, 50], &[80, 20]);
        let want = (0.8 - 0.5) * (0.8f64 / 0.5).ln() + (0.2 - 0.5) * (0.2f64 / 0.5).ln();
        assert!((v - want).abs() < 1e-12, "{v} vs {want}");
    }

    #[test]
    fn no_decision_on_too_few_requests() {
        let policy = Rollout::default();
        let c = comparison(
            side(10, 1, Action::Allow, 0.1, 0),
            side(10, 90, Action::Block, 0.9, 1),
        );
        assert_eq!(c.judge(&policy, NONE, Duration::ZERO), Verdict::Wait);
    }

    #[test]
    fn a_worse_candidate_is_rolled_back_with_its_reason() {
        let policy = Rollout::default();
        let base = || side(300, 2, Action::Allow, 0.1, 0);
        let slow = comparison(base(), side(300, 9, Action::Allow, 0.1, 0));
        assert!(
            matches!(slow.judge(&policy, NONE, Duration::ZERO), Verdict::Rollback { reason } if reason.contains("p99"))
        );
        let trapping = comparison(base(), side(300, 2, Action::Allow, 0.1, 20));
        assert!(
            matches!(trapping.judge(&policy, NONE, Duration::ZERO), Verdict::Rollback { reason } if reason.contains("fail-safe"))
        );
        let blocking = comparison(base(), side(300, 2, Action::Block, 0.1, 0));
        assert!(
            matches!(blocking.judge(&policy, NONE, Duration::ZERO), Verdict::Rollback { reason } if reason.contains("share"))
        );
        let drifted = comparison(base(), side(300, 2, Action::Allow, 0.35, 0));
        assert!(
            matches!(drifted.judge(&policy, NONE, Duration::ZERO), Verdict::Rollback { reason } if reason.contains("PSI"))
        );
        let wrong = (
            Agreement {
                verdicts: 60,
                agreed: 57,
            },
            Agreement {
                verdicts: 60,
                agreed: 40,
            },
        );
        let disagreeing = comparison(base(), base());
        assert!(
            matches!(disagreeing.judge(&policy, wrong, Duration::ZERO), Verdict::Rollback { reason } if reason.contains("feedback"))
        );
    }

    #[test]
    fn a_healthy_candidate_is_promoted_when_due() {
        let policy = Rollout {
            promote_after_requests: 500,
            ..Rollout::default()
        };
        let c = comparison(
            side(600, 2, Action::Allow, 0.1, 0),
            side(300, 2, Action::Allow, 0.1, 0),
        );
        assert_eq!(c.judge(&policy, NONE, Duration::ZERO), Verdict::Wait);
        let c = comparison(
            side(600, 2, Action::Allow, 0.1, 0),
            side(600, 2, Action::Allow, 0.1, 0),
        );
        assert!(matches!(
            c.judge(&policy, NONE, Duration::ZERO),
            Verdict::Promote { .. }
        ));
        let by_time = Rollout {
            promote_after_requests: 0,
            promote_after_s: 60,
            ..Rollout::default()
        };
        let c = comparison(
            side(300, 2, Action::Allow, 0.1, 0),
            side(300, 2, Action::Allow, 0.1, 0),
        );
        assert_eq!(
            c.judge(&by_time, NONE, Duration::from_secs(59)),
            Verdict::Wait
        );
        assert!(matches!(
            c.judge(&by_time, NONE, Duration::from_secs(60)),
            Verdict::Promote { .. }
        ));
    }

    #[test]
    fn users_stay_on_one_side_and_the_split_matches_the_percent() {
        let on: usize = (0..20_000)
            .filter(|i| is_candidate(&format!("user-{i}"), 5.0))
            .count();
        assert!((800..1200).contains(&on), "{on} of 20000 at 5 %");
        for i in 0..100 {
            let user = format!("user-{i}");
            assert_eq!(is_candidate(&user, 5.0), is_candidate(&user, 5.0));
        }
        assert!(!is_candidate("anyone", 0.0));
        assert!(is_candidate("anyone", 100.0));
    }
}
