//! An in-memory Kubernetes API server at the HTTP level: a tower `Service` that `kube::Client`
//! runs on. It stores objects, answers in the shapes captured from kube-apiserver 1.32 in
//! `fixtures/apiserver` (Status bodies for 404/409/422, paginated lists with `continue`,
//! server-side apply with managed fields and conflicts, deletes that answer a Status or the
//! object), validates CNPG objects against their CRD schema, garbage-collects dependents by
//! owner reference, records every request, and injects faults.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use cnpg_backup_kube::fieldset::{FieldPath, field_paths, fields_v1_paths, paths_to_fields_v1};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Map, Value, json};

use crate::schema;

pub const NAMESPACE: &str = "fixtures";

/// One request as the double saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
    pub status: u16,
}

impl Recorded {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    fn parsed(&self) -> Target {
        parse_path(&self.path).unwrap_or_else(|| panic!("unparsed path {}", self.path))
    }

    /// The RBAC verb of this request.
    pub fn verb(&self) -> &'static str {
        match (self.method.as_str(), self.parsed().name.is_some()) {
            ("GET", true) => "get",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", _) => "delete",
            _ => "unknown",
        }
    }

    pub fn group(&self) -> String {
        self.parsed().group
    }

    pub fn resource(&self) -> String {
        self.parsed().plural
    }

    /// `VERB resource[/name]`, for sequence assertions.
    pub fn short(&self) -> String {
        let t = self.parsed();
        match t.name {
            Some(n) => format!("{} {}/{}", self.verb(), t.plural, n),
            None => format!("{} {}", self.verb(), t.plural),
        }
    }
}

/// When an injected fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The request is refused; nothing happens.
    Before,
    /// The request is carried out, then the answer is lost (the client sees the error).
    After,
}

#[derive(Debug, Clone)]
struct Fault {
    method: String,
    path_contains: String,
    code: u16,
    timing: Timing,
    remaining: u32,
}

#[derive(Debug, Clone)]
struct Target {
    group: String,
    version: String,
    plural: String,
    namespace: String,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, version, rest) = match *segs.first()? {
        "api" => (String::new(), segs.get(1)?.to_string(), &segs[2..]),
        "apis" => (
            segs.get(1)?.to_string(),
            segs.get(2)?.to_string(),
            &segs[3..],
        ),
        _ => return None,
    };
    if rest.first()? != &"namespaces" {
        return None;
    }
    Some(Target {
        group,
        version,
        namespace: rest.get(1)?.to_string(),
        plural: rest.get(2)?.to_string(),
        name: rest.get(3).map(|s| s.to_string()),
        status: rest.get(4) == Some(&"status"),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn kind_of(plural: &str) -> &'static str {
    match plural {
        "clusters" => "Cluster",
        "backups" => "Backup",
        "scheduledbackups" => "ScheduledBackup",
        "objectstores" => "ObjectStore",
        "configmaps" => "ConfigMap",
        "secrets" => "Secret",
        other => panic!("the double does not serve {other}"),
    }
}

fn qualified(t: &Target) -> String {
    if t.group.is_empty() {
        t.plural.clone()
    } else {
        format!("{}.{}", t.plural, t.group)
    }
}

fn status_body(code: u16, reason: &str, message: String, details: Value) -> Value {
    let mut v = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message": message, "reason": reason, "code": code});
    if !details.is_null() {
        v["details"] = details;
    }
    v
}

type Key = (String, String, String); // plural, namespace, name

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    uid: u64,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
}

/// The double. Clone it freely: clones share state.
#[derive(Clone, Default)]
pub struct ApiDouble {
    state: Arc<Mutex<State>>,
}

fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        if let Some(k) = seg.strip_prefix("f:") {
            cur = cur.get(k)?;
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Value = serde_json::from_str(k).ok()?;
            cur = cur
                .as_array()?
                .iter()
                .find(|e| e.get("name") == key.get("name"))?;
        } else {
            return None;
        }
    }
    Some(cur)
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parents {
        let next = if let Some(k) = seg.strip_prefix("f:") {
            cur.get_mut(k)
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Value = serde_json::from_str(k).unwrap();
            cur.as_array_mut()
                .and_then(|a| a.iter_mut().find(|e| e.get("name") == key.get("name")))
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(k) = last.strip_prefix("f:") {
        if let Some(o) = cur.as_object_mut() {
            o.remove(k);
        }
    } else if let Some(k) = last.strip_prefix("k:") {
        let key: Value = serde_json::from_str(k).unwrap();
        if let Some(a) = cur.as_array_mut() {
            a.retain(|e| e.get("name") != key.get("name"));
        }
    }
}

/// Removes maps and keyed lists left empty by removals (as SSA does for fields nobody owns).
fn prune_empty(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (_, c) in m.iter_mut() {
                prune_empty(c);
            }
            m.retain(|_, c| !(c.as_object().is_some_and(Map::is_empty)));
        }
        Value::Array(a) => a.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

/// SSA merge: maps merge; lists are replaced (every list we apply is atomic in the CRDs).
fn ssa_merge(stored: &mut Value, patch: &Value) {
    match (stored, patch) {
        (Value::Object(s), Value::Object(p)) => {
            for (k, pv) in p {
                match s.get_mut(k) {
                    Some(sv) => ssa_merge(sv, pv),
                    None => {
                        s.insert(k.clone(), pv.clone());
                    }
                }
            }
        }
        (s, p) => *s = p.clone(),
    }
}

/// JSON merge patch (RFC 7386).
fn merge_patch(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = Value::Object(Map::new());
        }
        let t = target.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

fn managed_entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry_paths(e: &Value) -> BTreeSet<FieldPath> {
    fields_v1_paths(&e["fieldsV1"])
}

impl ApiDouble {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), NAMESPACE)
    }

    /// Stores an object directly (not recorded), filling server metadata.
    pub fn insert(&self, mut obj: Value) {
        let mut st = self.state.lock().unwrap();
        let plural = plural_of(&obj);
        let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or(NAMESPACE)
            .to_owned();
        st.rv += 1;
        st.uid += 1;
        let (rv, uid) = (st.rv, st.uid);
        let meta = obj["metadata"].as_object_mut().unwrap();
        meta.insert("namespace".into(), json!(ns));
        meta.entry("resourceVersion")
            .or_insert(json!(rv.to_string()));
        meta.entry("uid").or_insert(json!(format!("uid-{uid}")));
        meta.entry("generation").or_insert(json!(1));
        meta.entry("creationTimestamp")
            .or_insert(json!("2026-11-26T05:05:38Z"));
        st.objects.insert((plural, ns, name), obj);
    }

    pub fn object(&self, plural: &str, name: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(&(plural.to_owned(), NAMESPACE.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn names(&self, plural: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .objects
            .keys()
            .filter(|(p, _, _)| p == plural)
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    /// Sets the status of an object, as the operator would.
    pub fn set_status(&self, plural: &str, name: &str, status: Value) {
        let mut st = self.state.lock().unwrap();
        st.rv += 1;
        let rv = st.rv;
        let obj = st
            .objects
            .get_mut(&(plural.to_owned(), NAMESPACE.to_owned(), name.to_owned()))
            .unwrap();
        obj["status"] = status;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    pub fn writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_write)
            .collect()
    }

    /// The next `count` requests with `method` whose URI (path and query) contains `path_contains` fail with
    /// `code`, before or after being carried out.
    pub fn fail(&self, method: &str, path_contains: &str, code: u16, timing: Timing, count: u32) {
        self.state.lock().unwrap().faults.push(Fault {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            code,
            timing,
            remaining: count,
        });
    }

    fn take_fault(st: &mut State, method: &str, path: &str) -> Option<(u16, Timing)> {
        let f = st
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.method == method && path.contains(&f.path_contains))?;
        f.remaining -= 1;
        Some((f.code, f.timing))
    }

    fn handle(
        &self,
        method: &str,
        uri: &str,
        path: &str,
        query: &BTreeMap<String, String>,
        ct: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut st = self.state.lock().unwrap();
        let fault = Self::take_fault(&mut st, method, uri);
        if let Some((code, Timing::Before)) = fault {
            return (code, fault_body(code));
        }
        let t = parse_path(path).unwrap_or_else(|| panic!("unparsed path {path}"));
        let answer = match method {
            "GET" => match &t.name {
                Some(n) => get(&st, &t, n),
                None => list(&st, &t, query),
            },
            "POST" => create(&mut st, &t, query, body.unwrap()),
            "PUT" => replace(&mut st, &t, body.unwrap()),
            "PATCH" if ct == Some("application/apply-patch+yaml") => {
                apply(&mut st, &t, query, body.unwrap())
            }
            "PATCH" => merge(&mut st, &t, query, body.unwrap()),
            "DELETE" => delete(&mut st, &t, body.as_ref()),
            other => panic!("method {other}"),
        };
        match fault {
            Some((code, Timing::After)) => (code, fault_body(code)),
            _ => answer,
        }
    }
}

fn fault_body(code: u16) -> Value {
    let reason = match code {
        410 => "Expired",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    status_body(code, reason, format!("injected fault {code}"), Value::Null)
}

fn plural_of(obj: &Value) -> String {
    match obj["kind"].as_str().unwrap() {
        "Cluster" => "clusters",
        "Backup" => "backups",
        "ScheduledBackup" => "scheduledbackups",
        "ObjectStore" => "objectstores",
        "ConfigMap" => "configmaps",
        "Secret" => "secrets",
        k => panic!("kind {k}"),
    }
    .to_owned()
}

fn key(t: &Target, name: &str) -> Key {
    (t.plural.clone(), t.namespace.clone(), name.to_owned())
}

fn not_found(t: &Target, name: &str) -> (u16, Value) {
    (
        404,
        status_body(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(t)),
            json!({"name": name, "group": t.group, "kind": t.plural}),
        ),
    )
}

fn get(st: &State, t: &Target, name: &str) -> (u16, Value) {
    match st.objects.get(&key(t, name)) {
        Some(o) => (200, o.clone()),
        None => not_found(t, name),
    }
}

fn matches_selector(obj: &Value, selector: &str) -> bool {
    let labels = obj["metadata"]["labels"].as_object();
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some(k) = term.strip_prefix('!') {
            labels.is_none_or(|l| !l.contains_key(k))
        } else if let Some((k, v)) = term.split_once('=') {
            labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v)
        } else {
            labels.is_some_and(|l| l.contains_key(term))
        }
    })
}

