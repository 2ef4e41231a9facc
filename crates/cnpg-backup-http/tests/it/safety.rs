//! Refusals: acknowledgements, malformed and oversized bodies, intent uploads, cross-origin
//! requests, rate limits. Each leaves the world as it was.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

async fn upload(s: &Server, fields: &[(&str, &[u8])]) -> Answer {
    let (ct, body) = multipart(fields);
    answer(
        s.client
            .post(s.url("restores/intent"))
            .bearer_auth(token("admin"))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn intent(admin: &str, tenant: &str, ack: Option<&str>) -> Value {
    let mut v = json!({
        "apiVersion": "cnpg-backup.io/v1", "kind": "RestoreIntent", "restoreId": "r-upload",
        "spec": full_request("upload", admin, tenant),
    });
    if let Some(a) = ack {
        v["acknowledgements"] = json!({"stageOne": a});
    }
    v
}

#[tokio::test]
async fn a_wrong_or_missing_acknowledgement_is_422_and_nothing_is_created() {
    let s = start().await;
    let (admin, tenant) = s.with_backups().await;
    let before = s.world().await;
    let request = full_request("drill", &admin, &tenant);
    for ack in [None, Some("yes"), Some("I understand")] {
        let mut body = json!({"id": "r-drill", "request": request});
        if let Some(a) = ack {
            body["acknowledgement"] = json!(a);
        }
        let a = s.post("restores", body).await;
        assert_eq!(a.status, 422, "{}", a.text);
        assert_eq!(a.json["category"], "refused");
        assert_eq!(a.json["exitCode"], 4);
        assert_eq!(a.json["field"], "acknowledgement");
        assert!(
            a.json["detail"].as_str().unwrap().contains(stage_one()),
            "{}",
            a.text
        );
        assert_eq!(s.world().await, before);
    }
    // The stage-two sentence does not open stage one.
    let a = s
        .post(
            "restores",
            json!({"request": request, "acknowledgement": stage_two()}),
        )
        .await;
    assert_eq!(a.status, 422);
    // Stage two refuses the first sentence, and a missing one, without touching the restore.
    let ok = s
        .post(
            "restores",
            json!({"id": "r-drill", "request": request, "acknowledgement": stage_one()}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let before = s.world().await;
    for body in [json!({"acknowledgement": stage_one()}), json!({})] {
        let a = s.post("restores/r-drill/apply", body).await;
        assert_eq!(a.status, 422, "{}", a.text);
        assert_eq!(s.world().await, before);
    }
    // Not ready yet: the right sentence is still refused, as the answer "no" (409).
    let a = s
        .post(
            "restores/r-drill/apply",
            json!({"acknowledgement": stage_two()}),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.text);
    assert_eq!(a.json["category"], "no");
}

#[tokio::test]
async fn malformed_bodies_are_400_naming_the_field_and_change_nothing() {
    let s = start().await;
    let (admin, tenant) = s.with_backups().await;
    let before = s.world().await;
    let send_raw = async |path: &str, ct: &str, body: Vec<u8>, method: Method| {
        answer(
            s.client
                .request(method, s.url(path))
                .bearer_auth(token("admin"))
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let a = send_raw(
        "restores",
        "application/json",
        b"{\"request\": ".to_vec(),
        Method::POST,
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{}",
        a.text
    );
    let mut bad = full_request("drill", &admin, &tenant);
    bad["mode"]["baseName"] = json!("Not_A_Name");
    let a = s
        .post(
            "restores",
            json!({"request": bad, "acknowledgement": stage_one()}),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.json["field"], "request.mode.baseName", "{}", a.text);
    let a = s
        .post(
            "restores/plan",
            json!({"request": full_request("x", &admin, &tenant), "colour": 1}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.json["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{}",
        a.text
    );
    let a = send_raw("restores", "text/plain", b"{}".to_vec(), Method::POST).await;
    assert_eq!(a.status, 415, "{}", a.text);
    let mut settings = s.get("settings").await.json["settings"].clone();
    settings["automation"]["retention"] = json!("7x");
    let a = s
        .call(Some("admin"), Method::PUT, "settings", Some(settings))
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.json["field"], "automation.retention", "{}", a.text);
    assert!(
        a.json["detail"].as_str().unwrap().contains("7x"),
        "{}",
        a.text
    );
    assert!(
        !a.json["detail"].as_str().unwrap().contains(" at line "),
        "{}",
        a.text
    );
    let mut settings = s.get("settings").await.json["settings"].clone();
    settings["target"] =
        json!({"provider": "s3", "bucket": "b", "credentials": {"kind": "s3_inherit_iam_role"}});
    let a = s
        .call(Some("admin"), Method::PUT, "settings", Some(settings))
        .await;
    assert_eq!(
        (a.status, a.json["field"].clone()),
        (400, json!("target")),
        "{}",
        a.text
    );
    assert!(
        a.json["detail"].as_str().unwrap().contains("bucket `b`"),
        "{}",
        a.text
    );
    // Query parameters are checked too.
    let a = s.get("schedule/preview?preset=hourly&hour=3").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["detail"], "`hour` does not apply to preset `hourly`");
    let a = s.get("retention/check?value=30x").await;
    assert_eq!((a.status, a.json["field"].clone()), (400, json!("value")));
    let a = s.get("catalog?plane=all").await;
    assert_eq!(a.status, 400, "{}", a.text);
    let ok = s
        .get("schedule/preview?cron=0%200%202%20*%20*%20*&count=2&from=2026-11-26T00:00:00Z")
        .await;
    assert_eq!(
        ok.json["next"],
        json!(["2026-11-26T02:00:00Z", "2026-11-27T02:00:00Z"]),
        "{}",
        ok.text
    );
    // Too large: a JSON body over the limit.
    let big = format!("{{\"request\": \"{}\"}}", "x".repeat(70 * 1024));
    let a = send_raw(
        "restores/plan",
        "application/json",
        big.into_bytes(),
        Method::POST,
    )
    .await;
    assert_eq!(a.status, 413, "{}", a.text);
    assert_eq!(a.headers["content-type"], "application/problem+json");
    assert_eq!(s.world().await, before);
}

#[tokio::test]
async fn an_intent_upload_runs_stage_one_under_the_same_rules_as_the_cli() {
    let s = start().await;
    let (admin, tenant) = s.with_backups().await;
    let before = s.world().await;
    // Without an acknowledgement (in the intent or the form): 422, nothing created.
    let a = upload(
        &s,
        &[(
            "intent",
            intent(&admin, &tenant, None).to_string().as_bytes(),
        )],
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.text);
    // Not UTF-8, a BOM, over 64 KiB, not an intent: 400, nothing created.
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(
        intent(&admin, &tenant, Some(stage_one()))
            .to_string()
            .as_bytes(),
    );
    let mut padded = intent(&admin, &tenant, Some(stage_one())).to_string();
    padded.insert_str(1, &format!("\"pad\": \"{}\", ", "x".repeat(64 * 1024)));
    for (what, bytes) in [
        ("utf-8", vec![b'{', 0xFF, b'}']),
        ("bom", bom),
        ("size", padded.into_bytes()),
        ("kind", br#"{"apiVersion": "v1", "kind": "Pod"}"#.to_vec()),
    ] {
        let a = upload(&s, &[("intent", &bytes)]).await;
        assert_eq!(a.status, 400, "{what}: {}", a.text);
        assert_eq!(a.json["field"], "intent", "{what}");
    }
    // Far over the limit: refused before it is read (413).
    let huge = vec![b' '; 200 * 1024];
    let a = upload(&s, &[("intent", &huge)]).await;
    assert_eq!(a.status, 413, "{}", a.text);
    let a = upload(&s, &[("colour", b"blue")]).await;
    assert_eq!((a.status, a.json["field"].clone()), (400, json!("colour")));
    assert_eq!(s.world().await, before);
    // With the acknowledgement in a form field, and the id from the intent.
    let a = upload(
        &s,
        &[
            (
                "intent",
                intent(&admin, &tenant, None).to_string().as_bytes(),
            ),
            ("acknowledgement", stage_one().as_bytes()),
        ],
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json["id"], "r-upload");
    assert_eq!(a.json["phase"], "provisioning", "{}", a.text);
    // The same again: its recovery clusters exist now (a names clash, refused for safety).
    let again = upload(
        &s,
        &[(
            "intent",
            intent(&admin, &tenant, Some(stage_one()))
                .to_string()
                .as_bytes(),
        )],
    )
    .await;
    assert_eq!(again.status, 422, "{}", again.text);
    assert!(
        again.json["detail"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{}",
        again.text
    );
}

#[tokio::test]
async fn cross_site_state_changes_are_refused_but_reads_and_same_origin_pass() {
    let s = start().await;
    let before = s.world().await;
    let cross = |req: reqwest::RequestBuilder| {
        req.bearer_auth(token("admin"))
            .header("sec-fetch-site", "cross-site")
    };
    let a = answer(
        cross(s.client.post(s.url("reconcile")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.json["category"], "forbidden");
    assert!(
        a.json["detail"].as_str().unwrap().contains("cross-origin"),
        "{}",
        a.text
    );
    let a = answer(
        s.client
            .post(s.url("backups"))
            .bearer_auth(token("admin"))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(s.world().await, before);
    let a = answer(cross(s.client.get(s.url("status"))).send().await.unwrap()).await;
    assert_eq!(a.status, 200);
    let a = answer(
        s.client
            .post(s.url("reconcile"))
            .bearer_auth(token("admin"))
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // No CORS unless configured.
    let a = s
        .client
        .request(Method::OPTIONS, s.url("status"))
        .header("origin", "https://console.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(!a.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn configured_origins_get_cors_and_pass_the_cross_origin_check() {
    let mut config = fast_config();
    config.allowed_origins = vec!["https://console.example".to_owned()];
    let s = start_with(role_access(), config).await;
    let a = s
        .client
        .post(s.url("reconcile"))
        .bearer_auth(token("admin"))
        .header("origin", "https://console.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    assert_eq!(
        a.headers()["access-control-allow-origin"],
        "https://console.example"
    );
}

#[tokio::test]
async fn destructive_routes_are_rate_limited_per_restore_with_retry_after() {
    let s = start().await;
    let (admin, tenant) = s.with_backups().await;
    let r = s
        .post("restores", json!({"id": "r-rate", "request": full_request("rate", &admin, &tenant), "acknowledgement": stage_one()}))
        .await;
    assert_eq!(r.status, 201);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let a = s
            .post(
                "restores/r-rate/apply",
                json!({"acknowledgement": stage_two()}),
            )
            .await;
        statuses.push(a.status);
        if a.status == 429 {
            assert!(a.headers.contains_key("retry-after"));
            assert_eq!(a.json["category"], "rate_limited");
        }
    }
    assert_eq!(statuses, vec![409, 409, 409, 429]);
    // Another restore has its own bucket.
    let a = s.post("restores/r-other/abandon", json!({})).await;
    assert_eq!(a.status, 404, "{}", a.text);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_unknown_routes_are_problems() {
    let s = start().await;
    let a = s.get("status").await;
    assert!(a.headers.contains_key("x-request-id"));
    let a = s.get("no/such/route").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json["category"], "no_route");
    let a = s.call(Some("admin"), Method::DELETE, "status", None).await;
    assert_eq!(a.status, 405, "{}", a.text);
    assert_eq!(a.headers["content-type"], "application/problem+json");
}
