//! Server-rendered pages: `/` (catalog and search), `/models/{repository}` (model card,
//! versions, aliases), `.../versions/{v}` (files, signatures, approvals, and the approve,
//! reject and promote forms for those allowed), `.../history`, and `/login`. maud escapes
//! every interpolation; model cards (untrusted Markdown) go through ammonia; the
//! Content-Security-Policy allows no script at all. No JavaScript.

mod forms;
mod pages;
pub mod session;
mod signin;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

use super::auth::Subject;
use super::{ApiError, State};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}\
header{display:flex;justify-content:space-between;border-bottom:1px solid #ddd;padding-bottom:.5rem}\
a{color:#0550ae}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}\
.ok{color:#116329}.bad{color:#a40e26}.badge{border:1px solid;border-radius:.6rem;padding:0 .4rem;font-size:.85em}\
form{display:inline}form.block{display:block;margin:.5rem 0}input,select,button{padding:.3rem}\
code{background:#f3f3f3;padding:0 .2rem}.card{border:1px solid #ddd;padding:0 1rem;margin:1rem 0}";

/// The page routes.
pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/", get(pages::catalog))
        .route(
            "/static/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], STYLE) }),
        )
        .route("/login", get(forms::login_page).post(forms::login))
        .route("/login/oidc", get(signin::start))
        .route("/login/oidc/callback", get(signin::callback))
        .route("/logout", post(forms::logout))
        .route("/models/{*path}", get(pages::model_page).post(forms::act))
}

/// Who is looking at a page: the session's subject (or the API token's, or anonymous) and
/// the session cookie, when there is one.
pub(super) struct Viewer {
    subject: Subject,
    session: Option<String>,
}

impl Viewer {
    /// The viewer of a request: a valid session cookie, else `Authorization`, else anonymous.
    fn of(state: &State, headers: &HeaderMap) -> Result<Viewer, ApiError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if let Some(cookie) = session::cookie(headers)
            && let Some(subject) = state.sessions.subject(&cookie, now)
        {
            return Ok(Viewer {
                subject,
                session: Some(cookie),
            });
        }
        Ok(Viewer {
            subject: super::api::subject(state, headers)?,
            session: None,
        })
    }

    /// The CSRF token forms carry.
    fn csrf(&self, state: &State) -> Option<String> {
        self.session.as_deref().map(|s| state.sessions.csrf(s))
    }
}

fn page(title: &str, viewer: Option<&Viewer>, state: &State, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · modelark" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header {
                    a href="/" { "modelark" }
                    @match viewer.map(|v| (&v.subject, v.csrf(state))) {
                        Some((Subject::User { name, .. }, Some(csrf))) => span {
                            "signed in as " strong id="who" { (name) } " "
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        },
                        Some((Subject::User { name, .. }, None)) => span { "token of " strong id="who" { (name) } },
                        _ => a href="/login" id="sign-in" { "Sign in" },
                    }
                }
                (body)
            }
        }
    };
    let mut response = axum::response::Html(markup.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_page(state: &State, error: ApiError) -> Response {
    let status = error.status;
    let mut response = page(
        "error",
        None,
        state,
        html! { h1 { "Error " (status.as_u16()) } p id="error" { (error.message) } },
    );
    *response.status_mut() = status;
    response
}
