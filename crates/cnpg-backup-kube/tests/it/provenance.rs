//! Provenance records against a real S3 server (moto, started by `scripts/test`): written once
//! beside `backup.info` and never over anything, Barman's objects untouched byte for byte and
//! ETag for ETag, read by the bucket catalog (cold, warm, written later, with request counts),
//! and a missing, corrupt, oversized or forbidden record losing only its columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use cnpg_backup_core::automation::BackupMethod;
use cnpg_backup_core::barman::{self, BucketBackup};
use cnpg_backup_core::catalog::{BackupPhase, BackupRecord};
use cnpg_backup_core::names::{Plane, ServerName};
use cnpg_backup_core::ports::{BucketObjects, BucketProbe};
use cnpg_backup_core::provenance::{
    BackupProvenance, PROVENANCE_MAX_BYTES, Provenance, ProvenanceWrite, provenance_key,
};
use cnpg_backup_core::target::ObjectStoreTarget;
use cnpg_backup_kube::storage::{
    FixedCredentials, InMemoryCatalogCache, ObjectStoreBucketProbe, ProbeOptions, RequestCounter,
    ResolvedCredentials, StoreOptions, build_store,
};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt};

use crate::storage::{
    bid, counted_probe, keys, load_fixture_bucket, objects, probe, s3_env, s3_target, server,
    unique_prefix,
};

const ADMIN: [&str; 3] = ["20261126T045007", "20261126T045055", "20261126T045145"];
const TENANT: [&str; 3] = ["20261126T045048", "20261126T045133", "20261126T045141"];

/// The record the loop writes for a completed Backup of `plane`, in slot `set`.
fn record_of(plane: Plane, id: &str, set: &str) -> BackupProvenance {
    let cluster = format!("cnpg-{plane}");
    let mut r = BackupRecord::new(
        format!("{cluster}-cnpg-backup-{}", &set[2..])
            .parse()
            .unwrap(),
        cluster.parse().unwrap(),
        BackupMethod::Plugin,
    );
    r.phase = BackupPhase::Completed;
    r.backup_id = Some(bid(id));
    r.app_version = Some("1.4.0".parse().unwrap());
    r.backup_set_id = Some(set.parse().unwrap());
    BackupProvenance::of_record(
        &r,
        Some(plane),
        server(&cluster),
        "0.9.0",
        Utc.with_ymd_and_hms(2026, 11, 26, 5, 0, 0).unwrap(),
    )
    .unwrap()
}

/// Every object under `prefix`: key → (ETag, bytes).
async fn snapshot(
    store: &dyn ObjectStore,
    prefix: &str,
) -> BTreeMap<String, (Option<String>, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let metas: Vec<_> = futures::TryStreamExt::try_collect(store.list(Some(&Path::from(prefix))))
        .await
        .unwrap();
    for m in metas {
        let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
        out.insert(m.location.to_string(), (m.e_tag.clone(), bytes.to_vec()));
    }
    out
}

fn store_of(target: &ObjectStoreTarget, creds: &ResolvedCredentials) -> Arc<dyn ObjectStore> {
    build_store(target, creds, &StoreOptions::default()).unwrap()
}

fn set_of(b: &BucketBackup) -> Option<String> {
    b.provenance
        .record()
        .and_then(|r| r.backup_set_id.as_ref())
        .map(ToString::to_string)
}

fn find<'a>(catalog: &'a [BucketBackup], s: &str, id: &str) -> &'a BucketBackup {
    catalog
        .iter()
        .find(|b| b.server.as_str() == s && b.backup_id.as_str() == id)
        .unwrap()
}

