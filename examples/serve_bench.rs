//! The two halves of `make bench-serve` that a shell script cannot do well:
//!
//! `serve_bench populate HOST REPOS VERSIONS` pushes REPOS x VERSIONS small, distinct models
//! (ModelPack, with metadata) to the registry at HOST through the library, 16 at a time.
//!
//! `serve_bench load URL SECONDS CONNECTIONS PATH...` asks the service for the paths in
//! turn over CONNECTIONS keep-alive connections for SECONDS and prints requests/s, p50,
//! p90, p99 and the slowest latency, and any non-200 answers.

// A benchmark reports on its standard streams; the library's no-printing rule is for the library.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use modelark::metadata::ModelMetadata;
use modelark::store::registry::{Client, CredentialStore, Options};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("populate") if args.len() == 4 => populate(&args[1], args[2].parse()?, args[3].parse()?).await,
        Some("load") if args.len() >= 5 => load(&args[1], args[2].parse()?, args[3].parse()?, &args[4..]).await,
        _ => Err("usage: serve_bench populate HOST REPOS VERSIONS | load URL SECONDS CONNECTIONS PATH...".into()),
    }
}

async fn populate(
    host: &str,
    repos: usize,
    versions: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let credentials = CredentialStore::at(scratch.path().join("none.json"), Vec::new());
    let options = Options {
        plain_http: true,
        ..Options::default()
    };
    let client = Client::new(options, credentials)?;
    // One directory per repository: its versions differ in metadata, so each is its own
    // manifest while the weights blob is uploaded once.
    for r in 0..repos {
        let dir = scratch.path().join(format!("m{r}"));
        std::fs::create_dir(&dir)?;
        let weights: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ r as u8)
            .collect();
        std::fs::write(dir.join("model.safetensors"), weights)?;
        std::fs::write(dir.join("config.json"), format!("{{\"repo\": {r}}}"))?;
        std::fs::write(
            dir.join("README.md"),
            format!("# m{r}\n\nA benchmark model.\n"),
        )?;
    }
    let started = Instant::now();
    let jobs: Vec<(usize, usize)> = (0..repos)
        .flat_map(|r| (0..versions).map(move |v| (r, v)))
        .collect();
    let silent = Arc::new(modelark::progress::Silent);
    let results: Vec<Result<(), modelark::Error>> = stream::iter(jobs)
        .map(|(r, v)| {
            let (client, silent) = (Arc::clone(&client), silent.clone());
            let dir = scratch.path().join(format!("m{r}"));
            async move {
                let repository = client.repository(host, &format!("zoo/m{r}"));
                let metadata = ModelMetadata {
                    name: Some(format!("m{r}")),
                    version: Some(format!("1.0.{v}").parse().expect("a version")),
                    framework: Some(if r % 2 == 0 { "pytorch" } else { "onnx" }.into()),
                    task: Some("text-classification".into()),
                    licenses: vec!["Apache-2.0".into()],
                    metrics: [("accuracy".to_owned(), (v % 100) as f64 / 100.0)].into(),
                    ..ModelMetadata::default()
                };
                let options = modelark::package::pack::Options {
                    metadata,
                    concurrency: 2,
                    ..modelark::package::pack::Options::default()
                };
                let tag = format!("1.0.{v}").parse().expect("a tag");
                modelark::transfer::push_directory(
                    &dir,
                    &options,
                    &repository,
                    &tag,
                    false,
                    2,
                    silent,
                )
                .await
                .map(drop)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first failure: {e}");
    }
    println!(
        "populated {} versions in {repos} repositories in {:.1} s ({failed} failed)",
        repos * versions,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn load(
    base: &str,
    seconds: u64,
    connections: usize,
    paths: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    // Collected, so all connections start now (a lazy map would spawn them one at a time).
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let http = http.clone();
            let urls: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
            tokio::spawn(async move {
                let (mut latencies, mut failures) = (Vec::new(), 0usize);
                let mut i = worker;
                while Instant::now() < deadline {
                    let url = &urls[i % urls.len()];
                    i += connections;
                    let t = Instant::now();
                    match http.get(url).send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            latencies.push(t.elapsed());
                        }
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (l, f) = worker.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{:>9.0} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  ({} ok, {failures} failed)",
        latencies.len() as f64 / elapsed,
        at(0.50),
        at(0.90),
        at(0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        latencies.len()
    );
    Ok(())
}
