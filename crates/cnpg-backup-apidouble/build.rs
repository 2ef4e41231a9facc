//! Finds the upstream CNPG CRDs (not part of this repository): `$CNPG_BACKUP_CRDS_DIR`, else
//! `../shared/cnpg-crds` beside the workspace. When all four files are there it sets
//! `cfg(crds)` and `CNPG_BACKUP_CRDS_FOUND`; otherwise CRD-dependent tests are ignored.

use std::path::{Path, PathBuf};

const FILES: &[&str] = &[
    "postgresql.cnpg.io_clusters.yaml",
    "postgresql.cnpg.io_backups.yaml",
    "postgresql.cnpg.io_scheduledbackups.yaml",
    "barmancloud.cnpg.io_objectstores.yaml",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(crds)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CNPG_BACKUP_CRDS_DIR");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let shared = manifest.join("../../../shared");
    if shared.is_dir() {
        // Picks up CRDs put there later (a missing path would rerun this on every build).
        println!("cargo::rerun-if-changed={}", shared.display());
    }
    let dir = std::env::var_os("CNPG_BACKUP_CRDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.join("cnpg-crds"));
    if FILES.iter().all(|f| dir.join(f).is_file()) {
        let dir = dir.canonicalize().unwrap_or(dir);
        println!("cargo::rustc-cfg=crds");
        println!("cargo::rustc-env=CNPG_BACKUP_CRDS_FOUND={}", display(&dir));
    }
}

fn display(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
