//! Fitted transforms: the same fit-then-apply shape as [`Learner`] /
//! [`Model`], for steps that turn feature columns into new columns rather
//! than predict. `pca` is linfa-reduction's principal component analysis
//! (truncated SVD without BLAS; components deterministic: linfa seeds its
//! solver with a fixed seed).
//!
//! [`Learner`]: super::Learner
//! [`Model`]: super::Model

use linfa::DatasetBase;
use linfa::traits::{Fit, Predict as _};
use linfa_reduction::Pca;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::data::check_fit_input;
use super::linear::check_predict_input;
use super::{Features, HyperParams, TrainError};

/// A transform configured with its hyperparameters, ready to fit.
pub trait Reducer: Send + Sync {
    fn algorithm(&self) -> &'static str;
    /// How many columns the fitted transform writes.
    fn width(&self) -> usize;
    fn fit(&self, x: &Features) -> Result<Transform, TrainError>;
}

/// A fitted transform of any algorithm, serialisable like [`super::Model`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Transform {
    Pca(PcaModel),
}

impl Transform {
    /// The new columns for `x`'s rows (rows × [`Transform::width`]).
    pub fn apply(&self, x: &Features) -> Result<Array2<f64>, TrainError> {
        match self {
            Transform::Pca(m) => m.apply(x),
        }
    }

    pub fn width(&self) -> usize {
        match self {
            Transform::Pca(m) => m.pca.components().nrows(),
        }
    }

    /// Stable binary encoding (postcard); equal transforms give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("transforms serialise")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Transform, TrainError> {
        postcard::from_bytes(bytes).map_err(|e| TrainError::CorruptModel(e.to_string()))
    }
}

/// One transform a `transform` step accepts.
pub struct TransformAlgorithm {
    pub name: &'static str,
    pub summary: &'static str,
    pub build: BuildReducer,
}

/// Builds a transform from its hyperparameters and seed.
pub type BuildReducer = fn(&HyperParams, u64) -> Result<Box<dyn Reducer>, TrainError>;

pub static TRANSFORMS: &[TransformAlgorithm] = &[TransformAlgorithm {
    name: "pca",
    summary: "principal component analysis (linfa-reduction): n_components projections",
    build: pca,
}];

/// Looks up a transform by name and builds it; unknown, mistyped or
/// out-of-range hyperparameters are errors naming the key.
pub fn reducer(
    name: &str,
    params: &HyperParams,
    seed: u64,
) -> Result<Box<dyn Reducer>, TrainError> {
    let algorithm =
        TRANSFORMS
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| TrainError::UnknownAlgorithm {
                name: name.to_string(),
                known: TRANSFORMS
                    .iter()
                    .map(|a| a.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
    let reducer = (algorithm.build)(params, seed)?;
    params.finish()?;
    Ok(reducer)
}

/// `pca`: `n_components` = 2 (at least 1, at most the feature count),
/// `whiten` = false (scale components to unit variance).
pub fn pca(p: &HyperParams, _seed: u64) -> Result<Box<dyn Reducer>, TrainError> {
    let n_components = p.int("n_components", 2)?;
    HyperParams::in_range("n_components", n_components as f64, 1.0, 1e6)?;
    let reducer = PcaReducer {
        n_components: n_components as usize,
        whiten: p.bool("whiten", false)?,
    };
    p.finish()?;
    Ok(Box::new(reducer))
}

#[derive(Debug, Clone)]
pub struct PcaReducer {
    pub n_components: usize,
    pub whiten: bool,
}

/// The fitted projection: linfa's mean and components.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PcaModel {
    pca: Pca<f64>,
}

impl PcaModel {
    /// The share of variance each component explains (among those kept).
    pub fn explained_variance_ratio(&self) -> Array1<f64> {
        self.pca.explained_variance_ratio()
    }

    pub fn components(&self) -> &Array2<f64> {
        self.pca.components()
    }

    fn apply(&self, x: &Features) -> Result<Array2<f64>, TrainError> {
        check_predict_input(x, self.pca.mean().len())?;
        Ok(self.pca.predict(x.dense("pca")?))
    }
}

impl Reducer for PcaReducer {
    fn algorithm(&self) -> &'static str {
        "pca"
    }

    fn width(&self) -> usize {
        self.n_components
    }

    fn fit(&self, x: &Features) -> Result<Transform, TrainError> {
        check_fit_input(x, None)?;
        let x = x.dense("pca")?;
        if self.n_components > x.ncols() {
            return Err(TrainError::Hyper {
                name: "n_components".into(),
                message: format!(
                    "{} is more than the {} feature columns",
                    self.n_components,
                    x.ncols()
                ),
            });
        }
        let pca = Pca::params(self.n_components)
            .whiten(self.whiten)
            .fit(&DatasetBase::from(x.view()))
            .map_err(|e| TrainError::Fit(format!("pca: {e}")))?;
        Ok(Transform::Pca(PcaModel { pca }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::HyperValue;
    use super::super::linear::testdata;
    use super::*;

    fn fit(n: i64, x: &Features) -> Transform {
        let params = HyperParams::new(BTreeMap::from([(
            "n_components".to_string(),
            HyperValue::Int(n),
        )]));
        reducer("pca", &params, 0).unwrap().fit(x).unwrap()
    }

    #[test]
    fn projects_onto_uncorrelated_components_of_falling_variance() {
        let (x, _) = testdata::classification("wine");
        let (x, _) = testdata::standardise(&x, &x);
        let transform = fit(3, &x);
        assert_eq!(transform.to_bytes(), fit(3, &x).to_bytes());
        let z = transform.apply(&x).unwrap();
        assert_eq!(z.dim(), (178, 3));
        let variance = z.var_axis(ndarray::Axis(0), 0.0);
        assert!(variance[0] > variance[1] && variance[1] > variance[2]);
        // scikit-learn's PCA(3) on the standardised wine set explains
        // 4.7324, 2.5111 and 1.4542 units of variance (ddof = 1).
        let ddof1 = z.var_axis(ndarray::Axis(0), 1.0);
        for (ours, theirs) in ddof1.iter().zip([4.7324, 2.5111, 1.4542]) {
            assert!((ours - theirs).abs() < 0.01, "{ddof1}");
        }
        // The projections are uncorrelated.
        let centred = &z - &z.mean_axis(ndarray::Axis(0)).unwrap();
        let covariance = centred.t().dot(&centred) / 177.0;
        assert!(covariance[[0, 1]].abs() < 1e-6, "{covariance}");
        let back = Transform::from_bytes(&transform.to_bytes()).unwrap();
        assert_eq!(back.apply(&x).unwrap(), z);
    }

    #[test]
    fn rejects_bad_settings() {
        let (x, _) = testdata::classification("wine");
        let err = reducer("pca", &HyperParams::default(), 0)
            .unwrap()
            .fit(&Features::Dense(
                x.dense("pca")
                    .unwrap()
                    .slice(ndarray::s![.., ..1])
                    .to_owned(),
            ))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`n_components`"), "{err}");
        let params = HyperParams::new(BTreeMap::from([(
            "components".to_string(),
            HyperValue::Int(2),
        )]));
        let err = reducer("pca", &params, 0).err().unwrap().to_string();
        assert!(err.contains("`components`"), "{err}");
        let params = HyperParams::new(BTreeMap::from([(
            "whiten".to_string(),
            HyperValue::Text("yes".into()),
        )]));
        assert!(reducer("pca", &params, 0).is_err());
        assert!(reducer("tsne", &HyperParams::default(), 0).is_err());
    }
}
