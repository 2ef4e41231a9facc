//! A world to run the loop in: the embedded default's simulator and state store, one or more
//! replicas, and simulated time that moves only when everything waits.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use futures::stream::{BoxStream, StreamExt};

use cnpg_backup_app::Backend;
use cnpg_backup_controller::lease::{Elector, InMemoryLeaseStore, LeaseConfig, MonoClock, Round};
use cnpg_backup_controller::sim::{SimTimer, triggers};
use cnpg_backup_controller::{Controller, Outcome, RecordedEvents, Timer, Trigger, Work};
use cnpg_backup_core::automation::BackupSettings;
use cnpg_backup_core::memory::{BarmanBucketProbe, InMemoryStateStore, Simulator};
use cnpg_backup_core::names::ClusterName;
use cnpg_backup_core::ports::{
    BackupAutomation, BackupCatalogSource, BucketProbe, Clock, ClusterLifecycle, Fence, StateStore,
};

pub fn admin() -> ClusterName {
    "cnpg-admin".parse().unwrap()
}

pub fn tenant() -> ClusterName {
    "cnpg-tenant".parse().unwrap()
}

/// The embedded default's settings with a daily schedule (no backup fires in a short run).
pub fn daily(dir: &std::path::Path) -> BackupSettings {
    let mut s = cnpg_backup_app::settings::embedded(&dir.join("bucket"));
    s.automation.schedule =
        serde_json::from_value(serde_json::json!({"preset": "daily", "hour": 2, "minute": 0}))
            .unwrap();
    s
}

/// One replica: the embedded default and a loop over it.
pub struct Solo {
    pub _dir: tempfile::TempDir,
    pub backend: Arc<Backend>,
    pub sim: Simulator,
    pub store: Arc<InMemoryStateStore>,
    pub controller: Controller,
    pub timer: SimTimer,
    pub triggers: BoxStream<'static, Trigger>,
    pub events: RecordedEvents,
    pub log: Vec<(DateTime<Utc>, Work, Outcome)>,
}

