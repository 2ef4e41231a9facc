//! Barman Cloud's bucket layout and its `backup.info` file format (pure parsing and rendering).
//!
//! Layout: `<prefix>/<serverName>/base/<backupId>/backup.info` and
//! `<prefix>/<serverName>/wals/<TLI><LOG>/<segment>`. `backup.info` is one `key=value` per line,
//! keys sorted, Python `None` for nulls, times as Python `str(datetime)` with an offset.
//! Not here: listing or reading a bucket (adapters do that through [`crate::ports`]).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::BarmanBackupId;
use crate::names::ServerName;

/// The largest `backup.info` we parse (real ones are about 1.5 KiB).
pub const BACKUP_INFO_MAX_BYTES: usize = 256 * 1024;

/// Barman's backup status (`status=` in `backup.info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BarmanStatus {
    /// `EMPTY`.
    Empty,
    /// `STARTED`: the backup is running (Barman 3.19 uploads this early).
    Started,
    /// `WAITING_FOR_WALS`.
    WaitingForWals,
    /// `DONE`.
    Done,
    /// `SYNCING`.
    Syncing,
    /// `FAILED`.
    Failed,
}

impl BarmanStatus {
    /// Parses Barman's spelling.
    pub fn parse(s: &str) -> Option<BarmanStatus> {
        Some(match s {
            "EMPTY" => BarmanStatus::Empty,
            "STARTED" => BarmanStatus::Started,
            "WAITING_FOR_WALS" => BarmanStatus::WaitingForWals,
            "DONE" => BarmanStatus::Done,
            "SYNCING" => BarmanStatus::Syncing,
            "FAILED" => BarmanStatus::Failed,
            _ => return None,
        })
    }

    /// Barman's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BarmanStatus::Empty => "EMPTY",
            BarmanStatus::Started => "STARTED",
            BarmanStatus::WaitingForWals => "WAITING_FOR_WALS",
            BarmanStatus::Done => "DONE",
            BarmanStatus::Syncing => "SYNCING",
            BarmanStatus::Failed => "FAILED",
        }
    }
}

/// Why a `backup.info` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupInfoError {
    /// Larger than [`BACKUP_INFO_MAX_BYTES`].
    #[error("backup.info is {len} bytes; the limit is {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8.
    #[error("backup.info is not UTF-8 text")]
    NotUtf8,
    /// A line without `=`.
    #[error("backup.info line {line}: expected `key=value`")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
    /// A required key is missing.
    #[error("backup.info has no `{key}` line")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A value has the wrong shape.
    #[error("backup.info `{key}={value}`: {expected}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value (shortened).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// The fields of a `backup.info` this project uses (every other key is kept in `other`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackupInfo {
    /// `status`.
    pub status: BarmanStatus,
    /// `backup_name` (CNPG sets `backup-YYYYMMDDHHMMSS`); absent when null.
    pub backup_name: Option<String>,
    /// `begin_time`.
    pub begin_time: Option<DateTime<Utc>>,
    /// `end_time`.
    pub end_time: Option<DateTime<Utc>>,
    /// `begin_wal`.
    pub begin_wal: Option<String>,
    /// `end_wal`.
    pub end_wal: Option<String>,
    /// `timeline`.
    pub timeline: Option<u32>,
    /// `server_name` (Barman Cloud writes `cloud` whatever the serverName).
    pub server_name: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `version` (PostgreSQL server version number, e.g. 150018).
    pub pg_version: Option<u32>,
    /// Every other key, raw.
    pub other: BTreeMap<String, String>,
}

/// Parses a Python `str(datetime)` with offset: `2026-11-26 04:50:07.123456+00:00`.
fn parse_python_time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::<FixedOffset>::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f%:z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn none_if_null(v: &str) -> Option<&str> {
    if v == "None" || v.is_empty() {
        None
    } else {
        Some(v)
    }
}

impl BackupInfo {
    /// A fresh `backup.info` with `status` and nothing else (used by the simulator).
    pub fn new(status: BarmanStatus) -> Self {
        Self {
            status,
            backup_name: None,
            begin_time: None,
            end_time: None,
            begin_wal: None,
            end_wal: None,
            timeline: None,
            server_name: None,
            error: None,
            pg_version: None,
            other: BTreeMap::new(),
        }
    }

