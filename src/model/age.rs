//! Human-readable ages, exactly as kubectl prints them (apimachinery `HumanDuration`).

use std::time::Duration;

/// Renders a duration the way `kubectl get` renders the AGE column: `45s`, `5m12s`, `3h4m`, `2d5h`, `120d`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let mins = secs / 60;
    let hours = secs / 3600;
    let days = hours / 24;
    let years = days / 365;
    if secs < 120 {
        format!("{secs}s")
    } else if mins < 10 {
        match secs % 60 {
            0 => format!("{mins}m"),
            s => format!("{mins}m{s}s"),
        }
    } else if hours < 3 {
        format!("{mins}m")
    } else if hours < 8 {
        match mins % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        }
    } else if hours < 24 * 365 * 2 {
        format!("{days}d")
    } else if hours < 24 * 365 * 8 {
        match days % 365 {
            0 => format!("{years}y"),
            dd => format!("{years}y{dd}d"),
        }
    } else {
        format!("{years}y")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> String {
        human_duration(Duration::from_secs(n))
    }

    #[test]
    fn matches_kubectl_buckets() {
        assert_eq!(s(0), "0s");
        assert_eq!(s(119), "119s");
        assert_eq!(s(120), "2m");
        assert_eq!(s(312), "5m12s");
        assert_eq!(s(600), "10m");
        assert_eq!(s(3 * 3600 - 1), "179m");
        assert_eq!(s(3 * 3600 + 240), "3h4m");
        assert_eq!(s(8 * 3600), "8h");
        assert_eq!(s(47 * 3600), "47h");
        assert_eq!(s(49 * 3600), "2d1h");
        assert_eq!(s(8 * 86400), "8d");
        assert_eq!(s(3 * 365 * 86400 + 86400), "3y1d");
        assert_eq!(s(9 * 365 * 86400), "9y");
    }
}
