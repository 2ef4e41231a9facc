//! A world: simulator, state store, bucket probe, clock and both services.

use std::sync::Arc;

use cnpg_backup_core::automation::BackupSettings;
use cnpg_backup_core::memory::{BarmanBucketProbe, InMemoryStateStore, SimClock, Simulator};
use cnpg_backup_core::ports::BucketObjects;
use cnpg_backup_core::service::{BackupService, RestoreService};
use futures::executor::block_on;

pub type Probe = BarmanBucketProbe<dyn BucketObjects>;
pub type Backups = BackupService<Simulator, Simulator, Probe, InMemoryStateStore, SimClock>;
pub type Restores = RestoreService<Simulator, Simulator, Probe, InMemoryStateStore, SimClock>;

pub fn settings() -> BackupSettings {
    serde_json::from_value(serde_json::json!({
        "target": {"provider": "local", "bucket": "backups", "prefix": "cp", "credentials": {"kind": "none"}},
        "automation": {"enabled": true, "schedule": {"preset": "daily", "hour": 2, "minute": 0}, "retention": "30d"},
        "appVersion": {"kind": "fixed", "version": "1.4.2"}
    }))
    .unwrap()
}

pub struct World {
    pub sim: Simulator,
    pub store: Arc<InMemoryStateStore>,
    pub backups: Backups,
}

impl World {
    pub fn new() -> Self {
        let sim = Simulator::new(&settings());
        let store = Arc::new(InMemoryStateStore::new());
        let probe: Arc<Probe> = Arc::new(BarmanBucketProbe::new(sim.bucket()));
        let sim_arc = Arc::new(sim.clone());
        let backups =
            BackupService::new(sim_arc.clone(), sim_arc, probe, store.clone(), sim.clock());
        Self {
            sim,
            store,
            backups,
        }
    }

    /// A restore service over the same world (a "fresh process": services hold no state).
    pub fn restores(&self) -> Restores {
        let sim = Arc::new(self.sim.clone());
        let probe: Arc<Probe> = Arc::new(BarmanBucketProbe::new(self.sim.bucket()));
        RestoreService::new(
            sim.clone(),
            sim,
            probe,
            self.store.clone(),
            self.sim.clock(),
        )
    }

    /// Settings saved and reconciled, then `runs` on-demand backup runs, each completed.
    pub fn with_backups(runs: usize) -> Self {
        let w = Self::new();
        block_on(async {
            w.backups.save_settings(&settings()).await.unwrap();
            w.backups
                .reconcile(Some(&"1.4.2".parse().unwrap()))
                .await
                .unwrap();
            for _ in 0..runs {
                w.backups
                    .backup_now(Some(&"1.4.2".parse().unwrap()))
                    .await
                    .unwrap();
                w.sim.tick().await.unwrap();
                w.sim.tick().await.unwrap();
                w.sim.advance(chrono::Duration::minutes(10)).await.unwrap();
            }
        });
        w
    }
}
