//! A host control plane embedding cnpg-backup: its own settings source, the core services wired
//! to the kube adapter, and a reconcile loop.
//!
//! The host keeps the backup settings in its own store (here a JSON file named by
//! `HOST_SETTINGS`, standing in for the host's database), hands them to the backup service when
//! they change, reconciles on a timer, and reports the status it gets back. The services persist
//! their state in ConfigMaps of the namespace, so several replicas of the host can share it
//! (writes use optimistic concurrency).
//!
//! ```text
//! HOST_SETTINGS=settings.json NAMESPACE=platform \
//!   cargo run -p cnpg-backup-examples --example host_control_plane
//! ```
//! Needs a cluster with the CNPG CRDs and the Role from `cnpg-backup rbac`.

use std::sync::Arc;
use std::time::Duration;

use cnpg_backup_core::automation::{AppVersionSource, BackupSettings};
use cnpg_backup_core::ports::{
    BackupAutomation, BackupCatalogSource, BucketProbe, Clock, StateStore,
};
use cnpg_backup_core::service::{BackupService, ServiceError};
use cnpg_backup_kube::secrets::KubeSecretReader;
use cnpg_backup_kube::storage::{ObjectStoreBucketProbe, ProbeOptions, SecretCredentials};
use cnpg_backup_kube::{
    ClientSource, ConfigMapStateStore, KubeBackupAutomation, KubeBackupCatalog, KubeScope,
    SystemClock, connect,
};

/// Where the host keeps its settings.
trait SettingsSource {
    /// The current settings.
    fn load(&self) -> anyhow::Result<BackupSettings>;
}

/// A JSON file, re-read on every loop (the host's database in a real control plane).
struct JsonFile(std::path::PathBuf);

impl SettingsSource for JsonFile {
    fn load(&self) -> anyhow::Result<BackupSettings> {
        let text = std::fs::read_to_string(&self.0)?;
        Ok(serde_json::from_str(&text)?)
    }
}

type Backups = BackupService<
    dyn BackupAutomation,
    dyn BackupCatalogSource,
    dyn BucketProbe,
    dyn StateStore,
    dyn Clock,
>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let source = JsonFile(std::env::var("HOST_SETTINGS")?.into());
    let client = connect(&ClientSource::Infer).await?;
    let namespace =
        std::env::var("NAMESPACE").unwrap_or_else(|_| client.default_namespace().to_owned());
    let scope = KubeScope::new(client, namespace);

    let automation: Arc<dyn BackupAutomation> = Arc::new(KubeBackupAutomation::new(scope.clone()));
    let catalog: Arc<dyn BackupCatalogSource> = Arc::new(KubeBackupCatalog::new(scope.clone()));
    let store: Arc<dyn StateStore> = Arc::new(ConfigMapStateStore::new(scope.clone()));
    let probe: Arc<dyn BucketProbe> = Arc::new(ObjectStoreBucketProbe::new(
        Arc::new(SecretCredentials::new(KubeSecretReader::new(scope))),
        ProbeOptions::default(),
    ));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let backups: Backups = BackupService::new(automation, catalog, probe, store, clock);

    let mut last: Option<BackupSettings> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = reconcile_once(&backups, &source, &mut last).await {
            // A failed round is reported and retried on the next tick; the status document
            // records it for the host's UI.
            tracing::warn!("reconcile round failed: {e:#}");
        }
    }
}

async fn reconcile_once(
    backups: &Backups,
    source: &dyn SettingsSource,
    last: &mut Option<BackupSettings>,
) -> anyhow::Result<()> {
    let settings = source.load()?;
    if last.as_ref() != Some(&settings) {
        backups.save_settings(&settings).await?;
        *last = Some(settings.clone());
    }
    let version = match &settings.app_version {
        AppVersionSource::Fixed { version } => Some(version.clone()),
        _ => None,
    };
    match backups.reconcile(version.as_ref()).await {
        Ok(status) => {
            for p in &status.planes {
                tracing::info!(plane = %p.plane, state = ?p.state, writes = p.writes, "reconciled");
            }
            Ok(())
        }
        Err(ServiceError::SettingsMissing) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
