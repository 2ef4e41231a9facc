//! Backup schedules in CNPG's cron dialect: robfig/cron v1.2.0 `cron.Parse`, six fields with
//! seconds first (`sec min hour dom month dow`) or a descriptor, evaluated in UTC.
//!
//! What is here: [`SchedulePreset`] (what users pick), [`CronSchedule`] (a validated expression,
//! always six fields or a descriptor), a faithful port of robfig's parser and of its `Next`, so
//! [`CronSchedule::next_runs`] previews exactly the times CNPG's ScheduledBackup controller
//! computes, and [`ScheduleWarning`]s about valid but surprising schedules.
//!
//! What is refused, on purpose:
//! - five fields. robfig accepts them (the day-of-week is optional) but reads them as
//!   `sec min hour dom month`, so a crontab-style `0 7 * * *` runs at minute 7 of every hour. The
//!   error shows that reading and the six-field fix;
//! - robfig's lax forms (`1,,15`, `*-5`, `+5`), a zero step, non-ASCII text, more than
//!   [`MAX_SCHEDULE_LEN`] bytes;
//! - schedules robfig's `Next` cannot serve: ones that never fire (`0 0 0 30 2 *`), and ones that
//!   can go more than five years without firing from a reference before 2095, where robfig's
//!   search (the rest of the year plus five) gives up and returns the zero time. Later gaps, such
//!   as the leap day skipping 2100, are warnings;
//! - `@every` durations that are negative, below one second or not whole seconds, which robfig
//!   silently rounds.
//!
//! Surrounding whitespace is dropped and fields are re-joined with single spaces, so the
//! canonical text CNPG receives parses to the same schedule in robfig. Descriptors are
//! case-sensitive, as in robfig.
//!
//! ```
//! use cnpg_backup_core::schedule::{CronSchedule, SchedulePreset};
//!
//! let daily: CronSchedule = " 0 30 2 * * ? ".parse()?;
//! assert_eq!(daily.as_str(), "0 30 2 * * ?");
//! assert_eq!(daily.preset(), Some(SchedulePreset::Daily { hour: 2, minute: 30 }));
//!
//! let five = "0 7 * * *".parse::<CronSchedule>().unwrap_err().to_string();
//! assert!(five.contains("CNPG reads this as minute 7 of every hour; for 07:00 UTC daily use `0 0 7 * * *`"));
//! # Ok::<(), cnpg_backup_core::schedule::ScheduleError>(())
//! ```
//!
//! What is not here: time zones (CNPG evaluates in the operator's zone, UTC in its image) and the
//! controller's skip-while-running behaviour.

mod calendar;
mod describe;
mod duration;
#[cfg(test)]
mod props;
mod spec;
#[cfg(test)]
mod vectors;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::truncate_for_message;
use duration::{every_delay_secs, is_whole_seconds, parse_go_duration};
use spec::{Spec, YearCoverage};

/// The longest schedule string accepted, in bytes.
pub const MAX_SCHEDULE_LEN: usize = 256;

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

impl Weekday {
    /// Every weekday in robfig's order, Sunday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Sun,
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
    ];

    /// robfig's number for the day: Sunday = 0 ... Saturday = 6.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The day robfig numbers `n` (0-6; robfig rejects 7).
    pub fn from_number(n: u8) -> Option<Weekday> {
        Weekday::ALL.get(usize::from(n)).copied()
    }

    /// The upper-case name robfig accepts, e.g. `SUN`.
    pub fn abbrev(self) -> &'static str {
        ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"][usize::from(self.number())]
    }

    /// The English name, e.g. `Sunday`.
    pub fn name(self) -> &'static str {
        [
            "Sunday",
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
        ][usize::from(self.number())]
    }
}

