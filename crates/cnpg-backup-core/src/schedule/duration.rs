//! A port of Go's `time.ParseDuration`, which robfig/cron uses for `@every <duration>`.
//!
//! Grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units `ns`, `us`, `µs` (U+00B5), `μs`
//! (U+03BC), `ms`, `s`, `m`, `h`, or the bare string `0`. The arithmetic (integer part, fraction
//! through `f64`, overflow at 2^63 ns) follows Go's `src/time/format.go` line by line, so a
//! duration parses to the same nanosecond count as in the operator.

/// Why Go would reject a duration (the text after `@every `).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// Not of the form number+unit (Go: "invalid duration").
    Invalid,
    /// A number without a unit (Go: "missing unit in duration").
    MissingUnit,
    /// A unit Go does not know (Go: "unknown unit").
    UnknownUnit,
}

const NANOS_PER_SEC: u64 = 1_000_000_000;
const LIMIT: u64 = 1 << 63;

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3_600 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Go's `leadingInt`: the leading `[0-9]*` of `s`, or `Err` on overflow past 2^63.
fn leading_int(s: &[u8]) -> Result<(u64, usize), DurationError> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > LIMIT / 10 {
            return Err(DurationError::Invalid);
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > LIMIT {
            return Err(DurationError::Invalid);
        }
        i += 1;
    }
    Ok((x, i))
}

/// Go's `leadingFraction`: digits after the point; stops gaining precision on overflow.
fn leading_fraction(s: &[u8]) -> (u64, f64, usize) {
    let mut x: u64 = 0;
    let mut scale = 1.0_f64;
    let mut overflow = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if !overflow {
            if x > (LIMIT - 1) / 10 {
                overflow = true;
            } else {
                let y = x * 10 + u64::from(s[i] - b'0');
                if y > LIMIT {
                    overflow = true;
                } else {
                    x = y;
                    scale *= 10.0;
                }
            }
        }
        i += 1;
    }
    (x, scale, i)
}

/// Parses a Go duration into signed nanoseconds, exactly as `time.ParseDuration`.
pub(crate) fn parse_go_duration(orig: &str) -> Result<i64, DurationError> {
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(DurationError::Invalid);
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(DurationError::Invalid);
        }
        let (mut v, used) = leading_int(s)?;
        let pre = used != 0;
        s = &s[used..];
        let mut f = 0;
        let mut scale = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let (fx, fscale, fused) = leading_fraction(s);
            f = fx;
            scale = fscale;
            post = fused != 0;
            s = &s[fused..];
        }
        if !pre && !post {
            return Err(DurationError::Invalid);
        }
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit);
        }
        let unit = std::str::from_utf8(&s[..unit_len])
            .ok()
            .and_then(unit_nanos)
            .ok_or(DurationError::UnknownUnit)?;
        s = &s[unit_len..];
        if v > LIMIT / unit {
            return Err(DurationError::Invalid);
        }
        v *= unit;
        if f > 0 {
            // Go: v += uint64(float64(f) * (float64(unit) / scale)); in range, so `as` truncates alike.
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let frac = (f as f64 * (unit as f64 / scale)) as u64;
            v += frac;
            if v > LIMIT {
                return Err(DurationError::Invalid);
            }
        }
        d += v;
        if d > LIMIT {
            return Err(DurationError::Invalid);
        }
    }
    if neg {
        // d <= 2^63, so -d fits (2^63 itself becomes i64::MIN, as in Go).
        return Ok(0_i64.wrapping_sub_unsigned(d));
    }
    i64::try_from(d).map_err(|_| DurationError::Invalid)
}

/// robfig's `Every(duration).Delay` in whole seconds: below one second becomes one second, and
/// the sub-second part is dropped.
pub(crate) fn every_delay_secs(nanos: i64) -> u64 {
    let nanos = u64::try_from(nanos).unwrap_or(0).max(NANOS_PER_SEC);
    nanos / NANOS_PER_SEC
}

/// Whether robfig's rounding keeps `nanos` unchanged (a whole number of seconds, at least one).
pub(crate) fn is_whole_seconds(nanos: i64) -> bool {
    u64::try_from(nanos).is_ok_and(|n| n >= NANOS_PER_SEC && n % NANOS_PER_SEC == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    // Expected values from Go's own table `parseDurationTests` in `src/time/time_test.go`
    // (cases re-derived by hand: e.g. 1h30m = 5400 s).
    #[test]
    fn parses_go_durations() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600_000_000),
            ("5.s", 5 * S),
            (".5s", S / 2),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4_000_000),
            ("100.00100s", 100 * S + 1_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14 * S),
            ("15m", 15 * 60 * S),
            ("16h", 16 * 3600 * S),
            ("3h30m", (3 * 3600 + 30 * 60) * S),
            ("1h30m", 5400 * S),
            ("10.5s4m", 4 * 60 * S + 10 * S + S / 2),
            ("-2m3.4s", -(2 * 60 * S + 3 * S + 400_000_000)),
            (
                "1h2m3s4ms5us6ns",
                3600 * S + 2 * 60 * S + 3 * S + 4_000_000 + 5_000 + 6,
            ),
            (
                "39h9m14.425s",
                39 * 3600 * S + 9 * 60 * S + 14 * S + 425_000_000,
            ),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * 60 * S),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("0.100000000000000000000h", 6 * 60 * S),
            (
                "0.830103483285477580700h",
                49 * 60 * S + 48 * S + 372_539_827,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), Ok(*want), "{input}");
        }
    }

    // Go's `parseDurationErrorTests` and the grammar above.
    #[test]
    fn rejects_what_go_rejects() {
        let cases: &[(&str, DurationError)] = &[
            ("", DurationError::Invalid),
            ("3", DurationError::MissingUnit),
            ("-", DurationError::Invalid),
            ("s", DurationError::Invalid),
            (".", DurationError::Invalid),
            ("-.", DurationError::Invalid),
            (".s", DurationError::Invalid),
            ("+.s", DurationError::Invalid),
            ("1d", DurationError::UnknownUnit),
            ("1h 30m", DurationError::UnknownUnit),
            ("\u{85}\u{85}", DurationError::Invalid),
            ("9223372036854775810ns", DurationError::Invalid),
            ("9223372036854775808ns", DurationError::Invalid),
            ("9223372036854775.808us", DurationError::Invalid),
            ("9223372036854ms775us808ns", DurationError::Invalid),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), Err(*want), "{input:?}");
        }
    }

    // robfig constantdelay.go `Every`: below 1 s becomes 1 s; the sub-second part is dropped.
    #[test]
    fn every_rounds_like_robfig() {
        assert_eq!(every_delay_secs(0), 1);
        assert_eq!(every_delay_secs(-5 * S), 1);
        assert_eq!(every_delay_secs(S / 2), 1);
        assert_eq!(every_delay_secs(S + S / 2), 1);
        assert_eq!(every_delay_secs(5400 * S), 5400);
        assert!(is_whole_seconds(5400 * S));
        assert!(!is_whole_seconds(S + 1));
        assert!(!is_whole_seconds(S - 1));
        assert!(!is_whole_seconds(-S));
    }
}
