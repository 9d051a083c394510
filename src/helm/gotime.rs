//! Go's `time` as sprig's date functions see it: `time.Time` values, layout-based `Format` and
//! `Parse` (the `2006-01-02 15:04:05` reference layouts), and `time.Duration` parsing and printing.

use super::value::{Object, Value};
use jiff::Zoned;
use jiff::tz::TimeZone;
use std::fmt::Write as _;
use std::rc::Rc;

/// A Go `time.Time` value inside templates.
#[derive(Debug, Clone)]
pub struct GoTime(pub Zoned);

impl GoTime {
    /// The current time in the local zone (`time.Now()`).
    pub fn now() -> GoTime {
        GoTime(Zoned::now())
    }

    /// `time.Unix(sec, 0)` in the local zone.
    pub fn unix(sec: i64) -> GoTime {
        let ts = jiff::Timestamp::from_second(sec).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        GoTime(ts.to_zoned(TimeZone::system()))
    }

    /// Go's zero `time.Time` (0001-01-01 00:00:00 UTC), what failed parses return.
    pub fn zero() -> GoTime {
        let ts = jiff::Timestamp::from_second(-62_135_596_800).unwrap_or(jiff::Timestamp::MIN);
        GoTime(ts.to_zoned(TimeZone::UTC))
    }

    /// Wraps into a template value.
    pub fn value(self) -> Value {
        Value::Obj(Rc::new(self))
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.0.timestamp().as_second()
    }

    /// The same instant in zone `name` (Go's `LoadLocation`: "" and "UTC" are UTC, "Local" the
    /// system zone; `None` when unknown).
    pub fn in_zone(&self, name: &str) -> Option<GoTime> {
        let tz = match name {
            "" | "UTC" => TimeZone::UTC,
            "Local" => TimeZone::system(),
            n => TimeZone::get(n).ok()?,
        };
        Some(GoTime(self.0.with_time_zone(tz)))
    }

    /// Adds a duration in nanoseconds.
    pub fn add_nanos(&self, nanos: i64) -> GoTime {
        let span = jiff::SignedDuration::from_nanos(nanos);
        match self.0.timestamp().checked_add(span) {
            Ok(ts) => GoTime(ts.to_zoned(self.0.time_zone().clone())),
            Err(_) => self.clone(),
        }
    }

    fn abbrev(&self) -> String {
        let info = self.0.time_zone().to_offset_info(self.0.timestamp());
        let a = info.abbreviation();
        if a.is_empty() {
            offset_text(self.0.offset().seconds(), "", false, false)
        } else {
            a.to_string()
        }
    }

    /// Go's `Time.Format(layout)`.
    pub fn format(&self, layout: &str) -> String {
        let z = &self.0;
        let mut out = String::new();
        for chunk in chunks(layout) {
            match chunk {
                Chunk::Lit(s) => out.push_str(s),
                Chunk::Std(t) => self.write_std(&mut out, t, z),
            }
        }
        out
    }

