//! Returns one row fewer than it was given.
hostile_plugins::hostile!("wrong-row-count", |input| Ok(hostile_plugins::out_column(
    input.rows.saturating_sub(1),
    "x"
)));
