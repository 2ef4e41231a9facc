//! Backup automation: the settings a user chooses and the pure plan they produce.
//!
//! [`plan`] validates the settings (target, schedule, cluster names) and returns, per plane, the
//! backup configuration the live Cluster must carry and the ScheduledBackup we manage, plus what
//! to remove when automation is disabled or a plane leaves the scope, and warnings for people.
//! Core types only: the Kubernetes adapter renders them.
//!
//! # What happens to WAL archiving
//! WAL archiving is configured on the Cluster (in-tree `spec.backup.barmanObjectStore`, or the
//! plugin entry with `isWALArchiver: true` plus its `ObjectStore`). The plan never stops it
//! silently:
//! - automation disabled: the ScheduledBackups are removed ([`AutomationPlan::removals`]); the
//!   planes in scope keep their backup configuration, so WAL archiving and point-in-time
//!   recovery keep working and on-demand backups stay possible ([`PlanWarning::AutomationDisabled`]);
//! - a plane leaves the scope: its ScheduledBackup is removed; its backup configuration is left
//!   as it is (no longer managed), so archiving set up earlier continues
//!   ([`PlanWarning::PlaneOutOfScope`]);
//! - the target is no longer used for backups (`useForBackups: false`): the ScheduledBackups are
//!   removed and so is the backup configuration we manage on the cluster of each plane in scope
//!   ([`AutomationPlan::archive_removals`]); WAL archiving of those planes to the target stops,
//!   and the plan says so for each of them ([`PlanWarning::ArchivingStops`]). A plane out of
//!   scope keeps its configuration, as above. Adapters remove only configuration
//!   they manage; configuration another party owns is reported as a conflict, never dropped
//!   silently, since archiving would go on.
//!
//! Not here: comparing the plan with what is in the cluster (the adapter does that).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::drift::AppVersion;
use crate::names::{ClusterName, ObjectName, Plane, PlaneClusters, ServerName};
use crate::retention::RetentionPolicy;
use crate::schedule::{CronSchedule, SchedulePreset};
use crate::target::{ObjectStoreTarget, Provider, TargetError, ValidatedTarget};

/// The Barman Cloud plugin's name, as the Cluster's `spec.plugins[].name` and a Backup's
/// `pluginConfiguration.name` give it.
pub const BARMAN_CLOUD_PLUGIN: &str = "barman-cloud.cloudnative-pg.io";

/// Who owns the Backups a ScheduledBackup creates (`spec.backupOwnerReference`).
///
/// CNPG also offers `cluster`, which we never use: deleting a Cluster then garbage-collects its
/// Backup objects, and a restore's cutover deletes and recreates the live Cluster.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum BackupOwnerReference {
    /// `none` (our default): Backups have no owner, so neither disabling automation (deleting
    /// the ScheduledBackup) nor a cutover (deleting the Cluster) removes them from the catalog.
    #[default]
    #[serde(rename = "none")]
    None,
    /// `self`: the ScheduledBackup owns them (deleted with it, never with the Cluster).
    #[serde(rename = "self")]
    SelfRef,
}

impl BackupOwnerReference {
    /// The value of `spec.backupOwnerReference`.
    pub fn as_cnpg(self) -> &'static str {
        match self {
            BackupOwnerReference::None => "none",
            BackupOwnerReference::SelfRef => "self",
        }
    }
}

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
#[non_exhaustive]
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

impl AutomationSettings {
    /// Enabled automation on `schedule` keeping `retention`, for both planes, with the plugin
    /// method, not immediate, not suspended; change the public fields for anything else.
    pub fn new(schedule: SchedulePreset, retention: RetentionPolicy) -> Self {
        Self {
            enabled: true,
            schedule,
            retention,
            scope: BackupScope::default(),
            immediate: false,
            suspend: false,
            method: BackupMethod::default(),
        }
    }
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
#[non_exhaustive]
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
    /// The archive server name of a plane whose live cluster no longer archives under its own
    /// name: a restore recreates the live cluster with a fresh server name (so the old archive is
    /// never overwritten) and records it here when it completes. Absent: the cluster name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub archive_servers: BTreeMap<Plane, ServerName>,
}

