//! What wakes the loop ([`Trigger`]), what it then does ([`Work`]), and when ([`Scheduler`]).
//!
//! The scheduler is pure: every method takes `now`, nothing reads a clock, so the same rules run
//! on wall time and on the simulator's time. It debounces (a burst of changes is one reconcile),
//! backs off per piece of work after errors (exponential, capped), resyncs periodically (what a
//! watch missed is caught then), and requeues restores that advance on their own. Between those
//! it asks for nothing: the loop sleeps until the next due time or the next trigger.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use cnpg_backup_core::catalog::BackupRecord;
use cnpg_backup_core::names::{ClusterName, ObjectName, RestoreId};
use cnpg_backup_core::restore::RestoreRecord;

/// Which watch a [`Trigger::Synced`] or [`Trigger::Restarted`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum WatchKind {
    /// Our state documents (settings, restore records).
    State,
    /// Clusters.
    Clusters,
    /// Our ScheduledBackups.
    ScheduledBackups,
    /// Our ObjectStores (plugin method).
    ObjectStores,
    /// Backups.
    Backups,
}

impl WatchKind {
    /// Every watch.
    pub const ALL: [WatchKind; 5] = [
        WatchKind::State,
        WatchKind::Clusters,
        WatchKind::ScheduledBackups,
        WatchKind::ObjectStores,
        WatchKind::Backups,
    ];

    /// A short name (metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            WatchKind::State => "state",
            WatchKind::Clusters => "clusters",
            WatchKind::ScheduledBackups => "scheduledbackups",
            WatchKind::ObjectStores => "objectstores",
            WatchKind::Backups => "backups",
        }
    }
}

/// Something changed (or a watch reports on itself).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Trigger {
    /// The settings record changed.
    Settings,
    /// Something the reconcile manages changed: a Cluster's spec or labels, one of our
    /// ScheduledBackups or ObjectStores (created, changed, deleted).
    Automation,
    /// A Cluster was created, deleted, or its status changed: the restores that watch it.
    Cluster(ClusterName),
    /// A restore record was written (`Some`) or deleted (`None`).
    Restore(RestoreId, Option<Box<RestoreRecord>>),
    /// A Backup was created or changed.
    Backup(Box<BackupRecord>),
    /// A Backup was deleted.
    BackupDeleted(ObjectName),
    /// A watch has listed everything once (and is now watching).
    Synced(WatchKind),
    /// A watch restarted: it lists again (connection lost, 410 Gone).
    Restarted(WatchKind),
    /// This replica became the leader (`true`) or stopped being it.
    Leadership(bool),
}

/// A piece of work the loop runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Work {
    /// The reconcile the CLI runs.
    Reconcile,
    /// List the restore records and drive those that advance on their own.
    Restores,
    /// One restore's level-triggered step (the refresh `restore status` runs).
    Restore(RestoreId),
    /// The backups at a glance: metrics, events for failures, the bucket's records.
    Backups,
}

impl Work {
    /// A short name (metrics label, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Work::Reconcile => "reconcile",
            Work::Restores => "restores",
            Work::Restore(_) => "restore",
            Work::Backups => "backups",
        }
    }
}

/// The loop's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timing {
    /// A trigger is acted on this long after the last one of a burst...
    pub debounce: Duration,
    /// ...but no later than this after the first one.
    pub max_delay: Duration,
    /// The periodic resync (reconcile and restore listing) catches what watches missed.
    pub resync: Duration,
    /// A restore that advances on its own is refreshed again after this long (a recovery takes
    /// minutes; its clusters' changes trigger earlier refreshes).
    pub restore_requeue: Duration,
    /// The first retry after an error...
    pub backoff_base: Duration,
    /// ...doubling per consecutive error up to this.
    pub backoff_cap: Duration,
}

impl Default for Timing {
    /// Debounce 1 s (at most 10 s), resync 10 min, restore requeue 15 s, backoff 1 s doubling
    /// to 5 min.
    fn default() -> Self {
        Self {
            debounce: Duration::seconds(1),
            max_delay: Duration::seconds(10),
            resync: Duration::minutes(10),
            restore_requeue: Duration::seconds(15),
            backoff_base: Duration::seconds(1),
            backoff_cap: Duration::minutes(5),
        }
    }
}

impl Timing {
    /// This timing with another resync period.
    pub fn with_resync(mut self, resync: Duration) -> Self {
        self.resync = resync;
        self
    }

    /// This timing with another restore requeue.
    pub fn with_restore_requeue(mut self, requeue: Duration) -> Self {
        self.restore_requeue = requeue;
        self
    }

    /// The delay before the retry that follows `failures` consecutive errors (1, 2, ...).
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 1i32
            .checked_shl(failures.saturating_sub(1).min(30))
            .unwrap_or(i32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .map_or(self.backoff_cap, |d| d.min(self.backoff_cap))
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    due: DateTime<Utc>,
    first: DateTime<Utc>,
}

/// How a piece of work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; nothing more until the next trigger.
    Done,
    /// Done for now; run again after this long (a restore in progress).
    Again(Duration),
    /// Failed: retry after the backoff.
    Failed,
    /// Not run: this replica may not write now. Nothing is retried; becoming the leader
    /// requests everything again.
    Skipped,
}

