//! The bucket catalog cache: reuse every `backup.info` a listing shows unchanged, read only
//! what changed.
//!
//! With a cache document, a catalog read lists `<prefix>/<server>/base/` recursively.
//! Object-store listings give each object's [`ObjectIdentity`] (ETag, size, last-modified), so
//! the listing alone says which `backup.info` files are the very versions read last time.
//! [`CatalogRefresh`] decides, key by key as the listing arrives ([`CatalogRefresh::observe`]),
//! whether the cached copy of a `backup.info` is used or the key is read again; the adapter
//! reads what it is told to, reports each [`ReadOutcome`], and [`CatalogRefresh::finish`]
//! returns the catalog (equal to a cold read) and the new [`ServerCatalogCache`] document.
//!
//! Without a document there is nothing to compare, and a recursive listing costs a page per
//! 1 000 keys (about two per backup) where a listing by delimiter costs a page per 1 000
//! backups and is much cheaper to serve. So a cold read lists the folders by delimiter, as
//! Barman does, reads every `backup.info` ([`CatalogRefresh::observe_folder`]), and takes each
//! identity from the read's own response.
//!
//! The rules ("never wrong, only slower"):
//! - a cached copy is used only when the listing shows the same identity for that key
//!   ([`ObjectIdentity::same_as`]: the same ETag, there must be one, size and second), and its
//!   status is settled (`DONE` or `FAILED`, [`BarmanStatus::is_settled`]);
//! - an unsettled copy (`STARTED`, `WAITING_FOR_WALS`, `SYNCING`, `EMPTY`) or a malformed one
//!   with an unchanged identity is read again with `If-None-Match: <etag>`, so a provider that
//!   honours it answers 304 and the copy is reused without a body; anything else is read in full;
//! - a folder without `backup.info` (torn), a failed read, a body whose ETag is not the listed
//!   one, a body without ETag, non-UTF-8 or oversized content are never cached: they are
//!   reported as a cold read reports them (with the same messages), and read again next time;
//! - a document of another [`CATALOG_CACHE_FORMAT`] or another [`CacheScope`] (provider,
//!   endpoint, bucket, prefix, server) is never used.
//!
//! The cache stores `backup.info` text, not parsed records: every read parses it with the
//! running version's parser, so a cached catalog is the cold catalog even across upgrades.
//!
//! Our provenance record beside a `backup.info` ([`crate::provenance`]) rides along: a
//! recursive listing shows whether a folder has one and its identity, so a record is read once
//! (or when it changes), its text is cached with the folder's entry, and a record written after
//! the last read is picked up by the next listing. A record that cannot be read loses only its
//! columns ([`Provenance::Unreadable`]); a folder that holds nothing but our record (Barman's
//! retention deleted the backup's own files, and Barman deletes only the files it knows) is not
//! a backup and is left out.
//!
//! Not here: where documents live (files, memory, the index object in the bucket) and any I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::barman::{self, BACKUP_INFO_MAX_BYTES, BackupInfo, BucketBackup};
use crate::catalog::BarmanBackupId;
use crate::names::ServerName;
use crate::provenance::{PROVENANCE_FILE, PROVENANCE_MAX_BYTES, Provenance};
use crate::target::Provider;

/// The version of the [`ServerCatalogCache`] document. A document of any other version is
/// ignored (and rebuilt by the next read).
pub const CATALOG_CACHE_FORMAT: u32 = 1;

/// The largest cache document read (about 35 000 backups of one server).
pub const CATALOG_CACHE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Our own folder under a destination path, beside Barman's server folders. It is never a
/// server name (those are DNS labels, which cannot start with a dot), and Barman never reads it.
pub const OWN_FOLDER: &str = ".cnpg-backup";

/// The key of a server's catalog index object: `<prefix>/.cnpg-backup/catalog-index/<server>.json`.
/// It holds the [`ServerCatalogCache`] document of that server, so that a reader whose own
/// cache is cold (a new machine in a disaster) starts warm.
pub fn catalog_index_key(prefix: &str, server: &ServerName) -> String {
    let p = prefix.trim_matches('/');
    let rest = format!("{OWN_FOLDER}/catalog-index/{server}.json");
    if p.is_empty() {
        rest
    } else {
        format!("{p}/{rest}")
    }
}

