//! The minimal RBAC Role for the adapters: exactly the verbs each resource is called with.
//!
//! Server-side apply is a PATCH, authorised as `patch` even when it creates the object, so
//! ScheduledBackups and ObjectStores need no `create`. The integration tests record every
//! request the adapters send to the API double and check each is allowed by [`RULES`].

/// One rule: API group (`""` is the core group), resource, verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// API group.
    pub api_group: &'static str,
    /// Resource (plural).
    pub resource: &'static str,
    /// Verbs.
    pub verbs: &'static [&'static str],
}

/// What the adapters call, per resource.
pub const RULES: &[Rule] = &[
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "clusters",
        // observe/manifest, create recovery clusters, apply backup fields, delete at cutover.
        verbs: &["get", "create", "patch", "delete"],
    },
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "backups",
        // catalog and tagging lists, on-demand create, tagging apply.
        verbs: &["list", "create", "patch"],
    },
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "scheduledbackups",
        // read ours, list ours to remove what the plan no longer wants.
        verbs: &["get", "list", "patch", "delete"],
    },
    Rule {
        api_group: "barmancloud.cnpg.io",
        resource: "objectstores",
        verbs: &["get", "patch"],
    },
    Rule {
        api_group: "",
        resource: "configmaps",
        // the state store: read, list restores, first write, replace with a revision.
        verbs: &["get", "list", "create", "update"],
    },
];

/// Whether [`RULES`] allow `verb` on `resource` of `api_group`.
pub fn allows(api_group: &str, resource: &str, verb: &str) -> bool {
    RULES
        .iter()
        .any(|r| r.api_group == api_group && r.resource == resource && r.verbs.contains(&verb))
}

/// The Role as YAML, named `cnpg-backup`, in `namespace`.
pub fn role_yaml(namespace: &str) -> String {
    let mut out = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: cnpg-backup\n  namespace: {namespace}\n  labels:\n    app.kubernetes.io/managed-by: cnpg-backup\nrules:\n"
    );
    for r in RULES {
        out.push_str(&format!(
            "- apiGroups: [\"{}\"]\n  resources: [\"{}\"]\n  verbs: [{}]\n",
            r.api_group,
            r.resource,
            r.verbs
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_yaml_parses_and_lists_every_rule() {
        let yaml = role_yaml("platform");
        let v: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(v["metadata"]["namespace"], "platform");
        assert_eq!(v["rules"].as_array().unwrap().len(), RULES.len());
        assert_eq!(v["rules"][0]["verbs"][0], "get");
        assert!(allows("", "configmaps", "update"));
        assert!(!allows("postgresql.cnpg.io", "clusters", "list"));
    }
}
