//! The watches, in one namespace, as a stream of [`Trigger`]s.
//!
//! | watch | what | objects kept | triggers |
//! |---|---|---|---|
//! | ConfigMaps labelled `app.kubernetes.io/managed-by=cnpg-backup` | full (small documents) | a hash of the settings | settings changed; each restore record |
//! | Clusters | metadata only | name → generation, labels | spec or labels changed, created, deleted (reconcile); any change (restores watching it) |
//! | our ScheduledBackups, our ObjectStores | metadata only | name → generation | changed, created, deleted (reconcile) |
//! | Backups | full, mapped at once to a core record and dropped | names | each record (the loop's index); a Backup of ours left untagged (reconcile) |
//!
//! Lists are paginated (500 per page), so listing 10,000 Backups holds one page at a time.
//! Watches resume from the last resourceVersion (bookmarks on); a `410 Gone` makes the watcher
//! list again ([`Trigger::Restarted`], then objects gone meanwhile are reported deleted, then
//! [`Trigger::Synced`]). Errors back off exponentially (1 s doubling to 60 s); a resource the
//! API server does not serve (the ObjectStore CRD without the Barman Cloud plugin) counts as
//! synced and empty, and is asked for again only every 10 minutes.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use futures::stream::{self, BoxStream, Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::watcher::{self, Event};

use cnpg_backup_core::restore::RestoreRecord;
use cnpg_backup_kube::catalog::backup_record;
use cnpg_backup_kube::labels;
use cnpg_backup_kube::resources::{Backup, Cluster, ObjectStore, ScheduledBackup};
use cnpg_backup_kube::state::DOCUMENT_KEY;

use crate::trigger::{Trigger, WatchKind};

/// How long a resource the API server does not serve is left alone before asking again.
const ABSENT_RETRY: Duration = Duration::from_secs(600);
/// The longest back-off after watch errors.
const BACKOFF_CAP: Duration = Duration::from_secs(60);

fn managed() -> String {
    format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE)
}

fn hash_of<T: Hash>(v: &T) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Whether a watch error says the resource is not served (its CRD is not installed).
fn not_served(e: &watcher::Error) -> bool {
    matches!(
        e,
        watcher::Error::InitialListFailed(kube::Error::Api(s))
            | watcher::Error::WatchStartFailed(kube::Error::Api(s))
            if s.code == 404
    )
}

fn is_gone(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(s) => s.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 410,
        _ => false,
    }
}

struct Drive<S, M> {
    kind: WatchKind,
    stream: std::pin::Pin<Box<S>>,
    map: M,
    synced: bool,
    backoff: Duration,
}

/// Turns a watcher's events into triggers through `map`, reporting the watch's own state and
/// backing off after errors (the watcher recovers on the next poll).
fn drive<K, S, M>(kind: WatchKind, events: S, map: M) -> BoxStream<'static, Trigger>
where
    K: Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
    M: FnMut(Event<K>) -> Vec<Trigger> + Send + 'static,
{
    let state = Drive {
        kind,
        stream: Box::pin(events),
        map,
        synced: false,
        backoff: Duration::ZERO,
    };
    stream::unfold(state, |mut d| async move {
        loop {
            let item = d.stream.next().await?;
            match item {
                Ok(ev) => {
                    d.backoff = Duration::ZERO;
                    let mut out = Vec::new();
                    match &ev {
                        Event::Init if d.synced => out.push(Trigger::Restarted(d.kind)),
                        _ => {}
                    }
                    let done = matches!(ev, Event::InitDone);
                    out.extend((d.map)(ev));
                    if done {
                        d.synced = true;
                        out.push(Trigger::Synced(d.kind));
                    }
                    if !out.is_empty() {
                        return Some((stream::iter(out), d));
                    }
                }
                Err(e) if not_served(&e) => {
                    tracing::info!(watch = d.kind.as_str(), "not served by the API server (CRD not installed?); looking again in 10 minutes");
                    let first = !d.synced;
                    d.synced = true;
                    if first {
                        return Some((stream::iter(vec![Trigger::Synced(d.kind)]), d));
                    }
                    tokio::time::sleep(ABSENT_RETRY).await;
                }
                Err(e) if is_gone(&e) => {
                    // The resourceVersion is too old: the watcher lists again at once.
                    tracing::info!(watch = d.kind.as_str(), "watch expired (410 Gone); listing again");
                }
                Err(e) => {
                    d.backoff = (d.backoff * 2).clamp(Duration::from_secs(1), BACKOFF_CAP);
                    tracing::warn!(watch = d.kind.as_str(), error = %e, retry_in = ?d.backoff, "watch failed");
                    tokio::time::sleep(d.backoff).await;
                }
            }
        }
    })
    .flatten()
    .boxed()
}

