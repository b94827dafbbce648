//! Writes, each allowed by the access rules and done by the library's use cases with the
//! service's key, the authenticated subject recorded in the signed record:
//! `POST .../versions/{v}/approvals`, `POST .../versions/{v}/signatures`,
//! `PUT .../aliases/{alias}` (promote), `POST .../aliases/{alias}/rollback`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::super::access::Action;
use super::super::{ApiError, State};
use super::{Shared, authorize, request, version_ref};
use crate::ops::{self, Move, Trust};
use crate::reference::Tag;
use crate::sign::predicate::{self, Approval, Decision};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalRequest {
    environment: String,
    decision: DecisionRequest,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    expires: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum DecisionRequest {
    Approve,
    Reject,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AliasRequest {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn body<T: serde::de::DeserializeOwned + Default>(
    bytes: &Bytes,
    required: bool,
) -> Result<T, ApiError> {
    if bytes.is_empty() && !required {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

fn required<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

fn service_key(state: &State) -> Result<&crate::sign::PrivateKey, ApiError> {
    state.key.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_signing_key",
            "the service has no signing key (signingKey in its config), so it cannot record decisions",
        )
    })
}

/// `POST` under a repository.
pub async fn post(
    state: Shared,
    Path(path): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let (repository, rest, who) = request(&state, &path, &headers)?;
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match rest.as_slice() {
        ["versions", selector, "approvals"] => {
            let request: ApprovalRequest = required(&bytes)?;
            let env = request.environment.as_str();
            let (source, repo) = authorize(&state, &who, Action::Approve, &repository, Some(env))?;
            let reference = version_ref(&repo, selector)?;
            let now = time::OffsetDateTime::now_utc();
            let expires = request
                .expires
                .as_deref()
                .map(|t| predicate::expiry(t, now))
                .transpose()
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let approval = Approval {
                environment: request.environment.clone(),
                decision: match request.decision {
                    DecisionRequest::Approve => Decision::Approved,
                    DecisionRequest::Reject => Decision::Rejected,
                },
                approver: who.name().to_owned(),
                reason: request.reason,
                ticket: request.ticket,
                time: predicate::now_rfc3339(),
                expires,
            };
            let signed =
                ops::approve(&source.ctx, &reference, service_key(&state)?, &approval).await?;
            state.invalidate(&repo.to_string());
            Ok((StatusCode::CREATED, Json(signed)).into_response())
        }
        ["versions", selector, "signatures"] => {
            let (source, repo) = authorize(&state, &who, Action::Sign, &repository, None)?;
            let reference = version_ref(&repo, selector)?;
            let claims = [("signedBy".to_owned(), who.name().to_owned())].into();
            let format = crate::sign::Format::Cosign;
            let signed = ops::sign(
                &source.ctx,
                &reference,
                service_key(&state)?,
                claims,
                format,
            )
            .await?;
            state.invalidate(&repo.to_string());
            Ok((StatusCode::CREATED, Json(signed)).into_response())
        }
        ["aliases", alias, "rollback"] => {
            let request: AliasRequest = body(&bytes, false)?;
            let (source, repo) =
                authorize(&state, &who, Action::Promote, &repository, Some(alias))?;
            let alias = parse_tag(alias)?;
            let how = mover(&state, &who, request.reason.as_deref())?;
            let moved = ops::rollback(&source.ctx, &repo, &alias, &how).await?;
            state.alias_moved(source, &repo).await;
            Ok(Json(moved).into_response())
        }
        _ => Err(ApiError::not_found(format!(
            "no such resource under {repository}"
        ))),
    }
}

/// `PUT .../aliases/{alias}` `{version, reason}`: promote.
pub async fn put(
    state: Shared,
    Path(path): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let (repository, rest, who) = request(&state, &path, &headers)?;
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let ["aliases", alias] = rest.as_slice() else {
        return Err(ApiError::not_found(format!(
            "no such resource under {repository}"
        )));
    };
    let request: AliasRequest = required(&bytes)?;
    let version = request.version.as_deref().ok_or_else(|| {
        ApiError::bad_request("the body names no version: {\"version\": \"1.4.0\"}")
    })?;
    let (source, repo) = authorize(&state, &who, Action::Promote, &repository, Some(alias))?;
    let reference = version_ref(&repo, version)?;
    let alias = parse_tag(alias)?;
    let how = mover(&state, &who, request.reason.as_deref())?;
    let moved = ops::promote(&source.ctx, &reference, &alias, &how).await?;
    state.alias_moved(source, &repo).await;
    Ok(Json(moved).into_response())
}

fn parse_tag(alias: &str) -> Result<Tag, ApiError> {
    alias
        .parse()
        .map_err(|e: String| ApiError::bad_request(format!("{alias:?}: {e}")))
}

/// The service key signs, the subject is recorded, the policy's alias requirements apply.
pub(in crate::serve) fn mover<'a>(
    state: &'a State,
    who: &'a super::super::auth::Subject,
    reason: Option<&'a str>,
) -> Result<Move<'a>, ApiError> {
    Ok(Move {
        key: service_key(state)?,
        key_name: "service key",
        policy: state.trust.as_ref().map(Trust::rules),
        by: who.name(),
        reason,
    })
}
