//! The settings file (`-c FILE`): the core's `BackupSettings` as YAML (target, automation,
//! plane cluster names, app version source), read as untrusted input with a parse budget.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use cnpg_backup_core::automation::{
    self, AppVersionSource, AutomationPlan, AutomationSettings, BackupMethod, BackupScope,
    BackupSettings,
};
use cnpg_backup_core::names::{Plane, PlaneClusters, ServerName};
use cnpg_backup_core::retention::{RetentionPolicy, RetentionUnit};
use cnpg_backup_core::schedule::SchedulePreset;
use cnpg_backup_core::target::{Credentials, ObjectStoreTarget, Provider};

use crate::error::{AppError, Category};

/// The largest settings file or intent we read (far more than any real one).
pub const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// The template `config init` writes: every field, with comments.
pub const TEMPLATE: &str = include_str!("settings-template.yaml");

/// Reads a file, or stdin for `-`, refusing more than `max` bytes and anything not UTF-8.
///
/// # Errors
/// Exit 2 when the file cannot be read, is too large or is not UTF-8.
pub fn read_input(path: &Path, max: u64) -> Result<String, AppError> {
    let bytes = read_bytes(path, max)?;
    if bytes.len() as u64 > max {
        return Err(AppError::new(
            Category::Invalid,
            format!("`{}` is larger than {max} bytes", path.display()),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        AppError::new(
            Category::Invalid,
            format!("`{}` is not UTF-8 text", path.display()),
        )
    })
}

/// Reads at most `max + 1` bytes of a file, or of stdin for `-` (so a caller can tell "too
/// large" from "exactly the limit").
///
/// # Errors
/// Exit 2 when the file cannot be read.
pub fn read_bytes(path: &Path, max: u64) -> Result<Vec<u8>, AppError> {
    let shown = path.display().to_string();
    let mut bytes = Vec::new();
    let res = if shown == "-" {
        std::io::stdin()
            .lock()
            .take(max + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
    };
    res.map_err(|e| {
        AppError::from_error(Category::Invalid, &e).context(format!("cannot read `{shown}`"))
    })?;
    Ok(bytes)
}

/// The settings file's sections, each optional, so that a command requires exactly the ones it
/// uses and names any that is missing. Unknown fields are still rejected with their position.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Sections {
    target: Option<ObjectStoreTarget>,
    automation: Option<AutomationSettings>,
    clusters: Option<PlaneClusters>,
    app_version: Option<AppVersionSource>,
    #[serde(default)]
    archive_servers: BTreeMap<Plane, ServerName>,
}

/// What reading the bucket without Kubernetes needs from the settings: the target, and each
/// plane's cluster (for `--plane`; default `cnpg-admin`, `cnpg-tenant`) and archive server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BucketSettings {
    /// Where the backups are.
    pub target: ObjectStoreTarget,
    /// The cluster name of each plane.
    pub clusters: PlaneClusters,
    /// Archive servers recorded by restores (absent: the cluster name).
    pub archive_servers: BTreeMap<Plane, ServerName>,
}

impl BucketSettings {
    /// The archive server names of `plane`: the one it writes to now and, after a restore
    /// recreated its cluster under a fresh name, the cluster's own (older backups).
    pub fn servers_of(&self, plane: Plane) -> Vec<ServerName> {
        let own = self.target.server_name_for(self.clusters.get(plane));
        let mut out = vec![own.clone()];
        if let Some(s) = self.archive_servers.get(&plane)
            && *s != own
        {
            out.push(s.clone());
        }
        out
    }

    /// The plane a server belongs to, if any.
    pub fn plane_of(&self, server: &ServerName) -> Option<Plane> {
        Plane::ALL
            .into_iter()
            .find(|p| self.servers_of(*p).contains(server))
    }
}

impl From<&BackupSettings> for BucketSettings {
    fn from(s: &BackupSettings) -> Self {
        Self {
            target: s.target.clone(),
            clusters: s.clusters.clone(),
            archive_servers: s.archive_servers.clone(),
        }
    }
}

fn sections(text: &str, shown: &str) -> Result<Sections, AppError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: 32, max_documents: 1 },
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        AppError::new(Category::Invalid, parse_error_text(&e.to_string()))
            .context(format!("settings `{shown}` are invalid"))
    })
}

