use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::barman::BackupInfo;
use crate::catalog::{BackupSetPairing, PairingWarning, pair_sets};

fn server() -> ServerName {
    "cnpg-admin".parse().unwrap()
}

fn id() -> BarmanBackupId {
    "20261126T043001".parse().unwrap()
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap()
}

fn completed(name: &str, cluster: &str, set: Option<&str>) -> BackupRecord {
    let mut r = BackupRecord::new(
        name.parse().unwrap(),
        cluster.parse().unwrap(),
        BackupMethod::Plugin,
    );
    r.phase = BackupPhase::Completed;
    r.backup_id = Some(id());
    r.app_version = Some("1.4.0".parse().unwrap());
    r.backup_set_id = set.map(|s| s.parse().unwrap());
    r
}

fn record() -> BackupProvenance {
    BackupProvenance::of_record(
        &completed(
            "cnpg-admin-cnpg-backup-20261126043000",
            "cnpg-admin",
            Some("s-20261126043000"),
        ),
        Some(Plane::Admin),
        server(),
        "0.9.0",
        at(4, 32),
    )
    .unwrap()
}

#[test]
fn a_record_round_trips_and_names_everything_the_cluster_knew() {
    let r = record();
    let json = r.to_json();
    assert!(json.len() < 1024, "{} bytes", json.len());
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["schemaVersion"], 1);
    assert_eq!(v["writtenBy"], "cnpg-backup/0.9.0");
    assert_eq!(v["writtenAt"], "2026-11-26T04:32:00Z");
    assert_eq!(v["appVersion"], "1.4.0");
    assert_eq!(v["backupSetId"], "s-20261126043000");
    assert_eq!(v["plane"], "admin");
    assert_eq!(v["cluster"], "cnpg-admin");
    assert_eq!(v["backup"], "cnpg-admin-cnpg-backup-20261126043000");
    assert_eq!(v["method"], "plugin");
    assert_eq!(v["serverName"], "cnpg-admin");
    assert_eq!(v["backupId"], "20261126T043001");
    assert_eq!(BackupProvenance::parse(&json, &server(), &id()), Ok(r));
}

#[test]
fn the_key_is_beside_backup_info_and_never_a_barman_name() {
    assert_eq!(
        provenance_key("platform", &server(), &id()),
        "platform/cnpg-admin/base/20261126T043001/cnpg-backup.json"
    );
    assert_eq!(
        record().key(""),
        "cnpg-admin/base/20261126T043001/cnpg-backup.json"
    );
    assert_ne!(PROVENANCE_FILE, "backup.info");
    assert!(!PROVENANCE_FILE.starts_with("data"));
}

#[test]
fn only_a_completed_backup_with_an_id_is_recorded() {
    let mut r = completed("b1", "cnpg-admin", None);
    r.phase = BackupPhase::Running;
    let e = BackupProvenance::of_record(&r, None, server(), "0.9.0", at(1, 0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "backup `b1` cannot be recorded: it has not completed"
    );
    r.phase = BackupPhase::Completed;
    r.backup_id = None;
    assert!(matches!(
        BackupProvenance::of_record(&r, None, server(), "0.9.0", at(1, 0)),
        Err(ProvenanceError::NotRecordable { .. })
    ));
    // Without a set id or version the record still says what it knows.
    let mut r = completed("b1", "cnpg-admin", None);
    r.app_version = None;
    let p = BackupProvenance::of_record(&r, None, server(), "0.9.0", at(1, 0)).unwrap();
    assert_eq!(
        (p.app_version, p.backup_set_id, p.plane),
        (None, None, None)
    );
}

#[test]
fn unreadable_records_are_refused_with_a_reason() {
    let ok = record().to_json();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "unreadable"),
        (vec![0xff, 0xfe], "unreadable"),
        (b"{}".to_vec(), "unreadable"),
        (
            String::from_utf8(ok.clone())
                .unwrap()
                .replace("\"schemaVersion\": 1", "\"schemaVersion\": 2")
                .into_bytes(),
            "schema version 2",
        ),
        (
            String::from_utf8(ok.clone())
                .unwrap()
                .replace(
                    "\"appVersion\": \"1.4.0\"",
                    "\"appVersion\": \"not a version\"",
                )
                .into_bytes(),
            "unreadable",
        ),
        (
            String::from_utf8(ok.clone())
                .unwrap()
                .replace("20261126T043001", "20261126T050000")
                .into_bytes(),
            "backupId `20261126T050000`",
        ),
        (vec![b' '; PROVENANCE_MAX_BYTES + 1], "the limit is 16384"),
    ];
    for (bytes, want) in cases {
        let e = BackupProvenance::parse(&bytes, &server(), &id()).unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
        let p = Provenance::from_bytes(&bytes, &server(), &id());
        assert_eq!(p.record(), None);
        assert!(p.warning().is_some_and(|w| w.contains(want)), "{p:?}");
    }
    // Another server's folder.
    let other: ServerName = "cnpg-tenant".parse().unwrap();
    assert!(matches!(
        BackupProvenance::parse(&ok, &other, &id()),
        Err(ProvenanceError::OtherBackup {
            field: "serverName",
            ..
        })
    ));
    // A field added later (same schema) is ignored.
    let extra =
        String::from_utf8(ok)
            .unwrap()
            .replacen('{', "{\n  \"namespace\": \"platform\",", 1);
    assert!(BackupProvenance::parse(extra.as_bytes(), &server(), &id()).is_ok());
}

