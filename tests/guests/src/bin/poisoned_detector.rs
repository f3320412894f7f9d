//! A detector that answers normally (`poisoned_score` 0, rule
//! `poisoned.checked`) until a row's text holds a trigger: `POISON` traps
//! (panic), `HANG` spins forever, `BLOAT` allocates without bound.
use sluice_sdk::*;

struct Poisoned;

impl Step for Poisoned {
    fn describe() -> StepInfo {
        StepInfo::new(
            "poisoned-detector",
            "0.0.1",
            StepKind::Detector,
            "hostile test plugin",
        )
        .reads(ColumnSpec::text("text", "messages"))
        .writes(ColumnSpec::float64("poisoned_score", "always 0"))
        .writes(ColumnSpec::tags("poisoned_rules", "`poisoned.checked`"))
    }
    fn open(_: Params, _: Option<Vec<u8>>) -> Result<Self, StepError> {
        Ok(Poisoned)
    }
    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let text = input.text("text")?;
        let mut score = Float64Builder::with_capacity(text.len());
        let mut rules = TagsBuilder::with_capacity(text.len());
        for value in text.iter().map(Option::unwrap_or_default) {
            if value.contains("POISON") {
                panic!("poisoned by {value:?}");
            }
            if value.contains("HANG") {
                let mut x = value.len() as u64;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            if value.contains("BLOAT") {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 16 << 20]));
                }
            }
            score.push(0.0);
            rules.push_row(["poisoned.checked"]);
        }
        Ok(Chunk::new(input.rows)
            .with("poisoned_score", score.finish())
            .with("poisoned_rules", rules.finish()))
    }
}

export_step!(Poisoned);
fn main() {}
