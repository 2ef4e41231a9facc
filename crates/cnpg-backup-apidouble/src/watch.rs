//! Watches, answered as kube-apiserver v1.32's watch cache answers them (fixtures 22-25, 29,
//! 30): a chunked stream of `{"type":...,"object":...}` lines.
//!
//! - from `resourceVersion=N`: every change after N that the cache still holds (`ADDED`,
//!   `MODIFIED`, `DELETED` with the last state at the deletion's resourceVersion), then the
//!   changes as they happen (22, 29); from before what the cache holds, one `ERROR` event with
//!   a `410 Expired` Status, and the stream ends (30);
//! - without a resourceVersion, or `0`: an `ADDED` event per object first;
//! - `sendInitialEvents=true`: the `ERROR` 500 the captured server answers (25), so clients
//!   fall back to list and watch as they must there;
//! - `allowWatchBookmarks=true`: a `BOOKMARK` (only `apiVersion`, `kind`,
//!   `metadata.resourceVersion`) about every 60 s and 2 s before the deadline, only when the
//!   server's resourceVersion is newer than the one the watch started from (22-24);
//! - `timeoutSeconds` ends the stream, with no final event (22); without it, 30 minutes;
//! - `labelSelector` and `fieldSelector=metadata.name=...`: an object that stops matching is
//!   `DELETED` for the watch, one that starts matching is `ADDED`, as the cache filters;
//! - `Accept: ...;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`: metadata only, as kube's
//!   metadata watcher asks.
//!
//! The stream waits on tokio's clock, so paused time in tests moves its timers.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, Stream};
use http_body::Frame;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::ApiDouble;
use crate::request::RequestInfo;
use crate::resources::Resource;
use crate::status;
use crate::store::{Change, Store, matches_selector};

/// The bookmark period of the watch cache (fixture 23: about every minute).
const BOOKMARK_PERIOD: Duration = Duration::from_secs(60);
/// The bookmark before the deadline (fixtures 22, 23: about 2 s before).
const BOOKMARK_BEFORE_END: Duration = Duration::from_secs(2);
/// A watch without `timeoutSeconds` (the API server picks 30 to 60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// What one watch asks for.
#[derive(Debug, Clone)]
pub(crate) struct WatchSpec {
    resource: &'static Resource,
    namespace: String,
    name: String,
    selector: String,
    meta_only: bool,
    bookmarks: bool,
    /// `None`: the current objects first, as `ADDED`.
    since: Option<u64>,
    timeout: Duration,
    initial_events: bool,
}

/// Whether an `Accept` header asks for metadata only.
pub(crate) fn wants_metadata(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

/// An object as `PartialObjectMetadata`.
pub(crate) fn partial(obj: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": obj["metadata"].clone()})
}

/// A list answer as `PartialObjectMetadataList`.
pub(crate) fn partial_list(list: &Value) -> Value {
    let items: Vec<Value> = list["items"]
        .as_array()
        .map(|items| items.iter().map(partial).collect())
        .unwrap_or_default();
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
        "metadata": list["metadata"].clone(), "items": items})
}

impl WatchSpec {
    pub(crate) fn new(
        resource: &'static Resource,
        info: &RequestInfo,
        query: &BTreeMap<String, String>,
        meta_only: bool,
    ) -> Self {
        let since = query
            .get("resourceVersion")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v > 0);
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let flag = |k: &str| query.get(k).is_some_and(|v| v == "true" || v == "1");
        Self {
            resource,
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            selector: query.get("labelSelector").cloned().unwrap_or_default(),
            meta_only,
            bookmarks: flag("allowWatchBookmarks"),
            since,
            timeout,
            initial_events: flag("sendInitialEvents"),
        }
    }

    fn matches(&self, namespace: &str, obj: &Value) -> bool {
        (self.namespace.is_empty() || self.namespace == namespace)
            && (self.name.is_empty() || obj["metadata"]["name"] == self.name.as_str())
            && matches_selector(obj, &self.selector)
    }

    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        let obj = if self.meta_only && kind != "ERROR" {
            partial(obj)
        } else {
            obj.clone()
        };
        Bytes::from(format!("{{\"type\":\"{kind}\",\"object\":{obj}}}\n"))
    }

    /// The event a change is for this watch, if any.
    fn event(&self, c: &Change) -> Option<Bytes> {
        let was = c.before.as_ref().filter(|o| self.matches(&c.namespace, o));
        let is = c.after.as_ref().filter(|o| self.matches(&c.namespace, o));
        match (was, is) {
            (None, Some(now)) => Some(self.line("ADDED", now)),
            (Some(_), Some(now)) => Some(self.line("MODIFIED", now)),
            (Some(last), None) => {
                // The last state the watch saw, at the resourceVersion of the change.
                let mut last = c.after.clone().unwrap_or_else(|| last.clone());
                last["metadata"]["resourceVersion"] = json!(c.rv.to_string());
                Some(self.line("DELETED", &last))
            }
            (None, None) => None,
        }
    }

    fn bookmark(&self, rv: u64) -> Bytes {
        let (api_version, kind) = if self.meta_only {
            ("meta.k8s.io/v1".to_owned(), "PartialObjectMetadata")
        } else {
            (self.resource.api_version(), self.resource.kind)
        };
        let obj = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"resourceVersion": rv.to_string()}});
        Bytes::from(format!("{{\"type\":\"BOOKMARK\",\"object\":{obj}}}\n"))
    }
}

