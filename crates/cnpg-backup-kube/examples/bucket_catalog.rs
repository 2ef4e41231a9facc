//! The bucket catalog as a command, for benchmarking against `barman-cloud-backup-list`
//! (`scripts/bench-bucket-catalog.sh` runs both on the same bucket). Until the CLI has its own
//! command, this is how to read a catalog straight from a bucket.
//!
//! ```text
//! bucket_catalog list ENDPOINT BUCKET PREFIX [SERVER...]   # prints {"backups_list":[...]}
//! bucket_catalog load ENDPOINT BUCKET PREFIX SERVER N      # writes N synthetic backups
//! bucket_catalog add ENDPOINT BUCKET PREFIX SERVER FIRST N # adds backups FIRST..FIRST+N
//! bucket_catalog record ENDPOINT BUCKET PREFIX SERVER      # a provenance record per DONE backup
//! ```
//! Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_CA_BUNDLE`).
//! `CONCURRENCY` sets how many `backup.info` GETs run at once (default 32). `CACHE_DIR` keeps a
//! catalog cache in that directory (`DiskCatalogCache`, as `catalog --source bucket` does in
//! the user's cache directory): only what changed since the last run is read. The request
//! counts (LIST pages, GETs, 304 answers) go to stderr.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use cnpg_backup_core::automation::BackupMethod;
use cnpg_backup_core::barman::{self, BackupInfo, BarmanStatus};
use cnpg_backup_core::catalog::{BackupPhase, BackupRecord, BarmanBackupId};
use cnpg_backup_core::names::ServerName;
use cnpg_backup_core::ports::{BucketObjects, BucketProbe};
use cnpg_backup_core::provenance::{BackupProvenance, ProvenanceWrite};
use cnpg_backup_core::target::{Credentials, ObjectStoreTarget, Provider, SecretRef};
use cnpg_backup_kube::storage::{
    DiskCatalogCache, FixedCredentials, ObjectStoreBucketObjects, ObjectStoreBucketProbe,
    ProbeOptions, RequestCounter, ResolvedCredentials, StoreOptions, build_store,
};
use futures::StreamExt;

type Error = Box<dyn std::error::Error>;

fn target(endpoint: &str, bucket: &str, prefix: &str) -> Result<ObjectStoreTarget, Error> {
    let sref = |key: &str| -> Result<SecretRef, Error> {
        Ok(SecretRef::new("env".parse()?, key.to_owned()))
    };
    Ok(ObjectStoreTarget::new(
        Provider::S3Compatible,
        bucket,
        prefix,
        Credentials::S3AccessKey {
            access_key_id: sref("AWS_ACCESS_KEY_ID")?,
            secret_access_key: sref("AWS_SECRET_ACCESS_KEY")?,
            session_token: None,
        },
    )?
    .with_endpoint(endpoint)
    .with_region(std::env::var("AWS_DEFAULT_REGION").unwrap_or_else(|_| "us-east-1".into())))
}

fn iso(t: Option<DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(t.to_rfc3339())
    })
}

