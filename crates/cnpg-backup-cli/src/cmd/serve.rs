//! `serve`: one process that serves the HTTP API and runs the control loop over one world.
//!
//! The wiring of `serve` lives here and only here. What it assembles, in order:
//! 1. the backend, built once and shared (`Arc<Backend>`): the embedded default (`--embedded
//!    DIR`, journaled, kept in memory for the life of the process) or the cluster (`-n`,
//!    `--kubeconfig`, in-cluster);
//! 2. how callers are checked: TokenReview + SubjectAccessReview in a cluster; on the embedded
//!    default one token, random and printed at start, or read from `--token-file`;
//! 3. the control loop ([`super::control`]): on the embedded default over the same backend
//!    (the simulator is its watches; it is the sole replica), in a cluster with watches, a
//!    Lease (identity: the pod name) and fenced writes. It wakes the API's event streams when
//!    it steps or sees a restore change;
//! 4. the application: the API router nested under [`API_PREFIX`], `/healthz`, `/readyz`
//!    ([`Health`], which asks the loop too: watches synced, and a leader holding its lease) and
//!    `/metrics` (the loop's, OpenMetrics text), and the Backup & Restore page at
//!    `/dashboard/backup-restore` (`cnpg_backup_http::page`: static assets that call the API);
//! 5. background work: on the embedded default, simulated time ([`sim_ticker`]);
//! 6. the listener, then a graceful shutdown on SIGTERM/SIGINT: stop accepting, end event
//!    streams, let in-flight steps and the loop's work in progress finish within
//!    `--shutdown-grace` (restore steps are persisted before they act, so one cut short stays
//!    resumable), release the Lease.
//!
//! **Writes through the API on a standby replica work**, as they do from the CLI on a laptop
//! (which never holds the Lease either). The Lease fences what the loop does unattended; a
//! request is a person's command, and runs through the same operations with the same guards:
//! restore steps are compare-and-swapped on the stored record (of two concurrent steps one
//! acts, the other gets 409 and looks again), acknowledgements stay required, and the reconcile
//! is server-side apply without force. Answering 503 instead would fail half the requests
//! behind the Service for no safety gained.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cnpg_backup_app::{AppError, Backend, Category, connect_scope, settings};
use cnpg_backup_http::{Access, ApiConfig, ApiState, Health, router};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use super::control::{self, Control};
use crate::cli::{Cli, ServeArgs};
use crate::exit::{CliError, CmdResult, ExitStatus};

/// Where the API is mounted.
pub const API_PREFIX: &str = "/api/v1";

/// The user name the embedded default's token stands for (the actor in audit trails).
const EMBEDDED_USER: &str = "embedded-admin";

/// How long token and access reviews are remembered (the API server's own webhook caches keep
/// them for minutes; a revoked token or binding stops working within this).
const REVIEW_CACHE: Duration = Duration::from_secs(10);

/// The shortest token accepted from `--token-file`.
const MIN_TOKEN_LEN: usize = 16;

pub fn run(args: &ServeArgs, cli: &Cli) -> CmdResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::world(&e).context("cannot start the async runtime"))?;
    rt.block_on(serve(args, cli))
}

/// A random token: 32 bytes from the operating system, hex.
fn random_token() -> Result<SecretString, CliError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        CliError::new(
            ExitStatus::World,
            format!("cannot draw a random token: {e}"),
        )
    })?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(SecretString::from(hex))
}