/// When each piece of work runs. Pure: see the module docs.
#[derive(Debug, Clone)]
pub struct Scheduler {
    timing: Timing,
    pending: BTreeMap<Work, Pending>,
    failures: BTreeMap<Work, u32>,
    next_resync: DateTime<Utc>,
}

impl Scheduler {
    /// A scheduler that starts with a reconcile, a restore listing and a backups pass, now.
    pub fn new(timing: Timing, now: DateTime<Utc>) -> Self {
        let mut s = Self {
            timing,
            pending: BTreeMap::new(),
            failures: BTreeMap::new(),
            next_resync: now + timing.resync,
        };
        s.everything(now);
        s
    }

    /// The timing.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// Requests everything now (start, becoming the leader).
    pub fn everything(&mut self, now: DateTime<Utc>) {
        for w in [Work::Reconcile, Work::Restores, Work::Backups] {
            self.at(w, now, now);
        }
    }

    fn at(&mut self, work: Work, due: DateTime<Utc>, now: DateTime<Utc>) {
        let entry = self
            .pending
            .entry(work)
            .or_insert(Pending { due, first: now });
        entry.due = entry.due.min(due);
    }

    fn backoff_until(&self, work: &Work, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // While failing, triggers do not hammer a failing API: the retry stays where the backoff
        // put it (a settings change clears it: see `reset`).
        self.failures
            .get(work)
            .filter(|f| **f > 0)
            .map(|_| self.pending.get(work).map_or(now, |p| p.due))
    }

    /// Asks for `work`, debounced: due `debounce` after this request, but no later than
    /// `max_delay` after the first request of the burst, and never before a pending backoff.
    pub fn request(&mut self, work: Work, now: DateTime<Utc>) {
        let t = self.timing;
        let backoff = self.backoff_until(&work, now);
        match self.pending.get_mut(&work) {
            Some(p) => {
                // Already due: it runs at the next look. Else later by the debounce (a burst),
                // or sooner (a requeue far ahead), but within the max delay of the first.
                if p.due > now {
                    p.due = (now + t.debounce).min(p.first + t.max_delay);
                }
                if let Some(b) = backoff {
                    p.due = p.due.max(b);
                }
            }
            None => {
                self.pending.insert(
                    work,
                    Pending {
                        due: now + t.debounce,
                        first: now,
                    },
                );
            }
        }
    }

    /// Forgets past failures of `work` (a person changed what it depends on) and asks for it.
    pub fn reset(&mut self, work: Work, now: DateTime<Utc>) {
        self.failures.remove(&work);
        if let Some(p) = self.pending.get_mut(&work) {
            p.due = p.due.min(now + self.timing.debounce);
        }
        self.request(work, now);
    }

    /// Forgets `work` (a restore that was deleted).
    pub fn forget(&mut self, work: &Work) {
        self.pending.remove(work);
        self.failures.remove(work);
    }

    /// Whether `work` is waiting to run.
    pub fn is_pending(&self, work: &Work) -> bool {
        self.pending.contains_key(work)
    }

    /// When the next piece of work is due (the next resync at the latest).
    pub fn next_due(&self) -> DateTime<Utc> {
        self.pending
            .values()
            .map(|p| p.due)
            .min()
            .map_or(self.next_resync, |d| d.min(self.next_resync))
    }

