//! HTTP dispatch: path parsing (§A0), content negotiation, authentication, fault injection, and the
//! REST verbs on top of the write pipeline, lists and watches.

use super::Inner;
use super::discovery;
use super::errors::{ApiError, Target};
use super::faults::Faults;
use super::objects::{DeleteOpts, Deleted, PatchKind, WriteOpts, now_rfc3339};
use super::reads::{self, Format};
use super::registry::ResourceDef;
use super::scale;
use super::store::{Snapshot, Stored};
use super::watch::{self, Filter, WatchParams};
use crate::model::selector::{FieldSelector, LabelSelector};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest accepted request body.
const MAX_BODY: usize = 3 * 1024 * 1024;
/// Most bytes a YAML body may decode to once its aliases are expanded (the shared decode budget).
const MAX_DECODED_BODY: usize = 4 * MAX_BODY;

/// Builds the router of a cluster, with bearer authentication when `token` is given.
pub(crate) fn router(inner: Arc<Inner>, token: Option<String>) -> Router {
    let r = Router::new().fallback(move |req: Request| {
        let inner = inner.clone();
        async move { handle(inner, req).await }
    });
    match token {
        None => r,
        Some(token) => {
            let expected = Arc::new(format!("Bearer {token}"));
            let prefix = Arc::new(format!("{TOKEN_PATH_PREFIX}{token}"));
            r.layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    let expected = expected.clone();
                    let prefix = prefix.clone();
                    async move {
                        let header_ok = req
                            .headers()
                            .get(header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.trim() == expected.as_str());
                        // A path carrying the token is stripped whether or not the header came
                        // too (kube-rs sends both).
                        let req = if req.uri().path().starts_with(prefix.as_str()) {
                            strip_token_prefix(req, &prefix)
                        } else if header_ok {
                            Some(req)
                        } else {
                            None
                        };
                        match req {
                            Some(req) => next.run(req).await,
                            None => {
                                ApiError::new(401, "Unauthorized", "Unauthorized").into_response()
                            }
                        }
                    }
                },
            ))
        }
    }
}

/// kubectl never sends credentials to a plain-http server (kubernetes/kubectl#744), so the token may
/// also come as the first path segments: `http://127.0.0.1:PORT/flotilla-token/<token>/api/v1/...`.
pub(crate) const TOKEN_PATH_PREFIX: &str = "/flotilla-token/";

/// Removes the token prefix from the path; `None` when the path does not carry the token.
fn strip_token_prefix(mut req: Request, prefix: &str) -> Option<Request> {
    let uri = req.uri().clone();
    let rest = uri.path().strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    *req.uri_mut() = http::Uri::from_parts(parts).ok()?;
    Some(req)
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    bytes_response(code, "application/json", Bytes::from(v.to_string()))
}

fn bytes_response(code: StatusCode, content_type: &'static str, b: Bytes) -> Response {
    let mut resp = Response::new(Body::from(b));
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

async fn handle(inner: Arc<Inner>, req: Request) -> Response {
    match dispatch(inner, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn query_map(req: &Request) -> Result<HashMap<String, String>, ApiError> {
    let Some(q) = req.uri().query() else {
        return Ok(HashMap::new());
    };
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(q)?;
    Ok(pairs.into_iter().filter(|(k, _)| !k.is_empty()).collect())
}

/// Parses `a=b&c=d` tolerantly (empty pairs skipped, values percent-decoded).
fn serde_urlencoded_pairs(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    let uri: http::Uri = format!("/?{q}")
        .parse()
        .map_err(|_| ApiError::bad_request("malformed query string"))?;
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))
}

async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("the request body is larger than the limit of {MAX_BODY} bytes"),
            )
        })
}

