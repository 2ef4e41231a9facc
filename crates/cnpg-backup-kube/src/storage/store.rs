//! Building an `object_store` client from a core [`ObjectStoreTarget`] and
//! [`ResolvedCredentials`], validating the target first, and mapping `object_store` errors to
//! the core's [`BackendError`].
//!
//! TLS is rustls on the `ring` provider (kube's), never aws-lc-rs: object_store is built with its
//! `*-base` features plus `ring`, and reqwest with `rustls-no-provider`, so the process-wide
//! default provider must be ring; [`build_store`] installs it when none is installed yet.

use std::sync::Arc;
use std::time::Duration;

use cnpg_backup_core::ports::BackendError;
use cnpg_backup_core::target::{Credentials, ObjectStoreTarget, Provider};
use object_store::aws::AmazonS3Builder;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::client::{HttpClient, HttpConnector};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::{Certificate, ClientOptions, ObjectStore, RetryConfig};
use secrecy::ExposeSecret;

use super::credentials::{ResolvedCredentials, Secrets};

/// Why a target cannot be used as configured, or its client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A field of the target is invalid.
    #[error("{field} `{value}`: {expected}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Its value (never a secret).
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// The credentials kind does not fit the provider.
    #[error("credentials `{credentials}` do not fit provider `{provider}`; expected {expected}")]
    CredentialsMismatch {
        /// The provider.
        provider: &'static str,
        /// The credentials kind.
        credentials: &'static str,
        /// What fits.
        expected: &'static str,
    },
    /// The endpoint CA is not a PEM certificate bundle.
    #[error("endpoint CA is not a PEM certificate bundle: {detail}")]
    BadCa {
        /// The parser's complaint.
        detail: String,
    },
    /// The client library refused the configuration (e.g. a local directory that does not exist).
    #[error("cannot open {what}: {detail}")]
    Build {
        /// Which store.
        what: String,
        /// Why (redacted).
        detail: String,
    },
}

impl From<StoreError> for BackendError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Build { .. } => BackendError::Unavailable {
                detail: e.to_string(),
            },
            _ => BackendError::Invalid {
                detail: e.to_string(),
            },
        }
    }
}

/// Client settings: timeouts, retries, and optionally the HTTP connector.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Retries of a failed request (object_store's default is 10).
    pub max_retries: usize,
    /// No retry is started after this much time since the first attempt.
    pub retry_timeout: Duration,
    /// The HTTP connector of cloud stores (default: object_store's reqwest one); e.g. a
    /// [`super::RequestCounter`].
    pub http_connector: Option<Arc<dyn HttpConnector>>,
}

/// An `Arc<dyn HttpConnector>` as a sized connector for the builders.
#[derive(Debug)]
struct SharedConnector(Arc<dyn HttpConnector>);

impl HttpConnector for SharedConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        self.0.connect(options)
    }
}

impl StoreOptions {
    /// Options with these limits.
    pub fn new(
        connect_timeout: Duration,
        request_timeout: Duration,
        max_retries: usize,
        retry_timeout: Duration,
    ) -> Self {
        Self {
            connect_timeout,
            request_timeout,
            max_retries,
            retry_timeout,
            http_connector: None,
        }
    }

    /// The same options with `connector` making the HTTP requests.
    pub fn with_http_connector(mut self, connector: Arc<dyn HttpConnector>) -> Self {
        self.http_connector = Some(connector);
        self
    }

    /// For preflight: fail fast and say why (one retry, 5 s connect, 10 s request).
    pub fn preflight() -> Self {
        Self::new(
            Duration::from_secs(5),
            Duration::from_secs(10),
            1,
            Duration::from_secs(5),
        )
    }
}

impl Default for StoreOptions {
    /// For reads of the catalog: a few retries, 30 s per request.
    fn default() -> Self {
        Self::new(
            Duration::from_secs(5),
            Duration::from_secs(30),
            3,
            Duration::from_secs(30),
        )
    }
}

fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::S3 => "s3",
        Provider::S3Compatible => "s3_compatible",
        Provider::Gcs => "gcs",
        Provider::Azure => "azure",
        Provider::Local => "local",
    }
}

