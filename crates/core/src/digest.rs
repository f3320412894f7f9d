//! Plugin identity: the sha256 of a component's bytes.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// First 12 hex digits, for tables and logs.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl FromStr for Digest {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let hex_part = s
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("digest `{s}` must start with `sha256:`"))?;
        let bytes =
            hex::decode(hex_part).map_err(|_| format!("digest `{s}` is not hexadecimal"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("digest `{s}` must have 64 hex digits"))?;
        Ok(Digest(bytes))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Streaming SHA-256: everything written is hashed; `finish` gives the
/// [`Digest`]. The one hashing path for files, spooled artifacts and keys.
#[derive(Clone, Default)]
pub struct DigestWriter(Sha256);

impl DigestWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: impl AsRef<[u8]>) {
        self.0.update(bytes.as_ref());
    }

    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

impl std::io::Write for DigestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Digest {
    /// Hash of a file's bytes, read in 64 KiB blocks.
    pub fn of_file(path: &std::path::Path) -> std::io::Result<Digest> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = DigestWriter::new();
        std::io::copy(&mut file, &mut hasher)?;
        Ok(hasher.finish())
    }
}
