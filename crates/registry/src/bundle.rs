//! Bundles: one file with a model version and the exact bytes that feed
//! it (the Wasm plugins of every step before it and their fitted states),
//! so another machine can serve the same code the model was trained with.
//!
//! Layout: the magic line `SLUICE-BUNDLE 1\n`, the manifest's length as a
//! little-endian u64, the manifest (JSON), then every blob in manifest
//! order. Each blob is named by its SHA-256 digest; import recomputes every
//! digest and refuses the file on the first mismatch, before writing
//! anything.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::register::to_json;
use super::{Lineage, ModelMetric, RegistryError, version_lineage, version_metrics};
use sluice_core::Digest;
use sluice_data::blobs::{ArtifactDir, write_blob};
use sluice_store::{ArtifactKind, NewArtifact, NewModelVersion, RunStatus, Store};

const MAGIC: &[u8] = b"SLUICE-BUNDLE 1\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobKind {
    Model,
    Plugin,
    State,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blob {
    pub digest: Digest,
    pub kind: BlobKind,
    pub size: u64,
}

/// What a bundle holds; `blobs` are in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// The version in the exporting registry.
    pub version: i64,
    pub algorithm: String,
    pub model_digest: Digest,
    pub params: serde_json::Value,
    pub metrics: Vec<ModelMetric>,
    pub lineage: Lineage,
    pub gate: Option<String>,
    pub blobs: Vec<Blob>,
}

