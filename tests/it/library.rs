//! The use cases called as a library (no binary), as the service and the Python package
//! call them: push, sign, pull under a policy against a real registry, failing closed.

use std::path::Path;

use modelark::governance::versions::Overwrite;
use modelark::ops::{self, ModelInput, Source, Trust, Unpack};
use modelark::store::Home;
use modelark::store::registry::{CredentialStore, Options};
use modelark::{Context, Reference};

use crate::harness::{Env, Registry, random_model, sample};

fn context(env: &Env) -> Context {
    let credentials = CredentialStore::at(env.path("docker/config.json"), Vec::new());
    Context::new(Home::new(env.home()), credentials).with_registry_options(Options {
        plain_http: true,
        ..Options::default()
    })
}

fn block<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(work)
}

/// A policy that trusts only `signer`'s key (`NAME.pub` beside it) for every repository.
fn policy(env: &Env, signer: &str) -> Trust {
    let path = env.path(&format!("{signer}-policy.yaml"));
    let text = format!(
        "keys:\n  {signer}: {signer}.pub\nrules:\n  - scope: \"**\"\n    signatures: {{threshold: 1, signers: [{signer}]}}\n"
    );
    std::fs::write(&path, text).unwrap();
    Trust::load_policy(&path).unwrap()
}

fn key_pair(env: &Env, name: &str) -> modelark::sign::PrivateKey {
    let prefix = env.path(name).display().to_string();
    ops::generate_key_pair(&prefix, b"", false).unwrap();
    let pem = std::fs::read_to_string(env.path(&format!("{name}.key"))).unwrap();
    modelark::sign::PrivateKey::from_pem(&pem, b"").unwrap()
}

fn reference(text: &str) -> Reference {
    text.parse().unwrap()
}

fn stored_tags(ctx: &Context) -> Vec<String> {
    match block(ops::list(ctx, &ops::ListTarget::Store, true)).unwrap() {
        ops::Listed::Models(rows) => rows
            .into_iter()
            .map(|r| format!("{}:{}", r.name.unwrap_or_default(), r.tag))
            .collect(),
        ops::Listed::Repositories(_) => panic!("the store lists models"),
    }
}

#[test]
fn push_sign_and_pull_under_a_policy_through_the_library() {
    let registry = Registry::start();
    let env = Env::new();
    let ctx = context(&env);
    let alice = key_pair(&env, "alice");
    let target = reference(&format!("{}/lib/tiny:1.0.0", registry.host()));

    let source = Source::Directory(Box::new(ModelInput::new(sample())));
    let pushed = block(ops::push(&ctx, &source, &target, Overwrite::default())).unwrap();
    assert_eq!(pushed.reference.digest(), Some(&pushed.digest));
    let signed = block(ops::sign(
        &ctx,
        &target,
        &alice,
        Default::default(),
        modelark::sign::Format::Cosign,
    ))
    .unwrap();
    assert_eq!(signed.digest, pushed.digest);

    let report = block(ops::verify(&ctx, &target, &policy(&env, "alice"), &[])).unwrap();
    assert!(report.verified, "{:?}", report.policy);
    assert_eq!(report.signers, vec!["alice".to_owned()]);

    let out = env.path("out");
    let unpack = Unpack {
        dir: out.clone(),
        ..Unpack::default()
    };
    let pulled = block(ops::pull(
        &ctx,
        &target,
        Some(&policy(&env, "alice")),
        Some(&unpack),
    ))
    .unwrap();
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(pulled.files, Some(file_count(&sample())));
    crate::harness::assert_same_tree(&sample(), &out);

    // What pull kept is usable offline, signatures included.
    drop(registry);
    let offline = ctx.clone().with_offline(true);
    let report = block(ops::verify(&offline, &target, &policy(&env, "alice"), &[])).unwrap();
    assert!(report.verified, "{:?}", report.policy);
    let error = block(ops::inspect(
        &offline,
        &reference("127.0.0.1:1/not/pulled:1"),
    ))
    .unwrap_err();
    assert!(error.is_not_found(), "{error}");
}

