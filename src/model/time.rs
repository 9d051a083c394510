//! Time values shared by every layer: the clock in Unix seconds, and Go/Flux durations (parsed the
//! strict way Flux's CRDs validate them, printed the way Go's `time.Duration` prints).

use std::time::Duration;

/// Unix seconds now (0 before 1970, saturating far in the future).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses a Flux duration (`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`, e.g. `1h30m`, `1.5s`, `500ms`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?} (expected e.g. 10m, 1h30m, 45s, 500ms)");
    if text.is_empty() {
        return Err(bad());
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let whole = &text[start..i];
        let mut frac = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let fs = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i == fs {
                return Err(bad());
            }
            frac = &text[fs..i];
        }
        let unit_nanos: u128 = if text[i..].starts_with("ms") {
            i += 2;
            1_000_000
        } else if text[i..].starts_with('s') {
            i += 1;
            1_000_000_000
        } else if text[i..].starts_with('m') {
            i += 1;
            60_000_000_000
        } else if text[i..].starts_with('h') {
            i += 1;
            3_600_000_000_000
        } else {
            return Err(bad());
        };
        let whole: u128 = whole.parse().map_err(|_| bad())?;
        let mut part = whole.checked_mul(unit_nanos).ok_or_else(bad)?;
        // Fractional digits beyond nanosecond precision are dropped, as Go does.
        let mut scale = unit_nanos;
        for d in frac.bytes().take(20) {
            scale /= 10;
            part += u128::from(d - b'0') * scale;
        }
        total = total.checked_add(part).ok_or_else(bad)?;
        // Go durations are int64 nanoseconds.
        if total > i64::MAX as u128 {
            return Err(bad());
        }
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad())?;
    // The remainder is below 1e9 and fits in u32.
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration like Go's `time.Duration.String()` (`5m0s`, `30s`, `1h0m0s`, `1.5s`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1u128)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", with_fraction(nanos, scale));
    }
    let total_secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = total_secs % 60;
    let secs = with_fraction(s * 1_000_000_000 + sub, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

fn with_fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2020() {
        assert!(now_unix() > 1_577_836_800);
    }

    #[test]
    fn durations_parse_like_go() {
        let ok = [
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("1.5s", 1_500),
            ("500ms", 500),
            ("2h0m0s", 7_200_000),
            ("0s", 0),
        ];
        for (t, ms) in ok {
            assert_eq!(parse_duration(t).unwrap().as_millis(), ms, "{t}");
        }
        for t in ["", "10", "m", "1.m", "-1m", "1d", "1 m", "1us", "1.5"] {
            assert!(parse_duration(t).is_err(), "{t}");
        }
    }

    #[test]
    fn durations_format_like_go() {
        let cases = [
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(0), "0s"),
            (Duration::from_secs(3723), "1h2m3s"),
            (Duration::from_micros(1500), "1.5ms"),
        ];
        for (d, s) in cases {
            assert_eq!(format_duration(d), s);
        }
    }
}
