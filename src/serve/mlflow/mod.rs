//! MLflow's Model Registry REST API (`/api/2.0/mlflow/...` and the `/ajax-api/2.0/...`
//! twin) and artifact API (`/api/2.0/mlflow-artifacts/artifacts`), so unchanged MLflow
//! code reads, promotes and downloads the models the service serves. Reads come from the
//! in-memory catalog ([`registry::Registry`]); a promotion is the library's
//! [`ops::promote`] with the service key, as `PUT /api/v1/.../aliases/{alias}`; what
//! modelark cannot honour (deleting or overwriting versions, stages, mutable tags) answers
//! with MLflow's error JSON saying why. docs/mlflow.md has the mapping.

pub mod filter;
pub mod registry;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use super::access::Action;
use super::api::{self, authorize, subject};
use super::{ApiError, State};
use crate::ops;
use registry::{Model, ModelSubject, Registry, VersionSubject};

type Shared = axum::extract::State<Arc<State>>;

/// The MLflow routes.
pub fn routes() -> Router<Arc<State>> {
    let mut router = Router::new();
    for base in ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"] {
        let at = |path: &str| format!("{base}/{path}");
        router = router
            .route(&at("registered-models/search"), get(search_models))
            .route(&at("registered-models/get"), get(get_model))
            .route(
                &at("registered-models/get-latest-versions"),
                get(latest_versions).post(latest_versions),
            )
            .route(
                &at("registered-models/alias"),
                get(get_alias).post(set_alias).delete(delete_alias),
            )
            .route(&at("model-versions/search"), get(search_versions))
            .route(&at("model-versions/get"), get(get_version))
            .route(&at("model-versions/get-download-uri"), get(download_uri))
            .route(&at("{*rest}"), any(refused));
    }
    for base in [
        "/api/2.0/mlflow-artifacts/artifacts",
        "/ajax-api/2.0/mlflow-artifacts/artifacts",
    ] {
        router = router
            .route(base, get(list_artifacts))
            .route(&format!("{base}/{{*path}}"), get(download_artifact));
    }
    router
}

