//! Artifact → directory, safely: every path is checked before anything is written, every
//! blob is verified while it streams, everything lands in a temp directory beside the
//! target that is renamed into place only when all of it succeeded.
//!
//! Reads ModelPack raw and tar layers (also the legacy `cnai` names), KitOps ModelKits
//! (tar+gzip layers) and plain ORAS pushes (files named by `org.opencontainers.image.title`).

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::Error;
use crate::media_types;
use crate::oci::{Descriptor, Manifest};
use crate::progress::{ProgressWriter, Reporter};
use crate::store::Layout;
use crate::store::layout;

/// How to unpack.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only files whose path matches one of these globs (all files when empty).
    pub include: Vec<String>,
    /// Replace an existing non-empty output directory.
    pub force: bool,
    /// Blobs this process verified moments ago (e.g. just downloaded): copied by the kernel
    /// without hashing them again. Every other blob is verified while it is copied.
    pub verified: std::collections::HashSet<crate::Digest>,
    /// What [`prepare`] found at the output before anything was fetched; only that is
    /// replaced. `None` checks when unpacking starts.
    pub output: Option<Output>,
    /// Files written beside the model's (relative path, bytes): the model signature that
    /// `--model-sig` asks for. A path a layer also names is refused.
    pub extra: Vec<(String, Vec<u8>)>,
}

/// What [`unpack`] wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Layers skipped because they name no file, with the reason.
    pub skipped: Vec<String>,
    /// The output already held exactly this model; nothing was written.
    pub unchanged: bool,
}

/// How a layer's content is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The blob is one file.
    Raw,
    /// The blob is a tar archive.
    Tar,
    /// The blob is a gzip-compressed tar archive.
    TarGzip,
    /// A compression modelark does not read.
    Unsupported,
}

impl Format {
    /// The format a layer media type declares.
    pub fn of(media_type: &str) -> Format {
        if media_type.ends_with("zstd") {
            Format::Unsupported
        } else if media_type.ends_with("tar+gzip")
            || media_type.ends_with("tar.gzip")
            || media_type.ends_with(".tar.gz")
        {
            Format::TarGzip
        } else if media_type.ends_with(".tar") || media_type.ends_with("+tar") {
            Format::Tar
        } else {
            Format::Raw
        }
    }
}

/// How a layer is laid out, by the conventions of the tool that wrote it: ModelPack layers
/// by media type; ORAS layers named by a title are the file itself unless ORAS marked them
/// as a directory tarball (`io.deis.oras.content.unpack`) — oras-py labels plain files
/// `...layer.v1.tar`; anything else by media type.
pub fn layer_format(layer: &Descriptor) -> Format {
    let has = |key: &str| layer.annotations.contains_key(key);
    let modelpack =
        has(media_types::ANNOTATION_FILEPATH) || has(media_types::LEGACY_ANNOTATION_FILEPATH);
    let oras_directory = layer
        .annotations
        .get(media_types::ORAS_UNPACK)
        .is_some_and(|v| v == "true");
    if !modelpack && has(media_types::OCI_TITLE) && !oras_directory {
        return Format::Raw;
    }
    Format::of(&layer.media_type)
}

/// The file path a layer declares: ModelPack `filepath` (or its legacy name), else ORAS's title.
pub fn layer_path(layer: &Descriptor) -> Option<&str> {
    [
        media_types::ANNOTATION_FILEPATH,
        media_types::LEGACY_ANNOTATION_FILEPATH,
        media_types::OCI_TITLE,
    ]
    .iter()
    .find_map(|key| layer.annotations.get(*key))
    .map(String::as_str)
}

/// The permission bits a layer's file metadata records, if any.
fn layer_mode(layer: &Descriptor) -> Option<u32> {
    let json = layer
        .annotations
        .get(media_types::ANNOTATION_FILE_METADATA)
        .or_else(|| {
            layer
                .annotations
                .get(media_types::LEGACY_ANNOTATION_FILE_METADATA)
        })?;
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    value.get("mode")?.as_u64().map(|m| m as u32)
}

