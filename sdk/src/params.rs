//! Typed access to a session's parameters.

use crate::{Param, ParamSpec, ParamType, ParamValue, StepError};

/// A session's parameters: every declared one present, typed, defaults in.
#[derive(Debug, Clone, PartialEq)]
pub struct Params(Vec<Param>);

impl Params {
    /// Checks `given` against `specs` with the host's rules
    /// ([`sluice_params::resolve`]): unknown names, wrong types and missing
    /// required params are errors naming the param; defaults are filled in.
    /// An `int64` is accepted where a `float64` is declared.
    pub fn resolve(specs: &[ParamSpec], given: Vec<Param>) -> Result<Self, StepError> {
        let resolved =
            sluice_params::resolve(specs, given.iter().map(|p| (p.name.as_str(), &p.value)))
                .map_err(invalid)?;
        Ok(Params(
            resolved
                .into_iter()
                .map(|(name, value)| Param { name, value })
                .collect(),
        ))
    }

    /// Params as the host sends them: already resolved against
    /// `describe()` (every declared param present, typed, defaults in).
    pub fn from_host(params: Vec<Param>) -> Self {
        Params(params)
    }

    /// All params, in declaration order.
    pub fn all(&self) -> &[Param] {
        &self.0
    }

    fn get(&self, name: &str) -> Result<&ParamValue, StepError> {
        self.0
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
            .ok_or_else(|| StepError::InvalidParams(format!("param `{name}` is not declared")))
    }

    fn mismatch(name: &str, wanted: ParamType, got: &ParamValue) -> StepError {
        invalid(sluice_params::ParamError::WrongType {
            name: name.to_string(),
            expected: wanted.into(),
            found: got.param_type().into(),
        })
    }

    pub fn text(&self, name: &str) -> Result<String, StepError> {
        match self.get(name)? {
            ParamValue::Text(v) => Ok(v.clone()),
            other => Err(Self::mismatch(name, ParamType::Text, other)),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<bool, StepError> {
        match self.get(name)? {
            ParamValue::Boolean(v) => Ok(*v),
            other => Err(Self::mismatch(name, ParamType::Boolean, other)),
        }
    }

    pub fn int64(&self, name: &str) -> Result<i64, StepError> {
        match self.get(name)? {
            ParamValue::Int64(v) => Ok(*v),
            other => Err(Self::mismatch(name, ParamType::Int64, other)),
        }
    }

    pub fn float64(&self, name: &str) -> Result<f64, StepError> {
        match self.get(name)? {
            ParamValue::Float64(v) => Ok(*v),
            other => Err(Self::mismatch(name, ParamType::Float64, other)),
        }
    }

    pub fn text_list(&self, name: &str) -> Result<Vec<String>, StepError> {
        match self.get(name)? {
            ParamValue::TextList(v) => Ok(v.clone()),
            other => Err(Self::mismatch(name, ParamType::TextList, other)),
        }
    }

    /// A text-list param naming columns: at least one, no name twice.
    pub fn column_list(&self, name: &str) -> Result<Vec<String>, StepError> {
        let columns = self.text_list(name)?;
        sluice_params::check_column_list(name, &columns).map_err(invalid)?;
        Ok(columns)
    }

    pub fn float64_list(&self, name: &str) -> Result<Vec<f64>, StepError> {
        match self.get(name)? {
            ParamValue::Float64List(v) => Ok(v.clone()),
            other => Err(Self::mismatch(name, ParamType::Float64List, other)),
        }
    }
}

fn invalid(error: sluice_params::ParamError) -> StepError {
    StepError::InvalidParams(error.to_string())
}

impl From<ParamType> for sluice_params::ParamType {
    fn from(ty: ParamType) -> Self {
        match ty {
            ParamType::Boolean => sluice_params::ParamType::Boolean,
            ParamType::Int64 => sluice_params::ParamType::Int64,
            ParamType::Float64 => sluice_params::ParamType::Float64,
            ParamType::Text => sluice_params::ParamType::Text,
            ParamType::TextList => sluice_params::ParamType::TextList,
            ParamType::Float64List => sluice_params::ParamType::Float64List,
        }
    }
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(sluice_params::ParamType::from(*self).name())
    }
}

impl sluice_params::Value for ParamValue {
    fn param_type(&self) -> sluice_params::ParamType {
        ParamValue::param_type(self).into()
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
    fn param_type(&self) -> sluice_params::ParamType {
        self.type_.into()
    }
    fn default(&self) -> Option<&ParamValue> {
        self.default.as_ref()
    }
    fn doc(&self) -> &str {
        &self.doc
    }
}