fn credentials_name(c: &Credentials) -> &'static str {
    match c {
        Credentials::S3AccessKey { .. } => "s3_access_key",
        Credentials::S3InheritIamRole => "s3_inherit_iam_role",
        Credentials::GcsApplicationCredentials { .. } => "gcs_application_credentials",
        Credentials::GcsWorkloadIdentity => "gcs_workload_identity",
        Credentials::AzureStorageKey { .. } => "azure_storage_key",
        Credentials::AzureSasToken { .. } => "azure_sas_token",
        Credentials::AzureConnectionString { .. } => "azure_connection_string",
        Credentials::AzureInheritAd => "azure_inherit_ad",
        Credentials::None => "none",
    }
}

/// `ep` with any user info (`user:password@`) replaced by `[redacted]@`, for messages: an
/// endpoint is rejected *because* it carries credentials, and the error must not repeat them.
fn without_userinfo(ep: &str) -> String {
    let (scheme, rest) = match ep.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, ep),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((_, host)) = authority.rsplit_once('@') else {
        return ep.to_owned();
    };
    match scheme {
        Some(scheme) => format!("{scheme}://[redacted]@{host}{tail}"),
        None => format!("[redacted]@{host}{tail}"),
    }
}

/// The target's endpoint URL, parsed and checked (http or https, a host, no user info).
pub(crate) fn endpoint_url(target: &ObjectStoreTarget) -> Result<Option<reqwest::Url>, StoreError> {
    let Some(ep) = target.endpoint.as_deref() else {
        return Ok(None);
    };
    let bad = |expected| StoreError::Invalid {
        field: "endpoint",
        value: without_userinfo(ep),
        expected,
    };
    let url =
        reqwest::Url::parse(ep).map_err(|_| bad("expected a URL like `https://s3.example.com`"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("expected an `http://` or `https://` URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("expected a host name"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials do not belong in the URL; use the secret references",
        ));
    }
    Ok(Some(url))
}

