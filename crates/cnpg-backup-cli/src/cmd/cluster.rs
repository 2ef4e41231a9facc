//! `reconcile`, `status`, `preflight`, `backup now`: backup automation on the cluster (or the
//! embedded default).

use cnpg_backup_core::names::ServerName;
use cnpg_backup_core::ports::StateKey;
use cnpg_backup_core::status::{PreflightReport, PreflightState, ReconcileState};

use crate::backend::{Backend, Entry};
use crate::cli::{Cli, PreflightArgs};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::emit;
use crate::settings;
use crate::views::{BackupNowView, Preflight, ReconcileView, Status};

use super::service_error;

/// `reconcile`: saves the `-c` settings (if given) and applies them. The settings file is read
/// and checked before the cluster is contacted: invalid settings are exit 2, never a request.
pub async fn reconcile(cli: &Cli) -> CmdResult {
    let file = match (&cli.embedded, &cli.config) {
        (None, Some(_)) => Some(settings::load(cli.config.as_ref())?),
        _ => None,
    };
    let b = Backend::from_cli(cli).await?;
    if let Some(s) = file {
        b.backups
            .save_settings(&s)
            .await
            .map_err(|e| service_error(&e))?;
    }
    let status = run_reconcile(&b).await?;
    emit(cli.output, &ReconcileView::from(&status))?;
    Ok(match status.state {
        ReconcileState::Error => ExitStatus::World,
        _ => ExitStatus::Success,
    })
}

/// Reconciles once and records it.
pub async fn run_reconcile(
    b: &Backend,
) -> Result<cnpg_backup_core::status::ReconcileStatus, CliError> {
    let v = b.app_version().await;
    let status = b.backups.reconcile(v.as_ref()).await;
    b.record(Entry::Reconcile)?;
    status.map_err(|e| service_error(&e))
}

/// `status`: the last reconcile and the last preflight.
pub async fn status(cli: &Cli) -> CmdResult {
    let b = Backend::from_cli(cli).await?;
    let view = load_status(&b).await?;
    emit(cli.output, &view)?;
    let no = view.reconcile.state == "error" || view.preflight.state == "failed";
    Ok(if no {
        ExitStatus::No
    } else {
        ExitStatus::Success
    })
}

/// Reads the stored statuses.
pub async fn load_status(b: &Backend) -> Result<Status, CliError> {
    let reconcile = b
        .backups
        .reconcile_status()
        .await
        .map_err(|e| service_error(&e))?;
    let preflight = match b.state.get(&StateKey::PreflightReport).await {
        Ok(Some(stored)) => serde_json::from_str::<PreflightReport>(&stored.body).map_err(|e| {
            CliError::world(&e).context("the stored preflight report is unreadable")
        })?,
        Ok(None) => PreflightReport::not_run(),
        Err(e) => return Err(CliError::world(&e).context("cannot read the preflight report")),
    };
    Ok(Status {
        reconcile: ReconcileView::from(&reconcile),
        preflight: Preflight::from(&preflight),
    })
}

/// `preflight [--read-only]`.
pub async fn preflight(args: &PreflightArgs, cli: &Cli) -> CmdResult {
    let servers = args
        .restore_server
        .iter()
        .map(|s| s.parse().map_err(|e| CliError::invalid(&e)))
        .collect::<Result<Vec<ServerName>, _>>()?;
    let b = Backend::from_cli(cli).await?;
    let report = run_preflight(&b, args.read_only, servers).await?;
    emit(cli.output, &Preflight::from(&report))?;
    Ok(match report.state {
        PreflightState::Failed => ExitStatus::No,
        _ => ExitStatus::Success,
    })
}

/// Runs the preflight once and records it.
pub async fn run_preflight(
    b: &Backend,
    read_only: bool,
    restore_servers: Vec<ServerName>,
) -> Result<PreflightReport, CliError> {
    let options = b
        .preflight_options(read_only, restore_servers.clone())
        .await;
    let report = b.backups.preflight(&options).await;
    b.record(Entry::Preflight {
        read_only,
        restore_servers,
    })?;
    report.map_err(|e| service_error(&e))
}

/// `backup now`.
pub async fn backup_now(cli: &Cli) -> CmdResult {
    let b = Backend::from_cli(cli).await?;
    let view = run_backup_now(&b).await?;
    emit(cli.output, &view)?;
    Ok(ExitStatus::Success)
}

/// Takes one on-demand backup per plane in scope and records it. Refused (exit 1) when the
/// target is no longer used for backups: reconcile took the clusters' backup configuration off.
pub async fn run_backup_now(b: &Backend) -> Result<BackupNowView, CliError> {
    if let Ok(s) = b.backups.settings().await
        && !s.target.use_for_backups
    {
        return Err(CliError::new(
            ExitStatus::No,
            "the target is not used for backups (`useForBackups: false`), so WAL archiving to it \
             is stopped and no backup is taken",
        )
        .hint("set `target.useForBackups: true` and run `cnpg-backup -c FILE reconcile` first"));
    }
    let v = b.app_version().await;
    let requests = b.backups.backup_now(v.as_ref()).await;
    b.record(Entry::BackupNow)?;
    Ok(BackupNowView::new(
        &requests.map_err(|e| service_error(&e))?,
    ))
}
