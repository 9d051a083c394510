//! Label and field selectors: the query-string grammar (`labelSelector`, `fieldSelector`) and matching.
//!
//! API contract: [`LabelSelector::parse`], [`LabelSelector::matches`], [`FieldSelector::parse`],
//! [`FieldSelector::matches`]. Parse errors are messages for a 400 BadRequest Status, worded like
//! apimachinery's (`unable to parse requirement: found '', expected: identifier`).

use serde_json::{Map, Value};
use std::fmt;

use crate::model::validation::{validate_label_value, validate_qualified_name};

/// A parsed `labelSelector` (comma = AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

/// One term of a label selector, e.g. `tier in (web,api)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRequirement {
    /// The label key (`app`, `app.kubernetes.io/name`).
    pub key: String,
    /// How the label is compared.
    pub operator: LabelOperator,
    /// The operand values: one for `=`/`!=`/`>`/`<`, one or more for `in`/`notin`, none for existence.
    pub values: Vec<String>,
}

/// The comparison of a [`LabelRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelOperator {
    /// `k=v` or `k==v`.
    Equals,
    /// `k!=v`: also matches when the label is absent.
    NotEquals,
    /// `k in (a,b)`.
    In,
    /// `k notin (a,b)`: also matches when the label is absent.
    NotIn,
    /// `k`.
    Exists,
    /// `!k`.
    DoesNotExist,
    /// `k>5`: the label is an integer greater than the operand.
    GreaterThan,
    /// `k<5`: the label is an integer less than the operand.
    LessThan,
}

impl LabelSelector {
    /// Parses `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let tokens = lex(s);
        let mut parser = LabelParser { tokens, pos: 0 };
        parser.parse()
    }

    /// Whether an object's `metadata.labels` (absent = empty) match.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether labels read through `get` (key → value) match: for label stores that are not JSON.
    pub fn matches_by<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| r.matches_by(&get))
    }

    /// Whether an object's `metadata.labels` field (any JSON; non-objects count as no labels) matches.
    pub fn matches_value(&self, labels: Option<&Value>) -> bool {
        self.matches(labels.and_then(Value::as_object))
    }

    /// True when the selector selects everything (the empty selector).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The parsed terms, in the order written.
    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }
}

impl fmt::Display for LabelSelector {
    /// Renders the canonical selector string (`a=b,c in (d,e),!f`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl fmt::Display for LabelRequirement {
    /// Renders one term the way apimachinery prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map(String::as_str).unwrap_or("");
        match self.operator {
            LabelOperator::Equals => write!(f, "{}={}", self.key, first),
            LabelOperator::NotEquals => write!(f, "{}!={}", self.key, first),
            LabelOperator::GreaterThan => write!(f, "{}>{}", self.key, first),
            LabelOperator::LessThan => write!(f, "{}<{}", self.key, first),
            LabelOperator::Exists => write!(f, "{}", self.key),
            LabelOperator::DoesNotExist => write!(f, "!{}", self.key),
            LabelOperator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            LabelOperator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
        }
    }
}

