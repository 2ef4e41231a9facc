//! An in-memory bucket and a Barman-aware bucket probe over any [`BucketObjects`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::lock;
use crate::barman::{BackupInfo, BucketBackup, base_prefix, wals_prefix};
use crate::catalog::{BarmanBackupId, StoragePresence};
use crate::names::ServerName;
use crate::ports::{BackendError, BucketObjects, BucketProbe, PreflightOptions};
use crate::provenance::{
    BackupProvenance, PROVENANCE_FILE, Provenance, ProvenanceWrite, provenance_key,
};
use crate::status::{PreflightCheck, PreflightReport, PreflightStep, StepVerdict};
use crate::target::ObjectStoreTarget;

#[derive(Debug, Default)]
struct BucketState {
    objects: BTreeMap<String, Vec<u8>>,
    faults: VecDeque<BackendError>,
    lists: u64,
}

/// Objects in memory, keyed by path.
#[derive(Debug, Default)]
pub struct InMemoryBucket {
    state: Mutex<BucketState>,
}

impl InMemoryBucket {
    /// An empty bucket.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next call of any method fails with `error` (faults are used in order).
    pub fn fail_next(&self, error: BackendError) {
        lock(&self.state).faults.push_back(error);
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.state).objects.keys().cloned().collect()
    }

    /// How many `list` calls were made.
    pub fn list_calls(&self) -> u64 {
        lock(&self.state).lists
    }

    fn fault(&self) -> Result<(), BackendError> {
        match lock(&self.state).faults.pop_front() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl BucketObjects for InMemoryBucket {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        self.fault()?;
        lock(&self.state).objects.insert(key.to_owned(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        self.fault()?;
        lock(&self.state)
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| BackendError::NotFound {
                what: format!("object `{key}`"),
            })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        self.fault()?;
        let mut s = lock(&self.state);
        s.lists += 1;
        Ok(s.objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.fault()?;
        lock(&self.state).objects.remove(key);
        Ok(())
    }
}

/// A [`BucketProbe`] that reads Barman's layout through a [`BucketObjects`]. It cannot check
/// secrets or networks, so those steps pass with a note; the bucket steps are real.
pub struct BarmanBucketProbe<B: ?Sized> {
    objects: Arc<B>,
}

impl<B: ?Sized> BarmanBucketProbe<B> {
    /// A probe over `objects`.
    pub fn new(objects: Arc<B>) -> Self {
        Self { objects }
    }
}

impl<B: ?Sized> std::fmt::Debug for BarmanBucketProbe<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarmanBucketProbe").finish_non_exhaustive()
    }
}

fn prefix_of(target: &ObjectStoreTarget) -> String {
    target.prefix.trim_matches('/').to_owned()
}

/// The backup id folder of a key under `<prefix>/<server>/base/`.
fn backup_folder(base: &str, key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix(base)?;
    let (id, file) = rest.split_once('/')?;
    Some((id.to_owned(), file.to_owned()))
}

