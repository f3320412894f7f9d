//! Term lists, their canonical forms and the index the matcher looks them
//! up in.
//!
//! Every term is run through the same normaliser as the messages, then
//! stored by its *collapsed* form (runs of one letter squashed to one:
//! `asshole` → `ashole`) together with the length of each run (`a1 s2 h1 o1
//! l1 e1`). A message word matches a term when the collapsed forms are equal
//! *and* each of the word's runs equals the term's or is a deliberate
//! stretch (three or more, and longer). So `fuuuuck` and `asssss` match
//! `fuck` and `ass`, while `as`, `but`, `bob`, `con` and `Niger` do not
//! match `ass`, `butt`, `boob`, `coon`, `nigger`, and words that merely
//! double a letter (`rapping`, `annals`) do not match `raping`, `anal`.
//!
//! The built-in lists' tables are built by build.rs with this very code and
//! emitted as statics (see `builtin.rs`): every session is a fresh Wasm
//! instance, and parsing the lists in `open` cost over a millisecond. So
//! every table here is a `Cow`: borrowed from those statics, owned when
//! built at run time from extra lists.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::normalize::{Class, Sym, symbols};

/// The built-in English list (reviewed from LDNOOBW, see data/README.md).
pub const BUILTIN_EN: &str = include_str!("../data/en.txt");
/// The built-in Spanish list.
pub const BUILTIN_ES: &str = include_str!("../data/es.txt");

/// Longest collapsed word the matcher considers; longer "words" (URLs,
/// hashes) cannot be terms and are skipped cheaply.
pub(crate) const MAX_WORD: usize = 48;

/// How bad a term is; sets its weight in the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Vulgar or sexual, rarely abusive on its own (`ass`, `horny`).
    Mild,
    /// Profanity, obscenity, insults (`fuck`, `cunt`, `puta`).
    Strong,
    /// Slurs against a group (ethnic, homophobic, transphobic, ableist).
    Slur,
}

impl Severity {
    /// Weight in the score: `score = 1 - Π(1 - weight)` over distinct rules.
    pub fn weight(self) -> f64 {
        match self {
            Severity::Mild => 0.35,
            Severity::Strong => 0.75,
            Severity::Slur => 0.95,
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "mild" => Some(Severity::Mild),
            "strong" => Some(Severity::Strong),
            "slur" => Some(Severity::Slur),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Mild => "mild",
            Severity::Strong => "strong",
            Severity::Slur => "slur",
        }
    }
}

/// What kind of offence a term is; part of its rule id
/// (`lexicon.insult.en.idiot`) so that a moderation API can report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Swearing and vulgar expletives (`fuck`, `shit`, `mierda`).
    Profanity,
    /// Words aimed at a person (`idiot`, `asshole`, `pendejo`).
    Insult,
    /// Sexual acts, body parts and sexual violence (`blowjob`, `rape`).
    Sexual,
    /// Slurs and attacks on a group's identity (ethnic, religious,
    /// homophobic, transphobic, ableist).
    HateSpeech,
    /// Threats of violence (`kill you`, `te voy a matar`).
    Threat,
    /// Self-harm: telling someone to harm themselves (`kill yourself`,
    /// `kys`) and self-harm ideation (`kill myself`).
    SelfHarm,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Profanity,
        Category::Insult,
        Category::Sexual,
        Category::HateSpeech,
        Category::Threat,
        Category::SelfHarm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Profanity => "profanity",
            Category::Insult => "insult",
            Category::Sexual => "sexual",
            Category::HateSpeech => "hate_speech",
            Category::Threat => "threat",
            Category::SelfHarm => "self_harm",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == text.trim())
    }
}

/// The language a term belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Es,
    /// From an `any.txt` extra list: active whatever the message language.
    Any,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Any => "any",
        }
    }
}

/// Which languages' terms to use for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Langs(u8);

impl Langs {
    pub const EN: Langs = Langs(1);
    pub const ES: Langs = Langs(2);
    pub const BOTH: Langs = Langs(3);

