use std::collections::BTreeMap;

use super::super::split::train_test_split;
use super::super::{
    Features, HyperParams, HyperValue, Learner, Model, Predictions, SparseMatrix, Target,
    TrainError, learner,
};
use super::testdata;

fn params(pairs: &[(&str, HyperValue)]) -> HyperParams {
    HyperParams::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn accuracy(y: &Target, p: &Predictions) -> f64 {
    let (Target::Classes { classes, codes }, Predictions::Classes { predicted, .. }) = (y, p)
    else {
        panic!("classification")
    };
    let right = codes
        .iter()
        .zip(predicted)
        .filter(|(c, p)| classes[**c] == **p)
        .count();
    right as f64 / codes.len() as f64
}

/// Standardised train/test parts of a classification set.
fn held_out(name: &str, test: f64, seed: u64) -> (Features, Target, Features, Target) {
    let (x, y) = testdata::classification(name);
    let split = train_test_split(&y, test, seed).unwrap();
    let (train, held) =
        testdata::standardise(&x.select_rows(&split.train), &x.select_rows(&split.test));
    (
        train,
        y.select_rows(&split.train),
        held,
        y.select_rows(&split.test),
    )
}

fn logistic(pairs: &[(&str, HyperValue)]) -> Box<dyn Learner> {
    learner("logistic-regression", &params(pairs), 0).unwrap()
}

fn tight() -> Vec<(&'static str, HyperValue)> {
    vec![
        ("tol", HyperValue::Float(1e-10)),
        ("max_iter", HyperValue::Int(10_000)),
    ]
}

// Reference figures: scikit-learn 1.9.1, `LogisticRegression()` on the
// same split (`train_test_split(&y, 0.25, 0)`) after `StandardScaler`.
#[test]
fn binary_logistic_matches_scikit_learn_on_breast_cancer() {
    let (x, y, x_test, y_test) = held_out("breast_cancer", 0.25, 0);
    // Both stop at a gradient of 1e-4, a few 1e-3 from the optimum in
    // different places: compare the optimum itself (tol = 1e-10).
    let exact = logistic(&tight()).fit(&x, Some(&y)).unwrap();
    let Model::Logistic(fitted) = &exact else {
        panic!("logistic model")
    };
    assert!(fitted.converged());
    // scikit-learn's coef_[0][..3] and intercept_ at tol = 1e-10.
    for (j, want) in [-0.32725752, -0.4724292, -0.35982235]
        .into_iter()
        .enumerate()
    {
        assert!(
            (fitted.coefficient(j, 0) - want).abs() < 1e-6,
            "coef {j}: {}",
            fitted.coefficient(j, 0)
        );
    }
    assert!((fitted.intercept()[0] - 0.17602204).abs() < 1e-6);
    let model = logistic(&[]).fit(&x, Some(&y)).unwrap();
    let Model::Logistic(default_fit) = &model else {
        panic!("logistic model")
    };
    assert!(default_fit.converged() && default_fit.iterations() <= 30);
    let predictions = model.predict(&x_test).unwrap();
    assert!((accuracy(&y_test, &predictions) - 0.97887).abs() < 0.005);
    let Predictions::Classes {
        proba: Some(proba),
        classes,
        ..
    } = &predictions
    else {
        panic!()
    };
    assert_eq!(classes, &[0, 1]);
    for row in proba.outer_iter() {
        assert!((row.sum() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn multinomial_logistic_matches_scikit_learn_on_wine_and_digits() {
    let (x, y, x_test, y_test) = held_out("wine", 0.25, 0);
    let exact = logistic(&tight()).fit(&x, Some(&y)).unwrap();
    let Model::Logistic(fitted) = &exact else {
        panic!("logistic model")
    };
    // scikit-learn at tol = 1e-10: intercept_ and coef_[0][0].
    for (k, want) in [0.30386336, 0.55566745, -0.85953081]
        .into_iter()
        .enumerate()
    {
        assert!(
            (fitted.intercept()[k] - want).abs() < 1e-6,
            "intercept {k}: {}",
            fitted.intercept()[k]
        );
    }
    assert!((fitted.coefficient(0, 0) - 0.72420657).abs() < 1e-6);
    let model = logistic(&[]).fit(&x, Some(&y)).unwrap();
    let wine = accuracy(&y_test, &model.predict(&x_test).unwrap());
    assert!((wine - 0.93333).abs() < 0.005, "{wine}");

    let (x, y, x_test, y_test) = held_out("digits", 0.25, 0);
    let model = logistic(&[]).fit(&x, Some(&y)).unwrap();
    let digits = accuracy(&y_test, &model.predict(&x_test).unwrap());
    assert!((digits - 0.96896).abs() <= 0.005, "{digits}");
    let Predictions::Classes {
        proba: Some(proba), ..
    } = model.predict(&x_test).unwrap()
    else {
        panic!()
    };
    assert_eq!(proba.ncols(), 10);
}

#[test]
fn balanced_class_weight_reweights() {
    let (x, y, x_test, y_test) = held_out("breast_cancer", 0.25, 0);
    let plain = logistic(&[]).fit(&x, Some(&y)).unwrap();
    let balanced = logistic(&[("class_weight", HyperValue::Text("balanced".into()))])
        .fit(&x, Some(&y))
        .unwrap();
    assert_ne!(plain.to_bytes(), balanced.to_bytes());
    // scikit-learn: 0.97183 with class_weight="balanced".
    let score = accuracy(&y_test, &balanced.predict(&x_test).unwrap());
    assert!((score - 0.97183).abs() < 0.005, "{score}");
}

#[test]
fn fitting_is_deterministic_and_round_trips() {
    let (x, y, x_test, _) = held_out("wine", 0.25, 0);
    let a = logistic(&[]).fit(&x, Some(&y)).unwrap();
    let b = learner("logistic-regression", &params(&[]), 99)
        .unwrap()
        .fit(&x, Some(&y))
        .unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());
    let back = Model::from_bytes(&a.to_bytes()).unwrap();
    assert_eq!(a.predict(&x_test).unwrap(), back.predict(&x_test).unwrap());
}

#[test]
fn hyperparameter_typos_and_bad_values_are_rejected() {
    let err = learner(
        "logistic-regression",
        &params(&[("C", HyperValue::Float(2.0))]),
        0,
    )
    .err()
    .unwrap();
    assert!(
        matches!(&err, TrainError::Hyper { name, .. } if name == "C"),
        "{err}"
    );
    assert!(err.to_string().contains("unknown hyperparameter"), "{err}");
    let err = learner(
        "logistic-regression",
        &params(&[("c", HyperValue::Float(-1.0))]),
        0,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("`c`"), "{err}");
    let err = learner(
        "logistic-regression",
        &params(&[("class_weight", HyperValue::Text("auto".into()))]),
        0,
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("not one of none, balanced"),
        "{err}"
    );
    let err = learner("ridge", &params(&[("l1_ratio", HyperValue::Float(0.5))]), 0)
        .err()
        .unwrap();
    assert!(
        matches!(&err, TrainError::Hyper { name, .. } if name == "l1_ratio"),
        "{err}"
    );
}

#[test]
fn nan_features_are_rejected_naming_row_and_feature() {
    let (x, y) = testdata::classification("wine");
    let Features::Dense(mut m) = x else {
        unreachable!()
    };
    m[[17, 4]] = f64::NAN;
    let err = logistic(&[])
        .fit(&Features::Dense(m), Some(&y))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("feature 4 of row 17"), "{err}");
    let err = logistic(&[]).fit(
        &testdata::regression("diabetes").0,
        Some(&Target::Values(vec![0.0; 442])),
    );
    assert!(err.err().unwrap().to_string().contains("class labels"));
}

/// Dense rows (already f32-representable) to CSR, dropping zeros.
fn to_sparse(x: &Features) -> SparseMatrix {
    let Features::Dense(m) = x else {
        unreachable!()
    };
    let mut sparse = SparseMatrix {
        dim: m.ncols(),
        row_offsets: vec![0],
        ..Default::default()
    };
    for row in m.outer_iter() {
        for (j, &v) in row.iter().enumerate() {
            if v != 0.0 {
                sparse.indices.push(j as u32);
                sparse.values.push(v as f32);
            }
        }
        sparse.row_offsets.push(sparse.indices.len());
    }
    sparse
}

#[test]
fn sparse_and_dense_inputs_give_the_same_model() {
    // Digits pixels are small integers (exact in f32) and mostly zero.
    for classes in [&[0, 1][..], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9][..]] {
        let (x, y) = testdata::classification("digits");
        let Target::Classes { codes, .. } = &y else {
            unreachable!()
        };
        let rows: Vec<usize> = (0..400).filter(|&r| classes.contains(&codes[r])).collect();
        let (x, y) = (x.select_rows(&rows), y.select_rows(&rows));
        let sparse = Features::Sparse(to_sparse(&x));
        let dense_model = logistic(&[]).fit(&x, Some(&y)).unwrap();
        let sparse_model = logistic(&[]).fit(&sparse, Some(&y)).unwrap();
        let (Model::Logistic(a), Model::Logistic(b)) = (&dense_model, &sparse_model) else {
            panic!()
        };
        assert_eq!(a.iterations(), b.iterations());
        for j in 0..64 {
            assert!((a.coefficient(j, 0) - b.coefficient(j, 0)).abs() < 1e-9);
        }
        let (
            Predictions::Classes {
                proba: Some(pa), ..
            },
            Predictions::Classes {
                proba: Some(pb), ..
            },
        ) = (
            dense_model.predict(&x).unwrap(),
            sparse_model.predict(&sparse).unwrap(),
        )
        else {
            panic!()
        };
        assert!(pa.iter().zip(pb.iter()).all(|(a, b)| (a - b).abs() < 1e-9));
    }
}

#[test]
fn sparse_columns_without_entries_do_not_change_the_model() {
    // digits spread over 4,096 columns: 64 used, the rest never seen
    let (x, y) = testdata::classification("digits");
    let rows: Vec<usize> = (0..300).collect();
    let (x, y) = (x.select_rows(&rows), y.select_rows(&rows));
    let narrow = to_sparse(&x);
    let spread = |j: u32| (j * 61 + 7) % 4096;
    let mut wide = narrow.clone();
    wide.dim = 4096;
    wide.indices.iter_mut().for_each(|j| *j = spread(*j));
    // CSR rows must stay sorted for nothing; the solver reads them as given
    let a = logistic(&[])
        .fit(&Features::Sparse(narrow.clone()), Some(&y))
        .unwrap();
    let b = logistic(&[])
        .fit(&Features::Sparse(wide.clone()), Some(&y))
        .unwrap();
    let (Model::Logistic(a), Model::Logistic(b)) = (&a, &b) else {
        panic!()
    };
    assert_eq!(a.iterations(), b.iterations());
    for j in 0..64u32 {
        for k in 0..a.classes().len() {
            let (wa, wb) = (
                a.coefficient(j as usize, k),
                b.coefficient(spread(j) as usize, k),
            );
            assert!(
                (wa - wb).abs() < 1e-9,
                "feature {j} output {k}: {wa} vs {wb}"
            );
        }
    }
    let unused = (0..4096u32).filter(|j| (0..64).all(|i| spread(i) != *j));
    assert!(
        unused
            .into_iter()
            .all(|j| b.coefficient(j as usize, 0) == 0.0)
    );
    let (
        Predictions::Classes {
            proba: Some(pa), ..
        },
        Predictions::Classes {
            proba: Some(pb), ..
        },
    ) = (
        Model::Logistic(a.clone())
            .predict(&Features::Sparse(narrow))
            .unwrap(),
        Model::Logistic(b.clone())
            .predict(&Features::Sparse(wide))
            .unwrap(),
    )
    else {
        panic!()
    };
    assert!(pa.iter().zip(pb.iter()).all(|(a, b)| (a - b).abs() < 1e-9));
}

#[test]
fn least_squares_match_scikit_learn_on_diabetes() {
    let (x, y) = testdata::regression("diabetes");
    // scikit-learn 1.9.1 coef_ on the full data set.
    // (algorithm, hyperparameters, coefficients, tolerance)
    type Case = (
        &'static str,
        Vec<(&'static str, HyperValue)>,
        [f64; 10],
        f64,
    );
    let cases: [Case; 4] = [
        (
            "linear-regression",
            vec![],
            [
                -10.009866,
                -239.815644,
                519.84592,
                324.384646,
                -792.175639,
                476.739021,
                101.043268,
                177.063238,
                751.2737,
                67.626692,
            ],
            1e-4,
        ),
        (
            "ridge",
            vec![],
            [
                29.466112, -83.154276, 306.35268, 201.627734, 5.909614, -29.515495, -152.04028,
                117.311732, 262.94429, 111.878956,
            ],
            1e-4,
        ),
        (
            "elastic-net",
            vec![("alpha", HyperValue::Float(0.01))],
            [
                33.147367,
                -35.245354,
                211.024367,
                144.559236,
                21.931722,
                0.0,
                -115.619973,
                100.658917,
                185.325911,
                96.257335,
            ],
            0.5,
        ),
        (
            "elastic-net",
            vec![],
            [
                0.359018, 0.0, 3.259767, 2.20434, 0.528646, 0.250935, -1.861363, 2.114454,
                3.105835, 1.769851,
            ],
            0.02,
        ),
    ];
    for (name, pairs, want, tolerance) in cases {
        let model = learner(name, &params(&pairs), 0)
            .unwrap()
            .fit(&x, Some(&y))
            .unwrap();
        let Model::Linear(fitted) = &model else {
            panic!("linear model")
        };
        for (got, want) in fitted.coefficients().iter().zip(want) {
            assert!(
                (got - want).abs() <= tolerance,
                "{name}: {:?}",
                fitted.coefficients()
            );
        }
        assert!((fitted.intercept() - 152.133484).abs() < 1e-3 + tolerance);
        assert_eq!(model.predict(&x).unwrap().rows(), 442);
    }
    let sparse = Features::Sparse(SparseMatrix {
        dim: 1,
        row_offsets: vec![0, 0],
        ..Default::default()
    });
    let err = learner("ridge", &params(&[]), 0)
        .unwrap()
        .fit(&sparse, Some(&Target::Values(vec![1.0])))
        .err()
        .unwrap();
    assert!(err.to_string().contains("dense features"), "{err}");
}
