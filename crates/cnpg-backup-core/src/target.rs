//! Object-storage targets: where backups go, and which Kubernetes secrets hold the credentials.
//!
//! A target holds secret *references* (name + key), never secret values.
//! [`ObjectStoreTarget::validate`] checks it per provider and derives what Barman needs: the
//! `destinationPath`, the endpoint URL, and the key prefix of each server's archive.
//!
//! Azure: the storage account is not a separate field. It is part of the target's `endpoint`,
//! which Azure requires: the account's blob endpoint `https://<account>.blob.core.windows.net`
//! (or another cloud's `*.blob.core.*` host), or an emulator URL with the account as its only
//! path segment, `http://azurite:10000/<account>`. The destination path is then
//! `<endpoint>/<container>/<prefix>`, exactly the form Barman expects, and no endpoint URL is
//! passed separately. This keeps the account name (which is not a secret) visible in one place.
//!
//! Not here: checking that the bucket exists or the secrets resolve (the preflight does that).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{ClusterName, ObjectName, ServerName, truncate_for_message};

/// The kind of object storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Amazon S3.
    S3,
    /// An S3-compatible server (MinIO, Ceph RGW, ...): needs an endpoint URL.
    S3Compatible,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
    /// A local directory: the embedded default and tests. Not usable by a real CNPG cluster.
    Local,
}

/// A reference to one key of a Kubernetes Secret in the deployment namespace. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SecretRef {
    /// Secret name (DNS-1123 subdomain).
    pub name: ObjectName,
    /// Key inside the secret.
    pub key: String,
}

/// How the database pods and this tool authenticate to the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// S3 access key pair (S3 and S3-compatible).
    S3AccessKey {
        /// Access key id.
        access_key_id: SecretRef,
        /// Secret access key.
        secret_access_key: SecretRef,
        /// Optional session token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<SecretRef>,
    },
    /// IAM role of the pod (IRSA / EKS Pod Identity): S3 only.
    S3InheritIamRole,
    /// A GCS service-account JSON key.
    GcsApplicationCredentials {
        /// The JSON key file.
        application_credentials: SecretRef,
    },
    /// GKE workload identity.
    GcsWorkloadIdentity,
    /// Azure storage account and key.
    AzureStorageKey {
        /// Storage account name.
        storage_account: SecretRef,
        /// Storage account key.
        storage_key: SecretRef,
    },
    /// Azure storage account and SAS token.
    AzureSasToken {
        /// Storage account name.
        storage_account: SecretRef,
        /// SAS token.
        storage_sas_token: SecretRef,
    },
    /// Azure connection string.
    AzureConnectionString {
        /// The connection string.
        connection_string: SecretRef,
    },
    /// Azure AD workload identity.
    AzureInheritAd,
    /// No credentials (local directory provider).
    None,
}

/// Where backups go: one bucket (or container, or directory) and a path prefix inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ObjectStoreTarget {
    /// The provider.
    pub provider: Provider,
    /// Endpoint URL (required for S3-compatible; optional override elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Bucket (S3, GCS), container (Azure) or directory (local).
    pub bucket: String,
    /// Region (S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path prefix inside the bucket (normalised: no leading or trailing `/`).
    #[serde(default)]
    pub prefix: String,
    /// Credentials, as secret references.
    pub credentials: Credentials,
    /// A secret holding the CA bundle that signs the endpoint's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_ca: Option<SecretRef>,
    /// Whether backups should be written to this target.
    #[serde(default = "default_true")]
    pub use_for_backups: bool,
}

fn default_true() -> bool {
    true
}

/// The longest path prefix we accept, in bytes: S3 keys are at most 1024 bytes, and Barman adds
/// `<server>/wals/<timeline+segment prefix>/<wal file>.<compression>` below it.
pub const PREFIX_MAX_BYTES: usize = 512;

/// The longest key inside a Kubernetes Secret.
pub const SECRET_KEY_MAX: usize = 253;

/// The longest local directory path we accept, in bytes.
pub const LOCAL_PATH_MAX_BYTES: usize = 4096;

impl Provider {
    /// The lowercase name used in messages and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::S3 => "s3",
            Provider::S3Compatible => "s3_compatible",
            Provider::Gcs => "gcs",
            Provider::Azure => "azure",
            Provider::Local => "local",
        }
    }

    /// What this provider calls a bucket, for messages.
    fn bucket_word(self) -> &'static str {
        match self {
            Provider::Azure => "container",
            Provider::Local => "directory",
            _ => "bucket",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Credentials {
    /// The kind's name as it appears in documents (`s3_access_key`, `none`...).
    pub fn kind(&self) -> &'static str {
        match self {
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

    /// Every secret reference the credentials name, in a fixed order.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        match self {
            Credentials::S3AccessKey {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let mut v = vec![access_key_id, secret_access_key];
                v.extend(session_token.as_ref());
                v
            }
            Credentials::GcsApplicationCredentials {
                application_credentials,
            } => vec![application_credentials],
            Credentials::AzureStorageKey {
                storage_account,
                storage_key,
            } => vec![storage_account, storage_key],
            Credentials::AzureSasToken {
                storage_account,
                storage_sas_token,
            } => vec![storage_account, storage_sas_token],
            Credentials::AzureConnectionString { connection_string } => vec![connection_string],
            Credentials::S3InheritIamRole
            | Credentials::GcsWorkloadIdentity
            | Credentials::AzureInheritAd
            | Credentials::None => Vec::new(),
        }
    }

    fn allowed_for(&self, provider: Provider) -> bool {
        matches!(
            (provider, self),
            (
                Provider::S3,
                Credentials::S3AccessKey { .. } | Credentials::S3InheritIamRole
            ) | (Provider::S3Compatible, Credentials::S3AccessKey { .. })
                | (
                    Provider::Gcs,
                    Credentials::GcsApplicationCredentials { .. }
                        | Credentials::GcsWorkloadIdentity
                )
                | (
                    Provider::Azure,
                    Credentials::AzureStorageKey { .. }
                        | Credentials::AzureSasToken { .. }
                        | Credentials::AzureConnectionString { .. }
                        | Credentials::AzureInheritAd
                )
                | (Provider::Local, Credentials::None)
        )
    }
}

