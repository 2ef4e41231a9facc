//! The one integration-test binary of cnpg-backup-kube.

mod api;
mod storage;
