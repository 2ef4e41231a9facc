//! Who is calling, and may they: Kubernetes `TokenReview` and `SubjectAccessReview`, for an
//! adapter (the HTTP API) that authenticates its callers with their Kubernetes bearer tokens
//! and authorizes each request with ordinary RBAC on resources of cnpg-backup's own API group.
//!
//! Translation only: [`KubeTokenReviewer`] turns a token into a [`ReviewedUser`] (or none), and
//! [`KubeAccessReviewer`] turns a user and [`AccessAttributes`] into an [`AccessDecision`].
//! Which permission a request needs is the adapter's business. The service account that calls
//! these needs `create` on `tokenreviews` and `subjectaccessreviews`
//! ([`crate::rbac::SERVE_REVIEW_RULES`]).
//!
//! Tokens are never logged: they travel as [`SecretString`] and are exposed only into the
//! request body.

use std::collections::BTreeMap;

use cnpg_backup_core::ports::BackendError;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use secrecy::{ExposeSecret, SecretString};

use crate::error::to_backend;

/// The API group of cnpg-backup's own (virtual) resources: `settings`, `backups`, `restores`
/// and the subresource `restores/apply`. Nothing is stored under it; it exists so that RBAC
/// rules can grant its verbs.
pub const API_GROUP: &str = "cnpg-backup.io";

/// An authenticated user, as the API server reported it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReviewedUser {
    /// The user name, e.g. `system:serviceaccount:platform:ci` or `jane@example.com`.
    pub username: String,
    /// The user's uid, when the authenticator reports one.
    pub uid: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes (e.g. the credential id), passed back in access reviews.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl ReviewedUser {
    /// A user with a name and groups.
    pub fn new(username: impl Into<String>, groups: Vec<String>) -> Self {
        Self {
            username: username.into(),
            uid: None,
            groups,
            extra: BTreeMap::new(),
        }
    }
}

/// What a request wants to do, as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessAttributes {
    /// The verb: `get`, `list`, `create`, `update`...
    pub verb: String,
    /// The resource (plural), in [`API_GROUP`].
    pub resource: String,
    /// The subresource, e.g. `apply` for `restores/apply`.
    pub subresource: Option<String>,
    /// The object's name, when the request is about one (a restore id).
    pub name: Option<String>,
}

impl AccessAttributes {
    /// `verb` on `resource` (optionally `resource/subresource`) of [`API_GROUP`].
    pub fn new(verb: &str, resource: &str, subresource: Option<&str>, name: Option<&str>) -> Self {
        Self {
            verb: verb.to_owned(),
            resource: resource.to_owned(),
            subresource: subresource.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }
}

/// The answer of an access review.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessDecision {
    /// Allowed, with the authorizer's reason (e.g. the RoleBinding).
    Allowed {
        /// Why, when the authorizer says.
        reason: Option<String>,
    },
    /// Not allowed (RBAC has no rule, or an authorizer denied it).
    Denied {
        /// Why, when the authorizer says.
        reason: Option<String>,
    },
}

/// Checks bearer tokens with `TokenReview`.
#[derive(Clone)]
pub struct KubeTokenReviewer {
    client: kube::Client,
    audiences: Vec<String>,
}

impl std::fmt::Debug for KubeTokenReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTokenReviewer")
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl KubeTokenReviewer {
    /// Reviews tokens for the API server's own audience.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            audiences: Vec::new(),
        }
    }

    /// Accepts only tokens issued for one of `audiences`.
    pub fn with_audiences(mut self, audiences: Vec<String>) -> Self {
        self.audiences = audiences;
        self
    }

    /// The user `token` belongs to, or `None` when the API server does not authenticate it
    /// (unknown, expired, revoked, wrong audience).
    ///
    /// # Errors
    /// [`BackendError`] when the review itself fails (API server unreachable, our own
    /// credentials rejected, no permission to create token reviews).
    pub async fn review(&self, token: &SecretString) -> Result<Option<ReviewedUser>, BackendError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.expose_secret().to_owned(),
                audiences: (!self.audiences.is_empty()).then(|| self.audiences.clone()),
            },
            ..TokenReview::default()
        };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| to_backend(&e, "token review"))?;
        Ok(reviewed_user(&answer))
    }
}

/// The user of a token review's answer, when it authenticated the token.
pub fn reviewed_user(answer: &TokenReview) -> Option<ReviewedUser> {
    let status = answer.status.as_ref()?;
    if status.authenticated != Some(true) {
        return None;
    }
    let user = status.user.as_ref()?;
    let username = user.username.clone().filter(|u| !u.is_empty())?;
    Some(ReviewedUser {
        username,
        uid: user.uid.clone(),
        groups: user.groups.clone().unwrap_or_default(),
        extra: user.extra.clone().unwrap_or_default(),
    })
}

/// Authorizes requests with `SubjectAccessReview` in one namespace.
#[derive(Clone)]
pub struct KubeAccessReviewer {
    client: kube::Client,
    namespace: String,
}

