//! The simulated clock and the in-memory state store.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use super::lock;
use crate::names::RestoreId;
use crate::ports::{
    BackendError, Clock, Revision, STATE_DOCUMENT_MAX_BYTES, StateKey, StateStore, Stored,
};

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct SimClock {
    now: Mutex<DateTime<Utc>>,
}

impl SimClock {
    /// A clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by` (a negative duration is ignored).
    pub fn advance(&self, by: Duration) {
        if by > Duration::zero() {
            let mut now = lock(&self.now);
            *now += by;
        }
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        *lock(&self.now) = to;
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

/// A fault the state store injects on a later write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreFault {
    /// The next `put` fails with this error and writes nothing.
    FailPut(BackendError),
    /// The next `put` writes, then reports this error (a crash or timeout after the write).
    FailPutAfterWrite(BackendError),
}

#[derive(Debug, Default)]
struct StoreState {
    docs: BTreeMap<StateKey, (u64, String)>,
    next_revision: u64,
    faults: VecDeque<StoreFault>,
    puts: u64,
    reads: u64,
    watchers: Vec<futures::channel::mpsc::UnboundedSender<StateKey>>,
}

/// A state store in memory, with optimistic concurrency by revision.
#[derive(Debug, Default)]
pub struct InMemoryStateStore {
    state: Mutex<StoreState>,
}

impl InMemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Injects a fault into a later `put` (faults are used in order).
    pub fn inject(&self, fault: StoreFault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// The current body of `key`, without going through the port (for tests and checks).
    pub fn peek(&self, key: &StateKey) -> Option<String> {
        lock(&self.state).docs.get(key).map(|(_, b)| b.clone())
    }

    /// How many writes succeeded.
    pub fn writes(&self) -> u64 {
        lock(&self.state).puts
    }

    /// How many reads (`get`, `list_restores`) were made.
    pub fn reads(&self) -> u64 {
        lock(&self.state).reads
    }

    /// A feed of the keys written from now on (what a watch on the documents would report).
    /// Dropping the receiver unsubscribes.
    pub fn subscribe(&self) -> futures::channel::mpsc::UnboundedReceiver<StateKey> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        lock(&self.state).watchers.push(tx);
        rx
    }
}

#[async_trait::async_trait]
impl StateStore for InMemoryStateStore {
    async fn get(&self, key: &StateKey) -> Result<Option<Stored>, BackendError> {
        let mut s = lock(&self.state);
        s.reads += 1;
        Ok(s.docs.get(key).map(|(rev, body)| Stored {
            revision: Revision(rev.to_string()),
            body: body.clone(),
        }))
    }

    async fn put<'a>(
        &self,
        key: &StateKey,
        body: &str,
        expected: Option<&'a Revision>,
    ) -> Result<Revision, BackendError> {
        let mut s = lock(&self.state);
        if body.len() > STATE_DOCUMENT_MAX_BYTES {
            return Err(BackendError::Invalid {
                detail: format!(
                    "document is {} bytes; the limit is {STATE_DOCUMENT_MAX_BYTES}",
                    body.len()
                ),
            });
        }
        let after_write = match s.faults.pop_front() {
            Some(StoreFault::FailPut(e)) => return Err(e),
            Some(StoreFault::FailPutAfterWrite(e)) => Some(e),
            None => None,
        };
        let current = s.docs.get(key).map(|(rev, _)| Revision(rev.to_string()));
        if current.as_ref() != expected {
            return Err(BackendError::Conflict {
                what: format!("the {key}"),
                detail: format!(
                    "expected revision {}, found {}",
                    expected.map_or_else(|| "none".to_owned(), |r| format!("`{}`", r.0)),
                    current.map_or_else(|| "none".to_owned(), |r| format!("`{}`", r.0))
                ),
            });
        }
        s.next_revision += 1;
        let rev = s.next_revision;
        s.docs.insert(key.clone(), (rev, body.to_owned()));
        s.puts += 1;
        s.watchers.retain(|w| w.unbounded_send(key.clone()).is_ok());
        match after_write {
            Some(e) => Err(e),
            None => Ok(Revision(rev.to_string())),
        }
    }

    async fn list_restores(&self) -> Result<Vec<RestoreId>, BackendError> {
        let mut s = lock(&self.state);
        s.reads += 1;
        Ok(s.docs
            .keys()
            .filter_map(|k| match k {
                StateKey::Restore(id) => Some(id.clone()),
                _ => None,
            })
            .collect())
    }
}
