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
use crate::provenance::Provenance;

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

    /// Whether Barman is done with this backup: `DONE` or `FAILED`. Any other status is
    /// rewritten as the backup runs (`STARTED` → `DONE`), so a copy of it goes stale.
    pub fn is_settled(self) -> bool {
        matches!(self, BarmanStatus::Done | BarmanStatus::Failed)
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
    #[error("backup.info is {len} bytes; the limit is {max} bytes")]
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

/// Compression suffixes Barman Cloud may add to a WAL file name.
const WAL_COMPRESSION_SUFFIXES: [&str; 6] = [".gz", ".bz2", ".xz", ".snappy", ".zst", ".lz4"];

/// Whether `name` (the last key segment) is a WAL archive file as Barman counts it: a segment
/// (`000000010000000000000002`), a partial segment (`….partial`), a backup history file
/// (`….00000028.backup`) or a timeline history file (`00000002.history`), each possibly
/// compressed (`.gz`, `.bz2`, `.xz`, `.snappy`, `.zst`, `.lz4`).
///
/// This is what `barman-cloud-check-wal-archive` looks at: any such file under `<server>/wals/`
/// means the archive is not empty ("Expected empty archive").
pub fn is_wal_file_name(name: &str) -> bool {
    let name = WAL_COMPRESSION_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    };
    if let Some(tli) = name.strip_suffix(".history") {
        return hex(tli, 8);
    }
    let name = name.strip_suffix(".partial").unwrap_or(name);
    if let Some(rest) = name.strip_suffix(".backup") {
        return match rest.split_once('.') {
            Some((seg, offset)) => hex(seg, 24) && hex(offset, 8),
            None => false,
        };
    }
    hex(name, 24)
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
    /// Our provenance record beside it ([`crate::provenance`]): what the cluster knew.
    #[serde(default)]
    pub provenance: Provenance,
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
            provenance: Provenance::Absent,
        }
    }

    /// The same entry with its provenance record.
    pub fn with_provenance(mut self, provenance: Provenance) -> Self {
        self.provenance = provenance;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/barman-bucket"
        ))
        .to_path_buf()
    }

    /// Every `backup.info` under the fixture bucket: (server, id, bytes).
    fn fixture_infos() -> Vec<(String, String, Vec<u8>)> {
        let mut out = Vec::new();
        let platform = fixtures().join("bucket/platform");
        for server in std::fs::read_dir(&platform).unwrap() {
            let server = server.unwrap();
            for id in std::fs::read_dir(server.path().join("base")).unwrap() {
                let id = id.unwrap();
                let bytes = std::fs::read(id.path().join("backup.info")).unwrap();
                out.push((
                    server.file_name().into_string().unwrap(),
                    id.file_name().into_string().unwrap(),
                    bytes,
                ));
            }
        }
        out.sort();
        out
    }

    fn iso(v: &serde_json::Value) -> Option<DateTime<Utc>> {
        v.as_str()
            .map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn every_fixture_agrees_with_barman_cloud_backup_list() {
        let infos = fixture_infos();
        assert_eq!(infos.len(), 6, "the fixture bucket holds six backups");
        let mut compared = 0;
        for server in ["cnpg-admin", "cnpg-tenant"] {
            let listed: serde_json::Value = serde_json::from_slice(
                &std::fs::read(fixtures().join(format!("commands/backup-list.{server}.json")))
                    .unwrap(),
            )
            .unwrap();
            let listed = listed["backups_list"].as_array().unwrap();
            assert_eq!(listed.len(), 3);
            for entry in listed {
                let id = entry["backup_id"].as_str().unwrap();
                let (_, _, bytes) = infos
                    .iter()
                    .find(|(s, i, _)| s == server && i == id)
                    .unwrap_or_else(|| panic!("{server}/{id} listed by barman, not in the bucket"));
                let info = BackupInfo::parse(bytes).unwrap();
                assert_eq!(
                    info.status.as_str(),
                    entry["status"].as_str().unwrap(),
                    "{id}"
                );
                assert_eq!(
                    info.backup_name.as_deref(),
                    entry["backup_name"].as_str(),
                    "{id}"
                );
                assert_eq!(info.begin_time, iso(&entry["begin_time_iso"]), "{id}");
                // A FAILED backup has `"end_time": null` and no `end_time_iso` key at all.
                assert_eq!(info.end_time, iso(&entry["end_time_iso"]), "{id}");
                assert_eq!(
                    info.begin_wal.as_deref(),
                    entry["begin_wal"].as_str(),
                    "{id}"
                );
                assert_eq!(info.end_wal.as_deref(), entry["end_wal"].as_str(), "{id}");
                assert_eq!(
                    info.timeline.map(u64::from),
                    entry["timeline"].as_u64(),
                    "{id}"
                );
                assert_eq!(
                    info.pg_version.map(u64::from),
                    entry["version"].as_u64(),
                    "{id}"
                );
                assert_eq!(info.error.as_deref(), entry["error"].as_str(), "{id}");
                assert_eq!(info.server_name.as_deref(), Some("cloud"));
                compared += 1;
            }
        }
        assert_eq!(compared, 6);
    }

    #[test]
    fn fixture_statuses_are_five_done_and_one_failed() {
        let statuses: Vec<(String, BarmanStatus)> = fixture_infos()
            .iter()
            .map(|(_, id, b)| (id.clone(), BackupInfo::parse(b).unwrap().status))
            .collect();
        let failed: Vec<&str> = statuses
            .iter()
            .filter(|(_, s)| *s == BarmanStatus::Failed)
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(failed, ["20261126T045141"]);
        let done = statuses
            .iter()
            .filter(|(_, s)| *s == BarmanStatus::Done)
            .count();
        assert_eq!(done, 5);
    }

    #[test]
    fn failed_fixture_keeps_the_error_and_has_no_end() {
        let bytes = std::fs::read(
            fixtures().join("bucket/platform/cnpg-tenant/base/20261126T045141/backup.info"),
        )
        .unwrap();
        let info = BackupInfo::parse(&bytes).unwrap();
        assert_eq!(info.status, BarmanStatus::Failed);
        assert_eq!(info.end_time, None);
        assert_eq!(info.end_wal, None);
        assert!(
            info.error
                .as_deref()
                .unwrap()
                .starts_with("failure uploading data ([Errno 13] Permission denied")
        );
        assert_eq!(info.begin_wal.as_deref(), Some("000000010000000000000009"));
    }

    #[test]
    fn in_progress_fixture_is_started_without_end_or_name() {
        let mut found = 0;
        let mut stack = vec![fixtures().join("in-progress")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else if e.file_name() == "backup.info" {
                    let info = BackupInfo::parse(&std::fs::read(e.path()).unwrap()).unwrap();
                    assert_eq!(info.status, BarmanStatus::Started);
                    assert_eq!(info.backup_name, None);
                    assert_eq!(info.end_time, None);
                    assert_eq!(info.end_wal, None);
                    assert_eq!(info.timeline, Some(1));
                    assert!(info.begin_time.is_some());
                    found += 1;
                }
            }
        }
        assert_eq!(found, 1);
    }

    #[test]
    fn render_then_parse_gives_the_same_info_for_every_fixture() {
        for (_, id, bytes) in fixture_infos() {
            let info = BackupInfo::parse(&bytes).unwrap();
            assert_eq!(
                BackupInfo::parse(info.render().as_bytes()).unwrap(),
                info,
                "{id}"
            );
        }
    }

    #[test]
    fn render_of_a_fixture_is_byte_for_byte_when_nothing_changed() {
        for (_, id, bytes) in fixture_infos() {
            let info = BackupInfo::parse(&bytes).unwrap();
            assert_eq!(info.render().as_bytes(), bytes.as_slice(), "{id}");
        }
    }

    #[test]
    fn parse_rejects_what_is_not_a_backup_info() {
        assert_eq!(
            BackupInfo::parse(b"status=DONE\nno equals sign\n"),
            Err(BackupInfoError::BadLine { line: 2 })
        );
        assert_eq!(
            BackupInfo::parse(b"begin_time=None\n"),
            Err(BackupInfoError::MissingKey { key: "status" })
        );
        assert!(matches!(
            BackupInfo::parse(b"status=DONE\nbegin_time=yesterday\n"),
            Err(BackupInfoError::BadValue {
                key: "begin_time",
                ..
            })
        ));
        assert!(matches!(
            BackupInfo::parse(b"status=BROKEN\n"),
            Err(BackupInfoError::BadValue { key: "status", .. })
        ));
        assert_eq!(
            BackupInfo::parse(&[0xff, 0xfe]),
            Err(BackupInfoError::NotUtf8)
        );
        let big = vec![b'a'; BACKUP_INFO_MAX_BYTES + 1];
        assert!(matches!(
            BackupInfo::parse(&big),
            Err(BackupInfoError::TooLarge { .. })
        ));
    }

    #[test]
    fn wal_file_names_count_as_barman_counts_them() {
        for yes in [
            "000000010000000000000002",
            "000000010000000000000002.gz",
            "000000010000000000000002.00000028.backup.gz",
            "000000010000000000000003",
            "00000002.history",
            "00000002.history.gz",
            "000000010000000000000004.partial",
            "0000000100000000000000AB.zst",
        ] {
            assert!(is_wal_file_name(yes), "{yes}");
        }
        for no in [
            "",
            "backup.info",
            "00000001000000000000000",
            "0000000100000000000000ab",
            "000000010000000000000002.tmp",
            "0000002.history",
            "000000010000000000000002.backup",
        ] {
            assert!(!is_wal_file_name(no), "{no}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_accepts_its_own_render(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            if let Ok(info) = BackupInfo::parse(&bytes) {
                proptest::prop_assert!(BackupInfo::parse(info.render().as_bytes()).is_ok());
            }
        }

        #[test]
        fn key_value_text_never_panics(text in "([a-z_]{0,12}=[ -~]{0,30}\n){0,12}") {
            let with_status = format!("status=DONE\n{text}");
            for input in [text.as_str(), with_status.as_str()] {
                if let Ok(info) = BackupInfo::parse(input.as_bytes()) {
                    proptest::prop_assert!(BackupInfo::parse(info.render().as_bytes()).is_ok());
                }
            }
        }

        #[test]
        fn status_and_wal_name_checks_never_panic(s in proptest::prelude::any::<String>()) {
            if let Some(status) = BarmanStatus::parse(&s) {
                proptest::prop_assert_eq!(status.as_str(), s.as_str());
            }
            let _ = is_wal_file_name(&s);
        }
    }

    #[test]
    fn layout_keys_join_prefix_server_and_id() {
        let server: ServerName = "cnpg-admin".parse().unwrap();
        let id: BarmanBackupId = "20261126T045007".parse().unwrap();
        assert_eq!(
            base_prefix("platform", &server),
            "platform/cnpg-admin/base/"
        );
        assert_eq!(base_prefix("", &server), "cnpg-admin/base/");
        assert_eq!(wals_prefix("/a/b/", &server), "a/b/cnpg-admin/wals/");
        assert_eq!(
            backup_info_key("platform", &server, &id),
            "platform/cnpg-admin/base/20261126T045007/backup.info"
        );
    }
}
