//! The port contract suite: checks every implementation of a port must pass.
//!
//! Each function takes a fresh implementation (and, where needed, names that are free to use)
//! and panics with a message naming the broken clause. The in-memory fakes run them in unit
//! tests; the real adapters run them in their integration tests with the `contract` feature.
//! The functions are async and runtime-agnostic.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::automation::AutomationPlan;
use crate::names::{ClusterName, Plane, RestoreId};
use crate::ports::{
    BackendError, BackupAutomation, BucketObjects, ClusterLifecycle, ClusterManifest,
    STATE_DOCUMENT_MAX_BYTES, StateKey, StateStore,
};
use crate::restore::{RecoveryClusterSpec, RecoveryTarget};
use crate::status::ReconcileState;

/// [`StateStore`]: absent keys, create-only writes, revision checks, size limit, restore listing.
/// `store` must be empty.
pub async fn state_store<S: StateStore + ?Sized>(store: &S) {
    let key = StateKey::Settings;
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "an absent key reads as None"
    );

    let r1 = store.put(&key, "{\"v\":1}", None).await.unwrap();
    let got = store
        .get(&key)
        .await
        .unwrap()
        .expect("written document is readable");
    assert_eq!(got.body, "{\"v\":1}");
    assert_eq!(got.revision, r1, "get returns the revision put returned");

    let again = store.put(&key, "{\"v\":9}", None).await;
    assert!(
        matches!(again, Err(BackendError::Conflict { .. })),
        "creating an existing key MUST be a conflict, got {again:?}"
    );

    let r2 = store.put(&key, "{\"v\":2}", Some(&r1)).await.unwrap();
    assert_ne!(r1, r2, "a write changes the revision");
    let stale = store.put(&key, "{\"v\":3}", Some(&r1)).await;
    assert!(
        matches!(stale, Err(BackendError::Conflict { .. })),
        "a stale revision MUST be a conflict, got {stale:?}"
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap().body, "{\"v\":2}");

    let big = "x".repeat(STATE_DOCUMENT_MAX_BYTES + 1);
    let too_big = store.put(&StateKey::PreflightReport, &big, None).await;
    assert!(
        matches!(too_big, Err(BackendError::Invalid { .. })),
        "an oversized document MUST be invalid, got {too_big:?}"
    );

    let a: RestoreId = "contract-a".parse().unwrap();
    let b: RestoreId = "contract-b".parse().unwrap();
    store
        .put(&StateKey::Restore(a.clone()), "{}", None)
        .await
        .unwrap();
    store
        .put(&StateKey::Restore(b.clone()), "{}", None)
        .await
        .unwrap();
    let mut ids = store.list_restores().await.unwrap();
    ids.sort();
    assert_eq!(
        ids,
        vec![a, b],
        "list_restores lists exactly the restore records"
    );
}

/// [`BucketObjects`]: put/get/overwrite, NotFound, ordered recursive listing, idempotent delete.
/// Keys are written under `prefix` (use a fresh one per run).
pub async fn bucket_objects<B: BucketObjects + ?Sized>(bucket: &B, prefix: &str) {
    let k = |s: &str| format!("{prefix}/{s}");
    let missing = bucket.get(&k("missing")).await;
    assert!(
        matches!(missing, Err(BackendError::NotFound { .. })),
        "reading a missing object MUST be NotFound, got {missing:?}"
    );
    bucket.put(&k("b/2"), b"two".to_vec()).await.unwrap();
    bucket.put(&k("a/1"), b"one".to_vec()).await.unwrap();
    bucket.put(&k("b/1/deep"), b"deep".to_vec()).await.unwrap();
    bucket.put(&k("a/1"), b"uno".to_vec()).await.unwrap();
    assert_eq!(
        bucket.get(&k("a/1")).await.unwrap(),
        b"uno",
        "put overwrites"
    );
    let listed = bucket.list(&format!("{prefix}/")).await.unwrap();
    assert_eq!(
        listed,
        vec![k("a/1"), k("b/1/deep"), k("b/2")],
        "list is recursive and in lexical order"
    );
    assert_eq!(
        bucket.list(&k("b/")).await.unwrap(),
        vec![k("b/1/deep"), k("b/2")]
    );
    bucket.delete(&k("b/2")).await.unwrap();
    bucket
        .delete(&k("b/2"))
        .await
        .expect("deleting a missing object MUST be Ok");
    assert!(matches!(
        bucket.get(&k("b/2")).await,
        Err(BackendError::NotFound { .. })
    ));
}

fn spec(name: &ClusterName, restore: &RestoreId, source: &ClusterName) -> RecoveryClusterSpec {
    RecoveryClusterSpec::new(
        name.clone(),
        Plane::Admin,
        restore.clone(),
        source.clone(),
        source.default_server_name(),
        RecoveryTarget::PointInTime {
            target_time: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            backup_id: None,
        },
        crate::names::fresh_server_name(name, restore).unwrap(),
        Some(1),
        Default::default(),
        false,
    )
}