fn list(st: &State, t: &Target, query: &BTreeMap<String, String>) -> (u16, Value) {
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    let after = query.get("continue").cloned().unwrap_or_default();
    let limit: usize = query
        .get("limit")
        .map(|l| l.parse().unwrap())
        .unwrap_or(usize::MAX);
    let all: Vec<&Value> = st
        .objects
        .iter()
        .filter(|((p, ns, n), _)| {
            p == &t.plural
                && ns == &t.namespace
                && (after.is_empty() || n.as_str() > after.as_str())
        })
        .map(|(_, v)| v)
        .filter(|v| matches_selector(v, &selector))
        .collect();
    let page: Vec<Value> = all.iter().take(limit).map(|v| (*v).clone()).collect();
    let remaining = all.len().saturating_sub(page.len());
    let mut meta = json!({"resourceVersion": st.rv.to_string()});
    if remaining > 0 {
        let last = page.last().unwrap()["metadata"]["name"].as_str().unwrap();
        meta["continue"] = json!(last);
        meta["remainingItemCount"] = json!(remaining);
    } else if query.contains_key("limit") {
        meta["continue"] = json!("");
    }
    let api_version = if t.group.is_empty() {
        t.version.clone()
    } else {
        format!("{}/{}", t.group, t.version)
    };
    (
        200,
        json!({"apiVersion": api_version, "items": page,
            "kind": format!("{}List", kind_of(&t.plural)), "metadata": meta}),
    )
}

fn validate(t: &Target, obj: &Value) -> Result<(), (u16, Value)> {
    let Some(errors) = schema::errors(&t.plural, obj) else {
        return Ok(());
    };
    if errors.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let kind = kind_of(&t.plural);
    let causes: Vec<Value> = errors
        .iter()
        .map(|(field, msg)| json!({"reason": "FieldValueInvalid", "message": format!("Invalid value: {msg}"), "field": field}))
        .collect();
    let first = &errors[0];
    Err((
        422,
        status_body(
            422,
            "Invalid",
            format!(
                "{kind}.{} \"{name}\" is invalid: {}: Invalid value: {}",
                t.group, first.0, first.1
            ),
            json!({"name": name, "group": t.group, "kind": kind, "causes": causes}),
        ),
    ))
}

fn stamp_new(st: &mut State, obj: &mut Value, t: &Target) {
    st.rv += 1;
    st.uid += 1;
    let meta = obj["metadata"].as_object_mut().unwrap();
    meta.insert("namespace".into(), json!(t.namespace));
    meta.insert("resourceVersion".into(), json!(st.rv.to_string()));
    meta.insert("uid".into(), json!(format!("uid-{}", st.uid)));
    meta.insert("generation".into(), json!(1));
    meta.insert("creationTimestamp".into(), json!("2026-11-26T05:05:38Z"));
}

