//! Every cluster-side command on the embedded default (`--embedded DIR`), and the JSON shapes.

use crate::{ACK1, ACK2, cnpg_backup, code_and_stderr, embedded, json_of, stdout_of, with_backups};

#[test]
fn demo_runs_the_whole_workflow_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_of(
        cnpg_backup()
            .args(["demo", "--dir"])
            .arg(dir.path().join("demo")),
    );
    for step in [
        "1. Settings",
        "2. Check the bucket",
        "3. Apply the backup automation",
        "4. Take a backup of both planes now",
        "5. Let three simulated hours pass",
        "6. The catalog",
        "7. Plan a full restore",
        "8. Stage one",
        "9. Wait until the recovery clusters are ready",
        "10. Stage two",
        "11. Final status and audit trail",
    ] {
        assert!(out.contains(step), "missing `{step}` in\n{out}");
    }
    assert!(out.contains("[ready_for_promotion_checks]"), "{out}");
    assert!(out.contains(": completed"), "{out}");
    assert!(
        out.contains("stage_one_ack") && out.contains("stage_two_ack"),
        "{out}"
    );
    // Scheduled backups fired on the simulated clock.
    assert!(
        out.contains("cnpg-admin-cnpg-backup-20261126030000"),
        "{out}"
    );
    // The bucket holds real Barman files.
    assert!(dir.path().join("demo/bucket/cnpg-admin/base").is_dir());
}

#[test]
fn demo_refuses_a_directory_that_already_holds_one() {
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &["status"]).assert().success();
    let (code, err) = code_and_stderr(cnpg_backup().args(["demo", "--dir"]).arg(dir.path()));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn status_before_anything_ran() {
    let dir = tempfile::tempdir().unwrap();
    let v = json_of(&mut embedded(dir.path(), &["status", "-o", "json"]));
    assert_eq!(v["reconcile"]["state"], "not_run_yet");
    assert_eq!(v["preflight"]["state"], "not_run");
}

#[test]
fn reconcile_then_status_then_preflight() {
    let dir = tempfile::tempdir().unwrap();
    let v = json_of(&mut embedded(dir.path(), &["reconcile", "-o", "json"]));
    assert_eq!(v["state"], "ok");
    assert_eq!(v["planes"].as_array().unwrap().len(), 2);
    // A converged reconcile writes nothing.
    let v = json_of(&mut embedded(dir.path(), &["reconcile", "-o", "json"]));
    assert!(
        v["planes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["writes"] == 0),
        "{v}"
    );
    let v = json_of(&mut embedded(dir.path(), &["preflight", "-o", "json"]));
    assert_eq!(v["state"], "ok");
    let steps = v["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["check"] == "write_probe" && s["verdict"] == "passed")
    );
    let v = json_of(&mut embedded(
        dir.path(),
        &["preflight", "--read-only", "-o", "json"],
    ));
    assert!(
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["check"] == "write_probe" && s["verdict"] == "skipped"),
        "{v}"
    );
    let v = json_of(&mut embedded(dir.path(), &["status", "-o", "json"]));
    assert_eq!(v["reconcile"]["state"], "ok");
    assert!(v["reconcile"]["lastReconcile"].is_string());
    assert_eq!(v["preflight"]["state"], "ok");
    let table = stdout_of(&mut embedded(dir.path(), &["status"]));
    assert!(table.starts_with("reconcile: ok"), "{table}");
}

