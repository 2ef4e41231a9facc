//! Use-case services over the ports: backups ([`BackupService`]: settings, reconcile, backup now,
//! preflight, catalog) and restores ([`RestoreService`]: plan, create, refresh, apply, abandon,
//! cleanup).
//!
//! The services decide nothing themselves: the rules live in [`crate::automation`],
//! [`crate::catalog`] and [`crate::restore`]; the services load state, call the rules, persist
//! the result, and perform what the rules ask through the ports. They hold no state between
//! calls: everything durable is in the [`StateStore`], so a crashed process is replaced by a new
//! service over the same store.

mod backup;
mod restore;

use futures::future::join_all;

pub use backup::{BackupService, CatalogEntry, CatalogScope};
pub use restore::{RestorePlan, RestoreService};

use crate::automation::BackupSettings;
use crate::catalog::{BackupRecord, StoragePresence};
use crate::names::{Plane, RestoreId};
use crate::ports::{
    BackendError, BackupCatalogSource, BucketProbe, Revision, StateKey, StateStore,
};

/// Why a use case failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// An adapter failed; `context` says what was being done.
    #[error("{context}")]
    Backend {
        /// What was being done.
        context: String,
        /// The adapter's error.
        #[source]
        source: BackendError,
    },
    /// No backup settings were saved yet.
    #[error("no backup settings are saved; save settings first")]
    SettingsMissing,
    /// The settings cannot be planned.
    #[error("backup settings are invalid")]
    Settings(#[source] crate::automation::PlanError),
    /// A stored document cannot be read.
    #[error("{what} in the state store cannot be read: {detail}; fix or delete it")]
    Corrupt {
        /// Which document.
        what: String,
        /// The parse error.
        detail: String,
    },
    /// Backup automation is disabled.
    #[error("backup automation is disabled; enable it in the settings to run a backup now")]
    AutomationDisabled,
    /// A backup of the cluster is still pending or running.
    #[error("backup `{backup}` of cluster `{cluster}` is still {phase}; wait for it to finish")]
    BackupInProgress {
        /// The cluster.
        cluster: String,
        /// The backup.
        backup: String,
        /// Its phase.
        phase: String,
    },
    /// The restore request failed a guard; nothing was created.
    #[error(transparent)]
    Guard(#[from] crate::restore::GuardError),
    /// An acknowledgement was missing or not exact.
    #[error(transparent)]
    Ack(#[from] crate::restore::AckError),
    /// The state machine refused the step.
    #[error(transparent)]
    Machine(#[from] crate::restore::MachineError),
    /// No restore with that id.
    #[error("restore `{id}` not found")]
    RestoreNotFound {
        /// The id.
        id: RestoreId,
    },
    /// A restore with that id exists already.
    #[error("restore `{id}` already exists; pick another id")]
    RestoreExists {
        /// The id.
        id: RestoreId,
    },
    /// Someone else changed the document first (another operator is running a step).
    #[error("{what} was changed by someone else meanwhile; refresh and try again")]
    Conflict {
        /// The document.
        what: String,
    },
}

impl ServiceError {
    fn backend(context: impl Into<String>) -> impl FnOnce(BackendError) -> ServiceError {
        let context = context.into();
        move |source| ServiceError::Backend { context, source }
    }
}

/// A document read from the state store with its revision.
pub(crate) struct Loaded<T> {
    pub(crate) value: T,
    pub(crate) revision: Revision,
}

pub(crate) async fn load<T, S>(store: &S, key: &StateKey) -> Result<Option<Loaded<T>>, ServiceError>
where
    T: serde::de::DeserializeOwned,
    S: StateStore + ?Sized,
{
    let Some(stored) = store
        .get(key)
        .await
        .map_err(ServiceError::backend(format!("reading the {key}")))?
    else {
        return Ok(None);
    };
    let value = serde_json::from_str(&stored.body).map_err(|e| ServiceError::Corrupt {
        what: format!("the {key}"),
        detail: e.to_string(),
    })?;
    Ok(Some(Loaded {
        value,
        revision: stored.revision,
    }))
}

/// Writes `value` under `key` if its revision is still `expected`.
pub(crate) async fn store<T, S>(
    store: &S,
    key: &StateKey,
    value: &T,
    expected: Option<&Revision>,
) -> Result<Revision, ServiceError>
where
    T: serde::Serialize,
    S: StateStore + ?Sized,
{
    let body = serde_json::to_string(value).map_err(|e| ServiceError::Corrupt {
        what: format!("the {key}"),
        detail: e.to_string(),
    })?;
    store.put(key, &body, expected).await.map_err(|e| match e {
        BackendError::Conflict { .. } => ServiceError::Conflict {
            what: format!("the {key}"),
        },
        other => ServiceError::Backend {
            context: format!("writing the {key}"),
            source: other,
        },
    })
}

/// Writes `value` under `key` whatever its revision (settings and statuses: last write wins).
pub(crate) async fn overwrite<T, S>(s: &S, key: &StateKey, value: &T) -> Result<(), ServiceError>
where
    T: serde::Serialize,
    S: StateStore + ?Sized,
{
    let current = s
        .get(key)
        .await
        .map_err(ServiceError::backend(format!("reading the {key}")))?
        .map(|d| d.revision);
    store(s, key, value, current.as_ref()).await.map(|_| ())
}

pub(crate) async fn load_settings<S: StateStore + ?Sized>(
    s: &S,
) -> Result<BackupSettings, ServiceError> {
    load::<BackupSettings, S>(s, &StateKey::Settings)
        .await?
        .map(|l| l.value)
        .ok_or(ServiceError::SettingsMissing)
}

/// Loads the Backups of `plane`'s live cluster and fills plane and storage presence (one
/// presence call per archive server).
pub(crate) async fn plane_catalog<C, P>(
    catalog: &C,
    probe: &P,
    settings: &BackupSettings,
    plane: Plane,
) -> Result<Vec<BackupRecord>, ServiceError>
where
    C: BackupCatalogSource + ?Sized,
    P: BucketProbe + ?Sized,
{
    let cluster = settings.clusters.get(plane);
    let mut records = catalog
        .list_backups(cluster)
        .await
        .map_err(ServiceError::backend(format!(
            "listing the backups of `{cluster}`"
        )))?;
    let default_server = settings.archive_server(plane);
    let mut servers: Vec<_> = records
        .iter()
        .map(|r| {
            r.server_name
                .clone()
                .unwrap_or_else(|| default_server.clone())
        })
        .collect();
    servers.sort();
    servers.dedup();
    let lookups = servers.iter().map(|server| {
        let ids: Vec<_> = records
            .iter()
            .filter(|r| r.server_name.as_ref().unwrap_or(&default_server) == server)
            .filter_map(|r| r.backup_id.clone())
            .collect();
        async move {
            if ids.is_empty() {
                return (server.clone(), Ok(Default::default()));
            }
            (
                server.clone(),
                probe.presence(&settings.target, server, &ids).await,
            )
        }
    });
    let found = join_all(lookups).await;
    for r in &mut records {
        r.plane = Some(plane);
        let server = r
            .server_name
            .clone()
            .unwrap_or_else(|| default_server.clone());
        r.storage = match (&r.backup_id, found.iter().find(|(s, _)| *s == server)) {
            (Some(id), Some((_, Ok(map)))) => {
                map.get(id).copied().unwrap_or(StoragePresence::Missing)
            }
            _ => StoragePresence::Unknown,
        };
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::memory::InMemoryStateStore;

    #[test]
    fn unreadable_and_conflicting_documents_are_named_for_people() {
        let store = InMemoryStateStore::new();
        let id: RestoreId = "r1".parse().unwrap();
        let key = StateKey::Restore(id);
        block_on(store.put(&key, "not json", None)).unwrap();
        let Err(err) = block_on(load::<serde_json::Value, _>(&store, &key)) else {
            panic!("a broken document was read");
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with("the restore record `r1` in the state store cannot be read: "),
            "{msg}"
        );
        let err = block_on(store_doc(&store, &StateKey::Settings)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the settings document was changed by someone else meanwhile; refresh and try again"
        );
    }

    async fn store_doc(s: &InMemoryStateStore, key: &StateKey) -> Result<Revision, ServiceError> {
        store(s, key, &1, None).await?;
        store(s, key, &2, None).await
    }
}
