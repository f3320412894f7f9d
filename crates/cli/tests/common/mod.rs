//! Set-up shared by the CLI tests: the example pipeline trained in a
//! temporary project, throwaway PostgreSQL databases, and a served model
//! asked over real HTTP.

// each test file uses a part of this
#![allow(dead_code)]

pub mod postgres;
pub mod serving;

use std::path::Path;
use std::process::Output;

use arrow::array::RecordBatch;

use sluice_data::TableReader;

pub const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/chat-moderation"
);

/// The command's stdout; fails the test with both streams otherwise.
pub fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// A whole table file (Parquet, CSV, JSON Lines) in one batch.
pub fn read_table(path: &Path) -> RecordBatch {
    let reader = TableReader::open(path, 1 << 20).unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// The example's messages and policy copied into `root`, and its pipeline
/// as `edit` changes it.
pub fn copy_example(root: &Path, edit: impl FnOnce(String) -> String) {
    std::fs::create_dir_all(root.join("data")).unwrap();
    for file in ["data/messages.csv", "policy.toml"] {
        std::fs::copy(Path::new(EXAMPLE).join(file), root.join(file)).unwrap();
    }
    let pipeline = std::fs::read_to_string(Path::new(EXAMPLE).join("pipeline.toml")).unwrap();
    std::fs::write(root.join("pipeline.toml"), edit(pipeline)).unwrap();
}
