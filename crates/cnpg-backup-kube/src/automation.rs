//! [`KubeBackupAutomation`]: the core's [`BackupAutomation`] port against CNPG.
//!
//! A reconcile reads first and writes only what differs (compare before apply, see
//! [`crate::fieldset`]): a converged plan sends **zero write requests**. Writes are server-side
//! applies with field manager `cnpg-backup` naming only our fields; another manager's field is
//! never forced unless [`KubeBackupAutomation::with_force`] asks, and a conflict is reported with
//! the field and its owner.
//!
//! Per plane in the plan: the plugin `ObjectStore` (plugin method), the live Cluster's backup
//! fields, our ScheduledBackup, then the tagging of Backups our ScheduledBackup made (set id,
//! app version, server name). Then one list of the ScheduledBackups carrying our
//! `app.kubernetes.io/managed-by: cnpg-backup` label: each one the plan does not want (its
//! removals, or an orphan of a renamed cluster) is deleted. A ScheduledBackup without our label is
//! never changed or deleted, even when it has the name we would use.
//!
//! Then one list of the `ObjectStore`s carrying our label: one that no plane's plan uses any more
//! (the method went back to in-tree, the cluster was renamed) is deleted, unless a Cluster in the
//! namespace still references it in `spec.plugins[].parameters.barmanObjectName` or
//! `spec.externalClusters[].plugin.parameters.barmanObjectName` (a plane out of scope still
//! archiving there, a recovery cluster still reading from it). Only then are the Clusters listed,
//! so a converged reconcile costs one list more than its ScheduledBackup sweep.
//!
//! `spec.plugins` is an atomic list in the Cluster CRD, owned as a whole: our apply sends the
//! list as stored with our entry put in place, so other plugins stay; when another manager owns
//! the list, that apply is a conflict reported with the owner (or taken over, keeping their
//! entries, when forced). Our entry is updated in place, keeping what else it carries
//! (`enabled`, filled in by the server's default).
//!
//! **After a cutover** the recreated live cluster's fields belong to the restore's field manager
//! ([`crate::lifecycle::RESTORE_FIELD_MANAGER`]) and it archives under a fresh server name, which
//! core records in `BackupSettings.archive_servers`. A reconcile with those settings sends the
//! same values, so the server makes us co-owners without a conflict (one write), and converges;
//! a plan that still names the old server is a conflict naming that manager, never a silent
//! switch back to the old archive.
//!
//! **WAL archiving.** Disabling automation (or suspending it) only deletes (or suspends) our
//! ScheduledBackups: the Cluster keeps its archive configuration (`spec.backup.barmanObjectStore`
//! or the plugin entry with `isWALArchiver: true`), so WAL archiving goes on and point-in-time
//! recovery stays possible. A plane that leaves the scope is not touched at all beyond its
//! ScheduledBackup: its archive configuration stays as it is.
//!
//! WAL archiving stops only when the target is no longer used for backups (`useForBackups:
//! false`): the plan's [`AutomationPlan::archive_removals`] take our configuration off each
//! plane's Cluster, after its ScheduledBackup. In-tree, an apply that no longer names
//! `spec.backup.barmanObjectStore` and `spec.backup.retentionPolicy`, so the server removes them;
//! plugin, an apply of `spec.plugins` without our entry (the one whose `barmanObjectName` is our
//! `ObjectStore`), other entries kept, after which the `ObjectStore` clean-up above deletes our
//! `ObjectStore` in the same reconcile. Only what our field manager alone owns is removed: when
//! another manager owns (or co-owns) that configuration, nothing is written and the plane reports
//! a conflict naming the manager, because removing our claim would leave archiving running. For
//! the plugin list, [`KubeBackupAutomation::with_force`] takes the list over instead (keeping
//! the other entries); in-tree fields another manager co-owns can only be released by it (this
//! includes [`crate::lifecycle::RESTORE_FIELD_MANAGER`] on a live cluster recreated by a
//! restore). A configuration already gone costs one read and no write.

use std::collections::{BTreeMap, BTreeSet};