/// Checks a target as configured, before any secret is read or request made.
///
/// # Errors
/// [`StoreError::Invalid`] or [`StoreError::CredentialsMismatch`] naming the first bad field.
pub fn validate_target(target: &ObjectStoreTarget) -> Result<(), StoreError> {
    let bucket = target.bucket.as_str();
    let invalid = |field, value: &str, expected| StoreError::Invalid {
        field,
        value: value.to_owned(),
        expected,
    };
    if target.provider == Provider::Local {
        if bucket.is_empty() {
            return Err(invalid("bucket", bucket, "expected a directory path"));
        }
    } else {
        let ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !ok {
            return Err(invalid(
                "bucket",
                bucket,
                "expected 3-63 lowercase letters, digits, `-` or `.`, starting and ending with a letter or digit",
            ));
        }
    }
    let prefix = target.prefix.as_str();
    if prefix.starts_with('/')
        || prefix.ends_with('/')
        || (!prefix.is_empty()
            && prefix
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."))
    {
        return Err(invalid(
            "prefix",
            prefix,
            "expected segments separated by single `/`, no leading or trailing `/`, no `.` or `..`",
        ));
    }
    let url = endpoint_url(target)?;
    match target.provider {
        Provider::S3Compatible if url.is_none() => {
            return Err(invalid(
                "endpoint",
                "",
                "an s3_compatible target needs an endpoint URL",
            ));
        }
        Provider::Local | Provider::Gcs if url.is_some() => {
            return Err(invalid(
                "endpoint",
                target.endpoint.as_deref().unwrap_or_default(),
                "this provider takes no endpoint",
            ));
        }
        _ => {}
    }
    if target.endpoint_ca.is_some() && url.as_ref().is_some_and(|u| u.scheme() == "http") {
        return Err(invalid(
            "endpoint",
            target.endpoint.as_deref().unwrap_or_default(),
            "an endpoint CA needs an `https://` endpoint",
        ));
    }
    let fits = matches!(
        (target.provider, &target.credentials),
        (
            Provider::S3,
            Credentials::S3AccessKey { .. } | Credentials::S3InheritIamRole
        ) | (Provider::S3Compatible, Credentials::S3AccessKey { .. })
            | (
                Provider::Gcs,
                Credentials::GcsApplicationCredentials { .. } | Credentials::GcsWorkloadIdentity,
            )
            | (
                Provider::Azure,
                Credentials::AzureStorageKey { .. }
                    | Credentials::AzureSasToken { .. }
                    | Credentials::AzureConnectionString { .. }
                    | Credentials::AzureInheritAd,
            )
            | (Provider::Local, Credentials::None)
    );
    if !fits {
        return Err(StoreError::CredentialsMismatch {
            provider: provider_name(target.provider),
            credentials: credentials_name(&target.credentials),
            expected: match target.provider {
                Provider::S3 => "s3_access_key or s3_inherit_iam_role",
                Provider::S3Compatible => "s3_access_key",
                Provider::Gcs => "gcs_application_credentials or gcs_workload_identity",
                Provider::Azure => {
                    "azure_storage_key, azure_sas_token, azure_connection_string or azure_inherit_ad"
                }
                Provider::Local => "none",
            },
        });
    }
    Ok(())
}

/// Makes ring the process-wide rustls provider unless one is installed already.
pub(crate) fn ensure_crypto_provider() {
    // Err means a provider is installed already: keep it.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client_options(
    target: &ObjectStoreTarget,
    creds: &ResolvedCredentials,
    opts: &StoreOptions,
) -> Result<ClientOptions, StoreError> {
    let mut client = ClientOptions::new()
        .with_connect_timeout(opts.connect_timeout)
        .with_timeout(opts.request_timeout);
    if let Some(url) = endpoint_url(target)? {
        client = client.with_allow_http(url.scheme() == "http");
    }
    if let Some(pem) = creds.endpoint_ca_pem() {
        let certs =
            Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| StoreError::BadCa {
                detail: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(StoreError::BadCa {
                detail: "no certificate found".to_owned(),
            });
        }
        for c in certs {
            client = client.with_root_certificate(c);
        }
    }
    Ok(client)
}

fn retry(opts: &StoreOptions) -> RetryConfig {
    RetryConfig {
        max_retries: opts.max_retries,
        retry_timeout: opts.retry_timeout,
        ..RetryConfig::default()
    }
}

/// Builds the client of `target` with `creds`. No request is made.
///
/// # Errors
/// [`StoreError`] when the target is invalid, the credentials do not fit, the CA is not PEM,
/// or the local directory does not exist.
pub fn build_store(
    target: &ObjectStoreTarget,
    creds: &ResolvedCredentials,
    opts: &StoreOptions,
) -> Result<Arc<dyn ObjectStore>, StoreError> {
    validate_target(target)?;
    ensure_crypto_provider();
    let build_err = |e: object_store::Error| StoreError::Build {
        what: target.destination_path(),
        detail: creds.redact(&e.to_string()),
    };
    let mismatch = || StoreError::CredentialsMismatch {
        provider: provider_name(target.provider),
        credentials: credentials_name(&target.credentials),
        expected: "credentials resolved for this provider",
    };
    let store: Arc<dyn ObjectStore> = match target.provider {
        Provider::S3 | Provider::S3Compatible => {
            let mut b = match &creds.secrets {
                Secrets::Ambient => AmazonS3Builder::from_env(),
                Secrets::S3AccessKey {
                    access_key_id,
                    secret_access_key,
                    session_token,
                } => {
                    let b = AmazonS3Builder::new()
                        .with_access_key_id(access_key_id.expose_secret())
                        .with_secret_access_key(secret_access_key.expose_secret());
                    match session_token {
                        Some(t) => b.with_token(t.expose_secret()),
                        None => b,
                    }
                }
                _ => return Err(mismatch()),
            };
            b = b
                .with_bucket_name(&target.bucket)
                .with_region(target.region.as_deref().unwrap_or("us-east-1"))
                .with_client_options(client_options(target, creds, opts)?)
                .with_retry(retry(opts));
            if let Some(c) = &opts.http_connector {
                b = b.with_http_connector(SharedConnector(c.clone()));
            }
            if let Some(ep) = &target.endpoint {
                // S3-compatible servers (MinIO, Ceph, moto) want path-style requests.
                b = b
                    .with_endpoint(ep.trim_end_matches('/'))
                    .with_virtual_hosted_style_request(false);
            }
            Arc::new(b.build().map_err(build_err)?)
        }
        Provider::Gcs => {
            let b = match &creds.secrets {
                Secrets::Ambient => GoogleCloudStorageBuilder::from_env(),
                Secrets::GcsServiceAccountKey { json } => {
                    GoogleCloudStorageBuilder::new().with_service_account_key(json.expose_secret())
                }
                _ => return Err(mismatch()),
            };
            let mut b = b
                .with_bucket_name(&target.bucket)
                .with_client_options(client_options(target, creds, opts)?)
                .with_retry(retry(opts));
            if let Some(c) = &opts.http_connector {
                b = b.with_http_connector(SharedConnector(c.clone()));
            }
            Arc::new(b.build().map_err(build_err)?)
        }
        Provider::Azure => {
            let mut b = match &creds.secrets {
                Secrets::Ambient => MicrosoftAzureBuilder::from_env(),
                Secrets::AzureStorageKey { account, key } => MicrosoftAzureBuilder::new()
                    .with_account(account)
                    .with_access_key(key.expose_secret()),
                Secrets::AzureSasToken { account, token } => MicrosoftAzureBuilder::new()
                    .with_account(account)
                    .with_config(
                        AzureConfigKey::SasKey,
                        token.expose_secret().trim_start_matches('?'),
                    ),
                _ => return Err(mismatch()),
            };
            b = b
                .with_container_name(&target.bucket)
                .with_client_options(client_options(target, creds, opts)?)
                .with_retry(retry(opts));
            if let Some(c) = &opts.http_connector {
                b = b.with_http_connector(SharedConnector(c.clone()));
            }
            if let Some(url) = endpoint_url(target)? {
                b = b
                    .with_endpoint(url.as_str().trim_end_matches('/').to_owned())
                    .with_allow_http(url.scheme() == "http");
            }
            Arc::new(b.build().map_err(build_err)?)
        }
        Provider::Local => Arc::new(LocalFileSystem::new_with_prefix(&target.bucket).map_err(
            |e| StoreError::Build {
                what: format!("local directory `{}`", target.bucket),
                detail: e.to_string(),
            },
        )?),
    };
    Ok(store)
}

/// The deepest message of an error's `source()` chain (where object_store hides the cause).
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A one-line description of an object_store error: its message, then the root cause when
/// the message does not already hold it. Secret values are redacted.
pub(crate) fn describe(e: &object_store::Error, creds: Option<&ResolvedCredentials>) -> String {
    let top = e.to_string();
    let root = root_cause(e);
    let text = if top.contains(&root) {
        top
    } else {
        format!("{top}; caused by: {root}")
    };
    match creds {
        Some(c) => c.redact(&text),
        None => text,
    }
}

/// The S3 error code and message in an error text (`<Code>…</Code><Message>…</Message>`).
pub(crate) fn s3_error_parts(text: &str) -> Option<(&str, &str)> {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&close)?;
        Some(&text[start..start + len])
    };
    Some((tag("Code")?, tag("Message").unwrap_or_default()))
}

