//! Fitted state bytes. A fitted step's state is an artifact that outlives
//! the plugin build that wrote it, so it should be small, versioned and
//! decoded defensively: [`StateWriter`] and [`StateReader`] give a
//! little-endian format with length-prefixed strings, and every decoding
//! failure is a [`StepError::InvalidInput`] saying the state is corrupt.
//!
//! Implement [`State`] for the fitted state: it writes and checks the
//! header (magic, then a version byte) and refuses trailing bytes, so the
//! step only writes and reads its fields.
//! [`testing::assert_state_round_trips`](crate::testing::assert_state_round_trips)
//! is the matching test.
//!
//! ```ignore
//! impl State for Fitted {
//!     const MAGIC: &'static [u8] = b"SHOU";
//!     const VERSION: Option<u8> = Some(1);
//!     fn write(&self, out: &mut StateWriter) {
//!         out.str(&self.column);
//!     }
//!     fn read(r: &mut StateReader<'_>) -> Result<Self, StepError> {
//!         Ok(Fitted { column: r.string()? })
//!     }
//! }
//! ```

use crate::StepError;

/// The error for state bytes that cannot be decoded.
pub fn corrupt(what: &str) -> StepError {
    StepError::InvalidInput(format!("fitted state is corrupt: {what}"))
}

/// A fitted step's state and its byte format: `MAGIC`, the `VERSION` byte
/// (if any), then what [`State::write`] writes.
pub trait State: Sized {
    /// Identifies the plugin's format (4 bytes by convention).
    const MAGIC: &'static [u8];
    /// The format version, written after the magic. `None` for a format
    /// whose magic carries its version (it has no version byte).
    const VERSION: Option<u8>;

    /// Writes the fields (the header is already written).
    fn write(&self, out: &mut StateWriter);

    /// Reads the fields [`State::write`] wrote (the header is checked).
    fn read(r: &mut StateReader<'_>) -> Result<Self, StepError>;

    /// The state bytes: header, then the fields.
    fn encode(&self) -> Vec<u8> {
        let mut out = StateWriter::new(Self::MAGIC);
        if let Some(version) = Self::VERSION {
            out.u8(version);
        }
        self.write(&mut out);
        out.finish()
    }

    /// Checks the header, reads the fields and refuses trailing bytes.
    fn decode(bytes: &[u8]) -> Result<Self, StepError> {
        let mut r = StateReader::new(bytes);
        r.expect_magic(Self::MAGIC)?;
        if let Some(version) = Self::VERSION {
            let found = r.u8()?;
            if found != version {
                return Err(corrupt(&format!(
                    "unsupported version {found} (this build reads {version})"
                )));
            }
        }
        let state = Self::read(&mut r)?;
        r.end()?;
        Ok(state)
    }
}

/// Appends little-endian values to a state buffer.
#[derive(Debug, Default, Clone)]
pub struct StateWriter {
    bytes: Vec<u8>,
}

impl StateWriter {
    /// Starts with a magic prefix identifying the plugin's format (write a
    /// version byte next).
    pub fn new(magic: &[u8]) -> Self {
        StateWriter {
            bytes: magic.to_vec(),
        }
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A u32 length, then the UTF-8 bytes.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u32(s.len() as u32);
        self.bytes.extend_from_slice(s.as_bytes());
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Bounds-checked little-endian reader over state bytes.
#[derive(Debug, Clone)]
pub struct StateReader<'a> {
    rest: &'a [u8],
}

impl<'a> StateReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        StateReader { rest: bytes }
    }

    /// Checks and skips the magic prefix (bytes shorter than it are
    /// truncated, as any other prefix of valid state).
    pub fn expect_magic(&mut self, magic: &[u8]) -> Result<(), StepError> {
        if self.take(magic.len())? == magic {
            Ok(())
        } else {
            Err(corrupt("wrong magic (not state written by this plugin)"))
        }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], StepError> {
        if self.rest.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, StepError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, StepError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self) -> Result<u64, StepError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub fn f64(&mut self) -> Result<f64, StepError> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A string written by [`StateWriter::str`].
    pub fn string(&mut self) -> Result<String, StepError> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| corrupt("a string is not UTF-8"))
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Succeeds only when every byte was read.
    pub fn end(self) -> Result<(), StepError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(corrupt("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_corruption() {
        let mut w = StateWriter::new(b"TEST");
        w.u8(1).u32(7).f64(2.5).str("né");
        let bytes = w.finish();
        let mut r = StateReader::new(&bytes);
        r.expect_magic(b"TEST").unwrap();
        assert_eq!(
            (r.u8().unwrap(), r.u32().unwrap(), r.f64().unwrap()),
            (1, 7, 2.5)
        );
        assert_eq!(r.string().unwrap(), "né");
        r.end().unwrap();
        let mut short = StateReader::new(&bytes[..6]);
        short.expect_magic(b"TEST").unwrap();
        assert!(short.u32().unwrap_err().to_string().contains("truncated"));
        assert!(
            StateReader::new(b"TE")
                .expect_magic(b"TEST")
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        assert!(
            StateReader::new(b"NOPE")
                .expect_magic(b"TEST")
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Fitted {
        column: String,
        scale: f64,
    }

    impl State for Fitted {
        const MAGIC: &'static [u8] = b"TEST";
        const VERSION: Option<u8> = Some(3);
        fn write(&self, out: &mut StateWriter) {
            out.str(&self.column).f64(self.scale);
        }
        fn read(r: &mut StateReader<'_>) -> Result<Self, StepError> {
            Ok(Fitted {
                column: r.string()?,
                scale: r.f64()?,
            })
        }
    }

    #[test]
    fn state_writes_and_checks_its_header() {
        let state = Fitted {
            column: "x".into(),
            scale: 2.0,
        };
        let bytes = crate::testing::assert_state_round_trips(&state);
        assert_eq!(&bytes[..5], b"TEST\x03");
        assert_eq!(bytes.len(), 5 + 4 + 1 + 8);
    }
}
