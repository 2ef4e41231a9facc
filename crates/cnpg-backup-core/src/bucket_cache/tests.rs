//! Examples of each rule, and a property test over a model bucket: after any sequence of
//! bucket changes (add, finish, fail, delete, tear, rewrite in place, touch, garbage...), a
//! cached refresh gives exactly what an independent cold read gives, and reads exactly the
//! keys that changed or were not settled.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::barman::BarmanStatus;

fn server() -> ServerName {
    "cnpg-admin".parse().unwrap()
}

fn scope() -> CacheScope {
    CacheScope::new(
        Provider::S3Compatible,
        Some("http://127.0.0.1:9000".to_owned()),
        "cnpg-backups",
        "platform",
        server(),
    )
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 4, 0, 0).unwrap()
}

fn bid(slot: u8) -> BarmanBackupId {
    format!("20261126T04{slot:02}00").parse().unwrap()
}

fn info_text(status: BarmanStatus, variant: u8) -> String {
    let mut info = BackupInfo::new(status);
    info.begin_time = Some(t0());
    info.begin_wal = Some(format!("0000000100000000000000{variant:02X}"));
    if status.is_settled() {
        info.end_time = Some(t0() + Duration::seconds(7));
    }
    if status == BarmanStatus::Failed {
        info.error = Some("failure uploading data (boom)".to_owned());
    }
    info.render()
}

fn etag_of(bytes: &[u8]) -> String {
    format!("\"{:016x}\"", fnv1a64(bytes))
}

/// A bucket as an S3 listing and GET see it: each object with its identity (ETag = a hash of
/// the content, as S3's MD5; last-modified with milliseconds in a listing and whole seconds in
/// a read's `Last-Modified` header).
#[derive(Debug, Clone)]
struct Model {
    objects: BTreeMap<String, (Vec<u8>, ObjectIdentity)>,
    seconds: i64,
    puts: i64,
    etags: bool,
    /// Listings show ETags without quotes (as Azure's do); reads always quote them.
    bare_listing: bool,
}

impl Model {
    fn new(etags: bool) -> Self {
        Self {
            objects: BTreeMap::new(),
            seconds: 0,
            puts: 0,
            etags,
            bare_listing: false,
        }
    }

    fn base(&self) -> String {
        scope().base_prefix()
    }

    fn info_key(&self, slot: u8) -> String {
        format!("{}{}/backup.info", self.base(), bid(slot))
    }

    fn put(&mut self, key: String, bytes: Vec<u8>) {
        self.puts += 1;
        let identity = ObjectIdentity::new(
            self.etags.then(|| etag_of(&bytes)),
            bytes.len() as u64,
            t0() + Duration::seconds(self.seconds) + Duration::milliseconds(self.puts * 37 % 1000),
        );
        self.objects.insert(key, (bytes, identity));
    }

    fn delete(&mut self, key: &str) {
        self.objects.remove(key);
    }

    fn listing(&self) -> Vec<(String, ObjectIdentity)> {
        let base = self.base();
        self.objects
            .iter()
            .filter(|(k, _)| k.starts_with(&base))
            .map(|(k, (_, i))| {
                let mut listed = i.clone();
                if self.bare_listing {
                    listed.etag = listed.etag.map(|e| e.trim_matches('"').to_owned());
                }
                (k.clone(), listed)
            })
            .collect()
    }

    /// A GET as the adapter makes it (the size checked before the body is read).
    fn get(&self, req: &ReadRequest) -> ReadOutcome {
        match self.objects.get(&req.key) {
            None => ReadOutcome::Missing,
            Some((_, i))
                if same_etag(i.etag.as_deref(), req.if_none_match.as_deref())
                    && req
                        .if_none_match
                        .as_deref()
                        .is_some_and(|e| e.starts_with('"')) =>
            {
                ReadOutcome::NotModified
            }
            Some((_, i)) if i.size as usize > BACKUP_INFO_MAX_BYTES => {
                ReadOutcome::TooLarge { size: i.size }
            }
            Some((b, i)) => {
                let whole_second =
                    DateTime::from_timestamp(i.last_modified.timestamp(), 0).unwrap();
                ReadOutcome::Body {
                    bytes: b.clone(),
                    identity: ObjectIdentity::new(i.etag.clone(), i.size, whole_second),
                }
            }
        }
    }

