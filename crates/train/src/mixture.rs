//! Clustering by linfa-clustering beyond k-means: `gaussian-mixture`
//! (EM, full covariances) and `dbscan` (density-based, finds the number of
//! clusters and marks noise).
//!
//! Both report, like k-means, a cluster per row and the Euclidean distance
//! to what the row was assigned to (the component's mean; DBSCAN's nearest
//! core point). DBSCAN labels only the rows it was fitted on; a new row
//! takes the cluster of its nearest core training row within `eps`, or -1
//! (noise) — the usual way to apply a fitted DBSCAN.

use linfa::DatasetBase;
use linfa::traits::{Fit, Transformer};
use linfa_clustering::{Dbscan, GaussianMixtureModel, GmmInitMethod};
use linfa_nn::distance::L2Dist;
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};
use ndarray::{Array2, Axis};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::data::check_fit_input;
use super::linear::check_predict_input;
use super::{
    Features, HyperParams, Learner, Model, Predict, Predictions, Target, Task, TrainError,
};

fn at_least_one(name: &str, value: i64) -> Result<usize, TrainError> {
    HyperParams::in_range(name, value as f64, 1.0, 1e9)?;
    Ok(value as usize)
}

fn euclidean(a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// `gaussian-mixture` (scikit-learn's `GaussianMixture` names and
/// defaults): `n_components` = 1, `tol` = 1e-3 (lower-bound change),
/// `reg_covar` = 1e-6, `max_iter` = 100, `n_init` = 1 (runs; the best
/// lower bound is kept), `init_params` = `kmeans` | `random`. Seeded.
pub fn gaussian_mixture(p: &HyperParams, seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let learner = GaussianMixture {
        n_components: at_least_one("n_components", p.int("n_components", 1)?)?,
        tol: p.float("tol", 1e-3)?,
        reg_covar: p.float("reg_covar", 1e-6)?,
        max_iter: at_least_one("max_iter", p.int("max_iter", 100)?)?,
        n_init: at_least_one("n_init", p.int("n_init", 1)?)?,
        random_init: p.choice("init_params", &["kmeans", "random"])? == "random",
        seed,
    };
    HyperParams::in_range("tol", learner.tol, f64::MIN_POSITIVE, f64::MAX)?;
    HyperParams::in_range("reg_covar", learner.reg_covar, 0.0, f64::MAX)?;
    p.finish()?;
    Ok(Box::new(learner))
}

#[derive(Debug, Clone)]
pub struct GaussianMixture {
    pub n_components: usize,
    pub tol: f64,
    pub reg_covar: f64,
    pub max_iter: usize,
    pub n_init: usize,
    pub random_init: bool,
    pub seed: u64,
}

/// A fitted mixture: weights, means and covariances (linfa's model).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixtureModel {
    gmm: GaussianMixtureModel<f64>,
}

impl MixtureModel {
    pub fn weights(&self) -> &ndarray::Array1<f64> {
        self.gmm.weights()
    }

    pub fn means(&self) -> &Array2<f64> {
        self.gmm.means()
    }

    /// Each row's probability of belonging to each component.
    pub fn predict_proba(&self, x: &Features) -> Result<Array2<f64>, TrainError> {
        check_predict_input(x, self.gmm.means().ncols())?;
        Ok(self.gmm.predict_proba(x.dense("gaussian-mixture")?))
    }
}

impl Learner for GaussianMixture {
    fn algorithm(&self) -> &'static str {
        "gaussian-mixture"
    }

    fn task(&self) -> Task {
        Task::Clustering
    }

    fn fit(&self, x: &Features, _y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, None)?;
        let x = x.dense("gaussian-mixture")?;
        if self.n_components > x.nrows() {
            return Err(TrainError::Data(format!(
                "gaussian-mixture: n_components = {} but only {} rows",
                self.n_components,
                x.nrows()
            )));
        }
        let gmm = GaussianMixtureModel::params_with_rng(
            self.n_components,
            Xoshiro256Plus::seed_from_u64(self.seed),
        )
        .tolerance(self.tol)
        .reg_covariance(self.reg_covar)
        .max_n_iterations(self.max_iter as u64)
        .n_runs(self.n_init as u64)
        .init_method(if self.random_init {
            GmmInitMethod::Random
        } else {
            GmmInitMethod::KMeans
        })
        .fit(&DatasetBase::from(x.view()))
        .map_err(|e| TrainError::Fit(format!("gaussian-mixture: {e}")))?;
        Ok(Model::GaussianMixture(MixtureModel { gmm }))
    }
}

