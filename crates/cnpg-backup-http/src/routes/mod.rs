//! The routes and the layers around them.

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, PROXY_AUTHORIZATION};
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use cnpg_backup_core::restore::intent::INTENT_MAX_BYTES;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::problem::{PROBLEM_JSON, Problem};
use crate::state::ApiState;

pub mod backup;
pub mod restore;

/// The routes with their OpenAPI description, before state and layers.
pub(crate) fn api(multipart_overhead: usize) -> OpenApiRouter<ApiState> {
    let intent_limit = INTENT_MAX_BYTES + multipart_overhead;
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(backup::status))
        .routes(routes!(backup::get_settings, backup::put_settings))
        .routes(routes!(backup::reconcile))
        .routes(routes!(backup::preflight))
        .routes(routes!(backup::backup_now))
        .routes(routes!(backup::schedule_preview))
        .routes(routes!(backup::retention_check))
        .routes(routes!(backup::catalog))
        .routes(routes!(backup::versions))
        .routes(routes!(restore::plan))
        .routes(routes!(restore::create, restore::list))
        .routes(routes!(restore::create_from_intent).layer(DefaultBodyLimit::max(intent_limit)))
        .routes(routes!(restore::get))
        .routes(routes!(restore::events))
        .routes(routes!(restore::refresh))
        .routes(routes!(restore::apply))
        .routes(routes!(restore::abandon))
        .routes(routes!(restore::cleanup))
        .routes(routes!(restore::retry))
}

/// Turns any error response that is not yet a problem document (a timeout, a method not
/// allowed, a rejection of axum's own extractors) into one, keeping its status.
async fn problem_documents(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (category, default) = match status {
        StatusCode::NOT_FOUND => ("no_route", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ("no_route", "this route does not take that method"),
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => (
            "timeout",
            "the request took too long; a step it started goes on: check the restore",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported media type"),
        s if s.is_client_error() => ("invalid", "the request is invalid"),
        _ => ("internal", "internal error"),
    };
    let detail = if text.is_empty() {
        default.to_owned()
    } else {
        text
    };
    let mut out = Problem::http(status, category, detail).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

fn csrf_refusal(e: tower_http::csrf::ProtectionError) -> Response<Body> {
    Problem::forbidden(format!(
        "cross-origin request refused ({e}): a page on another origin may not change anything here"
    ))
    .hint("call the API from the same origin, or start the server with that origin allowed")
    .into_response()
}

/// The router over `state`: every route, then the layers (request id, tracing with the
/// credentials hidden, opt-in CORS, cross-origin protection, timeout, body limit, problem
/// documents for every error).
pub fn router(state: ApiState) -> Router {
    let config = state.config().clone();
    let (routes, api) = api(config.multipart_overhead).split_for_parts();
    let document = crate::openapi::finish(api, config.mounted_at.as_deref());
    let routes = routes
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { Json(document) }
            }),
        )
        .fallback(|| async {
            Problem::http(StatusCode::NOT_FOUND, "no_route", "no such route").into_response()
        })
        .with_state(state);
    let mut csrf = CsrfLayer::new();
    for origin in &config.allowed_origins {
        match csrf.clone().add_trusted_origin(origin) {
            Ok(c) => csrf = c,
            Err(e) => tracing::warn!(origin, error = %e, "ignoring an allowed origin"),
        }
    }
    let csrf = csrf.with_rejection_response(csrf_refusal);
    let mut app = routes
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(axum::middleware::map_response(problem_documents))
        .layer(csrf);
    if !config.allowed_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PUT])
                .allow_headers([AUTHORIZATION, CONTENT_TYPE]),
        );
    }
    app.layer(
        TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
        }),
    )
    .layer(SetSensitiveRequestHeadersLayer::new([
        AUTHORIZATION,
        PROXY_AUTHORIZATION,
        COOKIE,
    ]))
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
