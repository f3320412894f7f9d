//! `hash-features`: text → signed hashed sparse feature vectors.
//!
//! Word n-grams (1..=`word_ngrams`) and character n-grams inside
//! space-padded words (`char_ngrams`, like scikit-learn's `char_wb`) are
//! hashed with MurmurHash3 (x86_32, seed 0) into `2^n_features_log2`
//! dimensions exactly as scikit-learn's `HashingVectorizer` does: index =
//! `|h| mod 2^k`, sign = sign of `h` as an `i32`, colliding features summed.
//! Values are raw counts (`tf`) or counts times a smooth IDF fitted in the
//! fit pass (`tfidf`), optionally made binary, then L2-normalised.
//!
//! Hashing needs no vocabulary, so the only fitted state is the document
//! frequencies for `tfidf`. Because `describe().fits` is static, the step is
//! always fitted; with `tf` the fit pass only records the params so that a
//! state fitted under other params is refused at open.

use sluice_sdk::state::{State, StateReader, StateWriter, corrupt};
use sluice_sdk::*;

// ---------------------------------------------------------------------------
// MurmurHash3 x86_32
// ---------------------------------------------------------------------------

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

#[inline(always)]
fn mix_k(mut k: u32) -> u32 {
    k = k.wrapping_mul(C1);
    k = k.rotate_left(15);
    k.wrapping_mul(C2)
}

#[inline(always)]
fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Incremental MurmurHash3 (x86, 32-bit): feeding `"a"`, `" "`, `"b"` gives
/// the hash of `"a b"`. Lets n-grams be hashed without building the joined
/// string, and a prefix's state be reused for the longer n-grams.
#[derive(Debug, Clone, Copy)]
pub struct Murmur3 {
    h: u32,
    /// up to 3 pending bytes, little-endian
    tail: u32,
    tail_len: u32,
    len: u32,
}

impl Murmur3 {
    pub fn new(seed: u32) -> Self {
        Murmur3 {
            h: seed,
            tail: 0,
            tail_len: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn block(&mut self, k: u32) {
        self.h ^= mix_k(k);
        self.h = self
            .h
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }

    #[inline]
    pub fn write(&mut self, mut bytes: &[u8]) {
        // the reference implementation takes an int length: wraps the same way
        self.len = self.len.wrapping_add(bytes.len() as u32);
        while self.tail_len > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return;
            };
            self.tail |= u32::from(b) << (8 * self.tail_len);
            self.tail_len += 1;
            bytes = rest;
            if self.tail_len == 4 {
                let k = self.tail;
                self.block(k);
                self.tail = 0;
                self.tail_len = 0;
            }
        }
        let mut blocks = bytes.chunks_exact(4);
        for block in &mut blocks {
            self.block(u32::from_le_bytes([block[0], block[1], block[2], block[3]]));
        }
        for (i, &b) in blocks.remainder().iter().enumerate() {
            self.tail |= u32::from(b) << (8 * i);
        }
        self.tail_len = blocks.remainder().len() as u32;
    }

    /// The hash of everything written so far (the state stays usable).
    #[inline]
    pub fn finish(&self) -> u32 {
        let mut h = self.h;
        if self.tail_len > 0 {
            h ^= mix_k(self.tail);
        }
        fmix(h ^ self.len)
    }
}

/// MurmurHash3 x86_32 of `bytes`, as an unsigned value (scikit-learn's
/// `murmurhash3_32(..., positive=True)`; cast to `i32` for the signed one).
pub fn murmur3_32(bytes: &[u8], seed: u32) -> u32 {
    let mut h = Murmur3::new(seed);
    h.write(bytes);
    h.finish()
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    Tf,
    TfIdf,
}

