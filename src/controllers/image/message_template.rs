//! The Go `text/template` subset used by ImageUpdateAutomation commit messages (flux-semantics
//! §6.3): text, `{{ .Field.Path }}`, variables (`$`, `$name.Field`), string literals, `range`
//! (with zero, one or two variables, and `else`), `if`/`else if`/`else`, `with`, comments,
//! `{{-`/`-}}` whitespace trimming, and the `len` function. Anything else (other functions,
//! pipes, assignments, `define`/`template`/`block`) is refused with an error naming it, so an
//! unsupported template fails visibly instead of rendering something else.

use std::fmt;

/// Data a template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateValue {
    /// Missing value (`<no value>` when printed).
    Nil,
    /// A string.
    Text(String),
    /// A map, in iteration order (Go sorts map keys).
    Map(Vec<(TemplateValue, TemplateValue)>),
    /// A slice.
    List(Vec<TemplateValue>),
    /// A struct with named fields, and how it prints (its `String()`).
    Struct {
        /// Fields (and zero-argument methods) by name.
        fields: Vec<(String, TemplateValue)>,
        /// Printed form.
        display: String,
    },
}

impl TemplateValue {
    fn truthy(&self) -> bool {
        match self {
            TemplateValue::Nil => false,
            TemplateValue::Text(s) => !s.is_empty(),
            TemplateValue::Map(m) => !m.is_empty(),
            TemplateValue::List(l) => !l.is_empty(),
            TemplateValue::Struct { .. } => true,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            TemplateValue::Nil => "nil",
            TemplateValue::Text(_) => "string",
            TemplateValue::Map(_) => "map",
            TemplateValue::List(_) => "slice",
            TemplateValue::Struct { .. } => "struct",
        }
    }
}

impl fmt::Display for TemplateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateValue::Nil => f.write_str("<no value>"),
            TemplateValue::Text(s) => f.write_str(s),
            TemplateValue::Struct { display, .. } => f.write_str(display),
            TemplateValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            TemplateValue::Map(entries) => {
                f.write_str("map[")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// What went wrong with a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// Malformed template text.
    Syntax,
    /// A valid Go construct this renderer does not implement.
    Unsupported,
    /// A field Flux removed (`.Updated`, `.Changed.ImageResult`): Stalled `RemovedTemplateField`.
    RemovedField,
    /// Evaluation failed (a field on a string, ranging over a string, …).
    Execution,
}

/// A template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// The kind of failure.
    pub kind: TemplateErrorKind,
    /// What failed, and where.
    pub message: String,
}

impl TemplateError {
    fn new(kind: TemplateErrorKind, message: impl Into<String>) -> TemplateError {
        TemplateError {
            kind,
            message: message.into(),
        }
    }

    /// Condition reason: `RemovedTemplateField` for removed fields, else `InvalidMessageTemplate`.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            TemplateErrorKind::RemovedField => "RemovedTemplateField",
            _ => "InvalidMessageTemplate",
        }
    }
}

/// Fields Flux removed from the template data, by path from the root.
const REMOVED_FIELDS: &[&[&str]] = &[&["Updated"], &["Changed", "ImageResult"]];

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `.A.B` (empty path = `.`).
    Dot(Vec<String>),
    /// `$name.A.B` (`$` alone has an empty name).
    Var(String, Vec<String>),
    /// `"text"`.
    Literal(String),
    /// `len X`.
    Len(Box<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Print(Operand),
    If {
        cond: Operand,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        value: Operand,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        vars: Vec<String>,
        over: Operand,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// A token of the template: text or the inside of an action.
#[derive(Debug)]
enum Token {
    Text(String),
    Action(String),
}

fn syntax(message: impl Into<String>) -> TemplateError {
    TemplateError::new(TemplateErrorKind::Syntax, message)
}

/// Splits the template into text and actions, applying `{{-`/`-}}` trimming; comments vanish.
fn tokenize(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let text = if trim_next_text {
                rest.trim_start()
            } else {
                rest
            };
            tokens.push(Token::Text(text.to_string()));
            break;
        };
        let mut text = &rest[..open];
        if trim_next_text {
            text = text.trim_start();
        }
        let after_open = &rest[open + 2..];
        let trim_left = after_open.starts_with("- ")
            || after_open.starts_with("-\n")
            || after_open.starts_with("-\t")
            || after_open.starts_with("-\r");
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text.to_string()));
        }
        let body_start = if trim_left { 1 } else { 0 };
        let inner = &after_open[body_start..];
        let close = find_close(inner)
            .ok_or_else(|| syntax(format!("unclosed action starting at byte {open}")))?;
        let mut action = &inner[..close];
        let trim_right = action.ends_with(" -")
            || action.ends_with("\n-")
            || action.ends_with("\t-")
            || action.ends_with("\r-");
        if trim_right {
            action = &action[..action.len() - 1];
        }
        let action = action.trim();
        if action.starts_with("/*") {
            if !action.ends_with("*/") {
                return Err(syntax("unclosed comment"));
            }
        } else {
            tokens.push(Token::Action(action.to_string()));
        }
        trim_next_text = trim_right;
        rest = &inner[close + 2..];
    }
    Ok(tokens)
}