async fn dispatch(inner: Arc<Inner>, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match path.as_str() {
        "/healthz" | "/readyz" | "/livez" => {
            return Ok(bytes_response(
                StatusCode::OK,
                "text/plain",
                Bytes::from_static(b"ok"),
            ));
        }
        "/flotilla/admin/faults" => {
            if method != Method::POST {
                return Err(ApiError::new(405, "MethodNotAllowed", "use POST"));
            }
            let body = read_body(req).await?;
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("fault request is not JSON: {e}")))?;
            Faults {
                cluster: inner.clone(),
            }
            .apply_json(&v)?;
            return Ok(json_response(StatusCode::OK, &json!({"ok": true})));
        }
        _ => {}
    }
    if let Some(d) = inner.faults.latency() {
        tokio::time::sleep(d).await;
    }
    if let Some(e) = inner.faults.take_failure() {
        return Err(e);
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get_only = |m: &Method| {
        if *m == Method::GET {
            Ok(())
        } else {
            Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "only GET is supported here",
            ))
        }
    };
    match segs.as_slice() {
        ["version"] => {
            get_only(&method)?;
            Ok(json_response(StatusCode::OK, &discovery::version()))
        }
        ["api"] => {
            get_only(&method)?;
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1")
                .to_string();
            Ok(json_response(
                StatusCode::OK,
                &discovery::api_versions(&host),
            ))
        }
        ["apis"] => {
            get_only(&method)?;
            let reg = inner.lock().registry.clone();
            Ok(json_response(StatusCode::OK, &discovery::api_groups(&reg)))
        }
        ["api", v] => {
            get_only(&method)?;
            let reg = inner.lock().registry.clone();
            discovery::resource_list(&reg, "", v)
                .map(|d| json_response(StatusCode::OK, &d))
                .ok_or_else(ApiError::unknown_path)
        }
        ["apis", g] => {
            get_only(&method)?;
            let reg = inner.lock().registry.clone();
            discovery::api_group(&reg, g)
                .map(|d| json_response(StatusCode::OK, &d))
                .ok_or_else(ApiError::unknown_path)
        }
        ["apis", g, v] => {
            get_only(&method)?;
            let reg = inner.lock().registry.clone();
            discovery::resource_list(&reg, g, v)
                .map(|d| json_response(StatusCode::OK, &d))
                .ok_or_else(ApiError::unknown_path)
        }
        ["openapi", "v3"] => {
            get_only(&method)?;
            let reg = inner.lock().registry.clone();
            Ok(json_response(
                StatusCode::OK,
                &discovery::openapi_root(&reg),
            ))
        }
        ["openapi", "v3", "api", v] => {
            get_only(&method)?;
            let reg = inner.lock().registry.clone();
            discovery::openapi_gv(&reg, "", v)
                .map(|d| json_response(StatusCode::OK, &d))
                .ok_or_else(ApiError::unknown_path)
        }
        ["openapi", "v3", "apis", g, v] => {
            get_only(&method)?;
            let reg = inner.lock().registry.clone();
            discovery::openapi_gv(&reg, g, v)
                .map(|d| json_response(StatusCode::OK, &d))
                .ok_or_else(ApiError::unknown_path)
        }
        ["api", v, rest @ ..] => {
            let (v, rest) = (v.to_string(), owned(rest));
            resource_request(inner, req, String::new(), v, rest).await
        }
        ["apis", g, v, rest @ ..] => {
            let (g, v, rest) = (g.to_string(), v.to_string(), owned(rest));
            resource_request(inner, req, g, v, rest).await
        }
        _ => Err(ApiError::unknown_path()),
    }
}

