//! Ports that check a [`Fence`] before every call that changes something: the leader election
//! of a replicated control loop guards the services with them, so a replica that lost its lease
//! sends no write (reads go through: a follower still answers questions).
//!
//! [`Backend::with_fence`] wraps a backend's ports. The Kubernetes adapter also fences at the
//! transport (`cnpg_backup_kube::fence`), where each HTTP write is checked, not only each port
//! call; both check the same fence.

use std::sync::Arc;

use cnpg_backup_core::automation::AutomationPlan;
use cnpg_backup_core::drift::AppVersion;
use cnpg_backup_core::names::{ClusterName, RestoreId};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cnpg_backup_core::barman::BucketBackup;
use cnpg_backup_core::catalog::{BarmanBackupId, StoragePresence};
use cnpg_backup_core::names::ServerName;
use cnpg_backup_core::ports::{
    BackendError, BackupAutomation, BackupRequest, BucketObjects, BucketProbe, ClusterLifecycle,
    ClusterManifest, ClusterObservation, Fence, PreflightOptions, Revision, StateKey, StateStore,
    Stored,
};
use cnpg_backup_core::provenance::{BackupProvenance, ProvenanceWrite};
use cnpg_backup_core::restore::RecoveryClusterSpec;
use cnpg_backup_core::status::PlaneReconcileStatus;
use cnpg_backup_core::status::PreflightReport;
use cnpg_backup_core::target::ObjectStoreTarget;

use crate::backend::Backend;

/// Reads and preflight go through (preflight's probe object is a person's check, not the
/// loop's); provenance records are the loop's writes and check the fence.
#[async_trait::async_trait]
impl<T: BucketProbe + ?Sized> BucketProbe for Fenced<T> {
    async fn preflight(
        &self,
        target: &ObjectStoreTarget,
        options: &PreflightOptions,
        now: DateTime<Utc>,
    ) -> PreflightReport {
        self.inner.preflight(target, options, now).await
    }

    async fn presence(
        &self,
        target: &ObjectStoreTarget,
        server: &ServerName,
        ids: &[BarmanBackupId],
    ) -> Result<BTreeMap<BarmanBackupId, StoragePresence>, BackendError> {
        self.inner.presence(target, server, ids).await
    }

    async fn bucket_catalog<'a>(
        &self,
        target: &ObjectStoreTarget,
        servers: Option<&'a [ServerName]>,
    ) -> Result<Vec<BucketBackup>, BackendError> {
        self.inner.bucket_catalog(target, servers).await
    }

    async fn write_provenance(
        &self,
        target: &ObjectStoreTarget,
        records: &[BackupProvenance],
    ) -> Result<Vec<ProvenanceWrite>, BackendError> {
        self.fence.check()?;
        self.inner.write_provenance(target, records).await
    }
}

/// A port whose changing calls check `fence` first.
pub struct Fenced<T: ?Sized> {
    inner: Arc<T>,
    fence: Arc<dyn Fence>,
}

impl<T: ?Sized> Fenced<T> {
    /// `inner`, guarded by `fence`.
    pub fn new(inner: Arc<T>, fence: Arc<dyn Fence>) -> Self {
        Self { inner, fence }
    }
}

impl<T: ?Sized> std::fmt::Debug for Fenced<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fenced").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl<T: StateStore + ?Sized> StateStore for Fenced<T> {
    async fn get(&self, key: &StateKey) -> Result<Option<Stored>, BackendError> {
        self.inner.get(key).await
    }

    async fn put<'a>(
        &self,
        key: &StateKey,
        body: &str,
        expected: Option<&'a Revision>,
    ) -> Result<Revision, BackendError> {
        self.fence.check()?;
        self.inner.put(key, body, expected).await
    }

    async fn list_restores(&self) -> Result<Vec<RestoreId>, BackendError> {
        self.inner.list_restores().await
    }
}

#[async_trait::async_trait]
impl<T: ClusterLifecycle + ?Sized> ClusterLifecycle for Fenced<T> {
    async fn observe(
        &self,
        name: &ClusterName,
    ) -> Result<Option<ClusterObservation>, BackendError> {
        self.inner.observe(name).await
    }

    async fn manifest(&self, name: &ClusterName) -> Result<ClusterManifest, BackendError> {
        self.inner.manifest(name).await
    }

    async fn create(
        &self,
        base: &ClusterManifest,
        spec: &RecoveryClusterSpec,
    ) -> Result<(), BackendError> {
        self.fence.check()?;
        self.inner.create(base, spec).await
    }

    async fn delete(&self, name: &ClusterName) -> Result<(), BackendError> {
        self.fence.check()?;
        self.inner.delete(name).await
    }
}

#[async_trait::async_trait]
impl<T: BackupAutomation + ?Sized> BackupAutomation for Fenced<T> {
    async fn apply<'a>(
        &self,
        plan: &AutomationPlan,
        app_version: Option<&'a AppVersion>,
    ) -> Result<Vec<PlaneReconcileStatus>, BackendError> {
        self.fence.check()?;
        self.inner.apply(plan, app_version).await
    }

    async fn create_backup(&self, request: &BackupRequest) -> Result<(), BackendError> {
        self.fence.check()?;
        self.inner.create_backup(request).await
    }
}

#[async_trait::async_trait]
impl<T: BucketObjects + ?Sized> BucketObjects for Fenced<T> {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        self.fence.check()?;
        self.inner.put(key, bytes).await
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.fence.check()?;
        self.inner.delete(key).await
    }
}

impl Backend {
    /// The same backend whose changing port calls check `fence` first (clusters, automation,
    /// state store); reads are not fenced.
    pub fn with_fence(self, fence: Arc<dyn Fence>) -> Backend {
        let Backend {
            lifecycle,
            automation,
            catalog,
            probe,
            state,
            clock,
            embedded,
            ..
        } = self;
        Backend::from_ports(
            Arc::new(Fenced::new(lifecycle, fence.clone())),
            Arc::new(Fenced::new(automation, fence.clone())),
            catalog,
            Arc::new(Fenced::new(probe, fence.clone())),
            Arc::new(Fenced::new(state, fence.clone())),
            clock,
            embedded,
        )
    }
}
