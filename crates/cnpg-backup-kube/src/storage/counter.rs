//! A request-counting HTTP connector: how many LIST pages and GETs a catalog read costs
//! (benches and tests; object_store paginates inside one `list` call, so counting calls to
//! the store would hide the pages).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};

/// Counts of requests by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RequestCounts {
    /// LIST pages (`GET` with `list-type` in the query).
    pub list: u64,
    /// Object `GET`s.
    pub get: u64,
    /// `HEAD`s.
    pub head: u64,
    /// Everything else (`PUT`, `DELETE`, `POST`).
    pub other: u64,
    /// Responses `304 Not Modified` (conditional GETs answered without a body).
    pub not_modified: u64,
}

impl RequestCounts {
    /// All requests (a 304 is one of the `get`s).
    pub fn total(&self) -> u64 {
        self.list + self.get + self.head + self.other
    }
}

#[derive(Debug, Default)]
struct Counters {
    list: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    other: AtomicU64,
    not_modified: AtomicU64,
}

/// An [`HttpConnector`] over object_store's reqwest connector that counts every request.
/// Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counters: Arc<Counters>,
}

impl RequestCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counts so far.
    pub fn counts(&self) -> RequestCounts {
        let c = &self.counters;
        RequestCounts {
            list: c.list.load(Ordering::Relaxed),
            get: c.get.load(Ordering::Relaxed),
            head: c.head.load(Ordering::Relaxed),
            other: c.other.load(Ordering::Relaxed),
            not_modified: c.not_modified.load(Ordering::Relaxed),
        }
    }
}

impl HttpConnector for RequestCounter {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(CountingService {
            inner,
            counters: self.counters.clone(),
        }))
    }
}

#[derive(Debug)]
struct CountingService {
    inner: HttpClient,
    counters: Arc<Counters>,
}

#[async_trait]
impl HttpService for CountingService {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let c = &self.counters;
        let is_list = req
            .uri()
            .query()
            .is_some_and(|q| q.contains("list-type=") || q.contains("comp=list"));
        let counter = match *req.method() {
            reqwest::Method::GET if is_list => &c.list,
            reqwest::Method::GET => &c.get,
            reqwest::Method::HEAD => &c.head,
            _ => &c.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let response = self.inner.execute(req).await;
        if response
            .as_ref()
            .is_ok_and(|r| r.status() == reqwest::StatusCode::NOT_MODIFIED)
        {
            c.not_modified.fetch_add(1, Ordering::Relaxed);
        }
        response
    }
}
