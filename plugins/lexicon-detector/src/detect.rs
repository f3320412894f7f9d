//! Matching a message against a [`Lexicon`].
//!
//! 1. The message becomes a symbol stream ([`crate::normalize`]).
//! 2. Words are maximal runs of word symbols; edge `!`, `|`, `#` and
//!    emphasis `*…*` are trimmed off.
//! 3. Glued groups are tried first: words joined by one `.`/`-`/`_`/`~`
//!    (`fu.ck`, `ass-hole`) or single letters separated by up to three
//!    spaces/punctuation (`f u c k`, `f.u.c.k`). Every window of two or more
//!    words is tried, longest first; a match consumes its words.
//! 4. Every other word is matched on its own, and as the first word of a
//!    multi-word term (`blow job`, `concha de tu madre`).
//! 5. Each reading of a word's leet symbols is tried (`1`, `!`, `|` as `i`
//!    or `l`; a leading `@` as `a` or a mention sigil), at most 16.
//! 6. A reading matches a term when its collapsed form equals the term's
//!    and each run is the term's or deliberately stretched (see
//!    [`crate::lexicon`]), directly or after an inflection rule of the
//!    term's language; with `*`/`#` wildcards it matches word forms of the
//!    same length letter by letter.
//! 7. Hits inside an innocent phrase (`cum laude`, `tit for tat`) are
//!    dropped.

use crate::lexicon::{Category, Lang, Langs, Lexicon, MAX_WORD, Severity, Word, rules};
use crate::normalize::{Class, Sym, WILD, symbols};

/// One matched term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Index into [`Lexicon::terms`].
    pub term: u32,
    /// Rule index ([`Lexicon::rule_id`]).
    pub rule: u32,
    /// Byte range of the match in the original text.
    pub start: usize,
    pub end: usize,
}

/// What [`Lexicon::detect`] found in one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    /// Every match, in text order.
    pub hits: Vec<Hit>,
    /// Distinct rule indexes that fired, sorted by rule id.
    pub rules: Vec<u32>,
    /// `1 - Π(1 - weight)` over `rules` (mild 0.35, strong 0.75, slur
    /// 0.95); 0 when nothing fired.
    pub score: f64,
}

impl Detection {
    pub fn clear(&mut self) {
        self.hits.clear();
        self.rules.clear();
        self.score = 0.0;
    }

    /// True when at least one term fired.
    pub fn fired(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The rule ids that fired, sorted, without duplicates.
    pub fn rule_ids<'a>(&'a self, lexicon: &'a Lexicon) -> impl Iterator<Item = &'a str> + 'a {
        self.rules.iter().map(|&r| lexicon.rule_id(r))
    }
}

/// Reusable buffers: pass the same one to every
/// [`Lexicon::detect_with`] call so that the hot loop does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    syms: Vec<Sym>,
    tokens: Vec<Token>,
    ranges: Vec<(u32, u32)>,
    ambiguous: Vec<u32>,
    current: Canon,
    aux: Canon,
    key: String,
    /// Hits with the word they came from (`u32::MAX`: several words).
    pending: Vec<(Hit, u32)>,
}

/// A word of the message: symbols `a..b` after trimming.
#[derive(Debug, Clone, Copy)]
struct Token {
    a: u32,
    b: u32,
    /// Glued to the next word (see step 3).
    linked: bool,
    consumed: bool,
}

/// One reading of a word.
#[derive(Debug, Default)]
struct Canon {
    letters: Vec<char>,
    exact: String,
    collapsed: String,
    runs: Vec<u8>,
}

impl Canon {
    /// Computes the collapsed form and runs (`exact` is filled on demand).
    fn finish(&mut self) {
        crate::lexicon::collapse(&self.letters, &mut self.collapsed, &mut self.runs);
    }
}

/// How many words either side of an insult a second-person word may be
/// (`you are such a total idiot`).
const TARGET_WINDOW: usize = 4;