    fn write_std(&self, out: &mut String, t: Std, z: &Zoned) {
        let off = z.offset().seconds();
        match t {
            Std::LongYear => {
                let _ = write!(out, "{:04}", z.year());
            }
            Std::Year => {
                let _ = write!(out, "{:02}", (i32::from(z.year())).rem_euclid(100));
            }
            Std::Month => out.push_str(&MONTHS[z.month() as usize - 1][..3]),
            Std::LongMonth => out.push_str(MONTHS[z.month() as usize - 1]),
            Std::NumMonth => {
                let _ = write!(out, "{}", z.month());
            }
            Std::ZeroMonth => {
                let _ = write!(out, "{:02}", z.month());
            }
            Std::WeekDay => out.push_str(&DAYS[weekday(z)][..3]),
            Std::LongWeekDay => out.push_str(DAYS[weekday(z)]),
            Std::Day => {
                let _ = write!(out, "{}", z.day());
            }
            Std::UnderDay => {
                let _ = write!(out, "{:>2}", z.day());
            }
            Std::ZeroDay => {
                let _ = write!(out, "{:02}", z.day());
            }
            Std::UnderYearDay => {
                let _ = write!(out, "{:>3}", z.day_of_year());
            }
            Std::ZeroYearDay => {
                let _ = write!(out, "{:03}", z.day_of_year());
            }
            Std::Hour => {
                let _ = write!(out, "{:02}", z.hour());
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let h = match z.hour() % 12 {
                    0 => 12,
                    h => h,
                };
                if t == Std::Hour12 {
                    let _ = write!(out, "{h}");
                } else {
                    let _ = write!(out, "{h:02}");
                }
            }
            Std::Minute => {
                let _ = write!(out, "{}", z.minute());
            }
            Std::ZeroMinute => {
                let _ = write!(out, "{:02}", z.minute());
            }
            Std::Second => {
                let _ = write!(out, "{}", z.second());
            }
            Std::ZeroSecond => {
                let _ = write!(out, "{:02}", z.second());
            }
            Std::PM => out.push_str(if z.hour() >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if z.hour() >= 12 { "pm" } else { "am" }),
            Std::TZ => out.push_str(&self.abbrev()),
            Std::Iso(sep, secs, short) => {
                if off == 0 {
                    out.push('Z');
                } else {
                    out.push_str(&offset_text(off, sep, secs, short));
                }
            }
            Std::Num(sep, secs, short) => out.push_str(&offset_text(off, sep, secs, short)),
            Std::Frac(n, trim, comma) => {
                let ns = z.subsec_nanosecond();
                let digits = format!("{ns:09}");
                let mut d = digits[..n].to_string();
                if trim {
                    d = d.trim_end_matches('0').to_string();
                    if d.is_empty() {
                        return;
                    }
                }
                out.push(if comma { ',' } else { '.' });
                out.push_str(&d);
            }
        }
    }

