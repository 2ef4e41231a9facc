//! Property tests: presets round-trip, every previewed run matches the expression and is the
//! first match after its predecessor (against an independent brute-force search over chrono
//! dates), and no string makes the parser panic.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc};
use proptest::prelude::*;

use super::spec::{STAR_BIT, Spec};
use super::{CronField, CronSchedule, Kind, ScheduleError, SchedulePreset, Weekday};

fn weekday() -> impl Strategy<Value = Weekday> {
    (0..7_u8).prop_map(|n| Weekday::ALL[usize::from(n)])
}

fn valid_preset() -> impl Strategy<Value = SchedulePreset> {
    prop_oneof![
        (0..60_u8).prop_map(|minute| SchedulePreset::Hourly { minute }),
        (1..24_u8, 0..60_u8)
            .prop_map(|(every, minute)| SchedulePreset::EveryNHours { every, minute }),
        (0..24_u8, 0..60_u8).prop_map(|(hour, minute)| SchedulePreset::Daily { hour, minute }),
        (weekday(), 0..24_u8, 0..60_u8).prop_map(|(weekday, hour, minute)| {
            SchedulePreset::Weekly {
                weekday,
                hour,
                minute,
            }
        }),
    ]
}

/// `EveryNHours { every: 1 }` is the same schedule as `Hourly`.
fn normalised(p: SchedulePreset) -> SchedulePreset {
    match p {
        SchedulePreset::EveryNHours { every: 1, minute } => SchedulePreset::Hourly { minute },
        other => other,
    }
}

/// One list item for a field with bounds `lo..=hi`, in any of robfig's strict forms.
fn item(lo: u32, hi: u32, names: &'static [&'static str]) -> BoxedStrategy<String> {
    let value = move |v: u32| -> BoxedStrategy<String> {
        if names.is_empty() {
            Just(v.to_string()).boxed()
        } else {
            let name = names[usize::try_from(v - lo).unwrap_or(0)];
            prop_oneof![
                Just(v.to_string()),
                Just(name.to_owned()),
                Just(name.to_uppercase())
            ]
            .boxed()
        }
    };
    let pair = (lo..=hi, lo..=hi).prop_map(|(a, b)| (a.min(b), a.max(b)));
    prop_oneof![
        1 => Just("*".to_owned()),
        1 => Just("?".to_owned()),
        5 => (lo..=hi).prop_flat_map(value),
        3 => pair.clone().prop_flat_map(move |(a, b)| (value(a), value(b)).prop_map(|(a, b)| format!("{a}-{b}"))),
        2 => (1..=hi + 1).prop_map(|s| format!("*/{s}")),
        2 => (pair, 1..=hi + 1).prop_map(|((a, b), s)| format!("{a}-{b}/{s}")),
        2 => (lo..=hi, 1..=hi + 1).prop_map(|(a, s)| format!("{a}/{s}")),
    ]
    .boxed()
}

fn field(f: CronField) -> BoxedStrategy<String> {
    let names: &'static [&'static str] = match f {
        CronField::Month => &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
        CronField::DayOfWeek => &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
        _ => &[],
    };
    let lo = u32::try_from(f.min()).unwrap_or(0);
    let hi = u32::try_from(f.max()).unwrap_or(0);
    prop_oneof![
        3 => item(lo, hi, names).prop_map(|i| vec![i]),
        1 => prop::collection::vec(item(lo, hi, names), 2..4),
    ]
    .prop_map(|items| items.join(","))
    .boxed()
}

fn six_fields() -> impl Strategy<Value = String> {
    (
        field(CronField::Second),
        field(CronField::Minute),
        field(CronField::Hour),
        field(CronField::DayOfMonth),
        field(CronField::Month),
        field(CronField::DayOfWeek),
    )
        .prop_map(|(a, b, c, d, e, f)| format!("{a} {b} {c} {d} {e} {f}"))
}

/// A reference time between 2000 and 2090, with sub-second nanos.
fn reference() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800_i64..3_786_912_000, 0..1_000_000_000_u32)
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap_or_default())
}

/// Independent check of one time against the bit sets, fields read with chrono.
fn brute_matches(spec: &Spec, t: DateTime<Utc>) -> bool {
    let has = |bits: u64, v: u32| bits & (1 << v) != 0;
    let day = has(spec.dom, t.day());
    let dow = has(spec.dow, t.weekday().num_days_from_sunday());
    let days = if spec.dom & STAR_BIT != 0 || spec.dow & STAR_BIT != 0 {
        day && dow
    } else {
        day || dow
    };
    t.nanosecond() == 0
        && has(spec.second, t.second())
        && has(spec.minute, t.minute())
        && has(spec.hour, t.hour())
        && has(spec.month, t.month())
        && days
}

/// The first matching second after `from`, scanning chrono dates day by day and the bit sets
/// in ascending order; `None` past robfig's limit (the year of `from + 1 s`, plus five).
fn brute_next(spec: &Spec, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let start = DateTime::from_timestamp(from.timestamp() + 1, 0)?;
    let limit = start.year() + 5;
    let set = |bits: u64, f: CronField| -> Vec<u32> {
        (f.min()..=f.max())
            .filter(|v| bits & (1 << v) != 0)
            .filter_map(|v| u32::try_from(v).ok())
            .collect()
    };
    let (hours, minutes, seconds) = (
        set(spec.hour, CronField::Hour),
        set(spec.minute, CronField::Minute),
        set(spec.second, CronField::Second),
    );
    let mut date: NaiveDate = start.date_naive();
    while date.year() <= limit {
        let midnight = date.and_time(NaiveTime::MIN).and_utc();
        let probe = midnight;
        let day_ok = brute_matches(
            &Spec {
                second: u64::MAX,
                minute: u64::MAX,
                hour: u64::MAX,
                ..*spec
            },
            probe,
        );
        if day_ok {
            for &h in &hours {
                let hour_start = midnight + Duration::hours(i64::from(h));
                if hour_start + Duration::seconds(3599) < start {
                    continue;
                }
                for &m in &minutes {
                    let minute_start = hour_start + Duration::minutes(i64::from(m));
                    if minute_start + Duration::seconds(59) < start {
                        continue;
                    }
                    for &s in &seconds {
                        let t = minute_start + Duration::seconds(i64::from(s));
                        if t >= start {
                            return Some(t);
                        }
                    }
                }
            }
        }
        date = date.succ_opt()?;
    }
    None
}