impl Weighting {
    fn name(self) -> &'static str {
        match self {
            Weighting::Tf => "tf",
            Weighting::TfIdf => "tfidf",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    L2,
    None,
}

/// Everything that decides the features; one field per parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// word n-grams of length 1..=this; 0 = no word features
    pub word_ngrams: usize,
    /// character n-grams of lengths `char_ngrams_min..=char_ngrams`; 0 = off
    pub char_ngrams: usize,
    /// shortest character n-gram (1..=`char_ngrams`)
    pub char_ngrams_min: usize,
    pub n_features_log2: u32,
    /// word tokens shorter than this (in characters) are dropped
    pub min_token_len: usize,
    pub weighting: Weighting,
    pub norm: Norm,
    pub binary: bool,
    /// tf replaced by `1 + ln(tf)` (sign kept), as sklearn's `sublinear_tf`
    pub sublinear_tf: bool,
    /// features seen in fewer training rows than this are dropped (fitted)
    pub min_df: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            word_ngrams: 2,
            char_ngrams: 0,
            char_ngrams_min: 0,
            n_features_log2: 18,
            min_token_len: 1,
            weighting: Weighting::Tf,
            norm: Norm::L2,
            binary: false,
            sublinear_tf: false,
            min_df: 1,
        }
    }
}

pub const MAX_WORD_NGRAMS: i64 = 8;
pub const MAX_CHAR_NGRAMS: i64 = 16;
/// A feature must be seen in at most this many training rows to be kept
/// (a bound for the param, not a statistic: u32 counts per dimension).
pub const MAX_MIN_DF: i64 = 1_000_000;
/// 2^24 dims: the dense IDF table is then 64 MiB of f32, the most a plugin
/// should ask of a default 256 MiB grant.
pub const MAX_FEATURES_LOG2: i64 = 24;

fn int_param(params: &Params, name: &str, min: i64, max: i64) -> Result<i64, StepError> {
    let value = params.int64(name)?;
    if !(min..=max).contains(&value) {
        return Err(StepError::InvalidParams(format!(
            "param `{name}` must be in {min}..={max}, got {value}"
        )));
    }
    Ok(value)
}

impl Config {
    pub fn from_params(params: &Params) -> Result<Self, StepError> {
        let word_ngrams = int_param(params, "word_ngrams", 0, MAX_WORD_NGRAMS)? as usize;
        let char_ngrams = int_param(params, "char_ngrams", 0, MAX_CHAR_NGRAMS)? as usize;
        // 0 = the same as `char_ngrams` (one length, as before the range)
        let char_ngrams_min = match int_param(params, "char_ngrams_min", 0, MAX_CHAR_NGRAMS)? {
            0 => char_ngrams,
            n if char_ngrams > 0 && n as usize > char_ngrams => {
                return Err(StepError::InvalidParams(format!(
                    "param `char_ngrams_min` = {n} is greater than `char_ngrams` = {char_ngrams}"
                )));
            }
            n => n as usize,
        };
        if word_ngrams == 0 && char_ngrams == 0 {
            return Err(StepError::InvalidParams(
                "params `word_ngrams` and `char_ngrams` are both 0: no features to hash".into(),
            ));
        }
        let weighting = match params.text("weighting")?.as_str() {
            "tf" => Weighting::Tf,
            "tfidf" => Weighting::TfIdf,
            other => {
                return Err(StepError::InvalidParams(format!(
                    "param `weighting` must be `tf` or `tfidf`, got `{other}`"
                )));
            }
        };
        let norm = match params.text("norm")?.as_str() {
            "l2" => Norm::L2,
            "none" => Norm::None,
            other => {
                return Err(StepError::InvalidParams(format!(
                    "param `norm` must be `l2` or `none`, got `{other}`"
                )));
            }
        };
        Ok(Config {
            word_ngrams,
            char_ngrams,
            char_ngrams_min: if char_ngrams == 0 { 0 } else { char_ngrams_min },
            n_features_log2: int_param(params, "n_features_log2", 1, MAX_FEATURES_LOG2)? as u32,
            min_token_len: int_param(params, "min_token_len", 1, 64)? as usize,
            weighting,
            norm,
            binary: params.boolean("binary")?,
            sublinear_tf: params.boolean("sublinear_tf")?,
            min_df: int_param(params, "min_df", 1, MAX_MIN_DF)? as u32,
        })
    }

    pub fn dim(&self) -> u32 {
        1u32 << self.n_features_log2
    }

