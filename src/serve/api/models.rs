//! `GET /api/v1/models/{repository}[/versions/{v}[/files/{path}|/lineage]|/history]`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;

use super::super::access::Action;
use super::super::{ApiError, State};
use super::{Shared, authorize, request, version_ref};
use crate::governance::versions::{self, VersionInfo};
use crate::ops::{self, Trust};
use crate::reference::Reference;
use crate::verify::{Evidence, Verdict};

/// Dispatches the read routes under a repository.
pub async fn read(
    state: Shared,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (repository, rest, who) = request(&state, &path, &headers)?;
    let (source, repo) = authorize(&state, &who, Action::Read, &repository, None)?;
    let ctx = &source.ctx;
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match rest.as_slice() {
        [] => Ok(Json(&*model_view(&state, ctx, &repo).await?).into_response()),
        ["history"] => {
            let events = ops::history(ctx, &repo, trust(&state), None).await?;
            Ok(Json(events).into_response())
        }
        ["versions", selector] => {
            let reference = version_ref(&repo, selector)?;
            Ok(Json(&*version_view(&state, ctx, &reference).await?).into_response())
        }
        ["versions", selector, "lineage"] => {
            let reference = version_ref(&repo, selector)?;
            let graph = ops::lineage(ctx, &reference, keys(&state), 32).await?;
            if query.as_deref() == Some("format=dot") {
                return Ok((
                    [(header::CONTENT_TYPE, "text/vnd.graphviz")],
                    graph.to_dot(),
                )
                    .into_response());
            }
            if query.as_deref() == Some("format=svg") {
                // Every text in it is escaped; the policy forbids scripts besides.
                let headers = [
                    (header::CONTENT_TYPE, "image/svg+xml"),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'none'; style-src 'unsafe-inline'",
                    ),
                ];
                return Ok((headers, graph.to_svg()).into_response());
            }
            Ok(Json(graph).into_response())
        }
        ["versions", selector, "files", file @ ..] if !file.is_empty() => {
            let reference = version_ref(&repo, selector)?;
            download(ctx, &reference, &file.join("/"), &headers).await
        }
        _ => Err(ApiError::not_found(format!(
            "no such resource under {repository}"
        ))),
    }
}

/// The keys the policy trusts (none without a policy).
/// What the service verifies under: its policy, or nothing trusted.
pub(in crate::serve) fn trust(state: &State) -> &crate::verify::Policy {
    static NOTHING: std::sync::LazyLock<crate::verify::Policy> =
        std::sync::LazyLock::new(|| crate::verify::Policy::trust_keys(Vec::new()));
    state.trust.as_ref().map_or(&*NOTHING, Trust::rules)
}

pub(in crate::serve) fn keys(state: &State) -> &[crate::verify::TrustedKey] {
    state
        .trust
        .as_ref()
        .map(Trust::trusted_keys)
        .unwrap_or_default()
}

/// One version in a model's listing, with the policy's verdict on it.
#[derive(Serialize)]
pub struct VersionRow {
    #[serde(flatten)]
    info: VersionInfo,
    /// Whether the server's policy accepts it (null without a policy).
    verified: Option<bool>,
    /// What the policy finds missing.
    unmet: Vec<String>,
}

/// A model: its versions and aliases.
#[derive(Serialize)]
pub struct ModelView {
    repository: String,
    versions: Vec<VersionRow>,
    aliases: BTreeMap<String, crate::Digest>,
}

/// The model view, from the cache when it is fresh.
pub(in crate::serve) async fn model_view(
    state: &State,
    ctx: &crate::Context,
    repo: &Reference,
) -> Result<std::sync::Arc<serde_json::Value>, ApiError> {
    let key = repo.to_string();
    state
        .view(&key, "", async {
            let view = model(state, ctx, repo).await?;
            Ok(serde_json::to_value(view).unwrap_or_default())
        })
        .await
}

/// The version view, from the cache when it is fresh.
pub(in crate::serve) async fn version_view(
    state: &State,
    ctx: &crate::Context,
    reference: &Reference,
) -> Result<std::sync::Arc<serde_json::Value>, ApiError> {
    let repository = reference.without_selector().to_string();
    state
        .view(&repository, &reference.to_string(), async {
            let view = version(state, ctx, reference).await?;
            Ok(serde_json::to_value(view).unwrap_or_default())
        })
        .await
}

pub(in crate::serve) async fn model(
    state: &State,
    ctx: &crate::Context,
    repo: &Reference,
) -> Result<ModelView, ApiError> {
    let found = ops::versions(ctx, repo, trust(state)).await?;
    let now = time::OffsetDateTime::now_utc();
    let repository = repo.to_string();
    let versions = found
        .versions
        .into_iter()
        .map(|info| {
            let verdict = state
                .trust
                .as_ref()
                .map(|t| t.rules().evaluate(&repository, &info.evidence, now));
            VersionRow {
                verified: verdict.as_ref().map(Verdict::passed),
                unmet: verdict.map(|v| v.failures()).unwrap_or_default(),
                info,
            }
        })
        .collect();
    Ok(ModelView {
        repository,
        versions,
        aliases: found.aliases,
    })
}

/// One verified decision on a version.
#[derive(Serialize)]
pub struct DecisionView {
    #[serde(flatten)]
    approval: crate::sign::predicate::Approval,
    /// The trusted keys that signed it.
    signers: Vec<String>,
}

