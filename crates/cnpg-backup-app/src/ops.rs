//! The operations every adapter offers, over one [`Backend`]: each calls the core's service,
//! records the call in the embedded default's journal (a no-op on a cluster) whatever its
//! outcome, and maps failures to an [`AppError`]. The CLI renders the results as tables or
//! documents, the HTTP API as JSON; neither repeats any of this.

use std::sync::Arc;

use cnpg_backup_core::automation::BackupSettings;
use cnpg_backup_core::barman::{BarmanStatus, BucketBackup};
use cnpg_backup_core::catalog::{BackupRecord, StoragePresence};
use cnpg_backup_core::drift::VersionPolicy;
use cnpg_backup_core::names::{ObjectName, Plane, RestoreId, ServerName};
use cnpg_backup_core::overview::{PlaneOverview, overview};
use cnpg_backup_core::ports::{BucketProbe, StateKey};
use cnpg_backup_core::provenance::{BackupProvenance, ProvenanceWrite};
use cnpg_backup_core::restore::{
    PhaseName, RestoreRecord, RestoreRequest, StageOneAck, StageTwoAck,
};
use cnpg_backup_core::service::{CatalogScope, RestorePlan};
use cnpg_backup_core::status::{PreflightReport, ReconcileStatus};
use cnpg_backup_kube::storage::{
    DiskCatalogCache, FixedCredentials, ObjectStoreBucketProbe, ProbeOptions, ResolvedCredentials,
};

use crate::backend::{Backend, Entry};
use crate::error::{AppError, Category, service_error};
use crate::settings::BucketSettings;
use crate::views::{
    BackupNowView, CatalogRow, PlaneBackupsView, Preflight, ReconcileView, Status, VersionsView,
    rfc3339,
};

impl Backend {
    /// Validates and saves the settings (on the embedded default, the target's location stays
    /// the local bucket), without applying them.
    ///
    /// # Errors
    /// Invalid settings; the state store failed.
    pub async fn save_settings(&self, settings: &BackupSettings) -> Result<(), AppError> {
        let _turn = self.turn().await;
        let settings = match &self.embedded {
            Some(e) => crate::backend::embedded_target(settings.clone(), &e.dir.join("bucket")),
            None => settings.clone(),
        };
        crate::settings::check(&settings)?;
        self.backups
            .save_settings(&settings)
            .await
            .map_err(|e| service_error(&e))?;
        self.record(Entry::SaveSettings {
            settings: Box::new(settings),
        })
    }

    /// Reconciles once (plan, apply, persist the status) and records it.
    ///
    /// # Errors
    /// When nothing could be applied; the error status is persisted first.
    pub async fn run_reconcile(&self) -> Result<ReconcileStatus, AppError> {
        let _turn = self.turn().await;
        let v = self.app_version().await;
        let status = self.backups.reconcile(v.as_ref()).await;
        self.record(Entry::Reconcile)?;
        status.map_err(|e| service_error(&e))
    }

    /// The stored statuses: the last reconcile and the last preflight.
    ///
    /// # Errors
    /// The state store failed or holds an unreadable document.
    pub async fn status(&self) -> Result<Status, AppError> {
        let reconcile = self
            .backups
            .reconcile_status()
            .await
            .map_err(|e| service_error(&e))?;
        let preflight = match self.state.get(&StateKey::PreflightReport).await {
            Ok(Some(stored)) => {
                serde_json::from_str::<PreflightReport>(&stored.body).map_err(|e| {
                    AppError::world(&e).context("the stored preflight report is unreadable")
                })?
            }
            Ok(None) => PreflightReport::not_run(),
            Err(e) => return Err(AppError::world(&e).context("cannot read the preflight report")),
        };
        let backups = match self.backup_overview().await {
            Ok(planes) => planes.iter().map(PlaneBackupsView::from).collect(),
            // Before settings are saved there is nothing to look at.
            Err(e) if e.category == Category::Invalid => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Status {
            reconcile: ReconcileView::from(&reconcile),
            preflight: Preflight::from(&preflight),
            backups,
        })
    }

    /// Each plane's backups at a glance, from the Backups listed now (one listing per plane).
    ///
    /// # Errors
    /// Invalid when no settings are saved; the outside world failed.
    pub async fn backup_overview(&self) -> Result<Vec<PlaneOverview>, AppError> {
        let settings = self
            .backups
            .settings()
            .await
            .map_err(|e| service_error(&e))?;
        let mut records = Vec::new();
        for plane in Plane::ALL {
            let cluster = settings.clusters.get(plane);
            records.extend(self.catalog.list_backups(cluster).await.map_err(|e| {
                AppError::world(&e).context(format!("cannot list the backups of `{cluster}`"))
            })?);
        }
        self.backup_overview_of(&records).await
    }

