//! What the user can do about an error, in terms of this command line: the flags and
//! commands to reach for. The library's errors say what went wrong; only the CLI knows
//! which flag would have helped.

use modelark::Error as E;
use modelark::ops::Error as Op;
use modelark::store::registry::Error as R;
use modelark::{governance, metadata, package, sign, store, verify};

/// What the hint needs to know about the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Situation {
    /// The command is `verify` or `verify-attestation`, whose output already lists every
    /// signature and attestation.
    pub verifying: bool,
    /// `--offline` or `MODELARK_OFFLINE`.
    pub offline: bool,
    /// The command is `verify-dir`: a directory, not a registry model, failed.
    pub directory: bool,
}

/// The hint for the first error in `error`'s chain that has one.
pub fn hint(error: &anyhow::Error, situation: Situation) -> Option<String> {
    let library: Vec<&E> = error
        .chain()
        .filter_map(|e| e.downcast_ref::<E>())
        .collect();
    let io_kind = |kind: std::io::ErrorKind| {
        error.chain().any(|e| {
            let io = e
                .downcast_ref::<std::io::Error>()
                .or_else(|| e.downcast_ref::<E>().and_then(E::io_error));
            io.is_some_and(|io| io.kind() == kind)
        })
    };
    if io_kind(std::io::ErrorKind::StorageFull) || io_kind(std::io::ErrorKind::QuotaExceeded) {
        return Some("the disk is full: `modelark store gc` frees unreferenced blobs and leftovers of interrupted work; free space and run the command again (downloads resume)".into());
    }
    let roots: Vec<&E> = library.iter().map(|e| e.root()).collect();
    if situation.offline && roots.iter().any(|e| e.is_not_found()) {
        return Some("offline, only the local store was read: `modelark pull REF` while online keeps a verified copy (with its signatures) there".into());
    }
    let violated = roots
        .iter()
        .any(|e| matches!(e, E::Verify(verify::Error::PolicyViolation { .. })));
    if situation.directory && violated {
        return Some("do not serve this directory: unpack the model again (`modelark pull REF -o DIR --force --model-sig`), or check the signature with the key that made it".into());
    }
    if situation.verifying
        && roots
            .iter()
            .any(|e| matches!(e, E::Verify(verify::Error::PolicyViolation { .. })))
    {
        return Some("the lines above say why each signature and attestation counts or not; sign or approve with a key the policy trusts".into());
    }
    if let Some(hint) = roots.iter().find_map(|e| library_hint(e)) {
        return Some(hint);
    }
    error
        .chain()
        .find_map(|e| e.downcast_ref::<super::CliError>())
        .and_then(super::CliError::hint)
}

/// The hint for one library error (not a [`E::Failed`] wrapper).
fn library_hint(error: &E) -> Option<String> {
    match error {
        E::Op(op) => op_hint(op),
        E::Registry(registry) => registry_hint(registry),
        E::Store(store) | E::Package(package::Error::Store(store)) => store_hint(store),
        E::Package(package) => package_hint(package),
        E::Sign(sign::Error::WrongPassword) => Some("set COSIGN_PASSWORD or pass --password-stdin (cosign keys made for automation often have an empty password)".into()),
        E::Sign(sign::Error::Unsupported { hint, .. }) => Some(hint.clone()),
        E::Sign(sign::Error::TooManyLayers { .. }) => Some("someone added an unreasonable number of signatures; if they are genuine, raise --max-attachment-layers".into()),
        E::Governance(governance::Error::VersionExists { .. }) => Some("versions are immutable: push under a new version, or pass --force (with --policy, only where the rule sets overwriteVersions: true)".into()),
        E::Governance(governance::Error::OverwriteRefused { .. }) => Some("versions stay immutable there; a rule with overwriteVersions: true allows --force".into()),
        E::Governance(governance::Error::Index { .. }) => Some("another modelark search may be running; retry, or delete the index file to rebuild it".into()),
        E::Verify(verify::Error::PolicyViolation { .. }) => Some("nothing was fetched or written; `modelark verify REF --policy FILE` lists every signature and attestation found".into()),
        _ => None,
    }
}

