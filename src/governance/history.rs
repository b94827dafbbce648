//! Alias promotion and rollback with signed records, and the timeline of a repository:
//! versions, signatures, approvals and alias moves, each marked verified or not.

use serde::Serialize;

use super::Error;
use super::versions::{self, Versions};
use crate::digest::Digest;
use crate::error::Result;
use crate::reference::Tag;
use crate::sign::predicate::{self, Approval, Promotion};
use crate::sign::{self, Format, Signer};
use crate::store::Endpoint;
use crate::verify::AttestationCheck;

/// One event of a repository's history.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// When (RFC 3339), when known.
    pub time: Option<String>,
    /// `version`, `signature`, `approval`, `rejection`, `promote`, `rollback`, `attestation`.
    pub kind: String,
    /// The version the event concerns.
    pub version: String,
    /// Its digest.
    pub digest: Digest,
    /// What happened, in words.
    pub detail: String,
    /// The alias, for promotions and rollbacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Trusted keys that signed it (empty when unverified).
    pub signers: Vec<String>,
    /// True when a trusted key signed it (versions: always true, they are registry facts).
    pub verified: bool,
}

/// A promotion record found on a model, with its verification.
#[derive(Clone, Debug)]
pub struct Record {
    /// The record.
    pub promotion: Promotion,
    /// Trusted keys that signed it.
    pub signers: Vec<String>,
    /// The model it is attached to.
    pub attached_to: Digest,
    /// When it was made: its trusted timestamp, else the time it claims.
    pub time: Option<time::OffsetDateTime>,
}

/// Every promotion record in `versions` (verified or not), oldest first.
pub fn records(versions: &Versions) -> Vec<Record> {
    let mut out: Vec<Record> = versions
        .versions
        .iter()
        .flat_map(|v| {
            v.evidence.attestations.iter().filter_map(move |a| {
                let promotion = promotion_of(a)?;
                Some(Record {
                    promotion,
                    signers: if a.problem.is_none() {
                        a.signers.clone()
                    } else {
                        Vec::new()
                    },
                    attached_to: v.digest.clone(),
                    time: a.time(),
                })
            })
        })
        .collect();
    // A trusted timestamp orders records; a signer's own clock only without one.
    out.sort_by_key(|r| r.time);
    out
}

fn promotion_of(check: &AttestationCheck) -> Option<Promotion> {
    if check.predicate_type.as_deref() != Some(predicate::PROMOTION) {
        return None;
    }
    serde_json::from_value(check.statement.as_ref()?.predicate.clone()).ok()
}