impl LabelRequirement {
    /// Whether this single term matches a label map (absent = empty; non-string values count as absent).
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.matches_by(|key| labels.and_then(|m| m.get(key)).and_then(Value::as_str))
    }

    /// Whether this term matches the label value `get` returns for its key.
    pub fn matches_by<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let value = get(&self.key);
        let in_values = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            LabelOperator::Exists => value.is_some(),
            LabelOperator::DoesNotExist => value.is_none(),
            LabelOperator::Equals | LabelOperator::In => value.is_some_and(in_values),
            LabelOperator::NotEquals | LabelOperator::NotIn => !value.is_some_and(in_values),
            LabelOperator::GreaterThan | LabelOperator::LessThan => {
                let (Some(have), Some(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == LabelOperator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

/// A lexical token of the label selector grammar; identifiers keep their text.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `in` or `notin` (identifiers when a value is expected).
    Keyword(&'static str),
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    End,
}

impl Token {
    /// The literal as apimachinery quotes it in errors (`found '<lit>'`).
    fn literal(&self) -> &str {
        match self {
            Token::Ident(s) => s,
            Token::Keyword(k) => k,
            Token::Bang => "!",
            Token::Eq => "=",
            Token::DoubleEq => "==",
            Token::NotEq => "!=",
            Token::Gt => ">",
            Token::Lt => "<",
            Token::Open => "(",
            Token::Close => ")",
            Token::Comma => ",",
            Token::End => "",
        }
    }

    /// The token read as a value: keywords count as plain identifiers there (`k=in` is valid).
    fn as_value(&self) -> Option<&str> {
        match self {
            Token::Ident(s) => Some(s),
            Token::Keyword(k) => Some(k),
            _ => None,
        }
    }
}

/// Characters that end an identifier and start an operator or punctuation token.
fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '(' | ')' | ',' | '<' | '>')
}

/// Splits a selector into tokens; always ends with [`Token::End`].
fn lex(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next_is_eq = chars.peek() == Some(&'=');
            let token = match c {
                '!' if next_is_eq => {
                    chars.next();
                    Token::NotEq
                }
                '!' => Token::Bang,
                '=' if next_is_eq => {
                    chars.next();
                    Token::DoubleEq
                }
                '=' => Token::Eq,
                '(' => Token::Open,
                ')' => Token::Close,
                ',' => Token::Comma,
                '<' => Token::Lt,
                _ => Token::Gt,
            };
            tokens.push(token);
            continue;
        }
        let mut ident = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || is_special(c) {
                break;
            }
            ident.push(c);
            chars.next();
        }
        tokens.push(match ident.as_str() {
            "in" => Token::Keyword("in"),
            "notin" => Token::Keyword("notin"),
            _ => Token::Ident(ident),
        });
    }
    tokens.push(Token::End);
    tokens
}

/// Recursive-descent parser over the token list.
struct LabelParser {
    tokens: Vec<Token>,
    pos: usize,
}

impl LabelParser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn parse(&mut self) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        if *self.peek() == Token::End {
            return Ok(LabelSelector { requirements });
        }
        loop {
            match self.peek() {
                Token::Ident(_) | Token::Bang => {}
                other => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    ));
                }
            }
            let r = self
                .parse_requirement()
                .map_err(|e| format!("unable to parse requirement: {e}"))?;
            requirements.push(r);
            match self.next() {
                Token::End => return Ok(LabelSelector { requirements }),
                Token::Comma => match self.peek() {
                    Token::Ident(_) | Token::Bang => {}
                    other => {
                        return Err(format!(
                            "found '{}', expected: identifier after ','",
                            other.literal()
                        ));
                    }
                },
                other => {
                    return Err(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        other.literal()
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<LabelRequirement, String> {
        let negated = *self.peek() == Token::Bang;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Ident(k) => k,
            other => return Err(format!("found '{}', expected: identifier", other.literal())),
        };
        validate_qualified_name(&key).map_err(|e| invalid("key", &key, &e))?;
        if matches!(self.peek(), Token::End | Token::Comma) {
            let operator = if negated {
                LabelOperator::DoesNotExist
            } else {
                LabelOperator::Exists
            };
            return Ok(LabelRequirement {
                key,
                operator,
                values: Vec::new(),
            });
        }
        if negated {
            return Err(format!(
                "found '{}', expected: ',' or 'end of string'",
                self.peek().literal()
            ));
        }
        let operator = match self.next() {
            Token::Eq | Token::DoubleEq => LabelOperator::Equals,
            Token::NotEq => LabelOperator::NotEquals,
            Token::Keyword("in") => LabelOperator::In,
            Token::Keyword(_) => LabelOperator::NotIn,
            Token::Gt => LabelOperator::GreaterThan,
            Token::Lt => LabelOperator::LessThan,
            other => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.literal()
                ));
            }
        };
        let values = match operator {
            LabelOperator::In | LabelOperator::NotIn => self.parse_value_set()?,
            _ => vec![self.parse_exact_value()?],
        };
        for (i, v) in values.iter().enumerate() {
            match operator {
                LabelOperator::GreaterThan | LabelOperator::LessThan => {
                    if v.parse::<i64>().is_err() {
                        return Err(invalid(
                            &format!("values[{i}]"),
                            v,
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
                _ => validate_label_value(v)
                    .map_err(|e| invalid(&format!("values[{i}][{key}]"), v, &e))?,
            }
        }
        Ok(LabelRequirement {
            key,
            operator,
            values,
        })
    }

    /// The operand of `=`, `==`, `!=`, `>`, `<`; an immediately following `,` or end means `""`.
    fn parse_exact_value(&mut self) -> Result<String, String> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(String::new());
        }
        let t = self.next();
        match t.as_value() {
            Some(v) => Ok(v.to_string()),
            None => Err(format!("found '{}', expected: identifier", t.literal())),
        }
    }

    /// `( v1, v2 )`; `()` is the set holding `""`, as in apimachinery.
    fn parse_value_set(&mut self) -> Result<Vec<String>, String> {
        let open = self.next();
        if open != Token::Open {
            return Err(format!("found '{}', expected: '('", open.literal()));
        }
        let mut values = Vec::new();
        if *self.peek() == Token::Close {
            self.next();
            values.push(String::new());
            return Ok(values);
        }
        // A list of identifiers separated by commas; an empty slot (`a,,b` or `a,)`) is `""`.
        let mut expect_value = true;
        loop {
            let t = self.next();
            match (&t, expect_value) {
                (Token::Close, _) => {
                    if expect_value {
                        values.push(String::new());
                    }
                    break;
                }
                (Token::Comma, true) => values.push(String::new()),
                (Token::Comma, false) => expect_value = true,
                (_, true) if t.as_value().is_some() => {
                    values.push(t.as_value().unwrap_or_default().to_string());
                    expect_value = false;
                }
                (_, true) => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        t.literal()
                    ));
                }
                (_, false) => {
                    return Err(format!("found '{}', expected: ',' or ')'", t.literal()));
                }
            }
        }
        // Duplicates are harmless but noisy in the canonical string; keep the first occurrence.
        let mut seen = std::collections::HashSet::new();
        values.retain(|v| seen.insert(v.clone()));
        Ok(values)
    }
}

