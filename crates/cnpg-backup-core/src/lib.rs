//! Pure domain rules and use cases for CloudNativePG (CNPG) backup automation and staged restores.
//!
//! What is here: schedules in CNPG's cron dialect, Barman retention, object-storage targets, the
//! automation plan, the backup catalog and backup sets, app-version drift, names, the restore state
//! machine and its intent document, the ports (async traits) that adapters implement, the use-case
//! services over those ports, and an in-memory CNPG simulator.
//!
//! What is deliberately not here: any I/O. No Kubernetes, object-store, HTTP or runtime crate is a
//! dependency of this crate; time and identifiers come in as arguments or through the [`ports::Clock`]
//! port. Adapters (the `cnpg-backup-kube` crate, or a host control plane) do the talking.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod automation;
pub mod barman;
pub mod bucket_cache;
pub mod catalog;
pub mod drift;
pub mod memory;
pub mod names;
pub mod overview;
pub mod ports;
pub mod provenance;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod service;
pub mod status;
pub mod target;

#[cfg(any(test, feature = "contract"))]
pub mod contract;
