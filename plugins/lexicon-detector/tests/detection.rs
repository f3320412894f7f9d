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
    // words that end in a term: compounds must not catch them
    "physiotherapist",
    "psychotherapist",
    "scrape",
    "skyscrapers",
    "drape",
    "serape",
    "terrapin",
    "Hitchcock",
    "woodcock",
    "weathercock",
    "stopcock",
    "poppycock",
    "cocoon",
    "cocooning",
    "tycoon",
    "Laocoon",
    "gobbledygook",
    "sauerkraut",
    "saltwater",
    "auspices",
    "hospices",
    "pinprick",
    "Chappaquiddick",
    // words that contain a short term (compounds need four letters)
    "grass",
    "embarrass",
    "massage",
    "bassist",
    "chassis",
    "passion",
    "brassiere",
    "constitution",
    "petite",
    "hotcake",
    "documentary",
    "spectacular",
    "analog",
    "canal",
    "banal",
    // inflections and look-alikes of the new insults
    "Twitter",
    "twittering",
    "shilling",
    "jerky",
    "jerkin",
    "simpering",
    "prating",
    "creeper",
    "trolly",
    "perverting the course of justice",
    "a chink of light",
    "Homo sapiens",
    "Squaw Valley",
    "spic and span",
    // ordinary words near the new lists
    "dumbbell",
    "stupor",
    "idiom",
    "moronga",
    "loose",
    "jerusalem",
    "killjoy",
    "you killed it",
    "kill the lights",
    "the skill you have",
    "die hard",
    "dieting",
    // markup and code: `<` and `()` only read as letters inside words
    "<b>bold</b> text",
    "call main() now",
    "a <3 for you",
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
    // words that end in a Spanish term: no compounds in Spanish
    "disputa",
    "cómputo",
    "esputo",
    "ampolla",
    "repollo",
    "muérdago",
    "órdago",
    // everyday words next to the new insults
    "perro",
    "zorro",
    "pollo",
    "pollito",
    "caco",
    "tontería",
    "payasada",
    "hostal",
    "matemáticas",
    "te mando un mensaje",
];

