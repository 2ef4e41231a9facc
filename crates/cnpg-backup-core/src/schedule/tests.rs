//! Behaviour of the public API: parsing errors, presets, recognition, warnings, serde.

use super::*;

fn parse(s: &str) -> Result<CronSchedule, ScheduleError> {
    s.parse()
}

fn err(s: &str) -> ScheduleError {
    parse(s).expect_err(s)
}

fn msg(s: &str) -> String {
    err(s).to_string()
}

#[test]
fn five_fields_are_rejected_with_cnpgs_reading_and_a_fix() {
    let e = err("0 7 * * *");
    assert!(matches!(e, ScheduleError::FiveFields { .. }), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains(
            "CNPG reads this as minute 7 of every hour; for 07:00 UTC daily use `0 0 7 * * *`"
        ),
        "{m}"
    );
    assert!(m.contains("`sec min hour dom month dow`"), "{m}");
    // The fix parses and is the daily preset.
    assert_eq!(
        parse("0 0 7 * * *").unwrap().preset(),
        Some(SchedulePreset::Daily { hour: 7, minute: 0 })
    );
}

#[test]
fn five_fields_robfig_would_reject_still_get_the_fix() {
    // robfig: "Beginning of range (0) below minimum (1)" because the 0 lands in the month.
    let m = msg("0 1 * * 0");
    assert!(m.contains("CNPG rejects this"), "{m}");
    assert!(m.contains("month `0`"), "{m}");
    assert!(m.contains("below the minimum 1"), "{m}");
    assert!(
        m.contains("for 01:00 UTC every Sunday use `0 0 1 * * 0`"),
        "{m}"
    );
}

#[test]
fn five_field_hint_generalises() {
    let m = msg("30 2 * * *");
    assert!(
        m.contains(
            "CNPG reads this as second 30 of minute 2 of every hour; for 02:30 UTC daily use `0 30 2 * * *`"
        ),
        "{m}"
    );
    let m = msg("*/5 * * * *");
    assert!(
        m.contains("CNPG reads this as seconds 0,5,10,15,20,25,30,35,40,45,50,55 of every minute of every hour; for minutes 0,5,10,15,20,25,30,35,40,45,50,55 of every hour use `0 */5 * * * *`"),
        "{m}"
    );
    // The weekday range lands in the month field, which robfig accepts.
    let m = msg("0 3 * * 1-5");
    assert!(
        m.contains("CNPG reads this as minute 3 of every hour, every day in Jan-May; for 03:00 UTC on Mon-Fri use `0 0 3 * * 1-5`"),
        "{m}"
    );
    // crontab's 7 for Sunday becomes 0 in the fix (robfig reads the 7 as July).
    let m = msg("0 1 * * 7");
    assert!(
        m.contains("CNPG reads this as minute 1 of every hour, every day in Jul; for 01:00 UTC every Sunday use `0 0 1 * * 0` (crontab's 7 for Sunday is 0 or SUN here)"),
        "{m}"
    );
    // A fix that is itself invalid says so.
    let m = msg("0 1 * * 8");
    assert!(
        m.contains("`0 0 1 * * 8`, which is also rejected: schedule `0 0 1 * * 8`: day-of-week `8` is above the maximum 6"),
        "{m}"
    );
}

#[test]
fn other_field_counts_are_rejected() {
    assert_eq!(
        err("1 2 3"),
        ScheduleError::FieldCount {
            input: "1 2 3".into(),
            found: 3
        }
    );
    assert!(matches!(
        err("0 0 0 1 1 * 2026"),
        ScheduleError::FieldCount { found: 7, .. }
    ));
    assert!(msg("1 2 3 4").contains("expects six"));
    assert_eq!(err(""), ScheduleError::Empty);
    assert_eq!(err(" \t\n"), ScheduleError::Empty);
}

#[test]
fn long_input_is_rejected_before_parsing() {
    let long = format!("0 0 0 * * {}", "1,".repeat(200));
    assert!(matches!(
        err(&long),
        ScheduleError::TooLong {
            max: MAX_SCHEDULE_LEN,
            ..
        }
    ));
}

