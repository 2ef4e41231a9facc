//! A port of robfig/cron v1.2.0's field parser (`parser.go`: `getField`, `getRange`, `getBits`,
//! `parseDescriptor`) and of `SpecSchedule.Next` / `ConstantDelaySchedule.Next` (`spec.go`,
//! `constantdelay.go`), evaluated in UTC.
//!
//! Deliberate difference: robfig's lax forms are rejected instead of reproduced (empty list items
//! such as `1,,15`, a star that starts a range such as `*-5`, and signed numbers such as `+5`),
//! as are a zero step (robfig rejects it too), and non-ASCII text in a field. Everything accepted
//! here is accepted by robfig with the same bit sets.

use super::CronField;
use super::calendar::{civil, date_secs, days_in_month, weekday_of};

/// robfig's `starBit`: set when a field item started with `*` or `?`.
pub(crate) const STAR_BIT: u64 = 1 << 63;

/// The bit sets of a `SpecSchedule`: bit `n` set means value `n` fires (plus [`STAR_BIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Spec {
    pub(crate) second: u64,
    pub(crate) minute: u64,
    pub(crate) hour: u64,
    pub(crate) dom: u64,
    pub(crate) month: u64,
    pub(crate) dow: u64,
}

/// What a field item failed on. Mirrors robfig's `getRange` errors plus our lax-form refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemError {
    /// `1,,15`, `,5`, `5,`: robfig silently drops the empty item.
    EmptyItem,
    /// `*-5`: robfig ignores everything after the star.
    StarRange,
    /// `+5`: Go's `Atoi` accepts a sign.
    Signed,
    /// Neither a number nor a name valid for this field.
    NotANumber(String),
    /// `1-2-3`.
    TooManyHyphens,
    /// `1/2/3`.
    TooManySlashes,
    /// Non-ASCII text.
    NonAscii,
    /// A value below the field's minimum.
    BelowMin { value: u64 },
    /// A value above the field's maximum.
    AboveMax { value: u64 },
    /// `5-3`.
    Reversed { start: u64, end: u64 },
    /// `*/0`.
    ZeroStep,
}

/// A failed field: which one, the offending item, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: CronField,
    pub(crate) item: String,
    pub(crate) error: ItemError,
}

impl FieldError {
    /// `` `7` `` or, when the item is more than the value, `` `7` in `5-7` ``.
    fn value_in_item(&self, value: u64) -> String {
        if self.item == value.to_string() {
            format!("`{value}`")
        } else {
            format!("`{value}` in `{}`", self.item)
        }
    }

    /// A lowercase explanation naming the value and what is expected.
    pub(crate) fn reason(&self) -> String {
        let f = self.field;
        let expected = f.expected();
        match &self.error {
            ItemError::EmptyItem => format!(
                "{f} `{}` has an empty list item; separate values with single commas, e.g. `1,15`",
                self.item
            ),
            ItemError::StarRange => format!(
                "{f} item `{}` starts a range with `*`; robfig/cron ignores what follows the star, so write `*` or a range such as `0-5`",
                self.item
            ),
            ItemError::Signed => format!("{f} item `{}` has a sign; write plain digits", self.item),
            ItemError::NotANumber(part) => {
                format!(
                    "{f} item `{}`: `{part}` is not a number; expected {expected}",
                    self.item
                )
            }
            ItemError::TooManyHyphens => format!(
                "{f} item `{}` has too many hyphens; a range is `start-end`",
                self.item
            ),
            ItemError::TooManySlashes => format!(
                "{f} item `{}` has too many slashes; a step is `range/step`",
                self.item
            ),
            ItemError::NonAscii => format!(
                "{f} item `{}` contains non-ASCII characters; expected {expected}",
                self.item
            ),
            ItemError::BelowMin { value } => format!(
                "{f} {} is below the minimum {}; expected {expected}",
                self.value_in_item(*value),
                f.min()
            ),
            ItemError::AboveMax { value } => format!(
                "{f} {} is above the maximum {}; expected {expected}",
                self.value_in_item(*value),
                f.max()
            ),
            ItemError::Reversed { start, end } => format!(
                "{f} range `{}` starts at {start}, after its end {end}; write the smaller value first",
                self.item
            ),
            ItemError::ZeroStep => format!(
                "{f} item `{}` has step 0; a step must be at least 1",
                self.item
            ),
        }
    }
}

