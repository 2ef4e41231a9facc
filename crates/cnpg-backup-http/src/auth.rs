//! Who is calling and what they may do.
//!
//! Every route except `openapi.json` needs a bearer token ([`Authenticator`]) and a permission
//! ([`Authorizer`]): a [`Verb`] on one of cnpg-backup's own resources ([`Resource`], in the API
//! group `cnpg-backup.io`). Both are checked by the [`Allowed`] extractor, the first argument
//! of every handler, so they are settled before a body is read and before anything reaches
//! Kubernetes or the bucket.
//!
//! Implementations: [`KubeTokenReviewer`] and [`KubeAccessReviewer`] (TokenReview and
//! SubjectAccessReview, for `serve` in a cluster: users get roles with ordinary RBAC, see
//! `cnpg-backup rbac --users`), and [`StaticToken`] with [`AllowAll`] for the embedded default.
//! A host that mounts the router brings its own by implementing the two traits.
//!
//! Tokens are [`SecretString`]s: never logged, never in a `Debug` output or an error.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use cnpg_backup_core::names::RestoreId;
use cnpg_backup_kube::access::{
    AccessAttributes, AccessDecision, KubeAccessReviewer, KubeTokenReviewer, ReviewedUser,
};
use secrecy::{ExposeSecret, SecretString};

use crate::problem::Problem;
use crate::state::ApiState;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct User {
    /// The user name: the actor recorded in a restore's audit trail.
    pub name: String,
    /// The uid, when the authenticator knows one.
    pub uid: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes the authenticator reported (passed back to the authorizer).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// A user with a name and groups.
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> Self {
        Self {
            name: name.into(),
            groups,
            ..Self::default()
        }
    }
}

/// An RBAC verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Read one thing.
    Get,
    /// Read a collection.
    List,
    /// Create (also: a dry run of a creation, e.g. a restore plan).
    Create,
    /// Change or advance an existing thing.
    Update,
}

impl Verb {
    /// The verb as RBAC spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Update => "update",
        }
    }
}

/// A resource of the API group `cnpg-backup.io`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Backup automation settings, status, reconcile, preflight.
    Settings,
    /// Backups: catalogs, versions, run now.
    Backups,
    /// Restores: plan, stage one, readiness, abandon, retry, cleanup.
    Restores,
    /// Stage two of a restore (the subresource `restores/apply`).
    RestoresApply,
}

impl Resource {
    /// `resource` or `resource/subresource`, as an RBAC rule names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Settings => "settings",
            Resource::Backups => "backups",
            Resource::Restores => "restores",
            Resource::RestoresApply => "restores/apply",
        }
    }
}

/// A verb on a resource: what a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    /// The verb.
    pub verb: Verb,
    /// The resource.
    pub resource: Resource,
}

impl Permission {
    /// `verb` on `resource`.
    pub const fn new(verb: Verb, resource: Resource) -> Self {
        Self { verb, resource }
    }

    /// The attributes of an access review of this permission on the object `name`.
    pub fn attributes(&self, name: Option<&str>) -> AccessAttributes {
        let (resource, sub) = match self.resource.as_str().split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (self.resource.as_str(), None),
        };
        AccessAttributes::new(self.verb.as_str(), resource, sub, name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` on `{}` (API group `{}`)",
            self.verb.as_str(),
            self.resource.as_str(),
            cnpg_backup_kube::access::API_GROUP
        )
    }
}

/// The answer of an [`Authorizer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// Refused, with the authorizer's reason when it gives one.
    Denied {
        /// Why.
        reason: Option<String>,
    },
}

/// Checking a caller failed (not a "no": the check itself could not be made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The authenticator or authorizer is unreachable or refused to answer.
    #[error("cannot check the caller: {detail}")]
    Unavailable {
        /// What failed.
        detail: String,
    },
}

/// Turns a bearer token into a user.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// The user `token` belongs to; `None` when it is not valid (unknown, expired, revoked).
    ///
    /// # Errors
    /// [`AccessError`] when the check itself fails; the request is then refused (502).
    async fn authenticate(&self, token: &SecretString) -> Result<Option<User>, AccessError>;
}

