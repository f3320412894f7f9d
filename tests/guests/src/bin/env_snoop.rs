//! Reports every environment variable, argument and the working directory it can see.
hostile_plugins::hostile!("env-snoop", |input| {
    let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let args: Vec<String> = std::env::args().collect();
    let report = format!("vars=[{}] args=[{}]", vars.join(";"), args.join(";"));
    Ok(hostile_plugins::out_column(input.rows, &report))
});
