//! RFC 6902 JSON patch with RFC 6901 JSON pointers.

use super::PatchError;
use serde_json::{Map, Value};

/// The operation kinds of RFC 6902.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

impl OpKind {
    fn parse(name: &str) -> Option<OpKind> {
        Some(match name {
            "add" => OpKind::Add,
            "remove" => OpKind::Remove,
            "replace" => OpKind::Replace,
            "move" => OpKind::Move,
            "copy" => OpKind::Copy,
            "test" => OpKind::Test,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Remove => "remove",
            OpKind::Replace => "replace",
            OpKind::Move => "move",
            OpKind::Copy => "copy",
            OpKind::Test => "test",
        }
    }
}

/// Applies all operations to a copy of `target` and swaps it in only when every operation succeeded.
/// `replace_adds_member`: kustomize's json-patch library lets `replace` create a missing member of an
/// existing object (a missing parent or array index is still an error); RFC 6902 refuses it.
pub(super) fn apply(
    target: &mut Value,
    ops: &Value,
    replace_adds_member: bool,
) -> Result<(), PatchError> {
    let Value::Array(ops) = ops else {
        return Err(PatchError::Invalid(format!(
            "a JSON patch must be an array of operations, got {}",
            type_name(ops)
        )));
    };
    let mut doc = target.clone();
    for (index, op) in ops.iter().enumerate() {
        apply_op(&mut doc, index, op, replace_adds_member)?;
    }
    *target = doc;
    Ok(())
}

fn apply_op(
    doc: &mut Value,
    index: usize,
    op: &Value,
    replace_adds_member: bool,
) -> Result<(), PatchError> {
    let Value::Object(fields) = op else {
        return Err(PatchError::Invalid(format!(
            "op {index}: an operation must be an object, got {}",
            type_name(op)
        )));
    };
    let op_name = match fields.get("op") {
        Some(Value::String(name)) => name.as_str(),
        Some(other) => {
            return Err(PatchError::Invalid(format!(
                "op {index}: \"op\" must be a string, got {}",
                type_name(other)
            )));
        }
        None => return Err(PatchError::Invalid(format!("op {index}: missing \"op\""))),
    };
    let kind = OpKind::parse(op_name)
        .ok_or_else(|| PatchError::Invalid(format!("op {index}: unknown operation {op_name:?}")))?;
    let path_text = string_member(fields, "path", index, kind)?;
    let ctx = OpContext {
        index,
        kind,
        path: path_text,
    };
    let path = parse_pointer(path_text).map_err(|why| ctx.invalid(&why))?;
    match kind {
        OpKind::Add => {
            let value = value_member(fields, &ctx)?.clone();
            add(doc, &path, value, &ctx)
        }
        OpKind::Remove => remove(doc, &path, &ctx).map(drop),
        OpKind::Replace => {
            let value = value_member(fields, &ctx)?.clone();
            if replace_adds_member
                && let Some((last, parents)) = path.split_last()
                && let Value::Object(map) = lookup_mut(doc, parents, &ctx)?
            {
                map.insert(last.clone(), value);
                return Ok(());
            }
            let slot = lookup_mut(doc, &path, &ctx)?;
            *slot = value;
            Ok(())
        }
        OpKind::Move => {
            let from_text = string_member(fields, "from", index, kind)?;
            let from =
                parse_pointer(from_text).map_err(|why| ctx.invalid(&format!("from: {why}")))?;
            if from == path {
                // Still requires the location to exist.
                lookup_mut(doc, &from, &ctx.with_path(from_text)).map(drop)
            } else if path.len() > from.len() && path[..from.len()] == from[..] {
                Err(ctx.invalid(&format!("cannot move {from_text} into its own child")))
            } else {
                let value = remove(doc, &from, &ctx.with_path(from_text))?;
                add(doc, &path, value, &ctx)
            }
        }
        OpKind::Copy => {
            let from_text = string_member(fields, "from", index, kind)?;
            let from =
                parse_pointer(from_text).map_err(|why| ctx.invalid(&format!("from: {why}")))?;
            let value = lookup_mut(doc, &from, &ctx.with_path(from_text))?.clone();
            add(doc, &path, value, &ctx)
        }
        OpKind::Test => {
            let expected = value_member(fields, &ctx)?;
            let actual = test_target(doc, &path, &ctx)?;
            if json_equal(actual, expected) {
                Ok(())
            } else {
                Err(PatchError::TestFailed(format!(
                    "op {index} (test) path {path_text}: value is {actual}, expected {expected}"
                )))
            }
        }
    }
}

/// Where an operation is, for error messages.
struct OpContext<'a> {
    index: usize,
    kind: OpKind,
    path: &'a str,
}

