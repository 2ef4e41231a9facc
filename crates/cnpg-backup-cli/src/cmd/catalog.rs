//! `catalog [--plane] [--source cluster|bucket] [--no-cache]`.

use std::sync::Arc;

use cnpg_backup_app::ops::{bucket_rows, env_bucket_probe};
use cnpg_backup_app::settings::{self, BucketSettings};
use cnpg_backup_app::views::{Catalog, CatalogRow};
use cnpg_backup_app::{AppError, Backend};
use cnpg_backup_core::names::Plane;
use cnpg_backup_core::ports::BucketProbe;
use cnpg_backup_core::service::CatalogScope;

use crate::cli::{CatalogArgs, Cli, PlaneArg, SourceArg};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::emit;

use super::backend;

pub async fn run(args: &CatalogArgs, cli: &Cli) -> CmdResult {
    let rows = match args.source {
        SourceArg::Cluster => {
            let b = backend(cli).await?;
            cluster_rows(&b, args.plane.unwrap_or(PlaneArg::Both)).await?
        }
        SourceArg::Bucket => {
            let planes = args.plane.map(planes_of);
            match bucket_source(cli, !args.no_cache).await? {
                Bucket::Embedded(b) => b.bucket_catalog_rows(planes.as_deref()).await?,
                Bucket::Env(settings, probe) => {
                    bucket_rows(&*probe, &settings, planes.as_deref()).await?
                }
            }
        }
    };
    emit(cli.output, &Catalog(rows))?;
    Ok(ExitStatus::Success)
}

/// The planes a `--plane` value names.
pub fn planes_of(p: PlaneArg) -> Vec<Plane> {
    match p {
        PlaneArg::Admin => vec![Plane::Admin],
        PlaneArg::Tenant => vec![Plane::Tenant],
        PlaneArg::Both => Plane::ALL.to_vec(),
    }
}

/// The catalog from the cluster's Backup objects, storage presence checked in the bucket.
pub async fn cluster_rows(b: &Backend, plane: PlaneArg) -> Result<Vec<CatalogRow>, AppError> {
    let scope = match plane {
        PlaneArg::Admin => CatalogScope::Plane(Plane::Admin),
        PlaneArg::Tenant => CatalogScope::Plane(Plane::Tenant),
        PlaneArg::Both => CatalogScope::Both,
    };
    b.catalog_rows(scope).await
}

/// Where the bucket catalog comes from.
enum Bucket {
    /// The embedded default: its own bucket and stored settings.
    Embedded(Backend),
    /// Settings from `-c` and credentials from the provider's environment variables.
    Env(BucketSettings, Arc<dyn BucketProbe>),
}

/// Settings and a probe for reading the bucket without Kubernetes: only the settings' `target`
/// is needed (the disaster case); credentials come from the provider's standard environment
/// variables. With `cached`, the probe keeps a catalog cache in the user's cache directory and
/// reads only what changed since the last run. On the embedded default, its own bucket and
/// settings, always read in full.
async fn bucket_source(cli: &Cli, cached: bool) -> Result<Bucket, CliError> {
    if let Some(dir) = &cli.embedded {
        let file = match &cli.config {
            Some(_) => Some(settings::load(cli.config.as_ref())?),
            None => None,
        };
        return Ok(Bucket::Embedded(Backend::embedded(dir, file, true).await?));
    }
    let s = settings::load_for_bucket(cli.config.as_ref())?;
    let probe = env_bucket_probe(&s, cached)?;
    Ok(Bucket::Env(s, probe))
}