fn file_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { file_count(&p) } else { 1 })
        .sum()
}

#[test]
fn pull_under_a_policy_the_model_does_not_meet_writes_nothing() {
    let registry = Registry::start();
    let env = Env::new();
    let ctx = context(&env);
    let alice = key_pair(&env, "alice");
    key_pair(&env, "bob");
    let target = reference(&format!("{}/lib/tiny:1.0.0", registry.host()));
    let source = Source::Directory(Box::new(ModelInput::new(sample())));
    block(ops::push(&ctx, &source, &target, Overwrite::default())).unwrap();
    let format = modelark::sign::Format::Cosign;
    block(ops::sign(&ctx, &target, &alice, Default::default(), format)).unwrap();

    // Signed by alice, but only bob is trusted: nothing may be fetched or written.
    let fresh = Env::new();
    let ctx = context(&fresh);
    let out = fresh.path("out");
    let unpack = Unpack {
        dir: out.clone(),
        ..Unpack::default()
    };
    let error = block(ops::pull(
        &ctx,
        &target,
        Some(&policy(&env, "bob")),
        Some(&unpack),
    ))
    .unwrap_err();
    assert!(error.is_verification_failure(), "{error}");
    assert!(
        matches!(
            error.root(),
            modelark::Error::Verify(modelark::verify::Error::PolicyViolation { .. })
        ),
        "{error:?}"
    );
    assert!(!out.exists(), "the output directory was created");
    assert!(stored_tags(&ctx).is_empty(), "{:?}", stored_tags(&ctx));
    let blobs = fresh.home().join("store/blobs/sha256");
    let count = std::fs::read_dir(&blobs).map_or(0, |d| d.count());
    assert_eq!(count, 0, "blobs were fetched into the store");

    // verify reports the same verdict without failing; into_result fails closed.
    let report = block(ops::verify(&ctx, &target, &policy(&env, "bob"), &[])).unwrap();
    assert!(!report.verified);
    assert!(report.into_result().unwrap_err().is_verification_failure());
}

#[test]
fn a_version_that_exists_is_refused_before_any_blob_moves() {
    let registry = Registry::start();
    let env = Env::new();
    let ctx = context(&env);
    let target = reference(&format!("{}/lib/model:1.0.0", registry.host()));
    let first = random_model(&env, "first", 4096);
    let second = random_model(&env, "second", 8192);
    let push = |dir: &Path, overwrite: Overwrite<'_>| {
        let source = Source::Directory(Box::new(ModelInput::new(dir)));
        block(ops::push(&ctx, &source, &target, overwrite))
    };
    let pushed = push(&first, Overwrite::default()).unwrap();
    // The same model again is a no-op, not a conflict.
    assert_eq!(
        push(&first, Overwrite::default()).unwrap().digest,
        pushed.digest
    );

    let error = push(&second, Overwrite::default()).unwrap_err();
    assert!(error.is_refused_by_governance(), "{error}");
    let weights =
        modelark::Digest::sha256_of(&std::fs::read(second.join("model.safetensors")).unwrap());
    assert!(
        !registry.blob_data(&weights.to_string()).exists(),
        "the refused model's weights were uploaded"
    );

    // A policy that keeps versions immutable refuses even a forced push; pack into the
    // local store follows the same rule.
    key_pair(&env, "carol");
    let strict = policy(&env, "carol");
    let forced = Overwrite {
        force: true,
        policy: strict.governing(),
    };
    let error = push(&second, forced).unwrap_err();
    assert!(error.is_refused_by_governance(), "{error}");
    let local = reference("model:1.0.0");
    let pack = |dir: &Path| {
        block(ops::pack(
            &ctx,
            &ModelInput::new(dir),
            &local,
            Overwrite::default(),
        ))
    };
    pack(&first).unwrap();
    assert!(pack(&second).unwrap_err().is_refused_by_governance());
    let forced = Overwrite {
        force: true,
        policy: None,
    };
    let moved = block(ops::pack(&ctx, &ModelInput::new(&second), &local, forced)).unwrap();
    assert!(moved.replaced.is_some());
}
