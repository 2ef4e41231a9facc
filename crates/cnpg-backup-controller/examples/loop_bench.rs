//! Benchmark (reported, never asserted) of the control loop's kube plumbing on the API double
//! with `N` Backups in the namespace (default 10,000): memory, requests per idle hour, and
//! the time from a drift event to its repair. Run it with `scripts/bench-loop.sh`.
//!
//! One process: the double (seeded directly, not through requests), one replica of
//! [`KubeLoop`] (its Lease elector, metadata-only watches of Clusters, ScheduledBackups and
//! ObjectStores, the full watch of Backups mapped to records and dropped), tokio's time
//! paused so an hour takes seconds. Memory is counted by a global allocator: bytes allocated
//! and not freed, its peak, before the loop started and while it ran, so the loop's share is
//! the difference (the double's own objects are in the baseline; what the double allocates to
//! answer, e.g. a page of 500 Backups as JSON, is in the loop's peak: an upper bound).
//!
//! Environment: `N` (Backups, default 10000), `DRIFTS` (repairs timed, default 21),
//! `IDLE_HOURS` (default 1).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cnpg_backup_apidouble::operator::{healthy_status, live_cluster};
use cnpg_backup_apidouble::{ApiDouble, NAMESPACE};
use cnpg_backup_app::Backend;
use cnpg_backup_controller::kube::KubeLoop;
use cnpg_backup_controller::kube::lease::LEASE_NAME;
use cnpg_backup_controller::{LeaseConfig, Timing};
use cnpg_backup_kube::KubeScope;
use serde_json::json;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(b: usize) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// Peak resident set of the process (the double included), from /proc.
fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn configured(d: &ApiDouble, c: &str) -> bool {
    d.object("clusters", c)
        .is_some_and(|o| o["spec"]["backup"]["barmanObjectStore"].is_object())
}

fn settings() -> cnpg_backup_core::automation::BackupSettings {
    serde_json::from_value(json!({
        "target": {"provider": "s3_compatible", "endpoint": "http://127.0.0.1:9",
            "bucket": "backups", "region": "us-east-1", "prefix": "bench",
            "credentials": {"kind": "s3_access_key",
                "access_key_id": {"name": "backup-s3", "key": "ACCESS_KEY_ID"},
                "secret_access_key": {"name": "backup-s3", "key": "ACCESS_SECRET_KEY"}}},
        "automation": {"enabled": true, "schedule": {"preset": "daily", "hour": 2, "minute": 30},
            "retention": "30d", "scope": "both", "method": "barman_object_store"},
        "appVersion": {"kind": "fixed", "version": "1.4.2"}
    }))
    .unwrap_or_else(|e| panic!("settings: {e}"))
}