/// Byte offset of the `}}` closing an action, skipping string literals and comments.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let trimmed = s.trim_start();
    if trimmed.starts_with("/*") {
        let start = s.len() - trimmed.len();
        let end = s[start..].find("*/")? + start + 2;
        return s[end..].find("}}").map(|i| i + end);
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits an action into words, keeping string literals whole.
fn words(action: &str) -> Result<Vec<String>, TemplateError> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '`' {
            word.push(c);
            chars.next();
            let mut closed = false;
            while let Some(ch) = chars.next() {
                word.push(ch);
                if ch == '\\' && c == '"' {
                    if let Some(esc) = chars.next() {
                        word.push(esc);
                    }
                } else if ch == c {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(syntax(format!("unterminated string in {{{{{action}}}}}")));
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
    Ok(out)
}

fn parse_field_path(text: &str, action: &str) -> Result<Vec<String>, TemplateError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let path: Vec<String> = text.split('.').map(str::to_string).collect();
    let valid = |p: &String| {
        !p.is_empty()
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
    };
    if !path.iter().all(valid) {
        return Err(syntax(format!(
            "bad field path '{text}' in {{{{{action}}}}}"
        )));
    }
    Ok(path)
}

fn unsupported(what: &str, action: &str) -> TemplateError {
    TemplateError::new(
        TemplateErrorKind::Unsupported,
        format!(
            "unsupported template construct {what} in {{{{{action}}}}} (supported: fields, variables, range, if, with, len)"
        ),
    )
}

fn parse_operand(words: &[String], action: &str) -> Result<Operand, TemplateError> {
    let Some(first) = words.first() else {
        return Err(syntax(format!("missing value in {{{{{action}}}}}")));
    };
    if words.iter().any(|w| w == "|") {
        return Err(unsupported("'|' (pipelines)", action));
    }
    if first == "len" {
        if words.len() != 2 {
            return Err(syntax(format!(
                "len takes one argument in {{{{{action}}}}}"
            )));
        }
        return Ok(Operand::Len(Box::new(parse_operand(&words[1..], action)?)));
    }
    if words.len() > 1 {
        if words.get(1).is_some_and(|w| w == ":=" || w == "=") {
            return Err(unsupported("variable assignment", action));
        }
        return Err(unsupported(&format!("function '{first}'"), action));
    }
    if let Some(path) = first.strip_prefix('.') {
        return Ok(Operand::Dot(parse_field_path(path, action)?));
    }
    if let Some(var) = first.strip_prefix('$') {
        let (name, path) = var.split_once('.').unwrap_or((var, ""));
        return Ok(Operand::Var(
            name.to_string(),
            parse_field_path(path, action)?,
        ));
    }
    if first.starts_with('"') {
        let s: String = serde_json::from_str(first)
            .map_err(|e| syntax(format!("bad string {first} in {{{{{action}}}}}: {e}")))?;
        return Ok(Operand::Literal(s));
    }
    if first.starts_with('`') && first.len() >= 2 {
        return Ok(Operand::Literal(first[1..first.len() - 1].to_string()));
    }
    Err(unsupported(&format!("'{first}'"), action))
}

/// Parses a node list until one of `stops` (an action keyword); returns the nodes and the stop.
fn parse_nodes(
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    stops: &[&str],
    depth: usize,
) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    if depth > 64 {
        return Err(syntax("template nests deeper than 64 levels"));
    }
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        let action = match token {
            Token::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Token::Action(a) => a,
        };
        let ws = words(&action)?;
        let keyword = ws.first().map(String::as_str).unwrap_or("");
        if stops.contains(&keyword) {
            return Ok((nodes, Some(action)));
        }
        match keyword {
            "" => return Err(syntax("empty action {{}}")),
            "if" | "with" => {
                let cond = parse_operand(&ws[1..], &action)?;
                let (then, stop) = parse_nodes(tokens, &["else", "end"], depth + 1)?;
                let otherwise = parse_else(tokens, stop, &action, depth)?;
                nodes.push(if keyword == "if" {
                    Node::If {
                        cond,
                        then,
                        otherwise,
                    }
                } else {
                    Node::With {
                        value: cond,
                        then,
                        otherwise,
                    }
                });
            }
            "range" => {
                let (vars, over_words) = match ws.iter().position(|w| w == ":=") {
                    Some(i) => {
                        let vars: Vec<String> = ws[1..i]
                            .iter()
                            .map(|v| v.trim_end_matches(',').to_string())
                            .filter(|v| !v.is_empty())
                            .collect();
                        if vars.is_empty()
                            || vars.len() > 2
                            || !vars.iter().all(|v| v.starts_with('$') && v.len() > 1)
                        {
                            return Err(syntax(format!("bad range variables in {{{{{action}}}}}")));
                        }
                        (
                            vars.iter().map(|v| v[1..].to_string()).collect(),
                            &ws[i + 1..],
                        )
                    }
                    None => (Vec::new(), &ws[1..]),
                };
                let over = parse_operand(over_words, &action)?;
                let (body, stop) = parse_nodes(tokens, &["else", "end"], depth + 1)?;
                let otherwise = parse_else(tokens, stop, &action, depth)?;
                nodes.push(Node::Range {
                    vars,
                    over,
                    body,
                    otherwise,
                });
            }
            "else" | "end" => {
                return Err(syntax(format!("unexpected {{{{{action}}}}}")));
            }
            "define" | "template" | "block" | "break" | "continue" => {
                return Err(unsupported(&format!("'{keyword}'"), &action));
            }
            _ => nodes.push(Node::Print(parse_operand(&ws, &action)?)),
        }
    }
    if stops.is_empty() {
        Ok((nodes, None))
    } else {
        Err(syntax("missing {{end}}"))
    }
}

