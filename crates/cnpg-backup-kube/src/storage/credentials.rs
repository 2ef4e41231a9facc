//! Resolved credentials: the secret *values* a target's secret references point to, held only
//! in memory for one call, behind a redacting `Debug` and [`SecretString`].
//!
//! Two ways in: [`resolve_credentials`] reads the referenced Kubernetes secrets through a
//! [`SecretReader`] (the kube side plugs its client in), and [`ResolvedCredentials::from_env`]
//! reads the usual cloud environment variables (the disaster case, when the cluster and its
//! secrets are gone).

use std::fmt;

use async_trait::async_trait;
use cnpg_backup_core::ports::BackendError;
use cnpg_backup_core::target::{Credentials, ObjectStoreTarget, Provider, SecretRef};
use secrecy::{ExposeSecret, SecretString};

/// Why credentials could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The secret exists but lacks the key.
    #[error("secret `{secret}` has no key `{key}`")]
    MissingKey {
        /// Secret name.
        secret: String,
        /// The key.
        key: String,
    },
    /// The secret could not be read (absent, forbidden, API unreachable).
    #[error("secret `{secret}` could not be read")]
    Read {
        /// Secret name.
        secret: String,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// An environment variable the provider needs is not set.
    #[error("environment variable `{var}` is not set; {expected}")]
    MissingEnv {
        /// The variable.
        var: &'static str,
        /// What to set instead.
        expected: &'static str,
    },
    /// A value has the wrong shape (e.g. an Azure connection string without an account).
    #[error("{what} is malformed: {expected}")]
    Malformed {
        /// Which value (never the value itself).
        what: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// The secret values of one target's credentials.
#[derive(Clone)]
pub(crate) enum Secrets {
    /// No credentials (local directory).
    None,
    /// The runtime's ambient identity: IAM role, workload identity, env chain.
    Ambient,
    /// S3 access key pair.
    S3AccessKey {
        access_key_id: SecretString,
        secret_access_key: SecretString,
        session_token: Option<SecretString>,
    },
    /// GCS service-account JSON key.
    GcsServiceAccountKey { json: SecretString },
    /// Azure storage account + key.
    AzureStorageKey { account: String, key: SecretString },
    /// Azure storage account + SAS token.
    AzureSasToken {
        account: String,
        token: SecretString,
    },
}

impl Secrets {
    fn kind(&self) -> &'static str {
        match self {
            Secrets::None => "none",
            Secrets::Ambient => "ambient",
            Secrets::S3AccessKey { .. } => "s3_access_key",
            Secrets::GcsServiceAccountKey { .. } => "gcs_service_account_key",
            Secrets::AzureStorageKey { .. } => "azure_storage_key",
            Secrets::AzureSasToken { .. } => "azure_sas_token",
        }
    }

    fn values(&self) -> Vec<&str> {
        match self {
            Secrets::None | Secrets::Ambient => Vec::new(),
            Secrets::S3AccessKey {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let mut v = vec![
                    access_key_id.expose_secret(),
                    secret_access_key.expose_secret(),
                ];
                if let Some(t) = session_token {
                    v.push(t.expose_secret());
                }
                v
            }
            Secrets::GcsServiceAccountKey { json } => vec![json.expose_secret()],
            Secrets::AzureStorageKey { key, .. } => vec![key.expose_secret()],
            Secrets::AzureSasToken { token, .. } => vec![token.expose_secret()],
        }
    }
}

/// Credentials with their secret values, ready to build a store. `Debug` never shows a value.
#[derive(Clone)]
pub struct ResolvedCredentials {
    pub(crate) secrets: Secrets,
    endpoint_ca_pem: Option<String>,
    resolved_keys: usize,
}

impl fmt::Debug for ResolvedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedCredentials")
            .field("kind", &self.secrets.kind())
            .field("values", &"[redacted]")
            .field("endpoint_ca", &self.endpoint_ca_pem.is_some())
            .finish()
    }
}

impl ResolvedCredentials {
    fn with(secrets: Secrets, resolved_keys: usize) -> Self {
        Self {
            secrets,
            endpoint_ca_pem: None,
            resolved_keys,
        }
    }

    /// No credentials (the local-directory provider).
    pub fn none() -> Self {
        Self::with(Secrets::None, 0)
    }

    /// The runtime's own identity (IAM role, workload identity, the provider's env chain).
    pub fn ambient() -> Self {
        Self::with(Secrets::Ambient, 0)
    }

