//! Errors every adapter shows the same way: a message (lowercase, naming the bad value), the
//! chain of causes, a hint, and a [`Category`] that the CLI turns into an exit code and the HTTP
//! API into a status code.
//!
//! [`service_error`] is the one mapping from the core's [`ServiceError`] to a category, so the
//! command line and the HTTP API can never disagree on what a failure means.

use std::fmt;

use cnpg_backup_core::ports::BackendError;
use cnpg_backup_core::restore::{AckError, GuardError, MachineError};
use cnpg_backup_core::service::ServiceError;

/// What kind of failure an [`AppError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Category {
    /// The request ran and the answer is no: not ready yet, automation disabled, a backup is
    /// still running (exit 1, HTTP 409).
    No,
    /// Invalid input or usage; nothing reached Kubernetes or the bucket (exit 2, HTTP 400).
    Invalid,
    /// The thing named does not exist, e.g. a restore id (exit 2, HTTP 404).
    NotFound,
    /// The outside world failed: API server or bucket unreachable, forbidden, API error
    /// (exit 3, HTTP 502).
    World,
    /// Someone else changed the same document meanwhile; refresh and retry (exit 3, HTTP 409).
    Contended,
    /// Refused for safety: acknowledgement missing or wrong, version drift, set mismatch, names
    /// clash (exit 4, HTTP 422).
    Refused,
    /// Refused because it exists already: a restore id, a backup name, a file (exit 4,
    /// HTTP 409).
    Exists,
}

impl Category {
    /// The stable exit code of the command line (1 to 4).
    pub fn exit_code(self) -> u8 {
        match self {
            Category::No => 1,
            Category::Invalid | Category::NotFound => 2,
            Category::World | Category::Contended => 3,
            Category::Refused | Category::Exists => 4,
        }
    }

    /// The HTTP status code of the API.
    pub fn http_status(self) -> u16 {
        match self {
            Category::No | Category::Contended | Category::Exists => 409,
            Category::Invalid => 400,
            Category::NotFound => 404,
            Category::World => 502,
            Category::Refused => 422,
        }
    }

    /// A short stable name (`no`, `invalid`, `not_found`, `world`, `contended`, `refused`,
    /// `exists`), e.g. for a problem document's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::No => "no",
            Category::Invalid => "invalid",
            Category::NotFound => "not_found",
            Category::World => "world",
            Category::Contended => "contended",
            Category::Refused => "refused",
            Category::Exists => "exists",
        }
    }
}

