//! What `cnpg-backup manifests -n NS` prints: everything to run `cnpg-backup serve` in a
//! namespace, as k8s-openapi objects (so every field is one the API knows).
//!
//! - a ServiceAccount `cnpg-backup`;
//! - the Role `cnpg-backup`: the rules `cnpg-backup rbac` prints (one source:
//!   `cnpg_backup_kube::rbac`), with the loop's own (watches, the leader Lease, Events);
//! - its RoleBinding to the ServiceAccount;
//! - the ClusterRole and ClusterRoleBinding of the token and access reviews the HTTP API makes;
//! - a Deployment of `serve` with 2 replicas (one leads, the other takes over within the lease
//!   duration), probes on `/healthz` and `/readyz`, resource requests, a read-only root
//!   filesystem, a non-root user, no privilege escalation, no capabilities, and the leader
//!   election settings as flags;
//! - a Service in front of the API and `/metrics`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServiceAccount, ServicePort,
    ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use cnpg_backup_kube::labels;
use cnpg_backup_kube::rbac::{MergedRule, Rule};

use crate::lease::LeaseConfig;
use crate::trigger::Timing;

/// The name of every object (ServiceAccount, Role, Deployment, Service...).
pub const NAME: &str = "cnpg-backup";

/// The port `serve` listens on in the pod.
pub const PORT: i32 = 8080;

/// What the printed objects depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestOptions {
    /// The namespace of the CNPG clusters, of cnpg-backup's state, and of `serve`.
    pub namespace: String,
    /// The container image of `cnpg-backup`.
    pub image: String,
    /// Replicas of `serve` (2: one leads, one waits to take over).
    pub replicas: i32,
    /// The Lease the replicas elect a leader on.
    pub lease_name: String,
    /// Leader election timing (the identity is the pod name).
    pub lease: LeaseConfig,
    /// The loop's timing (the resync is printed as a flag).
    pub timing: Timing,
}

impl ManifestOptions {
    /// Options for `namespace`.
    pub fn new(
        namespace: &str,
        image: &str,
        replicas: i32,
        lease_name: &str,
        lease: LeaseConfig,
        timing: Timing,
    ) -> Self {
        Self {
            namespace: namespace.to_owned(),
            image: image.to_owned(),
            replicas,
            lease_name: lease_name.to_owned(),
            lease,
            timing,
        }
    }
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([
            (
                labels::MANAGED_BY.to_owned(),
                labels::MANAGED_BY_VALUE.to_owned(),
            ),
            ("app.kubernetes.io/name".to_owned(), NAME.to_owned()),
        ])),
        ..ObjectMeta::default()
    }
}

fn policy<'a>(
    rules: impl IntoIterator<Item = (&'a str, &'a str, &'a [&'a str])>,
) -> Vec<PolicyRule> {
    rules
        .into_iter()
        .map(|(group, resource, verbs)| PolicyRule {
            api_groups: Some(vec![group.to_owned()]),
            resources: Some(vec![resource.to_owned()]),
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

fn seconds(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs())
}

fn selector() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_owned(), NAME.to_owned())])
}

