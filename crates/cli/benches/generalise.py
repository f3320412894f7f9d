"""Held-out quality and fit time: sluice's example design vs scikit-learn's
best comparable recipe, on exactly the same rows.

Usage: generalise.py DATA_CSV HELD_OUT_PARQUET KEY_COLUMNS [SLUICE_SECONDS]

DATA_CSV is the pipeline's source (`text`, `label`, KEY_COLUMN);
HELD_OUT_PARQUET is the train step's held-out table as the pipeline writes
it (`[output.held_out]`: the KEY_COLUMNS, comma-separated, that identify a
row, `label`, `prediction`, `score`), so
scikit-learn trains on exactly the rows sluice trained on (every row not
held out) and is scored on the held-out ones. The recipe:
word 1-2-gram and char_wb 2-5-gram `TfidfVectorizer(sublinear_tf=True)`
(a FeatureUnion) + `LogisticRegression(class_weight="balanced")`, C chosen
by the same 5-fold F1 search (GridSearchCV, refit on the training rows).
Prints one JSON object. Install: pip install -r crates/cli/benches/requirements.txt
"""
import json
import sys
import time

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import FeatureUnion, make_pipeline

data_csv, held_out_parquet, keys = sys.argv[1:4]
data = pd.read_csv(data_csv)
held_out = pd.read_parquet(held_out_parquet)
key = "_key"
for frame in (data, held_out):
    frame[key] = frame[keys.split(",")].astype(str).agg("\x1f".join, axis=1)
assert data[key].is_unique, f"{keys} do not identify a row"
test_keys = set(held_out[key])
train = data[~data[key].isin(test_keys)]
test = data.set_index(key, drop=False).loc[held_out[key]]
y_test = held_out["label"].to_numpy()
assert (test["label"].to_numpy() == y_test).all(), "held-out rows do not match the data"
out = {
    "rows": {"train": int(len(train)), "test": int(len(held_out))},
    "sluice": {
        "f1": f1_score(y_test, held_out["prediction"]),
        "roc_auc": roc_auc_score(y_test, held_out["score"]),
    },
}
if len(sys.argv) > 4:
    out["sluice"]["seconds"] = float(sys.argv[4])

recipe = GridSearchCV(
    make_pipeline(
        FeatureUnion([
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
        ]),
        LogisticRegression(class_weight="balanced", max_iter=1000),
    ),
    {"logisticregression__C": [4.0, 16.0, 64.0, 256.0]},
    scoring="f1",
    cv=StratifiedKFold(5, shuffle=True, random_state=7),
)
started = time.perf_counter()
recipe.fit(train["text"].fillna(""), train["label"])
seconds = time.perf_counter() - started
out["sklearn_word_char_wb_logreg"] = {
    "C": recipe.best_params_["logisticregression__C"],
    "f1": f1_score(y_test, recipe.predict(test["text"].fillna(""))),
    "roc_auc": roc_auc_score(y_test, recipe.predict_proba(test["text"].fillna(""))[:, 1]),
    "fit_seconds": seconds,
}
print(json.dumps(out))
