//! The router's state: the shared [`Backend`], how callers are checked, limits, the restore
//! event watchers, the in-flight steps and the shutdown signal.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use cnpg_backup_app::{AppError, Backend};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Access;
use crate::events::RestoreEvents;
use crate::limit::{RateLimit, RateLimiter};
use crate::problem::Problem;

/// Limits and options of the router. `ApiConfig::default()` is safe: small bodies, timeouts,
/// rate-limited destructive routes, no CORS.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiConfig {
    /// The largest JSON body accepted (default 64 KiB; settings and restore requests are a few
    /// hundred bytes).
    pub body_limit: usize,
    /// The largest multipart upload of `restores/intent`: an intent of at most 64 KiB plus this
    /// much for the multipart framing and the other fields (default 16 KiB).
    pub multipart_overhead: usize,
    /// How long a request may take before it is answered 503 (default 60 s; an event stream
    /// is not limited once it has started). A restore step that was started still finishes.
    pub request_timeout: Duration,
    /// How often an event stream's watcher re-reads the restore when nothing in this process
    /// changed it (default 2 s).
    pub events_poll: Duration,
    /// Per restore, for apply, abandon and cleanup (default 3 at once, then one per 10 s).
    pub destructive_per_restore: RateLimit,
    /// For apply, abandon and cleanup together (default 20 at once, then one per second).
    pub destructive_global: RateLimit,
    /// Origins (`https://console.example.com`) allowed to call the API from a browser page
    /// served elsewhere: CORS is answered for them, and their state-changing requests pass the
    /// cross-origin protection. Empty (the default): same-origin pages only, no CORS.
    pub allowed_origins: Vec<String>,
    /// Where the router is mounted (e.g. `/api/v1`), for the `servers` of `openapi.json`.
    pub mounted_at: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            multipart_overhead: 16 * 1024,
            request_timeout: Duration::from_secs(60),
            events_poll: Duration::from_secs(2),
            destructive_per_restore: RateLimit::new(3, Duration::from_secs(10)),
            destructive_global: RateLimit::new(20, Duration::from_secs(1)),
            allowed_origins: Vec::new(),
            mounted_at: None,
        }
    }
}

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<Backend>,
    access: Access,
    config: ApiConfig,
    events: RestoreEvents,
    limiter: RateLimiter,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The state over `backend`, checking callers with `access`, with [`ApiConfig::default`].
    pub fn new(backend: Arc<Backend>, access: Access) -> Self {
        Self::with_config(backend, access, ApiConfig::default())
    }

    /// The state with explicit limits and options.
    pub fn with_config(backend: Arc<Backend>, access: Access, config: ApiConfig) -> Self {
        let shutdown = CancellationToken::new();
        Self {
            inner: Arc::new(Inner {
                events: RestoreEvents::new(config.events_poll, shutdown.clone()),
                limiter: RateLimiter::new(
                    config.destructive_per_restore,
                    config.destructive_global,
                ),
                backend,
                access,
                config,
                tasks: TaskTracker::new(),
                shutdown,
            }),
        }
    }

    /// The backend the operations run on.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.inner.backend
    }

    /// How callers are checked.
    pub fn access(&self) -> &Access {
        &self.inner.access
    }

    /// The limits and options.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The restore event watchers: call [`RestoreEvents::notify`] after changing a restore
    /// outside the router (a control loop in the same process) so streams see it at once.
    pub fn events(&self) -> &RestoreEvents {
        &self.inner.events
    }

    /// Cancel it to shut down: event streams end, new steps are refused (503), steps already
    /// running go on (wait for them with [`ApiState::tasks`]).
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// The steps in flight. At shutdown: `tasks().close()`, then `tasks().wait()` (with a
    /// deadline).
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// Runs a state-changing operation to its end even if the caller goes away or the request
    /// times out: a restore step is never cut in the middle by HTTP. Refused (503) once
    /// shutdown has begun.
    pub(crate) async fn step<T, F>(&self, op: F) -> Result<T, Problem>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, AppError>> + Send + 'static,
    {
        if self.inner.shutdown.is_cancelled() || self.inner.tasks.is_closed() {
            return Err(Problem::http(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is shutting down and starts no new step",
            )
            .hint("try again on another replica, or once the server is back"));
        }
        match self.inner.tasks.spawn(op).await {
            Ok(r) => r.map_err(Problem::from),
            Err(e) => {
                tracing::error!(error = %e, "a step ended abnormally");
                Err(Problem::http(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the step ended abnormally; its progress is persisted, check the restore and retry",
                ))
            }
        }
    }
}
