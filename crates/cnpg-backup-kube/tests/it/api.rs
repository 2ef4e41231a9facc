//! The Kubernetes adapters against the in-memory API double: request counts, call sequences,
//! faults between calls, error mapping on the captured fixture bodies, CRD-schema validity and
//! snapshots of every rendered object, and the RBAC Role.

use std::collections::BTreeSet;
use std::time::Duration;

use cnpg_backup_core::automation::{AutomationPlan, BackupSettings, plan};
use cnpg_backup_core::names::{ClusterName, Plane, PlaneClusters};
use cnpg_backup_core::ports::{
    BackendError, BackupAutomation, BackupCatalogSource, BackupRequest, ClusterLifecycle, Revision,
    STATE_DOCUMENT_MAX_BYTES, StateKey, StateStore,
};
use cnpg_backup_core::restore::RecoveryClusterSpec;
use cnpg_backup_core::status::ReconcileState;
use cnpg_backup_kube::error::status_to_backend;
use cnpg_backup_kube::lifecycle::render_recovery_cluster;
use cnpg_backup_kube::render::{
    render_backup, render_cluster_backup, render_object_store, render_scheduled_backup,
};
use cnpg_backup_kube::secrets::KubeSecretReader;
use cnpg_backup_kube::storage::{CredentialError, SecretReader, resolve_credentials};
use cnpg_backup_kube::{
    ConfigMapStateStore, KubeBackupAutomation, KubeBackupCatalog, KubeClusterLifecycle, KubeScope,
    RetryPolicy, rbac,
};
use serde_json::{Value, json};

use cnpg_backup_apidouble::fixtures::exchange as fixture;
use cnpg_backup_apidouble::rbac::{Role, Rule as DoubleRule};
use cnpg_backup_apidouble::schema::assert_valid;
use cnpg_backup_apidouble::{ApiDouble, NAMESPACE, Recorded, Timing};

// ---------------------------------------------------------------- helpers

fn scope(d: &ApiDouble) -> KubeScope {
    KubeScope::new(d.client(), NAMESPACE).with_retry(RetryPolicy::new(
        3,
        Duration::ZERO,
        Duration::ZERO,
    ))
}

fn settings(method: &str, enabled: bool, scope: &str) -> BackupSettings {
    serde_json::from_value(json!({
        "target": {
            "provider": "s3_compatible",
            "endpoint": "http://127.0.0.1:9000",
            "bucket": "cnpg-backups",
            "prefix": "platform",
            "credentials": {
                "kind": "s3_access_key",
                "access_key_id": {"name": "backup-s3", "key": "ACCESS_KEY_ID"},
                "secret_access_key": {"name": "backup-s3", "key": "ACCESS_SECRET_KEY"}
            }
        },
        "automation": {
            "enabled": enabled,
            "schedule": {"preset": "daily", "hour": 2, "minute": 30},
            "retention": "30d",
            "scope": scope,
            "method": method
        },
        "clusters": {"admin": "pg-admin", "tenant": "pg-tenant"},
        "appVersion": {"kind": "unknown"}
    }))
    .unwrap()
}

fn automation_plan(method: &str, enabled: bool, scope: &str) -> AutomationPlan {
    plan(&settings(method, enabled, scope)).unwrap()
}

// The platform's live clusters and CNPG's healthy status: the double's operator stand-in.
pub(crate) use cnpg_backup_apidouble::operator::{healthy_status, live_cluster};

fn seeded() -> ApiDouble {
    let d = ApiDouble::new();
    d.insert(live_cluster("pg-admin"));
    d.insert(live_cluster("pg-tenant"));
    d
}

fn shorts(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter().map(Recorded::short).collect()
}

fn cluster(name: &str) -> ClusterName {
    name.parse().unwrap()
}

fn spec_for(
    name: &str,
    plane: Plane,
    restore: &str,
    source: &str,
    target: Value,
    method: &str,
    replaces_live: bool,
) -> RecoveryClusterSpec {
    RecoveryClusterSpec::new(
        name.parse().unwrap(),
        plane,
        restore.parse().unwrap(),
        source.parse().unwrap(),
        source.parse().unwrap(),
        serde_json::from_value(target).unwrap(),
        format!("{source}-r-{restore}").parse().unwrap(),
        None,
        serde_json::from_value(json!(method)).unwrap(),
        replaces_live,
    )
}

/// A Secret as the API server stores it (values base64 in `data`).
pub(crate) fn secret_object(name: &str, data: &[(&str, &[u8])]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            let b = k8s_openapi::ByteString(v.to_vec());
            ((*k).to_owned(), serde_json::to_value(b).unwrap())
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "type": "Opaque", "data": data})
}

/// A value that must never show in an error, a Debug or a log.
const PLANTED: &str = "planted-SECRET-value-7f3a";

fn named_target() -> Value {
    json!({"kind": "backup", "backup": "pg-admin-cnpg-backup-20261126023000",
        "backup_id": "20261126T023001"})
}

// ---------------------------------------------------------------- error mapping

#[test]
fn error_mapping_on_the_captured_bodies() {
    let body = |f: &str| -> kube::core::Status {
        serde_json::from_value(fixture(f)["response"]["body"].clone()).unwrap()
    };
    match status_to_backend(
        &body("03-ssa-invalid-retention-422.json"),
        "cluster `pg-admin`",
    ) {
        BackendError::Invalid { detail } => {
            assert!(
                detail.contains("field `spec.backup.retentionPolicy`"),
                "{detail}"
            );
            assert!(detail.contains("^[1-9][0-9]*[dwm]$"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    match status_to_backend(&body("04-ssa-conflict-409.json"), "cluster `pg-admin`") {
        BackendError::Conflict { detail, .. } => {
            assert!(
                detail.contains("`.spec.instances` is owned by field manager `platform-ops`"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        status_to_backend(&body("05-get-missing-cluster-404.json"), "x"),
        BackendError::NotFound { .. }
    ));
    assert!(matches!(
        status_to_backend(&body("07-post-backup-again-409-alreadyexists.json"), "x"),
        BackendError::AlreadyExists { .. }
    ));
    match status_to_backend(&body("12-scheduledbackup-cluster-change-422-cel.json"), "x") {
        BackendError::Invalid { detail } => {
            assert!(detail.contains("field `spec.cluster`"), "{detail}");
            assert!(detail.contains("immutable after creation"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        status_to_backend(&body("14-get-deleted-cluster-404.json"), "x"),
        BackendError::NotFound { .. }
    ));
}

// ---------------------------------------------------------------- reconcile

#[tokio::test]
async fn in_tree_reconcile_writes_once_then_converges_with_zero_writes() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    let plan = automation_plan("barman_object_store", true, "both");

    let statuses = automation.apply(&plan, None).await.unwrap();
    assert_eq!(statuses.len(), 2);
    for s in &statuses {
        assert_eq!(s.state, ReconcileState::Ok, "{s:?}");
        assert_eq!(s.writes, 2);
    }
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "patch clusters/pg-admin",
            "get scheduledbackups/pg-admin-cnpg-backup",
            "patch scheduledbackups/pg-admin-cnpg-backup",
            "list backups",
            "get clusters/pg-tenant",
            "patch clusters/pg-tenant",
            "get scheduledbackups/pg-tenant-cnpg-backup",
            "patch scheduledbackups/pg-tenant-cnpg-backup",
            "list backups",
            "list scheduledbackups",
            "list objectstores",
        ]
    );
    for w in d.writes() {
        assert_eq!(
            w.query.get("fieldManager").map(String::as_str),
            Some("cnpg-backup")
        );
        assert_eq!(
            w.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert!(!w.query.contains_key("force"), "never forced: {w:?}");
    }
    // The Cluster apply names only our fields.
    let cluster_apply = d.writes()[0].body.clone().unwrap();
    assert_eq!(
        cluster_apply["spec"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["backup"]
    );
    assert!(cluster_apply["spec"]["backup"].get("target").is_none());
    let live = d.object("clusters", "pg-admin").unwrap();
    assert_eq!(
        live["spec"]["backup"]["barmanObjectStore"]["serverName"],
        "pg-admin"
    );
    assert_eq!(live["spec"]["backup"]["retentionPolicy"], "30d");
    assert_eq!(
        live["spec"]["instances"], 1,
        "fields of other managers stay"
    );
    assert!(
        d.object("scheduledbackups", "pg-admin-cnpg-backup")
            .is_some()
    );

    d.clear_requests();
    let statuses = automation.apply(&plan, None).await.unwrap();
    assert!(
        statuses
            .iter()
            .all(|s| s.writes == 0 && s.state == ReconcileState::Ok)
    );
    assert_eq!(d.writes().len(), 0, "converged reconcile sends no write");
    assert_eq!(d.requests().len(), 8);
}

#[tokio::test]
async fn plugin_reconcile_writes_store_cluster_and_schedule_then_converges() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    let plan = automation_plan("plugin", true, "both");
    let statuses = automation.apply(&plan, None).await.unwrap();
    assert!(
        statuses
            .iter()
            .all(|s| s.state == ReconcileState::Ok && s.writes == 3),
        "{statuses:?}"
    );
    assert_eq!(d.requests().len(), 16);
    let live = d.object("clusters", "pg-tenant").unwrap();
    assert_eq!(
        live["spec"]["plugins"],
        json!([{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": true,
            "parameters": {"barmanObjectName": "pg-tenant-store", "serverName": "pg-tenant"}}])
    );
    let store = d.object("objectstores", "pg-tenant-store").unwrap();
    assert!(store["spec"]["configuration"].get("serverName").is_none());

    d.clear_requests();
    automation.apply(&plan, None).await.unwrap();
    assert_eq!(d.writes().len(), 0);
    assert_eq!(d.requests().len(), 10);
}

#[tokio::test]
async fn switching_to_the_plugin_drops_only_our_in_tree_fields() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    let statuses = automation
        .apply(&automation_plan("plugin", true, "admin"), None)
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    let live = d.object("clusters", "pg-admin").unwrap();
    assert_eq!(live["spec"]["backup"], json!({"target": "prefer-standby"}));
    assert_eq!(live["spec"]["plugins"][0]["isWALArchiver"], true);
    assert_eq!(live["spec"]["storage"]["size"], "1Gi");
    let sb = d
        .object("scheduledbackups", "pg-admin-cnpg-backup")
        .unwrap();
    assert_eq!(sb["spec"]["method"], "plugin");
}

#[tokio::test]
async fn a_conflict_names_the_other_manager_and_is_forced_only_on_request() {
    let d = seeded();
    // platform-ops owns the retention with another value.
    let mut c = d.object("clusters", "pg-admin").unwrap();
    c["spec"]["backup"]["retentionPolicy"] = json!("7d");
    c["metadata"]["managedFields"].as_array_mut().unwrap().push(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:backup": {"f:retentionPolicy": {}}}},
            "manager": "platform-ops", "operation": "Update"}),
    );
    d.insert(c);
    let plan = automation_plan("barman_object_store", true, "admin");
    let statuses = KubeBackupAutomation::new(scope(&d))
        .apply(&plan, None)
        .await
        .unwrap();
    let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
    assert_eq!(admin.state, ReconcileState::Error);
    let err = admin.error.as_deref().unwrap();
    assert!(
        err.contains("`.spec.backup.retentionPolicy` is owned by field manager `platform-ops`"),
        "{err}"
    );
    assert_eq!(
        d.object("clusters", "pg-admin").unwrap()["spec"]["backup"]["retentionPolicy"],
        "7d"
    );

    d.clear_requests();
    let statuses = KubeBackupAutomation::new(scope(&d))
        .with_force(true)
        .apply(&plan, None)
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    assert!(
        d.writes()
            .iter()
            .all(|w| w.query.get("force").map(String::as_str) == Some("true"))
    );
    assert_eq!(
        d.object("clusters", "pg-admin").unwrap()["spec"]["backup"]["retentionPolicy"],
        "30d"
    );
}

#[tokio::test]
async fn disabling_automation_deletes_only_our_schedules_and_keeps_wal_archiving() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("barman_object_store", true, "both"), None)
        .await
        .unwrap();
    d.insert(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
        "metadata": {"name": "pg-admin-hourly"},
        "spec": {"schedule": "0 0 * * * *", "cluster": {"name": "pg-admin"}}}),
    );
    d.clear_requests();

    let statuses = automation
        .apply(&automation_plan("barman_object_store", false, "both"), None)
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    assert_eq!(
        shorts(&d.writes()),
        [
            "delete scheduledbackups/pg-admin-cnpg-backup",
            "delete scheduledbackups/pg-tenant-cnpg-backup"
        ]
    );
    assert_eq!(d.names("scheduledbackups"), ["pg-admin-hourly"]);
    // WAL archiving goes on: the archive configuration stays on both clusters.
    for c in ["pg-admin", "pg-tenant"] {
        let live = d.object("clusters", c).unwrap();
        assert!(
            live["spec"]["backup"]["barmanObjectStore"].is_object(),
            "{c}"
        );
    }
    d.clear_requests();
    automation
        .apply(&automation_plan("barman_object_store", false, "both"), None)
        .await
        .unwrap();
    assert_eq!(d.writes().len(), 0);
}

