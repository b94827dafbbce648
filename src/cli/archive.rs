//! `modelark export REF -o FILE.tar` and `modelark import FILE.tar`.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use modelark::reference::{Location, Reference, Tag};
use modelark::sign::attach;
use modelark::store::{Home, LayoutRepo, archive};
use serde::Serialize;

use super::{Op, open_repo, output};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The model: NAME[:TAG][@DIGEST] or oci:PATH[:TAG|@DIGEST].
    reference: Reference,
    /// The archive to write, or - for stdout.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The archive, or - for stdin.
    input: PathBuf,
    /// Store it as NAME[:TAG] instead of the name recorded in the archive.
    #[arg(short = 't', long = "tag", value_name = "REF")]
    target: Option<Reference>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let reference = &args.reference;
    let repo = open_repo(reference, false)?;
    let (descriptor, manifest) = repo
        .manifest(reference)
        .op(|| format!("failed to read {reference}"))?;
    let tag = reference.tag().cloned().unwrap_or_else(Tag::latest);
    let full_name = reference.with_tag(tag.clone()).to_string();
    // Signatures, attestations and referrers travel with the model so an air-gapped site
    // can verify it offline.
    let digest = &descriptor.digest;
    let wanted = [
        attach::sig_tag(digest),
        attach::att_tag(digest),
        attach::fallback_tag(digest),
    ];
    let attachments: Vec<(Tag, String, _)> = repo
        .entries()
        .op(|| format!("failed to read {reference}"))?
        .into_iter()
        .filter(|e| wanted.contains(&e.tag))
        .map(|e| {
            let name = reference.with_tag(e.tag.clone()).to_string();
            (e.tag, name, e.descriptor)
        })
        .collect();
    let what = || format!("failed to export {reference} to {}", args.output.display());
    let write = |out: &mut dyn Write| {
        let layout = repo.layout();
        archive::export(
            layout,
            &descriptor,
            &manifest,
            &tag,
            &full_name,
            &attachments,
            out,
        )
        .op(what)
    };
    if args.output.as_os_str() == "-" {
        return write(&mut io::stdout().lock());
    }
    let dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".modelark-export-")
        .tempfile_in(&dir)
        .with_context(|| format!("failed to create a temp file in {}", dir.display()))?;
    write(&mut io::BufWriter::new(&mut file))?;
    file.as_file().sync_all().with_context(what)?;
    file.persist(&args.output).with_context(what)?;
    output::line(format!(
        "exported {}@{} to {}",
        reference,
        descriptor.digest.short(),
        args.output.display()
    ))
}

#[derive(Serialize)]
struct Imported {
    reference: String,
    digest: String,
}

pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    let home = Home::from_env().op(|| "failed to locate the local store".into())?;
    let store_ref: Reference = "modelark-import".parse().expect("a valid name");
    let store =
        LayoutRepo::open(&store_ref, &home, true).op(|| "failed to open the local store".into())?;
    let layout = store.layout();
    let what = || format!("failed to import {}", args.input.display());
    let guard = layout.write_guard().op(what)?;
    let result = if args.input.as_os_str() == "-" {
        archive::import(layout, io::stdin().lock(), &args.input)
    } else {
        archive::import_file(layout, &args.input)
    };
    let found = match result {
        Ok(found) => found,
        Err(e) => {
            drop(guard);
            // Blobs that arrived before the failure belong to nothing: free them.
            let _ = layout.gc();
            return Err(e).op(what);
        }
    };
    let is_attachment = |item: &archive::Imported| {
        item.ref_name
            .as_deref()
            .is_some_and(|r| r.starts_with("sha256-"))
    };
    let models = found.iter().filter(|i| !is_attachment(i)).count();
    if args.target.is_some() && models != 1 {
        anyhow::bail!(
            "{} holds {} models; -t names exactly one",
            args.input.display(),
            models
        );
    }
    let mut imported = Vec::new();
    for item in found {
        let target = match &args.target {
            Some(target) if is_attachment(&item) => {
                let tag: Tag = item
                    .ref_name
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .map_err(anyhow::Error::msg)?;
                target.with_tag(tag)
            }
            Some(target) => target.clone(),
            None => archive_name(&item).with_context(|| {
                format!(
                    "{} does not say what model it holds; pass -t NAME:TAG",
                    args.input.display()
                )
            })?,
        };
        let Location::Local { .. } = target.location() else {
            anyhow::bail!("import stores into the local store; {target} is not a local NAME:TAG");
        };
        let repo = open_repo(&target, true)?;
        let tag = target.tag_or_latest();
        repo.set_tag(&tag, &item.descriptor)
            .op(|| format!("failed to tag {target}"))?;
        if !is_attachment(&item) {
            imported.push(Imported {
                reference: target.with_tag(tag).to_string(),
                digest: item.descriptor.digest.to_string(),
            });
        }
    }
    drop(guard);
    if args.json {
        return output::json(&imported);
    }
    for item in imported {
        let mut out = io::stdout().lock();
        writeln!(out, "imported {}@{}", item.reference, item.digest)?;
    }
    Ok(())
}

/// The local name an archive entry records: its containerd name (a local reference, or a
/// registry one whose repository becomes the local name), else none.
fn archive_name(item: &archive::Imported) -> Option<Reference> {
    let name: Reference = item.name.as_deref()?.parse().ok()?;
    match name.location() {
        Location::Local { .. } => Some(name),
        Location::Registry { repository, .. } => {
            let local: Reference = repository.as_str().parse().ok()?;
            Some(match name.tag() {
                Some(tag) => local.with_tag(tag.clone()),
                None => local,
            })
        }
        Location::Layout { .. } => None,
    }
}
