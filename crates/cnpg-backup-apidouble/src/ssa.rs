//! Field ownership and server-side apply, as far as the captured exchanges show them.
//!
//! Field paths use the `fieldsV1` encoding: `f:<key>` for a map key, `k:{"name":..}` for an
//! element of a keyed list. An apply owns the leaves it sends (lists are atomic: every list in
//! the CNPG CRDs is); `Apply` entries carry no `"."` markers, `Update` entries mark each map
//! they set (fixtures 06, 17, 38), except `metadata` and the struct fields a resource declares.
//!
//! [`apply`] merges an apply body into a stored object: conflicts with other managers on a value
//! that would change (409 with `FieldManagerConflict` causes, fixture 04, unless forced), removal
//! of the fields the manager owned and no longer sends (unless another manager owns them), then
//! the managed-fields bookkeeping; a re-apply of the same values changes nothing (fixture 02).
//!
//! This is the double's own model of the server; it deliberately shares no code with the
//! adapter's compare-before-apply (`cnpg_backup_kube::fieldset`), so a bug there is not hidden
//! by the same bug here.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::status::{Details, failure};

/// One field path, e.g. `["f:spec", "f:backup", "f:retentionPolicy"]`.
pub type FieldPath = Vec<String>;

/// The time the double writes into managed-fields entries.
pub const TIME: &str = "2026-11-26T05:05:36Z";

fn collect(value: &Value, prefix: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                prefix.push(format!("f:{k}"));
                collect(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// The leaf paths of an object or apply body, leaving out `apiVersion`, `kind`, `status`,
/// `metadata.name`, `metadata.namespace` and server-set metadata: only `labels`,
/// `annotations`, `ownerReferences` and `finalizers` of the metadata are owned.
pub fn field_paths(obj: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    let Some(o) = obj.as_object() else {
        return out;
    };
    for (k, v) in o {
        match k.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for (mk, mv) in v.as_object().into_iter().flatten() {
                    if matches!(
                        mk.as_str(),
                        "labels" | "annotations" | "ownerReferences" | "finalizers"
                    ) {
                        let mut prefix = vec!["f:metadata".to_owned(), format!("f:{mk}")];
                        collect(mv, &mut prefix, &mut out);
                    }
                }
            }
            _ => collect(v, &mut vec![format!("f:{k}")], &mut out),
        }
    }
    out
}

fn collect_v1(fields: &Map<String, Value>, prefix: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    let children: Vec<_> = fields.iter().filter(|(k, _)| k.as_str() != ".").collect();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    for (k, v) in children {
        prefix.push(k.clone());
        match v.as_object() {
            Some(m) => collect_v1(m, prefix, out),
            None => {
                out.insert(prefix.clone());
            }
        }
        prefix.pop();
    }
}

/// The leaf paths of a `fieldsV1` set (`"."` markers are not leaves of their own).
pub fn fields_v1_paths(fields_v1: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Some(m) = fields_v1.as_object() {
        collect_v1(m, &mut Vec::new(), &mut out);
    }
    out
}

/// How an entry's `fieldsV1` marks the maps it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markers<'a> {
    /// No `"."` (operation `Apply`).
    None,
    /// `"."` in every map below the root except `metadata` and these struct fields
    /// (operation `Update`).
    Maps(&'a [&'a str]),
}

/// A `fieldsV1` set from leaf paths (the inverse of [`fields_v1_paths`]).
pub fn to_fields_v1(paths: &BTreeSet<FieldPath>, markers: Markers<'_>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for (depth, seg) in path.iter().enumerate() {
            let entry = node
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else {
                break;
            };
            let marked = match markers {
                Markers::None => false,
                Markers::Maps(structs) => {
                    depth + 1 < path.len()
                        && !(depth == 0
                            && (seg == "f:metadata"
                                || structs.iter().any(|s| seg.strip_prefix("f:") == Some(s))))
                }
            };
            if marked {
                next.entry(".".to_owned()).or_insert_with(|| json!({}));
            }
            node = next;
        }
    }
    Value::Object(root)
}

fn segment_key(seg: &str) -> Option<Value> {
    serde_json::from_str(seg.strip_prefix("k:")?).ok()
}

/// The value at `path` in `v`.
pub fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = if let Some(k) = seg.strip_prefix("f:") {
            cur.get(k)?
        } else {
            let key = segment_key(seg)?;
            cur.as_array()?
                .iter()
                .find(|e| e.get("name") == key.get("name"))?
        };
    }
    Some(cur)
}

