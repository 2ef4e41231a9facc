//! [`KubeLeaseStore`]: the election's lease as a `coordination.k8s.io/v1` Lease, changed only by
//! replace with the `resourceVersion` read (a 409 means someone else wrote first).

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;

use cnpg_backup_core::ports::BackendError;
use cnpg_backup_kube::error::to_backend;
use cnpg_backup_kube::labels;

use crate::lease::{LeaseRecord, LeaseStore};

/// The default name of the Lease.
pub const LEASE_NAME: &str = "cnpg-backup-leader";

/// The lease as a Lease object in one namespace.
#[derive(Clone)]
pub struct KubeLeaseStore {
    api: Api<Lease>,
    name: String,
}

impl std::fmt::Debug for KubeLeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeLeaseStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl KubeLeaseStore {
    /// The Lease `name` in `namespace`. The client must not be fenced: the election is how a
    /// replica gets the fence.
    pub fn new(client: kube::Client, namespace: &str, name: impl Into<String>) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
        }
    }
}

fn micro(t: Option<DateTime<Utc>>) -> Option<MicroTime> {
    let t = t?;
    k8s_openapi::jiff::Timestamp::from_microsecond(t.timestamp_micros())
        .ok()
        .map(MicroTime)
}

fn from_micro(t: Option<&MicroTime>) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t?.0.as_microsecond())
}

fn record(lease: &Lease) -> LeaseRecord {
    let spec = lease.spec.clone().unwrap_or_default();
    let mut r = LeaseRecord::held(
        spec.holder_identity.filter(|h| !h.is_empty()),
        spec.lease_duration_seconds.unwrap_or(0),
        from_micro(spec.acquire_time.as_ref()),
        from_micro(spec.renew_time.as_ref()),
        spec.lease_transitions.unwrap_or(0),
    );
    r.revision = lease.metadata.resource_version.clone().unwrap_or_default();
    r
}

impl KubeLeaseStore {
    fn lease(&self, r: &LeaseRecord) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(
                    [(
                        labels::MANAGED_BY.to_owned(),
                        labels::MANAGED_BY_VALUE.to_owned(),
                    )]
                    .into(),
                ),
                resource_version: (!r.revision.is_empty()).then(|| r.revision.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: r.holder.clone(),
                lease_duration_seconds: Some(r.lease_duration_seconds),
                acquire_time: micro(r.acquire_time),
                renew_time: micro(r.renew_time),
                lease_transitions: Some(r.transitions),
                ..LeaseSpec::default()
            }),
        }
    }

    fn what(&self) -> String {
        format!("lease `{}`", self.name)
    }
}

fn params() -> PostParams {
    PostParams {
        field_manager: Some(cnpg_backup_kube::FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    }
}

fn conflict(e: kube::Error, what: &str) -> BackendError {
    match e {
        kube::Error::Api(s) if s.code == 409 => BackendError::Conflict {
            what: what.to_owned(),
            detail: s.message.clone(),
        },
        other => to_backend(&other, what),
    }
}

#[async_trait::async_trait]
impl LeaseStore for KubeLeaseStore {
    async fn get(&self) -> Result<Option<LeaseRecord>, BackendError> {
        self.api
            .get_opt(&self.name)
            .await
            .map(|l| l.as_ref().map(record))
            .map_err(|e| to_backend(&e, &self.what()))
    }

    async fn create(&self, r: &LeaseRecord) -> Result<LeaseRecord, BackendError> {
        self.api
            .create(&params(), &self.lease(r))
            .await
            .map(|l| record(&l))
            .map_err(|e| conflict(e, &self.what()))
    }

    async fn replace(&self, r: &LeaseRecord) -> Result<LeaseRecord, BackendError> {
        self.api
            .replace(&self.name, &params(), &self.lease(r))
            .await
            .map(|l| record(&l))
            .map_err(|e| conflict(e, &self.what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_their_microseconds_both_ways() {
        let t = DateTime::from_timestamp_micros(1_795_651_200_123_456).unwrap();
        assert_eq!(from_micro(micro(Some(t)).as_ref()), Some(t));
        let l: Lease = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cnpg-backup-leader", "resourceVersion": "612"},
            "spec": {"holderIdentity": "leader-a", "leaseDurationSeconds": 15,
                "acquireTime": "2026-12-03T10:06:48.121339Z", "renewTime": "2026-12-03T10:06:48.121339Z",
                "leaseTransitions": 0}
        }))
        .unwrap();
        let r = record(&l);
        assert_eq!(r.holder.as_deref(), Some("leader-a"));
        assert_eq!(r.revision, "612");
        assert_eq!(r.renew_time.unwrap().timestamp_subsec_micros(), 121_339);
    }
}
