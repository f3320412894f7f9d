//! `clean-text`: normalises chat text before detectors and featurizers.
//!
//! Per row, in order: NFKC normalisation (fullwidth and compatibility forms
//! become their plain equivalents), optional accent folding, then a single
//! pass over whitespace-separated tokens that masks URLs, emails, @mentions
//! and numbers with placeholder tokens, folds case, squashes runs of a
//! repeated character and rejoins tokens with single spaces.

use sluice_sdk::*;
use unicode_normalization::{
    IsNormalized, UnicodeNormalization, char::is_combining_mark, is_nfkc_quick,
};

pub const URL_TOKEN: &str = "<url>";
pub const EMAIL_TOKEN: &str = "<email>";
pub const MENTION_TOKEN: &str = "<user>";
pub const NUMBER_TOKEN: &str = "<num>";

/// What `clean` does; one field per parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub normalize: bool,
    pub lowercase: bool,
    pub strip_accents: bool,
    pub mask_urls: bool,
    pub mask_emails: bool,
    pub mask_mentions: bool,
    pub mask_numbers: bool,
    /// Runs of one character longer than this are cut to this length; 0 = off.
    pub max_repeat: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            normalize: true,
            lowercase: true,
            strip_accents: false,
            mask_urls: true,
            mask_emails: true,
            mask_mentions: true,
            mask_numbers: false,
            max_repeat: 3,
        }
    }
}

/// Cleans `input`, appending the result to `out` (callers reuse one buffer).
pub fn clean(options: &Options, input: &str, out: &mut String) {
    // ASCII and already-normalised text skip the (allocating) normaliser.
    let needs_nfkc =
        options.normalize && !input.is_ascii() && is_nfkc_quick(input.chars()) != IsNormalized::Yes;
    let needs_fold = options.strip_accents && !input.is_ascii();
    if needs_nfkc || needs_fold {
        let mut normalized: String = if needs_nfkc {
            input.nfkc().collect()
        } else {
            input.to_string()
        };
        if needs_fold {
            normalized = normalized
                .nfd()
                .filter(|c| !is_combining_mark(*c))
                .nfc()
                .collect();
        }
        clean_tokens(options, &normalized, out);
    } else {
        clean_tokens(options, input, out);
    }
}

fn clean_tokens(options: &Options, input: &str, out: &mut String) {
    let start_len = out.len();
    for token in input.split_whitespace() {
        if out.len() > start_len {
            out.push(' ');
        }
        let (core, trailing) = split_trailing_punctuation(token);
        let placeholder = if options.mask_urls && is_url(core) {
            Some(URL_TOKEN)
        } else if options.mask_emails && is_email(core) {
            Some(EMAIL_TOKEN)
        } else if options.mask_mentions && is_mention(core) {
            Some(MENTION_TOKEN)
        } else if options.mask_numbers && is_number(core) {
            Some(NUMBER_TOKEN)
        } else {
            None
        };
        match placeholder {
            Some(placeholder) => {
                out.push_str(placeholder);
                push_word(options, trailing, out);
            }
            None => push_word(options, token, out),
        }
    }
}

/// Appends `word` with case folding and repeat squashing.
fn push_word(options: &Options, word: &str, out: &mut String) {
    let mut previous = None;
    let mut run = 0usize;
    let mut push = |c: char, out: &mut String| {
        if Some(c) == previous {
            run += 1;
        } else {
            previous = Some(c);
            run = 1;
        }
        if options.max_repeat == 0 || run <= options.max_repeat {
            out.push(c);
        }
    };
    for c in word.chars() {
        if options.lowercase && !c.is_lowercase() {
            if c.is_ascii() {
                push(c.to_ascii_lowercase(), out);
            } else {
                for lower in c.to_lowercase() {
                    push(lower, out);
                }
            }
        } else {
            push(c, out);
        }
    }
}

