//! Pack: a model directory, its model file and overrides, into the local store or an
//! `oci:` layout as a ModelPack artifact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::context::Context;
use crate::digest::Digest;
use crate::error::{Op, Result};
use crate::governance::versions::{self, Overwrite};
use crate::metadata::{self, ModelMetadata};
use crate::package::{self, Kind, ModelFile, cache::DigestCache, modelfile};
use crate::reference::{Location, Reference};
use crate::sign::model_signing::{self, ModelFiles, ModelSignature};
use crate::store::Endpoint;

/// When the model was built, recorded as its `created` time and as every file's mtime.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum BuildTime {
    /// None recorded, files at the epoch: the same directory always packs to the same digest.
    #[default]
    Unrecorded,
    /// Now.
    Now,
    /// Seconds since the epoch (what `SOURCE_DATE_EPOCH` holds).
    Epoch(i64),
    /// An RFC 3339 time.
    At(String),
}

impl BuildTime {
    /// The `created` value and the file mtime.
    fn resolve(&self) -> Result<(Option<String>, i64)> {
        let invalid = |reason| super::Error::BuildTime { reason };
        let epoch = |seconds: i64| -> Result<(Option<String>, i64)> {
            let created = metadata::format_unix_time(seconds).map_err(invalid)?;
            Ok((Some(created), seconds))
        };
        match self {
            BuildTime::Unrecorded => Ok((None, 0)),
            BuildTime::Now => epoch(time::OffsetDateTime::now_utc().unix_timestamp()),
            BuildTime::Epoch(seconds) => epoch(*seconds),
            BuildTime::At(text) => {
                let time = metadata::parse_rfc3339(text).map_err(invalid)?;
                Ok((Some(text.clone()), time.unix_timestamp()))
            }
        }
    }
}

/// A model directory and what to say about it: the model file (else `DIR/modelark.yaml`
/// when present), metadata that overrides the file's, and packaging rules.
#[derive(Clone, Debug, Default)]
pub struct ModelInput {
    /// The model directory.
    pub dir: PathBuf,
    /// The model file; `None` reads `DIR/modelark.yaml` when it exists.
    pub model_file: Option<PathBuf>,
    /// Metadata over the model file's: every set field replaces the file's, a non-empty
    /// list replaces the file's list, metrics add to the file's. The name defaults to the
    /// target's last path component.
    pub overrides: ModelMetadata,
    /// Kind overrides (glob, kind), before the model file's; first match wins.
    pub kinds: Vec<(String, Kind)>,
    /// Globs left out, besides the model file's (`.git` always is).
    pub exclude: Vec<String>,
    /// Extra manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Pack the files symlinks point to even outside the directory.
    pub dereference: bool,
    /// The build time to record.
    pub created: BuildTime,
    /// Symlinks may point anywhere inside this directory, not only inside `dir` (set for a
    /// Hugging Face cache snapshot, whose files link into the repository's `blobs/`).
    pub links_within: Option<PathBuf>,
}

impl ModelInput {
    /// A directory packed with its model file and nothing else said.
    pub fn new(dir: impl Into<PathBuf>) -> ModelInput {
        ModelInput {
            dir: dir.into(),
            ..ModelInput::default()
        }
    }

    /// The pack options for writing this model as `target`.
    ///
    /// # Errors
    /// A model file that cannot be read; an invalid build time.
    pub fn options(&self, target: &Reference, ctx: &Context) -> Result<package::pack::Options> {
        let model_file = self.model_file()?;
        let (created, mtime) = self.created.resolve()?;
        let mut kinds = self.kinds.clone();
        kinds.extend(model_file.files.clone());
        // Precedence: what the caller says, then the model file, then the model card.
        let card = self.model_card().unwrap_or_default();
        let mut metadata = card.metadata;
        overlay(&mut metadata, &model_file.metadata);
        overlay(&mut metadata, &self.overrides);
        if created.is_some() {
            metadata.created = created;
        }
        if metadata.name.is_none() {
            metadata.name = Some(default_name(target, &self.dir));
        }
        let mut exclude = [model_file.exclude, self.exclude.clone()].concat();
        // A model signature is attached beside the model, not packed as one of its files.
        if self.signature_file().is_file() {
            exclude.push(model_signing::SIGNATURE_FILE.to_owned());
        }
        Ok(package::pack::Options {
            kinds,
            exclude,
            annotations: self.annotations.clone(),
            dereference: self.dereference,
            links_within: self.links_within.clone(),
            mtime,
            concurrency: ctx.concurrency(),
            metadata,
            cache: None,
            warnings: card.warnings,
        })
    }

