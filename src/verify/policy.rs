//! The trust policy: named keys, groups of keys, and per-repository rules saying how many
//! distinct trusted signatures a model needs and which attestations (approvals with
//! conditions, provenance) it must carry. The file format is documented in docs/policy.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AttestationCheck, Error, Evidence, TimestampTrust, TrustedKey};
use crate::sign::PublicKey;
use crate::sign::keyless::{Identity, Keyless, Matcher, TrustedRoot};
use crate::sign::predicate::{self, Approval};
use crate::sign::timestamp::Authority;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    keys: BTreeMap<String, KeySpec>,
    /// Keyless signers: a Sigstore identity each, verified against `trustedRoot`.
    #[serde(default)]
    identities: BTreeMap<String, IdentitySpec>,
    /// The Sigstore trusted root keyless signatures are verified against.
    #[serde(default, rename = "trustedRoot")]
    trusted_root: Option<String>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    /// RFC 3161 time-stamping authorities: a name each, and a PEM file of its certificate
    /// chain (the TSA's certificate first, its root last).
    #[serde(default, rename = "timestampAuthorities")]
    timestamp_authorities: BTreeMap<String, String>,
    /// Every signature and attestation needs a timestamp by one of them.
    #[serde(default, rename = "requireTimestamp")]
    require_timestamp: bool,
    /// How far a record's own time may be from its timestamp (`10m`, `1h`, `90s`).
    #[serde(default, rename = "timestampTolerance")]
    timestamp_tolerance: Option<String>,
    rules: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdentitySpec {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    issuer_regexp: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    subject_regexp: Option<String>,
    /// GitHub workflow claims: repository, ref, sha, trigger, name.
    #[serde(default)]
    github: BTreeMap<String, String>,
}

impl IdentitySpec {
    fn identity(self) -> Result<Identity, String> {
        let matcher = |exact: &Option<String>, regexp: &Option<String>, what: &str| {
            Matcher::one_of(exact.as_deref(), regexp.as_deref())
                .map_err(|e| format!("{what}: {e}"))?
                .ok_or_else(|| format!("needs exactly one of {what} or {what}Regexp"))
        };
        for claim in self.github.keys() {
            if !crate::sign::x509::GITHUB_CLAIMS
                .iter()
                .any(|(name, _, _)| name == claim)
            {
                return Err(format!(
                    "unknown GitHub claim `{claim}` (repository, ref, sha, trigger, name)"
                ));
            }
        }
        Ok(Identity {
            subject: matcher(&self.subject, &self.subject_regexp, "subject")?,
            issuer: matcher(&self.issuer, &self.issuer_regexp, "issuer")?,
            claims: self.github.into_iter().collect(),
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeySpec {
    Path(String),
    Inline {
        #[serde(default)]
        path: Option<String>,
        #[serde(default)]
        pem: Option<String>,
        /// The key signs on behalf of the people its records name (a service key): its
        /// approvals count once per distinct `approver`, not once per key.
        #[serde(default, rename = "vouchesForApprovers")]
        vouches: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    scope: String,
    #[serde(default)]
    signatures: Option<SignatureRule>,
    #[serde(default)]
    attestations: Vec<AttestationRule>,
    #[serde(default)]
    aliases: BTreeMap<String, AliasRule>,
    #[serde(default, rename = "overwriteVersions")]
    overwrite_versions: bool,
}

/// How many distinct trusted keys must have signed, and which keys count.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRule {
    /// The number of distinct signers required (default 1).
    #[serde(default = "one")]
    pub threshold: usize,
    /// Key or group names whose signatures count (default: every key of the policy).
    #[serde(default)]
    pub signers: Vec<String>,
}

/// An attestation a model must carry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationRule {
    /// The predicate type: a short name (`approval`, `provenance`) or a URI.
    #[serde(rename = "type")]
    pub kind: String,
    /// The number of distinct signers required (default 1).
    #[serde(default = "one")]
    pub threshold: usize,
    /// Key or group names whose attestations count (default: every key).
    #[serde(default)]
    pub signers: Vec<String>,
    /// Conditions on predicate fields (dotted paths); a list means any of its values.
    #[serde(default, rename = "where")]
    pub conditions: BTreeMap<String, serde_json::Value>,
}

/// What moving an alias to a model requires, on top of the rule's own requirements.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AliasRule {
    /// Signatures required.
    #[serde(default)]
    pub signatures: Option<SignatureRule>,
    /// Attestations required.
    #[serde(default)]
    pub attestations: Vec<AttestationRule>,
}

fn one() -> usize {
    1
}

/// One rule: the repositories it covers and what a model there needs.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The scope glob as written.
    pub scope: String,
    matcher: GlobMatcher,
    /// Signatures required.
    pub signatures: Option<SignatureRule>,
    /// Attestations required.
    pub attestations: Vec<AttestationRule>,
    /// Extra requirements per alias.
    pub aliases: BTreeMap<String, AliasRule>,
    /// Whether `--force` may move a version tag in these repositories.
    pub overwrite_versions: bool,
}

/// A loaded, checked trust policy.
#[derive(Clone, Debug)]
pub struct Policy {
    keys: Vec<TrustedKey>,
    groups: BTreeMap<String, Vec<String>>,
    rules: Vec<Rule>,
    /// Keys whose approvals count once per approver they name.
    vouching: BTreeSet<String>,
    /// Keyless signers (named identities) and the trusted root that vouches for them.
    keyless: Option<Keyless>,
    /// Time-stamping authorities and whether a timestamp is required.
    timestamps: TimestampTrust,
}

/// One requirement and whether the evidence meets it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The requirement, in words.
    pub requirement: String,
    /// Met or not.
    pub met: bool,
    /// What was found.
    pub detail: String,
}

