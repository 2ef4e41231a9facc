//! The minimal RBAC Role for the adapters: exactly the verbs each resource is called with.
//!
//! Verbs are what kube-apiserver authorizes, not HTTP methods: a server-side apply is a PATCH,
//! authorized as `patch`, and **also as `create` when the object does not exist yet** (captured:
//! `fixtures/apiserver/16-*`, `18-*`), so the ScheduledBackups and ObjectStores we apply need
//! both; the Clusters and Backups we apply always exist already (the platform made the Cluster,
//! CNPG the Backup), so `patch` is enough there. A GET of one object is `get`, of a collection
//! `list`. The integration tests bind this Role (as [`role_yaml`] prints it) to the identity of
//! an API double that authorizes like kube-apiserver, run every documented command through the
//! adapters, and check that nothing is refused and that every verb granted is used.
//!
//! Secrets: only `get`, on the Secrets the object-storage target references
//! ([`crate::secrets::KubeSecretReader`]), to probe the bucket (preflight) and to read the
//! catalog from the bucket when run from inside the cluster. Never `list` or `watch`.

/// One rule: API group (`""` is the core group), resource, verbs, and why they are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// API group.
    pub api_group: &'static str,
    /// Resource (plural).
    pub resource: &'static str,
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// What the verbs are used for (printed as a comment in [`role_yaml`]).
    pub purpose: &'static str,
}

/// What the adapters call, per resource.
pub const RULES: &[Rule] = &[
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "clusters",
        verbs: &["get", "list", "create", "patch", "delete"],
        purpose: "observe and save clusters (and read their archive server for the catalog), \
                  apply our backup fields to existing clusters, create recovery clusters, delete \
                  at cutover and clean-up; list: whether an ObjectStore of ours is still referenced",
    },
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "backups",
        verbs: &["list", "create", "patch"],
        purpose: "catalog and tagging lists, on-demand backups, tagging (an apply to a Backup \
                  CNPG made, so patch only)",
    },
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "scheduledbackups",
        verbs: &["get", "list", "create", "patch", "delete"],
        purpose: "apply ours (an apply that creates one is authorized as create too); list ours, \
                  delete those the plan no longer wants or whose cluster changed",
    },
    Rule {
        api_group: "barmancloud.cnpg.io",
        resource: "objectstores",
        verbs: &["get", "list", "create", "patch", "delete"],
        purpose: "apply ours, plugin method (an apply that creates one is authorized as create \
                  too); list ours, delete those no plan or cluster uses",
    },
    Rule {
        api_group: "",
        resource: "configmaps",
        verbs: &["get", "list", "create", "update"],
        purpose: "the state store: read, list restores, first write, replace with a revision",
    },
    Rule {
        api_group: "",
        resource: "secrets",
        verbs: &["get"],
        purpose: "read the object-storage credentials the target references, for the bucket \
                  probe (preflight) and the catalog from the bucket when run in the cluster",
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
        out.push_str(&format!("# {}\n", r.purpose));
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
        assert!(allows("", "secrets", "get"));
        assert!(!allows("", "secrets", "list"));
        assert!(!allows("postgresql.cnpg.io", "clusters", "update"));
        assert!(
            yaml.contains("# read the object-storage credentials"),
            "{yaml}"
        );
    }
}
