//! An in-memory Kubernetes API server for cnpg-backup's tests: a tower `Service` that a
//! `kube::Client` runs on ([`ApiDouble::client`]), answering as the kube-apiserver v1.32
//! exchanges captured in the repository's `fixtures/apiserver` answer (the conformance tests in
//! `tests/conformance.rs` replay them).
//!
//! What it does, per request, in the API server's order:
//! 1. **faults** injected with [`ApiDouble::fail`] (refused before, or answer lost after);
//! 2. **authentication**: a bearer token registered with [`ApiDouble::add_token`] (or by
//!    [`ApiDouble::client_as`]) names the user; an unknown or revoked one gets the bare 401
//!    (fixtures 44, 45); no `Authorization` header is [`DEFAULT_USER`];
//! 3. **authorization** ([`rbac`]): everything is allowed until a [`rbac::Role`] is bound with
//!    [`ApiDouble::bind_role`]; from then on every request is authorized as kube-apiserver does
//!    ([`request::RequestInfo`]: GET named `get`, collection `list`, `watch=1|true` `watch`,
//!    POST `create`, PUT `update`, PATCH `patch`, DELETE `delete` or `deletecollection`,
//!    subresources as `resource/subresource`) and a denial is the real 403 (fixture 19);
//! 4. **storage** ([`store`]): get, paginated list with label selectors, create, replace
//!    (compare-and-swap on `resourceVersion` or unconditional), merge patch, server-side apply
//!    with managed fields and conflicts ([`ssa`]), delete with garbage collection; names and,
//!    when the CNPG CRDs are at hand, CRD schemas are validated before anything is stored
//!    ([`schema`]); an apply that would create the object is authorized again as `create`
//!    (fixtures 16, 18);
//! 5. the answer, with the headers the real server sends, and a [`Recorded`] entry in the
//!    request log ([`ApiDouble::requests`], [`ApiDouble::writes`]).
//!
//! Served: the resources in [`resources::SERVED`]; anything else is the server's 404.
//!
//! **Watches** (`watch` module) are chunked streams as the v1.32 watch cache sends them
//! (fixtures 22-25, 29, 30): `ADDED`, `MODIFIED`, `DELETED` after the given resourceVersion
//! (or every object first when there is none), label and `metadata.name` field selectors,
//! `BOOKMARK`s when asked (every minute and 2 s before the deadline, only once the server is past
//! the watch's resourceVersion), `timeoutSeconds` ending the stream, `sendInitialEvents`
//! refused in-stream as the captured server refuses it, and the in-stream `410 Expired` for a
//! resourceVersion older than the watch cache holds. Each resource's cache keeps the last
//! [`store::WATCH_CACHE`] changes ([`ApiDouble::set_watch_cache`]); tests force a 410 with
//! [`ApiDouble::expire_watches`] and expire `continue` tokens and exact lists with
//! [`ApiDouble::compact`] (fixtures 26-28). **Metadata only**: a get, list or watch whose
//! `Accept` asks `as=PartialObjectMetadata` (kube's metadata watcher) is answered
//! `PartialObjectMetadata(List)`. Timers run on tokio's clock: paused time moves them.
//!
//! **Leases** are stored like any object: create, get, replace with compare-and-swap on
//! `resourceVersion` (a stale one is the 409 of fixture 34), server-side apply with its field
//! conflicts (35). **Events** (`events.k8s.io/v1`) are created and merge-patched as any object
//! (409 `AlreadyExists` on a repeat). ConfigMaps swap on `resourceVersion` (36-38).
//!
//! For tests: [`ApiDouble::count`] and [`ApiDouble::counts`] count requests by verb and
//! resource, [`ApiDouble::edit`] is someone else's write, [`ApiDouble::subscribe`] is told of
//! every change, and [`operator`] stands in for CNPG (clusters become ready).
//!
//! Not modelled: snapshots for paginated lists (later pages read the current objects), the
//! streaming list that `sendInitialEvents` asks for on newer etcd, watches across namespaces,
//! TokenReview and SubjectAccessReview.
//!
//! ```
//! use cnpg_backup_apidouble::{ApiDouble, NAMESPACE};
//! use cnpg_backup_apidouble::rbac::{Role, Rule};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let double = ApiDouble::new();
//! double.bind_role(Role::new("reader", vec![Rule::new(&[""], &["configmaps"], &["get"])]));
//! let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
//!     kube::Api::namespaced(double.client(), NAMESPACE);
//! assert!(api.get_opt("absent").await.unwrap().is_none());
//! let err = api.list(&Default::default()).await.unwrap_err();
//! assert!(err.to_string().contains("cannot list resource \"configmaps\""));
//! assert_eq!(double.requests()[1].verb(), "list");
//! # }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod base64url;
pub mod fixtures;
pub mod operator;
pub mod rbac;
mod record;
pub mod request;
pub mod resources;
pub mod schema;
pub mod ssa;
pub mod status;
pub mod store;
mod watch;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use kube::client::Body;
use serde_json::Value;

