//! L2-regularised logistic regression, binary (sigmoid) and multinomial
//! (softmax), over dense or CSR sparse features with one solver.
//!
//! The objective is scikit-learn's `LogisticRegression(solver="lbfgs")`
//! one, scaled the same way so that `tol` means the same thing:
//!
//! `f(w, b) = (Σᵢ sᵢ·loss(xᵢ·w + b, yᵢ) + ‖w‖² / (2C)) / Σᵢ sᵢ`
//!
//! with sample weights `sᵢ` (1, or the `balanced` class weights), the
//! intercept unpenalised, one coefficient vector for two classes and one
//! per class (full softmax) for more. Minimised by [`super::lbfgs`] from
//! zero, stopping at `max |∇f| <= tol` as scipy does.
//!
//! Why not linfa-logistic: it needs a dense `Array2<f64>`, which for the
//! hashed text features (3,600 rows × 2^16) is 1.9 GB, so sparse input
//! needs its own solver anyway; with one solver both layouts give the same
//! model (tested). (linfa-logistic itself was not benchmarked.) Speed
//! comes from one fused sweep per evaluation (scores, loss and gradient,
//! no temporaries), a dense two-class loop without per-row dispatch (AVX2
//! where available, same arithmetic), one `exp` per row and a `ln` per 64
//! rows (see `LogProducts`). From [`ROWS_PER_LANE`] rows the pass is cut
//! into [`LANES`] fixed row lanes, run on threads for passes of at least
//! [`PARALLEL_WORK`]: the lanes, not the core count, fix the summation
//! order, so the model bytes are the same on any machine. `crates/cli/benches/train.rs` measures it against
//! scikit-learn.

use serde::{Deserialize, Serialize};

use super::super::data::check_fit_input;
use super::super::{
    Features, Learner, Model, Predict, Predictions, SparseMatrix, Target, Task, TrainError,
};
use super::lbfgs::{self, Settings};
use super::{DenseRows, check_predict_input, class_codes};

/// The configured learner (see [`super::logistic_regression`]).
#[derive(Debug, Clone)]
pub struct LogisticRegression {
    pub c: f64,
    pub max_iter: usize,
    pub tol: f64,
    pub fit_intercept: bool,
    pub balanced: bool,
}

/// A fitted logistic regression.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogisticModel {
    classes: Vec<i64>,
    n_features: usize,
    /// 1 for two classes (the logit of `classes[1]`), else one per class.
    outputs: usize,
    /// Feature-major: the weight of feature `j` for output `k` is at
    /// `j * outputs + k`, so a sparse entry touches one contiguous run.
    coef: Vec<f64>,
    intercept: Vec<f64>,
    iterations: usize,
    converged: bool,
}

impl LogisticModel {
    pub fn classes(&self) -> &[i64] {
        &self.classes
    }
    /// L-BFGS iterations the fit took.
    pub fn iterations(&self) -> usize {
        self.iterations
    }
    /// False when `max_iter` was reached first.
    pub fn converged(&self) -> bool {
        self.converged
    }
    /// The weight of `feature` for output `output` (see `outputs`).
    pub fn coefficient(&self, feature: usize, output: usize) -> f64 {
        self.coef[feature * self.outputs + output]
    }
    pub fn intercept(&self) -> &[f64] {
        &self.intercept
    }
}

