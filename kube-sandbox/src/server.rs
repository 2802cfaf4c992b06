//! The HTTP shell: one axum fallback handler that parses the (dynamic) Kubernetes path space
//! itself, counts and perturbs requests, and hands them to discovery, OpenAPI or the verbs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::access;
use crate::api_error::ApiError;
use crate::cluster::Cluster;
use crate::deletion;
use crate::identity::User;
use crate::kind::Shape;
use crate::listing;
use crate::patch::PatchType;
use crate::rbac;
use crate::request::{self, header_value, ResourceRequest};
use crate::rest::{self, Target};
use crate::route::{self, Route};
use crate::table;
use crate::traffic::Verb;
use crate::watch::{self, WatchRequest};
use crate::{discovery, openapi, scale};

/// Watch length when the client gives no `timeoutSeconds`.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Builds the router serving `cluster`; `address` is reported in `/api`.
pub fn router(cluster: Arc<Cluster>, address: String) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(Arc::new(Server { cluster, address }))
}

struct Server {
    cluster: Arc<Cluster>,
    address: String,
}

/// Serves one request; every request is logged at debug level (`RUST_LOG=kube_sandbox=debug`)
/// so a failing end-to-end test can show what its clients asked for.
async fn handle(State(server): State<Arc<Server>>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    match serve(&server, request).await {
        Ok(response) => {
            tracing::debug!(%method, %uri, status = response.status().as_u16(), "served");
            response
        }
        Err(error) => {
            tracing::debug!(%method, %uri, status = error.code(), %error, "refused");
            error.into_response()
        }
    }
}

fn json_response(status: StatusCode, content_type: &str, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, content_type.to_string())],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, "application/json", body)
}

fn not_found() -> ApiError {
    ApiError::NoRoute
}

async fn serve(server: &Server, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    let accept = header_value(&parts.headers, header::ACCEPT);
    let cluster = &server.cluster;
    let route = route::parse(parts.uri.path());
    let attributes = access::attributes(&parts.method, parts.uri.path(), &route, &query);
    let user = access::admit(cluster, &parts.headers, &attributes, parts.uri.path())?;
    match route {
        Route::Version => Ok(ok(&json!({
            "major": "1", "minor": "33", "gitVersion": discovery::GIT_VERSION, "gitCommit": "kube-sandbox",
            "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z", "goVersion": "go1.24.0",
            "compiler": "gc", "platform": "linux/amd64",
        }))),
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::CoreVersions => {
            if discovery::wants_aggregated(&accept) {
                let doc = discovery::aggregated(&cluster.lock().registry, true);
                return Ok(json_response(
                    StatusCode::OK,
                    discovery::AGGREGATED_CONTENT_TYPE,
                    &doc,
                ));
            }
            Ok(ok(&discovery::core_versions(&server.address)))
        }
        Route::Groups => {
            let state = cluster.lock();
            if discovery::wants_aggregated(&accept) {
                let doc = discovery::aggregated(&state.registry, false);
                return Ok(json_response(
                    StatusCode::OK,
                    discovery::AGGREGATED_CONTENT_TYPE,
                    &doc,
                ));
            }
            Ok(ok(&discovery::groups(&state.registry)))
        }
        Route::Group(group) => discovery::group(&cluster.lock().registry, &group)
            .map(|d| ok(&d))
            .ok_or_else(not_found),
        Route::Resources(group, version) => {
            discovery::resources(&cluster.lock().registry, &group, &version)
                .map(|d| ok(&d))
                .ok_or_else(not_found)
        }
        Route::OpenApiRoot => Ok(ok(&openapi::root(&cluster.lock().registry))),
        Route::OpenApiDocument(group, version) => {
            let state = cluster.lock();
            if state.registry.in_group_version(&group, &version).is_empty() {
                return Err(not_found());
            }
            Ok(ok(&openapi::document(&state.registry, &group, &version)))
        }
        Route::Object(path) => {
            let body = request::read_body(&parts.headers, body).await?;
            let request = ResourceRequest {
                method: parts.method,
                headers: parts.headers,
                query,
                accept,
                body,
            };
            serve_resource(cluster, &user, path, request)
        }
        Route::Unknown => Err(not_found()),
    }
}