/// One version of one object, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ObjectIdentity {
    /// The ETag, quotes included, as the store returns it (`None` when the store gives none).
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Last-modified time.
    pub last_modified: DateTime<Utc>,
}

impl ObjectIdentity {
    /// An identity.
    pub fn new(etag: Option<String>, size: u64, last_modified: DateTime<Utc>) -> Self {
        Self {
            etag,
            size,
            last_modified,
        }
    }

    /// Whether `other` is the same version of the object: the same ETag (there must be one:
    /// size and time alone cannot tell a rewrite within the same second), the same size, and
    /// the same last-modified second. Times are compared to the second because a read's
    /// `Last-Modified` header has one-second resolution where a listing may give milliseconds;
    /// the ETag is what tells versions apart. ETags are compared without their quotes, which
    /// listings and headers do not always agree on (Azure lists `0x8D…`, answers `"0x8D…"`).
    pub fn same_as(&self, other: &ObjectIdentity) -> bool {
        same_etag(self.etag.as_deref(), other.etag.as_deref())
            && self.size == other.size
            && self.last_modified.timestamp() == other.last_modified.timestamp()
    }
}

/// An ETag's value: without a weak `W/` prefix and the quotes.
fn etag_value(etag: &str) -> &str {
    etag.strip_prefix("W/").unwrap_or(etag).trim_matches('"')
}

/// Two ETags that are both there and name the same version.
fn same_etag(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => etag_value(a) == etag_value(b),
        _ => false,
    }
}

/// An ETag as an `If-None-Match` value: quoted, as HTTP wants it whatever the listing showed.
fn if_none_match(etag: &str) -> String {
    format!("\"{}\"", etag_value(etag))
}

/// Which catalog a cache document belongs to. A document is used only for the scope it was
/// made for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheScope {
    /// The provider.
    pub provider: Provider,
    /// The endpoint the bucket is reached at (normalised by the adapter), if any.
    pub endpoint: Option<String>,
    /// The bucket (container, directory).
    pub bucket: String,
    /// The path prefix inside the bucket, without leading or trailing `/`.
    pub prefix: String,
    /// The Barman server name.
    pub server: ServerName,
}

/// FNV-1a, 64 bits: a stable hash for file names (std's hasher may change between releases).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl CacheScope {
    /// The scope of `server`'s catalog in `bucket` under `prefix` (slashes around it removed).
    pub fn new(
        provider: Provider,
        endpoint: Option<String>,
        bucket: impl Into<String>,
        prefix: &str,
        server: ServerName,
    ) -> Self {
        Self {
            provider,
            endpoint,
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').to_owned(),
            server,
        }
    }

    /// `<prefix>/<server>/base/`: the folder the catalog lists.
    pub fn base_prefix(&self) -> String {
        barman::base_prefix(&self.prefix, &self.server)
    }

    /// A file name stem unique to this scope, stable across releases and safe on every file
    /// system: a readable part (bucket, prefix, server; at most 80 characters of
    /// `[A-Za-z0-9._-]`) and a 64-bit hash of every field, e.g.
    /// `cnpg-backups_platform_cnpg-admin-3f2a…`.
    pub fn file_stem(&self) -> String {
        let readable: String = format!("{}_{}_{}", self.bucket, self.prefix, self.server)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let readable = readable.trim_start_matches('.');
        let canonical = [
            self.provider.as_str(),
            self.endpoint.as_deref().unwrap_or(""),
            &self.bucket,
            &self.prefix,
            self.server.as_str(),
        ]
        .join("\n");
        format!("{readable}-{:016x}", fnv1a64(canonical.as_bytes()))
    }
}

impl std::fmt::Display for CacheScope {
    /// `server `cnpg-admin` in s3_compatible `http://…` bucket `b` prefix `p``, for messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server `{}` in {}", self.server, self.provider)?;
        if let Some(ep) = &self.endpoint {
            write!(f, " `{ep}`")?;
        }
        write!(f, " bucket `{}` prefix `{}`", self.bucket, self.prefix)
    }
}

