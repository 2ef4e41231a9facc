//! Rendering core plans into CNPG objects: pure functions, no I/O, snapshot-tested.
//!
//! Each function returns the object (or the apply patch: only the fields we own) that the
//! adapters send. The recovery-cluster renderer lives in [`crate::lifecycle`].

use std::collections::BTreeMap;

use cnpg_backup_core::automation::{BackupMethod, PlaneBackupPlan, ScheduledBackupPlan};
use cnpg_backup_core::catalog::BackupSetId;
use cnpg_backup_core::names::ServerName;
use cnpg_backup_core::ports::BackupRequest;
use cnpg_backup_core::target::{Credentials, ObjectStoreTarget, Provider, SecretRef};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::labels;
use crate::resources::{
    AzureCredentials, BARMAN_CLOUD_PLUGIN, Backup, BackupConfiguration, BackupSpec,
    BarmanObjectStoreConfiguration, Cluster, ClusterSpec, GoogleCredentials, LocalObjectReference,
    ObjectStore, ObjectStoreSpec, PluginConfiguration, S3Credentials, ScheduledBackup,
    ScheduledBackupSpec, SecretKeySelector,
};

/// Why a plan or manifest cannot be rendered into CNPG objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The provider cannot be used by a CNPG cluster.
    #[error(
        "provider `{provider}` cannot be used by a CNPG cluster; use s3, s3_compatible, gcs or azure"
    )]
    UnsupportedProvider {
        /// The provider.
        provider: String,
    },
    /// The credentials do not fit the provider.
    #[error("credentials `{credentials}` do not fit provider `{provider}`")]
    CredentialsMismatch {
        /// The provider.
        provider: String,
        /// The credentials kind.
        credentials: String,
    },
    /// The base manifest lacks what recovery needs.
    #[error("cluster manifest `{cluster}`: {reason}")]
    Manifest {
        /// The cluster.
        cluster: String,
        /// What is missing or wrong.
        reason: String,
    },
}

impl From<RenderError> for cnpg_backup_core::ports::BackendError {
    fn from(e: RenderError) -> Self {
        cnpg_backup_core::ports::BackendError::Invalid {
            detail: e.to_string(),
        }
    }
}

fn selector(r: &SecretRef) -> SecretKeySelector {
    SecretKeySelector {
        name: r.name.to_string(),
        key: r.key.clone(),
    }
}

fn provider_name(p: Provider) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{p:?}"))
}

fn credentials_name(c: &Credentials) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// Barman's object-store configuration for `target`: destination, endpoint, CA and the
/// credentials as secret references. `server_name` is set only where CNPG allows it (not in an
/// `ObjectStore`).
///
/// # Errors
/// [`RenderError`] for the local provider or credentials that do not fit the provider.
pub fn barman_configuration(
    target: &ObjectStoreTarget,
    destination_path: &str,
    server_name: Option<&ServerName>,
) -> Result<BarmanObjectStoreConfiguration, RenderError> {
    let mismatch = || RenderError::CredentialsMismatch {
        provider: provider_name(target.provider),
        credentials: credentials_name(&target.credentials),
    };
    let mut cfg = BarmanObjectStoreConfiguration {
        destination_path: destination_path.to_owned(),
        endpoint_url: target.endpoint.clone(),
        endpoint_ca: target.endpoint_ca.as_ref().map(selector),
        server_name: server_name.map(ToString::to_string),
        ..Default::default()
    };
    match target.provider {
        Provider::Local => {
            return Err(RenderError::UnsupportedProvider {
                provider: provider_name(target.provider),
            });
        }
        Provider::S3 | Provider::S3Compatible => {
            cfg.s3_credentials = Some(match &target.credentials {
                Credentials::S3AccessKey {
                    access_key_id,
                    secret_access_key,
                    session_token,
                } => S3Credentials {
                    access_key_id: Some(selector(access_key_id)),
                    secret_access_key: Some(selector(secret_access_key)),
                    session_token: session_token.as_ref().map(selector),
                    ..Default::default()
                },
                Credentials::S3InheritIamRole if target.provider == Provider::S3 => S3Credentials {
                    inherit_from_iam_role: Some(true),
                    ..Default::default()
                },
                _ => return Err(mismatch()),
            });
        }
        Provider::Gcs => {
            cfg.google_credentials = Some(match &target.credentials {
                Credentials::GcsApplicationCredentials {
                    application_credentials,
                } => GoogleCredentials {
                    application_credentials: Some(selector(application_credentials)),
                    ..Default::default()
                },
                Credentials::GcsWorkloadIdentity => GoogleCredentials {
                    gke_environment: Some(true),
                    ..Default::default()
                },
                _ => return Err(mismatch()),
            });
        }
        Provider::Azure => {
            cfg.azure_credentials = Some(match &target.credentials {
                Credentials::AzureStorageKey {
                    storage_account,
                    storage_key,
                } => AzureCredentials {
                    storage_account: Some(selector(storage_account)),
                    storage_key: Some(selector(storage_key)),
                    ..Default::default()
                },
                Credentials::AzureSasToken {
                    storage_account,
                    storage_sas_token,
                } => AzureCredentials {
                    storage_account: Some(selector(storage_account)),
                    storage_sas_token: Some(selector(storage_sas_token)),
                    ..Default::default()
                },
                Credentials::AzureConnectionString { connection_string } => AzureCredentials {
                    connection_string: Some(selector(connection_string)),
                    ..Default::default()
                },
                Credentials::AzureInheritAd => AzureCredentials {
                    inherit_from_azure_ad: Some(true),
                    ..Default::default()
                },
                _ => return Err(mismatch()),
            });
        }
    }
    Ok(cfg)
}

