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
        write!(f, "{DIGEST_PREFIX}{}", self.hex())
    }
}

/// Why a text is not a digest; names the text (bounded: it may come from
/// a command line or a file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest `{text}` {reason}")]
pub struct DigestError {
    pub text: String,
    pub reason: &'static str,
}

impl DigestError {
    fn new(text: &str, reason: &'static str) -> Self {
        // echoed in messages: escaped and bounded like guest text
        DigestError {
            text: crate::text::clean_line(text, 80),
            reason,
        }
    }
}

/// The prefix every stored and printed digest carries.
pub const DIGEST_PREFIX: &str = "sha256:";

impl Digest {
    /// 64 hex digits, without the `sha256:` prefix.
    pub fn from_hex(hex_digits: &str) -> Result<Digest, DigestError> {
        if hex_digits.len() != 64 {
            return Err(DigestError::new(
                hex_digits,
                "must have 64 hex digits after `sha256:`",
            ));
        }
        let bytes = hex::decode(hex_digits)
            .map_err(|_| DigestError::new(hex_digits, "is not hexadecimal"))?;
        Ok(Digest(
            bytes.try_into().expect("64 hex digits are 32 bytes"),
        ))
    }

    /// The lowercase hex digits a (possibly partial) digest starts with,
    /// as typed by a person: with or without `sha256:`, any case. Empty
    /// or non-hex input is an error.
    pub fn hex_prefix(text: &str) -> Result<String, DigestError> {
        let digits = text.strip_prefix(DIGEST_PREFIX).unwrap_or(text);
        if digits.is_empty() {
            return Err(DigestError::new(text, "has no hex digits"));
        }
        if digits.len() > 64 {
            return Err(DigestError::new(text, "has more than 64 hex digits"));
        }
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestError::new(text, "is not hexadecimal"));
        }
        Ok(digits.to_ascii_lowercase())
    }
}

/// `sha256:<64 hex digits>` or the 64 hex digits alone.
impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, DigestError> {
        Digest::from_hex(s.strip_prefix(DIGEST_PREFIX).unwrap_or(s))
            .map_err(|e| DigestError::new(s, e.reason))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A digest is stored as its text (`sha256:…`) in a TEXT column, so
/// existing stores keep working; decoding a column that holds anything
/// else is an error naming the text.
#[cfg(feature = "sqlx")]
mod sql {
    use super::Digest;
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::{Database, Decode, Encode, Type};

    impl<DB: Database> Type<DB> for Digest
    where
        String: Type<DB>,
    {
        fn type_info() -> DB::TypeInfo {
            <String as Type<DB>>::type_info()
        }

        fn compatible(ty: &DB::TypeInfo) -> bool {
            <String as Type<DB>>::compatible(ty)
        }
    }

    impl<'q, DB: Database> Encode<'q, DB> for Digest
    where
        String: Encode<'q, DB>,
    {
        fn encode_by_ref(
            &self,
            buf: &mut <DB as Database>::ArgumentBuffer,
        ) -> Result<IsNull, BoxDynError> {
            self.to_string().encode(buf)
        }
    }

    impl<'r, DB: Database> Decode<'r, DB> for Digest
    where
        String: Decode<'r, DB>,
    {
        fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
            Ok(<String as Decode<'r, DB>>::decode(value)?.parse::<Digest>()?)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn parses_with_and_without_the_prefix_and_prints_with_it() {
        let with: Digest = format!("sha256:{HEX}").parse().unwrap();
        let without: Digest = HEX.parse().unwrap();
        assert_eq!(with, without);
        assert_eq!(with, Digest::from_hex(HEX).unwrap());
        assert_eq!(with.to_string(), format!("sha256:{HEX}"));
        let json = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), with);
    }

    #[test]
    fn refuses_short_long_and_non_hex_text_naming_it() {
        for bad in [
            "sha256:abc",
            "xyz",
            &format!("{HEX}00"),
            &format!("sha256:{}", "g".repeat(64)),
        ] {
            let e = bad.parse::<Digest>().unwrap_err();
            assert!(e.to_string().contains(&bad[..3]), "{e}");
        }
        let long = "\x1b[31m".repeat(100);
        let e = long.parse::<Digest>().unwrap_err().to_string();
        assert!(e.len() < 200 && !e.contains('\x1b'), "{e}");
    }

    #[test]
    fn hex_prefix_accepts_partial_digests_as_printed() {
        assert_eq!(
            Digest::hex_prefix("sha256:00112233AABB").unwrap(),
            "00112233aabb"
        );
        assert_eq!(Digest::hex_prefix("0011").unwrap(), "0011");
        assert!(Digest::hex_prefix("sha256:").is_err());
        assert!(Digest::hex_prefix("00 11").is_err());
        assert!(Digest::hex_prefix("%").is_err());
    }
}
