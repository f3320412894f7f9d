//! # sluice-sdk
//!
//! Everything a plugin author needs to write a sluice pipeline step: the
//! WIT types, typed column accessors and builders, parameter lookup, the
//! [`Step`] trait and the [`export_step!`] macro that turns an implementation
//! into a WebAssembly component, plus [`testing`] to run a step natively
//! under `cargo test`.
//!
//! ```ignore
//! use sluice_sdk::*;
//!
//! struct Shout { column: String }
//!
//! impl Step for Shout {
//!     fn describe() -> StepInfo {
//!         StepInfo::new("shout", env!("CARGO_PKG_VERSION"), StepKind::Cleaner, "Upper-cases a text column.")
//!             .param(ParamSpec::text("column", Some("text"), "the column to upper-case"))
//!             .reads(ColumnSpec::text("text", "input text").named_by("column"))
//!             .writes(ColumnSpec::text("text", "upper-cased text").named_by("column"))
//!     }
//!     fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
//!         Ok(Shout { column: params.text("column")? })
//!     }
//!     fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
//!         let upper = input.text(&self.column)?.map(|s| s.to_uppercase());
//!         Ok(Chunk::new(input.rows).with(&self.column, upper))
//!     }
//! }
//!
//! export_step!(Shout);
//! ```

pub mod bindings;
mod columns;
mod info;
pub mod log;
mod params;
pub mod state;
pub mod testing;

pub use bindings::sluice::plugin::types::{
    BooleanColumn, Chunk, Column, ColumnSpec, ColumnType, ColumnValues, Float64Column, Int64Column,
    Metric, Param, ParamSpec, ParamType, ParamValue, SparseColumn, StepError, StepInfo, StepKind,
    TagsColumn, TextColumn,
};
pub use columns::{
    BoolBuilder, BoolRef, Float64Builder, Float64Ref, Int64Builder, Int64Ref, SparseBuilder,
    SparseRef, TagsBuilder, TagsRef, TextBuilder, TextRef, is_valid,
};
pub use params::Params;

/// A pipeline step. Implement it, then call [`export_step!`] once.
///
/// The host drives a session through `open` → (`fit`* → `finish_fit`) or
/// (`process`* → `finish`). An error ends the session: the host never calls
/// it again.
pub trait Step: Sized + 'static {
    /// Static description; must not depend on data or parameters.
    fn describe() -> StepInfo;

    /// Starts a session. `params` has every declared parameter, defaults
    /// filled in and types checked. `state` is what an earlier
    /// [`Step::finish_fit`] returned, for fitted steps.
    fn open(params: Params, state: Option<Vec<u8>>) -> Result<Self, StepError>;

    /// Sees one chunk of training data. Only called when `describe().fits`.
    fn fit(&mut self, _input: Chunk) -> Result<(), StepError> {
        Err(StepError::Failed("this step has no fit pass".into()))
    }

    /// Ends the fit pass and returns the fitted state.
    fn finish_fit(&mut self) -> Result<Vec<u8>, StepError> {
        Err(StepError::Failed("this step has no fit pass".into()))
    }

    /// Transforms one chunk: returns exactly the declared `writes` columns,
    /// with `input.rows` rows each.
    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError>;

    /// Ends the process pass; evaluators return their metrics here.
    fn finish(&mut self) -> Result<Vec<Metric>, StepError> {
        Ok(Vec::new())
    }
}

/// Exports a [`Step`] implementation as the plugin's `sluice:plugin/step`.
///
/// Expands to nothing outside WebAssembly, so a plugin crate can also be
/// linked natively (tests, benchmarks) next to other plugins.
#[macro_export]
macro_rules! export_step {
    ($step:ty) => {
        #[cfg(target_arch = "wasm32")]
        mod __sluice_export {
            use super::*;
            struct SluiceComponent;
            impl $crate::__private::Guest for SluiceComponent {
                type Session = $crate::__private::SessionCell<$step>;
                fn describe() -> $crate::StepInfo {
                    <$step as $crate::Step>::describe()
                }
            }
            $crate::bindings::export!(SluiceComponent with_types_in $crate::bindings);
        }
    };
}

