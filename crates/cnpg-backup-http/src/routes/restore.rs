//! Restore routes: plan, stage one (JSON or an uploaded intent), list, get, events, refresh,
//! stage two, abandon, cleanup, retry.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cnpg_backup_app::error::ack_error;
use cnpg_backup_app::openapi::RestoreRequestSchema;
use cnpg_backup_app::request::{check_offline, generated_id, parse_intent_document};
use cnpg_backup_app::views::{RestoreList, RestorePlanView, RestoreView};
use cnpg_backup_app::{AppError, Backend};
use cnpg_backup_core::names::RestoreId;
use cnpg_backup_core::restore::intent::INTENT_MAX_BYTES;
use cnpg_backup_core::restore::{RestoreRecord, RestoreRequest, StageOneAck, StageTwoAck};
use futures::Stream;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Allowed, ApplyRestore, CreateRestores, GetRestore, ListRestores, UpdateRestore};
use crate::events::{Snapshot, gone_problem};
use crate::extract::{ApiJson, restore_id};
use crate::problem::{Problem, Problems};
use crate::state::ApiState;

/// `POST restores/plan`: a restore request, checked by every guard, changing nothing.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanBody {
    /// The restore id (default: `r-<UTC time>`).
    #[schema(value_type = Option<String>)]
    pub id: Option<RestoreId>,
    /// The request: mode, sources, options (as in a restore intent's `spec`).
    #[schema(value_type = RestoreRequestSchema)]
    pub request: RestoreRequest,
}

/// `POST restores`: stage one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    /// The restore id (default: `r-<UTC time>`).
    #[schema(value_type = Option<String>)]
    pub id: Option<RestoreId>,
    /// The request: mode, sources, options (as in a restore intent's `spec`).
    #[schema(value_type = RestoreRequestSchema)]
    pub request: RestoreRequest,
    /// The stage-one sentence, exactly.
    pub acknowledgement: Option<String>,
}

/// `POST restores/{id}/apply`: stage two.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyBody {
    /// The stage-two sentence, exactly.
    pub acknowledgement: Option<String>,
}

/// The multipart form of `POST restores/intent`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct IntentUpload {
    /// The restore intent document (JSON, UTF-8 without BOM, at most 64 KiB).
    #[schema(value_type = String, format = Binary)]
    intent: Vec<u8>,
    /// The restore id (default: the intent's `restoreId`, else `r-<UTC time>`).
    id: Option<String>,
    /// The stage-one sentence (default: the intent's `acknowledgements.stageOne`).
    acknowledgement: Option<String>,
}

fn id_or_generated(state: &ApiState, id: Option<RestoreId>) -> RestoreId {
    id.unwrap_or_else(|| generated_id(state.backend().clock.now()))
}

fn created(record: &cnpg_backup_core::restore::RestoreRecord) -> Response {
    let view = RestoreView::new(record);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("restores/{}", view.id)) {
        headers.insert(LOCATION, v);
    }
    (StatusCode::CREATED, headers, Json(view)).into_response()
}

/// Everything a restore would create or delete, and every guard's verdict. Changes nothing.
#[utoipa::path(post, path = "/restores/plan", tag = "restore",
    description = "Needs `create` on `restores` (it is a dry run of stage one). 400: invalid request (the problem names the field); 422: a guard refuses (drift, set mismatch, names clash).",
    request_body(content = PlanBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The plan", body = RestorePlanView),
        Problems,
    ))]
pub async fn plan(
    _: Allowed<CreateRestores>,
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Json<RestorePlanView>, Problem> {
    check_offline(&body.request).map_err(|e| Problem::from(e).field("request"))?;
    let id = id_or_generated(&state, body.id);
    let plan = state.backend().restore_plan(&id, &body.request).await?;
    Ok(Json(RestorePlanView::new(&id, &plan)))
}

/// Stage one: creates the temporary recovery clusters, after the exact acknowledgement.
#[utoipa::path(post, path = "/restores", tag = "restore",
    description = "Needs `create` on `restores`. Without the exact stage-one sentence in `acknowledgement`: 422, nothing created; a guard's refusal is 422 too. 400: invalid request (the problem names the field); 409: the id exists.",
    request_body(content = CreateBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The restore record", body = RestoreView),
        Problems,
    ))]
