//! Guards: every check a restore request must pass before anything is created.
//!
//! [`validate`] is pure: it takes the request, the live names, the catalog (with storage presence
//! filled) and the running app version, and returns a [`ValidatedRestore`] holding the exact
//! recovery specs, or a [`GuardError`] that says what to change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ack::{AuditEntry, AuditKind};
use super::request::{MAX_INSTANCES, PlaneSource, RestoreRequest};
use super::{RecoveryClusterSpec, RecoveryTarget};
use crate::automation::BackupMethod;
use crate::catalog::{
    BackupPhase, BackupRecord, BackupSetId, NotReadyReason, StoragePresence, not_ready_reasons,
};
use crate::drift::{AppVersion, Drift, DriftRefusal};
use crate::names::{
    ClusterName, NameClash, NameError, ObjectName, Plane, PlaneClusters, RestoreId, check_distinct,
    fresh_server_name,
};

/// Why a restore request is refused. Nothing has been created when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// A recovery name is invalid or, derived in full mode, too long.
    #[error("{0}")]
    Name(NameError),
    /// A recovery name is a live cluster's or is used twice: refused for safety.
    #[error("{0}")]
    NameClash(NameClash),
    /// A cluster with the recovery name exists already.
    #[error(
        "recovery cluster name `{name}` is already used by an existing cluster; pick another name"
    )]
    NameInUse {
        /// The name.
        name: ClusterName,
    },
    /// A plane restored by the mode has no source, or a source is set for a plane the mode does
    /// not restore.
    #[error("the {plane} plane {problem}")]
    Sources {
        /// The plane.
        plane: Plane,
        /// What is wrong and what is expected.
        problem: &'static str,
    },
    /// The instances option is out of range.
    #[error("instances `{value}`: expected 1 to {max}")]
    Instances {
        /// The value.
        value: u32,
        /// The largest allowed.
        max: u32,
    },
    /// The named backup is not in the catalog of the plane's live cluster.
    #[error(
        "backup `{backup}` is not a backup of the {plane} cluster `{cluster}`; pick one from the catalog"
    )]
    BackupNotFound {
        /// The plane.
        plane: Plane,
        /// The backup name.
        backup: ObjectName,
        /// The live cluster.
        cluster: ClusterName,
    },
    /// The chosen backup cannot be restored (not completed, missing in storage, no backup id).
    #[error(
        "backup `{backup}` cannot be restored: {}; pick a completed backup whose files are in the bucket",
        describe_reasons(.reasons)
    )]
    BackupNotReady {
        /// The backup name.
        backup: ObjectName,
        /// Why.
        reasons: Vec<NotReadyReason>,
    },
    /// Version drift refuses the backup.
    #[error("backup `{backup}`: {refusal}")]
    Drift {
        /// The backup name.
        backup: ObjectName,
        /// Why.
        refusal: DriftRefusal,
    },
    /// Full mode: the two backups are not from one backup set.
    #[error(
        "the admin backup is from set `{admin}` and the tenant backup from set `{tenant}`; pick backups of one set or accept the mismatch explicitly"
    )]
    SetMismatch {
        /// The admin backup's set (`unknown` when none).
        admin: String,
        /// The tenant backup's set (`unknown` when none).
        tenant: String,
    },
    /// The point-in-time target is in the future.
    #[error("target time `{target}` is in the future (now `{now}`); pick a time in the past")]
    TargetInFuture {
        /// The target.
        target: DateTime<Utc>,
        /// Now.
        now: DateTime<Utc>,
    },
    /// The plane has no completed backup to recover from.
    #[error("the {plane} cluster `{cluster}` has no completed backup; take a backup first")]
    NoRecoverabilityPoint {
        /// The plane.
        plane: Plane,
        /// The live cluster.
        cluster: ClusterName,
    },
    /// The target is before the first recoverability point.
    #[error(
        "target time `{target}` is before the first recoverability point `{first}` of the {plane} plane (the end of its oldest completed backup); pick a later time"
    )]
    TargetBeforeFirstPoint {
        /// The plane.
        plane: Plane,
        /// The target.
        target: DateTime<Utc>,
        /// The first recoverability point.
        first: DateTime<Utc>,
    },
    /// The target is before the end of the pinned backup.
    #[error(
        "target time `{target}` is before `{end}`, the end of the pinned backup `{backup}`; pick a later time or an older backup"
    )]
    TargetBeforePinnedEnd {
        /// The pinned backup.
        backup: ObjectName,
        /// The target.
        target: DateTime<Utc>,
        /// The backup's end.
        end: DateTime<Utc>,
    },
}

