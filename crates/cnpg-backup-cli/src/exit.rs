//! Exit statuses and the error type every command returns.
//!
//! One enum, [`ExitStatus`], holds the stable codes; a [`CliError`] carries the status it ends
//! the process with, the message, the chain of causes and an optional hint. `main` is the only
//! place that prints it.

use std::fmt;
use std::process::ExitCode;

/// How the process ends. The codes are stable: scripts rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success (also a closed stdout pipe).
    Success,
    /// 1: the command ran and the answer is no (a preflight step failed, not ready yet, drift).
    No,
    /// 2: invalid input or usage.
    Invalid,
    /// 3: the outside world failed (API server or bucket unreachable, forbidden, API error).
    World,
    /// 4: refused for safety (acknowledgement missing or wrong, version drift, set mismatch,
    /// names clash).
    Refused,
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::No => 1,
            ExitStatus::Invalid => 2,
            ExitStatus::World => 3,
            ExitStatus::Refused => 4,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

/// The exit-code table, as `--help` and the README show it.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (also when stdout is a closed pipe)
  1  the command ran and the answer is no: a preflight step failed, not ready yet, drift found,
     a backup is still running, automation disabled
  2  invalid input or usage; invalid input never reaches Kubernetes or the bucket
  3  the outside world failed: API server or bucket unreachable, forbidden, API error
  4  refused for safety: acknowledgement missing or wrong, version drift blocks a restore,
     backup-set mismatch not accepted, names clash, a file would be overwritten";

/// An error that ends a command: what went wrong, why, and what to do.
#[derive(Debug)]
pub struct CliError {
    /// The exit status it ends the process with.
    pub status: ExitStatus,
    /// The message (lowercase, names the bad value).
    pub message: String,
    /// One line per underlying cause, outermost first.
    pub causes: Vec<String>,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// An error with `status` and a message.
    pub fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
        }
    }

    /// An error built from `err` (its `source()` chain becomes the causes).
    pub fn from_error(status: ExitStatus, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut out = Self::new(status, err.to_string());
        let mut source = err.source();
        while let Some(s) = source {
            let text = s.to_string();
            // A source already spelled out in the message or an earlier cause would print twice.
            let shown = std::iter::once(&out.message).chain(&out.causes);
            if !shown.into_iter().any(|t| t.contains(&text)) {
                out.causes.push(text);
            }
            source = s.source();
        }
        out
    }

    /// Invalid input (exit 2) from an error.
    pub fn invalid(err: &(dyn std::error::Error + 'static)) -> Self {
        Self::from_error(ExitStatus::Invalid, err)
    }

    /// The outside world failed (exit 3) from an error.
    pub fn world(err: &(dyn std::error::Error + 'static)) -> Self {
        Self::from_error(ExitStatus::World, err)
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

impl fmt::Display for CliError {
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

impl From<cnpg_backup_app::Category> for ExitStatus {
    fn from(c: cnpg_backup_app::Category) -> Self {
        match c.exit_code() {
            1 => ExitStatus::No,
            2 => ExitStatus::Invalid,
            4 => ExitStatus::Refused,
            _ => ExitStatus::World,
        }
    }
}

impl From<cnpg_backup_app::AppError> for CliError {
    /// The library's error, ending the process with its category's exit code.
    fn from(e: cnpg_backup_app::AppError) -> Self {
        Self {
            status: e.category.into(),
            message: e.message,
            causes: e.causes,
            hint: e.hint,
        }
    }
}

/// What a command returns: the exit status on success paths (0 or 1), a [`CliError`] otherwise.
pub type CmdResult = Result<ExitStatus, CliError>;

impl From<std::io::Error> for CliError {
    /// An I/O error while writing output. A closed pipe (`cnpg-backup ... | head`) is not a
    /// failure: it becomes a silent exit 0.
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return CliError::new(ExitStatus::Success, String::new());
        }
        CliError::from_error(ExitStatus::World, &e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let all = [
            (ExitStatus::Success, 0),
            (ExitStatus::No, 1),
            (ExitStatus::Invalid, 2),
            (ExitStatus::World, 3),
            (ExitStatus::Refused, 4),
        ];
        for (s, c) in all {
            assert_eq!(s.code(), c);
            assert!(EXIT_CODES_HELP.contains(&format!("  {c}  ")));
        }
    }

    #[test]
    fn display_lists_causes_and_hint() {
        let e = CliError::new(ExitStatus::Invalid, "outer")
            .context("reading `x.yaml`")
            .hint("run `cnpg-backup config init`");
        assert_eq!(
            e.to_string(),
            "error: reading `x.yaml`\n  caused by: outer\nhint: run `cnpg-backup config init`"
        );
    }
}
