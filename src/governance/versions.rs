//! Versions and aliases: a tag that parses as a semantic version (`1.4.0`, `v1.4.0`) is a
//! version and never moves to another model; any other tag that is not an attachment tag
//! (`sha256-...`) is an alias (`production`, `champion`) and moves only by promotion.

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use super::Error;
use crate::digest::Digest;
use crate::error::Result;
use crate::oci::Descriptor;
use crate::package::{self, ModelView};
use crate::reference::Tag;
use crate::sign::attach;
use crate::sign::predicate::{self, Approval, Decision};
use crate::store::Endpoint;
use crate::verify::{AttestationCheck, Evidence, Policy};

/// The version a tag names, when it is a version tag.
pub fn version_of(tag: &Tag) -> Option<semver::Version> {
    let text = tag.as_str();
    semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).ok()
}

/// True for cosign/referrer attachment tags (`sha256-<hex>`, `.sig`, `.att`).
pub fn is_attachment(tag: &Tag) -> bool {
    tag.as_str().starts_with("sha256-") || tag.as_str().starts_with("sha512-")
}

/// True for an alias: neither a version nor an attachment tag.
pub fn is_alias(tag: &Tag) -> bool {
    version_of(tag).is_none() && !is_attachment(tag)
}

/// A request to move version tags: `force`, and the trust policy that must allow it when
/// one governs the target (its rule must set `overwriteVersions: true`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Overwrite<'a> {
    /// Move a version tag that names another model.
    pub force: bool,
    /// The policy that must allow it, when one is given.
    pub policy: Option<&'a crate::verify::Policy>,
}

impl Overwrite<'_> {
    /// Whether a version tag in `repository` may be moved: `force`, unless the policy
    /// forbids it.
    ///
    /// # Errors
    /// [`Error::OverwriteRefused`] when forced against a policy that keeps versions immutable.
    pub fn permitted(&self, repository: &str) -> Result<bool, Error> {
        match self.policy {
            Some(policy) if self.force && !policy.allows_overwrite(repository) => {
                Err(Error::OverwriteRefused {
                    repository: repository.to_owned(),
                })
            }
            _ => Ok(self.force),
        }
    }
}

/// The version-immutability rule for writing `new` as `tag` into `target`, the one check
/// pack, push and copy make before any blob moves (and again just before the tag is
/// written): a version tag may point at `new` only when it points nowhere yet, already at
/// `new`, or when `overwrite` is permitted. Returns whether the tag may be moved.
///
/// # Errors
/// [`Error::VersionExists`], [`Error::OverwriteRefused`]; transport errors reading the tag.
pub async fn check_write(
    target: &Endpoint,
    tag: &Tag,
    new: &Digest,
    overwrite: Overwrite<'_>,
) -> Result<bool> {
    let force = overwrite.permitted(&target.display_name())?;
    guard_version(target, tag, new, force).await?;
    Ok(force)
}

/// Where the version tag `tag` points in `target` now, when it is a version tag that
/// exists and `overwrite` does not permit moving it: the case in which the digest of what
/// is about to be written must be known before any blob moves.
///
/// # Errors
/// [`Error::OverwriteRefused`]; transport errors reading the tag.
pub async fn pinned_version(
    target: &Endpoint,
    tag: &Tag,
    overwrite: Overwrite<'_>,
) -> Result<Option<Digest>> {
    if overwrite.permitted(&target.display_name())? || version_of(tag).is_none() {
        return Ok(None);
    }
    Ok(target.fetch_tag(tag).await?.map(|(d, _)| d.digest))
}

/// Refuses to point the version tag `tag` at `new` when it already points at another
/// model, unless `force`. Pushing the same digest again is allowed (a no-op). Aliases and
/// other tags always pass.
///
/// # Errors
/// [`Error::VersionExists`] naming both digests; transport errors reading the tag.
pub async fn guard_version(
    endpoint: &Endpoint,
    tag: &Tag,
    new: &Digest,
    force: bool,
) -> Result<()> {
    if force || version_of(tag).is_none() {
        return Ok(());
    }
    let existing = endpoint.fetch_tag(tag).await?.map(|(d, _)| d.digest);
    let reference = format!("{}:{tag}", endpoint.display_name());
    Ok(check_move(&reference, tag, existing.as_ref(), new, force)?)
}

