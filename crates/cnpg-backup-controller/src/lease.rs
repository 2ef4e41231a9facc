//! Leader election on a lease record with compare-and-swap, and the [`Fence`] it gives.
//!
//! Why our own and not `kube-lease-manager` (0.13, the one crate on kube 5): it takes the lease
//! with server-side apply, which is not a compare-and-swap (an apply carries no
//! resourceVersion: the fixture of a second manager's apply is a field-manager conflict that a
//! forced apply overrides), it decides expiry by comparing the holder's wall-clock `renewTime`
//! with the local wall clock (a tolerated skew, not an order), and it reports leadership through
//! a channel flipped after the fact, so a caller cannot ask "may I write now?" before each
//! write. This module gives exactly that, in the way client-go's leader election does:
//!
//! - every change of the lease is a replace carrying the `resourceVersion` read (409: someone
//!   else wrote first, and nothing is assumed);
//! - no wall clocks are compared across replicas: a contender considers the lease expired only
//!   when the record it observed has not changed for `lease_duration` **on its own monotonic
//!   clock**, counted from when it first saw that record;
//! - the holder stops acting at `renew_deadline` after the **start** of its last successful
//!   renewal, and `renew_deadline < lease_duration`. The renewal reached the server after it
//!   started, and a contender saw it even later, so the holder's fence has expired before any
//!   contender may take over (the margin, `lease_duration - renew_deadline`, covers the latency
//!   of a write that passed the fence just before it expired: see the crate docs);
//! - release (graceful shutdown) drops the fence first, then clears the holder so another
//!   replica takes over at once.
//!
//! The [`Elector`] is generic over a [`LeaseStore`] (the Lease API in [`crate::kube`], or
//! [`InMemoryLeaseStore`] in tests) and a [`MonoClock`], so the property test of the crate runs
//! the same code over random interleavings of two replicas.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use cnpg_backup_core::ports::{BackendError, Clock, Fence};

/// Leader-election settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseConfig {
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a contender waits, from when it saw the lease last change, before taking it.
    pub lease_duration: Duration,
    /// How long after the start of its last successful renewal the leader keeps acting.
    pub renew_deadline: Duration,
    /// How often the leader renews and a contender looks.
    pub retry_period: Duration,
}

/// Why lease settings cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseConfigError {
    /// The renew deadline must be shorter than the lease.
    #[error(
        "lease renew deadline `{renew_deadline:?}` must be shorter than the lease duration `{lease_duration:?}`: the leader must stop before another replica may take over"
    )]
    DeadlineNotShorter {
        /// Renew deadline.
        renew_deadline: Duration,
        /// Lease duration.
        lease_duration: Duration,
    },
    /// The retry period must leave room for renewals.
    #[error(
        "lease retry period `{retry_period:?}` must be at most a third of the renew deadline `{renew_deadline:?}`, so a leader gets several renewals before it stops"
    )]
    RetryTooLong {
        /// Retry period.
        retry_period: Duration,
        /// Renew deadline.
        renew_deadline: Duration,
    },
    /// The identity is empty or too long.
    #[error("lease identity `{identity}` must be 1 to 128 characters")]
    Identity {
        /// The identity.
        identity: String,
    },
}

impl LeaseConfig {
    /// Settings for `identity`: lease 30 s, renew deadline 20 s, retry every 5 s (a failover
    /// takes at most about 35 s; backups and restores take minutes).
    ///
    /// # Errors
    /// [`LeaseConfigError::Identity`] for an empty or overlong identity.
    pub fn new(identity: impl Into<String>) -> Result<Self, LeaseConfigError> {
        Self::with_timing(
            identity,
            Duration::from_secs(30),
            Duration::from_secs(20),
            Duration::from_secs(5),
        )
    }

