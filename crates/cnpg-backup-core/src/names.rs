//! Names: planes, CNPG cluster names, archive server names, Kubernetes object names, restore ids.
//!
//! Every name that reaches Kubernetes or the bucket passes through a validated newtype here, and
//! so do the name rules of a restore: full-mode recovery names ([`full_mode_names`]), a fresh
//! archive server name for every restored cluster ([`fresh_server_name`]) and recovery names
//! distinct from every live name ([`check_distinct`]).
//! Not here: deciding which names a restore uses (see [`crate::restore`]).

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
    #[error("{kind} name is empty; expected lowercase letters, digits and `-`, e.g. `cnpg-admin`")]
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

/// The longest CNPG cluster name we accept: 47 characters.
///
/// Derivation (CNPG v1.30):
/// - the validating webhook (`internal/webhook/v1/cluster_webhook.go`, `validateName`) requires a
///   DNS-1035 label (lowercase letter first; letters, digits and `-`) of at most 50 characters;
///   the CRD itself sets no limit on `metadata.name`;
/// - CNPG names objects after the cluster, and some of them end up as label values or pod
///   hostnames, which Kubernetes caps at 63 characters. The longest we depend on is the recovery
///   job `<cluster>-<serial>-full-recovery` (`pkg/specs/jobs.go`, `CreatePrimaryJob`): CNPG sets
///   it as the Job name, the pod `hostname` and the `job-name` label, and the bootstrapping
///   primary always has serial 1, so `63 - len("-1-full-recovery") = 47`. A longer name passes
///   the webhook but the recovery job is never created and the cluster waits for its primary
///   forever (cloudnative-pg issue #6753, seen with `-snapshot-recovery`);
/// - every other name CNPG derives stays shorter: pods and PVCs `<cluster>-<n>`, services
///   `<cluster>-rw` / `-ro` / `-r` / `-any`, jobs `<cluster>-<n>-initdb` / `-join` /
///   `-pgbasebackup`, secrets `<cluster>-superuser` / `-app` / `-replication` / `-ca`, and our
///   ScheduledBackup `<cluster>-cnpg-backup` (a label value on every Backup it makes).
///
/// Every restore recreates a cluster by recovery (a recovery cluster, and in stage two the live
/// name itself), so a live cluster whose name is 48-50 characters could never be restored under
/// that name: we refuse it up front. Volume-snapshot recovery (`-1-snapshot-recovery`, 44) is
/// not used by this crate.
pub const CLUSTER_NAME_MAX: usize = 47;

// Never looser than CNPG's own webhook.
const _: () = assert!(CLUSTER_NAME_MAX <= 50);

/// The longest base name of a full-mode restore: `{base}-tenant` must fit [`CLUSTER_NAME_MAX`].
pub const FULL_MODE_BASE_MAX: usize = CLUSTER_NAME_MAX - "-tenant".len();

/// The longest archive server name (a DNS-1123 label).
pub const SERVER_NAME_MAX: usize = 63;

/// Checks a CNPG cluster name: a DNS-1035 label (as CNPG's webhook requires) of at most
/// [`CLUSTER_NAME_MAX`] characters.
fn check_cluster_name(s: &str) -> Result<(), NameError> {
    const KIND: &str = "cluster";
    check_dns1123_label(KIND, s, CLUSTER_NAME_MAX)?;
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(NameError::Invalid {
            kind: KIND,
            input: truncate_for_message(s),
            reason: "must start with a lowercase letter (CNPG requires a DNS-1035 label)"
                .to_owned(),
        });
    }
    Ok(())
}

string_newtype!(
    /// A CNPG `Cluster` name: a DNS-1035 label of at most [`CLUSTER_NAME_MAX`] characters.
    ClusterName,
    "cluster",
    check_cluster_name
);