#[test]
fn field_errors_name_the_field_and_value() {
    let e = err("0 60 * * * *");
    assert!(
        matches!(
            e,
            ScheduleError::Field {
                field: CronField::Minute,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("minute `60`"), "{e}");
    assert!(e.to_string().contains("expected 0-59"), "{e}");
    let m = msg("0 0 0 * * 7");
    assert!(m.contains("day-of-week `7`"), "{m}");
    assert!(m.contains("7 is not accepted"), "{m}");
    assert!(msg("0 0 25 * * *").contains("hour `25`"));
    assert!(msg("0 0 0 0 * *").contains("day-of-month `0`"));
    assert!(msg("0 0 0 * 13 *").contains("month `13`"));
    assert!(msg("0 0 0 * FOO *").contains("`FOO` is not a number"));
    assert!(msg("0 0 10-2 * * *").contains("starts at 10, after its end 2"));
    assert!(msg("0 */0 * * * *").contains("step 0"));
}

// robfig accepts these lax forms (`1,,15` = `1,15`, `*-5` = `*`, `+5` = `5`); we refuse them
// with a message saying what to write instead, so every accepted string means the same to both.
#[test]
fn lax_forms_are_rejected_with_clear_messages() {
    let m = msg("0 1,,15 * * * *");
    assert!(m.contains("empty list item"), "{m}");
    let m = msg("0 *-5 * * * *");
    assert!(m.contains("ignores what follows the star"), "{m}");
    let m = msg("0 +5 * * * *");
    assert!(m.contains("has a sign"), "{m}");
    assert!(msg("0 0 0 * * FRİ").contains("non-ASCII"));
}

#[test]
fn never_firing_schedules_are_rejected() {
    for s in [
        "0 0 0 30 2 *",
        "0 0 0 31 4 *",
        "0 0 0 30 FEB ?",
        "0 0 0 31 4,6,9,11 *",
    ] {
        let e = err(s);
        assert!(matches!(e, ScheduleError::NeverFires { .. }), "{s}: {e:?}");
        assert!(e.to_string().contains("never fires"), "{e}");
    }
    // Leap day: every four years, accepted.
    assert!(parse("0 0 0 29 2 *").is_ok());
    // 1 February when it is a Monday: up to 11 years apart, longer than robfig's search.
    let e = err("0 0 0 */31 2 MON");
    assert!(matches!(e, ScheduleError::TooRare { .. }), "{e:?}");
    assert!(
        e.to_string().contains("searches only five years ahead"),
        "{e}"
    );
    // Leap day on a Sunday: every 28 years.
    assert!(matches!(
        err("0 0 0 29 2 */7"),
        ScheduleError::TooRare { .. }
    ));
}

#[test]
fn descriptors_follow_robfig() {
    for d in [
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
        "@every 1h30m",
        "@every 90s",
    ] {
        assert_eq!(parse(d).unwrap().as_str(), d);
    }
    assert!(msg("@Daily").contains("write `@daily`"));
    assert!(msg("@fortnightly").contains("unknown descriptor `@fortnightly`"));
    assert!(msg("@every").contains("needs a duration"));
    assert!(msg("@every 1h 30m").contains("one duration without spaces"));
    assert!(msg("@every 1d").contains("unknown unit"));
    assert!(msg("@every 5").contains("missing unit"));
    assert!(msg("@every -1h").contains("has a sign"));
    assert!(msg("@every 500ms").contains("would run every 1s"));
    assert!(msg("@every 0").contains("would run every 1s"));
    assert!(msg("@every 1.5s").contains("would run every 1s"));
    assert!(msg("@daily 0").contains("stands alone"));
    // Surrounding whitespace is dropped; the canonical form is what CNPG receives.
    assert_eq!(parse("  @every   2h \n").unwrap().as_str(), "@every 2h");
}

#[test]
fn display_is_canonical_and_round_trips() {
    let c = parse("  0\t30  2 * *   ? ").unwrap();
    assert_eq!(c.to_string(), "0 30 2 * * ?");
    assert_eq!(c.as_str(), "0 30 2 * * ?");
    assert_eq!(parse(&c.to_string()).unwrap(), c);
    assert_eq!(String::from(c.clone()), "0 30 2 * * ?");
    assert_eq!(
        CronSchedule::try_from("0 30 2 * * ?".to_owned()).unwrap(),
        c
    );
}

#[test]
fn presets_compile_to_six_fields() {
    let cases = [
        (SchedulePreset::Hourly { minute: 15 }, "0 15 * * * *"),
        (
            SchedulePreset::EveryNHours {
                every: 6,
                minute: 5,
            },
            "0 5 */6 * * *",
        ),
        (
            SchedulePreset::Daily {
                hour: 2,
                minute: 30,
            },
            "0 30 2 * * *",
        ),
        (
            SchedulePreset::Weekly {
                weekday: Weekday::Sun,
                hour: 3,
                minute: 0,
            },
            "0 0 3 * * SUN",
        ),
        (
            SchedulePreset::Weekly {
                weekday: Weekday::Sat,
                hour: 23,
                minute: 59,
            },
            "0 59 23 * * SAT",
        ),
    ];
    for (preset, want) in cases {
        let cron = preset.cron().unwrap();
        assert_eq!(cron.as_str(), want);
        assert_eq!(cron.preset(), Some(preset));
    }
    let custom = SchedulePreset::Custom {
        cron: parse("0 0 */4 * * *").unwrap(),
    };
    assert_eq!(custom.cron().unwrap().as_str(), "0 0 */4 * * *");
}

#[test]
fn out_of_range_presets_are_errors() {
    let bad = [
        (SchedulePreset::Hourly { minute: 60 }, "minute `60`"),
        (
            SchedulePreset::EveryNHours {
                every: 0,
                minute: 0,
            },
            "every `0`",
        ),
        (
            SchedulePreset::EveryNHours {
                every: 24,
                minute: 0,
            },
            "every `24`",
        ),
        (
            SchedulePreset::Daily {
                hour: 24,
                minute: 0,
            },
            "hour `24`",
        ),
        (
            SchedulePreset::Daily {
                hour: 1,
                minute: 99,
            },
            "minute `99`",
        ),
        (
            SchedulePreset::Weekly {
                weekday: Weekday::Mon,
                hour: 24,
                minute: 0,
            },
            "hour `24`",
        ),
    ];
    for (preset, part) in bad {
        let e = preset.cron().expect_err(part);
        assert!(matches!(e, ScheduleError::PresetOutOfRange { .. }), "{e:?}");
        assert!(e.to_string().contains(part), "{e}");
        assert_eq!(preset.validate(), Err(e));
    }
}

#[test]
fn raw_crons_equal_to_a_preset_are_recognised() {
    let daily = Some(SchedulePreset::Daily {
        hour: 2,
        minute: 30,
    });
    for s in [
        "0 30 2 * * *",
        "0 30 2 * * ?",
        "00 30 02 * * *",
        "0 30 2 ? * *",
        "0 30 2 * 1-12 *",
        "0 30 2 * JAN-DEC 0-6",
        // Neither day field has a star, so robfig ORs them: 1-31 matches every day.
        "0 30 2 1-31 * SUN",
    ] {
        assert_eq!(parse(s).unwrap().preset(), daily, "{s}");
    }
    let weekly_sun = Some(SchedulePreset::Weekly {
        weekday: Weekday::Sun,
        hour: 3,
        minute: 0,
    });
    for s in [
        "0 0 3 * * 0",
        "0 0 3 * * sun",
        "0 0 3 ? * SUN",
        "0 0 3 */1 * Sun",
    ] {
        assert_eq!(parse(s).unwrap().preset(), weekly_sun, "{s}");
    }
    assert_eq!(
        parse("@daily").unwrap().preset(),
        Some(SchedulePreset::Daily { hour: 0, minute: 0 })
    );
    assert_eq!(
        parse("@midnight").unwrap().preset(),
        Some(SchedulePreset::Daily { hour: 0, minute: 0 })
    );
    assert_eq!(
        parse("@hourly").unwrap().preset(),
        Some(SchedulePreset::Hourly { minute: 0 })
    );
    assert_eq!(
        parse("@weekly").unwrap().preset(),
        Some(SchedulePreset::Weekly {
            weekday: Weekday::Sun,
            hour: 0,
            minute: 0
        })
    );
    assert_eq!(
        parse("0 10 0,5,10,15,20 * * *").unwrap().preset(),
        Some(SchedulePreset::EveryNHours {
            every: 5,
            minute: 10
        })
    );
    assert_eq!(
        parse("0 10 */1 * * *").unwrap().preset(),
        Some(SchedulePreset::Hourly { minute: 10 })
    );
    for s in [
        "@monthly",
        "@yearly",
        "@every 1h",
        "30 30 2 * * *",
        "0 30 2 1 * *",
        "0 30 2 * 2 *",
        "0 0 3 * * MON,SUN",
        "0 0 3 1 * MON",
        "0 0 1,5 * * *",
        "0 0,30 * * * *",
        "0 0 */2 * * MON",
    ] {
        assert_eq!(parse(s).unwrap().preset(), None, "{s}");
    }
}

#[test]
fn uneven_every_n_hours_warns_about_the_midnight_gap() {
    let w = SchedulePreset::EveryNHours {
        every: 5,
        minute: 0,
    }
    .warnings();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].message
            .contains("the gap from 20:00 to 00:00 UTC is 4 h, not 5 h"),
        "{}",
        w[0].message
    );
    assert!(w[0].message.contains("00:00, 05:00, 10:00, 15:00, 20:00"));
    let w = SchedulePreset::EveryNHours {
        every: 7,
        minute: 30,
    }
    .warnings();
    assert!(
        w[0].message
            .contains("the gap from 21:30 to 00:30 UTC is 3 h, not 7 h"),
        "{}",
        w[0].message
    );
    for every in [1, 2, 3, 4, 6, 8, 12] {
        assert!(
            SchedulePreset::EveryNHours { every, minute: 0 }
                .warnings()
                .is_empty()
        );
    }
    // A raw cron equal to the preset warns the same way.
    let custom = SchedulePreset::Custom {
        cron: parse("0 0 */5 * * *").unwrap(),
    };
    assert_eq!(
        custom.warnings(),
        SchedulePreset::EveryNHours {
            every: 5,
            minute: 0
        }
        .warnings()
    );
}