    /// Settings with explicit timing.
    ///
    /// # Errors
    /// When the deadline is not shorter than the lease, the retry period is longer than a third
    /// of the deadline, or the identity is empty or longer than 128 characters.
    pub fn with_timing(
        identity: impl Into<String>,
        lease_duration: Duration,
        renew_deadline: Duration,
        retry_period: Duration,
    ) -> Result<Self, LeaseConfigError> {
        let identity = identity.into();
        if identity.is_empty() || identity.len() > 128 {
            return Err(LeaseConfigError::Identity { identity });
        }
        if renew_deadline >= lease_duration {
            return Err(LeaseConfigError::DeadlineNotShorter {
                renew_deadline,
                lease_duration,
            });
        }
        if retry_period.is_zero() || retry_period * 3 > renew_deadline {
            return Err(LeaseConfigError::RetryTooLong {
                retry_period,
                renew_deadline,
            });
        }
        Ok(Self {
            identity,
            lease_duration,
            renew_deadline,
            retry_period,
        })
    }
}

/// A lease as stored: holder and times (wall clock, for people), and the revision to replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseRecord {
    /// Who holds it (`None`: released).
    pub holder: Option<String>,
    /// The lease duration the holder announced, in seconds.
    pub lease_duration_seconds: i32,
    /// When the holder acquired it.
    pub acquire_time: Option<DateTime<Utc>>,
    /// When the holder last renewed it.
    pub renew_time: Option<DateTime<Utc>>,
    /// How many times it changed hands.
    pub transitions: i32,
    /// The store's revision (a Kubernetes `resourceVersion`); empty for a record not stored yet.
    pub revision: String,
}

impl LeaseRecord {
    /// A record held by `holder`.
    pub fn held(
        holder: Option<String>,
        lease_duration_seconds: i32,
        acquire_time: Option<DateTime<Utc>>,
        renew_time: Option<DateTime<Utc>>,
        transitions: i32,
    ) -> Self {
        Self {
            holder,
            lease_duration_seconds,
            acquire_time,
            renew_time,
            transitions,
            revision: String::new(),
        }
    }
}

/// Where the lease is kept.
#[async_trait::async_trait]
pub trait LeaseStore: Send + Sync {
    /// The lease; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`BackendError`] when it cannot be read.
    async fn get(&self) -> Result<Option<LeaseRecord>, BackendError>;

    /// Creates the lease.
    ///
    /// # Errors
    /// MUST return [`BackendError::Conflict`] when it exists already.
    async fn create(&self, record: &LeaseRecord) -> Result<LeaseRecord, BackendError>;

    /// Replaces the lease if its revision is still `record.revision`.
    ///
    /// # Errors
    /// MUST return [`BackendError::Conflict`] when the revision does not match.
    async fn replace(&self, record: &LeaseRecord) -> Result<LeaseRecord, BackendError>;
}

/// A monotonic clock: time since an arbitrary origin, never going back.
pub trait MonoClock: Send + Sync {
    /// Time since the origin.
    fn elapsed(&self) -> Duration;
}

/// The process's monotonic clock (tokio's, so paused-time tests move it).
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl MonoClock for TokioClock {
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
}

#[derive(Debug, Default)]
struct Held {
    until: Option<Duration>,
}

/// The fence an [`Elector`] gives: held while this replica leads, until its renew deadline.
#[derive(Clone)]
pub struct LeaseFence {
    held: Arc<Mutex<Held>>,
    clock: Arc<dyn MonoClock>,
    identity: String,
}

impl std::fmt::Debug for LeaseFence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseFence")
            .field("identity", &self.identity)
            .field("held", &self.is_held())
            .finish()
    }
}

impl LeaseFence {
    /// Until when (monotonic) the fence holds, if it does at all.
    pub fn held_until(&self) -> Option<Duration> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .until
    }

    /// Whether the fence holds now.
    pub fn is_held(&self) -> bool {
        self.held_until().is_some_and(|u| self.clock.elapsed() < u)
    }

    fn set(&self, until: Option<Duration>) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .until = until;
    }
}

impl Fence for LeaseFence {
    fn check(&self) -> Result<(), BackendError> {
        match self.held_until() {
            Some(u) if self.clock.elapsed() < u => Ok(()),
            Some(_) => Err(BackendError::Fenced {
                detail: format!(
                    "replica `{}` could not renew the leader lease in time and stopped writing",
                    self.identity
                ),
            }),
            None => Err(BackendError::Fenced {
                detail: format!("replica `{}` is not the leader", self.identity),
            }),
        }
    }
}

