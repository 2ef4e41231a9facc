//! The resources the double serves: CNPG's `Cluster`, `Backup`, `ScheduledBackup`, the Barman
//! Cloud plugin's `ObjectStore`, the core `ConfigMap` and `Secret`, the coordination `Lease` and
//! the `events.k8s.io` `Event`.
//! A request for anything else gets the API server's 404 for an unknown resource.
//!
//! To serve another resource, add a row to [`SERVED`].

/// One served resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resource {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name, as in paths and RBAC rules.
    pub plural: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Whether the server sets `metadata.generation` (custom resources do; ConfigMaps, Secrets
    /// and Leases do not).
    pub generation: bool,
    /// Top-level fields that are Go structs rather than maps: the server's `Update` managed
    /// fields do not mark them with `"."` (a Lease's `spec`); every map below them is marked.
    pub struct_fields: &'static [&'static str],
}

impl Resource {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `Kind.group`, or `Kind` for the core group, as 422 messages name it.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_owned()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

const fn custom(group: &'static str, plural: &'static str, kind: &'static str) -> Resource {
    Resource {
        group,
        version: "v1",
        plural,
        kind,
        generation: true,
        struct_fields: &[],
    }
}

/// Every resource the double serves (all namespaced).
pub const SERVED: &[Resource] = &[
    custom("postgresql.cnpg.io", "clusters", "Cluster"),
    custom("postgresql.cnpg.io", "backups", "Backup"),
    custom("postgresql.cnpg.io", "scheduledbackups", "ScheduledBackup"),
    custom("barmancloud.cnpg.io", "objectstores", "ObjectStore"),
    Resource {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        generation: false,
        struct_fields: &[],
    },
    Resource {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        generation: false,
        struct_fields: &[],
    },
    Resource {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        kind: "Event",
        generation: false,
        struct_fields: &["regarding", "related", "series", "deprecatedSource"],
    },
    Resource {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        generation: false,
        struct_fields: &["spec"],
    },
];

/// The served resource `plural` of `group`.
pub fn by_plural(group: &str, plural: &str) -> Option<&'static Resource> {
    SERVED
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// The served resource of an object's `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    SERVED.iter().find(|r| r.group == group && r.kind == kind)
}
