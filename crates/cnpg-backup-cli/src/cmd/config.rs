//! `config init | validate | show` and `plan`: offline commands over the settings file.

use std::io::Write;

use cnpg_backup_core::automation::{AutomationPlan, BackupSettings};

use crate::cli::{Cli, ConfigCommand};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::{Output, emit, emit_text};
use crate::settings;
use crate::views::{ConfigShow, PlanePlanView};

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
    tracing::warn!(
        "wrote `{}`; edit the target and clusters, then run `cnpg-backup config validate`",
        path.display()
    );
    Ok(ExitStatus::Success)
}

/// `plan`: the objects the settings produce, without a cluster.
pub fn plan(cli: &Cli) -> CmdResult {
    let s = settings::load(cli.config.as_ref())?;
    let plan = settings::check(&s)?;
    render_plan(cli.output, &s, &plan)?;
    Ok(ExitStatus::Success)
}

fn render_plan(
    format: Output,
    _settings: &BackupSettings,
    plan: &AutomationPlan,
) -> Result<(), CliError> {
    let view: Vec<PlanePlanView> = plan.planes.iter().map(PlanePlanView::from).collect();
    match format {
        Output::Json => {
            let text = serde_json::to_string_pretty(&view).map_err(|e| CliError::world(&e))?;
            emit_text(&format!("{text}\n"))?;
        }
        Output::Table | Output::Yaml => {
            let mut out = String::new();
            for (i, p) in view.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&crate::output::to_yaml(p)?);
            }
            emit_text(&out)?;
        }
    }
    Ok(())
}
