//! The CNPG CRDs' `openAPIV3Schema` as JSON Schema validators, when the CRDs are at hand.
//!
//! The upstream CRDs are not redistributed in this repository. The build script looks for them
//! in `$CNPG_BACKUP_CRDS_DIR`, else in `../shared/cnpg-crds` beside the workspace, and when all
//! four files are there it sets `cfg(crds)` and records the directory ([`crds_dir`]). Without
//! them the double stores objects without schema validation, and tests that validate against
//! the CRDs are reported as ignored with [`MISSING`] as the reason (see the crate docs).
//!
//! CEL rules are checked only by a real API server; the double checks the one CEL rule we meet
//! (a ScheduledBackup's cluster is immutable) itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// Why the CRD-dependent checks did not run.
pub const MISSING: &str = "needs the CNPG CRDs: set CNPG_BACKUP_CRDS_DIR to a directory with \
     the four CRD files, or put them in ../shared/cnpg-crds beside the workspace";

/// The CRD files, by the plural they describe.
pub const FILES: &[(&str, &str)] = &[
    ("clusters", "postgresql.cnpg.io_clusters.yaml"),
    ("backups", "postgresql.cnpg.io_backups.yaml"),
    (
        "scheduledbackups",
        "postgresql.cnpg.io_scheduledbackups.yaml",
    ),
    ("objectstores", "barmancloud.cnpg.io_objectstores.yaml"),
];

/// The CRD directory the build found, if any.
pub fn crds_dir() -> Option<PathBuf> {
    option_env!("CNPG_BACKUP_CRDS_FOUND").map(PathBuf::from)
}

fn load(dir: &std::path::Path, file: &str) -> Result<jsonschema::Validator, String> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let crd: Value =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let schema = crd["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == "v1"))
        .map(|v| v["schema"]["openAPIV3Schema"].clone())
        .ok_or_else(|| format!("{}: no v1 schema", path.display()))?;
    jsonschema::validator_for(&schema).map_err(|e| format!("{}: {e}", path.display()))
}

/// The validators, by plural; `None` without the CRDs.
///
/// # Panics
/// When the CRDs the build found no longer read (deleted or edited since the build).
pub fn validators() -> Option<&'static BTreeMap<&'static str, jsonschema::Validator>> {
    static V: OnceLock<Option<BTreeMap<&'static str, jsonschema::Validator>>> = OnceLock::new();
    V.get_or_init(|| {
        let dir = crds_dir()?;
        Some(
            FILES
                .iter()
                .map(|(plural, file)| match load(&dir, file) {
                    Ok(v) => (*plural, v),
                    Err(e) => panic!("the CNPG CRDs found at build time do not load: {e}"),
                })
                .collect(),
        )
    })
    .as_ref()
}

/// Schema errors of `obj` as (dotted field, message in the server's `Invalid value: ...` form);
/// `None` without the CRDs or when `plural` has no CRD.
pub fn errors(plural: &str, obj: &Value) -> Option<Vec<(String, String)>> {
    let v = validators()?.get(plural)?;
    Some(
        v.iter_errors(obj)
            .map(|e| {
                let field = e
                    .instance_path()
                    .as_str()
                    .trim_start_matches('/')
                    .replace('/', ".");
                let value = serde_json::to_string(e.instance().as_ref()).unwrap_or_default();
                (
                    field.clone(),
                    format!("Invalid value: {value}: {field} in body {e}"),
                )
            })
            .collect(),
    )
}

/// Panics with every schema error of `obj`, or when the CRDs are not at hand (a test that calls
/// this carries `#[cfg_attr(not(crds), ignore = "...")]`, so it never passes without them).
pub fn assert_valid(plural: &str, obj: &Value) {
    let Some(errs) = errors(plural, obj) else {
        panic!("{plural}: no CRD schema: {MISSING}");
    };
    assert!(
        errs.is_empty(),
        "{plural} fails its CRD schema: {errs:#?}\n{obj:#}"
    );
}
