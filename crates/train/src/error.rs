use thiserror::Error;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error("unknown algorithm `{name}` (known: {known})")]
    UnknownAlgorithm { name: String, known: String },
    /// A hyperparameter is unknown, of the wrong type or out of range;
    /// `name` is the key as written in the pipeline file.
    #[error("hyperparameter `{name}`: {message}")]
    Hyper { name: String, message: String },
    /// The data cannot be used as given (shape, NaN, too few classes...).
    #[error("{0}")]
    Data(String),
    /// The optimiser or the underlying library failed.
    #[error("fitting failed: {0}")]
    Fit(String),
    #[error("model bytes are corrupt: {0}")]
    CorruptModel(String),
}
