//! The control loop in `serve --embedded DIR`, as a process: what it reconciles and moves on
//! without being asked, what `/metrics` shows, that the alert example names only what a
//! running loop exports, and a graceful stop.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{Serve, client, start};

const TOKEN: &str = "control-loop-token-7d1e5a3c90b2";

/// `serve --embedded` in a fresh directory with a known token and `extra` flags.
fn serve(dir: &tempfile::TempDir, extra: &[&str]) -> Serve {
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut args = vec!["--token-file", token_file.to_str().unwrap()];
    args.extend_from_slice(extra);
    start(&dir.path().join("embedded"), &args, &[])
}

fn get(s: &Serve, path: &str) -> Value {
    let a = client().send("GET", &s.url(path), Some(TOKEN), &[]);
    assert_eq!(a.status, 200, "GET {path}: {}", a.text);
    a.body
}

fn metrics(s: &Serve) -> String {
    let a = client().send("GET", &s.url("/metrics"), None, &[]);
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        a.content_type.starts_with("application/openmetrics-text"),
        "{}",
        a.content_type
    );
    a.text
}

/// Polls `f` every 100 ms for up to `secs` seconds.
fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "not within {secs}s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the sample `series` (name and labels exactly as exported), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Takes an on-demand backup through the API and waits until both planes have a completed one
/// (simulated time moves); returns (admin, tenant) backup names.
fn backups_of_both_planes(s: &Serve) -> (String, String) {
    let b = client().send("POST", &s.url("/api/v1/backups"), Some(TOKEN), &[]);
    assert_eq!(b.status, 201, "{}", b.text);
    eventually(60, "both planes' backups complete", || {
        let rows = get(s, "/api/v1/catalog");
        let done = |plane: &str| {
            rows.as_array()?
                .iter()
                .find(|r| r["plane"] == plane && r["phase"] == "completed")
                .and_then(|r| r["name"].as_str().map(str::to_owned))
        };
        Some((done("admin")?, done("tenant")?))
    })
}

#[test]
fn settings_saved_through_the_api_are_reconciled_by_the_loop_without_a_reconcile_call() {
    let dir = tempfile::tempdir().unwrap();
    // Simulated time stands still: only the loop can change anything.
    let mut s = serve(&dir, &["--sim-tick", "0"]);
    let ok = "cnpg_backup_reconciles_total{result=\"ok\"}";
    // The loop reconciles at start (and once more for the changes its own writes caused);
    // wait until it has been quiet for two seconds.
    let mut last = (f64::NAN, Instant::now());
    let first = eventually(30, "the loop's first reconciles, then quiet", || {
        let n = sample(&metrics(&s), ok).filter(|n| *n >= 1.0)?;
        if n != last.0 {
            last = (n, Instant::now());
        }
        (last.1.elapsed() >= Duration::from_secs(2)).then_some(n)
    });
    let before = get(&s, "/api/v1/status");
    assert_eq!(before["reconcile"]["state"], "ok", "{before}");
    // ...and again after settings are saved, with no POST /reconcile.
    let mut settings = get(&s, "/api/v1/settings")["settings"].clone();
    settings["automation"]["schedule"] = json!({"preset": "daily", "hour": 3, "minute": 15});
    let put = client().send_json(
        "PUT",
        &s.url("/api/v1/settings"),
        Some(TOKEN),
        &[],
        Some(&settings),
    );
    assert_eq!(put.status, 200, "{}", put.text);
    eventually(30, "a reconcile after the settings changed", || {
        sample(&metrics(&s), ok).filter(|n| *n > first)
    });
    let after = get(&s, "/api/v1/status");
    let planes = after["reconcile"]["planes"].as_array().unwrap();
    assert_eq!(planes.len(), 2, "{after}");
    for p in planes {
        assert_eq!(p["state"], "ok", "{after}");
        assert!(
            p["writes"].as_u64().unwrap() > 0,
            "the new schedule was written to the {} plane: {after}",
            p["plane"]
        );
    }
    // The status at a glance follows the new schedule: next run at 03:15.
    for b in after["backups"].as_array().unwrap() {
        let next = b["nextRun"].as_str().unwrap();
        assert!(next.contains("T03:15:00"), "{b}");
        assert_eq!(b["intervalSeconds"], 86_400, "{b}");
    }
    assert_eq!(s.terminate(), 0);
}