/// Words that address the reader, as normalised letters.
const SECOND_PERSON: &[(Lang, &str)] = &[
    (Lang::En, "you"),
    (Lang::En, "u"),
    (Lang::En, "ya"),
    (Lang::En, "your"),
    (Lang::En, "ur"),
    (Lang::En, "youre"),
    (Lang::En, "yourself"),
    (Lang::En, "urself"),
    (Lang::En, "yourselves"),
    (Lang::En, "thou"),
    (Lang::En, "thee"),
    (Lang::Es, "tu"),
    (Lang::Es, "te"),
    (Lang::Es, "ti"),
    (Lang::Es, "eres"),
    (Lang::Es, "sos"),
    (Lang::Es, "vos"),
    (Lang::Es, "usted"),
    (Lang::Es, "ustedes"),
];

/// Longest word (in symbols) worth reading; longer ones are URLs or noise.
const MAX_SYMS: u32 = 256;
/// At most 2^4 leet readings per word.
const MAX_AMBIGUOUS: usize = 4;
/// Longest window of glued words.
const MAX_WINDOW: usize = 12;

impl Lexicon {
    /// Detects terms of `langs` in `text`. Allocates its buffers; in a loop
    /// use [`Lexicon::detect_with`].
    pub fn detect(&self, text: &str, langs: Langs) -> Detection {
        let mut out = Detection::default();
        self.detect_with(text, langs, &mut Scratch::default(), &mut out);
        out
    }

    /// Detects terms of `langs` in `text` into `out` (cleared first).
    pub fn detect_with(
        &self,
        text: &str,
        langs: Langs,
        scratch: &mut Scratch,
        out: &mut Detection,
    ) {
        out.clear();
        let Scratch {
            syms,
            tokens,
            ranges,
            ambiguous,
            current,
            aux,
            key,
            pending,
        } = scratch;
        pending.clear();
        symbols(text, syms);
        self.tokenize(syms, langs, key, tokens, pending);

        // glued groups: windows of two or more words, longest first
        let mut i = 0;
        while i < tokens.len() {
            let mut j = i + 1;
            while j < tokens.len() && tokens[j - 1].linked {
                j += 1;
            }
            let mut a = i;
            while j - i >= 2 && a + 2 <= j {
                let mut found = false;
                for b in (a + 2..=j.min(a + MAX_WINDOW)).rev() {
                    ranges.clear();
                    ranges.extend(tokens[a..b].iter().map(|t| (t.a, t.b)));
                    let hit = self.match_ranges(
                        syms,
                        ranges,
                        langs,
                        ambiguous,
                        current,
                        key,
                        |term, _| self.terms[term as usize].words.len() == 1,
                    );
                    if let Some((term, end)) = hit {
                        let (start, end) =
                            (syms[tokens[a].a as usize].start, syms[end as usize - 1].end);
                        pending.push((self.hit(term, start, end), u32::MAX));
                        tokens[a..b].iter_mut().for_each(|t| t.consumed = true);
                        a = b;
                        found = true;
                        break;
                    }
                }
                if !found {
                    a += 1;
                }
            }
            i = j;
        }

        // single words, and the first words of phrases
        for index in 0..tokens.len() {
            let token = tokens[index];
            if token.consumed {
                continue;
            }
            ranges.clear();
            ranges.push((token.a, token.b));
            let mut phrase_len = 1;
            let hit = self.match_ranges(syms, ranges, langs, ambiguous, current, key, |term, _| {
                let words = &self.terms[term as usize].words;
                if words.len() == 1 {
                    phrase_len = 1;
                    return true;
                }
                let lang = self.terms[term as usize].lang;
                let matched = words[1..].iter().enumerate().all(|(k, word)| {
                    tokens.get(index + 1 + k).is_some_and(|next| {
                        read_primary(syms, *next, aux);
                        word_matches(aux, word, lang, langs)
                    })
                });
                if matched {
                    phrase_len = words.len();
                }
                matched
            });
            if let Some((term, end)) = hit {
                let last = if phrase_len == 1 {
                    end
                } else {
                    tokens[index + phrase_len - 1].b
                };
                let (start, end) = (syms[token.a as usize].start, syms[last as usize - 1].end);
                let origin = if phrase_len == 1 {
                    index as u32
                } else {
                    u32::MAX
                };
                pending.push((self.hit(term, start, end), origin));
            }
        }

        if !self.innocent_phrases.is_empty() {
            pending.retain(|&(_, origin)| {
                origin == u32::MAX || !self.in_innocent_phrase(syms, tokens, origin as usize, aux)
            });
        }
        pending.sort_by_key(|(hit, _)| (hit.start, hit.end));
        out.hits.extend(pending.iter().map(|(hit, _)| *hit));
        out.rules.extend(out.hits.iter().map(|h| h.rule));
        if self.targeted(syms, tokens, &out.hits, langs, aux) {
            out.rules.push(self.targeted_rule);
        }
        out.rules.sort_unstable();
        out.rules.dedup();
        let clean: f64 = out
            .rules
            .iter()
            .map(|&r| 1.0 - self.rule_severity(r).weight())
            .product();
        out.score = if out.rules.is_empty() {
            0.0
        } else {
            1.0 - clean
        };
    }