    /// Whether the fit pass counts document frequencies: for the IDF, or
    /// to know which features `min_df` keeps.
    pub fn counts_df(&self) -> bool {
        self.weighting == Weighting::TfIdf || self.min_df > 1
    }
}

// ---------------------------------------------------------------------------
// Tokenising and hashing
// ---------------------------------------------------------------------------

#[inline]
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// End of a placeholder such as `<url>` starting at `start` (`<`, 1 to 16
/// of `[a-z_]`, `>`), as clean-text writes them.
#[inline]
fn placeholder_end(bytes: &[u8], start: usize) -> Option<usize> {
    let body = bytes.get(start + 1..)?;
    let len = body
        .iter()
        .take(17)
        .position(|&b| !(b.is_ascii_lowercase() || b == b'_'))?;
    (len > 0 && body[len] == b'>').then_some(start + len + 2)
}

/// Word tokens of `text` as byte ranges: maximal runs of Unicode word
/// characters (letters, digits, `_`; Python's `\w`) of at least `min_len`
/// characters, plus placeholder tokens like `<url>` kept whole.
pub fn tokenize(text: &str, min_len: usize, out: &mut Vec<(u32, u32)>) {
    out.clear();
    let bytes = text.as_bytes();
    let mut i = 0;
    // current token: start byte and length in chars
    let mut start = 0;
    let mut chars = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let (word, width) = if b < 0x80 {
            (b.is_ascii_alphanumeric() || b == b'_', 1)
        } else {
            let c = text[i..].chars().next().expect("i is a char boundary");
            (is_word_char(c), c.len_utf8())
        };
        if word {
            if chars == 0 {
                start = i;
            }
            chars += 1;
            i += width;
            continue;
        }
        if chars >= min_len {
            out.push((start as u32, i as u32));
        }
        chars = 0;
        if b == b'<'
            && let Some(end) = placeholder_end(bytes, i)
        {
            out.push((i as u32, end as u32));
            i = end;
            continue;
        }
        i += width;
    }
    if chars >= min_len {
        out.push((start as u32, i as u32));
    }
}

/// Reusable buffers and the (optional) fitted IDF: one per session, so the
/// hot loop allocates nothing once warmed up.
#[derive(Debug, Clone)]
pub struct Featurizer {
    config: Config,
    mask: u32,
    /// dense IDF per dimension (tfidf only)
    idf: Option<Vec<f32>>,
    /// one bit per dimension kept by `min_df` (`min_df > 1` only)
    kept: Option<Vec<u64>>,
    tokens: Vec<(u32, u32)>,
    padded: Vec<u8>,
    bounds: Vec<u32>,
    counts: Vec<(u32, i32)>,
    weighted: Vec<(u32, f32)>,
}

