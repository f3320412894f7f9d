//! Opens a TCP connection: imports wasi:sockets, refused at load.
hostile_plugins::hostile!("network", |input| {
    let connected = std::net::TcpStream::connect("127.0.0.1:5432").is_ok();
    Ok(hostile_plugins::out_column(
        input.rows,
        &connected.to_string(),
    ))
});