fn owned(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// A request addressed to a resource.
struct Addressed {
    def: Arc<ResourceDef>,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
    /// The `/scale` subresource.
    scale: bool,
}

fn address(
    inner: &Inner,
    group: &str,
    version: &str,
    rest: &[String],
) -> Result<Addressed, ApiError> {
    let r: Vec<&str> = rest.iter().map(String::as_str).collect();
    let (plural, ns, name, sub) = match r.as_slice() {
        ["namespaces", n, sub @ ("status" | "finalize")] if group.is_empty() => {
            ("namespaces", None, Some(*n), Some(*sub))
        }
        ["namespaces", ns, plural] => (*plural, Some(*ns), None, None),
        ["namespaces", ns, plural, name] => (*plural, Some(*ns), Some(*name), None),
        ["namespaces", ns, plural, name, sub] => (*plural, Some(*ns), Some(*name), Some(*sub)),
        [plural] => (*plural, None, None, None),
        [plural, name] => (*plural, None, Some(*name), None),
        [plural, name, sub] => (*plural, None, Some(*name), Some(*sub)),
        _ => return Err(ApiError::unknown_path()),
    };
    let def = inner
        .lock()
        .registry
        .find(group, version, plural)
        .ok_or_else(ApiError::unknown_path)?;
    if ns.is_some() && !def.namespaced {
        return Err(ApiError::unknown_path());
    }
    if name.is_some() && ns.is_none() && def.namespaced {
        return Err(ApiError::unknown_path());
    }
    let (status, scale) = match sub {
        None => (false, false),
        Some("status") if def.has_status => (true, false),
        Some("scale") if scale::supports_scale(&def) => (false, true),
        Some(_) => return Err(ApiError::unknown_path()),
    };
    Ok(Addressed {
        def,
        version: version.to_string(),
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
        status,
        scale,
    })
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

fn write_opts(
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    a: &Addressed,
    apply: bool,
) -> Result<WriteOpts, ApiError> {
    let manager = match q.get("fieldManager") {
        Some(m) => m.clone(),
        None if apply => String::new(),
        None => headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string(),
    };
    if manager.chars().count() > 128 {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            &[(
                "fieldManager",
                "FieldValueTooLong",
                "Too long: may not be more than 128 bytes".into(),
            )],
        ));
    }
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    Ok(WriteOpts {
        manager,
        dry_run,
        api_version: a.def.api_version(&a.version),
        status: a.status,
        force: flag(q, "force"),
        now: now_rfc3339(),
    })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Parses a request body as JSON, or YAML for YAML content types.
fn parse_body(body: &[u8], yaml: bool) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(e) if !yaml => Err(ApiError::bad_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
        Err(_) => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
            // Aliases can make a small body decode into gigabytes; measure before decoding.
            let mut budget = crate::model::budget::DecodeBudget::new(MAX_DECODED_BODY);
            crate::model::budget::check_yaml(text, &mut budget).map_err(|e| {
                ApiError::new(
                    413,
                    "RequestEntityTooLarge",
                    format!("the request body is too large once decoded: {e}"),
                )
            })?;
            let v = serde_saphyr::from_str::<Value>(text).map_err(|e| {
                ApiError::bad_request(format!("the request body is not valid YAML: {e}"))
            })?;
            // JSON parsing stops at 128 levels; hold YAML to the same bound so later recursive
            // walks (serialization, patches, SSA) stay shallow.
            if depth_exceeds(&v, 128) {
                return Err(ApiError::bad_request(
                    "the request body is nested more than 128 levels deep",
                ));
            }
            Ok(v)
        }
    }
}

/// Whether a value nests deeper than `max` levels (iterative, so any depth is safe to check).
fn depth_exceeds(v: &Value, max: usize) -> bool {
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        if d > max {
            return true;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    false
}

fn object_body_for_write(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type(headers);
    match ct.as_str() {
        "" | "application/json" | "*/*" => parse_body(body, false),
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_body(body, true),
        _ => Err(ApiError::unsupported_media(false)),
    }
}

fn respond_object(a: &Addressed, format: Format, code: StatusCode, v: &Value) -> Response {
    let body = reads::object_body(&a.def, &a.version, format, v);
    let ct = if body.get("kind").and_then(Value::as_str) == Some("Table") {
        Format::Table.content_type(false)
    } else {
        format.content_type(false)
    };
    bytes_response(code, ct, Bytes::from(body.to_string()))
}

fn build_filter(a: &Addressed, q: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let labels = match q.get("labelSelector").filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(LabelSelector::parse(s).map_err(ApiError::bad_request)?),
        None => None,
    };
    let def = a.def.clone();
    let fields = match q.get("fieldSelector").filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(
            FieldSelector::parse(s, &|f: &str| def.supports_field(f))
                .map_err(ApiError::bad_request)?,
        ),
        None => None,
    };
    Ok(Filter {
        namespace: a.namespace.clone(),
        labels,
        fields,
        fields_need_object: a.def.field_selector_needs_object(),
    })
}

