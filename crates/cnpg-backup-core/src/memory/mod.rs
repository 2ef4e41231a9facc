//! In-memory implementations of every port: the test fakes and the CLI's embedded default.
//!
//! - [`SimClock`]: a [`crate::ports::Clock`] the test or demo advances;
//! - [`InMemoryStateStore`]: a [`crate::ports::StateStore`] with revisions;
//! - [`InMemoryBucket`]: raw objects ([`crate::ports::BucketObjects`]);
//! - [`BarmanBucketProbe`]: a [`crate::ports::BucketProbe`] over any [`crate::ports::BucketObjects`];
//! - [`Simulator`]: a CNPG simulator implementing [`crate::ports::ClusterLifecycle`],
//!   [`crate::ports::BackupAutomation`] and [`crate::ports::BackupCatalogSource`]: Backups go
//!   pending → running → completed over ticks and write Barman-shaped `backup.info` objects into
//!   the bucket, recovery clusters become ready after some observations, scheduled backups fire
//!   on the simulated clock, and faults can be injected.
//!
//! Everything here is deterministic: no real clock, no randomness, no I/O.

mod bucket;
mod sim;
mod store;

pub use bucket::{BarmanBucketProbe, InMemoryBucket};
pub use sim::{Fault, NextRuns, SimChange, SimEvent, SimOp, Simulator};
pub use store::{InMemoryStateStore, SimClock, StoreFault};

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the fakes hold plain data).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
