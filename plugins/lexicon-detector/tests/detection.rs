//! The matcher through its public API: innocent words stay innocent,
//! obfuscated terms are caught, and the score, spans and languages behave
//! as documented.

use lexicon_detector::{Lang, Langs, Lexicon, Severity, Source};

/// Words that contain, resemble or inflect into a term, and must not fire
/// (with both lists active, the default).
const INNOCENT_EN: &[&str] = &[
    "Scunthorpe",
    "assistant",
    "analysis",
    "analyst",
    "classic",
    "cocktail",
    "therapist",
    "grape",
    "grapefruit",
    "Essex",
    "Sussex",
    "Middlesex",
    "shitake",
    "shiitake",
    // collapsing `ass` to `as` must not make these fire
    "as",
    "pass",
    "class",
    "bass",
    "assess",
    "assume",
    "harass",
    "assassin",
    // one letter short of a term (runs must be at least as long)
    "but",
    "Bob",
    "pop",
    "con",
    "Niger",
    "Nigeria",
    "snigger",
    // inflection rules would catch these (listed as innocent)
    "butter",
    "cocky",
    "cocked",
    "spicy",
    "spices",
    "titter",
    "cumin",
    "dicky",
    "fagged out",
    "booby trap",
    "spunky",
    // a doubled letter is spelling, not a stretch
    "rapping",
    "rapped",
    "annals",
    "Bonner",
    // innocent phrases
    "magna cum laude",
    "tit for tat",
    "a blue tit",
    // other near misses
    "Dickens",
    "cockpit",
    "peacock",
    "Hancock",
    "shuttlecock",
    "cockroach",
    "pussycat",
    "raccoon",
    "coonhound",
    "title",
    "titanic",
    "cucumber",
    "document",
    "circumstance",
    "scrap",
    "skyscraper",
    "buttress",
    "button",
    "compass",
    "cumulative",
    "arsenal",
    "Penistone",
    "Pakistan",
    "Japan",
    "sextant",
    "amputate",
    "deputy",
    "dispute",
    "computer",
    "reputation",
    // numbers are never leetspeak on their own
    "call 455 now",
    "room 5417",
    // single letters that happen to spell part of a term
    "G o o d n i g h t",
    // a Cyrillic word is not read as Latin
    "сука",
];

const INNOCENT_ES: &[&str] = &[
    "computadora",
    "disputa",
    "disputar",
    "concha",
    "cono",
    "culto",
    "cálculo",
    "calcular",
    "película",
    "culebra",
    "culpa",
    "pedazo",
    "pedal",
    "pedestal",
    "pendiente",
    "follaje",
    "folleto",
    "reputación",
    "imputado",
    "diputado",
    "putativo",
    "computar",
    "mamá",
    "mamado",
    "vergel",
    "vergüenza",
    "caracol",
    "cabra",
    "perrito",
    "conejo",
    "pollo",
    "paja",
    "marisco",
];