fn op_hint(error: &Op) -> Option<String> {
    Some(match error {
        Op::Offline => "run it without --offline (and MODELARK_OFFLINE unset) where the registry is reachable".into(),
        Op::NotStored { reference } => format!("`modelark pull {reference}` while online keeps a verified copy (with its signatures) in the local store"),
        Op::RegistryReference { .. } => "use a local NAME:TAG or an oci:PATH:TAG reference, or --offline for the local copy of a pulled model".into(),
        Op::NotARegistry { operation: "push", .. } => "to store locally use `modelark pack` or `modelark copy`".into(),
        Op::NotARegistry { .. } => "for local models use `modelark unpack`".into(),
        Op::DifferentStores { .. } => "use `modelark copy` to move a model between stores and registries".into(),
        Op::SharedManifest { digest, .. } => format!("registries delete manifests, not tags; `modelark rm {digest}` removes all of them"),
        Op::NoVersion { .. } => "promote takes REPO:VERSION, e.g. HOST/REPO:1.4.0".into(),
        Op::NothingTrusted => "pass --key PUB or --policy FILE (keyless: --trusted-root FILE with --certificate-identity and --certificate-oidc-issuer)".into(),
        Op::PredicateRequired { .. } => "pass --predicate FILE (- for stdin)".into(),
        Op::KeyExists { .. } => "pass --force to replace it".into(),
        Op::ArchiveHoldsMany { .. } => "-t names exactly one model; import without -t to keep the names the archive records".into(),
        Op::ArchiveUnnamed { .. } => "pass -t NAME:TAG".into(),
        Op::NotAModelSignature { .. } => "rename the file, or leave it out with --exclude model.sig".into(),
        Op::ModelSignatureMismatch { .. } => "sign the directory again (model_signing sign, or `modelark sign REF --format model-signing` after packing), or remove model.sig".into(),
        Op::NoModelSignature { reference, .. } => format!("`modelark sign {reference} --format model-signing --key KEY` adds one; `modelark verify {reference} --key PUB` lists what is attached"),
        Op::NoCatalog { .. } => "search HOST/REPO (one repository) on registries without a catalog".into(),
        Op::Damaged { .. } => "`modelark store fsck --repair` deletes corrupt blobs; pull or import the models again".into(),
        _ => return None,
    })
}

fn store_hint(error: &store::Error) -> Option<String> {
    Some(match error {
        store::Error::NotFound { .. } => "run `modelark list` to see what the store holds".into(),
        store::Error::Corrupt { .. } | store::Error::BlobMissing { .. } => "the stored copy is damaged; remove it (`modelark rm`) and pack, import or pull it again".into(),
        store::Error::NotALayout { .. } => "point oci: at a directory made by modelark, skopeo or oras, or at a new path to create one".into(),
        _ => return None,
    })
}

fn package_hint(error: &package::Error) -> Option<String> {
    use package::Error as P;
    Some(match error {
        P::SymlinkOutside { .. } => "pass --dereference to pack the files the symlinks point to (e.g. a Hugging Face cache snapshot)".into(),
        P::SymlinkToDirectory { .. } => "copy the directory in, or --exclude the link".into(),
        P::NoName => "pass --name or set name: in modelark.yaml".into(),
        P::OutputExists { .. } => "choose a new directory or pass --force to replace it".into(),
        P::ManagedAnnotation { .. } => "set it through its metadata flag or modelark.yaml field instead".into(),
        P::ManifestTooLarge { .. } => "archive many small files into a few larger ones before packing".into(),
        P::ChangedWhilePacking { .. } => "pack again once whatever writes the file has finished".into(),
        P::UnsafePath { .. } | P::DuplicatePath { .. } | P::UnsupportedEntry { .. } => {
            "the artifact is malformed or hostile; nothing was written".into()
        }
        P::Metadata(metadata::Error::TooLarge { .. }) => {
            "keep a summary in modelark.yaml and put the full schema in a file inside the model directory (it is packed as a layer)".into()
        }
        _ => return None,
    })
}

fn registry_hint(error: &R) -> Option<String> {
    Some(match error {
        R::Unauthorized { registry, .. } => format!("log in with `modelark login {registry} -u USER --password-stdin` (docker, podman and oras logins are used too)"),
        R::NotFound { .. } => "check the repository and tag; `modelark list HOST/REPO` shows the tags".into(),
        R::DeleteDisabled { .. } => "the registry's operator must enable deletes (distribution: storage.delete.enabled)".into(),
        R::Verification { .. } => "the registry served content that does not match its digest; nothing was written".into(),
        R::Http { source, .. } if source.is_connect() => "check the host and port; for a registry without TLS pass --plain-http, for a private CA --ca-file".into(),
        R::CaFile { .. } => "--ca-file takes a PEM certificate".into(),
        R::Timeout { .. } | R::RetryBudget { .. } => "the registry is overloaded or unreachable; run the command again later (downloads resume), or raise --timeout / --read-timeout for a slow link".into(),
        R::Store(store) => return store_hint(store),
        _ => return None,
    })
}
