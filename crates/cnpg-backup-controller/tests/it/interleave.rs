//! Two replicas never act on one restore step at the same time: a property test over random
//! interleavings of two replicas driving one cutover, with random lease renewals and expiries
//! (time steps), crashes, restarts and network partitions.
//!
//! Each replica is the real code: an [`Elector`] over a shared lease store, and the app's
//! `Backend::restore_refresh` over a shared simulator and state store, its writes behind the
//! elector's fence (`Backend::with_fence`). Every port call (lease, state store, clusters)
//! stops at a gate; the test decides which replica goes on, when time moves and what fails.
//! A write that passed its fence check may wait at the gate (its network latency) for at most
//! [`MAX_LATENCY`], below the margin `lease_duration - renew_deadline` (the model's one
//! assumption, as for any lease-based fencing: see the crate docs).
//!
//! Checked at every step and at the end:
//! - at most one replica's fence holds at any time;
//! - only the lease holder writes: each write is checked and lands within its writer's lease
//!   term, as the lease store saw the hand-overs (removing the port fence, or letting a fence
//!   outlive the renew deadline, makes this fail: both were tried);
//! - the [check, effect] intervals of writes of different replicas never overlap, so no two
//!   replicas act on one step at once (the state store's compare-and-swap is checked too: no
//!   two successful writes from the same revision);
//! - once the harness lets both run fairly, the cutover completes: each live cluster deleted
//!   once and recreated once.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use cnpg_backup_app::Backend;
use cnpg_backup_controller::lease::{
    Elector, InMemoryLeaseStore, LeaseFence, LeaseRecord, LeaseStore,
};
use cnpg_backup_core::memory::SimEvent;
use cnpg_backup_core::names::{ClusterName, RestoreId};
use cnpg_backup_core::ports::{
    BackendError, BackupAutomation, BackupCatalogSource, Clock, ClusterLifecycle, ClusterManifest,
    ClusterObservation, Fence, Revision, SoleReplica, StateKey, StateStore, Stored,
};
use cnpg_backup_core::restore::{
    PhaseName, RecoveryClusterSpec, RestoreRequest, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck,
    StageTwoAck,
};
use cnpg_backup_core::service::CatalogScope;

use crate::support::{Shared, SimMono, admin, lease_config, tenant};

/// The longest a write may take from its fence check to its effect (under the 5 s margin of a
/// 15 s lease with a 10 s renew deadline).
const MAX_LATENCY: Duration = Duration::seconds(4);

#[derive(Debug, Default)]
struct Slot {
    parked: bool,
    granted: bool,
    /// When the parked call is a write: when it passed its fence check.
    write_since: Option<DateTime<Utc>>,
    partitioned: bool,
}

/// One write that reached the world.
#[derive(Debug, Clone)]
struct Effect {
    replica: usize,
    checked: DateTime<Utc>,
    landed: DateTime<Utc>,
    what: String,
}

/// When the lease changed hands, as the lease store saw it: `(when, new holder)`.
type Terms = Arc<Mutex<Vec<(DateTime<Utc>, Option<usize>)>>>;

#[derive(Clone)]
struct Gate {
    replica: usize,
    slot: Arc<Mutex<Slot>>,
    clock: Arc<dyn Clock>,
    effects: Arc<Mutex<Vec<Effect>>>,
    terms: Terms,
}

struct Park {
    slot: Arc<Mutex<Slot>>,
}

impl Future for Park {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let mut s = self.slot.lock().unwrap();
        if s.granted {
            s.granted = false;
            s.parked = false;
            Poll::Ready(())
        } else {
            s.parked = true;
            Poll::Pending
        }
    }
}

impl Gate {
    async fn read(&self) -> Result<(), BackendError> {
        Park {
            slot: self.slot.clone(),
        }
        .await;
        self.reachable()
    }

    async fn write(&self) -> Result<DateTime<Utc>, BackendError> {
        let checked = self.clock.now();
        self.slot.lock().unwrap().write_since = Some(checked);
        Park {
            slot: self.slot.clone(),
        }
        .await;
        self.slot.lock().unwrap().write_since = None;
        self.reachable()?;
        Ok(checked)
    }