/// apimachinery's `field.Invalid` rendering: `<path>: Invalid value: "<v>": <detail>`.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {}: {detail}", quote(value))
}

/// Go `%q`-like quoting (JSON string quoting is close enough for messages).
fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A parsed `fieldSelector` (comma = AND of `f=v`, `f==v`, `f!=v`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRequirement {
    /// Dotted field path, e.g. `involvedObject.name`.
    pub field: String,
    /// `true` for `!=`.
    pub negated: bool,
    /// The unescaped operand.
    pub value: String,
}

impl FieldSelector {
    /// Parses a field selector; every field must satisfy `supported` (else `field label not supported: f`).
    pub fn parse(s: &str, supported: &dyn Fn(&str) -> bool) -> Result<FieldSelector, String> {
        let mut requirements = Vec::new();
        for term in split_unescaped_commas(s) {
            if term.is_empty() {
                continue;
            }
            let Some((field, negated, raw)) = split_term(term) else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ));
            };
            let field = field.trim();
            let value = unescape_field_value(raw)?;
            if !supported(field) {
                return Err(format!("field label not supported: {field}"));
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                negated,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the object matches: each field is a dotted path into the object (`metadata.name`,
    /// `involvedObject.kind`); a missing field compares as the empty string.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let have = field_value(object, &r.field);
            (have == r.value) != r.negated
        })
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The parsed terms, in the order written.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// The value a field must equal, if some term is `field=value` (lets a server narrow a list early).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| !r.negated && r.field == field)
            .map(|r| r.value.as_str())
    }
}

/// The fields every kind supports in a field selector.
pub fn is_common_field(field: &str) -> bool {
    matches!(field, "metadata.name" | "metadata.namespace")
}

/// The fields an Event (core/v1 or events.k8s.io) supports in a field selector, beyond the common ones.
pub fn is_event_field(field: &str) -> bool {
    is_common_field(field)
        || matches!(
            field,
            "involvedObject.kind"
                | "involvedObject.namespace"
                | "involvedObject.name"
                | "involvedObject.uid"
                | "involvedObject.apiVersion"
                | "involvedObject.resourceVersion"
                | "involvedObject.fieldPath"
                | "reason"
                | "reportingComponent"
                | "source"
                | "type"
        )
}

/// The string a dotted path resolves to: strings verbatim, numbers and booleans as JSON, else `""`.
fn field_value(object: &Value, path: &str) -> String {
    let mut cur = object;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// Splits on commas not preceded by a backslash escape.
fn split_unescaped_commas(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Finds the first unescaped operator (`!=`, `==`, `=`) in a term: `(field, negated, raw value)`.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        let rest = &term[i..];
        if rest.starts_with("!=") {
            return Some((&term[..i], true, &term[i + 2..]));
        }
        if rest.starts_with("==") {
            return Some((&term[..i], false, &term[i + 2..]));
        }
        if c == '=' {
            return Some((&term[..i], false, &term[i + 1..]));
        }
    }
    None
}

