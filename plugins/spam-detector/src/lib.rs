//! `spam-detector`: heuristic spam signals per message — links, known
//! repeated templates, shouting, character floods, money and prize words
//! (English and Spanish) — combined into a score and a label.
//!
//! Each signal has a strength in [0, 1] and a weight; the score is the
//! noisy-OR `1 - Π(1 - weight·strength)`, so one signal alone never scores
//! more than its weight, independent signals add up, and the score stays
//! in [0, 1]. Cheap enough for a first-pass filter and explainable through
//! the rule ids it writes.
//!
//! `repeated` is fitted, as a scikit-learn transformer would be: the fit
//! pass counts messages (by [`repeat_key`]) over all the training rows and
//! keeps those seen at least `repeat_threshold` times as the state; the
//! process pass then flags a message iff it is one of them. Every row is
//! scored on its own, so a message scores the same alone (one served
//! request) as inside a 4,096-row chunk.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use sluice_sdk::state::{State, StateReader, StateWriter, corrupt};
use sluice_sdk::*;

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

/// One spam signal. Declared in the order of their ids, so a row's tags
/// come out sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    Flood,
    Links,
    Money,
    Repeated,
    Shouting,
}

impl Signal {
    pub const ALL: [Signal; 5] = [
        Signal::Flood,
        Signal::Links,
        Signal::Money,
        Signal::Repeated,
        Signal::Shouting,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Signal::Flood => "spam.flood",
            Signal::Links => "spam.links",
            Signal::Money => "spam.money",
            Signal::Repeated => "spam.repeated",
            Signal::Shouting => "spam.shouting",
        }
    }

    /// The most this signal alone adds to the score (see README).
    pub fn weight(self) -> f64 {
        match self {
            Signal::Money => 0.6,
            Signal::Links => 0.45,
            Signal::Repeated => 0.4,
            Signal::Shouting => 0.3,
            Signal::Flood => 0.25,
        }
    }
}

/// Strength of each signal for one message, in [0, 1] (0 = absent).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Strengths(pub [f64; 5]);

impl Strengths {
    pub fn get(&self, signal: Signal) -> f64 {
        self.0[signal as usize]
    }

    pub fn set(&mut self, signal: Signal, strength: f64) {
        self.0[signal as usize] = strength.clamp(0.0, 1.0);
    }

    /// Noisy-OR of `weight · strength` over the signals.
    pub fn score(&self) -> f64 {
        let miss: f64 = Signal::ALL
            .iter()
            .map(|s| 1.0 - s.weight() * self.get(*s))
            .product();
        (1.0 - miss).clamp(0.0, 1.0)
    }

    /// The signals present, in id order.
    pub fn fired(&self) -> impl Iterator<Item = Signal> + '_ {
        Signal::ALL.into_iter().filter(|s| self.get(*s) > 0.0)
    }
}

/// Top-level domains that make a bare `name.tld` token a link. Short and
/// common ones only: `e.g.` or `ok.so` must not count.
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "ly", "uk", "es", "de", "info", "biz", "tv", "xyz", "ru", "fr",
    "nl", "eu", "gov", "edu", "mx", "ar", "cl", "pe",
];

