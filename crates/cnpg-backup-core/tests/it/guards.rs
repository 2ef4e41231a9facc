//! Every guard refuses with a typed error and creates nothing.

use cnpg_backup_core::catalog::BarmanBackupId;
use cnpg_backup_core::names::{ClusterName, NameClash, Plane, RestoreId};
use cnpg_backup_core::ports::ClusterLifecycle;
use cnpg_backup_core::restore::{
    GuardError, PlaneSource, RestoreRequest, STAGE_ONE_ACK, StageOneAck,
};
use cnpg_backup_core::service::{CatalogScope, ServiceError};
use futures::executor::block_on;

use crate::harness::World;

/// Names of the completed backups of the first and second run, per plane.
fn names(w: &World) -> Vec<(Plane, String, Option<BarmanBackupId>)> {
    let mut c = block_on(
        w.backups
            .catalog(CatalogScope::Both, None, Default::default()),
    )
    .unwrap();
    c.reverse(); // oldest first
    c.into_iter()
        .map(|e| {
            (
                e.record.plane.unwrap(),
                e.record.name.to_string(),
                e.record.backup_id,
            )
        })
        .collect()
}

fn backup(w: &World, plane: Plane, run: usize) -> String {
    names(w)
        .into_iter()
        .filter(|(p, _, _)| *p == plane)
        .nth(run)
        .unwrap()
        .1
}

/// Runs stage one and checks that it was refused and nothing was created or recorded.
fn refused(w: &World, request: &RestoreRequest, running: &str) -> GuardError {
    refused_running(w, request, Some(running))
}

/// [`refused`] with the running app version possibly unknown.
fn refused_running(w: &World, request: &RestoreRequest, running: Option<&str>) -> GuardError {
    let running: Option<cnpg_backup_core::drift::AppVersion> = running.map(|r| r.parse().unwrap());
    let creates_before = w.sim.calls("create");
    let clusters_before = w.sim.cluster_names();
    let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
    let id: RestoreId = "guarded".parse().unwrap();
    let err = block_on(
        w.restores()
            .create(&id, request, running.as_ref(), &one, None),
    )
    .unwrap_err();
    assert_eq!(
        w.sim.calls("create"),
        creates_before,
        "a cluster create was attempted"
    );
    assert_eq!(w.sim.cluster_names(), clusters_before);
    assert!(
        block_on(w.restores().list()).unwrap().is_empty(),
        "a record was written"
    );
    match err {
        ServiceError::Guard(g) => g,
        other => panic!("expected a guard refusal, got {other:?}"),
    }
}

fn full(w: &World, admin_run: usize, tenant_run: usize) -> RestoreRequest {
    RestoreRequest::full_from_backups(
        "restore-a".parse().unwrap(),
        backup(w, Plane::Admin, admin_run).parse().unwrap(),
        backup(w, Plane::Tenant, tenant_run).parse().unwrap(),
    )
}

fn pit(w: &World, minutes_ago: i64, pinned: Option<String>) -> RestoreRequest {
    RestoreRequest::single(
        Plane::Tenant,
        "tmp-tenant".parse().unwrap(),
        PlaneSource::PointInTime {
            target_time: w.sim.now() - chrono::Duration::minutes(minutes_ago),
            pinned_backup: pinned.map(|p| p.parse().unwrap()),
        },
    )
}

#[test]
fn recovery_name_equal_to_a_live_name() {
    let w = World::with_backups(1);
    let r = RestoreRequest::single(
        Plane::Admin,
        "cnpg-tenant".parse().unwrap(),
        PlaneSource::Backup {
            backup: backup(&w, Plane::Admin, 0).parse().unwrap(),
        },
    );
    assert!(matches!(
        refused(&w, &r, "1.4.2"),
        GuardError::NameClash(NameClash::Live { .. })
    ));
}

#[test]
fn recovery_name_already_taken() {
    let w = World::with_backups(1);
    // Someone else's cluster holds the name.
    let base = block_on(w.sim.manifest(&"cnpg-admin".parse().unwrap())).unwrap();
    let other: ClusterName = "restore-a-admin".parse().unwrap();
    let foreign = cnpg_backup_core::restore::RecoveryClusterSpec::new(
        other.clone(),
        Plane::Admin,
        "someone-else".parse().unwrap(),
        "cnpg-admin".parse().unwrap(),
        "cnpg-admin".parse().unwrap(),
        cnpg_backup_core::restore::RecoveryTarget::PointInTime {
            target_time: w.sim.now(),
            backup_id: None,
        },
        "x-r-1".parse().unwrap(),
        None,
        Default::default(),
        false,
    );
    block_on(w.sim.create(&base, &foreign)).unwrap();
    let err = refused(&w, &full(&w, 0, 0), "1.4.2");
    assert_eq!(err, GuardError::NameInUse { name: other });
}

