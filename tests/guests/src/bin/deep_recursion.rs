//! Recurses without bound: stopped by the wasm stack limit.
fn recurse(depth: u64, acc: &mut [u64; 16]) -> u64 {
    acc[(depth % 16) as usize] = depth;
    std::hint::black_box(recurse(depth + 1, acc)) + acc[0]
}

hostile_plugins::hostile!("deep-recursion", |input| {
    let mut acc = [0u64; 16];
    let n = recurse(input.rows as u64, &mut acc);
    Ok(hostile_plugins::out_column(input.rows, &n.to_string()))
});