impl Featurizer {
    pub fn new(config: Config) -> Self {
        Featurizer {
            mask: config.dim() - 1,
            config,
            idf: None,
            kept: None,
            tokens: Vec::new(),
            padded: Vec::new(),
            bounds: Vec::new(),
            counts: Vec::new(),
            weighted: Vec::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Keeps only the dimensions listed (from [`Fitted::kept`]).
    pub fn set_kept(&mut self, kept: Vec<u64>) {
        debug_assert_eq!(kept.len(), (self.config.dim() as usize).div_ceil(64));
        self.kept = Some(kept);
    }

    /// Sets the IDF table (from [`Fitted::idf`]); `tfidf` needs one.
    pub fn set_idf(&mut self, idf: Vec<f32>) {
        debug_assert_eq!(idf.len(), self.config.dim() as usize);
        self.idf = Some(idf);
    }

    #[inline(always)]
    fn push_hash(counts: &mut Vec<(u32, i32)>, mask: u32, h: u32) {
        let signed = h as i32;
        // |i32::MIN| = 2^31, which is 0 mod every 2^k we allow, as in sklearn
        let index = signed.unsigned_abs() & mask;
        counts.push((index, if signed >= 0 { 1 } else { -1 }));
    }

    /// Signed hashed counts of `text`: sorted by index, unique, no zeros.
    pub fn hash_row(&mut self, text: &str) -> &[(u32, i32)] {
        let Featurizer {
            config,
            mask,
            tokens,
            padded,
            bounds,
            counts,
            ..
        } = self;
        let mask = *mask;
        counts.clear();
        let bytes = text.as_bytes();
        if config.word_ngrams > 0 {
            tokenize(text, config.min_token_len, tokens);
            let token = |t: (u32, u32)| &bytes[t.0 as usize..t.1 as usize];
            for i in 0..tokens.len() {
                // n-gram i..i+n is the (n-1)-gram's state plus " " + token
                let mut h = Murmur3::new(0);
                h.write(token(tokens[i]));
                Self::push_hash(counts, mask, h.finish());
                for &next in tokens.iter().skip(i + 1).take(config.word_ngrams - 1) {
                    h.write(b" ");
                    h.write(token(next));
                    Self::push_hash(counts, mask, h.finish());
                }
            }
        }
        if config.char_ngrams > 0 {
            let (min_n, max_n) = (config.char_ngrams_min, config.char_ngrams);
            for word in text.split_whitespace() {
                padded.clear();
                padded.push(b' ');
                padded.extend_from_slice(word.as_bytes());
                padded.push(b' ');
                // char boundaries (every byte for ASCII), then the end
                bounds.clear();
                if word.is_ascii() {
                    bounds.extend(0..padded.len() as u32);
                } else {
                    bounds.extend(
                        (padded.iter().enumerate())
                            .filter(|(_, b)| (**b & 0xc0) != 0x80)
                            .map(|(i, _)| i as u32),
                    );
                }
                bounds.push(padded.len() as u32);
                let chars = bounds.len() - 1;
                for n in min_n..=max_n {
                    if chars <= n {
                        // a short word counts once, whole, and ends the
                        // lengths (sklearn's char_wb)
                        Self::push_hash(counts, mask, murmur3_32(padded, 0));
                        break;
                    }
                    for s in 0..=chars - n {
                        let gram = &padded[bounds[s] as usize..bounds[s + n] as usize];
                        Self::push_hash(counts, mask, murmur3_32(gram, 0));
                    }
                }
            }
        }
        merge_counts(counts);
        counts
    }

    /// Final feature values of `text`: counts (or 1 when `binary`), times
    /// IDF when `tfidf`, then normalised. Sorted by index, unique.
    pub fn row(&mut self, text: &str) -> Result<&[(u32, f32)], StepError> {
        self.hash_row(text);
        let idf = match (self.config.weighting, &self.idf) {
            (Weighting::Tf, _) => None,
            (Weighting::TfIdf, Some(idf)) => Some(idf.as_slice()),
            (Weighting::TfIdf, None) => {
                return Err(StepError::Failed(
                    "param `weighting` = tfidf needs fitted state: run the fit pass first".into(),
                ));
            }
        };
        self.weighted.clear();
        let mut squares = 0.0f64;
        for &(index, count) in &self.counts {
            if let Some(kept) = &self.kept
                && kept[index as usize / 64] & (1 << (index % 64)) == 0
            {
                continue;
            }
            // sklearn's `binary` sets every stored value to 1, sign included
            let mut value = if self.config.binary {
                1.0
            } else {
                f64::from(count)
            };
            if self.config.sublinear_tf {
                // sklearn's 1 + ln(tf); hashed counts carry a sign, kept
                value = value.signum() * (1.0 + value.abs().ln());
            }
            if let Some(idf) = idf {
                value *= f64::from(idf[index as usize]);
            }
            squares += value * value;
            self.weighted.push((index, value as f32));
        }
        if self.config.norm == Norm::L2 && squares > 0.0 {
            let scale = 1.0 / squares.sqrt();
            for (_, value) in &mut self.weighted {
                *value = (f64::from(*value) * scale) as f32;
            }
        }
        Ok(&self.weighted)
    }

    /// Features of every row of a text column; a missing row is the zero
    /// vector (sparse columns have no missing values).
    pub fn column(&mut self, text: TextRef<'_>) -> Result<ColumnValues, StepError> {
        let mut out = SparseBuilder::new(self.config.dim(), text.len());
        for row in text.iter() {
            match row {
                Some(value) => out.push_row(self.row(value)?.iter().copied()),
                None => out.push_row(std::iter::empty()),
            }
        }
        Ok(out.finish())
    }
}

/// Sorts `(index, sign)` pairs by index, sums duplicates and drops entries
/// that cancelled to 0.
fn merge_counts(counts: &mut Vec<(u32, i32)>) {
    counts.sort_unstable_by_key(|&(index, _)| index);
    let mut write = 0;
    let mut read = 0;
    while read < counts.len() {
        let (index, mut sum) = counts[read];
        read += 1;
        while read < counts.len() && counts[read].0 == index {
            sum += counts[read].1;
            read += 1;
        }
        if sum != 0 {
            counts[write] = (index, sum);
            write += 1;
        }
    }
    counts.truncate(write);
}

/// Smooth IDF as scikit-learn's `TfidfTransformer(smooth_idf=True)`.
pub fn smooth_idf(n_docs: u64, df: u32) -> f64 {
    ((1.0 + n_docs as f64) / (1.0 + f64::from(df))).ln() + 1.0
}

// ---------------------------------------------------------------------------
// Fitted state
// ---------------------------------------------------------------------------

/// Fitted state: the params that decide which indices a text hashes to
/// and which are kept, the weighting, and when the fit counts them
/// (`tfidf`, or `min_df > 1`) the document count and the document
/// frequencies of the kept dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub weighting: Weighting,
    pub word_ngrams: u32,
    pub char_ngrams: u32,
    pub char_ngrams_min: u32,
    pub n_features_log2: u32,
    pub min_token_len: u32,
    pub min_df: u32,
    pub n_docs: u64,
    /// (index, df), indices strictly ascending, df > 0; with `min_df > 1`
    /// only the dimensions it keeps (df >= min_df)
    pub df: Vec<(u32, u32)>,
}

/// Little-endian: magic `HSF2` (the version is in the magic), weighting
/// u8 (0 tf, 1 tfidf), word_ngrams, char_ngrams, char_ngrams_min,
/// n_features_log2, min_token_len, min_df (u32 each), n_docs u64, entry
/// count u32, then (index u32, df u32) per entry.
impl State for Fitted {
    const MAGIC: &'static [u8] = b"HSF2";
    const VERSION: Option<u8> = None;