#[tokio::test]
async fn a_plane_leaving_the_scope_loses_its_schedule_not_its_archive() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("plugin", true, "both"), None)
        .await
        .unwrap();
    d.clear_requests();
    let statuses = automation
        .apply(&automation_plan("plugin", true, "admin"), None)
        .await
        .unwrap();
    assert_eq!(statuses.len(), 2);
    assert_eq!(
        shorts(&d.writes()),
        ["delete scheduledbackups/pg-tenant-cnpg-backup"]
    );
    let tenant = d.object("clusters", "pg-tenant").unwrap();
    assert_eq!(tenant["spec"]["plugins"][0]["isWALArchiver"], true);
}

#[tokio::test]
async fn switching_back_to_in_tree_deletes_our_object_stores_once_unused() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("plugin", true, "both"), None)
        .await
        .unwrap();
    // Someone else's ObjectStore (no label of ours) is never listed, so never deleted.
    d.insert(
        json!({"apiVersion": "barmancloud.cnpg.io/v1", "kind": "ObjectStore",
        "metadata": {"name": "theirs"},
        "spec": {"configuration": {"destinationPath": "s3://theirs/p"}}}),
    );
    d.clear_requests();
    let statuses = automation
        .apply(&automation_plan("barman_object_store", true, "both"), None)
        .await
        .unwrap();
    assert!(
        statuses
            .iter()
            .all(|s| s.state == ReconcileState::Ok && s.writes == 3),
        "cluster, schedule, store: {statuses:?}"
    );
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "patch clusters/pg-admin",
            "get scheduledbackups/pg-admin-cnpg-backup",
            "patch scheduledbackups/pg-admin-cnpg-backup",
            "list backups",
            "get clusters/pg-tenant",
            "patch clusters/pg-tenant",
            "get scheduledbackups/pg-tenant-cnpg-backup",
            "patch scheduledbackups/pg-tenant-cnpg-backup",
            "list backups",
            "list scheduledbackups",
            "list objectstores",
            "list clusters",
            "delete objectstores/pg-admin-store",
            "delete objectstores/pg-tenant-store",
        ]
    );
    assert_eq!(d.names("objectstores"), ["theirs"]);
    d.clear_requests();
    automation
        .apply(&automation_plan("barman_object_store", true, "both"), None)
        .await
        .unwrap();
    assert_eq!(d.writes().len(), 0);
    assert_eq!(d.requests().len(), 8, "{:?}", shorts(&d.requests()));
}

#[tokio::test]
async fn an_object_store_a_cluster_still_references_is_kept() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("plugin", true, "both"), None)
        .await
        .unwrap();
    // A recovery cluster still reads from the admin store (externalClusters only).
    d.insert(json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "pg-admin-r-r1"},
        "spec": {"instances": 1, "storage": {"size": "1Gi"},
            "bootstrap": {"recovery": {"source": "cnpg-backup-source"}},
            "externalClusters": [{"name": "cnpg-backup-source", "plugin": {
                "name": "barman-cloud.cloudnative-pg.io",
                "parameters": {"barmanObjectName": "pg-admin-store", "serverName": "pg-admin"}}}]}}));
    d.clear_requests();
    // Admin back to in-tree; tenant leaves the scope and its cluster still archives there.
    let statuses = automation
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "patch clusters/pg-admin",
            "get scheduledbackups/pg-admin-cnpg-backup",
            "patch scheduledbackups/pg-admin-cnpg-backup",
            "list backups",
            "list scheduledbackups",
            "delete scheduledbackups/pg-tenant-cnpg-backup",
            "list objectstores",
            "list clusters",
        ]
    );
    assert_eq!(
        d.names("objectstores"),
        ["pg-admin-store", "pg-tenant-store"]
    );

    // The recovery cluster is cleaned up: the next reconcile deletes the admin store.
    KubeClusterLifecycle::new(scope(&d))
        .delete(&cluster("pg-admin-r-r1"))
        .await
        .unwrap();
    d.clear_requests();
    let statuses = automation
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
    assert_eq!((admin.state, admin.writes), (ReconcileState::Ok, 1));
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "get scheduledbackups/pg-admin-cnpg-backup",
            "list backups",
            "list scheduledbackups",
            "list objectstores",
            "list clusters",
            "delete objectstores/pg-admin-store",
        ]
    );
    assert_eq!(d.names("objectstores"), ["pg-tenant-store"]);
    d.clear_requests();
    automation
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    assert_eq!(d.writes().len(), 0);
    assert_eq!(
        shorts(&d.requests()).last().map(String::as_str),
        Some("list clusters"),
        "the tenant store is still a candidate, still referenced"
    );
}

#[tokio::test]
async fn a_foreign_schedule_with_our_name_is_not_touched() {
    let d = seeded();
    d.insert(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
        "metadata": {"name": "pg-admin-cnpg-backup"},
        "spec": {"schedule": "0 0 * * * *", "cluster": {"name": "pg-admin"}}}),
    );
    let statuses = KubeBackupAutomation::new(scope(&d))
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
    assert_eq!(admin.state, ReconcileState::Error);
    assert!(admin.error.as_deref().unwrap().contains("not ours"));
    assert!(
        !d.writes()
            .iter()
            .any(|w| w.resource() == "scheduledbackups")
    );
}

#[tokio::test]
async fn backups_of_our_schedules_are_tagged_once() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    let plan = automation_plan("plugin", true, "admin");
    automation.apply(&plan, None).await.unwrap();
    for (name, sb) in [
        (
            "pg-admin-cnpg-backup-20261126023000",
            "pg-admin-cnpg-backup",
        ),
        (
            "pg-admin-cnpg-backup-20261127023000",
            "pg-admin-cnpg-backup",
        ),
        ("pg-admin-hourly-20261126020000", "pg-admin-hourly"),
    ] {
        d.insert(
            json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": {"name": name, "labels": {"cnpg.io/cluster": "pg-admin",
                "cnpg.io/scheduled-backup": sb}},
            "spec": {"cluster": {"name": "pg-admin"}, "method": "plugin",
                "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}}),
        );
    }
    d.clear_requests();
    let version = "1.4.0".parse().unwrap();
    let statuses = automation.apply(&plan, Some(&version)).await.unwrap();
    assert_eq!(statuses[0].writes, 2, "{statuses:?}");
    let b = d
        .object("backups", "pg-admin-cnpg-backup-20261126023000")
        .unwrap();
    assert_eq!(
        b["metadata"]["labels"]["cnpg-backup.io/backup-set"],
        "s-20261126023000"
    );
    assert_eq!(
        b["metadata"]["annotations"]["cnpg-backup.io/app-version"],
        "1.4.0"
    );
    assert_eq!(
        b["metadata"]["annotations"]["cnpg-backup.io/server-name"],
        "pg-admin"
    );
    let foreign = d
        .object("backups", "pg-admin-hourly-20261126020000")
        .unwrap();
    assert!(foreign["metadata"].get("annotations").is_none());

    d.clear_requests();
    automation.apply(&plan, Some(&version)).await.unwrap();
    assert_eq!(d.writes().len(), 0);

    let records = KubeBackupCatalog::new(scope(&d))
        .list_backups(&cluster("pg-admin"))
        .await
        .unwrap();
    let tagged = records
        .iter()
        .find(|r| r.name.as_str() == "pg-admin-cnpg-backup-20261127023000")
        .unwrap();
    assert_eq!(
        tagged.backup_set_id.as_ref().unwrap().as_str(),
        "s-20261127023000"
    );
    assert_eq!(tagged.app_version.as_ref().unwrap().to_string(), "1.4.0");
}

