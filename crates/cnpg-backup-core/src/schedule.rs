//! Backup schedules in CNPG's cron dialect (robfig/cron v1.2.0 `cron.Parse`: six fields, seconds
//! first, evaluated in UTC).
//!
//! FOUNDATION PLACEHOLDER: the public API below is fixed; the parser and `next_runs` are filled
//! in by the schedule work (issue 2, item 2).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::truncate_for_message;

/// A weekday, Sunday = 0 as in robfig/cron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    /// Sunday (0).
    Sun,
    /// Monday (1).
    Mon,
    /// Tuesday (2).
    Tue,
    /// Wednesday (3).
    Wed,
    /// Thursday (4).
    Thu,
    /// Friday (5).
    Fri,
    /// Saturday (6).
    Sat,
}

/// A schedule as users pick it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "preset", rename_all = "snake_case", deny_unknown_fields)]
pub enum SchedulePreset {
    /// Every hour at `minute`.
    Hourly {
        /// Minute of the hour (0-59).
        minute: u8,
    },
    /// Every `every` hours (1..=23) at `minute`, starting at 00:`minute` UTC each day.
    EveryNHours {
        /// Hours between runs (1..=23).
        every: u8,
        /// Minute of the hour (0-59).
        minute: u8,
    },
    /// Every day at `hour`:`minute` UTC.
    Daily {
        /// Hour (0-23, UTC).
        hour: u8,
        /// Minute (0-59).
        minute: u8,
    },
    /// Every week on `weekday` at `hour`:`minute` UTC.
    Weekly {
        /// Day of the week (UTC).
        weekday: Weekday,
        /// Hour (0-23, UTC).
        hour: u8,
        /// Minute (0-59).
        minute: u8,
    },
    /// A raw six-field robfig cron expression (or descriptor).
    Custom {
        /// The expression.
        cron: CronSchedule,
    },
}

/// Why a schedule was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The expression is empty.
    #[error("schedule is empty; give six fields `sec min hour dom month dow`, e.g. `0 30 2 * * *`")]
    Empty,
    /// Anything else (placeholder).
    #[error("schedule `{input}`: {reason}")]
    Invalid {
        /// The offending input.
        input: String,
        /// What is wrong.
        reason: String,
    },
}

/// A validated CNPG schedule: a robfig/cron v1.2.0 expression of six fields (or a descriptor).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct CronSchedule {
    expr: String,
}

impl CronSchedule {
    /// The expression as CNPG receives it.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The next `k` fire times strictly after `from`, in UTC, as robfig/cron v1.2.0 computes them.
    pub fn next_runs(&self, from: DateTime<Utc>, k: usize) -> Vec<DateTime<Utc>> {
        let _ = (from, k);
        Vec::new()
    }

    /// The preset this expression is equal to, if any.
    pub fn preset(&self) -> Option<SchedulePreset> {
        None
    }
}

impl FromStr for CronSchedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(ScheduleError::Empty);
        }
        if s.split_whitespace().count() != 6 && !s.trim_start().starts_with('@') {
            return Err(ScheduleError::Invalid {
                input: truncate_for_message(s),
                reason: "needs six fields".into(),
            });
        }
        Ok(Self {
            expr: s.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    }
}

impl TryFrom<String> for CronSchedule {
    type Error = ScheduleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CronSchedule> for String {
    fn from(c: CronSchedule) -> String {
        c.expr
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

/// Something a user should know about a valid schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleWarning {
    /// A sentence for people.
    pub message: String,
}

impl SchedulePreset {
    /// Compiles the preset to CNPG's six-field dialect.
    ///
    /// # Errors
    /// [`ScheduleError`] when a field is out of range.
    pub fn cron(&self) -> Result<CronSchedule, ScheduleError> {
        let expr = match self {
            SchedulePreset::Hourly { minute } => format!("0 {minute} * * * *"),
            SchedulePreset::EveryNHours { every, minute } => format!("0 {minute} */{every} * * *"),
            SchedulePreset::Daily { hour, minute } => format!("0 {minute} {hour} * * *"),
            SchedulePreset::Weekly {
                weekday,
                hour,
                minute,
            } => format!("0 {minute} {hour} * * {weekday:?}").to_uppercase(),
            SchedulePreset::Custom { cron } => return Ok(cron.clone()),
        };
        expr.parse()
    }

    /// Warnings about this schedule (e.g. an uneven gap at midnight).
    pub fn warnings(&self) -> Vec<ScheduleWarning> {
        Vec::new()
    }
}