fn is_link(token: &str) -> bool {
    // every link has a dot, or is clean-text's `<url>`
    if !token.bytes().any(|b| b == b'.' || b == b'<') {
        return false;
    }
    if token.contains("<url>") {
        return true;
    }
    let token = token
        .trim_start_matches(['(', '[', '"', '\'', '<'])
        .trim_end_matches(['.', ',', '!', '?', ';', ':', ')', ']', '"', '\'', '>']);
    let lower_starts = |p: &str| {
        token.len() >= p.len() && token.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    if lower_starts("http://") || lower_starts("https://") || lower_starts("www.") {
        return true;
    }
    let host = token.split('/').next().unwrap_or("");
    let Some((name, tld)) = host.rsplit_once('.') else {
        return false;
    };
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && name.bytes().any(|b| b.is_ascii_alphabetic())
        && TLDS.iter().any(|t| tld.eq_ignore_ascii_case(t))
}

/// Links per word at which the links signal is full strength.
pub const LINK_DENSITY_FULL: f64 = 0.05;

/// Money and prize words (whole words, any case). Symbols `£ $ €` count too.
#[rustfmt::skip]
pub const MONEY_WORDS: &[&str] = &[
    // English
    "free", "win", "wins", "winner", "winning", "prize", "prizes", "cash", "claim", "urgent", "txt",
    "award", "awarded", "reward", "bonus", "guaranteed", "voucher",
    // Spanish
    "gratis", "gratuito", "gana", "ganar", "ganado", "ganador", "ganaste", "premio", "premios",
    "premiado", "dinero", "urgente", "reclama",
];
/// Two-word phrases: (first, second).
pub const MONEY_PHRASES: &[(&str, &str)] = &[("call", "now"), ("llama", "ya")];
const MONEY_SYMBOLS: [char; 3] = ['£', '$', '€'];
/// Distinct money words, phrases and symbols that make the signal full strength.
pub const MONEY_FULL: f64 = 2.0;

/// Up to 16 bytes packed little-endian into a `u128` (zero-padded), so a
/// word is compared with every money word by integer compares, not memcmp.
const fn pack(bytes: &[u8]) -> u128 {
    let mut packed = 0u128;
    let mut i = 0;
    while i < bytes.len() {
        packed |= (bytes[i] as u128) << (8 * i);
        i += 1;
    }
    packed
}

// one bit each in a u64
const _: () = assert!(MONEY_WORDS.len() + MONEY_PHRASES.len() + MONEY_SYMBOLS.len() <= 64);

const MONEY_PACKED: [u128; MONEY_WORDS.len()] = {
    let mut out = [0u128; MONEY_WORDS.len()];
    let mut i = 0;
    while i < out.len() {
        assert!(
            MONEY_WORDS[i].len() <= 16,
            "money words are packed into 16 bytes"
        );
        out[i] = pack(MONEY_WORDS[i].as_bytes());
        i += 1;
    }
    out
};

/// `word` lower-cased and packed when it is ASCII of at most 16 bytes
/// (every money word is), else `None`.
fn packed_lower(word: &str) -> Option<u128> {
    if word.len() > 16 || !word.is_ascii() {
        return None;
    }
    let mut packed = 0u128;
    for (i, b) in word.bytes().enumerate() {
        packed |= u128::from(b.to_ascii_lowercase()) << (8 * i);
    }
    Some(packed)
}

/// Every signal but `repeated` (which needs the fitted templates).
pub fn signals(text: &str) -> Strengths {
    let mut s = Strengths::default();

    // links per whitespace-separated word (full strength at 1 in 20), and
    // the case of the letters outside links (a lower-case URL is no whisper)
    let (mut words, mut links) = (0usize, 0usize);
    let (mut upper, mut cased) = (0usize, 0usize);
    for token in text.split_whitespace() {
        words += 1;
        if is_link(token) {
            links += 1;
            continue;
        }
        for c in token.chars() {
            if c.is_uppercase() {
                upper += 1;
                cased += 1;
            } else if c.is_lowercase() {
                cased += 1;
            }
        }
    }
    if links > 0 {
        s.set(
            Signal::Links,
            links as f64 / words as f64 / LINK_DENSITY_FULL,
        );
    }

    // floods and currency symbols in one pass over the characters
    let mut flood = false;
    let mut run = (' ', 0usize); // identical characters
    let mut bang_run = 0usize; // `!` and `?` mixed
    // bit per money word, then per phrase, then per symbol
    let mut money_hits = 0u64;
    for c in text.chars() {
        run = if c == run.0 { (c, run.1 + 1) } else { (c, 1) };
        bang_run = if c == '!' || c == '?' {
            bang_run + 1
        } else {
            0
        };
        // `soooooo`, `zzzzzz`, `******`; digits (amounts) and spaces don't count,
        // nor 4-5 dots (an ellipsis)
        let letter_or_symbol = !c.is_whitespace() && !c.is_ascii_digit();
        flood |= letter_or_symbol && run.1 >= 6;
        flood |= c.is_ascii_punctuation() && c != '.' && run.1 >= 4;
        flood |= bang_run >= 4;
        if let Some(k) = MONEY_SYMBOLS.iter().position(|m| *m == c) {
            money_hits |= 1 << (MONEY_WORDS.len() + MONEY_PHRASES.len() + k);
        }
    }
    // integer maths: exactly 70 % counts (0.7 * 10 is 7.000000000000001)
    if cased >= 8 && upper * 10 >= cased * 7 {
        s.set(Signal::Shouting, 1.0);
    }
    if flood {
        s.set(Signal::Flood, 1.0);
    }

    // money words: whole alphanumeric words, distinct ones counted
    let mut previous = None;
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let packed = packed_lower(word);
        if let Some(packed) = packed {
            if let Some(k) = MONEY_PACKED.iter().position(|m| *m == packed) {
                money_hits |= 1 << k;
            }
            if let Some(previous) = previous {
                let phrase = MONEY_PHRASES.iter().position(|(a, b)| {
                    pack(a.as_bytes()) == previous && pack(b.as_bytes()) == packed
                });
                if let Some(k) = phrase {
                    money_hits |= 1 << (MONEY_WORDS.len() + k);
                }
            }
        }
        previous = packed;
    }
    if money_hits != 0 {
        s.set(
            Signal::Money,
            f64::from(money_hits.count_ones()) / MONEY_FULL,
        );
    }
    s
}

