//! Errors as `application/problem+json` (RFC 9457) documents carrying what the CLI prints: the
//! message (`detail`), one line per cause (`causes`), the hint (`hint`), and the category with
//! its stable exit code, so a script gets the same answer from both adapters. The HTTP status
//! comes from [`Category::http_status`], never from a second table.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cnpg_backup_app::{AppError, Category};
use serde::Serialize;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProblemDoc {
    /// `urn:cnpg-backup:problem:<category>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the category.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The message, as the CLI prints it after `error:`.
    pub detail: String,
    /// `no`, `invalid`, `not_found`, `world`, `contended`, `refused`, `exists`, or for failures
    /// before any operation ran: `unauthenticated`, `forbidden`, `too_large`,
    /// `unsupported_media_type`, `rate_limited`, `unavailable`, `no_route`, `internal`.
    pub category: String,
    /// The CLI's exit code for the same failure (absent for HTTP-only failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// One line per underlying cause, outermost first.
    pub causes: Vec<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The request field at fault (`request.mode.baseName`, `intent`, `plane`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The error responses of every route, for the OpenAPI document: a problem document for any
/// 4XX or 5XX status (each operation's description names the ones it answers).
#[derive(Debug, Clone, Copy)]
pub struct Problems;

impl utoipa::IntoResponses for Problems {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        use utoipa::openapi::{Content, Ref, response::ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_JSON,
                    Content::new(Some(Ref::from_schema_name("ProblemDoc"))),
                )
                .build()
                .into()
        };
        [
            (
                "4XX".to_owned(),
                problem("The request was refused; nothing was changed by the refusal"),
            ),
            (
                "5XX".to_owned(),
                problem("The outside world failed, or the server is shutting down"),
            ),
        ]
        .into()
    }
}

/// An error response: a problem document and the headers that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    doc: Box<ProblemDoc>,
    retry_after: Option<u64>,
    authenticate: bool,
}

fn title(category: &str) -> &'static str {
    match category {
        "no" => "the answer is no",
        "invalid" => "invalid input",
        "not_found" => "not found",
        "world" => "the outside world failed",
        "contended" => "changed meanwhile",
        "refused" => "refused for safety",
        "exists" => "already exists",
        "unauthenticated" => "unauthenticated",
        "forbidden" => "forbidden",
        "too_large" => "request too large",
        "unsupported_media_type" => "unsupported media type",
        "rate_limited" => "too many requests",
        "unavailable" => "unavailable",
        "no_route" => "no such route",
        "timeout" => "timed out",
        _ => "internal error",
    }
}

impl Problem {
    /// A problem outside the categories of an operation (authentication, limits, routing).
    pub fn http(status: StatusCode, category: &str, detail: impl Into<String>) -> Self {
        Self {
            doc: Box::new(ProblemDoc {
                kind: format!("urn:cnpg-backup:problem:{category}"),
                title: title(category).to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                category: category.to_owned(),
                exit_code: None,
                causes: Vec::new(),
                hint: None,
                field: None,
            }),
            retry_after: None,
            authenticate: false,
        }
    }

    /// 401: no valid bearer token (with `WWW-Authenticate: Bearer`).
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        let mut p = Self::http(StatusCode::UNAUTHORIZED, "unauthenticated", detail).hint(
            "send `Authorization: Bearer <token>`: a Kubernetes token in a cluster, the token \
             `serve --embedded` printed (or read from --token-file) on the embedded default",
        );
        p.authenticate = true;
        p
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::http(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 429 with `Retry-After` in whole seconds.
    pub fn rate_limited(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut p = Self::http(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
            .hint("wait for the time in Retry-After, then try again");
        p.retry_after = Some(retry_after_secs.max(1));
        p
    }

    /// Invalid input naming the field at fault (400, category `invalid`, exit code 2).
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::from(AppError::new(Category::Invalid, detail));
        let field = field.into();
        if !field.is_empty() {
            p.doc.field = Some(field);
        }
        p
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.doc.hint = Some(hint.into());
        self
    }

    /// Names the request field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.doc.field = Some(field.into());
        self
    }

    /// The document.
    pub fn doc(&self) -> &ProblemDoc {
        &self.doc
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.doc.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        let category = e.category.as_str();
        Self {
            doc: Box::new(ProblemDoc {
                kind: format!("urn:cnpg-backup:problem:{category}"),
                title: title(category).to_owned(),
                status: e.category.http_status(),
                detail: e.message,
                category: category.to_owned(),
                exit_code: Some(e.category.exit_code()),
                causes: e.causes,
                hint: e.hint,
                field: None,
            }),
            retry_after: None,
            authenticate: false,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&*self.doc).unwrap_or_default();
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.authenticate {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cnpg-backup\""),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_error_keeps_message_causes_hint_and_category() {
        let e = AppError::new(Category::Refused, "wrong sentence")
            .context("stage one refused")
            .hint("type it exactly");
        let p = Problem::from(e);
        assert_eq!(p.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v = serde_json::to_value(p.doc()).unwrap();
        assert_eq!(v["type"], "urn:cnpg-backup:problem:refused");
        assert_eq!(v["detail"], "stage one refused");
        assert_eq!(v["causes"][0], "wrong sentence");
        assert_eq!(v["hint"], "type it exactly");
        assert_eq!(v["exitCode"], 4);
        assert_eq!(v["category"], "refused");
    }

    #[test]
    fn rate_limited_and_unauthenticated_carry_their_headers() {
        let r = Problem::rate_limited("slow down", 0).into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let r = Problem::unauthenticated("no token").into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
