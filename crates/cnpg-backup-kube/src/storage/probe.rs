//! [`BucketProbe`] over `object_store`: storage presence, the bucket catalog (with an optional
//! cache and the catalog index object), and preflight.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cnpg_backup_core::barman::{self, BucketBackup};
use cnpg_backup_core::bucket_cache::{
    self, CATALOG_CACHE_MAX_BYTES, CacheScope, CatalogRefresh, ObjectIdentity, Observed,
    ReadOutcome, ReadRequest, Refreshed, ServerCatalogCache,
};
use cnpg_backup_core::catalog::{BarmanBackupId, StoragePresence};
use cnpg_backup_core::names::ServerName;
use cnpg_backup_core::ports::{BackendError, BucketProbe, PreflightOptions};
use cnpg_backup_core::provenance::{BackupProvenance, PROVENANCE_FILE, ProvenanceWrite};
use cnpg_backup_core::status::{PreflightCheck, PreflightReport, PreflightStep, StepVerdict};
use cnpg_backup_core::target::{ObjectStoreTarget, Provider};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use tokio::sync::Semaphore;

use super::cache::CatalogCacheStore;
use super::credentials::{CredentialError, CredentialSource, ResolvedCredentials};
use super::store::{
    ErrorKind, StoreOptions, backend_error, build_store, classify, describe, endpoint_url,
    s3_error_parts, validate_target,
};
use super::tls::{Endpoint, probe_endpoint};

/// The folder, under the target's prefix, where the write probe puts and deletes its object.
/// Barman never writes there (it is not a valid server name).
pub const PREFLIGHT_DIR: &str = ".cnpg-backup-preflight";

/// Whether a folder directly under the destination path is one of ours (the preflight's, or
/// [`bucket_cache::OWN_FOLDER`] with the catalog index), never a Barman server.
fn is_own_folder(name: &str) -> bool {
    name == PREFLIGHT_DIR || name == bucket_cache::OWN_FOLDER
}

/// Limits of a probe.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeOptions {
    /// The longest one preflight step may take.
    pub step_timeout: Duration,
    /// How many `backup.info` GETs run at once in a catalog read.
    pub read_concurrency: usize,
    /// Client settings for presence and catalog reads.
    pub store: StoreOptions,
    /// Client settings for preflight (few retries: say why, fast).
    pub preflight_store: StoreOptions,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            step_timeout: Duration::from_secs(15),
            read_concurrency: 32,
            store: StoreOptions::default(),
            preflight_store: StoreOptions::preflight(),
        }
    }
}

impl ProbeOptions {
    /// The same options with `store` for catalog reads and `preflight_store` for preflight.
    pub fn with_stores(mut self, store: StoreOptions, preflight_store: StoreOptions) -> Self {
        self.store = store;
        self.preflight_store = preflight_store;
        self
    }

    /// The same options with another step timeout.
    pub fn with_step_timeout(mut self, step_timeout: Duration) -> Self {
        self.step_timeout = step_timeout;
        self
    }

    /// The same options with another read concurrency (at least 1).
    pub fn with_read_concurrency(mut self, n: usize) -> Self {
        self.read_concurrency = n.max(1);
        self
    }
}

/// Reads and probes buckets of any provider `object_store` supports.
///
/// The bucket catalog lists each server's `base/` recursively and reads every `backup.info`
/// and provenance record it shows. With a catalog cache
/// ([`ObjectStoreBucketProbe::with_catalog_cache`]) that holds a document for the server, it
/// reads only the files that changed since (the core's `bucket_cache` rules); when the cache
/// has nothing for a server, the server's catalog index object (written by
/// [`ObjectStoreBucketProbe::write_catalog_index`]) stands in for it.
#[derive(Clone)]
pub struct ObjectStoreBucketProbe {
    credentials: Arc<dyn CredentialSource>,
    options: ProbeOptions,
    cache: Option<Arc<dyn CatalogCacheStore>>,
}

impl fmt::Debug for ObjectStoreBucketProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreBucketProbe")
            .field("options", &self.options)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

fn credential_backend_error(e: CredentialError) -> BackendError {
    match e {
        CredentialError::Read { source, .. } => source,
        other => BackendError::Invalid {
            detail: other.to_string(),
        },
    }
}

fn join(prefix: &str, rest: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        rest.to_owned()
    } else {
        format!("{p}/{rest}")
    }
}

fn prefix_path(prefix: &str) -> Option<Path> {
    let p = prefix.trim_matches('/');
    (!p.is_empty()).then(|| Path::from(p))
}