    /// Whether an insult, a slur or strong profanity is aimed at the
    /// reader: a second-person word ([`SECOND_PERSON`]) within
    /// [`TARGET_WINDOW`] words of it.
    fn targeted(
        &self,
        syms: &[Sym],
        tokens: &[Token],
        hits: &[Hit],
        langs: Langs,
        aux: &mut Canon,
    ) -> bool {
        hits.iter().any(|hit| {
            // mild profanity aimed at someone is still banter (`wtf are
            // you doing`, `damn you're fast`); strong profanity aimed at
            // someone (`fuck you`) ranks above the same word alone
            let term = &self.terms[hit.term as usize];
            let aims = match term.category {
                Category::Insult | Category::HateSpeech => true,
                Category::Profanity => term.severity >= Severity::Strong,
                _ => false,
            };
            if !aims {
                return false;
            }
            let inside = |t: &Token| {
                let at = syms[t.a as usize].start as usize;
                at >= hit.start && at < hit.end
            };
            let Some(first) = tokens.iter().position(inside) else {
                return false;
            };
            let last = first + tokens[first..].iter().take_while(|t| inside(t)).count();
            let from = first.saturating_sub(TARGET_WINDOW);
            let to = (last + TARGET_WINDOW).min(tokens.len());
            (from..to).filter(|&k| k < first || k >= last).any(|k| {
                read(syms, &[(tokens[k].a, tokens[k].b)], &[], 0, aux);
                SECOND_PERSON.iter().any(|&(lang, word)| {
                    langs.has(lang)
                        && aux.letters.len() == word.chars().count()
                        && aux.letters.iter().copied().eq(word.chars())
                })
            })
        })
    }

    fn hit(&self, term: u32, start: u32, end: u32) -> Hit {
        Hit {
            term,
            rule: self.terms[term as usize].rule,
            start: start as usize,
            end: end as usize,
        }
    }

    /// Splits the symbols into trimmed words and links glued ones; matches
    /// symbol terms (emoji) on the way.
    fn tokenize(
        &self,
        syms: &[Sym],
        langs: Langs,
        key: &mut String,
        tokens: &mut Vec<Token>,
        pending: &mut Vec<(Hit, u32)>,
    ) {
        tokens.clear();
        let mut i = 0;
        while i < syms.len() {
            let class = syms[i].class;
            if !class.is_word() {
                if class == Class::Symbol {
                    key.clear();
                    key.push(syms[i].ch);
                    if let Some(ids) = self.first.get(key.as_str()) {
                        let found = ids.iter().find(|&&id| {
                            let term = &self.terms[id as usize];
                            term.words.len() == 1 && langs.has(term.lang)
                        });
                        if let Some(&term) = found {
                            pending.push((self.hit(term, syms[i].start, syms[i].end), u32::MAX));
                        }
                    }
                }
                i += 1;
                continue;
            }
            let raw_a = i;
            while i < syms.len() && syms[i].class.is_word() {
                i += 1;
            }
            if let Some((a, b)) = trim(syms, raw_a, i) {
                tokens.push(Token {
                    a: a as u32,
                    b: b as u32,
                    linked: false,
                    consumed: false,
                });
            }
        }
        for k in 1..tokens.len() {
            let (left, right) = (tokens[k - 1], tokens[k]);
            let gap = &syms[left.b as usize..right.a as usize];
            let joiner = gap.len() == 1
                && gap[0].class == Class::Punct
                && matches!(gap[0].ch, '.' | '-' | '_' | '~');
            let short = gap.len() <= 3
                && gap
                    .iter()
                    .all(|s| matches!(s.class, Class::Space | Class::Punct));
            let singles = left.b - left.a == 1 && right.b - right.a == 1;
            tokens[k - 1].linked = joiner || (short && singles);
        }
    }

