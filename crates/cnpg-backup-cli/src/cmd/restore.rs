//! `restore plan | create | status | apply | abandon | cleanup`.
//!
//! Everything offline comes first: the request is built and checked, and the acknowledgement is
//! obtained and verified, before the cluster is contacted.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use cnpg_backup_core::names::RestoreId;
use cnpg_backup_core::restore::{
    PhaseName, RestoreRecord, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};
use cnpg_backup_core::service::ServiceError;

use crate::backend::{Backend, Entry, actor};
use crate::cli::{Cli, RestoreCommand, RestoreStatusArgs};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::emit;
use crate::views::{RestoreList, RestorePlanView, RestoreView};

use super::{ack_error, request, service_error};

pub async fn run(cmd: &RestoreCommand, cli: &Cli) -> CmdResult {
    match cmd {
        RestoreCommand::Plan(args) => {
            let req = request::build(args)?;
            let b = Backend::from_cli(cli).await?;
            let id = req.id_at(b.clock.now());
            let v = b.app_version().await;
            let plan = b
                .restores
                .plan(&id, &req.request, v.as_ref())
                .await
                .map_err(|e| service_error(&e))?;
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
            let b = Backend::from_cli(cli).await?;
            let id = req.id_at(b.clock.now());
            let record = create(&b, &id, &req, &ack).await?;
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
            let b = Backend::from_cli(cli).await?;
            let record = apply(&b, &id, &ack).await?;
            emit(cli.output, &RestoreView::new(&record))?;
            Ok(phase_status(&record))
        }
        RestoreCommand::Abandon(arg) => {
            let id = parse_id(&arg.id)?;
            let b = Backend::from_cli(cli).await?;
            let r = b.restores.abandon(&id, actor()).await;
            let entry = Entry::RestoreAbandon { id, actor: actor() };
            finish_step(cli, &b, r, entry, |_| ExitStatus::Success)
        }
        RestoreCommand::Retry(arg) => {
            let id = parse_id(&arg.id)?;
            let b = Backend::from_cli(cli).await?;
            let r = b.restores.retry(&id, actor()).await;
            let entry = Entry::RestoreRetry { id, actor: actor() };
            finish_step(cli, &b, r, entry, phase_status)
        }
        RestoreCommand::List => {
            let b = Backend::from_cli(cli).await?;
            let all = b.restores.list().await.map_err(|e| service_error(&e))?;
            emit(
                cli.output,
                &RestoreList(all.iter().map(RestoreView::new).collect()),
            )?;
            Ok(ExitStatus::Success)
        }
        RestoreCommand::Cleanup(arg) => {
            let id = parse_id(&arg.id)?;
            let b = Backend::from_cli(cli).await?;
            let r = b.restores.cleanup(&id, actor()).await;
            let entry = Entry::RestoreCleanup { id, actor: actor() };
            finish_step(cli, &b, r, entry, |_| ExitStatus::Success)
        }
    }
}

fn parse_id(s: &str) -> Result<RestoreId, CliError> {
    s.parse().map_err(|e| CliError::invalid(&e))
}

/// 0 unless the restore failed (1).
/// Ends a restore step on an existing record: journals it (the embedded default replays every
/// step, whatever its outcome), then prints the record or the service's error.
fn finish_step(
    cli: &Cli,
    b: &Backend,
    result: Result<RestoreRecord, ServiceError>,
    entry: Entry,
    status: fn(&RestoreRecord) -> ExitStatus,
) -> CmdResult {
    b.record(entry)?;
    let record = result.map_err(|e| service_error(&e))?;
    emit(cli.output, &RestoreView::new(&record))?;
    Ok(status(&record))
}

fn phase_status(r: &RestoreRecord) -> ExitStatus {
    match r.phase().name() {
        PhaseName::Failed => ExitStatus::No,
        _ => ExitStatus::Success,
    }
}

/// Stage one, recorded.
pub async fn create(
    b: &Backend,
    id: &RestoreId,
    req: &request::Requested,
    ack: &StageOneAck,
) -> Result<RestoreRecord, CliError> {
    let v = b.app_version().await;
    let r = b
        .restores
        .create(id, &req.request, v.as_ref(), ack, actor())
        .await;
    b.record(Entry::RestoreCreate {
        id: id.clone(),
        request: req.request.clone(),
        actor: actor(),
    })?;
    r.map_err(|e| service_error(&e))
}

/// Stage two, recorded.
pub async fn apply(
    b: &Backend,
    id: &RestoreId,
    ack: &StageTwoAck,
) -> Result<RestoreRecord, CliError> {
    let r = b.restores.apply(id, ack, actor()).await;
    b.record(Entry::RestoreApply {
        id: id.clone(),
        actor: actor(),
    })?;
    r.map_err(|e| service_error(&e))
}

/// One refresh, recorded.
pub async fn refresh(b: &Backend, id: &RestoreId) -> Result<RestoreRecord, CliError> {
    let r = b.restores.refresh(id).await;
    b.record(Entry::RestoreRefresh { id: id.clone() })?;
    r.map_err(|e| service_error(&e))
}

/// Whether a watch is over: ready for promotion checks, or an end state.
pub fn settled(r: &RestoreRecord) -> bool {
    matches!(
        r.phase().name(),
        PhaseName::ReadyForPromotionChecks
            | PhaseName::Completed
            | PhaseName::Failed
            | PhaseName::Abandoned
    )
}

async fn status(args: &RestoreStatusArgs, cli: &Cli) -> CmdResult {
    let id = parse_id(&args.id)?;
    let b = Backend::from_cli(cli).await?;
    let mut record = refresh(&b, &id).await?;
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
            record = refresh(&b, &id).await?;
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
    let lines = crate::views::progress_lines(r);
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
