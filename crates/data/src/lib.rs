//! Tables: Arrow record batches in the host, converted to and from the
//! WIT-shaped chunks of `sluice-core` at the plugin boundary; CSV / Parquet /
//! JSON Lines files on disk; content-addressed blobs (the artifact store).

mod arrow_chunk;
pub mod blobs;
mod files;
mod fingerprint;

pub use arrow_chunk::{
    accepts, batch_to_chunk, chunk_column_to_array, data_type, merge_into_batch,
};
pub use files::{
    Format, ROW_GROUP_MAX_BYTES, ROW_GROUP_MAX_ROWS, TableReader, TableWriter, parquet_properties,
    parquet_writer,
};
pub use fingerprint::FileFingerprint;

use std::path::PathBuf;

/// Errors reading, converting or writing data. Each names the file (and
/// line or column where known).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{path}: unsupported file type (expected .csv, .parquet or .jsonl)")]
    UnknownFormat { path: PathBuf },
    #[error("column `{column}`: {message}")]
    Column { column: String, message: String },
    #[error("column `{column}` is not in the table (it has: {available})")]
    MissingColumn { column: String, available: String },
}
