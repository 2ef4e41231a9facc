//! Ports: the async traits the core needs from the outside world.
//!
//! Adapters implement them (`cnpg-backup-kube` for Kubernetes and object storage,
//! [`crate::memory`] for the in-memory simulator). Each trait is minimal and documented as a
//! contract; conveniences live in core functions. All traits are dyn-compatible
//! (`#[async_trait]`) so embedders can hold `Arc<dyn ...>`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::automation::{AutomationPlan, BackupMethod};
use crate::barman::BucketBackup;
use crate::catalog::{BackupRecord, BackupSetId, BarmanBackupId, StoragePresence};
use crate::drift::AppVersion;
use crate::names::{ClusterName, ObjectName, Plane, RestoreId, ServerName};
use crate::provenance::{BackupProvenance, ProvenanceWrite};
use crate::restore::RecoveryClusterSpec;
use crate::status::{PlaneReconcileStatus, PreflightReport};
use crate::target::ObjectStoreTarget;

/// An error from an adapter, in terms the core can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The object does not exist (a 404 on delete means "already gone").
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The object already exists (a 409 AlreadyExists on create).
    #[error("{what} already exists")]
    AlreadyExists {
        /// What was created.
        what: String,
    },
    /// A concurrent change (stale revision) or a field-manager conflict.
    #[error("conflict on {what}: {detail}")]
    Conflict {
        /// The object.
        what: String,
        /// Who or what conflicts.
        detail: String,
    },
    /// Not allowed (403, or credentials refused).
    #[error("forbidden: {detail}")]
    Forbidden {
        /// What was refused and why.
        detail: String,
    },
    /// The outside world failed (unreachable, timeout, 5xx, 429). Retrying later may help.
    #[error("unavailable: {detail}")]
    Unavailable {
        /// What failed.
        detail: String,
    },
    /// The request was rejected as invalid (422); the detail names the field.
    #[error("invalid: {detail}")]
    Invalid {
        /// What is wrong.
        detail: String,
    },
    /// Refused before it was sent: this process does not hold the write [`Fence`] (a replica
    /// that is not, or no longer, the leader). Nothing was changed; the leader will do it.
    #[error("not sent: {detail}")]
    Fenced {
        /// Why the fence is not held.
        detail: String,
    },
}

impl BackendError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BackendError::Unavailable { .. }
                | BackendError::Conflict { .. }
                | BackendError::Fenced { .. }
        )
    }
}

/// Whether this process may change the world now. Among replicas of a control loop, only the
/// holder of the leader lease may: adapters check the fence before every write, and the lease
/// is given up (the fence stops holding) before another replica can take it over.
pub trait Fence: Send + Sync {
    /// `Ok` while writes are allowed.
    ///
    /// # Errors
    /// [`BackendError::Fenced`] saying why they are not.
    fn check(&self) -> Result<(), BackendError>;
}

/// The fence of a process that is the only replica (a command line, the embedded default):
/// always held.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoleReplica;

impl Fence for SoleReplica {
    fn check(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A Cluster manifest as the adapter saved it: opaque JSON the core stores and hands back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterManifest(pub serde_json::Value);

/// What is observed of one Cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ClusterObservation {
    /// Its name.
    pub name: ClusterName,
    /// `status.phase`, e.g. `Cluster in healthy state`.
    pub phase: Option<String>,
    /// Condition `Ready` is `True`.
    pub ready_condition: bool,
    /// `status.readyInstances`.
    pub ready_instances: u32,
    /// `spec.instances`.
    pub instances: u32,
    /// The restore that created it (our label), if any.
    pub restore_id: Option<RestoreId>,
    /// Whether deletion has started (`metadata.deletionTimestamp`).
    pub deleting: bool,
    /// Progress detail for people (phase reason, job state...).
    pub detail: Option<String>,
}

/// CNPG's healthy phase string.
pub const HEALTHY_PHASE: &str = "Cluster in healthy state";

impl ClusterObservation {
    /// An observation with nothing ready yet.
    pub fn new(name: ClusterName, instances: u32) -> Self {
        Self {
            name,
            phase: None,
            ready_condition: false,
            ready_instances: 0,
            instances,
            restore_id: None,
            deleting: false,
            detail: None,
        }
    }

