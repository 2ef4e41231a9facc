//! [`KubeClusterLifecycle`]: the core's [`ClusterLifecycle`] port: observe, save, create (as
//! recovery) and delete CNPG Clusters. It decides nothing; the restore engine calls it.
//!
//! Every call is idempotent in effect, so a restore rerun after a crash between any two calls
//! converges: a delete that finds nothing (404) is done; a create that finds the name taken (409
//! `AlreadyExists`) reads the cluster and succeeds when it carries the same restore id.
//!
//! **Recovery always reads the bucket**, never a Backup object: deleting a Cluster may
//! garbage-collect the Backups it owns, and `bootstrap.recovery.backup.name` does not work for
//! plugin Backups. So every recovery cluster, temporary or the recreated live one, bootstraps
//! with `bootstrap.recovery.source` naming an `externalClusters[]` entry (in-tree
//! `barmanObjectStore`, or the plugin with `barmanObjectName` and an explicit `serverName`) and a
//! `recoveryTarget` of `backupID` (named backup) or `targetTime` (point in time). Its own archive
//! gets the fresh `archive_server` name, so it never writes into the live archive and never meets
//! "Expected empty archive".

use chrono::SecondsFormat;
use cnpg_backup_core::automation::BackupMethod;
use cnpg_backup_core::names::{ClusterName, RestoreId};
use cnpg_backup_core::ports::{
    BackendError, ClusterLifecycle, ClusterManifest, ClusterObservation,
};
use cnpg_backup_core::restore::{RecoveryClusterSpec, RecoveryTarget};
use kube::api::{DeleteParams, PostParams};
use serde_json::{Map, Value};

use crate::error::{is_already_exists, is_not_found, to_backend};
use crate::labels;
use crate::render::RenderError;
use crate::resources::{
    BARMAN_CLOUD_PLUGIN, Bootstrap, BootstrapRecovery, Cluster, ExternalCluster,
    PluginConfiguration, RecoveryTargetSpec,
};
use crate::scope::KubeScope;

/// The field manager of the clusters this module creates (a create, operation `Update`). A
/// recreated live cluster's fields are owned by it, so a later backup reconcile that wants other
/// values there (e.g. the archive server name from before the cutover) reports a conflict naming
/// this manager instead of changing the archive silently.
pub const RESTORE_FIELD_MANAGER: &str = "cnpg-backup-restore";

/// The `externalClusters[]` entry a recovery cluster reads its source archive from.
pub const RECOVERY_SOURCE_NAME: &str = "cnpg-backup-source";

/// Annotations a saved manifest drops (client-side bookkeeping of other tools).
const DROPPED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// CNPG Clusters in one namespace.
#[derive(Debug, Clone)]
pub struct KubeClusterLifecycle {
    scope: KubeScope,
}

fn restore_id_of(cluster: &Cluster) -> Option<RestoreId> {
    cluster
        .metadata
        .labels
        .as_ref()?
        .get(labels::RESTORE_ID)?
        .parse()
        .ok()
}

/// What is observed of a Cluster object (readiness as CNPG's own e2e checks define it).
pub fn observation(name: &ClusterName, cluster: &Cluster) -> ClusterObservation {
    let mut o = ClusterObservation::new(name.clone(), cluster.spec.instances.unwrap_or(1));
    o.restore_id = restore_id_of(cluster);
    o.deleting = cluster.metadata.deletion_timestamp.is_some();
    if let Some(status) = &cluster.status {
        o.phase = status.phase.clone();
        o.ready_instances = status.ready_instances.unwrap_or(0);
        o.ready_condition = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let mut detail = format!(
            "phase `{}`, {}/{} instances ready",
            status.phase.as_deref().unwrap_or("none yet"),
            o.ready_instances,
            o.instances
        );
        if let Some(reason) = &status.phase_reason {
            detail.push_str(&format!(", {reason}"));
        }
        if let Some(c) = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.status != "True")
            && let Some(m) = &c.message
        {
            detail.push_str(&format!(", not ready: {m}"));
        }
        o.detail = Some(detail);
    } else {
        o.detail = Some("no status yet: the operator has not reconciled it".to_owned());
    }
    if o.deleting {
        o.detail = Some("being deleted".to_owned());
    }
    o
}

