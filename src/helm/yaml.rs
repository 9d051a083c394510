//! YAML in and out as Helm sees it: reading values (YAML 1.1 via JSON, every number float64) and
//! `toYaml`, which is Go's `sigs.k8s.io/yaml` (JSON round trip, then `yaml.v2`'s emitter: natural key
//! order, unindented block sequences, YAML 1.1 quoting, 80-column folding, literal blocks).

use super::value::{Value, format_float_g, format_float_json};
use std::cmp::Ordering;

/// A YAML read error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(pub String);

/// Parses one YAML document into a value (numbers float64 as Helm's values are).
pub fn parse_yaml(text: &str) -> Result<Value, YamlError> {
    let j = parse_yaml_json(text)?;
    Ok(Value::from_json(&j, false))
}

/// Parses one YAML document into JSON.
pub fn parse_yaml_json(text: &str) -> Result<serde_json::Value, YamlError> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    let v: serde_json::Value = match serde_saphyr::from_str_with_options(text, opts.clone()) {
        Ok(v) => v,
        // Go's yaml.Unmarshal reads the first document of a stream and ignores the rest
        // (charts hash `include "x.yaml" . | fromYaml` of multi-document files).
        Err(e) if e.to_string().contains("multiple YAML documents") => {
            serde_saphyr::from_str_with_options(first_document(text), opts)
                .map_err(|e| YamlError(e.to_string().lines().next().unwrap_or("").to_string()))?
        }
        Err(e) => {
            return Err(YamlError(
                e.to_string().lines().next().unwrap_or("").to_string(),
            ));
        }
    };
    Ok(yaml11_keys(v))
}

/// The text of the first document of a YAML stream (up to its `---`/`...` end marker).
fn first_document(text: &str) -> &str {
    let is_marker = |l: &str, m: &str| {
        l.strip_prefix(m)
            .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r']))
    };
    let mut started = false;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let blank = body.trim().is_empty() || body.trim_start().starts_with('#');
        if is_marker(body, "---") {
            if started {
                return &text[..pos];
            }
            started = true;
        } else if is_marker(body, "...") {
            return &text[..pos];
        } else if !blank {
            started = true;
        }
        pos += line.len();
    }
    text
}

/// Go's yaml.v2 reads plain `y`/`n`/`on`/`off`… keys as booleans, which JSON then spells
/// `"true"`/`"false"`.
fn yaml11_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let k = match k.as_str() {
                        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "True"
                        | "TRUE" => "true".to_string(),
                        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "False"
                        | "FALSE" => "false".to_string(),
                        _ => k,
                    };
                    (k, yaml11_keys(v))
                })
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(yaml11_keys).collect())
        }
        other => other,
    }
}

/// Go's `yaml.v2` resolver: would this plain text read back as something other than a string?
fn resolves_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return false;
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    let body = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    if body.is_empty() {
        return false;
    }
    if let Some(b) = body.strip_prefix("0b") {
        return !b.is_empty() && b.chars().all(|c| c == '0' || c == '1');
    }
    if let Some(h) = body.strip_prefix("0x") {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    // strconv.ParseInt with base 0 (yaml.v2's int resolver) also takes `0o17`.
    if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        return !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c));
    }
    if is_timestamp(s) {
        return true;
    }
    if body.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    // floats: yaml.v2 accepts what strconv.ParseFloat accepts (after removing '_'), for text that
    // looks numeric; sexagesimal forms are base-60 floats too.
    if body.parse::<f64>().is_ok()
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return true;
    }
    is_base60(s)
}

