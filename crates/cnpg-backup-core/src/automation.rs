//! Backup automation: the settings a user chooses and the pure plan they produce.
//!
//! `plan(settings)` returns, per plane, the backup configuration the live Cluster must carry and
//! the ScheduledBackup we manage, plus what to remove when automation is disabled or a plane
//! leaves the scope. Core types only: the Kubernetes adapter renders them.
//! FOUNDATION: types fixed; validation and warnings are completed by issue 2, item 5.

use serde::{Deserialize, Serialize};

use crate::drift::AppVersion;
use crate::names::{ClusterName, ObjectName, Plane, PlaneClusters, ServerName};
use crate::retention::RetentionPolicy;
use crate::schedule::{CronSchedule, SchedulePreset};
use crate::target::ObjectStoreTarget;

/// How CNPG takes backups.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BackupMethod {
    /// In-tree `spec.backup.barmanObjectStore` (deprecated since CNPG 1.26, still the default in 1.30).
    BarmanObjectStore,
    /// The Barman Cloud plugin (`barman-cloud.cloudnative-pg.io`) with an `ObjectStore` resource.
    #[default]
    Plugin,
}

/// Which planes automation covers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BackupScope {
    /// Only the admin plane.
    Admin,
    /// Only the tenant plane.
    Tenant,
    /// Both planes (one schedule, so both backups of a slot share a set id).
    #[default]
    Both,
}

impl BackupScope {
    /// The planes in scope, admin first.
    pub fn planes(self) -> Vec<Plane> {
        match self {
            BackupScope::Admin => vec![Plane::Admin],
            BackupScope::Tenant => vec![Plane::Tenant],
            BackupScope::Both => vec![Plane::Admin, Plane::Tenant],
        }
    }

    /// Whether `plane` is in scope.
    pub fn contains(self, plane: Plane) -> bool {
        self.planes().contains(&plane)
    }
}

/// What the user chose for backup automation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutomationSettings {
    /// Whether scheduled backups run.
    pub enabled: bool,
    /// When.
    pub schedule: SchedulePreset,
    /// How long backups are kept.
    pub retention: RetentionPolicy,
    /// Which planes.
    #[serde(default)]
    pub scope: BackupScope,
    /// Take the first backup as soon as the ScheduledBackup is created.
    #[serde(default)]
    pub immediate: bool,
    /// Keep the ScheduledBackups but stop them firing.
    #[serde(default)]
    pub suspend: bool,
    /// In-tree or plugin.
    #[serde(default)]
    pub method: BackupMethod,
}

/// Where the running app's version comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AppVersionSource {
    /// A fixed version written in the settings.
    Fixed {
        /// The version.
        version: AppVersion,
    },
    /// A label on the live admin Cluster (e.g. `app.kubernetes.io/version`).
    ClusterLabel {
        /// The label key.
        label: String,
    },
    /// Unknown: backups are not tagged with a version, named restores need an override.
    Unknown,
}

/// Everything the backup side needs: target, automation, plane clusters, app version source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupSettings {
    /// Where backups go.
    pub target: ObjectStoreTarget,
    /// What runs when.
    pub automation: AutomationSettings,
    /// The cluster name of each plane.
    #[serde(default)]
    pub clusters: PlaneClusters,
    /// Where the running app version comes from.
    pub app_version: AppVersionSource,
}

/// The ScheduledBackup we manage for a plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ScheduledBackupPlan {
    /// Object name (`<cluster>-cnpg-backup`).
    pub name: ObjectName,
    /// The schedule, six fields.
    pub schedule: CronSchedule,
    /// `immediate`.
    pub immediate: bool,
    /// `suspend`.
    pub suspend: bool,
    /// Method the Backups use.
    pub method: BackupMethod,
}

/// The backup configuration a plane's live Cluster must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PlaneBackupPlan {
    /// The plane.
    pub plane: Plane,
    /// Its live cluster.
    pub cluster: ClusterName,
    /// In-tree or plugin.
    pub method: BackupMethod,
    /// The target (secret references only).
    pub target: ObjectStoreTarget,
    /// Barman `destinationPath`.
    pub destination_path: String,
    /// Archive server name of the live cluster.
    pub server_name: ServerName,
    /// Retention.
    pub retention: RetentionPolicy,
    /// Plugin method: the `ObjectStore` resource name.
    pub object_store_name: Option<ObjectName>,
    /// The ScheduledBackup (present while automation is enabled).
    pub scheduled_backup: Option<ScheduledBackupPlan>,
}

/// What happens to a ScheduledBackup we manage but the plan no longer wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalAction {
    /// Delete it (the plane left the scope or automation is disabled).
    Delete,
}

/// A managed object to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PlanRemoval {
    /// The plane.
    pub plane: Plane,
    /// Its cluster.
    pub cluster: ClusterName,
    /// The ScheduledBackup name.
    pub scheduled_backup: ObjectName,
    /// What to do.
    pub action: RemovalAction,
}

/// The desired state for backup automation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AutomationPlan {
    /// Planes in scope.
    pub planes: Vec<PlaneBackupPlan>,
    /// Managed objects to remove.
    pub removals: Vec<PlanRemoval>,
}

/// Why settings cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The schedule is invalid.
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    /// A derived name is invalid.
    #[error(transparent)]
    Name(#[from] crate::names::NameError),
}

/// The ScheduledBackup name we manage for `cluster`.
///
/// # Errors
/// [`crate::names::NameError`] if the derived name is not a valid object name.
pub fn scheduled_backup_name(cluster: &ClusterName) -> Result<ObjectName, crate::names::NameError> {
    format!("{cluster}-cnpg-backup").parse()
}

/// Plans backup automation for `settings`.
///
/// # Errors
/// [`PlanError`] when the schedule or a derived name is invalid.
pub fn plan(settings: &BackupSettings) -> Result<AutomationPlan, PlanError> {
    let a = &settings.automation;
    let schedule = a.schedule.cron()?;
    let mut planes = Vec::new();
    let mut removals = Vec::new();
    for plane in Plane::ALL {
        let cluster = settings.clusters.get(plane).clone();
        let sb_name = scheduled_backup_name(&cluster)?;
        let in_scope = a.scope.contains(plane) && settings.target.use_for_backups;
        if !in_scope {
            removals.push(PlanRemoval {
                plane,
                cluster,
                scheduled_backup: sb_name,
                action: RemovalAction::Delete,
            });
            continue;
        }
        let scheduled_backup = if a.enabled {
            Some(ScheduledBackupPlan {
                name: sb_name.clone(),
                schedule: schedule.clone(),
                immediate: a.immediate,
                suspend: a.suspend,
                method: a.method,
            })
        } else {
            removals.push(PlanRemoval {
                plane,
                cluster: cluster.clone(),
                scheduled_backup: sb_name,
                action: RemovalAction::Delete,
            });
            None
        };
        let object_store_name = match a.method {
            BackupMethod::Plugin => Some(format!("{cluster}-store").parse()?),
            BackupMethod::BarmanObjectStore => None,
        };
        planes.push(PlaneBackupPlan {
            plane,
            cluster: cluster.clone(),
            method: a.method,
            target: settings.target.clone(),
            destination_path: settings.target.destination_path(),
            server_name: settings.target.server_name_for(&cluster),
            retention: a.retention,
            object_store_name,
            scheduled_backup,
        });
    }
    Ok(AutomationPlan { planes, removals })
}