/// (text, rule that must fire)
const OBFUSCATED: &[(&str, &str)] = &[
    // separators
    ("f.u.c.k", "lexicon.profanity.en.fuck"),
    ("f u c k you", "lexicon.profanity.en.fuck"),
    ("f-u-c-k", "lexicon.profanity.en.fuck"),
    ("f_u_c_k", "lexicon.profanity.en.fuck"),
    ("fu.ck", "lexicon.profanity.en.fuck"),
    ("f u c k i n g", "lexicon.profanity.en.fucking"),
    ("hand-job", "lexicon.sexual.en.handjob"),
    ("ass-hole", "lexicon.insult.en.asshole"),
    // one `*` or `#` per hidden letter
    ("f*ck", "lexicon.profanity.en.fuck"),
    ("f**k", "lexicon.profanity.en.fuck"),
    ("f#ck", "lexicon.profanity.en.fuck"),
    ("f**king", "lexicon.profanity.en.fucking"),
    ("f**ked", "lexicon.profanity.en.fuck"),
    ("sh**", "lexicon.profanity.en.shit"),
    ("s**t", "lexicon.profanity.en.shit"),
    ("p*ssy", "lexicon.sexual.en.pussy"),
    ("c*nt", "lexicon.insult.en.cunt"),
    ("sl*t", "lexicon.insult.en.slut"),
    ("b***h", "lexicon.insult.en.bitch"),
    ("n****r", "lexicon.hate_speech.en.nigger"),
    ("motherf*cker", "lexicon.insult.en.motherfucker"),
    ("a**hole", "lexicon.insult.en.asshole"),
    // repeated letters, case, width, accents, invisible characters
    ("fuuuuuck", "lexicon.profanity.en.fuck"),
    ("FUCK", "lexicon.profanity.en.fuck"),
    ("ＦＵＣＫ", "lexicon.profanity.en.fuck"),
    ("𝐟𝐮𝐜𝐤", "lexicon.profanity.en.fuck"),
    ("fück", "lexicon.profanity.en.fuck"),
    ("fu\u{200B}ck", "lexicon.profanity.en.fuck"),
    ("fu\u{00AD}ck", "lexicon.profanity.en.fuck"),
    ("biiiitch", "lexicon.insult.en.bitch"),
    ("sluuuuut", "lexicon.insult.en.slut"),
    ("asssss", "lexicon.profanity.en.ass"),
    // Cyrillic look-alike inside a Latin word
    ("fu\u{0441}k", "lexicon.profanity.en.fuck"),
    // leetspeak
    ("sh1t", "lexicon.profanity.en.shit"),
    ("$h!t", "lexicon.profanity.en.shit"),
    ("5h1t", "lexicon.profanity.en.shit"),
    ("b1tch", "lexicon.insult.en.bitch"),
    ("b!tch", "lexicon.insult.en.bitch"),
    ("@sshole", "lexicon.insult.en.asshole"),
    ("a$$hole", "lexicon.insult.en.asshole"),
    ("a55hole", "lexicon.insult.en.asshole"),
    ("c0ck", "lexicon.sexual.en.cock"),
    ("d!ck", "lexicon.insult.en.dick"),
    ("d1ck", "lexicon.insult.en.dick"),
    ("pu$$y", "lexicon.sexual.en.pussy"),
    ("wh0re", "lexicon.insult.en.whore"),
    ("n1gg3r", "lexicon.hate_speech.en.nigger"),
    ("f4gg0t", "lexicon.hate_speech.en.faggot"),
    ("m0therfucker", "lexicon.insult.en.motherfucker"),
    ("fuck1ng", "lexicon.profanity.en.fucking"),
    // edges: mentions, hashtags, emphasis, trailing punctuation
    ("@fuckface", "lexicon.profanity.en.fuck"),
    ("#fuck", "lexicon.profanity.en.fuck"),
    ("*fuck*", "lexicon.profanity.en.fuck"),
    ("*smacks your ass*", "lexicon.profanity.en.ass"),
    ("fuck!!!", "lexicon.profanity.en.fuck"),
    ("fuckin'", "lexicon.profanity.en.fuckin"),
    // inflections and compounds
    ("dickhead", "lexicon.insult.en.dickhead"),
    ("bitches", "lexicon.insult.en.bitch"),
    ("slutty", "lexicon.insult.en.slut"),
    ("pussies", "lexicon.sexual.en.pussy"),
    ("shitin", "lexicon.profanity.en.shit"),
    // Spanish
    ("pútâ", "lexicon.insult.es.puta"),
    ("p.u.t.a", "lexicon.insult.es.puta"),
    ("p u t a", "lexicon.insult.es.puta"),
    ("PUTAAAA", "lexicon.insult.es.puta"),
    ("putos", "lexicon.insult.es.puta"),
    ("putita", "lexicon.insult.es.puta"),
    ("h1j0puta", "lexicon.insult.es.hijoputa"),
    ("p3nd3j0", "lexicon.insult.es.pendejo"),
    ("pendejos", "lexicon.insult.es.pendejo"),
    ("pendeja", "lexicon.insult.es.pendejo"),
    ("cabrones", "lexicon.insult.es.cabron"),
    ("c4br0n", "lexicon.insult.es.cabron"),
    ("CABRÓN", "lexicon.insult.es.cabron"),
    ("c0ñ0", "lexicon.profanity.es.coño"),
    ("mi3rd4", "lexicon.profanity.es.mierda"),
    ("m!erda", "lexicon.profanity.es.mierda"),
    ("g1l1p0ll4s", "lexicon.insult.es.gilipollas"),
    ("m4r1c0n", "lexicon.hate_speech.es.maricon"),
    ("maricones", "lexicon.hate_speech.es.maricon"),
    ("follando", "lexicon.sexual.es.follar"),
    ("culito", "lexicon.sexual.es.culo"),
    ("vergas", "lexicon.sexual.es.verga"),
    // multi-word terms and symbols
    ("blow jobs", "lexicon.sexual.en.blow-job"),
    ("jerking off", "lexicon.sexual.en.jerk-off"),
    (
        "concha de tu madre",
        "lexicon.profanity.es.concha-de-tu-madre",
    ),
    ("🖕", "lexicon.profanity.en.middle-finger-emoji"),
    ("🖕🏽", "lexicon.profanity.en.middle-finger-emoji"),
];

