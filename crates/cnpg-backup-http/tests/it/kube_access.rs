//! Callers checked by Kubernetes: `Access::kube` over a kube client whose API server is a
//! small tower mock that answers TokenReviews and SubjectAccessReviews with the bodies the real
//! kube-apiserver 1.32 sent (`fixtures/apiserver` 39-42, 44, 45), deciding access with
//! the roles `cnpg-backup rbac --users` prints. (The reusable API double was being moved into
//! its own crate while this was written; this mock replays only the review exchanges.)

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use cnpg_backup_app::Backend;
use cnpg_backup_http::Access;
use http::{Request, Response};
use kube::client::Body;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

fn fixture(file: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/apiserver/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

/// What the mock API server knows and saw.
#[derive(Default)]
struct Reviews {
    /// token → (username, role)
    users: BTreeMap<String, (String, String)>,
    /// Our own credentials were revoked: every request is answered 401 (fixtures 44, 45).
    revoked: bool,
    /// Every review request body.
    seen: Vec<(String, Value)>,
}

fn answer(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

async fn handle(
    reviews: Arc<Mutex<Reviews>>,
    req: Request<Body>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect_bytes().await.unwrap();
    let sent: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let path = parts.uri.path().to_owned();
    let mut r = reviews.lock().unwrap();
    r.seen.push((path.clone(), sent.clone()));
    if r.revoked {
        let f = fixture("45-deleted-serviceaccount-token-401.json");
        return Ok(answer(401, &f["response"]["body"]));
    }
    match (parts.method.as_str(), path.as_str()) {
        ("POST", "/apis/authentication.k8s.io/v1/tokenreviews") => {
            let token = sent["spec"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let body = match r.users.get(&token) {
                Some((name, _)) => {
                    let mut b = fixture("39-tokenreview-sa-token.json")["response"]["body"].clone();
                    b["spec"]["token"] = json!(token);
                    b["status"]["user"]["username"] = json!(name);
                    b
                }
                None => {
                    let mut b =
                        fixture("40-tokenreview-invalid-token.json")["response"]["body"].clone();
                    b["spec"]["token"] = json!(token);
                    b
                }
            };
            Ok(answer(201, &body))
        }
        ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews") => {
            let spec = &sent["spec"];
            let attrs = &spec["resourceAttributes"];
            let resource = match attrs["subresource"].as_str() {
                Some(sub) => format!("{}/{sub}", attrs["resource"].as_str().unwrap()),
                None => attrs["resource"].as_str().unwrap().to_owned(),
            };
            let role = r
                .users
                .values()
                .find(|(name, _)| spec["user"] == json!(name))
                .map(|(_, role)| role.clone());
            let allowed = attrs["namespace"] == "fixtures"
                && role
                    .as_deref()
                    .and_then(cnpg_backup_kube::rbac::user_role)
                    .is_some_and(|role| {
                        cnpg_backup_kube::rbac::rules_allow(
                            role.rules,
                            attrs["group"].as_str().unwrap_or_default(),
                            &resource,
                            attrs["verb"].as_str().unwrap_or_default(),
                        )
                    });
            let file = if allowed {
                "42-subjectaccessreview-get-allowed.json"
            } else {
                "41-subjectaccessreview-create-denied.json"
            };
            let mut b = fixture(file)["response"]["body"].clone();
            b["spec"] = spec.clone();
            Ok(answer(201, &b))
        }
        _ => {
            let f = fixture("19-sa-get-cluster-403.json");
            Ok(answer(403, &f["response"]["body"]))
        }
    }
}

async fn start_kube() -> (Server, Arc<Mutex<Reviews>>) {
    start_kube_with(std::time::Duration::ZERO).await
}

async fn start_kube_with(cache: std::time::Duration) -> (Server, Arc<Mutex<Reviews>>) {
    let reviews = Arc::new(Mutex::new(Reviews::default()));
    {
        let mut r = reviews.lock().unwrap();
        for role in ["viewer", "operator", "restorer"] {
            r.users.insert(
                token(role),
                (format!("{role}@example.com"), role.to_owned()),
            );
        }
        r.users.insert(
            token("admin"),
            ("admin@example.com".into(), "restorer".into()),
        );
        r.users.insert(
            token("nobody"),
            ("nobody@example.com".into(), "none".into()),
        );
    }
    let shared = reviews.clone();
    let client = kube::Client::new(
        tower::service_fn(move |req| handle(shared.clone(), req)),
        "fixtures",
    );
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Backend::embedded(dir.path(), None, false).await.unwrap());
    let access = Access::kube(client, "fixtures").with_cache(cache);
    let s = serve(backend, dir, access, fast_config()).await;
    (s, reviews)
}

#[tokio::test]
async fn token_and_access_reviews_decide_by_role() {
    let (s, reviews) = start_kube().await;
    // A token the API server does not know: 401, and no access review is even asked.
    let a = s.call(Some("intruder"), Method::GET, "status", None).await;
    assert_eq!(a.status, 401, "{}", a.text);
    assert!(
        reviews
            .lock()
            .unwrap()
            .seen
            .iter()
            .all(|(p, _)| p.ends_with("tokenreviews"))
    );
    // Reads for everyone with a role, writes by role.
    for user in ["viewer", "operator", "restorer"] {
        assert_eq!(
            s.call(Some(user), Method::GET, "status", None).await.status,
            200,
            "{user}"
        );
    }
    assert_eq!(
        s.call(Some("nobody"), Method::GET, "status", None)
            .await
            .status,
        403
    );
    let r = s
        .call(Some("viewer"), Method::POST, "reconcile", None)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("viewer@example.com")
    );
    assert_eq!(
        s.call(Some("operator"), Method::POST, "reconcile", None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.call(Some("restorer"), Method::POST, "reconcile", None)
            .await
            .status,
        403
    );
    // The restorer stages and applies; the operator may not.
    let b = s
        .call(Some("operator"), Method::POST, "backups", None)
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    s.backend.advance(10).await.unwrap();
    let cat = s
        .call(Some("viewer"), Method::GET, "catalog", None)
        .await
        .json;
    let name = |plane: &str| {
        cat.as_array()
            .unwrap()
            .iter()
            .find(|r| r["plane"] == plane)
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let body = json!({"id": "r-kube", "request": full_request("kube", &name("admin"), &name("tenant")), "acknowledgement": stage_one()});
    let a = s
        .call(
            Some("operator"),
            Method::POST,
            "restores",
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.text);
    let a = s
        .call(Some("restorer"), Method::POST, "restores", Some(body))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json["audit"][0]["actor"], "restorer@example.com");
    let a = s
        .call(
            Some("restorer"),
            Method::POST,
            "restores/r-kube/apply",
            Some(json!({"acknowledgement": stage_two()})),
        )
        .await;
    assert_eq!(a.status, 409, "allowed, but not ready yet: {}", a.text);
    // The access reviews asked were about our own group, in the namespace, with the user's
    // groups and uid from the token review, and named the restore for per-restore routes.
    let seen = reviews.lock().unwrap().seen.clone();
    let apply = seen
        .iter()
        .rev()
        .find(|(p, b)| {
            p.ends_with("subjectaccessreviews")
                && b["spec"]["resourceAttributes"]["subresource"] == "apply"
        })
        .expect("an access review of restores/apply");
    let spec = &apply.1["spec"];
    assert_eq!(spec["user"], "restorer@example.com");
    assert_eq!(spec["uid"], "9c8cca5d-f2dc-431d-be43-82137ca4dc95");
    assert_eq!(spec["groups"][2], "system:authenticated");
    assert!(spec["extra"]["authentication.kubernetes.io/credential-id"].is_array());
    let attrs = &spec["resourceAttributes"];
    assert_eq!(attrs["group"], "cnpg-backup.io");
    assert_eq!(attrs["namespace"], "fixtures");
    assert_eq!(attrs["resource"], "restores");
    assert_eq!(attrs["verb"], "create");
    assert_eq!(attrs["name"], "r-kube");
}

#[tokio::test]
async fn when_our_own_credentials_are_revoked_callers_get_502_and_nothing_changes() {
    let (s, reviews) = start_kube().await;
    let before = s.world().await;
    reviews.lock().unwrap().revoked = true;
    for (method, path) in [
        (Method::GET, "status"),
        (Method::POST, "reconcile"),
        (Method::POST, "backups"),
    ] {
        let a = s.call(Some("operator"), method.clone(), path, None).await;
        assert_eq!(a.status, 502, "{method} {path}: {}", a.text);
        assert_eq!(a.json["category"], "world");
        assert!(
            a.json["detail"]
                .as_str()
                .unwrap()
                .contains("cannot check the caller"),
            "{}",
            a.text
        );
    }
    assert_eq!(s.world().await, before);
}

#[tokio::test]
async fn with_a_cache_a_burst_costs_one_review_of_each_kind() {
    let (s, reviews) = start_kube_with(std::time::Duration::from_secs(60)).await;
    for _ in 0..5 {
        assert_eq!(
            s.call(Some("viewer"), Method::GET, "status", None)
                .await
                .status,
            200
        );
        assert_eq!(
            s.call(Some("viewer"), Method::POST, "reconcile", None)
                .await
                .status,
            403
        );
        assert_eq!(
            s.call(Some("intruder"), Method::GET, "status", None)
                .await
                .status,
            401
        );
    }
    let seen = reviews.lock().unwrap().seen.clone();
    let count = |kind: &str| seen.iter().filter(|(p, _)| p.ends_with(kind)).count();
    // Two tokens (viewer, intruder), two permissions of the viewer.
    assert_eq!(count("tokenreviews"), 2, "{seen:?}");
    assert_eq!(count("subjectaccessreviews"), 2, "{seen:?}");
    // A failed review is not remembered: once the API server answers again, so do we.
    let (s, reviews) = start_kube_with(std::time::Duration::from_secs(60)).await;
    reviews.lock().unwrap().revoked = true;
    assert_eq!(
        s.call(Some("viewer"), Method::GET, "status", None)
            .await
            .status,
        502
    );
    reviews.lock().unwrap().revoked = false;
    assert_eq!(
        s.call(Some("viewer"), Method::GET, "status", None)
            .await
            .status,
        200
    );
}