/// Decides whether a user may have a permission, on one named object or on the collection.
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Whether `user` may have `permission` on `name` (a restore id), or on the collection.
    ///
    /// # Errors
    /// [`AccessError`] when the check itself fails; the request is then refused (502).
    async fn authorize(
        &self,
        user: &User,
        permission: Permission,
        name: Option<&str>,
    ) -> Result<Decision, AccessError>;
}

/// One token, one user: the embedded default's `serve` (a random token printed at start, or
/// read from a file). The comparison takes the same time wherever the tokens differ.
pub struct StaticToken {
    token: SecretString,
    user: User,
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &"<redacted>")
            .field("user", &self.user.name)
            .finish()
    }
}

impl StaticToken {
    /// Accepts exactly `token`, as `user`.
    pub fn new(token: SecretString, user: User) -> Self {
        Self { token, user }
    }
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[async_trait]
impl Authenticator for StaticToken {
    async fn authenticate(&self, token: &SecretString) -> Result<Option<User>, AccessError> {
        let ok = same_bytes(
            token.expose_secret().as_bytes(),
            self.token.expose_secret().as_bytes(),
        );
        Ok(ok.then(|| self.user.clone()))
    }
}

/// Allows every authenticated caller everything (the embedded default, where the one token
/// is the permission).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait]
impl Authorizer for AllowAll {
    async fn authorize(
        &self,
        _: &User,
        _: Permission,
        _: Option<&str>,
    ) -> Result<Decision, AccessError> {
        Ok(Decision::Allowed)
    }
}

#[async_trait]
impl Authenticator for KubeTokenReviewer {
    async fn authenticate(&self, token: &SecretString) -> Result<Option<User>, AccessError> {
        let user = self
            .review(token)
            .await
            .map_err(|e| AccessError::Unavailable {
                detail: e.to_string(),
            })?;
        Ok(user.map(|u| User {
            name: u.username,
            uid: u.uid,
            groups: u.groups,
            extra: u.extra,
        }))
    }
}

#[async_trait]
impl Authorizer for KubeAccessReviewer {
    async fn authorize(
        &self,
        user: &User,
        permission: Permission,
        name: Option<&str>,
    ) -> Result<Decision, AccessError> {
        let mut reviewed = ReviewedUser::new(user.name.clone(), user.groups.clone());
        reviewed.uid = user.uid.clone();
        reviewed.extra = user.extra.clone();
        let decision = self
            .review(&reviewed, &permission.attributes(name))
            .await
            .map_err(|e| AccessError::Unavailable {
                detail: e.to_string(),
            })?;
        Ok(match decision {
            AccessDecision::Allowed { .. } => Decision::Allowed,
            AccessDecision::Denied { reason } => Decision::Denied { reason },
            _ => Decision::Denied { reason: None },
        })
    }
}

/// How the router checks callers: an authenticator and an authorizer.
#[derive(Clone)]
pub struct Access {
    authenticator: Arc<dyn Authenticator>,
    authorizer: Arc<dyn Authorizer>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access").finish_non_exhaustive()
    }
}

impl Access {
    /// Any authenticator and authorizer.
    pub fn new(authenticator: Arc<dyn Authenticator>, authorizer: Arc<dyn Authorizer>) -> Self {
        Self {
            authenticator,
            authorizer,
        }
    }

    /// Kubernetes: TokenReview for tokens, SubjectAccessReview in `namespace` for permissions.
    pub fn kube(client: kube::Client, namespace: impl Into<String>) -> Self {
        Self::new(
            Arc::new(KubeTokenReviewer::new(client.clone())),
            Arc::new(KubeAccessReviewer::new(client, namespace)),
        )
    }

