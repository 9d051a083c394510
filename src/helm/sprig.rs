//! The rest of sprig's function map: dates, encodings and hashes, URLs, crypto, semver objects,
//! decimal float arithmetic, and the less common string/list helpers. [`call`] answers `None` for
//! names it does not own, so [`super::funcs::call`] handles them.

use super::crypto::{self, Certificate, PrivKey};
use super::funcs::{FnError, is_empty, strval, to_f64};
use super::gotime::{GoTime, duration_string, parse_duration};
use super::value::{Object, Value};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::rc::Rc;

type F = Result<Value, FnError>;

/// Names this module implements (beyond the core list in `funcs`).
pub const NAMES: &[&str] = &[
    "abbrevboth",
    "add1f",
    "addf",
    "subf",
    "mulf",
    "divf",
    "all",
    "any",
    "bcrypt",
    "buildCustomCert",
    "date",
    "dateInZone",
    "date_in_zone",
    "dateModify",
    "date_modify",
    "mustDateModify",
    "must_date_modify",
    "decryptAES",
    "encryptAES",
    "derivePassword",
    "duration",
    "durationRound",
    "ago",
    "now",
    "toDate",
    "mustToDate",
    "htmlDate",
    "htmlDateInZone",
    "unixEpoch",
    "fromToml",
    "toToml",
    "genCA",
    "genCAWithKey",
    "genPrivateKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "hello",
    "htpasswd",
    "mustFromJson",
    "mustRegexFind",
    "mustRegexFindAll",
    "mustRegexReplaceAll",
    "mustRegexReplaceAllLiteral",
    "mustRegexSplit",
    "randBytes",
    "randInt",
    "sha1sum",
    "sha512sum",
    "adler32sum",
    "b32enc",
    "b32dec",
    "trimall",
    "typeIsLike",
    "wrap",
    "wrapWith",
    "urlParse",
    "urlJoin",
    "regexQuoteMeta",
    "toDecimal",
    "chunk",
    "mustChunk",
    "shuffle",
    "getHostByName",
    "osBase",
    "osDir",
    "osExt",
    "osClean",
    "osIsAbs",
    "clean",
    "semver",
];

fn want(name: &str, a: &[Value], n: usize) -> Result<(), FnError> {
    if a.len() != n {
        return Err(FnError::Arg(format!(
            "wrong number of args for {name}: want {n} got {}",
            a.len()
        )));
    }
    Ok(())
}

fn s(v: &Value) -> Result<String, FnError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Nil => Err(FnError::Arg("invalid value; expected string".into())),
        o => Err(FnError::Arg(format!(
            "wrong type for value; expected string; got {}",
            o.type_name()
        ))),
    }
}

fn int(v: &Value) -> Result<i64, FnError> {
    match v {
        Value::Int(i) | Value::GoInt(i) => Ok(*i),
        Value::Nil => Err(FnError::Arg("invalid value; expected int".into())),
        o => Err(FnError::Arg(format!(
            "wrong type for value; expected int; got {}",
            o.type_name()
        ))),
    }
}

fn time_arg(v: &Value) -> Result<GoTime, FnError> {
    match v {
        Value::Obj(o) if o.type_name() == "time.Time" => o
            .as_any()
            .and_then(|x| x.downcast_ref::<GoTime>())
            .cloned()
            .ok_or_else(|| FnError::Arg("invalid value; expected time.Time".into())),
        Value::Nil => Err(FnError::Arg("invalid value; expected time.Time".into())),
        o => Err(FnError::Arg(format!(
            "wrong type for value; expected time.Time; got {}",
            o.type_name()
        ))),
    }
}

/// A `date interface{}` argument: a time, or int/int64 Unix seconds; anything else is "now".
fn any_time(v: &Value) -> GoTime {
    match v {
        Value::Obj(o) if o.type_name() == "time.Time" => {
            time_arg(v).unwrap_or_else(|_| GoTime::now())
        }
        Value::Int(n) | Value::GoInt(n) => GoTime::unix(*n),
        _ => GoTime::now(),
    }
}

fn list_arg(v: &Value) -> Result<Vec<String>, FnError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::List(l) => l
            .iter()
            .map(|x| match x {
                Value::Str(s) => Ok(s.clone()),
                o => Err(FnError::Call(format!(
                    "error parsing ip: {} is not a string",
                    o.to_go_string()
                ))),
            })
            .collect(),
        o => Err(FnError::Arg(format!(
            "wrong type for value; expected []interface {{}}; got {}",
            o.type_name()
        ))),
    }
}