fn expected_credentials(provider: Provider) -> &'static str {
    match provider {
        Provider::S3 => "`s3_access_key` or `s3_inherit_iam_role`",
        Provider::S3Compatible => "`s3_access_key`",
        Provider::Gcs => "`gcs_application_credentials` or `gcs_workload_identity`",
        Provider::Azure => {
            "one of `azure_storage_key`, `azure_sas_token`, `azure_connection_string`, `azure_inherit_ad`"
        }
        Provider::Local => "`none`",
    }
}

impl SecretRef {
    /// A reference to `key` in secret `name`.
    pub fn new(name: ObjectName, key: impl Into<String>) -> Self {
        Self {
            name,
            key: key.into(),
        }
    }

    /// Checks the key as Kubernetes checks Secret keys: `[-._a-zA-Z0-9]+`, at most
    /// [`SECRET_KEY_MAX`] characters, and not `.`, `..` or starting with `..`. (The name is
    /// already a validated [`ObjectName`].)
    ///
    /// # Errors
    /// [`TargetError::SecretKey`] naming the secret, the key and the rule.
    pub fn validate(&self) -> Result<(), TargetError> {
        let bad = |reason: &'static str| TargetError::SecretKey {
            secret: self.name.to_string(),
            key: truncate_for_message(&self.key),
            reason,
        };
        let k = self.key.as_str();
        if k.is_empty() {
            return Err(bad("is empty"));
        }
        if k.len() > SECRET_KEY_MAX {
            return Err(bad("is longer than 253 characters"));
        }
        if !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(bad(
                "may only contain letters, digits, `-`, `_` and `.` (a Kubernetes secret key)",
            ));
        }
        if k == "." || k.starts_with("..") {
            return Err(bad("must not be `.` or start with `..`"));
        }
        Ok(())
    }
}

/// Why a target was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The bucket (container, directory) name breaks the provider's rules.
    #[error("{provider} {word} `{bucket}`: {reason}")]
    Bucket {
        /// The provider.
        provider: Provider,
        /// `bucket`, `container` or `directory`.
        word: &'static str,
        /// The offending name (shortened).
        bucket: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The provider needs an endpoint URL and none was given.
    #[error("{provider} target needs an endpoint URL: {hint}")]
    EndpointRequired {
        /// The provider.
        provider: Provider,
        /// What to give.
        hint: &'static str,
    },
    /// The endpoint URL is malformed or not allowed here.
    #[error("endpoint `{endpoint}`: {reason}")]
    Endpoint {
        /// The offending URL (shortened).
        endpoint: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A CA bundle was given but the endpoint is plain http.
    #[error(
        "endpoint `{endpoint}` is plain http but an endpoint CA is set; use an `https://` endpoint or drop the CA"
    )]
    CaNeedsHttps {
        /// The endpoint.
        endpoint: String,
    },
    /// The region is malformed, or set for a provider that has none.
    #[error("region `{region}`: {reason}")]
    Region {
        /// The offending region (shortened).
        region: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The path prefix is not usable.
    #[error("path prefix `{prefix}`: {reason}")]
    Prefix {
        /// The offending prefix (shortened).
        prefix: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The credentials kind does not fit the provider.
    #[error("{provider} target cannot use `{given}` credentials; expected {expected}")]
    Credentials {
        /// The provider.
        provider: Provider,
        /// The kind given.
        given: &'static str,
        /// The kinds allowed.
        expected: &'static str,
    },
    /// A secret reference's key is not a valid Kubernetes secret key.
    #[error("secret `{secret}` key `{key}`: {reason}")]
    SecretKey {
        /// The secret name.
        secret: String,
        /// The offending key (shortened).
        key: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A field the local provider cannot use was set.
    #[error("local targets have no {field}; remove it")]
    NotForLocal {
        /// `endpoint`, `region` or `endpoint CA`.
        field: &'static str,
    },
}

/// Normalises a path prefix: `/a//b/` becomes `a/b`.
///
/// # Errors
/// [`TargetError::Prefix`] for a `.` or `..` segment, a control character, more than
/// [`PREFIX_MAX_BYTES`] bytes, or a segment over 255 bytes.
pub fn normalise_prefix(prefix: &str) -> Result<String, TargetError> {
    let bad = |reason: &str| TargetError::Prefix {
        prefix: truncate_for_message(prefix),
        reason: reason.to_owned(),
    };
    if let Some(c) = prefix.chars().find(|c| c.is_control()) {
        return Err(bad(&format!(
            "control character {c:?} is not allowed in object keys"
        )));
    }
    let mut out = String::with_capacity(prefix.len());
    for seg in prefix.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." {
            return Err(bad(
                "`.` and `..` segments are not allowed; give a plain path such as `backups/prod`",
            ));
        }
        if seg.len() > 255 {
            return Err(bad("a segment is longer than 255 bytes"));
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(seg);
    }
    if out.len() > PREFIX_MAX_BYTES {
        return Err(bad(&format!(
            "is {} bytes long; the limit is {PREFIX_MAX_BYTES}",
            out.len()
        )));
    }
    Ok(out)
}

/// A parsed endpoint URL: `http(s)://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    https: bool,
    host: String,
    /// Path without leading or trailing `/` (empty when none).
    path: String,
    /// The URL as written, without a trailing `/`.
    url: String,
}

