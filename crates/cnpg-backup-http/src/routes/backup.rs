//! Backup routes: status, settings, reconcile, preflight, backup now, schedule preview,
//! retention check, catalogs, versions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cnpg_backup_app::openapi::BackupSettingsSchema;
use cnpg_backup_app::schedule::{PresetKind, ScheduleChoice, Spelling};
use cnpg_backup_app::views::{
    BackupNowView, Catalog, ConfigShow, Preflight, ReconcileView, RetentionCheck, SchedulePreview,
    Status, VersionsView,
};
use cnpg_backup_app::{AppError, settings};
use cnpg_backup_core::automation::BackupSettings;
use cnpg_backup_core::names::{Plane, ServerName};
use cnpg_backup_core::retention::RetentionPolicy;
use cnpg_backup_core::schedule::Weekday;
use cnpg_backup_core::service::CatalogScope;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Allowed, CreateBackups, GetSettings, ListBackups, UpdateSettings};
use crate::extract::{ApiJson, ApiQuery, OptionalJson};
use crate::problem::{Problem, Problems};
use crate::state::ApiState;

/// The settings and what they derive.
async fn config_show(state: &ApiState) -> Result<ConfigShow, Problem> {
    let s = state
        .backend()
        .backups
        .settings()
        .await
        .map_err(|e| cnpg_backup_app::error::service_error(&e))?;
    let plan = settings::check(&s)?;
    Ok(ConfigShow::new(&s, &plan))
}

/// Reconcile and preflight badges: state, last reconcile time, error text, plan warnings,
/// preflight steps.
#[utoipa::path(get, path = "/status", tag = "backup",
    description = "Needs `get` on `settings`.",
    responses(
        (status = 200, description = "The last reconcile and the last preflight", body = Status),
        Problems,
    ))]
pub async fn status(
    _: Allowed<GetSettings>,
    State(state): State<ApiState>,
) -> Result<Json<Status>, Problem> {
    Ok(Json(state.backend().status().await?))
}

/// The stored settings and what they derive (cron, Barman retention, destination path, each
/// plane's archive server, warnings).
#[utoipa::path(get, path = "/settings", tag = "backup",
    description = "Needs `get` on `settings`. 400 when no settings were saved yet.",
    responses(
        (status = 200, description = "The settings", body = ConfigShow),
        Problems,
    ))]
pub async fn get_settings(
    _: Allowed<GetSettings>,
    State(state): State<ApiState>,
) -> Result<Json<ConfigShow>, Problem> {
    Ok(Json(config_show(&state).await?))
}

/// Saves backup automation: validated (every field, the target for its provider, the plan)
/// before anything is stored. Applying them is `POST reconcile` (or the control loop's).
#[utoipa::path(put, path = "/settings", tag = "backup",
    description = "Needs `update` on `settings`. The body is the settings document, as `cnpg-backup config show -o json` prints under `settings`; a refusal names the field.",
    request_body(content = BackupSettingsSchema, content_type = "application/json"),
    responses(
        (status = 200, description = "The saved settings", body = ConfigShow),
        Problems,
    ))]
pub async fn put_settings(
    _: Allowed<UpdateSettings>,
    State(state): State<ApiState>,
    ApiJson(s): ApiJson<BackupSettings>,
) -> Result<Json<ConfigShow>, Problem> {
    // Checked here too, so a refusal comes before the step starts, naming the section at fault.
    settings::check(&s).map_err(|e| {
        let field = if cnpg_backup_kube::storage::validate_target(&s.target).is_err() {
            "target"
        } else {
            "automation"
        };
        Problem::from(e).field(field)
    })?;
    let b = state.backend().clone();
    state.step(async move { b.save_settings(&s).await }).await?;
    Ok(Json(config_show(&state).await?))
}

/// Applies the saved settings once: backup configuration and ScheduledBackups. Answers 200
/// with the status whenever the reconcile ran; its `state` says how it went.
#[utoipa::path(post, path = "/reconcile", tag = "backup",
    description = "Needs `update` on `settings`.",
    responses(
        (status = 200, description = "The reconcile status (`state` ok or error)", body = ReconcileView),
        Problems,
    ))]
