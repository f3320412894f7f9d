"""Baselines for the chat-moderation model, on sluice's own held-out rows.

Usage: chat_baseline.py MESSAGES_CSV TEST_PREDICTIONS_PARQUET
Prints one JSON object: held-out F1 / ROC-AUC of sluice's model (recomputed
by scikit-learn from its predictions), of the usual scikit-learn recipe
(TF-IDF word 1-2-grams + logistic regression, C by 5-fold CV on F1) fitted
on exactly the rows sluice trained on, and of alt-profanity-check's
pretrained linear model used as it ships (no fitting).
"""
import json
import sys
import time

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

messages = pd.read_csv(sys.argv[1])
held_out = pd.read_parquet(sys.argv[2])
test_texts = set(held_out["text"])
train = messages[~messages["text"].isin(test_texts)]
y_test = held_out["label"].to_numpy()
out = {
    "rows": {"train": int(len(train)), "test": int(len(held_out))},
    "sluice": {
        "f1": f1_score(y_test, held_out["prediction"]),
        "roc_auc": roc_auc_score(y_test, held_out["score"]),
    },
}

started = time.perf_counter()
recipe = GridSearchCV(
    make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(class_weight="balanced", max_iter=1000),
    ),
    {"logisticregression__C": [1.0, 4.0, 16.0]},
    scoring="f1",
    cv=5,
)
recipe.fit(train["text"], train["label"])
out["sklearn_tfidf_logreg"] = {
    "f1": f1_score(y_test, recipe.predict(held_out["text"])),
    "roc_auc": roc_auc_score(y_test, recipe.predict_proba(held_out["text"])[:, 1]),
    "fit_seconds": time.perf_counter() - started,
}

from profanity_check import predict_prob  # noqa: E402  (slow import)

prob = predict_prob(list(held_out["text"]))
out["alt_profanity_check"] = {
    "f1": f1_score(y_test, prob >= 0.5),
    "roc_auc": roc_auc_score(y_test, prob),
}
print(json.dumps(out))
