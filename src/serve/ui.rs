//! Server-rendered pages: `/` (catalog and search), `/models/{repository}` (model card,
//! versions, aliases) and `/models/{repository}/versions/{v}` (files, signatures,
//! approvals). maud escapes every interpolation; model cards (untrusted Markdown) go
//! through ammonia; a Content-Security-Policy forbids scripts outright. No JavaScript.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::TryStreamExt;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::access::Action;
use super::api::catalog::hits;
use super::api::models::{model, version};
use super::api::{authorize, request, subject, version_ref};
use super::{ApiError, State};
use crate::governance::query::{Condition, Field};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}\
a{color:#0550ae}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}\
.ok{color:#116329}.bad{color:#a40e26}.badge{border:1px solid;border-radius:.6rem;padding:0 .4rem;font-size:.85em}\
form input{padding:.3rem}code{background:#f3f3f3;padding:0 .2rem}.card{border:1px solid #ddd;padding:0 1rem;margin:1rem 0}";

/// The page routes.
pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/", get(catalog))
        .route(
            "/static/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], STYLE) }),
        )
        .route("/models/{*path}", get(model_page))
}

fn page(title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · modelark" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header { a href="/" { "modelark" } }
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
}

fn error_page(error: ApiError) -> Response {
    let status = error.status;
    let mut response = page(
        "error",
        html! { h1 { "Error " (status.as_u16()) } p { (error.message) } },
    );
    *response.status_mut() = status;
    response
}

fn text(field: Option<&Field>) -> String {
    match field {
        Some(Field::Text(t)) => t.clone(),
        Some(Field::List(l)) => l.join(", "),
        Some(Field::Number(n)) => n.to_string(),
        None => "-".into(),
    }
}

async fn catalog(
    state: axum::extract::State<Arc<State>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let who = subject(&state, &headers)?;
        let params: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let q = params.iter().find(|(k, _)| k == "q").map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        let mut conditions = Vec::new();
        for (key, value) in &params {
            match key.as_str() {
                "where" if !value.is_empty() => conditions.push(value.parse::<Condition>().map_err(|e| ApiError::bad_request(e.to_string()))?),
                "framework" | "task" | "license" if !value.is_empty() => conditions.push(
                    format!("{key}={value}").parse::<Condition>().map_err(|e| ApiError::bad_request(e.to_string()))?,
                ),
                _ => {}
            }
        }
        let found = hits(&state, &who, conditions, q.clone()).await?;
        Ok::<_, ApiError>(page("catalog", html! {
            h1 { "Models" }
            form method="get" action="/" {
                input type="search" name="q" placeholder="name, title or tag" value=[q.as_deref()];
                " "
                input type="text" name="where" placeholder="metrics.accuracy>=0.9";
                " "
                input type="text" name="framework" placeholder="framework";
                " "
                input type="text" name="task" placeholder="task";
                " "
                button type="submit" { "Search" }
            }
            p { (found.len()) " versions" }
            table {
                tr { th { "Model" } th { "Version" } th { "Framework" } th { "Task" } th { "License" } }
                @for hit in &found {
                    tr {
                        td { a href=(format!("/models/{}", hit.repository)) { (hit.repository) } }
                        td { a href=(format!("/models/{}/versions/{}", hit.repository, hit.tag)) { (hit.tag) } }
                        td { (text(hit.fields.0.get("framework"))) }
                        td { (text(hit.fields.0.get("task"))) }
                        td { (text(hit.fields.0.get("license"))) }
                    }
                }
            }
        }))
    }
    .await;
    result.unwrap_or_else(error_page)
}

async fn model_page(
    state: axum::extract::State<Arc<State>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let (repository, rest, who) = request(&state, &path, &headers)?;
        let (source, repo) = authorize(&state, &who, Action::Read, &repository, None)?;
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        match rest.as_slice() {
            [] => repository_page(&state, &source.ctx, &repo).await,
            ["versions", selector] => {
                let reference = version_ref(&repo, selector)?;
                version_page(&state, &source.ctx, &reference).await
            }
            _ => Err(ApiError::not_found("no such page")),
        }
    }
    .await;
    result.unwrap_or_else(error_page)
}

/// The model card (`README.md` of the newest version), sanitized: no script, no handler
/// attribute, no `javascript:` link survives.
async fn model_card(ctx: &crate::Context, reference: &crate::Reference) -> Option<String> {
    let file = crate::ops::open_file(ctx, reference, "README.md")
        .await
        .ok()?;
    if file.layer.size > 1 << 20 {
        return None;
    }
    let parts: Vec<bytes::Bytes> = file.body.try_collect().await.ok()?;
    let markdown = String::from_utf8_lossy(&parts.concat()).into_owned();
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(&markdown));
    Some(ammonia::clean(&html))
}

