//! The OpenAPI 3.1 document served at `openapi.json`.
//!
//! Paths and the view documents come from utoipa (`#[utoipa::path]` on each handler, the
//! views' `ToSchema`); the core's own documents (settings, restore requests and intents) come
//! from their `schemars` schemas, generated from the same serde attributes that read them, and
//! are put under `components/schemas` by name. Bearer authentication is required everywhere
//! but on `openapi.json` itself.

use cnpg_backup_app::openapi::CORE_SCHEMAS;
use cnpg_backup_core::automation::{BackupMethod, BackupSettings};
use cnpg_backup_core::catalog::StoragePresence;
use cnpg_backup_core::restore::{RestoreIntent, RestoreRequest};
use cnpg_backup_core::schedule::SchedulePreset;
use serde_json::{Map, Value, json};
use utoipa::openapi::{Info, OpenApi, Paths};

/// The document before the routes are added.
pub(crate) fn base() -> OpenApi {
    OpenApi::new(
        Info::new("cnpg-backup", env!("CARGO_PKG_VERSION")),
        Paths::new(),
    )
}

fn core_schemas() -> Map<String, Value> {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let roots = [
        (
            "BackupSettings",
            generator.subschema_for::<BackupSettings>(),
        ),
        ("BackupMethod", generator.subschema_for::<BackupMethod>()),
        (
            "SchedulePreset",
            generator.subschema_for::<SchedulePreset>(),
        ),
        (
            "StoragePresence",
            generator.subschema_for::<StoragePresence>(),
        ),
        (
            "RestoreRequest",
            generator.subschema_for::<RestoreRequest>(),
        ),
        ("RestoreIntent", generator.subschema_for::<RestoreIntent>()),
    ];
    let mut out = generator.take_definitions(true);
    for (name, schema) in roots {
        let value = schema.to_value();
        let own_ref = format!("#/components/schemas/{name}");
        if value.get("$ref").and_then(Value::as_str) != Some(own_ref.as_str()) {
            out.insert(name.to_owned(), value);
        }
    }
    out
}

/// The complete document: the routes' description, the core's schemas, bearer security, and
/// `servers` when the router's mount point is known.
pub(crate) fn finish(api: OpenApi, mounted_at: Option<&str>) -> Value {
    let mut doc = serde_json::to_value(&api).unwrap_or_else(|_| json!({}));
    doc["info"]["description"] = json!(
        "The HTTP API of cnpg-backup: CloudNativePG backup automation and staged restores. \
         Every route needs `Authorization: Bearer <token>` and a permission on the API group \
         `cnpg-backup.io` (each operation says which). Errors are `application/problem+json` \
         documents with the CLI's message, causes, hint, category and exit code."
    );
    doc["info"]["license"] = json!({"name": "Apache-2.0", "identifier": "Apache-2.0"});
    if let Some(prefix) = mounted_at {
        doc["servers"] = json!([{"url": prefix}]);
    }
    doc["security"] = json!([{"bearer": []}]);
    doc["tags"] = json!([
        {"name": "backup", "description": "Backup automation: settings, status, reconcile, preflight, backups"},
        {"name": "restore", "description": "Catalogs, versions and staged restores"},
        {"name": "meta", "description": "This document"},
    ]);
    let components = doc
        .as_object_mut()
        .map(|d| d.entry("components").or_insert_with(|| json!({})));
    if let Some(Value::Object(components)) = components {
        components.insert(
            "securitySchemes".to_owned(),
            json!({"bearer": {"type": "http", "scheme": "bearer",
                "description": "A Kubernetes bearer token (checked with TokenReview), or the token `serve --embedded` printed"}}),
        );
        let schemas = components.entry("schemas").or_insert_with(|| json!({}));
        if let Value::Object(schemas) = schemas {
            schemas.insert(
                "ProblemDoc".to_owned(),
                serde_json::to_value(
                    <crate::problem::ProblemDoc as utoipa::PartialSchema>::schema(),
                )
                .unwrap_or_default(),
            );
            for (name, schema) in core_schemas() {
                let placeholder = schemas.get(&name).is_none_or(|s| {
                    CORE_SCHEMAS.contains(&name.as_str()) && s.get("$ref").is_some()
                });
                if placeholder {
                    schemas.insert(name, schema);
                } else {
                    tracing::warn!(
                        name,
                        "a core schema has the name of a view; keeping the view"
                    );
                }
            }
        }
    }
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        paths.insert(
            "/openapi.json".to_owned(),
            json!({"get": {
                "tags": ["meta"],
                "summary": "This OpenAPI document",
                "operationId": "openapi",
                "security": [],
                "responses": {"200": {"description": "The OpenAPI 3.1 document",
                    "content": {"application/json": {}}}}
            }}),
        );
    }
    doc
}

/// The OpenAPI document of the router (as served at `openapi.json`), mounted at `mounted_at`.
pub fn document(mounted_at: Option<&str>) -> Value {
    let (_, api) = crate::routes::api(0).split_for_parts();
    finish(api, mounted_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref"
                        && let Some(s) = v.as_str()
                    {
                        out.push(s.to_owned());
                    }
                    refs(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_no_placeholder_is_left() {
        let doc = document(Some("/api/v1"));
        assert_eq!(doc["openapi"], "3.1.0");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            let target = schemas
                .get(name)
                .unwrap_or_else(|| panic!("{r} does not resolve"));
            assert_ne!(
                target.get("$ref").and_then(Value::as_str),
                Some(r.as_str()),
                "{name} is still a placeholder"
            );
        }
        for name in CORE_SCHEMAS {
            assert!(schemas.contains_key(*name), "{name}");
        }
    }
}
