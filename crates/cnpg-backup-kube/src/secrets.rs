//! [`KubeSecretReader`]: the object-storage adapter's [`SecretReader`] over the Secrets of the
//! deployment namespace. Read-only (`get secrets`); values go straight into a
//! [`SecretString`] and are never logged, formatted or returned in an error.

use async_trait::async_trait;
use cnpg_backup_core::ports::BackendError;
use cnpg_backup_core::target::SecretRef;
use k8s_openapi::api::core::v1::Secret;
use secrecy::SecretString;

use crate::scope::KubeScope;
use crate::storage::SecretReader;

/// Reads keys of Secrets in the scope's namespace.
#[derive(Clone)]
pub struct KubeSecretReader {
    scope: KubeScope,
}

impl std::fmt::Debug for KubeSecretReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSecretReader")
            .field("namespace", &self.scope.namespace())
            .finish()
    }
}

impl KubeSecretReader {
    /// A reader over the Secrets of `scope`'s namespace.
    pub fn new(scope: KubeScope) -> Self {
        Self { scope }
    }
}

#[async_trait]
impl SecretReader for KubeSecretReader {
    async fn read(&self, secret: &SecretRef) -> Result<Option<SecretString>, BackendError> {
        let what = format!("secret `{}`", secret.name);
        let Some(found) = self
            .scope
            .get_opt::<Secret>(secret.name.as_str(), &what)
            .await?
        else {
            return Err(BackendError::NotFound { what });
        };
        let Some(bytes) = found.data.as_ref().and_then(|d| d.get(&secret.key)) else {
            return Ok(None);
        };
        match String::from_utf8(bytes.0.clone()) {
            Ok(text) => Ok(Some(SecretString::from(text))),
            Err(_) => Err(BackendError::Invalid {
                detail: format!("{what} key `{}` is not UTF-8 text", secret.key),
            }),
        }
    }
}