/// Removes the value at `path` from `v` (nothing when it is not there).
pub fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parents {
        let next = if let Some(k) = seg.strip_prefix("f:") {
            cur.get_mut(k)
        } else {
            let key = segment_key(seg);
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|e| key.as_ref().is_some_and(|k| e.get("name") == k.get("name")))
            })
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
    } else if let (Some(key), Some(a)) = (segment_key(last), cur.as_array_mut()) {
        a.retain(|e| e.get("name") != key.get("name"));
    }
}

/// Removes maps left empty by removals (as apply does for maps nobody owns any more).
pub fn prune_empty(v: &mut Value) {
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

/// Apply's merge: maps merge, lists and scalars are replaced (every list we meet is atomic).
pub fn apply_merge(stored: &mut Value, patch: &Value) {
    match (stored, patch) {
        (Value::Object(s), Value::Object(p)) => {
            for (k, pv) in p {
                match s.get_mut(k) {
                    Some(sv) => apply_merge(sv, pv),
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
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The `metadata.managedFields` entries of `obj`.
pub fn managed_entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Orders entries as the server encodes them: `Apply` before `Update`, then by time, manager,
/// API version and subresource (`sortEncodedManagedFields`; fixture 17).
pub fn sort_entries(entries: &mut [Value]) {
    let key = |e: &Value| {
        ["operation", "time", "manager", "apiVersion", "subresource"]
            .map(|k| e[k].as_str().unwrap_or("").to_owned())
    };
    entries.sort_by_key(key);
}

fn entry_paths(e: &Value) -> BTreeSet<FieldPath> {
    fields_v1_paths(&e["fieldsV1"])
}

fn is_main_resource(e: &Value) -> bool {
    e.get("subresource")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
}

/// Records that `manager` set `paths` with a non-apply write (create, update, merge patch):
/// its `Update` entry gains them and every other manager loses the ones whose value changed
/// (`changed`), as the server's field manager does.
pub fn record_update(
    obj: &mut Value,
    api_version: &str,
    manager: &str,
    paths: &BTreeSet<FieldPath>,
    changed: &BTreeSet<FieldPath>,
    structs: &[&str],
) {
    let mut entries = managed_entries(obj);
    let mut mine = BTreeSet::new();
    entries.retain_mut(|e| {
        if e["manager"] == json!(manager) && e["operation"] == "Update" && is_main_resource(e) {
            mine.extend(entry_paths(e));
            return false;
        }
        let kept: BTreeSet<FieldPath> = entry_paths(e)
            .into_iter()
            .filter(|p| !changed.iter().any(|c| c.starts_with(p) || p.starts_with(c)))
            .collect();
        let marker = if e["operation"] == "Apply" {
            Markers::None
        } else {
            Markers::Maps(structs)
        };
        e["fieldsV1"] = to_fields_v1(&kept, marker);
        !kept.is_empty()
    });
    mine.extend(paths.iter().cloned());
    if !mine.is_empty() {
        entries.push(
            json!({"manager": manager, "operation": "Update", "apiVersion": api_version,
            "time": TIME, "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&mine, Markers::Maps(structs))}),
        );
    }
    sort_entries(&mut entries);
    obj["metadata"]["managedFields"] = Value::Array(entries);
}

/// The leaf paths whose values differ between `old` and `new` (present in either).
pub fn changed_paths(old: &Value, new: &Value) -> BTreeSet<FieldPath> {
    field_paths(old)
        .union(&field_paths(new))
        .filter(|p| get_path(old, p) != get_path(new, p))
        .cloned()
        .collect()
}

/// What an apply did to the object.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The merged object, managed fields updated; `changed` when anything differs from the
    /// stored object (a new managed-fields entry counts).
    Merged {
        /// The object to store.
        object: Value,
        /// Whether it differs from what was stored.
        changed: bool,
    },
    /// Refused: the 409 body naming the other managers.
    Conflict(Value),
}

/// Server-side apply of `patch` by `manager` onto `stored` (a bare `{"metadata": {"name"}}`
/// for a missing object). `api_version` names the entry, `group` goes into the conflict body.
pub fn apply(
    stored: &Value,
    patch: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
) -> Applied {
    let new_paths = field_paths(patch);
    let mut obj = stored.clone();
    let mut entries = managed_entries(&obj);

    let mut conflicts = Vec::new();
    for e in &entries {
        let m = e["manager"].as_str().unwrap_or("");
        if m == manager || !is_main_resource(e) {
            continue;
        }
        for p in entry_paths(e).intersection(&new_paths) {
            if get_path(&obj, p) != get_path(patch, p) {
                conflicts.push((m.to_owned(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let dotted = |p: &FieldPath| {
            p.iter()
                .map(|s| format!(".{}", s.get(2..).unwrap_or("")))
                .collect::<String>()
        };
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\" using {api_version}"), "field": dotted(p)}))
            .collect();
        let message = format!(
            "Apply failed with {} conflict{}: {}",
            conflicts.len(),
            if conflicts.len() == 1 { "" } else { "s" },
            conflicts
                .iter()
                .map(|(m, p)| format!("conflict with \"{m}\" using {api_version}: {}", dotted(p)))
                .collect::<Vec<_>>()
                .join("; ")
        );
        return Applied::Conflict(failure(
            409,
            "Conflict",
            &message,
            Some(Details {
                causes,
                ..Default::default()
            }),
        ));
    }

    // Fields this manager applied before and no longer sends go, unless someone else owns them.
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
    apply_merge(&mut obj, &body);

    entries.retain(|e| !(e["manager"] == json!(manager) && e["operation"] == "Apply"));
    if force {
        for e in entries.iter_mut() {
            let kept: BTreeSet<FieldPath> =
                entry_paths(e).difference(&new_paths).cloned().collect();
            e["fieldsV1"] = to_fields_v1(&kept, Markers::None);
        }
    }
    entries.push(json!({"apiVersion": api_version, "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(&new_paths, Markers::None), "manager": manager,
        "operation": "Apply", "time": TIME}));
    sort_entries(&mut entries);
    let without_fields = |v: &Value| {
        let mut v = v.clone();
        v["metadata"]["managedFields"] = Value::Null;
        v
    };
    let untimed = |mut es: Vec<Value>| {
        for e in es.iter_mut() {
            e["time"] = Value::Null;
        }
        es
    };
    let changed = without_fields(stored) != without_fields(&obj)
        || untimed(managed_entries(stored)) != untimed(entries.clone());
    obj["metadata"]["managedFields"] = Value::Array(entries);
    Applied::Merged {
        object: obj,
        changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_entries_mark_maps_as_the_server_does() {
        // Fixture 17's platform-admin entry and fixture 38's ConfigMap entry.
        let sb = json!({"metadata": {"name": "x"}, "spec": {"backupOwnerReference": "none",
            "cluster": {"name": "pg"}, "schedule": "s"}});
        assert_eq!(
            to_fields_v1(&field_paths(&sb), Markers::Maps(&[])),
            json!({"f:spec": {".": {}, "f:backupOwnerReference": {}, "f:cluster": {".": {}, "f:name": {}}, "f:schedule": {}}})
        );
        let labelled = json!({"metadata": {"labels": {"a": "b"}}, "data": {"k": "v"}});
        assert_eq!(
            to_fields_v1(&field_paths(&labelled), Markers::Maps(&[])),
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );
        let lease = json!({"spec": {"holderIdentity": "a", "renewTime": "t"}});
        assert_eq!(
            to_fields_v1(&field_paths(&lease), Markers::Maps(&["spec"])),
            json!({"f:spec": {"f:holderIdentity": {}, "f:renewTime": {}}})
        );
        assert_eq!(
            fields_v1_paths(&to_fields_v1(&field_paths(&sb), Markers::Maps(&[]))),
            field_paths(&sb)
        );
    }

    #[test]
    fn an_identical_reapply_changes_nothing_and_a_dropped_field_goes() {
        let empty = json!({"metadata": {"name": "a"}});
        let patch = json!({"spec": {"a": 1, "b": 2}});
        let Applied::Merged { object, changed } = apply(&empty, &patch, "m", false, "g/v1") else {
            panic!("no conflict expected");
        };
        assert!(changed);
        let Applied::Merged { changed, .. } = apply(&object, &patch, "m", false, "g/v1") else {
            panic!("no conflict expected");
        };
        assert!(!changed);
        let Applied::Merged { object, .. } =
            apply(&object, &json!({"spec": {"a": 1}}), "m", false, "g/v1")
        else {
            panic!("no conflict expected");
        };
        assert_eq!(object["spec"], json!({"a": 1}));
        match apply(&object, &json!({"spec": {"a": 2}}), "other", false, "g/v1") {
            Applied::Conflict(body) => assert_eq!(body["details"]["causes"][0]["field"], ".spec.a"),
            other => panic!("{other:?}"),
        }
    }
}
