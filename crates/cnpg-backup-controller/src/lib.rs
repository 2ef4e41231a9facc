//! The control loop of `cnpg-backup serve`, as a component any Rust control plane can run:
//! backups stay configured (drift is repaired as soon as a watch sees it), restores move on
//! without a command, and only one replica writes.
//!
//! What is here, from the inside out:
//! - [`trigger`]: what wakes the loop ([`Trigger`]), what it does ([`Work`]) and when
//!   ([`Scheduler`]: debounce, per-work exponential backoff, periodic resync, restore requeue).
//!   Pure: it takes `now` as an argument.
//! - [`controller`]: the [`Controller`] over a stream of triggers and a [`Timer`]. It runs
//!   exactly the operations the CLI runs (`cnpg_backup_app::Backend::run_reconcile`,
//!   `restore_list`, `restore_get`, `restore_refresh`, `backup_overview_of`), never copies,
//!   and never gives a restore acknowledgement: a restore moves on by itself only where
//!   observing is enough ([`cnpg_backup_core::restore::RestoreRecord::advances_unattended`]).
//! - [`lease`]: leader election on a compare-and-swap lease, and the fence it gives; the
//!   module says why it is ours and not `kube-lease-manager`.
//! - [`metrics`] (`/metrics`), [`health`] (`/readyz`), [`events`] (deduplicated events about a
//!   plane's Cluster).
//! - Two kinds of plumbing: [`sim`] (the simulator and the in-memory state store, for the
//!   embedded default and tests) and [`kube`] (watches, the Lease, Events, the fenced client).
//!
//! Not here: domain rules (the core's), the services' wiring and views (the app crate's),
//! HTTP (the `serve` command mounts `/metrics`, `/healthz`, `/readyz` beside the API).
//!
//! **Fencing, and its one assumption.** A replica checks its fence before each write (at the
//! transport for every HTTP write, and at each port call). The fence ends at the renew
//! deadline, counted from the start of the last successful renewal; another replica takes the
//! lease only after seeing it unchanged for the (longer) lease duration on its own clock. So a
//! write that passed the fence reaches the API server before another replica may act, provided
//! it takes less than `lease_duration - renew_deadline` (10 s with the defaults) from the check
//! to the server, the premise of any lease-based fencing without server-side tokens. The
//! state store's compare-and-swap is the second line: a restore step is persisted with the
//! revision it read before it acts, so of two replicas that both read one revision, only one
//! acts. `tests/it/interleave.rs` checks both over random interleavings.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod controller;
pub mod events;
pub mod health;
pub mod kube;
pub mod lease;
pub mod metrics;
pub mod sim;
pub mod timer;
pub mod trigger;

pub use controller::{Controller, Ran, RestoreListener};
pub use events::{ClusterEvent, EventSink, EventType, RecordedEvents};
pub use health::{Health, Readiness};
pub use lease::{Elector, LeaseConfig, LeaseFence, LeaseStore};
pub use metrics::Metrics;
pub use timer::{Timer, WallTimer};
pub use trigger::{Outcome, Scheduler, Timing, Trigger, WatchKind, Work};
