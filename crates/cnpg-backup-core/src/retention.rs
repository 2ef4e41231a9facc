//! Barman-style retention policies as CNPG accepts them (`30d`, `4w`, `3m`).
//!
//! [`RetentionPolicy`] accepts exactly the CRD pattern `^[1-9][0-9]*[dwm]$`, bounded so the number
//! fits comfortably in every consumer. Not here: applying retention (Barman does that).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::names::truncate_for_message;

/// The longest window we accept, in days. Barman (Python) turns the window into a
/// `timedelta(days=...)`, whose maximum is 999 999 999 days; a longer window passes the CRD
/// pattern but crashes `barman-cloud-backup-delete`, so it is refused here.
pub const RETENTION_MAX_DAYS: u64 = 999_999_999;

/// The unit of a retention window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionUnit {
    /// `d`: days.
    Days,
    /// `w`: weeks.
    Weeks,
    /// `m`: months (Barman counts a month as 31 days).
    Months,
}

impl RetentionUnit {
    fn suffix(self) -> char {
        match self {
            RetentionUnit::Days => 'd',
            RetentionUnit::Weeks => 'w',
            RetentionUnit::Months => 'm',
        }
    }

    fn barman_word(self) -> &'static str {
        match self {
            RetentionUnit::Days => "DAYS",
            RetentionUnit::Weeks => "WEEKS",
            RetentionUnit::Months => "MONTHS",
        }
    }

    fn days(self) -> u64 {
        match self {
            RetentionUnit::Days => 1,
            RetentionUnit::Weeks => 7,
            RetentionUnit::Months => 31,
        }
    }
}

/// Why a retention string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// Nothing was given.
    #[error("retention is empty; give a number and a unit, e.g. `30d`, `4w` or `3m`")]
    Empty,
    /// The last character is not a unit.
    #[error("retention `{input}`: unit must be d, w or m, e.g. `30d`")]
    BadUnit {
        /// The offending input.
        input: String,
    },
    /// The part before the unit is not a positive number without a leading zero.
    #[error(
        "retention `{input}`: `{number}` must be a whole number from 1 up, without a leading zero, e.g. `30d`"
    )]
    BadNumber {
        /// The offending input.
        input: String,
        /// The number part.
        number: String,
    },
    /// The window is longer than Barman can represent.
    #[error(
        "retention `{input}` is longer than Barman can handle ({max_days} days); use a shorter window"
    )]
    TooLong {
        /// The offending input.
        input: String,
        /// The longest window, in days.
        max_days: u64,
    },
}

/// A validated retention policy: a count and a unit, exactly as the CNPG CRD pattern
/// `^[1-9][0-9]*[dwm]$` allows, with the window at most [`RETENTION_MAX_DAYS`] days.
///
/// ```
/// use cnpg_backup_core::retention::RetentionPolicy;
/// let r: RetentionPolicy = "30d".parse().unwrap();
/// assert_eq!(r.barman(), "RECOVERY WINDOW OF 30 DAYS");
/// assert!("7x".parse::<RetentionPolicy>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct RetentionPolicy {
    count: u64,
    unit: RetentionUnit,
}

impl RetentionPolicy {
    /// Quick choices offered to users.
    pub const PRESETS: [&'static str; 7] = ["7d", "14d", "30d", "8w", "3m", "6m", "12m"];

    /// Builds a policy from parts.
    ///
    /// # Errors
    /// [`RetentionError::BadNumber`] when `count` is 0, [`RetentionError::TooLong`] when the
    /// window exceeds [`RETENTION_MAX_DAYS`].
    pub fn new(count: u64, unit: RetentionUnit) -> Result<Self, RetentionError> {
        let input = format!("{count}{}", unit.suffix());
        if count == 0 {
            return Err(RetentionError::BadNumber {
                input,
                number: count.to_string(),
            });
        }
        if count.saturating_mul(unit.days()) > RETENTION_MAX_DAYS {
            return Err(RetentionError::TooLong {
                input,
                max_days: RETENTION_MAX_DAYS,
            });
        }
        Ok(Self { count, unit })
    }

    /// The count.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The unit.
    pub fn unit(&self) -> RetentionUnit {
        self.unit
    }

    /// The form Barman takes (`--retention-policy`), e.g. `RECOVERY WINDOW OF 30 DAYS`.
    pub fn barman(&self) -> String {
        format!(
            "RECOVERY WINDOW OF {} {}",
            self.count,
            self.unit.barman_word()
        )
    }

    /// The approximate window (a month counts 31 days, as in Barman).
    pub fn approx_duration(&self) -> Duration {
        Duration::from_secs(self.approx_days() * 86_400)
    }

    /// The window in whole days (a month counts 31 days, as in Barman).
    pub fn approx_days(&self) -> u64 {
        self.count * self.unit.days()
    }
}

impl fmt::Display for RetentionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.suffix())
    }
}

