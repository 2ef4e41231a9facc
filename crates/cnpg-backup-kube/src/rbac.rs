//! The minimal RBAC Role for the adapters: exactly the verbs each resource is called with.
//!
//! Server-side apply is a PATCH, authorised as `patch` even when it creates the object, so
//! ScheduledBackups and ObjectStores need no `create`. The integration tests record every
//! request the adapters send to the API double and check each is allowed by [`RULES`], and that
//! every verb [`RULES`] grant is used.
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
        purpose: "observe and save clusters, apply our backup fields, create recovery clusters, \
                  delete at cutover; list: whether an ObjectStore of ours is still referenced",
    },
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "backups",
        verbs: &["list", "create", "patch"],
        purpose: "catalog and tagging lists, on-demand backups, tagging",
    },
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "scheduledbackups",
        verbs: &["get", "list", "patch", "delete"],
        purpose: "apply ours; list ours to remove what the plan no longer wants",
    },
    Rule {
        api_group: "barmancloud.cnpg.io",
        resource: "objectstores",
        verbs: &["get", "list", "patch", "delete"],
        purpose: "apply ours (plugin method); list ours, delete those no plan or cluster uses",
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

/// What `cnpg-backup serve`'s control loop calls beyond [`RULES`]: watches of what it reacts
/// to, its leader Lease, and Events on the Clusters.
pub const LOOP_RULES: &[Rule] = &[
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "clusters",
        verbs: &["watch"],
        purpose: "the loop: drift of a plane cluster, progress of recovery clusters",
    },
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "backups",
        verbs: &["watch"],
        purpose: "the loop: backups completing or failing",
    },
    Rule {
        api_group: "postgresql.cnpg.io",
        resource: "scheduledbackups",
        verbs: &["watch"],
        purpose: "the loop: drift of our schedules",
    },
    Rule {
        api_group: "barmancloud.cnpg.io",
        resource: "objectstores",
        verbs: &["watch"],
        purpose: "the loop: drift of our object stores",
    },
    Rule {
        api_group: "",
        resource: "configmaps",
        verbs: &["watch"],
        purpose: "the loop: settings saved and restores started or acknowledged",
    },
    Rule {
        api_group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update"],
        purpose: "the loop's leader election: read, first take, renew and hand over (replace \
                  with the resourceVersion read)",
    },
    Rule {
        api_group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        purpose: "the loop's Events on a Cluster: a backup failed, a reconcile failed; patch: \
                  a condition that lasts",
    },
];

/// One resource's rule in the Role `serve` needs: the verbs of [`RULES`] and [`LOOP_RULES`]
/// together, and what each group of verbs is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MergedRule {
    /// API group.
    pub api_group: &'static str,
    /// Resource (plural).
    pub resource: &'static str,
    /// Verbs.
    pub verbs: Vec<&'static str>,
    /// What they are used for.
    pub purposes: Vec<&'static str>,
}

/// The rules of the Role `serve` needs: [`RULES`] and [`LOOP_RULES`], one rule per resource
/// (in the order of [`RULES`], then the loop's own resources).
pub fn serve_rules() -> Vec<MergedRule> {
    let mut out: Vec<MergedRule> = Vec::new();
    for r in RULES.iter().chain(LOOP_RULES) {
        match out
            .iter_mut()
            .find(|o| o.api_group == r.api_group && o.resource == r.resource)
        {
            Some(o) => {
                for v in r.verbs {
                    if !o.verbs.contains(v) {
                        o.verbs.push(v);
                    }
                }
                o.purposes.push(r.purpose);
            }
            None => out.push(MergedRule {
                api_group: r.api_group,
                resource: r.resource,
                verbs: r.verbs.to_vec(),
                purposes: vec![r.purpose],
            }),
        }
    }
    out
}

/// Whether the Role `serve` needs ([`serve_rules`]) allows `verb` on `resource` of `api_group`.
pub fn serve_allows(api_group: &str, resource: &str, verb: &str) -> bool {
    serve_rules()
        .iter()
        .any(|r| r.api_group == api_group && r.resource == resource && r.verbs.contains(&verb))
}

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

    #[test]
    fn the_serve_role_is_the_command_role_plus_the_loops_own() {
        let rules = serve_rules();
        for r in RULES {
            for v in r.verbs {
                assert!(serve_allows(r.api_group, r.resource, v), "{r:?}");
            }
        }
        let clusters = &rules[0];
        assert_eq!(clusters.resource, "clusters");
        assert_eq!(clusters.verbs.last(), Some(&"watch"));
        assert_eq!(clusters.purposes.len(), 2);
        assert!(serve_allows("coordination.k8s.io", "leases", "update"));
        assert!(!serve_allows("coordination.k8s.io", "leases", "delete"));
        assert!(serve_allows("events.k8s.io", "events", "patch"));
        assert!(
            !serve_allows("", "secrets", "watch"),
            "secrets are never listed or watched"
        );
        assert_eq!(
            rules.len(),
            RULES.len() + 2,
            "one rule per resource: the loop adds leases and events"
        );
    }
}
