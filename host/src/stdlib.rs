//! The first-party plugins (plugins/ in the repository), compiled to
//! wasm32-wasip2 by host/build.rs and embedded in the binary. A pipeline
//! or the CLI can name them (`clean-text`) instead of a `.wasm` path; they
//! are identified and granted by digest like any other plugin.

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
