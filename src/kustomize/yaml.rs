//! YAML in and out, the way kustomize (go-yaml v3 + JSON round trip) sees it.
//!
//! Reading uses serde-saphyr's event parser (granit-parser) directly so that scalar typing follows
//! go-yaml v3 exactly: only the quoting style and the text decide a scalar's type (`on`/`yes` stay
//! strings, `0755` is octal, `1e3` is a number, dates become RFC 3339 strings). Writing reproduces
//! kyaml's layout: sorted keys, 2-space indent, list dashes at the parent key's indentation.

use crate::model::budget::{DecodeBudget, NODE_COST, value_cost};
use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use std::collections::HashMap;

/// Largest file accepted (bytes); bigger inputs are refused before parsing.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;
/// Deepest nesting of maps and lists accepted.
pub const MAX_DEPTH: usize = 200;
/// Most nodes one file may expand to, counting every alias expansion (YAML bomb guard).
pub const MAX_NODES: usize = 2_000_000;

/// A YAML problem with its 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl YamlError {
    fn at(span: &Span, message: impl Into<String>) -> Self {
        YamlError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message: message.into(),
        }
    }
}

impl From<ScanError> for YamlError {
    fn from(e: ScanError) -> Self {
        YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info(),
        }
    }
}

/// Parses a multi-document YAML stream. Empty documents (only comments, or nothing) are dropped.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    parse_stream(text, false)
}

/// Like [`parse_documents`] but with YAML 1.1 booleans (`yes`, `on`, `y`, …), as sigs.k8s.io/yaml
/// reads kustomization files.
pub fn parse_documents_yaml11(text: &str) -> Result<Vec<Value>, YamlError> {
    parse_stream(text, true)
}

fn parse_stream(text: &str, yaml11: bool) -> Result<Vec<Value>, YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError {
            line: 1,
            column: 1,
            message: format!(
                "document too large ({} bytes, limit {MAX_FILE_BYTES})",
                text.len()
            ),
        });
    }
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
        budget: DecodeBudget::default(),
        last_span: None,
        yaml11,
        unterminated_end: (!text.is_empty() && !text.ends_with('\n'))
            .then(|| (text.len(), text.chars().count())),
    };
    builder.stream()
}

struct Builder<'a> {
    parser: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    /// Anchored values of the current document with their node counts and heights.
    anchors: HashMap<usize, Anchored>,
    nodes: usize,
    /// Bytes the document expands to (alias bombs of long strings stay under [`MAX_NODES`]).
    budget: DecodeBudget,
    last_span: Option<Span>,
    yaml11: bool,
    /// Length in bytes and characters of a text whose last line has no line break.
    unterminated_end: Option<(usize, usize)>,
}

/// An anchored value: expanding an alias copies it, so its size and nesting count again.
#[derive(Clone)]
struct Anchored {
    value: Value,
    /// Nodes it expands to.
    nodes: usize,
    /// Levels of maps and lists it nests (0 for a scalar).
    height: usize,
    /// Its cost in the decode budget.
    bytes: usize,
}