    fn reachable(&self) -> Result<(), BackendError> {
        if self.slot.lock().unwrap().partitioned {
            return Err(BackendError::Unavailable {
                detail: "partitioned".into(),
            });
        }
        Ok(())
    }

    fn landed(&self, checked: DateTime<Utc>, what: String) {
        self.effects.lock().unwrap().push(Effect {
            replica: self.replica,
            checked,
            landed: self.clock.now(),
            what,
        });
    }
}

struct Gated<T: ?Sized> {
    gate: Gate,
    inner: Arc<T>,
}

#[async_trait::async_trait]
impl<T: StateStore + ?Sized> StateStore for Gated<T> {
    async fn get(&self, key: &StateKey) -> Result<Option<Stored>, BackendError> {
        self.gate.read().await?;
        self.inner.get(key).await
    }
    async fn put<'a>(
        &self,
        key: &StateKey,
        body: &str,
        expected: Option<&'a Revision>,
    ) -> Result<Revision, BackendError> {
        let checked = self.gate.write().await?;
        let r = self.inner.put(key, body, expected).await;
        if r.is_ok() {
            self.gate.landed(
                checked,
                format!("put {key} from {:?}", expected.map(|r| r.0.clone())),
            );
        }
        r
    }
    async fn list_restores(&self) -> Result<Vec<RestoreId>, BackendError> {
        self.gate.read().await?;
        self.inner.list_restores().await
    }
}

#[async_trait::async_trait]
impl<T: ClusterLifecycle + ?Sized> ClusterLifecycle for Gated<T> {
    async fn observe(&self, n: &ClusterName) -> Result<Option<ClusterObservation>, BackendError> {
        self.gate.read().await?;
        self.inner.observe(n).await
    }
    async fn manifest(&self, n: &ClusterName) -> Result<ClusterManifest, BackendError> {
        self.gate.read().await?;
        self.inner.manifest(n).await
    }
    async fn create(
        &self,
        base: &ClusterManifest,
        spec: &RecoveryClusterSpec,
    ) -> Result<(), BackendError> {
        let checked = self.gate.write().await?;
        self.inner.create(base, spec).await?;
        self.gate.landed(checked, format!("create {}", spec.name));
        Ok(())
    }
    async fn delete(&self, n: &ClusterName) -> Result<(), BackendError> {
        let checked = self.gate.write().await?;
        self.inner.delete(n).await?;
        self.gate.landed(checked, format!("delete {n}"));
        Ok(())
    }
}

impl Gated<InMemoryLeaseStore> {
    fn term(&self, before: Option<String>, after: &LeaseRecord) {
        if before != after.holder {
            let holder = after.holder.as_deref().map(|h| usize::from(h == "b"));
            self.gate
                .terms
                .lock()
                .unwrap()
                .push((self.gate.clock.now(), holder));
        }
    }
}

#[async_trait::async_trait]
impl LeaseStore for Gated<InMemoryLeaseStore> {
    async fn get(&self) -> Result<Option<LeaseRecord>, BackendError> {
        self.gate.read().await?;
        self.inner.get().await
    }
    async fn create(&self, r: &LeaseRecord) -> Result<LeaseRecord, BackendError> {
        self.gate.read().await?;
        let written = self.inner.create(r).await?;
        self.term(None, &written);
        Ok(written)
    }
    async fn replace(&self, r: &LeaseRecord) -> Result<LeaseRecord, BackendError> {
        self.gate.read().await?;
        let before = self.inner.peek().and_then(|l| l.holder);
        let written = self.inner.replace(r).await?;
        self.term(before, &written);
        Ok(written)
    }
}

type Process = Pin<Box<dyn Future<Output = ()>>>;

struct Replica {
    gate: Gate,
    fence: LeaseFence,
    process: Option<Process>,
}

