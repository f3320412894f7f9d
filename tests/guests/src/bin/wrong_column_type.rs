//! Declares `out` as text but returns numbers.
hostile_plugins::hostile!("wrong-column-type", |input| {
    let mut out = sluice_sdk::Float64Builder::with_capacity(input.rows as usize);
    for _ in 0..input.rows {
        out.push(1.0);
    }
    Ok(sluice_sdk::Chunk::new(input.rows).with("out", out.finish()))
});
