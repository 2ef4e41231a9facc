//! Backups at a glance: per plane, when the last backup completed, the last failure and why,
//! the next scheduled run, and one verdict a person (or an alert) can trust.
//!
//! Pure: the records and `now` come in as arguments. The same rule serves the `status`
//! command, the HTTP API and the control loop's metrics, whichever way the records were
//! obtained (a listing, or a watch).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::automation::BackupSettings;
use crate::catalog::{BackupPhase, BackupRecord};
use crate::names::{ClusterName, ObjectName, Plane};

/// How many upcoming runs are inspected for the longest gap between two runs (a schedule such
/// as "every 5 hours" has a shorter gap across midnight; the longest one is its interval).
const INTERVAL_RUNS: usize = 8;

/// Whether a plane's backups are scheduled, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    /// A schedule fires.
    Active,
    /// The ScheduledBackup exists but is suspended.
    Suspended,
    /// Automation is disabled: nothing is scheduled.
    Disabled,
    /// The plane is outside the automation's scope.
    OutOfScope,
}

/// The verdict on a plane's backups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupHealth {
    /// The newest finished backup completed, less than two schedule intervals ago.
    Ok,
    /// The newest finished backup failed.
    Failing,
    /// The last completed backup is older than twice the schedule interval (or there is none
    /// although the schedule should have run twice since automation started to be observed).
    Overdue,
    /// No backup has completed yet, and the schedule has not been due twice.
    NoBackupYet,
    /// Nothing is scheduled (disabled, suspended or out of scope): only a verdict on what exists.
    NotScheduled,
}

/// One backup, named and dated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackupMark {
    /// The Backup object.
    pub name: ObjectName,
    /// When it ended (completed or failed), else when it started.
    pub at: Option<DateTime<Utc>>,
    /// Why it failed (failures only; `None` when CNPG gave no reason).
    pub reason: Option<String>,
}

/// A plane's backups at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PlaneOverview {
    /// The plane.
    pub plane: Plane,
    /// Its live cluster.
    pub cluster: ClusterName,
    /// The verdict.
    pub health: BackupHealth,
    /// The newest completed backup.
    pub last_completed: Option<BackupMark>,
    /// How long ago it ended (`None` without one).
    pub age: Option<Duration>,
    /// The newest failed backup (also when a later one completed).
    pub last_failure: Option<BackupMark>,
    /// A backup still pending or running.
    pub in_progress: Option<ObjectName>,
    /// Whether a schedule fires.
    pub schedule: ScheduleState,
    /// When the schedule fires next (active schedules only).
    pub next_run: Option<DateTime<Utc>>,
    /// The longest gap between two upcoming runs (active schedules only): the expected age of
    /// the newest backup is below it, and an alert fires at twice it.
    pub interval: Option<Duration>,
}

fn when(r: &BackupRecord) -> Option<DateTime<Utc>> {
    r.ended_at.or(r.started_at)
}

fn newest<'a>(
    records: impl Iterator<Item = &'a BackupRecord>,
) -> Option<(&'a BackupRecord, Option<DateTime<Utc>>)> {
    records
        .map(|r| (r, when(r)))
        .max_by(|(a, ta), (b, tb)| ta.cmp(tb).then_with(|| a.name.cmp(&b.name)))
}

