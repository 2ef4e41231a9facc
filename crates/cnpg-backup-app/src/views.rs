//! The JSON/YAML contracts: one view type per document, camelCase field names, the same for
//! the CLI's `-o json|yaml` and the HTTP API. Renaming a field here is a breaking change for
//! scripts; the README documents each shape. Tables for people are the CLI's business.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use cnpg_backup_core::schedule::SchedulePreset;

/// RFC 3339 UTC with a `Z`, second precision unless the time has a fraction.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `schedule preview`: `{"cron", "preset", "next", "warnings"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SchedulePreview {
    /// The six-field expression CNPG receives.
    pub cron: String,
    /// The preset the schedule is (null for a cron no preset produces).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::SchedulePresetSchema>))]
    pub preset: Option<SchedulePreset>,
    /// The next fire times, RFC 3339 UTC.
    pub next: Vec<String>,
    /// Sentences about the schedule a user should know.
    pub warnings: Vec<String>,
    /// The schedule in words (tables only).
    #[serde(skip)]
    pub description: String,
}

impl SchedulePreview {
    /// The preview of `preset`: its six-field cron, the preset it is (for a custom cron that a
    /// preset produces too), the next `count` fire times after `from`, and its warnings.
    ///
    /// # Errors
    /// Invalid input when the preset does not compile to a cron CNPG accepts.
    pub fn of(
        preset: &SchedulePreset,
        from: DateTime<Utc>,
        count: usize,
    ) -> Result<Self, crate::AppError> {
        let cron = preset.cron().map_err(|e| crate::AppError::invalid(&e))?;
        let shown_preset = match preset {
            SchedulePreset::Custom { cron } => cron.preset(),
            other => Some(other.clone()),
        };
        Ok(SchedulePreview {
            // The six-field expression CNPG runs (`@daily` → `0 0 0 * * *`); only
            // `@every <dur>`, which has no six-field form, is shown as written.
            cron: cron.six_field().unwrap_or_else(|| cron.to_string()),
            preset: shown_preset,
            next: cron
                .next_runs(from, count)
                .into_iter()
                .map(rfc3339)
                .collect(),
            warnings: preset.warnings().into_iter().map(|w| w.message).collect(),
            description: cron.describe(),
        })
    }
}

/// `retention check`: `{"value", "barman"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RetentionCheck {
    /// The canonical value, e.g. `30d`.
    pub value: String,
    /// Barman's form, e.g. `RECOVERY WINDOW OF 30 DAYS`.
    pub barman: String,
}

impl RetentionCheck {
    /// The check of a valid policy.
    pub fn of(policy: &cnpg_backup_core::retention::RetentionPolicy) -> Self {
        Self {
            value: policy.to_string(),
            barman: policy.barman(),
        }
    }
}

/// One plane as `config show` and `plan` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlanePlanView {
    /// The plane.
    pub plane: String,
    /// Its live cluster.
    pub cluster: String,
    /// Archive server name.
    pub server_name: String,
    /// Barman destination path.
    pub destination_path: String,
    /// Method.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::BackupMethodSchema))]
    pub method: cnpg_backup_core::automation::BackupMethod,
    /// The plugin's ObjectStore name (plugin method).
    pub object_store: Option<String>,
    /// The ScheduledBackup name (null when automation is disabled).
    pub scheduled_backup: Option<String>,
    /// Its six-field cron.
    pub schedule: Option<String>,
    /// Barman retention.
    pub retention: String,
}

impl From<&cnpg_backup_core::automation::PlaneBackupPlan> for PlanePlanView {
    fn from(p: &cnpg_backup_core::automation::PlaneBackupPlan) -> Self {
        Self {
            plane: p.plane.to_string(),
            cluster: p.cluster.to_string(),
            server_name: p.server_name.to_string(),
            destination_path: p.destination_path.clone(),
            method: p.method,
            object_store: p.object_store_name.as_ref().map(ToString::to_string),
            scheduled_backup: p.scheduled_backup.as_ref().map(|s| s.name.to_string()),
            schedule: p.scheduled_backup.as_ref().map(|s| s.schedule.to_string()),
            retention: p.retention.barman(),
        }
    }
}