    /// The `lang` param: `auto` (both lists), `en` or `es`.
    pub fn from_param(value: &str) -> Option<Langs> {
        match value {
            "auto" => Some(Langs::BOTH),
            "en" => Some(Langs::EN),
            "es" => Some(Langs::ES),
            _ => None,
        }
    }

    /// A per-row language code, leniently: `en`, `en-GB`, `eng`, `English`,
    /// `es_MX`, `spa`, `español`… `None` for anything else (the caller falls
    /// back to the `lang` param).
    pub fn from_code(code: &str) -> Option<Langs> {
        let code = code.trim();
        let primary = code.split(['-', '_']).next().unwrap_or("");
        let eq = |s: &str| primary.eq_ignore_ascii_case(s);
        if eq("en") || eq("eng") || eq("english") {
            Some(Langs::EN)
        } else if eq("es")
            || eq("spa")
            || eq("spanish")
            || eq("castellano")
            || eq("espanol")
            || primary.to_lowercase() == "español"
        {
            Some(Langs::ES)
        } else if eq("auto") || eq("mul") {
            Some(Langs::BOTH)
        } else {
            None
        }
    }

    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// Whether terms of `lang` are used.
    #[inline]
    pub fn has(self, lang: Lang) -> bool {
        match lang {
            Lang::En => self.0 & 1 != 0,
            Lang::Es => self.0 & 2 != 0,
            Lang::Any => true,
        }
    }
}

/// Inflection rules: a message word ending in `.0` may be the term ending
/// in `.1` (`fuck`+`ing`, `puta`→`putos`). Tails are collapsed forms.
/// Compounds such as `dickhead` are handled as tails too; prefixes
/// (`dumbass`) are not.
pub(crate) const EN_RULES: &[(&str, &str)] = &[
    ("s", ""),
    ("es", ""),
    ("ed", ""),
    ("d", ""),
    ("er", ""),
    ("ers", ""),
    ("ing", ""),
    ("ing", "e"),
    ("in", ""),
    ("in", "e"),
    ("y", ""),
    ("ies", "y"),
    ("head", ""),
    ("heads", ""),
    ("face", ""),
    ("faces", ""),
    ("hole", ""),
    ("holes", ""),
    ("bag", ""),
    ("bags", ""),
    ("wad", ""),
    ("wads", ""),
    ("wit", ""),
    ("wits", ""),
    ("hat", ""),
    ("hats", ""),
    ("tard", ""),
    ("tards", ""),
    ("est", ""),
    // `bitchass`, `dickweed`: collapsed, like every tail
    ("as", ""),
    ("ases", ""),
    ("boy", ""),
    ("boys", ""),
    ("brain", ""),
    ("brains", ""),
    ("licker", ""),
    ("lickers", ""),
    ("load", ""),
    ("loads", ""),
    ("nut", ""),
    ("nuts", ""),
    ("show", ""),
    ("stain", ""),
    ("stains", ""),
    ("sucker", ""),
    ("suckers", ""),
    ("sucking", ""),
    ("wed", ""),
    ("weds", ""),
    ("wipe", ""),
    ("wipes", ""),
];

pub(crate) const ES_RULES: &[(&str, &str)] = &[
    ("s", ""),
    ("es", ""),
    // gender and number of -o/-a nouns and adjectives
    ("a", "o"),
    ("o", "a"),
    ("as", "o"),
    ("os", "a"),
    // -ón/-or nouns: cabrona, folladoras
    ("a", ""),
    ("as", ""),
    // diminutives
    ("ito", "o"),
    ("itos", "o"),
    ("ita", "a"),
    ("itas", "a"),
    ("cito", ""),
    ("cita", ""),
    // -ar verbs (follar): folla, follando, follada…
    ("a", "ar"),
    ("as", "ar"),
    ("an", "ar"),
    ("o", "ar"),
    ("e", "ar"),
    ("es", "ar"),
    ("en", "ar"),
    ("amos", "ar"),
    ("ando", "ar"),
    ("ado", "ar"),
    ("ada", "ar"),
    ("ados", "ar"),
    ("adas", "ar"),
    ("arte", "ar"),
    ("arme", "ar"),
    ("arse", "ar"),
];

pub(crate) fn rules(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::En => EN_RULES,
        Lang::Es => ES_RULES,
        Lang::Any => &[],
    }
}

