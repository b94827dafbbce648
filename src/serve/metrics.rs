//! `/metrics` in the Prometheus text format: requests and latency per route and status,
//! index refreshes, registry errors, the cache of verified blobs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Latency histogram bounds, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Route {
    count: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

/// What the service counts.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, Route>>,
    refreshes: Mutex<(u64, f64)>,
    registry_errors: Mutex<u64>,
}

impl Metrics {
    fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let entry = routes.entry(route.to_owned()).or_default();
        *entry.count.entry(status).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        entry.sum += seconds;
        entry.total += 1;
    }

    /// An index refresh finished in `elapsed`.
    pub fn refreshed(&self, elapsed: Duration) {
        let mut r = self.refreshes.lock().unwrap_or_else(|e| e.into_inner());
        r.0 += 1;
        r.1 += elapsed.as_secs_f64();
    }

    /// A registry call failed.
    pub fn registry_error(&self) {
        *self
            .registry_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner()) += 1;
    }

    /// The Prometheus text exposition, with the blob cache's numbers when there is one.
    pub fn render(&self, cache: Option<crate::store::cache::Stats>) -> String {
        let mut out = String::new();
        out.push_str("# TYPE modelark_http_requests_total counter\n");
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        for (route, r) in routes.iter() {
            for (status, n) in &r.count {
                let _ = writeln!(
                    out,
                    "modelark_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# TYPE modelark_http_request_duration_seconds histogram\n");
        for (route, r) in routes.iter() {
            for (bound, n) in BUCKETS.iter().zip(r.buckets) {
                let _ = writeln!(
                    out,
                    "modelark_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "modelark_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                r.total
            );
            let _ = writeln!(
                out,
                "modelark_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                r.sum
            );
            let _ = writeln!(
                out,
                "modelark_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                r.total
            );
        }
        let (refreshes, seconds) = *self.refreshes.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# TYPE modelark_index_refreshes_total counter\nmodelark_index_refreshes_total {refreshes}"
        );
        let _ = writeln!(
            out,
            "# TYPE modelark_index_refresh_seconds_total counter\nmodelark_index_refresh_seconds_total {seconds}"
        );
        let errors = *self
            .registry_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# TYPE modelark_registry_errors_total counter\nmodelark_registry_errors_total {errors}"
        );
        if let Some(cache) = cache {
            for (name, kind, value) in [
                ("blob_cache_hits_total", "counter", cache.hits),
                ("blob_cache_misses_total", "counter", cache.misses),
                ("blob_cache_kept_total", "counter", cache.kept),
                ("blob_cache_evicted_total", "counter", cache.evicted),
                ("blob_cache_bytes", "gauge", cache.bytes),
                ("blob_cache_max_bytes", "gauge", cache.max_bytes),
            ] {
                let _ = writeln!(
                    out,
                    "# TYPE modelark_{name} {kind}\nmodelark_{name} {value}"
                );
            }
        }
        out
    }
}

/// Middleware: counts each request under its route pattern (never the raw path, which
/// would grow without bound).
pub async fn record(
    State(state): State<Arc<super::State>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe(&route, response.status().as_u16(), started.elapsed());
    response
}