pub async fn create(
    caller: Allowed<CreateRestores>,
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, Problem> {
    check_offline(&body.request).map_err(|e| Problem::from(e).field("request"))?;
    let ack = StageOneAck::verify(body.acknowledgement.as_deref().unwrap_or_default())
        .map_err(|e| Problem::from(ack_error(&e)).field("acknowledgement"))?;
    let id = id_or_generated(&state, body.id);
    let b = state.backend().clone();
    let actor = caller.actor();
    let request = body.request;
    let at = id.clone();
    let record = state
        .step(async move { b.restore_create(&at, &request, &ack, actor).await })
        .await;
    state.events().notify(&id);
    Ok(created(&record?))
}

/// Reads one multipart field, at most `max` bytes (one more is read so "too large" can be told
/// from "exactly the limit").
async fn field_bytes(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    max: usize,
) -> Result<Vec<u8>, Problem> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_problem(&e))? {
        out.extend_from_slice(&chunk);
        if out.len() > max {
            if name == "intent" {
                // The intent parser reports its own size limit.
                out.truncate(max + 1);
                break;
            }
            return Err(Problem::invalid_field(
                name,
                format!("form field `{name}` is longer than {max} bytes"),
            ));
        }
    }
    Ok(out)
}

fn multipart_problem(e: &axum::extract::multipart::MultipartError) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the upload is larger than a restore intent ({INTENT_MAX_BYTES} bytes) and its form fields"
            ),
        )
    } else {
        Problem::invalid_field(
            "",
            format!("the multipart form is malformed: {}", e.body_text()),
        )
    }
}

fn text_field(bytes: Vec<u8>, name: &str) -> Result<String, Problem> {
    String::from_utf8(bytes)
        .map(|s| s.trim().to_owned())
        .map_err(|_| Problem::invalid_field(name, format!("form field `{name}` is not UTF-8 text")))
}

/// Stage one from an uploaded restore intent document (the same rules as `cnpg-backup intent
/// validate`: JSON, UTF-8 without BOM, at most 64 KiB).
#[utoipa::path(post, path = "/restores/intent", tag = "restore",
    description = "Needs `create` on `restores`. A `multipart/form-data` upload: field `intent` (the document), optional `id` and `acknowledgement` (otherwise the intent's own). Without the exact stage-one sentence: 422, nothing created. 400: an invalid intent (line, column and field); 413: an upload larger than an intent and its fields.",
    request_body(content = IntentUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The restore record", body = RestoreView),
        Problems,
    ))]
pub async fn create_from_intent(
    caller: Allowed<CreateRestores>,
    State(state): State<ApiState>,
    mut form: Multipart,
) -> Result<Response, Problem> {
    let mut intent = None;
    let mut id = None;
    let mut ack = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| multipart_problem(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "intent" => intent = Some(field_bytes(&mut field, "intent", INTENT_MAX_BYTES).await?),
            "id" => id = Some(text_field(field_bytes(&mut field, "id", 256).await?, "id")?),
            "acknowledgement" => {
                ack = Some(text_field(
                    field_bytes(&mut field, "acknowledgement", 1024).await?,
                    "acknowledgement",
                )?);
            }
            other => {
                return Err(Problem::invalid_field(
                    other,
                    format!(
                        "unknown form field `{}`; expected `intent`, `id`, `acknowledgement`",
                        other.chars().take(64).collect::<String>()
                    ),
                ));
            }
        }
    }
    let bytes =
        intent.ok_or_else(|| Problem::invalid_field("intent", "the form has no `intent` field"))?;
    let doc =
        parse_intent_document(&bytes, "upload").map_err(|e| Problem::from(e).field("intent"))?;
    let id = match id.filter(|s| !s.is_empty()) {
        Some(s) => Some(restore_id(&s)?),
        None => doc.restore_id.clone(),
    };
    let text = ack.filter(|s| !s.is_empty()).or_else(|| {
        doc.acknowledgements
            .as_ref()
            .and_then(|a| a.stage_one.clone())
    });
    let ack = StageOneAck::verify(text.as_deref().unwrap_or_default())
        .map_err(|e| Problem::from(ack_error(&e)).field("acknowledgement"))?;
    let id = id_or_generated(&state, id);
    let b = state.backend().clone();
    let actor = caller.actor();
    let request = doc.spec;
    let at = id.clone();
    let record = state
        .step(async move { b.restore_create(&at, &request, &ack, actor).await })
        .await;
    state.events().notify(&id);
    Ok(created(&record?))
}