/// One word of a term in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// Canonical letters, runs kept (`asshole`).
    pub letters: Cow<'static, [char]>,
    /// Runs squashed (`ashole`): the index key.
    pub collapsed: Cow<'static, str>,
    /// Length of each run of `collapsed`, capped at 255.
    pub runs: Cow<'static, [u8]>,
}

impl Word {
    fn new(letters: Vec<char>) -> Word {
        let mut collapsed = String::new();
        let mut runs = Vec::new();
        collapse(&letters, &mut collapsed, &mut runs);
        Word {
            letters: letters.into(),
            collapsed: collapsed.into(),
            runs: runs.into(),
        }
    }
}

/// Squashes runs of one letter, recording each run's length.
#[inline]
pub(crate) fn collapse(letters: &[char], collapsed: &mut String, runs: &mut Vec<u8>) {
    collapsed.clear();
    runs.clear();
    let mut previous = None;
    for &c in letters {
        if Some(c) == previous {
            let last = runs.last_mut().expect("a run is open");
            *last = last.saturating_add(1);
        } else {
            collapsed.push(c);
            runs.push(1);
            previous = Some(c);
        }
    }
}

/// Which (first, second, third) letter triples start a term's collapsed
/// first word. Letters a–z and ñ have their own slot; any other character
/// shares one "other" slot, so the table errs on the side of "maybe".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrefixTable(pub(crate) Cow<'static, [u32]>);

const SLOTS: usize = 28;
/// Bit for "the word ends after two letters".
const END: u32 = 1 << 28;

impl Default for PrefixTable {
    fn default() -> Self {
        PrefixTable(Cow::Owned(vec![0; SLOTS * SLOTS]))
    }
}

#[inline]
fn slot(c: char) -> usize {
    match c {
        'a'..='z' => c as usize - 'a' as usize,
        'ñ' => 26,
        _ => 27,
    }
}

impl PrefixTable {
    fn insert(&mut self, word: &str) {
        let mut chars = word.chars();
        if let (Some(a), Some(b)) = (chars.next(), chars.next()) {
            let bit = chars.next().map_or(END, |c| 1 << slot(c));
            self.0.to_mut()[slot(a) * SLOTS + slot(b)] |= bit;
        }
    }

    /// Whether a collapsed word may be a term or an inflection of one.
    #[inline]
    pub(crate) fn may_start(&self, word: &str) -> bool {
        let mut chars = word.chars();
        let (Some(a), Some(b)) = (chars.next(), chars.next()) else {
            return false;
        };
        let bits = self.0[slot(a) * SLOTS + slot(b)];
        bits & END != 0 || chars.next().is_some_and(|c| bits & (1 << slot(c)) != 0)
    }
}

/// A term of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// As written in the list.
    pub text: Cow<'static, str>,
    pub lang: Lang,
    pub severity: Severity,
    pub category: Category,
    /// `lexicon.<category>.<lang>.<id>`.
    pub rule_id: Cow<'static, str>,
    /// Index of `rule_id` in the sorted list of distinct rule ids.
    pub(crate) rule: u32,
    pub(crate) words: Cow<'static, [Word]>,
}

impl Term {
    /// Whether the term may end a compound (`bigdick`, `motherfuckers`,
    /// `dumbcunt`): an English word of four letters or more, strong or a
    /// slur. Shorter or milder terms hide in too many words (`class`), and
    /// Spanish ones in Spanish compounds (`disputa`, `repollo`).
    pub(crate) fn compounds(&self) -> bool {
        self.lang != Lang::Es
            && self.words.len() == 1
            && self.words[0].letters.len() >= 4
            && self.severity >= Severity::Strong
    }
}

/// FNV-1a: the keys are short and trusted (built from the lists), so a
/// cheap hash beats SipHash in the per-token lookups. 64-bit on every
/// target, so the tables build.rs lays out are the ones a Wasm guest
/// probes.
#[inline]
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A read-only map from strings: open addressing with linear probing, at
/// most half full. Unlike a `HashMap` it can be a static (build.rs emits
/// the built-in lists' maps), and its layout is deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StrMap<V: Clone + 'static> {
    /// Power-of-two length: index into `entries` + 1, or 0 for empty.
    pub(crate) slots: Cow<'static, [u32]>,
    /// Sorted by key.
    pub(crate) entries: Cow<'static, [(Cow<'static, str>, V)]>,
}

