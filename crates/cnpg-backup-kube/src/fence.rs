//! A client whose every write request checks a [`Fence`] first: what the adapters send through
//! it reaches the API server only while this process holds the leader lease.
//!
//! The check sits at the transport, below every adapter, so it covers each HTTP write (a
//! reconcile sends several), not only each port call. Reads (GET, including watches) are never
//! fenced: a follower keeps its caches and answers questions. Refused writes fail with
//! [`FenceLost`], which [`crate::error::to_backend`] maps to [`BackendError::Fenced`] and the
//! retry policy never retries.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use cnpg_backup_core::ports::{BackendError, Fence};
use http::{Method, Request, Response};
use kube::client::Body;

/// A write refused because the fence does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct FenceLost {
    /// Why (from the fence).
    pub detail: String,
}

impl From<&FenceLost> for BackendError {
    fn from(e: &FenceLost) -> Self {
        BackendError::Fenced {
            detail: e.detail.clone(),
        }
    }
}

#[derive(Clone)]
struct Fenced {
    client: kube::Client,
    fence: Arc<dyn Fence>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Request<Body>> for Fenced {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if req.method() != Method::GET
            && let Err(e) = self.fence.check()
        {
            let detail = match e {
                BackendError::Fenced { detail } => detail,
                other => other.to_string(),
            };
            return Box::pin(async move { Err(Box::new(FenceLost { detail }) as BoxError) });
        }
        let client = self.client.clone();
        Box::pin(async move { client.send(req).await.map_err(|e| Box::new(e) as BoxError) })
    }
}

/// `client`, with every write request checked against `fence` first.
pub fn fenced_client(client: kube::Client, fence: Arc<dyn Fence>) -> kube::Client {
    let namespace = client.default_namespace().to_owned();
    kube::Client::new(Fenced { client, fence }, namespace)
}

/// The [`FenceLost`] inside a client error, if that is what it is.
pub fn fence_lost(err: &kube::Error) -> Option<&FenceLost> {
    let kube::Error::Service(e) = err else {
        return None;
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
    while let Some(s) = source {
        if let Some(f) = s.downcast_ref::<FenceLost>() {
            return Some(f);
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Api;
    use kube::api::PostParams;

    use super::*;

    struct Switch(AtomicBool);
    impl Fence for Switch {
        fn check(&self) -> Result<(), BackendError> {
            if self.0.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(BackendError::Fenced {
                    detail: "replica `b` is not the leader".into(),
                })
            }
        }
    }

    #[tokio::test]
    async fn writes_stop_at_the_fence_reads_go_through() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let svc = tower::service_fn(move |req: Request<Body>| {
            log.lock().unwrap().push(req.method().clone());
            async move {
                let body = Body::from(
                    br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","resourceVersion":"1"}}"#
                        .to_vec(),
                );
                Ok::<_, std::convert::Infallible>(
                    Response::builder().status(200).body(body).unwrap(),
                )
            }
        });
        let fence = Arc::new(Switch(AtomicBool::new(false)));
        let client = fenced_client(kube::Client::new(svc, "ns"), fence.clone());
        let api: Api<ConfigMap> = Api::namespaced(client, "ns");
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("x".into());
        let err = api.create(&PostParams::default(), &cm).await.unwrap_err();
        assert_eq!(
            fence_lost(&err).map(|f| f.detail.as_str()),
            Some("replica `b` is not the leader")
        );
        assert_eq!(
            crate::error::to_backend(&err, "config map `x`"),
            BackendError::Fenced {
                detail: "replica `b` is not the leader".into()
            }
        );
        assert!(!crate::error::is_retryable(&err));
        api.get("x").await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![Method::GET],
            "the write never left"
        );
        fence.0.store(true, Ordering::SeqCst);
        api.create(&PostParams::default(), &cm).await.unwrap();
        assert_eq!(seen.lock().unwrap().last(), Some(&Method::POST));
    }
}