/// A short sentence for a failed request: the S3 code and message when there is one.
fn access_failure(e: &object_store::Error, creds: &ResolvedCredentials, what: &str) -> String {
    let text = describe(e, Some(creds));
    let kind = classify(e, &text);
    let refused = "the credentials are not accepted or lack permission";
    match (kind, s3_error_parts(&text)) {
        (ErrorKind::Refused, Some((code, msg))) => {
            format!("{what} refused ({code}): {refused}: {msg}")
        }
        (ErrorKind::Refused, None) => format!("{what} refused: {refused}: {text}"),
        (_, Some((code, msg))) => format!("{what} failed ({code}): {msg}"),
        (_, None) => format!("{what} failed: {text}"),
    }
}

struct Opened {
    store: Arc<dyn ObjectStore>,
    creds: ResolvedCredentials,
}

/// Where a refresh's starting document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Cold,
    Cache,
    Index,
}

/// The cache scope of `server` in `target`: the endpoint as requests reach it (normalised,
/// or the provider's default), a local directory as its canonical path.
fn cache_scope(
    target: &ObjectStoreTarget,
    creds: &ResolvedCredentials,
    server: &ServerName,
) -> CacheScope {
    let endpoint = match endpoint_url(target) {
        Ok(Some(url)) => Some(url.as_str().trim_end_matches('/').to_owned()),
        _ => default_endpoint(target, creds),
    };
    let bucket = match target.provider {
        Provider::Local => std::fs::canonicalize(&target.bucket)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| target.bucket.clone()),
        _ => target.bucket.clone(),
    };
    CacheScope::new(
        target.provider,
        endpoint,
        bucket,
        &target.prefix,
        server.clone(),
    )
}

fn identity(meta: &ObjectMeta) -> ObjectIdentity {
    ObjectIdentity::new(meta.e_tag.clone(), meta.size, meta.last_modified)
}

/// One read for the catalog (a `backup.info` or a provenance record), conditional when the
/// request says so.
async fn read_for_catalog(
    store: &dyn ObjectStore,
    req: &ReadRequest,
    creds: &ResolvedCredentials,
) -> ReadOutcome {
    let options = GetOptions::new().with_if_none_match(req.if_none_match.clone());
    let failed = |e: &object_store::Error| ReadOutcome::Failed {
        detail: describe(e, Some(creds)),
    };
    let got = match store.get_opts(&Path::from(req.key.as_str()), options).await {
        Ok(g) => g,
        Err(object_store::Error::NotModified { .. }) => return ReadOutcome::NotModified,
        Err(object_store::Error::NotFound { .. }) => return ReadOutcome::Missing,
        Err(e) => return failed(&e),
    };
    if usize::try_from(got.meta.size).map_or(true, |s| s > req.file.max_bytes()) {
        return ReadOutcome::TooLarge {
            size: got.meta.size,
        };
    }
    let identity = identity(&got.meta);
    match got.bytes().await {
        Ok(bytes) => ReadOutcome::Body {
            bytes: bytes.to_vec(),
            identity,
        },
        Err(e) => failed(&e),
    }
}

impl ObjectStoreBucketProbe {
    /// A probe that gets each target's credentials from `credentials`. Its catalog reads read
    /// every `backup.info` (no cache) until [`Self::with_catalog_cache`] gives it one.
    pub fn new(credentials: Arc<dyn CredentialSource>, options: ProbeOptions) -> Self {
        Self {
            credentials,
            options,
            cache: None,
        }
    }

    /// The same probe with catalog reads that keep their documents in `cache` and read only
    /// what changed since: e.g. `Arc::new(InMemoryCatalogCache::new())` for a control loop
    /// that refreshes the catalog often, or `DiskCatalogCache::in_user_cache_dir()` for the
    /// CLI. When `cache` has no document for a server, its catalog index object is read instead.
    pub fn with_catalog_cache(mut self, cache: Arc<dyn CatalogCacheStore>) -> Self {
        self.cache = Some(cache);
        self
    }

    async fn open(
        &self,
        target: &ObjectStoreTarget,
        opts: &StoreOptions,
    ) -> Result<Opened, BackendError> {
        let creds = self
            .credentials
            .resolve(target)
            .await
            .map_err(credential_backend_error)?;
        let store = build_store(target, &creds, opts)?;
        Ok(Opened { store, creds })
    }

