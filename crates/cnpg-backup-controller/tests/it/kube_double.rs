//! The loop's kube plumbing ([`KubeLoop`]: metadata-only watches, its own Lease elector, the
//! fenced client, Events) on the API double, in one process with tokio's time paused: the
//! acceptance of issue 10 on the Kubernetes side. Every replica runs under the Role `serve`
//! needs (`cnpg_backup_kube::rbac::serve_rules`) and nothing more; the person who saves
//! settings, starts and acknowledges restores is an admin; the double's operator stand-in
//! brings clusters up 20 s after they appear.
//!
//! Simulated time: the double, the loop and the operator wait on tokio's clock, which moves
//! only when every task waits, so ten minutes take milliseconds and timings are exact.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use cnpg_backup_apidouble::operator::{Operator, healthy_status, live_cluster};
use cnpg_backup_apidouble::rbac::{Role, Rule};
use cnpg_backup_apidouble::{ApiDouble, DoubleBody, NAMESPACE, Recorded};
use cnpg_backup_app::Backend;
use cnpg_backup_controller::kube::KubeLoop;
use cnpg_backup_controller::kube::lease::LEASE_NAME;
use cnpg_backup_controller::{LeaseConfig, Metrics, Timing};
use cnpg_backup_core::automation::BackupSettings;
use cnpg_backup_core::barman::BucketBackup;
use cnpg_backup_core::catalog::{BarmanBackupId, StoragePresence};
use cnpg_backup_core::names::{RestoreId, ServerName};
use cnpg_backup_core::ports::{BackendError, BucketProbe, PreflightOptions};
use cnpg_backup_core::restore::{
    PhaseName, RestoreRequest, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};
use cnpg_backup_core::status::PreflightReport;
use cnpg_backup_core::target::ObjectStoreTarget;
use cnpg_backup_kube::{
    ConfigMapStateStore, KubeBackupAutomation, KubeBackupCatalog, KubeClusterLifecycle, KubeScope,
    SystemClock,
};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

const ADMIN: &str = "cnpg-admin";
const TENANT: &str = "cnpg-tenant";
const PERSON: &str = "kubernetes-admin";
/// How long the operator stand-in takes to bring a cluster up.
const BRING_UP: Duration = Duration::from_secs(20);

fn settings() -> BackupSettings {
    serde_json::from_value(json!({
        "target": {
            "provider": "s3_compatible",
            "endpoint": "http://127.0.0.1:9",
            "bucket": "backups",
            "region": "us-east-1",
            "prefix": "loop",
            "credentials": {
                "kind": "s3_access_key",
                "access_key_id": {"name": "backup-s3", "key": "ACCESS_KEY_ID"},
                "secret_access_key": {"name": "backup-s3", "key": "ACCESS_SECRET_KEY"}
            }
        },
        "automation": {
            "enabled": true,
            "schedule": {"preset": "daily", "hour": 2, "minute": 30},
            "retention": "30d",
            "scope": "both",
            "method": "barman_object_store"
        },
        "appVersion": {"kind": "fixed", "version": "1.4.2"}
    }))
    .unwrap()
}

/// The bucket as the person's `restore create` sees it: every backup CNPG reported complete
/// has its `backup.info` (the bucket itself is the S3 tests' business, not the loop's).
struct EveryBackupPresent;

