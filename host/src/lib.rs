//! sluice: an ML-pipeline engine whose steps are untrusted WebAssembly
//! components, each granted exactly the data and resources it may touch.
//!
//! Modules, in the direction data flows:
//! - [`policy`]: `policy.toml`, digests, grants, effective grants;
//! - [`data`]: chunks, Arrow conversion, CSV / Parquet / JSON Lines files;
//! - [`runtime`]: the sandbox (the only module that touches wasmtime);
//! - [`pipeline`]: pipeline files, the DAG, checks, the scheduler, caching;
//! - [`contract`]: the plugin contract as plain host types;
//! - [`train`]: native training (linfa-style `Learner` / `Predict`);
//! - [`store`]: runs, step runs, artifacts, lineage, cache, audit log,
//!   metrics and the model registry (sqlx);
//! - [`registry`]: registering models, promotion gates, bundles;
//! - [`report`]: the offline HTML run report with its charts;
//! - [`stdlib`]: the first-party plugins embedded in the binary.

pub mod contract;
pub mod data;
pub mod pipeline;
pub mod policy;
pub mod registry;
pub mod report;
pub mod runtime;
pub mod stdlib;
pub mod store;
pub mod train;
