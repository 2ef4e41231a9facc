//! Object-storage adapter tests against a real S3 server on 127.0.0.1 (moto_server, started by
//! `scripts/test`: plain HTTP, HTTPS with a test CA, and a server that checks signatures and
//! IAM permissions), and against a local directory.
//!
//! Without the `S3_TEST_*` variables the S3 tests panic under `CI=true` and otherwise print why
//! they skip. Each test writes under its own prefix (moto keeps state while it runs).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cnpg_backup_core::barman::{self, BackupInfo, BarmanStatus};
use cnpg_backup_core::catalog::{BarmanBackupId, StoragePresence};
use cnpg_backup_core::names::ServerName;
use cnpg_backup_core::ports::{BucketObjects, BucketProbe, PreflightOptions};
use cnpg_backup_core::status::{PreflightCheck, PreflightReport, PreflightState, StepVerdict};
use cnpg_backup_core::target::{Credentials, ObjectStoreTarget, Provider, SecretRef};
use cnpg_backup_kube::storage::{
    FixedCredentials, ObjectStoreBucketObjects, ObjectStoreBucketProbe, PREFLIGHT_DIR,
    ProbeOptions, RequestCounter, ResolvedCredentials, StoreOptions, build_store,
};
use futures::StreamExt;

/// The S3 test servers, from the env file `scripts/s3/start-s3.sh` writes.
pub(crate) struct S3Env {
    pub(crate) endpoint: String,
    tls_endpoint: String,
    ca_pem: String,
    wrong_ca_pem: String,
    auth_endpoint: String,
    writer: (String, String),
    reader: (String, String),
    pub(crate) bucket: String,
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("`{name}` is unset while S3_TEST_ENDPOINT is set: source the env file start-s3.sh writes"))
}

/// The S3 servers, or `None` (with the reason printed) when they are not configured locally.
/// Under `CI=true` a missing server is a failure, not a skip.
pub(crate) fn s3_env(test: &str) -> Option<S3Env> {
    if std::env::var("S3_TEST_ENDPOINT").is_err() {
        let msg = "S3_TEST_ENDPOINT is unset: run ./scripts/test, which starts the S3 test servers (scripts/s3/start-s3.sh) and exports S3_TEST_*";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: {msg}");
        }
        // Straight to stderr: libtest captures eprintln!, and a skip must be seen.
        let _ = writeln!(std::io::stderr(), "skipped {test}: {msg}");
        return None;
    }
    let read = |name: &str| {
        std::fs::read_to_string(var(name)).unwrap_or_else(|e| panic!("reading `{name}`: {e}"))
    };
    Some(S3Env {
        endpoint: var("S3_TEST_ENDPOINT"),
        tls_endpoint: var("S3_TEST_TLS_ENDPOINT"),
        ca_pem: read("S3_TEST_CA_PEM"),
        wrong_ca_pem: read("S3_TEST_WRONG_CA_PEM"),
        auth_endpoint: var("S3_TEST_AUTH_ENDPOINT"),
        writer: (var("S3_TEST_WRITER_KEY_ID"), var("S3_TEST_WRITER_SECRET")),
        reader: (var("S3_TEST_READER_KEY_ID"), var("S3_TEST_READER_SECRET")),
        bucket: var("S3_TEST_BUCKET"),
        access_key_id: var("S3_TEST_ACCESS_KEY_ID"),
        secret_access_key: var("S3_TEST_SECRET_ACCESS_KEY"),
    })
}

/// A prefix no other test (nor an earlier run against the same server) uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("it/{test}-{}-{nanos}", std::process::id())
}

pub(crate) fn sref(name: &str, key: &str) -> SecretRef {
    SecretRef::new(name.parse().unwrap(), key.to_owned())
}

