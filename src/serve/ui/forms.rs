//! What the pages' forms post: sign in with an API token, sign out, and approve, reject or
//! promote a version. Each form carries the session's CSRF token; the writes go through the
//! same access check and use cases as the API and redirect back to the page.

use std::sync::Arc;

use axum::Form;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::super::access::Action;
use super::super::api::{authorize, split, version_ref};
use super::super::auth::Subject;
use super::super::{ApiError, State};
use super::{Viewer, error_page, page, session};
use crate::ops::{self, Move, Trust};
use crate::sign::predicate::{self, Approval, Decision};

type Shared = axum::extract::State<Arc<State>>;

pub async fn login_page(state: Shared) -> Response {
    let issuer = state.tokens.browser_issuer().map(str::to_owned);
    page(
        "sign in",
        None,
        &state,
        html! {
            h1 { "Sign in" }
            @if let Some(issuer) = issuer {
                p { a href="/login/oidc" id="sso" { "Sign in with " (issuer) } }
                p { "or with an API token:" }
            }
            form class="block" method="post" action="/login" {
                input type="password" name="token" id="token" placeholder="API token" required autocomplete="off";
                " "
                button type="submit" id="submit" { "Sign in" }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// Behind HTTPS (a terminating proxy says so) the cookie is `Secure` too.
pub(super) fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https")
}

pub async fn login(state: Shared, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let authorization = format!("Bearer {}", form.token.trim());
    let subject = state.tokens.subject(Some(&authorization)).ok();
    signed_in(&state, &headers, subject)
}

/// A redirect to the catalog that sets the session cookie for `subject`, or the sign-in
/// error page.
pub(super) fn signed_in(state: &State, headers: &HeaderMap, subject: Option<Subject>) -> Response {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let Some(cookie) = subject.and_then(|s| state.sessions.issue(&s, now)) else {
        let error = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the token is not valid",
        );
        return error_page(state, error);
    };
    let attributes = if state.tls || secure(headers) {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800{attributes}",
        session::COOKIE
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// The viewer, when the form's CSRF token belongs to its session.
fn checked(state: &State, headers: &HeaderMap, csrf: &str) -> Result<Viewer, ApiError> {
    let viewer = Viewer::of(state, headers)?;
    match &viewer.session {
        Some(session) if state.sessions.check_csrf(session, csrf) => Ok(viewer),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "the form is stale or forged; reload the page",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in first",
        )),
    }
}

pub async fn logout(state: Shared, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let Err(e) = checked(&state, &headers, &form.csrf) {
        return error_page(&state, e);
    }
    let mut response = Redirect::to("/").into_response();
    let expired = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        session::COOKIE
    );
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct ActForm {
    csrf: String,
    action: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /models/{repository}/versions/{v}`: approve, reject or promote.
pub async fn act(
    state: Shared,
    Path(path): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActForm>,
) -> Response {
    let result = async {
        let viewer = checked(&state, &headers, &form.csrf)?;
        let (repository, rest) = split(&path);
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        let ["versions", selector] = rest.as_slice() else {
            return Err(ApiError::not_found("no such form"));
        };
        let reason = form.reason.clone().filter(|r| !r.is_empty());
        let key = state.key.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_signing_key",
                "the service has no signing key",
            )
        })?;
        match form.action.as_str() {
            "approve" => {
                let environment = form.environment.clone().unwrap_or_default();
                let (source, repo) = authorize(
                    &state,
                    &viewer.subject,
                    Action::Approve,
                    &repository,
                    Some(&environment),
                )?;
                let reference = version_ref(&repo, selector)?;
                let approval = Approval {
                    environment,
                    decision: match form.decision.as_deref() {
                        Some("reject") => Decision::Rejected,
                        _ => Decision::Approved,
                    },
                    approver: viewer.subject.name().to_owned(),
                    reason,
                    ticket: None,
                    time: predicate::now_rfc3339(),
                    expires: None,
                };
                ops::approve(&source.ctx, &reference, key, &approval).await?;
                state.invalidate(&repo.to_string());
            }
            "promote" => {
                let alias = form.alias.clone().unwrap_or_default();
                let (source, repo) = authorize(
                    &state,
                    &viewer.subject,
                    Action::Promote,
                    &repository,
                    Some(&alias),
                )?;
                let reference = version_ref(&repo, selector)?;
                let alias = alias
                    .parse()
                    .map_err(|e: String| ApiError::bad_request(e))?;
                let how = Move {
                    key,
                    key_name: "service key",
                    policy: state.trust.as_ref().map(Trust::rules),
                    by: viewer.subject.name(),
                    reason: reason.as_deref(),
                };
                ops::promote(&source.ctx, &reference, &alias, &how).await?;
                state.alias_moved(source, &repo).await;
            }
            other => return Err(ApiError::bad_request(format!("unknown action {other:?}"))),
        }
        Ok(Redirect::to(&format!("/models/{path}")).into_response())
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, e))
}
