//! Knowing a file's digest without reading it: a source or artifact whose
//! `stat` fingerprint (size, modification and change times, inode, device;
//! [`FileFingerprint`]) matches the one the store recorded with a digest
//! has that content. A file not known that way is hashed, and its
//! fingerprint recorded if it did not change while being hashed. This is
//! what makes a cached re-run cost the same whatever the size of its input
//! (issue #10's rule was a full hash on each process's first use); `--verify`
//! hashes everything regardless. The trade-off is in docs/SECURITY.md.

use std::path::{Path, PathBuf};

use sluice_core::Digest;
use sluice_data::FileFingerprint;
use sluice_data::blobs::{ArtifactDir, BlobProblem, StoredBlob};
use sluice_store::{FileRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FingerprintError + '_ {
    move |source| FingerprintError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The key a file's fingerprint is recorded under: its absolute path
/// (lexically; no symlink resolution, which would cost a syscall per
/// component).
fn key(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// The record of a file as it is now, for a digest the caller knows (it
/// just wrote the file, or just hashed it). `None` where the system gives
/// no fingerprint or the file is gone.
pub fn record(path: &Path, digest: Digest) -> Option<FileRecord> {
    let fingerprint = FileFingerprint::of_file(path).ok().flatten()?;
    Some(FileRecord {
        path: key(path),
        fingerprint,
        digest,
    })
}

/// The digest of the file at `path`: recorded with its current fingerprint,
/// or hashed (off the async threads) and then recorded. With `verify`, it
/// is always hashed.
pub async fn file_digest(
    store: &Store,
    path: &Path,
    verify: bool,
) -> Result<Digest, FingerprintError> {
    let before = FileFingerprint::of_file(path).map_err(io_error(path))?;
    if let Some(fingerprint) = &before
        && !verify
        && let Some(digest) = store.fingerprinted_digest(&key(path), fingerprint).await?
    {
        return Ok(digest);
    }
    let file = path.to_path_buf();
    let digest = tokio::task::spawn_blocking(move || Digest::of_file(&file))
        .await
        .map_err(|e| io_error(path)(std::io::Error::other(e)))?
        .map_err(io_error(path))?;
    remember_if_unchanged(store, path, before, digest).await?;
    Ok(digest)
}

/// Whether the artifact file of `blob` is there with its content: its
/// recorded fingerprint, or else its size and a full hash (off the async
/// threads), after which its fingerprint is recorded. `None` when intact.
pub async fn check_artifact(
    store: &Store,
    artifacts: &ArtifactDir,
    blob: &StoredBlob,
) -> Result<Option<BlobProblem>, FingerprintError> {
    let path = artifacts.path(&blob.file_name);
    let before = match FileFingerprint::of_file(&path) {
        Ok(fingerprint) => fingerprint,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(BlobProblem::Missing));
        }
        Err(e) => return Err(io_error(&path)(e)),
    };
    if let Some(fingerprint) = &before
        && fingerprint.bytes == blob.bytes
        && store.fingerprinted_digest(&key(&path), fingerprint).await? == Some(blob.digest)
    {
        return Ok(None);
    }
    let (dir, checked) = (artifacts.clone(), blob.clone());
    let problem = tokio::task::spawn_blocking(move || dir.check_fully(&checked))
        .await
        .map_err(|e| io_error(&path)(std::io::Error::other(e)))?
        .map_err(io_error(&path))?;
    if problem.is_none() {
        remember_if_unchanged(store, &path, before, blob.digest).await?;
    }
    Ok(problem)
}

/// Records `digest` for the file if its fingerprint is still `before`
/// (taken before it was hashed): a file that changed meanwhile is left to
/// be hashed again next time.
async fn remember_if_unchanged(
    store: &Store,
    path: &Path,
    before: Option<FileFingerprint>,
    digest: Digest,
) -> Result<(), FingerprintError> {
    let Some(now) = record(path, digest) else {
        return Ok(());
    };
    if before == Some(now.fingerprint) {
        store.record_fingerprints(&[now]).await?;
    }
    Ok(())
}
