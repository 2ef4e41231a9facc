//! What a request asks for, read from its method, path and query the way kube-apiserver's
//! `RequestInfoFactory` reads them: the verb RBAC authorizes, the API group and version, the
//! namespace, the resource and subresource, and the object name.
//!
//! Not here: whether the resource is served (see [`crate::resources`]) or allowed (see
//! [`crate::rbac`]).

use std::collections::BTreeMap;

/// The attributes of one request, as the API server's authorizer sees them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RequestInfo {
    /// `false` for paths outside `/api` and `/apis` (e.g. `/version`, `/healthz`).
    pub is_resource_request: bool,
    /// The RBAC verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection` (for a non-resource request: the lowercase HTTP method).
    pub verb: String,
    /// The API group (`""` for the core group under `/api`).
    pub api_group: String,
    /// The API version, e.g. `v1`.
    pub api_version: String,
    /// The namespace (`""` at cluster scope).
    pub namespace: String,
    /// The resource, plural, e.g. `clusters`.
    pub resource: String,
    /// The subresource, e.g. `status` (`""` for the main resource).
    pub subresource: String,
    /// The object name (`""` for a collection; for a list or watch, the name a
    /// `fieldSelector=metadata.name=<name>` pins).
    pub name: String,
    /// The path, without the query.
    pub path: String,
}

impl RequestInfo {
    /// Reads `method` `path` with its decoded `query` as kube-apiserver does.
    pub fn parse(method: &str, path: &str, query: &BTreeMap<String, String>) -> Self {
        let mut info = RequestInfo {
            path: path.to_owned(),
            verb: method.to_ascii_lowercase(),
            ..Default::default()
        };
        let parts: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let rest: &[&str] = match parts.as_slice() {
            ["api", version, rest @ ..] => {
                info.api_version = (*version).to_owned();
                rest
            }
            ["apis", group, version, rest @ ..] => {
                info.api_group = (*group).to_owned();
                info.api_version = (*version).to_owned();
                rest
            }
            _ => return info,
        };
        if rest.is_empty() {
            // Discovery (`/api/v1`, `/apis/<group>/<version>`) is not a resource request.
            return info;
        }
        info.is_resource_request = true;
        info.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_owned();
        let mut rest = rest;
        if rest[0] == "namespaces"
            && let Some(ns) = rest.get(1)
        {
            info.namespace = (*ns).to_owned();
            // `/namespaces/<ns>/<resource>...` names a namespaced resource; `/namespaces/<ns>`
            // and its own subresources (`status`, `finalize`) are the namespace itself.
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        info.resource = rest[0].to_owned();
        if let Some(name) = rest.get(1) {
            info.name = (*name).to_owned();
        }
        if let Some(sub) = rest.get(2) {
            info.subresource = (*sub).to_owned();
        }
        if info.name.is_empty() && info.verb == "get" {
            let watch = query
                .get("watch")
                .is_some_and(|w| matches!(w.as_str(), "1" | "true" | "True" | "TRUE" | "t" | "T"));
            info.verb = if watch { "watch" } else { "list" }.to_owned();
            if let Some(name) = query
                .get("fieldSelector")
                .and_then(|s| exact_field(s, "metadata.name"))
            {
                info.name = name;
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_owned();
        }
        info
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn resource_path(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// `resource.group` (just `resource` in the core group), as messages name it.
    pub fn qualified_resource(&self) -> String {
        if self.api_group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.api_group)
        }
    }

    /// `group/version`, or `version` in the core group.
    pub fn api_version_string(&self) -> String {
        if self.api_group.is_empty() {
            self.api_version.clone()
        } else {
            format!("{}/{}", self.api_group, self.api_version)
        }
    }
}

/// The value of `field` when `selector` requires it to equal exactly one value.
fn exact_field(selector: &str, field: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
        (k == field && !k.ends_with('!')).then(|| v.to_owned())
    })
}

/// Decodes `%XX` escapes and `+` (as a space) in a query component.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded `key=value` pairs of a query string (a key without `=` has an empty value).
pub fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str, uri: &str) -> RequestInfo {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        RequestInfo::parse(method, path, &parse_query(Some(query)))
    }

    #[test]
    fn verbs_follow_the_method_the_name_and_the_watch_parameter() {
        let base = "/apis/postgresql.cnpg.io/v1/namespaces/ns/clusters";
        let cases = [
            ("GET", format!("{base}/a"), "get"),
            ("GET", base.to_owned(), "list"),
            ("GET", format!("{base}?watch=1"), "watch"),
            (
                "GET",
                format!("{base}?watch=true&resourceVersion=5"),
                "watch",
            ),
            ("GET", format!("{base}?watch=false"), "list"),
            ("POST", base.to_owned(), "create"),
            ("PUT", format!("{base}/a"), "update"),
            ("PATCH", format!("{base}/a?fieldManager=x"), "patch"),
            ("DELETE", format!("{base}/a"), "delete"),
            ("DELETE", base.to_owned(), "deletecollection"),
        ];
        for (method, uri, verb) in cases {
            assert_eq!(info(method, &uri).verb, verb, "{method} {uri}");
        }
    }

    #[test]
    fn groups_namespaces_subresources_and_names_are_read_from_the_path() {
        let i = info(
            "PATCH",
            "/apis/postgresql.cnpg.io/v1/namespaces/ns/clusters/a/status",
        );
        assert_eq!(
            (
                i.api_group.as_str(),
                i.api_version.as_str(),
                i.namespace.as_str(),
                i.resource.as_str(),
                i.name.as_str(),
                i.subresource.as_str()
            ),
            ("postgresql.cnpg.io", "v1", "ns", "clusters", "a", "status")
        );
        assert_eq!(i.resource_path(), "clusters/status");
        assert_eq!(i.qualified_resource(), "clusters.postgresql.cnpg.io");
        let core = info("GET", "/api/v1/namespaces/ns/configmaps/cm");
        assert_eq!(
            (core.api_group.as_str(), core.qualified_resource()),
            ("", "configmaps".to_owned())
        );
        let ns = info("GET", "/api/v1/namespaces/ns");
        assert_eq!(
            (ns.resource.as_str(), ns.name.as_str()),
            ("namespaces", "ns")
        );
        let cluster_scoped = info("POST", "/apis/authentication.k8s.io/v1/tokenreviews");
        assert_eq!(
            (
                cluster_scoped.namespace.as_str(),
                cluster_scoped.verb.as_str()
            ),
            ("", "create")
        );
        let pinned = info(
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases?fieldSelector=metadata.name%3Dleader&watch=1",
        );
        assert_eq!(
            (pinned.verb.as_str(), pinned.name.as_str()),
            ("watch", "leader")
        );
        assert!(!info("GET", "/version").is_resource_request);
        assert!(!info("GET", "/apis/postgresql.cnpg.io/v1").is_resource_request);
    }
}
