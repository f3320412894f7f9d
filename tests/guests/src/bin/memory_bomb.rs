//! Allocates (memory.grow) until something stops it: the memory limit.
hostile_plugins::hostile!("memory-bomb", |input| {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 16 << 20];
        block[0] = input.rows as u8;
        hoard.push(std::hint::black_box(block));
    }
});
