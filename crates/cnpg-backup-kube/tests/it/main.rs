//! Kubernetes adapter tests against an in-memory API double.
//! The one integration-test binary of cnpg-backup-kube.

mod api;
mod double;
mod schema;
mod storage;
