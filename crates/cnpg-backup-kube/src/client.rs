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

/// Builds a client from `source`.
///
/// # Errors
/// [`ConnectError`] naming the source that failed.
pub async fn connect(source: &ClientSource) -> Result<kube::Client, ConnectError> {
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
