//! Pipelines: the file format (`spec`), the DAG (`graph`), checking before
//! running (`plan`, with what each kind of step does in `work`), running
//! (`run`, one step's work in `job`), native fitted transforms
//! (`transform`), the plugin loop both share with `sluice plugin run`
//! (`drive`), what a run registers (`models`), a registered model's
//! inference graph (`inference`), and where a pipeline may touch files
//! (`paths`).

pub mod artifacts;
pub mod drive;
mod fingerprints;
pub mod graph;
pub mod inference;
mod job;
mod models;
pub mod native;
pub mod paths;
pub mod plan;
pub mod run;
pub mod spec;
pub mod transform;
pub mod work;

pub use artifacts::{ArtifactsError, collect_garbage, find_artifact, verify_artifacts};
pub use drive::{Drive, Driven, Driver, Pass, PluginRun, drive_plugin};
pub use graph::Dag;
pub use inference::{
    Grants, InferenceError, InferenceGraph, ModelRef, ModelSource, RegisteredModels, Scored,
    fetch_models,
};
pub use plan::{
    CheckErrors, FitSplit, Plan, PlanOptions, PlannedStep, StepWork, describe_plan, plan, plan_with,
};
pub use run::{
    Event, Observer, Quiet, RegisteredModel, RunError, RunOptions, RunSummary, StepSummary,
    execute, export,
};
pub use spec::{Pipeline, SpecError};
pub use work::StepParams;
