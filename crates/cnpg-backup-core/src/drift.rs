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
                let numeric = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
                // Numeric identifiers have no leading zero, so comparing by length then by text
                // is numeric order without any overflow.
                let o = match (numeric(x), numeric(y)) {
                    (true, true) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
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
            return Err(invalid("longer than 128 bytes"));
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

impl Drift {
    /// The serialized (snake_case) name, e.g. `minor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::Match => "match",
            Drift::Major => "major",
            Drift::Minor => "minor",
            Drift::Patch => "patch",
            Drift::BackupNewer => "backup_newer",
            Drift::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

impl fmt::Display for VersionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
        "backup app version `{backup}` differs from the running `{running}` by a {drift} version; the `{policy}` policy refuses it: pick a newer backup or relax the policy"
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
    /// The serialized (snake_case) name, e.g. `same_major`.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionPolicy::Exact => "exact",
            VersionPolicy::SameMinor => "same_minor",
            VersionPolicy::SameMajor => "same_major",
            VersionPolicy::AnyOlder => "any_older",
        }
    }

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v(s: &str) -> AppVersion {
        s.parse().unwrap()
    }

    #[test]
    fn drift_and_policy_display_as_they_serialize() {
        for d in [
            Drift::Match,
            Drift::Major,
            Drift::Minor,
            Drift::Patch,
            Drift::BackupNewer,
            Drift::Unknown,
        ] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.to_string());
        }
        for p in [
            VersionPolicy::Exact,
            VersionPolicy::SameMinor,
            VersionPolicy::SameMajor,
            VersionPolicy::AnyOlder,
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.to_string());
        }
        let err = VersionPolicy::SameMinor
            .check(Some(&v("1.5.0")), Some(&v("1.4.2")), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("by a minor version; the `same_minor` policy refuses it"),
            "{err}"
        );
    }

    #[test]
    fn parses_semver_with_optional_v() {
        let a = v("v1.4.2");
        assert_eq!((a.major(), a.minor(), a.patch(), a.pre()), (1, 4, 2, ""));
        assert_eq!(a.to_string(), "1.4.2");
        assert_eq!(a, v("1.4.2"));
        let b = v("1.5.0-rc.1+build.7");
        assert_eq!(b.pre(), "rc.1");
        assert_eq!(b.to_string(), "1.5.0-rc.1+build.7");
        assert_eq!(v("0.0.0").to_string(), "0.0.0");
        assert_eq!(v("1.0.0-x-y-z.--").pre(), "x-y-z.--");
    }

    #[test]
    fn rejects_with_a_reason() {
        let cases = [
            ("", "three numbers"),
            ("1.2", "three numbers"),
            ("1.2.3.4", "three numbers"),
            ("V1.2.3", "is not a number"),
            ("1.x.3", "`x` is not a number"),
            ("01.2.3", "leading zero"),
            ("1.2.3-", "pre-release"),
            ("1.2.3-rc..1", "pre-release"),
            ("1.2.3-01", "pre-release"),
            ("1.2.3-r_c", "pre-release"),
            ("1.2.3+", "build metadata"),
            ("1.2.3+a..b", "build metadata"),
            ("99999999999999999999.0.0", "too large"),
            (" 1.2.3", "is not a number"),
        ];
        for (input, reason) in cases {
            let e = input.parse::<AppVersion>().unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(reason), "{input}: {msg}");
            assert!(msg.contains("expected semver"), "{input}: {msg}");
        }
        let long = format!("1.2.3-{}", "a".repeat(200));
        assert!(
            long.parse::<AppVersion>()
                .unwrap_err()
                .to_string()
                .contains("128")
        );
    }

    #[test]
    fn precedence_follows_semver() {
        // The ordering example of semver.org section 11.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for w in chain.windows(2) {
            assert_eq!(v(w[0]).precedence(&v(w[1])), Ordering::Less, "{w:?}");
            assert_eq!(v(w[1]).precedence(&v(w[0])), Ordering::Greater, "{w:?}");
        }
        assert_eq!(v("1.0.0+a").precedence(&v("1.0.0+b")), Ordering::Equal);
        assert_eq!(
            v("1.0.0-100000000000000000000").precedence(&v("1.0.0-99999999999999999999")),
            Ordering::Greater,
            "numeric identifiers beyond u64 still compare numerically"
        );
    }

    #[test]
    fn drift_verdicts() {
        let running = v("2.3.4");
        let cases = [
            ("2.3.4", Drift::Match),
            ("2.3.4+other", Drift::Match),
            ("2.3.3", Drift::Patch),
            ("2.3.4-rc.1", Drift::Patch),
            ("2.2.9", Drift::Minor),
            ("1.9.9", Drift::Major),
            ("2.3.5", Drift::BackupNewer),
            ("3.0.0", Drift::BackupNewer),
        ];
        for (backup, want) in cases {
            assert_eq!(drift(Some(&running), Some(&v(backup))), want, "{backup}");
        }
        assert_eq!(drift(None, Some(&running)), Drift::Unknown);
        assert_eq!(drift(Some(&running), None), Drift::Unknown);
        assert_eq!(drift(None, None), Drift::Unknown);
    }

    #[test]
    fn policy_matrix() {
        use VersionPolicy::*;
        let running = v("2.3.4");
        // backup, [Exact, SameMinor, SameMajor, AnyOlder] allowed?
        let cases = [
            ("2.3.4", [true, true, true, true]),
            ("2.3.1", [false, true, true, true]),
            ("2.1.0", [false, false, true, true]),
            ("1.0.0", [false, false, false, true]),
            ("2.3.5", [false, false, false, false]),
        ];
        for (backup, allowed) in cases {
            for (policy, ok) in [Exact, SameMinor, SameMajor, AnyOlder]
                .into_iter()
                .zip(allowed)
            {
                let got = policy.check(Some(&running), Some(&v(backup)), true);
                assert_eq!(got.is_ok(), ok, "{backup} {policy:?} {got:?}");
            }
        }
        assert_eq!(VersionPolicy::default(), SameMajor);
    }

    #[test]
    fn backup_newer_is_refused_even_with_override() {
        let e = VersionPolicy::AnyOlder
            .check(Some(&v("1.0.0")), Some(&v("1.1.0")), true)
            .unwrap_err();
        assert_eq!(
            e,
            DriftRefusal::BackupNewer {
                running: "1.0.0".to_owned(),
                backup: "1.1.0".to_owned()
            }
        );
        assert!(e.to_string().contains("upgrade the app first"));
    }

    #[test]
    fn too_far_names_both_versions_and_the_policy() {
        let e = VersionPolicy::SameMinor
            .check(Some(&v("2.3.0")), Some(&v("2.1.0")), false)
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`2.1.0`") && msg.contains("`2.3.0`"), "{msg}");
        assert!(
            msg.contains("`same_minor`") && msg.contains("by a minor version"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_needs_the_explicit_override() {
        for p in [VersionPolicy::Exact, VersionPolicy::AnyOlder] {
            assert_eq!(
                p.check(None, Some(&v("1.0.0")), false),
                Err(DriftRefusal::Unknown)
            );
            assert_eq!(
                p.check(Some(&v("1.0.0")), None, false),
                Err(DriftRefusal::Unknown)
            );
            assert_eq!(p.check(None, None, true), Ok(Drift::Unknown));
        }
    }

    #[test]
    fn serde_uses_the_string_form() {
        let a: AppVersion = serde_json::from_str("\"v1.2.3\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"1.2.3\"");
        assert!(serde_json::from_str::<AppVersion>("\"1.2\"").is_err());
    }

    fn version() -> impl Strategy<Value = AppVersion> {
        let pre = prop_oneof![
            Just(String::new()),
            "(alpha|beta|rc|[0-9]|1[0-9])(\\.(alpha|[0-9]|1[0-9]))?"
        ];
        let build = prop_oneof![Just(String::new()), "[a-z0-9]{1,4}"];
        (0u64..4, 0u64..4, 0u64..4, pre, build, any::<bool>()).prop_map(
            |(ma, mi, pa, pre, build, v_prefix)| {
                let mut s = format!("{}{ma}.{mi}.{pa}", if v_prefix { "v" } else { "" });
                if !pre.is_empty() {
                    s.push('-');
                    s.push_str(&pre);
                }
                if !build.is_empty() {
                    s.push('+');
                    s.push_str(&build);
                }
                s.parse().unwrap()
            },
        )
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = s.parse::<AppVersion>();
        }

        #[test]
        fn parse_never_panics_near_semver(s in "v?[0-9.+a-z-]{0,20}") {
            if let Ok(a) = s.parse::<AppVersion>() {
                prop_assert_eq!(a.to_string().parse::<AppVersion>(), Ok(a));
            }
        }

        #[test]
        fn display_parse_round_trip(a in version()) {
            prop_assert_eq!(a.to_string().parse::<AppVersion>(), Ok(a));
        }

        #[test]
        fn precedence_is_a_total_order(a in version(), b in version(), c in version()) {
            prop_assert_eq!(a.precedence(&b), b.precedence(&a).reverse());
            prop_assert_eq!(a.precedence(&a), Ordering::Equal);
            if a.precedence(&b) != Ordering::Greater && b.precedence(&c) != Ordering::Greater {
                prop_assert_ne!(a.precedence(&c), Ordering::Greater);
            }
        }

        #[test]
        fn drift_is_antisymmetric(a in version(), b in version()) {
            let there = drift(Some(&a), Some(&b));
            let back = drift(Some(&b), Some(&a));
            match there {
                Drift::Match => prop_assert_eq!(back, Drift::Match),
                Drift::BackupNewer => prop_assert!(
                    matches!(back, Drift::Major | Drift::Minor | Drift::Patch),
                    "{:?}", back
                ),
                Drift::Major | Drift::Minor | Drift::Patch => {
                    prop_assert_eq!(back, Drift::BackupNewer)
                }
                Drift::Unknown => prop_assert!(false, "both versions are known"),
            }
        }

        #[test]
        fn no_policy_allows_a_newer_backup(a in version(), b in version(), accept in any::<bool>()) {
            for p in [VersionPolicy::Exact, VersionPolicy::SameMinor, VersionPolicy::SameMajor, VersionPolicy::AnyOlder] {
                let verdict = p.check(Some(&a), Some(&b), accept);
                if b.precedence(&a) == Ordering::Greater {
                    let refused = matches!(verdict, Err(DriftRefusal::BackupNewer { .. }));
                    prop_assert!(refused);
                } else if p == VersionPolicy::AnyOlder {
                    prop_assert!(verdict.is_ok());
                } else if p == VersionPolicy::Exact {
                    prop_assert_eq!(verdict.is_ok(), b.precedence(&a) == Ordering::Equal);
                }
            }
        }
    }
}