use cnpg_backup_core::automation::{ArchiveRemoval, AutomationPlan, BackupMethod, PlaneBackupPlan};
use cnpg_backup_core::catalog::BackupPhase;
use cnpg_backup_core::drift::AppVersion;
use cnpg_backup_core::names::{ClusterName, Plane};
use cnpg_backup_core::ports::{BackendError, BackupAutomation, BackupRequest};
use cnpg_backup_core::status::{PlaneReconcileStatus, ReconcileState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use serde_json::Value;

use crate::catalog::list_cluster_backups;
use crate::error::to_backend;
use crate::fieldset::{fields_v1_paths, is_subset, needs_apply, owned_paths};
use crate::labels;
use crate::render::{
    object_store_name, render_backup, render_cluster_backup, render_object_store,
    render_scheduled_backup, set_id_from_backup_name,
};
use crate::resources::{BARMAN_CLOUD_PLUGIN, Backup, Cluster, ObjectStore, ScheduledBackup};
use crate::scope::{FIELD_MANAGER, KubeScope};

/// Backup automation through CNPG objects in one namespace.
#[derive(Debug, Clone)]
pub struct KubeBackupAutomation {
    scope: KubeScope,
    force: bool,
}

fn is_ours(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY))
        .is_some_and(|v| v == labels::MANAGED_BY_VALUE)
}

/// The `ObjectStore`s a Cluster uses: its plugins' and its external clusters' `barmanObjectName`.
fn referenced_object_stores(cluster: &Cluster) -> impl Iterator<Item = &str> {
    cluster
        .spec
        .plugins
        .iter()
        .chain(
            cluster
                .spec
                .external_clusters
                .iter()
                .filter_map(|e| e.plugin.as_ref()),
        )
        .filter_map(|p| p.parameters.get("barmanObjectName").map(String::as_str))
}

/// The field managers other than ours that own a path at or under `prefix` (any operation,
/// main resource), e.g. `["f:spec", "f:plugins"]`.
fn other_owners(meta: &ObjectMeta, prefix: &[&str]) -> BTreeSet<String> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|e| {
            e.manager.as_deref() != Some(FIELD_MANAGER)
                && e.subresource.as_deref().unwrap_or("").is_empty()
        })
        .filter(|e| {
            e.fields_v1.as_ref().is_some_and(|f| {
                fields_v1_paths(&f.0)
                    .iter()
                    .any(|p| p.len() >= prefix.len() && p.iter().zip(prefix).all(|(a, b)| a == b))
            })
        })
        .map(|e| e.manager.clone().unwrap_or_else(|| "(unnamed)".to_owned()))
        .collect()
}