/// Checks that `path` is relative and stays inside the directory it is joined to.
///
/// # Errors
/// [`Error::UnsafePath`] saying why.
pub fn safe_relative_path(path: &str) -> Result<PathBuf, Error> {
    let refuse = |reason: &'static str| Error::UnsafePath {
        path: path.to_owned(),
        reason,
    };
    if path.is_empty() {
        return Err(refuse("it is empty"));
    }
    if path.contains('\0') {
        return Err(refuse("it contains a NUL byte"));
    }
    if path.contains('\\') {
        return Err(refuse("it contains a backslash"));
    }
    let bytes = path.as_bytes();
    if path.starts_with('/')
        || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
    {
        return Err(refuse("it is absolute"));
    }
    let trimmed = path.strip_prefix("./").unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    for component in trimmed.split('/') {
        match component {
            ".." => return Err(refuse("it contains '..'")),
            "" | "." => return Err(refuse("it has an empty or '.' component")),
            _ => {}
        }
    }
    let relative = PathBuf::from(trimmed);
    debug_assert!(
        relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    );
    Ok(relative)
}

/// One layer's share of the work.
struct Plan<'a> {
    layer: &'a Descriptor,
    format: Format,
    path: Option<PathBuf>,
}

/// Unpacks the artifact `manifest` describes from `layout` into `out`.
///
/// # Errors
/// [`Error`]: unsafe paths and duplicates before anything is written; corrupt blobs while
/// writing. On any error `out` is untouched and no temp directory is left.
pub fn unpack(
    layout: &Layout,
    manifest: &Manifest,
    out: &Path,
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Report, Error> {
    let include = include_set(&options.include)?;
    let (plans, mut report) = plan(manifest, &include)?;
    for (path, _) in &options.extra {
        let path = safe_relative_path(path)?;
        if plans.iter().any(|p| p.path.as_ref() == Some(&path)) {
            return Err(Error::DuplicatePath {
                path: path.display().to_string(),
            });
        }
    }
    let checked = match &options.output {
        Some(checked) => checked.clone(),
        None => prepare(manifest, out, options.force, &options.extra)?,
    };
    if checked == Output::Same {
        report.files = plans.len();
        report.bytes = plans.iter().map(|p| p.layer.size).sum();
        report.unchanged = true;
        return Ok(report);
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    fs_err::create_dir_all(&parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".modelark-unpack-")
        .tempdir_in(&parent)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "failed to create a temp directory in {}: {e}",
                    parent.display()
                ),
            )
        })?;
    // Should this process die before the rename, `store gc` finds the temp directory.
    // (A layout on read-only media cannot keep the record; the unpack goes on without it.)
    let _record = layout
        .record_unpack(staging.path())
        .inspect_err(|e| tracing::debug!("not recording the unpack: {e}"))
        .ok();
    reporter.total(plans.iter().map(|p| p.layer.size).sum());
    for (id, plan) in plans.iter().enumerate() {
        let written = match plan.format {
            Format::Raw if options.verified.contains(&plan.layer.digest) => {
                copy_verified(layout, plan, staging.path())?
            }
            Format::Raw => write_raw(layout, plan, staging.path(), id, reporter)?,
            Format::Tar | Format::TarGzip => write_tar(layout, plan, staging.path(), &include)?,
            Format::Unsupported => unreachable!("refused while planning"),
        };
        report.files += written.0;
        report.bytes += written.1;
    }
    for (path, bytes) in &options.extra {
        let target = staging.path().join(safe_relative_path(path)?);
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&target, bytes)?;
    }
    place(staging, out, &checked)?;
    Ok(report)
}

fn include_set(globs: &[String]) -> Result<Option<GlobSet>, Error> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob).map_err(|source| Error::Pattern {
            glob: glob.clone(),
            source,
        })?);
    }
    Ok(Some(builder.build().map_err(|source| Error::Pattern {
        glob: globs.join(" "),
        source,
    })?))
}

/// Decides what each layer becomes, refusing unsafe or duplicate paths up front.
fn plan<'a>(
    manifest: &'a Manifest,
    include: &Option<GlobSet>,
) -> Result<(Vec<Plan<'a>>, Report), Error> {
    let mut plans = Vec::new();
    let mut report = Report::default();
    let mut seen = BTreeSet::new();
    for layer in &manifest.layers {
        let format = layer_format(layer);
        if format == Format::Unsupported {
            return Err(Error::UnsupportedLayer {
                digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
            });
        }
        let path = layer_path(layer).map(safe_relative_path).transpose()?;
        if let Some(path) = &path {
            if format == Format::Raw && !seen.insert(path.clone()) {
                return Err(Error::DuplicatePath {
                    path: path.display().to_string(),
                });
            }
            let wanted = include.as_ref().is_none_or(|set| set.is_match(path));
            if format == Format::Raw && !wanted {
                continue;
            }
        } else if format == Format::Raw {
            report.skipped.push(format!(
                "{} ({}): no file path annotation",
                layer.digest, layer.media_type
            ));
            continue;
        }
        plans.push(Plan {
            layer,
            format,
            path,
        });
    }
    Ok((plans, report))
}