/// (text, rule that must fire)
const OBFUSCATED: &[(&str, &str)] = &[
    // separators
    ("f.u.c.k", "lexicon.en.fuck"),
    ("f u c k you", "lexicon.en.fuck"),
    ("f-u-c-k", "lexicon.en.fuck"),
    ("f_u_c_k", "lexicon.en.fuck"),
    ("fu.ck", "lexicon.en.fuck"),
    ("f u c k i n g", "lexicon.en.fucking"),
    ("hand-job", "lexicon.en.handjob"),
    ("ass-hole", "lexicon.en.asshole"),
    // one `*` or `#` per hidden letter
    ("f*ck", "lexicon.en.fuck"),
    ("f**k", "lexicon.en.fuck"),
    ("f#ck", "lexicon.en.fuck"),
    ("f**king", "lexicon.en.fucking"),
    ("f**ked", "lexicon.en.fuck"),
    ("sh**", "lexicon.en.shit"),
    ("s**t", "lexicon.en.shit"),
    ("p*ssy", "lexicon.en.pussy"),
    ("c*nt", "lexicon.en.cunt"),
    ("sl*t", "lexicon.en.slut"),
    ("b***h", "lexicon.en.bitch"),
    ("n****r", "lexicon.en.nigger"),
    ("motherf*cker", "lexicon.en.motherfucker"),
    ("a**hole", "lexicon.en.asshole"),
    // repeated letters, case, width, accents, invisible characters
    ("fuuuuuck", "lexicon.en.fuck"),
    ("FUCK", "lexicon.en.fuck"),
    ("ＦＵＣＫ", "lexicon.en.fuck"),
    ("𝐟𝐮𝐜𝐤", "lexicon.en.fuck"),
    ("fück", "lexicon.en.fuck"),
    ("fu\u{200B}ck", "lexicon.en.fuck"),
    ("fu\u{00AD}ck", "lexicon.en.fuck"),
    ("biiiitch", "lexicon.en.bitch"),
    ("sluuuuut", "lexicon.en.slut"),
    ("asssss", "lexicon.en.ass"),
    // Cyrillic look-alike inside a Latin word
    ("fu\u{0441}k", "lexicon.en.fuck"),
    // leetspeak
    ("sh1t", "lexicon.en.shit"),
    ("$h!t", "lexicon.en.shit"),
    ("5h1t", "lexicon.en.shit"),
    ("b1tch", "lexicon.en.bitch"),
    ("b!tch", "lexicon.en.bitch"),
    ("@sshole", "lexicon.en.asshole"),
    ("a$$hole", "lexicon.en.asshole"),
    ("a55hole", "lexicon.en.asshole"),
    ("c0ck", "lexicon.en.cock"),
    ("d!ck", "lexicon.en.dick"),
    ("d1ck", "lexicon.en.dick"),
    ("pu$$y", "lexicon.en.pussy"),
    ("wh0re", "lexicon.en.whore"),
    ("n1gg3r", "lexicon.en.nigger"),
    ("f4gg0t", "lexicon.en.faggot"),
    ("m0therfucker", "lexicon.en.motherfucker"),
    ("fuck1ng", "lexicon.en.fucking"),
    // edges: mentions, hashtags, emphasis, trailing punctuation
    ("@fuckface", "lexicon.en.fuck"),
    ("#fuck", "lexicon.en.fuck"),
    ("*fuck*", "lexicon.en.fuck"),
    ("*smacks your ass*", "lexicon.en.ass"),
    ("fuck!!!", "lexicon.en.fuck"),
    ("fuckin'", "lexicon.en.fuckin"),
    // inflections and compounds
    ("dickhead", "lexicon.en.dick"),
    ("bitches", "lexicon.en.bitch"),
    ("slutty", "lexicon.en.slut"),
    ("pussies", "lexicon.en.pussy"),
    ("shitin", "lexicon.en.shit"),
    // Spanish
    ("pútâ", "lexicon.es.puta"),
    ("p.u.t.a", "lexicon.es.puta"),
    ("p u t a", "lexicon.es.puta"),
    ("PUTAAAA", "lexicon.es.puta"),
    ("putos", "lexicon.es.puta"),
    ("putita", "lexicon.es.puta"),
    ("h1j0puta", "lexicon.es.hijoputa"),
    ("p3nd3j0", "lexicon.es.pendejo"),
    ("pendejos", "lexicon.es.pendejo"),
    ("pendeja", "lexicon.es.pendejo"),
    ("cabrones", "lexicon.es.cabron"),
    ("c4br0n", "lexicon.es.cabron"),
    ("CABRÓN", "lexicon.es.cabron"),
    ("c0ñ0", "lexicon.es.coño"),
    ("mi3rd4", "lexicon.es.mierda"),
    ("m!erda", "lexicon.es.mierda"),
    ("g1l1p0ll4s", "lexicon.es.gilipollas"),
    ("m4r1c0n", "lexicon.es.maricon"),
    ("maricones", "lexicon.es.maricon"),
    ("follando", "lexicon.es.follar"),
    ("culito", "lexicon.es.culo"),
    ("vergas", "lexicon.es.verga"),
    // multi-word terms and symbols
    ("blow jobs", "lexicon.en.blow-job"),
    ("jerking off", "lexicon.en.jerk-off"),
    ("concha de tu madre", "lexicon.es.concha-de-tu-madre"),
    ("🖕", "lexicon.en.middle-finger-emoji"),
    ("🖕🏽", "lexicon.en.middle-finger-emoji"),
];

fn rules(text: &str, langs: Langs) -> Vec<String> {
    let lexicon = Lexicon::builtin();
    lexicon
        .detect(text, langs)
        .rule_ids(&lexicon)
        .map(str::to_string)
        .collect()
}

#[test]
fn innocent_words_do_not_fire() {
    assert!(INNOCENT_EN.len() + INNOCENT_ES.len() >= 30);
    let fired: Vec<String> = INNOCENT_EN
        .iter()
        .chain(INNOCENT_ES)
        .filter_map(|text| {
            let rules = rules(text, Langs::BOTH);
            (!rules.is_empty()).then(|| format!("{text:?} -> {rules:?}"))
        })
        .collect();
    assert!(
        fired.is_empty(),
        "innocent words fired:\n{}",
        fired.join("\n")
    );
}

#[test]
fn obfuscated_terms_fire() {
    assert!(OBFUSCATED.len() >= 30);
    let missed: Vec<String> = OBFUSCATED
        .iter()
        .filter_map(|&(text, rule)| {
            let rules = rules(text, Langs::BOTH);
            (!rules.iter().any(|r| r == rule))
                .then(|| format!("{text:?} -> {rules:?}, wanted {rule}"))
        })
        .collect();
    assert!(
        missed.is_empty(),
        "obfuscated terms missed:\n{}",
        missed.join("\n")
    );
}