/// An error for people: what went wrong, why, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// What kind of failure.
    pub category: Category,
    /// The message (lowercase, names the bad value).
    pub message: String,
    /// One line per underlying cause, outermost first.
    pub causes: Vec<String>,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl AppError {
    /// An error of `category` with a message.
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
        }
    }

    /// An error built from `err` (its `source()` chain becomes the causes; a cause already
    /// spelled out in the message is not repeated).
    pub fn from_error(category: Category, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut out = Self::new(category, err.to_string());
        let mut source = err.source();
        while let Some(s) = source {
            let text = s.to_string();
            let shown = std::iter::once(&out.message).chain(&out.causes);
            if !shown.into_iter().any(|t| t.contains(&text)) {
                out.causes.push(text);
            }
            source = s.source();
        }
        out
    }

    /// Invalid input from an error.
    pub fn invalid(err: &(dyn std::error::Error + 'static)) -> Self {
        Self::from_error(Category::Invalid, err)
    }

    /// The outside world failed, from an error.
    pub fn world(err: &(dyn std::error::Error + 'static)) -> Self {
        Self::from_error(Category::World, err)
    }

    /// Prefixes the message with context, keeping the original message as the first cause.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        let old = std::mem::replace(&mut self.message, context.into());
        self.causes.insert(0, old);
        self
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for AppError {
    /// `error: MESSAGE`, a `  caused by: CAUSE` line per cause, then `hint: HINT`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for c in &self.causes {
            write!(f, "\n  caused by: {c}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

/// The category and message of a service error, with a hint where one helps.
pub fn service_error(e: &ServiceError) -> AppError {
    let category = match e {
        ServiceError::Backend { source, .. } => backend_category(source),
        ServiceError::SettingsMissing | ServiceError::Settings(_) => Category::Invalid,
        ServiceError::Corrupt { .. } => Category::World,
        ServiceError::Conflict { .. } => Category::Contended,
        ServiceError::AutomationDisabled | ServiceError::BackupInProgress { .. } => Category::No,
        ServiceError::Guard(g) => guard_category(g),
        // An acknowledgement the service itself checked (e.g. one carried by an intent).
        ServiceError::Ack(_) => Category::Refused,
        ServiceError::Machine(m) => machine_category(m),
        ServiceError::RestoreNotFound { .. } => Category::NotFound,
        ServiceError::RestoreExists { .. } => Category::Exists,
        _ => Category::World,
    };
    let err = AppError::from_error(category, e);
    match e {
        ServiceError::SettingsMissing => err.hint(
            "save settings first: `cnpg-backup -c FILE reconcile` (`cnpg-backup config init` writes a FILE), or PUT them through the API",
        ),
        ServiceError::Backend { source, .. } if backend_category(source) == Category::World => err
            .hint(
                "check that the cluster (or bucket) is reachable and that the Role from `cnpg-backup rbac` is bound",
            ),
        _ => err,
    }
}

fn backend_category(e: &BackendError) -> Category {
    match e {
        BackendError::AlreadyExists { .. } => Category::Exists,
        // Another replica leads: this one sent nothing.
        BackendError::Fenced { .. } => Category::Contended,
        _ => Category::World,
    }
}

/// The category of a guard's refusal: input the user must fix (invalid), or a refusal for
/// safety (names clash, backup not restorable, version drift, set mismatch).
pub fn guard_category(g: &GuardError) -> Category {
    match g {
        // A recovery name equal to a live cluster's (or used twice): names clash.
        GuardError::NameClash(_) => Category::Refused,
        GuardError::Name(_)
        | GuardError::Sources { .. }
        | GuardError::Instances { .. }
        | GuardError::BackupNotFound { .. }
        | GuardError::TargetInFuture { .. }
        | GuardError::NoRecoverabilityPoint { .. }
        | GuardError::TargetBeforeFirstPoint { .. }
        | GuardError::TargetBeforePinnedEnd { .. } => Category::Invalid,
        _ => Category::Refused,
    }
}

fn machine_category(m: &MachineError) -> Category {
    match m {
        MachineError::RecoveryNotReady { .. } | MachineError::WrongPhase { .. } => Category::No,
        MachineError::IdMismatch { .. } => Category::Invalid,
        _ => Category::Refused,
    }
}

/// A wrong or missing acknowledgement: refused for safety, nothing done.
pub fn ack_error(e: &AckError) -> AppError {
    AppError::from_error(Category::Refused, e).hint("nothing was done")
}

#[cfg(test)]
mod tests {
    use cnpg_backup_core::restore::StageOneAck;

    use super::*;

    #[test]
    fn a_wrong_acknowledgement_from_the_service_is_refused_not_an_outside_failure() {
        let Err(ack) = StageOneAck::verify("yes") else {
            panic!("`yes` is not the sentence");
        };
        let e = service_error(&ServiceError::Ack(ack));
        assert_eq!(e.category, Category::Refused);
        assert_eq!(e.category.exit_code(), 4);
        assert_eq!(e.category.http_status(), 422);
    }

    #[test]
    fn a_name_clash_is_refused_by_its_type_and_a_bad_name_is_invalid_input() {
        let live: cnpg_backup_core::names::ClusterName = "cnpg-admin".parse().unwrap();
        let clash = cnpg_backup_core::names::check_distinct(&[&live], &[&live]).unwrap_err();
        assert_eq!(
            guard_category(&GuardError::NameClash(clash)),
            Category::Refused
        );
        let bad = "Bad_Name"
            .parse::<cnpg_backup_core::names::ClusterName>()
            .unwrap_err();
        assert_eq!(guard_category(&GuardError::Name(bad)), Category::Invalid);
    }

    #[test]
    fn categories_keep_the_documented_exit_codes_and_statuses() {
        let all = [
            (Category::No, 1, 409),
            (Category::Invalid, 2, 400),
            (Category::NotFound, 2, 404),
            (Category::World, 3, 502),
            (Category::Contended, 3, 409),
            (Category::Refused, 4, 422),
            (Category::Exists, 4, 409),
        ];
        for (c, code, status) in all {
            assert_eq!((c.exit_code(), c.http_status()), (code, status), "{c:?}");
        }
    }

    #[test]
    fn display_lists_causes_and_hint() {
        let e = AppError::new(Category::Invalid, "outer")
            .context("reading `x.yaml`")
            .hint("run `cnpg-backup config init`");
        assert_eq!(
            e.to_string(),
            "error: reading `x.yaml`\n  caused by: outer\nhint: run `cnpg-backup config init`"
        );
    }
}
