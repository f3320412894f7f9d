//! Pipelines: the file format (`spec`), the DAG (`graph`), checking before
//! running (`plan`) and running (`run`).

pub mod graph;
pub mod native;
pub mod plan;
pub mod run;
pub mod spec;

pub use graph::Dag;
pub use plan::{Plan, PlannedStep, StepWork, describe_plan, plan};
pub use run::{
    Event, Observer, Quiet, RegisteredModel, RunError, RunOptions, RunSummary, StepSummary,
    execute, export,
};
pub use spec::{Pipeline, SpecError};