impl<'a> OpContext<'a> {
    fn with_path(&self, path: &'a str) -> OpContext<'a> {
        OpContext {
            index: self.index,
            kind: self.kind,
            path,
        }
    }

    fn prefix(&self) -> String {
        format!(
            "op {} ({}) path {:?}",
            self.index,
            self.kind.name(),
            self.path
        )
    }

    fn invalid(&self, why: &str) -> PatchError {
        PatchError::Invalid(format!("{}: {why}", self.prefix()))
    }

    fn not_found(&self, why: &str) -> PatchError {
        PatchError::PathNotFound(format!("{}: {why}", self.prefix()))
    }
}

fn string_member<'v>(
    fields: &'v Map<String, Value>,
    name: &str,
    index: usize,
    kind: OpKind,
) -> Result<&'v str, PatchError> {
    match fields.get(name) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(PatchError::Invalid(format!(
            "op {index} ({}): {name:?} must be a string, got {}",
            kind.name(),
            type_name(other)
        ))),
        None => Err(PatchError::Invalid(format!(
            "op {index} ({}): missing {name:?}",
            kind.name()
        ))),
    }
}

fn value_member<'v>(
    fields: &'v Map<String, Value>,
    ctx: &OpContext<'_>,
) -> Result<&'v Value, PatchError> {
    fields
        .get("value")
        .ok_or_else(|| ctx.invalid("missing \"value\""))
}

/// Splits an RFC 6901 pointer into unescaped reference tokens (`""` is the whole document).
pub(super) fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "JSON pointer {pointer:?} must be empty or start with '/'"
        ));
    };
    rest.split('/').map(unescape_token).collect()
}

fn unescape_token(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => {
                    return Err(format!(
                        "bad escape in JSON pointer token {token:?} (only ~0 and ~1)"
                    ));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Parses an array index token: digits without leading zeros.
fn array_index(token: &str) -> Option<usize> {
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    if valid { token.parse().ok() } else { None }
}

/// The value at `path`.
fn lookup_mut<'v>(
    doc: &'v mut Value,
    path: &[String],
    ctx: &OpContext<'_>,
) -> Result<&'v mut Value, PatchError> {
    let mut cursor = doc;
    for (depth, token) in path.iter().enumerate() {
        cursor = child_mut(cursor, token, ctx, depth)?;
    }
    Ok(cursor)
}

/// The value `test` compares against. Like the Kubernetes apiserver (and kube-runtime's finalizer
/// helper, which relies on it), a missing member of an existing object reads as `null`; a missing
/// parent or an out-of-range array index is still an error.
fn test_target<'v>(
    doc: &'v mut Value,
    path: &[String],
    ctx: &OpContext<'_>,
) -> Result<&'v Value, PatchError> {
    static NULL: Value = Value::Null;
    let Some((last, parent_path)) = path.split_last() else {
        return Ok(doc);
    };
    let parent = lookup_mut(doc, parent_path, ctx)?;
    if let Value::Object(map) = parent {
        return Ok(map.get(last.as_str()).unwrap_or(&NULL));
    }
    child_mut(parent, last, ctx, parent_path.len()).map(|value| &*value)
}

fn child_mut<'v>(
    parent: &'v mut Value,
    token: &str,
    ctx: &OpContext<'_>,
    depth: usize,
) -> Result<&'v mut Value, PatchError> {
    match parent {
        Value::Object(map) => map
            .get_mut(token)
            .ok_or_else(|| ctx.not_found(&format!("no member {token:?} at segment {}", depth + 1))),
        Value::Array(items) => {
            let len = items.len();
            let at = array_index(token).ok_or_else(|| {
                ctx.not_found(&format!(
                    "{token:?} is not an array index at segment {}",
                    depth + 1
                ))
            })?;
            items.get_mut(at).ok_or_else(|| {
                ctx.not_found(&format!("index {at} out of bounds (array length {len})"))
            })
        }
        other => Err(ctx.not_found(&format!(
            "segment {} descends into a {}",
            depth + 1,
            type_name(other)
        ))),
    }
}