/// A node with its node count and height, or the event that ended the enclosing collection.
enum Item<'a> {
    Node(Value, usize, usize),
    End(Event<'a>),
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next() {
            Some(Ok((ev, span))) => {
                self.last_span = Some(span);
                Ok((ev, span))
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(self.error_here("unexpected end of YAML stream")),
        }
    }

    /// Whether a block scalar runs to the end of a text whose last line has no line break: go-yaml
    /// then keeps no final line break (the line has none), where the parser adds one.
    fn ends_unterminated(&self, style: ScalarStyle, span: &Span) -> bool {
        let Some((bytes, chars)) = self.unterminated_end else {
            return false;
        };
        matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
            && match span.end.byte_offset() {
                Some(b) => b >= bytes,
                None => span.end.index() >= chars,
            }
    }

    fn error_here(&self, message: &str) -> YamlError {
        match &self.last_span {
            Some(s) => YamlError::at(s, message),
            None => YamlError {
                line: 1,
                column: 1,
                message: message.to_string(),
            },
        }
    }

    fn stream(&mut self) -> Result<Vec<Value>, YamlError> {
        let mut docs = Vec::new();
        loop {
            let (ev, _) = self.next()?;
            match ev {
                Event::DocumentStart(..) => {
                    self.anchors.clear();
                    let mut value = None;
                    loop {
                        match self.item(0)? {
                            Item::Node(v, _, _) => value = Some(v),
                            Item::End(Event::DocumentEnd) => break,
                            Item::End(_) => return Err(self.error_here("unexpected YAML event")),
                        }
                    }
                    match value {
                        None | Some(Value::Null) => {}
                        Some(v) => docs.push(v),
                    }
                }
                Event::StreamEnd => return Ok(docs),
                _ => {}
            }
        }
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(YamlError::at(
                span,
                format!("YAML expands to more than {MAX_NODES} nodes (alias bomb?)"),
            ));
        }
        Ok(())
    }

    fn charge(&mut self, bytes: usize, span: &Span) -> Result<(), YamlError> {
        self.budget
            .charge(bytes)
            .map_err(|e| YamlError::at(span, e.to_string()))
    }

    fn anchor(&mut self, id: usize, value: &Value, nodes: usize, height: usize) {
        let bytes = value_cost(value);
        let value = value.clone();
        self.anchors.insert(
            id,
            Anchored {
                value,
                nodes,
                height,
                bytes,
            },
        );
    }

    /// Reads one node, or returns the closing event that ended the enclosing collection.
    fn item(&mut self, depth: usize) -> Result<Item<'a>, YamlError> {
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::Scalar(mut text, style, anchor, tag) => {
                    if self.ends_unterminated(style, &span) && text.ends_with('\n') {
                        text.to_mut().pop();
                    }
                    self.count(1, &span)?;
                    self.charge(NODE_COST.saturating_add(text.len()), &span)?;
                    let mut v = resolve_scalar(&text, style, tag.as_deref())
                        .map_err(|m| YamlError::at(&span, m))?;
                    if self.yaml11
                        && style == ScalarStyle::Plain
                        && tag.is_none()
                        && is_old_bool(&text)
                    {
                        v = Value::Bool(matches!(
                            &*text,
                            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
                        ));
                    }
                    if anchor != 0 {
                        self.anchor(anchor, &v, 1, 0);
                    }
                    return Ok(Item::Node(v, 1, 0));
                }
                Event::Alias(id) => {
                    let Some((nodes, bytes)) = self.anchors.get(&id).map(|a| (a.nodes, a.bytes))
                    else {
                        return Err(YamlError::at(&span, "unknown anchor"));
                    };
                    // Checked before the value is copied: the copy is what exhausts memory.
                    self.count(nodes, &span)?;
                    self.charge(bytes, &span)?;
                    let Some(a) = self.anchors.get(&id).cloned() else {
                        return Err(YamlError::at(&span, "unknown anchor"));
                    };
                    // Aliases nested in anchors nested in aliases would otherwise build values deeper
                    // than any text could, and every recursive walk of them would overflow the stack.
                    if depth.saturating_add(a.height) > MAX_DEPTH {
                        return Err(YamlError::at(
                            &span,
                            "YAML nested too deeply (through an alias)",
                        ));
                    }
                    return Ok(Item::Node(a.value, a.nodes, a.height));
                }
                Event::SequenceStart(_, anchor, _) => {
                    if depth >= MAX_DEPTH {
                        return Err(YamlError::at(&span, "YAML nested too deeply"));
                    }
                    self.count(1, &span)?;
                    self.charge(NODE_COST, &span)?;
                    let mut items = Vec::new();
                    let mut total = 1usize;
                    let mut height = 1usize;
                    loop {
                        match self.item(depth + 1)? {
                            Item::Node(v, n, h) => {
                                total = total.saturating_add(n);
                                height = height.max(h + 1);
                                items.push(v);
                            }
                            Item::End(Event::SequenceEnd) => break,
                            Item::End(_) => return Err(self.error_here("unexpected YAML event")),
                        }
                    }
                    let v = Value::Array(items);
                    if anchor != 0 {
                        self.anchor(anchor, &v, total, height);
                    }
                    return Ok(Item::Node(v, total, height));
                }
                Event::MappingStart(_, anchor, _) => {
                    if depth >= MAX_DEPTH {
                        return Err(YamlError::at(&span, "YAML nested too deeply"));
                    }
                    self.count(1, &span)?;
                    self.charge(NODE_COST, &span)?;
                    let mut map = Map::new();
                    let mut merges: Vec<Value> = Vec::new();
                    let mut total = 1usize;
                    let mut height = 1usize;
                    loop {
                        let key_span = span;
                        let key = match self.item(depth + 1)? {
                            Item::Node(k, n, h) => {
                                total = total.saturating_add(n);
                                height = height.max(h + 1);
                                k
                            }
                            Item::End(Event::MappingEnd) => break,
                            Item::End(_) => return Err(self.error_here("unexpected YAML event")),
                        };
                        let key_pos = self.last_span.unwrap_or(key_span);
                        let value = match self.item(depth + 1)? {
                            Item::Node(v, n, h) => {
                                total = total.saturating_add(n);
                                height = height.max(h + 1);
                                v
                            }
                            Item::End(_) => {
                                return Err(self.error_here("mapping key without value"));
                            }
                        };
                        if key == Value::String("<<".into()) && is_merge_source(&value) {
                            merges.push(value);
                            continue;
                        }
                        let key = key_text(&key);
                        if map.contains_key(&key) {
                            return Err(YamlError::at(
                                &key_pos,
                                format!("mapping key \"{key}\" already defined"),
                            ));
                        }
                        map.insert(key, value);
                    }
                    for source in merges {
                        apply_merge(&mut map, source);
                    }
                    let v = Value::Object(map);
                    if anchor != 0 {
                        self.anchor(anchor, &v, total, height);
                    }
                    return Ok(Item::Node(v, total, height));
                }
                Event::SequenceEnd | Event::MappingEnd | Event::DocumentEnd => {
                    return Ok(Item::End(ev));
                }
                Event::StreamEnd => return Err(YamlError::at(&span, "unexpected end of stream")),
                _ => {}
            }
        }
    }
}