#[test]
fn status_shows_each_planes_backups_at_a_glance() {
    let dir = tempfile::tempdir().unwrap();
    embedded(dir.path(), &["reconcile"]).assert().success();
    let v = json_of(&mut embedded(dir.path(), &["status", "-o", "json"]));
    let planes = v["backups"].as_array().unwrap();
    assert_eq!(planes.len(), 2, "{v}");
    assert_eq!(planes[0]["plane"], "admin");
    assert_eq!(planes[0]["health"], "no_backup_yet", "{v}");
    assert_eq!(planes[0]["schedule"], "active");
    assert_eq!(planes[0]["intervalSeconds"], 3600, "hourly by default: {v}");
    assert!(planes[0]["nextRun"].is_string(), "{v}");
    assert!(planes[0]["lastCompleted"].is_null());

    embedded(dir.path(), &["backup", "now"]).assert().success();
    let v = json_of(&mut embedded(dir.path(), &["status", "-o", "json"]));
    let admin = &v["backups"][0];
    assert_eq!(admin["health"], "ok", "{v}");
    assert!(
        admin["lastCompleted"]["name"]
            .as_str()
            .unwrap()
            .starts_with("cnpg-admin-o-"),
        "{v}"
    );
    assert!(admin["ageSeconds"].as_i64().unwrap() >= 0, "{v}");
    let table = stdout_of(&mut embedded(dir.path(), &["status"]));
    assert!(table.contains("backups:"), "{table}");
    assert!(table.contains("last cnpg-admin-o-"), "{table}");
}

#[test]
fn settings_from_a_file_are_used_by_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let settings = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/settings.yaml");
    embedded(dir.path(), &["-c", settings, "reconcile"])
        .assert()
        .success();
    let v = json_of(&mut embedded(dir.path(), &["backup", "now", "-o", "json"]));
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[test]
fn catalog_rows_have_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    let v = json_of(&mut embedded(dir.path(), &["catalog", "-o", "json"]));
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    let mut keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "appVersion",
            "backupId",
            "backupSetId",
            "cluster",
            "endedAt",
            "error",
            "name",
            "namedRestoreReady",
            "notReadyReasons",
            "phase",
            "plane",
            "serverName",
            "startedAt",
            "storage",
            "timeline"
        ]
    );
    let row = rows.iter().find(|r| r["name"] == admin.as_str()).unwrap();
    assert_eq!(row["plane"], "admin");
    assert_eq!(row["cluster"], "cnpg-admin");
    assert_eq!(row["phase"], "completed");
    assert_eq!(row["storage"], "present");
    assert_eq!(row["namedRestoreReady"], true);
    assert_eq!(row["notReadyReasons"], serde_json::json!([]));
    assert_eq!(row["appVersion"], "1.4.2");
    // Newest first, one plane only on request.
    let v = json_of(&mut embedded(
        dir.path(),
        &["catalog", "--plane", "tenant", "-o", "json"],
    ));
    assert!(v.as_array().unwrap().iter().all(|r| r["plane"] == "tenant"));
}

#[test]
fn bucket_catalog_lists_every_server_and_unreadable_backups() {
    let dir = tempfile::tempdir().unwrap();
    with_backups(dir.path());
    // A restored cluster's server (belongs to no plane) and a folder without backup.info.
    let stray = dir.path().join("bucket/restored-r-x/base/20261126T010203");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("data.tar"), b"x").unwrap();
    let v = json_of(&mut embedded(
        dir.path(),
        &["catalog", "--source", "bucket", "-o", "json"],
    ));
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{v}");
    let stray = rows
        .iter()
        .find(|r| r["serverName"] == "restored-r-x")
        .unwrap();
    assert_eq!(stray["plane"], serde_json::Value::Null);
    assert_eq!(stray["namedRestoreReady"], false);
    assert_eq!(
        stray["notReadyReasons"],
        serde_json::json!(["backup_info_unreadable"])
    );
    assert!(stray["error"].is_string(), "{stray}");
    let v = json_of(&mut embedded(
        dir.path(),
        &[
            "catalog", "--source", "bucket", "--plane", "admin", "-o", "json",
        ],
    ));
    assert!(
        v.as_array().unwrap().iter().all(|r| r["plane"] == "admin"),
        "{v}"
    );
}

