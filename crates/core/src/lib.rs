//! sluice's leaf types, shared by every other crate and depending on none:
//! - [`Digest`]: content identity (SHA-256), and the one hashing path;
//! - [`units`]: human sizes and durations (`64MiB`, `2s`);
//! - [`text`]: guest text bounded and escaped for terminals, pages and the store;
//! - [`contract`]: the plugin contract as plain host types;
//! - columnar [`Chunk`]s with the validation applied to whatever a plugin
//!   returns.

mod chunk;
pub mod contract;
mod digest;
pub mod text;
pub mod units;

pub use chunk::{Chunk, ChunkError, Column, ColumnType, ColumnValues, is_valid};
pub use digest::{Digest, DigestWriter};
