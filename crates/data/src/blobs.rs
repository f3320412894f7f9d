//! Content-addressed blobs: the artifact directory, where every table,
//! fitted state and model lives under the SHA-256 of its bytes. One hashing
//! path ([`Digest`]'s) serves files, spooled writes and in-memory bytes.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sluice_core::{Digest, DigestWriter};

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

    /// Moves a finished file into place under its content digest.
    pub fn adopt(&self, temp: &Path, extension: &str) -> std::io::Result<(String, String, u64)> {
        let digest = hash_file(temp)?;
        let name = format!("{}.{extension}", digest.trim_start_matches("sha256:"));
        let bytes = std::fs::metadata(temp)?.len();
        let target = self.root.join(&name);
        if target.exists() {
            std::fs::remove_file(temp)?;
        } else {
            std::fs::rename(temp, &target)?;
        }
        Ok((digest, name, bytes))
    }
}

/// Tables up to this size are assembled in memory before touching disk.
const SPOOL_LIMIT: usize = 32 << 20;

/// Where an artifact's bytes go while it is written: hashed as they come,
/// kept in memory while small, spilled to a temporary file beyond
/// [`SPOOL_LIMIT`].
pub struct Spool {
    root: PathBuf,
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
                    let mut file = tempfile::NamedTempFile::new_in(&self.root)?;
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
            root: artifacts.root.clone(),
            hasher: DigestWriter::new(),
            memory: Vec::new(),
            file: None,
            bytes: 0,
        }
    }

    /// Puts the content in place under its digest. Content that is already
    /// there is not written again (an unchanged step re-run with
    /// `--no-cache` touches no artifact file).
    pub fn finish(
        self,
        artifacts: &ArtifactDir,
        extension: &str,
    ) -> std::io::Result<(String, String, u64)> {
        let hex = self.hasher.finish().hex();
        let name = format!("{hex}.{extension}");
        let target = artifacts.path(&name);
        if !target.exists() {
            let file = match self.file {
                Some(file) => file,
                None => {
                    let mut file = tempfile::NamedTempFile::new_in(&artifacts.root)?;
                    file.write_all(&self.memory)?;
                    file
                }
            };
            file.persist(&target).map_err(|e| e.error)?;
        }
        Ok((format!("sha256:{hex}"), name, self.bytes))
    }
}

pub fn hash_file(path: &Path) -> std::io::Result<String> {
    Ok(Digest::of_file(path)?.to_string())
}