    /// The same checks, with answers remembered for `ttl` (errors are never remembered), as
    /// the API server's own webhook authenticator and authorizer do: a burst of requests, or a
    /// page with an event stream and a few buttons, costs one token review and one access
    /// review per permission instead of one each per request. A revoked token or binding stops
    /// working within `ttl`. `Duration::ZERO`: no cache.
    pub fn with_cache(self, ttl: std::time::Duration) -> Self {
        if ttl.is_zero() {
            return self;
        }
        Self {
            authenticator: Arc::new(CachedAuthenticator {
                inner: self.authenticator,
                memo: Memo::new(ttl),
            }),
            authorizer: Arc::new(CachedAuthorizer {
                inner: self.authorizer,
                memo: Memo::new(ttl),
            }),
        }
    }

    /// One token, which may do everything, as `user` (the embedded default).
    pub fn token(token: SecretString, user: impl Into<String>) -> Self {
        Self::new(
            Arc::new(StaticToken::new(token, User::new(user, Vec::new()))),
            Arc::new(AllowAll),
        )
    }

    /// Authenticates `token` and authorizes `permission` on `name`.
    ///
    /// # Errors
    /// 401 for an invalid token, 403 without the permission, 502 when the check failed.
    pub async fn check(
        &self,
        token: &SecretString,
        permission: Permission,
        name: Option<&str>,
    ) -> Result<User, Problem> {
        let unavailable = |e: AccessError| {
            Problem::from(cnpg_backup_app::AppError::from_error(
                cnpg_backup_app::Category::World,
                &e,
            ))
        };
        let user = self
            .authenticator
            .authenticate(token)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                Problem::unauthenticated(
                    "the bearer token is not valid (unknown, expired or revoked)",
                )
            })?;
        match self
            .authorizer
            .authorize(&user, permission, name)
            .await
            .map_err(unavailable)?
        {
            Decision::Allowed => Ok(user),
            Decision::Denied { reason } => {
                let on = name.map(|n| format!(" for `{n}`")).unwrap_or_default();
                let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                Err(Problem::forbidden(format!(
                    "user `{}` may not do this: it needs {permission}{on}{why}",
                    user.name
                ))
                .hint(
                    "ask a cluster admin for a role that grants it (`cnpg-backup rbac --users` \
                     prints them), bound in this namespace with a RoleBinding",
                ))
            }
        }
    }
}

/// The most answers a cache keeps; when full, expired ones go, and if none has, all.
const CACHE_MAX: usize = 10_000;

/// Answers remembered for a while, by key.
struct Memo<K, V> {
    ttl: std::time::Duration,
    seen: std::sync::Mutex<std::collections::HashMap<K, (V, tokio::time::Instant)>>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Memo<K, V> {
    fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            seen: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<K, (V, tokio::time::Instant)>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer for `key`, if it is recent enough.
    fn get(&self, key: &K) -> Option<V> {
        self.lock()
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        let now = tokio::time::Instant::now();
        let ttl = self.ttl;
        let mut map = self.lock();
        if map.len() >= CACHE_MAX {
            map.retain(|_, (_, at)| now.duration_since(*at) < ttl);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(key, (value, now));
    }
}

/// Token reviews remembered by the SHA-256 of the token (the token itself is not kept).
struct CachedAuthenticator {
    inner: Arc<dyn Authenticator>,
    memo: Memo<[u8; 32], Option<User>>,
}

#[async_trait]
impl Authenticator for CachedAuthenticator {
    async fn authenticate(&self, token: &SecretString) -> Result<Option<User>, AccessError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.expose_secret().as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if let Some(user) = self.memo.get(&key) {
            return Ok(user);
        }
        let user = self.inner.authenticate(token).await?;
        self.memo.put(key, user.clone());
        Ok(user)
    }
}

/// User (name, uid, groups), permission, object.
type DecisionKey = (
    String,
    Option<String>,
    Vec<String>,
    Permission,
    Option<String>,
);

/// Access reviews remembered by user, permission and object.
struct CachedAuthorizer {
    inner: Arc<dyn Authorizer>,
    memo: Memo<DecisionKey, Decision>,
}

#[async_trait]
impl Authorizer for CachedAuthorizer {
    async fn authorize(
        &self,
        user: &User,
        permission: Permission,
        name: Option<&str>,
    ) -> Result<Decision, AccessError> {
        let key: DecisionKey = (
            user.name.clone(),
            user.uid.clone(),
            user.groups.clone(),
            permission,
            name.map(str::to_owned),
        );
        if let Some(d) = self.memo.get(&key) {
            return Ok(d);
        }
        let d = self.inner.authorize(user, permission, name).await?;
        self.memo.put(key, d.clone());
        Ok(d)
    }
}

/// The bearer token of a request.
///
/// # Errors
/// 401 when there is none, or it is not a `Bearer` token.
pub fn bearer(parts: &Parts) -> Result<SecretString, Problem> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| Problem::unauthenticated("no `Authorization: Bearer` header"))?;
    let text = value
        .to_str()
        .map_err(|_| Problem::unauthenticated("the `Authorization` header is not text"))?;
    let (scheme, token) = text.split_once(' ').ok_or_else(|| {
        Problem::unauthenticated("the `Authorization` header is not `Bearer <token>`")
    })?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Problem::unauthenticated(
            "the `Authorization` header is not `Bearer <token>`",
        ));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// A permission a route needs; a marker type per permission (see [`Allowed`]).
