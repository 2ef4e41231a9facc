//! Schedules in words: preset recognition (by what fires, not by text), descriptions, the
//! five-field hint, and warnings.

use super::spec::{FIRST_YEAR, STAR_BIT, Spec, YearCoverage};
use super::{CronField, SchedulePreset, ScheduleWarning, Weekday, parse_six};

/// Reference years from which robfig's five-year search may fail are rejected before this
/// year and only warned about from it on (the century rule makes leap-day schedules skip 2100).
pub(crate) const GAP_WARN_FROM: i64 = 2095;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The values set in `bits` within the field's bounds (the star bit is ignored).
fn values(bits: u64, field: CronField) -> Vec<u64> {
    (field.min()..=field.max())
        .filter(|v| bits & (1 << v) != 0)
        .collect()
}

fn is_all(bits: u64, field: CronField) -> bool {
    bits & field.all_bits() == field.all_bits()
}

/// Whether the day fields let every calendar day fire (any dom/dow pairing occurs somewhere).
fn every_day(spec: &Spec) -> bool {
    (1..=31).all(|d| (0..7).all(|w| spec.day_matches(d, w)))
}

/// The weekday `w` such that the day fields fire exactly on that weekday, if any.
fn only_weekday(spec: &Spec) -> Option<Weekday> {
    Weekday::ALL.into_iter().find(|wd| {
        let n = u32::from(wd.number());
        (1..=31).all(|d| (0..7).all(|w| spec.day_matches(d, w) == (w == n)))
    })
}

/// The preset that fires at exactly the same times, if any.
pub(crate) fn preset_of(spec: &Spec) -> Option<SchedulePreset> {
    let narrow = |v: u64| u8::try_from(v).ok();
    if values(spec.second, CronField::Second) != [0] || !is_all(spec.month, CronField::Month) {
        return None;
    }
    let [minute] = values(spec.minute, CronField::Minute)[..] else {
        return None;
    };
    let minute = narrow(minute)?;
    let hours = values(spec.hour, CronField::Hour);
    if every_day(spec) {
        if hours.len() == 24 {
            return Some(SchedulePreset::Hourly { minute });
        }
        if let [hour] = hours[..] {
            return Some(SchedulePreset::Daily {
                hour: narrow(hour)?,
                minute,
            });
        }
        let every = *hours.get(1)?;
        if hours[0] == 0
            && (2..=23).contains(&every)
            && hours
                == (0..24)
                    .step_by(usize::try_from(every).ok()?)
                    .collect::<Vec<u64>>()
        {
            return Some(SchedulePreset::EveryNHours {
                every: narrow(every)?,
                minute,
            });
        }
        return None;
    }
    let weekday = only_weekday(spec)?;
    let [hour] = hours[..] else {
        return None;
    };
    Some(SchedulePreset::Weekly {
        weekday,
        hour: narrow(hour)?,
        minute,
    })
}

/// `0,15,30,45` / `1-5` / `Mon-Fri`: runs of three or more consecutive values become ranges.
fn list(vals: &[u64], field: CronField) -> String {
    let name = |v: u64| -> String {
        let i = usize::try_from(v).unwrap_or(0);
        match field {
            CronField::Month => MONTHS
                .get(i.wrapping_sub(1))
                .map_or(v.to_string(), |s| (*s).to_owned()),
            CronField::DayOfWeek => Weekday::ALL
                .get(i)
                .map_or(v.to_string(), |w| w.name()[..3].to_owned()),
            _ => v.to_string(),
        }
    };
    let mut parts = Vec::new();
    let mut i = 0;
    while i < vals.len() {
        let mut j = i;
        while j + 1 < vals.len() && vals[j + 1] == vals[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{}-{}", name(vals[i]), name(vals[j])));
            i = j + 1;
        } else {
            parts.push(name(vals[i]));
            i += 1;
        }
    }
    parts.join(",")
}

fn unit_phrase(bits: u64, field: CronField, every: &str, one: &str, many: &str) -> String {
    let vals = values(bits, field);
    if is_all(bits, field) {
        every.to_owned()
    } else if let [v] = vals[..] {
        format!("{one} {v}")
    } else {
        format!("{many} {}", list(&vals, field))
    }
}

