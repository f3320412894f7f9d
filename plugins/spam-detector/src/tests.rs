use super::*;
use sluice_sdk::testing::{process, text_chunk};

fn strength(text: &str, signal: Signal) -> f64 {
    signals(text).get(signal)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn links_per_word() {
    assert_eq!(strength("check www.example.com", Signal::Links), 1.0);
    assert_eq!(
        strength("see <url> now", Signal::Links),
        1.0,
        "clean-text's placeholder"
    );
    assert_eq!(strength("(https://x.io/a?b=1).", Signal::Links), 1.0);
    assert_eq!(strength("go to bit.ly/abc", Signal::Links), 1.0);
    // one link in 40 words: 1/40 per word, full strength at 1/20
    let long = format!("{} http://spam.example.net", "word ".repeat(39));
    assert!(close(strength(&long, Signal::Links), 0.5));
    for text in [
        "e.g. this",
        "ok.so what",
        "it costs 3.50",
        "end. Start",
        "a<b",
        "file.txt",
    ] {
        assert_eq!(strength(text, Signal::Links), 0.0, "{text:?}");
    }
}

#[test]
fn shouting_needs_eight_letters_and_seventy_percent_upper() {
    assert_eq!(strength("THIS IS A TEST MESSAGE", Signal::Shouting), 1.0);
    assert_eq!(
        strength("URGENT!!! Call 0800", Signal::Shouting),
        1.0,
        "7 of 9 letters upper"
    );
    assert_eq!(
        strength("OK FINE", Signal::Shouting),
        0.0,
        "6 letters is too few to shout"
    );
    assert_eq!(
        strength("ABCDEFGhij", Signal::Shouting),
        1.0,
        "exactly 70 %"
    );
    assert_eq!(strength("ABCDEFghij", Signal::Shouting), 0.0, "60 %");
    assert_eq!(strength("Hello World THIS is", Signal::Shouting), 0.0);
    assert_eq!(
        strength("ÁRBOL ÑANDÚ CAFÉ", Signal::Shouting),
        1.0,
        "non-ASCII capitals count"
    );
    assert_eq!(
        strength("日本語のテキストです", Signal::Shouting),
        0.0,
        "uncased letters are not shouting"
    );
    assert_eq!(
        strength("WIN NOW AT www.example.com/prizes/today", Signal::Shouting),
        1.0,
        "links don't count"
    );
}

#[test]
fn floods_of_characters_and_punctuation() {
    for text in [
        "soooooo good",
        "zzzzzz",
        "what!!!!",
        "what?!?!",
        "wait......",
        "****",
        "hmm :-))))",
        "¡¡¡¡¡¡",
    ] {
        assert_eq!(strength(text, Signal::Flood), 1.0, "{text:?}");
    }
    for text in [
        "sooo good",
        "what!!!",
        "wait.....",
        "£1000000",
        "call 0800 000000",
        "a  b      c",
        "?!?",
    ] {
        assert_eq!(strength(text, Signal::Flood), 0.0, "{text:?}");
    }
}

#[test]
fn money_words_english_spanish_and_symbols() {
    assert!(
        close(strength("feel free to come", Signal::Money), 0.5),
        "one word: half strength"
    );
    assert_eq!(
        strength("WIN CASH", Signal::Money),
        1.0,
        "two distinct words: full"
    );
    assert_eq!(
        strength("free free free", Signal::Money),
        0.5,
        "distinct words count once"
    );
    assert_eq!(strength("please call now", Signal::Money), 0.5, "phrase");
    assert_eq!(
        strength("call me now", Signal::Money),
        0.0,
        "phrase words must be adjacent"
    );
    assert_eq!(
        strength("¡Gana dinero gratis! Llama ya", Signal::Money),
        1.0
    );
    assert!(close(strength("only £5", Signal::Money), 0.5));
    assert_eq!(strength("costs $5 or €4", Signal::Money), 1.0);
    for text in [
        "won't be back",
        "freedom",
        "winter is here",
        "llama",
        "ya voy",
        "ganas de verte",
    ] {
        assert_eq!(strength(text, Signal::Money), 0.0, "{text:?}");
    }
}

#[test]
fn score_is_the_documented_noisy_or() {
    let mut s = Strengths::default();
    assert_eq!(s.score(), 0.0);
    s.set(Signal::Money, 1.0);
    assert!(close(s.score(), 0.6));
    s.set(Signal::Links, 1.0);
    assert!(close(s.score(), 1.0 - 0.4 * 0.55));
    s.set(Signal::Links, 0.5);
    assert!(close(s.score(), 1.0 - 0.4 * (1.0 - 0.45 * 0.5)));
    let all = Strengths([1.0; 5]);
    assert!(close(all.score(), 1.0 - 0.75 * 0.55 * 0.4 * 0.6 * 0.7));
    assert!(all.score() < 1.0 && all.score() > 0.9);
    assert_eq!(
        all.fired().map(Signal::id).collect::<Vec<_>>(),
        Signal::ALL.map(Signal::id)
    );
}

#[test]
fn repeat_key_ignores_case_punctuation_spacing_and_numbers() {
    let a = repeat_key("WIN a prize! Call 0800 123 now");
    assert!(a.is_some());
    assert_eq!(a, repeat_key("win a PRIZE call   0800  123 now..."));
    assert_eq!(a, repeat_key("Win a prize, call 0906 555 now"));
    assert_ne!(a, repeat_key("win a prize call 0800 later"));
    assert_eq!(
        repeat_key("ok thanks"),
        None,
        "under three words never counts"
    );
    assert_eq!(
        repeat_key("Ñandú Café Árbol"),
        repeat_key("ñandú café árbol")
    );
}

/// (labels, scores, rule ids) of every row.
type Rows = (Vec<Option<bool>>, Vec<Option<f64>>, Vec<Vec<String>>);

fn rows_of(out: &Chunk) -> Rows {
    let tags = out.tags("spam_rules").unwrap();
    (
        out.boolean("spam_label").unwrap().iter().collect(),
        out.float64("spam_score").unwrap().iter().collect(),
        (0..tags.len())
            .map(|i| tags.get(i).into_iter().map(String::from).collect())
            .collect(),
    )
}

#[test]
fn repeated_within_the_chunk() {
    let input = text_chunk(
        "text",
        &[
            Some("Join my channel for daily tips"),
            Some("ok"),
            Some("JOIN MY CHANNEL for daily tips!!"),
            Some("ok"),
            None,
            Some("join my channel, for daily tips"),
            Some("ok"),
            Some("see you at dinner tonight"),
            Some("see you at dinner tonight"),
        ],
    );
    let out = process::<SpamDetector>(&[], input.clone()).unwrap();
    let (_, _, tags) = rows_of(&out);
    let repeated: Vec<bool> = tags
        .iter()
        .map(|t| t.contains(&"spam.repeated".to_string()))
        .collect();
    assert_eq!(
        repeated,
        [true, false, true, false, false, true, false, false, false]
    );

    let out = process::<SpamDetector>(&[("repeat_threshold", 2i64.into())], input).unwrap();
    let (_, _, tags) = rows_of(&out);
    assert!(
        tags[7].contains(&"spam.repeated".to_string())
            && tags[8].contains(&"spam.repeated".to_string())
    );
    assert!(
        !tags[1].contains(&"spam.repeated".to_string()),
        "short messages never repeat"
    );
}

#[test]
fn step_labels_scores_and_tags_sorted() {
    let input = text_chunk(
        "text",
        &[
            Some("URGENT!!!! YOU HAVE WON A CASH PRIZE, claim at www.win.example.com"),
            Some("Are you coming to dinner tonight? I'll call you later."),
            None,
            Some(""),
            Some("¡Gana dinero gratis! Llama ya"),
            Some("feel free to come by"),
        ],
    );
    let out = process::<SpamDetector>(&[], input).unwrap();
    assert_eq!(out.rows, 6);
    assert_eq!(out.columns.len(), 3, "exactly the declared writes");
    let (label, score, tags) = rows_of(&out);
    assert_eq!(
        label,
        [
            Some(true),
            Some(false),
            None,
            Some(false),
            Some(true),
            Some(false)
        ]
    );
    assert_eq!(
        tags,
        [
            vec!["spam.flood", "spam.links", "spam.money", "spam.shouting"],
            vec![],
            vec![],
            vec![],
            vec!["spam.money"],
            vec!["spam.money"],
        ]
    );
    assert!(close(score[0].unwrap(), 1.0 - 0.75 * 0.55 * 0.4 * 0.7));
    assert_eq!(score[1], Some(0.0));
    assert_eq!(score[2], None, "missing text: unknown, not ham");
    assert!(close(score[4].unwrap(), 0.6));
    assert!(close(score[5].unwrap(), 0.3));
}

#[test]
fn threshold_and_output_names_are_params() {
    let given = [
        ("column", "msg".into()),
        ("label_output", "is_spam".into()),
        ("score_output", "p".into()),
        ("rules_output", "why".into()),
        ("threshold", 0.3.into()),
    ];
    let out = process::<SpamDetector>(
        &given,
        text_chunk("msg", &[Some("feel free to come by"), Some("hi")]),
    )
    .unwrap();
    let label: Vec<_> = out.boolean("is_spam").unwrap().iter().collect();
    assert_eq!(label, [Some(true), Some(false)], "0.3 >= 0.3");
    assert!(out.float64("p").is_ok() && out.tags("why").is_ok());
    // an int64 is accepted for a float64 param
    let out = process::<SpamDetector>(
        &[("threshold", 0i64.into())],
        text_chunk("text", &[Some("hi")]),
    )
    .unwrap();
    assert_eq!(
        out.boolean("spam_label").unwrap().get(0),
        Some(true),
        "threshold 0 labels everything"
    );
}

#[test]
fn bad_params_and_missing_column_are_named() {
    let input = || text_chunk("text", &[Some("x")]);
    for (name, value) in [
        ("threshold", ParamValue::Float64(1.5)),
        ("threshold", ParamValue::Float64(-0.1)),
        ("threshold", ParamValue::Float64(f64::NAN)),
        ("repeat_threshold", ParamValue::Int64(1)),
        ("threshold", ParamValue::Text("high".into())),
    ] {
        let err = process::<SpamDetector>(&[(name, value.clone())], input()).unwrap_err();
        assert!(
            matches!(err, StepError::InvalidParams(_))
                && err.to_string().contains(&format!("`{name}`")),
            "{value:?}: {err}"
        );
    }
    let err =
        process::<SpamDetector>(&[("rules_output", "spam_score".into())], input()).unwrap_err();
    assert!(
        err.to_string().contains("`spam_score` is given twice"),
        "{err}"
    );
    let err = process::<SpamDetector>(&[("column", "body".into())], input()).unwrap_err();
    assert!(err.to_string().contains("`body`"), "{err}");
}

#[test]
fn deterministic_and_declares_least_capability() {
    let rows = [
        Some("FREE entry!!!! txt WIN to 80082 www.win.example.com"),
        Some("hi"),
        None,
    ];
    let a = process::<SpamDetector>(&[], text_chunk("text", &rows)).unwrap();
    let b = process::<SpamDetector>(&[], text_chunk("text", &rows)).unwrap();
    assert_eq!(a, b);
    let info = SpamDetector::describe();
    assert!(!info.fits);
    assert_eq!(info.reads.len(), 1);
    assert_eq!(info.writes.len(), 3);
    assert!(info.writes.iter().all(|w| w.name_param.is_some()));
}

#[test]
fn repeated_alone_scores_its_weight_as_in_the_host_test() {
    let given = [("repeat_threshold", 2i64.into()), ("threshold", 0.4.into())];
    let input = text_chunk(
        "text",
        &[
            Some("Join my channel now"),
            None,
            Some("JOIN my channel, now!"),
        ],
    );
    let out = process::<SpamDetector>(&given, input).unwrap();
    let (label, score, tags) = rows_of(&out);
    assert_eq!(label, [Some(true), None, Some(true)]);
    assert_eq!(score, [Some(0.4), None, Some(0.4)], "exactly the weight");
    assert_eq!(tags, [vec!["spam.repeated"], vec![], vec!["spam.repeated"]]);
}
