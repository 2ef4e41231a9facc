//! Building a [`kube::Client`]: from a kubeconfig file (path and context), from the in-cluster
//! service account, or inferred the way kubectl does (`KUBECONFIG`, `~/.kube/config`, in-cluster).

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Where the client's configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientSource {
    /// kubectl's rules: `KUBECONFIG`, `~/.kube/config`, then in-cluster.
    #[default]
    Infer,
    /// A kubeconfig file (default location when `path` is `None`), optionally a context.
    Kubeconfig {
        /// The file.
        path: Option<PathBuf>,
        /// The context (the file's current context when `None`).
        context: Option<String>,
    },
    /// The pod's service account.
    InCluster,
}

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig `{path}` could not be used")]
    Kubeconfig {
        /// The file (or `default` for the default location).
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Not running in a cluster, or its service account is unreadable.
    #[error("in-cluster configuration could not be read")]
    InCluster(#[source] kube::config::InClusterError),
    /// No configuration found.
    #[error("no Kubernetes configuration found (KUBECONFIG, ~/.kube/config or in-cluster)")]
    Infer(#[source] kube::config::InferConfigError),
    /// The configuration did not make a client (TLS, proxy, ...).
    #[error("the Kubernetes client could not be built")]
    Client(#[source] kube::Error),
}

/// Installs `ring` as the process-wide rustls crypto provider unless one is installed already.
///
/// kube (built with `ring`) builds its TLS config from rustls' process default. When any crate
/// in the process also enables rustls' `aws-lc-rs` (object_store's `aws`/`gcp`/`azure`
/// features do), rustls cannot choose a default and kube panics on its first TLS client.
/// [`connect`] calls this; call it yourself before building a `kube::Client` from a
/// `kube::Config` of your own.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one in between: that one is used, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Builds a client from `source`.
///
/// # Errors
/// [`ConnectError`] naming the source that failed.
pub async fn connect(source: &ClientSource) -> Result<kube::Client, ConnectError> {
    install_crypto_provider();
    let config = match source {
        ClientSource::Infer => kube::Config::infer().await.map_err(ConnectError::Infer)?,
        ClientSource::InCluster => kube::Config::incluster().map_err(ConnectError::InCluster)?,
        ClientSource::Kubeconfig { path, context } => {
            let options = KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            let shown = path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "default".to_owned());
            let result = match path {
                Some(p) => match Kubeconfig::read_from(p) {
                    Ok(kc) => kube::Config::from_custom_kubeconfig(kc, &options).await,
                    Err(e) => Err(e),
                },
                None => kube::Config::from_kubeconfig(&options).await,
            };
            result.map_err(|source| ConnectError::Kubeconfig {
                path: shown,
                source,
            })?
        }
    };
    kube::Client::try_from(config).map_err(ConnectError::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_kubeconfig_names_the_file() {
        let source = ClientSource::Kubeconfig {
            path: Some(PathBuf::from("/nonexistent/cnpg-backup/kubeconfig")),
            context: None,
        };
        let Err(err) = connect(&source).await else {
            panic!("a missing kubeconfig must fail");
        };
        assert!(
            err.to_string()
                .contains("/nonexistent/cnpg-backup/kubeconfig")
        );
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;

    #[tokio::test]
    async fn an_https_kubeconfig_builds_a_client() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: platform\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: redacted\n",
        )
        .unwrap();
        let source = ClientSource::Kubeconfig {
            path: Some(path),
            context: Some("x".to_owned()),
        };
        let client = connect(&source).await.map_err(|e| e.to_string());
        assert_eq!(
            client.map(|c| c.default_namespace().to_owned()),
            Ok("platform".to_owned())
        );
    }
}