/// One version in full.
#[derive(Serialize)]
pub struct VersionView {
    #[serde(flatten)]
    inspected: ops::Inspected,
    evidence: Evidence,
    approvals: BTreeMap<String, Vec<String>>,
    rejections: BTreeMap<String, Vec<String>>,
    /// Every verified approval or rejection, oldest first, with who decided.
    decisions: Vec<DecisionView>,
    verified: Option<bool>,
    policy: Option<Verdict>,
    /// Per alias the policy names: its verdict for moving that alias here.
    aliases: BTreeMap<String, Verdict>,
}

pub(in crate::serve) async fn version(
    state: &State,
    ctx: &crate::Context,
    reference: &Reference,
) -> Result<VersionView, ApiError> {
    let inspected = ops::inspect(ctx, reference).await?;
    let trust = state
        .trust
        .clone()
        .unwrap_or_else(|| Trust::keys(Vec::new()));
    let report = ops::verify(ctx, reference, &trust, &[]).await?;
    let now = time::OffsetDateTime::now_utc();
    let (approvals, rejections) = versions::decisions(&report.evidence, now);
    let repository = reference.without_selector().to_string();
    let mut aliases = BTreeMap::new();
    if let Some(rule) = state
        .trust
        .as_ref()
        .and_then(|t| t.rules().rule_for(&repository))
    {
        for alias in rule.aliases.keys() {
            let verdict = trust
                .rules()
                .evaluate_alias(&repository, alias, &report.evidence, now);
            aliases.insert(alias.clone(), verdict);
        }
    }
    let governed = state.trust.is_some();
    let mut decisions: Vec<DecisionView> = report
        .evidence
        .attestations_of(crate::sign::predicate::APPROVAL)
        .filter_map(|check| {
            let statement = check.statement.as_ref()?;
            let approval = serde_json::from_value(statement.predicate.clone()).ok()?;
            Some(DecisionView {
                approval,
                signers: check.signers.clone(),
            })
        })
        .collect();
    decisions.sort_by(|a, b| a.approval.time.cmp(&b.approval.time));
    Ok(VersionView {
        inspected,
        approvals,
        rejections,
        decisions,
        verified: governed.then_some(report.verified),
        policy: governed.then_some(report.policy),
        evidence: report.evidence,
        aliases,
    })
}

/// Streams a file, verified as it streams: a blob that does not match its digest ends the
/// response early (the client sees a truncated body, never wrong bytes presented as whole).
/// `If-None-Match` with the file's digest answers 304; one `Range: bytes=A-B` is served
/// from the verified stream.
pub(in crate::serve) async fn download(
    ctx: &crate::Context,
    reference: &Reference,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let file = ops::open_file(ctx, reference, path).await?;
    let etag = format!("\"{}\"", file.layer.digest);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let size = file.layer.size;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, size));
    let name = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .replace(['"', '\\'], "_");
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        );
    let body = match range {
        Some((start, end)) => {
            response = response
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))
                .header(header::CONTENT_LENGTH, end - start + 1);
            // A verified copy on disk: read just the range.
            match file.local.as_ref().map(std::fs::File::open) {
                Some(Ok(local)) => Body::from_stream(ops::read_file(local, start, end + 1 - start)),
                _ => Body::from_stream(slice(file.body, start, end)),
            }
        }
        None => {
            response = response.header(header::CONTENT_LENGTH, size);
            Body::from_stream(file.body)
        }
    };
    response
        .body(body)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` within `size`.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && end < size).then_some((start, end))
}

/// The bytes `start..=end` of a verified stream, which is still read (and verified) to
/// its end: the range's last piece is held back until the digest check passed, so a client
/// never gets a complete-looking range of a blob that does not verify.
fn slice(
    body: futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
    start: u64,
    end: u64,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    let mut offset = 0u64;
    let mut held: Option<bytes::Bytes> = None;
    let mut failed = false;
    let pieces = body.map(move |chunk| {
        let chunk = chunk?;
        let (from, to) = (offset, offset + chunk.len() as u64);
        offset = to;
        let (lo, hi) = (start.max(from), (end + 1).min(to));
        Ok((lo < hi).then(|| {
            (
                chunk.slice((lo - from) as usize..(hi - from) as usize),
                hi == end + 1,
            )
        }))
    });
    let tail = futures_util::stream::once(async { Ok(None) });
    pieces.chain(tail).filter_map(move |item| {
        let out = match item {
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
            Ok(Some((piece, true))) => {
                held = Some(piece);
                None
            }
            Ok(Some((piece, false))) => Some(Ok(piece)),
            // The end of a stream that verified: release the held piece.
            Ok(None) if failed => None,
            Ok(None) => held.take().map(Ok),
        };
        std::future::ready(out)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges_parse_within_the_size() {
        let cases = [
            ("bytes=0-9", Some((0, 9))),
            ("bytes=5-", Some((5, 99))),
            ("bytes=-10", Some((90, 99))),
            ("bytes=90-200", Some((90, 99))),
            ("bytes=100-", None),
            ("bytes=9-5", None),
            ("bytes=0-1,5-6", None),
            ("items=0-1", None),
        ];
        for (header, expected) in cases {
            assert_eq!(super::parse_range(header, 100), expected, "{header}");
        }
    }
}
