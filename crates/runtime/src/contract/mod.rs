//! The plugin contract, one module per supported version.
//!
//! As in Zed's extension host, each `vX_Y` module owns everything about its
//! version: the `bindgen!` of `wit/since_vX.Y.Z`, the conversions between
//! its WIT types and the host's own (`sluice_core` chunks, step info,
//! errors, metrics), its host imports (`log`, `metric`), its linker
//! registration and its version series. The rest of the runtime sees only
//! the enums below, which match on the version and delegate.
//!
//! Supporting a 0.2 contract next to 0.1 adds:
//! - one module, `v0_2.rs`, written like `v0_1.rs` (bindgen of
//!   `wit/since_v0.2.0`, conversions, host imports, `SERIES = "0.2"`);
//! - one variant, `V0_2`, in [`ContractVersion`], [`ContractPre`] and
//!   [`ContractInstance`]; the compiler then points at every `match` that
//!   needs its arm;
//! - one line, `ContractVersion::V0_2`, in [`ContractVersion::ALL`].
//!
//! Nothing else changes: the load check, the supported-version list in
//! errors and the policy's import allow-list all derive from `ALL`.

mod v0_1;

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker, ResourceAny};

use crate::RuntimeError;
use crate::state::StoreState;
use sluice_core::Chunk;
use sluice_core::contract::{Metric, Params, StepError, StepInfo};

/// The contract's WIT package; every version shares it.
const PACKAGE: &str = "sluice:plugin";

/// What every guest call returns: a trap (outer) or the step's own error.
pub type GuestResult<T> = wasmtime::Result<Result<T, StepError>>;

/// Contract versions (major.minor) this host loads, derived from
/// [`ContractVersion::ALL`].
pub const SUPPORTED_CONTRACTS: &[&str] = &{
    let mut series = [""; ContractVersion::ALL.len()];
    let mut i = 0;
    while i < series.len() {
        series[i] = ContractVersion::ALL[i].series();
        i += 1;
    }
    series
};

/// A contract version this host implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractVersion {
    V0_1,
}

impl ContractVersion {
    /// Every supported version, oldest first.
    pub const ALL: &[ContractVersion] = &[ContractVersion::V0_1];

