//! k-means clustering: greedy k-means++ seeding and Lloyd iterations, best
//! of `n_init` seeded runs by inertia, as scikit-learn's `KMeans`.
//!
//! Written here (≈150 lines) rather than through linfa-clustering, which
//! would bring its nearest-neighbour stack into the host for the same
//! Lloyd loop; the algorithm and stopping rule follow scikit-learn so
//! figures can be compared with it.

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::data::check_fit_input;
use super::linear::{DenseRows, check_predict_input};
use super::{
    Features, HyperParams, Learner, Model, Predict, Predictions, Target, Task, TrainError,
};

/// `k-means`: `k` = 8 clusters, `max_iter` = 300 Lloyd iterations per run,
/// `n_init` = 10 runs (linfa's default; the best inertia is kept),
/// `tol` = 1e-4 (centre movement, relative to the mean feature variance).
/// Seeded: the same seed gives the same clusters.
pub fn k_means(p: &HyperParams, seed: u64) -> Result<Box<dyn Learner>, TrainError> {
    let positive = |name: &str, v: i64| {
        usize::try_from(v)
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| TrainError::Hyper {
                name: name.into(),
                message: format!("must be at least 1, got {v}"),
            })
    };
    let learner = KMeans {
        k: positive("k", p.int("k", 8)?)?,
        max_iter: positive("max_iter", p.int("max_iter", 300)?)?,
        n_init: positive("n_init", p.int("n_init", 10)?)?,
        tol: p.float("tol", 1e-4)?,
        seed,
    };
    HyperParams::in_range("tol", learner.tol, 0.0, f64::MAX)?;
    p.finish()?;
    Ok(Box::new(learner))
}

#[derive(Debug, Clone)]
pub struct KMeans {
    pub k: usize,
    pub max_iter: usize,
    pub n_init: usize,
    pub tol: f64,
    pub seed: u64,
}

/// Fitted centroids (k × features) and their total within-cluster sum of
/// squared distances on the training rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KMeansModel {
    centroids: Array2<f64>,
    inertia: f64,
}

impl KMeansModel {
    pub fn centroids(&self) -> &Array2<f64> {
        &self.centroids
    }
    pub fn inertia(&self) -> f64 {
        self.inertia
    }
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest centroid of `row` and its squared distance.
fn nearest(row: &[f64], centroids: &[f64], d: usize) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (c, centre) in centroids.chunks_exact(d).enumerate() {
        let distance = squared_distance(row, centre);
        if distance < best.1 {
            best = (c, distance);
        }
    }
    best
}

/// Greedy k-means++: each new centre is the best (lowest potential) of
/// `2 + ln k` candidates drawn proportionally to squared distance.
fn seed_centroids(rows: &DenseRows, k: usize, d: usize, rng: &mut StdRng) -> Vec<f64> {
    let n = rows.rows();
    let trials = 2 + (k as f64).ln() as usize;
    let mut centroids = Vec::with_capacity(k * d);
    centroids.extend_from_slice(rows.row(rng.random_range(0..n)));
    let mut closest: Vec<f64> = (0..n)
        .map(|i| squared_distance(rows.row(i), &centroids[..d]))
        .collect();
    let mut candidate_closest = vec![0.0; n];
    let mut best_closest = vec![0.0; n];
    for _ in 1..k {
        let potential: f64 = closest.iter().sum();
        let mut best: Option<(usize, f64)> = None;
        for _ in 0..trials {
            // Draw a row with probability ∝ its squared distance.
            let mut target = rng.random::<f64>() * potential;
            let mut pick = n - 1;
            for (i, &c) in closest.iter().enumerate() {
                if target < c {
                    pick = i;
                    break;
                }
                target -= c;
            }
            let candidate = rows.row(pick);
            let mut total = 0.0;
            for (i, slot) in candidate_closest.iter_mut().enumerate() {
                *slot = closest[i].min(squared_distance(rows.row(i), candidate));
                total += *slot;
            }
            if best.is_none_or(|(_, t)| total < t) {
                best = Some((pick, total));
                best_closest.copy_from_slice(&candidate_closest);
            }
        }
        let (pick, _) = best.expect("at least one trial");
        centroids.extend_from_slice(rows.row(pick));
        closest.copy_from_slice(&best_closest);
    }
    centroids
}

/// One Lloyd run from k-means++ seeds: (centroids, inertia).
fn lloyd(
    rows: &DenseRows,
    k: usize,
    d: usize,
    max_iter: usize,
    tol: f64,
    rng: &mut StdRng,
) -> (Vec<f64>, f64) {
    let n = rows.rows();
    let mut centroids = seed_centroids(rows, k, d, rng);
    let mut labels = vec![usize::MAX; n];
    let mut distances = vec![0.0; n];
    for _ in 0..max_iter {
        let mut changed = false;
        for i in 0..n {
            let (c, distance) = nearest(rows.row(i), &centroids, d);
            changed |= labels[i] != c;
            labels[i] = c;
            distances[i] = distance;
        }
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0usize; k];
        for i in 0..n {
            counts[labels[i]] += 1;
            for (s, v) in sums[labels[i] * d..(labels[i] + 1) * d]
                .iter_mut()
                .zip(rows.row(i))
            {
                *s += v;
            }
        }
        // An empty cluster takes the row farthest from its centre.
        for c in 0..k {
            if counts[c] == 0 {
                let far = (0..n)
                    .max_by(|&a, &b| distances[a].total_cmp(&distances[b]))
                    .expect("rows");
                distances[far] = 0.0;
                let (old, row) = (labels[far], rows.row(far));
                counts[old] -= 1;
                for (s, v) in sums[old * d..(old + 1) * d].iter_mut().zip(row) {
                    *s -= v;
                }
                sums[c * d..(c + 1) * d].copy_from_slice(row);
                counts[c] = 1;
                labels[far] = c;
            }
        }
        let mut shift = 0.0;
        for c in 0..k {
            for j in 0..d {
                let updated = sums[c * d + j] / counts[c] as f64;
                shift += (updated - centroids[c * d + j]).powi(2);
                centroids[c * d + j] = updated;
            }
        }
        if !changed || shift <= tol {
            break;
        }
    }
    let inertia = (0..n).map(|i| nearest(rows.row(i), &centroids, d).1).sum();
    (centroids, inertia)
}

