//! `modelark login` and `logout`: credentials in the docker `config.json` format.

use std::io::Read;

use anyhow::Context;
use modelark::store::registry::{CredentialStore, Credentials};

use super::{Op, RegistryArgs, output};

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The registry host, e.g. ghcr.io or localhost:5000.
    host: String,
    /// Username.
    #[arg(short, long)]
    username: String,
    /// Read the password (or token) from stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Password on the command line (visible to other users; prefer --password-stdin).
    #[arg(short, long, conflicts_with = "password_stdin", hide_env_values = true)]
    password: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// The registry host.
    host: String,
}

pub async fn login(args: LoginArgs, registry: &RegistryArgs) -> anyhow::Result<()> {
    let password = match (&args.password, args.password_stdin) {
        (Some(password), _) => password.clone(),
        (None, true) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("failed to read the password from stdin")?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => anyhow::bail!("pass --password-stdin (or --password)"),
    };
    let credentials = Credentials::new(&args.username, password);
    let client = registry.client()?;
    // Check before storing, as docker does: a typo should not be saved.
    client
        .ping(&args.host, Some(credentials.clone()))
        .await
        .op(|| format!("failed to log in to {}", args.host))?;
    let store = CredentialStore::from_env();
    store
        .store(&args.host, &credentials)
        .op(|| format!("failed to store credentials in {}", store.path().display()))?;
    output::line(format!("logged in to {} as {}", args.host, args.username))
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let store = CredentialStore::from_env();
    let removed = store.erase(&args.host).op(|| {
        format!(
            "failed to remove credentials from {}",
            store.path().display()
        )
    })?;
    if removed {
        output::line(format!("logged out of {}", args.host))
    } else {
        output::line(format!("no credentials stored for {}", args.host))
    }
}