/// (text, rule that must fire): compounds, new substitutions, phonetic
/// spellings and the categories.
const CATEGORISED: &[(&str, &str)] = &[
    // compounds: a head glued to a term of four letters or more
    ("bigdick", "lexicon.insult.en.dick"),
    ("motherfuckers", "lexicon.insult.en.motherfucker"),
    ("mothafuckas", "lexicon.profanity.en.mothafucka"),
    ("dumbbitch", "lexicon.insult.en.bitch"),
    ("uglyfaggots", "lexicon.hate_speech.en.faggot"),
    ("cocksuckers", "lexicon.insult.en.cocksucker"),
    ("dicksucker", "lexicon.insult.en.dick"),
    ("fuckboy", "lexicon.profanity.en.fuck"),
    ("shitshow", "lexicon.profanity.en.shit"),
    ("bitchass", "lexicon.insult.en.bitch"),
    ("dumbass", "lexicon.insult.en.dumbass"),
    ("stupidest", "lexicon.insult.en.stupid"),
    // digit and symbol substitutions
    ("wh()re", "lexicon.insult.en.whore"),
    ("m()r()n", "lexicon.insult.en.moron"),
    ("c()<k", "lexicon.sexual.en.cock"),
    ("di<khead", "lexicon.insult.en.dickhead"),
    ("id10t", "lexicon.insult.en.idiot"),
    ("m0r0n", "lexicon.insult.en.moron"),
    ("$tup1d", "lexicon.insult.en.stupid"),
    // phonetic spellings
    ("phuck", "lexicon.profanity.en.phuck"),
    ("fuk off", "lexicon.profanity.en.fuk"),
    ("biatch", "lexicon.profanity.en.biatch"),
    // categories
    ("you are a weirdo", "lexicon.insult.en.weirdo"),
    ("douchebag", "lexicon.insult.en.douchebag"),
    (
        "go back to your country",
        "lexicon.hate_speech.en.go-back-to-your-country",
    ),
    ("I will kill you", "lexicon.threat.en.kill-you"),
    ("just kill yourself", "lexicon.self_harm.en.kill-yourself"),
    ("kys", "lexicon.self_harm.en.kys"),
    ("eres un estúpido", "lexicon.insult.es.estupido"),
    ("te voy a matar", "lexicon.threat.es.te-voy-a-matar"),
    ("mátate", "lexicon.self_harm.es.matate"),
    ("sudaca", "lexicon.hate_speech.es.sudaca"),
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
fn compounds_substitutions_and_categories_fire() {
    let missed: Vec<String> = CATEGORISED
        .iter()
        .filter_map(|&(text, rule)| {
            let got = rules(text, Langs::BOTH);
            (!got.iter().any(|r| r == rule)).then(|| format!("{text:?} -> {got:?}, wanted {rule}"))
        })
        .collect();
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
}

#[test]
fn insults_aimed_at_the_reader_weigh_more() {
    let lexicon = Lexicon::builtin();
    let alone = lexicon.detect("that was a stupid idea", Langs::BOTH);
    assert!(alone.score < 0.5, "a mild insult alone: {}", alone.score);
    let aimed = lexicon.detect("you are so stupid", Langs::BOTH);
    assert!(
        (aimed.score - (1.0 - 0.65 * 0.65)).abs() < 1e-9,
        "{}",
        aimed.score
    );
    assert!(
        aimed
            .rule_ids(&lexicon)
            .any(|r| r == lexicon_detector::TARGETED_RULE)
    );
    let spanish = lexicon.detect("eres un idiota", Langs::ES);
    assert!(spanish.score >= 0.5, "{}", spanish.score);
    // the second-person word must be near: four words either side
    let far = lexicon.detect(
        "you know what, that whole plan was just stupid",
        Langs::BOTH,
    );
    assert!(far.score < 0.5, "{}", far.score);
    // profanity not aimed at anyone, and a slur, keep their own weights
    assert_eq!(lexicon.detect("shit", Langs::BOTH).score, 0.75);
}

#[test]
fn languages_select_lists() {
    assert_eq!(rules("puta", Langs::EN), Vec::<String>::new());
    assert_eq!(rules("puta", Langs::ES), vec!["lexicon.insult.es.puta"]);
    assert_eq!(rules("fuck", Langs::ES), Vec::<String>::new());
    assert_eq!(
        rules("fuck y puta", Langs::BOTH),
        vec!["lexicon.insult.es.puta", "lexicon.profanity.en.fuck"]
    );
    // innocent words are scoped to the list that declares them: `pinches`
    // is an English verb, but the plural of Spanish `pinche`
    assert_eq!(rules("he pinches", Langs::BOTH), Vec::<String>::new());
    assert_eq!(
        rules("pinches", Langs::ES),
        vec!["lexicon.profanity.es.pinche"]
    );
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
    assert_eq!(
        rules,
        vec!["lexicon.profanity.en.fuck", "lexicon.profanity.en.shit"],
        "sorted"
    );
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
        vec!["lexicon.profanity.any.frak"],
        "any-language terms apply to every language"
    );
    assert_eq!(
        rules("frakking", Langs::EN),
        vec!["lexicon.profanity.any.frak"]
    );
    assert_eq!(
        rules("grundle", Langs::BOTH),
        vec!["lexicon.profanity.any.grundle-word"]
    );
    assert_eq!(
        rules("Moby Dick", Langs::BOTH),
        Vec::<String>::new(),
        "`!dick` disables the exact word"
    );
    let horny = lexicon
        .terms()
        .iter()
        .find(|t| t.rule_id == "lexicon.sexual.en.horny")
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
