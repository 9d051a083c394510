//! The function map: Go's template builtins, the sprig functions charts use most, and Helm's own
//! (`include`, `tpl`, `required`, `fail`, `toYaml`, `fromYaml`, `toJson`, `lookup`…).

use super::exec::{Exec, INCLUDE_LIMIT, Templates};
use super::format::{go_quote, sprint, sprintf, sprintln};
use super::value::{MapRef, Value, format_float_g};
use super::yaml;
use base64::Engine as _;
use sha2::Digest as _;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// A function's failure.
#[derive(Debug)]
pub enum FnError {
    /// Returned by the function (printed as `error calling NAME: …`).
    Call(String),
    /// An argument Go's reflection could not pass (printed as is).
    Arg(String),
}

type F = Result<Value, FnError>;

/// Marks a message from `required`/`fail` so Helm's error cleanup can find it.
pub fn helm_wrap(msg: &str) -> String {
    format!("HELM[{msg}]HELM")
}

const NAMES: &[&str] = &[
    // text/template builtins
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "call",
    // Helm
    "include",
    "tpl",
    "required",
    "fail",
    "toYaml",
    "mustToYaml",
    "toYamlPretty",
    "fromYaml",
    "fromYamlArray",
    "toJson",
    "mustToJson",
    "fromJson",
    "fromJsonArray",
    "lookup",
    "toToml",
    // sprig
    "default",
    "empty",
    "coalesce",
    "ternary",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "upper",
    "lower",
    "title",
    "untitle",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "substr",
    "nospace",
    "trunc",
    "abbrev",
    "initials",
    "wrap",
    "snakecase",
    "camelcase",
    "kebabcase",
    "swapcase",
    "plural",
    "list",
    "tuple",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pick",
    "omit",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "pluck",
    "dig",
    "first",
    "mustFirst",
    "last",
    "mustLast",
    "rest",
    "initial",
    "append",
    "mustAppend",
    "push",
    "prepend",
    "concat",
    "uniq",
    "without",
    "has",
    "mustHas",
    "reverse",
    "compact",
    "sortAlpha",
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "sha1sum",
    "sha256sum",
    "adler32sum",
    "int",
    "int64",
    "float64",
    "toString",
    "toStrings",
    "atoi",
    "toDecimal",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "addf",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "floor",
    "ceil",
    "round",
    "until",
    "untilStep",
    "seq",
    "join",
    "split",
    "splitList",
    "splitn",
    "semver",
    "semverCompare",
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "regexQuoteMeta",
    "kindOf",
    "kindIs",
    "typeOf",
    "typeIs",
    "deepEqual",
    "deepCopy",
    "mustDeepCopy",
    "toPrettyJson",
    "toRawJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "uuidv4",
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "now",
    "date",
    "ago",
    "toDate",
    "dateInZone",
    "htmlDate",
    "unixEpoch",
    "fromYamlArray",
    "isAbs",
    "base",
    "dir",
    "ext",
    "clean",
    "osBase",
    "osDir",
    "osExt",
    "osClean",
    "osIsAbs",
    "biggest",
    "chunk",
    "slice",
    "durationRound",
    "sortAlpha",
    "mustUniq",
    "mustWithout",
    "mustCompact",
    "mustRest",
    "mustInitial",
    "mustReverse",
    "mustPush",
    "mustPrepend",
    "mustSlice",
    "mustChunk",
    "shuffle",
    "getHostByName",
    "urlParse",
    "urlJoin",
    "toJson",
];

/// Whether `name` is a known function (unknown names are parse errors, as in Go).
pub fn is_func(name: &str) -> bool {
    NAMES.contains(&name) || super::sprig::NAMES.contains(&name)
}