pub use record::{Recorded, WRITE_VERBS};

use crate::rbac::Role;
use crate::request::RequestInfo;
use crate::store::{Answer, Store};
use crate::watch::WatchSpec;

/// The body of the double's answers: whole, or a watch's stream of events.
pub type DoubleBody = UnsyncBoxBody<Bytes, Infallible>;

/// The namespace [`ApiDouble::client`] defaults to and [`ApiDouble::insert`] stores in.
pub const NAMESPACE: &str = "fixtures";

/// Who a request without an `Authorization` header is: the ServiceAccount the fixtures' Role
/// was bound to (16-19).
pub const DEFAULT_USER: &str = "system:serviceaccount:fixtures:cnpg-backup";

/// The `Date` header of every answer.
const DATE: &str = "Thu, 26 Nov 2026 05:05:38 GMT";

/// When an injected fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The request is refused; nothing happens.
    Before,
    /// The request is carried out, then the answer is lost (the client sees the error).
    After,
}

#[derive(Debug, Clone)]
struct Fault {
    method: String,
    path_contains: String,
    code: u16,
    timing: Timing,
    remaining: u32,
}

/// Which layer answered: the API server sets different headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// Authentication filter: no priority-and-fairness headers (fixtures 44, 45).
    Authentication,
    /// Authorization filter: `X-Content-Type-Options: nosniff` (fixture 19).
    Authorization,
    /// The handler (everything else, including the `create` check of an apply: 16, 18).
    Handler,
    /// A watch stream: chunked.
    Watch,
}

#[derive(Debug)]
struct State {
    store: Store,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    tokens: BTreeMap<String, String>,
    /// `None`: everything is allowed (no Role bound yet).
    bindings: Option<BTreeMap<String, Vec<Role>>>,
    audit: u64,
    /// Tells watches (and the operator stand-in) that something changed: the resourceVersion.
    changed: tokio::sync::watch::Sender<u64>,
    /// Whether the request log keeps the answers' bodies.
    keep_answers: bool,
}

impl State {
    fn changed(&self) {
        self.changed.send_replace(self.store.resource_version());
    }
}

/// The double. Clone it freely: clones share state.
#[derive(Clone)]
pub struct ApiDouble {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for ApiDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDouble").finish_non_exhaustive()
    }
}

impl Default for ApiDouble {
    fn default() -> Self {
        Self::new()
    }
}

fn served(plural: &str) -> &'static resources::Resource {
    resources::SERVED
        .iter()
        .find(|r| r.plural == plural)
        .unwrap_or_else(|| panic!("the double does not serve `{plural}`"))
}

