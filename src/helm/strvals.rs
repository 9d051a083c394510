//! Helm's `--set` syntax (`pkg/strvals`): `a.b=1,c[0]=x`, `\,` and `\.` escapes, `{a,b}` lists,
//! typed values (`true`/`false`/`null`, integers without a leading zero become int64; everything
//! else, `1.5` and `0755` included, stays a string), `--set-string` keeping every value a string.

use super::value::Value;
use std::collections::BTreeMap;

/// A bad `--set` expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetError(pub String);

/// Nesting/index limits so hostile input cannot exhaust memory.
const MAX_INDEX: usize = 65_536;
const MAX_DEPTH: usize = 10_000;

fn typed(v: &str, string: bool) -> Value {
    if string {
        return Value::Str(v.to_string());
    }
    if v.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if v.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if v.eq_ignore_ascii_case("null") {
        return Value::Nil;
    }
    if v == "0" {
        return Value::Int(0);
    }
    if !v.is_empty()
        && !v.starts_with('0')
        && let Ok(i) = v.parse::<i64>()
    {
        return Value::Int(i);
    }
    Value::Str(v.to_string())
}

/// How the right-hand side of `key=value` becomes a value.
#[derive(Clone, Copy)]
enum Mode<'r> {
    /// `--set`: typed scalars.
    Typed,
    /// `--set-string`.
    String,
    /// `--set-file`: the value is a path; the value set is what `read` returns for it.
    File(&'r dyn Fn(&str) -> Result<Value, SetError>),
    /// `--set-json`: one JSON value.
    Json,
    /// `--set-literal`: the whole rest of the argument, as a string.
    Literal,
}

struct P<'a, 'r> {
    s: &'a [char],
    i: usize,
    mode: Mode<'r>,
}

enum Stop {
    Char(char),
    Eof,
}

impl P<'_, '_> {
    /// Reads until one of `stops` (unescaped); returns the text and the stop.
    fn until(&mut self, stops: &[char]) -> (String, Stop) {
        let mut out = String::new();
        while self.i < self.s.len() {
            let c = self.s[self.i];
            self.i += 1;
            if c == '\\' && self.i < self.s.len() {
                out.push(self.s[self.i]);
                self.i += 1;
                continue;
            }
            if stops.contains(&c) {
                return (out, Stop::Char(c));
            }
            out.push(c);
        }
        (out, Stop::Eof)
    }

    fn key(&mut self, data: &mut BTreeMap<String, Value>, depth: usize) -> Result<(), SetError> {
        if depth > MAX_DEPTH {
            return Err(SetError(
                "value name nested level is greater than maximum supported nested level".into(),
            ));
        }
        let stops: &[char] = if matches!(self.mode, Mode::Literal) {
            &['=', '[', '.']
        } else {
            &['=', '[', ',', '.']
        };
        let (k, stop) = self.until(stops);
        match stop {
            Stop::Eof => {
                if k.is_empty() {
                    return Ok(());
                }
                Err(SetError(format!("key {k:?} has no value")))
            }
            Stop::Char(',') => Err(SetError(format!(
                "key {k:?} has no value (cannot end with ,)"
            ))),
            Stop::Char('=') => {
                let v = self.value(&k)?;
                data.insert(k, v);
                Ok(())
            }
            Stop::Char('.') => {
                if k.is_empty() {
                    return Err(SetError("key map with no name".into()));
                }
                let mut inner = match data.get(&k) {
                    Some(Value::Map(m)) => m.borrow().clone(),
                    _ => BTreeMap::new(),
                };
                let r = self.key(&mut inner, depth + 1);
                data.insert(k, Value::map_from(inner));
                r
            }
            Stop::Char('[') => {
                if k.is_empty() {
                    return Err(SetError("key map with no name".into()));
                }
                let idx = self.index()?;
                let mut list = match data.get(&k) {
                    Some(Value::List(l)) => l.to_vec(),
                    _ => Vec::new(),
                };
                let r = self.list_item(&mut list, idx, depth + 1);
                data.insert(k, Value::list(list));
                r
            }
            Stop::Char(_) => Ok(()),
        }
    }

    fn index(&mut self) -> Result<usize, SetError> {
        let (v, stop) = self.until(&[']']);
        if matches!(stop, Stop::Eof) {
            return Err(SetError("error parsing index: unexpected EOF".into()));
        }
        let i: i64 = v.trim().parse().map_err(|_| {
            SetError(format!(
                "error parsing index: strconv.Atoi: parsing {v:?}: invalid syntax"
            ))
        })?;
        if i < 0 {
            return Err(SetError(format!("negative {i} index not allowed")));
        }
        if i as usize > MAX_INDEX {
            return Err(SetError(format!(
                "index of {i} is greater than maximum supported index value"
            )));
        }
        Ok(i as usize)
    }