    /// Tries every leet reading of the symbols in `ranges`; returns the
    /// first term that matches and that `accept` (term, reading) agrees to,
    /// with the end (exclusive symbol index) of what matched.
    #[allow(clippy::too_many_arguments)]
    fn match_ranges(
        &self,
        syms: &[Sym],
        ranges: &[(u32, u32)],
        langs: Langs,
        ambiguous: &mut Vec<u32>,
        current: &mut Canon,
        key: &mut String,
        mut accept: impl FnMut(u32, &Canon) -> bool,
    ) -> Option<(u32, u32)> {
        if !eligible(syms, ranges) {
            return None;
        }
        // `ass*` (end of an `*emphasis*`) is `ass`; `sh**` is `shit`: try a
        // word's trailing stars as emphasis first, then as wildcards
        let &(last_a, last_b) = ranges.last().expect("at least one range");
        let mut kept = last_b;
        while kept > last_a
            && syms[kept as usize - 1].class == Class::Wild
            && syms[kept as usize - 1].ch == '*'
        {
            kept -= 1;
        }
        if kept < last_b && kept > last_a {
            let (head, _) = ranges.split_at(ranges.len() - 1);
            let stripped = self.with_last_range(head, (last_a, kept), |ranges| {
                self.match_readings(syms, ranges, langs, ambiguous, current, key, &mut accept)
            });
            if let Some(term) = stripped {
                return Some((term, kept));
            }
        }
        self.match_readings(syms, ranges, langs, ambiguous, current, key, &mut accept)
            .map(|term| (term, last_b))
    }

    /// Runs `f` on `head` followed by `last` (ranges are tiny: one per
    /// glued word, at most [`MAX_WINDOW`]).
    fn with_last_range<R>(
        &self,
        head: &[(u32, u32)],
        last: (u32, u32),
        f: impl FnOnce(&[(u32, u32)]) -> R,
    ) -> R {
        let mut buffer = [(0u32, 0u32); MAX_WINDOW];
        buffer[..head.len()].copy_from_slice(head);
        buffer[head.len()] = last;
        f(&buffer[..=head.len()])
    }

    #[allow(clippy::too_many_arguments)]
    fn match_readings(
        &self,
        syms: &[Sym],
        ranges: &[(u32, u32)],
        langs: Langs,
        ambiguous: &mut Vec<u32>,
        current: &mut Canon,
        key: &mut String,
        accept: &mut impl FnMut(u32, &Canon) -> bool,
    ) -> Option<u32> {
        ambiguous.clear();
        let first = ranges[0].0;
        for &(a, b) in ranges {
            for p in a..b {
                let class = syms[p as usize].class;
                if matches!(class, Class::OneDigit | Class::Bar)
                    || (class == Class::At && p == first)
                {
                    ambiguous.push(p);
                }
            }
        }
        if ambiguous.len() > MAX_AMBIGUOUS {
            ambiguous.clear();
        }
        for variant in 0u32..(1 << ambiguous.len()) {
            read(syms, ranges, ambiguous, variant, current);
            if current.letters.len() < 2 {
                continue;
            }
            if current.letters.contains(&WILD) {
                if let Some(term) = self.match_wild(&current.letters, langs) {
                    return Some(term);
                }
                continue;
            }
            current.finish();
            if current.runs.len() > MAX_WORD {
                continue;
            }
            let mut found = None;
            if self.may_match(&current.collapsed) {
                found = self.find(current, langs, key, |term| accept(term, current));
            }
            if found.is_none() {
                found = self.find_compound(current, langs, key, |term| accept(term, current));
            }
            if found.is_some() {
                // checked last: innocent words are rare, hits rarer still
                current.exact.clear();
                current.exact.extend(current.letters.iter());
                if !self.is_innocent(&current.exact, langs) {
                    return found;
                }
            }
        }
        None
    }