    /// Backup ids (folder names) under `<prefix>/<server>/base/`, one delimiter listing.
    async fn backup_ids(
        store: &dyn ObjectStore,
        prefix: &str,
        server: &ServerName,
    ) -> Result<Vec<BarmanBackupId>, object_store::Error> {
        let base = barman::base_prefix(prefix, server);
        let listed = store.list_with_delimiter(Some(&Path::from(base))).await?;
        let mut ids = Vec::new();
        for p in listed.common_prefixes {
            let name = p.filename().unwrap_or_default();
            match BarmanBackupId::from_str(name) {
                Ok(id) => ids.push(id),
                Err(_) => tracing::debug!(folder = %p, "not a backup id; ignored"),
            }
        }
        Ok(ids)
    }

    /// The servers to read: `servers`, or every server folder under the prefix (one delimiter
    /// listing; our own folders and anything that is not a server name are left out).
    async fn servers(
        o: &Opened,
        target: &ObjectStoreTarget,
        servers: Option<&[ServerName]>,
    ) -> Result<Vec<ServerName>, BackendError> {
        if let Some(s) = servers {
            return Ok(s.to_vec());
        }
        let top = o
            .store
            .list_with_delimiter(prefix_path(&target.prefix).as_ref())
            .await
            .map_err(|e| backend_error(&e, Some(&o.creds)))?;
        Ok(top
            .common_prefixes
            .iter()
            .filter_map(|p| {
                let name = p.filename().unwrap_or_default();
                if is_own_folder(name) {
                    return None;
                }
                let s = ServerName::from_str(name).ok();
                if s.is_none() {
                    tracing::debug!(folder = %p, "not a server name; ignored");
                }
                s
            })
            .collect())
    }