/// Every restore, newest first.
#[utoipa::path(get, path = "/restores", tag = "restore",
    description = "Needs `list` on `restores`.",
    responses(
        (status = 200, description = "The restores", body = RestoreList),
        Problems,
    ))]
pub async fn list(
    _: Allowed<ListRestores>,
    State(state): State<ApiState>,
) -> Result<Json<RestoreList>, Problem> {
    let all = state.backend().restore_list().await?;
    Ok(Json(RestoreList(
        all.iter().map(RestoreView::new).collect(),
    )))
}

/// One restore's record as stored (no observation: see `refresh`).
#[utoipa::path(get, path = "/restores/{id}", tag = "restore",
    description = "Needs `get` on the restore. 404: no such restore.",
    params(("id" = String, Path, description = "The restore id")),
    responses(
        (status = 200, description = "The restore", body = RestoreView),
        Problems,
    ))]
pub async fn get(
    _: Allowed<GetRestore>,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
) -> Result<Json<RestoreView>, Problem> {
    let id = restore_id(&raw)?;
    Ok(Json(RestoreView::new(
        &state.backend().restore_get(&id).await?,
    )))
}

/// Server-sent events of each change of a restore: the record at once (event `restore`), then
/// each change; the stream ends after a settled phase (`ready_for_promotion_checks`,
/// `completed`, `failed`, `abandoned`), at shutdown, or with an `error` event if the restore
/// disappears.
#[utoipa::path(get, path = "/restores/{id}/events", tag = "restore",
    description = "Needs `get` on the restore. `text/event-stream`: events `restore` (data: the restore document) and `error` (data: a problem document).",
    params(("id" = String, Path, description = "The restore id")),
    responses(
        (status = 200, description = "The event stream", body = RestoreView, content_type = "text/event-stream"),
        Problems,
    ))]
pub async fn events(
    _: Allowed<GetRestore>,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let id = restore_id(&raw)?;
    // A 404 now is an HTTP answer; once streaming, it is an `error` event.
    state.backend().restore_get(&id).await?;
    let rx = state.events().subscribe(state.backend().clone(), id);
    let shutdown = state.shutdown().clone();
    struct Follow {
        rx: tokio::sync::watch::Receiver<Snapshot>,
        shutdown: tokio_util::sync::CancellationToken,
        last: Option<String>,
        seq: u64,
        done: bool,
    }
    let start = Follow {
        rx,
        shutdown,
        last: None,
        seq: 0,
        done: false,
    };
    let stream = futures::stream::unfold(start, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            let snapshot = f.rx.borrow_and_update().clone();
            match snapshot {
                Snapshot::Pending => {}
                Snapshot::Record { view, settled } => {
                    let data = serde_json::to_string(&view).unwrap_or_default();
                    if f.last.as_deref() != Some(data.as_str()) {
                        f.last = Some(data.clone());
                        f.seq += 1;
                        f.done = settled;
                        let event = Event::default()
                            .event("restore")
                            .id(f.seq.to_string())
                            .data(data);
                        return Some((Ok(event), f));
                    }
                }
                Snapshot::Gone(e) => {
                    f.done = true;
                    let data = serde_json::to_string(&gone_problem(&e)).unwrap_or_default();
                    return Some((Ok(Event::default().event("error").data(data)), f));
                }
            }
            tokio::select! {
                changed = f.rx.changed() => if changed.is_err() { return None },
                () = f.shutdown.cancelled() => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Observes the recovery clusters now and advances the restore as far as it goes ("check
/// readiness now"; what `cnpg-backup restore status` does).
#[utoipa::path(post, path = "/restores/{id}/refresh", tag = "restore",
    description = "Needs `update` on the restore. Takes no acknowledgement: it only moves a restore along steps already acknowledged. 404: no such restore; 409: changed meanwhile, retry.",
    params(("id" = String, Path, description = "The restore id")),
    responses(
        (status = 200, description = "The restore", body = RestoreView),
        Problems,
    ))]
pub async fn refresh(
    _: Allowed<UpdateRestore>,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
) -> Result<Json<RestoreView>, Problem> {
    restore_step(&state, &raw, None, |b, id| async move {
        b.restore_refresh(&id).await
    })
    .await
}

/// Refuses with 429 when `route` was called too often for restore `id`.
fn limit(state: &ApiState, route: &str, id: &RestoreId) -> Result<(), Problem> {
    state
        .limiter()
        .check(&format!("{route}/{id}"))
        .map_err(|wait| {
            Problem::rate_limited(
                format!("`{route}` of restore `{id}` was asked too often; nothing was done"),
                wait.as_secs_f64().ceil() as u64,
            )
        })
}

/// A step on an existing restore: the id checked, the route's rate limit for destructive ones,
/// the operation run as a tracked step, streams following the restore woken.
async fn restore_step<F, Fut>(
    state: &ApiState,
    raw: &str,
    limited: Option<&str>,
    op: F,
) -> Result<Json<RestoreView>, Problem>
where
    F: FnOnce(Arc<Backend>, RestoreId) -> Fut,
    Fut: Future<Output = Result<RestoreRecord, AppError>> + Send + 'static,
{
    let id = restore_id(raw)?;
    if let Some(route) = limited {
        limit(state, route, &id)?;
    }
    let r = state.step(op(state.backend().clone(), id.clone())).await;
    state.events().notify(&id);
    Ok(Json(RestoreView::new(&r?)))
}

/// Stage two: replaces the live clusters from the ready recovery clusters, after the exact
/// second acknowledgement.
#[utoipa::path(post, path = "/restores/{id}/apply", tag = "restore",
    description = "Needs `create` on `restores/apply` for the restore. Without the exact stage-two sentence in `acknowledgement`: 422, nothing done. 409: not ready for promotion checks. Rate-limited (429 with Retry-After).",
    params(("id" = String, Path, description = "The restore id")),
    request_body(content = ApplyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The restore", body = RestoreView),
        Problems,
    ))]