    /// Terms whose first word matches `word`: directly (collapsed forms
    /// equal, runs dominate) first, then through inflection rules.
    fn find(
        &self,
        word: &Canon,
        langs: Langs,
        key: &mut String,
        accept: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        self.find_in(&word.collapsed, &word.runs, false, langs, key, accept)
    }

    /// [`Lexicon::find`] on a collapsed form and its runs. With
    /// `shared_first`, the first run may be longer than the term's: it is
    /// the end of a compound's head too (`dumbbitch`).
    fn find_in(
        &self,
        collapsed: &str,
        runs: &[u8],
        shared_first: bool,
        langs: Langs,
        key: &mut String,
        mut accept: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let fits = |word: &[u8], term: &[u8], adds_only: bool| {
            if shared_first && !word.is_empty() && !term.is_empty() && word[0] >= term[0] {
                // compare the rest as usual; the first run is shared
                word.len() == term.len()
                    && (word.len() == 1 || dominates_stem(&word[1..], &term[1..], adds_only))
            } else {
                dominates_stem(word, term, adds_only)
            }
        };
        if let Some(ids) = self.first.get(collapsed) {
            for &id in ids.iter() {
                let term = &self.terms[id as usize];
                let term_runs = &term.words[0].runs;
                let direct = if shared_first {
                    fits(runs, term_runs, false)
                } else {
                    dominates(runs, term_runs)
                };
                if langs.has(term.lang) && direct && accept(id) {
                    return Some(id);
                }
            }
        }
        let last = *collapsed.as_bytes().last()?;
        let candidates = self.rules_by_last.get(last as usize)?;
        for &(lang, token_tail, term_tail) in candidates.iter() {
            if !langs.has(lang) {
                continue;
            }
            let Some(stem) = collapsed.strip_suffix(token_tail) else {
                continue;
            };
            let stem_runs = runs.len() - token_tail.len();
            // a stem glued to a tail that starts with its last letter
            // would not be a collapsed form
            if stem_runs < 2
                || (!term_tail.is_empty() && stem.chars().last() == term_tail.chars().next())
            {
                continue;
            }
            key.clear();
            key.push_str(stem);
            key.push_str(term_tail);
            let Some(ids) = self.first.get(key.as_str()) else {
                continue;
            };
            for &id in ids.iter() {
                let term = &self.terms[id as usize];
                if (term.lang == lang || term.lang == Lang::Any)
                    && fits(
                        &runs[..stem_runs],
                        &term.words[0].runs[..stem_runs],
                        term_tail.is_empty(),
                    )
                    && accept(id)
                {
                    return Some(id);
                }
            }
        }
        None
    }