/// One of the six fields of a robfig cron expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CronField {
    /// Seconds (0-59), the first field.
    Second,
    /// Minutes (0-59).
    Minute,
    /// Hours (0-23, UTC).
    Hour,
    /// Day of the month (1-31).
    DayOfMonth,
    /// Month (1-12 or JAN-DEC).
    Month,
    /// Day of the week (0-6 or SUN-SAT, Sunday = 0).
    DayOfWeek,
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronField::Second => "second",
            CronField::Minute => "minute",
            CronField::Hour => "hour",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
        })
    }
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
    /// The expression is longer than [`MAX_SCHEDULE_LEN`].
    #[error("schedule `{input}` is longer than {max} bytes")]
    TooLong {
        /// The start of the offending input.
        input: String,
        /// The limit in bytes.
        max: usize,
    },
    /// Neither five nor six fields, nor a descriptor.
    #[error(
        "schedule `{input}` has {found} fields; CNPG (robfig/cron) expects six, \
         `sec min hour dom month dow`, e.g. `0 30 2 * * *`, or a descriptor such as `@daily`"
    )]
    FieldCount {
        /// The offending input.
        input: String,
        /// How many whitespace-separated fields it has.
        found: usize,
    },
    /// Five fields: CNPG would read them with seconds first, which is rarely what was meant.
    #[error(
        "schedule `{input}` has five fields, but CNPG's cron has a seconds field first \
         (`sec min hour dom month dow`): {hint}"
    )]
    FiveFields {
        /// The offending input.
        input: String,
        /// How CNPG reads it and the six-field fix.
        hint: String,
    },
    /// A field is malformed or out of range.
    #[error("schedule `{input}`: {reason}")]
    Field {
        /// The offending input.
        input: String,
        /// Which field.
        field: CronField,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// An unknown descriptor or a bad `@every` duration.
    #[error("schedule `{input}`: {reason}")]
    Descriptor {
        /// The offending input.
        input: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// No date ever matches the day and month fields.
    #[error(
        "schedule `{input}` never fires: no date matches day-of-month `{dom}`, month `{month}` \
         and day-of-week `{dow}` together, so CNPG would compute no next run"
    )]
    NeverFires {
        /// The offending input.
        input: String,
        /// The day-of-month field.
        dom: String,
        /// The month field.
        month: String,
        /// The day-of-week field.
        dow: String,
    },
    /// Fires, but can go longer than robfig's five-year search window without firing.
    #[error(
        "schedule `{input}` has no run in {first_empty}-{last_empty}; robfig/cron searches only \
         five years ahead, so from the end of {from_year} CNPG would compute no next run; pick \
         days that occur at least every five years"
    )]
    TooRare {
        /// The offending input.
        input: String,
        /// The reference year from which robfig finds nothing.
        from_year: i64,
        /// The first year of the five without a run.
        first_empty: i64,
        /// The last year of the five without a run.
        last_empty: i64,
    },
    /// A preset field is out of range.
    #[error("{preset} preset: {field} `{value}` is out of range; expected {expected}")]
    PresetOutOfRange {
        /// The preset (`hourly`, `every_n_hours`, `daily`, `weekly`).
        preset: &'static str,
        /// The field (`minute`, `hour`, `every`).
        field: &'static str,
        /// The offending value.
        value: u8,
        /// The accepted range.
        expected: &'static str,
    },
}

/// The parsed form: robfig's `SpecSchedule` bit sets, or its `ConstantDelaySchedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Spec(Spec),
    Every { secs: u64 },
}

/// A validated CNPG schedule: a robfig/cron v1.2.0 expression of six fields (or a descriptor).
///
/// `Display` and [`CronSchedule::as_str`] give the canonical form (fields separated by single
/// spaces), which parses back to an equal value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct CronSchedule {
    expr: String,
    kind: Kind,
}

impl CronSchedule {
    /// The expression as CNPG receives it.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The six-field expression equal to this schedule: the expression itself, or for a
    /// descriptor its robfig definition (`@daily` → `0 0 0 * * *`). `None` for `@every <dur>`,
    /// which fires at a constant delay and has no six-field form.
    pub fn six_field(&self) -> Option<String> {
        let expanded = match self.expr.as_str() {
            "@yearly" | "@annually" => "0 0 0 1 1 *",
            "@monthly" => "0 0 0 1 * *",
            "@weekly" => "0 0 0 * * 0",
            "@daily" | "@midnight" => "0 0 0 * * *",
            "@hourly" => "0 0 * * * *",
            other if other.starts_with('@') => return None,
            other => other,
        };
        Some(expanded.to_owned())
    }

    /// The first fire time strictly after `from`, in UTC, as robfig/cron v1.2.0 computes it;
    /// `None` where robfig returns the zero time (no run within its five-year search, which for
    /// an accepted schedule only happens after 2094, e.g. a leap-day schedule near 2100).
    pub fn next_after(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = from.timestamp();
        let next = match self.kind {
            Kind::Spec(spec) => spec.next(t)?,
            Kind::Every { secs } => spec::every_next(secs, t)?,
        };
        DateTime::from_timestamp(next, 0)
    }

    /// The next `k` fire times strictly after `from`, in UTC, as robfig/cron v1.2.0 computes them.
    /// Shorter than `k` only where [`CronSchedule::next_after`] returns `None`.
    pub fn next_runs(&self, from: DateTime<Utc>, k: usize) -> Vec<DateTime<Utc>> {
        let mut runs = Vec::with_capacity(k.min(1024));
        let mut t = from;
        while runs.len() < k {
            match self.next_after(t) {
                Some(next) => {
                    runs.push(next);
                    t = next;
                }
                None => break,
            }
        }
        runs
    }

