//! Embedding cnpg-backup in a host program: the pieces the examples share.
//!
//! [`simulated_restore`] wires the core's use-case services to the in-memory CNPG simulator and
//! walks the whole workflow (settings, reconcile, backup now, catalog, a staged full restore); the
//! `simulator` example prints it and this crate's test runs it, so CI runs the same code. The
//! `host_control_plane` example wires the same services to a real cluster through the kube
//! adapter (compiled in CI, run against a cluster by hand).

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};
use cnpg_backup_core::automation::BackupSettings;
use cnpg_backup_core::memory::{BarmanBucketProbe, InMemoryStateStore, Simulator};
use cnpg_backup_core::ports::BucketObjects;
use cnpg_backup_core::restore::{
    PhaseName, RestoreRequest, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};
use cnpg_backup_core::service::{BackupService, CatalogScope, RestoreService};

/// Settings a host would keep in its own store: a local bucket, daily backups, both planes.
///
/// # Errors
/// When the JSON does not match the settings document (it does).
pub fn sample_settings() -> anyhow::Result<BackupSettings> {
    Ok(serde_json::from_value(serde_json::json!({
        "target": {"provider": "local", "bucket": "/var/lib/backups", "credentials": {"kind": "none"}},
        "automation": {
            "enabled": true,
            "schedule": {"preset": "daily", "hour": 2, "minute": 30},
            "retention": "30d",
            "scope": "both"
        },
        "clusters": {"admin": "cnpg-admin", "tenant": "cnpg-tenant"},
        "appVersion": {"kind": "fixed", "version": "1.4.2"}
    }))?)
}

/// What [`simulated_restore`] ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Backups in the catalog before the restore.
    pub backups: usize,
    /// The restore's final phase.
    pub phase: PhaseName,
    /// Audit trail entries (the two acknowledgements).
    pub audit_entries: usize,
}

/// Runs the whole workflow on the simulator, writing what happens to `out`.
///
/// # Errors
/// When a step fails (it does not on the simulator).
pub async fn simulated_restore(out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let settings = sample_settings()?;
    let sim = Simulator::new(&settings);
    let bucket: Arc<dyn BucketObjects> = sim.bucket();
    let probe = Arc::new(BarmanBucketProbe::new(bucket));
    let store = Arc::new(InMemoryStateStore::new());
    let sim_port = Arc::new(sim.clone());
    let backups = BackupService::new(
        sim_port.clone(),
        sim_port.clone(),
        probe.clone(),
        store.clone(),
        sim.clock(),
    );
    let restores = RestoreService::new(sim_port.clone(), sim_port, probe, store, sim.clock());
    let running = "1.4.2".parse().ok();

    backups.save_settings(&settings).await?;
    let status = backups.reconcile(running.as_ref()).await?;
    writeln!(out, "reconcile: {:?}", status.state)?;
    let made = backups.backup_now(running.as_ref()).await?;
    writeln!(
        out,
        "backup now: {} backups, set {}",
        made.len(),
        made[0].set_id
    )?;
    sim.tick().await?;
    sim.tick().await?;

    let catalog = backups
        .catalog(CatalogScope::Both, running.as_ref(), Default::default())
        .await?;
    for e in &catalog {
        writeln!(
            out,
            "catalog: {} {:?} ready={}",
            e.record.name,
            e.record.phase,
            e.is_ready()
        )?;
    }
    let pick = |cluster: &str| {
        catalog
            .iter()
            .find(|e| e.record.cluster.as_str() == cluster && e.is_ready())
            .map(|e| e.record.name.clone())
            .context("no ready backup")
    };
    let request = RestoreRequest::full_from_backups(
        "drill".parse()?,
        pick("cnpg-admin")?,
        pick("cnpg-tenant")?,
    );
    let id = "r-example".parse()?;
    let ack = StageOneAck::verify(STAGE_ONE_ACK)?;
    let mut record = restores
        .create(
            &id,
            &request,
            running.as_ref(),
            &ack,
            Some("example".into()),
        )
        .await?;
    for _ in 0..10 {
        if record.phase().name() == PhaseName::ReadyForPromotionChecks {
            break;
        }
        record = restores.refresh(&id).await?;
    }
    writeln!(out, "stage one: {:?}", record.phase().name())?;
    let ack = StageTwoAck::verify(STAGE_TWO_ACK)?;
    record = restores.apply(&id, &ack, Some("example".into())).await?;
    for _ in 0..10 {
        if record.phase().name() == PhaseName::Completed {
            break;
        }
        record = restores.refresh(&id).await?;
    }
    writeln!(out, "stage two: {:?}", record.phase().name())?;
    for a in record.audit() {
        writeln!(out, "audit: {:?} by {:?}", a.kind, a.actor)?;
    }
    if record.phase().name() != PhaseName::Completed {
        bail!("the restore ended in {:?}", record.phase().name());
    }
    Ok(Outcome {
        backups: catalog.len(),
        phase: record.phase().name(),
        audit_entries: record.audit().len(),
    })
}