#[tokio::test]
async fn an_unreachable_api_fails_the_reconcile_as_a_whole() {
    let d = seeded();
    d.fail("GET", "/namespaces/", 503, Timing::Before, 100);
    let err = KubeBackupAutomation::new(scope(&d))
        .apply(&automation_plan("plugin", true, "both"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Unavailable { .. }), "{err:?}");
    // Three attempts per plane and for the sweep: idempotent reads are retried, boundedly.
    assert_eq!(d.requests().len(), 9);
}

// ---------------------------------------------------------------- backup now

fn request(name: &str, plane: Plane, cluster: &str, set: &str) -> BackupRequest {
    BackupRequest::new(
        name.parse().unwrap(),
        plane,
        cluster.parse().unwrap(),
        serde_json::from_value(json!("plugin")).unwrap(),
        set.parse().unwrap(),
        Some("1.4.0".parse().unwrap()),
    )
}

/// The seeded clusters with the plugin configured by a first reconcile; requests cleared.
async fn reconciled(method: &str) -> ApiDouble {
    let d = seeded();
    KubeBackupAutomation::new(scope(&d))
        .apply(&automation_plan(method, true, "both"), None)
        .await
        .unwrap();
    d.clear_requests();
    d
}

#[tokio::test]
async fn backup_now_creates_one_backup_per_plane_and_refuses_while_one_is_running() {
    let d = reconciled("plugin").await;
    let automation = KubeBackupAutomation::new(scope(&d));
    for (plane, c) in [(Plane::Admin, "pg-admin"), (Plane::Tenant, "pg-tenant")] {
        let name = format!("{c}-now-20261126101500");
        automation
            .create_backup(&request(&name, plane, c, "20261126101500"))
            .await
            .unwrap();
        let b = d.object("backups", &name).unwrap();
        assert_eq!(b["metadata"]["labels"]["cnpg.io/cluster"], c);
        assert_eq!(
            b["metadata"]["labels"]["cnpg-backup.io/backup-set"],
            "20261126101500"
        );
        assert_eq!(
            b["metadata"]["annotations"]["cnpg-backup.io/app-version"],
            "1.4.0"
        );
        assert_eq!(
            b["metadata"]["annotations"]["cnpg-backup.io/server-name"], c,
            "where it is in the bucket: CNPG does not say it for a plugin Backup"
        );
    }
    assert_eq!(
        shorts(&d.requests()[..4]),
        [
            "get clusters/pg-admin",
            "list backups",
            "list backups",
            "create backups"
        ]
    );
    assert_eq!(d.requests().len(), 8);

    // The first is still pending (no status yet): a second run is refused before any write.
    d.clear_requests();
    let err = automation
        .create_backup(&request("pg-admin-now-2", Plane::Admin, "pg-admin", "2"))
        .await
        .unwrap_err();
    match err {
        BackendError::Conflict { detail, .. } => {
            assert!(detail.contains("pg-admin-now-20261126101500"), "{detail}");
            assert!(detail.contains("pending"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.writes().len(), 0);

    d.set_status(
        "backups",
        "pg-admin-now-20261126101500",
        json!({"phase": "completed"}),
    );
    automation
        .create_backup(&request("pg-admin-now-2", Plane::Admin, "pg-admin", "2"))
        .await
        .unwrap();
    d.set_status("backups", "pg-admin-now-2", json!({"phase": "failed"}));
    let err = automation
        .create_backup(&request("pg-admin-now-2", Plane::Admin, "pg-admin", "2"))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::AlreadyExists { .. }), "{err:?}");
}

/// Issue 9: a Cluster without our backup configuration (of the request's method) takes no
/// on-demand Backup: CNPG would accept it and fail it. Refused clearly, nothing created.
#[tokio::test]
async fn issue_9_backup_now_refuses_a_cluster_without_our_backup_configuration() {
    for (configured, requested) in [
        (None, "plugin"),
        (None, "barman_object_store"),
        (Some("barman_object_store"), "plugin"),
        (Some("plugin"), "barman_object_store"),
    ] {
        let d = match configured {
            Some(m) => reconciled(m).await,
            None => seeded(),
        };
        let mut r = request("pg-admin-now-1", Plane::Admin, "pg-admin", "1");
        r.method = serde_json::from_value(json!(requested)).unwrap();
        let err = KubeBackupAutomation::new(scope(&d))
            .create_backup(&r)
            .await
            .unwrap_err();
        match &err {
            BackendError::Conflict { what, detail } => {
                assert_eq!(what, "backup of cluster `pg-admin`");
                assert!(
                    detail.contains("has no backup configuration for this method"),
                    "{detail}"
                );
            }
            other => panic!("{configured:?} {requested}: {other:?}"),
        }
        assert!(d.writes().is_empty(), "{configured:?} {requested}");
        assert!(d.names("backups").is_empty());
    }
}

/// An on-demand Backup records the server its cluster archives to now: after a restore
/// recreated the cluster under a fresh server name, that name.
#[tokio::test]
async fn an_on_demand_backup_records_the_server_the_cluster_archives_to() {
    for method in ["plugin", "barman_object_store"] {
        let d = seeded();
        let mut s = settings(method, true, "admin");
        s.archive_servers
            .insert(Plane::Admin, "pg-admin-r-r1".parse().unwrap());
        KubeBackupAutomation::new(scope(&d))
            .apply(&plan(&s).unwrap(), None)
            .await
            .unwrap();
        let mut r = request("pg-admin-now-1", Plane::Admin, "pg-admin", "1");
        r.method = serde_json::from_value(json!(method)).unwrap();
        KubeBackupAutomation::new(scope(&d))
            .create_backup(&r)
            .await
            .unwrap();
        let b = d.object("backups", "pg-admin-now-1").unwrap();
        assert_eq!(
            b["metadata"]["annotations"]["cnpg-backup.io/server-name"], "pg-admin-r-r1",
            "{method}"
        );
    }
}

#[tokio::test]
async fn backup_now_is_not_retried_on_a_server_error() {
    let d = reconciled("plugin").await;
    d.fail("POST", "/backups", 503, Timing::Before, 5);
    let err = KubeBackupAutomation::new(scope(&d))
        .create_backup(&request("pg-admin-now-1", Plane::Admin, "pg-admin", "1"))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Unavailable { .. }));
    assert_eq!(
        d.requests().iter().filter(|r| r.method == "POST").count(),
        1
    );
}

// ---------------------------------------------------------------- catalog

#[tokio::test]
async fn a_catalog_of_ten_thousand_backups_takes_twenty_pages() {
    let d = ApiDouble::new();
    for i in 0..10_000 {
        d.insert(json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": {"name": format!("pg-admin-cnpg-backup-{:014}", 20_260_000_000_000u64 + i),
                "labels": {"cnpg.io/cluster": "pg-admin", "cnpg.io/scheduled-backup": "pg-admin-cnpg-backup"}},
            "spec": {"cluster": {"name": "pg-admin"}, "method": "plugin"},
            "status": {"phase": "completed", "backupId": "20261126T023001"}}));
    }
    // Hand-made Backups carry no cnpg.io/cluster label.
    for (name, c) in [("manual-a", "pg-admin"), ("manual-b", "pg-tenant")] {
        d.insert(
            json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": {"name": name}, "spec": {"cluster": {"name": c}}}),
        );
    }
    let records = KubeBackupCatalog::new(scope(&d))
        .list_backups(&cluster("pg-admin"))
        .await
        .unwrap();
    assert_eq!(records.len(), 10_001);
    assert!(records.iter().any(|r| r.name.as_str() == "manual-a"));
    assert!(!records.iter().any(|r| r.name.as_str() == "manual-b"));
    let reqs = d.requests();
    let labelled: Vec<_> = reqs
        .iter()
        .filter(|r| {
            r.query.get("labelSelector").map(String::as_str) == Some("cnpg.io/cluster=pg-admin")
        })
        .collect();
    assert_eq!(labelled.len(), 20);
    assert!(
        labelled
            .iter()
            .all(|r| r.query.get("limit").map(String::as_str) == Some("500"))
    );
    assert_eq!(
        shorts(&reqs[21..]),
        ["get clusters/pg-admin"],
        "20 labelled pages, 1 page of hand-made backups, then the cluster for the server name \
         none of these plugin Backups records"
    );
    assert!(
        records.iter().all(|r| r
            .server_name
            .as_ref()
            .is_some_and(|s| s.as_str() == "pg-admin")),
        "no cluster left: its name"
    );
}

#[tokio::test]
async fn both_planes_are_listed_and_an_expired_continue_token_restarts_the_list() {
    let d = ApiDouble::new();
    for i in 0..600 {
        for c in ["pg-admin", "pg-tenant"] {
            d.insert(
                json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
                "metadata": {"name": format!("{c}-{i:05}"), "labels": {"cnpg.io/cluster": c}},
                "spec": {"cluster": {"name": c}}}),
            );
        }
    }
    d.fail("GET", "continue=", 410, Timing::Before, 1);
    let (admin, tenant) = KubeBackupCatalog::new(scope(&d))
        .list_planes(&PlaneClusters::new(
            cluster("pg-admin"),
            cluster("pg-tenant"),
        ))
        .await
        .unwrap();
    assert_eq!((admin.len(), tenant.len()), (600, 600));
    let names: BTreeSet<_> = admin.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(names.len(), 600, "no duplicates after the restart");
}