/// What one round of the election found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Round {
    /// This replica holds the lease (acquired or renewed).
    Leading,
    /// Another replica holds it (named when known).
    Following(Option<String>),
}

/// One replica's side of the election.
pub struct Elector {
    config: LeaseConfig,
    store: Arc<dyn LeaseStore>,
    clock: Arc<dyn MonoClock>,
    wall: Arc<dyn Clock>,
    fence: LeaseFence,
    observed: Option<(LeaseRecord, Duration)>,
    mine: Option<LeaseRecord>,
}

impl std::fmt::Debug for Elector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elector")
            .field("config", &self.config)
            .field("fence", &self.fence)
            .finish_non_exhaustive()
    }
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl Elector {
    /// A replica that does not hold the lease yet.
    pub fn new(
        config: LeaseConfig,
        store: Arc<dyn LeaseStore>,
        clock: Arc<dyn MonoClock>,
        wall: Arc<dyn Clock>,
    ) -> Self {
        let fence = LeaseFence {
            held: Arc::new(Mutex::new(Held::default())),
            clock: clock.clone(),
            identity: config.identity.clone(),
        };
        Self {
            config,
            store,
            clock,
            wall,
            fence,
            observed: None,
            mine: None,
        }
    }

    /// The fence this replica's writes check.
    pub fn fence(&self) -> LeaseFence {
        self.fence.clone()
    }

    /// The settings.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    fn lead(&mut self, start: Duration, record: LeaseRecord) -> Round {
        self.fence.set(Some(start + self.config.renew_deadline));
        self.observed = Some((record.clone(), self.clock.elapsed()));
        self.mine = Some(record);
        Round::Leading
    }

    fn follow(&mut self, holder: Option<String>) -> Round {
        self.fence.set(None);
        self.mine = None;
        Round::Following(holder)
    }

    /// One round: renew the lease if this replica holds it, take it if it expired (by this
    /// replica's own observation) or was released, else follow.
    ///
    /// # Errors
    /// [`BackendError`] when the lease cannot be read or written for another reason than a
    /// conflict; a leader's fence then runs out at its deadline unless a later round renews.
    pub async fn round(&mut self) -> Result<Round, BackendError> {
        let start = self.clock.elapsed();
        let now = self.wall.now();
        // The leader renews with the revision it wrote last: one request per renewal.
        if let Some(mine) = self.mine.clone() {
            let mut next = mine;
            next.renew_time = Some(now);
            return match self.store.replace(&next).await {
                Ok(written) => Ok(self.lead(start, written)),
                Err(BackendError::Conflict { .. }) => {
                    // Someone else wrote the lease: stop now, look again next round.
                    tracing::warn!(identity = %self.config.identity, "the leader lease was changed by someone else; stepping down");
                    Ok(self.follow(None))
                }
                Err(e) => Err(e),
            };
        }
        let Some(current) = self.store.get().await? else {
            let record = LeaseRecord::held(
                Some(self.config.identity.clone()),
                seconds(self.config.lease_duration),
                Some(now),
                Some(now),
                0,
            );
            return match self.store.create(&record).await {
                Ok(written) => Ok(self.lead(start, written)),
                Err(BackendError::Conflict { .. }) => Ok(self.follow(None)),
                Err(e) => Err(e),
            };
        };
        let seen_at = self.clock.elapsed();
        match &self.observed {
            Some((r, _)) if r.revision == current.revision => {}
            _ => self.observed = Some((current.clone(), seen_at)),
        }
        let observed_at = self.observed.as_ref().map_or(seen_at, |(_, t)| *t);
        let holder = current.holder.clone().filter(|h| !h.is_empty());
        let is_me = holder.as_deref() == Some(self.config.identity.as_str());
        // The duration the holder announced, but never shorter than ours.
        let announced =
            Duration::from_secs(u64::try_from(current.lease_duration_seconds).unwrap_or(0));
        let expired = holder.is_none()
            || self.clock.elapsed() >= observed_at + announced.max(self.config.lease_duration);
        if !is_me && !expired {
            return Ok(self.follow(holder));
        }
        let mut next = current.clone();
        next.holder = Some(self.config.identity.clone());
        next.lease_duration_seconds = seconds(self.config.lease_duration);
        next.renew_time = Some(now);
        if !is_me {
            next.acquire_time = Some(now);
            next.transitions = current.transitions.saturating_add(1);
        }
        match self.store.replace(&next).await {
            Ok(written) => {
                if !is_me {
                    tracing::info!(identity = %self.config.identity, previous = ?holder, "took the leader lease");
                }
                Ok(self.lead(start, written))
            }
            Err(BackendError::Conflict { .. }) => Ok(self.follow(None)),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up: the fence stops holding first, then the holder is cleared so another
    /// replica takes over at once. A replica that does not lead does nothing.
    ///
    /// # Errors
    /// [`BackendError`] when the lease cannot be written (it then expires on its own).
    pub async fn release(&mut self) -> Result<(), BackendError> {
        self.fence.set(None);
        let Some(mine) = self.mine.take() else {
            return Ok(());
        };
        let mut next = mine;
        next.holder = None;
        next.lease_duration_seconds = 1;
        next.renew_time = Some(self.wall.now());
        match self.store.replace(&next).await {
            Ok(_) | Err(BackendError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Forgets everything (a crashed process restarting with the same identity).
    pub fn restart(&mut self) {
        self.fence.set(None);
        self.observed = None;
        self.mine = None;
    }
}

/// Runs the election until `shutdown` completes: a round every retry period (sooner when the
/// fence is about to run out), each change of leadership sent to `leadership`, then the lease
/// released. A round that hangs is given up after the retry period (its fence runs out on its
/// own; a late write of it is harmless: the next round sees it and renews with its revision).
pub async fn campaign<F>(
    mut elector: Elector,
    leadership: futures::channel::mpsc::UnboundedSender<crate::trigger::Trigger>,
    shutdown: F,
) where
    F: std::future::Future<Output = ()> + Send,
{
    use futures::FutureExt;
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let retry = elector.config.retry_period;
    let mut leading = false;
    loop {
        match tokio::time::timeout(retry, elector.round()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election round failed"),
            Err(_) => tracing::warn!("leader election round timed out"),
        }
        let now_leading = elector.fence.is_held();
        if now_leading != leading {
            leading = now_leading;
            let _ = leadership.unbounded_send(crate::trigger::Trigger::Leadership(leading));
        }
        // Look again before the fence runs out, so leadership ends on time in the metrics.
        let mut wait = retry;
        if let Some(until) = elector.fence.held_until() {
            let left = until.saturating_sub(elector.clock.elapsed());
            wait = wait.min(left.max(Duration::from_millis(10)));
        }
        futures::select_biased! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(wait).fuse() => {}
        }
    }
    if let Err(e) = tokio::time::timeout(retry, elector.release())
        .await
        .unwrap_or(Err(BackendError::Unavailable {
            detail: "releasing the lease timed out".into(),
        }))
    {
        tracing::warn!(error = %e, "could not release the leader lease; it expires on its own");
    }
    let _ = leadership.unbounded_send(crate::trigger::Trigger::Leadership(false));
}

/// A lease store in memory, with revisions (tests and the property test of the crate).
#[derive(Debug, Default)]
pub struct InMemoryLeaseStore {
    state: Mutex<(Option<LeaseRecord>, u64)>,
}

impl InMemoryLeaseStore {
    /// No lease yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lease as stored.
    pub fn peek(&self) -> Option<LeaseRecord> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .clone()
    }
}

#[async_trait::async_trait]
impl LeaseStore for InMemoryLeaseStore {
    async fn get(&self) -> Result<Option<LeaseRecord>, BackendError> {
        Ok(self.peek())
    }

    async fn create(&self, record: &LeaseRecord) -> Result<LeaseRecord, BackendError> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.0.is_some() {
            return Err(BackendError::Conflict {
                what: "lease".into(),
                detail: "it exists already".into(),
            });
        }
        s.1 += 1;
        let mut r = record.clone();
        r.revision = s.1.to_string();
        s.0 = Some(r.clone());
        Ok(r)
    }

    async fn replace(&self, record: &LeaseRecord) -> Result<LeaseRecord, BackendError> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &s.0 {
            Some(cur) if cur.revision == record.revision => {}
            _ => {
                return Err(BackendError::Conflict {
                    what: "lease".into(),
                    detail: "the object has been modified".into(),
                });
            }
        }
        s.1 += 1;
        let mut r = record.clone();
        r.revision = s.1.to_string();
        s.0 = Some(r.clone());
        Ok(r)
    }
}

