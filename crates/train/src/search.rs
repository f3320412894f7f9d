//! Cross-validation and hyperparameter search (grid and random) by a named
//! metric, for the pipeline's `train` step.
//!
//! Every candidate is scored on the same stratified (classification) or
//! shuffled (regression) folds, as scikit-learn's `GridSearchCV` does, and
//! the best mean wins, ties going to the earlier candidate.
//!
//! Metrics live behind one seam, [`score`], with `sluice-metrics`'
//! definitions (scikit-learn's):
//! - `accuracy`; `f1`: of the greater label for two classes (sklearn's
//!   `pos_label=1` on 0/1 labels), macro-averaged for more;
//! - `roc_auc`: from probabilities, one-vs-rest macro for more than two
//!   classes (sklearn's `roc_auc_ovr`); `log_loss` (lower is better),
//!   probabilities clipped to `[ε, 1 − ε]`;
//! - `r2`; `rmse` (lower is better).

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sluice_metrics::names;

use super::split::k_fold;
use super::{Features, HyperParams, HyperValue, Predictions, Target, TrainError, learner};

/// A metric by which candidates are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Accuracy,
    F1,
    RocAuc,
    LogLoss,
    R2,
    Rmse,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::Accuracy,
        Metric::F1,
        Metric::RocAuc,
        Metric::LogLoss,
        Metric::R2,
        Metric::Rmse,
    ];

    pub fn parse(name: &str) -> Result<Metric, TrainError> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                TrainError::Data(format!(
                    "unknown metric `{name}` (known: {})",
                    Metric::ALL.map(Metric::name).join(", ")
                ))
            })
    }

    /// The name the evaluator plugins report the same quantity under.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => names::ACCURACY,
            Metric::F1 => names::F1,
            Metric::RocAuc => names::ROC_AUC,
            Metric::LogLoss => names::LOG_LOSS,
            Metric::R2 => names::R2,
            Metric::Rmse => names::RMSE,
        }
    }

    /// False for losses (`log_loss`, `rmse`), where lower is better.
    pub fn greater_is_better(self) -> bool {
        !matches!(self, Metric::LogLoss | Metric::Rmse)
    }
}

/// Scores predictions against the truth by the named metric.
pub fn score(metric: &str, y: &Target, p: &Predictions) -> Result<f64, TrainError> {
    score_metric(Metric::parse(metric)?, y, p)
}