fn time_phrase(spec: &Spec) -> String {
    let (s, m, h) = (
        values(spec.second, CronField::Second),
        values(spec.minute, CronField::Minute),
        values(spec.hour, CronField::Hour),
    );
    if let ([s], [m], [h]) = (&s[..], &m[..], &h[..]) {
        return if *s == 0 {
            format!("{h:02}:{m:02} UTC")
        } else {
            format!("{h:02}:{m:02}:{s:02} UTC")
        };
    }
    let all_s = is_all(spec.second, CronField::Second);
    let all_m = is_all(spec.minute, CronField::Minute);
    let all_h = is_all(spec.hour, CronField::Hour);
    let hour = unit_phrase(spec.hour, CronField::Hour, "every hour", "hour", "hours");
    let hour = if all_h { hour } else { format!("{hour} UTC") };
    match (all_s, all_m, s[..] == [0]) {
        (true, true, _) if all_h => "every second".to_owned(),
        (true, true, _) => format!("every second of {hour}"),
        (false, true, true) if all_h => "every minute".to_owned(),
        (false, true, true) => format!("every minute of {hour}"),
        (_, _, true) => format!(
            "{} of {hour}",
            unit_phrase(
                spec.minute,
                CronField::Minute,
                "every minute",
                "minute",
                "minutes"
            )
        ),
        _ => format!(
            "{} of {} of {hour}",
            unit_phrase(
                spec.second,
                CronField::Second,
                "every second",
                "second",
                "seconds"
            ),
            unit_phrase(
                spec.minute,
                CronField::Minute,
                "every minute",
                "minute",
                "minutes"
            )
        ),
    }
}

fn dom_phrase(spec: &Spec) -> String {
    let doms = values(spec.dom, CronField::DayOfMonth);
    if let [d] = doms[..] {
        format!("day {d} of the month")
    } else {
        format!("days {} of the month", list(&doms, CronField::DayOfMonth))
    }
}

fn day_phrase(spec: &Spec, once_a_day: bool) -> String {
    let months = if is_all(spec.month, CronField::Month) {
        String::new()
    } else {
        format!(
            " in {}",
            list(&values(spec.month, CronField::Month), CronField::Month)
        )
    };
    if every_day(spec) {
        return if months.is_empty() {
            if once_a_day { " daily" } else { "" }.to_owned()
        } else {
            format!(", every day{months}")
        };
    }
    let dom_all = is_all(spec.dom, CronField::DayOfMonth);
    let dow_all = is_all(spec.dow, CronField::DayOfWeek);
    let dom = dom_phrase(spec);
    let dow = list(
        &values(spec.dow, CronField::DayOfWeek),
        CronField::DayOfWeek,
    );
    let and = spec.dom & STAR_BIT != 0 || spec.dow & STAR_BIT != 0;
    let days = match (dom_all, dow_all) {
        (false, true) => format!("on {dom}"),
        (true, false) => format!("on {dow}"),
        _ if and => format!("on {dom} that fall on {dow}"),
        _ => format!("on {dom} and on every {dow}"),
    };
    format!(" {days}{months}")
}

fn describe_preset(p: &SchedulePreset) -> Option<String> {
    Some(match p {
        SchedulePreset::Hourly { minute } => format!("minute {minute} of every hour"),
        SchedulePreset::EveryNHours { every, minute } => {
            format!("every {every} hours at minute {minute}, from 00:{minute:02} UTC")
        }
        SchedulePreset::Daily { hour, minute } => format!("{hour:02}:{minute:02} UTC daily"),
        SchedulePreset::Weekly {
            weekday,
            hour,
            minute,
        } => format!("{hour:02}:{minute:02} UTC every {}", weekday.name()),
        SchedulePreset::Custom { .. } => return None,
    })
}

/// When the schedule fires, in words.
pub(crate) fn describe_spec(spec: &Spec) -> String {
    if let Some(text) = preset_of(spec).as_ref().and_then(describe_preset) {
        return text;
    }
    let once_a_day = [
        (spec.second, CronField::Second),
        (spec.minute, CronField::Minute),
        (spec.hour, CronField::Hour),
    ]
    .iter()
    .all(|&(bits, f)| values(bits, f).len() == 1);
    format!("{}{}", time_phrase(spec), day_phrase(spec, once_a_day))
}

/// A whole number of seconds as Go prints a `time.Duration`: `1h30m0s`, `45s`.
pub(crate) fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// How CNPG reads a five-field string, and the six-field form the user probably meant.
pub(crate) fn five_field_hint(fields: [&str; 5]) -> String {
    let [a, b, c, d, e] = fields;
    let reading = match Spec::from_fields([a, b, c, d, e, "*"]) {
        Ok(spec) => format!("CNPG reads this as {}", describe_spec(&spec)),
        Err(err) => format!(
            "CNPG rejects this, since it reads `{a}` as the second, `{b}` as the minute, `{c}` as the hour, `{d}` as the day of the month and `{e}` as the month: {}",
            err.reason()
        ),
    };
    // crontab allows 7 for Sunday; robfig does not.
    let (dow, sunday_note) = if e == "7" {
        ("0", " (crontab's 7 for Sunday is 0 or SUN here)")
    } else {
        (e, "")
    };
    let suggestion = format!("0 {a} {b} {c} {d} {dow}");
    match parse_six(&suggestion, ["0", a, b, c, d, dow]) {
        Ok(cron) => format!(
            "{reading}; for {} use `{suggestion}`{sunday_note}",
            cron.describe()
        ),
        Err(err) => format!(
            "{reading}; prepending a seconds field gives `{suggestion}`, which is also rejected: {err}"
        ),
    }
}