/// Names listed again after a restart, to report those gone meanwhile.
#[derive(Default)]
struct Relist {
    known: BTreeSet<String>,
    seen: Option<BTreeSet<String>>,
}

impl Relist {
    fn init(&mut self) {
        self.seen = Some(BTreeSet::new());
    }
    fn saw(&mut self, name: &str) {
        if let Some(s) = &mut self.seen {
            s.insert(name.to_owned());
        }
        if !self.known.contains(name) {
            self.known.insert(name.to_owned());
        }
    }
    fn gone(&mut self, name: &str) {
        self.known.remove(name);
    }
    /// After a listing: the names known before and not listed (deleted meanwhile).
    fn done(&mut self) -> Vec<String> {
        let Some(seen) = self.seen.take() else {
            return Vec::new();
        };
        let gone: Vec<String> = self.known.difference(&seen).cloned().collect();
        for g in &gone {
            self.known.remove(g);
        }
        gone
    }
}

fn config(selector: Option<&str>) -> watcher::Config {
    let c = watcher::Config::default().page_size(500);
    match selector {
        Some(s) => c.labels(s),
        None => c,
    }
}

#[derive(Default)]
struct StateDocs {
    settings_hash: Option<u64>,
    restores: Relist,
}

impl StateDocs {
    fn on(&mut self, cm: &ConfigMap, deleted: bool, out: &mut Vec<Trigger>) {
        let label = |k: &str| cm.metadata.labels.as_ref().and_then(|l| l.get(k)).cloned();
        let body = cm.data.as_ref().and_then(|d| d.get(DOCUMENT_KEY));
        match label(labels::STATE).as_deref() {
            Some("settings") => {
                let h = (!deleted).then(|| hash_of(&body));
                if h != self.settings_hash {
                    self.settings_hash = h;
                    out.push(Trigger::Settings);
                }
            }
            Some("restore") => {
                let Some(id) = label(labels::RESTORE_ID).and_then(|v| v.parse().ok()) else {
                    return;
                };
                let name = cm.metadata.name.clone().unwrap_or_default();
                if deleted {
                    self.restores.gone(&name);
                    out.push(Trigger::Restore(id, None));
                } else {
                    self.restores.saw(&name);
                    let record = body
                        .and_then(|b| serde_json::from_str::<RestoreRecord>(b).ok())
                        .map(Box::new);
                    out.push(Trigger::Restore(id, record));
                }
            }
            _ => {}
        }
    }
}

/// Our state documents: settings (by content) and restore records.
fn state(client: kube::Client, namespace: &str) -> BoxStream<'static, Trigger> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let mut docs = StateDocs::default();
    drive(
        WatchKind::State,
        watcher::watcher(api, config(Some(&managed()))),
        move |ev| {
            let mut out = Vec::new();
            match ev {
                Event::Init => docs.restores.init(),
                Event::InitApply(cm) | Event::Apply(cm) => docs.on(&cm, false, &mut out),
                Event::Delete(cm) => docs.on(&cm, true, &mut out),
                Event::InitDone => {
                    for name in docs.restores.done() {
                        if let Some(id) = name
                            .strip_prefix("cnpg-backup-restore-")
                            .and_then(|i| i.parse().ok())
                        {
                            out.push(Trigger::Restore(id, None));
                        }
                    }
                }
            }
            out
        },
    )
}

/// Metadata of one kind, as far as the reconcile cares: its generation (spec) and labels.
fn meta_key<K>(m: &PartialObjectMeta<K>) -> (Option<i64>, u64, Option<String>) {
    (
        m.metadata.generation,
        hash_of(&m.metadata.labels),
        m.metadata.resource_version.clone(),
    )
}

fn cluster_gone(
    known: &mut BTreeMap<String, (Option<i64>, u64, Option<String>)>,
    name: String,
    out: &mut Vec<Trigger>,
) {
    known.remove(&name);
    if let Ok(n) = name.parse() {
        out.push(Trigger::Automation);
        out.push(Trigger::Cluster(n));
    }
}

