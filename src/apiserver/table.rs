//! `Table` responses (kubectl's `get` output) and the kubectl-flavoured JSONPath that fills their cells.
//!
//! API contract: [`Column`], [`default_columns`], [`render_table`], [`jsonpath_cell`]; plus
//! [`partial_object_metadata`], [`partial_object_metadata_list`], [`columns_from_printer_columns`] and
//! [`jsonpath`] for the server.
//!
//! Divergences from kube-apiserver, on purpose: a cell with several matches joins them with `,` (the real
//! server keeps only the first), and a cell with no match is `""` rather than `null` (kubectl prints both
//! as blank). A `date` column with no match shows `<unknown>`.

use serde_json::{Map, Value, json};
use std::time::Duration;

use crate::model::age::human_duration;

/// A table column (from a CRD's `additionalPrinterColumns`, or a built-in kind's fixed columns).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Header, e.g. `Ready`.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date` (dates render as ages like `5m12s`).
    pub type_: String,
    /// Printer format (`name` for the Name column, usually empty).
    pub format: String,
    /// Column description.
    pub description: String,
    /// 0 = always shown; >0 = only with `-o wide`.
    pub priority: i64,
    /// JSONPath selecting the cell value, e.g. `.status.conditions[?(@.type=="Ready")].status`.
    pub json_path: String,
}

/// Description of the implicit Name column.
const NAME_DESCRIPTION: &str = "Name of the object, unique within its namespace for one kind. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// Description of the default Age column.
const AGE_DESCRIPTION: &str =
    "Time since the server created the object (metadata.creationTimestamp).";

/// The columns of a kind without printer columns, after the implicit leading `Name`: just `Age` (a `date`
/// column reading `.metadata.creationTimestamp`).
pub fn default_columns() -> Vec<Column> {
    vec![Column {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: AGE_DESCRIPTION.into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }]
}

/// Columns from a CRD version's `additionalPrinterColumns` (entries without `name` or `jsonPath` are
/// skipped); a missing or empty list yields [`default_columns`], as the real server defaults it.
pub fn columns_from_printer_columns(printer_columns: Option<&Value>) -> Vec<Column> {
    let Some(list) = printer_columns.and_then(Value::as_array) else {
        return default_columns();
    };
    if list.is_empty() {
        return default_columns();
    }
    let text = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    list.iter()
        .filter_map(|c| {
            let name = c.get("name")?.as_str()?.to_string();
            let json_path = c.get("jsonPath")?.as_str()?.to_string();
            let type_ = match text(c, "type") {
                t if t.is_empty() => "string".to_string(),
                t => t,
            };
            Some(Column {
                name,
                type_,
                format: text(c, "format"),
                description: text(c, "description"),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path,
            })
        })
        .collect()
}

/// Evaluates a kubectl JSONPath (`.a.b`, `[0]`, `[*]`, `[?(@.k=="v")]`) against `object` and renders the
/// cell: strings as-is, several matches joined by `,`, nothing matched → empty string; `date` columns
/// become ages relative to `now_unix` (seconds). `integer`, `number` and `boolean` columns give JSON
/// numbers/booleans when the value has that type. An unparsable path yields an empty cell.
pub fn jsonpath_cell(object: &Value, column: &Column, now_unix: i64) -> Value {
    let matches = jsonpath(object, &column.json_path).unwrap_or_default();
    match column.type_.as_str() {
        "date" => Value::String(match matches.first() {
            None | Some(Value::Null) => "<unknown>".into(),
            Some(Value::String(s)) => age_of(s, now_unix),
            Some(_) => "<invalid>".into(),
        }),
        "integer" if matches.len() == 1 => match matches[0] {
            Value::Number(n) => match n.as_i64() {
                Some(i) => json!(i),
                // Floats truncate toward zero like the real server's int64 conversion (saturating).
                None => json!(n.as_f64().map(|f| f as i64).unwrap_or(0)),
            },
            other => Value::String(join_text(&[other])),
        },
        "number" if matches.len() == 1 => match matches[0] {
            Value::Number(n) => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| Value::Number(n.clone())),
            other => Value::String(join_text(&[other])),
        },
        "boolean" if matches.len() == 1 => match matches[0] {
            Value::Bool(b) => Value::Bool(*b),
            other => Value::String(join_text(&[other])),
        },
        _ => Value::String(join_text(&matches)),
    }
}