/// What [`check_output`] found at the output path: what may be replaced at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Nothing: the model is renamed into place, and only while nothing is there.
    Absent,
    /// An empty directory (this one): replaced only while it is this directory, still empty.
    Empty(FileId),
    /// A directory to replace (`force`): replaced only while it is this directory.
    Replace(FileId),
    /// A directory that already holds exactly this model: nothing to write.
    Same,
}

/// A directory's identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId(u64, u64);

impl FileId {
    fn of(metadata: &std::fs::Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId(metadata.dev(), metadata.ino())
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            FileId(0, 0)
        }
    }
}

/// Checks that `out` can receive an unpacked model: absent, an empty directory, or (with
/// `force`) a directory to replace. Callers check before fetching anything, and pass what
/// it returns to [`unpack`], which replaces only what was checked.
///
/// # Errors
/// [`Error::OutputExists`], [`Error::OutputNotADirectory`].
pub fn check_output(out: &Path, force: bool) -> Result<Output, Error> {
    match fs_err::symlink_metadata(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Output::Absent),
        Err(e) => Err(e.into()),
        Ok(m) if m.is_dir() => {
            let empty = fs_err::read_dir(out)?.next().is_none();
            if force {
                Ok(Output::Replace(FileId::of(&m)))
            } else if empty {
                Ok(Output::Empty(FileId::of(&m)))
            } else {
                Err(Error::OutputExists {
                    path: out.to_owned(),
                })
            }
        }
        Ok(_) => Err(Error::OutputNotADirectory {
            path: out.to_owned(),
        }),
    }
}

/// [`check_output`] for unpacking `manifest`: a non-empty `out` that already holds exactly
/// this model's files is [`Output::Same`] rather than an error, so that unpacking (or
/// pulling) the same model into the same directory again succeeds without writing.
///
/// # Errors
/// As [`check_output`].
pub fn prepare(
    manifest: &Manifest,
    out: &Path,
    force: bool,
    extra: &[(String, Vec<u8>)],
) -> Result<Output, Error> {
    match check_output(out, force) {
        Err(Error::OutputExists { path }) => {
            if holds(manifest, out, extra)? {
                Ok(Output::Same)
            } else {
                Err(Error::OutputExists { path })
            }
        }
        other => other,
    }
}

/// Whether `out` already holds exactly the files of `manifest` (same paths, sizes and
/// digests, nothing else), so that unpacking the same model again has nothing to do. Only
/// models made of file layers are compared; anything else answers `false`.
///
/// # Errors
/// I/O errors reading `out`.
pub fn holds(manifest: &Manifest, out: &Path, extra: &[(String, Vec<u8>)]) -> Result<bool, Error> {
    let (plans, _) = plan(manifest, &None)?;
    let mut expected = std::collections::BTreeMap::new();
    for plan in &plans {
        match (&plan.format, &plan.path) {
            (Format::Raw, Some(path)) => {
                expected.insert(path.clone(), plan.layer);
            }
            _ => return Ok(false),
        }
    }
    let mut found = Vec::new();
    if !list_files(out, Path::new(""), &mut found)? || found.len() != expected.len() + extra.len() {
        return Ok(false);
    }
    for relative in found {
        if let Some((_, bytes)) = extra
            .iter()
            .find(|(path, _)| Path::new(path) == relative.as_path())
        {
            if fs_err::read(out.join(&relative))? != *bytes {
                return Ok(false);
            }
            continue;
        }
        let Some(layer) = expected.get(&relative) else {
            return Ok(false);
        };
        let path = out.join(&relative);
        if fs_err::metadata(&path)?.len() != layer.size {
            return Ok(false);
        }
        let mut hasher = crate::digest::Hasher::new(layer.digest.algorithm());
        layout::copy(&mut fs_err::File::open(&path)?, &mut hasher)?;
        if hasher.finish() != layer.digest {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Collects the regular files under `dir`; `false` when it holds anything else (links,
/// devices), which an unpacked model never does.
fn list_files(dir: &Path, prefix: &Path, out: &mut Vec<PathBuf>) -> Result<bool, Error> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let relative = prefix.join(entry.file_name());
        if kind.is_dir() {
            if !list_files(&entry.path(), &relative, out)? {
                return Ok(false);
            }
        } else if kind.is_file() {
            out.push(relative);
        } else {
            return Ok(false);
        }
    }
    Ok(true)
}

fn write_raw(
    layout: &Layout,
    plan: &Plan<'_>,
    staging: &Path,
    id: usize,
    reporter: &dyn Reporter,
) -> Result<(usize, u64), Error> {
    let relative = plan
        .path
        .as_ref()
        .expect("raw layers are planned with a path");
    let target = staging.join(relative);
    if let Some(parent) = target.parent() {
        fs_err::create_dir_all(parent)?;
    }
    let mut reader = layout.open_blob(plan.layer)?;
    let file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)?;
    reporter.begin(id, &relative.display().to_string(), plan.layer.size);
    let mut writer = ProgressWriter::new(io::BufWriter::with_capacity(1 << 20, file), reporter, id);
    let copied = layout::copy(&mut reader, &mut writer);
    reporter.end(id);
    copied.map_err(|e| layout.read_error(&plan.layer.digest, e))?;
    writer
        .into_inner()
        .into_inner()
        .map_err(|e| e.into_error())?;
    set_mode(&target, layer_mode(plan.layer))?;
    Ok((1, plan.layer.size))
}

/// Copies an already verified blob with the kernel (`copy_file_range`, a reflink where the
/// file system has them).
fn copy_verified(layout: &Layout, plan: &Plan<'_>, staging: &Path) -> Result<(usize, u64), Error> {
    let relative = plan
        .path
        .as_ref()
        .expect("raw layers are planned with a path");
    let target = staging.join(relative);
    if let Some(parent) = target.parent() {
        fs_err::create_dir_all(parent)?;
    }
    if !layout.has_blob(plan.layer) {
        return Err(crate::store::Error::BlobMissing {
            digest: plan.layer.digest.clone(),
            layout: layout.root().to_owned(),
        }
        .into());
    }
    // create_new first, so a duplicate path can never overwrite a file already written.
    drop(
        fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)?,
    );
    let copied = fs_err::copy(layout.blob_path(&plan.layer.digest), &target)?;
    set_mode(&target, layer_mode(plan.layer))?;
    Ok((1, copied))
}