    /// An S3 access key pair, with an optional session token.
    pub fn s3_access_key(
        access_key_id: SecretString,
        secret_access_key: SecretString,
        session_token: Option<SecretString>,
    ) -> Self {
        let n = 2 + usize::from(session_token.is_some());
        Self::with(
            Secrets::S3AccessKey {
                access_key_id,
                secret_access_key,
                session_token,
            },
            n,
        )
    }

    /// A GCS service-account JSON key.
    pub fn gcs_service_account_key(json: SecretString) -> Self {
        Self::with(Secrets::GcsServiceAccountKey { json }, 1)
    }

    /// An Azure storage account and its key.
    pub fn azure_storage_key(account: String, key: SecretString) -> Self {
        Self::with(Secrets::AzureStorageKey { account, key }, 2)
    }

    /// An Azure storage account and a SAS token.
    pub fn azure_sas_token(account: String, token: SecretString) -> Self {
        Self::with(Secrets::AzureSasToken { account, token }, 2)
    }

    /// Credentials from an Azure connection string
    /// (`AccountName=…;AccountKey=…` or `AccountName=…;SharedAccessSignature=…`).
    ///
    /// # Errors
    /// [`CredentialError::Malformed`] when the string names no account, or neither a key nor a SAS.
    pub fn azure_connection_string(conn: &SecretString) -> Result<Self, CredentialError> {
        let mut account = None;
        let mut key = None;
        let mut sas = None;
        for part in conn.expose_secret().split(';') {
            if let Some((k, v)) = part.split_once('=') {
                match k.trim() {
                    "AccountName" => account = Some(v.trim().to_owned()),
                    "AccountKey" => key = Some(SecretString::from(v.trim().to_owned())),
                    "SharedAccessSignature" => sas = Some(SecretString::from(v.trim().to_owned())),
                    _ => {}
                }
            }
        }
        let malformed = |expected| CredentialError::Malformed {
            what: "azure connection string".to_owned(),
            expected,
        };
        let account = account.ok_or_else(|| malformed("expected `AccountName=…`"))?;
        let mut out = match (key, sas) {
            (Some(key), _) => Self::azure_storage_key(account, key),
            (None, Some(token)) => Self::azure_sas_token(account, token),
            (None, None) => {
                return Err(malformed(
                    "expected `AccountKey=…` or `SharedAccessSignature=…`",
                ));
            }
        };
        out.resolved_keys = 1;
        Ok(out)
    }

    /// Adds the PEM bundle of the CA that signs the endpoint's certificate.
    pub fn with_endpoint_ca_pem(mut self, pem: String) -> Self {
        self.endpoint_ca_pem = Some(pem);
        self
    }

    /// The endpoint CA bundle (PEM), if any. Not a secret.
    pub fn endpoint_ca_pem(&self) -> Option<&str> {
        self.endpoint_ca_pem.as_deref()
    }

    /// How many secret keys were read to make these credentials (for the preflight detail).
    pub fn resolved_keys(&self) -> usize {
        self.resolved_keys
    }

    /// The Azure storage account, when these are Azure account credentials.
    pub(crate) fn azure_account(&self) -> Option<&str> {
        match &self.secrets {
            Secrets::AzureStorageKey { account, .. } | Secrets::AzureSasToken { account, .. } => {
                Some(account)
            }
            _ => None,
        }
    }

