//! Where signatures and attestations live beside a model, and how they are found again:
//! cosign's `sha256-<hex>.sig` / `.att` tags (one layer per signature, added to, never
//! replaced) and OCI 1.1 referrers holding Sigstore bundles (the referrers API where the
//! registry has it, the `sha256-<hex>` fallback index tag where it does not).

use std::collections::BTreeMap;

use super::dsse::{Bundle, CosignSigned, Envelope};
use super::model_signing::{Comparison, ModelFiles, ModelSignature};
use crate::digest::Digest;
use crate::error::Result;
use crate::media_types;
use crate::oci::{Descriptor, Index, Manifest};
use crate::reference::Tag;
use crate::store::Endpoint;

/// Signature payloads and envelopes are small; anything bigger is refused unread.
const MAX_ATTACHMENT: u64 = 1024 * 1024;

/// The cosign tag of `digest`'s signatures: `sha256-<hex>.sig`.
pub fn sig_tag(digest: &Digest) -> Tag {
    suffixed(digest, ".sig")
}

/// The cosign tag of `digest`'s attestations: `sha256-<hex>.att`.
pub fn att_tag(digest: &Digest) -> Tag {
    suffixed(digest, ".att")
}

/// The OCI 1.1 referrers fallback tag of `digest`: `sha256-<hex>`.
pub fn fallback_tag(digest: &Digest) -> Tag {
    suffixed(digest, "")
}

fn suffixed(digest: &Digest, suffix: &str) -> Tag {
    format!("{}-{}{suffix}", digest.algorithm().as_str(), digest.hex())
        .parse()
        .unwrap_or_else(|_| Tag::latest())
}

/// One simple-signing signature as found.
#[derive(Clone, Debug)]
pub struct FoundSignature {
    /// The signed payload bytes.
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// Where it was found (`sha256-<hex>.sig layer 2`).
    pub source: String,
    /// It names a signing certificate (keyless or certificate mode): no key alone counts.
    pub certificate: bool,
    /// A keyless layer's certificate and log entry, read as a message-signature bundle.
    pub bundle: Option<Box<Bundle>>,
    /// Its RFC 3161 timestamps.
    pub timestamps: Timestamps,
}

/// The RFC 3161 timestamps of one signature as found, with the bytes they must be over.
#[derive(Clone, Debug, Default)]
pub struct Timestamps {
    /// Each timestamp (a DER TimeStampResp, or a bare token).
    pub tokens: Vec<Vec<u8>>,
    /// What they are over: a `.sig` layer's signature, an `.att` layer's envelope bytes
    /// (as cosign stamps them), a bundle's signature.
    pub over: Vec<u8>,
    /// Why the timestamps could not be read, when they could not.
    pub problem: Option<String>,
}

impl Timestamps {
    /// cosign's annotation on a layer, over `over`.
    fn of_layer(layer: &Descriptor, over: &[u8]) -> Timestamps {
        let Some(value) = layer.annotations.get(media_types::COSIGN_RFC3161_TIMESTAMP) else {
            return Timestamps::default();
        };
        #[derive(serde::Deserialize)]
        struct Annotation {
            #[serde(rename = "SignedRFC3161Timestamp")]
            signed: String,
        }
        let token = serde_json::from_str::<Annotation>(value)
            .map_err(|e| e.to_string())
            .and_then(|a| super::decode_base64(&a.signed).map_err(|e| e.to_string()));
        match token {
            Ok(token) => Timestamps {
                tokens: vec![token],
                over: over.to_vec(),
                problem: None,
            },
            Err(e) => Timestamps {
                problem: Some(format!(
                    "its {} annotation does not parse: {e}",
                    media_types::COSIGN_RFC3161_TIMESTAMP
                )),
                ..Timestamps::default()
            },
        }
    }

    /// A bundle's, over its signature.
    pub fn of_bundle(bundle: &Bundle) -> Timestamps {
        let read = || -> std::result::Result<Timestamps, String> {
            let tokens = bundle.rfc3161_timestamps()?;
            let over = if tokens.is_empty() {
                Vec::new()
            } else {
                bundle.signature_bytes()?
            };
            Ok(Timestamps {
                tokens,
                over,
                problem: None,
            })
        };
        read().unwrap_or_else(|e| Timestamps {
            problem: Some(e),
            ..Timestamps::default()
        })
    }
}