/// Minimum words for a message to count as repeated: "ok", "thanks" or
/// "see you" are repeated in any chat without being spam.
pub const MIN_REPEAT_WORDS: usize = 3;

/// 64-bit FNV-1a: fast, and the same on every platform and release.
struct Fnv(u64);

impl Fnv {
    #[inline]
    fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// Key of a message for repeat counting: case, punctuation and spacing
/// ignored, every run of digits the same (spam templates vary the numbers).
/// `None` for messages shorter than [`MIN_REPEAT_WORDS`] words.
pub fn repeat_key(text: &str) -> Option<u64> {
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    let mut words = 0;
    let mut in_word = false;
    let mut in_digits = false;
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        if !c.is_alphanumeric() {
            in_word = false;
            in_digits = false;
            continue;
        }
        if !in_word {
            if words > 0 {
                hash.byte(b' ');
            }
            words += 1;
            in_word = true;
        }
        if c.is_numeric() {
            if !in_digits {
                hash.byte(b'0');
            }
            in_digits = true;
            continue;
        }
        in_digits = false;
        if c.is_ascii() {
            hash.byte(c.to_ascii_lowercase() as u8);
        } else {
            for lower in c.to_lowercase() {
                lower
                    .encode_utf8(&mut utf8)
                    .bytes()
                    .for_each(|b| hash.byte(b));
            }
        }
    }
    (words >= MIN_REPEAT_WORDS).then_some(hash.0)
}

// ---------------------------------------------------------------------------
// Fitting the repeated templates
// ---------------------------------------------------------------------------

/// Passes a [`repeat_key`] (already a hash) through. Unlike std's default
/// `RandomState` it needs no random seed, so the component imports no
/// `wasi:random`, and it costs nothing.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;
type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// Distinct messages the fit pass counts at once: exactly the capacity of
/// a 2^19-bucket table (2^19 × 17 bytes = 8.5 MiB), so the table never
/// grows past it however many training rows there are. Measured through
/// the host on 1M distinct messages: 17.2 MiB peak guest memory for the
/// whole fit (the table, its rebuilds, the chunk).
///
/// Why exact counts in a bounded table rather than a count-min sketch:
/// they are exact up to this many distinct messages (the example has
/// 2,901 training rows), and beyond it they err towards missing a
/// template (a message whose copies straddle a clean-up, see
/// [`RepeatCounter`]), never towards inventing one. A sketch of the same
/// 8.5 MiB (4 × 557,056 u32) over-counts instead: simulated on 1M distinct
/// messages each seen once, 8.2 % of them reach 3 (false templates: a
/// legitimate message flagged), 0.03 % with conservative update, and the
/// error grows with the rows; a sketch also still has to keep the
/// candidate keys. A false `spam.repeated` costs more than a missed one.
pub const MAX_COUNTED: usize = 458_752;

