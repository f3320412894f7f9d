use super::*;
use sluice_sdk::testing::{assert_state_round_trips, fit, fit_process, process, text_chunk};

/// Fits on no rows (no templates), then processes `input`: for the signals
/// that need no training.
fn untrained(given: &[(&str, ParamValue)], input: Chunk) -> Result<Chunk, StepError> {
    fit_process::<SpamDetector>(given, vec![], input)
}

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

fn repeated(tags: &[Vec<String>]) -> Vec<bool> {
    tags.iter()
        .map(|t| t.contains(&"spam.repeated".to_string()))
        .collect()
}

#[test]
fn repeated_templates_are_counted_over_every_training_chunk() {
    // the template's three copies are in three different chunks
    let training = vec![
        text_chunk(
            "text",
            &[Some("Join my channel for daily tips"), Some("ok"), None],
        ),
        text_chunk(
            "text",
            &[
                Some("JOIN MY CHANNEL for daily tips!!"),
                Some("ok"),
                Some("see you at dinner tonight"),
            ],
        ),
        text_chunk(
            "text",
            &[
                Some("join my channel, for daily tips"),
                Some("ok"),
                Some("see you at dinner tonight"),
            ],
        ),
    ];
    let input = text_chunk(
        "text",
        &[
            Some("Join my channel for DAILY tips"),
            Some("see you at dinner tonight"),
            Some("ok"),
            Some("a message never seen in training"),
            None,
        ],
    );
    let out = fit_process::<SpamDetector>(&[], training.clone(), input.clone()).unwrap();
    let (_, _, tags) = rows_of(&out);
    assert_eq!(repeated(&tags), [true, false, false, false, false]);

    let out =
        fit_process::<SpamDetector>(&[("repeat_threshold", 2i64.into())], training, input).unwrap();
    let (_, _, tags) = rows_of(&out);
    assert_eq!(
        repeated(&tags),
        [true, true, false, false, false],
        "twice is enough at 2; short messages never repeat"
    );
}

#[test]
fn a_message_scores_the_same_alone_as_in_any_chunk() {
    let training = vec![text_chunk(
        "text",
        &[
            Some("WIN a prize! Call 0800 123 now"),
            Some("win a prize call 0906 555 now"),
            Some("Win a prize, call 0800 777 now"),
            Some("hello there how are you"),
        ],
    )];
    let state = fit::<SpamDetector>(&[], training).unwrap();
    let rows = [
        Some("win a PRIZE call 0700 000 now!!"),
        Some("hello there how are you"),
        Some("hello there how are you"),
        Some("hello there how are you"),
        None,
    ];
    let params = Params::resolve(&SpamDetector::describe().params, vec![]).unwrap();
    let mut step = SpamDetector::open(params, Some(state)).unwrap();
    let batch = step.process(text_chunk("text", &rows)).unwrap();
    let (label, score, tags) = rows_of(&batch);
    assert_eq!(repeated(&tags), [true, false, false, false, false]);
    for (i, row) in rows.iter().enumerate() {
        let alone = step.process(text_chunk("text", &[*row])).unwrap();
        let (l, s, t) = rows_of(&alone);
        assert_eq!(
            (l[0], s[0], &t[0]),
            (label[i], score[i], &tags[i]),
            "{row:?}"
        );
    }
}

#[test]
fn fitted_state_does_not_depend_on_chunking_or_row_order() {
    let mut rows: Vec<Option<&str>> = Vec::new();
    for i in 0..60 {
        rows.push(Some(
            ["claim your prize today now", "meet me at the station", "ok"][i % 3],
        ));
        rows.push(Some(
            ["a second frequent message", "a third frequent message"][i % 2],
        ));
    }
    rows.push(Some("only twice in here"));
    rows.push(Some("only twice in here"));
    let whole = fit::<SpamDetector>(&[], vec![text_chunk("text", &rows)]).unwrap();
    let chunked =
        fit::<SpamDetector>(&[], rows.chunks(7).map(|c| text_chunk("text", c)).collect()).unwrap();
    let mut reversed = rows.clone();
    reversed.reverse();
    let backwards = fit::<SpamDetector>(&[], vec![text_chunk("text", &reversed)]).unwrap();
    assert_eq!(chunked, whole);
    assert_eq!(backwards, whole);
    let fitted = Fitted::decode(&whole).unwrap();
    let mut want: Vec<u64> = [
        "claim your prize today now",
        "meet me at the station",
        "a second frequent message",
        "a third frequent message",
    ]
    .iter()
    .map(|t| repeat_key(t).unwrap())
    .collect();
    want.sort();
    assert_eq!(fitted.templates, want);
    assert_eq!(fitted.repeat_threshold, 3);
}