/// One DSSE envelope as found, from a `.att` layer or a bundle referrer.
#[derive(Clone, Debug)]
pub struct FoundEnvelope {
    /// The envelope.
    pub envelope: Envelope,
    /// Where it was found.
    pub source: String,
    /// It names a signing certificate (keyless or certificate mode): no key alone counts.
    pub certificate: bool,
    /// The bundle it came in, when it came in one (its certificate and log entry).
    pub bundle: Option<Box<Bundle>>,
    /// Its RFC 3161 timestamps.
    pub timestamps: Timestamps,
}

/// One OpenSSF model-signing bundle as found, with how its files compare with the model's.
#[derive(Clone, Debug)]
pub struct FoundModelSignature {
    /// The signature.
    pub signature: ModelSignature,
    /// The model's file layers against the files it signs; an error when the model's files
    /// cannot be read from its manifest (archive layers).
    pub comparison: std::result::Result<Comparison, String>,
    /// Where it was found.
    pub source: String,
    /// Its RFC 3161 timestamps.
    pub timestamps: Timestamps,
}

/// Everything attached to one manifest digest.
#[derive(Clone, Debug, Default)]
pub struct Attached {
    /// `.sig` signatures.
    pub signatures: Vec<FoundSignature>,
    /// `.att` envelopes and bundle envelopes.
    pub envelopes: Vec<FoundEnvelope>,
    /// Message-signature bundles, with where they were found.
    pub message_bundles: Vec<(Bundle, String)>,
    /// OpenSSF model-signing bundles, each compared with the model's files.
    pub model_signatures: Vec<FoundModelSignature>,
    /// What could not be read, one sentence each (a malformed envelope, a missing blob).
    pub problems: Vec<String>,
}

/// Adds one layer (a signature payload or an envelope) to the cosign-style manifest under
/// `tag`, keeping every layer already there. The same layer twice is stored once.
///
/// # Errors
/// Transport and I/O errors; an existing tag that is not a manifest.
pub async fn append_layer(
    endpoint: &Endpoint,
    tag: &Tag,
    layer: Descriptor,
    blob: Vec<u8>,
) -> Result<Descriptor> {
    let _guard = layout_guard(endpoint)?;
    endpoint.put_blob_bytes(&layer, blob).await?;
    let written = merge_layers(endpoint, tag, vec![layer.clone()]).await?;
    let contains = |bytes: &[u8], digest: &Digest| {
        Manifest::from_slice(bytes, digest).is_ok_and(|m| m.layers.contains(&layer))
    };
    settle(endpoint, tag, contains, || async {
        merge_layers(endpoint, tag, vec![layer.clone()])
            .await
            .map(|_| ())
    })
    .await?;
    Ok(written)
}

/// Registries have no compare-and-swap on tags: a writer that read `tag` before our write
/// can replace it after. So what we wrote must be seen twice, after randomised pauses longer
/// than such a read-modify-write takes; each time it is missing, `rewrite` merges it again.
async fn settle<F, Fut>(
    endpoint: &Endpoint,
    tag: &Tag,
    contains: impl Fn(&[u8], &Digest) -> bool,
    mut rewrite: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    if matches!(endpoint, Endpoint::Layout(_)) {
        // Layout index updates are serialised by a file lock: nothing to settle.
        return Ok(());
    }
    let mut seen = 0;
    for _ in 0..MERGE_ATTEMPTS {
        let pause = 150 + getrandom::u64().unwrap_or(0) % 250;
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        let present = match endpoint.fetch_tag(tag).await? {
            Some((descriptor, bytes)) => contains(&bytes, &descriptor.digest),
            None => false,
        };
        if present {
            seen += 1;
            if seen == 2 {
                return Ok(());
            }
        } else {
            tracing::info!("{tag} lost a concurrent update; merging again");
            seen = 0;
            rewrite().await?;
        }
    }
    Err(super::Error::Contended {
        tag: tag.to_string(),
    }
    .into())
}

