//! `pii-detector`: finds emails, phone numbers, payment card numbers,
//! IBANs and IP addresses in a text column; writes a label, a score, the
//! rules that fired and a masked copy of the text.
//!
//! Hand-written byte scanners instead of regexes keep the component small
//! and fast, and let every match be validated (Luhn for cards, mod-97 and
//! the per-country length for IBANs, octet ranges for IPv4, group counts for
//! IPv6) so that dates, times, prices and order numbers are not reported.
//! All patterns are ASCII; any non-ASCII character counts as a separator.

use sluice_sdk::*;

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

/// One kind of PII. Declared in the order of their ids, so a row's tags
/// come out sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    CreditCard,
    Email,
    Iban,
    Ipv4,
    Ipv6,
    Phone,
}

impl Rule {
    pub const ALL: [Rule; 6] = [
        Rule::CreditCard,
        Rule::Email,
        Rule::Iban,
        Rule::Ipv4,
        Rule::Ipv6,
        Rule::Phone,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::CreditCard => "pii.credit_card",
            Rule::Email => "pii.email",
            Rule::Iban => "pii.iban",
            Rule::Ipv4 => "pii.ipv4",
            Rule::Ipv6 => "pii.ipv6",
            Rule::Phone => "pii.phone",
        }
    }

    /// What a match is replaced with in the masked text.
    pub fn placeholder(self) -> &'static str {
        match self {
            Rule::CreditCard => "<card>",
            Rule::Email => "<email>",
            Rule::Iban => "<iban>",
            Rule::Ipv4 | Rule::Ipv6 => "<ip>",
            Rule::Phone => "<phone>",
        }
    }

    /// How sure a match of this rule is PII: fixed per rule, by how much
    /// the validation rules out look-alikes (see README).
    pub fn confidence(self) -> f64 {
        match self {
            Rule::Email | Rule::Iban => 1.0,
            Rule::CreditCard => 0.95,
            Rule::Ipv6 => 0.9,
            Rule::Ipv4 => 0.8,
            Rule::Phone => 0.7,
        }
    }

    /// Overlapping matches go to the rule that validates more strictly
    /// (digits in an email are not a phone, an IBAN's digits not a card).
    fn priority(self) -> u8 {
        match self {
            Rule::Email => 0,
            Rule::Iban => 1,
            Rule::CreditCard => 2,
            Rule::Ipv6 => 3,
            Rule::Ipv4 => 4,
            Rule::Phone => 5,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }
}

/// A set of rules (bit per [`Rule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleSet(u8);

impl RuleSet {
    pub fn all() -> Self {
        RuleSet(Rule::ALL.iter().fold(0, |bits, r| bits | r.bit()))
    }

    pub fn contains(self, rule: Rule) -> bool {
        self.0 & rule.bit() != 0
    }

