//! Guest-supplied text on its way to people and the store: bounded in
//! size (with a note of how much was cut) and with control characters made
//! visible, so that a plugin can neither flood a terminal or a table nor
//! rewrite what the operator sees with ANSI / OSC escape sequences.
//!
//! The one place for this: the runtime cleans what it captures, the store
//! cleans what it writes, the CLI and the report clean what they show.
//! Cleaning is idempotent: clean text cleans to itself.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::units::format_size;

/// Bytes kept of one guest message (an error, a log line) as printed or
/// stored.
pub const MESSAGE_LIMIT: usize = 4096;

/// Room kept at the end of a bounded text for the note saying what was cut,
/// so that the note fits within the bound and cleaning twice changes nothing.
const NOTE_ROOM: usize = 48;

/// Whether `c` must not reach a terminal or a page raw: C0 and C1 controls
/// (ESC, CSI, OSC, BEL, CR, backspace, …), DEL, and the bidirectional
/// overrides and isolates that reorder what is displayed.
fn is_unsafe(c: char, keep_newlines: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_newlines,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => true,
        c => c.is_control(),
    }
}

fn push_escaped(out: &mut String, c: char, keep_newlines: bool) {
    match c {
        '\n' if !keep_newlines => out.push_str("\\n"),
        '\t' if !keep_newlines => out.push_str("\\t"),
        c if !is_unsafe(c, keep_newlines) => out.push(c),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Escapes and bounds in one pass that stops at the bound, so a 16 MiB
/// message costs what its first `limit` bytes cost. The note counts the
/// bytes of `text` left out.
fn clean_with(text: &str, limit: usize, keep_newlines: bool) -> String {
    let fits_before_note = limit.saturating_sub(NOTE_ROOM);
    let mut out = String::with_capacity(text.len().min(limit));
    // where to cut if it does not all fit: output length and input offset
    let mut cut = None;
    for (offset, c) in text.char_indices() {
        let before = out.len();
        push_escaped(&mut out, c, keep_newlines);
        if cut.is_none() && out.len() > fits_before_note {
            cut = Some((before, offset));
        }
        if out.len() > limit {
            let (length, offset) = cut.expect("the note's room is crossed first");
            out.truncate(length);
            let left_out = (text.len() - offset) as u64;
            let _ = write!(out, "… [{} more cut]", format_size(left_out));
            return out;
        }
    }
    out
}

/// Guest text that may span lines (an error with a panic message): control
/// characters other than newline and tab escaped (`\x1b`, `\u{9b}`), and
/// at most `limit` bytes, ending with a note of how much was cut.
pub fn clean(text: &str, limit: usize) -> String {
    clean_with(text, limit, true)
}

/// Guest text shown on one line (a log line, a name in a table): as
/// [`clean`], with newlines and tabs escaped too, so that one message
/// cannot pose as several.
pub fn clean_line(text: &str, limit: usize) -> String {
    clean_with(text, limit, false)
}

/// Control characters escaped as in [`clean`], without a bound: for text
/// whose guest parts were bounded already (a host error quoting one).
pub fn escaped(text: &str) -> Cow<'_, str> {
    cleaned(text, usize::MAX)
}

/// [`clean`] without copying text that is already clean and short.
pub fn cleaned(text: &str, limit: usize) -> Cow<'_, str> {
    if text.len() <= limit && !text.chars().any(|c| is_unsafe(c, true)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(clean(text, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_clean_text_is_unchanged() {
        assert_eq!(
            clean("plain text\nsecond line", 100),
            "plain text\nsecond line"
        );
        assert!(matches!(cleaned("abc", 3), Cow::Borrowed("abc")));
    }

    #[test]
    fn escape_sequences_are_made_visible() {
        let hostile = "\x1b[2J\x1b]0;owned\x07red\u{9b}31m\r\u{202e}txt";
        let cleaned = clean(hostile, MESSAGE_LIMIT);
        assert_eq!(
            cleaned,
            "\\x1b[2J\\x1b]0;owned\\x07red\\u{9b}31m\\x0d\\u{202e}txt"
        );
        assert!(!cleaned.chars().any(char::is_control));
        assert_eq!(clean_line("a\nb\tc", 100), "a\\nb\\tc");
    }

    #[test]
    fn long_text_is_cut_with_a_note_within_the_bound() {
        let long = "é".repeat(10_000); // 20,000 bytes, 2-byte characters
        let cut = clean(&long, MESSAGE_LIMIT);
        assert!(cut.len() <= MESSAGE_LIMIT, "{}", cut.len());
        assert!(
            cut.contains("15.6 KiB more cut"),
            "{}",
            &cut[cut.len() - 40..]
        );
        // escapes count against the bound; the note counts input bytes
        let cut = clean_line(&"\x1b".repeat(20_000), MESSAGE_LIMIT);
        assert!(cut.len() <= MESSAGE_LIMIT && cut.starts_with("\\x1b\\x1b"));
        assert!(
            cut.ends_with("18.5 KiB more cut]"),
            "{}",
            &cut[cut.len() - 40..]
        );
    }

    #[test]
    fn cleaning_is_idempotent() {
        for text in ["\x1b[31mred", &"x".repeat(9000), "tab\there\nnewline"] {
            let once = clean_line(text, MESSAGE_LIMIT);
            assert_eq!(clean_line(&once, MESSAGE_LIMIT), once);
            let once = clean(text, MESSAGE_LIMIT);
            assert_eq!(clean(&once, MESSAGE_LIMIT), once);
        }
    }
}