async fn list(args: &[String]) -> Result<(), Error> {
    let [endpoint, bucket, prefix, servers @ ..] = args else {
        return Err("usage: bucket_catalog list ENDPOINT BUCKET PREFIX [SERVER...]".into());
    };
    let servers: Vec<ServerName> = servers
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let counter = RequestCounter::new();
    let concurrency = std::env::var("CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let options = ProbeOptions::default()
        .with_read_concurrency(concurrency)
        .with_stores(
            StoreOptions::default().with_http_connector(Arc::new(counter.clone())),
            StoreOptions::preflight(),
        );
    let creds = ResolvedCredentials::from_env(Provider::S3Compatible)?;
    let mut probe = ObjectStoreBucketProbe::new(Arc::new(FixedCredentials::new(creds)), options);
    if let Some(dir) = std::env::var_os("CACHE_DIR") {
        probe = probe.with_catalog_cache(Arc::new(DiskCatalogCache::new(dir)));
    }
    let target = target(endpoint, bucket, prefix)?;
    let started = std::time::Instant::now();
    let catalog = probe
        .bucket_catalog(&target, (!servers.is_empty()).then_some(servers.as_slice()))
        .await?;
    let took = started.elapsed();
    let items: Vec<serde_json::Value> = catalog
        .iter()
        .map(|b| match &b.info {
            Ok(i) => serde_json::json!({
                "server": b.server.as_str(),
                "backup_id": b.backup_id.as_str(),
                "backup_name": i.backup_name,
                "status": i.status.as_str(),
                "begin_time_iso": iso(i.begin_time),
                "end_time_iso": iso(i.end_time),
                "begin_wal": i.begin_wal,
                "end_wal": i.end_wal,
                "timeline": i.timeline,
                "error": i.error,
            }),
            Err(why) => serde_json::json!({
                "server": b.server.as_str(),
                "backup_id": b.backup_id.as_str(),
                "status": null,
                "unreadable": why,
            }),
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string(&serde_json::json!({ "backups_list": items }))?
    );
    let c = counter.counts();
    eprintln!(
        "bucket_catalog: {} backups in {:.3}s; requests: {} LIST, {} GET ({} answered 304), {} HEAD, {} other",
        catalog.len(),
        took.as_secs_f64(),
        c.list,
        c.get,
        c.not_modified,
        c.head,
        c.other
    );
    Ok(())
}

/// A `backup.info` shaped like a real Barman 3.19 one (the keys of the cnpg-admin fixture).
fn synthetic_info(i: u32, t: DateTime<Utc>) -> BackupInfo {
    let mut info = BackupInfo::new(BarmanStatus::Done);
    let seg = u64::from(i) + 2;
    let wal = |s: u64| format!("00000001{:08X}{:08X}", s >> 8, s & 0xff);
    info.backup_name = Some(format!("backup-{}", t.format("%Y%m%d%H%M%S")));
    info.begin_time = Some(t);
    info.end_time = Some(t + chrono::Duration::seconds(7));
    info.begin_wal = Some(wal(seg));
    info.end_wal = Some(wal(seg));
    info.timeline = Some(1);
    info.server_name = Some("cloud".to_owned());
    info.pg_version = Some(150_018);
    let lsn = format!("{:X}/{:X}000028", seg >> 8, seg & 0xff);
    for (k, v) in [
        ("backup_label", "None".to_owned()),
        ("begin_offset", "40".to_owned()),
        ("begin_xlog", lsn.clone()),
        ("children_backup_ids", "None".to_owned()),
        ("cluster_size", "29761225".to_owned()),
        ("compression", "None".to_owned()),
        (
            "config_file",
            "/var/lib/postgresql/data/pgdata/postgresql.conf".to_owned(),
        ),
        ("copy_stats", "None".to_owned()),
        ("data_checksums", "on".to_owned()),
        ("deduplicated_size", "None".to_owned()),
        ("encryption", "None".to_owned()),
        ("end_offset", "312".to_owned()),
        ("end_xlog", lsn),
        (
            "hba_file",
            "/var/lib/postgresql/data/pgdata/pg_hba.conf".to_owned(),
        ),
        (
            "ident_file",
            "/var/lib/postgresql/data/pgdata/pg_ident.conf".to_owned(),
        ),
        (
            "included_files",
            "['/var/lib/postgresql/data/pgdata/custom.conf']".to_owned(),
        ),
        ("mode", "None".to_owned()),
        ("parent_backup_id", "None".to_owned()),
        ("pgdata", "/var/lib/postgresql/data/pgdata".to_owned()),
        ("size", "None".to_owned()),
        ("summarize_wal", "None".to_owned()),
        ("systemid", "7712337930708127200".to_owned()),
        ("tablespaces", "None".to_owned()),
        ("xlog_segment_size", "16777216".to_owned()),
    ] {
        info.other.insert(k.to_owned(), v);
    }
    info
}

/// Writes backups `first..first + n` of `server`: backup.info and a 20-byte data.tar.gz each,
/// one an hour from 2026-01-01.
async fn write_backups(
    objects: &ObjectStoreBucketObjects,
    target: &ObjectStoreTarget,
    server: &ServerName,
    first: u32,
    n: u32,
) -> Result<(), Error> {
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .ok_or("bad start time")?;
    let puts = (first..first + n).flat_map(|i| {
        let t = t0 + chrono::Duration::hours(i64::from(i));
        let id: Result<BarmanBackupId, _> = t.format("%Y%m%dT%H%M%S").to_string().parse();
        id.map(|id| {
            let info_key = barman::backup_info_key(&target.prefix, server, &id);
            let data_key = format!(
                "{}{id}/data.tar.gz",
                barman::base_prefix(&target.prefix, server)
            );
            [
                (info_key, synthetic_info(i, t).render().into_bytes()),
                (data_key, vec![0x1f; 20]),
            ]
        })
        .into_iter()
        .flatten()
    });
    futures::stream::iter(puts)
        .map(|(k, v)| async move { objects.put(&k, v).await })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()?;
    Ok(())
}

fn open_objects(
    endpoint: &str,
    bucket: &str,
    prefix: &str,
) -> Result<(ObjectStoreTarget, ObjectStoreBucketObjects), Error> {
    let target = target(endpoint, bucket, prefix)?;
    let creds = ResolvedCredentials::from_env(Provider::S3Compatible)?;
    let objects =
        ObjectStoreBucketObjects::new(build_store(&target, &creds, &StoreOptions::default())?);
    Ok((target, objects))
}

async fn load(args: &[String]) -> Result<(), Error> {
    let [endpoint, bucket, prefix, server, n] = args else {
        return Err("usage: bucket_catalog load ENDPOINT BUCKET PREFIX SERVER N".into());
    };
    let n: u32 = n.parse()?;
    let server: ServerName = server.parse()?;
    let (target, objects) = open_objects(endpoint, bucket, prefix)?;
    // Start from an empty server folder, so it holds exactly N backups.
    let old = objects.list(&target.server_prefix(&server)).await?;
    futures::stream::iter(old)
        .map(|k| {
            let o = &objects;
            async move { o.delete(&k).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()?;
    write_backups(&objects, &target, &server, 0, n).await?;
    eprintln!("bucket_catalog: loaded {n} backups of `{server}` under `{prefix}`");
    Ok(())
}

async fn add(args: &[String]) -> Result<(), Error> {
    let [endpoint, bucket, prefix, server, first, n] = args else {
        return Err("usage: bucket_catalog add ENDPOINT BUCKET PREFIX SERVER FIRST N".into());
    };
    let (first, n): (u32, u32) = (first.parse()?, n.parse()?);
    let server: ServerName = server.parse()?;
    let (target, objects) = open_objects(endpoint, bucket, prefix)?;
    write_backups(&objects, &target, &server, first, n).await?;
    eprintln!("bucket_catalog: added {n} backups of `{server}` under `{prefix}`");
    Ok(())
}

/// Writes the provenance record the control loop would write for every DONE backup of
/// `server` (Backup `<server>-cnpg-backup-<time>`, set `s-<time>`), as one `write_provenance`
/// call, and prints its request counts.
async fn record(args: &[String]) -> Result<(), Error> {
    let [endpoint, bucket, prefix, server] = args else {
        return Err("usage: bucket_catalog record ENDPOINT BUCKET PREFIX SERVER".into());
    };
    let server: ServerName = server.parse()?;
    let target = target(endpoint, bucket, prefix)?;
    let creds = ResolvedCredentials::from_env(Provider::S3Compatible)?;
    let reader = ObjectStoreBucketProbe::new(
        Arc::new(FixedCredentials::new(creds.clone())),
        ProbeOptions::default(),
    );
    let servers = [server.clone()];
    let catalog = reader.bucket_catalog(&target, Some(&servers)).await?;
    let mut records = Vec::new();
    for b in &catalog {
        let Some(t) = b
            .info
            .as_ref()
            .ok()
            .filter(|i| i.status == BarmanStatus::Done)
            .and_then(|i| i.begin_time)
        else {
            continue;
        };
        let slot = t.format("%Y%m%d%H%M%S");
        let mut r = BackupRecord::new(
            format!("{server}-cnpg-backup-{slot}").parse()?,
            server.as_str().parse()?,
            BackupMethod::Plugin,
        );
        r.phase = BackupPhase::Completed;
        r.backup_id = Some(b.backup_id.clone());
        r.backup_set_id = Some(format!("s-{slot}").parse()?);
        records.push(BackupProvenance::of_record(
            &r,
            None,
            server.clone(),
            env!("CARGO_PKG_VERSION"),
            Utc::now(),
        )?);
    }
    let counter = RequestCounter::new();
    let writer = ObjectStoreBucketProbe::new(
        Arc::new(FixedCredentials::new(creds)),
        ProbeOptions::default().with_stores(
            StoreOptions::default().with_http_connector(Arc::new(counter.clone())),
            StoreOptions::preflight(),
        ),
    );
    let started = std::time::Instant::now();
    let outcomes = writer.write_provenance(&target, &records).await?;
    let took = started.elapsed();
    let written = outcomes
        .iter()
        .filter(|o| **o == ProvenanceWrite::Written)
        .count();
    let c = counter.counts();
    eprintln!(
        "bucket_catalog: {written} of {} records written in {:.3}s; requests: {} LIST, {} GET, {} HEAD, {} other",
        records.len(),
        took.as_secs_f64(),
        c.list,
        c.get,
        c.head,
        c.other
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, rest)) if cmd == "list" => list(rest).await,
        Some((cmd, rest)) if cmd == "load" => load(rest).await,
        Some((cmd, rest)) if cmd == "add" => add(rest).await,
        Some((cmd, rest)) if cmd == "record" => record(rest).await,
        _ => Err("usage: bucket_catalog list|load|add|record ...".into()),
    }
}
