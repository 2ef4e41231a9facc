//! One module per command group; each returns an exit status or a [`CliError`].

use std::future::Future;

use cnpg_backup_core::ports::BackendError;
use cnpg_backup_core::restore::{AckError, GuardError, MachineError};
use cnpg_backup_core::service::ServiceError;

use crate::cli::{Cli, Command};
use crate::exit::{CliError, CmdResult, ExitStatus};

mod catalog;
mod cluster;
mod config;
mod demo;
pub mod intent;
pub mod request;
mod restore;
mod retention;
mod schedule;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CmdResult {
    let format = cli.output;
    match &cli.command {
        Command::Schedule(c) => schedule::run(c, format),
        Command::Retention(c) => retention::run(c, format),
        Command::Config(c) => config::run(c, &cli),
        Command::Plan => config::plan(&cli),
        Command::Intent(c) => intent::run(c, format),
        Command::Rbac => {
            let ns = cli.namespace.as_deref().unwrap_or("default");
            crate::output::emit_text(&cnpg_backup_kube::rbac::role_yaml(ns))?;
            Ok(ExitStatus::Success)
        }
        Command::Demo(args) => block_on(demo::run(args)),
        Command::Reconcile => block_on(cluster::reconcile(&cli)),
        Command::Status => block_on(cluster::status(&cli)),
        Command::Preflight(args) => block_on(cluster::preflight(args, &cli)),
        Command::Backup(crate::cli::BackupCommand::Now) => block_on(cluster::backup_now(&cli)),
        Command::Catalog(args) => block_on(catalog::run(args, &cli)),
        Command::Restore(c) => block_on(restore::run(c, &cli)),
    }
}

/// Runs a future on a single-threaded runtime (built only for commands that need one).
fn block_on<F: Future<Output = CmdResult>>(f: F) -> CmdResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::world(&e).context("cannot start the async runtime"))?;
    rt.block_on(f)
}

/// The exit status and message of a service error.
pub fn service_error(e: &ServiceError) -> CliError {
    let status = match e {
        ServiceError::Backend { source, .. } => backend_status(source),
        ServiceError::SettingsMissing | ServiceError::Settings(_) => ExitStatus::Invalid,
        ServiceError::Corrupt { .. } | ServiceError::Conflict { .. } => ExitStatus::World,
        ServiceError::AutomationDisabled | ServiceError::BackupInProgress { .. } => ExitStatus::No,
        ServiceError::Guard(g) => guard_status(g),
        // An acknowledgement the service itself checked (e.g. one carried by an intent).
        ServiceError::Ack(_) => ExitStatus::Refused,
        ServiceError::Machine(m) => machine_status(m),
        ServiceError::RestoreNotFound { .. } => ExitStatus::Invalid,
        ServiceError::RestoreExists { .. } => ExitStatus::Refused,
        _ => ExitStatus::World,
    };
    let err = CliError::from_error(status, e);
    match e {
        ServiceError::SettingsMissing => err.hint(
            "save settings with `cnpg-backup -c FILE reconcile` (`cnpg-backup config init` writes a FILE)",
        ),
        ServiceError::Backend { source, .. } if backend_status(source) == ExitStatus::World => {
            err.hint("check that the cluster (or bucket) is reachable and that the Role from `cnpg-backup rbac` is bound")
        }
        _ => err,
    }
}

fn backend_status(e: &BackendError) -> ExitStatus {
    match e {
        BackendError::AlreadyExists { .. } => ExitStatus::Refused,
        _ => ExitStatus::World,
    }
}

fn guard_status(g: &GuardError) -> ExitStatus {
    match g {
        // A recovery name equal to a live cluster's (or used twice): names clash.
        GuardError::NameClash(_) => ExitStatus::Refused,
        GuardError::Name(_)
        | GuardError::Sources { .. }
        | GuardError::Instances { .. }
        | GuardError::BackupNotFound { .. }
        | GuardError::TargetInFuture { .. }
        | GuardError::NoRecoverabilityPoint { .. }
        | GuardError::TargetBeforeFirstPoint { .. }
        | GuardError::TargetBeforePinnedEnd { .. } => ExitStatus::Invalid,
        // Names clash, backup not restorable, version drift, set mismatch: refused for safety.
        _ => ExitStatus::Refused,
    }
}

fn machine_status(m: &MachineError) -> ExitStatus {
    match m {
        MachineError::RecoveryNotReady { .. } => ExitStatus::No,
        MachineError::WrongPhase { .. } => ExitStatus::No,
        MachineError::IdMismatch { .. } => ExitStatus::Invalid,
        _ => ExitStatus::Refused,
    }
}

/// A wrong or missing acknowledgement: refused for safety, nothing done.
pub fn ack_error(e: &AckError) -> CliError {
    CliError::from_error(ExitStatus::Refused, e).hint("nothing was done")
}

#[cfg(test)]
mod tests {
    use cnpg_backup_core::restore::StageOneAck;

    use super::*;

    #[test]
    fn a_name_clash_is_refused_by_its_type_and_a_bad_name_is_invalid_input() {
        let live: cnpg_backup_core::names::ClusterName = "cnpg-admin".parse().unwrap();
        let clash = cnpg_backup_core::names::check_distinct(&[&live], &[&live]).unwrap_err();
        assert_eq!(
            guard_status(&GuardError::NameClash(clash)),
            ExitStatus::Refused
        );
        let bad = "Bad_Name"
            .parse::<cnpg_backup_core::names::ClusterName>()
            .unwrap_err();
        assert_eq!(guard_status(&GuardError::Name(bad)), ExitStatus::Invalid);
    }

    #[test]
    fn a_wrong_acknowledgement_from_the_service_is_refused_not_an_outside_failure() {
        let ack = StageOneAck::verify("yes").expect_err("`yes` is not the sentence");
        assert_eq!(
            service_error(&ServiceError::Ack(ack)).status,
            ExitStatus::Refused
        );
    }
}
