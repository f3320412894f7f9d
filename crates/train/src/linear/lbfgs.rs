//! A small L-BFGS minimiser for smooth convex objectives (the logistic
//! losses), written to stop under the same rules as scipy's L-BFGS-B as
//! scikit-learn calls it: `max |g| <= gtol`, a relative objective decrease
//! `<= ftol` (scipy's `64 * eps`), or `max_iter` iterations.
//!
//! The line search backtracks from a unit step until the Armijo condition
//! holds; for convex objectives the L-BFGS direction is nearly always
//! accepted at the first trial, so one objective pass per iteration is the
//! norm (scipy's Moré–Thuente search costs the same when it accepts).

/// Where the minimiser stopped and why.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub point: Vec<f64>,
    pub value: f64,
    pub iterations: usize,
    pub converged: bool,
}

pub struct Settings {
    pub max_iter: usize,
    pub gtol: f64,
    pub ftol: f64,
    /// Correction pairs kept (scipy's `maxcor`, 10).
    pub memory: usize,
}

const MAX_LINE_SEARCH_STEPS: usize = 40;
const ARMIJO: f64 = 1e-4;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators so the compiler can vectorise the reduction.
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimises `objective`, which writes the gradient into its second
/// argument and returns the value. Deterministic: no randomness, a fixed
/// evaluation order.
pub fn minimise(
    mut objective: impl FnMut(&[f64], &mut [f64]) -> f64,
    start: Vec<f64>,
    settings: &Settings,
) -> Minimum {
    let n = start.len();
    let mut x = start;
    let mut g = vec![0.0; n];
    let mut f = objective(&x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(settings.memory);
    let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(settings.memory);
    let mut rho_hist: Vec<f64> = Vec::with_capacity(settings.memory);
    let mut alpha = vec![0.0; settings.memory];
    let mut direction = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];

    if max_abs(&g) <= settings.gtol {
        return Minimum {
            point: x,
            value: f,
            iterations: 0,
            converged: true,
        };
    }
    for iteration in 1..=settings.max_iter {
        // Two-loop recursion: direction = -H g.
        direction.copy_from_slice(&g);
        for i in (0..s_hist.len()).rev() {
            alpha[i] = rho_hist[i] * dot(&s_hist[i], &direction);
            for (d, y) in direction.iter_mut().zip(&y_hist[i]) {
                *d -= alpha[i] * y;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            // No curvature yet: a first step of length 1 in max-norm terms
            // keeps the first trial in the region the objective was scaled for.
            _ => 1.0 / max_abs(&g).max(1.0),
        };
        direction.iter_mut().for_each(|d| *d *= gamma);
        for i in 0..s_hist.len() {
            let beta = rho_hist[i] * dot(&y_hist[i], &direction);
            for (d, s) in direction.iter_mut().zip(&s_hist[i]) {
                *d += s * (alpha[i] - beta);
            }
        }
        direction.iter_mut().for_each(|d| *d = -*d);
        let mut slope = dot(&g, &direction);
        if slope >= 0.0 {
            // Not a descent direction (lost curvature): restart from -g.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            let scale = 1.0 / max_abs(&g).max(1.0);
            for (d, gi) in direction.iter_mut().zip(&g) {
                *d = -gi * scale;
            }
            slope = dot(&g, &direction);
        }

        let mut step = 1.0;
        let mut f_new = f;
        let mut accepted = false;
        for _ in 0..MAX_LINE_SEARCH_STEPS {
            for ((xn, xi), d) in x_new.iter_mut().zip(&x).zip(&direction) {
                *xn = xi + step * d;
            }
            f_new = objective(&x_new, &mut g_new);
            if f_new.is_finite() && f_new <= f + ARMIJO * step * slope {
                accepted = true;
                break;
            }
            // Minimiser of the quadratic through f, slope and f_new,
            // kept within [0.1, 0.5] of the current step.
            let quadratic = -slope * step * step / (2.0 * (f_new - f - slope * step));
            step = if quadratic.is_finite() {
                quadratic.clamp(0.1 * step, 0.5 * step)
            } else {
                0.5 * step
            };
        }
        if !accepted {
            // No decrease found along a descent direction: at the floor of
            // floating-point precision, as scipy's ABNORMAL_TERMINATION.
            return Minimum {
                point: x,
                value: f,
                iterations: iteration,
                converged: false,
            };
        }

        let mut s: Vec<f64>;
        let mut y: Vec<f64>;
        if s_hist.len() == settings.memory {
            // Reuse the oldest pair's buffers.
            s = s_hist.remove(0);
            y = y_hist.remove(0);
            rho_hist.remove(0);
        } else {
            s = vec![0.0; n];
            y = vec![0.0; n];
        }
        for i in 0..n {
            s[i] = x_new[i] - x[i];
            y[i] = g_new[i] - g[i];
        }
        let sy = dot(&s, &y);
        if sy > f64::EPSILON * dot(&y, &y) {
            rho_hist.push(1.0 / sy);
            s_hist.push(s);
            y_hist.push(y);
        }
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut g, &mut g_new);
        let f_old = f;
        f = f_new;

        if max_abs(&g) <= settings.gtol {
            return Minimum {
                point: x,
                value: f,
                iterations: iteration,
                converged: true,
            };
        }
        if (f_old - f) / f_old.abs().max(f.abs()).max(1.0) <= settings.ftol {
            return Minimum {
                point: x,
                value: f,
                iterations: iteration,
                converged: true,
            };
        }
    }
    Minimum {
        point: x,
        value: f,
        iterations: settings.max_iter,
        converged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_an_ill_conditioned_quadratic() {
        let scales = [1.0, 10.0, 100.0, 1000.0];
        let result = minimise(
            |x, g| {
                let mut f = 0.0;
                for i in 0..x.len() {
                    let d = x[i] - i as f64;
                    f += 0.5 * scales[i] * d * d;
                    g[i] = scales[i] * d;
                }
                f
            },
            vec![0.0; 4],
            &Settings {
                max_iter: 200,
                gtol: 1e-8,
                ftol: 0.0,
                memory: 10,
            },
        );
        assert!(result.converged);
        for (i, v) in result.point.iter().enumerate() {
            assert!((v - i as f64).abs() < 1e-6, "{:?}", result.point);
        }
    }
}