string_newtype!(
    /// A Barman `serverName`: the folder under the destination path that holds one cluster's
    /// base backups and WAL archive. A DNS-1123 label, so it is safe as a path segment and a label value.
    ServerName,
    "server",
    |s| check_dns1123_label("server", s, SERVER_NAME_MAX)
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
#[non_exhaustive]
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
    /// The cluster names of both planes.
    pub fn new(admin: ClusterName, tenant: ClusterName) -> Self {
        Self { admin, tenant }
    }

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
/// [`NameError::TooLong`] when `base` is longer than [`FULL_MODE_BASE_MAX`], so that
/// `{base}-tenant` would not fit [`CLUSTER_NAME_MAX`].
pub fn full_mode_names(base: &ClusterName) -> Result<PlaneClusters, NameError> {
    let len = base.as_str().len();
    if len > FULL_MODE_BASE_MAX {
        return Err(NameError::TooLong {
            kind: "full-mode base",
            input: base.to_string(),
            len,
            max: FULL_MODE_BASE_MAX,
        });
    }
    Ok(PlaneClusters {
        admin: format!("{base}-admin").parse()?,
        tenant: format!("{base}-tenant").parse()?,
    })
}

/// A fresh archive server name for a cluster created by restore `restore`: it never equals the
/// archive of a live cluster, so CNPG's "Expected empty archive" check cannot block the restore and
/// the old archive stays untouched.
///
/// The name is `{cluster}-r-{restore}`. When that is longer than [`SERVER_NAME_MAX`], it is cut
/// to fit and ends in `-` and ten hex digits of a hash of the full name, so it stays deterministic
/// (a rerun derives the same name) and distinct restores still get distinct names. Either way it
/// is longer than any cluster name, so it never equals the cluster's default server name.
///
/// # Errors
/// None today: every cluster name and restore id gives a valid server name. The `Result` stays so
/// a future rule can refuse without an API change.
pub fn fresh_server_name(
    cluster: &ClusterName,
    restore: &RestoreId,
) -> Result<ServerName, NameError> {
    let full = format!("{cluster}-r-{restore}");
    if full.len() <= SERVER_NAME_MAX {
        return full.parse();
    }
    const HASH_HEX: usize = 10;
    let hash = fnv1a64(full.as_bytes());
    let keep = SERVER_NAME_MAX - HASH_HEX - 1;
    // Names are ASCII, so byte slicing is char slicing.
    let head = full[..keep].trim_end_matches('-');
    format!("{head}-{:010x}", hash >> 24).parse()
}

/// 64-bit FNV-1a: a small, stable hash (not for security) so derived names never depend on the
/// standard library's randomised hasher.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Why recovery names cannot be used beside the live names: a refusal for safety, not a
/// malformed name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameClash {
    /// A recovery name is a live cluster's name.
    #[error("recovery cluster name `{name}` is the name of a live cluster; pick a temporary name")]
    Live {
        /// The name.
        name: ClusterName,
    },
    /// Two recovery clusters would have the same name.
    #[error("recovery cluster name `{name}` is used twice; pick distinct names")]
    Twice {
        /// The name.
        name: ClusterName,
    },
}

