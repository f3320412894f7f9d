//! Hyperparameters as written in a pipeline file's `params` table.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::TrainError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HyperValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for HyperValue {
    /// The value as written in a pipeline file (text unquoted).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HyperValue::Bool(v) => write!(f, "{v}"),
            HyperValue::Int(v) => write!(f, "{v}"),
            HyperValue::Float(v) => write!(f, "{v}"),
            HyperValue::Text(v) => f.write_str(v),
        }
    }
}

/// The hyperparameters of one learner. Getters take the documented
/// default; [`HyperParams::finish`] reports any key no getter asked for, so
/// a typo (`max_detph`) is an error, not a silently ignored setting.
#[derive(Debug, Clone, Default)]
pub struct HyperParams {
    values: BTreeMap<String, HyperValue>,
    asked: RefCell<BTreeSet<String>>,
}

impl HyperParams {
    pub fn new(values: BTreeMap<String, HyperValue>) -> HyperParams {
        HyperParams {
            values,
            asked: RefCell::default(),
        }
    }

    pub fn values(&self) -> &BTreeMap<String, HyperValue> {
        &self.values
    }

    fn get(&self, name: &str) -> Option<&HyperValue> {
        self.asked.borrow_mut().insert(name.to_string());
        self.values.get(name)
    }

    fn wrong(name: &str, expected: &str, got: &HyperValue) -> TrainError {
        TrainError::Hyper {
            name: name.into(),
            message: format!("expected {expected}, got {got:?}"),
        }
    }

    pub fn float(&self, name: &str, default: f64) -> Result<f64, TrainError> {
        match self.get(name) {
            None => Ok(default),
            Some(HyperValue::Float(v)) => Ok(*v),
            Some(HyperValue::Int(v)) => Ok(*v as f64),
            Some(other) => Err(Self::wrong(name, "a number", other)),
        }
    }

    /// A number with no fixed default: `None` when the key is absent (the
    /// learner then derives the value from the data).
    pub fn optional_float(&self, name: &str) -> Result<Option<f64>, TrainError> {
        match self.get(name) {
            None => Ok(None),
            Some(HyperValue::Float(v)) => Ok(Some(*v)),
            Some(HyperValue::Int(v)) => Ok(Some(*v as f64)),
            Some(other) => Err(Self::wrong(name, "a number", other)),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, TrainError> {
        match self.get(name) {
            None => Ok(default),
            Some(HyperValue::Int(v)) => Ok(*v),
            Some(other) => Err(Self::wrong(name, "an integer", other)),
        }
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, TrainError> {
        match self.get(name) {
            None => Ok(default),
            Some(HyperValue::Bool(v)) => Ok(*v),
            Some(other) => Err(Self::wrong(name, "true or false", other)),
        }
    }

    /// A text value that must be one of `allowed` (the first is the default).
    pub fn choice(&self, name: &str, allowed: &[&'static str]) -> Result<&'static str, TrainError> {
        match self.get(name) {
            None => Ok(allowed[0]),
            Some(HyperValue::Text(v)) => {
                allowed
                    .iter()
                    .copied()
                    .find(|a| a == v)
                    .ok_or_else(|| TrainError::Hyper {
                        name: name.into(),
                        message: format!("`{v}` is not one of {}", allowed.join(", ")),
                    })
            }
            Some(other) => Err(Self::wrong(name, "text", other)),
        }
    }

    /// Checks `value` lies in `[low, high]` (use infinities for open ends).
    pub fn in_range(name: &str, value: f64, low: f64, high: f64) -> Result<(), TrainError> {
        if value >= low && value <= high {
            Ok(())
        } else {
            Err(TrainError::Hyper {
                name: name.into(),
                message: format!("{value} is out of range [{low}, {high}]"),
            })
        }
    }

    /// Errors on the first key that no getter asked for.
    pub fn finish(&self) -> Result<(), TrainError> {
        let asked = self.asked.borrow();
        match self.values.keys().find(|k| !asked.contains(*k)) {
            None => Ok(()),
            Some(key) => Err(TrainError::Hyper {
                name: key.clone(),
                message: format!(
                    "unknown hyperparameter (known: {})",
                    asked.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }
}
