//! Adapters from the cnpg-backup core's ports to Kubernetes/CNPG (kube + k8s-openapi) and to
//! object storage (object_store). Translation only: every decision lives in `cnpg-backup-core`.
//!
//! Kubernetes side: [`KubeClusterLifecycle`] (observe, save, create as recovery, delete
//! Clusters), [`KubeBackupAutomation`] (reconcile of the automation plan, backup tagging,
//! on-demand backups), [`KubeBackupCatalog`] (Backup objects as catalog records) and
//! [`ConfigMapStateStore`] (state documents). They share a [`KubeScope`]: a client bound to one
//! namespace with a retry policy for idempotent calls. [`rbac`] prints the Role they need.
//!
//! Not here: deciding anything (the core does), printing (the CLI does).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use cnpg_backup_core::ports::{BackupAutomation, BackupCatalogSource, ClusterLifecycle, StateStore};
//! use cnpg_backup_kube::{
//!     ClientSource, ConfigMapStateStore, KubeBackupAutomation, KubeBackupCatalog,
//!     KubeClusterLifecycle, KubeScope, connect,
//! };
//!
//! # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
//! let client = connect(&ClientSource::Infer).await?;
//! let scope = KubeScope::new(client, "platform");
//! let automation: Arc<dyn BackupAutomation> = Arc::new(KubeBackupAutomation::new(scope.clone()));
//! let catalog: Arc<dyn BackupCatalogSource> = Arc::new(KubeBackupCatalog::new(scope.clone()));
//! let clusters: Arc<dyn ClusterLifecycle> = Arc::new(KubeClusterLifecycle::new(scope.clone()));
//! let state: Arc<dyn StateStore> = Arc::new(ConfigMapStateStore::new(scope));
//! // The Role those four need, to apply in the namespace:
//! let role = cnpg_backup_kube::rbac::role_yaml("platform");
//! # let _ = (automation, catalog, clusters, state, role);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod access;
pub mod automation;
pub mod catalog;
pub mod client;
pub mod clock;
pub mod error;
pub mod fence;
pub mod fieldset;
pub mod labels;
pub mod lifecycle;
pub mod rbac;
pub mod render;
pub mod resources;
pub mod retry;
pub mod scope;
pub mod secrets;
pub mod state;
pub mod storage;

pub use automation::KubeBackupAutomation;
pub use catalog::KubeBackupCatalog;
pub use client::{ClientSource, ConnectError, connect, install_crypto_provider};
pub use clock::SystemClock;
pub use lifecycle::KubeClusterLifecycle;
pub use retry::RetryPolicy;
pub use scope::{FIELD_MANAGER, KubeScope};
pub use state::ConfigMapStateStore;
