//! The `cnpg-backup` command: a thin shell over the cnpg-backup library.
//!
//! Parse the command line, call the library, render the answer, exit with a stable code. No
//! domain rule lives here: schedules, retention, plans, guards and the restore state machine are
//! the core's; talking to Kubernetes and buckets is the kube crate's. This crate is the only
//! printer: data on stdout (table, JSON, YAML), logs and progress on stderr.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

mod ack;
mod cli;
mod cmd;
mod exit;
mod output;
mod table;

use exit::ExitStatus;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    match cmd::run(cli) {
        Ok(status) => status.into(),
        Err(e) if e.status == ExitStatus::Success => ExitStatus::Success.into(),
        Err(e) => {
            let text = e.to_string();
            let mut err = anstream::stderr().lock();
            // Colour only on the prefix; the words say the same thing without it.
            let text = text
                .replacen(
                    "error:",
                    &output::style::paint(output::style::RED, "error:"),
                    1,
                )
                .replace(
                    "\nhint:",
                    &format!("\n{}", output::style::paint(output::style::YELLOW, "hint:")),
                );
            let _ = std::io::Write::write_all(&mut err, format!("{text}\n").as_bytes());
            e.status.into()
        }
    }
}

/// Logs go to stderr: `-q` errors only, default warnings, `-v` info, `-vv` debug, `-vvv` trace;
/// `RUST_LOG` overrides. No ANSI when `NO_COLOR` is set or stderr is not a terminal.
fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => tracing_subscriber::EnvFilter::new(v),
        // The kube client logs each failed attempt at ERROR; the final error says it once.
        _ if verbose == 0 => tracing_subscriber::EnvFilter::new(format!("{level},kube_client=off")),
        _ => tracing_subscriber::EnvFilter::new(level),
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}