impl<V: Clone + 'static> StrMap<V> {
    /// Keys must be distinct.
    pub(crate) fn new(mut entries: Vec<(Cow<'static, str>, V)>) -> Self {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let len = (entries.len() * 2).next_power_of_two();
        let mut slots = vec![0u32; len];
        for (i, (key, _)) in entries.iter().enumerate() {
            let mut at = fnv1a(key.as_bytes()) as usize & (len - 1);
            while slots[at] != 0 {
                at = (at + 1) & (len - 1);
            }
            slots[at] = i as u32 + 1;
        }
        StrMap {
            slots: Cow::Owned(slots),
            entries: Cow::Owned(entries),
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        let mask = self.slots.len() - 1;
        let mut at = fnv1a(key.as_bytes()) as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return None;
            }
            let (k, v) = &self.entries[slot as usize - 1];
            if k.as_ref() == key {
                return Some(v);
            }
            at = (at + 1) & mask;
        }
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }
}

/// A term's identity for de-duplication: language and canonical words.
type TermForm = (Lang, Vec<Cow<'static, [char]>>);

/// The terms and their index: built at compile time for the built-in lists
/// ([`Lexicon::builtin`]), in `open` when extra lists are given; shared,
/// matched many times.
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub(crate) terms: Cow<'static, [Term]>,
    /// Collapsed first word → terms starting with it, most specific
    /// (longest runs) first.
    pub(crate) first: StrMap<Cow<'static, [u32]>>,
    /// Words that never fire, exact canonical letters (`butter`, `cocky`),
    /// with the languages (`Langs` bits) whose lists declared them.
    pub(crate) innocent_words: StrMap<u8>,
    /// Phrases whose words never fire together (`cum laude`), collapsed.
    pub(crate) innocent_phrases: Cow<'static, [Cow<'static, [Cow<'static, str>]>]>,
    /// Single-word terms of letters only, by the number of their letters
    /// (then list order): the candidates of a wildcard word (`f*ck`).
    pub(crate) wild_terms: Cow<'static, [u32]>,
    /// First three letters of every collapsed first word (two for
    /// two-letter words) as a bit table: a filter before any hash lookup.
    pub(crate) prefixes: PrefixTable,
    /// The same for terms that may end a compound (see [`Term::compounds`]).
    pub(crate) compound_prefixes: PrefixTable,
    /// Inflection rules of both languages by the last byte of their token
    /// tail, so a word only tries the rules that can fit its ending.
    pub(crate) rules_by_last: Cow<'static, [RulesEnding]>,
    /// Distinct rule ids, sorted; `Term::rule` indexes this.
    pub(crate) rule_ids: Cow<'static, [Cow<'static, str>]>,
    /// Highest severity per rule index.
    pub(crate) rule_severity: Cow<'static, [Severity]>,
    /// Rule index of [`TARGETED_RULE`].
    pub(crate) targeted_rule: u32,
}

/// Fires next to an insult or slur aimed at the reader (`you idiot`,
/// `eres un imbécil`): a second-person word within [`TARGET_WINDOW`]
/// words of it. Weighs as a mild term.
pub const TARGETED_RULE: &str = "lexicon.insult.targeted";

/// Inflection rules whose token tail ends in one byte: (language, token
/// tail, term tail).
pub(crate) type RulesEnding = Cow<'static, [(Lang, &'static str, &'static str)]>;

/// A term list to build a lexicon from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub lang: Lang,
    /// For error messages (`en.txt`, `/lexicons/es.txt`).
    pub name: &'a str,
    pub text: &'a str,
}

impl Lexicon {
    /// The built-in lists as sources, to build on with extra lists.
    pub fn builtin_sources() -> [Source<'static>; 2] {
        [
            Source {
                lang: Lang::En,
                name: "data/en.txt",
                text: BUILTIN_EN,
            },
            Source {
                lang: Lang::Es,
                name: "data/es.txt",
                text: BUILTIN_ES,
            },
        ]
    }

