//! Lexer and parser of Go's `text/template` language (delimiters `{{ }}`, trim markers, comments,
//! pipelines, variables, control structures, `define`/`template`/`block`).

use std::fmt;
use std::rc::Rc;

/// One parsed file's text, for turning byte offsets into `line:col` like Go's `ErrorContext`.
#[derive(Debug)]
pub struct Source {
    /// The parse name (the file the text came from).
    pub name: String,
    /// The text.
    pub text: String,
}

impl Source {
    /// 1-based line of a byte offset.
    pub fn line(&self, pos: usize) -> usize {
        1 + self.text.as_bytes()[..pos.min(self.text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }

    /// `name:line:col` with Go's 0-based byte column.
    pub fn context(&self, pos: usize) -> String {
        let pos = pos.min(self.text.len());
        let before = &self.text[..pos];
        let col = match before.rfind('\n') {
            Some(i) => pos - i - 1,
            None => pos,
        };
        format!("{}:{}:{}", self.name, self.line(pos), col)
    }
}

/// A node of a template body.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`
    Action(Pipe),
    /// `{{if}}`
    If(Branch),
    /// `{{range}}`
    Range(Branch),
    /// `{{with}}`
    With(Branch),
    /// `{{template "name" pipeline}}`
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    /// `{{break}}`
    Break,
    /// `{{continue}}`
    Continue,
}

/// The shared shape of `if`/`range`/`with`.
#[derive(Debug, Clone)]
pub struct Branch {
    /// Position of the keyword.
    pub pos: usize,
    /// The condition.
    pub pipe: Pipe,
    /// The body.
    pub list: Vec<Node>,
    /// `{{else}}` body (an `else if` is a nested `If` alone in it).
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline: optional declaration, then commands joined by `|`.
#[derive(Debug, Clone)]
pub struct Pipe {
    /// Position.
    pub pos: usize,
    /// Declared/assigned variables.
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    /// The commands.
    pub cmds: Vec<Cmd>,
}

/// One command: operands, the first being the function or value.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// Position.
    pub pos: usize,
    /// Operands.
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.`
    Dot(usize),
    /// `.a.b`
    Field(usize, Vec<String>),
    /// `$x.a.b` (`$` alone included)
    Var(usize, String, Vec<String>),
    /// A function name.
    Ident(usize, String),
    /// `(pipeline)` possibly followed by `.a.b`
    Pipe(usize, Box<Pipe>, Vec<String>),
    /// A string constant (value, quoted source text).
    Str(usize, String, String),
    /// A number constant (source text, value).
    Num(usize, String, NumVal),
    /// `true`/`false`
    Bool(usize, bool),
    /// `nil`
    Nil(usize),
}

/// A numeric constant's value.
#[derive(Debug, Clone, Copy)]
pub enum NumVal {
    /// Fits an integer.
    Int(i64),
    /// Float.
    Float(f64),
}

impl Arg {
    /// Source position.
    pub fn pos(&self) -> usize {
        match self {
            Arg::Dot(p)
            | Arg::Field(p, _)
            | Arg::Var(p, _, _)
            | Arg::Ident(p, _)
            | Arg::Pipe(p, _, _)
            | Arg::Str(p, _, _)
            | Arg::Num(p, _, _)
            | Arg::Bool(p, _)
            | Arg::Nil(p) => *p,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Dot(_) => f.write_str("."),
            Arg::Field(_, names) => {
                for n in names {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Var(_, name, fields) => {
                f.write_str(name)?;
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Ident(_, n) => f.write_str(n),
            Arg::Pipe(_, p, fields) => {
                write!(f, "({p})")?;
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Str(_, _, q) | Arg::Num(_, q, _) => f.write_str(q),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Nil(_) => f.write_str("nil"),
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A named template: a file's body or a `define`.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The template's name.
    pub name: String,
    /// Its body.
    pub root: Rc<Vec<Node>>,
    /// The file it was parsed from.
    pub src: Rc<Source>,
}

/// A parse error, already formatted as Go does (`template: file:line: msg`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {file}:{line}: {msg}")]
pub struct ParseError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Left,
    Right,
    Space,
    Pipe,
    LParen,
    RParen,
    Comma,
    Declare,
    Assign,
    Dot,
    Field(String),
    Var(String),
    Ident(String),
    Str(String, String),
    Num(String),
    Char(String),
    Eof,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    toks: Vec<(Tok, usize)>,
    paren: i32,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Lexer<'a> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> (usize, String) {
        (pos, msg.into())
    }

    fn run(mut self) -> Result<Vec<(Tok, usize)>, (usize, String)> {
        let mut trim_next = false;
        loop {
            let rest = &self.src[self.pos..];
            let next = rest.find("{{");
            let end = next.map_or(self.src.len(), |i| self.pos + i);
            let mut text = &self.src[self.pos..end];
            if trim_next {
                text = text.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
            }
            let Some(_) = next else {
                if !text.is_empty() {
                    self.toks.push((Tok::Text(text.to_string()), self.pos));
                }
                self.toks.push((Tok::Eof, self.src.len()));
                return Ok(self.toks);
            };
            let after = &self.src[end + 2..];
            let left_trim =
                after.len() >= 2 && after.as_bytes()[0] == b'-' && is_space(after.as_bytes()[1]);
            if left_trim {
                text = text.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8));
            }
            if !text.is_empty() {
                self.toks.push((Tok::Text(text.to_string()), self.pos));
            }
            let start = end;
            self.pos = end + 2 + if left_trim { 2 } else { 0 };
            // Comments must hug the delimiters.
            let body = &self.src[self.pos..];
            let body_trimmed_ws =
                body.len() - body.trim_start_matches([' ', '\t', '\r', '\n']).len();
            let after_ws = &body[if left_trim { body_trimmed_ws } else { 0 }..];
            if after_ws.starts_with("/*") {
                let cstart = self.pos + (body.len() - after_ws.len());
                let Some(close) = self.src[cstart + 2..].find("*/") else {
                    return Err(self.err(start, "unclosed comment"));
                };
                let mut p = cstart + 2 + close + 2;
                let tail = &self.src[p..];
                let (right_trim, skip) = if let Some(t) = tail
                    .strip_prefix(' ')
                    .or(tail.strip_prefix('\t'))
                    .or(tail.strip_prefix('\n'))
                    .or(tail.strip_prefix('\r'))
                {
                    let t2 = t.trim_start_matches([' ', '\t', '\r', '\n']);
                    let _ = t2;
                    if tail
                        .trim_start_matches([' ', '\t', '\r', '\n'])
                        .starts_with("-}}")
                    {
                        (
                            true,
                            tail.len() - tail.trim_start_matches([' ', '\t', '\r', '\n']).len() + 3,
                        )
                    } else {
                        (false, 0)
                    }
                } else {
                    (false, 0)
                };
                if right_trim {
                    p += skip;
                } else if tail.starts_with("}}") {
                    p += 2;
                } else {
                    return Err(self.err(start, "comment ends before closing delimiter"));
                }
                self.pos = p;
                trim_next = right_trim;
                continue;
            }
            self.toks.push((Tok::Left, start));
            trim_next = self.lex_action()?;
        }
    }

    /// Lexes inside an action up to and including `}}`; returns whether it ended with `-}}`.
    fn lex_action(&mut self) -> Result<bool, (usize, String)> {
        self.paren = 0;
        let bytes = self.src.as_bytes();
        loop {
            let rest = &self.src[self.pos..];
            if rest.is_empty() {
                return Err(self.err(self.pos, "unclosed action"));
            }
            // right delimiter, with optional trim marker
            if rest.starts_with("}}") {
                self.toks.push((Tok::Right, self.pos));
                self.pos += 2;
                return Ok(false);
            }
            let c = bytes[self.pos];
            if is_space(c) {
                let start = self.pos;
                while self.pos < bytes.len() && is_space(bytes[self.pos]) {
                    self.pos += 1;
                }
                if self.src[self.pos..].starts_with("-}}") {
                    self.toks.push((Tok::Right, self.pos));
                    self.pos += 3;
                    return Ok(true);
                }
                self.toks.push((Tok::Space, start));
                continue;
            }
            let start = self.pos;
            match c {
                b'|' => {
                    self.pos += 1;
                    self.toks.push((Tok::Pipe, start));
                }
                b'(' => {
                    self.pos += 1;
                    self.paren += 1;
                    self.toks.push((Tok::LParen, start));
                }
                b')' => {
                    self.pos += 1;
                    self.paren -= 1;
                    if self.paren < 0 {
                        return Err(self.err(start, "unexpected right paren"));
                    }
                    self.toks.push((Tok::RParen, start));
                }
                b',' => {
                    self.pos += 1;
                    self.toks.push((Tok::Comma, start));
                }
                b':' => {
                    if rest.starts_with(":=") {
                        self.pos += 2;
                        self.toks.push((Tok::Declare, start));
                    } else {
                        return Err(self.err(start, "expected :="));
                    }
                }
                b'=' => {
                    self.pos += 1;
                    self.toks.push((Tok::Assign, start));
                }
                b'"' => {
                    let mut i = self.pos + 1;
                    loop {
                        match bytes.get(i) {
                            None | Some(b'\n') => {
                                return Err(self.err(start, "unterminated quoted string"));
                            }
                            Some(b'\\') => i += 2,
                            Some(b'"') => break,
                            _ => i += 1,
                        }
                    }
                    let quoted = &self.src[self.pos..=i];
                    let val = unquote(quoted)
                        .ok_or_else(|| self.err(start, format!("invalid syntax: {quoted}")))?;
                    self.pos = i + 1;
                    self.toks.push((Tok::Str(val, quoted.to_string()), start));
                }
                b'`' => {
                    let Some(close) = self.src[self.pos + 1..].find('`') else {
                        return Err(self.err(start, "unterminated raw quoted string"));
                    };
                    let val = self.src[self.pos + 1..self.pos + 1 + close].to_string();
                    let quoted = self.src[self.pos..self.pos + close + 2].to_string();
                    self.pos += close + 2;
                    self.toks.push((Tok::Str(val, quoted), start));
                }
                b'\'' => {
                    let mut i = self.pos + 1;
                    loop {
                        match bytes.get(i) {
                            None | Some(b'\n') => {
                                return Err(self.err(start, "unterminated character constant"));
                            }
                            Some(b'\\') => i += 2,
                            Some(b'\'') => break,
                            _ => i += 1,
                        }
                    }
                    let q = self.src[self.pos..=i].to_string();
                    self.pos = i + 1;
                    self.toks.push((Tok::Char(q), start));
                }
                b'$' => {
                    let mut i = self.pos + 1;
                    for ch in self.src[i..].chars() {
                        if !is_alnum(ch) {
                            break;
                        }
                        i += ch.len_utf8();
                    }
                    self.toks
                        .push((Tok::Var(self.src[self.pos..i].to_string()), start));
                    self.pos = i;
                }
                b'.' => {
                    let next = self.src[self.pos + 1..].chars().next();
                    if next.is_some_and(|c| c.is_ascii_digit()) {
                        self.lex_number()?;
                    } else if next.is_some_and(is_alnum) {
                        let mut i = self.pos + 1;
                        for ch in self.src[i..].chars() {
                            if !is_alnum(ch) {
                                break;
                            }
                            i += ch.len_utf8();
                        }
                        self.toks
                            .push((Tok::Field(self.src[self.pos + 1..i].to_string()), start));
                        self.pos = i;
                    } else {
                        self.pos += 1;
                        self.toks.push((Tok::Dot, start));
                    }
                }
                b'0'..=b'9' | b'+' | b'-' => {
                    if (c == b'+' || c == b'-')
                        && !self.src[self.pos + 1..]
                            .starts_with(|ch: char| ch.is_ascii_digit() || ch == '.')
                    {
                        return Err(
                            self.err(start, format!("bad character U+{:04X} '{}'", c, c as char))
                        );
                    }
                    self.lex_number()?;
                }
                _ => {
                    let ch = rest.chars().next().unwrap_or(' ');
                    if is_alnum(ch) {
                        let mut i = self.pos;
                        for ch in self.src[i..].chars() {
                            if !is_alnum(ch) {
                                break;
                            }
                            i += ch.len_utf8();
                        }
                        self.toks
                            .push((Tok::Ident(self.src[self.pos..i].to_string()), start));
                        self.pos = i;
                    } else {
                        return Err(self.err(start, format!("unexpected \"{ch}\" in operand")));
                    }
                }
            }
        }
    }

    fn lex_number(&mut self) -> Result<(), (usize, String)> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = self.pos;
        if matches!(bytes[i], b'+' | b'-') {
            i += 1;
        }
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_')
        {
            if matches!(bytes[i], b'e' | b'E' | b'p' | b'P')
                && i + 1 < bytes.len()
                && matches!(bytes[i + 1], b'+' | b'-')
                && !self.src[start..i].starts_with("0x")
            {
                i += 2;
                continue;
            }
            i += 1;
        }
        let text = &self.src[start..i];
        self.pos = i;
        self.toks.push((Tok::Num(text.to_string()), start));
        Ok(())
    }
}