    /// The Hugging Face model card in `DIR/README.md`, when it has front matter (read up
    /// to its first 1 MiB; a card that cannot be read is no card).
    pub fn model_card(&self) -> Option<metadata::model_card::Card> {
        use std::io::Read;
        let file = std::fs::File::open(self.dir.join(metadata::model_card::FILE_NAME)).ok()?;
        let mut text = String::new();
        file.take(1 << 20).read_to_string(&mut text).ok()?;
        metadata::model_card::parse(&text)
    }

    fn signature_file(&self) -> PathBuf {
        self.dir.join(model_signing::SIGNATURE_FILE)
    }

    /// The OpenSSF model signature in `DIR/model.sig`, when there is one (what
    /// `model_signing sign` wrote), as its bytes and what it signs. It is not packed as a
    /// file: pack and push attach it to the model once its files are known to be the ones
    /// it signs.
    ///
    /// # Errors
    /// [`super::Error::NotAModelSignature`]; I/O errors.
    pub fn model_signature(&self) -> Result<Option<(Vec<u8>, ModelSignature)>> {
        let path = self.signature_file();
        if !path.is_file() {
            return Ok(None);
        }
        let bytes = read_small(&path)
            .map_err(crate::store::Error::from)
            .op(|| format!("failed to read {}", path.display()))?;
        let signature =
            ModelSignature::from_slice(&bytes).map_err(|e| super::Error::NotAModelSignature {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Some((bytes, signature)))
    }

    fn model_file(&self) -> Result<ModelFile> {
        let path = match &self.model_file {
            Some(path) => path.clone(),
            None => {
                let default = self.dir.join(modelfile::FILE_NAME);
                if !default.is_file() {
                    return Ok(ModelFile::default());
                }
                default
            }
        };
        ModelFile::read(&path).op(|| format!("failed to read model file {}", path.display()))
    }
}

/// Puts every field `overrides` sets over `m`.
fn overlay(m: &mut ModelMetadata, overrides: &ModelMetadata) {
    fn set<T: Clone>(field: &mut Option<T>, value: &Option<T>) {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    fn replace<T: Clone>(field: &mut Vec<T>, value: &[T]) {
        if !value.is_empty() {
            *field = value.to_vec();
        }
    }
    let o = overrides;
    set(&mut m.name, &o.name);
    set(&mut m.version, &o.version);
    set(&mut m.title, &o.title);
    set(&mut m.description, &o.description);
    set(&mut m.vendor, &o.vendor);
    set(&mut m.family, &o.family);
    set(&mut m.doc_url, &o.doc_url);
    set(&mut m.created, &o.created);
    set(&mut m.framework, &o.framework);
    set(&mut m.format, &o.format);
    set(&mut m.architecture, &o.architecture);
    set(&mut m.param_size, &o.param_size);
    set(&mut m.precision, &o.precision);
    set(&mut m.quantization, &o.quantization);
    set(&mut m.task, &o.task);
    set(&mut m.capabilities, &o.capabilities);
    set(&mut m.signature, &o.signature);
    set(&mut m.lineage.training_run, &o.lineage.training_run);
    set(&mut m.lineage.parent, &o.lineage.parent);
    set(&mut m.lineage.source, &o.lineage.source);
    replace(&mut m.authors, &o.authors);
    replace(&mut m.licenses, &o.licenses);
    replace(&mut m.tags, &o.tags);
    replace(&mut m.lineage.datasets, &o.lineage.datasets);
    replace(&mut m.lineage.base_models, &o.lineage.base_models);
    m.metrics
        .extend(o.metrics.iter().map(|(k, v)| (k.clone(), *v)));
}

/// The name a model gets when nothing names it: the target's last path component, or for
/// an `oci:` layout the directory's name.
fn default_name(target: &Reference, dir: &Path) -> String {
    match target.location() {
        Location::Local { name }
        | Location::Registry {
            repository: name, ..
        } => name
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or(name.as_str())
            .to_owned(),
        Location::Layout { .. } => std::path::absolute(dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into()),
    }
}

/// What pack made.
#[derive(Clone, Debug, Serialize)]
pub struct Packed {
    /// Where it is, pinned: `NAME:TAG@DIGEST`.
    pub reference: Reference,
    /// The manifest digest.
    pub digest: Digest,
    /// How many files (layers).
    pub files: usize,
    /// Their total size.
    pub size: u64,
    /// The model the tag named before, when it moved.
    pub replaced: Option<Digest>,
    /// What was left out of the metadata (model card fields that do not map).
    pub warnings: Vec<String>,
}

/// Packs `model` into the local store or the `oci:` layout `target` names, tagged with
/// its tag (else `latest`). A digest in `target` is a promise: nothing is tagged when the
/// directory packs to another. A version tag that names another model is refused before
/// any blob is written, unless `overwrite` permits moving it.
///
/// # Errors
/// Packing errors; [`crate::governance::Error::VersionExists`]; a digest mismatch.
pub async fn pack(
    ctx: &Context,
    model: &ModelInput,
    target: &Reference,
    overwrite: Overwrite<'_>,
) -> Result<Packed> {
    let options = model.options(target, ctx)?;
    let signature = model.model_signature()?;
    let repo = ctx.local(target, true)?;
    let tag = target.tag_or_latest();
    let endpoint = Endpoint::Layout(repo.clone());
    let what = || format!("failed to pack {} into {target}", model.dir.display());
    // When the version exists, hash first: a refused model writes nothing at all.
    refuse_moved_version(model, &options, &endpoint, target, &tag, overwrite)
        .await
        .op(what)?;
    let layout = repo.layout().clone();
    let packed = blocking(model, &options, Some(layout), ctx.reporter())
        .await
        .op(what)?;
    if let Some(pinned) = target.digest()
        && *pinned != packed.descriptor.digest
    {
        return Err(crate::digest::Error::Mismatch {
            expected: pinned.clone(),
            actual: packed.descriptor.digest.clone(),
        })
        .op(|| {
            format!(
                "failed to pack {} as {target}: it packs to another digest; nothing was tagged",
                model.dir.display()
            )
        });
    }
    versions::check_write(&endpoint, &tag, &packed.descriptor.digest, overwrite)
        .await
        .op(|| format!("failed to pack {}", model.dir.display()))?;
    if let Some((_, signature)) = &signature {
        signs_these_files(model, signature, &packed.manifest)?;
    }
    let previous = repo
        .set_tag(&tag, &packed.descriptor)
        .op(|| format!("failed to tag {target}"))?;
    drop(packed.guard);
    if let Some((bytes, _)) = signature {
        attach_model_signature(&endpoint, &packed.descriptor, bytes)
            .await
            .op(|| {
                format!(
                    "failed to attach {} to {target}",
                    model.signature_file().display()
                )
            })?;
    }
    Ok(Packed {
        reference: target
            .with_tag(tag)
            .with_digest(packed.descriptor.digest.clone()),
        digest: packed.descriptor.digest.clone(),
        files: packed.manifest.layers.len(),
        size: packed.manifest.layers.iter().map(|l| l.size).sum(),
        replaced: previous
            .filter(|p| p.digest != packed.descriptor.digest)
            .map(|p| p.digest),
        warnings: options.warnings.clone(),
    })
}

/// A signature file of at most 1 MiB (model signatures are a few KiB per thousand files).
pub(crate) fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    const LIMIT: u64 = 1 << 20;
    let mut bytes = Vec::new();
    fs_err::File::open(path)?
        .take(LIMIT + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > LIMIT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is over the 1 MiB limit for a signature", path.display()),
        ));
    }
    Ok(bytes)
}