    /// Builds a lexicon from term lists. Format, one entry a line:
    /// `term<TAB>severity[<TAB>id]` (severity defaults to `strong`),
    /// `!innocent words`, `# comment`. A term listed twice in one language
    /// keeps its last severity, so an extra list can re-rate a built-in one.
    pub fn build(sources: &[Source<'_>]) -> Result<Lexicon, String> {
        let mut terms: Vec<Term> = Vec::new();
        // (language, canonical words) → index in `terms`
        let mut by_form: HashMap<TermForm, usize> = HashMap::new();
        let mut innocent_words: HashMap<String, u8> = HashMap::new();
        let mut innocent_phrases = Vec::new();
        let mut syms = Vec::new();
        for source in sources {
            // `[insult]` lines set the category of the terms below them
            let mut category = Category::Profanity;
            // without a `[category]` line, a re-listed term keeps its own
            let mut categorised = false;
            for (number, raw) in source.text.lines().enumerate() {
                let at = || format!("{}:{}", source.name, number + 1);
                let line = raw.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                    category = Category::parse(name).ok_or_else(|| {
                        format!(
                            "{}: category `[{name}]` should be one of profanity, insult, sexual, hate_speech, threat, self_harm",
                            at()
                        )
                    })?;
                    categorised = true;
                    continue;
                }
                if let Some(innocent) = line.strip_prefix('!') {
                    let words = canonical_words(innocent, &mut syms)
                        .map_err(|e| format!("{}: {e}", at()))?;
                    match words.len() {
                        0 => return Err(format!("{}: `!` needs a word or phrase after it", at())),
                        1 => {
                            let bits = match source.lang {
                                Lang::En => Langs::EN.0,
                                Lang::Es => Langs::ES.0,
                                Lang::Any => Langs::BOTH.0,
                            };
                            *innocent_words
                                .entry(words[0].letters.iter().collect::<String>())
                                .or_default() |= bits;
                        }
                        _ => innocent_phrases
                            .push(Cow::Owned(words.into_iter().map(|w| w.collapsed).collect())),
                    }
                    continue;
                }
                let mut fields = line.split('\t').map(str::trim);
                let text = fields.next().unwrap_or("");
                let severity = match fields.next().filter(|s| !s.is_empty()) {
                    None => Severity::Strong,
                    Some(s) => Severity::parse(s).ok_or_else(|| {
                        format!("{}: severity `{s}` should be mild, strong or slur", at())
                    })?,
                };
                let id = fields.next().filter(|s| !s.is_empty());
                if fields.next().is_some() {
                    return Err(format!("{}: expected `term<TAB>severity[<TAB>id]`", at()));
                }
                let words =
                    canonical_words(text, &mut syms).map_err(|e| format!("{}: {e}", at()))?;
                if words.is_empty() {
                    return Err(format!("{}: `{text}` has no letters to match", at()));
                }
                let form: Vec<Cow<'static, [char]>> =
                    words.iter().map(|w| w.letters.clone()).collect();
                let existing = by_form.get(&(source.lang, form.clone())).copied();
                let category = match existing {
                    Some(existing) if !categorised => terms[existing].category,
                    _ => category,
                };
                let rule_id = format!(
                    "lexicon.{}.{}.{}",
                    category.as_str(),
                    source.lang.code(),
                    id.map(str::to_string).unwrap_or_else(|| default_id(&words))
                );
                match existing {
                    Some(existing) => {
                        terms[existing].severity = severity;
                        terms[existing].category = category;
                        terms[existing].rule_id = rule_id.into();
                    }
                    None => {
                        by_form.insert((source.lang, form), terms.len());
                        terms.push(Term {
                            text: text.to_string().into(),
                            lang: source.lang,
                            severity,
                            category,
                            rule_id: rule_id.into(),
                            rule: 0,
                            words: words.into(),
                        });
                    }
                }
            }
        }
        Ok(Self::index(terms, innocent_words, innocent_phrases))
    }

