//! Turns raw text into a stream of classified symbols, each remembering the
//! byte range of the source character it came from (for reporting).
//!
//! One source character becomes zero, one or a few symbols: compatibility
//! decomposition (NFKD, per character) folds fullwidth, mathematical and
//! circled forms and ligatures to plain letters, combining marks (accents,
//! "zalgo") are dropped, case is folded, `ñ` is kept distinct (Spanish
//! `coño` is not `cono`, "cone"), a few Cyrillic/Greek look-alikes are
//! mapped to Latin, and leetspeak characters are classified for the
//! matcher to decode.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// How the matcher treats a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A letter (`ch` is lower-case, accent-free).
    Letter,
    /// A Cyrillic/Greek look-alike mapped to the Latin letter `ch`. Only
    /// counts inside a token that also has a real Latin letter, so Russian
    /// or Greek words are never read as English.
    Confusable,
    /// A symbol read as the letter `ch` (`$`→s, `€`→e).
    Leet,
    /// A digit read as the letter `ch` (`4`→a, `0`→o, `5`→s).
    LeetDigit,
    /// `1`: read as `i` or `l`.
    OneDigit,
    /// `!` or `|`: `i` or `l` inside a word, punctuation at its edges.
    Bar,
    /// `@`: `a`, or a mention sigil at the start of a token.
    At,
    /// `*` or `#`: one unknown letter inside a word (`f*ck`); emphasis or
    /// a hashtag sigil at the edges.
    Wild,
    /// A digit without a letter reading, or a letter of another script:
    /// part of a word but never part of a match.
    Other,
    /// Whitespace other than a line break.
    Space,
    /// A line break: single letters are never joined across it.
    Newline,
    /// Punctuation; `ch` is the character, to tell joiners (`.`, `-`, `_`,
    /// `~`) from others.
    Punct,
    /// An emoji or other symbol; matched on its own (e.g. 🖕), never joined.
    Symbol,
}

impl Class {
    /// True for symbols that make up words.
    #[inline]
    pub fn is_word(self) -> bool {
        matches!(
            self,
            Class::Letter
                | Class::Confusable
                | Class::Leet
                | Class::LeetDigit
                | Class::OneDigit
                | Class::Bar
                | Class::At
                | Class::Wild
                | Class::Other
        )
    }
}

/// One symbol of the canonical stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sym {
    pub ch: char,
    pub class: Class,
    /// Byte range of the source character in the original text.
    pub start: u32,
    pub end: u32,
}

/// The character `*` stands for in canonical letter buffers (a wildcard).
pub const WILD: char = '*';

/// Appends the symbols of `text` to `out` (cleared first).
pub fn symbols(text: &str, out: &mut Vec<Sym>) {
    out.clear();
    out.reserve(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'(' && bytes.get(i + 1) == Some(&b')') {
            // `f()ck`: an empty pair of parentheses draws an `o`
            out.push(Sym {
                ch: 'o',
                class: Class::Leet,
                start: i as u32,
                end: i as u32 + 2,
            });
            i += 2;
        } else if b.is_ascii() {
            // the hot path: one table lookup per ASCII byte
            let (ch, class) = ASCII[b as usize];
            out.push(Sym {
                ch,
                class,
                start: i as u32,
                end: i as u32 + 1,
            });
            i += 1;
        } else {
            let c = text[i..].chars().next().expect("a char starts here");
            let end = i + c.len_utf8();
            non_ascii(c, i as u32, end as u32, out);
            i = end;
        }
    }
}

/// [`ascii_class`] for every ASCII character.
static ASCII: [(char, Class); 128] = {
    let mut table = [('\0', Class::Space); 128];
    let mut i = 0;
    while i < 128 {
        table[i] = ascii_class(i as u8 as char);
        i += 1;
    }
    table
};

#[inline]
fn ascii(c: char, start: u32, end: u32) -> Sym {
    let (ch, class) = ASCII[c as usize];
    Sym {
        ch,
        class,
        start,
        end,
    }
}

const fn ascii_class(c: char) -> (char, Class) {
    match c {
        'a'..='z' => (c, Class::Letter),
        'A'..='Z' => ((c as u8 + 32) as char, Class::Letter),
        '4' => ('a', Class::LeetDigit),
        '8' => ('b', Class::LeetDigit),
        '3' => ('e', Class::LeetDigit),
        '6' | '9' => ('g', Class::LeetDigit),
        '0' => ('o', Class::LeetDigit),
        '5' => ('s', Class::LeetDigit),
        '$' => ('s', Class::Leet),
        '<' => ('c', Class::Leet),
        '7' => ('t', Class::LeetDigit),
        '1' => ('i', Class::OneDigit),
        '!' | '|' => ('i', Class::Bar),
        '@' => ('a', Class::At),
        '*' | '#' => (c, Class::Wild),
        '0'..='9' => (c, Class::Other),
        '\n' | '\r' | '\x0b' | '\x0c' => (c, Class::Newline),
        ' ' | '\t' => (c, Class::Space),
        '\0'..='\x1f' | '\x7f' => (c, Class::Space),
        _ => (c, Class::Punct),
    }
}

