//! The restore use cases: plan (dry run), create (stage one), refresh, apply (stage two),
//! abandon, cleanup, retry.
//!
//! Every step follows one loop: load the record and its revision, observe, transition,
//! **persist the new record (compare-and-swap on the revision)**, then perform the actions. A
//! second operator running the same step loses the compare-and-swap and performs nothing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Loaded, ServiceError, load, load_settings, plane_catalog, store};
use crate::drift::AppVersion;
use crate::names::{ClusterName, RestoreId};
use crate::ports::{
    BackendError, BackupCatalogSource, BucketProbe, Clock, ClusterLifecycle, ClusterManifest,
    StateKey, StateStore,
};
use crate::restore::{
    Action, AfterSuccess, GuardContext, Observations, RecoveryClusterSpec, RestoreIntent,
    RestoreRecord, RestoreRequest, StageOneAck, StageTwoAck, Transition, ValidatedRestore,
    validate,
};

/// The most transitions one call drives before returning (each performs at least one action).
const MAX_STEPS: usize = 16;

/// What a restore would do, computed without side effects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RestorePlan {
    /// The validated request, with the overrides it uses.
    pub validated: ValidatedRestore,
    /// Stage one creates these recovery clusters.
    pub creates: Vec<RecoveryClusterSpec>,
    /// Stage two deletes these live clusters (after saving their specs)...
    pub deletes_live: Vec<ClusterName>,
    /// ...and recreates them like this (fresh archive server names).
    pub recreates: Vec<RecoveryClusterSpec>,
    /// After success these recovery clusters are deleted (empty when kept).
    pub cleanup: Vec<ClusterName>,
}

/// Restores: plan, create, refresh, apply, abandon, cleanup, retry.
pub struct RestoreService<L: ?Sized, C: ?Sized, P: ?Sized, S: ?Sized, K: ?Sized> {
    lifecycle: Arc<L>,
    catalog: Arc<C>,
    probe: Arc<P>,
    store: Arc<S>,
    clock: Arc<K>,
}

impl<L: ?Sized, C: ?Sized, P: ?Sized, S: ?Sized, K: ?Sized> std::fmt::Debug
    for RestoreService<L, C, P, S, K>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreService").finish_non_exhaustive()
    }
}

