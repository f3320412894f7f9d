//! Sleeps through `wasi:clocks` (std's `thread::sleep`: a monotonic-clock
//! subscription and a blocking poll) for the seconds in its first row,
//! reads stdin, and reports the time it saw pass and what stdin gave.
use std::io::Read;
use std::time::{Duration, Instant};

hostile_plugins::hostile!("sleeper", |input| {
    let seconds: f64 = input
        .text("text")?
        .get(0)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(30.0);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let slept = started.elapsed();
    let mut stdin = Vec::new();
    let read = std::io::stdin().read_to_end(&mut stdin);
    let report = format!(
        "slept {:.3}s stdin {:?}",
        slept.as_secs_f64(),
        read.map_err(|e| e.to_string())
    );
    Ok(hostile_plugins::out_column(input.rows, &report))
});
