//! `/api/v1`: one file per resource; each handler authenticates, asks [`super::access`]
//! the one question, calls a use case and returns a view. Errors map to statuses in
//! [`super::ApiError`] only.

pub(super) mod catalog;
pub(super) mod models;
pub(super) mod writes;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use super::access::Action;
use super::auth::{Refused, Subject};
use super::{ApiError, Source, State};
use crate::reference::Reference;

type Shared = axum::extract::State<Arc<State>>;

/// The API routes.
pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    include_str!("../openapi.json"),
                )
            }),
        )
        .route("/api/v1/search", get(catalog::search))
        .route("/api/v1/diff", get(catalog::diff))
        .route("/api/v1/audit", get(catalog::audit))
        .route("/api/v1/events", post(catalog::events))
        .route(
            "/api/v1/models/{*path}",
            get(models::read).put(writes::put).post(writes::post),
        )
}

async fn ready(state: Shared) -> impl IntoResponse {
    if state.ready.load(std::sync::atomic::Ordering::SeqCst) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "building the index")
    }
}

async fn metrics(state: Shared) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state
            .metrics
            .render(state.blob_cache.as_ref().map(|c| c.stats())),
    )
}

/// Who sent the request: 401 for credentials that do not authenticate.
pub(super) fn subject(state: &State, headers: &HeaderMap) -> Result<Subject, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    state.tokens.subject(value).map_err(|refused| {
        let message = match refused {
            Refused::Scheme => "use Authorization: Bearer TOKEN".to_owned(),
            Refused::Unknown => "the token is not valid".to_owned(),
            Refused::Jwt(reason) => format!("the token is not valid: {reason}"),
        };
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    })
}

/// A repository the service serves and `subject` may act on: its source and reference.
/// Anonymous callers refused an action are asked to authenticate (401), others get 403.
pub(super) fn authorize<'a>(
    state: &'a State,
    subject: &Subject,
    action: Action,
    repository: &str,
    environment: Option<&str>,
) -> Result<(&'a Source, Reference), ApiError> {
    // Only configured registries and prefixes are ever contacted.
    let source = state
        .source_for(repository)
        .ok_or_else(|| ApiError::not_found(format!("{repository} is not served here")))?;
    let path = source.path_of(repository);
    if !state.access.allows(subject, action, path, environment) {
        if *subject == Subject::Anonymous {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("{} on {repository} needs a token", action.as_str()),
            ));
        }
        return Err(ApiError::forbidden(action, repository));
    }
    let reference: Reference = repository
        .parse()
        .map_err(|e: crate::reference::Error| ApiError::bad_request(e.to_string()))?;
    Ok((source, reference))
}

/// `models/{repository}/{rest...}`: the repository is every component before the first
/// reserved one (`versions`, `history`, `aliases`), which repository names cannot use here.
pub(super) fn split(path: &str) -> (String, Vec<String>) {
    let parts: Vec<&str> = path.split('/').collect();
    let at = parts
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, p)| matches!(**p, "versions" | "history" | "aliases"))
        .map_or(parts.len(), |(i, _)| i);
    (
        parts[..at].join("/"),
        parts[at..].iter().map(|p| (*p).to_owned()).collect(),
    )
}

/// A request under `models/`: the repository, the path after it, and who asks.
pub(super) fn request(
    state: &State,
    path: &str,
    headers: &HeaderMap,
) -> Result<(String, Vec<String>, Subject), ApiError> {
    let (repository, rest) = split(path);
    Ok((repository, rest, subject(state, headers)?))
}

/// `REPO:TAG`, or `REPO@DIGEST` for a selector that is a digest.
pub(super) fn version_ref(repository: &Reference, selector: &str) -> Result<Reference, ApiError> {
    if let Ok(digest) = selector.parse::<crate::Digest>() {
        return Ok(repository.with_digest(digest));
    }
    let tag = selector
        .parse()
        .map_err(|e: String| ApiError::bad_request(format!("{selector:?}: {e}")))?;
    Ok(repository.with_tag(tag))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_lists_every_route() {
        let document: serde_json::Value =
            serde_json::from_str(include_str!("../openapi.json")).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let paths = document["paths"].as_object().unwrap();
        let routes = [
            "/healthz",
            "/readyz",
            "/metrics",
            "/api/v1/openapi.json",
            "/api/v1/search",
            "/api/v1/diff",
            "/api/v1/audit",
            "/api/v1/events",
            "/api/v1/models/{repository}",
            "/api/v1/models/{repository}/history",
            "/api/v1/models/{repository}/versions/{v}",
            "/api/v1/models/{repository}/versions/{v}/lineage",
            "/api/v1/models/{repository}/versions/{v}/files/{path}",
            "/api/v1/models/{repository}/versions/{v}/approvals",
            "/api/v1/models/{repository}/versions/{v}/signatures",
            "/api/v1/models/{repository}/aliases/{alias}",
            "/api/v1/models/{repository}/aliases/{alias}/rollback",
        ];
        for route in routes {
            assert!(paths.contains_key(route), "{route} is not documented");
        }
        assert_eq!(
            paths.len(),
            routes.len(),
            "documented routes that do not exist"
        );
    }

    #[test]
    fn the_repository_ends_at_the_first_reserved_component() {
        let cases = [
            ("127.0.0.1:5000/ml/bert", "127.0.0.1:5000/ml/bert", vec![]),
            (
                "h/ml/bert/versions/1.0.0/files/a/b.bin",
                "h/ml/bert",
                vec!["versions", "1.0.0", "files", "a", "b.bin"],
            ),
            ("h/ml/bert/history", "h/ml/bert", vec!["history"]),
            (
                "h/ml/bert/aliases/production/rollback",
                "h/ml/bert",
                vec!["aliases", "production", "rollback"],
            ),
            ("versions/x", "versions/x", vec![]),
        ];
        for (path, repository, rest) in cases {
            let (r, p) = super::split(path);
            assert_eq!(
                (r.as_str(), p),
                (
                    repository,
                    rest.iter().map(|s| s.to_string()).collect::<Vec<_>>()
                ),
                "{path}"
            );
        }
    }
}