/// The outcome of evaluating a policy for one model.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The scope of the rule that applied, if any did.
    pub rule: Option<String>,
    /// Each requirement.
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// True when a rule applied and every requirement is met.
    pub fn passed(&self) -> bool {
        self.rule.is_some() && self.findings.iter().all(|f| f.met)
    }

    /// The unmet requirements, one sentence each.
    pub fn failures(&self) -> Vec<String> {
        if self.rule.is_none() {
            return vec!["no rule of the policy covers this repository".into()];
        }
        self.findings
            .iter()
            .filter(|f| !f.met)
            .map(|f| format!("{}: {}", f.requirement, f.detail))
            .collect()
    }
}

impl Policy {
    /// The shortest policy: any repository, one valid signature by any of `keys`.
    pub fn trust_keys(keys: Vec<TrustedKey>) -> Policy {
        Policy {
            keys,
            groups: BTreeMap::new(),
            rules: vec![Rule {
                scope: "**".into(),
                matcher: glob("**").unwrap_or_else(|_| unreachable!("a valid glob")),
                signatures: Some(SignatureRule {
                    threshold: 1,
                    signers: Vec::new(),
                }),
                attestations: Vec::new(),
                aliases: BTreeMap::new(),
                overwrite_versions: false,
            }],
            vouching: BTreeSet::new(),
            keyless: None,
            timestamps: TimestampTrust::default(),
        }
    }

    /// The same policy, also trusting `authorities` (their timestamps then count, and
    /// one that does not verify stops its record counting); with `required`, every record
    /// needs a timestamp.
    pub fn with_timestamp_authorities(
        mut self,
        authorities: Vec<Authority>,
        required: bool,
    ) -> Policy {
        self.timestamps.authorities.extend(authorities);
        self.timestamps.required |= required;
        self
    }

    /// The same policy, with `timestamps` as its timestamp trust (another policy's
    /// authorities, requirement and tolerance).
    pub fn with_timestamp_trust(mut self, timestamps: TimestampTrust) -> Policy {
        self.timestamps = timestamps;
        self
    }

    /// The time-stamping authorities this policy trusts, and what it asks of timestamps.
    pub fn timestamps(&self) -> &TimestampTrust {
        &self.timestamps
    }

    /// The same policy, also trusting the keyless identities of `keyless` (whose names
    /// then stand wherever key names do; with no `signers`, every identity counts).
    pub fn with_keyless(mut self, keyless: Option<Keyless>) -> Policy {
        if keyless.is_some() {
            self.keyless = keyless;
        }
        self
    }