/// The rule itself, for callers that already know where `tag` points (`existing`): a
/// version tag may point at `new` only when it points nowhere yet, already at `new`, or
/// with `force`.
///
/// # Errors
/// [`Error::VersionExists`] naming both digests.
pub fn check_move(
    reference: &str,
    tag: &Tag,
    existing: Option<&Digest>,
    new: &Digest,
    force: bool,
) -> Result<(), Error> {
    match existing {
        Some(existing) if !force && existing != new && version_of(tag).is_some() => {
            Err(Error::VersionExists {
                reference: reference.to_owned(),
                existing: existing.clone(),
                new: new.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// One version of a model as `modelark versions` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct VersionInfo {
    /// The version tag.
    pub tag: String,
    /// Its manifest digest.
    pub digest: Digest,
    /// Total layer size.
    pub size: u64,
    /// Creation time from the metadata, when recorded.
    pub created: Option<String>,
    /// Metadata (name, framework, task, licenses, metrics, lineage, ...).
    pub metadata: crate::ModelMetadata,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
    /// Trusted keys with a valid signature.
    pub signers: Vec<String>,
    /// Signatures found, valid or not.
    pub signatures: usize,
    /// Per environment: the keys whose latest decision is an unexpired approval.
    pub approvals: BTreeMap<String, Vec<String>>,
    /// Per environment: the keys whose latest decision is a rejection.
    pub rejections: BTreeMap<String, Vec<String>>,
    /// What was verified (for history and JSON consumers).
    #[serde(skip)]
    pub evidence: Evidence,
}

/// A repository's versions (semver order) and aliases (alias tag to digest).
#[derive(Clone, Debug, Serialize)]
pub struct Versions {
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Every alias and the digest it points at.
    pub aliases: BTreeMap<String, Digest>,
}

/// Lists every version of the repository behind `endpoint`, reading manifests, configs and
/// attachments (never weights) `concurrency` at a time, and checks signatures and approvals
/// against what `trust` trusts (keys, keyless identities, time-stamping authorities).
///
/// # Errors
/// Transport errors; a repository that does not exist.
pub async fn list(endpoint: &Endpoint, trust: &Policy, concurrency: usize) -> Result<Versions> {
    let tags = endpoint.tags().await?;
    let alias_tags: Vec<Tag> = tags.iter().filter(|t| is_alias(t)).cloned().collect();
    let aliases: BTreeMap<String, Digest> = stream::iter(alias_tags)
        .map(|tag| async move {
            let found = endpoint.fetch_tag(&tag).await?;
            Ok::<_, crate::Error>(found.map(|(d, _)| (tag.to_string(), d.digest)))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    let mut version_tags: Vec<(semver::Version, Tag)> = tags
        .into_iter()
        .filter_map(|t| version_of(&t).map(|v| (v, t)))
        .collect();
    version_tags.sort();
    let now = time::OffsetDateTime::now_utc();
    let versions = stream::iter(version_tags)
        .map(|(_, tag)| {
            let aliases = &aliases;
            async move {
                let Some((descriptor, bytes)) = endpoint.fetch_tag(&tag).await? else {
                    return Ok(None);
                };
                let view = describe(endpoint, &descriptor, &bytes).await?;
                let attached = attach::discover(endpoint, &descriptor.digest).await?;
                let evidence = Evidence::collect_under(&descriptor.digest, &attached, trust);
                Ok::<_, crate::Error>(Some(info(&tag, view, evidence, aliases, now)))
            }
        })
        .buffered(concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    Ok(Versions { versions, aliases })
}

/// Reads a model's metadata and files from its manifest and config (no layers).
///
/// # Errors
/// Transport and parse errors.
pub async fn describe(
    endpoint: &Endpoint,
    descriptor: &Descriptor,
    bytes: &[u8],
) -> Result<ModelView> {
    let manifest = crate::oci::Manifest::from_slice(bytes, &descriptor.digest)?;
    let config = endpoint.small_blob(&manifest.config).await.ok();
    Ok(package::describe(descriptor, &manifest, config.as_deref())?)
}

fn info(
    tag: &Tag,
    view: ModelView,
    evidence: Evidence,
    aliases: &BTreeMap<String, Digest>,
    now: time::OffsetDateTime,
) -> VersionInfo {
    let (approvals, rejections) = decisions(&evidence, now);
    VersionInfo {
        tag: tag.to_string(),
        digest: view.digest.clone(),
        size: view.size,
        created: view.metadata.created.clone(),
        aliases: aliases
            .iter()
            .filter(|(_, d)| **d == view.digest)
            .map(|(a, _)| a.clone())
            .collect(),
        signers: evidence.signers(),
        signatures: evidence.signatures.len(),
        approvals,
        rejections,
        metadata: view.metadata,
        evidence,
    }
}

type ByEnvironment = BTreeMap<String, Vec<String>>;

/// Each key's latest verified decision per environment, split into unexpired approvals and
/// rejections.
pub fn decisions(evidence: &Evidence, now: time::OffsetDateTime) -> (ByEnvironment, ByEnvironment) {
    // Ordered and expired by the trusted timestamp, when there is one.
    let mut latest: BTreeMap<(String, String), (Approval, &AttestationCheck)> = BTreeMap::new();
    for check in evidence.attestations_of(predicate::APPROVAL) {
        let Some(approval) = check
            .statement
            .as_ref()
            .and_then(|s| serde_json::from_value::<Approval>(s.predicate.clone()).ok())
        else {
            continue;
        };
        for signer in &check.signers {
            let key = (approval.environment.clone(), signer.clone());
            let newer = latest
                .get(&key)
                .is_none_or(|(_, old)| old.time() <= check.time());
            if newer {
                latest.insert(key, (approval.clone(), check));
            }
        }
    }
    let (mut approvals, mut rejections) = (ByEnvironment::new(), ByEnvironment::new());
    for ((environment, signer), (approval, check)) in latest {
        match approval.decision {
            Decision::Approved if !approval.expired(now - check.drift()) => {
                approvals.entry(environment).or_default().push(signer)
            }
            Decision::Approved => {}
            Decision::Rejected => rejections.entry(environment).or_default().push(signer),
        }
    }
    (approvals, rejections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_versions_aliases_or_attachments() {
        let tag = |t: &str| t.parse::<Tag>().unwrap();
        assert_eq!(
            version_of(&tag("1.4.0")),
            Some(semver::Version::new(1, 4, 0))
        );
        assert_eq!(
            version_of(&tag("v2.0.0-rc.1")).unwrap().to_string(),
            "2.0.0-rc.1"
        );
        for alias in ["production", "champion", "latest", "1.4", "v1"] {
            assert!(is_alias(&tag(alias)), "{alias}");
        }
        assert!(is_attachment(&tag(&format!(
            "sha256-{}.sig",
            "a".repeat(64)
        ))));
        assert!(!is_alias(&tag(&format!("sha256-{}", "a".repeat(64)))));
    }

    #[test]
    fn only_a_version_tag_pointing_elsewhere_is_refused() {
        let tag = |t: &str| t.parse::<Tag>().unwrap();
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let cases = [
            ("1.0.0", Some(&a), false, false),
            ("1.0.0", Some(&a), true, true),
            ("1.0.0", Some(&b), false, true),
            ("1.0.0", None, false, true),
            ("production", Some(&a), false, true),
        ];
        for (t, existing, force, ok) in cases {
            let result = check_move("r:t", &tag(t), existing, &b, force);
            assert_eq!(result.is_ok(), ok, "{t} {existing:?} force={force}");
        }
    }
}
