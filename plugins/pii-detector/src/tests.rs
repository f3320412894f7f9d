use super::*;
use sluice_sdk::testing::{process, text_chunk};

/// (rule, matched text) of every match in `text`, all rules on.
fn found(text: &str) -> Vec<(Rule, String)> {
    let mut matches = Vec::new();
    scan(text, RuleSet::all(), &mut matches);
    matches
        .iter()
        .map(|m| (m.rule, text[m.start..m.end].to_string()))
        .collect()
}

fn only(rule: Rule, text: &str) -> Vec<(Rule, String)> {
    vec![(rule, text.to_string())]
}

fn assert_finds(rule: Rule, cases: &[(&str, &str)]) {
    for (text, want) in cases {
        assert_eq!(found(text), only(rule, want), "in {text:?}");
    }
}

fn assert_clean(cases: &[&str]) {
    for text in cases {
        assert_eq!(found(text), vec![], "in {text:?}");
    }
}

#[test]
fn emails() {
    assert_finds(
        Rule::Email,
        &[
            (
                "write to john.doe+tag@example.co.uk.",
                "john.doe+tag@example.co.uk",
            ),
            ("JOHN@EXAMPLE.COM", "JOHN@EXAMPLE.COM"),
            (
                "mailto:o'brien@mail-server.example.org)",
                "o'brien@mail-server.example.org",
            ),
            ("(.bob@x.io)", "bob@x.io"),
        ],
    );
    assert_clean(&[
        "@mention",
        "a@b",
        "user@localhost",
        "x@.com",
        "me@site.c",
        "x@1.2",
        "email me @ home.",
        "bob.@x",
    ]);
}

