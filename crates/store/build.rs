// `sqlx::migrate!` embeds the migration files but does not watch the directory.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