pub async fn reconcile(
    _: Allowed<UpdateSettings>,
    State(state): State<ApiState>,
) -> Result<Json<ReconcileView>, Problem> {
    let b = state.backend().clone();
    let s = state.step(async move { b.run_reconcile().await }).await?;
    Ok(Json(ReconcileView::from(&s)))
}

/// Options of a preflight.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreflightBody {
    /// Skip the write probe (nothing is written to the bucket).
    #[serde(default)]
    pub read_only: bool,
    /// Archive server names a restore would write to: check their WAL archives are empty.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub restore_servers: Vec<ServerName>,
}

/// Checks the bucket step by step (never touches a database). Answers 200 with the report
/// whenever the preflight ran; its `state` says whether every step passed.
#[utoipa::path(post, path = "/preflight", tag = "backup",
    description = "Needs `update` on `settings` (the report is stored; the write probe writes and removes one object). The body is optional.",
    request_body(content = Option<PreflightBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "The preflight report (`state` ok or failed)", body = Preflight),
        Problems,
    ))]
pub async fn preflight(
    _: Allowed<UpdateSettings>,
    State(state): State<ApiState>,
    OptionalJson(body): OptionalJson<PreflightBody>,
) -> Result<Json<Preflight>, Problem> {
    let b = state.backend().clone();
    let report = state
        .step(async move { b.run_preflight(body.read_only, body.restore_servers).await })
        .await?;
    Ok(Json(Preflight::from(&report)))
}

/// Takes one on-demand backup of every plane in scope now, under one backup-set id.
#[utoipa::path(post, path = "/backups", tag = "backup",
    description = "Needs `create` on `backups`. Refused (409) when automation is disabled, the target is not used for backups, or a backup is still running.",
    responses(
        (status = 201, description = "The backups created", body = BackupNowView),
        Problems,
    ))]
pub async fn backup_now(
    _: Allowed<CreateBackups>,
    State(state): State<ApiState>,
) -> Result<(StatusCode, Json<BackupNowView>), Problem> {
    let b = state.backend().clone();
    let view = state.step(async move { b.run_backup_now().await }).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A preset name.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresetParam {
    /// Every hour at `minute`.
    Hourly,
    /// Every `every` hours at `minute`.
    EveryNHours,
    /// Every day at `hour`:`minute` UTC.
    Daily,
    /// Every week on `weekday` at `hour`:`minute` UTC.
    Weekly,
}

/// `GET schedule/preview`: a preset and its parameters, or a raw cron.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// A preset (or give `cron`).
    #[param(inline)]
    pub preset: Option<PresetParam>,
    /// Hours between runs (every_n_hours, 1 to 23).
    pub every: Option<u8>,
    /// Hour, UTC (daily, weekly; default 0).
    pub hour: Option<u8>,
    /// Minute (default 0).
    pub minute: Option<u8>,
    /// Day of the week (weekly): sun, mon, tue, wed, thu, fri, sat.
    #[param(value_type = Option<String>)]
    pub weekday: Option<Weekday>,
    /// A raw CNPG cron expression: six fields, seconds first (instead of a preset).
    pub cron: Option<String>,
    /// Start from this time (RFC 3339; default now).
    pub from: Option<String>,
    /// How many fire times (1 to 1000, default 5).
    pub count: Option<u16>,
}

/// The six-field cron a schedule compiles to, its next fire times (UTC), the preset it is, and
/// warnings (e.g. the five-field "did you mean").
#[utoipa::path(get, path = "/schedule/preview", tag = "backup",
    description = "Needs `get` on `settings`. Changes nothing.",
    params(PreviewQuery),
    responses(
        (status = 200, description = "The preview", body = SchedulePreview),
        Problems,
    ))]