    /// The preset this expression is equal to, if any. Compares what fires, not text:
    /// `0 30 2 * * ?`, `00 30 02 * * *` and `0 30 2 1-31 * *` are all `Daily { hour: 2, minute: 30 }`,
    /// `0 0 3 * * 0` and `0 0 3 ? * sun` are `Weekly` on Sunday, `@daily` is `Daily` at 00:00.
    /// `0 M */1 * * *` is `Hourly`, the same schedule as `EveryNHours { every: 1 }`.
    pub fn preset(&self) -> Option<SchedulePreset> {
        match &self.kind {
            Kind::Spec(spec) => describe::preset_of(spec),
            Kind::Every { .. } => None,
        }
    }

    /// When it fires, in words, e.g. `07:00 UTC daily` or `minute 7 of every hour`.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Spec(spec) => describe::describe_spec(spec),
            Kind::Every { secs } => format!("every {}", describe::go_duration(*secs)),
        }
    }

    /// Warnings about this schedule: an uneven gap at midnight, more than one run an hour,
    /// day-of-month and day-of-week combined with OR, `@every` drift, years without a run.
    pub fn warnings(&self) -> Vec<ScheduleWarning> {
        match &self.kind {
            Kind::Every { secs } => describe::every_warnings(&self.expr, *secs),
            Kind::Spec(spec) => {
                let mut out = match describe::preset_of(spec) {
                    Some(preset) => preset.warnings(),
                    None => describe::spec_warnings(spec),
                };
                out.extend(describe::day_combination_warning(&self.expr, spec));
                out
            }
        }
    }
}

fn parse_descriptor(input: &str, tokens: &[&str]) -> Result<CronSchedule, ScheduleError> {
    let err = |reason: String| ScheduleError::Descriptor {
        input: truncate_for_message(input),
        reason,
    };
    const KNOWN: &str = "`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` or `@every <duration>`";
    match tokens {
        ["@every"] => Err(err(
            "`@every` needs a duration, e.g. `@every 6h` or `@every 1h30m`".into(),
        )),
        ["@every", dur] => {
            if dur.starts_with('-') || dur.starts_with('+') {
                return Err(err(format!(
                    "duration `{dur}` has a sign; robfig/cron runs a negative interval every second, write a positive one such as `6h`"
                )));
            }
            let nanos = parse_go_duration(dur).map_err(|e| {
                err(format!(
                    "duration `{dur}` is not a Go duration ({}); expected e.g. `90m`, `1h30m` or `6h` (units ns, us, ms, s, m, h)",
                    match e {
                        duration::DurationError::Invalid => "invalid",
                        duration::DurationError::MissingUnit => "missing unit",
                        duration::DurationError::UnknownUnit => "unknown unit",
                    }
                ))
            })?;
            if !is_whole_seconds(nanos) {
                let secs = every_delay_secs(nanos);
                return Err(err(format!(
                    "duration `{dur}` is not a whole number of seconds (at least 1s); robfig/cron would run every {}, so write that",
                    describe::go_duration(secs)
                )));
            }
            Ok(CronSchedule {
                expr: format!("@every {dur}"),
                kind: Kind::Every {
                    secs: every_delay_secs(nanos),
                },
            })
        }
        ["@every", ..] => Err(err(
            "`@every` takes one duration without spaces, e.g. `@every 1h30m`".into(),
        )),
        [name] => {
            if let Some(spec) = Spec::descriptor(name) {
                return Ok(CronSchedule {
                    expr: (*name).to_owned(),
                    kind: Kind::Spec(spec),
                });
            }
            let lower = name.to_ascii_lowercase();
            if Spec::descriptor(&lower).is_some() || lower == "@every" {
                Err(err(format!(
                    "descriptors are lower case in robfig/cron; write `{lower}`"
                )))
            } else {
                Err(err(format!(
                    "unknown descriptor `{name}`; expected {KNOWN}"
                )))
            }
        }
        _ => Err(err(format!("a descriptor stands alone; expected {KNOWN}"))),
    }
}

/// Parses six fields (already split) into a schedule, including the never/rarely-fires checks.
fn parse_six(input: &str, fields: [&str; 6]) -> Result<CronSchedule, ScheduleError> {
    let spec = Spec::from_fields(fields).map_err(|e| ScheduleError::Field {
        input: truncate_for_message(input),
        field: e.field,
        reason: e.reason(),
    })?;
    match spec.yearly_coverage() {
        YearCoverage::Never => {
            return Err(ScheduleError::NeverFires {
                input: truncate_for_message(input),
                dom: truncate_for_message(fields[3]),
                month: truncate_for_message(fields[4]),
                dow: truncate_for_message(fields[5]),
            });
        }
        YearCoverage::Gap { from_year } if from_year < describe::GAP_WARN_FROM => {
            return Err(ScheduleError::TooRare {
                input: truncate_for_message(input),
                from_year,
                first_empty: from_year + 1,
                last_empty: from_year + 5,
            });
        }
        YearCoverage::Always | YearCoverage::Gap { .. } => {}
    }
    Ok(CronSchedule {
        expr: fields.join(" "),
        kind: Kind::Spec(spec),
    })
}