pub(crate) fn s3_target(
    endpoint: &str,
    bucket: &str,
    prefix: &str,
    with_ca: bool,
) -> ObjectStoreTarget {
    let t = ObjectStoreTarget::new(
        Provider::S3Compatible,
        bucket,
        prefix,
        Credentials::S3AccessKey {
            access_key_id: sref("s3", "id"),
            secret_access_key: sref("s3", "secret"),
            session_token: None,
        },
    )
    .unwrap()
    .with_endpoint(endpoint)
    .with_region("us-east-1");
    if with_ca {
        t.with_endpoint_ca(sref("s3-ca", "ca.crt"))
    } else {
        t
    }
}

pub(crate) fn local_target(dir: &Path, prefix: &str) -> ObjectStoreTarget {
    ObjectStoreTarget::new(
        Provider::Local,
        dir.to_string_lossy().into_owned(),
        prefix,
        Credentials::None,
    )
    .unwrap()
}

pub(crate) fn keys(id: &str, secret: &str) -> ResolvedCredentials {
    ResolvedCredentials::s3_access_key(id.to_owned().into(), secret.to_owned().into(), None)
}

pub(crate) fn probe(creds: ResolvedCredentials) -> ObjectStoreBucketProbe {
    ObjectStoreBucketProbe::new(
        Arc::new(FixedCredentials::new(creds)),
        ProbeOptions::default(),
    )
}

/// A probe whose catalog reads go through `counter`.
pub(crate) fn counted_probe(
    creds: ResolvedCredentials,
    counter: &RequestCounter,
) -> ObjectStoreBucketProbe {
    let opts = ProbeOptions::default().with_stores(
        StoreOptions::default().with_http_connector(Arc::new(counter.clone())),
        StoreOptions::preflight(),
    );
    ObjectStoreBucketProbe::new(Arc::new(FixedCredentials::new(creds)), opts)
}

pub(crate) fn objects(
    target: &ObjectStoreTarget,
    creds: &ResolvedCredentials,
) -> ObjectStoreBucketObjects {
    ObjectStoreBucketObjects::new(build_store(target, creds, &StoreOptions::default()).unwrap())
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap()
}

pub(crate) fn server(s: &str) -> ServerName {
    s.parse().unwrap()
}

pub(crate) fn bid(s: &str) -> BarmanBackupId {
    s.parse().unwrap()
}

fn verdicts(r: &PreflightReport) -> Vec<(PreflightCheck, StepVerdict)> {
    r.steps.iter().map(|s| (s.check, s.verdict)).collect()
}

fn step(r: &PreflightReport, check: PreflightCheck) -> &cnpg_backup_core::status::PreflightStep {
    r.steps.iter().find(|s| s.check == check).unwrap()
}

/// Every step before `failed` passed (or was skipped by mode), `failed` failed, the rest skipped.
fn assert_stops_at(r: &PreflightReport, failed: PreflightCheck) {
    assert_eq!(r.state, PreflightState::Failed, "{r:#?}");
    assert_eq!(r.steps.len(), 8, "{r:#?}");
    let at = r.steps.iter().position(|s| s.check == failed).unwrap();
    for (i, s) in r.steps.iter().enumerate() {
        let want = match i.cmp(&at) {
            std::cmp::Ordering::Less => s.verdict != StepVerdict::Failed,
            std::cmp::Ordering::Equal => s.verdict == StepVerdict::Failed,
            std::cmp::Ordering::Greater => {
                s.verdict == StepVerdict::Skipped && s.detail == "not run: an earlier step failed"
            }
        };
        assert!(want, "step {i} {:?}: {r:#?}", s.check);
    }
}

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/barman-bucket"
    ))
}

pub(crate) fn fixture_info(server: &str, id: &str) -> Vec<u8> {
    std::fs::read(
        fixtures()
            .join("bucket/platform")
            .join(server)
            .join("base")
            .join(id)
            .join("backup.info"),
    )
    .unwrap()
}

pub(crate) fn in_progress_info() -> Vec<u8> {
    let mut stack = vec![fixtures().join("in-progress")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name() == "backup.info" {
                return std::fs::read(e.path()).unwrap();
            }
        }
    }
    panic!("no in-progress backup.info fixture");
}