fn missing(shown: &str, section: &str, what: &str, needed_for: &str) -> AppError {
    AppError::new(
        Category::Invalid,
        format!(
            "settings `{shown}` have no `{section}` section ({what}), which {needed_for} needs"
        ),
    )
    .hint("`cnpg-backup config init` prints a file with every section")
}

/// Parses settings YAML with a budget (depth 32, one document), requires every section a
/// reconcile uses (`target`, `automation`, `appVersion`; `clusters` defaults to `cnpg-admin`
/// and `cnpg-tenant`), then checks they can be planned.
///
/// # Errors
/// Invalid input with the line and column of a parse error, the name of a missing section, or
/// the planning error.
pub fn parse(text: &str, shown: &str) -> Result<BackupSettings, AppError> {
    let s = sections(text, shown)?;
    let needed = "backup automation";
    let target = s
        .target
        .ok_or_else(|| missing(shown, "target", "where backups go", needed))?;
    let automation = s
        .automation
        .ok_or_else(|| missing(shown, "automation", "schedule and retention", needed))?;
    let app_version = s.app_version.ok_or_else(|| {
        missing(
            shown,
            "appVersion",
            "where the running app version comes from",
            needed,
        )
    })?;
    let mut settings = BackupSettings::new(target, automation, app_version);
    settings.clusters = s.clusters.unwrap_or_default();
    settings.archive_servers = s.archive_servers;
    check(&settings).map_err(|e| e.context(format!("settings `{shown}` cannot be used")))?;
    Ok(settings)
}

/// Parses settings YAML for reading the bucket without Kubernetes (the disaster case): only the
/// `target` section is required; `automation` and `appVersion` may be absent, and are checked
/// for shape only when present.
///
/// # Errors
/// Invalid input with the line and column of a parse error, a missing `target`, or a target
/// that is not valid for its provider.
pub fn parse_for_bucket(text: &str, shown: &str) -> Result<BucketSettings, AppError> {
    let s = sections(text, shown)?;
    let target = s.target.ok_or_else(|| {
        missing(
            shown,
            "target",
            "provider, bucket, prefix",
            "reading the catalog from the bucket",
        )
    })?;
    cnpg_backup_kube::storage::validate_target(&target)
        .map_err(|e| AppError::invalid(&e).context(format!("settings `{shown}` cannot be used")))?;
    Ok(BucketSettings {
        target,
        clusters: s.clusters.unwrap_or_default(),
        archive_servers: s.archive_servers,
    })
}

/// Loads the settings file named by `-c` for reading the bucket ([`parse_for_bucket`]).
///
/// # Errors
/// Invalid input when it is missing, unreadable or has no usable target.
pub fn load_for_bucket(config: Option<&PathBuf>) -> Result<BucketSettings, AppError> {
    let p = path(config)?;
    let text = read_input(p, MAX_INPUT_BYTES)?;
    parse_for_bucket(&text, &p.display().to_string())
}

/// The text of a settings parse error, safe to print: `line L column C: message`.
///
/// serde-saphyr appends a snippet of the input around the error, and serde quotes the value it
/// could not decode. A settings file holds only `{name, key}` references, but a user who pastes
/// a credential inline (`secret_access_key: AKIA…`) would see it echoed on stderr, in CI logs.
/// So the snippet is dropped, and a value that should have been a secret reference is withheld.
fn parse_error_text(full: &str) -> String {
    // serde-saphyr's text starts with its own `error: `; the CLI prints one already.
    let full = full.strip_prefix("error: ").unwrap_or(full);
    let first = full.lines().next().unwrap_or_default();
    if !first.contains("SecretRef") {
        return first.to_owned();
    }
    let location = match first.find(": ") {
        Some(i) if first.starts_with("line ") => &first[..i],
        _ => "a credential",
    };
    format!(
        "{location}: expected a secret reference `{{ name: SECRET, key: KEY }}`, not a value \
         (the value is not shown); put the credential in a Kubernetes Secret and name it here"
    )
}

/// Checks settings beyond their shape: the target is well formed for its provider and the plan
/// can be derived. Nothing is contacted.
///
/// # Errors
/// Exit 2 naming the first bad field.
pub fn check(settings: &BackupSettings) -> Result<AutomationPlan, AppError> {
    cnpg_backup_kube::storage::validate_target(&settings.target)
        .map_err(|e| AppError::invalid(&e))?;
    automation::plan(settings).map_err(|e| AppError::invalid(&e))
}

