//! [`ConfigMapStateStore`]: the core's [`StateStore`] as ConfigMaps in the deployment namespace.
//!
//! One ConfigMap per document (`cnpg-backup-settings`, `cnpg-backup-reconcile-status`,
//! `cnpg-backup-preflight`, `cnpg-backup-restore-<id>`), the JSON under key `document.json`.
//! The revision is the ConfigMap's `resourceVersion`: a first write is a create (409
//! `AlreadyExists` means someone wrote first), a later one a replace carrying the revision read
//! (409 `Conflict` means someone wrote in between). Documents above
//! [`STATE_DOCUMENT_MAX_BYTES`] are refused before any request (a ConfigMap holds 1 MiB in all).

use std::collections::BTreeMap;

use cnpg_backup_core::names::RestoreId;
use cnpg_backup_core::ports::{
    BackendError, Revision, STATE_DOCUMENT_MAX_BYTES, StateKey, StateStore, Stored,
};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;

use crate::error::to_backend;
use crate::labels;
use crate::scope::KubeScope;

/// The key inside each ConfigMap that holds the document.
pub const DOCUMENT_KEY: &str = "document.json";

/// State documents as ConfigMaps.
#[derive(Debug, Clone)]
pub struct ConfigMapStateStore {
    scope: KubeScope,
}

/// The ConfigMap name of a key.
pub fn config_map_name(key: &StateKey) -> String {
    match key {
        StateKey::Settings => "cnpg-backup-settings".to_owned(),
        StateKey::ReconcileStatus => "cnpg-backup-reconcile-status".to_owned(),
        StateKey::PreflightReport => "cnpg-backup-preflight".to_owned(),
        StateKey::Restore(id) => format!("cnpg-backup-restore-{id}"),
    }
}

fn state_label(key: &StateKey) -> &'static str {
    match key {
        StateKey::Settings => "settings",
        StateKey::ReconcileStatus => "reconcile-status",
        StateKey::PreflightReport => "preflight",
        StateKey::Restore(_) => "restore",
    }
}

impl ConfigMapStateStore {
    /// A store in `scope`'s namespace (the deployment namespace).
    pub fn new(scope: KubeScope) -> Self {
        Self { scope }
    }

    fn config_map(key: &StateKey, body: &str, revision: Option<&Revision>) -> ConfigMap {
        let mut labels_map = BTreeMap::from([
            (
                labels::MANAGED_BY.to_owned(),
                labels::MANAGED_BY_VALUE.to_owned(),
            ),
            (labels::STATE.to_owned(), state_label(key).to_owned()),
        ]);
        if let StateKey::Restore(id) = key {
            labels_map.insert(labels::RESTORE_ID.to_owned(), id.to_string());
        }
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(config_map_name(key)),
                labels: Some(labels_map),
                resource_version: revision.map(|r| r.0.clone()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(DOCUMENT_KEY.to_owned(), body.to_owned())])),
            ..Default::default()
        }
    }
}

fn revision_of(cm: &ConfigMap, what: &str) -> Result<Revision, BackendError> {
    cm.metadata
        .resource_version
        .clone()
        .map(Revision)
        .ok_or_else(|| BackendError::Unavailable {
            detail: format!("{what}: the API answer has no resourceVersion"),
        })
}

#[async_trait::async_trait]
impl StateStore for ConfigMapStateStore {
    async fn get(&self, key: &StateKey) -> Result<Option<Stored>, BackendError> {
        let name = config_map_name(key);
        let what = format!("state config map `{name}`");
        let Some(cm) = self.scope.get_opt::<ConfigMap>(&name, &what).await? else {
            return Ok(None);
        };
        let body = cm
            .data
            .as_ref()
            .and_then(|d| d.get(DOCUMENT_KEY))
            .cloned()
            .ok_or_else(|| BackendError::Invalid {
                detail: format!("{what} has no key `{DOCUMENT_KEY}`"),
            })?;
        Ok(Some(Stored::new(revision_of(&cm, &what)?, body)))
    }

    async fn put<'a>(
        &self,
        key: &StateKey,
        body: &str,
        expected: Option<&'a Revision>,
    ) -> Result<Revision, BackendError> {
        let name = config_map_name(key);
        let what = format!("state config map `{name}`");
        if body.len() > STATE_DOCUMENT_MAX_BYTES {
            return Err(BackendError::Invalid {
                detail: format!(
                    "{what}: document of {} bytes is larger than the limit of {STATE_DOCUMENT_MAX_BYTES} bytes",
                    body.len()
                ),
            });
        }
        let api = self.scope.api::<ConfigMap>();
        let cm = Self::config_map(key, body, expected);
        let result = match expected {
            None => api.create(&PostParams::default(), &cm).await,
            Some(_) => api.replace(&name, &PostParams::default(), &cm).await,
        };
        match result {
            Ok(written) => revision_of(&written, &what),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(BackendError::Conflict {
                what,
                detail: if expected.is_none() {
                    "it exists already; read it and write again with its revision".to_owned()
                } else {
                    "it changed since it was read; read it again".to_owned()
                },
            }),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(BackendError::Conflict {
                what,
                detail: "it was deleted since it was read".to_owned(),
            }),
            Err(e) => Err(to_backend(&e, &what)),
        }
    }

    async fn list_restores(&self) -> Result<Vec<RestoreId>, BackendError> {
        let selector = format!(
            "{}={},{}=restore",
            labels::MANAGED_BY,
            labels::MANAGED_BY_VALUE,
            labels::STATE
        );
        let listed = self
            .scope
            .list_all::<ConfigMap>(&selector, "restore records")
            .await?;
        let mut ids: Vec<RestoreId> = listed
            .items
            .iter()
            .filter_map(|cm| {
                cm.metadata
                    .labels
                    .as_ref()?
                    .get(labels::RESTORE_ID)?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort();
        Ok(ids)
    }
}
