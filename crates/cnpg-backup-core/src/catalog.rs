//! The backup catalog: records of CNPG `Backup` objects (and of bucket contents), their order,
//! backup sets pairing an admin and a tenant backup, and named-restore readiness.
//!
//! Everything here is pure and total: unknown values (a missing time, an unchecked bucket) stay
//! `None`/`Unknown` and are reported as such, never guessed. Not here: reading the catalog (the
//! [`crate::ports::BackupCatalogSource`] port does that).

use std::fmt;
use std::str::FromStr;

use std::cmp::Ordering;
use std::hash::Hasher;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::automation::BackupMethod;
use crate::drift::{AppVersion, Drift, DriftRefusal, VersionPolicy};
use crate::names::{ClusterName, NameError, ObjectName, Plane, ServerName, truncate_for_message};

/// The phase of a CNPG Backup (`status.phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupPhase {
    /// No status yet, or `pending`.
    Pending,
    /// `started`.
    Started,
    /// `running`.
    Running,
    /// `finalizing` (volume snapshots).
    Finalizing,
    /// `completed`.
    Completed,
    /// `failed`.
    Failed,
    /// `walArchivingFailing`.
    WalArchivingFailing,
    /// `invalid backup definition`, or a phase this version does not know.
    Invalid,
}

impl BackupPhase {
    /// Maps CNPG's `status.phase` string (absent = pending).
    pub fn from_cnpg(phase: Option<&str>) -> BackupPhase {
        match phase {
            None | Some("") | Some("pending") => BackupPhase::Pending,
            Some("started") => BackupPhase::Started,
            Some("running") => BackupPhase::Running,
            Some("finalizing") => BackupPhase::Finalizing,
            Some("completed") => BackupPhase::Completed,
            Some("failed") => BackupPhase::Failed,
            Some("walArchivingFailing") => BackupPhase::WalArchivingFailing,
            Some(_) => BackupPhase::Invalid,
        }
    }

    /// CNPG's `status.phase` string.
    pub fn as_cnpg(self) -> &'static str {
        match self {
            BackupPhase::Pending => "pending",
            BackupPhase::Started => "started",
            BackupPhase::Running => "running",
            BackupPhase::Finalizing => "finalizing",
            BackupPhase::Completed => "completed",
            BackupPhase::Failed => "failed",
            BackupPhase::WalArchivingFailing => "walArchivingFailing",
            BackupPhase::Invalid => "invalid backup definition",
        }
    }

    /// Still being taken: pending, started, running or finalizing (CNPG's `IsInProgress` plus
    /// the volume-snapshot `finalizing` step).
    pub fn is_in_progress(self) -> bool {
        matches!(
            self,
            BackupPhase::Pending
                | BackupPhase::Started
                | BackupPhase::Running
                | BackupPhase::Finalizing
        )
    }
}

impl BackupPhase {
    /// CNPG's `IsDone`: completed or failed. A ScheduledBackup skips its slots while any child
    /// Backup is not done, so a Backup stuck in any other phase blocks the schedule.
    pub fn is_done(self) -> bool {
        matches!(self, BackupPhase::Completed | BackupPhase::Failed)
    }
}

/// Whether a backup's files are in the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoragePresence {
    /// `backup.info` exists under `<server>/base/<backupId>/`.
    Present,
    /// It does not.
    Missing,
    /// Not checked (or the check failed).
    Unknown,
}

/// Why a backup-set id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupSetIdError {
    /// Wrong shape.
    #[error(
        "backup set id `{input}`: expected lowercase letters, digits and `-`, at most 63 characters"
    )]
    Invalid {
        /// The offending input.
        input: String,
    },
    /// The Backup's name is not `<scheduledbackup>-YYYYMMDDHHMMSS`.
    #[error(
        "backup `{backup}` was not made by scheduled backup `{scheduled_backup}`: expected `{scheduled_backup}-YYYYMMDDHHMMSS`"
    )]
    NotScheduledChild {
        /// The Backup name.
        backup: String,
        /// The ScheduledBackup name.
        scheduled_backup: String,
    },
    /// The suffix has the right shape but is not a real UTC date and time.
    #[error(
        "backup `{backup}`: `{suffix}` is not a real date and time; expected `YYYYMMDDHHMMSS`, e.g. `20261126023000`"
    )]
    BadTimestamp {
        /// The Backup name.
        backup: String,
        /// The 14-digit suffix.
        suffix: String,
    },
    /// The on-demand nonce is not 1-16 lowercase letters or digits.
    #[error("backup set nonce `{nonce}`: expected 1 to 16 lowercase letters or digits")]
    BadNonce {
        /// The offending nonce.
        nonce: String,
    },
}

/// Ties an admin and a tenant backup taken together.
///
/// Scheduled backups: `s-YYYYMMDDHHMMSS` from the scheduled time CNPG puts in the Backup name.
/// On-demand runs: `o-YYYYMMDDHHMMSS-<suffix>` generated once for both planes.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct BackupSetId(String);

impl BackupSetId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The set id of a Backup made by a ScheduledBackup: `s-YYYYMMDDHHMMSS` from the scheduled
    /// time CNPG writes into the Backup name (`<scheduledbackup>-YYYYMMDDHHMMSS`, UTC in the
    /// distroless operator image). The admin and tenant ScheduledBackups share one schedule, so
    /// both Backups of a slot get the same id.
    ///
    /// ```
    /// use cnpg_backup_core::catalog::BackupSetId;
    /// let id = BackupSetId::scheduled(
    ///     &"cnpg-admin-cnpg-backup-20261126023000".parse().unwrap(),
    ///     &"cnpg-admin-cnpg-backup".parse().unwrap(),
    /// ).unwrap();
    /// assert_eq!(id.as_str(), "s-20261126023000");
    /// ```
    ///
    /// # Errors
    /// [`BackupSetIdError::NotScheduledChild`] when the name is not the ScheduledBackup's name, a
    /// `-` and 14 digits; [`BackupSetIdError::BadTimestamp`] when the digits are not a real date
    /// and time (month 13, February 30, second 60...).
    pub fn scheduled(
        backup_name: &ObjectName,
        scheduled_backup_name: &ObjectName,
    ) -> Result<BackupSetId, BackupSetIdError> {
        let backup = backup_name.as_str();
        let not_child = || BackupSetIdError::NotScheduledChild {
            backup: truncate_for_message(backup),
            scheduled_backup: truncate_for_message(scheduled_backup_name.as_str()),
        };
        let suffix = backup
            .strip_prefix(scheduled_backup_name.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .filter(|d| d.len() == 14 && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(not_child)?;
        compact_timestamp(suffix).ok_or_else(|| BackupSetIdError::BadTimestamp {
            backup: truncate_for_message(backup),
            suffix: suffix.to_owned(),
        })?;
        Ok(BackupSetId(format!("s-{suffix}")))
    }

    /// The set id of the scheduled slot at `at` (whole seconds): `s-YYYYMMDDHHMMSS`.
    ///
    /// # Errors
    /// [`BackupSetIdError::Invalid`] for a time outside years 0-9999, which CNPG cannot name.
    pub fn scheduled_at(at: DateTime<Utc>) -> Result<BackupSetId, BackupSetIdError> {
        format!("s-{}", at.format("%Y%m%d%H%M%S"))
            .parse()
            .and_then(|id: BackupSetId| {
                if id.0.len() == 16 {
                    Ok(id)
                } else {
                    Err(BackupSetIdError::Invalid { input: id.0 })
                }
            })
    }

    /// The set id of an on-demand run: `o-YYYYMMDDHHMMSS-<nonce>`, generated once and given to the
    /// Backups of both planes. `nonce` (1-16 lowercase letters or digits) comes from the caller so
    /// the core never reads randomness; two runs in the same second need different nonces.
    ///
    /// # Errors
    /// [`BackupSetIdError::BadNonce`] for a bad nonce; [`BackupSetIdError::Invalid`] for a time
    /// outside years 0-9999.
    pub fn on_demand(now: DateTime<Utc>, nonce: &str) -> Result<BackupSetId, BackupSetIdError> {
        let nonce_ok = !nonce.is_empty()
            && nonce.len() <= 16
            && nonce
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !nonce_ok {
            return Err(BackupSetIdError::BadNonce {
                nonce: truncate_for_message(nonce),
            });
        }
        let slot = Self::scheduled_at(now)?;
        Ok(BackupSetId(format!("o-{}-{nonce}", &slot.0[2..])))
    }
}

/// Parses CNPG's compact ISO 8601 (`20060102150405` in Go layout) into a real date and time.
fn compact_timestamp(d: &str) -> Option<DateTime<Utc>> {
    let n = |r: std::ops::Range<usize>| d.get(r)?.parse::<u32>().ok();
    let year = i32::try_from(n(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, n(4..6)?, n(6..8)?)?
        .and_hms_opt(n(8..10)?, n(10..12)?, n(12..14)?)
        .map(|t| t.and_utc())
}

impl FromStr for BackupSetId {
    type Err = BackupSetIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BackupSetIdError::Invalid {
                input: truncate_for_message(s),
            })
        }
    }
}