/// Read-backs of a signature tag before giving up on seeing it settle.
const MERGE_ATTEMPTS: usize = 12;

/// Writes the manifest under `tag` as its current layers plus `new` ones (whose blobs are
/// already stored), each layer once.
async fn merge_layers(endpoint: &Endpoint, tag: &Tag, new: Vec<Descriptor>) -> Result<Descriptor> {
    let (existing, mut layers) = match endpoint.fetch_tag(tag).await? {
        Some((descriptor, bytes)) => {
            let layers = Manifest::from_slice(&bytes, &descriptor.digest)?.layers;
            (Some(descriptor), layers)
        }
        None => (None, Vec::new()),
    };
    let before = layers.len();
    for layer in new {
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    }
    if let Some(existing) = existing.filter(|_| layers.len() == before) {
        return Ok(existing);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>()},
    }))
    .unwrap_or_default();
    let config = put_json_blob(endpoint, media_types::OCI_CONFIG, config).await?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.to_owned()),
        artifact_type: None,
        config,
        layers,
        subject: None,
        annotations: BTreeMap::new(),
    };
    put_manifest(endpoint, Some(tag), &manifest).await
}

/// Stores `bundle` as an OCI 1.1 referrer of `subject` and lists it where readers look:
/// the registry's referrers API indexes it by itself; otherwise the `sha256-<hex>` fallback
/// index gains an entry.
///
/// # Errors
/// Transport and I/O errors.
pub async fn attach_bundle(
    endpoint: &Endpoint,
    subject: &Descriptor,
    bundle: &Bundle,
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor> {
    attach_bundle_bytes(endpoint, subject, bundle.to_bytes(), annotations).await
}

/// [`attach_bundle`] for a bundle's exact bytes (a `model.sig` as its signer wrote it).
///
/// # Errors
/// Transport and I/O errors.
pub async fn attach_bundle_bytes(
    endpoint: &Endpoint,
    subject: &Descriptor,
    bytes: Vec<u8>,
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor> {
    let _guard = layout_guard(endpoint)?;
    let mut layer = Descriptor::of(media_types::SIGSTORE_BUNDLE, &bytes);
    layer.annotations.insert(
        media_types::OCI_TITLE.into(),
        format!(
            "{}-{}.sigstore.json",
            layer.digest.algorithm().as_str(),
            layer.digest.hex()
        ),
    );
    endpoint.put_blob_bytes(&layer, bytes).await?;
    let config = put_json_blob(endpoint, media_types::OCI_EMPTY, b"{}".to_vec()).await?;
    // The subject names the model's manifest by content only, as cosign writes it.
    let subject = Descriptor::new(&subject.media_type, subject.digest.clone(), subject.size);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.to_owned()),
        artifact_type: Some(media_types::SIGSTORE_BUNDLE.to_owned()),
        config,
        layers: vec![layer],
        subject: Some(subject.clone()),
        annotations: annotations.clone(),
    };
    let mut descriptor = put_manifest(endpoint, None, &manifest).await?;
    descriptor.artifact_type = manifest.artifact_type.clone();
    descriptor.annotations = annotations;
    if endpoint.referrers_api(&subject.digest).await?.is_none() {
        add_to_fallback(endpoint, &subject.digest, &descriptor).await?;
    }
    Ok(descriptor)
}

/// Everything attached to one model, read into memory (signatures and attestations are
/// small and their count is bounded), so that it can be fetched before anything is written
/// and stored afterwards without the source.
#[derive(Clone, Debug, Default)]
pub struct Attachments {
    subject: Option<Digest>,
    /// `.sig` and `.att`: the tag, its layers, and each distinct layer blob.
    tagged: Vec<(Tag, Vec<Descriptor>)>,
    /// Bundle referrers: the descriptor and manifest bytes.
    referrers: Vec<(Descriptor, Vec<u8>)>,
    blobs: Vec<(Descriptor, Vec<u8>)>,
}