/// yaml.v2's timestamp resolver: `2006-1-2`, optionally followed by `T`/`t`/space and a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(k) => (&s[..k], Some(&s[k + 1..])),
        None => (s, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let num = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|c| c.is_ascii_digit())
    };
    if parts.len() != 3 || !num(parts[1], 2) || !num(parts[2], 2) {
        return false;
    }
    let Some(t) = time else {
        return true;
    };
    // 15:4:5 with an optional fraction and zone (Z or ±hh:mm); no zone only after a space.
    let (clock, zone) = match t.find(['Z', '+', '-']) {
        Some(k) => (&t[..k], Some(&t[k..])),
        None => (t, None),
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let hms: Vec<&str> = hms.split(':').collect();
    if hms.len() != 3 || !hms.iter().all(|p| num(p, 2)) || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    match zone {
        None => s.as_bytes()[date.len()] == b' ',
        Some("Z") => true,
        Some(z) => {
            let z = &z[1..];
            let (h, m) = z.split_once(':').unwrap_or((z, "00"));
            num(h, 2) && num(m, 2)
        }
    }
}

fn is_base60(s: &str) -> bool {
    // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
    let b = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = b.split_once('.').unwrap_or((b, ""));
    let mut parts = int.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if head.is_empty()
        || !head.as_bytes()[0].is_ascii_digit()
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut n = 0;
    for p in parts {
        n += 1;
        let ok = match p.len() {
            1 => p.as_bytes()[0].is_ascii_digit(),
            2 => (b'0'..=b'5').contains(&p.as_bytes()[0]) && p.as_bytes()[1].is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    n > 0 && frac.chars().all(|c| c.is_ascii_digit() || c == '_')
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || u == 0x85
        || (0xa0..=0xd7ff).contains(&u)
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
        || (0x10000..=0x10ffff).contains(&u)
}

struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
    multiline: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain: true,
            single: true,
            block: false,
            multiline: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) =
        (false, false, false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let blank = |c: Option<&char>| matches!(c, None | Some(' ' | '\t' | '\n' | '\r'));
    let mut preceded_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_ws = blank(chars.get(i + 1));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_ws => block_ind = true,
                '#' if preceded_ws => block_ind = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if c == '\n' || c == '\r' {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = blank(Some(&c));
    }
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
        multiline: line_breaks,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks {
        a.block_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

/// yaml.v2's `keyList.Less`: letters after other runes, digit runs compared as numbers.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// A JSON-round-tripped scalar or collection (what `yaml.v2` marshals after `sigs.k8s.io/yaml`).
enum Y {
    Null,
    Bool(bool),
    Int(String),
    Float(f64),
    Str(String),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

/// Converts for the emitter; `budget` counts the string bytes copied so far against
/// [`super::limits`] (a list holding one long string many times stays one allocation in `v`).
fn to_y(v: &Value, budget: &mut usize) -> Y {
    let Some(_level) = super::limits::descend() else {
        return Y::Null;
    };
    match v {
        Value::Nil => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Int(i) | Value::GoInt(i) => Y::Int(i.to_string()),
        Value::Float(f) => {
            if !f.is_finite() {
                return Y::Null;
            }
            let j = format_float_json(*f);
            // yaml.v2 reads the JSON text back: integers beyond 64 bits become floats.
            if j.contains(['.', 'e', 'E'])
                || (j.parse::<i64>().is_err() && j.parse::<u64>().is_err())
            {
                Y::Float(*f)
            } else {
                Y::Int(j)
            }
        }
        Value::Str(s) => {
            *budget = budget.saturating_add(s.len());
            if !super::limits::size_ok(*budget) {
                return Y::Null;
            }
            Y::Str(s.clone())
        }
        Value::List(l) => Y::Seq(l.iter().map(|x| to_y(x, budget)).collect()),
        Value::Map(m) => {
            let mut entries: Vec<(String, Y)> = m
                .borrow()
                .iter()
                .map(|(k, v)| (k.clone(), to_y(v, budget)))
                .collect();
            entries.sort_by(|a, b| natural_cmp(&a.0, &b.0));
            Y::Map(entries)
        }
        Value::Obj(o) => Y::Str(o.display()),
    }
}

struct Emitter {
    out: String,
}

const WIDTH: usize = 80;

impl Emitter {
    fn column(&self) -> usize {
        self.out.len() - self.out.rfind('\n').map_or(0, |i| i + 1)
    }

    fn newline_indent(&mut self, indent: usize) {
        self.out.push('\n');
        self.out.push_str(&" ".repeat(indent));
    }

    /// Writes a string scalar; `key` is simple-key context; `indent` is the block indent for
    /// continuation lines.
    fn string(&mut self, s: &str, key: bool, indent: usize) {
        let a = analyze(s);
        let plain_ok = !resolves_non_string(s) && !is_base60(s);
        if !plain_ok {
            return self.double(s);
        }
        if a.multiline && !key {
            if a.block {
                return self.literal(s, indent);
            }
            return self.double(s);
        }
        if a.multiline {
            return self.double(s);
        }
        if a.block_plain && !(s.is_empty() && key) {
            return self.folded_text(s, !key, indent);
        }
        if a.single {
            return self.single(s, !key, indent);
        }
        self.double(s)
    }

    fn folded_text(&mut self, s: &str, allow_breaks: bool, indent: usize) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column() > WIDTH
                    && chars.get(i + 1).is_some_and(|n| *n != ' ')
                {
                    self.newline_indent(indent);
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                self.out.push(c);
                spaces = false;
            }
        }
    }

    fn single(&mut self, s: &str, allow_breaks: bool, indent: usize) {
        self.out.push('\'');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column() > WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                    && chars.get(i + 1).is_some_and(|n| *n != ' ')
                {
                    self.newline_indent(indent);
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.out.push('\'');
                }
                self.out.push(c);
                spaces = false;
            }
        }
        self.out.push('\'');
    }

    fn double(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\0' => self.out.push_str("\\0"),
                '\x07' => self.out.push_str("\\a"),
                '\x08' => self.out.push_str("\\b"),
                '\t' => self.out.push_str("\\t"),
                '\n' => self.out.push_str("\\n"),
                '\x0b' => self.out.push_str("\\v"),
                '\x0c' => self.out.push_str("\\f"),
                '\r' => self.out.push_str("\\r"),
                '\x1b' => self.out.push_str("\\e"),
                '\u{85}' => self.out.push_str("\\N"),
                '\u{a0}' => self.out.push_str("\\_"),
                '\u{2028}' => self.out.push_str("\\L"),
                '\u{2029}' => self.out.push_str("\\P"),
                c if !is_printable(c) || c == '\u{feff}' => {
                    let u = c as u32;
                    if u <= 0xff {
                        self.out.push_str(&format!("\\x{u:02X}"));
                    } else if u <= 0xffff {
                        self.out.push_str(&format!("\\u{u:04X}"));
                    } else {
                        self.out.push_str(&format!("\\U{u:08X}"));
                    }
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with([' ', '\n']) {
            self.out.push('2');
        }
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
            "+"
        } else {
            ""
        };
        self.out.push_str(chomp);
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.out.push_str(&" ".repeat(indent));
                self.out.push_str(line);
            }
        }
    }

    fn scalar(&mut self, y: &Y, indent: usize) {
        match y {
            Y::Null => self.out.push_str("null"),
            Y::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Y::Int(s) => self.out.push_str(s),
            Y::Float(f) => self.out.push_str(&format_float_g(*f, None)),
            Y::Str(s) => self.string(s, false, indent),
            Y::Seq(_) => self.out.push_str("[]"),
            Y::Map(_) => self.out.push_str("{}"),
        }
    }

    /// Emits a block node whose first line continues the current line (after `- ` or at start).
    fn node(&mut self, y: &Y, indent: usize, after_dash: bool) {
        match y {
            Y::Map(entries) if !entries.is_empty() => {
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 || !after_dash {
                        self.out.push('\n');
                        self.out.push_str(&" ".repeat(indent));
                    }
                    self.string(k, true, indent);
                    self.out.push(':');
                    self.value_after_key(v, indent);
                }
            }
            Y::Seq(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    if i > 0 || !after_dash {
                        self.out.push('\n');
                        self.out.push_str(&" ".repeat(indent));
                    }
                    self.out.push_str("- ");
                    match v {
                        Y::Map(e) if !e.is_empty() => self.node(v, indent + 2, true),
                        Y::Seq(e) if !e.is_empty() => self.node(v, indent + 2, true),
                        _ => {
                            self.scalar(v, indent + 2);
                        }
                    }
                }
            }
            other => self.scalar(other, indent),
        }
    }

    fn value_after_key(&mut self, v: &Y, indent: usize) {
        match v {
            Y::Map(e) if !e.is_empty() => {
                self.out.push('\n');
                self.out.push_str(&" ".repeat(indent + 2));
                self.node(v, indent + 2, true);
            }
            Y::Seq(e) if !e.is_empty() => {
                self.out.push('\n');
                self.out.push_str(&" ".repeat(indent));
                self.node(v, indent, true);
            }
            _ => {
                self.out.push(' ');
                self.scalar(v, indent + 2);
            }
        }
    }
}

