-- File fingerprints, SQLite flavour. Keep in step with
-- ../postgres/0007_file_fingerprints.sql.

-- The digest of a file (a pipeline's source, an artifact) as of a `stat`:
-- while a fresh `stat` of the path gives the same size, modification and
-- change times, inode and device, the file is not hashed again
-- (sluice_data::FileFingerprint; `sluice run --verify` hashes regardless).
-- Unsigned values (inode, device, size) are stored by their bit pattern.
CREATE TABLE file_fingerprints (
    path        TEXT   PRIMARY KEY,
    bytes       BIGINT NOT NULL,
    mtime_ns    BIGINT NOT NULL,
    ctime_ns    BIGINT NOT NULL,
    inode       BIGINT NOT NULL,
    device      BIGINT NOT NULL,
    digest      TEXT   NOT NULL,
    recorded_at BIGINT NOT NULL
);