    /// The server's catalog index object, when there is a usable one.
    async fn read_index(o: &Opened, scope: &CacheScope) -> Option<ServerCatalogCache> {
        let key = bucket_cache::catalog_index_key(&scope.prefix, &scope.server);
        let got = match o.store.get(&Path::from(key.as_str())).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return None,
            Err(e) => {
                tracing::debug!(%key, error = %describe(&e, Some(&o.creds)), "catalog index unreadable; ignored");
                return None;
            }
        };
        if usize::try_from(got.meta.size).map_or(true, |s| s > CATALOG_CACHE_MAX_BYTES) {
            tracing::debug!(%key, size = got.meta.size, "catalog index too large; ignored");
            return None;
        }
        let bytes = match got.bytes().await {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(%key, error = %describe(&e, Some(&o.creds)), "catalog index unreadable; ignored");
                return None;
            }
        };
        match ServerCatalogCache::from_json(&bytes, scope) {
            Ok(doc) => Some(doc),
            Err(e) => {
                tracing::debug!(%key, error = %e, "catalog index ignored");
                None
            }
        }
    }

    /// Reads `requests` (at most `read_concurrency` at once across servers, through `reads`).
    async fn read_all(
        &self,
        store: &dyn ObjectStore,
        creds: &ResolvedCredentials,
        reads: &Semaphore,
        requests: impl futures::Stream<Item = ReadRequest>,
    ) -> Vec<(ReadRequest, ReadOutcome)> {
        requests
            .map(|req| async move {
                // A closed semaphore is impossible (it lives for the whole call); read anyway.
                let _permit = reads.acquire().await.ok();
                let outcome = read_for_catalog(store, &req, creds).await;
                (req, outcome)
            })
            .buffer_unordered(self.options.read_concurrency.max(1))
            .collect()
            .await
    }

    /// The starting document of a read of `scope`: the cache store's, else (with a cache
    /// store) the catalog index object's, else none.
    async fn start_document(
        &self,
        o: &Opened,
        scope: &CacheScope,
    ) -> (Start, Option<ServerCatalogCache>) {
        let Some(cache) = &self.cache else {
            return (Start::Cold, None);
        };
        if let Some(doc) = cache.load(scope).await {
            return (Start::Cache, Some(doc));
        }
        match Self::read_index(o, scope).await {
            Some(doc) => (Start::Index, Some(doc)),
            None => (Start::Cold, None),
        }
    }

    /// One server's catalog: one recursive listing of `base/`, each key decided as it
    /// arrives, reads of what the document (from the cache store, else the index object; none
    /// for a cold read) does not hold unchanged. The listing starts at once, while the index
    /// is looked up, and runs ahead of the reads (pages are fetched while earlier keys are
    /// read), so neither costs idle time.
    ///
    /// A cold read lists recursively too, not by delimiter as Barman does: the listing shows
    /// which folders hold a provenance record (`cnpg-backup.json`), so only those are read.
    /// That costs a page per 1 000 keys (Barman leaves about two per backup, the record makes
    /// three) instead of a page per 1 000 backups: one or two more LISTs per 1 000 backups,
    /// against a GET per backup to look for a record blindly. The new document is saved when
    /// it changed.
    async fn server_catalog(
        &self,
        o: &Opened,
        target: &ObjectStoreTarget,
        server: &ServerName,
        reads: &Semaphore,
    ) -> Result<Refreshed, BackendError> {
        let scope = cache_scope(target, &o.creds, server);
        let store = o.store.as_ref();
        let creds = &o.creds;
        let base = Path::from(scope.base_prefix());
        let (found, listed) = futures::channel::mpsc::unbounded::<ObjectMeta>();
        let lister = async move {
            let mut listing = store.list(Some(&base));
            while let Some(meta) = listing.try_next().await? {
                if found.unbounded_send(meta).is_err() {
                    break;
                }
            }
            Ok::<_, object_store::Error>(())
        };
        let reader = async {
            let (start, cached) = self.start_document(o, &scope).await;
            let mut refresh = CatalogRefresh::new(scope.clone(), cached);
            let requests = listed.filter_map(|meta| {
                let observed = refresh.observe(meta.location.as_ref(), identity(&meta));
                std::future::ready(match observed {
                    Observed::Read(req) => Some(req),
                    _ => None,
                })
            });
            let outcomes = self.read_all(store, creds, reads, requests).await;
            (start, refresh, outcomes)
        };
        let (listing, (start, mut refresh, outcomes)) = futures::join!(lister, reader);
        listing.map_err(|e| backend_error(&e, Some(creds)))?;
        for (req, outcome) in outcomes {
            refresh.record_read(&req, outcome);
        }
        // Records listed before their backup.info (a store that does not list in key order).
        let deferred = refresh.deferred_reads();
        if !deferred.is_empty() {
            let outcomes = self
                .read_all(store, creds, reads, futures::stream::iter(deferred))
                .await;
            for (req, outcome) in outcomes {
                refresh.record_read(&req, outcome);
            }
        }
        let refreshed = refresh.finish();
        let s = &refreshed.summary;
        tracing::debug!(
            server = %server,
            start = ?start,
            folders = s.folders,
            reused = s.reused.len(),
            read = s.read.len(),
            not_modified = s.not_modified.len(),
            dropped = s.dropped.len(),
            provenance_read = s.provenance_read.len(),
            orphans = s.orphans.len(),
            "bucket catalog read"
        );
        if let Some(c) = &self.cache
            && (s.changed || start != Start::Cache)
            && let Err(e) = c.save(&refreshed.cache).await
        {
            tracing::warn!(error = %e, "the catalog cache was not saved; the next read will be slower");
        }
        Ok(refreshed)
    }

    /// Every server's catalog, sorted by server then backup id.
    async fn catalogs(
        &self,
        o: &Opened,
        target: &ObjectStoreTarget,
        servers: &[ServerName],
    ) -> Result<Vec<Refreshed>, BackendError> {
        let reads = Semaphore::new(self.options.read_concurrency.max(1));
        let reads = &reads;
        let mut out: Vec<Refreshed> = futures::stream::iter(servers.to_vec())
            .map(|s| async move { self.server_catalog(o, target, &s, reads).await })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        out.sort_by(|a, b| a.cache.scope().server.cmp(&b.cache.scope().server));
        Ok(out)
    }

    /// Reads the catalog of `servers` (every server under the prefix when `None`) as
    /// [`BucketProbe::bucket_catalog`] does, then writes each server's cache document as its
    /// catalog index object, `<prefix>/.cnpg-backup/catalog-index/<server>.json` (see
    /// `cnpg_backup_core::bucket_cache::catalog_index_key`): one PUT per server. A reader
    /// whose own cache is empty (the CLI on a new machine, in a disaster) reads the index and
    /// then only what changed since it was written. Returns the catalog.
    ///
    /// The index holds what Barman wrote in each `backup.info` (nothing secret), and is used
    /// only for the bucket, endpoint, prefix and server it was written for, and only for keys
    /// the listing still shows with the same ETag, size and time.
    ///
    /// # Errors
    /// [`BackendError`] when the bucket cannot be listed or an index cannot be written.
    pub async fn write_catalog_index(
        &self,
        target: &ObjectStoreTarget,
        servers: Option<&[ServerName]>,
    ) -> Result<Vec<BucketBackup>, BackendError> {
        let o = self.open(target, &self.options.store).await?;
        let servers = Self::servers(&o, target, servers).await?;
        let catalogs = self.catalogs(&o, target, &servers).await?;
        let mut out = Vec::new();
        for c in catalogs {
            let scope = c.cache.scope();
            let key = bucket_cache::catalog_index_key(&scope.prefix, &scope.server);
            o.store
                .put(
                    &Path::from(key.as_str()),
                    PutPayload::from(c.cache.to_json().into_bytes()),
                )
                .await
                .map_err(|e| backend_error(&e, Some(&o.creds)))?;
            out.extend(c.backups);
        }
        Ok(out)
    }
}