#[test]
fn max_templates_keeps_the_most_frequent_and_zero_turns_repeated_off() {
    let mut rows: Vec<Option<&str>> = Vec::new();
    for (text, copies) in [
        ("five copies of this one", 5),
        ("three copies of this one", 3),
        ("four copies of this one", 4),
    ] {
        rows.extend(std::iter::repeat_n(Some(text), copies));
    }
    let training = || vec![text_chunk("text", &rows)];
    let templates = |max: i64| {
        let state = fit::<SpamDetector>(&[("max_templates", max.into())], training()).unwrap();
        Fitted::decode(&state).unwrap().templates
    };
    let key = |t: &str| repeat_key(t).unwrap();
    let mut top2 = vec![
        key("five copies of this one"),
        key("four copies of this one"),
    ];
    top2.sort();
    assert_eq!(templates(2), top2);
    assert_eq!(templates(3).len(), 3);
    assert_eq!(templates(0), Vec::<u64>::new());
    let out = fit_process::<SpamDetector>(
        &[("max_templates", 0i64.into())],
        training(),
        text_chunk("text", &[Some("five copies of this one")]),
    )
    .unwrap();
    assert_eq!(rows_of(&out).2, [Vec::<String>::new()]);
}

#[test]
fn counting_is_bounded_and_still_finds_templates_that_recur() {
    // a table of 8 keys: exact until it fills, then the keys seen once are
    // forgotten and counting goes on, so a template keeps its count and a
    // late one is still found
    let mut counter = RepeatCounter::new(3, 8);
    let add = |counter: &mut RepeatCounter, key: u64| {
        counter.add(key);
        assert!(counter.len() <= 8);
    };
    for _ in 0..3 {
        add(&mut counter, 7);
    }
    for unique in 0..100u64 {
        add(&mut counter, 1_000 + unique);
    }
    for key in [9, 2_000, 9, 2_001, 9] {
        add(&mut counter, key);
    }
    assert_eq!((counter.count(7), counter.count(9)), (3, 3));
    assert_eq!((counter.forgotten, counter.refused), (98, 0));
    assert_eq!(counter.templates(10), [7, 9]);

    // hostile: every key held is already a template, so nothing can be
    // forgotten; new keys are refused, the held ones still counted
    let mut counter = RepeatCounter::new(2, 4);
    for key in 0..4u64 {
        counter.add(key);
        counter.add(key);
    }
    for key in 10..20u64 {
        counter.add(key);
    }
    counter.add(3);
    assert_eq!(counter.len(), 4);
    assert_eq!(counter.refused, 10);
    assert_eq!(counter.count(3), 3);
    assert_eq!(counter.templates(10), [0, 1, 2, 3]);
}

#[test]
fn the_real_table_never_grows_past_max_counted() {
    let mut counter = RepeatCounter::new(3, MAX_COUNTED);
    let template = u64::MAX;
    for i in 0..(2 * MAX_COUNTED as u64 + 1_000) {
        // FNV keys are well mixed; so are these
        counter.add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if i % 100_000 == 99_999 {
            counter.add(template);
        }
        assert!(counter.counts.capacity() <= MAX_COUNTED, "at key {i}");
    }
    assert!(counter.forgotten > 0);
    assert_eq!(counter.refused, 0);
    assert!(
        counter.count(template) >= 3,
        "a template recurring every 100,000 messages survives clean-ups"
    );
}