    /// The keyless signers this policy trusts, with their trusted root.
    pub fn keyless(&self) -> Option<&Keyless> {
        self.keyless.as_ref()
    }

    /// Loads a policy file; key paths are relative to the file.
    ///
    /// # Errors
    /// [`Error::Policy`] naming the first problem: unreadable file or key, unknown field,
    /// unknown key or group name, a threshold no set of signers can meet.
    pub fn load(path: &Path) -> Result<Policy, Error> {
        let text = fs_err::read_to_string(path).map_err(|e| Error::Policy {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Policy::parse(
            &text,
            path.parent().unwrap_or(Path::new(".")),
            &path.display().to_string(),
        )
    }

    /// Parses policy text named `name` (for messages) whose key paths are relative to `base`.
    ///
    /// # Errors
    /// As [`Policy::load`].
    pub fn parse(text: &str, base: &Path, name: &str) -> Result<Policy, Error> {
        let fail = |reason: String| Error::Policy {
            path: name.to_owned(),
            reason,
        };
        let file: PolicyFile = serde_yaml_ng::from_str(text).map_err(|e| fail(e.to_string()))?;
        if file.version.is_some_and(|v| v != 1) {
            return Err(fail("only `version: 1` is understood".into()));
        }
        let mut keys = Vec::new();
        let mut vouching = BTreeSet::new();
        for (name, spec) in file.keys {
            if let KeySpec::Inline { vouches: true, .. } = &spec {
                vouching.insert(name.clone());
            }
            let pem = match spec {
                KeySpec::Path(p)
                | KeySpec::Inline {
                    path: Some(p),
                    pem: None,
                    ..
                } => fs_err::read_to_string(base.join(&p))
                    .map_err(|e| fail(format!("key `{name}`: {e}")))?,
                KeySpec::Inline {
                    path: None,
                    pem: Some(pem),
                    ..
                } => pem,
                KeySpec::Inline { .. } => {
                    return Err(fail(format!(
                        "key `{name}` needs exactly one of path or pem"
                    )));
                }
            };
            let key = PublicKey::from_pem(&pem).map_err(|e| fail(format!("key `{name}`: {e}")))?;
            keys.push(TrustedKey { name, key });
        }
        let mut identities = Vec::new();
        for (name, spec) in file.identities {
            if keys.iter().any(|k| k.name == name) {
                return Err(fail(format!("`{name}` is both a key and an identity")));
            }
            let identity = spec
                .identity()
                .map_err(|e| fail(format!("identity `{name}`: {e}")))?;
            identities.push((name, identity));
        }
        let keyless = match (file.trusted_root, identities.is_empty()) {
            (Some(root), false) => Some(Keyless {
                root: TrustedRoot::load(&base.join(root)).map_err(fail)?,
                identities,
            }),
            (None, false) => {
                return Err(fail(
                    "identities need `trustedRoot:` (a Sigstore trusted_root.json)".into(),
                ));
            }
            (Some(_), true) => {
                return Err(fail(
                    "`trustedRoot:` without `identities:` trusts no one".into(),
                ));
            }
            (None, true) => None,
        };
        if keys.is_empty() && keyless.is_none() {
            return Err(fail("it names no key and no identity".into()));
        }
        let mut timestamps = TimestampTrust::default();
        for (name, path) in &file.timestamp_authorities {
            let what = |e: String| fail(format!("timestamp authority `{name}` ({path}): {e}"));
            let pem = fs_err::read_to_string(base.join(path)).map_err(|e| what(e.to_string()))?;
            timestamps
                .authorities
                .push(Authority::from_pem(&pem).map_err(what)?);
        }
        if file.require_timestamp && timestamps.authorities.is_empty() && keyless.is_none() {
            return Err(fail(
                "`requireTimestamp: true` needs `timestampAuthorities:` to say whose timestamps count"
                    .into(),
            ));
        }
        timestamps.required = file.require_timestamp;
        if let Some(text) = &file.timestamp_tolerance {
            timestamps.tolerance = crate::metadata::parse_duration(text)
                .map(|d| d.as_secs())
                .ok_or_else(|| {
                    fail(format!(
                        "timestampTolerance {text:?} is not a duration like 90s, 10m or 1h"
                    ))
                })?;
        }
        let mut policy = Policy {
            keys,
            groups: file.groups,
            rules: Vec::new(),
            vouching,
            keyless,
            timestamps,
        };
        for (group, members) in &policy.groups {
            if policy.signer_names().any(|k| k == group) {
                return Err(fail(format!("`{group}` is both a key and a group")));
            }
            if let Some(unknown) = members
                .iter()
                .find(|m| !policy.signer_names().any(|k| k == m.as_str()))
            {
                return Err(fail(format!(
                    "group `{group}` names unknown key `{unknown}`"
                )));
            }
        }
        if file.rules.is_empty() {
            return Err(fail("it has no rules".into()));
        }
        for rule in file.rules {
            let matcher =
                glob(&rule.scope).map_err(|e| fail(format!("scope `{}`: {e}", rule.scope)))?;
            let rule = Rule {
                scope: rule.scope,
                matcher,
                signatures: rule.signatures,
                attestations: rule.attestations,
                aliases: rule.aliases,
                overwrite_versions: rule.overwrite_versions,
            };
            policy.check_rule(&rule).map_err(fail)?;
            policy.rules.push(rule);
        }
        Ok(policy)
    }

    fn check_rule(&self, rule: &Rule) -> Result<(), String> {
        let mut requirements: Vec<(usize, &[String], Option<&str>)> = Vec::new();
        let aliases = rule.aliases.values();
        for signatures in rule
            .signatures
            .iter()
            .chain(aliases.clone().filter_map(|a| a.signatures.as_ref()))
        {
            requirements.push((signatures.threshold, &signatures.signers, None));
        }
        for attestation in rule
            .attestations
            .iter()
            .chain(aliases.flat_map(|a| &a.attestations))
        {
            requirements.push((
                attestation.threshold,
                &attestation.signers,
                Some(&attestation.kind),
            ));
        }
        for (threshold, signers, kind) in requirements {
            if let Some(kind) = kind {
                predicate::predicate_type(kind)
                    .map_err(|e| format!("scope `{}`: {e}", rule.scope))?;
            }
            let allowed = self.expand(signers)?;
            // A vouching key stands for any number of approvers.
            let unbounded = kind.is_some() && allowed.iter().any(|k| self.vouching.contains(k));
            if threshold == 0 || (threshold > allowed.len() && !unbounded) {
                return Err(format!(
                    "scope `{}`: threshold {threshold} cannot be met by {} signer(s)",
                    rule.scope,
                    allowed.len()
                ));
            }
        }
        Ok(())
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Whether `--force` may move a version tag in `repository`: only where the covering
    /// rule sets `overwriteVersions: true`.
    pub fn allows_overwrite(&self, repository: &str) -> bool {
        self.rule_for(repository)
            .is_some_and(|r| r.overwrite_versions)
    }

    /// The first rule whose scope matches `repository` (`HOST/REPO`, a local name, `oci:PATH`).
    pub fn rule_for(&self, repository: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matcher.is_match(repository))
    }

    /// Key names a list of key and group names stands for; empty means every key.
    /// The names of every trusted signer: keys, then keyless identities.
    fn signer_names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.name.as_str()).chain(
            self.keyless
                .iter()
                .flat_map(|k| k.identities.iter().map(|(name, _)| name.as_str())),
        )
    }