/// [`ClusterLifecycle`]: observe/manifest of absent clusters, idempotent create for the same
/// restore, AlreadyExists for another, the restore label, idempotent delete. `live` must exist;
/// `free` must not.
pub async fn cluster_lifecycle<L: ClusterLifecycle + ?Sized>(
    lifecycle: &L,
    live: &ClusterName,
    free: &ClusterName,
) {
    assert_eq!(
        lifecycle.observe(free).await.unwrap(),
        None,
        "an absent cluster observes as None"
    );
    let m = lifecycle.manifest(free).await;
    assert!(
        matches!(m, Err(BackendError::NotFound { .. })),
        "manifest of an absent cluster MUST be NotFound, got {m:?}"
    );
    let base: ClusterManifest = lifecycle.manifest(live).await.unwrap();
    let ours: RestoreId = "contract-ours".parse().unwrap();
    let theirs: RestoreId = "contract-theirs".parse().unwrap();
    lifecycle
        .create(&base, &spec(free, &ours, live))
        .await
        .unwrap();
    let o = lifecycle
        .observe(free)
        .await
        .unwrap()
        .expect("a created cluster is observed");
    assert_eq!(
        o.restore_id.as_ref(),
        Some(&ours),
        "the restore id is observed"
    );
    lifecycle
        .create(&base, &spec(free, &ours, live))
        .await
        .expect("a retried create of our own cluster MUST be Ok");
    let clash = lifecycle.create(&base, &spec(free, &theirs, live)).await;
    assert!(
        matches!(clash, Err(BackendError::AlreadyExists { .. })),
        "creating over another restore's cluster MUST be AlreadyExists, got {clash:?}"
    );
    let live_clash = lifecycle.create(&base, &spec(live, &ours, live)).await;
    assert!(
        matches!(live_clash, Err(BackendError::AlreadyExists { .. })),
        "creating over a live cluster MUST be AlreadyExists, got {live_clash:?}"
    );
    lifecycle.delete(free).await.unwrap();
    lifecycle
        .delete(free)
        .await
        .expect("deleting a missing cluster MUST be Ok");
    let gone = lifecycle.observe(free).await.unwrap();
    assert!(
        gone.is_none() || gone.is_some_and(|o| o.deleting),
        "a deleted cluster is gone or being deleted"
    );
}

/// [`BackupAutomation`]: applying each plan succeeds for every plane it names, and applying the
/// same plan again is converged: every plane reports zero writes. `plans` are applied in order
/// (e.g. enabled, then disabled, then enabled again), each twice; the clusters they name must exist.
pub async fn backup_automation<A: BackupAutomation + ?Sized>(
    automation: &A,
    plans: &[AutomationPlan],
) {
    for (i, plan) in plans.iter().enumerate() {
        let first = automation.apply(plan, None).await.unwrap();
        for p in &first {
            assert_eq!(
                p.state,
                ReconcileState::Ok,
                "plan {i}: applying it MUST succeed for {} ({:?})",
                p.plane,
                p.error
            );
        }
        let planes: std::collections::BTreeSet<Plane> = plan
            .planes
            .iter()
            .map(|p| p.plane)
            .chain(plan.removals.iter().map(|r| r.plane))
            .collect();
        for plane in &planes {
            assert!(
                first.iter().any(|p| p.plane == *plane),
                "plan {i}: the {plane} plane MUST get a status"
            );
        }
        let again = automation.apply(plan, None).await.unwrap();
        for p in &again {
            assert_eq!(
                (p.state, p.writes),
                (ReconcileState::Ok, 0),
                "plan {i}: a converged apply MUST write nothing ({} plane: {:?})",
                p.plane,
                p.error
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use crate::memory::{InMemoryBucket, InMemoryStateStore, Simulator};

    fn settings() -> crate::automation::BackupSettings {
        serde_json::from_value(serde_json::json!({
            "target": {"provider": "local", "bucket": "b", "credentials": {"kind": "none"}},
            "automation": {"enabled": true, "schedule": {"preset": "daily", "hour": 2, "minute": 0}, "retention": "30d"},
            "appVersion": {"kind": "unknown"}
        }))
        .unwrap()
    }

    #[test]
    fn in_memory_state_store_passes() {
        block_on(super::state_store(&InMemoryStateStore::new()));
    }

    #[test]
    fn in_memory_bucket_passes() {
        block_on(super::bucket_objects(&InMemoryBucket::new(), "contract"));
    }

    #[test]
    fn simulator_automation_passes() {
        let on = settings();
        let mut off = settings();
        off.automation.enabled = false;
        let mut unused = settings();
        unused.target.use_for_backups = false;
        let plans: Vec<_> = [&on, &off, &on, &unused]
            .into_iter()
            .map(|s| crate::automation::plan(s).unwrap())
            .collect();
        block_on(super::backup_automation(&Simulator::new(&on), &plans));
    }

    #[test]
    fn simulator_lifecycle_passes() {
        let sim = Simulator::new(&settings());
        block_on(super::cluster_lifecycle(
            &sim,
            &"cnpg-admin".parse().unwrap(),
            &"contract-free".parse().unwrap(),
        ));
    }
}
