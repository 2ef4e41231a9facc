//! Property tests of the restore engine over the simulator: random sequences of observations,
//! acknowledgements, faults and restarts.
//!
//! A checking wrapper around the simulator's `ClusterLifecycle` inspects the persisted restore
//! record every time a live cluster is deleted: the delete must come from cutover (entered only
//! with the stage-two acknowledgement), after every live manifest was persisted, while that
//! plane's recovery cluster is ready.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cnpg_backup_core::memory::{
    BarmanBucketProbe, Fault, InMemoryStateStore, SimEvent, SimOp, Simulator, StoreFault,
};
use cnpg_backup_core::names::{ClusterName, Plane, RestoreId};
use cnpg_backup_core::ports::{
    BackendError, ClusterLifecycle, ClusterManifest, ClusterObservation, StateKey,
};
use cnpg_backup_core::restore::{
    AuditKind, RecoveryClusterSpec, RestorePhase, RestoreRecord, RestoreRequest, STAGE_ONE_ACK,
    STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};
use cnpg_backup_core::service::{CatalogScope, RestoreService};
use futures::executor::block_on;
use proptest::prelude::*;

use crate::harness::{Probe, World};

/// The simulator's lifecycle, checking every live delete against the persisted record.
struct Guarded {
    sim: Simulator,
    store: Arc<InMemoryStateStore>,
    id: RestoreId,
    violations: Mutex<Vec<String>>,
}

impl Guarded {
    fn check_live_delete(&self, name: &ClusterName) {
        let mut v = Vec::new();
        let Some(body) = self.store.peek(&StateKey::Restore(self.id.clone())) else {
            v.push(format!("deleting `{name}` with no restore record"));
            self.violations.lock().unwrap().extend(v);
            return;
        };
        let record: RestoreRecord = serde_json::from_str(&body).unwrap();
        if record.phase() != &RestorePhase::Cutover {
            v.push(format!("deleting `{name}` in phase {:?}", record.phase()));
        }
        if !record
            .audit()
            .iter()
            .any(|a| a.kind == AuditKind::StageTwoAck)
        {
            v.push(format!(
                "deleting `{name}` without the stage-two acknowledgement"
            ));
        }
        if record.planes().iter().any(|p| p.live_manifest.is_none()) {
            v.push(format!(
                "deleting `{name}` before every live spec was persisted"
            ));
        }
        if let Some(p) = record.planes().iter().find(|p| &p.live == name) {
            let rec = &p.recovery.name;
            if !(self.sim.is_ready(rec)
                && self.sim.restore_label(rec) == Some(Some(self.id.clone())))
            {
                v.push(format!(
                    "deleting `{name}` while recovery `{rec}` is not ready"
                ));
            }
        }
        self.violations.lock().unwrap().extend(v);
    }
}

#[async_trait::async_trait]
impl ClusterLifecycle for Guarded {
    async fn observe(
        &self,
        name: &ClusterName,
    ) -> Result<Option<ClusterObservation>, BackendError> {
        self.sim.observe(name).await
    }
    async fn manifest(&self, name: &ClusterName) -> Result<ClusterManifest, BackendError> {
        self.sim.manifest(name).await
    }
    async fn create(
        &self,
        base: &ClusterManifest,
        spec: &RecoveryClusterSpec,
    ) -> Result<(), BackendError> {
        self.sim.create(base, spec).await
    }
    async fn delete(&self, name: &ClusterName) -> Result<(), BackendError> {
        let live = ["cnpg-admin", "cnpg-tenant"].contains(&name.as_str());
        if live && self.sim.restore_label(name) == Some(None) {
            self.check_live_delete(name);
        }
        self.sim.delete(name).await
    }
}

type Restores = RestoreService<
    Guarded,
    Simulator,
    Probe,
    InMemoryStateStore,
    cnpg_backup_core::memory::SimClock,
>;