#[async_trait::async_trait]
impl BucketProbe for EveryBackupPresent {
    async fn preflight(
        &self,
        _: &ObjectStoreTarget,
        _: &PreflightOptions,
        _: chrono::DateTime<chrono::Utc>,
    ) -> PreflightReport {
        PreflightReport::not_run()
    }
    async fn presence(
        &self,
        _: &ObjectStoreTarget,
        _: &ServerName,
        ids: &[BarmanBackupId],
    ) -> Result<BTreeMap<BarmanBackupId, StoragePresence>, BackendError> {
        Ok(ids
            .iter()
            .map(|i| (i.clone(), StoragePresence::Present))
            .collect())
    }
    async fn bucket_catalog<'a>(
        &self,
        _: &ObjectStoreTarget,
        _: Option<&'a [ServerName]>,
    ) -> Result<Vec<BucketBackup>, BackendError> {
        Ok(Vec::new())
    }
    async fn write_provenance(
        &self,
        _: &ObjectStoreTarget,
        records: &[cnpg_backup_core::provenance::BackupProvenance],
    ) -> Result<Vec<cnpg_backup_core::provenance::ProvenanceWrite>, BackendError> {
        Ok(records
            .iter()
            .map(|_| cnpg_backup_core::provenance::ProvenanceWrite::Written)
            .collect())
    }
}

/// A process's connection to the double that dies after `left` writes other than the Lease's:
/// from then on nothing it sends reaches the server (a killed process; it never releases its
/// lease). A write either reaches the server whole or not at all.
#[derive(Clone)]
struct Dying {
    d: ApiDouble,
    left: Arc<AtomicI64>,
    token: Option<http::HeaderValue>,
}

impl Dying {
    fn client(d: &ApiDouble, left: &Arc<AtomicI64>, user: Option<&str>) -> kube::Client {
        let token = user.map(|u| {
            let t = format!("dying-token-for-{u}");
            d.add_token(&t, u);
            http::HeaderValue::from_str(&format!("Bearer {t}")).unwrap()
        });
        let svc = Dying {
            d: d.clone(),
            left: left.clone(),
            token,
        };
        kube::Client::new(svc, NAMESPACE)
    }
}

impl tower::Service<http::Request<kube::client::Body>> for Dying {
    type Response = http::Response<DoubleBody>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<kube::client::Body>) -> Self::Future {
        let write = req.method() != http::Method::GET;
        let lease = req.uri().path().contains("/leases");
        let alive = if write && !lease {
            self.left.fetch_sub(1, Ordering::SeqCst) > 0
        } else {
            self.left.load(Ordering::SeqCst) > 0
        };
        if let Some(t) = &self.token {
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, t.clone());
        }
        let mut d = self.d.clone();
        Box::pin(async move {
            if !alive {
                return Err("the process died".into());
            }
            let Ok(resp) = tower::Service::call(&mut d, req).await;
            Ok::<_, Self::Error>(resp)
        })
    }
}

/// The person's commands (an admin): the CLI's kube ports with [`EveryBackupPresent`].
fn person(client: kube::Client) -> Backend {
    let scope = KubeScope::new(client, NAMESPACE);
    Backend::from_ports(
        Arc::new(KubeClusterLifecycle::new(scope.clone())),
        Arc::new(KubeBackupAutomation::new(scope.clone())),
        Arc::new(KubeBackupCatalog::new(scope.clone())),
        Arc::new(EveryBackupPresent),
        Arc::new(ConfigMapStateStore::new(scope)),
        Arc::new(SystemClock),
        None,
    )
}

/// The Role `serve` runs under, in the double's terms.
fn serve_role() -> Role {
    Role::new(
        "cnpg-backup",
        cnpg_backup_kube::rbac::serve_rules()
            .iter()
            .map(|r| Rule::new(&[r.api_group], &[r.resource], &r.verbs))
            .collect(),
    )
}

/// The platform's namespace: two healthy live clusters, settings saved by a person, the loop's
/// Role bound to its identity, CNPG's stand-in running.
struct World {
    d: ApiDouble,
    person: Backend,
    _operator: Operator,
}

impl World {
    async fn new() -> World {
        let d = ApiDouble::new();
        for c in [ADMIN, TENANT] {
            d.insert(live_cluster(c));
            d.set_status("clusters", c, healthy_status(1));
        }
        d.bind_role(serve_role());
        d.bind_role_to(
            PERSON,
            Role::new("admin", vec![Rule::new(&["*"], &["*"], &["*"])]),
        );
        let person = person(d.client_as(PERSON));
        person.save_settings(&settings()).await.unwrap();
        let operator = Operator::spawn(&d, BRING_UP);
        World {
            d,
            person,
            _operator: operator,
        }
    }