    fn index(
        mut terms: Vec<Term>,
        innocent_words: HashMap<String, u8>,
        innocent_phrases: Vec<Cow<'static, [Cow<'static, str>]>>,
    ) -> Lexicon {
        let mut rule_ids: Vec<Cow<'static, str>> =
            terms.iter().map(|t| t.rule_id.clone()).collect();
        rule_ids.push(TARGETED_RULE.into());
        rule_ids.sort();
        rule_ids.dedup();
        let targeted_rule = rule_ids
            .binary_search_by(|id| id.as_ref().cmp(TARGETED_RULE))
            .expect("targeted rule listed") as u32;
        let mut rule_severity = vec![Severity::Mild; rule_ids.len()];
        for term in &mut terms {
            term.rule = rule_ids
                .binary_search(&term.rule_id)
                .expect("rule id listed") as u32;
            let slot = &mut rule_severity[term.rule as usize];
            *slot = (*slot).max(term.severity);
        }
        let mut first: HashMap<Cow<'static, str>, Vec<u32>> = HashMap::new();
        for (id, term) in terms.iter().enumerate() {
            first
                .entry(term.words[0].collapsed.clone())
                .or_default()
                .push(id as u32);
        }
        // most specific first: `boob` (b o2 b) before a `bob` (b o b)
        // entry, phrases before their first word (`jerk off`, `jerk`)
        for ids in first.values_mut() {
            ids.sort_by_key(|&id| {
                let term = &terms[id as usize];
                (
                    std::cmp::Reverse(
                        term.words[0]
                            .runs
                            .iter()
                            .map(|&r| u32::from(r))
                            .sum::<u32>(),
                    ),
                    std::cmp::Reverse(term.words.len()),
                )
            });
        }
        let first = StrMap::new(
            first
                .into_iter()
                .map(|(key, ids)| (key, Cow::Owned(ids)))
                .collect(),
        );
        let mut prefixes = PrefixTable::default();
        for key in first.keys() {
            prefixes.insert(key);
        }
        let mut compound_prefixes = PrefixTable::default();
        for term in terms.iter().filter(|t| t.compounds()) {
            compound_prefixes.insert(&term.words[0].collapsed);
        }
        let mut wild_terms: Vec<u32> = (0..terms.len() as u32)
            .filter(|&id| {
                let words = &terms[id as usize].words;
                words.len() == 1 && words[0].letters.iter().all(|c| c.is_alphabetic())
            })
            .collect();
        wild_terms.sort_by_key(|&id| terms[id as usize].words[0].letters.len());
        let mut rules_by_last: Vec<RulesEnding> = vec![Cow::Borrowed(&[]); 128];
        for lang in [Lang::En, Lang::Es] {
            for &(token_tail, term_tail) in rules(lang) {
                let last = *token_tail
                    .as_bytes()
                    .last()
                    .expect("rule tails are not empty");
                rules_by_last[last as usize]
                    .to_mut()
                    .push((lang, token_tail, term_tail));
            }
        }
        Lexicon {
            terms: terms.into(),
            first,
            innocent_words: StrMap::new(
                innocent_words
                    .into_iter()
                    .map(|(word, langs)| (word.into(), langs))
                    .collect(),
            ),
            innocent_phrases: innocent_phrases.into(),
            wild_terms: wild_terms.into(),
            prefixes,
            compound_prefixes,
            rules_by_last: rules_by_last.into(),
            rule_ids: rule_ids.into(),
            rule_severity: rule_severity.into(),
            targeted_rule,
        }
    }

    /// The wildcard candidates (the `wild_terms` field) of `len` letters.
    pub(crate) fn wild_terms(&self, len: usize) -> &[u32] {
        let len_of = |id: &u32| self.terms[*id as usize].words[0].letters.len();
        let from = self.wild_terms.partition_point(|id| len_of(id) < len);
        let count = self.wild_terms[from..].partition_point(|id| len_of(id) == len);
        &self.wild_terms[from..from + count]
    }

    /// All terms.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Number of terms of `lang`.
    pub fn count(&self, lang: Lang) -> usize {
        self.terms.iter().filter(|t| t.lang == lang).count()
    }

    /// The rule id of rule index `rule` (see [`crate::Detection::rules`]).
    pub fn rule_id(&self, rule: u32) -> &str {
        &self.rule_ids[rule as usize]
    }

    /// The severity of rule index `rule` (the highest of its terms).
    pub fn rule_severity(&self, rule: u32) -> Severity {
        self.rule_severity[rule as usize]
    }
}