    /// Backup folders as a listing by delimiter shows them: any key under `<id>/`.
    fn folders(&self) -> BTreeSet<BarmanBackupId> {
        let base = self.base();
        self.objects
            .keys()
            .filter_map(|k| k.strip_prefix(&base)?.split_once('/'))
            .filter_map(|(id, _)| id.parse().ok())
            .collect()
    }

    /// Today's cold read, written independently: every folder under base/ (one with any key),
    /// each `backup.info` read and parsed, with the messages the adapter has always given.
    fn cold(&self) -> Vec<BucketBackup> {
        let base = self.base();
        self.folders()
            .into_iter()
            .map(|id| {
                let key = format!("{base}{id}/backup.info");
                let info = match self.objects.get(&key) {
                    None => Err(format!("`{key}` is missing")),
                    Some((b, _)) if b.len() > BACKUP_INFO_MAX_BYTES => Err(format!(
                        "`{key}` is {} bytes; the limit is {BACKUP_INFO_MAX_BYTES}",
                        b.len()
                    )),
                    Some((b, _)) => {
                        BackupInfo::parse(b).map_err(|e| format!("`{key}` is malformed: {e}"))
                    }
                };
                BucketBackup::new(server(), id, info)
            })
            .collect()
    }

    /// A refresh from `cache`, as the adapter runs it (a listing by delimiter without a
    /// cache, a recursive one with it); the reads it asked for.
    fn refresh(&self, cache: Option<ServerCatalogCache>) -> (Refreshed, Vec<ReadRequest>) {
        let cold = cache.is_none();
        let mut r = CatalogRefresh::new(scope(), cache);
        let mut reads = Vec::new();
        if cold {
            for id in self.folders() {
                if let Observed::Read(req) = r.observe_folder(id) {
                    reads.push(req);
                }
            }
        } else {
            for (key, identity) in self.listing() {
                if let Observed::Read(req) = r.observe(&key, identity) {
                    reads.push(req);
                }
            }
        }
        for req in &reads {
            let outcome = self.get(req);
            r.record(&req.backup_id, outcome);
        }
        (r.finish(), reads)
    }
}

fn read_ids(reads: &[ReadRequest]) -> Vec<BarmanBackupId> {
    reads.iter().map(|r| r.backup_id.clone()).collect()
}

#[test]
fn a_warm_refresh_with_nothing_changed_reads_nothing_and_keeps_the_document() {
    let mut m = Model::new(true);
    for slot in 0..3 {
        m.put(
            m.info_key(slot),
            info_text(BarmanStatus::Done, slot).into_bytes(),
        );
    }
    let (first, reads) = m.refresh(None);
    assert_eq!(reads.len(), 3);
    assert!(reads.iter().all(|r| r.if_none_match.is_none()));
    assert!(first.summary.changed);
    let (second, reads) = m.refresh(Some(first.cache.clone()));
    assert_eq!(reads, []);
    assert_eq!(second.backups, first.backups);
    assert_eq!(second.backups, m.cold());
    assert_eq!(second.summary.reused.len(), 3);
    assert!(!second.summary.changed);
    assert_eq!(second.cache, first.cache);
}

#[test]
fn new_backups_cost_one_read_each_and_deleted_ones_are_dropped() {
    let mut m = Model::new(true);
    m.put(m.info_key(0), info_text(BarmanStatus::Done, 0).into_bytes());
    m.put(m.info_key(1), info_text(BarmanStatus::Done, 1).into_bytes());
    let (first, _) = m.refresh(None);
    m.delete(&m.info_key(0));
    for slot in 2..5 {
        m.put(
            m.info_key(slot),
            info_text(BarmanStatus::Done, slot).into_bytes(),
        );
    }
    let (second, reads) = m.refresh(Some(first.cache));
    assert_eq!(read_ids(&reads), [bid(2), bid(3), bid(4)]);
    assert_eq!(second.summary.dropped, [bid(0)]);
    assert_eq!(second.summary.reused, [bid(1)]);
    assert_eq!(second.backups, m.cold());
    assert_eq!(
        second.cache.entries().keys().cloned().collect::<Vec<_>>(),
        [bid(1), bid(2), bid(3), bid(4)]
    );
}

