//! The backup use cases: settings, reconcile, backup now, preflight, catalog.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ServiceError, load_settings, overwrite, plane_catalog};
use crate::automation::{BackupSettings, plan};
use crate::catalog::{
    BackupRecord, BackupSetId, NotReadyReason, restore_readiness, sort_newest_first,
};
use crate::drift::{AppVersion, Drift, VersionPolicy};
use crate::names::{ObjectName, Plane};
use crate::ports::{
    BackupAutomation, BackupCatalogSource, BackupRequest, BucketProbe, Clock, PreflightOptions,
    StateKey, StateStore,
};
use crate::status::{PreflightReport, ReconcileStatus};

/// Which planes a catalog covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogScope {
    /// One plane.
    Plane(Plane),
    /// Both planes, loaded concurrently.
    Both,
}

/// One catalog row: the record and why it cannot be restored by name (empty: ready).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CatalogEntry {
    /// The backup.
    pub record: BackupRecord,
    /// Why it is not ready for a named restore (empty: ready).
    pub not_ready: Vec<NotReadyReason>,
    /// Version drift between the running app and the backup.
    pub drift: Drift,
}

impl CatalogEntry {
    /// Whether a named restore may use it now.
    pub fn is_ready(&self) -> bool {
        self.not_ready.is_empty()
    }
}

/// Backups: settings, reconcile, backup now, preflight, catalog.
pub struct BackupService<A: ?Sized, C: ?Sized, P: ?Sized, S: ?Sized, K: ?Sized> {
    automation: Arc<A>,
    catalog: Arc<C>,
    probe: Arc<P>,
    store: Arc<S>,
    clock: Arc<K>,
}

impl<A: ?Sized, C: ?Sized, P: ?Sized, S: ?Sized, K: ?Sized> std::fmt::Debug
    for BackupService<A, C, P, S, K>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupService").finish_non_exhaustive()
    }
}

/// The on-demand set id of a run at `now`, generated once for every plane of the run. The
/// nonce comes from the milliseconds of `now`, so two runs in one second differ.
fn on_demand_set_id(now: chrono::DateTime<chrono::Utc>) -> Result<BackupSetId, ServiceError> {
    BackupSetId::on_demand(now, &format!("{:03x}", now.timestamp_subsec_millis())).map_err(
        |e: crate::catalog::BackupSetIdError| ServiceError::Corrupt {
            what: "generated set id".to_owned(),
            detail: e.to_string(),
        },
    )
}