/// The world after stage two was acknowledged: the cutover is recorded, nothing done yet.
struct World {
    shared: Shared,
    lease: Arc<InMemoryLeaseStore>,
    id: RestoreId,
    origin: DateTime<Utc>,
    effects: Arc<Mutex<Vec<Effect>>>,
    terms: Terms,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let settings = cnpg_backup_app::settings::embedded(&dir.path().join("bucket"));
    let shared = Shared::new(&settings);
    let person = shared.backend(Arc::new(SoleReplica));
    person.save_settings(&settings).await.unwrap();
    person.run_reconcile().await.unwrap();
    person.run_backup_now().await.unwrap();
    shared.sim.advance(Duration::minutes(3)).await.unwrap();
    let rows = person.catalog_rows(CatalogScope::Both).await.unwrap();
    let name = |p: &str| {
        rows.iter()
            .find(|r| r.plane.as_deref() == Some(p) && r.named_restore_ready)
            .unwrap()
            .name
            .clone()
    };
    let id: RestoreId = "drill".parse().unwrap();
    let request = RestoreRequest::full_from_backups(
        "drill".parse().unwrap(),
        name("admin").parse().unwrap(),
        name("tenant").parse().unwrap(),
    );
    person
        .restore_create(
            &id,
            &request,
            &StageOneAck::verify(STAGE_ONE_ACK).unwrap(),
            None,
        )
        .await
        .unwrap();
    for _ in 0..4 {
        person.restore_refresh(&id).await.unwrap();
    }
    assert_eq!(
        person.restore_get(&id).await.unwrap().phase().name(),
        PhaseName::ReadyForPromotionChecks
    );
    // Stage two is recorded by a command that dies right after: the replicas do the cutover.
    let recorded = Arc::new(std::sync::atomic::AtomicBool::new(false));
    struct Once {
        inner: Arc<dyn StateStore>,
        done: Arc<std::sync::atomic::AtomicBool>,
    }
    #[async_trait::async_trait]
    impl StateStore for Once {
        async fn get(&self, k: &StateKey) -> Result<Option<Stored>, BackendError> {
            self.inner.get(k).await
        }
        async fn put<'a>(
            &self,
            k: &StateKey,
            b: &str,
            e: Option<&'a Revision>,
        ) -> Result<Revision, BackendError> {
            if self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(BackendError::Unavailable {
                    detail: "died".into(),
                });
            }
            self.inner.put(k, b, e).await
        }
        async fn list_restores(&self) -> Result<Vec<RestoreId>, BackendError> {
            self.inner.list_restores().await
        }
    }
    let dying = Backend::from_ports(
        Arc::new(shared.sim.clone()),
        Arc::new(shared.sim.clone()),
        Arc::new(shared.sim.clone()),
        shared.probe.clone(),
        Arc::new(Once {
            inner: shared.store.clone(),
            done: recorded,
        }),
        shared.sim.clock(),
        None,
    );
    let _ = dying
        .restore_apply(&id, &StageTwoAck::verify(STAGE_TWO_ACK).unwrap(), None)
        .await;
    assert_eq!(
        person.restore_get(&id).await.unwrap().phase().name(),
        PhaseName::Cutover
    );
    World {
        origin: shared.sim.now(),
        shared,
        lease: Arc::new(InMemoryLeaseStore::new()),
        id,
        effects: Arc::new(Mutex::new(Vec::new())),
        terms: Arc::new(Mutex::new(Vec::new())),
        _dir: dir,
    }
}