#[test]
fn a_started_backup_is_read_again_until_it_settles() {
    let mut m = Model::new(true);
    m.put(
        m.info_key(0),
        info_text(BarmanStatus::Started, 0).into_bytes(),
    );
    let (first, _) = m.refresh(None);
    // Unchanged and unsettled: a conditional read, answered 304, the copy reused.
    let (second, reads) = m.refresh(Some(first.cache));
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].if_none_match, m.objects[&m.info_key(0)].1.etag);
    assert_eq!(second.summary.not_modified, [bid(0)]);
    assert_eq!(second.backups, m.cold());
    assert!(!second.summary.changed);
    // It finishes: a full read, and from then on nothing.
    m.seconds += 30;
    m.put(m.info_key(0), info_text(BarmanStatus::Done, 0).into_bytes());
    let (third, reads) = m.refresh(Some(second.cache));
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].if_none_match, None);
    assert_eq!(
        third.backups[0].info.as_ref().unwrap().status,
        BarmanStatus::Done
    );
    let (fourth, reads) = m.refresh(Some(third.cache));
    assert_eq!(reads, []);
    assert_eq!(fourth.backups, m.cold());
}

#[test]
fn a_rewrite_in_the_same_second_with_the_same_size_is_seen_by_its_etag() {
    let mut m = Model::new(true);
    m.put(m.info_key(0), info_text(BarmanStatus::Done, 1).into_bytes());
    let (first, _) = m.refresh(None);
    let before = &m.objects[&m.info_key(0)].1.clone();
    m.put(m.info_key(0), info_text(BarmanStatus::Done, 2).into_bytes());
    let after = &m.objects[&m.info_key(0)].1;
    assert_eq!(
        (before.size, before.last_modified.timestamp()),
        (after.size, after.last_modified.timestamp())
    );
    let (second, reads) = m.refresh(Some(first.cache));
    assert_eq!(read_ids(&reads), [bid(0)]);
    assert_eq!(second.backups, m.cold());
    assert_ne!(second.backups, first.backups);
}

#[test]
fn without_etags_nothing_is_ever_reused() {
    let mut m = Model::new(false);
    m.put(m.info_key(0), info_text(BarmanStatus::Done, 0).into_bytes());
    let (first, _) = m.refresh(None);
    let (second, reads) = m.refresh(Some(first.cache));
    assert_eq!(read_ids(&reads), [bid(0)]);
    assert_eq!(reads[0].if_none_match, None);
    assert_eq!(second.backups, m.cold());
    assert!(second.cache.entries().is_empty(), "nothing cacheable");
}

#[test]
fn torn_failed_malformed_and_oversized_folders_read_as_cold() {
    let mut m = Model::new(true);
    let base = m.base();
    m.put(format!("{base}{}/data.tar.gz", bid(0)), vec![1; 20]);
    m.put(
        format!("{base}{}/annotations/keep", bid(1)),
        b"full".to_vec(),
    );
    m.put(
        m.info_key(1),
        info_text(BarmanStatus::Failed, 1).into_bytes(),
    );
    m.put(m.info_key(2), b"status=DONE\ngarbage\n".to_vec());
    m.put(m.info_key(3), vec![b'x'; BACKUP_INFO_MAX_BYTES + 1]);
    m.put(format!("{base}not-an-id/backup.info"), b"x".to_vec());
    m.put(format!("{base}loose-file"), b"x".to_vec());
    // Cold (a listing by delimiter): every folder is read, as Barman reads them.
    let (first, reads) = m.refresh(None);
    assert_eq!(read_ids(&reads), [bid(0), bid(1), bid(2), bid(3)]);
    assert_eq!(first.backups, m.cold());
    let key0 = m.info_key(0);
    assert_eq!(first.backups[0].info, Err(format!("`{key0}` is missing")));
    assert_eq!(
        first.backups[1].info.as_ref().unwrap().status,
        BarmanStatus::Failed
    );
    // Warm (a recursive listing): FAILED is settled and reused; malformed is read again
    // (conditionally); torn and oversized are reported from the listing, without a read.
    let (second, reads) = m.refresh(Some(first.cache));
    assert_eq!(read_ids(&reads), [bid(2)]);
    assert!(reads[0].if_none_match.is_some());
    assert_eq!(second.backups, m.cold());
}

