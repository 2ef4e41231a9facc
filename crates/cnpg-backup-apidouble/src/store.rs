//! The objects and what each verb does to them: get, paginated list with label selectors,
//! create, replace (compare-and-swap on `resourceVersion`, or unconditional without one),
//! merge patch (main resource or `status`), server-side apply ([`crate::ssa`]), delete (a
//! `Success` Status, or the object while finalizers hold it) with garbage collection of
//! dependents by owner reference, and delete collection.
//!
//! Every write validates what it would store first: the name (RFC 1123 subdomain, as the API
//! server checks it for custom resources: fixture 43) and, when the CRDs are at hand, the CRD
//! schema ([`crate::schema`]). The answer is `(status code, body)`; authorization happens
//! before, in [`crate::ApiDouble`], except for the `create` an apply of a missing object needs,
//! which [`Store::apply`] asks for through its `may_create` argument after validation (as the
//! API server's `withAuthorization` runs after `BeforeCreate`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Value, json};

use crate::request::RequestInfo;
use crate::resources::Resource;
use crate::ssa::{self, Applied};
use crate::status;

/// The time the double stamps on created and deleted objects.
pub const TIMESTAMP: &str = "2026-11-26T05:05:38Z";

type Key = (String, String, String, String); // group, plural, namespace, name

/// An answer: status code and body.
pub type Answer = (u16, Value);

/// How many changes per resource the watch cache keeps unless told otherwise
/// ([`Store::set_watch_cache`]).
pub const WATCH_CACHE: usize = 1000;

/// One change of one object, as the watch cache keeps it: the object before (`None`: created)
/// and after (`None`: deleted).
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The object before the change.
    pub before: Option<Value>,
    /// The object after the change.
    pub after: Option<Value>,
}

/// The watch cache of one resource: its recent changes, and the resourceVersion below which a
/// watch cannot resume (events after it were dropped).
#[derive(Debug, Default)]
pub struct History {
    /// The changes kept, oldest first.
    pub changes: VecDeque<Change>,
    /// A watch from a resourceVersion below this is too old (fixture 30).
    pub floor: u64,
    /// Moves on when the cache is re-initialised: open watches of the resource end.
    pub epoch: u64,
}

/// Every object the double holds, with the cluster-wide resourceVersion and uid counters, each
/// resource's watch cache, and etcd's compacted revision.
#[derive(Debug)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    uid: u64,
    validate_schema: bool,
    history: BTreeMap<(String, String), History>,
    cache_capacity: usize,
    compacted: u64,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            rv: 0,
            uid: 0,
            validate_schema: false,
            history: BTreeMap::new(),
            cache_capacity: WATCH_CACHE,
            compacted: 0,
        }
    }
}