/// Definitions come from `sluice-metrics` (the ones the evaluator plugins
/// report, checked against scikit-learn), so a search optimises exactly
/// what the pipeline's evaluators will measure.
fn score_metric(metric: Metric, y: &Target, p: &Predictions) -> Result<f64, TrainError> {
    if y.len() != p.rows() {
        return Err(TrainError::Data(format!(
            "{} target rows but {} predictions",
            y.len(),
            p.rows()
        )));
    }
    if y.is_empty() {
        return Err(TrainError::Data("no rows to score".into()));
    }
    let needs = |what: &str| TrainError::Data(format!("metric `{}` needs {what}", metric.name()));
    let failed = |e: sluice_metrics::MetricsError| {
        TrainError::Data(format!("metric `{}`: {e}", metric.name()))
    };
    match metric {
        Metric::R2 | Metric::Rmse => {
            let (Target::Values(truth), Predictions::Values(predicted)) = (y, p) else {
                return Err(needs("a real-valued target and predictions"));
            };
            if metric == Metric::Rmse {
                return sluice_metrics::root_mean_squared_error(truth, predicted).map_err(failed);
            }
            sluice_metrics::r2(truth, predicted).map_err(failed)
        }
        Metric::Accuracy | Metric::F1 | Metric::RocAuc | Metric::LogLoss => {
            let (
                Target::Classes { classes, codes },
                Predictions::Classes {
                    classes: model_classes,
                    predicted,
                    proba,
                },
            ) = (y, p)
            else {
                return Err(needs("class labels and class predictions"));
            };
            let truth: Vec<i64> = codes.iter().map(|&c| classes[c]).collect();
            match metric {
                Metric::Accuracy => sluice_metrics::accuracy(&truth, predicted).map_err(failed),
                // binary: the greater label is the positive class
                Metric::F1 if classes.len() == 2 => {
                    sluice_metrics::f1(&truth, predicted, classes[1]).map_err(failed)
                }
                Metric::F1 => Ok(sluice_metrics::multiclass_scores(&truth, predicted)
                    .map_err(failed)?
                    .macro_avg
                    .f1),
                _ => {
                    let proba = proba
                        .as_ref()
                        .ok_or_else(|| needs("a model that gives probabilities"))?;
                    // row-major, one column per model class
                    let flat: Vec<f64> = proba.iter().copied().collect();
                    if metric == Metric::LogLoss {
                        if classes.len() == 2 {
                            let positive = sluice_metrics::binarize(&truth, classes[1]);
                            let column = match model_classes.iter().position(|&c| c == classes[1]) {
                                Some(k) => proba.column(k).to_vec(),
                                None => vec![0.0; truth.len()],
                            };
                            return sluice_metrics::log_loss(&positive, &column).map_err(failed);
                        }
                        return sluice_metrics::multiclass_log_loss(&truth, model_classes, &flat)
                            .map_err(failed);
                    }
                    sluice_metrics::roc_auc_ovr(&truth, model_classes, &flat).map_err(|e| match e {
                        sluice_metrics::MetricsError::SingleClass => {
                            needs("at least two classes in the scored rows")
                        }
                        e => failed(e),
                    })
                }
            }
        }
    }
}

/// How candidates are scored: `folds`-fold cross-validation split with
/// `seed` (which is also every learner's seed), compared by `metric`.
#[derive(Debug, Clone)]
pub struct CvSettings {
    pub folds: usize,
    pub seed: u64,
    pub metric: Metric,
}

/// Per-fold scores of one hyperparameter set.
#[derive(Debug, Clone, PartialEq)]
pub struct CvScore {
    pub mean: f64,
    /// Population standard deviation over folds, as scikit-learn reports.
    pub std: f64,
    pub folds: Vec<f64>,
}

/// Fits `algorithm` with `params` on each fold's training rows and scores
/// its test rows.
pub fn cross_validate(
    algorithm: &str,
    params: &BTreeMap<String, HyperValue>,
    x: &Features,
    y: &Target,
    cv: &CvSettings,
) -> Result<CvScore, TrainError> {
    if x.rows() != y.len() {
        return Err(TrainError::Data(format!(
            "{} feature rows but {} target values",
            x.rows(),
            y.len()
        )));
    }
    let splits = k_fold(y, cv.folds, cv.seed)?;
    cross_validate_on(algorithm, params, x, y, &splits, cv)
}

fn cross_validate_on(
    algorithm: &str,
    params: &BTreeMap<String, HyperValue>,
    x: &Features,
    y: &Target,
    splits: &[super::split::Split],
    cv: &CvSettings,
) -> Result<CvScore, TrainError> {
    let learner = learner(algorithm, &HyperParams::new(params.clone()), cv.seed)?;
    let mut folds = Vec::with_capacity(splits.len());
    for split in splits {
        let model = learner.fit(
            &x.select_rows(&split.train),
            Some(&y.select_rows(&split.train)),
        )?;
        let predictions = model.predict(&x.select_rows(&split.test))?;
        folds.push(score_metric(
            cv.metric,
            &y.select_rows(&split.test),
            &predictions,
        )?);
    }
    let mean = folds.iter().sum::<f64>() / folds.len() as f64;
    let std =
        (folds.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / folds.len() as f64).sqrt();
    Ok(CvScore { mean, std, folds })
}

