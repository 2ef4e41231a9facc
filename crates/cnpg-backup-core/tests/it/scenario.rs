//! The whole flow on the simulator: settings → reconcile → backup now → catalog → stage one
//! (full mode) → readiness → stage two → completed.

use cnpg_backup_core::memory::SimEvent;
use cnpg_backup_core::names::{ClusterName, RestoreId};
use cnpg_backup_core::ports::PreflightOptions;
use cnpg_backup_core::restore::{
    AuditKind, CutoverStep, RestorePhase, RestoreRequest, STAGE_ONE_ACK, STAGE_TWO_ACK,
    StageOneAck, StageTwoAck,
};
use cnpg_backup_core::service::CatalogScope;
use cnpg_backup_core::status::{PreflightState, ReconcileState};
use futures::executor::block_on;

use crate::harness::{World, settings};

#[test]
fn full_restore_from_settings_to_completed() {
    block_on(async {
        let w = World::new();
        let running = "1.4.2".parse().unwrap();
        w.backups.save_settings(&settings()).await.unwrap();
        let status = w.backups.reconcile(Some(&running)).await.unwrap();
        assert_eq!(status.state, ReconcileState::Ok);
        assert_eq!(status.planes.iter().map(|p| p.writes).sum::<u32>(), 2);
        // A converged reconcile writes nothing.
        let again = w.backups.reconcile(Some(&running)).await.unwrap();
        assert_eq!(again.planes.iter().map(|p| p.writes).sum::<u32>(), 0);
        assert_eq!(w.backups.reconcile_status().await.unwrap(), again);

        let runs = w.backups.backup_now(Some(&running)).await.unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].set_id, runs[1].set_id);
        // A second run while the first is pending is refused.
        assert!(w.backups.backup_now(Some(&running)).await.is_err());
        w.sim.tick().await.unwrap();
        w.sim.tick().await.unwrap();

        let catalog = w
            .backups
            .catalog(CatalogScope::Both, Some(&running), Default::default())
            .await
            .unwrap();
        assert_eq!(catalog.len(), 2);
        assert!(catalog.iter().all(|e| e.is_ready()), "{catalog:#?}");
        let admin = catalog
            .iter()
            .find(|e| e.record.cluster.as_str() == "cnpg-admin")
            .unwrap();
        let tenant = catalog
            .iter()
            .find(|e| e.record.cluster.as_str() == "cnpg-tenant")
            .unwrap();

        let report = w
            .backups
            .preflight(&PreflightOptions::new(
                false,
                vec!["restore-a-admin-r-r1".parse().unwrap()],
                vec!["cnpg-admin".parse().unwrap()],
            ))
            .await
            .unwrap();
        assert_eq!(report.state, PreflightState::Ok, "{report:#?}");

        let restores = w.restores();
        let id: RestoreId = "r1".parse().unwrap();
        let request = RestoreRequest::full_from_backups(
            "restore-a".parse().unwrap(),
            admin.record.name.clone(),
            tenant.record.name.clone(),
        );
        let plan = restores.plan(&id, &request, Some(&running)).await.unwrap();
        assert_eq!(plan.creates.len(), 2);
        assert_eq!(plan.deletes_live.len(), 2);
        assert_eq!(w.sim.calls("create"), 0, "plan has no side effects");

        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let r = restores
            .create(&id, &request, Some(&running), &one, Some("ops".into()))
            .await
            .unwrap();
        assert!(matches!(
            r.phase(),
            RestorePhase::RecoveryRequested | RestorePhase::Provisioning
        ));

        let mut r = r;
        for _ in 0..5 {
            if r.phase() == &RestorePhase::ReadyForPromotionChecks {
                break;
            }
            r = restores.refresh(&id).await.unwrap();
        }
        assert_eq!(r.phase(), &RestorePhase::ReadyForPromotionChecks);

        let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
        let mut r = restores.apply(&id, &two, Some("ops".into())).await.unwrap();
        for _ in 0..5 {
            if r.phase() == &RestorePhase::Completed {
                break;
            }
            r = restores.refresh(&id).await.unwrap();
        }
        assert_eq!(r.phase(), &RestorePhase::Completed, "{r:#?}");
        assert!(
            r.planes()
                .iter()
                .all(|p| p.cutover_step() == Some(CutoverStep::LiveReady))
        );
        let kinds: Vec<AuditKind> = r.audit().iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec![AuditKind::StageOneAck, AuditKind::StageTwoAck]);
        assert_eq!(r.audit()[0].text, STAGE_ONE_ACK);
        assert_eq!(r.audit()[1].text, STAGE_TWO_ACK);
        assert_eq!(r.audit()[1].actor.as_deref(), Some("ops"));

        // Each live cluster was deleted once and recreated once, with a fresh archive.
        let events = w.sim.events();
        for live in ["cnpg-admin", "cnpg-tenant"] {
            let name: ClusterName = live.parse().unwrap();
            let deletes = events
                .iter()
                .filter(|e| matches!(e, SimEvent::ClusterDeleted { name: n } if *n == name))
                .count();
            let creates = events
                .iter()
                .filter(|e| matches!(e, SimEvent::ClusterCreated { name: n, replaces_live: true, .. } if *n == name))
                .count();
            assert_eq!((deletes, creates), (1, 1), "{live}: {events:#?}");
            let manifest = w.sim.manifest_of(&name).unwrap();
            assert_eq!(
                manifest.0["spec"]["backup"]["barmanObjectStore"]["serverName"],
                format!("{live}-r-r1")
            );
            assert_eq!(
                manifest.0["spec"]["externalClusters"][0]["barmanObjectStore"]["serverName"],
                live
            );
        }
        // Recovery clusters were cleaned up after success.
        let names: Vec<String> = w
            .sim
            .cluster_names()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, vec!["cnpg-admin", "cnpg-tenant"]);
        assert_eq!(restores.list().await.unwrap().len(), 1);
    });
}