/// The endpoint as errors may show it: any user info (`user:password@`) replaced, since a
/// password written into the URL must never reach a log or an error.
fn redact_userinfo(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}[redacted]{}", &rest[at..]),
        None => raw.to_owned(),
    }
}

fn parse_endpoint(raw: &str) -> Result<Endpoint, TargetError> {
    let shown = redact_userinfo(raw);
    let bad = |reason: &str| TargetError::Endpoint {
        endpoint: truncate_for_message(&shown),
        reason: reason.to_owned(),
    };
    if raw.len() > 2048 {
        return Err(bad("is longer than 2048 bytes"));
    }
    if raw
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || !c.is_ascii())
    {
        return Err(bad("contains spaces, control or non-ASCII characters"));
    }
    let (https, rest) = if let Some(r) = raw.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = raw.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad(
            "must start with `https://` (or `http://` to allow plain http), e.g. `https://minio.example:9000`",
        ));
    };
    if rest.contains(['?', '#']) {
        return Err(bad("must not have a query or fragment"));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') {
        return Err(bad(
            "must not contain user info; put credentials in secrets",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed `[` in the host"))?;
        if h.is_empty()
            || !h
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(bad("has a malformed IPv6 host"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad("has text after the IPv6 host"))?,
            ),
        };
        (format!("[{h}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if !host.starts_with('[') {
        let labels_ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !labels_ok {
            return Err(bad(
                "host must be a DNS name or IP address, e.g. `https://minio.example:9000`",
            ));
        }
    }
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n));
        if !ok {
            return Err(bad("port must be a number from 1 to 65535"));
        }
    }
    let path = path.trim_matches('/');
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(bad("path must not contain `.` or `..` segments"));
    }
    Ok(Endpoint {
        https,
        host: host.to_ascii_lowercase(),
        path: path.to_owned(),
        url: raw.trim_end_matches('/').to_owned(),
    })
}