/// The overview of `plane` from the records of its live cluster (records of other clusters
/// are ignored), under `settings`, at `now`. `observed_since` is when the caller started
/// looking (e.g. the control loop's start): a plane with no completed backup becomes
/// [`BackupHealth::Overdue`] only once two intervals have passed since then, so a fresh
/// installation is not reported as overdue.
pub fn plane_overview(
    settings: &BackupSettings,
    plane: Plane,
    records: &[BackupRecord],
    now: DateTime<Utc>,
    observed_since: DateTime<Utc>,
) -> PlaneOverview {
    let cluster = settings.clusters.get(plane).clone();
    let mine = || records.iter().filter(|r| r.cluster == cluster);
    let completed = newest(mine().filter(|r| r.phase == BackupPhase::Completed));
    let failed = newest(mine().filter(|r| r.phase == BackupPhase::Failed));
    let in_progress = newest(mine().filter(|r| r.phase.is_in_progress())).map(|(r, _)| r);

    let a = &settings.automation;
    let schedule = if !a.scope.contains(plane) {
        ScheduleState::OutOfScope
    } else if !a.enabled {
        ScheduleState::Disabled
    } else if a.suspend {
        ScheduleState::Suspended
    } else {
        ScheduleState::Active
    };
    let runs = match (schedule, a.schedule.cron()) {
        (ScheduleState::Active, Ok(cron)) => cron.next_runs(now, INTERVAL_RUNS),
        _ => Vec::new(),
    };
    let interval = runs.windows(2).map(|w| w[1] - w[0]).max();

    let age = completed
        .and_then(|(_, t)| t)
        .map(|t| (now - t).max(Duration::zero()));
    let failing = match (failed, completed) {
        (Some((_, tf)), Some((_, tc))) => tf > tc,
        (Some(_), None) => true,
        _ => false,
    };
    let health = if failing {
        BackupHealth::Failing
    } else if schedule != ScheduleState::Active {
        BackupHealth::NotScheduled
    } else {
        match (age, interval) {
            (Some(age), Some(i)) if age > i * 2 => BackupHealth::Overdue,
            (Some(_), _) => BackupHealth::Ok,
            (None, Some(i)) if now - observed_since > i * 2 => BackupHealth::Overdue,
            (None, _) => BackupHealth::NoBackupYet,
        }
    };
    let mark = |(r, at): (&BackupRecord, Option<DateTime<Utc>>), reason: bool| BackupMark {
        name: r.name.clone(),
        at,
        reason: if reason { r.error.clone() } else { None },
    };
    PlaneOverview {
        plane,
        cluster,
        health,
        last_completed: completed.map(|c| mark(c, false)),
        age,
        last_failure: failed.map(|f| mark(f, true)),
        in_progress: in_progress.map(|r| r.name.clone()),
        schedule,
        next_run: runs.first().copied(),
        interval,
    }
}

