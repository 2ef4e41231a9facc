//! Offline commands: no cluster, no bucket.

use std::io::Write;

use crate::{cnpg_backup, code_and_stderr, stdout_of};

#[test]
fn retention_check_json_shape() {
    let out = stdout_of(cnpg_backup().args(["retention", "check", "30d", "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"value": "30d", "barman": "RECOVERY WINDOW OF 30 DAYS"})
    );
}

#[test]
fn retention_check_yaml_and_table() {
    let out = stdout_of(cnpg_backup().args(["retention", "check", "4w", "-o", "yaml"]));
    insta::assert_snapshot!(out, @r"
    value: 4w
    barman: RECOVERY WINDOW OF 4 WEEKS
    ");
    let out = stdout_of(cnpg_backup().args(["retention", "check", "3m"]));
    insta::assert_snapshot!(out, @r"
    VALUE  BARMAN
    3m     RECOVERY WINDOW OF 3 MONTHS
    ");
}

#[test]
fn retention_check_rejects_bad_value_with_exit_2() {
    let mut cmd = cnpg_backup();
    cmd.args(["retention", "check", "30x", "-o", "json"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    insta::assert_snapshot!(String::from_utf8(out.stderr).unwrap(), @"error: retention `30x`: unit must be d, w or m, e.g. `30d`");
}

#[test]
fn schedule_preview_json_shape() {
    let out = stdout_of(cnpg_backup().args([
        "schedule",
        "preview",
        "--preset",
        "daily",
        "--hour",
        "2",
        "--minute",
        "30",
        "--from",
        "2026-11-26T00:00:00Z",
        "--count",
        "2",
        "-o",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cron", "next", "preset", "warnings"]);
    assert_eq!(v["cron"], "0 30 2 * * *");
    assert_eq!(
        v["preset"],
        serde_json::json!({"preset": "daily", "hour": 2, "minute": 30})
    );
    assert!(v["next"].is_array());
    assert!(v["warnings"].is_array());
}

#[test]
fn schedule_preview_rejects_flags_that_do_not_apply() {
    let (code, err) = code_and_stderr(cnpg_backup().args([
        "schedule",
        "preview",
        "--preset",
        "hourly",
        "--weekday",
        "mon",
    ]));
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @"error: `--weekday` does not apply to preset `hourly`");
    let (code, _) = code_and_stderr(cnpg_backup().args(["schedule", "preview"]));
    assert_eq!(code, 2);
    let (code, err) = code_and_stderr(cnpg_backup().args([
        "schedule",
        "preview",
        "--cron",
        "0 30 2 * * *",
        "--from",
        "yesterday",
    ]));
    assert_eq!(code, 2);
    assert!(err.starts_with("error: --from `yesterday`"), "{err}");
}

#[test]
fn config_init_validate_show_and_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.yaml");
    let p = path.to_str().unwrap();
    cnpg_backup()
        .args(["-c", p, "config", "init"])
        .assert()
        .success();
    // A second init refuses to overwrite (refused for safety).
    let (code, err) = code_and_stderr(cnpg_backup().args(["-c", p, "config", "init"]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("hint: pass `--force`"), "{err}");
    cnpg_backup()
        .args(["-c", p, "config", "validate"])
        .assert()
        .success();
    let show = stdout_of(cnpg_backup().args(["-c", p, "config", "show", "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["cron"], "0 30 2 * * *");
    assert_eq!(v["destinationPath"], "s3://my-backups/cnpg");
    assert_eq!(v["planes"].as_array().unwrap().len(), 2);
    let plan = stdout_of(cnpg_backup().args(["-c", p, "plan"]));
    assert!(plan.contains("cnpg-admin"), "{plan}");
    assert!(plan.contains("cnpg-tenant"), "{plan}");
}

#[test]
fn config_validate_reads_stdin_and_points_at_the_bad_field() {
    let template = stdout_of(cnpg_backup().args(["config", "init"]));
    let bad = template.replace("retention: 30d", "retention: 30x");
    let out = cnpg_backup()
        .args(["config", "validate", "-"])
        .write_stdin(bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: settings `-` are invalid"), "{err}");
    assert!(err.contains("30x"), "{err}");
}

#[test]
fn commands_needing_settings_say_how_to_get_them() {
    let (code, err) = code_and_stderr(cnpg_backup().arg("plan"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: no settings file given
    hint: pass `-c FILE` (or set CNPG_BACKUP_CONFIG); `cnpg-backup config init -c FILE` writes one
    ");
}

#[test]
fn settings_file_that_is_not_utf8_is_invalid_input() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&[0xff, 0xfe, 0x00]).unwrap();
    let (code, err) =
        code_and_stderr(cnpg_backup().args(["-c", f.path().to_str().unwrap(), "config", "show"]));
    assert_eq!(code, 2);
    assert!(err.contains("is not UTF-8 text"), "{err}");
}

#[test]
fn no_colour_when_stdout_is_not_a_terminal_even_without_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::cnpg_backup()
        .env_remove("NO_COLOR")
        .arg("--embedded")
        .arg(dir.path())
        .arg("status")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !out.stdout.contains(&0x1b),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!out.stderr.contains(&0x1b));
}

#[test]
fn logs_go_to_stderr_and_data_stays_parsable() {
    let dir = tempfile::tempdir().unwrap();
    let settings = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/settings.yaml");
    let out = crate::cnpg_backup()
        .arg("--embedded")
        .arg(dir.path())
        .args(["-v", "-c", settings, "reconcile", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("INFO"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "ok");
    let out = crate::cnpg_backup()
        .arg("--embedded")
        .arg(dir.path())
        .args(["-q", "-c", settings, "reconcile"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn restore_request_checks_needing_no_cluster_come_first() {
    // No cluster is configured: each run must stop at the request (exit 2), not at the kubeconfig.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("no-such-kubeconfig");
    let runs: [(&[&str], &str); 2] = [
        (
            &[
                "restore",
                "plan",
                "--plane",
                "admin",
                "--name",
                "t1",
                "--backup",
                "b1",
                "--instances",
                "0",
            ],
            "instances `0`",
        ),
        (
            &[
                "restore",
                "plan",
                "--name",
                "a-base-name-long-enough-that-derived-names-overflow-the-limit",
                "--admin-backup",
                "b1",
                "--tenant-backup",
                "b2",
            ],
            "a-base-name-long-enough",
        ),
    ];
    for (args, says) in runs {
        let (code, err) = code_and_stderr(cnpg_backup().env("KUBECONFIG", &kubeconfig).args(args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("Kubernetes configuration"), "{args:?}: {err}");
    }
}

#[test]
fn intent_validate_rejects_what_the_guard_would_reject_offline() {
    let sample = include_str!("../../../../examples/restore-intent.json");
    let bad = [
        (sample.replace(r#""instances": 1"#, r#""instances": 0"#), "instances `0`"),
        (
            sample.replace(
                r#""tenant": { "kind": "backup", "backup": "cnpg-tenant-cnpg-backup-20261126023000" }"#,
                "",
            )
            .replace(r#""cnpg-admin-cnpg-backup-20261126023000" },"#, r#""cnpg-admin-cnpg-backup-20261126023000" }"#),
            "tenant plane has no source",
        ),
    ];
    for (text, says) in bad {
        assert_ne!(text, sample);
        let (code, err) = code_and_stderr(
            cnpg_backup()
                .args(["intent", "validate", "-"])
                .write_stdin(text.clone()),
        );
        assert_eq!(code, 2, "{text}\n{err}");
        assert!(err.contains(says), "{err}");
    }
}

/// Issue 9: in a disaster the user may only have the target. `catalog --source bucket` needs
/// only the `target` section (and `clusters`, defaulted, with `--plane`).
#[test]
fn the_bucket_catalog_needs_only_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = dir.path().join("world");
    // Make real Barman-shaped backups on the embedded default.
    cnpg_backup()
        .args(["--embedded", embedded.to_str().unwrap(), "reconcile"])
        .assert()
        .success();
    cnpg_backup()
        .args(["--embedded", embedded.to_str().unwrap(), "backup", "now"])
        .assert()
        .success();
    cnpg_backup()
        .args(["--embedded", embedded.to_str().unwrap(), "status"])
        .assert()
        .success();
    let settings = dir.path().join("target-only.yaml");
    std::fs::write(
        &settings,
        format!(
            "target:\n  provider: local\n  bucket: {}\n  credentials: {{kind: none}}\n",
            embedded.join("bucket").display()
        ),
    )
    .unwrap();
    let out = stdout_of(cnpg_backup().args([
        "-c",
        settings.to_str().unwrap(),
        "catalog",
        "--source",
        "bucket",
        "-o",
        "json",
    ]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    for plane in ["admin", "tenant"] {
        assert!(
            rows.iter()
                .any(|r| r["plane"] == plane && r["phase"] == "completed"),
            "{out}"
        );
    }
    let out = stdout_of(cnpg_backup().args([
        "-c",
        settings.to_str().unwrap(),
        "catalog",
        "--source",
        "bucket",
        "--plane",
        "tenant",
        "-o",
        "json",
    ]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(rows[0]["serverName"], "cnpg-tenant");

    // Commands that apply automation still say which section is missing.
    let (code, err) =
        code_and_stderr(cnpg_backup().args(["-c", settings.to_str().unwrap(), "plan"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no `automation` section"), "{err}");

    // Without a target, the bucket catalog names it.
    std::fs::write(&settings, "clusters: {admin: a1, tenant: t1}\n").unwrap();
    let (code, err) = code_and_stderr(cnpg_backup().args([
        "-c",
        settings.to_str().unwrap(),
        "catalog",
        "--source",
        "bucket",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no `target` section"), "{err}");
}

/// Issue 9: a kubeconfig named explicitly that does not exist is bad input (exit 2), not an
/// outside failure; nothing is contacted.
#[test]
fn a_missing_kubeconfig_file_is_invalid_input() {
    let (code, err) =
        code_and_stderr(cnpg_backup().args(["--kubeconfig", "/nonexistent/kubeconfig", "status"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("kubeconfig `/nonexistent/kubeconfig` does not exist"),
        "{err}"
    );
}

/// Issue 9: `demo` rejects `-o json|yaml` (it is a walk-through for people) and honours `-c`.
#[test]
fn demo_rejects_documents_and_honours_settings() {
    let (code, err) = code_and_stderr(cnpg_backup().args(["demo", "-o", "json"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`demo` prints a walk-through"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("s.yaml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/settings.yaml"
    ))
    .unwrap();
    std::fs::write(&settings, text).unwrap();
    let out = stdout_of(cnpg_backup().args([
        "-c",
        settings.to_str().unwrap(),
        "demo",
        "--dir",
        dir.path().join("demo").to_str().unwrap(),
    ]));
    assert!(out.contains("were restored"), "{out}");
}

/// Issue 9: `--version-policy` takes the spelling of the JSON documents and messages
/// (`same_minor`), and the older `same-minor`.
#[test]
fn version_policy_accepts_the_documented_spelling() {
    for spelling in ["same_minor", "same-minor", "any_older", "exact"] {
        let (code, err) = code_and_stderr(cnpg_backup().args([
            "restore",
            "plan",
            "--plane",
            "admin",
            "--name",
            "Bad_Name",
            "--backup",
            "b",
            "--version-policy",
            spelling,
        ]));
        // The name check (exit 2, offline) comes after clap accepted the policy.
        assert_eq!(code, 2, "{spelling}: {err}");
        assert!(!err.contains("invalid value"), "{spelling}: {err}");
    }
}

#[test]
fn manifests_print_the_role_of_rbac_plus_the_loops_and_two_replicas() {
    let out = stdout_of(cnpg_backup().args([
        "-n",
        "platform",
        "manifests",
        "--image",
        "reg.example/cnpg-backup:1",
    ]));
    let docs: Vec<&str> = out.split("\n---\n").collect();
    assert_eq!(docs.len(), 7, "{out}");
    assert!(docs[1].contains("kind: Role"), "{}", docs[1]);
    assert!(docs[1].contains("coordination.k8s.io"));
    assert!(docs[3].contains("tokenreviews"), "{}", docs[3]);
    assert!(docs[5].contains("replicas: 2"));
    assert!(docs[5].contains("image: reg.example/cnpg-backup:1"));
    assert!(docs[5].contains("readOnlyRootFilesystem: true"));
    let rbac = stdout_of(cnpg_backup().args(["-n", "platform", "rbac"]));
    for resource in [
        "clusters",
        "backups",
        "scheduledbackups",
        "objectstores",
        "configmaps",
        "secrets",
    ] {
        assert!(
            rbac.contains(resource) && docs[1].contains(resource),
            "{resource}"
        );
    }
}

#[test]
fn manifests_refuse_a_lease_that_cannot_fence() {
    let (code, err) = code_and_stderr(cnpg_backup().args([
        "manifests",
        "--lease-duration",
        "10s",
        "--lease-renew-deadline",
        "10s",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("must be shorter than the lease duration"),
        "{err}"
    );
    let (code, err) = code_and_stderr(cnpg_backup().args(["manifests", "--resync", "10x"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the unit must be s, m or h"), "{err}");
    for cmd in ["manifests", "serve"] {
        let (code, err) = code_and_stderr(cnpg_backup().args([
            cmd,
            "--lease-name",
            "Leader_Lease",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("lease name"), "{cmd}: {err}");
    }
}

/// Parses `doc` as a `K` and back: a field k8s-openapi does not know (it drops it) or a value
/// of the wrong type (it refuses it) fails.
fn typed<K: serde::de::DeserializeOwned + serde::Serialize>(doc: &serde_json::Value) -> K {
    let k: K = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc}"));
    let mut back = serde_json::to_value(&k).unwrap();
    // k8s-openapi leaves apiVersion and kind to its own serializer's caller.
    back["apiVersion"] = doc["apiVersion"].clone();
    back["kind"] = doc["kind"].clone();
    assert_eq!(&back, doc, "a field its k8s-openapi type does not know");
    k
}

#[test]
fn every_printed_manifest_is_its_kubernetes_type_and_the_role_covers_the_loop() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Service, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let out = stdout_of(cnpg_backup().args(["-n", "platform", "manifests"]));
    let docs: Vec<serde_json::Value> = out
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k} in\n{out}"))
    };
    let sa: ServiceAccount = typed(kind("ServiceAccount"));
    let role: Role = typed(kind("Role"));
    let binding: RoleBinding = typed(kind("RoleBinding"));
    let reviews: ClusterRole = typed(kind("ClusterRole"));
    let reviews_binding: ClusterRoleBinding = typed(kind("ClusterRoleBinding"));
    let deployment: Deployment = typed(kind("Deployment"));
    let service: Service = typed(kind("Service"));
    for d in &docs {
        assert_eq!(
            d["metadata"]["labels"]["app.kubernetes.io/name"],
            "cnpg-backup"
        );
    }
    let sa_name = sa.metadata.name.unwrap();
    assert_eq!(sa.metadata.namespace.as_deref(), Some("platform"));

    // The Role: `rbac`'s rules (one source) and the loop's (watches, leases, events).
    let rules = role.rules.unwrap();
    let allows = |rules: &[k8s_openapi::api::rbac::v1::PolicyRule], g: &str, r: &str, v: &str| {
        rules.iter().any(|p| {
            p.api_groups.iter().flatten().any(|x| x == g)
                && p.resources.iter().flatten().any(|x| x == r)
                && p.verbs.iter().any(|x| x == v)
        })
    };
    use cnpg_backup_kube::rbac::{LOOP_RULES, RULES, SERVE_REVIEW_RULES};
    for r in RULES.iter().chain(LOOP_RULES) {
        for v in r.verbs {
            assert!(allows(&rules, r.api_group, r.resource, v), "{r:?} {v}");
        }
    }
    // What the loop does, by name: list and watch what it watches, elect, tell.
    for (g, r, verbs) in [
        (
            "",
            "configmaps",
            &["list", "watch", "get", "create", "update"][..],
        ),
        (
            "postgresql.cnpg.io",
            "clusters",
            &["list", "watch", "get", "patch"][..],
        ),
        ("postgresql.cnpg.io", "backups", &["list", "watch"][..]),
        (
            "postgresql.cnpg.io",
            "scheduledbackups",
            &["list", "watch", "patch"][..],
        ),
        (
            "barmancloud.cnpg.io",
            "objectstores",
            &["list", "watch", "patch"][..],
        ),
        (
            "coordination.k8s.io",
            "leases",
            &["get", "create", "update"][..],
        ),
        ("events.k8s.io", "events", &["create", "patch"][..]),
    ] {
        for v in verbs {
            assert!(allows(&rules, g, r, v), "the Role lacks {v} on {r} ({g})");
        }
    }
    // Nothing beyond: no wildcard, no delete on leases, nothing cluster-wide in the Role.
    assert!(
        rules.iter().all(|p| !p.verbs.iter().any(|v| v == "*")
            && !p.resources.iter().flatten().any(|r| r == "*"))
    );
    assert!(!allows(&rules, "coordination.k8s.io", "leases", "delete"));
    assert_eq!(binding.role_ref.kind, "Role");
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.kind.as_str(), subject.name.as_str()),
        ("ServiceAccount", sa_name.as_str())
    );

    // The reviews the API makes of its callers (cluster-scoped).
    let review_rules = reviews.rules.unwrap();
    for r in SERVE_REVIEW_RULES {
        for v in r.verbs {
            assert!(allows(&review_rules, r.api_group, r.resource, v), "{r:?}");
        }
    }
    assert_eq!(
        reviews_binding.role_ref.name,
        reviews.metadata.name.unwrap()
    );
    assert_eq!(
        reviews_binding.subjects.unwrap()[0].namespace.as_deref(),
        Some("platform")
    );

    // The Deployment: two replicas of serve, probes, requests, locked down, POD_NAME.
    let spec = deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let template = spec.template;
    let annotations = template.metadata.unwrap().annotations.unwrap();
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    assert_eq!(annotations["prometheus.io/port"], "8080");
    let pod = template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(sa_name.as_str()));
    let psc = pod.security_context.unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert!(psc.run_as_user.unwrap() > 0);
    let c = &pod.containers[0];
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap()
    };
    assert_eq!(probe_path(&c.liveness_probe), "/healthz");
    assert_eq!(probe_path(&c.readiness_probe), "/readyz");
    let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"));
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let pod_name = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "POD_NAME")
        .expect("POD_NAME");
    assert_eq!(
        pod_name
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.name"
    );
    let port = &c.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.container_port),
        (Some("http"), 8080)
    );
    let service_port = &service.spec.unwrap().ports.unwrap()[0];
    assert_eq!(service_port.port, 8080);

    // The container's command line is one `serve` accepts: with a kubeconfig that does not
    // exist it gets as far as connecting (exit 2, the file named), not a usage error.
    let args = c.args.clone().unwrap();
    assert_eq!(args[0], "serve");
    let (code, err) = code_and_stderr(
        cnpg_backup()
            .args(&args)
            .args(["--kubeconfig", "/nonexistent/kubeconfig"])
            .env("POD_NAME", "cnpg-backup-7c9d-x2x"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not exist"), "{err}");
}
