//! A schedule chosen as a preset and its parameters, or as a raw cron expression, the way the
//! CLI's flags and the HTTP API's query parameters give it: checked into a core
//! [`SchedulePreset`], naming the parameter that does not fit.

use cnpg_backup_core::schedule::{CronSchedule, SchedulePreset, Weekday};

use crate::error::{AppError, Category};

/// The preset kinds a user picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetKind {
    /// Every hour at `minute`.
    Hourly,
    /// Every `every` hours at `minute`, from 00:`minute` UTC.
    EveryNHours,
    /// Every day at `hour`:`minute` UTC.
    Daily,
    /// Every week on `weekday` at `hour`:`minute` UTC.
    Weekly,
}

/// How the parameters are spelled in messages: command-line flags or API fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// `--every`, preset `every-n-hours`.
    Flags,
    /// `every`, preset `every_n_hours`.
    Fields,
}

impl Spelling {
    fn param(self, name: &str) -> String {
        match self {
            Spelling::Flags => format!("--{name}"),
            Spelling::Fields => name.to_owned(),
        }
    }

    fn preset(self, kind: PresetKind) -> &'static str {
        match (self, kind) {
            (_, PresetKind::Hourly) => "hourly",
            (Spelling::Flags, PresetKind::EveryNHours) => "every-n-hours",
            (Spelling::Fields, PresetKind::EveryNHours) => "every_n_hours",
            (_, PresetKind::Daily) => "daily",
            (_, PresetKind::Weekly) => "weekly",
        }
    }
}

/// A schedule as the user gave it: a preset with its parameters, or a raw cron expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduleChoice {
    /// The preset.
    pub preset: Option<PresetKind>,
    /// Hours between runs (every N hours).
    pub every: Option<u8>,
    /// Hour, UTC (daily, weekly; default 0).
    pub hour: Option<u8>,
    /// Minute (default 0).
    pub minute: Option<u8>,
    /// Day of the week (weekly).
    pub weekday: Option<Weekday>,
    /// A raw six-field cron expression, instead of a preset.
    pub cron: Option<String>,
}

impl ScheduleChoice {
    /// The schedule preset this choice names.
    ///
    /// # Errors
    /// Invalid input naming the parameter: an invalid cron, no preset and no cron, both, a
    /// parameter the preset does not take, a missing one it needs.
    pub fn preset(&self, spelling: Spelling) -> Result<SchedulePreset, AppError> {
        let invalid = |m: String| AppError::new(Category::Invalid, m);
        if let Some(expr) = &self.cron {
            if self.preset.is_some() {
                return Err(invalid(format!(
                    "give `{}` or `{}`, not both",
                    spelling.param("preset"),
                    spelling.param("cron")
                )));
            }
            let cron: CronSchedule = expr.parse().map_err(|e| AppError::invalid(&e))?;
            return Ok(SchedulePreset::Custom { cron });
        }
        let kind = self.preset.ok_or_else(|| {
            invalid(format!(
                "give `{}` or `{}`",
                spelling.param("preset"),
                spelling.param("cron")
            ))
        })?;
        let unused = |name: &str| {
            invalid(format!(
                "`{}` does not apply to preset `{}`",
                spelling.param(name),
                spelling.preset(kind)
            ))
        };
        let refuse = |given: bool, name: &str| if given { Err(unused(name)) } else { Ok(()) };
        let minute = self.minute.unwrap_or(0);
        let hour = self.hour.unwrap_or(0);
        Ok(match kind {
            PresetKind::Hourly => {
                refuse(self.every.is_some(), "every")?;
                refuse(self.hour.is_some(), "hour")?;
                refuse(self.weekday.is_some(), "weekday")?;
                SchedulePreset::Hourly { minute }
            }
            PresetKind::EveryNHours => {
                refuse(self.hour.is_some(), "hour")?;
                refuse(self.weekday.is_some(), "weekday")?;
                let every = self.every.ok_or_else(|| {
                    invalid(format!(
                        "preset `{}` needs `{}` (1 to 23)",
                        spelling.preset(kind),
                        match spelling {
                            Spelling::Flags => "--every N".to_owned(),
                            Spelling::Fields => "every".to_owned(),
                        }
                    ))
                })?;
                SchedulePreset::EveryNHours { every, minute }
            }
            PresetKind::Daily => {
                refuse(self.every.is_some(), "every")?;
                refuse(self.weekday.is_some(), "weekday")?;
                SchedulePreset::Daily { hour, minute }
            }
            PresetKind::Weekly => {
                refuse(self.every.is_some(), "every")?;
                let weekday = self.weekday.ok_or_else(|| {
                    invalid(format!(
                        "preset `weekly` needs `{}` (sun, mon, tue, wed, thu, fri or sat)",
                        spelling.param("weekday")
                    ))
                })?;
                SchedulePreset::Weekly {
                    weekday,
                    hour,
                    minute,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_a_preset_does_not_take_are_named_in_the_callers_spelling() {
        let c = ScheduleChoice {
            preset: Some(PresetKind::Hourly),
            hour: Some(2),
            ..ScheduleChoice::default()
        };
        assert_eq!(
            c.preset(Spelling::Flags).unwrap_err().message,
            "`--hour` does not apply to preset `hourly`"
        );
        assert_eq!(
            c.preset(Spelling::Fields).unwrap_err().message,
            "`hour` does not apply to preset `hourly`"
        );
        let c = ScheduleChoice {
            preset: Some(PresetKind::EveryNHours),
            ..ScheduleChoice::default()
        };
        assert_eq!(
            c.preset(Spelling::Fields).unwrap_err().message,
            "preset `every_n_hours` needs `every` (1 to 23)"
        );
    }

    #[test]
    fn a_cron_or_a_preset_gives_the_schedule() {
        let c = ScheduleChoice {
            cron: Some("0 30 2 * * *".to_owned()),
            ..ScheduleChoice::default()
        };
        assert!(matches!(
            c.preset(Spelling::Fields).unwrap(),
            SchedulePreset::Custom { .. }
        ));
        let c = ScheduleChoice {
            preset: Some(PresetKind::Weekly),
            weekday: Some(Weekday::Mon),
            hour: Some(3),
            ..ScheduleChoice::default()
        };
        assert_eq!(
            c.preset(Spelling::Fields).unwrap(),
            SchedulePreset::Weekly {
                weekday: Weekday::Mon,
                hour: 3,
                minute: 0
            }
        );
        let none = ScheduleChoice::default();
        assert_eq!(
            none.preset(Spelling::Flags).unwrap_err().message,
            "give `--preset` or `--cron`"
        );
    }
}
