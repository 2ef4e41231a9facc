//! Where the cluster-side commands run: a Kubernetes cluster (the kube adapter) or the embedded
//! default (the core's CNPG simulator over a local-directory bucket, no cluster needed).
//!
//! The embedded default lives in one directory (`--embedded DIR`): `DIR/bucket` is the bucket
//! (real Barman-shaped files), and `DIR/journal.json` lists every state-changing call made so far.
//! The simulator is deterministic (simulated clock starting 2026-11-26T00:00:00Z), so each
//! invocation rebuilds the same world by replaying the journal, then runs its own command and
//! appends it. Simulated time moves on by [`TICKS_PER_COMMAND`] minutes at each invocation, so a
//! backup started by one command has completed by the next.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use serde::{Deserialize, Serialize};

use cnpg_backup_core::automation::{AppVersionSource, BackupSettings};
use cnpg_backup_core::drift::AppVersion;
use cnpg_backup_core::memory::{InMemoryStateStore, SimClock, Simulator};
use cnpg_backup_core::names::{Plane, RestoreId, ServerName};
use cnpg_backup_core::ports::{
    BackupAutomation, BackupCatalogSource, BucketObjects, BucketProbe, Clock, ClusterLifecycle,
    PreflightOptions, StateStore,
};
use cnpg_backup_core::restore::{
    RestoreRequest, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};
use cnpg_backup_core::service::{BackupService, RestoreService};
use cnpg_backup_kube::secrets::KubeSecretReader;
use cnpg_backup_kube::storage::{
    FixedCredentials, ObjectStoreBucketObjects, ObjectStoreBucketProbe, ProbeOptions,
    ResolvedCredentials, SecretCredentials,
};
use cnpg_backup_kube::{
    ClientSource, ConfigMapStateStore, KubeBackupAutomation, KubeBackupCatalog,
    KubeClusterLifecycle, KubeScope, SystemClock, connect,
};

use crate::error::{AppError, Category};
use crate::settings;

/// The backup service over trait objects.
pub type Backups = BackupService<
    dyn BackupAutomation,
    dyn BackupCatalogSource,
    dyn BucketProbe,
    dyn StateStore,
    dyn Clock,
>;

/// The restore service over trait objects.
pub type Restores = RestoreService<
    dyn ClusterLifecycle,
    dyn BackupCatalogSource,
    dyn BucketProbe,
    dyn StateStore,
    dyn Clock,
>;

/// Simulated minutes that pass at each invocation on the embedded default.
pub const TICKS_PER_COMMAND: i64 = 5;

/// A state-changing call, as the embedded default's journal records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum Entry {
    /// Settings saved.
    SaveSettings {
        /// The settings.
        settings: Box<BackupSettings>,
    },
    /// Simulated time moved on.
    Advance {
        /// Minutes.
        minutes: i64,
    },
    /// Reconcile.
    Reconcile,
    /// Backup now.
    BackupNow,
    /// Preflight.
    Preflight {
        /// Without the write probe.
        read_only: bool,
        /// Archives a restore would write to.
        #[serde(default)]
        restore_servers: Vec<ServerName>,
    },
    /// Stage one.
    RestoreCreate {
        /// The restore id.
        id: RestoreId,
        /// The request.
        request: RestoreRequest,
        /// Who.
        actor: Option<String>,
    },
    /// Refresh a restore.
    RestoreRefresh {
        /// The restore id.
        id: RestoreId,
    },
    /// Stage two.
    RestoreApply {
        /// The restore id.
        id: RestoreId,
        /// Who.
        actor: Option<String>,
    },
    /// Abandon.
    RestoreAbandon {
        /// The restore id.
        id: RestoreId,
        /// Who.
        actor: Option<String>,
    },
    /// Retry.
    RestoreRetry {
        /// The restore id.
        id: RestoreId,
        /// Who.
        actor: Option<String>,
    },
    /// Cleanup.
    RestoreCleanup {
        /// The restore id.
        id: RestoreId,
        /// Who.
        actor: Option<String>,
    },
}

/// The embedded default's parts.
pub struct Embedded {
    /// The simulator.
    pub sim: Simulator,
    /// The state store (in memory, rebuilt from the journal).
    pub store: Arc<InMemoryStateStore>,
    /// Its directory.
    pub dir: PathBuf,
    journal: Mutex<Vec<Entry>>,
    persist: bool,
    /// One state-changing call at a time, so the journal lists calls in the order they ran
    /// even when a server runs requests concurrently (replay must rebuild the same world).
    turn: tokio::sync::Mutex<()>,
}