#[test]
fn languages_select_lists() {
    assert_eq!(rules("puta", Langs::EN), Vec::<String>::new());
    assert_eq!(rules("puta", Langs::ES), vec!["lexicon.es.puta"]);
    assert_eq!(rules("fuck", Langs::ES), Vec::<String>::new());
    assert_eq!(
        rules("fuck y puta", Langs::BOTH),
        vec!["lexicon.en.fuck", "lexicon.es.puta"]
    );
    // innocent words are scoped to the list that declares them: `pinches`
    // is an English verb, but the plural of Spanish `pinche`
    assert_eq!(rules("he pinches", Langs::BOTH), Vec::<String>::new());
    assert_eq!(rules("pinches", Langs::ES), vec!["lexicon.es.pinche"]);
}

#[test]
fn score_combines_distinct_rules() {
    let lexicon = Lexicon::builtin();
    let mild = lexicon.detect("horny", Langs::BOTH);
    assert!((mild.score - 0.35).abs() < 1e-9, "{}", mild.score);
    let strong = lexicon.detect("fuck", Langs::BOTH);
    assert!((strong.score - 0.75).abs() < 1e-9);
    // the same rule counts once, however often it fires
    let repeated = lexicon.detect("fuck fuck FUCK", Langs::BOTH);
    assert_eq!(repeated.hits.len(), 3);
    assert_eq!(repeated.score, strong.score);
    let two = lexicon.detect("shit, fuck", Langs::BOTH);
    assert!((two.score - (1.0 - 0.25 * 0.25)).abs() < 1e-9);
    let slur = lexicon.detect("faggot", Langs::BOTH);
    assert!((slur.score - 0.95).abs() < 1e-9);
    assert_eq!(lexicon.detect("hello there", Langs::BOTH).score, 0.0);
    let rules: Vec<&str> = two.rule_ids(&lexicon).collect();
    assert_eq!(rules, vec!["lexicon.en.fuck", "lexicon.en.shit"], "sorted");
}

#[test]
fn hits_point_back_into_the_original_text() {
    let lexicon = Lexicon::builtin();
    let text = "Oh ＦＵＣＫ, you f.u.c.k!ng pútâ… 🖕🏻";
    let detection = lexicon.detect(text, Langs::BOTH);
    let spans: Vec<&str> = detection
        .hits
        .iter()
        .map(|h| &text[h.start..h.end])
        .collect();
    assert_eq!(spans, vec!["ＦＵＣＫ", "f.u.c.k!ng", "pútâ", "🖕"]);
}

#[test]
fn extra_lists_extend_re_rate_and_disable() {
    let mut sources = Lexicon::builtin_sources().to_vec();
    sources.push(Source {
        lang: Lang::Any,
        name: "any.txt",
        text: "frak\tstrong\n# comment\ngrundle\tmild\tgrundle-word\n",
    });
    sources.push(Source {
        lang: Lang::En,
        name: "en.txt",
        text: "!dick\nhorny\tstrong\n",
    });
    let lexicon = Lexicon::build(&sources).unwrap();
    let rules = |text: &str, langs| {
        lexicon
            .detect(text, langs)
            .rule_ids(&lexicon)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rules("fr4kkk off", Langs::ES),
        vec!["lexicon.any.frak"],
        "any-language terms apply to every language"
    );
    assert_eq!(rules("frakking", Langs::EN), vec!["lexicon.any.frak"]);
    assert_eq!(
        rules("grundle", Langs::BOTH),
        vec!["lexicon.any.grundle-word"]
    );
    assert_eq!(
        rules("Moby Dick", Langs::BOTH),
        Vec::<String>::new(),
        "`!dick` disables the exact word"
    );
    let horny = lexicon
        .terms()
        .iter()
        .find(|t| t.rule_id == "lexicon.en.horny")
        .unwrap();
    assert_eq!(
        horny.severity,
        Severity::Strong,
        "a later list re-rates a term"
    );
}

#[test]
fn detect_with_reuses_buffers_and_matches_detect() {
    let lexicon = Lexicon::builtin();
    let mut scratch = lexicon_detector::Scratch::default();
    let mut out = lexicon_detector::Detection::default();
    for text in [
        "f u c k",
        "hello",
        "pútâ madre",
        "",
        "   ",
        "!!!***###",
        "a",
    ] {
        lexicon.detect_with(text, Langs::BOTH, &mut scratch, &mut out);
        assert_eq!(out, lexicon.detect(text, Langs::BOTH), "{text:?}");
    }
}

#[test]
fn odd_input_does_not_panic() {
    let lexicon = Lexicon::builtin();
    let long = "a".repeat(100_000);
    let stretched = format!("f{}ck", "u".repeat(10_000));
    let inputs = [
        "\u{0301}\u{0301}",
        "ß",
        "İstanbul",
        "\u{FEFF}",
        "🖕🖕🖕",
        "@",
        "$",
        "!@#$%^&*()",
        "1!|1!|1!|1!|1!|",
        long.as_str(),
        stretched.as_str(),
        "f.u.c.k.f.u.c.k.f.u.c.k.f.u.c.k.f.u.c.k",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    ];
    for text in inputs {
        let _ = lexicon.detect(text, Langs::BOTH);
    }
    assert_eq!(
        lexicon.detect("f.u.c.k.f.u.c.k", Langs::BOTH).rules.len(),
        1
    );
}