/// A bucket with one DONE backup, and a refresh without cache that has listed it and waits
/// for its read: (bucket, refresh, key, request).
fn one_read_pending() -> (Model, CatalogRefresh, String, ReadRequest) {
    let mut m = Model::new(true);
    m.put(m.info_key(0), info_text(BarmanStatus::Done, 0).into_bytes());
    let mut r = CatalogRefresh::new(scope(), None);
    let (key, identity) = m.listing().remove(0);
    let Observed::Read(req) = r.observe(&key, identity) else {
        panic!("a refresh without cache reads")
    };
    (m, r, key, req)
}

#[test]
fn a_failed_read_is_reported_and_not_cached() {
    let (m, mut r, key, req) = one_read_pending();
    r.record(
        &req.backup_id,
        ReadOutcome::Failed {
            detail: "connection reset".to_owned(),
        },
    );
    let done = r.finish();
    assert_eq!(
        done.backups[0].info,
        Err(format!("`{key}` could not be read: connection reset"))
    );
    assert!(done.cache.entries().is_empty());
    let (next, reads) = m.refresh(Some(done.cache));
    assert_eq!(reads.len(), 1);
    assert_eq!(next.backups, m.cold());
}

#[test]
fn a_body_of_another_version_than_listed_is_returned_but_not_cached() {
    let (_, mut r, _, req) = one_read_pending();
    // Rewritten between the listing and the read.
    let newer = info_text(BarmanStatus::Done, 9).into_bytes();
    let identity = ObjectIdentity::new(Some(etag_of(&newer)), newer.len() as u64, t0());
    r.record(
        &req.backup_id,
        ReadOutcome::Body {
            identity,
            bytes: newer.clone(),
        },
    );
    let done = r.finish();
    assert_eq!(done.backups[0].info, Ok(BackupInfo::parse(&newer).unwrap()));
    assert!(done.cache.entries().is_empty());
}

#[test]
fn a_cache_of_another_scope_or_format_is_never_used() {
    let mut m = Model::new(true);
    m.put(m.info_key(0), info_text(BarmanStatus::Done, 0).into_bytes());
    let (first, _) = m.refresh(None);
    let json = first.cache.to_json();
    assert_eq!(
        ServerCatalogCache::from_json(json.as_bytes(), &scope()),
        Ok(first.cache.clone())
    );
    let others = [
        CacheScope::new(
            Provider::S3,
            scope().endpoint,
            "cnpg-backups",
            "platform",
            server(),
        ),
        CacheScope::new(
            Provider::S3Compatible,
            Some("http://127.0.0.1:9001".to_owned()),
            "cnpg-backups",
            "platform",
            server(),
        ),
        CacheScope::new(
            Provider::S3Compatible,
            scope().endpoint,
            "other",
            "platform",
            server(),
        ),
        CacheScope::new(
            Provider::S3Compatible,
            scope().endpoint,
            "cnpg-backups",
            "platform/x",
            server(),
        ),
        CacheScope::new(
            Provider::S3Compatible,
            scope().endpoint,
            "cnpg-backups",
            "platform",
            "cnpg-tenant".parse().unwrap(),
        ),
    ];
    for other in others {
        assert!(matches!(
            ServerCatalogCache::from_json(json.as_bytes(), &other),
            Err(CacheDocumentError::OtherScope { .. })
        ));
        assert_ne!(other.file_stem(), scope().file_stem(), "{other}");
        // Even handed over directly, a foreign cache is not used.
        let mut r = CatalogRefresh::new(other.clone(), Some(first.cache.clone()));
        let key = format!("{}{}/backup.info", other.base_prefix(), bid(0));
        let identity = m.objects[&m.info_key(0)].1.clone();
        assert!(matches!(r.observe(&key, identity), Observed::Read(_)));
    }
    let other_format = json.replacen("\"format\":1", "\"format\":2", 1);
    assert_eq!(
        ServerCatalogCache::from_json(other_format.as_bytes(), &scope()),
        Err(CacheDocumentError::OtherFormat {
            found: 2,
            expected: 1
        })
    );
    for bad in ["", "{", "[]", "{\"format\":1}", "{\"format\":\"1\"}"] {
        assert!(
            matches!(
                ServerCatalogCache::from_json(bad.as_bytes(), &scope()),
                Err(CacheDocumentError::Unreadable { .. })
            ),
            "{bad}"
        );
    }
    let bad_id = json.replacen(bid(0).as_str(), "not-an-id", 1);
    assert!(matches!(
        ServerCatalogCache::from_json(bad_id.as_bytes(), &scope()),
        Err(CacheDocumentError::Unreadable { .. })
    ));
}

