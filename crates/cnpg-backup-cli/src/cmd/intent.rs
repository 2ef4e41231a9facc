//! `intent validate | schema`: restore intent documents, offline.

use std::path::Path;

use cnpg_backup_app::views::IntentView;
use cnpg_backup_core::restore::{RestoreIntent, intent_schema};

use crate::cli::IntentCommand;
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::{Output, emit, emit_text};

pub fn run(cmd: &IntentCommand, format: Output) -> CmdResult {
    match cmd {
        IntentCommand::Validate { file } => {
            let intent = load(file)?;
            emit(format, &IntentView::new(&intent))?;
            Ok(ExitStatus::Success)
        }
        IntentCommand::Schema => {
            let schema = intent_schema();
            let text = match format {
                Output::Yaml => crate::output::to_yaml(&schema)?,
                Output::Table | Output::Json => {
                    let mut t =
                        serde_json::to_string_pretty(&schema).map_err(|e| CliError::world(&e))?;
                    t.push('\n');
                    t
                }
            };
            emit_text(&text)?;
            Ok(ExitStatus::Success)
        }
    }
}

/// Reads and parses an intent document (`-` for stdin), with the offline checks.
///
/// # Errors
/// Exit 2 with the line, column and field path of the problem, or when the request fails a
/// check that needs no cluster (names, sources, instances).
pub fn load(file: &Path) -> Result<RestoreIntent, CliError> {
    Ok(cnpg_backup_app::request::load_intent(file)?)
}