impl CronField {
    pub(crate) const ALL: [CronField; 6] = [
        CronField::Second,
        CronField::Minute,
        CronField::Hour,
        CronField::DayOfMonth,
        CronField::Month,
        CronField::DayOfWeek,
    ];

    /// robfig's `bounds.min`.
    pub(crate) fn min(self) -> u64 {
        match self {
            CronField::DayOfMonth | CronField::Month => 1,
            _ => 0,
        }
    }

    /// robfig's `bounds.max`.
    pub(crate) fn max(self) -> u64 {
        match self {
            CronField::Second | CronField::Minute => 59,
            CronField::Hour => 23,
            CronField::DayOfMonth => 31,
            CronField::Month => 12,
            CronField::DayOfWeek => 6,
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            CronField::Month => &[
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ],
            CronField::DayOfWeek => &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
            _ => &[],
        }
    }

    fn expected(self) -> &'static str {
        match self {
            CronField::Second => "0-59",
            CronField::Minute => "0-59",
            CronField::Hour => "0-23",
            CronField::DayOfMonth => "1-31",
            CronField::Month => "1-12 or JAN-DEC",
            CronField::DayOfWeek => "0-6 or SUN-SAT (Sunday is 0 or SUN; 7 is not accepted)",
        }
    }

    /// The bits of every value of the field (no star bit).
    pub(crate) fn all_bits(self) -> u64 {
        get_bits(self.min(), self.max(), 1)
    }
}

/// robfig `getBits`: values `min..=max` stepping by `step` (callers guarantee `max <= 62`).
pub(crate) fn get_bits(min: u64, max: u64, step: u64) -> u64 {
    let mut bits = 0;
    let mut i = min;
    while i <= max {
        bits |= 1 << i;
        i += step;
    }
    bits
}

/// A number as robfig's `mustParseInt` reads it, minus the sign Go allows.
fn number(part: &str) -> Result<u64, ItemError> {
    if part.starts_with('+') || part.starts_with('-') {
        return Err(
            if part.len() > 1 && part[1..].bytes().all(|b| b.is_ascii_digit()) {
                ItemError::Signed
            } else {
                ItemError::NotANumber(part.to_owned())
            },
        );
    }
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ItemError::NotANumber(part.to_owned()));
    }
    // Saturate: anything this large is above every maximum, as robfig would also reject it.
    Ok(part.bytes().fold(0_u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// robfig `parseIntOrName` (names are ASCII, matched case-insensitively).
fn value(part: &str, field: CronField) -> Result<u64, ItemError> {
    if let Some(i) = field
        .names()
        .iter()
        .position(|n| n.eq_ignore_ascii_case(part))
    {
        // Months are 1-based, weekdays 0-based.
        return Ok(i as u64 + u64::from(field == CronField::Month));
    }
    number(part)
}

/// robfig `getRange` for one list item.
fn get_range(item: &str, field: CronField) -> Result<u64, ItemError> {
    if item.is_empty() {
        return Err(ItemError::EmptyItem);
    }
    if !item.is_ascii() {
        return Err(ItemError::NonAscii);
    }
    let range_and_step: Vec<&str> = item.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, extra);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        if !single {
            return Err(ItemError::StarRange);
        }
        start = field.min();
        end = field.max();
        extra = STAR_BIT;
    } else {
        start = value(low_and_high[0], field)?;
        end = match low_and_high.len() {
            1 => start,
            2 => value(low_and_high[1], field)?,
            _ => return Err(ItemError::TooManyHyphens),
        };
        extra = 0;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = number(range_and_step[1])?;
            // robfig: "N/step" means "N-max/step".
            if single {
                end = field.max();
            }
            step
        }
        _ => return Err(ItemError::TooManySlashes),
    };
    if start < field.min() {
        return Err(ItemError::BelowMin { value: start });
    }
    if end > field.max() {
        return Err(ItemError::AboveMax { value: end });
    }
    if start > end {
        return Err(ItemError::Reversed { start, end });
    }
    if step == 0 {
        return Err(ItemError::ZeroStep);
    }
    Ok(get_bits(start, end, step) | extra)
}