fn is_merge_source(v: &Value) -> bool {
    match v {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().all(Value::is_object),
        _ => false,
    }
}

/// `<<` merge keys: keys already present win; in a list, earlier maps win.
fn apply_merge(map: &mut Map<String, Value>, source: Value) {
    match source {
        Value::Object(m) => {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
        Value::Array(items) => {
            for item in items {
                apply_merge(map, item);
            }
        }
        _ => {}
    }
}

/// Mapping keys become strings the way Go's JSON conversion prints them.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Resolves a scalar like go-yaml v3 decoding into `interface{}` followed by JSON encoding.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let folded;
    let text = if style == ScalarStyle::Folded {
        folded = go_yaml_folded(text);
        folded.as_str()
    } else {
        text
    };
    // Custom tags fall through: the value is resolved as if untagged.
    if let Some(suffix) = tag.and_then(Tag::core_suffix) {
        return match suffix {
            "str" => Ok(Value::String(text.to_string())),
            "null" => Ok(Value::Null),
            "bool" | "int" | "float" => {
                let v = resolve_plain(text)?;
                match (&v, suffix) {
                    (Value::Bool(_), "bool") | (Value::Number(_), "int" | "float") => Ok(v),
                    _ => Err(format!("cannot decode {text:?} as !!{suffix}")),
                }
            }
            _ => Ok(Value::String(text.to_string())),
        };
    }
    match style {
        ScalarStyle::Plain => resolve_plain(text),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// A folded (`>`) scalar as go-yaml v3 reads it: before a more-indented line (starting with a space
/// or tab) whose last non-empty predecessor was not more-indented, it keeps one line break more than
/// the YAML spec (which the parser follows), e.g. `foo\n\n  bar` instead of `foo\n  bar`.
fn go_yaml_folded(text: &str) -> String {
    if !text.contains("\n ") && !text.contains("\n\t") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    // Whether the last non-empty line was more-indented; None before the first one.
    let mut last_more_indented: Option<bool> = None;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            let more = line.starts_with([' ', '\t']);
            if more && last_more_indented == Some(false) {
                out.push('\n');
            }
            last_more_indented = Some(more);
        }
        out.push_str(line);
    }
    out
}

/// go-yaml v3 plain-scalar resolution (YAML 1.2 core schema plus a few 1.1 leftovers).
pub fn resolve_plain(text: &str) -> Result<Value, String> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => {
            return Err(format!("json: unsupported value: {text} (NaN/Inf)"));
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Ok(Value::String(text.to_string()));
    }
    if first.is_ascii_digit()
        && let Some(ts) = parse_timestamp(text)
    {
        return Ok(Value::String(ts));
    }
    let plain = text.replace('_', "");
    if let Some(n) = parse_go_int(&plain) {
        return Ok(Value::Number(n));
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return float_value(f).ok_or_else(|| format!("json: unsupported value: {text}"));
    }
    Ok(Value::String(text.to_string()))
}

/// A float as Go's JSON encoder would print it and kyaml would read it back: integral values
/// become integers.
pub fn float_value(f: f64) -> Option<Value> {
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            // Truncation is exact: f is integral and within u64 range.
            return Some(Value::Number(Number::from(f as u64)));
        }
        if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
            return Some(Value::Number(Number::from(f as i64)));
        }
    }
    Number::from_f64(f).map(Value::Number)
}

