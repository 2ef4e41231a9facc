//! The bucket catalog cache against a real S3 server (moto, started by `scripts/test`), with
//! request counts, and against a local directory (a property test over random bucket changes).
//!
//! Every cached read is compared with a cold read of the same bucket by a probe without cache.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cnpg_backup_core::barman::{self, BackupInfo, BarmanStatus, BucketBackup};
use cnpg_backup_core::bucket_cache::{CacheScope, catalog_index_key};
use cnpg_backup_core::catalog::BarmanBackupId;
use cnpg_backup_core::names::ServerName;
use cnpg_backup_core::ports::{BucketObjects, BucketProbe, PreflightOptions};
use cnpg_backup_core::status::{PreflightCheck, PreflightState};
use cnpg_backup_core::target::{ObjectStoreTarget, Provider};
use cnpg_backup_kube::storage::{
    DiskCatalogCache, InMemoryCatalogCache, ObjectStoreBucketObjects, ObjectStoreBucketProbe,
    RequestCounter, RequestCounts, ResolvedCredentials,
};
use futures::StreamExt;
use proptest::prelude::*;

use crate::storage::{
    bid, counted_probe, in_progress_info, keys, local_target, many_ids, objects, probe, s3_env,
    s3_target, server, unique_prefix,
};

/// A DONE `backup.info` that differs per backup (its name) and per `revision`.
fn done_info(id: &BarmanBackupId, revision: u32) -> Vec<u8> {
    let mut info = BackupInfo::new(BarmanStatus::Done);
    info.backup_name = Some(format!("backup-{}", id.as_str().replace('T', "")));
    info.begin_time = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    info.end_time = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 7).unwrap());
    info.begin_wal = Some(format!("{revision:024X}"));
    info.render().into_bytes()
}

fn data_key(prefix: &str, s: &ServerName, id: &BarmanBackupId) -> String {
    format!("{}{id}/data.tar.gz", barman::base_prefix(prefix, s))
}

/// Writes `ids` as DONE backups (backup.info + data.tar.gz), 16 at a time.
async fn put_backups(o: &dyn BucketObjects, prefix: &str, s: &ServerName, ids: &[BarmanBackupId]) {
    let puts = ids.iter().flat_map(|id| {
        [
            (barman::backup_info_key(prefix, s, id), done_info(id, 0)),
            (data_key(prefix, s, id), vec![0x1f; 20]),
        ]
    });
    futures::stream::iter(puts)
        .map(|(k, v)| async move { o.put(&k, v).await })
        .buffer_unordered(16)
        .for_each(|r| {
            r.unwrap();
            std::future::ready(())
        })
        .await;
}

/// Requests since `before`.
fn since(counter: &RequestCounter, before: RequestCounts) -> (u64, u64, u64, u64) {
    let c = counter.counts();
    (
        c.list - before.list,
        c.get - before.get,
        c.not_modified - before.not_modified,
        c.head + c.other - before.head - before.other,
    )
}

/// A cached read, its request counts (LIST, GET, of which 304, other), and a check that it
/// equals a cold read of the same bucket.
async fn read(
    cached: &ObjectStoreBucketProbe,
    counter: &RequestCounter,
    cold: &ObjectStoreBucketProbe,
    target: &ObjectStoreTarget,
    servers: Option<&[ServerName]>,
) -> (Vec<BucketBackup>, (u64, u64, u64, u64)) {
    let before = counter.counts();
    let got = cached.bucket_catalog(target, servers).await.unwrap();
    let counts = since(counter, before);
    let want = cold.bucket_catalog(target, servers).await.unwrap();
    assert_eq!(got, want, "a cached read differs from a cold read");
    (got, counts)
}

