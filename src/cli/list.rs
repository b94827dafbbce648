//! `modelark list [NAME|oci:PATH]`: what the local store or a layout holds.

use modelark::ops::{self, ListTarget, Listed, inspect::ListEntry};
use modelark::reference::Location;

use super::{Env, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A repository: NAME (local store), oci:PATH, or HOST/REPO; HOST/ or HOST/PREFIX/ lists
    /// the registry's repositories; everything local if omitted.
    reference: Option<ListTarget>,
    /// Also list signature and attestation tags (sha256-<hex>.sig/.att).
    #[arg(long)]
    all: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// `modelark list [--all] [--json]`: everything in the local store.
    pub fn whole_store(all: bool, json: bool) -> Args {
        Args {
            reference: None,
            all,
            json,
        }
    }
}

pub async fn run(args: Args, env: &Env) -> anyhow::Result<()> {
    let target = args.reference.clone().unwrap_or(ListTarget::Store);
    let ctx = env.context(true)?;
    let listed = ops::list(&ctx, &target, args.all).await?;
    if args.json {
        return output::json(&listed);
    }
    match listed {
        Listed::Repositories(names) => {
            let ListTarget::Catalog { host, .. } = &target else {
                unreachable!("only a catalog lists repositories")
            };
            let rows: Vec<Vec<String>> = names
                .into_iter()
                .map(|n| vec![format!("{host}/{}", n.repository)])
                .collect();
            output::table(&["REPOSITORY"], &rows)
        }
        Listed::Models(rows) => table(&rows, names_repositories(&target, env)),
    }
}

/// Whether the listing has a NAME column: the local store's, not a layout's or a
/// registry repository's.
fn names_repositories(target: &ListTarget, env: &Env) -> bool {
    match target {
        ListTarget::Store => true,
        ListTarget::Catalog { .. } => false,
        ListTarget::Repository(reference) => match reference.location() {
            Location::Layout { .. } => false,
            Location::Registry { .. } => env.registry.offline,
            Location::Local { .. } => true,
        },
    }
}

fn table(rows: &[ListEntry], named: bool) -> anyhow::Result<()> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.tag.clone(),
                r.digest
                    .parse::<modelark::Digest>()
                    .map(|d| d.short())
                    .unwrap_or_default(),
                r.size.map(output::size).unwrap_or_else(|| "?".into()),
                r.version.clone().unwrap_or_else(|| "-".into()),
            ];
            if named {
                cells.insert(0, r.name.clone().unwrap_or_default());
            }
            cells
        })
        .collect();
    let header: &[&str] = if named {
        &["NAME", "TAG", "DIGEST", "SIZE", "VERSION"]
    } else {
        &["TAG", "DIGEST", "SIZE", "VERSION"]
    };
    output::table(header, &cells)
}