/// robfig `getField`: a comma-separated list of ranges.
pub(crate) fn get_field(text: &str, field: CronField) -> Result<u64, FieldError> {
    if text.split(',').any(str::is_empty) {
        return Err(FieldError {
            field,
            item: text.to_owned(),
            error: ItemError::EmptyItem,
        });
    }
    let mut bits = 0;
    for item in text.split(',') {
        bits |= get_range(item, field).map_err(|error| FieldError {
            field,
            item: item.to_owned(),
            error,
        })?;
    }
    Ok(bits)
}

impl Spec {
    /// Parses six fields, `sec min hour dom month dow`.
    pub(crate) fn from_fields(fields: [&str; 6]) -> Result<Spec, FieldError> {
        let mut bits = [0_u64; 6];
        for ((slot, text), field) in bits.iter_mut().zip(fields).zip(CronField::ALL) {
            *slot = get_field(text, field)?;
        }
        let [second, minute, hour, dom, month, dow] = bits;
        Ok(Spec {
            second,
            minute,
            hour,
            dom,
            month,
            dow,
        })
    }

    /// The schedules of robfig's named descriptors.
    pub(crate) fn descriptor(name: &str) -> Option<Spec> {
        let all = |f: CronField| f.all_bits() | STAR_BIT;
        let midnight = Spec {
            second: 1,
            minute: 1,
            hour: 1,
            dom: all(CronField::DayOfMonth),
            month: all(CronField::Month),
            dow: all(CronField::DayOfWeek),
        };
        Some(match name {
            "@yearly" | "@annually" => Spec {
                dom: 1 << 1,
                month: 1 << 1,
                ..midnight
            },
            "@monthly" => Spec {
                dom: 1 << 1,
                ..midnight
            },
            "@weekly" => Spec { dow: 1, ..midnight },
            "@daily" | "@midnight" => midnight,
            "@hourly" => Spec {
                hour: all(CronField::Hour),
                ..midnight
            },
            _ => return None,
        })
    }