/// `toYaml`: Go's `sigs.k8s.io/yaml.Marshal` output (with its trailing newline).
pub fn to_yaml(v: &Value) -> String {
    let y = to_y(v, &mut 0);
    let mut e = Emitter { out: String::new() };
    match &y {
        Y::Map(m) if !m.is_empty() => e.node(&y, 0, true),
        Y::Seq(s) if !s.is_empty() => e.node(&y, 0, true),
        other => e.scalar(other, 2),
    }
    e.out.push('\n');
    e.out
}

/// Go's `json.Marshal` (HTML-escaping like Go's default encoder when `html`).
pub fn to_json(v: &Value, html: bool) -> String {
    let mut out = String::new();
    write_json(v, &mut out, html);
    out
}

fn write_json_str(s: &str, out: &mut String, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(v: &Value, out: &mut String, html: bool) {
    let Some(_level) = super::limits::descend() else {
        return;
    };
    if !super::limits::size_ok(out.len()) {
        return;
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::GoInt(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float_json(*f)),
        Value::Str(s) => write_json_str(s, out, html),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out, html);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out, html);
                out.push(':');
                write_json(x, out, html);
            }
            out.push('}');
        }
        Value::Obj(o) => write_json_str(&o.display(), out, html),
    }
}

/// `toPrettyJson` (Go's `json.MarshalIndent(v, "", "  ")`).
pub fn to_pretty_json(v: &Value) -> String {
    let mut out = String::new();
    pretty(v, &mut out, 0);
    out
}

