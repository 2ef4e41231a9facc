//! A CNPG simulator: clusters, Backups and ScheduledBackups on a simulated clock.
//!
//! Applying a plan writes each plane's backup configuration into its cluster's manifest (in-tree
//! `spec.backup.barmanObjectStore` and `retentionPolicy`, or the Barman Cloud plugin entry in
//! `spec.plugins`), and the plan's archive removals take it off again, so the manifest shows
//! whether a cluster archives. A Backup of a cluster without backup configuration is refused.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::bucket::InMemoryBucket;
use super::lock;
use super::store::SimClock;
use crate::automation::{
    AutomationPlan, BARMAN_CLOUD_PLUGIN, BackupMethod, BackupSettings, PlaneBackupPlan,
};
use crate::barman::{BackupInfo, BarmanStatus, backup_info_key};
use crate::catalog::{BackupPhase, BackupRecord, BackupSetId, BarmanBackupId};
use crate::drift::AppVersion;
use crate::names::{ClusterName, ObjectName, Plane, RestoreId, ServerName};
use crate::ports::{
    BackendError, BackupAutomation, BackupCatalogSource, BackupRequest, BucketObjects, Clock,
    ClusterLifecycle, ClusterManifest, ClusterObservation, HEALTHY_PHASE,
};
use crate::restore::{RecoveryClusterSpec, RecoveryTarget};
use crate::schedule::CronSchedule;
use crate::status::{PlaneReconcileStatus, ReconcileState};

/// An operation of the simulator a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimOp {
    /// `ClusterLifecycle::observe`.
    Observe,
    /// `ClusterLifecycle::manifest`.
    Manifest,
    /// `ClusterLifecycle::create`.
    Create,
    /// `ClusterLifecycle::delete`.
    Delete,
    /// `BackupAutomation::apply`.
    Apply,
    /// `BackupAutomation::create_backup`.
    CreateBackup,
    /// `BackupCatalogSource::list_backups`.
    ListBackups,
}

/// An injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this error and has no effect (an API error, or a crash before it).
    Fail(BackendError),
    /// The call takes effect, then reports this error (a timeout, or a crash right after it).
    FailAfterEffect(BackendError),
}

/// Something that changed in the simulated world (the log tests check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimEvent {
    /// A cluster was created.
    ClusterCreated {
        /// Its name.
        name: ClusterName,
        /// The restore that created it.
        restore_id: Option<RestoreId>,
        /// Whether it recreates a live cluster.
        replaces_live: bool,
    },
    /// A cluster was deleted.
    ClusterDeleted {
        /// Its name.
        name: ClusterName,
    },
    /// A Backup object was created.
    BackupCreated {
        /// Its name.
        name: ObjectName,
        /// Whether a ScheduledBackup created it.
        scheduled: bool,
    },
    /// A Backup completed and its `backup.info` was written.
    BackupCompleted {
        /// Its name.
        name: ObjectName,
    },
}

/// What changed in the simulated world, as a watch on the Kubernetes API would report it: the
/// trigger feed of a control loop running on the simulator (see [`Simulator::subscribe`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimChange {
    /// A cluster was created, deleted, or changed (its spec, or its readiness as observed).
    Cluster(ClusterName),
    /// A Backup was created or moved to another phase.
    Backup(ObjectName),
    /// Our ScheduledBackups or ObjectStores changed (a plan with other schedules was applied).
    Automation,
}

/// Computes the next fire times of a schedule (defaults to [`CronSchedule::next_runs`]).
pub type NextRuns =
    Arc<dyn Fn(&CronSchedule, DateTime<Utc>, usize) -> Vec<DateTime<Utc>> + Send + Sync>;

#[derive(Debug, Clone)]
struct SimCluster {
    manifest: ClusterManifest,
    instances: u32,
    restore_id: Option<RestoreId>,
    observations_left: u32,
}

#[derive(Debug, Clone)]
struct SimBackup {
    record: BackupRecord,
    server: ServerName,
    scheduled_by: Option<ObjectName>,
}

struct World {
    settings: BackupSettings,
    clusters: BTreeMap<ClusterName, SimCluster>,
    backups: BTreeMap<ObjectName, SimBackup>,
    plan: Option<AutomationPlan>,
    app_version: Option<AppVersion>,
    last_check: BTreeMap<Plane, DateTime<Utc>>,
    faults: VecDeque<(SimOp, Fault)>,
    never_ready: BTreeSet<ClusterName>,
    ready_after: u32,
    log: Vec<SimEvent>,
    calls: BTreeMap<&'static str, u64>,
    failing: BTreeMap<ClusterName, String>,
    last_tick: Option<DateTime<Utc>>,
    watchers: Vec<futures::channel::mpsc::UnboundedSender<SimChange>>,
}

impl World {
    /// Tells every subscriber (those that went away are dropped).
    fn emit(&mut self, change: SimChange) {
        self.watchers
            .retain(|w| w.unbounded_send(change.clone()).is_ok());
    }
}

/// The `backup_name` CNPG passes to Barman (`-n backup-YYYYMMDDHHMMSS`, UTC).
fn barman_name(at: DateTime<Utc>) -> String {
    format!("backup-{}", at.format("%Y%m%d%H%M%S"))
}

/// The CNPG simulator. Cheap to clone: clones share one world.
///
/// ```
/// use cnpg_backup_core::memory::Simulator;
/// # let settings: cnpg_backup_core::automation::BackupSettings = serde_json::from_value(serde_json::json!({
/// #   "target": {"provider": "local", "bucket": "backups", "credentials": {"kind": "none"}},
/// #   "automation": {"enabled": true, "schedule": {"preset": "daily", "hour": 2, "minute": 0}, "retention": "30d"},
/// #   "appVersion": {"kind": "unknown"}})).unwrap();
/// let sim = Simulator::new(&settings);
/// assert_eq!(sim.cluster_names().len(), 2); // cnpg-admin and cnpg-tenant, healthy
/// futures::executor::block_on(sim.tick()).unwrap();
/// ```
#[derive(Clone)]
pub struct Simulator {
    world: Arc<Mutex<World>>,
    clock: Arc<SimClock>,
    bucket: Arc<dyn BucketObjects>,
    next_runs: NextRuns,
    tick: Duration,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("now", &self.clock.now())
            .field("clusters", &self.cluster_names())
            .finish_non_exhaustive()
    }
}