    fn cluster(&self, name: &str) -> Value {
        self.d.object("clusters", name).unwrap()
    }

    fn configured(&self, name: &str) -> bool {
        self.d
            .object("clusters", name)
            .is_some_and(|c| c["spec"]["backup"]["barmanObjectStore"].is_object())
    }

    fn holder(&self) -> Option<String> {
        self.d
            .object("leases", LEASE_NAME)
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
    }

    /// The requests since `from` (an index into the log).
    fn since(&self, from: usize) -> Vec<Recorded> {
        self.d.requests().split_off(from)
    }

    /// CNPG completes a backup of each plane (`backup now` by the person), as the flow test does.
    async fn backups_of_both_planes(&self) -> (String, String) {
        let made = self.person.run_backup_now().await.unwrap();
        for (i, b) in made.0.iter().enumerate() {
            let server =
                self.cluster(&b.cluster)["spec"]["backup"]["barmanObjectStore"]["serverName"]
                    .as_str()
                    .map_or(b.cluster.clone(), str::to_owned);
            let at = format!("2026-11-26T03:00:0{i}Z");
            self.d.set_status(
                "backups",
                &b.name,
                json!({"phase": "completed", "backupId": format!("20261126T03000{i}"),
                    "startedAt": at, "stoppedAt": at, "method": "barmanObjectStore",
                    "online": true, "serverName": server}),
            );
        }
        let of = |p: &str| made.0.iter().find(|b| b.plane == p).unwrap().name.clone();
        (of("admin"), of("tenant"))
    }
}

/// One replica of `cnpg-backup serve`'s loop, running.
struct Replica {
    task: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    metrics: Metrics,
}

fn lease(identity: &str) -> LeaseConfig {
    LeaseConfig::with_timing(
        identity,
        Duration::from_secs(15),
        Duration::from_secs(10),
        Duration::from_secs(2),
    )
    .unwrap()
}

fn start(client: kube::Client, identity: &str) -> Replica {
    let lp = KubeLoop::new(
        client,
        NAMESPACE,
        LEASE_NAME,
        lease(identity),
        Timing::default(),
    );
    let metrics = lp.metrics();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(lp.run(async move {
        let _ = stopped.await;
    }));
    Replica {
        task,
        stop: Some(stop),
        metrics,
    }
}

impl Replica {
    /// Graceful shutdown: the work in progress ends, the lease is released.
    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.unwrap();
    }
}

/// Waits (simulated time) until `cond` holds, looking every 100 ms; how long it took.
async fn until(what: &str, limit: Duration, cond: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

/// Waits (simulated time) until the restore `id` is in `phase`, looking every 100 ms (the
/// person's `restore status` without the refresh: a read of the record).
async fn until_phase(w: &World, id: &RestoreId, phase: PhaseName, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let r = w.person.restore_get(id).await;
        if r.as_ref().is_ok_and(|r| r.phase().name() == phase) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not {phase:?} within {limit:?}: {:?}",
            r.map(|r| r.phase().name())
        );
        sleep(Duration::from_millis(100)).await;
    }
}

fn shorts(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter().map(Recorded::short).collect()
}

fn writes(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.is_write())
        .map(Recorded::short)
        .collect()
}

fn refused(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.status == 403)
        .map(|r| format!("{} {:?}", r.short(), r.verbs()))
        .collect()
}

/// Started and converged: the lease taken, both planes configured, the watches synced.
async fn converged(w: &World, identity: &str) -> Replica {
    let r = start(w.d.client(), identity);
    until("the first reconcile", Duration::from_secs(60), || {
        w.configured(ADMIN) && w.configured(TENANT)
    })
    .await;
    sleep(Duration::from_secs(30)).await;
    assert_eq!(w.holder().as_deref(), Some(identity));
    r
}

