//! Every media type, artifact type and annotation key modelark writes or reads, in one place.
//! Normative description: `docs/format.md`. ModelPack: <https://github.com/modelpack/model-spec>.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest, accepted when reading.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list, recognised to give a clear error.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// ModelPack manifest `artifactType`.
pub const MODEL_ARTIFACT: &str = "application/vnd.cncf.model.manifest.v1+json";
/// ModelPack config media type.
pub const MODEL_CONFIG: &str = "application/vnd.cncf.model.config.v1+json";
/// Pre-CNCF ModelPack (`cnai`) artifact type, accepted when reading.
pub const LEGACY_MODEL_ARTIFACT: &str = "application/vnd.cnai.model.manifest.v1+json";
/// Pre-CNCF ModelPack (`cnai`) config media type, accepted when reading.
pub const LEGACY_MODEL_CONFIG: &str = "application/vnd.cnai.model.config.v1+json";

/// Prefix of every ModelPack layer media type: `PREFIX.<kind>.v1.<format>`.
pub const MODEL_LAYER_PREFIX: &str = "application/vnd.cncf.model";
/// Legacy prefix of ModelPack layer media types, accepted when reading.
pub const LEGACY_MODEL_LAYER_PREFIX: &str = "application/vnd.cnai.model";

/// Layer annotation: the file's path relative to the model root.
pub const ANNOTATION_FILEPATH: &str = "org.cncf.model.filepath";
/// Legacy form of [`ANNOTATION_FILEPATH`], accepted when reading.
pub const LEGACY_ANNOTATION_FILEPATH: &str = "org.cnai.model.filepath";
/// Layer annotation: JSON file metadata (name, mode, uid, gid, size, mtime, typeflag).
pub const ANNOTATION_FILE_METADATA: &str = "org.cncf.model.file.metadata+json";
/// Legacy form of [`ANNOTATION_FILE_METADATA`], accepted when reading.
pub const LEGACY_ANNOTATION_FILE_METADATA: &str = "org.cnai.model.file.metadata+json";
/// Layer annotation: `"true"` when the layer's kind was guessed rather than known.
pub const ANNOTATION_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";

/// OCI annotation: a human-readable title; ORAS uses it as the file name of a layer.
pub const OCI_TITLE: &str = "org.opencontainers.image.title";
/// OCI annotation: the tag an index entry of an OCI layout stands for.
pub const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation for the full `name:tag` of an index entry; used by export/import.
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";
/// ORAS's mark on a layer that is a tarball of a directory to extract.
pub const ORAS_UNPACK: &str = "io.deis.oras.content.unpack";

/// A Sigstore bundle (v0.3), as a blob and as a referrer's artifactType.
pub const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The layer of a cosign `.sig` manifest: a simple-signing payload.
pub const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer of a cosign `.att` manifest: a DSSE envelope.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The OCI empty descriptor's media type (config of artifacts that need none).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The OCI image config media type (what cosign uses for `.sig`/`.att` manifests).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation holding a `.sig` layer's base64 signature.
pub const COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation holding a keyless signature's Fulcio certificate (PEM).
pub const COSIGN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// The layer annotation holding a keyless signature's Rekor entry: the signed entry
/// timestamp and the entry it signs (`{"SignedEntryTimestamp", "Payload": {...}}`).
pub const COSIGN_BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// The layer annotation holding the certificate chain above a keyless signature's
/// certificate (PEM); verification takes the chain from the trusted root instead.
pub const COSIGN_CHAIN: &str = "dev.sigstore.cosign/chain";
/// The media type of Sigstore bundles v0.1, the form cosign's keyless layers are read into.
pub const SIGSTORE_BUNDLE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
/// The annotation where cosign keeps an RFC 3161 timestamp over a `.sig` layer's signature
/// (or an `.att` layer's envelope): `{"SignedRFC3161Timestamp": "<base64 DER>"}`.
pub const COSIGN_RFC3161_TIMESTAMP: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// The annotation naming a `.att` layer's predicate type.
pub const COSIGN_PREDICATE_TYPE: &str = "predicateType";
/// Referrer annotation: `message-signature` or `dsse-envelope`.
pub const BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
/// Referrer annotation: the predicate type of a bundle's statement.
pub const BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