fn write_tar(
    layout: &Layout,
    plan: &Plan<'_>,
    staging: &Path,
    include: &Option<GlobSet>,
) -> Result<(usize, u64), Error> {
    let blob = layout.open_blob(plan.layer)?;
    let corrupt = |e: io::Error| layout.read_error(&plan.layer.digest, e);
    let reader: Box<dyn Read + '_> = match plan.format {
        Format::TarGzip => Box::new(flate2::read::GzDecoder::new(blob)),
        _ => Box::new(blob),
    };
    let mut archive = tar::Archive::new(reader);
    let (mut files, mut bytes) = (0, 0);
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let relative = safe_relative_path(&raw_path)?;
        let target = staging.join(&relative);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs_err::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if include.as_ref().is_some_and(|set| !set.is_match(&relative)) {
                    continue;
                }
                if let Some(parent) = target.parent() {
                    fs_err::create_dir_all(parent)?;
                }
                let mut file = fs_err::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)?;
                bytes += layout::copy(&mut entry, &mut file).map_err(corrupt)?;
                set_mode(&target, entry.header().mode().ok())?;
                files += 1;
            }
            other => {
                return Err(Error::UnsupportedEntry {
                    path: raw_path,
                    kind: format!("{other:?}"),
                });
            }
        }
    }
    // Read to the end so the verifying reader checks the whole blob's digest.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(corrupt)?;
    Ok((files, bytes))
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: Option<u32>) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    // Only the executable bit is honoured: no setuid, no world-writable files.
    let mode = if mode.is_some_and(|m| m & 0o111 != 0) {
        0o755
    } else {
        0o644
    };
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: Option<u32>) -> Result<(), Error> {
    Ok(())
}