fn re(pat: &str) -> Result<regex::Regex, FnError> {
    regex::Regex::new(pat).map_err(|e| FnError::Call(format!("error parsing regexp: {e}")))
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(x: &str) -> String {
    let mut out = String::new();
    for c in x.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// goutils' `WrapCustom`.
fn wrap_custom(x: &str, width: i64, sep: &str, long_words: bool) -> String {
    if x.is_empty() {
        return String::new();
    }
    let sep = if sep.is_empty() { "\n" } else { sep };
    let w = width.max(1) as usize;
    let b = x.as_bytes();
    let n = b.len();
    let mut off = 0;
    let mut out: Vec<u8> = Vec::new();
    while n - off > w {
        if b[off] == b' ' {
            off += 1;
            continue;
        }
        let end = w + off + 1;
        match b[off..end].iter().rposition(|&c| c == b' ') {
            Some(k) => {
                out.extend(&b[off..off + k]);
                out.extend(sep.as_bytes());
                off += k + 1;
            }
            None if long_words => {
                out.extend(&b[off..off + w]);
                out.extend(sep.as_bytes());
                off += w;
            }
            None => match b[off + w..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend(&b[off..]);
                    off = n;
                }
                Some(k) => {
                    out.extend(&b[off..off + w + k]);
                    out.extend(sep.as_bytes());
                    off += w + k + 1;
                }
            },
        }
    }
    out.extend(&b[off..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// goutils' `AbbreviateFull`.
fn abbreviate_full(x: &str, offset: i64, width: i64) -> String {
    let n = x.len() as i64;
    if x.is_empty() || width < 4 || n <= width {
        return x.to_string();
    }
    let mut off = offset.min(n);
    if n - off < width - 3 {
        off = n - (width - 3);
    }
    let cut = |a: i64, b: i64| {
        x.get(a.max(0) as usize..b.max(0) as usize)
            .unwrap_or("")
            .to_string()
    };
    if off <= 4 {
        return format!("{}...", cut(0, width - 3));
    }
    if width < 7 {
        return x.to_string();
    }
    if off + width - 3 < n {
        let rest = cut(off, n);
        return format!("...{}", abbreviate_full(&rest, 0, width - 3));
    }
    format!("...{}", cut(n - (width - 3), n))
}

/// A decimal number `m × 10^e` (shopspring/decimal as sprig's float functions use it).
#[derive(Clone, Copy)]
struct Dec {
    m: i128,
    e: i32,
}

impl Dec {
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        // The shortest representation, as decimal.NewFromFloat.
        let t = format!("{f:e}");
        let (mant, exp) = t.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let (neg, mant) = mant.strip_prefix('-').map_or((false, mant), |r| (true, r));
        let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
        let digits = format!("{ip}{fp}");
        let m: i128 = digits.parse().ok()?;
        Some(Dec {
            m: if neg { -m } else { m },
            e: exp - fp.len() as i32,
        })
    }
    fn align(a: Dec, b: Dec) -> Option<(i128, i128, i32)> {
        let e = a.e.min(b.e);
        let sa = a.m.checked_mul(10i128.checked_pow((a.e - e) as u32)?)?;
        let sb = b.m.checked_mul(10i128.checked_pow((b.e - e) as u32)?)?;
        Some((sa, sb, e))
    }
    fn add(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, e) = Dec::align(a, b)?;
        Some(Dec {
            m: x.checked_add(y)?,
            e,
        })
    }
    fn sub(a: Dec, b: Dec) -> Option<Dec> {
        Dec::add(a, Dec { m: -b.m, e: b.e })
    }
    fn mul(a: Dec, b: Dec) -> Option<Dec> {
        Some(Dec {
            m: a.m.checked_mul(b.m)?,
            e: a.e + b.e,
        })
    }
    /// Division rounded (half away from zero) to 16 fractional digits, as `Decimal.Div`.
    fn div(a: Dec, b: Dec) -> Option<Dec> {
        if b.m == 0 {
            return None;
        }
        // a/b = (a.m/b.m) × 10^(a.e-b.e); scale so the quotient has 17 fractional digits.
        let shift = 17 + a.e - b.e;
        let (num, den) = if shift >= 0 {
            (a.m.checked_mul(10i128.checked_pow(shift as u32)?)?, b.m)
        } else {
            (a.m, b.m.checked_mul(10i128.checked_pow((-shift) as u32)?)?)
        };
        let q = num / den; // 17 fractional digits, truncated
        let r = num % den;
        let last = q % 10;
        let mut q16 = q / 10;
        let more = r != 0;
        let half = last.abs() > 5 || (last.abs() == 5) || (last.abs() == 5 && more);
        if half {
            q16 += if (num < 0) != (den < 0) { -1 } else { 1 };
        }
        Some(Dec { m: q16, e: -16 })
    }
    fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(f64::NAN)
    }
}

fn decimal_op(name: &str, first: f64, rest: &[f64]) -> f64 {
    let mut acc = first;
    for &v in rest {
        let exact = Dec::from_f64(acc)
            .zip(Dec::from_f64(v))
            .and_then(|(x, y)| match name {
                "add" => Dec::add(x, y),
                "sub" => Dec::sub(x, y),
                "mul" => Dec::mul(x, y),
                _ => Dec::div(x, y),
            });
        acc = match exact {
            Some(d) => d.to_f64(),
            None => match name {
                "add" => acc + v,
                "sub" => acc - v,
                "mul" => acc * v,
                _ => acc / v,
            },
        };
    }
    acc
}

/// A Masterminds `*semver.Version` inside templates.
#[derive(Debug)]
struct SemverObj(super::semver::Version);

impl Object for SemverObj {
    fn type_name(&self) -> &'static str {
        "*semver.Version"
    }
    fn display(&self) -> String {
        self.0.canonical()
    }
    fn field(&self, name: &str) -> Option<Value> {
        let (ma, mi, pa) = self.0.numbers();
        Some(match name {
            "Major" => Value::Int(ma as i64),
            "Minor" => Value::Int(mi as i64),
            "Patch" => Value::Int(pa as i64),
            "Prerelease" => Value::Str(self.0.prerelease().into()),
            "Metadata" => Value::Str(self.0.metadata().into()),
            "Original" => Value::Str(self.0.original().into()),
            "String" => Value::Str(self.0.canonical()),
            _ => return None,
        })
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if !matches!(name, "Compare" | "LessThan" | "GreaterThan" | "Equal") {
            return None;
        }
        let other = match args {
            [Value::Obj(o)] if o.type_name() == "*semver.Version" => {
                super::semver::Version::parse(&o.display()).ok()?
            }
            _ => {
                return Some(Err(format!(
                    "wrong arguments for {name}: want *semver.Version"
                )));
            }
        };
        let c = self.0.cmp(&other);
        Some(Ok(match name {
            "Compare" => Value::GoInt(c as i64),
            "LessThan" => Value::Bool(c.is_lt()),
            "GreaterThan" => Value::Bool(c.is_gt()),
            "Equal" => Value::Bool(c.is_eq()),
            _ => return None,
        }))
    }
}

