//! The restore request: what to restore (mode and per-plane source), under which names, and the
//! options a user expects (instances, keep or clean up recovery clusters, explicit overrides).
//!
//! Not here: checking the request against the catalog (see [`super::guard`]).

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::drift::VersionPolicy;
use crate::names::{ClusterName, NameError, ObjectName, Plane, PlaneClusters, full_mode_names};

/// Which planes a restore covers, and the recovery cluster names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum RestoreMode {
    /// One plane, restored into a temporary cluster with a name distinct from every live name.
    Single {
        /// The plane.
        plane: Plane,
        /// The temporary recovery cluster name.
        recovery_name: ClusterName,
    },
    /// Both planes; the recovery clusters are `{base}-admin` and `{base}-tenant`.
    Full {
        /// The base of the recovery cluster names.
        base_name: ClusterName,
    },
}

impl RestoreMode {
    /// The planes restored, admin first.
    pub fn planes(&self) -> Vec<Plane> {
        match self {
            RestoreMode::Single { plane, .. } => vec![*plane],
            RestoreMode::Full { .. } => Plane::ALL.to_vec(),
        }
    }

    /// The recovery cluster name of each restored plane, admin first.
    ///
    /// # Errors
    /// [`NameError`] when a derived full-mode name is too long or invalid.
    pub fn recovery_names(&self) -> Result<Vec<(Plane, ClusterName)>, NameError> {
        match self {
            RestoreMode::Single {
                plane,
                recovery_name,
            } => Ok(vec![(*plane, recovery_name.clone())]),
            RestoreMode::Full { base_name } => {
                let PlaneClusters { admin, tenant } = full_mode_names(base_name)?;
                Ok(vec![(Plane::Admin, admin), (Plane::Tenant, tenant)])
            }
        }
    }
}

/// What one plane is restored from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum PlaneSource {
    /// The end of a named backup (a CNPG `Backup` object name).
    Backup {
        /// The Backup object's name.
        backup: ObjectName,
    },
    /// A point in time (RFC 3339 with an offset), optionally pinned to a backup to start from.
    PointInTime {
        /// The target time (RFC 3339 with an offset).
        #[serde(with = "rfc3339_offset")]
        #[schemars(with = "DateTime<Utc>")]
        target_time: DateTime<Utc>,
        /// The Backup object to start from; CNPG picks the latest one before the target when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pinned_backup: Option<ObjectName>,
    },
}

/// The source of each plane (only the planes the mode restores may be set).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct PlaneSources {
    /// The admin plane's source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<PlaneSource>,
    /// The tenant plane's source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<PlaneSource>,
}

impl PlaneSources {
    /// The source of `plane`.
    pub fn get(&self, plane: Plane) -> Option<&PlaneSource> {
        match plane {
            Plane::Admin => self.admin.as_ref(),
            Plane::Tenant => self.tenant.as_ref(),
        }
    }

    /// Sets the source of `plane`.
    pub fn set(&mut self, plane: Plane, source: PlaneSource) {
        match plane {
            Plane::Admin => self.admin = Some(source),
            Plane::Tenant => self.tenant = Some(source),
        }
    }
}

/// What happens to the recovery clusters once the restore has completed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AfterSuccess {
    /// Delete them (the default).
    #[default]
    Cleanup,
    /// Keep them for inspection (delete later with cleanup).
    Keep,
}

/// Explicit overrides of guards that may be waived. Each accepted override is recorded in the
/// restore's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Overrides {
    /// Full mode: accept two backups that do not share a backup-set id.
    #[serde(default)]
    pub accept_set_mismatch: bool,
    /// Accept a backup or running app whose version is unknown.
    #[serde(default)]
    pub accept_unknown_version: bool,
}

/// The default number of minutes a cluster may take to become ready before the restore fails
/// (retryable).
pub const DEFAULT_READY_TIMEOUT_MINUTES: u32 = 120;

/// The most instances a recovery cluster may have.
pub const MAX_INSTANCES: u32 = 9;

