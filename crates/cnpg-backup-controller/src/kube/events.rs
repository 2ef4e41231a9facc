//! [`KubeEvents`]: events as `events.k8s.io/v1` Events on the Cluster they are about.
//!
//! The Event's name comes from the event's key (`<cluster>.<16 hex digits>`), so the same
//! condition reported by another replica or a restarted process is a 409 `AlreadyExists`, not
//! a second Event; repeats patch the Event's `series` (count, last observed time) as
//! events.k8s.io/v1 wants for isomorphic events. `kubectl describe cluster` shows them.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

use cnpg_backup_core::ports::BackendError;
use cnpg_backup_kube::error::to_backend;
use cnpg_backup_kube::labels;

use crate::events::{ClusterEvent, EventSink};

/// `reportingController` of our events.
pub const REPORTING_CONTROLLER: &str = "cnpg-backup.io/serve";

/// Events in one namespace, reported by one replica.
#[derive(Clone)]
pub struct KubeEvents {
    api: Api<Event>,
    namespace: String,
    instance: String,
}

impl std::fmt::Debug for KubeEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeEvents")
            .field("namespace", &self.namespace)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// FNV-1a: stable across processes and versions (a Event name must be the same everywhere).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The Event name of an event.
pub fn event_name(e: &ClusterEvent) -> String {
    format!("{}.{:016x}", e.cluster, fnv(&e.key))
}

fn micro(t: DateTime<Utc>) -> Option<MicroTime> {
    k8s_openapi::jiff::Timestamp::from_microsecond(t.timestamp_micros())
        .ok()
        .map(MicroTime)
}

impl KubeEvents {
    /// Events in `namespace`, reported as `instance` (the pod name). Use the fenced client:
    /// only the leader reports.
    pub fn new(client: kube::Client, namespace: &str, instance: impl Into<String>) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            instance: instance.into(),
        }
    }

    /// The Event object for `e`.
    pub fn render(&self, e: &ClusterEvent) -> Event {
        render(e, &self.namespace, &self.instance)
    }
}

/// The Event object for `e` in `namespace`, reported by `instance`.
pub fn render(e: &ClusterEvent, namespace: &str, instance: &str) -> Event {
    {
        let reference = |kind: &str, name: &str| ObjectReference {
            api_version: Some("postgresql.cnpg.io/v1".to_owned()),
            kind: Some(kind.to_owned()),
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectReference::default()
        };
        Event {
            metadata: ObjectMeta {
                name: Some(event_name(e)),
                namespace: Some(namespace.to_owned()),
                labels: Some(
                    [(
                        labels::MANAGED_BY.to_owned(),
                        labels::MANAGED_BY_VALUE.to_owned(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            event_time: micro(e.at),
            action: Some(e.action.to_owned()),
            reason: Some(e.reason.to_owned()),
            note: Some(e.message.clone()),
            type_: Some(e.kind.as_str().to_owned()),
            regarding: Some(reference("Cluster", e.cluster.as_str())),
            related: e.backup.as_deref().map(|b| reference("Backup", b)),
            reporting_controller: Some(REPORTING_CONTROLLER.to_owned()),
            reporting_instance: Some(instance.to_owned()),
            series: (e.count > 1).then(|| EventSeries {
                count: i32::try_from(e.count).unwrap_or(i32::MAX),
                last_observed_time: micro(e.at)
                    .unwrap_or(MicroTime(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)),
            }),
            ..Event::default()
        }
    }
}

#[async_trait::async_trait]
impl EventSink for KubeEvents {
    async fn publish(&self, e: &ClusterEvent) -> Result<(), BackendError> {
        let event = self.render(e);
        let name = event_name(e);
        let what = format!("event `{name}`");
        match self.api.create(&PostParams::default(), &event).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Told before (by us or another replica): a repeat of the same condition.
                let count = e.count.max(2);
                let patch = serde_json::json!({
                    "series": {
                        "count": count,
                        "lastObservedTime": micro(e.at),
                    }
                });
                self.api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
                    .map_err(|err| to_backend(&err, &what))
            }
            Err(err) => Err(to_backend(&err, &what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::events::EventType;

    #[test]
    fn names_are_stable_and_valid_and_the_event_is_about_the_cluster() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 1, 2, 0).unwrap();
        let e = ClusterEvent::new(
            "cnpg-admin".parse().unwrap(),
            EventType::Warning,
            "BackupFailed",
            "Backup",
            "backup `b1` of the admin plane failed: exit status 4",
            "backup/b1",
            at,
        )
        .about_backup("b1");
        assert_eq!(event_name(&e), "cnpg-admin.6e9f29e254893605");
        let ev = render(&e, "platform", "cnpg-backup-7d9f-abcde");
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["regarding"]["kind"], "Cluster");
        assert_eq!(v["regarding"]["name"], "cnpg-admin");
        assert_eq!(v["related"]["kind"], "Backup");
        assert_eq!(v["type"], "Warning");
        assert_eq!(v["reportingController"], REPORTING_CONTROLLER);
        assert_eq!(v["eventTime"], "2026-11-26T01:02:00.000000Z", "MicroTime");
        assert!(v.get("series").is_none(), "first occurrence: no series");
    }
}