impl<A, C, P, S, K> BackupService<A, C, P, S, K>
where
    A: BackupAutomation + ?Sized,
    C: BackupCatalogSource + ?Sized,
    P: BucketProbe + ?Sized,
    S: StateStore + ?Sized,
    K: Clock + ?Sized,
{
    /// A service over these ports.
    pub fn new(
        automation: Arc<A>,
        catalog: Arc<C>,
        probe: Arc<P>,
        store: Arc<S>,
        clock: Arc<K>,
    ) -> Self {
        Self {
            automation,
            catalog,
            probe,
            store,
            clock,
        }
    }

    /// Validates and saves the settings (it does not apply them: see [`Self::reconcile`]).
    ///
    /// Settings equal to the stored ones (compared as settings, not as text) are not written
    /// again, so running `reconcile -c FILE` with an unchanged file writes nothing here. The
    /// archive servers restores recorded are kept
    /// ([`BackupSettings::keeping_recorded_archive_servers`]). A stored document that no longer
    /// reads as settings is overwritten.
    ///
    /// # Errors
    /// [`ServiceError::Settings`] when they cannot be planned; [`ServiceError::Conflict`] when
    /// the settings changed meanwhile; [`ServiceError::Backend`].
    pub async fn save_settings(&self, settings: &BackupSettings) -> Result<(), ServiceError> {
        plan(settings).map_err(ServiceError::Settings)?;
        let key = StateKey::Settings;
        let current = self
            .store
            .get(&key)
            .await
            .map_err(ServiceError::backend(format!("reading the {key}")))?;
        let mut settings = settings.clone();
        if let Some(stored) = current
            .as_ref()
            .and_then(|doc| serde_json::from_str::<BackupSettings>(&doc.body).ok())
        {
            settings = settings.keeping_recorded_archive_servers(&stored);
            if settings == stored {
                return Ok(());
            }
        }
        super::store(
            &*self.store,
            &key,
            &settings,
            current.as_ref().map(|d| &d.revision),
        )
        .await
        .map(|_| ())
    }

    /// The saved settings.
    ///
    /// # Errors
    /// [`ServiceError::SettingsMissing`]; [`ServiceError::Backend`]; [`ServiceError::Corrupt`].
    pub async fn settings(&self) -> Result<BackupSettings, ServiceError> {
        load_settings(&*self.store).await
    }

    /// Plans the saved settings, applies the plan, and persists the reconcile status (also when
    /// it fails, with the error), carrying the plan's warnings as text for people.
    ///
    /// # Errors
    /// [`ServiceError`] when nothing could be applied (the error status is persisted first).
    pub async fn reconcile(
        &self,
        app_version: Option<&AppVersion>,
    ) -> Result<ReconcileStatus, ServiceError> {
        let settings = load_settings(&*self.store).await?;
        let now = self.clock.now();
        let mut warnings = Vec::new();
        let result = match plan(&settings) {
            Err(e) => Err(ServiceError::Settings(e)),
            Ok(p) => {
                warnings = p.warnings.iter().map(ToString::to_string).collect();
                self.automation
                    .apply(&p, app_version)
                    .await
                    .map_err(ServiceError::backend("applying backup automation"))
            }
        };
        match result {
            Ok(planes) => {
                let status = ReconcileStatus::from_planes(now, planes).with_warnings(warnings);
                self.persist_status(&status).await?;
                Ok(status)
            }
            Err(e) => {
                let text = match &e {
                    ServiceError::Backend { context, source } => format!("{context}: {source}"),
                    other => other.to_string(),
                };
                let status = ReconcileStatus::failed(now, text).with_warnings(warnings);
                self.persist_status(&status).await?;
                Err(e)
            }
        }
    }

    /// Persists a reconcile status unless the stored one is the
    /// [same outcome](ReconcileStatus::same_outcome): a converged reconcile after a converged
    /// reconcile writes nothing (one read). An unreadable stored status is replaced.
    async fn persist_status(&self, status: &ReconcileStatus) -> Result<(), ServiceError> {
        let key = StateKey::ReconcileStatus;
        let stored = self
            .store
            .get(&key)
            .await
            .map_err(ServiceError::backend(format!("reading the {key}")))?;
        if let Some(doc) = &stored
            && serde_json::from_str::<ReconcileStatus>(&doc.body)
                .is_ok_and(|s| s.same_outcome(status))
        {
            return Ok(());
        }
        super::store(
            &*self.store,
            &key,
            status,
            stored.as_ref().map(|d| &d.revision),
        )
        .await
        .map(|_| ())
    }

    /// The last persisted reconcile status.
    ///
    /// # Errors
    /// [`ServiceError::Backend`]; [`ServiceError::Corrupt`].
    pub async fn reconcile_status(&self) -> Result<ReconcileStatus, ServiceError> {
        Ok(
            super::load::<ReconcileStatus, S>(&self.store, &StateKey::ReconcileStatus)
                .await?
                .map_or_else(ReconcileStatus::not_run_yet, |l| l.value),
        )
    }

    /// Creates one on-demand Backup per plane in scope, all with one new set id.
    ///
    /// # Errors
    /// [`ServiceError::AutomationDisabled`]; [`ServiceError::BackupInProgress`] when a backup of a
    /// plane is pending or running (nothing is created then); [`ServiceError::Backend`].
    pub async fn backup_now(
        &self,
        app_version: Option<&AppVersion>,
    ) -> Result<Vec<BackupRequest>, ServiceError> {
        let settings = load_settings(&*self.store).await?;
        if !settings.automation.enabled {
            return Err(ServiceError::AutomationDisabled);
        }
        let now = self.clock.now();
        let set_id = on_demand_set_id(now)?;
        let mut requests = Vec::new();
        for plane in settings.automation.scope.planes() {
            let cluster = settings.clusters.get(plane).clone();
            let existing =
                self.catalog
                    .list_backups(&cluster)
                    .await
                    .map_err(ServiceError::backend(format!(
                        "listing the backups of `{cluster}`"
                    )))?;
            if let Some(busy) = existing.iter().find(|b| b.phase.is_in_progress()) {
                return Err(ServiceError::BackupInProgress {
                    cluster: cluster.to_string(),
                    backup: busy.name.to_string(),
                    phase: busy.phase.as_cnpg().to_owned(),
                });
            }
            let name: ObjectName = format!("{cluster}-{}", set_id.as_str()).parse().map_err(
                |e: crate::names::NameError| ServiceError::Corrupt {
                    what: "generated backup name".to_owned(),
                    detail: e.to_string(),
                },
            )?;
            requests.push(BackupRequest::new(
                name,
                plane,
                cluster,
                settings.automation.method,
                set_id.clone(),
                app_version.cloned(),
            ));
        }
        for r in &requests {
            self.automation
                .create_backup(r)
                .await
                .map_err(ServiceError::backend(format!(
                    "creating backup `{}`",
                    r.name
                )))?;
        }
        Ok(requests)
    }

    /// Runs the bucket preflight and persists the report.
    ///
    /// # Errors
    /// [`ServiceError::SettingsMissing`]; [`ServiceError::Backend`] when persisting fails.
    pub async fn preflight(
        &self,
        options: &PreflightOptions,
    ) -> Result<PreflightReport, ServiceError> {
        let settings = load_settings(&*self.store).await?;
        let report = self
            .probe
            .preflight(&settings.target, options, self.clock.now())
            .await;
        overwrite(&*self.store, &StateKey::PreflightReport, &report).await?;
        Ok(report)
    }

    /// The catalog of one plane or both (loaded concurrently), storage presence filled, newest
    /// first, each with its readiness for a named restore under `policy`.
    ///
    /// # Errors
    /// [`ServiceError::SettingsMissing`]; [`ServiceError::Backend`] when a listing fails.
    pub async fn catalog(
        &self,
        scope: CatalogScope,
        running: Option<&AppVersion>,
        policy: VersionPolicy,
    ) -> Result<Vec<CatalogEntry>, ServiceError> {
        let settings = load_settings(&*self.store).await?;
        let mut records = match scope {
            CatalogScope::Plane(p) => {
                plane_catalog(&*self.catalog, &*self.probe, &settings, p).await?
            }
            CatalogScope::Both => {
                let (a, t) = futures::join!(
                    plane_catalog(&*self.catalog, &*self.probe, &settings, Plane::Admin),
                    plane_catalog(&*self.catalog, &*self.probe, &settings, Plane::Tenant),
                );
                let mut all = a?;
                all.extend(t?);
                all
            }
        };
        sort_newest_first(&mut records);
        Ok(records
            .into_iter()
            .map(|record| {
                // An unknown version is not a refusal here: a restore may accept it explicitly.
                let readiness = restore_readiness(&record, running, policy, true);
                CatalogEntry {
                    not_ready: readiness.reasons,
                    drift: readiness.drift,
                    record,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use futures::executor::block_on;

    use super::*;
    use crate::catalog::{BackupPhase, StoragePresence};
    use crate::memory::InMemoryStateStore;
    use crate::names::{ClusterName, PlaneClusters};
    use crate::ports::{
        BackendError, MockBackupAutomation, MockBackupCatalogSource, MockBucketProbe, MockClock,
    };
    use crate::status::{PlaneReconcileStatus, ReconcileState};

    type Svc = BackupService<
        MockBackupAutomation,
        MockBackupCatalogSource,
        MockBucketProbe,
        InMemoryStateStore,
        MockClock,
    >;

    fn settings(enabled: bool) -> BackupSettings {
        serde_json::from_value(serde_json::json!({
            "target": {"provider": "local", "bucket": "b", "credentials": {"kind": "none"}},
            "automation": {"enabled": enabled, "schedule": {"preset": "daily", "hour": 2, "minute": 0}, "retention": "30d"},
            "appVersion": {"kind": "unknown"}
        }))
        .unwrap()
    }

    fn clock() -> MockClock {
        let mut c = MockClock::new();
        c.expect_now()
            .returning(|| Utc.with_ymd_and_hms(2026, 11, 26, 5, 0, 0).unwrap());
        c
    }

    fn service(
        automation: MockBackupAutomation,
        catalog: MockBackupCatalogSource,
        probe: MockBucketProbe,
        enabled: bool,
    ) -> Svc {
        let store = Arc::new(InMemoryStateStore::new());
        let svc = BackupService::new(
            Arc::new(automation),
            Arc::new(catalog),
            Arc::new(probe),
            store,
            Arc::new(clock()),
        );
        block_on(svc.save_settings(&settings(enabled))).unwrap();
        svc
    }

    #[test]
    fn failed_reconcile_persists_an_error_status() {
        let mut automation = MockBackupAutomation::new();
        automation.expect_apply().times(1).returning(|_, _| {
            Err(BackendError::Forbidden {
                detail: "cannot patch clusters".into(),
            })
        });
        let svc = service(
            automation,
            MockBackupCatalogSource::new(),
            MockBucketProbe::new(),
            true,
        );
        assert!(block_on(svc.reconcile(None)).is_err());
        let status = block_on(svc.reconcile_status()).unwrap();
        assert_eq!(status.state, ReconcileState::Error);
        assert_eq!(
            status.last_reconcile,
            Some(Utc.with_ymd_and_hms(2026, 11, 26, 5, 0, 0).unwrap())
        );
        assert!(
            status
                .error
                .as_deref()
                .unwrap()
                .contains("cannot patch clusters"),
            "{status:?}"
        );
    }

    #[test]
    fn a_converged_reconcile_that_ends_as_before_writes_no_status() {
        let mut automation = MockBackupAutomation::new();
        let mut writes = vec![2, 0, 0, 0];
        automation.expect_apply().times(4).returning(move |_, _| {
            let w = writes.remove(0);
            Ok(vec![PlaneReconcileStatus::new(
                Plane::Admin,
                "cnpg-admin".parse().unwrap(),
                ReconcileState::Ok,
                None,
                w,
            )])
        });
        let store = Arc::new(InMemoryStateStore::new());
        let svc = BackupService::new(
            Arc::new(automation),
            Arc::new(MockBackupCatalogSource::new()),
            Arc::new(MockBucketProbe::new()),
            store.clone(),
            Arc::new(clock()),
        );
        block_on(svc.save_settings(&settings(true))).unwrap();
        let base = store.writes();
        block_on(svc.reconcile(None)).unwrap();
        assert_eq!(store.writes(), base + 1, "the first outcome is stored");
        block_on(svc.reconcile(None)).unwrap();
        assert_eq!(
            store.writes(),
            base + 2,
            "2 writes → 0 writes is a new outcome"
        );
        block_on(svc.reconcile(None)).unwrap();
        block_on(svc.reconcile(None)).unwrap();
        assert_eq!(
            store.writes(),
            base + 2,
            "converged twice: nothing rewritten"
        );
        let stored = block_on(svc.reconcile_status()).unwrap();
        assert_eq!(stored.planes[0].writes, 0);
    }

    #[test]
    fn reconcile_status_carries_the_plan_warnings() {
        let mut automation = MockBackupAutomation::new();
        automation
            .expect_apply()
            .withf(|p, _| p.archive_removals.len() == 2)
            .times(1)
            .returning(|_, _| Ok(Vec::new()));
        let svc = service(
            automation,
            MockBackupCatalogSource::new(),
            MockBucketProbe::new(),
            true,
        );
        let mut s = settings(true);
        s.target.use_for_backups = false;
        block_on(svc.save_settings(&s)).unwrap();
        let status = block_on(svc.reconcile(None)).unwrap();
        let expected: Vec<String> = plan(&s)
            .unwrap()
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(status.warnings, expected);
        assert!(
            status.warnings.iter().any(
                |w| w.contains("WAL archiving of the admin plane (cluster `cnpg-admin`) stops")
            ),
            "{:?}",
            status.warnings
        );
        assert_eq!(block_on(svc.reconcile_status()).unwrap(), status);

        // A failed apply keeps the warnings next to the error.
        let mut automation = MockBackupAutomation::new();
        automation.expect_apply().times(1).returning(|_, _| {
            Err(BackendError::Unavailable {
                detail: "down".into(),
            })
        });
        let svc = service(
            automation,
            MockBackupCatalogSource::new(),
            MockBucketProbe::new(),
            true,
        );
        block_on(svc.save_settings(&s)).unwrap();
        assert!(block_on(svc.reconcile(None)).is_err());
        let stored = block_on(svc.reconcile_status()).unwrap();
        assert_eq!(stored.state, ReconcileState::Error);
        assert_eq!(stored.warnings, expected);
    }

    #[test]
    fn saving_the_same_settings_again_writes_nothing_and_keeps_recorded_archive_servers() {
        let svc = service(
            MockBackupAutomation::new(),
            MockBackupCatalogSource::new(),
            MockBucketProbe::new(),
            true,
        );
        let revision = || {
            block_on(svc.store.get(&StateKey::Settings))
                .unwrap()
                .unwrap()
                .revision
        };
        let first = revision();
        // The same settings, as another document would spell them (defaults left out).
        let same: BackupSettings = serde_json::from_value(serde_json::json!({
            "target": {"provider": "local", "bucket": "b", "credentials": {"kind": "none"},
                "prefix": "", "useForBackups": true},
            "automation": {"enabled": true, "schedule": {"preset": "daily", "hour": 2, "minute": 0},
                "retention": "30d"},
            "appVersion": {"kind": "unknown"}
        }))
        .unwrap();
        block_on(svc.save_settings(&same)).unwrap();
        assert_eq!(revision(), first, "unchanged settings are not written");

        // A restore recorded a fresh archive server; the same file saved again keeps it.
        let mut restored = settings(true);
        restored
            .archive_servers
            .insert(Plane::Admin, "cnpg-admin-r-drill".parse().unwrap());
        block_on(svc.save_settings(&restored)).unwrap();
        let after_restore = revision();
        assert_ne!(after_restore, first);
        block_on(svc.save_settings(&settings(true))).unwrap();
        assert_eq!(
            revision(),
            after_restore,
            "the file without archiveServers is unchanged"
        );
        assert_eq!(
            block_on(svc.settings())
                .unwrap()
                .archive_server(Plane::Admin)
                .as_str(),
            "cnpg-admin-r-drill"
        );

        // A real change is written; a renamed cluster does not inherit the recorded server.
        let mut renamed = settings(true);
        renamed.clusters =
            PlaneClusters::new("pg-admin".parse().unwrap(), "cnpg-tenant".parse().unwrap());
        block_on(svc.save_settings(&renamed)).unwrap();
        assert_ne!(revision(), after_restore);
        let saved = block_on(svc.settings()).unwrap();
        assert_eq!(saved.archive_server(Plane::Admin).as_str(), "pg-admin");

        // A document that no longer reads as settings is overwritten.
        let current = revision();
        block_on(svc.store.put(
            &StateKey::Settings,
            "{\"not\": \"settings\"}",
            Some(&current),
        ))
        .unwrap();
        block_on(svc.save_settings(&settings(true))).unwrap();
        assert_eq!(block_on(svc.settings()).unwrap(), settings(true));
    }

    #[test]
    fn backup_now_is_refused_when_disabled_or_busy() {
        let mut automation = MockBackupAutomation::new();
        automation.expect_create_backup().times(0);
        let svc = service(
            automation,
            MockBackupCatalogSource::new(),
            MockBucketProbe::new(),
            false,
        );
        assert_eq!(
            block_on(svc.backup_now(None)).unwrap_err(),
            ServiceError::AutomationDisabled
        );

        let mut automation = MockBackupAutomation::new();
        automation.expect_create_backup().times(0);
        let mut catalog = MockBackupCatalogSource::new();
        catalog.expect_list_backups().returning(|c| {
            let mut r = BackupRecord::new("busy".parse().unwrap(), c.clone(), Default::default());
            r.phase = BackupPhase::Running;
            Ok(vec![r])
        });
        let svc = service(automation, catalog, MockBucketProbe::new(), true);
        assert!(matches!(
            block_on(svc.backup_now(None)),
            Err(ServiceError::BackupInProgress { .. })
        ));
    }

    #[test]
    fn catalog_fills_presence_with_one_call_per_server_and_sorts() {
        let mut catalog = MockBackupCatalogSource::new();
        catalog.expect_list_backups().returning(|c: &ClusterName| {
            let mk = |name: &str, hour: u32| {
                let mut r = BackupRecord::new(name.parse().unwrap(), c.clone(), Default::default());
                r.phase = BackupPhase::Completed;
                r.ended_at = Some(Utc.with_ymd_and_hms(2026, 11, 26, hour, 0, 0).unwrap());
                r.backup_id = Some(format!("20261126T{hour:02}0000").parse().unwrap());
                r
            };
            Ok(vec![mk(&format!("{c}-a"), 1), mk(&format!("{c}-b"), 3)])
        });
        let mut probe = MockBucketProbe::new();
        probe.expect_presence().times(2).returning(|_, _, ids| {
            let mut m = BTreeMap::new();
            for (i, id) in ids.iter().enumerate() {
                let p = if i == 0 {
                    StoragePresence::Present
                } else {
                    StoragePresence::Missing
                };
                m.insert(id.clone(), p);
            }
            Ok(m)
        });
        let svc = service(MockBackupAutomation::new(), catalog, probe, true);
        let rows =
            block_on(svc.catalog(CatalogScope::Both, None, VersionPolicy::default())).unwrap();
        let names: Vec<String> = rows.iter().map(|r| r.record.name.to_string()).collect();
        assert_eq!(
            names,
            vec![
                "cnpg-admin-b",
                "cnpg-tenant-b",
                "cnpg-admin-a",
                "cnpg-tenant-a"
            ]
        );
        assert!(rows.iter().all(|r| r.record.plane.is_some()));
        assert!(rows[2].is_ready());
        assert_eq!(rows[0].not_ready, vec![NotReadyReason::MissingInStorage]);
    }
}
