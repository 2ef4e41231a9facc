//! Where bucket catalog caches live: [`CatalogCacheStore`], with a store in memory (for a
//! long-running control loop) and one on disk (for the CLI: the user's cache directory).
//!
//! A store only keeps documents; the core's `bucket_cache` decides what in them may be used.
//! A store never fails a catalog read: a document it cannot read is "no document" (logged at
//! debug level), and a failed save is logged by the probe, which carries on.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use cnpg_backup_core::bucket_cache::{CATALOG_CACHE_MAX_BYTES, CacheScope, ServerCatalogCache};

/// Why a cache document could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheStoreError {
    /// Writing the file failed.
    #[error("cannot write the catalog cache `{path}`: {detail}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's complaint.
        detail: String,
    },
}

/// Keeps one [`ServerCatalogCache`] per [`CacheScope`] (a server under a destination path).
#[async_trait]
pub trait CatalogCacheStore: Send + Sync + fmt::Debug {
    /// The document of `scope`. `None` when there is none, or it cannot be used (unreadable,
    /// another format, another scope). MUST NOT return a document of another scope.
    async fn load(&self, scope: &CacheScope) -> Option<ServerCatalogCache>;

    /// Replaces the document of `cache.scope()`.
    ///
    /// # Errors
    /// [`CacheStoreError`] when it could not be stored.
    async fn save(&self, cache: &ServerCatalogCache) -> Result<(), CacheStoreError>;
}

/// Documents in memory, for a process that reads the catalog again and again (the control
/// loop): share one `Arc<InMemoryCatalogCache>` between reads.
#[derive(Debug, Default)]
pub struct InMemoryCatalogCache {
    docs: Mutex<HashMap<CacheScope, ServerCatalogCache>>,
}

impl InMemoryCatalogCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn docs(&self) -> std::sync::MutexGuard<'_, HashMap<CacheScope, ServerCatalogCache>> {
        // A panic while holding the lock leaves a whole document or none: keep going.
        self.docs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl CatalogCacheStore for InMemoryCatalogCache {
    async fn load(&self, scope: &CacheScope) -> Option<ServerCatalogCache> {
        self.docs().get(scope).cloned()
    }

    async fn save(&self, cache: &ServerCatalogCache) -> Result<(), CacheStoreError> {
        self.docs().insert(cache.scope().clone(), cache.clone());
        Ok(())
    }
}

/// Documents as files in a directory, one per scope (`<stem>.json`, see
/// `CacheScope::file_stem`), each written atomically (a temporary file in the same directory,
/// then a rename: a reader sees the old document or the new one, never a mix). A file that cannot be read, is of another format or of another scope is
/// ignored and replaced by the next save.
#[derive(Debug, Clone)]
pub struct DiskCatalogCache {
    dir: PathBuf,
}

/// Distinguishes temporary files of concurrent saves in one process.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl DiskCatalogCache {
    /// Documents in `dir` (created on the first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Documents in the user's cache directory: `$XDG_CACHE_HOME/cnpg-backup/catalog`, else
    /// `$HOME/.cache/cnpg-backup/catalog`. `None` when neither variable gives an absolute path.
    pub fn in_user_cache_dir() -> Option<Self> {
        Self::user_cache_dir(|k| std::env::var_os(k)).map(Self::new)
    }

    /// The directory [`Self::in_user_cache_dir`] uses, from any variable lookup. A relative
    /// `XDG_CACHE_HOME` is ignored, as the XDG Base Directory specification says.
    pub fn user_cache_dir(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
        let absolute = |k: &str| var(k).map(PathBuf::from).filter(|p| p.is_absolute());
        let base =
            absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|h| h.join(".cache")))?;
        Some(base.join("cnpg-backup").join("catalog"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `scope`.
    pub fn path_of(&self, scope: &CacheScope) -> PathBuf {
        self.dir.join(format!("{}.json", scope.file_stem()))
    }
}

fn read_doc(path: &Path, scope: &CacheScope) -> Option<ServerCatalogCache> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "catalog cache unreadable; ignored");
            return None;
        }
    };
    let mut bytes = Vec::new();
    // One byte past the limit is enough to know it is too large.
    let limit = u64::try_from(CATALOG_CACHE_MAX_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    if let Err(e) = file.take(limit).read_to_end(&mut bytes) {
        tracing::debug!(path = %path.display(), error = %e, "catalog cache unreadable; ignored");
        return None;
    }
    match ServerCatalogCache::from_json(&bytes, scope) {
        Ok(doc) => Some(doc),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "catalog cache ignored; it will be rebuilt");
            None
        }
    }
}