fn non_ascii(c: char, start: u32, end: u32, out: &mut Vec<Sym>) {
    if is_ignorable(c) {
        return;
    }
    for lower in c.to_lowercase() {
        if let Some(sym) = special(lower, start, end, out) {
            out.push(sym);
            continue;
        }
        decompose_compatible(lower, |d| {
            if is_combining_mark(d) || is_ignorable(d) {
                return;
            }
            if d.is_ascii() {
                // compatibility forms of ASCII (fullwidth `Ｆ`, math `𝐟`,
                // `ﬁ`) may still be upper case
                out.push(ascii(d, start, end));
            } else if let Some(sym) = special(d, start, end, out) {
                out.push(sym);
            } else {
                out.push(Sym {
                    ch: d,
                    class: classify_other(d),
                    start,
                    end,
                });
            }
        });
    }
}

/// Characters handled before decomposition; `None` means "decompose".
/// May push extra symbols itself (ß → s s).
fn special(c: char, start: u32, end: u32, out: &mut Vec<Sym>) -> Option<Sym> {
    let sym = |ch, class| {
        Some(Sym {
            ch,
            class,
            start,
            end,
        })
    };
    match c {
        // kept distinct: NFKD would turn it into n + tilde
        'ñ' => sym('ñ', Class::Letter),
        'ß' => {
            out.push(Sym {
                ch: 's',
                class: Class::Letter,
                start,
                end,
            });
            sym('s', Class::Letter)
        }
        'ø' => sym('o', Class::Letter),
        'ł' => sym('l', Class::Letter),
        'đ' => sym('d', Class::Letter),
        'ı' => sym('i', Class::Letter),
        '€' => sym('e', Class::Leet),
        '¡' => sym('i', Class::Bar),
        _ => confusable(c).map(|ch| Sym {
            ch,
            class: Class::Confusable,
            start,
            end,
        }),
    }
}

/// Cyrillic and Greek letters that look like Latin ones (lower case).
fn confusable(c: char) -> Option<char> {
    Some(match c {
        'а' => 'a',
        'в' => 'b',
        'с' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' => 'e',
        'һ' | 'н' => 'h',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'м' => 'm',
        'о' => 'o',
        'р' => 'p',
        'ѕ' => 's',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        _ => return None,
    })
}

/// Invisible characters used to split words without showing a gap:
/// zero-width space/joiners, soft hyphen, BOM, variation selectors and
/// emoji skin-tone modifiers.
fn is_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0100}'..='\u{E01EF}')
}

/// Non-ASCII characters after decomposition: letters (of any script) stay
/// in words, known punctuation blocks separate them, the rest are symbols.
fn classify_other(c: char) -> Class {
    if c.is_whitespace() {
        return if matches!(c, '\u{0085}' | '\u{2028}' | '\u{2029}') {
            Class::Newline
        } else {
            Class::Space
        };
    }
    if c.is_alphabetic() {
        return Class::Letter;
    }
    if c.is_numeric() {
        return Class::Other;
    }
    match c as u32 {
        // Latin-1 punctuation, general punctuation, CJK and fullwidth
        // punctuation, supplemental punctuation
        0x00A1..=0x00BF | 0x2010..=0x205E | 0x2E00..=0x2E7F | 0x3000..=0x303F | 0xFE10..=0xFE6F => {
            Class::Punct
        }
        _ => Class::Symbol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letters(text: &str) -> String {
        let mut out = Vec::new();
        symbols(text, &mut out);
        out.iter()
            .filter(|s| s.class.is_word())
            .map(|s| s.ch)
            .collect()
    }

    #[test]
    fn folds_case_width_accents_and_keeps_enye() {
        assert_eq!(letters("ＦＵＣＫ"), "fuck");
        assert_eq!(letters("pútâ"), "puta");
        assert_eq!(letters("CoÑo"), "coño");
        assert_eq!(letters("𝐟𝐮𝐜𝐤"), "fuck");
        assert_eq!(letters("ⓕⓤⓒⓚ"), "fuck");
        assert_eq!(letters("f\u{200B}u\u{00AD}ck"), "fuck");
        assert_eq!(letters("z̷a̴l̶g̵o"), "zalgo");
        assert_eq!(letters("f()<k"), "fock");
    }

    #[test]
    fn keeps_source_positions() {
        let mut out = Vec::new();
        symbols("é!", &mut out);
        assert_eq!((out[0].ch, out[0].start, out[0].end), ('e', 0, 2));
        assert_eq!((out[1].class, out[1].start, out[1].end), (Class::Bar, 2, 3));
    }

    #[test]
    fn classifies_leet_and_separators() {
        let mut out = Vec::new();
        symbols("$h1t @ 🖕", &mut out);
        let classes: Vec<_> = out.iter().map(|s| s.class).collect();
        assert_eq!(
            classes,
            vec![
                Class::Leet,
                Class::Letter,
                Class::OneDigit,
                Class::Letter,
                Class::Space,
                Class::At,
                Class::Space,
                Class::Symbol
            ]
        );
    }
}
