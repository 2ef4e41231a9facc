//! The one way to wire cnpg-backup's services, shared by every adapter: the `cnpg-backup`
//! command line, the HTTP API and the control loop.
//!
//! What is here: [`Backend`] (the core's services over the kube adapter in one namespace, or
//! over the embedded default: the core's CNPG simulator and a local-directory bucket, replayed
//! from a journal), the operations every adapter offers on it ([`ops`]: each calls the service,
//! journals the call and maps failures), the settings file ([`settings`]), restore requests and
//! intents before they reach a cluster ([`request`]), the JSON/YAML view documents ([`views`]:
//! one shape for the CLI and the HTTP API), and errors with a [`Category`] that the CLI maps to
//! an exit code and the HTTP API to a status code ([`error`]).
//!
//! What is deliberately not here: domain rules (the core's), talking to Kubernetes or buckets
//! (the kube crate's), printing (the CLI's), HTTP (the HTTP crate's).
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

pub mod backend;
pub mod error;
pub mod fence;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod ops;
pub mod request;
pub mod schedule;
pub mod settings;
pub mod views;

pub use backend::{
    Backend, Backups, Entry, KubeTarget, Restores, TICKS_PER_COMMAND, connect_scope,
};
pub use error::{AppError, Category};
