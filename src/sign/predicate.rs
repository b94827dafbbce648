//! The attestation predicates modelark defines or builds: approvals, SLSA provenance from a
//! model's lineage, and alias promotion records. Their fields are documented in
//! docs/signing.md; the types here are the single source of truth.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Error;
use crate::metadata::ModelMetadata;

/// The approval predicate type.
pub const APPROVAL: &str = "https://modelark.dev/attestations/approval/v1";
/// The promotion record predicate type (an alias move).
pub const PROMOTION: &str = "https://modelark.dev/attestations/promotion/v1";
/// SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// The predicate type of a cosign 3 image signature bundle.
pub const COSIGN_SIGN_V1: &str = "https://sigstore.dev/cosign/sign/v1";
/// cosign's `custom` predicate type.
pub const COSIGN_CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";

/// Maps a `--type` value to a predicate type URI: short names cosign and modelark know, or
/// any URI as given.
///
/// # Errors
/// [`Error::PredicateType`] for a bare word that is not a known short name.
pub fn predicate_type(name: &str) -> Result<String, Error> {
    let uri = match name {
        "approval" => APPROVAL,
        "promotion" => PROMOTION,
        "provenance" | "slsaprovenance1" => SLSA_PROVENANCE_V1,
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "custom" => COSIGN_CUSTOM,
        "spdxjson" | "spdx" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "link" => "https://in-toto.io/Link/v1",
        other if other.contains("://") => other,
        other => {
            return Err(Error::PredicateType {
                name: other.to_owned(),
            });
        }
    };
    Ok(uri.to_owned())
}

/// When an approval stops counting: an RFC 3339 time as given, or a duration from `now`
/// (`90d`, `12h`, `30m`), as RFC 3339.
///
/// # Errors
/// [`Error::Expiry`] for anything else.
pub fn expiry(text: &str, now: OffsetDateTime) -> Result<String, Error> {
    if OffsetDateTime::parse(text, &Rfc3339).is_ok() {
        return Ok(text.to_owned());
    }
    let invalid = || Error::Expiry {
        text: text.to_owned(),
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| invalid())?;
    let duration = match unit {
        "d" => time::Duration::days(n),
        "h" => time::Duration::hours(n),
        "m" => time::Duration::minutes(n),
        _ => return Err(invalid()),
    };
    let at = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|now| now.checked_add(duration))
        .ok_or_else(invalid)?;
    at.format(&Rfc3339).map_err(|_| invalid())
}

/// An approval decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The model may go to the environment.
    Approved,
    /// The model must not go to the environment.
    Rejected,
}

/// An approval (or rejection) of one model version for one environment or stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Environment or stage (`production`, `staging`).
    pub environment: String,
    /// The decision.
    pub decision: Decision,
    /// Who decided (a name or e-mail; the signing key is what is trusted).
    pub approver: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A change or ticket reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// When it was decided (RFC 3339, UTC).
    pub time: String,
    /// When it stops counting (RFC 3339), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl Approval {
    /// True when `expires` is set and not after `now`. An unparsable expiry counts as
    /// expired: a policy must never treat garbage as "forever".
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires.as_deref().is_some_and(|e| {
            OffsetDateTime::parse(e, &Rfc3339).map_or(true, |expires| expires <= now)
        })
    }

    /// The decision time, when it parses.
    pub fn decided_at(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(&self.time, &Rfc3339).ok()
    }
}

/// A signed record of an alias move, attached to the model the alias now points at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Promotion {
    /// The alias tag (`production`, `champion`).
    pub alias: String,
    /// The repository (`HOST/REPO` or a local name).
    pub repository: String,
    /// The digest the alias pointed at before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The digest the alias points at now.
    pub to: String,
    /// The version tag promoted, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Who moved it.
    pub by: String,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `promote` or `rollback`.
    pub action: String,
}

/// A SLSA provenance v1 predicate describing how a model was trained, from its metadata:
/// the source revision, training run, datasets and parent model become resolved
/// dependencies and external parameters.
pub fn provenance_from(metadata: &ModelMetadata) -> serde_json::Value {
    let lineage = &metadata.lineage;
    let mut dependencies = Vec::new();
    if let Some(source) = &lineage.source {
        let mut dep = serde_json::json!({"uri": source.repo, "name": "source"});
        if let Some(revision) = &source.revision {
            dep["digest"] = serde_json::json!({"gitCommit": revision});
        }
        dependencies.push(dep);
    }
    for dataset in &lineage.datasets {
        let mut dep = serde_json::json!({"uri": dataset.uri, "name": "dataset"});
        if let Some(digest) = &dataset.digest {
            dep["digest"] = serde_json::json!({digest.algorithm().as_str(): digest.hex()});
        }
        dependencies.push(dep);
    }
    if let Some(parent) = &lineage.parent {
        let mut dep = serde_json::json!({"uri": format!("oci://{parent}"), "name": "parent-model"});
        if let Some(digest) = parent.digest() {
            dep["digest"] = serde_json::json!({digest.algorithm().as_str(): digest.hex()});
        }
        dependencies.push(dep);
    }
    serde_json::json!({
        "buildDefinition": {
            "buildType": "https://modelark.dev/training/v1",
            "externalParameters": {
                "model": metadata.name,
                "version": metadata.version.as_ref().map(ToString::to_string),
                "framework": metadata.framework,
                "trainingRun": lineage.training_run,
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": "https://modelark.dev/cli"},
            "metadata": {"invocationId": lineage.training_run},
        },
    })
}

/// Now, as RFC 3339 UTC with second precision.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    now.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_map_to_uris() {
        assert_eq!(predicate_type("approval").unwrap(), APPROVAL);
        assert_eq!(
            predicate_type("slsaprovenance1").unwrap(),
            SLSA_PROVENANCE_V1
        );
        assert_eq!(
            predicate_type("https://example.com/x/v1").unwrap(),
            "https://example.com/x/v1"
        );
        assert!(predicate_type("aproval").is_err());
    }

    #[test]
    fn expiry_is_checked_and_garbage_counts_as_expired() {
        let now = OffsetDateTime::parse("2026-06-01T00:00:00Z", &Rfc3339).unwrap();
        let mut approval = Approval {
            environment: "production".into(),
            decision: Decision::Approved,
            approver: "a".into(),
            reason: None,
            ticket: None,
            time: "2026-05-01T00:00:00Z".into(),
            expires: None,
        };
        assert!(!approval.expired(now));
        approval.expires = Some("2026-07-01T00:00:00Z".into());
        assert!(!approval.expired(now));
        approval.expires = Some("2026-05-31T23:59:59Z".into());
        assert!(approval.expired(now));
        approval.expires = Some("next tuesday".into());
        assert!(approval.expired(now));
    }

    #[test]
    fn expiry_takes_a_time_or_a_duration_from_now() {
        let now = OffsetDateTime::parse("2026-06-01T12:00:00.5Z", &Rfc3339).unwrap();
        let cases = [
            ("2027-01-01T00:00:00Z", Some("2027-01-01T00:00:00Z")),
            ("90d", Some("2026-08-30T12:00:00Z")),
            ("12h", Some("2026-06-02T00:00:00Z")),
            ("30m", Some("2026-06-01T12:30:00Z")),
            ("90", None),
            ("d", None),
            ("3w", None),
            ("next tuesday", None),
            ("99999999999999d", None),
        ];
        for (text, expected) in cases {
            assert_eq!(expiry(text, now).ok().as_deref(), expected, "{text}");
        }
    }
}