    /// Compounds ending in a term (`bigdick`, `motherfuckers`,
    /// `dumbcunts`): a head of two letters or more, then a term that
    /// [`Term::compounds`], directly or inflected. Innocent words that end
    /// in a term (`peacock`, `grape`) are listed with `!`.
    fn find_compound(
        &self,
        word: &Canon,
        langs: Langs,
        key: &mut String,
        mut accept: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let collapsed = word.collapsed.as_str();
        // a head of two letters and a term of three collapsed ones at least
        if collapsed.len() < 5 {
            return None;
        }
        for (run, (at, _)) in collapsed.char_indices().enumerate().skip(2) {
            let tail = &collapsed[at..];
            if tail.len() < 3 {
                break;
            }
            if !self.compound_prefixes.may_start(tail) {
                continue;
            }
            let found = self.find_in(tail, &word.runs[run..], true, langs, key, |id| {
                self.terms[id as usize].compounds() && accept(id)
            });
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// `f*ck`, `sh**`, `f**king`: same length as a word form, letter by
    /// letter. Needs two real letters, a real first letter and at most two
    /// wildcards per real letter (`n****r`, not `a**`). Several candidates (`s**t`: shit,
    /// slut, smut) rank a term's own form before inflected ones, then
    /// strong before mild before slur (asterisks mostly hide everyday
    /// profanity; a slur is only reported when it is the one reading),
    /// then list order.
    fn match_wild(&self, letters: &[char], langs: Langs) -> Option<u32> {
        let wild = letters.iter().filter(|&&c| c == WILD).count();
        let real = letters.len() - wild;
        if letters[0] == WILD || real < 2 || wild > 2 * real {
            return None;
        }
        let rank = |severity: Severity| match severity {
            Severity::Strong => 0u8,
            Severity::Mild => 1,
            Severity::Slur => 2,
        };
        let key = |id: u32| (rank(self.terms[id as usize].severity), id);
        let fits = |form: &[char], pattern: &[char]| {
            form.iter().zip(pattern).all(|(&f, &l)| l == WILD || f == l)
        };
        // a term's own form ranks before any inflected one
        let own = self
            .wild_terms(letters.len())
            .iter()
            .copied()
            .filter(|&id| {
                let term = &self.terms[id as usize];
                langs.has(term.lang) && fits(&term.words[0].letters, letters)
            })
            .min_by_key(|&id| key(id));
        if own.is_some() {
            return own;
        }
        // inflected forms: a term's letters less a rule's term tail, plus
        // its token tail (`f**king`: `fuck` less ``, plus `ing`), made
        // here rather than stored (there are some 16,000 of them)
        let mut best: Option<(u8, u32)> = None;
        for lang in [Lang::En, Lang::Es] {
            for &(token_tail, term_tail) in rules(lang) {
                let Some(stem) = letters.len().checked_sub(token_tail.chars().count()) else {
                    continue;
                };
                if !letters[stem..]
                    .iter()
                    .zip(token_tail.chars())
                    .all(|(&l, t)| l == WILD || l == t)
                {
                    continue;
                }
                let tail = term_tail.chars().count();
                for &id in self.wild_terms(stem + tail) {
                    let term = &self.terms[id as usize];
                    let term_letters = &term.words[0].letters;
                    if (term.lang == lang || term.lang == Lang::Any)
                        && langs.has(term.lang)
                        && term_letters.len() > tail + 1
                        && term_letters[stem..].iter().copied().eq(term_tail.chars())
                        && fits(&term_letters[..stem], &letters[..stem])
                        && best.is_none_or(|best| key(id) < best)
                    {
                        best = Some(key(id));
                    }
                }
            }
        }
        best.map(|(_, id)| id)
    }

    /// Whether a collapsed word can start any term (or be an inflection of
    /// one): its first three letters (two for two-letter terms) must be
    /// some term's. Inflection rules only change endings, so this skips
    /// almost every ordinary word before any hash lookup.
    #[inline]
    fn may_match(&self, collapsed: &str) -> bool {
        self.prefixes.may_start(collapsed)
    }

    /// Whether `word` (exact letters) is listed as innocent in an active
    /// language: `pinches` is innocent in English, not in Spanish.
    fn is_innocent(&self, word: &str, langs: Langs) -> bool {
        self.innocent_words
            .get(word)
            .is_some_and(|&bits| bits & langs.bits() != 0)
    }

    /// Whether word `index` sits inside an innocent phrase.
    fn in_innocent_phrase(
        &self,
        syms: &[Sym],
        tokens: &[Token],
        index: usize,
        aux: &mut Canon,
    ) -> bool {
        self.innocent_phrases.iter().any(|phrase| {
            (0..phrase.len()).any(|k| {
                index >= k
                    && index - k + phrase.len() <= tokens.len()
                    && phrase.iter().enumerate().all(|(j, word)| {
                        read_primary(syms, tokens[index - k + j], aux);
                        aux.collapsed.as_str() == &**word
                    })
            })
        })
    }
}

/// Whether a message word (primary reading) is `word` of a phrase.
fn word_matches(token: &Canon, word: &Word, lang: Lang, langs: Langs) -> bool {
    if token.collapsed.as_str() == &*word.collapsed {
        return dominates(&token.runs, &word.runs);
    }
    [Lang::En, Lang::Es]
        .into_iter()
        .filter(|&l| langs.has(l) && (lang == l || lang == Lang::Any))
        .any(|l| {
            rules(l).iter().any(|&(token_tail, term_tail)| {
                token
                    .collapsed
                    .strip_suffix(token_tail)
                    .is_some_and(|stem| {
                        let stem_runs = token.runs.len() - token_tail.len();
                        stem_runs >= 2
                            && word.collapsed.strip_prefix(stem) == Some(term_tail)
                            && dominates_stem(
                                &token.runs[..stem_runs],
                                &word.runs[..stem_runs],
                                term_tail.is_empty(),
                            )
                    })
            })
        })
}

/// The message word's runs fit the term's: each equal, or deliberately
/// stretched (three or more, and longer). A doubled letter is not a
/// stretch: `rapped`, `annals`, `Bonner`, `titter` are real words.
#[inline]
fn dominates(word: &[u8], term: &[u8]) -> bool {
    word.len() == term.len() && word.iter().zip(term).all(|(&w, &t)| stretched(w, t))
}

#[inline]
fn stretched(word: u8, term: u8) -> bool {
    word == term || (word >= 3 && word > term)
}

/// [`dominates`] for the stem of an inflected word. When the rule only
/// adds a tail (`slut`+`y`), the stem's last letter may be doubled, as
/// English spelling does before a suffix (`slutty`, `fagging`).
#[inline]
fn dominates_stem(word: &[u8], term: &[u8], adds_only: bool) -> bool {
    let n = word.len();
    n == term.len()
        && n > 0
        && word[..n - 1]
            .iter()
            .zip(term)
            .all(|(&w, &t)| stretched(w, t))
        && (stretched(word[n - 1], term[n - 1]) || (adds_only && word[n - 1] == term[n - 1] + 1))
}

/// Trims edge punctuation-like word symbols: `!`/`|` and hashtag `#` at
/// both ends, `*` at the start (and, when it started there, at the end:
/// `*hugs*` is emphasis; a trailing `*` alone is a wildcard, `sh**`).
fn trim(syms: &[Sym], mut a: usize, mut b: usize) -> Option<(usize, usize)> {
    if b - a > MAX_SYMS as usize {
        return None;
    }
    let mut starred = false;
    // `<` is a `c` inside a word only: at its edges it is markup (`<b>`)
    let angle = |sym: &Sym| sym.class == Class::Leet && sym.ch == 'c' && sym.end - sym.start == 1;
    while a < b && (matches!(syms[a].class, Class::Bar | Class::Wild) || angle(&syms[a])) {
        starred |= syms[a].ch == '*';
        a += 1;
    }
    while b > a
        && (syms[b - 1].class == Class::Bar
            || angle(&syms[b - 1])
            || (syms[b - 1].class == Class::Wild && (syms[b - 1].ch == '#' || starred)))
    {
        b -= 1;
    }
    (a < b).then_some((a, b))
}

/// A reading may only match when it contains a Latin letter or a leet
/// symbol that is not a digit (so numbers like `455` are never `ass`), and
/// no letter of another script (so Cyrillic words are never read as Latin).
fn eligible(syms: &[Sym], ranges: &[(u32, u32)]) -> bool {
    let mut latin = false;
    for &(a, b) in ranges {
        for sym in &syms[a as usize..b as usize] {
            match sym.class {
                Class::Letter if sym.ch.is_ascii() || sym.ch == 'ñ' => latin = true,
                Class::Letter => return false,
                Class::Bar | Class::At | Class::Leet => latin = true,
                _ => {}
            }
        }
    }
    latin
}

/// Reads the symbols of `ranges` as letters: variant bit `k` picks the
/// second reading of `ambiguous[k]` (`l` for `1`/`!`/`|`, nothing for a
/// leading `@`).
fn read(syms: &[Sym], ranges: &[(u32, u32)], ambiguous: &[u32], variant: u32, out: &mut Canon) {
    out.letters.clear();
    let mut k = 0;
    for &(a, b) in ranges {
        for p in a..b {
            let sym = syms[p as usize];
            let alternative = if ambiguous.get(k) == Some(&p) {
                k += 1;
                variant & (1 << (k - 1)) != 0
            } else {
                false
            };
            match (sym.class, alternative) {
                (Class::At, true) => {}
                (Class::OneDigit | Class::Bar, true) => out.letters.push('l'),
                (Class::Wild, _) => out.letters.push(WILD),
                _ => out.letters.push(sym.ch),
            }
        }
    }
}

/// The primary reading of one word, collapsed.
fn read_primary(syms: &[Sym], token: Token, out: &mut Canon) {
    read(syms, &[(token.a, token.b)], &[], 0, out);
    out.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word form: letters, made by an inflection rule, term id.
    type Form = (Vec<char>, bool, u32);

    /// Every word form a wildcard word may stand for, as once stored: each
    /// wildcard term's letters (not inflected), and each with one rule of
    /// its language applied (inflected), with the term's id.
    fn stored_forms(lexicon: &Lexicon) -> Vec<Form> {
        let mut forms = Vec::new();
        for (id, term) in lexicon.terms.iter().enumerate() {
            let letters = &term.words[0].letters;
            if term.words.len() != 1 || !letters.iter().all(|c| c.is_alphabetic()) {
                continue;
            }
            forms.push((letters.to_vec(), false, id as u32));
            for lang in [Lang::En, Lang::Es] {
                if term.lang != lang && term.lang != Lang::Any {
                    continue;
                }
                for (token_tail, term_tail) in rules(lang) {
                    let tail: Vec<char> = term_tail.chars().collect();
                    if letters.len() <= tail.len() + 1 || !letters.ends_with(&tail) {
                        continue;
                    }
                    let mut form = letters[..letters.len() - tail.len()].to_vec();
                    form.extend(token_tail.chars());
                    forms.push((form, true, id as u32));
                }
            }
        }
        forms
    }

    /// `match_wild` picks what the least (inflected, severity rank, term)
    /// of the stored forms that fit would be, for a pattern made from
    /// every form (its second letter hidden, and every other form's last
    /// too), with each language setting in turn.
    #[test]
    fn wildcards_rank_as_the_stored_forms_did() {
        let lexicon = Lexicon::builtin();
        let forms = stored_forms(&lexicon);
        assert!(forms.len() > 10_000, "{}", forms.len());
        let mut by_len: std::collections::HashMap<usize, Vec<&Form>> = Default::default();
        for form in &forms {
            by_len.entry(form.0.len()).or_default().push(form);
        }
        let rank = |id: u32| match lexicon.terms[id as usize].severity {
            Severity::Strong => 0,
            Severity::Mild => 1,
            Severity::Slur => 2,
        };
        let (mut checked, mut found) = (0, 0);
        for (i, (form, _, _)) in forms.iter().enumerate() {
            if form.len() < 4 {
                continue;
            }
            let mut pattern = form.clone();
            pattern[1] = WILD;
            if i % 2 == 1 {
                pattern[form.len() - 1] = WILD;
            }
            let langs = [Langs::EN, Langs::ES, Langs::BOTH][i % 3];
            let expected = by_len[&pattern.len()]
                .iter()
                .filter(|(letters, _, id)| {
                    langs.has(lexicon.terms[*id as usize].lang)
                        && letters
                            .iter()
                            .zip(&pattern)
                            .all(|(&f, &l)| l == WILD || f == l)
                })
                .min_by_key(|&&&(_, inflected, id)| (inflected, rank(id), id))
                .map(|&&(_, _, id)| id);
            assert_eq!(
                lexicon.match_wild(&pattern, langs),
                expected,
                "{}",
                pattern.iter().collect::<String>()
            );
            checked += 1;
            found += usize::from(expected.is_some());
        }
        assert!(checked > 10_000 && found > 5_000, "{checked} {found}");
    }
}