fn meta(name: &str, namespace: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: (!labels.is_empty()).then_some(labels),
        ..Default::default()
    }
}

fn our_labels(plan: &PlaneBackupPlan) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY.to_owned(),
            labels::MANAGED_BY_VALUE.to_owned(),
        ),
        (labels::PLANE.to_owned(), plan.plane.to_string()),
    ])
}

/// The Cluster's plugin entry for the Barman Cloud plugin as WAL archiver.
pub fn plugin_entry(object_store: &str, server_name: &ServerName) -> PluginConfiguration {
    PluginConfiguration {
        name: BARMAN_CLOUD_PLUGIN.to_owned(),
        is_wal_archiver: Some(true),
        parameters: BTreeMap::from([
            ("barmanObjectName".to_owned(), object_store.to_owned()),
            ("serverName".to_owned(), server_name.to_string()),
        ]),
        ..Default::default()
    }
}

/// The apply patch of the live Cluster for a plane: only the fields we own.
///
/// In-tree: `spec.backup.barmanObjectStore` (with `serverName`) and `spec.backup.retentionPolicy`.
/// Plugin: the `spec.plugins[]` entry `barman-cloud.cloudnative-pg.io` with `isWALArchiver: true`
/// and parameters `barmanObjectName` and `serverName` (retention lives in the `ObjectStore`).
///
/// # Errors
/// [`RenderError`] when the target cannot be rendered.
pub fn render_cluster_backup(
    plan: &PlaneBackupPlan,
    namespace: &str,
) -> Result<Cluster, RenderError> {
    let mut spec = ClusterSpec::default();
    match plan.method {
        BackupMethod::BarmanObjectStore => {
            spec.backup = Some(BackupConfiguration {
                barman_object_store: Some(barman_configuration(
                    &plan.target,
                    &plan.destination_path,
                    Some(&plan.server_name),
                )?),
                retention_policy: Some(plan.retention.to_string()),
                ..Default::default()
            });
        }
        BackupMethod::Plugin => {
            let store = object_store_name(plan);
            spec.plugins = vec![plugin_entry(&store, &plan.server_name)];
        }
    }
    Ok(Cluster::with_spec(
        meta(plan.cluster.as_str(), namespace, BTreeMap::new()),
        spec,
    ))
}

/// The `ObjectStore` name of a plugin plane (`<cluster>-store` unless the plan names one).
pub fn object_store_name(plan: &PlaneBackupPlan) -> String {
    plan.object_store_name
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| format!("{}-store", plan.cluster))
}

/// The plugin's `ObjectStore` for a plane (no `serverName`: CEL forbids it there).
///
/// # Errors
/// [`RenderError`] when the target cannot be rendered.
pub fn render_object_store(
    plan: &PlaneBackupPlan,
    namespace: &str,
) -> Result<ObjectStore, RenderError> {
    Ok(ObjectStore::with_spec(
        meta(&object_store_name(plan), namespace, our_labels(plan)),
        ObjectStoreSpec {
            configuration: barman_configuration(&plan.target, &plan.destination_path, None)?,
            retention_policy: Some(plan.retention.to_string()),
            ..Default::default()
        },
    ))
}

