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
    cross_validate_folds(algorithm, params, x, y, splits, cv, &mut |_| {})
}

/// [`cross_validate_on`], calling `fold_done(i)` after fold `i` is scored.
fn cross_validate_folds(
    algorithm: &str,
    params: &BTreeMap<String, HyperValue>,
    x: &Features,
    y: &Target,
    splits: &[super::split::Split],
    cv: &CvSettings,
    fold_done: &mut dyn FnMut(usize),
) -> Result<CvScore, TrainError> {
    let learner = learner(algorithm, &HyperParams::new(params.clone()), cv.seed)?;
    let mut folds = Vec::with_capacity(splits.len());
    for (i, split) in splits.iter().enumerate() {
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
        fold_done(i);
    }
    let mean = folds.iter().sum::<f64>() / folds.len() as f64;
    let std =
        (folds.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / folds.len() as f64).sqrt();
    Ok(CvScore { mean, std, folds })
}

/// Where a search is, reported after every fold fit: candidate `candidate`
/// (from 1) of `candidates` known so far, fold `fold` (from 1) of `folds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchProgress {
    pub candidate: usize,
    pub candidates: usize,
    pub fold: usize,
    pub folds: usize,
}

fn no_progress(_: SearchProgress) {}

/// What a search may do beyond its grid, and who hears of its progress.
pub struct SearchOptions<'a> {
    /// Most values a grid search may add past the edge of a numeric grid
    /// whose best value is on that edge (0: none).
    pub extend: usize,
    pub progress: &'a dyn Fn(SearchProgress),
}

impl Default for SearchOptions<'_> {
    fn default() -> Self {
        SearchOptions {
            extend: 0,
            progress: &no_progress,
        }
    }
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
    /// Every candidate in the order tried (grid first, then extensions).
    pub candidates: Vec<Candidate>,
    /// Values tried past the edge of the grid, in the order tried.
    pub extended: Vec<(String, HyperValue)>,
}

/// Scores each candidate (merged over `base`) on the same folds.
fn run_search(
    algorithm: &str,
    base: &BTreeMap<String, HyperValue>,
    candidates: Vec<BTreeMap<String, HyperValue>>,
    x: &Features,
    y: &Target,
    cv: &CvSettings,
    progress: &dyn Fn(SearchProgress),
) -> Result<(SearchOutcome, Vec<super::split::Split>), TrainError> {
    if x.rows() != y.len() {
        return Err(TrainError::Data(format!(
            "{} feature rows but {} target values",
            x.rows(),
            y.len()
        )));
    }
    let splits = k_fold(y, cv.folds, cv.seed)?;
    let total = candidates.len();
    let mut scored = Vec::with_capacity(total);
    for (index, candidate) in candidates.into_iter().enumerate() {
        let mut params = base.clone();
        params.extend(candidate);
        let score = cross_validate_folds(algorithm, &params, x, y, &splits, cv, &mut |fold| {
            progress(SearchProgress {
                candidate: index + 1,
                candidates: total,
                fold: fold + 1,
                folds: splits.len(),
            })
        })?;
        tracing::debug!(
            ?params,
            mean = score.mean,
            std = score.std,
            "search candidate scored"
        );
        scored.push(Candidate { params, score });
    }
    let mut best = 0;
    for (i, candidate) in scored.iter().enumerate().skip(1) {
        if better(cv.metric, candidate.score.mean, scored[best].score.mean) {
            best = i;
        }
    }
    let outcome = SearchOutcome {
        metric: cv.metric,
        best: scored[best].params.clone(),
        best_score: scored[best].score.clone(),
        candidates: scored,
        extended: Vec::new(),
    };
    Ok((outcome, splits))
}

/// Whether score `a` beats `b` (strictly: ties go to the earlier candidate).
fn better(metric: Metric, a: f64, b: f64) -> bool {
    if metric.greater_is_better() {
        a > b
    } else {
        a < b
    }
}

/// A numeric hyperparameter value as a float (`None` for other kinds).
fn numeric(value: &HyperValue) -> Option<f64> {
    match value {
        HyperValue::Int(v) => Some(*v as f64),
        HyperValue::Float(v) => Some(*v),
        _ => None,
    }
}