    /// Go's `time.ParseInLocation(layout, value, time.Local)` for the layouts charts use.
    pub fn parse(layout: &str, value: &str) -> Result<GoTime, String> {
        let err = |what: &str| {
            format!("parsing time {value:?} as {layout:?}: cannot parse {what:?} as {layout:?}")
        };
        let mut rest = value;
        let (mut year, mut month, mut day) = (1i64, 1i64, 1i64);
        let (mut hour, mut min, mut sec, mut nanos) = (0i64, 0i64, 0i64, 0i64);
        let mut pm: Option<bool> = None;
        let mut offset: Option<i32> = None;
        let mut zone_utc = false;
        for chunk in chunks(layout) {
            match chunk {
                Chunk::Lit(s) => {
                    rest = rest.strip_prefix(s).ok_or_else(|| err(rest))?;
                }
                Chunk::Std(t) => {
                    let num = |r: &mut &str, min_w: usize, max_w: usize| -> Option<i64> {
                        let n = r.bytes().take(max_w).take_while(u8::is_ascii_digit).count();
                        if n < min_w {
                            return None;
                        }
                        let v = r[..n].parse().ok()?;
                        *r = &r[n..];
                        Some(v)
                    };
                    let r = &mut rest;
                    let ok = match t {
                        Std::LongYear => num(r, 4, 4).map(|v| year = v),
                        Std::Year => {
                            num(r, 2, 2).map(|v| year = if v >= 69 { 1900 + v } else { 2000 + v })
                        }
                        Std::ZeroMonth => num(r, 2, 2).map(|v| month = v),
                        Std::NumMonth => num(r, 1, 2).map(|v| month = v),
                        Std::Month | Std::LongMonth => {
                            let long = t == Std::LongMonth;
                            MONTHS
                                .iter()
                                .position(|m| {
                                    let m = if long { *m } else { &m[..3] };
                                    r.get(..m.len()).is_some_and(|p| p.eq_ignore_ascii_case(m))
                                })
                                .map(|i| {
                                    let l = if long { MONTHS[i].len() } else { 3 };
                                    *r = &r[l..];
                                    month = i as i64 + 1;
                                })
                        }
                        Std::WeekDay | Std::LongWeekDay => {
                            let long = t == Std::LongWeekDay;
                            DAYS.iter()
                                .find(|d| {
                                    let d = if long { **d } else { &d[..3] };
                                    r.get(..d.len()).is_some_and(|p| p.eq_ignore_ascii_case(d))
                                })
                                .map(|d| *r = &r[if long { d.len() } else { 3 }..])
                        }
                        Std::ZeroDay => num(r, 2, 2).map(|v| day = v),
                        Std::Day => num(r, 1, 2).map(|v| day = v),
                        Std::UnderDay => {
                            if r.starts_with(' ') {
                                *r = &r[1..];
                            }
                            num(r, 1, 2).map(|v| day = v)
                        }
                        Std::ZeroYearDay | Std::UnderYearDay => num(r, 1, 3).map(|_| ()),
                        Std::Hour => num(r, 2, 2).map(|v| hour = v),
                        Std::Hour12 => num(r, 1, 2).map(|v| hour = v),
                        Std::ZeroHour12 => num(r, 2, 2).map(|v| hour = v),
                        Std::Minute => num(r, 1, 2).map(|v| min = v),
                        Std::ZeroMinute => num(r, 2, 2).map(|v| min = v),
                        Std::Second | Std::ZeroSecond => {
                            let w = if t == Std::ZeroSecond { 2 } else { 1 };
                            let v = num(r, w, 2);
                            // Go accepts a fractional second after the seconds even when the
                            // layout has none.
                            if v.is_some()
                                && r.starts_with('.')
                                && r[1..].starts_with(|c: char| c.is_ascii_digit())
                            {
                                *r = &r[1..];
                                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                                let digits = format!("{:0<9}", &r[..n.min(9)]);
                                nanos = digits.parse().unwrap_or(0);
                                *r = &r[n..];
                            }
                            v.map(|v| sec = v)
                        }
                        Std::Frac(n, trim, _) => {
                            if trim && !r.starts_with(['.', ',']) {
                                Some(())
                            } else if r.starts_with(['.', ',']) {
                                *r = &r[1..];
                                let k = r.bytes().take_while(u8::is_ascii_digit).count();
                                if !trim && k != n {
                                    None
                                } else {
                                    let digits = format!("{:0<9}", &r[..k.min(9)]);
                                    nanos = digits.parse().unwrap_or(0);
                                    *r = &r[k..];
                                    Some(())
                                }
                            } else {
                                None
                            }
                        }
                        Std::PM | Std::Pm => {
                            let p = r.get(..2).map(str::to_ascii_uppercase);
                            match p.as_deref() {
                                Some("PM") => {
                                    pm = Some(true);
                                    *r = &r[2..];
                                    Some(())
                                }
                                Some("AM") => {
                                    pm = Some(false);
                                    *r = &r[2..];
                                    Some(())
                                }
                                _ => None,
                            }
                        }
                        Std::TZ => {
                            if r.starts_with("UTC") {
                                *r = &r[3..];
                                zone_utc = true;
                                Some(())
                            } else {
                                let n = r.bytes().take_while(u8::is_ascii_uppercase).count();
                                if n >= 3 {
                                    *r = &r[n..];
                                    Some(())
                                } else {
                                    None
                                }
                            }
                        }
                        Std::Iso(sep, secs, short) | Std::Num(sep, secs, short) => {
                            if matches!(t, Std::Iso(..)) && r.starts_with('Z') {
                                *r = &r[1..];
                                zone_utc = true;
                                Some(())
                            } else {
                                parse_offset(r, sep, secs, short).map(|o| offset = Some(o))
                            }
                        }
                    };
                    if ok.is_none() {
                        return Err(err(rest));
                    }
                }
            }
        }
        if !rest.is_empty() {
            return Err(format!("parsing time {value:?}: extra text: {rest:?}"));
        }
        if let Some(p) = pm {
            if p && hour < 12 {
                hour += 12;
            } else if !p && hour == 12 {
                hour = 0;
            }
        }
        let range = |v: i64, lo: i64, hi: i64, what: &str| {
            if v < lo || v > hi {
                Err(format!("parsing time {value:?}: {what} out of range"))
            } else {
                Ok(v)
            }
        };
        range(month, 1, 12, "month")?;
        range(day, 1, 31, "day")?;
        range(hour, 0, 23, "hour")?;
        range(min, 0, 59, "minute")?;
        range(sec, 0, 59, "second")?;
        let dt = jiff::civil::DateTime::new(
            year as i16,
            month as i8,
            day as i8,
            hour as i8,
            min as i8,
            sec as i8,
            nanos as i32,
        )
        .map_err(|_| format!("parsing time {value:?}: day out of range"))?;
        let tz = if zone_utc {
            TimeZone::UTC
        } else if let Some(o) = offset {
            let local = TimeZone::system();
            // Go keeps the local zone when its offset at that time matches.
            match dt.to_zoned(local.clone()) {
                Ok(z) if z.offset().seconds() == o => local,
                _ => jiff::tz::Offset::from_seconds(o)
                    .map(TimeZone::fixed)
                    .unwrap_or(TimeZone::UTC),
            }
        } else {
            TimeZone::system()
        };
        dt.to_zoned(tz)
            .map(GoTime)
            .map_err(|e| format!("parsing time {value:?}: {e}"))
    }
}

