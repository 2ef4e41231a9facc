//! Refusals, the acknowledgement prompt on a pseudo-terminal, the outside world failing, and
//! secrets never printed.

use std::io::Write;
use std::process::{Command as StdCommand, Stdio};

use crate::{ACK1, ACK2, cnpg_backup, code_and_stderr, embedded, json_of, with_backups};

#[test]
fn create_without_a_terminal_and_without_ack_is_refused_and_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    let mut cmd = embedded(
        dir.path(),
        &[
            "restore", "create", "--plane", "admin", "--name", "t1", "--backup", &admin, "--id",
            "t1",
        ],
    );
    let out = cmd.write_stdin("").output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("there is no terminal to ask on"), "{err}");
    assert!(
        err.contains(&format!("hint: pass --ack \"{ACK1}\"")),
        "{err}"
    );
    let (code, _) = code_and_stderr(&mut embedded(dir.path(), &["restore", "status", "t1"]));
    assert_eq!(code, 2, "no restore was recorded");
}

#[test]
fn apply_without_a_terminal_and_without_ack_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) =
        code_and_stderr(embedded(dir.path(), &["restore", "apply", "r1"]).write_stdin(""));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains(ACK2), "{err}");
}

#[test]
fn a_wrong_acknowledgement_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    let almost = ACK1.trim_end_matches('.');
    let (code, err) = code_and_stderr(&mut embedded(
        dir.path(),
        &[
            "restore", "create", "--plane", "admin", "--name", "t2", "--backup", &admin, "--id",
            "t2", "--ack", almost,
        ],
    ));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("does not match"), "{err}");
    let (code, _) = code_and_stderr(&mut embedded(dir.path(), &["restore", "status", "t2"]));
    assert_eq!(code, 2, "no restore was recorded");
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Runs the binary under `script`, which gives it a pseudo-terminal, typing `input`.
fn on_a_terminal(args: &[String], input: &str) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("cnpg-backup");
    let mut line = quote(bin.to_str().unwrap());
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut child = StdCommand::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs the pseudo-terminal test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn on_a_terminal_create_shows_the_sentence_and_accepts_it_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    let args: Vec<String> = [
        "--embedded",
        dir.path().to_str().unwrap(),
        "restore",
        "create",
        "--plane",
        "admin",
        "--name",
        "typed",
        "--backup",
        &admin,
        "--id",
        "typed",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (code, screen) = on_a_terminal(&args, &format!("{ACK1}\n"));
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Type this sentence exactly"), "{screen}");
    assert!(screen.contains(&format!("  {ACK1}")), "{screen}");
    assert!(screen.contains("restore typed: provisioning"), "{screen}");
    let v = json_of(&mut embedded(
        dir.path(),
        &["restore", "status", "typed", "-o", "json"],
    ));
    assert_eq!(v["audit"][0]["text"], ACK1);
}

#[test]
fn on_a_terminal_a_mistyped_sentence_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, _) = with_backups(dir.path());
    let args: Vec<String> = [
        "--embedded",
        dir.path().to_str().unwrap(),
        "restore",
        "create",
        "--plane",
        "admin",
        "--name",
        "typo",
        "--backup",
        &admin,
        "--id",
        "typo",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (code, screen) = on_a_terminal(&args, "yes\n");
    assert_eq!(code, 4, "{screen}");
    assert!(screen.contains("does not match"), "{screen}");
}

#[test]
fn no_cluster_reachable_exits_3() {
    let home = tempfile::tempdir().unwrap();
    let (code, err) = code_and_stderr(
        cnpg_backup()
            .env("KUBECONFIG", home.path().join("missing-kubeconfig"))
            .env("HOME", home.path())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .arg("status"),
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("hint: "), "{err}");
}

const PLANTED: &str = "planted-Secret-0xC0FFEE-do-not-print";

fn s3_settings(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("s3.yaml");
    std::fs::write(
        &p,
        "target:\n  provider: s3_compatible\n  endpoint: http://127.0.0.1:9\n  bucket: cnpg-backups\n  prefix: p\n  credentials:\n    kind: s3_access_key\n    access_key_id: { name: s3, key: id }\n    secret_access_key: { name: s3, key: secret }\nautomation:\n  enabled: true\n  schedule: { preset: daily, hour: 2, minute: 30 }\n  retention: 30d\nappVersion: { kind: unknown }\n",
    )
    .unwrap();
    p
}

