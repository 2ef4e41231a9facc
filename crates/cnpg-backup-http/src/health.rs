//! `/healthz` (the process answers) and `/readyz` (every readiness condition holds), for
//! probes. `serve` mounts them at the root, beside the API; a control loop adds its own
//! conditions (e.g. "watches synced") with [`Health::condition`] and sets them as it goes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

/// Named readiness conditions; ready when all hold.
#[derive(Debug, Clone, Default)]
pub struct Health {
    conditions: Arc<Mutex<BTreeMap<String, bool>>>,
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

    /// The conditions that do not hold.
    pub fn unmet(&self) -> Vec<String> {
        self.conditions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, holds)| !**holds)
            .map(|(n, _)| n.clone())
            .collect()
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
}
