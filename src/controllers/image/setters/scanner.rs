//! A line scanner for YAML text that finds setter-marker comments and the scalar each follows.
//!
//! It understands just enough YAML to be safe: quoted scalars (also spanning lines), plain
//! scalars, flow collections, block-scalar bodies (skipped), anchors/tags/aliases, document
//! markers and directives. Anything it cannot place precisely yields a marker without a target.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteStyle {
    /// Unquoted.
    Plain,
    /// `'…'`.
    Single,
    /// `"…"`.
    Double,
}

/// The scalar a marker applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Byte range of the scalar, quotes included.
    pub span: Range<usize>,
    /// Its style.
    pub style: QuoteStyle,
    /// Inside a flow collection (`[…]`, `{…}`), where `,[]{}` end plain scalars.
    pub in_flow: bool,
}

/// A marker comment found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedMarker {
    /// 1-based line.
    pub line: usize,
    /// Byte offset of the `#`.
    pub comment_offset: usize,
    /// The `$imagepolicy` value.
    pub setter: String,
    /// The scalar value it follows on the same line, when there is exactly one such scalar.
    pub target: Option<Target>,
}

/// Everything the scanner found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Markers in text order.
    pub markers: Vec<ScannedMarker>,
    /// Byte offsets where YAML documents start (always begins with 0).
    pub document_starts: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// An indicator (`:`, `-`, `?`, `,`, `[`, `]`, `{`, `}`) at a column.
    Indicator(u8, usize),
    /// A scalar: absolute span, style, whether it began on this line, innermost flow bracket.
    Scalar {
        start: usize,
        end: usize,
        style: QuoteStyle,
        began_here: bool,
        flow: u8,
    },
    /// Anchor, tag or alias.
    Property,
    /// A block scalar header (`|`, `>-`, ...).
    BlockHeader,
}

