//! Shared pieces of the hostile plugins in src/bin: each binary is one
//! attack, built to its own wasm32-wasip2 component by tests/build.rs.

use sluice_sdk::*;

/// A step that reads `text` and writes `out` (text), under `name`.
pub fn text_step(name: &str) -> StepInfo {
    StepInfo::new(name, "0.0.1", StepKind::Cleaner, "hostile test plugin")
        .reads(ColumnSpec::text("text", "input"))
        .writes(ColumnSpec::text("out", "output"))
}

/// A well-formed `out` column with one copy of `value` per row.
pub fn out_column(rows: u32, value: &str) -> Chunk {
    let mut out = TextBuilder::with_capacity(rows as usize, 0);
    for _ in 0..rows {
        out.push(value);
    }
    Chunk::new(rows).with("out", out.finish())
}

/// Declares `text_step(name)` and runs `body` on each chunk.
#[macro_export]
macro_rules! hostile {
    ($name:literal, |$input:ident| $body:expr) => {
        struct Hostile;
        impl sluice_sdk::Step for Hostile {
            fn describe() -> sluice_sdk::StepInfo {
                $crate::text_step($name)
            }
            fn open(
                _: sluice_sdk::Params,
                _: Option<Vec<u8>>,
            ) -> Result<Self, sluice_sdk::StepError> {
                Ok(Hostile)
            }
            fn process(
                &mut self,
                $input: sluice_sdk::Chunk,
            ) -> Result<sluice_sdk::Chunk, sluice_sdk::StepError> {
                $body
            }
        }
        sluice_sdk::export_step!(Hostile);
        fn main() {}
    };
}