    /// The major.minor series, e.g. `0.1`: any `0.1.x` belongs to it.
    const fn series(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => v0_1::SERIES,
        }
    }

    /// The supported version a package version such as `0.1.3` belongs to.
    fn of_package_version(version: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| {
            version
                .strip_prefix(v.series())
                .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    /// Detects, once at load, which contract a component implements from
    /// its exports: returns the version and the step export's name (e.g.
    /// `sluice:plugin/step@0.1.0`).
    pub fn detect(plugin: &str, exports: &[String]) -> Result<(Self, String), RuntimeError> {
        let step_interface = format!("{PACKAGE}/step");
        let Some(step_export) = exports.iter().find(|n| n.starts_with(&step_interface)) else {
            return Err(RuntimeError::NotAPlugin {
                plugin: plugin.to_string(),
                exports: exports.join(", "),
            });
        };
        let found = step_export
            .split_once('@')
            .map(|(_, v)| v)
            .unwrap_or_default();
        match Self::of_package_version(found) {
            Some(version) => Ok((version, step_export.clone())),
            None => Err(RuntimeError::UnsupportedVersion {
                plugin: plugin.to_string(),
                found: if found.is_empty() {
                    "<unversioned>".into()
                } else {
                    found.to_string()
                },
                supported: SUPPORTED_CONTRACTS
                    .iter()
                    .map(|v| format!("{v}.x"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn add_to_linker(self, linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        match self {
            ContractVersion::V0_1 => v0_1::add_to_linker(linker),
        }
    }
}

/// Whether `interface` (an import name before its `@`) belongs to the
/// contract's package, whatever the version.
pub fn is_contract_interface(interface: &str) -> bool {
    interface
        .strip_prefix(PACKAGE)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether this host links contract imports of package version `version`.
pub fn links_contract_version(version: &str) -> bool {
    ContractVersion::of_package_version(version).is_some()
}

/// Registers the host imports of every supported version (their names
/// carry the version, so they coexist in one linker).
pub fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    for version in ContractVersion::ALL {
        version.add_to_linker(linker)?;
    }
    Ok(())
}

/// A component checked against its contract's world, ready to instantiate.
pub enum ContractPre {
    V0_1(v0_1::StepPluginPre<StoreState>),
}

impl ContractPre {
    pub fn new(version: ContractVersion, pre: InstancePre<StoreState>) -> wasmtime::Result<Self> {
        Ok(match version {
            ContractVersion::V0_1 => ContractPre::V0_1(v0_1::StepPluginPre::new(pre)?),
        })
    }

    pub fn instantiate(&self, store: &mut Store<StoreState>) -> wasmtime::Result<ContractInstance> {
        Ok(match self {
            ContractPre::V0_1(pre) => ContractInstance::V0_1(pre.instantiate(store)?),
        })
    }
}

/// One instance's bindings, before a session is opened.
pub enum ContractInstance {
    V0_1(v0_1::StepPlugin),
}

impl ContractInstance {
    pub fn describe(&self, store: &mut Store<StoreState>) -> wasmtime::Result<StepInfo> {
        match self {
            ContractInstance::V0_1(bindings) => v0_1::describe(bindings, store),
        }
    }

    /// Opens the instance's `session` resource; the session keeps the
    /// instance it lives in.
    pub fn open(
        self,
        store: &mut Store<StoreState>,
        params: &Params,
        state: Option<&[u8]>,
    ) -> GuestResult<ContractSession> {
        let handle = match &self {
            ContractInstance::V0_1(bindings) => v0_1::open(bindings, store, params, state),
        };
        Ok(handle?.map(|handle| ContractSession {
            instance: self,
            handle,
        }))
    }
}

/// An open `session` resource and the instance that owns it.
pub struct ContractSession {
    instance: ContractInstance,
    handle: ResourceAny,
}

impl ContractSession {
    pub fn fit(&self, store: &mut Store<StoreState>, input: Chunk) -> GuestResult<()> {
        match &self.instance {
            ContractInstance::V0_1(bindings) => v0_1::fit(bindings, store, self.handle, input),
        }
    }

    pub fn finish_fit(&self, store: &mut Store<StoreState>) -> GuestResult<Vec<u8>> {
        match &self.instance {
            ContractInstance::V0_1(bindings) => v0_1::finish_fit(bindings, store, self.handle),
        }
    }

    pub fn process(&self, store: &mut Store<StoreState>, input: Chunk) -> GuestResult<Chunk> {
        match &self.instance {
            ContractInstance::V0_1(bindings) => v0_1::process(bindings, store, self.handle, input),
        }
    }

    pub fn finish(&self, store: &mut Store<StoreState>) -> GuestResult<Vec<Metric>> {
        match &self.instance {
            ContractInstance::V0_1(bindings) => v0_1::finish(bindings, store, self.handle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_contracts_follow_the_version_list() {
        assert_eq!(SUPPORTED_CONTRACTS, ["0.1"]);
        assert_eq!(SUPPORTED_CONTRACTS.len(), ContractVersion::ALL.len());
    }

    #[test]
    fn a_package_version_belongs_to_its_series_only() {
        let of = ContractVersion::of_package_version;
        assert_eq!(of("0.1.0"), Some(ContractVersion::V0_1));
        assert_eq!(of("0.1.7"), Some(ContractVersion::V0_1));
        assert_eq!(of("0.10.0"), None);
        assert_eq!(of("0.1"), None);
        assert_eq!(of("1.0.0"), None);
        assert_eq!(of(""), None);
    }

    #[test]
    fn detect_reads_the_step_export() {
        let exports = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let (version, export) =
            ContractVersion::detect("p", &exports(&["sluice:plugin/step@0.1.0"])).unwrap();
        assert_eq!(version, ContractVersion::V0_1);
        assert_eq!(export, "sluice:plugin/step@0.1.0");

        let err = ContractVersion::detect("p", &exports(&["sluice:plugin/step@1.0.0"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sluice:plugin@1.0.0") && err.contains("supports 0.1.x"),
            "{err}"
        );
        let err = ContractVersion::detect("p", &exports(&["sluice:plugin/step"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("<unversioned>"), "{err}");
        assert!(matches!(
            ContractVersion::detect("p", &exports(&["wasi:cli/run@0.2.6"])),
            Err(RuntimeError::NotAPlugin { .. })
        ));
    }

    #[test]
    fn contract_interfaces_are_recognised_by_package() {
        assert!(is_contract_interface("sluice:plugin/host"));
        assert!(!is_contract_interface("sluice:plugins/host"));
        assert!(!is_contract_interface("wasi:io/streams"));
        assert!(links_contract_version("0.1.0"));
        assert!(!links_contract_version("0.2.0"));
    }
}