pub async fn schedule_preview(
    _: Allowed<GetSettings>,
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> Result<Json<SchedulePreview>, Problem> {
    let from = match &q.from {
        // The backend's clock: the simulator's on the embedded default, so the preview agrees
        // with the status's next runs.
        None => state.backend().clock.now(),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| {
                Problem::invalid_field(
                    "from",
                    format!(
                        "`from` `{s}` is not an RFC 3339 time such as `2026-11-26T02:00:00Z`: {e}"
                    ),
                )
            })?
            .with_timezone(&Utc),
    };
    let count = q.count.unwrap_or(5);
    if !(1..=1000).contains(&count) {
        return Err(Problem::invalid_field(
            "count",
            format!("`count` {count} is out of range: give 1 to 1000"),
        ));
    }
    let mut choice = ScheduleChoice::default();
    choice.preset = q.preset.map(|p| match p {
        PresetParam::Hourly => PresetKind::Hourly,
        PresetParam::EveryNHours => PresetKind::EveryNHours,
        PresetParam::Daily => PresetKind::Daily,
        PresetParam::Weekly => PresetKind::Weekly,
    });
    choice.every = q.every;
    choice.hour = q.hour;
    choice.minute = q.minute;
    choice.weekday = q.weekday;
    choice.cron = q.cron.clone();
    let preset = choice.preset(Spelling::Fields)?;
    Ok(Json(SchedulePreview::of(
        &preset,
        from,
        usize::from(count),
    )?))
}

/// `GET retention/check`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RetentionQuery {
    /// The value: `30d`, `4w`, `3m`.
    pub value: String,
}

/// Checks a retention value and shows Barman's form of it.
#[utoipa::path(get, path = "/retention/check", tag = "backup",
    description = "Needs `get` on `settings`. Changes nothing.",
    params(RetentionQuery),
    responses(
        (status = 200, description = "The canonical value and Barman's form", body = RetentionCheck),
        Problems,
    ))]
pub async fn retention_check(
    _: Allowed<GetSettings>,
    ApiQuery(q): ApiQuery<RetentionQuery>,
) -> Result<Json<RetentionCheck>, Problem> {
    let policy: RetentionPolicy = q
        .value
        .parse()
        .map_err(|e| Problem::from(AppError::invalid(&e)).field("value"))?;
    Ok(Json(RetentionCheck::of(&policy)))
}

/// Which planes.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaneParam {
    /// The admin plane.
    Admin,
    /// The tenant plane.
    Tenant,
    /// Both planes (the default).
    #[default]
    Both,
}

/// Where a catalog comes from.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceParam {
    /// The cluster's Backup objects, storage presence checked in the bucket (the default).
    #[default]
    Cluster,
    /// The bucket alone, through the stored target (credentials from its Secrets).
    Bucket,
}

/// `GET catalog`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    /// `admin`, `tenant` or `both` (default; with `source=bucket` and no plane: every server
    /// under the path).
    #[param(inline)]
    pub plane: Option<PlaneParam>,
    /// `cluster` (default) or `bucket`.
    #[param(inline)]
    pub source: Option<SourceParam>,
}

/// Backups, newest first, with storage presence and named-restore readiness.
#[utoipa::path(get, path = "/catalog", tag = "restore",
    description = "Needs `list` on `backups`.",
    params(CatalogQuery),
    responses(
        (status = 200, description = "The rows, newest first", body = Catalog),
        Problems,
    ))]
pub async fn catalog(
    _: Allowed<ListBackups>,
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<CatalogQuery>,
) -> Result<Json<Catalog>, Problem> {
    let planes = |p: PlaneParam| match p {
        PlaneParam::Admin => vec![Plane::Admin],
        PlaneParam::Tenant => vec![Plane::Tenant],
        PlaneParam::Both => Plane::ALL.to_vec(),
    };
    let b = state.backend();
    let rows = match q.source.unwrap_or_default() {
        SourceParam::Cluster => {
            let scope = match q.plane.unwrap_or_default() {
                PlaneParam::Admin => CatalogScope::Plane(Plane::Admin),
                PlaneParam::Tenant => CatalogScope::Plane(Plane::Tenant),
                PlaneParam::Both => CatalogScope::Both,
            };
            b.catalog_rows(scope).await?
        }
        SourceParam::Bucket => {
            let ps = q.plane.map(planes);
            b.bucket_catalog_rows(ps.as_deref()).await?
        }
    };
    Ok(Json(Catalog(rows)))
}

/// The running app version and each backup's drift from it, with the version policies that
/// allow restoring it by name.
#[utoipa::path(get, path = "/versions", tag = "restore",
    description = "Needs `list` on `backups`.",
    responses(
        (status = 200, description = "Version hints", body = VersionsView),
        Problems,
    ))]
pub async fn versions(
    _: Allowed<ListBackups>,
    State(state): State<ApiState>,
) -> Result<Json<VersionsView>, Problem> {
    Ok(Json(state.backend().versions().await?))
}
