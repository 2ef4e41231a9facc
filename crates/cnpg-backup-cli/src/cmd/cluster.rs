//! `reconcile`, `status`, `preflight`, `backup now`: backup automation on the cluster (or the
//! embedded default).

use cnpg_backup_app::settings;
use cnpg_backup_app::views::{Preflight, ReconcileView};
use cnpg_backup_core::names::ServerName;
use cnpg_backup_core::status::{PreflightState, ReconcileState};

use crate::cli::{Cli, PreflightArgs};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::emit;

use super::backend;

/// `reconcile`: saves the `-c` settings (if given) and applies them. The settings file is read
/// and checked before the cluster is contacted: invalid settings are exit 2, never a request.
pub async fn reconcile(cli: &Cli) -> CmdResult {
    let file = match (&cli.embedded, &cli.config) {
        (None, Some(_)) => Some(settings::load(cli.config.as_ref())?),
        _ => None,
    };
    let b = backend(cli).await?;
    if let Some(s) = file {
        b.save_settings(&s).await?;
    }
    let status = b.run_reconcile().await?;
    emit(cli.output, &ReconcileView::from(&status))?;
    Ok(match status.state {
        ReconcileState::Error => ExitStatus::World,
        _ => ExitStatus::Success,
    })
}

/// `status`: the last reconcile and the last preflight.
pub async fn status(cli: &Cli) -> CmdResult {
    let b = backend(cli).await?;
    let view = b.status().await?;
    emit(cli.output, &view)?;
    let no = view.reconcile.state == "error"
        || view.preflight.state == "failed"
        || view
            .backups
            .iter()
            .any(|b| b.health == "failing" || b.health == "overdue");
    Ok(if no {
        ExitStatus::No
    } else {
        ExitStatus::Success
    })
}

/// `preflight [--read-only]`.
pub async fn preflight(args: &PreflightArgs, cli: &Cli) -> CmdResult {
    let servers = args
        .restore_server
        .iter()
        .map(|s| s.parse().map_err(|e| CliError::invalid(&e)))
        .collect::<Result<Vec<ServerName>, _>>()?;
    let b = backend(cli).await?;
    let report = b.run_preflight(args.read_only, servers).await?;
    emit(cli.output, &Preflight::from(&report))?;
    Ok(match report.state {
        PreflightState::Failed => ExitStatus::No,
        _ => ExitStatus::Success,
    })
}

/// `backup now`.
pub async fn backup_now(cli: &Cli) -> CmdResult {
    let b = backend(cli).await?;
    let view = b.run_backup_now().await?;
    emit(cli.output, &view)?;
    Ok(ExitStatus::Success)
}