#[derive(Debug, Clone)]
enum Op {
    Tick,
    Refresh,
    Apply,
    Abandon,
    Retry,
    SimFault {
        op: SimOp,
        after_effect: bool,
        transient: bool,
    },
    StoreFault {
        after_write: bool,
    },
    NeverReady(Plane),
    Heal(Plane),
    ExternalDeleteRecovery(Plane),
    /// A crash: the process is replaced by a new one over the same store and world.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let sim_op = prop_oneof![
        Just(SimOp::Observe),
        Just(SimOp::Manifest),
        Just(SimOp::Create),
        Just(SimOp::Delete)
    ];
    let plane = prop_oneof![Just(Plane::Admin), Just(Plane::Tenant)];
    prop_oneof![
        4 => Just(Op::Tick),
        6 => Just(Op::Refresh),
        3 => Just(Op::Apply),
        1 => Just(Op::Abandon),
        1 => Just(Op::Retry),
        4 => (sim_op, any::<bool>(), any::<bool>()).prop_map(|(op, after_effect, transient)| Op::SimFault { op, after_effect, transient }),
        2 => any::<bool>().prop_map(|after_write| Op::StoreFault { after_write }),
        1 => plane.clone().prop_map(Op::NeverReady),
        1 => plane.clone().prop_map(Op::Heal),
        1 => plane.prop_map(Op::ExternalDeleteRecovery),
        2 => Just(Op::Restart),
    ]
}

struct Run {
    w: World,
    guarded: Arc<Guarded>,
    id: RestoreId,
}

impl Run {
    fn service(&self) -> Restores {
        let probe: Arc<Probe> = Arc::new(BarmanBucketProbe::new(self.w.sim.bucket()));
        RestoreService::new(
            self.guarded.clone(),
            Arc::new(self.w.sim.clone()),
            probe,
            self.w.store.clone(),
            self.w.sim.clock(),
        )
    }

    fn record(&self) -> RestoreRecord {
        serde_json::from_str(
            &self
                .w
                .store
                .peek(&StateKey::Restore(self.id.clone()))
                .unwrap(),
        )
        .unwrap()
    }
}

fn setup() -> Run {
    let w = World::with_backups(1);
    let id: RestoreId = "prop".parse().unwrap();
    let guarded = Arc::new(Guarded {
        sim: w.sim.clone(),
        store: w.store.clone(),
        id: id.clone(),
        violations: Mutex::new(Vec::new()),
    });
    let run = Run { w, guarded, id };
    let catalog = block_on(
        run.w
            .backups
            .catalog(CatalogScope::Both, None, Default::default()),
    )
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
        "rec".parse().unwrap(),
        name("cnpg-admin"),
        name("cnpg-tenant"),
    );
    let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
    block_on(run.service().create(
        &run.id,
        &request,
        Some(&"1.4.2".parse().unwrap()),
        &one,
        None,
    ))
    .unwrap();
    run
}

fn recovery_name(plane: Plane) -> ClusterName {
    format!("rec-{plane}").parse().unwrap()
}

fn apply_op(run: &mut Run, svc: &mut Restores, op: &Op) {
    let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
    let err = |detail: &str| BackendError::Unavailable {
        detail: detail.to_owned(),
    };
    match op {
        Op::Tick => block_on(run.w.sim.tick()).unwrap(),
        Op::Refresh => drop(block_on(svc.refresh(&run.id))),
        Op::Apply => drop(block_on(svc.apply(&run.id, &two, Some("prop".into())))),
        Op::Abandon => drop(block_on(svc.abandon(&run.id, None))),
        Op::Retry => drop(block_on(svc.retry(&run.id, None))),
        Op::SimFault {
            op,
            after_effect,
            transient,
        } => {
            let e = if *transient {
                err("simulated outage")
            } else {
                BackendError::Forbidden {
                    detail: "simulated RBAC refusal".into(),
                }
            };
            run.w.sim.inject(
                *op,
                if *after_effect {
                    Fault::FailAfterEffect(e)
                } else {
                    Fault::Fail(e)
                },
            );
        }
        Op::StoreFault { after_write } => run.w.store.inject(if *after_write {
            StoreFault::FailPutAfterWrite(err("simulated crash after write"))
        } else {
            StoreFault::FailPut(err("simulated crash before write"))
        }),
        Op::NeverReady(p) => run.w.sim.never_ready(&recovery_name(*p)),
        Op::Heal(p) => run.w.sim.heal(&recovery_name(*p)),
        Op::ExternalDeleteRecovery(p) => run.w.sim.remove_cluster(&recovery_name(*p)),
        Op::Restart => *svc = run.service(),
    }
}

