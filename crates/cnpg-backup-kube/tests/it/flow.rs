//! The README's "On a real cluster" flow, command by command, as the CLI runs it: the core's
//! services over the kube adapters (the preflight's credentials read from Secrets), on the API
//! double bound to the Role `cnpg-backup rbac` prints and to nothing else, for both methods.
//!
//! Between the commands the test plays CNPG's part (scheduled Backups appear, Backups complete
//! and write their `backup.info` into the bucket, clusters become ready); the S3 test server is
//! the bucket. Every request must be allowed; each step's requests and writes are counted (run
//! with `--nocapture` to see them), and the converged reconcile's writes are asserted: nothing
//! but the reconcile-status record.
//!
//! Without the S3 test servers these tests print why they skip (and fail under `CI=true`), as
//! every S3 test does.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use cnpg_backup_apidouble::{ApiDouble, NAMESPACE, Recorded};
use cnpg_backup_core::automation::BackupSettings;
use cnpg_backup_core::barman;
use cnpg_backup_core::catalog::{BackupPhase, StoragePresence};
use cnpg_backup_core::drift::{AppVersion, VersionPolicy};
use cnpg_backup_core::memory::SimClock;
use cnpg_backup_core::names::{ClusterName, Plane};
use cnpg_backup_core::ports::{
    BackupAutomation, BackupCatalogSource, BucketObjects, BucketProbe, Clock, ClusterLifecycle,
    PreflightOptions, StateStore,
};
use cnpg_backup_core::restore::{
    AfterSuccess, PlaneSource, RestorePhase, RestoreRecord, RestoreRequest, STAGE_ONE_ACK,
    STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};
use cnpg_backup_core::service::{BackupService, CatalogScope, RestoreService};
use cnpg_backup_core::status::{PreflightState, ReconcileState};
use cnpg_backup_kube::secrets::KubeSecretReader;
use cnpg_backup_kube::storage::{
    ObjectStoreBucketObjects, ObjectStoreBucketProbe, ProbeOptions, ResolvedCredentials,
    SecretCredentials, StoreOptions, build_store,
};
use cnpg_backup_kube::{
    ConfigMapStateStore, KubeBackupAutomation, KubeBackupCatalog, KubeClusterLifecycle, KubeScope,
    RetryPolicy,
};
use serde_json::json;

use crate::api::{
    granted_verbs, healthy_status, live_cluster, printed_role, secret_object, used_verbs,
};
use crate::storage::{S3Env, fixture_info, s3_env, unique_prefix};

type Backups = BackupService<
    dyn BackupAutomation,
    dyn BackupCatalogSource,
    dyn BucketProbe,
    dyn StateStore,
    dyn Clock,
>;
type Restores = RestoreService<
    dyn ClusterLifecycle,
    dyn BackupCatalogSource,
    dyn BucketProbe,
    dyn StateStore,
    dyn Clock,
>;

const ADMIN: &str = "cnpg-admin";
const TENANT: &str = "cnpg-tenant";

/// The platform's namespace, the services the CLI wires, and what the test observed.
struct Flow {
    d: ApiDouble,
    method: &'static str,
    settings: BackupSettings,
    version: AppVersion,
    clock: Arc<SimClock>,
    backups: Backups,
    restores: Restores,
    bucket: ObjectStoreBucketObjects,
    /// Every request of every step.
    all: Vec<Recorded>,
    /// (step, requests, writes), for the report.
    counts: Vec<(String, usize, usize)>,
}

fn settings(env: &S3Env, prefix: &str, method: &str) -> BackupSettings {
    serde_json::from_value(json!({
        "target": {
            "provider": "s3_compatible",
            "endpoint": env.endpoint,
            "bucket": env.bucket,
            "region": "us-east-1",
            "prefix": prefix,
            "credentials": {
                "kind": "s3_access_key",
                "access_key_id": {"name": "backup-s3", "key": "ACCESS_KEY_ID"},
                "secret_access_key": {"name": "backup-s3", "key": "ACCESS_SECRET_KEY"}
            }
        },
        "automation": {
            "enabled": true,
            "schedule": {"preset": "daily", "hour": 2, "minute": 30},
            "retention": "30d",
            "scope": "both",
            "method": method
        },
        "appVersion": {"kind": "fixed", "version": "1.4.2"}
    }))
    .unwrap()
}

fn cluster(name: &str) -> ClusterName {
    name.parse().unwrap()
}