#[tokio::test]
async fn a_record_is_written_once_beside_backup_info_and_barman_objects_stay_untouched() {
    let Some(env) =
        s3_env("a_record_is_written_once_beside_backup_info_and_barman_objects_stay_untouched")
    else {
        return;
    };
    let prefix = unique_prefix("prov-write");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let o = objects(&target, &creds);
    load_fixture_bucket(&o, &prefix).await;
    let store = store_of(&target, &creds);
    let before = snapshot(store.as_ref(), &prefix).await;

    let records = vec![
        record_of(Plane::Admin, ADMIN[2], "s-20261126045000"),
        record_of(Plane::Tenant, TENANT[1], "s-20261126045000"),
        // No such backup folder: nothing may be written there.
        record_of(Plane::Admin, "20261126T060000", "s-20261126060000"),
    ];
    let counter = RequestCounter::new();
    let writer = counted_probe(creds.clone(), &counter);
    let first = writer.write_provenance(&target, &records).await.unwrap();
    assert_eq!(
        first,
        [
            ProvenanceWrite::Written,
            ProvenanceWrite::Written,
            ProvenanceWrite::NoBackupInfo
        ]
    );
    // One LIST per backup folder and one PUT per record written: nothing else.
    let c = counter.counts();
    assert_eq!((c.list, c.get, c.head, c.other), (3, 0, 0, 2), "{c:?}");

    let after = snapshot(store.as_ref(), &prefix).await;
    // Barman's objects: the same keys, bytes and ETags; only our two records are new.
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        added,
        [&records[0].key(&prefix), &records[1].key(&prefix)],
        "only the two records are new"
    );
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "`{k}` changed");
    }
    let written = after[&records[0].key(&prefix)].clone();
    assert_eq!(written.1, records[0].to_json());

    // Again (a restarted loop): nothing is overwritten, even a record that differs.
    let mut newer = records.clone();
    newer[0].written_at = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let again = writer.write_provenance(&target, &newer).await.unwrap();
    assert_eq!(
        again,
        [
            ProvenanceWrite::AlreadyThere,
            ProvenanceWrite::AlreadyThere,
            ProvenanceWrite::NoBackupInfo
        ]
    );
    assert_eq!(snapshot(store.as_ref(), &prefix).await, after);

    // Many records of one server: one listing of base/ instead of one per folder.
    let many: Vec<BackupProvenance> = TENANT
        .iter()
        .chain(["20261126T050000", "20261126T050100"].iter())
        .map(|id| record_of(Plane::Tenant, id, "s-20261126045000"))
        .collect();
    let before = counter.counts();
    let outcomes = writer.write_provenance(&target, &many).await.unwrap();
    assert_eq!(
        outcomes,
        [
            ProvenanceWrite::Written,
            ProvenanceWrite::AlreadyThere,
            ProvenanceWrite::Written,
            ProvenanceWrite::NoBackupInfo,
            ProvenanceWrite::NoBackupInfo
        ]
    );
    let c = counter.counts();
    assert_eq!((c.list - before.list, c.other - before.other), (1, 2));

    // A create-only PUT refuses to replace a record that appeared since the listing.
    let key = Path::from(records[0].key(&prefix).as_str());
    let refused = store
        .put_opts(
            &key,
            b"{}".to_vec().into(),
            object_store::PutOptions::from(object_store::PutMode::Create),
        )
        .await;
    assert!(
        matches!(refused, Err(object_store::Error::AlreadyExists { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store
            .get(&key)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        written.1
    );
}

#[tokio::test]
async fn the_bucket_catalog_reads_records_cold_then_warm_and_picks_up_new_ones() {
    let Some(env) = s3_env("the_bucket_catalog_reads_records_cold_then_warm_and_picks_up_new_ones")
    else {
        return;
    };
    let prefix = unique_prefix("prov-read");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let o = objects(&target, &creds);
    load_fixture_bucket(&o, &prefix).await;
    let writer = probe(creds.clone());
    writer
        .write_provenance(
            &target,
            &[
                record_of(Plane::Admin, ADMIN[2], "s-20261126045000"),
                record_of(Plane::Tenant, TENANT[1], "s-20261126045000"),
            ],
        )
        .await
        .unwrap();

    let counter = RequestCounter::new();
    let reader = counted_probe(creds.clone(), &counter)
        .with_catalog_cache(Arc::new(InMemoryCatalogCache::new()));
    let servers = [server("cnpg-admin"), server("cnpg-tenant")];
    let servers = Some(&servers[..]);

    // Cold: one recursive LIST per server, six backup.info, two records, two absent indexes.
    let catalog = reader.bucket_catalog(&target, servers).await.unwrap();
    let c = counter.counts();
    assert_eq!((c.list, c.get), (2, 6 + 2 + 2), "{c:?}");
    assert_eq!(catalog.len(), 6);
    let admin = find(&catalog, "cnpg-admin", ADMIN[2]);
    let rec = admin.provenance.record().unwrap();
    assert_eq!(rec.app_version.as_ref().unwrap().to_string(), "1.4.0");
    assert_eq!(set_of(admin).as_deref(), Some("s-20261126045000"));
    assert_eq!(rec.backup.as_str(), "cnpg-admin-cnpg-backup-20261126045000");
    assert_eq!(
        set_of(find(&catalog, "cnpg-tenant", TENANT[1])).as_deref(),
        Some("s-20261126045000")
    );
    assert_eq!(
        find(&catalog, "cnpg-admin", ADMIN[0]).provenance,
        Provenance::Absent
    );
    // The same catalog as a reader without a cache.
    assert_eq!(
        probe(creds.clone())
            .bucket_catalog(&target, servers)
            .await
            .unwrap(),
        catalog
    );

    // Warm, nothing changed: the listings, no GET.
    let before = counter.counts();
    let warm = reader.bucket_catalog(&target, servers).await.unwrap();
    let c = counter.counts();
    assert_eq!((c.list - before.list, c.get - before.get), (2, 0));
    assert_eq!(warm, catalog);

    // The loop records an older backup later: the next listing shows it, one GET.
    writer
        .write_provenance(
            &target,
            &[record_of(Plane::Admin, ADMIN[0], "s-20261126044500")],
        )
        .await
        .unwrap();
    let before = counter.counts();
    let later = reader.bucket_catalog(&target, servers).await.unwrap();
    let c = counter.counts();
    assert_eq!((c.list - before.list, c.get - before.get), (2, 1));
    assert_eq!(
        set_of(find(&later, "cnpg-admin", ADMIN[0])).as_deref(),
        Some("s-20261126044500")
    );
}

/// A connector that answers 403 AccessDenied to every GET of a provenance record (a bucket
/// policy that denies reading them), and passes everything else to object_store's.
#[derive(Debug)]
struct DenyRecords;

impl HttpConnector for DenyRecords {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Deny { inner }))
    }
}