/// Go's `strconv.Unquote` for double-quoted strings.
fn unquote(q: &str) -> Option<String> {
    let inner = q.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => {
                let h: String = chars.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&h, 16).ok()?));
            }
            'u' => {
                let h: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            'U' => {
                let h: String = chars.by_ref().take(8).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            d @ '0'..='7' => {
                let mut s = String::from(d);
                s.extend(chars.by_ref().take(2));
                out.push(char::from(u8::from_str_radix(&s, 8).ok()?));
            }
            _ => return None,
        }
    }
    Some(out)
}

fn parse_number(text: &str) -> Option<NumVal> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let radix_int = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.chars().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = radix_int {
        return Some(NumVal::Int(if neg { -i } else { i }));
    }
    let f: f64 = body.parse().ok()?;
    let f = if neg { -f } else { f };
    // Go: a float constant with an integral value is also an int constant.
    if f.fract() == 0.0 && f.abs() < 9.2e18 && !body.contains(['e', 'E', '.']) {
        return Some(NumVal::Int(f as i64));
    }
    Some(NumVal::Float(f))
}

fn char_value(q: &str) -> Option<i64> {
    let inner = q.strip_prefix('\'')?.strip_suffix('\'')?;
    let s = unquote(&format!("\"{}\"", inner.replace('"', "\\\"")))?;
    let mut it = s.chars();
    let c = it.next()?;
    if it.next().is_some() {
        return None;
    }
    Some(c as i64)
}