#[async_trait::async_trait]
impl<B: BucketObjects + ?Sized> BucketProbe for BarmanBucketProbe<B> {
    async fn preflight(
        &self,
        target: &ObjectStoreTarget,
        options: &PreflightOptions,
        now: DateTime<Utc>,
    ) -> PreflightReport {
        let prefix = prefix_of(target);
        let mut steps = Vec::new();
        let step = |check, verdict, detail: String| {
            PreflightStep::new(check, verdict, detail, Duration::ZERO)
        };
        steps.push(step(
            PreflightCheck::Configuration,
            if target.bucket.trim().is_empty() {
                StepVerdict::Failed
            } else {
                StepVerdict::Passed
            },
            format!("bucket `{}`", target.bucket),
        ));
        steps.push(step(
            PreflightCheck::SecretsResolve,
            StepVerdict::Passed,
            "in-memory bucket: no secrets to resolve".to_owned(),
        ));
        steps.push(step(
            PreflightCheck::EndpointReachable,
            StepVerdict::Passed,
            "in-memory bucket: always reachable".to_owned(),
        ));
        let listing = self.objects.list(&prefix).await;
        steps.push(match &listing {
            Ok(_) => step(
                PreflightCheck::BucketAccess,
                StepVerdict::Passed,
                "bucket opened".to_owned(),
            ),
            Err(e) => step(
                PreflightCheck::BucketAccess,
                StepVerdict::Failed,
                e.to_string(),
            ),
        });
        steps.push(match &listing {
            Ok(keys) => step(
                PreflightCheck::ListPrefix,
                StepVerdict::Passed,
                format!("{} objects under `{prefix}`", keys.len()),
            ),
            Err(e) => step(
                PreflightCheck::ListPrefix,
                StepVerdict::Failed,
                e.to_string(),
            ),
        });
        if options.read_only {
            steps.push(step(
                PreflightCheck::WriteProbe,
                StepVerdict::Skipped,
                "read-only run".to_owned(),
            ));
        } else {
            let key = format!(
                "{}.cnpg-backup-probe-{}",
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                },
                now.timestamp()
            );
            let payload = b"cnpg-backup preflight".to_vec();
            let result = async {
                self.objects.put(&key, payload.clone()).await?;
                let back = self.objects.get(&key).await?;
                self.objects.delete(&key).await?;
                if back == payload {
                    Ok(())
                } else {
                    Err(BackendError::Invalid {
                        detail: "read back different bytes".to_owned(),
                    })
                }
            }
            .await;
            steps.push(match result {
                Ok(()) => step(
                    PreflightCheck::WriteProbe,
                    StepVerdict::Passed,
                    "put, get, compare and delete succeeded".to_owned(),
                ),
                Err(e) => step(
                    PreflightCheck::WriteProbe,
                    StepVerdict::Failed,
                    e.to_string(),
                ),
            });
        }
        for server in &options.restore_servers {
            let mut used = Vec::new();
            for p in [base_prefix(&prefix, server), wals_prefix(&prefix, server)] {
                match self.objects.list(&p).await {
                    Ok(keys) => used.extend(keys),
                    Err(e) => {
                        used.push(format!("listing failed: {e}"));
                    }
                }
            }
            steps.push(if used.is_empty() {
                step(
                    PreflightCheck::RestoreArchiveEmpty,
                    StepVerdict::Passed,
                    format!("archive `{server}` is empty"),
                )
            } else {
                step(
                    PreflightCheck::RestoreArchiveEmpty,
                    StepVerdict::Failed,
                    format!(
                        "archive `{server}` is not empty ({} objects); CNPG would refuse it: use a fresh server name",
                        used.len()
                    ),
                )
            });
        }
        for server in &options.live_servers {
            let found = self
                .objects
                .list(&base_prefix(&prefix, server))
                .await
                .map(|keys| keys.iter().filter(|k| k.ends_with("/backup.info")).count());
            steps.push(match found {
                Ok(n) if n > 0 => step(
                    PreflightCheck::LiveArchiveHasBackups,
                    StepVerdict::Passed,
                    format!("archive `{server}` has {n} backups"),
                ),
                Ok(_) => step(
                    PreflightCheck::LiveArchiveHasBackups,
                    StepVerdict::Failed,
                    format!("archive `{server}` has no backups yet; run a backup first"),
                ),
                Err(e) => step(
                    PreflightCheck::LiveArchiveHasBackups,
                    StepVerdict::Failed,
                    e.to_string(),
                ),
            });
        }
        // Stop at the first failure: later steps are skipped.
        let mut failed = false;
        for s in &mut steps {
            if failed {
                s.verdict = StepVerdict::Skipped;
                s.detail = "skipped: an earlier step failed".to_owned();
            } else if s.verdict == StepVerdict::Failed {
                failed = true;
            }
        }
        PreflightReport::from_steps(now, steps)
    }

    async fn presence(
        &self,
        target: &ObjectStoreTarget,
        server: &ServerName,
        ids: &[BarmanBackupId],
    ) -> Result<BTreeMap<BarmanBackupId, StoragePresence>, BackendError> {
        let base = base_prefix(&prefix_of(target), server);
        let keys = self.objects.list(&base).await?;
        let present: BTreeSet<String> = keys
            .iter()
            .filter_map(|k| backup_folder(&base, k))
            .filter(|(_, file)| file == "backup.info")
            .map(|(id, _)| id)
            .collect();
        Ok(ids
            .iter()
            .map(|id| {
                let p = if present.contains(id.as_str()) {
                    StoragePresence::Present
                } else {
                    StoragePresence::Missing
                };
                (id.clone(), p)
            })
            .collect())
    }

    async fn bucket_catalog<'a>(
        &self,
        target: &ObjectStoreTarget,
        servers: Option<&'a [ServerName]>,
    ) -> Result<Vec<BucketBackup>, BackendError> {
        let prefix = prefix_of(target);
        let root = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        let keys = self.objects.list(&root).await?;
        // <root><server>/base/<id>/<file>: (has backup.info, has our record, has Barman files)
        let mut folders: BTreeMap<(String, String), (bool, bool, bool)> = BTreeMap::new();
        for key in &keys {
            let Some(rest) = key.strip_prefix(&root) else {
                continue;
            };
            let parts: Vec<&str> = rest.splitn(4, '/').collect();
            if let [server, "base", id, file] = parts.as_slice() {
                let e = folders
                    .entry(((*server).to_owned(), (*id).to_owned()))
                    .or_insert((false, false, false));
                e.0 |= *file == "backup.info";
                e.1 |= *file == PROVENANCE_FILE;
                e.2 |= *file != PROVENANCE_FILE;
            }
        }
        let mut out = Vec::new();
        for ((server, id), (has_info, has_record, barman)) in folders {
            let (Ok(server), Ok(backup_id)) =
                (server.parse::<ServerName>(), id.parse::<BarmanBackupId>())
            else {
                continue;
            };
            if servers.is_some_and(|s| !s.contains(&server)) || !barman {
                // Another server, or only our record left (not a backup).
                continue;
            }
            let provenance = if has_record {
                match self
                    .objects
                    .get(&provenance_key(&prefix, &server, &backup_id))
                    .await
                {
                    Ok(bytes) => Provenance::from_bytes(&bytes, &server, &backup_id),
                    Err(BackendError::NotFound { .. }) => Provenance::Absent,
                    Err(e) => Provenance::Unreadable {
                        reason: e.to_string(),
                    },
                }
            } else {
                Provenance::Absent
            };
            let info = if has_info {
                let key = crate::barman::backup_info_key(&prefix, &server, &backup_id);
                match self.objects.get(&key).await {
                    Ok(bytes) => BackupInfo::parse(&bytes).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            } else {
                Err("backup.info is missing".to_owned())
            };
            out.push(BucketBackup::new(server, backup_id, info).with_provenance(provenance));
        }
        Ok(out)
    }

    async fn write_provenance(
        &self,
        target: &ObjectStoreTarget,
        records: &[BackupProvenance],
    ) -> Result<Vec<ProvenanceWrite>, BackendError> {
        let prefix = prefix_of(target);
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let folder = format!("{}{}/", base_prefix(&prefix, &r.server_name), r.backup_id);
            let keys = self.objects.list(&folder).await?;
            let key = r.key(&prefix);
            let has = |name: &str| keys.iter().any(|k| k.strip_prefix(&folder) == Some(name));
            let outcome = if !has("backup.info") {
                ProvenanceWrite::NoBackupInfo
            } else if has(PROVENANCE_FILE) {
                ProvenanceWrite::AlreadyThere
            } else {
                self.objects.put(&key, r.to_json()).await?;
                ProvenanceWrite::Written
            };
            out.push(outcome);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::barman::{BarmanStatus, backup_info_key};

    fn target() -> ObjectStoreTarget {
        serde_json::from_value(serde_json::json!({
            "provider": "local", "bucket": "b", "prefix": "cp", "credentials": {"kind": "none"}
        }))
        .unwrap()
    }

    #[test]
    fn presence_catalog_and_preflight_read_barman_layout() {
        block_on(async {
            let bucket = Arc::new(InMemoryBucket::new());
            let server: ServerName = "cnpg-admin".parse().unwrap();
            let done: BarmanBackupId = "20261126T010000".parse().unwrap();
            let partial: BarmanBackupId = "20261126T020000".parse().unwrap();
            let info = BackupInfo::new(BarmanStatus::Done).render().into_bytes();
            bucket
                .put(&backup_info_key("cp", &server, &done), info)
                .await
                .unwrap();
            bucket
                .put(
                    &format!("cp/cnpg-admin/base/{partial}/data.tar"),
                    b"x".to_vec(),
                )
                .await
                .unwrap();
            let probe = BarmanBucketProbe::new(bucket.clone());

            let lists = bucket.list_calls();
            let p = probe
                .presence(&target(), &server, &[done.clone(), partial.clone()])
                .await
                .unwrap();
            assert_eq!(bucket.list_calls(), lists + 1, "one listing per server");
            assert_eq!(p[&done], StoragePresence::Present);
            assert_eq!(p[&partial], StoragePresence::Missing);

            let cat = probe.bucket_catalog(&target(), None).await.unwrap();
            assert_eq!(cat.len(), 2);
            assert!(cat[0].info.is_ok());
            assert_eq!(cat[1].info, Err("backup.info is missing".to_owned()));

            let options = PreflightOptions::new(false, vec![server.clone()], vec![server]);
            let report = probe.preflight(&target(), &options, Utc::now()).await;
            let failed: Vec<_> = report
                .steps
                .iter()
                .filter(|s| s.verdict == StepVerdict::Failed)
                .map(|s| s.check)
                .collect();
            assert_eq!(failed, vec![PreflightCheck::RestoreArchiveEmpty]);
            assert_eq!(report.steps.last().unwrap().verdict, StepVerdict::Skipped);
            assert!(
                bucket.keys().iter().all(|k| !k.contains("probe")),
                "probe object removed"
            );

            bucket.fail_next(BackendError::Forbidden {
                detail: "denied".into(),
            });
            let report = probe
                .preflight(&target(), &PreflightOptions::default(), Utc::now())
                .await;
            assert_eq!(report.state, crate::status::PreflightState::Failed);
        });
    }

    #[test]
    fn provenance_is_written_once_beside_backup_info_and_read_back() {
        use crate::automation::BackupMethod;
        use crate::catalog::{BackupPhase, BackupRecord};
        block_on(async {
            let bucket = Arc::new(InMemoryBucket::new());
            let server: ServerName = "cnpg-admin".parse().unwrap();
            let done: BarmanBackupId = "20261126T010000".parse().unwrap();
            let missing: BarmanBackupId = "20261126T020000".parse().unwrap();
            let info = BackupInfo::new(BarmanStatus::Done).render().into_bytes();
            let info_key = backup_info_key("cp", &server, &done);
            bucket.put(&info_key, info.clone()).await.unwrap();
            let probe = BarmanBucketProbe::new(bucket.clone());
            let of = |id: &BarmanBackupId| {
                let mut r = BackupRecord::new(
                    "b1".parse().unwrap(),
                    "cnpg-admin".parse().unwrap(),
                    BackupMethod::BarmanObjectStore,
                );
                r.phase = BackupPhase::Completed;
                r.backup_id = Some(id.clone());
                r.backup_set_id = Some("s-20261126010000".parse().unwrap());
                BackupProvenance::of_record(&r, None, server.clone(), "0.9.0", Utc::now()).unwrap()
            };
            let records = [of(&done), of(&missing)];
            let first = probe.write_provenance(&target(), &records).await.unwrap();
            assert_eq!(
                first,
                [ProvenanceWrite::Written, ProvenanceWrite::NoBackupInfo]
            );
            let written = bucket.get(&records[0].key("cp")).await.unwrap();
            let again = probe.write_provenance(&target(), &records).await.unwrap();
            assert_eq!(
                again,
                [ProvenanceWrite::AlreadyThere, ProvenanceWrite::NoBackupInfo]
            );
            // Never overwritten, Barman's file untouched, nothing in the other folder.
            assert_eq!(bucket.get(&records[0].key("cp")).await.unwrap(), written);
            assert_eq!(bucket.get(&info_key).await.unwrap(), info);
            assert_eq!(bucket.keys().len(), 2);

            let cat = probe.bucket_catalog(&target(), None).await.unwrap();
            assert_eq!(cat.len(), 1);
            let rec = cat[0].provenance.record().unwrap();
            assert_eq!(
                rec.backup_set_id.as_ref().unwrap().as_str(),
                "s-20261126010000"
            );

            // Barman's retention deletes its own files only: the record alone is no backup.
            bucket.delete(&info_key).await.unwrap();
            assert!(
                probe
                    .bucket_catalog(&target(), None)
                    .await
                    .unwrap()
                    .is_empty()
            );
        });
    }
}
