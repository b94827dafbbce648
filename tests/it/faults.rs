//! Misbehaviour a real registry never shows, injected by a proxy in front of one: 5xx
//! storms, connections cut mid-blob (resume with Range, in one run and across runs, over one
//! connection or several), PATCH size limits; and what a push sends when the registry
//! already has the content.

use crate::harness::{
    Env, Registry, assert_same_tree, digest_of, names, random_model, sample, wait_unless_hung,
};
use crate::proxy::{FaultProxy, Faults};
use std::time::Duration;

#[test]
fn retries_ride_out_a_5xx_storm_and_give_up_clearly() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            server_errors: 4,
            error_filter: String::new(),
            ..Faults::default()
        },
    );
    let env = Env::new();
    let sample = sample();
    let remote = format!("{}/storm/tiny:1", proxy.host());
    env.ok(&["push", sample.to_str().unwrap(), &remote, "--plain-http"]);
    proxy.set_faults(Faults {
        server_errors: 3,
        error_filter: "/blobs/".into(),
        ..Faults::default()
    });
    let out = env.path("out");
    env.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&sample, &out);

    proxy.set_faults(Faults {
        server_errors: 100,
        error_filter: String::new(),
        ..Faults::default()
    });
    let stderr = env.fails(&["inspect", &remote, "--plain-http", "--retries", "1"], 2);
    assert!(stderr.contains("503"), "{stderr}");
}

#[test]
fn a_download_cut_mid_blob_resumes_with_range() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 3 * 1024 * 1024);
    let direct = format!("{}/m/resume:1", registry.host());
    let (digest, _) = push_weights(&env, &model, &direct);
    let cut = || Some((digest.clone(), 1024 * 1024));

    // In one run: the connection drops after 1 MiB and the download continues from there.
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            cut_download: cut(),
            ..Faults::default()
        },
    );
    let remote = format!("{}/m/resume:1", proxy.host());
    let out = env.path("out");
    env.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&model, &out);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.contains("Range: bytes=") || r.contains("range: bytes=")),
        "resumed with Range"
    );

    // Across runs: a pull that gives up keeps its partial download; the next run resumes.
    let other = Env::new();
    proxy.set_faults(Faults {
        cut_download: cut(),
        ..Faults::default()
    });
    let before = proxy.requests().len();
    other.fails(&["pull", &remote, "--plain-http", "--retries", "0"], 2);
    // The cut blob's partial download is kept (a small blob in flight when the pull gave up
    // may leave one too; both are resumed or replaced by the next run).
    let weights_hex = digest.trim_start_matches("sha256:");
    let partials = names(&other.home().join("store/blobs/sha256"));
    assert!(
        partials
            .iter()
            .any(|n| n.starts_with(".partial-") && n.contains(weights_hex)),
        "a partial download is kept: {partials:?}"
    );
    let out = other.path("out");
    other.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&model, &out);
    assert!(
        proxy.requests()[before..]
            .iter()
            .any(|r| r.to_lowercase().contains("range: bytes=")),
        "the second run resumed"
    );
}

#[test]
fn re_pushing_an_unchanged_model_uploads_nothing() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let env = Env::new();
    let model = random_model(&env, "model", 1_000_000);
    let remote = format!("{}/m/again:1", proxy.host());
    let first = env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    let before = proxy.requests().len();
    let second = env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    assert_eq!(digest_of(&first), digest_of(&second));
    let uploads: Vec<String> = proxy.requests()[before..]
        .iter()
        .filter_map(|r| r.lines().next().map(str::to_owned))
        .filter(|line| line.starts_with("POST") || line.contains("/blobs/uploads/"))
        .collect();
    assert!(uploads.is_empty(), "re-push uploaded: {uploads:?}");
    // A changed file is always re-hashed and uploaded, even at the same size and mtime.
    let weights = model.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[0] ^= 1;
    let mtime = std::fs::metadata(&weights).unwrap().modified().unwrap();
    std::fs::write(&weights, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&weights)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let third = env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    assert_ne!(digest_of(&third), digest_of(&first));
}