#[test]
fn a_restore_created_through_the_api_reaches_promotion_checks_with_only_gets() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(&dir, &["--sim-tick", "0.05"]);
    let (admin, tenant) = backups_of_both_planes(&s);
    let body = json!({
        "id": "r-loop",
        "request": {
            "mode": {"kind": "full", "baseName": "loop"},
            "sources": {
                "admin": {"kind": "backup", "backup": admin},
                "tenant": {"kind": "backup", "backup": tenant},
            },
        },
        "acknowledgement": cnpg_backup_core::restore::STAGE_ONE_ACK,
    });
    let created = client().send_json(
        "POST",
        &s.url("/api/v1/restores"),
        Some(TOKEN),
        &[],
        Some(&body),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_ne!(created.body["phase"], "ready_for_promotion_checks");
    // From here on only GETs: the loop refreshes the restore as its clusters get ready.
    eventually(90, "the restore reaches ready_for_promotion_checks", || {
        let r = get(&s, "/api/v1/restores/r-loop");
        (r["phase"] == "ready_for_promotion_checks").then_some(())
    });
    // The loop reports it; it stops there: the second acknowledgement is a person's.
    let text = metrics(&s);
    assert_eq!(
        sample(
            &text,
            "cnpg_backup_restore_phase{restore=\"r-loop\",phase=\"ready_for_promotion_checks\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "cnpg_backup_restore_steps_total{result=\"ok\"}").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert_eq!(s.terminate(), 0);
}

#[test]
fn metrics_show_the_issue_families_and_sigterm_exits_0_within_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(&dir, &["--sim-tick", "0.05", "--shutdown-grace", "5"]);
    assert_eq!(
        client().send("GET", &s.url("/readyz"), None, &[]).status,
        200
    );
    backups_of_both_planes(&s);
    let text = eventually(30, "both planes' backup ages in /metrics", || {
        let t = metrics(&s);
        (t.contains("cnpg_backup_last_successful_backup_age_seconds{plane=\"admin\"")
            && t.contains("cnpg_backup_last_successful_backup_age_seconds{plane=\"tenant\""))
        .then_some(t)
    });
    for family in [
        "# TYPE cnpg_backup_reconciles counter",
        "# TYPE cnpg_backup_reconcile_errors counter",
        "# TYPE cnpg_backup_reconcile_duration_seconds histogram",
        "# TYPE cnpg_backup_last_successful_backup_age_seconds gauge",
        "# TYPE cnpg_backup_schedule_interval_seconds gauge",
        "# TYPE cnpg_backup_leader gauge",
    ] {
        assert!(text.contains(family), "missing `{family}` in\n{text}");
    }
    assert!(sample(&text, "cnpg_backup_reconcile_duration_seconds_count").unwrap() >= 1.0);
    assert_eq!(
        sample(&text, "cnpg_backup_leader"),
        Some(1.0),
        "sole replica"
    );
    // (The restore phase family has series once a restore exists: see the restore test.)
    assert!(text.ends_with("# EOF\n"));
    // The status at a glance, per plane, in the API and in `cnpg-backup status`'s data.
    let status = get(&s, "/api/v1/status");
    for b in status["backups"].as_array().unwrap() {
        assert_eq!(b["health"], "ok", "{b}");
        assert!(b["ageSeconds"].as_i64().is_some(), "{b}");
        assert!(b["nextRun"].as_str().is_some(), "{b}");
        assert!(b["lastCompleted"]["name"].as_str().is_some(), "{b}");
    }
    let started = Instant::now();
    assert_eq!(s.terminate(), 0);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5 + 5),
        "stopped {took:?} after SIGTERM, grace 5 s"
    );
    let log = s.log();
    assert!(log.contains("control loop on the simulator"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// The alert example checked against a running loop's /metrics.

/// Labels Prometheus adds to every scraped series (target labels): the rules may group by
/// them although cnpg-backup does not export them.
const TARGET_LABELS: &[&str] = &["namespace"];

/// PromQL words the rules may use that are neither metrics nor labels.
const PROMQL_WORDS: &[&str] = &[
    "max",
    "min",
    "sum",
    "avg",
    "count",
    "by",
    "without",
    "on",
    "ignoring",
    "unless",
    "and",
    "or",
    "increase",
    "rate",
    "absent",
    "time",
    "group_left",
    "group_right",
    "bool",
];

/// One sample of the exposition: metric name and labels.
#[derive(Debug)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
}

fn parse_exposition(text: &str) -> Vec<Series> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, rest) = match l.find('{') {
                Some(i) if i < l.find(' ').unwrap_or(usize::MAX) => (&l[..i], &l[i + 1..]),
                _ => (l.split(' ').next().unwrap(), ""),
            };
            let mut labels = BTreeMap::new();
            if let Some(end) = rest.find('}') {
                for pair in rest[..end].split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap();
                    labels.insert(k.to_owned(), v.trim_matches('"').to_owned());
                }
            }
            Series {
                name: name.to_owned(),
                labels,
            }
        })
        .collect()
}