#[test]
fn state_round_trips_and_rejects_garbage() {
    let fitted = Fitted {
        repeat_threshold: 3,
        templates: vec![1, 0x0102_0304_0506_0708, u64::MAX],
    };
    let bytes = assert_state_round_trips(&fitted);
    let expected = [
        &b"SPAM\x01"[..],
        &3u32.to_le_bytes(),
        &3u32.to_le_bytes(),
        &1u64.to_le_bytes(),
        &0x0102_0304_0506_0708u64.to_le_bytes(),
        &u64::MAX.to_le_bytes(),
    ]
    .concat();
    assert_eq!(bytes, expected, "the state format is stable");
    assert_state_round_trips(&Fitted {
        repeat_threshold: 2,
        templates: vec![],
    });

    let err = |bytes: &[u8]| Fitted::decode(bytes).unwrap_err().to_string();
    let unsorted = Fitted {
        repeat_threshold: 3,
        templates: vec![2, 1],
    };
    assert!(err(&unsorted.encode()).contains("ascending"));
    let twice = Fitted {
        repeat_threshold: 3,
        templates: vec![5, 5],
    };
    assert!(err(&twice.encode()).contains("ascending"));
    // a huge count is refused before anything is allocated for it
    let mut huge = b"SPAM\x01".to_vec();
    huge.extend(3u32.to_le_bytes());
    huge.extend(u32::MAX.to_le_bytes());
    assert!(err(&huge).contains("more than 100000"), "{}", err(&huge));
    let mut short = b"SPAM\x01".to_vec();
    short.extend(3u32.to_le_bytes());
    short.extend(1_000u32.to_le_bytes());
    assert!(err(&short).contains("truncated"));

    // state counted with another threshold does not match the params
    let given: [(&str, ParamValue); 1] = [("repeat_threshold", 4i64.into())];
    let params = Params::resolve(
        &SpamDetector::describe().params,
        given
            .iter()
            .map(|(n, v)| Param {
                name: n.to_string(),
                value: v.clone(),
            })
            .collect(),
    )
    .unwrap();
    let Err(e) = SpamDetector::open(params, Some(fitted.encode())) else {
        panic!("opened");
    };
    assert!(
        e.to_string()
            .contains("repeat_threshold = 3 but param `repeat_threshold` is 4"),
        "{e}"
    );
}

#[test]
fn process_without_fitted_state_is_an_error() {
    let err = process::<SpamDetector>(&[], text_chunk("text", &[Some("hi")])).unwrap_err();
    assert!(matches!(err, StepError::Failed(_)), "{err}");
    assert!(err.to_string().contains("run the fit pass first"), "{err}");
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
    let out = untrained(&[], input).unwrap();
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
    let out = untrained(
        &given,
        text_chunk("msg", &[Some("feel free to come by"), Some("hi")]),
    )
    .unwrap();
    let label: Vec<_> = out.boolean("is_spam").unwrap().iter().collect();
    assert_eq!(label, [Some(true), Some(false)], "0.3 >= 0.3");
    assert!(out.float64("p").is_ok() && out.tags("why").is_ok());
    // an int64 is accepted for a float64 param
    let out = untrained(
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
        ("max_templates", ParamValue::Int64(-1)),
        ("max_templates", ParamValue::Int64(100_001)),
        ("threshold", ParamValue::Text("high".into())),
    ] {
        let err = untrained(&[(name, value.clone())], input()).unwrap_err();
        assert!(
            matches!(err, StepError::InvalidParams(_))
                && err.to_string().contains(&format!("`{name}`")),
            "{value:?}: {err}"
        );
    }
    let err = untrained(&[("rules_output", "spam_score".into())], input()).unwrap_err();
    assert!(
        err.to_string().contains("`spam_score` is given twice"),
        "{err}"
    );
    let err = untrained(&[("column", "body".into())], input()).unwrap_err();
    assert!(err.to_string().contains("`body`"), "{err}");
    let err = fit::<SpamDetector>(&[("column", "body".into())], vec![input()]).unwrap_err();
    assert!(
        err.to_string().contains("`body`"),
        "the fit pass names it too: {err}"
    );
}

#[test]
fn deterministic_and_declares_least_capability() {
    let rows = [
        Some("FREE entry!!!! txt WIN to 80082 www.win.example.com"),
        Some("hi"),
        None,
    ];
    let a = untrained(&[], text_chunk("text", &rows)).unwrap();
    let b = untrained(&[], text_chunk("text", &rows)).unwrap();
    assert_eq!(a, b);
    let info = SpamDetector::describe();
    assert!(info.fits, "repeated templates are fitted");
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
    // fitted on the rows it then scores, as a pipeline without a train step does
    let out = fit_process::<SpamDetector>(&given, vec![input.clone()], input).unwrap();
    let (label, score, tags) = rows_of(&out);
    assert_eq!(label, [Some(true), None, Some(true)]);
    assert_eq!(score, [Some(0.4), None, Some(0.4)], "exactly the weight");
    assert_eq!(tags, [vec!["spam.repeated"], vec![], vec!["spam.repeated"]]);
}
