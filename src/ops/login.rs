//! Login and logout: registry credentials in the docker `config.json` format that docker,
//! podman and oras share.

use crate::context::Context;
use crate::error::{Op, Result};
use crate::store::registry::Credentials;

/// Checks `credentials` against the registry `host` (as docker does: a typo is not saved),
/// then stores them.
///
/// # Errors
/// The registry refusing them; a credential file that cannot be written.
pub async fn login(ctx: &Context, host: &str, credentials: &Credentials) -> Result<()> {
    ctx.client()?
        .ping(host, Some(credentials.clone()))
        .await
        .op(|| format!("failed to log in to {host}"))?;
    let store = ctx.credentials();
    store
        .store(host, credentials)
        .op(|| format!("failed to store credentials in {}", store.path().display()))
}

/// Removes the credentials stored for `host`; whether there were any.
///
/// # Errors
/// A credential file that cannot be written.
pub fn logout(ctx: &Context, host: &str) -> Result<bool> {
    let store = ctx.credentials();
    store.erase(host).op(|| {
        format!(
            "failed to remove credentials from {}",
            store.path().display()
        )
    })
}