/// The cached copy of one `backup.info`: the identity it was listed with and its text, and
/// the copy of the folder's provenance record when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CachedInfo {
    /// The identity the listing showed when this text was read.
    pub identity: ObjectIdentity,
    /// The file, as read.
    pub text: String,
    /// The folder's provenance record ([`PROVENANCE_FILE`]), as read, with the identity it was
    /// listed with. Used only while the listing shows it with the same identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<CachedFile>,
}

impl CachedInfo {
    /// A cached copy.
    pub fn new(identity: ObjectIdentity, text: String) -> Self {
        Self {
            identity,
            text,
            provenance: None,
        }
    }
}

/// The cached copy of one small file of ours: the identity it was listed with and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CachedFile {
    /// The identity the listing showed when this text was read.
    pub identity: ObjectIdentity,
    /// The file, as read.
    pub text: String,
}

/// Why a cache document was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheDocumentError {
    /// Larger than [`CATALOG_CACHE_MAX_BYTES`].
    #[error("catalog cache is {len} bytes; the limit is {max} bytes")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a cache document (not JSON, or the wrong shape).
    #[error("catalog cache is not a cache document: {detail}")]
    Unreadable {
        /// The parser's complaint.
        detail: String,
    },
    /// Another format version.
    #[error("catalog cache has format {found}; this version reads format {expected}")]
    OtherFormat {
        /// The document's version.
        found: u32,
        /// [`CATALOG_CACHE_FORMAT`].
        expected: u32,
    },
    /// Made for another catalog.
    #[error("catalog cache belongs to {found}, not to {expected}")]
    OtherScope {
        /// The document's scope.
        found: Box<CacheScope>,
        /// The scope asked for.
        expected: Box<CacheScope>,
    },
}

/// The cache document of one server's catalog: every cacheable `backup.info` under
/// `<prefix>/<server>/base/`, keyed by backup id. The same document is the CLI's cache file,
/// the control loop's in-memory cache and the index object in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerCatalogCache {
    format: u32,
    scope: CacheScope,
    entries: BTreeMap<BarmanBackupId, CachedInfo>,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

impl ServerCatalogCache {
    /// An empty cache of `scope`.
    pub fn empty(scope: CacheScope) -> Self {
        Self {
            format: CATALOG_CACHE_FORMAT,
            scope,
            entries: BTreeMap::new(),
        }
    }

    /// The catalog it belongs to.
    pub fn scope(&self) -> &CacheScope {
        &self.scope
    }

    /// Its cached copies, by backup id.
    pub fn entries(&self) -> &BTreeMap<BarmanBackupId, CachedInfo> {
        &self.entries
    }

    /// Reads a document made for `expected`.
    ///
    /// # Errors
    /// [`CacheDocumentError`] when it is too large, not a document, of another format or of
    /// another scope. The caller ignores it and reads the bucket cold.
    pub fn from_json(bytes: &[u8], expected: &CacheScope) -> Result<Self, CacheDocumentError> {
        if bytes.len() > CATALOG_CACHE_MAX_BYTES {
            return Err(CacheDocumentError::TooLarge {
                len: bytes.len(),
                max: CATALOG_CACHE_MAX_BYTES,
            });
        }
        let unreadable = |e: serde_json::Error| CacheDocumentError::Unreadable {
            detail: e.to_string(),
        };
        let head: FormatOnly = serde_json::from_slice(bytes).map_err(unreadable)?;
        if head.format != CATALOG_CACHE_FORMAT {
            return Err(CacheDocumentError::OtherFormat {
                found: head.format,
                expected: CATALOG_CACHE_FORMAT,
            });
        }
        let doc: Self = serde_json::from_slice(bytes).map_err(unreadable)?;
        if &doc.scope != expected {
            return Err(CacheDocumentError::OtherScope {
                found: Box::new(doc.scope),
                expected: Box::new(expected.clone()),
            });
        }
        if let Some((id, _)) = doc
            .entries
            .iter()
            .find(|(_, e)| e.text.len() > BACKUP_INFO_MAX_BYTES)
        {
            return Err(CacheDocumentError::Unreadable {
                detail: format!("the entry of `{id}` is larger than a backup.info may be"),
            });
        }
        Ok(doc)
    }