/// `strconv.ParseInt(s, 0, 64)` then `ParseUint`, plus go-yaml's `0b` handling.
fn parse_go_int(s: &str) -> Option<Number> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            // Fits: mag is at most 2^63.
            return Some(Number::from((mag as i128).wrapping_neg() as i64));
        }
        return None;
    }
    Some(Number::from(mag))
}

/// go-yaml's float pattern `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Unquoted timestamps (`2024-01-01`, `2024-01-01T10:00:00Z`) become RFC 3339 strings, as Go's
/// `time.Time` JSON encoding prints them.
fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim_start())),
        None => (s, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (y, m, d) = (
        parts[0],
        parts[1].parse::<u32>().ok()?,
        parts[2].parse::<u32>().ok()?,
    );
    if y.len() != 4
        || parts[1].len() > 2
        || parts[2].len() > 2
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let Some(rest) = rest else {
        return Some(format!("{y}-{m:02}-{d:02}T00:00:00Z"));
    };
    // Time part: h:m:s(.frac)?(Z|±hh:mm)?
    let (time, zone) = match rest.find(['Z', '+', '-']) {
        Some(i) => (rest[..i].trim_end(), &rest[i..]),
        None => (rest, ""),
    };
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => (a, f),
        Some(_) => return None,
        None => (time, ""),
    };
    let t: Vec<&str> = hms.split(':').collect();
    if t.len() != 3
        || t.iter()
            .any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (hh, mm, ss) = (
        t[0].parse::<u32>().ok()?,
        t[1].parse::<u32>().ok()?,
        t[2].parse::<u32>().ok()?,
    );
    let frac = frac.trim_end_matches('0');
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    let zone = match zone {
        "" | "Z" => "Z".to_string(),
        z => {
            let (sign, hm) = z.split_at(1);
            let (zh, zm) = hm.split_once(':').unwrap_or((hm, "00"));
            let zh = zh.parse::<u32>().ok()?;
            let zm = zm.parse::<u32>().ok()?;
            if zh == 0 && zm == 0 {
                "Z".to_string()
            } else {
                format!("{sign}{zh:02}:{zm:02}")
            }
        }
    };
    Some(format!(
        "{y}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{frac}{zone}"
    ))
}

// ---------------------------------------------------------------------------------------------
// Output

/// Serializes objects as a multi-document YAML stream in kustomize's style.
pub fn to_yaml_stream(docs: &[Value]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write_document(&mut out, doc);
    }
    out
}

/// Serializes one value as a YAML document (without `---`).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    write_document(&mut out, v);
    out
}

fn write_document(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) if !m.is_empty() => write_map(out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(out, a, 0),
        other => {
            // Continuation lines of a top-level scalar are indented: at column 0 a line could read
            // as a document marker (`---`, `...`).
            out.push_str(&scalar_text(other, 2, 0));
            out.push('\n');
        }
    }
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn write_map(out: &mut String, m: &Map<String, Value>, ind: usize) {
    // serde_json's map is a BTreeMap (the `preserve_order` feature is off): its byte order is
    // go-yaml's order for almost every key, so the sort is skipped when nothing differs.
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    if !entries.is_sorted_by(|a, b| !go_key_less(b.0, a.0)) {
        // Binary insertion: `sort_by` may panic on a comparator that is not a total order, and
        // go-yaml's is not guaranteed to be one.
        let mut sorted: Vec<(&String, &Value)> = Vec::with_capacity(entries.len());
        for e in entries {
            let at = sorted.partition_point(|s| !go_key_less(e.0, s.0));
            sorted.insert(at, e);
        }
        entries = sorted;
    }
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        let key = string_text(k, ind, true, 0);
        out.push_str(&key);
        out.push(':');
        write_value_after_key(out, v, ind, ind + key.chars().count() + 2);
    }
}

/// go-yaml's map key order (`keyList.Less` for strings), which kubectl's output follows: letters
/// compare by code point, a non-letter sorts before a letter (after a digit, a letter sorts first),
/// and runs of digits compare as numbers (`item9` before `item10`).
fn go_key_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        runes_less(a.as_bytes(), b.as_bytes())
    } else {
        let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        runes_less(&ar, &br)
    }
}

