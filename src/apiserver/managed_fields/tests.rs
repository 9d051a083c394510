use super::fieldpath::{PathElement, decode_fields_v1, display_path, encode_fields_v1};
use super::*;
use serde_json::json;

/// Built-in-like list types for the tests.
struct Types;

impl ListTypes for Types {
    fn list_type(&self, path: &[&str]) -> ListType {
        match path {
            ["metadata", "finalizers"] => ListType::Set,
            ["metadata", "ownerReferences"] => ListType::Map(&["uid"]),
            ["spec", "containers"] => ListType::Map(&["name"]),
            ["spec", "containers", "ports"] => ListType::Map(&["containerPort", "protocol"]),
            ["spec", "tags"] => ListType::Set,
            _ => ListType::Atomic,
        }
    }
}

fn writer<'a>(manager: &'a str, now: &'a str) -> Writer<'a> {
    Writer {
        manager,
        api_version: "v1",
        subresource: None,
        now,
    }
}

const T1: &str = "2026-11-27T10:00:00Z";
const T2: &str = "2026-11-27T11:00:00Z";
const T3: &str = "2026-11-27T12:00:00Z";

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "demo", "namespace": "default"}, "data": data})
}

fn apply(live: Option<&Value>, config: &Value, manager: &str, now: &str, force: bool) -> Value {
    match server_side_apply(live, config, &writer(manager, now), force, &Types) {
        Ok(v) => v,
        Err(e) => panic!("apply by {manager} failed: {e:?}"),
    }
}

fn entries_of(object: &Value) -> Vec<Value> {
    object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(object: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

fn fields(object: &Value, manager: &str, operation: &str) -> Value {
    entry(object, manager, operation)
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

/// A stored object as kubectl client-side apply leaves it: one `Update` entry by
/// `kubectl-client-side-apply`.
fn csa_created(data: Value) -> Value {
    let mut object = cm(data);
    record_update(
        None,
        &mut object,
        &writer("kubectl-client-side-apply", T1),
        &Types,
    );
    object
}

// ---- FieldsV1 encoding ----

#[test]
fn fields_v1_encodes_fields_keys_values_and_item_ownership() {
    let config = json!({
        "metadata": {"name": "x", "labels": {"app": "web"}, "finalizers": ["example.dev/keep"]},
        "data": {"a": "1"},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]}
    });
    let mut set = walk::applied_field_set(&config, &Types).unwrap();
    strip_untracked(&mut set);
    assert_eq!(
        encode_fields_v1(&set),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"example.dev/keep\"": {}}},
            "f:data": {"f:a": {}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}}}}
        })
    );
}

#[test]
fn fields_v1_round_trips_and_canonicalises_keys() {
    let encoded = json!({
        "f:data": {".": {}, "f:a": {}},
        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:ports": {
            "k:{\"protocol\":\"TCP\",\"containerPort\":80}": {".": {}, "f:containerPort": {}}}}}},
        "f:metadata": {"f:finalizers": {"v:\"a\"": {}}}
    });
    let set = decode_fields_v1(&encoded);
    // data, data.a, the web item, the port item, its containerPort, the finalizer.
    assert_eq!(set.len(), 6);
    let again = encode_fields_v1(&set);
    // The key object comes back with its fields sorted, everything else identical.
    let port_key = "k:{\"containerPort\":80,\"protocol\":\"TCP\"}";
    assert!(
        again["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["f:ports"][port_key].is_object()
    );
    assert_eq!(decode_fields_v1(&again), set);
}

#[test]
fn fields_v1_decoding_skips_malformed_parts() {
    let encoded = json!({
        "f:ok": {},
        "k:{not json": {},
        "x:unknown": {},
        "f:scalar": 3,
        "f:nested": {"f:deep": {}, "v:[1,": {}},
        ".": {}
    });
    let set = decode_fields_v1(&encoded);
    let expected: FieldSet = [
        vec![PathElement::Field("ok".into())],
        vec![
            PathElement::Field("nested".into()),
            PathElement::Field("deep".into()),
        ],
    ]
    .into_iter()
    .collect();
    assert_eq!(set, expected);
    assert!(decode_fields_v1(&json!("garbage")).is_empty());
    assert!(decode_fields_v1(&json!({"k:{}": {}, "i:x": {}})).is_empty());
}

#[test]
fn paths_display_in_kubectl_notation() {
    let path = vec![
        PathElement::Field("spec".into()),
        PathElement::Field("containers".into()),
        PathElement::Key("{\"name\":\"web\"}".into()),
        PathElement::Field("image".into()),
    ];
    assert_eq!(display_path(&path), ".spec.containers[name=\"web\"].image");
    let set_item = vec![
        PathElement::Field("metadata".into()),
        PathElement::Field("finalizers".into()),
        PathElement::Value("\"x\"".into()),
    ];
    assert_eq!(display_path(&set_item), ".metadata.finalizers[=\"x\"]");
}