/// Every function name templates can call (Go builtins, sprig, Helm's own).
pub fn all_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = NAMES.iter().chain(super::sprig::NAMES).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), FnError> {
    if args.len() != n {
        return Err(FnError::Arg(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn want_min(name: &str, args: &[Value], n: usize) -> Result<(), FnError> {
    if args.len() < n {
        return Err(FnError::Arg(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// A `string` parameter.
fn s(v: &Value) -> Result<String, FnError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Nil => Err(FnError::Arg("invalid value; expected string".into())),
        other => Err(FnError::Arg(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
    }
}

/// An `int` parameter.
fn i(v: &Value) -> Result<i64, FnError> {
    match v {
        Value::Int(i) | Value::GoInt(i) => Ok(*i),
        Value::Nil => Err(FnError::Arg("invalid value; expected int".into())),
        other => Err(FnError::Arg(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        ))),
    }
}

/// A `map[string]interface{}` parameter.
fn m(v: &Value) -> Result<MapRef, FnError> {
    match v {
        Value::Map(m) => Ok(m.clone()),
        Value::Nil => Err(FnError::Arg(
            "invalid value; expected map[string]interface {}".into(),
        )),
        other => Err(FnError::Arg(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        ))),
    }
}

/// sprig's `strval`.
pub fn strval(v: &Value) -> String {
    v.to_go_string()
}

/// cast.ToInt64 as sprig uses it (errors → 0).
pub fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::GoInt(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_go_int(s.trim_end_matches(".0").trim_end_matches('.')).unwrap_or(0),
        _ => 0,
    }
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, b) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = b.strip_prefix("0x").or(b.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = b.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(x) = b.strip_prefix("0b") {
        i64::from_str_radix(x, 2).ok()?
    } else if b.len() > 1 && b.starts_with('0') {
        i64::from_str_radix(&b[1..], 8).ok()?
    } else {
        b.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// cast.ToFloat64.
pub fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::GoInt(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// sprig's `empty`.
pub fn is_empty(v: &Value) -> bool {
    !v.truthy()
}

fn list_of(name: &str, v: &Value) -> Result<Rc<Vec<Value>>, FnError> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Nil => Ok(Rc::new(Vec::new())),
        other => Err(FnError::Call(format!(
            "Cannot {name} on type {}",
            go_kind_type(other)
        ))),
    }
}

fn go_kind_type(v: &Value) -> &'static str {
    v.type_name()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int64",
        Value::GoInt(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Obj(_) => "struct",
    }
}

fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

/// Deep equality as `reflect.DeepEqual` on the value model.
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::GoInt(x), Value::GoInt(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => false,
    }
}

#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::GoInt(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn go_eq(a: &Value, rest: &[Value]) -> Result<bool, FnError> {
    if rest.is_empty() {
        return Err(FnError::Call("missing argument for comparison".into()));
    }
    let k1 = basic_kind(a);
    for b in rest {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                return Err(FnError::Call("incompatible types for comparison".into()));
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x) | Value::GoInt(x), Value::Int(y) | Value::GoInt(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Nil, _) | (_, Value::Nil) => false,
                _ => {
                    return Err(FnError::Call(format!(
                        "non-comparable type {}: {}",
                        b.to_go_string(),
                        b.type_name()
                    )));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn go_lt(a: &Value, b: &Value) -> Result<bool, FnError> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Other || k2 == Kind::Other || k1 == Kind::Bool || k2 == Kind::Bool {
        return Err(FnError::Call("invalid type for comparison".into()));
    }
    if k1 != k2 {
        return Err(FnError::Call("incompatible types for comparison".into()));
    }
    Ok(match (a, b) {
        (Value::Int(x) | Value::GoInt(x), Value::Int(y) | Value::GoInt(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => false,
    })
}

fn index_value(item: &Value, idx: &[Value]) -> F {
    let mut cur = item.clone();
    for ix in idx {
        cur = match &cur {
            Value::Map(mm) => match ix {
                Value::Str(k) => mm.borrow().get(k).cloned().unwrap_or(Value::Nil),
                Value::Nil => {
                    return Err(FnError::Call(
                        "value is nil; should be of type string".into(),
                    ));
                }
                other => {
                    return Err(FnError::Call(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    )));
                }
            },
            Value::List(l) => {
                let n = match ix {
                    Value::Int(n) | Value::GoInt(n) => *n,
                    Value::Nil => {
                        return Err(FnError::Call("cannot index slice/array with nil".into()));
                    }
                    other => {
                        return Err(FnError::Call(format!(
                            "cannot index slice/array with type {}",
                            other.type_name()
                        )));
                    }
                };
                if n < 0 || n as usize >= l.len() {
                    return Err(FnError::Call(format!(
                        "error calling index: index out of range: {n}"
                    )));
                }
                l[n as usize].clone()
            }
            Value::Str(st) => {
                let n = to_i64(ix);
                match st.as_bytes().get(n as usize) {
                    Some(b) if n >= 0 => Value::Int(i64::from(*b)),
                    _ => {
                        return Err(FnError::Call(format!(
                            "error calling index: index out of range: {n}"
                        )));
                    }
                }
            }
            Value::Nil => return Err(FnError::Call("index of untyped nil".into())),
            other => {
                return Err(FnError::Call(format!(
                    "can't index item of type {}",
                    other.type_name()
                )));
            }
        };
    }
    Ok(cur)
}

fn merge_into(dst: &MapRef, src: &MapRef, overwrite: bool) {
    if Rc::ptr_eq(dst, src) {
        return;
    }
    let src = src.borrow().clone();
    let mut d = dst.borrow_mut();
    for (k, sv) in src {
        let dv = d.get(&k).cloned();
        match (&sv, &dv) {
            (Value::Nil, _) => {
                if overwrite {
                    d.insert(k, sv);
                }
            }
            (Value::Map(sm), Some(Value::Map(dm))) => {
                let dm = dm.clone();
                drop(d);
                merge_into(&dm, sm, overwrite);
                d = dst.borrow_mut();
            }
            _ => {
                if overwrite || dv.is_none() || dv.as_ref().is_some_and(is_empty) {
                    d.insert(k, sv);
                }
            }
        }
    }
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn indent(n: i64, text: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    let mut out = pad.clone();
    out.push_str(&text.replace('\n', &format!("\n{pad}")));
    out
}

/// Refuses an `indent` whose result would pass the renderer's size limit.
fn indent_fits(n: i64, text: &str) -> Result<(), FnError> {
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let pad = usize::try_from(n).unwrap_or(0);
    super::limits::size_checked(pad.saturating_mul(lines).saturating_add(text.len()))
        .map_err(FnError::Call)
}

fn re(pat: &str) -> Result<regex::Regex, FnError> {
    regex::Regex::new(pat).map_err(|e| FnError::Call(format!("error parsing regexp: {e}")))
}

/// Go's regexp replacement template: `$1`, `${name}` → Rust's `${1}` forms are the same syntax.
fn rand_string(n: i64, set: &[u8]) -> String {
    use rand::Rng;
    // Past the size limit the string is cut short; the executor reports the tripped limit.
    let n = if super::limits::size_ok(usize::try_from(n).unwrap_or(0)) {
        n
    } else {
        0
    };
    let mut r = rand::rng();
    (0..n.max(0))
        .map(|_| set[r.random_range(0..set.len())] as char)
        .collect()
}

fn semver_compare(constraint: &str, version: &str) -> Result<bool, FnError> {
    let v = super::semver::Version::parse(version)
        .map_err(|e| FnError::Call(format!("failed to parse semver: {e}")))?;
    let c = super::semver::Constraint::parse(constraint)
        .map_err(|e| FnError::Call(format!("failed to parse semver constraint: {e}")))?;
    Ok(c.matches(&v))
}

/// Calls function `name`.
pub fn call(ex: &mut Exec, name: &str, a: &[Value], dot: &Value) -> F {
    let _ = dot;
    if let Some(r) = super::sprig::call(name, a) {
        return r;
    }
    let str_ = |v: String| Ok(Value::Str(v));
    match name {
        "not" => {
            want(name, a, 1)?;
            Ok(Value::Bool(!a[0].truthy()))
        }
        "len" => {
            want(name, a, 1)?;
            match &a[0] {
                Value::Str(s) => Ok(Value::GoInt(s.len() as i64)),
                Value::List(l) => Ok(Value::GoInt(l.len() as i64)),
                Value::Map(m) => Ok(Value::GoInt(m.borrow().len() as i64)),
                Value::Nil => Err(FnError::Call("len of nil pointer".into())),
                o => Err(FnError::Call(format!("len of type {}", o.type_name()))),
            }
        }
        "index" => {
            want_min(name, a, 1)?;
            index_value(&a[0], &a[1..]).map_err(|e| match e {
                FnError::Call(m) => FnError::Call(m.trim_start_matches("error calling index: ").to_string()),
                o => o,
            })
        }
        "slice" | "mustSlice" => {
            want_min(name, a, 1)?;
            let idx: Vec<i64> = a[1..].iter().map(to_i64).collect();
            match &a[0] {
                Value::Str(_) => Err(FnError::Call(
                    "list should be type of slice or array but string".into(),
                )),
                Value::List(l) => {
                    let lo = idx.first().copied().unwrap_or(0).max(0) as usize;
                    let hi = idx.get(1).map_or(l.len(), |h| *h as usize);
                    if lo > hi || hi > l.len() {
                        return Err(FnError::Call(format!("index out of range: {hi}")));
                    }
                    Ok(Value::list(l[lo..hi].to_vec()))
                }
                Value::Nil => Err(FnError::Call("slice of untyped nil".into())),
                o => Err(FnError::Call(format!("can't slice item of type {}", o.type_name()))),
            }
        }
        "print" => str_(sprint(a)),
        "println" => str_(sprintln(a)),
        "printf" => {
            want_min(name, a, 1)?;
            str_(sprintf(&s(&a[0])?, &a[1..]))
        }
        "html" => str_(
            sprint(a).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;").replace('\'', "&#39;"),
        ),
        "js" => {
            let mut out = String::new();
            for c in sprint(a).chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '"' => out.push_str("\\\""),
                    '<' => out.push_str("\\u003C"),
                    '>' => out.push_str("\\u003E"),
                    '&' => out.push_str("\\u0026"),
                    '=' => out.push_str("\\u003D"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            str_(out)
        }
        "urlquery" => {
            let mut out = String::new();
            for b in sprint(a).bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                    b' ' => out.push('+'),
                    b => out.push_str(&format!("%{b:02X}")),
                }
            }
            str_(out)
        }
        "eq" => {
            want_min(name, a, 1)?;
            Ok(Value::Bool(go_eq(&a[0], &a[1..])?))
        }
        "ne" => {
            want(name, a, 2)?;
            Ok(Value::Bool(!go_eq(&a[0], &a[1..])?))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, a, 2)?;
            let lt = go_lt(&a[0], &a[1])?;
            let eq = !lt && go_eq(&a[0], &a[1..])?;
            Ok(Value::Bool(match name {
                "lt" => lt,
                "le" => lt || eq,
                "gt" => !lt && !eq,
                _ => !lt,
            }))
        }
        "call" => Err(FnError::Call("call of non-function".into())),

        // --- Helm ---
        "include" => {
            want(name, a, 2)?;
            let tname = s(&a[0])?;
            let n = ex.include_counts.get(&tname).copied().unwrap_or(0);
            if n > INCLUDE_LIMIT {
                return Err(FnError::Call(format!("rendering template has a nested reference name: {tname}: unable to execute template")));
            }
            ex.include_counts.insert(tname.clone(), n + 1);
            let r = ex.execute_named(&tname, &a[1]);
            if let Some(c) = ex.include_counts.get_mut(&tname) {
                *c -= 1;
            }
            r.map(Value::Str).map_err(FnError::Call)
        }
        "tpl" => {
            want(name, a, 2)?;
            let text = s(&a[0])?;
            let data = &a[1];
            // Helm v4 parses tpl text as a template named "gotpl" in a clone of the set.
            let tname = "gotpl".to_string();
            if ex.tpl_depth > INCLUDE_LIMIT {
                return Err(FnError::Call("rendering template has a nested reference name: tpl: unable to execute template".into()));
            }
            let trees = super::parse::parse(&tname, &text, &is_func)
                .map_err(|e| FnError::Call(format!("cannot parse template {text:?}: {e}")))?;
            let mut set = Templates {
                trees: HashMap::new(),
                strict: ex.t.strict,
            };
            for t in trees {
                // As `Templates::add`: an empty define keeps an existing definition.
                if t.root.is_empty() && t.name != tname && ex.lookup(&t.name).is_some() {
                    continue;
                }
                set.trees.insert(t.name.clone(), t);
            }
            let mut sub = Exec::new(ex.t, std::mem::take(&mut ex.include_counts), ex.tpl_depth + 1);
            sub.overlays = ex.overlays.iter().copied().chain([&set]).collect();
            let r = sub.execute_named(&tname, data);
            ex.include_counts = sub.take_counts();
            let out = r.map_err(|e| FnError::Call(format!("error during tpl function execution for {text:?}: {e}")))?;
            str_(out.replace("<no value>", ""))
        }
        "required" => {
            want(name, a, 2)?;
            let msg = s(&a[0])?;
            match &a[1] {
                Value::Nil => Err(FnError::Call(helm_wrap(&msg))),
                Value::Str(x) if x.is_empty() => Err(FnError::Call(helm_wrap(&msg))),
                v => Ok(v.clone()),
            }
        }
        "fail" => {
            want(name, a, 1)?;
            Err(FnError::Call(helm_wrap(&s(&a[0])?)))
        }
        "toYaml" | "mustToYaml" | "toYamlPretty" => {
            want(name, a, 1)?;
            str_(yaml::to_yaml(&a[0]).trim_end_matches('\n').to_string())
        }
        "fromYaml" => {
            want(name, a, 1)?;
            let text = s(&a[0])?;
            match yaml::parse_yaml(&text) {
                Ok(Value::Map(mm)) => Ok(Value::Map(mm)),
                Ok(Value::Nil) => Ok(Value::new_map()),
                Ok(_) => Ok(Value::map_from(BTreeMap::from([(
                    "Error".to_string(),
                    Value::Str("error unmarshaling JSON: json: cannot unmarshal into Go value of type map[string]interface {}".into()),
                )]))),
                Err(e) => Ok(Value::map_from(BTreeMap::from([("Error".to_string(), Value::Str(e.0))]))),
            }
        }
        "fromYamlArray" => {
            want(name, a, 1)?;
            match yaml::parse_yaml(&s(&a[0])?) {
                Ok(Value::List(l)) => Ok(Value::List(l)),
                Ok(Value::Nil) => Ok(Value::list(Vec::new())),
                Ok(_) => Ok(Value::list(vec![Value::Str("error unmarshaling JSON: cannot unmarshal into []interface {}".into())])),
                Err(e) => Ok(Value::list(vec![Value::Str(e.0)])),
            }
        }
        "toJson" | "mustToJson" => {
            want(name, a, 1)?;
            str_(yaml::to_json(&a[0], true))
        }
        "toRawJson" | "mustToRawJson" => {
            want(name, a, 1)?;
            str_(yaml::to_json(&a[0], false))
        }
        "toPrettyJson" | "mustToPrettyJson" => {
            want(name, a, 1)?;
            str_(yaml::to_pretty_json(&a[0]))
        }
        "fromJson" | "fromJsonArray" => {
            want(name, a, 1)?;
            let text = s(&a[0])?;
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(j) => Ok(Value::from_json(&j, false)),
                Err(e) if name == "fromJson" => Ok(Value::map_from(BTreeMap::from([("Error".to_string(), Value::Str(e.to_string()))]))),
                Err(e) => Ok(Value::list(vec![Value::Str(e.to_string())])),
            }
        }
        "lookup" => Ok(Value::new_map()),

        // --- sprig: defaults and logic ---
        "default" => {
            want_min(name, a, 1)?;
            if a.len() < 2 || is_empty(&a[1]) { Ok(a[0].clone()) } else { Ok(a[1].clone()) }
        }
        "empty" => {
            want(name, a, 1)?;
            Ok(Value::Bool(is_empty(&a[0])))
        }
        "coalesce" => Ok(a.iter().find(|v| !is_empty(v)).cloned().unwrap_or(Value::Nil)),
        "ternary" => {
            want(name, a, 3)?;
            let c = match &a[2] {
                Value::Bool(b) => *b,
                o => return Err(FnError::Arg(format!("wrong type for value; expected bool; got {}", o.type_name()))),
            };
            Ok(if c { a[0].clone() } else { a[1].clone() })
        }
        "kindOf" => Ok(Value::Str(kind_of(a.first().unwrap_or(&Value::Nil)).into())),
        "kindIs" => {
            want(name, a, 2)?;
            Ok(Value::Bool(s(&a[0])? == kind_of(&a[1])))
        }
        "typeOf" => Ok(Value::Str(a.first().unwrap_or(&Value::Nil).type_name().into())),
        "typeIs" => {
            want(name, a, 2)?;
            Ok(Value::Bool(s(&a[0])? == a[1].type_name()))
        }
        "deepEqual" => {
            want(name, a, 2)?;
            Ok(Value::Bool(deep_equal(&a[0], &a[1])))
        }
        "deepCopy" | "mustDeepCopy" => {
            want(name, a, 1)?;
            Ok(a[0].deep_copy())
        }

        // --- strings ---
        "quote" => str_(a.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| go_quote(&strval(v))).collect::<Vec<_>>().join(" ")),
        "squote" => str_(a.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| format!("'{}'", strval(v))).collect::<Vec<_>>().join(" ")),
        "cat" => str_(a.iter().filter(|v| !matches!(v, Value::Nil)).map(strval).collect::<Vec<_>>().join(" ")),
        "indent" => {
            want(name, a, 2)?;
            let (n, text) = (i(&a[0])?, s(&a[1])?);
            indent_fits(n, &text)?;
            str_(indent(n, &text))
        }
        "nindent" => {
            want(name, a, 2)?;
            let (n, text) = (i(&a[0])?, s(&a[1])?);
            indent_fits(n, &text)?;
            str_(format!("\n{}", indent(n, &text)))
        }
        "trim" => {
            want(name, a, 1)?;
            str_(s(&a[0])?.trim().to_string())
        }
        "trimAll" => {
            want(name, a, 2)?;
            let cut: Vec<char> = s(&a[0])?.chars().collect();
            str_(s(&a[1])?.trim_matches(|c| cut.contains(&c)).to_string())
        }
        "trimPrefix" => {
            want(name, a, 2)?;
            let (p, x) = (s(&a[0])?, s(&a[1])?);
            str_(x.strip_prefix(p.as_str()).unwrap_or(&x).to_string())
        }
        "trimSuffix" => {
            want(name, a, 2)?;
            let (p, x) = (s(&a[0])?, s(&a[1])?);
            str_(x.strip_suffix(p.as_str()).unwrap_or(&x).to_string())
        }
        "upper" => {
            want(name, a, 1)?;
            str_(s(&a[0])?.to_uppercase())
        }
        "lower" => {
            want(name, a, 1)?;
            str_(s(&a[0])?.to_lowercase())
        }
        "title" => {
            want(name, a, 1)?;
            str_(title(&s(&a[0])?))
        }
        "untitle" => {
            want(name, a, 1)?;
            let x = s(&a[0])?;
            let mut out = String::new();
            let mut prev = false;
            for c in x.chars() {
                if !prev { out.extend(c.to_lowercase()) } else { out.push(c) }
                prev = !c.is_whitespace();
            }
            str_(out)
        }
        "replace" => {
            want(name, a, 3)?;
            str_(s(&a[2])?.replace(&s(&a[0])?, &s(&a[1])?))
        }
        "contains" => {
            want(name, a, 2)?;
            Ok(Value::Bool(s(&a[1])?.contains(&s(&a[0])?)))
        }
        "hasPrefix" => {
            want(name, a, 2)?;
            Ok(Value::Bool(s(&a[1])?.starts_with(&s(&a[0])?)))
        }
        "hasSuffix" => {
            want(name, a, 2)?;
            Ok(Value::Bool(s(&a[1])?.ends_with(&s(&a[0])?)))
        }
        "repeat" => {
            want(name, a, 2)?;
            let n = i(&a[0])?;
            if !(0..=1_000_000).contains(&n) {
                return Err(FnError::Call("strings: negative Repeat count".into()));
            }
            let text = s(&a[1])?;
            super::limits::size_checked(text.len().saturating_mul(n as usize)).map_err(FnError::Call)?;
            str_(text.repeat(n as usize))
        }
        "substr" => {
            want(name, a, 3)?;
            let (st, en, x) = (i(&a[0])?, i(&a[1])?, s(&a[2])?);
            let b = x.as_bytes();
            let r = if st < 0 {
                &b[..(en.max(0) as usize).min(b.len())]
            } else if en < 0 || en as usize > b.len() {
                &b[(st as usize).min(b.len())..]
            } else {
                &b[(st as usize).min(en as usize)..en as usize]
            };
            str_(String::from_utf8_lossy(r).into_owned())
        }
        "nospace" => {
            want(name, a, 1)?;
            str_(s(&a[0])?.chars().filter(|c| !c.is_whitespace()).collect())
        }
        "trunc" => {
            want(name, a, 2)?;
            let (c, x) = (i(&a[0])?, s(&a[1])?);
            let n = x.len() as i64;
            if c < 0 && n + c > 0 {
                return str_(x.get((n + c) as usize..).unwrap_or("").to_string());
            }
            if c >= 0 && n > c {
                return str_(x.get(..c as usize).unwrap_or(&x).to_string());
            }
            str_(x)
        }
        "abbrev" => {
            want(name, a, 2)?;
            let (w, x) = (i(&a[0])?, s(&a[1])?);
            if w < 4 || x.len() as i64 <= w {
                return str_(x);
            }
            str_(format!("{}...", &x[..(w - 3) as usize]))
        }
        "initials" => {
            want(name, a, 1)?;
            str_(s(&a[0])?.split_whitespace().filter_map(|w| w.chars().next()).collect())
        }
        "snakecase" | "kebabcase" => {
            want(name, a, 1)?;
            let sep = if name == "snakecase" { '_' } else { '-' };
            let x = s(&a[0])?;
            let mut out = String::new();
            let chars: Vec<char> = x.chars().collect();
            for (k, &c) in chars.iter().enumerate() {
                if c.is_uppercase() {
                    if k > 0 && (chars[k - 1].is_lowercase() || chars.get(k + 1).is_some_and(|n| n.is_lowercase()) && chars[k - 1].is_uppercase()) {
                        out.push(sep);
                    }
                    out.extend(c.to_lowercase());
                } else if c == ' ' || c == '-' || c == '_' {
                    out.push(sep);
                } else {
                    out.push(c);
                }
            }
            str_(out)
        }
        "camelcase" => {
            want(name, a, 1)?;
            str_(s(&a[0])?.split(['_', ' ', '-']).filter(|p| !p.is_empty()).map(title).collect())
        }
        "swapcase" => {
            want(name, a, 1)?;
            str_(s(&a[0])?.chars().map(|c| if c.is_uppercase() { c.to_lowercase().collect::<String>() } else { c.to_uppercase().collect() }).collect())
        }
        "plural" => {
            want(name, a, 3)?;
            Ok(if i(&a[2])? == 1 { Value::Str(s(&a[0])?) } else { Value::Str(s(&a[1])?) })
        }
        "toString" => {
            want(name, a, 1)?;
            str_(strval(&a[0]))
        }
        "toStrings" => {
            want(name, a, 1)?;
            Ok(Value::list(strslice(&a[0]).into_iter().map(Value::Str).collect()))
        }
        "join" => {
            want(name, a, 2)?;
            str_(strslice(&a[1]).join(&s(&a[0])?))
        }
        "split" => {
            want(name, a, 2)?;
            let (sep, x) = (s(&a[0])?, s(&a[1])?);
            let parts: Vec<&str> = if sep.is_empty() { x.split("").filter(|p| !p.is_empty()).collect() } else { x.split(sep.as_str()).collect() };
            Ok(Value::map_from(parts.iter().enumerate().map(|(k, p)| (format!("_{k}"), Value::Str((*p).to_string()))).collect()))
        }
        "splitn" => {
            want(name, a, 3)?;
            let (sep, n, x) = (s(&a[0])?, i(&a[1])?, s(&a[2])?);
            let parts: Vec<&str> = x.splitn(n.max(0) as usize, sep.as_str()).collect();
            Ok(Value::map_from(parts.iter().enumerate().map(|(k, p)| (format!("_{k}"), Value::Str((*p).to_string()))).collect()))
        }
        "splitList" => {
            want(name, a, 2)?;
            let (sep, x) = (s(&a[0])?, s(&a[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                x.chars().map(|c| Value::Str(c.to_string())).collect()
            } else {
                x.split(sep.as_str()).map(|p| Value::Str(p.to_string())).collect()
            };
            Ok(Value::list(parts))
        }
        "b64enc" => {
            want(name, a, 1)?;
            str_(base64::engine::general_purpose::STANDARD.encode(s(&a[0])?))
        }
        "b64dec" => {
            want(name, a, 1)?;
            match base64::engine::general_purpose::STANDARD.decode(s(&a[0])?) {
                Ok(b) => str_(String::from_utf8_lossy(&b).into_owned()),
                Err(e) => str_(e.to_string()),
            }
        }
        "sha256sum" => {
            want(name, a, 1)?;
            let d = sha2::Sha256::digest(s(&a[0])?.as_bytes());
            str_(d.iter().map(|b| format!("{b:02x}")).collect())
        }
        "base" | "dir" | "ext" | "clean" | "isAbs" => {
            want(name, a, 1)?;
            let p = s(&a[0])?;
            Ok(match name {
                "base" => Value::Str(if p.is_empty() { ".".into() } else { p.trim_end_matches('/').rsplit('/').next().filter(|x| !x.is_empty()).unwrap_or("/").to_string() }),
                "dir" => Value::Str(match p.rfind('/') {
                    Some(0) => "/".into(),
                    Some(k) => p[..k].to_string(),
                    None => ".".into(),
                }),
                "ext" => Value::Str(p.rsplit('/').next().and_then(|b| b.rfind('.').map(|k| b[k..].to_string())).unwrap_or_default()),
                "isAbs" => Value::Bool(p.starts_with('/')),
                _ => Value::Str(p),
            })
        }

        // --- numbers ---
        "int" | "int64" => {
            want(name, a, 1)?;
            let n = to_i64(&a[0]);
            Ok(if name == "int" { Value::GoInt(n) } else { Value::Int(n) })
        }
        "float64" => {
            want(name, a, 1)?;
            Ok(Value::Float(to_f64(&a[0])))
        }
        "atoi" => {
            want(name, a, 1)?;
            Ok(Value::GoInt(s(&a[0])?.parse().unwrap_or(0)))
        }
        "add" => Ok(Value::Int(a.iter().map(to_i64).fold(0i64, i64::wrapping_add))),
        "add1" => {
            want(name, a, 1)?;
            Ok(Value::Int(to_i64(&a[0]).wrapping_add(1)))
        }
        "sub" | "mul" | "div" | "mod" => {
            let (x, y) = if name == "mul" {
                want_min(name, a, 1)?;
                return Ok(Value::Int(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul)));
            } else {
                want(name, a, 2)?;
                (to_i64(&a[0]), to_i64(&a[1]))
            };
            match name {
                "sub" => Ok(Value::Int(x.wrapping_sub(y))),
                _ if y == 0 => Err(FnError::Call("runtime error: integer divide by zero".into())),
                "div" => Ok(Value::Int(x.wrapping_div(y))),
                _ => Ok(Value::Int(x.wrapping_rem(y))),
            }
        }
        "max" | "min" | "biggest" => {
            want_min(name, a, 1)?;
            let it = a.iter().map(to_i64);
            Ok(Value::Int(if name == "min" { it.min().unwrap_or(0) } else { it.max().unwrap_or(0) }))
        }
        "maxf" | "minf" => {
            want_min(name, a, 1)?;
            let vals: Vec<f64> = a.iter().map(to_f64).collect();
            let first = vals[0];
            let r = vals[1..].iter().fold(first, |acc, v| match name {
                "addf" => acc + v,
                "subf" => acc - v,
                "mulf" => acc * v,
                "divf" => acc / v,
                "maxf" => acc.max(*v),
                _ => acc.min(*v),
            });
            Ok(Value::Float(r))
        }
        "floor" | "ceil" => {
            want(name, a, 1)?;
            let f = to_f64(&a[0]);
            Ok(Value::Float(if name == "floor" { f.floor() } else { f.ceil() }))
        }
        "round" => {
            want_min(name, a, 2)?;
            let (f, p) = (to_f64(&a[0]), to_i64(&a[1]));
            let m = 10f64.powi(p as i32);
            Ok(Value::Float((f * m).round() / m))
        }
        "until" => {
            want(name, a, 1)?;
            let n = i(&a[0])?;
            let v: Vec<Value> = if n >= 0 { (0..n.min(1_000_000)).map(Value::GoInt).collect() } else { (n.max(-1_000_000) + 1..=0).rev().map(Value::GoInt).collect() };
            Ok(Value::list(v))
        }
        "untilStep" => {
            want(name, a, 3)?;
            let (st, stop, step) = (i(&a[0])?, i(&a[1])?, i(&a[2])?);
            let mut v = Vec::new();
            let mut k = st;
            if step > 0 {
                while k < stop && v.len() < 1_000_000 {
                    v.push(Value::GoInt(k));
                    k += step;
                }
            } else if step < 0 {
                while k > stop && v.len() < 1_000_000 {
                    v.push(Value::GoInt(k));
                    k += step;
                }
            }
            Ok(Value::list(v))
        }
        "seq" => {
            let p: Vec<i64> = a.iter().map(i).collect::<Result<_, _>>()?;
            let (st, step, end) = match p.as_slice() {
                [] => return str_(String::new()),
                [e] => (1, if *e >= 1 { 1 } else { -1 }, *e),
                [s0, e] => (*s0, if e >= s0 { 1 } else { -1 }, *e),
                [s0, st, e, ..] => (*s0, *st, *e),
            };
            let mut out = Vec::new();
            let mut k = st;
            if step == 0 {
                return str_(String::new());
            }
            while ((step > 0 && k <= end) || (step < 0 && k >= end)) && out.len() < 1_000_000 {
                out.push(k.to_string());
                k += step;
            }
            str_(out.join(" "))
        }

        // --- lists ---
        "list" | "tuple" => Ok(Value::list(a.to_vec())),
        "first" | "mustFirst" => {
            want(name, a, 1)?;
            Ok(list_of(name, &a[0])?.first().cloned().unwrap_or(Value::Nil))
        }
        "last" | "mustLast" => {
            want(name, a, 1)?;
            Ok(list_of(name, &a[0])?.last().cloned().unwrap_or(Value::Nil))
        }
        "rest" | "mustRest" => {
            want(name, a, 1)?;
            let l = list_of(name, &a[0])?;
            Ok(if l.is_empty() { Value::Nil } else { Value::list(l[1..].to_vec()) })
        }
        "initial" | "mustInitial" => {
            want(name, a, 1)?;
            let l = list_of(name, &a[0])?;
            Ok(if l.is_empty() { Value::Nil } else { Value::list(l[..l.len() - 1].to_vec()) })
        }
        "append" | "push" | "mustAppend" | "mustPush" => {
            want(name, a, 2)?;
            let mut l = list_of("append", &a[0])?.to_vec();
            l.push(a[1].clone());
            Ok(Value::list(l))
        }
        "prepend" | "mustPrepend" => {
            want(name, a, 2)?;
            let mut l = vec![a[1].clone()];
            l.extend(list_of("prepend", &a[0])?.iter().cloned());
            Ok(Value::list(l))
        }
        "concat" => {
            let mut l = Vec::new();
            for x in a {
                l.extend(list_of("concat", x)?.iter().cloned());
            }
            Ok(Value::list(l))
        }
        "uniq" | "mustUniq" => {
            want(name, a, 1)?;
            let mut out: Vec<Value> = Vec::new();
            for x in list_of("uniq", &a[0])?.iter() {
                if !out.iter().any(|y| deep_equal(x, y)) {
                    out.push(x.clone());
                }
            }
            Ok(Value::list(out))
        }
        "without" | "mustWithout" => {
            want_min(name, a, 1)?;
            let out: Vec<Value> = list_of("without", &a[0])?.iter().filter(|x| !a[1..].iter().any(|y| deep_equal(x, y))).cloned().collect();
            Ok(Value::list(out))
        }
        "has" | "mustHas" => {
            want(name, a, 2)?;
            Ok(Value::Bool(list_of("has", &a[1])?.iter().any(|x| deep_equal(x, &a[0]))))
        }
        "reverse" | "mustReverse" => {
            want(name, a, 1)?;
            let mut l = list_of("reverse", &a[0])?.to_vec();
            l.reverse();
            Ok(Value::list(l))
        }
        "compact" | "mustCompact" => {
            want(name, a, 1)?;
            Ok(Value::list(list_of("compact", &a[0])?.iter().filter(|x| !is_empty(x)).cloned().collect()))
        }
        "sortAlpha" => {
            want(name, a, 1)?;
            let mut l = strslice(&a[0]);
            l.sort();
            Ok(Value::list(l.into_iter().map(Value::Str).collect()))
        }

        // --- dicts ---
        "dict" => {
            let mut map = BTreeMap::new();
            for pair in a.chunks(2) {
                let k = strval(&pair[0]);
                map.insert(k, pair.get(1).cloned().unwrap_or(Value::Str(String::new())));
            }
            Ok(Value::map_from(map))
        }
        "get" => {
            want(name, a, 2)?;
            Ok(m(&a[0])?.borrow().get(&s(&a[1])?).cloned().unwrap_or(Value::Str(String::new())))
        }
        "set" => {
            want(name, a, 3)?;
            let mm = m(&a[0])?;
            mm.borrow_mut().insert(s(&a[1])?, a[2].clone());
            Ok(Value::Map(mm))
        }
        "unset" => {
            want(name, a, 2)?;
            let mm = m(&a[0])?;
            mm.borrow_mut().remove(&s(&a[1])?);
            Ok(Value::Map(mm))
        }
        "hasKey" => {
            want(name, a, 2)?;
            Ok(Value::Bool(m(&a[0])?.borrow().contains_key(&s(&a[1])?)))
        }
        "keys" => {
            let mut ks = Vec::new();
            for x in a {
                ks.extend(m(x)?.borrow().keys().cloned());
            }
            Ok(Value::list(ks.into_iter().map(Value::Str).collect()))
        }
        "values" => {
            want(name, a, 1)?;
            Ok(Value::list(m(&a[0])?.borrow().values().cloned().collect()))
        }
        "pick" | "omit" => {
            want_min(name, a, 1)?;
            let mm = m(&a[0])?;
            let ks: Vec<String> = a[1..].iter().map(s).collect::<Result<_, _>>()?;
            let out: BTreeMap<String, Value> =
                mm.borrow().iter().filter(|(k, _)| ks.contains(k) == (name == "pick")).map(|(k, v)| (k.clone(), v.clone())).collect();
            Ok(Value::map_from(out))
        }
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => {
            want_min(name, a, 1)?;
            let dst = m(&a[0])?;
            for src in &a[1..] {
                let src = m(src)?;
                merge_into(&dst, &src, name.contains("Overwrite"));
            }
            Ok(Value::Map(dst))
        }
        "pluck" => {
            want_min(name, a, 1)?;
            let k = s(&a[0])?;
            let mut out = Vec::new();
            for d in &a[1..] {
                if let Some(v) = m(d)?.borrow().get(&k) {
                    out.push(v.clone());
                }
            }
            Ok(Value::list(out))
        }
        "dig" => {
            want_min(name, a, 3)?;
            let n = a.len();
            let mut cur = Value::Map(m(&a[n - 1])?);
            let default = a[n - 2].clone();
            for k in &a[..n - 2] {
                let k = s(k)?;
                let next = match &cur {
                    Value::Map(mm) => mm.borrow().get(&k).cloned(),
                    _ => None,
                };
                match next {
                    Some(v) => cur = v,
                    None => return Ok(default),
                }
            }
            Ok(cur)
        }

        // --- regex ---
        "regexMatch" | "mustRegexMatch" => {
            want(name, a, 2)?;
            Ok(Value::Bool(re(&s(&a[0])?)?.is_match(&s(&a[1])?)))
        }
        "regexFind" => {
            want(name, a, 2)?;
            str_(re(&s(&a[0])?)?.find(&s(&a[1])?).map(|x| x.as_str().to_string()).unwrap_or_default())
        }
        "regexFindAll" => {
            want(name, a, 3)?;
            let r = re(&s(&a[0])?)?;
            let text = s(&a[1])?;
            let n = i(&a[2])?;
            let it = r.find_iter(&text).map(|x| Value::Str(x.as_str().to_string()));
            Ok(Value::list(if n < 0 { it.collect() } else { it.take(n as usize).collect() }))
        }
        "regexReplaceAll" => {
            want(name, a, 3)?;
            let r = re(&s(&a[0])?)?;
            str_(r.replace_all(&s(&a[1])?, s(&a[2])?.as_str()).into_owned())
        }
        "regexReplaceAllLiteral" => {
            want(name, a, 3)?;
            let r = re(&s(&a[0])?)?;
            str_(r.replace_all(&s(&a[1])?, regex::NoExpand(&s(&a[2])?)).into_owned())
        }
        "regexSplit" => {
            want(name, a, 3)?;
            let r = re(&s(&a[0])?)?;
            let text = s(&a[1])?;
            let n = i(&a[2])?;
            Ok(Value::list(super::sprig::regex_split(&r, &text, n)))
        }
        "semverCompare" => {
            want(name, a, 2)?;
            Ok(Value::Bool(semver_compare(&s(&a[0])?, &s(&a[1])?)?))
        }

        // --- random / time ---
        "uuidv4" => str_(uuid::Uuid::new_v4().to_string()),
        "randAlphaNum" => str_(rand_string(i(&a[0])?, b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
        "randAlpha" => str_(rand_string(i(&a[0])?, b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")),
        "randNumeric" => str_(rand_string(i(&a[0])?, b"0123456789")),
        "randAscii" => str_(rand_string(i(&a[0])?, b"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~")),
        _ => Err(FnError::Call(format!("function {name:?} not defined"))),
    }
}

/// Formats a float as `%v` (re-exported for chart code).
pub fn float_v(f: f64) -> String {
    format_float_g(f, None)
}
