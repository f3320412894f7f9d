//! Tries every way out of (and into) its granted directory `/data` and
//! reports, one line per attempt, `name: ok` or `name: denied (...)`.
use std::fs;

fn attempt(name: &str, result: std::io::Result<impl std::fmt::Debug>) -> String {
    match result {
        Ok(v) => format!("{name}: ok {v:?}"),
        Err(e) => format!("{name}: denied ({e})"),
    }
}

hostile_plugins::hostile!("fs-escape", |input| {
    let report = [
        attempt(
            "read /etc/passwd",
            fs::read_to_string("/etc/passwd").map(|s| s.len()),
        ),
        attempt(
            "read dotdot",
            fs::read_to_string("/data/../outside.txt").map(|s| s.len()),
        ),
        attempt(
            "read symlink",
            fs::read_to_string("/data/link-to-outside").map(|s| s.len()),
        ),
        attempt("read granted", fs::read_to_string("/data/inside.txt")),
        attempt("write new", fs::write("/data/new.txt", b"pwned")),
        attempt(
            "truncate",
            fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open("/data/inside.txt")
                .map(|_| ()),
        ),
        attempt("rename", fs::rename("/data/inside.txt", "/data/moved.txt")),
        attempt(
            "hard link",
            fs::hard_link("/data/inside.txt", "/data/linked.txt"),
        ),
        attempt("remove", fs::remove_file("/data/inside.txt")),
    ]
    .join("\n");
    Ok(hostile_plugins::out_column(input.rows, &report))
});