fn pretty(v: &Value, out: &mut String, ind: usize) {
    let Some(_level) = super::limits::descend() else {
        return;
    };
    if !super::limits::size_ok(out.len()) {
        return;
    }
    match v {
        Value::List(l) if !l.is_empty() => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.push_str(&"  ".repeat(ind + 1));
                pretty(x, out, ind + 1);
            }
            out.push('\n');
            out.push_str(&"  ".repeat(ind));
            out.push(']');
        }
        Value::Map(m) if !m.borrow().is_empty() => {
            out.push('{');
            for (i, (k, x)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.push_str(&"  ".repeat(ind + 1));
                write_json_str(k, out, true);
                out.push_str(": ");
                pretty(x, out, ind + 1);
            }
            out.push('\n');
            out.push_str(&"  ".repeat(ind));
            out.push('}');
        }
        other => write_json(other, out, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_document_only() {
        let v = parse_yaml_json("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}));
        let v = parse_yaml_json("# c\n---\na: 1\n---\n: bad: [\n").unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}));
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["a10", "a9", "b", "_x", "A"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["_x", "A", "a9", "a10", "b"]);
    }

    #[test]
    fn quoting_like_yaml_v2() {
        let s = |x: &str| to_yaml(&Value::Str(x.into()));
        assert_eq!(s("on"), "\"on\"\n");
        assert_eq!(s("1.0"), "\"1.0\"\n");
        assert_eq!(s(""), "\"\"\n");
        assert_eq!(s("a: b"), "'a: b'\n");
        assert_eq!(s("a:b"), "a:b\n");
        assert_eq!(s("tab\there"), "\"tab\\there\"\n");
        assert_eq!(s("x\ny"), "|-\n  x\n  y\n");
    }
}
