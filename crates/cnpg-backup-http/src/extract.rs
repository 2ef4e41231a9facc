//! Request input into core types, refusing with a problem that names the field: JSON bodies
//! (`serde_path_to_error` gives the path, e.g. `request.mode.baseName`), query strings, path
//! ids. Body size is limited by the router ([`crate::ApiConfig::body_limit`]); a larger body is
//! a 413.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use cnpg_backup_core::names::RestoreId;
use cnpg_backup_core::restore::intent::refine_path;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body, deserialized into `T` (unknown fields are refused where `T` says so).
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent (empty): then `T::default()`.
pub struct OptionalJson<T>(pub T);

fn bytes_problem(e: BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is larger than this route accepts",
        )
    } else {
        Problem::http(e.status(), "invalid", e.body_text())
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Deserializes `bytes` as JSON into `T`, naming the field at fault.
///
/// # Errors
/// 400 with the path of the field and serde's message.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut path = e.path().to_string();
        if let Ok(root) = serde_json::from_slice::<serde_json::Value>(bytes) {
            path = refine_path(&root, path, &e.inner().to_string());
        }
        let inner = e.into_inner();
        let message = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("the body is not valid JSON: {inner}")
            }
            _ if path == "." || path == "?" => {
                format!(
                    "the body is not the expected document: {}",
                    without_position(&inner)
                )
            }
            // The field's path says where; serde's " at line L column C" would say it twice.
            _ => format!("field `{path}`: {}", without_position(&inner)),
        };
        let field = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        Problem::invalid_field(field, message)
    })?;
    de.end()
        .map_err(|e| Problem::invalid_field("", format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_json(&req) {
            return Err(Problem::http(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(bytes_problem)?;
        Ok(ApiJson(from_json(&bytes)?))
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json = is_json(&req);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(bytes_problem)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !json {
            return Err(Problem::http(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`, or no body",
            ));
        }
        Ok(OptionalJson(from_json(&bytes)?))
    }
}

/// A query string, deserialized into `T`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| {
                let text = e.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                Problem::invalid_field("", format!("query string: {text}"))
            })
    }
}

/// The restore id of the path.
///
/// # Errors
/// 400 naming `id` when it is not a valid restore id.
pub fn restore_id(raw: &str) -> Result<RestoreId, Problem> {
    raw.parse::<RestoreId>()
        .map_err(|e| Problem::invalid_field("id", format!("restore id `{}`: {e}", truncate(raw))))
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(64).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Inner {
        read_only: bool,
    }

    #[test]
    fn errors_name_the_field() {
        let p = from_json::<Outer>(br#"{"inner": {"readOnly": "yes"}}"#).unwrap_err();
        assert_eq!(p.doc().field.as_deref(), Some("inner.readOnly"));
        assert!(
            p.doc()
                .detail
                .starts_with("field `inner.readOnly`: invalid type"),
            "{:?}",
            p.doc()
        );
        let p = from_json::<Outer>(br#"{"inner": {"colour": 1}}"#).unwrap_err();
        assert!(
            p.doc().detail.contains("unknown field `colour`"),
            "{:?}",
            p.doc()
        );
        let p = from_json::<Outer>(b"{").unwrap_err();
        assert!(
            p.doc().detail.starts_with("the body is not valid JSON"),
            "{:?}",
            p.doc()
        );
        assert_eq!(p.doc().field, None);
    }
}
