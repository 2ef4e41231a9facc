//! The loop on the simulator (the embedded default): the acceptance of issue 10 that needs no
//! API server.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::Duration;

use cnpg_backup_app::Backend;
use cnpg_backup_controller::lease::InMemoryLeaseStore;
use cnpg_backup_controller::{Outcome, Work};
use cnpg_backup_core::automation::AutomationPlan;
use cnpg_backup_core::drift::AppVersion;
use cnpg_backup_core::memory::SimEvent;
use cnpg_backup_core::names::{ClusterName, RestoreId};
use cnpg_backup_core::ports::{
    BackendError, BackupAutomation, BackupRequest, ClusterLifecycle, ClusterManifest,
    ClusterObservation, Revision, SoleReplica, StateKey, StateStore, Stored,
};
use cnpg_backup_core::restore::{
    PhaseName, RecoveryClusterSpec, RestoreRequest, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck,
    StageTwoAck,
};
use cnpg_backup_core::service::CatalogScope;
use cnpg_backup_core::status::PlaneReconcileStatus;

use crate::support::{Replica, Shared, Solo, admin, daily, run_replicas, tenant};

fn has_our_plugin(m: &serde_json::Value) -> bool {
    m["spec"]["plugins"].as_array().is_some_and(|l| {
        l.iter()
            .any(|e| e["name"] == "barman-cloud.cloudnative-pg.io")
    })
}

#[tokio::test]
async fn drift_is_repaired_after_one_watch_event() {
    let mut w = Solo::new(None).await;
    w.run_for(Duration::seconds(30)).await;
    assert!(has_our_plugin(&w.sim.manifest_of(&admin()).unwrap().0));

    // Someone drops the backup configuration of the admin cluster.
    let t0 = w.now();
    assert!(w.sim.edit_cluster(&admin(), |m| {
        m["spec"].as_object_mut().unwrap().remove("plugins");
    }));
    w.run_for(Duration::seconds(5)).await;
    assert!(
        has_our_plugin(&w.sim.manifest_of(&admin()).unwrap().0),
        "repaired"
    );
    let reconciles: Vec<_> = w
        .ran_since(t0)
        .into_iter()
        .filter(|(_, work, _)| *work == Work::Reconcile)
        .collect();
    let (first, _, outcome) = reconciles.first().cloned().unwrap();
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(
        first - t0,
        Duration::seconds(1),
        "one watch event, one debounce"
    );
    // The repair, then the reconcile its own write triggered, which finds nothing to do.
    assert_eq!(reconciles.len(), 2, "{reconciles:?}");
    let status = w.backend.backups.reconcile_status().await.unwrap();
    assert!(status.planes.iter().all(|p| p.writes == 0), "{status:?}");
}

#[tokio::test]
async fn idle_for_ten_minutes_sends_nothing_but_the_resync() {
    let mut w = Solo::new(Some(daily)).await;
    w.run_for(Duration::seconds(30)).await;
    let start = w.now();
    let calls = |w: &Solo| {
        [
            "observe",
            "manifest",
            "create",
            "delete",
            "apply",
            "create_backup",
            "list_backups",
        ]
        .map(|m| w.sim.calls(m))
    };
    let (c0, r0, w0) = (calls(&w), w.store.reads(), w.store.writes());
    let manifest = w.sim.manifest_of(&admin()).unwrap();

    // Up to the resync, ten minutes after the loop started: not one request.
    let resync = w.controller.next_due();
    assert_eq!(resync - start, Duration::seconds(570), "resync at 10 min");
    w.run_for(resync - start - Duration::milliseconds(1)).await;
    assert_eq!(calls(&w), c0, "no call to the cluster while idle");
    assert_eq!(w.store.reads(), r0, "no read of the state store while idle");
    assert_eq!(w.store.writes(), w0);

    // The resync reads, and writes nothing.
    w.run_for(Duration::seconds(30)).await;
    assert!(w.store.reads() > r0, "the resync ran");
    assert_eq!(
        w.store.writes(),
        w0,
        "a converged resync writes no document"
    );
    let after = calls(&w);
    assert_eq!(after[2..4], c0[2..4], "no cluster created or deleted");
    assert_eq!(after[5], c0[5], "no backup created");
    assert_eq!(w.sim.manifest_of(&admin()).unwrap(), manifest);
    let status = w.backend.backups.reconcile_status().await.unwrap();
    assert!(status.planes.iter().all(|p| p.writes == 0), "{status:?}");
}