/// Row access shared by the dense and sparse paths.
enum Design<'a> {
    Dense(DenseRows<'a>),
    Sparse(&'a SparseMatrix),
}

impl Design<'_> {
    fn rows(&self) -> usize {
        match self {
            Design::Dense(d) => d.rows(),
            Design::Sparse(s) => s.rows(),
        }
    }

    /// `scores[k] = intercept[k] + Σⱼ xᵢⱼ·coef[j·K + k]`.
    #[inline]
    fn scores(&self, i: usize, coef: &[f64], intercept: &[f64], scores: &mut [f64]) {
        let outputs = scores.len();
        scores.copy_from_slice(intercept);
        match self {
            Design::Dense(d) => {
                let row = d.row(i);
                if outputs == 1 {
                    scores[0] += dot4(row, &coef[..row.len()]);
                } else {
                    for (j, &v) in row.iter().enumerate() {
                        let w = &coef[j * outputs..(j + 1) * outputs];
                        for (s, w) in scores.iter_mut().zip(w) {
                            *s += v * w;
                        }
                    }
                }
            }
            Design::Sparse(m) => {
                let (idx, val) = m.row(i);
                for (&j, &v) in idx.iter().zip(val) {
                    let v = f64::from(v);
                    let j = j as usize;
                    let w = &coef[j * outputs..(j + 1) * outputs];
                    for (s, w) in scores.iter_mut().zip(w) {
                        *s += v * w;
                    }
                }
            }
        }
    }

    /// `grad[j·K + k] += xᵢⱼ·residual[k]`.
    #[inline]
    fn add_gradient(&self, i: usize, residual: &[f64], grad: &mut [f64]) {
        let outputs = residual.len();
        match self {
            Design::Dense(d) => {
                let row = d.row(i);
                if outputs == 1 {
                    let r = residual[0];
                    for (g, v) in grad[..row.len()].iter_mut().zip(row) {
                        *g += r * v;
                    }
                } else {
                    for (j, &v) in row.iter().enumerate() {
                        let g = &mut grad[j * outputs..(j + 1) * outputs];
                        for (g, r) in g.iter_mut().zip(residual) {
                            *g += v * r;
                        }
                    }
                }
            }
            Design::Sparse(m) => {
                let (idx, val) = m.row(i);
                for (&j, &v) in idx.iter().zip(val) {
                    let v = f64::from(v);
                    let j = j as usize;
                    let g = &mut grad[j * outputs..(j + 1) * outputs];
                    for (g, r) in g.iter_mut().zip(residual) {
                        *g += v * r;
                    }
                }
            }
        }
    }
}

#[inline]
fn dot4(a: &[f64], b: &[f64]) -> f64 {
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

/// `(e^(−|z|), sigmoid(z))` from one `exp`, without overflow; then
/// `ln(1 + eᶻ) = max(z, 0) + ln(1 + e^(−|z|))`.
#[inline]
fn exp_and_sigmoid(z: f64) -> (f64, f64) {
    let e = (-z.abs()).exp();
    let sigmoid = if z >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    (e, sigmoid)
}

/// `Σᵢ weight(classᵢ)·ln(1 + eᵢ)` for two classes, as per-class running
/// products with one `ln` per [`LogProducts::ROWS`] rows instead of one
/// `ln_1p` per row: the transcendental calls, not the dot products, bound
/// the dense pass. Each factor is in (1, 2], so a product of 64 stays far
/// from overflow; the absolute error stays near 1e-16 per row, well below
/// the `64·ε` relative decrease the stopping rule looks at.
struct LogProducts {
    product: [f64; 2],
    sum: [f64; 2],
    rows: usize,
}

impl LogProducts {
    const ROWS: usize = 64;

    fn new() -> LogProducts {
        LogProducts {
            product: [1.0; 2],
            sum: [0.0; 2],
            rows: 0,
        }
    }

    #[inline]
    fn push(&mut self, class: usize, e: f64) {
        self.product[class] *= 1.0 + e;
        self.rows += 1;
        if self.rows == Self::ROWS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (sum, product) in self.sum.iter_mut().zip(&mut self.product) {
            *sum += product.ln();
            *product = 1.0;
        }
        self.rows = 0;
    }

    fn total(mut self, weights: &[f64]) -> f64 {
        self.flush();
        weights[0] * self.sum[0] + weights[1] * self.sum[1]
    }
}

#[inline]
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Turns scores into probabilities in place; returns `ln Σ exp(scores)`.
#[inline]
fn softmax(scores: &mut [f64]) -> f64 {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
    max + sum.ln()
}

impl Pass<'_> {
    /// The common dense two-class case without per-row dispatch; with AVX2
    /// where the CPU has it. The same arithmetic in the same order either
    /// way (no FMA contraction), so the model bytes do not depend on it.
    fn dense_binary(
        &self,
        dense: &DenseRows,
        rows: std::ops::Range<usize>,
        coef: &[f64],
        intercept: f64,
        grad: &mut [f64],
    ) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.dense_binary_avx2(dense, rows, coef, intercept, grad) };
        }
        self.dense_binary_body(dense, rows, coef, intercept, grad)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn dense_binary_avx2(
        &self,
        dense: &DenseRows,
        rows: std::ops::Range<usize>,
        coef: &[f64],
        intercept: f64,
        grad: &mut [f64],
    ) -> f64 {
        self.dense_binary_body(dense, rows, coef, intercept, grad)
    }

    #[inline(always)]
    fn dense_binary_body(
        &self,
        dense: &DenseRows,
        rows: std::ops::Range<usize>,
        coef: &[f64],
        intercept: f64,
        grad: &mut [f64],
    ) -> f64 {
        let (grad_coef, grad_intercept) = grad.split_at_mut(self.n_coef);
        grad_coef.iter_mut().for_each(|g| *g = 0.0);
        let (mut loss, mut intercept_sum) = (0.0, 0.0);
        let mut log_products = LogProducts::new();
        for i in rows {
            let row = dense.row(i);
            let code = self.codes[i];
            let weight = self.weights[code];
            let z = intercept + dot4(row, coef);
            let target = if code == 1 { 1.0 } else { 0.0 };
            let (e, probability) = exp_and_sigmoid(z);
            log_products.push(code, e);
            loss += weight * (z.max(0.0) - target * z);
            let residual = weight * (probability - target);
            for (g, v) in grad_coef.iter_mut().zip(row) {
                *g += residual * v;
            }
            intercept_sum += residual;
        }
        if self.fit_intercept {
            grad_intercept[0] = intercept_sum;
        }
        loss + log_products.total(self.weights)
    }
}