impl BackupSettings {
    /// Settings for the default plane clusters (`cnpg-admin`, `cnpg-tenant`) archiving under
    /// their own names; change the public fields for anything else.
    pub fn new(
        target: ObjectStoreTarget,
        automation: AutomationSettings,
        app_version: AppVersionSource,
    ) -> Self {
        Self {
            target,
            automation,
            clusters: PlaneClusters::default(),
            app_version,
            archive_servers: BTreeMap::new(),
        }
    }

    /// These settings with the archive servers restores recorded in `stored` kept: a plane
    /// these settings name no archive server for, whose cluster is the one `stored` names,
    /// keeps `stored`'s. A settings file never carries them (restores write them), so saving
    /// the same file again after a restore changes nothing and keeps the recreated cluster
    /// archiving under its fresh name.
    pub fn keeping_recorded_archive_servers(mut self, stored: &BackupSettings) -> Self {
        for (plane, server) in &stored.archive_servers {
            if self.clusters.get(*plane) == stored.clusters.get(*plane) {
                self.archive_servers
                    .entry(*plane)
                    .or_insert_with(|| server.clone());
            }
        }
        self
    }

    /// The archive server name `plane`'s live cluster writes to now.
    pub fn archive_server(&self, plane: Plane) -> ServerName {
        self.archive_servers
            .get(&plane)
            .cloned()
            .unwrap_or_else(|| self.clusters.get(plane).default_server_name())
    }
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
    /// `backupOwnerReference` (never `cluster`).
    pub owner_reference: BackupOwnerReference,
}

impl ScheduledBackupPlan {
    /// A ScheduledBackup that fires on `schedule`, not immediately, not suspended, leaving its
    /// Backups unowned ([`BackupOwnerReference::None`]).
    pub fn new(name: ObjectName, schedule: CronSchedule, method: BackupMethod) -> Self {
        Self {
            name,
            schedule,
            immediate: false,
            suspend: false,
            method,
            owner_reference: BackupOwnerReference::None,
        }
    }
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

impl BackupMethod {
    /// The ScheduledBackup/Backup `spec.method` value.
    pub fn as_cnpg(self) -> &'static str {
        match self {
            BackupMethod::BarmanObjectStore => "barmanObjectStore",
            BackupMethod::Plugin => "plugin",
        }
    }
}

/// A managed backup configuration to take off a plane's cluster because the target is no longer
/// used for backups. WAL archiving to the target stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ArchiveRemoval {
    /// The plane.
    pub plane: Plane,
    /// Its cluster.
    pub cluster: ClusterName,
    /// Which configuration: in-tree `spec.backup.barmanObjectStore`, or the plugin entry.
    pub method: BackupMethod,
    /// Plugin method: the `ObjectStore` we manage for this cluster.
    pub object_store_name: Option<ObjectName>,
}

/// Something a person should know about a plan. None of these stop the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanWarning {
    /// The in-tree `barmanObjectStore` method is deprecated since CNPG 1.26 and announced for
    /// removal in 1.31.
    InTreeDeprecated,
    /// With the plugin, retention is set on the `ObjectStore` (`spec.retentionPolicy`) and the
    /// plugin applies it periodically on the primary, not after each backup.
    RetentionOnObjectStore,
    /// Automation is disabled: ScheduledBackups are removed, WAL archiving continues.
    AutomationDisabled,
    /// Automation is suspended: the ScheduledBackups stay but do not fire.
    Suspended,
    /// A plane is out of scope: its ScheduledBackup is removed; backup configuration set up
    /// earlier stays on its cluster, so WAL archiving continues until removed by hand.
    PlaneOutOfScope {
        /// The plane.
        plane: Plane,
    },
    /// The target is not used for backups: WAL archiving of this plane's cluster to it stops.
    ArchivingStops {
        /// The plane.
        plane: Plane,
        /// The cluster that stops archiving.
        cluster: ClusterName,
    },
    /// The local-directory target is for the embedded default and tests; a real CNPG cluster
    /// cannot write to it.
    LocalTarget,
    /// A warning about the schedule (e.g. an uneven gap at midnight).
    Schedule {
        /// The schedule's own message.
        message: String,
    },
}

