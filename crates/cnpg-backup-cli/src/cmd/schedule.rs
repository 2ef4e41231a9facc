//! `schedule preview`.

use chrono::{DateTime, Utc};
use cnpg_backup_app::schedule::{PresetKind, ScheduleChoice, Spelling};
use cnpg_backup_core::schedule::{SchedulePreset, Weekday};

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
    let mut choice = ScheduleChoice::default();
    choice.preset = args.preset.map(|p| match p {
        PresetName::Hourly => PresetKind::Hourly,
        PresetName::EveryNHours => PresetKind::EveryNHours,
        PresetName::Daily => PresetKind::Daily,
        PresetName::Weekly => PresetKind::Weekly,
    });
    choice.every = args.every;
    choice.hour = args.hour;
    choice.minute = args.minute;
    choice.weekday = args.weekday.map(weekday_of);
    choice.cron = args.cron.clone();
    Ok(choice.preset(Spelling::Flags)?)
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
