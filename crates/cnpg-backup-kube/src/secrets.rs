//! [`KubeSecretReader`]: the object-storage adapter's [`SecretReader`] over the Secrets of the
//! deployment namespace. Read-only (`get secrets`, granted by [`crate::rbac::RULES`] for the
//! bucket probe and the catalog from the bucket); values go straight into a [`SecretString`]
//! and are never logged, formatted or returned in an error. An answer that does not decode as
//! a Secret is reported without the decoder's text, which could quote a value.

use async_trait::async_trait;
use cnpg_backup_core::ports::BackendError;
use cnpg_backup_core::target::SecretRef;
use k8s_openapi::api::core::v1::Secret;
use secrecy::SecretString;

use crate::error::to_backend;
use crate::retry::idempotent;
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
        let api = self.scope.api::<Secret>();
        let found = idempotent(self.scope.retry(), || api.get_opt(secret.name.as_str()))
            .await
            .map_err(|e| match e {
                // serde's message may quote the value it could not decode.
                kube::Error::SerdeError(_) => BackendError::Invalid {
                    detail: format!(
                        "{what}: the API answer did not decode as a Secret (decoder message \
                         withheld: it may quote a secret value)"
                    ),
                },
                other => to_backend(&other, &what),
            })?;
        let Some(found) = found else {
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::*;

    /// A client whose API server knows one Secret `s3` with key `id` = `AKID` (base64 `QUtJRA==`).
    fn reader() -> KubeSecretReader {
        let svc = tower::service_fn(|req: http::Request<kube::client::Body>| async move {
            let (code, body) = if req.uri().path() == "/api/v1/namespaces/ns/secrets/s3" {
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": "s3", "namespace": "ns"},
                           "data": {"id": "QUtJRA==", "bin": "/w=="}}),
                )
            } else {
                (
                    404,
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                           "reason": "NotFound", "code": 404, "message": "secrets \"x\" not found"}),
                )
            };
            let body = kube::client::Body::from(serde_json::to_vec(&body).unwrap());
            Ok::<_, Infallible>(http::Response::builder().status(code).body(body).unwrap())
        });
        KubeSecretReader::new(KubeScope::new(kube::Client::new(svc, "ns"), "ns"))
    }

    fn secret_ref(name: &str, key: &str) -> SecretRef {
        SecretRef::new(name.parse().unwrap(), key.to_owned())
    }

    #[tokio::test]
    async fn reads_a_key_and_tells_a_missing_key_from_a_missing_secret() {
        let r = reader();
        let v = r.read(&secret_ref("s3", "id")).await.unwrap().unwrap();
        assert_eq!(v.expose_secret(), "AKID");
        assert!(r.read(&secret_ref("s3", "other")).await.unwrap().is_none());
        let e = r.read(&secret_ref("gone", "id")).await.unwrap_err();
        assert!(matches!(e, BackendError::NotFound { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn a_value_that_is_not_text_is_refused_without_showing_it() {
        let e = reader().read(&secret_ref("s3", "bin")).await.unwrap_err();
        assert!(matches!(e, BackendError::Invalid { .. }), "{e:?}");
        assert!(!format!("{e}").contains('\u{fffd}'));
        assert!(format!("{:?}", reader()).contains("ns"));
    }
}
