"""scikit-learn side of crates/cli/benches/train.rs: fits one estimator on the
files the bench wrote and prints one JSON line with the fit times and the
test accuracy / F1, so both sides are timed on identical data.

usage: train_sklearn.py {logistic-regression|decision-tree} {dense|sparse}
                        TRAIN TEST REPEATS SEED
dense files are CSV (label last), sparse files svmlight (zero-based, 2^16).
"""

import json
import sys
import time

import numpy as np
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.tree import DecisionTreeClassifier


def load(kind, path):
    if kind == "dense":
        data = np.loadtxt(path, delimiter=",")
        return np.ascontiguousarray(data[:, :-1]), data[:, -1].astype(np.int64)
    x, y = load_svmlight_file(path, n_features=1 << 16, zero_based=True)
    return x, y.astype(np.int64)


def main():
    algorithm, kind, train, test, repeats, seed = sys.argv[1:7]
    x_train, y_train = load(kind, train)
    x_test, y_test = load(kind, test)
    times = []
    for _ in range(int(repeats)):
        if algorithm == "logistic-regression":
            model = LogisticRegression()  # lbfgs, C=1, max_iter=100, tol=1e-4
        else:
            model = DecisionTreeClassifier(random_state=int(seed))
        started = time.perf_counter()
        model.fit(x_train, y_train)
        times.append(time.perf_counter() - started)
    predicted = model.predict(x_test)
    print(
        json.dumps(
            {
                "fit_seconds": times,
                "accuracy": accuracy_score(y_test, predicted),
                "f1": f1_score(y_test, predicted),
                "n_iter": int(np.max(getattr(model, "n_iter_", [0]))),
            }
        )
    )


if __name__ == "__main__":
    main()
