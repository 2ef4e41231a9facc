//! The captured kube-apiserver exchanges in the repository's `fixtures/apiserver` (see its
//! README: how they were made, and what each shows), and a way to send one to the double.

use std::path::PathBuf;

use http::HeaderMap;
use serde_json::Value;
use tower::ServiceExt;

use crate::ApiDouble;

/// The directory of the captured exchanges.
pub fn dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/apiserver"
    ))
}

/// The exchange in `file` (e.g. `16-sa-ssa-create-scheduledbackup-403.json`), parsed.
///
/// # Panics
/// When the file is missing or not JSON: the fixtures are part of the repository.
pub fn exchange(file: &str) -> Value {
    let path = dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The double's answer to a replayed request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Replayed {
    /// Status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: HeaderMap,
    /// The body, parsed (`Value::Null` when empty; for a watch, the list of its events).
    pub body: Value,
    /// The body as sent.
    pub text: String,
}

impl Replayed {
    /// The header names, in order, as the fixtures list them (`Audit-Id`, ...).
    pub fn header_names(&self) -> Vec<String> {
        self.headers
            .keys()
            .map(|k| canonical_header(k.as_str()))
            .collect()
    }
}

/// `audit-id` → `Audit-Id`.
pub fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The header names a captured exchange's response lists, in order.
pub fn captured_header_names(exchange: &Value) -> Vec<String> {
    exchange["response"]["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h[0].as_str().map(canonical_header))
        .collect()
}

/// Sends the request of `exchange` to `double` as it was captured (method, path and query,
/// content type, `Accept`, body, user agent); `token` replaces the redacted bearer token,
/// `None` sends none (the request is then the double's default identity's). A watch's answer
/// is collected until its stream ends (its `timeoutSeconds`: pause tokio's time to wait none).
///
/// # Panics
/// When the exchange has no request or the double's answer is not JSON.
pub async fn replay(double: &ApiDouble, exchange: &Value, token: Option<&str>) -> Replayed {
    let req = &exchange["request"];
    let method = req["method"].as_str().unwrap_or("GET");
    let path = req["path"].as_str().unwrap_or("/");
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(ct) = req["contentType"].as_str() {
        builder = builder.header(http::header::CONTENT_TYPE, ct);
    }
    if let Some(ua) = req["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| {
            h[0].as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("user-agent"))
        })
        .and_then(|h| h[1].as_str())
    {
        builder = builder.header(http::header::USER_AGENT, ua);
    }
    if let Some(accept) = req["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| {
            h[0].as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("accept"))
        })
        .and_then(|h| h[1].as_str())
    {
        builder = builder.header(http::header::ACCEPT, accept);
    }
    if let Some(t) = token {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = req["bodyText"].as_str().unwrap_or("").as_bytes().to_vec();
    let request = builder
        .body(kube::client::Body::from(body))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let Ok(resp) = double.clone().oneshot(request).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = match http_body_util::BodyExt::collect(resp.into_body()).await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let parse = |t: &str| -> Value {
        serde_json::from_str(t).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    };
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .is_some_and(|v| v == "chunked");
    let body = if text.is_empty() {
        Value::Null
    } else if chunked {
        // A watch: one event per line, as the fixtures' `response.body` lists them.
        Value::Array(text.lines().map(parse).collect())
    } else {
        parse(&text)
    };
    Replayed {
        status,
        headers,
        body,
        text,
    }
}
