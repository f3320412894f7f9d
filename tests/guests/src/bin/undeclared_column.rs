//! Returns its declared column plus one it never declared.
hostile_plugins::hostile!("undeclared-column", |input| {
    let mut out = hostile_plugins::out_column(input.rows, "x");
    let extra = hostile_plugins::out_column(input.rows, "exfiltrated").take("out")?;
    out.set("sneaky", extra);
    Ok(out)
});
