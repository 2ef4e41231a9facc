//! One module per command group; each returns an exit status or a [`CliError`].

use std::future::Future;

use cnpg_backup_app::{Backend, KubeTarget, settings};
use cnpg_backup_kube::ClientSource;

use crate::cli::{Cli, Command};
use crate::exit::{CliError, CmdResult, ExitStatus};

mod catalog;
mod cluster;
mod config;
mod control;
mod demo;
pub mod intent;
pub mod request;
mod restore;
mod retention;
mod schedule;
mod serve;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CmdResult {
    let format = cli.output;
    match &cli.command {
        Command::Schedule(c) => schedule::run(c, format),
        Command::Retention(c) => retention::run(c, format),
        Command::Config(c) => config::run(c, &cli),
        Command::Plan => config::plan(&cli),
        Command::Intent(c) => intent::run(c, format),
        Command::Rbac(args) => {
            use cnpg_backup_kube::rbac;
            let ns = cli.namespace.as_deref().unwrap_or("default");
            let text = if args.users {
                rbac::user_roles_yaml(ns)
            } else if args.serve {
                format!(
                    "{}---\n{}",
                    rbac::role_yaml(ns),
                    rbac::serve_reviews_yaml(ns, &args.service_account)
                )
            } else {
                rbac::role_yaml(ns)
            };
            crate::output::emit_text(&text)?;
            Ok(ExitStatus::Success)
        }
        Command::Serve(args) => serve::run(args, &cli),
        Command::Manifests(args) => manifests(args, &cli),
        Command::Demo(args) => block_on(demo::run(args, &cli)),
        Command::Reconcile => block_on(cluster::reconcile(&cli)),
        Command::Status => block_on(cluster::status(&cli)),
        Command::Preflight(args) => block_on(cluster::preflight(args, &cli)),
        Command::Backup(crate::cli::BackupCommand::Now) => block_on(cluster::backup_now(&cli)),
        Command::Catalog(args) => block_on(catalog::run(args, &cli)),
        Command::Restore(c) => block_on(restore::run(c, &cli)),
    }
}

/// `manifests`: everything that runs `serve` in the namespace, as YAML.
fn manifests(args: &crate::cli::ManifestsArgs, cli: &Cli) -> CmdResult {
    use cnpg_backup_controller::kube::manifests::{ManifestOptions, manifests_yaml};
    let ns = cli.namespace.as_deref().unwrap_or("default");
    let t = &args.timing;
    let lease = cnpg_backup_controller::LeaseConfig::with_timing(
        "from-the-pod-name",
        t.lease_duration,
        t.lease_renew_deadline,
        t.lease_retry_period,
    )
    .map_err(|e| CliError::invalid(&e))?;
    let timing = cnpg_backup_controller::Timing::default()
        .with_resync(chrono::Duration::from_std(t.resync).map_err(|e| CliError::invalid(&e))?);
    let options =
        ManifestOptions::new(ns, &args.image, args.replicas, &t.lease_name, lease, timing);
    // The reviews: `serve` checks each caller's token and permission in the cluster.
    let text = manifests_yaml(
        &options,
        &cnpg_backup_kube::rbac::serve_rules(),
        cnpg_backup_kube::rbac::SERVE_REVIEW_RULES,
    );
    crate::output::emit_text(&text)?;
    Ok(ExitStatus::Success)
}

/// Runs a future on a single-threaded runtime (built only for commands that need one).
fn block_on<F: Future<Output = CmdResult>>(f: F) -> CmdResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::world(&e).context("cannot start the async runtime"))?;
    rt.block_on(f)
}

/// The backend the command line selects: the embedded default with `--embedded DIR` (the `-c`
/// settings, if any, replace the stored ones), else the Kubernetes cluster of
/// `--kubeconfig`/`--context` in `-n`.
///
/// # Errors
/// Exit 3 when the cluster cannot be reached; exit 2 for invalid settings or a missing
/// kubeconfig file.
pub async fn backend(cli: &Cli) -> Result<Backend, CliError> {
    match &cli.embedded {
        Some(dir) => {
            let file_settings = match &cli.config {
                Some(_) => Some(settings::load(cli.config.as_ref())?),
                None => None,
            };
            Ok(Backend::embedded(dir, file_settings, true).await?)
        }
        None => Ok(Backend::connect(&kube_target(cli)).await?),
    }
}

/// The cluster the command line names: `--kubeconfig`/`--context` (else $KUBECONFIG,
/// ~/.kube/config, in-cluster), in `-n` (else the context's namespace).
pub fn kube_target(cli: &Cli) -> KubeTarget {
    let source = if cli.kubeconfig.is_some() || cli.context.is_some() {
        ClientSource::Kubeconfig {
            path: cli.kubeconfig.clone(),
            context: cli.context.clone(),
        }
    } else {
        ClientSource::Infer
    };
    KubeTarget::new(source, cli.namespace.clone())
}

/// Who is acting, for the audit trail: `$USER` when set.
pub fn actor() -> Option<String> {
    std::env::var("USER").ok().filter(|u| !u.is_empty())
}
