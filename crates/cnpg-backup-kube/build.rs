//! Sets `cfg(crds)` when the upstream CNPG CRDs (not part of this repository) are at hand, so the
//! tests that validate rendered objects against them run; without them those tests are reported
//! as ignored with the reason. Looks where `cnpg-backup-apidouble`'s build script looks:
//! `$CNPG_BACKUP_CRDS_DIR`, else `../shared/cnpg-crds` beside the workspace.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(crds)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CNPG_BACKUP_CRDS_DIR");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let shared = manifest.join("../../../shared");
    if shared.is_dir() {
        println!("cargo::rerun-if-changed={}", shared.display());
    }
    let dir = std::env::var_os("CNPG_BACKUP_CRDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.join("cnpg-crds"));
    let files = [
        "postgresql.cnpg.io_clusters.yaml",
        "postgresql.cnpg.io_backups.yaml",
        "postgresql.cnpg.io_scheduledbackups.yaml",
        "barmancloud.cnpg.io_objectstores.yaml",
    ];
    if files.iter().all(|f| dir.join(f).is_file()) {
        println!("cargo::rustc-cfg=crds");
    }
}