    /// The document as JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and string-keyed maps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Which file of a backup folder a read is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FolderFile {
    /// Barman's `backup.info`.
    BackupInfo,
    /// Our provenance record ([`PROVENANCE_FILE`]).
    Provenance,
}

impl FolderFile {
    /// The largest body read; a larger object is reported as [`ReadOutcome::TooLarge`].
    pub fn max_bytes(self) -> usize {
        match self {
            FolderFile::BackupInfo => BACKUP_INFO_MAX_BYTES,
            FolderFile::Provenance => PROVENANCE_MAX_BYTES,
        }
    }
}

/// A read the adapter must make.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadRequest {
    /// The backup folder.
    pub backup_id: BarmanBackupId,
    /// Which of its files.
    pub file: FolderFile,
    /// The full key of the file.
    pub key: String,
    /// Send as `If-None-Match` when set: the cached copy's ETag, quoted (unsettled copies only).
    pub if_none_match: Option<String>,
}

/// What one listed key asks of the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observed {
    /// Not a `backup.info` of a backup folder, or one that cannot be read: nothing to do.
    Nothing,
    /// The cached copy is used: no request.
    Reused,
    /// Read this key and report the outcome with [`CatalogRefresh::record`].
    Read(ReadRequest),
}

/// How a read ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadOutcome {
    /// The body, and the identity of the version read (from the response's headers).
    Body {
        /// The bytes.
        bytes: Vec<u8>,
        /// ETag, size and last-modified of the version read.
        identity: ObjectIdentity,
    },
    /// 304: the object still has the ETag sent as `If-None-Match`.
    NotModified,
    /// 404: gone since the listing.
    Missing,
    /// Larger than [`BACKUP_INFO_MAX_BYTES`]; the body was not read.
    TooLarge {
        /// Its size.
        size: u64,
    },
    /// Any other failure (access denied included), described for people (credentials already
    /// redacted).
    Failed {
        /// What went wrong.
        detail: String,
    },
}

/// What a refresh did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RefreshSummary {
    /// Backup folders in the listing.
    pub folders: usize,
    /// Cached copies used without a request.
    pub reused: Vec<BarmanBackupId>,
    /// Keys read (conditional reads included).
    pub read: Vec<BarmanBackupId>,
    /// Conditional reads answered 304 (a subset of `read`).
    pub not_modified: Vec<BarmanBackupId>,
    /// Cached copies whose `backup.info` is no longer listed.
    pub dropped: Vec<BarmanBackupId>,
    /// Folders whose provenance record was read (`read` and `reused` count `backup.info`
    /// files only).
    pub provenance_read: Vec<BarmanBackupId>,
    /// Folders holding only our provenance record (Barman's retention deleted the backup's
    /// own files): not backups, left out of the catalog.
    pub orphans: Vec<BarmanBackupId>,
    /// Whether the cache document differs from the one given.
    pub changed: bool,
}

/// A finished refresh.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Refreshed {
    /// Every backup folder, sorted by id, exactly as a cold read gives it.
    pub backups: Vec<BucketBackup>,
    /// The new cache document.
    pub cache: ServerCatalogCache,
    /// What was reused, read and dropped.
    pub summary: RefreshSummary,
}

#[derive(Debug)]
enum Decision {
    /// The cached copy, parsed and settled.
    Reuse(Box<BackupInfo>),
    /// Larger than a `backup.info` may be: reported without reading.
    TooLarge(u64),
    /// Read; the outcome once reported.
    Read(Option<ReadOutcome>),
}

/// A folder's provenance record as listed, and what to do with it.
#[derive(Debug)]
enum RecordDecision {
    /// The cached copy (same identity), and that copy.
    Reuse(CachedFile),
    /// Larger than a record may be: reported without reading.
    TooLarge(u64),
    /// Read; the outcome once reported.
    Read(Option<ReadOutcome>),
    /// Listed before the folder's `backup.info` (or in a folder without one: only our record
    /// is left once Barman's retention deleted the backup): decided after the listing by
    /// [`CatalogRefresh::deferred_reads`], never read for a folder without `backup.info`.
    Deferred,
}