fn create(
    st: &mut State,
    t: &Target,
    query: &BTreeMap<String, String>,
    mut obj: Value,
) -> (u16, Value) {
    let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
    if st.objects.contains_key(&key(t, &name)) {
        return (
            409,
            status_body(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", qualified(t)),
                json!({"name": name, "group": t.group, "kind": t.plural}),
            ),
        );
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    if let Err(e) = validate(t, &obj) {
        return e;
    }
    stamp_new(st, &mut obj, t);
    // The creator owns every field it sent (the real server derives a name from the User-Agent
    // when no fieldManager is given).
    let manager = query
        .get("fieldManager")
        .cloned()
        .unwrap_or_else(|| "kube".to_owned());
    let mut sent = obj.clone();
    if let Some(m) = sent["metadata"].as_object_mut() {
        m.retain(|k, _| k == "labels" || k == "annotations" || k == "name");
    }
    obj["metadata"]["managedFields"] = json!([{"apiVersion": format!("{}/{}", t.group, t.version),
        "fieldsType": "FieldsV1", "fieldsV1": paths_to_fields_v1(&field_paths(&sent)),
        "manager": manager, "operation": "Update"}]);
    st.objects.insert(key(t, &name), obj.clone());
    (201, obj)
}

fn replace(st: &mut State, t: &Target, mut obj: Value) -> (u16, Value) {
    let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
    let Some(stored) = st.objects.get(&key(t, &name)).cloned() else {
        return not_found(t, &name);
    };
    if obj["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"] {
        return (
            409,
            status_body(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    qualified(t)
                ),
                json!({"name": name, "group": t.group, "kind": t.plural}),
            ),
        );
    }
    st.rv += 1;
    for k in ["uid", "creationTimestamp", "generation", "namespace"] {
        obj["metadata"][k] = stored["metadata"][k].clone();
    }
    obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
    st.objects.insert(key(t, &name), obj.clone());
    (200, obj)
}