/// The simulator's default start time: 2026-11-26T00:00:00Z.
fn default_start() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_795_651_200, 0).unwrap_or_default()
}

fn live_manifest(name: &ClusterName, instances: u32) -> ClusterManifest {
    ClusterManifest(json!({
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": { "name": name.as_str(), "labels": { "app.kubernetes.io/part-of": "control-panel" } },
        "spec": {
            "instances": instances,
            "imageName": "ghcr.io/cloudnative-pg/postgresql:17.2",
            "storage": { "size": "10Gi" },
            "bootstrap": { "initdb": { "database": "app", "owner": "app" } }
        }
    }))
}

impl Simulator {
    /// A world with the two live clusters of `settings` healthy (3 instances), an empty
    /// [`InMemoryBucket`], and a clock at 2026-11-26T00:00:00Z.
    pub fn new(settings: &BackupSettings) -> Self {
        Self::with_parts(
            settings,
            Arc::new(SimClock::new(default_start())),
            Arc::new(InMemoryBucket::new()),
        )
    }

    /// A world over the given clock and bucket.
    pub fn with_parts(
        settings: &BackupSettings,
        clock: Arc<SimClock>,
        bucket: Arc<dyn BucketObjects>,
    ) -> Self {
        let mut clusters = BTreeMap::new();
        for plane in Plane::ALL {
            let name = settings.clusters.get(plane).clone();
            clusters.insert(
                name.clone(),
                SimCluster {
                    manifest: live_manifest(&name, 3),
                    instances: 3,
                    restore_id: None,
                    observations_left: 0,
                },
            );
        }
        Self {
            world: Arc::new(Mutex::new(World {
                settings: settings.clone(),
                clusters,
                backups: BTreeMap::new(),
                plan: None,
                app_version: None,
                last_check: BTreeMap::new(),
                faults: VecDeque::new(),
                never_ready: BTreeSet::new(),
                ready_after: 2,
                log: Vec::new(),
                calls: BTreeMap::new(),
                failing: BTreeMap::new(),
                last_tick: Some(clock.now()),
                watchers: Vec::new(),
            })),
            clock,
            bucket,
            next_runs: Arc::new(|cron, from, k| cron.next_runs(from, k)),
            tick: Duration::minutes(1),
        }
    }

    /// Replaces how schedules are evaluated (a stand-in for tests).
    pub fn with_next_runs(mut self, next_runs: NextRuns) -> Self {
        self.next_runs = next_runs;
        self
    }

    /// Clusters created from now on become ready after `n` observations (default 2).
    pub fn with_ready_after(self, n: u32) -> Self {
        lock(&self.world).ready_after = n;
        self
    }

    /// The simulated clock.
    pub fn clock(&self) -> Arc<SimClock> {
        self.clock.clone()
    }

    /// The bucket Backups are written to.
    pub fn bucket(&self) -> Arc<dyn BucketObjects> {
        self.bucket.clone()
    }

