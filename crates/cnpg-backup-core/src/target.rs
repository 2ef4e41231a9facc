//! Object-storage targets: where backups go, and which Kubernetes secrets hold the credentials.
//!
//! A target holds secret *references* (name + key), never secret values.
//! FOUNDATION: types fixed; per-provider validation is filled in by issue 2, item 4.

use serde::{Deserialize, Serialize};

use crate::names::{ClusterName, ObjectName, ServerName};

/// The kind of object storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Amazon S3.
    S3,
    /// An S3-compatible server (MinIO, Ceph RGW, ...): needs an endpoint URL.
    S3Compatible,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
    /// A local directory: the embedded default and tests. Not usable by a real CNPG cluster.
    Local,
}

/// A reference to one key of a Kubernetes Secret in the deployment namespace. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Secret name (DNS-1123 subdomain).
    pub name: ObjectName,
    /// Key inside the secret.
    pub key: String,
}

/// How the database pods and this tool authenticate to the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// S3 access key pair (S3 and S3-compatible).
    S3AccessKey {
        /// Access key id.
        access_key_id: SecretRef,
        /// Secret access key.
        secret_access_key: SecretRef,
        /// Optional session token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<SecretRef>,
    },
    /// IAM role of the pod (IRSA / EKS Pod Identity): S3 only.
    S3InheritIamRole,
    /// A GCS service-account JSON key.
    GcsApplicationCredentials {
        /// The JSON key file.
        application_credentials: SecretRef,
    },
    /// GKE workload identity.
    GcsWorkloadIdentity,
    /// Azure storage account and key.
    AzureStorageKey {
        /// Storage account name.
        storage_account: SecretRef,
        /// Storage account key.
        storage_key: SecretRef,
    },
    /// Azure storage account and SAS token.
    AzureSasToken {
        /// Storage account name.
        storage_account: SecretRef,
        /// SAS token.
        storage_sas_token: SecretRef,
    },
    /// Azure connection string.
    AzureConnectionString {
        /// The connection string.
        connection_string: SecretRef,
    },
    /// Azure AD workload identity.
    AzureInheritAd,
    /// No credentials (local directory provider).
    None,
}

/// Where backups go: one bucket (or container, or directory) and a path prefix inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectStoreTarget {
    /// The provider.
    pub provider: Provider,
    /// Endpoint URL (required for S3-compatible; optional override elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Bucket (S3, GCS), container (Azure) or directory (local).
    pub bucket: String,
    /// Region (S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path prefix inside the bucket (normalised: no leading or trailing `/`).
    #[serde(default)]
    pub prefix: String,
    /// Credentials, as secret references.
    pub credentials: Credentials,
    /// A secret holding the CA bundle that signs the endpoint's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_ca: Option<SecretRef>,
    /// Whether backups should be written to this target.
    #[serde(default = "default_true")]
    pub use_for_backups: bool,
}

fn default_true() -> bool {
    true
}

impl ObjectStoreTarget {
    /// Barman's `destinationPath` for this target, e.g. `s3://bucket/prefix`.
    pub fn destination_path(&self) -> String {
        let scheme = match self.provider {
            Provider::S3 | Provider::S3Compatible => "s3://",
            Provider::Gcs => "gs://",
            Provider::Azure => "https://",
            Provider::Local => "file://",
        };
        if self.prefix.is_empty() {
            format!("{scheme}{}", self.bucket)
        } else {
            format!("{scheme}{}/{}", self.bucket, self.prefix)
        }
    }

    /// The bucket key prefix under which `server`'s archive lives: `<prefix>/<server>/`.
    pub fn server_prefix(&self, server: &ServerName) -> String {
        if self.prefix.is_empty() {
            format!("{server}/")
        } else {
            format!("{}/{server}/", self.prefix)
        }
    }

    /// The archive server name of a live cluster: its name, as CNPG defaults it.
    pub fn server_name_for(&self, cluster: &ClusterName) -> ServerName {
        cluster.default_server_name()
    }
}
