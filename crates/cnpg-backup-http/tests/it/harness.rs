//! A server on 127.0.0.1, the router nested under `/api/backup` (any prefix works), over the
//! embedded default, and a client.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use cnpg_backup_app::Backend;
use cnpg_backup_http::{
    Access, AccessError, ApiConfig, ApiState, Authenticator, Authorizer, Decision, Permission,
    User, router,
};
use reqwest::{Method, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

pub const PREFIX: &str = "/api/backup";

/// Tokens of the test users: `admin` may do everything; the others hold the role of their
/// name (`cnpg-backup rbac --users`); `nobody` holds none.
pub const USERS: &[&str] = &["admin", "viewer", "operator", "restorer", "nobody"];

pub fn token(user: &str) -> String {
    format!("token-of-{user}-0123456789")
}

/// Tokens to users, as a TokenReview would.
struct TestTokens;

#[async_trait]
impl Authenticator for TestTokens {
    async fn authenticate(&self, t: &SecretString) -> Result<Option<User>, AccessError> {
        Ok(USERS
            .iter()
            .find(|u| token(u) == t.expose_secret())
            .map(|u| {
                User::new(
                    format!("{u}@example.com"),
                    vec!["system:authenticated".into()],
                )
            }))
    }
}

/// RBAC with the roles `cnpg-backup rbac --users` prints: `<role>@example.com` holds `<role>`.
pub struct RoleRbac;

#[async_trait]
impl Authorizer for RoleRbac {
    async fn authorize(
        &self,
        user: &User,
        p: Permission,
        _: Option<&str>,
    ) -> Result<Decision, AccessError> {
        let name = user.name.split('@').next().unwrap_or_default();
        if name == "admin" {
            return Ok(Decision::Allowed);
        }
        let allowed = cnpg_backup_kube::rbac::user_role(name).is_some_and(|r| {
            cnpg_backup_kube::rbac::rules_allow(
                r.rules,
                cnpg_backup_kube::access::API_GROUP,
                p.resource.as_str(),
                p.verb.as_str(),
            )
        });
        Ok(if allowed {
            Decision::Allowed
        } else {
            Decision::Denied { reason: None }
        })
    }
}

pub fn role_access() -> Access {
    Access::new(Arc::new(TestTokens), Arc::new(RoleRbac))
}

pub struct Server {
    pub base: String,
    pub state: ApiState,
    pub backend: Arc<Backend>,
    pub client: reqwest::Client,
    pub _dir: tempfile::TempDir,
    stop: tokio_util::sync::CancellationToken,
}

pub fn fast_config() -> ApiConfig {
    let mut c = ApiConfig::default();
    c.events_poll = std::time::Duration::from_millis(100);
    c
}

pub async fn start() -> Server {
    start_with(role_access(), fast_config()).await
}

pub async fn start_with(access: Access, config: ApiConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Backend::embedded(dir.path(), None, false).await.unwrap());
    serve(backend, dir, access, config).await
}

pub async fn serve(
    backend: Arc<Backend>,
    dir: tempfile::TempDir,
    access: Access,
    config: ApiConfig,
) -> Server {
    cnpg_backup_kube::install_crypto_provider();
    let state = ApiState::with_config(backend.clone(), access, config);
    let app = axum::Router::new().nest(PREFIX, router(state.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await
            .unwrap();
    });
    Server {
        base: format!("http://{addr}{PREFIX}"),
        state,
        backend,
        client: reqwest::Client::new(),
        _dir: dir,
        stop,
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.shutdown().cancel();
        self.stop.cancel();
    }
}

/// A response: status, headers and the body as JSON (`null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub text: String,
}

pub async fn answer(res: Response) -> Answer {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    Answer {
        status,
        headers,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// A request as `user` (None: no token) with an optional JSON body.
    pub async fn call(
        &self,
        user: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(u) = user {
            req = req.bearer_auth(token(u));
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).unwrap());
        }
        answer(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Some("admin"), Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Some("admin"), Method::POST, path, Some(body))
            .await
    }

    /// Backups taken and completed: settings saved, reconciled, one backup now, time passed.
    pub async fn with_backups(&self) -> (String, String) {
        assert_eq!(self.post("reconcile", json!({})).await.status, 200);
        let b = self.post("backups", json!({})).await;
        assert_eq!(b.status, 201, "{}", b.text);
        self.backend.advance(10).await.unwrap();
        let cat = self.get("catalog").await.json;
        let pick = |plane: &str| {
            cat.as_array()
                .unwrap()
                .iter()
                .find(|r| r["plane"] == plane && r["namedRestoreReady"] == true)
                .map(|r| r["name"].as_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("no ready {plane} backup in {cat}"))
        };
        (pick("admin"), pick("tenant"))
    }

    /// What a request could change: settings, statuses, restores, the catalog.
    pub async fn world(&self) -> BTreeMap<&'static str, Value> {
        let b = &self.backend;
        let mut w = BTreeMap::new();
        w.insert(
            "settings",
            json!(format!("{:?}", b.backups.settings().await.ok())),
        );
        w.insert(
            "status",
            serde_json::to_value(b.status().await.ok()).unwrap(),
        );
        w.insert(
            "restores",
            serde_json::to_value(
                b.restore_list()
                    .await
                    .unwrap()
                    .iter()
                    .map(cnpg_backup_app::views::RestoreView::new)
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        );
        w.insert(
            "catalog",
            serde_json::to_value(
                b.catalog_rows(cnpg_backup_core::service::CatalogScope::Both)
                    .await
                    .ok(),
            )
            .unwrap(),
        );
        w
    }
}

pub fn stage_one() -> &'static str {
    cnpg_backup_core::restore::STAGE_ONE_ACK
}

pub fn stage_two() -> &'static str {
    cnpg_backup_core::restore::STAGE_TWO_ACK
}

pub fn full_request(base: &str, admin: &str, tenant: &str) -> Value {
    json!({
        "mode": {"kind": "full", "baseName": base},
        "sources": {
            "admin": {"kind": "backup", "backup": admin},
            "tenant": {"kind": "backup", "backup": tenant},
        },
    })
}

/// A multipart body with the given fields (name, content), and its content type.
pub fn multipart(fields: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "cnpg-backup-test-boundary-7e3a";
    let mut body = Vec::new();
    for (name, content) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}.json\"\r\nContent-Type: application/json\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
