//! The provenance record: what the cluster knew about a backup, kept in the bucket beside
//! Barman's files, so that a catalog read straight from the bucket (the disaster case, no
//! cluster) still shows the app version and backup-set id, and can pair admin and tenant
//! backups into sets.
//!
//! When a Backup completes, the control loop writes one small JSON object,
//! `<prefix>/<server>/base/<backupId>/cnpg-backup.json` ([`PROVENANCE_FILE`]), beside Barman's
//! `backup.info`. It is ours: Barman never reads it (it lists backup folders and reads
//! `backup.info`), and it goes away with the folder when Barman's retention deletes the backup
//! (`barman-cloud-backup-delete` deletes every object under the folder). We never write, rewrite
//! or delete any of Barman's files; the record is written once, create-only.
//!
//! Reading is forgiving: a record that is missing, unreadable, too large, of another schema or
//! about another backup only loses the columns it would fill ([`Provenance::Absent`],
//! [`Provenance::Unreadable`]); the backup's row is Barman's and stays.
//!
//! Not here: any I/O (the adapter lists, reads and writes), nor deciding when to write (the
//! control loop does, for completed Backups).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::automation::BackupMethod;
use crate::barman::{self, BarmanStatus, BucketBackup};
use crate::catalog::{BackupPhase, BackupRecord, BackupSetId, BarmanBackupId, StoragePresence};
use crate::drift::AppVersion;
use crate::names::{ClusterName, ObjectName, Plane, ServerName, truncate_for_message};

/// The record's file name inside a backup folder. Not a name Barman uses.
pub const PROVENANCE_FILE: &str = "cnpg-backup.json";

/// The record's schema version. A record of another version is not read (its columns are
/// lost, the row stays); fields added later without changing the meaning of these keep it.
pub const PROVENANCE_SCHEMA: u32 = 1;

/// The largest record read (ours are about 500 bytes).
pub const PROVENANCE_MAX_BYTES: usize = 16 * 1024;

/// What [`BackupProvenance::written_by`] starts with.
pub const WRITER: &str = "cnpg-backup";

/// The key of a backup's record: `<prefix>/<server>/base/<backupId>/cnpg-backup.json`.
pub fn provenance_key(prefix: &str, server: &ServerName, id: &BarmanBackupId) -> String {
    format!(
        "{}{id}/{PROVENANCE_FILE}",
        barman::base_prefix(prefix, server)
    )
}

/// Why a record was not read, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProvenanceError {
    /// Larger than [`PROVENANCE_MAX_BYTES`].
    #[error("the provenance record is {len} bytes; the limit is {max} bytes")]
    TooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// Not a record: not JSON, a field missing or of the wrong shape.
    #[error("the provenance record is unreadable: {detail}")]
    Unreadable {
        /// The parser's complaint.
        detail: String,
    },
    /// Another schema version.
    #[error(
        "the provenance record has schema version {found}; this version reads schema version {expected}"
    )]
    OtherSchema {
        /// The record's version.
        found: u32,
        /// [`PROVENANCE_SCHEMA`].
        expected: u32,
    },
    /// About another backup than the folder it is in (copied by hand?).
    #[error(
        "the provenance record names {field} `{found}`, but it is in the folder of `{expected}`"
    )]
    OtherBackup {
        /// `serverName` or `backupId`.
        field: &'static str,
        /// What the record says.
        found: String,
        /// What the folder is.
        expected: String,
    },
    /// The Backup cannot be recorded yet: it has not completed, or CNPG recorded no backup id.
    #[error("backup `{backup}` cannot be recorded: {why}")]
    NotRecordable {
        /// The Backup's name.
        backup: String,
        /// Why.
        why: &'static str,
    },
}

/// What the cluster knew about one backup when it completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackupProvenance {
    /// [`PROVENANCE_SCHEMA`].
    pub schema_version: u32,
    /// Who wrote it: `cnpg-backup/<version>`.
    pub written_by: String,
    /// When it was written.
    pub written_at: DateTime<Utc>,
    /// The app version recorded on the Backup (`None` when it carried none).
    pub app_version: Option<AppVersion>,
    /// The backup-set id recorded on the Backup (`None` when it carried none).
    pub backup_set_id: Option<BackupSetId>,
    /// The plane whose live cluster took it.
    pub plane: Option<Plane>,
    /// The cluster it belongs to.
    pub cluster: ClusterName,
    /// The CNPG Backup object's name.
    pub backup: ObjectName,
    /// How it was taken.
    pub method: BackupMethod,
    /// The archive server name (the folder it is in).
    pub server_name: ServerName,
    /// The Barman backup id (the folder it is in).
    pub backup_id: BarmanBackupId,
}