    pub fn insert(&mut self, rule: Rule) {
        self.0 |= rule.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rules in id order.
    pub fn iter(self) -> impl Iterator<Item = Rule> {
        Rule::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

/// One detected span, in bytes of the row's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub start: usize,
    pub end: usize,
    pub rule: Rule,
}

// ---------------------------------------------------------------------------
// Shared byte helpers
// ---------------------------------------------------------------------------

#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[inline]
fn digit_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

const CURRENCY: [&str; 6] = ["$", "£", "€", "¥", "₹", "₽"];

fn currency_before(text: &str, i: usize) -> bool {
    let before = text[..i].trim_end_matches(' ');
    // at most one space between symbol and amount
    text[..i].len() - before.len() <= 1 && CURRENCY.iter().any(|c| before.ends_with(c))
}

fn currency_or_percent_after(text: &str, i: usize) -> bool {
    let after = &text[i..];
    let after = after.strip_prefix(' ').unwrap_or(after);
    after.starts_with('%') || CURRENCY.iter().any(|c| after.starts_with(c))
}

/// A number can start at `i`: not glued to a word, and not the tail of a
/// longer number such as `3.5`, `1,000`, `2024-01` or `#123`.
fn number_can_start(text: &str, i: usize) -> bool {
    let b = text.as_bytes();
    if i == 0 {
        return true;
    }
    let p = b[i - 1];
    if is_word(p) || matches!(p, b'#' | b'@' | b'$' | b'&' | b'=') {
        return false;
    }
    if matches!(p, b'.' | b',' | b'-' | b'/' | b':') && i >= 2 && b[i - 2].is_ascii_digit() {
        return false;
    }
    !currency_before(text, i)
}

/// A number can end at `i`: not glued to a word or a `+`, not continued
/// as a decimal (`.5`, `,50`), a time (`:30`) or a fraction (`/2`), and
/// not a price or a percentage.
fn number_can_end(text: &str, i: usize) -> bool {
    let b = text.as_bytes();
    if i < b.len() {
        let n = b[i];
        // `18+` is an age, `4+4` a sum
        if is_word(n) || n == b'+' || (matches!(n, b'.' | b',' | b':' | b'/') && digit_at(b, i + 1))
        {
            return false;
        }
    }
    !currency_or_percent_after(text, i)
}

// ---------------------------------------------------------------------------
// Email
// ---------------------------------------------------------------------------

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

/// `local@domain.tld`: local part of `[A-Za-z0-9._%+'-]` and non-ASCII
/// letters, an ASCII domain (IDNs in punycode) of at least two
/// domain labels, an alphabetic TLD of two or more letters.
fn scan_emails(text: &str, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    for at in b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'@')
        .map(|(i, _)| i)
    {
        // local part: ASCII local characters or non-ASCII letters (RFC 6531)
        let mut start = at;
        for (i, c) in text[..at].char_indices().rev() {
            if (c.is_ascii() && is_local(c as u8)) || (!c.is_ascii() && c.is_alphanumeric()) {
                start = i;
            } else {
                break;
            }
        }
        while start < at && matches!(b[start], b'.' | b'-' | b'\'' | b'+') {
            start += 1;
        }
        if start == at || b[at - 1] == b'.' {
            continue;
        }
        let mut i = at + 1;
        let mut labels = 0;
        let mut end = None;
        loop {
            let label_start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
                i += 1;
            }
            let label = &b[label_start..i];
            if label.is_empty() || label[0] == b'-' || label[label.len() - 1] == b'-' {
                break;
            }
            labels += 1;
            if labels >= 2 && label.len() >= 2 && label.iter().all(u8::is_ascii_alphabetic) {
                end = Some(i);
            }
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_alphanumeric() {
                i += 1;
            } else {
                break;
            }
        }
        if let Some(end) = end {
            out.push(Match {
                start,
                end,
                rule: Rule::Email,
            });
        }
    }
}

// ---------------------------------------------------------------------------
// IBAN
// ---------------------------------------------------------------------------

/// IBAN length per country (SWIFT IBAN registry).
fn iban_length(cc: [u8; 2]) -> Option<usize> {
    Some(match &cc {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FK" | b"FO" | b"GL" | b"NL" | b"SD" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"MN" | b"XK" => 20,
        b"CH" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"CR" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" | b"OM" | b"SO" | b"TL" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"LY" | b"PT" | b"ST" => 25,
        b"IS" | b"TR" => 26,
        b"BI" | b"DJ" | b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" => 27,
        b"AL" | b"AZ" | b"BY" | b"CY" | b"DO" | b"GT" | b"HU" | b"LB" | b"NI" | b"PL" | b"SV" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" | b"YE" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        b"RU" => 33,
        _ => return None,
    })
}

/// ISO 13616 check of a compact upper-case IBAN: check digits 02..=98 and
/// the rearranged number mod 97 is 1.
pub fn iban_checksum_ok(chars: &[u8]) -> bool {
    let well_formed = chars.len() >= 5
        && chars[2].is_ascii_digit()
        && chars[3].is_ascii_digit()
        && chars
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    if !well_formed {
        return false;
    }
    let check = (chars[2] - b'0') * 10 + (chars[3] - b'0');
    if !(2..=98).contains(&check) {
        return false;
    }
    let mut r = 0u32;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        r = if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    r == 1
}

