//! The loop on a Kubernetes cluster: watches ([`watch`]), the leader lease ([`lease`]), Events
//! ([`events`]), and [`KubeLoop`], which wires them around the same [`Controller`] as on the
//! embedded default.
//!
//! Writes go through a fenced client (`cnpg_backup_kube::fence`) and fenced ports
//! (`Backend::with_fence`): a replica writes only while it holds the lease. The lease itself is
//! written through the plain client; watches are reads.

pub mod events;
pub mod lease;
pub mod manifests;
pub mod watch;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc;

use cnpg_backup_app::Backend;
use cnpg_backup_core::ports::Fence;
use cnpg_backup_kube::KubeScope;
use cnpg_backup_kube::fence::fenced_client;

use crate::controller::Controller;
use crate::health::Health;
use crate::lease::{Elector, LeaseConfig, TokioClock, campaign};
use crate::metrics::Metrics;
use crate::timer::{Timer, WallTimer};
use crate::trigger::{Timing, WatchKind};

/// The loop of one replica in one namespace.
pub struct KubeLoop {
    client: kube::Client,
    namespace: String,
    elector: Elector,
    controller: Controller,
    timer: WallTimer,
}

impl std::fmt::Debug for KubeLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeLoop")
            .field("namespace", &self.namespace)
            .field("elector", &self.elector)
            .finish_non_exhaustive()
    }
}

impl KubeLoop {
    /// A replica in `namespace` electing itself on the Lease `lease_name` with `lease`
    /// settings (its identity names it in the Lease and in Events).
    pub fn new(
        client: kube::Client,
        namespace: &str,
        lease_name: &str,
        lease: LeaseConfig,
        timing: Timing,
    ) -> Self {
        let timer = WallTimer::new();
        let store = Arc::new(lease::KubeLeaseStore::new(
            client.clone(),
            namespace,
            lease_name,
        ));
        let identity = lease.identity.clone();
        let elector = Elector::new(
            lease,
            store,
            Arc::new(TokioClock::new()),
            Arc::new(cnpg_backup_kube::SystemClock),
        );
        let fence: Arc<dyn Fence> = Arc::new(elector.fence());
        let fenced = fenced_client(client.clone(), fence.clone());
        let backend =
            Backend::kube(KubeScope::new(fenced.clone(), namespace)).with_fence(fence.clone());
        let controller = Controller::new(Arc::new(backend), timer.now())
            .with_timing(timing, timer.now())
            .with_fence(fence.clone())
            .with_health(Health::new(WatchKind::ALL, fence))
            .with_events(Arc::new(events::KubeEvents::new(
                fenced, namespace, identity,
            )));
        Self {
            client,
            namespace: namespace.to_owned(),
            elector,
            controller,
            timer,
        }
    }

    /// Tells `listener` about each restore the loop changed or saw change.
    pub fn with_restore_listener(mut self, listener: crate::RestoreListener) -> Self {
        self.controller = self.controller.with_restore_listener(listener);
        self
    }

    /// This replica's identity in the Lease and in Events.
    pub fn identity(&self) -> &str {
        &self.elector.config().identity
    }

    /// The metrics, for `/metrics`.
    pub fn metrics(&self) -> Metrics {
        self.controller.metrics()
    }

    /// The readiness, for `/readyz`.
    pub fn health(&self) -> Health {
        self.controller.health()
    }

    /// Runs until `shutdown` completes: the work in progress finishes (a restore step is
    /// resumable anyway), then the lease is released so another replica takes over at once.
    pub async fn run<F>(self, shutdown: F)
    where
        F: Future<Output = ()> + Send,
    {
        let KubeLoop {
            client,
            namespace,
            elector,
            mut controller,
            timer,
        } = self;
        let (tx, rx) = mpsc::unbounded();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let election = tokio::spawn(campaign(elector, tx, async move {
            let _ = stop_rx.await;
        }));
        let triggers = futures::stream::select(watch::triggers(client, &namespace), rx);
        controller.run(triggers.boxed(), &timer, shutdown).await;
        let _ = stop_tx.send(());
        if let Err(e) = election.await {
            tracing::warn!(error = %e, "the leader election task ended badly");
        }
    }
}
