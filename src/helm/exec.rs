//! The executor: runs parsed trees over [`Value`]s with Go `text/template`'s rules (missingkey=zero as
//! Helm sets it, truthiness, variable scoping, `break`/`continue`, Go-shaped error messages).

use super::funcs;
use super::limits;
use super::parse::{self, Arg, Cmd, Node, NumVal, Pipe, Tree};
use super::value::Value;
use std::collections::HashMap;

/// Go's cap on nested template calls.
const MAX_EXEC_DEPTH: usize = 10_000;
/// Helm's cap on nested `include` of one name.
pub const INCLUDE_LIMIT: usize = 1000;

/// A set of named templates plus execution settings (one per chart render).
#[derive(Debug, Clone, Default)]
pub struct Templates {
    /// Trees by name; a later `add` of a name replaces the earlier one, as Go's `AddParseTree`.
    pub trees: HashMap<String, Tree>,
    /// missingkey=error
    pub strict: bool,
}

impl Templates {
    /// Parses `text` as file `name` and adds its trees (the body and every define).
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), parse::ParseError> {
        let trees = parse::parse(name, text, &funcs::is_func)?;
        for t in trees {
            // Go keeps an existing definition when the new one is empty (only the file body).
            if t.root.is_empty() && t.name != name && self.trees.contains_key(&t.name) {
                continue;
            }
            self.trees.insert(t.name.clone(), t);
        }
        Ok(())
    }

    /// Executes template `name` with `dot`.
    pub fn execute(&self, name: &str, dot: &Value) -> Result<String, String> {
        let mut ex = Exec::new(self, HashMap::new(), 0);
        ex.execute_named(name, dot)
    }
}

/// Control flow out of a list.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// One execution (shared across nested `include`/`template`).
pub struct Exec<'t> {
    /// The template set.
    pub t: &'t Templates,
    /// Sets parsed by enclosing `tpl` calls, innermost last; their names shadow `t`'s (Go parses
    /// `tpl` text into a clone of the set; layering avoids copying every tree per call).
    pub overlays: Vec<&'t Templates>,
    vars: Vec<(String, Value)>,
    depth: usize,
    /// `include` nesting per name.
    pub include_counts: HashMap<String, usize>,
    /// `tpl` nesting.
    pub tpl_depth: usize,
}

/// Where an error happened, for Go's `template: file:line:col: executing "name" at <node>: msg`.
struct Frame<'a> {
    tree: &'a Tree,
}

type R<T> = Result<T, String>;