/// A `continue` token as kube-apiserver makes them: base64url of
/// `{"v":"meta.k8s.io/v1","rv":RV,"start":"NAME\u0000"}` (fixtures 08, 26).
pub fn continue_token(rv: i64, last: &str) -> String {
    // Written out: the keys in the API server's order, whatever serde_json's map keeps.
    let start = Value::String(format!("{last}\0"));
    let json = format!(r#"{{"v":"meta.k8s.io/v1","rv":{rv},"start":{start}}}"#);
    crate::base64url::encode(json.as_bytes())
}

/// The resourceVersion and the name a `continue` token resumes after.
pub fn read_continue_token(token: &str) -> Option<(i64, String)> {
    let bytes = crate::base64url::decode(token)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let rv = v["rv"].as_i64()?;
    let start = v["start"].as_str()?;
    Some((rv, start.strip_suffix('\0').unwrap_or(start).to_owned()))
}

fn key(r: &Resource, namespace: &str, name: &str) -> Key {
    (
        r.group.to_owned(),
        r.plural.to_owned(),
        namespace.to_owned(),
        name.to_owned(),
    )
}

/// The RFC 1123 subdomain rule the API server applies to every custom resource's name.
fn name_errors(name: &str) -> Vec<(String, String)> {
    const RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    let mut out = Vec::new();
    let field = "metadata.name".to_owned();
    if name.is_empty() {
        out.push((
            field,
            "Required value: name or generateName is required".to_owned(),
        ));
        return out;
    }
    if name.len() > 253 {
        out.push((
            field.clone(),
            format!("Invalid value: \"{name}\": must be no more than 253 characters"),
        ));
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    if !name.split('.').all(label_ok) {
        out.push((field, format!("Invalid value: \"{name}\": {RULE}")));
    }
    out
}

impl Store {
    /// A store; `validate_schema` checks CNPG objects against their CRDs on every write.
    pub fn new(validate_schema: bool) -> Self {
        Self {
            validate_schema,
            ..Default::default()
        }
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// The current resourceVersion (of the last write).
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Keeps `before` → `after` of `namespace/name` (of resource `r`) in the watch cache, at
    /// the current resourceVersion, dropping the oldest change beyond the cache's capacity.
    /// Stores `obj` as the new state of an existing object (`old`): a fresh resourceVersion, and
    /// the change recorded for watches. Returns what was stored.
    fn store_update(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        old: Value,
        mut obj: Value,
    ) -> Value {
        obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        self.objects.insert(key(r, namespace, name), obj.clone());
        self.record(r, namespace, name, Some(old), Some(obj.clone()));
        obj
    }

    fn record(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        let capacity = self.cache_capacity.max(1);
        let h = self
            .history
            .entry((r.group.to_owned(), r.plural.to_owned()))
            .or_default();
        h.changes.push_back(Change {
            rv: self.rv,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            before,
            after,
        });
        while h.changes.len() > capacity {
            let dropped = h.changes.pop_front().map_or(0, |c| c.rv);
            let oldest = h
                .changes
                .front()
                .map_or(dropped, |c| c.rv.saturating_sub(1));
            h.floor = h.floor.max(oldest);
        }
    }

    /// The watch cache of `r`.
    pub fn history(&self, r: &Resource) -> Option<&History> {
        self.history.get(&(r.group.to_owned(), r.plural.to_owned()))
    }

    /// How many changes each resource's watch cache keeps (fixture 30: enough writes push old
    /// events out, and a watch from before them is told 410).
    pub fn set_watch_cache(&mut self, capacity: usize) {
        self.cache_capacity = capacity.max(1);
    }

    /// Re-initialises the watch cache of `r` (as an API server restart does): its history is
    /// gone, the resourceVersion moves on, open watches of it end, and a watch that resumes from
    /// before is answered `410 Expired` in-stream (fixture 30).
    pub fn expire_watches(&mut self, r: &Resource) {
        self.rv += 1;
        let rv = self.rv;
        let h = self
            .history
            .entry((r.group.to_owned(), r.plural.to_owned()))
            .or_default();
        h.changes.clear();
        h.floor = rv;
        h.epoch += 1;
    }

    /// Compacts etcd at the current revision: a `continue` token or an exact list from before
    /// is `410 Expired` (fixtures 26, 28); watches, served from the cache, are not (29).
    pub fn compact(&mut self) {
        self.compacted = self.rv;
    }

    /// Up to where etcd is compacted.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Every stored object of `r` in `namespace` (all namespaces when empty), in name order.
    pub fn objects_of<'a>(
        &'a self,
        r: &'a Resource,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |((g, p, ns, _), _)| {
                g == r.group && p == r.plural && (namespace.is_empty() || ns == namespace)
            })
            .map(|(_, v)| v)
    }

    /// Changes a stored object with `edit`, as someone else's write would (not a request): the
    /// resourceVersion moves, a spec change moves the generation, watches see it. `false` when
    /// there is no such object.
    pub fn edit(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        edit: impl FnOnce(&mut Value),
    ) -> bool {
        let Some(old) = self.objects.get(&key(r, namespace, name)).cloned() else {
            return false;
        };
        let mut obj = old.clone();
        edit(&mut obj);
        bump_generation(r, &old, &mut obj);
        self.store_update(r, namespace, name, old, obj);
        true
    }

    /// Stores `obj` as it is, filling server metadata it lacks (not a request).
    pub fn insert(&mut self, r: &Resource, namespace: &str, mut obj: Value) {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let rv = self.next_rv();
        self.uid += 1;
        let uid = self.uid;
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.insert("namespace".into(), json!(namespace));
            meta.entry("resourceVersion").or_insert(json!(rv));
            meta.entry("uid").or_insert(json!(format!("uid-{uid}")));
            if r.generation {
                meta.entry("generation").or_insert(json!(1));
            }
            meta.entry("creationTimestamp").or_insert(json!(TIMESTAMP));
        }
        let before = self.objects.insert(key(r, namespace, &name), obj.clone());
        self.record(r, namespace, &name, before, Some(obj));
    }

    /// The stored object.
    pub fn object(&self, r: &Resource, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key(r, namespace, name))
    }

    /// The names of the stored objects of `r` in `namespace`, in order.
    pub fn names(&self, r: &Resource, namespace: &str) -> Vec<String> {
        self.objects
            .keys()
            .filter(|(g, p, ns, _)| g == r.group && p == r.plural && ns == namespace)
            .map(|(_, _, _, n)| n.clone())
            .collect()
    }

    /// Replaces the status of a stored object, as an operator would (not a request).
    pub fn set_status(&mut self, r: &Resource, namespace: &str, name: &str, status: Value) -> bool {
        self.edit(r, namespace, name, |obj| obj["status"] = status)
    }

    fn not_found(r: &Resource, info: &RequestInfo, name: &str) -> Answer {
        (
            404,
            status::not_found(&info.qualified_resource(), r.group, r.plural, name),
        )
    }

    fn validate(&self, r: &Resource, obj: &Value) -> Result<(), Answer> {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let mut errors = name_errors(name);
        if self.validate_schema {
            errors.extend(crate::schema::errors(r.plural, obj).unwrap_or_default());
        }
        if errors.is_empty() {
            return Ok(());
        }
        Err((
            422,
            status::invalid(&r.qualified_kind(), r.group, r.kind, name, &errors),
        ))
    }

    fn stamp_new(&mut self, r: &Resource, obj: &mut Value, namespace: &str) {
        let rv = self.next_rv();
        self.uid += 1;
        let uid = self.uid;
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.insert("namespace".into(), json!(namespace));
            meta.insert("resourceVersion".into(), json!(rv));
            meta.insert("uid".into(), json!(format!("uid-{uid}")));
            if r.generation {
                meta.insert("generation".into(), json!(1));
            }
            meta.insert("creationTimestamp".into(), json!(TIMESTAMP));
        }
        if let Some(o) = obj.as_object_mut() {
            o.insert("apiVersion".into(), json!(r.api_version()));
            o.insert("kind".into(), json!(r.kind));
        }
    }

    /// GET of one object.
    pub fn get(&self, r: &Resource, info: &RequestInfo) -> Answer {
        match self.object(r, &info.namespace, &info.name) {
            Some(o) => (200, o.clone()),
            None => Self::not_found(r, info, &info.name),
        }
    }

    /// GET of a collection: `labelSelector` (`k=v`, `k`, `!k`, comma-separated), `limit` and
    /// `continue` (a token as the API server makes them: fixtures 08-10). A token older than
    /// etcd's compaction is `410 Expired` with a token that continues at the latest revision
    /// (26, 27), as is an exact list at a compacted resourceVersion (28). Later pages are read
    /// from the current objects (the double keeps no snapshots): a list is consistent only
    /// when nothing changes between its pages.
    pub fn list(
        &self,
        r: &Resource,
        info: &RequestInfo,
        query: &BTreeMap<String, String>,
    ) -> Answer {
        let selector = query.get("labelSelector").cloned().unwrap_or_default();
        let (snapshot, after) = match query.get("continue").filter(|t| !t.is_empty()) {
            None => (None, String::new()),
            Some(token) => match read_continue_token(token) {
                Some((rv, start)) if rv >= 0 && (rv as u64) < self.compacted => {
                    return (410, status::expired_continue(&continue_token(-1, &start)));
                }
                Some((rv, start)) => (u64::try_from(rv).ok(), start),
                None => {
                    let msg = format!("continue key is not valid: {token}");
                    return (400, status::failure(400, "BadRequest", &msg, None));
                }
            },
        };
        if query
            .get("resourceVersionMatch")
            .is_some_and(|m| m == "Exact")
            && let Some(rv) = query
                .get("resourceVersion")
                .and_then(|v| v.parse::<u64>().ok())
            && rv < self.compacted
        {
            let msg = "The resourceVersion for the provided list is too old.";
            return (410, status::failure(410, "Expired", msg, None));
        }
        let limit = query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX);
        let all: Vec<&Value> = self
            .objects_of(r, &info.namespace)
            .filter(|v| {
                let n = v["metadata"]["name"].as_str().unwrap_or_default();
                (after.is_empty() || n > after.as_str()) && (info.name.is_empty() || n == info.name)
            })
            .filter(|v| matches_selector(v, &selector))
            .collect();
        let page: Vec<Value> = all.iter().take(limit).map(|v| (*v).clone()).collect();
        let remaining = all.len().saturating_sub(page.len());
        let rv = snapshot.unwrap_or(self.rv);
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if remaining > 0 {
            let last = page
                .last()
                .and_then(|o| o["metadata"]["name"].as_str())
                .unwrap_or_default();
            meta["continue"] = json!(continue_token(rv as i64, last));
            meta["remainingItemCount"] = json!(remaining);
        } else if query.contains_key("limit") {
            meta["continue"] = json!("");
        }
        (
            200,
            json!({"apiVersion": r.api_version(), "items": page,
                "kind": format!("{}List", r.kind), "metadata": meta}),
        )
    }

    /// POST: a create, owned by `manager` (operation `Update`).
    pub fn create(
        &mut self,
        r: &Resource,
        info: &RequestInfo,
        manager: &str,
        mut obj: Value,
    ) -> Answer {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if self.object(r, &info.namespace, &name).is_some() {
            return (
                409,
                status::already_exists(&info.qualified_resource(), r.group, r.plural, &name),
            );
        }
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "name" | "labels" | "annotations" | "ownerReferences" | "finalizers"
                )
            });
        }
        if let Err(e) = self.validate(r, &obj) {
            return e;
        }
        self.stamp_new(r, &mut obj, &info.namespace);
        let paths = ssa::field_paths(&obj);
        ssa::record_update(
            &mut obj,
            &r.api_version(),
            manager,
            &paths,
            &BTreeSet::new(),
            r.struct_fields,
        );
        self.objects
            .insert(key(r, &info.namespace, &name), obj.clone());
        self.record(r, &info.namespace, &name, None, Some(obj.clone()));
        (201, obj)
    }

    /// PUT: a replace. With `metadata.resourceVersion` it must be the stored one (409
    /// `Conflict` otherwise, fixture 36); without it the write is unconditional (fixture 38).
    pub fn replace(
        &mut self,
        r: &Resource,
        info: &RequestInfo,
        manager: &str,
        mut obj: Value,
    ) -> Answer {
        let name = info.name.clone();
        let Some(stored) = self.object(r, &info.namespace, &name).cloned() else {
            return Self::not_found(r, info, &name);
        };
        let sent_rv = &obj["metadata"]["resourceVersion"];
        if !sent_rv.is_null() && *sent_rv != stored["metadata"]["resourceVersion"] {
            return (
                409,
                status::stale(&info.qualified_resource(), r.group, r.plural, &name),
            );
        }
        if info.subresource == "status" {
            let mut updated = stored.clone();
            updated["status"] = obj["status"].clone();
            obj = updated;
        } else {
            obj["status"] = stored["status"].clone();
            if obj["status"].is_null()
                && let Some(o) = obj.as_object_mut()
            {
                o.remove("status");
            }
        }
        for k in [
            "uid",
            "creationTimestamp",
            "generation",
            "namespace",
            "managedFields",
        ] {
            if stored["metadata"].get(k).is_some() {
                obj["metadata"][k] = stored["metadata"][k].clone();
            } else if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove(k);
            }
        }
        if let Err(e) = self.validate(r, &obj) {
            return e;
        }
        let changed = ssa::changed_paths(&stored, &obj);
        bump_generation(r, &stored, &mut obj);
        ssa::record_update(
            &mut obj,
            &r.api_version(),
            manager,
            &changed,
            &changed,
            r.struct_fields,
        );
        (
            200,
            self.store_update(r, &info.namespace, &name, stored, obj),
        )
    }

    /// PATCH with a JSON merge patch, of the main resource or of `status` (fixture 11).
    pub fn merge(
        &mut self,
        r: &Resource,
        info: &RequestInfo,
        manager: &str,
        patch: &Value,
    ) -> Answer {
        let name = info.name.clone();
        let Some(stored) = self.object(r, &info.namespace, &name).cloned() else {
            return Self::not_found(r, info, &name);
        };
        let mut obj = stored.clone();
        if info.subresource == "status" {
            ssa::merge_patch(&mut obj["status"], &patch["status"]);
        } else {
            let mut p = patch.clone();
            if let Some(o) = p.as_object_mut() {
                o.remove("status");
            }
            ssa::merge_patch(&mut obj, &p);
            if let Err(e) = self.validate(r, &obj) {
                return e;
            }
            let changed = ssa::changed_paths(&stored, &obj);
            ssa::record_update(
                &mut obj,
                &r.api_version(),
                manager,
                &changed,
                &changed,
                r.struct_fields,
            );
            bump_generation(r, &stored, &mut obj);
        }
        (
            200,
            self.store_update(r, &info.namespace, &name, stored, obj),
        )
    }

    /// PATCH with `application/apply-patch+yaml` by `manager`. When the object does not exist
    /// the apply creates it: it is validated, then `may_create` is asked (the API server
    /// authorizes such an apply again as `create`, fixture 16) and its refusal is the answer.
    pub fn apply(
        &mut self,
        r: &Resource,
        info: &RequestInfo,
        manager: &str,
        force: bool,
        patch: &Value,
        may_create: impl FnOnce() -> Result<(), Answer>,
    ) -> Answer {
        let name = info.name.clone();
        let existing = self.object(r, &info.namespace, &name).cloned();
        let base = existing
            .clone()
            .unwrap_or_else(|| json!({"metadata": {"name": name}}));
        let (mut obj, changed) = match ssa::apply(&base, patch, manager, force, &r.api_version()) {
            Applied::Conflict(body) => return (409, body),
            Applied::Merged { object, changed } => (object, changed),
        };

        // CEL: a ScheduledBackup's cluster is immutable (fixture 12).
        if r.plural == "scheduledbackups"
            && let Some(old) = &existing
            && old["spec"]["cluster"] != obj["spec"]["cluster"]
        {
            let errors = [(
                "spec.cluster".to_owned(),
                "Invalid value: \"object\": cluster reference is immutable after creation"
                    .to_owned(),
            )];
            return (
                422,
                status::invalid(&r.qualified_kind(), r.group, r.kind, &name, &errors),
            );
        }
        if let Some(o) = obj.as_object_mut() {
            o.insert("apiVersion".into(), json!(r.api_version()));
            o.insert("kind".into(), json!(r.kind));
        }
        if let Err(e) = self.validate(r, &obj) {
            return e;
        }
        match existing {
            None => {
                if let Err(denied) = may_create() {
                    return denied;
                }
                self.stamp_new(r, &mut obj, &info.namespace);
                self.objects
                    .insert(key(r, &info.namespace, &name), obj.clone());
                self.record(r, &info.namespace, &name, None, Some(obj.clone()));
                (201, obj)
            }
            Some(old) if changed => {
                bump_generation(r, &old, &mut obj);
                (200, self.store_update(r, &info.namespace, &name, old, obj))
            }
            Some(old) => (200, old),
        }
    }

    /// DELETE of one object: a `Success` Status and dependents garbage-collected (fixture 13),
    /// or, while finalizers hold it (`propagationPolicy: Foreground` adds one), the object with
    /// a deletion timestamp (fixture 15).
    pub fn delete(&mut self, r: &Resource, info: &RequestInfo, options: Option<&Value>) -> Answer {
        let name = info.name.clone();
        let k = key(r, &info.namespace, &name);
        let Some(mut obj) = self.objects.get(&k).cloned() else {
            return Self::not_found(r, info, &name);
        };
        if options.is_some_and(|o| o["propagationPolicy"] == "Foreground") {
            obj["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        }
        let uid = obj["metadata"]["uid"].clone();
        if obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            obj["metadata"]["deletionTimestamp"] = json!(TIMESTAMP);
            obj["metadata"]["resourceVersion"] = json!(self.next_rv());
            let before = self.objects.insert(k, obj.clone());
            self.record(r, &info.namespace, &name, before, Some(obj.clone()));
            return (200, obj);
        }
        self.remove(r, &info.namespace, &name);
        self.collect_garbage(&uid);
        (200, status::deleted(&name, r.group, r.plural, &uid))
    }

    /// Removes an object at a new resourceVersion; its watchers see it deleted.
    fn remove(&mut self, r: &Resource, namespace: &str, name: &str) -> Option<Value> {
        let gone = self.objects.remove(&key(r, namespace, name))?;
        self.next_rv();
        self.record(r, namespace, name, Some(gone.clone()), None);
        Some(gone)
    }

    /// DELETE of a collection (optionally by `labelSelector`): the list of what was deleted.
    pub fn delete_collection(
        &mut self,
        r: &Resource,
        info: &RequestInfo,
        query: &BTreeMap<String, String>,
    ) -> Answer {
        let (_, listed) = self.list(
            r,
            &RequestInfo {
                name: String::new(),
                ..info.clone()
            },
            &BTreeMap::from([(
                "labelSelector".to_owned(),
                query.get("labelSelector").cloned().unwrap_or_default(),
            )]),
        );
        let items = listed["items"].as_array().cloned().unwrap_or_default();
        for item in &items {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            self.remove(r, &info.namespace, name);
            self.collect_garbage(&item["metadata"]["uid"]);
        }
        (
            200,
            json!({"apiVersion": r.api_version(), "kind": format!("{}List", r.kind),
                "metadata": {"resourceVersion": self.rv.to_string()}, "items": items}),
        )
    }

    fn collect_garbage(&mut self, owner_uid: &Value) {
        let mut gone = vec![owner_uid.clone()];
        while let Some(uid) = gone.pop() {
            let dependents: Vec<Key> = self
                .objects
                .iter()
                .filter(|(_, o)| {
                    o["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
                })
                .map(|(k, _)| k.clone())
                .collect();
            for (g, p, ns, name) in dependents {
                let Some(r) = crate::resources::by_plural(&g, &p) else {
                    continue;
                };
                if let Some(o) = self.remove(r, &ns, &name) {
                    gone.push(o["metadata"]["uid"].clone());
                }
            }
        }
    }
}

/// A change of `spec` moves a custom resource's `metadata.generation` on (a status or metadata
/// change does not: fixture 11).
fn bump_generation(r: &Resource, old: &Value, obj: &mut Value) {
    if r.generation && old["spec"] != obj["spec"] {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        obj["metadata"]["generation"] = json!(g);
    }
}

/// Whether `obj`'s labels satisfy `selector` (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated).
pub fn matches_selector(obj: &Value, selector: &str) -> bool {
    let labels = obj["metadata"]["labels"].as_object();
    let value = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some(k) = term.strip_prefix('!') {
            value(k).is_none()
        } else if let Some((k, v)) = term.split_once("!=") {
            value(k) != Some(v)
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            value(k) == Some(v)
        } else {
            value(term).is_some()
        }
    })
}

/// The field manager of a non-apply write: `fieldManager`, else the User-Agent up to its first
/// `/` (as the API server derives it: fixture 06), else `unknown`.
pub fn manager_of(query: &BTreeMap<String, String>, user_agent: Option<&str>) -> String {
    query
        .get("fieldManager")
        .cloned()
        .or_else(|| {
            user_agent
                .and_then(|ua| ua.split('/').next())
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(128).collect())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1123_subdomains() {
        assert!(name_errors("pg-admin").is_empty());
        assert!(name_errors("a.b-c.d").is_empty());
        for bad in ["PG_Main", "-a", "a-", "a..b", "a_b", ""] {
            assert!(!name_errors(bad).is_empty(), "{bad}");
        }
        assert!(!name_errors(&"a".repeat(254)).is_empty());
    }

    #[test]
    fn selectors_cover_equality_inequality_and_existence() {
        let o = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        for (sel, want) in [
            ("a=1", true),
            ("a==1", true),
            ("a!=1", false),
            ("c!=1", true),
            ("a", true),
            ("!a", false),
            ("!c", true),
            ("a=1,b=3", false),
            ("", true),
        ] {
            assert_eq!(matches_selector(&o, sel), want, "{sel}");
        }
    }
}