fn serve_resource(
    cluster: &Arc<Cluster>,
    user: &User,
    path: route::ObjectPath,
    request: ResourceRequest,
) -> Result<Response, ApiError> {
    let rt = cluster
        .lock()
        .registry
        .find(&path.group, &path.version, &path.plural)
        .ok_or_else(not_found)?;
    match path.subresource.as_deref() {
        None => {}
        Some("status") if rt.status_subresource => {}
        Some("scale") if rt.scale.is_some() => {}
        Some("token") if rt.group.is_empty() && rt.plural == "serviceaccounts" => {}
        Some(_) => return Err(not_found()),
    }
    if !rt.namespaced && path.namespace.is_some() {
        return Err(not_found());
    }
    let target = Target {
        rt,
        namespace: path.namespace,
        name: path.name,
        subresource: path.subresource,
    };
    let watching = request.flag("watch");
    let verb = match (&request.method, target.name.is_some(), watching) {
        (&Method::GET, _, true) => Verb::Watch,
        (&Method::GET, true, false) => Verb::Get,
        (&Method::GET, false, false) => Verb::List,
        (&Method::POST, false, _) => Verb::Create,
        // Creating through a subresource (a TokenRequest) names the parent object.
        (&Method::POST, true, _) if target.subresource.is_some() => Verb::Create,
        (&Method::PUT, true, _) => Verb::Update,
        (&Method::PATCH, true, _) => Verb::Patch,
        (&Method::DELETE, true, _) => Verb::Delete,
        (&Method::DELETE, false, _) => Verb::DeleteCollection,
        (method, _, _) => {
            return Err(ApiError::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource: {method}"
            )))
        }
    };
    if target.rt.shape == Shape::Review && verb != Verb::Create {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} can only be created",
            target.rt.qualified_resource()
        )));
    }
    let label = match &target.subresource {
        Some(sub) => format!("{}/{sub}", target.rt.plural),
        None => target.rt.plural.clone(),
    };
    cluster.traffic.count_request(verb, &label);
    if let Some(code) = cluster.traffic.injected_failure(verb, &label) {
        return Err(ApiError::Injected(code));
    }
    if target.rt.shape == Shape::Review {
        let state = cluster.lock();
        let review = crate::review::answer(
            cluster.authorization,
            &state.store,
            user,
            &target.rt,
            target.namespace.as_deref(),
            request.body_json()?,
        )?;
        return Ok(json_response(
            StatusCode::CREATED,
            "application/json",
            &review,
        ));
    }
    if target.subresource.as_deref() == Some("token") {
        if verb != Verb::Create {
            return Err(ApiError::MethodNotAllowed(
                "the token subresource can only be created".into(),
            ));
        }
        let name = target.name.clone().unwrap_or_default();
        let namespace = target.namespace.clone().unwrap_or_default();
        let issued = crate::token_request::create(
            &mut cluster.lock(),
            &namespace,
            &name,
            request.body_json()?,
        )?;
        return Ok(json_response(
            StatusCode::CREATED,
            "application/json",
            &issued,
        ));
    }
    if target.subresource.as_deref() == Some("scale") {
        let patch_type = (verb == Verb::Patch)
            .then(|| {
                PatchType::from_content_type(&header_value(&request.headers, header::CONTENT_TYPE))
            })
            .transpose()?;
        let body = request.body_json()?;
        let options = match verb {
            Verb::Get => Default::default(),
            _ => request.write_options(verb, patch_type)?,
        };
        let scale = scale::serve(
            &mut cluster.lock(),
            verb,
            &target,
            body,
            patch_type,
            &options,
        )?;
        return Ok(ok(&scale));
    }
    // What this request's admission warns about (unknown fields under fieldValidation=Warn),
    // collected on this thread between here and the response: the writes below do not await.
    crate::validation::take_warnings();
    let respond = |status: StatusCode, object: Value| -> Response {
        let mut response = if request.partial_metadata() && object["kind"] != "Status" {
            ok(&table::partial_metadata(&object))
        } else {
            json_response(status, "application/json", &object)
        };
        for warning in crate::validation::take_warnings() {
            // RFC 7234 warn-code 299, agent "-", as kube-apiserver writes them.
            let text = format!("299 - {}", serde_json::Value::String(warning));
            if let Ok(value) = header::HeaderValue::from_str(&text) {
                response.headers_mut().append(header::WARNING, value);
            }
        }
        response
    };
    match verb {
        Verb::Watch => {
            let options = request.list_options(&target)?;
            // As on the real server, 0 (like no value) means the server's default.
            let timeout = request
                .param("timeoutSeconds")
                .and_then(|t| t.parse().ok())
                .filter(|t| *t > 0)
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_WATCH_TIMEOUT);
            let send_initial_events = request
                .param("sendInitialEvents")
                .map(|_| request.flag("sendInitialEvents"));
            watch::check_options(send_initial_events, request.param("resourceVersionMatch"))?;
            let watch_request = WatchRequest {
                target: Target {
                    name: None,
                    ..target
                },
                options,
                resource_version: watch::resource_version(request.param("resourceVersion"))?,
                send_initial_events,
                bookmarks: request.flag("allowWatchBookmarks"),
                timeout,
                table: request.table(),
                partial_metadata: request.partial_metadata(),
            };
            let content_type = if watch_request.table.is_some() {
                "application/json;as=Table;v=v1;g=meta.k8s.io"
            } else {
                "application/json"
            };
            let body: Body = watch::start(cluster.clone(), watch_request)?;
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response())
        }
        Verb::Get => {
            let object = rest::get(&cluster.lock(), &target)?;
            if let Some(include) = request.table() {
                let meta = json!({"resourceVersion": object.pointer("/metadata/resourceVersion")});
                return Ok(table_response(&table::table(
                    &target.rt,
                    &[object],
                    meta,
                    include,
                )));
            }
            Ok(respond(StatusCode::OK, object))
        }
        Verb::List => {
            watch::check_list_options(
                request.query.contains_key("sendInitialEvents"),
                request.param("resourceVersionMatch"),
                request.param("resourceVersion"),
                request.param("continue").is_some(),
            )?;
            watch::resource_version(request.param("resourceVersion"))?;
            let options = request.list_options(&target)?;
            let (items, meta) = listing::list(&cluster.lock(), &target, &options)?;
            if let Some(include) = request.table() {
                return Ok(table_response(&table::table(
                    &target.rt, &items, meta, include,
                )));
            }
            if request.partial_metadata() {
                let items: Vec<Value> = items.iter().map(table::partial_metadata).collect();
                return Ok(ok(
                    &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
                ));
            }
            Ok(ok(&listing::list_object(&target.rt, items, meta)))
        }
        Verb::Create => {
            let created = rest::create(
                &mut cluster.lock(),
                &target,
                request.body_json()?,
                &request.write_options(verb, None)?,
            )?;
            Ok(respond(StatusCode::CREATED, created))
        }
        Verb::Update => {
            let updated = rest::update(
                &mut cluster.lock(),
                &target,
                request.body_json()?,
                &request.write_options(verb, None)?,
            )?;
            Ok(respond(StatusCode::OK, updated))
        }
        Verb::Patch => {
            let kind = PatchType::from_content_type(&header_value(
                &request.headers,
                header::CONTENT_TYPE,
            ))?;
            let options = request.write_options(verb, Some(kind))?;
            let body = request.body_json()?;
            let mut state = cluster.lock();
            let existed = rest::get(&state, &target).is_ok();
            if kind == PatchType::Apply && !existed && target.subresource.is_none() {
                // An apply that creates needs `create` too, as the real patch handler checks.
                let attributes = access::creating(&target);
                let decision = rbac::decide(cluster.authorization, &state.store, user, &attributes);
                if !decision.allowed {
                    return Err(ApiError::Denied {
                        resource: target.rt.qualified_resource(),
                        name: target.name.clone().unwrap_or_default(),
                        message: decision.reason,
                    });
                }
            }
            let patched = rest::patch(&mut state, &target, kind, body, &options)?;
            Ok(respond(
                if existed {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                },
                patched,
            ))
        }
        Verb::Delete => {
            let options = deletion::options(&request.body_json()?, &request.query)?;
            let deleted = deletion::delete(&mut cluster.lock(), &target, &options)?;
            Ok(respond(StatusCode::OK, deleted))
        }
        Verb::DeleteCollection => {
            let list_options = request.list_options(&target)?;
            let options = deletion::options(&request.body_json()?, &request.query)?;
            let deleted =
                deletion::delete_collection(&mut cluster.lock(), &target, &list_options, &options)?;
            Ok(ok(&deleted))
        }
    }
}

fn table_response(table: &Value) -> Response {
    json_response(
        StatusCode::OK,
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        table,
    )
}
