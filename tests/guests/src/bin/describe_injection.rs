//! Describes itself with ANSI / OSC escape sequences in its summary and
//! docs (shown to people: they must arrive escaped). Granted the env var
//! `ATTACK`, it goes further: `name` puts escapes in its declared name,
//! `version` in its version (both reach the store and every listing: refused
//! at load), `flood` declares a 1 MiB summary (over the bound the host keeps).
use sluice_sdk::*;

const INJECTION: &str = "\x1b[2J\x1b]0;pwned\x07\x1b[8mhidden\x1b[0m\r\u{9b}31m";

struct DescribeInjection;

impl Step for DescribeInjection {
    fn describe() -> StepInfo {
        let attack = std::env::var("ATTACK").unwrap_or_default();
        let name = match attack.as_str() {
            "name" => format!("describe-injection{INJECTION}"),
            _ => "describe-injection".to_string(),
        };
        let version = match attack.as_str() {
            "version" => format!("1.0{INJECTION}"),
            _ => "1.0.0".to_string(),
        };
        let summary = match attack.as_str() {
            "flood" => "z".repeat(1 << 20),
            _ => format!("summary {INJECTION}"),
        };
        StepInfo::new(&name, &version, StepKind::Cleaner, &summary)
            .param(ParamSpec::text(
                "mode",
                Some("plain"),
                &format!("param doc {INJECTION}"),
            ))
            .reads(ColumnSpec::text("text", &format!("read doc {INJECTION}")))
            .writes(ColumnSpec::text("out", &format!("write doc {INJECTION}")))
    }
    fn open(_: Params, _: Option<Vec<u8>>) -> Result<Self, StepError> {
        Ok(DescribeInjection)
    }
    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        Ok(hostile_plugins::out_column(input.rows, "ok"))
    }
}

export_step!(DescribeInjection);
fn main() {}