#[test]
fn a_fresh_machine_does_not_finish_uploads_the_registry_already_has() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.port, Faults::default());
    let first = Env::new();
    let model = random_model(&first, "model", 2_000_000);
    let remote = format!("{}/m/dedupe:1", proxy.host());
    first.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    // Another machine: no digest cache, so the files are hashed while uploading; once the
    // digest is known the registry says it has the blob, and the upload is never completed.
    let fresh = Env::new();
    let before = proxy.requests().len();
    fresh.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    let completed: Vec<String> = proxy.requests()[before..]
        .iter()
        .filter_map(|r| r.lines().next().map(str::to_owned))
        .filter(|line| line.starts_with("PUT") && line.contains("/blobs/uploads/"))
        .collect();
    assert!(
        completed.is_empty(),
        "uploads were completed: {completed:?}"
    );
}

#[test]
fn a_registry_that_limits_patch_bodies_still_gets_the_model() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            max_patch_body: Some(4 * 1024 * 1024),
            ..Faults::default()
        },
    );
    let env = Env::new();
    let model = random_model(&env, "model", 6 * 1024 * 1024);
    // Streamed PATCH is refused (like GHCR): modelark falls back to one PUT per blob.
    let remote = format!("{}/m/ghcr-like:1", proxy.host());
    env.ok(&["push", model.to_str().unwrap(), &remote, "--plain-http"]);
    assert!(
        proxy.requests().iter().any(|r| r.starts_with("PATCH")),
        "the streamed upload was tried first"
    );
    let out = env.path("out");
    env.ok(&["pull", &remote, "-o", out.to_str().unwrap(), "--plain-http"]);
    assert_same_tree(&model, &out);
    // With --chunk-size under the limit, chunks go through.
    let fresh = Env::new();
    let chunked = format!("{}/m/ghcr-chunked:1", proxy.host());
    fresh.ok(&[
        "push",
        model.to_str().unwrap(),
        &chunked,
        "--plain-http",
        "--chunk-size",
        "4194304",
    ]);
    let out = fresh.path("out");
    fresh.ok(&[
        "pull",
        &chunked,
        "-o",
        out.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_same_tree(&model, &out);
}

#[test]
fn large_blobs_come_over_several_ranged_connections_and_resume_by_part() {
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 3 * 1024 * 1024 + 12345);
    let direct = format!("{}/m/ranged:1", registry.host());
    let (digest, size) = push_weights(&env, &model, &direct);
    let ranged = [
        "--plain-http",
        "--connections",
        "4",
        "--part-size",
        "524288",
    ];
    let starts = |requests: &[String]| -> std::collections::BTreeSet<u64> {
        range_starts(requests, &digest).into_iter().collect()
    };

    // One run: four parts at once, one of them cut after 100 KiB and resumed.
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            cut_download: Some((digest.clone(), 100 * 1024)),
            ..Faults::default()
        },
    );
    let remote = format!("{}/m/ranged:1", proxy.host());
    let out = env.path("out");
    let mut args = vec!["pull", &remote, "-o", out.to_str().unwrap()];
    args.extend(ranged);
    env.ok(&args);
    assert_same_tree(&model, &out);
    let seen = starts(&proxy.requests());
    let boundaries: Vec<u64> = (0..4).map(|i| i * size.div_ceil(4)).collect();
    assert!(
        boundaries.iter().all(|b| seen.contains(b)),
        "four parts at once: {seen:?}"
    );
    assert!(
        seen.iter().any(|s| !boundaries.contains(s)),
        "the cut part resumed mid-way: {seen:?}"
    );

    // Across runs: a run that gives up keeps per-part progress; the next run finishes.
    let other = Env::new();
    proxy.set_faults(Faults {
        cut_download: Some((digest.clone(), 300 * 1024)),
        ..Faults::default()
    });
    let mut args = vec!["pull", &remote, "--retries", "0"];
    args.extend(ranged);
    other.fails(&args, 2);
    let kept = names(&other.home().join("store/blobs/sha256"));
    assert!(
        kept.iter().any(|n| n.ends_with(".parts")),
        "part progress is kept: {kept:?}"
    );
    let before = proxy.requests().len();
    let out = other.path("out");
    let mut args = vec!["pull", &remote, "-o", out.to_str().unwrap()];
    args.extend(ranged);
    other.ok(&args);
    assert_same_tree(&model, &out);
    let resumed = starts(&proxy.requests()[before..]);
    let boundaries: Vec<u64> = (0..4).map(|i| i * size.div_ceil(4)).collect();
    assert!(
        resumed.iter().any(|start| !boundaries.contains(start)),
        "a part resumed mid-way: {resumed:?} (parts start at {boundaries:?})"
    );
    assert!(
        !names(&other.home().join("store/blobs/sha256"))
            .iter()
            .any(|n| n.starts_with(".partial")),
        "no leftovers"
    );
}