#[test]
fn custom_schedules_warn_about_frequency_or_days_and_every() {
    let w = parse("* * * * * *").unwrap().warnings();
    assert!(w[0].message.contains("fires every second"), "{w:?}");
    assert!(w[0].message.contains("86400 runs a day"), "{w:?}");
    let w = parse("0 */15 * * * *").unwrap().warnings();
    assert!(w[0].message.contains("fires 4 times an hour"), "{w:?}");
    let w = parse("0 0 0 1 * MON").unwrap().warnings();
    assert!(w[0].message.contains("combined with OR"), "{w:?}");
    assert!(
        w[0].message
            .contains("day 1 of the month and also on every Mon"),
        "{w:?}"
    );
    // OR with a day field that matches every day: the other one has no effect.
    let c = parse("0 30 2 1-31 * SUN").unwrap();
    assert_eq!(
        c.preset(),
        Some(SchedulePreset::Daily {
            hour: 2,
            minute: 30
        })
    );
    let w = c.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].message.contains("day-of-week `SUN` has no effect")
            && w[0]
                .message
                .contains("write `?` as the day-of-month to run only on Sun"),
        "{w:?}"
    );
    let w = parse("0 0 0 1 * 0-6").unwrap().warnings();
    assert!(
        w[0].message.contains("day-of-month `1` has no effect")
            && w[0].message.contains("only on day 1 of the month"),
        "{w:?}"
    );
    assert!(parse("0 0 0 1 * *").unwrap().warnings().is_empty());
    assert!(parse("0 0 0 ? * MON").unwrap().warnings().is_empty());
    let w = parse("@every 10m").unwrap().warnings();
    assert!(
        w[0].message.contains("fires every 10m0s (144 runs a day)"),
        "{w:?}"
    );
    assert!(w[1].message.contains("not at fixed times"), "{w:?}");
    let w = parse("0 0 0 29 2 *").unwrap().warnings();
    assert!(w[0].message.contains("does not run every year"), "{w:?}");
    assert!(parse("0 0 0 1 * *").unwrap().warnings().is_empty());
    assert!(parse("@daily").unwrap().warnings().is_empty());
}

