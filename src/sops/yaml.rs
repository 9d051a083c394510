//! YAML files: parsed into the ordered tree with source positions, decrypted, and printed as
//! `sops --decrypt` prints them.
//!
//! `sops` writes encrypted YAML with go-yaml v3 (indent 4), and decrypting re-emits the same tree
//! with the same emitter. So the plaintext text is the encrypted text with each `ENC[…]` scalar
//! replaced by its plaintext in the style go-yaml picks for it (plain, single- or double-quoted,
//! literal block), each encrypted comment replaced by its text, and the `sops:` entries removed.
//! Comments, key order and layout stay as written. JSON input parses here too (it is YAML).

use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span as PSpan, StructureStyle};
use std::collections::HashMap;
use zeroize::Zeroizing;

use super::error::SopsError;
use super::keys::KeyRing;
use super::tree::{self, Comment, Entry, Leaf, Node, Scalar, Span};
use super::{Decrypted, metadata};
use crate::kustomize::yaml::resolve_plain;

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 200;
/// Most nodes one file may expand to through aliases.
const MAX_NODES: usize = 2_000_000;

/// A parsed stream: one root per document, plus where each document's `sops` entry sits.
pub struct Parsed {
    /// Document roots (the `sops` entries still in them).
    pub docs: Vec<Node>,
    /// Byte ranges of the `sops:` entries, to cut from the text.
    pub sops_spans: Vec<Span>,
    /// Comments outside any document root (before or after it).
    pub loose_comments: Vec<Comment>,
}

/// Parses `text` (YAML or JSON) into the ordered tree, with source positions.
pub fn parse(file: &str, text: &str) -> Result<Parsed, SopsError> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
        flow: 0,
        file,
        last: None,
    };
    b.stream()
}

/// Decrypts a YAML stream into its document trees (plaintext) and the parse, for callers that
/// need objects or text.
pub fn decrypt_tree(
    file: &str,
    text: &str,
    keys: &KeyRing,
) -> Result<(Vec<Node>, Parsed), SopsError> {
    decrypt_parsed(file, parse(file, text)?, keys)
}

/// Decrypts an already parsed stream (see [`decrypt_tree`]).
fn decrypt_parsed(
    file: &str,
    mut parsed: Parsed,
    keys: &KeyRing,
) -> Result<(Vec<Node>, Parsed), SopsError> {
    let mut meta_node = None;
    let mut docs = Vec::new();
    for mut d in std::mem::take(&mut parsed.docs) {
        if let Some(m) = d.remove("sops")
            && meta_node.is_none()
        {
            meta_node = Some(m);
        }
        docs.push(d);
    }
    let meta_node = meta_node.ok_or_else(|| SopsError::NotEncrypted {
        file: file.to_string(),
    })?;
    let md = metadata::parse(file, &meta_node)?;
    let key = keys.data_key(file, &md)?;
    let mac = tree::decrypt_branches(file, &mut docs, &key, &md.rules)?;
    tree::verify_mac(file, &md.mac, &md.lastmodified, &key, &mac)?;
    // Loose comments (outside every document mapping) have the empty path.
    let rules = &md.rules;
    if rules.encrypted(&[]) {
        for c in &mut parsed.loose_comments {
            if let Ok(Scalar::Str(s)) = super::cipher::decrypt_value(&c.text, &key, ":") {
                c.text = s;
                c.decrypted = true;
            }
        }
    }
    Ok((docs, parsed))
}

/// Decrypts a YAML file to the text `sops --decrypt` prints.
pub fn decrypt(file: &str, text: &str, keys: &KeyRing) -> Result<Decrypted, SopsError> {
    let (docs, parsed) = decrypt_tree(file, text, keys)?;
    Ok(render(text, &docs, &parsed))
}

/// [`decrypt`], unless `skip` says no from the parsed, still encrypted, documents (`None` then):
/// the caller's look at the documents and the decryption share one parse.
pub fn decrypt_unless(
    file: &str,
    text: &str,
    keys: &KeyRing,
    skip: &dyn Fn(&[Node]) -> bool,
) -> Result<Option<Decrypted>, SopsError> {
    let parsed = parse(file, text)?;
    if skip(&parsed.docs) {
        return Ok(None);
    }
    let (docs, parsed) = decrypt_parsed(file, parsed, keys)?;
    Ok(Some(render(text, &docs, &parsed)))
}