    /// Each plane's backups at a glance, from `records` the caller already has (the control
    /// loop keeps them from its watch). A plane without a completed backup is overdue only
    /// once twice its interval has passed since the stored reconcile outcome was reached.
    ///
    /// # Errors
    /// Invalid when no settings are saved; the state store failed.
    pub async fn backup_overview_of(
        &self,
        records: &[BackupRecord],
    ) -> Result<Vec<PlaneOverview>, AppError> {
        let settings = self
            .backups
            .settings()
            .await
            .map_err(|e| service_error(&e))?;
        let now = self.clock.now();
        let since = self
            .backups
            .reconcile_status()
            .await
            .ok()
            .and_then(|s| s.last_reconcile)
            .unwrap_or(now);
        Ok(overview(&settings, records, now, since))
    }

    /// Runs the bucket preflight once and records it.
    ///
    /// # Errors
    /// No settings saved; the report could not be persisted.
    pub async fn run_preflight(
        &self,
        read_only: bool,
        restore_servers: Vec<ServerName>,
    ) -> Result<PreflightReport, AppError> {
        let _turn = self.turn().await;
        let options = self
            .preflight_options(read_only, restore_servers.clone())
            .await;
        let report = self.backups.preflight(&options).await;
        self.record(Entry::Preflight {
            read_only,
            restore_servers,
        })?;
        report.map_err(|e| service_error(&e))
    }

    /// Takes one on-demand backup per plane in scope and records it. Refused (the answer is
    /// no) when the target is no longer used for backups: reconcile took the clusters' backup
    /// configuration off.
    ///
    /// # Errors
    /// Automation disabled, target unused, a backup still running; the outside world failed.
    pub async fn run_backup_now(&self) -> Result<BackupNowView, AppError> {
        let _turn = self.turn().await;
        if let Ok(s) = self.backups.settings().await
            && !s.target.use_for_backups
        {
            return Err(AppError::new(
                Category::No,
                "the target is not used for backups (`useForBackups: false`), so WAL archiving \
                 to it is stopped and no backup is taken",
            )
            .hint("set `target.useForBackups: true` and reconcile first"));
        }
        let v = self.app_version().await;
        let requests = self.backups.backup_now(v.as_ref()).await;
        self.record(Entry::BackupNow)?;
        Ok(BackupNowView::new(
            &requests.map_err(|e| service_error(&e))?,
        ))
    }

    /// The catalog from the cluster's Backup objects, storage presence checked in the bucket,
    /// newest first.
    ///
    /// # Errors
    /// No settings saved; a listing failed.
    pub async fn catalog_rows(&self, scope: CatalogScope) -> Result<Vec<CatalogRow>, AppError> {
        let v = self.app_version().await;
        let entries = self
            .backups
            .catalog(scope, v.as_ref(), VersionPolicy::default())
            .await
            .map_err(|e| service_error(&e))?;
        Ok(entries
            .iter()
            .map(|e| CatalogRow::from_record(&e.record, &e.not_ready))
            .collect())
    }

    /// The catalog straight from the bucket of the stored settings, through this backend's
    /// probe (on a cluster, credentials from the Secrets the target references; on the
    /// embedded default, its local bucket): every backup folder of `planes` (every server under
    /// the destination path when `None`), newest first.
    ///
    /// # Errors
    /// No settings saved; the bucket cannot be listed.
    pub async fn bucket_catalog_rows(
        &self,
        planes: Option<&[Plane]>,
    ) -> Result<Vec<CatalogRow>, AppError> {
        let s = self
            .backups
            .settings()
            .await
            .map_err(|e| service_error(&e))?;
        bucket_rows(&*self.probe, &BucketSettings::from(&s), planes).await
    }