/// The next value past the edge of `key`'s tried values when the best
/// value sits on that edge: one more log-scale step of the ratio between
/// the two outermost values (`[1, 4, 16]` with 16 best gives 64; with 1
/// best, 0.25). `None` when the values are not all positive numbers of one
/// kind, are fewer than two, or the best is inside them.
fn edge_step(tried: &[HyperValue], best: &HyperValue) -> Option<HyperValue> {
    let is_int = matches!(best, HyperValue::Int(_));
    if tried
        .iter()
        .any(|v| matches!(v, HyperValue::Int(_)) != is_int)
    {
        return None;
    }
    let mut values: Vec<f64> = tried.iter().map(numeric).collect::<Option<_>>()?;
    values.sort_by(f64::total_cmp);
    values.dedup();
    let best = numeric(best)?;
    if values.len() < 2 || values[0] <= 0.0 || !values.iter().all(|v| v.is_finite()) {
        return None;
    }
    let n = values.len();
    let next = if best == values[n - 1] {
        best * (values[n - 1] / values[n - 2])
    } else if best == values[0] {
        best / (values[1] / values[0])
    } else {
        return None;
    };
    if !next.is_finite() || next <= 0.0 {
        return None;
    }
    if is_int {
        let rounded = next.round();
        // an integer step that rounds back onto the edge goes nowhere
        (rounded != best && rounded >= 1.0).then_some(HyperValue::Int(rounded as i64))
    } else {
        Some(HyperValue::Float(next))
    }
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
    grid_search_with(algorithm, base, grid, x, y, cv, &SearchOptions::default())
}

/// [`grid_search`], then, while the best value of a numeric key of the
/// grid sits on the edge of the values tried, one more value past that
/// edge (see [`edge_step`]), up to `options.extend` values in all. A value
/// the learner refuses (out of its range) ends the extension of that key.
pub fn grid_search_with(
    algorithm: &str,
    base: &BTreeMap<String, HyperValue>,
    grid: &BTreeMap<String, Vec<HyperValue>>,
    x: &Features,
    y: &Target,
    cv: &CvSettings,
    options: &SearchOptions<'_>,
) -> Result<SearchOutcome, TrainError> {
    let size = grid
        .values()
        .try_fold(1usize, |n, v| n.checked_mul(v.len().max(1)));
    if size.is_none_or(|n| n > MAX_CANDIDATES) {
        return Err(TrainError::Data(format!(
            "the grid has more than {MAX_CANDIDATES} combinations"
        )));
    }
    let (mut outcome, splits) = run_search(
        algorithm,
        base,
        combinations(grid)?,
        x,
        y,
        cv,
        options.progress,
    )?;
    let mut tried = grid.clone();
    let mut refused = std::collections::BTreeSet::new();
    while outcome.extended.len() < options.extend {
        let Some((key, value)) = tried.iter().find_map(|(key, values)| {
            let best = outcome.best.get(key)?;
            (!refused.contains(key))
                .then(|| edge_step(values, best))
                .flatten()
                .map(|v| (key.clone(), v))
        }) else {
            break;
        };
        let mut params = outcome.best.clone();
        params.insert(key.clone(), value.clone());
        let index = outcome.candidates.len();
        let score = match cross_validate_folds(algorithm, &params, x, y, &splits, cv, &mut |fold| {
            (options.progress)(SearchProgress {
                candidate: index + 1,
                candidates: index + 1,
                fold: fold + 1,
                folds: splits.len(),
            })
        }) {
            Ok(score) => score,
            Err(TrainError::Hyper { .. }) => {
                refused.insert(key);
                continue;
            }
            Err(e) => return Err(e),
        };
        tracing::debug!(?params, mean = score.mean, "search extended past its grid");
        tried.get_mut(&key).expect("a grid key").push(value.clone());
        outcome.extended.push((key, value));
        if better(cv.metric, score.mean, outcome.best_score.mean) {
            outcome.best = params.clone();
            outcome.best_score = score.clone();
        }
        outcome.candidates.push(Candidate { params, score });
    }
    Ok(outcome)
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
    random_search_with(algorithm, base, space, n_iter, x, y, cv, &no_progress)
}

