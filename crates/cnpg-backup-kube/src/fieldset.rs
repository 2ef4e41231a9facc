//! Compare-before-apply: does a stored object already carry what we would apply?
//!
//! The API server fills CRD defaults in, so "converged" means the desired fields are a
//! **subset** of the stored object ([`is_subset`]), not equality. Server-side apply also removes
//! fields our manager owned but no longer sends, so the set of field paths our manager owns
//! ([`owned_paths`], read from `metadata.managedFields`) must equal the set we would send
//! ([`field_paths`]); otherwise an apply is needed to drop the stale ones.
//!
//! Paths use the `fieldsV1` encoding: `f:<key>` for a map key. Every list we apply is atomic in
//! the CNPG CRDs (`spec.plugins` and `spec.externalClusters` have no `x-kubernetes-list-type`),
//! so a list is one leaf owned as a whole; [`fields_v1_paths`] still reads `k:`/`v:` entries
//! written by other managers for lists of other types.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

/// One field path, e.g. `["f:spec", "f:backup", "f:retentionPolicy"]`.
pub type FieldPath = Vec<String>;

fn element_key(v: &Value) -> Option<String> {
    let name = v.as_object()?.get("name")?.as_str()?;
    Some(format!("k:{{\"name\":{}}}", Value::String(name.to_owned())))
}

fn keyed_list(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|i| element_key(i).is_some())
}

/// Whether every field of `desired` is in `stored` with the same value. Maps may have more keys
/// in `stored` (defaults the server filled in). Lists are atomic: the same length, and each
/// element a subset of its counterpart (matched by `name` when every element has one, else by
/// position), since the server fills defaults into list elements too.
pub fn is_subset(desired: &Value, stored: &Value) -> bool {
    match (desired, stored) {
        (Value::Object(d), Value::Object(s)) => d
            .iter()
            .all(|(k, dv)| s.get(k).is_some_and(|sv| is_subset(dv, sv))),
        (Value::Array(d), Value::Array(s)) if d.len() != s.len() => false,
        (Value::Array(d), Value::Array(s)) if keyed_list(d) => d.iter().all(|dv| {
            let key = element_key(dv);
            s.iter()
                .any(|sv| element_key(sv) == key && is_subset(dv, sv))
        }),
        (Value::Array(d), Value::Array(s)) => d.iter().zip(s).all(|(dv, sv)| is_subset(dv, sv)),
        (Value::Number(d), Value::Number(s)) => d.as_f64() == s.as_f64(),
        (d, s) => d == s,
    }
}

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

/// The leaf field paths of an apply body, leaving out `apiVersion`, `kind`, `metadata.name` and
/// `metadata.namespace` (the server does not record them as owned).
pub fn field_paths(patch: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    let Some(obj) = patch.as_object() else {
        return out;
    };
    for (k, v) in obj {
        if k == "apiVersion" || k == "kind" {
            continue;
        }
        let mut prefix = vec![format!("f:{k}")];
        if k == "metadata" {
            if let Some(meta) = v.as_object() {
                for (mk, mv) in meta {
                    if mk == "name" || mk == "namespace" {
                        continue;
                    }
                    prefix.push(format!("f:{mk}"));
                    collect(mv, &mut prefix, &mut out);
                    prefix.pop();
                }
            }
            continue;
        }
        collect(v, &mut prefix, &mut out);
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

/// The leaf paths of a `fieldsV1` set. A map entry that only has `"."` (the map itself) is not
/// a leaf of its own when it has children.
pub fn fields_v1_paths(fields_v1: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Some(m) = fields_v1.as_object() {
        collect_v1(m, &mut Vec::new(), &mut out);
    }
    out
}

/// Builds a `fieldsV1` set from leaf paths (the inverse of [`fields_v1_paths`]).
pub fn paths_to_fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for seg in path {
            let entry = node
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else {
                break;
            };
            node = next;
        }
    }
    Value::Object(root)
}

/// The paths `manager` owns through server-side apply (`operation: Apply`, main resource).
pub fn owned_paths(meta: &ObjectMeta, manager: &str) -> BTreeSet<FieldPath> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|e| {
            e.manager.as_deref() == Some(manager)
                && e.operation.as_deref() == Some("Apply")
                && e.subresource.as_deref().unwrap_or("").is_empty()
        })
        .filter_map(|e| e.fields_v1.as_ref())
        .flat_map(|f| fields_v1_paths(&f.0))
        .collect()
}

