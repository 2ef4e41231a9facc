//! The double against the captured kube-apiserver v1.32 exchanges in `fixtures/apiserver`:
//! each request is replayed as it was sent and the answer compared with the one captured, body
//! and header names (values such as `Audit-Id` and `Date` differ by nature). Where the double
//! cannot give the same bytes (uids, timestamps, resourceVersions from another etcd) the test
//! compares what a client reads.

use cnpg_backup_apidouble::fixtures::{Replayed, captured_header_names, exchange, replay};
use cnpg_backup_apidouble::rbac::{Role, Rule};
use cnpg_backup_apidouble::{ApiDouble, DEFAULT_USER};
use serde_json::{Value, json};

/// A request the fixtures' notes describe as set-up, sent like the captured ones (curl's
/// user agent, so the field manager the server derives is the same).
fn setup(method: &str, path: &str, content_type: &str, body: Value) -> Value {
    json!({"request": {"method": method, "path": path, "contentType": content_type,
        "bodyText": body.to_string(),
        "headers": [["User-Agent", "cnpg-backup-fixture-capture (curl)"]]}})
}

/// Asserts the double answered `f` exactly: status, body, header names in order.
fn assert_same(file: &str, f: &Value, got: &Replayed) {
    assert_eq!(
        got.status,
        f["response"]["status"].as_u64().unwrap() as u16,
        "{file}: {}",
        got.text
    );
    assert_eq!(got.body, f["response"]["body"], "{file}");
    assert_same_headers(file, f, got);
}

fn assert_same_headers(file: &str, f: &Value, got: &Replayed) {
    assert_eq!(got.header_names(), captured_header_names(f), "{file}");
}

fn cluster(name: &str) -> Value {
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}}})
}

/// The managed-fields entries of an object without their times (the capture's clock is not
/// the double's).
fn untimed(v: &Value) -> Vec<Value> {
    let mut entries = v["metadata"]["managedFields"].as_array().unwrap().clone();
    for e in &mut entries {
        e.as_object_mut().unwrap().remove("time");
    }
    entries
}

/// Everything allowed for the admin who made the set-up requests, as in the capture.
fn with_admin(d: &ApiDouble) -> &'static str {
    const ADMIN: &str = "admin-token";
    d.add_token(ADMIN, "kubernetes-admin");
    d.bind_role_to(
        "kubernetes-admin",
        Role::new("admin", vec![Rule::new(&["*"], &["*"], &["*"])]),
    );
    ADMIN
}