/// The short gap at midnight of an every-N-hours schedule where N does not divide 24.
pub(crate) fn uneven_gap_warning(every: u8, minute: u8) -> ScheduleWarning {
    let hours: Vec<u8> = (0..24).step_by(usize::from(every.max(1))).collect();
    let last = hours.last().copied().unwrap_or(0);
    let runs: Vec<String> = hours
        .iter()
        .map(|h| format!("{h:02}:{minute:02}"))
        .collect();
    ScheduleWarning::new(format!(
        "every {every} h at minute {minute} runs at {} UTC and again at 00:{minute:02} the next day: \
         the gap from {last:02}:{minute:02} to 00:{minute:02} UTC is {} h, not {every} h",
        runs.join(", "),
        24 - u16::from(last)
    ))
}

fn frequency_warning(per_hour: u64, hours: u64) -> Option<ScheduleWarning> {
    if per_hour <= 1 {
        return None;
    }
    let what = if per_hour == 3600 {
        "fires every second".to_owned()
    } else {
        format!("fires {per_hour} times an hour")
    };
    Some(ScheduleWarning::new(format!(
        "{what} ({} runs a day at most); each run creates a Backup object, so check this is not a mistake",
        per_hour * hours
    )))
}

/// Warnings for an `@every` schedule.
pub(crate) fn every_warnings(expr: &str, secs: u64) -> Vec<ScheduleWarning> {
    let mut out = Vec::new();
    if secs < 3600 {
        let per_day = 86_400 / secs.max(1);
        let what = if secs == 1 {
            "fires every second".to_owned()
        } else {
            format!("fires every {}", go_duration(secs))
        };
        out.push(ScheduleWarning::new(format!(
            "{what} ({per_day} runs a day); each run creates a Backup object, so check this is not a mistake"
        )));
    }
    out.push(ScheduleWarning::new(format!(
        "`{expr}` counts from the operator's previous check, not from the clock, so runs are not at fixed times; use six fields for fixed times"
    )));
    out
}

/// A warning when robfig ORs day-of-month and day-of-week (neither has a `*` or `?` item),
/// which crontab users rarely expect, and when that makes one of them meaningless.
pub(crate) fn day_combination_warning(expr: &str, spec: &Spec) -> Option<ScheduleWarning> {
    let [_, _, _, dom, _, dow] = expr.split(' ').collect::<Vec<_>>()[..] else {
        return None;
    };
    if spec.dom & STAR_BIT != 0 || spec.dow & STAR_BIT != 0 {
        return None;
    }
    let rule = "robfig/cron combines the two day fields with OR unless one of them is `*` or `?`";
    let dows = list(
        &values(spec.dow, CronField::DayOfWeek),
        CronField::DayOfWeek,
    );
    Some(ScheduleWarning::new(
        match (
            is_all(spec.dom, CronField::DayOfMonth),
            is_all(spec.dow, CronField::DayOfWeek),
        ) {
            (true, true) => return None,
            (true, false) => format!(
                "day-of-week `{dow}` has no effect: {rule}, and day-of-month `{dom}` matches every day; write `?` as the day-of-month to run only on {dows}"
            ),
            (false, true) => format!(
                "day-of-month `{dom}` has no effect: {rule}, and day-of-week `{dow}` matches every day; write `*` as the day-of-week to run only on {}",
                dom_phrase(spec)
            ),
            (false, false) => format!(
                "day-of-month `{dom}` and day-of-week `{dow}` are combined with OR ({rule}): this runs on {} and also on every {dows}",
                dom_phrase(spec)
            ),
        },
    ))
}

/// Warnings for a six-field or descriptor schedule that is not a preset.
pub(crate) fn spec_warnings(spec: &Spec) -> Vec<ScheduleWarning> {
    let count = |bits: u64, f: CronField| values(bits, f).len() as u64;
    let mut out = Vec::new();
    if let Some(w) = frequency_warning(
        count(spec.second, CronField::Second) * count(spec.minute, CronField::Minute),
        count(spec.hour, CronField::Hour),
    ) {
        out.push(w);
    }
    if let YearCoverage::Gap { from_year } = spec.yearly_coverage() {
        out.push(ScheduleWarning::new(format!(
            "does not run every year: after its runs in {from_year} the next is more than five years away, and robfig/cron searches only five years ahead, so CNPG will then compute no next run (checked from {FIRST_YEAR} over a 400-year calendar cycle)"
        )));
    }
    out
}