    fn write(&self, out: &mut StateWriter) {
        out.u8(match self.weighting {
            Weighting::Tf => 0,
            Weighting::TfIdf => 1,
        });
        for v in [
            self.word_ngrams,
            self.char_ngrams,
            self.char_ngrams_min,
            self.n_features_log2,
            self.min_token_len,
            self.min_df,
        ] {
            out.u32(v);
        }
        out.u64(self.n_docs).u32(self.df.len() as u32);
        for &(index, df) in &self.df {
            out.u32(index).u32(df);
        }
    }

    fn read(r: &mut StateReader<'_>) -> Result<Self, StepError> {
        let weighting = match r.u8()? {
            0 => Weighting::Tf,
            1 => Weighting::TfIdf,
            _ => return Err(corrupt("unknown weighting")),
        };
        let (word_ngrams, char_ngrams, char_ngrams_min) = (r.u32()?, r.u32()?, r.u32()?);
        let (n_features_log2, min_token_len, min_df) = (r.u32()?, r.u32()?, r.u32()?);
        if !(1..=MAX_FEATURES_LOG2 as u32).contains(&n_features_log2) {
            return Err(corrupt("n_features_log2 out of range"));
        }
        let n_docs = r.u64()?;
        let count = r.u32()? as usize;
        let dim = 1u64 << n_features_log2;
        // each entry is 8 bytes: the count cannot ask for more than is there
        let mut df = Vec::with_capacity(count.min(r.remaining() / 8));
        for _ in 0..count {
            let (index, d) = (r.u32()?, r.u32()?);
            if u64::from(index) >= dim {
                return Err(corrupt("index out of range"));
            }
            if df.last().is_some_and(|&(last, _)| last >= index) {
                return Err(corrupt("indices not ascending"));
            }
            if d == 0 || u64::from(d) > n_docs || d < min_df {
                return Err(corrupt("document frequency out of range"));
            }
            df.push((index, d));
        }
        Ok(Fitted {
            weighting,
            word_ngrams,
            char_ngrams,
            char_ngrams_min,
            n_features_log2,
            min_token_len,
            min_df,
            n_docs,
            df,
        })
    }
}

impl Fitted {
    /// Refuses a state fitted under params that hash differently.
    pub fn check(&self, config: &Config) -> Result<(), StepError> {
        let mismatch = |param: &str, fitted: String, now: String| {
            Err(StepError::InvalidInput(format!(
                "fitted state was fitted with `{param}` = {fitted} but this session has {now}: refit"
            )))
        };
        if self.weighting != config.weighting {
            return mismatch(
                "weighting",
                self.weighting.name().to_string(),
                config.weighting.name().to_string(),
            );
        }
        for (param, fitted, now) in [
            ("word_ngrams", self.word_ngrams, config.word_ngrams as u32),
            ("char_ngrams", self.char_ngrams, config.char_ngrams as u32),
            (
                "char_ngrams_min",
                self.char_ngrams_min,
                config.char_ngrams_min as u32,
            ),
            ("min_df", self.min_df, config.min_df),
            (
                "n_features_log2",
                self.n_features_log2,
                config.n_features_log2,
            ),
            (
                "min_token_len",
                self.min_token_len,
                config.min_token_len as u32,
            ),
        ] {
            if fitted != now {
                return mismatch(param, fitted.to_string(), now.to_string());
            }
        }
        Ok(())
    }

