//! Label and annotation keys: CNPG's own, and the ones this crate puts on objects.
//!
//! Label values are limited to 63 characters of `[A-Za-z0-9._-]`, so free text (app versions,
//! recovery targets) goes into annotations.

/// CNPG: the cluster a Backup belongs to (put by the ScheduledBackup controller and
/// `kubectl cnpg backup`, not on hand-made Backups).
pub const CNPG_CLUSTER: &str = "cnpg.io/cluster";
/// CNPG: the ScheduledBackup that created a Backup.
pub const CNPG_SCHEDULED_BACKUP: &str = "cnpg.io/scheduled-backup";

/// Label on every object this crate owns (ScheduledBackups, ObjectStores, Backups, ConfigMaps).
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "cnpg-backup";
/// Label: the plane an object serves (`admin` or `tenant`).
pub const PLANE: &str = "cnpg-backup.io/plane";
/// Label on Backups: the backup-set id shared by the planes of one run.
pub const BACKUP_SET: &str = "cnpg-backup.io/backup-set";
/// Annotation on Backups: the app version running when the backup was taken.
pub const APP_VERSION: &str = "cnpg-backup.io/app-version";
/// Annotation on Backups: the archive server name the backup was written under.
pub const SERVER_NAME: &str = "cnpg-backup.io/server-name";
/// Label on recovery and recreated clusters: the restore that created them.
pub const RESTORE_ID: &str = "cnpg-backup.io/restore-id";
/// Label on recovery and recreated clusters: `recovery` (temporary) or `live` (recreated).
pub const ROLE: &str = "cnpg-backup.io/role";
/// Annotation on recovery clusters: where they recover from (`<cluster>/<server>`).
pub const RECOVERY_SOURCE: &str = "cnpg-backup.io/recovery-source";
/// Annotation on recovery clusters: what they replay to (JSON of the core's recovery target).
pub const RECOVERY_TARGET: &str = "cnpg-backup.io/recovery-target";
/// Label on state ConfigMaps: which document (`settings`, `reconcile-status`, `preflight`,
/// `restore`).
pub const STATE: &str = "cnpg-backup.io/state";