#[test]
fn descriptions_read_naturally() {
    let d = |s: &str| parse(s).unwrap().describe();
    assert_eq!(d("0 30 2 * * *"), "02:30 UTC daily");
    assert_eq!(d("0 7 * * * *"), "minute 7 of every hour");
    assert_eq!(d("0 0 3 * * SUN"), "03:00 UTC every Sunday");
    assert_eq!(
        d("0 5 */6 * * *"),
        "every 6 hours at minute 5, from 00:05 UTC"
    );
    assert_eq!(d("* * * * * *"), "every second");
    assert_eq!(d("0 * * * * *"), "every minute");
    assert_eq!(d("0 0 0 1 * *"), "00:00 UTC on day 1 of the month");
    assert_eq!(d("0 0 0 1 1 *"), "00:00 UTC on day 1 of the month in Jan");
    assert_eq!(d("0 0 9 * * MON-FRI"), "09:00 UTC on Mon-Fri");
    assert_eq!(
        d("0 0 0 1 * MON"),
        "00:00 UTC on day 1 of the month and on every Mon"
    );
    assert_eq!(
        d("0 0 0 */2 * MON"),
        "00:00 UTC on days 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 of the month that fall on Mon"
    );
    assert_eq!(d("@every 1h30m"), "every 1h30m0s");
    assert_eq!(
        d("0,30 * 1 * * *"),
        "seconds 0,30 of every minute of hour 1 UTC"
    );
}