/// Issue 9: every catalog row of a completed backup has its server name, for both methods:
/// CNPG's for in-tree Backups, ours for plugin ones (CNPG does not record it there): recorded
/// when we tag a scheduled Backup or create an on-demand one, else the one the cluster archives
/// to now, else the cluster's name.
#[tokio::test]
async fn issue_9_every_completed_backup_in_the_catalog_has_its_server_name() {
    for method in ["plugin", "barman_object_store"] {
        let d = seeded();
        let mut s = settings(method, true, "admin");
        s.archive_servers
            .insert(Plane::Admin, "pg-admin-r-r1".parse().unwrap());
        let automation = KubeBackupAutomation::new(scope(&d));
        automation.apply(&plan(&s).unwrap(), None).await.unwrap();
        let cnpg_method = if method == "plugin" {
            "plugin"
        } else {
            "barmanObjectStore"
        };
        // As CNPG makes them: the scheduled one, and one made by hand (no label, no tagging).
        for (name, labels) in [
            (
                "pg-admin-cnpg-backup-20261126023000",
                json!({"cnpg.io/cluster": "pg-admin",
                    "cnpg.io/scheduled-backup": "pg-admin-cnpg-backup"}),
            ),
            ("by-hand", json!({})),
        ] {
            let mut status = json!({"phase": "completed", "backupId": "20261126T023001",
                "startedAt": "2026-11-26T02:30:01Z", "stoppedAt": "2026-11-26T02:31:00Z"});
            if method != "plugin" {
                status["serverName"] = json!("pg-admin-r-r1");
            }
            let mut b = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
                "metadata": {"name": name, "labels": labels},
                "spec": {"cluster": {"name": "pg-admin"}, "method": cnpg_method},
                "status": status});
            if method == "plugin" {
                b["spec"]["pluginConfiguration"] =
                    json!({"name": "barman-cloud.cloudnative-pg.io"});
            }
            d.insert(b);
        }
        automation.apply(&plan(&s).unwrap(), None).await.unwrap();
        let mut r = request("pg-admin-now-1", Plane::Admin, "pg-admin", "1");
        r.method = serde_json::from_value(json!(method)).unwrap();
        automation.create_backup(&r).await.unwrap();
        d.set_status(
            "backups",
            "pg-admin-now-1",
            json!({"phase": "completed", "backupId": "20261126T101501"}),
        );

        let records = KubeBackupCatalog::new(scope(&d))
            .list_backups(&cluster("pg-admin"))
            .await
            .unwrap();
        assert_eq!(records.len(), 3, "{method}");
        for r in &records {
            assert_eq!(r.phase, cnpg_backup_core::catalog::BackupPhase::Completed);
            assert_eq!(
                r.server_name.as_ref().map(|s| s.as_str()),
                Some("pg-admin-r-r1"),
                "{method}: {}",
                r.name
            );
        }
    }
}

// ---------------------------------------------------------------- cluster lifecycle

#[tokio::test]
async fn one_plane_cutover_is_five_calls_and_survives_faults_between_them() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    d.set_status("clusters", "pg-admin", healthy_status(1));
    // A Backup of our schedule (owned by nothing) and one owned by the Cluster.
    let uid = d.object("clusters", "pg-admin").unwrap()["metadata"]["uid"].clone();
    d.insert(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
        "metadata": {"name": "pg-admin-cnpg-backup-20261126023000",
            "labels": {"cnpg.io/cluster": "pg-admin"}},
        "spec": {"cluster": {"name": "pg-admin"}},
        "status": {"phase": "completed", "backupId": "20261126T023001"}}),
    );
    d.insert(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
        "metadata": {"name": "owned-by-cluster", "labels": {"cnpg.io/cluster": "pg-admin"},
            "ownerReferences": [{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                "name": "pg-admin", "uid": uid}]},
        "spec": {"cluster": {"name": "pg-admin"}}}),
    );
    d.clear_requests();

    let lifecycle = KubeClusterLifecycle::new(scope(&d));
    let live = cluster("pg-admin");
    let spec = spec_for(
        "pg-admin",
        Plane::Admin,
        "r1",
        "pg-admin",
        named_target(),
        "barman_object_store",
        true,
    );

    let saved = lifecycle.manifest(&live).await.unwrap();
    // Crash after the delete was carried out but before its answer arrived; rerun.
    d.fail("DELETE", "/clusters/pg-admin", 503, Timing::After, 1);
    assert!(lifecycle.delete(&live).await.is_err());
    lifecycle.delete(&live).await.unwrap();
    assert_eq!(lifecycle.observe(&live).await.unwrap(), None);
    // Crash after the create was carried out; the rerun meets 409 and finds it is ours.
    d.fail("POST", "/clusters", 504, Timing::After, 1);
    assert!(lifecycle.create(&saved, &spec).await.is_err());
    lifecycle.create(&saved, &spec).await.unwrap();
    let waiting = lifecycle.observe(&live).await.unwrap().unwrap();
    assert!(!waiting.is_ready());
    assert_eq!(waiting.restore_id.as_ref().unwrap().as_str(), "r1");
    d.set_status("clusters", "pg-admin", healthy_status(1));
    let ready = lifecycle.observe(&live).await.unwrap().unwrap();
    assert!(ready.is_ready(), "{ready:?}");

    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",    // save the live manifest
            "delete clusters/pg-admin", // answer lost
            "delete clusters/pg-admin", // rerun: 404, done
            "get clusters/pg-admin",    // observe: gone
            "create clusters",          // answer lost
            "create clusters",          // rerun: 409 AlreadyExists
            "get clusters/pg-admin",    // ...and it carries our restore id
            "get clusters/pg-admin",    // observe: not ready yet
            "get clusters/pg-admin",    // observe: ready
        ]
    );
    assert_eq!(d.requests()[2].status, 404);
    assert_eq!(d.requests()[5].status, 409);

    // The recreated cluster recovers from the bucket and archives under a fresh name.
    let recreated = d.object("clusters", "pg-admin").unwrap();
    let recovery = &recreated["spec"]["bootstrap"]["recovery"];
    assert_eq!(recovery["source"], "cnpg-backup-source");
    assert_eq!(recovery["recoveryTarget"]["backupID"], "20261126T023001");
    assert!(recovery.get("backup").is_none());
    assert_eq!(
        recreated["spec"]["externalClusters"][0]["barmanObjectStore"]["serverName"],
        "pg-admin"
    );
    assert_eq!(
        recreated["spec"]["backup"]["barmanObjectStore"]["serverName"],
        "pg-admin-r-r1"
    );
    // The catalog survives the cutover; the Backup the Cluster owned was garbage-collected.
    assert!(
        d.object("backups", "pg-admin-cnpg-backup-20261126023000")
            .is_some()
    );
    assert!(d.object("backups", "owned-by-cluster").is_none());

    // A reconcile whose plan still names the old archive server does not move archiving back
    // silently: the recreated cluster's fields belong to the restore's field manager.
    let statuses = automation
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
    let err = admin.error.as_deref().unwrap();
    assert!(
        err.contains(
            "`.spec.backup.barmanObjectStore.serverName` is owned by field manager `cnpg-backup-restore`"
        ),
        "{err}"
    );
    assert_eq!(
        d.object("clusters", "pg-admin").unwrap()["spec"]["backup"]["barmanObjectStore"]["serverName"],
        "pg-admin-r-r1"
    );
}

/// After a cutover the live cluster archives under its fresh server name, which core records in
/// `BackupSettings.archive_servers`; a reconcile with those settings takes its fields over
/// without a conflict, then converges. The plan from before the cutover (the cluster name) is
/// reported as a conflict and changes nothing.
#[tokio::test]
async fn a_reconcile_after_a_cutover_keeps_the_fresh_archive_server_without_conflict() {
    for method in ["barman_object_store", "plugin"] {
        let d = seeded();
        let automation = KubeBackupAutomation::new(scope(&d));
        automation
            .apply(&automation_plan(method, true, "admin"), None)
            .await
            .unwrap();
        // A real API server fills in the plugin entry's defaults (`enabled`), so the saved
        // manifest, and the recreated cluster, carry them.
        let mut c = d.object("clusters", "pg-admin").unwrap();
        if let Some(plugins) = c["spec"].get_mut("plugins").and_then(Value::as_array_mut) {
            for p in plugins {
                p["enabled"] = json!(true);
            }
        }
        d.insert(c);

        let lifecycle = KubeClusterLifecycle::new(scope(&d));
        let live = cluster("pg-admin");
        let spec = spec_for(
            "pg-admin",
            Plane::Admin,
            "r1",
            "pg-admin",
            named_target(),
            method,
            true,
        );
        assert!(spec.replaces_live);
        let fresh = spec.archive_server.clone();
        assert_eq!(fresh.as_str(), "pg-admin-r-r1");
        let saved = lifecycle.manifest(&live).await.unwrap();
        lifecycle.delete(&live).await.unwrap();
        lifecycle.create(&saved, &spec).await.unwrap();
        d.set_status("clusters", "pg-admin", healthy_status(1));
        let server_of = |d: &ApiDouble| {
            let c = d.object("clusters", "pg-admin").unwrap();
            if method == "plugin" {
                c["spec"]["plugins"][0]["parameters"]["serverName"].clone()
            } else {
                c["spec"]["backup"]["barmanObjectStore"]["serverName"].clone()
            }
        };
        assert_eq!(server_of(&d), fresh.as_str(), "{method}");

        // The plan from before the cutover: reported, not silently overwritten.
        d.clear_requests();
        let statuses = automation
            .apply(&automation_plan(method, true, "admin"), None)
            .await
            .unwrap();
        let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
        let err = admin.error.as_deref().unwrap_or_default();
        let field = if method == "plugin" {
            "`.spec.plugins`"
        } else {
            "`.spec.backup.barmanObjectStore.serverName`"
        };
        assert!(
            err.contains(&format!(
                "{field} is owned by field manager `cnpg-backup-restore`"
            )),
            "{method}: {err}"
        );
        assert_eq!(server_of(&d), fresh.as_str(), "{method}");
        assert!(
            d.writes().iter().all(|w| w.status >= 400),
            "{method}: {:?}",
            shorts(&d.writes())
        );

        // The settings core writes when the restore completes.
        let mut after = settings(method, true, "admin");
        after.archive_servers.insert(Plane::Admin, fresh.clone());
        let plan_after = plan(&after).unwrap();
        assert_eq!(plan_after.planes[0].server_name, fresh);
        d.clear_requests();
        let statuses = automation.apply(&plan_after, None).await.unwrap();
        assert!(
            statuses.iter().all(|s| s.state == ReconcileState::Ok),
            "{method}: {statuses:?}"
        );
        let expected: &[&str] = if method == "plugin" {
            &[
                "get clusters/pg-admin",
                "get objectstores/pg-admin-store",
                "patch clusters/pg-admin",
                "get scheduledbackups/pg-admin-cnpg-backup",
                "list backups",
                "list scheduledbackups",
                "list objectstores",
            ]
        } else {
            &[
                "get clusters/pg-admin",
                "patch clusters/pg-admin",
                "get scheduledbackups/pg-admin-cnpg-backup",
                "list backups",
                "list scheduledbackups",
                "list objectstores",
            ]
        };
        assert_eq!(shorts(&d.requests()), expected, "{method}");
        assert!(d.requests().iter().all(|r| r.status == 200), "{method}");
        let recreated = d.object("clusters", "pg-admin").unwrap();
        assert_eq!(server_of(&d), fresh.as_str(), "{method}");
        // The recreated cluster still recovers from the old archive, under the old name.
        let source = &recreated["spec"]["externalClusters"][0];
        let source_server = if method == "plugin" {
            &source["plugin"]["parameters"]["serverName"]
        } else {
            &source["barmanObjectStore"]["serverName"]
        };
        assert_eq!(source_server, "pg-admin", "{method}");

        d.clear_requests();
        let statuses = automation.apply(&plan_after, None).await.unwrap();
        assert!(
            statuses
                .iter()
                .all(|s| s.state == ReconcileState::Ok && s.writes == 0),
            "{method}: {statuses:?}"
        );
        assert_eq!(d.writes().len(), 0, "{method}: converged");

        // The target no longer used: the restore's manager co-owns the archive configuration,
        // so dropping our claim would not stop archiving. Reported, naming it; nothing written.
        let mut off = after.clone();
        off.target.use_for_backups = false;
        d.clear_requests();
        let statuses = automation.apply(&plan(&off).unwrap(), None).await.unwrap();
        let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
        let err = admin.error.as_deref().unwrap_or_default();
        let field = if method == "plugin" {
            "`.spec.plugins`"
        } else {
            "`.spec.backup.barmanObjectStore`"
        };
        assert!(
            err.contains(&format!(
                "{field} is owned by field manager `cnpg-backup-restore`"
            )),
            "{method}: {err}"
        );
        assert!(
            !shorts(&d.writes()).iter().any(|w| w.contains("clusters")),
            "{method}: {:?}",
            shorts(&d.writes())
        );
        assert_eq!(server_of(&d), fresh.as_str(), "{method}: still archiving");
    }
}