#[test]
fn sources_not_matching_the_mode() {
    let w = World::with_backups(1);
    let mut r = full(&w, 0, 0);
    r.sources.tenant = None;
    assert!(matches!(
        refused(&w, &r, "1.4.2"),
        GuardError::Sources {
            plane: Plane::Tenant,
            ..
        }
    ));
}

#[test]
fn source_for_a_plane_the_mode_does_not_restore() {
    let w = World::with_backups(1);
    let mut r = RestoreRequest::single(
        Plane::Admin,
        "tmp-admin".parse().unwrap(),
        PlaneSource::Backup {
            backup: backup(&w, Plane::Admin, 0).parse().unwrap(),
        },
    );
    r.sources.tenant = Some(PlaneSource::Backup {
        backup: backup(&w, Plane::Tenant, 0).parse().unwrap(),
    });
    assert!(matches!(
        refused(&w, &r, "1.4.2"),
        GuardError::Sources {
            plane: Plane::Tenant,
            ..
        }
    ));
}

#[test]
fn instances_out_of_range() {
    let w = World::with_backups(1);
    let mut r = full(&w, 0, 0);
    r.instances = Some(0);
    assert!(matches!(
        refused(&w, &r, "1.4.2"),
        GuardError::Instances { value: 0, .. }
    ));
}

#[test]
fn backup_not_in_the_catalog() {
    let w = World::with_backups(1);
    let r = RestoreRequest::full_from_backups(
        "restore-a".parse().unwrap(),
        "no-such-backup".parse().unwrap(),
        backup(&w, Plane::Tenant, 0).parse().unwrap(),
    );
    assert!(matches!(
        refused(&w, &r, "1.4.2"),
        GuardError::BackupNotFound {
            plane: Plane::Admin,
            ..
        }
    ));
}

#[test]
fn backup_not_completed() {
    let w = World::with_backups(1);
    block_on(w.backups.backup_now(None)).unwrap();
    block_on(w.sim.tick()).unwrap(); // running, not completed
    let c = block_on(
        w.backups
            .catalog(CatalogScope::Both, None, Default::default()),
    )
    .unwrap();
    let running: Vec<_> = c
        .iter()
        .filter(|e| e.record.phase != cnpg_backup_core::catalog::BackupPhase::Completed)
        .map(|e| e.record.name.clone())
        .collect();
    assert_eq!(running.len(), 2);
    let r = RestoreRequest::full_from_backups(
        "restore-a".parse().unwrap(),
        running[0].clone(),
        running[1].clone(),
    );
    assert!(matches!(
        refused(&w, &r, "1.4.2"),
        GuardError::BackupNotReady { .. }
    ));
}

#[test]
fn backup_missing_in_storage() {
    let w = World::with_backups(1);
    let (_, name, id) = names(&w)
        .into_iter()
        .find(|(p, _, _)| *p == Plane::Admin)
        .unwrap();
    let key = cnpg_backup_core::barman::backup_info_key(
        "cp",
        &"cnpg-admin".parse().unwrap(),
        &id.unwrap(),
    );
    block_on(w.sim.bucket().delete(&key)).unwrap();
    let r = RestoreRequest::full_from_backups(
        "restore-a".parse().unwrap(),
        name.parse().unwrap(),
        backup(&w, Plane::Tenant, 0).parse().unwrap(),
    );
    assert!(matches!(
        refused(&w, &r, "1.4.2"),
        GuardError::BackupNotReady { .. }
    ));
}

#[test]
fn backup_newer_than_the_running_app() {
    let w = World::with_backups(1);
    let mut r = full(&w, 0, 0);
    r.overrides.accept_unknown_version = true;
    r.version_policy = cnpg_backup_core::drift::VersionPolicy::AnyOlder;
    assert!(matches!(
        refused(&w, &r, "1.4.1"),
        GuardError::Drift {
            refusal: cnpg_backup_core::drift::DriftRefusal::BackupNewer { .. },
            ..
        }
    ));
}