impl Flow {
    /// The platform's two live clusters (healthy, no backup configuration), the Secret the
    /// target references, and the printed Role bound to the identity the adapters use.
    fn new(env: &S3Env, method: &'static str, test: &str) -> Self {
        let d = ApiDouble::new();
        for c in [ADMIN, TENANT] {
            d.insert(live_cluster(c));
            d.set_status("clusters", c, healthy_status(1));
        }
        d.insert(secret_object(
            "backup-s3",
            &[
                ("ACCESS_KEY_ID", env.access_key_id.as_bytes()),
                ("ACCESS_SECRET_KEY", env.secret_access_key.as_bytes()),
            ],
        ));
        d.bind_role(printed_role());

        let prefix = unique_prefix(&format!("{test}-{method}"));
        let settings = settings(env, &prefix, method);
        let scope = KubeScope::new(d.client(), NAMESPACE).with_retry(RetryPolicy::new(
            3,
            Duration::ZERO,
            Duration::ZERO,
        ));
        // As the CLI's kube backend wires them.
        let lifecycle: Arc<dyn ClusterLifecycle> =
            Arc::new(KubeClusterLifecycle::new(scope.clone()));
        let automation: Arc<dyn BackupAutomation> =
            Arc::new(KubeBackupAutomation::new(scope.clone()));
        let catalog: Arc<dyn BackupCatalogSource> = Arc::new(KubeBackupCatalog::new(scope.clone()));
        let state: Arc<dyn StateStore> = Arc::new(ConfigMapStateStore::new(scope.clone()));
        let probe: Arc<dyn BucketProbe> = Arc::new(ObjectStoreBucketProbe::new(
            Arc::new(SecretCredentials::new(KubeSecretReader::new(scope))),
            ProbeOptions::default(),
        ));
        let clock = Arc::new(SimClock::new(
            Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap(),
        ));
        let k: Arc<dyn Clock> = clock.clone();
        let backups = BackupService::new(
            automation,
            catalog.clone(),
            probe.clone(),
            state.clone(),
            k.clone(),
        );
        let restores = RestoreService::new(lifecycle, catalog, probe, state, k);
        let creds = ResolvedCredentials::s3_access_key(
            env.access_key_id.clone().into(),
            env.secret_access_key.clone().into(),
            None,
        );
        let bucket = ObjectStoreBucketObjects::new(
            build_store(&settings.target, &creds, &StoreOptions::default()).unwrap(),
        );
        Self {
            d,
            method,
            settings,
            version: "1.4.2".parse().unwrap(),
            clock,
            backups,
            restores,
            bucket,
            all: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Ends a step: nothing was refused; its requests are counted and kept.
    fn step(&mut self, label: &str) -> Vec<Recorded> {
        let reqs = self.d.requests();
        self.d.clear_requests();
        let refused: Vec<String> = reqs
            .iter()
            .filter(|r| r.status == 403 || r.status == 401)
            .map(|r| format!("{} ({:?}): {}", r.short(), r.verbs(), r.answer["message"]))
            .collect();
        assert!(
            refused.is_empty(),
            "{}: {label}: refused under the printed Role: {refused:#?}",
            self.method
        );
        let writes = reqs.iter().filter(|r| r.is_write()).count();
        self.counts.push((label.to_owned(), reqs.len(), writes));
        self.all.extend(reqs.iter().cloned());
        reqs
    }

    /// `cnpg-backup -c FILE reconcile`: save the settings, then reconcile.
    async fn reconcile(&mut self, label: &str) -> Vec<Recorded> {
        self.backups.save_settings(&self.settings).await.unwrap();
        let status = self.backups.reconcile(Some(&self.version)).await.unwrap();
        assert_eq!(
            status.state,
            ReconcileState::Ok,
            "{}: {label}: {status:?}",
            self.method
        );
        self.step(label)
    }

    /// The server CNPG writes a backup of `cluster` to, from the Cluster as stored.
    fn cnpg_server(&self, c: &str) -> String {
        let obj = self.d.object("clusters", c).unwrap();
        let configured = if self.method == "plugin" {
            obj["spec"]["plugins"]
                .as_array()
                .and_then(|ps| {
                    ps.iter()
                        .find(|p| p["name"] == "barman-cloud.cloudnative-pg.io")
                })
                .map(|p| p["parameters"]["serverName"].clone())
        } else {
            Some(obj["spec"]["backup"]["barmanObjectStore"]["serverName"].clone())
        };
        configured
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| c.to_owned())
    }

    fn cnpg_method(&self) -> &'static str {
        if self.method == "plugin" {
            "plugin"
        } else {
            "barmanObjectStore"
        }
    }