/// Most templates a state may keep (`max_templates`): 8 bytes each.
pub const MAX_TEMPLATES: i64 = 100_000;

/// Counts [`repeat_key`]s over the fit pass in bounded memory: at most
/// `limit` distinct keys. When the table is full it forgets the keys seen
/// once, then twice, … (never a key that has reached the threshold) until
/// at most half of it is used. If even that cannot free half — every key
/// left is a template, which only hostile input produces — no new key is
/// admitted for the rest of the fit (each is counted in `refused`), while
/// the keys already held go on being counted.
#[derive(Debug)]
pub struct RepeatCounter {
    counts: KeyMap<u32>,
    threshold: u32,
    limit: usize,
    /// Cleaning up could not free half the table: no more clean-ups.
    full: bool,
    /// Keys forgotten by clean-ups (their counts so far are lost).
    pub forgotten: u64,
    /// Occurrences of new keys not admitted because the table was full.
    pub refused: u64,
}

impl RepeatCounter {
    pub fn new(threshold: u32, limit: usize) -> Self {
        RepeatCounter {
            counts: KeyMap::default(),
            threshold,
            limit: limit.max(2),
            full: false,
            forgotten: 0,
            refused: 0,
        }
    }

    pub fn add(&mut self, key: u64) {
        if let Some(count) = self.counts.get_mut(&key) {
            *count = count.saturating_add(1);
            return;
        }
        if self.counts.len() >= self.limit {
            self.make_room();
            if self.counts.len() >= self.limit {
                self.refused += 1;
                return;
            }
        }
        self.counts.insert(key, 1);
    }

    /// Distinct keys held now.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// How often `key` was counted (0 if never, or forgotten).
    pub fn count(&self, key: u64) -> u32 {
        self.counts.get(&key).copied().unwrap_or(0)
    }

    fn make_room(&mut self) {
        if self.full {
            return;
        }
        let before = self.counts.len();
        for floor in 1..self.threshold {
            self.counts.retain(|_, count| *count > floor);
            if self.counts.len() <= self.limit / 2 {
                break;
            }
        }
        self.forgotten += (before - self.counts.len()) as u64;
        self.full = self.counts.len() > self.limit / 2;
        // Removal leaves tombstones, and with them the table doubles past
        // `limit` instead of reusing the room (measured: 34.2 MiB peak guest
        // memory on 1M distinct messages). Rebuilt without them: 17.2 MiB.
        self.counts.shrink_to_fit();
    }

    /// The keys counted at least `threshold` times, the `max` most frequent
    /// (ties by key, so the choice does not depend on row order), sorted.
    pub fn templates(&self, max: usize) -> Vec<u64> {
        let mut kept: Vec<(u64, u32)> = self
            .counts
            .iter()
            .filter(|&(_, &count)| count >= self.threshold)
            .map(|(&key, &count)| (key, count))
            .collect();
        if kept.len() > max {
            kept.sort_unstable_by_key(|&(key, count)| (std::cmp::Reverse(count), key));
            kept.truncate(max);
        }
        let mut keys: Vec<u64> = kept.into_iter().map(|(key, _)| key).collect();
        keys.sort_unstable();
        keys
    }
}

/// Fitted state: the repeated templates (their [`repeat_key`]s) and the
/// `repeat_threshold` they were counted with.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub repeat_threshold: u32,
    /// Strictly ascending.
    pub templates: Vec<u64>,
}

/// Little-endian: magic `SPAM`, version u8 (1), repeat_threshold u32,
/// template count u32, then the template keys (u64, ascending).
impl State for Fitted {
    const MAGIC: &'static [u8] = b"SPAM";
    const VERSION: Option<u8> = Some(1);

    fn write(&self, out: &mut StateWriter) {
        out.u32(self.repeat_threshold)
            .u32(self.templates.len() as u32);
        for key in &self.templates {
            out.u64(*key);
        }
    }

