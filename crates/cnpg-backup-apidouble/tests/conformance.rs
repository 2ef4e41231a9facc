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

#[tokio::test(start_paused = true)]
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

// ------------------------------------------------------------------ watches, lists, leases

const CLUSTERS: &str = "/apis/postgresql.cnpg.io/v1/namespaces/fixtures/clusters";

/// A request as the fixtures write them.
fn request(method: &str, path: &str, content_type: &str, body: Option<Value>) -> Value {
    json!({"request": {"method": method, "path": path, "contentType": content_type,
        "bodyText": body.map(|b| b.to_string()),
        "headers": [["User-Agent", "cnpg-backup-fixture-capture (curl)"]]}})
}

fn captured_types(f: &Value) -> Vec<String> {
    f["response"]["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The arrival times the notes of a watch fixture give: (type, seconds).
fn captured_arrivals(f: &Value) -> Vec<(String, f64)> {
    let notes = f["notes"].as_str().unwrap();
    let list = notes
        .split("Arrival (seconds after the request was sent): ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    list.split(", ")
        .map(|e| {
            let (t, at) = e.split_once('@').unwrap();
            (t.to_owned(), at.trim_end_matches('s').parse().unwrap())
        })
        .collect()
}

/// A watch's events as they arrive: (event, seconds after the request), and the header names.
async fn watch_timed(d: &ApiDouble, path: &str) -> (Vec<(Value, f64)>, Vec<String>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let start = tokio::time::Instant::now();
    let req = http::Request::builder()
        .uri(path)
        .body(kube::client::Body::empty())
        .unwrap();
    let Ok(resp) = d.clone().oneshot(req).await;
    let names = resp
        .headers()
        .keys()
        .map(|k| cnpg_backup_apidouble::fixtures::canonical_header(k.as_str()))
        .collect();
    let mut body = resp.into_body();
    let mut events = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame;
        let at = start.elapsed().as_secs_f64();
        for line in String::from_utf8(frame.into_data().unwrap().to_vec())
            .unwrap()
            .lines()
        {
            events.push((serde_json::from_str(line).unwrap(), at));
        }
    }
    (events, names)
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A write sent `at` seconds after now, as the capture's other connection sent them.
async fn later(d: &ApiDouble, at: f64, method: &str, path: String, ct: &str, body: Option<Value>) {
    tokio::time::sleep(std::time::Duration::from_secs_f64(at)).await;
    let got = replay(d, &request(method, &path, ct, body), None).await;
    assert!(got.status < 300, "{method} {path}: {}", got.text);
}

#[tokio::test(start_paused = true)]
async fn a_watch_sends_changes_then_bookmarks_before_its_deadline_22_23() {
    let d = ApiDouble::new();
    d.insert(cluster("pg-main"));
    let listed = replay(&d, &request("GET", CLUSTERS, "", None), None).await;
    let rv = rv_of(&listed.body);

    // 22: create, label, delete while a 5 s watch runs.
    let f22 = exchange("22-watch-clusters-added-modified-deleted.json");
    let path = format!(
        "{CLUSTERS}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=5"
    );
    let writes = async {
        later(
            &d,
            0.35,
            "POST",
            CLUSTERS.into(),
            "application/json",
            Some(cluster("pg-watch")),
        )
        .await;
        later(
            &d,
            0.32,
            "PATCH",
            format!("{CLUSTERS}/pg-watch"),
            "application/merge-patch+json",
            Some(json!({"metadata": {"labels": {"cnpg-backup.io/watched": "yes"}}})),
        )
        .await;
        later(&d, 0.32, "DELETE", format!("{CLUSTERS}/pg-watch"), "", None).await;
    };
    let ((events, names), ()) = tokio::join!(watch_timed(&d, &path), writes);
    assert_eq!(
        names,
        captured_header_names(&f22),
        "22: chunked, no Content-Length"
    );
    let types: Vec<&str> = events
        .iter()
        .map(|(e, _)| e["type"].as_str().unwrap())
        .collect();
    let mut want = captured_types(&f22);
    want.dedup(); // the captured server's whole-second timer sent its bookmark twice
    assert_eq!(types, want, "22");
    let (added, modified, deleted) = (
        &events[0].0["object"],
        &events[1].0["object"],
        &events[2].0["object"],
    );
    assert_eq!(added["metadata"]["name"], "pg-watch");
    assert_eq!(
        modified["metadata"]["labels"]["cnpg-backup.io/watched"],
        "yes"
    );
    assert!(
        rv_of(deleted) > rv_of(modified),
        "DELETED at the deletion's resourceVersion"
    );
    assert_eq!(
        deleted["metadata"]["labels"], modified["metadata"]["labels"],
        "its last state"
    );
    let bookmark = &events[3].0["object"];
    let captured_bookmark = &f22["response"]["body"][3]["object"];
    assert_eq!(
        bookmark.as_object().unwrap().keys().collect::<Vec<_>>(),
        captured_bookmark
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        bookmark["metadata"].as_object().unwrap().len(),
        1,
        "only the resourceVersion"
    );
    assert_eq!(
        rv_of(bookmark),
        rv_of(deleted),
        "the last change the server saw"
    );
    let captured = captured_arrivals(&f22);
    for ((e, at), (t, want)) in events.iter().zip(&captured) {
        assert_eq!(e["type"], t.as_str());
        assert!(
            (at - want).abs() <= 1.0,
            "22: {t} at {at}s, captured at {want}s"
        );
    }

    // 23: resumed from the last resourceVersion for 70 s; one label patch at about 1 s.
    let f23 = exchange("23-watch-clusters-bookmarks-70s.json");
    let resumed = rv_of(bookmark);
    let path = format!(
        "{CLUSTERS}?watch=1&allowWatchBookmarks=true&resourceVersion={resumed}&timeoutSeconds=70"
    );
    let touch = later(
        &d,
        1.05,
        "PATCH",
        format!("{CLUSTERS}/pg-main"),
        "application/merge-patch+json",
        Some(json!({"metadata": {"labels": {"cnpg-backup.io/touched": "1"}}})),
    );
    let ((events, _), ()) = tokio::join!(watch_timed(&d, &path), touch);
    let got: Vec<(String, f64)> = events
        .iter()
        .map(|(e, at)| (e["type"].as_str().unwrap().to_owned(), *at))
        .collect();
    let captured = captured_arrivals(&f23);
    assert_eq!(got.len(), captured.len(), "23: {got:?}");
    for ((t, at), (want_t, want_at)) in got.iter().zip(&captured) {
        assert_eq!(t, want_t, "23");
        assert!(
            (at - want_at).abs() <= 1.0,
            "23: {t} at {at}s, captured at {want_at}s"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_streaming_list_is_refused_in_stream_as_the_captured_server_does_25() {
    let d = ApiDouble::new();
    d.insert(cluster("pg-main"));
    let f25 = exchange("25-watch-clusters-sendinitialevents.json");
    let got = replay(&d, &f25, None).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body, f25["response"]["body"],
        "one ERROR event, code 500"
    );
    assert_same_headers("25", &f25, &got);
}

#[tokio::test(start_paused = true)]
async fn compaction_expires_continue_tokens_and_exact_lists_not_watches_26_to_29() {
    let d = ApiDouble::new();
    for n in ["pg-main", "pg-side"] {
        d.insert(cluster(n));
    }
    let first = replay(
        &d,
        &request("GET", &format!("{CLUSTERS}?limit=1"), "", None),
        None,
    )
    .await;
    let rv = rv_of(&first.body);
    let token = first.body["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_owned();
    // A token as the API server's: base64url JSON naming the first page's resourceVersion.
    let f26 = exchange("26-list-continue-after-compaction-410.json");
    let captured_token = f26["request"]["path"]
        .as_str()
        .unwrap()
        .split("continue=")
        .nth(1)
        .unwrap();
    assert_eq!(
        cnpg_backup_apidouble::store::read_continue_token(captured_token),
        Some((733, "pg-main".to_owned()))
    );
    assert_eq!(
        cnpg_backup_apidouble::store::read_continue_token(&token),
        Some((rv as i64, "pg-main".to_owned()))
    );
    // Changes, then etcd is compacted.
    d.insert(cluster("pg-watch"));
    d.edit("clusters", "pg-watch", |c| {
        c["metadata"]["labels"] = json!({"a": "b"})
    });
    replay(
        &d,
        &request("DELETE", &format!("{CLUSTERS}/pg-watch"), "", None),
        None,
    )
    .await;
    d.compact();

    // 26: the old token is 410 with a token that continues at the latest revision.
    let mut f = f26.clone();
    f["request"]["path"] = json!(format!("{CLUSTERS}?limit=1&continue={token}"));
    let got = replay(&d, &f, None).await;
    let mut want = f26["response"]["body"].clone();
    want["metadata"]["continue"] = got.body["metadata"]["continue"].clone();
    assert_same(
        "26",
        &json!({"response": {"status": 410, "body": want,
        "headers": f26["response"]["headers"]}}),
        &got,
    );
    let fresh = got.body["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cnpg_backup_apidouble::store::read_continue_token(&fresh),
        Some((-1, "pg-main".to_owned()))
    );
    // 27: the rest, at the current revision.
    let rest = replay(
        &d,
        &request(
            "GET",
            &format!("{CLUSTERS}?limit=1&continue={fresh}"),
            "",
            None,
        ),
        None,
    )
    .await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    assert_eq!(rest.body["items"][0]["metadata"]["name"], "pg-side");
    assert_eq!(
        rv_of(&rest.body),
        d.resource_version(),
        "27: not the first page's"
    );

    // 28: an exact list at the compacted revision.
    let mut f28 = exchange("28-list-exact-rv-after-compaction-410.json");
    f28["request"]["path"] = json!(format!(
        "{CLUSTERS}?resourceVersion={rv}&resourceVersionMatch=Exact"
    ));
    assert_same("28", &f28, &replay(&d, &f28, None).await);

    // 29: a watch from that revision is served from the cache: the changes are replayed.
    let f29 = exchange("29-watch-compacted-rv-from-cache-200.json");
    let mut f = f29.clone();
    f["request"]["path"] = json!(format!(
        "{CLUSTERS}?watch=1&resourceVersion={rv}&timeoutSeconds=1"
    ));
    let got = replay(&d, &f, None).await;
    let types: Vec<&str> = got
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"], "{}", got.text);
    assert_same_headers("29", &f29, &got);
}

#[tokio::test(start_paused = true)]
async fn a_watch_from_before_the_cache_is_one_410_error_event_30() {
    let d = ApiDouble::new();
    d.set_watch_cache(100);
    d.insert(cluster("pg-main"));
    d.insert(cluster("pg-side"));
    let rv = d.resource_version();
    for i in 0..200 {
        d.edit("clusters", "pg-side", |c| {
            c["metadata"]["labels"] = json!({"n": i.to_string()})
        });
    }
    let f30 = exchange("30-watch-too-old-rv-410-error-event.json");
    let mut f = f30.clone();
    f["request"]["path"] = json!(format!(
        "{CLUSTERS}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=5"
    ));
    let start = tokio::time::Instant::now();
    let got = replay(&d, &f, None).await;
    assert!(start.elapsed().is_zero(), "the stream ends at once");
    assert_same_headers("30", &f30, &got);
    let oldest_kept = d.resource_version() - 99;
    let mut want = f30["response"]["body"].clone();
    want[0]["object"]["message"] = json!(format!(
        "too old resource version: {rv} ({})",
        oldest_kept - 1
    ));
    assert_eq!(got.body, want);
    // From the last resourceVersion the cache still holds, the watch works.
    f["request"]["path"] = json!(format!(
        "{CLUSTERS}?watch=1&resourceVersion={}&timeoutSeconds=1",
        oldest_kept - 1
    ));
    let got = replay(&d, &f, None).await;
    assert_eq!(got.body.as_array().unwrap().len(), 100);

    // A re-initialised cache ends open watches; resuming from before is the same 410.
    let path = format!(
        "{CLUSTERS}?watch=1&resourceVersion={}&timeoutSeconds=60",
        d.resource_version()
    );
    let expire = async {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        d.expire_watches("clusters");
    };
    let start = tokio::time::Instant::now();
    let ((events, _), ()) = tokio::join!(watch_timed(&d, &path), expire);
    assert!(events.is_empty(), "ended without an event: {events:?}");
    assert_eq!(
        start.elapsed().as_secs(),
        5,
        "when the cache was re-initialised"
    );
    f["request"]["path"] = json!(path.replace("timeoutSeconds=60", "timeoutSeconds=5"));
    let got = replay(&d, &f, None).await;
    assert_eq!(got.body[0]["object"]["code"], 410, "{}", got.text);
}

#[tokio::test(start_paused = true)]
async fn a_metadata_watch_and_list_answer_partial_object_metadata() {
    let d = ApiDouble::new();
    d.insert(cluster("pg-main"));
    let accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
    let mut f = request("GET", CLUSTERS, "", None);
    f["request"]["headers"] = json!([["Accept", accept]]);
    let got = replay(&d, &f, None).await;
    assert_eq!(got.body["kind"], "PartialObjectMetadataList");
    assert_eq!(got.body["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(got.body["items"][0]["metadata"]["name"], "pg-main");
    assert!(got.body["items"][0].get("spec").is_none());

    // kube's metadata watcher, with a label selector: only what matches, metadata only.
    let clusters = kube::Api::<kube::core::DynamicObject>::namespaced_with(
        d.client(),
        "fixtures",
        &kube::core::ApiResource {
            group: "postgresql.cnpg.io".into(),
            version: "v1".into(),
            api_version: "postgresql.cnpg.io/v1".into(),
            kind: "Cluster".into(),
            plural: "clusters".into(),
        },
    );
    use futures::StreamExt;
    let wp = kube::api::WatchParams::default()
        .labels("team=a")
        .timeout(10);
    let rv = d.resource_version().to_string();
    let stream = clusters.watch_metadata(&wp, &rv).await.unwrap();
    let change = async {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        d.edit("clusters", "pg-main", |c| {
            c["metadata"]["labels"] = json!({"team": "a"})
        });
        d.edit("clusters", "pg-main", |c| c["spec"]["instances"] = json!(2));
        d.edit("clusters", "pg-main", |c| {
            c["metadata"]["labels"] = json!({"team": "b"})
        });
    };
    let (events, ()) = tokio::join!(stream.collect::<Vec<_>>(), change);
    let seen: Vec<String> = events
        .into_iter()
        .map(|e| match e.unwrap() {
            kube::api::WatchEvent::Added(m) => format!("added {}", m.metadata.generation.unwrap()),
            kube::api::WatchEvent::Modified(m) => {
                format!("modified {}", m.metadata.generation.unwrap())
            }
            kube::api::WatchEvent::Deleted(m) => {
                format!("deleted {}", m.metadata.generation.unwrap())
            }
            kube::api::WatchEvent::Bookmark(b) => {
                format!("bookmark {}", b.metadata.resource_version)
            }
            kube::api::WatchEvent::Error(e) => format!("error {e:?}"),
        })
        .collect();
    let bookmark = format!("bookmark {}", d.resource_version());
    assert_eq!(
        seen.last(),
        Some(&bookmark),
        "2 s before the deadline: {seen:?}"
    );
    assert_eq!(
        seen[..3],
        ["added 1", "modified 2", "deleted 2"],
        "as the label selector sees it"
    );
}

#[tokio::test]
async fn leases_swap_on_their_resource_version_31_to_35() {
    let d = ApiDouble::new();
    let strip = |v: &Value| {
        let mut v = v.clone();
        for k in ["uid", "resourceVersion", "creationTimestamp"] {
            v["metadata"].as_object_mut().unwrap().remove(k);
        }
        for e in v["metadata"]["managedFields"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            e.as_object_mut().unwrap().remove("time");
        }
        v
    };
    // 31: create (MicroTimes kept as sent).
    let f31 = exchange("31-lease-create-201.json");
    let created = replay(&d, &f31, None).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_same_headers("31", &f31, &created);
    assert_eq!(strip(&created.body), strip(&f31["response"]["body"]));
    // 32: get.
    let f32 = exchange("32-lease-get-200.json");
    let got = replay(&d, &f32, None).await;
    assert_eq!(strip(&got.body), strip(&f32["response"]["body"]));
    let rv = created.body["metadata"]["resourceVersion"].clone();
    // 33: a renewal with the current resourceVersion.
    let f33 = exchange("33-lease-update-200.json");
    let mut f = f33.clone();
    let mut body: Value =
        serde_json::from_str(f33["request"]["bodyText"].as_str().unwrap()).unwrap();
    body["metadata"]["resourceVersion"] = rv.clone();
    f["request"]["bodyText"] = json!(body.to_string());
    let renewed = replay(&d, &f, None).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_same_headers("33", &f33, &renewed);
    assert_eq!(renewed.body["spec"], f33["response"]["body"]["spec"]);
    assert_ne!(renewed.body["metadata"]["resourceVersion"], rv);
    // 34: another contender with the resourceVersion of 32: the real 409, no causes.
    let f34 = exchange("34-lease-update-stale-409.json");
    let mut f = f34.clone();
    let mut body: Value =
        serde_json::from_str(f34["request"]["bodyText"].as_str().unwrap()).unwrap();
    body["metadata"]["resourceVersion"] = rv;
    f["request"]["bodyText"] = json!(body.to_string());
    assert_same("34", &f34, &replay(&d, &f, None).await);
    // 35: taking the holder by apply is a field-manager conflict, not a swap.
    let f35 = exchange("35-lease-ssa-holder-conflict-409.json");
    assert_same("35", &f35, &replay(&d, &f35, None).await);
    assert_eq!(
        d.object("leases", "cnpg-backup-leader").unwrap()["spec"]["holderIdentity"],
        "cnpg-backup-7d9f6c-a1"
    );
    assert_eq!(d.count("update", "leases"), 2);
}

#[tokio::test]
async fn events_are_created_once_then_patched() {
    let d = ApiDouble::new();
    let path = "/apis/events.k8s.io/v1/namespaces/fixtures/events";
    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "pg-main.0123456789abcdef"}, "reason": "BackupFailed",
        "eventTime": "2026-11-26T01:02:00.000000Z", "reportingController": "cnpg-backup.io/serve",
        "reportingInstance": "a", "action": "Backup", "type": "Warning",
        "regarding": {"kind": "Cluster", "name": "pg-main"}});
    let first = replay(
        &d,
        &request("POST", path, "application/json", Some(ev.clone())),
        None,
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = replay(
        &d,
        &request("POST", path, "application/json", Some(ev)),
        None,
    )
    .await;
    assert_eq!(
        (again.status, again.body["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    let series = json!({"series": {"count": 2, "lastObservedTime": "2026-11-26T01:32:00.000000Z"}});
    let patched = replay(
        &d,
        &request(
            "PATCH",
            &format!("{path}/pg-main.0123456789abcdef"),
            "application/merge-patch+json",
            Some(series),
        ),
        None,
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["series"]["count"], 2);
    assert_eq!(d.counts()[&("create".to_owned(), "events".to_owned())], 2);
}