/// Resolves `\\`, `\,` and `\=`; any other escape, a trailing `\`, or a bare `,`/`=` is an error.
fn unescape_field_value(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{e}"
                    ));
                }
                None => {
                    return Err("invalid field selector: invalid escape sequence: \\".into());
                }
            },
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character '{c}' in value {}",
                    quote(raw)
                ));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn empty_selector_matches_everything() {
        for s in ["", "   "] {
            let l = sel(s);
            assert!(l.is_empty());
            assert!(l.matches(None));
            assert!(l.matches(Some(&labels(json!({"a": "b"})))));
        }
    }

    #[test]
    fn parses_all_operators() {
        let l = sel("a=1, b==2,c!=3 , d in (x, y),e notin (z),f,!g,h>5,i<7");
        let ops: Vec<_> = l.requirements().iter().map(|r| r.operator).collect();
        use LabelOperator::*;
        assert_eq!(
            ops,
            [
                Equals,
                Equals,
                NotEquals,
                In,
                NotIn,
                Exists,
                DoesNotExist,
                GreaterThan,
                LessThan
            ]
        );
        assert_eq!(l.requirements()[3].values, ["x", "y"]);
        assert_eq!(
            l.to_string(),
            "a=1,b=2,c!=3,d in (x,y),e notin (z),f,!g,h>5,i<7"
        );
    }

    #[test]
    fn qualified_keys_and_keyword_values() {
        let l = sel("app.kubernetes.io/name=web,x=in,y in (notin, in)");
        assert_eq!(l.requirements()[0].key, "app.kubernetes.io/name");
        assert_eq!(l.requirements()[1].values, ["in"]);
        assert_eq!(l.requirements()[2].values, ["notin", "in"]);
    }

    #[test]
    fn empty_values_are_allowed() {
        let l = sel("a=,b in ()");
        assert_eq!(l.requirements()[0].values, [""]);
        assert_eq!(l.requirements()[1].values, [""]);
        assert!(l.matches(Some(&labels(json!({"a": "", "b": ""})))));
        assert!(!l.matches(Some(&labels(json!({"a": "x", "b": ""})))));
    }

    #[test]
    fn matching_semantics() {
        let m = labels(json!({"app": "web", "tier": "front", "n": "10", "odd": 5}));
        let yes = |s: &str| assert!(sel(s).matches(Some(&m)), "{s} should match");
        let no = |s: &str| assert!(!sel(s).matches(Some(&m)), "{s} should not match");
        yes("app=web");
        yes("app==web,tier=front");
        no("app=api");
        yes("app!=api");
        no("app!=web");
        yes("missing!=x");
        yes("tier in (front,back)");
        no("tier in (back)");
        no("missing in (x)");
        yes("tier notin (back)");
        no("tier notin (front)");
        yes("missing notin (x)");
        yes("app");
        no("missing");
        yes("!missing");
        no("!app");
        yes("n>5");
        no("n>10");
        yes("n<11");
        no("app>1");
        no("missing<1");
        // A non-string label value (malformed object) counts as absent.
        no("odd");
        yes("!odd");
        yes("odd!=5");
        // No labels at all.
        assert!(sel("x!=y,!z").matches(None));
        assert!(!sel("x").matches(None));
        assert!(sel("app=web").matches_value(Some(&json!({"app": "web"}))));
        assert!(!sel("app=web").matches_value(Some(&json!("app=web"))));
    }

    #[test]
    fn syntax_errors_have_apimachinery_wording() {
        let err = |s: &str| LabelSelector::parse(s).expect_err(s);
        assert_eq!(
            err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(
            err(",a"),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            err("a in x"),
            "unable to parse requirement: found 'x', expected: '('"
        );
        assert_eq!(
            err("a in (x"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("!a=b"),
            "unable to parse requirement: found '=', expected: ',' or 'end of string'"
        );
        assert_eq!(
            err("a=("),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert!(err("a>x").contains("must be an integer"));
        assert!(err("in=x").contains("expected: !, identifier"));
    }

    #[test]
    fn empty_exact_value_before_comma_is_allowed() {
        let l = sel("a=,b");
        assert_eq!(l.requirements().len(), 2);
    }

    #[test]
    fn key_and_value_validation() {
        let e = LabelSelector::parse("a b=c").expect_err("space splits tokens");
        assert!(e.contains("expected"), "{e}");
        let e = LabelSelector::parse("-a=b").expect_err("bad key");
        assert!(e.starts_with("unable to parse requirement: key: Invalid value: \"-a\": name part must consist of alphanumeric characters"), "{e}");
        let e = LabelSelector::parse("a=-b").expect_err("bad value");
        assert!(e.starts_with("unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters"), "{e}");
        let long = "x".repeat(64);
        let e = LabelSelector::parse(&format!("a={long}")).expect_err("long value");
        assert!(e.ends_with("must be no more than 63 characters"), "{e}");
        let e = LabelSelector::parse("Bad_Prefix/x").expect_err("bad prefix");
        assert!(
            e.contains("prefix part a lowercase RFC 1123 subdomain"),
            "{e}"
        );
        assert!(LabelSelector::parse("a/b/c").is_err());
        assert!(LabelSelector::parse("/x").is_err());
        assert!(LabelSelector::parse("x/").is_err());
        assert!(LabelSelector::parse("My.Key_1=Val-1.x_y").is_ok());
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let inputs = [
            "((((",
            "))",
            "!!!",
            "=",
            "==",
            "!=",
            "a in ((b))",
            "a notin",
            "a in (b,,c)",
            "a in (,)",
            "é=ü",
            "a\u{0}=b",
            "\\",
            "a=b=c",
            "a<",
            ">",
            "a in (b c)",
            "a>99999999999999999999999",
        ];
        for s in inputs {
            let _ = LabelSelector::parse(s);
            let _ = FieldSelector::parse(s, &|_| true);
        }
        let deep = "(".repeat(100_000);
        assert!(LabelSelector::parse(&deep).is_err());
        assert!(
            sel("a in (b,,c)").requirements()[0]
                .values
                .contains(&String::new())
        );
    }

    fn fsel(s: &str) -> FieldSelector {
        FieldSelector::parse(s, &|_| true).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn field_selector_grammar_and_matching() {
        let ev = json!({
            "metadata": {"name": "e1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "u1"},
            "type": "Warning", "count": 3, "flag": true
        });
        assert!(fsel("").matches(&ev));
        assert!(fsel("involvedObject.kind=Pod,involvedObject.name==web-1").matches(&ev));
        assert!(!fsel("involvedObject.kind=Pod,involvedObject.name!=web-1").matches(&ev));
        assert!(fsel("type!=Normal").matches(&ev));
        assert!(fsel("metadata.namespace=default,").matches(&ev));
        assert!(
            fsel("involvedObject.namespace=").matches(&ev),
            "missing = \"\""
        );
        assert!(!fsel("involvedObject.namespace!=").matches(&ev));
        assert!(fsel("count=3,flag=true").matches(&ev));
        assert!(
            fsel("involvedObject=").matches(&ev),
            "objects compare as \"\""
        );
        assert_eq!(fsel("a=b,c!=d").requirements().len(), 2);
        assert_eq!(fsel("a=b").required_value("a"), Some("b"));
        assert_eq!(fsel("a!=b").required_value("a"), None);
    }

    #[test]
    fn field_selector_escapes() {
        let f = fsel(r"metadata.name=a\,b\=c\\d");
        assert_eq!(f.requirements()[0].value, r"a,b=c\d");
        assert!(f.matches(&json!({"metadata": {"name": r"a,b=c\d"}})));
        let err = |s: &str| FieldSelector::parse(s, &|_| true).expect_err(s);
        assert!(err(r"a=b\x").contains("invalid escape sequence"));
        assert!(err(r"a=b\").contains("invalid escape sequence"));
        assert!(err("a=b=c").contains("unescaped character '='"));
        assert_eq!(
            err("abc"),
            "invalid selector: 'abc'; can't understand 'abc'"
        );
        // `!=` is found before a later `=`.
        let f = fsel("a!=b");
        assert!(f.requirements()[0].negated);
        // An escaped `=` in the field name is not an operator.
        let f = fsel(r"a\=x=y");
        assert_eq!(f.requirements()[0].field, r"a\=x");
    }

    #[test]
    fn unsupported_fields_are_rejected() {
        let e =
            FieldSelector::parse("metadata.name=a,spec.x=b", &is_common_field).expect_err("spec.x");
        assert_eq!(e, "field label not supported: spec.x");
        assert!(
            FieldSelector::parse("involvedObject.uid=u,reason=Failed", &is_event_field).is_ok()
        );
        assert!(FieldSelector::parse("involvedObject.uid=u", &is_common_field).is_err());
    }
}