impl TryFrom<String> for BackupSetId {
    type Error = BackupSetIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<BackupSetId> for String {
    fn from(v: BackupSetId) -> String {
        v.0
    }
}

impl fmt::Display for BackupSetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Barman backup id (`YYYYMMDDTHHMMSS`, the folder name under `base/`).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct BarmanBackupId(String);

impl BarmanBackupId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BarmanBackupId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let ok = b.len() == 15
            && b[8] == b'T'
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[9..].iter().all(u8::is_ascii_digit);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::Invalid {
                kind: "barman backup id",
                input: truncate_for_message(s),
                reason: "expected `YYYYMMDDTHHMMSS`, e.g. `20261126T045007`".to_owned(),
            })
        }
    }
}

impl TryFrom<String> for BarmanBackupId {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<BarmanBackupId> for String {
    fn from(v: BarmanBackupId) -> String {
        v.0
    }
}

impl fmt::Display for BarmanBackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One backup as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackupRecord {
    /// The Backup object's name.
    pub name: ObjectName,
    /// The plane whose live cluster took it (None for other clusters).
    pub plane: Option<Plane>,
    /// The cluster it belongs to (`spec.cluster.name`).
    pub cluster: ClusterName,
    /// Phase.
    pub phase: BackupPhase,
    /// When the backup began (`status.startedAt`).
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended (`status.stoppedAt`).
    pub ended_at: Option<DateTime<Utc>>,
    /// Barman backup id (`status.backupId`).
    pub backup_id: Option<BarmanBackupId>,
    /// Archive server name (`status.serverName`, or plugin metadata, or the cluster name).
    pub server_name: Option<ServerName>,
    /// PostgreSQL timeline, when known.
    pub timeline: Option<u32>,
    /// App version recorded on the backup.
    pub app_version: Option<AppVersion>,
    /// Backup set id.
    pub backup_set_id: Option<BackupSetId>,
    /// How it was taken.
    pub method: BackupMethod,
    /// Whether its files are in the bucket.
    pub storage: StoragePresence,
    /// Why it failed (`status.error`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BackupRecord {
    /// A record with the required fields; the rest start unknown.
    pub fn new(name: ObjectName, cluster: ClusterName, method: BackupMethod) -> Self {
        Self {
            name,
            plane: None,
            cluster,
            phase: BackupPhase::Pending,
            started_at: None,
            ended_at: None,
            backup_id: None,
            server_name: None,
            timeline: None,
            app_version: None,
            backup_set_id: None,
            method,
            storage: StoragePresence::Unknown,
            error: None,
        }
    }
}

/// Why a backup cannot be used for a named restore now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotReadyReason {
    /// Phase is not completed.
    NotCompleted,
    /// Its files are not in the bucket.
    MissingInStorage,
    /// Storage presence was not checked.
    StorageUnknown,
    /// No Barman backup id recorded.
    NoBackupId,
    /// Version drift forbids it.
    VersionBlocked,
}

/// A precomputed sort key: newest `ended_at` first, then newest `started_at`, missing times last.
type TimeKey = (i128, i128);

