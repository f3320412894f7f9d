//! False-positive sweep: runs every word of a word list through the
//! detector and prints the ones that fire, with their rules.
//!
//! ```sh
//! apt-get install wamerican wbritish wspanish
//! cargo run --release -p lexicon-detector --example dict_check -- /usr/share/dict/american-english [auto|en|es]
//! ```
//!
//! Words that fire and are not offensive go to the term lists as `!word`.

use lexicon_detector::{Langs, Lexicon};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .expect("usage: dict_check WORDLIST [auto|en|es]");
    let langs = Langs::from_param(args.get(1).map_or("auto", String::as_str))
        .expect("lang is auto, en or es");
    let words = std::fs::read_to_string(path).expect("a readable word list");
    let lexicon = Lexicon::builtin();
    let (mut total, mut fired) = (0, 0);
    for word in words.lines().filter(|w| !w.trim().is_empty()) {
        total += 1;
        let detection = lexicon.detect(word, langs);
        if detection.fired() {
            fired += 1;
            let rules: Vec<&str> = detection.rule_ids(&lexicon).collect();
            println!("{word}\t{}", rules.join(" "));
        }
    }
    eprintln!("{fired} of {total} words fire");
}