async fn repository_page(
    state: &State,
    ctx: &crate::Context,
    repo: &crate::Reference,
) -> Result<Response, ApiError> {
    let view = model(state, ctx, repo).await?;
    let json = serde_json::to_value(&view).unwrap_or_default();
    let versions = json["versions"].as_array().cloned().unwrap_or_default();
    let newest = versions
        .last()
        .and_then(|v| v["tag"].as_str())
        .map(str::to_owned);
    let card = match &newest {
        Some(tag) => model_card(ctx, &version_ref(repo, tag)?).await,
        None => None,
    };
    let name = repo.to_string();
    Ok(page(
        &name,
        html! {
            h1 { (name) }
            @if let Some(card) = card { div class="card" { (PreEscaped(card)) } }
            h2 { "Versions" }
            table {
                tr { th { "Version" } th { "Digest" } th { "Framework" } th { "Signed by" } th { "Approvals" } th { "Aliases" } th { "Policy" } }
                @for v in versions.iter().rev() {
                    @let tag = v["tag"].as_str().unwrap_or_default();
                    tr {
                        td { a href=(format!("/models/{name}/versions/{tag}")) { (tag) } }
                        td { code { (v["digest"].as_str().unwrap_or_default().get(..19).unwrap_or_default()) } }
                        td { (v["metadata"]["framework"].as_str().unwrap_or("-")) }
                        td { (list(&v["signers"])) }
                        td { (approvals(&v["approvals"])) }
                        td { (list(&v["aliases"])) }
                        td { (verdict(&v["verified"])) }
                    }
                }
            }
        },
    ))
}

fn list(value: &serde_json::Value) -> String {
    let items: Vec<&str> = value
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

fn approvals(value: &serde_json::Value) -> String {
    let Some(map) = value.as_object() else {
        return "-".into();
    };
    let parts: Vec<String> = map
        .iter()
        .map(|(env, keys)| format!("{env}: {}", list(keys)))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

fn verdict(value: &serde_json::Value) -> Markup {
    match value.as_bool() {
        Some(true) => html! { span class="badge ok" { "verified" } },
        Some(false) => html! { span class="badge bad" { "not verified" } },
        None => html! { "-" },
    }
}

async fn version_page(
    state: &State,
    ctx: &crate::Context,
    reference: &crate::Reference,
) -> Result<Response, ApiError> {
    let view = version(state, ctx, reference).await?;
    let json = serde_json::to_value(&view).unwrap_or_default();
    let repository = reference.without_selector().to_string();
    let selector = reference
        .digest()
        .map(ToString::to_string)
        .or_else(|| reference.tag().map(ToString::to_string))
        .unwrap_or_default();
    let files = json["files"].as_array().cloned().unwrap_or_default();
    let signatures = json["evidence"]["signatures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let attestations = json["evidence"]["attestations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let title = reference.to_string();
    Ok(page(
        &title,
        html! {
            h1 { (title) }
            p { "Digest " code { (json["digest"].as_str().unwrap_or_default()) } " " (verdict(&json["verified"])) }
            @if let Some(unmet) = json["policy"]["findings"].as_array() {
                ul {
                    @for f in unmet {
                        li class=(if f["met"].as_bool() == Some(true) { "ok" } else { "bad" }) {
                            (f["requirement"].as_str().unwrap_or_default()) ": " (f["detail"].as_str().unwrap_or_default())
                        }
                    }
                }
            }
            h2 { "Files" }
            table {
                tr { th { "Path" } th { "Kind" } th { "Size" } th { "Digest" } }
                @for f in &files {
                    @let path = f["path"].as_str().unwrap_or_default();
                    tr {
                        td { a href=(format!("/api/v1/models/{repository}/versions/{selector}/files/{path}")) { (path) } }
                        td { (f["kind"].as_str().unwrap_or("-")) }
                        td { (f["size"].as_u64().unwrap_or_default()) }
                        td { code { (f["digest"].as_str().unwrap_or_default().get(..19).unwrap_or_default()) } }
                    }
                }
            }
            h2 { "Signatures" }
            ul {
                @for s in &signatures {
                    li { @if s["problem"].is_null() { span class="ok" { "signed by " (list(&s["signers"])) } } @else { span class="bad" { (s["problem"].as_str().unwrap_or_default()) } } }
                }
                @if signatures.is_empty() { li { "none" } }
            }
            h2 { "Attestations" }
            ul {
                @for a in &attestations {
                    li { (a["predicateType"].as_str().unwrap_or("?")) " " @if a["problem"].is_null() { span class="ok" { "by " (list(&a["signers"])) } } @else { span class="bad" { (a["problem"].as_str().unwrap_or_default()) } } }
                }
                @if attestations.is_empty() { li { "none" } }
            }
            h2 { "Approvals" }
            p { (approvals(&json["approvals"])) }
        },
    ))
}
