//! Run a step natively, the way the host drives it, from `cargo test`.
//!
//! ```ignore
//! let out = sluice_sdk::testing::process::<CleanText>(&[("column", "text".into())], input)?;
//! ```

use crate::state::State;
use crate::{Chunk, Metric, Param, ParamValue, Params, Step, StepError};

fn params<S: Step>(given: &[(&str, ParamValue)]) -> Result<Params, StepError> {
    let given = given
        .iter()
        .map(|(name, value)| Param {
            name: name.to_string(),
            value: value.clone(),
        })
        .collect();
    Params::resolve(&S::describe().params, given)
}

/// Opens a session with `given` params (defaults filled in) and processes
/// one chunk.
pub fn process<S: Step>(given: &[(&str, ParamValue)], input: Chunk) -> Result<Chunk, StepError> {
    let mut step = S::open(params::<S>(given)?, None)?;
    step.process(input)
}

/// Runs the fit pass over `training`, returning the fitted state bytes.
pub fn fit<S: Step>(
    given: &[(&str, ParamValue)],
    training: Vec<Chunk>,
) -> Result<Vec<u8>, StepError> {
    let mut step = S::open(params::<S>(given)?, None)?;
    for chunk in training {
        step.fit(chunk)?;
    }
    step.finish_fit()
}

/// Fits on `training`, then opens a fresh session from the state and
/// processes `input`, as the host does.
pub fn fit_process<S: Step>(
    given: &[(&str, ParamValue)],
    training: Vec<Chunk>,
    input: Chunk,
) -> Result<Chunk, StepError> {
    let state = fit::<S>(given, training)?;
    let mut step = S::open(params::<S>(given)?, Some(state))?;
    step.process(input)
}

/// Processes every chunk then returns `finish`'s metrics (evaluators).
pub fn evaluate<S: Step>(
    given: &[(&str, ParamValue)],
    chunks: Vec<Chunk>,
) -> Result<Vec<Metric>, StepError> {
    let mut step = S::open(params::<S>(given)?, None)?;
    for chunk in chunks {
        step.process(chunk)?;
    }
    step.finish()
}

impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Text(v.to_string())
    }
}

impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Boolean(v)
    }
}

impl From<i64> for ParamValue {
    fn from(v: i64) -> Self {
        ParamValue::Int64(v)
    }
}

impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Float64(v)
    }
}

impl From<&[&str]> for ParamValue {
    fn from(v: &[&str]) -> Self {
        ParamValue::TextList(v.iter().map(|s| s.to_string()).collect())
    }
}

/// A chunk holding one text column, for tests.
pub fn text_chunk(name: &str, rows: &[Option<&str>]) -> Chunk {
    let mut builder = crate::TextBuilder::with_capacity(rows.len(), 0);
    for row in rows {
        builder.push_option(*row);
    }
    Chunk::new(rows.len() as u32).with(name, builder.finish())
}

/// A chunk holding one float64 column, for tests.
pub fn float64_chunk(name: &str, rows: &[Option<f64>]) -> Chunk {
    let mut builder = crate::Float64Builder::with_capacity(rows.len());
    for row in rows {
        builder.push_option(*row);
    }
    Chunk::new(rows.len() as u32).with(name, builder.finish())
}

/// Checks a [`State`] format: `state` survives encode and decode; every
/// strict prefix of its bytes is refused as truncated; a trailing byte, a
/// wrong magic and (for a versioned format) another version are refused.
/// Returns the bytes, for the step's own checks of what it validates.
pub fn assert_state_round_trips<S: State + PartialEq + std::fmt::Debug>(state: &S) -> Vec<u8> {
    let bytes = state.encode();
    assert_eq!(&S::decode(&bytes).expect("state decodes"), state);
    let error = |bytes: &[u8]| match S::decode(bytes) {
        Ok(decoded) => panic!("{bytes:?} decoded as {decoded:?}"),
        Err(e) => e.to_string(),
    };
    for len in 0..bytes.len() {
        let err = error(&bytes[..len]);
        assert!(err.contains("truncated"), "prefix of {len} bytes: {err}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(error(&trailing).contains("trailing bytes"));
    let mut magic = bytes.clone();
    magic[0] ^= 0xff;
    assert!(error(&magic).contains("wrong magic"));
    if let Some(version) = S::VERSION {
        let mut other = bytes.clone();
        other[S::MAGIC.len()] = version.wrapping_add(1);
        let err = error(&other);
        assert!(
            err.contains(&format!("unsupported version {}", version.wrapping_add(1))),
            "{err}"
        );
    }
    bytes
}
