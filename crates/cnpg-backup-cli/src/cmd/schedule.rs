//! `schedule preview`.

use chrono::{DateTime, Utc};
use cnpg_backup_core::schedule::{CronSchedule, SchedulePreset, Weekday};

use crate::cli::{PresetName, PreviewArgs, ScheduleCommand, WeekdayArg};
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::{Output, emit};
use cnpg_backup_app::views::SchedulePreview;

pub fn run(cmd: &ScheduleCommand, format: Output) -> CmdResult {
    match cmd {
        ScheduleCommand::Preview(args) => {
            let view = preview(args, Utc::now())?;
            emit(format, &view)?;
            Ok(ExitStatus::Success)
        }
    }
}

fn preview(args: &PreviewArgs, now: DateTime<Utc>) -> Result<SchedulePreview, CliError> {
    let from = match &args.from {
        None => now,
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| {
                CliError::invalid(&e).context(format!(
                    "--from `{s}` is not an RFC 3339 time such as `2026-11-26T02:00:00Z`"
                ))
            })?
            .with_timezone(&Utc),
    };
    let preset = preset(args)?;
    Ok(SchedulePreview::of(&preset, from, usize::from(args.count))?)
}

fn preset(args: &PreviewArgs) -> Result<SchedulePreset, CliError> {
    if let Some(expr) = &args.cron {
        let cron: CronSchedule = expr.parse().map_err(|e| CliError::invalid(&e))?;
        return Ok(SchedulePreset::Custom { cron });
    }
    let name = args
        .preset
        .ok_or_else(|| CliError::new(ExitStatus::Invalid, "give `--preset` or `--cron`"))?;
    let minute = args.minute.unwrap_or(0);
    let hour = args.hour.unwrap_or(0);
    let unused = |flag: &str| {
        CliError::new(
            ExitStatus::Invalid,
            format!("`{flag}` does not apply to preset `{}`", preset_name(name)),
        )
    };
    Ok(match name {
        PresetName::Hourly => {
            if args.every.is_some() {
                return Err(unused("--every"));
            }
            if args.hour.is_some() {
                return Err(unused("--hour"));
            }
            if args.weekday.is_some() {
                return Err(unused("--weekday"));
            }
            SchedulePreset::Hourly { minute }
        }
        PresetName::EveryNHours => {
            if args.hour.is_some() {
                return Err(unused("--hour"));
            }
            if args.weekday.is_some() {
                return Err(unused("--weekday"));
            }
            let every = args.every.ok_or_else(|| {
                CliError::new(
                    ExitStatus::Invalid,
                    "preset `every-n-hours` needs `--every N` (1 to 23)",
                )
            })?;
            SchedulePreset::EveryNHours { every, minute }
        }
        PresetName::Daily => {
            if args.every.is_some() {
                return Err(unused("--every"));
            }
            if args.weekday.is_some() {
                return Err(unused("--weekday"));
            }
            SchedulePreset::Daily { hour, minute }
        }
        PresetName::Weekly => {
            if args.every.is_some() {
                return Err(unused("--every"));
            }
            let weekday = args.weekday.ok_or_else(|| {
                CliError::new(
                    ExitStatus::Invalid,
                    "preset `weekly` needs `--weekday` (sun, mon, tue, wed, thu, fri or sat)",
                )
            })?;
            SchedulePreset::Weekly {
                weekday: weekday_of(weekday),
                hour,
                minute,
            }
        }
    })
}

fn preset_name(p: PresetName) -> &'static str {
    match p {
        PresetName::Hourly => "hourly",
        PresetName::EveryNHours => "every-n-hours",
        PresetName::Daily => "daily",
        PresetName::Weekly => "weekly",
    }
}

fn weekday_of(w: WeekdayArg) -> Weekday {
    match w {
        WeekdayArg::Sun => Weekday::Sun,
        WeekdayArg::Mon => Weekday::Mon,
        WeekdayArg::Tue => Weekday::Tue,
        WeekdayArg::Wed => Weekday::Wed,
        WeekdayArg::Thu => Weekday::Thu,
        WeekdayArg::Fri => Weekday::Fri,
        WeekdayArg::Sat => Weekday::Sat,
    }
}