/// `config show` / `config validate`: the settings and what they derive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConfigShow {
    /// The settings as read.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::BackupSettingsSchema))]
    pub settings: cnpg_backup_core::automation::BackupSettings,
    /// The six-field cron the schedule compiles to.
    pub cron: String,
    /// Barman's retention form.
    pub retention: String,
    /// Barman destination path.
    pub destination_path: String,
    /// Planes in scope.
    pub planes: Vec<PlanePlanView>,
    /// Warnings about the schedule.
    pub warnings: Vec<String>,
}

impl ConfigShow {
    /// The view of `settings` and their plan.
    pub fn new(
        settings: &cnpg_backup_core::automation::BackupSettings,
        plan: &cnpg_backup_core::automation::AutomationPlan,
    ) -> Self {
        let a = &settings.automation;
        Self {
            settings: settings.clone(),
            cron: a.schedule.cron().map(|c| c.to_string()).unwrap_or_default(),
            retention: a.retention.barman(),
            destination_path: settings.target.destination_path(),
            planes: plan.planes.iter().map(PlanePlanView::from).collect(),
            warnings: a
                .schedule
                .warnings()
                .into_iter()
                .map(|w| w.message)
                .collect(),
        }
    }
}

/// One row of `catalog -o json`: a backup, newest first; unknown values are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CatalogRow {
    /// Backup object name (bucket source: Barman's backup name, else the backup id).
    pub name: String,
    /// `admin`, `tenant`, or null for a server that belongs to no plane.
    pub plane: Option<String>,
    /// The cluster (bucket source: null).
    pub cluster: Option<String>,
    /// Barman backup id.
    pub backup_id: Option<String>,
    /// Archive server name.
    pub server_name: Option<String>,
    /// PostgreSQL timeline.
    pub timeline: Option<u32>,
    /// CNPG phase (`completed`, `failed`, `running`...; bucket source: from Barman's status).
    pub phase: Option<String>,
    /// When it began, RFC 3339 UTC.
    pub started_at: Option<String>,
    /// When it ended, RFC 3339 UTC.
    pub ended_at: Option<String>,
    /// App version recorded on the backup.
    pub app_version: Option<String>,
    /// Backup-set id pairing admin and tenant backups.
    pub backup_set_id: Option<String>,
    /// `present`, `missing` or `unknown`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::StoragePresenceSchema))]
    pub storage: cnpg_backup_core::catalog::StoragePresence,
    /// Whether it can be used for a named restore now.
    pub named_restore_ready: bool,
    /// Why not (empty when ready).
    pub not_ready_reasons: Vec<String>,
    /// Why the backup failed (the Backup's `status.error`; bucket source: Barman's `error`), or
    /// why its `backup.info` could not be read (bucket source), else null.
    pub error: Option<String>,
    /// What could not be read without failing the row (bucket source: a provenance record
    /// that is unreadable, too large or denied, whose columns are then null). Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn reason_name(r: &cnpg_backup_core::catalog::NotReadyReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{r:?}"))
}

impl CatalogRow {
    /// A row for a record and the reasons it is not ready.
    pub fn from_record(
        r: &cnpg_backup_core::catalog::BackupRecord,
        reasons: &[cnpg_backup_core::catalog::NotReadyReason],
    ) -> Self {
        Self {
            name: r.name.to_string(),
            plane: r.plane.map(|p| p.to_string()),
            cluster: Some(r.cluster.to_string()),
            backup_id: r.backup_id.as_ref().map(ToString::to_string),
            server_name: r.server_name.as_ref().map(ToString::to_string),
            timeline: r.timeline,
            phase: Some(r.phase.as_cnpg().to_owned()),
            started_at: r.started_at.map(rfc3339),
            ended_at: r.ended_at.map(rfc3339),
            app_version: r.app_version.as_ref().map(ToString::to_string),
            backup_set_id: r.backup_set_id.as_ref().map(ToString::to_string),
            storage: r.storage,
            named_restore_ready: reasons.is_empty(),
            not_ready_reasons: reasons.iter().map(reason_name).collect(),
            error: r.error.clone(),
            warnings: Vec::new(),
        }
    }
}

