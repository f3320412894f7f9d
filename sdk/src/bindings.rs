//! Bindings generated from the `sluice:plugin@0.1.0` WIT package.
//! Plugin authors rarely need this module directly: the crate root
//! re-exports the types and `export_step!` wires a [`crate::Step`] up.

wit_bindgen::generate!({
    world: "step-plugin",
    path: "../wit/since_v0.1.0",
    pub_export_macro: true,
    default_bindings_module: "sluice_sdk::bindings",
    additional_derives: [PartialEq],
});