/// Refuses a directory's model signature that does not sign exactly the packed files.
///
/// # Errors
/// [`super::Error::ModelSignatureMismatch`].
pub(super) fn signs_these_files(
    model: &ModelInput,
    signature: &ModelSignature,
    manifest: &crate::oci::Manifest,
) -> Result<()> {
    let files = ModelFiles::from_manifest("", manifest)?;
    let comparison = signature.files.compare(&files.files);
    if comparison.is_exact() {
        return Ok(());
    }
    Err(super::Error::ModelSignatureMismatch {
        path: model.signature_file(),
        model: model.dir.display().to_string(),
        differences: comparison.sentences(),
    }
    .into())
}

/// Attaches a model signature's exact bytes to `subject` as a bundle referrer. The
/// referrer records no time, so packing the same signed directory again adds nothing.
///
/// # Errors
/// Transport and store errors.
pub(super) async fn attach_model_signature(
    endpoint: &Endpoint,
    subject: &crate::oci::Descriptor,
    bytes: Vec<u8>,
) -> Result<()> {
    let mut annotations = crate::sign::bundle_annotations(model_signing::PREDICATE_V1);
    annotations.remove(crate::metadata::keys::CREATED);
    crate::sign::attach::attach_bundle_bytes(endpoint, subject, bytes, annotations).await?;
    Ok(())
}