/// One backup's app version against the running one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupVersion {
    /// Backup object name.
    pub name: String,
    /// `admin` or `tenant`.
    pub plane: Option<String>,
    /// The app version recorded on the backup (null when unknown).
    pub app_version: Option<String>,
    /// `match`, `patch`, `minor`, `major`, `backup_newer` or `unknown`.
    pub drift: String,
    /// The version policies that allow a named restore of it (`exact`, `same_minor`,
    /// `same_major`, `any_older`; empty when none does without an override).
    pub allowed_by: Vec<String>,
    /// Why the default policy refuses it (null when it allows it).
    pub refusal: Option<String>,
}

/// `GET versions`: the running app version and each backup's drift from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VersionsView {
    /// The running app version (null when unknown).
    pub running: Option<String>,
    /// Where it comes from: `fixed`, `cluster_label` or `unknown`.
    pub source: String,
    /// The policy a restore uses unless it names another.
    pub default_policy: String,
    /// Both planes' backups, newest first.
    pub backups: Vec<BackupVersion>,
}

impl VersionsView {
    /// The view of the running version and the catalog entries.
    pub fn new(
        source: &cnpg_backup_core::automation::AppVersionSource,
        running: Option<&cnpg_backup_core::drift::AppVersion>,
        entries: &[cnpg_backup_core::service::CatalogEntry],
    ) -> Self {
        use cnpg_backup_core::automation::AppVersionSource;
        use cnpg_backup_core::drift::VersionPolicy;
        let policies = [
            VersionPolicy::Exact,
            VersionPolicy::SameMinor,
            VersionPolicy::SameMajor,
            VersionPolicy::AnyOlder,
        ];
        Self {
            running: running.map(ToString::to_string),
            source: match source {
                AppVersionSource::Fixed { .. } => "fixed",
                AppVersionSource::ClusterLabel { .. } => "cluster_label",
                AppVersionSource::Unknown => "unknown",
            }
            .to_owned(),
            default_policy: VersionPolicy::default().as_str().to_owned(),
            backups: entries
                .iter()
                .map(|e| {
                    let backup = e.record.app_version.as_ref();
                    BackupVersion {
                        name: e.record.name.to_string(),
                        plane: e.record.plane.map(|p| p.to_string()),
                        app_version: backup.map(ToString::to_string),
                        drift: e.drift.as_str().to_owned(),
                        allowed_by: policies
                            .iter()
                            .filter(|p| p.check(running, backup, false).is_ok())
                            .map(|p| p.as_str().to_owned())
                            .collect(),
                        refusal: VersionPolicy::default()
                            .check(running, backup, false)
                            .err()
                            .map(|r| r.to_string()),
                    }
                })
                .collect(),
        }
    }
}

/// `catalog`: the rows, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Catalog(pub Vec<CatalogRow>);

fn snake<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One preflight step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StepView {
    /// What it checks, e.g. `write_probe`.
    pub check: String,
    /// `passed`, `failed` or `skipped`.
    pub verdict: String,
    /// What was seen.
    pub detail: String,
    /// How long it took, in milliseconds.
    pub duration: u64,
}

/// `preflight`: `{state, ranAt, steps}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Preflight {
    /// `ok`, `failed` or `not_run`.
    pub state: String,
    /// When it ran.
    pub ran_at: Option<String>,
    /// The steps in order.
    pub steps: Vec<StepView>,
}