    /// Writes the provenance record of each completed Backup of a plane cluster beside its
    /// `backup.info` (`<prefix>/<server>/base/<backupId>/cnpg-backup.json`: app version,
    /// backup-set id, plane, cluster, Backup name, method), so that the bucket alone shows them
    /// in a disaster. Create-only: a record already there is never overwritten, nothing is
    /// written where there is no `backup.info`, and no Barman object is touched. The server is
    /// the one the Backup records (CNPG's `status.serverName`, or ours on plugin Backups), else
    /// the one the plane's live cluster archives to (as the catalog resolves it).
    ///
    /// Returns what happened to each Backup it was given: `None` for one it does not record
    /// (not completed, no Barman backup id, or not of a plane cluster).
    ///
    /// # Errors
    /// Invalid when no settings are saved; the outside world failed when the bucket cannot be
    /// listed or written (records written before stay).
    pub async fn record_backup_provenance(
        &self,
        records: &[BackupRecord],
    ) -> Result<Vec<(ObjectName, Option<ProvenanceWrite>)>, AppError> {
        let _turn = self.turn().await;
        let settings = self
            .backups
            .settings()
            .await
            .map_err(|e| service_error(&e))?;
        let now = self.clock.now();
        let mut due = Vec::new();
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let plane = Plane::ALL
                .into_iter()
                .find(|p| settings.clusters.get(*p) == &r.cluster);
            let made = plane.and_then(|plane| {
                let server = r
                    .server_name
                    .clone()
                    .unwrap_or_else(|| settings.archive_server(plane));
                BackupProvenance::of_record(r, Some(plane), server, env!("CARGO_PKG_VERSION"), now)
                    .ok()
            });
            if let Some(p) = made {
                due.push((out.len(), p));
            }
            out.push((r.name.clone(), None));
        }
        if due.is_empty() {
            return Ok(out);
        }
        let provenance: Vec<BackupProvenance> = due.iter().map(|(_, p)| p.clone()).collect();
        let written = self
            .probe
            .write_provenance(&settings.target, &provenance)
            .await
            .map_err(|e| {
                AppError::world(&e).context(format!(
                    "cannot write provenance records in `{}`",
                    settings.target.destination_path()
                ))
            })?;
        for ((i, p), w) in due.iter().zip(written) {
            tracing::debug!(backup = %out[*i].0, key = %p.key(&settings.target.prefix), outcome = ?w, "provenance record");
            out[*i].1 = Some(w);
        }
        Ok(out)
    }

    /// The running app version and, for each backup of both planes, its version drift, the
    /// policies that allow a named restore of it, and why the default policy refuses it.
    ///
    /// # Errors
    /// No settings saved; a listing failed.
    pub async fn versions(&self) -> Result<VersionsView, AppError> {
        let settings = self
            .backups
            .settings()
            .await
            .map_err(|e| service_error(&e))?;
        let running = self.app_version().await;
        let entries = self
            .backups
            .catalog(
                CatalogScope::Both,
                running.as_ref(),
                VersionPolicy::default(),
            )
            .await
            .map_err(|e| service_error(&e))?;
        Ok(VersionsView::new(
            &settings.app_version,
            running.as_ref(),
            &entries,
        ))
    }

    /// Everything a restore would do, checked by every guard, changing nothing.
    ///
    /// # Errors
    /// A guard refused; the outside world failed.
    pub async fn restore_plan(
        &self,
        id: &RestoreId,
        request: &RestoreRequest,
    ) -> Result<RestorePlan, AppError> {
        let v = self.app_version().await;
        self.restores
            .plan(id, request, v.as_ref())
            .await
            .map_err(|e| service_error(&e))
    }

    /// Stage one, recorded.
    ///
    /// # Errors
    /// A guard refused (nothing created); the id exists; the outside world failed.
    pub async fn restore_create(
        &self,
        id: &RestoreId,
        request: &RestoreRequest,
        ack: &StageOneAck,
        actor: Option<String>,
    ) -> Result<RestoreRecord, AppError> {
        let _turn = self.turn().await;
        let v = self.app_version().await;
        let r = self
            .restores
            .create(id, request, v.as_ref(), ack, actor.clone())
            .await;
        self.record(Entry::RestoreCreate {
            id: id.clone(),
            request: request.clone(),
            actor,
        })?;
        r.map_err(|e| service_error(&e))
    }

    /// One refresh: observes the clusters and advances the restore as far as it goes now.
    ///
    /// # Errors
    /// Unknown id; someone else changed it meanwhile; the outside world failed.
    pub async fn restore_refresh(&self, id: &RestoreId) -> Result<RestoreRecord, AppError> {
        let _turn = self.turn().await;
        let r = self.restores.refresh(id).await;
        self.record(Entry::RestoreRefresh { id: id.clone() })?;
        r.map_err(|e| service_error(&e))
    }

    /// Stage two, recorded.
    ///
    /// # Errors
    /// Not ready for promotion; unknown id; the outside world failed.
    pub async fn restore_apply(
        &self,
        id: &RestoreId,
        ack: &StageTwoAck,
        actor: Option<String>,
    ) -> Result<RestoreRecord, AppError> {
        let _turn = self.turn().await;
        let r = self.restores.apply(id, ack, actor.clone()).await;
        self.record(Entry::RestoreApply {
            id: id.clone(),
            actor,
        })?;
        r.map_err(|e| service_error(&e))
    }

    /// Abandons a restore before stage two, recorded.
    ///
    /// # Errors
    /// Once a live cluster may have been deleted; unknown id; the outside world failed.
    pub async fn restore_abandon(
        &self,
        id: &RestoreId,
        actor: Option<String>,
    ) -> Result<RestoreRecord, AppError> {
        let _turn = self.turn().await;
        let r = self.restores.abandon(id, actor.clone()).await;
        self.record(Entry::RestoreAbandon {
            id: id.clone(),
            actor,
        })?;
        r.map_err(|e| service_error(&e))
    }

    /// Continues a retryable failure, recorded.
    ///
    /// # Errors
    /// Not retryable; unknown id; the outside world failed.
    pub async fn restore_retry(
        &self,
        id: &RestoreId,
        actor: Option<String>,
    ) -> Result<RestoreRecord, AppError> {
        let _turn = self.turn().await;
        let r = self.restores.retry(id, actor.clone()).await;
        self.record(Entry::RestoreRetry {
            id: id.clone(),
            actor,
        })?;
        r.map_err(|e| service_error(&e))
    }

    /// Removes the recovery clusters a completed restore kept, recorded.
    ///
    /// # Errors
    /// Not completed; unknown id; the outside world failed.
    pub async fn restore_cleanup(
        &self,
        id: &RestoreId,
        actor: Option<String>,
    ) -> Result<RestoreRecord, AppError> {
        let _turn = self.turn().await;
        let r = self.restores.cleanup(id, actor.clone()).await;
        self.record(Entry::RestoreCleanup {
            id: id.clone(),
            actor,
        })?;
        r.map_err(|e| service_error(&e))
    }

    /// Every restore, newest first.
    ///
    /// # Errors
    /// The state store failed.
    pub async fn restore_list(&self) -> Result<Vec<RestoreRecord>, AppError> {
        self.restores.list().await.map_err(|e| service_error(&e))
    }

    /// One restore's record as stored (no observation).
    ///
    /// # Errors
    /// Unknown id; the state store failed.
    pub async fn restore_get(&self, id: &RestoreId) -> Result<RestoreRecord, AppError> {
        self.restores.get(id).await.map_err(|e| service_error(&e))
    }
}

