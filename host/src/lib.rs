//! sluice: an ML-pipeline engine whose steps are untrusted WebAssembly
//! components, each granted exactly the data and resources it may touch.
//!
//! Modules, in the direction data flows:
//! - [`policy`]: `policy.toml`, digests, grants, effective grants;
//! - [`data`]: chunks, Arrow conversion, CSV / Parquet / JSON Lines files;
//! - [`runtime`]: the sandbox (the only module that touches wasmtime);
//! - [`pipeline`]: pipeline files, the DAG, checks, the scheduler, caching;
//! - [`contract`]: the plugin contract as plain host types;
//! - [`store`]: runs, step runs, artifacts, lineage, cache, audit log (sqlx);
//! - [`stdlib`]: the first-party plugins embedded in the binary.

pub mod contract;
pub mod data;
pub mod pipeline;
pub mod policy;
pub mod runtime;
pub mod stdlib;
pub mod store;