#[derive(Debug)]
enum Folder {
    /// Keys seen, but no `backup.info` (yet: the listing is in key order, `annotations/`
    /// comes before `backup.info`). `false` while the only key seen is our own record.
    Torn(bool),
    /// Its `backup.info`'s identity as listed (unknown from a listing by delimiter), and what
    /// to do with it.
    Info(Option<ObjectIdentity>, Decision),
}

/// One catalog read of one server: feed it the listing with [`CatalogRefresh::observe`] (a
/// recursive listing of `base/`, with identities) or [`CatalogRefresh::observe_folder`] (a
/// listing by delimiter: backup folders only), the reads it asks for with
/// [`CatalogRefresh::record`], then [`CatalogRefresh::finish`].
///
/// It decides key by key so the adapter can start reads while later listing pages are still
/// on their way.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use cnpg_backup_core::barman::{BackupInfo, BarmanStatus};
/// use cnpg_backup_core::bucket_cache::{CacheScope, CatalogRefresh, ObjectIdentity, Observed, ReadOutcome};
/// use cnpg_backup_core::target::Provider;
///
/// let scope = CacheScope::new(Provider::S3, None, "b", "p", "cnpg-admin".parse().unwrap());
/// let t = Utc.with_ymd_and_hms(2026, 11, 26, 4, 50, 7).unwrap();
/// let text = BackupInfo::new(BarmanStatus::Done).render();
/// let id = ObjectIdentity::new(Some("\"e1\"".into()), text.len() as u64, t);
/// let key = "p/cnpg-admin/base/20261126T045007/backup.info";
///
/// // Cold: the key is read.
/// let mut cold = CatalogRefresh::new(scope.clone(), None);
/// let Observed::Read(req) = cold.observe(key, id.clone()) else { panic!() };
/// cold.record(&req.backup_id, ReadOutcome::Body { bytes: text.into_bytes(), identity: id.clone() });
/// let first = cold.finish();
///
/// // Warm, nothing changed: the DONE copy is reused without a request.
/// let mut warm = CatalogRefresh::new(scope, Some(first.cache));
/// assert_eq!(warm.observe(key, id), Observed::Reused);
/// assert_eq!(warm.finish().backups, first.backups);
/// ```
#[derive(Debug)]
pub struct CatalogRefresh {
    scope: CacheScope,
    base: String,
    cached: BTreeMap<BarmanBackupId, CachedInfo>,
    folders: BTreeMap<BarmanBackupId, Folder>,
    records: BTreeMap<BarmanBackupId, (ObjectIdentity, RecordDecision)>,
}

fn info_key(base: &str, id: &BarmanBackupId) -> String {
    format!("{base}{id}/backup.info")
}

fn record_key(base: &str, id: &BarmanBackupId) -> String {
    format!("{base}{id}/{PROVENANCE_FILE}")
}

impl CatalogRefresh {
    /// A refresh of `scope`'s catalog from `cache` (ignored unless it is of this scope and
    /// format; `None` reads everything).
    pub fn new(scope: CacheScope, cache: Option<ServerCatalogCache>) -> Self {
        let cached = match cache {
            Some(c) if c.format == CATALOG_CACHE_FORMAT && c.scope == scope => c.entries,
            _ => BTreeMap::new(),
        };
        Self {
            base: scope.base_prefix(),
            scope,
            cached,
            folders: BTreeMap::new(),
            records: BTreeMap::new(),
        }
    }

    /// The folder listed recursively: `<prefix>/<server>/base/`.
    pub fn base_prefix(&self) -> &str {
        &self.base
    }

    /// One listed object under [`Self::base_prefix`] (keys elsewhere are ignored).
    pub fn observe(&mut self, key: &str, identity: ObjectIdentity) -> Observed {
        let Some((id, file)) = key
            .strip_prefix(self.base.as_str())
            .and_then(|rest| rest.split_once('/'))
        else {
            return Observed::Nothing;
        };
        let Ok(id) = id.parse::<BarmanBackupId>() else {
            return Observed::Nothing;
        };
        if file == PROVENANCE_FILE {
            self.folders
                .entry(id.clone())
                .or_insert(Folder::Torn(false));
            return self.decide_record(id, identity);
        }
        if file != "backup.info" {
            let folder = self.folders.entry(id).or_insert(Folder::Torn(true));
            if let Folder::Torn(barman) = folder {
                *barman = true;
            }
            return Observed::Nothing;
        }
        let (decision, observed) = self.decide(&id, &identity);
        self.folders
            .insert(id, Folder::Info(Some(identity), decision));
        observed
    }

