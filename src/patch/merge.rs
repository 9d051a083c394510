//! RFC 7386 JSON merge patch.

use serde_json::{Map, Value};

/// Applies `patch` to `target` per RFC 7386. Iterative (an explicit stack instead of recursion) so that
/// no nesting depth can overflow the call stack.
pub(super) fn apply(target: &mut Value, patch: &Value) {
    let mut stack: Vec<(&mut Value, &Value)> = vec![(target, patch)];
    while let Some((target, patch)) = stack.pop() {
        let Value::Object(patch_map) = patch else {
            *target = patch.clone();
            continue;
        };
        if !target.is_object() {
            *target = Value::Object(Map::new());
        }
        let Value::Object(target_map) = target else {
            continue; // unreachable: made an object just above
        };
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else if !target_map.contains_key(key) {
                target_map.insert(key.clone(), Value::Null);
            }
        }
        // `iter_mut` hands out disjoint borrows of the children, so all of them can wait on the stack.
        for (key, child) in target_map.iter_mut() {
            if let Some(child_patch) = patch_map.get(key)
                && !child_patch.is_null()
            {
                stack.push((child, child_patch));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::merge_patch;
    use serde_json::{Value, json};

    fn merged(target: Value, patch: Value) -> Value {
        let mut target = target;
        merge_patch(&mut target, &patch);
        target
    }

    #[test]
    fn rfc7386_appendix_a_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                merged(target.clone(), patch.clone()),
                want,
                "{target} + {patch}"
            );
        }
    }

    #[test]
    fn nested_maps_merge_and_nulls_inside_new_maps_are_dropped() {
        let got = merged(
            json!({"metadata":{"labels":{"a":"1","b":"2"},"name":"x"}}),
            json!({"metadata":{"labels":{"b":null,"c":"3"},"annotations":{"k":"v","gone":null}}}),
        );
        assert_eq!(
            got,
            json!({"metadata":{"labels":{"a":"1","c":"3"},"name":"x","annotations":{"k":"v"}}})
        );
    }

    #[test]
    fn very_deep_patch_does_not_overflow_the_stack() {
        let depth = 100_000;
        let mut patch = json!(1);
        for _ in 0..depth {
            // Not `json!`: it would serialize (recursively copy) the nested value.
            let mut wrapper = serde_json::Map::new();
            wrapper.insert("a".to_string(), patch);
            patch = Value::Object(wrapper);
        }
        let mut target = json!({});
        merge_patch(&mut target, &patch);
        let mut cursor = &target;
        let mut seen = 0;
        while let Some(next) = cursor.get("a") {
            cursor = next;
            seen += 1;
        }
        assert_eq!(seen, depth);
        assert_eq!(cursor, &json!(1));
        // serde_json drops values recursively; unwind the nesting by hand so the test itself cannot overflow.
        for value in [target, patch] {
            flatten_drop(value);
        }
    }

    fn flatten_drop(value: Value) {
        let mut pending = vec![value];
        while let Some(mut v) = pending.pop() {
            if let Some(map) = v.as_object_mut() {
                pending.extend(std::mem::take(map).into_iter().map(|(_, child)| child));
            }
        }
    }
}