fn url_escape(x: &str, keep: &str) -> String {
    let mut out = String::new();
    for b in x.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn url_unescape(x: &str) -> Result<String, String> {
    let b = x.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = x.get(i + 1..i + 3).filter(|h| h.len() == 2);
            match h.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => out.push(v),
                None => {
                    return Err(format!(
                        "invalid URL escape {}",
                        super::format::go_quote(&x[i..(i + 3).min(x.len())])
                    ));
                }
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `url.Parse`, as sprig's `urlParse` reports it.
fn url_parse(raw: &str) -> Result<BTreeMap<String, Value>, String> {
    let (rest, fragment) = match raw.split_once('#') {
        Some((a, f)) => (a, url_unescape(f)?),
        None => (raw, String::new()),
    };
    let mut scheme = "";
    let mut r = rest;
    if let Some(k) = rest.find(':') {
        let cand = &rest[..k];
        if !cand.is_empty()
            && cand.as_bytes()[0].is_ascii_alphabetic()
            && cand
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        {
            scheme = cand;
            r = &rest[k + 1..];
        } else if k == 0 {
            return Err(format!(
                "parse {}: missing protocol scheme",
                super::format::go_quote(raw)
            ));
        }
    }
    let (r, query) = match r.split_once('?') {
        Some((a, q)) => (a, q.to_string()),
        None => (r, String::new()),
    };
    let mut m = BTreeMap::new();
    let (mut opaque, mut host, mut user, mut path) =
        (String::new(), String::new(), String::new(), String::new());
    if !scheme.is_empty() && !r.starts_with('/') {
        opaque = r.to_string();
    } else if let Some(auth_rest) = r.strip_prefix("//") {
        let k = auth_rest.find('/').unwrap_or(auth_rest.len());
        let auth = &auth_rest[..k];
        let (u, h) = match auth.rfind('@') {
            Some(i) => (Some(&auth[..i]), &auth[i + 1..]),
            None => (None, auth),
        };
        if let Some(u) = u {
            user = u.to_string();
        }
        host = url_unescape(h)?;
        path = url_unescape(&auth_rest[k..])?;
    } else {
        path = url_unescape(r)?;
    }
    let hostname = if let Some(h) = host.strip_prefix('[') {
        h.split(']').next().unwrap_or("").to_string()
    } else {
        host.rsplit_once(':')
            .map_or(host.clone(), |(a, _)| a.to_string())
    };
    m.insert("scheme".into(), Value::Str(scheme.to_string()));
    m.insert("host".into(), Value::Str(host));
    m.insert("hostname".into(), Value::Str(hostname));
    m.insert("path".into(), Value::Str(path));
    m.insert("query".into(), Value::Str(query));
    m.insert("opaque".into(), Value::Str(opaque));
    m.insert("fragment".into(), Value::Str(fragment));
    m.insert("userinfo".into(), Value::Str(user));
    Ok(m)
}

/// Go's `url.URL.String()` over sprig's `urlJoin` dict.
fn url_join(d: &BTreeMap<String, Value>) -> Result<String, String> {
    let get = |k: &str| -> Result<String, String> {
        match d.get(k) {
            None => Ok(String::new()),
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(o) => Err(format!(
                "unable to parse {k} key, must be of type string, but {} found",
                kind_name(o)
            )),
        }
    };
    let (scheme, host, path, query, opaque, fragment, user) = (
        get("scheme")?,
        get("host")?,
        get("path")?,
        get("query")?,
        get("opaque")?,
        get("fragment")?,
        get("userinfo")?,
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !user.is_empty() {
            if !host.is_empty() || !path.is_empty() || !user.is_empty() {
                out.push_str("//");
            }
            if !user.is_empty() {
                out.push_str(&user);
                out.push('@');
            }
            out.push_str(&url_escape(&host, ":[]!$&'()*+,;="));
        }
        let p = url_escape(&path, "/:@!$&'()*+,;=");
        if !p.is_empty() && !p.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&p);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&url_escape(&fragment, "/?:@!$&'()*+,;="));
    }
    Ok(out)
}

fn kind_name(v: &Value) -> &'static str {
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