fn describe_reasons(reasons: &[NotReadyReason]) -> String {
    let text: Vec<&str> = reasons
        .iter()
        .map(|r| match r {
            NotReadyReason::NotCompleted => "it has not completed",
            NotReadyReason::MissingInStorage => "its backup.info is not in the bucket",
            NotReadyReason::StorageUnknown => "the bucket could not be checked for it",
            NotReadyReason::NoBackupId => "it has no Barman backup id",
            NotReadyReason::VersionBlocked => "the version policy refuses it",
        })
        .collect();
    text.join(", ")
}

/// What the guards need to know about the world.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct GuardContext<'a> {
    /// The live cluster of each plane.
    pub live: &'a PlaneClusters,
    /// The names of every cluster that exists now (live, recovery, others).
    pub existing: &'a [ClusterName],
    /// The catalog of the restored planes, storage presence filled.
    pub catalog: &'a [BackupRecord],
    /// The running app version, when known.
    pub running_version: Option<&'a AppVersion>,
    /// How backups are taken (the recovery clusters read the archive the same way).
    pub method: BackupMethod,
    /// Now.
    pub now: DateTime<Utc>,
}

impl<'a> GuardContext<'a> {
    /// A context.
    pub fn new(
        live: &'a PlaneClusters,
        existing: &'a [ClusterName],
        catalog: &'a [BackupRecord],
        running_version: Option<&'a AppVersion>,
        method: BackupMethod,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            live,
            existing,
            catalog,
            running_version,
            method,
            now,
        }
    }
}

/// One plane of a validated restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ValidatedPlane {
    /// The plane.
    pub plane: Plane,
    /// Its live cluster.
    pub live: ClusterName,
    /// The temporary recovery cluster (stage one).
    pub recovery: RecoveryClusterSpec,
    /// The recreated live cluster (stage two): same source and target, live name, fresh archive.
    pub replacement: RecoveryClusterSpec,
    /// The backup restored from (named, pinned, or the latest before the target).
    pub base_backup: ObjectName,
    /// Version drift of that backup.
    pub drift: Drift,
}

/// A request that passed every guard, with the exact specs to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatedRestore {
    id: RestoreId,
    request: RestoreRequest,
    planes: Vec<ValidatedPlane>,
    overrides: Vec<AuditEntry>,
}

impl ValidatedRestore {
    /// The restore id.
    pub fn id(&self) -> &RestoreId {
        &self.id
    }
    /// The request.
    pub fn request(&self) -> &RestoreRequest {
        &self.request
    }
    /// The planes, admin first.
    pub fn planes(&self) -> &[ValidatedPlane] {
        &self.planes
    }
    /// Overrides used (to be recorded in the audit trail).
    pub fn overrides(&self) -> &[AuditEntry] {
        &self.overrides
    }
}

fn oldest_completed_end(records: &[&BackupRecord]) -> Option<DateTime<Utc>> {
    records
        .iter()
        .filter(|r| r.phase == BackupPhase::Completed)
        .filter_map(|r| r.ended_at)
        .min()
}

fn check_ready(record: &BackupRecord) -> Result<(), GuardError> {
    let reasons = not_ready_reasons(record, false);
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(GuardError::BackupNotReady {
            backup: record.name.clone(),
            reasons,
        })
    }
}

