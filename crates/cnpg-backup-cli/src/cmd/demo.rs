//! `demo`: the whole workflow on the embedded default, each step printed as a user would see it.

use std::io::Write;

use cnpg_backup_core::names::ObjectName;
use cnpg_backup_core::restore::{
    PhaseName, RestoreRequest, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};

use crate::backend::Backend;
use crate::cli::{DemoArgs, PlaneArg};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::{Table, emit_text};
use crate::views::{
    Catalog, CatalogRow, ConfigShow, Preflight, ReconcileView, RestorePlanView, RestoreView,
};

use super::{ack_error, catalog, cluster, request, restore, service_error};

fn heading(n: u32, title: &str, command: &str) -> Result<(), CliError> {
    let line = format!(
        "\n{}\n{}\n",
        crate::output::style::paint(crate::output::style::BOLD, &format!("{n}. {title}")),
        crate::output::style::paint(
            crate::output::style::YELLOW,
            &format!("$ cnpg-backup --embedded DIR {command}")
        )
    );
    emit_text(&line)?;
    Ok(())
}

fn show<T: Table>(v: &T) -> Result<(), CliError> {
    let mut buf = Vec::new();
    v.table(&mut buf)?;
    emit_text(&String::from_utf8_lossy(&buf))?;
    Ok(())
}

fn say(text: &str) -> Result<(), CliError> {
    emit_text(&format!("{text}\n"))?;
    Ok(())
}