/// [`random_search`], reporting its progress.
#[allow(clippy::too_many_arguments)]
pub fn random_search_with(
    algorithm: &str,
    base: &BTreeMap<String, HyperValue>,
    space: &BTreeMap<String, Distribution>,
    n_iter: usize,
    x: &Features,
    y: &Target,
    cv: &CvSettings,
    progress: &dyn Fn(SearchProgress),
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
        return Ok(run_search(algorithm, base, combinations(&grid)?, x, y, cv, progress)?.0);
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
    Ok(run_search(algorithm, base, candidates, x, y, cv, progress)?.0)
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

    #[test]
    fn edge_step_is_one_more_log_step_past_the_best_edge() {
        let floats = |v: &[f64]| v.iter().map(|&f| HyperValue::Float(f)).collect::<Vec<_>>();
        let grid = floats(&[1.0, 4.0, 16.0]);
        assert_eq!(
            edge_step(&grid, &HyperValue::Float(16.0)),
            Some(HyperValue::Float(64.0))
        );
        assert_eq!(
            edge_step(&grid, &HyperValue::Float(1.0)),
            Some(HyperValue::Float(0.25))
        );
        assert_eq!(edge_step(&grid, &HyperValue::Float(4.0)), None, "inside");
        assert_eq!(edge_step(&floats(&[2.0]), &HyperValue::Float(2.0)), None);
        assert_eq!(
            edge_step(&floats(&[0.0, 1.0]), &HyperValue::Float(1.0)),
            None
        );
        let ints = [HyperValue::Int(2), HyperValue::Int(4)];
        assert_eq!(
            edge_step(&ints, &HyperValue::Int(4)),
            Some(HyperValue::Int(8))
        );
        let text = [
            HyperValue::Text("gini".into()),
            HyperValue::Text("entropy".into()),
        ];
        assert_eq!(edge_step(&text, &HyperValue::Text("gini".into())), None);
    }

    #[test]
    fn grid_search_extends_a_grid_whose_best_is_on_its_edge() {
        let (x, y) = standardised("breast_cancer");
        // far too strong regularisation: the best is the largest c on offer
        let grid = BTreeMap::from([(
            "c".to_string(),
            vec![HyperValue::Float(1e-5), HyperValue::Float(1e-4)],
        )]);
        let seen = std::cell::RefCell::new(Vec::new());
        let record = |p: SearchProgress| seen.borrow_mut().push(p);
        let options = SearchOptions {
            extend: 3,
            progress: &record,
        };
        let outcome = grid_search_with(
            "logistic-regression",
            &BTreeMap::new(),
            &grid,
            &x,
            &y,
            &cv("roc_auc"),
            &options,
        )
        .unwrap();
        let plain = grid_search(
            "logistic-regression",
            &BTreeMap::new(),
            &grid,
            &x,
            &y,
            &cv("roc_auc"),
        )
        .unwrap();
        assert_eq!(plain.best.get("c"), Some(&HyperValue::Float(1e-4)));
        assert!(plain.extended.is_empty());
        let extended: Vec<f64> = (outcome.extended.iter())
            .map(|(k, v)| {
                assert_eq!(k, "c");
                numeric(v).unwrap()
            })
            .collect();
        assert_eq!(extended.len(), 3, "{extended:?}");
        for (got, want) in extended.iter().zip([1e-3, 1e-2, 1e-1]) {
            assert!((got / want - 1.0).abs() < 1e-9, "{extended:?}");
        }
        assert_eq!(outcome.candidates.len(), 5);
        assert!(outcome.best_score.mean > plain.best_score.mean);
        assert_eq!(outcome.best.get("c"), Some(&HyperValue::Float(extended[2])));
        // every fold of every candidate, extensions included, was reported
        let seen = seen.into_inner();
        assert_eq!(seen.len(), 5 * 5);
        assert_eq!(
            seen[0],
            SearchProgress {
                candidate: 1,
                candidates: 2,
                fold: 1,
                folds: 5
            }
        );
        assert_eq!(seen.last().unwrap().candidate, 5);
    }
}
