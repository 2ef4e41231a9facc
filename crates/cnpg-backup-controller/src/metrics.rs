//! The loop's Prometheus metrics, served as OpenMetrics text at `/metrics`.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `cnpg_backup_reconciles_total` | counter | `result` (`ok`, `error`) | reconciles run by the loop |
//! | `cnpg_backup_reconcile_errors_total` | counter | | reconciles that failed (as a whole or for a plane) |
//! | `cnpg_backup_reconcile_duration_seconds` | histogram | | how long a reconcile took |
//! | `cnpg_backup_reconcile_last_run_timestamp_seconds` | gauge | | when the loop last reconciled |
//! | `cnpg_backup_restore_steps_total` | counter | `result` | restore refreshes run by the loop |
//! | `cnpg_backup_last_successful_backup_timestamp_seconds` | gauge | `plane`, `cluster` | end of the newest completed backup |
//! | `cnpg_backup_last_successful_backup_age_seconds` | gauge | `plane`, `cluster` | its age at scrape time |
//! | `cnpg_backup_last_failed_backup_timestamp_seconds` | gauge | `plane`, `cluster` | end of the newest failed backup |
//! | `cnpg_backup_next_scheduled_backup_timestamp_seconds` | gauge | `plane`, `cluster` | next run of an active schedule |
//! | `cnpg_backup_schedule_interval_seconds` | gauge | `plane`, `cluster` | the schedule's interval (longest gap between runs) |
//! | `cnpg_backup_backup_health` | gauge | `plane`, `cluster`, `health` | 1 for the plane's current verdict, 0 for the others |
//! | `cnpg_backup_restore_phase` | gauge | `restore`, `phase` | 1 for each restore's current phase, 0 for the others |
//! | `cnpg_backup_leader` | gauge | | 1 while this replica holds the leader lease |
//! | `cnpg_backup_watch_restarts_total` | counter | `watch` | watches that had to list again (errors, 410 Gone) |
//!
//! A plane with no completed backup has no `last_successful_backup` series: alert on its
//! absence with `absent()` or on `backup_health{health="overdue"}`.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use cnpg_backup_core::overview::{BackupHealth, PlaneOverview};
use cnpg_backup_core::restore::PhaseName;

