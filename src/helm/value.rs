//! The value model templates run over: Go's `interface{}` as Helm sees it (JSON-like, maps shared and
//! mutable so sprig's in-place `set`/`merge` on `.Values` is visible to later templates).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// A shared, mutable map (Go's `map[string]interface{}`; Go prints and ranges maps in key order).
pub type MapRef = Rc<RefCell<BTreeMap<String, Value>>>;

/// A template value.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// Go's nil interface (a missing key).
    #[default]
    Nil,
    /// bool
    Bool(bool),
    /// int64 (`--set` integers, `add`, `sub`, `int64`…)
    Int(i64),
    /// Go's `int` (template literals, `int`, `len`, `atoi`, `until`, range indexes)
    GoInt(i64),
    /// float64 (every number read from YAML/JSON files)
    Float(f64),
    /// string
    Str(String),
    /// `[]interface{}`
    List(Rc<Vec<Value>>),
    /// `map[string]interface{}`
    Map(MapRef),
    /// A Go object with fields and methods (`.Files`, `.Capabilities.KubeVersion`…).
    Obj(Rc<dyn Object>),
}

/// An object with Go methods/fields.
pub trait Object: std::fmt::Debug {
    /// Go type name for messages.
    fn type_name(&self) -> &'static str;
    /// What `{{ . }}` / `%v` prints.
    fn display(&self) -> String;
    /// A field or argument-less method (`None` when there is none).
    fn field(&self, name: &str) -> Option<Value>;
    /// A method call with arguments (`None` when there is no such method).
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// Key/value pairs when the object is a Go map (`range` over it), in key order.
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// The concrete object, for functions that take a specific Go type (`time.Time`…).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

impl Value {
    /// A new, empty shared map.
    pub fn new_map() -> Value {
        Value::Map(Rc::new(RefCell::new(BTreeMap::new())))
    }

    /// A map value from entries.
    pub fn map_from(m: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }

    /// A list value.
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }

    /// Converts JSON; `ints` keeps integral JSON numbers as int64 (for `--set`), otherwise every number
    /// becomes float64 as Helm's YAML→JSON values do.
    pub fn from_json(v: &serde_json::Value, ints: bool) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if ints && let Some(i) = n.as_i64() {
                    return Value::Int(i);
                }
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => {
                Value::list(a.iter().map(|x| Value::from_json(x, ints)).collect())
            }
            serde_json::Value::Object(o) => Value::map_from(
                o.iter()
                    .map(|(k, x)| (k.clone(), Value::from_json(x, ints)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON (deep copy).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) | Value::GoInt(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Obj(o) => serde_json::Value::String(o.display()),
        }
    }

    /// A deep copy (new maps), as Go's `copystructure` does for `deepCopy`/`merge` sources.
    pub fn deep_copy(&self) -> Value {
        let Some(_level) = super::limits::descend() else {
            return Value::Nil;
        };
        match self {
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            Value::Map(m) => Value::map_from(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect(),
            ),
            v => v.clone(),
        }
    }

    /// What the value holds directly, in bytes as [`super::limits`] counts them (a string's length,
    /// 16 per list entry), without walking nested values.
    pub fn shallow_size(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::List(l) => l.len().saturating_mul(16),
            _ => 0,
        }
    }

    /// Go's template truth: false, 0, nil, and empty strings/lists/maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::GoInt(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Obj(_) => true,
        }
    }

    /// Go's type name, as `printf "%T"` and error messages print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int64",
            Value::GoInt(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Obj(o) => o.type_name(),
        }
    }

    /// The integer inside, if an int or int64.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::GoInt(i) => Some(*i),
            _ => None,
        }
    }

    /// The string inside, if a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `fmt.Sprint`-style `%v` text.
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write_v(&mut s, false);
        s
    }

    /// Writes `%v` (`plus` is `%+v`, unused by Helm's charts but kept for symmetry).
    pub fn write_v(&self, out: &mut String, nested: bool) {
        let Some(_level) = super::limits::descend() else {
            return;
        };
        if !super::limits::size_ok(out.len()) {
            return;
        }
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::GoInt(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float_g(*f, None)),
            Value::Str(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_v(out, true);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_v(out, true);
                }
                out.push(']');
            }
            Value::Obj(o) => out.push_str(&o.display()),
        }
        let _ = nested;
    }
}