impl Solo {
    pub async fn new(settings: Option<fn(&std::path::Path) -> BackupSettings>) -> Solo {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings.map(|f| f(dir.path()));
        let backend = Backend::embedded(dir.path(), settings, false)
            .await
            .unwrap();
        let e = backend.embedded.as_ref().unwrap();
        let (sim, store) = (e.sim.clone(), e.store.clone());
        let backend = Arc::new(backend);
        let events = RecordedEvents::new();
        let timer = SimTimer::new(sim.clone());
        let controller =
            Controller::new(backend.clone(), timer.now()).with_events(Arc::new(events.clone()));
        let triggers = triggers(&sim, &store, vec![admin(), tenant()]);
        Solo {
            _dir: dir,
            backend,
            sim,
            store,
            controller,
            timer,
            triggers,
            events,
            log: Vec::new(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.timer.now()
    }

    /// Runs the loop for `d` of simulated time: triggers first, then due work, else time moves
    /// to the next due time (or the next simulator tick).
    pub async fn run_for(&mut self, d: Duration) {
        let end = self.now() + d;
        loop {
            while let Some(Some(t)) = self.triggers.next().now_or_never() {
                self.controller.handle(t, self.timer.now());
            }
            let now = self.now();
            if self.controller.next_due() <= now {
                let ran = self.controller.run_due(&self.timer).await;
                for (w, o) in ran.work {
                    self.log.push((now, w, o));
                }
                continue;
            }
            if now >= end {
                return;
            }
            self.timer
                .sleep_until(self.controller.next_due().min(end))
                .await;
        }
    }

    /// The work that ran since `since`.
    pub fn ran_since(&self, since: DateTime<Utc>) -> Vec<(DateTime<Utc>, Work, Outcome)> {
        self.log
            .iter()
            .filter(|(t, _, _)| *t >= since)
            .cloned()
            .collect()
    }
}

/// The simulator's clock as a monotonic clock (the lease in simulated time).
pub struct SimMono {
    pub sim: Simulator,
    pub origin: DateTime<Utc>,
}

impl MonoClock for SimMono {
    fn elapsed(&self) -> StdDuration {
        (self.sim.now() - self.origin).to_std().unwrap_or_default()
    }
}

/// The ports of one shared simulated world, for replicas that each wrap them.
#[derive(Clone)]
pub struct Shared {
    pub sim: Simulator,
    pub store: Arc<InMemoryStateStore>,
    pub probe: Arc<dyn BucketProbe>,
}

impl Shared {
    pub fn new(settings: &BackupSettings) -> Shared {
        let sim = Simulator::new(settings);
        let probe: Arc<dyn BucketProbe> = Arc::new(BarmanBucketProbe::new(sim.bucket()));
        Shared {
            sim,
            store: Arc::new(InMemoryStateStore::new()),
            probe,
        }
    }

    /// A backend over the shared world guarded by `fence`.
    pub fn backend(&self, fence: Arc<dyn Fence>) -> Backend {
        let lifecycle: Arc<dyn ClusterLifecycle> = Arc::new(self.sim.clone());
        let automation: Arc<dyn BackupAutomation> = Arc::new(self.sim.clone());
        let catalog: Arc<dyn BackupCatalogSource> = Arc::new(self.sim.clone());
        let state: Arc<dyn StateStore> = self.store.clone();
        let clock: Arc<dyn Clock> = self.sim.clock();
        Backend::from_ports(
            lifecycle,
            automation,
            catalog,
            self.probe.clone(),
            state,
            clock,
            None,
        )
        .with_fence(fence)
    }
}

/// A replica of a replicated loop over a shared world: its own elector and controller.
pub struct Replica {
    pub elector: Elector,
    pub controller: Controller,
    pub triggers: BoxStream<'static, Trigger>,
    pub next_round: DateTime<Utc>,
    pub leading: bool,
    pub alive: bool,
}

pub fn lease_config(name: &str) -> LeaseConfig {
    LeaseConfig::with_timing(
        name,
        StdDuration::from_secs(15),
        StdDuration::from_secs(10),
        StdDuration::from_secs(2),
    )
    .unwrap()
}

impl Replica {
    pub fn new(
        name: &'static str,
        shared: &Shared,
        lease: &Arc<InMemoryLeaseStore>,
        origin: DateTime<Utc>,
    ) -> Replica {
        let mono = Arc::new(SimMono {
            sim: shared.sim.clone(),
            origin,
        });
        let elector = Elector::new(lease_config(name), lease.clone(), mono, shared.sim.clock());
        let fence: Arc<dyn Fence> = Arc::new(elector.fence());
        let backend = Arc::new(shared.backend(fence.clone()));
        let controller = Controller::new(backend, shared.sim.now()).with_fence(fence);
        let triggers = triggers(&shared.sim, &shared.store, vec![admin(), tenant()]);
        Replica {
            elector,
            controller,
            triggers,
            next_round: shared.sim.now(),
            leading: false,
            alive: true,
        }
    }

    /// One election round if due; tells the controller when leadership changed.
    pub async fn elect(&mut self, now: DateTime<Utc>) {
        if !self.alive || now < self.next_round {
            return;
        }
        let leading = matches!(self.elector.round().await, Ok(Round::Leading));
        self.next_round = now + Duration::seconds(2);
        if leading != self.leading {
            self.leading = leading;
            self.controller.handle(Trigger::Leadership(leading), now);
        }
    }
}

/// Runs replicas over a shared world for `d` of simulated time.
pub async fn run_replicas(shared: &Shared, replicas: &mut [Replica], d: Duration) {
    let timer = SimTimer::new(shared.sim.clone());
    let end = timer.now() + d;
    loop {
        let now = timer.now();
        for r in replicas.iter_mut().filter(|r| r.alive) {
            while let Some(Some(t)) = r.triggers.next().now_or_never() {
                r.controller.handle(t, now);
            }
            r.elect(now).await;
        }
        let mut ran = false;
        for r in replicas.iter_mut().filter(|r| r.alive) {
            if r.controller.next_due() <= timer.now() {
                r.controller.run_due(&timer).await;
                ran = true;
            }
        }
        if ran {
            continue;
        }
        if now >= end {
            return;
        }
        let next = replicas
            .iter()
            .filter(|r| r.alive)
            .flat_map(|r| [r.controller.next_due(), r.next_round])
            .min()
            .unwrap_or(end)
            .min(end);
        timer.sleep_until(next).await;
    }
}