impl FromStr for CronSchedule {
    type Err = ScheduleError;

    /// Parses with robfig/cron v1.2.0's rules (see the module docs for what is refused).
    ///
    /// # Errors
    /// [`ScheduleError`] naming the bad part: a count of fields other than six (five get
    /// [`ScheduleError::FiveFields`] with the six-field fix), a malformed or out-of-range field,
    /// an unknown descriptor or bad `@every` duration, or a schedule that never fires.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_SCHEDULE_LEN {
            return Err(ScheduleError::TooLong {
                input: truncate_for_message(s),
                max: MAX_SCHEDULE_LEN,
            });
        }
        let tokens: Vec<&str> = s.split_whitespace().collect();
        if tokens.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if tokens[0].starts_with('@') {
            return parse_descriptor(s, &tokens);
        }
        match tokens[..] {
            [a, b, c, d, e, f] => parse_six(s, [a, b, c, d, e, f]),
            [a, b, c, d, e] => Err(ScheduleError::FiveFields {
                input: truncate_for_message(s),
                hint: describe::five_field_hint([a, b, c, d, e]),
            }),
            _ => Err(ScheduleError::FieldCount {
                input: truncate_for_message(s),
                found: tokens.len(),
            }),
        }
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
#[non_exhaustive]
pub struct ScheduleWarning {
    /// A sentence for people.
    pub message: String,
}

impl ScheduleWarning {
    /// A warning with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl SchedulePreset {
    /// Checks the preset's fields: minute 0-59, hour 0-23, every 1-23.
    ///
    /// # Errors
    /// [`ScheduleError::PresetOutOfRange`] naming the field and value.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        let check = |preset, field, value: u8, max: u8, min: u8, expected| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ScheduleError::PresetOutOfRange {
                    preset,
                    field,
                    value,
                    expected,
                })
            }
        };
        match self {
            SchedulePreset::Hourly { minute } => check("hourly", "minute", *minute, 59, 0, "0-59"),
            SchedulePreset::EveryNHours { every, minute } => {
                check("every_n_hours", "every", *every, 23, 1, "1-23")?;
                check("every_n_hours", "minute", *minute, 59, 0, "0-59")
            }
            SchedulePreset::Daily { hour, minute } => {
                check("daily", "hour", *hour, 23, 0, "0-23 (UTC)")?;
                check("daily", "minute", *minute, 59, 0, "0-59")
            }
            SchedulePreset::Weekly { hour, minute, .. } => {
                check("weekly", "hour", *hour, 23, 0, "0-23 (UTC)")?;
                check("weekly", "minute", *minute, 59, 0, "0-59")
            }
            SchedulePreset::Custom { .. } => Ok(()),
        }
    }

    /// Compiles the preset to CNPG's six-field dialect: hourly `0 M * * * *`, every N hours
    /// `0 M */N * * *`, daily `0 M H * * *`, weekly `0 M H * * SUN`.
    ///
    /// # Errors
    /// [`ScheduleError::PresetOutOfRange`] when a field is out of range.
    pub fn cron(&self) -> Result<CronSchedule, ScheduleError> {
        self.validate()?;
        let expr = match self {
            SchedulePreset::Hourly { minute } => format!("0 {minute} * * * *"),
            SchedulePreset::EveryNHours { every, minute } => format!("0 {minute} */{every} * * *"),
            SchedulePreset::Daily { hour, minute } => format!("0 {minute} {hour} * * *"),
            SchedulePreset::Weekly {
                weekday,
                hour,
                minute,
            } => format!("0 {minute} {hour} * * {}", weekday.abbrev()),
            SchedulePreset::Custom { cron } => return Ok(cron.clone()),
        };
        expr.parse()
    }

    /// Warnings about this schedule (e.g. an uneven gap at midnight). Out-of-range presets
    /// have none here; [`SchedulePreset::cron`] rejects them.
    pub fn warnings(&self) -> Vec<ScheduleWarning> {
        match self {
            SchedulePreset::EveryNHours { every, minute }
                if (1..=23).contains(every) && *minute < 60 && 24 % every != 0 =>
            {
                vec![describe::uneven_gap_warning(*every, *minute)]
            }
            SchedulePreset::Custom { cron } => cron.warnings(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