#[tokio::test]
async fn a_warm_catalog_costs_only_listings_and_reads_only_what_changed() {
    let Some(env) = s3_env("a_warm_catalog_costs_only_listings_and_reads_only_what_changed") else {
        return;
    };
    let prefix = unique_prefix("warm");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let o = objects(&target, &creds);
    let s = server("cnpg-admin");
    let servers = [s.clone()];
    let servers = Some(&servers[..]);
    // 520 backups: 1 040 keys under base/, two LIST pages.
    let ids = many_ids(540);
    let (old, new) = ids.split_at(520);
    put_backups(&o, &prefix, &s, old).await;

    let counter = RequestCounter::new();
    let cached = counted_probe(creds.clone(), &counter)
        .with_catalog_cache(Arc::new(InMemoryCatalogCache::new()));
    let cold = probe(creds.clone());

    // Cold: base/ listed recursively (ceil(1040 / 1000) pages: the listing shows which
    // folders hold a provenance record, none here), every backup.info read, and one GET for
    // the (absent) index, made while the listing runs.
    let (catalog, counts) = read(&cached, &counter, &cold, &target, servers).await;
    assert_eq!(catalog.len(), 520);
    assert_eq!(counts, (2, 520 + 1, 0, 0));

    // Warm, nothing changed: ceil(1040 / 1000) LISTs and no GET at all.
    let (_, counts) = read(&cached, &counter, &cold, &target, servers).await;
    assert_eq!(counts, (2, 0, 0, 0));

    // 10 new backups: exactly 10 GETs.
    put_backups(&o, &prefix, &s, &new[..10]).await;
    let (catalog, counts) = read(&cached, &counter, &cold, &target, servers).await;
    assert_eq!(catalog.len(), 530);
    assert_eq!(counts, (2, 10, 0, 0));

    // A backup.info rewritten in place (same size, same second is possible): read again.
    let rewritten = &old[7];
    o.put(
        &barman::backup_info_key(&prefix, &s, rewritten),
        done_info(rewritten, 1),
    )
    .await
    .unwrap();
    let (catalog, counts) = read(&cached, &counter, &cold, &target, servers).await;
    assert_eq!(counts, (2, 1, 0, 0));
    let entry = catalog.iter().find(|b| &b.backup_id == rewritten).unwrap();
    assert_eq!(
        entry.info.as_ref().unwrap().begin_wal.as_deref(),
        Some("000000000000000000000001")
    );

    // A running backup (the real STARTED file): read, then re-read conditionally (304) at
    // every refresh until it settles, then never again.
    let running = &new[10];
    let running_key = barman::backup_info_key(&prefix, &s, running);
    o.put(&running_key, in_progress_info()).await.unwrap();
    let (_, counts) = read(&cached, &counter, &cold, &target, servers).await;
    assert_eq!(counts, (2, 1, 0, 0));
    for _ in 0..2 {
        let (catalog, counts) = read(&cached, &counter, &cold, &target, servers).await;
        assert_eq!(counts, (2, 1, 1, 0), "one conditional GET, answered 304");
        let entry = catalog.iter().find(|b| &b.backup_id == running).unwrap();
        assert_eq!(entry.info.as_ref().unwrap().status, BarmanStatus::Started);
    }
    o.put(&running_key, done_info(running, 0)).await.unwrap();
    let (catalog, counts) = read(&cached, &counter, &cold, &target, servers).await;
    assert_eq!(counts, (2, 1, 0, 0));
    let entry = catalog.iter().find(|b| &b.backup_id == running).unwrap();
    assert_eq!(entry.info.as_ref().unwrap().status, BarmanStatus::Done);
    let (_, counts) = read(&cached, &counter, &cold, &target, servers).await;
    assert_eq!(counts, (2, 0, 0, 0));

    // A deleted backup disappears; a torn folder (data, no backup.info) is reported from the
    // listing, as a cold read reports it, without a GET.
    o.delete(&barman::backup_info_key(&prefix, &s, &old[0]))
        .await
        .unwrap();
    o.delete(&data_key(&prefix, &s, &old[0])).await.unwrap();
    let torn = &new[11];
    o.put(&data_key(&prefix, &s, torn), vec![0; 20])
        .await
        .unwrap();
    let (catalog, counts) = read(&cached, &counter, &cold, &target, servers).await;
    assert_eq!(counts, (2, 0, 0, 0));
    assert!(catalog.iter().all(|b| b.backup_id != old[0]));
    let entry = catalog.iter().find(|b| &b.backup_id == torn).unwrap();
    assert_eq!(
        entry.info,
        Err(format!(
            "`{}` is missing",
            barman::backup_info_key(&prefix, &s, torn)
        ))
    );
}

