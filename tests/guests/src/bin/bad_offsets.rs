//! Returns a text column whose offsets point far past its 1-byte buffer.
hostile_plugins::hostile!("bad-offsets", |input| {
    let mut offsets = vec![0u32];
    offsets.extend((1..=input.rows).map(|i| i * 1_000_000));
    let column = sluice_sdk::ColumnValues::Text(sluice_sdk::TextColumn {
        data: "x".into(),
        offsets,
        valid: vec![],
    });
    Ok(sluice_sdk::Chunk::new(input.rows).with("out", column))
});