/// Country code, 2 check digits, then the country's BBAN length of
/// alphanumerics, either compact or in groups of four separated by one
/// space (the print format).
fn scan_ibans(text: &str, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 4 < b.len() {
        let ok_start = b[i].is_ascii_alphabetic()
            && b[i + 1].is_ascii_alphabetic()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && (i == 0 || !is_word(b[i - 1]));
        let Some(len) = ok_start
            .then(|| iban_length([b[i].to_ascii_uppercase(), b[i + 1].to_ascii_uppercase()]))
            .flatten()
        else {
            i += 1;
            continue;
        };
        let mut chars = [0u8; 34];
        let mut count = 0;
        let mut j = i;
        let mut spaced = None;
        while count < len && j < b.len() {
            if count > 0 && count % 4 == 0 {
                let space = b[j] == b' ';
                if *spaced.get_or_insert(space) {
                    if !space {
                        break;
                    }
                    j += 1;
                }
            }
            match b.get(j) {
                Some(c) if c.is_ascii_alphanumeric() => chars[count] = c.to_ascii_uppercase(),
                _ => break,
            }
            count += 1;
            j += 1;
        }
        if count == len && (j == b.len() || !is_word(b[j])) && iban_checksum_ok(&chars[..len]) {
            out.push(Match {
                start: i,
                end: j,
                rule: Rule::Iban,
            });
            i = j;
        } else {
            i += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Digit groups (cards and phones)
// ---------------------------------------------------------------------------

/// Luhn (mod 10) check of ASCII digits.
pub fn luhn_ok(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// 13–19 digits, compact or in groups of 3–6 joined by one space or one
/// dash (the same throughout), Luhn-valid, starting with 2–6 (the major
/// industry identifiers of payment cards). Trailing groups are dropped
/// while the rest is too long or fails.
fn scan_cards(text: &str, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || !number_can_start(text, i) || (i > 0 && b[i - 1] == b'+') {
            i += 1;
            continue;
        }
        let mut digits = [0u8; 19];
        let mut count = 0;
        // (end byte, digits so far) after each complete group
        let mut ends: [(usize, usize); 8] = [(0, 0); 8];
        let mut groups = 0;
        let mut sep = None;
        let mut j = i;
        let mut overflow = false;
        loop {
            let group_start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                if count == 19 {
                    overflow = true;
                    break;
                }
                digits[count] = b[j];
                count += 1;
                j += 1;
            }
            if overflow {
                break;
            }
            let size = j - group_start;
            if sep.is_some() && !(3..=6).contains(&size) {
                break;
            }
            ends[groups] = (j, count);
            groups += 1;
            let next_sep = b.get(j).copied().filter(|c| matches!(c, b' ' | b'-'));
            match next_sep {
                Some(s) if groups < 8 && digit_at(b, j + 1) && sep.is_none_or(|x| x == s) => {
                    // the first group of a grouped number is 3–6 digits too
                    if groups == 1 && !(3..=6).contains(&size) {
                        break;
                    }
                    sep = Some(s);
                    j += 1;
                }
                _ => break,
            }
        }
        let found = if overflow && groups == 0 {
            None
        } else {
            ends[..groups].iter().rev().find(|&&(end, n)| {
                (13..=19).contains(&n)
                    && (b'2'..=b'6').contains(&digits[0])
                    && (number_can_end(text, end)
                        || (b[end] == b' ' && sep == Some(b' '))
                        || b[end] == b'-')
                    && luhn_ok(&digits[..n])
            })
        };
        match found {
            Some(&(end, _)) => {
                out.push(Match {
                    start: i,
                    end,
                    rule: Rule::CreditCard,
                });
                i = end;
            }
            // resume after the first group: a later group may start a card
            None => i = ends[..groups].first().map_or(j, |e| e.0).max(i + 1),
        }
    }
}

// a few lines, not one per word
#[rustfmt::skip]
const PHONE_WORDS: &[&str] = &[
    "call", "calls", "calling", "tel", "tele", "telephone", "phone", "ph", "mobile", "mob", "cell", "cellphone",
    "whatsapp", "whatsap", "txt", "text", "sms", "ring", "fax", "contact",
    "llama", "llámame", "llamame", "llamar", "teléfono", "telefono", "tlf", "tfno", "móvil", "movil", "celular",
];

/// One of the three words before `i` is a phone word ("call", "tel", ...).
fn phone_context(text: &str, i: usize) -> bool {
    let window_start = text.floor_char_boundary(i.saturating_sub(40));
    text[window_start..i]
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .rev()
        .take(3)
        .any(|w| {
            PHONE_WORDS
                .iter()
                .any(|p| w.chars().flat_map(char::to_lowercase).eq(p.chars()))
        })
}

#[derive(Debug, Clone, Copy, Default)]
struct Group {
    digits: u8,
    first: u8,
    paren: bool,
    /// separator before this group (0 = none)
    sep: u8,
    /// value, for date checks (saturating)
    value: u32,
    end: usize,
}

fn is_date(groups: &[Group]) -> bool {
    if groups.len() != 3 || groups.iter().any(|g| g.paren) {
        return false;
    }
    let (a, m, c) = (&groups[0], &groups[1], &groups[2]);
    if m.sep != c.sep || !matches!(m.sep, b'-' | b'.' | b' ') {
        return false;
    }
    let day_month = |x: &Group, y: &Group| {
        (1..=2).contains(&x.digits)
            && (1..=2).contains(&y.digits)
            && ((1..=12).contains(&x.value) && (1..=31).contains(&y.value)
                || (1..=31).contains(&x.value) && (1..=12).contains(&y.value))
    };
    // 2024-01-05, 05.01.2024, 1 5 2024, 05-01-24
    (a.digits == 4 && day_month(m, c)) || ((c.digits == 4 || c.digits == 2) && day_month(a, m))
}

/// Whether groups `g` (after an optional `+`) look like a phone number.
fn phone_shape(text: &str, start: usize, plus: bool, g: &[Group]) -> bool {
    let digits: usize = g.iter().map(|x| usize::from(x.digits)).sum();
    if is_date(g) || g.len() > 8 {
        return false;
    }
    let seps = || g.iter().skip(1).map(|x| x.sep);
    if seps().any(|s| s == b'.') {
        // dotted: 1.234.567 is a number, 555.1234 a decimal
        let thousands = (1..=3).contains(&g[0].digits) && g[1..].iter().all(|x| x.digits == 3);
        if g.len() < 3 || thousands || seps().any(|s| s != b'.') {
            return false;
        }
    }
    if plus {
        return (8..=15).contains(&digits) && g[0].first != b'0';
    }
    // "87121 18": a short code then a lone one- or two-digit group;
    // "0001234567": a zero-padded id (an international 00 prefix is
    // followed by a country code, which never starts with 0)
    if (g.len() == 2 && g[1].digits <= 2) || text.as_bytes()[start..].starts_with(b"000") {
        return false;
    }
    let mut sizes = [0u8; 9];
    for (size, x) in sizes.iter_mut().zip(g) {
        *size = x.digits;
    }
    let sizes = &sizes[..g.len()];
    let first = g[0].first;
    // 555-123-4567, 1-800-555-1234, 555-1234
    let nanp = (sizes == [3, 3, 4] || (sizes == [1, 3, 3, 4] && first == b'1'))
        || (sizes == [3, 4] && g[1].sep == b'-');
    // 612 345 678
    let spanish = sizes == [3, 3, 3] && seps().all(|s| s == b' ') && (b'6'..=b'9').contains(&first);
    (first == b'0' && (9..=14).contains(&digits))
        || (g.iter().any(|x| x.paren) && (7..=13).contains(&digits))
        || ((7..=15).contains(&digits) && phone_context(text, start))
        || ((7..=13).contains(&digits) && (nanp || spanish))
}

/// Phone numbers: `+` and 8–15 digits, or 7–15 national digits in a
/// recognised shape (see README), grouped by single spaces, dashes, dots
/// or parentheses. Dates, times, decimals, prices, percentages and
/// thousands-separated numbers are not phones.
fn scan_phones(text: &str, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let plus = c == b'+';
        let begins = if plus {
            digit_at(b, i + 1) || b.get(i + 1) == Some(&b'(')
        } else {
            c.is_ascii_digit() || c == b'('
        };
        if !begins || !number_can_start(text, i) || (c == b'(' && !digit_at(b, i + 1)) {
            i += 1;
            continue;
        }
        let mut groups = [Group::default(); 9];
        let mut n = 0;
        let mut j = i + usize::from(plus);
        let mut sep = 0u8;
        while n < groups.len() {
            let paren = b.get(j) == Some(&b'(');
            let digits_start = j + usize::from(paren);
            let mut k = digits_start;
            let mut value = 0u32;
            while k < b.len() && b[k].is_ascii_digit() {
                value = value
                    .saturating_mul(10)
                    .saturating_add(u32::from(b[k] - b'0'));
                k += 1;
            }
            let len = k - digits_start;
            if len == 0 || len > 12 || (paren && (b.get(k) != Some(&b')') || len > 5)) {
                break;
            }
            let end = k + usize::from(paren);
            groups[n] = Group {
                digits: len as u8,
                first: b[digits_start],
                paren,
                sep,
                value,
                end,
            };
            n += 1;
            j = end;
            // a group in parentheses may be followed directly by digits
            if paren && digit_at(b, j) {
                sep = 0;
                continue;
            }
            match b.get(j) {
                Some(&s @ (b' ' | b'-' | b'.'))
                    if digit_at(b, j + 1) || b.get(j + 1) == Some(&b'(') =>
                {
                    sep = s;
                    j += 1;
                }
                _ => break,
            }
        }
        // longest prefix of groups that is a phone; a shorter prefix must
        // stop at a space (a dash or dot continues the same number)
        let found = (1..=n).rev().find(|&k| {
            let end = groups[k - 1].end;
            let next_sep = if k < n { groups[k].sep } else { 0 };
            (next_sep == b' ' || (k == n && number_can_end(text, end)))
                && phone_shape(text, i, plus, &groups[..k])
        });
        match found {
            Some(k) => {
                let end = groups[k - 1].end;
                out.push(Match {
                    start: i,
                    end,
                    rule: Rule::Phone,
                });
                i = end;
            }
            // resume after the first group: a later group may start a phone
            None => i = if n > 0 { groups[0].end } else { i + 1 },
        }
    }
}

// ---------------------------------------------------------------------------
// IP addresses
// ---------------------------------------------------------------------------

const VERSION_WORDS: &[&str] = &["version", "ver", "versión", "release", "build", "v"];

/// Four dotted decimal octets 0–255 without leading zeros, not part of a
/// longer dotted run and not right after "version"/"release"/"build".
fn scan_ipv4(text: &str, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && (is_word(b[i - 1]) || b[i - 1] == b'.')) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut octets = 0;
        let mut ok = true;
        loop {
            let start = j;
            let mut value = 0u32;
            while j < b.len() && b[j].is_ascii_digit() && j - start < 4 {
                value = value * 10 + u32::from(b[j] - b'0');
                j += 1;
            }
            let len = j - start;
            if len == 0 || len > 3 || value > 255 || (len > 1 && b[start] == b'0') {
                ok = false;
                break;
            }
            octets += 1;
            if octets == 4 || b.get(j) != Some(&b'.') || !digit_at(b, j + 1) {
                break;
            }
            j += 1;
        }
        let continues = j < b.len() && (is_word(b[j]) || (b[j] == b'.' && digit_at(b, j + 1)));
        if ok && octets == 4 && !continues && !after_version_word(text, i) {
            out.push(Match {
                start: i,
                end: j,
                rule: Rule::Ipv4,
            });
            i = j;
        } else {
            // skip the rest of this dotted run
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
        }
    }
}

