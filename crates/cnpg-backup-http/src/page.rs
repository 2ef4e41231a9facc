//! The Backup & Restore page: plain HTML, CSS and ES modules (no build step) embedded in the
//! binary, served at [`PAGE_PATH`] (`?tab=restore` opens the Restore tab), calling only the HTTP
//! API of this crate (wherever the host mounts it: [`router`] takes that path).
//!
//! ```no_run
//! # fn host(api: cnpg_backup_http::Router) {
//! let app = axum::Router::new()
//!     .nest("/api/v1", api)
//!     .merge(cnpg_backup_http::page::router("/api/v1"));
//! # let _ = app; }
//! ```
//!
//! Every answer carries a strict Content-Security-Policy (everything from this origin only, no
//! inline script or style, no framing), `nosniff`, no referrer, and a strong `ETag` with
//! `Cache-Control: no-cache`, so a browser revalidates each asset (a `304` without a body) and
//! never runs a stale module after an upgrade. The page asks for no other origin.
//!
//! Sign-in: the page reads a token from its URL fragment (`#token=…`, which browsers never send
//! to a server, so it is in no access log), keeps it in `sessionStorage` for the tab, removes
//! it from the address bar, and sends it as `Authorization: Bearer`; without one it shows a
//! sign-in form. `cnpg-backup serve --embedded` prints such a link ([`sign_in_link`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Where the page is served.
pub const PAGE_PATH: &str = "/dashboard/backup-restore";

/// The Content-Security-Policy of the page and its assets: this origin only, no inline script
/// or style, no plugins, no framing, forms post nowhere else.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page's HTML; `{{API_BASE}}` is replaced by where the API is mounted.
const INDEX_HTML: &str = include_str!("../page/index.html");

/// The assets under `PAGE_PATH/assets/`: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../page/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../page/api.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../page/ui.js"),
    ),
    (
        "backup.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../page/backup.js"),
    ),
    (
        "restore.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../page/restore.js"),
    ),
    (
        "page.css",
        "text/css; charset=utf-8",
        include_bytes!("../page/page.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../page/icon.svg"),
    ),
];

/// One served file: its bytes, content type and entity tag.
#[derive(Debug)]
struct File {
    bytes: axum::body::Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

impl File {
    fn new(bytes: Vec<u8>, content_type: &'static str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let hex: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            etag: HeaderValue::from_str(&format!("\"{hex}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
            bytes: bytes.into(),
            content_type,
        }
    }

    /// `200` with the body, or `304` when the request already has this version.
    fn answer(&self, request: &HeaderMap) -> Response {
        let fresh = request
            .get(IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',').any(|t| {
                    let t = t.trim();
                    t == "*" || t.trim_start_matches("W/").as_bytes() == self.etag.as_bytes()
                })
            });
        let mut res = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = self.bytes.clone().into_response();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
            r
        };
        let h = res.headers_mut();
        h.insert(ETAG, self.etag.clone());
        security_headers(h);
        res
    }
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[derive(Debug)]
struct Files {
    index: File,
    assets: Vec<(&'static str, File)>,
}

/// Escapes text for an HTML attribute value.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page at [`PAGE_PATH`] and its assets, calling the API mounted at `api_base` (a path on
/// the same origin, e.g. `/api/v1`). Merge it into the host's router, outside the API's own
/// layers (the page needs no token: the data it shows comes from the API, which does).
pub fn router(api_base: &str) -> Router {
    let html = INDEX_HTML.replace("{{API_BASE}}", &attribute(api_base.trim_end_matches('/')));
    let files = Arc::new(Files {
        index: File::new(html.into_bytes(), "text/html; charset=utf-8"),
        assets: ASSETS
            .iter()
            .map(|(name, ty, bytes)| (*name, File::new(bytes.to_vec(), ty)))
            .collect(),
    });
    Router::new()
        .route(PAGE_PATH, get(index))
        .route(&format!("{PAGE_PATH}/assets/{{name}}"), get(asset))
        .with_state(files)
}

async fn index(State(files): State<Arc<Files>>, headers: HeaderMap) -> Response {
    files.index.answer(&headers)
}

async fn asset(
    State(files): State<Arc<Files>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    match files.assets.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => f.answer(&headers),
        None => {
            let mut res = (StatusCode::NOT_FOUND, "no such asset\n").into_response();
            security_headers(res.headers_mut());
            res
        }
    }
}