use crate::trigger::WatchKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct PlaneLabels {
    plane: String,
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabels {
    plane: String,
    cluster: String,
    health: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    restore: String,
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchLabels {
    watch: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

const HEALTHS: [(BackupHealth, &str); 5] = [
    (BackupHealth::Ok, "ok"),
    (BackupHealth::Failing, "failing"),
    (BackupHealth::Overdue, "overdue"),
    (BackupHealth::NoBackupYet, "no_backup_yet"),
    (BackupHealth::NotScheduled, "not_scheduled"),
];

const PHASES: [PhaseName; 9] = [
    PhaseName::Draft,
    PhaseName::Validated,
    PhaseName::RecoveryRequested,
    PhaseName::Provisioning,
    PhaseName::ReadyForPromotionChecks,
    PhaseName::Cutover,
    PhaseName::Completed,
    PhaseName::Failed,
    PhaseName::Abandoned,
];

struct Inner {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_errors: Counter,
    reconcile_duration: Histogram,
    last_reconcile: FloatGauge,
    restore_steps: Family<ResultLabels, Counter>,
    last_success: Family<PlaneLabels, FloatGauge>,
    last_success_age: Family<PlaneLabels, FloatGauge>,
    last_failure: Family<PlaneLabels, FloatGauge>,
    next_backup: Family<PlaneLabels, FloatGauge>,
    interval: Family<PlaneLabels, FloatGauge>,
    health: Family<HealthLabels, Gauge>,
    restore_phase: Family<PhaseLabels, Gauge>,
    leader: Gauge,
    watch_restarts: Family<WatchLabels, Counter>,
    ends: Mutex<BTreeMap<PlaneLabels, DateTime<Utc>>>,
}

/// The metrics. Cheap to clone: clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

impl Metrics {
    /// A fresh registry with every metric of the module docs.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cnpg_backup");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles run by the control loop",
            reconciles.clone(),
        );
        let reconcile_errors = Counter::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, as a whole or for a plane",
            reconcile_errors.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took",
            reconcile_duration.clone(),
        );
        let last_reconcile = FloatGauge::default();
        registry.register(
            "reconcile_last_run_timestamp_seconds",
            "When the control loop last reconciled (Unix time)",
            last_reconcile.clone(),
        );
        let restore_steps = Family::<ResultLabels, Counter>::default();
        registry.register(
            "restore_steps",
            "Restore refreshes run by the control loop",
            restore_steps.clone(),
        );
        let last_success = Family::<PlaneLabels, FloatGauge>::default();
        registry.register(
            "last_successful_backup_timestamp_seconds",
            "End of the newest completed backup of the plane (Unix time)",
            last_success.clone(),
        );
        let last_success_age = Family::<PlaneLabels, FloatGauge>::default();
        registry.register(
            "last_successful_backup_age_seconds",
            "Age of the newest completed backup of the plane at scrape time",
            last_success_age.clone(),
        );
        let last_failure = Family::<PlaneLabels, FloatGauge>::default();
        registry.register(
            "last_failed_backup_timestamp_seconds",
            "End of the newest failed backup of the plane (Unix time)",
            last_failure.clone(),
        );
        let next_backup = Family::<PlaneLabels, FloatGauge>::default();
        registry.register(
            "next_scheduled_backup_timestamp_seconds",
            "Next run of the plane's active schedule (Unix time)",
            next_backup.clone(),
        );
        let interval = Family::<PlaneLabels, FloatGauge>::default();
        registry.register(
            "schedule_interval_seconds",
            "The plane's schedule interval: the longest gap between its upcoming runs",
            interval.clone(),
        );
        let health = Family::<HealthLabels, Gauge>::default();
        registry.register(
            "backup_health",
            "1 for the plane's current backup verdict (ok, failing, overdue, no_backup_yet, not_scheduled)",
            health.clone(),
        );
        let restore_phase = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "restore_phase",
            "1 for each restore's current phase",
            restore_phase.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        let watch_restarts = Family::<WatchLabels, Counter>::default();
        registry.register(
            "watch_restarts",
            "Watches that had to list again (connection lost, 410 Gone)",
            watch_restarts.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                reconcile_errors,
                reconcile_duration,
                last_reconcile,
                restore_steps,
                last_success,
                last_success_age,
                last_failure,
                next_backup,
                interval,
                health,
                restore_phase,
                leader,
                watch_restarts,
                ends: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// A reconcile ended at `at` after `seconds`, with or without errors.
    pub fn reconciled(&self, ok: bool, seconds_taken: f64, at: DateTime<Utc>) {
        let i = &self.inner;
        i.reconciles
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "error" },
            })
            .inc();
        if !ok {
            i.reconcile_errors.inc();
        }
        i.reconcile_duration.observe(seconds_taken);
        i.last_reconcile.set(seconds(at));
    }

    /// A restore step ran.
    pub fn restore_step(&self, ok: bool) {
        self.inner
            .restore_steps
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    /// A restore is in `phase` now (`None`: the record is gone).
    pub fn restore_phase(&self, restore: &str, phase: Option<PhaseName>) {
        for p in PHASES {
            let labels = PhaseLabels {
                restore: restore.to_owned(),
                phase: p.as_str(),
            };
            match phase {
                None => {
                    self.inner.restore_phase.remove(&labels);
                }
                Some(current) => {
                    self.inner
                        .restore_phase
                        .get_or_create(&labels)
                        .set(i64::from(p == current));
                }
            }
        }
    }

    /// This replica leads (or not).
    pub fn leader(&self, leading: bool) {
        self.inner.leader.set(i64::from(leading));
    }

    /// A watch listed again.
    pub fn watch_restarted(&self, watch: WatchKind) {
        self.inner
            .watch_restarts
            .get_or_create(&WatchLabels {
                watch: watch.as_str(),
            })
            .inc();
    }

    /// The backups at a glance, per plane.
    pub fn backups(&self, planes: &[PlaneOverview]) {
        let i = &self.inner;
        let mut ends = i
            .ends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for o in planes {
            let labels = PlaneLabels {
                plane: o.plane.to_string(),
                cluster: o.cluster.to_string(),
            };
            let set = |family: &Family<PlaneLabels, FloatGauge>, v: Option<f64>| match v {
                Some(v) => {
                    family.get_or_create(&labels).set(v);
                }
                None => {
                    family.remove(&labels);
                }
            };
            let end = o.last_completed.as_ref().and_then(|m| m.at);
            match end {
                Some(t) => {
                    ends.insert(labels.clone(), t);
                }
                None => {
                    ends.remove(&labels);
                    i.last_success_age.remove(&labels);
                }
            }
            set(&i.last_success, end.map(seconds));
            set(
                &i.last_failure,
                o.last_failure.as_ref().and_then(|m| m.at).map(seconds),
            );
            set(&i.next_backup, o.next_run.map(seconds));
            set(
                &i.interval,
                o.interval.map(|d| d.num_milliseconds() as f64 / 1000.0),
            );
            for (h, name) in HEALTHS {
                i.health
                    .get_or_create(&HealthLabels {
                        plane: labels.plane.clone(),
                        cluster: labels.cluster.clone(),
                        health: name,
                    })
                    .set(i64::from(h == o.health));
            }
        }
    }

    /// The metrics as OpenMetrics text, ages computed at `now`.
    pub fn encode(&self, now: DateTime<Utc>) -> String {
        let i = &self.inner;
        {
            let ends = i
                .ends
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (labels, end) in ends.iter() {
                let age = (now - *end).num_milliseconds().max(0) as f64 / 1000.0;
                i.last_success_age.get_or_create(labels).set(age);
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &i.registry);
        out
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn every_documented_metric_is_exported_and_ages_are_computed_at_scrape_time() {
        let m = Metrics::new();
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
        m.reconciled(true, 0.2, t);
        m.reconciled(false, 0.1, t);
        m.restore_step(true);
        m.restore_phase("r1", Some(PhaseName::Provisioning));
        m.leader(true);
        m.watch_restarted(WatchKind::Backups);
        let settings: cnpg_backup_core::automation::BackupSettings =
            serde_json::from_value(serde_json::json!({
                "target": {"provider": "local", "bucket": "b", "credentials": {"kind": "none"}},
                "automation": {"enabled": true, "schedule": {"preset": "hourly", "minute": 0}, "retention": "30d"},
                "appVersion": {"kind": "unknown"}
            }))
            .unwrap();
        let mut r = cnpg_backup_core::catalog::BackupRecord::new(
            "b1".parse().unwrap(),
            "cnpg-admin".parse().unwrap(),
            Default::default(),
        );
        r.phase = cnpg_backup_core::catalog::BackupPhase::Completed;
        r.ended_at = Some(t);
        let planes = cnpg_backup_core::overview::overview(&settings, &[r], t, t);
        m.backups(&planes);
        let text = m.encode(t + chrono::Duration::seconds(90));
        for name in [
            "cnpg_backup_reconciles_total{result=\"ok\"} 1",
            "cnpg_backup_reconcile_errors_total 1",
            "cnpg_backup_reconcile_duration_seconds_count 2",
            "cnpg_backup_reconcile_last_run_timestamp_seconds 1795658400.0",
            "cnpg_backup_restore_steps_total{result=\"ok\"} 1",
            "cnpg_backup_last_successful_backup_timestamp_seconds{plane=\"admin\",cluster=\"cnpg-admin\"} 1795658400.0",
            "cnpg_backup_last_successful_backup_age_seconds{plane=\"admin\",cluster=\"cnpg-admin\"} 90.0",
            "cnpg_backup_schedule_interval_seconds{plane=\"admin\",cluster=\"cnpg-admin\"} 3600.0",
            "cnpg_backup_next_scheduled_backup_timestamp_seconds{plane=\"tenant\",cluster=\"cnpg-tenant\"} 1795662000.0",
            "cnpg_backup_backup_health{plane=\"admin\",cluster=\"cnpg-admin\",health=\"ok\"} 1",
            "cnpg_backup_backup_health{plane=\"tenant\",cluster=\"cnpg-tenant\",health=\"no_backup_yet\"} 1",
            "cnpg_backup_restore_phase{restore=\"r1\",phase=\"provisioning\"} 1",
            "cnpg_backup_restore_phase{restore=\"r1\",phase=\"cutover\"} 0",
            "cnpg_backup_leader 1",
            "cnpg_backup_watch_restarts_total{watch=\"backups\"} 1",
        ] {
            assert!(text.contains(name), "missing `{name}` in\n{text}");
        }
        assert!(
            !text.contains("last_successful_backup_age_seconds{plane=\"tenant\""),
            "no completed backup: no series"
        );
        assert!(text.ends_with("# EOF\n"));
        m.restore_phase("r1", None);
        assert!(!m.encode(t).contains("restore=\"r1\""));
    }
}
