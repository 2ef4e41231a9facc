//! `config init | validate | show` and `plan`: offline commands over the settings file.

use std::io::Write;

use cnpg_backup_core::automation::{AutomationPlan, BARMAN_CLOUD_PLUGIN};

use crate::cli::{Cli, ConfigCommand};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::{Output, emit, emit_text};
use cnpg_backup_app::settings;
use cnpg_backup_app::views::ConfigShow;

pub fn run(cmd: &ConfigCommand, cli: &Cli) -> CmdResult {
    match cmd {
        ConfigCommand::Init { force } => init(cli, *force),
        ConfigCommand::Validate { file } => {
            let path = match file {
                Some(f) => f,
                None => settings::path(cli.config.as_ref())?,
            };
            let text = settings::read_input(path, settings::MAX_INPUT_BYTES)?;
            let s = settings::parse(&text, &path.display().to_string())?;
            tracing::info!("settings are valid");
            emit(cli.output, &ConfigShow::new(&s, &settings::check(&s)?))?;
            Ok(ExitStatus::Success)
        }
        ConfigCommand::Show => {
            let s = settings::load(cli.config.as_ref())?;
            emit(cli.output, &ConfigShow::new(&s, &settings::check(&s)?))?;
            Ok(ExitStatus::Success)
        }
    }
}

fn init(cli: &Cli, force: bool) -> CmdResult {
    let Some(path) = &cli.config else {
        emit_text(settings::TEMPLATE)?;
        return Ok(ExitStatus::Success);
    };
    if path.exists() && !force {
        return Err(CliError::new(
            ExitStatus::Refused,
            format!("`{}` already exists; nothing was written", path.display()),
        )
        .hint("pass `--force` to overwrite it"));
    }
    let mut f = std::fs::File::create(path).map_err(|e| {
        CliError::from_error(ExitStatus::Invalid, &e)
            .context(format!("cannot write `{}`", path.display()))
    })?;
    f.write_all(settings::TEMPLATE.as_bytes())
        .map_err(|e| CliError::from_error(ExitStatus::World, &e))?;
    if !cli.quiet {
        // A message for people, not data: stderr.
        let _ = writeln!(
            anstream::stderr(),
            "wrote `{}`; edit the target and clusters, then run `cnpg-backup -c {} config validate`",
            path.display(),
            path.display()
        );
    }
    Ok(ExitStatus::Success)
}

/// `plan`: the CNPG objects the settings produce, without a cluster: per plane in scope, the
/// plugin's `ObjectStore` (plugin method), the live Cluster's backup fields (a server-side apply
/// patch holding only the fields cnpg-backup owns) and the ScheduledBackup; then what is removed
/// and the plan's warnings (YAML comments; with `-o json`, `warning: …` lines on stderr).
pub fn plan(cli: &Cli) -> CmdResult {
    let s = settings::load(cli.config.as_ref())?;
    let plan = settings::check(&s)?;
    let namespace = cli.namespace.as_deref().unwrap_or("default");
    let docs = render_plan(&plan, namespace)?;
    match cli.output {
        Output::Json => {
            let text = serde_json::to_string_pretty(&docs).map_err(|e| CliError::world(&e))?;
            emit_text(&format!("{text}\n"))?;
            // stdout stays one JSON array of objects; the warnings are for people: stderr.
            if !cli.quiet {
                let mut err = anstream::stderr().lock();
                for w in &plan.warnings {
                    let _ = writeln!(err, "warning: {w}");
                }
            }
        }
        Output::Table | Output::Yaml => {
            let mut out = String::from(
                "# Rendered by `cnpg-backup plan`. Apply with server-side apply and field manager\n\
                 # `cnpg-backup`; each Cluster document holds only the backup fields cnpg-backup owns.\n",
            );
            for d in &docs {
                out.push_str("---\n");
                out.push_str(&crate::output::to_yaml(d)?);
            }
            for r in &plan.removals {
                out.push_str(&format!(
                    "# not in the plan: ScheduledBackup `{}` of the {} plane is removed if cnpg-backup manages it\n",
                    r.scheduled_backup, r.plane
                ));
            }
            for r in &plan.archive_removals {
                let what = match &r.object_store_name {
                    Some(store) => format!(
                        "loses its `{BARMAN_CLOUD_PLUGIN}` entry naming ObjectStore `{store}`, then the ObjectStore is deleted"
                    ),
                    None => {
                        "loses `spec.backup.barmanObjectStore` and `spec.backup.retentionPolicy`"
                            .to_owned()
                    }
                };
                out.push_str(&format!(
                    "# not in the plan: Cluster `{}` ({} plane) {what}, where cnpg-backup manages them\n",
                    r.cluster, r.plane
                ));
            }
            for w in &plan.warnings {
                out.push_str(&format!("# warning: {w}\n"));
            }
            emit_text(&out)?;
        }
    }
    Ok(ExitStatus::Success)
}

fn render_plan(plan: &AutomationPlan, namespace: &str) -> Result<Vec<serde_json::Value>, CliError> {
    use cnpg_backup_kube::render;
    let json = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(|e| CliError::world(&e));
    let mut docs = Vec::new();
    for p in &plan.planes {
        if p.method == cnpg_backup_core::automation::BackupMethod::Plugin {
            let store =
                render::render_object_store(p, namespace).map_err(|e| CliError::invalid(&e))?;
            docs.push(json(serde_json::to_value(&store))?);
        }
        let cluster =
            render::render_cluster_backup(p, namespace).map_err(|e| CliError::invalid(&e))?;
        docs.push(json(serde_json::to_value(&cluster))?);
        if let Some(sb) = &p.scheduled_backup {
            docs.push(json(serde_json::to_value(
                render::render_scheduled_backup(p, sb, namespace),
            ))?);
        }
    }
    Ok(docs)
}