#[derive(Debug)]
struct Deny {
    inner: HttpClient,
}

#[async_trait]
impl HttpService for Deny {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        if req.method() == http::Method::GET && req.uri().path().ends_with("/cnpg-backup.json") {
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
            return Ok(http::Response::builder()
                .status(403)
                .body(body.to_owned().into())
                .unwrap());
        }
        self.inner.execute(req).await
    }
}

#[tokio::test]
async fn a_missing_corrupt_oversized_or_forbidden_record_loses_only_its_columns() {
    let Some(env) =
        s3_env("a_missing_corrupt_oversized_or_forbidden_record_loses_only_its_columns")
    else {
        return;
    };
    let prefix = unique_prefix("prov-bad");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let o = objects(&target, &creds);
    load_fixture_bucket(&o, &prefix).await;
    let admin = server("cnpg-admin");
    let key = |id: &str| provenance_key(&prefix, &admin, &bid(id));
    o.put(&key(ADMIN[0]), b"{\"schemaVersion\": 1, \"trunc".to_vec())
        .await
        .unwrap();
    o.put(&key(ADMIN[1]), vec![b' '; PROVENANCE_MAX_BYTES + 1])
        .await
        .unwrap();
    probe(creds.clone())
        .write_provenance(
            &target,
            &[record_of(Plane::Admin, ADMIN[2], "s-20261126045000")],
        )
        .await
        .unwrap();
    // Barman deleted a backup's own files (as its retention does): only our record is left.
    let gone = bid("20261126T040000");
    o.put(
        &provenance_key(&prefix, &admin, &gone),
        record_of(Plane::Admin, gone.as_str(), "s-20261126040000").to_json(),
    )
    .await
    .unwrap();

    let servers = [admin.clone()];
    let catalog = probe(creds.clone())
        .bucket_catalog(&target, Some(&servers))
        .await
        .unwrap();
    // Three rows, every backup.info read: the orphan record is no backup.
    assert_eq!(catalog.len(), 3);
    assert!(catalog.iter().all(|b| b.info.is_ok()));
    let warning = |id: &str| {
        find(&catalog, "cnpg-admin", id)
            .provenance
            .warning()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        warning(ADMIN[0]).contains("is unreadable"),
        "{}",
        warning(ADMIN[0])
    );
    assert!(
        warning(ADMIN[1]).contains("the limit is 16384"),
        "{}",
        warning(ADMIN[1])
    );
    assert_eq!(
        set_of(find(&catalog, "cnpg-admin", ADMIN[2])).as_deref(),
        Some("s-20261126045000")
    );

    // Forbidden: reading the records is denied; the rows stay, with the reason.
    let opts = ProbeOptions::default().with_stores(
        StoreOptions::default().with_http_connector(Arc::new(DenyRecords)),
        StoreOptions::preflight(),
    );
    let denied = ObjectStoreBucketProbe::new(Arc::new(FixedCredentials::new(creds)), opts)
        .bucket_catalog(&target, Some(&servers))
        .await
        .unwrap();
    assert_eq!(denied.len(), 3);
    let b = find(&denied, "cnpg-admin", ADMIN[2]);
    assert!(b.info.is_ok());
    assert_eq!(b.provenance.record(), None);
    let w = b.provenance.warning().unwrap();
    assert!(
        w.contains("could not be read") && w.contains("AccessDenied"),
        "{w}"
    );
    // Barman's columns are the same as with the record readable.
    assert_eq!(b.info, find(&catalog, "cnpg-admin", ADMIN[2]).info);
}

#[tokio::test]
async fn a_local_directory_bucket_takes_records_too() {
    let dir = tempfile::tempdir().unwrap();
    let target = crate::storage::local_target(dir.path(), "platform");
    let o = cnpg_backup_kube::storage::ObjectStoreBucketObjects::local(dir.path()).unwrap();
    load_fixture_bucket(&o, "platform").await;
    let p = probe(ResolvedCredentials::none());
    let records = [record_of(Plane::Tenant, TENANT[0], "s-20261126045000")];
    assert_eq!(
        p.write_provenance(&target, &records).await.unwrap(),
        [ProvenanceWrite::Written]
    );
    assert_eq!(
        p.write_provenance(&target, &records).await.unwrap(),
        [ProvenanceWrite::AlreadyThere]
    );
    let tenant: Vec<ServerName> = vec![server("cnpg-tenant")];
    let catalog = p.bucket_catalog(&target, Some(&tenant)).await.unwrap();
    assert_eq!(
        set_of(find(&catalog, "cnpg-tenant", TENANT[0])).as_deref(),
        Some("s-20261126045000")
    );
    let key = barman::backup_info_key("platform", &server("cnpg-tenant"), &bid(TENANT[0]));
    assert_eq!(
        o.get(&key).await.unwrap(),
        crate::storage::fixture_info("cnpg-tenant", TENANT[0])
    );
}