/// A monotonic clock the caller moves (tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
}

impl ManualClock {
    /// At the origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += by;
    }
}

impl MonoClock for ManualClock {
    fn elapsed(&self) -> Duration {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;

    struct Wall;
    impl Clock for Wall {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp(1_795_651_200, 0).unwrap_or_default()
        }
    }

    fn replica(name: &str, store: &Arc<InMemoryLeaseStore>, clock: &Arc<ManualClock>) -> Elector {
        let config = LeaseConfig::with_timing(
            name,
            Duration::from_secs(15),
            Duration::from_secs(10),
            Duration::from_secs(2),
        )
        .unwrap();
        Elector::new(config, store.clone(), clock.clone(), Arc::new(Wall))
    }

    #[test]
    fn settings_that_cannot_fence_are_refused() {
        let e = LeaseConfig::with_timing(
            "a",
            Duration::from_secs(10),
            Duration::from_secs(10),
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("must be shorter than the lease duration"),
            "{e}"
        );
        assert!(
            LeaseConfig::with_timing(
                "a",
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(4)
            )
            .is_err()
        );
        assert!(LeaseConfig::new("").is_err());
        assert!(LeaseConfig::new("pod-a").is_ok());
    }

    #[test]
    fn one_leads_the_other_takes_over_only_after_the_lease_ran_out_unrenewed() {
        block_on(async {
            let store = Arc::new(InMemoryLeaseStore::new());
            let clock = Arc::new(ManualClock::new());
            let mut a = replica("a", &store, &clock);
            let mut b = replica("b", &store, &clock);
            assert_eq!(a.round().await.unwrap(), Round::Leading);
            assert_eq!(b.round().await.unwrap(), Round::Following(Some("a".into())));
            assert!(a.fence().check().is_ok());
            assert!(matches!(
                b.fence().check(),
                Err(BackendError::Fenced { .. })
            ));

            // a renews for a while; b never takes over.
            for _ in 0..10 {
                clock.advance(Duration::from_secs(2));
                assert_eq!(a.round().await.unwrap(), Round::Leading);
                assert_eq!(b.round().await.unwrap(), Round::Following(Some("a".into())));
            }
            // a stops renewing (a hung process): its fence ends at the deadline...
            clock.advance(Duration::from_secs(10));
            assert!(!a.fence().is_held(), "stopped acting at the renew deadline");
            let e = a.fence().check().unwrap_err();
            assert!(e.to_string().contains("could not renew"), "{e}");
            assert_eq!(b.round().await.unwrap(), Round::Following(Some("a".into())));
            // ...and b takes over once it saw the record unchanged for the lease duration.
            clock.advance(Duration::from_secs(5));
            assert_eq!(b.round().await.unwrap(), Round::Leading);
            assert_eq!(store.peek().unwrap().transitions, 1);
            // a comes back: its renewal conflicts, it steps down without acting.
            assert_eq!(a.round().await.unwrap(), Round::Following(None));
            assert!(!a.fence().is_held());
            assert_eq!(a.round().await.unwrap(), Round::Following(Some("b".into())));
        });
    }

    #[test]
    fn release_hands_over_at_once() {
        block_on(async {
            let store = Arc::new(InMemoryLeaseStore::new());
            let clock = Arc::new(ManualClock::new());
            let mut a = replica("a", &store, &clock);
            let mut b = replica("b", &store, &clock);
            a.round().await.unwrap();
            b.round().await.unwrap();
            a.release().await.unwrap();
            assert!(!a.fence().is_held());
            assert_eq!(store.peek().unwrap().holder, None);
            assert_eq!(b.round().await.unwrap(), Round::Leading);
        });
    }
}