// ---- Apply: create, no-op, change ----

#[test]
fn apply_creates_object_with_apply_entry() {
    let config = cm(json!({"a": "1"}));
    let result = apply(None, &config, "gitops-rs", T1, false);
    assert_eq!(result["data"], json!({"a": "1"}));
    assert_eq!(result["metadata"]["name"], "demo");
    assert_eq!(
        entries_of(&result),
        vec![
            json!({"manager": "gitops-rs", "operation": "Apply", "apiVersion": "v1",
                    "time": T1, "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}})
        ]
    );
}

#[test]
fn apply_never_tracks_identity_and_server_owned_metadata() {
    let mut config = cm(json!({"a": "1"}));
    config["metadata"]["uid"] = json!("u-1");
    config["metadata"]["resourceVersion"] = json!("7");
    config["metadata"]["generation"] = json!(3);
    config["metadata"]["creationTimestamp"] = json!(T1);
    config["metadata"]["selfLink"] = json!("/x");
    config["metadata"]["labels"] = json!({"app": "web"});
    let result = apply(None, &config, "m", T1, false);
    assert_eq!(
        fields(&result, "m", "Apply"),
        json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}})
    );
    // Server-owned fields in the body are not written either.
    assert!(result["metadata"].get("uid").is_none());
    assert!(result["metadata"].get("resourceVersion").is_none());
}

#[test]
fn reapplying_the_same_config_is_a_byte_equal_noop() {
    let config = cm(json!({"a": "1", "b": "2"}));
    let created = apply(None, &config, "m", T1, false);
    let again = apply(Some(&created), &config, "m", T2, false);
    assert_eq!(again, created);
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&created).unwrap()
    );
}

#[test]
fn noop_apply_keeps_foreign_encoding_of_stored_entries() {
    // Stored entries written by a real server may carry "." where we would not; untouched entries stay.
    let mut live = cm(json!({"a": "1", "b": "x"}));
    live["metadata"]["managedFields"] = json!([
        {"manager": "m", "operation": "Apply", "apiVersion": "v1", "time": T1,
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}},
        {"manager": "other", "operation": "Update", "apiVersion": "v1", "time": T1,
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}, "f:b": {}}}}
    ]);
    let again = apply(Some(&live), &cm(json!({"a": "1"})), "m", T2, false);
    assert_eq!(again, live);
}

#[test]
fn changing_apply_updates_value_and_time() {
    let created = apply(None, &cm(json!({"a": "1"})), "m", T1, false);
    let changed = apply(Some(&created), &cm(json!({"a": "2"})), "m", T2, false);
    assert_eq!(changed["data"]["a"], "2");
    assert_eq!(entry(&changed, "m", "Apply").unwrap()["time"], T2);
}