#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;

    pub use crate::bindings::exports::sluice::plugin::step::{Guest, GuestSession, Session};
    use crate::{Chunk, Metric, Param, Params, Step, StepError};

    /// Adapts a [`Step`] to the generated resource trait (whose methods take
    /// `&self`).
    pub struct SessionCell<S: Step>(RefCell<S>);

    impl<S: Step> GuestSession for SessionCell<S> {
        fn open(params: Vec<Param>, state: Option<Vec<u8>>) -> Result<Session, StepError> {
            // The host has already checked the params against `describe()`
            // and filled in defaults (it must: it cannot trust the guest),
            // so a fresh instance need not build its description again.
            let params = Params::from_host(params);
            let step = S::open(params, state)?;
            Ok(Session::new(SessionCell(RefCell::new(step))))
        }
        fn fit(&self, input: Chunk) -> Result<(), StepError> {
            self.0.borrow_mut().fit(input)
        }
        fn finish_fit(&self) -> Result<Vec<u8>, StepError> {
            self.0.borrow_mut().finish_fit()
        }
        fn process(&self, input: Chunk) -> Result<Chunk, StepError> {
            self.0.borrow_mut().process(input)
        }
        fn finish(&self) -> Result<Vec<Metric>, StepError> {
            self.0.borrow_mut().finish()
        }
    }
}

// `StepError` gets `Display` and `Error` from wit-bindgen (it is a WIT
// variant named `*-error`).

impl Chunk {
    /// An empty chunk of `rows` rows; add columns with [`Chunk::with`].
    pub fn new(rows: u32) -> Self {
        Chunk {
            rows,
            columns: Vec::new(),
        }
    }

    /// Adds (or replaces) a column.
    pub fn with(mut self, name: &str, values: ColumnValues) -> Self {
        self.set(name, values);
        self
    }

    /// Adds (or replaces) a column in place.
    pub fn set(&mut self, name: &str, values: ColumnValues) {
        match self.columns.iter_mut().find(|c| c.name == name) {
            Some(column) => column.values = values,
            None => self.columns.push(Column {
                name: name.to_string(),
                values,
            }),
        }
    }

    /// The column called `name`; an error naming it when it is absent
    /// (which is also what a step sees for a column it was not granted).
    pub fn column(&self, name: &str) -> Result<&ColumnValues, StepError> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.values)
            .ok_or_else(|| {
                StepError::InvalidInput(format!("column `{name}` is not in the input chunk"))
            })
    }

    /// Removes and returns the column called `name` (to reuse its buffers).
    pub fn take(&mut self, name: &str) -> Result<ColumnValues, StepError> {
        let index = self
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                StepError::InvalidInput(format!("column `{name}` is not in the input chunk"))
            })?;
        Ok(self.columns.swap_remove(index).values)
    }
}

impl ColumnValues {
    /// The type of these values.
    pub fn column_type(&self) -> ColumnType {
        match self {
            ColumnValues::Float64(_) => ColumnType::Float64,
            ColumnValues::Int64(_) => ColumnType::Int64,
            ColumnValues::Boolean(_) => ColumnType::Boolean,
            ColumnValues::Text(_) => ColumnType::Text,
            ColumnValues::Sparse(_) => ColumnType::Sparse,
            ColumnValues::Tags(_) => ColumnType::Tags,
        }
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ColumnType::Float64 => "float64",
            ColumnType::Int64 => "int64",
            ColumnType::Boolean => "boolean",
            ColumnType::Text => "text",
            ColumnType::Sparse => "sparse",
            ColumnType::Tags => "tags",
        })
    }
}

impl Metric {
    /// A metric without labels.
    pub fn new(name: &str, value: f64) -> Self {
        Metric {
            name: name.to_string(),
            value,
            labels: Vec::new(),
        }
    }

    /// Adds a qualifier such as `("group", "es")`.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_string(), value.to_string()));
        self
    }
}