/// The link that opens the page signed in: `{origin}{PAGE_PATH}#token=…`. The token is in the
/// fragment, which a browser never sends to the server.
pub fn sign_in_link(origin: &str, token: &str) -> String {
    let encoded: String = token
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!(
        "{}{PAGE_PATH}#token={encoded}",
        origin.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use cnpg_backup_core::restore::{STAGE_ONE_ACK, STAGE_TWO_ACK};
    use tower::ServiceExt;

    async fn fetch(path: &str, etag: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(e) = etag {
            req = req.header(IF_NONE_MATCH, e);
        }
        router("/api/v1")
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn text(res: Response) -> String {
        let b = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_page_is_served_with_a_strict_policy_and_the_api_base() {
        let res = fetch(PAGE_PATH, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers().clone();
        assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
        let csp = h[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[CACHE_CONTROL], "no-cache");
        assert!(h.contains_key(ETAG));
        let body = text(res).await;
        assert!(body.contains(r#"<meta name="cnpg-backup-api" content="/api/v1">"#));
        assert!(!body.contains("{{"));
    }

    #[tokio::test]
    async fn a_known_version_is_answered_304_without_a_body() {
        for path in [PAGE_PATH.to_owned(), format!("{PAGE_PATH}/assets/app.js")] {
            let first = fetch(&path, None).await;
            let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
            let again = fetch(&path, Some(&etag)).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
            assert_eq!(again.headers()[ETAG], etag.as_str());
            assert!(text(again).await.is_empty());
            let other = fetch(&path, Some("\"something-else\"")).await;
            assert_eq!(other.status(), StatusCode::OK, "{path}");
        }
    }

    #[tokio::test]
    async fn assets_have_their_content_types_and_unknown_ones_are_404() {
        for (name, ty, bytes) in ASSETS {
            let res = fetch(&format!("{PAGE_PATH}/assets/{name}"), None).await;
            assert_eq!(res.status(), StatusCode::OK, "{name}");
            assert_eq!(res.headers()[CONTENT_TYPE], *ty, "{name}");
            assert!(res.headers().contains_key(CONTENT_SECURITY_POLICY));
            assert_eq!(text(res).await.as_bytes(), *bytes);
        }
        let res = fetch(&format!("{PAGE_PATH}/assets/nope.js"), None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = fetch(&format!("{PAGE_PATH}/assets/..%2Fsrc%2Flib.rs"), None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }

    /// The checkboxes carry the exact sentences the API checks, byte for byte (the page sends
    /// the label's text).
    #[test]
    fn the_acknowledgements_are_the_exact_sentences() {
        assert!(INDEX_HTML.contains(&format!(r#"id="ack-one-text">{STAGE_ONE_ACK}</label>"#)));
        assert!(INDEX_HTML.contains(&format!(r#"id="ack-two-text">{STAGE_TWO_ACK}</label>"#)));
    }

    /// Nothing inline (the policy would block it) and nothing from another origin.
    #[test]
    fn no_inline_code_and_no_other_origin() {
        let html = INDEX_HTML.to_ascii_lowercase();
        assert!(!html.contains("<style"), "inline style element");
        assert!(!html.contains(" style="), "inline style attribute");
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(tag.contains(" src="), "inline script: {tag}");
        }
        assert!(!html.contains(" onclick=") && !html.contains(" onload="));
        let mut all = vec![("index.html", INDEX_HTML.as_bytes())];
        all.extend(ASSETS.iter().map(|(n, _, b)| (*n, *b)));
        for (name, bytes) in all {
            let text = std::str::from_utf8(bytes).unwrap();
            for scheme in ["http://", "https://", "//fonts.", "//cdn"] {
                for (i, _) in text.match_indices(scheme) {
                    let around = &text[i.saturating_sub(10)..(i + 40).min(text.len())];
                    assert!(
                        around.contains("www.w3.org/2000/svg"),
                        "{name} refers to another origin: {around}"
                    );
                }
            }
        }
    }

    /// Every asset the page or a module refers to is served.
    #[test]
    fn every_reference_resolves() {
        let names: Vec<&str> = ASSETS.iter().map(|(n, _, _)| *n).collect();
        for (i, _) in INDEX_HTML.match_indices("backup-restore/assets/") {
            let rest = &INDEX_HTML[i + "backup-restore/assets/".len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(names.contains(&name), "index.html refers to {name}");
        }
        for (file, _, bytes) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let text = std::str::from_utf8(bytes).unwrap();
            for (i, _) in text.match_indices("from \"./") {
                let rest = &text[i + "from \"./".len()..];
                let name = &rest[..rest.find('"').unwrap()];
                assert!(names.contains(&name), "{file} imports {name}");
            }
        }
    }

    #[test]
    fn the_sign_in_link_carries_the_token_in_the_fragment() {
        assert_eq!(
            sign_in_link("http://127.0.0.1:8080/", "ab12"),
            "http://127.0.0.1:8080/dashboard/backup-restore#token=ab12"
        );
        assert!(sign_in_link("http://h", "a b&c").ends_with("#token=a%20b%26c"));
    }
}