    fn list_item(
        &mut self,
        list: &mut Vec<Value>,
        idx: usize,
        depth: usize,
    ) -> Result<(), SetError> {
        if depth > MAX_DEPTH {
            return Err(SetError(
                "value name nested level is greater than maximum supported nested level".into(),
            ));
        }
        while list.len() <= idx {
            list.push(Value::Nil);
        }
        let c = self.s.get(self.i).copied();
        self.i += 1;
        match c {
            None => Err(SetError("unexpected end of input after index".into())),
            Some('=') => {
                list[idx] = self.value("")?;
                Ok(())
            }
            Some('[') => {
                let next = self.index()?;
                let mut inner = match &list[idx] {
                    Value::List(l) => l.to_vec(),
                    _ => Vec::new(),
                };
                let r = self.list_item(&mut inner, next, depth + 1);
                list[idx] = Value::list(inner);
                r
            }
            Some('.') => {
                let mut inner = match &list[idx] {
                    Value::Map(m) => m.borrow().clone(),
                    _ => BTreeMap::new(),
                };
                let r = self.key(&mut inner, depth + 1);
                list[idx] = Value::map_from(inner);
                r
            }
            Some(ch) => Err(SetError(format!(
                "parse error: unexpected {ch:?} after index"
            ))),
        }
    }

    /// Converts one scalar of the value side as the mode says.
    fn scalar(&self, v: &str) -> Result<Value, SetError> {
        match self.mode {
            Mode::Typed => Ok(typed(v, false)),
            Mode::String | Mode::Literal | Mode::Json => Ok(typed(v, true)),
            Mode::File(read) => read(v),
        }
    }

    /// The value after `key=` (the `=` consumed), through the following comma.
    fn value(&mut self, key: &str) -> Result<Value, SetError> {
        match self.mode {
            Mode::Literal => {
                let v: String = self.s[self.i..].iter().collect();
                self.i = self.s.len();
                return Ok(Value::Str(v));
            }
            Mode::Json => return self.json_value(key),
            _ => {}
        }
        if self.s.get(self.i) == Some(&'{') {
            self.i += 1;
            let list = self.list_value()?;
            // consume a following comma
            if self.s.get(self.i) == Some(&',') {
                self.i += 1;
            }
            return Ok(Value::list(list));
        }
        let (v, _) = self.until(&[',']);
        if v.is_empty() && matches!(self.mode, Mode::File(_)) {
            return Ok(Value::Str(String::new()));
        }
        self.scalar(&v)
    }

    /// Skips blanks; true (and the comma consumed) when the value is empty.
    fn empty_value(&mut self) -> bool {
        while self.s.get(self.i).is_some_and(|c| c.is_whitespace()) {
            self.i += 1;
        }
        match self.s.get(self.i) {
            None => true,
            Some(',') => {
                self.i += 1;
                true
            }
            Some(_) => false,
        }
    }

    /// One JSON value (`key=` alone sets null), then an optional comma.
    fn json_value(&mut self, key: &str) -> Result<Value, SetError> {
        if self.empty_value() {
            return Ok(Value::Nil);
        }
        let rest: String = self.s[self.i..].iter().collect();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<serde_json::Value>();
        let v = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return Err(SetError(format!("invalid JSON value for key {key:?}: {e}")));
            }
            None => return Err(SetError(format!("key {key:?} has no value"))),
        };
        let used = rest[..stream.byte_offset()].chars().count();
        self.i += used;
        self.empty_value();
        Ok(Value::from_json(&v, false))
    }

    fn list_value(&mut self) -> Result<Vec<Value>, SetError> {
        let mut out = Vec::new();
        loop {
            let (v, stop) = self.until(&[',', '}']);
            match stop {
                Stop::Eof => return Err(SetError("list must terminate with '}'".into())),
                Stop::Char('}') => {
                    out.push(self.scalar(&v)?);
                    return Ok(out);
                }
                _ => out.push(self.scalar(&v)?),
            }
        }
    }
}

/// Parses one `--set` argument into `dest` (later assignments win; `string` is `--set-string`).
pub fn parse_into(
    expr: &str,
    dest: &mut BTreeMap<String, Value>,
    string: bool,
) -> Result<(), SetError> {
    let mode = if string { Mode::String } else { Mode::Typed };
    run(expr, dest, mode)
}

fn run(expr: &str, dest: &mut BTreeMap<String, Value>, mode: Mode) -> Result<(), SetError> {
    let chars: Vec<char> = expr.chars().collect();
    let mut p = P {
        s: &chars,
        i: 0,
        mode,
    };
    while p.i < chars.len() {
        p.key(dest, 0)?;
    }
    Ok(())
}