/// The encrypted text with each decrypted value and comment put in place and the `sops:`
/// entries cut out.
fn render(text: &str, docs: &[Node], parsed: &Parsed) -> Decrypted {
    let mut edits: Vec<(Span, String)> = Vec::new();
    for d in docs {
        collect_edits(text, d, &mut edits);
    }
    for c in &parsed.loose_comments {
        comment_edit(c, &mut edits);
    }
    for s in &parsed.sops_spans {
        edits.push((whole_lines(text, *s), String::new()));
    }
    edits.sort_by_key(|(s, _)| s.start);
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut at = 0;
    for (span, with) in &edits {
        if span.start < at || span.end > text.len() {
            continue;
        }
        out.extend_from_slice(&text.as_bytes()[at..span.start]);
        out.extend_from_slice(with.as_bytes());
        at = span.end;
    }
    out.extend_from_slice(&text.as_bytes()[at..]);
    Decrypted { text: out }
}

/// Widens a range to whole lines (from its line's start to past its last line break), so that
/// removing the `sops:` entry leaves no blank line.
fn whole_lines(text: &str, span: Span) -> Span {
    let start = text[..span.start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let mut end = span.end.min(text.len());
    if end > start && !text[..end].ends_with('\n') {
        let rest = &text[end..];
        match rest.find('\n') {
            Some(i) if rest[..i].trim().is_empty() => end += i + 1,
            None if rest.trim().is_empty() => end = text.len(),
            _ => {}
        }
    }
    Span { start, end }
}

fn comment_edit(c: &Comment, edits: &mut Vec<(Span, String)>) {
    if let (true, Some(span)) = (c.decrypted, c.span) {
        edits.push((span, format!("#{}", c.text)));
    }
}

fn collect_edits(text: &str, n: &Node, edits: &mut Vec<(Span, String)>) {
    match n {
        Node::Map(entries) => {
            for e in entries {
                match e {
                    Entry::Pair(_, v) => collect_edits(text, v, edits),
                    Entry::Comment(c) => comment_edit(c, edits),
                }
            }
        }
        Node::List(items) => {
            for i in items {
                collect_edits(text, i, edits);
            }
        }
        Node::Comment(c) => comment_edit(c, edits),
        Node::Leaf(l) => {
            if let (true, Some(span)) = (l.decrypted, l.span) {
                let span = with_quotes(text, span);
                let owner = owner_column(text, span.start);
                edits.push((span, render_scalar(&l.value, owner, l.flow)));
            }
        }
    }
}

/// Widens a scalar's span to its quotes when the parser reported the content only.
fn with_quotes(text: &str, span: Span) -> Span {
    let b = text.as_bytes();
    let (mut s, mut e) = (span.start, span.end.min(b.len()));
    if s > 0 && e < b.len() && (b[s - 1] == b'"' || b[s - 1] == b'\'') && b[e] == b[s - 1] {
        s -= 1;
        e += 1;
    }
    Span { start: s, end: e }
}

/// The column a block scalar's content is indented from: the key (or dash) that owns the value.
fn owner_column(text: &str, start: usize) -> usize {
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let prefix = &text.as_bytes()[line_start..start];
    let mut pos = prefix.iter().take_while(|c| **c == b' ').count();
    loop {
        if pos < prefix.len()
            && prefix[pos] == b'-'
            && prefix.get(pos + 1).is_none_or(|c| *c == b' ')
        {
            let dash = pos;
            pos += 1;
            while pos < prefix.len() && prefix[pos] == b' ' {
                pos += 1;
            }
            if pos >= prefix.len() {
                return dash;
            }
            continue;
        }
        break;
    }
    pos
}

/// A plaintext scalar as go-yaml v3 (indent 4) prints it, for a value owned by column `owner`.
pub fn render_scalar(v: &Scalar, owner: usize, flow: bool) -> String {
    match v {
        Scalar::Null => "null".into(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => super::cipher::go_format_float_g(*f),
        Scalar::Time(s) => s.clone(),
        Scalar::Str(s) => render_string(s, owner, flow),
        Scalar::Bytes(b) => render_string(&String::from_utf8_lossy(b), owner, flow),
    }
}

/// What libyaml's scalar analysis allows for a string.
struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

/// go-yaml's `is_printable` (which, unlike YAML's spec, leaves out NEL and characters beyond the BMP).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    c == '\n'
        || (0x20..=0x7e).contains(&u)
        || (0xa0..=0xd7ff).contains(&u)
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || is_break(c),
    }
}