#[test]
fn staged_restore_of_one_plane_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    let request = [
        "--plane",
        "admin",
        "--name",
        "scratch-admin",
        "--backup",
        admin.as_str(),
        "--id",
        "r1",
    ];
    let mut plan = vec!["restore", "plan"];
    plan.extend(request);
    plan.extend(["-o", "json"]);
    let v = json_of(&mut embedded(dir.path(), &plan));
    assert_eq!(v["creates"], serde_json::json!(["scratch-admin"]));
    assert_eq!(v["deletesLive"], serde_json::json!(["cnpg-admin"]));
    let mut create = vec!["restore", "create"];
    create.extend(request);
    create.extend(["--ack", ACK1, "-o", "json"]);
    let v = json_of(&mut embedded(dir.path(), &create));
    assert_eq!(v["id"], "r1");
    assert_eq!(v["audit"][0]["kind"], "stage_one_ack");
    // Stage two before the recovery cluster is ready: the answer is no (exit 1).
    let (code, err) = code_and_stderr(&mut embedded(
        dir.path(),
        &["restore", "apply", "r1", "--ack", ACK2],
    ));
    assert_eq!(code, 1, "{err}");
    let v = json_of(&mut embedded(
        dir.path(),
        &[
            "restore",
            "status",
            "r1",
            "--watch",
            "--interval",
            "1",
            "-o",
            "json",
        ],
    ));
    assert_eq!(v["phase"], "ready_for_promotion_checks");
    assert_eq!(v["planes"][0]["recoveryReady"], true);
    let v = json_of(&mut embedded(
        dir.path(),
        &["restore", "apply", "r1", "--ack", ACK2, "-o", "json"],
    ));
    assert!(v["phase"] == "cutover" || v["phase"] == "completed", "{v}");
    let v = json_of(&mut embedded(
        dir.path(),
        &["restore", "status", "r1", "-o", "json"],
    ));
    assert_eq!(v["phase"], "completed", "{v}");
    let kinds: Vec<&str> = v["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["stage_one_ack", "stage_two_ack"]);
}

#[test]
fn full_restore_from_an_intent_on_stdin_then_abandon() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, tenant) = with_backups(dir.path());
    let intent = serde_json::json!({
        "apiVersion": "cnpg-backup.io/v1",
        "kind": "RestoreIntent",
        "restoreId": "from-intent",
        "spec": {
            "mode": {"kind": "full", "baseName": "drill"},
            "sources": {
                "admin": {"kind": "backup", "backup": admin},
                "tenant": {"kind": "backup", "backup": tenant}
            }
        },
        "acknowledgements": {"stageOne": ACK1}
    });
    let out = embedded(
        dir.path(),
        &["restore", "create", "--intent", "-", "-o", "json"],
    )
    .write_stdin(intent.to_string())
    .assert()
    .success()
    .get_output()
    .stdout
    .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["id"], "from-intent");
    let clusters: Vec<&str> = v["planes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["recoveryCluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["drill-admin", "drill-tenant"]);
    let v = json_of(&mut embedded(
        dir.path(),
        &["restore", "abandon", "from-intent", "-o", "json"],
    ));
    assert_eq!(v["phase"], "abandoned", "{v}");
    // Cleanup needs a completed restore.
    let (code, _) = code_and_stderr(&mut embedded(
        dir.path(),
        &["restore", "cleanup", "from-intent"],
    ));
    assert_ne!(code, 0);
}

#[test]
fn cleanup_after_a_restore_that_kept_its_recovery_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    embedded(
        dir.path(),
        &[
            "restore",
            "create",
            "--plane",
            "admin",
            "--name",
            "kept",
            "--backup",
            &admin,
            "--id",
            "k1",
            "--keep-recovery-clusters",
            "--ack",
            ACK1,
        ],
    )
    .assert()
    .success();
    embedded(
        dir.path(),
        &["restore", "status", "k1", "--watch", "--interval", "1"],
    )
    .assert()
    .success();
    embedded(dir.path(), &["restore", "apply", "k1", "--ack", ACK2])
        .assert()
        .success();
    embedded(dir.path(), &["restore", "status", "k1"])
        .assert()
        .success();
    let v = json_of(&mut embedded(
        dir.path(),
        &["restore", "cleanup", "k1", "-o", "json"],
    ));
    assert_eq!(v["phase"], "completed", "{v}");
    assert!(
        v["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "cleanup"),
        "{v}"
    );
}