/// The timeline of a repository (only one alias's moves with `alias`), oldest first;
/// events without a time (versions without a creation time, simple signatures) come first.
pub fn timeline(versions: &Versions, alias: Option<&str>) -> Vec<Event> {
    let mut events = Vec::new();
    for v in &versions.versions {
        let event = |kind: &str,
                     time: Option<String>,
                     detail: String,
                     signers: Vec<String>,
                     verified: bool| Event {
            time,
            kind: kind.to_owned(),
            version: v.tag.clone(),
            digest: v.digest.clone(),
            detail,
            alias: None,
            signers,
            verified,
        };
        if alias.is_none() {
            events.push(event(
                "version",
                v.created.clone(),
                format!("version {} ({})", v.tag, v.digest.short()),
                Vec::new(),
                true,
            ));
            for s in &v.evidence.signatures {
                let detail = match &s.problem {
                    None => format!("signed by {}", s.signers.join(", ")),
                    Some(problem) => format!("signature not verified: {problem}"),
                };
                events.push(event(
                    "signature",
                    None,
                    detail,
                    s.signers.clone(),
                    s.problem.is_none(),
                ));
            }
        }
        for a in &v.evidence.attestations {
            let verified = a.problem.is_none();
            let signers = if verified {
                a.signers.clone()
            } else {
                Vec::new()
            };
            let suffix = match &a.problem {
                None => format!(" (signed by {})", a.signers.join(", ")),
                Some(problem) => format!(" (NOT VERIFIED: {problem})"),
            };
            if let Some(p) = promotion_of(a) {
                if alias.is_some_and(|al| al != p.alias) {
                    continue;
                }
                let from = p.from.as_deref().map_or("nothing".to_owned(), short);
                let detail = format!(
                    "{} {} {} -> {} by {}{}{suffix}",
                    p.action,
                    p.alias,
                    from,
                    short(&p.to),
                    p.by,
                    p.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
                let mut e = event(&p.action, Some(p.time.clone()), detail, signers, verified);
                e.alias = Some(p.alias);
                events.push(e);
            } else if alias.is_none() {
                match a
                    .statement
                    .as_ref()
                    .map(|s| (s.predicate_type.as_str(), &s.predicate))
                {
                    Some((predicate::APPROVAL, p)) => {
                        let Ok(approval) = serde_json::from_value::<Approval>(p.clone()) else {
                            continue;
                        };
                        let kind = match approval.decision {
                            predicate::Decision::Approved => "approval",
                            predicate::Decision::Rejected => "rejection",
                        };
                        let mut detail = format!(
                            "{kind} for {} by {}",
                            approval.environment, approval.approver
                        );
                        if let Some(ticket) = &approval.ticket {
                            detail.push_str(&format!(" [{ticket}]"));
                        }
                        if let Some(expires) = &approval.expires {
                            detail.push_str(&format!(", expires {expires}"));
                        }
                        detail.push_str(&suffix);
                        events.push(event(
                            kind,
                            Some(approval.time.clone()),
                            detail,
                            signers,
                            verified,
                        ));
                    }
                    _ => {
                        let kind = a.predicate_type.clone().unwrap_or_else(|| "?".into());
                        events.push(event(
                            "attestation",
                            None,
                            format!("attestation {kind}{suffix}"),
                            signers,
                            verified,
                        ));
                    }
                }
            }
        }
    }
    events.sort_by(|a, b| a.time.cmp(&b.time));
    events
}

fn short(digest: &str) -> String {
    digest
        .parse::<Digest>()
        .map_or_else(|_| digest.to_owned(), |d| d.short())
}

/// What a promotion or rollback did.
#[derive(Clone, Debug, Serialize)]
pub struct Moved {
    /// The alias.
    pub alias: String,
    /// Where it pointed before.
    pub from: Option<Digest>,
    /// Where it points now.
    pub to: Digest,
    /// The version tag it points at.
    pub version: String,
}

/// Moves `alias` to the version tagged `version` and attaches a signed promotion record
/// (`action` is `promote` or `rollback`) to that version. The caller has checked the policy.
///
/// # Errors
/// [`Error::Alias`] when `alias` is a version or attachment tag; transport errors.
pub async fn move_alias(
    endpoint: &Endpoint,
    version: &Tag,
    alias: &Tag,
    signer: &Signer<'_>,
    by: &str,
    reason: Option<String>,
    action: &str,
) -> Result<Moved> {
    if !versions::is_alias(alias) {
        return Err(Error::Alias {
            alias: alias.to_string(),
            reason:
                "it is a version or attachment tag; aliases are names like production or champion"
                    .into(),
        }
        .into());
    }
    let Some((descriptor, bytes)) = endpoint.fetch_tag(version).await? else {
        return Err(Error::Alias {
            alias: alias.to_string(),
            reason: format!("version {version} does not exist"),
        }
        .into());
    };
    let from = endpoint.fetch_tag(alias).await?.map(|(d, _)| d.digest);
    if from.as_ref() == Some(&descriptor.digest) {
        // Already there: no move, no record.
        return Ok(Moved {
            alias: alias.to_string(),
            from,
            to: descriptor.digest,
            version: version.to_string(),
        });
    }
    let record = Promotion {
        alias: alias.to_string(),
        repository: endpoint.display_name(),
        from: from.as_ref().map(ToString::to_string),
        to: descriptor.digest.to_string(),
        version: Some(version.to_string()),
        by: by.to_owned(),
        time: predicate::now_rfc3339(),
        reason,
        action: action.to_owned(),
    };
    let predicate = serde_json::to_value(&record).unwrap_or_default();
    // The record first: an alias never moves without its record.
    sign::attest(
        endpoint,
        &descriptor,
        signer,
        predicate::PROMOTION,
        predicate,
        Format::Cosign,
    )
    .await?;
    endpoint
        .put_manifest_bytes(Some(alias), &descriptor, &bytes)
        .await?;
    Ok(Moved {
        alias: alias.to_string(),
        from,
        to: descriptor.digest,
        version: version.to_string(),
    })
}

/// The version tag an alias should roll back to: the `from` of the latest promotion record
/// for `alias` that a trusted key signed, provided that record moved the alias to where it
/// points now.
///
/// # Errors
/// [`Error::Alias`] when there is no verified move to undo, the alias was moved without a
/// record, or the previous target has no version tag any more.
pub fn rollback_target(versions: &Versions, alias: &str) -> Result<Tag> {
    let fail = |reason: String| Error::Alias {
        alias: alias.to_owned(),
        reason,
    };
    let current = versions
        .aliases
        .get(alias)
        .ok_or_else(|| fail("it does not exist".into()))?;
    let last = records(versions)
        .into_iter()
        .rfind(|r| r.promotion.alias == alias && !r.signers.is_empty())
        .ok_or_else(|| fail("it has no verified promotion record to undo".into()))?;
    if last.promotion.to != current.to_string() {
        return Err(fail(format!(
            "it points at {current}, but its last verified promotion moved it to {}; it was moved without a record",
            last.promotion.to
        ))
        .into());
    }
    let previous = last
        .promotion
        .from
        .ok_or_else(|| fail("its first promotion has nothing to roll back to".into()))?;
    let version = versions
        .versions
        .iter()
        .find(|v| v.digest.to_string() == previous)
        .ok_or_else(|| {
            fail(format!(
                "the previous target {previous} has no version tag any more"
            ))
        })?;
    Ok(version.tag.parse().map_err(|e: String| fail(e))?)
}