    fn read(r: &mut StateReader<'_>) -> Result<Self, StepError> {
        let repeat_threshold = r.u32()?;
        let count = r.u32()? as usize;
        if count > MAX_TEMPLATES as usize {
            return Err(corrupt(&format!(
                "{count} templates is more than {MAX_TEMPLATES}"
            )));
        }
        // the bytes must be there before anything is allocated for them
        if r.remaining() < count * 8 {
            return Err(corrupt(&format!("truncated: {count} templates announced")));
        }
        let mut templates = Vec::with_capacity(count);
        for _ in 0..count {
            templates.push(r.u64()?);
        }
        if templates.windows(2).any(|w| w[0] >= w[1]) {
            return Err(corrupt("templates are not strictly ascending"));
        }
        Ok(Fitted {
            repeat_threshold,
            templates,
        })
    }
}

// ---------------------------------------------------------------------------
// The step
// ---------------------------------------------------------------------------

/// One field per parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub column: String,
    pub label_output: String,
    pub score_output: String,
    pub rules_output: String,
    pub threshold: f64,
    pub repeat_threshold: u32,
    pub max_templates: usize,
}

impl Options {
    pub fn from_params(params: &Params) -> Result<Self, StepError> {
        let threshold = params.float64("threshold")?;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(StepError::InvalidParams(format!(
                "param `threshold` must be in 0..=1, got {threshold}"
            )));
        }
        let repeat_threshold = params.int64("repeat_threshold")?;
        if !(2..=1_000_000).contains(&repeat_threshold) {
            return Err(StepError::InvalidParams(format!(
                "param `repeat_threshold` must be in 2..=1000000, got {repeat_threshold}"
            )));
        }
        let max_templates = params.int64("max_templates")?;
        if !(0..=MAX_TEMPLATES).contains(&max_templates) {
            return Err(StepError::InvalidParams(format!(
                "param `max_templates` must be in 0..={MAX_TEMPLATES}, got {max_templates}"
            )));
        }
        let options = Options {
            column: params.text("column")?,
            label_output: params.text("label_output")?,
            score_output: params.text("score_output")?,
            rules_output: params.text("rules_output")?,
            threshold,
            repeat_threshold: repeat_threshold as u32,
            max_templates: max_templates as usize,
        };
        let outputs = [
            &options.label_output,
            &options.score_output,
            &options.rules_output,
        ];
        for (k, a) in outputs.iter().enumerate() {
            if outputs[k + 1..].contains(a) {
                return Err(StepError::InvalidParams(format!(
                    "output params must name three different columns; `{a}` is given twice"
                )));
            }
        }
        Ok(options)
    }
}

pub struct SpamDetector {
    options: Options,
    /// The fit pass's counts.
    counter: RepeatCounter,
    fit_rows: u64,
    /// From the state: the repeated templates.
    templates: Option<KeySet>,
}

impl SpamDetector {
    /// A session that applies `fitted` (`None`: a session for the fit pass).
    pub fn new(options: Options, fitted: Option<&Fitted>) -> Self {
        SpamDetector {
            counter: RepeatCounter::new(options.repeat_threshold, MAX_COUNTED),
            options,
            fit_rows: 0,
            templates: fitted.map(|f| f.templates.iter().copied().collect()),
        }
    }

    /// Label, score and rules columns for one chunk's text column: every
    /// row on its own, so the chunk it arrives in changes nothing.
    pub fn detect_column(&self, text: TextRef<'_>) -> Result<[ColumnValues; 3], StepError> {
        let templates = self.templates.as_ref().ok_or_else(|| {
            StepError::Failed(
                "process needs fitted state (the repeated templates): run the fit pass first"
                    .into(),
            )
        })?;
        let rows = text.len();
        let mut label = BoolBuilder::with_capacity(rows);
        let mut score = Float64Builder::with_capacity(rows);
        let mut tags = TagsBuilder::with_capacity(rows);
        for row in text.iter() {
            let Some(value) = row else {
                // unknown, not "not spam": the text is missing
                label.push_missing();
                score.push_missing();
                tags.push_row(std::iter::empty::<&str>());
                continue;
            };
            let mut strengths = signals(value);
            if !templates.is_empty() && repeat_key(value).is_some_and(|k| templates.contains(&k)) {
                strengths.set(Signal::Repeated, 1.0);
            }
            let s = strengths.score();
            label.push(s >= self.options.threshold);
            score.push(s);
            tags.push_row(strengths.fired().map(Signal::id));
        }
        Ok([label.finish(), score.finish(), tags.finish()])
    }
}

