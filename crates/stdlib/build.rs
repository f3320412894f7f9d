//! Builds the first-party plugins in plugins/ for wasm32-wasip2 and embeds
//! them, so `sluice` ships its standard step library inside the binary.

use sluice_guest_build as build_guests;
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let workspace = build_guests::workspace_root();
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
    println!("cargo:rerun-if-changed=build.rs");
}