/// A label matcher: the label, and the value of an exact `=` match.
type Matcher = (String, Option<String>);

/// What an expression uses: each metric with its label matchers, and the label lists of `by`,
/// `without`, `on` and `ignoring`.
#[derive(Debug, Default)]
struct Uses {
    metrics: Vec<(String, Vec<Matcher>)>,
    groupings: Vec<String>,
    unknown: Vec<String>,
}

fn scan(expr: &str) -> Uses {
    let mut uses = Uses::default();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_ascii_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let w = word(&mut i);
            if w.starts_with("cnpg_backup_") {
                let mut matchers = Vec::new();
                skip_ws(&mut i);
                if i < chars.len() && chars[i] == '{' {
                    let end = i + chars[i..].iter().position(|c| *c == '}').unwrap();
                    let inner: String = chars[i + 1..end].iter().collect();
                    for m in inner.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                        let op = m.find(['=', '!']).unwrap();
                        let label = m[..op].trim().to_owned();
                        let exact = m[op..].starts_with("=") && !m[op..].starts_with("=~");
                        let value = m[op..]
                            .trim_start_matches(['=', '!', '~'])
                            .trim()
                            .trim_matches('"')
                            .to_owned();
                        matchers.push((label, exact.then_some(value)));
                    }
                    i = end + 1;
                }
                uses.metrics.push((w, matchers));
            } else if ["by", "without", "on", "ignoring"].contains(&w.as_str()) {
                skip_ws(&mut i);
                assert_eq!(chars[i], '(', "`{w}` without a label list in {expr}");
                let end = i + chars[i..].iter().position(|c| *c == ')').unwrap();
                let inner: String = chars[i + 1..end].iter().collect();
                uses.groupings.extend(
                    inner
                        .split(',')
                        .map(|l| l.trim().to_owned())
                        .filter(|l| !l.is_empty()),
                );
                i = end + 1;
            } else if !PROMQL_WORDS.contains(&w.as_str()) {
                uses.unknown.push(w);
            }
        } else if c == '[' {
            // A range: `[15m]`.
            i += chars[i..].iter().position(|c| *c == ']').unwrap() + 1;
        } else if c == '"' {
            i += 1 + chars[i + 1..].iter().position(|c| *c == '"').unwrap() + 1;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    uses
}

fn rules_file() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/prometheus/cnpg-backup-rules.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Checks `expr` against the exported `series`; returns what is wrong.
fn check_expr(alert: &str, expr: &str, series: &[Series]) -> Vec<String> {
    let uses = scan(expr);
    let mut wrong = Vec::new();
    for w in &uses.unknown {
        wrong.push(format!(
            "{alert}: `{w}` is neither a cnpg_backup_ metric nor a known PromQL word"
        ));
    }
    if uses.metrics.is_empty() {
        wrong.push(format!("{alert}: no cnpg_backup_ metric in `{expr}`"));
    }
    for (metric, matchers) in &uses.metrics {
        let of: Vec<&Series> = series.iter().filter(|s| &s.name == metric).collect();
        if of.is_empty() {
            wrong.push(format!("{alert}: `{metric}` is not exported"));
            continue;
        }
        for (label, value) in matchers {
            if !of.iter().any(|s| s.labels.contains_key(label)) {
                wrong.push(format!("{alert}: `{metric}` has no label `{label}`"));
            }
            if let Some(v) = value
                && !of.iter().any(|s| s.labels.get(label) == Some(v))
            {
                wrong.push(format!(
                    "{alert}: `{metric}` never has `{label}=\"{v}\"` (values: {:?})",
                    of.iter()
                        .filter_map(|s| s.labels.get(label))
                        .collect::<BTreeSet<_>>()
                ));
            }
        }
    }
    for label in &uses.groupings {
        if TARGET_LABELS.contains(&label.as_str()) {
            continue;
        }
        for (metric, _) in &uses.metrics {
            if !series
                .iter()
                .any(|s| &s.name == metric && s.labels.contains_key(label))
            {
                wrong.push(format!(
                    "{alert}: groups by `{label}`, which `{metric}` does not have"
                ));
            }
        }
    }
    wrong
}