/// Rows at or above which the loss pass is split into [`LANES`] parts.
pub const ROWS_PER_LANE: usize = 4096;
/// Multiply-adds per pass (values × outputs) from which lanes run on
/// threads. Below it a pass takes a few milliseconds and, on a busy
/// machine, waking threads every evaluation costs more than it saves
/// (measured: 100k × 20 took twice as long on two threads under load).
pub const PARALLEL_WORK: usize = 8_000_000;

/// Row lanes of a large loss pass (each may run on its own thread).
pub const LANES: usize = 4;

/// A lane's loss and gradient.
type LanePartial = (f64, Vec<f64>);

/// One sweep of the loss and gradient over some rows (a lane).
struct Pass<'a> {
    design: &'a Design<'a>,
    codes: &'a [usize],
    weights: &'a [f64],
    outputs: usize,
    n_coef: usize,
    fit_intercept: bool,
}

impl Pass<'_> {
    /// The weighted loss of `rows`; their gradient overwrites `grad`.
    fn run(
        &self,
        rows: std::ops::Range<usize>,
        coef: &[f64],
        intercept: &[f64],
        grad: &mut [f64],
    ) -> f64 {
        if let (Design::Dense(dense), 1) = (self.design, self.outputs) {
            return self.dense_binary(dense, rows, coef, intercept[0], grad);
        }
        let outputs = self.outputs;
        let mut scores = vec![0.0; outputs];
        let mut residual = vec![0.0; outputs];
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        let mut log_products = LogProducts::new();
        for i in rows {
            let code = self.codes[i];
            let weight = self.weights[code];
            self.design.scores(i, coef, intercept, &mut scores);
            if outputs == 1 {
                let z = scores[0];
                let target = if code == 1 { 1.0 } else { 0.0 };
                let (e, probability) = exp_and_sigmoid(z);
                log_products.push(code, e);
                loss += weight * (z.max(0.0) - target * z);
                residual[0] = weight * (probability - target);
            } else {
                let true_score = scores[code];
                let log_norm = softmax(&mut scores);
                loss += weight * (log_norm - true_score);
                for (k, (r, p)) in residual.iter_mut().zip(&scores).enumerate() {
                    *r = weight * (p - if k == code { 1.0 } else { 0.0 });
                }
            }
            self.design.add_gradient(i, &residual, grad);
            if self.fit_intercept {
                for (g, r) in grad[self.n_coef..].iter_mut().zip(&residual) {
                    *g += r;
                }
            }
        }
        loss + log_products.total(self.weights)
    }
}