fn runes_less<T: Copy + Into<char>>(ar: &[T], br: &[T]) -> bool {
    let digit = |c: char| c.is_ascii_digit();
    let mut digits = false;
    for i in 0..ar.len().min(br.len()) {
        let (x, y): (char, char) = (ar[i].into(), br[i].into());
        if x == y {
            digits = digit(x);
            continue;
        }
        let (al, bl) = (x.is_alphabetic(), y.is_alphabetic());
        if al && bl {
            return x < y;
        }
        if al || bl {
            return if digits { al } else { bl };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if x == '0' || y == '0' {
            // A zero inside a number (`10` vs `1a`) counts as part of it, a leading one does not.
            for j in (0..i).rev() {
                let c: char = ar[j].into();
                if !digit(c) {
                    break;
                }
                if c != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(ar[ai].into()) {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(u32::from(ar[ai].into()) - u32::from('0')));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(br[bi].into()) {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(u32::from(br[bi].into()) - u32::from('0')));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return x < y;
    }
    ar.len() < br.len()
}

fn write_value_after_key(out: &mut String, v: &Value, ind: usize, col: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            indent(out, ind + 2);
            write_map(out, m, ind + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            indent(out, ind);
            write_seq(out, a, ind);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar_text(other, ind + 2, col));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], ind: usize) {
    for (i, item) in a.iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => write_map(out, m, ind + 2),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, ind + 2),
            other => {
                out.push_str(&scalar_text(other, ind + 2, ind + 2));
                out.push('\n');
            }
        }
    }
}

fn scalar_text(v: &Value, ind: usize, col: usize) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => string_text(s, ind, false, col),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
    }
}

/// Numbers as Go's `strconv.FormatFloat(f, 'g'-ish)` JSON output.
fn number_text(n: &Number) -> String {
    if n.is_f64()
        && let Some(f) = n.as_f64()
    {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            let s = format!("{f:e}");
            // Go writes the exponent with a sign and at least two digits.
            if let Some((mant, exp)) = s.split_once('e') {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                return format!("{mant}e{sign}{digits:0>2}");
            }
            return s;
        }
        return format!("{f}");
    }
    n.to_string()
}

/// Old YAML 1.1 booleans that go-yaml v3 still quotes on output.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// YAML 1.1 sexagesimal floats (`1:20`), also quoted by go-yaml v3.
fn is_base60_float(s: &str) -> bool {
    let b = s.trim_start_matches(['-', '+']);
    let Some((head, tail)) = b.split_once(':') else {
        return false;
    };
    if head.is_empty()
        || !head.as_bytes()[0].is_ascii_digit()
        || !head.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    let (parts, frac) = match tail.rsplit_once('.') {
        Some((p, f)) => (p, Some(f)),
        None => (tail, None),
    };
    if let Some(f) = frac
        && !f.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    parts.split(':').all(|p| {
        !p.is_empty()
            && p.len() <= 2
            && p.bytes().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n < 60)
    })
}

fn is_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
        || ('\u{20}'..='\u{7e}').contains(&c)
        || c == '\u{85}'
        || ('\u{a0}'..='\u{d7ff}').contains(&c)
        || (('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}')
}

/// Whether go-yaml's emitter would allow `s` as a block plain scalar.
fn plain_allowed(s: &str) -> bool {
    if s.is_empty()
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.starts_with("---")
        || s.starts_with("...")
    {
        return false;
    }
    let mut prev: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let followed_by_blank = matches!(next, None | Some(' ' | '\t' | '\n'));
        match prev {
            None => match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    return false;
                }
                '?' | ':' | '-' if followed_by_blank => return false,
                _ => {}
            },
            Some(p) => {
                if c == ':' && followed_by_blank {
                    return false;
                }
                if c == '#' && matches!(p, ' ' | '\t') {
                    return false;
                }
            }
        }
        // Line breaks make go-yaml's scalar multiline, never plain.
        if matches!(c, '\t' | '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
            || !is_printable(c)
            || (c as u32) > 0xFFFF
        {
            return false;
        }
        prev = Some(c);
    }
    true
}

fn string_text(s: &str, ind: usize, is_key: bool, col: usize) -> String {
    let special = s.chars().any(|c| !is_printable(c) || (c as u32) > 0xFFFF);
    if !is_key && s.contains('\n') && !special && literal_allowed(s) {
        return literal_block(s, ind);
    }
    let resolves_to_string = matches!(resolve_plain_for_output(s), Some(true));
    if !special && resolves_to_string && !is_old_bool(s) && !is_base60_float(s) && plain_allowed(s)
    {
        return if is_key {
            s.to_string()
        } else {
            fold(s, col, ind)
        };
    }
    if !special && resolves_to_string && !is_old_bool(s) && !is_base60_float(s) && single_allowed(s)
    {
        let quoted = format!("'{}'", s.replace('\'', "''"));
        return if is_key {
            quoted
        } else {
            fold(&quoted, col, ind)
        };
    }
    if is_key {
        double_quoted(s, None)
    } else {
        double_quoted(s, Some((col, ind)))
    }
}