#[test]
fn null_members_of_the_config_are_neither_owned_nor_written() {
    let result = apply(None, &cm(json!({"a": "1", "b": null})), "m", T1, false);
    assert_eq!(result["data"], json!({"a": "1"}));
    assert_eq!(
        fields(&result, "m", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
}

// ---- Conflicts, force, shared ownership ----

#[test]
fn client_side_apply_then_server_side_apply_conflicts() {
    let live = csa_created(json!({"a": "1"}));
    let err = server_side_apply(
        Some(&live),
        &cm(json!({"a": "2"})),
        &writer("kubectl", T2),
        false,
        &Types,
    )
    .unwrap_err();
    let ApplyError::Conflicts(conflicts) = err else {
        panic!("expected conflicts, got {err:?}");
    };
    assert_eq!(
        conflicts,
        vec![Conflict {
            manager: "kubectl-client-side-apply".into(),
            operation: "Update".into(),
            api_version: "v1".into(),
            subresource: None,
            field: ".data.a".into(),
        }]
    );
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.a"
    );
    assert_eq!(
        conflicts[0].cause_message(),
        "conflict with \"kubectl-client-side-apply\" using v1"
    );
}

#[test]
fn forced_apply_moves_ownership() {
    let live = csa_created(json!({"a": "1", "b": "1"}));
    let result = apply(Some(&live), &cm(json!({"a": "2"})), "kubectl", T2, true);
    assert_eq!(result["data"], json!({"a": "2", "b": "1"}));
    assert_eq!(
        fields(&result, "kubectl", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
    assert_eq!(
        fields(&result, "kubectl-client-side-apply", "Update"),
        json!({"f:data": {".": {}, "f:b": {}}})
    );
}

#[test]
fn forced_apply_drops_an_entry_left_empty() {
    let live = csa_created(json!({"a": "1"}));
    let mut stolen = apply(Some(&live), &cm(json!({"a": "2"})), "kubectl", T2, true);
    // The CSA entry still owns the `data` map node, so it survives with just ".".
    assert_eq!(
        fields(&stolen, "kubectl-client-side-apply", "Update"),
        json!({"f:data": {}})
    );
    // Once the map node is gone too (another update removes data), the entry is dropped.
    let before = stolen.clone();
    stolen.as_object_mut().unwrap().remove("data");
    record_update(Some(&before), &mut stolen, &writer("editor", T3), &Types);
    assert!(entry(&stolen, "kubectl-client-side-apply", "Update").is_none());
    assert!(entry(&stolen, "kubectl", "Apply").is_none());
}

#[test]
fn failed_apply_changes_nothing() {
    let live = csa_created(json!({"a": "1"}));
    let copy = live.clone();
    let result = server_side_apply(
        Some(&live),
        &cm(json!({"a": "2", "new": "x"})),
        &writer("kubectl", T2),
        false,
        &Types,
    );
    assert!(matches!(result, Err(ApplyError::Conflicts(ref c)) if c.len() == 1));
    assert_eq!(live, copy);
}

#[test]
fn equal_value_from_second_manager_is_shared_not_a_conflict() {
    let first = apply(None, &cm(json!({"a": "1"})), "one", T1, false);
    let second = apply(Some(&first), &cm(json!({"a": "1"})), "two", T2, false);
    assert_eq!(
        fields(&second, "one", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
    assert_eq!(
        fields(&second, "two", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
    // Now the shared field cannot be changed by either without force.
    let err = server_side_apply(
        Some(&second),
        &cm(json!({"a": "2"})),
        &writer("one", T3),
        false,
        &Types,
    )
    .unwrap_err();
    assert_eq!(
        conflict_message(match &err {
            ApplyError::Conflicts(c) => c,
            other => panic!("{other:?}"),
        }),
        "Apply failed with 1 conflict: conflict with \"two\": .data.a"
    );
}

#[test]
fn several_conflicts_are_grouped_by_owner() {
    let live = json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"},
                      "spec": {"a": 1, "b": 1, "c": 1}});
    let owned = apply(Some(&live), &live, "mgr", T1, false);
    let mut config = owned.clone();
    config["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    config["spec"] = json!({"a": 2, "b": 2});
    let err =
        server_side_apply(Some(&owned), &config, &writer("other", T2), false, &Types).unwrap_err();
    let ApplyError::Conflicts(conflicts) = err else {
        panic!("expected conflicts");
    };
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 2 conflicts: conflicts with \"mgr\":\n- .spec.a\n- .spec.b"
    );
}

#[test]
fn conflict_message_names_subresource_before_api_version() {
    let conflict = |manager: &str, operation: &str, field: &str| Conflict {
        manager: manager.into(),
        operation: operation.into(),
        api_version: "apps/v1".into(),
        subresource: Some("status".into()),
        field: field.into(),
    };
    let conflicts = vec![
        conflict("z", "Apply", ".status.b"),
        conflict("ctl", "Update", ".status.a"),
        conflict("z", "Apply", ".status.c"),
    ];
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 3 conflicts: conflicts with \"ctl\" with subresource \"status\" using apps/v1:\n- .status.a\nconflicts with \"z\" with subresource \"status\":\n- .status.b\n- .status.c"
    );
}

// ---- Removal of fields a manager stops applying ----

#[test]
fn dropping_a_field_removes_it() {
    let created = apply(None, &cm(json!({"a": "1", "b": "2"})), "m", T1, false);
    let result = apply(Some(&created), &cm(json!({"a": "1"})), "m", T2, false);
    assert_eq!(result["data"], json!({"a": "1"}));
    assert_eq!(
        fields(&result, "m", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
}

#[test]
fn dropping_a_field_another_manager_owns_keeps_it() {
    let first = apply(None, &cm(json!({"a": "1", "b": "2"})), "one", T1, false);
    let shared = apply(Some(&first), &cm(json!({"b": "2"})), "two", T2, false);
    let result = apply(Some(&shared), &cm(json!({"a": "1"})), "one", T3, false);
    assert_eq!(result["data"], json!({"a": "1", "b": "2"}));
    assert_eq!(
        fields(&result, "two", "Apply"),
        json!({"f:data": {"f:b": {}}})
    );
}

#[test]
fn dropping_the_last_field_prunes_empty_maps() {
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "demo", "labels": {"app": "web"}}, "data": {"a": "1"}});
    let created = apply(None, &config, "m", T1, false);
    let result = apply(Some(&created), &cm(json!({"a": "1"})), "m", T2, false);
    assert!(result["metadata"].get("labels").is_none());
    assert_eq!(result["metadata"]["name"], "demo");
    let emptied = apply(Some(&result), &cm(json!(null)), "m", T3, false);
    assert!(emptied.get("data").is_none());
    assert!(entry(&emptied, "m", "Apply").is_none());
}

#[test]
fn dropping_a_field_keeps_maps_owned_by_an_updater() {
    let live = csa_created(json!({"a": "1"}));
    let taken = apply(Some(&live), &cm(json!({"a": "1"})), "m", T2, false);
    let dropped = apply(Some(&taken), &cm(json!(null)), "m", T3, false);
    // `data` is gone from m's config, but the CSA entry still owns data.a (shared): nothing is removed.
    assert_eq!(dropped["data"], json!({"a": "1"}));
}

// ---- Lists ----

fn pod(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": containers}})
}

#[test]
fn associative_list_items_merge_by_key() {
    let first = apply(
        None,
        &pod(json!([{"name": "web", "image": "nginx:1"}])),
        "one",
        T1,
        false,
    );
    let second = apply(
        Some(&first),
        &pod(json!([{"name": "side", "image": "envoy"}, {"name": "web", "env": [{"name": "X"}]}])),
        "two",
        T2,
        false,
    );
    assert_eq!(
        second["spec"]["containers"],
        json!([{"name": "side", "image": "envoy"},
               {"name": "web", "image": "nginx:1", "env": [{"name": "X"}]}])
    );
    let web = "k:{\"name\":\"web\"}";
    assert_eq!(
        fields(&second, "two", "Apply")["f:spec"]["f:containers"][web],
        json!({".": {}, "f:name": {}, "f:env": {}})
    );
}

#[test]
fn keyed_items_follow_applied_order_and_reapply_does_not_reorder() {
    let first = apply(
        None,
        &pod(json!([{"name": "a"}, {"name": "b"}])),
        "one",
        T1,
        false,
    );
    let second = apply(Some(&first), &pod(json!([{"name": "c"}])), "two", T2, false);
    let names = |v: &Value| -> Vec<String> {
        v["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&second), ["a", "b", "c"]);
    // Both managers re-applying their configs leaves everything untouched (no flapping).
    let again = apply(
        Some(&second),
        &pod(json!([{"name": "a"}, {"name": "b"}])),
        "one",
        T3,
        false,
    );
    assert_eq!(again, second);
    assert_eq!(
        apply(
            Some(&second),
            &pod(json!([{"name": "c"}])),
            "two",
            T3,
            false
        ),
        second
    );
    // A reordered config reorders its own items.
    let reordered = apply(
        Some(&second),
        &pod(json!([{"name": "b"}, {"name": "a"}])),
        "one",
        T3,
        false,
    );
    assert_eq!(names(&reordered), ["b", "a", "c"]);
}

#[test]
fn atomic_lists_are_replaced_and_owned_as_a_leaf() {
    let config = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"},
                        "spec": {"args": ["a", "b"]}});
    let created = apply(None, &config, "m", T1, false);
    assert_eq!(
        fields(&created, "m", "Apply"),
        json!({"f:spec": {"f:args": {}}})
    );
    let mut changed_config = config.clone();
    changed_config["spec"]["args"] = json!(["c"]);
    let changed = apply(Some(&created), &changed_config, "m", T2, false);
    assert_eq!(changed["spec"]["args"], json!(["c"]));
}

#[test]
fn set_lists_union_by_ownership() {
    let fin = |items: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "demo", "finalizers": items}})
    };
    let first = apply(None, &fin(json!(["a"])), "one", T1, false);
    let second = apply(Some(&first), &fin(json!(["b"])), "two", T2, false);
    assert_eq!(second["metadata"]["finalizers"], json!(["a", "b"]));
    assert_eq!(
        fields(&second, "two", "Apply"),
        json!({"f:metadata": {"f:finalizers": {"v:\"b\"": {}}}})
    );
    let dropped = apply(Some(&second), &fin(json!([])), "one", T3, false);
    assert_eq!(dropped["metadata"]["finalizers"], json!(["b"]));
}