    /// One backup folder from a listing by delimiter, which shows no identity: its
    /// `backup.info` is read (a 404 then reports the folder as torn, as a cold read does).
    /// Such a listing does not show the folder's provenance record: it is reported absent.
    pub fn observe_folder(&mut self, id: BarmanBackupId) -> Observed {
        let request = ReadRequest {
            key: info_key(&self.base, &id),
            backup_id: id.clone(),
            file: FolderFile::BackupInfo,
            if_none_match: None,
        };
        self.folders
            .insert(id, Folder::Info(None, Decision::Read(None)));
        Observed::Read(request)
    }

    fn decide(&self, id: &BarmanBackupId, identity: &ObjectIdentity) -> (Decision, Observed) {
        if usize::try_from(identity.size).map_or(true, |s| s > BACKUP_INFO_MAX_BYTES) {
            return (Decision::TooLarge(identity.size), Observed::Nothing);
        }
        let mut if_none_match = None;
        if let Some(c) = self.cached.get(id).filter(|c| c.identity.same_as(identity)) {
            match BackupInfo::parse(c.text.as_bytes()) {
                Ok(info) if info.status.is_settled() => {
                    return (Decision::Reuse(Box::new(info)), Observed::Reused);
                }
                _ => if_none_match = identity.etag.as_deref().map(self::if_none_match),
            }
        }
        let request = ReadRequest {
            backup_id: id.clone(),
            file: FolderFile::BackupInfo,
            key: info_key(&self.base, id),
            if_none_match,
        };
        (Decision::Read(None), Observed::Read(request))
    }

    /// A listed provenance record: its cached copy when the identity is the same (records are
    /// written once; a rewrite by hand has another ETag), else a read. Only once the folder's
    /// `backup.info` was listed (it sorts first): until then the decision waits.
    fn decide_record(&mut self, id: BarmanBackupId, identity: ObjectIdentity) -> Observed {
        if !matches!(self.folders.get(&id), Some(Folder::Info(..))) {
            self.records
                .insert(id, (identity, RecordDecision::Deferred));
            return Observed::Nothing;
        }
        let (decision, observed) = self.record_decision(&id, &identity);
        self.records.insert(id, (identity, decision));
        observed
    }

    fn record_decision(
        &self,
        id: &BarmanBackupId,
        identity: &ObjectIdentity,
    ) -> (RecordDecision, Observed) {
        let too_large = usize::try_from(identity.size).map_or(true, |s| s > PROVENANCE_MAX_BYTES);
        let cached = self
            .cached
            .get(id)
            .and_then(|c| c.provenance.as_ref())
            .filter(|c| c.identity.same_as(identity))
            .cloned();
        match (too_large, cached) {
            (true, _) => (RecordDecision::TooLarge(identity.size), Observed::Nothing),
            (false, Some(copy)) => (RecordDecision::Reuse(copy), Observed::Reused),
            (false, None) => (
                RecordDecision::Read(None),
                Observed::Read(ReadRequest {
                    key: record_key(&self.base, id),
                    backup_id: id.clone(),
                    file: FolderFile::Provenance,
                    if_none_match: None,
                }),
            ),
        }
    }

    /// After the whole listing: the reads of provenance records listed before their folder's
    /// `backup.info` (a store that does not list in key order; S3, GCS and Azure do, so this is
    /// empty there). Records of folders without `backup.info` are never read.
    pub fn deferred_reads(&mut self) -> Vec<ReadRequest> {
        let waiting: Vec<(BarmanBackupId, ObjectIdentity)> = self
            .records
            .iter()
            .filter(|(id, (_, d))| {
                matches!(d, RecordDecision::Deferred)
                    && matches!(self.folders.get(*id), Some(Folder::Info(..)))
            })
            .map(|(id, (identity, _))| (id.clone(), identity.clone()))
            .collect();
        let mut reads = Vec::new();
        for (id, identity) in waiting {
            let (decision, observed) = self.record_decision(&id, &identity);
            if let Observed::Read(req) = observed {
                reads.push(req);
            }
            self.records.insert(id, (identity, decision));
        }
        reads
    }