#[derive(Default)]
struct State {
    flow: Vec<u8>,
    open_quote: Option<QuoteStyle>,
    block_threshold: Option<usize>,
    document_has_content: bool,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// Scans `text` for markers and document boundaries.
pub fn scan(text: &str) -> Scan {
    let mut result = Scan {
        markers: Vec::new(),
        document_starts: vec![0],
    };
    let mut state = State::default();
    let mut offset = 0;
    for (index, raw_line) in text.split_inclusive('\n').enumerate() {
        let line = raw_line.strip_suffix('\n').unwrap_or(raw_line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        scan_line(line.as_bytes(), offset, index + 1, &mut state, &mut result);
        offset += raw_line.len();
    }
    result
}

fn scan_line(line: &[u8], offset: usize, line_no: usize, state: &mut State, out: &mut Scan) {
    if let Some(threshold) = state.block_threshold {
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        if line.iter().all(|&b| is_blank(b)) || indent > threshold {
            return;
        }
        state.block_threshold = None;
    }
    let mut tokens: Vec<Token> = Vec::new();
    let mut pos = 0;
    if let Some(style) = state.open_quote {
        match find_closing_quote(line, 0, style) {
            Some(close) => {
                tokens.push(Token::Scalar {
                    start: offset,
                    end: offset + close + 1,
                    style,
                    began_here: false,
                    flow: state.flow.last().copied().unwrap_or(0),
                });
                state.open_quote = None;
                pos = close + 1;
            }
            None => return,
        }
    } else if state.flow.is_empty() {
        let marker = |m: &[u8]| line.starts_with(m) && line.get(3).is_none_or(|&b| is_blank(b));
        if marker(b"---") {
            if state.document_has_content {
                out.document_starts.push(offset);
                state.document_has_content = false;
            }
            pos = 3;
        } else if marker(b"...") {
            pos = 3;
        } else if line.first() == Some(&b'%') {
            return;
        }
    }

    let mut comment_at = None;
    let mut pending_block = None;
    while pos < line.len() {
        let b = line[pos];
        if is_blank(b) {
            pos += 1;
            continue;
        }
        let in_flow = !state.flow.is_empty();
        let next_is_break = line
            .get(pos + 1)
            .is_none_or(|&n| is_blank(n) || (in_flow && is_flow_indicator(n)));
        match b {
            b'#' if pos == 0 || is_blank(line[pos - 1]) => {
                comment_at = Some(pos);
                break;
            }
            b'"' | b'\'' => {
                let style = if b == b'"' {
                    QuoteStyle::Double
                } else {
                    QuoteStyle::Single
                };
                match find_closing_quote(line, pos + 1, style) {
                    Some(close) => {
                        tokens.push(Token::Scalar {
                            start: offset + pos,
                            end: offset + close + 1,
                            style,
                            began_here: true,
                            flow: state.flow.last().copied().unwrap_or(0),
                        });
                        pos = close + 1;
                    }
                    None => {
                        state.open_quote = Some(style);
                        state.document_has_content = true;
                        return;
                    }
                }
            }
            b'-' | b'?' | b':' if next_is_break => {
                tokens.push(Token::Indicator(b, pos));
                pos += 1;
            }
            b'[' | b'{' => {
                state.flow.push(b);
                tokens.push(Token::Indicator(b, pos));
                pos += 1;
            }
            b']' | b'}' => {
                state.flow.pop();
                tokens.push(Token::Indicator(b, pos));
                pos += 1;
            }
            b',' if in_flow => {
                tokens.push(Token::Indicator(b, pos));
                pos += 1;
            }
            b'&' | b'*' | b'!' => {
                while pos < line.len()
                    && !is_blank(line[pos])
                    && !(in_flow && is_flow_indicator(line[pos]))
                {
                    pos += 1;
                }
                tokens.push(Token::Property);
            }
            b'|' | b'>' if !in_flow => {
                while pos < line.len()
                    && matches!(line[pos], b'|' | b'>' | b'+' | b'-' | b'0'..=b'9')
                {
                    pos += 1;
                }
                pending_block = Some(block_threshold(line, &tokens, offset));
                tokens.push(Token::BlockHeader);
            }
            _ => {
                let end = plain_end(line, pos, in_flow);
                tokens.push(Token::Scalar {
                    start: offset + pos,
                    end: offset + end,
                    style: QuoteStyle::Plain,
                    began_here: true,
                    flow: state.flow.last().copied().unwrap_or(0),
                });
                pos = end.max(pos + 1);
            }
        }
    }
    if !tokens.is_empty() {
        state.document_has_content = true;
    }
    if let Some(threshold) = pending_block {
        state.block_threshold = Some(threshold);
    }
    let Some(comment) = comment_at else { return };
    let Some(setter) = marker_setter(&line[comment + 1..]) else {
        return;
    };
    out.markers.push(ScannedMarker {
        line: line_no,
        comment_offset: offset + comment,
        setter,
        target: marker_target(&tokens),
    });
}

/// Column a block scalar's body must exceed: the key's column after `key:`, the dash's after `-`.
fn block_threshold(line: &[u8], tokens: &[Token], offset: usize) -> usize {
    let mut before = tokens.iter().rev().filter(|t| **t != Token::Property);
    match before.next() {
        Some(Token::Indicator(b':', _)) => match before.next() {
            Some(Token::Scalar { start, .. }) => start - offset,
            _ => line.iter().take_while(|&&b| b == b' ').count(),
        },
        Some(Token::Indicator(b'-', col)) => *col,
        _ => line.iter().take_while(|&&b| b == b' ').count(),
    }
}

/// End (exclusive, trailing blanks trimmed) of a plain scalar starting at `start`.
fn plain_end(line: &[u8], start: usize, in_flow: bool) -> usize {
    let mut i = start;
    while i < line.len() {
        let b = line[i];
        let next = line.get(i + 1).copied();
        if b == b':' && next.is_none_or(|n| is_blank(n) || (in_flow && is_flow_indicator(n))) {
            break;
        }
        if b == b'#' && i > start && is_blank(line[i - 1]) {
            break;
        }
        if in_flow && is_flow_indicator(b) {
            break;
        }
        i += 1;
    }
    while i > start && is_blank(line[i - 1]) {
        i -= 1;
    }
    i
}

/// Index of the closing quote at or after `from`, honouring `\` escapes or `''`.
fn find_closing_quote(line: &[u8], from: usize, style: QuoteStyle) -> Option<usize> {
    let mut i = from;
    while i < line.len() {
        match (style, line[i]) {
            (QuoteStyle::Double, b'\\') => i += 2,
            (QuoteStyle::Double, b'"') => return Some(i),
            (QuoteStyle::Single, b'\'') => {
                if line.get(i + 1) == Some(&b'\'') {
                    i += 2;
                } else {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The `$imagepolicy` value of a comment (text after `#`), if it is a marker.
fn marker_setter(comment: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(comment).ok()?;
    if !text.contains("$imagepolicy") {
        return None;
    }
    let json = text.trim_start_matches('#').trim();
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    value.get("$imagepolicy")?.as_str().map(str::to_string)
}

/// The scalar value a marker on this line applies to, if exactly determinable.
fn marker_target(tokens: &[Token]) -> Option<Target> {
    let mut rest = tokens;
    if let Some((Token::Indicator(b',', _), init)) = rest.split_last() {
        rest = init;
    }
    let (last, init) = rest.split_last()?;
    let Token::Scalar {
        start,
        end,
        style,
        began_here: true,
        flow,
    } = *last
    else {
        return None;
    };
    let previous = init.iter().rev().find(|t| **t != Token::Property);
    let is_value = match previous {
        Some(Token::Indicator(b':', _)) | Some(Token::Indicator(b'-', _)) => true,
        Some(Token::Indicator(b'[', _)) | Some(Token::Indicator(b',', _)) | None => flow == b'[',
        _ => false,
    };
    is_value.then_some(Target {
        span: start..end,
        style,
        in_flow: flow != 0,
    })
}

/// The string value of a single-line scalar as written.
pub fn decode_scalar(raw: &str, style: QuoteStyle) -> String {
    let inner = || raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
    match style {
        QuoteStyle::Plain => raw.to_string(),
        QuoteStyle::Single => inner().replace("''", "'"),
        QuoteStyle::Double => decode_double(inner()),
    }
}

fn decode_double(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(escape) = chars.next() else { break };
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> Option<char> {
            let digits: String = chars.by_ref().take(n).collect();
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
        };
        let decoded = match escape {
            'n' => Some('\n'),
            't' | '\t' => Some('\t'),
            'r' => Some('\r'),
            '0' => Some('\0'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'e' => Some('\u{1b}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            ' ' => Some(' '),
            'N' => Some('\u{85}'),
            '_' => Some('\u{a0}'),
            'L' => Some('\u{2028}'),
            'P' => Some('\u{2029}'),
            'x' => hex(&mut chars, 2),
            'u' => hex(&mut chars, 4),
            'U' => hex(&mut chars, 8),
            other => Some(other),
        };
        if let Some(c) = decoded {
            out.push(c);
        }
    }
    out
}

/// Writes `value` in `style`, falling back to double quotes where the style cannot hold it
/// (a plain scalar that would read as a number/bool/null or contains indicators, or control
/// characters in single quotes).
pub fn render_scalar(value: &str, style: QuoteStyle, in_flow: bool) -> String {
    match style {
        QuoteStyle::Plain if plain_safe(value, in_flow) => value.to_string(),
        QuoteStyle::Single if !value.chars().any(char::is_control) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => double_quoted(value),
    }
}

fn double_quoted(value: &str) -> String {
    // JSON strings are valid YAML double-quoted scalars.
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{}\"", value.escape_default()))
}

/// Plain scalars that YAML 1.1 or 1.2 would not read back as the same string.
static NON_STRING: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:~|null|Null|NULL",
        r"|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
        r"|[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*|[1-9][0-9_]*(?::[0-5]?[0-9])+)",
        r"|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?",
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?",
        r")$"
    ))
    .ok()
});

fn plain_safe(value: &str, in_flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() {
        return false;
    }
    if value.ends_with(|c: char| c.is_whitespace() || c == ':')
        || value.contains(": ")
        || value.contains(" #")
        || value.chars().any(char::is_control)
        || (in_flow && value.contains([',', '[', ']', '{', '}']))
    {
        return false;
    }
    match NON_STRING.as_ref() {
        Some(re) => !re.is_match(value),
        None => false,
    }
}
