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
pub mod search;
pub mod split;
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
        build: linear::logistic_regression,
    },
    Algorithm {
        name: "linear-regression",
        task: Task::Regression,
        summary: "ordinary least squares",
        build: linear::linear_regression,
    },
    Algorithm {
        name: "ridge",
        task: Task::Regression,
        summary: "least squares with an L2 penalty",
        build: linear::ridge,
    },
    Algorithm {
        name: "elastic-net",
        task: Task::Regression,
        summary: "least squares with L1 and L2 penalties",
        build: linear::elastic_net,
    },
    Algorithm {
        name: "gaussian-nb",
        task: Task::Classification,
        summary: "Gaussian naive Bayes",
        build: bayes::gaussian_nb,
    },
    Algorithm {
        name: "multinomial-nb",
        task: Task::Classification,
        summary: "multinomial naive Bayes for counts and tf-idf; dense or sparse features",
        build: bayes::multinomial_nb,
    },
    Algorithm {
        name: "decision-tree",
        task: Task::Classification,
        summary: "CART decision tree (Gini or entropy); dense or sparse features",
        build: tree::decision_tree,
    },
    Algorithm {
        name: "random-forest",
        task: Task::Classification,
        summary: "bagged decision trees with feature subsampling",
        build: tree::random_forest,
    },
    Algorithm {
        name: "k-means",
        task: Task::Clustering,
        summary: "k-means clustering (k-means++ initialisation)",
        build: cluster::k_means,
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