    /// The outcome of a `backup.info` read [`Self::observe`] asked for (others are ignored).
    pub fn record(&mut self, id: &BarmanBackupId, outcome: ReadOutcome) {
        if let Some(Folder::Info(_, Decision::Read(slot))) = self.folders.get_mut(id) {
            *slot = Some(outcome);
        }
    }

    /// The outcome of any read [`Self::observe`] or [`Self::observe_folder`] asked for.
    pub fn record_read(&mut self, request: &ReadRequest, outcome: ReadOutcome) {
        match request.file {
            FolderFile::BackupInfo => self.record(&request.backup_id, outcome),
            FolderFile::Provenance => {
                if let Some((_, RecordDecision::Read(slot))) =
                    self.records.get_mut(&request.backup_id)
                {
                    *slot = Some(outcome);
                }
            }
        }
    }

    /// The catalog, the new cache document and what was done.
    pub fn finish(mut self) -> Refreshed {
        let mut summary = RefreshSummary {
            folders: self.folders.len(),
            ..RefreshSummary::default()
        };
        let mut entries = BTreeMap::new();
        let mut backups = Vec::with_capacity(self.folders.len());
        let server = self.scope.server.clone();
        for (id, folder) in std::mem::take(&mut self.folders) {
            let key = info_key(&self.base, &id);
            let old = self.cached.remove(&id);
            let listed_record = self.records.remove(&id);
            if matches!(folder, Folder::Torn(false)) {
                // Only our record is left: Barman deleted the backup's files. Not a backup.
                summary.orphans.push(id);
                summary.changed |= old.is_some();
                continue;
            }
            if let Some((_, RecordDecision::Read(_))) = &listed_record {
                summary.provenance_read.push(id.clone());
            }
            let (provenance, record_copy) = record_result(
                &record_key(&self.base, &id),
                &self.scope.server,
                &id,
                listed_record,
            );
            let (info, entry) = match folder {
                Folder::Torn(_) => (Err(format!("`{key}` is missing")), None),
                Folder::Info(_, Decision::TooLarge(size)) => (
                    Err(format!(
                        "`{key}` is {size} bytes; the limit is {BACKUP_INFO_MAX_BYTES}"
                    )),
                    None,
                ),
                Folder::Info(_, Decision::Reuse(info)) => {
                    summary.reused.push(id.clone());
                    (Ok(*info), old.clone())
                }
                Folder::Info(identity, Decision::Read(outcome)) => {
                    summary.read.push(id.clone());
                    if outcome == Some(ReadOutcome::NotModified) {
                        summary.not_modified.push(id.clone());
                    }
                    read_result(&key, identity, outcome, old.as_ref())
                }
            };
            let entry = entry.map(|mut e| {
                e.provenance = record_copy;
                e
            });
            if entry != old {
                summary.changed = true;
            }
            if let Some(e) = entry {
                entries.insert(id.clone(), e);
            }
            backups.push(BucketBackup::new(server.clone(), id, info).with_provenance(provenance));
        }
        // What is left was cached for a backup.info no longer listed.
        summary.dropped = std::mem::take(&mut self.cached).into_keys().collect();
        summary.changed |= !summary.dropped.is_empty();
        Refreshed {
            backups,
            cache: ServerCatalogCache {
                format: CATALOG_CACHE_FORMAT,
                scope: self.scope,
                entries,
            },
            summary,
        }
    }
}