fn analyze(s: &str) -> Analysis {
    let chars: Vec<char> = s.chars().collect();
    let (mut flow_ind, mut block_ind) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        flow_ind = true;
        block_ind = true;
    }
    let (mut special, mut line_breaks) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_ws = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_ws = is_blank(chars.get(i + 1).copied());
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                flow_ind = true;
                block_ind = true;
            }
            if c == '?' || c == ':' {
                flow_ind = true;
                if followed_ws {
                    block_ind = true;
                }
            }
            if c == '-' && followed_ws {
                flow_ind = true;
                block_ind = true;
            }
        } else {
            if ",?[]{}".contains(c) {
                flow_ind = true;
            }
            if c == ':' {
                flow_ind = true;
                if followed_ws {
                    block_ind = true;
                }
            }
            if c == '#' && preceded_ws {
                flow_ind = true;
                block_ind = true;
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
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
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = is_blank(Some(c));
    }
    let _ = flow_ind;
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
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
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

/// go-yaml's test for strings that must be quoted to stay strings.
fn can_use_plain(s: &str) -> bool {
    if s.is_empty() || is_old_bool(s) || is_base60_float(s) || looks_like_timestamp(s) {
        return false;
    }
    matches!(resolve_plain(s), Ok(Value::String(t)) if t == s)
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    if frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit() || c == '_')) {
        return false;
    }
    let mut parts = int.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && rest.iter().all(|p| {
            (1..=2).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
}

/// `YYYY-MM-DD…`: go-yaml resolves these as timestamps (which then need quotes to stay strings).
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || matches!(b[10], b'T' | b't' | b' ' | b'\t'))
}

fn render_string(s: &str, owner: usize, flow: bool) -> String {
    let a = analyze(s);
    if s.contains('\n') && !flow {
        if a.block {
            return literal_block(s, owner + 4);
        }
        return double_quoted(s);
    }
    if s.contains('\n') || !can_use_plain(s) {
        return double_quoted(s);
    }
    if a.block_plain && !flow {
        return s.to_string();
    }
    if a.single {
        return format!("'{}'", s.replace('\'', "''"));
    }
    double_quoted(s)
}