#[test]
fn dropping_a_keyed_item_removes_it_unless_someone_owns_part_of_it() {
    let first = apply(
        None,
        &pod(json!([{"name": "web", "image": "nginx"}, {"name": "side", "image": "envoy"}])),
        "one",
        T1,
        false,
    );
    // Another manager owns a field inside "side".
    let shared = apply(
        Some(&first),
        &pod(json!([{"name": "side", "image": "envoy"}])),
        "two",
        T2,
        false,
    );
    let result = apply(Some(&shared), &pod(json!([])), "one", T3, false);
    assert_eq!(
        result["spec"]["containers"],
        json!([{"name": "side", "image": "envoy"}])
    );
}

#[test]
fn owner_references_merge_by_uid() {
    let refs = |items: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "demo", "ownerReferences": items}})
    };
    let first = apply(
        None,
        &refs(json!([{"uid": "u1", "name": "a", "kind": "K", "apiVersion": "v1"}])),
        "one",
        T1,
        false,
    );
    let second = apply(
        Some(&first),
        &refs(json!([{"uid": "u2", "name": "b", "kind": "K", "apiVersion": "v1"}])),
        "two",
        T2,
        false,
    );
    assert_eq!(
        second["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        fields(&second, "two", "Apply")["f:metadata"]["f:ownerReferences"]["k:{\"uid\":\"u2\"}"]
            ["."]
            .is_object()
    );
}