#[test]
fn a_planted_secret_never_appears_in_any_output_or_log() {
    let dir = tempfile::tempdir().unwrap();
    let settings = s3_settings(dir.path());
    let settings = settings.to_str().unwrap();
    let runs: Vec<Vec<&str>> = vec![
        // The disaster case reads credentials from the environment; the bucket is unreachable.
        vec!["-vvv", "-c", settings, "catalog", "--source", "bucket"],
        vec![
            "-vvv", "-c", settings, "catalog", "--source", "bucket", "-o", "json",
        ],
        vec!["-vvv", "-c", settings, "config", "show", "-o", "yaml"],
        vec!["-vvv", "-c", settings, "plan"],
        vec!["-vvv", "demo"],
    ];
    for args in runs {
        let out = cnpg_backup()
            .env("AWS_ACCESS_KEY_ID", "AKIDPLANTED")
            .env("AWS_SECRET_ACCESS_KEY", PLANTED)
            .env("AWS_SESSION_TOKEN", PLANTED)
            .env("RUST_LOG", "trace")
            .args(&args)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains(PLANTED),
            "{args:?} printed the secret:\n{all}"
        );
        assert!(!all.is_empty(), "{args:?} printed nothing");
    }
}

#[test]
fn an_unreachable_api_server_exits_3_without_printing_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{ server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true }}\nusers:\n- name: u\n  user: {{ token: {PLANTED} }}\ncontexts:\n- name: ctx\n  context: {{ cluster: c, user: u, namespace: platform }}\ncurrent-context: ctx\n"
        ),
    )
    .unwrap();
    for verbosity in ["-q", "-vvv"] {
        let out = cnpg_backup()
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([verbosity, "status"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error: "), "{err}");
        assert!(!err.contains(PLANTED), "{err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(PLANTED));
    }
}

#[test]
fn the_disaster_case_fails_with_exit_3_when_the_bucket_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let settings = s3_settings(dir.path());
    let (code, err) = code_and_stderr(
        cnpg_backup()
            .env("AWS_ACCESS_KEY_ID", "AKIDPLANTED")
            .env("AWS_SECRET_ACCESS_KEY", PLANTED)
            .arg("-c")
            .arg(&settings)
            .args(["catalog", "--source", "bucket"]),
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.starts_with("error: cannot list `s3://cnpg-backups/p`"),
        "{err}"
    );
}

#[test]
fn on_a_terminal_watch_draws_one_line_per_recovery_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (admin, tenant) = with_backups(dir.path());
    embedded(
        dir.path(),
        &[
            "restore",
            "create",
            "--name",
            "w",
            "--admin-backup",
            &admin,
            "--tenant-backup",
            &tenant,
            "--id",
            "w",
            "--ack",
            ACK1,
        ],
    )
    .assert()
    .success();
    let args: Vec<String> = [
        "--embedded",
        dir.path().to_str().unwrap(),
        "restore",
        "status",
        "w",
        "--watch",
        "--interval",
        "1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (code, screen) = on_a_terminal(&args, "");
    assert_eq!(code, 0, "{screen}");
    // One line per recovery cluster, each cleared before it is (re)drawn.
    assert!(
        screen.contains("w-admin") && screen.contains("w-tenant"),
        "{screen}"
    );
    assert!(screen.contains("\x1b[2K  admin   w-admin"), "{screen:?}");
    assert!(
        screen.contains("restore w: ready_for_promotion_checks"),
        "{screen}"
    );
}

#[test]
fn a_credential_pasted_into_the_settings_is_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    // The secret comes first, and the neighbouring lines carry it too, so neither the message
    // nor a snippet of the input may show it.
    let file = dir.path().join("inline.yaml");
    std::fs::write(
        &file,
        format!(
            "target:\n  provider: s3\n  bucket: b\n  region: eu-west-1\n  credentials:\n    kind: s3_access_key\n    secret_access_key: {PLANTED}\n    access_key_id: {PLANTED}\n  endpointCa: {PLANTED}\n"
        ),
    )
    .unwrap();
    for cmd in [&["config", "validate"][..], &["config", "show"], &["plan"]] {
        let out = cnpg_backup()
            .arg("-c")
            .arg(&file)
            .args(cmd)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains(PLANTED), "{cmd:?} printed the secret:\n{err}");
        assert!(err.contains("expected a secret reference"), "{err}");
        assert!(err.contains("line "), "the location is kept: {err}");
    }
    // An unknown field next to a pasted secret: the location stays, the snippet goes.
    std::fs::write(
        &file,
        format!("target:\n  provider: s3\n  regoin: x\n  token: {PLANTED}\n"),
    )
    .unwrap();
    let (code, err) = code_and_stderr(cnpg_backup().arg("-c").arg(&file).args(["config", "show"]));
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains(PLANTED), "{err}");
    assert!(
        err.contains("line 3 column 3: unknown field `regoin`"),
        "{err}"
    );
}
