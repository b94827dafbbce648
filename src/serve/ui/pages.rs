//! The pages themselves: catalog, model, version (with its forms), history.

use std::sync::Arc;

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::TryStreamExt;
use maud::{Markup, PreEscaped, html};

use super::super::access::Action;
use super::super::api::catalog::hits;
use super::super::api::models::{model_view, trust, version_view};
use super::super::api::{authorize, split, version_ref};
use super::super::{ApiError, State};
use super::{Viewer, error_page, page};
use crate::governance::query::{Condition, Field};

/// Rows the catalog page shows at most (the API pages through all of them).
const SHOWN: usize = 200;

fn text(field: Option<&Field>) -> String {
    match field {
        Some(Field::Text(t)) => t.clone(),
        Some(Field::List(l)) => l.join(", "),
        Some(Field::Number(n)) => n.to_string(),
        None => "-".into(),
    }
}

pub async fn catalog(
    state: axum::extract::State<Arc<State>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let viewer = Viewer::of(&state, &headers)?;
        let who = &viewer.subject;
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
        let found = hits(&state, who, &conditions, q.as_deref());
        Ok::<_, ApiError>(page("catalog", Some(&viewer), &state, html! {
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
            p { (found.len()) " versions"
                @if found.len() > SHOWN { ", the first " (SHOWN) " shown: narrow the search to see others" } }
            table {
                tr { th { "Model" } th { "Version" } th { "Framework" } th { "Task" } th { "License" } }
                @for hit in found.iter().take(SHOWN) {
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
    result.unwrap_or_else(|e| error_page(&state, e))
}

pub async fn model_page(
    state: axum::extract::State<Arc<State>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let (repository, rest) = split(&path);
        let viewer = Viewer::of(&state, &headers)?;
        let (source, repo) = authorize(&state, &viewer.subject, Action::Read, &repository, None)?;
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        match rest.as_slice() {
            [] => repository_page(&state, &viewer, &source.ctx, &repo).await,
            ["history"] => history_page(&state, &viewer, &source.ctx, &repo).await,
            ["versions", selector] => {
                let reference = version_ref(&repo, selector)?;
                version_page(&state, &viewer, &source.ctx, &reference).await
            }
            _ => Err(ApiError::not_found("no such page")),
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&state, e))
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
    viewer: &Viewer,
    ctx: &crate::Context,
    repo: &crate::Reference,
) -> Result<Response, ApiError> {
    let json = model_view(state, ctx, repo).await?;
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
        Some(viewer),
        state,
        html! {
            h1 { (name) }
            p { a href=(format!("/models/{name}/history")) { "History" } }
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
    viewer: &Viewer,
    ctx: &crate::Context,
    reference: &crate::Reference,
) -> Result<Response, ApiError> {
    let json = version_view(state, ctx, reference).await?;
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
    let path = state
        .source_for(&repository)
        .map_or(repository.as_str(), |s| s.path_of(&repository));
    let access = &state.access;
    let may_approve = access.allows(&viewer.subject, Action::Approve, path, None);
    let may_promote = access.allows(&viewer.subject, Action::Promote, path, None);
    let csrf = viewer.csrf(state);
    let action = format!("/models/{repository}/versions/{selector}");
    let decisions = json["decisions"].as_array().cloned().unwrap_or_default();
    Ok(page(
        &title,
        Some(viewer),
        state,
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
            h2 { "Lineage" }
            img id="lineage" alt="lineage" src=(format!("/api/v1/models/{repository}/versions/{selector}/lineage?format=svg"));
            h2 { "Approvals" }
            p { (approvals(&json["approvals"])) }
            ul id="decisions" {
                @for d in &decisions {
                    li { (d["environment"].as_str().unwrap_or("?")) ": " (d["decision"].as_str().unwrap_or("?")) " by " (d["approver"].as_str().unwrap_or("?")) " (signed by " (list(&d["signers"])) ")" }
                }
            }
            @if let (true, Some(csrf)) = (may_approve, &csrf) {
                form class="block" id="approve" method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="action" value="approve";
                    input type="text" name="environment" placeholder="environment" required;
                    " "
                    input type="text" name="reason" placeholder="reason";
                    " "
                    button type="submit" name="decision" value="approve" { "Approve" }
                    " "
                    button type="submit" name="decision" value="reject" { "Reject" }
                }
            }
            @if let (true, Some(csrf)) = (may_promote, &csrf) {
                form class="block" id="promote" method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="action" value="promote";
                    input type="text" name="alias" placeholder="alias (production)" required;
                    " "
                    input type="text" name="reason" placeholder="reason";
                    " "
                    button type="submit" { "Promote" }
                }
            }
        },
    ))
}

async fn history_page(
    state: &State,
    viewer: &Viewer,
    ctx: &crate::Context,
    repo: &crate::Reference,
) -> Result<Response, ApiError> {
    let events = crate::ops::history(ctx, repo, trust(state), None).await?;
    let name = repo.to_string();
    Ok(page(
        &format!("{name} history"),
        Some(viewer),
        state,
        html! {
            h1 { "History of " a href=(format!("/models/{name}")) { (name) } }
            table id="history" {
                tr { th { "Time" } th { "Event" } th { "Version" } th { "Status" } th { "Detail" } }
                @for e in events.iter().rev() {
                    tr {
                        td { (e.time.as_deref().unwrap_or("-")) }
                        td { (e.kind) }
                        td { (e.version) }
                        td { @if e.verified { span class="ok" { "verified" } } @else { span class="bad" { "unverified" } } }
                        td { (e.detail) }
                    }
                }
            }
        },
    ))
}