impl<L, C, P, S, K> RestoreService<L, C, P, S, K>
where
    L: ClusterLifecycle + ?Sized,
    C: BackupCatalogSource + ?Sized,
    P: BucketProbe + ?Sized,
    S: StateStore + ?Sized,
    K: Clock + ?Sized,
{
    /// A service over these ports.
    pub fn new(
        lifecycle: Arc<L>,
        catalog: Arc<C>,
        probe: Arc<P>,
        store: Arc<S>,
        clock: Arc<K>,
    ) -> Self {
        Self {
            lifecycle,
            catalog,
            probe,
            store,
            clock,
        }
    }

    async fn validated(
        &self,
        id: &RestoreId,
        request: &RestoreRequest,
        running: Option<&AppVersion>,
    ) -> Result<ValidatedRestore, ServiceError> {
        let settings = load_settings(&*self.store).await?;
        let mut catalog = Vec::new();
        for plane in request.mode.planes() {
            catalog.extend(plane_catalog(&*self.catalog, &*self.probe, &settings, plane).await?);
        }
        let mut existing = Vec::new();
        if let Ok(names) = request.mode.recovery_names() {
            for (_, name) in names {
                if self
                    .lifecycle
                    .observe(&name)
                    .await
                    .map_err(ServiceError::backend(format!("observing `{name}`")))?
                    .is_some()
                {
                    existing.push(name);
                }
            }
        }
        let ctx = GuardContext::new(
            &settings.clusters,
            &existing,
            &catalog,
            running,
            settings.automation.method,
            self.clock.now(),
        );
        Ok(validate(id, request, &ctx)?)
    }

    /// Everything the restore would create and delete, checked by every guard, without side
    /// effects (only reads).
    ///
    /// # Errors
    /// [`ServiceError::Guard`] naming what to change; [`ServiceError::Backend`].
    pub async fn plan(
        &self,
        id: &RestoreId,
        request: &RestoreRequest,
        running: Option<&AppVersion>,
    ) -> Result<RestorePlan, ServiceError> {
        let validated = self.validated(id, request, running).await?;
        let planes = validated.planes();
        Ok(RestorePlan {
            creates: planes.iter().map(|p| p.recovery.clone()).collect(),
            deletes_live: planes.iter().map(|p| p.live.clone()).collect(),
            recreates: planes.iter().map(|p| p.replacement.clone()).collect(),
            cleanup: if request.after_success == AfterSuccess::Cleanup {
                planes.iter().map(|p| p.recovery.name.clone()).collect()
            } else {
                Vec::new()
            },
            validated,
        })
    }

    /// Stage one: checks every guard, records the restore with the acknowledgement, and creates
    /// the recovery clusters.
    ///
    /// # Errors
    /// [`ServiceError::Guard`] (nothing created); [`ServiceError::RestoreExists`];
    /// [`ServiceError::Backend`] when an action failed (the record says where it stopped).
    pub async fn create(
        &self,
        id: &RestoreId,
        request: &RestoreRequest,
        running: Option<&AppVersion>,
        ack: &StageOneAck,
        actor: Option<String>,
    ) -> Result<RestoreRecord, ServiceError> {
        let validated = self.validated(id, request, running).await?;
        let now = self.clock.now();
        let record = RestoreRecord::draft(id.clone(), request.clone(), now)
            .validate(&validated, now)?
            .record;
        let t = record.stage_one(ack, actor, now)?;
        let key = StateKey::Restore(id.clone());
        let revision = store(&*self.store, &key, &t.record, None)
            .await
            .map_err(|e| match e {
                ServiceError::Conflict { .. } => ServiceError::RestoreExists { id: id.clone() },
                other => other,
            })?;
        self.drive(id, revision, t).await
    }

    /// Stage one from a restore intent document: the intent replaces only the interactive
    /// selection; its stage-one acknowledgement is checked exactly like a typed one and every
    /// guard applies. The intent's restore id is used when it has one, else `fallback_id`.
    ///
    /// # Errors
    /// [`ServiceError::Ack`] when the intent has no exact stage-one acknowledgement (nothing is
    /// created); as [`Self::create`] otherwise.
    pub async fn create_from_intent(
        &self,
        intent: &RestoreIntent,
        fallback_id: &RestoreId,
        running: Option<&AppVersion>,
    ) -> Result<RestoreRecord, ServiceError> {
        let ack = intent.stage_one_ack()?;
        let id = intent.restore_id.as_ref().unwrap_or(fallback_id);
        self.create(id, &intent.spec, running, &ack, intent.actor.clone())
            .await
    }

    /// Observes the clusters and advances the restore as far as it can go now.
    ///
    /// # Errors
    /// [`ServiceError::RestoreNotFound`]; [`ServiceError::Conflict`]; [`ServiceError::Backend`].
    pub async fn refresh(&self, id: &RestoreId) -> Result<RestoreRecord, ServiceError> {
        let loaded = self.load(id).await?;
        let obs = self.observe(&loaded.value).await?;
        let t = loaded.value.observe(&obs, self.clock.now());
        self.persist_and_drive(id, loaded, t).await
    }

    /// Stage two: re-checks that every recovery cluster is ready now, records the
    /// acknowledgement, and runs the cutover.
    ///
    /// # Errors
    /// [`ServiceError::Machine`] when not ready for promotion; [`ServiceError::Conflict`];
    /// [`ServiceError::Backend`].
    pub async fn apply(
        &self,
        id: &RestoreId,
        ack: &StageTwoAck,
        actor: Option<String>,
    ) -> Result<RestoreRecord, ServiceError> {
        let loaded = self.load(id).await?;
        let obs = self.observe(&loaded.value).await?;
        let t = loaded.value.stage_two(ack, actor, &obs, self.clock.now())?;
        self.persist_and_drive(id, loaded, t).await
    }

    /// Abandons the restore: removes the recovery clusters, leaves live untouched.
    ///
    /// # Errors
    /// [`ServiceError::Machine`] once a live cluster may have been deleted; [`ServiceError::Backend`].
    pub async fn abandon(
        &self,
        id: &RestoreId,
        actor: Option<String>,
    ) -> Result<RestoreRecord, ServiceError> {
        let loaded = self.load(id).await?;
        let t = loaded.value.abandon(actor, self.clock.now())?;
        self.persist_and_drive(id, loaded, t).await
    }

    /// Removes the recovery clusters a completed restore kept.
    ///
    /// # Errors
    /// [`ServiceError::Machine`] unless completed; [`ServiceError::Backend`].
    pub async fn cleanup(
        &self,
        id: &RestoreId,
        actor: Option<String>,
    ) -> Result<RestoreRecord, ServiceError> {
        let loaded = self.load(id).await?;
        let t = loaded.value.cleanup(actor, self.clock.now())?;
        self.persist_and_drive(id, loaded, t).await
    }

    /// Continues a retryable failure.
    ///
    /// # Errors
    /// [`ServiceError::Machine`] when not retryable; [`ServiceError::Backend`].
    pub async fn retry(
        &self,
        id: &RestoreId,
        actor: Option<String>,
    ) -> Result<RestoreRecord, ServiceError> {
        let loaded = self.load(id).await?;
        let t = loaded.value.retry(actor, self.clock.now())?;
        self.persist_and_drive(id, loaded, t).await
    }

    /// The record of a restore.
    ///
    /// # Errors
    /// [`ServiceError::RestoreNotFound`]; [`ServiceError::Backend`].
    pub async fn get(&self, id: &RestoreId) -> Result<RestoreRecord, ServiceError> {
        Ok(self.load(id).await?.value)
    }

    /// Every restore record, newest first.
    ///
    /// # Errors
    /// [`ServiceError::Backend`]; [`ServiceError::Corrupt`].
    pub async fn list(&self) -> Result<Vec<RestoreRecord>, ServiceError> {
        let ids = self
            .store
            .list_restores()
            .await
            .map_err(ServiceError::backend("listing restores"))?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(l) = load::<RestoreRecord, S>(&self.store, &StateKey::Restore(id)).await? {
                out.push(l.value);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at()));
        Ok(out)
    }

    async fn load(&self, id: &RestoreId) -> Result<Loaded<RestoreRecord>, ServiceError> {
        load(&*self.store, &StateKey::Restore(id.clone()))
            .await?
            .ok_or_else(|| ServiceError::RestoreNotFound { id: id.clone() })
    }

    async fn observe(&self, record: &RestoreRecord) -> Result<Observations, ServiceError> {
        let mut obs = Observations::new();
        for name in record.watched() {
            let o = self
                .lifecycle
                .observe(&name)
                .await
                .map_err(ServiceError::backend(format!("observing `{name}`")))?;
            obs.insert(name, o);
        }
        Ok(obs)
    }

    async fn persist_and_drive(
        &self,
        id: &RestoreId,
        loaded: Loaded<RestoreRecord>,
        t: Transition,
    ) -> Result<RestoreRecord, ServiceError> {
        let key = StateKey::Restore(id.clone());
        let revision = store(&*self.store, &key, &t.record, Some(&loaded.revision)).await?;
        self.drive(id, revision, t).await
    }

    /// Performs the actions of `t` (whose record is already persisted at `revision`), persists
    /// what they reported, observes, and continues while there is something to do.
    async fn drive(
        &self,
        id: &RestoreId,
        mut revision: crate::ports::Revision,
        mut t: Transition,
    ) -> Result<RestoreRecord, ServiceError> {
        let key = StateKey::Restore(id.clone());
        for _ in 0..MAX_STEPS {
            if t.actions.is_empty() {
                return Ok(t.record);
            }
            let mut record = t.record;
            for action in &t.actions {
                match self.perform(action).await {
                    Ok(None) => {}
                    Ok(Some(manifest)) => {
                        record = record
                            .live_spec_saved(action.plane(), manifest, self.clock.now())?
                            .record;
                    }
                    Err(e) => {
                        let failed = record.action_failed(action, &e, self.clock.now()).record;
                        store(&*self.store, &key, &failed, Some(&revision)).await?;
                        if e.is_transient() {
                            return Err(ServiceError::Backend {
                                context: format!("restore `{id}` stopped; refresh to continue"),
                                source: e,
                            });
                        }
                        return Ok(failed);
                    }
                }
            }
            // Saved live specs are persisted before the next observation can delete anything.
            revision = store(&*self.store, &key, &record, Some(&revision)).await?;
            let obs = self.observe(&record).await?;
            t = record.observe(&obs, self.clock.now());
            revision = store(&*self.store, &key, &t.record, Some(&revision)).await?;
        }
        Ok(t.record)
    }

    async fn perform(&self, action: &Action) -> Result<Option<ClusterManifest>, BackendError> {
        match action {
            Action::CreateRecoveryCluster { spec } => {
                let base = self.lifecycle.manifest(&spec.source_cluster).await?;
                self.lifecycle.create(&base, spec).await.map(|()| None)
            }
            Action::SaveLiveSpec { cluster, .. } => {
                self.lifecycle.manifest(cluster).await.map(Some)
            }
            Action::DeleteLive { cluster, .. } | Action::DeleteRecoveryCluster { cluster, .. } => {
                self.lifecycle.delete(cluster).await.map(|()| None)
            }
            Action::CreateLive { base, spec } => {
                self.lifecycle.create(base, spec).await.map(|()| None)
            }
        }
    }
}