fn time_key(r: &BackupRecord) -> TimeKey {
    // Nanoseconds since the epoch, negated so that newer sorts first; a missing time sorts last.
    let k = |t: Option<DateTime<Utc>>| match t {
        Some(t) => {
            -(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
        }
        None => i128::MAX,
    };
    (k(r.ended_at), k(r.started_at))
}

fn method_rank(m: BackupMethod) -> u8 {
    match m {
        BackupMethod::BarmanObjectStore => 0,
        BackupMethod::Plugin => 1,
    }
}

fn storage_rank(s: StoragePresence) -> u8 {
    match s {
        StoragePresence::Present => 0,
        StoragePresence::Missing => 1,
        StoragePresence::Unknown => 2,
    }
}

/// Breaks ties between records whose times are equal: name, cluster, then every other field, so
/// that only records equal in every field compare equal.
fn tie_break(a: &BackupRecord, b: &BackupRecord) -> Ordering {
    a.name
        .cmp(&b.name)
        .then_with(|| a.cluster.cmp(&b.cluster))
        .then_with(|| a.plane.cmp(&b.plane))
        .then_with(|| a.backup_id.cmp(&b.backup_id))
        .then_with(|| a.server_name.cmp(&b.server_name))
        .then_with(|| a.backup_set_id.cmp(&b.backup_set_id))
        .then_with(|| a.phase.as_cnpg().cmp(b.phase.as_cnpg()))
        .then_with(|| a.timeline.cmp(&b.timeline))
        .then_with(|| method_rank(a.method).cmp(&method_rank(b.method)))
        .then_with(|| storage_rank(a.storage).cmp(&storage_rank(b.storage)))
        .then_with(|| match (&a.app_version, &b.app_version) {
            (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
            (x, y) => x.is_some().cmp(&y.is_some()),
        })
        // Chrono order of the times themselves, for instants that share a key (leap seconds).
        .then_with(|| a.ended_at.cmp(&b.ended_at))
        .then_with(|| a.started_at.cmp(&b.started_at))
}

/// The catalog order, newest first: by `ended_at`, then `started_at` (missing times last), then
/// name, then the remaining fields. A total order: only records equal in every field compare equal.
pub fn newest_first(a: &BackupRecord, b: &BackupRecord) -> Ordering {
    time_key(a).cmp(&time_key(b)).then_with(|| tie_break(a, b))
}

/// Orders records newest first: by `ended_at`, then `started_at`, then name (missing times last);
/// see [`newest_first`]. The result does not depend on the input order.
///
/// Sort keys are computed once per record and indices are sorted, so records are moved only once.
pub fn sort_newest_first(records: &mut [BackupRecord]) {
    let keys: Vec<TimeKey> = records.iter().map(time_key).collect();
    // Sort 16-byte (coarse key, index) pairs; equal coarse keys fall back to the full order.
    let mut order: Vec<(i64, usize)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (coarse(k.0), i))
        .collect();
    order.sort_unstable_by(|(ca, ia), (cb, ib)| {
        ca.cmp(cb)
            .then_with(|| keys[*ia].cmp(&keys[*ib]))
            .then_with(|| tie_break(&records[*ia], &records[*ib]))
    });
    apply_permutation(records, order.into_iter().map(|(_, i)| i).collect());
}

/// A key's nanoseconds clamped to `i64` (years 1677 to 2262 exactly): monotone, so sorting by
/// it and then by the full key gives the full order while the sort moves 16-byte items.
fn coarse(k: i128) -> i64 {
    i64::try_from(k).unwrap_or(if k < 0 { i64::MIN } else { i64::MAX })
}

/// Reorders `items` so that position `k` holds the item that was at `perm[k]`, by following cycles.
fn apply_permutation<T>(items: &mut [T], mut perm: Vec<usize>) {
    for start in 0..perm.len() {
        let mut k = start;
        while perm[k] != start {
            let next = perm[k];
            items.swap(k, next);
            perm[k] = k;
            k = next;
        }
        perm[k] = k;
    }
}

/// Reasons a record is not ready for a named restore (empty = ready). Version drift is judged by
/// the caller's policy and passed in as `version_blocked`.
pub fn not_ready_reasons(record: &BackupRecord, version_blocked: bool) -> Vec<NotReadyReason> {
    let mut out = Vec::new();
    if record.phase != BackupPhase::Completed {
        out.push(NotReadyReason::NotCompleted);
    }
    match record.storage {
        StoragePresence::Present => {}
        StoragePresence::Missing => out.push(NotReadyReason::MissingInStorage),
        StoragePresence::Unknown => out.push(NotReadyReason::StorageUnknown),
    }
    if record.backup_id.is_none() {
        out.push(NotReadyReason::NoBackupId);
    }
    if version_blocked {
        out.push(NotReadyReason::VersionBlocked);
    }
    out
}

impl fmt::Display for NotReadyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotReadyReason::NotCompleted => "the backup has not completed",
            NotReadyReason::MissingInStorage => "its files are not in the bucket",
            NotReadyReason::StorageUnknown => {
                "the bucket was not checked for its files; run a catalog check first"
            }
            NotReadyReason::NoBackupId => "CNPG recorded no Barman backup id for it",
            NotReadyReason::VersionBlocked => "the app version policy refuses it",
        })
    }
}

/// Whether a backup can be used for a named restore, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// True when there is no reason against it.
    pub ready: bool,
    /// Every reason against it, in a fixed order (phase, storage, backup id, version).
    pub reasons: Vec<NotReadyReason>,
    /// The version drift between the running app and the backup.
    pub drift: Drift,
    /// Why the version policy refuses it (set exactly when `reasons` has `VersionBlocked`).
    pub version_refusal: Option<DriftRefusal>,
}

/// Judges a record for a named restore: phase, bucket presence, backup id, and app-version drift
/// under `policy` (a backup newer than `running_version` is always refused; an unknown version
/// passes only with `accept_unknown`).
pub fn restore_readiness(
    record: &BackupRecord,
    running_version: Option<&AppVersion>,
    policy: VersionPolicy,
    accept_unknown: bool,
) -> Readiness {
    let backup_version = record.app_version.as_ref();
    let (drift, version_refusal) =
        match policy.check(running_version, backup_version, accept_unknown) {
            Ok(d) => (d, None),
            Err(e) => (
                crate::drift::drift(running_version, backup_version),
                Some(e),
            ),
        };
    let reasons = not_ready_reasons(record, version_refusal.is_some());
    Readiness {
        ready: reasons.is_empty(),
        reasons,
        drift,
        version_refusal,
    }
}

/// How far apart the start times of an admin and a tenant backup may be before pairing warns.
pub const DEFAULT_MAX_START_GAP: TimeDelta = TimeDelta::minutes(10);

/// Something to check before restoring a backup set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PairingWarning {
    /// Paired by start time although the two set ids differ.
    SetIdsDiffer {
        /// The admin backup's set id.
        admin: BackupSetId,
        /// The tenant backup's set id.
        tenant: BackupSetId,
    },
    /// The backup of `plane` carries no set id (paired by start time, or not at all).
    NoSetId {
        /// The plane whose backup has no set id.
        plane: Plane,
    },
    /// There is no backup of `plane` in this set.
    MissingPlane {
        /// The plane without a backup.
        plane: Plane,
    },
    /// The two backups started further apart than the threshold.
    StartsFarApart {
        /// Seconds between the two start times.
        gap_seconds: i64,
        /// The threshold, in seconds.
        max_seconds: i64,
    },
    /// `plane` has more than one backup with this set id; this one is not the newest, so it is
    /// listed on its own.
    DuplicateInSet {
        /// The plane with more than one backup.
        plane: Plane,
    },
}

impl PairingWarning {
    /// The same warning with admin and tenant swapped.
    pub fn mirrored(&self) -> PairingWarning {
        match self {
            PairingWarning::SetIdsDiffer { admin, tenant } => PairingWarning::SetIdsDiffer {
                admin: tenant.clone(),
                tenant: admin.clone(),
            },
            PairingWarning::NoSetId { plane } => PairingWarning::NoSetId {
                plane: other_plane(*plane),
            },
            PairingWarning::MissingPlane { plane } => PairingWarning::MissingPlane {
                plane: other_plane(*plane),
            },
            PairingWarning::StartsFarApart { .. } => self.clone(),
            PairingWarning::DuplicateInSet { plane } => PairingWarning::DuplicateInSet {
                plane: other_plane(*plane),
            },
        }
    }
}

fn other_plane(p: Plane) -> Plane {
    match p {
        Plane::Admin => Plane::Tenant,
        Plane::Tenant => Plane::Admin,
    }
}

/// An admin and a tenant backup that belong together (either side may be missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackupSetPairing<'a> {
    /// The set id: the common id, or the only one present; `None` when the two ids differ or
    /// neither backup has one.
    pub set_id: Option<&'a BackupSetId>,
    /// The admin backup.
    pub admin: Option<&'a BackupRecord>,
    /// The tenant backup.
    pub tenant: Option<&'a BackupRecord>,
    /// Seconds between the two start times; `None` when a side or a start time is missing.
    pub start_gap_seconds: Option<i64>,
    /// What to check before restoring this set (admin before tenant within a kind); empty for a
    /// clean pair.
    pub warnings: Vec<PairingWarning>,
}