/// The fixture bucket copied under `prefix`: 3 DONE backups of cnpg-admin, 2 DONE and 1 FAILED
/// of cnpg-tenant, and one WAL file of cnpg-admin.
pub(crate) async fn load_fixture_bucket(o: &dyn BucketObjects, prefix: &str) {
    for (s, ids) in [
        (
            "cnpg-admin",
            ["20261126T045007", "20261126T045055", "20261126T045145"],
        ),
        (
            "cnpg-tenant",
            ["20261126T045048", "20261126T045133", "20261126T045141"],
        ),
    ] {
        for id in ids {
            o.put(
                &barman::backup_info_key(prefix, &server(s), &bid(id)),
                fixture_info(s, id),
            )
            .await
            .unwrap();
        }
    }
    o.put(
        &format!(
            "{}0000000100000000/000000010000000000000002.gz",
            barman::wals_prefix(prefix, &server("cnpg-admin"))
        ),
        vec![0; 20],
    )
    .await
    .unwrap();
}

fn listed_statuses(
    catalog: &[cnpg_backup_core::barman::BucketBackup],
) -> BTreeMap<(String, String), Result<BarmanStatus, String>> {
    catalog
        .iter()
        .map(|b| {
            (
                (b.server.to_string(), b.backup_id.to_string()),
                b.info.as_ref().map(|i| i.status).map_err(Clone::clone),
            )
        })
        .collect()
}