#[tokio::test]
async fn a_name_taken_by_another_cluster_is_not_ours() {
    let d = seeded();
    let lifecycle = KubeClusterLifecycle::new(scope(&d));
    let mut base = live_cluster("pg-admin");
    base["spec"]["backup"]["barmanObjectStore"] =
        json!({"destinationPath": "s3://b/p", "s3Credentials": {"inheritFromIAMRole": true}});
    let saved = cnpg_backup_core::ports::ClusterManifest(base);
    let spec = spec_for(
        "pg-tenant",
        Plane::Tenant,
        "r2",
        "pg-admin",
        named_target(),
        "barman_object_store",
        false,
    );
    let err = lifecycle.create(&saved, &spec).await.unwrap_err();
    assert!(matches!(err, BackendError::AlreadyExists { .. }), "{err:?}");
    assert!(matches!(
        lifecycle.manifest(&cluster("absent")).await.unwrap_err(),
        BackendError::NotFound { .. }
    ));
    lifecycle.delete(&cluster("absent")).await.unwrap();
}

#[tokio::test]
async fn observation_reports_progress_while_waiting() {
    let d = seeded();
    d.set_status(
        "clusters",
        "pg-admin",
        json!({"phase": "Setting up primary", "phaseReason": "Creating primary instance pg-admin-1",
            "readyInstances": 0, "conditions": [{"type": "Ready", "status": "False",
            "reason": "ClusterIsNotReady", "message": "Cluster Is Not Ready"}]}),
    );
    let o = KubeClusterLifecycle::new(scope(&d))
        .observe(&cluster("pg-admin"))
        .await
        .unwrap()
        .unwrap();
    assert!(!o.is_ready());
    assert_eq!(
        o.detail.as_deref(),
        Some(
            "phase `Setting up primary`, 0/1 instances ready, Creating primary instance pg-admin-1, not ready: Cluster Is Not Ready"
        )
    );
}

// ---------------------------------------------------------------- state store

#[tokio::test]
async fn state_store_uses_resource_versions_and_refuses_oversized_documents() {
    let d = ApiDouble::new();
    let store = ConfigMapStateStore::new(scope(&d));
    assert_eq!(store.get(&StateKey::Settings).await.unwrap(), None);
    let r1 = store
        .put(&StateKey::Settings, "{\"a\":1}", None)
        .await
        .unwrap();
    let got = store.get(&StateKey::Settings).await.unwrap().unwrap();
    assert_eq!(
        (got.revision.clone(), got.body.as_str()),
        (r1.clone(), "{\"a\":1}")
    );
    let r2 = store
        .put(&StateKey::Settings, "{\"a\":2}", Some(&r1))
        .await
        .unwrap();
    assert_ne!(r1, r2);
    // A writer holding the old revision loses.
    let stale = store.put(&StateKey::Settings, "{\"a\":3}", Some(&r1)).await;
    assert!(
        matches!(stale, Err(BackendError::Conflict { .. })),
        "{stale:?}"
    );
    let exists = store.put(&StateKey::Settings, "{}", None).await;
    assert!(
        matches!(exists, Err(BackendError::Conflict { .. })),
        "{exists:?}"
    );
    let gone = store
        .put(
            &StateKey::PreflightReport,
            "{}",
            Some(&Revision("1".into())),
        )
        .await;
    assert!(
        matches!(gone, Err(BackendError::Conflict { .. })),
        "{gone:?}"
    );

    d.clear_requests();
    let big = "x".repeat(STATE_DOCUMENT_MAX_BYTES + 1);
    let err = store.put(&StateKey::ReconcileStatus, &big, None).await;
    assert!(matches!(err, Err(BackendError::Invalid { .. })), "{err:?}");
    assert!(d.requests().is_empty(), "refused before any request");

    for id in ["r2", "r1"] {
        store
            .put(&StateKey::Restore(id.parse().unwrap()), "{}", None)
            .await
            .unwrap();
    }
    let ids: Vec<String> = store
        .list_restores()
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ids, ["r1", "r2"]);
}

// ---------------------------------------------------------------- RBAC

/// The Role exactly as `cnpg-backup rbac` prints it, for the double.
pub(crate) fn printed_role() -> Role {
    let manifest: Value = serde_saphyr::from_str(&rbac::role_yaml(NAMESPACE)).unwrap();
    Role::from_manifest(&manifest).unwrap()
}

/// A Role of `rules` (the double's form of the adapter's rule table).
fn role_of(name: &str, rules: &[rbac::Rule]) -> Role {
    Role::new(
        name,
        rules
            .iter()
            .map(|r| DoubleRule::new(&[r.api_group], &[r.resource], r.verbs))
            .collect(),
    )
}