/// The columns of `m` that hold an entry, renumbered from 0, when they
/// are under three quarters of its dimension (hashed text: 2^18 columns,
/// a fraction of them seen in training); `None` when compacting would
/// not pay.
fn compact_columns(m: &SparseMatrix) -> Option<(SparseMatrix, Vec<u32>)> {
    let mut new_index = vec![u32::MAX; m.dim];
    let mut used = Vec::new();
    for &j in &m.indices {
        let slot = &mut new_index[j as usize];
        if *slot == u32::MAX {
            *slot = 0;
            used.push(j);
        }
    }
    if used.len() * 4 >= m.dim * 3 {
        return None;
    }
    used.sort_unstable();
    for (new, &old) in used.iter().enumerate() {
        new_index[old as usize] = new as u32;
    }
    let compact = SparseMatrix {
        dim: used.len(),
        row_offsets: m.row_offsets.clone(),
        indices: m.indices.iter().map(|&j| new_index[j as usize]).collect(),
        values: m.values.clone(),
    };
    Some((compact, used))
}

impl LogisticRegression {
    /// Fits on the used columns only and puts the weights back in place.
    /// The same objective: a column without entries has no data gradient,
    /// so under the L2 penalty its weight starts and stays 0; what is saved
    /// is L-BFGS's vector work over the unused dimensions.
    fn fit_compacted(
        &self,
        compact: SparseMatrix,
        used: &[u32],
        dim: usize,
        y: Option<&Target>,
    ) -> Result<Model, TrainError> {
        let Model::Logistic(mut model) = self.fit(&Features::Sparse(compact), y)? else {
            unreachable!("logistic regression fits logistic models")
        };
        let outputs = model.outputs;
        let mut coef = vec![0.0; dim * outputs];
        for (new, &old) in used.iter().enumerate() {
            let old = old as usize;
            coef[old * outputs..(old + 1) * outputs]
                .copy_from_slice(&model.coef[new * outputs..(new + 1) * outputs]);
        }
        model.coef = coef;
        model.n_features = dim;
        Ok(Model::Logistic(model))
    }
}

