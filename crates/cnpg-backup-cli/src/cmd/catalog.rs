//! `catalog [--plane] [--source cluster|bucket] [--no-cache]`.

use std::sync::Arc;

use cnpg_backup_core::automation::BackupSettings;
use cnpg_backup_core::barman::{BarmanStatus, BucketBackup};
use cnpg_backup_core::catalog::StoragePresence;
use cnpg_backup_core::drift::VersionPolicy;
use cnpg_backup_core::names::{Plane, ServerName};
use cnpg_backup_core::ports::BucketProbe;
use cnpg_backup_core::service::CatalogScope;
use cnpg_backup_kube::storage::{
    DiskCatalogCache, FixedCredentials, ObjectStoreBucketProbe, ProbeOptions, ResolvedCredentials,
};

use crate::backend::Backend;
use crate::cli::{CatalogArgs, Cli, PlaneArg, SourceArg};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::emit;
use crate::settings;
use crate::views::{Catalog, CatalogRow, rfc3339};

use super::service_error;

pub async fn run(args: &CatalogArgs, cli: &Cli) -> CmdResult {
    let rows = match args.source {
        SourceArg::Cluster => {
            let b = Backend::from_cli(cli).await?;
            cluster_rows(&b, args.plane.unwrap_or(PlaneArg::Both)).await?
        }
        SourceArg::Bucket => {
            let (settings, probe) = bucket_source(cli, !args.no_cache).await?;
            bucket_rows(&*probe, &settings, args.plane).await?
        }
    };
    emit(cli.output, &Catalog(rows))?;
    Ok(ExitStatus::Success)
}

/// The catalog from the cluster's Backup objects, storage presence checked in the bucket.
pub async fn cluster_rows(b: &Backend, plane: PlaneArg) -> Result<Vec<CatalogRow>, CliError> {
    let scope = match plane {
        PlaneArg::Admin => CatalogScope::Plane(Plane::Admin),
        PlaneArg::Tenant => CatalogScope::Plane(Plane::Tenant),
        PlaneArg::Both => CatalogScope::Both,
    };
    let v = b.app_version().await;
    let entries = b
        .backups
        .catalog(scope, v.as_ref(), VersionPolicy::default())
        .await
        .map_err(|e| service_error(&e))?;
    Ok(entries
        .iter()
        .map(|e| CatalogRow::from_record(&e.record, &e.not_ready))
        .collect())
}

/// Settings and a probe for reading the bucket without Kubernetes: credentials come from the
/// provider's standard environment variables. With `cached`, the probe keeps a catalog cache in
/// the user's cache directory (when there is one) and reads only what changed since the last
/// run; the embedded default's local directory is always read in full.
async fn bucket_source(
    cli: &Cli,
    cached: bool,
) -> Result<(BackupSettings, Arc<dyn BucketProbe>), CliError> {
    if let Some(dir) = &cli.embedded {
        let file = match &cli.config {
            Some(_) => Some(settings::load(cli.config.as_ref())?),
            None => None,
        };
        let b = Backend::embedded(dir, file, true).await?;
        let s = b.backups.settings().await.map_err(|e| service_error(&e))?;
        return Ok((s, b.probe.clone()));
    }
    let s = settings::load(cli.config.as_ref())?;
    let creds = ResolvedCredentials::from_env(s.target.provider).map_err(|e| {
        CliError::invalid(&e).hint("set the provider's credential variables (e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    })?;
    let mut probe = ObjectStoreBucketProbe::new(
        Arc::new(FixedCredentials::new(creds)),
        ProbeOptions::default(),
    );
    if cached && let Some(cache) = DiskCatalogCache::in_user_cache_dir() {
        tracing::debug!(dir = %cache.dir().display(), "catalog cache");
        probe = probe.with_catalog_cache(Arc::new(cache));
    }
    Ok((s, Arc::new(probe)))
}

/// The catalog straight from the bucket: every backup folder, readable or not.
pub async fn bucket_rows(
    probe: &dyn BucketProbe,
    settings: &BackupSettings,
    plane: Option<PlaneArg>,
) -> Result<Vec<CatalogRow>, CliError> {
    let server_of = |p: Plane| settings.target.server_name_for(settings.clusters.get(p));
    let servers: Option<Vec<ServerName>> = plane.map(|p| match p {
        PlaneArg::Admin => vec![server_of(Plane::Admin)],
        PlaneArg::Tenant => vec![server_of(Plane::Tenant)],
        PlaneArg::Both => vec![server_of(Plane::Admin), server_of(Plane::Tenant)],
    });
    let backups = probe
        .bucket_catalog(&settings.target, servers.as_deref())
        .await
        .map_err(|e| {
            CliError::world(&e).context(format!(
                "cannot list `{}`",
                settings.target.destination_path()
            ))
        })?;
    let plane_of = |server: &ServerName| {
        Plane::ALL
            .into_iter()
            .find(|p| &server_of(*p) == server)
            .map(|p| p.to_string())
    };
    let mut rows: Vec<CatalogRow> = backups
        .iter()
        .map(|b| bucket_row(b, plane_of(&b.server)))
        .collect();
    // Newest first: by end time, then begin time, then backup id (missing times last).
    rows.sort_by(|a, b| {
        (a.ended_at.is_none(), std::cmp::Reverse(&a.ended_at))
            .cmp(&(b.ended_at.is_none(), std::cmp::Reverse(&b.ended_at)))
            .then_with(|| {
                (a.started_at.is_none(), std::cmp::Reverse(&a.started_at))
                    .cmp(&(b.started_at.is_none(), std::cmp::Reverse(&b.started_at)))
            })
            .then_with(|| b.backup_id.cmp(&a.backup_id))
    });
    Ok(rows)
}

fn bucket_row(b: &BucketBackup, plane: Option<String>) -> CatalogRow {
    match &b.info {
        Ok(info) => {
            let phase = match info.status {
                BarmanStatus::Done => "completed",
                BarmanStatus::Failed => "failed",
                BarmanStatus::Empty => "pending",
                BarmanStatus::Started | BarmanStatus::WaitingForWals | BarmanStatus::Syncing => {
                    "running"
                }
            };
            let mut reasons = Vec::new();
            if info.status != BarmanStatus::Done {
                reasons.push("not_completed".to_owned());
            }
            CatalogRow {
                name: info
                    .backup_name
                    .clone()
                    .unwrap_or_else(|| b.backup_id.to_string()),
                plane,
                cluster: None,
                backup_id: Some(b.backup_id.to_string()),
                server_name: Some(b.server.to_string()),
                timeline: info.timeline,
                phase: Some(phase.to_owned()),
                started_at: info.begin_time.map(rfc3339),
                ended_at: info.end_time.map(rfc3339),
                app_version: None,
                backup_set_id: None,
                storage: StoragePresence::Present,
                named_restore_ready: reasons.is_empty(),
                not_ready_reasons: reasons,
                error: None,
            }
        }
        Err(why) => CatalogRow {
            name: b.backup_id.to_string(),
            plane,
            cluster: None,
            backup_id: Some(b.backup_id.to_string()),
            server_name: Some(b.server.to_string()),
            timeline: None,
            phase: None,
            started_at: None,
            ended_at: None,
            app_version: None,
            backup_set_id: None,
            storage: StoragePresence::Missing,
            named_restore_ready: false,
            not_ready_reasons: vec!["backup_info_unreadable".to_owned()],
            error: Some(why.clone()),
        },
    }
}