fn apply(
    st: &mut State,
    t: &Target,
    query: &BTreeMap<String, String>,
    patch: Value,
) -> (u16, Value) {
    let manager = query
        .get("fieldManager")
        .expect("apply needs a field manager")
        .clone();
    let force = query.get("force").is_some_and(|f| f == "true");
    let name = t.name.clone().unwrap();
    let existing = st.objects.get(&key(t, &name)).cloned();
    let new_paths = field_paths(&patch);
    let mut obj = existing
        .clone()
        .unwrap_or_else(|| json!({"metadata": {"name": name}}));
    let mut entries = managed_entries(&obj);

    // Conflicts with other managers on fields whose value would change.
    let mut conflicts = Vec::new();
    for e in &entries {
        let m = e["manager"].as_str().unwrap_or("");
        if m == manager || e.get("subresource").is_some() {
            continue;
        }
        for p in entry_paths(e).intersection(&new_paths) {
            if get_path(&obj, p) != get_path(&patch, p) {
                conflicts.push((m.to_owned(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let dotted = |p: &FieldPath| {
            p.iter()
                .map(|s| format!(".{}", &s[2..]))
                .collect::<String>()
        };
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\" using {}/{}", t.group, t.version), "field": dotted(p)}))
            .collect();
        let message = format!(
            "Apply failed with {} conflict{}: {}",
            conflicts.len(),
            if conflicts.len() == 1 { "" } else { "s" },
            conflicts
                .iter()
                .map(|(m, p)| format!(
                    "conflict with \"{m}\" using {}/{}: {}",
                    t.group,
                    t.version,
                    dotted(p)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        return (
            409,
            status_body(409, "Conflict", message, json!({"causes": causes})),
        );
    }

    // Fields this manager owned and no longer sends go, unless someone else owns them.
    let previous: BTreeSet<FieldPath> = entries
        .iter()
        .filter(|e| e["manager"] == json!(manager) && e["operation"] == "Apply")
        .flat_map(entry_paths)
        .collect();
    let others: BTreeSet<FieldPath> = entries
        .iter()
        .filter(|e| e["manager"] != json!(manager))
        .flat_map(entry_paths)
        .collect();
    for p in previous.difference(&new_paths) {
        if !others.contains(p) {
            remove_path(&mut obj, p);
        }
    }
    prune_empty(&mut obj);
    let mut body = patch.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("status");
    }
    ssa_merge(&mut obj, &body);

    // CEL: a ScheduledBackup's cluster is immutable.
    if t.plural == "scheduledbackups"
        && let Some(old) = &existing
        && old["spec"]["cluster"] != obj["spec"]["cluster"]
    {
        return (
            422,
            status_body(
                422,
                "Invalid",
                format!(
                    "ScheduledBackup.postgresql.cnpg.io \"{name}\" is invalid: spec.cluster: Invalid value: \"object\": cluster reference is immutable after creation"
                ),
                json!({"name": name, "group": t.group, "kind": "ScheduledBackup", "causes": [{"reason": "FieldValueInvalid", "message": "Invalid value: \"object\": cluster reference is immutable after creation", "field": "spec.cluster"}]}),
            ),
        );
    }
    if let Err(e) = validate(t, &obj) {
        return e;
    }

    // Managed fields: ours become exactly the new paths; forced fields leave other managers.
    entries.retain(|e| !(e["manager"] == json!(manager) && e["operation"] == "Apply"));
    if force {
        for e in entries.iter_mut() {
            let kept: BTreeSet<FieldPath> =
                entry_paths(e).difference(&new_paths).cloned().collect();
            e["fieldsV1"] = paths_to_fields_v1(&kept);
        }
    }
    entries.push(
        json!({"apiVersion": format!("{}/{}", t.group, t.version), "fieldsType": "FieldsV1",
        "fieldsV1": paths_to_fields_v1(&new_paths), "manager": manager, "operation": "Apply",
        "time": "2026-11-26T05:05:36Z"}),
    );
    let strip = |v: &Value| {
        let mut v = v.clone();
        v["metadata"]["managedFields"] = Value::Null;
        v
    };
    let changed = existing.as_ref().is_none_or(|old| {
        strip(old) != strip(&obj) || {
            let mut a = managed_entries(old);
            let mut b = entries.clone();
            for x in a.iter_mut().chain(b.iter_mut()) {
                x["time"] = Value::Null;
            }
            a != b
        }
    });
    obj["metadata"]["managedFields"] = Value::Array(entries);
    match existing {
        None => {
            stamp_new(st, &mut obj, t);
            st.objects.insert(key(t, &name), obj.clone());
            (201, obj)
        }
        Some(old) => {
            if changed {
                st.rv += 1;
                obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
                if old["spec"] != obj["spec"] {
                    let g = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
                    obj["metadata"]["generation"] = json!(g);
                }
                st.objects.insert(key(t, &name), obj.clone());
                (200, obj)
            } else {
                (200, old)
            }
        }
    }
}

fn merge(
    st: &mut State,
    t: &Target,
    query: &BTreeMap<String, String>,
    patch: Value,
) -> (u16, Value) {
    let name = t.name.clone().unwrap();
    let Some(mut obj) = st.objects.get(&key(t, &name)).cloned() else {
        return not_found(t, &name);
    };
    if t.status {
        merge_patch(&mut obj["status"], &patch["status"]);
    } else {
        let mut p = patch.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("status");
        }
        merge_patch(&mut obj, &p);
        if let Some(m) = query.get("fieldManager") {
            let mut entries = managed_entries(&obj);
            entries.push(json!({"apiVersion": format!("{}/{}", t.group, t.version), "fieldsType": "FieldsV1",
                "fieldsV1": paths_to_fields_v1(&field_paths(&p)), "manager": m, "operation": "Update"}));
            obj["metadata"]["managedFields"] = Value::Array(entries);
        }
    }
    st.rv += 1;
    obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
    st.objects.insert(key(t, &name), obj.clone());
    (200, obj)
}

fn delete(st: &mut State, t: &Target, options: Option<&Value>) -> (u16, Value) {
    let name = t.name.clone().unwrap();
    let Some(mut obj) = st.objects.get(&key(t, &name)).cloned() else {
        return not_found(t, &name);
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
        obj["metadata"]["deletionTimestamp"] = json!("2026-11-26T05:05:38Z");
        st.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        st.objects.insert(key(t, &name), obj.clone());
        return (200, obj);
    }
    st.objects.remove(&key(t, &name));
    // Garbage collection: dependents owned by the deleted object go too.
    st.objects.retain(|_, o| {
        !o["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
    });
    (
        200,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",
            "details":{"name": name, "group": t.group, "kind": t.plural, "uid": uid}}),
    )
}

impl tower::Service<Request<Body>> for ApiDouble {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let body: Option<Value> = if bytes.is_empty() {
                None
            } else {
                Some(serde_json::from_slice(&bytes).unwrap())
            };
            let method = parts.method.as_str().to_owned();
            let path = parts.uri.path().to_owned();
            let query: BTreeMap<String, String> = parts
                .uri
                .query()
                .unwrap_or("")
                .split('&')
                .filter(|s| !s.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect();
            let ct = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let uri = parts.uri.to_string();
            let (status, answer) =
                this.handle(&method, &uri, &path, &query, ct.as_deref(), body.clone());
            this.state.lock().unwrap().requests.push(Recorded {
                method,
                path,
                query,
                content_type: ct,
                body,
                status,
            });
            let bytes = serde_json::to_vec(&answer).unwrap();
            Ok(Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(bytes))
                .unwrap())
        })
    }
}

/// A captured exchange from `fixtures/apiserver`.
pub fn fixture(file: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/apiserver/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}