/// A restore request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RestoreRequest {
    /// Single plane or full, with the recovery names.
    pub mode: RestoreMode,
    /// Source of each restored plane.
    pub sources: PlaneSources,
    /// Instances of the recovery clusters (absent: as the live cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// Keep or clean up the recovery clusters after success.
    #[serde(default)]
    pub after_success: AfterSuccess,
    /// Version drift tolerated (a backup newer than the running app is always refused).
    #[serde(default)]
    pub version_policy: VersionPolicy,
    /// Explicit overrides.
    #[serde(default)]
    pub overrides: Overrides,
    /// Minutes a cluster may take to become ready before the restore fails (retryable).
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_minutes: u32,
}

fn default_ready_timeout() -> u32 {
    DEFAULT_READY_TIMEOUT_MINUTES
}

impl RestoreRequest {
    /// A request with default options.
    pub fn new(mode: RestoreMode, sources: PlaneSources) -> Self {
        Self {
            mode,
            sources,
            instances: None,
            after_success: AfterSuccess::default(),
            version_policy: VersionPolicy::default(),
            overrides: Overrides::default(),
            ready_timeout_minutes: DEFAULT_READY_TIMEOUT_MINUTES,
        }
    }

    /// A full-mode restore of both planes from these named backups.
    pub fn full_from_backups(
        base_name: ClusterName,
        admin: ObjectName,
        tenant: ObjectName,
    ) -> Self {
        Self::new(
            RestoreMode::Full { base_name },
            PlaneSources {
                admin: Some(PlaneSource::Backup { backup: admin }),
                tenant: Some(PlaneSource::Backup { backup: tenant }),
            },
        )
    }

    /// A single-plane restore.
    pub fn single(plane: Plane, recovery_name: ClusterName, source: PlaneSource) -> Self {
        let mut sources = PlaneSources::default();
        sources.set(plane, source);
        Self::new(
            RestoreMode::Single {
                plane,
                recovery_name,
            },
            sources,
        )
    }
}

/// Why a point-in-time string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetTimeError {
    /// Not RFC 3339 with an offset.
    #[error(
        "target time `{input}`: expected RFC 3339 with an offset, e.g. `2026-11-26T04:50:00Z` or `2026-11-26T06:50:00+02:00`"
    )]
    Invalid {
        /// The offending input (shortened).
        input: String,
    },
}

/// Parses a point-in-time target: RFC 3339 with an explicit offset (`Z` or `±hh:mm`).
///
/// # Errors
/// [`TargetTimeError::Invalid`] when the input has no offset or is not RFC 3339.
pub fn parse_target_time(input: &str) -> Result<DateTime<Utc>, TargetTimeError> {
    DateTime::<FixedOffset>::parse_from_rfc3339(input.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| TargetTimeError::Invalid {
            input: crate::names::truncate_for_message(input),
        })
}

/// Serde for RFC 3339 times that names the bad value in its error.
mod rfc3339_offset {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_target_time(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_mode_derives_both_names() {
        let mode = RestoreMode::Full {
            base_name: "restore-a".parse().unwrap(),
        };
        let names = mode.recovery_names().unwrap();
        assert_eq!(names[0].1.as_str(), "restore-a-admin");
        assert_eq!(names[1].1.as_str(), "restore-a-tenant");
        assert_eq!(mode.planes(), vec![Plane::Admin, Plane::Tenant]);
    }

    #[test]
    fn target_time_needs_an_offset() {
        let t = parse_target_time("2026-11-26T06:50:00+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-26T04:50:00+00:00");
        let err = parse_target_time("2026-11-26T06:50:00").unwrap_err();
        assert!(err.to_string().contains("offset"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn target_time_parser_never_panics(s in proptest::prelude::any::<String>()) {
            if let Ok(t) = parse_target_time(&s) {
                proptest::prop_assert_eq!(parse_target_time(&t.to_rfc3339()), Ok(t));
            }
        }

        #[test]
        fn target_time_like_strings_never_panic(s in "[0-9]{0,5}-?[0-9]{0,3}-?[0-9]{0,3}[T ]?[0-9:.]{0,16}(Z|[+-][0-9:]{0,6})?") {
            if let Ok(t) = parse_target_time(&s) {
                proptest::prop_assert_eq!(parse_target_time(&t.to_rfc3339()), Ok(t));
            }
        }
    }

    #[test]
    fn request_json_rejects_unknown_fields() {
        let json = r#"{"mode":{"kind":"full","baseName":"r"},"sources":{},"bogus":1}"#;
        let err = serde_json::from_str::<RestoreRequest>(json).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
