//! `retention check`.

use cnpg_backup_core::retention::RetentionPolicy;

use crate::cli::RetentionCommand;
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::{Output, emit};
use cnpg_backup_app::views::RetentionCheck;

pub fn run(cmd: &RetentionCommand, format: Output) -> CmdResult {
    match cmd {
        RetentionCommand::Check { value } => {
            let policy: RetentionPolicy = value.parse().map_err(|e| CliError::invalid(&e))?;
            emit(format, &RetentionCheck::of(&policy))?;
            Ok(ExitStatus::Success)
        }
    }
}