// ---- Malformed input ----

#[test]
fn duplicate_keys_in_associative_list_are_invalid() {
    let err = server_side_apply(
        None,
        &pod(json!([{"name": "web"}, {"name": "web"}])),
        &writer("m", T1),
        false,
        &Types,
    )
    .unwrap_err();
    assert!(
        matches!(&err, ApplyError::Invalid(m) if m.contains("duplicate entries")),
        "{err:?}"
    );
    let dup_set = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "d", "finalizers": ["a", "a"]}});
    assert!(matches!(
        server_side_apply(None, &dup_set, &writer("m", T1), false, &Types),
        Err(ApplyError::Invalid(_))
    ));
}

#[test]
fn malformed_configs_are_invalid_not_panics() {
    let bad = [
        json!("a string"),
        json!([1, 2]),
        json!(null),
        json!({"metadata": "x"}),
        json!({"metadata": {"labels": ["a"]}}),
        pod(json!(["not-an-object"])),
        pod(json!([{"image": "no-key"}])),
        pod(json!({"name": "web"})),
        pod(json!("web")),
        json!({"metadata": {"finalizers": "a"}}),
    ];
    for config in bad {
        let result = server_side_apply(None, &config, &writer("m", T1), false, &Types);
        assert!(
            matches!(result, Err(ApplyError::Invalid(_))),
            "{config}: {result:?}"
        );
    }
}

fn nested(depth: usize, array: bool) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = if array {
            json!([value])
        } else {
            json!({ "a": value })
        };
    }
    value
}

#[test]
fn absurd_nesting_is_invalid() {
    for array in [false, true] {
        let config = json!({"metadata": {"name": "x"}, "spec": nested(600, array)});
        let result = server_side_apply(None, &config, &writer("m", T1), false, &Types);
        assert!(matches!(result, Err(ApplyError::Invalid(ref m)) if m.contains("nesting")));
    }
    // Just under the limit is fine.
    let ok = json!({"spec": nested(500, false)});
    assert!(server_side_apply(None, &ok, &writer("m", T1), false, &Types).is_ok());
}

#[test]
fn malformed_stored_managed_fields_are_tolerated() {
    let damaged = [
        json!("not a list"),
        json!([1, "x", null, {"operation": "Bogus"}]),
        json!([{"manager": "old", "operation": "Update", "fieldsV1": "garbage"}]),
        json!([{"manager": 7, "operation": "Apply", "fieldsV1": {"f:data": {"k:{bad": {}}}}]),
    ];
    for managed in damaged {
        let mut live = cm(json!({"a": "1"}));
        live["metadata"]["managedFields"] = managed.clone();
        let result = apply(Some(&live), &cm(json!({"a": "2"})), "m", T2, false);
        assert_eq!(result["data"]["a"], "2", "{managed}");
        assert_eq!(
            fields(&result, "m", "Apply"),
            json!({"f:data": {"f:a": {}}}),
            "{managed}"
        );
        let mut updated = cm(json!({"a": "3"}));
        record_update(Some(&live), &mut updated, &writer("u", T3), &Types);
        assert_eq!(
            fields(&updated, "u", "Update"),
            json!({"f:data": {"f:a": {}}}),
            "{managed}"
        );
    }
}

#[test]
fn non_object_live_and_deep_objects_do_not_panic() {
    let result = server_side_apply(
        Some(&json!([1])),
        &cm(json!({"a": "1"})),
        &writer("m", T1),
        false,
        &Types,
    );
    assert!(result.is_ok());
    let mut deep = json!({"metadata": {"name": "x"}, "spec": nested(700, false)});
    record_update(None, &mut deep, &writer("u", T1), &Types);
    assert_eq!(deep["metadata"]["managedFields"][0]["manager"], "u");
    let mut not_object = json!(3);
    record_update(None, &mut not_object, &writer("u", T1), &Types);
    assert_eq!(not_object, json!(3));
}

// ---- Status subresource ----

#[test]
fn status_writes_carry_the_subresource_and_conflict_only_among_themselves() {
    let status_writer = |manager: &'static str, now: &'static str| Writer {
        manager,
        api_version: "example.dev/v1",
        subresource: Some("status"),
        now,
    };
    let live = json!({"apiVersion": "example.dev/v1", "kind": "W", "metadata": {"name": "w"},
                      "spec": {"x": 1}, "status": {"phase": "A"}});
    // The creator (main resource, Update) owns status.phase too.
    let mut created = live.clone();
    record_update(None, &mut created, &writer("creator", T1), &Types);
    let status_config = json!({"apiVersion": "example.dev/v1", "kind": "W",
                               "metadata": {"name": "w"}, "status": {"phase": "B"}});
    let applied = server_side_apply(
        Some(&created),
        &status_config,
        &status_writer("ctrl", T2),
        false,
        &Types,
    )
    .unwrap();
    assert_eq!(applied["status"]["phase"], "B");
    let ctrl = entry(&applied, "ctrl", "Apply").unwrap();
    assert_eq!(ctrl["subresource"], "status");
    // A second status manager does conflict with the first.
    let err = server_side_apply(
        Some(&applied),
        &json!({"status": {"phase": "C"}}),
        &status_writer("other", T3),
        false,
        &Types,
    )
    .unwrap_err();
    let ApplyError::Conflicts(conflicts) = err else {
        panic!("expected conflicts");
    };
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"ctrl\" with subresource \"status\": .status.phase"
    );
}

