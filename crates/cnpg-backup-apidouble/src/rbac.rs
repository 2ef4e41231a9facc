//! Authorization as kube-apiserver's RBAC authorizer decides it, and its 403 answer.
//!
//! A [`Role`] is a list of [`Rule`]s (API groups, resources, verbs, optional resource names;
//! `*` matches anything), deserialized from the same YAML or JSON a `rbac.authorization.k8s.io/v1`
//! Role is written in. [`Role::allows`] matches a request's [`RequestInfo`] the way RBAC's
//! `RuleAllows` does: the verb, the group, `resource` or `resource/subresource` (or `*`,
//! `*/subresource`), and `resourceNames` (which never match a request without a name, such as a
//! create or an unpinned list).
//!
//! [`forbidden`] is the 403 body: `<resource>.<group> "<name>" is forbidden: User "<user>" cannot
//! <verb> resource "<resource>" in API group "<group>" in the namespace "<ns>"` (fixtures 16, 18,
//! 19). RBAC gives no reason when no rule matches, so nothing follows.
//!
//! Not here: who is bound to what (the double keeps that, see [`crate::ApiDouble::bind_role`]),
//! ClusterRoles and aggregation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::RequestInfo;
use crate::status::{Details, failure};

/// One RBAC policy rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Rule {
    /// API groups (`""` is the core group, `*` every group).
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Resources (`clusters`, `clusters/status`, `*`, `*/status`).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Verbs (`*` every verb).
    #[serde(default)]
    pub verbs: Vec<String>,
    /// When not empty, only these object names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

impl Rule {
    /// A rule over `groups`, `resources` and `verbs`.
    pub fn new(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Self {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            api_groups: owned(groups),
            resources: owned(resources),
            verbs: owned(verbs),
            resource_names: Vec::new(),
        }
    }

    /// The same rule limited to `names`.
    pub fn with_resource_names(mut self, names: &[&str]) -> Self {
        self.resource_names = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Whether this rule allows the request `info` with verb `verb`.
    pub fn allows(&self, info: &RequestInfo, verb: &str) -> bool {
        let any = |list: &[String], want: &str| list.iter().any(|x| x == "*" || x == want);
        if !any(&self.verbs, verb) || !any(&self.api_groups, &info.api_group) {
            return false;
        }
        let combined = info.resource_path();
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!info.subresource.is_empty() && *r == format!("*/{}", info.subresource))
        });
        resource_ok
            && (self.resource_names.is_empty()
                || (!info.name.is_empty() && self.resource_names.contains(&info.name)))
    }
}

/// The metadata of a Role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleMeta {
    /// The Role's name.
    #[serde(default)]
    pub name: String,
}

/// A namespaced Role: rules that allow, nothing that denies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Role {
    /// Name and whatever else the manifest carried (ignored).
    #[serde(default)]
    pub metadata: RoleMeta,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl Role {
    /// A Role named `name` with `rules`.
    pub fn new(name: &str, rules: Vec<Rule>) -> Self {
        Self {
            metadata: RoleMeta {
                name: name.to_owned(),
            },
            rules,
        }
    }

    /// A Role from its manifest (the JSON value of the YAML `kubectl apply` would take).
    ///
    /// # Errors
    /// When the value is not shaped like a Role.
    pub fn from_manifest(manifest: &Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(manifest.clone())
    }

    /// Whether any rule allows the request `info` with verb `verb`.
    pub fn allows(&self, info: &RequestInfo, verb: &str) -> bool {
        self.rules.iter().any(|r| r.allows(info, verb))
    }
}

/// The message of an RBAC denial of `verb` on `info` for `user` (`forbiddenMessage`).
pub fn forbidden_message(user: &str, info: &RequestInfo, verb: &str) -> String {
    if !info.is_resource_request {
        return format!("User \"{user}\" cannot {verb} path \"{}\"", info.path);
    }
    let resource = info.resource_path();
    let scope = if info.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{}\"", info.namespace)
    };
    format!(
        "User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
        info.api_group
    )
}

/// The 403 body of a denial of `verb` on `info` for `user` (`NewForbidden`).
pub fn forbidden(user: &str, info: &RequestInfo, verb: &str) -> Value {
    let reason = forbidden_message(user, info, verb);
    let message = if !info.is_resource_request {
        format!("forbidden: {reason}")
    } else if info.name.is_empty() {
        format!("{} is forbidden: {reason}", info.qualified_resource())
    } else {
        format!(
            "{} \"{}\" is forbidden: {reason}",
            info.qualified_resource(),
            info.name
        )
    };
    failure(
        403,
        "Forbidden",
        &message,
        Some(Details {
            name: &info.name,
            group: &info.api_group,
            kind: &info.resource,
            ..Default::default()
        }),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn info(method: &str, path: &str) -> RequestInfo {
        RequestInfo::parse(method, path, &BTreeMap::new())
    }

    #[test]
    fn rules_match_verb_group_resource_subresource_and_names() {
        let sb = info(
            "GET",
            "/apis/postgresql.cnpg.io/v1/namespaces/ns/scheduledbackups/a",
        );
        let rule = Rule::new(&["postgresql.cnpg.io"], &["scheduledbackups"], &["get"]);
        assert!(rule.allows(&sb, "get"));
        assert!(!rule.allows(&sb, "create"));
        assert!(!Rule::new(&[""], &["scheduledbackups"], &["get"]).allows(&sb, "get"));
        assert!(Rule::new(&["*"], &["*"], &["*"]).allows(&sb, "delete"));
        let status = info(
            "PATCH",
            "/apis/postgresql.cnpg.io/v1/namespaces/ns/clusters/a/status",
        );
        assert!(
            !Rule::new(&["postgresql.cnpg.io"], &["clusters"], &["patch"]).allows(&status, "patch")
        );
        assert!(
            Rule::new(&["postgresql.cnpg.io"], &["clusters/status"], &["patch"])
                .allows(&status, "patch")
        );
        assert!(
            Rule::new(&["postgresql.cnpg.io"], &["*/status"], &["patch"]).allows(&status, "patch")
        );
        let named =
            Rule::new(&[""], &["configmaps"], &["get", "create"]).with_resource_names(&["a"]);
        assert!(named.allows(&info("GET", "/api/v1/namespaces/ns/configmaps/a"), "get"));
        assert!(!named.allows(&info("GET", "/api/v1/namespaces/ns/configmaps/b"), "get"));
        assert!(
            !named.allows(&info("POST", "/api/v1/namespaces/ns/configmaps"), "create"),
            "a create has no name at authorization time"
        );
    }

    #[test]
    fn a_role_reads_from_its_manifest() {
        let role = Role::from_manifest(&serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "r", "namespace": "ns", "labels": {"a": "b"}},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
        }))
        .unwrap();
        assert_eq!(role.metadata.name, "r");
        assert!(role.allows(&info("GET", "/api/v1/namespaces/ns/secrets/s"), "get"));
        assert!(!role.allows(&info("GET", "/api/v1/namespaces/ns/secrets"), "list"));
    }

    #[test]
    fn the_denial_reads_like_the_api_servers() {
        let user = "system:serviceaccount:ns:sa";
        let list = info("GET", "/api/v1/namespaces/ns/configmaps");
        let body = forbidden(user, &list, "list");
        assert_eq!(
            body["message"],
            "configmaps is forbidden: User \"system:serviceaccount:ns:sa\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"ns\""
        );
        assert_eq!(body["details"], serde_json::json!({"kind": "configmaps"}));
    }
}
