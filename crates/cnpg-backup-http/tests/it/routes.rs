//! Every route: who may call it, and that a refused request changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

/// Every route of the API and the permission it needs (verb, resource), as the README and
/// `rbac --users` document them.
const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("GET", "status", "get", "settings"),
    ("GET", "settings", "get", "settings"),
    ("PUT", "settings", "update", "settings"),
    ("POST", "reconcile", "update", "settings"),
    ("POST", "preflight", "update", "settings"),
    ("POST", "backups", "create", "backups"),
    ("GET", "schedule/preview", "get", "settings"),
    ("GET", "retention/check", "get", "settings"),
    ("GET", "catalog", "list", "backups"),
    ("GET", "versions", "list", "backups"),
    ("POST", "restores/plan", "create", "restores"),
    ("POST", "restores", "create", "restores"),
    ("POST", "restores/intent", "create", "restores"),
    ("GET", "restores", "list", "restores"),
    ("GET", "restores/{id}", "get", "restores"),
    ("GET", "restores/{id}/events", "get", "restores"),
    ("POST", "restores/{id}/refresh", "update", "restores"),
    ("POST", "restores/{id}/apply", "create", "restores/apply"),
    ("POST", "restores/{id}/abandon", "update", "restores"),
    ("POST", "restores/{id}/cleanup", "update", "restores"),
    ("POST", "restores/{id}/retry", "update", "restores"),
];

#[test]
fn the_table_lists_exactly_the_routes_of_the_openapi_document() {
    let doc = cnpg_backup_http::openapi::document(None);
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if path != "/openapi.json" {
                documented.push(format!(
                    "{} {}",
                    method.to_uppercase(),
                    path.trim_start_matches('/')
                ));
            }
        }
    }
    documented.sort();
    let mut ours: Vec<String> = ROUTES
        .iter()
        .map(|(m, p, _, _)| format!("{m} {p}"))
        .collect();
    ours.sort();
    assert_eq!(documented, ours);
}

/// A request: method, path and query, JSON body, multipart form (content type, bytes).
type Planned = (Method, String, Option<Value>, Option<(String, Vec<u8>)>);

/// A request that would change something (or read something) if it were allowed.
fn request(method: &str, path: &str, admin: &str, tenant: &str) -> Planned {
    let path = path.replace("{id}", "r-exists");
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let body = match (method, path.as_str()) {
        ("PUT", "settings") => None, // filled in by the caller from GET settings
        ("POST", "restores/plan") => Some(json!({"request": full_request("other", admin, tenant)})),
        ("POST", "restores") => Some(
            json!({"id": "r-other", "request": full_request("other", admin, tenant), "acknowledgement": stage_one()}),
        ),
        ("POST", p) if p.ends_with("/apply") => Some(json!({"acknowledgement": stage_two()})),
        _ => None,
    };
    let form = (path == "restores/intent").then(|| {
        let intent = json!({
            "apiVersion": "cnpg-backup.io/v1", "kind": "RestoreIntent", "restoreId": "r-intent",
            "spec": full_request("intent", admin, tenant),
            "acknowledgements": {"stageOne": stage_one()},
        });
        multipart(&[("intent", intent.to_string().as_bytes())])
    });
    let query = match path.as_str() {
        "schedule/preview" => "?preset=daily&hour=3",
        "retention/check" => "?value=30d",
        _ => "",
    };
    (m, format!("{path}{query}"), body, form)
}

async fn send(
    s: &Server,
    user: Option<&str>,
    method: &str,
    path: &str,
    admin: &str,
    tenant: &str,
    settings: &Value,
) -> Answer {
    let (m, p, body, form) = request(method, path, admin, tenant);
    let body = if method == "PUT" {
        Some(settings.clone())
    } else {
        body
    };
    let mut req = s.client.request(m, s.url(&p));
    if let Some(u) = user {
        req = req.bearer_auth(token(u));
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    if let Some((ct, bytes)) = form {
        req = req.header("content-type", ct).body(bytes);
    }
    if path.ends_with("/events") {
        // Only the head matters; the stream is dropped.
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        return if status == 200 {
            Answer {
                status,
                headers: res.headers().clone(),
                json: Value::Null,
                text: String::new(),
            }
        } else {
            answer(res).await
        };
    }
    answer(req.send().await.unwrap()).await
}

async fn world_with_a_restore() -> (Server, String, String, Value) {
    let s = start().await;
    let (admin, tenant) = s.with_backups().await;
    let r = s
        .post("restores", json!({"id": "r-exists", "request": full_request("exists", &admin, &tenant), "acknowledgement": stage_one()}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut settings = s.get("settings").await.json["settings"].clone();
    settings["automation"]["retention"] = json!("7d");
    (s, admin, tenant, settings)
}

#[tokio::test]
async fn without_a_valid_token_every_route_is_401_and_nothing_changes() {
    let (s, admin, tenant, settings) = world_with_a_restore().await;
    let before = s.world().await;
    for (method, path, _, _) in ROUTES {
        for user in [None, Some("intruder")] {
            let a = send(&s, user, method, path, &admin, &tenant, &settings).await;
            assert_eq!(a.status, 401, "{method} {path} as {user:?}: {}", a.text);
            assert_eq!(a.json["category"], "unauthenticated");
            assert!(a.headers.contains_key("www-authenticate"));
        }
        assert_eq!(s.world().await, before, "{method} {path} changed something");
    }
    // A malformed header is no better.
    let a = answer(
        s.client
            .get(s.url("status"))
            .header("authorization", "Basic YWRtaW4=")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn each_role_gets_exactly_its_routes_and_a_refusal_changes_nothing() {
    let (s, admin, tenant, settings) = world_with_a_restore().await;
    for (method, path, verb, resource) in ROUTES {
        for user in ["viewer", "operator", "restorer", "nobody"] {
            let allowed = cnpg_backup_kube::rbac::user_role(user).is_some_and(|r| {
                cnpg_backup_kube::rbac::rules_allow(r.rules, "cnpg-backup.io", resource, verb)
            });
            let before = s.world().await;
            let a = send(&s, Some(user), method, path, &admin, &tenant, &settings).await;
            if allowed {
                assert!(
                    a.status != 401 && a.status != 403,
                    "{user} {method} {path}: {} {}",
                    a.status,
                    a.text
                );
            } else {
                assert_eq!(a.status, 403, "{user} {method} {path}: {}", a.text);
                assert_eq!(a.json["category"], "forbidden");
                assert!(
                    a.json["detail"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("`{verb}` on `{resource}`")),
                    "{}",
                    a.text
                );
                assert_eq!(
                    s.world().await,
                    before,
                    "{user} {method} {path} changed something"
                );
            }
        }
    }
    // The viewer reads everything.
    for path in [
        "status",
        "settings",
        "catalog",
        "versions",
        "restores",
        "restores/r-exists",
    ] {
        assert_eq!(
            s.call(Some("viewer"), Method::GET, path, None).await.status,
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn openapi_json_is_served_without_a_token_and_matches_the_snapshot() {
    let s = start().await;
    let a = answer(s.client.get(s.url("openapi.json")).send().await.unwrap()).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["openapi"], "3.1.0");
    assert_eq!(a.json, cnpg_backup_http::openapi::document(None));
    insta::assert_snapshot!(
        "openapi",
        serde_json::to_string_pretty(&cnpg_backup_http::openapi::document(Some("/api/v1")))
            .unwrap()
    );
}
