//! Records metrics under names of 1 MiB each, then thousands of distinct
//! short names: name lengths must count against the `log` bound.
hostile_plugins::hostile!("metric-flood", |input| {
    let mut name = "m".repeat(1 << 20);
    for i in 0..64u32 {
        name.replace_range(..4, &format!("{i:04}"));
        sluice_sdk::log::metric(&name, f64::from(i));
    }
    for i in 0..5_000u32 {
        sluice_sdk::log::metric(&format!("short_name_{i}"), f64::from(i));
    }
    Ok(hostile_plugins::out_column(input.rows, "flooded"))
});
