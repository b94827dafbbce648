//! Model references: `NAME[:TAG][@DIGEST]` in the local store, `oci:PATH[:TAG|@DIGEST]` for
//! any OCI image layout (skopeo's syntax), and `HOST[:PORT]/REPO[:TAG][@DIGEST]` for a
//! registry. Names and tags follow the OCI distribution spec grammar
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests>).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::digest::Digest;

/// Errors from parsing references.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reference does not follow the grammar.
    #[error("invalid reference {input:?}: {reason}")]
    Invalid {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A validated repository name: lowercase path components separated by `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RepoName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err("the repository name is empty".into());
        }
        if name.len() > 255 {
            return Err("the repository name is longer than 255 characters".into());
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("repository names must be lowercase".into());
        }
        for component in name.split('/') {
            if !valid_name_component(component) {
                return Err(format!(
                    "{component:?} is not a valid name component (lowercase letters and digits, \
                     separated by '.', '_', '__' or '-')"
                ));
            }
        }
        Ok(RepoName(name.to_owned()))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_name_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        match &component[start..i] {
            "." | "_" | "__" => {}
            sep if sep.bytes().all(|b| b == b'-') => {}
            _ => return false,
        }
    }
    true
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The tag used when a reference names none.
    pub fn latest() -> Tag {
        Tag("latest".into())
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = String;

    fn from_str(tag: &str) -> Result<Self, String> {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Tag(tag.to_owned()))
        } else {
            Err(format!(
                "{tag:?} is not a valid tag (up to 128 letters, digits, '_', '.' or '-', \
                 not starting with '.' or '-')"
            ))
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a referenced model lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A repository in the local store under `$MODELARK_HOME`.
    Local {
        /// The repository name.
        name: RepoName,
    },
    /// An OCI image layout directory.
    Layout {
        /// The layout's root directory.
        path: PathBuf,
    },
    /// A repository on a registry.
    Registry {
        /// `host[:port]`.
        host: String,
        /// The repository on that host.
        repository: RepoName,
    },
}

/// A parsed model reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    location: Location,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl Reference {
    /// Where the model lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The tag, if the reference names one.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, if the reference names one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag, or `latest` when the reference names neither tag nor digest.
    pub fn tag_or_latest(&self) -> Tag {
        self.tag.clone().unwrap_or_else(Tag::latest)
    }

    /// The same location pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same location with `tag` and no digest.
    pub fn with_tag(&self, tag: Tag) -> Reference {
        Reference {
            location: self.location.clone(),
            tag: Some(tag),
            digest: None,
        }
    }

    /// The same location with neither tag nor digest.
    pub fn without_selector(&self) -> Reference {
        Reference {
            location: self.location.clone(),
            tag: None,
            digest: None,
        }
    }

    /// A reference to an OCI layout directory.
    pub fn layout(path: impl AsRef<Path>, tag: Option<Tag>) -> Reference {
        Reference {
            location: Location::Layout {
                path: path.as_ref().to_owned(),
            },
            tag,
            digest: None,
        }
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let fail = |reason: String| Error::Invalid {
            input: input.to_owned(),
            reason,
        };
        if let Some(rest) = input.strip_prefix("oci:") {
            return parse_layout(rest).map_err(fail);
        }
        let (rest, after_at) = match input.split_once('@') {
            Some((rest, after)) => (rest, Some(after)),
            None => (input, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if !rest[colon..].contains('/') => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };
        let mut tag = tag.map(str::parse::<Tag>).transpose().map_err(fail)?;
        // `REPO@ALIAS` (MLflow's `models:/NAME@ALIAS`) names the alias tag; a digest always
        // has its algorithm and a colon, an alias never does.
        let digest = match after_at {
            Some(alias) if tag.is_none() && !alias.contains(':') => {
                tag = Some(alias.parse::<Tag>().map_err(|e| {
                    fail(format!(
                        "{e} (after @ comes a digest sha256:... or an alias)"
                    ))
                })?);
                None
            }
            Some(digest) => Some(digest.parse::<Digest>().map_err(|e| fail(e.to_string()))?),
            None => None,
        };
        let location = match name.split_once('/') {
            Some((host, repository)) if is_host(host) => {
                validate_host(host).map_err(fail)?;
                Location::Registry {
                    host: host.to_owned(),
                    repository: repository.parse().map_err(fail)?,
                }
            }
            _ => Location::Local {
                name: name.parse().map_err(fail)?,
            },
        };
        Ok(Reference {
            location,
            tag,
            digest,
        })
    }
}

/// `oci:PATH[:TAG|@DIGEST]`: as in skopeo, the path ends at the first `:`.
fn parse_layout(rest: &str) -> Result<Reference, String> {
    let (path, tag, digest) = if let Some((path, digest)) = rest.rsplit_once('@') {
        (
            path,
            None,
            Some(digest.parse::<Digest>().map_err(|e| e.to_string())?),
        )
    } else if let Some((path, tag)) = rest.split_once(':') {
        (path, Some(tag.parse::<Tag>()?), None)
    } else {
        (rest, None, None)
    };
    if path.is_empty() {
        return Err("the layout path is empty (write oci:PATH[:TAG])".into());
    }
    Ok(Reference {
        location: Location::Layout { path: path.into() },
        tag,
        digest,
    })
}

/// Docker's rule: the first component names a host when it has a `.` or `:` or is `localhost`.
fn is_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

fn validate_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(bracketed) = host.strip_prefix('[') {
        let (ip, rest) = bracketed
            .split_once(']')
            .ok_or("unterminated IPv6 address in the registry host")?;
        (ip, rest.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if !name_ok {
        return Err(format!("{host:?} is not a valid registry host"));
    }
    if let Some(port) = port {
        port.parse::<u16>()
            .map_err(|_| format!("{port:?} is not a valid port"))?;
    }
    Ok(())
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Local { name } => write!(f, "{name}")?,
            Location::Layout { path } => write!(f, "oci:{}", path.display())?,
            Location::Registry { host, repository } => write!(f, "{host}/{repository}")?,
        }
        // A layout reference holds a tag or a digest, never both (skopeo's grammar).
        let layout = matches!(self.location, Location::Layout { .. });
        if let Some(tag) = &self.tag
            && !(layout && self.digest.is_some())
        {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(input: &str) -> Reference {
        input.parse().unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    #[test]
    fn parses_each_kind_and_displays_it_back() {
        let cases = [
            "bert",
            "bert:1.0.0",
            "team/bert:v2",
            &format!("bert@{D}"),
            &format!("bert:1.0@{D}"),
            "localhost/bert:1",
            "localhost:5000/team/bert:1.0",
            "127.0.0.1:5000/bert",
            "ghcr.io/org/models/bert:latest",
            "[::1]:5000/bert:x",
            "oci:/tmp/layout",
            "oci:/tmp/layout:1.0",
            &format!("oci:./layout@{D}"),
        ];
        for input in cases {
            assert_eq!(parse(input).to_string(), input);
        }
    }

    #[test]
    fn classifies_locations() {
        assert!(
            matches!(parse("team/bert:1").location(), Location::Local { name } if name.as_str() == "team/bert")
        );
        assert!(matches!(
            parse("localhost:5000/team/bert:1").location(),
            Location::Registry { host, repository } if host == "localhost:5000" && repository.as_str() == "team/bert"
        ));
        assert!(
            matches!(parse("oci:out/dir:t").location(), Location::Layout { path } if path == Path::new("out/dir"))
        );
        let pinned = parse(&format!("bert:1.0@{D}"));
        assert_eq!(pinned.tag().unwrap().as_str(), "1.0");
        assert_eq!(pinned.digest().unwrap().to_string(), D);
        assert_eq!(parse("bert").tag_or_latest().as_str(), "latest");
    }

    #[test]
    fn an_alias_after_at_is_its_tag() {
        let alias = parse("ghcr.io/acme/bert@production");
        assert_eq!(alias.tag().unwrap().as_str(), "production");
        assert!(alias.digest().is_none());
        assert_eq!(alias.to_string(), "ghcr.io/acme/bert:production");
        assert_eq!(parse("bert@staging").to_string(), "bert:staging");
        // With a tag, or with a colon, what follows @ must be a digest.
        for bad in ["bert:1@production", "bert@sha256:abc", "bert@-x"] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_bad_references_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("Bert:1", "lowercase"),
            ("bert:", "not a valid tag"),
            ("bert:-x", "not a valid tag"),
            ("bert@sha256:abc", "wrong hex length"),
            ("team//bert", "not a valid name component"),
            ("bert..x", "not a valid name component"),
            ("bert_", "not a valid name component"),
            ("localhost:99999/bert", "not a valid port"),
            ("oci:", "layout path is empty"),
            ("oci::tag", "layout path is empty"),
        ];
        for (input, reason) in cases {
            let error = input.parse::<Reference>().unwrap_err().to_string();
            assert!(error.contains(reason), "{input:?}: {error}");
        }
    }

    #[test]
    fn name_components_follow_the_distribution_grammar() {
        for ok in ["a", "a1", "a.b", "a_b", "a__b", "a-b", "a---b", "0"] {
            assert!(valid_name_component(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a..b", "a___b", "a.-b", "a b", "A"] {
            assert!(!valid_name_component(bad), "{bad}");
        }
    }
}
