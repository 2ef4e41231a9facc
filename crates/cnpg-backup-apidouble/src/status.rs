//! The `Status` bodies kube-apiserver answers failures with, in the shapes captured in
//! `fixtures/apiserver` (404 05/14, 409 04/07/34/36/37, 422 03/12/43, 403 16/18/19, 401 44/45,
//! 410 26/28): `details` carries `name`, `group` (left out in the core group), `kind` (the
//! plural resource, except for 422 where it is the Kind) and `causes` only when they are set.

use serde_json::{Map, Value, json};

/// The fields of a Status' `details`; empty ones are left out as the server leaves them out.
#[derive(Debug, Clone, Default)]
pub struct Details<'a> {
    /// `details.name`.
    pub name: &'a str,
    /// `details.group`.
    pub group: &'a str,
    /// `details.kind`.
    pub kind: &'a str,
    /// `details.uid`.
    pub uid: Option<&'a Value>,
    /// `details.causes`.
    pub causes: Vec<Value>,
}

impl Details<'_> {
    fn to_value(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("name", self.name),
            ("group", self.group),
            ("kind", self.kind),
        ] {
            if !v.is_empty() {
                m.insert(k.to_owned(), json!(v));
            }
        }
        if let Some(uid) = self.uid {
            m.insert("uid".to_owned(), uid.clone());
        }
        if !self.causes.is_empty() {
            m.insert("causes".to_owned(), Value::Array(self.causes.clone()));
        }
        Value::Object(m)
    }
}

/// A `Failure` Status; `details: None` leaves the key out (401, injected faults).
pub fn failure(code: u16, reason: &str, message: &str, details: Option<Details<'_>>) -> Value {
    let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    if let Some(d) = details {
        v["details"] = d.to_value();
    }
    v
}

/// 404 for a missing object (fixtures 05, 14).
pub fn not_found(qualified: &str, group: &str, plural: &str, name: &str) -> Value {
    failure(
        404,
        "NotFound",
        &format!("{qualified} \"{name}\" not found"),
        Some(Details {
            name,
            group,
            kind: plural,
            ..Default::default()
        }),
    )
}

/// 404 for a path the server does not serve.
pub fn unknown_resource() -> Value {
    failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(Details::default()),
    )
}

/// 409 `AlreadyExists` (fixtures 07, 37).
pub fn already_exists(qualified: &str, group: &str, plural: &str, name: &str) -> Value {
    failure(
        409,
        "AlreadyExists",
        &format!("{qualified} \"{name}\" already exists"),
        Some(Details {
            name,
            group,
            kind: plural,
            ..Default::default()
        }),
    )
}

/// 409 `Conflict` of a stale `resourceVersion` (fixtures 34, 36): no causes.
pub fn stale(qualified: &str, group: &str, plural: &str, name: &str) -> Value {
    failure(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {qualified} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        ),
        Some(Details {
            name,
            group,
            kind: plural,
            ..Default::default()
        }),
    )
}

/// 422 `Invalid` (fixtures 03, 12, 43): `errors` are (field, message after `Invalid value: `
/// has been put in front). One error is quoted whole in the message; several are listed in
/// brackets, as `NewInvalid` aggregates them.
pub fn invalid(
    qualified_kind: &str,
    group: &str,
    kind: &str,
    name: &str,
    errors: &[(String, String)],
) -> Value {
    let each: Vec<String> = errors.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    let listed = if each.len() == 1 {
        each[0].clone()
    } else {
        format!("[{}]", each.join(", "))
    };
    let causes = errors
        .iter()
        .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
        .collect();
    failure(
        422,
        "Invalid",
        &format!("{qualified_kind} \"{name}\" is invalid: {listed}"),
        Some(Details {
            name,
            group,
            kind,
            causes,
            ..Default::default()
        }),
    )
}

/// 401 (fixtures 44, 45): a bare Status that never says why.
pub fn unauthorized() -> Value {
    failure(401, "Unauthorized", "Unauthorized", None)
}

/// An injected fault's Status.
pub fn fault(code: u16) -> Value {
    let reason = match code {
        410 => "Expired",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    failure(code, reason, &format!("injected fault {code}"), None)
}

/// The `Success` Status a delete answers when the object is gone at once (fixture 13).
pub fn deleted(name: &str, group: &str, plural: &str, uid: &Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": Details { name, group, kind: plural, uid: Some(uid), causes: Vec::new() }.to_value()})
}

/// 410 `Expired` for a `continue` token older than etcd's compaction (fixture 26): no
/// `details`, and a new token in `metadata.continue` that continues at the latest revision.
pub fn expired_continue(token: &str) -> Value {
    let mut v = failure(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        None,
    );
    v["metadata"] = json!({"continue": token});
    v
}
