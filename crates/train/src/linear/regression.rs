//! Least-squares regression: OLS, ridge and elastic net, on dense
//! features.
//!
//! OLS and ridge solve the normal equations of the centred data by
//! Cholesky (the feature counts of tabular data make the d×d system
//! cheap); the intercept is unpenalised, recovered from the means, as
//! scikit-learn does. Elastic net is cyclic coordinate descent with
//! scikit-learn's stopping rule (`cd_fast.enet_coordinate_descent`). These
//! are a few dozen lines each, so they are written here rather than pulling
//! linfa-linear and linfa-elasticnet (and their linear-algebra stack) into
//! the host for the same arithmetic.

use serde::{Deserialize, Serialize};

use super::super::data::check_fit_input;
use super::super::{Features, Learner, Model, Predict, Predictions, Target, Task, TrainError};
use super::{DenseRows, check_predict_input};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Penalty {
    None,
    Ridge {
        alpha: f64,
    },
    ElasticNet {
        alpha: f64,
        l1_ratio: f64,
        max_iter: usize,
        tol: f64,
    },
}

/// The configured learner (see [`super::linear_regression`], [`super::ridge`],
/// [`super::elastic_net`]).
#[derive(Debug, Clone)]
pub struct LinearRegression {
    pub penalty: Penalty,
    pub fit_intercept: bool,
}

/// A fitted linear regression: `y = x·coef + intercept`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearModel {
    penalty: Penalty,
    coef: Vec<f64>,
    intercept: f64,
}

impl LinearModel {
    pub fn coefficients(&self) -> &[f64] {
        &self.coef
    }
    pub fn intercept(&self) -> f64 {
        self.intercept
    }
}

impl Learner for LinearRegression {
    fn algorithm(&self) -> &'static str {
        match self.penalty {
            Penalty::None => "linear-regression",
            Penalty::Ridge { .. } => "ridge",
            Penalty::ElasticNet { .. } => "elastic-net",
        }
    }

    fn task(&self) -> Task {
        Task::Regression
    }

    fn fit(&self, x: &Features, y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, y)?;
        let name = self.algorithm();
        let y = match y {
            Some(Target::Values(v)) => v,
            Some(Target::Classes { .. }) => {
                return Err(TrainError::Data(format!(
                    "{name} needs a real-valued target, not class labels"
                )));
            }
            None => return Err(TrainError::Data(format!("{name} needs a target column"))),
        };
        let Features::Dense(x) = x else {
            return Err(TrainError::Data(format!(
                "{name} takes dense features; sparse input is supported by logistic-regression and multinomial-nb"
            )));
        };
        let rows = DenseRows::new(x);
        let (n, d) = (rows.rows(), x.ncols());

        // Centre (when fitting an intercept) so the intercept drops out.
        let mut x_mean = vec![0.0; d];
        let mut y_mean = 0.0;
        if self.fit_intercept {
            for i in 0..n {
                for (m, v) in x_mean.iter_mut().zip(rows.row(i)) {
                    *m += v;
                }
            }
            x_mean.iter_mut().for_each(|m| *m /= n as f64);
            y_mean = y.iter().sum::<f64>() / n as f64;
        }
        let coef = match self.penalty {
            Penalty::None => solve_normal_equations(&rows, y, &x_mean, y_mean, 0.0, name)?,
            Penalty::Ridge { alpha } => {
                solve_normal_equations(&rows, y, &x_mean, y_mean, alpha, name)?
            }
            Penalty::ElasticNet {
                alpha,
                l1_ratio,
                max_iter,
                tol,
            } => coordinate_descent(&rows, y, &x_mean, y_mean, alpha, l1_ratio, max_iter, tol),
        };
        let intercept = y_mean - coef.iter().zip(&x_mean).map(|(w, m)| w * m).sum::<f64>();
        Ok(Model::Linear(LinearModel {
            penalty: self.penalty,
            coef,
            intercept,
        }))
    }
}

/// Solves `(XcᵀXc + alpha·I) w = Xcᵀyc` by Cholesky.
fn solve_normal_equations(
    rows: &DenseRows,
    y: &[f64],
    x_mean: &[f64],
    y_mean: f64,
    alpha: f64,
    name: &str,
) -> Result<Vec<f64>, TrainError> {
    let d = x_mean.len();
    let mut gram = vec![0.0; d * d];
    let mut rhs = vec![0.0; d];
    let mut centred = vec![0.0; d];
    for (i, &target) in y.iter().enumerate() {
        for ((c, v), m) in centred.iter_mut().zip(rows.row(i)).zip(x_mean) {
            *c = v - m;
        }
        let yc = target - y_mean;
        for a in 0..d {
            let ca = centred[a];
            rhs[a] += ca * yc;
            for b in 0..=a {
                gram[a * d + b] += ca * centred[b];
            }
        }
    }
    for a in 0..d {
        gram[a * d + a] += alpha;
    }
    // In-place Cholesky of the lower triangle: gram = L·Lᵀ.
    for j in 0..d {
        let mut diag = gram[j * d + j];
        for k in 0..j {
            diag -= gram[j * d + k] * gram[j * d + k];
        }
        // Relative to the column's scale, so unit changes don't matter.
        let scale = gram[j * d + j].abs().max(f64::MIN_POSITIVE);
        if diag <= 1e-12 * scale {
            return Err(TrainError::Fit(format!(
                "{name}: feature {j} is constant or a linear combination of earlier features; \
                 drop it or use ridge (alpha > 0)"
            )));
        }
        let diag = diag.sqrt();
        gram[j * d + j] = diag;
        for i in j + 1..d {
            let mut v = gram[i * d + j];
            for k in 0..j {
                v -= gram[i * d + k] * gram[j * d + k];
            }
            gram[i * d + j] = v / diag;
        }
    }
    // Forward then back substitution.
    let mut w = rhs;
    for i in 0..d {
        for k in 0..i {
            w[i] -= gram[i * d + k] * w[k];
        }
        w[i] /= gram[i * d + i];
    }
    for i in (0..d).rev() {
        for k in i + 1..d {
            w[i] -= gram[k * d + i] * w[k];
        }
        w[i] /= gram[i * d + i];
    }
    Ok(w)
}