impl World {
    /// A (re)started replica process: elect, drive the restore while leading, sleep.
    fn start(&self, replica: usize, slot: Arc<Mutex<Slot>>) -> Replica {
        let clock: Arc<dyn Clock> = self.shared.sim.clock();
        let gate = Gate {
            replica,
            slot,
            clock: clock.clone(),
            effects: self.effects.clone(),
            terms: self.terms.clone(),
        };
        let lease_store: Arc<dyn LeaseStore> = Arc::new(Gated {
            gate: gate.clone(),
            inner: self.lease.clone(),
        });
        let mono = Arc::new(SimMono {
            sim: self.shared.sim.clone(),
            origin: self.origin,
        });
        let mut elector = Elector::new(
            lease_config(["a", "b"][replica]),
            lease_store,
            mono,
            clock.clone(),
        );
        let fence = elector.fence();
        let sim = Arc::new(self.shared.sim.clone());
        let lifecycle: Arc<dyn ClusterLifecycle> = Arc::new(Gated {
            gate: gate.clone(),
            inner: sim.clone(),
        });
        let state: Arc<dyn StateStore> = Arc::new(Gated {
            gate: gate.clone(),
            inner: self.shared.store.clone(),
        });
        let automation: Arc<dyn BackupAutomation> = sim.clone();
        let catalog: Arc<dyn BackupCatalogSource> = sim.clone();
        let backend = Backend::from_ports(
            lifecycle,
            automation,
            catalog,
            self.shared.probe.clone(),
            state,
            clock,
            None,
        )
        .with_fence(Arc::new(fence.clone()) as Arc<dyn Fence>);
        let id = self.id.clone();
        let pause = gate.slot.clone();
        let process: Process = Box::pin(async move {
            loop {
                let _ = elector.round().await;
                if elector.fence().is_held()
                    && let Ok(r) = backend.restore_get(&id).await
                    && r.advances_unattended()
                {
                    let _ = backend.restore_refresh(&id).await;
                }
                // The retry period between rounds: a point where time may pass.
                Park {
                    slot: pause.clone(),
                }
                .await;
            }
        });
        Replica {
            gate,
            fence,
            process: Some(process),
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Go(usize),
    Wait(i64),
    Crash(usize),
    Partition(usize),
    Heal(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0usize..2).prop_map(Step::Go),
        4 => prop_oneof![Just(200i64), Just(1_000), Just(2_000), Just(5_000), Just(11_000), Just(16_000)].prop_map(Step::Wait),
        1 => (0usize..2).prop_map(Step::Crash),
        1 => (0usize..2).prop_map(Step::Partition),
        1 => (0usize..2).prop_map(Step::Heal),
    ]
}

fn poll(r: &mut Replica) {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    if let Some(p) = r.process.as_mut() {
        let _ = p.as_mut().poll(&mut cx);
    }
}

/// Lets replica `i` go on from its gate to the next one.
fn go(r: &mut Replica) {
    {
        let mut s = r.gate.slot.lock().unwrap();
        if s.parked {
            s.granted = true;
        }
    }
    poll(r);
}

/// How far time may move now: not past the latency bound of a parked write.
fn wait_cap(w: &World, replicas: &[Replica]) -> Duration {
    let now = w.shared.sim.now();
    replicas
        .iter()
        .filter(|r| r.process.is_some())
        .filter_map(|r| r.gate.slot.lock().unwrap().write_since)
        .map(|since| since + MAX_LATENCY - now)
        .min()
        .unwrap_or(Duration::days(1))
        .max(Duration::zero())
}

fn check_fences(w: &World, replicas: &[Replica]) {
    let holders: Vec<usize> = replicas
        .iter()
        .enumerate()
        .filter(|(_, r)| r.process.is_some() && r.fence.is_held())
        .map(|(i, _)| i)
        .collect();
    assert!(
        holders.len() <= 1,
        "two fences hold at {}: {holders:?}",
        w.shared.sim.now()
    );
}

/// Only the holder of the lease writes: at the check and at the landing of each write, the
/// last hand-over of the lease (as the lease store saw it) went to the writer.
fn check_terms(effects: &[Effect], terms: &[(DateTime<Utc>, Option<usize>)]) {
    let holder_at = |t: DateTime<Utc>| {
        terms
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .and_then(|(_, h)| *h)
    };
    for e in effects {
        assert_eq!(
            (holder_at(e.checked), holder_at(e.landed)),
            (Some(e.replica), Some(e.replica)),
            "a write outside its writer's lease term: {e:?}\nterms: {terms:?}"
        );
    }
}

fn check_effects(effects: &[Effect]) {
    for (i, a) in effects.iter().enumerate() {
        for b in &effects[i + 1..] {
            if a.replica == b.replica {
                continue;
            }
            let overlap = a.checked <= b.landed && b.checked <= a.landed;
            assert!(!overlap, "two replicas acted at once:\n{a:?}\n{b:?}");
        }
    }
    // The state store's compare-and-swap: one successful write per revision read.
    let puts: Vec<&String> = effects
        .iter()
        .filter(|e| e.what.starts_with("put") && !e.what.ends_with("None"))
        .map(|e| &e.what)
        .collect();
    let unique: BTreeSet<&&String> = puts.iter().collect();
    assert_eq!(unique.len(), puts.len(), "two writes from one revision");
}

async fn run(steps: Vec<Step>) -> Vec<Effect> {
    let w = world().await;
    let slots = [
        Arc::new(Mutex::new(Slot::default())),
        Arc::new(Mutex::new(Slot::default())),
    ];
    let mut replicas = vec![w.start(0, slots[0].clone()), w.start(1, slots[1].clone())];
    for r in &mut replicas {
        poll(r);
    }
    let clock = w.shared.sim.clock();
    for s in steps {
        match s {
            Step::Go(i) => {
                if replicas[i].process.is_none() {
                    // A crashed replica's process restarts (with no memory of the lease).
                    let partitioned = slots[i].lock().unwrap().partitioned;
                    *slots[i].lock().unwrap() = Slot {
                        partitioned,
                        ..Slot::default()
                    };
                    replicas[i] = w.start(i, slots[i].clone());
                    poll(&mut replicas[i]);
                } else {
                    go(&mut replicas[i]);
                }
            }
            Step::Wait(ms) => {
                let d = Duration::milliseconds(ms).min(wait_cap(&w, &replicas));
                clock.advance(d);
            }
            Step::Crash(i) => replicas[i].process = None,
            Step::Partition(i) => slots[i].lock().unwrap().partitioned = true,
            Step::Heal(i) => slots[i].lock().unwrap().partitioned = false,
        }
        check_fences(&w, &replicas);
    }

    // Calm: everyone up and reachable, fair turns, time moving.
    for (i, slot) in slots.iter().enumerate() {
        slot.lock().unwrap().partitioned = false;
        if replicas[i].process.is_none() {
            *slot.lock().unwrap() = Slot::default();
            replicas[i] = w.start(i, slot.clone());
            poll(&mut replicas[i]);
        }
    }
    let person = w.shared.backend(Arc::new(SoleReplica));
    for _ in 0..3_000 {
        for r in &mut replicas {
            go(r);
        }
        check_fences(&w, &replicas);
        let d = Duration::milliseconds(500).min(wait_cap(&w, &replicas));
        clock.advance(d);
        if person.restore_get(&w.id).await.unwrap().phase().name() == PhaseName::Completed {
            break;
        }
    }
    let r = person.restore_get(&w.id).await.unwrap();
    assert_eq!(r.phase().name(), PhaseName::Completed, "{r:?}");
    check_effects(&w.effects.lock().unwrap());
    check_terms(&w.effects.lock().unwrap(), &w.terms.lock().unwrap());
    let events = w.shared.sim.events();
    for live in [admin(), tenant()] {
        let deleted = events
            .iter()
            .filter(|e| matches!(e, SimEvent::ClusterDeleted { name } if *name == live))
            .count();
        let recreated = events
            .iter()
            .filter(|e| matches!(e, SimEvent::ClusterCreated { name, replaces_live: true, .. } if *name == live))
            .count();
        assert_eq!((deleted, recreated), (1, 1), "{live}");
    }
    w.effects.lock().unwrap().clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn two_replicas_never_act_on_one_step_at_once(steps in proptest::collection::vec(step(), 20..250)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(steps));
    }
}

#[test]
fn the_harness_sees_a_takeover() {
    // A fixed interleaving: a leads and starts the cutover, then is partitioned away; b takes
    // over after the lease ran out and finishes. Shows that the property test's steps reach
    // the interesting cases, not only one replica doing everything.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut steps = vec![Step::Go(0); 12];
        steps.push(Step::Partition(0));
        for _ in 0..10 {
            steps.push(Step::Wait(2_000));
            steps.push(Step::Go(0));
            steps.push(Step::Go(1));
        }
        let effects = run(steps).await;
        let by = |i: usize| effects.iter().filter(|e| e.replica == i).count();
        assert!(
            by(0) > 0 && by(1) > 0,
            "both acted, one after the other: {effects:#?}"
        );
        let first_b = effects.iter().position(|e| e.replica == 1).unwrap();
        assert!(
            effects[first_b..].iter().all(|e| e.replica == 1),
            "a never acted again after b took over: {effects:#?}"
        );
    });
}