/// The exposition of a loop that took backups of both planes and has a restore on its way.
fn live_exposition() -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(&dir, &["--sim-tick", "0.05"]);
    backups_of_both_planes(&s);
    let text = eventually(30, "backup ages in /metrics", || {
        let t = metrics(&s);
        t.contains("cnpg_backup_last_successful_backup_age_seconds{plane=\"tenant\"")
            .then_some(t)
    });
    assert_eq!(s.terminate(), 0);
    text
}

#[test]
fn the_alert_example_uses_only_metrics_and_labels_a_running_loop_exports() {
    let series = parse_exposition(&live_exposition());
    let doc = rules_file();
    assert_eq!(doc["kind"], "PrometheusRule");
    assert_eq!(doc["apiVersion"], "monitoring.coreos.com/v1");
    let mut alerts = BTreeMap::new();
    let mut wrong = Vec::new();
    for group in doc["spec"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let alert = rule["alert"].as_str().unwrap().to_owned();
            let expr = rule["expr"].as_str().unwrap().to_owned();
            assert!(rule["labels"]["severity"].is_string(), "{alert}");
            for text in rule["annotations"]
                .as_object()
                .unwrap()
                .values()
                .filter_map(Value::as_str)
            {
                // Annotations may name only labels the alert's series keep.
                for part in text.split("$labels.").skip(1) {
                    let label: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let kept = scan(&expr).groupings;
                    if !kept.contains(&label) {
                        wrong.push(format!(
                            "{alert}: the annotation names `{label}`, which `{expr}` drops"
                        ));
                    }
                }
            }
            wrong.extend(check_expr(&alert, &expr, &series));
            alerts.insert(alert, expr);
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The documented alert: the last backup older than twice the schedule interval.
    let too_old = &alerts["CnpgBackupTooOld"];
    assert!(
        too_old.contains("cnpg_backup_last_successful_backup_age_seconds")
            && too_old.contains("> 2 * ")
            && too_old.contains("cnpg_backup_schedule_interval_seconds"),
        "{too_old}"
    );
    assert!(alerts["CnpgBackupReconcileErrors"].contains("cnpg_backup_reconcile_errors_total"));
}

#[test]
fn the_rule_check_fails_on_a_metric_or_label_that_is_not_exported() {
    // The checker itself: a rule naming what the loop does not export is caught.
    let series = parse_exposition(
        "# TYPE cnpg_backup_backup_health gauge\n\
         cnpg_backup_backup_health{plane=\"admin\",cluster=\"a\",health=\"ok\"} 1\n\
         cnpg_backup_reconcile_errors_total 0\n# EOF\n",
    );
    assert!(
        check_expr(
            "ok",
            "sum by (namespace) (increase(cnpg_backup_reconcile_errors_total[5m])) > 0",
            &series
        )
        .is_empty()
    );
    for (expr, expect) in [
        (
            "cnpg_backup_last_backup_age_seconds > 3600",
            "is not exported",
        ),
        (
            "cnpg_backup_backup_health{state=\"ok\"} == 1",
            "has no label `state`",
        ),
        (
            "cnpg_backup_backup_health{health=\"stale\"} == 1",
            "never has `health=\"stale\"`",
        ),
        (
            "max by (pod) (cnpg_backup_backup_health) == 1",
            "which `cnpg_backup_backup_health` does not have",
        ),
        ("up{job=\"x\"} == 0", "neither a cnpg_backup_ metric"),
    ] {
        let wrong = check_expr("bad", expr, &series);
        assert!(
            wrong.iter().any(|w| w.contains(expect)),
            "{expr}: {wrong:?}"
        );
    }
}

#[test]
fn the_alert_example_passes_promtool_when_it_is_installed() {
    // promtool is optional (Prometheus releases, Debian's `prometheus` package): checked when
    // present, said so when not.
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    if std::process::Command::new(&promtool)
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("`{promtool}` is not installed: the alert example's promtool tests are skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/prometheus");
    // promtool reads plain rule files: the PrometheusRule's spec.
    let plain = serde_saphyr::to_string(&rules_file()["spec"]).unwrap();
    std::fs::write(dir.path().join("cnpg-backup-rules.plain.yaml"), plain).unwrap();
    std::fs::copy(
        examples.join("cnpg-backup-rules.test.yaml"),
        dir.path().join("cnpg-backup-rules.test.yaml"),
    )
    .unwrap();
    for args in [
        ["check", "rules", "cnpg-backup-rules.plain.yaml"],
        ["test", "rules", "cnpg-backup-rules.test.yaml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