#[tokio::test]
async fn a_cache_or_index_of_another_prefix_is_never_used() {
    let Some(env) = s3_env("a_cache_or_index_of_another_prefix_is_never_used") else {
        return;
    };
    let (p1, p2) = (unique_prefix("mine"), unique_prefix("other"));
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let (t1, t2) = (
        s3_target(&env.endpoint, &env.bucket, &p1, false),
        s3_target(&env.endpoint, &env.bucket, &p2, false),
    );
    let s = server("cnpg-admin");
    let servers = [s.clone()];
    let servers = Some(&servers[..]);
    // The same five backups, byte for byte (so the same ETags), under both prefixes.
    let ids = many_ids(5);
    let o = objects(&t1, &creds);
    put_backups(&o, &p1, &s, &ids).await;
    put_backups(&o, &p2, &s, &ids).await;

    let dir = tempfile::tempdir().unwrap();
    let disk = DiskCatalogCache::new(dir.path());
    let counter = RequestCounter::new();
    let cached = counted_probe(creds.clone(), &counter).with_catalog_cache(Arc::new(disk.clone()));
    let cold = probe(creds.clone());
    let (_, counts) = read(&cached, &counter, &cold, &t1, servers).await;
    assert_eq!(counts, (1, 5 + 1, 0, 0));
    let (_, counts) = read(&cached, &counter, &cold, &t1, servers).await;
    assert_eq!(counts, (1, 0, 0, 0), "warm: the recursive listing alone");

    // p1's cache file planted where p2's belongs: refused, everything read.
    let scope = |prefix: &str| {
        CacheScope::new(
            Provider::S3Compatible,
            Some(env.endpoint.trim_end_matches('/').to_owned()),
            env.bucket.clone(),
            prefix,
            s.clone(),
        )
    };
    let mine = disk.path_of(&scope(&p1));
    assert!(mine.is_file(), "the cache file is where the scope says");
    std::fs::copy(&mine, disk.path_of(&scope(&p2))).unwrap();
    let (_, counts) = read(&cached, &counter, &cold, &t2, servers).await;
    assert_eq!(counts, (1, 5 + 1, 0, 0));

    // p1's index object copied to p2's index key: refused too.
    let loop_probe = probe(creds.clone()).with_catalog_cache(Arc::new(InMemoryCatalogCache::new()));
    loop_probe.write_catalog_index(&t1, servers).await.unwrap();
    let index = o.get(&catalog_index_key(&p1, &s)).await.unwrap();
    o.put(&catalog_index_key(&p2, &s), index).await.unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let counter = RequestCounter::new();
    let new_machine = counted_probe(creds.clone(), &counter)
        .with_catalog_cache(Arc::new(DiskCatalogCache::new(fresh_dir.path())));
    let (_, counts) = read(&new_machine, &counter, &cold, &t2, servers).await;
    assert_eq!(
        counts,
        (1, 1 + 5, 0, 0),
        "index read, ignored, every backup read"
    );
    // ... while p1's own index is used: only the index is read, beside the one listing.
    let (_, counts) = read(&new_machine, &counter, &cold, &t1, servers).await;
    assert_eq!(counts, (1, 1, 0, 0));
}