impl ApiDouble {
    /// An empty server where everything is allowed, validating CNPG objects against their
    /// CRDs when the build found them ([`schema`]).
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                store: Store::new(schema::validators().is_some()),
                requests: Vec::new(),
                faults: Vec::new(),
                tokens: BTreeMap::new(),
                bindings: None,
                audit: 0,
                changed: tokio::sync::watch::Sender::new(0),
                keep_answers: true,
            })),
        }
    }

    /// A receiver told of every change (its value: the resourceVersion after it).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.lock().changed.subscribe()
    }

    /// The current resourceVersion (of the last change).
    pub fn resource_version(&self) -> u64 {
        self.lock().store.resource_version()
    }

    /// How many changes of each resource the watch cache keeps (default
    /// [`store::WATCH_CACHE`]); a watch resuming from before the oldest kept is answered 410
    /// in-stream (fixture 30).
    pub fn set_watch_cache(&self, capacity: usize) {
        self.lock().store.set_watch_cache(capacity);
    }

    /// Re-initialises the watch cache of `plural` (as an API server restart does): open
    /// watches of it end, and a watch that resumes from a resourceVersion seen before gets the
    /// in-stream `410 Expired` of fixture 30, so the client lists again.
    pub fn expire_watches(&self, plural: &str) {
        let mut st = self.lock();
        st.store.expire_watches(served(plural));
        st.changed();
    }

    /// Compacts etcd at the current revision: `continue` tokens and exact lists from before
    /// are `410 Expired` (fixtures 26, 28); watches are not (29).
    pub fn compact(&self) {
        self.lock().store.compact();
    }

    /// Whether the request log keeps each answer's body (default `true`; a benchmark listing
    /// thousands of objects turns it off).
    pub fn keep_answers(&self, keep: bool) {
        self.lock().keep_answers = keep;
    }

    /// How many requests so far had `verb` (`get`, `list`, `watch`, `create`, ...) on
    /// `resource` (`clusters`, `leases`, `clusters/status`, ...).
    pub fn count(&self, verb: &str, resource: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.verb() == verb && r.resource() == resource)
            .count()
    }

    /// The number of requests so far by (verb, resource).
    pub fn counts(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        for r in &self.lock().requests {
            *out.entry((r.verb().to_owned(), r.resource())).or_insert(0) += 1;
        }
        out
    }

    /// Changes the stored object `name` of `plural` in [`NAMESPACE`] with `edit`, as someone
    /// else's write would (not a request): its resourceVersion moves, a spec change moves its
    /// generation, and watches see it.
    ///
    /// # Panics
    /// When there is no such object.
    pub fn edit(&self, plural: &str, name: &str, edit: impl FnOnce(&mut Value)) {
        let mut st = self.lock();
        assert!(
            st.store.edit(served(plural), NAMESPACE, name, edit),
            "no {plural} `{name}` to edit"
        );
        st.changed();
    }

    /// Whether writes are checked against the CNPG CRD schemas.
    pub fn validates_schemas() -> bool {
        schema::validators().is_some()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client on the double, as [`DEFAULT_USER`], default namespace [`NAMESPACE`].
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), NAMESPACE)
    }

    /// A client on the double that authenticates as `user` (a token is registered for it).
    pub fn client_as(&self, user: &str) -> kube::Client {
        let token = format!("double-token-for-{user}");
        self.add_token(&token, user);
        kube::Client::new(AsUser::new(self.clone(), &token), NAMESPACE)
    }

    /// Registers a bearer token for `user`.
    pub fn add_token(&self, token: &str, user: &str) {
        self.lock().tokens.insert(token.to_owned(), user.to_owned());
    }

    /// Revokes a token (as deleting its ServiceAccount does: fixture 45).
    pub fn revoke_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// Binds `role` to [`DEFAULT_USER`]. From the first binding on, every request is
    /// authorized by the roles bound to its user (none: everything denied).
    pub fn bind_role(&self, role: Role) {
        self.bind_role_to(DEFAULT_USER, role);
    }

    /// Binds `role` to `user` (see [`Self::bind_role`]).
    pub fn bind_role_to(&self, user: &str, role: Role) {
        self.lock()
            .bindings
            .get_or_insert_with(BTreeMap::new)
            .entry(user.to_owned())
            .or_default()
            .push(role);
    }

    /// Removes every binding: everything is allowed again.
    pub fn allow_all(&self) {
        self.lock().bindings = None;
    }

    /// Stores an object directly (not a request: not recorded, not authorized), filling server
    /// metadata. The namespace is the object's, else [`NAMESPACE`].
    ///
    /// # Panics
    /// When the object's kind is not served.
    pub fn insert(&self, obj: Value) {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let r = resources::by_kind(api_version, kind)
            .unwrap_or_else(|| panic!("the double does not serve {api_version} {kind}"));
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or(NAMESPACE)
            .to_owned();
        let mut st = self.lock();
        st.store.insert(r, &ns, obj);
        st.changed();
    }

    /// The stored object `name` of resource `plural` in [`NAMESPACE`].
    pub fn object(&self, plural: &str, name: &str) -> Option<Value> {
        self.lock()
            .store
            .object(served(plural), NAMESPACE, name)
            .cloned()
    }

    /// The names of the stored objects of `plural` in [`NAMESPACE`], in order.
    pub fn names(&self, plural: &str) -> Vec<String> {
        self.lock().store.names(served(plural), NAMESPACE)
    }

    /// Sets the status of an object, as the operator would (not a request).
    ///
    /// # Panics
    /// When there is no such object.
    pub fn set_status(&self, plural: &str, name: &str, status: Value) {
        let mut st = self.lock();
        assert!(
            st.store.set_status(served(plural), NAMESPACE, name, status),
            "no {plural} `{name}` to set the status of"
        );
        st.changed();
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// The requests that ask to change something ([`Recorded::is_write`]), in order.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_write)
            .collect()
    }

    /// The next `count` requests with `method` whose URI (path and query) contains
    /// `path_contains` fail with `code`, before or after being carried out.
    pub fn fail(&self, method: &str, path_contains: &str, code: u16, timing: Timing, count: u32) {
        self.lock().faults.push(Fault {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            code,
            timing,
            remaining: count,
        });
    }

    fn take_fault(st: &mut State, method: &str, uri: &str) -> Option<(u16, Timing)> {
        let f = st
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.method == method && uri.contains(&f.path_contains))?;
        f.remaining -= 1;
        Some((f.code, f.timing))
    }

    fn allowed(st: &State, user: &str, info: &RequestInfo, verb: &str) -> bool {
        match &st.bindings {
            None => true,
            Some(b) => b
                .get(user)
                .is_some_and(|roles| roles.iter().any(|r| r.allows(info, verb))),
        }
    }

    fn handle(&self, incoming: Incoming) -> (Answer, Layer, Recorded, Option<WatchSpec>) {
        let mut st = self.lock();
        let before = st.store.resource_version();
        let query = incoming.query.clone();
        let meta_only = watch::wants_metadata(incoming.accept.as_deref());
        let (answer, layer, rec) = self.handle_locked(&mut st, incoming);
        if st.store.resource_version() != before {
            st.changed();
        }
        drop(st);
        let spec = (layer == Layer::Watch && answer.0 == 200)
            .then(|| {
                let info = &rec.info;
                resources::by_plural(&info.api_group, &info.resource)
                    .map(|r| WatchSpec::new(r, info, &query, meta_only))
            })
            .flatten();
        let answer = match (answer, layer) {
            ((200, body), Layer::Handler)
                if meta_only && matches!(rec.info.verb.as_str(), "get" | "list") =>
            {
                if rec.info.verb == "get" {
                    (200, watch::partial(&body))
                } else {
                    (200, watch::partial_list(&body))
                }
            }
            (a, _) => a,
        };
        (answer, layer, rec, spec)
    }

    fn handle_locked(&self, st: &mut State, incoming: Incoming) -> (Answer, Layer, Recorded) {
        let Incoming {
            method,
            uri,
            path,
            query,
            content_type,
            user_agent,
            token,
            body,
            accept,
        } = incoming;
        let info = RequestInfo::parse(&method, &path, &query);
        let mut rec = Recorded {
            method: method.clone(),
            path,
            query: query.clone(),
            content_type: content_type.clone(),
            accept,
            body: body.as_ref().ok().cloned().flatten(),
            status: 0,
            answer: Value::Null,
            user: None,
            info: info.clone(),
            checked: Vec::new(),
        };
        let fault = Self::take_fault(st, &method, &uri);
        if let Some((code, Timing::Before)) = fault {
            return ((code, status::fault(code)), Layer::Handler, rec);
        }
        let user = match token {
            None => DEFAULT_USER.to_owned(),
            Some(t) => match st.tokens.get(&t) {
                Some(u) => u.clone(),
                None => return ((401, status::unauthorized()), Layer::Authentication, rec),
            },
        };
        rec.user = Some(user.clone());
        rec.checked.push(info.verb.clone());
        if !Self::allowed(st, &user, &info, &info.verb) {
            let body = rbac::forbidden(&user, &info, &info.verb);
            return ((403, body), Layer::Authorization, rec);
        }
        let resource = info
            .is_resource_request
            .then(|| resources::by_plural(&info.api_group, &info.resource))
            .flatten()
            .filter(|_| !info.namespace.is_empty());
        let Some(r) = resource else {
            return ((404, status::unknown_resource()), Layer::Handler, rec);
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                let msg = format!("the body of the request could not be read: {e}");
                return (
                    (400, status::failure(400, "BadRequest", &msg, None)),
                    Layer::Handler,
                    rec,
                );
            }
        };
        let manager = store::manager_of(&query, user_agent.as_deref());
        let mut layer = Layer::Handler;
        let answer = match (info.verb.as_str(), body) {
            ("get", _) => st.store.get(r, &info),
            ("list", _) => st.store.list(r, &info, &query),
            ("watch", _) => {
                layer = Layer::Watch;
                (200, Value::Null)
            }
            ("create", Some(b)) => st.store.create(r, &info, &manager, b),
            ("update", Some(b)) => st.store.replace(r, &info, &manager, b),
            ("patch", Some(b))
                if content_type.as_deref() == Some("application/apply-patch+yaml") =>
            {
                let Some(field_manager) = query.get("fieldManager").cloned() else {
                    let msg = "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch";
                    return (
                        (422, status::failure(422, "Invalid", msg, None)),
                        Layer::Handler,
                        rec,
                    );
                };
                let force = query.get("force").is_some_and(|f| f == "true");
                let bindings_allow = Self::allowed(st, &user, &info, "create");
                let mut create_checked = false;
                let answer = st.store.apply(r, &info, &field_manager, force, &b, || {
                    create_checked = true;
                    if bindings_allow {
                        Ok(())
                    } else {
                        Err((403, rbac::forbidden(&user, &info, "create")))
                    }
                });
                if create_checked {
                    rec.checked.push("create".to_owned());
                }
                answer
            }
            ("patch", Some(b)) => st.store.merge(r, &info, &manager, &b),
            ("delete", b) => st.store.delete(r, &info, b.as_ref()),
            ("deletecollection", _) => st.store.delete_collection(r, &info, &query),
            (verb, _) => {
                let msg = format!("{verb} needs a request body");
                (400, status::failure(400, "BadRequest", &msg, None))
            }
        };
        match fault {
            Some((code, Timing::After)) => ((code, status::fault(code)), Layer::Handler, rec),
            _ => (answer, layer, rec),
        }
    }

    fn respond(
        &self,
        (status, body): Answer,
        layer: Layer,
        watch: Option<WatchSpec>,
    ) -> Response<DoubleBody> {
        let audit = {
            let mut st = self.lock();
            st.audit += 1;
            st.audit
        };
        let bytes = if layer == Layer::Watch {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap_or_default()
        };
        let mut builder = Response::builder()
            .status(status)
            .header("Audit-Id", format!("00000000-0000-4000-8000-{audit:012x}"))
            .header("Cache-Control", "no-cache, private")
            .header("Content-Type", "application/json");
        if layer == Layer::Authorization {
            builder = builder.header("X-Content-Type-Options", "nosniff");
        }
        if layer != Layer::Authentication {
            builder = builder
                .header(
                    "X-Kubernetes-Pf-Flowschema-Uid",
                    "deddf93a-7b25-4fa0-8948-504a66aec3c1",
                )
                .header(
                    "X-Kubernetes-Pf-Prioritylevel-Uid",
                    "b58aefe5-8dfb-4fbc-9261-34ec47e3fcf6",
                );
        }
        builder = builder.header("Date", DATE);
        builder = if layer == Layer::Watch {
            builder.header("Transfer-Encoding", "chunked")
        } else {
            builder.header("Content-Length", bytes.len())
        };
        let body = match watch {
            Some(spec) => StreamBody::new(watch::stream(self.clone(), spec)).boxed_unsync(),
            None => Full::new(Bytes::from(bytes)).boxed_unsync(),
        };
        builder
            .body(body)
            .unwrap_or_else(|e| panic!("building an answer: {e}"))
    }
}

