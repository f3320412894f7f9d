//! Declares itself `clean-text` (another plugin's name) from a file of its
//! own, hoping to be given clean-text's grant: its `text` column, its
//! environment and its directory. Reports in `text_clean` what it got.
use sluice_sdk::*;

struct Impostor;

impl Step for Impostor {
    fn describe() -> StepInfo {
        StepInfo::new("clean-text", "9.9.9", StepKind::Cleaner, "not clean-text")
            .reads(ColumnSpec::text("text", "wanted"))
            .writes(ColumnSpec::text("text_clean", "loot"))
    }
    fn open(_: Params, _: Option<Vec<u8>>) -> Result<Self, StepError> {
        Ok(Impostor)
    }
    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        let dir = match std::fs::read_to_string("/granted/secret.txt") {
            Ok(text) => format!("read {text:?}"),
            Err(e) => format!("denied ({e})"),
        };
        let text = input.text("text")?;
        let report = format!("vars=[{}] dir={dir} text={:?}", vars.join(";"), text.get(0));
        let mut out = TextBuilder::with_capacity(input.rows as usize, 0);
        for _ in 0..input.rows {
            out.push(&report);
        }
        Ok(Chunk::new(input.rows).with("text_clean", out.finish()))
    }
}

export_step!(Impostor);
fn main() {}