#[test]
fn guards_refuse_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    // A recovery name equal to a live cluster: names clash, refused for safety.
    let (code, err) = code_and_stderr(&mut embedded(
        dir.path(),
        &[
            "restore",
            "create",
            "--plane",
            "admin",
            "--name",
            "cnpg-tenant",
            "--backup",
            &admin,
            "--ack",
            ACK1,
        ],
    ));
    assert_eq!(code, 4, "{err}");
    // A backup that does not exist: invalid input.
    let (code, err) = code_and_stderr(&mut embedded(
        dir.path(),
        &[
            "restore",
            "plan",
            "--plane",
            "admin",
            "--name",
            "x1",
            "--backup",
            "no-such-backup",
        ],
    ));
    assert_eq!(code, 2, "{err}");
    // Nothing was created.
    let v = json_of(&mut embedded(dir.path(), &["catalog", "-o", "json"]));
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[test]
fn plan_renders_cnpg_objects_as_yaml_and_json() {
    let settings = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/settings.yaml");
    let yaml = stdout_of(cnpg_backup().args(["-c", settings, "-n", "prod", "plan"]));
    assert_eq!(yaml.matches("kind: ScheduledBackup").count(), 2, "{yaml}");
    assert_eq!(yaml.matches("kind: ObjectStore").count(), 2, "{yaml}");
    assert_eq!(yaml.matches("kind: Cluster").count(), 2, "{yaml}");
    let v = json_of(cnpg_backup().args(["-c", settings, "plan", "-o", "json"]));
    assert_eq!(v.as_array().unwrap().len(), 6);
    assert_eq!(v[2]["spec"]["schedule"], "0 30 2 * * *");
    assert_eq!(v[2]["metadata"]["namespace"], "default");
}

#[test]
fn the_sample_intent_is_valid() {
    let intent = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/restore-intent.json"
    );
    let v = json_of(cnpg_backup().args(["intent", "validate", intent, "-o", "json"]));
    assert_eq!(v["valid"], true);
    assert_eq!(v["stageOneAcknowledged"], true);
    let schema = json_of(cnpg_backup().args(["intent", "schema"]));
    assert!(schema["properties"]["spec"].is_object(), "{schema}");
}

#[test]
fn the_sample_settings_are_valid() {
    let settings = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/settings.yaml");
    cnpg_backup()
        .args(["-c", settings, "config", "validate"])
        .assert()
        .success();
}

#[test]
fn rbac_prints_the_role() {
    let out = stdout_of(cnpg_backup().args(["rbac", "-n", "platform"]));
    assert!(
        out.starts_with("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"),
        "{out}"
    );
    assert!(out.contains("namespace: platform"), "{out}");
}

#[test]
fn rbac_prints_what_serve_and_its_users_need() {
    let out = stdout_of(cnpg_backup().args(["rbac", "-n", "platform", "--serve"]));
    let docs: Vec<&str> = out.split("---\n").collect();
    assert_eq!(docs.len(), 3, "{out}");
    assert!(docs[0].contains("kind: Role\n"), "{out}");
    assert!(
        docs[1].contains("tokenreviews") && docs[1].contains("subjectaccessreviews"),
        "{out}"
    );
    assert!(
        docs[2].contains("kind: ClusterRoleBinding") && docs[2].contains("name: cnpg-backup\n"),
        "{out}"
    );
    let users = stdout_of(cnpg_backup().args(["rbac", "-n", "platform", "--users"]));
    for role in ["viewer", "operator", "restorer"] {
        assert!(
            users.contains(&format!("name: cnpg-backup-{role}\n")),
            "{users}"
        );
    }
    assert!(users.contains("apiGroups: [\"cnpg-backup.io\"]"), "{users}");
    assert!(users.contains("resources: [\"restores/apply\"]"), "{users}");
}