/// One scored hyperparameter set.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub params: BTreeMap<String, HyperValue>,
    pub score: CvScore,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    pub metric: Metric,
    /// The winning hyperparameters (base merged with the candidate's).
    pub best: BTreeMap<String, HyperValue>,
    pub best_score: CvScore,
    /// Every candidate in the order tried.
    pub candidates: Vec<Candidate>,
}

/// Scores each candidate (merged over `base`) on the same folds.
fn run_search(
    algorithm: &str,
    base: &BTreeMap<String, HyperValue>,
    candidates: Vec<BTreeMap<String, HyperValue>>,
    x: &Features,
    y: &Target,
    cv: &CvSettings,
) -> Result<SearchOutcome, TrainError> {
    if x.rows() != y.len() {
        return Err(TrainError::Data(format!(
            "{} feature rows but {} target values",
            x.rows(),
            y.len()
        )));
    }
    let splits = k_fold(y, cv.folds, cv.seed)?;
    let mut scored = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let mut params = base.clone();
        params.extend(candidate);
        let score = cross_validate_on(algorithm, &params, x, y, &splits, cv)?;
        tracing::debug!(
            ?params,
            mean = score.mean,
            std = score.std,
            "search candidate scored"
        );
        scored.push(Candidate { params, score });
    }
    let better = |a: f64, b: f64| {
        if cv.metric.greater_is_better() {
            a > b
        } else {
            a < b
        }
    };
    let mut best = 0;
    for (i, candidate) in scored.iter().enumerate().skip(1) {
        if better(candidate.score.mean, scored[best].score.mean) {
            best = i;
        }
    }
    Ok(SearchOutcome {
        metric: cv.metric,
        best: scored[best].params.clone(),
        best_score: scored[best].score.clone(),
        candidates: scored,
    })
}

/// Every combination of `grid`'s values, keys in sorted order with the
/// last varying fastest (scikit-learn's `ParameterGrid` order).
fn combinations(
    grid: &BTreeMap<String, Vec<HyperValue>>,
) -> Result<Vec<BTreeMap<String, HyperValue>>, TrainError> {
    let mut out = vec![BTreeMap::new()];
    for (name, values) in grid {
        if values.is_empty() {
            return Err(TrainError::Hyper {
                name: name.clone(),
                message: "the grid lists no values".into(),
            });
        }
        out = out
            .into_iter()
            .flat_map(|partial| {
                values.iter().map(move |v| {
                    let mut next = partial.clone();
                    next.insert(name.clone(), v.clone());
                    next
                })
            })
            .collect();
    }
    Ok(out)
}

/// Largest number of candidates a search may try: each costs `folds` fits.
pub const MAX_CANDIDATES: usize = 10_000;

/// Cross-validates every combination of `grid` over `base` and picks the
/// best by `cv.metric`. An unknown or invalid hyperparameter is an error.
pub fn grid_search(
    algorithm: &str,
    base: &BTreeMap<String, HyperValue>,
    grid: &BTreeMap<String, Vec<HyperValue>>,
    x: &Features,
    y: &Target,
    cv: &CvSettings,
) -> Result<SearchOutcome, TrainError> {
    let size = grid
        .values()
        .try_fold(1usize, |n, v| n.checked_mul(v.len().max(1)));
    if size.is_none_or(|n| n > MAX_CANDIDATES) {
        return Err(TrainError::Data(format!(
            "the grid has more than {MAX_CANDIDATES} combinations"
        )));
    }
    run_search(algorithm, base, combinations(grid)?, x, y, cv)
}

/// Where random search draws one hyperparameter from.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// One of the values, uniformly.
    Choice(Vec<HyperValue>),
    /// A float uniform in `[low, high)`.
    Uniform { low: f64, high: f64 },
    /// A float whose logarithm is uniform: for scales such as `c`, `alpha`.
    LogUniform { low: f64, high: f64 },
    /// An integer uniform in `[low, high]`.
    IntUniform { low: i64, high: i64 },
}