/// After an `if`/`with`/`range` body: parses `{{else}}…{{end}}` or `{{else if …}}` chains.
fn parse_else(
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    stop: Option<String>,
    opener: &str,
    depth: usize,
) -> Result<Vec<Node>, TemplateError> {
    let Some(stop) = stop else {
        return Err(syntax(format!("missing {{{{end}}}} for {{{{{opener}}}}}")));
    };
    let ws = words(&stop)?;
    match ws.first().map(String::as_str) {
        Some("end") => Ok(Vec::new()),
        Some("else") if ws.len() == 1 => {
            let (nodes, stop) = parse_nodes(tokens, &["end"], depth + 1)?;
            if stop.is_none() {
                return Err(syntax(format!("missing {{{{end}}}} for {{{{{opener}}}}}")));
            }
            Ok(nodes)
        }
        Some("else") if ws.get(1).is_some_and(|w| w == "if" || w == "with") => {
            let nested = ws[1..].join(" ");
            let cond = parse_operand(&ws[2..], &stop)?;
            let (then, next) = parse_nodes(tokens, &["else", "end"], depth + 1)?;
            let otherwise = parse_else(tokens, next, &nested, depth + 1)?;
            Ok(vec![if ws[1] == "if" {
                Node::If {
                    cond,
                    then,
                    otherwise,
                }
            } else {
                Node::With {
                    value: cond,
                    then,
                    otherwise,
                }
            }])
        }
        _ => Err(syntax(format!("unexpected {{{{{stop}}}}}"))),
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageTemplate {
    nodes: Vec<Node>,
}

struct Scope<'a> {
    root: &'a TemplateValue,
    vars: Vec<(String, TemplateValue)>,
}

impl MessageTemplate {
    /// Parses template text; unsupported constructs are errors here, before any data is seen.
    pub fn parse(src: &str) -> Result<MessageTemplate, TemplateError> {
        let tokens = tokenize(src)?;
        let (nodes, _) = parse_nodes(&mut tokens.into_iter().peekable(), &[], 0)?;
        let template = MessageTemplate { nodes };
        template.check_removed_fields(&template.nodes)?;
        Ok(template)
    }

    fn check_removed_fields(&self, nodes: &[Node]) -> Result<(), TemplateError> {
        let check = |op: &Operand| -> Result<(), TemplateError> {
            let path = match op {
                Operand::Dot(p) | Operand::Var(_, p) => p,
                Operand::Len(inner) => match inner.as_ref() {
                    Operand::Dot(p) | Operand::Var(_, p) => p,
                    _ => return Ok(()),
                },
                Operand::Literal(_) => return Ok(()),
            };
            for removed in REMOVED_FIELDS {
                if path.len() >= removed.len()
                    && path.iter().zip(removed.iter()).all(|(a, b)| a == b)
                {
                    return Err(TemplateError::new(
                        TemplateErrorKind::RemovedField,
                        format!(
                            "template uses the removed field '.{}' (use .Changed.FileChanges, .Changed.Objects or .Changed.Changes)",
                            removed.join(".")
                        ),
                    ));
                }
            }
            Ok(())
        };
        for node in nodes {
            match node {
                Node::Text(_) => {}
                Node::Print(op) => check(op)?,
                Node::If {
                    cond: op,
                    then,
                    otherwise,
                }
                | Node::With {
                    value: op,
                    then,
                    otherwise,
                }
                | Node::Range {
                    over: op,
                    body: then,
                    otherwise,
                    ..
                } => {
                    check(op)?;
                    self.check_removed_fields(then)?;
                    self.check_removed_fields(otherwise)?;
                }
            }
        }
        Ok(())
    }

    /// Renders with `data` as `.` and `$`.
    pub fn render(&self, data: &TemplateValue) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut scope = Scope {
            root: data,
            vars: Vec::new(),
        };
        render_nodes(&self.nodes, data, &mut scope, &mut out)?;
        Ok(out)
    }
}