#[test]
fn the_file_stem_is_stable_readable_and_safe() {
    // Pinned: a new value would orphan every cache file written by earlier versions.
    assert_eq!(
        scope().file_stem(),
        "cnpg-backups_platform_cnpg-admin-f3c3f7d2bd2e6627"
    );
    let odd = CacheScope::new(
        Provider::Local,
        None,
        format!("/tmp/../{}", "x".repeat(300)),
        "a/b",
        server(),
    );
    let stem = odd.file_stem();
    assert!(stem.len() <= 80 + 17, "{stem}");
    assert!(
        stem.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
        "{stem}"
    );
    assert!(!stem.starts_with('.'));
}

#[test]
fn identities_compare_etags_without_quotes_and_times_to_the_second() {
    let t = t0() + Duration::milliseconds(250);
    let etag = |e: &str| Some(e.to_owned());
    // Azure lists `0x8DC1` and answers `"0x8DC1"`; a header's time has whole seconds.
    let listed = ObjectIdentity::new(etag("0x8DC1"), 10, t);
    let read = ObjectIdentity::new(etag("\"0x8DC1\""), 10, t0());
    assert!(listed.same_as(&read) && read.same_as(&listed));
    for other in [
        ObjectIdentity::new(etag("\"0x8DC2\""), 10, t),
        ObjectIdentity::new(etag("0x8DC1"), 11, t),
        ObjectIdentity::new(etag("0x8DC1"), 10, t + Duration::seconds(1)),
        ObjectIdentity::new(None, 10, t),
    ] {
        assert!(!listed.same_as(&other), "{other:?}");
    }
    let no_etag = ObjectIdentity::new(None, 10, t);
    assert!(
        !no_etag.same_as(&no_etag.clone()),
        "without an ETag nothing matches"
    );
    for (given, sent) in [
        ("0x8DC1", "\"0x8DC1\""),
        ("\"a\"", "\"a\""),
        ("W/\"a\"", "\"a\""),
    ] {
        assert_eq!(if_none_match(given), sent);
    }
}

#[test]
fn the_index_lives_in_our_own_folder_which_is_never_a_server() {
    assert_eq!(
        catalog_index_key("platform/", &server()),
        "platform/.cnpg-backup/catalog-index/cnpg-admin.json"
    );
    assert_eq!(
        catalog_index_key("", &server()),
        ".cnpg-backup/catalog-index/cnpg-admin.json"
    );
    assert!(OWN_FOLDER.parse::<ServerName>().is_err());
}

#[derive(Debug, Clone)]
enum Op {
    /// A new backup.info (or a rewrite of one) with this status.
    Write(u8, BarmanStatus),
    /// Same status, other content of the same size (a rewrite in place).
    Rewrite(u8),
    /// The same bytes written again.
    Touch(u8),
    /// The backup.info replaced by something unparsable.
    Garbage(u8),
    /// Larger than a backup.info may be.
    Huge(u8),
    /// The whole folder deleted.
    Delete(u8),
    /// backup.info deleted, data left behind (torn).
    Tear(u8),
    /// data.tar.gz or an annotation added.
    Data(u8, bool),
    /// A second passes.
    Tick,
    /// A catalog read.
    Refresh,
}