fn quoted(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, BackendError> {
    serde_json::to_value(v).map_err(|e| BackendError::Invalid {
        detail: format!("could not encode an object: {e}"),
    })
}

#[derive(Default)]
struct PlaneOutcome {
    cluster: Option<ClusterName>,
    writes: u32,
    errors: Vec<String>,
}

impl KubeBackupAutomation {
    /// Automation in `scope`'s namespace, never forcing over other field managers.
    pub fn new(scope: KubeScope) -> Self {
        Self {
            scope,
            force: false,
        }
    }

    /// Whether applies take fields over from other managers (`force=true`). Off by default.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    async fn reconcile_plane(
        &self,
        plan: &PlaneBackupPlan,
        app_version: Option<&AppVersion>,
        writes: &mut u32,
    ) -> Result<(), BackendError> {
        let ns = self.scope.namespace();
        let cluster_what = format!("cluster `{}`", plan.cluster);
        let Some(live) = self
            .scope
            .get_opt::<Cluster>(plan.cluster.as_str(), &cluster_what)
            .await?
        else {
            return Err(BackendError::NotFound { what: cluster_what });
        };

        // CNPG allows one WAL archiver: in-tree `barmanObjectStore` or the plugin. When the other
        // one was set by someone else, say so instead of sending an apply the webhook rejects.
        let ours = owned_paths(&live.metadata, FIELD_MANAGER);
        let owns = |index: usize, field: &str| {
            ours.iter()
                .any(|p| p.get(index).map(String::as_str) == Some(field))
        };
        let foreign_in_tree = live
            .spec
            .backup
            .as_ref()
            .is_some_and(|b| b.barman_object_store.is_some())
            && !owns(2, "f:barmanObjectStore");
        let foreign_plugin = live
            .spec
            .plugins
            .iter()
            .any(|p| p.name == BARMAN_CLOUD_PLUGIN && p.is_wal_archiver == Some(true))
            && !owns(1, "f:plugins");
        match plan.method {
            BackupMethod::Plugin if foreign_in_tree => {
                return Err(BackendError::Conflict {
                    what: cluster_what,
                    detail: "`spec.backup.barmanObjectStore` is set by another manager and CNPG \
                             allows no WAL-archiver plugin beside it; remove it or choose method \
                             `barman_object_store`"
                        .to_owned(),
                });
            }
            BackupMethod::BarmanObjectStore if foreign_plugin => {
                return Err(BackendError::Conflict {
                    what: cluster_what,
                    detail: "the Barman Cloud plugin is the WAL archiver (set by another manager) \
                             and CNPG allows no `spec.backup.barmanObjectStore` beside it; remove \
                             it or choose method `plugin`"
                        .to_owned(),
                });
            }
            _ => {}
        }

        if plan.method == BackupMethod::Plugin {
            let desired = render_object_store(plan, ns)?;
            let name = desired.metadata.name.clone().unwrap_or_default();
            let what = format!("object store `{name}`");
            let stored = self.scope.get_opt::<ObjectStore>(&name, &what).await?;
            let desired_v = to_value(&desired)?;
            let apply = match &stored {
                None => true,
                Some(s) => needs_apply(&desired_v, &to_value(s)?, &s.metadata, FIELD_MANAGER),
            };
            if apply {
                *writes += 1;
                self.scope
                    .apply::<ObjectStore, _>(&name, &desired_v, self.force, &what)
                    .await?;
            }
        }

        let mut patch = render_cluster_backup(plan, ns)?;
        // `spec.plugins` is an atomic list: an apply sends the whole list, so other plugins
        // already there are sent back unchanged, and ours is updated in place (or appended).
        // Our entry keeps what it has beyond our fields (`enabled`, which the API server fills
        // in by default; other parameters): sending the list without them would change a list
        // another manager may co-own (the restore's, on a recreated live cluster) and conflict.
        let we_own_plugins = owns(1, "f:plugins");
        match plan.method {
            BackupMethod::Plugin => {
                let mut list = live.spec.plugins.clone();
                if let Some(entry) = patch.spec.plugins.pop() {
                    match list.iter_mut().find(|p| p.name == BARMAN_CLOUD_PLUGIN) {
                        Some(slot) => {
                            slot.is_wal_archiver = entry.is_wal_archiver;
                            slot.parameters.extend(entry.parameters);
                            // A disabled entry would not archive: enabling it is ours to do.
                            if slot.extra.get("enabled") == Some(&Value::Bool(false)) {
                                slot.extra.insert("enabled".to_owned(), Value::Bool(true));
                            }
                        }
                        None => list.push(entry),
                    }
                }
                patch.spec.plugins = list;
            }
            BackupMethod::BarmanObjectStore if we_own_plugins => {
                // Drop our plugin entry, keep the others (omitting the list would remove them).
                patch.spec.plugins = live
                    .spec
                    .plugins
                    .iter()
                    .filter(|p| p.name != BARMAN_CLOUD_PLUGIN)
                    .cloned()
                    .collect();
            }
            BackupMethod::BarmanObjectStore => {}
        }
        let desired = to_value(&patch)?;
        if needs_apply(&desired, &to_value(&live)?, &live.metadata, FIELD_MANAGER) {
            *writes += 1;
            self.scope
                .apply::<Cluster, _>(plan.cluster.as_str(), &desired, self.force, &cluster_what)
                .await?;
        }

        if let Some(sb_plan) = &plan.scheduled_backup {
            let desired = render_scheduled_backup(plan, sb_plan, ns);
            let name = sb_plan.name.to_string();
            let what = format!("scheduled backup `{name}`");
            let stored = self.scope.get_opt::<ScheduledBackup>(&name, &what).await?;
            let desired_v = to_value(&desired)?;
            let apply = match &stored {
                None => true,
                Some(s) if !is_ours(&s.metadata) => {
                    return Err(BackendError::Conflict {
                        what,
                        detail: format!(
                            "it exists without label `{}={}`; it is not ours to change",
                            labels::MANAGED_BY,
                            labels::MANAGED_BY_VALUE
                        ),
                    });
                }
                Some(s) if s.spec.cluster.name != plan.cluster.as_str() => {
                    // spec.cluster is immutable (CEL): delete and create again.
                    *writes += 1;
                    self.delete_scheduled_backup(&name, &what).await?;
                    true
                }
                Some(s) => needs_apply(&desired_v, &to_value(s)?, &s.metadata, FIELD_MANAGER),
            };
            if apply {
                *writes += 1;
                self.scope
                    .apply::<ScheduledBackup, _>(&name, &desired_v, self.force, &what)
                    .await?;
            }
            self.tag_backups(plan, &live, &name, app_version, writes)
                .await?;
        }
        Ok(())
    }

    /// Takes our backup configuration off a plane's Cluster because the target is no longer
    /// used for backups (see the module docs): WAL archiving to the target stops. A Cluster that
    /// is gone, or already without our configuration, needs no write.
    async fn remove_archive(
        &self,
        removal: &ArchiveRemoval,
        writes: &mut u32,
    ) -> Result<(), BackendError> {
        let name = removal.cluster.as_str();
        let what = format!("cluster `{name}`");
        let Some(live) = self.scope.get_opt::<Cluster>(name, &what).await? else {
            return Ok(());
        };
        let ours = owned_paths(&live.metadata, FIELD_MANAGER);
        let owns_plugins = ours
            .iter()
            .any(|p| p.get(1).map(String::as_str) == Some("f:plugins"));
        let mut spec = serde_json::Map::new();
        match removal.method {
            BackupMethod::BarmanObjectStore => {
                // What archives is `barmanObjectStore`; our `retentionPolicy` goes with it.
                let present = live
                    .spec
                    .backup
                    .as_ref()
                    .is_some_and(|b| b.barman_object_store.is_some());
                let others = other_owners(
                    &live.metadata,
                    &["f:spec", "f:backup", "f:barmanObjectStore"],
                );
                let we_own = ours.iter().any(|p| {
                    p.get(1).map(String::as_str) == Some("f:backup")
                        && p.get(2).map(String::as_str) == Some("f:barmanObjectStore")
                });
                if present && (!others.is_empty() || !we_own) {
                    let by = if others.is_empty() {
                        "no field manager cnpg-backup knows of".to_owned()
                    } else {
                        format!("field manager {}", quoted(&others))
                    };
                    return Err(BackendError::Conflict {
                        what,
                        detail: format!(
                            "`.spec.backup.barmanObjectStore` is owned by {by}; cnpg-backup \
                             removes only the configuration it alone manages, so WAL archiving \
                             goes on until that manager removes it"
                        ),
                    });
                }
                // Our plugin list, if we hold one, is sent back as it is.
                if owns_plugins {
                    spec.insert("plugins".to_owned(), to_value(&live.spec.plugins)?);
                }
            }
            BackupMethod::Plugin => {
                let store = removal
                    .object_store_name
                    .as_ref()
                    .map_or_else(|| format!("{}-store", removal.cluster), ToString::to_string);
                let is_ours = |p: &crate::resources::PluginConfiguration| {
                    p.name == BARMAN_CLOUD_PLUGIN
                        && p.parameters.get("barmanObjectName") == Some(&store)
                };
                let present = live.spec.plugins.iter().any(is_ours);
                let kept: Vec<_> = live
                    .spec
                    .plugins
                    .iter()
                    .filter(|p| !is_ours(p))
                    .cloned()
                    .collect();
                let others = other_owners(&live.metadata, &["f:spec", "f:plugins"]);
                let sole = owns_plugins && others.is_empty();
                if present && !sole && !self.force {
                    let by = if others.is_empty() {
                        "no field manager cnpg-backup knows of".to_owned()
                    } else {
                        format!("field manager {}", quoted(&others))
                    };
                    return Err(BackendError::Conflict {
                        what,
                        detail: format!(
                            "`.spec.plugins` is owned by {by}; cnpg-backup removes its \
                             `{BARMAN_CLOUD_PLUGIN}` entry only from a list it alone manages, so \
                             WAL archiving goes on until that manager removes it (or reconcile \
                             with force to take the list over, keeping its other entries)"
                        ),
                    });
                }
                // A list we alone own and that would be empty is left out, so the server removes
                // it; a list taken over by force is sent even when empty; a list we still hold
                // (our entry already gone) is sent back as it is.
                let send = if present {
                    !(sole && kept.is_empty())
                } else {
                    owns_plugins
                };
                if send {
                    spec.insert("plugins".to_owned(), to_value(&kept)?);
                }
            }
        }
        let mut desired = serde_json::json!({
            "apiVersion": Cluster::API_VERSION,
            "kind": Cluster::KIND,
            "metadata": { "name": name, "namespace": self.scope.namespace() },
        });
        if !spec.is_empty() {
            desired["spec"] = Value::Object(spec);
        }
        let mut stored = to_value(&live)?;
        // The typed Cluster leaves an empty list out; a list we own exists, if only as `[]`.
        if owns_plugins
            && live.spec.plugins.is_empty()
            && let Some(spec) = stored.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.insert("plugins".to_owned(), Value::Array(Vec::new()));
        }
        if needs_apply(&desired, &stored, &live.metadata, FIELD_MANAGER) {
            *writes += 1;
            self.scope
                .apply::<Cluster, _>(name, &desired, self.force, &what)
                .await?;
        }
        Ok(())
    }

    /// Labels Backups made by ScheduledBackup `sb` with their set id, and annotates them with
    /// the app version and the archive server name they were written under: the one `live`
    /// (the Cluster as read before this reconcile changed anything) archives to for the
    /// Backup's method ([`Cluster::archive_server`]), else the plan's. CNPG does not record it
    /// in a plugin Backup's status, and the catalog needs it to find the backup in the bucket.
    /// A Backup already carrying a set id is left alone, so a Backup is tagged once, on the
    /// first reconcile after it appeared.
    async fn tag_backups(
        &self,
        plan: &PlaneBackupPlan,
        live: &Cluster,
        sb: &str,
        app_version: Option<&AppVersion>,
        writes: &mut u32,
    ) -> Result<(), BackendError> {
        let selector = format!("{}={sb}", labels::CNPG_SCHEDULED_BACKUP);
        let listed = self
            .scope
            .list_all::<Backup>(&selector, &format!("backups of `{sb}`"))
            .await?;
        for backup in listed.items {
            let name = backup.metadata.name.clone().unwrap_or_default();
            let has_set = backup
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(labels::BACKUP_SET));
            if has_set {
                continue;
            }
            let Some(set_id) = set_id_from_backup_name(sb, &name) else {
                continue;
            };
            let server = live
                .archive_server(crate::catalog::method_of(&backup))
                .unwrap_or_else(|| plan.server_name.to_string());
            let mut annotations = BTreeMap::from([(labels::SERVER_NAME.to_owned(), server)]);
            if let Some(v) = app_version {
                annotations.insert(labels::APP_VERSION.to_owned(), v.to_string());
            }
            let patch = serde_json::json!({
                "apiVersion": Backup::API_VERSION,
                "kind": Backup::KIND,
                "metadata": {
                    "name": name,
                    "namespace": self.scope.namespace(),
                    "labels": { labels::BACKUP_SET: set_id.to_string() },
                    "annotations": annotations,
                }
            });
            let stored = to_value(&backup)?;
            let mut meta_only = patch.clone();
            if let Some(o) = meta_only.as_object_mut() {
                o.remove("apiVersion");
                o.remove("kind");
                if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("name");
                    m.remove("namespace");
                }
            }
            if is_subset(&meta_only, &stored) {
                continue;
            }
            *writes += 1;
            self.scope
                .apply::<Backup, _>(&name, &patch, false, &format!("backup `{name}`"))
                .await?;
        }
        Ok(())
    }

    async fn delete_scheduled_backup(&self, name: &str, what: &str) -> Result<(), BackendError> {
        match self
            .scope
            .api::<ScheduledBackup>()
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if crate::error::is_not_found(&e) => Ok(()),
            Err(e) => Err(to_backend(&e, what)),
        }
    }

    /// Deletes every ScheduledBackup carrying our label that the plan does not want: the
    /// plan's removals, and orphans left by a plane whose cluster was renamed. Foreign
    /// ScheduledBackups (without our label) are never listed, so never deleted.
    async fn sweep(
        &self,
        plan: &AutomationPlan,
        outcomes: &mut BTreeMap<Plane, PlaneOutcome>,
    ) -> Result<(), BackendError> {
        let planned: BTreeSet<&str> = plan
            .planes
            .iter()
            .filter_map(|p| p.scheduled_backup.as_ref())
            .map(|sb| sb.name.as_str())
            .collect();
        let selector = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let ours = self
            .scope
            .list_all::<ScheduledBackup>(&selector, "scheduled backups of cnpg-backup")
            .await?;
        for sb in ours.items {
            let name = sb.metadata.name.clone().unwrap_or_default();
            if planned.contains(name.as_str()) || !is_ours(&sb.metadata) {
                continue;
            }
            let plane = plan
                .removals
                .iter()
                .find(|r| r.scheduled_backup.as_str() == name)
                .map(|r| r.plane)
                .or_else(|| {
                    sb.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(labels::PLANE))
                        .and_then(|p| p.parse().ok())
                });
            let what = format!("scheduled backup `{name}`");
            let result = self.delete_scheduled_backup(&name, &what).await;
            if let Some(o) = plane.and_then(|p| outcomes.get_mut(&p)) {
                o.writes += 1;
                if let Err(e) = &result {
                    o.errors.push(e.to_string());
                }
            } else {
                result?;
            }
        }
        self.sweep_object_stores(plan, outcomes).await
    }

    /// Deletes every `ObjectStore` carrying our label that no plane's plan uses and no Cluster
    /// in the namespace references (see the module docs). Foreign ones are never listed.
    async fn sweep_object_stores(
        &self,
        plan: &AutomationPlan,
        outcomes: &mut BTreeMap<Plane, PlaneOutcome>,
    ) -> Result<(), BackendError> {
        let planned: BTreeSet<String> = plan
            .planes
            .iter()
            .filter(|p| p.method == BackupMethod::Plugin)
            .map(object_store_name)
            .collect();
        let selector = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let unused: Vec<ObjectStore> = self
            .scope
            .list_all::<ObjectStore>(&selector, "object stores of cnpg-backup")
            .await?
            .items
            .into_iter()
            .filter(|s| {
                is_ours(&s.metadata)
                    && !planned.contains(s.metadata.name.as_deref().unwrap_or_default())
            })
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        let clusters = self
            .scope
            .list_all::<Cluster>("", "clusters of the namespace")
            .await?;
        let referenced: BTreeSet<&str> = clusters
            .items
            .iter()
            .flat_map(referenced_object_stores)
            .collect();
        for store in &unused {
            let name = store.metadata.name.clone().unwrap_or_default();
            if referenced.contains(name.as_str()) {
                continue;
            }
            let what = format!("object store `{name}`");
            let result = match self
                .scope
                .api::<ObjectStore>()
                .delete(&name, &DeleteParams::default())
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if crate::error::is_not_found(&e) => Ok(()),
                Err(e) => Err(to_backend(&e, &what)),
            };
            let plane: Option<Plane> = store
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::PLANE))
                .and_then(|p| p.parse().ok());
            match plane.and_then(|p| outcomes.get_mut(&p)) {
                Some(o) => {
                    o.writes += 1;
                    if let Err(e) = result {
                        o.errors.push(e.to_string());
                    }
                }
                None => result?,
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BackupAutomation for KubeBackupAutomation {
    async fn apply<'a>(
        &self,
        plan: &AutomationPlan,
        app_version: Option<&'a AppVersion>,
    ) -> Result<Vec<PlaneReconcileStatus>, BackendError> {
        let mut outcomes: BTreeMap<Plane, PlaneOutcome> = BTreeMap::new();
        let mut transport_failures = Vec::new();
        for p in &plan.planes {
            let o = outcomes.entry(p.plane).or_default();
            o.cluster = Some(p.cluster.clone());
            let mut writes = 0;
            if let Err(e) = self.reconcile_plane(p, app_version, &mut writes).await {
                if matches!(e, BackendError::Unavailable { .. }) {
                    transport_failures.push(e.clone());
                }
                o.errors.push(e.to_string());
            }
            o.writes += writes;
        }
        for r in &plan.removals {
            let o = outcomes.entry(r.plane).or_default();
            if o.cluster.is_none() {
                o.cluster = Some(r.cluster.clone());
            }
        }
        // Before the sweep, so an ObjectStore no Cluster uses any more goes in this reconcile.
        for r in &plan.archive_removals {
            let o = outcomes.entry(r.plane).or_default();
            if o.cluster.is_none() {
                o.cluster = Some(r.cluster.clone());
            }
            let mut writes = 0;
            if let Err(e) = self.remove_archive(r, &mut writes).await {
                if matches!(e, BackendError::Unavailable { .. }) {
                    transport_failures.push(e.clone());
                }
                o.errors.push(e.to_string());
            }
            o.writes += writes;
        }
        if let Err(e) = self.sweep(plan, &mut outcomes).await {
            if matches!(e, BackendError::Unavailable { .. }) {
                transport_failures.push(e.clone());
            }
            // The sweep serves the planes that lose a schedule, or every plane when none does.
            let removed: Vec<Plane> = plan.removals.iter().map(|r| r.plane).collect();
            for (plane, o) in outcomes.iter_mut() {
                if removed.is_empty() || removed.contains(plane) {
                    o.errors.push(e.to_string());
                }
            }
        }
        let attempted = plan.planes.len() + plan.archive_removals.len() + 1;
        if transport_failures.len() == attempted
            && let Some(first) = transport_failures.into_iter().next()
        {
            return Err(first);
        }
        Ok(outcomes
            .into_iter()
            .filter_map(|(plane, o)| {
                let cluster = o.cluster?;
                let (state, error) = if o.errors.is_empty() {
                    (ReconcileState::Ok, None)
                } else {
                    (ReconcileState::Error, Some(o.errors.join("; ")))
                };
                Some(PlaneReconcileStatus::new(
                    plane, cluster, state, error, o.writes,
                ))
            })
            .collect())
    }

    /// Creates the Backup after two checks that create nothing when they refuse: the Cluster
    /// must carry a backup configuration of the request's method (CNPG would accept the Backup
    /// and fail it), and no Backup of the cluster may still be pending or running. The Backup
    /// records the archive server it will be written under (CNPG does not, for plugin Backups).
    async fn create_backup(&self, request: &BackupRequest) -> Result<(), BackendError> {
        let cluster_what = format!("cluster `{}`", request.cluster);
        let Some(live) = self
            .scope
            .get_opt::<Cluster>(request.cluster.as_str(), &cluster_what)
            .await?
        else {
            return Err(BackendError::NotFound { what: cluster_what });
        };
        let Some(server) = live.archive_server(request.method) else {
            let wanted = match request.method {
                BackupMethod::Plugin => {
                    format!("a `{BARMAN_CLOUD_PLUGIN}` entry in `spec.plugins`")
                }
                BackupMethod::BarmanObjectStore => "`spec.backup.barmanObjectStore`".to_owned(),
            };
            return Err(BackendError::Conflict {
                what: format!("backup of cluster `{}`", request.cluster),
                detail: format!(
                    "the cluster has no backup configuration for this method ({wanted}): WAL \
                     archiving to the target was stopped, or never set up; use the target for \
                     backups and reconcile first"
                ),
            });
        };
        let (backups, _) = list_cluster_backups(&self.scope, &request.cluster).await?;
        if let Some(busy) = backups.iter().find(|b| {
            BackupPhase::from_cnpg(b.status.as_ref().and_then(|s| s.phase.as_deref()))
                .is_in_progress()
        }) {
            let phase = busy
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "pending".to_owned());
            return Err(BackendError::Conflict {
                what: format!("backup of cluster `{}`", request.cluster),
                detail: format!(
                    "backup `{}` is still `{phase}`; wait until it completes or fails",
                    busy.metadata.name.as_deref().unwrap_or("?")
                ),
            });
        }
        let backup = render_backup(request, self.scope.namespace(), &server);
        self.scope
            .api::<Backup>()
            .create(&PostParams::default(), &backup)
            .await
            .map(|_| ())
            .map_err(|e| to_backend(&e, &format!("backup `{}`", request.name)))
    }
}