#[async_trait]
impl BucketProbe for ObjectStoreBucketProbe {
    async fn preflight(
        &self,
        target: &ObjectStoreTarget,
        options: &PreflightOptions,
        now: DateTime<Utc>,
    ) -> PreflightReport {
        run_preflight(self, target, options, now).await
    }

    async fn presence(
        &self,
        target: &ObjectStoreTarget,
        server: &ServerName,
        ids: &[BarmanBackupId],
    ) -> Result<BTreeMap<BarmanBackupId, StoragePresence>, BackendError> {
        let o = self.open(target, &self.options.store).await?;
        let base = barman::base_prefix(&target.prefix, server);
        // One recursive, paginated LIST of base/ answers for every id: ceil(K / 1000) requests
        // for K keys under base/ (Barman Cloud leaves about two per backup: backup.info and
        // data.tar), never one request per backup. A delimiter listing would need one page per
        // 1000 backups but cannot tell whether backup.info exists.
        let mut with_info: HashSet<String> = HashSet::new();
        let mut listing = o.store.list(Some(&Path::from(base.as_str())));
        while let Some(meta) = listing
            .try_next()
            .await
            .map_err(|e| backend_error(&e, Some(&o.creds)))?
        {
            let key = meta.location.as_ref();
            if let Some((id, "backup.info")) = key
                .strip_prefix(base.as_str())
                .and_then(|rest| rest.split_once('/'))
            {
                with_info.insert(id.to_owned());
            }
        }
        Ok(ids
            .iter()
            .map(|id| {
                let p = if with_info.contains(id.as_str()) {
                    StoragePresence::Present
                } else {
                    StoragePresence::Missing
                };
                (id.clone(), p)
            })
            .collect())
    }

    async fn bucket_catalog<'a>(
        &self,
        target: &ObjectStoreTarget,
        servers: Option<&'a [ServerName]>,
    ) -> Result<Vec<BucketBackup>, BackendError> {
        let o = self.open(target, &self.options.store).await?;
        let servers = Self::servers(&o, target, servers).await?;
        let catalogs = self.catalogs(&o, target, &servers).await?;
        Ok(catalogs.into_iter().flat_map(|c| c.backups).collect())
    }

    /// For each server: which folders hold `backup.info` and a record, from one LIST per
    /// folder (a few records) or one recursive LIST of `base/` (more than
    /// [`FOLDER_LISTS_MAX`]: a restarted loop catching up); then one create-only PUT
    /// (`If-None-Match: *`) per record still to write. A record already there, even one
    /// created between the listing and the PUT, is never overwritten.
    async fn write_provenance(
        &self,
        target: &ObjectStoreTarget,
        records: &[BackupProvenance],
    ) -> Result<Vec<ProvenanceWrite>, BackendError> {
        let o = self.open(target, &self.options.store).await?;
        let err = |e: object_store::Error| backend_error(&e, Some(&o.creds));
        let mut by_server: BTreeMap<&ServerName, Vec<usize>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            by_server.entry(&r.server_name).or_default().push(i);
        }
        // (server, backup id, file name) of every key seen.
        let mut seen: HashSet<(ServerName, String, String)> = HashSet::new();
        for (server, idx) in &by_server {
            let base = barman::base_prefix(&target.prefix, server);
            let folders: Vec<String> = if idx.len() > FOLDER_LISTS_MAX {
                vec![base.clone()]
            } else {
                idx.iter()
                    .map(|i| format!("{base}{}/", records[*i].backup_id))
                    .collect()
            };
            for folder in folders {
                let mut listing = o.store.list(Some(&Path::from(folder.as_str())));
                while let Some(meta) = listing.try_next().await.map_err(err)? {
                    if let Some((id, file)) = meta
                        .location
                        .as_ref()
                        .strip_prefix(base.as_str())
                        .and_then(|rest| rest.split_once('/'))
                    {
                        seen.insert(((*server).clone(), id.to_owned(), file.to_owned()));
                    }
                }
            }
        }
        let has = |r: &BackupProvenance, file: &str| {
            seen.contains(&(
                r.server_name.clone(),
                r.backup_id.to_string(),
                file.to_owned(),
            ))
        };
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let outcome = if !has(r, "backup.info") {
                ProvenanceWrite::NoBackupInfo
            } else if has(r, PROVENANCE_FILE) {
                ProvenanceWrite::AlreadyThere
            } else {
                let key = r.key(&target.prefix);
                let put = o
                    .store
                    .put_opts(
                        &Path::from(key.as_str()),
                        PutPayload::from(r.to_json()),
                        PutOptions::from(PutMode::Create),
                    )
                    .await;
                match put {
                    Ok(_) => ProvenanceWrite::Written,
                    Err(object_store::Error::AlreadyExists { .. }) => ProvenanceWrite::AlreadyThere,
                    Err(e) => return Err(err(e)),
                }
            };
            out.push(outcome);
        }
        Ok(out)
    }
}