#[tokio::test]
async fn preflight_passes_every_step_on_a_working_bucket() {
    let Some(env) = s3_env("preflight_passes_every_step_on_a_working_bucket") else {
        return;
    };
    let prefix = unique_prefix("happy");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let o = objects(&target, &creds);
    load_fixture_bucket(&o, &prefix).await;

    let report = probe(creds)
        .preflight(
            &target,
            &PreflightOptions::new(
                false,
                vec![server("cnpg-restored"), server("cnpg-tenant")],
                vec![server("cnpg-admin"), server("cnpg-new")],
            ),
            now(),
        )
        .await;
    assert_eq!(report.state, PreflightState::Ok, "{report:#?}");
    assert!(
        report
            .steps
            .iter()
            .all(|s| s.verdict == StepVerdict::Passed),
        "{report:#?}"
    );
    assert_eq!(report.ran_at, Some(now()));
    assert_eq!(
        step(&report, PreflightCheck::ListPrefix).detail,
        format!("`{prefix}/` holds 2 folder(s): cnpg-admin, cnpg-tenant")
    );
    assert_eq!(
        step(&report, PreflightCheck::LiveArchiveHasBackups).detail,
        "`cnpg-admin`: 3 backup(s); `cnpg-new`: no backup yet"
    );
    // cnpg-tenant has backups but no WAL: only WAL files count, as in barman-cloud-check-wal-archive.
    assert_eq!(
        step(&report, PreflightCheck::RestoreArchiveEmpty).detail,
        "no WAL file in the archive of `cnpg-restored`, `cnpg-tenant`"
    );
    // The write probe cleaned up after itself.
    assert_eq!(
        o.list(&format!("{prefix}/{PREFLIGHT_DIR}/")).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn preflight_refuses_a_restore_into_a_server_whose_archive_has_wal() {
    let Some(env) = s3_env("preflight_refuses_a_restore_into_a_server_whose_archive_has_wal")
    else {
        return;
    };
    let prefix = unique_prefix("walcheck");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    load_fixture_bucket(&objects(&target, &creds), &prefix).await;
    let report = probe(creds)
        .preflight(
            &target,
            &PreflightOptions::new(true, vec![server("cnpg-admin")], vec![server("cnpg-admin")]),
            now(),
        )
        .await;
    assert_stops_at(&report, PreflightCheck::RestoreArchiveEmpty);
    assert_eq!(
        step(&report, PreflightCheck::WriteProbe).detail,
        "read-only mode"
    );
    assert_eq!(
        step(&report, PreflightCheck::RestoreArchiveEmpty).detail,
        format!(
            "WAL archive check failed for server `cnpg-admin`: Expected empty archive (found `{prefix}/cnpg-admin/wals/0000000100000000/000000010000000000000002.gz`); a restore writing to this server name would fail at bootstrap: choose another serverName"
        )
    );
}

#[tokio::test]
async fn preflight_reports_a_missing_bucket_and_never_creates_it() {
    let Some(env) = s3_env("preflight_reports_a_missing_bucket_and_never_creates_it") else {
        return;
    };
    let bucket = format!("missing-{}", std::process::id());
    let target = s3_target(&env.endpoint, &bucket, "p", false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let p = probe(creds);
    for _ in 0..2 {
        let report = p
            .preflight(&target, &PreflightOptions::default(), now())
            .await;
        assert_stops_at(&report, PreflightCheck::BucketAccess);
        assert_eq!(
            step(&report, PreflightCheck::BucketAccess).detail,
            format!(
                "bucket `{bucket}` does not exist (NoSuchBucket); cnpg-backup never creates buckets: create it first"
            )
        );
    }
}

#[tokio::test]
async fn preflight_over_https_trusts_the_endpoint_ca() {
    let Some(env) = s3_env("preflight_over_https_trusts_the_endpoint_ca") else {
        return;
    };
    let prefix = unique_prefix("tls");
    let target = s3_target(&env.tls_endpoint, &env.bucket, &prefix, true);
    let creds =
        keys(&env.access_key_id, &env.secret_access_key).with_endpoint_ca_pem(env.ca_pem.clone());
    let report = probe(creds.clone())
        .preflight(&target, &PreflightOptions::default(), now())
        .await;
    assert_eq!(
        verdicts(&report)[..6],
        [
            (PreflightCheck::Configuration, StepVerdict::Passed),
            (PreflightCheck::SecretsResolve, StepVerdict::Passed),
            (PreflightCheck::EndpointReachable, StepVerdict::Passed),
            (PreflightCheck::BucketAccess, StepVerdict::Passed),
            (PreflightCheck::ListPrefix, StepVerdict::Passed),
            (PreflightCheck::WriteProbe, StepVerdict::Passed),
        ],
        "{report:#?}"
    );
    assert!(
        step(&report, PreflightCheck::EndpointReachable)
            .detail
            .ends_with("TLS certificate trusted (with the endpoint CA)"),
        "{report:#?}"
    );
    // The object_store client trusts the same CA: a catalog read over HTTPS works.
    let o = objects(&target, &creds);
    o.put(
        &barman::backup_info_key(&prefix, &server("cnpg-admin"), &bid("20261126T045007")),
        fixture_info("cnpg-admin", "20261126T045007"),
    )
    .await
    .unwrap();
    let catalog = probe(creds).bucket_catalog(&target, None).await.unwrap();
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0].info.as_ref().unwrap().status, BarmanStatus::Done);
}

#[tokio::test]
async fn preflight_names_an_unknown_certificate_authority() {
    let Some(env) = s3_env("preflight_names_an_unknown_certificate_authority") else {
        return;
    };
    let host_port = env.tls_endpoint.trim_start_matches("https://").to_owned();
    let expected = format!(
        "TLS handshake with `{host_port}`: certificate signed by an unknown authority (UnknownIssuer)"
    );
    // A CA that did not sign the server's certificate, and no CA at all (platform roots only).
    for (ca, with_ca) in [(Some(env.wrong_ca_pem.clone()), true), (None, false)] {
        let target = s3_target(&env.tls_endpoint, &env.bucket, "p", with_ca);
        let mut creds = keys(&env.access_key_id, &env.secret_access_key);
        if let Some(ca) = ca {
            creds = creds.with_endpoint_ca_pem(ca);
        }
        let report = probe(creds)
            .preflight(&target, &PreflightOptions::default(), now())
            .await;
        assert_stops_at(&report, PreflightCheck::EndpointReachable);
        let tls = step(&report, PreflightCheck::EndpointReachable);
        assert_eq!(tls.detail, expected);
        // Reported, not asserted: object_store alone would retry this ten times.
        let _ = writeln!(
            std::io::stderr(),
            "wrong CA ({}): endpoint step took {:?}",
            if with_ca { "unrelated CA" } else { "no CA" },
            tls.duration
        );
    }
}

#[tokio::test]
async fn preflight_rejects_wrong_credentials_without_showing_them() {
    let Some(env) = s3_env("preflight_rejects_wrong_credentials_without_showing_them") else {
        return;
    };
    const PLANTED: &str = "planted-wrong-secret-Zq81xK";
    let target = s3_target(&env.auth_endpoint, &env.bucket, "p", false);
    for (id, code) in [
        (env.writer.0.as_str(), "SignatureDoesNotMatch"),
        ("AKIAUNKNOWNKEY000000", "InvalidAccessKeyId"),
    ] {
        let creds = keys(id, PLANTED);
        let p = probe(creds.clone());
        let report = p
            .preflight(&target, &PreflightOptions::default(), now())
            .await;
        assert_stops_at(&report, PreflightCheck::BucketAccess);
        let detail = &step(&report, PreflightCheck::BucketAccess).detail;
        assert!(
            detail.starts_with(&format!(
                "listing the bucket refused ({code}): the credentials are not accepted or lack permission"
            )),
            "{detail}"
        );
        let err = p.bucket_catalog(&target, None).await.unwrap_err();
        assert!(
            matches!(err, cnpg_backup_core::ports::BackendError::Forbidden { .. }),
            "{err:?}"
        );
        for shown in [
            format!("{report:?}"),
            serde_json::to_string(&report).unwrap(),
            format!("{err:?}"),
            err.to_string(),
            format!("{creds:?}"),
            format!("{p:?}"),
        ] {
            assert!(!shown.contains(PLANTED), "secret shown in: {shown}");
        }
    }
}

#[tokio::test]
async fn preflight_reports_a_denied_write_and_read_only_mode_skips_it() {
    let Some(env) = s3_env("preflight_reports_a_denied_write_and_read_only_mode_skips_it") else {
        return;
    };
    let prefix = unique_prefix("denied");
    let target = s3_target(&env.auth_endpoint, &env.bucket, &prefix, false);
    // The writer may write: the whole preflight passes on the signature-checking server.
    let writer = keys(&env.writer.0, &env.writer.1);
    let report = probe(writer)
        .preflight(&target, &PreflightOptions::default(), now())
        .await;
    assert_eq!(report.state, PreflightState::Ok, "{report:#?}");

    let reader = keys(&env.reader.0, &env.reader.1);
    let report = probe(reader.clone())
        .preflight(&target, &PreflightOptions::default(), now())
        .await;
    assert_stops_at(&report, PreflightCheck::WriteProbe);
    let detail = &step(&report, PreflightCheck::WriteProbe).detail;
    assert!(
        detail.starts_with(&format!(
            "writing `{prefix}/{PREFLIGHT_DIR}/probe-20261126T060000.000000Z` refused (AccessDenied)"
        )),
        "{detail}"
    );

    let report = probe(reader)
        .preflight(&target, &PreflightOptions::new(true, vec![], vec![]), now())
        .await;
    assert_eq!(report.state, PreflightState::Ok, "{report:#?}");
    assert_eq!(
        step(&report, PreflightCheck::WriteProbe).verdict,
        StepVerdict::Skipped
    );
}

/// `n` distinct backup ids, one a minute from 2026-01-01.
pub(crate) fn many_ids(n: u32) -> Vec<BarmanBackupId> {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            bid(&(t0 + chrono::Duration::minutes(i64::from(i)))
                .format("%Y%m%dT%H%M%S")
                .to_string())
        })
        .collect()
}

