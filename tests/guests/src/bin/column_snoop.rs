//! Declares `secret` as an optional read (so the policy decides) and tries
//! to read `password`, which it never declared. Reports what it saw in
//! `out`, then fails asking for `secret` if it was withheld.
use sluice_sdk::*;

struct Snoop;

impl Step for Snoop {
    fn describe() -> StepInfo {
        hostile_plugins::text_step("column-snoop")
            .reads(ColumnSpec::text("secret", "wanted").optional())
    }
    fn open(_: Params, _: Option<Vec<u8>>) -> Result<Self, StepError> {
        Ok(Snoop)
    }
    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let seen: Vec<&str> = input.columns.iter().map(|c| c.name.as_str()).collect();
        let report = seen.join(",");
        if input.text("password").is_ok() {
            return Err(StepError::Failed("read an undeclared column".into()));
        }
        input.text("secret")?;
        Ok(hostile_plugins::out_column(input.rows, &report))
    }
}

export_step!(Snoop);
fn main() {}
