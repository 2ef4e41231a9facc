//! [`Controller`]: the loop over triggers and a timer. It runs exactly the operations the CLI
//! runs (`Backend::run_reconcile`, `restore_list`, `restore_get`, `restore_refresh`,
//! `backup_overview_of`), never copies of them, and only while its fence holds.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::pin;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::{FutureExt, Stream, StreamExt};

use cnpg_backup_app::{AppError, Backend, Category};
use cnpg_backup_core::catalog::{BackupPhase, BackupRecord};
use cnpg_backup_core::names::{ClusterName, ObjectName, Plane, RestoreId};
use cnpg_backup_core::overview::{BackupHealth, PlaneOverview};
use cnpg_backup_core::ports::{Fence, SoleReplica};
use cnpg_backup_core::restore::RestoreRecord;
use cnpg_backup_core::status::ReconcileState;

use crate::events::{ClusterEvent, EventSink, EventType, RecordedEvents, Reported};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::timer::Timer;
use crate::trigger::{Outcome, Scheduler, Timing, Trigger, WatchKind, Work};

#[derive(Debug, Clone)]
struct SeenRestore {
    fingerprint: u64,
    advances: bool,
    watched: Vec<ClusterName>,
}

/// What about a restore record is worth a refresh when it changes: its phase, its
/// acknowledgements, and each plane's steps. A refresh that only moved the record's time or
/// progress text (the loop's own write) is not.
fn fingerprint(r: &RestoreRecord) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    r.phase().name().hash(&mut h);
    r.audit().len().hash(&mut h);
    for p in r.planes() {
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
            p.create_recovery,
            p.recovery_ready,
            p.live_manifest.is_some(),
            p.save_live,
            p.delete_live,
            p.create_live,
            p.live_ready,
            p.delete_recovery
        )
        .hash(&mut h);
    }
    h.finish()
}

/// Told the id of a restore the loop changed or saw change (e.g. to wake the HTTP API's event
/// streams in the same process). Called on the loop's task: it must return at once.
pub type RestoreListener = Arc<dyn Fn(&RestoreId) + Send + Sync>;

/// What one call of [`Controller::run_due`] did, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ran {
    /// The work that ran, in order, with how it ended.
    pub work: Vec<(Work, Outcome)>,
}

/// The control loop.
pub struct Controller {
    backend: Arc<Backend>,
    fence: Arc<dyn Fence>,
    events: Arc<dyn EventSink>,
    metrics: Metrics,
    health: Health,
    scheduler: Scheduler,
    leader: bool,
    restores: BTreeMap<RestoreId, SeenRestore>,
    backups: BTreeMap<ObjectName, BackupRecord>,
    backups_synced: bool,
    baseline_done: bool,
    reported: Reported,
    plane_clusters: BTreeMap<Plane, ClusterName>,
    on_restore: Option<RestoreListener>,
    /// Completed Backups whose provenance record is settled (written, already there, or not
    /// ours to write): never asked about again while the process runs.
    provenance_done: BTreeSet<ObjectName>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("leader", &self.leader)
            .field("restores", &self.restores.len())
            .field("backups", &self.backups.len())
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A loop over `backend`, starting at `now`: it leads (sole replica, events kept in memory,
    /// default timing) until told otherwise by the builder methods.
    pub fn new(backend: Arc<Backend>, now: DateTime<Utc>) -> Self {
        let fence: Arc<dyn Fence> = Arc::new(SoleReplica);
        let metrics = Metrics::new();
        metrics.leader(true);
        let health = Health::new(WatchKind::ALL, fence.clone());
        health.leader(true);
        Self {
            backend,
            health,
            fence,
            events: Arc::new(RecordedEvents::new()),
            metrics,
            scheduler: Scheduler::new(Timing::default(), now),
            leader: true,
            restores: BTreeMap::new(),
            backups: BTreeMap::new(),
            backups_synced: false,
            baseline_done: false,
            reported: Reported::default(),
            plane_clusters: BTreeMap::new(),
            on_restore: None,
            provenance_done: BTreeSet::new(),
        }
    }

    /// Tells `listener` about each restore the loop changed (a step it ran) or saw change (a
    /// watch event that moved its phase, acknowledgements or steps, or its deletion).
    pub fn with_restore_listener(mut self, listener: RestoreListener) -> Self {
        self.on_restore = Some(listener);
        self
    }

    fn restore_changed(&self, id: &RestoreId) {
        if let Some(l) = &self.on_restore {
            l(id);
        }
    }

    /// With this timing (resync, debounce, requeue, backoff).
    pub fn with_timing(mut self, timing: Timing, now: DateTime<Utc>) -> Self {
        self.scheduler = Scheduler::new(timing, now);
        self
    }

    /// Writes only while `fence` holds; starts as a follower until told it leads
    /// ([`Trigger::Leadership`]).
    pub fn with_fence(mut self, fence: Arc<dyn Fence>) -> Self {
        self.fence = fence;
        self.leader = false;
        self.metrics.leader(false);
        self.health.leader(false);
        self
    }

    /// Publishes events through `events`.
    pub fn with_events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }

    /// Reports into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        metrics.leader(self.leader);
        self.metrics = metrics;
        self
    }

    /// Reports readiness into `health`.
    pub fn with_health(mut self, health: Health) -> Self {
        health.leader(self.leader);
        self.health = health;
        self
    }

    /// The metrics (a handle on the same registry).
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// The readiness (a handle on the same state).
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// When the next piece of work is due.
    pub fn next_due(&self) -> DateTime<Utc> {
        self.scheduler.next_due()
    }

    /// Whether `work` waits to run.
    pub fn is_pending(&self, work: &Work) -> bool {
        self.scheduler.is_pending(work)
    }

    /// The Backups the loop knows of.
    pub fn backups_known(&self) -> usize {
        self.backups.len()
    }

    /// Takes one trigger into account at `now`.
    pub fn handle(&mut self, trigger: Trigger, now: DateTime<Utc>) {
        match trigger {
            Trigger::Settings => {
                // A person changed the settings: forget the backoff of the old ones.
                self.scheduler.reset(Work::Reconcile, now);
                self.scheduler.request(Work::Backups, now);
            }
            Trigger::Automation => self.scheduler.request(Work::Reconcile, now),
            Trigger::Cluster(name) => {
                let ids: Vec<RestoreId> = self
                    .restores
                    .iter()
                    .filter(|(_, s)| s.advances && s.watched.contains(&name))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in ids {
                    self.scheduler.request(Work::Restore(id), now);
                }
            }
            Trigger::Restore(_, Some(record)) => self.saw_restore(&record, now),
            Trigger::Restore(id, None) => {
                if self.restores.remove(&id).is_some() {
                    self.restore_changed(&id);
                }
                self.scheduler.forget(&Work::Restore(id.clone()));
                self.metrics.restore_phase(id.as_str(), None);
            }
            Trigger::Backup(record) => {
                let name = record.name.clone();
                let changed = self.backups.get(&name) != Some(&record);
                self.backups.insert(name, *record);
                if changed && self.backups_synced {
                    self.scheduler.request(Work::Backups, now);
                }
            }
            Trigger::BackupDeleted(name) => {
                self.provenance_done.remove(&name);
                if self.backups.remove(&name).is_some() && self.backups_synced {
                    self.scheduler.request(Work::Backups, now);
                }
            }
            Trigger::Synced(kind) => {
                self.health.synced(kind);
                if kind == WatchKind::Backups {
                    self.backups_synced = true;
                    self.scheduler.request(Work::Backups, now);
                }
            }
            Trigger::Restarted(kind) => {
                self.health.restarted(kind);
                self.metrics.watch_restarted(kind);
            }
            Trigger::Leadership(leading) => {
                if leading != self.leader {
                    tracing::info!(leading, "leadership changed");
                }
                self.leader = leading;
                self.health.leader(leading);
                self.metrics.leader(leading);
                if leading {
                    // Take over whatever the previous leader left: reconcile, every restore.
                    self.scheduler.everything(now);
                }
            }
        }
    }

    fn saw_restore(&mut self, record: &RestoreRecord, now: DateTime<Utc>) {
        let id = record.id().clone();
        let fp = fingerprint(record);
        let advances = record.advances_unattended();
        self.metrics
            .restore_phase(id.as_str(), Some(record.phase().name()));
        let changed = self.restores.get(&id).is_none_or(|s| s.fingerprint != fp);
        self.restores.insert(
            id.clone(),
            SeenRestore {
                fingerprint: fp,
                advances,
                watched: record.watched(),
            },
        );
        if changed {
            self.restore_changed(&id);
        }
        if changed && advances {
            self.scheduler.request(Work::Restore(id), now);
        }
    }

    fn may_write(&self) -> bool {
        self.leader && self.fence.check().is_ok()
    }

    /// Runs the work due at `now` (asking `now` again before each piece, so a slow piece does
    /// not delay the next one's timing), and schedules what follows.
    pub async fn run_due<T: Timer + ?Sized>(&mut self, timer: &T) -> Ran {
        let mut ran = Ran::default();
        for work in self.scheduler.take_due(timer.now()) {
            let outcome = self.execute(&work, timer).await;
            let now = timer.now();
            tracing::debug!(work = ?work, ?outcome, "ran");
            self.scheduler.done(work.clone(), outcome, now);
            ran.work.push((work, outcome));
        }
        ran
    }

    async fn execute<T: Timer + ?Sized>(&mut self, work: &Work, timer: &T) -> Outcome {
        match work {
            Work::Reconcile => self.reconcile(timer).await,
            Work::Restores => self.list_restores(timer).await,
            Work::Restore(id) => self.drive_restore(id, timer).await,
            Work::Backups => self.backups_pass(timer).await,
        }
    }

    /// An error while the fence no longer holds is the leadership's end, not a failure.
    fn failed(&self, work: &str, e: &AppError) -> Outcome {
        if self.fence.check().is_err() || e.category == Category::Contended && !self.leader {
            tracing::info!(work, "stopped: no longer the leader");
            return Outcome::Skipped;
        }
        tracing::warn!(work, error = %e, "failed; will retry");
        Outcome::Failed
    }

    async fn reconcile<T: Timer + ?Sized>(&mut self, timer: &T) -> Outcome {
        if !self.may_write() {
            return Outcome::Skipped;
        }
        let started = std::time::Instant::now();
        let result = self.backend.run_reconcile().await;
        let took = started.elapsed().as_secs_f64();
        let now = timer.now();
        match result {
            Ok(status) => {
                let ok = status.state == ReconcileState::Ok;
                self.metrics.reconciled(ok, took, now);
                let mut current = Vec::new();
                for p in &status.planes {
                    self.plane_clusters.insert(p.plane, p.cluster.clone());
                    if let Some(error) = &p.error {
                        let key = format!("reconcile/{}/{}", p.plane, error);
                        current.push(key.clone());
                        self.report(
                            ClusterEvent::new(
                                p.cluster.clone(),
                                EventType::Warning,
                                "ReconcileFailed",
                                "Reconcile",
                                format!(
                                    "cnpg-backup could not reconcile the backups of the {} plane: {error}",
                                    p.plane
                                ),
                                key,
                                now,
                            ),
                        )
                        .await;
                    }
                }
                self.reported.retain_prefix("reconcile/", &current);
                if ok { Outcome::Done } else { Outcome::Failed }
            }
            Err(e) => {
                self.metrics.reconciled(false, took, now);
                let outcome = self.failed("reconcile", &e);
                if outcome == Outcome::Failed && e.category != Category::Invalid {
                    let key = format!("reconcile/all/{}", e.message);
                    let clusters: Vec<ClusterName> =
                        self.plane_clusters.values().cloned().collect();
                    for cluster in clusters {
                        self.report(ClusterEvent::new(
                            cluster,
                            EventType::Warning,
                            "ReconcileFailed",
                            "Reconcile",
                            format!("cnpg-backup could not reconcile backups: {}", e.message),
                            key.clone(),
                            now,
                        ))
                        .await;
                    }
                    self.reported.retain_prefix("reconcile/", &[key]);
                }
                if e.category == Category::Invalid {
                    // No settings yet, or settings that cannot be planned: a settings change
                    // triggers the next attempt; retrying cannot help.
                    tracing::info!(error = %e, "nothing to reconcile");
                    return Outcome::Done;
                }
                outcome
            }
        }
    }

    async fn report(&mut self, mut event: ClusterEvent) {
        if !self.may_write() {
            return;
        }
        let Some(count) = self.reported.due(&event.key, event.at) else {
            return;
        };
        event.count = count;
        match self.events.publish(&event).await {
            Ok(()) => self.reported.told(&event.key, event.at, count),
            Err(e) => {
                tracing::warn!(error = %e, reason = event.reason, "could not publish an event")
            }
        }
    }

    async fn list_restores<T: Timer + ?Sized>(&mut self, timer: &T) -> Outcome {
        match self.backend.restore_list().await {
            Ok(records) => {
                let now = timer.now();
                let ids: BTreeSet<RestoreId> = records.iter().map(|r| r.id().clone()).collect();
                let gone: Vec<RestoreId> = self
                    .restores
                    .keys()
                    .filter(|id| !ids.contains(*id))
                    .cloned()
                    .collect();
                for id in gone {
                    self.handle(Trigger::Restore(id, None), now);
                }
                for r in &records {
                    self.saw_restore(r, now);
                    if r.advances_unattended() {
                        // At a resync, drive them whatever the fingerprint says.
                        self.scheduler.request(Work::Restore(r.id().clone()), now);
                    }
                }
                Outcome::Done
            }
            Err(e) => self.failed("restores", &e),
        }
    }

    async fn drive_restore<T: Timer + ?Sized>(&mut self, id: &RestoreId, timer: &T) -> Outcome {
        if !self.may_write() {
            return Outcome::Skipped;
        }
        let requeue = self.scheduler.timing().restore_requeue;
        let current = match self.backend.restore_get(id).await {
            Ok(r) => r,
            Err(e) if e.category == Category::NotFound => {
                self.handle(Trigger::Restore(id.clone(), None), timer.now());
                return Outcome::Done;
            }
            Err(e) => return self.failed("restore", &e),
        };
        if !current.advances_unattended() {
            self.saw_restore(&current, timer.now());
            return Outcome::Done;
        }
        match self.backend.restore_refresh(id).await {
            Ok(record) => {
                self.metrics.restore_step(true);
                let phase = record.phase().name();
                tracing::info!(restore = %id, phase = %phase, "restore refreshed");
                // Our own write changed the record: remember it, so its watch event is not a
                // trigger of its own.
                let advances = record.advances_unattended();
                self.saw_restore(&record, timer.now());
                // Also a refresh that moved only the progress text: streams show it.
                self.restore_changed(id);
                self.scheduler.forget(&Work::Restore(id.clone()));
                if advances {
                    Outcome::Again(requeue)
                } else {
                    Outcome::Done
                }
            }
            Err(e) => {
                self.metrics.restore_step(false);
                if e.category == Category::Contended && self.fence.check().is_ok() {
                    // Someone else (a person, a command) stepped the restore meanwhile: look
                    // again soon.
                    return Outcome::Again(Duration::seconds(1));
                }
                self.failed("restore", &e)
            }
        }
    }

    async fn backups_pass<T: Timer + ?Sized>(&mut self, timer: &T) -> Outcome {
        if !self.backups_synced {
            return Outcome::Done;
        }
        let records: Vec<BackupRecord> = self.backups.values().cloned().collect();
        let planes = match self.backend.backup_overview_of(&records).await {
            Ok(p) => p,
            Err(e) if e.category == Category::Invalid => return Outcome::Done,
            Err(e) => return self.failed("backups", &e),
        };
        self.metrics.backups(&planes);
        for p in &planes {
            self.plane_clusters.insert(p.plane, p.cluster.clone());
        }
        let now = timer.now();
        self.report_failed_backups(&planes, &records, now).await;
        self.record_provenance(&records).await;
        Outcome::Done
    }

    /// Writes the bucket's provenance record of each completed Backup not settled yet
    /// ([`Backend::record_backup_provenance`]): one call for all of them, none when every
    /// completed Backup is settled (steady state makes no request). A failure is retried at the
    /// next Backups pass.
    async fn record_provenance(&mut self, records: &[BackupRecord]) {
        if !self.may_write() {
            return;
        }
        let due: Vec<BackupRecord> = records
            .iter()
            .filter(|r| {
                r.phase == BackupPhase::Completed
                    && r.backup_id.is_some()
                    && !self.provenance_done.contains(&r.name)
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        match self.backend.record_backup_provenance(&due).await {
            Ok(outcomes) => {
                for (name, outcome) in outcomes {
                    if let Some(w) = outcome {
                        tracing::info!(backup = %name, outcome = ?w, "provenance record");
                    }
                    self.provenance_done.insert(name);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "provenance records not written; will retry");
            }
        }
    }

    /// How many completed Backups have a settled provenance record (written, already there,
    /// or not ours to write).
    pub fn provenance_settled(&self) -> usize {
        self.provenance_done.len()
    }

    /// A Warning event per failed Backup of a plane cluster, once. The first pass after the
    /// Backups are listed reports only each plane's newest failure, and only when it is newer
    /// than the last completed backup (still relevant): history is not replayed as news.
    async fn report_failed_backups(
        &mut self,
        planes: &[PlaneOverview],
        records: &[BackupRecord],
        now: DateTime<Utc>,
    ) {
        if !self.may_write() {
            return;
        }
        let clusters: BTreeMap<&ClusterName, &PlaneOverview> =
            planes.iter().map(|p| (&p.cluster, p)).collect();
        let mut failed: Vec<&BackupRecord> = records
            .iter()
            .filter(|r| r.phase == BackupPhase::Failed && clusters.contains_key(&r.cluster))
            .collect();
        failed.sort_by_key(|r| (r.ended_at.or(r.started_at), r.name.clone()));
        let baseline = !self.baseline_done;
        self.baseline_done = true;
        for r in failed {
            let key = format!("backup/{}", r.name);
            if self.reported.knows(&key) {
                continue;
            }
            let Some(plane) = clusters.get(&r.cluster) else {
                continue;
            };
            let relevant = plane.health == BackupHealth::Failing
                && plane
                    .last_failure
                    .as_ref()
                    .is_some_and(|f| f.name == r.name);
            if baseline && !relevant {
                self.reported.told(&key, now, 0);
                continue;
            }
            let reason = r.error.as_deref().unwrap_or("CNPG gave no reason");
            self.report(
                ClusterEvent::new(
                    r.cluster.clone(),
                    EventType::Warning,
                    "BackupFailed",
                    "Backup",
                    format!(
                        "backup `{}` of the {} plane failed: {reason}",
                        r.name, plane.plane
                    ),
                    key,
                    now,
                )
                .about_backup(r.name.to_string()),
            )
            .await;
        }
    }

    /// The loop: takes triggers as they come, runs due work, sleeps until the next due time or
    /// trigger; ends when `shutdown` completes (after the work in progress) or the triggers end.
    pub async fn run<S, T, F>(&mut self, triggers: S, timer: &T, shutdown: F)
    where
        S: Stream<Item = Trigger> + Send,
        T: Timer + ?Sized,
        F: Future<Output = ()> + Send,
    {
        let mut triggers = pin!(triggers);
        let mut shutdown = pin!(shutdown.fuse());
        loop {
            // Everything already there first: a burst is one piece of work.
            loop {
                match triggers.next().now_or_never() {
                    Some(Some(t)) => self.handle(t, timer.now()),
                    Some(None) => return,
                    None => break,
                }
            }
            if (&mut shutdown).now_or_never().is_some() {
                return;
            }
            if self.next_due() <= timer.now() {
                self.run_due(timer).await;
                continue;
            }
            let due = self.next_due();
            let sleep = timer.sleep_until(due).fuse();
            let mut sleep = pin!(sleep);
            futures::select_biased! {
                () = shutdown => return,
                t = triggers.next().fuse() => match t {
                    Some(t) => self.handle(t, timer.now()),
                    None => return,
                },
                () = sleep => {}
            }
        }
    }
}