// ---- Non-apply writes ----

#[test]
fn create_records_update_entry_with_map_nodes() {
    let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "demo", "namespace": "default", "uid": "u", "resourceVersion": "1",
                     "creationTimestamp": T1, "labels": {"app": "web"}},
        "data": {"a": "1"}});
    record_update(None, &mut object, &writer("kubectl-create", T1), &Types);
    assert_eq!(
        entries_of(&object),
        vec![
            json!({"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
                    "time": T1, "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {".": {}, "f:a": {}},
                                 "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}})
        ]
    );
}

#[test]
fn update_takes_fields_from_an_apply_owner() {
    let applied = apply(None, &cm(json!({"a": "1", "b": "1"})), "m", T1, false);
    let mut edited = applied.clone();
    edited["data"]["a"] = json!("edited");
    record_update(
        Some(&applied),
        &mut edited,
        &writer("kubectl-edit", T2),
        &Types,
    );
    assert_eq!(
        fields(&edited, "m", "Apply"),
        json!({"f:data": {"f:b": {}}})
    );
    assert_eq!(
        fields(&edited, "kubectl-edit", "Update"),
        json!({"f:data": {"f:a": {}}})
    );
    // The apply owner can take it back only with force.
    assert!(matches!(
        server_side_apply(
            Some(&edited),
            &cm(json!({"a": "1", "b": "1"})),
            &writer("m", T3),
            false,
            &Types
        ),
        Err(ApplyError::Conflicts(_))
    ));
}

#[test]
fn removed_fields_leave_every_set() {
    let applied = apply(None, &cm(json!({"a": "1"})), "m", T1, false);
    let mut edited = applied.clone();
    edited["data"] = json!({"z": "1"});
    record_update(Some(&applied), &mut edited, &writer("ed", T2), &Types);
    assert!(entry(&edited, "m", "Apply").is_none());
    assert_eq!(
        fields(&edited, "ed", "Update"),
        json!({"f:data": {"f:z": {}}})
    );
}

#[test]
fn update_entries_are_reused_per_manager_and_api_version() {
    let mut v1 = cm(json!({"a": "1"}));
    record_update(None, &mut v1, &writer("ed", T1), &Types);
    let mut v2 = v1.clone();
    v2["data"]["b"] = json!("2");
    record_update(Some(&v1), &mut v2, &writer("ed", T2), &Types);
    assert_eq!(entries_of(&v2).len(), 1);
    assert_eq!(entry(&v2, "ed", "Update").unwrap()["time"], T2);
    assert_eq!(
        fields(&v2, "ed", "Update"),
        json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}})
    );
    let mut v3 = v2.clone();
    v3["data"]["c"] = json!("3");
    let other_version = Writer {
        api_version: "v2",
        ..writer("ed", T3)
    };
    record_update(Some(&v2), &mut v3, &other_version, &Types);
    assert_eq!(entries_of(&v3).len(), 2);
}

#[test]
fn unchanged_update_keeps_stored_managed_fields_verbatim() {
    let created = csa_created(json!({"a": "1"}));
    let mut put = created.clone();
    put["metadata"]["resourceVersion"] = json!("99");
    put["metadata"]["managedFields"] = json!([{"manager": "forged", "operation": "Apply"}]);
    record_update(Some(&created), &mut put, &writer("other", T3), &Types);
    assert_eq!(
        put["metadata"]["managedFields"],
        created["metadata"]["managedFields"]
    );
}

#[test]
fn update_entries_are_capped_into_ancient_changes() {
    let mut object = cm(json!({}));
    record_update(
        None,
        &mut object,
        &writer("m0", "2026-01-01T00:00:00Z"),
        &Types,
    );
    for i in 1..=12 {
        let before = object.clone();
        object["data"][format!("k{i}")] = json!("v");
        let manager = format!("m{i}");
        let now = format!("2026-01-01T00:00:{i:02}Z");
        record_update(Some(&before), &mut object, &writer(&manager, &now), &Types);
    }
    let list = entries_of(&object);
    assert_eq!(list.len(), 10);
    let ancient = entry(&object, "ancient-changes", "Update").unwrap();
    // m0 (owning the data map) and m1..m3 were merged.
    assert_eq!(
        ancient["fieldsV1"]["f:data"],
        json!({".": {}, "f:k1": {}, "f:k2": {}, "f:k3": {}})
    );
    assert!(entry(&object, "m12", "Update").is_some());
    assert!(entry(&object, "m3", "Update").is_none());
}