fn add(
    doc: &mut Value,
    path: &[String],
    value: Value,
    ctx: &OpContext<'_>,
) -> Result<(), PatchError> {
    let Some((last, parents)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match lookup_mut(doc, parents, ctx)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let len = items.len();
            let at = array_index(last)
                .ok_or_else(|| ctx.invalid(&format!("{last:?} is not an array index")))?;
            if at > len {
                return Err(
                    ctx.not_found(&format!("index {at} out of bounds (array length {len})"))
                );
            }
            items.insert(at, value);
            Ok(())
        }
        other => Err(ctx.not_found(&format!(
            "parent is a {}, not an object or array",
            type_name(other)
        ))),
    }
}

fn remove(doc: &mut Value, path: &[String], ctx: &OpContext<'_>) -> Result<Value, PatchError> {
    let Some((last, parents)) = path.split_last() else {
        return Err(ctx.invalid("cannot remove the whole document"));
    };
    match lookup_mut(doc, parents, ctx)? {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| ctx.not_found(&format!("no member {last:?}"))),
        Value::Array(items) => {
            let len = items.len();
            let at = array_index(last)
                .ok_or_else(|| ctx.not_found(&format!("{last:?} is not an array index")))?;
            if at >= len {
                return Err(
                    ctx.not_found(&format!("index {at} out of bounds (array length {len})"))
                );
            }
            Ok(items.remove(at))
        }
        other => Err(ctx.not_found(&format!(
            "parent is a {}, not an object or array",
            type_name(other)
        ))),
    }
}

/// JSON equality for `test`: numbers compare by value (`1` equals `1.0`), objects ignore member order.
/// Iterative so that deep values cannot overflow the stack.
fn json_equal(a: &Value, b: &Value) -> bool {
    let mut pending = vec![(a, b)];
    while let Some((a, b)) = pending.pop() {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let same = match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                    (Some(x), Some(y), _, _) => x == y,
                    (_, _, Some(x), Some(y)) => x == y,
                    _ => x.as_f64() == y.as_f64(),
                };
                if !same {
                    return false;
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                pending.extend(x.iter().zip(y));
            }
            (Value::Object(x), Value::Object(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                for (key, xv) in x {
                    match y.get(key) {
                        Some(yv) => pending.push((xv, yv)),
                        None => return false,
                    }
                }
            }
            (x, y) => {
                if x != y {
                    return false;
                }
            }
        }
    }
    true
}

