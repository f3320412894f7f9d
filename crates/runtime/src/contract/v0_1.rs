//! Contract 0.1: bindings for `sluice:plugin@0.1.x` (wit/since_v0.1.0), its
//! host imports, and conversions between its WIT types and the host's own.
//! Only this module names 0.1 types; [`super`] dispatches to it.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker, ResourceAny};

use super::GuestResult;
use crate::state::StoreState;
use sluice_core::contract::{self, ColumnSpec, Metric, ParamSpec, Params, StepInfo};
use sluice_core::{Chunk, ColumnType, text};

wasmtime::component::bindgen!({
    world: "step-plugin",
    path: "../../wit/since_v0.1.0",
});

use self::sluice::plugin::{host, types as wit};
use exports::sluice::plugin::step::StepError as WitStepError;

/// Every `0.1.x` package version (`sluice:plugin/step@0.1.0`, ...) is this
/// contract.
pub const SERIES: &str = "0.1";

/// Registers the 0.1 host imports (`sluice:plugin/host@0.1.x`).
pub fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    StepPlugin::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

impl wit::Host for StoreState {}

impl host::Host for StoreState {
    fn log(&mut self, level: host::Level, message: String) {
        let level = match level {
            host::Level::Trace => "trace",
            host::Level::Debug => "debug",
            host::Level::Info => "info",
            host::Level::Warn => "warn",
            host::Level::Error => "error",
        };
        self.record_log(level, &message);
    }

    fn metric(&mut self, name: String, value: f64) {
        self.record_metric(&name, value);
    }
}

pub fn describe(
    bindings: &StepPlugin,
    store: &mut Store<StoreState>,
) -> wasmtime::Result<StepInfo> {
    Ok(bindings.sluice_plugin_step().call_describe(store)?.into())
}

pub fn open(
    bindings: &StepPlugin,
    store: &mut Store<StoreState>,
    params: &Params,
    state: Option<&[u8]>,
) -> GuestResult<ResourceAny> {
    let params: Vec<wit::Param> = params
        .iter()
        .map(|(name, value)| wit::Param {
            name: name.clone(),
            value: value.into(),
        })
        .collect();
    let handle = bindings
        .sluice_plugin_step()
        .session()
        .call_open(store, &params, state)?;
    Ok(handle.map_err(Into::into))
}

pub fn fit(
    bindings: &StepPlugin,
    store: &mut Store<StoreState>,
    session: ResourceAny,
    input: Chunk,
) -> GuestResult<()> {
    let input = chunk_to_wit(input);
    let result = bindings
        .sluice_plugin_step()
        .session()
        .call_fit(store, session, &input)?;
    Ok(result.map_err(Into::into))
}

pub fn finish_fit(
    bindings: &StepPlugin,
    store: &mut Store<StoreState>,
    session: ResourceAny,
) -> GuestResult<Vec<u8>> {
    let state = bindings
        .sluice_plugin_step()
        .session()
        .call_finish_fit(store, session)?;
    Ok(state.map_err(Into::into))
}

pub fn process(
    bindings: &StepPlugin,
    store: &mut Store<StoreState>,
    session: ResourceAny,
    input: Chunk,
) -> GuestResult<Chunk> {
    let input = chunk_to_wit(input);
    let output = bindings
        .sluice_plugin_step()
        .session()
        .call_process(store, session, &input)?;
    Ok(output.map(chunk_from_wit).map_err(Into::into))
}

pub fn finish(
    bindings: &StepPlugin,
    store: &mut Store<StoreState>,
    session: ResourceAny,
) -> GuestResult<Vec<Metric>> {
    let metrics = bindings
        .sluice_plugin_step()
        .session()
        .call_finish(store, session)?;
    Ok(metrics
        .map(|metrics| metrics.into_iter().map(metric_from_wit).collect())
        .map_err(Into::into))
}

impl From<wit::ColumnType> for ColumnType {
    fn from(t: wit::ColumnType) -> Self {
        match t {
            wit::ColumnType::Float64 => ColumnType::Float64,
            wit::ColumnType::Int64 => ColumnType::Int64,
            wit::ColumnType::Boolean => ColumnType::Boolean,
            wit::ColumnType::Text => ColumnType::Text,
            wit::ColumnType::Sparse => ColumnType::Sparse,
            wit::ColumnType::Tags => ColumnType::Tags,
        }
    }
}

impl From<wit::ParamType> for contract::ParamType {
    fn from(t: wit::ParamType) -> Self {
        match t {
            wit::ParamType::Boolean => contract::ParamType::Boolean,
            wit::ParamType::Int64 => contract::ParamType::Int64,
            wit::ParamType::Float64 => contract::ParamType::Float64,
            wit::ParamType::Text => contract::ParamType::Text,
            wit::ParamType::TextList => contract::ParamType::TextList,
            wit::ParamType::Float64List => contract::ParamType::Float64List,
        }
    }
}

impl From<wit::ParamValue> for contract::ParamValue {
    fn from(v: wit::ParamValue) -> Self {
        match v {
            wit::ParamValue::Boolean(v) => contract::ParamValue::Boolean(v),
            wit::ParamValue::Int64(v) => contract::ParamValue::Int64(v),
            wit::ParamValue::Float64(v) => contract::ParamValue::Float64(v),
            wit::ParamValue::Text(v) => contract::ParamValue::Text(v),
            wit::ParamValue::TextList(v) => contract::ParamValue::TextList(v),
            wit::ParamValue::Float64List(v) => contract::ParamValue::Float64List(v),
        }
    }
}