impl Distribution {
    fn check(&self, name: &str) -> Result<(), TrainError> {
        let bad = |message: &str| {
            Err(TrainError::Hyper {
                name: name.into(),
                message: message.into(),
            })
        };
        match *self {
            Distribution::Choice(ref values) if values.is_empty() => {
                bad("the choice lists no values")
            }
            Distribution::Uniform { low, high }
                if !(low < high && low.is_finite() && high.is_finite()) =>
            {
                bad("uniform needs finite low < high")
            }
            Distribution::LogUniform { low, high }
                if !(low > 0.0 && low < high && high.is_finite()) =>
            {
                bad("log-uniform needs 0 < low < high")
            }
            Distribution::IntUniform { low, high } if low > high => {
                bad("integer range needs low <= high")
            }
            _ => Ok(()),
        }
    }

    fn sample(&self, rng: &mut StdRng) -> HyperValue {
        match self {
            Distribution::Choice(values) => values[rng.random_range(0..values.len())].clone(),
            Distribution::Uniform { low, high } => {
                HyperValue::Float(low + (high - low) * rng.random::<f64>())
            }
            Distribution::LogUniform { low, high } => {
                let (a, b) = (low.ln(), high.ln());
                HyperValue::Float((a + (b - a) * rng.random::<f64>()).exp())
            }
            Distribution::IntUniform { low, high } => {
                HyperValue::Int(rng.random_range(*low..=*high))
            }
        }
    }
}

/// Cross-validates `n_iter` hyperparameter sets drawn from `space` (seeded
/// by `cv.seed`) over `base` and picks the best. When every entry is a
/// `Choice` and the combinations number at most `n_iter`, tries each once
/// instead, as scikit-learn does.
pub fn random_search(
    algorithm: &str,
    base: &BTreeMap<String, HyperValue>,
    space: &BTreeMap<String, Distribution>,
    n_iter: usize,
    x: &Features,
    y: &Target,
    cv: &CvSettings,
) -> Result<SearchOutcome, TrainError> {
    if n_iter == 0 || n_iter > MAX_CANDIDATES {
        return Err(TrainError::Data(format!(
            "n_iter must be in 1..={MAX_CANDIDATES}, got {n_iter}"
        )));
    }
    for (name, distribution) in space {
        distribution.check(name)?;
    }
    let choices: Option<BTreeMap<String, Vec<HyperValue>>> = space
        .iter()
        .map(|(name, d)| match d {
            Distribution::Choice(values) => Some((name.clone(), values.clone())),
            _ => None,
        })
        .collect();
    if let Some(grid) = choices
        && grid
            .values()
            .try_fold(1usize, |n, v| n.checked_mul(v.len()))
            .is_some_and(|n| n <= n_iter)
    {
        return run_search(algorithm, base, combinations(&grid)?, x, y, cv);
    }
    // A stream apart from the folds' (same seed, different use).
    let mut rng = StdRng::seed_from_u64(cv.seed ^ 0x5eed_5ea7_c4a1_d1d0);
    let candidates = (0..n_iter)
        .map(|_| {
            space
                .iter()
                .map(|(name, d)| (name.clone(), d.sample(&mut rng)))
                .collect()
        })
        .collect();
    run_search(algorithm, base, candidates, x, y, cv)
}

#[cfg(test)]
mod tests {
    use super::super::linear::testdata;
    use super::*;

    fn classes(
        truth: &[i64],
        predicted: &[i64],
        proba: Option<Vec<Vec<f64>>>,
    ) -> (Target, Predictions) {
        let y = Target::classes(truth);
        let Target::Classes { classes, .. } = &y else {
            unreachable!()
        };
        let proba = proba.map(|rows| {
            let cols = rows[0].len();
            ndarray::Array2::from_shape_vec((rows.len(), cols), rows.concat()).unwrap()
        });
        let p = Predictions::Classes {
            classes: classes.clone(),
            predicted: predicted.to_vec(),
            proba,
        };
        (y, p)
    }