/// A kubectl age for an RFC 3339 timestamp: `<invalid>` if unparsable or more than a second in the future.
fn age_of(timestamp: &str, now_unix: i64) -> String {
    let Ok(ts) = timestamp.parse::<jiff::Timestamp>() else {
        return "<invalid>".into();
    };
    let secs = now_unix.saturating_sub(ts.as_second());
    match secs {
        s if s < -1 => "<invalid>".into(),
        s if s < 0 => "0s".into(),
        s => human_duration(Duration::from_secs(s.unsigned_abs())),
    }
}

/// Text of several matches: strings verbatim, other scalars and containers as compact JSON, `,`-joined.
fn join_text(values: &[&Value]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    parts.join(",")
}

/// Renders a `meta.k8s.io/v1` Table of `objects` with a leading `Name` column followed by `columns`;
/// each row's `object` is the item's PartialObjectMetadata. `list_metadata` becomes the table's metadata
/// (resourceVersion, continue); anything but a JSON object becomes `{}`.
pub fn render_table(
    columns: &[Column],
    objects: &[Value],
    list_metadata: Value,
    now_unix: i64,
) -> Value {
    let metadata = match list_metadata {
        Value::Object(m) => Value::Object(m),
        _ => Value::Object(Map::new()),
    };
    let mut definitions = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": NAME_DESCRIPTION,
        "priority": 0,
    })];
    definitions.extend(columns.iter().map(|c| {
        json!({
            "name": c.name,
            "type": c.type_,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        })
    }));
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let name = o
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let mut cells = vec![Value::String(name.to_string())];
            cells.extend(columns.iter().map(|c| jsonpath_cell(o, c, now_unix)));
            json!({"cells": cells, "object": partial_object_metadata(o)})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// An object's `meta.k8s.io/v1` PartialObjectMetadata: its full `metadata` (or `{}` if absent/invalid).
pub fn partial_object_metadata(object: &Value) -> Value {
    let metadata = match object.get("metadata") {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => Value::Object(Map::new()),
    };
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

/// A `PartialObjectMetadataList` of `objects` with `list_metadata` (resourceVersion, continue).
pub fn partial_object_metadata_list(objects: &[Value], list_metadata: Value) -> Value {
    let metadata = match list_metadata {
        Value::Object(m) => Value::Object(m),
        _ => Value::Object(Map::new()),
    };
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "items": objects.iter().map(partial_object_metadata).collect::<Vec<_>>(),
    })
}

/// Evaluates a kubectl JSONPath against `object`; `None` when the path does not parse. Accepts an optional
/// `{…}` template wrapper and a leading `$`. Supports `.a`, `['a.b']`, `[0]`, `[-1]`, `[a:b:c]`, `[*]`,
/// `.*`, `..a`, unions `[0,1]`/`['a','b']`, and filters `[?(@.x == "v")]` (`==`, `!=`, `<`, `<=`, `>`,
/// `>=`, or bare `@.x` for existence).
pub fn jsonpath<'a>(object: &'a Value, path: &str) -> Option<Vec<&'a Value>> {
    let trimmed = path.trim();
    let inner = match trimmed.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}')?,
        None => trimmed,
    };
    let chars: Vec<char> = inner.trim().chars().collect();
    let mut parser = PathParser {
        chars: &chars,
        pos: 0,
    };
    if parser.peek() == Some('$') {
        parser.pos += 1;
    }
    let segments = parser.segments(false)?;
    if parser.pos != chars.len() {
        return None;
    }
    Some(evaluate(object, &segments))
}