/// The ServiceAccount, Role, RoleBinding, review ClusterRole and binding, Deployment and
/// Service, in the order to apply them, each with the comment printed above it.
pub fn manifests(
    o: &ManifestOptions,
    role_rules: &[MergedRule],
    review_rules: &[Rule],
) -> Vec<(String, serde_json::Value)> {
    let ns = o.namespace.as_str();
    let sa = ServiceAccount {
        metadata: meta(NAME, Some(ns)),
        ..ServiceAccount::default()
    };
    let role = Role {
        metadata: meta(NAME, Some(ns)),
        rules: Some(policy(
            role_rules
                .iter()
                .map(|r| (r.api_group, r.resource, r.verbs.as_slice())),
        )),
    };
    let subject = Subject {
        kind: "ServiceAccount".to_owned(),
        name: NAME.to_owned(),
        namespace: Some(ns.to_owned()),
        ..Subject::default()
    };
    let binding = RoleBinding {
        metadata: meta(NAME, Some(ns)),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Role".to_owned(),
            name: NAME.to_owned(),
        },
        subjects: Some(vec![subject.clone()]),
    };
    let reviews_name = "cnpg-backup-serve-reviews";
    let reviews = ClusterRole {
        metadata: meta(reviews_name, None),
        rules: Some(policy(
            review_rules
                .iter()
                .map(|r| (r.api_group, r.resource, r.verbs)),
        )),
        ..ClusterRole::default()
    };
    let reviews_binding = ClusterRoleBinding {
        metadata: meta(&format!("{reviews_name}-{ns}"), None),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: reviews_name.to_owned(),
        },
        subjects: Some(vec![subject]),
    };
    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let pod_env = |name: &str, path: &str| EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    let container = Container {
        name: "serve".to_owned(),
        image: Some(o.image.clone()),
        args: Some(vec![
            "serve".to_owned(),
            "--namespace".to_owned(),
            ns.to_owned(),
            "--listen".to_owned(),
            format!("0.0.0.0:{PORT}"),
            "--lease-name".to_owned(),
            o.lease_name.clone(),
            "--lease-duration".to_owned(),
            seconds(o.lease.lease_duration),
            "--lease-renew-deadline".to_owned(),
            seconds(o.lease.renew_deadline),
            "--lease-retry-period".to_owned(),
            seconds(o.lease.retry_period),
            "--resync".to_owned(),
            format!("{}s", o.timing.resync.num_seconds()),
        ]),
        env: Some(vec![
            // The lease identity and the Events' reporting instance.
            pod_env("POD_NAME", "metadata.name"),
            EnvVar {
                name: "RUST_LOG".to_owned(),
                value: Some("info".to_owned()),
                ..EnvVar::default()
            },
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(probe("/healthz", 10)),
        readiness_probe: Some(probe("/readyz", 5)),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("50m".to_owned())),
                ("memory".to_owned(), Quantity("64Mi".to_owned())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("256Mi".to_owned()),
            )])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let deployment = Deployment {
        metadata: meta(NAME, Some(ns)),
        spec: DeploymentSpec {
            replicas: Some(o.replicas),
            selector: LabelSelector {
                match_labels: Some(selector()),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(1)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(selector()),
                    // For a Prometheus that scrapes annotated pods (with the Prometheus
                    // Operator: examples/prometheus/cnpg-backup-podmonitor.yaml).
                    annotations: Some(BTreeMap::from([
                        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
                        ("prometheus.io/port".to_owned(), PORT.to_string()),
                        ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
                    ])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.to_owned()),
                    // The lease is released at SIGTERM after the work in progress (at most
                    // the shutdown grace of `serve`, 20 s).
                    termination_grace_period_seconds: Some(30),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "tmp".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            size_limit: Some(Quantity("16Mi".to_owned())),
                            ..EmptyDirVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    };
    let service = Service {
        metadata: meta(NAME, Some(ns)),
        spec: Some(ServiceSpec {
            selector: Some(selector()),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: PORT,
                target_port: Some(IntOrString::String("http".to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let mut role_comment = "what `serve` may do in the namespace: the rules `cnpg-backup rbac` \
                            prints, plus watches, the leader Lease and Events"
        .to_owned();
    for r in role_rules {
        let group = if r.api_group.is_empty() {
            "core"
        } else {
            r.api_group
        };
        role_comment.push_str(&format!(
            "\n- {} ({group}): {}",
            r.resource,
            r.purposes.join("; ")
        ));
    }
    let mut out = vec![
        ("the identity `serve` runs as".to_owned(), with_type(&sa)),
        (role_comment, with_type(&role)),
        (
            "the Role, to the ServiceAccount".to_owned(),
            with_type(&binding),
        ),
        (
            "the API checks each caller's token (TokenReview) and permission \
             (SubjectAccessReview): cluster-scoped"
                .to_owned(),
            with_type(&reviews),
        ),
        (
            "the reviews, to the ServiceAccount".to_owned(),
            with_type(&reviews_binding),
        ),
        (
            format!(
                "{} replicas: one leads (Lease `{}`), the other takes over within {} s",
                o.replicas,
                o.lease_name,
                o.lease.lease_duration.as_secs()
            ),
            with_type(&deployment),
        ),
        ("the HTTP API and /metrics".to_owned(), with_type(&service)),
    ];
    if review_rules.is_empty() {
        // No reviews to grant: drop the ClusterRole and its binding.
        out.drain(3..5);
    }
    out
}

/// An object with its `apiVersion` and `kind` (k8s-openapi leaves them to the serializer).
fn with_type<K: k8s_openapi::Resource + serde::Serialize>(k: &K) -> serde_json::Value {
    let mut v = serde_json::to_value(k).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".to_owned(), K::API_VERSION.into());
        o.insert("kind".to_owned(), K::KIND.into());
    }
    v
}

/// [`manifests`] as YAML documents, each under its comment, separated by `---`.
pub fn manifests_yaml(
    o: &ManifestOptions,
    role_rules: &[MergedRule],
    review_rules: &[Rule],
) -> String {
    manifests(o, role_rules, review_rules)
        .iter()
        .map(|(comment, object)| {
            let mut doc: String = comment.lines().map(|l| format!("# {l}\n")).collect();
            doc.push_str(&serde_saphyr::to_string(object).unwrap_or_default());
            doc
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Service, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;

    fn options() -> ManifestOptions {
        ManifestOptions {
            namespace: "platform".to_owned(),
            image: "registry.example.com/cnpg-backup:0.1.0".to_owned(),
            replicas: 2,
            lease_name: "cnpg-backup-leader".to_owned(),
            lease: LeaseConfig::new("unused").unwrap(),
            timing: Timing::default(),
        }
    }

    /// Parses `doc` as a `K` and back: every field must survive (k8s-openapi drops what it does
    /// not know, and refuses a value of the wrong type).
    fn round_trip<K: DeserializeOwned + Serialize>(doc: &Value) -> K {
        let typed: K = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(
            &serde_json::to_value(&typed).unwrap(),
            doc,
            "a field k8s-openapi does not know"
        );
        typed
    }

    #[test]
    fn every_printed_object_is_a_valid_kubernetes_object() {
        let reviews = [Rule {
            api_group: "authentication.k8s.io",
            resource: "tokenreviews",
            verbs: &["create"],
            purpose: "check callers' tokens",
        }];
        let yaml = manifests_yaml(&options(), &cnpg_backup_kube::rbac::serve_rules(), &reviews);
        let docs: Vec<Value> = yaml
            .split("\n---\n")
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRoleBinding",
                "Deployment",
                "Service"
            ]
        );
        let _: ServiceAccount = round_trip(&docs[0]);
        let role: Role = round_trip(&docs[1]);
        let _: RoleBinding = round_trip(&docs[2]);
        let _: ClusterRole = round_trip(&docs[3]);
        let _: ClusterRoleBinding = round_trip(&docs[4]);
        let d: Deployment = round_trip(&docs[5]);
        let _: Service = round_trip(&docs[6]);

        // The Role is `rbac`'s, with the loop's own.
        let rules = role.rules.unwrap();
        let allows = |group: &str, resource: &str, verb: &str| {
            rules.iter().any(|r| {
                r.api_groups.as_deref() == Some(&[group.to_owned()][..])
                    && r.resources.as_deref() == Some(&[resource.to_owned()][..])
                    && r.verbs.iter().any(|v| v == verb)
            })
        };
        for r in cnpg_backup_kube::rbac::RULES
            .iter()
            .chain(cnpg_backup_kube::rbac::LOOP_RULES)
        {
            for v in r.verbs {
                assert!(allows(r.api_group, r.resource, v), "{r:?} {v}");
            }
        }
        assert!(allows("coordination.k8s.io", "leases", "update"));
        assert!(allows("events.k8s.io", "events", "create"));
        assert!(
            yaml.contains("# - leases (coordination.k8s.io): the loop's leader election"),
            "{yaml}"
        );

        // Two replicas, probes, requests, locked down, the election as flags.
        let spec = d.spec;
        assert_eq!(spec.replicas, Some(2));
        let pod = spec.template.spec.unwrap();
        let c = &pod.containers[0];
        assert_eq!(
            c.liveness_probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap()
                .path
                .as_deref(),
            Some("/healthz")
        );
        assert_eq!(
            c.readiness_probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap()
                .path
                .as_deref(),
            Some("/readyz")
        );
        assert!(
            c.resources
                .as_ref()
                .unwrap()
                .requests
                .as_ref()
                .unwrap()
                .contains_key("memory")
        );
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
        let args = c.args.as_ref().unwrap().join(" ");
        assert!(
            args.contains("--lease-name cnpg-backup-leader --lease-duration 30s --lease-renew-deadline 20s --lease-retry-period 5s --resync 600s"),
            "{args}"
        );
        assert!(args.starts_with("serve --namespace platform"), "{args}");
        assert_eq!(pod.service_account_name.as_deref(), Some(NAME));
    }

    /// The loop of one replica on the in-memory API server, under the printed Role only: it
    /// lists and watches what it watches, takes the Lease, becomes ready, and at shutdown
    /// releases the Lease, and the API server refuses none of it.
    #[tokio::test]
    async fn the_printed_role_lets_the_loop_watch_elect_and_release_on_the_api_double() {
        use cnpg_backup_apidouble::{ApiDouble, NAMESPACE, rbac};
        use std::collections::BTreeSet;
        use std::time::Duration;

        let double = ApiDouble::new();
        let mut o = options();
        o.namespace = NAMESPACE.to_owned();
        let printed = manifests(
            &o,
            &cnpg_backup_kube::rbac::serve_rules(),
            cnpg_backup_kube::rbac::SERVE_REVIEW_RULES,
        );
        let role = &printed.iter().find(|(_, v)| v["kind"] == "Role").unwrap().1;
        double.bind_role(rbac::Role::from_manifest(role).unwrap());
        let lease = LeaseConfig::with_timing(
            "cnpg-backup-6d9f-a",
            Duration::from_secs(6),
            Duration::from_secs(4),
            Duration::from_millis(500),
        )
        .unwrap();
        let lp = crate::kube::KubeLoop::new(
            double.client(),
            NAMESPACE,
            "cnpg-backup-leader",
            lease,
            Timing::default(),
        );
        let (health, metrics) = (lp.health(), lp.metrics());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(lp.run(async move {
            let _ = stopped.await;
        }));
        let mut waited = 0;
        while !(health.readiness().ready && health.is_leader()) {
            assert!(
                waited < 200,
                "not a ready leader within 20 s: {:?}",
                health.readiness()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert!(
            metrics
                .encode(chrono::Utc::now())
                .contains("cnpg_backup_leader 1")
        );
        let held = double.object("leases", "cnpg-backup-leader").unwrap();
        assert_eq!(held["spec"]["holderIdentity"], "cnpg-backup-6d9f-a");
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the loop stops")
            .unwrap();
        let released = double.object("leases", "cnpg-backup-leader").unwrap();
        assert!(
            released["spec"]["holderIdentity"].is_null(),
            "released at shutdown: {released}"
        );

        let requests = double.requests();
        let refused: Vec<String> = requests
            .iter()
            .filter(|r| r.status == 403)
            .map(|r| r.short())
            .collect();
        assert!(
            refused.is_empty(),
            "refused under the printed Role: {refused:?}"
        );
        let used: BTreeSet<(String, String, String)> = requests
            .iter()
            .map(|r| (r.group().to_owned(), r.resource(), r.verb().to_owned()))
            .collect();
        for (group, resource) in [
            ("", "configmaps"),
            ("postgresql.cnpg.io", "clusters"),
            ("postgresql.cnpg.io", "scheduledbackups"),
            ("barmancloud.cnpg.io", "objectstores"),
            ("postgresql.cnpg.io", "backups"),
        ] {
            for verb in ["list", "watch"] {
                assert!(
                    used.contains(&(group.to_owned(), resource.to_owned(), verb.to_owned())),
                    "the loop did not {verb} {resource}: {used:?}"
                );
            }
        }
        for verb in ["get", "create", "update"] {
            assert!(
                used.contains(&(
                    "coordination.k8s.io".to_owned(),
                    "leases".to_owned(),
                    verb.to_owned()
                )),
                "the election did not {verb} the Lease: {used:?}"
            );
        }
    }
}