/// A JSON type name for error messages.
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PatchError, json_patch};
    use serde_json::{Value, json};

    fn patched(target: Value, ops: Value) -> Result<Value, PatchError> {
        let mut target = target;
        json_patch(&mut target, &ops).map(|()| target)
    }

    #[test]
    fn rfc6902_appendix_a_successes() {
        let cases = [
            // A.1 add an object member
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux"}]),
                json!({"baz":"qux","foo":"bar"}),
            ),
            // A.2 add an array element
            (
                json!({"foo":["bar","baz"]}),
                json!([{"op":"add","path":"/foo/1","value":"qux"}]),
                json!({"foo":["bar","qux","baz"]}),
            ),
            // A.3 remove an object member
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"remove","path":"/baz"}]),
                json!({"foo":"bar"}),
            ),
            // A.4 remove an array element
            (
                json!({"foo":["bar","qux","baz"]}),
                json!([{"op":"remove","path":"/foo/1"}]),
                json!({"foo":["bar","baz"]}),
            ),
            // A.5 replace a value
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"replace","path":"/baz","value":"boo"}]),
                json!({"baz":"boo","foo":"bar"}),
            ),
            // A.6 move a value
            (
                json!({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}),
                json!([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]),
                json!({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}),
            ),
            // A.7 move an array element
            (
                json!({"foo":["all","grass","cows","eat"]}),
                json!([{"op":"move","from":"/foo/1","path":"/foo/3"}]),
                json!({"foo":["all","cows","eat","grass"]}),
            ),
            // A.10 add a nested member object
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/child","value":{"grandchild":{}}}]),
                json!({"foo":"bar","child":{"grandchild":{}}}),
            ),
            // A.11 ignore unrecognized members
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux","xyz":123}]),
                json!({"foo":"bar","baz":"qux"}),
            ),
            // A.14 ~ escape ordering
            (
                json!({"/":9,"~1":10}),
                json!([{"op":"test","path":"/~01","value":10}]),
                json!({"/":9,"~1":10}),
            ),
            // A.16 add an array value
            (
                json!({"foo":["bar"]}),
                json!([{"op":"add","path":"/foo/-","value":["abc","def"]}]),
                json!({"foo":["bar",["abc","def"]]}),
            ),
            // copy, add at the end index, replace root
            (
                json!({"a":{"b":1}}),
                json!([{"op":"copy","from":"/a","path":"/c"}]),
                json!({"a":{"b":1},"c":{"b":1}}),
            ),
            (
                json!({"a":[1]}),
                json!([{"op":"add","path":"/a/1","value":2}]),
                json!({"a":[1,2]}),
            ),
            (
                json!({"a":1}),
                json!([{"op":"replace","path":"","value":[1]}]),
                json!([1]),
            ),
            (
                json!({"a/b":1,"m~n":2}),
                json!([{"op":"remove","path":"/a~1b"},{"op":"replace","path":"/m~0n","value":3}]),
                json!({"m~n":3}),
            ),
            // test compares numbers by value and objects regardless of order
            (
                json!({"n":1,"o":{"x":1,"y":[1,2]}}),
                json!([{"op":"test","path":"/n","value":1.0},{"op":"test","path":"/o","value":{"y":[1,2],"x":1}}]),
                json!({"n":1,"o":{"x":1,"y":[1,2]}}),
            ),
            (json!({"a":1}), json!([]), json!({"a":1})),
        ];
        for (target, ops, want) in cases {
            assert_eq!(
                patched(target.clone(), ops.clone()),
                Ok(want),
                "{target} + {ops}"
            );
        }
    }

    #[test]
    fn kube_runtime_finalizer_sequence() {
        // kube-runtime's finalizer(): test the list, then remove an item by index.
        let obj = json!({"metadata":{"name":"x","finalizers":["a","b"]}});
        let ops = json!([
            {"op":"test","path":"/metadata/finalizers/1","value":"b"},
            {"op":"remove","path":"/metadata/finalizers/1"}
        ]);
        assert_eq!(
            patched(obj, ops),
            Ok(json!({"metadata":{"name":"x","finalizers":["a"]}}))
        );
        let none = json!({"metadata":{"name":"x"}});
        let ops = json!([
            {"op":"test","path":"/metadata/finalizers","value":null},
            {"op":"add","path":"/metadata/finalizers","value":[]},
            {"op":"add","path":"/metadata/finalizers/-","value":"a"}
        ]);
        // The apiserver reads a missing member as `null` for `test`, so the helper can add the list.
        assert_eq!(
            patched(none, ops),
            Ok(json!({"metadata":{"name":"x","finalizers":["a"]}}))
        );
    }

    #[test]
    fn test_reads_missing_member_as_null_but_not_missing_parent_or_index() {
        let obj = json!({"a":{"b":1},"list":[1]});
        let null_ok = json!([{"op":"test","path":"/a/missing","value":null}]);
        assert_eq!(patched(obj.clone(), null_ok), Ok(obj.clone()));
        // A missing member is null, not any other value.
        let not_one = json!([{"op":"test","path":"/a/missing","value":1}]);
        assert!(matches!(
            patched(obj.clone(), not_one),
            Err(PatchError::TestFailed(_))
        ));
        // The parent must exist, and array indices must be in range.
        for path in ["/nope/missing", "/list/3", "/list/x"] {
            let ops = json!([{"op":"test","path":path,"value":null}]);
            assert!(
                matches!(patched(obj.clone(), ops), Err(PatchError::PathNotFound(_))),
                "{path}"
            );
        }
        // A present member equal to null also passes.
        let with_null = json!({"a":null});
        let ops = json!([{"op":"test","path":"/a","value":null}]);
        assert_eq!(patched(with_null.clone(), ops), Ok(with_null));
    }

    #[test]
    fn failures_name_the_op_and_path_and_leave_the_target_unchanged() {
        let original = json!({"foo":"bar","list":[1,2]});
        type KindCheck = fn(&PatchError) -> bool;
        let cases: [(Value, KindCheck, &str); 13] = [
            // A.8 / A.9 failed test
            (
                json!([{"op":"add","path":"/x","value":1},{"op":"test","path":"/foo","value":"baz"}]),
                |e| matches!(e, PatchError::TestFailed(_)),
                "op 1 (test) path /foo",
            ),
            // A.12 add to a nonexistent target
            (
                json!([{"op":"add","path":"/baz/bat","value":"qux"}]),
                |e| matches!(e, PatchError::PathNotFound(_)),
                "op 0 (add) path \"/baz/bat\"",
            ),
            (
                json!([{"op":"remove","path":"/nope"}]),
                |e| matches!(e, PatchError::PathNotFound(_)),
                "op 0 (remove) path \"/nope\"",
            ),
            (
                json!([{"op":"replace","path":"/list/2","value":0}]),
                |e| matches!(e, PatchError::PathNotFound(_)),
                "out of bounds",
            ),
            (
                json!([{"op":"add","path":"/list/3","value":0}]),
                |e| matches!(e, PatchError::PathNotFound(_)),
                "out of bounds",
            ),
            (
                json!([{"op":"remove","path":"/list/-"}]),
                |e| matches!(e, PatchError::PathNotFound(_)),
                "op 0 (remove)",
            ),
            (
                json!([{"op":"add","path":"/list/01","value":0}]),
                |e| matches!(e, PatchError::Invalid(_)),
                "not an array index",
            ),
            (
                json!([{"op":"add","path":"foo","value":0}]),
                |e| matches!(e, PatchError::Invalid(_)),
                "must be empty or start with '/'",
            ),
            (
                json!([{"op":"add","path":"/a~2","value":0}]),
                |e| matches!(e, PatchError::Invalid(_)),
                "bad escape",
            ),
            // A.13 invalid op / missing members
            (
                json!([{"op":"frob","path":"/foo"}]),
                |e| matches!(e, PatchError::Invalid(_)),
                "op 0: unknown operation",
            ),
            (
                json!([{"op":"add","path":"/foo"}]),
                |e| matches!(e, PatchError::Invalid(_)),
                "missing \"value\"",
            ),
            (
                json!([{"op":"move","from":"/list","path":"/list/0"}]),
                |e| matches!(e, PatchError::Invalid(_)),
                "own child",
            ),
            (
                json!([{"op":"add","path":"/foo/x","value":1}]),
                |e| matches!(e, PatchError::PathNotFound(_)),
                "op 0 (add)",
            ),
        ];
        for (ops, kind_ok, fragment) in cases {
            let mut target = original.clone();
            let err = match json_patch(&mut target, &ops) {
                Err(err) => err,
                Ok(()) => panic!("{ops} should fail"),
            };
            assert!(kind_ok(&err), "{ops}: wrong kind {err:?}");
            assert!(
                err.to_string().contains(fragment),
                "{ops}: {err} lacks {fragment:?}"
            );
            assert_eq!(target, original, "{ops} modified the target");
        }
    }

    #[test]
    fn malformed_documents_are_errors() {
        for ops in [
            json!({"op":"add"}),
            json!("add"),
            json!(null),
            json!([1]),
            json!([{"path":"/a"}]),
            json!([{"op":1,"path":"/a"}]),
            json!([{"op":"add","path":7,"value":1}]),
            json!([{"op":"move","path":"/a"}]),
            json!([{"op":"remove","path":""}]),
        ] {
            let mut target = json!({"a":1});
            assert!(
                matches!(json_patch(&mut target, &ops), Err(PatchError::Invalid(_))),
                "{ops}"
            );
            assert_eq!(target, json!({"a":1}));
        }
    }

    #[test]
    fn long_pointer_into_shallow_document_is_an_error() {
        let path = "/a".repeat(10_000);
        let mut target = json!({"a":{"a":1}});
        let ops = json!([{"op":"add","path":path,"value":1}]);
        assert!(matches!(
            json_patch(&mut target, &ops),
            Err(PatchError::PathNotFound(_))
        ));
    }

    #[test]
    fn replace_of_a_missing_member_adds_it_only_in_kustomize_mode() {
        use super::super::json_patch_kustomize;
        let ops = json!([{"op":"replace","path":"/spec/resources","value":{"cpu":"1"}}]);
        let mut rfc = json!({"spec":{}});
        assert!(matches!(
            json_patch(&mut rfc, &ops),
            Err(PatchError::PathNotFound(_))
        ));
        let mut lenient = json!({"spec":{}});
        json_patch_kustomize(&mut lenient, &ops).unwrap();
        assert_eq!(lenient, json!({"spec":{"resources":{"cpu":"1"}}}));
        // A missing parent or array index stays an error, as in kustomize.
        for path in ["/missing/x", "/list/2", "/list/-"] {
            let mut doc = json!({"list":[1, 2]});
            let ops = json!([{"op":"replace","path":path,"value":0}]);
            assert!(
                matches!(
                    json_patch_kustomize(&mut doc, &ops),
                    Err(PatchError::PathNotFound(_) | PatchError::Invalid(_))
                ),
                "{path}"
            );
            assert_eq!(doc, json!({"list":[1, 2]}));
        }
    }
}