    /// Now, on the simulated clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Injects a fault into the next call of `op` (faults are used in order).
    pub fn inject(&self, op: SimOp, fault: Fault) {
        lock(&self.world).faults.push_back((op, fault));
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.world).faults.clear();
    }

    /// The named cluster never becomes ready.
    pub fn never_ready(&self, name: &ClusterName) {
        lock(&self.world).never_ready.insert(name.clone());
    }

    /// Lets a cluster marked with [`Simulator::never_ready`] become ready again.
    pub fn heal(&self, name: &ClusterName) {
        lock(&self.world).never_ready.remove(name);
    }

    /// Deletes a cluster behind the engine's back (an outside actor).
    pub fn remove_cluster(&self, name: &ClusterName) {
        let mut w = lock(&self.world);
        if w.clusters.remove(name).is_some() {
            w.log.push(SimEvent::ClusterDeleted { name: name.clone() });
            w.emit(SimChange::Cluster(name.clone()));
        }
    }

    /// Edits a cluster's manifest behind the engine's back (an outside actor, e.g. someone who
    /// drops its backup configuration with `kubectl edit`). Returns false when it does not exist.
    pub fn edit_cluster(&self, name: &ClusterName, edit: impl FnOnce(&mut Value)) -> bool {
        let mut w = lock(&self.world);
        let Some(c) = w.clusters.get_mut(name) else {
            return false;
        };
        let before = c.manifest.0.clone();
        edit(&mut c.manifest.0);
        if c.manifest.0 != before {
            w.emit(SimChange::Cluster(name.clone()));
        }
        true
    }

    /// From now on, backups of `cluster` fail with `reason` when they would complete (`None`:
    /// they complete again), writing a `FAILED` `backup.info` as Barman does.
    pub fn fail_backups(&self, cluster: &ClusterName, reason: Option<&str>) {
        let mut w = lock(&self.world);
        match reason {
            Some(r) => w.failing.insert(cluster.clone(), r.to_owned()),
            None => w.failing.remove(cluster),
        };
    }

    /// The record of one Backup, as a watch on it would show it.
    pub fn backup(&self, name: &ObjectName) -> Option<BackupRecord> {
        lock(&self.world)
            .backups
            .get(name)
            .map(|b| b.record.clone())
    }

    /// A feed of what changes from now on, as a watch would report it. Dropping the receiver
    /// unsubscribes.
    pub fn subscribe(&self) -> futures::channel::mpsc::UnboundedReceiver<SimChange> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        lock(&self.world).watchers.push(tx);
        rx
    }

    /// Names of the clusters that exist.
    pub fn cluster_names(&self) -> Vec<ClusterName> {
        lock(&self.world).clusters.keys().cloned().collect()
    }

    /// Whether `name` exists and would be observed ready now (does not count as an observation).
    pub fn is_ready(&self, name: &ClusterName) -> bool {
        let w = lock(&self.world);
        w.clusters
            .get(name)
            .is_some_and(|c| c.observations_left == 0 && !w.never_ready.contains(name))
    }

    /// The restore id label of a cluster, if it exists.
    pub fn restore_label(&self, name: &ClusterName) -> Option<Option<RestoreId>> {
        lock(&self.world)
            .clusters
            .get(name)
            .map(|c| c.restore_id.clone())
    }

    /// The manifest of a cluster, if it exists.
    pub fn manifest_of(&self, name: &ClusterName) -> Option<ClusterManifest> {
        lock(&self.world)
            .clusters
            .get(name)
            .map(|c| c.manifest.clone())
    }

    /// Everything that changed, in order.
    pub fn events(&self) -> Vec<SimEvent> {
        lock(&self.world).log.clone()
    }

    /// How often a port method was called (`"create"`, `"delete"`, `"observe"`, ...).
    pub fn calls(&self, method: &str) -> u64 {
        lock(&self.world).calls.get(method).copied().unwrap_or(0)
    }

    /// The plan last applied.
    pub fn applied_plan(&self) -> Option<AutomationPlan> {
        lock(&self.world).plan.clone()
    }

    /// Advances the clock by one tick (one minute), moves every Backup one phase on
    /// (pending → running → completed, writing `backup.info`), and fires due schedules.
    ///
    /// # Errors
    /// [`BackendError`] when the bucket refuses a write.
    pub async fn tick(&self) -> Result<(), BackendError> {
        self.clock.advance(self.tick);
        self.process_tick().await
    }

    /// When the next tick falls: one tick after the last (or after the start).
    pub fn next_tick_at(&self) -> DateTime<Utc> {
        let last = lock(&self.world).last_tick;
        last.unwrap_or_else(|| self.clock.now()) + self.tick
    }

    /// Moves the clock to `t` (never back), running a tick at each tick time on the way, so
    /// that a caller moving time in steps shorter than a tick (a control loop's timers) sees
    /// Backups move on and schedules fire as with [`Simulator::advance`].
    ///
    /// # Errors
    /// [`BackendError`] when the bucket refuses a write.
    pub async fn advance_to(&self, t: DateTime<Utc>) -> Result<(), BackendError> {
        loop {
            let next = self.next_tick_at();
            if next > t {
                break;
            }
            if self.clock.now() < next {
                self.clock.set(next);
            }
            self.process_tick().await?;
        }
        if self.clock.now() < t {
            self.clock.set(t);
        }
        Ok(())
    }

    /// Every Backup, as a watch's first listing shows them (not counted as a call).
    pub fn backups(&self) -> Vec<BackupRecord> {
        lock(&self.world)
            .backups
            .values()
            .map(|b| b.record.clone())
            .collect()
    }

    async fn process_tick(&self) -> Result<(), BackendError> {
        let now = self.clock.now();
        let mut writes: Vec<(String, Vec<u8>)> = Vec::new();
        {
            let mut w = lock(&self.world);
            w.last_tick = Some(now);
            let prefix = w.settings.target.prefix.clone();
            let failing = w.failing.clone();
            let mut completed = Vec::new();
            let mut moved = Vec::new();
            for (name, b) in &mut w.backups {
                match b.record.phase {
                    BackupPhase::Pending => {
                        b.record.phase = BackupPhase::Running;
                        b.record.started_at = Some(now);
                        let id: BarmanBackupId =
                            now.format("%Y%m%dT%H%M%S").to_string().parse().map_err(
                                |e: crate::names::NameError| BackendError::Invalid {
                                    detail: e.to_string(),
                                },
                            )?;
                        let mut info = BackupInfo::new(BarmanStatus::Started);
                        // Like CNPG: Barman's `--name` is `backup-<UTC stamp>`, not the CR name.
                        info.backup_name = Some(barman_name(now));
                        info.begin_time = Some(now);
                        info.server_name = Some("cloud".to_owned());
                        writes.push((
                            backup_info_key(&prefix, &b.server, &id),
                            info.render().into_bytes(),
                        ));
                        b.record.backup_id = Some(id);
                        moved.push(name.clone());
                    }
                    BackupPhase::Running | BackupPhase::Started | BackupPhase::Finalizing => {
                        let failure = failing.get(&b.record.cluster).cloned();
                        b.record.phase = if failure.is_some() {
                            BackupPhase::Failed
                        } else {
                            BackupPhase::Completed
                        };
                        b.record.ended_at = Some(now);
                        b.record.error.clone_from(&failure);
                        if let Some(id) = &b.record.backup_id {
                            let status = if failure.is_some() {
                                BarmanStatus::Failed
                            } else {
                                BarmanStatus::Done
                            };
                            let mut info = BackupInfo::new(status);
                            info.backup_name = b.record.started_at.map(barman_name);
                            info.begin_time = b.record.started_at;
                            info.end_time = Some(now);
                            info.begin_wal = Some("000000010000000000000002".to_owned());
                            info.end_wal = Some("000000010000000000000003".to_owned());
                            info.timeline = Some(1);
                            info.server_name = Some("cloud".to_owned());
                            info.pg_version = Some(170_002);
                            info.error.clone_from(&failure);
                            writes.push((
                                backup_info_key(&prefix, &b.server, id),
                                info.render().into_bytes(),
                            ));
                            if failure.is_none() {
                                let wal = crate::barman::wals_prefix(&prefix, &b.server);
                                writes.push((
                                    format!("{wal}0000000100000000/000000010000000000000003"),
                                    b"wal".to_vec(),
                                ));
                            }
                        }
                        if failure.is_none() {
                            completed.push(name.clone());
                        }
                        moved.push(name.clone());
                    }
                    _ => {}
                }
            }
            for name in completed {
                w.log.push(SimEvent::BackupCompleted { name });
            }
            for name in moved {
                w.emit(SimChange::Backup(name));
            }
            self.fire_schedules(&mut w, now);
        }
        for (key, bytes) in writes {
            self.bucket.put(&key, bytes).await?;
        }
        Ok(())
    }

    /// Ticks until `by` has passed (at least one tick).
    ///
    /// # Errors
    /// [`BackendError`] when the bucket refuses a write.
    pub async fn advance(&self, by: Duration) -> Result<(), BackendError> {
        let ticks = (by.num_seconds() / self.tick.num_seconds().max(1)).max(1);
        for _ in 0..ticks {
            self.tick().await?;
        }
        Ok(())
    }

    fn fire_schedules(&self, w: &mut World, now: DateTime<Utc>) {
        let Some(plan) = w.plan.clone() else {
            return;
        };
        for p in &plan.planes {
            let Some(sb) = &p.scheduled_backup else {
                continue;
            };
            if sb.suspend {
                continue;
            }
            let last = w.last_check.get(&p.plane).copied().unwrap_or(now);
            let due = (self.next_runs)(&sb.schedule, last, 1)
                .into_iter()
                .next()
                .filter(|t| *t <= now);
            let Some(slot) = due else {
                continue;
            };
            let busy = w.backups.values().any(|b| {
                b.scheduled_by.as_ref() == Some(&sb.name) && b.record.phase.is_in_progress()
            });
            w.last_check.insert(p.plane, now);
            if busy {
                continue;
            }
            let stamp = slot.format("%Y%m%d%H%M%S").to_string();
            let (Ok(name), Ok(set)) = (
                format!("{}-{stamp}", sb.name).parse::<ObjectName>(),
                BackupSetId::scheduled_at(slot),
            ) else {
                continue;
            };
            let mut record = BackupRecord::new(name.clone(), p.cluster.clone(), sb.method);
            record.backup_set_id = Some(set);
            record.app_version = w.app_version.clone();
            record.server_name = Some(p.server_name.clone());
            w.backups.insert(
                name.clone(),
                SimBackup {
                    record,
                    server: p.server_name.clone(),
                    scheduled_by: Some(sb.name.clone()),
                },
            );
            w.log.push(SimEvent::BackupCreated {
                name: name.clone(),
                scheduled: true,
            });
            w.emit(SimChange::Backup(name));
        }
    }

    fn enter(&self, op: SimOp, method: &'static str) -> Result<Option<BackendError>, BackendError> {
        let mut w = lock(&self.world);
        *w.calls.entry(method).or_default() += 1;
        let Some(i) = w.faults.iter().position(|(o, _)| *o == op) else {
            return Ok(None);
        };
        match w.faults.remove(i) {
            Some((_, Fault::Fail(e))) => Err(e),
            Some((_, Fault::FailAfterEffect(e))) => Ok(Some(e)),
            None => Ok(None),
        }
    }
}