/// Checks a request against the world and derives the recovery and replacement specs.
///
/// # Errors
/// The first [`GuardError`] found, in this order: names, sources, instances, backups (found,
/// completed, present), point-in-time bounds, version drift, backup sets.
pub fn validate(
    id: &RestoreId,
    request: &RestoreRequest,
    ctx: &GuardContext<'_>,
) -> Result<ValidatedRestore, GuardError> {
    let names = request.mode.recovery_names().map_err(GuardError::Name)?;
    let recovery: Vec<&ClusterName> = names.iter().map(|(_, n)| n).collect();
    let live_names = [&ctx.live.admin, &ctx.live.tenant];
    check_distinct(&recovery, &live_names).map_err(GuardError::NameClash)?;
    if let Some(name) = recovery.iter().find(|n| ctx.existing.contains(n)) {
        return Err(GuardError::NameInUse {
            name: (*name).clone(),
        });
    }
    let planes = request.mode.planes();
    for plane in Plane::ALL {
        match (planes.contains(&plane), request.sources.get(plane)) {
            (true, None) => {
                return Err(GuardError::Sources {
                    plane,
                    problem: "has no source; give a backup name or a point in time",
                });
            }
            (false, Some(_)) => {
                return Err(GuardError::Sources {
                    plane,
                    problem: "has a source but the mode does not restore it; remove it or use full mode",
                });
            }
            _ => {}
        }
    }
    if let Some(n) = request.instances
        && !(1..=MAX_INSTANCES).contains(&n)
    {
        return Err(GuardError::Instances {
            value: n,
            max: MAX_INSTANCES,
        });
    }

    let mut overrides = Vec::new();
    let mut out = Vec::new();
    let mut sets: Vec<Option<BackupSetId>> = Vec::new();
    for (plane, recovery_name) in names {
        let live = ctx.live.get(plane).clone();
        let of_plane: Vec<&BackupRecord> =
            ctx.catalog.iter().filter(|r| r.cluster == live).collect();
        let find = |name: &ObjectName| {
            of_plane
                .iter()
                .find(|r| &r.name == name)
                .copied()
                .ok_or_else(|| GuardError::BackupNotFound {
                    plane,
                    backup: name.clone(),
                    cluster: live.clone(),
                })
        };
        let Some(source) = request.sources.get(plane) else {
            continue;
        };
        let (base, target) = match source {
            PlaneSource::Backup { backup } => {
                let record = find(backup)?;
                check_ready(record)?;
                let Some(backup_id) = record.backup_id.clone() else {
                    return Err(GuardError::BackupNotReady {
                        backup: record.name.clone(),
                        reasons: vec![NotReadyReason::NoBackupId],
                    });
                };
                (
                    record,
                    RecoveryTarget::Backup {
                        backup: backup.clone(),
                        backup_id,
                    },
                )
            }
            PlaneSource::PointInTime {
                target_time,
                pinned_backup,
            } => {
                let pinned = pinned_backup.as_ref().map(find).transpose()?;
                if let Some(record) = pinned {
                    check_ready(record)?;
                }
                if *target_time > ctx.now {
                    return Err(GuardError::TargetInFuture {
                        target: *target_time,
                        now: ctx.now,
                    });
                }
                let Some(first) = oldest_completed_end(&of_plane) else {
                    return Err(GuardError::NoRecoverabilityPoint {
                        plane,
                        cluster: live.clone(),
                    });
                };
                if *target_time < first {
                    return Err(GuardError::TargetBeforeFirstPoint {
                        plane,
                        target: *target_time,
                        first,
                    });
                }
                if let Some(record) = pinned
                    && let Some(end) = record.ended_at
                    && *target_time < end
                {
                    return Err(GuardError::TargetBeforePinnedEnd {
                        backup: record.name.clone(),
                        target: *target_time,
                        end,
                    });
                }
                // The backup CNPG would start from: the pinned one, else the latest completed
                // backup that ended before the target.
                let base = match pinned {
                    Some(r) => r,
                    None => of_plane
                        .iter()
                        .filter(|r| r.phase == BackupPhase::Completed)
                        .filter(|r| r.ended_at.is_some_and(|e| e <= *target_time))
                        .max_by_key(|r| r.ended_at)
                        .copied()
                        .ok_or_else(|| GuardError::NoRecoverabilityPoint {
                            plane,
                            cluster: live.clone(),
                        })?,
                };
                if base.storage != StoragePresence::Present {
                    check_ready(base)?;
                }
                (
                    base,
                    RecoveryTarget::PointInTime {
                        target_time: *target_time,
                        backup_id: pinned.and_then(|r| r.backup_id.clone()),
                    },
                )
            }
        };
        let drift = request
            .version_policy
            .check(
                ctx.running_version,
                base.app_version.as_ref(),
                request.overrides.accept_unknown_version,
            )
            .map_err(|refusal| GuardError::Drift {
                backup: base.name.clone(),
                refusal,
            })?;
        if drift == Drift::Unknown {
            overrides.push(AuditEntry::new(
                AuditKind::AcceptUnknownVersion,
                format!(
                    "{plane} plane: restoring a backup whose app version (or the running app's) is unknown"
                ),
                None,
                ctx.now,
            ));
        }
        sets.push(base.backup_set_id.clone());
        let source_server = base
            .server_name
            .clone()
            .unwrap_or_else(|| live.default_server_name());
        let recovery = RecoveryClusterSpec::new(
            recovery_name.clone(),
            plane,
            id.clone(),
            live.clone(),
            source_server.clone(),
            target.clone(),
            fresh_server_name(&recovery_name, id).map_err(GuardError::Name)?,
            request.instances,
            base.method,
            false,
        );
        let replacement = RecoveryClusterSpec::new(
            live.clone(),
            plane,
            id.clone(),
            live.clone(),
            source_server,
            target,
            fresh_server_name(&live, id).map_err(GuardError::Name)?,
            None,
            recovery.method,
            true,
        );
        out.push(ValidatedPlane {
            plane,
            live,
            recovery,
            replacement,
            base_backup: base.name.clone(),
            drift,
        });
    }
    if let [admin, tenant] = sets.as_slice()
        && (admin.is_none() || admin != tenant)
    {
        let show = |s: &Option<BackupSetId>| {
            s.as_ref()
                .map_or_else(|| "unknown".to_owned(), |s| s.to_string())
        };
        if request.overrides.accept_set_mismatch {
            overrides.push(AuditEntry::new(
                AuditKind::AcceptSetMismatch,
                format!(
                    "accepted admin backup set `{}` with tenant backup set `{}`",
                    show(admin),
                    show(tenant)
                ),
                None,
                ctx.now,
            ));
        } else {
            return Err(GuardError::SetMismatch {
                admin: show(admin),
                tenant: show(tenant),
            });
        }
    }
    Ok(ValidatedRestore {
        id: id.clone(),
        request: request.clone(),
        planes: out,
        overrides,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::restore::request::{Overrides, PlaneSources, RestoreMode};
    use chrono::TimeZone;

    pub(crate) fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, 0, 0).unwrap()
    }

    pub(crate) fn record(
        plane: Plane,
        name: &str,
        end_hour: u32,
        set: &str,
        version: &str,
    ) -> BackupRecord {
        let cluster = ClusterName::default_for(plane);
        let mut r = BackupRecord::new(name.parse().unwrap(), cluster.clone(), BackupMethod::Plugin);
        r.plane = Some(plane);
        r.phase = BackupPhase::Completed;
        r.started_at = Some(at(end_hour) - chrono::Duration::minutes(5));
        r.ended_at = Some(at(end_hour));
        r.backup_id = Some(format!("20261126T{end_hour:02}0000").parse().unwrap());
        r.server_name = Some(cluster.default_server_name());
        r.app_version = Some(version.parse().unwrap());
        r.backup_set_id = Some(set.parse().unwrap());
        r.storage = StoragePresence::Present;
        r
    }

    pub(crate) fn catalog() -> Vec<BackupRecord> {
        vec![
            record(Plane::Admin, "admin-1", 1, "s-1", "1.4.0"),
            record(Plane::Tenant, "tenant-1", 1, "s-1", "1.4.0"),
            record(Plane::Admin, "admin-2", 3, "s-2", "1.4.2"),
            record(Plane::Tenant, "tenant-2", 3, "s-2", "1.4.2"),
        ]
    }

    fn run(
        request: &RestoreRequest,
        catalog: &[BackupRecord],
        existing: &[ClusterName],
    ) -> Result<ValidatedRestore, GuardError> {
        let live = PlaneClusters::default();
        let running: AppVersion = "1.4.2".parse().unwrap();
        let ctx = GuardContext::new(
            &live,
            existing,
            catalog,
            Some(&running),
            BackupMethod::Plugin,
            at(5),
        );
        validate(&"r1".parse().unwrap(), request, &ctx)
    }

    fn full(admin: &str, tenant: &str) -> RestoreRequest {
        RestoreRequest::full_from_backups(
            "restore-a".parse().unwrap(),
            admin.parse().unwrap(),
            tenant.parse().unwrap(),
        )
    }

    fn pit(plane: Plane, hour: u32, pinned: Option<&str>) -> RestoreRequest {
        RestoreRequest::single(
            plane,
            "tmp-restore".parse().unwrap(),
            PlaneSource::PointInTime {
                target_time: at(hour),
                pinned_backup: pinned.map(|p| p.parse().unwrap()),
            },
        )
    }

    #[test]
    fn full_restore_derives_recovery_and_replacement_specs() {
        let v = run(&full("admin-2", "tenant-2"), &catalog(), &[]).unwrap();
        let admin = &v.planes()[0];
        assert_eq!(admin.recovery.name.as_str(), "restore-a-admin");
        assert_eq!(
            admin.recovery.archive_server.as_str(),
            "restore-a-admin-r-r1"
        );
        assert!(!admin.recovery.replaces_live);
        assert_eq!(admin.replacement.name.as_str(), "cnpg-admin");
        assert_eq!(admin.replacement.target, admin.recovery.target);
        assert_eq!(
            admin.replacement.source_server,
            admin.recovery.source_server
        );
        assert_eq!(admin.replacement.archive_server.as_str(), "cnpg-admin-r-r1");
        assert_ne!(
            admin.replacement.archive_server,
            admin.recovery.source_server
        );
        assert!(admin.replacement.replaces_live);
        assert!(v.overrides().is_empty());
    }

    #[test]
    fn recovery_name_equal_to_live_is_refused() {
        let r = RestoreRequest::single(
            Plane::Admin,
            "cnpg-tenant".parse().unwrap(),
            PlaneSource::Backup {
                backup: "admin-2".parse().unwrap(),
            },
        );
        assert_eq!(
            run(&r, &catalog(), &[]).unwrap_err(),
            GuardError::NameClash(NameClash::Live {
                name: "cnpg-tenant".parse().unwrap()
            })
        );
    }

    #[test]
    fn derived_name_too_long_is_refused() {
        let base = "a".repeat(45);
        let mut r = full("admin-2", "tenant-2");
        r.mode = RestoreMode::Full {
            base_name: base.parse().unwrap(),
        };
        let err = run(&r, &catalog(), &[]).unwrap_err();
        assert!(matches!(err, GuardError::Name(_)), "{err}");
    }

    #[test]
    fn existing_cluster_name_is_refused() {
        let err = run(
            &full("admin-2", "tenant-2"),
            &catalog(),
            &["restore-a-tenant".parse().unwrap()],
        )
        .unwrap_err();
        assert!(matches!(err, GuardError::NameInUse { .. }), "{err}");
    }

    #[test]
    fn sources_must_match_the_mode() {
        let mut r = full("admin-2", "tenant-2");
        r.sources.tenant = None;
        assert!(matches!(
            run(&r, &catalog(), &[]),
            Err(GuardError::Sources {
                plane: Plane::Tenant,
                ..
            })
        ));
        let mut r = pit(Plane::Admin, 4, None);
        r.sources.tenant = Some(PlaneSource::Backup {
            backup: "tenant-2".parse().unwrap(),
        });
        assert!(matches!(
            run(&r, &catalog(), &[]),
            Err(GuardError::Sources {
                plane: Plane::Tenant,
                ..
            })
        ));
        r.sources = PlaneSources::default();
        assert!(matches!(
            run(&r, &catalog(), &[]),
            Err(GuardError::Sources {
                plane: Plane::Admin,
                ..
            })
        ));
    }

    #[test]
    fn instances_out_of_range_are_refused() {
        let mut r = full("admin-2", "tenant-2");
        r.instances = Some(0);
        assert!(matches!(
            run(&r, &catalog(), &[]),
            Err(GuardError::Instances { value: 0, .. })
        ));
    }

    #[test]
    fn backup_of_another_plane_is_not_found() {
        let err = run(&full("tenant-2", "tenant-2"), &catalog(), &[]).unwrap_err();
        assert!(
            matches!(
                err,
                GuardError::BackupNotFound {
                    plane: Plane::Admin,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn unfinished_or_missing_backups_are_refused() {
        let mut c = catalog();
        c[2].phase = BackupPhase::Running;
        let err = run(&full("admin-2", "tenant-2"), &c, &[]).unwrap_err();
        assert!(
            matches!(&err, GuardError::BackupNotReady { reasons, .. } if reasons.contains(&NotReadyReason::NotCompleted)),
            "{err}"
        );
        let mut c = catalog();
        c[3].storage = StoragePresence::Missing;
        let err = run(&full("admin-2", "tenant-2"), &c, &[]).unwrap_err();
        assert!(
            matches!(&err, GuardError::BackupNotReady { reasons, .. } if reasons.contains(&NotReadyReason::MissingInStorage)),
            "{err}"
        );
    }

    #[test]
    fn not_ready_message_reads_as_a_sentence() {
        let mut c = catalog();
        c[2].phase = BackupPhase::Running;
        c[2].storage = StoragePresence::Missing;
        let err = run(&full("admin-2", "tenant-2"), &c, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "backup `admin-2` cannot be restored: it has not completed, its backup.info is not in the bucket; pick a completed backup whose files are in the bucket"
        );
    }

    #[test]
    fn newer_backup_is_always_refused() {
        let mut c = catalog();
        c[2].app_version = Some("1.5.0".parse().unwrap());
        let mut r = full("admin-2", "tenant-2");
        r.version_policy = crate::drift::VersionPolicy::AnyOlder;
        r.overrides = Overrides {
            accept_set_mismatch: true,
            accept_unknown_version: true,
        };
        let err = run(&r, &c, &[]).unwrap_err();
        assert!(
            matches!(
                &err,
                GuardError::Drift {
                    refusal: DriftRefusal::BackupNewer { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn drift_beyond_policy_is_refused_and_unknown_needs_an_override() {
        let mut r = full("admin-1", "tenant-1");
        r.version_policy = crate::drift::VersionPolicy::Exact;
        let err = run(&r, &catalog(), &[]).unwrap_err();
        assert!(
            matches!(
                &err,
                GuardError::Drift {
                    refusal: DriftRefusal::TooFar { .. },
                    ..
                }
            ),
            "{err}"
        );
        let mut c = catalog();
        c[2].app_version = None;
        let r = full("admin-2", "tenant-2");
        assert!(matches!(
            run(&r, &c, &[]),
            Err(GuardError::Drift {
                refusal: DriftRefusal::Unknown,
                ..
            })
        ));
        let mut r = r;
        r.overrides.accept_unknown_version = true;
        let v = run(&r, &c, &[]).unwrap();
        assert_eq!(v.overrides().len(), 1);
        assert_eq!(v.overrides()[0].kind, AuditKind::AcceptUnknownVersion);
    }

    #[test]
    fn set_mismatch_is_refused_unless_accepted_and_recorded() {
        let err = run(&full("admin-2", "tenant-1"), &catalog(), &[]).unwrap_err();
        assert_eq!(
            err,
            GuardError::SetMismatch {
                admin: "s-2".into(),
                tenant: "s-1".into()
            }
        );
        let mut r = full("admin-2", "tenant-1");
        r.overrides.accept_set_mismatch = true;
        let v = run(&r, &catalog(), &[]).unwrap();
        assert_eq!(v.overrides()[0].kind, AuditKind::AcceptSetMismatch);
        assert!(v.overrides()[0].text.contains("s-2"));
    }

    #[test]
    fn point_in_time_bounds() {
        assert!(matches!(
            run(&pit(Plane::Admin, 6, None), &catalog(), &[]),
            Err(GuardError::TargetInFuture { .. })
        ));
        let early = RestoreRequest::single(
            Plane::Admin,
            "tmp-restore".parse().unwrap(),
            PlaneSource::PointInTime {
                target_time: at(0),
                pinned_backup: None,
            },
        );
        let err = run(&early, &catalog(), &[]).unwrap_err();
        assert!(
            matches!(err, GuardError::TargetBeforeFirstPoint { first, .. } if first == at(1)),
            "{err}"
        );
        let err = run(&pit(Plane::Admin, 2, Some("admin-2")), &catalog(), &[]).unwrap_err();
        assert!(
            matches!(err, GuardError::TargetBeforePinnedEnd { end, .. } if end == at(3)),
            "{err}"
        );
        assert!(matches!(
            run(&pit(Plane::Admin, 4, None), &[], &[]),
            Err(GuardError::NoRecoverabilityPoint { .. })
        ));
        let v = run(&pit(Plane::Tenant, 4, Some("tenant-2")), &catalog(), &[]).unwrap();
        assert_eq!(v.planes()[0].base_backup.as_str(), "tenant-2");
        assert!(matches!(
            &v.planes()[0].recovery.target,
            RecoveryTarget::PointInTime {
                backup_id: Some(_),
                ..
            }
        ));
        let v = run(&pit(Plane::Tenant, 2, None), &catalog(), &[]).unwrap();
        assert_eq!(v.planes()[0].base_backup.as_str(), "tenant-1");
    }
}
