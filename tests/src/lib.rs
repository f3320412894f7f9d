//! Paths of the hostile plugins built by build.rs, and helpers shared by
//! the end-to-end tests.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

use sluice_core::{Chunk, ColumnValues};
use sluice_runtime::policy::Policy;
use sluice_runtime::{Plugin, Runtime, RuntimeConfig};

/// A runtime with the default configuration and no disk cache.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

/// A policy parsed from text (relative dirs resolve against `base`).
pub fn policy(text: &str, base: &std::path::Path) -> Policy {
    Policy::parse(text, std::path::Path::new("test-policy.toml"), base).expect("valid policy")
}

/// A first-party plugin (embedded by sluice-stdlib) loaded through the real
/// host, on a fresh runtime, under the policy `policy_text` (the least
/// grant the test needs; relative dirs resolve against the current dir).
pub fn load_stdlib(name: &str, policy_text: &str) -> Plugin {
    load_stdlib_on(&runtime(), name, policy_text)
}

/// [`load_stdlib`] on a given runtime.
pub fn load_stdlib_on(runtime: &Runtime, name: &str, policy_text: &str) -> Plugin {
    let embedded = sluice_stdlib::get(name).unwrap_or_else(|| panic!("{name} is embedded"));
    let policy = policy(policy_text, std::path::Path::new("."));
    runtime
        .load(embedded.bytes, Some(name), &policy)
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// A chunk with one text column.
pub fn text_chunk(name: &str, rows: &[&str]) -> Chunk {
    let mut data = String::new();
    let mut offsets = vec![0u32];
    for row in rows {
        data.push_str(row);
        offsets.push(data.len() as u32);
    }
    let mut chunk = Chunk::new(rows.len() as u32);
    chunk.set(
        name,
        ColumnValues::Text {
            data,
            offsets,
            valid: vec![],
        },
    );
    chunk
}

/// All rows of a text column (missing rows as `None`).
pub fn texts(chunk: &Chunk, name: &str) -> Vec<Option<String>> {
    (0..chunk.rows as usize)
        .map(|row| chunk.text(name, row).map(str::to_string))
        .collect()
}

/// Proves the host survived: the same runtime runs `clean-text` correctly.
pub fn assert_host_still_works(runtime: &Runtime) {
    let plugin = load_stdlib_on(
        runtime,
        "clean-text",
        "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
    );
    let (params, effective) = plugin.effective_grant(&[]).expect("grant");
    let mut session = plugin.session(&params, &effective, None).expect("session");
    let out = session
        .process(text_chunk("text", &["Hello   WORLD @bob"]))
        .expect("process");
    assert_eq!(
        texts(&out, "text_clean"),
        vec![Some("hello world <user>".to_string())]
    );
}

/// Runs an administrative statement without touching sluice's schema.
pub async fn pg_exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut connection)
        .await
        .unwrap();
}
