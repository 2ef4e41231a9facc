//! [`BucketObjects`] over any `object_store` store: S3, GCS, Azure, or a local directory
//! (what the simulator writes Barman files through, and what the CLI demo passes).

use std::path::Path as FsPath;
use std::sync::Arc;

use async_trait::async_trait;
use cnpg_backup_core::ports::{BackendError, BucketObjects};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::store::backend_error;

/// Raw objects of one bucket through `object_store`. Keys are full bucket keys.
#[derive(Debug, Clone)]
pub struct ObjectStoreBucketObjects {
    store: Arc<dyn ObjectStore>,
}

impl ObjectStoreBucketObjects {
    /// Objects of `store` (e.g. from [`super::build_store`]).
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Objects in a local directory, created when missing: the embedded default and tests.
    ///
    /// # Errors
    /// [`BackendError::Unavailable`] when the directory cannot be created or opened.
    pub fn local(dir: &FsPath) -> Result<Self, BackendError> {
        std::fs::create_dir_all(dir).map_err(|e| BackendError::Unavailable {
            detail: format!("cannot create directory `{}`: {e}", dir.display()),
        })?;
        let fs = LocalFileSystem::new_with_prefix(dir).map_err(|e| BackendError::Unavailable {
            detail: format!("cannot open directory `{}`: {e}", dir.display()),
        })?;
        Ok(Self::new(Arc::new(fs)))
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
}

/// Parses a bucket key into an object_store path.
pub(crate) fn key_path(key: &str) -> Result<Path, BackendError> {
    Path::parse(key).map_err(|e| BackendError::Invalid {
        detail: format!("object key `{key}`: {e}"),
    })
}

/// Every key starting with `prefix` (a plain string prefix, not only whole segments), sorted.
pub(crate) async fn list_keys(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Vec<String>, object_store::Error> {
    // object_store lists whole path segments: list the folder and filter on the string.
    let dir = match prefix.rfind('/') {
        Some(i) => &prefix[..i],
        None => "",
    };
    let dir = (!dir.is_empty()).then(|| Path::from(dir));
    let mut keys: Vec<String> = store
        .list(dir.as_ref())
        .map_ok(|m| m.location.to_string())
        .try_filter(|k| std::future::ready(k.starts_with(prefix)))
        .try_collect()
        .await?;
    keys.sort();
    Ok(keys)
}

#[async_trait]
impl BucketObjects for ObjectStoreBucketObjects {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        self.store
            .put(&key_path(key)?, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| backend_error(&e, None))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        let got = self
            .store
            .get(&key_path(key)?)
            .await
            .map_err(|e| backend_error(&e, None))?;
        got.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| backend_error(&e, None))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        list_keys(self.store.as_ref(), prefix)
            .await
            .map_err(|e| backend_error(&e, None))
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        match self.store.delete(&key_path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend_error(&e, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_objects_put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let o = ObjectStoreBucketObjects::local(&dir.path().join("bucket")).unwrap();
        o.put(
            "p/s/base/20260101T000000/backup.info",
            b"status=DONE\n".to_vec(),
        )
        .await
        .unwrap();
        o.put("p/s/base/20260101T010000/backup.info", b"x".to_vec())
            .await
            .unwrap();
        o.put("p/t/wals/x", b"y".to_vec()).await.unwrap();
        assert_eq!(
            o.get("p/s/base/20260101T000000/backup.info").await.unwrap(),
            b"status=DONE\n"
        );
        assert_eq!(
            o.list("p/s/base/2026010").await.unwrap(),
            [
                "p/s/base/20260101T000000/backup.info",
                "p/s/base/20260101T010000/backup.info"
            ]
        );
        assert_eq!(o.list("p/").await.unwrap().len(), 3);
        assert_eq!(o.list("q/").await.unwrap(), Vec::<String>::new());
        o.delete("p/t/wals/x").await.unwrap();
        o.delete("p/t/wals/x").await.unwrap();
        assert!(matches!(
            o.get("p/t/wals/x").await,
            Err(BackendError::NotFound { .. })
        ));
    }
}