#[test]
fn preflight_fails_with_exit_1_when_a_restore_archive_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    with_backups(dir.path());
    // The live admin archive has WAL and backups: a restore must never write there.
    let out = embedded(
        dir.path(),
        &["preflight", "--restore-server", "cnpg-admin", "-o", "json"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "failed");
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["check"] == "restore_archive_empty")
        .unwrap();
    assert_eq!(step["verdict"], "failed", "{v}");
    let (code, _) = code_and_stderr(&mut embedded(dir.path(), &["status"]));
    assert_eq!(code, 1, "status reports the failed preflight");
    embedded(dir.path(), &["preflight", "--restore-server", "fresh-r-1"])
        .assert()
        .success();
}

/// The JSON documents are contracts: the embedded default is deterministic (simulated clock),
/// so whole documents are snapshotted and a renamed field fails here.
#[test]
fn json_documents_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, tenant) = with_backups(dir.path());
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap();
    insta::assert_snapshot!(
        "catalog",
        pretty(json_of(&mut embedded(
            dir.path(),
            &["catalog", "-o", "json"]
        )))
    );
    let plan = [
        "restore",
        "plan",
        "--name",
        "snap",
        "--admin-backup",
        &admin,
        "--tenant-backup",
        &tenant,
        "--id",
        "snap",
        "-o",
        "json",
    ];
    insta::assert_snapshot!(
        "restore_plan",
        pretty(json_of(&mut embedded(dir.path(), &plan)))
    );
    let create = [
        "restore",
        "create",
        "--name",
        "snap",
        "--admin-backup",
        &admin,
        "--tenant-backup",
        &tenant,
        "--id",
        "snap",
        "--ack",
        ACK1,
        "-o",
        "json",
    ];
    insta::assert_snapshot!(
        "restore_created",
        pretty(json_of(&mut embedded(dir.path(), &create)))
    );
    embedded(
        dir.path(),
        &["restore", "status", "snap", "--watch", "--interval", "1"],
    )
    .assert()
    .success();
    embedded(dir.path(), &["restore", "apply", "snap", "--ack", ACK2])
        .assert()
        .success();
    insta::assert_snapshot!(
        "restore_completed",
        pretty(json_of(&mut embedded(
            dir.path(),
            &["restore", "status", "snap", "-o", "json"]
        )))
    );
    insta::assert_snapshot!(
        "reconcile",
        pretty(json_of(&mut embedded(
            dir.path(),
            &["reconcile", "-o", "json"]
        )))
    );
}

#[test]
fn the_embedded_default_simulates_the_clusters_the_settings_name() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("s.yaml");
    let template = stdout_of(cnpg_backup().args(["config", "init"]));
    std::fs::write(
        &settings,
        template
            .replace("admin: cnpg-admin", "admin: pg-control")
            .replace("tenant: cnpg-tenant", "tenant: pg-tenants"),
    )
    .unwrap();
    let sim = dir.path().join("sim");
    let v = json_of(
        embedded(&sim, &["-o", "json", "reconcile"])
            .arg("-c")
            .arg(&settings),
    );
    assert_eq!(v["state"], "ok", "{v}");
    let clusters: Vec<&str> = v["planes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["pg-control", "pg-tenants"]);
}

