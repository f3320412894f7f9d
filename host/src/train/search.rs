//! Cross-validated hyperparameter search. (Being written.)
