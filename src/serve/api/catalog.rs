//! Across repositories: `GET /api/v1/search`, `GET /api/v1/diff`, `GET /api/v1/audit`,
//! and `POST /api/v1/events` (registry notifications).

use axum::Json;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::super::access::Action;
use super::super::auth::Subject;
use super::super::{ApiError, State};
use super::models::trust;
use super::{Shared, authorize, subject};
use crate::governance::index::Hit;
use crate::governance::query::{Condition, Field};
use crate::ops;

/// The query string as pairs, repeated keys kept.
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A page of search results.
#[derive(Serialize)]
pub struct Page {
    hits: Vec<Hit>,
    /// Pass as `page_token` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// Every hit the caller may read, from the index (never the registry: the index is
/// refreshed in the background and by notifications).
pub(in crate::serve) fn hits(
    state: &State,
    who: &Subject,
    conditions: &[Condition],
    text: Option<&str>,
) -> Found {
    let text = text.map(str::to_lowercase);
    let catalog = state.catalog();
    let mut picked = Vec::new();
    // The catalog is grouped by repository: ask the access rules once per repository.
    let mut last: Option<(&str, bool)> = None;
    for (i, entry) in catalog.iter().enumerate() {
        let hit = &entry.hit;
        // The free text first: a substring search in one string is the cheapest test.
        if let Some(t) = text.as_deref()
            && (t.contains('\0') || !entry.text.contains(t))
        {
            continue;
        }
        if !conditions.iter().all(|c| c.matches(&hit.fields)) {
            continue;
        }
        let allowed = match last {
            Some((repository, allowed)) if repository == hit.repository => allowed,
            _ => {
                let path = state.sources[entry.source].path_of(&hit.repository);
                let allowed = state.access.allows(who, Action::Read, path, None);
                last = Some((&hit.repository, allowed));
                allowed
            }
        };
        if allowed {
            picked.push(i);
        }
    }
    Found { catalog, picked }
}

/// The catalog entries a search picked (indices into the catalog it read).
pub(in crate::serve) struct Found {
    catalog: std::sync::Arc<Vec<crate::serve::Entry>>,
    picked: Vec<usize>,
}

impl Found {
    /// How many.
    pub(in crate::serve) fn len(&self) -> usize {
        self.picked.len()
    }

    /// The hits, in order.
    pub(in crate::serve) fn iter(&self) -> impl Iterator<Item = &Hit> {
        self.picked.iter().map(|&i| &*self.catalog[i].hit)
    }
}

/// `GET /api/v1/search?where=EXPR&q=TEXT&sort=[-]FIELD&limit=N&page_token=T`.
pub async fn search(
    state: Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = subject(&state, &headers)?;
    let (mut conditions, mut text, mut sort, mut limit, mut offset) =
        (Vec::new(), None, None, 50usize, 0usize);
    for (key, value) in pairs(query.as_deref()) {
        match key.as_str() {
            "where" => conditions.push(
                value
                    .parse::<Condition>()
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            ),
            "q" if !value.is_empty() => text = Some(value),
            "q" => {}
            "sort" => sort = Some(value),
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=500).contains(n))
                    .ok_or_else(|| ApiError::bad_request("limit: 1 to 500"))?
            }
            "page_token" => offset = decode_token(&value)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?} (where, q, sort, limit, page_token)"
                )));
            }
        }
    }
    let found = hits(&state, &who, &conditions, text.as_deref());
    let mut hits: Vec<&Hit> = found.iter().collect();
    if let Some(sort) = sort {
        let (field, descending) = match sort.strip_prefix('-') {
            Some(field) => (field.to_owned(), true),
            None => (sort.clone(), false),
        };
        hits.sort_by(|a, b| {
            let order = compare(a.fields.0.get(&field), b.fields.0.get(&field));
            if descending { order.reverse() } else { order }
        });
    }
    let next = (offset + limit < hits.len()).then(|| encode_token(offset + limit));
    let page: Vec<Hit> = hits.into_iter().skip(offset).take(limit).cloned().collect();
    Ok(Json(Page {
        hits: page,
        next_page_token: next,
    })
    .into_response())
}