/// Where the settings file is: `-c FILE`.
///
/// # Errors
/// Exit 2 with a hint when no file was given.
pub fn path(config: Option<&PathBuf>) -> Result<&PathBuf, AppError> {
    config.ok_or_else(|| {
        AppError::new(Category::Invalid, "no settings file given").hint(
            "pass `-c FILE` (or set CNPG_BACKUP_CONFIG); `cnpg-backup config init -c FILE` writes one",
        )
    })
}

/// Loads the settings file named by `-c`.
///
/// # Errors
/// Exit 2 when it is missing, unreadable or invalid.
pub fn load(config: Option<&PathBuf>) -> Result<BackupSettings, AppError> {
    let p = path(config)?;
    let text = read_input(p, MAX_INPUT_BYTES)?;
    parse(&text, &p.display().to_string())
}

/// The embedded default's settings: a local-directory bucket at `dir`, hourly backups at minute
/// 0 for both planes, 30 days of retention, the plugin method, app version 1.4.2.
#[allow(clippy::expect_used)] // constants: 30 days and 1.4.2 are valid by construction
pub fn embedded(dir: &Path) -> BackupSettings {
    let mut automation = AutomationSettings::new(
        SchedulePreset::Hourly { minute: 0 },
        RetentionPolicy::new(30, RetentionUnit::Days).expect("30 days is a valid retention"),
    );
    automation.scope = BackupScope::Both;
    automation.method = BackupMethod::Plugin;
    BackupSettings::new(
        local_target(dir),
        automation,
        AppVersionSource::Fixed {
            version: "1.4.2".parse().expect("1.4.2 is a valid version"),
        },
    )
}

/// A local-directory target at `dir`.
#[allow(clippy::expect_used)] // only the prefix is checked, and it is empty
pub fn local_target(dir: &Path) -> ObjectStoreTarget {
    ObjectStoreTarget::new(
        Provider::Local,
        dir.display().to_string(),
        "",
        Credentials::None,
    )
    .expect("an empty prefix is always valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_plans() {
        let s = parse(TEMPLATE, "template").unwrap();
        assert_eq!(s.target.provider, Provider::S3);
        assert!(check(&s).is_ok());
    }

    #[test]
    fn embedded_settings_round_trip_through_yaml() {
        let s = embedded(Path::new("/tmp/bucket"));
        let text = serde_saphyr::to_string(&s).unwrap();
        assert_eq!(parse(&text, "x").unwrap(), s);
    }

    #[test]
    fn unknown_field_is_rejected_with_its_name() {
        let text = TEMPLATE.replace("automation:", "automation:\n  colour: blue");
        let e = parse(&text, "s.yaml").unwrap_err();
        assert_eq!(e.category, Category::Invalid);
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn a_missing_section_is_named() {
        let text = "target: {provider: s3, bucket: b, region: eu-west-1, credentials: {kind: s3_inherit_iam_role}}\n";
        let e = parse(text, "t.yaml").unwrap_err();
        assert_eq!(e.category, Category::Invalid);
        assert!(
            e.message
                .contains("no `automation` section (schedule and retention)"),
            "{e}"
        );
        let with_automation = format!(
            "{text}automation: {{enabled: true, schedule: {{preset: hourly, minute: 0}}, retention: 30d}}\n"
        );
        let e = parse(&with_automation, "t.yaml").unwrap_err();
        assert!(e.message.contains("no `appVersion` section"), "{e}");
    }

    #[test]
    fn the_bucket_needs_only_the_target() {
        let text = "target: {provider: s3, bucket: backups, region: eu-west-1, prefix: platform, credentials: {kind: s3_inherit_iam_role}}\n";
        let s = parse_for_bucket(text, "t.yaml").unwrap();
        assert_eq!(s.target.bucket, "backups");
        assert_eq!(s.clusters, PlaneClusters::default());
        assert_eq!(s.servers_of(Plane::Admin)[0].to_string(), "cnpg-admin");
        let e = parse_for_bucket("clusters: {admin: a, tenant: t}\n", "t.yaml").unwrap_err();
        assert!(e.message.contains("no `target` section"), "{e}");
        // The full template is fine for the bucket too.
        assert!(parse_for_bucket(TEMPLATE, "template").is_ok());
        // Unknown sections are still rejected.
        let e = parse_for_bucket(&format!("{text}colour: blue\n"), "t.yaml").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_by_the_budget() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let e = parse(&format!("target: {deep}"), "s.yaml").unwrap_err();
        assert_eq!(e.category, Category::Invalid);
    }
}
