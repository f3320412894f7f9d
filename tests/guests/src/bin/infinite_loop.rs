//! Spins forever: stopped by the CPU budget (epoch interruption).
hostile_plugins::hostile!("infinite-loop", |input| {
    let mut x: u64 = input.rows as u64;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
});