    /// Removes and returns the work due at `now`, reconcile first, then restores, then the
    /// backups pass. A due resync requests a reconcile, a restore listing and a backups pass.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Work> {
        if now >= self.next_resync {
            self.everything(now);
            // The next resync is a period after this one (not after a slow pass).
            while self.next_resync <= now {
                self.next_resync += self.timing.resync;
            }
        }
        let due: Vec<Work> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(w, _)| w.clone())
            .collect();
        for w in &due {
            self.pending.remove(w);
        }
        due
    }

    /// Records how `work` ended at `now` and schedules what follows.
    pub fn done(&mut self, work: Work, outcome: Outcome, now: DateTime<Utc>) {
        match outcome {
            Outcome::Done | Outcome::Skipped => {
                self.failures.remove(&work);
            }
            Outcome::Again(after) => {
                self.failures.remove(&work);
                self.at(work, now + after, now);
            }
            Outcome::Failed => {
                let n = self.failures.entry(work.clone()).or_insert(0);
                *n = n.saturating_add(1);
                let delay = self.timing.backoff(*n);
                // A retry replaces an earlier request: it is the next attempt.
                self.pending.insert(
                    work,
                    Pending {
                        due: now + delay,
                        first: now,
                    },
                );
            }
        }
    }

    /// Consecutive failures of `work`.
    pub fn failures(&self, work: &Work) -> u32 {
        self.failures.get(work).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()
    }

    fn s(secs: i64) -> DateTime<Utc> {
        t0() + Duration::seconds(secs)
    }

    fn idle(timing: Timing) -> Scheduler {
        let mut sch = Scheduler::new(timing, t0());
        let first = sch.take_due(t0());
        assert_eq!(first, vec![Work::Reconcile, Work::Restores, Work::Backups]);
        for w in first {
            sch.done(w, Outcome::Done, t0());
        }
        sch
    }

    #[test]
    fn starts_with_everything_then_sleeps_until_the_resync() {
        let sch = idle(Timing::default());
        assert_eq!(sch.next_due(), s(600));
    }

    #[test]
    fn a_burst_is_one_reconcile_but_never_later_than_the_max_delay() {
        let mut sch = idle(Timing::default());
        sch.request(Work::Reconcile, s(10));
        assert_eq!(sch.next_due(), s(11));
        sch.request(Work::Reconcile, s(10));
        assert!(sch.take_due(s(10)).is_empty());
        // Events every half second keep pushing it, up to 10 s after the first.
        for i in 0..40 {
            let now = t0() + Duration::seconds(10) + Duration::milliseconds(500 * i);
            if !sch.take_due(now).is_empty() {
                assert_eq!(now, s(20), "due at the max delay");
                return;
            }
            sch.request(Work::Reconcile, now);
        }
        panic!("never ran");
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap_and_triggers_do_not_shorten_it() {
        let timing = Timing::default();
        assert_eq!(timing.backoff(1), Duration::seconds(1));
        assert_eq!(timing.backoff(2), Duration::seconds(2));
        assert_eq!(timing.backoff(5), Duration::seconds(16));
        assert_eq!(timing.backoff(9), Duration::seconds(256));
        assert_eq!(timing.backoff(10), Duration::minutes(5));
        assert_eq!(timing.backoff(u32::MAX), Duration::minutes(5));
        let mut sch = idle(timing);
        let mut now = s(1);
        sch.request(Work::Reconcile, now);
        for n in 1..=4 {
            now = sch.next_due();
            assert_eq!(sch.take_due(now), vec![Work::Reconcile]);
            sch.done(Work::Reconcile, Outcome::Failed, now);
            assert_eq!(sch.failures(&Work::Reconcile), n);
            let retry = sch.next_due();
            assert_eq!(retry - now, timing.backoff(n));
            sch.request(Work::Reconcile, now);
            assert_eq!(
                sch.next_due(),
                retry,
                "a trigger does not shorten the backoff"
            );
        }
        sch.reset(Work::Reconcile, now);
        assert_eq!(
            sch.next_due(),
            now + Duration::seconds(1),
            "a settings change does"
        );
        assert_eq!(sch.failures(&Work::Reconcile), 0);
    }

    #[test]
    fn restores_in_progress_are_requeued_and_forgotten_when_deleted() {
        let mut sch = idle(Timing::default());
        let id: RestoreId = "r1".parse().unwrap();
        sch.request(Work::Restore(id.clone()), s(1));
        assert_eq!(sch.take_due(s(2)), vec![Work::Restore(id.clone())]);
        sch.done(
            Work::Restore(id.clone()),
            Outcome::Again(Duration::seconds(15)),
            s(2),
        );
        assert_eq!(sch.next_due(), s(17));
        sch.forget(&Work::Restore(id.clone()));
        assert_eq!(sch.next_due(), s(600));
    }

    #[test]
    fn resync_requests_everything_once_per_period() {
        let mut sch = idle(Timing::default());
        assert_eq!(
            sch.take_due(s(600)),
            vec![Work::Reconcile, Work::Restores, Work::Backups]
        );
        assert_eq!(sch.next_due(), s(1200));
        // A late wake-up does not run a burst of missed resyncs.
        assert_eq!(sch.take_due(s(2500)).len(), 3);
        assert_eq!(sch.next_due(), s(3000));
    }

    proptest! {
        /// Whatever the requests and outcomes, nothing is ever due in the past of the last
        /// `take_due`, and every requested piece of work is eventually due no later than its
        /// max delay or backoff.
        #[test]
        fn every_request_is_due_within_its_bound(ops in proptest::collection::vec((0u8..4, 0i64..30_000, 0u8..4), 1..60)) {
            let timing = Timing::default();
            let mut sch = idle(timing);
            let mut now = t0();
            for (kind, step_ms, outcome) in ops {
                now += Duration::milliseconds(step_ms);
                let work = match kind {
                    0 => Work::Reconcile,
                    1 => Work::Restores,
                    2 => Work::Backups,
                    _ => Work::Restore("r1".parse().unwrap()),
                };
                sch.request(work.clone(), now);
                let bound = now + timing.max_delay.max(timing.backoff(sch.failures(&work)));
                prop_assert!(sch.next_due() <= bound);
                for w in sch.take_due(now) {
                    let o = match outcome {
                        0 => Outcome::Done,
                        1 => Outcome::Failed,
                        2 => Outcome::Again(timing.restore_requeue),
                        _ => Outcome::Skipped,
                    };
                    sch.done(w, o, now);
                }
                prop_assert!(sch.next_due() <= now + timing.resync.max(timing.backoff_cap));
            }
        }
    }
}