#[tokio::test]
async fn a_new_machine_starts_warm_from_the_catalog_index() {
    let Some(env) = s3_env("a_new_machine_starts_warm_from_the_catalog_index") else {
        return;
    };
    let prefix = unique_prefix("index");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let o = objects(&target, &creds);
    crate::storage::load_fixture_bucket(&o, &prefix).await;
    let admin = server("cnpg-admin");
    let running = bid("20261126T050000");
    o.put(
        &barman::backup_info_key(&prefix, &admin, &running),
        in_progress_info(),
    )
    .await
    .unwrap();
    // A leftover of an interrupted preflight write probe.
    o.put(
        &format!(
            "{prefix}/{}/probe-x",
            cnpg_backup_kube::storage::PREFLIGHT_DIR
        ),
        b"x".to_vec(),
    )
    .await
    .unwrap();

    // The control loop reads with its memory cache and writes the index: one PUT per server.
    let loop_counter = RequestCounter::new();
    let control_loop = counted_probe(creds.clone(), &loop_counter)
        .with_catalog_cache(Arc::new(InMemoryCatalogCache::new()));
    let written = control_loop
        .write_catalog_index(&target, None)
        .await
        .unwrap();
    assert_eq!(written.len(), 7);
    assert_eq!(
        loop_counter.counts().other,
        2,
        "{:?}",
        loop_counter.counts()
    );
    let cold = probe(creds.clone());
    assert_eq!(written, cold.bucket_catalog(&target, None).await.unwrap());
    // Our own folders are never servers, and the preflight does not list them as folders.
    let servers: Vec<&str> = written.iter().map(|b| b.server.as_str()).collect();
    assert!(
        servers
            .iter()
            .all(|s| ["cnpg-admin", "cnpg-tenant"].contains(s)),
        "{servers:?}"
    );
    let report = cold
        .preflight(
            &target,
            &PreflightOptions::new(true, vec![], vec![]),
            Utc::now(),
        )
        .await;
    assert_eq!(report.state, PreflightState::Ok, "{report:#?}");
    let listed = report
        .steps
        .iter()
        .find(|s| s.check == PreflightCheck::ListPrefix)
        .unwrap();
    assert_eq!(
        listed.detail,
        format!("`{prefix}/` holds 2 folder(s): cnpg-admin, cnpg-tenant")
    );

    // A new machine with an empty cache: 1 top listing + 1 recursive listing per server
    // (started while the index is read), the two index objects, and one conditional GET for
    // the running backup. No backup.info is read in full.
    let dir = tempfile::tempdir().unwrap();
    let counter = RequestCounter::new();
    let new_machine = counted_probe(creds.clone(), &counter)
        .with_catalog_cache(Arc::new(DiskCatalogCache::new(dir.path())));
    let (catalog, counts) = read(&new_machine, &counter, &cold, &target, None).await;
    assert_eq!(catalog.len(), 7);
    assert_eq!(counts, (1 + 2, 2 + 1, 1, 0));
    // Its own cache is warm now: the index is not read again.
    let (_, counts) = read(&new_machine, &counter, &cold, &target, None).await;
    assert_eq!(counts, (3, 1, 1, 0));
    // A new tenant backup: one more GET.
    let tenant = server("cnpg-tenant");
    let id = bid("20261126T060000");
    put_backups(&o, &prefix, &tenant, std::slice::from_ref(&id)).await;
    let (catalog, counts) = read(&new_machine, &counter, &cold, &target, None).await;
    assert_eq!(catalog.len(), 8);
    assert_eq!(counts, (3, 1 + 1, 1, 0));
}

// ---- a local directory: random bucket changes, cached read == cold read ----

#[derive(Debug, Clone)]
enum Change {
    /// A backup starts (STARTED backup.info).
    Start(u8),
    /// It finishes (DONE) or fails (FAILED), rewritten in place.
    Settle(u8, bool),
    /// The backup.info rewritten with other content.
    Rewrite(u8),
    /// The whole folder deleted.
    Delete(u8),
    /// backup.info deleted, data left (torn).
    Tear(u8),
    /// A data file added.
    Data(u8),
    /// Unparsable content.
    Garbage(u8),
}