async fn resource_request(
    inner: Arc<Inner>,
    req: Request,
    group: String,
    version: String,
    rest: Vec<String>,
) -> Result<Response, ApiError> {
    let a = address(&inner, &group, &version, &rest)?;
    let q = query_map(&req)?;
    let headers = req.headers().clone();
    let format = Format::from_accept(
        headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let method = req.method().clone();
    if a.scale
        && let Some(name) = &a.name
    {
        return scale_request(&inner, &a, name, req, &q, &headers).await;
    }
    match (&a.name, method) {
        (None, Method::GET) => {
            let filter = build_filter(&a, &q)?;
            if flag(&q, "watch") {
                let params = WatchParams {
                    resource_version: q.get("resourceVersion").cloned(),
                    resource_version_match: q.get("resourceVersionMatch").cloned(),
                    send_initial_events: flag(&q, "sendInitialEvents"),
                    bookmarks: flag(&q, "allowWatchBookmarks"),
                    timeout: q.get("timeoutSeconds").and_then(|s| s.parse().ok()),
                };
                return watch::watch(inner, a.def.clone(), &a.version, format, filter, params);
            }
            list(&inner, &a, &q, format, filter)
        }
        (None, Method::POST) => {
            let Some(ns) = a
                .namespace
                .clone()
                .or_else(|| (!a.def.namespaced).then(String::new))
            else {
                return Err(ApiError::method_not_allowed(
                    "create",
                    Target {
                        plural: &a.def.plural,
                        group: &a.def.group,
                        name: "",
                    },
                ));
            };
            let w = write_opts(&q, &headers, &a, false)?;
            let body = read_body(req).await?;
            let obj = object_body_for_write(&headers, &body)?;
            let created = inner.lock().create(&a.def, &ns, obj, &w)?;
            Ok(respond_object(&a, format, StatusCode::CREATED, &created))
        }
        (None, Method::DELETE) => {
            let filter = build_filter(&a, &q)?;
            let body = read_body(req).await?;
            let opts = delete_opts(&q, &body)?;
            delete_collection(&inner, &a, filter, &opts)
        }
        (Some(name), Method::GET) => {
            let ns = a.namespace.clone().unwrap_or_default();
            let st = inner.lock();
            let Some(s) = st.store.get(&a.def.key(), &ns, name).cloned() else {
                return Err(ApiError::not_found(Target {
                    plural: &a.def.plural,
                    group: &a.def.group,
                    name,
                }));
            };
            drop(st);
            if format == Format::Json {
                let av = a.def.api_version(&a.version);
                return Ok(bytes_response(
                    StatusCode::OK,
                    "application/json",
                    reads::object_bytes(&s, &av),
                ));
            }
            Ok(respond_object(&a, format, StatusCode::OK, &s.value()))
        }
        (Some(name), Method::PUT) => {
            let ns = a.namespace.clone().unwrap_or_default();
            let w = write_opts(&q, &headers, &a, false)?;
            let body = read_body(req).await?;
            let obj = object_body_for_write(&headers, &body)?;
            let updated = inner.lock().update(&a.def, &ns, name, obj, &w)?;
            Ok(respond_object(&a, format, StatusCode::OK, &updated))
        }
        (Some(name), Method::PATCH) => {
            let ns = a.namespace.clone().unwrap_or_default();
            let kind = match content_type(&headers).as_str() {
                "application/merge-patch+json" => PatchKind::Merge,
                "application/json-patch+json" => PatchKind::Json,
                "application/strategic-merge-patch+json" => PatchKind::Strategic,
                "application/apply-patch+yaml" => PatchKind::Apply,
                _ => return Err(ApiError::unsupported_media(true)),
            };
            let w = write_opts(&q, &headers, &a, kind == PatchKind::Apply)?;
            let body = read_body(req).await?;
            let patch = parse_body(&body, kind == PatchKind::Apply)?;
            let (obj, created) = inner.lock().patch(&a.def, &ns, name, kind, &patch, &w)?;
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(respond_object(&a, format, code, &obj))
        }
        (Some(name), Method::DELETE) if !a.status => {
            let ns = a.namespace.clone().unwrap_or_default();
            let body = read_body(req).await?;
            let opts = delete_opts(&q, &body)?;
            let outcome = inner.lock().delete(&a.def, &ns, name, &opts)?;
            match outcome {
                Deleted::Pending(obj) => Ok(respond_object(&a, format, StatusCode::OK, &obj)),
                Deleted::Gone(obj) if a.def.delete_returns_object => {
                    Ok(respond_object(&a, format, StatusCode::OK, &obj))
                }
                Deleted::Gone(obj) => {
                    let mut details = json!({"name": name, "kind": a.def.plural,
                        "uid": obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)});
                    if !a.def.group.is_empty() {
                        details["group"] = json!(a.def.group);
                    }
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Success", "details": details}),
                    ))
                }
            }
        }
        (_, m) => {
            let verb = match m {
                Method::POST => "create",
                Method::PUT => "update",
                Method::PATCH => "patch",
                Method::DELETE => "delete",
                Method::GET => "get",
                _ => "this method",
            };
            Err(ApiError::method_not_allowed(
                verb,
                Target {
                    plural: &a.def.plural,
                    group: &a.def.group,
                    name: "",
                },
            ))
        }
    }
}