/// The digests of files already hashed, kept under the home directory.
pub(crate) fn digest_cache(ctx: &Context) -> Arc<DigestCache> {
    Arc::new(DigestCache::load(
        ctx.home().root().join("cache/file-digests.json"),
    ))
}

/// The version rule for a directory about to be written as `tag` into `endpoint`, before
/// any blob moves: when the version exists (and `overwrite` does not permit moving it), the
/// directory is hashed and refused unless it packs to the same model. Pack and push both
/// ask this.
///
/// # Errors
/// [`crate::governance::Error::VersionExists`]; packing and transport errors.
pub(super) async fn refuse_moved_version(
    model: &ModelInput,
    options: &package::pack::Options,
    endpoint: &Endpoint,
    target: &Reference,
    tag: &crate::reference::Tag,
    overwrite: Overwrite<'_>,
) -> Result<()> {
    let Some(existing) = versions::pinned_version(endpoint, tag, overwrite).await? else {
        return Ok(());
    };
    let hashed = hash_only(model, options).await?;
    let reference = target.with_tag(tag.clone()).to_string();
    let new = &hashed.descriptor.digest;
    Ok(versions::check_move(
        &reference,
        tag,
        Some(&existing),
        new,
        false,
    )?)
}

/// What the directory packs to, hashed without writing anything.
pub(super) async fn hash_only(
    model: &ModelInput,
    options: &package::pack::Options,
) -> Result<package::Packed> {
    let silent: Arc<dyn crate::progress::Reporter> = Arc::new(crate::progress::Silent);
    blocking(model, options, None, silent).await
}

/// Packs on a blocking thread: into `layout`, or only hashing when `None`.
async fn blocking(
    model: &ModelInput,
    options: &package::pack::Options,
    layout: Option<crate::store::Layout>,
    reporter: std::sync::Arc<dyn crate::progress::Reporter>,
) -> Result<package::Packed> {
    let (dir, options) = (model.dir.clone(), options.clone());
    let packed = tokio::task::spawn_blocking(move || {
        let blobs = match &layout {
            Some(layout) => package::Blobs::Store(layout),
            None => package::Blobs::HashOnly,
        };
        package::pack(&dir, blobs, &options, reporter.as_ref())
    })
    .await
    .map_err(|e| crate::store::Error::from(std::io::Error::other(e)))??;
    Ok(packed)
}