    /// CNPG's ScheduledBackup controller makes a Backup at `stamp` (`YYYYMMDDHHMMSS`).
    fn cnpg_schedules(&self, c: &str, stamp: &str) -> String {
        let name = format!("{c}-cnpg-backup-{stamp}");
        let mut b = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": {"name": name, "labels": {"cnpg.io/cluster": c,
                "cnpg.io/immediateBackup": "false",
                "cnpg.io/scheduled-backup": format!("{c}-cnpg-backup")}},
            "spec": {"cluster": {"name": c}, "method": self.cnpg_method()}});
        if self.method == "plugin" {
            b["spec"]["pluginConfiguration"] = json!({"name": "barman-cloud.cloudnative-pg.io"});
        }
        self.d.insert(b);
        name
    }

    /// CNPG completes Backup `name` of cluster `c` as `id`: its files land in the bucket, its
    /// status says so (with the server name only for in-tree Backups, as CNPG does).
    async fn cnpg_completes(&self, name: &str, c: &str, id: &str) {
        let server = self.cnpg_server(c);
        let key = barman::backup_info_key(
            &self.settings.target.prefix,
            &server.parse().unwrap(),
            &id.parse().unwrap(),
        );
        self.bucket
            .put(&key, fixture_info("cnpg-admin", "20261126T045007"))
            .await
            .unwrap();
        let (date, time) = id.split_once('T').unwrap();
        let at = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &date[..4],
            &date[4..6],
            &date[6..8],
            &time[..2],
            &time[2..4],
            &time[4..6]
        );
        let mut status = json!({"phase": "completed", "backupId": id, "startedAt": at,
            "stoppedAt": at, "method": self.cnpg_method(), "online": true});
        if self.method != "plugin" {
            status["serverName"] = json!(server);
        } else {
            status["pluginMetadata"] = json!({"timeline": "1"});
        }
        self.d.set_status("backups", name, status);
    }

    /// CNPG brings a cluster up.
    fn cnpg_ready(&self, c: &str) {
        self.d.set_status("clusters", c, healthy_status(1));
    }

    async fn create(&mut self, id: &str, request: &RestoreRequest, label: &str) -> RestoreRecord {
        let ack = StageOneAck::verify(STAGE_ONE_ACK).unwrap();
        let r = self
            .restores
            .create(
                &id.parse().unwrap(),
                request,
                Some(&self.version),
                &ack,
                Some("test".into()),
            )
            .await
            .unwrap();
        self.step(label);
        r
    }

    async fn refresh(&mut self, id: &str, label: &str) -> RestoreRecord {
        let r = self.restores.refresh(&id.parse().unwrap()).await.unwrap();
        self.step(label);
        r
    }

    fn report(&self) {
        eprintln!("== {} method, under the printed Role only", self.method);
        for (label, reqs, writes) in &self.counts {
            eprintln!("{reqs:>4} requests {writes:>3} writes  {label}");
        }
    }
}

fn shorts(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter().map(Recorded::short).collect()
}

fn writes(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.is_write())
        .map(Recorded::short)
        .collect()
}