fn exec(message: String) -> TemplateError {
    TemplateError::new(TemplateErrorKind::Execution, message)
}

fn field_of(value: &TemplateValue, name: &str) -> Result<TemplateValue, TemplateError> {
    match value {
        TemplateValue::Struct { fields, .. } => fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| exec(format!("can't evaluate field {name} in this struct"))),
        TemplateValue::Map(entries) => Ok(entries
            .iter()
            .find(|(k, _)| matches!(k, TemplateValue::Text(t) if t == name))
            .map(|(_, v)| v.clone())
            .unwrap_or(TemplateValue::Nil)),
        TemplateValue::Nil => Ok(TemplateValue::Nil),
        other => Err(exec(format!(
            "can't evaluate field {name} in type {}",
            other.type_name()
        ))),
    }
}

fn follow(mut value: TemplateValue, path: &[String]) -> Result<TemplateValue, TemplateError> {
    for name in path {
        value = field_of(&value, name)?;
    }
    Ok(value)
}

fn eval(
    op: &Operand,
    dot: &TemplateValue,
    scope: &Scope<'_>,
) -> Result<TemplateValue, TemplateError> {
    match op {
        Operand::Dot(path) => follow(dot.clone(), path),
        Operand::Var(name, path) => {
            let base = if name.is_empty() {
                scope.root.clone()
            } else {
                scope
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| exec(format!("undefined variable ${name}")))?
            };
            follow(base, path)
        }
        Operand::Literal(s) => Ok(TemplateValue::Text(s.clone())),
        Operand::Len(inner) => match eval(inner, dot, scope)? {
            TemplateValue::Text(s) => Ok(TemplateValue::Text(s.len().to_string())),
            TemplateValue::List(l) => Ok(TemplateValue::Text(l.len().to_string())),
            TemplateValue::Map(m) => Ok(TemplateValue::Text(m.len().to_string())),
            other => Err(exec(format!("len of type {}", other.type_name()))),
        },
    }
}

fn render_nodes(
    nodes: &[Node],
    dot: &TemplateValue,
    scope: &mut Scope<'_>,
    out: &mut String,
) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Print(op) => out.push_str(&eval(op, dot, scope)?.to_string()),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if eval(cond, dot, scope)?.truthy() {
                    then
                } else {
                    otherwise
                };
                render_nodes(branch, dot, scope, out)?;
            }
            Node::With {
                value,
                then,
                otherwise,
            } => {
                let v = eval(value, dot, scope)?;
                if v.truthy() {
                    render_nodes(then, &v, scope, out)?;
                } else {
                    render_nodes(otherwise, dot, scope, out)?;
                }
            }
            Node::Range {
                vars,
                over,
                body,
                otherwise,
            } => {
                let items: Vec<(TemplateValue, TemplateValue)> = match eval(over, dot, scope)? {
                    TemplateValue::List(l) => l
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (TemplateValue::Text(i.to_string()), v))
                        .collect(),
                    TemplateValue::Map(m) => m,
                    TemplateValue::Nil => Vec::new(),
                    other => {
                        return Err(exec(format!(
                            "range can't iterate over {}",
                            other.type_name()
                        )));
                    }
                };
                if items.is_empty() {
                    render_nodes(otherwise, dot, scope, out)?;
                    continue;
                }
                for (key, value) in items {
                    let depth = scope.vars.len();
                    match vars.as_slice() {
                        [v] => scope.vars.push((v.clone(), value.clone())),
                        [k, v] => {
                            scope.vars.push((k.clone(), key));
                            scope.vars.push((v.clone(), value.clone()));
                        }
                        _ => {}
                    }
                    let result = render_nodes(body, &value, scope, out);
                    scope.vars.truncate(depth);
                    result?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
