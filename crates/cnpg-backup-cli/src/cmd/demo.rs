//! `demo`: the whole workflow on the embedded default, each step printed as a user would see it.

use std::io::Write;

use cnpg_backup_app::error::{ack_error, service_error};
use cnpg_backup_app::ops::{bucket_rows, settled};
use cnpg_backup_app::request::generated_id;
use cnpg_backup_app::settings::BucketSettings;
use cnpg_backup_app::{AppError, Backend, settings as app_settings};
use cnpg_backup_core::names::{ObjectName, Plane};
use cnpg_backup_core::restore::{
    PhaseName, RestoreRequest, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};

use crate::cli::{Cli, DemoArgs, PlaneArg};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::{Output, Table, emit_text};
use cnpg_backup_app::views::{
    Catalog, CatalogRow, ConfigShow, Preflight, ReconcileView, RestorePlanView, RestoreView,
};

use super::{actor, catalog};

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

pub async fn run(args: &DemoArgs, cli: &Cli) -> CmdResult {
    if cli.output != Output::Table {
        return Err(CliError::new(
            ExitStatus::Invalid,
            "`demo` prints a walk-through for people; `-o json` and `-o yaml` do not apply to it",
        )
        .hint("run the commands one at a time with `--embedded DIR` and `-o json` for documents"));
    }
    // `-c FILE`: the demo runs with those settings (their target's location is replaced by the
    // demo's local bucket). Read and checked before anything is created.
    let file_settings = match &cli.config {
        Some(_) => Some(app_settings::load(cli.config.as_ref())?),
        None => None,
    };
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
    let b = Backend::embedded(&dir, file_settings, true).await?;

    heading(1, "Settings", "config show")?;
    let settings = b.backups.settings().await.map_err(|e| service_error(&e))?;
    show(&ConfigShow::new(
        &settings,
        &app_settings::check(&settings)?,
    ))?;

    heading(2, "Check the bucket (changes no database)", "preflight")?;
    let report = b.run_preflight(false, Vec::new()).await?;
    show(&Preflight::from(&report))?;

    heading(3, "Apply the backup automation", "reconcile")?;
    let status = b.run_reconcile().await?;
    show(&ReconcileView::from(&status))?;
    say("Reconciling again changes nothing:")?;
    let status = b.run_reconcile().await?;
    show(&ReconcileView::from(&status))?;

    heading(4, "Take a backup of both planes now", "backup now")?;
    show(&b.run_backup_now().await?)?;

    heading(
        5,
        "Let three simulated hours pass: the hourly schedules fire",
        "(time passes)",
    )?;
    b.advance(180).await?;
    say(&format!(
        "simulated clock: {}",
        cnpg_backup_app::views::rfc3339(b.clock.now())
    ))?;

    heading(
        6,
        "The catalog, newest first, with named-restore readiness",
        "catalog",
    )?;
    let rows = catalog::cluster_rows(&b, PlaneArg::Both).await?;
    show(&Catalog(rows.clone()))?;
    // What the control loop (`serve`) does when a backup completes: record what the cluster
    // knew beside Barman's files, so the bucket alone shows version and set id.
    let mut completed = Vec::new();
    for plane in Plane::ALL {
        completed.extend(
            b.catalog
                .list_backups(settings.clusters.get(plane))
                .await
                .map_err(|e| AppError::world(&e))?,
        );
    }
    b.record_backup_provenance(&completed).await?;
    say(
        "\nThe same backups read straight from the bucket (the disaster case: no cluster needed;\n\
         version and set come from the cnpg-backup.json record the control loop writes beside\n\
         each backup.info):",
    )?;
    let bucket_rows = bucket_rows(&*b.probe, &BucketSettings::from(&settings), None).await?;
    show(&Catalog(bucket_rows))?;

    let (admin, tenant) = newest_ready_set(&rows).ok_or_else(|| {
        CliError::new(
            ExitStatus::No,
            "the catalog has no backup set ready on both planes",
        )
    })?;
    let id = generated_id(b.clock.now());
    let mut request = RestoreRequest::full_from_backups(
        "demo-restore".parse().map_err(|e| CliError::invalid(&e))?,
        parse_backup(&admin.name)?,
        parse_backup(&tenant.name)?,
    );
    if b.app_version().await.is_none() {
        // Settings whose app version cannot be read here (e.g. a label of a real cluster): the
        // guard would refuse; the demo accepts it explicitly, as a user would after checking.
        say(
            "\nThe running app version is unknown with these settings; the demo accepts that explicitly (`--accept-unknown-version`, recorded in the audit trail).",
        )?;
        request.overrides.accept_unknown_version = true;
    }

    heading(
        7,
        "Plan a full restore of the newest backup set (nothing changes)",
        &format!(
            "restore plan --plane both --name demo-restore --admin-backup {} --tenant-backup {}",
            admin.name, tenant.name
        ),
    )?;
    let plan = b.restore_plan(&id, &request).await?;
    show(&RestorePlanView::new(&id, &plan))?;

    heading(
        8,
        "Stage one: create the recovery clusters",
        "restore create ... (typed acknowledgement)",
    )?;
    say(&format!("acknowledgement typed: {STAGE_ONE_ACK}"))?;
    let ack = StageOneAck::verify(STAGE_ONE_ACK).map_err(|e| ack_error(&e))?;
    let mut record = b.restore_create(&id, &request, &ack, actor()).await?;
    show(&RestoreView::new(&record))?;

    heading(
        9,
        "Wait until the recovery clusters are ready",
        &format!("restore status {id} --watch"),
    )?;
    for _ in 0..30 {
        say(&cnpg_backup_app::views::progress_line(&record))?;
        if settled(&record) {
            break;
        }
        b.advance(1).await?;
        record = b.restore_refresh(&id).await?;
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
    record = b.restore_apply(&id, &ack, actor()).await?;
    for _ in 0..30 {
        say(&cnpg_backup_app::views::progress_line(&record))?;
        if matches!(
            record.phase().name(),
            PhaseName::Completed | PhaseName::Failed | PhaseName::Abandoned
        ) {
            break;
        }
        b.advance(1).await?;
        record = b.restore_refresh(&id).await?;
    }

    heading(
        11,
        "Final status and audit trail",
        &format!("restore status {id}; status"),
    )?;
    show(&RestoreView::new(&record))?;
    show(&b.status().await?)?;
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