#[tokio::test]
async fn presence_of_1001_backups_takes_two_list_requests() {
    let Some(env) = s3_env("presence_of_1001_backups_takes_two_list_requests") else {
        return;
    };
    let prefix = unique_prefix("presence");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let o = objects(&target, &creds);
    let s = server("cnpg-admin");
    let ids = many_ids(1003);
    let (present, absent) = ids.split_at(1001);
    let info = BackupInfo::new(BarmanStatus::Done).render().into_bytes();
    futures::stream::iter(present)
        .map(|id| {
            let key = barman::backup_info_key(&prefix, &s, id);
            let (o, info) = (&o, info.clone());
            async move { o.put(&key, info).await }
        })
        .buffer_unordered(16)
        .for_each(|r| {
            r.unwrap();
            std::future::ready(())
        })
        .await;
    // A folder with data but no backup.info does not count as present.
    o.put(
        &format!(
            "{}{}/data.tar.gz",
            barman::base_prefix(&prefix, &s),
            absent[0]
        ),
        vec![0; 20],
    )
    .await
    .unwrap();

    let counter = RequestCounter::new();
    let presence = counted_probe(creds, &counter)
        .presence(&target, &s, &ids)
        .await
        .unwrap();
    let counts = counter.counts();
    assert_eq!(
        (counts.list, counts.get, counts.head, counts.other),
        (2, 0, 0, 0),
        "1002 keys under base/ are two pages of 1000: {counts:?}"
    );
    assert_eq!(presence.len(), 1003);
    assert!(
        present
            .iter()
            .all(|id| presence[id] == StoragePresence::Present)
    );
    assert!(
        absent
            .iter()
            .all(|id| presence[id] == StoragePresence::Missing)
    );
}

