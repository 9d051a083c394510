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

struct P<'a> {
    s: &'a [char],
    i: usize,
    string: bool,
}

enum Stop {
    Char(char),
    Eof,
}

impl P<'_> {
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
        let (k, stop) = self.until(&['=', '[', ',', '.']);
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
                if self.s.get(self.i) == Some(&'{') {
                    self.i += 1;
                    let list = self.list_value()?;
                    data.insert(k, Value::list(list));
                    // consume a following comma
                    if self.s.get(self.i) == Some(&',') {
                        self.i += 1;
                    }
                    return Ok(());
                }
                let (v, _) = self.until(&[',']);
                data.insert(k, typed(&v, self.string));
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
                if self.s.get(self.i) == Some(&'{') {
                    self.i += 1;
                    let l = self.list_value()?;
                    list[idx] = Value::list(l);
                    if self.s.get(self.i) == Some(&',') {
                        self.i += 1;
                    }
                    return Ok(());
                }
                let (v, _) = self.until(&[',']);
                list[idx] = typed(&v, self.string);
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

    fn list_value(&mut self) -> Result<Vec<Value>, SetError> {
        let mut out = Vec::new();
        loop {
            let (v, stop) = self.until(&[',', '}']);
            match stop {
                Stop::Eof => return Err(SetError("list must terminate with '}'".into())),
                Stop::Char('}') => {
                    out.push(typed(&v, self.string));
                    return Ok(out);
                }
                _ => out.push(typed(&v, self.string)),
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
    let chars: Vec<char> = expr.chars().collect();
    let mut p = P {
        s: &chars,
        i: 0,
        string,
    };
    while p.i < chars.len() {
        p.key(dest, 0)?;
    }
    Ok(())
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
}
