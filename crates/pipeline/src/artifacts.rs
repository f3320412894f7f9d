//! Keeping the artifact directory honest: finding an artifact by the short
//! digest people copy from `sluice run` / `sluice show`, verifying every
//! recorded artifact, and removing files nothing refers to (`sluice gc`).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sluice_core::{DIGEST_PREFIX, Digest, DigestError};
use sluice_data::blobs::{ArtifactDir, BlobProblem, STALE_TEMP_AGE, StoredBlob};
use sluice_store::{ArtifactRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ArtifactsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    BadDigest(#[from] DigestError),
    #[error("no artifact starts with `{prefix}` in {store}")]
    Unknown { prefix: String, store: String },
    #[error("`{prefix}` is ambiguous: it starts {} (type more digits)", candidates.join(", "))]
    Ambiguous {
        prefix: String,
        /// The first few matching digests.
        candidates: Vec<String>,
    },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactsError + '_ {
    move |e| ArtifactsError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// How many candidates an ambiguous prefix lists.
const AMBIGUOUS_SHOWN: usize = 5;

/// The one artifact whose digest starts with `typed` (any number of hex
/// digits, with or without `sha256:`, any case).
pub async fn find_artifact(store: &Store, typed: &str) -> Result<ArtifactRecord, ArtifactsError> {
    let prefix = Digest::hex_prefix(typed)?;
    let mut found = store
        .artifacts_by_prefix(&prefix, AMBIGUOUS_SHOWN as i64 + 1)
        .await?;
    match found.len() {
        0 => Err(ArtifactsError::Unknown {
            prefix: format!("{DIGEST_PREFIX}{prefix}"),
            store: store.url_for_display(),
        }),
        1 => {
            let mut record = found.pop().expect("one");
            // with its lineage, as `Store::artifact` gives it
            if let Some(full) = store.artifact(&record.digest).await? {
                record = full;
            }
            Ok(record)
        }
        n => {
            let mut candidates: Vec<String> = found
                .iter()
                .take(AMBIGUOUS_SHOWN)
                .map(|a| format!("{} ({})", a.digest.short(), a.kind))
                .collect();
            if n > AMBIGUOUS_SHOWN {
                candidates.push("…".into());
            }
            Err(ArtifactsError::Ambiguous {
                prefix: format!("{DIGEST_PREFIX}{prefix}"),
                candidates,
            })
        }
    }
}

/// The blob a store record describes.
pub fn stored_blob(record: &ArtifactRecord) -> StoredBlob {
    StoredBlob {
        digest: record.digest,
        file_name: record.path.clone(),
        bytes: u64::try_from(record.bytes).unwrap_or(u64::MAX),
    }
}

/// What [`verify_artifacts`] found.
#[derive(Debug, Default)]
pub struct Verification {
    pub checked: usize,
    /// Recorded artifacts whose file is missing, the wrong size or the
    /// wrong content. Damaged files were removed, so the steps that made
    /// them run again on the next run.
    pub problems: Vec<(ArtifactRecord, BlobProblem)>,
}

/// Hashes every recorded artifact's file and removes those whose content
/// is not what their name says (a later run recomputes them; they could
/// never be served correctly). Missing files are reported, not an error.
pub async fn verify_artifacts(store: &Store, home: &Path) -> Result<Verification, ArtifactsError> {
    let records = store.all_artifacts().await?;
    let artifacts = ArtifactDir::new(home);
    let root = artifacts.root().to_path_buf();
    // hashing is blocking file work: off the async threads
    tokio::task::spawn_blocking(move || {
        let mut verification = Verification::default();
        for record in records {
            let blob = stored_blob(&record);
            let path = artifacts.path(&blob.file_name);
            let problem = artifacts.check_fully(&blob).map_err(io_error(&path))?;
            verification.checked += 1;
            if let Some(problem) = problem {
                if problem != BlobProblem::Missing {
                    artifacts.remove(&blob.file_name).map_err(io_error(&path))?;
                }
                tracing::warn!(digest = %record.digest, file = %path.display(), %problem, "artifact damaged");
                verification.problems.push((record, problem));
            }
        }
        Ok(verification)
    })
    .await
    .map_err(|e| ArtifactsError::Io {
        path: root,
        message: format!("verification thread failed: {e}"),
    })?
}

/// What [`collect_garbage`] removed (or, dry, would remove).
#[derive(Debug, Default)]
pub struct Collection {
    /// Artifact files nothing in the store refers to.
    pub unreferenced: Vec<PathBuf>,
    /// Temporary files of processes that are gone.
    pub temporaries: Vec<PathBuf>,
    pub bytes: u64,
    /// Artifact files kept (referenced, or too recent to judge).
    pub kept: usize,
}

/// Removes artifact files that no run, cache entry, model version or
/// lineage refers to, and temporaries left by killed processes. A file
/// younger than [`STALE_TEMP_AGE`] is kept even if unreferenced: a live
/// run records its artifacts only after writing them. Files whose names
/// are not `<digest>.<extension>` are not sluice's and are left alone.
pub async fn collect_garbage(
    store: &Store,
    home: &Path,
    dry_run: bool,
) -> Result<Collection, ArtifactsError> {
    let referenced = store.referenced_digests().await?;
    let artifacts = ArtifactDir::new(home);
    let root = artifacts.root().to_path_buf();
    let mut collection = Collection::default();
    let now = SystemTime::now();
    for name in artifacts.list().map_err(io_error(&root))? {
        let Some(digest) = name
            .split_once('.')
            .and_then(|(hex, _)| Digest::from_hex(hex).ok())
        else {
            continue;
        };
        let path = artifacts.path(&name);
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue; // removed meanwhile
        };
        let age = metadata
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if referenced.contains(&digest) || age < STALE_TEMP_AGE {
            collection.kept += 1;
            continue;
        }
        if !dry_run {
            artifacts.remove(&name).map_err(io_error(&path))?;
            tracing::info!(file = %path.display(), "unreferenced artifact removed");
        }
        collection.bytes += metadata.len();
        collection.unreferenced.push(path);
    }
    collection.temporaries = artifacts
        .sweep_temporaries(dry_run)
        .map_err(io_error(&root))?;
    Ok(collection)
}