impl std::fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanWarning::InTreeDeprecated => f.write_str(
                "the in-tree barmanObjectStore method is deprecated since CNPG 1.26 and announced for removal in 1.31; prefer the Barman Cloud plugin",
            ),
            PlanWarning::RetentionOnObjectStore => f.write_str(
                "with the Barman Cloud plugin, retention is set on the ObjectStore and applied periodically on the primary (every 30 minutes by default)",
            ),
            PlanWarning::AutomationDisabled => f.write_str(
                "automation is disabled: scheduled backups are removed; WAL archiving keeps running so point-in-time recovery still works",
            ),
            PlanWarning::Suspended => {
                f.write_str("automation is suspended: scheduled backups exist but do not fire")
            }
            PlanWarning::PlaneOutOfScope { plane } => write!(
                f,
                "the {plane} plane is out of scope: its scheduled backup is removed, but backup configuration set up earlier stays on its cluster and WAL archiving continues until you remove it"
            ),
            PlanWarning::ArchivingStops { plane, cluster } => write!(
                f,
                "the target is no longer used for backups: WAL archiving of the {plane} plane (cluster `{cluster}`) stops and its backup configuration is removed"
            ),
            PlanWarning::LocalTarget => f.write_str(
                "a local directory target only works with the embedded simulator; a CNPG cluster cannot write to it",
            ),
            PlanWarning::Schedule { message } => write!(f, "schedule: {message}"),
        }
    }
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AutomationPlan {
    /// Planes in scope.
    pub planes: Vec<PlaneBackupPlan>,
    /// Managed ScheduledBackups to remove.
    pub removals: Vec<PlanRemoval>,
    /// Managed backup configurations to take off clusters (the target is no longer used for
    /// backups); see the module docs on WAL archiving.
    pub archive_removals: Vec<ArchiveRemoval>,
    /// Things a person should know; none stops the plan.
    pub warnings: Vec<PlanWarning>,
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
    /// The object-storage target is invalid.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Both planes name the same cluster.
    #[error(
        "admin and tenant planes both name cluster `{cluster}`; each plane needs its own cluster"
    )]
    SameCluster {
        /// The shared name.
        cluster: ClusterName,
    },
}

/// The ScheduledBackup name we manage for `cluster`.
///
/// # Errors
/// [`crate::names::NameError`] if the derived name is not a valid object name.
pub fn scheduled_backup_name(cluster: &ClusterName) -> Result<ObjectName, crate::names::NameError> {
    format!("{cluster}-cnpg-backup").parse()
}

/// The plugin `ObjectStore` we manage for `cluster`: `<cluster>-store`.
///
/// # Errors
/// [`crate::names::NameError`] if the derived name is not a valid object name.
pub fn object_store_name(cluster: &ClusterName) -> Result<ObjectName, crate::names::NameError> {
    format!("{cluster}-store").parse()
}