/// S3 (and Azure) error codes that mean "these credentials may not do this".
const REFUSED_CODES: [&str; 10] = [
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "AllAccessDisabled",
    "AuthenticationFailed",
    "AuthorizationFailure",
];

/// How the core should read a storage error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The bucket (container, directory) does not exist.
    BucketMissing,
    /// The object does not exist.
    NotFound,
    /// The credentials are refused or lack permission.
    Refused,
    /// Anything else.
    Other,
}

/// Classifies an error by variant, then by the S3 code and HTTP status in its text
/// (object_store reports list failures as `Generic`).
pub(crate) fn classify(e: &object_store::Error, text: &str) -> ErrorKind {
    let code = s3_error_parts(text).map(|(c, _)| c);
    if code == Some("NoSuchBucket") || code == Some("ContainerNotFound") {
        return ErrorKind::BucketMissing;
    }
    match e {
        object_store::Error::NotFound { .. } => return ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => return ErrorKind::Refused,
        _ => {}
    }
    if code.is_some_and(|c| REFUSED_CODES.contains(&c))
        || text.contains("403 Forbidden")
        || text.contains("401 Unauthorized")
    {
        ErrorKind::Refused
    } else {
        ErrorKind::Other
    }
}

/// Maps an object_store error to what the core can act on (404, 409, 412, 401/403...).
pub(crate) fn backend_error(
    e: &object_store::Error,
    creds: Option<&ResolvedCredentials>,
) -> BackendError {
    let detail = describe(e, creds);
    match classify(e, &detail) {
        ErrorKind::BucketMissing | ErrorKind::NotFound => {
            return BackendError::NotFound { what: detail };
        }
        ErrorKind::Refused => return BackendError::Forbidden { detail },
        ErrorKind::Other => {}
    }
    match e {
        object_store::Error::NotFound { .. } => BackendError::NotFound { what: detail },
        object_store::Error::AlreadyExists { .. } => BackendError::AlreadyExists { what: detail },
        object_store::Error::Precondition { .. } => BackendError::Conflict {
            what: "object".to_owned(),
            detail,
        },
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => BackendError::Forbidden { detail },
        object_store::Error::InvalidPath { .. }
        | object_store::Error::NotSupported { .. }
        | object_store::Error::NotImplemented { .. }
        | object_store::Error::UnknownConfigurationKey { .. } => BackendError::Invalid { detail },
        _ => BackendError::Unavailable { detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(v: serde_json::Value) -> ObjectStoreTarget {
        serde_json::from_value(v).unwrap()
    }

    fn s3c(endpoint: &str, prefix: &str) -> ObjectStoreTarget {
        target(serde_json::json!({
            "provider": "s3_compatible",
            "endpoint": endpoint,
            "bucket": "cnpg-backups",
            "prefix": prefix,
            "credentials": {"kind": "s3_access_key",
                "access_key_id": {"name": "s3", "key": "id"},
                "secret_access_key": {"name": "s3", "key": "secret"}},
        }))
    }

    #[test]
    fn an_endpoint_with_credentials_is_rejected_without_repeating_them() {
        for ep in [
            "https://user:planted-PASS@s3.example.com",
            "https://user:planted-PASS@s3.example.com/path",
            "ftp://user:planted-PASS@s3.example.com",
            "https://user:planted PASS@s3.example.com",
            "https://planted-PASS@s3.example.com",
        ] {
            let err = validate_target(&s3c(ep, "p")).expect_err(ep).to_string();
            assert!(!err.contains("planted"), "{ep}: {err}");
            assert!(err.contains("[redacted]@s3.example.com"), "{ep}: {err}");
        }
        assert_eq!(
            without_userinfo("https://s3.example.com/a@b"),
            "https://s3.example.com/a@b"
        );
    }

    #[test]
    fn a_valid_s3_compatible_target_passes() {
        assert_eq!(
            validate_target(&s3c("http://127.0.0.1:9000", "platform/x")),
            Ok(())
        );
    }

    #[test]
    fn bad_fields_are_named_with_their_value() {
        let err = validate_target(&s3c("ftp://h", "")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "endpoint `ftp://h`: expected an `http://` or `https://` URL"
        );
        let err = validate_target(&s3c("http://h", "/lead")).unwrap_err();
        assert!(err.to_string().starts_with("prefix `/lead`: "), "{err}");
        let err = validate_target(&s3c("http://h", "a//b")).unwrap_err();
        assert!(err.to_string().starts_with("prefix `a//b`: "), "{err}");
        let mut t = s3c("http://h", "");
        t.bucket = "Bad_Bucket".to_owned();
        let err = validate_target(&t).unwrap_err();
        assert!(
            err.to_string().starts_with("bucket `Bad_Bucket`: "),
            "{err}"
        );
        let mut t = s3c("http://h", "");
        t.endpoint = None;
        assert!(matches!(
            validate_target(&t),
            Err(StoreError::Invalid {
                field: "endpoint",
                ..
            })
        ));
    }

    #[test]
    fn credentials_must_fit_the_provider() {
        let mut t = s3c("http://h", "");
        t.credentials = Credentials::GcsWorkloadIdentity;
        assert_eq!(
            validate_target(&t).unwrap_err().to_string(),
            "credentials `gcs_workload_identity` do not fit provider `s3_compatible`; expected s3_access_key"
        );
    }

    #[test]
    fn a_local_directory_that_does_not_exist_is_a_build_error() {
        let t = target(serde_json::json!({
            "provider": "local", "bucket": "/nonexistent/cnpg-backup-test-dir",
            "credentials": {"kind": "none"},
        }));
        let err =
            build_store(&t, &ResolvedCredentials::none(), &StoreOptions::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot open local directory `/nonexistent/cnpg-backup-test-dir`: "),
            "{err}"
        );
    }

    #[test]
    fn a_ca_that_is_not_pem_is_refused() {
        let t = {
            let mut t = s3c("https://h", "");
            t.endpoint_ca = Some(cnpg_backup_core::target::SecretRef::new(
                "ca".parse().unwrap(),
                "ca.crt".to_owned(),
            ));
            t
        };
        let creds = ResolvedCredentials::s3_access_key(
            "id".to_owned().into(),
            "secret".to_owned().into(),
            None,
        )
        .with_endpoint_ca_pem("not a certificate".to_owned());
        assert!(matches!(
            build_store(&t, &creds, &StoreOptions::default()),
            Err(StoreError::BadCa { .. })
        ));
    }
}