impl Attachments {
    /// How many signatures, attestations and referrers there are.
    pub fn count(&self) -> usize {
        self.tagged.iter().map(|(_, l)| l.len()).sum::<usize>() + self.referrers.len()
    }
}

/// Reads everything attached to `digest` in `from`: the `.sig` and `.att` layers and the
/// bundle referrers, each blob fetched once.
///
/// # Errors
/// Transport errors; [`crate::sign::Error::TooManyLayers`] for an attachment manifest over
/// the endpoint's layer limit.
pub async fn fetch_attached(from: &Endpoint, digest: &Digest) -> Result<Attachments> {
    let mut found = Attachments {
        subject: Some(digest.clone()),
        ..Attachments::default()
    };
    let mut wanted = Vec::new();
    for tag in [sig_tag(digest), att_tag(digest)] {
        let Some((descriptor, bytes)) = from.fetch_tag(&tag).await? else {
            continue;
        };
        let manifest = Manifest::from_slice(&bytes, &descriptor.digest)?;
        check_layer_count(from, &tag.to_string(), manifest.layers.len())?;
        wanted.extend(manifest.layers.iter().cloned());
        found.tagged.push((tag, manifest.layers));
    }
    for entry in referrers(from, digest).await? {
        let bytes = from.fetch_manifest(&entry).await?;
        let manifest = Manifest::from_slice(&bytes, &entry.digest)?;
        check_layer_count(
            from,
            &format!("referrer {}", entry.digest),
            manifest.layers.len(),
        )?;
        wanted.push(manifest.config.clone());
        wanted.extend(manifest.layers.iter().cloned());
        found.referrers.push((entry, bytes));
    }
    for blob in wanted {
        if found.blobs.iter().any(|(d, _)| d.digest == blob.digest) {
            continue;
        }
        let data = from.small_blob(&blob).await?;
        found.blobs.push((blob, data));
    }
    Ok(found)
}

/// Writes fetched attachments to `to`: blobs first, then the `.sig`/`.att` layers merged
/// with any the target has, then the referrers (listed in the target's fallback index when
/// it has no referrers API). Returns how many attachments were stored.
///
/// # Errors
/// Transport and I/O errors.
pub async fn store_attached(to: &Endpoint, attachments: Attachments) -> Result<usize> {
    let Some(digest) = attachments.subject.clone() else {
        return Ok(0);
    };
    let _guard = layout_guard(to)?;
    let count = attachments.count();
    for (descriptor, data) in attachments.blobs {
        to.put_blob_bytes(&descriptor, data).await?;
    }
    for (tag, layers) in attachments.tagged {
        merge_layers(to, &tag, layers).await?;
    }
    if attachments.referrers.is_empty() {
        return Ok(count);
    }
    let has_api = to.referrers_api(&digest).await?.is_some();
    for (entry, bytes) in attachments.referrers {
        to.put_manifest_bytes(None, &entry, &bytes).await?;
        if !has_api {
            add_to_fallback(to, &digest, &entry).await?;
        }
    }
    Ok(count)
}

/// Copies everything attached to `digest` in `from` to `to` ([`fetch_attached`], then
/// [`store_attached`]). Returns how many attachments were copied.
///
/// # Errors
/// Transport and I/O errors.
pub async fn copy_attached(from: &Endpoint, to: &Endpoint, digest: &Digest) -> Result<usize> {
    let attachments = fetch_attached(from, digest).await?;
    store_attached(to, attachments).await
}

/// Refuses an attachment manifest with more layers than the endpoint allows, before any of
/// them is fetched.
fn check_layer_count(endpoint: &Endpoint, what: &str, layers: usize) -> Result<()> {
    let limit = endpoint.max_attachment_layers();
    if layers > limit {
        return Err(super::Error::TooManyLayers {
            what: what.to_owned(),
            layers,
            limit,
        }
        .into());
    }
    Ok(())
}

