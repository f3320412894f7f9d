//! Builds every hostile plugin (tests/guests/src/bin/*.rs) for
//! wasm32-wasip2, and generates one path constant per plugin plus
//! `foreach_hostile!`, which hostile.rs uses to fail the build when a
//! hostile plugin has no test.

use sluice_guest_build as build_guests;

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let workspace = build_guests::workspace_root();
    let guests_dir = workspace.join("tests").join("guests");
    let mut bins: Vec<String> = std::fs::read_dir(guests_dir.join("src").join("bin"))
        .unwrap()
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_string))
        .collect();
    bins.sort();
    let wasm_dir =
        build_guests::build_packages(&workspace, &[("hostile-plugins".to_string(), guests_dir)]);
    let mut code = String::new();
    for bin in &bins {
        let path = wasm_dir.join(format!("{bin}.wasm"));
        assert!(path.exists(), "{} was not built", path.display());
        writeln!(
            code,
            "pub const {}: &str = {:?};",
            bin.to_uppercase(),
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("\n/// Invokes `$mac!(ident)` once per hostile plugin.\n#[macro_export]\nmacro_rules! foreach_hostile {\n    ($mac:ident) => {\n");
    for bin in &bins {
        writeln!(code, "        $mac!({bin});").unwrap();
    }
    code.push_str("    };\n}\n");
    std::fs::write(
        Path::new(&std::env::var("OUT_DIR").unwrap()).join("guests.rs"),
        code,
    )
    .unwrap();
    println!("cargo:rerun-if-changed=build.rs");
}