/// GET, PUT or PATCH of `<workload>/<name>/scale` (always answered as JSON).
async fn scale_request(
    inner: &Inner,
    a: &Addressed,
    name: &str,
    req: Request,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let ns = a.namespace.clone().unwrap_or_default();
    let method = req.method().clone();
    let scale = match method {
        Method::GET => inner.lock().get_scale(&a.def, &ns, name)?,
        Method::PUT | Method::PATCH => {
            let kind = if method == Method::PUT {
                None
            } else {
                Some(match content_type(headers).as_str() {
                    "application/merge-patch+json" => PatchKind::Merge,
                    "application/json-patch+json" => PatchKind::Json,
                    "application/strategic-merge-patch+json" => PatchKind::Strategic,
                    _ => return Err(ApiError::unsupported_media(true)),
                })
            };
            let w = write_opts(q, headers, a, false)?;
            let body = read_body(req).await?;
            let body = match kind {
                None => object_body_for_write(headers, &body)?,
                Some(_) => parse_body(&body, false)?,
            };
            inner
                .lock()
                .write_scale(&a.def, &ns, name, kind, &body, &w)?
        }
        other => {
            let verb = match other {
                Method::POST => "create",
                Method::DELETE => "delete",
                _ => "this method",
            };
            return Err(ApiError::method_not_allowed(
                verb,
                Target {
                    plural: &a.def.plural,
                    group: &a.def.group,
                    name,
                },
            ));
        }
    };
    Ok(json_response(StatusCode::OK, &scale))
}

fn delete_opts(q: &HashMap<String, String>, body: &[u8]) -> Result<DeleteOpts, ApiError> {
    let mut opts = DeleteOpts::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the DeleteOptions body is not valid JSON: {e}"))
        })?;
        if !v.is_object() {
            return Err(ApiError::bad_request("DeleteOptions must be a JSON object"));
        }
        opts.uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        opts.resource_version = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        opts.orphan = v.get("propagationPolicy").and_then(Value::as_str) == Some("Orphan")
            || v.get("orphanDependents").and_then(Value::as_bool) == Some(true);
        opts.dry_run = v
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    }
    if q.get("dryRun").map(String::as_str) == Some("All") {
        opts.dry_run = true;
    }
    if q.get("propagationPolicy").map(String::as_str) == Some("Orphan") {
        opts.orphan = true;
    }
    Ok(opts)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    /// Snapshot id.
    s: u64,
    /// Snapshot revision.
    rv: u64,
    /// Offset of the next item.
    o: usize,
}

