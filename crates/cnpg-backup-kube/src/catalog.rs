//! [`KubeBackupCatalog`]: the core's [`BackupCatalogSource`] from CNPG `Backup` objects.
//!
//! Two paginated lists (pages of 500) per cluster: Backups labelled `cnpg.io/cluster=<name>`
//! (made by ScheduledBackups, `kubectl cnpg backup` and us), and Backups without that label
//! (hand-made), kept when their `spec.cluster.name` is the cluster. Volume-snapshot Backups are
//! left out: they are not in the bucket, so nothing here can restore them.

use chrono::{DateTime, Utc};
use cnpg_backup_core::automation::BackupMethod;
use cnpg_backup_core::catalog::{BackupPhase, BackupRecord};
use cnpg_backup_core::names::{ClusterName, PlaneClusters};
use cnpg_backup_core::ports::{BackendError, BackupCatalogSource};

use crate::labels;
use crate::resources::{Backup, Cluster};
use crate::scope::KubeScope;

/// The catalog of Backup objects in one namespace.
#[derive(Debug, Clone)]
pub struct KubeBackupCatalog {
    scope: KubeScope,
}

/// Every Backup of `cluster` and the number of list requests it took.
pub(crate) async fn list_cluster_backups(
    scope: &KubeScope,
    cluster: &ClusterName,
) -> Result<(Vec<Backup>, u32), BackendError> {
    let what = format!("backups of cluster `{cluster}`");
    let labelled = scope
        .list_all::<Backup>(&format!("{}={cluster}", labels::CNPG_CLUSTER), &what)
        .await?;
    let unlabelled = scope
        .list_all::<Backup>(&format!("!{}", labels::CNPG_CLUSTER), &what)
        .await?;
    let pages = labelled.pages + unlabelled.pages;
    let mut items = labelled.items;
    items.extend(
        unlabelled
            .items
            .into_iter()
            .filter(|b| b.spec.cluster.name == cluster.as_str()),
    );
    Ok((items, pages))
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The method of a Barman Backup (`barmanObjectStore` when unset, as CNPG defaults it);
/// `None` for other methods (volume snapshots).
fn barman_method(backup: &Backup) -> Option<BackupMethod> {
    match backup.spec.method.as_deref() {
        None | Some("barmanObjectStore") => Some(BackupMethod::BarmanObjectStore),
        Some("plugin") => Some(BackupMethod::Plugin),
        Some(_) => None,
    }
}

/// The Barman method of a Backup (`barmanObjectStore` for anything not `plugin`).
pub(crate) fn method_of(backup: &Backup) -> BackupMethod {
    barman_method(backup).unwrap_or(BackupMethod::BarmanObjectStore)
}

/// Maps a Backup object to a core record (plane and storage presence left for the core).
/// `None` for objects that are not Barman backups of a valid name (volume snapshots).
///
/// The server name is CNPG's (`status.serverName`, in-tree only), else the one we recorded
/// when we tagged or created the Backup; [`KubeBackupCatalog`] fills in the rest.
pub fn backup_record(backup: &Backup) -> Option<BackupRecord> {
    let method = barman_method(backup)?;
    let name = backup.metadata.name.as_deref()?.parse().ok()?;
    let cluster = backup.spec.cluster.name.parse().ok()?;
    let mut record = BackupRecord::new(name, cluster, method);
    let labels = backup.metadata.labels.as_ref();
    let annotations = backup.metadata.annotations.as_ref();
    record.backup_set_id = labels
        .and_then(|l| l.get(labels::BACKUP_SET))
        .and_then(|v| v.parse().ok());
    record.app_version = annotations
        .and_then(|a| a.get(labels::APP_VERSION))
        .and_then(|v| v.parse().ok());
    let status = backup.status.as_ref();
    record.phase = BackupPhase::from_cnpg(status.and_then(|s| s.phase.as_deref()));
    if let Some(s) = status {
        record.started_at = parse_time(s.started_at.as_deref());
        record.ended_at = parse_time(s.stopped_at.as_deref());
        record.backup_id = s.backup_id.as_deref().and_then(|v| v.parse().ok());
        record.server_name = s.server_name.as_deref().and_then(|v| v.parse().ok());
        record.error = s.error.clone().filter(|e| !e.is_empty());
        record.timeline = s
            .plugin_metadata
            .get("timeline")
            .and_then(|t| t.parse().ok())
            .or_else(|| {
                // The first 8 hex digits of a WAL file name are its timeline.
                let wal = s.begin_wal.as_deref()?;
                u32::from_str_radix(wal.get(..8)?, 16).ok()
            });
    }
    if record.server_name.is_none() {
        // Plugin backups do not record it; our tagging does.
        record.server_name = annotations
            .and_then(|a| a.get(labels::SERVER_NAME))
            .and_then(|v| v.parse().ok());
    }
    Some(record)
}

impl KubeBackupCatalog {
    /// The catalog of `scope`'s namespace.
    pub fn new(scope: KubeScope) -> Self {
        Self { scope }
    }

    /// The records of both planes' clusters, fetched concurrently (admin, tenant).
    ///
    /// # Errors
    /// The first [`BackendError`] of either list.
    pub async fn list_planes(
        &self,
        clusters: &PlaneClusters,
    ) -> Result<(Vec<BackupRecord>, Vec<BackupRecord>), BackendError> {
        futures::try_join!(
            self.list_backups(&clusters.admin),
            self.list_backups(&clusters.tenant)
        )
    }
}

#[async_trait::async_trait]
impl BackupCatalogSource for KubeBackupCatalog {
    /// Every Backup of `cluster` with its server name: CNPG's or ours ([`backup_record`]),
    /// else the one the Cluster archives to now for the Backup's method
    /// ([`Cluster::archive_server`]; one more GET, only when a record lacks it), else the
    /// cluster's name (the default of CNPG and of the plugin).
    async fn list_backups(&self, cluster: &ClusterName) -> Result<Vec<BackupRecord>, BackendError> {
        let (items, pages) = list_cluster_backups(&self.scope, cluster).await?;
        tracing::debug!(%cluster, pages, items = items.len(), "listed backups");
        let mut records: Vec<BackupRecord> = items.iter().filter_map(backup_record).collect();
        if records.iter().any(|r| r.server_name.is_none()) {
            let live = self
                .scope
                .get_opt::<Cluster>(cluster.as_str(), &format!("cluster `{cluster}`"))
                .await?;
            for r in records.iter_mut().filter(|r| r.server_name.is_none()) {
                r.server_name = live
                    .as_ref()
                    .and_then(|c| c.archive_server(r.method))
                    .and_then(|s| s.parse().ok())
                    .or_else(|| Some(cluster.default_server_name()));
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_backup_maps_timeline_and_tagged_server() {
        let b: Backup = serde_json::from_value(serde_json::json!({
            "apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": {"name": "pg-admin-cnpg-backup-20261126043000",
                "labels": {"cnpg-backup.io/backup-set": "20261126043000"},
                "annotations": {"cnpg-backup.io/app-version": "1.4.0",
                    "cnpg-backup.io/server-name": "pg-admin"}},
            "spec": {"cluster": {"name": "pg-admin"}, "method": "plugin",
                "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}},
            "status": {"phase": "completed", "backupId": "20261126T043001",
                "startedAt": "2026-11-26T04:30:01Z", "stoppedAt": "2026-11-26T04:31:00Z",
                "pluginMetadata": {"timeline": "2"}}
        }))
        .unwrap();
        let r = backup_record(&b).unwrap();
        assert_eq!(r.phase, BackupPhase::Completed);
        assert_eq!(r.method, BackupMethod::Plugin);
        assert_eq!(r.timeline, Some(2));
        assert_eq!(r.server_name.unwrap().as_str(), "pg-admin");
        assert_eq!(r.backup_id.unwrap().as_str(), "20261126T043001");
        assert_eq!(r.backup_set_id.unwrap().as_str(), "20261126043000");
        assert_eq!(r.app_version.unwrap().to_string(), "1.4.0");
        assert!(r.ended_at > r.started_at);
    }

    #[test]
    fn in_tree_timeline_comes_from_begin_wal_and_snapshots_are_left_out() {
        let mut b: Backup = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "b1"},
            "spec": {"cluster": {"name": "pg-admin"}},
            "status": {"phase": "running", "beginWal": "000000030000000000000004",
                "serverName": "pg-admin"}
        }))
        .unwrap();
        let r = backup_record(&b).unwrap();
        assert_eq!(r.timeline, Some(3));
        assert_eq!(r.phase, BackupPhase::Running);
        assert_eq!(r.error, None);
        b.status.as_mut().unwrap().phase = Some("failed".to_owned());
        b.status.as_mut().unwrap().error = Some("can't execute backup: exit status 4".to_owned());
        let r = backup_record(&b).unwrap();
        assert_eq!(r.phase, BackupPhase::Failed);
        assert_eq!(
            r.error.as_deref(),
            Some("can't execute backup: exit status 4")
        );
        b.spec.method = Some("volumeSnapshot".to_owned());
        assert_eq!(backup_record(&b), None);
    }
}