fn is_ipv4_form(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_bucket(provider: Provider, bucket: &str) -> Result<(), TargetError> {
    let bad = |reason: String| TargetError::Bucket {
        provider,
        word: provider.bucket_word(),
        bucket: truncate_for_message(bucket),
        reason,
    };
    if provider == Provider::Local {
        if bucket.is_empty() {
            return Err(bad("is empty; give a directory path".to_owned()));
        }
        if bucket.contains('\0') {
            return Err(bad("contains a NUL character".to_owned()));
        }
        if bucket.len() > LOCAL_PATH_MAX_BYTES {
            return Err(bad(format!("is longer than {LOCAL_PATH_MAX_BYTES} bytes")));
        }
        return Ok(());
    }
    let len = bucket.len();
    let max = if provider == Provider::Gcs && bucket.contains('.') {
        222
    } else {
        63
    };
    if !(3..=max).contains(&len) {
        return Err(bad(format!(
            "must be 3 to {max} characters long, not {len}"
        )));
    }
    let allowed = |c: char| match provider {
        Provider::Azure => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        Provider::Gcs => {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
        }
        _ => c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'),
    };
    if let Some(c) = bucket.chars().find(|c| !allowed(*c)) {
        let set = match provider {
            Provider::Azure => "lowercase letters, digits and `-`",
            Provider::Gcs => "lowercase letters, digits, `-`, `_` and `.`",
            _ => "lowercase letters, digits, `-` and `.`",
        };
        return Err(bad(format!("character {c:?} is not allowed; use {set}")));
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !bucket.starts_with(alnum) || !bucket.ends_with(alnum) {
        return Err(bad("must start and end with a letter or digit".to_owned()));
    }
    match provider {
        Provider::Azure => {
            if bucket.contains("--") {
                return Err(bad("must not contain `--`".to_owned()));
            }
        }
        _ => {
            if bucket.contains("..") {
                return Err(bad("must not contain `..`".to_owned()));
            }
            if bucket.contains(".-") || bucket.contains("-.") {
                return Err(bad(
                    "each dot-separated part must start and end with a letter or digit".to_owned(),
                ));
            }
            if is_ipv4_form(bucket) {
                return Err(bad(
                    "must not look like an IP address such as `192.168.5.4`".to_owned(),
                ));
            }
        }
    }
    match provider {
        Provider::S3 => {
            for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
                if bucket.starts_with(p) {
                    return Err(bad(format!("must not start with `{p}` (reserved by AWS)")));
                }
            }
            for sfx in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
                if bucket.ends_with(sfx) {
                    return Err(bad(format!("must not end with `{sfx}` (reserved by AWS)")));
                }
            }
        }
        Provider::Gcs => {
            if bucket.split('.').any(|p| p.len() > 63) {
                return Err(bad(
                    "each dot-separated part must be at most 63 characters".to_owned()
                ));
            }
            if bucket.starts_with("goog") {
                return Err(bad(
                    "must not start with `goog` (reserved by Google)".to_owned()
                ));
            }
            if bucket.contains("google") || bucket.contains("g00gle") {
                return Err(bad(
                    "must not contain `google` (reserved by Google)".to_owned()
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_region(provider: Provider, region: &str) -> Result<(), TargetError> {
    let bad = |reason: &str| TargetError::Region {
        region: truncate_for_message(region),
        reason: reason.to_owned(),
    };
    match provider {
        Provider::S3 => {
            // `us-east-1`, `eu-central-2`, `us-gov-west-1`, `us-isob-east-1`, `cn-north-1`.
            let parts: Vec<&str> = region.split('-').collect();
            let ok = parts.len() >= 3
                && parts.len() <= 4
                && parts[0].len() == 2
                && parts[..parts.len() - 1]
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
                && parts.last().is_some_and(|n| {
                    (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
                });
            if ok {
                Ok(())
            } else {
                Err(bad(
                    "expected an AWS region such as `us-east-1` or `eu-central-2`",
                ))
            }
        }
        Provider::S3Compatible => {
            let ok = !region.is_empty()
                && region.len() <= 64
                && region.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if ok {
                Ok(())
            } else {
                Err(bad(
                    "expected 1 to 64 lowercase letters, digits, `-` or `_`, e.g. `us-east-1`",
                ))
            }
        }
        Provider::Gcs | Provider::Azure => Err(bad(&format!(
            "{provider} targets have no region; remove it (the bucket's location is set where the bucket is created)"
        ))),
        Provider::Local => Err(TargetError::NotForLocal { field: "region" }),
    }
}

/// A target that passed [`ObjectStoreTarget::validate`], with its prefix normalised and what
/// Barman needs derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedTarget {
    target: ObjectStoreTarget,
    destination_path: String,
    endpoint_url: Option<String>,
    azure_account: Option<String>,
}

impl ValidatedTarget {
    /// The target, prefix normalised.
    pub fn target(&self) -> &ObjectStoreTarget {
        &self.target
    }

    /// The target, prefix normalised.
    pub fn into_target(self) -> ObjectStoreTarget {
        self.target
    }

    /// Barman's `destinationPath`: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `https://<account>.blob.core.windows.net/<container>/<prefix>`, or `file://<dir>/<prefix>`.
    pub fn destination_path(&self) -> &str {
        &self.destination_path
    }

    /// Barman's `endpointURL` (S3, S3-compatible, GCS when set; never for Azure, whose endpoint
    /// is part of the destination path).
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    /// The Azure storage account, taken from the endpoint.
    pub fn azure_account(&self) -> Option<&str> {
        self.azure_account.as_deref()
    }

    /// The bucket key prefix under which `server`'s archive lives: `<prefix>/<server>/`.
    pub fn server_prefix(&self, server: &ServerName) -> String {
        self.target.server_prefix(server)
    }
}

fn azure_account(ep: &Endpoint) -> Result<String, TargetError> {
    let bad = |reason: &str| TargetError::Endpoint {
        endpoint: truncate_for_message(&ep.url),
        reason: reason.to_owned(),
    };
    let account = match ep.host.split_once(".blob.core.") {
        Some((account, _)) if ep.path.is_empty() => account.to_owned(),
        Some(_) => {
            return Err(bad(
                "an Azure blob endpoint has no path; give `https://<account>.blob.core.windows.net`",
            ));
        }
        None if !ep.path.is_empty() && !ep.path.contains('/') => ep.path.clone(),
        None => {
            return Err(bad(
                "expected `https://<account>.blob.core.windows.net`, or an emulator URL ending in the account, e.g. `http://azurite:10000/devstoreaccount1`",
            ));
        }
    };
    let ok = (3..=24).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(account)
    } else {
        Err(bad(&format!(
            "storage account `{}` must be 3 to 24 lowercase letters or digits",
            truncate_for_message(&account)
        )))
    }
}

impl ObjectStoreTarget {
    /// A target with no endpoint, region or CA, used for backups, with its prefix normalised.
    /// Add the optional parts with [`with_endpoint`](Self::with_endpoint),
    /// [`with_region`](Self::with_region) and [`with_endpoint_ca`](Self::with_endpoint_ca);
    /// [`validate`](Self::validate) checks the whole.
    ///
    /// # Errors
    /// [`TargetError::Prefix`] when the prefix cannot be normalised.
    pub fn new(
        provider: Provider,
        bucket: impl Into<String>,
        prefix: &str,
        credentials: Credentials,
    ) -> Result<Self, TargetError> {
        Ok(Self {
            provider,
            endpoint: None,
            bucket: bucket.into(),
            region: None,
            prefix: normalise_prefix(prefix)?,
            credentials,
            endpoint_ca: None,
            use_for_backups: true,
        })
    }

    /// With an endpoint URL.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// With a region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// With a CA bundle secret for the endpoint.
    pub fn with_endpoint_ca(mut self, ca: SecretRef) -> Self {
        self.endpoint_ca = Some(ca);
        self
    }

    /// The same target with its prefix normalised (`/a//b/` → `a/b`).
    ///
    /// # Errors
    /// [`TargetError::Prefix`] when the prefix cannot be normalised.
    pub fn normalised(&self) -> Result<ObjectStoreTarget, TargetError> {
        let mut t = self.clone();
        t.prefix = normalise_prefix(&self.prefix)?;
        Ok(t)
    }

    /// Checks the target for its provider and derives what Barman needs.
    ///
    /// Rules: bucket naming per provider (S3 and S3-compatible: 3-63 of `a-z0-9.-`, no `..`, no
    /// IP form, plus AWS's reserved prefixes and suffixes for S3; GCS: 3-63 of `a-z0-9-_.` or up
    /// to 222 with dots, nothing with `google`; Azure: 3-63 of `a-z0-9-`, no `--`; local: a
    /// non-empty path without NUL); the endpoint is `http(s)://host[:port]`, required for
    /// S3-compatible and Azure, plain http only when it says `http://`, and `https://` whenever an
    /// endpoint CA is given; a region only for S3 (AWS shape) and S3-compatible; the prefix
    /// normalises; the credentials kind fits the provider; every secret key is a valid
    /// Kubernetes secret key.
    ///
    /// # Errors
    /// The first [`TargetError`] found, in the order above.
    pub fn validate(&self) -> Result<ValidatedTarget, TargetError> {
        let target = self.normalised()?;
        let provider = target.provider;
        check_bucket(provider, &target.bucket)?;

        let endpoint = target.endpoint.as_deref().map(parse_endpoint).transpose()?;
        if provider == Provider::Local {
            if target.endpoint.is_some() {
                return Err(TargetError::NotForLocal { field: "endpoint" });
            }
            if target.endpoint_ca.is_some() {
                return Err(TargetError::NotForLocal {
                    field: "endpoint CA",
                });
            }
        }
        let required_hint = match provider {
            Provider::S3Compatible => {
                Some("give the server's URL, e.g. `https://minio.example:9000`")
            }
            Provider::Azure => Some(
                "give the storage account's blob endpoint, e.g. `https://myaccount.blob.core.windows.net`",
            ),
            _ => None,
        };
        if let (Some(hint), None) = (required_hint, &endpoint) {
            return Err(TargetError::EndpointRequired { provider, hint });
        }
        if let Some(ep) = &endpoint {
            if provider != Provider::Azure && !ep.path.is_empty() {
                return Err(TargetError::Endpoint {
                    endpoint: truncate_for_message(&ep.url),
                    reason: "must not have a path; put the path in the prefix".to_owned(),
                });
            }
            if target.endpoint_ca.is_some() && !ep.https {
                return Err(TargetError::CaNeedsHttps {
                    endpoint: truncate_for_message(&ep.url),
                });
            }
        }
        if let Some(region) = &target.region {
            check_region(provider, region)?;
        }
        if !target.credentials.allowed_for(provider) {
            return Err(TargetError::Credentials {
                provider,
                given: target.credentials.kind(),
                expected: expected_credentials(provider),
            });
        }
        for r in target
            .credentials
            .secret_refs()
            .into_iter()
            .chain(target.endpoint_ca.as_ref())
        {
            r.validate()?;
        }

        let azure_account = match (&endpoint, provider) {
            (Some(ep), Provider::Azure) => Some(azure_account(ep)?),
            _ => None,
        };
        let endpoint_url = match provider {
            Provider::Azure | Provider::Local => None,
            _ => endpoint.as_ref().map(|e| e.url.clone()),
        };
        let destination_path = target.destination_path();
        Ok(ValidatedTarget {
            target,
            destination_path,
            endpoint_url,
            azure_account,
        })
    }

    /// Barman's `destinationPath` for this target, e.g. `s3://bucket/prefix`; for Azure
    /// `<endpoint>/<container>/<prefix>`. Meaningful for a valid target: prefer
    /// [`ValidatedTarget::destination_path`]. The prefix is normalised on the way (an
    /// unnormalisable prefix is used as written).
    pub fn destination_path(&self) -> String {
        let base = match self.provider {
            Provider::S3 | Provider::S3Compatible => format!("s3://{}", self.bucket),
            Provider::Gcs => format!("gs://{}", self.bucket),
            Provider::Azure => match &self.endpoint {
                Some(ep) => format!("{}/{}", ep.trim_end_matches('/'), self.bucket),
                None => format!("https://{}", self.bucket),
            },
            Provider::Local => {
                let dir = self.bucket.trim_end_matches('/');
                let dir = if dir.is_empty() { "/" } else { dir };
                format!("file://{dir}")
            }
        };
        let prefix = normalise_prefix(&self.prefix).unwrap_or_else(|_| self.prefix.clone());
        if prefix.is_empty() {
            base
        } else if base.ends_with('/') {
            format!("{base}{prefix}")
        } else {
            format!("{base}/{prefix}")
        }
    }

    /// The bucket key prefix under which `server`'s archive lives: `<prefix>/<server>/`.
    pub fn server_prefix(&self, server: &ServerName) -> String {
        let prefix = normalise_prefix(&self.prefix).unwrap_or_else(|_| self.prefix.clone());
        if prefix.is_empty() {
            format!("{server}/")
        } else {
            format!("{prefix}/{server}/")
        }
    }

    /// The archive server name of a live cluster: its name, as CNPG defaults it.
    pub fn server_name_for(&self, cluster: &ClusterName) -> ServerName {
        cluster.default_server_name()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sref(name: &str, key: &str) -> SecretRef {
        SecretRef::new(name.parse().unwrap(), key)
    }

    fn s3_keys() -> Credentials {
        Credentials::S3AccessKey {
            access_key_id: sref("s3-creds", "ACCESS_KEY_ID"),
            secret_access_key: sref("s3-creds", "ACCESS_SECRET_KEY"),
            session_token: None,
        }
    }

    fn s3(bucket: &str) -> ObjectStoreTarget {
        ObjectStoreTarget::new(Provider::S3, bucket, "", s3_keys()).unwrap()
    }

    fn azure(endpoint: &str) -> ObjectStoreTarget {
        ObjectStoreTarget::new(
            Provider::Azure,
            "backups",
            "prod/db",
            Credentials::AzureInheritAd,
        )
        .unwrap()
        .with_endpoint(endpoint)
    }

    fn bucket_err(provider: Provider, bucket: &str) -> String {
        check_bucket(provider, bucket).unwrap_err().to_string()
    }

    #[test]
    fn a_password_in_the_endpoint_never_reaches_the_error() {
        for raw in [
            "https://user:Pl4nted-S3cret@minio.example:9000",
            "http://user:Pl4nted-S3cret@minio.example/path",
            "https://Pl4nted-S3cret@minio.example",
            "https://user:Pl4nted-S3cret@minio example",
            "ftp://user:Pl4nted-S3cret@minio.example",
        ] {
            let e = parse_endpoint(raw).unwrap_err().to_string();
            assert!(!e.contains("Pl4nted-S3cret"), "{raw}: {e}");
            assert!(e.contains("[redacted]@"), "{raw}: {e}");
        }
        assert_eq!(
            redact_userinfo("https://minio.example/a@b"),
            "https://minio.example/a@b"
        );
    }

    #[test]
    fn prefix_normalisation() {
        for (raw, want) in [
            ("", ""),
            ("/", ""),
            ("/a//b/", "a/b"),
            ("a/b", "a/b"),
            ("//x///y//z//", "x/y/z"),
            ("a.b/..c/c..", "a.b/..c/c.."),
        ] {
            assert_eq!(normalise_prefix(raw).unwrap(), want, "{raw:?}");
        }
        for (raw, why) in [
            ("a/../b", "`..`"),
            ("./a", "`.`"),
            ("a\nb", "control character"),
            ("a\u{7f}", "control character"),
        ] {
            let e = normalise_prefix(raw).unwrap_err().to_string();
            assert!(e.contains(why), "{raw:?}: {e}");
        }
        assert!(normalise_prefix(&"a".repeat(256)).is_err());
        let long = vec!["a".repeat(200); 3].join("/");
        assert!(
            normalise_prefix(&long)
                .unwrap_err()
                .to_string()
                .contains("512")
        );
        assert!(normalise_prefix(&vec!["a".repeat(100); 5].join("/")).is_ok());
    }

    #[test]
    fn constructor_and_normalised_store_the_normal_prefix() {
        let t = ObjectStoreTarget::new(Provider::S3, "bkt", "/a//b/", s3_keys()).unwrap();
        assert_eq!(t.prefix, "a/b");
        let mut raw = t.clone();
        raw.prefix = "//a/b//".to_owned();
        assert_eq!(raw.normalised().unwrap(), t);
        assert_eq!(raw.validate().unwrap().target().prefix, "a/b");
        assert!(ObjectStoreTarget::new(Provider::S3, "bkt", "../x", s3_keys()).is_err());
    }

    #[test]
    fn s3_bucket_rules() {
        for ok in ["abc", "my-bucket.prod", "a1b2", &"a".repeat(63)] {
            assert_eq!(check_bucket(Provider::S3, ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ab", "3 to 63"),
            (&"a".repeat(64) as &str, "3 to 63"),
            ("My-Bucket", "'M'"),
            ("my_bucket", "'_'"),
            ("-abc", "start and end"),
            ("abc.", "start and end"),
            ("a..b", "`..`"),
            ("a.-b", "dot-separated"),
            ("192.168.5.4", "IP address"),
            ("xn--abc", "`xn--`"),
            ("sthree-x", "`sthree-`"),
            ("amzn-s3-demo-x", "`amzn-s3-demo-`"),
            ("abc-s3alias", "`-s3alias`"),
            ("abc--ol-s3", "`--ol-s3`"),
            ("abc.mrap", "`.mrap`"),
            ("abc--x-s3", "`--x-s3`"),
            ("abc--table-s3", "`--table-s3`"),
        ] {
            let e = bucket_err(Provider::S3, bad);
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.starts_with("s3 bucket `"), "{e}");
        }
        // S3-compatible servers take the same shape but not AWS's reserved names.
        assert_eq!(check_bucket(Provider::S3Compatible, "xn--abc"), Ok(()));
        assert!(check_bucket(Provider::S3Compatible, "10.0.0.1").is_err());
    }

    #[test]
    fn gcs_bucket_rules() {
        for ok in [
            "my_bucket",
            "a-b.c",
            &format!("{}.{}", "a".repeat(63), "b".repeat(63)),
        ] {
            assert_eq!(check_bucket(Provider::Gcs, ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("goog-backups", "`goog`"),
            ("my-google-bucket", "`google`"),
            ("my-g00gle", "`google`"),
            ("_abc", "start and end"),
            (&format!("{}.b", "a".repeat(64)) as &str, "63 characters"),
            (&"a".repeat(64) as &str, "3 to 63"),
            ("1.2.3.4", "IP address"),
        ] {
            let e = bucket_err(Provider::Gcs, bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn azure_container_rules() {
        for ok in ["abc", "a-b-c", "123"] {
            assert_eq!(check_bucket(Provider::Azure, ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("a--b", "`--`"),
            ("a.b", "'.'"),
            ("-ab", "start and end"),
            ("ab", "3 to 63"),
        ] {
            let e = bucket_err(Provider::Azure, bad);
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.starts_with("azure container"), "{e}");
        }
    }

    #[test]
    fn local_directory_rules() {
        for ok in ["/var/lib/backups", "backups", "./x", "/"] {
            assert_eq!(check_bucket(Provider::Local, ok), Ok(()), "{ok}");
        }
        assert!(bucket_err(Provider::Local, "").contains("empty"));
        assert!(bucket_err(Provider::Local, "a\0b").contains("NUL"));
        let t = ObjectStoreTarget::new(Provider::Local, "/var/b/", "p", Credentials::None).unwrap();
        let v = t.validate().unwrap();
        assert_eq!(v.destination_path(), "file:///var/b/p");
        assert_eq!(v.endpoint_url(), None);
        for (t, field) in [
            (t.clone().with_endpoint("https://x"), "endpoint"),
            (t.clone().with_region("us-east-1"), "region"),
            (
                t.clone().with_endpoint_ca(sref("ca", "ca.crt")),
                "endpoint CA",
            ),
        ] {
            assert_eq!(
                t.validate().unwrap_err(),
                TargetError::NotForLocal { field }
            );
        }
    }

    #[test]
    fn endpoint_shape() {
        for ok in [
            "https://minio.example:9000",
            "http://minio:9000/",
            "https://10.0.0.1",
            "https://[::1]:9000",
            "https://x",
        ] {
            assert!(parse_endpoint(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("minio:9000", "must start with `https://`"),
            ("ftp://x", "must start with"),
            ("https://", "host"),
            ("https://a b", "spaces"),
            ("https://user:pw@x", "user info"),
            ("https://x:0", "port"),
            ("https://x:65536", "port"),
            ("https://x:", "port"),
            ("https://x?y=1", "query"),
            ("https://-x", "host"),
            ("https://x_y", "host"),
            ("https://[zz]", "IPv6"),
            ("https://[::1", "unclosed"),
            ("https://x/../y", "`..`"),
        ] {
            let e = parse_endpoint(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let ep = parse_endpoint("http://Azurite:10000/devstoreaccount1/").unwrap();
        assert!(!ep.https);
        assert_eq!(ep.host, "azurite");
        assert_eq!(ep.path, "devstoreaccount1");
        assert_eq!(ep.url, "http://Azurite:10000/devstoreaccount1");
    }

    #[test]
    fn s3_compatible_needs_an_endpoint_and_allows_plain_http_only_when_said() {
        let t = ObjectStoreTarget::new(Provider::S3Compatible, "bkt", "", s3_keys()).unwrap();
        assert!(matches!(
            t.validate(),
            Err(TargetError::EndpointRequired {
                provider: Provider::S3Compatible,
                ..
            })
        ));
        let v = t
            .clone()
            .with_endpoint("http://minio:9000")
            .validate()
            .unwrap();
        assert_eq!(v.endpoint_url(), Some("http://minio:9000"));
        assert_eq!(v.destination_path(), "s3://bkt");
        let e = t
            .clone()
            .with_endpoint("http://minio:9000")
            .with_endpoint_ca(sref("minio-ca", "ca.crt"))
            .validate()
            .unwrap_err();
        assert_eq!(
            e,
            TargetError::CaNeedsHttps {
                endpoint: "http://minio:9000".to_owned()
            }
        );
        assert!(
            t.clone()
                .with_endpoint("https://minio:9000")
                .with_endpoint_ca(sref("minio-ca", "ca.crt"))
                .validate()
                .is_ok()
        );
        let e = t
            .with_endpoint("https://minio:9000/path")
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("must not have a path"), "{e}");
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-3",
        ] {
            assert_eq!(check_region(Provider::S3, ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-1a",
            "u-east-1",
            "us--1",
        ] {
            assert!(check_region(Provider::S3, bad).is_err(), "{bad}");
        }
        assert_eq!(check_region(Provider::S3Compatible, "garage"), Ok(()));
        assert!(check_region(Provider::S3Compatible, "Garage").is_err());
        let e = check_region(Provider::Gcs, "europe-west1").unwrap_err();
        assert!(e.to_string().contains("gcs targets have no region"), "{e}");
        let v = s3("bkt").with_region("eu-west-1").validate().unwrap();
        assert_eq!(v.target().region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn credentials_per_provider() {
        let gcs_app = Credentials::GcsApplicationCredentials {
            application_credentials: sref("gcs", "credentials.json"),
        };
        let cases = [
            (Provider::S3, s3_keys(), true),
            (Provider::S3, Credentials::S3InheritIamRole, true),
            (Provider::S3, Credentials::GcsWorkloadIdentity, false),
            (Provider::S3Compatible, s3_keys(), true),
            (Provider::S3Compatible, Credentials::S3InheritIamRole, false),
            (Provider::Gcs, gcs_app, true),
            (Provider::Gcs, Credentials::GcsWorkloadIdentity, true),
            (Provider::Gcs, Credentials::None, false),
            (Provider::Azure, Credentials::AzureInheritAd, true),
            (
                Provider::Azure,
                Credentials::AzureConnectionString {
                    connection_string: sref("az", "conn"),
                },
                true,
            ),
            (
                Provider::Azure,
                Credentials::AzureSasToken {
                    storage_account: sref("az", "account"),
                    storage_sas_token: sref("az", "sas"),
                },
                true,
            ),
            (
                Provider::Azure,
                Credentials::AzureStorageKey {
                    storage_account: sref("az", "account"),
                    storage_key: sref("az", "key"),
                },
                true,
            ),
            (Provider::Azure, s3_keys(), false),
            (Provider::Local, Credentials::None, true),
            (Provider::Local, s3_keys(), false),
        ];
        for (provider, creds, ok) in cases {
            assert_eq!(
                creds.allowed_for(provider),
                ok,
                "{provider} {}",
                creds.kind()
            );
        }
        let e = ObjectStoreTarget::new(Provider::Gcs, "bkt", "", Credentials::S3InheritIamRole)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "gcs target cannot use `s3_inherit_iam_role` credentials; expected `gcs_application_credentials` or `gcs_workload_identity`"
        );
    }

    #[test]
    fn secret_keys() {
        for ok in [
            "ACCESS_KEY_ID",
            "ca.crt",
            "a-b_c.d",
            ".hidden",
            &"k".repeat(253),
        ] {
            assert_eq!(sref("s", ok).validate(), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "..x", "a/b", "a b", "ключ", &"k".repeat(254)] {
            let e = sref("s", bad).validate().unwrap_err();
            assert!(e.to_string().starts_with("secret `s` key `"), "{e}");
        }
        let t = ObjectStoreTarget::new(
            Provider::S3,
            "bkt",
            "",
            Credentials::S3AccessKey {
                access_key_id: sref("c", "id"),
                secret_access_key: sref("c", "bad/key"),
                session_token: None,
            },
        )
        .unwrap();
        assert!(matches!(t.validate(), Err(TargetError::SecretKey { .. })));
        let e = s3("bkt")
            .with_endpoint("https://s3.example")
            .with_endpoint_ca(sref("ca", ""))
            .validate()
            .unwrap_err();
        assert!(matches!(e, TargetError::SecretKey { .. }), "{e}");
    }

    #[test]
    fn destination_paths() {
        let v = ObjectStoreTarget::new(Provider::S3, "bkt", "/team//db/", s3_keys())
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(v.destination_path(), "s3://bkt/team/db");
        assert_eq!(v.endpoint_url(), None);
        assert_eq!(
            v.server_prefix(&"cnpg-admin".parse().unwrap()),
            "team/db/cnpg-admin/"
        );
        let v = ObjectStoreTarget::new(Provider::Gcs, "bkt", "", Credentials::GcsWorkloadIdentity)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(v.destination_path(), "gs://bkt");
        assert_eq!(v.server_prefix(&"x".parse().unwrap()), "x/");
    }

    #[test]
    fn azure_account_comes_from_the_endpoint() {
        let v = azure("https://myaccount.blob.core.windows.net/")
            .validate()
            .unwrap();
        assert_eq!(
            v.destination_path(),
            "https://myaccount.blob.core.windows.net/backups/prod/db"
        );
        assert_eq!(v.azure_account(), Some("myaccount"));
        assert_eq!(v.endpoint_url(), None);
        let v = azure("http://azurite:10000/devstoreaccount1")
            .validate()
            .unwrap();
        assert_eq!(
            v.destination_path(),
            "http://azurite:10000/devstoreaccount1/backups/prod/db"
        );
        assert_eq!(v.azure_account(), Some("devstoreaccount1"));
        let v = azure("https://acct.blob.core.usgovcloudapi.net")
            .validate()
            .unwrap();
        assert_eq!(v.azure_account(), Some("acct"));
        let no_endpoint =
            ObjectStoreTarget::new(Provider::Azure, "backups", "", Credentials::AzureInheritAd)
                .unwrap();
        assert!(matches!(
            no_endpoint.validate(),
            Err(TargetError::EndpointRequired {
                provider: Provider::Azure,
                ..
            })
        ));
        for bad in [
            "https://example.com",
            "https://My_Account.blob.core.windows.net",
            "https://ab.blob.core.windows.net",
            "https://acct.blob.core.windows.net/extra",
            "http://azurite:10000/a/b",
        ] {
            assert!(azure(bad).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_defaults() {
        let t: ObjectStoreTarget = serde_json::from_str(
            r#"{"provider":"s3","bucket":"bkt","credentials":{"kind":"s3_inherit_iam_role"}}"#,
        )
        .unwrap();
        assert!(t.use_for_backups);
        assert_eq!(t.prefix, "");
        assert!(t.validate().is_ok());
    }

    fn provider() -> impl Strategy<Value = Provider> {
        prop::sample::select(vec![
            Provider::S3,
            Provider::S3Compatible,
            Provider::Gcs,
            Provider::Azure,
            Provider::Local,
        ])
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(p in "[a./\\\\-]{0,30}") {
            if let Ok(n) = normalise_prefix(&p) {
                prop_assert_eq!(normalise_prefix(&n), Ok(n.clone()));
                prop_assert!(!n.starts_with('/') && !n.ends_with('/') && !n.contains("//"));
            }
        }

        #[test]
        fn normalisation_never_panics(p in any::<String>()) {
            if let Ok(n) = normalise_prefix(&p) {
                prop_assert_eq!(normalise_prefix(&n), Ok(n.clone()));
            }
        }

        #[test]
        fn validate_never_panics(
            provider in provider(),
            bucket in any::<String>(),
            prefix in any::<String>(),
            endpoint in prop::option::of(any::<String>()),
            region in prop::option::of(any::<String>()),
            key in any::<String>(),
        ) {
            let creds = match provider {
                Provider::Local => Credentials::None,
                Provider::Gcs => Credentials::GcsApplicationCredentials {
                    application_credentials: sref("s", &key),
                },
                Provider::Azure => Credentials::AzureConnectionString {
                    connection_string: sref("s", &key),
                },
                _ => s3_keys(),
            };
            let t = ObjectStoreTarget {
                provider,
                endpoint,
                bucket,
                region,
                prefix,
                credentials: creds,
                endpoint_ca: None,
                use_for_backups: true,
            };
            let _ = t.validate();
            let _ = t.destination_path();
        }

        #[test]
        fn validate_never_panics_on_url_like_input(
            provider in provider(),
            endpoint in "(https?://)?[a-z0-9.:@\\[\\]/-]{0,24}",
            bucket in "[a-z0-9.-]{0,8}",
        ) {
            let t = ObjectStoreTarget {
                provider,
                endpoint: Some(endpoint),
                bucket,
                region: None,
                prefix: String::new(),
                credentials: Credentials::None,
                endpoint_ca: None,
                use_for_backups: true,
            };
            if let Ok(v) = t.validate() {
                prop_assert!(v.destination_path().contains(&v.target().bucket));
            }
        }

        #[test]
        fn valid_s3_targets_give_s3_paths(bucket in "[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", prefix in "[a-z/]{0,12}") {
            let t = ObjectStoreTarget::new(Provider::S3, bucket.clone(), &prefix, s3_keys()).unwrap();
            let v = t.validate().unwrap();
            let n = normalise_prefix(&prefix).unwrap();
            let want = if n.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{n}") };
            prop_assert_eq!(v.destination_path(), want);
        }
    }
}
