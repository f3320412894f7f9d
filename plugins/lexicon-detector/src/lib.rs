//! `lexicon-detector`: flags offensive and abusive language in English and
//! Spanish chat messages with term lists (LDNOOBW, reviewed; see
//! data/README.md), robust to common obfuscation: leetspeak, separators
//! inside words, repeated letters, accents, case, fullwidth and other
//! compatibility forms, zero-width characters and Cyrillic look-alikes.
//!
//! The matcher is plain Rust ([`Lexicon::builtin`], [`Lexicon::detect`]) so
//! that native benchmarks and tools run the very code the plugin runs.

mod builtin;
mod detect;
mod lexicon;
pub mod normalize;

use std::path::Path;
use std::sync::Arc;

use sluice_sdk::*;

pub use detect::{Detection, Hit, Scratch};
pub use lexicon::{
    BUILTIN_EN, BUILTIN_ES, Category, Lang, Langs, Lexicon, Severity, Source, TARGETED_RULE, Term,
};

/// Reads the extra term lists in `dir`: every `*.txt` file, language from
/// the file name (`en.txt`, `es.txt`, `any.txt`, or `en-…`/`es_…` prefixed
/// names), in file-name order, on top of the built-in lists.
pub fn lexicon_with_extra_dir(dir: &str) -> Result<Lexicon, StepError> {
    let invalid = |message: String| StepError::InvalidParams(message);
    let entries = std::fs::read_dir(dir).map_err(|e| {
        invalid(format!("param `extra_dir`: cannot read directory `{dir}`: {e} (is it granted to the plugin with `dirs` in the policy?)"))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| invalid(format!("param `extra_dir`: cannot list `{dir}`: {e}")))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("txt") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let lang = lang_of_file(&path).ok_or_else(|| {
            invalid(format!(
                "param `extra_dir`: `{}`: cannot tell the language from the file name (use en.txt, es.txt or any.txt, optionally en-NAME.txt)",
                path.display()
            ))
        })?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            invalid(format!(
                "param `extra_dir`: cannot read `{}`: {e}",
                path.display()
            ))
        })?;
        files.push((name, path.display().to_string(), lang, text));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sources: Vec<Source<'_>> = Lexicon::builtin_sources().to_vec();
    sources.extend(files.iter().map(|(_, path, lang, text)| Source {
        lang: *lang,
        name: path,
        text,
    }));
    Lexicon::build(&sources).map_err(|e| invalid(format!("param `extra_dir`: {e}")))
}

fn lang_of_file(path: &Path) -> Option<Lang> {
    let stem = path.file_stem()?.to_str()?;
    let primary = stem.split(['-', '_', '.']).next()?.to_ascii_lowercase();
    match primary.as_str() {
        "en" => Some(Lang::En),
        "es" => Some(Lang::Es),
        "any" => Some(Lang::Any),
        _ => None,
    }
}

pub struct LexiconDetector {
    lexicon: Arc<Lexicon>,
    column: String,
    langs: Langs,
    lang_column: String,
    threshold: f64,
    label_output: String,
    score_output: String,
    rules_output: String,
    scratch: Scratch,
    detection: Detection,
}