fn after_version_word(text: &str, i: usize) -> bool {
    let window_start = text.floor_char_boundary(i.saturating_sub(16));
    text[window_start..i]
        .split(|c: char| !c.is_alphabetic())
        .rev()
        .find(|w| !w.is_empty())
        .is_some_and(|w| {
            VERSION_WORDS
                .iter()
                .any(|v| w.chars().flat_map(char::to_lowercase).eq(v.chars()))
        })
}

fn ipv4_len(b: &[u8]) -> Option<usize> {
    let mut j = 0;
    for octet in 0..4 {
        let start = j;
        let mut value = 0u32;
        while j < b.len() && b[j].is_ascii_digit() && j - start < 3 {
            value = value * 10 + u32::from(b[j] - b'0');
            j += 1;
        }
        let len = j - start;
        if len == 0 || value > 255 || (len > 1 && b[start] == b'0') {
            return None;
        }
        if octet < 3 {
            if b.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
    }
    Some(j)
}

/// Length of the IPv6 address at the start of `b` (full, `::`-compressed,
/// or with a dotted IPv4 tail), if there is one.
fn ipv6_len(b: &[u8]) -> Option<usize> {
    let mut j = 0;
    let mut groups = 0; // 16-bit groups written out
    let mut compressed = false;
    let mut has_digit = false;
    if b.starts_with(b"::") {
        compressed = true;
        j = 2;
    }
    loop {
        // an IPv4 tail counts as two groups
        if groups <= 6
            && (compressed || groups == 6)
            && (j == 0 || b[j - 1] == b':')
            && let Some(len) = ipv4_len(&b[j..])
            && b.get(j + len).is_none_or(|c| !is_word(*c) && *c != b':')
        {
            groups += 2;
            j += len;
            has_digit = true;
            break;
        }
        let start = j;
        while j < b.len() && b[j].is_ascii_hexdigit() && j - start < 5 {
            has_digit |= b[j].is_ascii_digit();
            j += 1;
        }
        let len = j - start;
        if len == 0 {
            // only valid right after `::`
            if !(compressed && j >= 2 && &b[j - 2..j] == b"::") {
                return None;
            }
            break;
        }
        if len > 4 {
            return None;
        }
        groups += 1;
        if groups == 8 {
            break;
        }
        if b.get(j) != Some(&b':') {
            break;
        }
        if b.get(j + 1) == Some(&b':') {
            if compressed {
                return None; // a second `::`
            }
            compressed = true;
            j += 2;
        } else if b.get(j + 1).is_some_and(u8::is_ascii_hexdigit) {
            j += 1;
        } else {
            break; // a trailing single colon is punctuation
        }
    }
    let complete = if compressed { groups <= 7 } else { groups == 8 };
    // at least two groups and a digit: `be::ef` or `a::b` are not addresses
    (complete && groups >= 2 && has_digit).then_some(j)
}

/// Not glued to a word, and not followed by `:` and more hex digits (a
/// longer colon-separated token such as a MAC address).
fn ipv6_can_end(b: &[u8], end: usize) -> bool {
    match b.get(end) {
        None => true,
        Some(&b':') => !b.get(end + 1).is_some_and(u8::is_ascii_hexdigit),
        Some(&n) => !is_word(n),
    }
}

fn scan_ipv6(text: &str, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let starts = c.is_ascii_hexdigit() || (c == b':' && b.get(i + 1) == Some(&b':'));
        if !starts || (i > 0 && (is_word(b[i - 1]) || b[i - 1] == b':' || b[i - 1] == b'.')) {
            i += 1;
            continue;
        }
        match ipv6_len(&b[i..]) {
            Some(len) if ipv6_can_end(b, i + len) => {
                out.push(Match {
                    start: i,
                    end: i + len,
                    rule: Rule::Ipv6,
                });
                i += len;
            }
            _ => {
                // skip the rest of this token
                while i < b.len() && (b[i].is_ascii_hexdigit() || b[i] == b':') {
                    i += 1;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Putting it together
// ---------------------------------------------------------------------------

/// Finds PII in `text` with the enabled `rules`: non-overlapping matches
/// sorted by start (on overlap the stricter rule wins). `out` is cleared
/// and reused.
pub fn scan(text: &str, rules: RuleSet, out: &mut Vec<Match>) {
    out.clear();
    // cheap prefilter: most chat rows have none of these
    let (mut digits, mut at, mut colons) = (0usize, false, 0usize);
    for &c in text.as_bytes() {
        digits += usize::from(c.is_ascii_digit());
        at |= c == b'@';
        colons += usize::from(c == b':');
    }
    if digits == 0 && !at && colons < 2 {
        return;
    }
    if at && rules.contains(Rule::Email) {
        scan_emails(text, out);
    }
    if digits >= 2 && rules.contains(Rule::Iban) {
        scan_ibans(text, out);
    }
    if digits >= 13 && rules.contains(Rule::CreditCard) {
        scan_cards(text, out);
    }
    if colons >= 2 && rules.contains(Rule::Ipv6) {
        scan_ipv6(text, out);
    }
    if digits >= 4 && rules.contains(Rule::Ipv4) {
        scan_ipv4(text, out);
    }
    if digits >= 7 && rules.contains(Rule::Phone) {
        scan_phones(text, out);
    }
    resolve_overlaps(out);
    out.retain(|m| m.end > m.start);
}

/// Keeps, among overlapping matches, the one of the stricter rule (then
/// the longer, then the earlier); marks the others empty.
fn resolve_overlaps(matches: &mut [Match]) {
    matches.sort_by_key(|m| {
        (
            m.rule.priority(),
            std::cmp::Reverse(m.end - m.start),
            m.start,
        )
    });
    for i in 0..matches.len() {
        let m = matches[i];
        if m.end == m.start {
            continue;
        }
        for other in &mut matches[i + 1..] {
            if other.start < m.end && m.start < other.end {
                other.end = other.start;
            }
        }
    }
    matches.sort_by_key(|m| m.start);
}

/// Appends `text` with every match replaced by its rule's placeholder.
pub fn mask(text: &str, matches: &[Match], out: &mut String) {
    let mut last = 0;
    for m in matches {
        out.push_str(&text[last..m.start]);
        out.push_str(m.rule.placeholder());
        last = m.end;
    }
    out.push_str(&text[last..]);
}

/// The rules that fired and the score (highest confidence) of `matches`.
pub fn summarize(matches: &[Match]) -> (RuleSet, f64) {
    let mut fired = RuleSet::default();
    let mut score = 0.0f64;
    for m in matches {
        fired.insert(m.rule);
        score = score.max(m.rule.confidence());
    }
    (fired, score)
}

/// Output column names and the enabled rules; one field per parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub column: String,
    pub label_output: String,
    pub score_output: String,
    pub rules_output: String,
    pub masked_output: String,
    pub rules: RuleSet,
}

pub struct PiiDetector {
    options: Options,
    matches: Vec<Match>,
    rows_flagged: u64,
}

impl PiiDetector {
    pub fn new(options: Options) -> Self {
        PiiDetector {
            options,
            matches: Vec::new(),
            rows_flagged: 0,
        }
    }

    /// The four output columns for one text column (row-aligned).
    pub fn detect_column(&mut self, text: TextRef<'_>) -> [ColumnValues; 4] {
        let rows = text.len();
        let mut label = BoolBuilder::with_capacity(rows);
        let mut score = Float64Builder::with_capacity(rows);
        let mut tags = TagsBuilder::with_capacity(rows);
        let mut masked = TextBuilder::with_capacity(rows, 0);
        for row in text.iter() {
            let Some(value) = row else {
                // unknown, not "no PII": the text is missing
                label.push_missing();
                score.push_missing();
                tags.push_row(std::iter::empty::<&str>());
                masked.push_missing();
                continue;
            };
            scan(value, self.options.rules, &mut self.matches);
            let (fired, s) = summarize(&self.matches);
            self.rows_flagged += u64::from(!fired.is_empty());
            label.push(!fired.is_empty());
            score.push(s);
            tags.push_row(fired.iter().map(Rule::id));
            mask(value, &self.matches, masked.buffer());
            masked.end_row();
        }
        [
            label.finish(),
            score.finish(),
            tags.finish(),
            masked.finish(),
        ]
    }
}

impl Step for PiiDetector {
    fn describe() -> StepInfo {
        let all: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        StepInfo::new(
            "pii-detector",
            env!("CARGO_PKG_VERSION"),
            StepKind::Detector,
            "Detects and masks emails, phone numbers, Luhn-checked card numbers, mod-97 IBANs and IPv4/IPv6 addresses in a text column.",
        )
        .param(ParamSpec::text("column", Some("text"), "text column to scan"))
        .param(ParamSpec::text("label_output", Some("pii_label"), "boolean column: any PII found"))
        .param(ParamSpec::text("score_output", Some("pii_score"), "float64 column: confidence of the surest match (0 = none)"))
        .param(ParamSpec::text("rules_output", Some("pii_rules"), "tags column: ids of the rules that fired, sorted"))
        .param(ParamSpec::text("masked_output", Some("text_masked"), "text column: the text with each match replaced by <email>, <phone>, <card>, <iban> or <ip>"))
        .param(ParamSpec::text_list("rules", Some(&all), "rule ids to run (default: all)"))
        // least capability: the one text column in, the four results out;
        // the masked copy is always written (declared writes are static)
        .reads(ColumnSpec::text("text", "text to scan").named_by("column"))
        .writes(ColumnSpec::boolean("pii_label", "true when any rule fired; missing where the text is").named_by("label_output"))
        .writes(ColumnSpec::float64("pii_score", "highest confidence among the matches, 0 when none; missing where the text is").named_by("score_output"))
        .writes(ColumnSpec::tags("pii_rules", "rule ids that fired (pii.email, pii.phone, ...), sorted, deduplicated").named_by("rules_output"))
        .writes(ColumnSpec::text("text_masked", "the text with PII replaced by placeholders; missing where the text is").named_by("masked_output"))
    }

    fn open(params: Params, _state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let mut rules = RuleSet::default();
        for id in params.text_list("rules")? {
            let rule = Rule::from_id(&id).ok_or_else(|| {
                let known: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
                StepError::InvalidParams(format!(
                    "param `rules`: unknown rule `{id}` (known: {})",
                    known.join(", ")
                ))
            })?;
            rules.insert(rule);
        }
        if rules.is_empty() {
            return Err(StepError::InvalidParams(
                "param `rules` must name at least one rule".into(),
            ));
        }
        let options = Options {
            column: params.text("column")?,
            label_output: params.text("label_output")?,
            score_output: params.text("score_output")?,
            rules_output: params.text("rules_output")?,
            masked_output: params.text("masked_output")?,
            rules,
        };
        let outputs = [
            &options.label_output,
            &options.score_output,
            &options.rules_output,
            &options.masked_output,
        ];
        for (k, a) in outputs.iter().enumerate() {
            if outputs[k + 1..].contains(a) {
                return Err(StepError::InvalidParams(format!(
                    "output params must name four different columns; `{a}` is given twice"
                )));
            }
        }
        Ok(PiiDetector::new(options))
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let text = input.text(&self.options.column)?;
        let [label, score, tags, masked] = self.detect_column(text);
        let o = &self.options;
        log::metric("rows_with_pii", self.rows_flagged as f64);
        Ok(Chunk::new(input.rows)
            .with(&o.label_output, label)
            .with(&o.score_output, score)
            .with(&o.rules_output, tags)
            .with(&o.masked_output, masked))
    }
}

export_step!(PiiDetector);

#[cfg(test)]
mod tests;