/// An error as MLflow answers it: `{"error_code", "message"}`. Statuses are MLflow's,
/// except that refusals MLflow would send as 500 (`INVALID_STATE`) are 400 here: MLflow
/// clients retry 5xx answers for minutes, and a refusal does not change on retry.
#[derive(Debug)]
pub struct MlflowError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl MlflowError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> MlflowError {
        MlflowError {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> MlflowError {
        MlflowError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    fn refused(message: impl Into<String>) -> MlflowError {
        MlflowError::new(StatusCode::BAD_REQUEST, "INVALID_STATE", message)
    }

    fn missing(message: impl Into<String>) -> MlflowError {
        MlflowError::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }
}

impl From<ApiError> for MlflowError {
    fn from(e: ApiError) -> MlflowError {
        let (status, code) = match e.code {
            "unauthorized" => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            "forbidden" => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            "not_found" => (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
            "bad_request" => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
            "policy_unmet" | "version_immutable" => (StatusCode::BAD_REQUEST, "INVALID_STATE"),
            "alias" => (StatusCode::CONFLICT, "ABORTED"),
            "no_signing_key" => (StatusCode::BAD_REQUEST, "INVALID_STATE"),
            // A registry that answers wrong bytes: retrying does not help.
            "registry_content" => (StatusCode::UNPROCESSABLE_ENTITY, "DATA_LOSS"),
            "registry" => (StatusCode::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        };
        let mut message = e.message;
        if !e.details.is_empty() {
            message = format!("{message}: {}", e.details.join("; "));
        }
        MlflowError::new(status, code, message)
    }
}

impl From<crate::Error> for MlflowError {
    fn from(e: crate::Error) -> MlflowError {
        ApiError::from(e).into()
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.code, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

type Answer = Result<Response, MlflowError>;

fn ok(value: Value) -> Answer {
    Ok(axum::Json(value).into_response())
}

/// A request's parameters: the query string for `GET`, the JSON body otherwise (as MLflow
/// clients send them); repeated keys and JSON lists keep every value.
struct Params(BTreeMap<String, Vec<String>>);

impl Params {
    fn read(method: &Method, query: Option<&str>, body: &Bytes) -> Result<Params, MlflowError> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        if *method != Method::GET && !body.is_empty() {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| MlflowError::invalid(format!("the body is not JSON: {e}")))?;
            let Value::Object(object) = value else {
                return Err(MlflowError::invalid("the body is not a JSON object"));
            };
            for (k, v) in object {
                let values = match v {
                    Value::Array(items) => items.iter().map(scalar).collect(),
                    Value::Null => continue,
                    other => vec![scalar(&other)],
                };
                map.entry(k).or_default().extend(values);
            }
        }
        Ok(Params(map))
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    fn required(&self, key: &str) -> Result<&str, MlflowError> {
        self.one(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            MlflowError::invalid(format!("Missing value for required parameter '{key}'"))
        })
    }

    fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What every MLflow call starts with: its parameters (the query string for `GET`, the JSON
/// body otherwise), who sent it (401 for credentials that do not authenticate), and the
/// headers.
struct Call {
    params: Params,
    who: super::auth::Subject,
    headers: HeaderMap,
}

impl axum::extract::FromRequest<Arc<State>> for Call {
    type Rejection = MlflowError;

    async fn from_request(
        request: axum::extract::Request,
        state: &Arc<State>,
    ) -> Result<Call, MlflowError> {
        let (parts, body) = request.into_parts();
        let who = subject(state, &parts.headers)?;
        // The service's body limit (64 KiB) applies before this.
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| MlflowError::invalid(format!("the request body cannot be read: {e}")))?;
        let params = Params::read(&parts.method, parts.uri.query(), &body)?;
        Ok(Call {
            params,
            who,
            headers: parts.headers,
        })
    }
}

/// The registered model `name`, readable by `who`. A name the catalog does not know (yet)
/// makes the service look at that repository in the registry once (at most every few
/// seconds per name), so a model pushed a moment ago is found.
async fn model(
    state: &State,
    who: &super::auth::Subject,
    name: &str,
    wanted: impl Fn(&Model) -> bool,
) -> Result<Located, MlflowError> {
    let mut registry = state.mlflow();
    if !registry.models.get(name).is_some_and(&wanted) && state.look_for(name).await {
        registry = state.mlflow();
    }
    let Some(found) = registry.models.get(name) else {
        return Err(MlflowError::missing(format!(
            "Registered Model with name={name} not found"
        )));
    };
    let (source, repo) = authorize(state, who, Action::Read, &found.repository, None)?;
    Ok(Located {
        source: source.clone(),
        repo,
        name: name.to_owned(),
        registry: Arc::clone(&registry),
    })
}

/// A registered model found and readable: the catalog it was found in, its source and
/// its repository.
struct Located {
    registry: Arc<Registry>,
    name: String,
    source: super::Source,
    repo: crate::reference::Reference,
}

impl Located {
    fn model(&self) -> &Model {
        &self.registry.models[&self.name]
    }

    /// Version `number` of the model.
    fn version(&self, number: u64) -> Result<&registry::Version, MlflowError> {
        self.model()
            .versions
            .get(&number)
            .ok_or_else(|| no_version(&self.name, number))
    }
}

/// The model and version number `params` name (`name`, `version`), readable by `who`.
async fn numbered(
    state: &State,
    who: &super::auth::Subject,
    params: &Params,
) -> Result<(Located, u64), MlflowError> {
    let name = params.required("name")?;
    let number = version_number(params.required("version")?)?;
    let found = model(state, who, name, |m| m.versions.contains_key(&number)).await?;
    Ok((found, number))
}

/// `N` of `models:/NAME/N`: digits only.
fn version_number(text: &str) -> Result<u64, MlflowError> {
    text.parse().map_err(|_| {
        MlflowError::invalid(format!(
            "Parameter 'version' must be an integer, got {text:?} (modelark numbers its versions; \
             the tag is in the version's modelark.tag)"
        ))
    })
}

fn no_version(name: &str, number: u64) -> MlflowError {
    MlflowError::missing(format!(
        "Model Version (name={name}, version={number}) not found"
    ))
}

/// `max_results`: at least 1, at most `limit`.
fn max_results(params: &Params, default: usize, limit: usize) -> Result<usize, MlflowError> {
    let Some(text) = params.one("max_results") else {
        return Ok(default);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=limit).contains(n))
        .ok_or_else(|| {
            MlflowError::invalid(format!(
                "Invalid value {text} for parameter 'max_results' supplied: it must be between 1 and {limit}"
            ))
        })
}

/// `order_by` clauses: `(field, descending)`, each field among `allowed`.
fn order_by(params: &Params, allowed: &[&str]) -> Result<Vec<(String, bool)>, MlflowError> {
    params
        .all("order_by")
        .iter()
        .map(|clause| {
            let mut words = clause.split_whitespace();
            let field = words.next().unwrap_or_default();
            let field = field.strip_prefix("attributes.").unwrap_or(field);
            let field = if field == "timestamp" {
                "last_updated_timestamp"
            } else {
                field
            };
            let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
                None | Some("ASC") => false,
                Some("DESC") => true,
                Some(other) => {
                    return Err(MlflowError::invalid(format!(
                        "Invalid order_by clause {clause:?}: {other} is neither ASC nor DESC"
                    )));
                }
            };
            if !allowed.contains(&field) || words.next().is_some() {
                return Err(MlflowError::invalid(format!(
                    "Invalid order_by clause {clause:?}: order by {}",
                    allowed.join(", ")
                )));
            }
            Ok((field.to_owned(), descending))
        })
        .collect()
}

/// `{KEY: [one page of items, rendered], next_page_token}` from `params`' token.
fn paged<T>(
    key: &str,
    items: Vec<T>,
    params: &Params,
    limit: usize,
    render: impl Fn(&T) -> Value,
) -> Answer {
    let (items, next) = page(items, params, limit)?;
    let mut answer = json!({ key: items.iter().map(render).collect::<Vec<_>>() });
    if let Some(next) = next {
        answer["next_page_token"] = json!(next);
    }
    ok(answer)
}

/// One page of `items` from `params`' token, and the token of the next.
fn page<T>(
    items: Vec<T>,
    params: &Params,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), MlflowError> {
    let from = match params.one("page_token").filter(|t| !t.is_empty()) {
        Some(token) => api::catalog::decode_token(token)?,
        None => 0,
    };
    let next = (from + limit < items.len()).then(|| api::catalog::encode_token(from + limit));
    Ok((items.into_iter().skip(from).take(limit).collect(), next))
}

fn readable(state: &State, who: &super::auth::Subject, model: &Model) -> bool {
    let path = state.sources[model.source].path_of(&model.repository);
    state.access.allows(who, Action::Read, path, None)
}

/// `GET registered-models/search`.
async fn search_models(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let filter = filter::parse(params.one("filter").unwrap_or_default(), &["name"])
        .map_err(|e| MlflowError::invalid(format!("Invalid filter: {e}")))?;
    let limit = max_results(&params, 100, 1000)?;
    let order = order_by(&params, &["name", "last_updated_timestamp"])?;
    let registry = state.mlflow();
    let mut models: Vec<&Model> = match filter.pinned("name") {
        Some(name) => registry.models.get(name).into_iter().collect(),
        None => registry.models.values().collect(),
    };
    models.retain(|m| filter.matches(&ModelSubject(m)) && readable(&state, &who, m));
    models.sort_by(|a, b| {
        for (field, descending) in &order {
            let o = match field.as_str() {
                "name" => a.name.cmp(&b.name),
                _ => a.updated.cmp(&b.updated),
            };
            let o = if *descending { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        a.name.cmp(&b.name)
    });
    paged("registered_models", models, &params, limit, |m| m.json())
}

/// `GET registered-models/get`.
async fn get_model(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let name = params.required("name")?;
    let found = model(&state, &who, name, |_| true).await?;
    ok(json!({"registered_model": found.model().json()}))
}

/// `GET|POST registered-models/get-latest-versions`: every version is in stage `None`.
async fn latest_versions(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let name = params.required("name")?;
    let found = model(&state, &who, name, |_| true).await?;
    let found = found.model();
    let stages = params.all("stages");
    let none = stages.is_empty() || stages.iter().any(|s| s.eq_ignore_ascii_case("none"));
    let versions: Vec<Value> = found
        .latest()
        .filter(|_| none)
        .map(|v| v.json(name))
        .into_iter()
        .collect();
    ok(json!({"model_versions": versions}))
}

/// `GET model-versions/search`.
async fn search_versions(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let attributes = ["name", "version_number", "run_id", "source_path"];
    let filter = filter::parse(params.one("filter").unwrap_or_default(), &attributes)
        .map_err(|e| MlflowError::invalid(format!("Invalid filter: {e}")))?;
    let limit = max_results(&params, 10_000, 200_000)?;
    let order = order_by(
        &params,
        &[
            "name",
            "version_number",
            "creation_timestamp",
            "last_updated_timestamp",
        ],
    )?;
    let registry = state.mlflow();
    let models: Vec<&Model> = match filter.pinned("name") {
        Some(name) => registry.models.get(name).into_iter().collect(),
        None => registry.models.values().collect(),
    };
    let mut versions: Vec<(&Model, &registry::Version)> = models
        .into_iter()
        .filter(|m| readable(&state, &who, m))
        .flat_map(|m| m.versions.values().map(move |v| (m, v)))
        .filter(|(m, v)| filter.matches(&VersionSubject(m, v)))
        .collect();
    versions.sort_by(|(ma, a), (mb, b)| {
        for (field, descending) in &order {
            let o = match field.as_str() {
                "name" => ma.name.cmp(&mb.name),
                "version_number" => a.number.cmp(&b.number),
                _ => a.created.cmp(&b.created),
            };
            let o = if *descending { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        ma.name.cmp(&mb.name).then(b.number.cmp(&a.number))
    });
    paged("model_versions", versions, &params, limit, |(m, v)| {
        v.json(&m.name)
    })
}

/// `GET model-versions/get`.
async fn get_version(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let (found, number) = numbered(&state, &who, &params).await?;
    ok(json!({"model_version": found.version(number)?.json(&found.name)}))
}

/// `GET registered-models/alias`.
async fn get_alias(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let name = params.required("name")?;
    let alias = params.required("alias")?;
    let found = model(&state, &who, name, |m| m.aliases.contains_key(alias)).await?;
    let found = found.model();
    let version = found
        .aliases
        .get(alias)
        .and_then(|n| found.versions.get(n))
        .ok_or_else(|| {
            MlflowError::missing(format!(
                "Registered model alias {alias} not found on model {name}"
            ))
        })?;
    ok(json!({"model_version": version.json(name)}))
}

/// `GET model-versions/get-download-uri`: an `http(s)` URI of this service's artifact
/// API, pinned to the version's manifest digest.
async fn download_uri(state: Shared, call: Call) -> Answer {
    let Call {
        params,
        who,
        headers,
    } = call;
    let (found, number) = numbered(&state, &who, &params).await?;
    let digest = found.version(number)?.digest();
    let base = state.public_base(&headers);
    ok(json!({
        "artifact_uri": format!("{base}/api/2.0/mlflow-artifacts/artifacts/models/{}/{digest}", found.name)
    }))
}

/// `POST registered-models/alias`: a promotion under the policy, signed by the service
/// key with the caller recorded, as `modelark promote`.
async fn set_alias(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let alias = params.required("alias")?;
    let (found, number) = numbered(&state, &who, &params).await?;
    let version = found.version(number)?;
    let repository = &found.model().repository;
    if registry::number(alias).is_some() {
        return Err(MlflowError::invalid(format!(
            "{alias:?} is a version, not an alias: version tags never move"
        )));
    }
    let (source, repo) = authorize(&state, &who, Action::Promote, repository, Some(alias))?;
    let reference = api::version_ref(&repo, version.tag())?;
    let alias_tag = alias
        .parse()
        .map_err(|e: String| MlflowError::invalid(format!("alias {alias:?}: {e}")))?;
    let how = api::writes::mover(&state, &who, Some("set through the MLflow API"))?;
    ops::promote(&source.ctx, &reference, &alias_tag, &how).await?;
    state.alias_moved(source, &repo).await;
    ok(json!({}))
}

/// `DELETE registered-models/alias`: refused (an alias in an OCI registry is a tag on
/// the version's manifest; it moves with a signed record and is never dropped).
async fn delete_alias(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let name = params.required("name")?;
    let alias = params.required("alias")?;
    model(&state, &who, name, |m| m.aliases.contains_key(alias)).await?;
    Err(MlflowError::refused(format!(
        "alias {alias} of {name} cannot be deleted: modelark aliases move only with a signed \
         record (set the alias to another version, or roll it back with modelark rollback)"
    )))
}

/// Every other MLflow endpoint: a refusal saying why for the registry writes modelark
/// does not honour, `ENDPOINT_NOT_FOUND` for the rest (tracking: runs, experiments).
async fn refused(state: Shared, Path(rest): Path<String>, headers: HeaderMap) -> Answer {
    subject(&state, &headers)?;
    let why = match rest.as_str() {
        "registered-models/create" | "model-versions/create" => {
            "models and versions are created by pushing them (modelark push DIR REGISTRY/REPO:VERSION), \
             which packs, signs and records their metadata"
        }
        "registered-models/rename" => {
            "a registered model is a repository and cannot be renamed; copy it with modelark copy"
        }
        "registered-models/update" | "model-versions/update" => {
            "descriptions are part of a version's signed metadata: versions are immutable, push a new one"
        }
        "registered-models/delete" | "model-versions/delete" => {
            "versions are immutable and are not deleted through the service"
        }
        "model-versions/transition-stage" => {
            "stages are aliases here: set_registered_model_alias promotes under the trust policy"
        }
        "registered-models/set-tag"
        | "registered-models/delete-tag"
        | "model-versions/set-tag"
        | "model-versions/delete-tag" => {
            "tags are the version's signed metadata and annotations, read-only"
        }
        _ => {
            return Err(MlflowError::new(
                StatusCode::NOT_FOUND,
                "ENDPOINT_NOT_FOUND",
                format!(
                    "modelark serves MLflow's model registry and artifact download API; {rest} is not \
                     one of its endpoints (keep runs and experiments on an MLflow tracking server)"
                ),
            ));
        }
    };
    Err(MlflowError::refused(why))
}

/// An artifact path: `models/NAME/DIGEST[/FILE...]`.
fn artifact_path(path: &str) -> Result<(&str, crate::Digest, &str), MlflowError> {
    let mut parts = path.trim_matches('/').splitn(4, '/');
    let (Some("models"), Some(name), Some(digest)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(MlflowError::missing(format!(
            "no artifact {path:?}: paths are models/NAME/DIGEST/FILE, as get-download-uri gives them"
        )));
    };
    let digest = digest.parse().map_err(|_| {
        MlflowError::missing(format!("no artifact {path:?}: {digest} is no digest"))
    })?;
    Ok((name, digest, parts.next().unwrap_or_default()))
}

/// The model `name` pinned to `digest` (its source and reference), if `who` may read it.
async fn artifact_model(
    state: &State,
    who: &super::auth::Subject,
    name: &str,
    digest: &crate::Digest,
) -> Result<(super::Source, crate::reference::Reference), MlflowError> {
    let found = model(state, who, name, |_| true).await?;
    Ok((found.source, found.repo.with_digest(digest.clone())))
}

/// `GET mlflow-artifacts/artifacts?path=models/NAME/DIGEST[/DIR]`: one directory level,
/// as MLflow's artifact service lists (`path` is the entry's name).
async fn list_artifacts(state: Shared, call: Call) -> Answer {
    let Call { params, who, .. } = call;
    let (name, digest, dir) = artifact_path(params.one("path").unwrap_or_default())?;
    let (source, reference) = artifact_model(&state, &who, name, &digest).await?;
    let key = format!("mlflow-files {digest}");
    let repository = reference.without_selector().to_string();
    let files = state
        .view(&repository, &key, async {
            let (_, files) = ops::streamable_files(&source.ctx, &reference).await?;
            Ok(serde_json::to_value(files).unwrap_or_default())
        })
        .await?;
    let files: Vec<(&str, u64)> = files
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| Some((f["path"].as_str()?, f["size"].as_u64()?)))
        .collect();
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    for &(path, size) in &files {
        if path == dir {
            // A file lists as nothing, as MLflow's own stores do.
            return ok(json!({}));
        }
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            Some((sub, _)) => {
                entries
                    .entry(sub.to_owned())
                    .or_insert_with(|| json!({"path": sub, "is_dir": true}));
            }
            None => {
                entries.insert(
                    rest.to_owned(),
                    json!({"path": rest, "is_dir": false, "file_size": size}),
                );
            }
        }
    }
    if entries.is_empty() && !dir.is_empty() {
        return Err(MlflowError::missing(format!(
            "{reference} has no directory {dir}"
        )));
    }
    ok(json!({"files": entries.into_values().collect::<Vec<_>>()}))
}

/// `GET mlflow-artifacts/artifacts/models/NAME/DIGEST/FILE`: the file streamed from the
/// registry and verified as it streams (`Range` and `ETag` as `/api/v1`).
async fn download_artifact(state: Shared, Path(path): Path<String>, headers: HeaderMap) -> Answer {
    let who = subject(&state, &headers)?;
    let (name, digest, file) = artifact_path(&path)?;
    if file.is_empty() {
        return Err(MlflowError::invalid("name a file: models/NAME/DIGEST/FILE"));
    }
    let (source, reference) = artifact_model(&state, &who, name, &digest).await?;
    Ok(api::models::download(&source.ctx, &reference, file, &headers).await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn artifact_paths_name_a_model_a_digest_and_a_file() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let path = format!("models/bert/{digest}/sub/w.bin");
        let (name, d, file) = super::artifact_path(&path).unwrap();
        assert_eq!(
            (name, d.to_string().as_str(), file),
            ("bert", digest.as_str(), "sub/w.bin")
        );
        assert!(super::artifact_path("models/bert").is_err());
        assert!(super::artifact_path("other/bert/sha256:x").is_err());
    }
}