/// The services and ports a cluster-side command uses.
pub struct Backend {
    /// Backups: settings, reconcile, backup now, preflight, catalog.
    pub backups: Backups,
    /// Restores.
    pub restores: Restores,
    /// Clusters (for the running app version label).
    pub lifecycle: Arc<dyn ClusterLifecycle>,
    /// Backup automation (the port the backup service applies plans through).
    pub automation: Arc<dyn BackupAutomation>,
    /// Backup objects of the cluster.
    pub catalog: Arc<dyn BackupCatalogSource>,
    /// The bucket probe.
    pub probe: Arc<dyn BucketProbe>,
    /// Durable state.
    pub state: Arc<dyn StateStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Present on the embedded default.
    pub embedded: Option<Embedded>,
}

impl Backend {
    /// The services over one set of ports.
    pub fn from_ports(
        lifecycle: Arc<dyn ClusterLifecycle>,
        automation: Arc<dyn BackupAutomation>,
        catalog: Arc<dyn BackupCatalogSource>,
        probe: Arc<dyn BucketProbe>,
        state: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        embedded: Option<Embedded>,
    ) -> Backend {
        Backend {
            backups: BackupService::new(
                automation.clone(),
                catalog.clone(),
                probe.clone(),
                state.clone(),
                clock.clone(),
            ),
            restores: RestoreService::new(
                lifecycle.clone(),
                catalog.clone(),
                probe.clone(),
                state.clone(),
                clock.clone(),
            ),
            lifecycle,
            automation,
            catalog,
            probe,
            state,
            clock,
            embedded,
        }
    }