/// A request, read off the wire.
struct Incoming {
    method: String,
    uri: String,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    user_agent: Option<String>,
    token: Option<String>,
    body: Result<Option<Value>, String>,
    accept: Option<String>,
}

fn parse_body(bytes: &[u8], content_type: Option<&str>) -> Result<Option<Value>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(Some(v)),
        // An apply body may be YAML (JSON is YAML, so JSON is tried first).
        Err(_) if content_type == Some("application/apply-patch+yaml") => {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            serde_saphyr::from_str(text)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

impl tower::Service<Request<Body>> for ApiDouble {
    type Response = Response<DoubleBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<DoubleBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let header = |name: http::header::HeaderName| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let content_type = header(http::header::CONTENT_TYPE);
            let body = match body.collect_bytes().await {
                Ok(bytes) => parse_body(&bytes, content_type.as_deref()),
                Err(e) => Err(e.to_string()),
            };
            let incoming = Incoming {
                method: parts.method.as_str().to_owned(),
                uri: parts.uri.to_string(),
                path: parts.uri.path().to_owned(),
                query: request::parse_query(parts.uri.query()),
                content_type,
                user_agent: header(http::header::USER_AGENT),
                token: header(http::header::AUTHORIZATION)
                    .map(|a| a.strip_prefix("Bearer ").unwrap_or(&a).to_owned()),
                body,
                accept: header(http::header::ACCEPT),
            };
            let ((status, answer), layer, mut rec, watch) = this.handle(incoming);
            rec.status = status;
            {
                let mut st = this.lock();
                if st.keep_answers {
                    rec.answer = answer.clone();
                }
                st.requests.push(rec);
            }
            Ok(this.respond((status, answer), layer, watch))
        })
    }
}

/// The double as seen with a bearer token (see [`ApiDouble::client_as`]).
#[derive(Clone)]
struct AsUser {
    double: ApiDouble,
    authorization: HeaderValue,
}

impl AsUser {
    fn new(double: ApiDouble, token: &str) -> Self {
        let authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .unwrap_or_else(|e| panic!("a token that is not a header value: {e}"));
        Self {
            double,
            authorization,
        }
    }
}

impl tower::Service<Request<Body>> for AsUser {
    type Response = Response<DoubleBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<DoubleBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        req.headers_mut()
            .insert(http::header::AUTHORIZATION, self.authorization.clone());
        self.double.call(req)
    }
}