/// Clears faults and drives the restore to an end: completed (or abandoned when the sequence
/// abandoned it).
fn converge(run: &mut Run, svc: &Restores) -> RestoreRecord {
    run.w.sim.clear_faults();
    run.w.store.clear_faults();
    for p in Plane::ALL {
        run.w.sim.heal(&recovery_name(p));
    }
    let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
    for _ in 0..60 {
        let r = run.record();
        match r.phase() {
            RestorePhase::Completed | RestorePhase::Abandoned
                if r.planes()
                    .iter()
                    .all(|p| !run.w.sim.cluster_names().contains(&p.recovery.name)) =>
            {
                return r;
            }
            RestorePhase::ReadyForPromotionChecks => {
                // An operator refreshes, then applies.
                if let Ok(r) = block_on(svc.refresh(&run.id))
                    && r.phase() == &RestorePhase::ReadyForPromotionChecks
                {
                    drop(block_on(svc.apply(&run.id, &two, None)));
                }
            }
            RestorePhase::Failed {
                retryable: true, ..
            } => drop(block_on(svc.retry(&run.id, None))),
            RestorePhase::Failed {
                retryable: false, ..
            } => return r,
            _ => drop(block_on(svc.refresh(&run.id))),
        }
        block_on(run.w.sim.tick()).unwrap();
    }
    run.record()
}

fn count(events: &[SimEvent], f: impl Fn(&SimEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn restore_engine_is_safe_under_faults_and_restarts(ops in proptest::collection::vec(op(), 0..40)) {
        let mut run = setup();
        let mut svc = run.service();
        for op in &ops {
            apply_op(&mut run, &mut svc, op);
        }
        let end = converge(&mut run, &svc);
        let violations = run.guarded.violations.lock().unwrap().clone();
        prop_assert!(violations.is_empty(), "{violations:#?}");

        let events = run.w.sim.events();
        let mut deletes = BTreeMap::new();
        for live in ["cnpg-admin", "cnpg-tenant"] {
            let name: ClusterName = live.parse().unwrap();
            let d = count(&events, |e| matches!(e, SimEvent::ClusterDeleted { name: n } if *n == name));
            let c = count(&events, |e| matches!(e, SimEvent::ClusterCreated { name: n, .. } if *n == name));
            prop_assert!(d <= 1 && c <= 1, "{live}: {d} deletes, {c} creates");
            deletes.insert(live, d);
            // The live spec is never lost: the cluster exists, or its manifest is in the record.
            let plane = end.planes().iter().find(|p| p.live == name).unwrap();
            prop_assert!(run.w.sim.cluster_names().contains(&name) || plane.live_manifest.is_some());
        }
        match end.phase() {
            RestorePhase::Completed => {
                for p in end.planes() {
                    prop_assert_eq!(run.w.sim.restore_label(&p.live), Some(Some(run.id.clone())));
                    prop_assert!(run.w.sim.is_ready(&p.live));
                }
                let kinds: Vec<_> = end.audit().iter().map(|a| a.kind).collect();
                prop_assert!(kinds.contains(&AuditKind::StageOneAck) && kinds.contains(&AuditKind::StageTwoAck));
            }
            RestorePhase::Abandoned => {
                prop_assert!(deletes.values().all(|d| *d == 0), "abandoned after touching live");
                for live in ["cnpg-admin", "cnpg-tenant"] {
                    prop_assert_eq!(run.w.sim.restore_label(&live.parse().unwrap()), Some(None));
                }
            }
            RestorePhase::Failed { reason, retryable: false, .. } => {
                prop_assert!(!reason.is_empty());
            }
            other => prop_assert!(false, "did not converge: {other:?}\n{end:#?}"),
        }
    }
}
