//! Writes megabytes to stdout and to stderr (after one log line): all three
//! must share one `log` bound, and a full bound must not trap the guest.
use std::io::Write as _;

hostile_plugins::hostile!("stdio-flood", |input| {
    sluice_sdk::log::info("before the flood");
    let line = format!("{}\n", "x".repeat(1023));
    for _ in 0..4096 {
        std::io::stdout()
            .write_all(line.as_bytes())
            .expect("stdout");
        std::io::stderr()
            .write_all(line.as_bytes())
            .expect("stderr");
    }
    Ok(hostile_plugins::out_column(input.rows, "flooded"))
});