/// The overview of both planes (admin, then tenant).
pub fn overview(
    settings: &BackupSettings,
    records: &[BackupRecord],
    now: DateTime<Utc>,
    observed_since: DateTime<Utc>,
) -> Vec<PlaneOverview> {
    Plane::ALL
        .into_iter()
        .map(|p| plane_overview(settings, p, records, now, observed_since))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn settings() -> BackupSettings {
        serde_json::from_value(serde_json::json!({
            "target": {"provider": "local", "bucket": "b", "credentials": {"kind": "none"}},
            "automation": {"enabled": true, "schedule": {"preset": "daily", "hour": 2, "minute": 0},
                "retention": "30d", "scope": "admin"},
            "appVersion": {"kind": "unknown"}
        }))
        .unwrap()
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn rec(name: &str, cluster: &str, phase: BackupPhase, ended: DateTime<Utc>) -> BackupRecord {
        let mut r = BackupRecord::new(
            name.parse().unwrap(),
            cluster.parse().unwrap(),
            Default::default(),
        );
        r.phase = phase;
        r.started_at = Some(ended - Duration::minutes(2));
        if !phase.is_in_progress() {
            r.ended_at = Some(ended);
        }
        if phase == BackupPhase::Failed {
            r.error = Some("no space left on device".into());
        }
        r
    }

    #[test]
    fn last_completed_age_next_run_and_interval() {
        let s = settings();
        let records = vec![
            rec("a1", "cnpg-admin", BackupPhase::Completed, at(25, 2)),
            rec("a2", "cnpg-admin", BackupPhase::Completed, at(26, 2)),
            rec("t1", "cnpg-tenant", BackupPhase::Completed, at(26, 3)),
        ];
        let o = plane_overview(&s, Plane::Admin, &records, at(26, 5), at(1, 0));
        assert_eq!(o.health, BackupHealth::Ok);
        assert_eq!(o.last_completed.as_ref().unwrap().name.as_str(), "a2");
        assert_eq!(o.age, Some(Duration::hours(3)));
        assert_eq!(o.next_run, Some(at(27, 2)));
        assert_eq!(o.interval, Some(Duration::days(1)));
        assert_eq!(o.schedule, ScheduleState::Active);
        assert!(o.last_failure.is_none());

        let t = plane_overview(&s, Plane::Tenant, &records, at(26, 5), at(1, 0));
        assert_eq!(t.schedule, ScheduleState::OutOfScope);
        assert_eq!(t.health, BackupHealth::NotScheduled);
        assert_eq!(t.next_run, None);
        assert_eq!(t.last_completed.unwrap().name.as_str(), "t1");
    }

    #[test]
    fn a_newer_failure_is_failing_an_older_one_is_history() {
        let s = settings();
        let mut records = vec![
            rec("ok", "cnpg-admin", BackupPhase::Completed, at(25, 2)),
            rec("bad", "cnpg-admin", BackupPhase::Failed, at(26, 2)),
        ];
        let o = plane_overview(&s, Plane::Admin, &records, at(26, 5), at(1, 0));
        assert_eq!(o.health, BackupHealth::Failing);
        let f = o.last_failure.unwrap();
        assert_eq!(f.name.as_str(), "bad");
        assert_eq!(f.reason.as_deref(), Some("no space left on device"));
        records.push(rec(
            "again",
            "cnpg-admin",
            BackupPhase::Completed,
            at(26, 4),
        ));
        let o = plane_overview(&s, Plane::Admin, &records, at(26, 5), at(1, 0));
        assert_eq!(o.health, BackupHealth::Ok);
        assert_eq!(o.last_failure.unwrap().name.as_str(), "bad");
        records.push(rec("now", "cnpg-admin", BackupPhase::Running, at(26, 5)));
        let o = plane_overview(&s, Plane::Admin, &records, at(26, 5), at(1, 0));
        assert_eq!(o.in_progress.unwrap().as_str(), "now");
    }

    #[test]
    fn overdue_after_twice_the_interval_but_not_on_a_fresh_installation() {
        let s = settings();
        let records = vec![rec("a1", "cnpg-admin", BackupPhase::Completed, at(23, 2))];
        let o = plane_overview(&s, Plane::Admin, &records, at(25, 2), at(1, 0));
        assert_eq!(
            o.health,
            BackupHealth::Ok,
            "exactly two intervals is not overdue"
        );
        let o = plane_overview(&s, Plane::Admin, &records, at(25, 3), at(1, 0));
        assert_eq!(o.health, BackupHealth::Overdue);

        let o = plane_overview(&s, Plane::Admin, &[], at(25, 3), at(25, 0));
        assert_eq!(o.health, BackupHealth::NoBackupYet);
        let o = plane_overview(&s, Plane::Admin, &[], at(28, 3), at(25, 0));
        assert_eq!(o.health, BackupHealth::Overdue);
    }

    #[test]
    fn every_n_hours_interval_is_the_longest_gap() {
        let mut s = settings();
        s.automation.schedule = serde_json::from_value(
            serde_json::json!({"preset": "every_n_hours", "every": 5, "minute": 0}),
        )
        .unwrap();
        let o = plane_overview(&s, Plane::Admin, &[], at(26, 1), at(26, 0));
        assert_eq!(o.interval, Some(Duration::hours(5)));
        s.automation.suspend = true;
        let o = plane_overview(&s, Plane::Admin, &[], at(26, 1), at(26, 0));
        assert_eq!((o.schedule, o.next_run), (ScheduleState::Suspended, None));
    }
}