impl<'a> BackupSetPairing<'a> {
    /// The same pairing with admin and tenant swapped.
    pub fn mirrored(&self) -> BackupSetPairing<'a> {
        let mut warnings: Vec<PairingWarning> =
            self.warnings.iter().map(PairingWarning::mirrored).collect();
        warnings.sort_by_key(warning_rank);
        BackupSetPairing {
            set_id: self.set_id,
            admin: self.tenant,
            tenant: self.admin,
            start_gap_seconds: self.start_gap_seconds,
            warnings,
        }
    }

    /// Whether both planes are present and nothing needs checking.
    pub fn is_clean(&self) -> bool {
        self.admin.is_some() && self.tenant.is_some() && self.warnings.is_empty()
    }

    fn build(
        admin: Option<&'a BackupRecord>,
        tenant: Option<&'a BackupRecord>,
        max_gap: TimeDelta,
        mut warnings: Vec<PairingWarning>,
    ) -> Self {
        let admin_id = admin.and_then(|r| r.backup_set_id.as_ref());
        let tenant_id = tenant.and_then(|r| r.backup_set_id.as_ref());
        let set_id = match (admin_id, tenant_id) {
            (Some(a), Some(t)) if a == t => Some(a),
            (Some(a), Some(t)) => {
                warnings.push(PairingWarning::SetIdsDiffer {
                    admin: a.clone(),
                    tenant: t.clone(),
                });
                None
            }
            (a, t) => a.or(t),
        };
        for (plane, rec, id) in [
            (Plane::Admin, admin, admin_id),
            (Plane::Tenant, tenant, tenant_id),
        ] {
            match rec {
                None => warnings.push(PairingWarning::MissingPlane { plane }),
                Some(_) if id.is_none() => warnings.push(PairingWarning::NoSetId { plane }),
                Some(_) => {}
            }
        }
        let start_gap = start_gap(
            admin.and_then(|r| r.started_at),
            tenant.and_then(|r| r.started_at),
            max_gap,
            &mut warnings,
        );
        warnings.sort_by_key(warning_rank);
        BackupSetPairing {
            set_id,
            admin,
            tenant,
            start_gap_seconds: start_gap,
            warnings,
        }
    }

    /// A pair joined on an equal set id: the same result as `build`, from the precomputed group
    /// data, without touching the records again.
    fn matched(a: &SetGroup<'a>, t: &SetGroup<'a>, max_gap: TimeDelta) -> Self {
        let mut warnings = Vec::new();
        let start_gap = start_gap(a.started, t.started, max_gap, &mut warnings);
        BackupSetPairing {
            set_id: Some(a.id),
            admin: Some(a.rec),
            tenant: Some(t.rec),
            start_gap_seconds: start_gap,
            warnings,
        }
    }
}

/// Seconds between two start times (when both are known), warning when over `max_gap`.
fn start_gap(
    a: Option<DateTime<Utc>>,
    t: Option<DateTime<Utc>>,
    max_gap: TimeDelta,
    warnings: &mut Vec<PairingWarning>,
) -> Option<i64> {
    let (Some(a), Some(t)) = (a, t) else {
        return None;
    };
    let gap = (a - t).abs();
    if gap > max_gap {
        warnings.push(PairingWarning::StartsFarApart {
            gap_seconds: gap.num_seconds(),
            max_seconds: max_gap.num_seconds(),
        });
    }
    Some(gap.num_seconds())
}

fn warning_rank(w: &PairingWarning) -> (u8, u8) {
    let plane = |p: &Plane| match p {
        Plane::Admin => 0,
        Plane::Tenant => 1,
    };
    match w {
        PairingWarning::MissingPlane { plane: p } => (0, plane(p)),
        PairingWarning::NoSetId { plane: p } => (1, plane(p)),
        PairingWarning::SetIdsDiffer { .. } => (2, 0),
        PairingWarning::StartsFarApart { .. } => (3, 0),
        PairingWarning::DuplicateInSet { plane: p } => (4, plane(p)),
    }
}

