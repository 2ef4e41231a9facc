//! Mapping Kubernetes API failures to the core's [`BackendError`], keeping the Kubernetes reason
//! and the field causes (a 422 names the field, a 409 apply conflict names the other manager).
//!
//! Not here: retry decisions beyond [`is_retryable`] (see [`crate::retry`]).

use cnpg_backup_core::ports::BackendError;
use kube::core::Status;

/// A field owned by another field manager, from a server-side-apply conflict (409 `Conflict`
/// with causes of reason `FieldManagerConflict`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldOwner {
    /// The field path, e.g. `.spec.instances`.
    pub field: String,
    /// The manager that owns it, e.g. `platform-ops` (the cause message when it cannot be parsed).
    pub manager: String,
}

impl FieldOwner {
    /// A field owned by `manager`.
    pub fn new(field: impl Into<String>, manager: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            manager: manager.into(),
        }
    }
}

/// The fields another manager owns, from a 409 apply conflict body. Empty for other errors.
pub fn conflict_owners(status: &Status) -> Vec<FieldOwner> {
    let Some(details) = &status.details else {
        return Vec::new();
    };
    details
        .causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict")
        .map(|c| {
            // The message reads: conflict with "platform-ops" using postgresql.cnpg.io/v1
            let manager = c
                .message
                .split('"')
                .nth(1)
                .map(str::to_owned)
                .unwrap_or_else(|| c.message.clone());
            FieldOwner::new(c.field.clone(), manager)
        })
        .collect()
}

fn causes_text(status: &Status) -> Option<String> {
    let details = status.details.as_ref()?;
    if details.causes.is_empty() {
        return None;
    }
    Some(
        details
            .causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("field `{}`: {}", c.field, c.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Maps an API status (the body of a failed request) to a [`BackendError`] about `what`.
pub fn status_to_backend(status: &Status, what: &str) -> BackendError {
    let what = what.to_owned();
    match (status.code, status.reason.as_str()) {
        (404, _) => BackendError::NotFound { what },
        (409, "AlreadyExists") => BackendError::AlreadyExists { what },
        (409, _) => {
            let owners = conflict_owners(status);
            let detail = if owners.is_empty() {
                status.message.clone()
            } else {
                owners
                    .iter()
                    .map(|o| {
                        format!(
                            "field `{}` is owned by field manager `{}`",
                            o.field, o.manager
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
                    + "; not forcing: change it there or ask for a forced apply"
            };
            BackendError::Conflict { what, detail }
        }
        (401 | 403, _) => BackendError::Forbidden {
            detail: format!("{what}: {}", status.message),
        },
        (400 | 405 | 406 | 413 | 415 | 422, _) => BackendError::Invalid {
            detail: format!(
                "{what}: {}",
                causes_text(status).unwrap_or_else(|| status.message.clone())
            ),
        },
        (410, _) => BackendError::Unavailable {
            detail: format!("{what}: {} (list expired, start again)", status.message),
        },
        _ => BackendError::Unavailable {
            detail: format!("{what}: {} ({})", status.message, status.code),
        },
    }
}

/// Maps a kube client error to a [`BackendError`] about `what` (e.g. `cluster pg-admin`).
pub fn to_backend(err: &kube::Error, what: &str) -> BackendError {
    if let Some(lost) = crate::fence::fence_lost(err) {
        return lost.into();
    }
    match err {
        kube::Error::Api(status) => status_to_backend(status, what),
        kube::Error::SerdeError(e) => BackendError::Invalid {
            detail: format!("{what}: the API answer did not decode: {e}"),
        },
        kube::Error::Auth(e) => BackendError::Forbidden {
            detail: format!("{what}: {e}"),
        },
        other => BackendError::Unavailable {
            detail: format!("{what}: {other}"),
        },
    }
}

/// Whether an error is worth retrying for an idempotent call: 429, 5xx, server timeouts and
/// transport failures. Never 4xx answers about the request itself.
pub fn is_retryable(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => {
            status.code == 429
                || status.code >= 500
                || matches!(
                    status.reason.as_str(),
                    "ServerTimeout" | "Timeout" | "TooManyRequests"
                )
        }
        // A write this replica may not send is not worth sending again.
        kube::Error::Service(_) if crate::fence::fence_lost(err).is_some() => false,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// Whether the error is a 404.
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// Whether the error is a 409 `AlreadyExists`.
pub(crate) fn is_already_exists(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: &str) -> Status {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn conflict_names_field_and_manager() {
        let s = status(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Apply failed with 1 conflict: conflict with \"platform-ops\" using postgresql.cnpg.io/v1: .spec.instances","reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"platform-ops\" using postgresql.cnpg.io/v1","field":".spec.instances"}]},"code":409}"#,
        );
        assert_eq!(
            conflict_owners(&s),
            vec![FieldOwner::new(".spec.instances", "platform-ops")]
        );
        let BackendError::Conflict { detail, .. } = status_to_backend(&s, "cluster pg-admin")
        else {
            panic!("expected conflict");
        };
        assert!(detail.contains("`.spec.instances` is owned by field manager `platform-ops`"));
    }

    #[test]
    fn rate_limits_and_server_errors_are_retryable_but_invalid_is_not() {
        let mk = |code: u16, reason: &str| {
            kube::Error::Api(Status::failure("x", reason).with_code(code).boxed())
        };
        assert!(is_retryable(&mk(429, "TooManyRequests")));
        assert!(is_retryable(&mk(503, "ServiceUnavailable")));
        assert!(is_retryable(&mk(504, "Timeout")));
        assert!(!is_retryable(&mk(422, "Invalid")));
        assert!(!is_retryable(&mk(409, "Conflict")));
        assert!(!is_retryable(&mk(404, "NotFound")));
    }
}