/// Splits sentence punctuation off the end of a token so that `see
/// http://x.io/a.` masks the URL and keeps the full stop.
fn split_trailing_punctuation(token: &str) -> (&str, &str) {
    let core = token.trim_end_matches(['.', ',', '!', '?', ';', ':', ')', ']', '"', '\'']);
    (core, &token[core.len()..])
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn is_url(token: &str) -> bool {
    let rest = ["http://", "https://", "www."]
        .iter()
        .find(|p| starts_with_ignore_case(token, p))
        .map(|p| &token[p.len()..]);
    match rest {
        Some(rest) => {
            rest.len() > 2 && rest.contains('.') || starts_with_ignore_case(token, "http")
        }
        // bare domains such as `bit.ly/x` or `example.com`
        None => is_bare_domain(token),
    }
}

fn is_bare_domain(token: &str) -> bool {
    let host = token.split('/').next().unwrap_or("");
    let Some((name, tld)) = host.rsplit_once('.') else {
        return false;
    };
    const TLDS: &[&str] = &[
        "com", "net", "org", "io", "ly", "co", "uk", "es", "de", "info", "biz", "me", "tv", "xyz",
    ];
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && TLDS.iter().any(|t| tld.eq_ignore_ascii_case(t))
}

fn is_email(token: &str) -> bool {
    let Some((local, domain)) = token.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

fn is_mention(token: &str) -> bool {
    let Some(name) = token.strip_prefix('@') else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

fn is_number(token: &str) -> bool {
    let digits = token.trim_start_matches(['+', '-', '£', '$', '€']);
    digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
}

pub struct CleanText {
    column: String,
    output: String,
    options: Options,
}

impl Step for CleanText {
    fn describe() -> StepInfo {
        let d = Options::default();
        StepInfo::new("clean-text", env!("CARGO_PKG_VERSION"), StepKind::Cleaner,
            "Normalises chat text: NFKC, case folding, URL/email/mention/number masking, whitespace, repeated characters.")
            .param(ParamSpec::text("column", Some("text"), "text column to clean"))
            .param(ParamSpec::text("output", Some("text_clean"), "column to write the cleaned text to (may equal `column`)"))
            .param(ParamSpec::boolean("normalize", Some(d.normalize), "apply Unicode NFKC normalisation"))
            .param(ParamSpec::boolean("lowercase", Some(d.lowercase), "fold to lower case"))
            .param(ParamSpec::boolean("strip_accents", Some(d.strip_accents), "remove diacritics (é -> e)"))
            .param(ParamSpec::boolean("mask_urls", Some(d.mask_urls), "replace URLs with <url>"))
            .param(ParamSpec::boolean("mask_emails", Some(d.mask_emails), "replace email addresses with <email>"))
            .param(ParamSpec::boolean("mask_mentions", Some(d.mask_mentions), "replace @mentions with <user>"))
            .param(ParamSpec::boolean("mask_numbers", Some(d.mask_numbers), "replace numbers with <num>"))
            .param(ParamSpec::int64("max_repeat", Some(d.max_repeat as i64), "cut runs of one character to this length (0 = off)"))
            .reads(ColumnSpec::text("text", "raw text").named_by("column"))
            .writes(ColumnSpec::text("text_clean", "cleaned text; missing where the input is").named_by("output"))
    }

    fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let max_repeat = params.int64("max_repeat")?;
        if max_repeat < 0 {
            return Err(StepError::InvalidParams(format!(
                "param `max_repeat` must be >= 0, got {max_repeat}"
            )));
        }
        Ok(CleanText {
            column: params.text("column")?,
            output: params.text("output")?,
            options: Options {
                normalize: params.boolean("normalize")?,
                lowercase: params.boolean("lowercase")?,
                strip_accents: params.boolean("strip_accents")?,
                mask_urls: params.boolean("mask_urls")?,
                mask_emails: params.boolean("mask_emails")?,
                mask_mentions: params.boolean("mask_mentions")?,
                mask_numbers: params.boolean("mask_numbers")?,
                max_repeat: max_repeat as usize,
            },
        })
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let text = input.text(&self.column)?;
        Ok(Chunk::new(input.rows).with(&self.output, clean_column(&self.options, text)))
    }
}

/// Cleans every row of a text column (missing rows stay missing).
pub fn clean_column(options: &Options, text: TextRef<'_>) -> ColumnValues {
    let mut out = TextBuilder::with_capacity(text.len(), 0);
    for row in text.iter() {
        match row {
            Some(value) => {
                clean(options, value, out.buffer());
                out.end_row();
            }
            None => out.push_missing(),
        }
    }
    out.finish()
}

export_step!(CleanText);

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(input: &str) -> String {
        let mut out = String::new();
        clean(&Options::default(), input, &mut out);
        out
    }

    #[test]
    fn masks_urls_emails_mentions_and_keeps_punctuation() {
        assert_eq!(
            cleaned("Visit http://spam.example.com/win NOW!!!"),
            "visit <url> now!!!"
        );
        assert_eq!(
            cleaned("mail me at Bob.Smith@example.co.uk."),
            "mail me at <email>."
        );
        assert_eq!(
            cleaned("@alice_99, look at www.example.org"),
            "<user>, look at <url>"
        );
        assert_eq!(cleaned("see bit.ly/abc"), "see <url>");
    }

    #[test]
    fn normalises_unicode_case_whitespace_and_repeats() {
        assert_eq!(cleaned("  ＦＲＥＥ\t\tｍｏｎｅｙ \n"), "free money");
        assert_eq!(cleaned("Sooooo GOOOOD"), "sooo goood");
        assert_eq!(cleaned("ÁRBOL Niño"), "árbol niño");
        let fold = Options {
            strip_accents: true,
            ..Options::default()
        };
        let mut out = String::new();
        clean(&fold, "ÁRBOL Niño café", &mut out);
        assert_eq!(out, "arbol nino cafe");
    }

    #[test]
    fn numbers_masked_only_when_asked() {
        assert_eq!(cleaned("call 0800 123"), "call 0800 123");
        let numbers = Options {
            mask_numbers: true,
            ..Options::default()
        };
        let mut out = String::new();
        clean(&numbers, "win £1,000 now, call 0800", &mut out);
        assert_eq!(out, "win <num> now, call <num>");
    }

    #[test]
    fn step_keeps_missing_rows_and_writes_output_column() {
        let input = sluice_sdk::testing::text_chunk("msg", &[Some("HELLO @bob"), None]);
        let out = sluice_sdk::testing::process::<CleanText>(
            &[("column", "msg".into()), ("output", "msg".into())],
            input,
        )
        .unwrap();
        let rows: Vec<_> = out
            .text("msg")
            .unwrap()
            .iter()
            .map(|r| r.map(str::to_string))
            .collect();
        assert_eq!(rows, vec![Some("hello <user>".to_string()), None]);
    }

    #[test]
    fn rejects_negative_max_repeat() {
        let input = sluice_sdk::testing::text_chunk("text", &[Some("x")]);
        let err =
            sluice_sdk::testing::process::<CleanText>(&[("max_repeat", (-1i64).into())], input)
                .unwrap_err();
        assert!(err.to_string().contains("max_repeat"), "{err}");
    }
}
