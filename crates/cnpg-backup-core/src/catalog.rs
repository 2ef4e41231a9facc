//! The backup catalog: records of CNPG `Backup` objects (and of bucket contents), their order,
//! backup sets pairing an admin and a tenant backup, and named-restore readiness.
//!
//! FOUNDATION: types fixed; ordering, readiness and pairing are filled in by issue 2, items 6-7.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::automation::BackupMethod;
use crate::drift::AppVersion;
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

    /// CNPG's `IsInProgress`: pending, started or running (these block the ScheduledBackup).
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

/// Orders records newest first: by `ended_at`, then `started_at`, then name (missing times last).
pub fn sort_newest_first(records: &mut [BackupRecord]) {
    records.sort_by(|a, b| {
        let key = |r: &BackupRecord| (r.ended_at.is_none(), std::cmp::Reverse(r.ended_at));
        let key2 = |r: &BackupRecord| (r.started_at.is_none(), std::cmp::Reverse(r.started_at));
        key(a)
            .cmp(&key(b))
            .then_with(|| key2(a).cmp(&key2(b)))
            .then_with(|| a.name.cmp(&b.name))
    });
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
