//! What the browser tests stand on: `serve --embedded` as a process, chromedriver and headless
//! Chromium, and small steps (click, type, wait) that fail with what they waited for. The page
//! weight example (`examples/page_weight.rs`) uses it too, hence the allowance below.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a step waits for the page by default.
const WAIT: Duration = Duration::from_secs(30);

/// `cnpg-backup serve --embedded DIR` on a free port, with the token and sign-in link it printed.
pub struct Serve {
    child: Child,
    addr: String,
    pub token: String,
    pub link: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    pub fn start(dir: &Path, sim_tick: f64) -> Self {
        let bin = std::env::var_os("CNPG_BACKUP_BIN").map_or_else(
            || assert_cmd::cargo::cargo_bin("cnpg-backup"),
            PathBuf::from,
        );
        let mut child = Command::new(bin)
            .args(["serve", "--embedded"])
            .arg(dir)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--sim-tick",
                &sim_tick.to_string(),
            ])
            .env_remove("CNPG_BACKUP_EMBEDDED")
            .env_remove("CNPG_BACKUP_CONFIG")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cnpg-backup serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(link) = line.split("page (signed in): ").nth(1) {
                    let _ = tx.send(link.trim().to_owned());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let link = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve prints the page's sign-in link");
        let (origin, token) = link
            .split_once("/dashboard/backup-restore#token=")
            .expect("the link has the token in its fragment");
        Self {
            child,
            addr: origin.trim_start_matches("http://").to_owned(),
            token: token.to_owned(),
            link: link.clone(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What serve printed on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser program: `CNPG_BACKUP_<NAME>` or the Debian path; a clear failure when missing.
fn program(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: the browser tests need Debian's chromium and chromium-driver; run ./scripts/test \
         (it installs them with apt-get), or set {var}",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where screenshots go: `target/screenshots/` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("screenshots")
}

/// chromedriver's log command (`goog:loggingPrefs`), sent as a raw WebDriver command.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// chromedriver and one headless Chromium session.
pub struct Browser {
    driver: Child,
    client: Client,
    /// (path, status) pairs a step expects the API to refuse; any other failed request fails.
    allowed: Mutex<Vec<(String, u16)>>,
    width: Mutex<u32>,
}

impl Browser {
    pub async fn start(profile: &Path) -> Self {
        let chromium = program("CNPG_BACKUP_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = program("CNPG_BACKUP_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        std::fs::create_dir_all(profile).unwrap();
        let caps = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--disable-extensions",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,1000"
                ]
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            match builder.capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot start a Chromium session through chromedriver: {e}"),
            }
        };
        std::fs::create_dir_all(screenshot_dir()).unwrap();
        Self {
            driver,
            client,
            allowed: Mutex::new(Vec::new()),
            width: Mutex::new(1280),
        }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Runs `script` in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.js(script).await
    }

    /// Runs `script` with `arguments[0]` = `arg`.
    pub async fn eval_with(&self, script: &str, arg: &str) -> Value {
        self.client.execute(script, vec![json!(arg)]).await.unwrap()
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.watch_csp().await;
    }

    pub async fn refresh(&self) {
        self.client.refresh().await.unwrap();
        self.watch_csp().await;
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Records CSP violations the page reports from now on (the log catches those of loading).
    async fn watch_csp(&self) {
        self.client
            .execute(
                "window.__csp = window.__csp || []; \
                 document.addEventListener('securitypolicyviolation', \
                   (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));",
                vec![],
            )
            .await
            .unwrap();
    }

    /// A request of the page to `path` may be refused with `status` (the step tests that).
    pub fn expect_refusal(&self, path: &str, status: u16) {
        self.allowed.lock().unwrap().push((path.to_owned(), status));
    }

    /// Fails on any console error, CSP violation, or failed request nobody expected.
    pub async fn check_log(&self) {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        let allowed = self.allowed.lock().unwrap().clone();
        let mut bad = Vec::new();
        for entry in log.as_array().cloned().unwrap_or_default() {
            let level = entry["level"].as_str().unwrap_or_default();
            let message = entry["message"].as_str().unwrap_or_default().to_owned();
            let source = entry["source"].as_str().unwrap_or_default();
            if level != "SEVERE" && !message.contains("Content Security Policy") {
                continue;
            }
            let expected = source == "network"
                && allowed.iter().any(|(path, status)| {
                    message.contains(path) && message.contains(&format!("status of {status} "))
                });
            if !expected {
                bad.push(format!("[{level} {source}] {message}"));
            }
        }
        let csp = self
            .client
            .execute("return window.__csp || [];", vec![])
            .await
            .unwrap();
        if let Some(v) = csp.as_array().filter(|v| !v.is_empty()) {
            bad.push(format!("CSP violations: {v:?}"));
        }
        assert!(bad.is_empty(), "the browser reported:\n{}", bad.join("\n"));
    }

    async fn by_id(&self, id: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no element #{id}: {e}"))
    }

    pub async fn click(&self, id: &str) {
        self.by_id(id).await.click().await.unwrap();
    }

    pub async fn click_css(&self, css: &str) {
        let el = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        el.click().await.unwrap();
    }

    /// Replaces the field's text by typing `text` (select all, then type over it).
    pub async fn type_into(&self, id: &str, text: &str) {
        let el = self.by_id(id).await;
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    pub async fn send_keys(&self, id: &str, keys: String) {
        self.by_id(id).await.send_keys(&keys).await.unwrap();
    }

    pub async fn select(&self, id: &str, value: &str) {
        self.by_id(id).await.select_by_value(value).await.unwrap();
    }

    pub async fn value(&self, id: &str) -> String {
        self.by_id(id)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn text(&self, id: &str) -> String {
        self.js(&format!(
            "return document.getElementById('{id}').textContent.trim();"
        ))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub async fn checked(&self, id: &str) -> bool {
        self.js(&format!("return document.getElementById('{id}').checked;"))
            .await
            .as_bool()
            .unwrap_or(false)
    }

    pub async fn enabled(&self, id: &str) -> bool {
        self.by_id(id).await.is_enabled().await.unwrap()
    }

    pub async fn visible(&self, id: &str) -> bool {
        self.js(&format!(
            "const e = document.getElementById('{id}'); return !!e && e.getClientRects().length > 0;"
        ))
        .await
        .as_bool()
        .unwrap_or(false)
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits (at most `within`) until `script` returns true.
    async fn until(&self, what: &str, script: &str, within: Duration) {
        let started = Instant::now();
        loop {
            if self.js(script).await.as_bool() == Some(true) {
                return;
            }
            if started.elapsed() > within {
                let name = what.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
                self.shot(&format!("failed-{name}")).await;
                let body = self
                    .js("return document.body.innerText;")
                    .await
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                panic!("waited {within:?} for {what}; the page shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_until(&self, what: &str, script: &str) {
        self.until(what, script, WAIT).await;
    }

    pub async fn wait_text(&self, id: &str, text: &str) {
        self.wait_text_for(id, text, WAIT).await;
    }

    pub async fn wait_text_for(&self, id: &str, text: &str, within: Duration) {
        let quoted = serde_json::to_string(text).unwrap();
        self.until(
            &format!("#{id} to show {text:?}"),
            &format!(
                "const e = document.getElementById('{id}'); return !!e && e.textContent.includes({quoted});"
            ),
            within,
        )
        .await;
    }

    pub async fn wait_class(&self, id: &str, class: &str) {
        self.until(
            &format!("#{id} to be {class}"),
            &format!(
                "const e = document.getElementById('{id}'); return !!e && e.classList.contains('{class}');"
            ),
            WAIT,
        )
        .await;
    }

    pub async fn wait_visible(&self, id: &str) {
        self.until(
            &format!("#{id} to be visible"),
            &format!(
                "const e = document.getElementById('{id}'); return !!e && e.getClientRects().length > 0;"
            ),
            WAIT,
        )
        .await;
    }

    pub async fn wait_hidden(&self, id: &str) {
        self.until(
            &format!("#{id} to be hidden"),
            &format!(
                "const e = document.getElementById('{id}'); return !e || e.getClientRects().length === 0;"
            ),
            WAIT,
        )
        .await;
    }

    pub async fn wait_gone(&self, id: &str) {
        self.wait_hidden(id).await;
    }

    pub async fn wait_enabled(&self, id: &str) {
        self.until(
            &format!("#{id} to be enabled"),
            &format!("const e = document.getElementById('{id}'); return !!e && !e.disabled;"),
            WAIT,
        )
        .await;
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        *self.width.lock().unwrap() = width;
    }

    /// The page fits the window's width (nothing scrolls sideways).
    pub async fn no_horizontal_scroll(&self) {
        let v = self
            .js("return [document.documentElement.scrollWidth, window.innerWidth];")
            .await;
        let (scroll, inner) = (v[0].as_u64().unwrap(), v[1].as_u64().unwrap());
        assert!(
            scroll <= inner,
            "the page is {scroll}px wide in a {inner}px window"
        );
    }

    /// A screenshot of the whole page (the window grown to its height) in `target/screenshots/`.
    pub async fn shot(&self, name: &str) {
        let width = *self.width.lock().unwrap();
        let height = self
            .js("return Math.max(document.documentElement.scrollHeight, 600);")
            .await
            .as_u64()
            .unwrap_or(1000)
            .min(6000) as u32;
        // The window's outer height includes no browser chrome in headless mode.
        let _ = self.client.set_window_size(width, height).await;
        let _ = self.js("window.scrollTo(0, 0); return true;").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