    /// One bit per dimension that `min_df` keeps; `None` when it keeps all.
    pub fn kept(&self) -> Option<Vec<u64>> {
        if self.min_df <= 1 {
            return None;
        }
        let mut kept = vec![0u64; (1usize << self.n_features_log2).div_ceil(64)];
        for &(index, _) in &self.df {
            kept[index as usize / 64] |= 1 << (index % 64);
        }
        Some(kept)
    }

    /// Dense IDF table over all `2^n_features_log2` dims (unseen dims get
    /// df = 0, as in sklearn).
    pub fn idf(&self) -> Vec<f32> {
        let mut idf = vec![smooth_idf(self.n_docs, 0) as f32; 1usize << self.n_features_log2];
        for &(index, df) in &self.df {
            idf[index as usize] = smooth_idf(self.n_docs, df) as f32;
        }
        idf
    }
}

// ---------------------------------------------------------------------------
// The step
// ---------------------------------------------------------------------------

pub struct HashFeatures {
    column: String,
    output: String,
    featurizer: Featurizer,
    /// fit pass: rows seen and dense df counts (tfidf only)
    n_docs: u64,
    df: Vec<u32>,
}

impl Step for HashFeatures {
    fn describe() -> StepInfo {
        let d = Config::default();
        StepInfo::new(
            "hash-features",
            env!("CARGO_PKG_VERSION"),
            StepKind::Featurizer,
            "Hashes word and character n-grams of a text column into signed sparse tf or tf-idf vectors (sklearn HashingVectorizer compatible).",
        )
        .param(ParamSpec::text("column", Some("text_clean"), "text column to featurise (lower-cased, e.g. by clean-text)"))
        .param(ParamSpec::text("output", Some("features"), "sparse column to write"))
        .param(ParamSpec::int64("word_ngrams", Some(d.word_ngrams as i64), "word n-grams of length 1..=N (0 = no word features)"))
        .param(ParamSpec::int64("char_ngrams", Some(d.char_ngrams as i64), "character n-grams inside space-padded words up to this length, like sklearn char_wb (0 = off)"))
        .param(ParamSpec::int64("char_ngrams_min", Some(0), "shortest character n-gram (0 = `char_ngrams`: one length); sklearn's ngram_range = (char_ngrams_min, char_ngrams)"))
        .param(ParamSpec::int64("n_features_log2", Some(i64::from(d.n_features_log2)), "hash into 2^N dimensions (1..=24)"))
        .param(ParamSpec::int64("min_token_len", Some(d.min_token_len as i64), "drop word tokens shorter than this many characters (2 = sklearn's default token_pattern)"))
        .param(ParamSpec::text("weighting", Some("tf"), "\"tf\" (counts) or \"tfidf\" (counts times smooth IDF fitted in the fit pass)"))
        .param(ParamSpec::text("norm", Some("l2"), "\"l2\" (unit-length rows) or \"none\""))
        .param(ParamSpec::boolean("binary", Some(d.binary), "use 1 for every non-zero count (as sklearn, before IDF and norm)"))
        .param(ParamSpec::boolean("sublinear_tf", Some(d.sublinear_tf), "replace each count tf by 1 + ln(tf), sign kept (sklearn's sublinear_tf; before IDF and norm)"))
        .param(ParamSpec::int64("min_df", Some(i64::from(d.min_df)), "drop features seen in fewer than this many training rows (fitted; sklearn's integer min_df)"))
        // least capability: one text column in, one sparse column out
        .reads(ColumnSpec::text("text_clean", "text to featurise").named_by("column"))
        .writes(ColumnSpec::sparse("features", "hashed feature vector; the zero vector where the text is missing").named_by("output"))
        // static: fitted even for "tf", whose fit pass only records the params
        .fitted()
    }