#[tokio::test]
async fn answers_like_the_captured_api_server_01_to_15() {
    let d = ApiDouble::new();
    let f01 = exchange("01-ssa-create-cluster-201.json");
    let got = replay(&d, &f01, None).await;
    assert_eq!(got.status, 201);
    assert_same_headers("01", &f01, &got);
    assert_eq!(
        got.body["metadata"]["managedFields"][0]["fieldsV1"],
        f01["response"]["body"]["metadata"]["managedFields"][0]["fieldsV1"]
    );
    let rv = got.body["metadata"]["resourceVersion"].clone();
    let f02 = exchange("02-ssa-reapply-identical-200.json");
    let got = replay(&d, &f02, None).await;
    assert_eq!(got.status, 200);
    assert_same_headers("02", &f02, &got);
    assert_eq!(
        got.body["metadata"]["resourceVersion"], rv,
        "identical apply writes nothing"
    );

    // 04: platform-ops takes spec.instances with a merge patch, then our apply conflicts.
    let take = setup(
        "PATCH",
        "/apis/postgresql.cnpg.io/v1/namespaces/fixtures/clusters/pg-admin?fieldManager=platform-ops",
        "application/merge-patch+json",
        json!({"spec": {"instances": 3}}),
    );
    assert_eq!(replay(&d, &take, None).await.status, 200);
    for file in [
        "04-ssa-conflict-409.json",
        "05-get-missing-cluster-404.json",
    ] {
        let f = exchange(file);
        assert_same(file, &f, &replay(&d, &f, None).await);
    }
    let f06 = exchange("06-post-backup-201.json");
    let got = replay(&d, &f06, None).await;
    assert_eq!(got.status, 201);
    assert_eq!(
        untimed(&got.body),
        untimed(&f06["response"]["body"]),
        "the manager is the user agent's, the maps carry \".\" markers"
    );
    let f07 = exchange("07-post-backup-again-409-alreadyexists.json");
    assert_same("07", &f07, &replay(&d, &f07, None).await);

    // 08-10: three Backups, pages of two, then a label selector.
    d.insert(
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
        "metadata": {"name": "pg-admin-20261125023000", "labels": {"cnpg.io/cluster": "pg-admin",
            "cnpg.io/immediateBackup": "false", "cnpg.io/scheduled-backup": "pg-admin-daily"}},
        "spec": {"cluster": {"name": "pg-admin"}, "method": "barmanObjectStore"}}),
    );
    d.insert(json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
        "metadata": {"name": "pg-tenant-20261126043000", "labels": {"cnpg.io/cluster": "pg-tenant"}},
        "spec": {"cluster": {"name": "pg-tenant"}, "method": "barmanObjectStore"}}));
    let names = |b: &Value| -> Vec<String> {
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let f08 = exchange("08-list-backups-limit2-page1.json");
    let page1 = replay(&d, &f08, None).await;
    assert_eq!(page1.status, 200);
    assert_same_headers("08", &f08, &page1);
    assert_eq!(names(&page1.body), names(&f08["response"]["body"]));
    assert_eq!(page1.body["metadata"]["remainingItemCount"], 1);
    let token = page1.body["metadata"]["continue"].as_str().unwrap();
    let page2_req = json!({"request": {"method": "GET",
        "path": format!("/apis/postgresql.cnpg.io/v1/namespaces/fixtures/backups?limit=2&continue={token}")}});
    let page2 = replay(&d, &page2_req, None).await;
    let f09 = exchange("09-list-backups-limit2-page2.json");
    assert_eq!(names(&page2.body), names(&f09["response"]["body"]));
    assert_eq!(page2.body["metadata"]["continue"], "");
    let f10 = exchange("10-list-backups-label-selector.json");
    let selected = replay(&d, &f10, None).await;
    assert_eq!(names(&selected.body), names(&f10["response"]["body"]));

    // 11: a status write changes the resourceVersion, not the generation.
    let f11 = exchange("11-cluster-status-merge-patch-200.json");
    let before = d.object("clusters", "pg-admin").unwrap();
    let got = replay(&d, &f11, None).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body["status"], f11["response"]["body"]["status"],
        "{}",
        got.text
    );
    assert_eq!(
        got.body["metadata"]["generation"],
        before["metadata"]["generation"]
    );
    assert_ne!(
        got.body["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );

    // 12: the CEL rule on a ScheduledBackup's cluster.
    let f12 = exchange("12-scheduledbackup-cluster-change-422-cel.json");
    let mut create_sb = f12.clone();
    create_sb["request"]["bodyText"] = json!(
        f12["request"]["bodyText"]
            .as_str()
            .unwrap()
            .replace("pg-tenant", "pg-admin")
    );
    assert_eq!(replay(&d, &create_sb, None).await.status, 201);
    assert_same("12", &f12, &replay(&d, &f12, None).await);

    // 13-14: delete answers a Status, then the object is gone.
    let f13 = exchange("13-delete-cluster-200.json");
    let mut got = replay(&d, &f13, None).await;
    let mut expected = f13.clone();
    got.body["details"]["uid"] = Value::Null;
    expected["response"]["body"]["details"]["uid"] = Value::Null;
    assert_same("13", &expected, &got);
    let f14 = exchange("14-get-deleted-cluster-404.json");
    assert_same("14", &f14, &replay(&d, &f14, None).await);

    // 15: a foreground delete answers the object, which stays with a deletion timestamp.
    d.insert(cluster("pg-tenant"));
    let got = replay(&d, &exchange("15-delete-cluster-foreground-200.json"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
    assert!(got.body["metadata"]["deletionTimestamp"].is_string());
    assert!(d.object("clusters", "pg-tenant").is_some());
}

#[tokio::test]
#[cfg_attr(
    not(crds),
    ignore = "needs the CNPG CRDs: set CNPG_BACKUP_CRDS_DIR or put them in ../shared/cnpg-crds"
)]
async fn a_value_the_crd_rejects_is_a_422_naming_the_field_03() {
    let d = ApiDouble::new();
    assert!(ApiDouble::validates_schemas());
    let f03 = exchange("03-ssa-invalid-retention-422.json");
    let got = replay(&d, &f03, None).await;
    assert_eq!(got.status, 422);
    assert_same_headers("03", &f03, &got);
    assert_eq!(got.body["reason"], "Invalid");
    assert_eq!(
        got.body["details"]["causes"][0]["field"],
        f03["response"]["body"]["details"]["causes"][0]["field"]
    );
    assert!(d.names("clusters").is_empty(), "nothing stored");
}

/// The Role of fixtures 16-19: `get`, `list`, `patch` on ScheduledBackups and ObjectStores.
fn limited_role() -> Role {
    Role::new(
        "cnpg-backup-limited",
        vec![
            Rule::new(
                &["postgresql.cnpg.io"],
                &["scheduledbackups"],
                &["get", "list", "patch"],
            ),
            Rule::new(
                &["barmancloud.cnpg.io"],
                &["objectstores"],
                &["get", "list", "patch"],
            ),
        ],
    )
}

#[tokio::test]
async fn an_apply_that_creates_is_authorized_as_create_16_to_19() {
    let d = ApiDouble::new();
    d.bind_role(limited_role());
    let admin = with_admin(&d);

    // 16, 18: the apply passes as `patch`, then is refused as `create`; nothing is stored.
    for (file, plural) in [
        (
            "16-sa-ssa-create-scheduledbackup-403.json",
            "scheduledbackups",
        ),
        ("18-sa-ssa-create-objectstore-403.json", "objectstores"),
    ] {
        let f = exchange(file);
        assert_same(file, &f, &replay(&d, &f, None).await);
        assert!(d.names(plural).is_empty(), "{file}: nothing created");
        let rec = d.requests().pop().unwrap();
        assert_eq!(rec.verbs(), ["patch", "create"], "{file}");
        assert_eq!(rec.user.as_deref(), Some(DEFAULT_USER));
    }

    // 17: once an admin created it, `patch` is enough; the two managers share the fields.
    let f17 = exchange("17-sa-ssa-existing-scheduledbackup-200.json");
    let mut create = f17.clone();
    create["request"]["method"] = json!("POST");
    create["request"]["path"] = json!(
        "/apis/postgresql.cnpg.io/v1/namespaces/fixtures/scheduledbackups?fieldManager=platform-admin"
    );
    create["request"]["contentType"] = json!("application/json");
    let created = replay(&d, &create, Some(admin)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let got = replay(&d, &f17, None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_same_headers("17", &f17, &got);
    assert_eq!(got.body["spec"], f17["response"]["body"]["spec"]);
    assert_eq!(untimed(&got.body), untimed(&f17["response"]["body"]));
    assert_ne!(
        got.body["metadata"]["resourceVersion"], created.body["metadata"]["resourceVersion"],
        "the new managed-fields entry is a write"
    );
    assert_eq!(got.body["metadata"]["generation"], 1);
    assert_eq!(d.requests().pop().unwrap().verbs(), ["patch"]);

    // 19: no rule for clusters: the ordinary denial, from the authorization filter.
    d.insert(cluster("pg-main"));
    let f19 = exchange("19-sa-get-cluster-403.json");
    assert_same("19", &f19, &replay(&d, &f19, None).await);
}

#[tokio::test]
async fn config_map_writes_compare_and_swap_only_with_a_resource_version_36_to_38() {
    let d = ApiDouble::new();
    let cm = |data: &str, rv: Option<&str>| {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cnpg-backup-state", "namespace": "fixtures"},
            "data": {"lastBackup": data}});
        if let Some(rv) = rv {
            v["metadata"]["resourceVersion"] = json!(rv);
        }
        v
    };
    let path = "/api/v1/namespaces/fixtures/configmaps";
    let created = replay(
        &d,
        &setup(
            "POST",
            path,
            "application/json",
            cm("pg-main-20261126043000", None),
        ),
        None,
    )
    .await;
    assert_eq!(created.status, 201);
    let rv = created.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap();
    let named = format!("{path}/cnpg-backup-state");
    let updated = replay(
        &d,
        &setup(
            "PUT",
            &named,
            "application/json",
            cm("pg-main-20261127043000", Some(rv)),
        ),
        None,
    )
    .await;
    assert_eq!(updated.status, 200);

    // 36: the resourceVersion read before the update is stale now.
    let mut f36 = exchange("36-configmap-update-stale-409.json");
    f36["request"]["bodyText"] = json!(cm("pg-main-20261128043000", Some(rv)).to_string());
    assert_same("36", &f36, &replay(&d, &f36, None).await);
    let stored = d.object("configmaps", "cnpg-backup-state").unwrap();
    assert_eq!(stored["data"]["lastBackup"], "pg-main-20261127043000");

    // 37: a create of an existing name.
    let f37 = exchange("37-configmap-create-existing-409.json");
    assert_same("37", &f37, &replay(&d, &f37, None).await);

    // 38: without a resourceVersion the update is unconditional.
    let f38 = exchange("38-configmap-update-without-rv-200.json");
    let got = replay(&d, &f38, None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_same_headers("38", &f38, &got);
    let want = &f38["response"]["body"];
    assert_eq!(got.body["data"], want["data"]);
    let mut keys: Vec<&String> = got.body["metadata"].as_object().unwrap().keys().collect();
    let mut want_keys: Vec<&String> = want["metadata"].as_object().unwrap().keys().collect();
    keys.sort();
    want_keys.sort();
    assert_eq!(keys, want_keys, "no generation on a ConfigMap");
    let entry = &got.body["metadata"]["managedFields"][0];
    let want_entry = &want["metadata"]["managedFields"][0];
    for k in [
        "manager",
        "operation",
        "apiVersion",
        "fieldsType",
        "fieldsV1",
    ] {
        assert_eq!(entry[k], want_entry[k], "38: managedFields {k}");
    }
}

#[tokio::test]
async fn an_invalid_name_is_a_422_naming_metadata_name_43() {
    let d = ApiDouble::new();
    let f43 = exchange("43-create-cluster-invalid-name-422.json");
    assert_same("43", &f43, &replay(&d, &f43, None).await);
    assert!(d.names("clusters").is_empty());
}

#[tokio::test]
async fn an_unknown_or_revoked_token_is_a_bare_401_44_45() {
    let d = ApiDouble::new();
    let f44 = exchange("44-invalid-bearer-token-401.json");
    assert_same(
        "44",
        &f44,
        &replay(&d, &f44, Some("not-a-valid-token-0123456789abcdef")).await,
    );
    assert_eq!(d.requests()[0].user, None);

    // 45: a token that worked (403: authenticated, no rule) until its ServiceAccount went.
    d.bind_role(limited_role());
    d.insert(cluster("pg-main"));
    let token = "token-of-cnpg-backup-retired";
    d.add_token(token, "system:serviceaccount:fixtures:cnpg-backup-retired");
    let f45 = exchange("45-deleted-serviceaccount-token-401.json");
    let before = replay(&d, &f45, Some(token)).await;
    assert_eq!(before.status, 403, "{}", before.text);
    assert!(
        before.body["message"]
            .as_str()
            .unwrap()
            .contains("User \"system:serviceaccount:fixtures:cnpg-backup-retired\" cannot get")
    );
    d.revoke_token(token);
    assert_same("45", &f45, &replay(&d, &f45, Some(token)).await);
}

#[tokio::test]
async fn a_watch_is_authorized_as_watch_and_answered_as_a_quiet_one_24() {
    let d = ApiDouble::new();
    d.bind_role(Role::new(
        "lister",
        vec![Rule::new(&["postgresql.cnpg.io"], &["clusters"], &["list"])],
    ));
    let f24 = exchange("24-watch-clusters-quiet-no-bookmark.json");
    let got = replay(&d, &f24, None).await;
    assert_eq!(got.status, 403, "list does not grant watch: {}", got.text);
    assert!(
        got.body["message"]
            .as_str()
            .unwrap()
            .contains("cannot watch resource \"clusters\"")
    );
    d.bind_role(Role::new(
        "watcher",
        vec![Rule::new(
            &["postgresql.cnpg.io"],
            &["clusters"],
            &["watch"],
        )],
    ));
    let got = replay(&d, &f24, None).await;
    assert_eq!((got.status, got.text.as_str()), (200, ""));
    assert_same_headers("24", &f24, &got);
    assert_eq!(d.requests().pop().unwrap().verbs(), ["watch"]);
}