/// (group, resource, verb) of every verb the double authorized the requests as.
pub(crate) fn used_verbs(reqs: &[Recorded]) -> BTreeSet<(String, String, String)> {
    reqs.iter()
        .flat_map(|r| {
            r.verbs()
                .into_iter()
                .map(|v| (r.group().to_owned(), r.resource(), v.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// (group, resource, verb) of every verb `rules` grant.
pub(crate) fn granted_verbs(rules: &[rbac::Rule]) -> BTreeSet<(String, String, String)> {
    rules
        .iter()
        .flat_map(|rule| {
            rule.verbs.iter().map(|v| {
                (
                    rule.api_group.to_owned(),
                    rule.resource.to_owned(),
                    (*v).to_owned(),
                )
            })
        })
        .collect()
}

/// The rules `cnpg-backup rbac` printed before issue 9: `patch` without `create` on the
/// ScheduledBackups and ObjectStores we apply. A real API server authorizes an apply that
/// creates the object as `create` too, so the first reconcile failed under this Role.
const RULES_BEFORE_ISSUE_9: &[rbac::Rule] = &[
    rbac::Rule {
        api_group: "postgresql.cnpg.io",
        resource: "clusters",
        verbs: &["get", "list", "create", "patch", "delete"],
        purpose: "",
    },
    rbac::Rule {
        api_group: "postgresql.cnpg.io",
        resource: "backups",
        verbs: &["list", "create", "patch"],
        purpose: "",
    },
    rbac::Rule {
        api_group: "postgresql.cnpg.io",
        resource: "scheduledbackups",
        verbs: &["get", "list", "patch", "delete"],
        purpose: "",
    },
    rbac::Rule {
        api_group: "barmancloud.cnpg.io",
        resource: "objectstores",
        verbs: &["get", "list", "patch", "delete"],
        purpose: "",
    },
    rbac::Rule {
        api_group: "",
        resource: "configmaps",
        verbs: &["get", "list", "create", "update"],
        purpose: "",
    },
    rbac::Rule {
        api_group: "",
        resource: "secrets",
        verbs: &["get"],
        purpose: "",
    },
];

/// Issue 9: under the Role printed before, the first reconcile is refused with the 403 a real
/// API server sends (fixtures 16 and 18): in-tree on our ScheduledBackup, plugin on our
/// ObjectStore. Nothing is created.
#[tokio::test]
async fn issue_9_the_role_before_fails_the_first_reconcile_with_the_real_403() {
    for (method, file, captured_name, plural, name) in [
        (
            "barman_object_store",
            "16-sa-ssa-create-scheduledbackup-403.json",
            "pg-main-nightly",
            "scheduledbackups",
            "pg-admin-cnpg-backup",
        ),
        (
            "plugin",
            "18-sa-ssa-create-objectstore-403.json",
            "pg-main-store",
            "objectstores",
            "pg-admin-store",
        ),
    ] {
        let d = seeded();
        d.bind_role(role_of("cnpg-backup", RULES_BEFORE_ISSUE_9));
        let statuses = KubeBackupAutomation::new(scope(&d))
            .apply(&automation_plan(method, true, "both"), None)
            .await
            .unwrap();
        let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
        assert_eq!(admin.state, ReconcileState::Error, "{method}");
        let err = admin.error.as_deref().unwrap();
        assert!(
            err.contains(&format!("cannot create resource \"{plural}\"")),
            "{method}: {err}"
        );
        let denied: Vec<Recorded> = d
            .requests()
            .into_iter()
            .filter(|r| r.status == 403)
            .collect();
        assert_eq!(
            denied[0].short(),
            format!("patch {plural}/{name}"),
            "{method}"
        );
        assert_eq!(denied[0].verbs(), ["patch", "create"], "{method}");
        let mut expected = fixture(file)["response"]["body"].clone();
        expected["message"] = json!(
            expected["message"]
                .as_str()
                .unwrap()
                .replace(captured_name, name)
        );
        expected["details"]["name"] = json!(name);
        assert_eq!(denied[0].answer, expected, "{method}: the body of {file}");
        assert!(d.names(plural).is_empty(), "{method}: nothing created");
    }
}

#[tokio::test]
async fn every_request_the_adapters_send_is_allowed_by_the_role_and_every_rule_is_used() {
    let d = seeded();
    d.bind_role(printed_role());
    let s = scope(&d);
    let automation = KubeBackupAutomation::new(s.clone());
    automation
        .apply(&automation_plan("plugin", true, "both"), None)
        .await
        .unwrap();
    automation
        .apply(&automation_plan("plugin", true, "admin"), None)
        .await
        .unwrap();
    // The tenant plane back to in-tree: its ObjectStore goes once no cluster references it.
    automation
        .apply(
            &automation_plan("barman_object_store", true, "tenant"),
            None,
        )
        .await
        .unwrap();
    assert!(d.object("objectstores", "pg-tenant-store").is_none());
    d.insert(json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
        "metadata": {"name": "pg-admin-cnpg-backup-20261126023000",
            "labels": {"cnpg.io/scheduled-backup": "pg-admin-cnpg-backup", "cnpg.io/cluster": "pg-admin"}},
        "spec": {"cluster": {"name": "pg-admin"}},
        "status": {"phase": "completed"}}));
    automation
        .apply(&automation_plan("plugin", true, "admin"), None)
        .await
        .unwrap();
    automation
        .create_backup(&request("pg-admin-now-1", Plane::Admin, "pg-admin", "1"))
        .await
        .unwrap();
    KubeBackupCatalog::new(s.clone())
        .list_backups(&cluster("pg-admin"))
        .await
        .unwrap();
    // The target no longer used for the tenant plane's backups: its archive configuration goes;
    // the admin store stays, its cluster still references it.
    let statuses = automation
        .apply(&unused_plan("barman_object_store", "tenant"), None)
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    let tenant = d.object("clusters", "pg-tenant").unwrap();
    assert!(tenant["spec"]["backup"].get("barmanObjectStore").is_none());
    assert!(d.object("objectstores", "pg-admin-store").is_some());
    let lifecycle = KubeClusterLifecycle::new(s.clone());
    let saved = lifecycle.manifest(&cluster("pg-admin")).await.unwrap();
    lifecycle.delete(&cluster("pg-admin")).await.unwrap();
    let spec = spec_for(
        "pg-admin",
        Plane::Admin,
        "r1",
        "pg-admin",
        named_target(),
        "plugin",
        true,
    );
    lifecycle.create(&saved, &spec).await.unwrap();
    let store = ConfigMapStateStore::new(s.clone());
    let r = store.put(&StateKey::Settings, "{}", None).await.unwrap();
    store
        .put(&StateKey::Settings, "{}", Some(&r))
        .await
        .unwrap();
    store.get(&StateKey::Settings).await.unwrap();
    store.list_restores().await.unwrap();
    // The bucket probe's credentials, read from the Secret the target references.
    d.insert(secret_object(
        "backup-s3",
        &[
            ("ACCESS_KEY_ID", b"AKIDEXAMPLE"),
            ("ACCESS_SECRET_KEY", PLANTED.as_bytes()),
        ],
    ));
    let target = settings("plugin", true, "both").target;
    let creds = resolve_credentials(&target, &KubeSecretReader::new(s.clone()))
        .await
        .unwrap();
    assert_eq!(creds.resolved_keys(), 2);
    assert_eq!(creds.redact(PLANTED), "[redacted]", "the value was read");

    let refused: Vec<String> = d
        .requests()
        .iter()
        .filter(|r| r.status == 403)
        .map(Recorded::short)
        .collect();
    assert!(
        refused.is_empty(),
        "refused under the printed Role: {refused:?}"
    );
    let used = used_verbs(&d.requests());
    for (group, resource, verb) in &used {
        assert!(
            rbac::allows(group, resource, verb),
            "not allowed by the Role: {group} {resource} {verb}"
        );
    }
    assert_eq!(
        used,
        granted_verbs(rbac::RULES),
        "the Role grants exactly what the adapters call"
    );
    // The same requests under the Role from before issue 9: an apply that creates is refused.
    let before = granted_verbs(RULES_BEFORE_ISSUE_9);
    assert!(
        used.iter().any(|v| !before.contains(v)),
        "this test fails on the old Role"
    );
    insta::assert_snapshot!("role", rbac::role_yaml("platform"));
}

#[tokio::test]
async fn the_secret_reader_never_shows_a_secret_value() {
    let d = ApiDouble::new();
    let mut not_text = vec![0xff];
    not_text.extend_from_slice(PLANTED.as_bytes());
    d.insert(secret_object(
        "backup-s3",
        &[("ACCESS_KEY_ID", PLANTED.as_bytes()), ("bin", &not_text)],
    ));
    // An answer that does not decode: a value that is not base64 (serde would quote it).
    d.insert(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "garbled"},
        "data": {"ACCESS_KEY_ID": format!("{PLANTED}!")}}),
    );
    let reader = KubeSecretReader::new(scope(&d));
    let key = |name: &str, key: &str| {
        cnpg_backup_core::target::SecretRef::new(name.parse().unwrap(), key.to_owned())
    };
    let shown = |text: String| {
        assert!(!text.contains(PLANTED), "{text}");
        assert!(!text.contains("planted"), "{text}");
        text
    };

    let value = reader
        .read(&key("backup-s3", "ACCESS_KEY_ID"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&value), PLANTED);
    shown(format!("{value:?}"));
    shown(format!("{reader:?}"));

    let e = reader.read(&key("backup-s3", "bin")).await.unwrap_err();
    assert!(matches!(e, BackendError::Invalid { .. }), "{e:?}");
    shown(format!("{e} {e:?}"));

    let e = reader
        .read(&key("garbled", "ACCESS_KEY_ID"))
        .await
        .unwrap_err();
    assert!(matches!(e, BackendError::Invalid { .. }), "{e:?}");
    assert!(shown(format!("{e} {e:?}")).contains("did not decode as a Secret"));

    // Through the credential resolution the bucket probe uses: a missing key, a missing secret.
    let mut target = settings("plugin", true, "both").target;
    let e = resolve_credentials(&target, &reader).await.unwrap_err();
    assert!(
        matches!(&e, CredentialError::MissingKey { key, .. } if key == "ACCESS_SECRET_KEY"),
        "{e:?}"
    );
    shown(format!("{e} {e:?}"));
    target.credentials = serde_json::from_value(json!({"kind": "s3_access_key",
        "access_key_id": {"name": "garbled", "key": "ACCESS_KEY_ID"},
        "secret_access_key": {"name": "absent", "key": "k"}}))
    .unwrap();
    let e = resolve_credentials(&target, &reader).await.unwrap_err();
    shown(format!("{e} {e:?} {:?}", std::error::Error::source(&e)));

    // Every call was a single `get secrets/<name>` (no retry of a 4xx, nothing else).
    assert!(d.requests().iter().all(|r| r.verb() == "get"
        && r.resource() == "secrets"
        && rbac::allows(r.group(), "secrets", "get")));
}

// ---------------------------------------------------------------- rendered objects

fn yaml<T: serde::Serialize>(v: &T) -> String {
    serde_saphyr::to_string(v).unwrap()
}

/// Every automation object we render: (snapshot name, plural, the object as the API server
/// would store it, the YAML we send). A Cluster patch names only our fields, so it is checked
/// merged into a live cluster.
fn rendered_automation_objects() -> Vec<(String, &'static str, Value, String)> {
    let mut out = Vec::new();
    for method in ["barman_object_store", "plugin"] {
        let plan = automation_plan(method, true, "admin");
        let p = &plan.planes[0];
        let sb = render_scheduled_backup(p, p.scheduled_backup.as_ref().unwrap(), NAMESPACE);
        out.push((
            format!("scheduled_backup_{method}"),
            "scheduledbackups",
            serde_json::to_value(&sb).unwrap(),
            yaml(&sb),
        ));
        let patch = render_cluster_backup(p, NAMESPACE).unwrap();
        let mut merged = live_cluster("pg-admin");
        let pv = serde_json::to_value(&patch).unwrap();
        for key in ["backup", "plugins"] {
            if let Some(v) = pv["spec"].get(key) {
                if key == "backup" {
                    merged["spec"]["backup"]["barmanObjectStore"] = v["barmanObjectStore"].clone();
                    merged["spec"]["backup"]["retentionPolicy"] = v["retentionPolicy"].clone();
                } else {
                    merged["spec"][key] = v.clone();
                }
            }
        }
        out.push((
            format!("cluster_backup_patch_{method}"),
            "clusters",
            merged,
            yaml(&patch),
        ));
        if method == "plugin" {
            let store = render_object_store(p, NAMESPACE).unwrap();
            out.push((
                "object_store".to_owned(),
                "objectstores",
                serde_json::to_value(&store).unwrap(),
                yaml(&store),
            ));
        }
    }
    let backup = render_backup(
        &request(
            "pg-admin-now-20261126101500",
            Plane::Admin,
            "pg-admin",
            "20261126101500",
        ),
        NAMESPACE,
        "pg-admin",
    );
    out.push((
        "backup_now".to_owned(),
        "backups",
        serde_json::to_value(&backup).unwrap(),
        yaml(&backup),
    ));
    out
}

#[test]
fn rendered_automation_objects_match_their_snapshots() {
    for (name, _, _, yaml) in rendered_automation_objects() {
        insta::assert_snapshot!(name, yaml);
    }
}

#[test]
#[cfg_attr(
    not(crds),
    ignore = "needs the CNPG CRDs: set CNPG_BACKUP_CRDS_DIR or put them in ../shared/cnpg-crds"
)]
fn rendered_automation_objects_match_their_crds() {
    for (_, plural, object, _) in rendered_automation_objects() {
        assert_valid(plural, &object);
    }
}