impl FromStr for RetentionPolicy {
    type Err = RetentionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(RetentionError::Empty);
        }
        let input = truncate_for_message(s);
        let (number, unit) = match s.char_indices().next_back() {
            Some((i, 'd')) => (&s[..i], RetentionUnit::Days),
            Some((i, 'w')) => (&s[..i], RetentionUnit::Weeks),
            Some((i, 'm')) => (&s[..i], RetentionUnit::Months),
            _ => return Err(RetentionError::BadUnit { input }),
        };
        let bad_number = || RetentionError::BadNumber {
            input: input.clone(),
            number: truncate_for_message(number),
        };
        let well_formed = !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0');
        if !well_formed {
            return Err(bad_number());
        }
        let too_long = || RetentionError::TooLong {
            input: input.clone(),
            max_days: RETENTION_MAX_DAYS,
        };
        // More than 10 digits overflows the bound whatever the unit; parse only what can fit.
        if number.len() > 10 {
            return Err(too_long());
        }
        let count: u64 = number.parse().map_err(|_| bad_number())?;
        Self::new(count, unit).map_err(|_| too_long())
    }
}

impl TryFrom<String> for RetentionPolicy {
    type Error = RetentionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RetentionPolicy> for String {
    fn from(r: RetentionPolicy) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The CRD pattern `^[1-9][0-9]*[dwm]$` written out by hand, plus our overflow bound.
    fn reference_accepts(s: &str) -> bool {
        let b = s.as_bytes();
        let pattern = b.len() >= 2
            && (b'1'..=b'9').contains(&b[0])
            && b[1..b.len() - 1].iter().all(u8::is_ascii_digit)
            && matches!(b[b.len() - 1], b'd' | b'w' | b'm');
        if !pattern {
            return false;
        }
        let digits = &s[..s.len() - 1];
        let days_per_unit: u128 = match b[b.len() - 1] {
            b'd' => 1,
            b'w' => 7,
            _ => 31,
        };
        // A count with more than 30 digits is far past the bound whatever the unit.
        digits.len() <= 30
            && digits
                .parse::<u128>()
                .is_ok_and(|n| n * days_per_unit <= u128::from(RETENTION_MAX_DAYS))
    }

    #[test]
    fn accepts_each_unit() {
        let cases = [
            ("30d", 30, RetentionUnit::Days, 30),
            ("4w", 4, RetentionUnit::Weeks, 28),
            ("3m", 3, RetentionUnit::Months, 93),
            ("1d", 1, RetentionUnit::Days, 1),
            ("100d", 100, RetentionUnit::Days, 100),
        ];
        for (input, count, unit, days) in cases {
            let r: RetentionPolicy = input.parse().unwrap();
            assert_eq!((r.count(), r.unit(), r.approx_days()), (count, unit, days));
            assert_eq!(r.approx_duration(), Duration::from_secs(days * 86_400));
            assert_eq!(r.to_string(), input);
        }
    }

    #[test]
    fn barman_form_names_the_unit() {
        let cases = [
            ("30d", "RECOVERY WINDOW OF 30 DAYS"),
            ("8w", "RECOVERY WINDOW OF 8 WEEKS"),
            ("12m", "RECOVERY WINDOW OF 12 MONTHS"),
        ];
        for (input, barman) in cases {
            assert_eq!(input.parse::<RetentionPolicy>().unwrap().barman(), barman);
        }
    }

    #[test]
    fn bad_unit_says_which_units_exist() {
        let err = "7x".parse::<RetentionPolicy>().unwrap_err();
        assert_eq!(
            err,
            RetentionError::BadUnit {
                input: "7x".to_owned()
            }
        );
        assert_eq!(
            err.to_string(),
            "retention `7x`: unit must be d, w or m, e.g. `30d`"
        );
        // Units are case-sensitive in the CRD pattern.
        assert!(matches!(
            "7D".parse::<RetentionPolicy>(),
            Err(RetentionError::BadUnit { .. })
        ));
        assert!(matches!(
            "30".parse::<RetentionPolicy>(),
            Err(RetentionError::BadUnit { .. })
        ));
        assert!(matches!(
            "30 d ".parse::<RetentionPolicy>(),
            Err(RetentionError::BadUnit { .. })
        ));
    }

    #[test]
    fn bad_number_names_the_number() {
        for (input, number) in [
            ("0d", "0"),
            ("07d", "07"),
            ("d", ""),
            ("-1w", "-1"),
            ("3 m", "3 "),
        ] {
            let err = input.parse::<RetentionPolicy>().unwrap_err();
            assert_eq!(
                err,
                RetentionError::BadNumber {
                    input: input.to_owned(),
                    number: number.to_owned()
                },
                "{input}"
            );
            assert!(err.to_string().contains(&format!("`{number}`")));
        }
    }

    #[test]
    fn empty_is_its_own_error() {
        assert_eq!("".parse::<RetentionPolicy>(), Err(RetentionError::Empty));
    }

    #[test]
    fn window_bound_is_exact() {
        assert!("999999999d".parse::<RetentionPolicy>().is_ok());
        assert!(matches!(
            "1000000000d".parse::<RetentionPolicy>(),
            Err(RetentionError::TooLong { .. })
        ));
        // 142 857 142 weeks = 999 999 994 days; one more week is over.
        assert!("142857142w".parse::<RetentionPolicy>().is_ok());
        assert!("142857143w".parse::<RetentionPolicy>().is_err());
        // 32 258 064 months = 999 999 984 days.
        assert!("32258064m".parse::<RetentionPolicy>().is_ok());
        assert!("32258065m".parse::<RetentionPolicy>().is_err());
        let huge = format!("{}d", "9".repeat(200));
        let err = huge.parse::<RetentionPolicy>().unwrap_err();
        assert!(matches!(err, RetentionError::TooLong { .. }));
        assert!(err.to_string().len() < 200, "the input is shortened: {err}");
    }

    #[test]
    fn new_checks_like_parse() {
        assert!(matches!(
            RetentionPolicy::new(0, RetentionUnit::Days),
            Err(RetentionError::BadNumber { .. })
        ));
        assert!(matches!(
            RetentionPolicy::new(u64::MAX, RetentionUnit::Months),
            Err(RetentionError::TooLong { .. })
        ));
        assert_eq!(
            RetentionPolicy::new(8, RetentionUnit::Weeks).unwrap(),
            "8w".parse().unwrap()
        );
    }

    #[test]
    fn presets_parse() {
        for p in RetentionPolicy::PRESETS {
            let r: RetentionPolicy = p.parse().unwrap();
            assert_eq!(r.to_string(), p);
        }
    }

    #[test]
    fn serde_uses_the_string_form() {
        let r: RetentionPolicy = serde_json::from_str("\"14d\"").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"14d\"");
        assert!(serde_json::from_str::<RetentionPolicy>("\"14x\"").is_err());
    }

