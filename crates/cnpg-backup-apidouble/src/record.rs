//! [`Recorded`]: one request as the double saw it, with the verbs the API server would have
//! authorized it as: the request verb, and `create` as well for a server-side apply of an
//! object that did not exist (fixtures 16, 17).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::request::RequestInfo;

/// One request, in the order received.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// `Content-Type` of the body.
    pub content_type: Option<String>,
    /// The `Accept` header (kube's metadata-only requests ask `as=PartialObjectMetadata`).
    pub accept: Option<String>,
    /// The body, parsed (`None` without one).
    pub body: Option<Value>,
    /// The status code answered.
    pub status: u16,
    /// The body answered (`Value::Null` for a watch stream).
    pub answer: Value,
    /// Who sent it (`None`: not authenticated, answered 401).
    pub user: Option<String>,
    /// What it asked for.
    pub info: RequestInfo,
    /// Every verb the request was authorized as, in order (empty when not authenticated).
    pub checked: Vec<String>,
}

/// The verbs that change something.
pub const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

impl Recorded {
    /// The request verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`).
    pub fn verb(&self) -> &str {
        &self.info.verb
    }

    /// Every verb the API server authorizes this request as: the request verb, then `create`
    /// for an apply that would create the object.
    pub fn verbs(&self) -> Vec<&str> {
        if self.checked.is_empty() {
            vec![self.verb()]
        } else {
            self.checked.iter().map(String::as_str).collect()
        }
    }

    /// API group (`""` for the core group).
    pub fn group(&self) -> &str {
        &self.info.api_group
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn resource(&self) -> String {
        self.info.resource_path()
    }

    /// The object name (`""` for a collection).
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Whether the request asked for metadata only (`PartialObjectMetadata`).
    pub fn metadata_only(&self) -> bool {
        self.accept
            .as_deref()
            .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
    }

    /// Whether the request asks to change something (create, update, patch, delete).
    pub fn is_write(&self) -> bool {
        WRITE_VERBS.contains(&self.verb())
    }

    /// `verb resource[/name]`, for sequence assertions (`patch clusters/pg-admin`).
    pub fn short(&self) -> String {
        if self.info.name.is_empty() {
            format!("{} {}", self.verb(), self.resource())
        } else {
            format!("{} {}/{}", self.verb(), self.resource(), self.info.name)
        }
    }
}