fn list(
    inner: &Inner,
    a: &Addressed,
    q: &HashMap<String, String>,
    format: Format,
    filter: Filter,
) -> Result<Response, ApiError> {
    let limit: usize = match q.get("limit").filter(|s| !s.is_empty()) {
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {s:?}")))?
            .max(0) as usize,
        None => 0,
    };
    let rv_param = q.get("resourceVersion").filter(|s| !s.is_empty());
    let rv_match = q.get("resourceVersionMatch").map(String::as_str);
    let key = a.def.key();
    let mut st = inner.lock();
    let current = st.store.rv();
    if let Some(rv) = rv_param {
        let n: u64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?;
        match rv_match {
            Some("Exact") if n != current => {
                return Err(ApiError::expired(format!(
                    "too old resource version: {n} ({current})"
                )));
            }
            _ if n > current => {
                return Err(ApiError::new(
                    504,
                    "Timeout",
                    format!("Too large resource version: {n}, current: {current}"),
                )
                .with_details(json!({"causes": [{"reason": "ResourceVersionTooLarge",
                    "message": "Too large resource version"}], "retryAfterSeconds": 1})));
            }
            _ => {}
        }
    }
    let (snapshot, offset, snap_id) = match q.get("continue").filter(|s| !s.is_empty()) {
        Some(tok) => {
            let token: ContinueToken = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(tok.trim_end_matches('='))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
            match st.store.snapshot(token.s) {
                Some(s) => (s, token.o, token.s),
                None if token.rv == current => {
                    let items =
                        filtered(&st.store.list(&key, filter.namespace.as_deref()), &filter);
                    (
                        Snapshot {
                            rv: current,
                            items: Arc::new(items),
                        },
                        token.o,
                        0,
                    )
                }
                None => {
                    return Err(ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    ));
                }
            }
        }
        None => {
            let items = filtered(&st.store.list(&key, filter.namespace.as_deref()), &filter);
            (
                Snapshot {
                    rv: current,
                    items: Arc::new(items),
                },
                0,
                0,
            )
        }
    };
    let total = snapshot.items.len();
    let start = offset.min(total);
    let end = if limit > 0 {
        (start + limit).min(total)
    } else {
        total
    };
    let mut meta = json!({"resourceVersion": snapshot.rv.to_string()});
    if end < total {
        let id = if snap_id == 0 {
            st.store.keep_snapshot(snapshot.clone())
        } else {
            snap_id
        };
        let token = ContinueToken {
            s: id,
            rv: snapshot.rv,
            o: end,
        };
        let raw = serde_json::to_vec(&token).unwrap_or_default();
        meta["continue"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
        meta["remainingItemCount"] = json!(total - end);
    }
    drop(st);
    let (body, ct) = reads::list_body(
        &a.def,
        &a.version,
        format,
        &snapshot.items,
        start..end,
        meta,
    );
    Ok(match body {
        reads::ListBody::Whole(b) => bytes_response(StatusCode::OK, ct, b),
        reads::ListBody::Chunks(chunks) => {
            // The body is built chunk by chunk as hyper polls the stream, so a large list never
            // exists as one buffer (the allocator would keep that memory after the response).
            let stream = futures::stream::iter(chunks.map(Ok::<Bytes, std::convert::Infallible>));
            let mut resp = Response::new(Body::from_stream(stream));
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            resp
        }
    })
}

fn filtered(items: &[Stored], filter: &Filter) -> Vec<Stored> {
    items
        .iter()
        .filter(|s| filter.matches(s))
        .cloned()
        .collect()
}

fn delete_collection(
    inner: &Inner,
    a: &Addressed,
    filter: Filter,
    opts: &DeleteOpts,
) -> Result<Response, ApiError> {
    let key = a.def.key();
    let mut st = inner.lock();
    let targets = filtered(&st.store.list(&key, filter.namespace.as_deref()), &filter);
    let mut deleted = Vec::new();
    for s in targets {
        match st.delete(&a.def, &s.meta.namespace, &s.meta.name, opts) {
            Ok(Deleted::Gone(v)) | Ok(Deleted::Pending(v)) => deleted.push(v),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = st.store.rv();
    drop(st);
    let av = a.def.api_version(&a.version);
    let items: Vec<Value> = deleted
        .into_iter()
        .map(|v| reads::with_version(v, &av))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"apiVersion": av, "kind": a.def.list_kind,
                "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_yaml_is_rejected_without_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse_body(deep.as_bytes(), true).is_err());
        let deep_map = "a:\n b: 1\n";
        assert!(parse_body(deep_map.as_bytes(), true).is_ok());
        let nested: String = (0..5000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        assert!(parse_body(nested.as_bytes(), true).is_err());
    }

    #[test]
    fn yaml_alias_bomb_body_is_refused_by_the_decode_budget() {
        // 1 MiB string under five levels of ×10 aliases: under MAX_BODY, 100 GiB decoded.
        let mut y = format!("a0: &a0 \"{}\"\n", "x".repeat(1 << 20));
        for level in 1..=5 {
            let refs = vec![format!("*a{}", level - 1); 10].join(", ");
            y.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
        }
        assert!(y.len() < MAX_BODY);
        let e = parse_body(y.as_bytes(), true).unwrap_err();
        assert!(format!("{e:?}").contains("decoded"), "{e:?}");
    }

    #[test]
    fn token_prefix_is_stripped() {
        let req = Request::builder()
            .uri("/flotilla-token/abc/api/v1/pods?watch=1")
            .body(Body::empty())
            .unwrap();
        let out = strip_token_prefix(req, "/flotilla-token/abc").unwrap();
        assert_eq!(out.uri().path(), "/api/v1/pods");
        assert_eq!(out.uri().query(), Some("watch=1"));
        let req = Request::builder()
            .uri("/flotilla-token/abcd/api")
            .body(Body::empty())
            .unwrap();
        assert!(strip_token_prefix(req, "/flotilla-token/abc").is_none());
    }
}
