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
//!
//! `serve` (the HTTP API) also reviews its callers' tokens and permissions: its service account
//! needs [`SERVE_REVIEW_RULES`] (a ClusterRole: the reviews are cluster-scoped), and people get
//! the [`USER_ROLES`] (viewer, operator, restorer) on cnpg-backup's own API group
//! ([`crate::access::API_GROUP`]), bound in the namespace with a RoleBinding.

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

/// What `serve`'s service account needs beyond [`RULES`] to check its callers: create token
/// and access reviews (cluster-scoped, so a ClusterRole and a ClusterRoleBinding).
pub const SERVE_REVIEW_RULES: &[Rule] = &[
    Rule {
        api_group: "authentication.k8s.io",
        resource: "tokenreviews",
        verbs: &["create"],
        purpose: "check the bearer token of each API request (TokenReview)",
    },
    Rule {
        api_group: "authorization.k8s.io",
        resource: "subjectaccessreviews",
        verbs: &["create"],
        purpose: "check that the caller may do what the API request asks (SubjectAccessReview)",
    },
];

/// A role people are given on cnpg-backup's API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRole {
    /// Short name: `viewer`, `operator`, `restorer`.
    pub name: &'static str,
    /// What it is for.
    pub purpose: &'static str,
    /// Its rules, all in [`crate::access::API_GROUP`].
    pub rules: &'static [Rule],
}

const G: &str = crate::access::API_GROUP;

const READ: [Rule; 3] = [
    Rule {
        api_group: G,
        resource: "settings",
        verbs: &["get"],
        purpose: "status badges, settings, schedule preview, retention check",
    },
    Rule {
        api_group: G,
        resource: "backups",
        verbs: &["list"],
        purpose: "catalogs and version hints",
    },
    Rule {
        api_group: G,
        resource: "restores",
        verbs: &["get", "list"],
        purpose: "restores, their events and audit trails",
    },
];

const OPERATE: [Rule; 5] = [
    READ[0],
    READ[1],
    READ[2],
    Rule {
        api_group: G,
        resource: "settings",
        verbs: &["update"],
        purpose: "save automation, reconcile, check the bucket (preflight)",
    },
    Rule {
        api_group: G,
        resource: "backups",
        verbs: &["create"],
        purpose: "run a backup now",
    },
];

const RESTORE: [Rule; 5] = [
    READ[0],
    READ[1],
    READ[2],
    Rule {
        api_group: G,
        resource: "restores",
        verbs: &["create", "update"],
        purpose: "plan and stage restores (stage one), check readiness, abandon, retry, clean up",
    },
    Rule {
        api_group: G,
        resource: "restores/apply",
        verbs: &["create"],
        purpose: "stage two: replace the live clusters (still needs the exact acknowledgement)",
    },
];

/// The roles `rbac --users` prints, as ClusterRoles named `cnpg-backup-<name>`: read only;
/// backup operations; restores (both stages). A person who does both binds two.
pub const USER_ROLES: &[UserRole] = &[
    UserRole {
        name: "viewer",
        purpose: "read status, settings, catalogs and restores; change nothing",
        rules: &READ,
    },
    UserRole {
        name: "operator",
        purpose: "viewer, plus save automation, reconcile, check the bucket, run backups now",
        rules: &OPERATE,
    },
    UserRole {
        name: "restorer",
        purpose: "viewer, plus plan, stage, watch, apply, abandon, retry and clean up restores",
        rules: &RESTORE,
    },
];

/// Whether `rules` allow `verb` on `resource` (`resource/subresource` for a subresource) of
/// `api_group`.
pub fn rules_allow(rules: &[Rule], api_group: &str, resource: &str, verb: &str) -> bool {
    rules
        .iter()
        .any(|r| r.api_group == api_group && r.resource == resource && r.verbs.contains(&verb))
}

/// The user role named `name`.
pub fn user_role(name: &str) -> Option<&'static UserRole> {
    USER_ROLES.iter().find(|r| r.name == name)
}

