//! `serve` as a process: it prints where it listens, serves the API under /api/v1 with the
//! token it was given, never logs that token (even at trace level), moves simulated time, and
//! stops gracefully on SIGTERM, leaving the journal behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub struct Serve {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

pub fn start(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Serve {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("cnpg-backup"));
    cmd.args(["serve", "--embedded"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("CNPG_BACKUP_EMBEDDED")
        .env_remove("CNPG_BACKUP_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let lines = stderr.clone();
    let (tx, rx) = mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            lines.lock().unwrap().push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve prints where it listens");
    Serve {
        child,
        addr,
        stderr,
    }
}

impl Serve {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then the exit code within 30 s.
    pub fn terminate(&mut self) -> i32 {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().unwrap();
        panic!("serve did not stop within 30 s of SIGTERM");
    }

    pub fn log(&self) -> String {
        // Let the reader thread drain what is left.
        std::thread::sleep(Duration::from_millis(200));
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

pub fn client() -> web::Client {
    web::Client
}

/// A tiny blocking facade over reqwest's async client for these process tests.
pub mod web {
    pub struct Client;
    pub struct Answer {
        pub status: u16,
        pub body: serde_json::Value,
        pub text: String,
        pub content_type: String,
    }
    impl Client {
        pub fn send(
            &self,
            method: &str,
            url: &str,
            token: Option<&str>,
            extra: &[(&str, &str)],
        ) -> Answer {
            self.send_json(method, url, token, extra, None)
        }

        /// [`Client::send`] with a JSON body.
        pub fn send_json(
            &self,
            method: &str,
            url: &str,
            token: Option<&str>,
            extra: &[(&str, &str)],
            body: Option<&serde_json::Value>,
        ) -> Answer {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                cnpg_backup_kube::install_crypto_provider();
                let c = reqwest::Client::new();
                let mut req =
                    c.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                for (k, v) in extra {
                    req = req.header(*k, *v);
                }
                if let Some(body) = body {
                    req = req
                        .header("content-type", "application/json")
                        .body(body.to_string());
                }
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                let content_type = res
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let text = res.text().await.unwrap();
                Answer {
                    status,
                    body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
                    text,
                    content_type,
                }
            })
        }
    }
}

#[test]
fn serve_uses_the_token_file_never_logs_it_moves_time_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let planted = "planted-token-5f0c2a9e41d7b3c8";
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{planted}\n")).unwrap();
    let data = dir.path().join("embedded");
    let mut s = start(
        &data,
        &[
            "--token-file",
            token_file.to_str().unwrap(),
            "--sim-tick",
            "0.1",
        ],
        &[("RUST_LOG", "trace")],
    );
    let c = client();
    assert_eq!(c.send("GET", &s.url("/healthz"), None, &[]).status, 200);
    assert_eq!(c.send("GET", &s.url("/readyz"), None, &[]).status, 200);
    // The API is under /api/v1 and wants the token.
    assert_eq!(
        c.send("GET", &s.url("/api/v1/status"), None, &[]).status,
        401
    );
    assert_eq!(
        c.send(
            "GET",
            &s.url("/api/v1/status"),
            Some("not-the-token-0000000"),
            &[]
        )
        .status,
        401
    );
    let ok = c.send("POST", &s.url("/api/v1/reconcile"), Some(planted), &[]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let b = c.send("POST", &s.url("/api/v1/backups"), Some(planted), &[]);
    assert_eq!(b.status, 201, "{}", b.body);
    // Simulated time moves while serving: the backups complete without another command.
    let mut completed = false;
    for _ in 0..100 {
        let cat = c.send("GET", &s.url("/api/v1/catalog"), Some(planted), &[]);
        if cat
            .body
            .as_array()
            .is_some_and(|rows| rows.iter().filter(|r| r["phase"] == "completed").count() >= 2)
        {
            completed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(completed, "backups did not complete while serving");
    let doc = c.send("GET", &s.url("/api/v1/openapi.json"), None, &[]);
    assert_eq!(doc.body["servers"][0]["url"], "/api/v1");
    assert_eq!(s.terminate(), 0);
    let log = s.log();
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging was on: {log}"
    );
    assert!(
        !log.contains(planted),
        "the token appeared on stderr:\n{log}"
    );
    assert!(
        !log.contains("not-the-token"),
        "a rejected token appeared on stderr"
    );
    // The journal stays: another process replays the same world.
    let journal = std::fs::read_to_string(data.join("journal.json")).unwrap();
    assert!(
        journal.contains("backupNow") || journal.contains("backup_now"),
        "{journal}"
    );
}

#[test]
fn a_generated_token_is_printed_at_start_only_and_a_short_token_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Every log line on, so a token echoed by a request log would be seen.
    let mut s = start(
        &dir.path().join("e"),
        &["--sim-tick", "0"],
        &[("RUST_LOG", "trace")],
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = s.log();
    let token = log
        .lines()
        .find_map(|l| l.split("<token>`): ").nth(1))
        .unwrap_or_else(|| panic!("no token line in {log}"))
        .to_owned();
    assert_eq!(token.len(), 64);
    let c = client();
    assert_eq!(
        c.send("GET", &s.url("/api/v1/status"), Some(&token), &[])
            .status,
        200
    );
    // Twice at start (its own line for curl, the page's sign-in link, in the URL fragment), and
    // never again: not in request logs.
    std::thread::sleep(Duration::from_millis(200));
    let log = s.log();
    assert_eq!(log.matches(token.as_str()).count(), 2, "{log}");
    assert!(
        log.contains(&format!("/dashboard/backup-restore#token={token}")),
        "{log}"
    );
    assert_eq!(s.terminate(), 0);
    let short = dir.path().join("short");
    std::fs::write(&short, "abc").unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("cnpg-backup"))
        .args(["serve", "--embedded"])
        .arg(dir.path().join("f"))
        .args(["--listen", "127.0.0.1:0", "--token-file"])
        .arg(&short)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16 characters"));
}

#[test]
fn serve_in_a_cluster_refuses_a_missing_kubeconfig_and_a_token_file() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("cnpg-backup"))
        .args([
            "serve",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("CNPG_BACKUP_EMBEDDED")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = Command::new(assert_cmd::cargo::cargo_bin("cnpg-backup"))
        .args([
            "serve",
            "--token-file",
            "/dev/null",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("CNPG_BACKUP_EMBEDDED")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--token-file is for the embedded default")
    );
}
