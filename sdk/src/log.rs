//! Logging and metrics through the host. Inside WebAssembly these call the
//! `sluice:plugin/host` imports; natively (unit tests) they go to stderr.

#[cfg(target_arch = "wasm32")]
use crate::bindings::sluice::plugin::host;

#[cfg(target_arch = "wasm32")]
pub use host::Level;

/// Severity of a log line (native stand-in for the WIT enum).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Appends a line to the step's log.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

pub fn info(message: &str) {
    log(Level::Info, message)
}

pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Records a named measurement for the current step run.
pub fn metric(name: &str, value: f64) {
    #[cfg(target_arch = "wasm32")]
    host::metric(name, value);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[metric] {name} = {value}");
}