    fn open(params: Params, state: Option<Vec<u8>>) -> Result<Self, StepError> {
        let config = Config::from_params(&params)?;
        let mut featurizer = Featurizer::new(config);
        if let Some(state) = state {
            let fitted = Fitted::decode(&state)?;
            fitted.check(featurizer.config())?;
            if fitted.weighting == Weighting::TfIdf {
                featurizer.set_idf(fitted.idf());
            }
            if let Some(kept) = fitted.kept() {
                featurizer.set_kept(kept);
            }
        }
        Ok(HashFeatures {
            column: params.text("column")?,
            output: params.text("output")?,
            featurizer,
            n_docs: 0,
            df: Vec::new(),
        })
    }

    fn fit(&mut self, input: Chunk) -> Result<(), StepError> {
        let text = input.text(&self.column)?;
        if !self.featurizer.config().counts_df() {
            // nothing to learn; the column check above still fails early
            return Ok(());
        }
        if self.df.is_empty() {
            self.df = vec![0; self.featurizer.config().dim() as usize];
        }
        for row in text.iter().flatten() {
            self.n_docs += 1;
            for &(index, _) in self.featurizer.hash_row(row) {
                self.df[index as usize] += 1;
            }
        }
        Ok(())
    }

    fn finish_fit(&mut self) -> Result<Vec<u8>, StepError> {
        let config = self.featurizer.config();
        if config.counts_df() && self.n_docs == 0 {
            let why = match config.weighting {
                Weighting::TfIdf => "`weighting` = tfidf",
                Weighting::Tf => "`min_df` > 1",
            };
            return Err(StepError::InvalidInput(format!(
                "param {why} needs at least one non-missing row of column `{}` to fit on",
                self.column
            )));
        }
        let min_df = config.min_df.max(1);
        let df: Vec<(u32, u32)> = self
            .df
            .iter()
            .enumerate()
            .filter(|(_, d)| **d >= min_df)
            .map(|(i, d)| (i as u32, *d))
            .collect();
        if config.counts_df() {
            log::info(&format!(
                "fitted on {} documents: {} dimensions kept (min_df {})",
                self.n_docs,
                df.len(),
                config.min_df
            ));
        }
        let fitted = Fitted {
            weighting: config.weighting,
            word_ngrams: config.word_ngrams as u32,
            char_ngrams: config.char_ngrams as u32,
            char_ngrams_min: config.char_ngrams_min as u32,
            n_features_log2: config.n_features_log2,
            min_token_len: config.min_token_len as u32,
            min_df: config.min_df,
            n_docs: self.n_docs,
            df,
        };
        Ok(fitted.encode())
    }

    fn process(&mut self, input: Chunk) -> Result<Chunk, StepError> {
        let text = input.text(&self.column)?;
        let features = self.featurizer.column(text)?;
        Ok(Chunk::new(input.rows).with(&self.output, features))
    }
}

export_step!(HashFeatures);

#[cfg(test)]
mod sklearn_fixture;
#[cfg(test)]
mod tests;