/// Backup side: reconcile (first run and rerun), preflight, status, CNPG's scheduled backups
/// tagged, backup now, catalog.
async fn backup_side(f: &mut Flow) -> (String, String, String, String) {
    let m = f.method;
    let first = f.reconcile("reconcile (first run)").await;
    let expected_first: &[&str] = if m == "plugin" {
        &[
            "create configmaps",
            "patch objectstores/cnpg-admin-store",
            "patch clusters/cnpg-admin",
            "patch scheduledbackups/cnpg-admin-cnpg-backup",
            "patch objectstores/cnpg-tenant-store",
            "patch clusters/cnpg-tenant",
            "patch scheduledbackups/cnpg-tenant-cnpg-backup",
            "create configmaps",
        ]
    } else {
        &[
            "create configmaps",
            "patch clusters/cnpg-admin",
            "patch scheduledbackups/cnpg-admin-cnpg-backup",
            "patch clusters/cnpg-tenant",
            "patch scheduledbackups/cnpg-tenant-cnpg-backup",
            "create configmaps",
        ]
    };
    assert_eq!(writes(&first), expected_first, "{m}: first reconcile");
    let creates: Vec<String> = first
        .iter()
        .filter(|r| r.verb() == "patch" && r.verbs().contains(&"create"))
        .map(Recorded::short)
        .collect();
    assert_eq!(
        creates.len(),
        if m == "plugin" { 4 } else { 2 },
        "{m}: applies that created their object, authorized as create: {creates:?}"
    );

    // Issue 9: a converged reconcile rewrites neither a CNPG object nor the settings; only the
    // reconcile-status record (its last-reconcile time), once.
    f.clock.advance(chrono::Duration::minutes(5));
    let rerun = f.reconcile("reconcile (rerun, nothing changed)").await;
    assert_eq!(
        writes(&rerun),
        ["update configmaps/cnpg-backup-reconcile-status"],
        "{m}: {:?}",
        shorts(&rerun)
    );

    let live_servers = [ADMIN, TENANT]
        .iter()
        .map(|c| f.settings.target.server_name_for(&cluster(c)))
        .collect();
    let report = f
        .backups
        .preflight(&PreflightOptions::new(false, Vec::new(), live_servers))
        .await
        .unwrap();
    assert_ne!(report.state, PreflightState::Failed, "{m}: {report:#?}");
    let pre = f.step("preflight");
    assert!(
        pre.iter().any(|r| r.short() == "get secrets/backup-s3"),
        "{m}: the credentials come from the Secret: {:?}",
        shorts(&pre)
    );

    assert_eq!(
        f.backups.reconcile_status().await.unwrap().state,
        ReconcileState::Ok
    );
    f.step("status");

    // 02:30: CNPG's ScheduledBackups fire; the next reconcile tags what they made.
    f.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 26, 2, 35, 0).unwrap());
    let mut scheduled = Vec::new();
    for c in [ADMIN, TENANT] {
        let name = f.cnpg_schedules(c, "20261126023000");
        f.cnpg_completes(&name, c, "20261126T023001").await;
        scheduled.push(name);
    }
    let tagging = f.reconcile("reconcile (tags the scheduled Backups)").await;
    assert_eq!(
        writes(&tagging),
        [
            "patch backups/cnpg-admin-cnpg-backup-20261126023000",
            "patch backups/cnpg-tenant-cnpg-backup-20261126023000",
            "update configmaps/cnpg-backup-reconcile-status",
        ],
        "{m}"
    );

    f.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap());
    let made = f.backups.backup_now(Some(&f.version)).await.unwrap();
    f.step("backup now");
    assert_eq!(made.len(), 2);
    for r in &made {
        f.cnpg_completes(r.name.as_str(), r.cluster.as_str(), "20261126T030001")
            .await;
    }

    let rows = f
        .backups
        .catalog(
            CatalogScope::Both,
            Some(&f.version),
            VersionPolicy::default(),
        )
        .await
        .unwrap();
    let listing = f.step("catalog");
    assert!(writes(&listing).is_empty(), "{m}: a catalog only reads");
    assert_eq!(rows.len(), 4, "{m}");
    for row in &rows {
        let r = &row.record;
        assert_eq!(r.phase, BackupPhase::Completed, "{m}: {}", r.name);
        assert_eq!(
            r.server_name.as_ref().map(|s| s.to_string()),
            Some(r.cluster.to_string()),
            "{m}: {}: every completed backup says where it is in the bucket",
            r.name
        );
        assert_eq!(r.storage, StoragePresence::Present, "{m}: {}", r.name);
        assert!(row.is_ready(), "{m}: {}: {:?}", r.name, row.not_ready);
    }
    let (sched_admin, sched_tenant) = (scheduled[0].clone(), scheduled[1].clone());
    (
        made[0].name.to_string(),
        made[1].name.to_string(),
        sched_admin,
        sched_tenant,
    )
}