/// The recovery clusters we render: in-tree from a named backup (temporary), plugin to a
/// point in time (a recreated live cluster); (snapshot name, object, the YAML we send).
fn rendered_recovery_clusters() -> Vec<(&'static str, Value, String)> {
    let mut in_tree = live_cluster("pg-admin");
    in_tree["spec"]["backup"]["barmanObjectStore"] = fixture("01-ssa-create-cluster-201.json")
        ["response"]["body"]["spec"]["backup"]["barmanObjectStore"]
        .clone();
    in_tree["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    let base = cnpg_backup_core::ports::ClusterManifest(in_tree);
    let spec = spec_for(
        "pg-admin-r-r1",
        Plane::Admin,
        "r1",
        "pg-admin",
        named_target(),
        "barman_object_store",
        false,
    );
    let named = render_recovery_cluster(&base, &spec, NAMESPACE).unwrap();

    let mut plugin = live_cluster("pg-tenant");
    plugin["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    plugin["spec"]["plugins"] = json!([{"name": "barman-cloud.cloudnative-pg.io",
        "isWALArchiver": true, "parameters": {"barmanObjectName": "pg-tenant-store",
        "serverName": "pg-tenant"}}]);
    let base = cnpg_backup_core::ports::ClusterManifest(plugin);
    let pitr = render_recovery_cluster(&base, &pitr_spec(), NAMESPACE).unwrap();
    vec![
        (
            "recovery_in_tree_named",
            serde_json::to_value(&named).unwrap(),
            yaml(&named),
        ),
        (
            "recovery_plugin_pitr",
            serde_json::to_value(&pitr).unwrap(),
            yaml(&pitr),
        ),
    ]
}

fn pitr_spec() -> RecoveryClusterSpec {
    spec_for(
        "pg-tenant",
        Plane::Tenant,
        "r1",
        "pg-tenant",
        json!({"kind": "point_in_time", "target_time": "2026-11-26T04:30:00Z"}),
        "plugin",
        true,
    )
}

#[test]
fn recovery_clusters_match_their_snapshots() {
    let rendered = rendered_recovery_clusters();
    for (name, _, yaml) in &rendered {
        insta::assert_snapshot!(*name, yaml);
    }
    let pitr = &rendered[1].1;
    assert_eq!(pitr["spec"]["bootstrap"]["recovery"]["database"], "app");
    assert!(pitr["spec"]["bootstrap"].get("initdb").is_none());

    // No archive configuration of the method: a clear refusal.
    let bare = cnpg_backup_core::ports::ClusterManifest(live_cluster("pg-admin"));
    let err = render_recovery_cluster(&bare, &pitr_spec(), NAMESPACE).unwrap_err();
    assert!(
        err.to_string().contains("barman-cloud.cloudnative-pg.io"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    not(crds),
    ignore = "needs the CNPG CRDs: set CNPG_BACKUP_CRDS_DIR or put them in ../shared/cnpg-crds"
)]
fn recovery_clusters_match_the_crd() {
    for (_, v, _) in rendered_recovery_clusters() {
        assert_valid("clusters", &v);
    }
}

#[tokio::test]
async fn another_managers_plugin_list_is_a_conflict_and_kept_when_forced() {
    let d = seeded();
    let mut c = d.object("clusters", "pg-admin").unwrap();
    c["spec"]["plugins"] = json!([{"name": "monitoring.example.com", "enabled": true}]);
    c["metadata"]["managedFields"].as_array_mut().unwrap().push(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:plugins": {}}}, "manager": "kubectl-edit",
            "operation": "Update"}),
    );
    d.insert(c);
    let plan = automation_plan("plugin", true, "admin");
    let statuses = KubeBackupAutomation::new(scope(&d))
        .apply(&plan, None)
        .await
        .unwrap();
    let err = statuses[0].error.as_deref().unwrap();
    assert!(
        err.contains("`.spec.plugins` is owned by field manager `kubectl-edit`"),
        "{err}"
    );
    let statuses = KubeBackupAutomation::new(scope(&d))
        .with_force(true)
        .apply(&plan, None)
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    let plugins = d.object("clusters", "pg-admin").unwrap()["spec"]["plugins"].clone();
    assert_eq!(plugins[0]["name"], "monitoring.example.com");
    assert_eq!(plugins[1]["name"], "barman-cloud.cloudnative-pg.io");

    // Back to in-tree: our entry goes, the other plugin stays.
    let statuses = KubeBackupAutomation::new(scope(&d))
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    let live = d.object("clusters", "pg-admin").unwrap();
    assert_eq!(
        live["spec"]["plugins"],
        json!([{"name": "monitoring.example.com", "enabled": true}])
    );
    assert!(live["spec"]["backup"]["barmanObjectStore"].is_object());
    d.clear_requests();
    KubeBackupAutomation::new(scope(&d))
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    assert_eq!(d.writes().len(), 0);
}

#[tokio::test]
async fn our_plugin_entry_keeps_what_the_server_filled_in_and_is_enabled() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    let plan = automation_plan("plugin", true, "admin");
    automation.apply(&plan, None).await.unwrap();
    // The server's default fills `enabled` in: still converged.
    let mut c = d.object("clusters", "pg-admin").unwrap();
    c["spec"]["plugins"][0]["enabled"] = json!(true);
    d.insert(c.clone());
    d.clear_requests();
    automation.apply(&plan, None).await.unwrap();
    assert_eq!(d.writes().len(), 0);

    // Someone disabled the entry and added a parameter: ours is enabled again, theirs kept.
    c["spec"]["plugins"][0]["enabled"] = json!(false);
    c["spec"]["plugins"][0]["parameters"]["customParam"] = json!("x");
    d.insert(c);
    let statuses = automation.apply(&plan, None).await.unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    assert_eq!(
        d.object("clusters", "pg-admin").unwrap()["spec"]["plugins"],
        json!([{"name": "barman-cloud.cloudnative-pg.io", "enabled": true, "isWALArchiver": true,
            "parameters": {"barmanObjectName": "pg-admin-store", "customParam": "x",
                "serverName": "pg-admin"}}])
    );
}

#[tokio::test]
async fn a_clean_one_plane_cutover_is_exactly_five_calls() {
    let d = seeded();
    KubeBackupAutomation::new(scope(&d))
        .apply(&automation_plan("plugin", true, "admin"), None)
        .await
        .unwrap();
    d.clear_requests();
    let lifecycle = KubeClusterLifecycle::new(scope(&d));
    let live = cluster("pg-admin");
    let spec = spec_for(
        "pg-admin",
        Plane::Admin,
        "r7",
        "pg-admin",
        named_target(),
        "plugin",
        true,
    );
    let saved = lifecycle.manifest(&live).await.unwrap();
    lifecycle.delete(&live).await.unwrap();
    assert_eq!(lifecycle.observe(&live).await.unwrap(), None);
    lifecycle.create(&saved, &spec).await.unwrap();
    // The operator would bring it up; the double writes its status.
    d.set_status("clusters", "pg-admin", healthy_status(1));
    assert!(lifecycle.observe(&live).await.unwrap().unwrap().is_ready());
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "delete clusters/pg-admin",
            "get clusters/pg-admin",
            "create clusters",
            "get clusters/pg-admin",
        ]
    );
    let recreated = d.object("clusters", "pg-admin").unwrap();
    assert_eq!(
        recreated["spec"]["externalClusters"][0]["plugin"]["parameters"]["serverName"],
        "pg-admin"
    );
    assert_eq!(
        recreated["spec"]["plugins"][0]["parameters"]["serverName"],
        "pg-admin-r-r7"
    );
    assert_eq!(
        recreated["metadata"]["labels"]["cnpg-backup.io/role"],
        "live"
    );
}

#[tokio::test]
async fn a_cluster_of_ours_still_being_deleted_does_not_count_as_created() {
    let d = seeded();
    let lifecycle = KubeClusterLifecycle::new(scope(&d));
    let live = cluster("pg-tenant");
    let mut base = live_cluster("pg-tenant");
    base["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    base["spec"]["plugins"] = json!([{"name": "barman-cloud.cloudnative-pg.io",
        "isWALArchiver": true, "parameters": {"barmanObjectName": "pg-tenant-store"}}]);
    let saved = cnpg_backup_core::ports::ClusterManifest(base);
    let spec = spec_for(
        "pg-tenant",
        Plane::Tenant,
        "r3",
        "pg-tenant",
        named_target(),
        "plugin",
        true,
    );
    lifecycle.delete(&live).await.unwrap();
    lifecycle.create(&saved, &spec).await.unwrap();
    // A finalizer holds the recreated cluster while it is deleted again.
    let mut c = d.object("clusters", "pg-tenant").unwrap();
    c["metadata"]["finalizers"] = json!(["cnpg.io/test"]);
    d.insert(c);
    lifecycle.delete(&live).await.unwrap();
    let o = lifecycle.observe(&live).await.unwrap().unwrap();
    assert!(o.deleting && !o.is_ready());
    assert_eq!(o.detail.as_deref(), Some("being deleted"));
    let err = lifecycle.create(&saved, &spec).await.unwrap_err();
    assert!(matches!(err, BackendError::AlreadyExists { .. }), "{err:?}");
}

#[tokio::test]
async fn a_renamed_cluster_leaves_no_orphan_schedule() {
    let d = seeded();
    d.insert(live_cluster("pg-admin-v2"));
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("barman_object_store", true, "both"), None)
        .await
        .unwrap();
    let mut renamed = settings("barman_object_store", true, "both");
    renamed.clusters.admin = cluster("pg-admin-v2");
    d.clear_requests();
    let statuses = automation
        .apply(&plan(&renamed).unwrap(), None)
        .await
        .unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
    assert_eq!(admin.cluster.as_str(), "pg-admin-v2");
    assert_eq!(
        admin.writes, 3,
        "cluster, new schedule, old schedule deleted"
    );
    assert_eq!(
        d.names("scheduledbackups"),
        ["pg-admin-v2-cnpg-backup", "pg-tenant-cnpg-backup"]
    );
}

#[tokio::test]
async fn another_wal_archiver_set_by_someone_else_is_refused_before_any_write() {
    let d = seeded();
    let mut c = d.object("clusters", "pg-admin").unwrap();
    c["spec"]["backup"]["barmanObjectStore"] =
        json!({"destinationPath": "s3://theirs/p", "s3Credentials": {"inheritFromIAMRole": true}});
    d.insert(c);
    let mut t = d.object("clusters", "pg-tenant").unwrap();
    t["spec"]["plugins"] = json!([{"name": "barman-cloud.cloudnative-pg.io",
        "isWALArchiver": true, "parameters": {"barmanObjectName": "theirs"}}]);
    d.insert(t);
    let automation = KubeBackupAutomation::new(scope(&d));
    let plugin = automation
        .apply(&automation_plan("plugin", true, "admin"), None)
        .await
        .unwrap();
    let admin = plugin.iter().find(|s| s.plane == Plane::Admin).unwrap();
    assert!(
        admin
            .error
            .as_deref()
            .unwrap()
            .contains("`spec.backup.barmanObjectStore` is set by another manager"),
        "{admin:?}"
    );
    let in_tree = automation
        .apply(
            &automation_plan("barman_object_store", true, "tenant"),
            None,
        )
        .await
        .unwrap();
    let tenant = in_tree.iter().find(|s| s.plane == Plane::Tenant).unwrap();
    assert!(
        tenant
            .error
            .as_deref()
            .unwrap()
            .contains("the Barman Cloud plugin is the WAL archiver"),
        "{tenant:?}"
    );
    assert_eq!(d.writes().len(), 0);
}