#[test]
fn serde_uses_the_expression_string() {
    let c = parse("0 30 2 * * *").unwrap();
    assert_eq!(serde_json::to_string(&c).unwrap(), "\"0 30 2 * * *\"");
    let back: CronSchedule = serde_json::from_str("\"0  30 2 * * *\"").unwrap();
    assert_eq!(back, c);
    let bad = serde_json::from_str::<CronSchedule>("\"0 7 * * *\"").unwrap_err();
    assert!(bad.to_string().contains("five fields"), "{bad}");
    let p: SchedulePreset =
        serde_json::from_str(r#"{"preset":"custom","cron":"0 0 3 * * SUN"}"#).unwrap();
    assert_eq!(
        p,
        SchedulePreset::Custom {
            cron: parse("0 0 3 * * SUN").unwrap()
        }
    );
    let p: SchedulePreset =
        serde_json::from_str(r#"{"preset":"weekly","weekday":"sun","hour":3,"minute":0}"#).unwrap();
    assert_eq!(p.cron().unwrap().as_str(), "0 0 3 * * SUN");
}

#[test]
fn weekday_numbers_follow_robfig() {
    assert_eq!(Weekday::Sun.number(), 0);
    assert_eq!(Weekday::Sat.number(), 6);
    assert_eq!(Weekday::from_number(1), Some(Weekday::Mon));
    assert_eq!(Weekday::from_number(7), None);
    for w in Weekday::ALL {
        assert_eq!(Weekday::from_number(w.number()), Some(w));
        let c = parse(&format!("0 0 0 * * {}", w.number())).unwrap();
        let n = parse(&format!("0 0 0 * * {}", w.abbrev())).unwrap();
        assert_eq!(c.preset(), n.preset());
        assert!(w.name().to_uppercase().starts_with(w.abbrev()));
    }
}

#[test]
fn extreme_reference_times_end_the_preview_instead_of_panicking() {
    for s in [
        "* * * * * *",
        "0 0 0 29 2 *",
        "@every 1h",
        "@yearly",
        "0 0 0 */2 * MON",
    ] {
        let c = parse(s).unwrap();
        assert!(c.next_runs(DateTime::<Utc>::MAX_UTC, 3).is_empty(), "{s}");
        let early = c.next_runs(DateTime::<Utc>::MIN_UTC, 2);
        assert_eq!(early.len(), 2, "{s}");
        assert!(
            early[0] > DateTime::<Utc>::MIN_UTC && early[1] > early[0],
            "{s}"
        );
    }
    // A leap second in the reference counts as its whole second.
    let leap = DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap();
    assert_eq!(
        parse("* * * * * *").unwrap().next_after(leap),
        DateTime::from_timestamp(1_483_228_800, 0)
    );
}

#[test]
fn descriptors_expand_to_the_six_fields_robfig_defines_them_as() {
    let from = DateTime::parse_from_rfc3339("2026-02-27T13:14:15Z")
        .unwrap()
        .with_timezone(&Utc);
    for d in [
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ] {
        let desc = parse(d).unwrap();
        let six = desc.six_field().unwrap();
        assert_eq!(six.split(' ').count(), 6, "{d}: {six}");
        // Same schedule: the expansion fires exactly when the descriptor does.
        assert_eq!(
            parse(&six).unwrap().next_runs(from, 20),
            desc.next_runs(from, 20),
            "{d} vs {six}"
        );
    }
    assert_eq!(
        parse("0 30 2 * * *").unwrap().six_field().unwrap(),
        "0 30 2 * * *"
    );
    assert_eq!(parse("@every 1h30m").unwrap().six_field(), None);
}