#[test]
fn point_in_time_restores_are_planned_and_future_targets_refused() {
    let dir = tempfile::tempdir().unwrap();
    with_backups(dir.path());
    let v = json_of(&mut embedded(
        dir.path(),
        &["catalog", "--plane", "admin", "-o", "json"],
    ));
    let ended = v[0]["endedAt"].as_str().unwrap().to_owned();
    let v = json_of(&mut embedded(
        dir.path(),
        &[
            "restore",
            "plan",
            "--plane",
            "admin",
            "--name",
            "pitr",
            "--point-in-time",
            &ended,
            "-o",
            "json",
        ],
    ));
    assert_eq!(v["planes"][0]["target"]["kind"], "point_in_time", "{v}");
    assert_eq!(v["planes"][0]["target"]["targetTime"], ended.as_str());
    let (code, err) = code_and_stderr(&mut embedded(
        dir.path(),
        &[
            "restore",
            "plan",
            "--plane",
            "admin",
            "--name",
            "pitr",
            "--point-in-time",
            "2030-01-01T00:00:00Z",
        ],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("in the future"), "{err}");
}

#[test]
fn a_backup_newer_than_the_running_app_is_refused_for_safety() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    // The app was rolled back to 1.3.0; the backups were taken by 1.4.2.
    let template = stdout_of(cnpg_backup().args(["config", "init"]));
    let older = dir.path().join("older.yaml");
    let rolled_back = template.replace(
        "  kind: cluster_label         # cluster_label {label} | fixed {version} | unknown\n  label: app.kubernetes.io/version\n",
        "  kind: fixed\n  version: 1.3.0\n",
    );
    // The template changing must break this test, not silently run it on the default version.
    assert_ne!(rolled_back, template);
    std::fs::write(&older, rolled_back).unwrap();
    let mut cmd = embedded(
        dir.path(),
        &[
            "restore", "create", "--plane", "admin", "--name", "older", "--backup", &admin,
            "--ack", ACK1,
        ],
    );
    let (code, err) = code_and_stderr(cmd.arg("-c").arg(&older));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("1.4.2") && err.contains("1.3.0"), "{err}");
}

#[test]
fn yaml_carries_the_same_documents_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    let plan = [
        "restore", "plan", "--plane", "admin", "--name", "y1", "--backup", &admin, "--id", "y1",
    ];
    for args in [vec!["catalog"], vec!["backup", "now"], plan.to_vec()] {
        // `backup now` twice in a row would be refused; compare it against itself via YAML only.
        let yaml = stdout_of(&mut embedded(
            dir.path(),
            &[args.as_slice(), &["-o", "yaml"]].concat(),
        ));
        let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        if args[0] == "backup" {
            assert_eq!(from_yaml.as_array().unwrap().len(), 2, "{yaml}");
            continue;
        }
        let from_json = json_of(&mut embedded(
            dir.path(),
            &[args.as_slice(), &["-o", "json"]].concat(),
        ));
        assert_eq!(from_yaml, from_json, "{yaml}");
    }
}

/// The sample settings with the target no longer used for backups.
fn archiving_off(dir: &std::path::Path) -> String {
    let sample = include_str!("../../../../examples/settings.yaml");
    let off = sample.replace("useForBackups: true", "useForBackups: false");
    assert_ne!(off, sample);
    let path = dir.join("off.yaml");
    std::fs::write(&path, off).unwrap();
    path.display().to_string()
}

const ARCHIVING_STOPS_ADMIN: &str = "the target is no longer used for backups: WAL archiving of the admin plane (cluster `cnpg-admin`) stops and its backup configuration is removed";

#[test]
fn plan_warns_that_archiving_stops_when_the_target_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let off = archiving_off(dir.path());
    let yaml = stdout_of(cnpg_backup().args(["-c", &off, "plan"]));
    assert!(
        yaml.contains(&format!("# warning: {ARCHIVING_STOPS_ADMIN}\n")),
        "{yaml}"
    );
    assert!(
        yaml.contains("WAL archiving of the tenant plane (cluster `cnpg-tenant`) stops"),
        "{yaml}"
    );
    assert!(
        yaml.contains("# not in the plan: Cluster `cnpg-admin` (admin plane) loses its `barman-cloud.cloudnative-pg.io` entry naming ObjectStore `cnpg-admin-store`, then the ObjectStore is deleted, where cnpg-backup manages them\n"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("kind: Cluster"),
        "nothing is applied: {yaml}"
    );
    // JSON: stdout stays the array of objects (none); the warnings go to stderr.
    let out = cnpg_backup()
        .args(["-c", &off, "plan", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("warning: {ARCHIVING_STOPS_ADMIN}\n")),
        "{err}"
    );
}