/// Clusters, metadata only.
fn clusters(client: kube::Client, namespace: &str) -> BoxStream<'static, Trigger> {
    let api: Api<PartialObjectMeta<Cluster>> = Api::namespaced(client, namespace);
    let mut known: BTreeMap<String, (Option<i64>, u64, Option<String>)> = BTreeMap::new();
    let mut relist = Relist::default();
    drive(
        WatchKind::Clusters,
        watcher::watcher(api, config(None)),
        move |ev| {
            let mut out = Vec::new();
            match ev {
                Event::Init => relist.init(),
                Event::InitApply(m) | Event::Apply(m) => {
                    let name = m.metadata.name.clone().unwrap_or_default();
                    relist.saw(&name);
                    let key = meta_key(&m);
                    let before = known.insert(name.clone(), key.clone());
                    let Ok(n) = name.parse() else {
                        return out;
                    };
                    match before {
                        None => {
                            out.push(Trigger::Automation);
                            out.push(Trigger::Cluster(n));
                        }
                        Some(b) => {
                            if (b.0, b.1) != (key.0, key.1) {
                                out.push(Trigger::Automation);
                            }
                            if b.2 != key.2 {
                                out.push(Trigger::Cluster(n));
                            }
                        }
                    }
                }
                Event::Delete(m) => {
                    let name = m.metadata.name.clone().unwrap_or_default();
                    relist.gone(&name);
                    cluster_gone(&mut known, name, &mut out);
                }
                Event::InitDone => {
                    for name in relist.done() {
                        cluster_gone(&mut known, name, &mut out);
                    }
                }
            }
            out
        },
    )
}

/// Our ScheduledBackups or ObjectStores, metadata only: a change of their spec or labels, or
/// their creation or deletion, is the reconcile's business.
fn ours<K>(client: kube::Client, namespace: &str, kind: WatchKind) -> BoxStream<'static, Trigger>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    <K as kube::Resource>::DynamicType: Default + Clone + Send + Sync,
{
    let api: Api<PartialObjectMeta<K>> = Api::namespaced(client, namespace);
    let mut known: BTreeMap<String, (Option<i64>, u64)> = BTreeMap::new();
    let mut relist = Relist::default();
    drive(
        kind,
        watcher::watcher(api, config(Some(&managed()))),
        move |ev| {
            let mut out = Vec::new();
            match ev {
                Event::Init => relist.init(),
                Event::InitApply(m) | Event::Apply(m) => {
                    let name = m.metadata.name.clone().unwrap_or_default();
                    relist.saw(&name);
                    let (g, l, _) = meta_key(&m);
                    if known.insert(name, (g, l)) != Some((g, l)) {
                        out.push(Trigger::Automation);
                    }
                }
                Event::Delete(m) => {
                    let name = m.metadata.name.clone().unwrap_or_default();
                    relist.gone(&name);
                    known.remove(&name);
                    out.push(Trigger::Automation);
                }
                Event::InitDone => {
                    for name in relist.done() {
                        known.remove(&name);
                        out.push(Trigger::Automation);
                    }
                }
            }
            out
        },
    )
}

/// Whether a Backup was made by one of our ScheduledBackups and still waits to be tagged.
fn untagged_of_ours(b: &Backup) -> bool {
    let l = b.metadata.labels.as_ref();
    l.and_then(|l| l.get(labels::CNPG_SCHEDULED_BACKUP))
        .is_some_and(|sb| sb.ends_with("-cnpg-backup"))
        && !l.is_some_and(|l| l.contains_key(labels::BACKUP_SET))
}

/// Backups, full objects mapped at once to the core's records (the objects are not kept).
fn backups(client: kube::Client, namespace: &str) -> BoxStream<'static, Trigger> {
    let api: Api<Backup> = Api::namespaced(client, namespace);
    let mut relist = Relist::default();
    let events = watcher::watcher(api, config(None)).map(|r| {
        r.map(|ev| {
            ev.modify(|b| {
                // Not needed and the biggest part of an object: dropped before anything else.
                b.metadata.managed_fields = None;
            })
        })
    });
    drive(WatchKind::Backups, events, move |ev| {
        let mut out = Vec::new();
        match ev {
            Event::Init => relist.init(),
            Event::InitApply(b) | Event::Apply(b) => {
                let name = b.metadata.name.clone().unwrap_or_default();
                relist.saw(&name);
                if untagged_of_ours(&b) {
                    out.push(Trigger::Automation);
                }
                if let Some(r) = backup_record(&b) {
                    out.push(Trigger::Backup(Box::new(r)));
                }
            }
            Event::Delete(b) => {
                let name = b.metadata.name.clone().unwrap_or_default();
                relist.gone(&name);
                if let Ok(n) = name.parse() {
                    out.push(Trigger::BackupDeleted(n));
                }
            }
            Event::InitDone => {
                for name in relist.done() {
                    if let Ok(n) = name.parse() {
                        out.push(Trigger::BackupDeleted(n));
                    }
                }
            }
        }
        out
    })
}

/// Every watch of the loop in `namespace`, merged.
pub fn triggers(client: kube::Client, namespace: &str) -> BoxStream<'static, Trigger> {
    stream::select_all([
        state(client.clone(), namespace),
        clusters(client.clone(), namespace),
        ours::<ScheduledBackup>(client.clone(), namespace, WatchKind::ScheduledBackups),
        ours::<ObjectStore>(client.clone(), namespace, WatchKind::ObjectStores),
        backups(client, namespace),
    ])
    .boxed()
}
