//! [`KubeScope`]: the client, the namespace the adapters work in, the retry policy, and the few
//! request shapes every adapter uses (get-or-none, paginated list, server-side apply).

use std::fmt::Debug;

use cnpg_backup_core::ports::BackendError;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::to_backend;
use crate::retry::{RetryPolicy, idempotent};

/// The field manager of every server-side apply this crate sends.
pub const FIELD_MANAGER: &str = "cnpg-backup";

/// Page size of every list.
pub const LIST_PAGE_SIZE: u32 = 500;

/// How many times a paginated list restarts after its continue token expired (410).
const LIST_RESTARTS: u32 = 2;

/// A client bound to one namespace, with a retry policy for idempotent calls.
#[derive(Clone)]
pub struct KubeScope {
    client: kube::Client,
    namespace: String,
    retry: RetryPolicy,
}

impl Debug for KubeScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeScope")
            .field("namespace", &self.namespace)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A paginated list: the items and how many requests it took.
#[derive(Debug, Clone)]
pub(crate) struct Listed<K> {
    pub items: Vec<K>,
    pub pages: u32,
}

impl KubeScope {
    /// Works in `namespace` with the default [`RetryPolicy`].
    pub fn new(client: kube::Client, namespace: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            retry: RetryPolicy::default(),
        }
    }

    /// The same scope with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The retry policy of idempotent calls.
    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    pub(crate) fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// GET with retries; `None` on 404.
    pub(crate) async fn get_opt<K>(&self, name: &str, what: &str) -> Result<Option<K>, BackendError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        let api = self.api::<K>();
        idempotent(self.retry, || api.get_opt(name))
            .await
            .map_err(|e| to_backend(&e, what))
    }

    /// Every object matching `selector` (a label selector, may be empty), in pages of
    /// [`LIST_PAGE_SIZE`]. Restarts from the first page when a continue token expired.
    pub(crate) async fn list_all<K>(
        &self,
        selector: &str,
        what: &str,
    ) -> Result<Listed<K>, BackendError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        let api = self.api::<K>();
        let mut restarts = 0;
        let mut pages = 0;
        'restart: loop {
            let mut items = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut lp = ListParams::default().limit(LIST_PAGE_SIZE);
                if !selector.is_empty() {
                    lp = lp.labels(selector);
                }
                if let Some(t) = &token {
                    lp = lp.continue_token(t);
                }
                pages += 1;
                let page = match idempotent(self.retry, || api.list(&lp)).await {
                    Ok(p) => p,
                    Err(kube::Error::Api(s))
                        if s.code == 410 && token.is_some() && restarts < LIST_RESTARTS =>
                    {
                        restarts += 1;
                        continue 'restart;
                    }
                    Err(e) => return Err(to_backend(&e, what)),
                };
                items.extend(page.items);
                match page.metadata.continue_ {
                    Some(t) if !t.is_empty() => token = Some(t),
                    _ => return Ok(Listed { items, pages }),
                }
            }
        }
    }

    /// Server-side apply of `patch` (which names only our fields) with field manager
    /// [`FIELD_MANAGER`]; `force` takes fields over from other managers. Retried: an apply is
    /// idempotent.
    pub(crate) async fn apply<K, P>(
        &self,
        name: &str,
        patch: &P,
        force: bool,
        what: &str,
    ) -> Result<K, BackendError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
        <K as kube::Resource>::DynamicType: Default,
        P: Serialize + Debug,
    {
        let api = self.api::<K>();
        let mut pp = PatchParams::apply(FIELD_MANAGER);
        if force {
            pp = pp.force();
        }
        let patch = Patch::Apply(patch);
        idempotent(self.retry, || api.patch(name, &pp, &patch))
            .await
            .map_err(|e| to_backend(&e, what))
    }
}