fn write_doc(dir: &Path, path: &Path, json: &[u8]) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // No fsync: after a crash the file is the old document, or empty or cut short, which reads
    // as unreadable and is rebuilt. The cache is disposable; a cold read should not wait for
    // the disk.
    let written = options.open(&temp).and_then(|mut f| f.write_all(json));
    let renamed = written.and_then(|()| std::fs::rename(&temp, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    renamed
}

#[async_trait]
impl CatalogCacheStore for DiskCatalogCache {
    async fn load(&self, scope: &CacheScope) -> Option<ServerCatalogCache> {
        let path = self.path_of(scope);
        let scope = scope.clone();
        tokio::task::spawn_blocking(move || read_doc(&path, &scope))
            .await
            .ok()
            .flatten()
    }

    async fn save(&self, cache: &ServerCatalogCache) -> Result<(), CacheStoreError> {
        let path = self.path_of(cache.scope());
        let dir = self.dir.clone();
        let json = cache.to_json().into_bytes();
        let target = path.clone();
        let done = tokio::task::spawn_blocking(move || write_doc(&dir, &target, &json)).await;
        let error = |detail: String| CacheStoreError::Write {
            path: path.clone(),
            detail,
        };
        match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(error(e.to_string())),
            Err(e) => Err(error(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use cnpg_backup_core::target::Provider;

    use super::*;

    fn scope(server: &str) -> CacheScope {
        CacheScope::new(
            Provider::S3,
            Some("https://s3.amazonaws.com".to_owned()),
            "cnpg-backups",
            "platform",
            server.parse().unwrap(),
        )
    }

    #[test]
    fn the_user_cache_dir_follows_xdg_then_home() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            DiskCatalogCache::user_cache_dir(vars(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/cnpg-backup/catalog"))
        );
        assert_eq!(
            DiskCatalogCache::user_cache_dir(vars(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.cache/cnpg-backup/catalog"))
        );
        assert_eq!(
            DiskCatalogCache::user_cache_dir(vars(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.cache/cnpg-backup/catalog"))
        );
        assert_eq!(
            DiskCatalogCache::user_cache_dir(vars(&[("HOME", "")])),
            None
        );
        assert_eq!(DiskCatalogCache::user_cache_dir(vars(&[])), None);
    }

    #[tokio::test]
    async fn a_saved_document_loads_back_only_for_its_own_scope() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCatalogCache::new(dir.path().join("nested/catalog"));
        let doc = ServerCatalogCache::empty(scope("cnpg-admin"));
        assert_eq!(disk.load(doc.scope()).await, None);
        disk.save(&doc).await.unwrap();
        assert_eq!(disk.load(doc.scope()).await, Some(doc.clone()));
        assert_eq!(disk.load(&scope("cnpg-tenant")).await, None);
        // A document copied under another scope's name is refused by its content.
        std::fs::copy(
            disk.path_of(doc.scope()),
            disk.path_of(&scope("cnpg-tenant")),
        )
        .unwrap();
        assert_eq!(disk.load(&scope("cnpg-tenant")).await, None);
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(disk.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(disk.path_of(doc.scope()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[tokio::test]
    async fn an_unreadable_or_foreign_format_file_is_ignored_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCatalogCache::new(dir.path());
        let doc = ServerCatalogCache::empty(scope("cnpg-admin"));
        let path = disk.path_of(doc.scope());
        let other_format = doc.to_json().replacen("\"format\":1", "\"format\":99", 1);
        for junk in [
            b"{\"truncated".to_vec(),
            vec![0xff, 0x00, 0x13],
            other_format.into_bytes(),
        ] {
            std::fs::write(&path, &junk).unwrap();
            assert_eq!(disk.load(doc.scope()).await, None);
            disk.save(&doc).await.unwrap();
            assert_eq!(disk.load(doc.scope()).await, Some(doc.clone()));
        }
        // A directory where the file should be: load says none, save says why.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert_eq!(disk.load(doc.scope()).await, None);
        let err = disk.save(&doc).await.unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot write the catalog cache `{}`: ",
                path.display()
            )),
            "{err}"
        );
    }

    #[tokio::test]
    async fn memory_keeps_one_document_per_scope() {
        let mem = InMemoryCatalogCache::new();
        let a = ServerCatalogCache::empty(scope("cnpg-admin"));
        let b = ServerCatalogCache::empty(scope("cnpg-tenant"));
        mem.save(&a).await.unwrap();
        mem.save(&b).await.unwrap();
        assert_eq!(mem.load(a.scope()).await, Some(a));
        assert_eq!(mem.load(b.scope()).await, Some(b));
        assert_eq!(mem.load(&scope("other")).await, None);
    }
}
