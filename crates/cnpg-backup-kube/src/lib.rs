//! Adapters from the cnpg-backup core's ports to Kubernetes/CNPG (kube + k8s-openapi) and to
//! object storage (object_store). Translation only: every decision lives in `cnpg-backup-core`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod storage;