    /// `text` with every secret value replaced by `[redacted]`: applied to every error detail
    /// that leaves the adapter, in case a client library echoes a value (a SAS in a URL).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for v in self.secrets.values() {
            if v.len() >= 4 {
                out = out.replace(v, "[redacted]");
            }
        }
        out
    }

    /// Credentials for `provider` from the process environment (the disaster case):
    /// S3: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else ambient
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE`, instance role); GCS: the JSON key file named by
    /// `GOOGLE_APPLICATION_CREDENTIALS`, else ambient; Azure: `AZURE_STORAGE_CONNECTION_STRING`, or
    /// `AZURE_STORAGE_ACCOUNT` with `AZURE_STORAGE_KEY` or `AZURE_STORAGE_SAS_TOKEN`, else ambient;
    /// local: none. `CNPG_BACKUP_ENDPOINT_CA` may name a CA bundle file (else `AWS_CA_BUNDLE`).
    ///
    /// # Errors
    /// [`CredentialError`] when a variable is half set (a key id without its secret) or a named
    /// file cannot be read.
    pub fn from_env(provider: Provider) -> Result<Self, CredentialError> {
        Self::from_vars(
            provider,
            |k| std::env::var(k).ok(),
            |p| std::fs::read_to_string(p).ok(),
        )
    }

    /// [`ResolvedCredentials::from_env`] over any variable lookup and file reader (for tests).
    ///
    /// # Errors
    /// As [`ResolvedCredentials::from_env`].
    pub fn from_vars(
        provider: Provider,
        var: impl Fn(&str) -> Option<String>,
        read_file: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialError> {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        let file = |name: &'static str, path: String| {
            read_file(&path).ok_or(CredentialError::Malformed {
                what: format!("the file named by `{name}`"),
                expected: "a readable file",
            })
        };
        let mut out = match provider {
            Provider::Local => Self::none(),
            Provider::S3 | Provider::S3Compatible => {
                match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                    (Some(id), Some(secret)) => Self::s3_access_key(
                        id.into(),
                        secret.into(),
                        var("AWS_SESSION_TOKEN").map(SecretString::from),
                    ),
                    (Some(_), None) => {
                        return Err(CredentialError::MissingEnv {
                            var: "AWS_SECRET_ACCESS_KEY",
                            expected: "it must be set with `AWS_ACCESS_KEY_ID`",
                        });
                    }
                    (None, Some(_)) => {
                        return Err(CredentialError::MissingEnv {
                            var: "AWS_ACCESS_KEY_ID",
                            expected: "it must be set with `AWS_SECRET_ACCESS_KEY`",
                        });
                    }
                    (None, None) => Self::ambient(),
                }
            }
            Provider::Gcs => match var("GOOGLE_APPLICATION_CREDENTIALS") {
                Some(path) => Self::gcs_service_account_key(
                    file("GOOGLE_APPLICATION_CREDENTIALS", path)?.into(),
                ),
                None => Self::ambient(),
            },
            Provider::Azure => {
                if let Some(conn) = var("AZURE_STORAGE_CONNECTION_STRING") {
                    Self::azure_connection_string(&conn.into())?
                } else if let Some(account) = var("AZURE_STORAGE_ACCOUNT") {
                    match (var("AZURE_STORAGE_KEY"), var("AZURE_STORAGE_SAS_TOKEN")) {
                        (Some(key), _) => Self::azure_storage_key(account, key.into()),
                        (None, Some(sas)) => Self::azure_sas_token(account, sas.into()),
                        (None, None) => {
                            return Err(CredentialError::MissingEnv {
                                var: "AZURE_STORAGE_KEY",
                                expected: "set it or `AZURE_STORAGE_SAS_TOKEN` with `AZURE_STORAGE_ACCOUNT`",
                            });
                        }
                    }
                } else {
                    Self::ambient()
                }
            }
        };
        let ca = var("CNPG_BACKUP_ENDPOINT_CA")
            .map(|p| file("CNPG_BACKUP_ENDPOINT_CA", p))
            .or_else(|| var("AWS_CA_BUNDLE").map(|p| file("AWS_CA_BUNDLE", p)))
            .transpose()?;
        if let Some(pem) = ca {
            out = out.with_endpoint_ca_pem(pem);
        }
        Ok(out)
    }
}

/// Reads one key of a Kubernetes Secret in the deployment namespace.
#[async_trait]
pub trait SecretReader: Send + Sync {
    /// The value of `secret.key` in `secret.name`; `Ok(None)` when the secret exists without
    /// that key.
    ///
    /// # Errors
    /// MUST return [`BackendError::NotFound`] when the secret does not exist; other
    /// [`BackendError`]s when it cannot be read.
    async fn read(&self, secret: &SecretRef) -> Result<Option<SecretString>, BackendError>;
}

async fn read_key(
    reader: &dyn SecretReader,
    secret: &SecretRef,
) -> Result<SecretString, CredentialError> {
    match reader.read(secret).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(CredentialError::MissingKey {
            secret: secret.name.to_string(),
            key: secret.key.clone(),
        }),
        Err(source) => Err(CredentialError::Read {
            secret: secret.name.to_string(),
            source,
        }),
    }
}

/// Reads every secret `target` references (credentials and endpoint CA) through `reader`.
///
/// # Errors
/// [`CredentialError`] naming the first secret or key that could not be read.
pub async fn resolve_credentials(
    target: &ObjectStoreTarget,
    reader: &dyn SecretReader,
) -> Result<ResolvedCredentials, CredentialError> {
    let mut out = match &target.credentials {
        Credentials::S3AccessKey {
            access_key_id,
            secret_access_key,
            session_token,
        } => {
            let token = match session_token {
                Some(t) => Some(read_key(reader, t).await?),
                None => None,
            };
            ResolvedCredentials::s3_access_key(
                read_key(reader, access_key_id).await?,
                read_key(reader, secret_access_key).await?,
                token,
            )
        }
        Credentials::GcsApplicationCredentials {
            application_credentials,
        } => ResolvedCredentials::gcs_service_account_key(
            read_key(reader, application_credentials).await?,
        ),
        Credentials::AzureStorageKey {
            storage_account,
            storage_key,
        } => ResolvedCredentials::azure_storage_key(
            read_key(reader, storage_account)
                .await?
                .expose_secret()
                .to_owned(),
            read_key(reader, storage_key).await?,
        ),
        Credentials::AzureSasToken {
            storage_account,
            storage_sas_token,
        } => ResolvedCredentials::azure_sas_token(
            read_key(reader, storage_account)
                .await?
                .expose_secret()
                .to_owned(),
            read_key(reader, storage_sas_token).await?,
        ),
        Credentials::AzureConnectionString { connection_string } => {
            ResolvedCredentials::azure_connection_string(
                &read_key(reader, connection_string).await?,
            )?
        }
        Credentials::S3InheritIamRole
        | Credentials::GcsWorkloadIdentity
        | Credentials::AzureInheritAd => ResolvedCredentials::ambient(),
        Credentials::None => ResolvedCredentials::none(),
    };
    if let Some(ca) = &target.endpoint_ca {
        let pem = read_key(reader, ca).await?;
        out.resolved_keys += 1;
        out = out.with_endpoint_ca_pem(pem.expose_secret().to_owned());
    }
    Ok(out)
}

/// Where a probe gets the credentials of a target from.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// The credentials of `target`.
    ///
    /// # Errors
    /// [`CredentialError`] when a secret or key is missing or unreadable.
    async fn resolve(
        &self,
        target: &ObjectStoreTarget,
    ) -> Result<ResolvedCredentials, CredentialError>;
}

/// The same credentials for every target (from the environment, or given by an embedder).
#[derive(Debug, Clone)]
pub struct FixedCredentials(ResolvedCredentials);

impl FixedCredentials {
    /// Always these credentials.
    pub fn new(credentials: ResolvedCredentials) -> Self {
        Self(credentials)
    }
}

#[async_trait]
impl CredentialSource for FixedCredentials {
    async fn resolve(
        &self,
        _target: &ObjectStoreTarget,
    ) -> Result<ResolvedCredentials, CredentialError> {
        Ok(self.0.clone())
    }
}

/// Credentials read from the secrets each target references, through a [`SecretReader`].
#[derive(Debug, Clone)]
pub struct SecretCredentials<R>(R);

impl<R: SecretReader> SecretCredentials<R> {
    /// Reads secrets with `reader`.
    pub fn new(reader: R) -> Self {
        Self(reader)
    }
}

#[async_trait]
impl<R: SecretReader> CredentialSource for SecretCredentials<R> {
    async fn resolve(
        &self,
        target: &ObjectStoreTarget,
    ) -> Result<ResolvedCredentials, CredentialError> {
        resolve_credentials(target, &self.0).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const PLANTED: &str = "planted-SECRET-value-7f3a";

    #[test]
    fn debug_never_shows_a_value() {
        let c = ResolvedCredentials::s3_access_key(
            "AKIAPLANTED".to_owned().into(),
            PLANTED.to_owned().into(),
            Some(PLANTED.to_owned().into()),
        );
        let d = format!("{c:?}");
        assert!(!d.contains(PLANTED), "{d}");
        assert!(!d.contains("AKIAPLANTED"), "{d}");
        assert!(d.contains("s3_access_key"), "{d}");
        let d = format!("{:?}", FixedCredentials::new(c));
        assert!(!d.contains(PLANTED), "{d}");
    }

    #[test]
    fn redact_replaces_every_value() {
        let c = ResolvedCredentials::azure_sas_token("acct".to_owned(), PLANTED.to_owned().into());
        assert_eq!(
            c.redact(&format!("GET https://x/?sig={PLANTED} failed")),
            "GET https://x/?sig=[redacted] failed"
        );
    }

    #[test]
    fn env_gives_an_access_key_pair_or_ambient() {
        let vars: HashMap<&str, &str> = [
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", PLANTED),
            ("AWS_SESSION_TOKEN", "tok"),
        ]
        .into();
        let c = ResolvedCredentials::from_vars(
            Provider::S3Compatible,
            |k| vars.get(k).map(|v| (*v).to_owned()),
            |_| None,
        )
        .unwrap();
        assert_eq!(c.resolved_keys(), 3);
        assert!(matches!(c.secrets, Secrets::S3AccessKey { .. }));
        let c = ResolvedCredentials::from_vars(Provider::S3, |_| None, |_| None).unwrap();
        assert!(matches!(c.secrets, Secrets::Ambient));
    }

    #[test]
    fn env_with_half_a_key_pair_names_the_missing_variable() {
        let err = ResolvedCredentials::from_vars(
            Provider::S3,
            |k| (k == "AWS_ACCESS_KEY_ID").then(|| "id".to_owned()),
            |_| None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable `AWS_SECRET_ACCESS_KEY` is not set; it must be set with `AWS_ACCESS_KEY_ID`"
        );
    }

    #[test]
    fn env_reads_gcs_key_file_and_azure_account() {
        let c = ResolvedCredentials::from_vars(
            Provider::Gcs,
            |k| (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| "/k.json".to_owned()),
            |p| (p == "/k.json").then(|| "{}".to_owned()),
        )
        .unwrap();
        assert!(matches!(c.secrets, Secrets::GcsServiceAccountKey { .. }));
        let c = ResolvedCredentials::from_vars(
            Provider::Azure,
            |k| match k {
                "AZURE_STORAGE_ACCOUNT" => Some("acct".to_owned()),
                "AZURE_STORAGE_KEY" => Some(PLANTED.to_owned()),
                _ => None,
            },
            |_| None,
        )
        .unwrap();
        assert_eq!(c.azure_account(), Some("acct"));
    }

    #[test]
    fn connection_string_needs_an_account_and_a_key_or_sas() {
        let c = ResolvedCredentials::azure_connection_string(
            &"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"
                .to_owned()
                .into(),
        )
        .unwrap();
        assert_eq!(c.azure_account(), Some("acct"));
        let err =
            ResolvedCredentials::azure_connection_string(&format!("AccountKey={PLANTED}").into())
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "azure connection string is malformed: expected `AccountName=…`"
        );
        assert!(!format!("{err:?}").contains(PLANTED));
    }

    struct MapReader(HashMap<(String, String), String>);

    #[async_trait]
    impl SecretReader for MapReader {
        async fn read(&self, s: &SecretRef) -> Result<Option<SecretString>, BackendError> {
            if !self.0.keys().any(|(n, _)| n == s.name.as_str()) {
                return Err(BackendError::NotFound {
                    what: format!("secret `{}`", s.name),
                });
            }
            Ok(self
                .0
                .get(&(s.name.to_string(), s.key.clone()))
                .map(|v| SecretString::from(v.clone())))
        }
    }

    fn target(creds: Credentials, ca: Option<SecretRef>) -> ObjectStoreTarget {
        serde_json::from_value::<ObjectStoreTarget>(serde_json::json!({
            "provider": "s3_compatible",
            "endpoint": "http://127.0.0.1:9000",
            "bucket": "b",
            "credentials": creds,
            "endpointCa": ca,
        }))
        .unwrap()
    }

    fn sref(name: &str, key: &str) -> SecretRef {
        SecretRef::new(name.parse().unwrap(), key.to_owned())
    }

    #[tokio::test]
    async fn secrets_resolve_through_the_reader_and_name_what_is_missing() {
        let reader = MapReader(
            [
                (("s3".to_owned(), "id".to_owned()), "AKIA".to_owned()),
                (("s3".to_owned(), "secret".to_owned()), PLANTED.to_owned()),
                (("ca".to_owned(), "ca.crt".to_owned()), "PEM".to_owned()),
            ]
            .into(),
        );
        let creds = Credentials::S3AccessKey {
            access_key_id: sref("s3", "id"),
            secret_access_key: sref("s3", "secret"),
            session_token: None,
        };
        let ok = resolve_credentials(&target(creds.clone(), Some(sref("ca", "ca.crt"))), &reader)
            .await
            .unwrap();
        assert_eq!(ok.resolved_keys(), 3);
        assert_eq!(ok.endpoint_ca_pem(), Some("PEM"));

        let missing_key = Credentials::S3AccessKey {
            access_key_id: sref("s3", "id"),
            secret_access_key: sref("s3", "nope"),
            session_token: None,
        };
        let err = resolve_credentials(&target(missing_key, None), &reader)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "secret `s3` has no key `nope`");

        let err = resolve_credentials(&target(creds, Some(sref("gone", "ca.crt"))), &reader)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "secret `gone` could not be read");
        assert!(matches!(
            err,
            CredentialError::Read {
                source: BackendError::NotFound { .. },
                ..
            }
        ));
    }
}