impl From<&contract::ParamValue> for wit::ParamValue {
    fn from(v: &contract::ParamValue) -> Self {
        match v.clone() {
            contract::ParamValue::Boolean(v) => wit::ParamValue::Boolean(v),
            contract::ParamValue::Int64(v) => wit::ParamValue::Int64(v),
            contract::ParamValue::Float64(v) => wit::ParamValue::Float64(v),
            contract::ParamValue::Text(v) => wit::ParamValue::Text(v),
            contract::ParamValue::TextList(v) => wit::ParamValue::TextList(v),
            contract::ParamValue::Float64List(v) => wit::ParamValue::Float64List(v),
        }
    }
}

impl From<wit::StepKind> for contract::StepKind {
    fn from(k: wit::StepKind) -> Self {
        match k {
            wit::StepKind::Cleaner => contract::StepKind::Cleaner,
            wit::StepKind::Featurizer => contract::StepKind::Featurizer,
            wit::StepKind::Detector => contract::StepKind::Detector,
            wit::StepKind::Evaluator => contract::StepKind::Evaluator,
        }
    }
}

fn column_spec(c: wit::ColumnSpec) -> ColumnSpec {
    ColumnSpec {
        name: c.name,
        ty: c.type_.into(),
        name_param: c.name_param,
        optional: c.optional,
        doc: c.doc,
    }
}

impl From<wit::StepInfo> for StepInfo {
    fn from(i: wit::StepInfo) -> Self {
        StepInfo {
            name: i.name,
            version: i.version,
            kind: i.kind.into(),
            summary: i.summary,
            params: i
                .params
                .into_iter()
                .map(|p| ParamSpec {
                    name: p.name,
                    ty: p.type_.into(),
                    default: p.default.map(Into::into),
                    doc: p.doc,
                })
                .collect(),
            reads: i.reads.into_iter().map(column_spec).collect(),
            writes: i.writes.into_iter().map(column_spec).collect(),
            fits: i.fits,
        }
    }
}

impl From<WitStepError> for contract::StepError {
    fn from(e: WitStepError) -> Self {
        match e {
            WitStepError::InvalidParams(m) => contract::StepError::InvalidParams(guest_text(&m)),
            WitStepError::InvalidInput(m) => contract::StepError::InvalidInput(guest_text(&m)),
            WitStepError::Failed(m) => contract::StepError::Failed(guest_text(&m)),
        }
    }
}

/// A guest's error message as the host keeps it: escaped and bounded.
fn guest_text(message: &str) -> String {
    text::clean(message, text::MESSAGE_LIMIT)
}

/// Moves buffers across; no element-wise copy.
fn chunk_to_wit(chunk: Chunk) -> wit::Chunk {
    wit::Chunk {
        rows: chunk.rows,
        columns: chunk
            .columns
            .into_iter()
            .map(|c| wit::Column {
                name: c.name,
                values: match c.values {
                    sluice_core::ColumnValues::Float64 { values, valid } => {
                        wit::ColumnValues::Float64(wit::Float64Column { values, valid })
                    }
                    sluice_core::ColumnValues::Int64 { values, valid } => {
                        wit::ColumnValues::Int64(wit::Int64Column { values, valid })
                    }
                    sluice_core::ColumnValues::Boolean { values, valid } => {
                        wit::ColumnValues::Boolean(wit::BooleanColumn { values, valid })
                    }
                    sluice_core::ColumnValues::Text {
                        data,
                        offsets,
                        valid,
                    } => wit::ColumnValues::Text(wit::TextColumn {
                        data,
                        offsets,
                        valid,
                    }),
                    sluice_core::ColumnValues::Sparse {
                        dim,
                        row_offsets,
                        indices,
                        values,
                    } => wit::ColumnValues::Sparse(wit::SparseColumn {
                        dim,
                        row_offsets,
                        indices,
                        values,
                    }),
                    sluice_core::ColumnValues::Tags {
                        data,
                        offsets,
                        row_offsets,
                    } => wit::ColumnValues::Tags(wit::TagsColumn {
                        data,
                        offsets,
                        row_offsets,
                    }),
                },
            })
            .collect(),
    }
}

fn chunk_from_wit(chunk: wit::Chunk) -> Chunk {
    Chunk {
        rows: chunk.rows,
        columns: chunk
            .columns
            .into_iter()
            .map(|c| sluice_core::Column {
                name: c.name,
                values: match c.values {
                    wit::ColumnValues::Float64(c) => sluice_core::ColumnValues::Float64 {
                        values: c.values,
                        valid: c.valid,
                    },
                    wit::ColumnValues::Int64(c) => sluice_core::ColumnValues::Int64 {
                        values: c.values,
                        valid: c.valid,
                    },
                    wit::ColumnValues::Boolean(c) => sluice_core::ColumnValues::Boolean {
                        values: c.values,
                        valid: c.valid,
                    },
                    wit::ColumnValues::Text(c) => sluice_core::ColumnValues::Text {
                        data: c.data,
                        offsets: c.offsets,
                        valid: c.valid,
                    },
                    wit::ColumnValues::Sparse(c) => sluice_core::ColumnValues::Sparse {
                        dim: c.dim,
                        row_offsets: c.row_offsets,
                        indices: c.indices,
                        values: c.values,
                    },
                    wit::ColumnValues::Tags(c) => sluice_core::ColumnValues::Tags {
                        data: c.data,
                        offsets: c.offsets,
                        row_offsets: c.row_offsets,
                    },
                },
            })
            .collect(),
    }
}

fn metric_from_wit(m: wit::Metric) -> Metric {
    Metric {
        name: m.name,
        value: m.value,
        labels: m.labels,
    }
}