proptest! {
    #[test]
    fn presets_round_trip_through_cron(p in valid_preset()) {
        let cron = p.cron().unwrap();
        prop_assert_eq!(cron.as_str().split(' ').count(), 6);
        prop_assert_eq!(cron.preset(), Some(normalised(p.clone())));
        // And the text round-trips.
        let again: CronSchedule = cron.as_str().parse().unwrap();
        prop_assert_eq!(again, cron);
    }

    #[test]
    fn out_of_range_presets_are_rejected(minute in 60..=u8::MAX, hour in 24..=u8::MAX, every in 24..=u8::MAX) {
        let is_range = |r: Result<CronSchedule, ScheduleError>| {
            matches!(r, Err(ScheduleError::PresetOutOfRange { .. }))
        };
        let presets = [
            SchedulePreset::Hourly { minute },
            SchedulePreset::Daily { hour, minute: 0 },
            SchedulePreset::Daily { hour: 0, minute },
            SchedulePreset::EveryNHours { every, minute: 0 },
            SchedulePreset::EveryNHours { every: 0, minute: 0 },
            SchedulePreset::EveryNHours { every: 1, minute },
            SchedulePreset::Weekly { weekday: Weekday::Mon, hour, minute: 0 },
            SchedulePreset::Weekly { weekday: Weekday::Mon, hour: 0, minute },
        ];
        for p in presets {
            prop_assert!(is_range(p.cron()), "{:?}", p);
        }
    }

    #[test]
    fn next_runs_are_the_matches_in_order(expr in six_fields(), from in reference()) {
        let cron = match expr.parse::<CronSchedule>() {
            Ok(c) => c,
            // Generated fields are well-formed; only the calendar checks may refuse them.
            Err(ScheduleError::NeverFires { .. } | ScheduleError::TooRare { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{expr}: {e}"))),
        };
        let Kind::Spec(spec) = cron.kind else {
            return Err(TestCaseError::fail("six fields gave a non-spec schedule"));
        };
        prop_assert_eq!(cron.to_string(), expr.clone());
        let runs = cron.next_runs(from, 4);
        let mut prev = from;
        for (i, run) in runs.iter().enumerate() {
            prop_assert!(*run > prev, "{} run {} {} not after {}", expr, i, run, prev);
            prop_assert!(brute_matches(&spec, *run), "{} run {} does not match", expr, run);
            prop_assert_eq!(Some(*run), brute_next(&spec, prev), "{} from {}", expr, prev);
            prev = *run;
        }
        if runs.len() < 4 {
            // robfig's zero time: the brute force agrees nothing is within the window.
            prop_assert_eq!(brute_next(&spec, prev), None, "{} stopped early from {}", expr, prev);
        }
    }

    #[test]
    fn every_adds_the_delay_to_the_whole_second(secs in 1..200_000_u64, from in reference()) {
        let cron: CronSchedule = format!("@every {secs}s").parse().unwrap();
        let runs = cron.next_runs(from, 3);
        prop_assert_eq!(runs.len(), 3);
        let base = from.timestamp();
        for (i, run) in runs.iter().enumerate() {
            prop_assert_eq!(run.timestamp(), base + (i as i64 + 1) * i64::try_from(secs).unwrap());
            prop_assert_eq!(run.nanosecond(), 0);
        }
    }

    #[test]
    fn display_parses_back_to_the_same_schedule(expr in six_fields()) {
        if let Ok(cron) = expr.parse::<CronSchedule>() {
            let again: CronSchedule = cron.to_string().parse().unwrap();
            prop_assert_eq!(again, cron);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,300}") {
        if let Ok(cron) = s.parse::<CronSchedule>() {
            let _ = cron.next_runs(DateTime::UNIX_EPOCH, 2);
            let _ = cron.warnings();
            let _ = cron.describe();
        }
    }

    #[test]
    fn cron_like_strings_never_panic(s in "[0-9*?,/ @a-zA-Z+-]{0,40}") {
        match s.parse::<CronSchedule>() {
            Ok(cron) => {
                let _ = cron.next_runs(DateTime::UNIX_EPOCH, 2);
                let _ = cron.warnings();
                let _ = cron.preset();
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn five_field_strings_always_get_a_hint(a in field(CronField::Second), b in field(CronField::Minute), c in field(CronField::Hour), d in field(CronField::DayOfMonth), e in "[0-9*]{1,2}") {
        let s = format!("{a} {b} {c} {d} {e}");
        let err = s.parse::<CronSchedule>().unwrap_err();
        prop_assert!(matches!(err, ScheduleError::FiveFields { .. }), "{}", err);
        let m = err.to_string();
        prop_assert!(m.contains("CNPG reads this as") || m.contains("CNPG rejects this"), "{}", m);
        // The fix prepends a seconds field (and maps crontab's Sunday 7 to 0).
        let fix = if e == "7" { format!("`0 {a} {b} {c} {d} 0`") } else { format!("`0 {s}`") };
        prop_assert!(m.contains(&fix), "{}", m);
    }
}