impl std::fmt::Debug for KubeAccessReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeAccessReviewer")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl KubeAccessReviewer {
    /// Reviews access to resources of [`API_GROUP`] in `namespace`.
    pub fn new(client: kube::Client, namespace: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
        }
    }

    /// The namespace reviews are made in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The review request for `user` doing `attributes` (exposed for tests of its shape).
    pub fn request(
        &self,
        user: &ReviewedUser,
        attributes: &AccessAttributes,
    ) -> SubjectAccessReview {
        SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.username.clone()),
                uid: user.uid.clone(),
                groups: (!user.groups.is_empty()).then(|| user.groups.clone()),
                extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(self.namespace.clone()),
                    verb: Some(attributes.verb.clone()),
                    group: Some(API_GROUP.to_owned()),
                    resource: Some(attributes.resource.clone()),
                    subresource: attributes.subresource.clone(),
                    name: attributes.name.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        }
    }

    /// Whether `user` may do `attributes` in the namespace.
    ///
    /// # Errors
    /// [`BackendError`] when the review itself fails (API server unreachable, our own
    /// credentials rejected, no permission to create access reviews).
    pub async fn review(
        &self,
        user: &ReviewedUser,
        attributes: &AccessAttributes,
    ) -> Result<AccessDecision, BackendError> {
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &self.request(user, attributes))
            .await
            .map_err(|e| to_backend(&e, "access review"))?;
        Ok(decision(&answer))
    }
}

/// The decision of an access review's answer (no status: denied).
pub fn decision(answer: &SubjectAccessReview) -> AccessDecision {
    match &answer.status {
        Some(s) if s.allowed && s.denied != Some(true) => AccessDecision::Allowed {
            reason: s.reason.clone().filter(|r| !r.is_empty()),
        },
        Some(s) => AccessDecision::Denied {
            reason: s
                .reason
                .clone()
                .or_else(|| s.evaluation_error.clone())
                .filter(|r| !r.is_empty()),
        },
        None => AccessDecision::Denied { reason: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(file: &str) -> serde_json::Value {
        let path = format!(
            "{}/../../fixtures/apiserver/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_token_review_answer_gives_the_user_or_none() {
        let ok: TokenReview = serde_json::from_value(
            fixture("39-tokenreview-sa-token.json")["response"]["body"].clone(),
        )
        .unwrap();
        let user = reviewed_user(&ok).unwrap();
        assert_eq!(user.username, "system:serviceaccount:fixtures:cnpg-backup");
        assert_eq!(
            user.uid.as_deref(),
            Some("9c8cca5d-f2dc-431d-be43-82137ca4dc95")
        );
        assert!(user.groups.contains(&"system:authenticated".to_owned()));
        assert_eq!(user.extra.len(), 1);
        let bad: TokenReview = serde_json::from_value(
            fixture("40-tokenreview-invalid-token.json")["response"]["body"].clone(),
        )
        .unwrap();
        assert_eq!(reviewed_user(&bad), None);
    }

    #[test]
    fn an_access_review_answer_gives_the_decision_and_reason() {
        let denied: SubjectAccessReview = serde_json::from_value(
            fixture("41-subjectaccessreview-create-denied.json")["response"]["body"].clone(),
        )
        .unwrap();
        assert_eq!(decision(&denied), AccessDecision::Denied { reason: None });
        let allowed: SubjectAccessReview = serde_json::from_value(
            fixture("42-subjectaccessreview-get-allowed.json")["response"]["body"].clone(),
        )
        .unwrap();
        let AccessDecision::Allowed { reason: Some(r) } = decision(&allowed) else {
            panic!("allowed with a reason");
        };
        assert!(r.starts_with("RBAC: allowed by RoleBinding"), "{r}");
    }

    #[tokio::test]
    async fn the_review_request_has_the_fixture_shape_in_our_group() {
        let f = fixture("41-subjectaccessreview-create-denied.json");
        let sent = &f["request"]["body"]["spec"];
        let user = ReviewedUser::new(
            sent["user"].as_str().unwrap(),
            serde_json::from_value(sent["groups"].clone()).unwrap(),
        );
        let client = kube::Client::new(
            tower::service_fn(|_: http::Request<kube::client::Body>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(kube::client::Body::empty()))
            }),
            "fixtures",
        );
        let r = KubeAccessReviewer::new(client, "fixtures").request(
            &user,
            &AccessAttributes::new("create", "restores", Some("apply"), Some("r-1")),
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["apiVersion"], "authorization.k8s.io/v1");
        assert_eq!(v["kind"], "SubjectAccessReview");
        assert_eq!(v["spec"]["user"], sent["user"]);
        assert_eq!(v["spec"]["groups"], sent["groups"]);
        let attrs = &v["spec"]["resourceAttributes"];
        assert_eq!(attrs["namespace"], "fixtures");
        assert_eq!(attrs["group"], API_GROUP);
        assert_eq!(attrs["resource"], "restores");
        assert_eq!(attrs["subresource"], "apply");
        assert_eq!(attrs["name"], "r-1");
        assert_eq!(attrs["verb"], "create");
    }
}
