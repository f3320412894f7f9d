//! The first-party plugins (plugins/ in the repository), compiled to
//! wasm32-wasip2 by this crate's build.rs and embedded in the binary. A pipeline
//! or the CLI can name them (`clean-text`) instead of a `.wasm` path; they
//! are identified and granted by digest like any other plugin. Plugins
//! saved by digest under `<home>/plugins` (imported bundles, pinned files)
//! are found here too.

use std::path::{Path, PathBuf};

use sluice_core::Digest;

/// One embedded plugin.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedPlugin {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/stdlib.rs"));

/// The embedded plugin called `name`, if any.
pub fn get(name: &str) -> Option<&'static EmbeddedPlugin> {
    PLUGINS.iter().find(|p| p.name == name)
}

/// The plugin with `digest`, embedded or saved under `<home>/plugins`:
/// its bytes and the name to grant it by.
pub fn plugin_by_digest(digest: &Digest, home: &Path) -> Result<(Vec<u8>, String), String> {
    if let Some(embedded) = PLUGINS.iter().find(|p| Digest::of(p.bytes) == *digest) {
        return Ok((embedded.bytes.to_vec(), embedded.name.to_string()));
    }
    let saved = plugin_store_path(home, digest);
    if saved.exists() {
        let bytes =
            std::fs::read(&saved).map_err(|e| format!("cannot read {}: {e}", saved.display()))?;
        // a file named by a digest is only that plugin if it hashes to it
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(format!(
                "{} does not match its digest (its content hashes to {actual}): the file was altered or damaged; refused",
                saved.display()
            ));
        }
        return Ok((bytes, digest.to_string()));
    }
    Err(format!(
        "no plugin with digest {digest} is embedded or saved in {}",
        saved.parent().unwrap().display()
    ))
}

/// Where plugin bytes are kept by digest, so a pipeline can refer to them.
pub fn plugin_store_path(home: &Path, digest: &Digest) -> PathBuf {
    home.join("plugins").join(format!("{}.wasm", digest.hex()))
}
