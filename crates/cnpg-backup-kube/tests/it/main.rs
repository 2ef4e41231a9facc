//! Kubernetes adapter tests against the in-memory API double (`cnpg-backup-apidouble`),
//! end-to-end tests against a real API server (ignored unless `CNPG_BACKUP_E2E_KUBECONFIG` is
//! set), and the object-storage tests. The one integration-test binary of cnpg-backup-kube.
//!
//! Tests that validate rendered objects against the upstream CNPG CRDs are ignored when the
//! CRDs are not at hand (`cfg(crds)`, set by `build.rs`); the double then stores objects without
//! schema validation, and every other test runs.

mod api;
mod cache;
mod e2e;
mod flow;
mod provenance;
mod storage;