#[test]
fn phones_international_and_national() {
    assert_finds(
        Rule::Phone,
        &[
            ("call +44 20 7946 0958 now", "+44 20 7946 0958"),
            ("+1 (555) 123-4567", "+1 (555) 123-4567"),
            ("tel:+34612345678", "+34612345678"),
            ("+34 612 34 56 78.", "+34 612 34 56 78"),
            ("+44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
            ("ring (555) 123-4567", "(555) 123-4567"),
            ("555-123-4567", "555-123-4567"),
            ("555.123.4567", "555.123.4567"),
            ("1-800-555-1234", "1-800-555-1234"),
            ("555-1234", "555-1234"),
            ("020 7946 0958", "020 7946 0958"),
            ("07700 900123", "07700 900123"),
            ("06 12 34 56 78", "06 12 34 56 78"),
            ("Call 09066380611 to claim", "09066380611"),
            ("llama al 612345678", "612345678"),
            ("mi móvil: 612 345 678", "612 345 678"),
            ("Teléfono 91 123 45 67", "91 123 45 67"),
        ],
    );
    // two numbers side by side stay two numbers
    assert_eq!(
        found("0612345678 0698765432"),
        vec![
            (Rule::Phone, "0612345678".to_string()),
            (Rule::Phone, "0698765432".to_string())
        ]
    );
    // a date before a phone does not hide it
    assert_eq!(
        found("2024-01-05 0612345678"),
        only(Rule::Phone, "0612345678")
    );
}

#[test]
fn phones_not_dates_times_prices_or_plain_numbers() {
    assert_clean(&[
        "2024-01-05",
        "on 05/01/2024 at 10:30",
        "05.01.2024",
        "2024.01.05",
        "05-01-2024",
        "call me on 2024-01-05",
        "12:30:45",
        "at 09:15 and 18:45:00",
        "$1,234,567.89",
        "£1 234 567",
        "call costs £1 234 567",
        "1.234.567 €",
        "€ 1.234.567,00",
        "growth 12345678%",
        "3.14159265",
        "555.1234",
        "order 12345678",
        "order #0612345678",
        "ticket 1234567890123",
        "ISBN 978-3-16-148410-0",
        "1990-2024",
        "ref ABC1234567DEF",
        "scores 10 20 30 40",
        "+0 123 456 789",
        "+12 345",
        "txt DIS to 87121 18+6*£1.50",
        "Text CHANCE to 85555 16 only",
        "ages 18+ call 1234567+",
        "invoice 0001234567",
    ]);
    assert_eq!(
        found("free calling to 08719839835. Future"),
        only(Rule::Phone, "08719839835")
    );
}

#[test]
fn credit_cards_luhn_checked() {
    assert_finds(
        Rule::CreditCard,
        &[
            ("card 4111 1111 1111 1111 exp 12/25", "4111 1111 1111 1111"),
            ("4111-1111-1111-1111", "4111-1111-1111-1111"),
            ("4111111111111111.", "4111111111111111"),
            ("amex 3782 822463 10005", "3782 822463 10005"),
            ("5555555555554444", "5555555555554444"),
            ("4222222222222", "4222222222222"),
            // a trailing group that would make it too long is dropped
            ("4111 1111 1111 1111 2024", "4111 1111 1111 1111"),
        ],
    );
    assert!(luhn_ok(b"79927398713") && !luhn_ok(b"79927398710"));
    // order numbers that fail Luhn, wrong lengths, non-card leading digits
    assert_clean(&[
        "order 4111111111111112",
        "4111 1111 1111 1112",
        "411111111111",
        "41111111111111111111",
        "1111 1111 1111 1117",
        "4111 1111 1111 111 1",
        "4111 1111-1111 1111",
        "$4111111111111111",
        "order#4111111111111111",
    ]);
}

#[test]
fn ibans_mod97_and_country_length() {
    assert_finds(
        Rule::Iban,
        &[
            (
                "IBAN: DE89 3704 0044 0532 0130 00.",
                "DE89 3704 0044 0532 0130 00",
            ),
            ("GB82WEST12345698765432", "GB82WEST12345698765432"),
            (
                "ES91 2100 0418 4502 0005 1332",
                "ES91 2100 0418 4502 0005 1332",
            ),
            (
                "pay to gb82 west 1234 5698 7654 32 today",
                "gb82 west 1234 5698 7654 32",
            ),
            ("NO9386011117947", "NO9386011117947"),
        ],
    );
    assert!(iban_checksum_ok(b"GB82WEST12345698765432"));
    assert!(!iban_checksum_ok(b"GB82WEST12345698765433"));
    assert!(
        !iban_checksum_ok(b"gb82west12345698765432")
            && !iban_checksum_ok(b"GBX2")
            && !iban_checksum_ok(b"")
    );
    let wrong_check = found("DE89 3704 0044 0532 0130 01");
    assert!(
        wrong_check.iter().all(|(r, _)| *r != Rule::Iban),
        "{wrong_check:?}"
    );
    assert_clean(&[
        "GB82WEST1234569876543",   // one short for GB
        "GB82WEST123456987654321", // one long
        "XX82WEST12345698765432",  // no such country
        "ZDE89370400440532013000", // glued to a word
    ]);
    // groups of four or compact, not a mix (the digits may still be a phone)
    let mixed = found("DE89 3704 0044 05320130 00");
    assert!(mixed.iter().all(|(r, _)| *r != Rule::Iban), "{mixed:?}");
}

#[test]
fn ipv4_and_version_numbers() {
    assert_finds(
        Rule::Ipv4,
        &[
            ("server 192.168.0.1 down", "192.168.0.1"),
            ("10.0.0.255:8080", "10.0.0.255"),
            ("from 8.8.8.8.", "8.8.8.8"),
            // a bare dotted quad is an address: 1.2.3.4 is valid syntax
            ("try 1.2.3.4", "1.2.3.4"),
        ],
    );
    assert_clean(&[
        "version 1.2.3.4",
        "Release 10.0.0.1",
        "v1.2.3.4",
        "1.2.3.4.5",
        "256.1.1.1",
        "192.168.01.1",
        "999.999.999.999",
        "1.2.3",
        "a1.2.3.4",
    ]);
}

#[test]
fn ipv6_forms() {
    assert_finds(
        Rule::Ipv6,
        &[
            ("addr 2001:db8::ff00:42:8329 ok", "2001:db8::ff00:42:8329"),
            (
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            ),
            ("link fe80::1 up", "fe80::1"),
            ("::ffff:192.168.0.1", "::ffff:192.168.0.1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("2001:db8::", "2001:db8::"),
            ("see 2001:db8::1: done", "2001:db8::1"),
        ],
    );
    assert_clean(&[
        "12:30:45",
        "00:1a:2b:3c:4d:5e",
        "std::io::Result",
        "a::b",
        "be::ef",
        "foo :: bar",
        "2001:db8::1::2",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "12345::1",
    ]);
}

#[test]
fn overlaps_go_to_the_stricter_rule_and_masking_replaces_spans() {
    let text = "Mail bob12345678@example.com or call +44 20 7946 0958, IBAN GB82WEST12345698765432, host 2001:db8::1.";
    let mut matches = Vec::new();
    scan(text, RuleSet::all(), &mut matches);
    let rules: Vec<Rule> = matches.iter().map(|m| m.rule).collect();
    assert_eq!(rules, [Rule::Email, Rule::Phone, Rule::Iban, Rule::Ipv6]);
    let mut masked = String::new();
    mask(text, &matches, &mut masked);
    assert_eq!(
        masked,
        "Mail <email> or call <phone>, IBAN <iban>, host <ip>."
    );
    let (fired, score) = summarize(&matches);
    assert_eq!(
        fired.iter().map(Rule::id).collect::<Vec<_>>(),
        ["pii.email", "pii.iban", "pii.ipv6", "pii.phone"]
    );
    assert_eq!(score, 1.0);
}

#[test]
fn unicode_text_is_safe_and_untouched() {
    assert_clean(&["日本語のテキスト", "ñandú — café ☕", "", "   "]);
    assert_eq!(
        found("电话13812345678"),
        vec![],
        "11 digits, no phone shape or context word"
    );
    assert_eq!(
        found("tel. ☎ +86 138 1234 5678 ☺"),
        only(Rule::Phone, "+86 138 1234 5678")
    );
    assert_eq!(
        found("correo: «josé.núñez@example.com»"),
        only(Rule::Email, "josé.núñez@example.com")
    );
}

fn run(given: &[(&str, ParamValue)], rows: &[Option<&str>]) -> Chunk {
    process::<PiiDetector>(given, text_chunk("text", rows)).unwrap()
}

#[test]
fn step_writes_label_score_rules_and_masked_text() {
    let out = run(
        &[],
        &[
            Some("hi, reach me at ana@example.es or +34 612 34 56 78"),
            Some("nothing to see, meeting 2024-01-05 12:30"),
            None,
            Some("a@b.io and c@d.io"),
            Some("server 10.0.0.1"),
        ],
    );
    assert_eq!(out.rows, 5);
    assert_eq!(out.columns.len(), 4, "exactly the declared writes");
    let label: Vec<_> = out.boolean("pii_label").unwrap().iter().collect();
    assert_eq!(
        label,
        [Some(true), Some(false), None, Some(true), Some(true)]
    );
    let score: Vec<_> = out.float64("pii_score").unwrap().iter().collect();
    assert_eq!(score, [Some(1.0), Some(0.0), None, Some(1.0), Some(0.8)]);
    let tags = out.tags("pii_rules").unwrap();
    let tags: Vec<Vec<&str>> = (0..5).map(|i| tags.get(i)).collect();
    assert_eq!(
        tags,
        [
            vec!["pii.email", "pii.phone"],
            vec![],
            vec![],
            vec!["pii.email"],
            vec!["pii.ipv4"]
        ],
        "sorted, deduplicated, empty for missing rows"
    );
    let masked: Vec<_> = out.text("text_masked").unwrap().iter().collect();
    assert_eq!(
        masked,
        [
            Some("hi, reach me at <email> or <phone>"),
            Some("nothing to see, meeting 2024-01-05 12:30"),
            None,
            Some("<email> and <email>"),
            Some("server <ip>"),
        ]
    );
}

#[test]
fn output_names_and_rules_are_params() {
    let given = [
        ("column", "msg".into()),
        ("label_output", "l".into()),
        ("score_output", "s".into()),
        ("rules_output", "r".into()),
        ("masked_output", "m".into()),
        ("rules", (&["pii.email"][..]).into()),
    ];
    let out = process::<PiiDetector>(
        &given,
        text_chunk("msg", &[Some("x@y.com +44 20 7946 0958")]),
    )
    .unwrap();
    assert_eq!(
        out.tags("r").unwrap().get(0),
        ["pii.email"],
        "phone rule is off"
    );
    assert_eq!(
        out.text("m").unwrap().get(0),
        Some("<email> +44 20 7946 0958")
    );
    assert_eq!(out.boolean("l").unwrap().get(0), Some(true));
    assert_eq!(out.float64("s").unwrap().get(0), Some(1.0));
}

#[test]
fn bad_params_and_missing_column_are_named() {
    let input = || text_chunk("text", &[Some("x")]);
    let err = process::<PiiDetector>(&[("rules", (&["pii.ssn"][..]).into())], input()).unwrap_err();
    assert!(
        err.to_string()
            .contains("param `rules`: unknown rule `pii.ssn`"),
        "{err}"
    );
    let err = process::<PiiDetector>(&[("rules", (&[][..]).into())], input()).unwrap_err();
    assert!(err.to_string().contains("`rules`"), "{err}");
    let err = process::<PiiDetector>(&[("score_output", "pii_label".into())], input()).unwrap_err();
    assert!(
        err.to_string().contains("`pii_label` is given twice"),
        "{err}"
    );
    let err = process::<PiiDetector>(&[("mask", true.into())], input()).unwrap_err();
    assert!(err.to_string().contains("unknown param `mask`"), "{err}");
    let err = process::<PiiDetector>(&[("column", "body".into())], input()).unwrap_err();
    assert!(err.to_string().contains("`body`"), "{err}");
}

#[test]
fn deterministic_and_declares_least_capability() {
    let rows = [Some(
        "x@y.com 4111 1111 1111 1111 DE89 3704 0044 0532 0130 00 ::ffff:10.0.0.1",
    )];
    assert_eq!(run(&[], &rows), run(&[], &rows));
    let info = PiiDetector::describe();
    assert!(!info.fits);
    assert_eq!(info.reads.len(), 1);
    assert_eq!(info.writes.len(), 4);
    assert!(info.writes.iter().all(|w| w.name_param.is_some()));
}

#[test]
fn random_text_never_panics_and_matches_are_well_formed() {
    // pieces that stress every scanner's edges, multi-byte characters included
    const PIECES: &[&str] = &[
        "0", "1", "4", "5", "9", "00", "44", "255", " ", "  ", "-", ".", ":", "::", "(", ")", "+",
        "@", "/", ",", "#", "a", "f", "x", "DE", "GB82", "é", "€", "£", "日", "☺", "%", "\n",
        "call ", "version ", "ñ",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut matches = Vec::new();
    let mut text = String::new();
    let mut masked = String::new();
    for _ in 0..20_000 {
        text.clear();
        for _ in 0..next() % 40 {
            text.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        scan(&text, RuleSet::all(), &mut matches);
        for (k, m) in matches.iter().enumerate() {
            assert!(
                m.start < m.end && text.is_char_boundary(m.start) && text.is_char_boundary(m.end),
                "{text:?}"
            );
            if let Some(next) = matches.get(k + 1) {
                assert!(m.end <= next.start, "overlap in {text:?}: {matches:?}");
            }
        }
        masked.clear();
        mask(&text, &matches, &mut masked);
    }
}

#[test]
fn mixed_rows_as_in_the_host_test() {
    let out = run(
        &[],
        &[
            Some("mail ana@example.es or call +44 20 7946 0958"),
            Some("card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00"),
            Some("meeting 2024-01-05 at 12:30, order 4111111111111112, total $1,234.56"),
            Some("server 10.0.0.1 and 2001:db8::1"),
        ],
    );
    let score: Vec<_> = out.float64("pii_score").unwrap().iter().flatten().collect();
    assert_eq!(score, [1.0, 1.0, 0.0, 0.9]);
    let masked: Vec<_> = out.text("text_masked").unwrap().iter().flatten().collect();
    assert_eq!(
        masked,
        [
            "mail <email> or call <phone>",
            "card <card>, IBAN <iban>",
            "meeting 2024-01-05 at 12:30, order 4111111111111112, total $1,234.56",
            "server <ip> and <ip>",
        ]
    );
}