#[test]
fn abandon_removes_recovery_clusters_and_keeps_live() {
    let w = World::with_backups(1);
    block_on(async {
        let restores = w.restores();
        let catalog = w
            .backups
            .catalog(CatalogScope::Both, None, Default::default())
            .await
            .unwrap();
        let request = RestoreRequest::full_from_backups(
            "restore-b".parse().unwrap(),
            catalog
                .iter()
                .find(|e| e.record.cluster.as_str() == "cnpg-admin")
                .unwrap()
                .record
                .name
                .clone(),
            catalog
                .iter()
                .find(|e| e.record.cluster.as_str() == "cnpg-tenant")
                .unwrap()
                .record
                .name
                .clone(),
        );
        let id: RestoreId = "r2".parse().unwrap();
        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        restores
            .create(&id, &request, Some(&"1.4.2".parse().unwrap()), &one, None)
            .await
            .unwrap();
        assert_eq!(w.sim.cluster_names().len(), 4);
        let r = restores.abandon(&id, Some("ops".into())).await.unwrap();
        assert_eq!(r.phase(), &RestorePhase::Abandoned);
        let names: Vec<String> = w
            .sim
            .cluster_names()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, vec!["cnpg-admin", "cnpg-tenant"]);
        assert!(w.sim.events().iter().all(|e| !matches!(e, SimEvent::ClusterDeleted { name } if name.as_str().starts_with("cnpg-"))));
        // Stage two is impossible after abandoning.
        let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
        assert!(restores.apply(&id, &two, None).await.is_err());
    });
}

/// A state store where another operator writes the restore record just before our write.
struct Racing {
    inner: std::sync::Arc<cnpg_backup_core::memory::InMemoryStateStore>,
    armed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl cnpg_backup_core::ports::StateStore for Racing {
    async fn get(
        &self,
        key: &cnpg_backup_core::ports::StateKey,
    ) -> Result<Option<cnpg_backup_core::ports::Stored>, cnpg_backup_core::ports::BackendError>
    {
        self.inner.get(key).await
    }
    async fn put<'a>(
        &self,
        key: &cnpg_backup_core::ports::StateKey,
        body: &str,
        expected: Option<&'a cnpg_backup_core::ports::Revision>,
    ) -> Result<cnpg_backup_core::ports::Revision, cnpg_backup_core::ports::BackendError> {
        if matches!(key, cnpg_backup_core::ports::StateKey::Restore(_))
            && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            let current = self.inner.get(key).await?.unwrap();
            self.inner
                .put(key, &current.body, Some(&current.revision))
                .await?;
        }
        self.inner.put(key, body, expected).await
    }
    async fn list_restores(&self) -> Result<Vec<RestoreId>, cnpg_backup_core::ports::BackendError> {
        self.inner.list_restores().await
    }
}

#[test]
fn concurrent_operator_loses_the_race_and_performs_nothing() {
    use std::sync::Arc;
    let w = World::with_backups(1);
    block_on(async {
        let catalog = w
            .backups
            .catalog(CatalogScope::Both, None, Default::default())
            .await
            .unwrap();
        let name = |c: &str| {
            catalog
                .iter()
                .find(|e| e.record.cluster.as_str() == c)
                .unwrap()
                .record
                .name
                .clone()
        };
        let request = RestoreRequest::full_from_backups(
            "restore-c".parse().unwrap(),
            name("cnpg-admin"),
            name("cnpg-tenant"),
        );
        let id: RestoreId = "r3".parse().unwrap();
        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let restores = w.restores();
        restores
            .create(&id, &request, Some(&"1.4.2".parse().unwrap()), &one, None)
            .await
            .unwrap();
        let r = restores.refresh(&id).await.unwrap();
        assert_eq!(r.phase(), &RestorePhase::ReadyForPromotionChecks);

        let racing = Arc::new(Racing {
            inner: w.store.clone(),
            armed: true.into(),
        });
        let sim = Arc::new(w.sim.clone());
        let probe: Arc<crate::harness::Probe> = Arc::new(
            cnpg_backup_core::memory::BarmanBucketProbe::new(w.sim.bucket()),
        );
        let slow = cnpg_backup_core::service::RestoreService::new(
            sim.clone(),
            sim,
            probe,
            racing,
            w.sim.clock(),
        );
        let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
        let deletes = w.sim.calls("delete");
        let manifests = w.sim.calls("manifest");
        let err = slow.apply(&id, &two, None).await.unwrap_err();
        assert!(
            matches!(
                err,
                cnpg_backup_core::service::ServiceError::Conflict { .. }
            ),
            "{err}"
        );
        assert_eq!(w.sim.calls("delete"), deletes, "the loser deleted nothing");
        assert_eq!(
            w.sim.calls("manifest"),
            manifests,
            "the loser performed nothing"
        );
        assert_eq!(
            restores.get(&id).await.unwrap().phase(),
            &RestorePhase::ReadyForPromotionChecks
        );
    });
}
