//! The HTTP API of cnpg-backup: an axum [`Router`] any Rust control plane mounts under any
//! prefix (`cnpg-backup serve` mounts it under `/api/v1`), over the very operations the CLI
//! runs (`cnpg-backup-app`): the same services, journaling, views and error categories.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cnpg_backup_http::{Access, ApiState, router};
//! # async fn host(backend: cnpg_backup_app::Backend, client: kube::Client) {
//! let state = ApiState::new(Arc::new(backend), Access::kube(client, "platform"));
//! let app = axum::Router::new().nest("/api/backup", router(state));
//! # let _ = app;
//! # }
//! ```
//!
//! What is here: the routes ([`routes`]), the Backup & Restore page over them ([`page`]), who may call them ([`auth`]: bearer tokens and a
//! permission per route, checked before anything is read or changed), errors as
//! `application/problem+json` ([`problem`]), restore event streams ([`events`]), the
//! OpenAPI document ([`openapi`]), health probes ([`health`]), and the layers that make the
//! router safe by default: cross-origin protection for state-changing requests, body limits,
//! timeouts, rate limits on destructive routes, request ids, no CORS unless configured.
//!
//! What is not: wiring services, mapping service errors, journaling (the app crate's), domain
//! rules (the core's), binding a socket or handling signals (the host's, e.g. `serve`).
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

pub mod auth;
pub mod events;
mod extract;
pub mod health;
mod limit;
pub mod openapi;
pub mod page;
pub mod problem;
pub mod routes;
mod state;

pub use auth::{
    Access, AccessError, Authenticator, Authorizer, Decision, Permission, Resource, User, Verb,
};
pub use axum::Router;
pub use health::Health;
pub use limit::RateLimit;
pub use routes::router;
pub use state::{ApiConfig, ApiState};