async fn add_to_fallback(endpoint: &Endpoint, subject: &Digest, entry: &Descriptor) -> Result<()> {
    let tag = fallback_tag(subject);
    merge_fallback(endpoint, &tag, entry).await?;
    let contains = |bytes: &[u8], digest: &Digest| {
        Index::from_slice(bytes, digest)
            .is_ok_and(|i| i.manifests.iter().any(|m| m.digest == entry.digest))
    };
    settle(endpoint, &tag, contains, || {
        merge_fallback(endpoint, &tag, entry)
    })
    .await
}

async fn merge_fallback(endpoint: &Endpoint, tag: &Tag, entry: &Descriptor) -> Result<()> {
    let mut index = match endpoint.fetch_tag(tag).await? {
        Some((descriptor, bytes)) => Index::from_slice(&bytes, &descriptor.digest)?,
        None => Index::new(),
    };
    if index.manifests.iter().any(|m| m.digest == entry.digest) {
        return Ok(());
    }
    index.manifests.push(entry.clone());
    let bytes = index.to_bytes();
    let descriptor = Descriptor::of(media_types::OCI_INDEX, &bytes);
    endpoint
        .put_manifest_bytes(Some(tag), &descriptor, &bytes)
        .await
}

/// True when a cosign layer names a signing certificate.
fn is_keyless(layer: &Descriptor) -> bool {
    layer
        .annotations
        .contains_key(media_types::COSIGN_CERTIFICATE)
}

/// A keyless cosign layer's evidence as a bundle; what does not read is a problem of its
/// own (and the signature then never counts).
fn keyless_layer<'a>(
    layer: &Descriptor,
    source: &str,
    problems: &mut Vec<String>,
    signed: impl FnOnce() -> CosignSigned<'a>,
) -> Option<Box<Bundle>> {
    if !is_keyless(layer) {
        return None;
    }
    Bundle::from_cosign_layer(&layer.annotations, signed())
        .map(Box::new)
        .map_err(|e| problems.push(format!("{source}: {e}")))
        .ok()
}

/// Finds every signature, attestation and bundle attached to `digest`. What cannot be read
/// is listed in [`Attached::problems`] rather than failing the whole search: one bad
/// attachment must not hide good ones.
///
/// # Errors
/// Transport errors other than "not found".
pub async fn discover(endpoint: &Endpoint, digest: &Digest) -> Result<Attached> {
    let mut found = Attached::default();
    let sig = sig_tag(digest);
    for (i, layer, blob) in tag_layers(endpoint, &sig, &mut found.problems).await? {
        let source = format!("{sig} layer {}", i + 1);
        match layer
            .annotations
            .get(media_types::COSIGN_SIGNATURE)
            .map(|s| super::decode_base64(s))
        {
            Some(Ok(signature)) => {
                let timestamps = Timestamps::of_layer(&layer, &signature);
                let bundle = keyless_layer(&layer, &source, &mut found.problems, || {
                    CosignSigned::Message {
                        payload: &blob,
                        signature: &signature,
                        timestamps: &timestamps.tokens,
                    }
                });
                found.signatures.push(FoundSignature {
                    certificate: is_keyless(&layer),
                    bundle,
                    timestamps,
                    payload: blob,
                    signature,
                    source,
                });
            }
            Some(Err(_)) => found
                .problems
                .push(format!("{source}: the signature is not base64")),
            None => found.problems.push(format!(
                "{source}: no {} annotation",
                media_types::COSIGN_SIGNATURE
            )),
        }
    }
    let att = att_tag(digest);
    for (i, layer, blob) in tag_layers(endpoint, &att, &mut found.problems).await? {
        let source = format!("{att} layer {}", i + 1);
        match Envelope::from_slice(&blob) {
            Ok(envelope) => {
                let bundle = keyless_layer(&layer, &source, &mut found.problems, || {
                    CosignSigned::Envelope(&envelope)
                });
                found.envelopes.push(FoundEnvelope {
                    certificate: is_keyless(&layer),
                    bundle,
                    timestamps: Timestamps::of_layer(&layer, &blob),
                    envelope,
                    source,
                });
            }
            Err(e) => found.problems.push(format!("{source}: {e}")),
        }
    }
    let mut model_files = None;
    for entry in referrers(endpoint, digest).await? {
        if entry.artifact_type.as_deref() != Some(media_types::SIGSTORE_BUNDLE) {
            continue;
        }
        let source = format!("bundle referrer {}", entry.digest.short());
        let (bundle, subject) = match read_bundle(endpoint, &entry, digest).await {
            Ok(read) => read,
            Err(reason) => {
                found.problems.push(format!("{source}: {reason}"));
                continue;
            }
        };
        let Some(envelope) = bundle.dsse_envelope.clone() else {
            found.message_bundles.push((bundle, source));
            continue;
        };
        if !envelope
            .statement()
            .is_ok_and(|s| ModelSignature::is_model_signing(&s))
        {
            found.envelopes.push(FoundEnvelope {
                envelope,
                source,
                certificate: super::dsse::has_certificate(&bundle),
                timestamps: Timestamps::of_bundle(&bundle),
                bundle: Some(Box::new(bundle)),
            });
            continue;
        }
        let source = format!("model-signing {source}");
        let timestamps = Timestamps::of_bundle(&bundle);
        let signature = match ModelSignature::from_bundle(bundle) {
            Ok(signature) => signature,
            Err(e) => {
                found.problems.push(format!("{source}: {e}"));
                continue;
            }
        };
        // The model's files are read once, when the first model signature needs them.
        if model_files.is_none() {
            model_files = Some(subject_files(endpoint, &subject).await);
        }
        let comparison = match model_files.as_ref() {
            Some(Ok(files)) => Ok(signature.files.compare(&files.files)),
            Some(Err(e)) => Err(e.clone()),
            None => unreachable!("set above"),
        };
        found.model_signatures.push(FoundModelSignature {
            signature,
            comparison,
            source,
            timestamps,
        });
    }
    Ok(found)
}

