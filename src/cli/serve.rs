//! `modelark serve`: the registry as a service (see docs/serve.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use modelark::serve::{Config, config};

/// Flags for a quick look; `--config` for everything else.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service configuration (docs/serve.md); flags override what it says.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// A registry (and repository prefix) to serve, HOST[:PORT][/PREFIX] (repeatable);
    /// none serves the local store.
    #[arg(long = "registry", value_name = "URL")]
    registries: Vec<String>,
    /// The trust policy versions are shown and promoted under.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Let unauthenticated clients read everything (the default without --config).
    #[arg(long)]
    anonymous_read: bool,
    /// Where the index cache lives [default: $MODELARK_HOME/serve].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub async fn run(args: Args, registry: &super::RegistryArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            let mut config: Config = serde_yaml_ng::from_str("{}")?;
            config.data_dir = super::home()?.root().join("serve");
            config
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    for url in &args.registries {
        config.registries.push(config::RegistryConfig {
            url: url.clone(),
            plain_http: registry.plain_http,
            ca_file: registry.ca_file.clone(),
        });
    }
    if args.policy.is_some() {
        config.policy = args.policy.clone();
    }
    if args.anonymous_read {
        config.auth.anonymous = config::Anonymous::Viewer;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if config.store.is_none() {
        config.store = Some(super::home()?.root().to_owned());
    }
    config
        .check()
        .map_err(|reason| anyhow::anyhow!("invalid service configuration: {reason}"))?;
    modelark::serve::run(config, super::credentials())
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