/// Plans backup automation for `settings`.
///
/// Validates first: the target ([`ObjectStoreTarget::validate`]), the schedule
/// ([`SchedulePreset::cron`]) and that the two planes name different clusters. Then, for each
/// plane in scope (when the target is used for backups), the backup configuration its Cluster
/// must carry and, while automation is enabled, its ScheduledBackup (owned by itself, never by
/// the Cluster). ScheduledBackups of planes out of scope, or of all planes when automation is
/// disabled, are listed for removal; backup configuration is removed only when the target is no
/// longer used for backups (see the module docs).
///
/// # Errors
/// [`PlanError`] when the target, the schedule or a derived name is invalid, or both planes
/// name the same cluster.
pub fn plan(settings: &BackupSettings) -> Result<AutomationPlan, PlanError> {
    let a = &settings.automation;
    let validated: ValidatedTarget = settings.target.validate()?;
    let schedule = a.schedule.cron()?;
    if settings.clusters.admin == settings.clusters.tenant {
        return Err(PlanError::SameCluster {
            cluster: settings.clusters.admin.clone(),
        });
    }
    let used = settings.target.use_for_backups;

    let mut warnings = Vec::new();
    if validated.target().provider == Provider::Local {
        warnings.push(PlanWarning::LocalTarget);
    }
    if used {
        match a.method {
            BackupMethod::BarmanObjectStore => warnings.push(PlanWarning::InTreeDeprecated),
            BackupMethod::Plugin => warnings.push(PlanWarning::RetentionOnObjectStore),
        }
        if !a.enabled {
            warnings.push(PlanWarning::AutomationDisabled);
        } else if a.suspend {
            warnings.push(PlanWarning::Suspended);
        }
        if a.enabled {
            warnings.extend(
                a.schedule
                    .warnings()
                    .into_iter()
                    .map(|w| PlanWarning::Schedule { message: w.message }),
            );
        }
    }

    let mut planes = Vec::new();
    let mut removals = Vec::new();
    let mut archive_removals = Vec::new();
    for plane in Plane::ALL {
        let cluster = settings.clusters.get(plane).clone();
        let sb_name = scheduled_backup_name(&cluster)?;
        let object_store = match a.method {
            BackupMethod::Plugin => Some(object_store_name(&cluster)?),
            BackupMethod::BarmanObjectStore => None,
        };
        let in_scope = a.scope.contains(plane);
        let remove_sb = |removals: &mut Vec<PlanRemoval>| {
            removals.push(PlanRemoval {
                plane,
                cluster: cluster.clone(),
                scheduled_backup: sb_name.clone(),
                action: RemovalAction::Delete,
            });
        };
        if !used {
            remove_sb(&mut removals);
            if in_scope {
                archive_removals.push(ArchiveRemoval {
                    plane,
                    cluster: cluster.clone(),
                    method: a.method,
                    object_store_name: object_store,
                });
                warnings.push(PlanWarning::ArchivingStops {
                    plane,
                    cluster: cluster.clone(),
                });
            }
            continue;
        }
        if !in_scope {
            remove_sb(&mut removals);
            warnings.push(PlanWarning::PlaneOutOfScope { plane });
            continue;
        }
        let scheduled_backup = if a.enabled {
            Some(ScheduledBackupPlan {
                name: sb_name.clone(),
                schedule: schedule.clone(),
                immediate: a.immediate,
                suspend: a.suspend,
                method: a.method,
                owner_reference: BackupOwnerReference::None,
            })
        } else {
            remove_sb(&mut removals);
            None
        };
        planes.push(PlaneBackupPlan {
            plane,
            cluster: cluster.clone(),
            method: a.method,
            target: validated.target().clone(),
            destination_path: validated.destination_path().to_owned(),
            server_name: settings.archive_server(plane),
            retention: a.retention,
            object_store_name: object_store,
            scheduled_backup,
        });
    }
    Ok(AutomationPlan {
        planes,
        removals,
        archive_removals,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Credentials, SecretRef};

    fn target() -> ObjectStoreTarget {
        ObjectStoreTarget::new(
            Provider::S3Compatible,
            "backups",
            "/prod//db/",
            Credentials::S3AccessKey {
                access_key_id: SecretRef::new("s3".parse().unwrap(), "id"),
                secret_access_key: SecretRef::new("s3".parse().unwrap(), "secret"),
                session_token: None,
            },
        )
        .unwrap()
        .with_endpoint("https://minio.example:9000")
    }

    fn settings() -> BackupSettings {
        BackupSettings {
            target: target(),
            automation: AutomationSettings {
                enabled: true,
                schedule: SchedulePreset::Daily {
                    hour: 2,
                    minute: 30,
                },
                retention: "30d".parse().unwrap(),
                scope: BackupScope::Both,
                immediate: true,
                suspend: false,
                method: BackupMethod::Plugin,
            },
            clusters: PlaneClusters::default(),
            app_version: AppVersionSource::Unknown,
            archive_servers: BTreeMap::new(),
        }
    }

    #[test]
    fn plan_archives_under_the_server_a_restore_recorded() {
        let mut s = settings();
        let fresh: ServerName = "cnpg-admin-r-r1".parse().unwrap();
        s.archive_servers.insert(Plane::Admin, fresh.clone());
        let p = plan(&s).unwrap();
        let admin = p.planes.iter().find(|x| x.plane == Plane::Admin).unwrap();
        let tenant = p.planes.iter().find(|x| x.plane == Plane::Tenant).unwrap();
        assert_eq!(admin.server_name, fresh);
        assert_eq!(tenant.server_name.as_str(), "cnpg-tenant");
        // Absent from the document when unused, so old settings files stay valid.
        let json = serde_json::to_value(settings()).unwrap();
        assert!(json.get("archiveServers").is_none());
        let back: BackupSettings =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back.archive_server(Plane::Admin), fresh);
    }

    fn removed(p: &AutomationPlan) -> Vec<&str> {
        p.removals
            .iter()
            .map(|r| r.scheduled_backup.as_str())
            .collect()
    }

    #[test]
    fn enabled_plugin_plan_for_both_planes() {
        let p = plan(&settings()).unwrap();
        assert_eq!(p.planes.len(), 2);
        assert!(p.removals.is_empty());
        assert!(p.archive_removals.is_empty());
        assert_eq!(p.warnings, [PlanWarning::RetentionOnObjectStore]);
        let admin = &p.planes[0];
        assert_eq!(admin.plane, Plane::Admin);
        assert_eq!(admin.cluster.as_str(), "cnpg-admin");
        assert_eq!(admin.destination_path, "s3://backups/prod/db");
        assert_eq!(
            admin.target.prefix, "prod/db",
            "the target is stored normalised"
        );
        assert_eq!(admin.server_name.as_str(), "cnpg-admin");
        assert_eq!(
            admin.object_store_name.as_ref().map(ObjectName::as_str),
            Some("cnpg-admin-store")
        );
        let sb = admin.scheduled_backup.as_ref().unwrap();
        assert_eq!(sb.name.as_str(), "cnpg-admin-cnpg-backup");
        assert_eq!(sb.owner_reference, BackupOwnerReference::None);
        assert_eq!(sb.owner_reference.as_cnpg(), "none");
        assert!(sb.immediate && !sb.suspend);
        assert_eq!(sb.method.as_cnpg(), "plugin");
        assert_eq!(sb.schedule, settings().automation.schedule.cron().unwrap());
        let tenant = &p.planes[1];
        assert_eq!(tenant.cluster.as_str(), "cnpg-tenant");
        assert_eq!(
            tenant.scheduled_backup.as_ref().unwrap().name.as_str(),
            "cnpg-tenant-cnpg-backup"
        );
    }

    #[test]
    fn in_tree_method_warns_about_deprecation() {
        let mut s = settings();
        s.automation.method = BackupMethod::BarmanObjectStore;
        let p = plan(&s).unwrap();
        assert_eq!(p.warnings, [PlanWarning::InTreeDeprecated]);
        assert!(p.planes.iter().all(|pl| pl.object_store_name.is_none()));
        assert!(PlanWarning::InTreeDeprecated.to_string().contains("1.31"));
        assert_eq!(
            BackupMethod::BarmanObjectStore.as_cnpg(),
            "barmanObjectStore"
        );
    }

    #[test]
    fn disabled_removes_schedules_but_keeps_archiving() {
        let mut s = settings();
        s.automation.enabled = false;
        let p = plan(&s).unwrap();
        assert_eq!(p.planes.len(), 2, "backup configuration stays");
        assert!(p.planes.iter().all(|pl| pl.scheduled_backup.is_none()));
        assert_eq!(
            removed(&p),
            ["cnpg-admin-cnpg-backup", "cnpg-tenant-cnpg-backup"]
        );
        assert!(p.archive_removals.is_empty());
        assert!(p.warnings.contains(&PlanWarning::AutomationDisabled));
    }

    #[test]
    fn a_plane_leaving_the_scope_loses_only_its_schedule() {
        let mut s = settings();
        s.automation.scope = BackupScope::Admin;
        let p = plan(&s).unwrap();
        assert_eq!(p.planes.len(), 1);
        assert_eq!(p.planes[0].plane, Plane::Admin);
        assert_eq!(removed(&p), ["cnpg-tenant-cnpg-backup"]);
        assert!(p.archive_removals.is_empty());
        assert!(p.warnings.contains(&PlanWarning::PlaneOutOfScope {
            plane: Plane::Tenant
        }));
        s.automation.scope = BackupScope::Tenant;
        let p = plan(&s).unwrap();
        assert_eq!(p.planes[0].plane, Plane::Tenant);
        assert_eq!(removed(&p), ["cnpg-admin-cnpg-backup"]);
    }

    #[test]
    fn target_not_used_removes_archiving_and_says_so() {
        let mut s = settings();
        s.target.use_for_backups = false;
        s.automation.scope = BackupScope::Admin;
        let p = plan(&s).unwrap();
        assert!(p.planes.is_empty());
        assert_eq!(
            removed(&p),
            ["cnpg-admin-cnpg-backup", "cnpg-tenant-cnpg-backup"]
        );
        assert_eq!(p.archive_removals.len(), 1);
        let r = &p.archive_removals[0];
        assert_eq!((r.plane, r.method), (Plane::Admin, BackupMethod::Plugin));
        assert_eq!(
            r.object_store_name.as_ref().map(ObjectName::as_str),
            Some("cnpg-admin-store")
        );
        assert_eq!(
            p.warnings,
            [PlanWarning::ArchivingStops {
                plane: Plane::Admin,
                cluster: "cnpg-admin".parse().unwrap(),
            }]
        );
    }

    #[test]
    fn suspend_is_carried_and_warned() {
        let mut s = settings();
        s.automation.suspend = true;
        let p = plan(&s).unwrap();
        assert!(
            p.planes
                .iter()
                .all(|pl| pl.scheduled_backup.as_ref().unwrap().suspend)
        );
        assert!(p.warnings.contains(&PlanWarning::Suspended));
    }

    #[test]
    fn invalid_target_is_refused_before_planning() {
        let mut s = settings();
        s.target.endpoint = None;
        assert!(matches!(
            plan(&s),
            Err(PlanError::Target(TargetError::EndpointRequired { .. }))
        ));
        let mut s = settings();
        s.target.bucket = "Bad_Bucket".to_owned();
        let e = plan(&s).unwrap_err();
        assert!(e.to_string().contains("`Bad_Bucket`"), "{e}");
    }

    #[test]
    fn planes_need_different_clusters() {
        let mut s = settings();
        s.clusters.tenant = s.clusters.admin.clone();
        let e = plan(&s).unwrap_err();
        assert_eq!(
            e,
            PlanError::SameCluster {
                cluster: "cnpg-admin".parse().unwrap()
            }
        );
        assert!(e.to_string().contains("`cnpg-admin`"));
    }

    #[test]
    fn custom_cluster_names_flow_into_derived_names() {
        let mut s = settings();
        s.clusters = PlaneClusters {
            admin: "pg-a".parse().unwrap(),
            tenant: "pg-t".parse().unwrap(),
        };
        let p = plan(&s).unwrap();
        assert_eq!(
            p.planes[1].scheduled_backup.as_ref().unwrap().name.as_str(),
            "pg-t-cnpg-backup"
        );
        assert_eq!(p.planes[1].server_name.as_str(), "pg-t");
        // The longest cluster name still gives valid derived names.
        let long: ClusterName = "a".repeat(crate::names::CLUSTER_NAME_MAX).parse().unwrap();
        assert!(scheduled_backup_name(&long).is_ok());
        assert!(object_store_name(&long).is_ok());
    }

    #[test]
    fn local_target_warns() {
        let mut s = settings();
        s.target =
            ObjectStoreTarget::new(Provider::Local, "/tmp/b", "", Credentials::None).unwrap();
        let p = plan(&s).unwrap();
        assert!(p.warnings.contains(&PlanWarning::LocalTarget));
        assert_eq!(p.planes[0].destination_path, "file:///tmp/b");
    }

    #[test]
    fn scope_and_owner_reference_basics() {
        assert_eq!(BackupScope::default(), BackupScope::Both);
        assert!(BackupScope::Admin.contains(Plane::Admin));
        assert!(!BackupScope::Admin.contains(Plane::Tenant));
        assert_eq!(BackupScope::Both.planes(), Plane::ALL);
        assert_eq!(BackupOwnerReference::default(), BackupOwnerReference::None);
        assert_eq!(
            serde_json::to_string(&BackupOwnerReference::SelfRef).unwrap(),
            "\"self\""
        );
        assert_eq!(BackupOwnerReference::None.as_cnpg(), "none");
        let sb = ScheduledBackupPlan::new(
            "x".parse().unwrap(),
            "0 0 0 * * *".parse().unwrap(),
            BackupMethod::Plugin,
        );
        assert_eq!(sb.owner_reference, BackupOwnerReference::None);
    }

    #[test]
    fn settings_round_trip_through_json() {
        let s = settings();
        let json = serde_json::to_string(&s).unwrap();
        let back: BackupSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let bad = json.replace("\"30d\"", "\"30x\"");
        assert!(serde_json::from_str::<BackupSettings>(&bad).is_err());
    }
}
