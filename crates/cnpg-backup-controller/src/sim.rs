//! The loop on the embedded default: triggers from the simulator and the in-memory state store
//! (what watches would report), and a [`SimTimer`] whose sleeping moves the simulated world on.
//! The same [`crate::Controller`] runs here as on a cluster.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};

use cnpg_backup_core::memory::{InMemoryStateStore, SimChange, Simulator};
use cnpg_backup_core::names::ClusterName;
use cnpg_backup_core::ports::StateKey;
use cnpg_backup_core::restore::RestoreRecord;

use crate::timer::Timer;
use crate::trigger::{Trigger, WatchKind};

/// Simulated time for the loop: sleeping advances the simulator, at most to its next tick, so
/// the triggers of each tick are taken before time moves further.
#[derive(Debug, Clone)]
pub struct SimTimer {
    sim: Simulator,
}

impl SimTimer {
    /// Time on `sim`'s clock.
    pub fn new(sim: Simulator) -> Self {
        Self { sim }
    }
}

#[async_trait::async_trait]
impl Timer for SimTimer {
    fn now(&self) -> DateTime<Utc> {
        self.sim.now()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        let step = t.min(self.sim.next_tick_at());
        if let Err(e) = self.sim.advance_to(step).await {
            tracing::warn!(error = %e, "the simulated bucket refused a write");
        }
        tokio::task::yield_now().await;
    }
}

fn restore_of(store: &InMemoryStateStore, key: &StateKey) -> Option<Box<RestoreRecord>> {
    let body = store.peek(key)?;
    serde_json::from_str(&body).ok().map(Box::new)
}

/// The triggers of the simulated world, as the Kubernetes watches would report them: first
/// every Backup and a `Synced` per watch (the initial listing), then each change.
/// `plane_clusters` are the live clusters whose changes are the reconcile's business.
pub fn triggers(
    sim: &Simulator,
    store: &Arc<InMemoryStateStore>,
    plane_clusters: Vec<ClusterName>,
) -> BoxStream<'static, Trigger> {
    let changes = sim.subscribe();
    let keys = store.subscribe();
    let initial: Vec<Trigger> = sim
        .backups()
        .into_iter()
        .map(|b| Trigger::Backup(Box::new(b)))
        .chain(WatchKind::ALL.into_iter().map(Trigger::Synced))
        .collect();
    let sim = sim.clone();
    let from_sim = changes.flat_map(move |c| {
        let out: Vec<Trigger> = match c {
            SimChange::Cluster(name) => {
                let mut v = Vec::new();
                if plane_clusters.contains(&name) {
                    v.push(Trigger::Automation);
                }
                v.push(Trigger::Cluster(name));
                v
            }
            SimChange::Backup(name) => vec![match sim.backup(&name) {
                Some(r) => Trigger::Backup(Box::new(r)),
                None => Trigger::BackupDeleted(name),
            }],
            SimChange::Automation => vec![Trigger::Automation],
            _ => Vec::new(),
        };
        stream::iter(out)
    });
    let store = store.clone();
    let from_store = keys.filter_map(move |key| {
        let t = match &key {
            StateKey::Settings => Some(Trigger::Settings),
            StateKey::Restore(id) => Some(Trigger::Restore(id.clone(), restore_of(&store, &key))),
            _ => None,
        };
        futures::future::ready(t)
    });
    stream::iter(initial)
        .chain(stream::select(from_sim, from_store))
        .boxed()
}

/// The loop over the embedded default, in a process (`serve --embedded DIR`): wall-clock
/// timers, triggers from the simulator and the state store, the leader always itself.
pub struct EmbeddedLoop {
    controller: crate::Controller,
    triggers: BoxStream<'static, Trigger>,
    timer: crate::WallTimer,
}

impl std::fmt::Debug for EmbeddedLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLoop").finish_non_exhaustive()
    }
}

impl EmbeddedLoop {
    /// The loop over `backend`, which must be the embedded default (`None` otherwise), with
    /// `timing`; the plane clusters are those of the saved settings.
    pub async fn new(
        backend: Arc<cnpg_backup_app::Backend>,
        timing: crate::Timing,
    ) -> Option<Self> {
        let e = backend.embedded.as_ref()?;
        let planes = match backend.backups.settings().await {
            Ok(s) => vec![s.clusters.admin.clone(), s.clusters.tenant.clone()],
            Err(_) => Vec::new(),
        };
        let triggers = triggers(&e.sim, &e.store, planes);
        let timer = crate::WallTimer::new();
        let controller =
            crate::Controller::new(backend.clone(), timer.now()).with_timing(timing, timer.now());
        Some(Self {
            controller,
            triggers,
            timer,
        })
    }

    /// Tells `listener` about each restore the loop changed or saw change.
    pub fn with_restore_listener(mut self, listener: crate::RestoreListener) -> Self {
        self.controller = self.controller.with_restore_listener(listener);
        self
    }

    /// The metrics, for `/metrics`.
    pub fn metrics(&self) -> crate::Metrics {
        self.controller.metrics()
    }

    /// The readiness, for `/readyz`.
    pub fn health(&self) -> crate::Health {
        self.controller.health()
    }

    /// Runs until `shutdown` completes (after the work in progress).
    pub async fn run<F>(self, shutdown: F)
    where
        F: std::future::Future<Output = ()> + Send,
    {
        let Self {
            mut controller,
            triggers,
            timer,
        } = self;
        controller.run(triggers, &timer, shutdown).await;
    }
}