    fn expand(&self, names: &[String]) -> Result<BTreeSet<String>, String> {
        if names.is_empty() {
            return Ok(self.signer_names().map(str::to_owned).collect());
        }
        let mut out = BTreeSet::new();
        for name in names {
            if let Some(members) = self.groups.get(name) {
                out.extend(members.iter().cloned());
            } else if self.signer_names().any(|k| k == name) {
                out.insert(name.clone());
            } else {
                return Err(format!("`{name}` is neither a key nor a group"));
            }
        }
        Ok(out)
    }

    /// Evaluates the rule covering `repository` against `evidence` at time `now`.
    pub fn evaluate(&self, repository: &str, evidence: &Evidence, now: OffsetDateTime) -> Verdict {
        let Some(rule) = self.rule_for(repository) else {
            return Verdict {
                rule: None,
                findings: Vec::new(),
            };
        };
        let mut findings = Vec::new();
        if let Some(signatures) = &rule.signatures {
            findings.push(self.signature_finding(signatures, evidence));
        }
        for attestation in &rule.attestations {
            findings.push(self.attestation_finding(attestation, evidence, now));
        }
        Verdict {
            rule: Some(rule.scope.clone()),
            findings,
        }
    }

    /// Evaluates what moving `alias` to the model needs: the rule's own requirements plus
    /// the alias's. With no alias entry in the rule, the rule's requirements alone apply.
    pub fn evaluate_alias(
        &self,
        repository: &str,
        alias: &str,
        evidence: &Evidence,
        now: OffsetDateTime,
    ) -> Verdict {
        let mut verdict = self.evaluate(repository, evidence, now);
        if let Some(extra) = self.rule_for(repository).and_then(|r| r.aliases.get(alias)) {
            if let Some(signatures) = &extra.signatures {
                verdict
                    .findings
                    .push(self.signature_finding(signatures, evidence));
            }
            for attestation in &extra.attestations {
                verdict
                    .findings
                    .push(self.attestation_finding(attestation, evidence, now));
            }
        }
        verdict
    }