#[tokio::test(start_paused = true)]
async fn drift_on_a_cluster_is_repaired_after_one_watch_event_with_no_resync() {
    let w = World::new().await;
    let a = converged(&w, "a").await;
    let from = w.d.requests().len();

    // Someone drops the backup configuration of the admin cluster.
    w.d.edit("clusters", ADMIN, |c| {
        c["spec"]["backup"]
            .as_object_mut()
            .unwrap()
            .remove("barmanObjectStore");
    });
    let took = until("the repair", Duration::from_secs(120), || {
        w.configured(ADMIN)
    })
    .await;
    sleep(Duration::from_secs(5)).await;
    let after = w.since(from);
    assert!(
        took <= Duration::from_secs(2),
        "one watch event and one debounce, not a resync: {took:?}"
    );
    let not_watch_or_lease: Vec<String> = after
        .iter()
        .filter(|r| r.verb() != "watch" && r.resource() != "leases")
        .map(Recorded::short)
        .collect();
    assert!(
        !not_watch_or_lease.contains(&"list clusters".to_owned()),
        "no watch listed again, no resync: {not_watch_or_lease:?}"
    );
    let text = a.metrics.encode(chrono::Utc::now());
    assert!(
        !text.contains("cnpg_backup_watch_restarts_total{"),
        "{text}"
    );
    // The repair, then the reconcile its own write triggered, which finds nothing to do.
    let reconciles = not_watch_or_lease
        .iter()
        .filter(|s| *s == "get configmaps/cnpg-backup-reconcile-status")
        .count();
    assert_eq!(reconciles, 2, "{not_watch_or_lease:?}");
    let ours: Vec<String> = writes(&after)
        .into_iter()
        .filter(|s| !s.contains("leases/"))
        .collect();
    assert_eq!(
        ours.iter()
            .filter(|s| s.starts_with("patch clusters/"))
            .collect::<Vec<_>>(),
        ["patch clusters/cnpg-admin"],
        "only the drifted cluster is written: {ours:?}"
    );
    assert!(
        ours.iter().all(|s| s.starts_with("patch clusters/")
            || s == "update configmaps/cnpg-backup-reconcile-status"),
        "{ours:?}"
    );
    assert!(
        refused(&w.d.requests()).is_empty(),
        "{:?}",
        refused(&w.d.requests())
    );
}

