//! Changes of restore records, for `GET restores/{id}/events` (server-sent events).
//!
//! One watcher per restore, however many streams follow it: it re-reads the stored record
//! when woken by a change made in this process ([`RestoreEvents::notify`]: the router calls it
//! after each restore step, and so can a control loop in the same process), and at a modest
//! interval otherwise, so changes made elsewhere (another replica, a control loop in another
//! process, the CLI) are seen too. It stops when the last stream ends, or at shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cnpg_backup_app::views::RestoreView;
use cnpg_backup_app::{AppError, Backend, Category};
use cnpg_backup_core::names::RestoreId;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// What a watcher last read.
#[derive(Debug, Clone, PartialEq)]
pub enum Snapshot {
    /// Nothing read yet.
    Pending,
    /// The record, and whether it is settled (ready for promotion checks, or ended).
    Record {
        /// The record's view.
        view: Box<RestoreView>,
        /// Settled: the stream ends after sending it.
        settled: bool,
    },
    /// The restore no longer exists.
    Gone(AppError),
}

struct Watcher {
    tx: Arc<watch::Sender<Snapshot>>,
    wake: Arc<Notify>,
}

/// The watchers of restore records.
#[derive(Clone)]
pub struct RestoreEvents {
    inner: Arc<Hub>,
}

struct Hub {
    watchers: Mutex<HashMap<RestoreId, Watcher>>,
    poll: Duration,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for RestoreEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreEvents")
            .field("poll", &self.inner.poll)
            .finish_non_exhaustive()
    }
}

impl RestoreEvents {
    /// Watchers that re-read every `poll` and stop at `shutdown`.
    pub fn new(poll: Duration, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Hub {
                watchers: Mutex::new(HashMap::new()),
                poll,
                shutdown,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RestoreId, Watcher>> {
        self.inner
            .watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Says that restore `id` may have changed: its watcher (if any stream follows it) re-reads
    /// it now.
    pub fn notify(&self, id: &RestoreId) {
        if let Some(w) = self.lock().get(id) {
            w.wake.notify_one();
        }
    }

    /// How many restores are being watched (for tests and metrics).
    pub fn watched(&self) -> usize {
        self.lock().len()
    }

    /// Follows restore `id`: the receiver sees each new snapshot. Starts a watcher for it if
    /// none runs.
    pub fn subscribe(&self, backend: Arc<Backend>, id: RestoreId) -> watch::Receiver<Snapshot> {
        let mut map = self.lock();
        if let Some(w) = map.get(&id) {
            return w.tx.subscribe();
        }
        let (tx, rx) = watch::channel(Snapshot::Pending);
        let tx = Arc::new(tx);
        let wake = Arc::new(Notify::new());
        map.insert(
            id.clone(),
            Watcher {
                tx: tx.clone(),
                wake: wake.clone(),
            },
        );
        drop(map);
        let events = self.clone();
        tokio::spawn(async move { events.watch(backend, id, tx, wake).await });
        rx
    }

    async fn watch(
        &self,
        backend: Arc<Backend>,
        id: RestoreId,
        tx: Arc<watch::Sender<Snapshot>>,
        wake: Arc<Notify>,
    ) {
        let poll = self.inner.poll;
        let shutdown = self.inner.shutdown.clone();
        loop {
            let snapshot = match backend.restore_get(&id).await {
                Ok(r) => Some(Snapshot::Record {
                    settled: cnpg_backup_app::ops::settled(&r),
                    view: Box::new(RestoreView::new(&r)),
                }),
                Err(e) if e.category == Category::NotFound => Some(Snapshot::Gone(e)),
                Err(e) => {
                    // A failed read is not a change: keep the last snapshot, try again later.
                    tracing::warn!(restore = %id, error = %e.message, "cannot read the restore for its event stream");
                    None
                }
            };
            if let Some(s) = snapshot {
                tx.send_if_modified(|cur| {
                    if *cur == s {
                        false
                    } else {
                        *cur = s;
                        true
                    }
                });
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                () = shutdown.cancelled() => break,
                () = tx.closed() => {
                    // Stop unless a stream subscribed meanwhile (it did so under the lock).
                    let mut map = self.lock();
                    if tx.receiver_count() == 0 {
                        if map.get(&id).is_some_and(|w| Arc::ptr_eq(&w.tx, &tx)) {
                            map.remove(&id);
                        }
                        return;
                    }
                }
            }
        }
        let mut map = self.lock();
        if map.get(&id).is_some_and(|w| Arc::ptr_eq(&w.tx, &tx)) {
            map.remove(&id);
        }
    }
}

/// The problem of a restore that vanished while followed.
pub fn gone_problem(e: &AppError) -> crate::problem::ProblemDoc {
    crate::problem::Problem::from(e.clone()).doc().clone()
}