fn literal_block(s: &str, indent: usize) -> String {
    let mut out = String::from("|");
    if s.starts_with(' ') || s.starts_with('\n') {
        out.push('4');
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s == "\n" || s.ends_with("\n\n") {
        out.push('+');
    }
    let pad = " ".repeat(indent);
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) || c == '\u{feff}' => {
                let u = c as u32;
                if u <= 0xff {
                    out.push_str(&format!("\\x{u:02X}"));
                } else if u <= 0xffff {
                    out.push_str(&format!("\\u{u:04X}"));
                } else {
                    out.push_str(&format!("\\U{u:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Builder<'a> {
    parser: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    /// Depth of flow collections currently open.
    flow: usize,
    file: &'a str,
    last: Option<PSpan>,
}

enum Item<'a> {
    Node(Node, usize),
    Comment(Comment),
    End(Event<'a>),
}

fn span_of(s: &PSpan) -> Option<Span> {
    Some(Span {
        start: s.start.byte_offset()?,
        end: s.end.byte_offset()?,
    })
}

impl<'a> Builder<'a> {
    fn err(&self, message: impl Into<String>) -> SopsError {
        let at = self
            .last
            .map(|s| format!("line {}: ", s.start.line()))
            .unwrap_or_default();
        SopsError::Format {
            file: self.file.to_string(),
            message: format!("{at}{}", message.into()),
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, PSpan), SopsError> {
        match self.parser.next() {
            Some(Ok((ev, span))) => {
                self.last = Some(span);
                Ok((ev, span))
            }
            Some(Err(e)) => Err(SopsError::Format {
                file: self.file.to_string(),
                message: format!("line {}: {}", e.marker().line(), e.info()),
            }),
            None => Err(self.err("unexpected end of YAML stream")),
        }
    }

    fn stream(&mut self) -> Result<Parsed, SopsError> {
        let mut parsed = Parsed {
            docs: Vec::new(),
            sops_spans: Vec::new(),
            loose_comments: Vec::new(),
        };
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::DocumentStart(..) => {
                    self.anchors.clear();
                    loop {
                        match self.item(0, true, &mut parsed.sops_spans)? {
                            Item::Node(n, _) => {
                                if !matches!(&n, Node::Leaf(l) if l.value == Scalar::Null) {
                                    parsed.docs.push(n);
                                }
                            }
                            Item::Comment(c) => parsed.loose_comments.push(c),
                            Item::End(Event::DocumentEnd) => break,
                            Item::End(_) => return Err(self.err("unexpected YAML event")),
                        }
                    }
                }
                Event::Comment(text, _) => parsed.loose_comments.push(Comment {
                    text: text.to_string(),
                    span: span_of(&span),
                    decrypted: false,
                }),
                Event::StreamEnd => return Ok(parsed),
                _ => {}
            }
        }
    }

    fn count(&mut self, n: usize) -> Result<(), SopsError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(self.err(format!(
                "YAML expands to more than {MAX_NODES} nodes (alias bomb?)"
            )));
        }
        Ok(())
    }

    /// Reads one node, a comment, or the event closing the enclosing collection. `root` marks a
    /// document's top-level mapping, whose `sops` entry's range is recorded.
    fn item(
        &mut self,
        depth: usize,
        root: bool,
        sops_spans: &mut Vec<Span>,
    ) -> Result<Item<'a>, SopsError> {
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::Comment(text, _) => {
                    return Ok(Item::Comment(Comment {
                        text: text.to_string(),
                        span: span_of(&span),
                        decrypted: false,
                    }));
                }
                Event::Scalar(text, style, anchor, tag) => {
                    self.count(1)?;
                    let value = scalar(&text, style, tag.is_some());
                    let node = Node::Leaf(Leaf {
                        value,
                        span: span_of(&span),
                        flow: self.flow > 0,
                        decrypted: false,
                    });
                    if anchor != 0 {
                        self.anchors.insert(anchor, (node.clone(), 1));
                    }
                    return Ok(Item::Node(node, 1));
                }
                Event::Alias(id) => {
                    let Some((node, n)) = self.anchors.get(&id).cloned() else {
                        return Err(self.err("unknown anchor"));
                    };
                    self.count(n)?;
                    return Ok(Item::Node(strip_spans(node), n));
                }
                Event::SequenceStart(style, anchor, _) => {
                    if depth >= MAX_DEPTH {
                        return Err(self.err("YAML nested too deeply"));
                    }
                    self.count(1)?;
                    let flow = style == StructureStyle::Flow;
                    self.flow += usize::from(flow);
                    let mut items = Vec::new();
                    let mut total = 1usize;
                    loop {
                        match self.item(depth + 1, false, sops_spans)? {
                            Item::Node(n, c) => {
                                total = total.saturating_add(c);
                                items.push(n);
                            }
                            Item::Comment(c) => items.push(Node::Comment(c)),
                            Item::End(Event::SequenceEnd) => break,
                            Item::End(_) => return Err(self.err("unexpected YAML event")),
                        }
                    }
                    self.flow -= usize::from(flow);
                    let node = Node::List(items);
                    if anchor != 0 {
                        self.anchors.insert(anchor, (node.clone(), total));
                    }
                    return Ok(Item::Node(node, total));
                }
                Event::MappingStart(style, anchor, _) => {
                    if depth >= MAX_DEPTH {
                        return Err(self.err("YAML nested too deeply"));
                    }
                    self.count(1)?;
                    let flow = style == StructureStyle::Flow;
                    self.flow += usize::from(flow);
                    let mut entries = Vec::new();
                    let mut total = 1usize;
                    loop {
                        let (key, key_span) = match self.item(depth + 1, false, sops_spans)? {
                            Item::Node(Node::Leaf(l), c) => {
                                total = total.saturating_add(c);
                                (key_text(&l.value), l.span)
                            }
                            Item::Node(..) => {
                                return Err(self
                                    .err("only scalar mapping keys are supported in sops files"));
                            }
                            Item::Comment(c) => {
                                entries.push(Entry::Comment(c));
                                continue;
                            }
                            Item::End(Event::MappingEnd) => break,
                            Item::End(_) => return Err(self.err("unexpected YAML event")),
                        };
                        let mut pending = Vec::new();
                        let value = loop {
                            match self.item(depth + 1, false, sops_spans)? {
                                Item::Node(n, c) => {
                                    total = total.saturating_add(c);
                                    break n;
                                }
                                Item::Comment(c) => pending.push(Entry::Comment(c)),
                                Item::End(_) => {
                                    return Err(self.err("mapping key without value"));
                                }
                            }
                        };
                        if root
                            && key == "sops"
                            && let (Some(k), Some(end)) = (key_span, self.last)
                            && let Some(end) = end.end.byte_offset()
                        {
                            sops_spans.push(Span {
                                start: k.start,
                                end,
                            });
                        }
                        // Comments between a key and its block value belong to the value's
                        // first entry, as go-yaml hands them to sops (their path includes the key).
                        let value = match value {
                            Node::Map(mut inner) if !pending.is_empty() => {
                                inner.splice(0..0, pending.drain(..));
                                Node::Map(inner)
                            }
                            Node::List(mut inner) if !pending.is_empty() => {
                                let comments = pending.drain(..).filter_map(|e| match e {
                                    Entry::Comment(c) => Some(Node::Comment(c)),
                                    Entry::Pair(..) => None,
                                });
                                inner.splice(0..0, comments);
                                Node::List(inner)
                            }
                            other => other,
                        };
                        entries.push(Entry::Pair(key, value));
                        entries.extend(pending);
                    }
                    self.flow -= usize::from(flow);
                    let node = Node::Map(entries);
                    if anchor != 0 {
                        self.anchors.insert(anchor, (node.clone(), total));
                    }
                    return Ok(Item::Node(node, total));
                }
                Event::SequenceEnd | Event::MappingEnd | Event::DocumentEnd => {
                    return Ok(Item::End(ev));
                }
                Event::StreamEnd => return Err(self.err("unexpected end of stream")),
                _ => {}
            }
        }
    }
}