pub async fn apply(
    caller: Allowed<ApplyRestore>,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ApplyBody>,
) -> Result<Json<RestoreView>, Problem> {
    let ack = StageTwoAck::verify(body.acknowledgement.as_deref().unwrap_or_default())
        .map_err(|e| Problem::from(ack_error(&e)).field("acknowledgement"))?;
    let actor = caller.actor();
    restore_step(&state, &raw, Some("apply"), move |b, id| async move {
        b.restore_apply(&id, &ack, actor).await
    })
    .await
}

/// Stops a restore before stage two: removes its recovery clusters, leaves live untouched.
#[utoipa::path(post, path = "/restores/{id}/abandon", tag = "restore",
    description = "Needs `update` on the restore. 422 once a live cluster may have been deleted. Rate-limited (429 with Retry-After).",
    params(("id" = String, Path, description = "The restore id")),
    responses(
        (status = 200, description = "The restore", body = RestoreView),
        Problems,
    ))]
pub async fn abandon(
    caller: Allowed<UpdateRestore>,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
) -> Result<Json<RestoreView>, Problem> {
    let actor = caller.actor();
    restore_step(&state, &raw, Some("abandon"), move |b, id| async move {
        b.restore_abandon(&id, actor).await
    })
    .await
}

/// Removes the recovery clusters a completed restore kept.
#[utoipa::path(post, path = "/restores/{id}/cleanup", tag = "restore",
    description = "Needs `update` on the restore. 422 unless the restore completed and kept its recovery clusters. Rate-limited (429 with Retry-After).",
    params(("id" = String, Path, description = "The restore id")),
    responses(
        (status = 200, description = "The restore", body = RestoreView),
        Problems,
    ))]
pub async fn cleanup(
    caller: Allowed<UpdateRestore>,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
) -> Result<Json<RestoreView>, Problem> {
    let actor = caller.actor();
    restore_step(&state, &raw, Some("cleanup"), move |b, id| async move {
        b.restore_cleanup(&id, actor).await
    })
    .await
}

/// Continues a restore that failed with a retryable error (after fixing the cause).
#[utoipa::path(post, path = "/restores/{id}/retry", tag = "restore",
    description = "Needs `update` on the restore. 422 when the failure is not retryable.",
    params(("id" = String, Path, description = "The restore id")),
    responses(
        (status = 200, description = "The restore", body = RestoreView),
        Problems,
    ))]
pub async fn retry(
    caller: Allowed<UpdateRestore>,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
) -> Result<Json<RestoreView>, Problem> {
    let actor = caller.actor();
    restore_step(&state, &raw, None, move |b, id| async move {
        b.restore_retry(&id, actor).await
    })
    .await
}