    // Expected values: scikit-learn 1.9.1 on the same vectors.
    #[test]
    fn metrics_match_scikit_learn() {
        let positive = [0.1, 0.8, 0.4, 0.3, 0.9, 0.6, 0.7, 0.2];
        let proba: Vec<Vec<f64>> = positive.iter().map(|p| vec![1.0 - p, *p]).collect();
        let (y, p) = classes(
            &[0, 1, 1, 0, 1, 1, 0, 0],
            &[0, 1, 0, 0, 1, 1, 1, 0],
            Some(proba),
        );
        let close = |metric: &str, want: f64| {
            let got = score(metric, &y, &p).unwrap();
            assert!((got - want).abs() < 1e-12, "{metric}: {got} vs {want}");
        };
        close("accuracy", 0.75);
        close("f1", 0.75);
        close("roc_auc", 0.875);
        close("log_loss", 0.4555965297311108);

        let tied = [0.1, 0.8, 0.4, 0.4, 0.8, 0.6, 0.7, 0.2];
        let positive: Vec<bool> = [0, 1, 1, 0, 1, 1, 0, 0].iter().map(|&c| c == 1).collect();
        let auc = sluice_metrics::roc_auc(&positive, &tied).unwrap();
        assert!((auc - 0.84375).abs() < 1e-12);

        let proba = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.2, 0.3, 0.5],
            vec![0.1, 0.2, 0.7],
            vec![0.2, 0.2, 0.6],
            vec![0.1, 0.8, 0.1],
            vec![0.3, 0.4, 0.3],
        ];
        let (y, p) = classes(&[0, 1, 2, 2, 1, 0], &[0, 2, 2, 2, 1, 1], Some(proba));
        assert!((score("f1", &y, &p).unwrap() - 0.6555555555555556).abs() < 1e-12);
        assert!((score("roc_auc", &y, &p).unwrap() - 0.9583333333333334).abs() < 1e-12);
        assert!((score("log_loss", &y, &p).unwrap() - 0.642544111934923).abs() < 1e-12);

        let y = Target::Values(vec![3.0, -0.5, 2.0, 7.0]);
        let p = Predictions::Values(vec![2.5, 0.0, 2.0, 8.0]);
        assert!((score("r2", &y, &p).unwrap() - 0.9486081370449679).abs() < 1e-12);
        assert!((score("rmse", &y, &p).unwrap() - 0.6123724356957945).abs() < 1e-12);

        assert!(
            score("precision", &y, &p)
                .unwrap_err()
                .to_string()
                .contains("unknown metric")
        );
        assert!(
            score("accuracy", &y, &p)
                .unwrap_err()
                .to_string()
                .contains("class labels")
        );
    }

    fn standardised(name: &str) -> (Features, Target) {
        let (x, y) = testdata::classification(name);
        (testdata::standardise(&x, &x).0, y)
    }

    fn cv(metric: &str) -> CvSettings {
        CvSettings {
            folds: 5,
            seed: 11,
            metric: Metric::parse(metric).unwrap(),
        }
    }

    #[test]
    fn cross_validation_scores_each_fold() {
        let (x, y) = standardised("breast_cancer");
        let score = cross_validate(
            "logistic-regression",
            &BTreeMap::new(),
            &x,
            &y,
            &cv("accuracy"),
        )
        .unwrap();
        assert_eq!(score.folds.len(), 5);
        // scikit-learn's 5-fold CV of this pipeline scores about 0.98.
        assert!(score.mean > 0.96 && score.std < 0.03, "{score:?}");
        assert_eq!(
            score,
            cross_validate(
                "logistic-regression",
                &BTreeMap::new(),
                &x,
                &y,
                &cv("accuracy")
            )
            .unwrap()
        );
    }

    #[test]
    fn grid_search_picks_the_best_candidate_by_metric() {
        let (x, y) = standardised("wine");
        let grid = BTreeMap::from([(
            "c".to_string(),
            vec![
                HyperValue::Float(1e-4),
                HyperValue::Float(1.0),
                HyperValue::Float(100.0),
            ],
        )]);
        let base = BTreeMap::from([("max_iter".to_string(), HyperValue::Int(200))]);
        let outcome =
            grid_search("logistic-regression", &base, &grid, &x, &y, &cv("log_loss")).unwrap();
        assert_eq!(outcome.candidates.len(), 3);
        assert_eq!(outcome.best.get("max_iter"), Some(&HyperValue::Int(200)));
        let lowest = outcome
            .candidates
            .iter()
            .map(|c| c.score.mean)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(outcome.best_score.mean, lowest);
        // Strong regularisation (c = 1e-4) leaves near-uniform probabilities.
        assert_ne!(outcome.best.get("c"), Some(&HyperValue::Float(1e-4)));

        let by_accuracy =
            grid_search("logistic-regression", &base, &grid, &x, &y, &cv("accuracy")).unwrap();
        let highest = by_accuracy
            .candidates
            .iter()
            .map(|c| c.score.mean)
            .fold(0.0, f64::max);
        assert_eq!(by_accuracy.best_score.mean, highest);

        let typo = BTreeMap::from([("C".to_string(), vec![HyperValue::Float(1.0)])]);
        let err =
            grid_search("logistic-regression", &base, &typo, &x, &y, &cv("accuracy")).unwrap_err();
        assert!(
            matches!(&err, TrainError::Hyper { name, .. } if name == "C"),
            "{err}"
        );
    }

    #[test]
    fn random_search_is_seeded() {
        let (x, y) = standardised("wine");
        let space = BTreeMap::from([(
            "c".to_string(),
            Distribution::LogUniform {
                low: 1e-3,
                high: 1e2,
            },
        )]);
        let run = |seed| {
            let settings = CvSettings {
                folds: 3,
                seed,
                metric: Metric::Accuracy,
            };
            random_search(
                "logistic-regression",
                &BTreeMap::new(),
                &space,
                4,
                &x,
                &y,
                &settings,
            )
            .unwrap()
        };
        let a = run(1);
        assert_eq!(a.candidates.len(), 4);
        assert_eq!(a, run(1));
        assert_ne!(a.candidates[0].params, run(2).candidates[0].params);
        for candidate in &a.candidates {
            let Some(HyperValue::Float(c)) = candidate.params.get("c") else {
                panic!()
            };
            assert!((1e-3..1e2).contains(c));
        }
        // Few enough choices: each tried once.
        let choices = BTreeMap::from([(
            "fit_intercept".to_string(),
            Distribution::Choice(vec![HyperValue::Bool(true), HyperValue::Bool(false)]),
        )]);
        let settings = CvSettings {
            folds: 3,
            seed: 1,
            metric: Metric::Accuracy,
        };
        let outcome = random_search(
            "logistic-regression",
            &BTreeMap::new(),
            &choices,
            10,
            &x,
            &y,
            &settings,
        )
        .unwrap();
        assert_eq!(outcome.candidates.len(), 2);
    }

    #[test]
    fn regression_search_minimises_rmse() {
        let (x, y) = testdata::regression("diabetes");
        let grid = BTreeMap::from([(
            "alpha".to_string(),
            vec![
                HyperValue::Float(0.01),
                HyperValue::Float(1.0),
                HyperValue::Float(100.0),
            ],
        )]);
        let outcome = grid_search("ridge", &BTreeMap::new(), &grid, &x, &y, &cv("rmse")).unwrap();
        let lowest = outcome
            .candidates
            .iter()
            .map(|c| c.score.mean)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(outcome.best_score.mean, lowest);
        // Diabetes features are scaled small: little shrinkage fits best.
        assert_eq!(outcome.best.get("alpha"), Some(&HyperValue::Float(0.01)));
    }
}