/// Parses one `--set-file` argument (`key=path,…`); `read` turns a path into the value.
pub fn parse_file_into(
    expr: &str,
    dest: &mut BTreeMap<String, Value>,
    read: &dyn Fn(&str) -> Result<Value, SetError>,
) -> Result<(), SetError> {
    run(expr, dest, Mode::File(read))
}

/// Parses one `--set-json` argument in its `key=<json>,…` form (JSON numbers are float64).
pub fn parse_json_into(expr: &str, dest: &mut BTreeMap<String, Value>) -> Result<(), SetError> {
    run(expr, dest, Mode::Json)
}

/// Parses one `--set-literal` argument: everything after the first `=` is the string value.
pub fn parse_literal_into(expr: &str, dest: &mut BTreeMap<String, Value>) -> Result<(), SetError> {
    run(expr, dest, Mode::Literal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(e: &str) -> String {
        let mut m = BTreeMap::new();
        match parse_into(e, &mut m, false) {
            Ok(()) => super::super::yaml::to_json(&Value::map_from(m), false),
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn set_syntax() {
        assert_eq!(set("a.b=1,c[0]=x"), r#"{"a":{"b":1},"c":["x"]}"#);
        assert_eq!(
            set("a=1.5,b=0755,c=true,d=null"),
            r#"{"a":"1.5","b":"0755","c":true,"d":null}"#
        );
        assert_eq!(set(r"a\.b=c\,d"), r#"{"a.b":"c,d"}"#);
        assert_eq!(set("x={a,b},y=2"), r#"{"x":["a","b"],"y":2}"#);
        assert_eq!(set("l[1].n=v"), r#"{"l":[null,{"n":"v"}]}"#);
        assert_eq!(set("a"), "ERR key \"a\" has no value");
        assert_eq!(
            set("a,b=1"),
            "ERR key \"a\" has no value (cannot end with ,)"
        );
        assert!(set("a[-1]=x").starts_with("ERR"));
        assert!(set("a[999999999]=x").starts_with("ERR"));
    }

    fn with(e: &str, f: fn(&str, &mut BTreeMap<String, Value>) -> Result<(), SetError>) -> String {
        let mut m = BTreeMap::new();
        match f(e, &mut m) {
            Ok(()) => super::super::yaml::to_json(&Value::map_from(m), false),
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn set_json_syntax_and_errors() {
        let j = |e: &str| with(e, parse_json_into);
        assert_eq!(
            j(r#"a={"b":[1,2.5,"x"]},c=null,d=true"#),
            r#"{"a":{"b":[1,2.5,"x"]},"c":null,"d":true}"#
        );
        assert_eq!(j("a=,b=1"), r#"{"a":null,"b":1}"#);
        assert_eq!(j("a=1 ,b=2"), r#"{"a":1,"b":2}"#);
        assert_eq!(j(r#"l[1]={"q":1}"#), r#"{"l":[null,{"q":1}]}"#);
        assert!(j("a=xx").starts_with("ERR invalid JSON value for key \"a\""));
        assert!(j(r#"a={"b":"#).starts_with("ERR invalid JSON"));
        assert_eq!(j("a"), "ERR key \"a\" has no value");
    }

    #[test]
    fn set_literal_and_file_syntax() {
        let l = |e: &str| with(e, parse_literal_into);
        assert_eq!(l(r"a.b=x,y=z\,{q}"), r#"{"a":{"b":"x,y=z\\,{q}"}}"#);
        assert_eq!(l("a[0]=1"), r#"{"a":["1"]}"#);
        assert_eq!(l("a"), "ERR key \"a\" has no value");
        let read = |p: &str| -> Result<Value, SetError> {
            if p == "missing" {
                Err(SetError(format!("open {p}: no such file or directory")))
            } else {
                Ok(Value::Str(format!("<{p}>")))
            }
        };
        let f = |e: &str| {
            let mut m = BTreeMap::new();
            match parse_file_into(e, &mut m, &read) {
                Ok(()) => super::super::yaml::to_json(&Value::map_from(m), false),
                Err(e) => format!("ERR {e}"),
            }
        };
        assert_eq!(f("a=x,b=y"), r#"{"a":"<x>","b":"<y>"}"#);
        assert_eq!(f("a={x,y}"), r#"{"a":["<x>","<y>"]}"#);
        assert_eq!(f("a="), r#"{"a":""}"#);
        assert_eq!(
            f("a=missing"),
            "ERR open missing: no such file or directory"
        );
    }
}