#[test]
fn entries_are_sorted_apply_first_then_by_time() {
    let live = csa_created(json!({"a": "1"}));
    let result = apply(Some(&live), &cm(json!({"b": "1"})), "z-applier", T2, false);
    let managers: Vec<&str> = result["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["z-applier", "kubectl-client-side-apply"]);
}

#[test]
fn type_change_in_update_drops_sub_field_ownership() {
    let applied = apply(
        None,
        &json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"},
                "spec": {"s": {"a": 1, "b": 2}}}),
        "m",
        T1,
        false,
    );
    let mut edited = applied.clone();
    edited["spec"]["s"] = json!("flat");
    record_update(Some(&applied), &mut edited, &writer("ed", T2), &Types);
    assert!(entry(&edited, "m", "Apply").is_none());
    assert_eq!(
        fields(&edited, "ed", "Update"),
        json!({"f:spec": {"f:s": {}}})
    );
}

#[test]
fn keyed_item_update_records_item_node() {
    let mut created = pod(json!([{"name": "web", "image": "a"}]));
    record_update(None, &mut created, &writer("c", T1), &Types);
    let mut edited = created.clone();
    edited["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "side", "image": "b"}));
    record_update(Some(&created), &mut edited, &writer("e", T2), &Types);
    assert_eq!(
        fields(&edited, "e", "Update"),
        json!({"f:spec": {"f:containers": {"k:{\"name\":\"side\"}":
            {".": {}, "f:name": {}, "f:image": {}}}}})
    );
}

#[test]
fn finalizers_added_and_removed_by_updates() {
    let mut created = cm(json!({"a": "1"}));
    record_update(None, &mut created, &writer("c", T1), &Types);
    let mut with_finalizer = created.clone();
    with_finalizer["metadata"]["finalizers"] = json!(["example.dev/keep"]);
    record_update(
        Some(&created),
        &mut with_finalizer,
        &writer("ctrl", T2),
        &Types,
    );
    assert_eq!(
        fields(&with_finalizer, "ctrl", "Update"),
        json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"example.dev/keep\"": {}}}})
    );
    let mut released = with_finalizer.clone();
    released["metadata"]["finalizers"] = json!([]);
    record_update(
        Some(&with_finalizer),
        &mut released,
        &writer("ctrl", T3),
        &Types,
    );
    assert_eq!(
        fields(&released, "ctrl", "Update"),
        json!({"f:metadata": {"f:finalizers": {}}})
    );
}

#[test]
fn forced_reapply_with_a_co_owner_is_still_a_noop() {
    let live = csa_created(json!({"a": "1"}));
    let shared = apply(Some(&live), &cm(json!({"a": "1"})), "flux", T2, true);
    assert_eq!(
        fields(&shared, "kubectl-client-side-apply", "Update"),
        fields(&live, "kubectl-client-side-apply", "Update")
    );
    assert_eq!(
        apply(Some(&shared), &cm(json!({"a": "1"})), "flux", T3, true),
        shared
    );
}

#[test]
fn update_steals_from_another_updater() {
    let created = csa_created(json!({"a": "1", "b": "1"}));
    let mut edited = created.clone();
    edited["data"]["b"] = json!("2");
    record_update(
        Some(&created),
        &mut edited,
        &writer("kubectl-edit", T2),
        &Types,
    );
    assert_eq!(
        fields(&edited, "kubectl-client-side-apply", "Update"),
        json!({"f:data": {".": {}, "f:a": {}}})
    );
    assert_eq!(
        entry(&edited, "kubectl-client-side-apply", "Update").unwrap()["time"],
        T1
    );
    assert_eq!(
        fields(&edited, "kubectl-edit", "Update"),
        json!({"f:data": {"f:b": {}}})
    );
}

#[test]
fn unidentifiable_live_items_are_replaced_as_a_whole() {
    // A stored list whose items lack the key field cannot be merged by key: the apply replaces it.
    let live = pod(json!([{"image": "orphan"}, "junk"]));
    let result = apply(Some(&live), &pod(json!([{"name": "web"}])), "m", T1, false);
    assert_eq!(result["spec"]["containers"], json!([{"name": "web"}]));
    let mut edited = live.clone();
    edited["spec"]["containers"] = json!([{"image": "other"}]);
    record_update(Some(&live), &mut edited, &writer("u", T2), &Types);
    assert_eq!(
        fields(&edited, "u", "Update"),
        json!({"f:spec": {"f:containers": {}}})
    );
}

