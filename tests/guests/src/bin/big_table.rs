//! Carries a function table of well over 128 entries (128 address-taken
//! functions of its own plus std's). Stable Rust cannot emit
//! `table.grow`, so this attacks the same bound from the other side: the
//! host's table limit (policy `table_elements`) applies to a table's initial
//! size as to its growth, both through the same resource limiter.
macro_rules! funcs {
    ($($i:literal)*) => { [$( { fn f(x: u64) -> u64 { x.wrapping_mul($i) } f as fn(u64) -> u64 } ),*] };
}
macro_rules! many {
    () => { funcs!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32) };
}

fn table() -> Vec<fn(u64) -> u64> {
    let mut all = Vec::new();
    macro_rules! block { ($($b:literal)*) => { $( all.extend(many!().iter().map(|f| { let g: fn(u64) -> u64 = *f; let _ = $b; g })); )* } }
    block!(0 1 2 3);
    all
}

hostile_plugins::hostile!("big-table", |input| {
    let funcs = std::hint::black_box(table());
    let n = funcs.iter().fold(input.rows as u64, |acc, f| f(acc));
    Ok(hostile_plugins::out_column(input.rows, &n.to_string()))
});
