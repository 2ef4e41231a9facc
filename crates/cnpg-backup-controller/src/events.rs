//! Events on a plane's Cluster when a backup fails or a reconcile errors, deduplicated.
//!
//! The loop decides what to report ([`ClusterEvent`], with a stable `key`); an [`EventSink`]
//! publishes it: as a Kubernetes Event (`crate::kube::KubeEvents`, events.k8s.io/v1, named
//! after the key so a second replica or a restarted process creating the same event gets a
//! conflict instead of a duplicate) or in memory ([`RecordedEvents`], the embedded default).
//! A condition that lasts is published again at most every [`REPEAT_AFTER`], not at each
//! resync.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use cnpg_backup_core::names::ClusterName;
use cnpg_backup_core::ports::BackendError;

/// A condition that persists is reported again after this long (Kubernetes keeps Events
/// for an hour by default).
pub const REPEAT_AFTER: Duration = Duration::minutes(30);

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something went as it should.
    Normal,
    /// Something needs attention.
    Warning,
}

impl EventType {
    /// As Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Something to tell about a Cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterEvent {
    /// The Cluster it is about.
    pub cluster: ClusterName,
    /// `Normal` or `Warning`.
    pub kind: EventType,
    /// A CamelCase reason, e.g. `BackupFailed`.
    pub reason: &'static str,
    /// What the loop was doing, e.g. `Reconcile`.
    pub action: &'static str,
    /// For people (at most 1 KiB).
    pub message: String,
    /// The Backup it is about, when there is one.
    pub backup: Option<String>,
    /// What makes two events the same: publishing the same key again bumps a count.
    pub key: String,
    /// When it was observed.
    pub at: DateTime<Utc>,
    /// How many times it was observed (1 the first time).
    pub count: u32,
}

/// The most bytes of a message (events.k8s.io/v1 `note`).
pub const MESSAGE_MAX_BYTES: usize = 1024;

impl ClusterEvent {
    /// An event; the message is cut to [`MESSAGE_MAX_BYTES`] on a character boundary.
    pub fn new(
        cluster: ClusterName,
        kind: EventType,
        reason: &'static str,
        action: &'static str,
        message: impl Into<String>,
        key: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        let mut message: String = message.into();
        if message.len() > MESSAGE_MAX_BYTES {
            let mut end = MESSAGE_MAX_BYTES - 3;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        Self {
            cluster,
            kind,
            reason,
            action,
            message,
            backup: None,
            key: key.into(),
            at,
            count: 1,
        }
    }

    /// The same event about a Backup.
    pub fn about_backup(mut self, backup: impl Into<String>) -> Self {
        self.backup = Some(backup.into());
        self
    }
}

/// Where events go.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes `event`: creates it, or bumps the count of the same key.
    ///
    /// # Errors
    /// [`BackendError`] when it cannot be written (the loop logs it and carries on).
    async fn publish(&self, event: &ClusterEvent) -> Result<(), BackendError>;
}

/// Events kept in memory and logged (the embedded default, tests).
#[derive(Debug, Default, Clone)]
pub struct RecordedEvents {
    events: Arc<Mutex<Vec<ClusterEvent>>>,
}

impl RecordedEvents {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event published, in order.
    pub fn all(&self) -> Vec<ClusterEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl EventSink for RecordedEvents {
    async fn publish(&self, event: &ClusterEvent) -> Result<(), BackendError> {
        tracing::warn!(
            cluster = %event.cluster,
            reason = event.reason,
            count = event.count,
            "{}",
            event.message
        );
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event.clone());
        Ok(())
    }
}

/// What was reported, so a condition is told once (and again after [`REPEAT_AFTER`] while it
/// lasts), not at each resync.
#[derive(Debug, Default)]
pub struct Reported {
    last: BTreeMap<String, (DateTime<Utc>, u32)>,
}

impl Reported {
    /// Whether `key` is due for publishing at `now`, and with which count. `None`: it was
    /// told less than [`REPEAT_AFTER`] ago.
    pub fn due(&self, key: &str, now: DateTime<Utc>) -> Option<u32> {
        match self.last.get(key) {
            None => Some(1),
            Some((at, n)) if now - *at >= REPEAT_AFTER => Some(n.saturating_add(1)),
            Some(_) => None,
        }
    }

    /// Records that `key` was published at `now` with `count`.
    pub fn told(&mut self, key: &str, now: DateTime<Utc>, count: u32) {
        self.last.insert(key.to_owned(), (now, count));
    }

    /// Whether `key` was ever told.
    pub fn knows(&self, key: &str) -> bool {
        self.last.contains_key(key)
    }

    /// Forgets the keys starting with `prefix` that are not in `keep` (conditions that ended).
    pub fn retain_prefix(&mut self, prefix: &str, keep: &[String]) {
        self.last
            .retain(|k, _| !k.starts_with(prefix) || keep.iter().any(|kk| kk == k));
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn told_once_then_again_only_after_the_repeat_interval() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
        let mut r = Reported::default();
        assert_eq!(r.due("reconcile/admin/x", t), Some(1));
        r.told("reconcile/admin/x", t, 1);
        assert_eq!(r.due("reconcile/admin/x", t + Duration::minutes(10)), None);
        assert_eq!(
            r.due("reconcile/admin/x", t + Duration::minutes(30)),
            Some(2)
        );
        r.retain_prefix("reconcile/", &[]);
        assert!(!r.knows("reconcile/admin/x"));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
        let e = ClusterEvent::new(
            "cnpg-admin".parse().unwrap(),
            EventType::Warning,
            "ReconcileFailed",
            "Reconcile",
            "é".repeat(800),
            "k",
            t,
        );
        assert!(e.message.len() <= MESSAGE_MAX_BYTES);
        assert!(e.message.ends_with("..."));
    }
}
