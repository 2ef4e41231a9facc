//! The restore state machine: pure transitions that return the actions to perform.
//!
//! ```text
//! draft → validated → recovery_requested → provisioning → ready_for_promotion_checks
//!       → cutover (per plane: live_spec_saved → live_deleted → live_recreated → live_ready)
//!       → completed
//! any phase → failed {phase, reason, retryable};  before cutover → abandoned
//! ```
//!
//! The shell (see [`crate::service`]) loads a [`RestoreRecord`], observes the clusters it names
//! ([`RestoreRecord::watched`]), calls a transition, **persists the returned record before
//! performing the returned actions**, performs them, and asks again. Observations are
//! level-triggered: after a crash the shell re-observes and the machine continues from the record.
//!
//! Invariants (checked by property tests):
//! - [`Action::DeleteLive`] is emitted only in `cutover`, which is entered only with a
//!   [`StageTwoAck`] in `ready_for_promotion_checks`;
//! - only when every restored plane's live manifest is already in the record (so it was
//!   persisted before the action is performed);
//! - only when the same step observed that plane's recovery cluster ready and the original live
//!   cluster present;
//! - once a plane's live cluster is observed gone, never again for that plane.
//!
//! Only this module decides to delete a live cluster.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::RecoveryClusterSpec;
use super::ack::{AuditEntry, AuditKind, StageOneAck, StageTwoAck};
use super::guard::ValidatedRestore;
use super::request::{AfterSuccess, RestoreRequest};
use crate::names::{ClusterName, Plane, RestoreId};
use crate::ports::{BackendError, ClusterManifest, ClusterObservation};

/// The name of a phase (used inside [`RestorePhase::Failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    /// Request recorded, not validated.
    Draft,
    /// Guards passed; waiting for the stage-one acknowledgement.
    Validated,
    /// Recovery clusters requested.
    RecoveryRequested,
    /// Recovery clusters exist and are starting.
    Provisioning,
    /// Every recovery cluster is ready; waiting for the stage-two acknowledgement.
    ReadyForPromotionChecks,
    /// Replacing the live clusters.
    Cutover,
    /// Done.
    Completed,
    /// Failed.
    Failed,
    /// Abandoned: recovery clusters removed, live untouched.
    Abandoned,
}

impl PhaseName {
    /// The serialized (snake_case) name the product shows, e.g. `ready_for_promotion_checks`.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Draft => "draft",
            PhaseName::Validated => "validated",
            PhaseName::RecoveryRequested => "recovery_requested",
            PhaseName::Provisioning => "provisioning",
            PhaseName::ReadyForPromotionChecks => "ready_for_promotion_checks",
            PhaseName::Cutover => "cutover",
            PhaseName::Completed => "completed",
            PhaseName::Failed => "failed",
            PhaseName::Abandoned => "abandoned",
        }
    }
}

impl std::fmt::Display for PhaseName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The phase of a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "phase",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum RestorePhase {
    /// Request recorded, not validated.
    Draft,
    /// Guards passed; waiting for the stage-one acknowledgement.
    Validated,
    /// Recovery clusters requested.
    RecoveryRequested,
    /// Recovery clusters exist and are starting.
    Provisioning,
    /// Every recovery cluster is ready; waiting for the stage-two acknowledgement.
    ReadyForPromotionChecks,
    /// Replacing the live clusters (see each plane's [`CutoverStep`]).
    Cutover,
    /// Done.
    Completed,
    /// Failed in `in_phase`.
    Failed {
        /// The phase that failed.
        in_phase: PhaseName,
        /// Why, for people.
        reason: String,
        /// Whether [`RestoreRecord::retry`] may continue it.
        retryable: bool,
    },
    /// Abandoned: recovery clusters removed, live untouched.
    Abandoned,
}

impl RestorePhase {
    /// The phase's name.
    pub fn name(&self) -> PhaseName {
        match self {
            RestorePhase::Draft => PhaseName::Draft,
            RestorePhase::Validated => PhaseName::Validated,
            RestorePhase::RecoveryRequested => PhaseName::RecoveryRequested,
            RestorePhase::Provisioning => PhaseName::Provisioning,
            RestorePhase::ReadyForPromotionChecks => PhaseName::ReadyForPromotionChecks,
            RestorePhase::Cutover => PhaseName::Cutover,
            RestorePhase::Completed => PhaseName::Completed,
            RestorePhase::Failed { .. } => PhaseName::Failed,
            RestorePhase::Abandoned => PhaseName::Abandoned,
        }
    }
}

/// Progress of one action of one plane.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepState {
    /// Not emitted yet.
    #[default]
    Pending,
    /// Emitted `attempts` times; its effect has not been observed yet.
    Issued {
        /// How often it was emitted (more than once only when an earlier attempt had no effect).
        attempts: u32,
    },
    /// Its effect was observed.
    Done,
}

impl StepState {
    fn issue(&mut self) {
        *self = match *self {
            StepState::Issued { attempts } => StepState::Issued {
                attempts: attempts.saturating_add(1),
            },
            _ => StepState::Issued { attempts: 1 },
        };
    }

    fn is_done(self) -> bool {
        self == StepState::Done
    }
}

/// The cutover sub-step a plane is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CutoverStep {
    /// Saving the live manifest into the restore record.
    SavingLiveSpec,
    /// The live manifest is in the record.
    LiveSpecSaved,
    /// The live cluster is gone.
    LiveDeleted,
    /// The live cluster was recreated from the recovery spec.
    LiveRecreated,
    /// The recreated live cluster is ready.
    LiveReady,
}

/// The state of one restored plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PlaneState {
    /// The plane.
    pub plane: Plane,
    /// Its live cluster.
    pub live: ClusterName,
    /// The temporary recovery cluster.
    pub recovery: RecoveryClusterSpec,
    /// The recreated live cluster.
    pub replacement: RecoveryClusterSpec,
    /// Creating the recovery cluster.
    pub create_recovery: StepState,
    /// Whether the recovery cluster was ready at the last observation.
    pub recovery_ready: bool,
    /// The saved live manifest (stage two).
    pub live_manifest: Option<ClusterManifest>,
    /// Saving the live manifest.
    pub save_live: StepState,
    /// Deleting the live cluster.
    pub delete_live: StepState,
    /// Recreating the live cluster.
    pub create_live: StepState,
    /// Whether the recreated live cluster is ready.
    pub live_ready: bool,
    /// Deleting the recovery cluster (cleanup or abandon).
    pub delete_recovery: StepState,
    /// Last progress detail observed.
    pub detail: Option<String>,
}

