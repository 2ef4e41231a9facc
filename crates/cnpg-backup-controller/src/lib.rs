//! The control loop of `cnpg-backup serve`, as a component any Rust control plane can run.
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

pub use controller::{Controller, Ran};
pub use events::{ClusterEvent, EventSink, EventType, RecordedEvents};
pub use health::{Health, Readiness};
pub use lease::{Elector, LeaseConfig, LeaseFence, LeaseStore};
pub use metrics::Metrics;
pub use timer::{Timer, WallTimer};
pub use trigger::{Outcome, Scheduler, Timing, Trigger, WatchKind, Work};