fn read_token(path: &std::path::Path) -> Result<SecretString, CliError> {
    let text = settings::read_input(path, 4096)?;
    let token = text.trim();
    if token.len() < MIN_TOKEN_LEN || token.contains(char::is_whitespace) {
        return Err(CliError::from(AppError::new(
            Category::Invalid,
            format!(
                "the token in `{}` must be one word of at least {MIN_TOKEN_LEN} characters",
                path.display()
            ),
        )));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// What [`wire`] assembles.
struct Wired {
    backend: Arc<Backend>,
    access: Access,
    /// The token to print (embedded, generated).
    shown_token: Option<SecretString>,
    /// The cluster (`None` on the embedded default).
    scope: Option<cnpg_backup_kube::KubeScope>,
}

/// The backend, how callers are checked, the token to print (embedded, generated), and the
/// cluster.
async fn wire(args: &ServeArgs, cli: &Cli) -> Result<Wired, CliError> {
    match &cli.embedded {
        Some(dir) => {
            let file_settings = match &cli.config {
                Some(_) => Some(settings::load(cli.config.as_ref())?),
                None => None,
            };
            let (token, shown) = match &args.token_file {
                Some(path) => (read_token(path)?, None),
                None => {
                    let t = random_token()?;
                    (t.clone(), Some(t))
                }
            };
            let backend = Backend::embedded(dir, file_settings, true).await?;
            Ok(Wired {
                backend: Arc::new(backend),
                access: Access::token(token, EMBEDDED_USER),
                shown_token: shown,
                scope: None,
            })
        }
        None => {
            if args.token_file.is_some() {
                return Err(CliError::new(
                    ExitStatus::Invalid,
                    "--token-file is for the embedded default; in a cluster, callers send their own Kubernetes tokens",
                ));
            }
            let scope = connect_scope(&super::kube_target(cli)).await?;
            let access =
                Access::kube(scope.client().clone(), scope.namespace()).with_cache(REVIEW_CACHE);
            Ok(Wired {
                backend: Arc::new(Backend::kube(scope.clone())),
                access,
                shown_token: None,
                scope: Some(scope),
            })
        }
    }
}

async fn serve(args: &ServeArgs, cli: &Cli) -> CmdResult {
    if !(args.sim_tick.is_finite() && args.sim_tick >= 0.0) {
        return Err(CliError::new(
            ExitStatus::Invalid,
            format!("--sim-tick `{}` must be 0 or more seconds", args.sim_tick),
        ));
    }
    let embedded = cli.embedded.is_some();
    let listen = args.listen.unwrap_or_else(|| {
        if embedded {
            SocketAddr::from(([127, 0, 0, 1], 8080))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 8080))
        }
    });
    // The loop's flags are checked before anything connects.
    let timing = control::timing(&args.timing)?;
    let lease = if embedded {
        None
    } else {
        Some(control::lease(&args.timing, control::identity())?)
    };
    // 1, 2: the backend (shared) and access.
    let Wired {
        backend,
        access,
        shown_token,
        scope,
    } = wire(args, cli).await?;
    let mut config = ApiConfig::default();
    config.mounted_at = Some(API_PREFIX.to_owned());
    config.allowed_origins = args.allow_origin.clone();
    let state = ApiState::with_config(backend.clone(), access, config);
    let shutdown = state.shutdown().clone();
    // 3: the control loop, until the shutdown.
    let events = state.events().clone();
    let control = match (scope, lease) {
        (Some(scope), Some(lease)) => Control::kube(
            &scope,
            &backend,
            &args.timing.lease_name,
            lease,
            timing,
            events,
            shutdown.clone(),
        ),
        _ => Control::embedded(&backend, timing, events, shutdown.clone()).await?,
    };
    // 4: the application.
    let health = Health::new();
    health.condition("serving", true);
    control.ready_with(&health);
    let app: Router = Router::new()
        .nest(API_PREFIX, router(state.clone()))
        .merge(cnpg_backup_http::page::router(API_PREFIX))
        .merge(health.router())
        .merge(control.router());
    // 5: background work.
    let ticker = (embedded && args.sim_tick > 0.0).then(|| {
        tokio::spawn(sim_ticker(
            backend.clone(),
            state.clone(),
            Duration::from_secs_f64(args.sim_tick),
        ))
    });
    // 6: listen, then stop gracefully.
    let grace = Duration::from_secs(args.shutdown_grace);
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            shutdown.cancel();
            control.stopped(grace).await;
            return Err(CliError::world(&e).context(format!("cannot listen on {listen}")));
        }
    };
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::world(&e).context("cannot read the bound address"))?;
    eprintln!(
        "cnpg-backup serve: listening on http://{addr} (API under {API_PREFIX}; /healthz, /readyz, /metrics)"
    );
    eprintln!("cnpg-backup serve: {}", control.describe);
    if let Some(t) = &shown_token {
        eprintln!(
            "cnpg-backup serve: token (send `Authorization: Bearer <token>`): {}",
            t.expose_secret()
        );
        eprintln!(
            "cnpg-backup serve: Backup & Restore page (signed in): {}",
            cnpg_backup_http::page::sign_in_link(&format!("http://{addr}"), t.expose_secret())
        );
    } else {
        eprintln!(
            "cnpg-backup serve: Backup & Restore page: http://{addr}{}",
            cnpg_backup_http::page::PAGE_PATH
        );
    }
    tokio::spawn(on_signal(shutdown.clone(), health.clone()));
    let server =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    // The grace counts from the signal, for the server and the steps and loop after it.
    let stopping_since = Arc::new(std::sync::OnceLock::new());
    let deadline = {
        let shutdown = shutdown.clone();
        let since = stopping_since.clone();
        async move {
            shutdown.cancelled().await;
            let _ = since.set(tokio::time::Instant::now());
            tokio::time::sleep(grace).await;
        }
    };
    tokio::select! {
        r = server => r.map_err(|e| CliError::world(&e).context("the server failed"))?,
        () = deadline => tracing::warn!("connections still open after the grace period; closing them"),
    }
    if let Some(t) = ticker {
        t.abort();
    }
    state.tasks().close();
    // In-flight API steps and the loop's work in progress end together (the loop was told to
    // stop with the server), in what is left of the grace (a moment at least, for the loop to
    // release the Lease); then the loop has released it.
    let left = stopping_since
        .get()
        .map_or(grace, |t: &tokio::time::Instant| {
            grace.saturating_sub(t.elapsed())
        })
        .max(Duration::from_secs(2));
    let steps = async {
        if tokio::time::timeout(left, state.tasks().wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "steps still running after {}s; they stay resumable from their persisted state",
                grace.as_secs()
            );
        }
    };
    tokio::join!(steps, control.stopped(left));
    eprintln!("cnpg-backup serve: stopped");
    Ok(ExitStatus::Success)
}

/// Waits for SIGTERM or SIGINT, then starts the shutdown.
async fn on_signal(shutdown: CancellationToken, health: Health) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
        () = shutdown.cancelled() => return,
    }
    eprintln!("cnpg-backup serve: shutting down (in-flight steps finish, event streams end)");
    health.condition("serving", false);
    shutdown.cancel();
}

/// The embedded default's clock: one simulated minute per tick, so backups complete and
/// recovery clusters get ready while you watch. The control loop sees each change (the
/// simulator is its watch) and does the rest: reconciles, restores moved on, event streams
/// woken.
async fn sim_ticker(backend: Arc<Backend>, state: ApiState, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = state.shutdown().cancelled() => return,
        }
        if let Err(e) = backend.advance(1).await {
            tracing::warn!(error = %e.message, "simulated time cannot move");
        }
    }
}
