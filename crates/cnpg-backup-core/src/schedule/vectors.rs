//! Test vectors for robfig/cron v1.2.0 semantics: expression, reference time, expected next runs.
//!
//! Sources. "TestNext" and "TestActivation" cases come from robfig/cron `spec_test.go` as
//! stored at commit 0422546be4, whose `Parse` returns errors and reads seconds first with an
//! optional day-of-week, as v1.2.0 does (the v1.2.0 blob itself was not available). Its specs
//! have five fields, which robfig reads as `sec min hour dom month` with the day-of-week
//! defaulting to `*`, so they are written here with ` *` appended (the same bit sets). A
//! TestActivation case `(t, spec, true)` asserts `Next(t - 1s) == t`; for a `false` case the
//! next run was derived by hand. All other
//! vectors are hand-derived from robfig's rules (parser.go, spec.go, constantdelay.go) with a
//! calendar: 2012-07-01 and 2012-07-15 are Sundays, 2013-01-01 is a Tuesday, 2026-11-26 is a
//! Thursday, 2026-11-01 is a Sunday.

use chrono::{DateTime, Utc};

use super::CronSchedule;

struct Vector {
    expr: &'static str,
    from: &'static str,
    want: &'static [&'static str],
}

const fn v(expr: &'static str, from: &'static str, want: &'static [&'static str]) -> Vector {
    Vector { expr, from, want }
}

