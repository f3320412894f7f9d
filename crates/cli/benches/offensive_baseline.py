"""Offensive-language baselines for the plugins benchmark, on the rows the
benchmark gives them.

Usage: offensive_baseline.py ROWS_CSV
ROWS_CSV has columns `set,text,label` (label 1 = offensive, empty when the
set is unlabelled). Prints one JSON object: per detector and per set, the
number of rows flagged, precision / recall / F1 of the flag against the
labels, ROC-AUC of the score, and the detector's throughput over all rows.
Detectors, as they ship (no fitting): alt-profanity-check 1.9.1
(`predict_prob` ≥ 0.5, a linear SVM on TF-IDF) and better-profanity 0.7.0
(`contains_profanity`; its score is the flag itself).
Install with crates/cli/benches/offensive_venv.sh.
"""
import csv
import json
import sys
import time

from better_profanity import profanity
from profanity_check import predict_prob
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
texts = [r["text"] for r in rows]


def alt_profanity_check():
    return [float(p) for p in predict_prob(texts)]


def better_profanity():
    profanity.load_censor_words()
    return [1.0 if profanity.contains_profanity(t) else 0.0 for t in texts]


out = {}
for name, run in [("alt-profanity-check", alt_profanity_check), ("better-profanity", better_profanity)]:
    started = time.perf_counter()
    scores = run()
    elapsed = time.perf_counter() - started
    per_set = {}
    for set_name in dict.fromkeys(r["set"] for r in rows):
        idx = [i for i, r in enumerate(rows) if r["set"] == set_name]
        flags = [scores[i] >= 0.5 for i in idx]
        entry = {"rows": len(idx), "flagged": sum(flags)}
        labels = [rows[i]["label"] for i in idx]
        if all(l != "" for l in labels):
            y = [int(l) for l in labels]
            if 0 < sum(y) < len(y):
                entry.update(
                    precision=precision_score(y, flags, zero_division=0),
                    recall=recall_score(y, flags, zero_division=0),
                    f1=f1_score(y, flags, zero_division=0),
                    roc_auc=roc_auc_score(y, [scores[i] for i in idx]),
                )
        per_set[set_name] = entry
    out[name] = {"sets": per_set, "rows_per_s": len(texts) / elapsed}
print(json.dumps(out))