/// A Backup as CNPG leaves it once completed (labels, spec, status; ~1.3 KB as JSON).
fn backup(cluster: &str, i: u64) -> serde_json::Value {
    let stamp = format!(
        "2026{:02}{:02}{:02}3000",
        1 + i / 600 % 12,
        1 + i / 24 % 28,
        i % 24
    );
    let name = format!("{cluster}-cnpg-backup-{stamp}-{i:05}");
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
        "metadata": {"name": name, "labels": {"cnpg.io/cluster": cluster,
            "cnpg.io/immediateBackup": "false",
            "cnpg.io/scheduled-backup": format!("{cluster}-cnpg-backup")}},
        "spec": {"cluster": {"name": cluster}, "method": "barmanObjectStore"},
        "status": {"phase": "completed", "backupId": format!("{}T{}", &stamp[..8], &stamp[8..]),
            "startedAt": "2026-11-26T02:30:01Z", "stoppedAt": "2026-11-26T02:31:07Z",
            "method": "barmanObjectStore", "online": true, "serverName": cluster,
            "destinationPath": "s3://backups/bench", "endpointURL": "http://127.0.0.1:9",
            "beginWal": "000000010000000000000004", "endWal": "000000010000000000000006",
            "beginLSN": "0/4000028", "endLSN": "0/6000000",
            "instanceID": {"podName": format!("{cluster}-1"), "ContainerID": "containerd://0123456789abcdef"}}})
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tokio::time::pause();
    let n = env("N", 10_000);
    let drifts = env("DRIFTS", 21).max(1);
    let hours = env("IDLE_HOURS", 1).max(1);

    let d = ApiDouble::new();
    d.keep_answers(false);
    for c in ["cnpg-admin", "cnpg-tenant"] {
        d.insert(live_cluster(c));
        d.set_status("clusters", c, healthy_status(1));
    }
    for i in 0..n {
        d.insert(backup(
            if i % 2 == 0 {
                "cnpg-admin"
            } else {
                "cnpg-tenant"
            },
            i,
        ));
    }
    let person = Backend::kube(KubeScope::new(d.client_as("kubernetes-admin"), NAMESPACE));
    person
        .save_settings(&settings())
        .await
        .unwrap_or_else(|e| panic!("saving the settings: {e}"));
    d.clear_requests();
    // The double's watch cache keeps the last 100 changes per resource from here on (its
    // default, 1000, would grow with every Lease renewal and be counted as the loop's).
    d.set_watch_cache(100);
    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    eprintln!(
        "seeded: {n} Backups, {} allocated (the double's)",
        mib(baseline)
    );

    let lease = LeaseConfig::new("bench-0").unwrap_or_else(|e| panic!("{e}"));
    let lp = KubeLoop::new(d.client(), NAMESPACE, LEASE_NAME, lease, Timing::default());
    let health = lp.health();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(lp.run(async move {
        let _ = stopped.await;
    }));
    let wall = std::time::Instant::now();
    while !(health.readiness().ready
        && configured(&d, "cnpg-admin")
        && configured(&d, "cnpg-tenant"))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sync_wall = wall.elapsed();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let synced_peak = PEAK.load(Ordering::Relaxed) - baseline;
    let synced_now = CURRENT.load(Ordering::Relaxed).saturating_sub(baseline);
    let start_requests = d.requests().len();

    // Drift → repair, DRIFTS times.
    let mut sim = Vec::new();
    let mut cpu = Vec::new();
    for i in 0..drifts {
        let c = if i % 2 == 0 {
            "cnpg-admin"
        } else {
            "cnpg-tenant"
        };
        let (t, w) = (tokio::time::Instant::now(), std::time::Instant::now());
        d.edit("clusters", c, |o| {
            if let Some(b) = o["spec"]["backup"].as_object_mut() {
                b.remove("barmanObjectStore");
            }
        });
        while !configured(&d, c) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sim.push(t.elapsed());
        cpu.push(w.elapsed());
        tokio::time::sleep(Duration::from_secs(20)).await;
    }
    let drift_requests = d.requests().len() - start_requests;

    // Idle. The request log is counted and emptied every simulated minute, so what grows is
    // the loop's, not the double's log.
    tokio::time::sleep(Duration::from_secs(60)).await;
    d.clear_requests();
    let mut after: std::collections::BTreeMap<(String, String), usize> = Default::default();
    let idle_wall = std::time::Instant::now();
    for _ in 0..60 * hours {
        tokio::time::sleep(Duration::from_secs(60)).await;
        for (k, v) in d.counts() {
            *after.entry(k).or_insert(0) += v;
        }
        d.clear_requests();
    }
    let idle_cpu = idle_wall.elapsed();
    let before: std::collections::BTreeMap<(String, String), usize> = Default::default();
    let steady_now = CURRENT.load(Ordering::Relaxed).saturating_sub(baseline);
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    let _ = stop.send(());
    let _ = task.await;

    println!("== control loop on the API double, {n} Backups in the namespace");
    println!(
        "initial list and sync: {sync_wall:.2?} wall (paginated 500 per page, metadata-only where possible)"
    );
    println!(
        "memory of the loop (allocated beyond the seeded double): after sync {} (peak {}), after the idle hours {}, peak overall {}; process VmHWM {} (double included)",
        mib(synced_now),
        mib(synced_peak),
        mib(steady_now),
        mib(peak),
        vm_hwm()
    );
    println!(
        "drift → repair over {drifts} runs: median {:.2?} simulated (the 1 s debounce included), median {:.2?} wall (the work itself), min {:.2?} max {:.2?} wall; {drift_requests} requests in all",
        median(sim.clone()),
        median(cpu.clone()),
        cpu.iter().min().copied().unwrap_or_default(),
        cpu.iter().max().copied().unwrap_or_default(),
    );
    let mut total = 0;
    let mut writes = 0;
    let mut rows = Vec::new();
    for (k, v) in &after {
        let diff = v - before.get(k).copied().unwrap_or(0);
        if diff == 0 {
            continue;
        }
        total += diff;
        if cnpg_backup_apidouble::WRITE_VERBS.contains(&k.0.as_str()) {
            writes += diff;
        }
        rows.push(format!("  {:>6}  {} {}", diff / hours as usize, k.0, k.1));
    }
    println!(
        "idle: {} requests per hour ({} writes per hour; {idle_cpu:.2?} wall for {hours} simulated hour(s)):",
        total / hours as usize,
        writes / hours as usize
    );
    for r in rows {
        println!("{r}");
    }
}
