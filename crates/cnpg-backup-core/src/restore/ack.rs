//! The two acknowledgements and the audit trail.
//!
//! An acknowledgement is a type you can only obtain by checking the text: [`StageOneAck::verify`]
//! and [`StageTwoAck::verify`]. Functions that need consent take the type, never a `bool`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The exact sentence that allows stage one (creating temporary recovery clusters).
pub const STAGE_ONE_ACK: &str = "I understand this only creates temporary CloudNativePG recovery cluster(s) for validation and does not yet replace the live environment.";

/// The exact sentence that allows stage two (replacing the live clusters).
pub const STAGE_TWO_ACK: &str = "I understand Apply restore replaces the live environment and may interrupt Control Panel and tenant access until the restored databases are healthy again.";

/// The longest acknowledgement text echoed back in an error.
const ECHO_MAX: usize = 80;

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No text was given.
    #[error("the {stage} acknowledgement is missing; type exactly: `{expected}`")]
    Missing {
        /// `stage one` or `stage two`.
        stage: &'static str,
        /// The required sentence.
        expected: &'static str,
    },
    /// The text differs from the required sentence.
    #[error(
        "the {stage} acknowledgement `{given}` does not match; type exactly (byte for byte): `{expected}`"
    )]
    Mismatch {
        /// `stage one` or `stage two`.
        stage: &'static str,
        /// What was given (shortened).
        given: String,
        /// The required sentence.
        expected: &'static str,
    },
}

fn verify(stage: &'static str, expected: &'static str, text: &str) -> Result<(), AckError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(AckError::Missing { stage, expected });
    }
    if trimmed.as_bytes() == expected.as_bytes() {
        Ok(())
    } else {
        let given: String = if trimmed.chars().count() > ECHO_MAX {
            let mut s: String = trimmed.chars().take(ECHO_MAX).collect();
            s.push('…');
            s
        } else {
            trimmed.to_owned()
        };
        Err(AckError::Mismatch {
            stage,
            given,
            expected,
        })
    }
}

/// Proof that the stage-one sentence was typed exactly.
///
/// ```
/// use cnpg_backup_core::restore::{STAGE_ONE_ACK, StageOneAck};
/// assert!(StageOneAck::verify(&format!("  {STAGE_ONE_ACK}\n")).is_ok());
/// assert!(StageOneAck::verify("yes").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageOneAck(());

impl StageOneAck {
    /// Checks `text` against [`STAGE_ONE_ACK`], byte for byte after trimming surrounding whitespace.
    ///
    /// # Errors
    /// [`AckError`] when the text is missing or differs.
    pub fn verify(text: &str) -> Result<Self, AckError> {
        verify("stage one", STAGE_ONE_ACK, text).map(|()| Self(()))
    }

    /// The sentence acknowledged.
    pub fn text(&self) -> &'static str {
        STAGE_ONE_ACK
    }
}

/// Proof that the stage-two sentence was typed exactly.
///
/// ```
/// use cnpg_backup_core::restore::{STAGE_TWO_ACK, StageTwoAck, STAGE_ONE_ACK};
/// assert!(StageTwoAck::verify(STAGE_TWO_ACK).is_ok());
/// assert!(StageTwoAck::verify(STAGE_ONE_ACK).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTwoAck(());

impl StageTwoAck {
    /// Checks `text` against [`STAGE_TWO_ACK`], byte for byte after trimming surrounding whitespace.
    ///
    /// # Errors
    /// [`AckError`] when the text is missing or differs.
    pub fn verify(text: &str) -> Result<Self, AckError> {
        verify("stage two", STAGE_TWO_ACK, text).map(|()| Self(()))
    }

    /// The sentence acknowledged.
    pub fn text(&self) -> &'static str {
        STAGE_TWO_ACK
    }
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// The stage-one acknowledgement was accepted.
    StageOneAck,
    /// The stage-two acknowledgement was accepted.
    StageTwoAck,
    /// Full mode: backups from different sets were accepted explicitly.
    AcceptSetMismatch,
    /// An unknown app version was accepted explicitly.
    AcceptUnknownVersion,
    /// The restore was abandoned.
    Abandon,
    /// A failed restore was retried.
    Retry,
    /// Recovery clusters were cleaned up.
    Cleanup,
}

/// One entry of a restore's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditEntry {
    /// What happened.
    pub kind: AuditKind,
    /// The acknowledged sentence or a description of the override.
    pub text: String,
    /// Who did it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl AuditEntry {
    /// An audit entry.
    pub fn new(
        kind: AuditKind,
        text: impl Into<String>,
        actor: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            kind,
            text: text.into(),
            actor,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_sentences_pass_after_trimming() {
        assert!(StageOneAck::verify(STAGE_ONE_ACK).is_ok());
        assert!(StageOneAck::verify(&format!("\t{STAGE_ONE_ACK}  \r\n")).is_ok());
        assert!(StageTwoAck::verify(STAGE_TWO_ACK).is_ok());
    }

    #[test]
    fn near_misses_are_refused() {
        let lower = STAGE_TWO_ACK.to_lowercase();
        let no_period = STAGE_TWO_ACK.trim_end_matches('.');
        let double_space = STAGE_TWO_ACK.replacen(' ', "  ", 1);
        for text in [
            lower.as_str(),
            no_period,
            double_space.as_str(),
            STAGE_ONE_ACK,
        ] {
            let err = StageTwoAck::verify(text).unwrap_err();
            assert!(
                matches!(err, AckError::Mismatch { .. }),
                "{text:?} gave {err:?}"
            );
        }
        assert_eq!(
            StageOneAck::verify("  ").unwrap_err(),
            AckError::Missing {
                stage: "stage one",
                expected: STAGE_ONE_ACK
            }
        );
    }

    #[test]
    fn mismatch_message_names_the_sentence() {
        let err = StageOneAck::verify("ok").unwrap_err().to_string();
        assert!(err.contains("`ok`"), "{err}");
        assert!(err.contains(STAGE_ONE_ACK), "{err}");
    }

    proptest! {
        #[test]
        fn only_the_exact_sentence_verifies(s in ".{0,200}") {
            let ok = StageTwoAck::verify(&s).is_ok();
            prop_assert_eq!(ok, s.trim() == STAGE_TWO_ACK);
        }

        #[test]
        fn one_changed_byte_is_refused(i in 0..STAGE_ONE_ACK.len(), c in proptest::char::range('a', 'z')) {
            let mut bytes = STAGE_ONE_ACK.as_bytes().to_vec();
            prop_assume!(bytes[i] != c as u8);
            bytes[i] = c as u8;
            let text = String::from_utf8(bytes).unwrap();
            prop_assert!(StageOneAck::verify(&text).is_err());
        }
    }
}
