//! `sluice predict MODEL@VERSION --input FILE --out FILE`: a registered
//! model's inference graph over a table file.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};

use sluice_data::{Format, TableReader, TableWriter};
use sluice_pipeline::{Grants, InferenceGraph, ModelRef, ModelSource};
use sluice_runtime::Stop;
use sluice_runtime::policy::Policy;

use super::Context;

pub struct PredictArgs<'a> {
    pub model: &'a str,
    pub input: &'a Path,
    pub out: &'a Path,
    pub policy: Option<&'a Path>,
    pub chunk_rows: usize,
}

pub fn predict(ctx: &Context, args: PredictArgs<'_>) -> Result<()> {
    if args.chunk_rows == 0 {
        bail!("--chunk-rows must be at least 1");
    }
    let reference: ModelRef = args.model.parse()?;
    // a wrong output extension fails before any work
    Format::from_path(args.out)?;
    let policy = args.policy.map(Policy::load).transpose()?;
    let grants = match &policy {
        Some(policy) => Grants::Policy(policy),
        None => Grants::Recorded,
    };
    let source = ctx.tokio()?.block_on(async {
        let store = ctx.store().await?;
        anyhow::Ok(ModelSource::fetch(&store, &ctx.home, &reference).await?)
    })?;
    let runtime = ctx.runtime()?;
    let started = Instant::now();
    let graph = InferenceGraph::build(&source, &runtime, grants)?;
    let reader = TableReader::open(args.input, args.chunk_rows)?;
    graph.check_input(&reader.schema(), &args.input.display().to_string())?;
    let mut writer = TableWriter::create(args.out)?;
    let stop = Stop::default();
    let mut rows = 0usize;
    for batch in reader.at_least_one_batch() {
        let scored = graph.predict(&batch?, &stop)?;
        rows += scored.batch.num_rows();
        writer.write(&scored.batch)?;
    }
    writer.finish()?;
    println!(
        "{rows} rows scored by model {} version {} ({} plugin steps, then the model) in {:.2}s -> {}",
        graph.name(),
        graph.version(),
        graph.steps().count(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
