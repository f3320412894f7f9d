//! Returns a thousand times more rows than it was given.
hostile_plugins::hostile!("many-rows", |input| Ok(hostile_plugins::out_column(
    input.rows * 1000,
    "x"
)));