impl PlaneState {
    /// The cutover sub-step (None before cutover starts for this plane).
    pub fn cutover_step(&self) -> Option<CutoverStep> {
        if self.live_ready {
            Some(CutoverStep::LiveReady)
        } else if self.create_live.is_done() {
            Some(CutoverStep::LiveRecreated)
        } else if self.delete_live.is_done() {
            Some(CutoverStep::LiveDeleted)
        } else if self.live_manifest.is_some() {
            Some(CutoverStep::LiveSpecSaved)
        } else if self.save_live != StepState::Pending {
            Some(CutoverStep::SavingLiveSpec)
        } else {
            None
        }
    }
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Action {
    /// Create a temporary recovery cluster (base: the live cluster's current manifest).
    CreateRecoveryCluster {
        /// The spec.
        spec: RecoveryClusterSpec,
    },
    /// Read the live manifest and report it with [`RestoreRecord::live_spec_saved`].
    SaveLiveSpec {
        /// The plane.
        plane: Plane,
        /// The live cluster.
        cluster: ClusterName,
    },
    /// Delete the live cluster.
    DeleteLive {
        /// The plane.
        plane: Plane,
        /// The live cluster.
        cluster: ClusterName,
    },
    /// Recreate the live cluster from its saved manifest with recovery bootstrap.
    CreateLive {
        /// The saved live manifest.
        base: ClusterManifest,
        /// The replacement spec.
        spec: RecoveryClusterSpec,
    },
    /// Delete a recovery cluster.
    DeleteRecoveryCluster {
        /// The plane.
        plane: Plane,
        /// The recovery cluster.
        cluster: ClusterName,
    },
}

impl Action {
    /// The plane the action is for.
    pub fn plane(&self) -> Plane {
        match self {
            Action::CreateRecoveryCluster { spec } | Action::CreateLive { spec, .. } => spec.plane,
            Action::SaveLiveSpec { plane, .. }
            | Action::DeleteLive { plane, .. }
            | Action::DeleteRecoveryCluster { plane, .. } => *plane,
        }
    }
}

/// What was observed of the clusters a record watches (absent key or `None`: does not exist).
pub type Observations = BTreeMap<ClusterName, Option<ClusterObservation>>;

/// The result of a transition: the new record (persist it first) and the actions to perform.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// The new record.
    pub record: RestoreRecord,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

/// Why a transition was refused (the record is unchanged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MachineError {
    /// The transition is not allowed in the current phase.
    #[error("restore `{id}` is `{phase}`; {what} needs it to be {expected}")]
    WrongPhase {
        /// The restore.
        id: RestoreId,
        /// Its phase.
        phase: PhaseName,
        /// What was attempted.
        what: &'static str,
        /// The phases that allow it.
        expected: &'static str,
    },
    /// Stage two needs every recovery cluster ready now.
    #[error(
        "recovery cluster `{cluster}` is not ready now ({detail}); refresh and apply again once it is ready"
    )]
    RecoveryNotReady {
        /// The cluster.
        cluster: ClusterName,
        /// What was observed.
        detail: String,
    },
    /// The validated restore belongs to another record.
    #[error("validated restore `{given}` does not belong to restore `{id}`")]
    IdMismatch {
        /// The record.
        id: RestoreId,
        /// The validated restore's id.
        given: RestoreId,
    },
    /// A live cluster has already been deleted: abandoning would lose it.
    #[error(
        "restore `{id}` has already deleted live cluster `{cluster}`; it cannot be abandoned: retry it to recreate the live cluster from the saved spec"
    )]
    LiveAlreadyTouched {
        /// The restore.
        id: RestoreId,
        /// The live cluster.
        cluster: ClusterName,
    },
    /// The failure is not retryable.
    #[error("restore `{id}` failed and cannot be retried: {reason}")]
    NotRetryable {
        /// The restore.
        id: RestoreId,
        /// Why it failed.
        reason: String,
    },
}

/// A restore: request, phase, per-plane progress and audit trail. Stored as JSON in the state
/// store. Change it only through the transitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRecord {
    id: RestoreId,
    request: RestoreRequest,
    phase: RestorePhase,
    planes: Vec<PlaneState>,
    audit: Vec<AuditEntry>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

fn observed<'a>(obs: &'a Observations, name: &ClusterName) -> Option<&'a ClusterObservation> {
    obs.get(name).and_then(Option::as_ref)
}

fn describe(o: Option<&ClusterObservation>) -> String {
    match o {
        None => "does not exist".to_owned(),
        Some(o) => {
            let phase = o.phase.as_deref().unwrap_or("no phase yet");
            let mut s = format!(
                "{phase}, {}/{} instances ready",
                o.ready_instances, o.instances
            );
            if o.deleting {
                s.push_str(", being deleted");
            }
            if let Some(d) = &o.detail {
                s.push_str(", ");
                s.push_str(d);
            }
            s
        }
    }
}

impl RestoreRecord {
    /// A draft record: the request, not validated yet.
    pub fn draft(id: RestoreId, request: RestoreRequest, now: DateTime<Utc>) -> Self {
        Self {
            id,
            request,
            phase: RestorePhase::Draft,
            planes: Vec::new(),
            audit: Vec::new(),
            created_at: now,
            updated_at: now,
            deadline: None,
            last_error: None,
        }
    }