#[test]
fn reconcile_and_status_show_that_archiving_stops() {
    let dir = tempfile::tempdir().unwrap();
    let off = archiving_off(dir.path());
    let sim = dir.path().join("sim");
    embedded(&sim, &["reconcile"]).assert().success();
    let table = stdout_of(&mut embedded(&sim, &["-c", &off, "reconcile"]));
    assert!(
        table.contains(&format!("\nwarning: {ARCHIVING_STOPS_ADMIN}\n")),
        "{table}"
    );
    let v = json_of(&mut embedded(&sim, &["-o", "json", "reconcile"]));
    let warnings = v["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w == ARCHIVING_STOPS_ADMIN), "{v}");
    let v = json_of(&mut embedded(&sim, &["-o", "json", "status"]));
    assert_eq!(v["reconcile"]["warnings"], serde_json::json!(warnings));
    let yaml = stdout_of(&mut embedded(&sim, &["-o", "yaml", "status"]));
    assert!(yaml.contains("warnings:"), "{yaml}");
    let table = stdout_of(&mut embedded(&sim, &["status"]));
    assert!(
        table.contains(&format!("  warning: {ARCHIVING_STOPS_ADMIN}\n")),
        "{table}"
    );
    // The clusters lost their backup configuration: a backup now is refused, clearly.
    let (code, err) = code_and_stderr(&mut embedded(&sim, &["backup", "now"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error: the target is not used for backups (`useForBackups: false`)"),
        "{err}"
    );
    assert!(
        err.contains("hint: set `target.useForBackups: true`"),
        "{err}"
    );
}

#[test]
fn bucket_catalog_from_settings_keeps_a_cache_that_no_cache_bypasses() {
    let dir = tempfile::tempdir().unwrap();
    with_backups(dir.path());
    // One more invocation: the backups complete and their files are in the bucket.
    embedded(dir.path(), &["catalog"]).assert().success();
    // The simulator's bucket, read as a disaster would: settings file, no cluster.
    let bucket = dir.path().join("bucket");
    let settings = dir.path().join("local.yaml");
    std::fs::write(
        &settings,
        format!(
            "target:\n  provider: local\n  bucket: {}\n  credentials: {{ kind: none }}\nautomation:\n  enabled: true\n  schedule: {{ preset: daily, hour: 2, minute: 30 }}\n  retention: 30d\nappVersion: {{ kind: unknown }}\n",
            bucket.display()
        ),
    )
    .unwrap();
    let cache_home = dir.path().join("cache");
    let catalog_dir = cache_home.join("cnpg-backup/catalog");
    let run = |extra: &[&str]| {
        let mut cmd = cnpg_backup();
        cmd.env("XDG_CACHE_HOME", &cache_home)
            .arg("-c")
            .arg(&settings)
            .args(["catalog", "--source", "bucket", "-o", "json"])
            .args(extra);
        json_of(&mut cmd)
    };
    let cache_files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&catalog_dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };

    // --no-cache neither writes nor reads the cache.
    let cold = run(&["--no-cache"]);
    assert_eq!(cold.as_array().unwrap().len(), 2, "{cold}");
    assert!(!cache_home.exists(), "--no-cache wrote the cache");
    // The default keeps one file per server, and gives the same catalog cold and warm.
    assert_eq!(run(&[]), cold);
    let files = cache_files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(run(&[]), cold);

    // A backup.info changed in the bucket: the warm read sees it, as a cold read does.
    let info = std::fs::read_dir(bucket.join("cnpg-admin/base"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("backup.info");
    let text = std::fs::read_to_string(&info).unwrap();
    std::fs::write(&info, text.replace("status=DONE", "status=FAILED")).unwrap();
    let changed = run(&[]);
    assert_eq!(changed, run(&["--no-cache"]));
    assert_ne!(changed, cold);
    assert!(
        changed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["phase"] == "failed"),
        "{changed}"
    );

    // Cache files that are garbage are ignored and rewritten.
    for f in cache_files() {
        std::fs::write(f, b"{ not json").unwrap();
    }
    assert_eq!(run(&[]), changed);
    for f in cache_files() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert_eq!(v["format"], 1);
    }
}
