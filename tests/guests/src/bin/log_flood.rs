//! Logs hundreds of thousands of empty messages: each kept line must cost
//! the host something, or the `log` bound never fills.
hostile_plugins::hostile!("log-flood", |input| {
    for _ in 0..200_000 {
        sluice_sdk::log::info("");
    }
    Ok(hostile_plugins::out_column(input.rows, "flooded"))
});