#[tokio::test(start_paused = true)]
async fn idle_for_ten_minutes_sends_no_write_and_nothing_but_watches_and_the_resync() {
    let w = World::new().await;
    let started = Instant::now();
    let _a = converged(&w, "a").await;
    let from = w.d.requests().len();
    let idle_from = Instant::now();

    // Up to the resync, ten minutes after the loop started: watches and lease renewals only.
    let resync = started + Duration::from_secs(600);
    tokio::time::sleep_until(resync - Duration::from_secs(1)).await;
    let idle = w.since(from);
    let lease: Vec<&Recorded> = idle.iter().filter(|r| r.resource() == "leases").collect();
    let others: Vec<String> = idle
        .iter()
        .filter(|r| r.resource() != "leases" && r.verb() != "watch")
        .map(Recorded::short)
        .collect();
    assert_eq!(others, Vec::<String>::new(), "idle: watches only");
    assert!(
        lease
            .iter()
            .all(|r| r.short() == format!("update leases/{LEASE_NAME}")),
        "the leader renews its lease, nothing else: {:?}",
        shorts(&idle)
    );
    // Metadata only where the generation is enough; full objects only for our state
    // documents and the Backups (mapped to records at once).
    let watched: BTreeMap<String, bool> = idle
        .iter()
        .filter(|r| r.verb() == "watch")
        .map(|r| (r.resource(), r.metadata_only()))
        .collect();
    assert_eq!(
        watched,
        BTreeMap::from([
            ("backups".to_owned(), false),
            ("clusters".to_owned(), true),
            ("configmaps".to_owned(), false),
            ("objectstores".to_owned(), true),
            ("scheduledbackups".to_owned(), true),
        ]),
        "each watch resumed (timeoutSeconds ran out) without listing again"
    );
    let idle_secs = (resync - Duration::from_secs(1) - idle_from).as_secs();
    eprintln!(
        "idle {idle_secs} s: {} requests: {} watches, {} lease renewals",
        idle.len(),
        idle.len() - lease.len(),
        lease.len()
    );

    // The resync reads, and writes nothing.
    let from = w.d.requests().len();
    sleep(Duration::from_secs(60)).await;
    let resynced = w.since(from);
    assert!(
        resynced
            .iter()
            .any(|r| r.verb() == "get" && r.resource() == "clusters"),
        "the resync ran: {:?}",
        shorts(&resynced)
    );
    let written: Vec<String> = writes(&resynced)
        .into_iter()
        .filter(|s| !s.contains("leases/"))
        .collect();
    assert_eq!(
        written,
        Vec::<String>::new(),
        "a converged resync writes nothing"
    );
    assert!(refused(&w.d.requests()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_watch_answered_410_lists_again_and_the_loop_still_converges() {
    let w = World::new().await;
    let a = converged(&w, "a").await;
    let lists = w.d.count("list", "clusters");
    let from = w.d.requests().len();

    // The API server's watch cache is re-initialised, and the drift happens meanwhile.
    w.d.expire_watches("clusters");
    w.d.edit("clusters", ADMIN, |c| {
        c["spec"]["backup"]
            .as_object_mut()
            .unwrap()
            .remove("barmanObjectStore");
    });
    until(
        "the repair after the re-list",
        Duration::from_secs(60),
        || w.configured(ADMIN),
    )
    .await;
    let after = w.since(from);
    let resumed = after
        .iter()
        .find(|r| r.verb() == "watch" && r.resource() == "clusters")
        .expect("the watch was resumed");
    assert!(
        resumed.query.contains_key("resourceVersion"),
        "{:?}",
        resumed.query
    );
    assert!(
        w.d.count("list", "clusters") > lists,
        "the 410 made the watcher list again: {:?}",
        shorts(&after)
    );
    let text = a.metrics.encode(chrono::Utc::now());
    assert!(
        text.contains("cnpg_backup_watch_restarts_total{watch=\"clusters\"} 1"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_hands_the_lease_over_at_once() {
    let w = World::new().await;
    let a = converged(&w, "a").await;
    let b = start(w.d.client(), "b");
    sleep(Duration::from_secs(20)).await;
    assert_eq!(w.holder().as_deref(), Some("a"), "b follows");
    let transitions =
        |w: &World| w.d.object("leases", LEASE_NAME).unwrap()["spec"]["leaseTransitions"].as_i64();
    let before = transitions(&w);

    let from = w.d.requests().len();
    a.shutdown().await;
    assert_eq!(w.holder(), None, "released on the way out");
    let took = until("b takes the lease", Duration::from_secs(15), || {
        w.holder().as_deref() == Some("b")
    })
    .await;
    assert!(
        took < Duration::from_secs(3),
        "within b's next round (every 2 s), not after the lease ran out (15 s): {took:?}"
    );
    assert_eq!(transitions(&w), before.map(|t| t + 1));
    let lease_writes: Vec<String> = w
        .since(from)
        .iter()
        .filter(|r| r.resource() == "leases" && r.is_write())
        .map(|r| {
            format!(
                "{} {}",
                r.short(),
                r.body.as_ref().unwrap()["spec"]["holderIdentity"]
                    .as_str()
                    .unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        lease_writes[..2],
        [
            format!("update leases/{LEASE_NAME} -"),
            format!("update leases/{LEASE_NAME} b")
        ],
        "{lease_writes:?}"
    );
    // b now acts: a drift is repaired by it.
    w.d.edit("clusters", TENANT, |c| {
        c["spec"]["backup"]
            .as_object_mut()
            .unwrap()
            .remove("barmanObjectStore");
    });
    until("b repairs", Duration::from_secs(10), || {
        w.configured(TENANT)
    })
    .await;
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restore_reaches_ready_for_promotion_checks_with_no_command() {
    let w = World::new().await;
    let _a = converged(&w, "a").await;
    let (admin, tenant) = w.backups_of_both_planes().await;
    let id: RestoreId = "drill".parse().unwrap();
    let created = w
        .person
        .restore_create(
            &id,
            &RestoreRequest::full_from_backups(
                "drill".parse().unwrap(),
                admin.parse().unwrap(),
                tenant.parse().unwrap(),
            ),
            &StageOneAck::verify(STAGE_ONE_ACK).unwrap(),
            Some("ops".into()),
        )
        .await
        .unwrap();
    assert!(created.advances_unattended(), "{:?}", created.phase());
    let from = w.d.requests().len();

    // No command from here on: the loop creates the recovery clusters, CNPG's stand-in brings
    // them up, the loop sees it.
    let took = until_phase(
        &w,
        &id,
        PhaseName::ReadyForPromotionChecks,
        Duration::from_secs(300),
    )
    .await;
    let after = w.since(from);
    assert!(
        after
            .iter()
            .filter(|r| r.user.as_deref() == Some(PERSON))
            .all(|r| r.verb() == "get"),
        "the person only looked"
    );
    for c in ["drill-admin", "drill-tenant"] {
        assert!(
            w.d.object("clusters", c).is_some(),
            "{c} created by the loop"
        );
    }
    eprintln!(
        "ready for promotion checks {took:?} after the restore was created ({BRING_UP:?} bring-up)"
    );
    // It then waits for a person: no acknowledgement given, nothing deleted.
    sleep(Duration::from_secs(300)).await;
    let r = w.person.restore_get(&id).await.unwrap();
    assert_eq!(r.phase().name(), PhaseName::ReadyForPromotionChecks);
    assert!(
        !writes(&w.d.requests())
            .iter()
            .any(|s| s.starts_with("delete clusters/cnpg-")),
        "live clusters untouched"
    );
}

/// Names of the Clusters created (201) by `reqs`, by create or apply.
fn created_clusters(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.resource() == "clusters" && r.status == 201)
        .map(|r| match r.name() {
            "" => r.body.as_ref().unwrap()["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_owned(),
            n => n.to_owned(),
        })
        .collect()
}

/// A drill on two replicas of the loop over the double; replica `a` (the leader) is killed
/// after `a_writes` writes of the cutover (`None`: never). Returns how many writes `a` made
/// until the cutover completed.
async fn cutover_with_the_leader_killed_after(a_writes: Option<i64>) -> i64 {
    let w = World::new().await;
    let left = Arc::new(AtomicI64::new(i64::MAX));
    let a = start(Dying::client(&w.d, &left, None), "a");
    until("a leads", Duration::from_secs(30), || {
        w.holder().as_deref() == Some("a")
    })
    .await;
    let b = start(w.d.client(), "b");
    until("configured", Duration::from_secs(60), || {
        w.configured(ADMIN) && w.configured(TENANT)
    })
    .await;
    let (admin, tenant) = w.backups_of_both_planes().await;
    let id: RestoreId = "drill".parse().unwrap();
    w.person
        .restore_create(
            &id,
            &RestoreRequest::full_from_backups(
                "drill".parse().unwrap(),
                admin.parse().unwrap(),
                tenant.parse().unwrap(),
            ),
            &StageOneAck::verify(STAGE_ONE_ACK).unwrap(),
            Some("ops".into()),
        )
        .await
        .unwrap();
    until_phase(
        &w,
        &id,
        PhaseName::ReadyForPromotionChecks,
        Duration::from_secs(300),
    )
    .await;
    let from = w.d.requests().len();

    // The person acknowledges stage two; their command dies right after recording it, so the
    // leader's loop runs the cutover. From here a may make `a_writes` more writes.
    left.store(a_writes.unwrap_or(i64::MAX), Ordering::SeqCst);
    let dying_person = person(Dying::client(
        &w.d,
        &Arc::new(AtomicI64::new(1)),
        Some(PERSON),
    ));
    let applied = dying_person
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

    // a is killed (not stopped: it never releases the lease) once its writes are spent.
    let started = Instant::now();
    loop {
        if left.load(Ordering::SeqCst) <= 0 {
            a.task.abort();
        }
        let r = w.person.restore_get(&id).await.unwrap();
        if r.phase().name() == PhaseName::Completed {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "a killed after {a_writes:?} writes: {r:?}"
        );
        sleep(Duration::from_millis(100)).await;
    }
    let done = started.elapsed();
    let used = i64::MAX.wrapping_sub(left.load(Ordering::SeqCst));
    let cutover = w.since(from);
    if a_writes.is_some() {
        // Dead (it never released the lease): b holds it once the lease ran out.
        a.task.abort();
        sleep(Duration::from_secs(20)).await;
        assert_eq!(w.holder().as_deref(), Some("b"), "b took over");
    }
    // Each live cluster was deleted once and recreated once, and exists now.
    for live in [ADMIN, TENANT] {
        let deleted = cutover
            .iter()
            .filter(|r| r.short() == format!("delete clusters/{live}") && r.status == 200)
            .count();
        let recreated = created_clusters(&cutover)
            .iter()
            .filter(|n| *n == live)
            .count();
        assert_eq!(
            (deleted, recreated),
            (1, 1),
            "{live} (a killed after {a_writes:?} writes): {:?}",
            writes(&cutover)
        );
        assert!(w.d.object("clusters", live).is_some());
    }
    eprintln!("a killed after {a_writes:?} writes: completed {done:?} after stage two");
    if a_writes.is_none() {
        eprintln!("the cutover's writes: {:#?}", writes(&cutover));
    }
    b.shutdown().await;
    a.task.abort();
    match a_writes {
        None => used,
        Some(k) => k,
    }
}

#[tokio::test(start_paused = true)]
async fn a_cutover_killed_after_each_step_completes_under_a_new_leader() {
    let total = cutover_with_the_leader_killed_after(None).await;
    assert!(
        total >= 6,
        "a cutover of two planes takes several writes: {total}"
    );
    for k in 0..total {
        cutover_with_the_leader_killed_after(Some(k)).await;
    }
}

#[tokio::test]
async fn events_are_created_once_on_the_cluster_then_their_series_is_patched() {
    use cnpg_backup_controller::kube::events::{KubeEvents, event_name};
    use cnpg_backup_controller::{ClusterEvent, EventSink, EventType};
    let d = ApiDouble::new();
    d.bind_role(serve_role());
    let sink = KubeEvents::new(d.client(), NAMESPACE, "cnpg-backup-7d9f-abcde");
    let at = chrono::Utc::now();
    let mut e = ClusterEvent::new(
        ADMIN.parse().unwrap(),
        EventType::Warning,
        "BackupFailed",
        "Backup",
        "backup `b1` of the admin plane failed: exit status 4",
        "backup/b1",
        at,
    )
    .about_backup("b1");
    sink.publish(&e).await.unwrap();
    // The same condition again (this replica later, or another one): one Event, its series.
    e.count = 3;
    sink.publish(&e).await.unwrap();
    let reqs = d.requests();
    assert_eq!(
        reqs.iter()
            .map(|r| format!("{} {}", r.short(), r.status))
            .collect::<Vec<_>>(),
        [
            "create events 201".to_owned(),
            "create events 409".to_owned(),
            format!("patch events/{} 200", event_name(&e)),
        ],
        "under the Role serve runs with"
    );
    assert_eq!(d.names("events"), [event_name(&e)]);
    let stored = d.object("events", &event_name(&e)).unwrap();
    assert_eq!(stored["regarding"]["name"], ADMIN);
    assert_eq!(stored["series"]["count"], 3);
    assert_eq!(stored["reportingController"], "cnpg-backup.io/serve");
}