fn rules_yaml(out: &mut String, rules: &[Rule]) {
    for r in rules {
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
}

/// The ClusterRole and ClusterRoleBinding that let `serve`'s service account
/// (`service_account` in `namespace`) review tokens and access, as YAML documents.
pub fn serve_reviews_yaml(namespace: &str, service_account: &str) -> String {
    let mut out = String::from(
        "# `cnpg-backup serve` checks each API caller's token (TokenReview) and permission\n\
         # (SubjectAccessReview); both reviews are cluster-scoped.\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cnpg-backup-serve-reviews\n  labels:\n    app.kubernetes.io/managed-by: cnpg-backup\nrules:\n",
    );
    rules_yaml(&mut out, SERVE_REVIEW_RULES);
    out.push_str(&format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: cnpg-backup-serve-reviews-{namespace}\n  labels:\n    app.kubernetes.io/managed-by: cnpg-backup\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cnpg-backup-serve-reviews\nsubjects:\n- kind: ServiceAccount\n  name: {service_account}\n  namespace: {namespace}\n"
    ));
    out
}

/// The user ClusterRoles ([`USER_ROLES`]) as YAML documents, each followed by a commented
/// RoleBinding example for `namespace`.
pub fn user_roles_yaml(namespace: &str) -> String {
    let mut docs = Vec::new();
    for role in USER_ROLES {
        let mut out = format!(
            "# {}\n# Grant it in the namespace with a RoleBinding, e.g.\n#   kubectl -n {namespace} create rolebinding cnpg-backup-{name}-jane --clusterrole=cnpg-backup-{name} --user=jane@example.com\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cnpg-backup-{name}\n  labels:\n    app.kubernetes.io/managed-by: cnpg-backup\nrules:\n",
            role.purpose,
            name = role.name,
        );
        rules_yaml(&mut out, role.rules);
        docs.push(out);
    }
    docs.join("---\n")
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
    rules_yaml(&mut out, RULES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_roles_parse_and_grant_by_role() {
        let yaml = user_roles_yaml("platform");
        let docs: Vec<serde_json::Value> = yaml
            .split("---\n")
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        assert_eq!(docs.len(), USER_ROLES.len());
        assert_eq!(docs[0]["metadata"]["name"], "cnpg-backup-viewer");
        assert!(
            yaml.contains("--clusterrole=cnpg-backup-restorer"),
            "{yaml}"
        );
        let g = crate::access::API_GROUP;
        let can = |role: &str, res: &str, verb: &str| {
            rules_allow(user_role(role).unwrap().rules, g, res, verb)
        };
        assert!(can("viewer", "restores", "get"));
        assert!(!can("viewer", "settings", "update"));
        assert!(!can("viewer", "restores/apply", "create"));
        assert!(can("operator", "backups", "create"));
        assert!(!can("operator", "restores", "create"));
        assert!(can("restorer", "restores/apply", "create"));
        assert!(!can("restorer", "settings", "update"));
        // Every role only speaks of our own group.
        assert!(
            USER_ROLES
                .iter()
                .flat_map(|r| r.rules)
                .all(|r| r.api_group == g)
        );
    }

    #[test]
    fn serve_reviews_are_a_cluster_role_bound_to_the_service_account() {
        let yaml = serve_reviews_yaml("platform", "cnpg-backup");
        let docs: Vec<serde_json::Value> = yaml
            .split("---\n")
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        assert_eq!(docs[0]["kind"], "ClusterRole");
        assert_eq!(docs[0]["rules"][0]["resources"][0], "tokenreviews");
        assert_eq!(docs[0]["rules"][1]["resources"][0], "subjectaccessreviews");
        assert_eq!(docs[1]["kind"], "ClusterRoleBinding");
        assert_eq!(docs[1]["subjects"][0]["namespace"], "platform");
        assert_eq!(docs[1]["subjects"][0]["name"], "cnpg-backup");
    }

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