fn change() -> impl Strategy<Value = Change> {
    let slot = 0..6_u8;
    prop_oneof![
        3 => slot.clone().prop_map(Change::Start),
        3 => (slot.clone(), any::<bool>()).prop_map(|(s, ok)| Change::Settle(s, ok)),
        2 => slot.clone().prop_map(Change::Rewrite),
        2 => slot.clone().prop_map(Change::Delete),
        1 => slot.clone().prop_map(Change::Tear),
        1 => slot.clone().prop_map(Change::Data),
        1 => slot.prop_map(Change::Garbage),
    ]
}

async fn apply(
    root: &std::path::Path,
    o: &ObjectStoreBucketObjects,
    prefix: &str,
    change: &Change,
    revision: u32,
) {
    let s = server("cnpg-admin");
    let id = |slot: u8| bid(&format!("20261126T0{slot}0000"));
    let info_key = |slot: u8| barman::backup_info_key(prefix, &s, &id(slot));
    let status = |st: BarmanStatus, slot: u8| {
        let mut info = BackupInfo::new(st);
        info.begin_wal = Some(format!("{revision:024X}"));
        info.backup_name = Some(format!("b{slot}"));
        info.render().into_bytes()
    };
    match *change {
        Change::Start(slot) => o
            .put(&info_key(slot), status(BarmanStatus::Started, slot))
            .await
            .unwrap(),
        Change::Settle(slot, ok) => {
            let st = if ok {
                BarmanStatus::Done
            } else {
                BarmanStatus::Failed
            };
            o.put(&info_key(slot), status(st, slot)).await.unwrap();
        }
        Change::Rewrite(slot) => {
            if o.get(&info_key(slot)).await.is_ok() {
                o.put(&info_key(slot), status(BarmanStatus::Done, slot))
                    .await
                    .unwrap();
            }
        }
        Change::Delete(slot) => {
            o.delete(&info_key(slot)).await.unwrap();
            o.delete(&data_key(prefix, &s, &id(slot))).await.unwrap();
            // As in a bucket, where a folder without objects does not exist. (A local
            // directory's listing by delimiter shows empty directories as folders; a
            // recursive listing cannot.)
            let dir = root
                .join(barman::base_prefix(prefix, &s))
                .join(id(slot).as_str());
            let _ = std::fs::remove_dir(dir);
        }
        Change::Tear(slot) => {
            o.put(&data_key(prefix, &s, &id(slot)), vec![0; 20])
                .await
                .unwrap();
            o.delete(&info_key(slot)).await.unwrap();
        }
        Change::Data(slot) => o
            .put(&data_key(prefix, &s, &id(slot)), vec![0; 20])
            .await
            .unwrap(),
        Change::Garbage(slot) => o
            .put(&info_key(slot), b"status=DONE\nnot a pair\n".to_vec())
            .await
            .unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_cached_catalog_of_a_local_directory_always_equals_a_cold_read(
        steps in prop::collection::vec((change(), any::<bool>()), 1..25),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let bucket = tempfile::tempdir().unwrap();
            let cache_dir = tempfile::tempdir().unwrap();
            let o = ObjectStoreBucketObjects::local(bucket.path()).unwrap();
            let target = local_target(bucket.path(), "platform");
            let cached = probe(ResolvedCredentials::none())
                .with_catalog_cache(Arc::new(DiskCatalogCache::new(cache_dir.path())));
            let cold = probe(ResolvedCredentials::none());
            for (revision, (change, refresh)) in (0..).zip(&steps) {
                apply(bucket.path(), &o, "platform", change, revision).await;
                if !*refresh {
                    continue;
                }
                let got = cached.bucket_catalog(&target, None).await.unwrap();
                let want = cold.bucket_catalog(&target, None).await.unwrap();
                assert_eq!(got, want, "after {change:?}");
            }
            let got = cached.bucket_catalog(&target, None).await.unwrap();
            assert_eq!(got, cold.bucket_catalog(&target, None).await.unwrap());
        });
    }
}