pub async fn run(args: &DemoArgs) -> CmdResult {
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            if d.join("journal.json").exists() {
                return Err(CliError::new(
                    ExitStatus::Invalid,
                    format!("`{}` already holds an embedded default", d.display()),
                )
                .hint("give an empty or new directory, or continue it with `cnpg-backup --embedded DIR ...`"));
            }
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().map_err(|e| CliError::world(&e))?;
            tmp.path().to_owned()
        }
    };
    say(&format!(
        "cnpg-backup demo: a simulated CloudNativePG with two clusters (cnpg-admin, cnpg-tenant)\nand a local-directory bucket in `{}`. Simulated time starts at 2026-11-26T00:00:00Z.",
        dir.join("bucket").display()
    ))?;
    let b = Backend::embedded(&dir, None, true).await?;

    heading(1, "Settings", "config show")?;
    let settings = b.backups.settings().await.map_err(|e| service_error(&e))?;
    show(&ConfigShow::new(
        &settings,
        &crate::settings::check(&settings)?,
    ))?;

    heading(2, "Check the bucket (changes no database)", "preflight")?;
    let report = cluster::run_preflight(&b, false, Vec::new()).await?;
    show(&Preflight::from(&report))?;

    heading(3, "Apply the backup automation", "reconcile")?;
    let status = cluster::run_reconcile(&b).await?;
    show(&ReconcileView::from(&status))?;
    say("Reconciling again changes nothing:")?;
    let status = cluster::run_reconcile(&b).await?;
    show(&ReconcileView::from(&status))?;

    heading(4, "Take a backup of both planes now", "backup now")?;
    show(&cluster::run_backup_now(&b).await?)?;

    heading(
        5,
        "Let three simulated hours pass: the hourly schedules fire",
        "(time passes)",
    )?;
    b.advance(180).await?;
    say(&format!(
        "simulated clock: {}",
        crate::views::rfc3339(b.clock.now())
    ))?;

    heading(
        6,
        "The catalog, newest first, with named-restore readiness",
        "catalog",
    )?;
    let rows = catalog::cluster_rows(&b, PlaneArg::Both).await?;
    show(&Catalog(rows.clone()))?;
    say(
        "\nThe same backups read straight from the bucket (the disaster case: no cluster needed):",
    )?;
    let bucket_rows = catalog::bucket_rows(&*b.probe, &settings, None).await?;
    show(&Catalog(bucket_rows))?;

    let (admin, tenant) = newest_ready_set(&rows).ok_or_else(|| {
        CliError::new(
            ExitStatus::No,
            "the catalog has no backup set ready on both planes",
        )
    })?;
    let id = request::generated_id(b.clock.now());
    let req = request::Requested {
        id: Some(id.clone()),
        request: RestoreRequest::full_from_backups(
            "demo-restore".parse().map_err(|e| CliError::invalid(&e))?,
            parse_backup(&admin.name)?,
            parse_backup(&tenant.name)?,
        ),
        intent: None,
    };

    heading(
        7,
        "Plan a full restore of the newest backup set (nothing changes)",
        &format!(
            "restore plan --plane both --name demo-restore --admin-backup {} --tenant-backup {}",
            admin.name, tenant.name
        ),
    )?;
    let v = b.app_version().await;
    let plan = b
        .restores
        .plan(&id, &req.request, v.as_ref())
        .await
        .map_err(|e| service_error(&e))?;
    show(&RestorePlanView::new(&id, &plan))?;

    heading(
        8,
        "Stage one: create the recovery clusters",
        "restore create ... (typed acknowledgement)",
    )?;
    say(&format!("acknowledgement typed: {STAGE_ONE_ACK}"))?;
    let ack = StageOneAck::verify(STAGE_ONE_ACK).map_err(|e| ack_error(&e))?;
    let mut record = restore::create(&b, &id, &req, &ack).await?;
    show(&RestoreView::new(&record))?;

    heading(
        9,
        "Wait until the recovery clusters are ready",
        &format!("restore status {id} --watch"),
    )?;
    for _ in 0..30 {
        say(&crate::views::progress_line(&record))?;
        if restore::settled(&record) {
            break;
        }
        b.advance(1).await?;
        record = restore::refresh(&b, &id).await?;
    }
    if record.phase().name() != PhaseName::ReadyForPromotionChecks {
        show(&RestoreView::new(&record))?;
        return Ok(ExitStatus::No);
    }

    heading(
        10,
        "Stage two: replace the live clusters",
        &format!("restore apply {id} (typed acknowledgement)"),
    )?;
    say(&format!("acknowledgement typed: {STAGE_TWO_ACK}"))?;
    let ack = StageTwoAck::verify(STAGE_TWO_ACK).map_err(|e| ack_error(&e))?;
    record = restore::apply(&b, &id, &ack).await?;
    for _ in 0..30 {
        say(&crate::views::progress_line(&record))?;
        if matches!(
            record.phase().name(),
            PhaseName::Completed | PhaseName::Failed | PhaseName::Abandoned
        ) {
            break;
        }
        b.advance(1).await?;
        record = restore::refresh(&b, &id).await?;
    }

    heading(
        11,
        "Final status and audit trail",
        &format!("restore status {id}; status"),
    )?;
    show(&RestoreView::new(&record))?;
    show(&cluster::load_status(&b).await?)?;
    let mut out = anstream::stdout();
    let _ = out.flush();
    Ok(if record.phase().name() == PhaseName::Completed {
        say("\nThe live clusters were restored from the validated recovery clusters.")?;
        ExitStatus::Success
    } else {
        ExitStatus::No
    })
}

fn parse_backup(name: &str) -> Result<ObjectName, CliError> {
    name.parse().map_err(|e| CliError::invalid(&e))
}

/// The newest backup set with a ready admin and a ready tenant backup (the user's pick).
fn newest_ready_set(rows: &[CatalogRow]) -> Option<(CatalogRow, CatalogRow)> {
    rows.iter()
        .filter(|r| r.plane.as_deref() == Some("admin") && r.named_restore_ready)
        .find_map(|a| {
            let set = a.backup_set_id.as_ref()?;
            rows.iter()
                .find(|t| {
                    t.plane.as_deref() == Some("tenant")
                        && t.named_restore_ready
                        && t.backup_set_id.as_ref() == Some(set)
                })
                .map(|t| (a.clone(), t.clone()))
        })
}
