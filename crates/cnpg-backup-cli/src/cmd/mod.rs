//! One module per command group; each returns an exit status or a [`CliError`].

use crate::cli::{Cli, Command};
use crate::exit::CmdResult;

mod config;
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
        _ => todo_cluster(),
    }
}

fn todo_cluster() -> CmdResult {
    Err(crate::exit::CliError::new(
        crate::exit::ExitStatus::World,
        "this command is not available in this build yet",
    ))
}