/// scikit-learn's `enet_coordinate_descent` on the centred data, in its
/// un-normalised form (penalties scaled by `n`).
#[allow(clippy::too_many_arguments)]
fn coordinate_descent(
    rows: &DenseRows,
    y: &[f64],
    x_mean: &[f64],
    y_mean: f64,
    alpha: f64,
    l1_ratio: f64,
    max_iter: usize,
    tol: f64,
) -> Vec<f64> {
    let (n, d) = (y.len(), x_mean.len());
    // Column-major centred copy: each update reads one column.
    let mut columns = vec![0.0; n * d];
    for i in 0..n {
        for (j, (v, m)) in rows.row(i).iter().zip(x_mean).enumerate() {
            columns[j * n + i] = v - m;
        }
    }
    let column = |j: usize| &columns[j * n..(j + 1) * n];
    let yc: Vec<f64> = y.iter().map(|v| v - y_mean).collect();
    let l1_reg = alpha * l1_ratio * n as f64;
    let l2_reg = alpha * (1.0 - l1_ratio) * n as f64;
    let norms: Vec<f64> = (0..d)
        .map(|j| column(j).iter().map(|v| v * v).sum())
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let d_w_tol = tol;
    let tol = tol * dot(&yc, &yc);

    let mut w = vec![0.0; d];
    let mut residual = yc.clone();
    for iteration in 0..max_iter {
        let (mut w_max, mut d_w_max) = (0.0f64, 0.0f64);
        for j in 0..d {
            if norms[j] == 0.0 {
                continue;
            }
            let old = w[j];
            let col = column(j);
            let rho = dot(col, &residual) + old * norms[j];
            let new = rho.signum() * (rho.abs() - l1_reg).max(0.0) / (norms[j] + l2_reg);
            if new != old {
                for (r, x) in residual.iter_mut().zip(col) {
                    *r -= x * (new - old);
                }
            }
            w[j] = new;
            d_w_max = d_w_max.max((new - old).abs());
            w_max = w_max.max(new.abs());
        }
        if w_max == 0.0 || d_w_max / w_max <= d_w_tol || iteration + 1 == max_iter {
            // Duality gap, as scikit-learn computes it.
            let xt_a: Vec<f64> = (0..d)
                .map(|j| dot(column(j), &residual) - l2_reg * w[j])
                .collect();
            let dual_norm = xt_a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let r_norm2 = dot(&residual, &residual);
            let w_norm2 = dot(&w, &w);
            let (constant, mut gap) = if dual_norm > l1_reg {
                let constant = l1_reg / dual_norm;
                (constant, 0.5 * (r_norm2 + r_norm2 * constant * constant))
            } else {
                (1.0, r_norm2)
            };
            let l1_norm: f64 = w.iter().map(|v| v.abs()).sum();
            gap += l1_reg * l1_norm - constant * dot(&residual, &yc)
                + 0.5 * l2_reg * (1.0 + constant * constant) * w_norm2;
            if gap < tol {
                tracing::debug!(iterations = iteration + 1, gap, "elastic net converged");
                return w;
            }
        }
    }
    tracing::warn!(
        max_iter,
        "elastic net did not converge; raise max_iter or tol"
    );
    w
}

impl Predict for LinearModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        check_predict_input(x, self.coef.len())?;
        let values = match x {
            Features::Dense(m) => {
                let rows = DenseRows::new(m);
                (0..rows.rows())
                    .map(|i| {
                        self.intercept
                            + rows
                                .row(i)
                                .iter()
                                .zip(&self.coef)
                                .map(|(v, w)| v * w)
                                .sum::<f64>()
                    })
                    .collect()
            }
            Features::Sparse(m) => (0..m.rows())
                .map(|i| {
                    let (idx, val) = m.row(i);
                    self.intercept
                        + idx
                            .iter()
                            .zip(val)
                            .map(|(&j, &v)| f64::from(v) * self.coef[j as usize])
                            .sum::<f64>()
                })
                .collect(),
        };
        Ok(Predictions::Values(values))
    }
}