impl<'t> Exec<'t> {
    /// A new execution over `t` (`include` counts and `tpl` depth carried from an outer one).
    pub fn new(
        t: &'t Templates,
        include_counts: HashMap<String, usize>,
        tpl_depth: usize,
    ) -> Exec<'t> {
        Exec {
            t,
            overlays: Vec::new(),
            vars: Vec::new(),
            depth: 0,
            include_counts,
            tpl_depth,
        }
    }

    /// Hands the `include` counts back to the outer execution.
    pub fn take_counts(&mut self) -> HashMap<String, usize> {
        std::mem::take(&mut self.include_counts)
    }

    /// The tree named `name`: the innermost `tpl` set defining it, else the chart's set.
    pub fn lookup(&self, name: &str) -> Option<&'t Tree> {
        let t: &'t Templates = self.t;
        self.overlays
            .iter()
            .rev()
            .find_map(|o| o.trees.get(name))
            .or_else(|| t.trees.get(name))
    }

    /// Executes template `name` into a string.
    pub fn execute_named(&mut self, name: &str, dot: &Value) -> R<String> {
        let Some(tree) = self.lookup(name) else {
            return Err(format!(
                "template: no template {name:?} associated with template \"gotpl\""
            ));
        };
        self.run_tree(tree, dot)
    }

    /// Runs one tree with fresh variables.
    pub fn run_tree(&mut self, tree: &Tree, dot: &Value) -> R<String> {
        let saved = std::mem::replace(&mut self.vars, vec![("$".to_string(), dot.clone())]);
        let mut out = String::new();
        let frame = Frame { tree };
        let res = self.walk_list(&frame, &tree.root, dot, &mut out);
        self.vars = saved;
        res.map(|_| out)
    }

    fn err(&self, f: &Frame, pos: usize, node: &str, msg: impl std::fmt::Display) -> String {
        format!(
            "template: {}: executing {:?} at <{}>: {}",
            f.tree.src.context(pos),
            f.tree.name,
            node.replace('%', "%%"),
            msg
        )
    }

    fn walk_list(&mut self, f: &Frame, nodes: &[Node], dot: &Value, out: &mut String) -> R<Flow> {
        for n in nodes {
            match self.walk(f, n, dot, out)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, f: &Frame, node: &Node, dot: &Value, out: &mut String) -> R<Flow> {
        limits::step_checked()?;
        match node {
            Node::Text(s) => {
                limits::size_checked(out.len() + s.len())?;
                out.push_str(s);
            }
            Node::Action(p) => {
                let v = self.eval_pipe(f, p, dot)?;
                if p.decl.is_empty() {
                    print_value(&v, out);
                    limits::check()?;
                    limits::size_checked(out.len())?;
                }
            }
            Node::If(b) | Node::With(b) => {
                let is_with = matches!(node, Node::With(_));
                let mark = self.vars.len();
                let v = self.eval_pipe(f, &b.pipe, dot)?;
                let flow = if v.truthy() {
                    let d = if is_with { v } else { dot.clone() };
                    self.walk_list(f, &b.list, &d, out)?
                } else if let Some(e) = &b.else_list {
                    self.walk_list(f, e, dot, out)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(b) => {
                let mark = self.vars.len();
                let res = self.walk_range(f, b, dot, out);
                self.vars.truncate(mark);
                res?;
            }
            Node::Template { pos, name, pipe } => {
                let d = match pipe {
                    Some(p) => self.eval_pipe(f, p, dot)?,
                    None => Value::Nil,
                };
                let Some(tree) = self.lookup(name) else {
                    return Err(self.err(
                        f,
                        *pos,
                        &format!("template {name:?}"),
                        format!("template {name:?} not defined"),
                    ));
                };
                if self.depth >= MAX_EXEC_DEPTH {
                    return Err(self.err(
                        f,
                        *pos,
                        &format!("template {name:?}"),
                        format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})"),
                    ));
                }
                self.depth += 1;
                let s = self.run_tree(tree, &d);
                self.depth -= 1;
                let s = s?;
                limits::size_checked(out.len() + s.len())?;
                out.push_str(&s);
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, f: &Frame, b: &parse::Branch, dot: &Value, out: &mut String) -> R<()> {
        // The declaration is bound per iteration, so evaluate the pipeline without it.
        let pipe_nodecl = Pipe {
            pos: b.pipe.pos,
            decl: Vec::new(),
            is_assign: false,
            cmds: b.pipe.cmds.clone(),
        };
        let v = self.eval_pipe(f, &pipe_nodecl, dot)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::GoInt(i as i64), x.clone()))
                .collect(),
            Value::Map(m) => m
                .borrow()
                .iter()
                .map(|(k, x)| (Value::Str(k.clone()), x.clone()))
                .collect(),
            Value::Int(n) | Value::GoInt(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.err(
                        f,
                        b.pos,
                        &format!("{}", b.pipe),
                        "can't use two iteration variables over an integer",
                    ));
                }
                let mk = |i| {
                    if matches!(v, Value::Int(_)) {
                        Value::Int(i)
                    } else {
                        Value::GoInt(i)
                    }
                };
                limits::size_checked(usize::try_from(*n).unwrap_or(0).saturating_mul(16))?;
                (0..*n).map(|i| (mk(i), mk(i))).collect()
            }
            Value::Nil => Vec::new(),
            Value::Obj(o) if o.entries().is_some() => o
                .entries()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, x)| (Value::Str(k), x))
                .collect(),
            other => {
                return Err(self.err(
                    f,
                    b.pos,
                    &format!("{}", b.pipe),
                    format!("range can't iterate over {}", other.to_go_string()),
                ));
            }
        };
        if items.is_empty() {
            if let Some(e) = &b.else_list {
                self.walk_list(f, e, dot, out)?;
            }
            return Ok(());
        }
        for (k, x) in items {
            limits::step_checked()?;
            let mark = self.vars.len();
            match b.pipe.decl.len() {
                1 => self.set_var(&b.pipe.decl[0], x.clone(), b.pipe.is_assign),
                2 => {
                    self.set_var(&b.pipe.decl[0], k, b.pipe.is_assign);
                    self.set_var(&b.pipe.decl[1], x.clone(), b.pipe.is_assign);
                }
                _ => {}
            }
            let flow = self.walk_list(f, &b.list, &x, out)?;
            self.vars.truncate(mark);
            if let Flow::Break = flow {
                break;
            }
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: Value, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
            }
        } else {
            self.vars.push((name.to_string(), v));
        }
    }

    fn eval_pipe(&mut self, f: &Frame, p: &Pipe, dot: &Value) -> R<Value> {
        let mut val: Option<Value> = None;
        for c in &p.cmds {
            let v = self.eval_cmd(f, c, dot, val.take())?;
            val = Some(v);
        }
        let v = val.unwrap_or_default();
        for name in &p.decl {
            self.set_var(name, v.clone(), p.is_assign);
        }
        Ok(v)
    }

    fn eval_cmd(&mut self, f: &Frame, c: &Cmd, dot: &Value, fin: Option<Value>) -> R<Value> {
        let first = &c.args[0];
        let node_s = || format!("{c}");
        match first {
            Arg::Ident(_, name) => return self.eval_func(f, c, name, dot, fin),
            Arg::Field(pos, names) => {
                let mut extra = Vec::new();
                for a in &c.args[1..] {
                    extra.push(self.eval_arg(f, a, dot)?);
                }
                if let Some(v) = fin {
                    extra.push(v);
                }
                return self.eval_field_chain(
                    f,
                    *pos,
                    &first.to_string(),
                    dot.clone(),
                    names,
                    extra,
                );
            }
            Arg::Var(pos, name, fields) if !fields.is_empty() => {
                let base = self.var(f, *pos, name)?;
                let mut extra = Vec::new();
                for a in &c.args[1..] {
                    extra.push(self.eval_arg(f, a, dot)?);
                }
                if let Some(v) = fin {
                    extra.push(v);
                }
                return self.eval_field_chain(f, *pos, &first.to_string(), base, fields, extra);
            }
            Arg::Pipe(pos, p, fields) if !fields.is_empty() => {
                let base = self.eval_pipe(f, p, dot)?;
                let mut extra = Vec::new();
                for a in &c.args[1..] {
                    extra.push(self.eval_arg(f, a, dot)?);
                }
                if let Some(v) = fin {
                    extra.push(v);
                }
                return self.eval_field_chain(f, *pos, &first.to_string(), base, fields, extra);
            }
            _ => {}
        }
        if let Arg::Nil(p) = first {
            return Err(self.err(f, *p, &node_s(), "nil is not a command"));
        }
        if c.args.len() > 1 || fin.is_some() {
            let what = match first {
                Arg::Dot(_) => "can't give argument to non-function .".to_string(),
                a => format!("can't give argument to non-function {a}"),
            };
            return Err(self.err(f, first.pos(), &node_s(), what));
        }
        self.eval_arg(f, first, dot)
    }

    fn var(&self, f: &Frame, pos: usize, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.err(f, pos, name, format!("undefined variable: {name}"))),
        }
    }

    fn eval_arg(&mut self, f: &Frame, a: &Arg, dot: &Value) -> R<Value> {
        Ok(match a {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => Value::Nil,
            Arg::Bool(_, b) => Value::Bool(*b),
            Arg::Str(_, s, _) => Value::Str(s.clone()),
            Arg::Num(_, _, NumVal::Int(i)) => Value::GoInt(*i),
            Arg::Num(_, _, NumVal::Float(x)) => Value::Float(*x),
            Arg::Field(pos, names) => {
                self.eval_field_chain(f, *pos, &a.to_string(), dot.clone(), names, Vec::new())?
            }
            Arg::Var(pos, name, fields) => {
                let base = self.var(f, *pos, name)?;
                if fields.is_empty() {
                    base
                } else {
                    self.eval_field_chain(f, *pos, &a.to_string(), base, fields, Vec::new())?
                }
            }
            Arg::Pipe(pos, p, fields) => {
                let mark = self.vars.len();
                let base = self.eval_pipe(f, p, dot);
                self.vars.truncate(mark);
                let base = base?;
                if fields.is_empty() {
                    base
                } else {
                    self.eval_field_chain(f, *pos, &a.to_string(), base, fields, Vec::new())?
                }
            }
            Arg::Ident(_, name) => {
                let c = Cmd {
                    pos: a.pos(),
                    args: vec![a.clone()],
                };
                self.eval_func(f, &c, name, dot, None)?
            }
        })
    }

    fn eval_field_chain(
        &mut self,
        f: &Frame,
        pos: usize,
        node: &str,
        mut recv: Value,
        names: &[String],
        args: Vec<Value>,
    ) -> R<Value> {
        let n = names.len();
        // Go drops a nil start value to an invalid reflect.Value (a pipeline's or variable's
        // result, or nil data), and fields of an invalid value are zero, not an error; only a nil
        // met inside the chain (a missing map entry) fails.
        if matches!(recv, Value::Nil) && !self.t.strict {
            return Ok(Value::Nil);
        }
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == n;
            let a: &[Value] = if last { &args } else { &[] };
            recv = self.eval_field(f, pos, node, &recv, name, a)?;
        }
        Ok(recv)
    }

    fn eval_field(
        &mut self,
        f: &Frame,
        pos: usize,
        node: &str,
        recv: &Value,
        name: &str,
        args: &[Value],
    ) -> R<Value> {
        match recv {
            Value::Map(m) => {
                if !args.is_empty() {
                    return Err(self.err(
                        f,
                        pos,
                        node,
                        format!("{name} is not a method but has arguments"),
                    ));
                }
                match m.borrow().get(name) {
                    Some(v) => Ok(v.clone()),
                    None if self.t.strict => {
                        Err(self.err(f, pos, node, format!("map has no entry for key {name:?}")))
                    }
                    None => Ok(Value::Nil),
                }
            }
            Value::Nil => Err(self.err(
                f,
                pos,
                node,
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            Value::Obj(obj) => {
                if let Some(r) = obj.call(name, args) {
                    return r
                        .map_err(|e| self.err(f, pos, node, format!("error calling {name}: {e}")));
                }
                if args.is_empty()
                    && let Some(v) = obj.field(name)
                {
                    return Ok(v);
                }
                Err(self.err(
                    f,
                    pos,
                    node,
                    format!("can't evaluate field {name} in type {}", obj.type_name()),
                ))
            }
            other => Err(self.err(
                f,
                pos,
                node,
                format!("can't evaluate field {name} in type {}", other.type_name()),
            )),
        }
    }

    fn eval_func(
        &mut self,
        f: &Frame,
        c: &Cmd,
        name: &str,
        dot: &Value,
        fin: Option<Value>,
    ) -> R<Value> {
        let node_s = format!("{c}");
        let pos = c.args[0].pos();
        // and/or short-circuit on the (already evaluated) truthiness of each argument.
        if name == "and" || name == "or" {
            let n = c.args.len() - 1 + usize::from(fin.is_some());
            if n == 0 {
                return Err(self.err(
                    f,
                    pos,
                    name,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Nil;
            for a in &c.args[1..] {
                last = self.eval_arg(f, a, dot)?;
                if (name == "and") != last.truthy() {
                    return Ok(last);
                }
            }
            if let Some(v) = fin {
                last = v;
            }
            return Ok(last);
        }
        let mut args = Vec::with_capacity(c.args.len());
        for a in &c.args[1..] {
            args.push(self.eval_arg(f, a, dot)?);
        }
        if let Some(v) = fin {
            args.push(v);
        }
        limits::step_checked()?;
        let res = funcs::call(self, name, &args, dot);
        // A walker inside the function may have tripped a limit without an error of its own.
        limits::check()?;
        match res {
            Ok(v) => {
                limits::size_checked(v.shallow_size())?;
                Ok(v)
            }
            Err(funcs::FnError::Call(e)) => {
                Err(self.err(f, pos, &node_s, format!("error calling {name}: {e}")))
            }
            Err(funcs::FnError::Arg(e)) => Err(self.err(f, pos, &node_s, e)),
        }
    }
}

/// Prints a value as an action does (`<no value>` for nil; Helm strips that text afterwards).
pub fn print_value(v: &Value, out: &mut String) {
    match v {
        Value::Nil => out.push_str("<no value>"),
        v => v.write_v(out, false),
    }
}