fn bucket_backup(
    server: &str,
    id: &str,
    begin: DateTime<Utc>,
    provenance: Provenance,
) -> BucketBackup {
    let mut info = BackupInfo::new(BarmanStatus::Done);
    info.backup_name = Some(format!("backup-{}", id.replace('T', "")));
    info.begin_time = Some(begin);
    info.end_time = Some(begin + chrono::TimeDelta::minutes(1));
    info.timeline = Some(1);
    BucketBackup::new(server.parse().unwrap(), id.parse().unwrap(), Ok(info))
        .with_provenance(provenance)
}

fn recorded(server: &str, id: &str, plane: Plane, backup: &str, set: &str) -> Provenance {
    let mut r = completed(backup, server, Some(set));
    r.backup_id = Some(id.parse().unwrap());
    let record =
        BackupProvenance::of_record(&r, Some(plane), server.parse().unwrap(), "0.9.0", at(5, 0))
            .unwrap();
    Provenance::Recorded {
        record: Box::new(record),
    }
}

#[test]
fn a_bucket_record_takes_the_columns_from_the_provenance_record() {
    let b = bucket_backup(
        "cnpg-admin",
        "20261126T043001",
        at(4, 30),
        recorded(
            "cnpg-admin",
            "20261126T043001",
            Plane::Admin,
            "cnpg-admin-cnpg-backup-20261126043000",
            "s-20261126043000",
        ),
    );
    let r = bucket_record(&b, None).unwrap();
    assert_eq!(r.name.as_str(), "cnpg-admin-cnpg-backup-20261126043000");
    assert_eq!(r.cluster.as_str(), "cnpg-admin");
    assert_eq!(r.plane, Some(Plane::Admin));
    assert_eq!(r.app_version.unwrap().to_string(), "1.4.0");
    assert_eq!(r.backup_set_id.unwrap().as_str(), "s-20261126043000");
    assert_eq!(r.method, BackupMethod::Plugin);
    assert_eq!(r.phase, BackupPhase::Completed);
    assert_eq!(r.storage, StoragePresence::Present);

    // Without a record (or with an unreadable one): Barman's name, the server as cluster,
    // no version, no set id; the plane only from the reader's settings.
    for p in [
        Provenance::Absent,
        Provenance::Unreadable {
            reason: "denied".to_owned(),
        },
    ] {
        let b = bucket_backup("cnpg-admin", "20261126T043001", at(4, 30), p);
        let r = bucket_record(&b, Some(Plane::Admin)).unwrap();
        assert_eq!(r.name.as_str(), "backup-20261126043001");
        assert_eq!(r.cluster.as_str(), "cnpg-admin");
        assert_eq!((r.app_version, r.backup_set_id), (None, None));
        assert_eq!(r.plane, Some(Plane::Admin));
        assert_eq!(r.backup_id.unwrap().as_str(), "20261126T043001");
    }
}

