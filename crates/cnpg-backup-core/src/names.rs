//! Names: planes, CNPG cluster names, archive server names, Kubernetes object names, restore ids.
//!
//! Every name that reaches Kubernetes or the bucket passes through a validated newtype here.
//! Not here: deriving names for restores (see [`crate::restore`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the two database planes the product runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    /// The control-panel (admin) database cluster, `cnpg-admin` by default.
    Admin,
    /// The tenant database cluster, `cnpg-tenant` by default.
    Tenant,
}

impl Plane {
    /// Both planes, admin first.
    pub const ALL: [Plane; 2] = [Plane::Admin, Plane::Tenant];

    /// The lowercase name used in labels, flags and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Plane::Admin => "admin",
            Plane::Tenant => "tenant",
        }
    }

    /// The default CNPG cluster name of this plane.
    pub fn default_cluster_name(self) -> &'static str {
        match self {
            Plane::Admin => "cnpg-admin",
            Plane::Tenant => "cnpg-tenant",
        }
    }
}

impl fmt::Display for Plane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plane {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Plane::Admin),
            "tenant" => Ok(Plane::Tenant),
            _ => Err(NameError::UnknownPlane {
                input: truncate_for_message(s),
            }),
        }
    }
}

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{kind} name is empty")]
    Empty {
        /// What kind of name it was.
        kind: &'static str,
    },
    /// The name is longer than allowed.
    #[error("{kind} name `{input}` is {len} characters long; the limit is {max}")]
    TooLong {
        /// What kind of name it was.
        kind: &'static str,
        /// The offending input (shortened).
        input: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The name has a character or shape Kubernetes rejects.
    #[error("{kind} name `{input}`: {reason}")]
    Invalid {
        /// What kind of name it was.
        kind: &'static str,
        /// The offending input (shortened).
        input: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// Not a plane.
    #[error("plane `{input}`: expected `admin` or `tenant`")]
    UnknownPlane {
        /// The offending input (shortened).
        input: String,
    },
}

/// Shortens user input for error messages so a huge input cannot flood logs.
pub(crate) fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// Checks a DNS-1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric.
fn check_dns1123_label(kind: &'static str, s: &str, max: usize) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { kind });
    }
    let len = s.chars().count();
    if len > max {
        return Err(NameError::TooLong {
            kind,
            input: truncate_for_message(s),
            len,
            max,
        });
    }
    let invalid = |reason: &str| NameError::Invalid {
        kind,
        input: truncate_for_message(s),
        reason: reason.to_owned(),
    };
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(invalid(&format!(
            "character `{c}` is not allowed; use lowercase letters, digits and `-` (DNS-1123)"
        )));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(invalid(
            "must start and end with a lowercase letter or digit (DNS-1123)",
        ));
    }
    Ok(())
}

