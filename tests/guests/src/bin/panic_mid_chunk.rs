//! Panics halfway through a chunk.
hostile_plugins::hostile!("panic-mid-chunk", |input| {
    let text = input.text("text")?;
    for (row, value) in text.iter().enumerate() {
        if row == text.len() / 2 {
            panic!("boom at row {row}: {value:?}");
        }
    }
    Ok(hostile_plugins::out_column(input.rows, "unreachable"))
});
