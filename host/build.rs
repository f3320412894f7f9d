//! Builds the first-party plugins in plugins/ for wasm32-wasip2 and embeds
//! them, so `sluice` ships its standard step library inside the binary.

#[path = "build_guests.rs"]
mod build_guests;

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let workspace = Path::new(&manifest_dir).parent().unwrap().to_path_buf();
    let packages = build_guests::guest_packages(&workspace.join("plugins"));
    let guests = build_guests::build_guests(&workspace, &packages);
    let mut code = String::from(
        "/// The plugins built from plugins/, by package name.\npub static PLUGINS: &[EmbeddedPlugin] = &[\n",
    );
    for guest in &guests {
        writeln!(
            code,
            "    EmbeddedPlugin {{ name: {:?}, bytes: include_bytes!({:?}) }},",
            guest.package,
            guest.wasm.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n\n/// Invokes `$mac!(ident)` once per first-party plugin (see tests/).\n#[macro_export]\nmacro_rules! foreach_stdlib_plugin {\n    ($mac:ident) => {\n");
    for guest in &guests {
        writeln!(code, "        $mac!({});", guest.ident).unwrap();
    }
    code.push_str("    };\n}\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("stdlib.rs");
    std::fs::write(out, code).unwrap();
    // `sqlx::migrate!` embeds the files but does not watch the directory
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build_guests.rs");
}