    /// Parses the bytes of a `backup.info`.
    ///
    /// # Errors
    /// [`BackupInfoError`] naming the line or key that is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, BackupInfoError> {
        if bytes.len() > BACKUP_INFO_MAX_BYTES {
            return Err(BackupInfoError::TooLarge {
                len: bytes.len(),
                max: BACKUP_INFO_MAX_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| BackupInfoError::NotUtf8)?;
        let mut map = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or(BackupInfoError::BadLine { line: i + 1 })?;
            map.insert(k.to_owned(), v.to_owned());
        }
        let mut take = |k: &str| map.remove(k);
        let status_raw = take("status").ok_or(BackupInfoError::MissingKey { key: "status" })?;
        let status = BarmanStatus::parse(&status_raw).ok_or_else(|| BackupInfoError::BadValue {
            key: "status",
            value: crate::names::truncate_for_message(&status_raw),
            expected: "one of EMPTY, STARTED, WAITING_FOR_WALS, DONE, SYNCING, FAILED",
        })?;
        let time = |key: &'static str,
                    v: Option<String>|
         -> Result<Option<DateTime<Utc>>, BackupInfoError> {
            match v.as_deref().and_then(none_if_null) {
                None => Ok(None),
                Some(s) => {
                    parse_python_time(s)
                        .map(Some)
                        .ok_or_else(|| BackupInfoError::BadValue {
                            key,
                            value: crate::names::truncate_for_message(s),
                            expected: "a time like `2026-11-26 04:50:07.123456+00:00`",
                        })
                }
            }
        };
        let begin_time = time("begin_time", take("begin_time"))?;
        let end_time = time("end_time", take("end_time"))?;
        let opt = |v: Option<String>| v.as_deref().and_then(none_if_null).map(str::to_owned);
        let backup_name = opt(take("backup_name"));
        let begin_wal = opt(take("begin_wal"));
        let end_wal = opt(take("end_wal"));
        let server_name = opt(take("server_name"));
        let error = opt(take("error"));
        let timeline = match opt(take("timeline")) {
            None => None,
            Some(s) => Some(s.parse::<u32>().map_err(|_| BackupInfoError::BadValue {
                key: "timeline",
                value: crate::names::truncate_for_message(&s),
                expected: "a positive integer",
            })?),
        };
        let pg_version = match opt(take("version")) {
            None => None,
            Some(s) => Some(s.parse::<u32>().map_err(|_| BackupInfoError::BadValue {
                key: "version",
                value: crate::names::truncate_for_message(&s),
                expected: "an integer such as 150018",
            })?),
        };
        Ok(Self {
            status,
            backup_name,
            begin_time,
            end_time,
            begin_wal,
            end_wal,
            timeline,
            server_name,
            error,
            pg_version,
            other: map,
        })
    }

    /// Renders the file as Barman writes it: keys sorted, `None` for nulls, `backup_name` omitted when null.
    pub fn render(&self) -> String {
        let mut map: BTreeMap<&str, String> = self
            .other
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let t = |v: &Option<DateTime<Utc>>| {
            v.map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string())
                .unwrap_or_else(|| "None".to_owned())
        };
        let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "None".to_owned());
        map.insert("status", self.status.as_str().to_owned());
        if let Some(n) = &self.backup_name {
            map.insert("backup_name", n.clone());
        }
        map.insert("begin_time", t(&self.begin_time));
        map.insert("end_time", t(&self.end_time));
        map.insert("begin_wal", s(&self.begin_wal));
        map.insert("end_wal", s(&self.end_wal));
        map.insert("server_name", s(&self.server_name));
        map.insert("error", s(&self.error));
        map.insert(
            "timeline",
            self.timeline
                .map_or_else(|| "None".to_owned(), |v| v.to_string()),
        );
        map.insert(
            "version",
            self.pg_version
                .map_or_else(|| "None".to_owned(), |v| v.to_string()),
        );
        let mut out = String::new();
        for (k, v) in map {
            out.push_str(k);
            out.push('=');
            out.push_str(&v);
            out.push('\n');
        }
        out
    }
}

/// Key of the `base/` folder of a server: `<prefix>/<server>/base/`.
pub fn base_prefix(prefix: &str, server: &ServerName) -> String {
    join(prefix, &format!("{server}/base/"))
}

/// Key of the `wals/` folder of a server: `<prefix>/<server>/wals/`.
pub fn wals_prefix(prefix: &str, server: &ServerName) -> String {
    join(prefix, &format!("{server}/wals/"))
}

/// Key of a backup's `backup.info`.
pub fn backup_info_key(prefix: &str, server: &ServerName, id: &BarmanBackupId) -> String {
    join(prefix, &format!("{server}/base/{id}/backup.info"))
}

fn join(prefix: &str, rest: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        rest.to_owned()
    } else {
        format!("{p}/{rest}")
    }
}

/// What the bucket holds for one backup folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BucketBackup {
    /// The server folder it was found under.
    pub server: ServerName,
    /// The backup id (folder name).
    pub backup_id: BarmanBackupId,
    /// The parsed `backup.info`, or why it could not be read (missing, unreadable, malformed).
    pub info: Result<BackupInfo, String>,
}

impl BucketBackup {
    /// A bucket entry.
    pub fn new(
        server: ServerName,
        backup_id: BarmanBackupId,
        info: Result<BackupInfo, String>,
    ) -> Self {
        Self {
            server,
            backup_id,
            info,
        }
    }
}
