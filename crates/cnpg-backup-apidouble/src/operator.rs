//! A stand-in for the CNPG operator on the double, for tests that run the control loop with
//! nobody typing: the live clusters a platform made ([`live_cluster`]), the status of a healthy
//! cluster ([`healthy_status`]), and [`Operator`], which brings every Cluster that is not
//! ready up after a delay, as CNPG does once its instances run (recovery clusters included).
//!
//! It writes statuses directly (not requests: the request log stays the client's).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{ApiDouble, NAMESPACE};

/// A live cluster as the platform created it (manager `platform-gitops`), with the CRD defaults
/// the API server filled in (from fixture 01) and no backup configuration.
pub fn live_cluster(name: &str) -> Value {
    let mut spec = crate::fixtures::exchange("01-ssa-create-cluster-201.json")["response"]["body"]
        ["spec"]
        .clone();
    spec["backup"] = json!({"target": "prefer-standby"});
    spec["bootstrap"] = json!({"initdb": {"database": "app", "owner": "app"}});
    json!({
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "platform"},
            "managedFields": [{
                "apiVersion": "postgresql.cnpg.io/v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/part-of": {}}},
                    "f:spec": {"f:instances": {}, "f:storage": {"f:size": {}},
                    "f:bootstrap": {"f:initdb": {"f:database": {}, "f:owner": {}}}}},
                "manager": "platform-gitops", "operation": "Apply"
            }]
        },
        "spec": spec
    })
}

/// The status CNPG writes on a cluster whose `instances` are all ready.
pub fn healthy_status(instances: u64) -> Value {
    json!({"phase": "Cluster in healthy state", "instances": instances,
        "readyInstances": instances, "currentPrimary": "x-1",
        "conditions": [{"type": "Ready", "status": "True", "reason": "ClusterIsReady",
            "message": "Cluster is Ready", "lastTransitionTime": "2026-11-26T04:30:00Z"}]})
}

fn is_ready(c: &Value) -> bool {
    c["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|x| x["type"] == "Ready" && x["status"] == "True")
    })
}

/// The operator stand-in: every Cluster in [`NAMESPACE`] that is not ready and not being
/// deleted becomes ready `delay` after it was first seen so (by uid: a cluster deleted and
/// created again under the same name waits again).
#[derive(Debug)]
pub struct Operator {
    task: tokio::task::JoinHandle<()>,
}

impl Operator {
    /// Starts the stand-in on `double` (on the current tokio runtime).
    pub fn spawn(double: &ApiDouble, delay: Duration) -> Operator {
        let double = double.clone();
        let task = tokio::spawn(async move {
            let mut rx = double.subscribe();
            // uid → when it becomes ready.
            let mut due: BTreeMap<String, (String, Instant)> = BTreeMap::new();
            loop {
                rx.borrow_and_update();
                let now = Instant::now();
                let mut seen = BTreeMap::new();
                for name in double.names("clusters") {
                    let Some(c) = double.object("clusters", &name) else {
                        continue;
                    };
                    if is_ready(&c) || !c["metadata"]["deletionTimestamp"].is_null() {
                        continue;
                    }
                    let uid = c["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
                    let at = due.get(&uid).map_or(now + delay, |(_, t)| *t);
                    if at <= now {
                        let n = c["spec"]["instances"].as_u64().unwrap_or(1);
                        double.set_status("clusters", &name, healthy_status(n));
                        continue;
                    }
                    seen.insert(uid, (name, at));
                }
                due = seen;
                let next = due.values().map(|(_, t)| *t).min();
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { return },
                    () = async {
                        match next {
                            Some(t) => tokio::time::sleep_until(t).await,
                            None => std::future::pending().await,
                        }
                    } => {}
                }
            }
        });
        Operator { task }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
    }
}
