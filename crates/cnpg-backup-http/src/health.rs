//! `/healthz` (the process answers) and `/readyz` (every readiness condition holds), for
//! probes. `serve` mounts them at the root, beside the API; a control loop adds its own
//! conditions (e.g. "watches synced") with [`Health::condition`] and sets them as it goes, or
//! hands over a [`Health::probe`] asked at each `/readyz` (a readiness that depends on time, such
//! as a lease that runs out).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

/// What a probe answers: the reasons it is not ready (empty: ready).
type Probe = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Named readiness conditions and probes; ready when all hold.
#[derive(Clone, Default)]
pub struct Health {
    conditions: Arc<Mutex<BTreeMap<String, bool>>>,
    probes: Arc<Mutex<Vec<Probe>>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("unmet", &self.unmet())
            .finish_non_exhaustive()
    }
}

impl Health {
    /// No condition yet: ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or adds) the condition `name`.
    pub fn condition(&self, name: &str, holds: bool) {
        self.conditions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), holds);
    }

    /// Adds a probe, asked at each `/readyz`: the reasons it gives are unmet conditions.
    pub fn probe(&self, probe: impl Fn() -> Vec<String> + Send + Sync + 'static) {
        self.probes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::new(probe));
    }

    /// The conditions that do not hold, then the probes' reasons.
    pub fn unmet(&self) -> Vec<String> {
        let mut unmet: Vec<String> = self
            .conditions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, holds)| !**holds)
            .map(|(n, _)| n.clone())
            .collect();
        let probes: Vec<Probe> = self
            .probes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for p in probes {
            unmet.extend(p());
        }
        unmet
    }

    /// `/healthz` and `/readyz` (plain text: `ok`, or the unmet conditions with 503).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .with_state(self.clone())
    }
}

async fn readyz(State(h): State<Health>) -> (StatusCode, String) {
    let unmet = h.unmet();
    if unmet.is_empty() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", unmet.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_every_condition_holds() {
        let h = Health::new();
        assert!(h.unmet().is_empty());
        h.condition("shutting down", true);
        h.condition("watches synced", false);
        assert_eq!(h.unmet(), vec!["watches synced".to_owned()]);
        h.condition("watches synced", true);
        assert!(h.unmet().is_empty());
    }

    #[test]
    fn a_probe_is_asked_at_each_look() {
        let h = Health::new();
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = lost.clone();
        h.probe(move || {
            if seen.load(std::sync::atomic::Ordering::SeqCst) {
                vec!["leader without the lease".to_owned()]
            } else {
                Vec::new()
            }
        });
        assert!(h.unmet().is_empty());
        lost.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(h.unmet(), vec!["leader without the lease".to_owned()]);
    }
}