/// Most descendants collected by `..` (keeps pathological objects cheap).
const MAX_DESCENDANTS: usize = 100_000;

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `.name`, `['name']`, or a union of keys.
    Keys(Vec<String>),
    /// `.*` or `[*]`: every value of an object or element of an array.
    Wildcard,
    /// `..`: the current nodes and all their descendants (the next segment selects among them).
    Descendants,
    /// `[i]` or `[i,j]` (negative counts from the end).
    Indices(Vec<i64>),
    /// `[start:end:step]`.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `[?(…)]`: the array elements satisfying the filter.
    Filter(Box<Filter>),
}

/// A filter expression `left op right`, or `left` alone (existence).
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Operand,
    comparison: Option<(CompareOp, Operand)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A side of a filter comparison.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@…` (relative to the element) or `$…` (relative to the root).
    Path {
        root: bool,
        segments: Vec<Segment>,
    },
    Literal(Value),
}

/// Character-level parser for JSONPath (no recursion beyond one filter level per bracket).
struct PathParser<'c> {
    chars: &'c [char],
    pos: usize,
}

impl PathParser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Parses segments until something that cannot continue a path. Inside a filter (`in_filter`), a
    /// field name stops at whitespace and operator characters.
    fn segments(&mut self, in_filter: bool) -> Option<Vec<Segment>> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    if self.eat('.') {
                        out.push(Segment::Descendants);
                        // `..[0]` and `..['a']` are allowed; `..name` and `..*` fall through below.
                        if self.peek() == Some('[') {
                            continue;
                        }
                    }
                    if self.eat('*') {
                        out.push(Segment::Wildcard);
                        continue;
                    }
                    let name = self.field_name(in_filter);
                    if name.is_empty() {
                        // A lone `.` (kubectl's `{.}`) selects the current node.
                        if out.is_empty() && self.peek().is_none() {
                            continue;
                        }
                        return None;
                    }
                    out.push(Segment::Keys(vec![name]));
                }
                Some('[') => {
                    self.pos += 1;
                    out.push(self.bracket()?);
                }
                _ => return Some(out),
            }
        }
    }

    /// A dotted field name; `\` escapes the next character (`a\.b` is the key `a.b`).
    fn field_name(&mut self, in_filter: bool) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '\\'
                && let Some(next) = self.peek_at(1)
            {
                name.push(next);
                self.pos += 2;
                continue;
            }
            let stop = c == '.'
                || c == '['
                || (in_filter
                    && (c.is_whitespace() || matches!(c, '=' | '!' | '<' | '>' | ')' | ']')));
            if stop {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// The inside of `[…]` after the opening bracket, including the closing one.
    fn bracket(&mut self) -> Option<Segment> {
        self.skip_spaces();
        let segment = match self.peek()? {
            '*' => {
                self.pos += 1;
                Segment::Wildcard
            }
            '?' => {
                self.pos += 1;
                self.skip_spaces();
                if !self.eat('(') {
                    return None;
                }
                let filter = self.filter()?;
                self.skip_spaces();
                if !self.eat(')') {
                    return None;
                }
                Segment::Filter(Box::new(filter))
            }
            '\'' | '"' => {
                let mut keys = vec![self.quoted()?];
                loop {
                    self.skip_spaces();
                    if !self.eat(',') {
                        break;
                    }
                    self.skip_spaces();
                    keys.push(self.quoted()?);
                }
                Segment::Keys(keys)
            }
            _ => self.index_or_slice()?,
        };
        self.skip_spaces();
        if !self.eat(']') {
            return None;
        }
        Some(segment)
    }

    /// A quoted key (`'…'` or `"…"`, with `\` escapes).
    fn quoted(&mut self) -> Option<String> {
        let quote = self.peek()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        self.pos += 1;
        let mut s = String::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            if c == quote {
                return Some(s);
            }
            if c == '\\' {
                s.push(self.peek()?);
                self.pos += 1;
            } else {
                s.push(c);
            }
        }
    }

    /// An optional signed integer.
    fn integer(&mut self) -> Option<Option<i64>> {
        self.skip_spaces();
        let start = self.pos;
        if self.peek() == Some('-') || self.peek() == Some('+') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Some(None);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<i64>().ok().map(Some)
    }

    /// `i`, `i,j,…` or `start:end[:step]`.
    fn index_or_slice(&mut self) -> Option<Segment> {
        let first = self.integer()?;
        self.skip_spaces();
        if self.eat(':') {
            let end = self.integer()?;
            self.skip_spaces();
            let step = if self.eat(':') { self.integer()? } else { None };
            return Some(Segment::Slice(first, end, step));
        }
        let mut indices = vec![first?];
        loop {
            self.skip_spaces();
            if !self.eat(',') {
                break;
            }
            indices.push(self.integer()??);
        }
        Some(Segment::Indices(indices))
    }

    /// `operand [op operand]` inside `?( … )`.
    fn filter(&mut self) -> Option<Filter> {
        self.skip_spaces();
        let left = self.operand()?;
        self.skip_spaces();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('=')) => Some((CompareOp::Eq, 2)),
            (Some('!'), Some('=')) => Some((CompareOp::Ne, 2)),
            (Some('<'), Some('=')) => Some((CompareOp::Le, 2)),
            (Some('>'), Some('=')) => Some((CompareOp::Ge, 2)),
            (Some('<'), _) => Some((CompareOp::Lt, 1)),
            (Some('>'), _) => Some((CompareOp::Gt, 1)),
            _ => None,
        };
        let comparison = match op {
            Some((op, width)) => {
                self.pos += width;
                self.skip_spaces();
                Some((op, self.operand()?))
            }
            None => None,
        };
        Some(Filter { left, comparison })
    }

    /// `@path`, `$path`, a quoted string, a number, `true`, `false` or `null`.
    fn operand(&mut self) -> Option<Operand> {
        match self.peek()? {
            c @ ('@' | '$') => {
                self.pos += 1;
                let segments = self.segments(true)?;
                Some(Operand::Path {
                    root: c == '$',
                    segments,
                })
            }
            '\'' | '"' => Some(Operand::Literal(Value::String(self.quoted()?))),
            _ => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
                {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "true" => Some(Operand::Literal(Value::Bool(true))),
                    "false" => Some(Operand::Literal(Value::Bool(false))),
                    "null" => Some(Operand::Literal(Value::Null)),
                    _ => serde_json::from_str::<serde_json::Number>(&word)
                        .ok()
                        .map(|n| Operand::Literal(Value::Number(n))),
                }
            }
        }
    }
}

/// Applies `segments` to `root`, collecting every match.
fn evaluate<'a>(root: &'a Value, segments: &[Segment]) -> Vec<&'a Value> {
    evaluate_from(root, root, segments)
}

fn evaluate_from<'a>(root: &'a Value, start: &'a Value, segments: &[Segment]) -> Vec<&'a Value> {
    let mut current = vec![start];
    for segment in segments {
        let mut next = Vec::new();
        for node in current {
            apply(root, node, segment, &mut next);
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    current
}

/// Applies one segment to one node.
fn apply<'a>(root: &'a Value, node: &'a Value, segment: &Segment, out: &mut Vec<&'a Value>) {
    match segment {
        Segment::Keys(keys) => {
            if let Value::Object(m) = node {
                out.extend(keys.iter().filter_map(|k| m.get(k)));
            }
        }
        Segment::Wildcard => match node {
            Value::Object(m) => out.extend(m.values()),
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Segment::Descendants => {
            // Iterative pre-order walk: no recursion, so deep objects cannot overflow the stack.
            let mut stack = vec![node];
            while let Some(v) = stack.pop() {
                if out.len() >= MAX_DESCENDANTS {
                    break;
                }
                out.push(v);
                match v {
                    Value::Object(m) => stack.extend(m.values().rev()),
                    Value::Array(a) => stack.extend(a.iter().rev()),
                    _ => {}
                }
            }
        }
        Segment::Indices(indices) => {
            if let Value::Array(a) = node {
                for &i in indices {
                    if let Some(idx) = resolve_index(i, a.len()) {
                        out.extend(a.get(idx));
                    }
                }
            }
        }
        Segment::Slice(start, end, step) => {
            if let Value::Array(a) = node {
                slice(a, *start, *end, *step, out);
            }
        }
        Segment::Filter(filter) => {
            if let Value::Array(a) = node {
                out.extend(a.iter().filter(|e| filter_matches(root, e, filter)));
            }
        }
    }
}

/// A possibly negative index into an array of `len`, if in range.
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let idx = if i < 0 { len.checked_add(i)? } else { i };
    if (0..len).contains(&idx) {
        usize::try_from(idx).ok()
    } else {
        None
    }
}

/// Python-style slicing with clamping; a zero step selects nothing.
fn slice<'a>(
    a: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    out: &mut Vec<&'a Value>,
) {
    let len = i64::try_from(a.len()).unwrap_or(i64::MAX);
    let step = step.unwrap_or(1);
    if step == 0 {
        return;
    }
    let clamp = |v: i64, lo: i64, hi: i64| {
        let v = if v < 0 { v.saturating_add(len) } else { v };
        v.clamp(lo, hi)
    };
    if step > 0 {
        let mut i = start.map_or(0, |s| clamp(s, 0, len));
        let stop = end.map_or(len, |e| clamp(e, 0, len));
        while i < stop {
            out.extend(usize::try_from(i).ok().and_then(|u| a.get(u)));
            i = i.saturating_add(step);
        }
    } else {
        let mut i = start.map_or(len - 1, |s| clamp(s, -1, len - 1));
        let stop = end.map_or(-1, |e| clamp(e, -1, len - 1));
        while i > stop {
            out.extend(usize::try_from(i).ok().and_then(|u| a.get(u)));
            i = i.saturating_add(step);
        }
    }
}

/// Whether one array element passes a filter.
fn filter_matches(root: &Value, element: &Value, filter: &Filter) -> bool {
    let left = operand_values(root, element, &filter.left);
    match &filter.comparison {
        None => !left.is_empty(),
        Some((op, right)) => {
            let right = operand_values(root, element, right);
            left.iter()
                .any(|l| right.iter().any(|r| compare(l, *op, r)))
        }
    }
}

/// The values a filter operand stands for (borrowed: deep elements are never cloned).
fn operand_values<'a>(root: &'a Value, element: &'a Value, operand: &'a Operand) -> Vec<&'a Value> {
    match operand {
        Operand::Literal(v) => vec![v],
        Operand::Path {
            root: true,
            segments,
        } => evaluate_from(root, root, segments),
        Operand::Path {
            root: false,
            segments,
        } => evaluate_from(root, element, segments),
    }
}

/// Compares two scalars: numbers numerically, strings lexically, anything else only for (in)equality.
fn compare(l: &Value, op: CompareOp, r: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering = match (l, r) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        CompareOp::Eq => ordering.map_or(l == r, |o| o == Ordering::Equal),
        CompareOp::Ne => ordering.map_or(l != r, |o| o != Ordering::Equal),
        CompareOp::Lt => ordering == Some(Ordering::Less),
        CompareOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => ordering == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(type_: &str, path: &str) -> Column {
        Column {
            name: "C".into(),
            type_: type_.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: path.into(),
        }
    }

    fn cell(o: &Value, path: &str) -> Value {
        jsonpath_cell(o, &col("string", path), 0)
    }

    fn kustomization() -> Value {
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {
                "name": "apps", "namespace": "flux-system",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app.kubernetes.io/name": "apps"},
                "annotations": {"a.b/c": "d"}
            },
            "spec": {"interval": "5m", "suspend": false, "replicas": 3, "ratio": 1.5,
                     "list": [1, 2, 3, 4, 5], "nested": {"x": [{"y": 1}]}},
            "status": {
                "conditions": [
                    {"type": "Reconciling", "status": "False", "reason": "Done", "priority": 1},
                    {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                     "message": "Applied revision: main@sha1:abc", "priority": 7}
                ],
                "lastAppliedRevision": "main@sha1:abc"
            }
        })
    }

    #[test]
    fn simple_paths() {
        let k = kustomization();
        assert_eq!(cell(&k, ".status.lastAppliedRevision"), "main@sha1:abc");
        assert_eq!(cell(&k, "{.metadata.name}"), "apps");
        assert_eq!(cell(&k, "$.metadata.namespace"), "flux-system");
        assert_eq!(
            cell(&k, ".metadata.labels['app.kubernetes.io/name']"),
            "apps"
        );
        assert_eq!(
            cell(&k, ".metadata.labels.app\\.kubernetes\\.io/name"),
            "apps"
        );
        assert_eq!(cell(&k, ".metadata.annotations[\"a.b/c\"]"), "d");
        assert_eq!(cell(&k, ".spec.missing"), "");
        assert_eq!(cell(&k, ".spec.interval.deeper"), "");
    }

    #[test]
    fn scalars_containers_and_joins() {
        let k = kustomization();
        assert_eq!(cell(&k, ".spec.suspend"), "false");
        assert_eq!(cell(&k, ".spec.replicas"), "3");
        assert_eq!(cell(&k, ".spec.nested"), r#"{"x":[{"y":1}]}"#);
        assert_eq!(cell(&k, ".spec.list"), "[1,2,3,4,5]");
        assert_eq!(cell(&k, ".spec.list[*]"), "1,2,3,4,5");
        assert_eq!(cell(&k, ".status.conditions[*].type"), "Reconciling,Ready");
        assert_eq!(
            cell(&k, ".status.conditions[*].type"),
            cell(&k, ".status.conditions.*.type")
        );
    }

    #[test]
    fn indices_and_slices() {
        let k = kustomization();
        assert_eq!(cell(&k, ".spec.list[0]"), "1");
        assert_eq!(cell(&k, ".spec.list[-1]"), "5");
        assert_eq!(cell(&k, ".spec.list[9]"), "");
        assert_eq!(cell(&k, ".spec.list[-9]"), "");
        assert_eq!(cell(&k, ".spec.list[1:3]"), "2,3");
        assert_eq!(cell(&k, ".spec.list[-2:]"), "4,5");
        assert_eq!(cell(&k, ".spec.list[::2]"), "1,3,5");
        assert_eq!(cell(&k, ".spec.list[::-1]"), "5,4,3,2,1");
        assert_eq!(cell(&k, ".spec.list[::0]"), "");
        assert_eq!(cell(&k, ".spec.list[0,2]"), "1,3");
        assert_eq!(
            cell(&k, ".spec.list[-99999999999:99999999999]"),
            "1,2,3,4,5"
        );
        assert_eq!(cell(&k, ".metadata[0]"), "");
    }

    #[test]
    fn filters() {
        let k = kustomization();
        assert_eq!(
            cell(&k, ".status.conditions[?(@.type==\"Ready\")].status"),
            "True"
        );
        assert_eq!(
            cell(&k, ".status.conditions[?(@.type == 'Ready')].reason"),
            "ReconciliationSucceeded"
        );
        assert_eq!(
            cell(&k, ".status.conditions[?(@.type!=\"Ready\")].type"),
            "Reconciling"
        );
        assert_eq!(
            cell(&k, ".status.conditions[?(@.priority > 3)].type"),
            "Ready"
        );
        assert_eq!(
            cell(&k, ".status.conditions[?(@.priority<3)].type"),
            "Reconciling"
        );
        assert_eq!(
            cell(&k, ".status.conditions[?(@.priority>=7)].type"),
            "Ready"
        );
        assert_eq!(cell(&k, ".status.conditions[?(@.message)].type"), "Ready");
        assert_eq!(
            cell(&k, ".status.conditions[?(@.type==\"Stalled\")].status"),
            ""
        );
        assert_eq!(cell(&k, ".spec.list[?(@ > 3)]"), "4,5");
        assert_eq!(
            cell(&k, ".status.conditions[?(@.priority==\"7\")].type"),
            "",
            "no cross-type equality"
        );
        assert_eq!(
            cell(
                &k,
                ".status.conditions[?(@.type==$.status.conditions[1].type)].priority"
            ),
            "7"
        );
        // A filter on a missing array or on an object is empty, not an error.
        assert_eq!(
            cell(
                &json!({}),
                ".status.conditions[?(@.type==\"Ready\")].status"
            ),
            ""
        );
        assert_eq!(cell(&k, ".metadata[?(@.name)]"), "");
    }

    #[test]
    fn recursive_descent() {
        let k = kustomization();
        assert_eq!(cell(&k, "..y"), "1");
        assert_eq!(cell(&k, "..reason"), "Done,ReconciliationSucceeded");
        assert_eq!(cell(&k, ".status..type"), "Reconciling,Ready");
        assert_eq!(cell(&k, ".spec.nested..[0].y"), "1");
    }

    #[test]
    fn invalid_paths_give_empty_cells() {
        let k = kustomization();
        for p in [
            "",
            ".",
            "..",
            "[",
            "]",
            ".a[",
            ".a[?(",
            ".a[?(@.x==)]",
            ".a['x",
            "{.a",
            ".a[1:2:3:4]",
            ".a[x]",
            "[?(@.a ~ 1)]",
            ".a[?@.x]",
            ".spec.list[0",
            "metadata.name",
            ".a..",
            "[,]",
            ".spec.list[99999999999999999999999]",
            ".a[?(@.x==\"\\",
        ] {
            let v = cell(&k, p);
            assert!(v.is_string(), "{p}: {v}");
        }
        assert_eq!(
            cell(&k, "metadata.name"),
            "",
            "a path must start with . [ or $"
        );
        assert_eq!(
            cell(&k, "{.}").as_str().map(|s| s.starts_with('{')),
            Some(true)
        );
    }

    #[test]
    fn typed_columns() {
        let k = kustomization();
        assert_eq!(
            jsonpath_cell(&k, &col("integer", ".spec.replicas"), 0),
            json!(3)
        );
        assert_eq!(
            jsonpath_cell(&k, &col("integer", ".spec.ratio"), 0),
            json!(1)
        );
        assert_eq!(
            jsonpath_cell(&k, &col("number", ".spec.ratio"), 0),
            json!(1.5)
        );
        assert_eq!(
            jsonpath_cell(&k, &col("boolean", ".spec.suspend"), 0),
            json!(false)
        );
        assert_eq!(
            jsonpath_cell(&k, &col("boolean", ".spec.interval"), 0),
            json!("5m")
        );
        assert_eq!(
            jsonpath_cell(&k, &col("integer", ".spec.none"), 0),
            json!("")
        );
    }

    #[test]
    fn date_columns() {
        let k = kustomization();
        let created = "2026-01-01T00:00:00Z"
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second());
        assert_eq!(created.ok(), Some(1_767_225_600));
        let age = |now: i64| jsonpath_cell(&k, &default_columns()[0], now);
        assert_eq!(age(1_767_225_600 + 312), "5m12s");
        assert_eq!(age(1_767_225_600), "0s");
        assert_eq!(age(1_767_225_600 - 1), "0s");
        assert_eq!(age(1_767_225_600 - 60), "<invalid>");
        assert_eq!(age(1_767_225_600 + 3 * 86_400), "3d");
        assert_eq!(age(i64::MAX), age(i64::MAX), "no overflow");
        assert_eq!(
            jsonpath_cell(&json!({}), &default_columns()[0], 0),
            "<unknown>"
        );
        let bad = json!({"metadata": {"creationTimestamp": "yesterday"}});
        assert_eq!(jsonpath_cell(&bad, &default_columns()[0], 0), "<invalid>");
        let num = json!({"metadata": {"creationTimestamp": 5}});
        assert_eq!(jsonpath_cell(&num, &default_columns()[0], 0), "<invalid>");
    }

    #[test]
    fn table_shape() {
        let k = kustomization();
        let mut ready = col("string", ".status.conditions[?(@.type==\"Ready\")].status");
        ready.name = "Ready".into();
        ready.description = "Ready condition".into();
        let mut columns = vec![ready];
        columns.extend(default_columns());
        let t = render_table(
            &columns,
            &[k.clone(), json!("not an object"), json!({"metadata": 7})],
            json!({"resourceVersion": "130", "continue": ""}),
            1_767_225_600 + 312,
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "130", "continue": ""})
        );
        let defs = t["columnDefinitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(defs.len(), 3);
        assert_eq!(defs[0]["name"], "Name");
        assert_eq!(defs[0]["format"], "name");
        assert_eq!(defs[0]["type"], "string");
        assert_eq!(defs[1]["name"], "Ready");
        assert_eq!(defs[1]["description"], "Ready condition");
        assert_eq!(defs[1]["priority"], 0);
        assert_eq!(defs[2]["type"], "date");
        assert_eq!(t["rows"][0]["cells"], json!(["apps", "True", "5m12s"]));
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": k["metadata"]})
        );
        assert_eq!(t["rows"][1]["cells"], json!(["", "", "<unknown>"]));
        assert_eq!(t["rows"][2]["object"]["metadata"], json!({}));
        let odd = render_table(&[], &[], json!(null), 0);
        assert_eq!(odd["metadata"], json!({}));
        assert_eq!(odd["rows"], json!([]));
    }

    #[test]
    fn partial_metadata_list() {
        let l = partial_object_metadata_list(&[kustomization()], json!({"resourceVersion": "9"}));
        assert_eq!(l["kind"], "PartialObjectMetadataList");
        assert_eq!(l["items"][0]["metadata"]["name"], "apps");
        assert_eq!(l["metadata"]["resourceVersion"], "9");
    }

    #[test]
    fn printer_columns_from_crd() {
        let cols = columns_from_printer_columns(Some(&json!([
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Status", "type": "string", "jsonPath": ".status.x", "priority": 1, "description": "d"},
            {"name": "NoPath"},
            {"jsonPath": ".x"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ])));
        assert_eq!(cols.len(), 3);
        assert_eq!(cols[1].priority, 1);
        assert_eq!(cols[1].description, "d");
        assert_eq!(columns_from_printer_columns(None), default_columns());
        assert_eq!(
            columns_from_printer_columns(Some(&json!([]))),
            default_columns()
        );
        assert_eq!(
            columns_from_printer_columns(Some(&json!("x"))),
            default_columns()
        );
    }

    #[test]
    fn deep_objects_do_not_overflow() {
        let mut v = json!(1);
        for _ in 0..5000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(cell(&v, "..[?(@ == 1)]"), "1");
        let path = ".a".repeat(10_000);
        assert_eq!(cell(&v, &path), "");
        // Dropping a deep serde_json value recurses; flatten it iteratively first.
        let mut cur = v;
        while let Value::Array(mut a) = cur {
            cur = a.pop().unwrap_or(Value::Null);
        }
    }
}
