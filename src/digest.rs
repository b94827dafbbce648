//! Content digests as defined by the OCI image spec
//! (<https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests>):
//! a validated [`Digest`] newtype, an incremental [`Hasher`], and a [`VerifyingReader`]
//! that checks size and digest while data streams through it.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};

/// Errors from parsing or checking digests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not `algorithm:hex` with a supported algorithm and well-formed hex.
    #[error("invalid digest {input:?}: {reason}")]
    Parse {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The content hashed to a different digest than the descriptor promised.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The digest the descriptor names.
        expected: Digest,
        /// The digest of the bytes actually read.
        actual: Digest,
    },
    /// The content has a different length than the descriptor promised.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of the blob being read.
        digest: Digest,
        /// The size the descriptor names.
        expected: u64,
        /// The number of bytes actually seen (at least this many when too long).
        actual: u64,
    },
}

/// A hash algorithm registered by the OCI image spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the default everywhere.
    Sha256,
    /// SHA-512, accepted when reading.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings and blob paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest such as `sha256:4c3f...`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(Algorithm::Sha256);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The hash algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding of the hash.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// `sha256:` followed by the first 12 hex characters, for tables and messages.
    pub fn short(&self) -> String {
        format!("{}:{}", self.algorithm.as_str(), &self.hex[..12])
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| Error::Parse {
            input: input.to_owned(),
            reason,
        };
        let (algorithm, hex) = input
            .split_once(':')
            .ok_or_else(|| fail("expected ALGORITHM:HEX"))?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => {
                return Err(fail(
                    "unsupported algorithm (sha256 and sha512 are supported)",
                ));
            }
        };
        if hex.len() != algorithm.hex_len() {
            return Err(fail("wrong hex length for the algorithm"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(fail("the hash must be lowercase hex"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hash for one [`Algorithm`].
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }
}

/// A hasher is a writer that only hashes: `layout::copy(&mut file, &mut hasher)`.
impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Wraps a reader of a blob and fails the read that reaches end of input when the bytes
/// do not match the expected digest and size, or as soon as more bytes than expected arrive.
///
/// The error is an [`io::Error`] of kind `InvalidData` whose inner error is an [`Error`];
/// use [`verification_error`] to get it back.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    expected_size: u64,
    seen: u64,
}

impl<R: Read> VerifyingReader<R> {
    /// Verifies `inner` against `expected` and `expected_size`.
    pub fn new(inner: R, expected: Digest, expected_size: u64) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Hasher::new(expected.algorithm())),
            expected,
            expected_size,
            seen: 0,
        }
    }

    fn check_end(&mut self) -> io::Result<()> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        if self.seen != self.expected_size {
            return Err(invalid(Error::SizeMismatch {
                digest: self.expected.clone(),
                expected: self.expected_size,
                actual: self.seen,
            }));
        }
        let actual = hasher.finish();
        if actual != self.expected {
            return Err(invalid(Error::Mismatch {
                expected: self.expected.clone(),
                actual,
            }));
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check_end()?;
            return Ok(0);
        }
        self.seen += n as u64;
        if self.seen > self.expected_size {
            return Err(invalid(Error::SizeMismatch {
                digest: self.expected.clone(),
                expected: self.expected_size,
                actual: self.seen,
            }));
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

fn invalid(error: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// Recovers the digest [`Error`] a [`VerifyingReader`] put into an [`io::Error`], if any.
pub fn verification_error(error: &io::Error) -> Option<&Error> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
}

/// What identifies one version of a file's content: size, modification and change time
/// (to the nanosecond), inode and device. A file rewritten in place, even to the same size,
/// gets another stamp; so does a file replaced by a rename.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    text: String,
    precise: bool,
}

impl Stamp {
    /// The stamp of a file's metadata (on non-Unix systems, only its size).
    pub fn of(metadata: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                text: format!(
                    "{}:{}:{}:{}.{}:{}.{}",
                    metadata.dev(),
                    metadata.ino(),
                    metadata.len(),
                    metadata.mtime(),
                    metadata.mtime_nsec(),
                    metadata.ctime(),
                    metadata.ctime_nsec(),
                ),
                precise: true,
            }
        }
        #[cfg(not(unix))]
        {
            Stamp {
                text: metadata.len().to_string(),
                precise: false,
            }
        }
    }

    /// The stamp of the file at `path` now.
    ///
    /// # Errors
    /// I/O errors naming the path.
    pub fn read(path: &std::path::Path) -> io::Result<Stamp> {
        Ok(Stamp::of(&fs_err::metadata(path)?))
    }

    /// Whether the stamp changes with every content change (not only with the size).
    pub fn is_precise(&self) -> bool {
        self.precise
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_displays_round_trip() {
        let digest: Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(digest.to_string(), EMPTY_SHA256);
        assert_eq!(digest.algorithm(), Algorithm::Sha256);
        assert_eq!(digest.short(), "sha256:e3b0c44298fc");
        assert_eq!(Digest::sha256_of(b""), digest);
    }

    #[test]
    fn refuses_malformed_digests() {
        let cases = [
            ("", "expected ALGORITHM:HEX"),
            ("sha256", "expected ALGORITHM:HEX"),
            ("md5:abcd", "unsupported algorithm"),
            ("sha256:abcd", "wrong hex length"),
            (
                &EMPTY_SHA256.to_uppercase().replace("SHA256", "sha256"),
                "lowercase hex",
            ),
            (&EMPTY_SHA256.replace('e', "g"), "lowercase hex"),
        ];
        for (input, reason) in cases {
            let error = input.parse::<Digest>().unwrap_err().to_string();
            assert!(error.contains(reason), "{input:?}: {error}");
        }
    }

    #[test]
    fn verifying_reader_accepts_matching_content() {
        let data = b"hello model".to_vec();
        let digest = Digest::sha256_of(&data);
        let mut out = Vec::new();
        VerifyingReader::new(&data[..], digest, data.len() as u64)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn verifying_reader_reports_each_kind_of_corruption() {
        let data = b"hello model";
        let digest = Digest::sha256_of(data);
        let read_all = |bytes: &[u8], size: u64| {
            let mut sink = Vec::new();
            VerifyingReader::new(bytes, digest.clone(), size)
                .read_to_end(&mut sink)
                .unwrap_err()
        };
        let flipped = read_all(b"hellO model", 11);
        assert!(matches!(
            verification_error(&flipped),
            Some(Error::Mismatch { expected, .. }) if *expected == digest
        ));
        let truncated = read_all(b"hello", 11);
        assert!(matches!(
            verification_error(&truncated),
            Some(Error::SizeMismatch {
                expected: 11,
                actual: 5,
                ..
            })
        ));
        let too_long = read_all(b"hello model and more", 11);
        assert!(matches!(
            verification_error(&too_long),
            Some(Error::SizeMismatch { expected: 11, .. })
        ));
    }
}
