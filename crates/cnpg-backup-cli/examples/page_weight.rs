//! Page weight and first paint of the Backup & Restore page in headless Chromium: for each tab,
//! `LOADS` first loads (a new browser profile each, so nothing is cached), each signed in through
//! the printed link, waiting until the tab shows its data. Prints, per tab, the bytes transferred
//! (Resource Timing `transferSize`, headers included: the page and its assets, and the API calls
//! apart) and the median first contentful paint and time until the data is shown.
//!
//! Run it with `scripts/bench-page.sh` (a release build; `LOADS=n` to change the count). Needs
//! Debian's chromium and chromium-driver, as the browser tests do.

#[path = "../tests/browser/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{Browser, Serve};

/// Bytes and times of one load, read from the Performance API.
const MEASURE: &str = r"
const nav = performance.getEntriesByType('navigation')[0];
const res = performance.getEntriesByType('resource');
const fcp = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
const api = res.filter((r) => r.initiatorType === 'fetch');
const assets = res.filter((r) => r.initiatorType !== 'fetch');
const sum = (xs) => xs.reduce((n, r) => n + r.transferSize, 0);
return {
  page: nav.transferSize + sum(assets),
  pageBody: nav.encodedBodySize + assets.reduce((n, r) => n + r.encodedBodySize, 0),
  pageFiles: 1 + assets.length,
  api: sum(api),
  apiCalls: api.length,
  fcp: fcp ? fcp.startTime : -1,
  ready: (performance.getEntriesByName(arguments[0])[0] || { startTime: -1 }).startTime,
};";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let loads: usize = std::env::var("LOADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().unwrap();
    // Simulated time stands still: every load sees the same data.
    let serve = Serve::start(&dir.path().join("embedded"), 0.0);
    let (origin, fragment) = serve.link.split_once('#').unwrap();
    let tabs = [
        (
            "backup",
            origin.to_owned(),
            "return performance.getEntriesByName('backup-tab-loaded').length > 0",
        ),
        (
            "restore",
            format!("{origin}?tab=restore"),
            "return performance.getEntriesByName('restore-tab-loaded').length > 0",
        ),
    ];
    println!("page weight and first paint, {loads} cold loads per tab (headless Chromium)");
    for (tab, url, ready) in tabs {
        let mut fcp = Vec::new();
        let mut shown = Vec::new();
        let mut last = serde_json::Value::Null;
        for i in 0..loads {
            let b = Browser::start(&dir.path().join(format!("profile-{tab}-{i}"))).await;
            b.goto(&format!("{url}#{fragment}")).await;
            b.wait_until(&format!("the {tab} tab's data"), ready).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let m = b.eval_with(MEASURE, &format!("{tab}-tab-loaded")).await;
            fcp.push(m["fcp"].as_f64().unwrap_or(-1.0));
            shown.push(m["ready"].as_f64().unwrap_or(-1.0));
            b.check_log().await;
            b.close().await;
            last = m;
        }
        println!(
            "{tab:8} page {} B in {} files ({} B of bodies, uncompressed); API {} B in {} calls; \
             first contentful paint median {:.0} ms (min {:.0}, max {:.0}); data shown (mark {tab}-tab-loaded) median {:.0} ms",
            last["page"],
            last["pageFiles"],
            last["pageBody"],
            last["api"],
            last["apiCalls"],
            median(fcp.clone()),
            fcp.iter().copied().fold(f64::INFINITY, f64::min),
            fcp.iter().copied().fold(0.0, f64::max),
            median(shown),
        );
    }
}