/// The canonical words of a term as the matcher would read them in a
/// message (primary leet reading, no wildcards).
fn canonical_words(text: &str, syms: &mut Vec<Sym>) -> Result<Vec<Word>, String> {
    symbols(text, syms);
    let mut words = Vec::new();
    let mut current = Vec::new();
    for sym in syms.iter() {
        match sym.class {
            Class::Wild => {
                return Err(format!(
                    "`{text}`: `*`/`#` wildcards are not allowed in terms"
                ));
            }
            Class::Other => {
                return Err(format!(
                    "`{text}`: `{}` cannot be matched (digit or non-Latin letter)",
                    sym.ch
                ));
            }
            Class::Symbol => {
                if !current.is_empty() {
                    words.push(Word::new(std::mem::take(&mut current)));
                }
                words.push(Word::new(vec![sym.ch]));
            }
            class if class.is_word() => current.push(sym.ch),
            _ => {
                if !current.is_empty() {
                    words.push(Word::new(std::mem::take(&mut current)));
                }
            }
        }
    }
    if !current.is_empty() {
        words.push(Word::new(current));
    }
    Ok(words)
}

/// `lexicon.<category>.<lang>.<this>` for a term without an explicit id: its canonical
/// words joined by `-` (`blow-job`, `cabron`, `coño`).
fn default_id(words: &[Word]) -> String {
    let mut id = String::new();
    for word in words {
        if !id.is_empty() {
            id.push('-');
        }
        id.extend(word.letters.iter());
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lists_parse() {
        let lexicon = Lexicon::builtin();
        assert!(lexicon.count(Lang::En) > 100, "{}", lexicon.count(Lang::En));
        assert!(lexicon.count(Lang::Es) > 30, "{}", lexicon.count(Lang::Es));
        let ids: Vec<&str> = lexicon.terms().iter().map(|t| t.rule_id.as_ref()).collect();
        assert!(ids.contains(&"lexicon.profanity.en.fuck"));
        assert!(ids.contains(&"lexicon.sexual.en.blow-job"));
        assert!(ids.contains(&"lexicon.insult.es.cabron"));
        assert!(ids.contains(&"lexicon.profanity.es.coño"));
        assert!(ids.contains(&"lexicon.profanity.en.middle-finger-emoji"));
    }

    #[test]
    fn rejects_bad_lines_with_their_location() {
        let err = Lexicon::build(&[Source {
            lang: Lang::En,
            name: "x.txt",
            text: "ok\tmild\nbad\tterrible\n",
        }])
        .unwrap_err();
        assert!(err.contains("x.txt:2") && err.contains("terrible"), "{err}");
        let err = Lexicon::build(&[Source {
            lang: Lang::En,
            name: "x.txt",
            text: "f*ck\n",
        }])
        .unwrap_err();
        assert!(err.contains("x.txt:1") && err.contains("wildcard"), "{err}");
    }

    #[test]
    fn later_lists_re_rate_terms() {
        let lexicon = Lexicon::build(&[
            Source {
                lang: Lang::En,
                name: "a",
                text: "darn\tmild\n",
            },
            Source {
                lang: Lang::En,
                name: "b",
                text: "Darn\tslur\n",
            },
        ])
        .unwrap();
        assert_eq!(lexicon.terms().len(), 1);
        assert_eq!(lexicon.terms()[0].severity, Severity::Slur);
    }

    #[test]
    fn language_codes() {
        assert_eq!(Langs::from_code("en-GB"), Some(Langs::EN));
        assert_eq!(Langs::from_code("es_MX"), Some(Langs::ES));
        assert_eq!(Langs::from_code("Español"), Some(Langs::ES));
        assert_eq!(Langs::from_code("fr"), None);
        assert_eq!(Langs::from_param("auto"), Some(Langs::BOTH));
        assert_eq!(Langs::from_param("EN"), None);
    }
}