    /// robfig `dayMatches`: day-of-month and day-of-week are ANDed when either field holds a
    /// star item, and ORed otherwise.
    pub(crate) fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let dom_match = self.dom & (1 << day) != 0;
        let dow_match = self.dow & (1 << weekday) != 0;
        if self.dom & STAR_BIT != 0 || self.dow & STAR_BIT != 0 {
            dom_match && dow_match
        } else {
            dom_match || dow_match
        }
    }

    /// robfig `SpecSchedule.Next` in UTC: the first second strictly after `t` (Unix seconds,
    /// floored) that matches, or `None` where robfig returns the zero time (nothing within the
    /// year of `t + 1 s` and the five years after it).
    pub(crate) fn next(&self, t: i64) -> Option<i64> {
        // Start at the earliest possible time (the upcoming second).
        let mut t = t.checked_add(1)?;
        let mut added = false;
        let year_limit = civil(t).year + 5;
        'wrap: loop {
            let mut c = civil(t);
            if c.year > year_limit {
                return None;
            }
            // Find the first applicable month.
            while self.month & (1 << c.month) == 0 {
                if !added {
                    added = true;
                    t = date_secs(c.year, i64::from(c.month), 1, 0, 0, 0);
                    c = civil(t);
                }
                // AddDate(0, 1, 0), with Go's normalisation of day overflow.
                t = date_secs(
                    c.year,
                    i64::from(c.month) + 1,
                    i64::from(c.day),
                    i64::from(c.hour),
                    i64::from(c.minute),
                    i64::from(c.second),
                );
                c = civil(t);
                if c.month == 1 {
                    continue 'wrap;
                }
            }
            // Now get a day in that month (UTC has no DST, so robfig's DST fix-up is a no-op).
            while !self.day_matches(c.day, c.weekday) {
                if !added {
                    added = true;
                    t = date_secs(c.year, i64::from(c.month), i64::from(c.day), 0, 0, 0);
                }
                t += 86_400;
                c = civil(t);
                if c.day == 1 {
                    continue 'wrap;
                }
            }
            while self.hour & (1 << c.hour) == 0 {
                if !added {
                    added = true;
                    t -= t.rem_euclid(3_600);
                }
                t += 3_600;
                c = civil(t);
                if c.hour == 0 {
                    continue 'wrap;
                }
            }
            while self.minute & (1 << c.minute) == 0 {
                if !added {
                    added = true;
                    t -= t.rem_euclid(60);
                }
                t += 60;
                c = civil(t);
                if c.minute == 0 {
                    continue 'wrap;
                }
            }
            while self.second & (1 << c.second) == 0 {
                // robfig truncates to the second here; `t` is already whole seconds.
                added = true;
                t += 1;
                c = civil(t);
                if c.second == 0 {
                    continue 'wrap;
                }
            }
            return Some(t);
        }
    }

    /// Whether any day of `year` matches the month and day fields.
    fn fires_in_year(&self, year: i64) -> bool {
        (1..=12_u32)
            .filter(|m| self.month & (1 << m) != 0)
            .any(|m| {
                (1..=days_in_month(year, m)).any(|d| self.day_matches(d, weekday_of(year, m, d)))
            })
    }

    /// How often the day fields let the schedule fire, over a full 400-year Gregorian cycle.
    pub(crate) fn yearly_coverage(&self) -> YearCoverage {
        // A year's calendar depends only on (leap, weekday of 1 January): 14 kinds.
        let mut kind_fires = [[None::<bool>; 7]; 2];
        let mut fires = [false; CYCLE + WINDOW];
        for (i, slot) in fires.iter_mut().enumerate() {
            let year = FIRST_YEAR + i as i64;
            let leap = usize::from(days_in_month(year, 2) == 29);
            let jan1 = weekday_of(year, 1, 1) as usize;
            *slot = *kind_fires[leap][jan1].get_or_insert_with(|| self.fires_in_year(year));
        }
        if !fires.iter().any(|&f| f) {
            return YearCoverage::Never;
        }
        // From a reference in year Y robfig searches to the end of Y + 5; after the last run in
        // Y it finds one only if some year Y+1..=Y+5 fires.
        let gap_from = (0..CYCLE)
            .find(|&i| !fires[i + 1..=i + WINDOW].iter().any(|&f| f))
            .map(|i| FIRST_YEAR + i as i64);
        match gap_from {
            None => YearCoverage::Always,
            Some(year) => YearCoverage::Gap { from_year: year },
        }
    }
}

/// The first year of the 400-year cycle we examine.
pub(crate) const FIRST_YEAR: i64 = 2000;
const CYCLE: usize = 400;
const WINDOW: usize = 5;

/// Whether robfig's five-year search always finds a next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum YearCoverage {
    /// No date ever matches.
    Never,
    /// From any reference time, a run lies within robfig's search window.
    Always,
    /// From a reference late in `from_year`, robfig finds nothing and returns the zero time.
    Gap { from_year: i64 },
}

