//! What a file looks like to `stat`: size, modification and change times
//! (nanoseconds), inode and device. A digest recorded with a fingerprint
//! stands for the file's content for as long as a fresh `stat` gives the
//! same fingerprint, so an unchanged source or cached artifact is not
//! hashed again on every run (`--verify` hashes regardless).
//!
//! Why these fields: any write changes the modification time, and any
//! write, `touch`, `chmod` or rename changes the change time (ctime), which
//! no unprivileged process can set back; a file replaced by another
//! (rename over, restore from a copy) has a new inode. What remains is the
//! timestamp granularity: on Linux 6.13+ (multigrain timestamps: ext4, xfs,
//! btrfs, tmpfs) a change made after a `stat` always gets a later ctime; on
//! older kernels a same-size rewrite within the same clock tick (a few ms)
//! as the `stat` that recorded the fingerprint could go unseen. See
//! docs/SECURITY.md (artifacts).

use std::path::Path;

/// A file's identity and version as `stat` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileFingerprint {
    pub bytes: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub inode: u64,
    pub device: u64,
}

impl FileFingerprint {
    /// `stat`s `path` (following symlinks). `None` on systems without
    /// inodes and change times: there, every file is hashed.
    pub fn of_file(path: &Path) -> std::io::Result<Option<FileFingerprint>> {
        Ok(Self::of_metadata(&std::fs::metadata(path)?))
    }

    #[cfg(unix)]
    pub fn of_metadata(metadata: &std::fs::Metadata) -> Option<FileFingerprint> {
        use std::os::unix::fs::MetadataExt;
        let nanos = |secs: i64, nsec: i64| secs.saturating_mul(1_000_000_000).saturating_add(nsec);
        Some(FileFingerprint {
            bytes: metadata.size(),
            mtime_ns: nanos(metadata.mtime(), metadata.mtime_nsec()),
            ctime_ns: nanos(metadata.ctime(), metadata.ctime_nsec()),
            inode: metadata.ino(),
            device: metadata.dev(),
        })
    }

    #[cfg(not(unix))]
    pub fn of_metadata(_metadata: &std::fs::Metadata) -> Option<FileFingerprint> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn a_rewrite_a_touch_or_a_replacement_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, b"a,b\n1,2\n").unwrap();
        let first = FileFingerprint::of_file(&path).unwrap().unwrap();
        assert_eq!(FileFingerprint::of_file(&path).unwrap().unwrap(), first);

        // same bytes, same size, mtime set back to what it was: ctime moved
        // (past one coarse clock tick, for kernels without multigrain times)
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, b"a,b\n1,2\n").unwrap();
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_nanos(first.mtime_ns as u64);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let rewritten = FileFingerprint::of_file(&path).unwrap().unwrap();
        assert_eq!(rewritten.mtime_ns, first.mtime_ns);
        assert_ne!(rewritten, first, "the change time tells");

        // replaced by another file of the same size
        let other = dir.path().join("g.csv");
        std::fs::write(&other, b"a,b\n3,4\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let replaced = FileFingerprint::of_file(&path).unwrap().unwrap();
        assert_ne!(replaced.inode, rewritten.inode);
    }
}
