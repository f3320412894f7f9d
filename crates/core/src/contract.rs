//! The plugin contract (`wit/since_v0.1.0`) as plain host-side types.
//!
//! `runtime` converts between these and the wasmtime-generated bindings, so
//! the rest of the host never depends on wasmtime. Chunks and columns live
//! in this crate (`Chunk`).

use std::fmt;

use serde::Serialize;

pub use crate::ColumnType;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamType {
    Boolean,
    Int64,
    Float64,
    Text,
    TextList,
    Float64List,
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamType::Boolean => "boolean",
            ParamType::Int64 => "int64",
            ParamType::Float64 => "float64",
            ParamType::Text => "text",
            ParamType::TextList => "text-list",
            ParamType::Float64List => "float64-list",
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
    #[serde(rename = "type")]
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

/// Why params given to a step were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown param `{name}` (this step takes: {known})")]
    Unknown { name: String, known: String },
    #[error("param `{name}` should be {expected}, got {found}")]
    WrongType {
        name: String,
        expected: ParamType,
        found: ParamType,
    },
    #[error("param `{name}` ({ty}) is required: {doc}")]
    Missing {
        name: String,
        ty: ParamType,
        doc: String,
    },
}

impl StepInfo {
    /// Checks `given` against the declared params (unknown names, types,
    /// required ones) and fills in defaults. An int is accepted for a float.
    pub fn resolve_params(&self, given: &[(String, ParamValue)]) -> Result<Params, ParamError> {
        for (name, _) in given {
            if !self.params.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(ParamError::Unknown {
                    name: name.clone(),
                    known: known.join(", "),
                });
            }
        }
        self.params
            .iter()
            .map(|spec| {
                let value = match given.iter().find(|(name, _)| name == &spec.name) {
                    Some((_, value)) => match (spec.ty, value) {
                        (ParamType::Float64, ParamValue::Int64(v)) => {
                            ParamValue::Float64(*v as f64)
                        }
                        (ty, value) if value.param_type() == ty => value.clone(),
                        (ty, value) => {
                            return Err(ParamError::WrongType {
                                name: spec.name.clone(),
                                expected: ty,
                                found: value.param_type(),
                            });
                        }
                    },
                    None => spec.default.clone().ok_or_else(|| ParamError::Missing {
                        name: spec.name.clone(),
                        ty: spec.ty,
                        doc: spec.doc.clone(),
                    })?,
                };
                Ok((spec.name.clone(), value))
            })
            .collect()
    }

    /// The actual columns read or written for these params: a spec's
    /// `name_param` replaces its name with the param's value (one column per
    /// entry of a text-list param).
    pub fn resolve_columns(specs: &[ColumnSpec], params: &Params) -> Vec<(String, ColumnSpec)> {
        let mut out = Vec::new();
        for spec in specs {
            let value = spec
                .name_param
                .as_ref()
                .and_then(|p| params.iter().find(|(name, _)| name == p))
                .map(|(_, v)| v);
            match value {
                Some(ParamValue::Text(name)) => out.push((name.clone(), spec.clone())),
                Some(ParamValue::TextList(names)) => {
                    out.extend(names.iter().map(|n| (n.clone(), spec.clone())))
                }
                _ => out.push((spec.name.clone(), spec.clone())),
            }
        }
        out
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
