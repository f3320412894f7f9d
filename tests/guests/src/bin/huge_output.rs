//! Returns 64 MiB of text per chunk: stopped by `max_output_bytes`.
hostile_plugins::hostile!("huge-output", |input| {
    let row = "x".repeat((64 << 20) / input.rows.max(1) as usize);
    Ok(hostile_plugins::out_column(input.rows, &row))
});
