//! The plugin contract (`wit/since_v0.1.0`) as plain host-side types.
//!
//! `runtime` converts between these and the wasmtime-generated bindings, so
//! the rest of the host never depends on wasmtime. Chunks and columns live
//! in this crate (`Chunk`).

use std::fmt;

use serde::Serialize;

pub use crate::ColumnType;
/// Param types and resolution errors are shared with the plugin SDK.
pub use sluice_params::{ParamError, ParamType};

/// Newest contract version this host implements, and the versions it loads.
pub const CONTRACT_VERSION: &str = "0.1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Cleaner,
    Featurizer,
    Detector,
    Evaluator,
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepKind::Cleaner => "cleaner",
            StepKind::Featurizer => "featurizer",
            StepKind::Detector => "detector",
            StepKind::Evaluator => "evaluator",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Boolean(bool),
    Int64(i64),
    Float64(f64),
    Text(String),
    TextList(Vec<String>),
    Float64List(Vec<f64>),
}

impl ParamValue {
    pub fn param_type(&self) -> ParamType {
        match self {
            ParamValue::Boolean(_) => ParamType::Boolean,
            ParamValue::Int64(_) => ParamType::Int64,
            ParamValue::Float64(_) => ParamType::Float64,
            ParamValue::Text(_) => ParamType::Text,
            ParamValue::TextList(_) => ParamType::TextList,
            ParamValue::Float64List(_) => ParamType::Float64List,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Boolean(v) => write!(f, "{v}"),
            ParamValue::Int64(v) => write!(f, "{v}"),
            ParamValue::Float64(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v:?}"),
            ParamValue::TextList(v) => write!(f, "{v:?}"),
            ParamValue::Float64List(v) => write!(f, "{v:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type", serialize_with = "serialize_display")]
    pub ty: ParamType,
    pub default: Option<ParamValue>,
    pub doc: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    pub name_param: Option<String>,
    pub optional: bool,
    pub doc: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepInfo {
    pub name: String,
    pub version: String,
    pub kind: StepKind,
    pub summary: String,
    pub params: Vec<ParamSpec>,
    pub reads: Vec<ColumnSpec>,
    pub writes: Vec<ColumnSpec>,
    pub fits: bool,
}

/// Parameters after checking against a step's `describe()`: every declared
/// param present, in declaration order.
pub type Params = Vec<(String, ParamValue)>;

impl StepInfo {
    /// Checks `given` against the declared params (unknown names, types,
    /// required ones) and fills in defaults; see [`sluice_params::resolve`].
    pub fn resolve_params(&self, given: &[(String, ParamValue)]) -> Result<Params, ParamError> {
        sluice_params::resolve(
            &self.params,
            given.iter().map(|(name, value)| (name.as_str(), value)),
        )
    }

    /// The actual columns read or written for these params: a spec's
    /// `name_param` replaces its name with the param's value (one column per
    /// entry of a text-list param).
    pub fn resolve_columns(specs: &[ColumnSpec], params: &Params) -> Vec<(String, ColumnSpec)> {
        specs
            .iter()
            .flat_map(|spec| {
                let params = params.iter().map(|(name, value)| (name.as_str(), value));
                sluice_params::column_names(spec, params)
                    .into_iter()
                    .map(|name| (name.to_string(), spec.clone()))
            })
            .collect()
    }
}

fn serialize_display<S: serde::Serializer>(
    value: &impl fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl sluice_params::Value for ParamValue {
    fn param_type(&self) -> ParamType {
        ParamValue::param_type(self)
    }
    fn as_int64(&self) -> Option<i64> {
        match self {
            ParamValue::Int64(v) => Some(*v),
            _ => None,
        }
    }
    fn as_text(&self) -> Option<&str> {
        match self {
            ParamValue::Text(v) => Some(v),
            _ => None,
        }
    }
    fn as_text_list(&self) -> Option<&[String]> {
        match self {
            ParamValue::TextList(v) => Some(v),
            _ => None,
        }
    }
    fn is_empty_text_list(&self) -> bool {
        matches!(self, ParamValue::TextList(v) if v.is_empty())
    }
    fn from_float64(value: f64) -> Self {
        ParamValue::Float64(value)
    }
    fn from_float64_list(values: Vec<f64>) -> Self {
        ParamValue::Float64List(values)
    }
}

impl sluice_params::Spec for ParamSpec {
    type Value = ParamValue;
    fn name(&self) -> &str {
        &self.name
    }
    fn param_type(&self) -> ParamType {
        self.ty
    }
    fn default(&self) -> Option<&ParamValue> {
        self.default.as_ref()
    }
    fn doc(&self) -> &str {
        &self.doc
    }
}

impl sluice_params::NamedColumn for ColumnSpec {
    fn name(&self) -> &str {
        &self.name
    }
    fn name_param(&self) -> Option<&str> {
        self.name_param.as_deref()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub labels: Vec<(String, String)>,
}

/// An error a plugin returned (as opposed to a trap or a limit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("invalid params: {0}")]
    InvalidParams(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("{0}")]
    Failed(String),
}
