//! The settings file (`-c FILE`): the core's `BackupSettings` as YAML (target, automation,
//! plane cluster names, app version source), read as untrusted input with a parse budget.

use std::io::Read;
use std::path::{Path, PathBuf};

use cnpg_backup_core::automation::{
    self, AppVersionSource, AutomationPlan, AutomationSettings, BackupMethod, BackupScope,
    BackupSettings,
};
use cnpg_backup_core::retention::{RetentionPolicy, RetentionUnit};
use cnpg_backup_core::schedule::SchedulePreset;
use cnpg_backup_core::target::{Credentials, ObjectStoreTarget, Provider};

use crate::exit::{CliError, ExitStatus};

/// The largest settings file or intent we read (far more than any real one).
pub const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// The template `config init` writes: every field, with comments.
pub const TEMPLATE: &str = include_str!("settings-template.yaml");

/// Reads a file, or stdin for `-`, refusing more than `max` bytes and anything not UTF-8.
///
/// # Errors
/// Exit 2 when the file cannot be read, is too large or is not UTF-8.
pub fn read_input(path: &Path, max: u64) -> Result<String, CliError> {
    let bytes = read_bytes(path, max)?;
    if bytes.len() as u64 > max {
        return Err(CliError::new(
            ExitStatus::Invalid,
            format!("`{}` is larger than {max} bytes", path.display()),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        CliError::new(
            ExitStatus::Invalid,
            format!("`{}` is not UTF-8 text", path.display()),
        )
    })
}

/// Reads at most `max + 1` bytes of a file, or of stdin for `-` (so a caller can tell "too
/// large" from "exactly the limit").
///
/// # Errors
/// Exit 2 when the file cannot be read.
pub fn read_bytes(path: &Path, max: u64) -> Result<Vec<u8>, CliError> {
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
        CliError::from_error(ExitStatus::Invalid, &e).context(format!("cannot read `{shown}`"))
    })?;
    Ok(bytes)
}

/// Parses settings YAML with a budget (depth 32, one document), then checks they can be planned.
///
/// # Errors
/// Exit 2 with the line and column of a parse error, or the planning error.
pub fn parse(text: &str, shown: &str) -> Result<BackupSettings, CliError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: 32, max_documents: 1 },
    };
    let settings: BackupSettings =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            CliError::new(ExitStatus::Invalid, parse_error_text(&e.to_string()))
                .context(format!("settings `{shown}` are invalid"))
        })?;
    check(&settings).map_err(|e| e.context(format!("settings `{shown}` cannot be used")))?;
    Ok(settings)
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
pub fn check(settings: &BackupSettings) -> Result<AutomationPlan, CliError> {
    cnpg_backup_kube::storage::validate_target(&settings.target)
        .map_err(|e| CliError::invalid(&e))?;
    automation::plan(settings).map_err(|e| CliError::invalid(&e))
}

/// Where the settings file is: `-c FILE`.
///
/// # Errors
/// Exit 2 with a hint when no file was given.
pub fn path(config: Option<&PathBuf>) -> Result<&PathBuf, CliError> {
    config.ok_or_else(|| {
        CliError::new(ExitStatus::Invalid, "no settings file given").hint(
            "pass `-c FILE` (or set CNPG_BACKUP_CONFIG); `cnpg-backup config init -c FILE` writes one",
        )
    })
}

/// Loads the settings file named by `-c`.
///
/// # Errors
/// Exit 2 when it is missing, unreadable or invalid.
pub fn load(config: Option<&PathBuf>) -> Result<BackupSettings, CliError> {
    let p = path(config)?;
    let text = read_input(p, MAX_INPUT_BYTES)?;
    parse(&text, &p.display().to_string())
}

/// The embedded default's settings: a local-directory bucket at `dir`, hourly backups at minute
/// 0 for both planes, 30 days of retention, the plugin method, app version 1.4.2.
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
        let text = crate::output::to_yaml(&s).unwrap();
        assert_eq!(parse(&text, "x").unwrap(), s);
    }

    #[test]
    fn unknown_field_is_rejected_with_its_name() {
        let text = TEMPLATE.replace("automation:", "automation:\n  colour: blue");
        let e = parse(&text, "s.yaml").unwrap_err();
        assert_eq!(e.status, ExitStatus::Invalid);
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_by_the_budget() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let e = parse(&format!("target: {deep}"), "s.yaml").unwrap_err();
        assert_eq!(e.status, ExitStatus::Invalid);
    }
}
