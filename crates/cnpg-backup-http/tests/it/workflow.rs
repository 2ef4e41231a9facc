//! The seed workflow over HTTP only, and the restore event stream.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

/// Reads server-sent events from `res` until the stream ends (or `max` events), calling
/// `between` after each event (to make the next change happen elsewhere).
pub async fn follow(
    mut res: reqwest::Response,
    max: usize,
    mut between: impl AsyncFnMut(&Value),
) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut buf = String::new();
    while events.len() < max {
        let chunk = tokio::time::timeout(Duration::from_secs(20), res.chunk())
            .await
            .expect("an event within 20 s")
            .unwrap();
        let Some(chunk) = chunk else { break };
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if data.is_empty() {
                continue; // a keep-alive comment
            }
            let value: Value = serde_json::from_str(&data).unwrap();
            between(&value).await;
            events.push((name, value));
        }
    }
    events
}

#[tokio::test]
async fn the_seed_workflow_runs_over_http_with_the_caller_in_the_audit_trail() {
    let s = start().await;
    // Save automation: read the settings, change the schedule and retention, write them back.
    let shown = s.get("settings").await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    let mut settings = shown.json["settings"].clone();
    settings["automation"]["schedule"] = json!({"preset": "daily", "hour": 2, "minute": 30});
    settings["automation"]["retention"] = json!("14d");
    let saved = s
        .call(Some("operator"), Method::PUT, "settings", Some(settings))
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.json["cron"], "0 30 2 * * *");
    assert_eq!(saved.json["retention"], "RECOVERY WINDOW OF 14 DAYS");
    // Check bucket, reconcile, status.
    let pf = s
        .call(Some("operator"), Method::POST, "preflight", None)
        .await;
    assert_eq!(pf.status, 200, "{}", pf.text);
    assert_eq!(pf.json["state"], "ok", "{}", pf.text);
    let (admin, tenant) = s.with_backups().await;
    let status = s.get("status").await;
    assert_eq!(status.json["reconcile"]["state"], "ok");
    assert_eq!(status.json["preflight"]["state"], "ok");
    // Catalogs of each plane, from the cluster and from the bucket; version hints.
    let cat = s.get("catalog?plane=admin").await;
    assert!(
        cat.json
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["plane"] == "admin")
    );
    let bucket = s.get("catalog?source=bucket&plane=both").await;
    assert_eq!(bucket.status, 200, "{}", bucket.text);
    assert!(
        bucket
            .json
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["storage"] == "present")
    );
    let versions = s.get("versions").await;
    assert_eq!(versions.json["running"], "1.4.2");
    assert!(
        versions.json["backups"][0]["allowedBy"]
            .as_array()
            .unwrap()
            .contains(&json!("same_major"))
    );
    // Plan, then stage one as the restorer.
    let request = full_request("drill", &admin, &tenant);
    let plan = s
        .call(
            Some("restorer"),
            Method::POST,
            "restores/plan",
            Some(json!({"id": "r-drill", "request": request})),
        )
        .await;
    assert_eq!(plan.status, 200, "{}", plan.text);
    assert_eq!(plan.json["creates"], json!(["drill-admin", "drill-tenant"]));
    let created = s
        .call(
            Some("restorer"),
            Method::POST,
            "restores",
            Some(json!({"id": "r-drill", "request": request, "acknowledgement": stage_one()})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.headers["location"], "restores/r-drill");
    assert_eq!(created.json["audit"][0]["actor"], "restorer@example.com");
    // Follow readiness by events while someone else (a control loop, another replica) drives
    // the restore: the stream notices those changes by re-reading.
    let res = s
        .client
        .get(s.url("restores/r-drill/events"))
        .bearer_auth(token("viewer"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let backend = s.backend.clone();
    let events = follow(res, 50, async |_| {
        backend.advance(1).await.unwrap();
        let _ = backend.restore_refresh(&"r-drill".parse().unwrap()).await;
    })
    .await;
    let phases: Vec<&str> = events
        .iter()
        .map(|(_, v)| v["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        *phases.last().unwrap(),
        "ready_for_promotion_checks",
        "{phases:?}"
    );
    assert!(events.iter().all(|(n, _)| n == "restore"));
    // Stage two with the second acknowledgement, then readiness until completed.
    let applied = s
        .call(
            Some("restorer"),
            Method::POST,
            "restores/r-drill/apply",
            Some(json!({"acknowledgement": stage_two()})),
        )
        .await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    let mut phase = applied.json["phase"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        if phase == "completed" {
            break;
        }
        s.backend.advance(1).await.unwrap();
        let r = s
            .call(
                Some("restorer"),
                Method::POST,
                "restores/r-drill/refresh",
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        phase = r.json["phase"].as_str().unwrap().to_owned();
    }
    assert_eq!(phase, "completed");
    let one = s.get("restores/r-drill").await;
    let audit = one.json["audit"].as_array().unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a["kind"] == "stage_two_ack" && a["actor"] == "restorer@example.com"),
        "{audit:?}"
    );
    let list = s.get("restores").await;
    assert_eq!(list.json.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_stream_sends_the_record_at_once_wakes_on_changes_here_and_ends_at_shutdown() {
    let mut config = fast_config();
    // So slow that only an in-process notification can explain a prompt event.
    config.events_poll = Duration::from_secs(3600);
    let s = start_with(role_access(), config).await;
    let (admin, tenant) = s.with_backups().await;
    let created = s
        .post(
            "restores",
            json!({"id": "r-live", "request": full_request("live", &admin, &tenant), "acknowledgement": stage_one()}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let res = s
        .client
        .get(s.url("restores/r-live/events"))
        .bearer_auth(token("admin"))
        .send()
        .await
        .unwrap();
    let url = s.url("restores/r-live/refresh");
    let client = s.client.clone();
    let mut seen = 0;
    let events = follow(res, 2, async |_| {
        seen += 1;
        if seen == 1 {
            // A change through the router wakes the stream at once.
            client
                .post(&url)
                .bearer_auth(token("admin"))
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    assert_eq!(events.len(), 2, "{events:?}");
    // Shutdown ends the stream (here: a third event never comes, the body ends).
    let res = s
        .client
        .get(s.url("restores/r-live/events"))
        .bearer_auth(token("admin"))
        .send()
        .await
        .unwrap();
    s.state.shutdown().cancel();
    let rest = follow(res, 10, async |_| {}).await;
    assert!(rest.len() <= 1, "{rest:?}");
    // And a new step is refused once shutdown began.
    let r = s.post("restores/r-live/refresh", json!({})).await;
    assert_eq!(r.status, 503, "{}", r.text);
}

#[tokio::test]
async fn an_unknown_restore_is_a_404_problem_with_the_cli_category() {
    let s = start().await;
    for path in ["restores/r-none", "restores/r-none/events"] {
        let a = s.get(path).await;
        assert_eq!(a.status, 404, "{path}: {}", a.text);
        assert_eq!(a.headers["content-type"], "application/problem+json");
        assert_eq!(a.json["category"], "not_found");
        assert_eq!(a.json["exitCode"], 2);
    }
    let bad = s.get("restores/Not_An_Id").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json["field"], "id");
}