/// Parses one file into its named trees: the file body under `name` and every `define`/`block`.
pub fn parse(
    name: &str,
    text: &str,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<Vec<Tree>, ParseError> {
    let src = Rc::new(Source {
        name: name.to_string(),
        text: text.to_string(),
    });
    let lexer = Lexer {
        src: text,
        pos: 0,
        toks: Vec::new(),
        paren: 0,
    };
    let toks = lexer.run().map_err(|(pos, msg)| ParseError {
        file: name.to_string(),
        line: src.line(pos),
        msg,
    })?;
    let mut p = Parser {
        toks,
        i: 0,
        src: src.clone(),
        trees: Vec::new(),
        vars: vec![vec!["$".to_string()]],
        is_func,
        loop_depth: 0,
    };
    let (root, end) = p.list()?;
    if let Some((word, pos)) = end {
        return Err(p.error(pos, format!("unexpected {{{{{word}}}}}")));
    }
    let mut trees = vec![Tree {
        name: name.to_string(),
        root: Rc::new(root),
        src,
    }];
    trees.append(&mut p.trees);
    Ok(trees)
}

struct Parser<'f> {
    toks: Vec<(Tok, usize)>,
    i: usize,
    src: Rc<Source>,
    trees: Vec<Tree>,
    vars: Vec<Vec<String>>,
    is_func: &'f dyn Fn(&str) -> bool,
    loop_depth: usize,
}