/// Whether a restore needs no more watching: ready for promotion checks, or an end state.
pub fn settled(r: &RestoreRecord) -> bool {
    matches!(
        r.phase().name(),
        PhaseName::ReadyForPromotionChecks
            | PhaseName::Completed
            | PhaseName::Failed
            | PhaseName::Abandoned
    )
}

/// A bucket probe for reading the bucket without Kubernetes: credentials come from the
/// provider's standard environment variables (the disaster case). With `cached`, it keeps a
/// catalog cache in the user's cache directory (when there is one), so a read costs the
/// listing plus the `backup.info` files that changed since the last one.
///
/// # Errors
/// Invalid input when the variables are incomplete.
pub fn env_bucket_probe(
    settings: &BucketSettings,
    cached: bool,
) -> Result<Arc<dyn BucketProbe>, AppError> {
    let creds = ResolvedCredentials::from_env(settings.target.provider).map_err(|e| {
        AppError::invalid(&e).hint(
            "set the provider's credential variables (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        )
    })?;
    let mut probe = ObjectStoreBucketProbe::new(
        Arc::new(FixedCredentials::new(creds)),
        ProbeOptions::default(),
    );
    if cached && let Some(cache) = DiskCatalogCache::in_user_cache_dir() {
        tracing::debug!(dir = %cache.dir().display(), "catalog cache");
        probe = probe.with_catalog_cache(Arc::new(cache));
    }
    Ok(Arc::new(probe))
}

/// The catalog straight from the bucket: every backup folder of the planes' servers (every
/// server under the destination path when `planes` is `None`), readable or not, newest first.
///
/// # Errors
/// The outside world failed when the bucket cannot be listed.
pub async fn bucket_rows(
    probe: &dyn BucketProbe,
    settings: &BucketSettings,
    planes: Option<&[Plane]>,
) -> Result<Vec<CatalogRow>, AppError> {
    let servers: Option<Vec<ServerName>> =
        planes.map(|ps| ps.iter().flat_map(|p| settings.servers_of(*p)).collect());
    let backups = probe
        .bucket_catalog(&settings.target, servers.as_deref())
        .await
        .map_err(|e| {
            AppError::world(&e).context(format!(
                "cannot list `{}`",
                settings.target.destination_path()
            ))
        })?;
    let mut rows: Vec<CatalogRow> = backups
        .iter()
        .map(|b| bucket_row(b, settings.plane_of(&b.server)))
        .collect();
    // Newest first: by end time, then begin time, then backup id (missing times last).
    rows.sort_by(|a, b| {
        (a.ended_at.is_none(), std::cmp::Reverse(&a.ended_at))
            .cmp(&(b.ended_at.is_none(), std::cmp::Reverse(&b.ended_at)))
            .then_with(|| {
                (a.started_at.is_none(), std::cmp::Reverse(&a.started_at))
                    .cmp(&(b.started_at.is_none(), std::cmp::Reverse(&b.started_at)))
            })
            .then_with(|| b.backup_id.cmp(&a.backup_id))
    });
    Ok(rows)
}

fn bucket_row(b: &BucketBackup, plane: Option<Plane>) -> CatalogRow {
    // Our provenance record, when readable: what the cluster knew (Backup name, cluster, app
    // version, set id; the plane when the settings do not place the server).
    let rec = b.provenance.record();
    let plane = plane
        .or_else(|| rec.and_then(|r| r.plane))
        .map(|p| p.to_string());
    let warnings: Vec<String> = b
        .provenance
        .warning()
        .map(str::to_owned)
        .into_iter()
        .collect();
    let cluster = rec.map(|r| r.cluster.to_string());
    let app_version = rec.and_then(|r| r.app_version.as_ref().map(ToString::to_string));
    let backup_set_id = rec.and_then(|r| r.backup_set_id.as_ref().map(ToString::to_string));
    match &b.info {
        Ok(info) => {
            let phase = match info.status {
                BarmanStatus::Done => "completed",
                BarmanStatus::Failed => "failed",
                BarmanStatus::Empty => "pending",
                BarmanStatus::Started | BarmanStatus::WaitingForWals | BarmanStatus::Syncing => {
                    "running"
                }
            };
            let mut reasons = Vec::new();
            if info.status != BarmanStatus::Done {
                reasons.push("not_completed".to_owned());
            }
            CatalogRow {
                name: match rec {
                    Some(r) => r.backup.to_string(),
                    None => info
                        .backup_name
                        .clone()
                        .unwrap_or_else(|| b.backup_id.to_string()),
                },
                plane,
                cluster,
                backup_id: Some(b.backup_id.to_string()),
                server_name: Some(b.server.to_string()),
                timeline: info.timeline,
                phase: Some(phase.to_owned()),
                started_at: info.begin_time.map(rfc3339),
                ended_at: info.end_time.map(rfc3339),
                app_version,
                backup_set_id,
                storage: StoragePresence::Present,
                named_restore_ready: reasons.is_empty(),
                not_ready_reasons: reasons,
                error: info.error.clone(),
                warnings,
            }
        }
        Err(why) => CatalogRow {
            name: rec.map_or_else(|| b.backup_id.to_string(), |r| r.backup.to_string()),
            plane,
            cluster,
            backup_id: Some(b.backup_id.to_string()),
            server_name: Some(b.server.to_string()),
            timeline: None,
            phase: None,
            started_at: None,
            ended_at: None,
            app_version,
            backup_set_id,
            storage: StoragePresence::Missing,
            named_restore_ready: false,
            not_ready_reasons: vec!["backup_info_unreadable".to_owned()],
            error: Some(why.clone()),
            warnings,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cnpg_backup_core::catalog::BackupPhase;
    use cnpg_backup_core::ports::{BackendError, Fence};
    use cnpg_backup_core::provenance::{Provenance, ProvenanceWrite};

    use super::*;

    struct Lost;

    impl Fence for Lost {
        fn check(&self) -> Result<(), BackendError> {
            Err(BackendError::Fenced {
                detail: "the lease is held by another replica".to_owned(),
            })
        }
    }

    /// The embedded default with one completed backup per plane.
    async fn with_backups(dir: &std::path::Path) -> (Backend, Vec<BackupRecord>) {
        let b = Backend::embedded(dir, None, false).await.unwrap();
        b.run_reconcile().await.unwrap();
        b.run_backup_now().await.unwrap();
        b.advance(10).await.unwrap();
        let s = b.backups.settings().await.unwrap();
        let mut records = Vec::new();
        for plane in Plane::ALL {
            records.extend(b.catalog.list_backups(s.clusters.get(plane)).await.unwrap());
        }
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(records.iter().all(|r| r.phase == BackupPhase::Completed));
        (b, records)
    }

    #[tokio::test]
    async fn records_are_written_for_completed_plane_backups_only_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let (b, mut records) = with_backups(dir.path()).await;
        // A plugin Backup carries no server name: the plane's archive server is used.
        records[1].server_name = None;
        let mut running = records[0].clone();
        running.name = "still-running".parse().unwrap();
        running.phase = BackupPhase::Running;
        let mut other = records[0].clone();
        other.name = "of-another-cluster".parse().unwrap();
        other.cluster = "reporting".parse().unwrap();
        let mut all = records.clone();
        all.extend([running, other]);

        let out = b.record_backup_provenance(&all).await.unwrap();
        let outcomes: Vec<Option<ProvenanceWrite>> = out.iter().map(|(_, w)| *w).collect();
        assert_eq!(
            outcomes,
            [
                Some(ProvenanceWrite::Written),
                Some(ProvenanceWrite::Written),
                None,
                None
            ]
        );
        assert_eq!(out[2].0.as_str(), "still-running");
        let again = b.record_backup_provenance(&records).await.unwrap();
        assert!(
            again
                .iter()
                .all(|(_, w)| *w == Some(ProvenanceWrite::AlreadyThere)),
            "{again:?}"
        );

        // The bucket rows carry the record's columns.
        let rows = b.bucket_catalog_rows(None).await.unwrap();
        for r in &records {
            let row = rows
                .iter()
                .find(|row| {
                    row.backup_id == r.backup_id.as_ref().map(ToString::to_string)
                        && row.cluster.as_deref() == Some(r.cluster.as_str())
                })
                .unwrap_or_else(|| panic!("{r:?} not in {rows:?}"));
            assert_eq!(row.name, r.name.as_str());
            assert_eq!(
                row.backup_set_id,
                r.backup_set_id.as_ref().map(ToString::to_string)
            );
            assert_eq!(
                row.app_version,
                r.app_version.as_ref().map(ToString::to_string)
            );
        }
    }

    #[tokio::test]
    async fn a_replica_that_lost_its_lease_writes_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let (b, records) = with_backups(dir.path()).await;
        let fenced = b.with_fence(Arc::new(Lost));
        let e = fenced.record_backup_provenance(&records).await.unwrap_err();
        assert!(e.to_string().contains("another replica"), "{e}");
        let rows = fenced.bucket_catalog_rows(None).await.unwrap();
        assert!(rows.iter().all(|r| r.backup_set_id.is_none()), "{rows:?}");
    }

    #[test]
    fn an_unreadable_record_keeps_the_row_and_says_why() {
        let info = cnpg_backup_core::barman::BackupInfo::parse(
            b"status=DONE\nbackup_name=backup-20261126045006\nbegin_time=2026-11-26 04:50:07.000000+00:00\nend_time=2026-11-26 04:50:50.000000+00:00\n",
        )
        .unwrap();
        let b = BucketBackup::new(
            "cnpg-admin".parse().unwrap(),
            "20261126T045007".parse().unwrap(),
            Ok(info),
        )
        .with_provenance(Provenance::Unreadable {
            reason: "`…/cnpg-backup.json` could not be read: forbidden: AccessDenied".to_owned(),
        });
        let row = bucket_row(&b, Some(Plane::Admin));
        assert_eq!(row.name, "backup-20261126045006");
        assert_eq!(row.plane.as_deref(), Some("admin"));
        assert_eq!(row.phase.as_deref(), Some("completed"));
        assert!(row.named_restore_ready);
        assert_eq!(
            (row.app_version, row.backup_set_id, row.cluster),
            (None, None, None)
        );
        assert_eq!(row.warnings.len(), 1);
        assert!(row.warnings[0].contains("AccessDenied"));
        let json = serde_json::to_value(bucket_row(
            &b.clone().with_provenance(Provenance::Absent),
            None,
        ))
        .unwrap();
        assert!(json.get("warnings").is_none(), "{json}");
    }
}
