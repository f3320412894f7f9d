use std::path::PathBuf;

/// Every error names the operation and the database (URL without password).
///
/// The cause is part of the message (the CLI prints `{error}` only) and is
/// kept as a plain field rather than `#[source]`, so `{:#}` chains do not
/// print it twice. Match on `cause` to inspect the driver error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{op} on {url}: {path}: {message}", path = path.display())]
    Io {
        op: &'static str,
        url: String,
        path: PathBuf,
        message: String,
    },
    #[error("{op} on {url}: {cause}")]
    Database {
        op: &'static str,
        url: String,
        cause: sqlx::Error,
    },
    #[error("{op} on {url}: migrating the schema: {cause}")]
    Migrate {
        op: &'static str,
        url: String,
        cause: sqlx::migrate::MigrateError,
    },
    #[error("{op} on {url}: {what} `{key}` does not exist")]
    NotFound {
        op: &'static str,
        url: String,
        what: &'static str,
        key: String,
    },
    #[error("{op} on {url}: {reason}")]
    Invalid {
        op: &'static str,
        url: String,
        reason: String,
    },
}

impl StoreError {
    /// The driver error, if the database refused or failed the operation.
    pub fn database_error(&self) -> Option<&sqlx::Error> {
        match self {
            StoreError::Database { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

/// What an operation body fails with; [`super::Store`] adds the op name and URL.
#[derive(Debug)]
pub(super) enum OpError {
    Sql(sqlx::Error),
    NotFound { what: &'static str, key: String },
    Invalid(String),
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        OpError::Sql(e)
    }
}

impl OpError {
    pub(super) fn into_store_error(self, op: &'static str, url: String) -> StoreError {
        match self {
            OpError::Sql(cause) => StoreError::Database { op, url, cause },
            OpError::NotFound { what, key } => StoreError::NotFound { op, url, what, key },
            OpError::Invalid(reason) => StoreError::Invalid { op, url, reason },
        }
    }
}