async fn backups_of_both_planes(w: &mut Solo) -> (String, String) {
    w.backend.run_backup_now().await.unwrap();
    w.run_for(Duration::minutes(3)).await;
    let rows = w.backend.catalog_rows(CatalogScope::Both).await.unwrap();
    let of = |plane: &str| {
        rows.iter()
            .find(|r| r.plane.as_deref() == Some(plane) && r.named_restore_ready)
            .unwrap_or_else(|| panic!("no ready {plane} backup in {rows:?}"))
            .name
            .clone()
    };
    (of("admin"), of("tenant"))
}

fn request(admin: &str, tenant: &str) -> RestoreRequest {
    RestoreRequest::full_from_backups(
        "drill".parse().unwrap(),
        admin.parse().unwrap(),
        tenant.parse().unwrap(),
    )
}

#[tokio::test]
async fn a_restore_reaches_ready_for_promotion_checks_with_no_command() {
    let mut w = Solo::new(None).await;
    w.run_for(Duration::seconds(30)).await;
    let (a, t) = backups_of_both_planes(&mut w).await;
    let id: RestoreId = "r1".parse().unwrap();
    let ack = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
    let created = w
        .backend
        .restore_create(&id, &request(&a, &t), &ack, Some("ops".into()))
        .await
        .unwrap();
    assert!(created.advances_unattended(), "{:?}", created.phase());

    // No command from here on: only the loop.
    w.run_for(Duration::minutes(2)).await;
    let r = w.backend.restore_get(&id).await.unwrap();
    assert_eq!(
        r.phase().name(),
        PhaseName::ReadyForPromotionChecks,
        "{r:?}"
    );
    let steps: Vec<_> = w
        .log
        .iter()
        .filter(|(_, work, _)| *work == Work::Restore(id.clone()))
        .collect();
    assert!(!steps.is_empty());
    // It then waits for a person: no refresh after it became ready.
    let n = steps.len();
    w.run_for(Duration::minutes(5)).await;
    let later = w
        .log
        .iter()
        .filter(|(_, work, _)| *work == Work::Restore(id.clone()))
        .count();
    assert!(
        later <= n + 1,
        "{n} then {later}: waiting for the acknowledgement"
    );
    assert_eq!(
        w.backend.restore_get(&id).await.unwrap().phase().name(),
        PhaseName::ReadyForPromotionChecks
    );
    let metrics = w.controller.metrics().encode(w.now());
    assert!(
        metrics.contains(
            "cnpg_backup_restore_phase{restore=\"r1\",phase=\"ready_for_promotion_checks\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failed_backup_is_one_event_on_its_cluster_not_one_per_resync() {
    let mut w = Solo::new(None).await;
    w.run_for(Duration::seconds(30)).await;
    w.sim
        .fail_backups(&admin(), Some("barman-cloud-backup: exit status 4"));
    // The hourly schedule fires at 01:00; the backup fails a minute or two later.
    w.run_for(Duration::minutes(70)).await;
    let events = w.events.all();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.reason == "BackupFailed")
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0].cluster, admin());
    assert!(
        failed[0].message.contains("exit status 4"),
        "{}",
        failed[0].message
    );
    assert!(
        failed[0]
            .backup
            .as_deref()
            .unwrap()
            .starts_with("cnpg-admin-")
    );
    let status = w.backend.status().await.unwrap();
    assert_eq!(status.backups[0].health, "failing", "{:?}", status.backups);

    // Three resyncs later: still one event.
    w.run_for(Duration::minutes(25)).await;
    assert_eq!(
        w.events
            .all()
            .iter()
            .filter(|e| e.reason == "BackupFailed")
            .count(),
        1
    );
    let metrics = w.controller.metrics().encode(w.now());
    assert!(
        metrics.contains(
            "cnpg_backup_backup_health{plane=\"admin\",cluster=\"cnpg-admin\",health=\"failing\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("cnpg_backup_last_successful_backup_timestamp_seconds{plane=\"tenant\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_reconcile_error_is_one_event_per_condition_repeated_only_after_half_an_hour() {
    let mut w = Solo::new(None).await;
    w.run_for(Duration::seconds(30)).await;
    w.sim.remove_cluster(&tenant());
    w.run_for(Duration::minutes(25)).await;
    let failed: Vec<_> = w
        .events
        .all()
        .into_iter()
        .filter(|e| e.reason == "ReconcileFailed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].cluster, tenant());
    assert!(
        failed[0].message.contains("not found"),
        "{}",
        failed[0].message
    );
    w.run_for(Duration::minutes(10)).await;
    let failed: Vec<_> = w
        .events
        .all()
        .into_iter()
        .filter(|e| e.reason == "ReconcileFailed")
        .collect();
    assert_eq!(failed.len(), 2, "told again after 30 min: {failed:?}");
    assert_eq!(failed[1].count, 2);
}

/// Ports that stop answering after a number of writes: the process died there (what it wrote
/// before stays; nothing after reaches the world).
struct Dying<T: ?Sized> {
    inner: Arc<T>,
    left: Arc<AtomicI64>,
}

impl<T: ?Sized> Dying<T> {
    fn write(&self) -> Result<(), BackendError> {
        if self.left.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(BackendError::Unavailable {
                detail: "the process died".into(),
            });
        }
        Ok(())
    }
    fn read(&self) -> Result<(), BackendError> {
        if self.left.load(Ordering::SeqCst) <= 0 {
            return Err(BackendError::Unavailable {
                detail: "the process died".into(),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl<T: StateStore + ?Sized> StateStore for Dying<T> {
    async fn get(&self, key: &StateKey) -> Result<Option<Stored>, BackendError> {
        self.read()?;
        self.inner.get(key).await
    }
    async fn put<'a>(
        &self,
        key: &StateKey,
        body: &str,
        expected: Option<&'a Revision>,
    ) -> Result<Revision, BackendError> {
        self.write()?;
        self.inner.put(key, body, expected).await
    }
    async fn list_restores(&self) -> Result<Vec<RestoreId>, BackendError> {
        self.read()?;
        self.inner.list_restores().await
    }
}

#[async_trait::async_trait]
impl<T: ClusterLifecycle + ?Sized> ClusterLifecycle for Dying<T> {
    async fn observe(&self, n: &ClusterName) -> Result<Option<ClusterObservation>, BackendError> {
        self.read()?;
        self.inner.observe(n).await
    }
    async fn manifest(&self, n: &ClusterName) -> Result<ClusterManifest, BackendError> {
        self.read()?;
        self.inner.manifest(n).await
    }
    async fn create(
        &self,
        base: &ClusterManifest,
        spec: &RecoveryClusterSpec,
    ) -> Result<(), BackendError> {
        self.write()?;
        self.inner.create(base, spec).await
    }
    async fn delete(&self, n: &ClusterName) -> Result<(), BackendError> {
        self.write()?;
        self.inner.delete(n).await
    }
}

#[async_trait::async_trait]
impl<T: BackupAutomation + ?Sized> BackupAutomation for Dying<T> {
    async fn apply<'a>(
        &self,
        plan: &AutomationPlan,
        v: Option<&'a AppVersion>,
    ) -> Result<Vec<PlaneReconcileStatus>, BackendError> {
        self.read()?;
        self.inner.apply(plan, v).await
    }
    async fn create_backup(&self, r: &BackupRequest) -> Result<(), BackendError> {
        self.write()?;
        self.inner.create_backup(r).await
    }
}

/// Replica `a` of `shared`, whose process dies after `left` writes (set later).
fn dying_replica(
    name: &'static str,
    shared: &Shared,
    lease: &Arc<InMemoryLeaseStore>,
    left: &Arc<AtomicI64>,
) -> Replica {
    let mut r = Replica::new(name, shared, lease, shared.sim.now());
    let fence: Arc<dyn cnpg_backup_core::ports::Fence> = Arc::new(r.elector.fence());
    let sim = shared.sim.clone();
    let backend = Backend::from_ports(
        Arc::new(Dying {
            inner: Arc::new(sim.clone()),
            left: left.clone(),
        }),
        Arc::new(Dying {
            inner: Arc::new(sim.clone()),
            left: left.clone(),
        }),
        Arc::new(sim.clone()),
        shared.probe.clone(),
        Arc::new(Dying {
            inner: shared.store.clone(),
            left: left.clone(),
        }),
        sim.clock(),
        None,
    )
    .with_fence(fence.clone());
    r.controller =
        cnpg_backup_controller::Controller::new(Arc::new(backend), sim.now()).with_fence(fence);
    r
}

/// Runs a whole drill on two replicas; replica `a` dies after `a_writes` writes of the cutover
/// (`None`: never). Returns how many writes `a` made during the cutover.
async fn cutover_with_a_dying_after(a_writes: Option<i64>) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let settings = cnpg_backup_app::settings::embedded(&dir.path().join("bucket"));
    let shared = Shared::new(&settings);
    let person = shared.backend(Arc::new(SoleReplica));
    person.save_settings(&settings).await.unwrap();
    let lease = Arc::new(InMemoryLeaseStore::new());
    let left = Arc::new(AtomicI64::new(i64::MAX));
    let mut replicas = vec![
        dying_replica("a", &shared, &lease, &left),
        Replica::new("b", &shared, &lease, shared.sim.now()),
    ];
    run_replicas(&shared, &mut replicas, Duration::seconds(30)).await;
    assert!(replicas[0].leading && !replicas[1].leading, "a leads");

    person.run_backup_now().await.unwrap();
    run_replicas(&shared, &mut replicas, Duration::minutes(3)).await;
    let rows = person.catalog_rows(CatalogScope::Both).await.unwrap();
    let name = |p: &str| {
        rows.iter()
            .find(|r| r.plane.as_deref() == Some(p) && r.named_restore_ready)
            .unwrap()
            .name
            .clone()
    };
    let id: RestoreId = "drill".parse().unwrap();
    person
        .restore_create(
            &id,
            &request(&name("admin"), &name("tenant")),
            &StageOneAck::verify(STAGE_ONE_ACK).unwrap(),
            Some("ops".into()),
        )
        .await
        .unwrap();
    run_replicas(&shared, &mut replicas, Duration::minutes(1)).await;
    assert_eq!(
        person.restore_get(&id).await.unwrap().phase().name(),
        PhaseName::ReadyForPromotionChecks
    );

    // The person acknowledges stage two; their command dies right after recording it, so the
    // leader's loop runs the cutover.
    let dying_person = Arc::new(AtomicI64::new(1));
    let person_ports = Backend::from_ports(
        Arc::new(shared.sim.clone()),
        Arc::new(shared.sim.clone()),
        Arc::new(shared.sim.clone()),
        shared.probe.clone(),
        Arc::new(Dying {
            inner: shared.store.clone(),
            left: dying_person,
        }),
        shared.sim.clock(),
        None,
    );
    let applied = person_ports
        .restore_apply(
            &id,
            &StageTwoAck::verify(STAGE_TWO_ACK).unwrap(),
            Some("ops".into()),
        )
        .await;
    assert!(
        applied.is_err(),
        "the command died after recording stage two"
    );
    assert_eq!(
        person.restore_get(&id).await.unwrap().phase().name(),
        PhaseName::Cutover
    );

    left.store(a_writes.unwrap_or(i64::MAX), Ordering::SeqCst);
    let before = i64::MAX;
    for _ in 0..120 {
        run_replicas(&shared, &mut replicas, Duration::seconds(1)).await;
        if left.load(Ordering::SeqCst) <= 0 && replicas[0].alive {
            // a died: it never releases its lease.
            replicas[0].alive = false;
        }
    }
    run_replicas(&shared, &mut replicas, Duration::minutes(2)).await;
    let r = person.restore_get(&id).await.unwrap();
    assert_eq!(
        r.phase().name(),
        PhaseName::Completed,
        "a died after {a_writes:?} writes: {r:?}"
    );
    if a_writes.is_some() {
        assert!(replicas[1].leading, "b took over");
    }
    // Each live cluster was deleted once and recreated once, and exists now, recreated.
    let events = shared.sim.events();
    for live in [admin(), tenant()] {
        let deleted = events
            .iter()
            .filter(|e| matches!(e, SimEvent::ClusterDeleted { name } if *name == live))
            .count();
        let recreated = events
            .iter()
            .filter(|e| matches!(e, SimEvent::ClusterCreated { name, replaces_live: true, .. } if *name == live))
            .count();
        assert_eq!((deleted, recreated), (1, 1), "{live}: {events:?}");
        assert_eq!(shared.sim.restore_label(&live), Some(Some(id.clone())));
    }
    match a_writes {
        None => before.wrapping_sub(left.load(Ordering::SeqCst)),
        Some(k) => k,
    }
}

#[tokio::test]
async fn a_cutover_killed_after_each_step_completes_under_a_new_leader() {
    let total = cutover_with_a_dying_after(None).await;
    assert!(
        total >= 6,
        "a cutover of two planes takes several writes: {total}"
    );
    for k in 0..total {
        cutover_with_a_dying_after(Some(k)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_embedded_loop_runs_in_a_process_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Backend::embedded(dir.path(), None, false).await.unwrap());
    let sim = backend.embedded.as_ref().unwrap().sim.clone();
    let lp = cnpg_backup_controller::sim::EmbeddedLoop::new(
        backend.clone(),
        cnpg_backup_controller::Timing::default(),
    )
    .await
    .unwrap();
    let metrics = lp.metrics();
    let health = lp.health();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(lp.run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert!(health.readiness().ready, "{:?}", health.readiness());
    assert!(has_our_plugin(&sim.manifest_of(&admin()).unwrap().0));
    // Someone drops the configuration while the process runs: repaired without a command.
    sim.edit_cluster(&admin(), |m| {
        m["spec"].as_object_mut().unwrap().remove("plugins");
    });
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(has_our_plugin(&sim.manifest_of(&admin()).unwrap().0));
    stop.send(()).unwrap();
    task.await.unwrap();
    let text = metrics.encode(chrono::Utc::now());
    assert!(
        text.contains("cnpg_backup_reconciles_total{result=\"ok\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn the_restore_listener_hears_of_each_restore_the_loop_moves() {
    // What `serve` uses to wake the API's event streams at once.
    let mut w = Solo::new(None).await;
    let told: Arc<std::sync::Mutex<Vec<RestoreId>>> = Arc::default();
    let heard = told.clone();
    let stand_in = cnpg_backup_controller::Controller::new(w.backend.clone(), w.now());
    let plain = std::mem::replace(&mut w.controller, stand_in);
    w.controller = plain.with_restore_listener(Arc::new(move |id: &RestoreId| {
        heard.lock().unwrap().push(id.clone());
    }));
    w.run_for(Duration::seconds(30)).await;
    let (a, t) = backups_of_both_planes(&mut w).await;
    assert!(told.lock().unwrap().is_empty(), "no restore yet");
    let id: RestoreId = "r-heard".parse().unwrap();
    let ack = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
    w.backend
        .restore_create(&id, &request(&a, &t), &ack, None)
        .await
        .unwrap();
    w.run_for(Duration::minutes(2)).await;
    assert_eq!(
        w.backend.restore_get(&id).await.unwrap().phase().name(),
        PhaseName::ReadyForPromotionChecks
    );
    let steps = w
        .log
        .iter()
        .filter(|(_, work, o)| *work == Work::Restore(id.clone()) && *o != Outcome::Skipped)
        .count();
    let heard = told.lock().unwrap().clone();
    assert!(heard.iter().all(|h| *h == id), "{heard:?}");
    assert!(
        heard.len() >= steps && steps >= 1,
        "{steps} steps, told {} times",
        heard.len()
    );
    // Deleting the record is news too; a quiet world is not.
    let before = told.lock().unwrap().len();
    w.run_for(Duration::minutes(5)).await;
    assert!(told.lock().unwrap().len() <= before + 1);
    w.controller.handle(
        cnpg_backup_controller::Trigger::Restore(id.clone(), None),
        w.now(),
    );
    assert_eq!(told.lock().unwrap().last(), Some(&id));
    assert!(told.lock().unwrap().len() > before);
}