#[test]
fn backup_too_far_from_the_running_app_for_the_policy() {
    let w = World::with_backups(1);
    assert!(matches!(
        refused(&w, &full(&w, 0, 0), "2.0.0"),
        GuardError::Drift {
            refusal: cnpg_backup_core::drift::DriftRefusal::TooFar { .. },
            ..
        }
    ));
}

#[test]
fn unknown_running_version_without_the_override() {
    let w = World::with_backups(1);
    assert!(matches!(
        refused_running(&w, &full(&w, 0, 0), None),
        GuardError::Drift {
            refusal: cnpg_backup_core::drift::DriftRefusal::Unknown,
            ..
        }
    ));
}

#[test]
fn backups_from_different_sets() {
    let w = World::with_backups(2);
    assert!(matches!(
        refused(&w, &full(&w, 0, 1), "1.4.2"),
        GuardError::SetMismatch { .. }
    ));
}

#[test]
fn point_in_time_in_the_future() {
    let w = World::with_backups(1);
    assert!(matches!(
        refused(&w, &pit(&w, -5, None), "1.4.2"),
        GuardError::TargetInFuture { .. }
    ));
}

#[test]
fn point_in_time_before_the_first_recoverability_point() {
    let w = World::with_backups(1);
    assert!(matches!(
        refused(&w, &pit(&w, 60, None), "1.4.2"),
        GuardError::TargetBeforeFirstPoint { .. }
    ));
}

#[test]
fn point_in_time_without_any_completed_backup() {
    let w = World::with_backups(0);
    assert!(matches!(
        refused(&w, &pit(&w, 5, None), "1.4.2"),
        GuardError::NoRecoverabilityPoint {
            plane: Plane::Tenant,
            ..
        }
    ));
}

#[test]
fn point_in_time_before_the_pinned_backup_end() {
    let w = World::with_backups(2);
    // Between the end of run one and the end of run two, pinned to run two.
    let pinned = backup(&w, Plane::Tenant, 1);
    assert!(matches!(
        refused(&w, &pit(&w, 11, Some(pinned)), "1.4.2"),
        GuardError::TargetBeforePinnedEnd { .. }
    ));
}

#[test]
fn accepted_set_mismatch_is_recorded() {
    let w = World::with_backups(2);
    let mut r = full(&w, 0, 1);
    r.overrides.accept_set_mismatch = true;
    let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
    let rec = block_on(w.restores().create(
        &"ok".parse().unwrap(),
        &r,
        Some(&"1.4.2".parse().unwrap()),
        &one,
        None,
    ))
    .unwrap();
    let kinds: Vec<_> = rec.audit().iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![
            cnpg_backup_core::restore::AuditKind::AcceptSetMismatch,
            cnpg_backup_core::restore::AuditKind::StageOneAck
        ]
    );
}

#[test]
fn intent_needs_the_exact_acknowledgement_and_passes_the_guards() {
    use cnpg_backup_core::restore::intent::{IntentAcknowledgements, RestoreIntent};
    let w = World::with_backups(2);
    let mut intent = RestoreIntent::new(full(&w, 0, 1)); // different sets
    intent.restore_id = Some("from-intent".parse().unwrap());
    let fallback: RestoreId = "fallback".parse().unwrap();
    let running = "1.4.2".parse().unwrap();
    let svc = w.restores();

    let err = block_on(svc.create_from_intent(&intent, &fallback, Some(&running))).unwrap_err();
    assert!(matches!(err, ServiceError::Ack(_)), "{err}");

    let mut ack = IntentAcknowledgements::default();
    ack.stage_one = Some(format!("{STAGE_ONE_ACK}\n"));
    intent.acknowledgements = Some(ack);
    let err = block_on(svc.create_from_intent(&intent, &fallback, Some(&running))).unwrap_err();
    assert!(
        matches!(err, ServiceError::Guard(GuardError::SetMismatch { .. })),
        "{err}"
    );
    assert_eq!(w.sim.calls("create"), 0);

    intent.spec = full(&w, 1, 1);
    let parsed = cnpg_backup_core::restore::parse_intent(intent.to_json().as_bytes()).unwrap();
    let rec = block_on(svc.create_from_intent(&parsed, &fallback, Some(&running))).unwrap();
    assert_eq!(rec.id().as_str(), "from-intent");
    assert_eq!(w.sim.calls("create"), 2);
}
