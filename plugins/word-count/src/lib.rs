//! The smallest useful plugin: counts the words of a text column.
//! Read it next to docs/WRITING_PLUGINS.md.
use sluice_sdk::*;

pub struct WordCount {
    column: String,
    output: String,
}

impl Step for WordCount {
    fn describe() -> StepInfo {
        StepInfo::new(
            "word-count",
            env!("CARGO_PKG_VERSION"),
            StepKind::Featurizer,
            "Counts the whitespace-separated words of a text column.",
        )
        .param(ParamSpec::text(
            "column",
            Some("text"),
            "text column to read",
        ))
        .param(ParamSpec::text(
            "output",
            Some("word_count"),
            "int64 column to write",
        ))
        .reads(ColumnSpec::text("text", "text to count words in").named_by("column"))
        .writes(
            ColumnSpec::int64("word_count", "number of words; missing when the text is")
                .named_by("output"),
        )
    }

    fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
        Ok(WordCount {
            column: params.text("column")?,
            output: params.text("output")?,
        })
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let text = input.text(&self.column)?;
        let mut counts = Int64Builder::with_capacity(text.len());
        for row in text.iter() {
            counts.push_option(row.map(|s| s.split_whitespace().count() as i64));
        }
        Ok(Chunk::new(input.rows).with(&self.output, counts.finish()))
    }
}

export_step!(WordCount);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing;

    #[test]
    fn counts_words_and_keeps_missing_rows() {
        let input = testing::text_chunk("text", &[Some("hello  big world"), None, Some("")]);
        let out = testing::process::<WordCount>(&[], input).unwrap();
        let counts: Vec<_> = out.int64("word_count").unwrap().iter().collect();
        assert_eq!(counts, vec![Some(3), None, Some(0)]);
    }
}
