//! Typed CNPG objects: `Cluster`, `Backup`, `ScheduledBackup` (`postgresql.cnpg.io/v1`) and the
//! Barman Cloud plugin's `ObjectStore` (`barmancloud.cnpg.io/v1`).
//!
//! Hand-written serde structs checked by the tests against the upstream CRDs (CNPG v1.30.0,
//! plugin v0.14.0; not in this repository, see `fixtures/README.md`). Only the fields this crate reads or writes are typed; every other field
//! lands in an `extra` map (`#[serde(flatten)]`) so an object read and written back keeps what we
//! do not know. Optional fields are skipped when unset, so a value built here is also a valid
//! server-side-apply patch that names only our fields.

use std::borrow::Cow;
use std::collections::BTreeMap;

use cnpg_backup_core::automation::BackupMethod;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Unknown fields of an object, kept as they were read.
pub type Extra = BTreeMap<String, Value>;

/// The Barman Cloud plugin name (`barman-cloud.cloudnative-pg.io`).
pub const BARMAN_CLOUD_PLUGIN: &str = "barman-cloud.cloudnative-pg.io";

macro_rules! cnpg_resource {
    ($ty:ident, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($group)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($version)
            }
            fn api_version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(concat!($group, "/", $version))
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl $ty {
            /// `apiVersion` of this kind.
            pub const API_VERSION: &'static str = concat!($group, "/", $version);
            /// `kind`.
            pub const KIND: &'static str = $kind;
            /// The resource (plural) name in API paths.
            pub const PLURAL: &'static str = $plural;
            /// The API group.
            pub const GROUP: &'static str = $group;

            /// An object with this metadata and spec, `apiVersion` and `kind` set.
            pub fn with_spec(metadata: ObjectMeta, spec: <$ty as HasSpec>::Spec) -> Self {
                Self {
                    api_version: Self::API_VERSION.to_owned(),
                    kind: Self::KIND.to_owned(),
                    metadata,
                    spec,
                    status: None,
                    extra: Extra::new(),
                }
            }
        }
    };
}

/// Associates a kind with its spec type.
pub trait HasSpec {
    /// The spec type.
    type Spec;
}

/// A reference to a key of a Secret (`{name, key}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretKeySelector {
    /// Secret name.
    pub name: String,
    /// Key.
    pub key: String,
}

/// A `{name}` reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalObjectReference {
    /// Name.
    pub name: String,
}

/// S3 credentials of a Barman object store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Credentials {
    /// `accessKeyId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<SecretKeySelector>,
    /// `secretAccessKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SecretKeySelector>,
    /// `sessionToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SecretKeySelector>,
    /// `inheritFromIAMRole`.
    #[serde(
        default,
        rename = "inheritFromIAMRole",
        skip_serializing_if = "Option::is_none"
    )]
    pub inherit_from_iam_role: Option<bool>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Azure credentials of a Barman object store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureCredentials {
    /// `connectionString`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<SecretKeySelector>,
    /// `storageAccount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<SecretKeySelector>,
    /// `storageKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_key: Option<SecretKeySelector>,
    /// `storageSasToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_sas_token: Option<SecretKeySelector>,
    /// `inheritFromAzureAD`.
    #[serde(
        default,
        rename = "inheritFromAzureAD",
        skip_serializing_if = "Option::is_none"
    )]
    pub inherit_from_azure_ad: Option<bool>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Google credentials of a Barman object store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleCredentials {
    /// `applicationCredentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_credentials: Option<SecretKeySelector>,
    /// `gkeEnvironment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gke_environment: Option<bool>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Barman's object-store configuration (in-tree `barmanObjectStore`, plugin `configuration`,
/// `externalClusters[].barmanObjectStore`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BarmanObjectStoreConfiguration {
    /// `destinationPath`, e.g. `s3://bucket/prefix`.
    pub destination_path: String,
    /// `endpointURL`.
    #[serde(
        default,
        rename = "endpointURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub endpoint_url: Option<String>,
    /// `endpointCA`.
    #[serde(
        default,
        rename = "endpointCA",
        skip_serializing_if = "Option::is_none"
    )]
    pub endpoint_ca: Option<SecretKeySelector>,
    /// `serverName` (not allowed in an `ObjectStore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// `s3Credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_credentials: Option<S3Credentials>,
    /// `azureCredentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_credentials: Option<AzureCredentials>,
    /// `googleCredentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_credentials: Option<GoogleCredentials>,
    /// Unknown fields (`wal`, `data`, `tags`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A CNPG plugin entry (`spec.plugins[]`, `externalClusters[].plugin`, a Backup's
/// `pluginConfiguration`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfiguration {
    /// Plugin name.
    pub name: String,
    /// `isWALArchiver` (Cluster plugins only).
    #[serde(
        default,
        rename = "isWALArchiver",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_wal_archiver: Option<bool>,
    /// Parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Unknown fields (`enabled`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.backup` of a Cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupConfiguration {
    /// In-tree Barman Cloud configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barman_object_store: Option<BarmanObjectStoreConfiguration>,
    /// `retentionPolicy`, e.g. `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    /// Unknown fields (`target`, `volumeSnapshot`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `bootstrap.recovery.recoveryTarget`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryTargetSpec {
    /// `backupID`.
    #[serde(default, rename = "backupID", skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// `targetTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_time: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `bootstrap.recovery`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapRecovery {
    /// Name of the `externalClusters[]` entry to recover from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The recovery target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_target: Option<RecoveryTargetSpec>,
    /// Unknown fields (`database`, `owner`, `secret`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.bootstrap`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    /// Recovery bootstrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<BootstrapRecovery>,
    /// Unknown fields (`initdb`, `pg_basebackup`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.externalClusters[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalCluster {
    /// Entry name.
    pub name: String,
    /// In-tree Barman source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barman_object_store: Option<BarmanObjectStoreConfiguration>,
    /// Plugin source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginConfiguration>,
    /// Unknown fields (`connectionParameters`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec` of a Cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// `instances`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// `backup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupConfiguration>,
    /// `plugins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginConfiguration>,
    /// `bootstrap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
    /// `externalClusters`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_clusters: Vec<ExternalCluster>,
    /// Unknown fields (`storage`, `imageName`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `metav1.Condition`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `type`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `status` of a Cluster (written by the operator).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// `phase`, e.g. `Cluster in healthy state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `phaseReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_reason: Option<String>,
    /// `readyInstances`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_instances: Option<u32>,
    /// `conditions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A CNPG `Cluster`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: ClusterSpec,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ClusterStatus>,
    /// Unknown top-level fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl HasSpec for Cluster {
    type Spec = ClusterSpec;
}