#[tokio::test]
async fn bucket_catalog_reports_missing_started_failed_and_malformed_backups() {
    let Some(env) = s3_env("bucket_catalog_reports_missing_started_failed_and_malformed_backups")
    else {
        return;
    };
    let prefix = unique_prefix("catalog");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let creds = keys(&env.access_key_id, &env.secret_access_key);
    let o = objects(&target, &creds);
    load_fixture_bucket(&o, &prefix).await;
    let admin = server("cnpg-admin");
    // A running backup (real STARTED file), one whose backup.info is missing, one malformed.
    o.put(
        &barman::backup_info_key(&prefix, &admin, &bid("20261126T050000")),
        in_progress_info(),
    )
    .await
    .unwrap();
    o.put(
        &format!(
            "{}20261126T050100/data.tar.gz",
            barman::base_prefix(&prefix, &admin)
        ),
        vec![0; 20],
    )
    .await
    .unwrap();
    o.put(
        &barman::backup_info_key(&prefix, &admin, &bid("20261126T050200")),
        b"status=DONE\ngarbage line\n".to_vec(),
    )
    .await
    .unwrap();
    // Not a backup folder, not a server folder: ignored.
    o.put(
        &format!("{}not-an-id/x", barman::base_prefix(&prefix, &admin)),
        vec![1],
    )
    .await
    .unwrap();
    o.put(&format!("{prefix}/Not_A_Server/x"), vec![1])
        .await
        .unwrap();

    let counter = RequestCounter::new();
    let catalog = counted_probe(creds.clone(), &counter)
        .bucket_catalog(&target, None)
        .await
        .unwrap();
    let got = listed_statuses(&catalog);
    let k = |s: &str, id: &str| (s.to_owned(), id.to_owned());
    let mut want: BTreeMap<(String, String), Result<BarmanStatus, String>> = BTreeMap::new();
    for id in ["20261126T045007", "20261126T045055", "20261126T045145"] {
        want.insert(k("cnpg-admin", id), Ok(BarmanStatus::Done));
    }
    want.insert(
        k("cnpg-admin", "20261126T050000"),
        Ok(BarmanStatus::Started),
    );
    want.insert(
        k("cnpg-admin", "20261126T050100"),
        Err(format!(
            "`{prefix}/cnpg-admin/base/20261126T050100/backup.info` is missing"
        )),
    );
    want.insert(
        k("cnpg-admin", "20261126T050200"),
        Err(format!(
            "`{prefix}/cnpg-admin/base/20261126T050200/backup.info` is malformed: backup.info line 2: expected `key=value`"
        )),
    );
    for id in ["20261126T045048", "20261126T045133"] {
        want.insert(k("cnpg-tenant", id), Ok(BarmanStatus::Done));
    }
    want.insert(
        k("cnpg-tenant", "20261126T045141"),
        Ok(BarmanStatus::Failed),
    );
    assert_eq!(got, want);
    // Sorted by server, then id.
    let order: Vec<_> = catalog
        .iter()
        .map(|b| (b.server.to_string(), b.backup_id.to_string()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    // The FAILED one keeps Barman's error and has no end.
    let failed = catalog
        .iter()
        .find(|b| b.backup_id.as_str() == "20261126T045141")
        .unwrap();
    let info = failed.info.as_ref().unwrap();
    assert_eq!(info.end_time, None);
    assert!(
        info.error
            .as_deref()
            .unwrap()
            .starts_with("failure uploading data")
    );
    // 1 delimiter LIST of the prefix + 1 recursive LIST per server, one GET per backup.info
    // listed (the torn folder's missing one is seen in the listing, not asked for).
    let c = counter.counts();
    assert_eq!((c.list, c.get, c.head, c.other), (3, 8, 0, 0), "{c:?}");

    // Asking for one server lists only its folder.
    let tenant_only = probe(creds)
        .bucket_catalog(&target, Some(&[server("cnpg-tenant")]))
        .await
        .unwrap();
    assert_eq!(tenant_only.len(), 3);
}

#[tokio::test]
async fn bucket_objects_over_s3_put_get_list_delete() {
    let Some(env) = s3_env("bucket_objects_over_s3_put_get_list_delete") else {
        return;
    };
    let prefix = unique_prefix("objects");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let o = objects(&target, &keys(&env.access_key_id, &env.secret_access_key));
    o.put(&format!("{prefix}/a/b"), b"1".to_vec())
        .await
        .unwrap();
    o.put(&format!("{prefix}/a/c"), b"2".to_vec())
        .await
        .unwrap();
    o.put(&format!("{prefix}/ab"), b"3".to_vec()).await.unwrap();
    assert_eq!(o.get(&format!("{prefix}/a/c")).await.unwrap(), b"2");
    assert_eq!(
        o.list(&format!("{prefix}/a")).await.unwrap(),
        [
            format!("{prefix}/a/b"),
            format!("{prefix}/a/c"),
            format!("{prefix}/ab")
        ]
    );
    o.delete(&format!("{prefix}/a/b")).await.unwrap();
    o.delete(&format!("{prefix}/a/b")).await.unwrap();
    assert!(matches!(
        o.get(&format!("{prefix}/a/b")).await,
        Err(cnpg_backup_core::ports::BackendError::NotFound { .. })
    ));
}

#[tokio::test]
async fn bucket_objects_over_s3_pass_the_port_contract() {
    let Some(env) = s3_env("bucket_objects_over_s3_pass_the_port_contract") else {
        return;
    };
    let prefix = unique_prefix("contract");
    let target = s3_target(&env.endpoint, &env.bucket, &prefix, false);
    let o = objects(&target, &keys(&env.access_key_id, &env.secret_access_key));
    cnpg_backup_core::contract::bucket_objects(&o, &prefix).await;
}

// ---- local directory: no server needed ----

#[tokio::test]
async fn bucket_objects_in_a_local_directory_pass_the_port_contract() {
    let dir = tempfile::tempdir().unwrap();
    let o = ObjectStoreBucketObjects::local(dir.path()).unwrap();
    cnpg_backup_core::contract::bucket_objects(&o, "contract").await;
}

#[tokio::test]
async fn local_directory_catalog_matches_the_fixture_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let o = ObjectStoreBucketObjects::local(dir.path()).unwrap();
    load_fixture_bucket(&o, "platform").await;
    let target = local_target(dir.path(), "platform");
    let p = probe(ResolvedCredentials::none());
    let catalog = p.bucket_catalog(&target, None).await.unwrap();
    assert_eq!(catalog.len(), 6);
    // Agrees with `barman-cloud-backup-list --format json` for both servers.
    for s in ["cnpg-admin", "cnpg-tenant"] {
        let listed: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixtures().join(format!("commands/backup-list.{s}.json"))).unwrap(),
        )
        .unwrap();
        let mut theirs: Vec<(String, String, Option<String>)> = listed["backups_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["backup_id"].as_str().unwrap().to_owned(),
                    b["status"].as_str().unwrap().to_owned(),
                    b["begin_wal"].as_str().map(str::to_owned),
                )
            })
            .collect();
        theirs.sort();
        let ours: Vec<(String, String, Option<String>)> = catalog
            .iter()
            .filter(|b| b.server.as_str() == s)
            .map(|b| {
                let i = b.info.as_ref().unwrap();
                (
                    b.backup_id.to_string(),
                    i.status.as_str().to_owned(),
                    i.begin_wal.clone(),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{s}");
    }
    let presence = p
        .presence(
            &target,
            &server("cnpg-admin"),
            &[bid("20261126T045007"), bid("20261126T045008")],
        )
        .await
        .unwrap();
    assert_eq!(
        presence.into_iter().collect::<Vec<_>>(),
        [
            (bid("20261126T045007"), StoragePresence::Present),
            (bid("20261126T045008"), StoragePresence::Missing)
        ]
    );
}

#[tokio::test]
async fn local_directory_preflight_passes_and_a_missing_directory_fails_early() {
    let dir = tempfile::tempdir().unwrap();
    let o = ObjectStoreBucketObjects::local(dir.path()).unwrap();
    load_fixture_bucket(&o, "platform").await;
    let p = probe(ResolvedCredentials::none());
    let report = p
        .preflight(
            &local_target(dir.path(), "platform"),
            &PreflightOptions::new(false, vec![server("cnpg-new")], vec![server("cnpg-tenant")]),
            now(),
        )
        .await;
    assert_eq!(report.state, PreflightState::Ok, "{report:#?}");
    assert!(
        report
            .steps
            .iter()
            .all(|s| s.verdict == StepVerdict::Passed),
        "{report:#?}"
    );
    assert_eq!(
        o.list(&format!("platform/{PREFLIGHT_DIR}/")).await.unwrap(),
        Vec::<String>::new()
    );

    let gone = dir.path().join("gone");
    let report = p
        .preflight(
            &local_target(&gone, ""),
            &PreflightOptions::default(),
            now(),
        )
        .await;
    assert_stops_at(&report, PreflightCheck::EndpointReachable);
    assert!(
        step(&report, PreflightCheck::EndpointReachable)
            .detail
            .starts_with(&format!("directory `{}`: ", gone.display())),
        "{report:#?}"
    );
}

#[tokio::test]
async fn preflight_stops_at_configuration_for_an_invalid_target() {
    let dir = tempfile::tempdir().unwrap();
    let mut target = local_target(dir.path(), "");
    // A prefix that skipped normalisation (e.g. a hand-edited settings document).
    target.prefix = "/leading".to_owned();
    let report = probe(ResolvedCredentials::none())
        .preflight(&target, &PreflightOptions::default(), now())
        .await;
    assert_stops_at(&report, PreflightCheck::Configuration);
    target.prefix = String::new();
    target.credentials = Credentials::S3InheritIamRole;
    let report = probe(ResolvedCredentials::none())
        .preflight(&target, &PreflightOptions::default(), now())
        .await;
    assert_stops_at(&report, PreflightCheck::Configuration);
    assert_eq!(
        step(&report, PreflightCheck::Configuration).detail,
        "credentials `s3_inherit_iam_role` do not fit provider `local`; expected none"
    );
}