impl From<&cnpg_backup_core::status::PreflightReport> for Preflight {
    fn from(r: &cnpg_backup_core::status::PreflightReport) -> Self {
        Self {
            state: snake(&r.state),
            ran_at: r.ran_at.map(rfc3339),
            steps: r
                .steps
                .iter()
                .map(|s| StepView {
                    check: snake(&s.check),
                    verdict: snake(&s.verdict),
                    detail: s.detail.clone(),
                    duration: u64::try_from(s.duration.as_millis()).unwrap_or(u64::MAX),
                })
                .collect(),
        }
    }
}

/// `status`: reconcile, preflight, and each plane's backups at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The last reconcile.
    pub reconcile: ReconcileView,
    /// The last preflight.
    pub preflight: Preflight,
    /// Per plane: last completed backup, last failure, next run (empty before settings are
    /// saved).
    #[serde(default)]
    pub backups: Vec<PlaneBackupsView>,
}

/// A backup named and dated, in [`PlaneBackupsView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupMarkView {
    /// The Backup object.
    pub name: String,
    /// When it ended (else started), RFC 3339 UTC.
    pub at: Option<String>,
    /// Why it failed (failures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One plane's backups at a glance: `{plane, cluster, health, lastCompleted, ageSeconds,
/// lastFailure, inProgress, schedule, nextRun, intervalSeconds}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlaneBackupsView {
    /// The plane.
    pub plane: String,
    /// Its live cluster.
    pub cluster: String,
    /// `ok`, `failing` (the newest finished backup failed), `overdue` (the last completed one
    /// is older than twice the schedule interval), `no_backup_yet`, `not_scheduled`.
    pub health: String,
    /// The newest completed backup.
    pub last_completed: Option<BackupMarkView>,
    /// Seconds since it ended.
    pub age_seconds: Option<i64>,
    /// The newest failed backup and why.
    pub last_failure: Option<BackupMarkView>,
    /// A backup pending or running now.
    pub in_progress: Option<String>,
    /// `active`, `suspended`, `disabled`, `out_of_scope`.
    pub schedule: String,
    /// When the schedule fires next, RFC 3339 UTC.
    pub next_run: Option<String>,
    /// The schedule's interval (longest gap between upcoming runs), in seconds.
    pub interval_seconds: Option<i64>,
}

impl From<&cnpg_backup_core::overview::PlaneOverview> for PlaneBackupsView {
    fn from(o: &cnpg_backup_core::overview::PlaneOverview) -> Self {
        let mark = |m: &cnpg_backup_core::overview::BackupMark| BackupMarkView {
            name: m.name.to_string(),
            at: m.at.map(rfc3339),
            reason: m.reason.clone(),
        };
        Self {
            plane: o.plane.to_string(),
            cluster: o.cluster.to_string(),
            health: snake(&o.health),
            last_completed: o.last_completed.as_ref().map(mark),
            age_seconds: o.age.map(|a| a.num_seconds()),
            last_failure: o.last_failure.as_ref().map(mark),
            in_progress: o.in_progress.as_ref().map(ToString::to_string),
            schedule: snake(&o.schedule),
            next_run: o.next_run.map(rfc3339),
            interval_seconds: o.interval.map(|i| i.num_seconds()),
        }
    }
}

/// The reconcile result of one plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlaneReconcileView {
    /// The plane.
    pub plane: String,
    /// Its cluster.
    pub cluster: String,
    /// `ok` or `error`.
    pub state: String,
    /// Error text.
    pub error: Option<String>,
    /// Objects written (0 when converged).
    pub writes: u32,
}

/// `reconcile`: `{state, lastReconcile, error, planes, warnings}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReconcileView {
    /// `ok`, `error` or `not_run_yet`.
    pub state: String,
    /// When the last reconcile ran.
    pub last_reconcile: Option<String>,
    /// Error text of the last failure.
    pub error: Option<String>,
    /// Per plane.
    pub planes: Vec<PlaneReconcileView>,
    /// What the plan warned about (always present, `[]` when nothing).
    pub warnings: Vec<String>,
}

