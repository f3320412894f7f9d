//! Content-addressed blobs: the artifact directory, where every table,
//! fitted state and model lives under the SHA-256 of its bytes. One hashing
//! path ([`Digest`]'s) serves files, spooled writes and in-memory bytes.
//!
//! A file is trusted only after it was checked: its size and digest on the
//! first use in a process (remembered for the process with its
//! [`FileFingerprint`], so a file changed since is hashed again); across
//! processes the pipeline keeps fingerprints in the store. A file found wrong is rewritten (temporary
//! file + rename over it), never served. Temporary files carry the writing
//! process's id and a timestamp so that [`ArtifactDir::sweep_temporaries`]
//! removes those a killed process left behind, never those of a live one.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::FileFingerprint;
use sluice_core::{Digest, DigestWriter};

/// A file in the artifact directory: what it holds (its digest), its name
/// there and its size.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredBlob {
    pub digest: Digest,
    /// Relative to the artifact directory: `<hex>.<extension>`.
    pub file_name: String,
    pub bytes: u64,
}

impl StoredBlob {
    /// The name a blob of `digest` gets: `<hex>.<extension>`.
    pub fn file_name_for(digest: &Digest, extension: &str) -> String {
        format!("{}.{extension}", digest.hex())
    }
}

/// What is wrong with an artifact file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobProblem {
    Missing,
    /// Size on disk differs from the recorded size.
    WrongSize {
        found: u64,
    },
    /// The content hashes to another digest.
    WrongDigest {
        found: Digest,
    },
}

impl std::fmt::Display for BlobProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobProblem::Missing => f.write_str("missing"),
            BlobProblem::WrongSize { found } => write!(f, "{found} bytes on disk"),
            BlobProblem::WrongDigest { found } => write!(f, "content hashes to {found}"),
        }
    }
}

/// Files this process has checked, with their fingerprint then (size,
/// times including the change time, inode): a file is hashed on its first
/// use per process, and again only if its fingerprint changed.
static VERIFIED: LazyLock<Mutex<HashSet<(PathBuf, FileFingerprint)>>> =
    LazyLock::new(Default::default);

/// Temporary files start with this; the rest is `<pid>-<unix ms>-<random>`.
const TEMP_PREFIX: &str = ".tmp-";
/// A temporary file untouched this long whose process is gone is swept.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(15 * 60);
/// Temporary files whose name carries no process id (written by older
/// versions, or by other tools) are swept only after this long.
const STALE_FOREIGN_TEMP_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Content-addressed artifact files under `<home>/artifacts`.
#[derive(Debug, Clone)]
pub struct ArtifactDir {
    root: PathBuf,
}

impl ArtifactDir {
    pub fn new(home: &Path) -> Self {
        ArtifactDir {
            root: home.join("artifacts"),
        }
    }

    /// The directory itself (temporary files are made inside it, so a
    /// finished one is renamed into place, never copied).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// A new temporary file in the directory, named after this process
    /// and the time (see [`ArtifactDir::sweep_temporaries`]).
    pub fn temp_file(&self) -> std::io::Result<tempfile::NamedTempFile> {
        std::fs::create_dir_all(&self.root)?;
        let prefix = format!("{TEMP_PREFIX}{}-{}-", std::process::id(), unix_ms());
        tempfile::Builder::new()
            .prefix(&prefix)
            .tempfile_in(&self.root)
    }

    /// Moves a finished file into place under its content digest. An
    /// existing file of that name is kept only if it checks out;
    /// otherwise it is replaced (rename over it).
    pub fn adopt(&self, temp: &Path, extension: &str) -> std::io::Result<StoredBlob> {
        let digest = Digest::of_file(temp)?;
        let bytes = std::fs::metadata(temp)?.len();
        let blob = StoredBlob {
            file_name: StoredBlob::file_name_for(&digest, extension),
            digest,
            bytes,
        };
        if self.check(&blob)?.is_none() {
            std::fs::remove_file(temp)?;
            self.refresh(&blob)?;
        } else {
            std::fs::rename(temp, self.path(&blob.file_name))?;
            self.remember(&blob);
        }
        Ok(blob)
    }

    /// Checks `blob`'s file: its size always, its digest unless this
    /// process checked the same file before. `None` when it is intact.
    pub fn check(&self, blob: &StoredBlob) -> std::io::Result<Option<BlobProblem>> {
        self.check_with(blob, false)
    }

