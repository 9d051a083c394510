//! Go's `fmt`: `Sprintf` verbs/flags/widths, `Sprint` and `Sprintln` spacing, `%q` quoting.

use super::value::{Value, format_float_e, format_float_f, format_float_g};
use std::fmt::Write as _;

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        a.write_v(&mut out, false);
    }
    out
}

/// `fmt.Sprintln`.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        a.write_v(&mut out, false);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, fl: &Flags, numeric: bool) -> String {
    let Some(w) = fl.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if fl.minus {
        return s + &" ".repeat(fill);
    }
    if fl.zero && numeric {
        let (sign, rest) = if s.starts_with(['-', '+', ' ']) {
            s.split_at(1)
        } else {
            ("", s.as_str())
        };
        return format!("{sign}{}{rest}", "0".repeat(fill));
    }
    " ".repeat(fill) + &s
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", v.type_name(), v.to_go_string()),
    }
}

fn sign(s: String, fl: &Flags, neg: bool) -> String {
    if neg {
        s
    } else if fl.plus {
        format!("+{s}")
    } else if fl.space {
        format!(" {s}")
    } else {
        s
    }
}

fn fmt_int(i: i64, verb: char, fl: &Flags) -> Option<String> {
    let neg = i < 0;
    let a = i.unsigned_abs();
    let mut body = match verb {
        'd' | 'v' => a.to_string(),
        'x' => format!("{a:x}"),
        'X' => format!("{a:X}"),
        'o' => format!("{a:o}"),
        'O' => format!("0o{a:o}"),
        'b' => format!("{a:b}"),
        'c' => return char::from_u32(i as u32).map(|c| c.to_string()),
        'q' => return char::from_u32(i as u32).map(|c| format!("'{c}'")),
        'U' => return Some(format!("U+{a:04X}")),
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => return None,
        _ => return None,
    };
    if let Some(p) = fl.prec
        && body.len() < p
    {
        body = "0".repeat(p - body.len()) + &body;
    }
    if fl.sharp {
        match verb {
            'x' => body = format!("0x{body}"),
            'X' => body = format!("0X{body}"),
            'o' => body = format!("0{body}"),
            _ => {}
        }
    }
    if neg {
        body = format!("-{body}");
    }
    Some(sign(body, fl, neg))
}

fn fmt_float(f: f64, verb: char, fl: &Flags) -> Option<String> {
    let s = match verb {
        'v' | 'g' => format_float_g(f, fl.prec),
        'G' => format_float_g(f, fl.prec).to_uppercase(),
        'e' => format_float_e(f, Some(fl.prec.unwrap_or(6)), false),
        'E' => format_float_e(f, Some(fl.prec.unwrap_or(6)), true),
        'f' | 'F' => format_float_f(f, Some(fl.prec.unwrap_or(6))),
        _ => return None,
    };
    let neg = s.starts_with('-');
    Some(sign(s, fl, neg))
}

fn fmt_str(s: &str, verb: char, fl: &Flags) -> Option<String> {
    let s = match fl.prec {
        Some(p) if matches!(verb, 's' | 'v' | 'q') => s.chars().take(p).collect::<String>(),
        _ => s.to_string(),
    };
    Some(match verb {
        // %#v is Go syntax: a quoted string.
        'v' if fl.sharp => go_quote(&s),
        's' | 'v' => s,
        'q' => {
            if fl.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(&s)
            }
        }
        'x' => s.bytes().map(|b| format!("{b:02x}")).collect(),
        'X' => s.bytes().map(|b| format!("{b:02X}")).collect(),
        _ => return None,
    })
}

fn fmt_value(v: &Value, verb: char, fl: &Flags) -> String {
    let numeric = matches!(v, Value::Int(_) | Value::GoInt(_) | Value::Float(_));
    let s = match (v, verb) {
        (_, 'T') => Some(v.type_name().to_string()),
        (Value::Nil, 'v') => Some("<nil>".into()),
        (Value::Bool(b), 't' | 'v') => Some(b.to_string()),
        (Value::Int(i) | Value::GoInt(i), _) => fmt_int(*i, verb, fl),
        (Value::Float(f), _) => fmt_float(*f, verb, fl),
        (Value::Str(s), _) => fmt_str(s, verb, fl),
        (Value::List(l), 'v' | 's' | 'd' | 'q' | 'x' | 'X' | 'f' | 'g' | 'e' | 't') => {
            let mut out = String::from("[");
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&fmt_value(x, verb, &Flags::default()));
            }
            out.push(']');
            Some(out)
        }
        (Value::Map(m), 'v' | 's' | 'd' | 'q' | 'x' | 'X' | 'f' | 'g' | 'e' | 't') => {
            let mut out = String::from("map[");
            for (i, (k, x)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(
                    &fmt_str(k, verb, &Flags::default())
                        .unwrap_or_else(|| bad_verb(verb, &Value::Str(k.clone()))),
                );
                out.push(':');
                out.push_str(&fmt_value(x, verb, &Flags::default()));
            }
            out.push(']');
            Some(out)
        }
        _ => None,
    };
    match s {
        Some(s) => pad(s, fl, numeric),
        None => bad_verb(verb, v),
    }
}

/// `fmt.Sprintf` with Go's verbs, flags, width/precision (incl. `*`), and its error notation
/// (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA …)`).
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut fl = Flags::default();
        loop {
            match chars.peek() {
                Some('-') => fl.minus = true,
                Some('+') => fl.plus = true,
                Some('0') => fl.zero = true,
                Some(' ') => fl.space = true,
                Some('#') => fl.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let num =
            |chars: &mut std::iter::Peekable<std::str::Chars>, argi: &mut usize| -> Option<usize> {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    let v = args.get(*argi);
                    *argi += 1;
                    return match v {
                        Some(Value::Int(i) | Value::GoInt(i)) if *i >= 0 => Some(*i as usize),
                        _ => None,
                    };
                }
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                n.parse().ok()
            };
        fl.width = num(&mut chars, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            fl.prec = Some(num(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
            Some(v) => {
                out.push_str(&fmt_value(v, verb, &fl));
            }
        }
        argi += 1;
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, v) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", v.type_name(), v.to_go_string());
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_matches_go() {
        let s = |x: &str| Value::Str(x.into());
        assert_eq!(sprintf("%s-%d", &[s("a"), Value::Int(3)]), "a-3");
        assert_eq!(sprintf("%d", &[Value::Float(3.0)]), "%!d(float64=3)");
        assert_eq!(
            sprintf("%5s|%-4d|%05d", &[s("ab"), Value::Int(7), Value::Int(-42)]),
            "   ab|7   |-0042"
        );
        assert_eq!(sprintf("%q", &[s("a\"b")]), "\"a\\\"b\"");
        assert_eq!(
            sprintf(
                "%.2f %g %v",
                &[Value::Float(1.005), Value::Float(1e6), Value::Float(2.5)]
            ),
            "1.00 1e+06 2.5"
        );
        assert_eq!(
            sprintf("%x %t", &[Value::Int(255), Value::Bool(true)]),
            "ff true"
        );
        assert_eq!(sprintf("%s", &[]), "%!s(MISSING)");
        assert_eq!(sprintf("x", &[Value::Int(1)]), "x%!(EXTRA int64=1)");
        assert_eq!(
            sprint(&[Value::Int(1), Value::Int(2), s("a"), Value::Int(3)]),
            "1 2a3"
        );
    }
}