/// The files of the manifest a referrer names, from its file layers.
async fn subject_files(
    endpoint: &Endpoint,
    subject: &Descriptor,
) -> std::result::Result<ModelFiles, String> {
    let bytes = endpoint
        .fetch_manifest(subject)
        .await
        .map_err(|e| e.to_string())?;
    let manifest = Manifest::from_slice(&bytes, &subject.digest).map_err(|e| e.to_string())?;
    ModelFiles::from_manifest("", &manifest).map_err(|e| e.to_string())
}

impl Attachments {
    /// The model-signing bundles among these attachments, each as its exact bytes with
    /// the signature it holds; what does not parse is left out.
    pub fn model_signatures(&self) -> Vec<(Vec<u8>, ModelSignature)> {
        let blob = |digest: &Digest| {
            self.blobs
                .iter()
                .find(|(d, _)| &d.digest == digest)
                .map(|(_, b)| b)
        };
        let mut out = Vec::new();
        for (entry, bytes) in &self.referrers {
            let Ok(manifest) = Manifest::from_slice(bytes, &entry.digest) else {
                continue;
            };
            if manifest.artifact_type.as_deref() != Some(media_types::SIGSTORE_BUNDLE)
                || manifest.subject.as_ref().map(|s| &s.digest) != self.subject.as_ref()
            {
                continue;
            }
            let Some(bytes) = manifest.layers.first().and_then(|l| blob(&l.digest)) else {
                continue;
            };
            if let Ok(signature) = ModelSignature::from_slice(bytes) {
                out.push((bytes.clone(), signature));
            }
        }
        out
    }
}

/// The referrers of `digest`: from the API when offered, else the fallback tag's index.
///
/// # Errors
/// Transport errors.
pub async fn referrers(endpoint: &Endpoint, digest: &Digest) -> Result<Vec<Descriptor>> {
    if let Some(index) = endpoint.referrers_api(digest).await? {
        return Ok(index.manifests);
    }
    Ok(match endpoint.fetch_tag(&fallback_tag(digest)).await? {
        Some((descriptor, bytes)) => Index::from_slice(&bytes, &descriptor.digest)
            .map(|i| i.manifests)
            .unwrap_or_default(),
        None => Vec::new(),
    })
}