    /// The embedded default in `dir`: replays the journal, then lets [`TICKS_PER_COMMAND`]
    /// simulated minutes pass. `settings` (from `-c`) replace the stored ones, with the target
    /// replaced by the local bucket in `dir`.
    ///
    /// # Errors
    /// Exit 2 when the directory or journal cannot be used.
    pub async fn embedded(
        dir: &Path,
        file_settings: Option<BackupSettings>,
        persist: bool,
    ) -> Result<Backend, AppError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            AppError::from_error(Category::Invalid, &e).context(format!(
                "cannot use `{}` for the embedded default",
                dir.display()
            ))
        })?;
        let bucket_dir = dir.join("bucket");
        let journal_path = dir.join("journal.json");
        let mut journal: Vec<Entry> = if journal_path.exists() {
            let text = settings::read_input(&journal_path, 64 * 1024 * 1024)?;
            serde_json::from_str(&text).map_err(|e| {
                AppError::invalid(&e)
                    .context(format!(
                        "journal `{}` is unreadable",
                        journal_path.display()
                    ))
                    .hint("remove the directory to start the embedded default afresh")
            })?
        } else {
            Vec::new()
        };
        // The simulated world has the clusters of the first settings: those of the journal, else
        // those of the file given now, else the embedded default's.
        let file_settings = file_settings.map(|s| embedded_target(s, &bucket_dir));
        let first_settings = journal
            .iter()
            .find_map(|e| match e {
                Entry::SaveSettings { settings } => Some((**settings).clone()),
                _ => None,
            })
            .or_else(|| file_settings.clone())
            .unwrap_or_else(|| settings::embedded(&bucket_dir));
        let objects = ObjectStoreBucketObjects::local(&bucket_dir)
            .map_err(|e| AppError::from_error(Category::Invalid, &e))?;
        let objects: Arc<dyn BucketObjects> = Arc::new(objects);
        let clock = Arc::new(SimClock::new(sim_start()));
        let sim = Simulator::with_parts(&first_settings, clock.clone(), objects);
        let probe: Arc<dyn BucketProbe> = Arc::new(ObjectStoreBucketProbe::new(
            Arc::new(FixedCredentials::new(ResolvedCredentials::none())),
            ProbeOptions::default(),
        ));
        let store = Arc::new(InMemoryStateStore::new());
        let state: Arc<dyn StateStore> = store.clone();
        let clock: Arc<dyn Clock> = clock;
        let lifecycle: Arc<dyn ClusterLifecycle> = Arc::new(sim.clone());
        let automation: Arc<dyn BackupAutomation> = Arc::new(sim.clone());
        let catalog: Arc<dyn BackupCatalogSource> = Arc::new(sim.clone());
        let fresh = journal.is_empty();
        let backend = Backend::from_ports(
            lifecycle,
            automation,
            catalog,
            probe,
            state,
            clock,
            Some(Embedded {
                sim,
                store,
                dir: dir.to_owned(),
                journal: Mutex::new(Vec::new()),
                persist,
                turn: tokio::sync::Mutex::new(()),
            }),
        );
        if fresh {
            journal.push(Entry::SaveSettings {
                settings: Box::new(first_settings),
            });
        }
        for entry in &journal {
            backend.replay(entry).await;
        }
        if let Some(e) = &backend.embedded {
            *e.journal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = journal;
        }
        if let Some(s) = file_settings {
            tracing::info!(
                "the embedded default keeps backups in `{}`; the settings' target is not used",
                bucket_dir.display()
            );
            backend.save_settings(&s).await?;
        }
        backend.advance(TICKS_PER_COMMAND).await?;
        Ok(backend)
    }

    /// Lets simulated time pass (embedded default only; a real cluster has its own clock).
    ///
    /// # Errors
    /// Exit 3 when the simulated bucket refuses a write.
    pub async fn advance(&self, minutes: i64) -> Result<(), AppError> {
        let _turn = self.turn().await;
        if let Some(e) = &self.embedded {
            e.sim
                .advance(Duration::minutes(minutes))
                .await
                .map_err(|e| AppError::world(&e))?;
            self.record(Entry::Advance { minutes })?;
        }
        Ok(())
    }

    /// On the embedded default, waits until no other state-changing call runs, and holds the
    /// turn until the guard drops; `None` (no waiting) on a cluster, where the services'
    /// compare-and-swap on the state store keeps concurrent calls apart.
    pub(crate) async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.embedded {
            Some(e) => Some(e.turn.lock().await),
            None => None,
        }
    }

    /// Appends a call to the embedded default's journal (no-op on a cluster).
    ///
    /// # Errors
    /// Exit 3 when the journal cannot be written.
    pub fn record(&self, entry: Entry) -> Result<(), AppError> {
        let Some(e) = &self.embedded else {
            return Ok(());
        };
        let mut journal = e
            .journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (journal.last_mut(), &entry) {
            // Consecutive advances merge (ticks add up), so a long-running server's journal
            // grows with the calls made, not with the time that passed.
            (Some(Entry::Advance { minutes: last }), Entry::Advance { minutes }) => {
                *last = last.saturating_add(*minutes);
            }
            _ => journal.push(entry),
        }
        if e.persist {
            let text = serde_json::to_string(&*journal).map_err(|e| AppError::world(&e))?;
            std::fs::write(e.dir.join("journal.json"), text).map_err(|err| {
                AppError::world(&err)
                    .context(format!("cannot write the journal in `{}`", e.dir.display()))
            })?;
        }
        Ok(())
    }

    async fn replay(&self, entry: &Entry) {
        // Results were shown when the call was first made; replay only rebuilds the world.
        let _ = match entry {
            Entry::SaveSettings { settings } => self.backups.save_settings(settings).await.err(),
            Entry::Advance { minutes } => {
                if let Some(sim) = self.embedded.as_ref().map(|e| &e.sim) {
                    let _ = sim.advance(Duration::minutes(*minutes)).await;
                }
                None
            }
            Entry::Reconcile => {
                let v = self.app_version().await;
                self.backups.reconcile(v.as_ref()).await.err()
            }
            Entry::BackupNow => {
                let v = self.app_version().await;
                self.backups.backup_now(v.as_ref()).await.err()
            }
            Entry::Preflight {
                read_only,
                restore_servers,
            } => self
                .backups
                .preflight(
                    &self
                        .preflight_options(*read_only, restore_servers.clone())
                        .await,
                )
                .await
                .err(),
            Entry::RestoreCreate { id, request, actor } => {
                let v = self.app_version().await;
                match StageOneAck::verify(STAGE_ONE_ACK) {
                    Ok(ack) => self
                        .restores
                        .create(id, request, v.as_ref(), &ack, actor.clone())
                        .await
                        .err(),
                    Err(_) => None,
                }
            }
            Entry::RestoreRefresh { id } => self.restores.refresh(id).await.err(),
            Entry::RestoreApply { id, actor } => match StageTwoAck::verify(STAGE_TWO_ACK) {
                Ok(ack) => self.restores.apply(id, &ack, actor.clone()).await.err(),
                Err(_) => None,
            },
            Entry::RestoreAbandon { id, actor } => {
                self.restores.abandon(id, actor.clone()).await.err()
            }
            Entry::RestoreRetry { id, actor } => self.restores.retry(id, actor.clone()).await.err(),
            Entry::RestoreCleanup { id, actor } => {
                self.restores.cleanup(id, actor.clone()).await.err()
            }
        };
    }

    /// The running app version, from the settings' source.
    pub async fn app_version(&self) -> Option<AppVersion> {
        let settings = self.backups.settings().await.ok()?;
        match settings.app_version {
            AppVersionSource::Fixed { version } => Some(version),
            AppVersionSource::Unknown => None,
            AppVersionSource::ClusterLabel { label } => {
                let admin = settings.clusters.get(Plane::Admin);
                let manifest = self.lifecycle.manifest(admin).await.ok()?;
                manifest
                    .0
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(&label))
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse().ok())
            }
        }
    }

    /// Preflight options: the live clusters' servers are reported on.
    pub async fn preflight_options(
        &self,
        read_only: bool,
        restore_servers: Vec<ServerName>,
    ) -> PreflightOptions {
        let live = match self.backups.settings().await {
            Ok(s) => s
                .automation
                .scope
                .planes()
                .into_iter()
                .map(|p| s.target.server_name_for(s.clusters.get(p)))
                .collect(),
            Err(_) => Vec::new(),
        };
        PreflightOptions::new(read_only, restore_servers, live)
    }
}