    fn unit() -> impl Strategy<Value = RetentionUnit> {
        prop_oneof![
            Just(RetentionUnit::Days),
            Just(RetentionUnit::Weeks),
            Just(RetentionUnit::Months)
        ]
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_crd_pattern_small_alphabet(s in "[0-9dwmx -]{0,12}") {
            prop_assert_eq!(s.parse::<RetentionPolicy>().is_ok(), reference_accepts(&s), "{:?}", s);
        }

        #[test]
        fn accepts_exactly_the_crd_pattern_near_miss(s in "[0-9]{1,12}[dwmDx]?") {
            prop_assert_eq!(s.parse::<RetentionPolicy>().is_ok(), reference_accepts(&s), "{:?}", s);
        }

        #[test]
        fn accepts_exactly_the_crd_pattern_arbitrary(s in any::<String>()) {
            prop_assert_eq!(s.parse::<RetentionPolicy>().is_ok(), reference_accepts(&s), "{:?}", s);
        }

        #[test]
        fn display_parse_round_trip(count in 1u64..=RETENTION_MAX_DAYS / 31, unit in unit()) {
            let r = RetentionPolicy::new(count, unit).unwrap();
            prop_assert_eq!(r.to_string().parse::<RetentionPolicy>(), Ok(r));
            prop_assert!(reference_accepts(&r.to_string()));
        }
    }
}