struct Watching {
    double: ApiDouble,
    spec: WatchSpec,
    rx: tokio::sync::watch::Receiver<u64>,
    started: bool,
    done: bool,
    /// The resourceVersion the watch started from (bookmarks only once the server is past it).
    from: u64,
    /// The last resourceVersion the watch has seen (changes after it are still to send).
    cursor: u64,
    epoch: u64,
    deadline: Instant,
    next_bookmark: Option<Instant>,
    out: VecDeque<Bytes>,
}

impl Watching {
    fn schedule_bookmark(&mut self, now: Instant) {
        if !self.spec.bookmarks {
            return;
        }
        let before_end = self.deadline.checked_sub(BOOKMARK_BEFORE_END);
        let periodic = now + BOOKMARK_PERIOD;
        self.next_bookmark = match before_end {
            Some(e) if e > now => Some(periodic.min(e)),
            _ => None,
        };
    }

    /// The first events, under the lock: the initial objects, or the check of `since`.
    fn start(&mut self, store: &Store) {
        self.started = true;
        let r = self.spec.resource;
        if self.spec.initial_events {
            let msg = "a watch stream was requested by the client but the required storage feature RequestWatchProgress is disabled";
            let err = status::failure(500, "InternalError", msg, None);
            self.out.push_back(self.spec.line("ERROR", &err));
            self.done = true;
            return;
        }
        let history = store.history(r);
        self.epoch = history.map_or(0, |h| h.epoch);
        match self.spec.since {
            None => {
                for obj in store.objects_of(r, &self.spec.namespace) {
                    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
                    if self.spec.matches(ns, obj) {
                        self.out.push_back(self.spec.line("ADDED", obj));
                    }
                }
                self.cursor = store.resource_version();
                self.from = self.cursor;
            }
            Some(rv) => {
                let floor = history.map_or(0, |h| h.floor);
                if rv < floor {
                    let msg = format!("too old resource version: {rv} ({floor})");
                    let err = status::failure(410, "Expired", &msg, None);
                    self.out.push_back(self.spec.line("ERROR", &err));
                    self.done = true;
                    return;
                }
                self.cursor = rv;
                self.from = rv;
            }
        }
    }

    /// The changes after the cursor, under the lock; the stream ends when the cache was
    /// re-initialised under it.
    fn drain(&mut self, store: &Store) {
        let Some(h) = store.history(self.spec.resource) else {
            return;
        };
        if h.epoch != self.epoch {
            self.done = true;
            return;
        }
        let cursor = self.cursor;
        for c in h.changes.iter().filter(|c| c.rv > cursor) {
            if let Some(line) = self.spec.event(c) {
                self.out.push_back(line);
            }
            self.cursor = c.rv;
        }
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.out.pop_front() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            self.rx.borrow_and_update();
            {
                let double = self.double.clone();
                let st = double.lock();
                if !self.started {
                    self.start(&st.store);
                }
                if !self.done {
                    self.drain(&st.store);
                }
            }
            if !self.out.is_empty() || self.done {
                continue;
            }
            let bookmark_at = self.next_bookmark;
            let bookmark = async {
                match bookmark_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let woke = tokio::select! {
                changed = self.rx.changed() => if changed.is_ok() { Woke::Changed } else { Woke::End },
                () = tokio::time::sleep_until(self.deadline) => Woke::End,
                () = bookmark => Woke::Bookmark,
            };
            match woke {
                Woke::Changed => {}
                Woke::End => self.done = true,
                Woke::Bookmark => {
                    let now = Instant::now();
                    let rv = self.double.lock().store.resource_version();
                    if rv > self.from {
                        self.out.push_back(self.spec.bookmark(rv));
                    }
                    self.schedule_bookmark(now);
                }
            }
        }
    }
}

enum Woke {
    Changed,
    End,
    Bookmark,
}

/// The body of a watch: its events as they come, until the deadline.
pub(crate) fn stream(
    double: ApiDouble,
    spec: WatchSpec,
) -> impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static {
    let now = Instant::now();
    let rx = double.subscribe();
    let mut w = Watching {
        double,
        deadline: now + spec.timeout,
        spec,
        rx,
        started: false,
        done: false,
        from: 0,
        cursor: 0,
        epoch: 0,
        next_bookmark: None,
        out: VecDeque::new(),
    };
    w.schedule_bookmark(now);
    stream::unfold(w, |mut w| async move {
        let b = w.next().await?;
        Some((Ok(Frame::data(b)), w))
    })
}
