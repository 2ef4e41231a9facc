//! `/healthz` and `/readyz`: alive is answering at all; ready is every watch synced and, for the
//! leader, the lease held (a leader that cannot renew is not ready: it stopped writing).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use cnpg_backup_core::ports::Fence;

use crate::trigger::WatchKind;

#[derive(Debug, Default)]
struct State {
    expected: BTreeSet<WatchKind>,
    synced: BTreeSet<WatchKind>,
    leader: bool,
}

/// Readiness, shared between the loop (which updates it) and the HTTP server (which asks).
#[derive(Clone)]
pub struct Health {
    state: Arc<Mutex<State>>,
    fence: Arc<dyn Fence>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("ready", &self.readiness().ready)
            .finish()
    }
}

/// What `/readyz` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// Ready to serve.
    pub ready: bool,
    /// Why not (empty when ready), for the response body.
    pub reasons: Vec<String>,
}

impl Health {
    /// Ready once each of `expected` has synced; `fence` is the lease's.
    pub fn new(expected: impl IntoIterator<Item = WatchKind>, fence: Arc<dyn Fence>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                expected: expected.into_iter().collect(),
                ..State::default()
            })),
            fence,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A watch listed everything.
    pub fn synced(&self, watch: WatchKind) {
        self.lock().synced.insert(watch);
    }

    /// A watch lists again: not synced until it is done.
    pub fn restarted(&self, watch: WatchKind) {
        self.lock().synced.remove(&watch);
    }

    /// This replica leads (or not).
    pub fn leader(&self, leading: bool) {
        self.lock().leader = leading;
    }

    /// Whether this replica believes it leads.
    pub fn is_leader(&self) -> bool {
        self.lock().leader
    }

    /// `/readyz`.
    pub fn readiness(&self) -> Readiness {
        let s = self.lock();
        let mut reasons: Vec<String> = s
            .expected
            .difference(&s.synced)
            .map(|w| format!("watch of {} not synced", w.as_str()))
            .collect();
        if s.leader
            && let Err(e) = self.fence.check()
        {
            reasons.push(format!("leader without the lease: {e}"));
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use cnpg_backup_core::ports::{BackendError, SoleReplica};

    use super::*;

    struct Lost;
    impl Fence for Lost {
        fn check(&self) -> Result<(), BackendError> {
            Err(BackendError::Fenced {
                detail: "lease lost".into(),
            })
        }
    }

    #[test]
    fn ready_when_every_watch_synced_and_a_leader_holds_the_lease() {
        let h = Health::new(
            [WatchKind::State, WatchKind::Backups],
            Arc::new(SoleReplica),
        );
        assert!(!h.readiness().ready);
        h.synced(WatchKind::State);
        h.synced(WatchKind::Backups);
        assert!(h.readiness().ready);
        h.restarted(WatchKind::Backups);
        assert_eq!(
            h.readiness().reasons,
            vec!["watch of backups not synced".to_owned()]
        );
        let h = Health::new([], Arc::new(Lost));
        assert!(h.readiness().ready, "a follower needs no lease");
        h.leader(true);
        assert!(!h.readiness().ready);
        assert!(h.readiness().reasons[0].contains("lease lost"));
    }
}