/// go-yaml's line folding of plain and single-quoted scalars at width 80: a single space after
/// column 80 becomes a line break plus indentation.
fn fold(s: &str, start_col: usize, indent: usize) -> String {
    // Nothing to fold without a space, or when the whole text ends by column 80.
    if !s.contains(' ') || start_col + s.len() <= 80 {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut col = start_col;
    let mut prev_space = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_is_word = chars.get(i + 1).is_some_and(|n| *n != ' ');
            if !prev_space && col > 80 && next_is_word && i > 0 {
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', indent));
                col = indent;
                prev_space = true;
                continue;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
        out.push(c);
        col += 1;
    }
    out
}

/// Some(true) when `s` written plain would read back as a string.
fn resolve_plain_for_output(s: &str) -> Option<bool> {
    // Fast path for the common case (every key, most values), without the copies `resolve_plain`
    // makes: a string not starting like a number, timestamp or `.inf` resolves to itself unless it
    // is one of the null/bool/NaN words, all at most 6 bytes long.
    let first = s.as_bytes().first().copied().unwrap_or(b'0');
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) && s.len() > 6 {
        return Some(true);
    }
    if s.is_empty() || parse_timestamp(s).is_some() {
        return Some(false);
    }
    match resolve_plain(s) {
        Ok(Value::String(ref t)) => Some(t == s),
        _ => Some(false),
    }
}

fn single_allowed(s: &str) -> bool {
    !s.contains('\n') && !s.contains('\t') || s.is_empty()
}

fn literal_allowed(s: &str) -> bool {
    // Trailing spaces before a line break or tabs make go-yaml fall back to double quotes.
    !s.contains(" \n") && !s.contains('\t') && !s.contains('\r')
}

fn literal_block(s: &str, ind: usize) -> String {
    let mut head = String::from("|");
    if s.starts_with(' ') || s.starts_with('\n') {
        head.push('2');
    }
    if !s.ends_with('\n') {
        head.push('-');
    } else if s.ends_with("\n\n") || s == "\n" {
        head.push('+');
    }
    let mut out = head;
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            for _ in 0..ind {
                out.push(' ');
            }
            out.push_str(line);
        }
    }
    out
}