/// Pairs the admin and tenant catalogs into backup sets, newest first.
///
/// 1. Backups with the same set id pair up (when a plane has several, the newest by
///    [`newest_first`] is used and each other one is listed with [`PairingWarning::DuplicateInSet`]).
/// 2. The rest (no set id, or an id the other plane lacks) pair by start time: closest first,
///    only within `max_start_gap`, each backup at most once, with [`PairingWarning::NoSetId`] or
///    [`PairingWarning::SetIdsDiffer`].
/// 3. Whatever is left stands alone with [`PairingWarning::MissingPlane`].
///
/// Every pair whose start times are more than `max_start_gap` apart gets
/// [`PairingWarning::StartsFarApart`]. The result is symmetric: swapping `admin` and `tenant`
/// gives each pairing [`mirrored`](BackupSetPairing::mirrored), in the same order. Pairings are
/// ordered by their newer backup, then their older one, under [`newest_first`].
pub fn pair_sets<'a>(
    admin: &'a [BackupRecord],
    tenant: &'a [BackupRecord],
    max_start_gap: TimeDelta,
) -> Vec<BackupSetPairing<'a>> {
    let max_gap = max_start_gap.abs();
    let none_key = (i128::MAX, i128::MAX);
    // Each pairing with its sort key (newer record's time key, then the older one's).
    let mut out: Vec<((TimeKey, TimeKey), BackupSetPairing<'a>)> =
        Vec::with_capacity(admin.len().max(tenant.len()));

    // 1. By set id: the newest record of each id on each side, joined by sorting on a hash of
    //    the id (sequential passes instead of a hash table's random probes).
    let (admin_groups, admin_extra, mut admin_rest) = group_by_set_id(admin);
    let (tenant_groups, tenant_extra, mut tenant_rest) = group_by_set_id(tenant);
    let (mut i, mut j) = (0, 0);
    while i < admin_groups.len() || j < tenant_groups.len() {
        let order = match (admin_groups.get(i), tenant_groups.get(j)) {
            (Some(a), Some(t)) => a.hash.cmp(&t.hash).then_with(|| a.id.cmp(t.id)),
            (Some(_), None) => Ordering::Less,
            (None, _) => Ordering::Greater,
        };
        match (order, admin_groups.get(i), tenant_groups.get(j)) {
            (Ordering::Equal, Some(a), Some(t)) => {
                let key = match a.key.cmp(&t.key).then_with(|| tie_break(a.rec, t.rec)) {
                    Ordering::Greater => (t.key, a.key),
                    _ => (a.key, t.key),
                };
                out.push((key, BackupSetPairing::matched(a, t, max_gap)));
                i += 1;
                j += 1;
            }
            (Ordering::Less, Some(a), _) => {
                admin_rest.push(a.rec);
                i += 1;
            }
            (_, _, Some(t)) => {
                tenant_rest.push(t.rec);
                j += 1;
            }
            // Unreachable: the loop condition guarantees one side has an entry.
            _ => break,
        }
    }

    // 2. By start time, closest first; ties broken by the records themselves (side-blind).
    let mut tenant_by_start: Vec<(DateTime<Utc>, usize)> = tenant_rest
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.started_at.map(|t| (t, i)))
        .collect();
    tenant_by_start.sort_unstable();
    let mut edges: Vec<((TimeDelta, TimeKey, TimeKey), usize, usize)> = Vec::new();
    for (ai, a) in admin_rest.iter().enumerate() {
        let Some(start) = a.started_at else { continue };
        // Checked: a caller's huge gap must saturate at chrono's range, not panic.
        let low = start
            .checked_sub_signed(max_gap)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let high = start
            .checked_add_signed(max_gap)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let from = tenant_by_start.partition_point(|(t, _)| *t < low);
        for (t, ti) in tenant_by_start[from..]
            .iter()
            .take_while(|(t, _)| *t <= high)
        {
            let (lo, hi) = pair_key(a, tenant_rest[*ti]);
            edges.push((((*t - start).abs(), lo, hi), ai, *ti));
        }
    }
    edges.sort_unstable_by(|(ka, aa, ta), (kb, ab, tb)| {
        ka.cmp(kb).then_with(|| {
            let (lo_a, hi_a) = ordered(admin_rest[*aa], tenant_rest[*ta]);
            let (lo_b, hi_b) = ordered(admin_rest[*ab], tenant_rest[*tb]);
            tie_break(lo_a, lo_b).then_with(|| tie_break(hi_a, hi_b))
        })
    });
    let mut admin_used = vec![false; admin_rest.len()];
    let mut tenant_used = vec![false; tenant_rest.len()];
    for (_, ai, ti) in edges {
        if admin_used[ai] || tenant_used[ti] {
            continue;
        }
        admin_used[ai] = true;
        tenant_used[ti] = true;
        let (a, t) = (admin_rest[ai], tenant_rest[ti]);
        out.push((
            pair_key(a, t),
            BackupSetPairing::build(Some(a), Some(t), max_gap, Vec::new()),
        ));
    }

    // 3. Alone.
    let alone = admin_rest
        .iter()
        .zip(&admin_used)
        .map(|(r, used)| (Plane::Admin, *r, *used, Vec::new()))
        .chain(
            tenant_rest
                .iter()
                .zip(&tenant_used)
                .map(|(r, used)| (Plane::Tenant, *r, *used, Vec::new())),
        )
        .chain(admin_extra.into_iter().map(|r| {
            let w = vec![PairingWarning::DuplicateInSet {
                plane: Plane::Admin,
            }];
            (Plane::Admin, r, false, w)
        }))
        .chain(tenant_extra.into_iter().map(|r| {
            let w = vec![PairingWarning::DuplicateInSet {
                plane: Plane::Tenant,
            }];
            (Plane::Tenant, r, false, w)
        }));
    for (plane, r, used, warnings) in alone {
        if used {
            continue;
        }
        let (a, t) = match plane {
            Plane::Admin => (Some(r), None),
            Plane::Tenant => (None, Some(r)),
        };
        out.push((
            (time_key(r), none_key),
            BackupSetPairing::build(a, t, max_gap, warnings),
        ));
    }

    // Newest first, side-blind: by the newer record, then the older one. Keys were computed once.
    let mut order: Vec<(i64, usize)> = out
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (coarse(k.0.0), i))
        .collect();
    order.sort_unstable_by(|(ca, ia), (cb, ib)| {
        let ((ka, pa), (kb, pb)) = (&out[*ia], &out[*ib]);
        ca.cmp(cb).then_with(|| ka.cmp(kb)).then_with(|| {
            let (lo_a, hi_a) = pairing_records(pa);
            let (lo_b, hi_b) = pairing_records(pb);
            cmp_present_first(lo_a, lo_b).then_with(|| cmp_present_first(hi_a, hi_b))
        })
    });
    let mut slots: Vec<Option<BackupSetPairing<'a>>> =
        out.into_iter().map(|(_, p)| Some(p)).collect();
    order
        .into_iter()
        .filter_map(|(_, i)| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// One side's newest record of a set id, with the id's hash and the record's time key.
#[derive(Clone, Copy)]
struct SetGroup<'a> {
    hash: u64,
    id: &'a BackupSetId,
    key: TimeKey,
    started: Option<DateTime<Utc>>,
    rec: &'a BackupRecord,
}

/// Groups one side by set id, sorted by (hash, id): each group's newest record (by
/// [`newest_first`]), the older duplicates, and the records without a set id.
#[allow(clippy::type_complexity)]
fn group_by_set_id(
    side: &[BackupRecord],
) -> (Vec<SetGroup<'_>>, Vec<&BackupRecord>, Vec<&BackupRecord>) {
    let mut unset = Vec::new();
    let mut entries: Vec<SetGroup<'_>> = Vec::with_capacity(side.len());
    for rec in side {
        match rec.backup_set_id.as_ref() {
            Some(id) => {
                let mut h = Fnv1a::default();
                h.write(id.as_str().as_bytes());
                entries.push(SetGroup {
                    hash: h.finish(),
                    id,
                    key: time_key(rec),
                    started: rec.started_at,
                    rec,
                });
            }
            None => unset.push(rec),
        }
    }
    // Sort 16-byte (hash, index) pairs; equal hashes fall back to id, then newest first.
    let mut order: Vec<(u64, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.hash, i))
        .collect();
    order.sort_unstable_by(|(ha, ia), (hb, ib)| {
        ha.cmp(hb).then_with(|| {
            let (a, b) = (&entries[*ia], &entries[*ib]);
            a.id.cmp(b.id)
                .then_with(|| a.key.cmp(&b.key))
                .then_with(|| tie_break(a.rec, b.rec))
        })
    });
    let mut groups: Vec<SetGroup<'_>> = Vec::with_capacity(entries.len());
    let mut extra = Vec::new();
    for (_, i) in order {
        let e = &entries[i];
        match groups.last() {
            Some(g) if g.hash == e.hash && g.id == e.id => extra.push(e.rec),
            _ => groups.push(*e),
        }
    }
    (groups, extra, unset)
}

/// 64-bit FNV-1a as a [`Hasher`], for joining the two catalogs on set ids: cheap for short
/// strings, stable across runs, and not exposed to an attacker who could force collisions (a
/// collision only costs one extra string comparison).
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        // FNV's high bits mix poorly for short keys that differ in a few characters, and the
        // hash table uses them as tags: finish with MurmurHash3's fmix64 avalanche.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The time keys of two records, the newer one (by [`newest_first`]) first: the same for
/// `(a, b)` and `(b, a)`.
fn pair_key(a: &BackupRecord, b: &BackupRecord) -> (TimeKey, TimeKey) {
    let (ka, kb) = (time_key(a), time_key(b));
    match ka.cmp(&kb).then_with(|| tie_break(a, b)) {
        Ordering::Greater => (kb, ka),
        _ => (ka, kb),
    }
}

/// [`newest_first`] over optional records, a missing record last.
fn cmp_present_first(a: Option<&BackupRecord>, b: Option<&BackupRecord>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => newest_first(x, y),
        (x, y) => x.is_none().cmp(&y.is_none()),
    }
}

/// The two records ordered by [`newest_first`].
fn ordered<'a>(a: &'a BackupRecord, b: &'a BackupRecord) -> (&'a BackupRecord, &'a BackupRecord) {
    if newest_first(a, b) == Ordering::Greater {
        (b, a)
    } else {
        (a, b)
    }
}