pub trait Need: Send + Sync + 'static {
    /// The permission.
    const PERMISSION: Permission;
    /// Whether it is about the restore named by the path's `{id}`.
    const NAMED: bool;
}

macro_rules! needs {
    ($($(#[$doc:meta])* $name:ident = $verb:ident $res:ident $named:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Need for $name {
            const PERMISSION: Permission = Permission::new(Verb::$verb, Resource::$res);
            const NAMED: bool = $named;
        }
    )*};
}

needs! {
    /// `get` on `settings`.
    GetSettings = Get Settings false;
    /// `update` on `settings`.
    UpdateSettings = Update Settings false;
    /// `list` on `backups`.
    ListBackups = List Backups false;
    /// `create` on `backups`.
    CreateBackups = Create Backups false;
    /// `list` on `restores`.
    ListRestores = List Restores false;
    /// `create` on `restores` (also a plan: a dry run of stage one).
    CreateRestores = Create Restores false;
    /// `get` on the restore `{id}`.
    GetRestore = Get Restores true;
    /// `update` on the restore `{id}`.
    UpdateRestore = Update Restores true;
    /// `create` on `restores/apply` of the restore `{id}`.
    ApplyRestore = Create RestoresApply true;
}

/// The caller, authenticated and allowed `N`'s permission: the first argument of every
/// handler (so the check precedes reading the body).
pub struct Allowed<N: Need> {
    /// Who.
    pub user: User,
    need: PhantomData<N>,
}

impl<N: Need> Allowed<N> {
    /// The actor recorded in a restore's audit trail.
    pub fn actor(&self) -> Option<String> {
        Some(self.user.name.clone())
    }
}

impl<N: Need> FromRequestParts<ApiState> for Allowed<N> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let token = bearer(parts)?;
        let name = if N::NAMED {
            RawPathParams::from_request_parts(parts, state)
                .await
                .ok()
                .and_then(|p| {
                    p.iter()
                        .find(|(k, _)| *k == "id")
                        .map(|(_, v)| v.to_owned())
                })
                // Only a valid restore id is an object name; anything else is refused by the
                // handler (400) if the caller may act on restores at all.
                .filter(|v| v.parse::<RestoreId>().is_ok())
        } else {
            None
        };
        let user = state
            .access()
            .check(&token, N::PERMISSION, name.as_deref())
            .await?;
        Ok(Allowed {
            user,
            need: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison_still_compares() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"abcd"));
    }

    #[test]
    fn apply_is_a_subresource_in_the_review() {
        let a = ApplyRestore::PERMISSION.attributes(Some("r-1"));
        assert_eq!(a.resource, "restores");
        assert_eq!(a.subresource.as_deref(), Some("apply"));
        assert_eq!(a.verb, "create");
        assert_eq!(a.name.as_deref(), Some("r-1"));
    }

    #[test]
    fn a_static_token_is_never_in_debug_output() {
        let t = StaticToken::new(
            SecretString::from("planted-secret".to_owned()),
            User::new("me", vec![]),
        );
        assert!(!format!("{t:?}").contains("planted-secret"));
    }
}