/// go-yaml v3's double-quoted style. `wrap` = `Some((start column, indent))` for values: like its
/// emitter, a single space past column 80 (not the first or last character) becomes a line break
/// plus indentation, with a `\` kept before a following space so that it is not folded away.
fn double_quoted(s: &str, wrap: Option<(usize, usize)>) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let chars: Vec<char> = s.chars().collect();
    let mut col = wrap.map_or(0, |(c, _)| c) + 1;
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        let escape = match c {
            '"' => Some("\\\"".to_string()),
            '\\' => Some("\\\\".to_string()),
            '\0' => Some("\\0".to_string()),
            '\u{7}' => Some("\\a".to_string()),
            '\u{8}' => Some("\\b".to_string()),
            '\t' => Some("\\t".to_string()),
            '\n' => Some("\\n".to_string()),
            '\u{b}' => Some("\\v".to_string()),
            '\u{c}' => Some("\\f".to_string()),
            '\r' => Some("\\r".to_string()),
            '\u{1b}' => Some("\\e".to_string()),
            '\u{85}' => Some("\\N".to_string()),
            '\u{2028}' => Some("\\L".to_string()),
            '\u{2029}' => Some("\\P".to_string()),
            c if is_printable(c) && (c as u32) <= 0xFFFF => None,
            c if (c as u32) <= 0xFF => Some(format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => Some(format!("\\u{:04X}", c as u32)),
            c => Some(format!("\\U{:08X}", c as u32)),
        };
        if let Some(e) = escape {
            col += e.chars().count();
            out.push_str(&e);
            spaces = false;
            continue;
        }
        if c == ' ' {
            if let Some((_, indent)) = wrap
                && !spaces
                && col > 80
                && i > 0
                && i + 1 < chars.len()
            {
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', indent));
                col = indent;
                if chars[i + 1] == ' ' {
                    out.push('\\');
                    col += 1;
                }
            } else {
                out.push(' ');
                col += 1;
            }
            spaces = true;
            continue;
        }
        out.push(c);
        col += 1;
        spaces = false;
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let mut docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn block_scalar_ending_the_file_without_line_break_has_none() {
        assert_eq!(one("a: |\n  x\n  y"), json!({"a": "x\ny"}));
        assert_eq!(one("a: >\n  x\n  y"), json!({"a": "x y"}));
        assert_eq!(one("a: |\n  x\n  y\n"), json!({"a": "x\ny\n"}));
        assert_eq!(one("a: |\n  x\nb: |\n  y"), json!({"a": "x\n", "b": "y"}));
        assert_eq!(one("a: |\n  x\n# end"), json!({"a": "x\n"}));
    }

    #[test]
    fn map_keys_are_written_in_go_yaml_order() {
        let v =
            json!({"NAME_LABEL": 1, "NAMESPACE_LABEL": 2, "item10": 3, "item9": 4, "a": 5, "B": 6});
        assert_eq!(
            to_yaml(&v),
            "B: 6\nNAME_LABEL: 1\nNAMESPACE_LABEL: 2\na: 5\nitem9: 4\nitem10: 3\n"
        );
    }

    #[test]
    fn scalars_follow_go_yaml_v3() {
        let v = one(
            "a: on\nb: yes\nc: y\nd: off\ne: 0755\nf: 0x1F\ng: 1_000\nh: 1e3\ni: True\nj: NULL\n\
             k: 2024-01-01\nl: ~\nm: \"5\"\nn: 5\no: 1.20\np: 0o17\nq: +5\nr: .5\ns: 1.\n\
             t: 12345678901234567890\nu: !!str 5\nv: 'on'\nw: FALSE\nx: 0b101\ny: -3\nz: 1:20\n",
        );
        assert_eq!(
            v,
            json!({"a":"on","b":"yes","c":"y","d":"off","e":493,"f":31,"g":1000,"h":1000,"i":true,
                   "j":null,"k":"2024-01-01T00:00:00Z","l":null,"m":"5","n":5,"o":1.2,"p":15,"q":5,
                   "r":0.5,"s":1,"t":12345678901234567890u64,"u":"5","v":"on","w":false,"x":5,"y":-3,
                   "z":"1:20"})
        );
    }

    #[test]
    fn non_finite_floats_are_errors() {
        let e = parse_documents("a: 1\nb: .inf\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 4));
    }

    #[test]
    fn invalid_yaml_reports_line_and_column() {
        let e = parse_documents("a: 1\nb: [1,\n  c: d\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let e = parse_documents("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }

    #[test]
    fn empty_and_comment_documents_are_skipped() {
        let docs = parse_documents("---\na: 1\n---\n# only a comment\n---\n\n---\nb: 2\n").unwrap();
        assert_eq!(docs, vec![json!({"a":1}), json!({"b":2})]);
    }

    #[test]
    fn anchors_and_merge_keys_expand() {
        let v = one("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        assert_eq!(
            v,
            json!({"base":{"x":1,"y":2},"use":{"x":1,"y":3},"list":[{"x":1,"y":2}]})
        );
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse_documents(&text).unwrap_err();
        assert!(e.message.contains("nodes"), "{e:?}");
    }

    #[test]
    fn long_strings_under_aliases_hit_the_byte_budget() {
        // Few nodes (100,000 expansions) but 100 GiB once expanded: refused by bytes, not nodes.
        let mut text = format!("a0: &a0 \"{}\"\n", "x".repeat(1 << 20));
        for i in 1..=5 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse_documents(&text).unwrap_err();
        assert!(e.message.contains("exceeds the limit"), "{e:?}");
        assert!(e.line >= 2, "{e:?}");
    }

    #[test]
    fn aliases_cannot_nest_deeper_than_the_limit() {
        // Each anchor nests the previous one 150 levels deeper: small text, huge depth once expanded.
        let open = "[".repeat(150);
        let close = "]".repeat(150);
        let mut text = format!("a0: &a0 {open}x{close}\n");
        for k in 1..40 {
            text.push_str(&format!("a{k}: &a{k} {open}*a{}{close}\n", k - 1));
        }
        let e = parse_documents(&text).unwrap_err();
        assert!(e.message.contains("through an alias"), "{e:?}");
        assert_eq!(e.line, 2, "{e:?}");
        // An alias whose value fits under the limit where it is used is fine.
        let v = one("a: &a [[1]]\nb: [[*a]]\n");
        assert_eq!(v, json!({"a": [[1]], "b": [[[[1]]]]}));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        assert!(parse_documents(&text).is_err());
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&" ".repeat(i));
            text.push_str("a:\n");
        }
        assert!(parse_documents(&text).is_err());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(parse_documents("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn output_quotes_what_would_change_type() {
        let v = json!({"b": ["on", "5", "*", "x: y", "plain", "", " lead", "1:20", "a\nb\n", "a\nb"], "a": {"n": 5, "f": 1.5, "t": true, "z": null, "e": {}, "l": []}});
        let text = to_yaml(&v);
        assert_eq!(
            text,
            "a:\n  e: {}\n  f: 1.5\n  l: []\n  \"n\": 5\n  t: true\n  z: null\nb:\n- \"on\"\n- \"5\"\n- '*'\n- 'x: y'\n- plain\n- \"\"\n- ' lead'\n- \"1:20\"\n- |\n  a\n  b\n- |-\n  a\n  b\n"
        );
        assert_eq!(one(&text), v);
    }

    #[test]
    fn nested_lists_and_maps_round_trip() {
        let v = json!({"spec": {"containers": [{"name": "a", "args": ["x", "y"], "env": [{"name": "K", "value": "1"}]}], "m": [[1, 2], [3]]}});
        let text = to_yaml(&v);
        assert!(
            text.contains("  containers:\n  - args:\n    - x\n"),
            "{text}"
        );
        assert_eq!(one(&text), v);
    }

    #[test]
    fn multiline_strings_without_literal_style_are_double_quoted() {
        // A space before a line break rules out the literal style; plain style must not be used
        // either (found by fuzzing: the value was written raw and read back without its breaks).
        for s in ["ec \n tl y\n", "a \nb", "x\u{2028}y"] {
            let v = json!({ "k": s });
            let text = to_yaml(&v);
            assert_eq!(one(&text), v, "{text}");
            assert_eq!(
                to_yaml_stream(&[json!(s)]).trim_end(),
                to_yaml(&json!(s)).trim_end()
            );
        }
        assert_eq!(to_yaml(&json!({"k": "a \nb"})), "k: \"a \\nb\"\n");
    }

    #[test]
    fn folded_scalars_keep_go_yaml_extra_break_before_more_indented_lines() {
        let text = "a: >\n  foo\n    bar\n    baz\n  end\nb: >2\n    lead\n  next\n";
        assert_eq!(
            one(text),
            json!({"a": "foo\n\n  bar\n  baz\nend\n", "b": "  lead\nnext\n"})
        );
        assert_eq!(one("a: >\n  x\n\n  y\n"), json!({"a": "x\ny\n"}));
    }

    #[test]
    fn long_double_quoted_values_wrap_like_go_yaml() {
        let s = format!("{}\n{}  two", "word ".repeat(17), "x ".repeat(10));
        let text = to_yaml(&json!({ "key": s }));
        assert_eq!(
            text,
            "key: \"word word word word word word word word word word word word word word word word\n  word \\nx x x x x x x x x x   two\"\n"
        );
        assert_eq!(one(&text), json!({ "key": s }));
        // Keys never wrap; a space followed by a space is kept with a backslash.
        let s = format!("{}\t  z", "y".repeat(79));
        let text = to_yaml(&json!({ "k": s }));
        assert_eq!(one(&text), json!({ "k": s }));
    }

    #[test]
    fn top_level_multiline_strings_round_trip() {
        // Found by fuzzing: a literal block at column 0 whose line starts with `---` split the stream.
        for s in [
            "--- map map\n]*",
            "a\n... b\n",
            &format!("{} --- x", "w ".repeat(45)),
        ] {
            let text = to_yaml(&json!(s));
            assert_eq!(parse_documents(&text).unwrap(), vec![json!(s)], "{text}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "\u{0}",
            "{",
            "]",
            "a: *x",
            "- &a\n- *a",
            "? [a]\n: b",
            "%YAML 9.9\n---\na",
            "a: !!int x",
            "\t- a",
        ] {
            let _ = parse_documents(s);
        }
    }
}
#[cfg(test)]
mod yaml11_tests {
    #[test]
    fn yaml11_booleans_in_kustomization_mode() {
        let v = super::parse_documents_yaml11("a: yes\nb: 'yes'\nc: on\n").unwrap();
        let w =
            super::parse_documents_yaml11("commonLabels:\n  enabled: yes\nresources:\n- cm.yaml\n")
                .unwrap();
        assert_eq!(w[0]["commonLabels"]["enabled"], true);
        assert_eq!(v[0], serde_json::json!({"a": true, "b": "yes", "c": true}));
    }
}
