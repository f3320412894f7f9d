//! The built-in lists as static tables. build.rs parses data/en.txt and
//! data/es.txt with [`Lexicon::build`] and emits the result as statics, so
//! `open` only copies a few pointers: the tables are part of the data
//! segment, which wasmtime maps copy-on-write into each fresh instance.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use crate::lexicon::{Category, Lang, Lexicon, PrefixTable, Severity, StrMap, Term, Word};

// `static LEXICON: Lexicon`
include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

static BUILTIN: OnceLock<Arc<Lexicon>> = OnceLock::new();

impl Lexicon {
    /// The built-in English and Spanish lists, built at compile time.
    pub fn builtin() -> Arc<Lexicon> {
        BUILTIN
            // every table is borrowed: the clone copies pointers
            .get_or_init(|| Arc::new(LEXICON.clone()))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated tables are what the lists build to at run time.
    #[test]
    fn static_tables_equal_the_lists_built() {
        let built = Lexicon::build(&Lexicon::builtin_sources()).expect("valid lists");
        let builtin = Lexicon::builtin();
        assert!(matches!(builtin.terms, Cow::Borrowed(_)));
        assert_eq!(builtin.terms, built.terms);
        assert_eq!(builtin.first, built.first);
        assert_eq!(builtin.innocent_words, built.innocent_words);
        assert_eq!(builtin.innocent_phrases, built.innocent_phrases);
        assert_eq!(builtin.wild_terms, built.wild_terms);
        assert_eq!(builtin.prefixes, built.prefixes);
        assert_eq!(builtin.compound_prefixes, built.compound_prefixes);
        assert_eq!(builtin.rules_by_last, built.rules_by_last);
        assert_eq!(builtin.rule_ids, built.rule_ids);
        assert_eq!(builtin.rule_severity, built.rule_severity);
        assert_eq!(builtin.targeted_rule, built.targeted_rule);
    }
}