/// Restore side: plan, create, status, apply to completion (full mode); reconcile after it;
/// abandon; keep and clean up; a retryable failure retried.
async fn restore_side(f: &mut Flow, now_admin: &str, now_tenant: &str, sched_admin: &str) {
    let m = f.method;
    let full = RestoreRequest::full_from_backups(
        cluster("drill"),
        now_admin.parse().unwrap(),
        now_tenant.parse().unwrap(),
    );
    let plan = f
        .restores
        .plan(&"drill".parse().unwrap(), &full, Some(&f.version))
        .await
        .unwrap();
    assert_eq!(plan.creates.len(), 2);
    let planning = f.step("restore plan");
    assert!(writes(&planning).is_empty(), "{m}: a plan only reads");

    let r = f.create("drill", &full, "restore create").await;
    assert!(
        matches!(
            r.phase(),
            RestorePhase::RecoveryRequested | RestorePhase::Provisioning
        ),
        "{m}: {:?}",
        r.phase()
    );
    for c in ["drill-admin", "drill-tenant"] {
        f.cnpg_ready(c);
    }
    let r = f.refresh("drill", "restore status").await;
    assert_eq!(*r.phase(), RestorePhase::ReadyForPromotionChecks, "{m}");

    let ack = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
    let r = f
        .restores
        .apply(&"drill".parse().unwrap(), &ack, Some("test".into()))
        .await
        .unwrap();
    let cutover = f.step("restore apply");
    assert_eq!(*r.phase(), RestorePhase::Cutover, "{m}");
    for c in [ADMIN, TENANT] {
        assert!(
            cutover
                .iter()
                .any(|q| q.short() == format!("delete clusters/{c}")),
            "{m}: {:?}",
            shorts(&cutover)
        );
        f.cnpg_ready(c);
    }
    let r = f
        .refresh("drill", "restore status (completes, cleans up)")
        .await;
    assert_eq!(
        *r.phase(),
        RestorePhase::Completed,
        "{m}: {:?}",
        r.last_error()
    );
    assert!(f.d.object("clusters", "drill-admin").is_none());
    let adopted = f.backups.settings().await.unwrap();
    assert_eq!(
        adopted.archive_server(Plane::Admin).as_str(),
        "cnpg-admin-r-drill",
        "{m}"
    );
    f.step("settings after the restore");

    // The same settings file again: the recorded archive servers stay, the recreated clusters
    // are taken over without a conflict, then it converges.
    f.reconcile("reconcile after the restore").await;
    let rerun = f.reconcile("reconcile after the restore (rerun)").await;
    assert_eq!(
        writes(&rerun),
        ["update configmaps/cnpg-backup-reconcile-status"],
        "{m}"
    );
    assert_eq!(f.restores.list().await.unwrap().len(), 1);
    f.step("restore list");

    // Stop before the cutover: abandon removes the recovery cluster.
    let single = RestoreRequest::single(
        Plane::Admin,
        cluster("probe-admin"),
        PlaneSource::Backup {
            backup: sched_admin.parse().unwrap(),
        },
    );
    f.create("probe", &single, "restore create (to abandon)")
        .await;
    let r = f
        .restores
        .abandon(&"probe".parse().unwrap(), Some("test".into()))
        .await
        .unwrap();
    f.step("restore abandon");
    assert_eq!(*r.phase(), RestorePhase::Abandoned, "{m}");
    assert!(f.d.object("clusters", "probe-admin").is_none());

    // A cluster that is not ready in time fails the restore, retryably; once fixed, retry.
    let mut late = RestoreRequest::single(
        Plane::Admin,
        cluster("late-admin"),
        PlaneSource::Backup {
            backup: now_admin.parse().unwrap(),
        },
    );
    late.ready_timeout_minutes = 1;
    f.create("late", &late, "restore create (too slow)").await;
    f.clock.advance(chrono::Duration::minutes(2));
    let r = f.refresh("late", "restore status (times out)").await;
    assert!(
        matches!(
            r.phase(),
            RestorePhase::Failed {
                retryable: true,
                ..
            }
        ),
        "{m}: {:?}",
        r.phase()
    );
    f.cnpg_ready("late-admin");
    let r = f
        .restores
        .retry(&"late".parse().unwrap(), Some("test".into()))
        .await
        .unwrap();
    f.step("restore retry");
    assert!(
        !matches!(r.phase(), RestorePhase::Failed { .. }),
        "{m}: {:?}",
        r.phase()
    );
    let r = f.refresh("late", "restore status (after retry)").await;
    assert_eq!(*r.phase(), RestorePhase::ReadyForPromotionChecks, "{m}");
    f.restores
        .abandon(&"late".parse().unwrap(), Some("test".into()))
        .await
        .unwrap();
    f.step("restore abandon (after retry)");

    // Keep the recovery cluster, complete, then clean it up.
    let mut keep = RestoreRequest::single(
        Plane::Tenant,
        cluster("keep-tenant"),
        PlaneSource::Backup {
            backup: now_tenant.parse().unwrap(),
        },
    );
    keep.after_success = AfterSuccess::Keep;
    f.create("keep", &keep, "restore create (keep)").await;
    f.cnpg_ready("keep-tenant");
    f.refresh("keep", "restore status (keep)").await;
    let ack = StageTwoAck::verify(STAGE_TWO_ACK).unwrap();
    f.restores
        .apply(&"keep".parse().unwrap(), &ack, Some("test".into()))
        .await
        .unwrap();
    f.step("restore apply (keep)");
    f.cnpg_ready(TENANT);
    let r = f.refresh("keep", "restore status (keep, completes)").await;
    assert_eq!(*r.phase(), RestorePhase::Completed, "{m}");
    assert!(f.d.object("clusters", "keep-tenant").is_some(), "kept");
    let r = f
        .restores
        .cleanup(&"keep".parse().unwrap(), Some("test".into()))
        .await
        .unwrap();
    f.step("restore cleanup");
    assert_eq!(*r.phase(), RestorePhase::Completed, "{m}");
    assert!(f.d.object("clusters", "keep-tenant").is_none(), "{m}");
}

