//! Native training: every algorithm behind one [`Learner`] / [`Model`] pair,
//! as linfa does with `Fit` / `Predict`.
//!
//! - [`data`] — features (dense or CSR sparse), targets, predictions;
//! - [`hyper`] — hyperparameters from the pipeline file, with defaults;
//! - [`linear`] — logistic regression (binary, multinomial, dense or sparse),
//!   linear / ridge / elastic-net regression;
//! - [`bayes`] — Gaussian and multinomial naive Bayes;
//! - [`tree`] — decision tree and random forest;
//! - [`cluster`] — k-means;
//! - [`svm`], [`mixture`] (Gaussian mixture, DBSCAN), [`online`] (FTRL,
//!   updatable) and [`reduction`] (PCA, a fitted transform): linfa's
//!   algorithms behind the same shape, where they add what sluice lacks;
//! - [`split`] — stratified train/test split and k-fold;
//! - [`search`] — cross-validated grid / random search by a named metric.
//!
//! This module knows nothing of pipelines, stores or Wasm: the pipeline
//! scheduler turns tables into [`Features`] and calls in.

pub mod bayes;
pub mod cluster;
pub mod data;
mod error;
pub mod hyper;
pub mod linear;
pub mod mixture;
pub mod online;
pub mod reduction;
pub mod search;
pub mod split;
pub mod svm;
pub mod tree;

use serde::{Deserialize, Serialize};

pub use data::{Features, Predictions, SparseMatrix, Target};
pub use error::TrainError;
pub use hyper::{HyperParams, HyperValue};

/// What an algorithm learns to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    Classification,
    Regression,
    Clustering,
}

/// An algorithm configured with its hyperparameters, ready to fit.
pub trait Learner: Send + Sync {
    /// The name pipeline files use, e.g. `logistic-regression`.
    fn algorithm(&self) -> &'static str;
    fn task(&self) -> Task;
    /// Fits on `x` (and `y`, except for clustering). Deterministic: the
    /// same data, hyperparameters and seed give the same model bytes.
    fn fit(&self, x: &Features, y: Option<&Target>) -> Result<Model, TrainError>;
}

/// What every fitted model can do.
pub trait Predict {
    fn predict(&self, x: &Features) -> Result<Predictions, TrainError>;
}

/// A fitted model of any algorithm; serialisable so the store can keep it
/// as a content-addressed artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Model {
    Logistic(linear::LogisticModel),
    Linear(linear::LinearModel),
    GaussianNb(bayes::GaussianNbModel),
    MultinomialNb(bayes::MultinomialNbModel),
    Tree(tree::TreeModel),
    Forest(tree::ForestModel),
    KMeans(cluster::KMeansModel),
    Svm(svm::SvmModel),
    GaussianMixture(mixture::MixtureModel),
    Dbscan(mixture::DbscanModel),
    Ftrl(online::FtrlModel),
}

impl Model {
    pub fn predict(&self, x: &Features) -> Result<Predictions, TrainError> {
        match self {
            Model::Logistic(m) => m.predict(x),
            Model::Linear(m) => m.predict(x),
            Model::GaussianNb(m) => m.predict(x),
            Model::MultinomialNb(m) => m.predict(x),
            Model::Tree(m) => m.predict(x),
            Model::Forest(m) => m.predict(x),
            Model::KMeans(m) => m.predict(x),
            Model::Svm(m) => m.predict(x),
            Model::GaussianMixture(m) => m.predict(x),
            Model::Dbscan(m) => m.predict(x),
            Model::Ftrl(m) => m.predict(x),
        }
    }

    /// Learns from new labelled rows without a refit, for the algorithms
    /// that learn online (`ftrl`); any other is an error.
    pub fn update(&mut self, x: &Features, y: &Target) -> Result<(), TrainError> {
        match self {
            Model::Ftrl(m) => m.update(x, y),
            _ => Err(TrainError::Data(
                "this model cannot be updated online (only `ftrl` can); refit it".into(),
            )),
        }
    }