fn method_fields(method: BackupMethod) -> (String, Option<PluginConfiguration>) {
    match method {
        BackupMethod::BarmanObjectStore => ("barmanObjectStore".to_owned(), None),
        BackupMethod::Plugin => (
            "plugin".to_owned(),
            Some(PluginConfiguration {
                name: BARMAN_CLOUD_PLUGIN.to_owned(),
                ..Default::default()
            }),
        ),
    }
}

/// The ScheduledBackup we manage for a plane.
///
/// `backupOwnerReference` comes from the plan (`none` by default): the Backups it creates are owned by nothing, so neither
/// deleting this ScheduledBackup (automation disabled) nor deleting the Cluster (a cutover)
/// garbage-collects them; the catalog of a plane survives both.
pub fn render_scheduled_backup(
    plan: &PlaneBackupPlan,
    sb: &ScheduledBackupPlan,
    namespace: &str,
) -> ScheduledBackup {
    let (method, plugin_configuration) = method_fields(sb.method);
    ScheduledBackup::with_spec(
        meta(sb.name.as_str(), namespace, our_labels(plan)),
        ScheduledBackupSpec {
            schedule: sb.schedule.to_string(),
            cluster: LocalObjectReference {
                name: plan.cluster.to_string(),
            },
            immediate: Some(sb.immediate),
            suspend: Some(sb.suspend),
            backup_owner_reference: Some(sb.owner_reference.as_cnpg().to_owned()),
            method: Some(method),
            plugin_configuration,
            ..Default::default()
        },
    )
}

/// An on-demand Backup: CNPG's `cnpg.io/cluster` label, our managed-by, plane and set-id labels,
/// and the annotations of the archive server it is written under (`server`, which CNPG does
/// not record for plugin Backups) and of the app version.
pub fn render_backup(request: &BackupRequest, namespace: &str, server: &str) -> Backup {
    let (method, plugin_configuration) = method_fields(request.method);
    let mut metadata = meta(
        request.name.as_str(),
        namespace,
        BTreeMap::from([
            (labels::CNPG_CLUSTER.to_owned(), request.cluster.to_string()),
            (
                labels::MANAGED_BY.to_owned(),
                labels::MANAGED_BY_VALUE.to_owned(),
            ),
            (labels::PLANE.to_owned(), request.plane.to_string()),
            (labels::BACKUP_SET.to_owned(), request.set_id.to_string()),
        ]),
    );
    let mut annotations = BTreeMap::from([(labels::SERVER_NAME.to_owned(), server.to_owned())]);
    if let Some(v) = &request.app_version {
        annotations.insert(labels::APP_VERSION.to_owned(), v.to_string());
    }
    metadata.annotations = Some(annotations);
    Backup::with_spec(
        metadata,
        BackupSpec {
            cluster: LocalObjectReference {
                name: request.cluster.to_string(),
            },
            method: Some(method),
            plugin_configuration,
            ..Default::default()
        },
    )
}

/// The backup-set id of a Backup made by ScheduledBackup `sb`: the core's
/// [`BackupSetId::scheduled`] (`s-YYYYMMDDHHMMSS` from the name's suffix); `None` for a Backup
/// whose name is not `<sb>-YYYYMMDDHHMMSS`.
pub fn set_id_from_backup_name(sb: &str, backup: &str) -> Option<BackupSetId> {
    BackupSetId::scheduled(&backup.parse().ok()?, &sb.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_id_is_the_fourteen_digit_suffix() {
        let id = set_id_from_backup_name(
            "pg-admin-cnpg-backup",
            "pg-admin-cnpg-backup-20261126043000",
        );
        assert_eq!(
            id.map(|i| i.to_string()).as_deref(),
            Some("s-20261126043000")
        );
        assert_eq!(
            set_id_from_backup_name("pg-admin-cnpg-backup", "pg-admin-cnpg-backup-2026"),
            None
        );
        assert_eq!(
            set_id_from_backup_name("other", "pg-admin-cnpg-backup-20261126043000"),
            None
        );
    }
}
