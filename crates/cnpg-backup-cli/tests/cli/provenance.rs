//! `catalog --source bucket` in the disaster case: only the target, no cluster. With the
//! provenance records the control loop writes beside each `backup.info`, the rows show the
//! Backup name, app version and backup-set id, pairing admin and tenant; a record that cannot
//! be read loses only those columns, with a warning under the table.

use cnpg_backup_app::Backend;
use cnpg_backup_core::names::Plane;

use crate::{cnpg_backup, stdout_of};

/// Backups of both planes on the embedded default in `world`, and their provenance records
/// written by the operation the control loop runs when a backup completes.
async fn backups_with_records(world: &std::path::Path) -> usize {
    let b = Backend::embedded(world, None, true).await.unwrap();
    b.run_reconcile().await.unwrap();
    b.run_backup_now().await.unwrap();
    b.advance(10).await.unwrap();
    let s = b.backups.settings().await.unwrap();
    let mut records = Vec::new();
    for plane in Plane::ALL {
        records.extend(b.catalog.list_backups(s.clusters.get(plane)).await.unwrap());
    }
    let written = b.record_backup_provenance(&records).await.unwrap();
    written.iter().filter(|(_, w)| w.is_some()).count()
}

fn records_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name() == "cnpg-backup.json" {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_bucket_catalog_shows_version_and_set_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world");
    assert_eq!(backups_with_records(&world).await, 2);
    let settings = dir.path().join("target-only.yaml");
    std::fs::write(
        &settings,
        format!(
            "target:\n  provider: local\n  bucket: {}\n  credentials: {{kind: none}}\n",
            world.join("bucket").display()
        ),
    )
    .unwrap();
    let catalog = |format: &str| {
        stdout_of(cnpg_backup().args([
            "-c",
            settings.to_str().unwrap(),
            "catalog",
            "--source",
            "bucket",
            "--no-cache",
            "-o",
            format,
        ]))
    };
    let out = catalog("json");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    let set = rows[0]["backupSetId"].as_str().unwrap().to_owned();
    for plane in ["admin", "tenant"] {
        let r = rows
            .iter()
            .find(|r| r["plane"] == plane)
            .unwrap_or_else(|| panic!("no {plane} row in {out}"));
        assert_eq!(r["backupSetId"], set.as_str(), "one set pairs both: {out}");
        assert!(r["appVersion"].is_string(), "{out}");
        assert_eq!(r["cluster"], format!("cnpg-{plane}"), "{out}");
        assert!(
            r["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("cnpg-{plane}-")),
            "the Backup's name, not Barman's: {out}"
        );
        assert!(r.get("warnings").is_none(), "{out}");
    }
    let table = catalog("table");
    assert!(
        table.contains("SET") && table.contains("VERSION"),
        "{table}"
    );
    // The SET column (the Backup names hold the set id too, after a `-`).
    let in_set_column = format!(" {set} ");
    assert_eq!(table.matches(&in_set_column).count(), 2, "{table}");
    assert!(!table.contains("warning:"), "{table}");

    // A corrupt record: the row stays with Barman's columns, the record's are empty, and the
    // table says why under it.
    let files = records_under(&world.join("bucket"));
    assert_eq!(files.len(), 2);
    std::fs::write(&files[0], b"{\"schemaVersion\": 1, \"cut").unwrap();
    let out = catalog("json");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    let bad: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r.get("warnings").is_some())
        .collect();
    assert_eq!(bad.len(), 1, "{out}");
    assert!(
        bad[0]["backupSetId"].is_null() && bad[0]["appVersion"].is_null(),
        "{out}"
    );
    assert_eq!(bad[0]["phase"], "completed", "{out}");
    assert_eq!(bad[0]["namedRestoreReady"], true, "{out}");
    let table = catalog("table");
    assert_eq!(table.matches(&in_set_column).count(), 1, "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("warning: ") && l.contains("is unreadable")),
        "{table}"
    );
}
