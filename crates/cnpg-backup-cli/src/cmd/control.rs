//! The control loop inside `serve`: started beside the HTTP API, over the same world, and
//! stopped with it. `serve.rs` calls [`Control::embedded`] or [`Control::kube`], merges
//! [`Control::router`] (`/metrics`), hands its readiness to `/readyz` ([`Control::ready_with`])
//! and waits for [`Control::stopped`] at shutdown.
//!
//! - On the embedded default (`serve --embedded DIR`) the loop runs over the same
//!   `Arc<Backend>` as the API, with the simulator and the in-memory state store as its watches
//!   (`cnpg_backup_controller::sim::EmbeddedLoop`): it is the sole replica.
//! - In a cluster it watches the namespace, elects a leader on a Lease (identity: the pod name,
//!   from `POD_NAME`), and writes through a fenced client and fenced ports
//!   (`cnpg_backup_controller::kube::KubeLoop`); at shutdown it releases the Lease after the
//!   work in progress, so the other replica takes over at once.
//!
//! Either way, each restore the loop steps or sees change wakes the API's event streams
//! (`GET /api/v1/restores/{id}/events`) at once, instead of at their next poll.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use cnpg_backup_app::Backend;
use cnpg_backup_controller::{LeaseConfig, Metrics, RestoreListener, Timing};
use cnpg_backup_core::ports::Clock;
use cnpg_backup_http::events::RestoreEvents;
use cnpg_backup_kube::KubeScope;
use tokio_util::sync::CancellationToken;

use crate::cli::LoopArgs;
use crate::exit::{CliError, ExitStatus};

/// The loop of this process, running.
pub struct Control {
    metrics: Metrics,
    readiness: cnpg_backup_controller::Health,
    clock: Arc<dyn Clock>,
    task: tokio::task::JoinHandle<()>,
    /// What the start line says about this replica.
    pub describe: String,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("describe", &self.describe)
            .finish_non_exhaustive()
    }
}

/// The loop's timing from the flags.
///
/// # Errors
/// Exit 2 for a resync too long to count in.
pub fn timing(args: &LoopArgs) -> Result<Timing, CliError> {
    let resync = chrono::Duration::from_std(args.resync).map_err(|e| CliError::invalid(&e))?;
    Ok(Timing::default().with_resync(resync))
}

/// This replica's identity in the Lease and in Events: the pod name (`POD_NAME`, set from the
/// downward API by `cnpg-backup manifests`), else `HOSTNAME-PID`. The process id keeps two
/// processes on one host apart: two replicas with one identity would both believe they lead.
pub fn identity() -> String {
    if let Some(pod) = std::env::var("POD_NAME")
        .ok()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cnpg-backup".to_owned());
    let mut id = format!("{host}-{}", std::process::id());
    // The Lease's holderIdentity is at most 128 characters here (LeaseConfig checks it).
    if id.len() > 128 {
        id = id.split_off(id.len() - 128);
    }
    id
}

/// The lease settings from the flags, for `identity`.
///
/// # Errors
/// Exit 2 when the timings cannot fence (the renew deadline not shorter than the lease, a
/// retry period longer than a third of the deadline).
pub fn lease(args: &LoopArgs, identity: String) -> Result<LeaseConfig, CliError> {
    LeaseConfig::with_timing(
        identity,
        args.lease_duration,
        args.lease_renew_deadline,
        args.lease_retry_period,
    )
    .map_err(|e| CliError::invalid(&e))
}

/// Wakes the API's event stream of each restore the loop touched.
fn wake(events: RestoreEvents) -> RestoreListener {
    Arc::new(move |id| events.notify(id))
}

impl Control {
    /// Starts the loop on the embedded default over `backend` (the API's), until `shutdown`.
    ///
    /// # Errors
    /// Exit 3 when `backend` is not the embedded default (a wiring mistake).
    pub async fn embedded(
        backend: &Arc<Backend>,
        timing: Timing,
        events: RestoreEvents,
        shutdown: CancellationToken,
    ) -> Result<Self, CliError> {
        let lp = cnpg_backup_controller::sim::EmbeddedLoop::new(backend.clone(), timing)
            .await
            .ok_or_else(|| {
                CliError::new(
                    ExitStatus::World,
                    "the embedded control loop needs the embedded default's simulator",
                )
            })?
            .with_restore_listener(wake(events));
        let (metrics, readiness) = (lp.metrics(), lp.health());
        let task = tokio::spawn(lp.run(shutdown.cancelled_owned()));
        Ok(Self {
            metrics,
            readiness,
            clock: backend.clock.clone(),
            task,
            describe: "control loop on the simulator (sole replica)".to_owned(),
        })
    }

    /// Starts this replica's loop in the namespace of `scope`, through its client (watches,
    /// the Lease `lease_name`, Events), until `shutdown`. The API's `backend` only lends its
    /// clock (the backups' ages in `/metrics`): the loop writes through its own fenced client.
    pub fn kube(
        scope: &KubeScope,
        backend: &Backend,
        lease_name: &str,
        lease: LeaseConfig,
        timing: Timing,
        events: RestoreEvents,
        shutdown: CancellationToken,
    ) -> Self {
        let namespace = scope.namespace();
        let lp = cnpg_backup_controller::kube::KubeLoop::new(
            scope.client().clone(),
            namespace,
            lease_name,
            lease,
            timing,
        )
        .with_restore_listener(wake(events));
        let describe = format!(
            "control loop in namespace {namespace} as `{}` (Lease `{lease_name}`; only the leader writes)",
            lp.identity()
        );
        let (metrics, readiness) = (lp.metrics(), lp.health());
        let task = tokio::spawn(lp.run(shutdown.cancelled_owned()));
        Self {
            metrics,
            readiness,
            clock: backend.clock.clone(),
            task,
            describe,
        }
    }

    /// `/metrics`: the loop's metrics as OpenMetrics text, ages at the time of the scrape (on
    /// the embedded default: simulated time, the backups' own).
    pub fn router(&self) -> Router {
        let metrics = self.metrics.clone();
        let clock = self.clock.clone();
        Router::new().route(
            "/metrics",
            get(move || {
                let text = metrics.encode(clock.now());
                async move {
                    (
                        [(CONTENT_TYPE, cnpg_backup_controller::metrics::CONTENT_TYPE)],
                        text,
                    )
                }
            }),
        )
    }

    /// Makes `/readyz` ask the loop too: every watch synced, and a leader still holding its
    /// lease (a standby is ready: it serves the API and takes over when the leader goes).
    pub fn ready_with(&self, health: &cnpg_backup_http::Health) {
        let readiness = self.readiness.clone();
        health.probe(move || readiness.readiness().reasons);
    }

    /// Waits, at most `grace`, for the loop to stop after the shutdown began: the work in
    /// progress ends and (in a cluster) the Lease is released.
    pub async fn stopped(self, grace: Duration) {
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the control loop ended badly"),
            Err(_) => {
                tracing::warn!(
                    "the control loop still works after {}s; stopping it (the lease expires on its own)",
                    grace.as_secs()
                );
                task.abort();
            }
        }
    }
}
