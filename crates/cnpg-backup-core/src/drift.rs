//! App versions and version drift between the running app and a backup.
//!
//! Not here: where the running version comes from (the settings name a source; adapters read it).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::names::truncate_for_message;

/// Why an app version was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Not `MAJOR.MINOR.PATCH` with an optional `v` and pre-release/build suffix.
    #[error("app version `{input}`: {reason}; expected semver such as `1.4.2` or `v1.4.2-rc.1`")]
    Invalid {
        /// The offending input.
        input: String,
        /// What is wrong.
        reason: String,
    },
}

/// A semantic version of the application, as `1.4.2`, `v1.4.2`, `1.5.0-rc.1` or `1.5.0+build.7`.
///
/// `Display` writes the canonical form without `v`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct AppVersion {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    build: String,
}

impl AppVersion {
    /// The major number.
    pub fn major(&self) -> u64 {
        self.major
    }
    /// The minor number.
    pub fn minor(&self) -> u64 {
        self.minor
    }
    /// The patch number.
    pub fn patch(&self) -> u64 {
        self.patch
    }
    /// The pre-release part (empty when none).
    pub fn pre(&self) -> &str {
        &self.pre
    }

    /// Semver precedence (build metadata ignored).
    pub fn precedence(&self, other: &AppVersion) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_pre(&self.pre, &other.pre))
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

fn ident_ok(part: &str, numeric_no_leading_zero: bool) -> bool {
    !part.is_empty()
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !(numeric_no_leading_zero
            && part.bytes().all(|b| b.is_ascii_digit())
            && part.len() > 1
            && part.starts_with('0'))
}

impl FromStr for AppVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| VersionError::Invalid {
            input: truncate_for_message(s),
            reason: reason.to_owned(),
        };
        if s.len() > 128 {
            return Err(invalid("longer than 128 characters"));
        }
        let body = s.strip_prefix('v').unwrap_or(s);
        let (rest, build) = match body.split_once('+') {
            Some((r, b)) => (r, b),
            None => (body, ""),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, p),
            None => (rest, ""),
        };
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3 {
            return Err(invalid("needs three numbers MAJOR.MINOR.PATCH"));
        }
        let mut parsed = [0u64; 3];
        for (slot, n) in parsed.iter_mut().zip(&nums) {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(&format!(
                    "`{}` is not a number",
                    truncate_for_message(n)
                )));
            }
            if n.len() > 1 && n.starts_with('0') {
                return Err(invalid(&format!("`{n}` has a leading zero")));
            }
            *slot = n
                .parse()
                .map_err(|_| invalid(&format!("`{n}` is too large")))?;
        }
        if rest.contains('-') && !pre.split('.').all(|p| ident_ok(p, true)) {
            return Err(invalid(
                "pre-release must be dot-separated [0-9A-Za-z-] identifiers",
            ));
        }
        if (!build.is_empty() || body.contains('+'))
            && !build.split('.').all(|p| ident_ok(p, false))
        {
            return Err(invalid(
                "build metadata must be dot-separated [0-9A-Za-z-] identifiers",
            ));
        }
        Ok(Self {
            major: parsed[0],
            minor: parsed[1],
            patch: parsed[2],
            pre: pre.to_owned(),
            build: build.to_owned(),
        })
    }
}

impl fmt::Display for AppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

impl TryFrom<String> for AppVersion {
    type Error = VersionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AppVersion> for String {
    fn from(v: AppVersion) -> String {
        v.to_string()
    }
}

/// How a backup's app version compares with the running app's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// Same version (build metadata ignored).
    Match,
    /// The backup is older by a major version.
    Major,
    /// The backup is older by a minor version.
    Minor,
    /// The backup is older by a patch (or pre-release) only.
    Patch,
    /// The backup was taken by a newer app than the one running.
    BackupNewer,
    /// The backup (or the running app) has no known version.
    Unknown,
}

/// Compares the running app's version with a backup's.
pub fn drift(running: Option<&AppVersion>, backup: Option<&AppVersion>) -> Drift {
    let (Some(running), Some(backup)) = (running, backup) else {
        return Drift::Unknown;
    };
    match backup.precedence(running) {
        Ordering::Greater => Drift::BackupNewer,
        Ordering::Equal => Drift::Match,
        Ordering::Less => {
            if backup.major != running.major {
                Drift::Major
            } else if backup.minor != running.minor {
                Drift::Minor
            } else {
                Drift::Patch
            }
        }
    }
}

/// Which drift a named restore tolerates. A backup newer than the running app is always refused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VersionPolicy {
    /// Only the exact version (build metadata ignored).
    Exact,
    /// Same major and minor; older patch allowed.
    SameMinor,
    /// Same major; older minor or patch allowed (the default).
    #[default]
    SameMajor,
    /// Any older version.
    AnyOlder,
}

/// Why version drift refuses a restore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriftRefusal {
    /// The backup was taken by a newer app.
    #[error(
        "backup was taken by app version `{backup}` but `{running}` is running; restoring a newer backup into an older app is never allowed: upgrade the app first"
    )]
    BackupNewer {
        /// Running version.
        running: String,
        /// Backup version.
        backup: String,
    },
    /// The drift exceeds the policy.
    #[error(
        "backup app version `{backup}` differs from the running `{running}` by a {drift:?} version; the `{policy:?}` policy refuses it: pick a newer backup or relax the policy"
    )]
    TooFar {
        /// Running version.
        running: String,
        /// Backup version.
        backup: String,
        /// The drift.
        drift: Drift,
        /// The policy.
        policy: VersionPolicy,
    },
    /// A version is unknown and no override was given.
    #[error(
        "the app version of the backup or of the running app is unknown; accept it explicitly (accept unknown version) after checking the backup by hand"
    )]
    Unknown,
}

impl VersionPolicy {
    /// Decides a named restore: `Ok(drift)` when allowed. `accept_unknown` is the user's explicit
    /// override for unknown versions (record it in the audit trail).
    ///
    /// # Errors
    /// [`DriftRefusal`] saying why and what to change.
    pub fn check(
        self,
        running: Option<&AppVersion>,
        backup: Option<&AppVersion>,
        accept_unknown: bool,
    ) -> Result<Drift, DriftRefusal> {
        let d = drift(running, backup);
        let (Some(r), Some(b)) = (running, backup) else {
            return if accept_unknown {
                Ok(Drift::Unknown)
            } else {
                Err(DriftRefusal::Unknown)
            };
        };
        let allowed = match d {
            Drift::Match => true,
            Drift::BackupNewer => {
                return Err(DriftRefusal::BackupNewer {
                    running: r.to_string(),
                    backup: b.to_string(),
                });
            }
            Drift::Patch => self != VersionPolicy::Exact,
            Drift::Minor => matches!(self, VersionPolicy::SameMajor | VersionPolicy::AnyOlder),
            Drift::Major => self == VersionPolicy::AnyOlder,
            Drift::Unknown => accept_unknown,
        };
        if allowed {
            Ok(d)
        } else {
            Err(DriftRefusal::TooFar {
                running: r.to_string(),
                backup: b.to_string(),
                drift: d,
                policy: self,
            })
        }
    }
}