    /// The restore id.
    pub fn id(&self) -> &RestoreId {
        &self.id
    }
    /// The request.
    pub fn request(&self) -> &RestoreRequest {
        &self.request
    }
    /// The phase.
    pub fn phase(&self) -> &RestorePhase {
        &self.phase
    }
    /// The planes, admin first.
    pub fn planes(&self) -> &[PlaneState] {
        &self.planes
    }
    /// The audit trail, oldest first.
    pub fn audit(&self) -> &[AuditEntry] {
        &self.audit
    }
    /// When the record was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    /// When the current wait for readiness times out.
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        self.deadline
    }
    /// The last transient error reported by the shell.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Whether observing alone moves this restore on, with no acknowledgement or command:
    /// recovery clusters requested or provisioning, a cutover under way (its acknowledgement
    /// was given), or a recovery cluster's deletion issued but not yet seen done. A control
    /// loop refreshes such a restore until this turns false; `ready_for_promotion_checks`
    /// waits for a person.
    pub fn advances_unattended(&self) -> bool {
        match self.phase {
            RestorePhase::RecoveryRequested
            | RestorePhase::Provisioning
            | RestorePhase::Cutover => true,
            RestorePhase::Completed | RestorePhase::Abandoned => self
                .planes
                .iter()
                .any(|p| matches!(p.delete_recovery, StepState::Issued { .. })),
            _ => false,
        }
    }

    /// The clusters to observe before calling [`RestoreRecord::observe`] or
    /// [`RestoreRecord::stage_two`]: every recovery and live cluster of the restore.
    pub fn watched(&self) -> Vec<ClusterName> {
        let mut out = Vec::new();
        for p in &self.planes {
            out.push(p.recovery.name.clone());
            out.push(p.live.clone());
        }
        out
    }

    fn wrong_phase(&self, what: &'static str, expected: &'static str) -> MachineError {
        MachineError::WrongPhase {
            id: self.id.clone(),
            phase: self.phase.name(),
            what,
            expected,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::minutes(i64::from(self.request.ready_timeout_minutes.max(1)))
    }

    fn done(mut self, now: DateTime<Utc>, actions: Vec<Action>) -> Transition {
        self.updated_at = now;
        Transition {
            record: self,
            actions,
        }
    }

    /// Draft → validated: records the validated specs and the overrides used.
    ///
    /// # Errors
    /// [`MachineError::WrongPhase`] unless draft; [`MachineError::IdMismatch`].
    pub fn validate(
        &self,
        validated: &ValidatedRestore,
        now: DateTime<Utc>,
    ) -> Result<Transition, MachineError> {
        if self.phase != RestorePhase::Draft {
            return Err(self.wrong_phase("validation", "draft"));
        }
        if validated.id() != &self.id {
            return Err(MachineError::IdMismatch {
                id: self.id.clone(),
                given: validated.id().clone(),
            });
        }
        let mut next = self.clone();
        next.request = validated.request().clone();
        next.planes = validated
            .planes()
            .iter()
            .map(|p| PlaneState {
                plane: p.plane,
                live: p.live.clone(),
                recovery: p.recovery.clone(),
                replacement: p.replacement.clone(),
                create_recovery: StepState::Pending,
                recovery_ready: false,
                live_manifest: None,
                save_live: StepState::Pending,
                delete_live: StepState::Pending,
                create_live: StepState::Pending,
                live_ready: false,
                delete_recovery: StepState::Pending,
                detail: None,
            })
            .collect();
        next.audit.extend(validated.overrides().iter().cloned());
        next.phase = RestorePhase::Validated;
        Ok(next.done(now, Vec::new()))
    }

    /// Validated → recovery_requested, with the stage-one acknowledgement: emits one
    /// [`Action::CreateRecoveryCluster`] per plane.
    ///
    /// # Errors
    /// [`MachineError::WrongPhase`] unless validated.
    pub fn stage_one(
        &self,
        ack: &StageOneAck,
        actor: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Transition, MachineError> {
        if self.phase != RestorePhase::Validated {
            return Err(self.wrong_phase("stage one", "validated"));
        }
        let mut next = self.clone();
        next.audit.push(AuditEntry::new(
            AuditKind::StageOneAck,
            ack.text(),
            actor,
            now,
        ));
        let mut actions = Vec::new();
        for p in &mut next.planes {
            p.create_recovery.issue();
            actions.push(Action::CreateRecoveryCluster {
                spec: p.recovery.clone(),
            });
        }
        next.phase = RestorePhase::RecoveryRequested;
        next.deadline = Some(now + next.timeout());
        Ok(next.done(now, actions))
    }

    /// Ready_for_promotion_checks → cutover, with the stage-two acknowledgement and a fresh
    /// observation showing every recovery cluster ready now. Emits the first cutover actions
    /// (save each live spec).
    ///
    /// # Errors
    /// [`MachineError::WrongPhase`] unless ready_for_promotion_checks;
    /// [`MachineError::RecoveryNotReady`] when a recovery cluster is not ready in `obs`.
    pub fn stage_two(
        &self,
        ack: &StageTwoAck,
        actor: Option<String>,
        obs: &Observations,
        now: DateTime<Utc>,
    ) -> Result<Transition, MachineError> {
        if self.phase != RestorePhase::ReadyForPromotionChecks {
            return Err(self.wrong_phase("stage two (apply)", "ready_for_promotion_checks"));
        }
        for p in &self.planes {
            let o = observed(obs, &p.recovery.name);
            let ours = o.is_some_and(|o| o.restore_id.as_ref() == Some(&self.id));
            if !(ours && o.is_some_and(ClusterObservation::is_ready)) {
                return Err(MachineError::RecoveryNotReady {
                    cluster: p.recovery.name.clone(),
                    detail: describe(o),
                });
            }
        }
        let mut next = self.clone();
        next.audit.push(AuditEntry::new(
            AuditKind::StageTwoAck,
            ack.text(),
            actor,
            now,
        ));
        next.phase = RestorePhase::Cutover;
        next.deadline = Some(now + next.timeout());
        Ok(next.observe(obs, now))
    }

    /// Records the live manifest read for `plane` during cutover. The shell MUST persist the
    /// returned record before observing again: only then can the live cluster be deleted.
    ///
    /// # Errors
    /// [`MachineError::WrongPhase`] unless cutover.
    pub fn live_spec_saved(
        &self,
        plane: Plane,
        manifest: ClusterManifest,
        now: DateTime<Utc>,
    ) -> Result<Transition, MachineError> {
        if self.phase != RestorePhase::Cutover {
            return Err(self.wrong_phase("saving the live spec", "cutover"));
        }
        let mut next = self.clone();
        if let Some(p) = next.planes.iter_mut().find(|p| p.plane == plane)
            && p.live_manifest.is_none()
        {
            p.live_manifest = Some(manifest);
            p.save_live = StepState::Done;
        }
        Ok(next.done(now, Vec::new()))
    }

    /// Reports that performing `action` failed. Transient errors are recorded and retried on the
    /// next observation; a name taken by someone else or a refused request fails the restore.
    pub fn action_failed(
        &self,
        action: &Action,
        error: &BackendError,
        now: DateTime<Utc>,
    ) -> Transition {
        let mut next = self.clone();
        next.last_error = Some(format!("{}: {error}", action_label(action)));
        let fatal = match (action, error) {
            (_, e) if e.is_transient() => None,
            (
                Action::DeleteLive { .. } | Action::DeleteRecoveryCluster { .. },
                BackendError::NotFound { .. },
            ) => None,
            (
                Action::CreateRecoveryCluster { spec } | Action::CreateLive { spec, .. },
                BackendError::AlreadyExists { .. },
            ) => Some((
                format!(
                    "cluster `{}` exists and was not created by restore `{}`; remove it or pick another name",
                    spec.name, self.id
                ),
                false,
            )),
            (a, e) => Some((format!("{}: {e}", action_label(a)), true)),
        };
        if let Some((reason, retryable)) = fatal
            && !matches!(
                next.phase,
                RestorePhase::Failed { .. } | RestorePhase::Completed | RestorePhase::Abandoned
            )
        {
            next.phase = RestorePhase::Failed {
                in_phase: self.phase.name(),
                reason,
                retryable,
            };
        }
        next.done(now, Vec::new())
    }

    /// Abandons the restore: deletes the recovery clusters, leaves the live clusters untouched.
    ///
    /// # Errors
    /// [`MachineError::LiveAlreadyTouched`] once a live cluster may have been deleted;
    /// [`MachineError::WrongPhase`] when completed.
    pub fn abandon(
        &self,
        actor: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Transition, MachineError> {
        if self.phase == RestorePhase::Completed {
            return Err(self.wrong_phase("abandon", "before completed"));
        }
        if let Some(p) = self
            .planes
            .iter()
            .find(|p| p.delete_live != StepState::Pending)
        {
            return Err(MachineError::LiveAlreadyTouched {
                id: self.id.clone(),
                cluster: p.live.clone(),
            });
        }
        let mut next = self.clone();
        let mut actions = Vec::new();
        if next.phase != RestorePhase::Abandoned {
            next.audit.push(AuditEntry::new(
                AuditKind::Abandon,
                "abandoned: recovery clusters are removed, live clusters untouched",
                actor,
                now,
            ));
        }
        for p in &mut next.planes {
            if p.create_recovery != StepState::Pending && !p.delete_recovery.is_done() {
                p.delete_recovery.issue();
                actions.push(Action::DeleteRecoveryCluster {
                    plane: p.plane,
                    cluster: p.recovery.name.clone(),
                });
            }
        }
        next.phase = RestorePhase::Abandoned;
        next.deadline = None;
        Ok(next.done(now, actions))
    }

    /// Deletes the recovery clusters of a completed restore that kept them.
    ///
    /// # Errors
    /// [`MachineError::WrongPhase`] unless completed.
    pub fn cleanup(
        &self,
        actor: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Transition, MachineError> {
        if self.phase != RestorePhase::Completed {
            return Err(self.wrong_phase("cleanup", "completed (abandon removes them otherwise)"));
        }
        let mut next = self.clone();
        next.audit.push(AuditEntry::new(
            AuditKind::Cleanup,
            "recovery clusters removed after a completed restore",
            actor,
            now,
        ));
        let mut actions = Vec::new();
        for p in &mut next.planes {
            if !p.delete_recovery.is_done() {
                p.delete_recovery.issue();
                actions.push(Action::DeleteRecoveryCluster {
                    plane: p.plane,
                    cluster: p.recovery.name.clone(),
                });
            }
        }
        Ok(next.done(now, actions))
    }

    /// Continues a retryable failure from the phase that failed, with a fresh deadline.
    ///
    /// # Errors
    /// [`MachineError::NotRetryable`]; [`MachineError::WrongPhase`] unless failed.
    pub fn retry(
        &self,
        actor: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Transition, MachineError> {
        let RestorePhase::Failed {
            in_phase,
            reason,
            retryable,
        } = &self.phase
        else {
            return Err(self.wrong_phase("retry", "failed"));
        };
        if !retryable {
            return Err(MachineError::NotRetryable {
                id: self.id.clone(),
                reason: reason.clone(),
            });
        }
        let mut next = self.clone();
        next.phase = match in_phase {
            PhaseName::Draft => RestorePhase::Draft,
            PhaseName::Validated => RestorePhase::Validated,
            PhaseName::RecoveryRequested | PhaseName::Provisioning => {
                RestorePhase::RecoveryRequested
            }
            PhaseName::ReadyForPromotionChecks => RestorePhase::ReadyForPromotionChecks,
            PhaseName::Cutover => RestorePhase::Cutover,
            PhaseName::Completed => RestorePhase::Completed,
            PhaseName::Failed | PhaseName::Abandoned => RestorePhase::Abandoned,
        };
        next.audit.push(AuditEntry::new(
            AuditKind::Retry,
            format!("retried after: {reason}"),
            actor,
            now,
        ));
        next.deadline = Some(now + next.timeout());
        next.last_error = None;
        Ok(next.done(now, Vec::new()))
    }

    /// Advances the restore from what is observed now (level-triggered).
    pub fn observe(&self, obs: &Observations, now: DateTime<Utc>) -> Transition {
        let mut next = self.clone();
        let mut actions = Vec::new();
        let id = self.id.clone();
        match self.phase {
            RestorePhase::Draft | RestorePhase::Validated | RestorePhase::Failed { .. } => {}
            RestorePhase::RecoveryRequested
            | RestorePhase::Provisioning
            | RestorePhase::ReadyForPromotionChecks => {
                let mut conflict = None;
                for p in &mut next.planes {
                    let o = observed(obs, &p.recovery.name);
                    p.detail = Some(describe(o));
                    match o {
                        None => {
                            // Never created, or a crash lost the create, or someone deleted it.
                            p.recovery_ready = false;
                            p.create_recovery.issue();
                            actions.push(Action::CreateRecoveryCluster {
                                spec: p.recovery.clone(),
                            });
                        }
                        Some(o) if o.restore_id.as_ref() != Some(&id) => {
                            conflict = Some(p.recovery.name.clone());
                        }
                        Some(o) => {
                            p.create_recovery = StepState::Done;
                            p.recovery_ready = o.is_ready();
                        }
                    }
                }
                if let Some(name) = conflict {
                    next.phase = RestorePhase::Failed {
                        in_phase: self.phase.name(),
                        reason: format!(
                            "cluster `{name}` exists and was not created by restore `{id}`; remove it or start a new restore with another name"
                        ),
                        retryable: false,
                    };
                    return next.done(now, Vec::new());
                }
                let all_exist = next.planes.iter().all(|p| p.create_recovery.is_done());
                let all_ready = next.planes.iter().all(|p| p.recovery_ready);
                next.phase = if all_ready {
                    RestorePhase::ReadyForPromotionChecks
                } else if all_exist {
                    RestorePhase::Provisioning
                } else {
                    RestorePhase::RecoveryRequested
                };
                if all_ready {
                    next.deadline = None;
                } else if let Some(d) = next.deadline
                    && now > d
                {
                    let waiting: Vec<String> = next
                        .planes
                        .iter()
                        .filter(|p| !p.recovery_ready)
                        .map(|p| {
                            format!(
                                "`{}` ({})",
                                p.recovery.name,
                                p.detail.as_deref().unwrap_or("not observed")
                            )
                        })
                        .collect();
                    next.phase = RestorePhase::Failed {
                        in_phase: next.phase.name(),
                        reason: format!(
                            "recovery cluster {} not ready after {} minutes; check the cluster and its logs, then retry or abandon",
                            waiting.join(", "),
                            self.request.ready_timeout_minutes
                        ),
                        retryable: true,
                    };
                    return next.done(now, Vec::new());
                }
            }
            RestorePhase::Cutover => {
                actions = next.observe_cutover(obs, now);
            }
            RestorePhase::Completed | RestorePhase::Abandoned => {
                for p in &mut next.planes {
                    if p.delete_recovery == StepState::Pending {
                        continue;
                    }
                    match observed(obs, &p.recovery.name) {
                        None => p.delete_recovery = StepState::Done,
                        Some(o) if o.deleting || o.restore_id.as_ref() != Some(&id) => {}
                        Some(_) => {
                            if !p.delete_recovery.is_done() {
                                p.delete_recovery.issue();
                                actions.push(Action::DeleteRecoveryCluster {
                                    plane: p.plane,
                                    cluster: p.recovery.name.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        next.done(now, actions)
    }

    fn observe_cutover(&mut self, obs: &Observations, now: DateTime<Utc>) -> Vec<Action> {
        let id = self.id.clone();
        let mut actions = Vec::new();
        let all_saved = self.planes.iter().all(|p| p.live_manifest.is_some());
        let mut failure: Option<(String, bool)> = None;
        for p in &mut self.planes {
            let rec = observed(obs, &p.recovery.name);
            p.recovery_ready =
                rec.is_some_and(|o| o.restore_id.as_ref() == Some(&id) && o.is_ready());
            let live = observed(obs, &p.live);
            let live_is_ours = live.is_some_and(|o| o.restore_id.as_ref() == Some(&id));
            let live_is_original = live.is_some_and(|o| !o.deleting && !live_is_ours);
            p.detail = Some(format!(
                "live: {}; recovery: {}",
                describe(live),
                describe(rec)
            ));
            // 1. Save the live spec.
            if p.live_manifest.is_none() {
                if live_is_original {
                    p.save_live.issue();
                    actions.push(Action::SaveLiveSpec {
                        plane: p.plane,
                        cluster: p.live.clone(),
                    });
                } else if live.is_none() {
                    failure = Some((
                        format!(
                            "live cluster `{}` disappeared before its spec was saved; nothing was deleted by this restore: recreate it by hand or restore again",
                            p.live
                        ),
                        false,
                    ));
                }
                continue;
            }
            // 2. Delete the live cluster: every manifest saved, recovery ready now.
            if !p.delete_live.is_done() && rec.is_none() && live_is_original {
                // The recovery cluster vanished before the live cluster was touched: recreate it
                // (the live cluster waits until it is ready again).
                p.create_recovery.issue();
                actions.push(Action::CreateRecoveryCluster {
                    spec: p.recovery.clone(),
                });
                continue;
            }
            if !p.delete_live.is_done() {
                if live.is_none() || live_is_ours {
                    p.delete_live = StepState::Done;
                } else if live_is_original && all_saved && p.recovery_ready {
                    p.delete_live.issue();
                    actions.push(Action::DeleteLive {
                        plane: p.plane,
                        cluster: p.live.clone(),
                    });
                    continue;
                } else {
                    continue;
                }
            }
            // 3. Recreate it from the saved manifest and the validated recovery spec.
            if !p.create_live.is_done() {
                if live_is_ours {
                    p.create_live = StepState::Done;
                } else if live.is_none() {
                    if let Some(base) = &p.live_manifest {
                        p.create_live.issue();
                        actions.push(Action::CreateLive {
                            base: base.clone(),
                            spec: p.replacement.clone(),
                        });
                    }
                    continue;
                } else if live_is_original {
                    failure = Some((
                        format!(
                            "a cluster named `{}` was created by someone else after this restore deleted the live cluster; the saved spec is kept in restore `{id}`: remove that cluster and retry",
                            p.live
                        ),
                        true,
                    ));
                    continue;
                } else {
                    continue;
                }
            }
            // 4. Wait for the recreated live cluster.
            match live {
                None => {
                    // Deleted by someone after we recreated it: recreate again from the record.
                    if let Some(base) = &p.live_manifest {
                        p.create_live.issue();
                        actions.push(Action::CreateLive {
                            base: base.clone(),
                            spec: p.replacement.clone(),
                        });
                    }
                    p.live_ready = false;
                }
                Some(o) => p.live_ready = live_is_ours && o.is_ready(),
            }
        }
        if let Some((reason, retryable)) = failure {
            self.phase = RestorePhase::Failed {
                in_phase: PhaseName::Cutover,
                reason,
                retryable,
            };
            return actions
                .into_iter()
                .filter(|a| !matches!(a, Action::DeleteLive { .. }))
                .collect();
        }
        if self.planes.iter().all(|p| p.live_ready) {
            self.phase = RestorePhase::Completed;
            self.deadline = None;
            if self.request.after_success == AfterSuccess::Cleanup {
                for p in &mut self.planes {
                    p.delete_recovery.issue();
                    actions.push(Action::DeleteRecoveryCluster {
                        plane: p.plane,
                        cluster: p.recovery.name.clone(),
                    });
                }
            }
        } else if let Some(d) = self.deadline
            && now > d
            && actions.is_empty()
        {
            let waiting: Vec<String> = self
                .planes
                .iter()
                .filter(|p| !p.live_ready)
                .map(|p| {
                    format!(
                        "{} ({})",
                        p.plane,
                        p.detail.as_deref().unwrap_or("not observed")
                    )
                })
                .collect();
            self.phase = RestorePhase::Failed {
                in_phase: PhaseName::Cutover,
                reason: format!(
                    "cutover not finished after {} minutes: {}; the saved live specs are kept in the restore record: fix the cause and retry",
                    self.request.ready_timeout_minutes,
                    waiting.join(", ")
                ),
                retryable: true,
            };
        }
        actions
    }
}

fn action_label(action: &Action) -> String {
    match action {
        Action::CreateRecoveryCluster { spec } => {
            format!("creating recovery cluster `{}`", spec.name)
        }
        Action::SaveLiveSpec { cluster, .. } => format!("saving the spec of `{cluster}`"),
        Action::DeleteLive { cluster, .. } => format!("deleting live cluster `{cluster}`"),
        Action::CreateLive { spec, .. } => format!("recreating live cluster `{}`", spec.name),
        Action::DeleteRecoveryCluster { cluster, .. } => {
            format!("deleting recovery cluster `{cluster}`")
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn phase_names_display_as_they_serialize() {
        use PhaseName::*;
        for p in [
            Draft,
            Validated,
            RecoveryRequested,
            Provisioning,
            ReadyForPromotionChecks,
            Cutover,
            Completed,
            Failed,
            Abandoned,
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.to_string());
        }
    }
    use crate::automation::BackupMethod;
    use crate::names::PlaneClusters;
    use crate::ports::HEALTHY_PHASE;
    use crate::restore::STAGE_TWO_ACK;
    use crate::restore::ack::STAGE_ONE_ACK;
    use crate::restore::guard::tests::{at, catalog};
    use crate::restore::guard::{GuardContext, validate};

    pub(crate) fn validated_record() -> RestoreRecord {
        let live = PlaneClusters::default();
        let cat = catalog();
        let running = "1.4.2".parse().unwrap();
        let ctx = GuardContext::new(
            &live,
            &[],
            &cat,
            Some(&running),
            BackupMethod::Plugin,
            at(5),
        );
        let req = RestoreRequest::full_from_backups(
            "restore-a".parse().unwrap(),
            "admin-2".parse().unwrap(),
            "tenant-2".parse().unwrap(),
        );
        let id: RestoreId = "r1".parse().unwrap();
        let v = validate(&id, &req, &ctx).unwrap();
        RestoreRecord::draft(id, req, at(5))
            .validate(&v, at(5))
            .unwrap()
            .record
    }

    pub(crate) fn obs(name: &str, restore: Option<&str>, ready: bool) -> ClusterObservation {
        let mut o = ClusterObservation::new(name.parse().unwrap(), 1);
        o.restore_id = restore.map(|r| r.parse().unwrap());
        if ready {
            o.phase = Some(HEALTHY_PHASE.to_owned());
            o.ready_condition = true;
            o.ready_instances = 1;
        }
        o
    }

    fn world(entries: &[(&str, Option<ClusterObservation>)]) -> Observations {
        entries
            .iter()
            .map(|(n, o)| (n.parse().unwrap(), o.clone()))
            .collect()
    }

    fn live_original() -> Vec<(&'static str, Option<ClusterObservation>)> {
        vec![
            ("cnpg-admin", Some(obs("cnpg-admin", None, true))),
            ("cnpg-tenant", Some(obs("cnpg-tenant", None, true))),
        ]
    }

    #[test]
    fn full_flow_reaches_completed_and_deletes_live_once_per_plane() {
        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
        let r = validated_record();
        assert_eq!(r.phase(), &RestorePhase::Validated);
        let t = r.stage_one(&one, Some("ops".into()), at(5)).unwrap();
        assert_eq!(t.actions.len(), 2);
        assert_eq!(t.record.phase(), &RestorePhase::RecoveryRequested);

        let mut w = live_original();
        w.push((
            "restore-a-admin",
            Some(obs("restore-a-admin", Some("r1"), false)),
        ));
        w.push((
            "restore-a-tenant",
            Some(obs("restore-a-tenant", Some("r1"), false)),
        ));
        let t = t.record.observe(&world(&w), at(5));
        assert_eq!(t.record.phase(), &RestorePhase::Provisioning);
        assert!(t.actions.is_empty());
        // Stage two is refused while provisioning, naming the phases as the product shows them.
        let err = t
            .record
            .stage_two(&two, None, &world(&w), at(5))
            .unwrap_err();
        assert!(matches!(err, MachineError::WrongPhase { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "restore `r1` is `provisioning`; stage two (apply) needs it to be ready_for_promotion_checks"
        );

        w[2].1 = Some(obs("restore-a-admin", Some("r1"), true));
        w[3].1 = Some(obs("restore-a-tenant", Some("r1"), true));
        let t = t.record.observe(&world(&w), at(5));
        assert_eq!(t.record.phase(), &RestorePhase::ReadyForPromotionChecks);

        let t = t
            .record
            .stage_two(&two, Some("ops".into()), &world(&w), at(6))
            .unwrap();
        assert_eq!(t.record.phase(), &RestorePhase::Cutover);
        assert!(
            t.actions
                .iter()
                .all(|a| matches!(a, Action::SaveLiveSpec { .. }))
        );
        assert_eq!(t.actions.len(), 2);

        // Only one manifest saved: no delete yet (every plane's spec first).
        let manifest = ClusterManifest(serde_json::json!({"kind": "Cluster"}));
        let r = t
            .record
            .live_spec_saved(Plane::Admin, manifest.clone(), at(6))
            .unwrap()
            .record;
        let t = r.observe(&world(&w), at(6));
        assert!(
            !t.actions
                .iter()
                .any(|a| matches!(a, Action::DeleteLive { .. }))
        );
        let r = t
            .record
            .live_spec_saved(Plane::Tenant, manifest, at(6))
            .unwrap()
            .record;
        let t = r.observe(&world(&w), at(6));
        let deletes: Vec<_> = t
            .actions
            .iter()
            .filter(|a| matches!(a, Action::DeleteLive { .. }))
            .collect();
        assert_eq!(deletes.len(), 2);

        w[0].1 = None;
        w[1].1 = None;
        let t = t.record.observe(&world(&w), at(6));
        assert!(
            t.actions
                .iter()
                .all(|a| matches!(a, Action::CreateLive { spec, .. } if spec.replaces_live))
        );
        assert_eq!(t.actions.len(), 2);
        assert_eq!(
            t.record.planes()[0].cutover_step(),
            Some(CutoverStep::LiveDeleted)
        );

        w[0].1 = Some(obs("cnpg-admin", Some("r1"), false));
        w[1].1 = Some(obs("cnpg-tenant", Some("r1"), true));
        let t = t.record.observe(&world(&w), at(6));
        assert!(t.actions.is_empty());
        assert_eq!(
            t.record.planes()[0].cutover_step(),
            Some(CutoverStep::LiveRecreated)
        );
        assert_eq!(
            t.record.planes()[1].cutover_step(),
            Some(CutoverStep::LiveReady)
        );

        w[0].1 = Some(obs("cnpg-admin", Some("r1"), true));
        let t = t.record.observe(&world(&w), at(6));
        assert_eq!(t.record.phase(), &RestorePhase::Completed);
        assert!(
            t.actions
                .iter()
                .all(|a| matches!(a, Action::DeleteRecoveryCluster { .. }))
        );
        let kinds: Vec<AuditKind> = t.record.audit().iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec![AuditKind::StageOneAck, AuditKind::StageTwoAck]);
        let json = serde_json::to_value(t.record.phase()).unwrap();
        assert_eq!(json, serde_json::json!({"phase": "completed"}));
    }

    #[test]
    fn only_phases_that_move_by_observation_advance_unattended() {
        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
        let r = validated_record();
        assert!(!r.advances_unattended(), "validated waits for stage one");
        let t = r.stage_one(&one, None, at(5)).unwrap();
        assert!(t.record.advances_unattended(), "recovery requested");
        let mut w = live_original();
        w.push((
            "restore-a-admin",
            Some(obs("restore-a-admin", Some("r1"), true)),
        ));
        w.push((
            "restore-a-tenant",
            Some(obs("restore-a-tenant", Some("r1"), true)),
        ));
        let t = t.record.observe(&world(&w), at(5));
        assert_eq!(t.record.phase(), &RestorePhase::ReadyForPromotionChecks);
        assert!(!t.record.advances_unattended(), "waits for a person");
        let t = t.record.stage_two(&two, None, &world(&w), at(6)).unwrap();
        assert!(t.record.advances_unattended(), "an acknowledged cutover");
        let abandoned = validated_record()
            .stage_one(&one, None, at(5))
            .unwrap()
            .record
            .abandon(None, at(6))
            .unwrap();
        assert!(
            abandoned.record.advances_unattended(),
            "recovery cluster deletions issued: {:?}",
            abandoned.actions
        );
    }

    #[test]
    fn no_delete_while_recovery_not_ready_in_cutover() {
        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
        let mut w = live_original();
        w.push((
            "restore-a-admin",
            Some(obs("restore-a-admin", Some("r1"), true)),
        ));
        w.push((
            "restore-a-tenant",
            Some(obs("restore-a-tenant", Some("r1"), true)),
        ));
        let r = validated_record()
            .stage_one(&one, None, at(5))
            .unwrap()
            .record;
        let r = r.observe(&world(&w), at(5)).record;
        let r = r.stage_two(&two, None, &world(&w), at(5)).unwrap().record;
        let m = ClusterManifest(serde_json::json!({}));
        let r = r
            .live_spec_saved(Plane::Admin, m.clone(), at(5))
            .unwrap()
            .record;
        let r = r.live_spec_saved(Plane::Tenant, m, at(5)).unwrap().record;
        w[3].1 = Some(obs("restore-a-tenant", Some("r1"), false));
        let t = r.observe(&world(&w), at(5));
        let deleted: Vec<Plane> = t
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::DeleteLive { plane, .. } => Some(*plane),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, vec![Plane::Admin]);
        // Abandon is refused once a live delete was issued.
        assert!(matches!(
            t.record.abandon(None, at(5)),
            Err(MachineError::LiveAlreadyTouched { .. })
        ));
    }

    #[test]
    fn stage_two_needs_ready_recovery_now() {
        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
        let mut w = live_original();
        w.push((
            "restore-a-admin",
            Some(obs("restore-a-admin", Some("r1"), true)),
        ));
        w.push((
            "restore-a-tenant",
            Some(obs("restore-a-tenant", Some("r1"), true)),
        ));
        let r = validated_record()
            .stage_one(&one, None, at(5))
            .unwrap()
            .record;
        let r = r.observe(&world(&w), at(5)).record;
        assert_eq!(r.phase(), &RestorePhase::ReadyForPromotionChecks);
        w[2].1 = None;
        let err = r.stage_two(&two, None, &world(&w), at(5)).unwrap_err();
        assert!(
            matches!(err, MachineError::RecoveryNotReady { .. }),
            "{err}"
        );
    }

    #[test]
    fn foreign_cluster_with_recovery_name_fails_without_retry() {
        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let mut w = live_original();
        w.push(("restore-a-admin", Some(obs("restore-a-admin", None, true))));
        let r = validated_record()
            .stage_one(&one, None, at(5))
            .unwrap()
            .record;
        let t = r.observe(&world(&w), at(5));
        assert!(matches!(
            t.record.phase(),
            RestorePhase::Failed {
                retryable: false,
                ..
            }
        ));
        assert!(t.actions.is_empty());
        assert!(matches!(
            t.record.retry(None, at(5)),
            Err(MachineError::NotRetryable { .. })
        ));
    }

    #[test]
    fn timeout_fails_retryably_and_retry_continues() {
        let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let mut w = live_original();
        w.push((
            "restore-a-admin",
            Some(obs("restore-a-admin", Some("r1"), false)),
        ));
        w.push((
            "restore-a-tenant",
            Some(obs("restore-a-tenant", Some("r1"), true)),
        ));
        let r = validated_record()
            .stage_one(&one, None, at(5))
            .unwrap()
            .record;
        let t = r.observe(&world(&w), at(8));
        let RestorePhase::Failed {
            in_phase,
            reason,
            retryable,
        } = t.record.phase()
        else {
            panic!("{:?}", t.record.phase());
        };
        assert_eq!(*in_phase, PhaseName::Provisioning);
        assert!(retryable);
        assert!(reason.contains("restore-a-admin"), "{reason}");
        let r = t.record.retry(None, at(8)).unwrap().record;
        assert_eq!(r.phase(), &RestorePhase::RecoveryRequested);
        let r = t.record.abandon(Some("ops".into()), at(8)).unwrap();
        assert_eq!(r.record.phase(), &RestorePhase::Abandoned);
        assert_eq!(r.actions.len(), 2);
        let _ = r;
    }

    mod props {
        use proptest::prelude::*;

        use super::*;

        const NAMES: [&str; 4] = [
            "cnpg-admin",
            "cnpg-tenant",
            "restore-a-admin",
            "restore-a-tenant",
        ];

        fn one_obs(name: &'static str) -> impl Strategy<Value = Option<ClusterObservation>> {
            // Live clusters are mostly the originals; recovery clusters are ours (a foreign one
            // fails the restore for good: see `foreign_cluster_with_recovery_name_fails_without_retry`).
            let owner = if name.starts_with("cnpg-") {
                prop_oneof![6 => Just(None), 2 => Just(Some("r1")), 1 => Just(Some("other"))]
                    .boxed()
            } else {
                Just(Some("r1")).boxed()
            };
            proptest::option::weighted(0.8, (owner, any::<bool>(), proptest::bool::weighted(0.2)))
                .prop_map(move |o| {
                    o.map(|(owner, ready, deleting)| {
                        let mut c = obs(name, owner, ready);
                        c.deleting = deleting;
                        c
                    })
                })
        }

        /// Live clusters original and healthy, recovery clusters ours and ready.
        fn healthy() -> Observations {
            NAMES
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        n.parse().unwrap(),
                        Some(obs(n, (i >= 2).then_some("r1"), true)),
                    )
                })
                .collect()
        }

        fn random_observations() -> impl Strategy<Value = Observations> {
            (
                one_obs(NAMES[0]),
                one_obs(NAMES[1]),
                one_obs(NAMES[2]),
                one_obs(NAMES[3]),
            )
                .prop_map(|(a, b, c, d)| {
                    NAMES
                        .iter()
                        .zip([a, b, c, d])
                        .map(|(n, o)| (n.parse().unwrap(), o))
                        .collect()
                })
        }

        fn observations() -> impl Strategy<Value = Observations> {
            prop_oneof![1 => Just(healthy()), 1 => random_observations()]
        }

        #[derive(Debug, Clone)]
        enum Event {
            StageOne,
            Observe(Observations),
            StageTwo(Observations),
            Saved(bool),
            Failed(usize, bool),
            Abandon,
            Retry,
            Cleanup,
            Later,
        }

        fn event() -> impl Strategy<Value = Event> {
            prop_oneof![
                4 => Just(Event::StageOne),
                30 => observations().prop_map(Event::Observe),
                10 => observations().prop_map(Event::StageTwo),
                12 => any::<bool>().prop_map(Event::Saved),
                3 => (0..4usize, any::<bool>()).prop_map(|(i, t)| Event::Failed(i, t)),
                1 => Just(Event::Abandon),
                4 => Just(Event::Retry),
                1 => Just(Event::Cleanup),
                1 => Just(Event::Later),
            ]
        }

        proptest! {
            /// No sequence of events emits DeleteLive unless: the record is in cutover (entered
            /// only through stage two), carries the stage-two acknowledgement, already holds every
            /// live manifest (so the shell persisted it), and the same observation shows that
            /// plane's recovery cluster ours and ready and the live cluster original.
            #[test]
            fn delete_live_only_with_ack_persisted_spec_and_ready_recovery(
                events in proptest::collection::vec(event(), 0..60)
            ) {
                let one = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
                let two = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
                let mut r = validated_record();
                let mut now = at(5);
                let mut last_actions: Vec<Action> = Vec::new();
                let mut deletes: BTreeMap<Plane, u32> = BTreeMap::new();
                for e in events {
                    let before = r.clone();
                    let (t, seen) = match e {
                        Event::StageOne => (r.stage_one(&one, None, now).ok(), None),
                        Event::Observe(o) => (Some(r.observe(&o, now)), Some(o)),
                        Event::StageTwo(o) => (r.stage_two(&two, None, &o, now).ok(), Some(o)),
                        Event::Saved(admin) => {
                            let plane = if admin { Plane::Admin } else { Plane::Tenant };
                            let m = ClusterManifest(serde_json::json!({"plane": plane.as_str()}));
                            (r.live_spec_saved(plane, m, now).ok(), None)
                        }
                        Event::Failed(i, transient) => match last_actions.get(i) {
                            Some(a) => {
                                let err = if transient {
                                    BackendError::Unavailable { detail: "x".into() }
                                } else {
                                    BackendError::Forbidden { detail: "x".into() }
                                };
                                (Some(r.action_failed(a, &err, now)), None)
                            }
                            None => (None, None),
                        },
                        Event::Abandon => (r.abandon(None, now).ok(), None),
                        Event::Retry => (r.retry(None, now).ok(), None),
                        Event::Cleanup => (r.cleanup(None, now).ok(), None),
                        Event::Later => {
                            now += Duration::minutes(45);
                            (None, None)
                        }
                    };
                    let Some(t) = t else { continue };
                    for a in &t.actions {
                        if let Action::DeleteLive { plane, cluster } = a {
                            let o = seen.as_ref().expect("DeleteLive only from an observation");
                            let entered_cutover = matches!(before.phase(), RestorePhase::Cutover)
                                || matches!(before.phase(), RestorePhase::ReadyForPromotionChecks);
                            prop_assert!(entered_cutover, "from {:?}", before.phase());
                            prop_assert!(t.record.audit().iter().any(|x| x.kind == AuditKind::StageTwoAck));
                            prop_assert!(before.planes().iter().all(|p| p.live_manifest.is_some()),
                                "manifest not persisted before the step");
                            let p = before.planes().iter().find(|p| p.plane == *plane).unwrap();
                            let rec = o.get(&p.recovery.name).cloned().flatten();
                            prop_assert!(rec.as_ref().is_some_and(|c| c.is_ready()
                                && c.restore_id.as_ref().map(RestoreId::as_str) == Some("r1")));
                            let live = o.get(cluster).cloned().flatten();
                            let original = live.is_some_and(|c| {
                                !c.deleting && c.restore_id.as_ref().map(RestoreId::as_str) != Some("r1")
                            });
                            prop_assert!(original, "live must be the original cluster, present");
                            *deletes.entry(*plane).or_default() += 1;
                        }
                    }
                    // Once a plane's live cluster was observed gone, it is never deleted again.
                    for p in before.planes() {
                        if p.delete_live == StepState::Done {
                            let again = t
                                .actions
                                .iter()
                                .any(|a| matches!(a, Action::DeleteLive { plane, .. } if *plane == p.plane));
                            prop_assert!(!again, "deleted twice");
                        }
                    }
                    last_actions = t.actions.clone();
                    r = t.record;
                }
            }
        }
    }
}