impl Step for LexiconDetector {
    fn describe() -> StepInfo {
        StepInfo::new(
            "lexicon-detector",
            env!("CARGO_PKG_VERSION"),
            StepKind::Detector,
            "Flags offensive/abusive English and Spanish chat messages with term lists, robust to leetspeak, separators, repeated letters and accents.",
        )
        .param(ParamSpec::text("column", Some("text"), "text column to check"))
        .param(ParamSpec::text("lang", Some("auto"), "term lists to use: auto (English and Spanish), en or es"))
        .param(ParamSpec::text(
            "lang_column",
            Some("lang"),
            "optional column of per-row language codes (en, es-MX, spa…); rows with a missing or other code use `lang`",
        ))
        .param(ParamSpec::text(
            "extra_dir",
            Some(""),
            "directory of extra term lists (en.txt, es.txt, any.txt; `term<TAB>severity` per line) granted with `dirs`; empty = off",
        ))
        .param(ParamSpec::float64(
            "threshold",
            Some(0.5),
            "label is true when the score reaches this (0.5: one strong term or slur, or two mild ones)",
        ))
        .param(ParamSpec::text("label_output", Some("offensive_label"), "boolean column to write the label to"))
        .param(ParamSpec::text("score_output", Some("offensive_score"), "float64 column to write the score to"))
        .param(ParamSpec::text("rules_output", Some("offensive_rules"), "tags column to write the fired rule ids to"))
        .reads(ColumnSpec::text("text", "message text").named_by("column"))
        .reads(ColumnSpec::text("lang", "per-row language code").named_by("lang_column").optional())
        .writes(
            ColumnSpec::boolean("offensive_label", "score >= threshold; missing where the text is")
                .named_by("label_output"),
        )
        .writes(
            ColumnSpec::float64(
                "offensive_score",
                "1 - Π(1 - w) over distinct fired rules, w = 0.35 mild, 0.75 strong, 0.95 slur; missing where the text is",
            )
            .named_by("score_output"),
        )
        .writes(
            ColumnSpec::tags("offensive_rules", "ids of the rules that fired (lexicon.<category>.<lang>.<term>, lexicon.insult.targeted), sorted, no duplicates")
                .named_by("rules_output"),
        )
    }

    fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let lang = params.text("lang")?;
        let langs = Langs::from_param(&lang).ok_or_else(|| {
            StepError::InvalidParams(format!(
                "param `lang` should be auto, en or es, got `{lang}`"
            ))
        })?;
        let threshold = params.float64("threshold")?;
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(StepError::InvalidParams(format!(
                "param `threshold` should be in (0, 1], got {threshold}"
            )));
        }
        let (label_output, score_output, rules_output) = (
            params.text("label_output")?,
            params.text("score_output")?,
            params.text("rules_output")?,
        );
        if label_output == score_output
            || label_output == rules_output
            || score_output == rules_output
        {
            return Err(StepError::InvalidParams(format!(
                "params `label_output`, `score_output` and `rules_output` must name different columns, got `{label_output}`, `{score_output}`, `{rules_output}`"
            )));
        }
        let extra_dir = params.text("extra_dir")?;
        let lexicon = if extra_dir.is_empty() {
            Lexicon::builtin()
        } else {
            Arc::new(lexicon_with_extra_dir(&extra_dir)?)
        };
        Ok(LexiconDetector {
            lexicon,
            column: params.text("column")?,
            langs,
            lang_column: params.text("lang_column")?,
            threshold,
            label_output,
            score_output,
            rules_output,
            scratch: Scratch::default(),
            detection: Detection::default(),
        })
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let text = input.text(&self.column)?;
        // absent when the policy withholds it (it is optional) or the data
        // has no such column: every row then uses `lang`
        let row_langs = match input.column(&self.lang_column) {
            Ok(_) => Some(input.text(&self.lang_column)?),
            Err(_) => None,
        };
        let rows = text.len();
        let mut labels = BoolBuilder::with_capacity(rows);
        let mut scores = Float64Builder::with_capacity(rows);
        let mut rules = TagsBuilder::with_capacity(rows);
        for row in 0..rows {
            let Some(message) = text.get(row) else {
                // unknown is not clean: leave label and score missing
                labels.push_missing();
                scores.push_missing();
                rules.push_row(std::iter::empty::<&str>());
                continue;
            };
            let langs = row_langs
                .and_then(|l| l.get(row))
                .and_then(Langs::from_code)
                .unwrap_or(self.langs);
            self.lexicon
                .detect_with(message, langs, &mut self.scratch, &mut self.detection);
            labels.push(self.detection.fired() && self.detection.score >= self.threshold);
            scores.push(self.detection.score);
            rules.push_row(self.detection.rule_ids(&self.lexicon));
        }
        Ok(Chunk::new(input.rows)
            .with(&self.label_output, labels.finish())
            .with(&self.score_output, scores.finish())
            .with(&self.rules_output, rules.finish()))
    }
}

export_step!(LexiconDetector);