/// The simulator's start: 2026-11-26T00:00:00Z, as the core's simulator defaults.
fn sim_start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_795_651_200, 0).unwrap_or_default()
}

/// Settings as the embedded default keeps them: the target's location is always the local
/// bucket in the embedded directory; its `useForBackups` is kept (turning it off stops archiving
/// in the simulator too).
pub(crate) fn embedded_target(mut s: BackupSettings, bucket_dir: &Path) -> BackupSettings {
    let used = s.target.use_for_backups;
    s.target = settings::local_target(bucket_dir);
    s.target.use_for_backups = used;
    s
}

/// Where a Kubernetes backend connects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeTarget {
    /// Kubeconfig, context, or in-cluster.
    pub source: ClientSource,
    /// The namespace of the CNPG clusters and of cnpg-backup's state (None: the context's).
    pub namespace: Option<String>,
}

impl KubeTarget {
    /// A target.
    pub fn new(source: ClientSource, namespace: Option<String>) -> Self {
        Self { source, namespace }
    }
}

/// A client for `target`, bound to its namespace (the context's when none is given): what
/// [`Backend::connect`] builds on, for adapters that also need the client itself (the HTTP API
/// reviews its callers' tokens with it).
///
/// # Errors
/// The outside world failed when no configuration is found or the client cannot be built;
/// invalid input when a kubeconfig file named explicitly does not exist.
pub async fn connect_scope(target: &KubeTarget) -> Result<KubeScope, AppError> {
    if let ClientSource::Kubeconfig {
        path: Some(path), ..
    } = &target.source
        && !path.exists()
    {
        return Err(AppError::new(
            Category::Invalid,
            format!("kubeconfig `{}` does not exist", path.display()),
        )
        .hint("pass an existing file to --kubeconfig, or leave it out to use $KUBECONFIG or ~/.kube/config"));
    }
    let client = connect(&target.source).await.map_err(|e| {
        AppError::world(&e).hint(
            "pass --kubeconfig/--context, or use `--embedded DIR` to run on the embedded default",
        )
    })?;
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    tracing::info!(namespace, "using the Kubernetes cluster");
    Ok(KubeScope::new(client, namespace))
}

impl Backend {
    /// The services over the kube adapter in one namespace: the bucket probe reads credentials
    /// from the Secrets the settings reference, the clock is the wall clock.
    ///
    /// # Errors
    /// The outside world failed when no configuration is found or the client cannot be built;
    /// invalid input when a kubeconfig file named explicitly does not exist.
    pub async fn connect(target: &KubeTarget) -> Result<Backend, AppError> {
        Ok(Backend::kube(connect_scope(target).await?))
    }

    /// The services over the kube adapter bound to `scope` (a client and a namespace).
    pub fn kube(scope: KubeScope) -> Backend {
        let lifecycle: Arc<dyn ClusterLifecycle> =
            Arc::new(KubeClusterLifecycle::new(scope.clone()));
        let automation: Arc<dyn BackupAutomation> =
            Arc::new(KubeBackupAutomation::new(scope.clone()));
        let catalog: Arc<dyn BackupCatalogSource> = Arc::new(KubeBackupCatalog::new(scope.clone()));
        let state: Arc<dyn StateStore> = Arc::new(ConfigMapStateStore::new(scope.clone()));
        let probe: Arc<dyn BucketProbe> = Arc::new(ObjectStoreBucketProbe::new(
            Arc::new(SecretCredentials::new(KubeSecretReader::new(scope))),
            ProbeOptions::default(),
        ));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Backend::from_ports(lifecycle, automation, catalog, probe, state, clock, None)
    }
}
