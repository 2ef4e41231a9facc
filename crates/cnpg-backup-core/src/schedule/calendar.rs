//! Proleptic Gregorian civil time over Unix seconds, in UTC, with Go's `time.Date`
//! normalisation (a month or day past its end rolls over). Howard Hinnant's `days_from_civil`
//! and `civil_from_days` algorithms.

/// A UTC time split into fields (weekday: Sunday = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) weekday: u32,
}

/// Days since 1970-01-01 of a valid civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // In range by construction: day 1..=31, month 1..=12.
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Splits Unix seconds into UTC fields.
pub(crate) fn civil(t: i64) -> Civil {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // All in range by construction (secs < 86 400, weekday < 7).
    let narrow = |v: i64| u32::try_from(v).unwrap_or(0);
    Civil {
        year,
        month,
        day,
        hour: narrow(secs / 3_600),
        minute: narrow(secs % 3_600 / 60),
        second: narrow(secs % 60),
        weekday: narrow((days + 4).rem_euclid(7)),
    }
}

/// Go's `time.Date(year, month, day, hour, min, sec, 0, time.UTC)` as Unix seconds: the month
/// is normalised into the year first, then days, hours, minutes and seconds are added.
pub(crate) fn date_secs(year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> i64 {
    let m0 = month - 1;
    let year = year + m0.div_euclid(12);
    let month = u32::try_from(m0.rem_euclid(12) + 1).unwrap_or(1);
    let days = days_from_civil(year, month, 1) + day - 1;
    days * 86_400 + hour * 3_600 + min * 60 + sec
}

/// Days in `month` (1-12) of `year`.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// The weekday (Sunday = 0) of a valid date.
pub(crate) fn weekday_of(year: i64, month: u32, day: u32) -> u32 {
    civil(days_from_civil(year, month, day) * 86_400).weekday
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Utc};

    // Checked against chrono, an independent implementation, across four centuries.
    #[test]
    fn civil_agrees_with_chrono() {
        let mut t = Utc
            .with_ymd_and_hms(1899, 12, 31, 23, 59, 59)
            .unwrap()
            .timestamp();
        let end = Utc
            .with_ymd_and_hms(2301, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        while t < end {
            let c = civil(t);
            let d = Utc.timestamp_opt(t, 0).unwrap();
            assert_eq!(
                (
                    c.year, c.month, c.day, c.hour, c.minute, c.second, c.weekday
                ),
                (
                    i64::from(d.year()),
                    d.month(),
                    d.day(),
                    d.hour(),
                    d.minute(),
                    d.second(),
                    d.weekday().num_days_from_sunday()
                ),
                "{t}"
            );
            assert_eq!(
                date_secs(
                    c.year,
                    i64::from(c.month),
                    i64::from(c.day),
                    i64::from(c.hour),
                    i64::from(c.minute),
                    i64::from(c.second)
                ),
                t
            );
            t += 86_400 * 7 + 3_601 * 5 + 7;
        }
    }

    // Go's time.Date normalisation: 31 January + 1 month is 3 March (2 March in a leap year).
    #[test]
    fn date_normalises_like_go() {
        let ymd = |t: i64| {
            let c = civil(t);
            (c.year, c.month, c.day)
        };
        assert_eq!(ymd(date_secs(2025, 2, 31, 0, 0, 0)), (2025, 3, 3));
        assert_eq!(ymd(date_secs(2024, 2, 31, 0, 0, 0)), (2024, 3, 2));
        assert_eq!(ymd(date_secs(2025, 13, 1, 0, 0, 0)), (2026, 1, 1));
        assert_eq!(ymd(date_secs(2025, 0, 1, 0, 0, 0)), (2024, 12, 1));
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(weekday_of(2026, 11, 26), 4);
    }
}