impl Learner for LogisticRegression {
    fn algorithm(&self) -> &'static str {
        "logistic-regression"
    }

    fn task(&self) -> Task {
        Task::Classification
    }

    fn fit(&self, x: &Features, y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, y)?;
        if let Features::Sparse(m) = x
            && let Some((compact, used)) = compact_columns(m)
        {
            return self.fit_compacted(compact, &used, m.dim, y);
        }
        let (classes, codes) = class_codes(y, "logistic regression")?;
        let n_classes = classes.len();
        let outputs = if n_classes == 2 { 1 } else { n_classes };
        let n_features = x.cols();

        let weights = if self.balanced {
            let mut counts = vec![0usize; n_classes];
            codes.iter().for_each(|&c| counts[c] += 1);
            let n = codes.len() as f64;
            counts
                .iter()
                .map(|&c| n / (n_classes as f64 * c as f64))
                .collect()
        } else {
            vec![1.0; n_classes]
        };
        let weight_sum: f64 = codes.iter().map(|&c| weights[c]).sum();

        let design = match x {
            Features::Dense(m) => Design::Dense(DenseRows::new(m)),
            Features::Sparse(m) => Design::Sparse(m),
        };

        let n_coef = n_features * outputs;
        let n_params = n_coef + if self.fit_intercept { outputs } else { 0 };
        let zero_intercept = vec![0.0; outputs];
        let penalty = 1.0 / (2.0 * self.c);
        let pass = Pass {
            design: &design,
            codes: &codes,
            weights: &weights,
            outputs,
            n_coef,
            fit_intercept: self.fit_intercept,
        };
        // Fixed lanes (not the core count) decide the summation order, so
        // the model is the same on any machine; cores only run lanes.
        let lanes = if codes.len() >= ROWS_PER_LANE {
            LANES
        } else {
            1
        };
        let work = outputs
            * match x {
                Features::Dense(m) => m.len(),
                Features::Sparse(m) => m.values.len(),
            };
        let workers = if work >= PARALLEL_WORK {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(lanes)
        } else {
            1
        };
        let mut partials: Vec<LanePartial> =
            (0..lanes).map(|_| (0.0, vec![0.0; n_params])).collect();

        let objective = |params: &[f64], grad: &mut [f64]| -> f64 {
            let (coef, intercept) = params.split_at(n_coef);
            let intercept = if self.fit_intercept {
                intercept
            } else {
                &zero_intercept[..]
            };
            let rows = codes.len();
            let lane_rows = |lane: usize| lane * rows / lanes..(lane + 1) * rows / lanes;
            if workers == 1 {
                for (lane, (loss, part)) in partials.iter_mut().enumerate() {
                    *loss = pass.run(lane_rows(lane), coef, intercept, part);
                }
            } else {
                std::thread::scope(|scope| {
                    let mut by_worker: Vec<Vec<(usize, &mut LanePartial)>> =
                        (0..workers).map(|_| Vec::new()).collect();
                    for (lane, partial) in partials.iter_mut().enumerate() {
                        by_worker[lane % workers].push((lane, partial));
                    }
                    let pass = &pass;
                    for work in by_worker {
                        scope.spawn(move || {
                            for (lane, (loss, part)) in work {
                                *loss = pass.run(lane_rows(lane), coef, intercept, part);
                            }
                        });
                    }
                });
            }
            grad.copy_from_slice(&partials[0].1);
            let mut loss = partials[0].0;
            for (lane_loss, part) in &partials[1..] {
                loss += lane_loss;
                grad.iter_mut().zip(part).for_each(|(g, p)| *g += p);
            }
            let mut norm = 0.0;
            for (g, w) in grad[..n_coef].iter_mut().zip(coef) {
                norm += w * w;
                *g += 2.0 * penalty * w;
            }
            loss += penalty * norm;
            grad.iter_mut().for_each(|g| *g /= weight_sum);
            loss / weight_sum
        };

        let minimum = lbfgs::minimise(
            objective,
            vec![0.0; n_params],
            &Settings {
                max_iter: self.max_iter,
                gtol: self.tol,
                ftol: 64.0 * f64::EPSILON,
                memory: 10,
            },
        );
        if !minimum.value.is_finite() {
            return Err(TrainError::Fit("the logistic loss diverged".into()));
        }
        if !minimum.converged {
            tracing::warn!(
                iterations = minimum.iterations,
                "logistic regression did not converge within max_iter; raise max_iter or scale the features"
            );
        }
        tracing::debug!(
            iterations = minimum.iterations,
            loss = minimum.value,
            "logistic regression fitted"
        );
        let mut point = minimum.point;
        let intercept = if self.fit_intercept {
            point.split_off(n_coef)
        } else {
            vec![0.0; outputs]
        };
        Ok(Model::Logistic(LogisticModel {
            classes,
            n_features,
            outputs,
            coef: point,
            intercept,
            iterations: minimum.iterations,
            converged: minimum.converged,
        }))
    }
}

impl Predict for LogisticModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        check_predict_input(x, self.n_features)?;
        let design = match x {
            Features::Dense(m) => Design::Dense(DenseRows::new(m)),
            Features::Sparse(m) => Design::Sparse(m),
        };
        let n_classes = self.classes.len();
        let rows = design.rows();
        let mut proba = ndarray::Array2::<f64>::zeros((rows, n_classes));
        let mut predicted = Vec::with_capacity(rows);
        let mut scores = vec![0.0; self.outputs];
        for (i, mut out) in proba.outer_iter_mut().enumerate() {
            design.scores(i, &self.coef, &self.intercept, &mut scores);
            let best = if self.outputs == 1 {
                let p = sigmoid(scores[0]);
                out[0] = 1.0 - p;
                out[1] = p;
                usize::from(scores[0] > 0.0)
            } else {
                softmax(&mut scores);
                let mut best = 0;
                for (k, &p) in scores.iter().enumerate() {
                    out[k] = p;
                    if p > scores[best] {
                        best = k;
                    }
                }
                best
            };
            predicted.push(self.classes[best]);
        }
        Ok(Predictions::Classes {
            classes: self.classes.clone(),
            predicted,
            proba: Some(proba),
        })
    }
}