/// The app crate's errors print for people; here they become `anyhow` errors.
fn app<T>(r: Result<T, cnpg_backup_app::AppError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e}"))
}

/// What [`control_loop`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopOutcome {
    /// Whether the dropped backup configuration was back after the loop ran.
    pub repaired: bool,
    /// The phase the restore reached without a command.
    pub restore_phase: PhaseName,
    /// Reconciles the loop ran.
    pub reconciles: usize,
}

/// The control loop a host embeds, on the embedded default: someone drops the admin cluster's
/// backup configuration and a restore's stage one is acknowledged; the loop repairs the first
/// and brings the second to `ready_for_promotion_checks`, with no command. Writes what it does
/// to `out`.
///
/// # Errors
/// When a step fails (it does not on the simulator).
pub async fn control_loop(out: &mut dyn Write) -> anyhow::Result<LoopOutcome> {
    use cnpg_backup_controller::sim::{SimTimer, triggers};
    use cnpg_backup_controller::{Controller, Timer, Work};
    use futures::{FutureExt, StreamExt};

    let dir = tempfile::tempdir()?;
    let backend = Arc::new(app(cnpg_backup_app::Backend::embedded(
        dir.path(),
        None,
        false,
    )
    .await)?);
    let e = backend.embedded.as_ref().context("the embedded default")?;
    let (sim, store) = (e.sim.clone(), e.store.clone());
    let admin: cnpg_backup_core::names::ClusterName = "cnpg-admin".parse()?;
    let tenant: cnpg_backup_core::names::ClusterName = "cnpg-tenant".parse()?;
    let timer = SimTimer::new(sim.clone());
    let mut controller = Controller::new(backend.clone(), timer.now());
    let mut feed = triggers(&sim, &store, vec![admin.clone(), tenant]);
    let mut reconciles = 0;
    // The loop, run for `minutes` of simulated time (a host runs `Controller::run` instead).
    let mut run = async |minutes: i64, controller: &mut Controller, out: &mut dyn Write| {
        let end = timer.now() + chrono::Duration::minutes(minutes);
        loop {
            while let Some(Some(t)) = feed.next().now_or_never() {
                controller.handle(t, timer.now());
            }
            if controller.next_due() <= timer.now() {
                for (w, o) in controller.run_due(&timer).await.work {
                    if w == Work::Reconcile {
                        reconciles += 1;
                    }
                    writeln!(out, "{} {w:?}: {o:?}", timer.now().format("%H:%M:%S"))?;
                }
                continue;
            }
            if timer.now() >= end {
                return anyhow::Ok(());
            }
            timer.sleep_until(controller.next_due().min(end)).await;
        }
    };
    run(1, &mut controller, out).await?;
    writeln!(
        out,
        "someone drops the admin cluster's backup configuration"
    )?;
    sim.edit_cluster(&admin, |m| {
        if let Some(spec) = m["spec"].as_object_mut() {
            spec.remove("plugins");
        }
    });
    run(1, &mut controller, out).await?;
    let repaired = sim
        .manifest_of(&admin)
        .is_some_and(|m| m.0["spec"]["plugins"].is_array());

    app(backend.run_backup_now().await)?;
    run(3, &mut controller, out).await?;
    let rows = app(backend.catalog_rows(CatalogScope::Both).await)?;
    let pick = |plane: &str| {
        rows.iter()
            .find(|r| r.plane.as_deref() == Some(plane) && r.named_restore_ready)
            .map(|r| r.name.clone())
            .context("no ready backup")
    };
    let request = RestoreRequest::full_from_backups(
        "drill".parse()?,
        pick("admin")?.parse()?,
        pick("tenant")?.parse()?,
    );
    let id = "r-loop".parse()?;
    let ack = StageOneAck::verify(STAGE_ONE_ACK)?;
    app(backend.restore_create(&id, &request, &ack, None).await)?;
    writeln!(out, "stage one acknowledged; no command from here on")?;
    run(3, &mut controller, out).await?;
    let restore_phase = app(backend.restore_get(&id).await)?.phase().name();
    writeln!(out, "restore: {restore_phase}")?;
    Ok(LoopOutcome {
        repaired,
        restore_phase,
        reconciles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_loop_repairs_drift_and_moves_the_restore_on() {
        let mut out = Vec::new();
        let o = control_loop(&mut out).await.unwrap();
        let log = String::from_utf8_lossy(&out);
        assert!(o.repaired, "{log}");
        assert_eq!(o.restore_phase, PhaseName::ReadyForPromotionChecks, "{log}");
        assert!(o.reconciles >= 2, "{log}");
    }

    #[tokio::test]
    async fn the_simulated_restore_completes_with_both_acknowledgements() {
        let mut out = Vec::new();
        let outcome = simulated_restore(&mut out).await.unwrap();
        assert_eq!(
            outcome,
            Outcome {
                backups: 2,
                phase: PhaseName::Completed,
                audit_entries: 2
            },
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}

/// The README's Rust examples, compiled (and run unless `no_run`) as doctests of this package.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