/// The newer record of a pairing and the older one (`None` for a single backup).
fn pairing_records<'a>(
    p: &BackupSetPairing<'a>,
) -> (Option<&'a BackupRecord>, Option<&'a BackupRecord>) {
    match (p.admin, p.tenant) {
        (Some(a), Some(t)) => {
            let (lo, hi) = ordered(a, t);
            (Some(lo), Some(hi))
        }
        (Some(r), None) | (None, Some(r)) => (Some(r), None),
        (None, None) => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn name(s: &str) -> ObjectName {
        s.parse().unwrap()
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap()
    }

    fn rec(
        n: &str,
        plane: Plane,
        started: Option<DateTime<Utc>>,
        set: Option<&str>,
    ) -> BackupRecord {
        let mut r = BackupRecord::new(
            name(n),
            ClusterName::default_for(plane),
            BackupMethod::Plugin,
        );
        r.plane = Some(plane);
        r.started_at = started;
        r.ended_at = started.map(|t| t + TimeDelta::minutes(5));
        r.backup_set_id = set.map(|s| s.parse().unwrap());
        r
    }

    fn ready_record() -> BackupRecord {
        let mut r = rec("b1", Plane::Admin, Some(at(2, 0)), Some("s-20261126020000"));
        r.phase = BackupPhase::Completed;
        r.storage = StoragePresence::Present;
        r.backup_id = Some("20261126T020000".parse().unwrap());
        r.app_version = Some("1.2.0".parse().unwrap());
        r
    }

    #[test]
    fn scheduled_set_id_comes_from_the_backup_name() {
        let id = BackupSetId::scheduled(
            &name("cnpg-admin-cnpg-backup-20261126023000"),
            &name("cnpg-admin-cnpg-backup"),
        )
        .unwrap();
        assert_eq!(id.as_str(), "s-20261126023000");
        // Both planes' ScheduledBackups share the schedule, so they agree.
        let tenant = BackupSetId::scheduled(
            &name("cnpg-tenant-cnpg-backup-20261126023000"),
            &name("cnpg-tenant-cnpg-backup"),
        )
        .unwrap();
        assert_eq!(id, tenant);
        assert_eq!(BackupSetId::scheduled_at(at(2, 30)).unwrap(), id);
        // Leap day.
        assert!(BackupSetId::scheduled(&name("sb-20280229000000"), &name("sb")).is_ok());
    }

    #[test]
    fn scheduled_set_id_rejects_other_names() {
        let sb = name("sb");
        for backup in [
            "sb",
            "sb-2026112602300",
            "sb-202611260230000",
            "sbx-20261126023000",
            "sb-x-20261126023000",
            "other-20261126023000",
            "sb-20261126023000-1",
        ] {
            let e = BackupSetId::scheduled(&name(backup), &sb).unwrap_err();
            assert!(
                matches!(e, BackupSetIdError::NotScheduledChild { .. }),
                "{backup}: {e}"
            );
            assert!(e.to_string().contains("`sb-YYYYMMDDHHMMSS`"), "{e}");
        }
    }

    #[test]
    fn scheduled_set_id_rejects_impossible_times() {
        let sb = name("sb");
        for suffix in [
            "20261326023000",
            "20260230023000",
            "20270229000000",
            "20261126243000",
            "20261126026000",
            "20261126023060",
            "20261100023000",
        ] {
            let e = BackupSetId::scheduled(&name(&format!("sb-{suffix}")), &sb).unwrap_err();
            assert_eq!(
                e,
                BackupSetIdError::BadTimestamp {
                    backup: format!("sb-{suffix}"),
                    suffix: suffix.to_owned()
                }
            );
        }
    }

    #[test]
    fn on_demand_set_id() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 4, 50, 7).unwrap();
        let id = BackupSetId::on_demand(t, "k3x9").unwrap();
        assert_eq!(id.as_str(), "o-20261126045007-k3x9");
        assert_eq!(id.as_str().parse::<BackupSetId>(), Ok(id.clone()));
        assert!(BackupSetId::on_demand(t, &"a".repeat(16)).is_ok());
        for bad in ["", "ABC", "a-b", "a b", &"a".repeat(17)] {
            assert!(
                matches!(
                    BackupSetId::on_demand(t, bad),
                    Err(BackupSetIdError::BadNonce { .. })
                ),
                "{bad:?}"
            );
        }
        let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
        assert!(BackupSetId::on_demand(far, "a").is_err());
    }

    #[test]
    fn set_id_shape() {
        for ok in ["s-20261126023000", "legacy", "a"] {
            assert!(ok.parse::<BackupSetId>().is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(64)] {
            assert!(bad.parse::<BackupSetId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn barman_backup_id_shape() {
        assert!("20261126T045007".parse::<BarmanBackupId>().is_ok());
        for bad in ["20261126045007", "20261126T04500", "2026112xT045007", ""] {
            assert!(bad.parse::<BarmanBackupId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn phases_map_both_ways() {
        for p in [
            BackupPhase::Pending,
            BackupPhase::Started,
            BackupPhase::Running,
            BackupPhase::Finalizing,
            BackupPhase::Completed,
            BackupPhase::Failed,
            BackupPhase::WalArchivingFailing,
        ] {
            assert_eq!(BackupPhase::from_cnpg(Some(p.as_cnpg())), p);
        }
        assert_eq!(BackupPhase::from_cnpg(None), BackupPhase::Pending);
        assert_eq!(BackupPhase::from_cnpg(Some("new")), BackupPhase::Invalid);
        assert!(BackupPhase::Running.is_in_progress());
        assert!(!BackupPhase::Completed.is_in_progress());
        assert!(!BackupPhase::Failed.is_in_progress());
        assert!(BackupPhase::Failed.is_done() && BackupPhase::Completed.is_done());
        assert!(!BackupPhase::WalArchivingFailing.is_done());
        assert!(!BackupPhase::Finalizing.is_done());
    }

    #[test]
    fn newest_first_by_end_then_start_then_name_missing_last() {
        let mut a = rec("a", Plane::Admin, Some(at(1, 0)), None);
        a.ended_at = Some(at(3, 0));
        let mut b = rec("b", Plane::Admin, Some(at(2, 0)), None);
        b.ended_at = Some(at(3, 0));
        let c = rec("c", Plane::Admin, Some(at(2, 0)), None); // ends 02:05
        let mut d = rec("d", Plane::Admin, Some(at(4, 0)), None);
        d.ended_at = None;
        let mut e = rec("e", Plane::Admin, None, None);
        e.ended_at = None;
        let mut f = rec("f", Plane::Admin, None, None);
        f.ended_at = Some(at(3, 0));
        let mut records = vec![
            e.clone(),
            c.clone(),
            f.clone(),
            a.clone(),
            d.clone(),
            b.clone(),
        ];
        sort_newest_first(&mut records);
        let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "a", "f", "c", "d", "e"]);
    }

    #[test]
    fn same_name_in_two_clusters_still_orders() {
        let a = rec("x", Plane::Admin, Some(at(1, 0)), None);
        let t = rec("x", Plane::Tenant, Some(at(1, 0)), None);
        assert_eq!(newest_first(&a, &t), Ordering::Less);
        assert_eq!(newest_first(&t, &a), Ordering::Greater);
    }

    #[test]
    fn readiness_ready() {
        let r = ready_record();
        let v: AppVersion = "1.3.0".parse().unwrap();
        let got = restore_readiness(&r, Some(&v), VersionPolicy::SameMajor, false);
        assert!(got.ready, "{got:?}");
        assert_eq!(got.drift, Drift::Minor);
        assert_eq!(got.reasons, []);
        assert_eq!(got.version_refusal, None);
    }

    #[test]
    fn readiness_lists_every_reason_in_order() {
        let mut r = ready_record();
        r.phase = BackupPhase::Failed;
        r.storage = StoragePresence::Missing;
        r.backup_id = None;
        let v: AppVersion = "1.1.0".parse().unwrap(); // older than the backup
        let got = restore_readiness(&r, Some(&v), VersionPolicy::AnyOlder, true);
        assert!(!got.ready);
        assert_eq!(
            got.reasons,
            [
                NotReadyReason::NotCompleted,
                NotReadyReason::MissingInStorage,
                NotReadyReason::NoBackupId,
                NotReadyReason::VersionBlocked
            ]
        );
        assert_eq!(got.drift, Drift::BackupNewer);
        assert!(matches!(
            got.version_refusal,
            Some(DriftRefusal::BackupNewer { .. })
        ));
    }

    #[test]
    fn readiness_unknowns() {
        let mut r = ready_record();
        r.storage = StoragePresence::Unknown;
        r.app_version = None;
        let v: AppVersion = "1.2.0".parse().unwrap();
        let refused = restore_readiness(&r, Some(&v), VersionPolicy::SameMajor, false);
        assert_eq!(
            refused.reasons,
            [
                NotReadyReason::StorageUnknown,
                NotReadyReason::VersionBlocked
            ]
        );
        assert_eq!(refused.version_refusal, Some(DriftRefusal::Unknown));
        let accepted = restore_readiness(&r, Some(&v), VersionPolicy::SameMajor, true);
        assert_eq!(accepted.reasons, [NotReadyReason::StorageUnknown]);
        assert_eq!(accepted.drift, Drift::Unknown);
        assert!(
            NotReadyReason::StorageUnknown
                .to_string()
                .contains("not checked")
        );
    }

    #[test]
    fn pairs_by_set_id() {
        let id = "s-20261126020000";
        let admin = [rec("a1", Plane::Admin, Some(at(2, 0)), Some(id))];
        let tenant = [rec("t1", Plane::Tenant, Some(at(2, 1)), Some(id))];
        let p = pair_sets(&admin, &tenant, DEFAULT_MAX_START_GAP);
        assert_eq!(p.len(), 1);
        assert!(p[0].is_clean(), "{p:?}");
        assert_eq!(p[0].set_id.map(BackupSetId::as_str), Some(id));
        assert_eq!(p[0].start_gap_seconds, Some(60));
    }

    #[test]
    fn pairs_by_id_even_when_far_apart_but_warns() {
        let id = "s-20261126020000";
        let admin = [rec("a1", Plane::Admin, Some(at(2, 0)), Some(id))];
        let tenant = [rec("t1", Plane::Tenant, Some(at(2, 30)), Some(id))];
        let p = pair_sets(&admin, &tenant, DEFAULT_MAX_START_GAP);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].warnings,
            [PairingWarning::StartsFarApart {
                gap_seconds: 1800,
                max_seconds: 600
            }]
        );
        // A larger threshold silences it.
        let p = pair_sets(&admin, &tenant, TimeDelta::hours(1));
        assert!(p[0].is_clean());
    }

    #[test]
    fn unknown_start_time_gives_no_gap() {
        let id = "s-20261126020000";
        let admin = [rec("a1", Plane::Admin, None, Some(id))];
        let tenant = [rec("t1", Plane::Tenant, Some(at(2, 30)), Some(id))];
        let p = pair_sets(&admin, &tenant, DEFAULT_MAX_START_GAP);
        assert_eq!(p[0].start_gap_seconds, None);
        assert!(p[0].is_clean());
    }

    #[test]
    fn one_side_missing() {
        let admin = [rec(
            "a1",
            Plane::Admin,
            Some(at(2, 0)),
            Some("s-20261126020000"),
        )];
        let p = pair_sets(&admin, &[], DEFAULT_MAX_START_GAP);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].tenant, None);
        assert_eq!(
            p[0].warnings,
            [PairingWarning::MissingPlane {
                plane: Plane::Tenant
            }]
        );
        assert!(pair_sets(&[], &[], DEFAULT_MAX_START_GAP).is_empty());
    }

    #[test]
    fn pairs_by_start_time_when_ids_are_missing_or_differ() {
        let admin = [
            rec("a1", Plane::Admin, Some(at(2, 0)), None),
            rec(
                "a2",
                Plane::Admin,
                Some(at(5, 0)),
                Some("o-20261126050000-x"),
            ),
        ];
        let tenant = [
            rec(
                "t2",
                Plane::Tenant,
                Some(at(5, 2)),
                Some("o-20261126050100-y"),
            ),
            rec("t1", Plane::Tenant, Some(at(2, 3)), None),
            rec("t0", Plane::Tenant, Some(at(2, 9)), None),
        ];
        let p = pair_sets(&admin, &tenant, DEFAULT_MAX_START_GAP);
        let shape: Vec<(Option<&str>, Option<&str>)> = p
            .iter()
            .map(|p| {
                (
                    p.admin.map(|r| r.name.as_str()),
                    p.tenant.map(|r| r.name.as_str()),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (Some("a2"), Some("t2")),
                (None, Some("t0")),
                (Some("a1"), Some("t1")),
            ]
        );
        assert_eq!(
            p[0].warnings,
            [PairingWarning::SetIdsDiffer {
                admin: "o-20261126050000-x".parse().unwrap(),
                tenant: "o-20261126050100-y".parse().unwrap()
            }]
        );
        assert_eq!(p[0].set_id, None);
        assert_eq!(
            p[2].warnings,
            [
                PairingWarning::NoSetId {
                    plane: Plane::Admin
                },
                PairingWarning::NoSetId {
                    plane: Plane::Tenant
                }
            ]
        );
        assert_eq!(
            p[1].warnings,
            [
                PairingWarning::MissingPlane {
                    plane: Plane::Admin
                },
                PairingWarning::NoSetId {
                    plane: Plane::Tenant
                }
            ]
        );
    }

    #[test]
    fn huge_gaps_and_extreme_times_do_not_panic() {
        let at_time = |n: &str, plane: Plane, t: DateTime<Utc>| {
            let mut r = rec(n, plane, None, None);
            r.started_at = Some(t);
            r.ended_at = Some(t);
            r
        };
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let admin = [
            at_time("a1", Plane::Admin, min),
            at_time("a2", Plane::Admin, max),
        ];
        let tenant = [
            at_time("t1", Plane::Tenant, max),
            at_time("t2", Plane::Tenant, min),
        ];
        for gap in [TimeDelta::MAX, TimeDelta::MIN, TimeDelta::zero()] {
            let p = pair_sets(&admin, &tenant, gap);
            assert_eq!(p.len(), 2, "{gap}");
            assert!(p.iter().all(|x| x.admin.is_some() && x.tenant.is_some()));
        }
        let mut all: Vec<BackupRecord> = admin.iter().chain(&tenant).cloned().collect();
        sort_newest_first(&mut all);
        assert_eq!(all[0].started_at, Some(DateTime::<Utc>::MAX_UTC));
    }

    #[test]
    fn duplicates_in_a_set_stand_alone() {
        let id = "s-20261126020000";
        let admin = [
            rec("a-old", Plane::Admin, Some(at(2, 0)), Some(id)),
            rec("a-new", Plane::Admin, Some(at(2, 20)), Some(id)),
        ];
        let tenant = [rec("t1", Plane::Tenant, Some(at(2, 19)), Some(id))];
        let p = pair_sets(&admin, &tenant, DEFAULT_MAX_START_GAP);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].admin.map(|r| r.name.as_str()), Some("a-new"));
        assert!(p[0].is_clean());
        assert_eq!(p[1].admin.map(|r| r.name.as_str()), Some("a-old"));
        assert_eq!(
            p[1].warnings,
            [
                PairingWarning::MissingPlane {
                    plane: Plane::Tenant
                },
                PairingWarning::DuplicateInSet {
                    plane: Plane::Admin
                }
            ]
        );
    }

    fn record(plane: Plane) -> impl Strategy<Value = BackupRecord> {
        let time = prop::option::weighted(
            0.85,
            (0i64..12).prop_map(|m| at(2, 0) + TimeDelta::minutes(m * 7)),
        );
        let set = prop::option::of(prop::sample::select(vec![
            "s-20261126020000",
            "s-20261126030000",
            "o-20261126040000-a",
        ]));
        (
            "[a-d]{1,2}",
            time.clone(),
            time,
            set,
            any::<bool>(),
            prop::option::of(prop::sample::select(vec!["1.0.0", "1.1.0", "2.0.0"])),
        )
            .prop_map(move |(n, started, ended, set, done, version)| {
                let mut r = rec(&n, plane, started, set);
                r.ended_at = ended;
                if done {
                    r.phase = BackupPhase::Completed;
                }
                r.app_version = version.map(|v| v.parse().unwrap());
                r
            })
    }

    fn records(plane: Plane) -> impl Strategy<Value = Vec<BackupRecord>> {
        prop::collection::vec(record(plane), 0..12)
    }

    fn mixed() -> impl Strategy<Value = Vec<BackupRecord>> {
        (records(Plane::Admin), records(Plane::Tenant)).prop_map(|(mut a, t)| {
            a.extend(t);
            a
        })
    }

    proptest! {
        #[test]
        fn set_id_parsers_never_panic(s in any::<String>(), sb in "[a-z]{1,3}") {
            let _ = s.parse::<BackupSetId>();
            let _ = s.parse::<BarmanBackupId>();
            let _ = BackupPhase::from_cnpg(Some(&s));
            if let Ok(backup) = format!("{sb}-{s}").parse::<ObjectName>() {
                let _ = BackupSetId::scheduled(&backup, &sb.parse().unwrap());
            }
            let _ = BackupSetId::on_demand(at(0, 0), &s);
        }

        #[test]
        fn scheduled_suffix_digits_never_panic(d in "[0-9]{14}") {
            let backup: ObjectName = format!("sb-{d}").parse().unwrap();
            if let Ok(id) = BackupSetId::scheduled(&backup, &"sb".parse().unwrap()) {
                prop_assert_eq!(id.as_str(), format!("s-{d}"));
            }
        }

        #[test]
        fn scheduled_agrees_with_the_time(secs in 0i64..253_402_300_799) {
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            let backup: ObjectName = format!("sb-{}", t.format("%Y%m%d%H%M%S")).parse().unwrap();
            let id = BackupSetId::scheduled(&backup, &"sb".parse().unwrap()).unwrap();
            prop_assert_eq!(&id, &BackupSetId::scheduled_at(t).unwrap());
            prop_assert_eq!(id.to_string().parse::<BackupSetId>(), Ok(id.clone()));
        }

        #[test]
        fn order_is_total(a in record(Plane::Admin), b in record(Plane::Tenant), c in record(Plane::Admin)) {
            prop_assert_eq!(newest_first(&a, &b), newest_first(&b, &a).reverse());
            prop_assert_eq!(newest_first(&a, &a), Ordering::Equal);
            if newest_first(&a, &b) == Ordering::Equal {
                prop_assert_eq!(&a, &b);
            }
            if newest_first(&a, &c) != Ordering::Greater && newest_first(&c, &b) != Ordering::Greater {
                prop_assert_ne!(newest_first(&a, &b), Ordering::Greater);
            }
        }

        #[test]
        fn sort_is_stable_under_shuffling(
            (v, shuffled) in mixed().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
        ) {
            let mut x = v.clone();
            let mut y = shuffled;
            sort_newest_first(&mut x);
            sort_newest_first(&mut y);
            prop_assert_eq!(&x, &y);
            let mut reference = v;
            reference.sort_by(newest_first);
            prop_assert_eq!(&x, &reference);
            for w in x.windows(2) {
                prop_assert_ne!(newest_first(&w[0], &w[1]), Ordering::Greater);
                // The documented keys, in order.
                let (a, b) = (&w[0], &w[1]);
                let end = (a.ended_at.is_none(), std::cmp::Reverse(a.ended_at))
                    .cmp(&(b.ended_at.is_none(), std::cmp::Reverse(b.ended_at)));
                prop_assert_ne!(end, Ordering::Greater);
            }
        }

        #[test]
        fn pairing_is_symmetric(admin in records(Plane::Admin), tenant in records(Plane::Tenant), gap in 0i64..40) {
            let gap = TimeDelta::minutes(gap);
            let there = pair_sets(&admin, &tenant, gap);
            let back: Vec<BackupSetPairing<'_>> =
                pair_sets(&tenant, &admin, gap).iter().map(BackupSetPairing::mirrored).collect();
            prop_assert_eq!(there, back);
        }

        #[test]
        fn pairing_uses_every_record_once(admin in records(Plane::Admin), tenant in records(Plane::Tenant)) {
            let p = pair_sets(&admin, &tenant, DEFAULT_MAX_START_GAP);
            let count = |side: &[BackupRecord], pick: fn(&BackupSetPairing<'_>) -> Option<*const BackupRecord>| {
                side.iter().all(|r| p.iter().filter(|x| pick(x) == Some(r as *const _)).count() == 1)
            };
            prop_assert!(count(&admin, |x| x.admin.map(|r| r as *const _)));
            prop_assert!(count(&tenant, |x| x.tenant.map(|r| r as *const _)));
            for x in &p {
                prop_assert!(x.admin.is_some() || x.tenant.is_some());
                if let (Some(a), Some(t)) = (x.admin, x.tenant) {
                    // Different or missing ids are only paired when close in time.
                    if a.backup_set_id.is_none() || a.backup_set_id != t.backup_set_id {
                        let gap = (a.started_at.unwrap() - t.started_at.unwrap()).abs();
                        prop_assert!(gap <= DEFAULT_MAX_START_GAP);
                    }
                }
            }
        }

        #[test]
        fn readiness_matches_the_reasons(r in record(Plane::Admin), accept in any::<bool>()) {
            let v: AppVersion = "1.1.0".parse().unwrap();
            let got = restore_readiness(&r, Some(&v), VersionPolicy::SameMajor, accept);
            prop_assert_eq!(got.ready, got.reasons.is_empty());
            prop_assert_eq!(
                got.reasons.contains(&NotReadyReason::VersionBlocked),
                got.version_refusal.is_some()
            );
            if r.phase != BackupPhase::Completed {
                prop_assert!(got.reasons.contains(&NotReadyReason::NotCompleted));
            }
        }
    }
}
