//! The loop records what the cluster knew in the bucket: once a Backup completes, its
//! provenance record lies beside its `backup.info`, and `catalog --source bucket` shows the
//! app version and set id; a settled Backup is never asked about again.

use chrono::Duration;

use cnpg_backup_core::service::CatalogScope;

use crate::support::{Solo, daily};

/// Every provenance record under `dir`, with its bytes.
fn records(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name() == "cnpg-backup.json" {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_completed_backup_of_each_plane_gets_its_record_once() {
    let mut w = Solo::new(Some(daily)).await;
    let bucket = w._dir.path().join("bucket");
    w.run_for(Duration::seconds(30)).await;
    assert!(records(&bucket).is_empty());

    w.backend.run_backup_now().await.unwrap();
    w.run_for(Duration::minutes(3)).await;
    let cluster_rows = w.backend.catalog_rows(CatalogScope::Both).await.unwrap();
    let completed: Vec<_> = cluster_rows
        .iter()
        .filter(|r| r.phase.as_deref() == Some("completed"))
        .collect();
    assert_eq!(completed.len(), 2, "{cluster_rows:?}");
    let written = records(&bucket);
    assert_eq!(written.len(), 2, "one record per completed backup");
    assert_eq!(w.controller.provenance_settled(), 2);

    // The bucket alone now shows what the cluster knew: Backup name, cluster, plane, app
    // version and set id, for both planes, with one set id pairing them.
    let bucket_rows = w.backend.bucket_catalog_rows(None).await.unwrap();
    for c in &completed {
        let b = bucket_rows
            .iter()
            .find(|b| b.backup_id == c.backup_id && b.server_name == c.server_name)
            .unwrap_or_else(|| panic!("{c:?} not in {bucket_rows:?}"));
        assert_eq!(b.name, c.name);
        assert_eq!(b.cluster, c.cluster);
        assert_eq!(b.plane, c.plane);
        assert_eq!(b.app_version, c.app_version);
        assert!(c.backup_set_id.is_some());
        assert_eq!(b.backup_set_id, c.backup_set_id);
        assert!(b.warnings.is_empty(), "{b:?}");
    }
    assert_eq!(completed[0].backup_set_id, completed[1].backup_set_id);

    // Settled Backups are never asked about again: a record removed behind the loop's back is
    // not written again by later passes (no request for them at all).
    std::fs::remove_file(&written[0].0).unwrap();
    w.run_for(Duration::minutes(15)).await;
    assert_eq!(records(&bucket), written[1..].to_vec());
    assert_eq!(w.controller.provenance_settled(), 2);
}
