//! Status documents: the reconcile status of backup automation and the preflight report.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::{ClusterName, Plane};

/// The state of the last reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileState {
    /// Everything the plan asks for is in place.
    Ok,
    /// The last reconcile failed; see the error text.
    Error,
    /// No reconcile has run yet.
    NotRunYet,
}

/// Reconcile result of one plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PlaneReconcileStatus {
    /// The plane.
    pub plane: Plane,
    /// Its cluster.
    pub cluster: ClusterName,
    /// State.
    pub state: ReconcileState,
    /// Error text when state is error.
    pub error: Option<String>,
    /// Objects written by the last reconcile (0 when converged).
    pub writes: u32,
}

impl PlaneReconcileStatus {
    /// A plane status.
    pub fn new(
        plane: Plane,
        cluster: ClusterName,
        state: ReconcileState,
        error: Option<String>,
        writes: u32,
    ) -> Self {
        Self {
            plane,
            cluster,
            state,
            error,
            writes,
        }
    }
}

/// The reconcile status of backup automation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReconcileStatus {
    /// Overall state (error if any plane failed).
    pub state: ReconcileState,
    /// When the last reconcile that reached this outcome ran: a reconcile that changes nothing
    /// and ends like the one before does not rewrite the status (so an idle control loop
    /// writes nothing at its resyncs).
    pub last_reconcile: Option<DateTime<Utc>>,
    /// Error text of the last failure.
    pub error: Option<String>,
    /// Per plane.
    pub planes: Vec<PlaneReconcileStatus>,
    /// What the plan of the last reconcile warned about, for people (e.g. WAL archiving to the
    /// target stops); empty when it warned about nothing or could not be planned. Always
    /// serialised, absent in documents written before it existed.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl ReconcileStatus {
    /// No reconcile yet.
    pub fn not_run_yet() -> Self {
        Self {
            state: ReconcileState::NotRunYet,
            last_reconcile: None,
            error: None,
            planes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// This status with the plan's `warnings` (replacing any it had).
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    /// The status after a reconcile at `at` with these plane results.
    pub fn from_planes(at: DateTime<Utc>, planes: Vec<PlaneReconcileStatus>) -> Self {
        let failed: Vec<String> = planes
            .iter()
            .filter(|p| p.state == ReconcileState::Error)
            .map(|p| format!("{}: {}", p.plane, p.error.as_deref().unwrap_or("failed")))
            .collect();
        Self {
            state: if failed.is_empty() {
                ReconcileState::Ok
            } else {
                ReconcileState::Error
            },
            last_reconcile: Some(at),
            error: if failed.is_empty() {
                None
            } else {
                Some(failed.join("; "))
            },
            planes,
            warnings: Vec::new(),
        }
    }

    /// Whether `other` says the same as this status apart from when it was reached: same
    /// state, error, plane results (writes included) and warnings. A reconcile whose status is
    /// the same outcome as the stored one rewrites nothing.
    pub fn same_outcome(&self, other: &ReconcileStatus) -> bool {
        self.state == other.state
            && self.error == other.error
            && self.planes == other.planes
            && self.warnings == other.warnings
    }

    /// The status after a reconcile that failed as a whole.
    pub fn failed(at: DateTime<Utc>, error: String) -> Self {
        Self {
            state: ReconcileState::Error,
            last_reconcile: Some(at),
            error: Some(error),
            planes: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Verdict of one preflight step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    /// The step passed.
    Passed,
    /// The step failed; later steps are skipped.
    Failed,
    /// Not run (an earlier step failed, or the mode skips it).
    Skipped,
}

/// What a preflight step checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreflightCheck {
    /// The target configuration is valid.
    Configuration,
    /// The referenced secrets exist and have the keys.
    SecretsResolve,
    /// DNS, TCP and TLS to the endpoint.
    EndpointReachable,
    /// The credentials are accepted and the bucket exists.
    BucketAccess,
    /// Listing under the prefix works.
    ListPrefix,
    /// Put, get, compare and delete a probe object.
    WriteProbe,
    /// The WAL archive a restore would write to is empty.
    RestoreArchiveEmpty,
    /// The live clusters' archives have backups.
    LiveArchiveHasBackups,
}

/// One step of a preflight run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PreflightStep {
    /// What it checks.
    pub check: PreflightCheck,
    /// Verdict.
    pub verdict: StepVerdict,
    /// What was seen, for people.
    pub detail: String,
    /// How long it took.
    #[serde(with = "duration_ms")]
    #[schemars(with = "u64")]
    pub duration: Duration,
}

impl PreflightStep {
    /// A step result.
    pub fn new(
        check: PreflightCheck,
        verdict: StepVerdict,
        detail: impl Into<String>,
        duration: Duration,
    ) -> Self {
        Self {
            check,
            verdict,
            detail: detail.into(),
            duration,
        }
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Overall preflight state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreflightState {
    /// Every step that ran passed.
    Ok,
    /// A step failed.
    Failed,
    /// Never run.
    NotRun,
}

/// The result of a preflight run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PreflightReport {
    /// Overall state.
    pub state: PreflightState,
    /// When it ran.
    pub ran_at: Option<DateTime<Utc>>,
    /// The steps in order.
    pub steps: Vec<PreflightStep>,
}

impl PreflightReport {
    /// Never run.
    pub fn not_run() -> Self {
        Self {
            state: PreflightState::NotRun,
            ran_at: None,
            steps: Vec::new(),
        }
    }

    /// A report from steps; failed if any step failed.
    pub fn from_steps(ran_at: DateTime<Utc>, steps: Vec<PreflightStep>) -> Self {
        let failed = steps.iter().any(|s| s.verdict == StepVerdict::Failed);
        Self {
            state: if failed {
                PreflightState::Failed
            } else {
                PreflightState::Ok
            },
            ran_at: Some(ran_at),
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap()
    }

    fn plane(p: Plane, state: ReconcileState, error: Option<&str>) -> PlaneReconcileStatus {
        PlaneReconcileStatus::new(
            p,
            ClusterName::default_for(p),
            state,
            error.map(str::to_owned),
            0,
        )
    }

    #[test]
    fn reconcile_not_run_yet() {
        let s = ReconcileStatus::not_run_yet();
        assert_eq!(s.state, ReconcileState::NotRunYet);
        assert_eq!(s.last_reconcile, None);
    }

    #[test]
    fn reconcile_ok_when_every_plane_is_ok() {
        let s = ReconcileStatus::from_planes(
            at(),
            vec![
                plane(Plane::Admin, ReconcileState::Ok, None),
                plane(Plane::Tenant, ReconcileState::Ok, None),
            ],
        );
        assert_eq!(s.state, ReconcileState::Ok);
        assert_eq!(s.error, None);
        assert_eq!(s.last_reconcile, Some(at()));
    }

    #[test]
    fn reconcile_error_names_the_failing_planes() {
        let s = ReconcileStatus::from_planes(
            at(),
            vec![
                plane(Plane::Admin, ReconcileState::Error, Some("forbidden")),
                plane(Plane::Tenant, ReconcileState::Error, None),
            ],
        );
        assert_eq!(s.state, ReconcileState::Error);
        assert_eq!(s.error.as_deref(), Some("admin: forbidden; tenant: failed"));
        let f = ReconcileStatus::failed(at(), "api down".to_owned());
        assert_eq!(
            (f.state, f.error.as_deref()),
            (ReconcileState::Error, Some("api down"))
        );
    }

    #[test]
    fn warnings_are_always_serialised_and_default_when_absent() {
        let s = ReconcileStatus::from_planes(at(), Vec::new());
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["warnings"], serde_json::json!([]));
        let s = s.with_warnings(vec!["archiving stops".to_owned()]);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["warnings"], serde_json::json!(["archiving stops"]));
        // A status stored before the field existed still reads.
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("warnings");
        let back: ReconcileStatus = serde_json::from_value(old).unwrap();
        assert!(back.warnings.is_empty());
        let back: ReconcileStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn preflight_fails_when_a_step_fails() {
        let steps = vec![
            PreflightStep::new(
                PreflightCheck::Configuration,
                StepVerdict::Passed,
                "ok",
                Duration::from_millis(1),
            ),
            PreflightStep::new(
                PreflightCheck::BucketAccess,
                StepVerdict::Failed,
                "403",
                Duration::from_millis(20),
            ),
            PreflightStep::new(
                PreflightCheck::WriteProbe,
                StepVerdict::Skipped,
                "earlier step failed",
                Duration::ZERO,
            ),
        ];
        let r = PreflightReport::from_steps(at(), steps.clone());
        assert_eq!(r.state, PreflightState::Failed);
        assert_eq!(r.steps, steps, "order is kept");
        let ok = PreflightReport::from_steps(at(), steps[..1].to_vec());
        assert_eq!(ok.state, PreflightState::Ok);
        assert_eq!(PreflightReport::not_run().state, PreflightState::NotRun);
    }

    #[test]
    fn preflight_json_uses_milliseconds() {
        let step = PreflightStep::new(
            PreflightCheck::ListPrefix,
            StepVerdict::Passed,
            "3 objects",
            Duration::from_millis(1500),
        );
        let json = serde_json::to_value(&step).unwrap();
        assert_eq!(json["duration"], 1500);
        assert_eq!(json["check"], "list_prefix");
        let back: PreflightStep = serde_json::from_value(json).unwrap();
        assert_eq!(back, step);
    }
}