/// Checks that every recovery name differs from every live name and from each other.
///
/// # Errors
/// [`NameClash`] naming the clash.
pub fn check_distinct(recovery: &[&ClusterName], live: &[&ClusterName]) -> Result<(), NameClash> {
    for (i, r) in recovery.iter().enumerate() {
        if live.contains(r) {
            return Err(NameClash::Live { name: (*r).clone() });
        }
        if recovery[..i].contains(r) {
            return Err(NameClash::Twice { name: (*r).clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cluster(s: &str) -> ClusterName {
        s.parse().unwrap()
    }

    /// DNS-1123 label written out by hand: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most `max`.
    fn reference_label(s: &str, max: usize) -> bool {
        let b = s.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        !b.is_empty()
            && b.len() <= max
            && alnum(&b[0])
            && alnum(&b[b.len() - 1])
            && b.iter().all(|c| alnum(c) || *c == b'-')
    }

    #[test]
    fn cluster_names_follow_cnpg() {
        for ok in [
            "cnpg-admin",
            "a",
            "a1",
            "db-2",
            &"a".repeat(CLUSTER_NAME_MAX),
        ] {
            assert!(ok.parse::<ClusterName>().is_ok(), "{ok}");
        }
        let too_long = "a".repeat(CLUSTER_NAME_MAX + 1);
        assert_eq!(
            too_long.parse::<ClusterName>(),
            Err(NameError::TooLong {
                kind: "cluster",
                input: too_long.clone(),
                len: 48,
                max: 47
            })
        );
        let e = "1db".parse::<ClusterName>().unwrap_err();
        assert!(e.to_string().contains("lowercase letter"), "{e}");
        let e = "Db".parse::<ClusterName>().unwrap_err();
        assert!(e.to_string().contains("`D`"), "{e}");
        for bad in ["db-", "-db", "d.b", "d_b", "d b", "dé"] {
            assert!(bad.parse::<ClusterName>().is_err(), "{bad}");
        }
        assert_eq!(
            "".parse::<ClusterName>(),
            Err(NameError::Empty { kind: "cluster" })
        );
        let e = "".parse::<ClusterName>().unwrap_err().to_string();
        assert!(e.contains("expected lowercase letters"), "{e}");
    }

    #[test]
    fn cluster_name_limit_keeps_cnpg_derived_names_within_63() {
        let longest = "a".repeat(CLUSTER_NAME_MAX);
        for suffix in [
            "-1-full-recovery",
            "-1-pgbasebackup",
            "-1-initdb",
            "-9999-join",
            "-cnpg-backup",
        ] {
            assert!(longest.len() + suffix.len() <= 63, "{suffix}");
        }
        assert_eq!(longest.len() + "-1-full-recovery".len(), 63);
    }

    #[test]
    fn object_names_are_subdomains() {
        for ok in ["a", "a.b", "cnpg-admin-cnpg-backup-20261126020000", "1abc"] {
            assert!(ok.parse::<ObjectName>().is_ok(), "{ok}");
        }
        let e = "a..b".parse::<ObjectName>().unwrap_err();
        assert!(e.to_string().contains("empty part"), "{e}");
        assert!(".a".parse::<ObjectName>().is_err());
        assert!("a.-b".parse::<ObjectName>().is_err());
        assert!("A".parse::<ObjectName>().is_err());
        assert!(
            format!("{}.a", "a".repeat(63))
                .parse::<ObjectName>()
                .is_ok()
        );
        assert!(
            format!("{}.a", "a".repeat(64))
                .parse::<ObjectName>()
                .is_err()
        );
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(matches!(
            long.parse::<ObjectName>(),
            Err(NameError::TooLong { max: 253, .. })
        ));
    }

    #[test]
    fn planes_parse_and_print() {
        for p in Plane::ALL {
            assert_eq!(p.as_str().parse::<Plane>(), Ok(p));
            assert_eq!(
                ClusterName::default_for(p).as_str(),
                p.default_cluster_name()
            );
        }
        assert!(matches!(
            "Admin".parse::<Plane>(),
            Err(NameError::UnknownPlane { .. })
        ));
        let pc = PlaneClusters::default();
        assert_eq!(pc.plane_of(&cluster("cnpg-tenant")), Some(Plane::Tenant));
        assert_eq!(pc.plane_of(&cluster("other")), None);
    }

    #[test]
    fn messages_shorten_huge_input() {
        let huge = "x".repeat(10_000);
        let e = huge.parse::<ObjectName>().unwrap_err();
        assert!(e.to_string().len() < 300, "{e}");
        assert!(e.to_string().contains('…'));
    }

    #[test]
    fn full_mode_names_append_the_plane() {
        let pc = full_mode_names(&cluster("restore-7")).unwrap();
        assert_eq!(pc.admin.as_str(), "restore-7-admin");
        assert_eq!(pc.tenant.as_str(), "restore-7-tenant");
        let base = "b".repeat(FULL_MODE_BASE_MAX);
        assert!(full_mode_names(&cluster(&base)).is_ok());
        let base = "b".repeat(FULL_MODE_BASE_MAX + 1);
        let e = full_mode_names(&cluster(&base)).unwrap_err();
        assert!(
            matches!(
                e,
                NameError::TooLong {
                    max: 40,
                    len: 41,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn fresh_server_name_short_form() {
        let s = fresh_server_name(&cluster("cnpg-admin"), &"r1".parse().unwrap()).unwrap();
        assert_eq!(s.as_str(), "cnpg-admin-r-r1");
        assert_ne!(s, cluster("cnpg-admin").default_server_name());
    }

    #[test]
    fn fresh_server_name_long_form_is_cut_and_hashed() {
        let c = cluster(&"c".repeat(CLUSTER_NAME_MAX));
        let r1: RestoreId = "a".repeat(RESTORE_ID_MAX).parse().unwrap();
        let r2: RestoreId = format!("{}b", "a".repeat(RESTORE_ID_MAX - 1))
            .parse()
            .unwrap();
        let s1 = fresh_server_name(&c, &r1).unwrap();
        let s2 = fresh_server_name(&c, &r2).unwrap();
        assert_eq!(s1.as_str().len(), SERVER_NAME_MAX);
        assert_ne!(s1, s2, "distinct restores get distinct names");
        assert_eq!(s1, fresh_server_name(&c, &r1).unwrap(), "deterministic");
        assert!(s1.as_str().starts_with(&format!("{c}-r-")));
        // The cut lands just after a `-`: no `--` before the hash.
        // Byte 51 of `{c}-r-{r}` is the `-` of `a-aaa…`, so the 52-byte head ends in `-`.
        let r3: RestoreId = format!("a-{}", "a".repeat(RESTORE_ID_MAX - 2))
            .parse()
            .unwrap();
        let s = fresh_server_name(&c, &r3).unwrap();
        assert!(!s.as_str().contains("--"), "{s}");
        assert_eq!(s.as_str().len(), SERVER_NAME_MAX - 1);
    }

    #[test]
    fn check_distinct_rejects_live_and_duplicate_names() {
        let live = [&cluster("cnpg-admin"), &cluster("cnpg-tenant")];
        let r = cluster("r-admin");
        let t = cluster("r-tenant");
        assert_eq!(check_distinct(&[&r, &t], &live), Ok(()));
        let e = check_distinct(&[&r, live[1]], &live).unwrap_err();
        assert_eq!(
            e,
            NameClash::Live {
                name: cluster("cnpg-tenant")
            }
        );
        assert!(e.to_string().contains("`cnpg-tenant`"), "{e}");
        assert!(e.to_string().contains("live cluster"), "{e}");
        let e = check_distinct(&[&r, &r], &live).unwrap_err();
        assert_eq!(e, NameClash::Twice { name: r.clone() });
        assert!(e.to_string().contains("used twice"), "{e}");
        assert_eq!(check_distinct(&[], &live), Ok(()));
    }

    fn cluster_name() -> impl Strategy<Value = ClusterName> {
        "[a-z][a-z0-9-]{0,45}[a-z0-9]".prop_filter_map("valid", |s| s.parse().ok())
    }

    fn restore_id() -> impl Strategy<Value = RestoreId> {
        "[a-z0-9][a-z0-9-]{0,38}[a-z0-9]".prop_filter_map("valid", |s| s.parse().ok())
    }

    proptest! {
        #[test]
        fn validators_never_panic(s in any::<String>()) {
            let _ = s.parse::<ClusterName>();
            let _ = s.parse::<ServerName>();
            let _ = s.parse::<ObjectName>();
            let _ = s.parse::<RestoreId>();
            let _ = s.parse::<Plane>();
        }

        #[test]
        fn labels_match_the_reference(s in "[a-z0-9A-Z.-]{0,70}") {
            prop_assert_eq!(s.parse::<ServerName>().is_ok(), reference_label(&s, 63));
            prop_assert_eq!(s.parse::<RestoreId>().is_ok(), reference_label(&s, RESTORE_ID_MAX));
            prop_assert_eq!(
                s.parse::<ClusterName>().is_ok(),
                reference_label(&s, CLUSTER_NAME_MAX) && s.as_bytes()[0].is_ascii_lowercase()
            );
            prop_assert_eq!(
                s.parse::<ObjectName>().is_ok(),
                s.len() <= 253 && s.split('.').all(|l| reference_label(l, 63))
            );
        }

        #[test]
        fn accepted_names_round_trip(s in "[a-z0-9.-]{1,70}") {
            if let Ok(n) = s.parse::<ObjectName>() {
                prop_assert_eq!(n.to_string().parse::<ObjectName>(), Ok(n.clone()));
                let json = serde_json::to_string(&n).unwrap();
                prop_assert_eq!(serde_json::from_str::<ObjectName>(&json).unwrap(), n);
            }
            if let Ok(n) = s.parse::<ClusterName>() {
                prop_assert_eq!(n.to_string().parse::<ClusterName>(), Ok(n.clone()));
                let json = serde_json::to_string(&n).unwrap();
                prop_assert_eq!(serde_json::from_str::<ClusterName>(&json).unwrap(), n);
            }
        }

        #[test]
        fn fresh_server_name_always_fits(c in cluster_name(), r in restore_id()) {
            let s = fresh_server_name(&c, &r).unwrap();
            prop_assert!(s.as_str().len() <= SERVER_NAME_MAX);
            prop_assert_ne!(&s, &c.default_server_name());
            prop_assert_eq!(&s, &fresh_server_name(&c, &r).unwrap());
        }

        #[test]
        fn full_mode_names_are_valid_and_distinct(c in cluster_name()) {
            match full_mode_names(&c) {
                Ok(pc) => {
                    prop_assert!(c.as_str().len() <= FULL_MODE_BASE_MAX);
                    prop_assert_ne!(&pc.admin, &pc.tenant);
                    prop_assert!(check_distinct(&[&pc.admin, &pc.tenant], &[&c]).is_ok());
                }
                Err(_) => prop_assert!(c.as_str().len() > FULL_MODE_BASE_MAX),
            }
        }
    }
}