/// Checks a DNS-1123 subdomain: labels joined by `.`, at most 253 characters.
fn check_dns1123_subdomain(kind: &'static str, s: &str) -> Result<(), NameError> {
    const MAX: usize = 253;
    if s.is_empty() {
        return Err(NameError::Empty { kind });
    }
    let len = s.chars().count();
    if len > MAX {
        return Err(NameError::TooLong {
            kind,
            input: truncate_for_message(s),
            len,
            max: MAX,
        });
    }
    for label in s.split('.') {
        check_dns1123_label(kind, label, 63).map_err(|e| match e {
            NameError::Empty { .. } => NameError::Invalid {
                kind,
                input: truncate_for_message(s),
                reason: "has an empty part between dots (DNS-1123 subdomain)".to_owned(),
            },
            NameError::Invalid { reason, .. } => NameError::Invalid {
                kind,
                input: truncate_for_message(s),
                reason,
            },
            other => other,
        })?;
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The validated name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let check: fn(&str) -> Result<(), NameError> = $check;
                check(s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                let check: fn(&str) -> Result<(), NameError> = $check;
                check(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// The longest CNPG cluster name we accept.
///
/// CNPG names many objects after the cluster (`<cluster>-<n>` pods and PVCs, `<cluster>-rw` /
/// `-ro` / `-r` services, `<cluster>-<n>-full-recovery` jobs, `<cluster>-superuser` secrets) and
/// those must stay valid DNS-1123 labels (63 characters); its webhook caps names at 50.
pub const CLUSTER_NAME_MAX: usize = 50;

string_newtype!(
    /// A CNPG `Cluster` name: a DNS-1123 label of at most [`CLUSTER_NAME_MAX`] characters.
    ClusterName,
    "cluster",
    |s| check_dns1123_label("cluster", s, CLUSTER_NAME_MAX)
);

string_newtype!(
    /// A Barman `serverName`: the folder under the destination path that holds one cluster's
    /// base backups and WAL archive. A DNS-1123 label, so it is safe as a path segment and a label value.
    ServerName,
    "server",
    |s| check_dns1123_label("server", s, 63)
);

string_newtype!(
    /// A Kubernetes object name (DNS-1123 subdomain): Backup, ScheduledBackup, ObjectStore, Secret.
    ObjectName,
    "object",
    |s| check_dns1123_subdomain("object", s)
);

/// The longest restore id: it goes into labels and derived names.
pub const RESTORE_ID_MAX: usize = 40;

string_newtype!(
    /// The id of one restore: a DNS-1123 label of at most [`RESTORE_ID_MAX`] characters.
    RestoreId,
    "restore id",
    |s| check_dns1123_label("restore id", s, RESTORE_ID_MAX)
);

impl ClusterName {
    /// The default cluster name of a plane.
    pub fn default_for(plane: Plane) -> ClusterName {
        ClusterName(plane.default_cluster_name().to_owned())
    }

    /// The archive server name CNPG uses when none is set: the cluster name.
    pub fn default_server_name(&self) -> ServerName {
        ServerName(self.0.clone())
    }
}

/// The cluster name of each plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaneClusters {
    /// The admin plane's cluster (default `cnpg-admin`).
    pub admin: ClusterName,
    /// The tenant plane's cluster (default `cnpg-tenant`).
    pub tenant: ClusterName,
}

impl Default for PlaneClusters {
    fn default() -> Self {
        Self {
            admin: ClusterName::default_for(Plane::Admin),
            tenant: ClusterName::default_for(Plane::Tenant),
        }
    }
}

impl PlaneClusters {
    /// The cluster of `plane`.
    pub fn get(&self, plane: Plane) -> &ClusterName {
        match plane {
            Plane::Admin => &self.admin,
            Plane::Tenant => &self.tenant,
        }
    }

    /// The plane whose live cluster is `name`, if any.
    pub fn plane_of(&self, name: &ClusterName) -> Option<Plane> {
        Plane::ALL.into_iter().find(|p| self.get(*p) == name)
    }
}

/// The two recovery cluster names of a full-mode restore: `{base}-admin` and `{base}-tenant`.
///
/// # Errors
/// [`NameError`] when a derived name is too long or invalid.
pub fn full_mode_names(base: &ClusterName) -> Result<PlaneClusters, NameError> {
    Ok(PlaneClusters {
        admin: format!("{base}-admin").parse()?,
        tenant: format!("{base}-tenant").parse()?,
    })
}

/// A fresh archive server name for a cluster created by restore `restore`: it never equals the
/// archive of a live cluster, so CNPG's "Expected empty archive" check cannot block the restore and
/// the old archive stays untouched.
///
/// # Errors
/// [`NameError`] when the derived name is invalid.
pub fn fresh_server_name(
    cluster: &ClusterName,
    restore: &RestoreId,
) -> Result<ServerName, NameError> {
    format!("{cluster}-r-{restore}").parse()
}

/// Checks that every recovery name differs from every live name and from each other.
///
/// # Errors
/// [`NameError::Invalid`] naming the clash.
pub fn check_distinct(recovery: &[&ClusterName], live: &[&ClusterName]) -> Result<(), NameError> {
    for (i, r) in recovery.iter().enumerate() {
        if live.contains(r) {
            return Err(NameError::Invalid {
                kind: "recovery cluster",
                input: r.to_string(),
                reason: "is the name of a live cluster; pick a temporary name".to_owned(),
            });
        }
        if recovery[..i].contains(r) {
            return Err(NameError::Invalid {
                kind: "recovery cluster",
                input: r.to_string(),
                reason: "is used twice".to_owned(),
            });
        }
    }
    Ok(())
}