fn after(effect_error: Option<BackendError>) -> Result<(), BackendError> {
    match effect_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `v` as a JSON object, replacing anything else with an empty one (never `None`).
fn object(v: &mut Value) -> Option<&mut Map<String, Value>> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
}

/// Whether `entry` of `spec.plugins` is the Barman Cloud plugin naming ObjectStore `store`.
fn is_plugin_entry(entry: &Value, store: &str) -> bool {
    entry["name"] == BARMAN_CLOUD_PLUGIN && entry["parameters"]["barmanObjectName"] == store
}

/// Takes the in-tree configuration (`barmanObjectStore`, `retentionPolicy`) off `spec.backup`.
fn remove_in_tree(spec: &mut Map<String, Value>) {
    if let Some(backup) = spec.get_mut("backup").and_then(Value::as_object_mut) {
        backup.remove("barmanObjectStore");
        backup.remove("retentionPolicy");
        if backup.is_empty() {
            spec.remove("backup");
        }
    }
}

/// Takes the Barman Cloud plugin entry naming ObjectStore `store` off `spec.plugins`, keeping
/// the other entries.
fn remove_plugin_entry(spec: &mut Map<String, Value>, store: &str) {
    if let Some(list) = spec.get_mut("plugins").and_then(Value::as_array_mut) {
        list.retain(|e| !is_plugin_entry(e, store));
        if list.is_empty() {
            spec.remove("plugins");
        }
    }
}

/// Writes `plan`'s backup configuration into a cluster manifest, as the Kubernetes adapter does
/// on the live Cluster (and drops that of the other method).
fn configure_backup(manifest: &mut Value, plan: &PlaneBackupPlan) {
    let store = plan
        .object_store_name
        .as_ref()
        .map_or_else(|| format!("{}-store", plan.cluster), ToString::to_string);
    let Some(spec) = object(&mut manifest["spec"]) else {
        return;
    };
    match plan.method {
        BackupMethod::BarmanObjectStore => {
            remove_plugin_entry(spec, &store);
            let Some(backup) = object(spec.entry("backup").or_insert(Value::Null)) else {
                return;
            };
            backup.insert(
                "barmanObjectStore".to_owned(),
                json!({
                    "destinationPath": plan.destination_path,
                    "serverName": plan.server_name.as_str(),
                }),
            );
            backup.insert(
                "retentionPolicy".to_owned(),
                json!(plan.retention.to_string()),
            );
        }
        BackupMethod::Plugin => {
            remove_in_tree(spec);
            let entry = json!({
                "name": BARMAN_CLOUD_PLUGIN,
                "isWALArchiver": true,
                "parameters": {
                    "barmanObjectName": store,
                    "serverName": plan.server_name.as_str(),
                },
            });
            let list = spec.entry("plugins").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            if let Some(list) = list.as_array_mut() {
                match list.iter_mut().find(|e| e["name"] == BARMAN_CLOUD_PLUGIN) {
                    Some(slot) => *slot = entry,
                    None => list.push(entry),
                }
            }
        }
    }
}