/// Go's `path.Clean`.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn base32_encode(data: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for k in 0..8 {
            if k < chars {
                out.push(A[((bits >> (35 - 5 * k)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(x: &str) -> Result<Vec<u8>, String> {
    let b = x.as_bytes();
    let mut out = Vec::new();
    if let Some(k) = b
        .iter()
        .position(|c| !(c.is_ascii_uppercase() || (b'2'..=b'7').contains(c) || *c == b'='))
    {
        return Err(format!("illegal base32 data at input byte {k}"));
    }
    if !b.len().is_multiple_of(8) {
        return Err(format!(
            "illegal base32 data at input byte {}",
            b.len() / 8 * 8
        ));
    }
    for (ci, chunk) in b.chunks(8).enumerate() {
        let mut bits = 0u64;
        let mut n = 0;
        for (k, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'2'..=b'7' => c - b'2' + 26,
                b'=' if k >= 2 && chunk[k..].iter().all(|&p| p == b'=') => break,
                _ => return Err(format!("illegal base32 data at input byte {}", ci * 8 + k)),
            };
            bits = (bits << 5) | u64::from(v);
            n += 1;
        }
        bits <<= 5 * (8 - n);
        let bytes = n * 5 / 8;
        for k in 0..bytes {
            out.push((bits >> (32 - 8 * k)) as u8);
        }
        if n < 8 && ci + 1 < b.len() / 8 {
            return Err(format!("illegal base32 data at input byte {}", ci * 8 + n));
        }
    }
    Ok(out)
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Calls `name` when this module owns it.
pub fn call(name: &str, a: &[Value]) -> Option<F> {
    if !NAMES.contains(&name) {
        return None;
    }
    if SLOW_CRYPTO.contains(&name)
        && let Err(e) = super::limits::slow_crypto_ok(name)
    {
        return Some(Err(FnError::Call(e)));
    }
    Some(call_inner(name, a))
}

/// Functions that are slow by design (key generation, password hashing); see [`super::limits`].
const SLOW_CRYPTO: &[&str] = &[
    "bcrypt",
    "htpasswd",
    "derivePassword",
    "genPrivateKey",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
];

fn call_inner(name: &str, a: &[Value]) -> F {
    let str_ = |v: String| Ok(Value::Str(v));
    match name {
        "hello" => str_("Hello!".into()),
        "sha1sum" => {
            want(name, a, 1)?;
            str_(hex(&sha1::Sha1::digest(s(&a[0])?.as_bytes())))
        }
        "sha512sum" => {
            want(name, a, 1)?;
            str_(hex(&sha2::Sha512::digest(s(&a[0])?.as_bytes())))
        }
        "adler32sum" => {
            want(name, a, 1)?;
            str_(adler32(s(&a[0])?.as_bytes()).to_string())
        }
        "b32enc" => {
            want(name, a, 1)?;
            str_(base32_encode(strval(&a[0]).as_bytes()))
        }
        "b32dec" => {
            want(name, a, 1)?;
            match base32_decode(&strval(&a[0])) {
                Ok(b) => str_(String::from_utf8_lossy(&b).into_owned()),
                Err(e) => str_(e),
            }
        }
        "trimall" => {
            want(name, a, 2)?;
            let cut: Vec<char> = s(&a[0])?.chars().collect();
            str_(s(&a[1])?.trim_matches(|c| cut.contains(&c)).to_string())
        }
        "typeIsLike" => {
            want(name, a, 2)?;
            let t = s(&a[0])?;
            let got = a[1].type_name();
            Ok(Value::Bool(t == got || format!("*{t}") == got))
        }
        "all" => Ok(Value::Bool(a.iter().all(|v| !is_empty(v)))),
        "any" => Ok(Value::Bool(a.iter().any(|v| !is_empty(v)))),
        "wrap" => {
            want(name, a, 2)?;
            str_(wrap_custom(&s(&a[1])?, int(&a[0])?, "", false))
        }
        "wrapWith" => {
            want(name, a, 3)?;
            str_(wrap_custom(&s(&a[2])?, int(&a[0])?, &s(&a[1])?, true))
        }
        "abbrevboth" => {
            want(name, a, 3)?;
            let (l, r, x) = (int(&a[0])?, int(&a[1])?, s(&a[2])?);
            if r < 4 || (l > 0 && r < 7) {
                return str_(x);
            }
            str_(abbreviate_full(&x, l, r))
        }
        "add1f" => {
            want(name, a, 1)?;
            Ok(Value::Float(decimal_op("add", to_f64(&a[0]), &[1.0])))
        }
        "addf" => Ok(Value::Float(decimal_op(
            "add",
            0.0,
            &a.iter().map(to_f64).collect::<Vec<_>>(),
        ))),
        "subf" | "mulf" | "divf" => {
            if a.is_empty() {
                return Err(FnError::Arg(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                )));
            }
            let rest: Vec<f64> = a[1..].iter().map(to_f64).collect();
            Ok(Value::Float(decimal_op(&name[..3], to_f64(&a[0]), &rest)))
        }
        "randInt" => {
            want(name, a, 2)?;
            let (lo, hi) = (int(&a[0])?, int(&a[1])?);
            if hi <= lo {
                return Err(FnError::Call("invalid argument to Intn".into()));
            }
            use rand::Rng as _;
            Ok(Value::GoInt(rand::rng().random_range(lo..hi)))
        }
        "randBytes" => {
            want(name, a, 1)?;
            let n = int(&a[0])?;
            if !(0..=1 << 24).contains(&n) {
                return Err(FnError::Call(
                    "runtime error: makeslice: len out of range".into(),
                ));
            }
            str_(crypto::rand_bytes(n as usize))
        }
        "shuffle" => {
            want(name, a, 1)?;
            use rand::seq::SliceRandom as _;
            let mut c: Vec<char> = s(&a[0])?.chars().collect();
            c.shuffle(&mut rand::rng());
            str_(c.into_iter().collect())
        }
        "toDecimal" => {
            want(name, a, 1)?;
            Ok(Value::Int(
                i64::from_str_radix(&strval(&a[0]), 8).unwrap_or(0),
            ))
        }
        "chunk" | "mustChunk" => {
            want(name, a, 2)?;
            let size = int(&a[0])?;
            let l = match &a[1] {
                Value::List(l) => l.clone(),
                o => {
                    return Err(FnError::Call(format!(
                        "Cannot chunk type {}",
                        o.type_name()
                    )));
                }
            };
            if size <= 0 {
                return Err(FnError::Call(
                    "runtime error: integer divide by zero".into(),
                ));
            }
            Ok(Value::list(
                l.chunks(size as usize)
                    .map(|c| Value::list(c.to_vec()))
                    .collect(),
            ))
        }
        // Helm renders without `--enable-dns` in template mode: lookups return "".
        "getHostByName" => {
            want(name, a, 1)?;
            s(&a[0])?;
            str_(String::new())
        }
        "osBase" | "osDir" | "osExt" | "osClean" | "osIsAbs" | "clean" => {
            want(name, a, 1)?;
            let p = s(&a[0])?;
            Ok(match name {
                "osBase" => {
                    let t = p.trim_end_matches('/');
                    Value::Str(if p.is_empty() {
                        ".".into()
                    } else if t.is_empty() {
                        "/".into()
                    } else {
                        t.rsplit('/').next().unwrap_or("").to_string()
                    })
                }
                "osDir" => {
                    let d = match p.rfind('/') {
                        Some(k) => &p[..=k],
                        None => "",
                    };
                    Value::Str(clean_path(d))
                }
                "osExt" => Value::Str(
                    p.rsplit('/')
                        .next()
                        .and_then(|b| b.rfind('.').map(|k| b[k..].to_string()))
                        .unwrap_or_default(),
                ),
                "osIsAbs" => Value::Bool(p.starts_with('/')),
                _ => Value::Str(clean_path(&p)),
            })
        }
        "regexQuoteMeta" => {
            want(name, a, 1)?;
            str_(quote_meta(&s(&a[0])?))
        }
        "mustRegexFind" => {
            want(name, a, 2)?;
            str_(
                re(&s(&a[0])?)?
                    .find(&s(&a[1])?)
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default(),
            )
        }
        "mustRegexFindAll" => {
            want(name, a, 3)?;
            let r = re(&s(&a[0])?)?;
            let text = s(&a[1])?;
            let n = int(&a[2])?;
            let it = r
                .find_iter(&text)
                .map(|x| Value::Str(x.as_str().to_string()));
            Ok(Value::list(if n < 0 {
                it.collect()
            } else {
                it.take(n as usize).collect()
            }))
        }
        "mustRegexReplaceAll" => {
            want(name, a, 3)?;
            str_(
                re(&s(&a[0])?)?
                    .replace_all(&s(&a[1])?, s(&a[2])?.as_str())
                    .into_owned(),
            )
        }
        "mustRegexReplaceAllLiteral" => {
            want(name, a, 3)?;
            str_(
                re(&s(&a[0])?)?
                    .replace_all(&s(&a[1])?, regex::NoExpand(&s(&a[2])?))
                    .into_owned(),
            )
        }
        "mustRegexSplit" => {
            want(name, a, 3)?;
            let r = re(&s(&a[0])?)?;
            let text = s(&a[1])?;
            Ok(Value::list(regex_split(&r, &text, int(&a[2])?)))
        }
        "mustFromJson" => {
            want(name, a, 1)?;
            let text = s(&a[0])?;
            serde_json::from_str::<serde_json::Value>(&text)
                .map(|j| Value::from_json(&j, false))
                .map_err(|e| FnError::Call(e.to_string()))
        }
        "toToml" => {
            want(name, a, 1)?;
            str_(to_toml(&a[0]))
        }
        "fromToml" => {
            want(name, a, 1)?;
            let text = s(&a[0])?;
            match text.parse::<toml::Table>() {
                Ok(t) => Ok(from_toml(&toml::Value::Table(t))),
                Err(e) => Ok(Value::map_from(BTreeMap::from([(
                    "Error".to_string(),
                    Value::Str(format!("toml: {}", e.message().trim_end())),
                )]))),
            }
        }
        "urlParse" => {
            want(name, a, 1)?;
            url_parse(&s(&a[0])?)
                .map(Value::map_from)
                .map_err(|e| FnError::Call(format!("unable to parse url: {e}")))
        }
        "urlJoin" => {
            want(name, a, 1)?;
            let d = match &a[0] {
                Value::Map(m) => m.borrow().clone(),
                o => {
                    return Err(FnError::Arg(format!(
                        "wrong type for value; expected map[string]interface {{}}; got {}",
                        o.type_name()
                    )));
                }
            };
            url_join(&d).map(Value::Str).map_err(FnError::Call)
        }
        "semver" => {
            want(name, a, 1)?;
            let v = super::semver::Version::parse(&s(&a[0])?)
                .map_err(|e| FnError::Call(e.to_string()))?;
            Ok(Value::Obj(Rc::new(SemverObj(v))))
        }
        // --- dates ---
        "now" => Ok(GoTime::now().value()),
        "date" | "dateInZone" | "date_in_zone" => {
            let zone = if name == "date" {
                want(name, a, 2)?;
                "Local".to_string()
            } else {
                want(name, a, 3)?;
                s(&a[2])?
            };
            let t = any_time(&a[1]);
            let t = t.in_zone(&zone).or_else(|| t.in_zone("UTC")).unwrap_or(t);
            str_(t.format(&s(&a[0])?))
        }
        "htmlDate" => {
            want(name, a, 1)?;
            let t = any_time(&a[0]);
            str_(t.in_zone("Local").unwrap_or(t).format("2006-01-02"))
        }
        "htmlDateInZone" => {
            want(name, a, 2)?;
            let t = any_time(&a[0]);
            let z = s(&a[1])?;
            let t = t.in_zone(&z).or_else(|| t.in_zone("UTC")).unwrap_or(t);
            str_(t.format("2006-01-02"))
        }
        "dateModify" | "date_modify" | "mustDateModify" | "must_date_modify" => {
            want(name, a, 2)?;
            let d = s(&a[0])?;
            let t = time_arg(&a[1])?;
            match parse_duration(&d) {
                Ok(n) => Ok(t.add_nanos(n).value()),
                Err(e) if name.starts_with("must") => Err(FnError::Call(e)),
                Err(_) => Ok(t.value()),
            }
        }
        "toDate" | "mustToDate" => {
            want(name, a, 2)?;
            match GoTime::parse(&s(&a[0])?, &s(&a[1])?) {
                Ok(t) => Ok(t.value()),
                Err(e) if name == "mustToDate" => Err(FnError::Call(e)),
                Err(_) => Ok(GoTime::zero().value()),
            }
        }
        "unixEpoch" => {
            want(name, a, 1)?;
            str_(time_arg(&a[0])?.unix_seconds().to_string())
        }
        "ago" => {
            want(name, a, 1)?;
            let t = any_time(&a[0]);
            let now = GoTime::now();
            let ns = now.0.timestamp().as_nanosecond() - t.0.timestamp().as_nanosecond();
            // Round to the second, halves away from zero (time.Duration.Round).
            let r = ((ns + ns.signum() * 500_000_000) / 1_000_000_000) * 1_000_000_000;
            str_(duration_string(
                r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
            ))
        }
        "duration" => {
            want(name, a, 1)?;
            let n = match &a[0] {
                Value::Str(x) => x.parse::<i64>().unwrap_or(0),
                Value::Int(n) => *n,
                _ => 0,
            };
            str_(duration_string(n.saturating_mul(1_000_000_000)))
        }
        "durationRound" => {
            want(name, a, 1)?;
            let d: i128 = match &a[0] {
                Value::Str(x) => i128::from(parse_duration(x).unwrap_or(0)),
                Value::Int(n) => i128::from(*n),
                v @ Value::Obj(o) if o.type_name() == "time.Time" => {
                    let t = any_time(v);
                    GoTime::now().0.timestamp().as_nanosecond() - t.0.timestamp().as_nanosecond()
                }
                _ => 0,
            };
            let u = d.unsigned_abs();
            let (year, month, day, hour, minute, second) = (
                31_536_000_000_000_000u128,
                2_592_000_000_000_000u128,
                86_400_000_000_000u128,
                3_600_000_000_000u128,
                60_000_000_000u128,
                1_000_000_000u128,
            );
            str_(if u > year {
                format!("{}y", u / year)
            } else if u > month {
                format!("{}mo", u / month)
            } else if u > day {
                format!("{}d", u / day)
            } else if u > hour {
                format!("{}h", u / hour)
            } else if u > minute {
                format!("{}m", u / minute)
            } else if u > second {
                format!("{}s", u / second)
            } else {
                "0s".into()
            })
        }
        // --- crypto ---
        "bcrypt" => {
            want(name, a, 1)?;
            str_(crypto::bcrypt_hash(&s(&a[0])?))
        }
        "htpasswd" => {
            want(name, a, 2)?;
            str_(crypto::htpasswd(&s(&a[0])?, &s(&a[1])?))
        }
        "derivePassword" => {
            want(name, a, 5)?;
            let counter = match &a[0] {
                Value::Int(n) | Value::GoInt(n) if *n >= 0 && *n <= i64::from(u32::MAX) => {
                    *n as u32
                }
                o => {
                    return Err(FnError::Arg(format!(
                        "wrong type for value; expected uint32; got {}",
                        o.type_name()
                    )));
                }
            };
            str_(crypto::derive_password(
                counter,
                &s(&a[1])?,
                &s(&a[2])?,
                &s(&a[3])?,
                &s(&a[4])?,
            ))
        }
        "encryptAES" => {
            want(name, a, 2)?;
            str_(crypto::encrypt_aes(&s(&a[0])?, &s(&a[1])?))
        }
        "decryptAES" => {
            want(name, a, 2)?;
            crypto::decrypt_aes(&s(&a[0])?, &s(&a[1])?)
                .map(Value::Str)
                .map_err(FnError::Call)
        }
        "genPrivateKey" => {
            want(name, a, 1)?;
            match PrivKey::generate(&s(&a[0])?) {
                Ok(k) => str_(k.pem()),
                Err(e) => str_(e),
            }
        }
        "genCA" | "genCAWithKey" => {
            let with = name.ends_with("WithKey");
            want(name, a, if with { 3 } else { 2 })?;
            let key = if with { Some(s(&a[2])?) } else { None };
            crypto::gen_ca(&s(&a[0])?, int(&a[1])?, key.as_deref())
                .map(Certificate::value)
                .map_err(FnError::Call)
        }
        "genSelfSignedCert" | "genSelfSignedCertWithKey" => {
            let with = name.ends_with("WithKey");
            want(name, a, if with { 5 } else { 4 })?;
            let key = if with { Some(s(&a[4])?) } else { None };
            crypto::gen_self_signed(
                &s(&a[0])?,
                &list_arg(&a[1])?,
                &list_arg(&a[2])?,
                int(&a[3])?,
                key.as_deref(),
            )
            .map(Certificate::value)
            .map_err(FnError::Call)
        }
        "genSignedCert" | "genSignedCertWithKey" => {
            let with = name.ends_with("WithKey");
            want(name, a, if with { 6 } else { 5 })?;
            let ca = Certificate::from_value(&a[4]).ok_or_else(|| {
                FnError::Arg(format!(
                    "wrong type for value; expected sprig.certificate; got {}",
                    a[4].type_name()
                ))
            })?;
            let key = if with { Some(s(&a[5])?) } else { None };
            crypto::gen_signed(
                &s(&a[0])?,
                &list_arg(&a[1])?,
                &list_arg(&a[2])?,
                int(&a[3])?,
                &ca,
                key.as_deref(),
            )
            .map(Certificate::value)
            .map_err(FnError::Call)
        }
        "buildCustomCert" => {
            want(name, a, 2)?;
            crypto::build_custom(&s(&a[0])?, &s(&a[1])?)
                .map(Certificate::value)
                .map_err(FnError::Call)
        }
        _ => Err(FnError::Call(format!("function {name:?} not defined"))),
    }
}

/// Go's `Regexp.Split(s, n)`.
pub fn regex_split(r: &regex::Regex, text: &str, n: i64) -> Vec<Value> {
    if n == 0 {
        return Vec::new();
    }
    if r.as_str().is_empty() && !text.is_empty() {
        // Go splits into characters for an empty expression.
        let chars: Vec<Value> = text.chars().map(|c| Value::Str(c.to_string())).collect();
        return if n > 0 && (n as usize) < chars.len() {
            let mut v: Vec<Value> = chars[..n as usize - 1].to_vec();
            let used: usize = text.chars().take(n as usize - 1).map(char::len_utf8).sum();
            v.push(Value::Str(text[used..].to_string()));
            v
        } else {
            chars
        };
    }
    let parts: Vec<&str> = if n < 0 {
        r.split(text).collect()
    } else {
        r.splitn(text, n as usize).collect()
    };
    parts
        .into_iter()
        .map(|p| Value::Str(p.to_string()))
        .collect()
}

fn from_toml(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(a) => Value::list(a.iter().map(from_toml).collect()),
        toml::Value::Table(t) => {
            Value::map_from(t.iter().map(|(k, x)| (k.clone(), from_toml(x))).collect())
        }
    }
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        k.to_string()
    } else {
        toml_str(k)
    }
}

fn toml_str(x: &str) -> String {
    let mut out = String::from("\"");
    for c in x.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_scalar(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) | Value::GoInt(i) => i.to_string(),
        Value::Float(f) => {
            if f.is_nan() {
                "nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                }
            } else {
                // strconv 'g' -1, with ".0" added to integral values.
                let t = super::value::format_float_g(*f, None);
                if t.contains(['.', 'e']) {
                    t
                } else {
                    format!("{t}.0")
                }
            }
        }
        Value::Str(s) => toml_str(s),
        Value::List(l) => {
            let items: Vec<String> = l
                .iter()
                .filter(|x| !matches!(x, Value::Nil))
                .map(toml_scalar)
                .collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(m) => {
            let items: Vec<String> = m
                .borrow()
                .iter()
                .filter(|(_, x)| !matches!(x, Value::Nil))
                .map(|(k, x)| format!("{} = {}", toml_key(k), toml_scalar(x)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Nil => String::new(),
        Value::Obj(o) => toml_str(&o.display()),
    }
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::List(l) if !l.is_empty() && l.iter().all(is_table))
}

/// BurntSushi/toml's encoder (Helm's `toToml`): sorted scalars first, then tables and arrays of
/// tables, nested ones indented two spaces per level; errors are printed as the result.
pub fn to_toml(v: &Value) -> String {
    let Value::Map(m) = v else {
        return toml_scalar(v);
    };
    let mut out = String::new();
    toml_table(&mut out, &[], &m.borrow());
    out
}

/// A line break, written only once something was (the encoder's `newline`).
fn toml_newline(out: &mut String) {
    if !out.is_empty() {
        out.push('\n');
    }
}

fn toml_table(out: &mut String, path: &[String], m: &BTreeMap<String, Value>) {
    let kv_ind = "  ".repeat(path.len());
    for (k, x) in m {
        if matches!(x, Value::Nil) || is_table(x) || is_table_array(x) {
            continue;
        }
        out.push_str(&format!("{kv_ind}{} = {}\n", toml_key(k), toml_scalar(x)));
    }
    for (k, x) in m {
        let mut p = path.to_vec();
        p.push(toml_key(k));
        let name = p.join(".");
        let hdr_ind = "  ".repeat(path.len());
        match x {
            Value::Map(sub) => {
                if p.len() == 1 {
                    toml_newline(out);
                }
                out.push_str(&format!("{hdr_ind}[{name}]\n"));
                toml_table(out, &p, &sub.borrow());
            }
            Value::List(l) if is_table_array(x) => {
                for t in l.iter() {
                    if let Value::Map(sub) = t {
                        toml_newline(out);
                        out.push_str(&format!("{hdr_ind}[[{name}]]\n"));
                        toml_table(out, &p, &sub.borrow());
                    }
                }
            }
            _ => {}
        }
    }
}

/// Converts JSON-ish YAML text into a value (used by tests of this module).
#[cfg(test)]
fn yaml_value(text: &str) -> Value {
    super::yaml::parse_yaml(text).unwrap_or(Value::Nil)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function Helm v4.3.1 gives templates: sprig v3.3.0's `TxtFuncMap` without
    /// `env`/`expandenv`, Helm's own, and text/template's builtins.
    const HELM_V4_FUNCS: &[&str] = &[
        "abbrev",
        "abbrevboth",
        "add",
        "add1",
        "add1f",
        "addf",
        "adler32sum",
        "ago",
        "all",
        "and",
        "any",
        "append",
        "atoi",
        "b32dec",
        "b32enc",
        "b64dec",
        "b64enc",
        "base",
        "bcrypt",
        "biggest",
        "buildCustomCert",
        "call",
        "camelcase",
        "cat",
        "ceil",
        "chunk",
        "clean",
        "coalesce",
        "compact",
        "concat",
        "contains",
        "date",
        "dateInZone",
        "dateModify",
        "date_in_zone",
        "date_modify",
        "decryptAES",
        "deepCopy",
        "deepEqual",
        "default",
        "derivePassword",
        "dict",
        "dig",
        "dir",
        "div",
        "divf",
        "duration",
        "durationRound",
        "empty",
        "encryptAES",
        "eq",
        "ext",
        "fail",
        "first",
        "float64",
        "floor",
        "fromJson",
        "fromJsonArray",
        "fromToml",
        "fromYaml",
        "fromYamlArray",
        "ge",
        "genCA",
        "genCAWithKey",
        "genPrivateKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "get",
        "getHostByName",
        "gt",
        "has",
        "hasKey",
        "hasPrefix",
        "hasSuffix",
        "hello",
        "html",
        "htmlDate",
        "htmlDateInZone",
        "htpasswd",
        "include",
        "indent",
        "index",
        "initial",
        "initials",
        "int",
        "int64",
        "isAbs",
        "join",
        "js",
        "kebabcase",
        "keys",
        "kindIs",
        "kindOf",
        "last",
        "le",
        "len",
        "list",
        "lookup",
        "lower",
        "lt",
        "max",
        "maxf",
        "merge",
        "mergeOverwrite",
        "min",
        "minf",
        "mod",
        "mul",
        "mulf",
        "mustAppend",
        "mustChunk",
        "mustCompact",
        "mustDateModify",
        "mustDeepCopy",
        "mustFirst",
        "mustFromJson",
        "mustHas",
        "mustInitial",
        "mustLast",
        "mustMerge",
        "mustMergeOverwrite",
        "mustPrepend",
        "mustRegexFind",
        "mustRegexFindAll",
        "mustRegexMatch",
        "mustRegexReplaceAll",
        "mustRegexReplaceAllLiteral",
        "mustRegexSplit",
        "mustRest",
        "mustReverse",
        "mustSlice",
        "mustToDate",
        "mustToJson",
        "mustToPrettyJson",
        "mustToRawJson",
        "mustToYaml",
        "mustUniq",
        "mustWithout",
        "must_date_modify",
        "ne",
        "nindent",
        "nospace",
        "not",
        "now",
        "omit",
        "or",
        "osBase",
        "osClean",
        "osDir",
        "osExt",
        "osIsAbs",
        "pick",
        "pluck",
        "plural",
        "prepend",
        "print",
        "printf",
        "println",
        "quote",
        "randAlpha",
        "randAlphaNum",
        "randAscii",
        "randBytes",
        "randInt",
        "randNumeric",
        "regexFind",
        "regexFindAll",
        "regexMatch",
        "regexQuoteMeta",
        "regexReplaceAll",
        "regexReplaceAllLiteral",
        "regexSplit",
        "repeat",
        "replace",
        "required",
        "rest",
        "reverse",
        "round",
        "semver",
        "semverCompare",
        "seq",
        "set",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "shuffle",
        "slice",
        "snakecase",
        "sortAlpha",
        "split",
        "splitList",
        "splitn",
        "squote",
        "sub",
        "subf",
        "substr",
        "swapcase",
        "ternary",
        "title",
        "toDate",
        "toDecimal",
        "toJson",
        "toPrettyJson",
        "toRawJson",
        "toString",
        "toStrings",
        "toToml",
        "toYaml",
        "toYamlPretty",
        "tpl",
        "trim",
        "trimAll",
        "trimPrefix",
        "trimSuffix",
        "trimall",
        "trunc",
        "tuple",
        "typeIs",
        "typeIsLike",
        "typeOf",
        "uniq",
        "unixEpoch",
        "unset",
        "until",
        "untilStep",
        "untitle",
        "upper",
        "urlJoin",
        "urlParse",
        "urlquery",
        "uuidv4",
        "values",
        "without",
        "wrap",
        "wrapWith",
    ];

    #[test]
    fn every_helm_function_is_registered() {
        let missing: Vec<&str> = HELM_V4_FUNCS
            .iter()
            .copied()
            .filter(|n| !super::super::funcs::is_func(n))
            .collect();
        assert!(missing.is_empty(), "not registered: {missing:?}");
        assert_eq!(HELM_V4_FUNCS.len(), 237);
        assert!(!super::super::funcs::is_func("env"));
        assert!(!super::super::funcs::is_func("expandenv"));
    }

    #[test]
    fn encodings_and_hashes() {
        assert_eq!(base32_encode(b"hello"), "NBSWY3DP");
        assert_eq!(base32_encode(b"hi"), "NBUQ====");
        assert_eq!(base32_decode("NBUQ====").unwrap(), b"hi");
        assert!(base32_decode("!!").is_err());
        assert_eq!(adler32(b"abc"), 38_600_999);
    }

    #[test]
    fn decimal_float_ops_like_sprig() {
        assert_eq!(decimal_op("add", 0.0, &[0.1, 0.2]), 0.3);
        assert_eq!(decimal_op("mul", 0.1, &[3.0]), 0.3);
        assert_eq!(decimal_op("sub", 0.3, &[0.1]), 0.2);
        assert_eq!(decimal_op("div", 1.0, &[3.0]), 0.333_333_333_333_333_3);
        assert_eq!(decimal_op("div", 10.0, &[4.0]), 2.5);
    }

    #[test]
    fn wrap_and_abbrev_like_goutils() {
        assert_eq!(
            wrap_custom("the quick brown fox jumps over the lazy dog", 10, "", false),
            "the quick\nbrown fox\njumps over\nthe lazy\ndog"
        );
        assert_eq!(
            wrap_custom("abcdefghijklmnop qr", 5, "", false),
            "abcdefghijklmnop\nqr"
        );
        assert_eq!(wrap_custom("Hello World", 5, "\t", true), "Hello\tWorld");
        assert_eq!(abbreviate_full("1234 5678 9123", 5, 10), "...5678...");
        assert_eq!(abbreviate_full("1234 5678 9123", 0, 10), "1234 56...");
        assert_eq!(
            abbreviate_full("abcdefghijklmnopqrstuvwxyz", 10, 13),
            "...klmnopq..."
        );
    }

    #[test]
    fn urls_like_go() {
        let m = url_parse("https://user:pw@host.io:8080/a%20b/c?x=1&y=2#frag").unwrap();
        assert_eq!(m["hostname"].as_str(), Some("host.io"));
        assert_eq!(m["path"].as_str(), Some("/a b/c"));
        assert_eq!(
            url_parse("mailto:joe@x.org").unwrap()["opaque"].as_str(),
            Some("joe@x.org")
        );
        let d = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
                .collect()
        };
        assert_eq!(
            url_join(&d(&[
                ("scheme", "https"),
                ("host", "h:1"),
                ("path", "/a b"),
                ("query", "x=1"),
                ("fragment", "f g"),
                ("userinfo", "u:p")
            ]))
            .unwrap(),
            "https://u:p@h:1/a%20b?x=1#f%20g"
        );
        assert_eq!(
            url_join(&d(&[("host", "h"), ("path", "rel")])).unwrap(),
            "//h/rel"
        );
        assert_eq!(clean_path("a//b/../c/."), "a/c");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(
            quote_meta("a.b*c+?()[]{}^$|\\-#&~ "),
            "a\\.b\\*c\\+\\?\\(\\)\\[\\]\\{\\}\\^\\$\\|\\\\-#&~ "
        );
    }

    #[test]
    fn toml_like_burntsushi() {
        // Expected texts from `helm template` v4.3.1.
        let v = yaml_value("a:\n  b:\n    c: 1\n");
        assert_eq!(to_toml(&v), "[a]\n  [a.b]\n    c = 1.0\n");
        let v = yaml_value("num: 1000000\nx: [1, a]\ne: {}\nt:\n  z: [{p: 1}, {q: 2}]\n  k: v\n");
        assert_eq!(
            to_toml(&v),
            "num = 1e+06\nx = [1.0, \"a\"]\n\n[e]\n\n[t]\n  k = \"v\"\n\n  [[t.z]]\n    p = 1.0\n\n  [[t.z]]\n    q = 2.0\n"
        );
    }
}
