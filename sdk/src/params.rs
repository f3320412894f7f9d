//! Typed access to a session's parameters.

use crate::{Param, ParamSpec, ParamType, ParamValue, StepError};

/// A session's parameters: every declared one present, typed, defaults in.
#[derive(Debug, Clone, PartialEq)]
pub struct Params(Vec<Param>);

impl Params {
    /// Checks `given` against `specs`: unknown names, wrong types and
    /// missing required params are errors naming the param; defaults are
    /// filled in. An `int64` is accepted where a `float64` is declared.
    pub fn resolve(specs: &[ParamSpec], given: Vec<Param>) -> Result<Self, StepError> {
        for param in &given {
            if !specs.iter().any(|s| s.name == param.name) {
                let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                return Err(StepError::InvalidParams(format!(
                    "unknown param `{}` (this step takes: {})",
                    param.name,
                    known.join(", ")
                )));
            }
        }
        let mut resolved = Vec::with_capacity(specs.len());
        for spec in specs {
            let value = match given.iter().find(|p| p.name == spec.name) {
                Some(p) => coerce(spec, p.value.clone())?,
                None => spec.default.clone().ok_or_else(|| {
                    StepError::InvalidParams(format!(
                        "param `{}` ({}) is required: {}",
                        spec.name, spec.type_, spec.doc
                    ))
                })?,
            };
            resolved.push(Param {
                name: spec.name.clone(),
                value,
            });
        }
        Ok(Params(resolved))
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
        StepError::InvalidParams(format!(
            "param `{name}` should be {wanted}, got {}",
            got.param_type()
        ))
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
        if columns.is_empty() {
            return Err(StepError::InvalidParams(format!(
                "param `{name}` must name at least one column"
            )));
        }
        if let Some((_, dup)) = columns
            .iter()
            .enumerate()
            .find(|(i, c)| columns[..*i].contains(c))
        {
            return Err(StepError::InvalidParams(format!(
                "param `{name}` lists `{dup}` twice"
            )));
        }
        Ok(columns)
    }

    pub fn float64_list(&self, name: &str) -> Result<Vec<f64>, StepError> {
        match self.get(name)? {
            ParamValue::Float64List(v) => Ok(v.clone()),
            other => Err(Self::mismatch(name, ParamType::Float64List, other)),
        }
    }
}

fn coerce(spec: &ParamSpec, value: ParamValue) -> Result<ParamValue, StepError> {
    match (spec.type_, value) {
        (ParamType::Float64, ParamValue::Int64(v)) => Ok(ParamValue::Float64(v as f64)),
        (ParamType::Float64List, ParamValue::TextList(v)) if v.is_empty() => {
            Ok(ParamValue::Float64List(Vec::new()))
        }
        (wanted, value) if value.param_type() == wanted => Ok(value),
        (wanted, value) => Err(StepError::InvalidParams(format!(
            "param `{}` should be {wanted}, got {}",
            spec.name,
            value.param_type()
        ))),
    }
}