/// The manifest a live cluster would be recreated from: `apiVersion`, `kind`, name, labels,
/// annotations and the whole spec; status and server-set metadata removed.
pub fn saved_manifest(cluster: &Cluster) -> ClusterManifest {
    let mut c = cluster.clone();
    c.status = None;
    let m = &cluster.metadata;
    c.metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        labels: m.labels.clone(),
        annotations: m.annotations.clone().map(|mut a| {
            a.retain(|k, _| !DROPPED_ANNOTATIONS.contains(&k.as_str()));
            a
        }),
        ..Default::default()
    };
    ClusterManifest(serde_json::to_value(&c).unwrap_or(Value::Null))
}

fn manifest_error(cluster: &ClusterName, reason: impl Into<String>) -> RenderError {
    RenderError::Manifest {
        cluster: cluster.to_string(),
        reason: reason.into(),
    }
}

/// Renders the Cluster `spec.name` from a saved live manifest with its bootstrap replaced by
/// recovery from the bucket, as the module docs explain.
///
/// # Errors
/// [`RenderError::Manifest`] when the manifest does not decode or has no archive configuration
/// of `spec.method` to read from.
pub fn render_recovery_cluster(
    base: &ClusterManifest,
    spec: &RecoveryClusterSpec,
    namespace: &str,
) -> Result<Cluster, RenderError> {
    let mut cluster: Cluster = serde_json::from_value(base.0.clone())
        .map_err(|e| manifest_error(&spec.source_cluster, format!("does not decode: {e}")))?;
    cluster.api_version = Cluster::API_VERSION.to_owned();
    cluster.kind = Cluster::KIND.to_owned();
    cluster.status = None;
    let old = cluster.metadata.clone();
    let mut labels_map = old.labels.unwrap_or_default();
    labels_map.insert(labels::RESTORE_ID.to_owned(), spec.restore_id.to_string());
    labels_map.insert(labels::PLANE.to_owned(), spec.plane.to_string());
    labels_map.insert(
        labels::ROLE.to_owned(),
        if spec.replaces_live {
            "live"
        } else {
            "recovery"
        }
        .to_owned(),
    );
    let mut annotations = old.annotations.unwrap_or_default();
    annotations.retain(|k, _| !DROPPED_ANNOTATIONS.contains(&k.as_str()));
    annotations.insert(
        labels::RECOVERY_SOURCE.to_owned(),
        format!("{}/{}", spec.source_cluster, spec.source_server),
    );
    annotations.insert(
        labels::RECOVERY_TARGET.to_owned(),
        serde_json::to_string(&spec.target).unwrap_or_default(),
    );
    cluster.metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(spec.name.to_string()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels_map),
        annotations: Some(annotations),
        ..Default::default()
    };
    if let Some(n) = spec.instances {
        cluster.spec.instances = Some(n);
    }

    // Source archive and the new cluster's own (fresh) archive server name.
    let source = match spec.method {
        BackupMethod::BarmanObjectStore => {
            let live = cluster
                .spec
                .backup
                .as_mut()
                .and_then(|b| b.barman_object_store.as_mut())
                .ok_or_else(|| {
                    manifest_error(
                        &spec.source_cluster,
                        "has no `spec.backup.barmanObjectStore` to recover from",
                    )
                })?;
            let mut src = live.clone();
            src.server_name = Some(spec.source_server.to_string());
            live.server_name = Some(spec.archive_server.to_string());
            ExternalCluster {
                name: RECOVERY_SOURCE_NAME.to_owned(),
                barman_object_store: Some(src),
                ..Default::default()
            }
        }
        BackupMethod::Plugin => {
            let entry = cluster
                .spec
                .plugins
                .iter_mut()
                .find(|p| p.name == BARMAN_CLOUD_PLUGIN)
                .ok_or_else(|| {
                    manifest_error(
                        &spec.source_cluster,
                        format!(
                            "has no `spec.plugins[]` entry `{BARMAN_CLOUD_PLUGIN}` to recover from"
                        ),
                    )
                })?;
            let store = entry
                .parameters
                .get("barmanObjectName")
                .cloned()
                .ok_or_else(|| {
                    manifest_error(
                        &spec.source_cluster,
                        "its Barman Cloud plugin entry has no `barmanObjectName`",
                    )
                })?;
            entry
                .parameters
                .insert("serverName".to_owned(), spec.archive_server.to_string());
            ExternalCluster {
                name: RECOVERY_SOURCE_NAME.to_owned(),
                plugin: Some(PluginConfiguration {
                    name: BARMAN_CLOUD_PLUGIN.to_owned(),
                    parameters: [
                        ("barmanObjectName".to_owned(), store),
                        ("serverName".to_owned(), spec.source_server.to_string()),
                    ]
                    .into(),
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
    };
    cluster
        .spec
        .external_clusters
        .retain(|e| e.name != RECOVERY_SOURCE_NAME);
    cluster.spec.external_clusters.push(source);

    // Bootstrap: recovery replaces initdb/pg_basebackup; the app database, owner and secret
    // of initdb carry over (CNPG applies them after recovery).
    let mut carried = Map::new();
    if let Some(init) = cluster
        .spec
        .bootstrap
        .as_ref()
        .and_then(|b| b.extra.get("initdb"))
        .and_then(Value::as_object)
    {
        for key in ["database", "owner", "secret"] {
            if let Some(v) = init.get(key) {
                carried.insert(key.to_owned(), v.clone());
            }
        }
    }
    let recovery_target = match &spec.target {
        RecoveryTarget::Backup { backup_id, .. } => RecoveryTargetSpec {
            backup_id: Some(backup_id.to_string()),
            ..Default::default()
        },
        RecoveryTarget::PointInTime {
            target_time,
            backup_id,
        } => RecoveryTargetSpec {
            backup_id: backup_id.as_ref().map(ToString::to_string),
            target_time: Some(target_time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            ..Default::default()
        },
    };
    cluster.spec.bootstrap = Some(Bootstrap {
        recovery: Some(BootstrapRecovery {
            source: Some(RECOVERY_SOURCE_NAME.to_owned()),
            recovery_target: Some(recovery_target),
            extra: carried.into_iter().collect(),
        }),
        ..Default::default()
    });
    Ok(cluster)
}

impl KubeClusterLifecycle {
    /// Clusters of `scope`'s namespace.
    pub fn new(scope: KubeScope) -> Self {
        Self { scope }
    }

    async fn get(&self, name: &ClusterName) -> Result<Option<Cluster>, BackendError> {
        self.scope
            .get_opt::<Cluster>(name.as_str(), &format!("cluster `{name}`"))
            .await
    }
}

#[async_trait::async_trait]
impl ClusterLifecycle for KubeClusterLifecycle {
    async fn observe(
        &self,
        name: &ClusterName,
    ) -> Result<Option<ClusterObservation>, BackendError> {
        Ok(self.get(name).await?.map(|c| observation(name, &c)))
    }

    async fn manifest(&self, name: &ClusterName) -> Result<ClusterManifest, BackendError> {
        match self.get(name).await? {
            Some(c) => Ok(saved_manifest(&c)),
            None => Err(BackendError::NotFound {
                what: format!("cluster `{name}`"),
            }),
        }
    }

    async fn create(
        &self,
        base: &ClusterManifest,
        spec: &RecoveryClusterSpec,
    ) -> Result<(), BackendError> {
        let cluster = render_recovery_cluster(base, spec, self.scope.namespace())?;
        let what = format!("cluster `{}`", spec.name);
        match self
            .scope
            .api::<Cluster>()
            .create(
                &PostParams {
                    field_manager: Some(RESTORE_FIELD_MANAGER.to_owned()),
                    ..Default::default()
                },
                &cluster,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_already_exists(&e) => match self.get(&spec.name).await? {
                // Ours, and not on its way out (a cluster being deleted is not a created one).
                Some(existing)
                    if restore_id_of(&existing).as_ref() == Some(&spec.restore_id)
                        && existing.metadata.deletion_timestamp.is_none() =>
                {
                    Ok(())
                }
                _ => Err(BackendError::AlreadyExists { what }),
            },
            Err(e) => Err(to_backend(&e, &what)),
        }
    }

    async fn delete(&self, name: &ClusterName) -> Result<(), BackendError> {
        match self
            .scope
            .api::<Cluster>()
            .delete(name.as_str(), &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(to_backend(&e, &format!("cluster `{name}`"))),
        }
    }
}