async fn whole_flow(method: &'static str) {
    let test = "readme_flow";
    let Some(env) = s3_env(test) else {
        return;
    };
    let mut f = Flow::new(&env, method, test);
    let (now_admin, now_tenant, sched_admin, _) = backup_side(&mut f).await;
    restore_side(&mut f, &now_admin, &now_tenant, &sched_admin).await;
    f.report();
    let used = used_verbs(&f.all);
    let granted = granted_verbs(cnpg_backup_kube::rbac::RULES);
    assert!(
        used.is_subset(&granted),
        "{method}: {:?}",
        used.difference(&granted)
    );
    let unused: BTreeSet<_> = granted.difference(&used).collect();
    eprintln!("{method}: verbs of the Role this flow did not need: {unused:?}");
}

#[tokio::test]
async fn the_readme_flow_runs_under_the_printed_role_with_the_plugin() {
    whole_flow("plugin").await;
}

#[tokio::test]
async fn the_readme_flow_runs_under_the_printed_role_in_tree() {
    whole_flow("barman_object_store").await;
}

/// `useForBackups: false`: our schedules, our archive configuration and (plugin) our
/// ObjectStores go, under the printed Role; then it converges.
async fn archive_removal(method: &'static str) {
    let test = "archive_removal";
    let Some(env) = s3_env(test) else {
        return;
    };
    let mut f = Flow::new(&env, method, test);
    f.reconcile("reconcile (first run)").await;
    f.settings.target.use_for_backups = false;
    let removal = f.reconcile("reconcile (useForBackups: false)").await;
    let expected: &[&str] = if method == "plugin" {
        &[
            "update configmaps/cnpg-backup-settings",
            "patch clusters/cnpg-admin",
            "patch clusters/cnpg-tenant",
            "delete scheduledbackups/cnpg-admin-cnpg-backup",
            "delete scheduledbackups/cnpg-tenant-cnpg-backup",
            "delete objectstores/cnpg-admin-store",
            "delete objectstores/cnpg-tenant-store",
            "update configmaps/cnpg-backup-reconcile-status",
        ]
    } else {
        &[
            "update configmaps/cnpg-backup-settings",
            "patch clusters/cnpg-admin",
            "patch clusters/cnpg-tenant",
            "delete scheduledbackups/cnpg-admin-cnpg-backup",
            "delete scheduledbackups/cnpg-tenant-cnpg-backup",
            "update configmaps/cnpg-backup-reconcile-status",
        ]
    };
    assert_eq!(writes(&removal), expected, "{method}");
    for c in [ADMIN, TENANT] {
        let live = f.d.object("clusters", c).unwrap();
        assert!(live["spec"].get("plugins").is_none(), "{method}: {live}");
        assert!(
            live["spec"]["backup"].get("barmanObjectStore").is_none(),
            "{method}: {live}"
        );
    }
    assert!(f.d.names("scheduledbackups").is_empty());
    assert!(f.d.names("objectstores").is_empty());
    let rerun = f.reconcile("reconcile (useForBackups: false, rerun)").await;
    assert_eq!(
        writes(&rerun),
        ["update configmaps/cnpg-backup-reconcile-status"],
        "{method}"
    );
    f.report();
}

#[tokio::test]
async fn archive_removal_runs_under_the_printed_role_with_the_plugin() {
    archive_removal("plugin").await;
}

#[tokio::test]
async fn archive_removal_runs_under_the_printed_role_in_tree() {
    archive_removal("barman_object_store").await;
}