    /// Ready: healthy phase, `Ready=True`, every instance ready, not being deleted.
    pub fn is_ready(&self) -> bool {
        !self.deleting
            && self.phase.as_deref() == Some(HEALTHY_PHASE)
            && self.ready_condition
            && self.instances > 0
            && self.ready_instances == self.instances
    }
}

/// Creating, observing and deleting CNPG Clusters.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait ClusterLifecycle: Send + Sync {
    /// Observes a cluster. `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`BackendError`] when the API cannot be reached or refuses.
    async fn observe(&self, name: &ClusterName)
    -> Result<Option<ClusterObservation>, BackendError>;

    /// The full manifest of a live cluster, as it would be recreated (status and server-set
    /// metadata removed).
    ///
    /// # Errors
    /// MUST return [`BackendError::NotFound`] when the cluster does not exist.
    async fn manifest(&self, name: &ClusterName) -> Result<ClusterManifest, BackendError>;

    /// Creates the cluster `spec.name` from `base` (a saved live manifest) with its bootstrap
    /// replaced by recovery as `spec` says.
    ///
    /// # Errors
    /// MUST return Ok when a cluster of that name already exists and carries the same restore id
    /// (a retried create); [`BackendError::AlreadyExists`] when it exists and is not ours.
    async fn create(
        &self,
        base: &ClusterManifest,
        spec: &RecoveryClusterSpec,
    ) -> Result<(), BackendError>;

    /// Deletes a cluster.
    ///
    /// # Errors
    /// MUST return Ok when it is already gone (404).
    async fn delete(&self, name: &ClusterName) -> Result<(), BackendError>;
}

/// One on-demand backup to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackupRequest {
    /// Backup object name.
    pub name: ObjectName,
    /// Plane.
    pub plane: Plane,
    /// Cluster.
    pub cluster: ClusterName,
    /// Method.
    pub method: BackupMethod,
    /// Set id shared by the planes of this run.
    pub set_id: BackupSetId,
    /// Running app version, if known.
    pub app_version: Option<AppVersion>,
}

impl BackupRequest {
    /// A backup request.
    pub fn new(
        name: ObjectName,
        plane: Plane,
        cluster: ClusterName,
        method: BackupMethod,
        set_id: BackupSetId,
        app_version: Option<AppVersion>,
    ) -> Self {
        Self {
            name,
            plane,
            cluster,
            method,
            set_id,
            app_version,
        }
    }
}

/// Applying backup automation and creating backups.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait BackupAutomation: Send + Sync {
    /// Makes the cluster's backup settings and our ScheduledBackups match `plan`, and tags
    /// Backups made by our ScheduledBackups with `app_version` and their set id. Converged
    /// state MUST cause no write. Returns one status per plane (planned and removed).
    ///
    /// # Errors
    /// [`BackendError`] when nothing could be done at all; per-plane failures are statuses.
    async fn apply<'a>(
        &self,
        plan: &AutomationPlan,
        app_version: Option<&'a AppVersion>,
    ) -> Result<Vec<PlaneReconcileStatus>, BackendError>;

    /// Creates one on-demand Backup.
    ///
    /// # Errors
    /// [`BackendError::AlreadyExists`] if the name is taken.
    async fn create_backup(&self, request: &BackupRequest) -> Result<(), BackendError>;
}

/// Listing the Backups of a cluster.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait BackupCatalogSource: Send + Sync {
    /// Every Backup of `cluster` (any order), with plane and storage left for the core to fill.
    ///
    /// # Errors
    /// [`BackendError`] when the API cannot be reached or refuses.
    async fn list_backups(&self, cluster: &ClusterName) -> Result<Vec<BackupRecord>, BackendError>;
}

/// Options of a preflight run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PreflightOptions {
    /// Skip the write probe.
    pub read_only: bool,
    /// Server names a restore would write to: their WAL archive must be empty.
    pub restore_servers: Vec<ServerName>,
    /// Server names of live clusters: report whether their archive has backups.
    pub live_servers: Vec<ServerName>,
}

impl PreflightOptions {
    /// Options with these servers.
    pub fn new(
        read_only: bool,
        restore_servers: Vec<ServerName>,
        live_servers: Vec<ServerName>,
    ) -> Self {
        Self {
            read_only,
            restore_servers,
            live_servers,
        }
    }
}