impl Step for SpamDetector {
    fn describe() -> StepInfo {
        StepInfo::new(
            "spam-detector",
            env!("CARGO_PKG_VERSION"),
            StepKind::Detector,
            "Scores messages for spam from links, repeated templates (messages fitted as repeated in the training rows), shouting, character floods and money words (English, Spanish).",
        )
        .param(ParamSpec::text("column", Some("text"), "text column to score (raw text: shouting needs the original case)"))
        .param(ParamSpec::text("label_output", Some("spam_label"), "boolean column: score >= threshold"))
        .param(ParamSpec::text("score_output", Some("spam_score"), "float64 column: spam score in [0, 1]"))
        .param(ParamSpec::text("rules_output", Some("spam_rules"), "tags column: ids of the signals present, sorted"))
        .param(ParamSpec::float64("threshold", Some(0.5), "label is true when score >= this (0..=1)"))
        .param(ParamSpec::int64("repeat_threshold", Some(3), "a message occurring this many times in the training rows is a repeated template (>= 2)"))
        .param(ParamSpec::int64("max_templates", Some(10_000), "keep at most this many templates, the most frequent (0..=100000; 0 turns spam.repeated off)"))
        // least capability: one text column in, three results out
        .reads(ColumnSpec::text("text", "messages to score (and, in the fit pass, to find the repeated templates in)").named_by("column"))
        .writes(ColumnSpec::boolean("spam_label", "score >= threshold; missing where the text is").named_by("label_output"))
        .writes(ColumnSpec::float64("spam_score", "noisy-OR of the weighted signals; missing where the text is").named_by("score_output"))
        .writes(ColumnSpec::tags("spam_rules", "signals present: spam.flood, spam.links, spam.money, spam.repeated, spam.shouting").named_by("rules_output"))
        .fitted()
    }

    fn open(params: Params, state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let options = Options::from_params(&params)?;
        let fitted = state.as_deref().map(Fitted::decode).transpose()?;
        if let Some(fitted) = &fitted {
            // the templates were chosen with the fit's threshold
            if fitted.repeat_threshold != options.repeat_threshold {
                return Err(StepError::InvalidInput(format!(
                    "fitted state was counted with repeat_threshold = {} but param `repeat_threshold` is {}",
                    fitted.repeat_threshold, options.repeat_threshold
                )));
            }
        }
        Ok(SpamDetector::new(options, fitted.as_ref()))
    }

    fn fit(&mut self, input: Chunk) -> Result<(), StepError> {
        let text = input.text(&self.options.column)?;
        for key in text.iter().flatten().filter_map(repeat_key) {
            self.counter.add(key);
        }
        self.fit_rows += text.len() as u64;
        Ok(())
    }

    fn finish_fit(&mut self) -> Result<Vec<u8>, StepError> {
        let counter = &self.counter;
        let fitted = Fitted {
            repeat_threshold: self.options.repeat_threshold,
            templates: counter.templates(self.options.max_templates),
        };
        log::info(&format!(
            "{} repeated templates (messages seen at least {} times; at most {} kept) in {} training rows",
            fitted.templates.len(),
            self.options.repeat_threshold,
            self.options.max_templates,
            self.fit_rows
        ));
        if counter.forgotten > 0 || counter.refused > 0 {
            log::warn(&format!(
                "more than {MAX_COUNTED} distinct messages: repeat counts are approximate ({} messages forgotten while counting, {} occurrences of new messages not counted)",
                counter.forgotten, counter.refused
            ));
        }
        log::metric("templates", fitted.templates.len() as f64);
        self.counter = RepeatCounter::new(self.options.repeat_threshold, MAX_COUNTED);
        Ok(fitted.encode())
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let text = input.text(&self.options.column)?;
        let [label, score, tags] = self.detect_column(text)?;
        let o = &self.options;
        Ok(Chunk::new(input.rows)
            .with(&o.label_output, label)
            .with(&o.score_output, score)
            .with(&o.rules_output, tags))
    }
}

export_step!(SpamDetector);

#[cfg(test)]
mod tests;