impl Predict for MixtureModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        let proba = self.predict_proba(x)?;
        let x = x.dense("gaussian-mixture")?;
        let means = self.gmm.means();
        let mut cluster = Vec::with_capacity(x.nrows());
        let mut distance = Vec::with_capacity(x.nrows());
        for (row, p) in x.outer_iter().zip(proba.outer_iter()) {
            let best = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(c, _)| c);
            cluster.push(best as i64);
            distance.push(euclidean(row, means.row(best)));
        }
        Ok(Predictions::Clusters { cluster, distance })
    }
}

/// `dbscan` (scikit-learn's names and defaults): `eps` = 0.5 (neighbourhood
/// radius, Euclidean, > 0), `min_samples` = 5 (rows within `eps`, the row
/// itself included, that make a core row; at least 2, as linfa requires).
/// Deterministic.
pub fn dbscan(p: &HyperParams, _seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let min_samples = p.int("min_samples", 5)?;
    HyperParams::in_range("min_samples", min_samples as f64, 2.0, 1e9)?;
    let learner = DbscanLearner {
        eps: p.float("eps", 0.5)?,
        min_samples: min_samples as usize,
    };
    HyperParams::in_range("eps", learner.eps, f64::MIN_POSITIVE, f64::MAX)?;
    p.finish()?;
    Ok(Box::new(learner))
}

#[derive(Debug, Clone)]
pub struct DbscanLearner {
    pub eps: f64,
    pub min_samples: usize,
}

/// The core training rows and their clusters: what assigns new rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbscanModel {
    eps: f64,
    n_features: usize,
    n_clusters: usize,
    core: Array2<f64>,
    core_cluster: Vec<i64>,
}

impl DbscanModel {
    pub fn n_clusters(&self) -> usize {
        self.n_clusters
    }

    pub fn core_rows(&self) -> usize {
        self.core.nrows()
    }
}

impl Learner for DbscanLearner {
    fn algorithm(&self) -> &'static str {
        "dbscan"
    }

    fn task(&self) -> Task {
        Task::Clustering
    }

    fn fit(&self, x: &Features, _y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, None)?;
        let x = x.dense("dbscan")?;
        let memberships = Dbscan::params(self.min_samples)
            .tolerance(self.eps)
            .transform(x)
            .map_err(|e| TrainError::Fit(format!("dbscan: {e}")))?;
        let index = CommonNearestNeighbour::KdTree
            .from_batch(x, L2Dist)
            .map_err(|e| TrainError::Fit(format!("dbscan: {e}")))?;
        let mut core_rows = Vec::new();
        let mut core_cluster = Vec::new();
        for (i, membership) in memberships.iter().enumerate() {
            let Some(cluster) = membership else { continue };
            let neighbours = index
                .within_range(x.row(i), self.eps)
                .map_err(|e| TrainError::Fit(format!("dbscan: {e}")))?;
            if neighbours.len() >= self.min_samples {
                core_rows.push(i);
                core_cluster.push(*cluster as i64);
            }
        }
        let n_clusters = memberships.iter().flatten().max().map_or(0, |c| c + 1);
        tracing::debug!(n_clusters, core = core_rows.len(), "dbscan fitted");
        Ok(Model::Dbscan(DbscanModel {
            eps: self.eps,
            n_features: x.ncols(),
            n_clusters,
            core: x.select(Axis(0), &core_rows),
            core_cluster,
        }))
    }
}

