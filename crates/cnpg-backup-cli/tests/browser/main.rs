//! The Backup & Restore page in a real browser: Debian's `chromium` driven through
//! `chromedriver` (WebDriver, with fantoccini) against `cnpg-backup serve --embedded`, by clicking
//! and typing as a person would: sign in, save automation, check the bucket, run backups, restore
//! both planes, watch readiness, apply, see `completed`; and the refusals (Create disabled without
//! the acknowledgement, the set-mismatch warning, the five-field cron hint).
//!
//! Screenshots of each tab at each step go to `target/screenshots/`. The test fails on any
//! browser console error, any Content-Security-Policy violation, and any failed request other
//! than the API refusals a step expects.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`CNPG_BACKUP_CHROMIUM`,
//! `CNPG_BACKUP_CHROMEDRIVER` to use others): `./scripts/test` installs them. Without them the
//! test fails, saying so; it is never skipped.

mod harness;

use std::time::Duration;

use fantoccini::key::Key;
use harness::{Browser, Serve};

const STAGE_ONE: &str = "I understand this only creates temporary CloudNativePG recovery cluster(s) for validation and does not yet replace the live environment.";
const STAGE_TWO: &str = "I understand Apply restore replaces the live environment and may interrupt Control Panel and tenant access until the restored databases are healthy again.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_workflow_by_clicking_and_typing() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("embedded"), 0.1);
    let b = Browser::start(&dir.path().join("chrome")).await;
    let page = serve.url("/dashboard/backup-restore");

    // --- Sign in: without the link the page asks for the token; a wrong one is refused.
    b.goto(&page).await;
    b.wait_visible("sign-in").await;
    b.shot("00-sign-in").await;
    b.expect_refusal("/api/v1/status", 401);
    b.type_into("token-input", "not-the-token-0123456789").await;
    b.click_css("#sign-in-form button[type=submit]").await;
    b.wait_text("sign-in-error", "token").await;
    b.type_into("token-input", &serve.token).await;
    b.click_css("#sign-in-form button[type=submit]").await;
    b.wait_visible("panel-backup").await;
    b.check_log().await;

    // The printed link signs in by itself and the token leaves the address bar.
    b.goto(&serve.link).await;
    b.wait_visible("panel-backup").await;
    b.wait_text("storage-summary", "local").await;
    let url = b.url().await;
    assert!(!url.contains("token"), "the token stayed in the URL: {url}");
    b.shot("backup-01-loaded").await;

    // --- Backup tab: a daily schedule previews its cron and next runs.
    b.select("preset", "daily").await;
    b.type_into("hour", "2").await;
    b.type_into("minute", "30").await;
    b.wait_text("preview-cron", "0 30 2 * * *").await;
    // The raw editor: a five-field cron gets "did you mean" as it is typed.
    b.click_css("#cron-editor summary").await;
    b.expect_refusal("/api/v1/schedule/preview", 400);
    b.type_into("cron", "0 7 * * *").await;
    b.wait_text("did-you-mean", "0 0 7 * * *").await;
    b.wait_text("cron-hint", "CNPG reads this as minute 7 of every hour")
        .await;
    assert_eq!(b.value("preset").await, "custom");
    b.shot("backup-02-five-field-hint").await;
    b.click("use-fix").await;
    b.wait_text("preview-cron", "0 0 7 * * *").await;
    b.select("preset", "daily").await;
    b.wait_text("preview-cron", "0 30 2 * * *").await;
    // Retention checked as it is typed.
    b.select("retention-preset", "custom").await;
    b.expect_refusal("/api/v1/retention/check", 400);
    b.type_into("retention", "14x").await;
    b.wait_class("retention-hint", "bad").await;
    b.type_into("retention", "14d").await;
    b.wait_text("retention-hint", "RECOVERY WINDOW OF 14 DAYS")
        .await;
    if !b.checked("enabled").await {
        b.click("enabled").await;
    }
    b.click("save").await;
    b.wait_text("backup-result", "reconcile ok").await;
    b.wait_text("reconcile-badge", "ok").await;
    b.wait_text("reconcile-time", "UTC").await;
    b.shot("backup-03-saved").await;

    b.click("check-bucket").await;
    b.wait_text("preflight-badge", "ok").await;
    b.wait_text("preflight-steps", "passed").await;
    b.shot("backup-04-bucket-checked").await;

    // Two backups, one after the other: two backup sets for the restore.
    for _ in 0..2 {
        b.wait_enabled("backup-now").await;
        b.click("backup-now").await;
        b.wait_text("backup-result", "Backup started").await;
        // Each plane's "last completed" names the backup just started.
        b.wait_until(
            "the backups complete",
            "const started = [...document.getElementById('backup-result').textContent \
               .matchAll(/([a-z0-9.-]+) \\((admin|tenant)\\)/g)].map((m) => m[1]); \
             const seen = document.getElementById('plane-backups').textContent; \
             return started.length === 2 && started.every((n) => seen.includes(n + ' ·'));",
        )
        .await;
        b.check_log().await;
    }
    b.shot("backup-05-backups-run").await;

    // --- Restore tab (keyboard: arrow key from the Backup tab).
    b.send_keys("tab-backup", Key::Right.to_string()).await;
    b.wait_visible("panel-restore").await;
    assert!(b.url().await.contains("tab=restore"));
    b.wait_visible("catalog-admin").await;
    b.wait_text("catalog-admin", "ready").await;
    b.shot("restore-01-single-admin").await;
    // The catalog is reloaded when the plane changes.
    b.select("plane", "tenant").await;
    b.wait_visible("catalog-tenant").await;
    b.wait_gone("catalog-admin").await;
    b.type_into("recovery-name", "cnpg-tenant").await;
    b.wait_text("names-hint", "is a live cluster").await;

    // Full mode: both catalogs at once, the newest pair of one set picked.
    b.click("mode-full").await;
    b.wait_visible("catalog-admin").await;
    b.wait_visible("catalog-tenant").await;
    b.wait_text("names-hint", "drill-admin").await;
    b.wait_text("names-hint", "drill-tenant").await;
    assert!(!b.visible("set-warning").await);
    // Picking rows of different sets warns.
    let tenant_rows = b.count("#catalog-tenant tbody tr").await;
    assert!(tenant_rows >= 2, "two tenant backups, got {tenant_rows}");
    b.click_css("#catalog-tenant tbody tr:nth-child(2) input[type=radio]")
        .await;
    b.wait_visible("set-warning").await;
    b.wait_text("set-warning", "not from the same backup set")
        .await;
    b.shot("restore-02-set-mismatch").await;
    // Created anyway, the API refuses it (422) and the page shows its problem document.
    b.expect_refusal("/api/v1/restores", 422);
    b.click("ack-one").await;
    b.click("create").await;
    b.wait_visible("restore-problem").await;
    b.wait_text("restore-problem", "(422)").await;
    assert!(!b.visible("active-restore").await);
    b.click("ack-one").await;
    b.click_css("#catalog-tenant tbody tr:nth-child(1) input[type=radio]")
        .await;
    b.wait_hidden("set-warning").await;
    b.wait_text("version-hints", "Allowed by").await;

    // Create stays disabled until the exact stage-one sentence is ticked.
    assert_eq!(b.text("ack-one-text").await, STAGE_ONE);
    assert!(!b.enabled("create").await);
    b.click("create").await; // a disabled button does nothing
    assert!(!b.visible("active-restore").await);
    b.click("ack-one").await;
    assert!(b.enabled("create").await);
    b.click("ack-one").await;
    assert!(!b.enabled("create").await);
    b.click("plan").await;
    b.wait_text("plan-view", "cnpg-admin, cnpg-tenant").await;
    b.click("ack-one").await;
    b.shot("restore-03-ready-to-create").await;
    b.click("create").await;
    b.wait_visible("active-restore").await;
    b.check_log().await;
    b.shot("restore-04-stage-one").await;

    // Readiness: the event stream (and the button) until ready_for_promotion_checks.
    b.click("refresh-now").await;
    b.wait_visible("stage-two").await;
    b.wait_text("active-phase", "ready for promotion checks")
        .await;
    assert_eq!(b.text("ack-two-text").await, STAGE_TWO);
    assert!(!b.enabled("apply").await);
    b.shot("restore-05-ready-for-promotion").await;

    // A reload resumes the restore (its id is in the address).
    b.refresh().await;
    b.wait_visible("stage-two").await;
    b.wait_text("restore-list", "ready for promotion checks")
        .await;
    assert!(!b.enabled("apply").await);
    b.click("ack-two").await;
    assert!(b.enabled("apply").await);
    b.click("apply").await;
    b.wait_text_for("active-phase", "completed", Duration::from_secs(90))
        .await;
    assert!(!b.visible("stage-two").await);
    b.wait_text("active-audit", "stage two ack").await;
    // The list of restores follows the restore shown.
    b.wait_text("restore-list", "completed").await;
    b.shot("restore-06-completed").await;

    // A restore intent uploaded as a file (its own stage-one sentence), then abandoned.
    b.click("close-restore").await;
    b.wait_visible("restore-form").await;
    b.click("mode-single").await;
    b.select("plane", "admin").await;
    b.wait_visible("catalog-admin").await;
    let backup = b
        .eval("return document.querySelector('#catalog-admin tbody tr').dataset.backup;")
        .await;
    let intent = serde_json::json!({
        "apiVersion": "cnpg-backup.io/v1",
        "kind": "RestoreIntent",
        "restoreId": "r-intent",
        "acknowledgements": {"stageOne": STAGE_ONE},
        "spec": {
            "mode": {"kind": "single", "plane": "admin", "recoveryName": "intent-check"},
            "sources": {"admin": {"kind": "backup", "backup": backup}}
        }
    });
    let file = dir.path().join("intent.json");
    std::fs::write(&file, intent.to_string()).unwrap();
    b.click_css("#intent-upload summary").await;
    assert!(!b.enabled("intent-create").await);
    b.send_keys("intent-file", file.display().to_string()).await;
    b.wait_enabled("intent-create").await;
    b.click("intent-create").await;
    b.wait_text("active-id", "r-intent").await;
    b.wait_text("active-planes", "intent-check").await;
    b.wait_text("restore-list", "r-intent").await;
    // Ready for promotion checks: abandon instead of applying (live stays as it is).
    b.wait_visible("stage-two").await;
    b.click("abandon").await;
    b.wait_text("active-phase", "abandoned").await;

    // --- Narrow window: both tabs readable without sideways scrolling.
    b.resize(400, 900).await;
    b.goto(&format!("{page}?tab=restore")).await;
    b.wait_visible("panel-restore").await;
    b.wait_text("restore-list", "completed").await;
    b.no_horizontal_scroll().await;
    b.shot("narrow-restore").await;
    b.click("tab-backup").await;
    b.wait_visible("panel-backup").await;
    b.wait_text("reconcile-badge", "ok").await;
    b.no_horizontal_scroll().await;
    b.shot("narrow-backup").await;

    b.check_log().await;
    b.close().await;
    assert!(!serve.log().contains("panicked"), "{}", serve.log());
}