fn bundle_err(path: &Path, message: impl Into<String>) -> RegistryError {
    RegistryError::Bundle {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// An artifact's bytes as a blob of `kind`.
async fn artifact_blob(
    store: &Store,
    artifacts: &ArtifactDir,
    out: &Path,
    digest: Digest,
    kind: BlobKind,
) -> Result<(Blob, Vec<u8>), RegistryError> {
    let artifact = store
        .artifact(&digest)
        .await?
        .ok_or_else(|| bundle_err(out, format!("artifact {digest} is not in the store")))?;
    let path = artifacts.path(&artifact.path);
    let bytes = std::fs::read(&path)
        .map_err(|e| bundle_err(out, format!("cannot read {}: {e}", path.display())))?;
    Ok((
        Blob {
            digest,
            kind,
            size: bytes.len() as u64,
        },
        bytes,
    ))
}

/// Writes model `name` version `version` and everything feeding it to `out`.
pub async fn export(
    store: &Store,
    home: &Path,
    name: &str,
    version: i64,
    out: &Path,
) -> Result<Manifest, RegistryError> {
    let record =
        store
            .model_version(name, version)
            .await?
            .ok_or_else(|| RegistryError::NoVersion {
                name: name.to_string(),
                version,
            })?;
    let lineage = version_lineage(&record)?;
    let artifacts = ArtifactDir::new(home);
    let mut blobs: Vec<(Blob, Vec<u8>)> = Vec::new();
    blobs.push(artifact_blob(store, &artifacts, out, record.model_digest, BlobKind::Model).await?);
    for step in &lineage.steps {
        if let Some(plugin) = &step.plugin_digest
            && !blobs.iter().any(|(b, _)| &b.digest == plugin)
        {
            let (bytes, _) = sluice_stdlib::plugin_by_digest(plugin, home)
                .map_err(|e| bundle_err(out, format!("step `{}`: {e}", step.name)))?;
            blobs.push((
                Blob {
                    digest: *plugin,
                    kind: BlobKind::Plugin,
                    size: bytes.len() as u64,
                },
                bytes,
            ));
        }
        if let Some(state) = &step.state_digest
            && !blobs.iter().any(|(b, _)| &b.digest == state)
        {
            blobs.push(artifact_blob(store, &artifacts, out, *state, BlobKind::State).await?);
        }
    }
    let manifest = Manifest {
        name: record.name.clone(),
        version: record.version,
        algorithm: record.algorithm.clone(),
        model_digest: record.model_digest,
        params: serde_json::from_str(&record.params).map_err(|e| RegistryError::Corrupt {
            name: record.name.clone(),
            version: record.version,
            what: "params",
            error: e.to_string(),
        })?,
        metrics: version_metrics(&record)?,
        lineage,
        gate: record.gate.clone(),
        blobs: blobs.iter().map(|(b, _)| b.clone()).collect(),
    };
    let manifest_json = serde_json::to_vec(&manifest).expect("manifests serialise");
    let write = || -> std::io::Result<()> {
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
        }
        let mut temp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
        temp.write_all(MAGIC)?;
        temp.write_all(&(manifest_json.len() as u64).to_le_bytes())?;
        temp.write_all(&manifest_json)?;
        for (_, bytes) in &blobs {
            temp.write_all(bytes)?;
        }
        temp.as_file().sync_all()?;
        // a bundle is meant to be shipped: readable like any exported file
        // (temp files start as 0600)
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        temp.persist(out).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(|e| bundle_err(out, format!("cannot write: {e}")))?;
    store
        .audit(
            "sluice",
            "bundle.export",
            name,
            &serde_json::json!({"version": version, "file": out.display().to_string(), "blobs": manifest.blobs.len()}),
        )
        .await?;
    Ok(manifest)
}

/// A bundle read and checked: its manifest, every blob (verified against
/// its digest, in manifest order) and the digest of the whole file.
pub struct CheckedBundle {
    pub manifest: Manifest,
    pub blobs: Vec<Vec<u8>>,
    pub file_digest: Digest,
}

/// Reads and checks a bundle.
pub fn read(path: &Path) -> Result<CheckedBundle, RegistryError> {
    let bytes = std::fs::read(path).map_err(|e| bundle_err(path, e.to_string()))?;
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| bundle_err(path, "not a sluice bundle (bad magic line)"))?;
    if rest.len() < 8 {
        return Err(bundle_err(path, "truncated before the manifest"));
    }
    let length = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")) as usize;
    let rest = &rest[8..];
    if rest.len() < length {
        return Err(bundle_err(path, "truncated inside the manifest"));
    }
    let manifest: Manifest = serde_json::from_slice(&rest[..length])
        .map_err(|e| bundle_err(path, format!("manifest: {e}")))?;
    let mut offset = length;
    let mut blobs = Vec::with_capacity(manifest.blobs.len());
    for blob in &manifest.blobs {
        let end = offset
            .checked_add(blob.size as usize)
            .filter(|end| *end <= rest.len())
            .ok_or_else(|| bundle_err(path, format!("truncated inside blob {}", blob.digest)))?;
        let data = &rest[offset..end];
        let actual = Digest::of(data);
        if actual != blob.digest {
            return Err(bundle_err(
                path,
                format!(
                    "{:?} blob {} does not match its digest (content hashes to {actual}); the file was altered or damaged",
                    blob.kind, blob.digest
                ),
            ));
        }
        blobs.push(data.to_vec());
        offset = end;
    }
    if offset != rest.len() {
        return Err(bundle_err(path, "trailing bytes after the last blob"));
    }
    if !manifest
        .blobs
        .iter()
        .any(|b| b.kind == BlobKind::Model && b.digest == manifest.model_digest)
    {
        return Err(bundle_err(
            path,
            "the manifest's model is not among its blobs",
        ));
    }
    Ok(CheckedBundle {
        manifest,
        blobs,
        file_digest: Digest::of(&bytes),
    })
}

/// Imports a bundle into `store` and `home`: blobs are checked first, then
/// written by digest, and the model is registered under its name (a model
/// already there keeps its version). Returns the manifest and the version
/// in this registry.
pub async fn import(
    store: &Store,
    home: &Path,
    path: &Path,
) -> Result<(Manifest, i64), RegistryError> {
    let CheckedBundle {
        manifest,
        blobs,
        file_digest,
    } = read(path)?;
    let artifacts = ArtifactDir::new(home);
    let io = |e: std::io::Error| bundle_err(path, e.to_string());
    std::fs::create_dir_all(artifacts.path("")).map_err(io)?;
    let lease = store
        .create_run(
            &format!("bundle-import:{}", manifest.name),
            &file_digest,
            sluice_store::DEFAULT_RUN_LEASE,
        )
        .await?;
    let _heartbeat = store.keep_alive(&lease, |_| {});
    let run = lease.run();
    let mut files = Vec::new();
    for (blob, data) in manifest.blobs.iter().zip(&blobs) {
        let (kind, extension) = match blob.kind {
            BlobKind::Plugin => {
                let target = home
                    .join("plugins")
                    .join(format!("{}.wasm", blob.digest.hex()));
                // a damaged file already under this digest is replaced
                let intact = std::fs::read(&target).is_ok_and(|b| Digest::of(&b) == blob.digest);
                if !intact {
                    let dir = target.parent().expect("under home");
                    std::fs::create_dir_all(dir).map_err(io)?;
                    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
                    temp.write_all(data).map_err(io)?;
                    temp.persist(&target).map_err(|e| io(e.error))?;
                }
                continue;
            }
            BlobKind::Model => (ArtifactKind::Model, "model"),
            BlobKind::State => (ArtifactKind::State, "state"),
        };
        // a damaged file already under this digest is replaced
        let stored = write_blob(&artifacts, data, extension).map_err(io)?;
        files.push(NewArtifact {
            digest: stored.digest,
            kind,
            path: stored.file_name,
            rows: None,
            bytes: stored.bytes as i64,
            created_by_run: run,
            created_by_step: "bundle-import".into(),
            plugin_digest: None,
            params: serde_json::json!({}),
            inputs: Vec::new(),
        });
    }
    for file in &files {
        store.put_artifact(file).await?;
    }
    let (version, created) = store
        .register_model(
            &NewModelVersion {
                name: manifest.name.clone(),
                model_digest: manifest.model_digest,
                run_id: run,
                step: "bundle-import".into(),
                algorithm: manifest.algorithm.clone(),
                params: manifest.params.clone(),
                metrics: to_json(&manifest.name, "metrics", &manifest.metrics)?,
                lineage: to_json(&manifest.name, "lineage", &manifest.lineage)?,
                gate: manifest.gate.clone(),
            },
            Some(&lease),
        )
        .await?;
    store.finish_run(&lease, RunStatus::Succeeded, None).await?;
    store
        .audit(
            "sluice",
            "bundle.import",
            &manifest.name,
            &serde_json::json!({
                "file": path.display().to_string(),
                "exported_version": manifest.version,
                "version": version,
                "created": created,
            }),
        )
        .await?;
    Ok((manifest, version))
}
