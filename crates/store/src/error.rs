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
    /// A change to a run this process no longer owns: its lease expired
    /// and another process recovered the run, or the run is over.
    #[error("{op} on {url}: run {run} is no longer owned by this process ({owner}): {reason}")]
    LeaseLost {
        op: &'static str,
        url: String,
        run: i64,
        owner: String,
        reason: String,
    },
    #[error("{op} on {url}: {reason}")]
    Invalid {
        op: &'static str,
        url: String,
        reason: String,
    },
    /// A conditional state change lost to another process's (a deployment
    /// already ended, one already active).
    #[error("{op} on {url}: {reason}")]
    Conflict {
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

    /// Whether the operation failed because the run's lease was lost.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, StoreError::LeaseLost { .. })
    }

    /// Whether another process changed the row first.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// What an operation body fails with; [`super::Store`] adds the op name and URL.
#[derive(Debug)]
pub(super) enum OpError {
    Sql(sqlx::Error),
    NotFound {
        what: &'static str,
        key: String,
    },
    Invalid(String),
    Conflict(String),
    LeaseLost {
        run: i64,
        owner: String,
        reason: String,
    },
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
            OpError::Conflict(reason) => StoreError::Conflict { op, url, reason },
            OpError::LeaseLost { run, owner, reason } => StoreError::LeaseLost {
                op,
                url,
                run,
                owner,
                reason,
            },
        }
    }
}
