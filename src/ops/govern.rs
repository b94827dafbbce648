//! Versions, promote, rollback and history: a repository's versions and the aliases that
//! move between them only with a signed record and what the trust policy asks.

use crate::context::Context;
use crate::error::{Op, Result};
use crate::governance::history::{self, Event, Moved};
use crate::governance::versions::{self, Versions};
use crate::reference::{Reference, Tag};
use crate::sign::PrivateKey;
use crate::store::Endpoint;
use crate::verify::{Policy, TrustedKey};

use super::Error;
use super::verify::enforce;

/// Lists a repository's versions (semver order) with their signatures and approvals as
/// `trust` verifies them (its keys, keyless identities and time-stamping authorities;
/// [`Policy::trust_keys`] for bare keys), and aliases; reads manifests, configs and
/// attachments, never weights.
///
/// # Errors
/// Transport and store errors.
pub async fn versions(ctx: &Context, repository: &Reference, trust: &Policy) -> Result<Versions> {
    let repository = repository.without_selector();
    let endpoint = ctx.endpoint(&repository, false)?;
    versions::list(&endpoint, trust, ctx.concurrency())
        .await
        .op(|| format!("failed to list the versions of {repository}"))
}

/// The timeline of versions, signatures, approvals and alias moves (only `alias`'s moves
/// when given), each marked verified or not under `trust`, as [`versions()`] verifies them.
///
/// # Errors
/// Transport and store errors.
pub async fn history(
    ctx: &Context,
    repository: &Reference,
    trust: &Policy,
    alias: Option<&str>,
) -> Result<Vec<Event>> {
    let repository = repository.without_selector();
    let endpoint = ctx.endpoint(&repository, false)?;
    let found = versions::list(&endpoint, trust, ctx.concurrency())
        .await
        .op(|| format!("failed to read the history of {repository}"))?;
    Ok(history::timeline(&found, alias))
}

/// Who moves an alias and under what: the key that signs the promotion record, the policy
/// whose requirements for the alias must hold, and what the record says.
#[derive(Clone, Copy, Debug)]
pub struct Move<'a> {
    /// Signs the promotion record.
    pub key: &'a PrivateKey,
    /// A name for the signing key in messages (its file).
    pub key_name: &'a str,
    /// The policy whose requirements for the alias must hold (when given); for rollback
    /// its keys also decide which earlier records count.
    pub policy: Option<&'a Policy>,
    /// Who, as recorded.
    pub by: &'a str,
    /// Why, as recorded.
    pub reason: Option<&'a str>,
}

impl Move<'_> {
    /// Checks what the policy asks of `alias` on `version`, then moves the alias with a
    /// signed record (`action`: promote or rollback).
    async fn apply(
        &self,
        ctx: &Context,
        endpoint: &Endpoint,
        repository: &Reference,
        version: &Tag,
        alias: &Tag,
        action: &str,
    ) -> Result<Moved> {
        let model = repository.with_tag(version.clone());
        if let Some(policy) = self.policy {
            enforce(endpoint, &model, policy, Some(alias.as_str())).await?;
        }
        let reason = self.reason.map(str::to_owned);
        let signer = ctx.signer(self.key)?;
        history::move_alias(endpoint, version, alias, &signer, self.by, reason, action)
            .await
            .op(|| format!("failed to {action} {model} to {alias}"))
    }
}

/// Moves `alias` to the version `reference` names, with a signed promotion record, when
/// the policy's requirements for that alias hold on that version.
///
/// # Errors
/// [`Error::NoVersion`]; [`crate::verify::Error::PolicyViolation`] naming what is missing;
/// [`crate::governance::Error::Alias`]; transport errors.
pub async fn promote(
    ctx: &Context,
    reference: &Reference,
    alias: &Tag,
    how: &Move<'_>,
) -> Result<Moved> {
    let Some(version) = reference.tag().cloned() else {
        return Err(Error::NoVersion {
            reference: reference.to_string(),
        }
        .into());
    };
    let endpoint = ctx.endpoint(reference, false)?;
    let repository = reference.without_selector();
    how.apply(ctx, &endpoint, &repository, &version, alias, "promote")
        .await
}

/// Moves `alias` back to where its last verified promotion moved it from. Earlier records
/// count when a policy key or the signing key itself signed them.
///
/// # Errors
/// [`crate::governance::Error::Alias`] when there is no verified move to undo; as
/// [`promote`].
pub async fn rollback(
    ctx: &Context,
    repository: &Reference,
    alias: &Tag,
    how: &Move<'_>,
) -> Result<Moved> {
    let repository = repository.without_selector();
    let endpoint = ctx.endpoint(&repository, false)?;
    let mut keys: Vec<TrustedKey> = how.policy.map(|p| p.keys().to_vec()).unwrap_or_default();
    let signing = how.key.public_key();
    if !keys.iter().any(|k| k.key == signing) {
        keys.push(TrustedKey {
            name: format!("{} (signing key)", how.key_name),
            key: signing,
        });
    }
    let what = || format!("failed to roll back {repository}:{alias}");
    let mut trust = Policy::trust_keys(keys);
    if let Some(policy) = how.policy {
        trust = trust.with_timestamp_trust(policy.timestamps().clone());
    }
    let found = versions::list(&endpoint, &trust, ctx.concurrency())
        .await
        .op(what)?;
    let target = history::rollback_target(&found, alias.as_str()).op(what)?;
    how.apply(ctx, &endpoint, &repository, &target, alias, "rollback")
        .await
}