/// Only the schema version, read first so a record of another version is named as such.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaOnly {
    schema_version: u32,
}

impl BackupProvenance {
    /// The record of a completed Backup, archived under `server`, written by `writer_version`
    /// of cnpg-backup at `now`. `plane` is the plane whose live cluster it belongs to.
    ///
    /// # Errors
    /// [`ProvenanceError::NotRecordable`] when the Backup has not completed or has no Barman
    /// backup id (there is no folder to write it in).
    pub fn of_record(
        record: &BackupRecord,
        plane: Option<Plane>,
        server: ServerName,
        writer_version: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, ProvenanceError> {
        let not = |why| ProvenanceError::NotRecordable {
            backup: record.name.to_string(),
            why,
        };
        if record.phase != BackupPhase::Completed {
            return Err(not("it has not completed"));
        }
        let backup_id = record
            .backup_id
            .clone()
            .ok_or_else(|| not("CNPG recorded no Barman backup id for it"))?;
        Ok(Self {
            schema_version: PROVENANCE_SCHEMA,
            written_by: format!("{WRITER}/{writer_version}"),
            written_at: now,
            app_version: record.app_version.clone(),
            backup_set_id: record.backup_set_id.clone(),
            plane: plane.or(record.plane),
            cluster: record.cluster.clone(),
            backup: record.name.clone(),
            method: record.method,
            server_name: server,
            backup_id,
        })
    }

    /// Its key under `prefix`.
    pub fn key(&self, prefix: &str) -> String {
        provenance_key(prefix, &self.server_name, &self.backup_id)
    }

    /// The record as written: pretty JSON, one trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain strings, numbers and validated newtypes: serialising cannot fail.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Reads the record found in the folder of backup `id` of `server`.
    ///
    /// # Errors
    /// [`ProvenanceError`] when it is too large, not a record, of another schema version, or
    /// about another backup than its folder's.
    pub fn parse(
        bytes: &[u8],
        server: &ServerName,
        id: &BarmanBackupId,
    ) -> Result<Self, ProvenanceError> {
        if bytes.len() > PROVENANCE_MAX_BYTES {
            return Err(ProvenanceError::TooLarge {
                len: bytes.len() as u64,
                max: PROVENANCE_MAX_BYTES,
            });
        }
        let unreadable = |e: serde_json::Error| ProvenanceError::Unreadable {
            detail: truncate_for_message(&e.to_string()),
        };
        let head: SchemaOnly = serde_json::from_slice(bytes).map_err(unreadable)?;
        if head.schema_version != PROVENANCE_SCHEMA {
            return Err(ProvenanceError::OtherSchema {
                found: head.schema_version,
                expected: PROVENANCE_SCHEMA,
            });
        }
        let record: Self = serde_json::from_slice(bytes).map_err(unreadable)?;
        if &record.server_name != server {
            return Err(ProvenanceError::OtherBackup {
                field: "serverName",
                found: record.server_name.to_string(),
                expected: server.to_string(),
            });
        }
        if &record.backup_id != id {
            return Err(ProvenanceError::OtherBackup {
                field: "backupId",
                found: record.backup_id.to_string(),
                expected: id.to_string(),
            });
        }
        Ok(record)
    }
}

/// What the bucket holds of a backup's provenance record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Provenance {
    /// No record (older backups, backups taken without the control loop, or not written yet).
    #[default]
    Absent,
    /// The record, read and checked.
    Recorded {
        /// The record.
        record: Box<BackupProvenance>,
    },
    /// A record is there but could not be used (unreadable, too large, another schema, access
    /// denied): its columns are lost, the row stays.
    Unreadable {
        /// Why, for people.
        reason: String,
    },
}

impl Provenance {
    /// The record, when there is a usable one.
    pub fn record(&self) -> Option<&BackupProvenance> {
        match self {
            Provenance::Recorded { record } => Some(record),
            _ => None,
        }
    }