impl Predict for DbscanModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        check_predict_input(x, self.n_features)?;
        let x = x.dense("dbscan")?;
        if self.core.nrows() == 0 {
            return Ok(Predictions::Clusters {
                cluster: vec![-1; x.nrows()],
                distance: vec![f64::INFINITY; x.nrows()],
            });
        }
        let index = CommonNearestNeighbour::KdTree
            .from_batch(&self.core, L2Dist)
            .map_err(|e| TrainError::Fit(format!("dbscan: {e}")))?;
        let mut cluster = Vec::with_capacity(x.nrows());
        let mut distance = Vec::with_capacity(x.nrows());
        for row in x.outer_iter() {
            let nearest = index
                .k_nearest(row.view(), 1)
                .map_err(|e| TrainError::Fit(format!("dbscan: {e}")))?;
            let (point, core_index) = nearest[0];
            let d = euclidean(row.view(), point);
            cluster.push(if d <= self.eps {
                self.core_cluster[core_index]
            } else {
                -1
            });
            distance.push(d);
        }
        Ok(Predictions::Clusters { cluster, distance })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::linear::testdata;
    use super::super::{HyperValue, learner};
    use super::*;

    fn fit(algorithm: &str, params: &[(&str, HyperValue)], x: &Features) -> Model {
        let params = HyperParams::new(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        );
        learner(algorithm, &params, 3)
            .unwrap()
            .fit(x, None)
            .unwrap()
    }

    /// The share of rows in the majority class of their cluster.
    fn purity(cluster: &[i64], y: &Target) -> f64 {
        let Target::Classes { codes, classes } = y else {
            panic!()
        };
        let mut table = BTreeMap::<(i64, usize), usize>::new();
        for (c, code) in cluster.iter().zip(codes) {
            *table.entry((*c, *code)).or_default() += 1;
        }
        let clusters: std::collections::BTreeSet<i64> = cluster.iter().copied().collect();
        let pure: usize = clusters
            .iter()
            .map(|c| {
                (0..classes.len())
                    .map(|k| table.get(&(*c, k)).copied().unwrap_or(0))
                    .max()
                    .unwrap()
            })
            .sum();
        pure as f64 / cluster.len() as f64
    }

    #[test]
    fn gaussian_mixture_finds_the_wine_cultivars() {
        let (x, y) = testdata::classification("wine");
        let (x, _) = testdata::standardise(&x, &x);
        let model = fit(
            "gaussian-mixture",
            &[("n_components", HyperValue::Int(3))],
            &x,
        );
        assert_eq!(
            model.to_bytes(),
            fit(
                "gaussian-mixture",
                &[("n_components", HyperValue::Int(3))],
                &x
            )
            .to_bytes()
        );
        let Predictions::Clusters { cluster, distance } = model.predict(&x).unwrap() else {
            panic!()
        };
        assert!(purity(&cluster, &y) > 0.9, "{}", purity(&cluster, &y));
        assert!(distance.iter().all(|d| d.is_finite() && *d >= 0.0));
        let back = Model::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(back.predict(&x).unwrap(), model.predict(&x).unwrap());
        let Model::GaussianMixture(m) = &model else {
            panic!()
        };
        assert!((m.weights().sum() - 1.0).abs() < 1e-9);
        let too_many = HyperParams::new(BTreeMap::from([(
            "n_components".to_string(),
            HyperValue::Int(0),
        )]));
        let err = learner("gaussian-mixture", &too_many, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`n_components`"), "{err}");
    }

    #[test]
    fn dbscan_finds_dense_groups_and_marks_noise() {
        // Two tight groups of 30 and one far-away outlier.
        let mut rows = Vec::new();
        for i in 0..30 {
            let t = i as f64 / 30.0;
            rows.extend_from_slice(&[t * 0.5, (t * 7.0).sin() * 0.2]);
        }
        for i in 0..30 {
            let t = i as f64 / 30.0;
            rows.extend_from_slice(&[10.0 + t * 0.5, 10.0 + (t * 5.0).cos() * 0.2]);
        }
        rows.extend_from_slice(&[50.0, -50.0]);
        let x = Features::Dense(Array2::from_shape_vec((61, 2), rows).unwrap());
        let model = fit("dbscan", &[("eps", HyperValue::Float(0.3))], &x);
        let Model::Dbscan(fitted) = &model else {
            panic!()
        };
        assert_eq!(fitted.n_clusters(), 2);
        let Predictions::Clusters { cluster, .. } = model.predict(&x).unwrap() else {
            panic!()
        };
        assert!(cluster[..30].iter().all(|&c| c == cluster[0]));
        assert!(cluster[30..60].iter().all(|&c| c == cluster[30]));
        assert_ne!(cluster[0], cluster[30]);
        assert_eq!(cluster[60], -1);
        // New rows: near a group joins it, far away is noise.
        let new = Features::Dense(ndarray::array![[0.1, 0.05], [10.2, 10.1], [-40.0, 3.0]]);
        let Predictions::Clusters { cluster: fresh, .. } = model.predict(&new).unwrap() else {
            panic!()
        };
        assert_eq!(fresh, vec![cluster[0], cluster[30], -1]);
        assert_eq!(
            Model::from_bytes(&model.to_bytes()).unwrap().to_bytes(),
            model.to_bytes()
        );
    }
}