impl From<&cnpg_backup_core::status::ReconcileStatus> for ReconcileView {
    fn from(r: &cnpg_backup_core::status::ReconcileStatus) -> Self {
        Self {
            state: snake(&r.state),
            last_reconcile: r.last_reconcile.map(rfc3339),
            error: r.error.clone(),
            planes: r
                .planes
                .iter()
                .map(|p| PlaneReconcileView {
                    plane: p.plane.to_string(),
                    cluster: p.cluster.to_string(),
                    state: snake(&p.state),
                    error: p.error.clone(),
                    writes: p.writes,
                })
                .collect(),
            warnings: r.warnings.clone(),
        }
    }
}

/// One backup `backup now` created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreatedBackup {
    /// Backup object name.
    pub name: String,
    /// Plane.
    pub plane: String,
    /// Cluster.
    pub cluster: String,
    /// The set id shared by the planes of this run.
    pub backup_set_id: String,
    /// App version recorded (null when unknown).
    pub app_version: Option<String>,
}

/// `backup now`: the backups created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct BackupNowView(pub Vec<CreatedBackup>);

impl BackupNowView {
    /// From the requests the service made.
    pub fn new(requests: &[cnpg_backup_core::ports::BackupRequest]) -> Self {
        Self(
            requests
                .iter()
                .map(|r| CreatedBackup {
                    name: r.name.to_string(),
                    plane: r.plane.to_string(),
                    cluster: r.cluster.to_string(),
                    backup_set_id: r.set_id.to_string(),
                    app_version: r.app_version.as_ref().map(ToString::to_string),
                })
                .collect(),
        )
    }
}

/// What a recovery replays to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    /// `backup` or `point_in_time`.
    pub kind: String,
    /// The Backup object (named restores).
    pub backup: Option<String>,
    /// The Barman backup id (named restores; pinned base of a point in time).
    pub backup_id: Option<String>,
    /// The target time (point in time).
    pub target_time: Option<String>,
    /// In words (tables only).
    #[serde(skip)]
    pub text: String,
}

impl From<&cnpg_backup_core::restore::RecoveryTarget> for TargetView {
    fn from(t: &cnpg_backup_core::restore::RecoveryTarget) -> Self {
        use cnpg_backup_core::restore::RecoveryTarget;
        let text = target_text(t);
        match t {
            RecoveryTarget::Backup { backup, backup_id } => Self {
                kind: "backup".to_owned(),
                backup: Some(backup.to_string()),
                backup_id: Some(backup_id.to_string()),
                target_time: None,
                text,
            },
            RecoveryTarget::PointInTime {
                target_time,
                backup_id,
            } => Self {
                kind: "point_in_time".to_owned(),
                backup: None,
                backup_id: backup_id.as_ref().map(ToString::to_string),
                target_time: Some(rfc3339(*target_time)),
                text,
            },
        }
    }
}

fn target_text(t: &cnpg_backup_core::restore::RecoveryTarget) -> String {
    use cnpg_backup_core::restore::RecoveryTarget;
    match t {
        RecoveryTarget::Backup { backup, backup_id } => format!("backup {backup} ({backup_id})"),
        RecoveryTarget::PointInTime {
            target_time,
            backup_id,
        } => match backup_id {
            Some(id) => format!("{} from {id}", rfc3339(*target_time)),
            None => rfc3339(*target_time),
        },
    }
}

/// One plane of a restore plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlannedPlane {
    /// The plane.
    pub plane: String,
    /// The live cluster stage two replaces.
    pub live: String,
    /// The recovery cluster stage one creates.
    pub recovery_cluster: String,
    /// What it replays to.
    pub target: TargetView,
    /// The backup it starts from.
    pub base_backup: String,
    /// Version drift between the running app and the backup (`match`, `patch`, `minor`,
    /// `major`, `backup_newer`, `unknown`).
    pub drift: String,
    /// The archive server name the recovery cluster writes to (fresh).
    pub recovery_archive: String,
    /// The archive server name the recreated live cluster writes to (fresh).
    pub live_archive: String,
}