/// Whether applying `desired` would change `stored`: a desired field is missing or different,
/// or our manager owns a field that `desired` no longer names (the apply would remove it).
pub fn needs_apply(desired: &Value, stored: &Value, meta: &ObjectMeta, manager: &str) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("apiVersion");
            o.remove("kind");
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                m.retain(|k, _| k == "labels" || k == "annotations");
            }
        }
        v
    };
    if !is_subset(&strip(desired), stored) {
        return true;
    }
    owned_paths(meta, manager) != field_paths(desired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_filled_by_the_server_still_count_as_converged() {
        let desired = json!({"spec": {"backup": {"retentionPolicy": "30d"}, "instances": 1}});
        let stored = json!({"spec": {"backup": {"retentionPolicy": "30d", "target": "prefer-standby"},
            "instances": 1, "logLevel": "info"}});
        assert!(is_subset(&desired, &stored));
        let changed = json!({"spec": {"backup": {"retentionPolicy": "7d"}}});
        assert!(!is_subset(&changed, &stored));
    }

    #[test]
    fn atomic_lists_match_element_wise_with_defaults_filled_in() {
        let desired = json!({"plugins": [{"name": "b"}, {"name": "a", "parameters": {"x": "1"}}]});
        let stored = json!({"plugins": [{"name": "a", "enabled": true, "parameters": {"x": "1"}},
            {"name": "b", "enabled": true}]});
        assert!(is_subset(&desired, &stored));
        let fewer = json!({"plugins": [{"name": "a", "parameters": {"x": "1"}}]});
        assert!(!is_subset(&fewer, &stored), "an apply would drop `b`");
        let other = json!({"plugins": [{"name": "b"}, {"name": "a", "parameters": {"x": "2"}}]});
        assert!(!is_subset(&other, &stored));
        assert!(!is_subset(&json!(["x"]), &json!(["x", "y"])));
    }

    #[test]
    fn field_paths_round_trip_through_fields_v1() {
        let patch = json!({"apiVersion": "v1", "kind": "X",
            "metadata": {"name": "n", "namespace": "ns", "labels": {"a/b": "c"}},
            "spec": {"plugins": [{"name": "p", "isWALArchiver": true}], "args": ["x"]}});
        let paths = field_paths(&patch);
        assert!(paths.contains(&vec!["f:spec".to_owned(), "f:plugins".to_owned()]));
        assert!(!paths.iter().any(|p| p.len() > 2 && p[1] == "f:plugins"));
        assert!(paths.contains(&vec!["f:spec".to_owned(), "f:args".to_owned()]));
        assert!(
            !paths
                .iter()
                .any(|p| p.contains(&"f:name".to_owned()) && p.len() == 2)
        );
        assert_eq!(fields_v1_paths(&paths_to_fields_v1(&paths)), paths);
    }

    #[test]
    fn fields_v1_from_the_real_server_reads_as_leaf_paths() {
        // Fixture 06: an Update entry with "." markers.
        let f = json!({"f:metadata":{"f:labels":{".":{},"f:cnpg.io/cluster":{}}},
            "f:spec":{".":{},"f:cluster":{".":{},"f:name":{}},"f:method":{}}});
        let paths = fields_v1_paths(&f);
        assert_eq!(paths.len(), 3);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                any::<bool>().prop_map(Value::from),
                (0i64..1000).prop_map(Value::from),
                "[a-z]{0,4}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    prop::collection::btree_map("[a-z]{1,3}", inner, 1..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn every_value_is_a_subset_of_itself(v in json_value()) {
                prop_assert!(is_subset(&v, &v));
            }

            #[test]
            fn fields_the_server_adds_keep_the_desired_a_subset(
                desired in prop::collection::btree_map("[a-z]{1,3}", json_value(), 1..4),
                extra in prop::collection::btree_map("[A-Z]{1,3}", json_value(), 1..4),
            ) {
                let mut stored = desired.clone();
                stored.extend(extra.clone());
                let desired = Value::Object(desired.into_iter().collect());
                let stored_v = Value::Object(stored.into_iter().collect());
                prop_assert!(is_subset(&desired, &stored_v));
                let extra_v = Value::Object(extra.into_iter().collect());
                prop_assert!(!is_subset(&extra_v, &desired));
            }

            #[test]
            fn field_paths_survive_fields_v1(spec in json_value()) {
                let patch = json!({"spec": spec});
                let paths = field_paths(&patch);
                prop_assert_eq!(fields_v1_paths(&paths_to_fields_v1(&paths)), paths);
            }
        }
    }
}