/// robfig `ConstantDelaySchedule.Next`: `t + delay - t.Nanosecond()`, i.e. floor(t) + delay.
pub(crate) fn every_next(delay_secs: u64, t: i64) -> Option<i64> {
    t.checked_add(i64::try_from(delay_secs).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str, f: CronField) -> Result<u64, ItemError> {
        get_field(text, f).map_err(|e| e.error)
    }

    // robfig parser_test.go TestRange (bounds 0-7 there; here the minute field, same arithmetic).
    #[test]
    fn ranges_match_robfig_test_range() {
        let m = CronField::Minute;
        assert_eq!(field("5", m), Ok(1 << 5));
        assert_eq!(field("0", m), Ok(1 << 0));
        assert_eq!(field("5-5", m), Ok(1 << 5));
        assert_eq!(field("5-6", m), Ok(1 << 5 | 1 << 6));
        assert_eq!(field("5-7", m), Ok(1 << 5 | 1 << 6 | 1 << 7));
        assert_eq!(field("5-6/2", m), Ok(1 << 5));
        assert_eq!(field("5-7/2", m), Ok(1 << 5 | 1 << 7));
        assert_eq!(field("5-7/1", m), Ok(1 << 5 | 1 << 6 | 1 << 7));
        // TestField: lists.
        assert_eq!(field("5,6,7", m), Ok(1 << 5 | 1 << 6 | 1 << 7));
        assert_eq!(field("1,5-7/2,3", m), Ok(1 << 1 | 1 << 5 | 1 << 7 | 1 << 3));
        // "*" and "*/2" on the 1-12 month field keep the star bit.
        assert_eq!(field("*", CronField::Month), Ok(0x1ffe | STAR_BIT));
        assert_eq!(
            field("*/2", CronField::Month),
            Ok(get_bits(1, 12, 2) | STAR_BIT)
        );
        assert_eq!(
            field("?", CronField::Second),
            Ok(get_bits(0, 59, 1) | STAR_BIT)
        );
        // "N/step" means "N-max/step".
        assert_eq!(field("5/15", m), Ok(1 << 5 | 1 << 20 | 1 << 35 | 1 << 50));
        // Leading zeros are plain decimal, as Go's Atoi reads them.
        assert_eq!(field("007", m), Ok(1 << 7));
    }

    // robfig parser_test.go TestBits: all() for each field.
    #[test]
    fn all_bits_match_robfig_test_bits() {
        assert_eq!(CronField::Minute.all_bits(), 0xfff_ffff_ffff_ffff);
        assert_eq!(CronField::Hour.all_bits(), 0xff_ffff);
        assert_eq!(CronField::DayOfMonth.all_bits(), 0xffff_fffe);
        assert_eq!(CronField::Month.all_bits(), 0x1ffe);
        assert_eq!(CronField::DayOfWeek.all_bits(), 0x7f);
        assert_eq!(get_bits(1, 5, 2), 0x2a);
        assert_eq!(get_bits(1, 4, 2), 0xa);
    }

    #[test]
    fn names_are_case_insensitive_ascii() {
        assert_eq!(field("jan", CronField::Month), Ok(1 << 1));
        assert_eq!(field("DEC", CronField::Month), Ok(1 << 12));
        assert_eq!(field("Sun", CronField::DayOfWeek), Ok(1));
        assert_eq!(field("mon-FRI", CronField::DayOfWeek), Ok(0b11_1110));
        assert_eq!(field("MON/2", CronField::DayOfWeek), Ok(0b10_1010));
        assert_eq!(
            field("mon", CronField::Hour),
            Err(ItemError::NotANumber("mon".into()))
        );
        assert_eq!(field("FRİ", CronField::DayOfWeek), Err(ItemError::NonAscii));
    }

    // The lax forms robfig accepts are refused (module docs); robfig's own errors still apply.
    #[test]
    fn rejects_lax_and_bad_items() {
        let m = CronField::Minute;
        assert_eq!(field("1,,15", m), Err(ItemError::EmptyItem));
        assert_eq!(field(",5", m), Err(ItemError::EmptyItem));
        assert_eq!(field("5,", m), Err(ItemError::EmptyItem));
        assert_eq!(field("*-5", m), Err(ItemError::StarRange));
        assert_eq!(field("?-5/2", m), Err(ItemError::StarRange));
        assert_eq!(field("+5", m), Err(ItemError::Signed));
        assert_eq!(field("*/+5", m), Err(ItemError::Signed));
        assert_eq!(field("*/-5", m), Err(ItemError::Signed));
        assert_eq!(field("1-2-3", m), Err(ItemError::TooManyHyphens));
        assert_eq!(field("1/2/3", m), Err(ItemError::TooManySlashes));
        assert_eq!(field("*/0", m), Err(ItemError::ZeroStep));
        assert_eq!(field("60", m), Err(ItemError::AboveMax { value: 60 }));
        assert_eq!(
            field("99999999999999999999999", m),
            Err(ItemError::AboveMax { value: u64::MAX })
        );
        assert_eq!(
            field("0", CronField::Month),
            Err(ItemError::BelowMin { value: 0 })
        );
        assert_eq!(
            field("7", CronField::DayOfWeek),
            Err(ItemError::AboveMax { value: 7 })
        );
        assert_eq!(
            field("5-3", m),
            Err(ItemError::Reversed { start: 5, end: 3 })
        );
        assert_eq!(field("", m), Err(ItemError::EmptyItem));
        assert_eq!(field("-5", m), Err(ItemError::NotANumber(String::new())));
        assert_eq!(field("5-", m), Err(ItemError::NotANumber(String::new())));
        assert_eq!(field("/5", m), Err(ItemError::NotANumber(String::new())));
    }

    // robfig spec.go dayMatches, with the starBit rule.
    #[test]
    fn day_matching_follows_the_star_rule() {
        let spec =
            |dom: &str, dow: &str| Spec::from_fields(["0", "0", "0", dom, "*", dow]).unwrap();
        // Both restricted: OR.
        assert!(spec("1", "MON").day_matches(1, 3));
        assert!(spec("1", "MON").day_matches(9, 1));
        assert!(!spec("1", "MON").day_matches(9, 2));
        // A star on either side: AND.
        assert!(!spec("*", "MON").day_matches(9, 2));
        assert!(spec("?", "MON").day_matches(9, 1));
        assert!(!spec("*/2", "SUN").day_matches(15, 1));
        assert!(spec("*/2", "SUN").day_matches(15, 0));
        assert!(!spec("1,15", "*").day_matches(9, 1));
    }

    #[test]
    fn coverage_finds_never_rare_and_leap_only() {
        let cov = |f: [&str; 6]| Spec::from_fields(f).unwrap().yearly_coverage();
        assert_eq!(cov(["0", "0", "0", "30", "2", "*"]), YearCoverage::Never);
        assert_eq!(cov(["0", "0", "0", "31", "4", "*"]), YearCoverage::Never);
        assert_eq!(
            cov(["0", "0", "0", "31", "2,4,6,9,11", "?"]),
            YearCoverage::Never
        );
        assert_eq!(cov(["0", "0", "0", "*", "*", "*"]), YearCoverage::Always);
        // Leap day: every four years until the century rule. 2100 is no leap year, so after
        // 2096-02-29 robfig's window (to the end of 2101) holds no run.
        assert_eq!(
            cov(["0", "0", "0", "29", "2", "*"]),
            YearCoverage::Gap { from_year: 2096 }
        );
        // 1 February on a Monday (dom `*/31` = {1} with the star bit, so AND): gaps up to 11 years.
        assert!(matches!(
            cov(["0", "0", "0", "*/31", "2", "MON"]),
            YearCoverage::Gap { from_year } if from_year < 2030
        ));
        // Both restricted is OR, so any Monday in February.
        assert_eq!(cov(["0", "0", "0", "29", "2", "MON"]), YearCoverage::Always);
    }
}