/// `restore plan`: everything a restore would create or delete. Nothing is changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestorePlanView {
    /// The restore id.
    pub id: String,
    /// Per plane.
    pub planes: Vec<PlannedPlane>,
    /// Stage one creates these clusters.
    pub creates: Vec<String>,
    /// Stage two deletes these live clusters...
    pub deletes_live: Vec<String>,
    /// ...and recreates them from the validated recovery.
    pub recreates: Vec<String>,
    /// Removed after success (empty when kept).
    pub cleanup: Vec<String>,
    /// Overrides that would be recorded in the audit trail.
    pub overrides: Vec<String>,
}

impl RestorePlanView {
    /// The view of a plan.
    pub fn new(
        id: &cnpg_backup_core::names::RestoreId,
        plan: &cnpg_backup_core::service::RestorePlan,
    ) -> Self {
        Self {
            id: id.to_string(),
            planes: plan
                .validated
                .planes()
                .iter()
                .map(|p| PlannedPlane {
                    plane: p.plane.to_string(),
                    live: p.live.to_string(),
                    recovery_cluster: p.recovery.name.to_string(),
                    target: TargetView::from(&p.recovery.target),
                    base_backup: p.base_backup.to_string(),
                    drift: snake(&p.drift),
                    recovery_archive: p.recovery.archive_server.to_string(),
                    live_archive: p.replacement.archive_server.to_string(),
                })
                .collect(),
            creates: plan.creates.iter().map(|s| s.name.to_string()).collect(),
            deletes_live: plan.deletes_live.iter().map(ToString::to_string).collect(),
            recreates: plan.recreates.iter().map(|s| s.name.to_string()).collect(),
            cleanup: plan.cleanup.iter().map(ToString::to_string).collect(),
            overrides: plan
                .validated
                .overrides()
                .iter()
                .map(|o| o.text.clone())
                .collect(),
        }
    }
}

/// One plane of a restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestorePlaneView {
    /// The plane.
    pub plane: String,
    /// The live cluster.
    pub live: String,
    /// The recovery cluster.
    pub recovery_cluster: String,
    /// Whether the recovery cluster is ready.
    pub recovery_ready: bool,
    /// Where the cutover is (`saving_live_spec`, `live_spec_saved`, `live_deleted`,
    /// `live_recreated`, `live_ready`; null before stage two).
    pub cutover_step: Option<String>,
    /// Whether the recreated live cluster is ready.
    pub live_ready: bool,
    /// Progress detail.
    pub detail: Option<String>,
}

/// Why a restore failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestoreFailure {
    /// The phase it failed in.
    pub in_phase: String,
    /// Why.
    pub reason: String,
    /// Whether `retry` may help.
    pub retryable: bool,
}

/// One audit trail entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    /// `stage_one_ack`, `stage_two_ack`, `accept_set_mismatch`, `accept_unknown_version`,
    /// `abandon`, `retry`, `cleanup`.
    pub kind: String,
    /// The acknowledged sentence, or what was accepted.
    pub text: String,
    /// Who.
    pub actor: Option<String>,
    /// When.
    pub at: String,
}

/// `restore create | status | apply | abandon | cleanup`: the restore record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestoreView {
    /// The restore id.
    pub id: String,
    /// The phase: `draft`, `validated`, `recovery_requested`, `provisioning`,
    /// `ready_for_promotion_checks`, `cutover`, `completed`, `failed`, `abandoned`.
    pub phase: String,
    /// Set when the phase is `failed`.
    pub failure: Option<RestoreFailure>,
    /// Per plane.
    pub planes: Vec<RestorePlaneView>,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Last error.
    pub last_error: Option<String>,
    /// Acknowledgements and overrides, in order.
    pub audit: Vec<AuditView>,
}