fn status() -> impl Strategy<Value = BarmanStatus> {
    prop_oneof![
        3 => Just(BarmanStatus::Done),
        2 => Just(BarmanStatus::Started),
        2 => Just(BarmanStatus::Failed),
        1 => Just(BarmanStatus::WaitingForWals),
        1 => Just(BarmanStatus::Syncing),
        1 => Just(BarmanStatus::Empty),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..6_u8;
    prop_oneof![
        6 => (slot.clone(), status()).prop_map(|(s, st)| Op::Write(s, st)),
        2 => slot.clone().prop_map(Op::Rewrite),
        2 => slot.clone().prop_map(Op::Touch),
        1 => slot.clone().prop_map(Op::Garbage),
        1 => slot.clone().prop_map(Op::Huge),
        2 => slot.clone().prop_map(Op::Delete),
        1 => slot.clone().prop_map(Op::Tear),
        2 => (slot, any::<bool>()).prop_map(|(s, a)| Op::Data(s, a)),
        3 => Just(Op::Tick),
        4 => Just(Op::Refresh),
    ]
}

impl Model {
    fn apply(&mut self, op: &Op, variants: &mut BTreeMap<u8, (BarmanStatus, u8)>) {
        let base = self.base();
        match *op {
            Op::Write(s, st) => {
                let v = variants.get(&s).map_or(0, |(_, v)| *v);
                variants.insert(s, (st, v));
                self.put(self.info_key(s), info_text(st, v).into_bytes());
            }
            Op::Rewrite(s) => {
                if let Some((st, v)) = variants.get_mut(&s) {
                    *v = v.wrapping_add(1);
                    let bytes = info_text(*st, *v).into_bytes();
                    self.put(self.info_key(s), bytes);
                }
            }
            Op::Touch(s) => {
                if let Some((b, _)) = self.objects.get(&self.info_key(s)) {
                    let b = b.clone();
                    self.put(self.info_key(s), b);
                }
            }
            Op::Garbage(s) => self.put(self.info_key(s), b"status=DONE\nno equals\n".to_vec()),
            Op::Huge(s) => self.put(self.info_key(s), vec![b'#'; BACKUP_INFO_MAX_BYTES + 1]),
            Op::Delete(s) => {
                let folder = format!("{base}{}/", bid(s));
                let keys: Vec<String> = self
                    .objects
                    .keys()
                    .filter(|k| k.starts_with(&folder))
                    .cloned()
                    .collect();
                for k in keys {
                    self.delete(&k);
                }
                variants.remove(&s);
            }
            Op::Tear(s) => {
                self.put(format!("{base}{}/data.tar.gz", bid(s)), vec![0; 20]);
                self.delete(&self.info_key(s));
                variants.remove(&s);
            }
            Op::Data(s, annotation) => {
                let file = if annotation {
                    "annotations/keep"
                } else {
                    "data.tar.gz"
                };
                self.put(format!("{base}{}/{file}", bid(s)), vec![0; 20]);
            }
            Op::Tick => self.seconds += 1,
            Op::Refresh => {}
        }
    }
}

/// The keys a refresh from `prev` (made over `prev_listing`) must read: cold, every folder;
/// warm, every listed `backup.info` (not oversized) except those listed unchanged whose copy
/// is settled.
fn expected_reads(
    m: &Model,
    prev: Option<&Refreshed>,
    prev_listing: &BTreeMap<String, ObjectIdentity>,
) -> Vec<BarmanBackupId> {
    if prev.is_none() {
        return m.folders().into_iter().collect();
    }
    let base = m.base();
    m.listing()
        .into_iter()
        .filter_map(|(k, i)| {
            let id: BarmanBackupId = k
                .strip_prefix(&base)?
                .strip_suffix("/backup.info")?
                .parse()
                .ok()?;
            (i.size as usize <= BACKUP_INFO_MAX_BYTES).then_some((k, id))
        })
        .filter(|(k, id)| {
            let settled_copy = prev.is_some_and(|p| {
                m.etags
                    && p.cache.entries().contains_key(id)
                    && p.backups
                        .iter()
                        .find(|b| &b.backup_id == id)
                        .and_then(|b| b.info.as_ref().ok())
                        .is_some_and(|i| i.status.is_settled())
            });
            let unchanged = prev_listing
                .get(k)
                .is_some_and(|p| m.objects.get(k).is_some_and(|(_, i)| p.same_as(i)));
            !unchanged || !settled_copy
        })
        .map(|(_, id)| id)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_cached_catalog_always_equals_a_cold_read(
        etags in prop::bool::weighted(0.85),
        bare_listing in any::<bool>(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let mut m = Model::new(etags);
        m.bare_listing = bare_listing;
        let mut variants = BTreeMap::new();
        let mut prev: Option<Refreshed> = None;
        let mut prev_listing: BTreeMap<String, ObjectIdentity> = BTreeMap::new();
        let mut ops = ops;
        ops.push(Op::Refresh);
        for op in &ops {
            m.apply(op, &mut variants);
            if !matches!(op, Op::Refresh) {
                continue;
            }
            let want_reads = expected_reads(&m, prev.as_ref(), &prev_listing);
            let listing: BTreeMap<String, ObjectIdentity> = m.listing().into_iter().collect();
            let unchanged_since: BTreeSet<&String> = listing
                .iter()
                .filter(|(k, i)| prev_listing.get(*k).is_some_and(|p| p.same_as(i)))
                .map(|(k, _)| k)
                .collect();
            let (now, reads) = m.refresh(prev.as_ref().map(|p| p.cache.clone()));
            prop_assert_eq!(&now.backups, &m.cold());
            prop_assert_eq!(read_ids(&reads), want_reads);
            for r in &reads {
                // A conditional read only for a key unchanged (the same ETag, size and second)
                // since it was cached.
                if r.if_none_match.is_some() {
                    prop_assert!(unchanged_since.contains(&r.key), "{r:?}");
                    prop_assert!(now.summary.not_modified.contains(&r.backup_id));
                }
            }
            // Every cached copy is the text of the listed version of its key.
            for (id, c) in now.cache.entries() {
                let key = format!("{}{id}/backup.info", m.base());
                let (bytes, identity) = &m.objects[&key];
                prop_assert_eq!(c.text.as_bytes(), bytes.as_slice());
                prop_assert!(c.identity.same_as(identity), "{:?} {:?}", c.identity, identity);
            }
            // The document survives its JSON form.
            prop_assert_eq!(
                ServerCatalogCache::from_json(now.cache.to_json().as_bytes(), &scope()),
                Ok(now.cache.clone())
            );
            prev_listing = listing;
            prev = Some(now);
        }
    }
}

mod provenance_records {
    use super::*;
    use crate::automation::BackupMethod;
    use crate::catalog::{BackupPhase, BackupRecord};
    use crate::provenance::{BackupProvenance, provenance_key};

    fn record_key(slot: u8) -> String {
        provenance_key("platform", &server(), &bid(slot))
    }

    fn record_bytes(slot: u8) -> Vec<u8> {
        let mut r = BackupRecord::new(
            format!("cnpg-admin-cnpg-backup-{slot}").parse().unwrap(),
            "cnpg-admin".parse().unwrap(),
            BackupMethod::Plugin,
        );
        r.phase = BackupPhase::Completed;
        r.backup_id = Some(bid(slot));
        r.backup_set_id = Some(format!("s-202611260{slot:02}000").parse().unwrap());
        BackupProvenance::of_record(&r, None, server(), "0.9.0", t0())
            .unwrap()
            .to_json()
    }

    /// A refresh from a recursive listing (as the adapter always lists now), every read
    /// reported through `record_read`.
    fn refresh(m: &Model, cache: Option<ServerCatalogCache>) -> (Refreshed, Vec<ReadRequest>) {
        let mut r = CatalogRefresh::new(scope(), cache);
        let mut reads = Vec::new();
        for (key, identity) in m.listing() {
            if let Observed::Read(req) = r.observe(&key, identity) {
                reads.push(req);
            }
        }
        for req in &reads {
            r.record_read(req, m.get(req));
        }
        (r.finish(), reads)
    }

    fn files(reads: &[ReadRequest]) -> Vec<(BarmanBackupId, FolderFile)> {
        reads
            .iter()
            .map(|r| (r.backup_id.clone(), r.file))
            .collect()
    }

    fn set_id(b: &BucketBackup) -> Option<String> {
        b.provenance
            .record()
            .and_then(|r| r.backup_set_id.as_ref())
            .map(ToString::to_string)
    }

    #[test]
    fn a_record_is_read_once_reused_while_unchanged_and_picked_up_when_written_later() {
        let mut m = Model::new(true);
        for slot in 0..2 {
            m.put(
                m.info_key(slot),
                info_text(BarmanStatus::Done, slot).into_bytes(),
            );
        }
        m.put(record_key(0), record_bytes(0));
        let (first, reads) = refresh(&m, None);
        assert_eq!(
            files(&reads),
            [
                (bid(0), FolderFile::BackupInfo),
                (bid(0), FolderFile::Provenance),
                (bid(1), FolderFile::BackupInfo),
            ]
        );
        assert_eq!(
            set_id(&first.backups[0]).as_deref(),
            Some("s-20261126000000")
        );
        assert_eq!(first.backups[1].provenance, Provenance::Absent);
        assert_eq!(first.summary.provenance_read, [bid(0)]);

        // Warm, nothing changed: no read at all, the same catalog.
        let (warm, reads) = refresh(&m, Some(first.cache.clone()));
        assert!(reads.is_empty(), "{reads:?}");
        assert_eq!(warm.backups, first.backups);
        assert!(!warm.summary.changed);

        // The loop writes the second record later: the next listing shows it, one read.
        m.put(record_key(1), record_bytes(1));
        let (later, reads) = refresh(&m, Some(warm.cache.clone()));
        assert_eq!(files(&reads), [(bid(1), FolderFile::Provenance)]);
        assert_eq!(
            set_id(&later.backups[1]).as_deref(),
            Some("s-20261126001000")
        );
        assert!(later.summary.changed);

        // The document survives JSON (the disk cache and the index object).
        let doc =
            ServerCatalogCache::from_json(later.cache.to_json().as_bytes(), &scope()).unwrap();
        let (again, reads) = refresh(&m, Some(doc));
        assert!(reads.is_empty(), "{reads:?}");
        assert_eq!(again.backups, later.backups);
    }

    #[test]
    fn a_bad_record_loses_only_its_columns_and_an_orphan_record_is_no_backup() {
        let mut m = Model::new(true);
        for slot in 0..4 {
            m.put(
                m.info_key(slot),
                info_text(BarmanStatus::Done, slot).into_bytes(),
            );
        }
        m.put(record_key(0), b"{corrupt".to_vec());
        m.put(record_key(1), vec![b' '; PROVENANCE_MAX_BYTES + 1]);
        m.put(record_key(2), record_bytes(2));
        m.put(record_key(3), record_bytes(3));
        // Barman's retention deleted backup 5's files; only our record is left.
        m.put(record_key(5), record_bytes(5));
        let mut r = CatalogRefresh::new(scope(), None);
        let mut reads = Vec::new();
        for (key, identity) in m.listing() {
            if let Observed::Read(req) = r.observe(&key, identity) {
                reads.push(req);
            }
        }
        for req in &reads {
            let outcome = if req.key == record_key(3) {
                ReadOutcome::Failed {
                    detail: "AccessDenied: forbidden".to_owned(),
                }
            } else {
                m.get(req)
            };
            r.record_read(req, outcome);
        }
        let done = r.finish();
        // Four rows, every backup.info parsed: the row always stays.
        assert_eq!(done.backups.len(), 4);
        assert!(done.backups.iter().all(|b| b.info.is_ok()));
        let warning = |i: usize| {
            done.backups[i]
                .provenance
                .warning()
                .unwrap_or("")
                .to_owned()
        };
        assert!(warning(0).contains("unreadable"), "{}", warning(0));
        assert!(warning(1).contains("the limit is 16384"), "{}", warning(1));
        assert_eq!(
            set_id(&done.backups[2]).as_deref(),
            Some("s-20261126002000")
        );
        assert!(warning(3).contains("AccessDenied"), "{}", warning(3));
        assert_eq!(done.summary.orphans, [bid(5)]);
        // The oversized record was never read, the orphan never read either.
        assert!(
            !reads
                .iter()
                .any(|q| q.key == record_key(1) || q.key == record_key(5))
        );
        // A failed read is not cached: it is read again next time; the others are reused.
        let (_, again) = refresh(&m, Some(done.cache));
        assert_eq!(files(&again), [(bid(3), FolderFile::Provenance)]);
    }

    #[test]
    fn a_record_listed_before_its_backup_info_is_read_after_the_listing() {
        let mut m = Model::new(true);
        m.put(m.info_key(0), info_text(BarmanStatus::Done, 0).into_bytes());
        m.put(record_key(0), record_bytes(0));
        m.put(record_key(1), record_bytes(1));
        // A store that lists out of key order (a local directory may).
        let mut listing = m.listing();
        listing.reverse();
        let mut r = CatalogRefresh::new(scope(), None);
        let mut reads = Vec::new();
        for (key, identity) in listing {
            if let Observed::Read(req) = r.observe(&key, identity) {
                reads.push(req);
            }
        }
        assert_eq!(files(&reads), [(bid(0), FolderFile::BackupInfo)]);
        let deferred = r.deferred_reads();
        assert_eq!(files(&deferred), [(bid(0), FolderFile::Provenance)]);
        for req in reads.iter().chain(&deferred) {
            r.record_read(req, m.get(req));
        }
        let done = r.finish();
        assert_eq!(done.backups.len(), 1);
        assert_eq!(
            set_id(&done.backups[0]).as_deref(),
            Some("s-20261126000000")
        );
        assert_eq!(done.summary.orphans, [bid(1)]);
    }
}
