//! # sluice-params
//!
//! The one implementation of step parameter resolution. The host
//! (`sluice_core::contract`) checks the params a pipeline gives a step
//! against its `describe()`, and the plugin SDK does the same when a step
//! runs natively under `cargo test`; both call [`resolve`], so a step sees
//! the same params, and the same errors, on either side.
//!
//! No dependencies: it builds for `wasm32-wasip2` and natively. Each side
//! keeps its own param types (the SDK's are generated from WIT) and exposes
//! them through the [`Value`], [`Spec`] and [`NamedColumn`] traits.
//!
//! The rules:
//! - every given name must be declared ([`ParamError::Unknown`]);
//! - a given value must have the declared type, except that an `int64` is
//!   accepted for a `float64` and an empty list for a `float64-list` (a
//!   TOML `[]` has no element type) ([`ParamError::WrongType`]);
//! - a declared param without a default must be given ([`ParamError::Missing`]);
//! - the result has every declared param, in declaration order;
//! - a column spec's `name_param` names it by that param's value, one
//!   column per entry of a `text-list` ([`column_names`]);
//! - a `text-list` naming columns lists at least one, none twice
//!   ([`check_column_list`]).

use std::fmt;

/// The type of a step parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    Boolean,
    Int64,
    Float64,
    Text,
    TextList,
    Float64List,
}

impl ParamType {
    /// The name the contract, the docs and the errors use.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Boolean => "boolean",
            ParamType::Int64 => "int64",
            ParamType::Float64 => "float64",
            ParamType::Text => "text",
            ParamType::TextList => "text-list",
            ParamType::Float64List => "float64-list",
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parameter value, as one side represents it.
pub trait Value: Clone {
    fn param_type(&self) -> ParamType;
    fn as_int64(&self) -> Option<i64>;
    fn as_text(&self) -> Option<&str>;
    fn as_text_list(&self) -> Option<&[String]>;
    /// A TOML `[]` arrives as an empty text list.
    fn is_empty_text_list(&self) -> bool;
    fn from_float64(value: f64) -> Self;
    fn from_float64_list(values: Vec<f64>) -> Self;
}

/// A declared parameter.
pub trait Spec {
    type Value: Value;
    fn name(&self) -> &str;
    fn param_type(&self) -> ParamType;
    fn default(&self) -> Option<&Self::Value>;
    fn doc(&self) -> &str;
}

/// A declared column, possibly named by a parameter.
pub trait NamedColumn {
    fn name(&self) -> &str;
    fn name_param(&self) -> Option<&str>;
}

/// Why the params given to a step were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    Unknown {
        name: String,
        /// the declared names, comma-separated
        known: String,
    },
    WrongType {
        name: String,
        expected: ParamType,
        found: ParamType,
    },
    Missing {
        name: String,
        ty: ParamType,
        doc: String,
    },
    /// a column-list param names no column
    NoColumns { name: String },
    /// a column-list param names one column twice
    DuplicateColumn { name: String, column: String },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Unknown { name, known } => {
                write!(f, "unknown param `{name}` (this step takes: {known})")
            }
            ParamError::WrongType {
                name,
                expected,
                found,
            } => write!(f, "param `{name}` should be {expected}, got {found}"),
            ParamError::Missing { name, ty, doc } => {
                write!(f, "param `{name}` ({ty}) is required: {doc}")
            }
            ParamError::NoColumns { name } => {
                write!(f, "param `{name}` must name at least one column")
            }
            ParamError::DuplicateColumn { name, column } => {
                write!(f, "param `{name}` lists `{column}` twice")
            }
        }
    }
}

impl std::error::Error for ParamError {}

/// `value` as the declared type `wanted` of param `name`, converting where
/// the rules allow.
pub fn coerce<V: Value>(name: &str, wanted: ParamType, value: &V) -> Result<V, ParamError> {
    match (wanted, value.as_int64()) {
        (ParamType::Float64, Some(v)) => return Ok(V::from_float64(v as f64)),
        _ if value.param_type() == wanted => return Ok(value.clone()),
        _ => {}
    }
    if wanted == ParamType::Float64List && value.is_empty_text_list() {
        return Ok(V::from_float64_list(Vec::new()));
    }
    Err(ParamError::WrongType {
        name: name.to_string(),
        expected: wanted,
        found: value.param_type(),
    })
}

/// Checks `given` (name, value) pairs against `specs` and fills in
/// defaults: every declared param, in declaration order.
pub fn resolve<'a, S: Spec>(
    specs: &[S],
    given: impl IntoIterator<Item = (&'a str, &'a S::Value)>,
) -> Result<Vec<(String, S::Value)>, ParamError>
where
    S::Value: 'a,
{
    let given: Vec<(&str, &S::Value)> = given.into_iter().collect();
    if let Some((unknown, _)) = given
        .iter()
        .find(|(name, _)| !specs.iter().any(|s| s.name() == *name))
    {
        let known: Vec<&str> = specs.iter().map(Spec::name).collect();
        return Err(ParamError::Unknown {
            name: unknown.to_string(),
            known: known.join(", "),
        });
    }
    specs
        .iter()
        .map(|spec| {
            let value = match given.iter().find(|(name, _)| *name == spec.name()) {
                Some((_, value)) => coerce(spec.name(), spec.param_type(), *value)?,
                None => spec.default().cloned().ok_or_else(|| ParamError::Missing {
                    name: spec.name().to_string(),
                    ty: spec.param_type(),
                    doc: spec.doc().to_string(),
                })?,
            };
            Ok((spec.name().to_string(), value))
        })
        .collect()
}

/// The actual names of a declared column for resolved `params`: the value
/// of its `name_param` (one name per entry of a text list), else its own
/// name.
pub fn column_names<'a, C: NamedColumn, V: Value + 'a>(
    spec: &'a C,
    params: impl IntoIterator<Item = (&'a str, &'a V)>,
) -> Vec<&'a str> {
    let value = spec.name_param().and_then(|wanted| {
        params
            .into_iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| value)
    });
    if let Some(value) = value {
        if let Some(name) = value.as_text() {
            return vec![name];
        }
        if let Some(names) = value.as_text_list() {
            return names.iter().map(String::as_str).collect();
        }
    }
    vec![spec.name()]
}

/// A text-list param `name` naming columns: at least one, none twice.
pub fn check_column_list(name: &str, columns: &[String]) -> Result<(), ParamError> {
    if columns.is_empty() {
        return Err(ParamError::NoColumns {
            name: name.to_string(),
        });
    }
    if let Some((_, duplicate)) = columns
        .iter()
        .enumerate()
        .find(|(i, c)| columns[..*i].contains(c))
    {
        return Err(ParamError::DuplicateColumn {
            name: name.to_string(),
            column: duplicate.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
