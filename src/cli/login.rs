//! `modelark login` and `logout`: credentials in the docker `config.json` format.

use std::io::Read;

use anyhow::Context;
use modelark::ops;
use modelark::store::registry::Credentials;

use super::{Env, output};

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

pub async fn login(args: LoginArgs, env: &Env) -> anyhow::Result<()> {
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
    let ctx = env.context(true)?;
    ops::login(&ctx, &args.host, &credentials).await?;
    output::line(format!("logged in to {} as {}", args.host, args.username))
}

pub fn logout(args: LogoutArgs, env: &Env) -> anyhow::Result<()> {
    let ctx = env.context(true)?;
    if ops::logout(&ctx, &args.host)? {
        output::line(format!("logged out of {}", args.host))
    } else {
        output::line(format!("no credentials stored for {}", args.host))
    }
}