#[test]
fn ctrl_c_during_a_ranged_download_keeps_each_parts_progress() {
    use std::os::unix::fs::MetadataExt;
    let registry = Registry::start();
    let env = Env::new();
    let model = random_model(&env, "model", 24 << 20);
    let direct = format!("{}/m/interrupted:1", registry.host());
    let (digest, size) = push_weights(&env, &model, &direct);
    // Four parts of 6 MiB; each GET sends 3 MiB and then nothing: two 1 MiB buffers per part
    // reach the file, the third waits in memory until Ctrl-C.
    let proxy = FaultProxy::start(
        registry.port,
        Faults {
            stall_download: Some((digest.clone(), 3 << 20)),
            ..Faults::default()
        },
    );
    let remote = format!("{}/m/interrupted:1", proxy.host());
    let ranged = [
        "--plain-http",
        "--connections",
        "4",
        "--part-size",
        "1048576",
    ];
    let mut args = vec!["pull", remote.as_str()];
    args.extend(ranged);
    let mut child = env
        .cmd(&args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let blobs = env.home().join("store/blobs/sha256");
    let on_disk = || -> u64 {
        std::fs::read_dir(&blobs)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(".partial-") && !name[1..].contains('.')
            })
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.len() >= size / 2)
            .map(|m| m.blocks() * 512)
            .max()
            .unwrap_or(0)
    };
    // A hang guard, not a timing check: the eight buffers arrive at once over loopback.
    for _ in 0..1200 {
        if on_disk() >= 8 << 20 || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(on_disk() >= 8 << 20, "every part wrote two buffers");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // Before the fix the hashing thread waited for the parts forever and the process never
    // ended.
    let output = wait_unless_hung(child, "pull hangs after Ctrl-C");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");

    // Each part's progress was saved when the work stopped (the periodic save comes only
    // every 16 MiB): the next run resumes every part where it stopped.
    let parts = names(&blobs)
        .into_iter()
        .find(|n| n.ends_with(".parts"))
        .unwrap_or_else(|| panic!("part progress kept: {:?}", names(&blobs)));
    let done: Vec<u64> =
        serde_json::from_str(&std::fs::read_to_string(blobs.join(parts)).unwrap()).unwrap();
    assert_eq!(done.len(), 4, "{done:?}");
    assert!(done.iter().all(|d| *d >= 2 << 20), "{done:?}");

    proxy.set_faults(Faults::default());
    let before = proxy.requests().len();
    let out = env.path("out");
    let mut args = vec!["pull", remote.as_str(), "-o", out.to_str().unwrap()];
    args.extend(ranged);
    env.ok(&args);
    assert_same_tree(&model, &out);
    let part = size.div_ceil(4);
    let resumed = range_starts(&proxy.requests()[before..], &digest);
    for i in 0..4 {
        let from = i * part + done[i as usize];
        assert!(
            resumed.contains(&from),
            "part {i} resumed at {from}: {resumed:?}"
        );
    }
}

/// Pushes `model` to `reference`; the digest and size of its weights file.
fn push_weights(env: &Env, model: &std::path::Path, reference: &str) -> (String, u64) {
    env.ok(&["push", model.to_str().unwrap(), reference, "--plain-http"]);
    let weights = "model.safetensors";
    let size = std::fs::metadata(model.join(weights)).unwrap().len();
    (env.file_digest(reference, weights), size)
}

/// Where each ranged GET of the blob `digest` among `requests` started.
fn range_starts(requests: &[String], digest: &str) -> Vec<u64> {
    requests
        .iter()
        .filter(|r| r.starts_with("GET") && r.contains(digest))
        .filter_map(|r| {
            r.to_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("range: bytes=").map(str::to_owned))
        })
        .filter_map(|range| range.split('-').next().and_then(|s| s.parse().ok()))
        .collect()
}