/// Decimal digits and decimal-point position of the shortest representation of |f| (f finite, f != 0).
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Digits rounded to `n` significant digits (n ≥ 1) → (digits, dp).
fn rounded_digits(f: f64, n: usize) -> (String, i32) {
    let s = format!("{:.*e}", n.saturating_sub(1), f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

fn fmt_e(neg: bool, digits: &str, dp: i32, upper: bool) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let d = if digits.is_empty() { "0" } else { digits };
    out.push_str(&d[..1]);
    if d.len() > 1 {
        out.push('.');
        out.push_str(&d[1..]);
    }
    let exp = if digits.chars().all(|c| c == '0') {
        0
    } else {
        dp - 1
    };
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    let _ = write!(out, "{a}");
    out
}

fn fmt_f_digits(neg: bool, digits: &str, dp: i32, prec: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if dp <= 0 {
        out.push('0');
    } else {
        for i in 0..dp as usize {
            out.push(digits.as_bytes().get(i).map_or('0', |b| *b as char));
        }
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let idx = dp + i;
            let c = if idx < 0 {
                '0'
            } else {
                digits
                    .as_bytes()
                    .get(idx as usize)
                    .map_or('0', |b| *b as char)
            };
            out.push(c);
        }
    }
    out
}

/// Go's `strconv.FormatFloat(f, 'g', prec, 64)` (`None` = shortest), as `%v` of a float64 prints.
pub fn format_float_g(f: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let neg = f.is_sign_negative();
    if f == 0.0 {
        return if neg { "-0".into() } else { "0".into() };
    }
    let (digits, dp, eprec) = match prec {
        None => {
            let (d, dp) = shortest_digits(f);
            (d, dp, 6)
        }
        Some(p) => {
            let p = p.max(1);
            let (d, dp) = rounded_digits(f, p);
            let d = d.trim_end_matches('0').to_string();
            let d = if d.is_empty() { "0".to_string() } else { d };
            let mut eprec = p as i32;
            if eprec > d.len() as i32 && d.len() as i32 >= dp {
                eprec = d.len() as i32;
            }
            (d, dp, eprec)
        }
    };
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        return fmt_e(neg, &digits, dp, false);
    }
    let prec = (digits.len() as i32 - dp).max(0) as usize;
    fmt_f_digits(neg, &digits, dp, prec)
}

/// Go's `%e` with a precision (`None` = shortest, as `strconv` 'e' -1).
pub fn format_float_e(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let neg = f.is_sign_negative();
    let (digits, dp) = match prec {
        None if f == 0.0 => ("0".to_string(), 1),
        None => shortest_digits(f),
        Some(p) => rounded_digits(f, p + 1),
    };
    fmt_e(neg, &digits, dp, upper)
}

/// Go's `%f` with a precision (`None` = shortest).
pub fn format_float_f(f: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    match prec {
        Some(p) => format!("{:.*}", p, f),
        None => {
            if f == 0.0 {
                return if f.is_sign_negative() {
                    "-0".into()
                } else {
                    "0".into()
                };
            }
            let (d, dp) = shortest_digits(f);
            let prec = (d.len() as i32 - dp).max(0) as usize;
            fmt_f_digits(f.is_sign_negative(), &d, dp, prec)
        }
    }
}

/// Go's `encoding/json` float text (what `toJson`, and through it `toYaml`, see).
pub fn format_float_json(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format_float_e(f, None, false);
        // json cleans e-07 to e-7
        if let Some(i) = s.find("e-0") {
            return format!("{}e-{}", &s[..i], &s[i + 3..]);
        }
        if let Some(i) = s.find("e+0") {
            return format!("{}e+{}", &s[..i], &s[i + 3..]);
        }
        return s;
    }
    format_float_f(f, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float_g(1000000.0, None), "1e+06");
        assert_eq!(format_float_g(100000.0, None), "100000");
        assert_eq!(format_float_g(1.5, None), "1.5");
        assert_eq!(format_float_g(0.0001, None), "0.0001");
        assert_eq!(format_float_g(0.00001, None), "1e-05");
        assert_eq!(format_float_g(1234567.0, None), "1.234567e+06");
        assert_eq!(format_float_g(3.0, None), "3");
        assert_eq!(format_float_f(1.5, Some(2)), "1.50");
        assert_eq!(format_float_json(1e21), "1e+21");
        assert_eq!(format_float_json(1000000.0), "1000000");
        assert_eq!(format_float_json(1e-7), "1e-7");
        assert_eq!(format_float_e(1234.5678, Some(2), false), "1.23e+03");
        assert_eq!(format_float_g(1234.5678, Some(3)), "1.23e+03");
    }
}