/// Up to this many records of one server, `write_provenance` lists each backup's folder; more,
/// and it lists the server's whole `base/` once.
const FOLDER_LISTS_MAX: usize = 4;

/// Preflight checks in the order they run.
const CHECKS: [PreflightCheck; 8] = [
    PreflightCheck::Configuration,
    PreflightCheck::SecretsResolve,
    PreflightCheck::EndpointReachable,
    PreflightCheck::BucketAccess,
    PreflightCheck::ListPrefix,
    PreflightCheck::WriteProbe,
    PreflightCheck::RestoreArchiveEmpty,
    PreflightCheck::LiveArchiveHasBackups,
];

/// What one step found.
enum Outcome<T> {
    Passed(T, String),
    Failed(String),
    Skipped(String),
}

struct Run {
    steps: Vec<PreflightStep>,
    timeout: Duration,
}

impl Run {
    /// Runs one step within the step timeout. `Some(value)` when it passed.
    async fn step<T>(
        &mut self,
        check: PreflightCheck,
        fut: impl Future<Output = Outcome<T>>,
    ) -> Option<T> {
        let start = Instant::now();
        let out = tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or_else(|_| {
                Outcome::Failed(format!("timed out after {} s", self.timeout.as_secs_f32()))
            });
        let took = start.elapsed();
        let (verdict, detail, value) = match out {
            Outcome::Passed(v, d) => (StepVerdict::Passed, d, Some(v)),
            Outcome::Failed(d) => (StepVerdict::Failed, d, None),
            Outcome::Skipped(d) => (StepVerdict::Skipped, d, None),
        };
        let failed = verdict == StepVerdict::Failed;
        self.steps
            .push(PreflightStep::new(check, verdict, detail, took));
        if failed { None } else { value }
    }

    /// Marks every check not yet reported as skipped.
    fn skip_rest(&mut self) {
        for check in CHECKS {
            if !self.steps.iter().any(|s| s.check == check) {
                self.steps.push(PreflightStep::new(
                    check,
                    StepVerdict::Skipped,
                    "not run: an earlier step failed",
                    Duration::ZERO,
                ));
            }
        }
    }

    fn finish(mut self, now: DateTime<Utc>) -> PreflightReport {
        self.skip_rest();
        PreflightReport::from_steps(now, self.steps)
    }

    fn failed(&self) -> bool {
        self.steps.iter().any(|s| s.verdict == StepVerdict::Failed)
    }
}

/// Where the endpoint check connects to, when known before the first request.
fn default_endpoint(target: &ObjectStoreTarget, creds: &ResolvedCredentials) -> Option<String> {
    match target.provider {
        Provider::S3 => Some(match target.region.as_deref() {
            Some(r) => format!("https://s3.{r}.amazonaws.com"),
            None => "https://s3.amazonaws.com".to_owned(),
        }),
        Provider::Gcs => Some("https://storage.googleapis.com".to_owned()),
        Provider::Azure => creds
            .azure_account()
            .map(|a| format!("https://{a}.blob.core.windows.net")),
        Provider::S3Compatible | Provider::Local => None,
    }
}