    /// Like [`ArtifactDir::check`], hashing the file even if this process
    /// checked it before.
    pub fn check_fully(&self, blob: &StoredBlob) -> std::io::Result<Option<BlobProblem>> {
        self.check_with(blob, true)
    }

    fn check_with(
        &self,
        blob: &StoredBlob,
        always_hash: bool,
    ) -> std::io::Result<Option<BlobProblem>> {
        let path = self.path(&blob.file_name);
        let metadata = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(BlobProblem::Missing));
            }
            Err(e) => return Err(e),
        };
        if metadata.len() != blob.bytes {
            return Ok(Some(BlobProblem::WrongSize {
                found: metadata.len(),
            }));
        }
        let key = FileFingerprint::of_metadata(&metadata).map(|f| (path.clone(), f));
        if !always_hash && key.as_ref().is_some_and(|k| verified().contains(k)) {
            return Ok(None);
        }
        let found = Digest::of_file(&path)?;
        if found != blob.digest {
            tracing::warn!(file = %path.display(), expected = %blob.digest, %found, "artifact file is corrupt");
            return Ok(Some(BlobProblem::WrongDigest { found }));
        }
        if let Some(key) = key {
            verified().insert(key);
        }
        Ok(None)
    }

    /// Marks an intact file that is being reused as just written (its
    /// modification time), so that a `sluice gc` meanwhile does not take
    /// it for garbage before the run records it.
    fn refresh(&self, blob: &StoredBlob) -> std::io::Result<()> {
        std::fs::File::open(self.path(&blob.file_name))?.set_modified(SystemTime::now())?;
        self.remember(blob);
        Ok(())
    }

    /// Notes a file this process just wrote as checked.
    fn remember(&self, blob: &StoredBlob) {
        let path = self.path(&blob.file_name);
        if let Ok(Some(fingerprint)) = FileFingerprint::of_file(&path) {
            verified().insert((path, fingerprint));
        }
    }

    /// Removes `file_name` (a corrupt or unreferenced blob); a file that
    /// is already gone is not an error.
    pub fn remove(&self, file_name: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(file_name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every finished blob in the directory (file names, temporaries
    /// excluded), sorted.
    pub fn list(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in read_dir_if_exists(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.file_type()?.is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes temporary files left by processes that are gone: older than
    /// [`STALE_TEMP_AGE`] and written by a process id that no longer runs
    /// (names without one: older than a day). Returns the removed paths.
    /// With `dry_run`, only says which.
    pub fn sweep_temporaries(&self, dry_run: bool) -> std::io::Result<Vec<PathBuf>> {
        let now = SystemTime::now();
        let mut swept = Vec::new();
        for entry in read_dir_if_exists(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(writer) = temp_writer(&name) else {
                continue;
            };
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue; // vanished meanwhile: its writer renamed it
            };
            let age = now.duration_since(modified).unwrap_or_default();
            let stale = match writer {
                Some(pid) => age > STALE_TEMP_AGE && !process_is_alive(pid),
                None => age > STALE_FOREIGN_TEMP_AGE,
            };
            if !stale {
                continue;
            }
            let path = entry.path();
            if !dry_run {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => tracing::info!(file = %path.display(), "stale temporary file removed"),
                }
            }
            swept.push(path);
        }
        Ok(swept)
    }
}

fn verified() -> std::sync::MutexGuard<'static, HashSet<(PathBuf, FileFingerprint)>> {
    // the set holds no invariant a panic could break
    VERIFIED.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_dir_if_exists(dir: &Path) -> std::io::Result<Vec<std::io::Result<std::fs::DirEntry>>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Whether `name` is a temporary file, and if so the id of the process
/// that writes it when the name says (`.tmp-<pid>-…`; `.query-…` is what
/// SQL sources of earlier versions left). `Some(None)`: a temporary of
/// unknown writer (`.tmp…`).
fn temp_writer(name: &str) -> Option<Option<u32>> {
    let with_pid = name
        .strip_prefix(TEMP_PREFIX)
        .or_else(|| name.strip_prefix(".query-"));
    match with_pid {
        Some(rest) => Some(rest.split('-').next().and_then(|pid| pid.parse().ok())),
        None => name.starts_with(".tmp").then_some(None),
    }
}

/// Whether process `pid` exists on this machine. Without a way to tell,
/// it is assumed alive (a temporary is then kept, never wrongly removed).
fn process_is_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_root = Path::new("/proc");
    if proc_root.join("self").exists() {
        proc_root.join(pid.to_string()).exists()
    } else {
        true
    }
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Tables up to this size are assembled in memory before touching disk.
const SPOOL_LIMIT: usize = 32 << 20;

/// Where an artifact's bytes go while it is written: hashed as they come,
/// kept in memory while small, spilled to a temporary file beyond
/// [`SPOOL_LIMIT`].
pub struct Spool {
    artifacts: ArtifactDir,
    hasher: DigestWriter,
    memory: Vec<u8>,
    file: Option<tempfile::NamedTempFile>,
    bytes: u64,
}

impl std::io::Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        match &mut self.file {
            Some(file) => file.write_all(buf)?,
            None => {
                self.memory.extend_from_slice(buf);
                if self.memory.len() > SPOOL_LIMIT {
                    let mut file = self.artifacts.temp_file()?;
                    file.write_all(&self.memory)?;
                    self.memory = Vec::new();
                    self.file = Some(file);
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Spool {
    pub fn new(artifacts: &ArtifactDir) -> Spool {
        Spool {
            artifacts: artifacts.clone(),
            hasher: DigestWriter::new(),
            memory: Vec::new(),
            file: None,
            bytes: 0,
        }
    }

    /// Puts the content in place under its digest. Content that is already
    /// there intact is not written again (an unchanged step re-run with
    /// `--no-cache` touches no good artifact file); a file of that name
    /// that does not check out is replaced.
    pub fn finish(self, extension: &str) -> std::io::Result<StoredBlob> {
        let digest = self.hasher.finish();
        let blob = StoredBlob {
            file_name: StoredBlob::file_name_for(&digest, extension),
            digest,
            bytes: self.bytes,
        };
        if let Some(problem) = self.artifacts.check(&blob)? {
            if problem != BlobProblem::Missing {
                tracing::warn!(file = %blob.file_name, %problem, "rewriting a corrupt artifact file");
            }
            let file = match self.file {
                Some(file) => file,
                None => {
                    let mut file = self.artifacts.temp_file()?;
                    file.write_all(&self.memory)?;
                    file
                }
            };
            file.as_file().sync_data()?;
            // rename over: readers see the old file or the whole new one
            file.persist(self.artifacts.path(&blob.file_name))
                .map_err(|e| e.error)?;
            self.artifacts.remember(&blob);
        } else {
            self.artifacts.refresh(&blob)?;
        }
        Ok(blob)
    }
}

/// Writes `bytes` as a content-addressed blob with `extension`.
pub fn write_blob(
    artifacts: &ArtifactDir,
    bytes: &[u8],
    extension: &str,
) -> std::io::Result<StoredBlob> {
    let mut spool = Spool::new(artifacts);
    spool.write_all(bytes)?;
    spool.finish(extension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_or_altered_file_is_rewritten_and_an_intact_one_kept() {
        let home = tempfile::tempdir().unwrap();
        let dir = ArtifactDir::new(home.path());
        let blob = write_blob(&dir, b"twelve bytes", "state").unwrap();
        let path = dir.path(&blob.file_name);
        assert_eq!(dir.check(&blob).unwrap(), None);

        std::fs::write(&path, b"twelve").unwrap();
        assert_eq!(
            dir.check(&blob).unwrap(),
            Some(BlobProblem::WrongSize { found: 6 })
        );
        assert_eq!(write_blob(&dir, b"twelve bytes", "state").unwrap(), blob);
        assert_eq!(std::fs::read(&path).unwrap(), b"twelve bytes");

        // same size, other content: only the digest tells
        std::fs::write(&path, b"TWELVE BYTES").unwrap();
        assert!(matches!(
            dir.check_fully(&blob).unwrap(),
            Some(BlobProblem::WrongDigest { .. })
        ));
        write_blob(&dir, b"twelve bytes", "state").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"twelve bytes");
        assert_eq!(dir.list().unwrap(), vec![blob.file_name.clone()]);
    }

    #[test]
    fn temporaries_are_named_after_their_process() {
        let home = tempfile::tempdir().unwrap();
        let dir = ArtifactDir::new(home.path());
        let temp = dir.temp_file().unwrap();
        let name = temp.path().file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_writer(name), Some(Some(std::process::id())));
        assert_eq!(temp_writer(".query-77-3.parquet"), Some(Some(77)));
        assert_eq!(temp_writer(".tmpAbC123"), Some(None));
        assert_eq!(temp_writer("ab12.parquet"), None);
        // fresh, and its process (this one) is alive: kept
        assert!(dir.sweep_temporaries(false).unwrap().is_empty());
        assert!(temp.path().exists());
    }
}