#[test]
fn bucket_sets_pair_by_the_recorded_set_id_without_a_cluster() {
    // Admin and tenant backups of the same slot started 40 minutes apart (a slow admin
    // backup): start times alone would not pair them, the recorded set id does.
    let backups = vec![
        bucket_backup(
            "cnpg-admin",
            "20261126T043001",
            at(4, 30),
            recorded(
                "cnpg-admin",
                "20261126T043001",
                Plane::Admin,
                "cnpg-admin-cnpg-backup-20261126043000",
                "s-20261126043000",
            ),
        ),
        bucket_backup(
            "cnpg-tenant",
            "20261126T051002",
            at(5, 10),
            recorded(
                "cnpg-tenant",
                "20261126T051002",
                Plane::Tenant,
                "cnpg-tenant-cnpg-backup-20261126043000",
                "s-20261126043000",
            ),
        ),
        // An older pair without records: paired by start time, with warnings.
        bucket_backup(
            "cnpg-admin",
            "20261125T043001",
            at(4, 30) - chrono::TimeDelta::days(1),
            Provenance::Absent,
        ),
        bucket_backup(
            "cnpg-tenant",
            "20261125T043102",
            at(4, 31) - chrono::TimeDelta::days(1),
            Provenance::Absent,
        ),
        // A server of no plane is left out.
        bucket_backup("other", "20261126T043001", at(4, 30), Provenance::Absent),
    ];
    // The reader knows no plane for the servers: the records' planes are used; the older
    // backups have none and are left out.
    let (admin, tenant) = bucket_records_by_plane(&backups, |_| None);
    assert_eq!((admin.len(), tenant.len()), (1, 1));
    let sets = pair_sets(&admin, &tenant, crate::catalog::DEFAULT_MAX_START_GAP);
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].set_id.unwrap().as_str(), "s-20261126043000");
    assert_eq!(
        sets[0].warnings,
        [PairingWarning::StartsFarApart {
            gap_seconds: 2400,
            max_seconds: 600
        }]
    );

    // With settings naming the servers, the older pair pairs by start time.
    let plane_of = |s: &ServerName| match s.as_str() {
        "cnpg-admin" => Some(Plane::Admin),
        "cnpg-tenant" => Some(Plane::Tenant),
        _ => None,
    };
    let (admin, tenant) = bucket_records_by_plane(&backups, plane_of);
    assert_eq!((admin.len(), tenant.len()), (2, 2));
    let sets: Vec<BackupSetPairing<'_>> =
        pair_sets(&admin, &tenant, crate::catalog::DEFAULT_MAX_START_GAP);
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0].set_id.unwrap().as_str(), "s-20261126043000");
    let old = &sets[1];
    assert!(old.admin.is_some() && old.tenant.is_some());
    assert_eq!(old.set_id, None);
    assert_eq!(
        old.warnings,
        [
            PairingWarning::NoSetId {
                plane: Plane::Admin
            },
            PairingWarning::NoSetId {
                plane: Plane::Tenant
            }
        ]
    );
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Provenance::from_bytes(&bytes, &server(), &id());
    }

    #[test]
    fn every_field_survives_the_round_trip(
        set in proptest::option::of("s-2026[0-9]{10}"),
        version in proptest::option::of((0u64..50, 0u64..50, 0u64..50)),
        plane in proptest::option::of(prop_oneof![Just(Plane::Admin), Just(Plane::Tenant)]),
        method in prop_oneof![Just(BackupMethod::Plugin), Just(BackupMethod::BarmanObjectStore)],
        secs in 0i64..4_000_000_000,
    ) {
        let mut r = completed("cnpg-admin-x", "cnpg-admin", None);
        r.backup_set_id = set.map(|s| s.parse().unwrap());
        r.app_version = version.map(|(a, b, c)| format!("{a}.{b}.{c}").parse().unwrap());
        r.method = method;
        let now = DateTime::from_timestamp(secs, 0).unwrap();
        let p = BackupProvenance::of_record(&r, plane, server(), "0.9.0", now).unwrap();
        let back = BackupProvenance::parse(&p.to_json(), &server(), &id());
        prop_assert_eq!(back, Ok(p));
    }
}
