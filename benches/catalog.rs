//! Sort, pair and judge readiness of a 100 000-record catalog (50 000 backups per plane).
//!
//! Run with `cargo bench -p cnpg-backup-benches --bench catalog`. The target is under 50 ms for
//! the three steps together (`catalog/sort_pair_readiness_100k`).

use std::hint::black_box;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cnpg_backup_core::automation::BackupMethod;
use cnpg_backup_core::catalog::{
    BackupPhase, BackupRecord, BackupSetId, DEFAULT_MAX_START_GAP, StoragePresence, pair_sets,
    restore_readiness, sort_newest_first,
};
use cnpg_backup_core::drift::{AppVersion, VersionPolicy};
use cnpg_backup_core::names::{ClusterName, Plane};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const PER_PLANE: usize = 50_000;

/// A deterministic catalog: hourly scheduled backups, some on-demand ones without a partner,
/// a few without set ids, failures and unknown storage, in shuffled order.
fn catalog(plane: Plane) -> Vec<BackupRecord> {
    let cluster = ClusterName::default_for(plane);
    let sb = format!("{cluster}-cnpg-backup");
    let base: DateTime<Utc> = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let versions: Vec<AppVersion> = ["1.0.0", "1.1.0", "1.2.3", "2.0.0"]
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let mut out: Vec<BackupRecord> = (0..PER_PLANE)
        .map(|i| {
            let slot = base + TimeDelta::hours(i as i64);
            let name = format!("{sb}-{}", slot.format("%Y%m%d%H%M%S"));
            let mut r =
                BackupRecord::new(name.parse().unwrap(), cluster.clone(), BackupMethod::Plugin);
            r.plane = Some(plane);
            let skew = match plane {
                Plane::Admin => 0,
                Plane::Tenant => (i % 7) as i64 * 20,
            };
            let start = slot + TimeDelta::seconds(skew);
            r.started_at = Some(start);
            r.ended_at = (i % 97 != 0).then(|| start + TimeDelta::minutes(3));
            r.phase = if i % 50 == 0 {
                BackupPhase::Failed
            } else {
                BackupPhase::Completed
            };
            r.storage = match i % 40 {
                0 => StoragePresence::Missing,
                1 => StoragePresence::Unknown,
                _ => StoragePresence::Present,
            };
            r.backup_id = Some(
                format!("{}", start.format("%Y%m%dT%H%M%S"))
                    .parse()
                    .unwrap(),
            );
            r.app_version = (i % 31 != 0).then(|| versions[i % versions.len()].clone());
            r.backup_set_id = match i % 23 {
                0 => None,
                1 => Some(
                    BackupSetId::on_demand(start, if plane == Plane::Admin { "a" } else { "b" })
                        .unwrap(),
                ),
                _ => Some(BackupSetId::scheduled_at(slot).unwrap()),
            };
            r
        })
        .collect();
    // A fixed shuffle (multiplicative step coprime with the length).
    let n = out.len();
    let shuffled: Vec<BackupRecord> = (0..n).map(|i| out[(i * 7919) % n].clone()).collect();
    out.clone_from(&shuffled);
    out
}

fn bench(c: &mut Criterion) {
    let admin = catalog(Plane::Admin);
    let tenant = catalog(Plane::Tenant);
    let running: AppVersion = "1.2.3".parse().unwrap();

    let mut group = c.benchmark_group("catalog");
    group.sample_size(20);
    group.bench_function("sort_pair_readiness_100k", |b| {
        // `iter_batched_ref`: cloning the input and dropping it afterwards are not measured.
        b.iter_batched_ref(
            || (admin.clone(), tenant.clone()),
            |(a, t)| {
                sort_newest_first(a);
                sort_newest_first(t);
                let pairs = pair_sets(a, t, DEFAULT_MAX_START_GAP);
                let ready = a
                    .iter()
                    .chain(t.iter())
                    .filter(|r| {
                        restore_readiness(r, Some(&running), VersionPolicy::SameMajor, false).ready
                    })
                    .count();
                black_box((pairs.len(), ready))
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("sort_100k", |b| {
        b.iter_batched_ref(
            || {
                let mut all = admin.clone();
                all.extend(tenant.iter().cloned());
                all
            },
            |all| {
                sort_newest_first(all);
                black_box(all.len())
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("pair_100k", |b| {
        b.iter(|| black_box(pair_sets(&admin, &tenant, DEFAULT_MAX_START_GAP).len()));
    });
    group.bench_function("readiness_100k", |b| {
        b.iter(|| {
            admin
                .iter()
                .chain(tenant.iter())
                .filter(|r| {
                    restore_readiness(r, Some(&running), VersionPolicy::SameMajor, false).ready
                })
                .count()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