    /// Stable binary encoding (postcard); equal models give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("models serialise")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, TrainError> {
        postcard::from_bytes(bytes).map_err(|e| TrainError::CorruptModel(e.to_string()))
    }
}

/// One algorithm the `train` step accepts: name, task, one-line summary.
pub struct Algorithm {
    pub name: &'static str,
    pub task: Task,
    pub summary: &'static str,
    /// Whether it takes sparse vector columns (else dense features only,
    /// checked when the pipeline is planned).
    pub sparse: bool,
    /// Builds the learner; reports unknown or out-of-range hyperparameters.
    pub build: BuildLearner,
}

/// Builds a learner from its hyperparameters and seed.
pub type BuildLearner = fn(&HyperParams, u64) -> Result<Box<dyn Learner>, TrainError>;

/// Every algorithm, by the name pipeline files use.
pub static ALGORITHMS: &[Algorithm] = &[
    Algorithm {
        name: "logistic-regression",
        task: Task::Classification,
        summary: "L2-regularised logistic regression, binary or multinomial; dense or sparse features",
        sparse: true,
        build: linear::logistic_regression,
    },
    Algorithm {
        name: "linear-regression",
        task: Task::Regression,
        summary: "ordinary least squares",
        sparse: false,
        build: linear::linear_regression,
    },
    Algorithm {
        name: "ridge",
        task: Task::Regression,
        summary: "least squares with an L2 penalty",
        sparse: false,
        build: linear::ridge,
    },
    Algorithm {
        name: "elastic-net",
        task: Task::Regression,
        summary: "least squares with L1 and L2 penalties",
        sparse: false,
        build: linear::elastic_net,
    },
    Algorithm {
        name: "gaussian-nb",
        task: Task::Classification,
        summary: "Gaussian naive Bayes",
        sparse: false,
        build: bayes::gaussian_nb,
    },
    Algorithm {
        name: "multinomial-nb",
        task: Task::Classification,
        summary: "multinomial naive Bayes for counts and tf-idf; dense or sparse features",
        sparse: true,
        build: bayes::multinomial_nb,
    },
    Algorithm {
        name: "decision-tree",
        task: Task::Classification,
        summary: "CART decision tree (Gini or entropy); dense or sparse features",
        sparse: true,
        build: tree::decision_tree,
    },
    Algorithm {
        name: "random-forest",
        task: Task::Classification,
        summary: "bagged decision trees with feature subsampling",
        sparse: true,
        build: tree::random_forest,
    },
    Algorithm {
        name: "k-means",
        task: Task::Clustering,
        summary: "k-means clustering (k-means++ initialisation)",
        sparse: false,
        build: cluster::k_means,
    },
    Algorithm {
        name: "svm",
        task: Task::Classification,
        summary: "support-vector classifier (linfa-svm): RBF or linear kernel, Platt-scaled score",
        sparse: false,
        build: svm::svm,
    },
    Algorithm {
        name: "ftrl",
        task: Task::Classification,
        summary: "online logistic regression, FTRL-proximal (linfa-ftrl); updatable without a refit",
        sparse: false,
        build: online::ftrl,
    },
    Algorithm {
        name: "gaussian-mixture",
        task: Task::Clustering,
        summary: "Gaussian mixture by EM, full covariances (linfa-clustering)",
        sparse: false,
        build: mixture::gaussian_mixture,
    },
    Algorithm {
        name: "dbscan",
        task: Task::Clustering,
        summary: "density-based clustering with noise (linfa-clustering)",
        sparse: false,
        build: mixture::dbscan,
    },
];

/// Looks up an algorithm by name and builds its learner.
pub fn learner(
    name: &str,
    params: &HyperParams,
    seed: u64,
) -> Result<Box<dyn Learner>, TrainError> {
    let algorithm =
        ALGORITHMS
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| TrainError::UnknownAlgorithm {
                name: name.to_string(),
                known: ALGORITHMS
                    .iter()
                    .map(|a| a.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
    (algorithm.build)(params, seed)
}
