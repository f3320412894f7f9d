//! Pipelines: the file format (`spec`), the DAG (`graph`), checking before
//! running (`plan`) and running (`run`).

pub mod graph;
pub mod plan;
pub mod run;
pub mod spec;

pub use graph::Dag;
pub use plan::{Plan, PlannedStep, describe_plan, plan};
pub use run::{
    ArtifactDir, Event, Observer, Quiet, RunError, RunOptions, RunSummary, StepSummary, execute,
    export,
};
pub use spec::{Pipeline, SpecError};