type PResult<T> = Result<T, ParseError>;
/// How a list ended: `end`/`else` with its position, or EOF (`None`).
type ListEnd = Option<(String, usize)>;

impl Parser<'_> {
    fn error(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            file: self.src.name.clone(),
            line: self.src.line(pos),
            msg: msg.into(),
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].0
    }

    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].1
    }

    fn next(&mut self) -> (Tok, usize) {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn skip_space(&mut self) {
        while *self.peek() == Tok::Space {
            self.i += 1;
        }
    }

    fn expect_right(&mut self, context: &str) -> PResult<()> {
        self.skip_space();
        let (t, pos) = self.next();
        if t != Tok::Right {
            return Err(self.error(pos, format!("unexpected {} in {context}", tok_desc(&t))));
        }
        Ok(())
    }

    /// Parses nodes until EOF or an `{{end}}`/`{{else…}}`, returned with its position (the `else`
    /// keyword is consumed; what follows it is left for the caller).
    fn list(&mut self) -> PResult<(Vec<Node>, ListEnd)> {
        let mut nodes = Vec::new();
        loop {
            let (t, pos) = self.next();
            match t {
                Tok::Eof => return Ok((nodes, None)),
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Left => {
                    self.skip_space();
                    let kw = match self.peek() {
                        Tok::Ident(w) => w.clone(),
                        _ => String::new(),
                    };
                    let kpos = self.pos();
                    match kw.as_str() {
                        "end" => {
                            self.i += 1;
                            self.expect_right("end")?;
                            return Ok((nodes, Some(("end".into(), kpos))));
                        }
                        "else" => {
                            self.i += 1;
                            return Ok((nodes, Some(("else".into(), kpos))));
                        }
                        "if" | "range" | "with" => {
                            self.i += 1;
                            nodes.push(self.branch(&kw, kpos)?);
                        }
                        "define" => {
                            self.i += 1;
                            self.define(kpos)?;
                        }
                        "block" => {
                            self.i += 1;
                            nodes.push(self.block(kpos)?);
                        }
                        "template" => {
                            self.i += 1;
                            nodes.push(self.template(kpos)?);
                        }
                        "break" | "continue" => {
                            self.i += 1;
                            if self.loop_depth == 0 {
                                return Err(
                                    self.error(kpos, format!("{{{{{kw}}}}} outside {{{{range}}}}"))
                                );
                            }
                            self.expect_right(&kw)?;
                            nodes.push(if kw == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        _ => {
                            let pipe = self.pipeline("command", false)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err(self.error(pos, format!("unexpected {}", tok_desc(&other)))),
            }
        }
    }

    fn branch(&mut self, kw: &str, pos: usize) -> PResult<Node> {
        self.vars.push(Vec::new());
        let pipe = self.pipeline(kw, kw == "range")?;
        if kw == "range" {
            self.loop_depth += 1;
        }
        let (list, end) = self.list()?;
        if kw == "range" {
            self.loop_depth -= 1;
        }
        let else_list = match end {
            None => return Err(self.error(self.src.text.len(), "unexpected EOF")),
            Some((e, _)) if e == "end" => None,
            Some((_, epos)) => {
                // `else if` / `else with` chain into a nested branch that consumes the `end`.
                self.skip_space();
                let chained = match self.peek() {
                    Tok::Ident(w) if (w == "if" && kw == "if") || (w == "with" && kw == "with") => {
                        Some(w.clone())
                    }
                    _ => None,
                };
                if let Some(w) = chained {
                    let cpos = self.pos();
                    self.i += 1;
                    let nested = self.branch(&w, cpos)?;
                    self.vars.pop();
                    let node = Self::make(kw, pos, pipe, list, Some(vec![nested]));
                    return Ok(node);
                }
                self.expect_right("else")
                    .map_err(|_| self.error(epos, "unexpected else"))?;
                let (else_list, end2) = self.list()?;
                match end2 {
                    Some((e, _)) if e == "end" => Some(else_list),
                    Some((_, p)) => return Err(self.error(p, "expected end; found {{else}}")),
                    None => return Err(self.error(self.src.text.len(), "unexpected EOF")),
                }
            }
        };
        self.vars.pop();
        Ok(Self::make(kw, pos, pipe, list, else_list))
    }

    fn make(
        kw: &str,
        pos: usize,
        pipe: Pipe,
        list: Vec<Node>,
        else_list: Option<Vec<Node>>,
    ) -> Node {
        let b = Branch {
            pos,
            pipe,
            list,
            else_list,
        };
        match kw {
            "if" => Node::If(b),
            "range" => Node::Range(b),
            _ => Node::With(b),
        }
    }

    fn string_const(&mut self, context: &str) -> PResult<(String, usize)> {
        self.skip_space();
        let (t, pos) = self.next();
        match t {
            Tok::Str(s, _) => Ok((s, pos)),
            other => Err(self.error(pos, format!("unexpected {} in {context}", tok_desc(&other)))),
        }
    }

    fn define(&mut self, _pos: usize) -> PResult<()> {
        let (name, _) = self.string_const("define clause")?;
        self.expect_right("define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec![vec!["$".to_string()]]);
        let saved_loop = std::mem::replace(&mut self.loop_depth, 0);
        let (body, end) = self.list()?;
        self.vars = saved;
        self.loop_depth = saved_loop;
        match end {
            Some((e, _)) if e == "end" => {}
            Some((_, p)) => return Err(self.error(p, "unexpected {{else}}")),
            None => return Err(self.error(self.src.text.len(), "unexpected EOF")),
        }
        self.trees.push(Tree {
            name,
            root: Rc::new(body),
            src: self.src.clone(),
        });
        Ok(())
    }

    fn template_pipe(&mut self, context: &str) -> PResult<Option<Pipe>> {
        self.skip_space();
        if *self.peek() == Tok::Right {
            self.i += 1;
            return Ok(None);
        }
        Ok(Some(self.pipeline(context, false)?))
    }

    fn template(&mut self, pos: usize) -> PResult<Node> {
        let (name, _) = self.string_const("template clause")?;
        let pipe = self.template_pipe("template clause")?;
        Ok(Node::Template { pos, name, pipe })
    }

    fn block(&mut self, pos: usize) -> PResult<Node> {
        let (name, _) = self.string_const("block clause")?;
        let pipe = self.template_pipe("block clause")?;
        let saved = std::mem::replace(&mut self.vars, vec![vec!["$".to_string()]]);
        let (body, end) = self.list()?;
        self.vars = saved;
        match end {
            Some((e, _)) if e == "end" => {}
            _ => return Err(self.error(pos, "unexpected EOF")),
        }
        self.trees.push(Tree {
            name: name.clone(),
            root: Rc::new(body),
            src: self.src.clone(),
        });
        Ok(Node::Template { pos, name, pipe })
    }

    fn has_var(&self, name: &str) -> bool {
        self.vars.iter().any(|s| s.iter().any(|v| v == name))
    }

    /// Parses a pipeline up to `}}` (or `)` when `context == "parenthesized pipeline"`).
    fn pipeline(&mut self, context: &str, allow_two: bool) -> PResult<Pipe> {
        self.skip_space();
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Look for `$x :=`, `$x =`, `$i, $e :=`.
        let save = self.i;
        if let Tok::Var(v) = self.peek().clone() {
            self.i += 1;
            self.skip_space();
            match self.peek().clone() {
                Tok::Declare | Tok::Assign => {
                    is_assign = *self.peek() == Tok::Assign;
                    self.i += 1;
                    decl.push(v);
                }
                Tok::Comma if allow_two => {
                    self.i += 1;
                    self.skip_space();
                    if let Tok::Var(v2) = self.peek().clone() {
                        self.i += 1;
                        self.skip_space();
                        match self.peek() {
                            Tok::Declare | Tok::Assign => {
                                is_assign = *self.peek() == Tok::Assign;
                                self.i += 1;
                                decl.push(v);
                                decl.push(v2);
                            }
                            _ => {
                                return Err(
                                    self.error(self.pos(), "range can only initialize variables")
                                );
                            }
                        }
                    } else {
                        return Err(self.error(self.pos(), "range can only initialize variables"));
                    }
                }
                Tok::Comma => {
                    return Err(
                        self.error(self.pos(), format!("too many declarations in {context}"))
                    );
                }
                _ => self.i = save,
            }
        }
        for v in &decl {
            if is_assign {
                if !self.has_var(v) {
                    return Err(self.error(pos, format!("undefined variable \"{v}\"")));
                }
            } else if let Some(top) = self.vars.last_mut() {
                top.push(v.clone());
            }
        }
        let mut cmds = Vec::new();
        let paren = context == "parenthesized pipeline";
        loop {
            self.skip_space();
            match self.peek() {
                Tok::Right if !paren => {
                    self.i += 1;
                    break;
                }
                Tok::RParen if paren => {
                    self.i += 1;
                    break;
                }
                Tok::Eof => return Err(self.error(self.pos(), "unclosed action")),
                _ => {}
            }
            let cmd = self.command(paren)?;
            cmds.push(cmd);
            self.skip_space();
            if *self.peek() == Tok::Pipe {
                self.i += 1;
                self.skip_space();
                if matches!(self.peek(), Tok::Right | Tok::RParen) {
                    return Err(self.error(self.pos(), "missing command"));
                }
            }
        }
        if cmds.is_empty() {
            return Err(self.error(pos, format!("missing value for {context}")));
        }
        for c in cmds.iter().skip(1) {
            if let Some(a) = c.args.first()
                && matches!(
                    a,
                    Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Num(..) | Arg::Str(..)
                )
            {
                return Err(self.error(
                    a.pos(),
                    format!("non executable command in pipeline stage {}", 2),
                ));
            }
        }
        Ok(Pipe {
            pos,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self, paren: bool) -> PResult<Cmd> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Tok::Right | Tok::Pipe | Tok::Eof => break,
                Tok::RParen if paren => break,
                Tok::RParen => return Err(self.error(self.pos(), "unexpected right paren")),
                _ => {}
            }
            let op = self.operand()?;
            args.push(op);
            match self.peek() {
                Tok::Space | Tok::Right | Tok::Pipe | Tok::RParen | Tok::Eof => {}
                t => {
                    let d = tok_desc(t);
                    return Err(self.error(self.pos(), format!("unexpected {d} in operand")));
                }
            }
        }
        if args.is_empty() {
            return Err(self.error(pos, "empty command"));
        }
        Ok(Cmd { pos, args })
    }

    fn fields(&mut self) -> (Vec<String>, Option<usize>) {
        let mut names = Vec::new();
        let mut first = None;
        while let Tok::Field(f) = self.peek().clone() {
            first.get_or_insert(self.pos());
            names.push(f);
            self.i += 1;
        }
        (names, first)
    }

    fn operand(&mut self) -> PResult<Arg> {
        let (t, pos) = self.next();
        let arg = match t {
            Tok::Dot => {
                if let Tok::Field(_) = self.peek() {
                    return Err(self.error(self.pos(), "unexpected . after term \".\""));
                }
                Arg::Dot(pos)
            }
            Tok::Field(f) => {
                let (mut more, chain_pos) = self.fields();
                let mut names = vec![f];
                names.append(&mut more);
                Arg::Field(chain_pos.unwrap_or(pos), names)
            }
            Tok::Var(v) => {
                if !self.has_var(&v) {
                    return Err(self.error(pos, format!("undefined variable \"{v}\"")));
                }
                let (fields, chain_pos) = self.fields();
                Arg::Var(chain_pos.unwrap_or(pos), v, fields)
            }
            Tok::Ident(w) => match w.as_str() {
                "true" => Arg::Bool(pos, true),
                "false" => Arg::Bool(pos, false),
                "nil" => Arg::Nil(pos),
                _ => {
                    if !(self.is_func)(&w) {
                        return Err(self.error(pos, format!("function \"{w}\" not defined")));
                    }
                    if let Tok::Field(_) = self.peek() {
                        return Err(
                            self.error(self.pos(), format!("unexpected . after term \"{w}\""))
                        );
                    }
                    Arg::Ident(pos, w)
                }
            },
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                let (fields, chain_pos) = self.fields();
                Arg::Pipe(chain_pos.unwrap_or(pos), Box::new(pipe), fields)
            }
            Tok::Str(s, q) => Arg::Str(pos, s, q),
            Tok::Num(n) => match parse_number(&n) {
                Some(v) => Arg::Num(pos, n, v),
                None => return Err(self.error(pos, format!("bad number syntax: \"{n}\""))),
            },
            Tok::Char(q) => match char_value(&q) {
                Some(v) => Arg::Num(pos, q, NumVal::Int(v)),
                None => return Err(self.error(pos, format!("malformed character constant: {q}"))),
            },
            other => {
                return Err(self.error(pos, format!("unexpected {} in operand", tok_desc(&other))));
            }
        };
        Ok(arg)
    }
}

fn tok_desc(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Left => "\"{{\"".into(),
        Tok::Right => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Dot => "<.>".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Var(v) => format!("<{v}>"),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Str(_, q) => format!("{q:?}"),
        Tok::Num(n) => format!("<{n}>"),
        Tok::Char(c) => format!("<{c}>"),
        Tok::Eof => "EOF".into(),
    }
}
