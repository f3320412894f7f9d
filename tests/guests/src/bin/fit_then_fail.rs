//! A fitted step that fails after `finish-fit` returned its state: the
//! host must not keep a state file that no record names.
use sluice_sdk::*;

/// Unique bytes, so that a test can look for their artifact by digest.
pub const STATE: &[u8] = b"fitted state of fit-then-fail, never to be kept";

struct FitThenFail;

impl Step for FitThenFail {
    fn describe() -> StepInfo {
        hostile_plugins::text_step("fit-then-fail").fitted()
    }
    fn open(_: Params, _: Option<Vec<u8>>) -> Result<Self, StepError> {
        Ok(FitThenFail)
    }
    fn fit(&mut self, _: Chunk) -> Result<(), StepError> {
        Ok(())
    }
    fn finish_fit(&mut self) -> Result<Vec<u8>, StepError> {
        Ok(STATE.to_vec())
    }
    fn process(&mut self, _: Chunk) -> Result<Chunk, StepError> {
        Err(StepError::Failed("fails after finish-fit".into()))
    }
}

export_step!(FitThenFail);
fn main() {}
