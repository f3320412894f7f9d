//! Driving a plugin over a table: read it in chunks, open a session, run
//! the fit pass (fitted plugins), process every chunk, merge the written
//! columns into it and hand the result on. The one loop behind both a
//! pipeline's plugin steps and `sluice plugin run`.

use std::path::Path;

use arrow::array::RecordBatch;

use sluice_core::contract::{Metric, Params};
use sluice_data::{DataError, TableReader, batch_to_chunk, merge_into_batch};
use sluice_runtime::policy::EffectiveGrant;
use sluice_runtime::{GuestOutput, Plugin, RuntimeError, Session, SessionStats, Stop};

/// The two passes over a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Fit,
    Process,
}

impl Pass {
    pub fn as_str(self) -> &'static str {
        match self {
            Pass::Fit => "fit",
            Pass::Process => "process",
        }
    }
}

/// What a drive does with its results, and when it stops early.
pub trait Driver {
    type Error: From<DataError> + From<RuntimeError>;

    /// Called before each chunk is read; an error stops the drive
    /// (cancellation, a time limit).
    fn check(&mut self, _pass: Pass) -> Result<(), Self::Error> {
        Ok(())
    }

    /// A chunk of `table` could not be read as the columns the plugin reads.
    fn unreadable(&self, _table: &Path, error: DataError) -> Self::Error {
        error.into()
    }

    /// The rows of one chunk went through `pass`.
    fn rows(&mut self, _pass: Pass, _rows: u64) {}

    /// The fit pass is over: the fitted state and the fit session's stats.
    fn fitted(&mut self, _state: &[u8], _stats: &SessionStats) -> Result<(), Self::Error> {
        Ok(())
    }

    /// One processed chunk: its input rows with the written columns merged in.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), Self::Error>;
}

/// A plugin with what it runs with.
pub struct PluginRun<'a> {
    pub plugin: &'a Plugin,
    pub params: &'a Params,
    pub effective: &'a EffectiveGrant,
    pub chunk_rows: usize,
    /// Stops a guest call from inside (the step's deadline, cancellation).
    pub stop: Stop,
    /// When set, the fit pass sees only the fit table's rows whose entry is
    /// true (a train step's training rows, see `plan::FitSplit`).
    pub fit_rows: Option<&'a [bool]>,
}

/// What a drive reports, whether it finished or stopped on an error.
#[derive(Debug, Default)]
pub struct Driven {
    /// Both passes together, up to where the drive stopped.
    pub stats: SessionStats,
    /// What the plugin reported from `finish`.
    pub metrics: Vec<Metric>,
    /// Rows processed and the chunks they came in.
    pub rows: u64,
    pub chunks: u64,
    /// What the plugin logged, measured and printed in both passes, within
    /// its `log` bound.
    pub output: GuestOutput,
}

/// A drive's record and how it ended: the record is kept either way, so a
/// failed step still records the CPU, memory and log it used.
#[derive(Debug)]
pub struct Drive<E> {
    pub driven: Driven,
    pub result: Result<(), E>,
}

/// Drives `run` over `input`, fitting on `fit_input` first if the plugin fits.
pub fn drive_plugin<D: Driver>(
    run: &PluginRun<'_>,
    input: &Path,
    fit_input: &Path,
    driver: &mut D,
) -> Drive<D::Error> {
    let mut driven = Driven::default();
    let result = drive_into(run, input, fit_input, driver, &mut driven);
    Drive { driven, result }
}

fn drive_into<D: Driver>(
    run: &PluginRun<'_>,
    input: &Path,
    fit_input: &Path,
    driver: &mut D,
    driven: &mut Driven,
) -> Result<(), D::Error> {
    let state = if run.plugin.info().fits {
        Some(fit(run, fit_input, driver, driven)?)
    } else {
        None
    };
    let mut session = run.plugin.session_until(
        run.params,
        run.effective,
        state.as_deref(),
        run.stop.clone(),
    )?;
    let result = process(run, input, driver, driven, &mut session);
    driven.stats.add(session.stats());
    let limit = run.plugin.grant().limits.log_bytes;
    driven.output.append(session.output(), limit);
    driven.metrics = result?;
    Ok(())
}

/// The process pass: every chunk of `table`, then `finish`'s metrics.
fn process<D: Driver>(
    run: &PluginRun<'_>,
    table: &Path,
    driver: &mut D,
    driven: &mut Driven,
    session: &mut Session<'_>,
) -> Result<Vec<Metric>, D::Error> {
    // a table without rows still goes through once, as an empty chunk, so
    // the output is an empty table with the step's columns
    for batch in TableReader::open(table, run.chunk_rows)?.at_least_one_batch() {
        driver.check(Pass::Process)?;
        let batch = batch?;
        let chunk = batch_to_chunk(&batch, &run.effective.reads)
            .map_err(|e| driver.unreadable(table, e))?;
        let output = session.process(chunk)?;
        driver.write(&merge_into_batch(&batch, &output)?)?;
        let rows = batch.num_rows() as u64;
        driven.rows += rows;
        driven.chunks += 1;
        driver.rows(Pass::Process, rows);
    }
    Ok(session.finish()?)
}

/// The fit pass: every chunk of `table`, then the fitted state. The fit
/// session's stats and output go to `driven` however the pass ends.
fn fit<D: Driver>(
    run: &PluginRun<'_>,
    table: &Path,
    driver: &mut D,
    driven: &mut Driven,
) -> Result<Vec<u8>, D::Error> {
    let mut session =
        run.plugin
            .session_until(run.params, run.effective, None, run.stop.clone())?;
    let state = fit_chunks(run, table, driver, &mut session);
    driven.stats.add(session.stats());
    driven.output = session.output();
    let state = state?;
    driver.fitted(&state, session.stats())?;
    Ok(state)
}

fn fit_chunks<D: Driver>(
    run: &PluginRun<'_>,
    table: &Path,
    driver: &mut D,
    session: &mut Session<'_>,
) -> Result<Vec<u8>, D::Error> {
    let mut offset = 0usize;
    for batch in TableReader::open(table, run.chunk_rows)? {
        driver.check(Pass::Fit)?;
        let mut batch = batch?;
        let rows = batch.num_rows();
        if let Some(keep) = run.fit_rows {
            let mask = keep
                .get(offset..offset + rows)
                .ok_or_else(|| DataError::Read {
                    path: table.to_path_buf(),
                    message: format!(
                        "the fit table has more rows than the split it is fitted on ({})",
                        keep.len()
                    ),
                })?;
            batch = arrow::compute::filter_record_batch(
                &batch,
                &arrow::array::BooleanArray::from(mask.to_vec()),
            )
            .map_err(|e| DataError::Read {
                path: table.to_path_buf(),
                message: format!("selecting the training rows: {e}"),
            })?;
        }
        offset += rows;
        if batch.num_rows() > 0 {
            let chunk = batch_to_chunk(&batch, &run.effective.reads)
                .map_err(|e| driver.unreadable(table, e))?;
            session.fit(chunk)?;
        }
        driver.rows(Pass::Fit, batch.num_rows() as u64);
    }
    Ok(session.finish_fit()?)
}