    fn signature_finding(&self, rule: &SignatureRule, evidence: &Evidence) -> Finding {
        let allowed = self.expand(&rule.signers).unwrap_or_default();
        let signed: Vec<String> = evidence
            .signers()
            .into_iter()
            .filter(|s| allowed.contains(s))
            .collect();
        Finding {
            requirement: format!(
                "{} signature(s) by {}",
                rule.threshold,
                describe(&rule.signers, &allowed)
            ),
            met: signed.len() >= rule.threshold,
            detail: if signed.is_empty() {
                no_signature_detail(evidence)
            } else {
                format!("signed by {}", signed.join(", "))
            },
        }
    }

    fn attestation_finding(
        &self,
        rule: &AttestationRule,
        evidence: &Evidence,
        now: OffsetDateTime,
    ) -> Finding {
        let uri = predicate::predicate_type(&rule.kind).unwrap_or_else(|_| rule.kind.clone());
        let allowed = self.expand(&rule.signers).unwrap_or_default();
        let conditions: Vec<String> = rule
            .conditions
            .iter()
            .map(|(k, v)| format!("{k}={}", plain(v)))
            .collect();
        let requirement = format!(
            "{} `{}` attestation(s){} by {}",
            rule.threshold,
            rule.kind,
            if conditions.is_empty() {
                String::new()
            } else {
                format!(" with {}", conditions.join(", "))
            },
            describe(&rule.signers, &allowed)
        );
        let mut notes = Vec::new();
        let mut met_by = BTreeSet::new();
        for (signer, check) in current(evidence, &uri, &self.vouching) {
            let key = signer
                .split_once(" for ")
                .map_or(signer.as_str(), |(k, _)| k);
            if !allowed.contains(key) {
                continue;
            }
            let Some(statement) = &check.statement else {
                continue;
            };
            if uri == predicate::APPROVAL {
                // An expiry the signer reckoned on its own clock moves with the timestamp.
                match serde_json::from_value::<Approval>(statement.predicate.clone()) {
                    Ok(approval) if approval.expired(now - check.drift()) => {
                        notes.push(format!(
                            "{signer}'s approval expired {}",
                            approval.expires.unwrap_or_default()
                        ));
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        notes.push(format!("{signer}'s approval is malformed ({e})"));
                        continue;
                    }
                }
            }
            match unmet_condition(&statement.predicate, &rule.conditions) {
                None => {
                    met_by.insert(signer);
                }
                Some(why) => notes.push(format!("{signer}: {why}")),
            }
        }
        let unverified = evidence
            .attestations
            .iter()
            .filter(|a| a.problem.is_some() && a.predicate_type.as_deref() == Some(uri.as_str()))
            .count();
        if unverified > 0 {
            notes.push(format!(
                "{unverified} more not signed by a trusted key or not about this model"
            ));
        }
        let mut detail = if met_by.is_empty() {
            "none found".to_owned()
        } else {
            format!(
                "by {}",
                met_by.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        if !notes.is_empty() {
            detail.push_str(&format!(" ({})", notes.join("; ")));
        }
        Finding {
            requirement,
            met: met_by.len() >= rule.threshold,
            detail,
        }
    }
}

/// The attestations of `uri` that count, each with one signer. For approvals only each
/// signer's latest decision per environment counts, so a later rejection revokes an
/// earlier approval.
///
/// Approvals signed by a vouching key count per approver they name: `service for alice`.
fn current<'a>(
    evidence: &'a Evidence,
    uri: &'a str,
    vouching: &BTreeSet<String>,
) -> Vec<(String, &'a AttestationCheck)> {
    let unit = |signer: &String, a: &AttestationCheck| {
        let approver = a
            .statement
            .as_ref()
            .and_then(|s| s.predicate.get("approver"))
            .and_then(|v| v.as_str());
        match approver {
            Some(approver) if vouching.contains(signer) && uri == predicate::APPROVAL => {
                format!("{signer} for {approver}")
            }
            _ => signer.clone(),
        }
    };
    let mut all: Vec<(String, &AttestationCheck)> = evidence
        .attestations_of(uri)
        .flat_map(|a| a.signers.iter().map(move |s| (unit(s, a), a)))
        .collect();
    if uri != predicate::APPROVAL {
        return all;
    }
    let decided = |a: &AttestationCheck| {
        let predicate = a.statement.as_ref().map(|s| &s.predicate);
        let environment = predicate
            .and_then(|p| p.get("environment"))
            .and_then(|e| e.as_str())
            .unwrap_or_default()
            .to_owned();
        // The trusted timestamp decides which decision is the latest, when there is one.
        (environment, a.time())
    };
    all.sort_by_key(|(signer, a)| {
        let (environment, time) = decided(a);
        (signer.clone(), environment, time)
    });
    let mut latest: BTreeMap<(String, String), &AttestationCheck> = BTreeMap::new();
    for (signer, check) in all {
        latest.insert((signer, decided(check).0), check);
    }
    latest
        .into_iter()
        .map(|((signer, _), check)| (signer, check))
        .collect()
}

fn unmet_condition(
    predicate: &serde_json::Value,
    conditions: &BTreeMap<String, serde_json::Value>,
) -> Option<String> {
    for (path, expected) in conditions {
        let actual = path.split('.').try_fold(predicate, |v, part| v.get(part));
        let ok = match (actual, expected) {
            (Some(actual), serde_json::Value::Array(options)) => {
                options.iter().any(|o| same(actual, o))
            }
            (Some(actual), expected) => same(actual, expected),
            (None, _) => false,
        };
        if !ok {
            return Some(match actual {
                Some(actual) => format!("{path} is {}", plain(actual)),
                None => format!("no {path}"),
            });
        }
    }
    None
}

fn same(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    match (actual.as_f64(), expected.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => plain(actual) == plain(expected),
    }
}

fn plain(value: &serde_json::Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn describe(names: &[String], allowed: &BTreeSet<String>) -> String {
    let members = allowed.iter().cloned().collect::<Vec<_>>().join(", ");
    match names {
        [] => format!("any trusted key ({members})"),
        [group] if !allowed.contains(group) => format!("{group} ({members})"),
        _ => members,
    }
}

fn no_signature_detail(evidence: &Evidence) -> String {
    let problems: Vec<&str> = evidence
        .signatures
        .iter()
        .filter_map(|s| s.problem.as_deref())
        .collect();
    // Unreadable signatures are not "no signatures": say what was wrong with them.
    let unreadable: Vec<&str> = evidence
        .problems
        .iter()
        .map(String::as_str)
        .filter(|p| p.contains(".sig") || p.starts_with("bundle"))
        .collect();
    if evidence.signatures.is_empty() && !unreadable.is_empty() {
        format!(
            "no signature could be read: {}",
            dedup(unreadable).join("; ")
        )
    } else if evidence.signatures.is_empty() {
        "the model has no signatures".into()
    } else {
        format!(
            "{} signature(s), none valid: {}",
            evidence.signatures.len(),
            dedup(problems).join("; ")
        )
    }
}

fn dedup(mut items: Vec<&str>) -> Vec<&str> {
    items.sort_unstable();
    items.dedup();
    items
}

fn glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

#[cfg(test)]
mod tests;
