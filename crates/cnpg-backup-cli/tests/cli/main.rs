//! The `cnpg-backup` binary as users and scripts see it: exit codes, stdout, stderr.
//! One integration binary (matklad); each test runs the real binary with assert_cmd.

use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;

mod control;
mod embedded;
mod offline;
mod provenance;
mod safety;
mod serve;

/// The binary, with a clean environment (no colour, no inherited settings or logs).
pub fn cnpg_backup() -> Command {
    let mut cmd = Command::cargo_bin("cnpg-backup").unwrap();
    cmd.env_remove("CNPG_BACKUP_CONFIG")
        .env_remove("CNPG_BACKUP_EMBEDDED")
        .env_remove("RUST_LOG")
        .env_remove("KUBECONFIG")
        .env_remove("USER")
        .env("NO_COLOR", "1");
    cmd
}

/// stdout of a successful run.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

/// The exit code and stderr of a run.
pub fn code_and_stderr(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn help_explains_exit_codes() {
    let out = stdout_of(cnpg_backup().arg("--help"));
    assert!(out.contains("Exit codes:"));
    for line in [
        "  0  success",
        "  1  the command ran and the answer is no",
        "  2  invalid input or usage",
        "  3  the outside world failed",
        "  4  refused for safety",
        // Every case the README's table lists, so `--help prints the same table` holds.
        "a backup is still running, automation disabled",
        "a file would be overwritten",
    ] {
        assert!(out.contains(line), "missing `{line}` in\n{out}");
    }
}

#[test]
fn every_subcommand_has_help() {
    let top = [
        "demo",
        "config",
        "plan",
        "reconcile",
        "status",
        "preflight",
        "backup",
        "schedule",
        "retention",
        "catalog",
        "restore",
        "intent",
        "rbac",
        "manifests",
    ];
    for c in top {
        let out = stdout_of(cnpg_backup().args([c, "--help"]));
        assert!(out.contains("Usage: cnpg-backup"), "{c}: {out}");
    }
    for (g, c) in [
        ("config", "init"),
        ("config", "validate"),
        ("config", "show"),
        ("backup", "now"),
        ("schedule", "preview"),
        ("retention", "check"),
        ("restore", "plan"),
        ("restore", "create"),
        ("restore", "status"),
        ("restore", "apply"),
        ("restore", "abandon"),
        ("restore", "cleanup"),
        ("restore", "retry"),
        ("restore", "list"),
        ("intent", "validate"),
        ("intent", "schema"),
    ] {
        let out = stdout_of(cnpg_backup().args([g, c, "--help"]));
        assert!(
            out.contains(&format!("Usage: cnpg-backup {g} {c}")),
            "{out}"
        );
    }
}

#[test]
fn usage_error_exits_2() {
    let (code, err) = code_and_stderr(cnpg_backup().arg("no-such-command"));
    assert_eq!(code, 2);
    assert!(err.starts_with("error:"), "{err}");
}

#[test]
fn invalid_namespace_is_a_usage_error_before_any_cluster() {
    for args in [
        &["-n", "Bad_NS", "reconcile"][..],
        &["-n", "Bad_NS", "rbac"][..],
        &["--namespace=x-", "plan"][..],
    ] {
        let (code, err) = code_and_stderr(cnpg_backup().args(args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("namespace"), "{args:?}: {err}");
        assert!(!err.contains("Kubernetes configuration"), "{args:?}: {err}");
    }
}

#[test]
fn reconcile_checks_the_settings_file_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "target: [\n").unwrap();
    let (code, err) = code_and_stderr(
        cnpg_backup()
            .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
            .arg("-c")
            .arg(&file)
            .arg("reconcile"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("are invalid"), "{err}");
    assert!(!err.contains("Kubernetes configuration"), "{err}");
}

#[test]
fn closed_stdout_pipe_exits_0() {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("cnpg-backup"))
        .args(["config", "init"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
}

/// The stage-one sentence.
pub const ACK1: &str = "I understand this only creates temporary CloudNativePG recovery cluster(s) for validation and does not yet replace the live environment.";
/// The stage-two sentence.
pub const ACK2: &str = "I understand Apply restore replaces the live environment and may interrupt Control Panel and tenant access until the restored databases are healthy again.";

/// `cnpg-backup --embedded DIR ARGS...`.
pub fn embedded(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = cnpg_backup();
    cmd.arg("--embedded").arg(dir).args(args);
    cmd
}

/// Parses stdout of a successful run as JSON.
pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = stdout_of(cmd);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// An embedded default with automation reconciled and one on-demand backup set completed;
/// returns the admin and tenant backup names.
pub fn with_backups(dir: &std::path::Path) -> (String, String) {
    embedded(dir, &["reconcile"]).assert().success();
    let made = json_of(&mut embedded(dir, &["backup", "now", "-o", "json"]));
    let name = |plane: &str| {
        made.as_array()
            .unwrap()
            .iter()
            .find(|b| b["plane"] == plane)
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    (name("admin"), name("tenant"))
}
