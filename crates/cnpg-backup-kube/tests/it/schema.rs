//! The CRDs' `openAPIV3Schema` from `shared/cnpg-crds` as JSON Schema validators (CEL rules are
//! checked only by a real API server; the double checks the one CEL rule we meet).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

fn load(file: &str) -> Value {
    let path = format!(
        "{}/../../../shared/cnpg-crds/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let crd: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let versions = crd["spec"]["versions"].as_array().unwrap();
    let v1 = versions.iter().find(|v| v["name"] == "v1").unwrap();
    v1["schema"]["openAPIV3Schema"].clone()
}

fn validators() -> &'static BTreeMap<&'static str, jsonschema::Validator> {
    static V: OnceLock<BTreeMap<&'static str, jsonschema::Validator>> = OnceLock::new();
    V.get_or_init(|| {
        [
            ("clusters", "postgresql.cnpg.io_clusters.yaml"),
            ("backups", "postgresql.cnpg.io_backups.yaml"),
            (
                "scheduledbackups",
                "postgresql.cnpg.io_scheduledbackups.yaml",
            ),
            ("objectstores", "barmancloud.cnpg.io_objectstores.yaml"),
        ]
        .into_iter()
        .map(|(plural, file)| {
            let v =
                jsonschema::validator_for(&load(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            (plural, v)
        })
        .collect()
    })
}

/// Schema errors of `obj` as (dotted field, message); `None` when `plural` has no CRD here.
pub fn errors(plural: &str, obj: &Value) -> Option<Vec<(String, String)>> {
    let v = validators().get(plural)?;
    Some(
        v.iter_errors(obj)
            .map(|e| {
                let field = e
                    .instance_path()
                    .as_str()
                    .trim_start_matches('/')
                    .replace('/', ".");
                (field, e.to_string())
            })
            .collect(),
    )
}

/// Panics with every schema error of a rendered object.
pub fn assert_valid(plural: &str, obj: &Value) {
    let errs = errors(plural, obj).expect("a CNPG resource");
    assert!(
        errs.is_empty(),
        "{plural} fails its CRD schema: {errs:#?}\n{obj:#}"
    );
}