/// The archive server of a manifest's backup configuration (in-tree first, then the Barman
/// Cloud plugin entry), or `None` when the cluster has no backup configuration.
fn archive_config(manifest: &Value) -> Option<Option<ServerName>> {
    let spec = &manifest["spec"];
    let in_tree = &spec["backup"]["barmanObjectStore"];
    if in_tree.is_object() {
        return Some(in_tree["serverName"].as_str().and_then(|s| s.parse().ok()));
    }
    spec["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == BARMAN_CLOUD_PLUGIN)
        .map(|e| {
            e["parameters"]["serverName"]
                .as_str()
                .and_then(|s| s.parse().ok())
        })
}

fn recovery_manifest(base: &ClusterManifest, spec: &RecoveryClusterSpec) -> ClusterManifest {
    let mut m = base.0.clone();
    let target = match &spec.target {
        RecoveryTarget::Backup { backup_id, .. } => json!({ "backupID": backup_id.as_str() }),
        RecoveryTarget::PointInTime {
            target_time,
            backup_id,
        } => {
            let mut t = json!({ "targetTime": target_time.to_rfc3339() });
            if let Some(id) = backup_id {
                t["backupID"] = json!(id.as_str());
            }
            t
        }
    };
    m["metadata"] = json!({
        "name": spec.name.as_str(),
        "labels": { "cnpg-backup.io/restore-id": spec.restore_id.as_str() },
    });
    if let Some(n) = spec.instances {
        m["spec"]["instances"] = json!(n);
    }
    m["spec"]["bootstrap"] = json!({
        "recovery": { "source": "origin", "recoveryTarget": target }
    });
    m["spec"]["externalClusters"] = json!([{
        "name": "origin",
        "barmanObjectStore": { "serverName": spec.source_server.as_str() }
    }]);
    m["spec"]["backup"] =
        json!({ "barmanObjectStore": { "serverName": spec.archive_server.as_str() } });
    // Never archive into the live archive through the live cluster's plugin entry.
    if let Some(list) = m["spec"].get_mut("plugins").and_then(Value::as_array_mut) {
        list.retain(|e| e["name"] != BARMAN_CLOUD_PLUGIN);
    }
    ClusterManifest(m)
}

#[async_trait::async_trait]
impl ClusterLifecycle for Simulator {
    async fn observe(
        &self,
        name: &ClusterName,
    ) -> Result<Option<ClusterObservation>, BackendError> {
        let late = self.enter(SimOp::Observe, "observe")?;
        let mut w = lock(&self.world);
        let never = w.never_ready.contains(name);
        let Some(c) = w.clusters.get_mut(name) else {
            return after(late).map(|()| None);
        };
        let mut became_ready = false;
        if c.observations_left > 0 && !never {
            c.observations_left -= 1;
            became_ready = c.observations_left == 0;
        }
        let mut o = ClusterObservation::new(name.clone(), c.instances);
        o.restore_id = c.restore_id.clone();
        if c.observations_left == 0 && !never {
            o.phase = Some(HEALTHY_PHASE.to_owned());
            o.ready_condition = true;
            o.ready_instances = c.instances;
        } else {
            o.phase = Some("Setting up primary".to_owned());
            o.detail = Some(if never {
                "recovery job failing (simulated)".to_owned()
            } else {
                "restoring from the archive".to_owned()
            });
        }
        if became_ready {
            // CNPG would update the cluster's status now: a watch sees it.
            w.emit(SimChange::Cluster(name.clone()));
        }
        drop(w);
        after(late).map(|()| Some(o))
    }

    async fn manifest(&self, name: &ClusterName) -> Result<ClusterManifest, BackendError> {
        let late = self.enter(SimOp::Manifest, "manifest")?;
        let m = lock(&self.world)
            .clusters
            .get(name)
            .map(|c| c.manifest.clone())
            .ok_or_else(|| BackendError::NotFound {
                what: format!("cluster `{name}`"),
            })?;
        after(late).map(|()| m)
    }

    async fn create(
        &self,
        base: &ClusterManifest,
        spec: &RecoveryClusterSpec,
    ) -> Result<(), BackendError> {
        let late = self.enter(SimOp::Create, "create")?;
        let mut w = lock(&self.world);
        if let Some(existing) = w.clusters.get(&spec.name) {
            return if existing.restore_id.as_ref() == Some(&spec.restore_id) {
                after(late)
            } else {
                Err(BackendError::AlreadyExists {
                    what: format!("cluster `{}`", spec.name),
                })
            };
        }
        let manifest = recovery_manifest(base, spec);
        let instances = manifest.0["spec"]["instances"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1);
        let ready_after = w.ready_after;
        w.clusters.insert(
            spec.name.clone(),
            SimCluster {
                manifest,
                instances,
                restore_id: Some(spec.restore_id.clone()),
                observations_left: ready_after,
            },
        );
        w.log.push(SimEvent::ClusterCreated {
            name: spec.name.clone(),
            restore_id: Some(spec.restore_id.clone()),
            replaces_live: spec.replaces_live,
        });
        w.emit(SimChange::Cluster(spec.name.clone()));
        drop(w);
        after(late)
    }

    async fn delete(&self, name: &ClusterName) -> Result<(), BackendError> {
        let late = self.enter(SimOp::Delete, "delete")?;
        let mut w = lock(&self.world);
        if w.clusters.remove(name).is_some() {
            w.log.push(SimEvent::ClusterDeleted { name: name.clone() });
            w.emit(SimChange::Cluster(name.clone()));
        }
        drop(w);
        after(late)
    }
}

#[async_trait::async_trait]
impl BackupAutomation for Simulator {
    async fn apply<'a>(
        &self,
        plan: &AutomationPlan,
        app_version: Option<&'a AppVersion>,
    ) -> Result<Vec<PlaneReconcileStatus>, BackendError> {
        let late = self.enter(SimOp::Apply, "apply")?;
        let now = self.clock.now();
        let mut w = lock(&self.world);
        let previous = w.plan.clone();
        let mut changed: Vec<ClusterName> = Vec::new();
        // One status per plane the plan touches, in plane order.
        let mut out: BTreeMap<Plane, PlaneReconcileStatus> = BTreeMap::new();
        for p in &plan.planes {
            let Some(c) = w.clusters.get_mut(&p.cluster) else {
                out.insert(
                    p.plane,
                    PlaneReconcileStatus::new(
                        p.plane,
                        p.cluster.clone(),
                        ReconcileState::Error,
                        Some(format!("cluster `{}` not found", p.cluster)),
                        0,
                    ),
                );
                continue;
            };
            let mut manifest = c.manifest.0.clone();
            configure_backup(&mut manifest, p);
            let reconfigured = manifest != c.manifest.0;
            c.manifest.0 = manifest;
            if reconfigured {
                changed.push(p.cluster.clone());
            }
            let before = previous
                .as_ref()
                .and_then(|prev| prev.planes.iter().find(|q| q.plane == p.plane));
            let writes = u32::from(before != Some(p) || reconfigured);
            if p.scheduled_backup.as_ref().is_some_and(|sb| sb.immediate) && before.is_none() {
                // immediate: the first run fires now.
                w.last_check.insert(p.plane, now - Duration::days(400));
            } else if before.is_none() {
                w.last_check.insert(p.plane, now);
            }
            out.insert(
                p.plane,
                PlaneReconcileStatus::new(
                    p.plane,
                    p.cluster.clone(),
                    ReconcileState::Ok,
                    None,
                    writes,
                ),
            );
        }
        for r in &plan.removals {
            let had = previous.as_ref().is_some_and(|prev| {
                prev.planes
                    .iter()
                    .any(|q| q.plane == r.plane && q.scheduled_backup.is_some())
            });
            out.entry(r.plane)
                .or_insert_with(|| {
                    PlaneReconcileStatus::new(
                        r.plane,
                        r.cluster.clone(),
                        ReconcileState::Ok,
                        None,
                        0,
                    )
                })
                .writes += u32::from(had);
        }
        // The target is no longer used for backups: take our configuration off the cluster, so
        // WAL archiving stops (a cluster that is gone archives nothing: nothing to do).
        for r in &plan.archive_removals {
            let mut writes = 0;
            if let Some(c) = w.clusters.get_mut(&r.cluster) {
                let mut manifest = c.manifest.0.clone();
                if let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) {
                    match (r.method, &r.object_store_name) {
                        (BackupMethod::BarmanObjectStore, _) => remove_in_tree(spec),
                        (BackupMethod::Plugin, Some(store)) => {
                            remove_plugin_entry(spec, store.as_str());
                        }
                        (BackupMethod::Plugin, None) => {
                            remove_plugin_entry(spec, &format!("{}-store", r.cluster));
                        }
                    }
                }
                writes = u32::from(manifest != c.manifest.0);
                if manifest != c.manifest.0 {
                    changed.push(r.cluster.clone());
                }
                c.manifest.0 = manifest;
            }
            out.entry(r.plane)
                .or_insert_with(|| {
                    PlaneReconcileStatus::new(
                        r.plane,
                        r.cluster.clone(),
                        ReconcileState::Ok,
                        None,
                        0,
                    )
                })
                .writes += writes;
        }
        let schedules = |p: Option<&AutomationPlan>| {
            p.map(|p| {
                p.planes
                    .iter()
                    .map(|q| {
                        (
                            q.plane,
                            q.scheduled_backup.clone(),
                            q.object_store_name.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        };
        let automation_changed = schedules(previous.as_ref()) != schedules(Some(plan));
        w.plan = Some(plan.clone());
        w.app_version = app_version.cloned();
        for c in changed {
            w.emit(SimChange::Cluster(c));
        }
        if automation_changed {
            w.emit(SimChange::Automation);
        }
        drop(w);
        after(late).map(|()| out.into_values().collect())
    }

    async fn create_backup(&self, request: &BackupRequest) -> Result<(), BackendError> {
        let late = self.enter(SimOp::CreateBackup, "create_backup")?;
        let mut w = lock(&self.world);
        if w.backups.contains_key(&request.name) {
            return Err(BackendError::AlreadyExists {
                what: format!("backup `{}`", request.name),
            });
        }
        if !w.clusters.contains_key(&request.cluster) {
            return Err(BackendError::NotFound {
                what: format!("cluster `{}`", request.cluster),
            });
        }
        // Like CNPG, a cluster without backup configuration cannot take a backup. A cluster
        // recreated by a restore archives under the fresh server name in its manifest.
        let Some(configured) = w
            .clusters
            .get(&request.cluster)
            .and_then(|c| archive_config(&c.manifest.0))
        else {
            return Err(BackendError::Conflict {
                what: format!("backup of cluster `{}`", request.cluster),
                detail: "the cluster has no backup configuration (WAL archiving to the target \
                         was stopped, or never set up); use the target for backups and \
                         reconcile first"
                    .to_owned(),
            });
        };
        let server =
            configured.unwrap_or_else(|| w.settings.target.server_name_for(&request.cluster));
        let mut record = BackupRecord::new(
            request.name.clone(),
            request.cluster.clone(),
            request.method,
        );
        record.backup_set_id = Some(request.set_id.clone());
        record.app_version = request.app_version.clone();
        record.server_name = Some(server.clone());
        w.backups.insert(
            request.name.clone(),
            SimBackup {
                record,
                server,
                scheduled_by: None,
            },
        );
        w.log.push(SimEvent::BackupCreated {
            name: request.name.clone(),
            scheduled: false,
        });
        w.emit(SimChange::Backup(request.name.clone()));
        drop(w);
        after(late)
    }
}

#[async_trait::async_trait]
impl BackupCatalogSource for Simulator {
    async fn list_backups(&self, cluster: &ClusterName) -> Result<Vec<BackupRecord>, BackendError> {
        let late = self.enter(SimOp::ListBackups, "list_backups")?;
        let out = lock(&self.world)
            .backups
            .values()
            .filter(|b| &b.record.cluster == cluster)
            .map(|b| b.record.clone())
            .collect();
        after(late).map(|()| out)
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::automation::plan;
    use crate::barman::BackupInfo;

    fn settings() -> BackupSettings {
        serde_json::from_value(json!({
            "target": {"provider": "local", "bucket": "b", "prefix": "cp", "credentials": {"kind": "none"}},
            "automation": {"enabled": true, "schedule": {"preset": "hourly", "minute": 0}, "retention": "7d"},
            "appVersion": {"kind": "unknown"}
        }))
        .unwrap()
    }

    /// A stand-in for the robfig evaluation: every full hour.
    fn hourly() -> NextRuns {
        Arc::new(|_, from, k| {
            let base = from.timestamp() - from.timestamp().rem_euclid(3600);
            (1..=k as i64)
                .filter_map(|i| DateTime::<Utc>::from_timestamp(base + i * 3600, 0))
                .collect()
        })
    }

    #[test]
    fn scheduled_backups_fire_on_the_simulated_clock_and_write_backup_info() {
        block_on(async {
            let sim = Simulator::new(&settings()).with_next_runs(hourly());
            let p = plan(&settings()).unwrap();
            sim.apply(&p, Some(&"1.2.3".parse().unwrap()))
                .await
                .unwrap();
            sim.advance(Duration::minutes(59)).await.unwrap();
            assert!(sim.events().is_empty(), "nothing fires before the slot");
            sim.advance(Duration::minutes(3)).await.unwrap();
            let created: Vec<_> = sim
                .events()
                .into_iter()
                .filter_map(|e| match e {
                    SimEvent::BackupCreated {
                        name,
                        scheduled: true,
                    } => Some(name.to_string()),
                    _ => None,
                })
                .collect();
            assert_eq!(
                created,
                vec![
                    "cnpg-admin-cnpg-backup-20261126010000",
                    "cnpg-tenant-cnpg-backup-20261126010000"
                ]
            );
            let admin = sim
                .list_backups(&"cnpg-admin".parse().unwrap())
                .await
                .unwrap();
            assert_eq!(admin.len(), 1);
            assert_eq!(admin[0].phase, BackupPhase::Completed);
            assert_eq!(
                admin[0].backup_set_id.as_ref().unwrap().as_str(),
                "s-20261126010000"
            );
            assert_eq!(admin[0].app_version.as_ref().unwrap().to_string(), "1.2.3");
            let id = admin[0].backup_id.clone().unwrap();
            let key = backup_info_key("cp", &"cnpg-admin".parse().unwrap(), &id);
            let info = BackupInfo::parse(&sim.bucket().get(&key).await.unwrap()).unwrap();
            assert_eq!(info.status, BarmanStatus::Done);
            assert_eq!(info.end_time, admin[0].ended_at);
        });
    }

    #[test]
    fn scheduled_backups_fire_from_the_real_cron_evaluation() {
        block_on(async {
            let sim = Simulator::new(&settings());
            sim.apply(&plan(&settings()).unwrap(), None).await.unwrap();
            sim.advance(Duration::hours(3)).await.unwrap();
            let fired = sim
                .events()
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        SimEvent::BackupCreated {
                            scheduled: true,
                            ..
                        }
                    )
                })
                .count();
            assert_eq!(fired, 6, "hourly at minute 0, two planes, three hours");
        });
    }

    #[test]
    fn suspended_schedules_and_converged_apply() {
        block_on(async {
            let mut s = settings();
            s.automation.suspend = true;
            let sim = Simulator::new(&s).with_next_runs(hourly());
            let p = plan(&s).unwrap();
            let first = sim.apply(&p, None).await.unwrap();
            assert_eq!(first.iter().map(|s| s.writes).sum::<u32>(), 2);
            let second = sim.apply(&p, None).await.unwrap();
            assert_eq!(
                second.iter().map(|s| s.writes).sum::<u32>(),
                0,
                "converged: no writes"
            );
            sim.advance(Duration::hours(3)).await.unwrap();
            assert!(sim.events().is_empty());
        });
    }

    fn request(cluster: &str, name: &str, method: BackupMethod) -> BackupRequest {
        BackupRequest::new(
            name.parse().unwrap(),
            Plane::Admin,
            cluster.parse().unwrap(),
            method,
            BackupSetId::scheduled_at(DateTime::<Utc>::from_timestamp(0, 0).unwrap()).unwrap(),
            None,
        )
    }

    #[test]
    fn archiving_stops_when_the_target_is_no_longer_used() {
        block_on(async {
            for method in [BackupMethod::Plugin, BackupMethod::BarmanObjectStore] {
                let mut s = settings();
                s.automation.method = method;
                let sim = Simulator::new(&s);
                let admin: ClusterName = "cnpg-admin".parse().unwrap();
                // A plugin entry of someone else stays whatever we do.
                {
                    let mut w = lock(&sim.world);
                    let c = w.clusters.get_mut(&admin).unwrap();
                    c.manifest.0["spec"]["plugins"] = json!([{"name": "other.example.io"}]);
                }
                // A cluster without backup configuration cannot take a backup.
                let refused = sim
                    .create_backup(&request("cnpg-admin", "b0", method))
                    .await;
                assert!(
                    matches!(&refused, Err(BackendError::Conflict { detail, .. })
                        if detail.contains("no backup configuration")),
                    "{refused:?}"
                );

                sim.apply(&plan(&s).unwrap(), None).await.unwrap();
                let m = sim.manifest_of(&admin).unwrap().0;
                match method {
                    BackupMethod::Plugin => {
                        assert_eq!(m["spec"]["plugins"][0]["name"], "other.example.io");
                        assert_eq!(m["spec"]["plugins"][1]["name"], BARMAN_CLOUD_PLUGIN);
                        assert_eq!(
                            m["spec"]["plugins"][1]["parameters"]["barmanObjectName"],
                            "cnpg-admin-store"
                        );
                        assert!(m["spec"].get("backup").is_none());
                    }
                    BackupMethod::BarmanObjectStore => {
                        assert_eq!(
                            m["spec"]["backup"]["barmanObjectStore"]["serverName"],
                            "cnpg-admin"
                        );
                        assert_eq!(m["spec"]["backup"]["retentionPolicy"], "7d");
                    }
                }
                sim.create_backup(&request("cnpg-admin", "b1", method))
                    .await
                    .unwrap();

                s.target.use_for_backups = false;
                let off = plan(&s).unwrap();
                let first = sim.apply(&off, None).await.unwrap();
                let writes: Vec<(Plane, u32)> = first.iter().map(|p| (p.plane, p.writes)).collect();
                assert_eq!(
                    writes,
                    [(Plane::Admin, 2), (Plane::Tenant, 2)],
                    "schedule and configuration removed, one status per plane"
                );
                let m = sim.manifest_of(&admin).unwrap().0;
                assert!(m["spec"].get("backup").is_none(), "{m}");
                assert_eq!(m["spec"]["plugins"], json!([{"name": "other.example.io"}]));
                let again = sim.apply(&off, None).await.unwrap();
                assert_eq!(again.iter().map(|p| p.writes).sum::<u32>(), 0, "converged");

                let refused = sim
                    .create_backup(&request("cnpg-admin", "b2", method))
                    .await;
                assert!(
                    matches!(&refused, Err(BackendError::Conflict { detail, .. })
                        if detail.contains("WAL archiving to the target was stopped")),
                    "{refused:?}"
                );
                sim.advance(Duration::hours(3)).await.unwrap();
                let fired = sim
                    .events()
                    .iter()
                    .filter(|e| {
                        matches!(
                            e,
                            SimEvent::BackupCreated {
                                scheduled: true,
                                ..
                            }
                        )
                    })
                    .count();
                assert_eq!(fired, 0, "no schedule fires any more");
            }
        });
    }

    #[test]
    fn recovery_clusters_become_ready_after_observations_unless_stuck() {
        block_on(async {
            let sim = Simulator::new(&settings()).with_ready_after(3);
            let live: ClusterName = "cnpg-admin".parse().unwrap();
            let base = sim.manifest(&live).await.unwrap();
            let id: RestoreId = "r1".parse().unwrap();
            let name: ClusterName = "tmp".parse().unwrap();
            let spec = RecoveryClusterSpec::new(
                name.clone(),
                Plane::Admin,
                id.clone(),
                live.clone(),
                live.default_server_name(),
                RecoveryTarget::PointInTime {
                    target_time: sim.now(),
                    backup_id: None,
                },
                "tmp-r-r1".parse().unwrap(),
                Some(1),
                Default::default(),
                false,
            );
            sim.create(&base, &spec).await.unwrap();
            let mut seen = Vec::new();
            for _ in 0..4 {
                seen.push(sim.observe(&name).await.unwrap().unwrap().is_ready());
            }
            assert_eq!(seen, vec![false, false, true, true]);
            let m = sim.manifest(&name).await.unwrap();
            assert!(m.0["spec"]["bootstrap"]["recovery"].is_object());
            assert_eq!(m.0["spec"]["instances"], 1);

            sim.never_ready(&name);
            assert!(!sim.observe(&name).await.unwrap().unwrap().is_ready());
            sim.heal(&name);
            assert!(sim.observe(&name).await.unwrap().unwrap().is_ready());
        });
    }

    #[test]
    fn subscribers_see_what_a_watch_would_report() {
        block_on(async {
            let sim = Simulator::new(&settings()).with_next_runs(hourly());
            let mut feed = sim.subscribe();
            let admin: ClusterName = "cnpg-admin".parse().unwrap();
            let drain = |feed: &mut futures::channel::mpsc::UnboundedReceiver<SimChange>| {
                let mut out = Vec::new();
                while let Ok(c) = feed.try_recv() {
                    out.push(c);
                }
                out
            };
            sim.apply(&plan(&settings()).unwrap(), None).await.unwrap();
            let first = drain(&mut feed);
            assert!(
                first.contains(&SimChange::Cluster(admin.clone())),
                "{first:?}"
            );
            assert!(first.contains(&SimChange::Automation), "{first:?}");
            sim.apply(&plan(&settings()).unwrap(), None).await.unwrap();
            assert_eq!(
                drain(&mut feed),
                vec![],
                "a converged apply changes nothing"
            );

            // An outside edit that drops the backup configuration is seen, and repaired.
            assert!(sim.edit_cluster(&admin, |m| {
                m["spec"].as_object_mut().unwrap().remove("plugins");
            }));
            assert_eq!(drain(&mut feed), vec![SimChange::Cluster(admin.clone())]);
            let st = sim.apply(&plan(&settings()).unwrap(), None).await.unwrap();
            assert_eq!(st[0].writes, 1, "drift repaired");

            // Backups fail with the reason, visible in the record and in backup.info.
            sim.fail_backups(&admin, Some("barman-cloud-backup exited with code 1"));
            sim.advance(Duration::minutes(62)).await.unwrap();
            let changes = drain(&mut feed);
            let name: ObjectName = "cnpg-admin-cnpg-backup-20261126010000".parse().unwrap();
            assert!(
                changes.contains(&SimChange::Backup(name.clone())),
                "{changes:?}"
            );
            let failed = sim.backup(&name).unwrap();
            assert_eq!(failed.phase, BackupPhase::Failed);
            assert_eq!(
                failed.error.as_deref(),
                Some("barman-cloud-backup exited with code 1")
            );
            let key = backup_info_key(
                "cp",
                &admin.default_server_name(),
                failed.backup_id.as_ref().unwrap(),
            );
            let info = BackupInfo::parse(&sim.bucket().get(&key).await.unwrap()).unwrap();
            assert_eq!(info.status, BarmanStatus::Failed);
            assert_eq!(info.error, failed.error);
            drop(feed);
            sim.fail_backups(&admin, None);
            sim.advance(Duration::minutes(60)).await.unwrap();
            assert!(
                lock(&sim.world).watchers.is_empty(),
                "a dropped feed unsubscribes"
            );
        });
    }

    #[test]
    fn short_steps_tick_on_the_same_grid_as_whole_ticks() {
        block_on(async {
            let whole = Simulator::new(&settings()).with_next_runs(hourly());
            let steps = Simulator::new(&settings()).with_next_runs(hourly());
            for sim in [&whole, &steps] {
                sim.apply(&plan(&settings()).unwrap(), None).await.unwrap();
            }
            whole.advance(Duration::minutes(63)).await.unwrap();
            let end = steps.now() + Duration::minutes(63);
            while steps.now() < end {
                let next = (steps.now() + Duration::seconds(15)).min(end);
                steps.advance_to(next).await.unwrap();
            }
            assert_eq!(steps.now(), whole.now());
            assert_eq!(steps.events(), whole.events());
            assert_eq!(steps.backups(), whole.backups());
        });
    }

    #[test]
    fn faults_fail_before_or_after_the_effect() {
        block_on(async {
            let sim = Simulator::new(&settings());
            let live: ClusterName = "cnpg-admin".parse().unwrap();
            let outage = BackendError::Unavailable { detail: "x".into() };
            sim.inject(SimOp::Delete, Fault::Fail(outage.clone()));
            assert_eq!(sim.delete(&live).await, Err(outage.clone()));
            assert!(sim.cluster_names().contains(&live), "no effect");
            sim.inject(SimOp::Delete, Fault::FailAfterEffect(outage.clone()));
            assert_eq!(sim.delete(&live).await, Err(outage));
            assert!(!sim.cluster_names().contains(&live), "effect applied");
            assert_eq!(sim.calls("delete"), 2);
        });
    }
}