/// Moves `staging` to `out`, replacing only what [`check_output`] saw there: a path that
/// was free must still be free (a directory that appeared meanwhile is never replaced), and
/// a directory to replace must still be that directory (and, without `force`, still empty).
fn place(staging: tempfile::TempDir, out: &Path, checked: &Output) -> Result<(), Error> {
    let changed = || Error::OutputChanged {
        path: out.to_owned(),
    };
    let id = match checked {
        Output::Absent => {
            return match rename_noreplace(staging.path(), out) {
                Ok(()) => {
                    let _ = staging.keep();
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(changed()),
                Err(e) => Err(rename_error(staging.path(), out, e).into()),
            };
        }
        Output::Empty(id) | Output::Replace(id) => *id,
        Output::Same => return Ok(()),
    };
    // Swap the two directories in one step; what was at `out` is now at the staging path.
    exchange(staging.path(), out).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => changed(),
        _ => rename_error(staging.path(), out, e).into(),
    })?;
    let old = staging.keep();
    let swapped_in = fs_err::symlink_metadata(&old).map(|m| m.is_dir() && FileId::of(&m) == id);
    let put_back = |error: Error| -> Error {
        match exchange(&old, out) {
            Ok(()) => {
                let _ = fs_err::remove_dir_all(&old);
                error
            }
            Err(e) => rename_error(&old, out, e).into(),
        }
    };
    if !swapped_in.unwrap_or(false) {
        return Err(put_back(changed()));
    }
    match checked {
        // Only an empty directory goes: if anything was written into it meanwhile, the
        // new model is taken back out and the directory stays as it is.
        Output::Empty(_) => match fs_err::remove_dir(&old) {
            Ok(()) => Ok(()),
            Err(_) => Err(put_back(changed())),
        },
        _ => {
            fs_err::remove_dir_all(&old)?;
            Ok(())
        }
    }
}

fn rename_error(from: &Path, to: &Path, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!(
            "failed to rename {} to {}: {error}",
            from.display(),
            to.display()
        ),
    )
}

/// `rename`, failing with `AlreadyExists` instead of replacing anything at `to`.
#[cfg(target_os = "linux")]
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
}

/// `rename`, failing with `AlreadyExists` instead of replacing anything at `to` (checked
/// first: this platform has no atomic form).
#[cfg(not(target_os = "linux"))]
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    if fs_err::symlink_metadata(to).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    std::fs::rename(from, to)
}

/// Swaps two paths atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// Swaps two paths (in three renames: this platform has no atomic exchange).
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let aside = a.with_extension("swap");
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths_pass_and_hostile_ones_are_refused() {
        for ok in ["a", "a/b.bin", "./a/b", "dir/", "weird:name", "ünï/cödé"] {
            safe_relative_path(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let hostile = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("C:/x", "absolute"),
            ("../x", "'..'"),
            ("a/../../x", "'..'"),
            ("a/..", "'..'"),
            ("a//b", "empty or '.'"),
            ("a/./b", "empty or '.'"),
            ("a\\..\\b", "backslash"),
            ("a\0b", "NUL"),
        ];
        for (path, reason) in hostile {
            let error = safe_relative_path(path).unwrap_err().to_string();
            assert!(error.contains(reason), "{path:?}: {error}");
        }
    }

    #[test]
    fn layer_formats_follow_each_tools_conventions() {
        let layer = |media_type: &str, annotations: &[(&str, &str)]| {
            let mut d = Descriptor::new(media_type, crate::Digest::sha256_of(b""), 0);
            for (k, v) in annotations {
                d.annotations.insert((*k).into(), (*v).into());
            }
            d
        };
        let tar = "application/vnd.oci.image.layer.v1.tar";
        // oras-py labels plain files as tar: the title makes them a file.
        assert_eq!(
            layer_format(&layer(tar, &[(media_types::OCI_TITLE, "w.bin")])),
            Format::Raw
        );
        // ...unless ORAS marked a directory tarball.
        let dir = layer(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            &[
                (media_types::OCI_TITLE, "d"),
                (media_types::ORAS_UNPACK, "true"),
            ],
        );
        assert_eq!(layer_format(&dir), Format::TarGzip);
        // ModelPack layers (which also carry a title) follow their media type.
        let modelpack = layer(
            "application/vnd.cncf.model.weight.v1.tar",
            &[
                (media_types::ANNOTATION_FILEPATH, "w"),
                (media_types::OCI_TITLE, "w"),
            ],
        );
        assert_eq!(layer_format(&modelpack), Format::Tar);
        assert_eq!(layer_format(&layer(tar, &[])), Format::Tar);
    }

    #[test]
    fn formats_follow_media_types() {
        let cases = [
            ("application/vnd.cncf.model.weight.v1.raw", Format::Raw),
            ("application/vnd.cncf.model.weight.v1.tar", Format::Tar),
            (
                "application/vnd.cncf.model.weight.v1.tar+gzip",
                Format::TarGzip,
            ),
            (
                "application/vnd.cncf.model.weight.v1.tar+zstd",
                Format::Unsupported,
            ),
            (
                "application/vnd.kitops.modelkit.model.v1.tar+gzip",
                Format::TarGzip,
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Format::TarGzip,
            ),
            ("application/vnd.oci.image.layer.v1.tar", Format::Tar),
            ("text/plain", Format::Raw),
        ];
        for (media_type, format) in cases {
            assert_eq!(Format::of(media_type), format, "{media_type}");
        }
    }
}