#[test]
fn applying_a_new_item_inserts_it_before_the_next_known_item() {
    let first = apply(
        None,
        &pod(json!([{"name": "a"}, {"name": "b"}])),
        "one",
        T1,
        false,
    );
    let second = apply(Some(&first), &pod(json!([{"name": "z"}])), "two", T2, false);
    let third = apply(
        Some(&second),
        &pod(json!([{"name": "a"}, {"name": "n"}, {"name": "b"}])),
        "one",
        T3,
        false,
    );
    assert_eq!(
        third["spec"]["containers"],
        json!([{"name": "a"}, {"name": "n"}, {"name": "b"}, {"name": "z"}])
    );
}

// ---- managedFields sent on non-apply writes ----

#[test]
fn update_with_explicit_managed_fields_replaces_the_stored_ones() {
    // kubectl's csaupgrade: move the client-side-apply fields to the `kubectl` Apply entry.
    let live = csa_created(json!({"a": "1"}));
    let csa_fields = fields(&live, "kubectl-client-side-apply", "Update");
    let mut new = live.clone();
    new["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply",
        "apiVersion": "v1", "time": T1, "fieldsType": "FieldsV1", "fieldsV1": csa_fields}]);
    record_update(Some(&live), &mut new, &writer("kubectl", T2), &Types);
    assert_eq!(fields(&new, "kubectl", "Apply"), csa_fields);
    assert!(entry(&new, "kubectl-client-side-apply", "Update").is_none());
    // The upgraded owner can now change the field without a conflict.
    let applied = apply(Some(&new), &cm(json!({"a": "2"})), "kubectl", T3, false);
    assert_eq!(applied["data"]["a"], "2");

    // Changing data in the same write: the writer's Update entry takes the changed field.
    let mut both = new.clone();
    both["data"]["b"] = json!("x");
    both["metadata"]["managedFields"] = json!([{"manager": "other", "operation": "Update",
        "apiVersion": "v1", "time": T1, "fieldsType": "FieldsV1", "fieldsV1": csa_fields}]);
    record_update(Some(&new), &mut both, &writer("editor", T2), &Types);
    assert!(entry(&both, "kubectl", "Apply").is_none());
    assert_eq!(fields(&both, "other", "Update"), csa_fields);
    assert_eq!(
        fields(&both, "editor", "Update"),
        json!({"f:data": {"f:b": {}}})
    );
}

#[test]
fn status_or_malformed_managed_fields_are_ignored_and_empty_ones_reset() {
    let live = csa_created(json!({"a": "1"}));
    let stored = live["metadata"]["managedFields"].clone();
    let mut malformed = live.clone();
    malformed["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Update"}]);
    record_update(Some(&live), &mut malformed, &writer("kubectl", T2), &Types);
    assert_eq!(malformed["metadata"]["managedFields"], stored);

    let mut status = live.clone();
    status["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Update",
        "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]);
    let status_writer = Writer {
        subresource: Some("status"),
        ..writer("kubectl", T2)
    };
    record_update(Some(&live), &mut status, &status_writer, &Types);
    assert_eq!(status["metadata"]["managedFields"], stored);

    for empty in [json!([]), json!([{}])] {
        let mut reset = live.clone();
        reset["metadata"]["managedFields"] = empty;
        reset["data"]["b"] = json!("2");
        record_update(Some(&live), &mut reset, &writer("kubectl", T2), &Types);
        assert!(reset["metadata"].get("managedFields").is_none(), "{reset}");
    }
}

#[test]
fn kubectl_apply_takes_over_unchanged_client_side_applied_fields() {
    let last = |data: Value| {
        let mut applied = cm(data);
        applied["metadata"]["annotations"] = json!({});
        serde_json::to_string(&applied).unwrap_or_default()
    };
    let mut live = cm(json!({"a": "1", "c": "x"}));
    live["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": last(json!({"a": "1", "c": "y"}))});
    record_update(
        None,
        &mut live,
        &writer("kubectl-client-side-apply", T1),
        &Types,
    );
    // `a` still has its last-applied value: kubectl takes it over; another manager conflicts.
    let taken = apply(Some(&live), &cm(json!({"a": "2"})), "kubectl", T2, false);
    assert_eq!(taken["data"]["a"], "2");
    assert_eq!(
        fields(&taken, "kubectl", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
    // The client-side-apply record now holds the server-side applied configuration.
    let recorded: Value = serde_json::from_str(
        taken["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(recorded["data"], json!({"a": "2"}));
    assert!(matches!(
        server_side_apply(
            Some(&live),
            &cm(json!({"a": "2"})),
            &writer("other", T2),
            false,
            &Types
        ),
        Err(ApplyError::Conflicts(_))
    ));
    // `c` was changed since the last client-side apply: still a conflict for kubectl.
    match server_side_apply(
        Some(&live),
        &cm(json!({"c": "z"})),
        &writer("kubectl", T2),
        false,
        &Types,
    ) {
        Err(ApplyError::Conflicts(c)) => assert_eq!(c.len(), 1, "{c:?}"),
        other => panic!("expected a conflict on .data.c, got {other:?}"),
    }
}
