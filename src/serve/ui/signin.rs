//! Sign-in through the OIDC issuer's login page: the authorization code flow with PKCE.
//! `/login/oidc` sends the browser to the issuer with a fresh `state`, `nonce` and code
//! challenge, kept in a short-lived signed cookie (`SameSite=Lax`: it must come back on
//! the issuer's redirect); `/login/oidc/callback` checks the `state`, exchanges the code
//! (with the verifier) for an ID token, validates it (signature, issuer, audience = the
//! client id, expiry, nonce) and starts the same session an API token sign-in starts.

use std::sync::Arc;

use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde_json::json;
use sha2::Digest as _;

use super::super::{ApiError, State};
use super::{error_page, forms, session};

type Shared = axum::extract::State<Arc<State>>;

/// The cookie holding a sign-in in progress.
const COOKIE: &str = "modelark_oidc";
/// What the cookie's MAC is bound to.
const PURPOSE: &str = "oidc-sign-in";
/// How long a sign-in may take at the issuer.
const LIFETIME: i64 = 600;

fn random() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn redirect_uri(state: &State, headers: &HeaderMap) -> String {
    format!("{}/login/oidc/callback", state.public_base(headers))
}

fn refused(state: &State, status: StatusCode, message: impl Into<String>) -> Response {
    error_page(state, ApiError::new(status, "sign_in", message))
}

/// `GET /login/oidc`: to the issuer's login page.
pub async fn start(state: Shared, headers: HeaderMap) -> Response {
    let Some(oidc) = state.tokens.oidc().filter(|o| o.browser()) else {
        return refused(
            &state,
            StatusCode::NOT_FOUND,
            "sign-in through an identity provider is not configured (auth.oidc.clientId)",
        );
    };
    let (Ok(flow), Ok(nonce), Ok(verifier)) = (random(), random(), random()) else {
        return refused(&state, StatusCode::INTERNAL_SERVER_ERROR, "no randomness");
    };
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = redirect_uri(&state, &headers);
    let url = match oidc
        .authorization_url(&redirect, &flow, &nonce, &challenge)
        .await
    {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!("OIDC discovery failed: {e}");
            return refused(
                &state,
                StatusCode::BAD_GATEWAY,
                format!("the identity provider cannot be reached: {e}"),
            );
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sealed = state.sessions.seal(
        PURPOSE,
        &json!({"state": flow, "nonce": nonce, "verifier": verifier, "exp": now + LIFETIME}),
    );
    let secure = if state.tls || forms::secure(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={sealed}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={LIFETIME}{secure}"
    );
    let mut response = Redirect::to(&url).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /login/oidc/callback?code=&state=`: back from the issuer.
pub async fn callback(state: Shared, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let Some(oidc) = state.tokens.oidc().filter(|o| o.browser()) else {
        return refused(
            &state,
            StatusCode::NOT_FOUND,
            "sign-in through an identity provider is not configured",
        );
    };
    let mut code = None;
    let mut flow = None;
    let mut error = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*k {
            "code" => code = Some(v.into_owned()),
            "state" => flow = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        return refused(
            &state,
            StatusCode::UNAUTHORIZED,
            format!("the identity provider refused the sign-in: {error}"),
        );
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let pending = session::named_cookie(&headers, COOKIE)
        .and_then(|c| state.sessions.open(PURPOSE, &c))
        .filter(|p| p["exp"].as_i64().is_some_and(|exp| now <= exp));
    let (Some(pending), Some(code), Some(flow)) = (pending, code, flow) else {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "no sign-in in progress here (it expired, or was started elsewhere): sign in again",
        );
    };
    let expected = pending["state"].as_str().unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        flow.as_bytes(),
    )) {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "the sign-in's state does not match: sign in again",
        );
    }
    let (nonce, verifier) = (
        pending["nonce"].as_str().unwrap_or_default(),
        pending["verifier"].as_str().unwrap_or_default(),
    );
    let redirect = redirect_uri(&state, &headers);
    match oidc.sign_in(&code, &redirect, verifier, nonce, now).await {
        Ok(subject) => {
            let mut response = forms::signed_in(&state, &headers, Some(subject));
            let done = format!("{COOKIE}=; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=0");
            if let Ok(value) = HeaderValue::from_str(&done) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => refused(
            &state,
            StatusCode::UNAUTHORIZED,
            format!("sign-in failed: {e}"),
        ),
    }
}