fn weekday(z: &Zoned) -> usize {
    z.weekday().to_sunday_zero_offset() as usize
}

fn offset_text(off: i32, sep: &str, secs: bool, short: bool) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.unsigned_abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    let mut out = format!("{sign}{h:02}");
    if !short {
        let _ = write!(out, "{sep}{m:02}");
        if secs {
            let _ = write!(out, "{sep}{s:02}");
        }
    }
    out
}

fn parse_offset(r: &mut &str, sep: &str, secs: bool, short: bool) -> Option<i32> {
    let sign = match r.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let mut s = &r[1..];
    let two = |s: &mut &str| -> Option<i32> {
        let v = s.get(..2)?;
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *s = &s[2..];
        v.parse().ok()
    };
    let h = two(&mut s)?;
    let mut m = 0;
    let mut sc = 0;
    if !short {
        s = s.strip_prefix(sep)?;
        m = two(&mut s)?;
        if secs {
            s = s.strip_prefix(sep)?;
            sc = two(&mut s)?;
        }
    }
    *r = s;
    Some(sign * (h * 3600 + m * 60 + sc))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A layout element (Go's `std*` constants).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    /// `Z07:00`-style: separator, with seconds, hours only.
    Iso(&'static str, bool, bool),
    /// `-07:00`-style.
    Num(&'static str, bool, bool),
    /// Fractional seconds: digits, trailing zeros trimmed (`.999`), comma separator.
    Frac(usize, bool, bool),
}

enum Chunk<'a> {
    Lit(&'a str),
    Std(Std),
}

/// Splits a layout into literals and elements, as Go's `nextStdChunk` does.
fn chunks(layout: &str) -> Vec<Chunk<'_>> {
    let b = layout.as_bytes();
    let mut out = Vec::new();
    let mut lit = 0;
    let mut i = 0;
    while i < b.len() {
        let rest = &layout[i..];
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if rest.starts_with("January") => Some((Std::LongMonth, 7)),
            b'J' if rest.starts_with("Jan") => Some((Std::Month, 3)),
            b'M' if rest.starts_with("Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if rest.starts_with("Mon") => Some((Std::WeekDay, 3)),
            b'M' if rest.starts_with("MST") => Some((Std::TZ, 3)),
            b'0' => match b.get(i + 1) {
                Some(b'1') => Some((Std::ZeroMonth, 2)),
                Some(b'2') => Some((Std::ZeroDay, 2)),
                Some(b'3') => Some((Std::ZeroHour12, 2)),
                Some(b'4') => Some((Std::ZeroMinute, 2)),
                Some(b'5') => Some((Std::ZeroSecond, 2)),
                Some(b'6') => Some((Std::Year, 2)),
                Some(b'0') if rest.starts_with("002") => Some((Std::ZeroYearDay, 3)),
                _ => None,
            },
            b'1' if rest.starts_with("15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if rest.starts_with("2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if rest.starts_with("_2006") => {
                // "_2006" is a literal underscore followed by the year.
                out.push(Chunk::Lit(&layout[lit..i + 1]));
                out.push(Chunk::Std(Std::LongYear));
                i += 5;
                lit = i;
                continue;
            }
            b'_' if rest.starts_with("__2") => Some((Std::UnderYearDay, 3)),
            b'_' if rest.starts_with("_2") => Some((Std::UnderDay, 2)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if rest.starts_with("PM") => Some((Std::PM, 2)),
            b'p' if rest.starts_with("pm") => Some((Std::Pm, 2)),
            b'-' if rest.starts_with("-07:00:00") => Some((Std::Num(":", true, false), 9)),
            b'-' if rest.starts_with("-0700") => Some((Std::Num("", false, false), 5)),
            b'-' if rest.starts_with("-07:00") => Some((Std::Num(":", false, false), 6)),
            b'-' if rest.starts_with("-070000") => Some((Std::Num("", true, false), 7)),
            b'-' if rest.starts_with("-07") => Some((Std::Num("", false, true), 3)),
            b'Z' if rest.starts_with("Z07:00:00") => Some((Std::Iso(":", true, false), 9)),
            b'Z' if rest.starts_with("Z070000") => Some((Std::Iso("", true, false), 7)),
            b'Z' if rest.starts_with("Z0700") => Some((Std::Iso("", false, false), 5)),
            b'Z' if rest.starts_with("Z07:00") => Some((Std::Iso(":", false, false), 6)),
            b'Z' if rest.starts_with("Z07") => Some((Std::Iso("", false, true), 3)),
            b'.' | b',' if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let d = b[i + 1];
                let n = b[i + 1..].iter().take_while(|&&c| c == d).count();
                // Only a run not followed by another digit is a fraction.
                if b.get(i + 1 + n).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    Some((Std::Frac(n.min(9), d == b'9', b[i] == b','), n + 1))
                }
            }
            _ => None,
        };
        match found {
            Some((t, n)) => {
                if lit < i {
                    out.push(Chunk::Lit(&layout[lit..i]));
                }
                out.push(Chunk::Std(t));
                i += n;
                lit = i;
            }
            None => i += layout[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    if lit < b.len() {
        out.push(Chunk::Lit(&layout[lit..]));
    }
    out
}

impl Object for GoTime {
    fn type_name(&self) -> &'static str {
        "time.Time"
    }

    fn display(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    fn field(&self, name: &str) -> Option<Value> {
        let z = &self.0;
        Some(match name {
            "Unix" => Value::Int(self.unix_seconds()),
            "UnixMilli" => Value::Int(z.timestamp().as_millisecond()),
            "UnixNano" => Value::Int(z.timestamp().as_nanosecond() as i64),
            "Year" => Value::Int(i64::from(z.year())),
            "Month" => Value::Str(MONTHS[z.month() as usize - 1].into()),
            "Day" => Value::Int(i64::from(z.day())),
            "Hour" => Value::Int(i64::from(z.hour())),
            "Minute" => Value::Int(i64::from(z.minute())),
            "Second" => Value::Int(i64::from(z.second())),
            "Nanosecond" => Value::Int(i64::from(z.subsec_nanosecond())),
            "YearDay" => Value::Int(i64::from(z.day_of_year())),
            "Weekday" => Value::Str(DAYS[weekday(z)].into()),
            "UTC" => self.in_zone("UTC")?.value(),
            "Local" => self.in_zone("Local")?.value(),
            "String" => Value::Str(self.display()),
            "IsZero" => {
                Value::Bool(self.unix_seconds() == -62_135_596_800 && z.subsec_nanosecond() == 0)
            }
            _ => return None,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match (name, args) {
            ("Format", [Value::Str(l)]) => Some(Ok(Value::Str(self.format(l)))),
            ("Format", _) => Some(Err("wrong arguments for Format: want 1 string".into())),
            ("Add", [Value::Int(n)]) => Some(Ok(self.add_nanos(*n).value())),
            _ => None,
        }
    }
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let bad = || format!("time: invalid duration {}", super::format::go_quote(orig));
    let (neg, mut s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part: u128 = if n > 0 {
            s[..n].parse().map_err(|_| bad())?
        } else {
            0
        };
        s = &s[n..];
        let mut frac = 0u128;
        let mut scale = 1u128;
        let mut had_frac = false;
        if let Some(r) = s.strip_prefix('.') {
            let k = r.bytes().take_while(u8::is_ascii_digit).count();
            had_frac = k > 0;
            for c in r[..k].bytes().take(18) {
                frac = frac * 10 + u128::from(c - b'0');
                scale *= 10;
            }
            s = &r[k..];
        }
        if n == 0 && !had_frac {
            return Err(bad());
        }
        let u = s
            .bytes()
            .take_while(|c| !c.is_ascii_digit() && *c != b'.')
            .count();
        if u == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                super::format::go_quote(orig)
            ));
        }
        let unit: u128 = match &s[..u] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    super::format::go_quote(other),
                    super::format::go_quote(orig)
                ));
            }
        };
        s = &s[u..];
        total = total
            .checked_add(int_part.checked_mul(unit).ok_or_else(bad)?)
            .and_then(|t| t.checked_add(frac * unit / scale))
            .ok_or_else(bad)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return Err(bad());
        }
    }
    Ok(if neg {
        (total as i128).wrapping_neg() as i64
    } else {
        total as i64
    })
}