/// A bundle referrer's bundle, with the subject descriptor its manifest names.
async fn read_bundle(
    endpoint: &Endpoint,
    entry: &Descriptor,
    subject: &Digest,
) -> std::result::Result<(Bundle, Descriptor), String> {
    let bytes = endpoint
        .fetch_manifest(entry)
        .await
        .map_err(|e| e.to_string())?;
    let manifest = Manifest::from_slice(&bytes, &entry.digest).map_err(|e| e.to_string())?;
    // A fallback index can be edited by anyone with push rights: trust only the subject
    // the referrer itself names.
    let named = match &manifest.subject {
        Some(named) if &named.digest == subject => named.clone(),
        _ => return Err("its subject is another manifest".into()),
    };
    let layer = manifest.layers.first().ok_or("it has no layer")?;
    if layer.size > MAX_ATTACHMENT {
        return Err(format!(
            "the bundle is {} bytes, over the 1 MiB limit",
            layer.size
        ));
    }
    let blob = endpoint
        .small_blob(layer)
        .await
        .map_err(|e| e.to_string())?;
    Ok((Bundle::from_slice(&blob).map_err(|e| e.to_string())?, named))
}

/// The layers of the manifest under `tag`, each with its blob; none when the tag is absent.
async fn tag_layers(
    endpoint: &Endpoint,
    tag: &Tag,
    problems: &mut Vec<String>,
) -> Result<Vec<(usize, Descriptor, Vec<u8>)>> {
    let Some((descriptor, bytes)) = endpoint.fetch_tag(tag).await? else {
        return Ok(Vec::new());
    };
    let manifest = match Manifest::from_slice(&bytes, &descriptor.digest) {
        Ok(manifest) => manifest,
        Err(e) => {
            problems.push(format!("{tag}: {e}"));
            return Ok(Vec::new());
        }
    };
    let limit = endpoint.max_attachment_layers();
    if manifest.layers.len() > limit {
        problems.push(format!(
            "{tag}: {} layers, over the limit of {limit}; none was read",
            manifest.layers.len()
        ));
        return Ok(Vec::new());
    }
    let mut out: Vec<(usize, Descriptor, Vec<u8>)> = Vec::new();
    for (i, layer) in manifest.layers.into_iter().enumerate() {
        if layer.size > MAX_ATTACHMENT {
            problems.push(format!(
                "{tag} layer {}: {} bytes, over the 1 MiB limit",
                i + 1,
                layer.size
            ));
            continue;
        }
        // The same blob twice (a signature added twice by hand) is fetched once.
        let seen = out
            .iter()
            .find(|(_, l, _)| l.digest == layer.digest && l.size == layer.size)
            .map(|(_, _, blob)| blob.clone());
        if let Some(blob) = seen {
            out.push((i, layer, blob));
            continue;
        }
        match endpoint.small_blob(&layer).await {
            Ok(blob) => out.push((i, layer, blob)),
            Err(e) => problems.push(format!("{tag} layer {}: {e}", i + 1)),
        }
    }
    Ok(out)
}

async fn put_json_blob(
    endpoint: &Endpoint,
    media_type: &str,
    bytes: Vec<u8>,
) -> Result<Descriptor> {
    let descriptor = Descriptor::of(media_type, &bytes);
    endpoint.put_blob_bytes(&descriptor, bytes).await?;
    Ok(descriptor)
}

async fn put_manifest(
    endpoint: &Endpoint,
    tag: Option<&Tag>,
    manifest: &Manifest,
) -> Result<Descriptor> {
    let bytes = manifest.to_bytes();
    let mut descriptor = Descriptor::of(media_types::OCI_MANIFEST, &bytes);
    descriptor.artifact_type = manifest.artifact_type.clone();
    endpoint
        .put_manifest_bytes(tag, &descriptor, &bytes)
        .await?;
    Ok(descriptor)
}

fn layout_guard(endpoint: &Endpoint) -> Result<Option<crate::store::layout::WriteGuard>> {
    Ok(match endpoint {
        Endpoint::Layout(repo) => Some(repo.layout().write_guard()?),
        Endpoint::Registry(_) => None,
    })
}
