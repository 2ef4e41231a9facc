//! The Kubernetes backend: the kube adapter's ports, the bucket probe with credentials read
//! from the Secrets the settings reference, and the wall clock.

use std::sync::Arc;

use cnpg_backup_core::ports::{
    BackupAutomation, BackupCatalogSource, BucketProbe, Clock, ClusterLifecycle, StateStore,
};
use cnpg_backup_kube::secrets::KubeSecretReader;
use cnpg_backup_kube::storage::{ObjectStoreBucketProbe, ProbeOptions, SecretCredentials};
use cnpg_backup_kube::{
    ClientSource, ConfigMapStateStore, KubeBackupAutomation, KubeBackupCatalog,
    KubeClusterLifecycle, KubeScope, SystemClock, connect,
};

use crate::backend::Backend;
use crate::cli::Cli;
use crate::exit::CliError;

/// Connects to the cluster the command line names.
///
/// # Errors
/// Exit 3 when no configuration is found or the client cannot be built.
pub async fn backend(cli: &Cli) -> Result<Backend, CliError> {
    let source = if cli.kubeconfig.is_some() || cli.context.is_some() {
        ClientSource::Kubeconfig {
            path: cli.kubeconfig.clone(),
            context: cli.context.clone(),
        }
    } else {
        ClientSource::Infer
    };
    let client = connect(&source).await.map_err(|e| {
        CliError::world(&e).hint(
            "pass --kubeconfig/--context, or use `--embedded DIR` to run on the embedded default",
        )
    })?;
    let namespace = cli
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    tracing::info!(namespace, "using the Kubernetes cluster");
    let scope = KubeScope::new(client, namespace);
    let lifecycle: Arc<dyn ClusterLifecycle> = Arc::new(KubeClusterLifecycle::new(scope.clone()));
    let automation: Arc<dyn BackupAutomation> = Arc::new(KubeBackupAutomation::new(scope.clone()));
    let catalog: Arc<dyn BackupCatalogSource> = Arc::new(KubeBackupCatalog::new(scope.clone()));
    let state: Arc<dyn StateStore> = Arc::new(ConfigMapStateStore::new(scope.clone()));
    let probe: Arc<dyn BucketProbe> = Arc::new(ObjectStoreBucketProbe::new(
        Arc::new(SecretCredentials::new(KubeSecretReader::new(scope))),
        ProbeOptions::default(),
    ));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ok(Backend::from_ports(
        lifecycle, automation, catalog, probe, state, clock, None,
    ))
}