impl RestoreView {
    /// The view of a record.
    pub fn new(r: &cnpg_backup_core::restore::RestoreRecord) -> Self {
        use cnpg_backup_core::restore::RestorePhase;
        Self {
            id: r.id().to_string(),
            phase: snake(&r.phase().name()),
            failure: match r.phase() {
                RestorePhase::Failed {
                    in_phase,
                    reason,
                    retryable,
                } => Some(RestoreFailure {
                    in_phase: snake(in_phase),
                    reason: reason.clone(),
                    retryable: *retryable,
                }),
                _ => None,
            },
            planes: r
                .planes()
                .iter()
                .map(|p| RestorePlaneView {
                    plane: p.plane.to_string(),
                    live: p.live.to_string(),
                    recovery_cluster: p.recovery.name.to_string(),
                    recovery_ready: p.recovery_ready,
                    cutover_step: p.cutover_step().map(|c| snake(&c)),
                    live_ready: p.live_ready,
                    detail: p.detail.clone(),
                })
                .collect(),
            created_at: rfc3339(r.created_at()),
            updated_at: rfc3339(r.updated_at()),
            last_error: r.last_error().map(str::to_owned),
            audit: r
                .audit()
                .iter()
                .map(|a| AuditView {
                    kind: snake(&a.kind),
                    text: a.text.clone(),
                    actor: a.actor.clone(),
                    at: rfc3339(a.at),
                })
                .collect(),
        }
    }
}

/// A one-line summary of each recovery cluster's progress, for `restore status --watch`.
pub fn progress_line(r: &cnpg_backup_core::restore::RestoreRecord) -> String {
    let planes: Vec<String> = r
        .planes()
        .iter()
        .map(|p| {
            format!(
                "{} {}{}",
                p.recovery.name,
                if p.recovery_ready {
                    "ready"
                } else {
                    "provisioning"
                },
                p.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        "{} [{}] {}",
        r.id(),
        snake(&r.phase().name()),
        planes.join("; ")
    )
}

/// The progress of a restore: a header line, then one line per recovery cluster.
pub fn progress_lines(r: &cnpg_backup_core::restore::RestoreRecord) -> Vec<String> {
    let mut out = vec![format!("restore {}: {}", r.id(), snake(&r.phase().name()))];
    for p in r.planes() {
        out.push(format!(
            "  {:<7} {:<28} {:<12} {}",
            p.plane.to_string(),
            p.recovery.name.to_string(),
            if p.recovery_ready {
                "ready"
            } else {
                "provisioning"
            },
            p.detail.as_deref().unwrap_or("-")
        ));
    }
    out
}

/// `restore list`: every restore, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct RestoreList(pub Vec<RestoreView>);

/// `intent validate`: the normalized document and a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IntentView {
    /// Always true (an invalid document exits 2).
    pub valid: bool,
    /// Recovery cluster of each plane.
    pub recovery_clusters: Vec<RecoveryName>,
    /// Whether the document carries each acknowledgement, and whether it is exact.
    pub stage_one_acknowledged: bool,
    /// Same for stage two.
    pub stage_two_acknowledged: bool,
    /// The document, normalized.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RestoreIntentSchema))]
    pub intent: cnpg_backup_core::restore::RestoreIntent,
}

/// A plane and its recovery cluster name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecoveryName {
    /// The plane.
    pub plane: String,
    /// The recovery cluster name.
    pub cluster: String,
}

impl IntentView {
    /// The view of a valid intent.
    pub fn new(intent: &cnpg_backup_core::restore::RestoreIntent) -> Self {
        let names = intent.spec.mode.recovery_names().unwrap_or_default();
        Self {
            valid: true,
            recovery_clusters: names
                .into_iter()
                .map(|(p, c)| RecoveryName {
                    plane: p.to_string(),
                    cluster: c.to_string(),
                })
                .collect(),
            stage_one_acknowledged: intent.stage_one_ack().is_ok(),
            stage_two_acknowledged: intent.stage_two_ack().is_ok(),
            intent: intent.clone(),
        }
    }
}
