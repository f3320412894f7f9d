//! Puts ANSI / OSC escape sequences in its log, a metric name, stdout and
//! stderr, then fails with a 16 MiB message full of them: the host must
//! bound every guest string it prints or stores and show no raw ESC.
use std::io::Write as _;

/// Clears the screen, retitles the terminal (OSC 0), and hides the text.
const INJECTION: &str = "\x1b[2J\x1b]0;pwned\x07\x1b[8mhidden\x1b[0m\r\u{9b}31m";

hostile_plugins::hostile!("escape-injection", |_input| {
    sluice_sdk::log::warn(&format!("log {INJECTION}\nFAKE [info] all good"));
    sluice_sdk::log::metric(&format!("metric{INJECTION}"), 1.0);
    println!("stdout {INJECTION}");
    let _ = std::io::stderr().write_all(format!("stderr {INJECTION}\n").as_bytes());
    let mut message = String::with_capacity(16 << 20);
    while message.len() < 16 << 20 {
        message.push_str(INJECTION);
        message.push_str(&"z".repeat(1000));
    }
    Err(sluice_sdk::StepError::Failed(message))
});