#[rustfmt::skip]
const VECTORS: &[Vector] = &[
    // --- robfig spec_test.go TestNext, "Simple cases" (0/15 = 0-59/15).
    v("0 0/15 * * * *", "2012-07-09T14:45:00Z", &["2012-07-09T15:00:00Z", "2012-07-09T15:15:00Z", "2012-07-09T15:30:00Z"]),
    v("0 0/15 * * * *", "2012-07-09T14:59:00Z", &["2012-07-09T15:00:00Z"]),
    v("0 0/15 * * * *", "2012-07-09T14:59:59Z", &["2012-07-09T15:00:00Z"]),
    // TestNext "Wrap around hours": minutes {20, 35}.
    v("0 20-35/15 * * * *", "2012-07-09T15:45:00Z", &["2012-07-09T16:20:00Z", "2012-07-09T16:35:00Z", "2012-07-09T17:20:00Z"]),
    // TestNext "Wrap around days".
    v("0 */15 * * * *", "2012-07-09T23:46:00Z", &["2012-07-10T00:00:00Z"]),
    v("0 20-35/15 * * * *", "2012-07-09T23:45:00Z", &["2012-07-10T00:20:00Z"]),
    // 15/35 = seconds {15, 50}; the next runs after the first are hand-derived.
    v("15/35 20-35/15 * * * *", "2012-07-09T23:35:51Z", &["2012-07-10T00:20:15Z", "2012-07-10T00:20:50Z", "2012-07-10T00:35:15Z"]),
    v("15/35 20-35/15 1/2 * * *", "2012-07-09T23:35:51Z", &["2012-07-10T01:20:15Z"]),
    v("15/35 20-35/15 10-12 * * *", "2012-07-09T23:35:51Z", &["2012-07-10T10:20:15Z"]),
    v("15/35 20-35/15 1/2 */2 * *", "2012-07-09T23:35:51Z", &["2012-07-11T01:20:15Z"]),
    v("15/35 20-35/15 * 9-20 * *", "2012-07-09T23:35:51Z", &["2012-07-10T00:20:15Z"]),
    v("15/35 20-35/15 * 9-20 Jul *", "2012-07-09T23:35:51Z", &["2012-07-10T00:20:15Z"]),
    // TestNext "Wrap around months"; later runs hand-derived (April wraps into 2013).
    v("0 0 0 9 Apr-Oct ?", "2012-07-09T23:35:00Z", &["2012-08-09T00:00:00Z", "2012-09-09T00:00:00Z", "2012-10-09T00:00:00Z", "2013-04-09T00:00:00Z"]),
    // dom `*/5` has the star bit, so AND: days {1,6,...,31} that are Mondays in Apr/Aug/Oct:
    // 2012-08-06, 2012-10-01, then 2013-04-01 (a Monday).
    v("0 0 0 */5 Apr,Aug,Oct Mon", "2012-07-09T23:35:00Z", &["2012-08-06T00:00:00Z", "2012-10-01T00:00:00Z", "2013-04-01T00:00:00Z"]),
    v("0 0 0 */5 Oct Mon", "2012-07-09T23:35:00Z", &["2012-10-01T00:00:00Z"]),
    // TestNext "Wrap around years".
    v("0 0 0 * Feb Mon", "2012-07-09T23:35:00Z", &["2013-02-04T00:00:00Z", "2013-02-11T00:00:00Z", "2013-02-18T00:00:00Z"]),
    // Mon/2 = Mon-Sat/2 = {Mon, Wed, Fri}.
    v("0 0 0 * Feb Mon/2", "2012-07-09T23:35:00Z", &["2013-02-01T00:00:00Z", "2013-02-04T00:00:00Z", "2013-02-06T00:00:00Z"]),
    // TestNext "Wrap around minute, hour, day, month, and year".
    v("0 * * * * *", "2012-12-31T23:59:45Z", &["2013-01-01T00:00:00Z", "2013-01-01T00:01:00Z"]),
    // TestNext "Leap year".
    v("0 0 0 29 Feb ?", "2012-07-09T23:35:00Z", &["2016-02-29T00:00:00Z", "2020-02-29T00:00:00Z"]),
    // TestNext's DST cases, evaluated in UTC (CNPG's zone) where 02:30 exists on both days.
    v("0 30 2 11 Mar ?", "2012-03-11T00:00:00Z", &["2012-03-11T02:30:00Z", "2013-03-11T02:30:00Z"]),
    v("0 30 2 04 Nov ?", "2012-11-04T00:00:00Z", &["2012-11-04T02:30:00Z"]),
    // --- robfig spec_test.go TestActivation, true cases: Next(t - 1s) == t.
    v("0 5/15 * * * *", "2012-07-09T15:04:59Z", &["2012-07-09T15:05:00Z", "2012-07-09T15:20:00Z", "2012-07-09T15:35:00Z", "2012-07-09T15:50:00Z", "2012-07-09T16:05:00Z"]),
    v("0 0/15 * * Jul *", "2012-07-15T14:59:59Z", &["2012-07-15T15:00:00Z"]),
    // "Everything set"; later Sundays hand-derived (2013-07-01 is a Monday, so 2013-07-07).
    v("0 30 08 ? Jul Sun", "2012-07-15T08:29:59Z", &["2012-07-15T08:30:00Z", "2012-07-22T08:30:00Z", "2012-07-29T08:30:00Z", "2013-07-07T08:30:00Z"]),
    v("0 30 08 15 Jul ?", "2012-07-15T08:29:59Z", &["2012-07-15T08:30:00Z", "2013-07-15T08:30:00Z"]),
    // "Predefined schedules".
    v("@hourly", "2012-07-09T14:59:59Z", &["2012-07-09T15:00:00Z", "2012-07-09T16:00:00Z"]),
    v("@daily", "2012-07-08T23:59:59Z", &["2012-07-09T00:00:00Z", "2012-07-10T00:00:00Z"]),
    v("@weekly", "2012-07-07T23:59:59Z", &["2012-07-08T00:00:00Z", "2012-07-15T00:00:00Z"]),
    v("@monthly", "2012-06-30T23:59:59Z", &["2012-07-01T00:00:00Z", "2012-08-01T00:00:00Z"]),
    // "Test interaction of DOW and DOM": both restricted, so OR (Sun Jul 15, Fri Jun 15, Wed Aug 1).
    v("0 * * 1,15 * Sun", "2012-07-14T23:59:59Z", &["2012-07-15T00:00:00Z", "2012-07-15T00:01:00Z"]),
    v("0 * * 1,15 * Sun", "2012-06-14T23:59:59Z", &["2012-06-15T00:00:00Z"]),
    v("0 * * 1,15 * Sun", "2012-07-31T23:59:59Z", &["2012-08-01T00:00:00Z"]),
    // "If one has a star, then both need to match" (the false cases' next runs hand-derived).
    v("0 * * * * Mon", "2012-07-14T23:59:59Z", &["2012-07-16T00:00:00Z"]),
    // dom {1,11,21,31} AND Sunday: Jul 21 Sat, Jul 31 Tue, Aug 1/11/21/31 Wed/Sat/Tue/Fri,
    // Sep 1/11/21 Sat/Tue/Fri, Oct 1/11 Mon/Thu, Oct 21 Sunday.
    v("0 * * */10 * Sun", "2012-07-14T23:59:59Z", &["2012-10-21T00:00:00Z"]),
    v("0 * * 1,15 * *", "2012-07-08T23:59:59Z", &["2012-07-15T00:00:00Z"]),
    v("0 * * */2 * Sun", "2012-07-14T23:59:59Z", &["2012-07-15T00:00:00Z"]),
    // --- Hand-derived, from Thursday 2026-11-26 12:00 UTC.
    // Both day fields restricted: OR. Mondays Nov 30, Dec 7...; day 1 = Tue Dec 1, Fri Jan 1.
    v("0 0 0 1 * MON", "2026-11-26T12:00:00Z", &["2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z", "2026-12-21T00:00:00Z", "2026-12-28T00:00:00Z", "2027-01-01T00:00:00Z", "2027-01-04T00:00:00Z"]),
    // dom `*` (star): AND, so only Mondays.
    v("0 0 0 * * MON", "2026-11-26T12:00:00Z", &["2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"]),
    // `?` is a star too.
    v("0 0 0 ? * MON", "2026-11-26T12:00:00Z", &["2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"]),
    v("0 0 0 1 * ?", "2026-11-26T12:00:00Z", &["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"]),
    // `*/1` keeps the star bit (robfig v1.2.0): AND, only Mondays.
    v("0 0 0 */1 * MON", "2026-11-26T12:00:00Z", &["2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"]),
    // `1-7` has no star: OR with Mondays, so Mon Nov 30 and every day Dec 1-7, then Mon Dec 14.
    v("0 0 0 1-7 * MON", "2026-11-26T12:00:00Z", &["2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z", "2026-12-05T00:00:00Z", "2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"]),
    // Leap day from 2025: 2028, 2032, 2036.
    v("0 0 0 29 2 *", "2025-01-01T00:00:00Z", &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"]),
    // After 2096-02-29 the next leap day is 2104-02-29, beyond robfig's search (to the end of
    // 2101): robfig returns the zero time, so no run. The schedule is accepted (see mod docs).
    v("0 0 0 29 2 *", "2096-03-01T00:00:00Z", &[]),
    v("0 0 0 29 2 *", "2095-12-31T23:59:59Z", &["2096-02-29T00:00:00Z"]),
    // The window is by calendar year: from 2099-01-01 (limit 2104) robfig finds 2104-02-29;
    // one second earlier the search starts in 2098 (limit 2103) and finds nothing.
    v("0 0 0 29 2 *", "2098-12-31T23:59:59Z", &["2104-02-29T00:00:00Z"]),
    v("0 0 0 29 2 *", "2098-12-31T23:59:58Z", &[]),
    // Day 31 skips 30-day months and February; strictly after the reference.
    v("0 0 0 31 * *", "2026-01-31T00:00:00Z", &["2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z", "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z"]),
    v("0 0 0 30 * *", "2026-01-30T00:00:01Z", &["2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z"]),
    v("0 0 12 28-29 2 *", "2028-02-27T00:00:00Z", &["2028-02-28T12:00:00Z", "2028-02-29T12:00:00Z", "2029-02-28T12:00:00Z"]),
    // Year wrap.
    v("0 0 0 1 1 *", "2026-12-31T23:59:59Z", &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
    v("0 59 23 31 12 *", "2026-12-31T23:59:00.500Z", &["2027-12-31T23:59:00Z"]),
    v("@yearly", "2026-11-26T12:00:00Z", &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
    v("@annually", "2026-11-26T12:00:00Z", &["2027-01-01T00:00:00Z"]),
    // A sub-second reference: robfig starts at the next whole second.
    v("@midnight", "2026-11-26T23:59:59.999Z", &["2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z"]),
    // @every: floor(from) + delay, then again from each run.
    v("@every 1h30m", "2026-11-26T10:00:00.500Z", &["2026-11-26T11:30:00Z", "2026-11-26T13:00:00Z", "2026-11-26T14:30:00Z"]),
    v("@every 45s", "2026-11-26T23:59:30Z", &["2026-11-27T00:00:15Z", "2026-11-27T00:01:00Z"]),
    // Seconds */7 = {0,7,...,56}: the gap from :56 to :00 is 4 s (the next day here).
    v("*/7 0 0 * * *", "2026-11-26T00:00:50Z", &["2026-11-26T00:00:56Z", "2026-11-27T00:00:00Z", "2026-11-27T00:00:07Z"]),
    // Names and ranges: December weekdays at 09:00 (Dec 1 2026 is a Tuesday).
    v("0 0 9 * JAN-MAR,DEC MON-FRI", "2026-11-26T10:00:00Z", &["2026-12-01T09:00:00Z", "2026-12-02T09:00:00Z", "2026-12-03T09:00:00Z", "2026-12-04T09:00:00Z", "2026-12-07T09:00:00Z"]),
    // Names are case-insensitive.
    v("0 0 9 * * sun,Sat", "2026-11-26T10:00:00Z", &["2026-11-28T09:00:00Z", "2026-11-29T09:00:00Z", "2026-12-05T09:00:00Z"]),
    // The weekly preset's form.
    v("0 0 3 * * SUN", "2026-11-26T12:00:00Z", &["2026-11-29T03:00:00Z", "2026-12-06T03:00:00Z"]),
    // Every 5 hours: 20:00 then 00:00 (the 4 h gap at midnight), then 05:00.
    v("0 0 */5 * * *", "2026-11-26T19:00:00Z", &["2026-11-26T20:00:00Z", "2026-11-27T00:00:00Z", "2026-11-27T05:00:00Z", "2026-11-27T10:00:00Z"]),
    // The daily preset, strictly after a reference equal to a run.
    v("0 30 2 * * *", "2026-11-26T02:30:00Z", &["2026-11-27T02:30:00Z"]),
    // Hour range with a step: {8, 12, 16}.
    v("0 0 8-18/4 * * *", "2026-11-26T12:00:00Z", &["2026-11-26T16:00:00Z", "2026-11-27T08:00:00Z", "2026-11-27T12:00:00Z"]),
    // `?` in the seconds field is a star (robfig allows it in any field).
    v("? 0 0 1 1 *", "2026-12-31T23:59:59Z", &["2027-01-01T00:00:00Z", "2027-01-01T00:00:01Z"]),
    // Leading zeros are decimal.
    v("00 05 07 * * *", "2026-11-26T12:00:00Z", &["2026-11-27T07:05:00Z"]),
];

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

#[test]
fn robfig_vectors() {
    assert!(VECTORS.len() >= 40, "{}", VECTORS.len());
    for vec in VECTORS {
        let cron: CronSchedule = vec
            .expr
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", vec.expr));
        let got = cron.next_runs(at(vec.from), vec.want.len() + 1);
        let want: Vec<DateTime<Utc>> = vec.want.iter().map(|s| at(s)).collect();
        assert!(
            got.starts_with(&want),
            "{} from {}: got {got:?}, want {want:?}",
            vec.expr,
            vec.from
        );
        if vec.want.is_empty() {
            assert!(got.is_empty(), "{}: {got:?}", vec.expr);
        }
    }
}