/// Numbers by value, texts by text; absent values last.
fn compare(a: Option<&Field>, b: Option<&Field>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(Field::Number(a)), Some(Field::Number(b))) => {
            a.partial_cmp(b).unwrap_or(Ordering::Equal)
        }
        (Some(Field::Text(a)), Some(Field::Text(b))) => {
            match (semver::Version::parse(a), semver::Version::parse(b)) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ => a.cmp(b),
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

pub(in crate::serve) fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

pub(in crate::serve) fn decode_token(token: &str) -> Result<usize, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.strip_prefix("o:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::bad_request("invalid page_token"))
}

/// `GET /api/v1/diff?from=REF&to=REF`.
pub async fn diff(
    state: Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = subject(&state, &headers)?;
    let params = pairs(query.as_deref());
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| ApiError::bad_request(format!("{name}=HOST/REPO:TAG is required")))
    };
    let (from, to) = (get("from")?, get("to")?);
    let mut refs = Vec::new();
    for text in [&from, &to] {
        let reference: crate::Reference = text
            .parse()
            .map_err(|e: crate::reference::Error| ApiError::bad_request(e.to_string()))?;
        let repository = reference.without_selector().to_string();
        let (source, _) = authorize(&state, &who, Action::Read, &repository, None)?;
        refs.push((source.ctx.clone(), reference));
    }
    let diff = ops::diff(&refs[0].0, &refs[0].1, &refs[1].1).await?;
    Ok(Json(diff).into_response())
}

/// One write action, from the signed records.
#[derive(Serialize)]
struct AuditEntry {
    repository: String,
    #[serde(flatten)]
    event: crate::governance::history::Event,
}

/// `GET /api/v1/audit`: approvals, rejections, signatures, attestations and alias moves
/// across the repositories the caller may read, newest first, each verified or not under
/// the server's policy.
pub async fn audit(state: Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let who = subject(&state, &headers)?;
    let mut repositories: Vec<String> = hits(&state, &who, &[], None)
        .iter()
        .map(|h| h.repository.clone())
        .collect();
    repositories.dedup();
    let mut entries = Vec::new();
    for repository in repositories {
        let Some(source) = state.source_for(&repository) else {
            continue;
        };
        let Ok(reference) = repository.parse() else {
            continue;
        };
        for event in ops::history(&source.ctx, &reference, trust(&state), None).await? {
            if event.kind != "version" {
                entries.push(AuditEntry {
                    repository: repository.clone(),
                    event,
                });
            }
        }
    }
    entries.sort_by(|a, b| b.event.time.cmp(&a.event.time));
    Ok(Json(entries).into_response())
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: Target,
}

#[derive(Deserialize, Default)]
struct Target {
    #[serde(default)]
    repository: String,
}

/// `POST /api/v1/events`: CNCF distribution notifications, authenticated by the shared
/// secret. Each pushed or deleted repository is refreshed in the background; the
/// registry gets its answer at once.
pub async fn events(state: Shared, headers: HeaderMap, bytes: Bytes) -> Result<Response, ApiError> {
    let Some(secret) = state.events_secret.as_deref() else {
        return Err(ApiError::not_found(
            "notifications are not configured (events in the service config)",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(secret.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the notification secret does not match",
        ));
    }
    let envelope: Envelope = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid notification: {e}")))?;
    let mut repositories: Vec<String> = envelope
        .events
        .into_iter()
        .filter(|e| {
            matches!(e.action.as_str(), "push" | "delete") && !e.target.repository.is_empty()
        })
        .map(|e| e.target.repository)
        .collect();
    repositories.sort();
    repositories.dedup();
    if !repositories.is_empty() {
        state
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(repositories);
        state.refresh_now.notify_one();
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