/// Aliased copies are not in the text: they are decrypted for the objects but not replaced.
fn strip_spans(mut n: Node) -> Node {
    fn walk(n: &mut Node) {
        match n {
            Node::Map(es) => {
                for e in es {
                    match e {
                        Entry::Pair(_, v) => walk(v),
                        Entry::Comment(c) => c.span = None,
                    }
                }
            }
            Node::List(items) => items.iter_mut().for_each(walk),
            Node::Leaf(l) => l.span = None,
            Node::Comment(c) => c.span = None,
        }
    }
    walk(&mut n);
    n
}

fn key_text(v: &Scalar) -> String {
    match v {
        Scalar::Str(s) | Scalar::Time(s) => s.clone(),
        Scalar::Null => "null".into(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => super::cipher::go_format_float_g(*f),
        Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A scalar typed as go-yaml v3 decodes it into `interface{}`.
fn scalar(text: &str, style: ScalarStyle, tagged: bool) -> Scalar {
    if style != ScalarStyle::Plain || tagged {
        return Scalar::Str(text.to_string());
    }
    match resolve_plain(text) {
        Ok(Value::Null) => Scalar::Null,
        Ok(Value::Bool(b)) => Scalar::Bool(b),
        Ok(Value::Number(n)) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(0.0)),
        },
        Ok(Value::String(s)) if s != text => Scalar::Time(s),
        _ => Scalar::Str(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_render_in_go_yaml_styles() {
        let r = |s: &str| render_string(s, 0, false);
        assert_eq!(r("hello"), "hello");
        assert_eq!(r("123"), "\"123\"");
        assert_eq!(r("true"), "\"true\"");
        assert_eq!(r("yes"), "\"yes\"");
        assert_eq!(r("a: b"), "'a: b'");
        assert_eq!(r("#x"), "'#x'");
        assert_eq!(r(" lead"), "' lead'");
        assert_eq!(r("tab\there"), "\"tab\\there\"");
        assert_eq!(r("l1\nl2"), "|-\n    l1\n    l2");
        assert_eq!(r("l1\nl2\n"), "|\n    l1\n    l2");
        assert_eq!(r("l1\n\nl2\n\n"), "|+\n    l1\n\n    l2\n");
        assert_eq!(r("trail \nx"), "\"trail \\nx\"");
    }

    #[test]
    fn owner_column_finds_the_key_or_dash() {
        let t = "a:\n    b: X\n    -   c: Y\n    - Z\n";
        assert_eq!(owner_column(t, t.find('X').unwrap()), 4);
        assert_eq!(owner_column(t, t.find('Y').unwrap()), 8);
        assert_eq!(owner_column(t, t.find('Z').unwrap()), 4);
    }

    #[test]
    fn parses_order_types_and_comments() {
        let p = parse("f", "# top\nb: 1\na: [x, 'y']\nc: 2.5\nd: null\ne: true\n").unwrap();
        let Node::Map(es) = &p.docs[0] else {
            panic!("map expected")
        };
        let keys: Vec<&str> = es
            .iter()
            .filter_map(|e| match e {
                Entry::Pair(k, _) => Some(k.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(keys, ["b", "a", "c", "d", "e"]);
        assert_eq!(p.docs[0].to_value()["c"], serde_json::json!(2.5));
    }

    #[test]
    fn malformed_yaml_is_an_error() {
        for bad in ["a: [", "a: *x", "{a: 1", "a:\n  - b\n c: d"] {
            assert!(parse("f", bad).is_err(), "{bad}");
        }
    }
}
