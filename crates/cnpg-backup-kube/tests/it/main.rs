//! Kubernetes adapter tests against an in-memory API double, end-to-end tests against a real
//! API server (ignored unless `CNPG_BACKUP_E2E_KUBECONFIG` is set), and the object-storage tests.
//! The one integration-test binary of cnpg-backup-kube.

mod api;
mod cache;
mod double;
mod e2e;
mod schema;
mod storage;