/// Reading and probing the backup bucket.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait BucketProbe: Send + Sync {
    /// Runs the preflight steps in order; stops at the first failure and marks the rest skipped.
    /// Never touches a database. Failures are steps, not errors.
    async fn preflight(
        &self,
        target: &ObjectStoreTarget,
        options: &PreflightOptions,
        now: DateTime<Utc>,
    ) -> PreflightReport;

    /// Presence of each backup id of `server` (one listing of `<server>/base/`, paginated).
    /// A backup is present only when its `backup.info` exists.
    ///
    /// # Errors
    /// [`BackendError`] when the bucket cannot be listed.
    async fn presence(
        &self,
        target: &ObjectStoreTarget,
        server: &ServerName,
        ids: &[BarmanBackupId],
    ) -> Result<BTreeMap<BarmanBackupId, StoragePresence>, BackendError>;

    /// Every backup folder of `servers` (all servers under the prefix when `None`), each with
    /// its parsed `backup.info` or why it could not be read.
    ///
    /// # Errors
    /// [`BackendError`] when the bucket cannot be listed.
    async fn bucket_catalog<'a>(
        &self,
        target: &ObjectStoreTarget,
        servers: Option<&'a [ServerName]>,
    ) -> Result<Vec<BucketBackup>, BackendError>;

    /// Writes each provenance record beside its backup's `backup.info`
    /// (`<prefix>/<server>/base/<backupId>/cnpg-backup.json`), create-only: a record already
    /// there is never overwritten, and nothing is written in a folder without `backup.info`.
    /// Never writes, rewrites or deletes any other object. One outcome per record, in order.
    ///
    /// # Errors
    /// [`BackendError`] when the bucket cannot be listed or a write fails (records written
    /// before the failure stay).
    async fn write_provenance(
        &self,
        target: &ObjectStoreTarget,
        records: &[BackupProvenance],
    ) -> Result<Vec<ProvenanceWrite>, BackendError>;
}

/// Raw objects in a bucket: what the simulator writes Barman files through.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait BucketObjects: Send + Sync {
    /// Writes an object (overwrites).
    ///
    /// # Errors
    /// [`BackendError`] on failure.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError>;

    /// Reads an object.
    ///
    /// # Errors
    /// MUST return [`BackendError::NotFound`] when it does not exist.
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError>;

    /// Keys under `prefix`, recursively, in lexical order.
    ///
    /// # Errors
    /// [`BackendError`] on failure.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError>;

    /// Deletes an object; Ok when it does not exist.
    ///
    /// # Errors
    /// [`BackendError`] on failure.
    async fn delete(&self, key: &str) -> Result<(), BackendError>;
}

/// A key of the state store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKey {
    /// The backup settings.
    Settings,
    /// The reconcile status.
    ReconcileStatus,
    /// The last preflight report.
    PreflightReport,
    /// One restore record.
    Restore(RestoreId),
}

impl std::fmt::Display for StateKey {
    /// Names the document for people: `settings document`, ``restore record `r1` ``.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateKey::Settings => f.write_str("settings document"),
            StateKey::ReconcileStatus => f.write_str("reconcile status"),
            StateKey::PreflightReport => f.write_str("preflight report"),
            StateKey::Restore(id) => write!(f, "restore record `{id}`"),
        }
    }
}

/// An opaque revision for optimistic concurrency (e.g. a Kubernetes `resourceVersion`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub String);

/// A stored document and its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stored {
    /// The revision to pass back on the next write.
    pub revision: Revision,
    /// The JSON document.
    pub body: String,
}

impl Stored {
    /// A document read at `revision`.
    pub fn new(revision: Revision, body: String) -> Self {
        Self { revision, body }
    }
}

/// The largest document the state store accepts (a ConfigMap holds at most 1 MiB in all).
pub const STATE_DOCUMENT_MAX_BYTES: usize = 900 * 1024;

/// Durable state: settings, statuses, restore records, with optimistic concurrency.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// Reads a document; `Ok(None)` when absent.
    ///
    /// # Errors
    /// [`BackendError`] on failure.
    async fn get(&self, key: &StateKey) -> Result<Option<Stored>, BackendError>;

    /// Writes a document if its current revision is `expected` (`None`: it must not exist yet).
    ///
    /// # Errors
    /// MUST return [`BackendError::Conflict`] when the revision does not match (someone else wrote
    /// first), [`BackendError::Invalid`] when `body` exceeds [`STATE_DOCUMENT_MAX_BYTES`].
    async fn put<'a>(
        &self,
        key: &StateKey,
        body: &str,
        expected: Option<&'a Revision>,
    ) -> Result<Revision, BackendError>;

    /// Ids of every restore record.
    ///
    /// # Errors
    /// [`BackendError`] on failure.
    async fn list_restores(&self) -> Result<Vec<RestoreId>, BackendError>;
}

/// The time source. The core never reads the clock itself; adapters pass the wall clock
/// (`cnpg_backup_kube::SystemClock`), tests and the simulator a `SimClock`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}