// ---------------------------------------------------------------- the core's port contracts

#[tokio::test]
async fn config_map_state_store_passes_the_port_contract() {
    let d = ApiDouble::new();
    cnpg_backup_core::contract::state_store(&ConfigMapStateStore::new(scope(&d))).await;
}

#[tokio::test]
async fn kube_backup_automation_passes_the_port_contract() {
    for method in ["barman_object_store", "plugin"] {
        let d = seeded();
        let plans = [
            automation_plan(method, true, "both"),
            automation_plan(method, false, "both"),
            automation_plan(method, true, "admin"),
            automation_plan(method, true, "both"),
        ];
        cnpg_backup_core::contract::backup_automation(
            &KubeBackupAutomation::new(scope(&d)),
            &plans,
        )
        .await;
    }
}

#[tokio::test]
async fn kube_cluster_lifecycle_passes_the_port_contract() {
    let d = ApiDouble::new();
    let mut live = live_cluster("pg-admin");
    live["spec"]["plugins"] = json!([{"name": "barman-cloud.cloudnative-pg.io",
        "isWALArchiver": true, "parameters": {"barmanObjectName": "pg-admin-store",
        "serverName": "pg-admin"}}]);
    d.insert(live);
    cnpg_backup_core::contract::cluster_lifecycle(
        &KubeClusterLifecycle::new(scope(&d)),
        &cluster("pg-admin"),
        &cluster("contract-free"),
    )
    .await;
    // Every cluster the contract created passed the CRD schema in the double.
    assert!(
        d.requests()
            .iter()
            .any(|r| r.method == "POST" && r.status == 201)
    );
}

// ------------------------------------------- the target no longer used for backups

/// The plan once the target is no longer used for backups (`useForBackups: false`).
fn unused_plan(method: &str, scope: &str) -> AutomationPlan {
    let mut s = settings(method, true, scope);
    s.target.use_for_backups = false;
    let p = plan(&s).unwrap();
    assert_eq!(p.archive_removals.len(), s.automation.scope.planes().len());
    p
}

#[tokio::test]
async fn an_unused_target_takes_our_in_tree_archive_off_then_converges() {
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("barman_object_store", true, "both"), None)
        .await
        .unwrap();
    d.clear_requests();
    let off = unused_plan("barman_object_store", "both");
    let statuses = automation.apply(&off, None).await.unwrap();
    assert!(
        statuses
            .iter()
            .all(|s| s.state == ReconcileState::Ok && s.writes == 2),
        "cluster and schedule: {statuses:?}"
    );
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "patch clusters/pg-admin",
            "get clusters/pg-tenant",
            "patch clusters/pg-tenant",
            "list scheduledbackups",
            "delete scheduledbackups/pg-admin-cnpg-backup",
            "delete scheduledbackups/pg-tenant-cnpg-backup",
            "list objectstores",
        ]
    );
    // The apply names none of our fields any more: the server drops them.
    let body = d.writes()[0].body.clone().unwrap();
    assert!(body.get("spec").is_none(), "{body}");
    assert_eq!(
        d.writes()[0].query.get("fieldManager").map(String::as_str),
        Some("cnpg-backup")
    );
    for c in ["pg-admin", "pg-tenant"] {
        let live = d.object("clusters", c).unwrap();
        assert_eq!(
            live["spec"]["backup"],
            json!({"target": "prefer-standby"}),
            "{c}: WAL archiving stops, the server's default stays"
        );
        assert_eq!(live["spec"]["instances"], 1, "other managers' fields stay");
    }
    assert!(d.names("scheduledbackups").is_empty());

    d.clear_requests();
    let statuses = automation.apply(&off, None).await.unwrap();
    assert!(statuses.iter().all(|s| s.writes == 0), "{statuses:?}");
    assert_eq!(d.writes().len(), 0, "converged");
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "get clusters/pg-tenant",
            "list scheduledbackups",
            "list objectstores",
        ]
    );
}

#[tokio::test]
async fn an_unused_target_takes_only_our_plugin_entry_off_and_deletes_our_stores() {
    let d = seeded();
    // Another plugin on the admin cluster, taken over (kept) by a forced apply.
    let mut c = d.object("clusters", "pg-admin").unwrap();
    c["spec"]["plugins"] = json!([{"name": "monitoring.example.com", "enabled": true}]);
    c["metadata"]["managedFields"].as_array_mut().unwrap().push(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:plugins": {}}}, "manager": "kubectl-edit",
            "operation": "Update"}),
    );
    d.insert(c);
    let automation = KubeBackupAutomation::new(scope(&d));
    KubeBackupAutomation::new(scope(&d))
        .with_force(true)
        .apply(&automation_plan("plugin", true, "both"), None)
        .await
        .unwrap();
    // The server's default fills `enabled` into our entry.
    let mut t = d.object("clusters", "pg-tenant").unwrap();
    t["spec"]["plugins"][0]["enabled"] = json!(true);
    d.insert(t);
    d.clear_requests();

    let off = unused_plan("plugin", "both");
    let statuses = automation.apply(&off, None).await.unwrap();
    assert!(
        statuses
            .iter()
            .all(|s| s.state == ReconcileState::Ok && s.writes == 3),
        "cluster, schedule, store: {statuses:?}"
    );
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "patch clusters/pg-admin",
            "get clusters/pg-tenant",
            "patch clusters/pg-tenant",
            "list scheduledbackups",
            "delete scheduledbackups/pg-admin-cnpg-backup",
            "delete scheduledbackups/pg-tenant-cnpg-backup",
            "list objectstores",
            "list clusters",
            "delete objectstores/pg-admin-store",
            "delete objectstores/pg-tenant-store",
        ]
    );
    assert!(d.writes().iter().all(|w| !w.query.contains_key("force")));
    let admin = d.object("clusters", "pg-admin").unwrap();
    assert_eq!(
        admin["spec"]["plugins"],
        json!([{"name": "monitoring.example.com", "enabled": true}]),
        "the other plugin stays"
    );
    let tenant = d.object("clusters", "pg-tenant").unwrap();
    assert!(tenant["spec"].get("plugins").is_none(), "{tenant}");
    assert!(d.names("objectstores").is_empty());

    d.clear_requests();
    automation.apply(&off, None).await.unwrap();
    assert_eq!(d.writes().len(), 0, "converged");
    assert_eq!(
        shorts(&d.requests()),
        [
            "get clusters/pg-admin",
            "get clusters/pg-tenant",
            "list scheduledbackups",
            "list objectstores",
        ]
    );
}

#[tokio::test]
async fn archive_configuration_another_manager_owns_is_a_conflict_not_a_removal() {
    // In-tree: platform-ops co-owns the destination; removing our claim would change nothing.
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("barman_object_store", true, "admin"), None)
        .await
        .unwrap();
    let mut c = d.object("clusters", "pg-admin").unwrap();
    c["metadata"]["managedFields"].as_array_mut().unwrap().push(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:backup": {"f:barmanObjectStore": {"f:destinationPath": {}}}}},
            "manager": "platform-ops", "operation": "Update"}),
    );
    d.insert(c);
    d.clear_requests();
    let statuses = automation
        .apply(&unused_plan("barman_object_store", "admin"), None)
        .await
        .unwrap();
    let admin = statuses.iter().find(|s| s.plane == Plane::Admin).unwrap();
    assert_eq!(admin.state, ReconcileState::Error);
    let err = admin.error.as_deref().unwrap();
    assert!(
        err.contains("`.spec.backup.barmanObjectStore` is owned by field manager `platform-ops`")
            && err.contains("WAL archiving goes on"),
        "{err}"
    );
    assert_eq!(
        shorts(&d.writes()),
        ["delete scheduledbackups/pg-admin-cnpg-backup"],
        "the Cluster is not written"
    );
    assert!(
        d.object("clusters", "pg-admin").unwrap()["spec"]["backup"]["barmanObjectStore"]
            .is_object()
    );

    // Plugin: kubectl-edit co-owns the list; forced, the list is taken over without our entry.
    let d = seeded();
    let automation = KubeBackupAutomation::new(scope(&d));
    automation
        .apply(&automation_plan("plugin", true, "admin"), None)
        .await
        .unwrap();
    let mut c = d.object("clusters", "pg-admin").unwrap();
    c["metadata"]["managedFields"].as_array_mut().unwrap().push(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:plugins": {}}}, "manager": "kubectl-edit",
            "operation": "Update"}),
    );
    d.insert(c);
    d.clear_requests();
    let off = unused_plan("plugin", "admin");
    let statuses = automation.apply(&off, None).await.unwrap();
    let err = statuses[0].error.as_deref().unwrap();
    assert!(
        err.contains("`.spec.plugins` is owned by field manager `kubectl-edit`"),
        "{err}"
    );
    assert!(
        !shorts(&d.writes()).iter().any(|w| w.contains("clusters")),
        "{:?}",
        shorts(&d.writes())
    );
    assert_eq!(
        d.names("objectstores"),
        ["pg-admin-store"],
        "still referenced"
    );

    let forced = KubeBackupAutomation::new(scope(&d)).with_force(true);
    d.clear_requests();
    let statuses = forced.apply(&off, None).await.unwrap();
    assert!(
        statuses.iter().all(|s| s.state == ReconcileState::Ok),
        "{statuses:?}"
    );
    assert_eq!(
        shorts(&d.writes()),
        [
            "patch clusters/pg-admin",
            "delete objectstores/pg-admin-store"
        ]
    );
    assert_eq!(
        d.object("clusters", "pg-admin").unwrap()["spec"]["plugins"],
        json!([])
    );
    d.clear_requests();
    forced.apply(&off, None).await.unwrap();
    assert_eq!(d.writes().len(), 0, "converged");
}