async fn run_preflight(
    probe: &ObjectStoreBucketProbe,
    target: &ObjectStoreTarget,
    options: &PreflightOptions,
    now: DateTime<Utc>,
) -> PreflightReport {
    let mut run = Run {
        steps: Vec::new(),
        timeout: probe.options.step_timeout,
    };
    let store_opts = &probe.options.preflight_store;
    let dest = target.destination_path();

    // 1. configuration
    let ok = run
        .step(PreflightCheck::Configuration, async {
            match validate_target(target) {
                Ok(()) => Outcome::Passed((), format!("target `{dest}` is well formed")),
                Err(e) => Outcome::Failed(e.to_string()),
            }
        })
        .await;
    if ok.is_none() {
        return run.finish(now);
    }

    // 2. secrets
    let Some(creds) = run
        .step(PreflightCheck::SecretsResolve, async {
            match probe.credentials.resolve(target).await {
                Ok(c) => {
                    let n = c.resolved_keys();
                    let d = if n == 0 {
                        "no secret to read (ambient identity or none)".to_owned()
                    } else {
                        format!("{n} secret key(s) resolved")
                    };
                    Outcome::Passed(c, d)
                }
                Err(e) => Outcome::Failed(e.to_string()),
            }
        })
        .await
    else {
        return run.finish(now);
    };

    // 3. endpoint reachable
    let timeout = probe.options.step_timeout;
    run.step(PreflightCheck::EndpointReachable, async {
        if target.provider == Provider::Local {
            return match std::fs::metadata(&target.bucket) {
                Ok(m) if m.is_dir() => {
                    Outcome::Passed((), format!("directory `{}` exists", target.bucket))
                }
                Ok(_) => Outcome::Failed(format!("`{}` is not a directory", target.bucket)),
                Err(e) => Outcome::Failed(format!("directory `{}`: {e}", target.bucket)),
            };
        }
        let url = match endpoint_url(target) {
            Ok(Some(u)) => u,
            Ok(None) => {
                match default_endpoint(target, &creds).and_then(|u| reqwest::Url::parse(&u).ok()) {
                    Some(u) => u,
                    None => {
                        return Outcome::Skipped(
                            "the endpoint is known only at the first request (ambient identity)"
                                .to_owned(),
                        );
                    }
                }
            }
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let Some(ep) = Endpoint::from_url(&url) else {
            return Outcome::Failed(format!("endpoint `{url}` has no host or port"));
        };
        match probe_endpoint(&ep, creds.endpoint_ca_pem(), timeout).await {
            Ok(d) => Outcome::Passed((), d),
            Err(d) => Outcome::Failed(d),
        }
    })
    .await;
    if run.failed() {
        return run.finish(now);
    }

    // 4. credentials accepted, bucket exists (never created)
    let bucket = target.bucket.as_str();
    let Some(store) = run
        .step(PreflightCheck::BucketAccess, async {
            let store = match build_store(target, &creds, store_opts) {
                Ok(s) => s,
                Err(e) => return Outcome::Failed(e.to_string()),
            };
            let probe_dir = Path::from(join(&target.prefix, PREFLIGHT_DIR));
            let first = store.list(Some(&probe_dir)).next().await;
            match first {
                None | Some(Ok(_)) => Outcome::Passed(
                    store,
                    format!("bucket `{bucket}` exists and the credentials are accepted"),
                ),
                Some(Err(e)) => {
                    let text = describe(&e, Some(&creds));
                    match classify(&e, &text) {
                        ErrorKind::BucketMissing | ErrorKind::NotFound => {
                            let code = s3_error_parts(&text).map_or("NotFound", |(c, _)| c);
                            Outcome::Failed(format!(
                                "bucket `{bucket}` does not exist ({code}); cnpg-backup never creates buckets: create it first"
                            ))
                        }
                        _ => Outcome::Failed(access_failure(&e, &creds, "listing the bucket")),
                    }
                }
            }
        })
        .await
    else {
        return run.finish(now);
    };

    // 5. list under the prefix
    let shown = if target.prefix.is_empty() {
        "the bucket root".to_owned()
    } else {
        format!("`{}/`", target.prefix)
    };
    run.step(PreflightCheck::ListPrefix, async {
        match store
            .list_with_delimiter(prefix_path(&target.prefix).as_ref())
            .await
        {
            Ok(l) => {
                let mut names: Vec<String> = l
                    .common_prefixes
                    .iter()
                    .filter_map(|p| p.filename().map(str::to_owned))
                    .filter(|n| !is_own_folder(n))
                    .collect();
                names.sort();
                let n = names.len();
                let more = if n > 8 { ", …" } else { "" };
                names.truncate(8);
                let d = if n == 0 {
                    format!("{shown} is empty")
                } else {
                    format!("{shown} holds {n} folder(s): {}{more}", names.join(", "))
                };
                Outcome::Passed((), d)
            }
            Err(e) => Outcome::Failed(access_failure(&e, &creds, "listing")),
        }
    })
    .await;
    if run.failed() {
        return run.finish(now);
    }

    // 6. write probe
    if options.read_only {
        run.step(PreflightCheck::WriteProbe, async {
            Outcome::<()>::Skipped("read-only mode".to_owned())
        })
        .await;
    } else {
        let key = join(
            &target.prefix,
            &format!("{PREFLIGHT_DIR}/probe-{}", now.format("%Y%m%dT%H%M%S%.6fZ")),
        );
        run.step(PreflightCheck::WriteProbe, async {
            let path = Path::from(key.as_str());
            let body = format!("cnpg-backup preflight write probe at {now}\n");
            if let Err(e) = store
                .put(&path, PutPayload::from(body.clone().into_bytes()))
                .await
            {
                return Outcome::Failed(access_failure(&e, &creds, &format!("writing `{key}`")));
            }
            let read = match store.get(&path).await {
                Ok(g) => g.bytes().await,
                Err(e) => Err(e),
            };
            let compare = match read {
                Ok(b) if b.as_ref() == body.as_bytes() => Ok(()),
                Ok(b) => Err(format!(
                    "`{key}` read back {} bytes that differ from the {} written",
                    b.len(),
                    body.len()
                )),
                Err(e) => Err(access_failure(&e, &creds, &format!("reading `{key}` back"))),
            };
            let deleted = store.delete(&path).await;
            match (compare, deleted) {
                (Err(d), _) => Outcome::Failed(d),
                (Ok(()), Err(e)) => {
                    Outcome::Failed(access_failure(&e, &creds, &format!("deleting `{key}`")))
                }
                (Ok(()), Ok(())) => {
                    Outcome::Passed((), format!("put, read back, compared and deleted `{key}`"))
                }
            }
        })
        .await;
        if run.failed() {
            return run.finish(now);
        }
    }

    // 7. restore targets: empty WAL archive (as barman-cloud-check-wal-archive)
    run.step(PreflightCheck::RestoreArchiveEmpty, async {
        if options.restore_servers.is_empty() {
            return Outcome::Skipped("no restore server name given".to_owned());
        }
        let mut clean = Vec::new();
        for server in &options.restore_servers {
            let wals = barman::wals_prefix(&target.prefix, server);
            let mut listing = store.list(Some(&Path::from(wals.as_str())));
            loop {
                match listing.next().await {
                    None => break,
                    Some(Err(e)) => {
                        return Outcome::Failed(access_failure(
                            &e,
                            &creds,
                            &format!("listing `{wals}`"),
                        ));
                    }
                    Some(Ok(m)) if m.location.filename().is_some_and(barman::is_wal_file_name) => {
                        return Outcome::Failed(format!(
                            "WAL archive check failed for server `{server}`: Expected empty archive (found `{}`); a restore writing to this server name would fail at bootstrap: choose another serverName",
                            m.location
                        ));
                    }
                    Some(Ok(_)) => {}
                }
            }
            clean.push(format!("`{server}`"));
        }
        Outcome::Passed(
            (),
            format!("no WAL file in the archive of {}", clean.join(", ")),
        )
    })
    .await;
    if run.failed() {
        return run.finish(now);
    }

    // 8. live servers: do their archives hold backups?
    run.step(PreflightCheck::LiveArchiveHasBackups, async {
        if options.live_servers.is_empty() {
            return Outcome::Skipped("no live server name given".to_owned());
        }
        let mut parts = Vec::new();
        for server in &options.live_servers {
            match ObjectStoreBucketProbe::backup_ids(store.as_ref(), &target.prefix, server).await {
                Ok(ids) if ids.is_empty() => parts.push(format!("`{server}`: no backup yet")),
                Ok(ids) => parts.push(format!("`{server}`: {} backup(s)", ids.len())),
                Err(e) => {
                    return Outcome::Failed(access_failure(
                        &e,
                        &creds,
                        &format!("listing the backups of `{server}`"),
                    ));
                }
            }
        }
        Outcome::Passed((), parts.join("; "))
    })
    .await;
    run.finish(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_code_and_message_are_read_from_the_error_body() {
        assert_eq!(
            s3_error_parts("... <Error><Code>NoSuchBucket</Code><Message>x y</Message>"),
            Some(("NoSuchBucket", "x y"))
        );
        assert_eq!(s3_error_parts("no xml"), None);
    }

    #[test]
    fn preflight_dir_is_not_a_server_name() {
        assert!(ServerName::from_str(PREFLIGHT_DIR).is_err());
    }
}
