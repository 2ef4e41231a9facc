//! `restore plan | create | status | apply | abandon | cleanup`.
//!
//! Everything offline comes first: the request is built and checked, and the acknowledgement is
//! obtained and verified, before the cluster is contacted.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use cnpg_backup_app::AppError;
use cnpg_backup_app::error::ack_error;
use cnpg_backup_app::ops::settled;
use cnpg_backup_core::names::RestoreId;
use cnpg_backup_core::restore::{
    PhaseName, RestoreRecord, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};

use crate::cli::{Cli, RestoreCommand, RestoreStatusArgs};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::emit;
use cnpg_backup_app::views::{RestoreList, RestorePlanView, RestoreView};

use super::{actor, backend, request};

pub async fn run(cmd: &RestoreCommand, cli: &Cli) -> CmdResult {
    match cmd {
        RestoreCommand::Plan(args) => {
            let req = request::build(args)?;
            let b = backend(cli).await?;
            let id = req.id_at(b.clock.now());
            let plan = b.restore_plan(&id, &req.request).await?;
            emit(cli.output, &RestorePlanView::new(&id, &plan))?;
            Ok(ExitStatus::Success)
        }
        RestoreCommand::Create(args) => {
            let req = request::build(&args.request)?;
            let from_intent = req
                .intent
                .as_ref()
                .and_then(|i| i.acknowledgements.as_ref())
                .and_then(|a| a.stage_one.clone());
            let text = crate::ack::obtain(
                args.ack.as_deref().or(from_intent.as_deref()),
                STAGE_ONE_ACK,
                "Stage one (create temporary recovery clusters)",
            )?;
            let ack = StageOneAck::verify(&text).map_err(|e| ack_error(&e))?;
            let b = backend(cli).await?;
            let id = req.id_at(b.clock.now());
            let record = b.restore_create(&id, &req.request, &ack, actor()).await?;
            emit(cli.output, &RestoreView::new(&record))?;
            Ok(phase_status(&record))
        }
        RestoreCommand::Status(args) => status(args, cli).await,
        RestoreCommand::Apply(args) => {
            let id = parse_id(&args.id)?;
            let text = crate::ack::obtain(
                args.ack.as_deref(),
                STAGE_TWO_ACK,
                "Stage two (replace the live clusters)",
            )?;
            let ack = StageTwoAck::verify(&text).map_err(|e| ack_error(&e))?;
            let b = backend(cli).await?;
            let record = b.restore_apply(&id, &ack, actor()).await?;
            emit(cli.output, &RestoreView::new(&record))?;
            Ok(phase_status(&record))
        }
        RestoreCommand::Abandon(arg) => {
            let id = parse_id(&arg.id)?;
            let b = backend(cli).await?;
            let r = b.restore_abandon(&id, actor()).await;
            finish_step(cli, r, |_| ExitStatus::Success)
        }
        RestoreCommand::Retry(arg) => {
            let id = parse_id(&arg.id)?;
            let b = backend(cli).await?;
            let r = b.restore_retry(&id, actor()).await;
            finish_step(cli, r, phase_status)
        }
        RestoreCommand::List => {
            let b = backend(cli).await?;
            let all = b.restore_list().await?;
            emit(
                cli.output,
                &RestoreList(all.iter().map(RestoreView::new).collect()),
            )?;
            Ok(ExitStatus::Success)
        }
        RestoreCommand::Cleanup(arg) => {
            let id = parse_id(&arg.id)?;
            let b = backend(cli).await?;
            let r = b.restore_cleanup(&id, actor()).await;
            finish_step(cli, r, |_| ExitStatus::Success)
        }
    }
}

fn parse_id(s: &str) -> Result<RestoreId, CliError> {
    s.parse().map_err(|e| CliError::invalid(&e))
}

/// Ends a restore step on an existing record (already journaled by the operation): prints the
/// record or the error.
fn finish_step(
    cli: &Cli,
    result: Result<RestoreRecord, AppError>,
    status: fn(&RestoreRecord) -> ExitStatus,
) -> CmdResult {
    let record = result?;
    emit(cli.output, &RestoreView::new(&record))?;
    Ok(status(&record))
}

/// 0 unless the restore failed (1).
fn phase_status(r: &RestoreRecord) -> ExitStatus {
    match r.phase().name() {
        PhaseName::Failed => ExitStatus::No,
        _ => ExitStatus::Success,
    }
}

async fn status(args: &RestoreStatusArgs, cli: &Cli) -> CmdResult {
    let id = parse_id(&args.id)?;
    let b = backend(cli).await?;
    let mut record = b.restore_refresh(&id).await?;
    if args.watch {
        let live = std::io::stderr().is_terminal();
        let mut drawn = 0;
        loop {
            if !cli.quiet {
                drawn = progress(&record, live, drawn);
            }
            if settled(&record) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(args.interval)).await;
            // On the embedded default, simulated time moves with the watch.
            b.advance(1).await?;
            record = b.restore_refresh(&id).await?;
        }
    }
    emit(cli.output, &RestoreView::new(&record))?;
    Ok(match record.phase().name() {
        PhaseName::Failed | PhaseName::Abandoned if args.watch => ExitStatus::No,
        PhaseName::Failed => ExitStatus::No,
        _ => ExitStatus::Success,
    })
}

/// Draws the progress of each recovery cluster on stderr; on a terminal, redraws the `drawn`
/// lines of the previous round in place. Returns how many lines it drew.
pub fn progress(r: &RestoreRecord, live: bool, drawn: usize) -> usize {
    // Plain stderr: the lines carry no colour, and cursor movement is not colour (NO_COLOR).
    let mut err = std::io::stderr().lock();
    let lines = cnpg_backup_app::views::progress_lines(r);
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(100)
        .max(20);
    if live && drawn > 0 {
        // Back to the first line of the previous round.
        let _ = write!(err, "\x1b[{drawn}F");
    }
    for line in &lines {
        if live {
            // Clear, and keep each line within the terminal so the redraw stays in place.
            let shown: String = line.chars().take(width - 1).collect();
            let _ = writeln!(err, "\x1b[2K{shown}");
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
    let _ = err.flush();
    lines.len()
}
