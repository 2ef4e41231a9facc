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

#[cfg(test)]
mod tests {
    use super::*;

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