/// A folder's provenance and what to cache of its record. Never fails the row: whatever goes
/// wrong is [`Provenance::Unreadable`] (or [`Provenance::Absent`] when it is gone).
fn record_result(
    key: &str,
    server: &ServerName,
    id: &BarmanBackupId,
    listed: Option<(ObjectIdentity, RecordDecision)>,
) -> (Provenance, Option<CachedFile>) {
    let unreadable = |reason: String| (Provenance::Unreadable { reason }, None);
    let Some((listed, decision)) = listed else {
        return (Provenance::Absent, None);
    };
    match decision {
        RecordDecision::Reuse(copy) => (
            Provenance::from_bytes(copy.text.as_bytes(), server, id),
            Some(copy),
        ),
        RecordDecision::TooLarge(size) => unreadable(format!(
            "`{key}` is {size} bytes; the limit is {PROVENANCE_MAX_BYTES}"
        )),
        RecordDecision::Read(Some(ReadOutcome::Body { bytes, identity })) => {
            let provenance = Provenance::from_bytes(&bytes, server, id);
            // As for backup.info: only text, only with an ETag, only the version listed.
            let copy = if identity.etag.is_some()
                && same_etag(listed.etag.as_deref(), identity.etag.as_deref())
            {
                String::from_utf8(bytes).ok().map(|text| CachedFile {
                    identity: listed,
                    text,
                })
            } else {
                None
            };
            (provenance, copy)
        }
        RecordDecision::Read(Some(ReadOutcome::Missing)) => (Provenance::Absent, None),
        RecordDecision::Read(Some(ReadOutcome::TooLarge { size })) => unreadable(format!(
            "`{key}` is {size} bytes; the limit is {PROVENANCE_MAX_BYTES}"
        )),
        RecordDecision::Read(Some(ReadOutcome::Failed { detail })) => {
            unreadable(format!("`{key}` could not be read: {detail}"))
        }
        RecordDecision::Read(Some(ReadOutcome::NotModified)) => unreadable(format!(
            "`{key}` could not be read: the store answered 304 Not Modified to an unconditional read"
        )),
        RecordDecision::Read(None) => unreadable(format!("`{key}` could not be read: no answer")),
        // In a folder without backup.info: its row says so; the record is not read.
        RecordDecision::Deferred => (Provenance::Absent, None),
    }
}

/// The catalog entry of a read key and what to cache of it. `listed` is the identity the
/// listing showed, if it showed one.
fn read_result(
    key: &str,
    listed: Option<ObjectIdentity>,
    outcome: Option<ReadOutcome>,
    old: Option<&CachedInfo>,
) -> (Result<BackupInfo, String>, Option<CachedInfo>) {
    let parse =
        |bytes: &[u8]| BackupInfo::parse(bytes).map_err(|e| format!("`{key}` is malformed: {e}"));
    match outcome {
        Some(ReadOutcome::Body { bytes, identity }) => {
            let info = parse(&bytes);
            // Cache only text, only with an ETag, and only the version the listing showed (a
            // rewrite between the listing and the read has another ETag). It is kept with the
            // listing's identity when there is one: the next listing is compared with it.
            let same_version = listed
                .as_ref()
                .is_none_or(|l| same_etag(l.etag.as_deref(), identity.etag.as_deref()));
            let entry = if identity.etag.is_some() && same_version {
                String::from_utf8(bytes)
                    .ok()
                    .map(|text| CachedInfo::new(listed.unwrap_or(identity), text))
            } else {
                None
            };
            (info, entry)
        }
        Some(ReadOutcome::NotModified) => match (old, listed) {
            // Only a conditional read can be answered 304: it was sent with this copy's ETag,
            // for a key listed with this copy's identity.
            (Some(c), Some(listed)) if c.identity.same_as(&listed) => {
                (parse(c.text.as_bytes()), Some(c.clone()))
            }
            _ => (
                Err(format!(
                    "`{key}` could not be read: the store answered 304 Not Modified to a read without a cached copy"
                )),
                None,
            ),
        },
        Some(ReadOutcome::Missing) => (Err(format!("`{key}` is missing")), None),
        Some(ReadOutcome::TooLarge { size }) => (
            Err(format!(
                "`{key}` is {size} bytes; the limit is {BACKUP_INFO_MAX_BYTES}"
            )),
            None,
        ),
        Some(ReadOutcome::Failed { detail }) => {
            (Err(format!("`{key}` could not be read: {detail}")), None)
        }
        None => (Err(format!("`{key}` could not be read: no answer")), None),
    }
}

#[cfg(test)]
mod tests;
