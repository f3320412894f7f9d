//! Builds guest crates for wasm32-wasip2 from a build script, in the manner
//! of wasmtime's crates/test-programs/artifacts/build.rs. Shared by
//! crates/stdlib/build.rs (first-party plugins, embedded in the binary) and
//! tests/build.rs (hostile plugins). Guests build with the workspace's
//! `guest` profile into target/guests, a separate target dir, so the nested
//! cargo never waits on the outer one's lock and stays cached across builds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the directory holding `Cargo.lock`), found from the
/// build script's own crate.
pub fn workspace_root() -> PathBuf {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run from a build script"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .unwrap_or_else(|| panic!("no Cargo.lock above {}", manifest_dir.display()))
        .to_path_buf()
}

pub struct Guest {
    /// package name, e.g. `clean-text`
    pub package: String,
    /// identifier form, e.g. `clean_text`
    pub ident: String,
    pub wasm: PathBuf,
}

/// Every crate directory (holding a Cargo.toml) directly under `parent`.
pub fn guest_packages(parent: &Path) -> Vec<(String, PathBuf)> {
    let mut packages = Vec::new();
    for entry in std::fs::read_dir(parent).expect("read guest directory") {
        let dir = entry.expect("dir entry").path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).expect("read Cargo.toml");
        let name = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("name = \"")
                    .and_then(|r| r.strip_suffix('"'))
            })
            .unwrap_or_else(|| panic!("{}: no package name", manifest.display()))
            .to_string();
        packages.push((name, dir));
    }
    packages.sort();
    packages
}

/// Builds one library component per package (named after the package).
pub fn build_guests(workspace: &Path, packages: &[(String, PathBuf)]) -> Vec<Guest> {
    let wasm_dir = build_packages(workspace, packages);
    packages
        .iter()
        .map(|(name, _)| {
            let ident = name.replace('-', "_");
            let wasm = wasm_dir.join(format!("{ident}.wasm"));
            assert!(
                wasm.exists(),
                "guest {name} built but {} is missing",
                wasm.display()
            );
            Guest {
                package: name.clone(),
                ident,
                wasm,
            }
        })
        .collect()
}

/// Runs the nested cargo build; returns the directory holding the .wasm files.
pub fn build_packages(workspace: &Path, packages: &[(String, PathBuf)]) -> PathBuf {
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    println!("cargo:rerun-if-changed={}", workspace.join("sdk").display());
    // plugins (the evaluators) also link the metrics crate
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("crates").join("metrics").display()
    );
    // the SDK links the params crate
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("crates").join("params").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    for (_, dir) in packages {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let target_dir = workspace.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "guest"])
        .env("CARGO_TARGET_DIR", &target_dir)
        // flags meant for the host build must not leak into the guests
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG")
        // `cargo clippy` wraps rustc; the guests are built, not linted, here
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        // SIMD for the guests' own code (wasmtime compiles simd128 to SSE/AVX);
        // a 64 KiB shadow stack instead of 1 MiB: fewer pages to map and
        // reset per instance, ample for these plugins (no deep recursion)
        .env(
            "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
            "-C target-feature=+simd128 -C link-arg=-zstack-size=65536",
        );
    for (name, _) in packages {
        command.args(["-p", name]);
    }
    let output = command.output().expect("run cargo to build guests");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint =
            if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
                "\n\nThe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`."
            } else {
                ""
            };
        panic!("building guest plugins for wasm32-wasip2 failed:\n{stderr}{hint}");
    }
    target_dir.join("wasm32-wasip2").join("guest")
}