impl Cluster {
    /// The archive server name a backup of `method` is written under now: the plugin entry's
    /// `serverName` parameter (plugin) or `spec.backup.barmanObjectStore.serverName` (in-tree),
    /// else the cluster's name, as CNPG and the plugin default it. `None` when the cluster has
    /// no backup configuration of that method (no Barman Cloud plugin entry, or no
    /// `barmanObjectStore`), so a backup of that method cannot be taken.
    pub fn archive_server(&self, method: BackupMethod) -> Option<String> {
        let configured = match method {
            BackupMethod::Plugin => self
                .spec
                .plugins
                .iter()
                .find(|p| p.name == BARMAN_CLOUD_PLUGIN)
                .map(|p| p.parameters.get("serverName").cloned()),
            BackupMethod::BarmanObjectStore => self
                .spec
                .backup
                .as_ref()
                .and_then(|b| b.barman_object_store.as_ref())
                .map(|b| b.server_name.clone()),
        }?;
        Some(
            configured
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default()),
        )
    }
}
cnpg_resource!(Cluster, "postgresql.cnpg.io", "v1", "Cluster", "clusters");

/// `spec` of a Backup (immutable once set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// The cluster.
    pub cluster: LocalObjectReference,
    /// `barmanObjectStore`, `volumeSnapshot` or `plugin` (default `barmanObjectStore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `pluginConfiguration` (method `plugin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_configuration: Option<PluginConfiguration>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `status` of a Backup (written by the operator).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// `phase`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `startedAt` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// `stoppedAt` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// `backupId`, the Barman backup id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// `serverName` (in-tree backups only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// `beginWal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_wal: Option<String>,
    /// `pluginMetadata` (plugin backups: `timeline`, `clusterUID`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin_metadata: BTreeMap<String, String>,
    /// `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A CNPG `Backup`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: BackupSpec,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BackupStatus>,
    /// Unknown top-level fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl HasSpec for Backup {
    type Spec = BackupSpec;
}
cnpg_resource!(Backup, "postgresql.cnpg.io", "v1", "Backup", "backups");

/// `spec` of a ScheduledBackup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBackupSpec {
    /// Six-field cron (seconds first).
    pub schedule: String,
    /// The cluster (immutable after creation).
    pub cluster: LocalObjectReference,
    /// `immediate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediate: Option<bool>,
    /// `suspend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// `backupOwnerReference`: `none`, `self` or `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_owner_reference: Option<String>,
    /// `method`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `pluginConfiguration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_configuration: Option<PluginConfiguration>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A CNPG `ScheduledBackup`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBackup {
    /// `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: ScheduledBackupSpec,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// Unknown top-level fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl HasSpec for ScheduledBackup {
    type Spec = ScheduledBackupSpec;
}
cnpg_resource!(
    ScheduledBackup,
    "postgresql.cnpg.io",
    "v1",
    "ScheduledBackup",
    "scheduledbackups"
);

/// `spec` of an ObjectStore.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreSpec {
    /// The Barman configuration (no `serverName`: the Cluster's plugin parameters carry it).
    pub configuration: BarmanObjectStoreConfiguration,
    /// `retentionPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    /// Unknown fields (`instanceSidecarConfiguration`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The Barman Cloud plugin's `ObjectStore`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStore {
    /// `apiVersion`.
    #[serde(default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: ObjectStoreSpec,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// Unknown top-level fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl HasSpec for ObjectStore {
    type Spec = ObjectStoreSpec;
}
cnpg_resource!(
    ObjectStore,
    "barmancloud.cnpg.io",
    "v1",
    "ObjectStore",
    "objectstores"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let input = serde_json::json!({
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "pg-admin"},
            "spec": {
                "instances": 3,
                "storage": {"size": "1Gi"},
                "backup": {"target": "prefer-standby", "barmanObjectStore": {
                    "destinationPath": "s3://b/p", "wal": {"compression": "gzip"}}},
                "plugins": [{"name": "x", "enabled": false}]
            },
            "status": {"phase": "Cluster in healthy state", "timelineID": 1},
            "futureTopLevel": true
        });
        let cluster: Cluster = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(cluster.spec.instances, Some(3));
        assert_eq!(serde_json::to_value(&cluster).unwrap(), input);
    }

    #[test]
    fn resource_paths_match_the_crds() {
        use kube::Resource;
        assert_eq!(
            Cluster::url_path(&(), Some("ns")),
            "/apis/postgresql.cnpg.io/v1/namespaces/ns/clusters"
        );
        assert_eq!(
            ObjectStore::url_path(&(), Some("ns")),
            "/apis/barmancloud.cnpg.io/v1/namespaces/ns/objectstores"
        );
    }
}