    /// Why the record could not be used, when it could not.
    pub fn warning(&self) -> Option<&str> {
        match self {
            Provenance::Unreadable { reason } => Some(reason),
            _ => None,
        }
    }

    /// The outcome of parsing bytes read from the folder of `id` of `server`.
    pub fn from_bytes(bytes: &[u8], server: &ServerName, id: &BarmanBackupId) -> Self {
        match BackupProvenance::parse(bytes, server, id) {
            Ok(record) => Provenance::Recorded {
                record: Box::new(record),
            },
            Err(e) => Provenance::Unreadable {
                reason: e.to_string(),
            },
        }
    }
}

/// What writing one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvenanceWrite {
    /// Written now.
    Written,
    /// A record was there already (never overwritten).
    AlreadyThere,
    /// The backup's folder has no `backup.info` under that server name: nothing was written
    /// (a record alone would look like a torn backup to Barman's readers).
    NoBackupInfo,
}

/// The catalog record of a backup read from the bucket, for pairing sets without a cluster:
/// Barman's status, times, timeline; the record's Backup name, cluster, app version, set id
/// and method when there is one. Without a record the name is Barman's backup name (CNPG's
/// `backup-YYYYMMDDHHMMSS`), else the lowercase backup id, and the cluster is the server name
/// (CNPG's default server name is the cluster's name); `None` when even those are not valid
/// names. `plane` is the plane the reader's settings give the server; the record's is used
/// when they give none.
pub fn bucket_record(b: &BucketBackup, plane: Option<Plane>) -> Option<BackupRecord> {
    let rec = b.provenance.record();
    let info = b.info.as_ref().ok();
    let name = match rec {
        Some(r) => r.backup.clone(),
        None => info
            .and_then(|i| i.backup_name.as_deref())
            .and_then(|n| n.parse().ok())
            .or_else(|| b.backup_id.as_str().to_ascii_lowercase().parse().ok())?,
    };
    let cluster = match rec {
        Some(r) => r.cluster.clone(),
        None => b.server.as_str().parse().ok()?,
    };
    let method = rec.map_or(BackupMethod::BarmanObjectStore, |r| r.method);
    let mut out = BackupRecord::new(name, cluster, method);
    out.plane = plane.or(rec.and_then(|r| r.plane));
    out.phase = match info.map(|i| i.status) {
        Some(BarmanStatus::Done) => BackupPhase::Completed,
        Some(BarmanStatus::Failed) => BackupPhase::Failed,
        Some(BarmanStatus::Empty) | None => BackupPhase::Pending,
        Some(BarmanStatus::Started | BarmanStatus::WaitingForWals | BarmanStatus::Syncing) => {
            BackupPhase::Running
        }
    };
    out.started_at = info.and_then(|i| i.begin_time);
    out.ended_at = info.and_then(|i| i.end_time);
    out.backup_id = Some(b.backup_id.clone());
    out.server_name = Some(b.server.clone());
    out.timeline = info.and_then(|i| i.timeline);
    out.app_version = rec.and_then(|r| r.app_version.clone());
    out.backup_set_id = rec.and_then(|r| r.backup_set_id.clone());
    out.storage = if info.is_some() {
        StoragePresence::Present
    } else {
        StoragePresence::Missing
    };
    out.error = info.and_then(|i| i.error.clone());
    Some(out)
}

/// The bucket's backups as catalog records, split by plane (admin, tenant), ready for
/// [`crate::catalog::pair_sets`]: sets pair by the set id their records carry, else by start
/// time, with no cluster to ask. Backups of servers of neither plane (by `plane_of`, the
/// reader's settings, else the record's plane) are left out.
pub fn bucket_records_by_plane(
    backups: &[BucketBackup],
    plane_of: impl Fn(&ServerName) -> Option<Plane>,
) -> (Vec<BackupRecord>, Vec<BackupRecord>) {
    let mut admin = Vec::new();
    let mut tenant = Vec::new();
    for b in backups {
        let Some(r) = bucket_record(b, plane_of(&b.server)) else {
            continue;
        };
        match r.plane {
            Some(Plane::Admin) => admin.push(r),
            Some(Plane::Tenant) => tenant.push(r),
            None => {}
        }
    }
    (admin, tenant)
}

#[cfg(test)]
mod tests;