impl Learner for KMeans {
    fn algorithm(&self) -> &'static str {
        "k-means"
    }

    fn task(&self) -> Task {
        Task::Clustering
    }

    fn fit(&self, x: &Features, _y: Option<&Target>) -> Result<Model, TrainError> {
        check_fit_input(x, None)?;
        let Features::Dense(x) = x else {
            return Err(TrainError::Data("k-means takes dense features".into()));
        };
        let (n, d) = (x.nrows(), x.ncols());
        if self.k > n {
            return Err(TrainError::Data(format!(
                "k-means: k = {} but only {n} rows",
                self.k
            )));
        }
        let rows = DenseRows::new(x);
        // scikit-learn's tolerance: relative to the mean feature variance.
        let mean_variance = x.var_axis(ndarray::Axis(0), 0.0).mean().unwrap_or(0.0);
        let tol = self.tol * mean_variance;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut best: Option<(Vec<f64>, f64)> = None;
        for _ in 0..self.n_init {
            let (centroids, inertia) = lloyd(&rows, self.k, d, self.max_iter, tol, &mut rng);
            if best.as_ref().is_none_or(|(_, b)| inertia < *b) {
                best = Some((centroids, inertia));
            }
        }
        let (centroids, inertia) = best.expect("n_init >= 1");
        tracing::debug!(k = self.k, inertia, "k-means fitted");
        let centroids = Array2::from_shape_vec((self.k, d), centroids)
            .map_err(|e| TrainError::Fit(e.to_string()))?;
        Ok(Model::KMeans(KMeansModel { centroids, inertia }))
    }
}

impl Predict for KMeansModel {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        check_predict_input(x, self.centroids.ncols())?;
        let Features::Dense(x) = x else {
            return Err(TrainError::Data("k-means takes dense features".into()));
        };
        let rows = DenseRows::new(x);
        let centroids = self.centroids.as_slice().expect("standard layout");
        let (mut cluster, mut distance) = (Vec::new(), Vec::new());
        for i in 0..rows.rows() {
            let (c, squared) = nearest(rows.row(i), centroids, self.centroids.ncols());
            cluster.push(c as i64);
            distance.push(squared.sqrt());
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

    fn fit(k: i64, seed: u64, x: &Features) -> Model {
        let params = HyperParams::new(BTreeMap::from([("k".to_string(), HyperValue::Int(k))]));
        learner("k-means", &params, seed)
            .unwrap()
            .fit(x, None)
            .unwrap()
    }

    #[test]
    fn finds_scikit_learns_wine_clusters() {
        let (x, y) = testdata::classification("wine");
        let x = testdata::standardise(&x, &x).0;
        let model = fit(3, 0, &x);
        let Model::KMeans(fitted) = &model else {
            panic!()
        };
        // scikit-learn 1.9.1 KMeans(3, n_init=10): inertia 1277.9284888446423.
        assert!(
            (fitted.inertia() - 1277.9284888446423).abs() < 1e-6,
            "{}",
            fitted.inertia()
        );
        assert_eq!(model.to_bytes(), fit(3, 0, &x).to_bytes());
        // The clusters are nearly the cultivars: purity above 0.95.
        let Predictions::Clusters { cluster, distance } = model.predict(&x).unwrap() else {
            panic!()
        };
        let Target::Classes { codes, .. } = y else {
            unreachable!()
        };
        let mut table = [[0usize; 3]; 3];
        for (c, code) in cluster.iter().zip(&codes) {
            table[*c as usize][*code] += 1;
        }
        let pure: usize = table.iter().map(|row| row.iter().max().unwrap()).sum();
        assert!(pure as f64 / 178.0 > 0.95, "{table:?}");
        let inertia: f64 = distance.iter().map(|d| d * d).sum();
        assert!((inertia - fitted.inertia()).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_settings() {
        let (x, _) = testdata::classification("wine");
        let params = HyperParams::new(BTreeMap::from([("k".to_string(), HyperValue::Int(500))]));
        let err = learner("k-means", &params, 0)
            .unwrap()
            .fit(&x, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("only 178 rows"), "{err}");
        let params = HyperParams::new(BTreeMap::from([(
            "clusters".to_string(),
            HyperValue::Int(3),
        )]));
        assert!(learner("k-means", &params, 0).is_err());
    }
}