/// Go's `time.Duration.String()`.
pub fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: one unit with a fraction.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac_text(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let rem = u % 3_600_000_000_000;
        let m = rem / 60_000_000_000;
        let sn = rem % 60_000_000_000;
        if h > 0 {
            let _ = write!(out, "{h}h{m}m");
        } else if m > 0 {
            let _ = write!(out, "{m}m");
        }
        out.push_str(&frac_text(sn, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn frac_text(v: u64, div: u64) -> String {
    let int = v / div;
    let frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let f = format!("{frac:0width$}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> GoTime {
        let ts: jiff::Timestamp = s.parse().unwrap();
        GoTime(ts.to_zoned(TimeZone::UTC))
    }

    #[test]
    fn formats_go_layouts() {
        let t = at("2024-03-05T07:08:09.120Z");
        assert_eq!(t.format("2006-01-02"), "2024-03-05");
        assert_eq!(t.format("Jan _2 15:04:05.000"), "Mar  5 07:08:09.120");
        assert_eq!(
            t.format("Monday, 2 January 06 3:04PM MST"),
            "Tuesday, 5 March 24 7:08AM UTC"
        );
        assert_eq!(
            t.format("2006-01-02T15:04:05Z07:00"),
            "2024-03-05T07:08:09Z"
        );
        assert_eq!(t.format("-0700 .999"), "+0000 .12");
        assert_eq!(t.display(), "2024-03-05 07:08:09.12 +0000 UTC");
    }

    #[test]
    fn parses_go_layouts() {
        let t = GoTime::parse("2006-01-02", "2024-03-05").unwrap();
        assert_eq!(t.format("2006-01-02 15:04"), "2024-03-05 00:00");
        let t = GoTime::parse("2006-01-02T15:04:05Z07:00", "2024-03-05T07:08:09+02:00").unwrap();
        assert_eq!(t.unix_seconds(), at("2024-03-05T05:08:09Z").unix_seconds());
        assert!(GoTime::parse("2006-01-02", "2024-13-05").is_err());
        assert!(GoTime::parse("2006-01-02", "x").is_err());
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("-1.5s").unwrap(), -1_500_000_000);
        assert_eq!(parse_duration("300ms").unwrap(), 300_000_000);
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(duration_string(5_400_000_000_000), "1h30m0s");
        assert_eq!(duration_string(1_500_000_000), "1.5s");
        assert_eq!(duration_string(300_000_000), "300ms");
        assert_eq!(duration_string(1_000), "1µs");
        assert_eq!(duration_string(-61_000_000_000), "-1m1s");
    }
}
