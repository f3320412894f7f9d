"""scikit-learn side of crates/cli/benches/train.rs: fits one estimator on the
files the bench wrote and prints one JSON line with the fit times and the
held-out scores, so both sides are timed on identical data.

usage: train_sklearn.py ALGORITHM {dense|sparse} TRAIN TEST REPEATS SEED
ALGORITHM: logistic-regression, decision-tree, gaussian-nb, multinomial-nb,
elastic-net, k-means. Dense files are CSV (label or value last), sparse
files svmlight (zero-based, 2^16). `quality` is the held-out accuracy
(classifiers), R² (elastic-net) or mean squared distance to the nearest
centre (k-means); SLUICE_BENCH_K, SLUICE_BENCH_N_INIT and
SLUICE_BENCH_ALPHA carry the bench's k-means and elastic-net settings.
"""

import json
import os
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import ElasticNet, LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.naive_bayes import GaussianNB, MultinomialNB
from sklearn.tree import DecisionTreeClassifier


def load(kind, path, regression):
    if kind == "dense":
        data = np.loadtxt(path, delimiter=",")
        y = data[:, -1] if regression else data[:, -1].astype(np.int64)
        return np.ascontiguousarray(data[:, :-1]), y
    x, y = load_svmlight_file(path, n_features=1 << 16, zero_based=True)
    return x, y if regression else y.astype(np.int64)


def estimator(algorithm, seed):
    if algorithm == "logistic-regression":
        return LogisticRegression()  # lbfgs, C=1, max_iter=100, tol=1e-4
    if algorithm == "decision-tree":
        return DecisionTreeClassifier(random_state=seed)
    if algorithm == "gaussian-nb":
        return GaussianNB()
    if algorithm == "multinomial-nb":
        return MultinomialNB(alpha=1.0)
    if algorithm == "elastic-net":
        alpha = float(os.environ.get("SLUICE_BENCH_ALPHA", "1.0"))
        return ElasticNet(alpha=alpha, l1_ratio=0.5, max_iter=1000, tol=1e-4)
    if algorithm == "k-means":
        return KMeans(
            n_clusters=int(os.environ.get("SLUICE_BENCH_K", "8")),
            n_init=int(os.environ.get("SLUICE_BENCH_N_INIT", "10")),
            max_iter=300,
            tol=1e-4,
            random_state=seed,
        )
    raise SystemExit(f"unknown algorithm {algorithm}")


def main():
    algorithm, kind, train, test, repeats, seed = sys.argv[1:7]
    regression = algorithm == "elastic-net"
    x_train, y_train = load(kind, train, regression)
    x_test, y_test = load(kind, test, regression)
    times = []
    for _ in range(int(repeats)):
        model = estimator(algorithm, int(seed))
        started = time.perf_counter()
        if algorithm == "k-means":
            model.fit(x_train)
        else:
            model.fit(x_train, y_train)
        times.append(time.perf_counter() - started)
    result = {"fit_seconds": times}
    if algorithm == "k-means":
        # -score is the sum of squared distances to the nearest centre
        result["quality"] = -model.score(x_test) / x_test.shape[0]
        result["n_iter"] = int(model.n_iter_)
    elif regression:
        result["quality"] = r2_score(y_test, model.predict(x_test))
        result["n_iter"] = int(model.n_iter_)
    else:
        predicted = model.predict(x_test)
        result["accuracy"] = accuracy_score(y_test, predicted)
        result["quality"] = result["accuracy"]
        result["f1"] = f1_score(y_test, predicted)
        result["n_iter"] = int(np.max(getattr(model, "n_iter_", [0])))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
