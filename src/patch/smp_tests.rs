//! Strategic merge patch tests. The kustomize-flavour expectations were produced by `kubectl kustomize`
//! (kustomize v5.5.0) on the same base and patch, and are hard-coded here.

use super::{PatchError, SmpFlavor, TypeMeta, strategic_merge_as};
use serde_json::{Value, json};

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad test JSON: {e}"))
}

fn kustomize(base: &str, patch: &str, want: &str) {
    let base = parse(base);
    let api_version = base["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = base["kind"].as_str().unwrap_or_default().to_string();
    let type_meta = TypeMeta {
        api_version: &api_version,
        kind: &kind,
    };
    let got = strategic_merge_as(&base, &parse(patch), type_meta, SmpFlavor::Kustomize);
    assert_eq!(got, Ok(parse(want)), "patch {patch}");
}

const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","finalizers":["a","b"]},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"app:1","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"volumeMounts":[{"name":"data","mountPath":"/data"}]},{"name":"side","image":"side:1","args":["x","y"]}],"volumes":[{"name":"data","emptyDir":{}},{"name":"cfg","configMap":{"name":"cfg"}}],"tolerations":[{"key":"k1","operator":"Exists"}]}}}}"#;

const WIDGET: &str = r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","finalizers":["a","b"]},"spec":{"items":[{"name":"a","v":1},{"name":"b","v":2}],"deep":{"x":{"y":1,"z":2},"keep":1}}}"#;

const SERVICE: &str = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"selector":{"app":"x","tier":"web"},"ports":[{"port":80,"protocol":"TCP","targetPort":8080},{"port":443,"protocol":"TCP"}]}}"#;

#[test]
fn kustomize_patched_container_and_new_sidecar_come_first() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"side","image":"side:2"},{"name":"new","image":"new:1"}]}}},"metadata":{"name":"web"}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["a","b"],"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["x","y"],"image":"side:2","name":"side"},{"image":"new:1","name":"new"},{"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"app:1","name":"app","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"volumeMounts":[{"mountPath":"/data","name":"data"}]}],"tolerations":[{"key":"k1","operator":"Exists"}],"volumes":[{"emptyDir":{},"name":"data"},{"configMap":{"name":"cfg"},"name":"cfg"}]}}}}"#,
    );
}

#[test]
fn kustomize_directives_other_than_patch_are_copied_as_plain_keys() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["c","a"],"$deleteFromPrimitiveList/finalizers":["b"],"name":"web"},"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"side"},{"name":"app"}],"containers":[{"name":"app","image":"app:2","$setElementOrder/env":[{"name":"B"},{"name":"A"}],"env":[{"name":"A","value":"9"}]}],"volumes":[{"name":"data","$retainKeys":["name","hostPath"],"hostPath":{"path":"/x"}}]}}}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"$deleteFromPrimitiveList/finalizers":["b"],"finalizers":["c","a","b"],"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"$setElementOrder/containers":[{"name":"side"},{"name":"app"}],"containers":[{"$setElementOrder/env":[{"name":"B"},{"name":"A"}],"env":[{"name":"A","value":"9"},{"name":"B","value":"2"}],"image":"app:2","name":"app","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"volumeMounts":[{"mountPath":"/data","name":"data"}]},{"args":["x","y"],"image":"side:1","name":"side"}],"tolerations":[{"key":"k1","operator":"Exists"}],"volumes":[{"$retainKeys":["name","hostPath"],"emptyDir":{},"hostPath":{"path":"/x"},"name":"data"},{"configMap":{"name":"cfg"},"name":"cfg"}]}}}}"#,
    );
}

#[test]
fn kustomize_delete_and_replace_items() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"app","$patch":"delete"},{"name":"nothere","$patch":"delete"}],"volumes":[{"name":"cfg","configMap":null},{"$patch":"replace"},{"name":"only","emptyDir":{}}]}}},"metadata":{"name":"web"}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["a","b"],"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["x","y"],"image":"side:1","name":"side"}],"tolerations":[{"key":"k1","operator":"Exists"}],"volumes":[{"name":"cfg"},{"emptyDir":{},"name":"only"}]}}}}"#,
    );
}

#[test]
fn kustomize_null_deletes_map_delete_and_loose_multi_key_items() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":null,"name":"web"},"spec":{"template":{"metadata":{"$patch":"delete"},"spec":{"containers":[{"name":"app","ports":[{"containerPort":80,"name":"http"},{"containerPort":53,"protocol":"TCP"},{"containerPort":8080}],"env":[{"name":"C","value":"c"},{"name":"A","value":null}],"$patch":"merge"}],"newlist":[{"name":"z","$patch":"delete"},{"name":"y"}]}}}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"C","value":"c"},{"name":"A"},{"name":"B","value":"2"}],"image":"app:1","name":"app","ports":[{"containerPort":53,"protocol":"TCP"},{"containerPort":8080},{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"volumeMounts":[{"mountPath":"/data","name":"data"}]},{"args":["x","y"],"image":"side:1","name":"side"}],"newlist":[{"$patch":"delete","name":"z"},{"name":"y"}],"tolerations":[{"key":"k1","operator":"Exists"}],"volumes":[{"emptyDir":{},"name":"data"},{"configMap":{"name":"cfg"},"name":"cfg"}]}}}}"#,
    );
}

#[test]
fn kustomize_exact_multi_key_items_merge_and_new_lists_drop_deletes() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"app","ports":[{"containerPort":80,"protocol":"TCP","name":"http"},{"containerPort":53,"name":"dns"}]}],"imagePullSecrets":[{"name":"z","$patch":"delete"},{"name":"y"}],"initContainers":[{"name":"i1","image":"i","env":[{"name":"Q","$patch":"delete"}]}]}}},"metadata":{"name":"web"}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["a","b"],"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"app:1","name":"app","ports":[{"containerPort":80,"name":"http","protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"volumeMounts":[{"mountPath":"/data","name":"data"}]},{"args":["x","y"],"image":"side:1","name":"side"}],"imagePullSecrets":[{"name":"y"}],"initContainers":[{"env":[],"image":"i","name":"i1"}],"tolerations":[{"key":"k1","operator":"Exists"}],"volumes":[{"emptyDir":{},"name":"data"},{"configMap":{"name":"cfg"},"name":"cfg"}]}}}}"#,
    );
}

#[test]
fn kustomize_new_multi_key_items_come_first() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"app","ports":[{"containerPort":53,"protocol":"UDP","name":"dns"},{"containerPort":9,"protocol":"UDP"}]}]}}},"metadata":{"name":"web"}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["a","b"],"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"app:1","name":"app","ports":[{"containerPort":9,"protocol":"UDP"},{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"name":"dns","protocol":"UDP"}],"volumeMounts":[{"mountPath":"/data","name":"data"}]},{"args":["x","y"],"image":"side:1","name":"side"}],"tolerations":[{"key":"k1","operator":"Exists"}],"volumes":[{"emptyDir":{},"name":"data"},{"configMap":{"name":"cfg"},"name":"cfg"}]}}}}"#,
    );
}

#[test]
fn kustomize_finalizers_union_patch_values_first() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["c","a"],"name":"web"}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["c","a","b"],"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"app:1","name":"app","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"volumeMounts":[{"mountPath":"/data","name":"data"}]},{"args":["x","y"],"image":"side:1","name":"side"}],"tolerations":[{"key":"k1","operator":"Exists"}],"volumes":[{"emptyDir":{},"name":"data"},{"configMap":{"name":"cfg"},"name":"cfg"}]}}}}"#,
    );
}

#[test]
fn kustomize_atomic_lists_are_replaced_verbatim() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"tolerations":[{"key":"b","value":null,"effect":"NoSchedule"}],"containers":[{"name":"app","image":null,"command":["x",null]}]}}},"metadata":{"name":"web"}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["a","b"],"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"command":["x",null],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"name":"app","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"volumeMounts":[{"mountPath":"/data","name":"data"}]},{"args":["x","y"],"image":"side:1","name":"side"}],"tolerations":[{"effect":"NoSchedule","key":"b","value":null}],"volumes":[{"emptyDir":{},"name":"data"},{"configMap":{"name":"cfg"},"name":"cfg"}]}}}}"#,
    );
}

#[test]
fn kustomize_map_replace_and_new_maps_with_nulls() {
    kustomize(
        DEPLOYMENT,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1","b":null},"name":"web"},"spec":{"template":{"metadata":{"$patch":"replace","annotations":{"x":"y"}},"spec":{"containers":[{"name":"side","resources":{"limits":{"cpu":null,"memory":"1Gi"}}}]}}}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"finalizers":["a","b"],"name":"web"},"spec":{"template":{"metadata":{"annotations":{"x":"y"}},"spec":{"containers":[{"args":["x","y"],"image":"side:1","name":"side","resources":{"limits":{"memory":"1Gi"}}},{"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"app:1","name":"app","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"volumeMounts":[{"mountPath":"/data","name":"data"}]}],"tolerations":[{"key":"k1","operator":"Exists"}],"volumes":[{"emptyDir":{},"name":"data"},{"configMap":{"name":"cfg"},"name":"cfg"}]}}}}"#,
    );
}

#[test]
fn kustomize_custom_resource_lists_are_atomic_and_maps_merge() {
    kustomize(
        WIDGET,
        r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"finalizers":["c"],"name":"w"},"spec":{"items":[{"name":"b","v":3}],"deep":{"x":{"y":null,"w":3}}}}"#,
        r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"finalizers":["c"],"name":"w"},"spec":{"deep":{"keep":1,"x":{"w":3,"z":2}},"items":[{"name":"b","v":3}]}}"#,
    );
}

#[test]
fn kustomize_service_ports_by_port_and_protocol_and_map_replace() {
    kustomize(
        SERVICE,
        r#"{"apiVersion":"v1","kind":"Service","spec":{"selector":{"$patch":"replace","app":"y"},"ports":[{"port":443,"name":"https"},{"port":80,"protocol":"TCP","name":"http"}]},"metadata":{"name":"svc"}}"#,
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080},{"port":443,"protocol":"TCP"}],"selector":{"app":"y"}}}"#,
    );
}

fn deployment() -> TypeMeta<'static> {
    TypeMeta {
        api_version: "apps/v1",
        kind: "Deployment",
    }
}

fn server(target: Value, patch: Value) -> Result<Value, PatchError> {
    super::strategic_merge(&target, &patch, deployment())
}

fn pod_spec(spec: Value) -> Value {
    json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":spec}}})
}

#[test]
fn server_keeps_live_order_and_appends_new_items() {
    let live = pod_spec(
        json!({"containers":[{"name":"app","image":"a:1"},{"name":"side","image":"s:1"}]}),
    );
    let patch = pod_spec(
        json!({"containers":[{"name":"side","image":"s:2"},{"name":"new","image":"n:1"}]}),
    );
    let want = pod_spec(json!({"containers":[
        {"name":"app","image":"a:1"},{"name":"side","image":"s:2"},{"name":"new","image":"n:1"}]}));
    assert_eq!(server(live, patch), Ok(want));
}

#[test]
fn server_delete_item_null_field_and_replace_list() {
    let live = pod_spec(json!({
        "containers":[{"name":"app","image":"a","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},{"name":"side"}],
        "volumes":[{"name":"v1","emptyDir":{}},{"name":"v2","emptyDir":{}}],
        "tolerations":[{"key":"k1"}]
    }));
    let patch = pod_spec(json!({
        "containers":[{"name":"side","$patch":"delete"},{"name":"app","env":[{"name":"A","value":null}],"image":null}],
        "volumes":[{"$patch":"replace"},{"name":"v3","hostPath":{"path":"/x","type":null}}],
        "tolerations":[{"key":"k2","$patch":"merge"}]
    }));
    let want = pod_spec(json!({
        "containers":[{"name":"app","env":[{"name":"A"},{"name":"B","value":"2"}]}],
        "volumes":[{"name":"v3","hostPath":{"path":"/x"}}],
        "tolerations":[{"key":"k2"}]
    }));
    assert_eq!(server(live, patch), Ok(want));
}

#[test]
fn server_container_ports_merge_by_container_port_only() {
    // kubectl computes patches against SMP's single key, so changing a port's protocol merges in place.
    let live = pod_spec(
        json!({"containers":[{"name":"app","ports":[{"containerPort":53,"protocol":"TCP"},{"containerPort":80}]}]}),
    );
    let patch = pod_spec(
        json!({"containers":[{"name":"app","ports":[{"containerPort":53,"protocol":"UDP"}]}]}),
    );
    let want = pod_spec(
        json!({"containers":[{"name":"app","ports":[{"containerPort":53,"protocol":"UDP"},{"containerPort":80}]}]}),
    );
    assert_eq!(server(live, patch), Ok(want));
}

#[test]
fn server_set_element_order_reorders_and_is_dropped() {
    let live = pod_spec(json!({"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}));
    let patch = pod_spec(json!({
        "$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}],
        "containers":[{"name":"a","image":"x"}]
    }));
    let want = pod_spec(json!({"containers":[{"name":"c"},{"name":"a","image":"x"},{"name":"b"}]}));
    assert_eq!(server(live, patch), Ok(want));
}

#[test]
fn server_finalizers_union_and_delete_from_primitive_list() {
    let live = json!({"metadata":{"name":"x","finalizers":["a","b"]}});
    let patch =
        json!({"metadata":{"finalizers":["c"],"$deleteFromPrimitiveList/finalizers":["a"]}});
    // apimachinery's mergeSortedSlice puts a new value before server values it cannot compare it with.
    assert_eq!(
        server(live.clone(), patch),
        Ok(json!({"metadata":{"name":"x","finalizers":["c","b"]}}))
    );
    let patch = json!({"metadata":{"$setElementOrder/finalizers":["b","a"]}});
    assert_eq!(
        server(live, patch),
        Ok(json!({"metadata":{"name":"x","finalizers":["b","a"]}}))
    );
}

#[test]
fn server_retain_keys_clears_unlisted_fields() {
    let live =
        pod_spec(json!({"volumes":[{"name":"v","emptyDir":{},"secret":{"secretName":"s"}}]}));
    let patch = pod_spec(
        json!({"volumes":[{"name":"v","$retainKeys":["name","hostPath"],"hostPath":{"path":"/p"}}]}),
    );
    let want = pod_spec(json!({"volumes":[{"name":"v","hostPath":{"path":"/p"}}]}));
    assert_eq!(server(live.clone(), patch), Ok(want));
    let bad =
        pod_spec(json!({"volumes":[{"name":"v","$retainKeys":["name"],"hostPath":{"path":"/p"}}]}));
    assert!(matches!(server(live, bad), Err(PatchError::Invalid(_))));
}

#[test]
fn server_map_directives() {
    let live = json!({"metadata":{"name":"x","labels":{"a":"1","b":"2"},"annotations":{"k":"v"}}});
    let patch = json!({"metadata":{"labels":{"$patch":"replace","c":"3"},"annotations":{"$patch":"delete"}}});
    let want = json!({"metadata":{"name":"x","labels":{"c":"3"},"annotations":{}}});
    assert_eq!(server(live, patch), Ok(want));
}

#[test]
fn server_directives_never_reach_new_fields() {
    let live = pod_spec(json!({}));
    let patch = pod_spec(json!({
        "initContainers":[{"name":"i","$patch":"merge","env":[{"name":"Z","$patch":"delete"},{"name":"Y","value":null}]}],
        "$setElementOrder/initContainers":[{"name":"i"}]
    }));
    let want = pod_spec(json!({"initContainers":[{"name":"i","env":[{"name":"Y"}]}]}));
    assert_eq!(server(live, patch), Ok(want));
}

#[test]
fn custom_resources_merge_maps_and_replace_lists() {
    let widget = TypeMeta {
        api_version: "example.com/v1",
        kind: "Widget",
    };
    let live = json!({"spec":{"items":[{"name":"a","v":1},{"name":"b"}],"m":{"x":1,"y":2}}});
    let patch = json!({"spec":{"items":[{"name":"a","v":2}],"m":{"y":null,"z":3}}});
    let want = json!({"spec":{"items":[{"name":"a","v":2}],"m":{"x":1,"z":3}}});
    assert_eq!(super::strategic_merge(&live, &patch, widget), Ok(want));
}

#[test]
fn top_level_delete_is_refused_and_detectable() {
    let patch = json!({"$patch":"delete","metadata":{"name":"x"}});
    assert!(super::is_delete_patch(&patch));
    assert!(!super::is_delete_patch(&json!({"$patch":"replace"})));
    assert!(!super::is_delete_patch(&json!([1])));
    for flavor in [SmpFlavor::ApiServer, SmpFlavor::Kustomize] {
        let got = strategic_merge_as(&json!({"a":1}), &patch, deployment(), flavor);
        assert!(
            matches!(got, Err(PatchError::Invalid(ref m)) if m.contains("is_delete_patch")),
            "{got:?}"
        );
    }
}

#[test]
fn malformed_patches_are_errors_in_both_flavours() {
    let live = pod_spec(json!({"containers":[{"name":"app"}],"volumes":[{"name":"v"}]}));
    let cases = [
        (json!([1, 2]), "must be an object"),
        (json!("text"), "must be an object"),
        (
            json!({"metadata":{"$patch":"frob"}}),
            "`$patch` must be replace, merge or delete",
        ),
        (
            json!({"metadata":{"$patch":7}}),
            "`$patch` must be replace, merge or delete",
        ),
        (
            pod_spec(json!({"containers":[{"image":"no-name"}]})),
            "missing merge key name",
        ),
        (
            pod_spec(json!({"containers":[{"$patch":"delete"}]})),
            "missing merge key name",
        ),
        (
            pod_spec(json!({"containers":[{"name":"app","$patch":"frob"}]})),
            "`$patch` must be replace",
        ),
        (pod_spec(json!({"containers":["app"]})), "must be objects"),
        (
            json!({"metadata":{"finalizers":[{"$patch":"delete"}]}}),
            "must be replace",
        ),
    ];
    for flavor in [SmpFlavor::ApiServer, SmpFlavor::Kustomize] {
        for (patch, fragment) in &cases {
            match strategic_merge_as(&live, patch, deployment(), flavor) {
                Err(PatchError::Invalid(message)) => {
                    assert!(message.contains(fragment), "{flavor:?} {patch}: {message}");
                }
                other => panic!("{flavor:?} {patch}: expected Invalid, got {other:?}"),
            }
        }
    }
    let server_only = [
        (
            pod_spec(json!({"volumes":[{"name":"v","$retainKeys":"name"}]})),
            "`$retainKeys` must be a list",
        ),
        (
            pod_spec(json!({"$setElementOrder/containers":{"name":"app"}})),
            "`$setElementOrder` must be a list",
        ),
        (
            pod_spec(json!({"$setElementOrder/containers":[{"image":"x"}]})),
            "missing merge key name",
        ),
        (
            json!({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}}),
            "must be a list",
        ),
    ];
    for (patch, fragment) in server_only {
        match strategic_merge_as(&live, &patch, deployment(), SmpFlavor::ApiServer) {
            Err(PatchError::Invalid(message)) => {
                assert!(message.contains(fragment), "{patch}: {message}")
            }
            other => panic!("{patch}: expected Invalid, got {other:?}"),
        }
    }
}

fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        let mut wrapper = serde_json::Map::new();
        wrapper.insert("a".to_string(), value);
        value = Value::Object(wrapper);
    }
    value
}

#[test]
fn nesting_limit_is_an_error_not_a_crash() {
    let limit = super::MAX_DEPTH;
    let live = json!({});
    // Just inside the limit: merged (also proves the recursion fits a test thread's stack).
    let deep_ok = nested(limit - 1);
    for flavor in [SmpFlavor::ApiServer, SmpFlavor::Kustomize] {
        assert_eq!(
            strategic_merge_as(&live, &deep_ok, deployment(), flavor).as_ref(),
            Ok(&deep_ok)
        );
        let too_deep = nested(limit + 10);
        let got = strategic_merge_as(&live, &too_deep, deployment(), flavor);
        assert!(
            matches!(got, Err(PatchError::Invalid(ref m)) if m.contains("nested deeper")),
            "{got:?}"
        );
        let got = strategic_merge_as(&too_deep, &json!({"b":1}), deployment(), flavor);
        assert!(
            matches!(got, Err(PatchError::Invalid(ref m)) if m.contains("target")),
            "{got:?}"
        );
    }
}

#[test]
fn list_type_table() {
    use super::{ListType, list_type};
    let deploy = deployment();
    let cronjob = TypeMeta {
        api_version: "batch/v1",
        kind: "CronJob",
    };
    let pod = TypeMeta {
        api_version: "v1",
        kind: "Pod",
    };
    let svc = TypeMeta {
        api_version: "v1",
        kind: "Service",
    };
    let role = TypeMeta {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "Role",
    };
    let cr = TypeMeta {
        api_version: "example.com/v1",
        kind: "Widget",
    };
    let pt = ["spec", "template", "spec"];
    let at = |prefix: &[&'static str], rest: &[&'static str]| -> Vec<&'static str> {
        prefix.iter().chain(rest).copied().collect()
    };
    assert_eq!(
        list_type(deploy, &at(&pt, &["containers"])),
        ListType::Map(&["name"])
    );
    assert_eq!(
        list_type(deploy, &at(&pt, &["initContainers", "env"])),
        ListType::Map(&["name"])
    );
    assert_eq!(
        list_type(deploy, &at(&pt, &["containers", "ports"])),
        ListType::Map(&["containerPort", "protocol"])
    );
    assert_eq!(
        list_type(deploy, &at(&pt, &["containers", "volumeMounts"])),
        ListType::Map(&["mountPath"])
    );
    assert_eq!(
        list_type(deploy, &at(&pt, &["containers", "volumeDevices"])),
        ListType::Map(&["devicePath"])
    );
    assert_eq!(
        list_type(deploy, &at(&pt, &["containers", "args"])),
        ListType::Atomic
    );
    assert_eq!(
        list_type(deploy, &at(&pt, &["tolerations"])),
        ListType::Atomic
    );
    assert_eq!(
        list_type(deploy, &at(&pt, &["hostAliases"])),
        ListType::Map(&["ip"])
    );
    assert_eq!(
        list_type(deploy, &["spec", "template", "metadata", "finalizers"]),
        ListType::Set
    );
    let cj = ["spec", "jobTemplate", "spec", "template", "spec"];
    assert_eq!(
        list_type(cronjob, &at(&cj, &["ephemeralContainers"])),
        ListType::Map(&["name"])
    );
    assert_eq!(
        list_type(cronjob, &at(&cj, &["imagePullSecrets"])),
        ListType::Map(&["name"])
    );
    assert_eq!(
        list_type(pod, &["spec", "volumes"]),
        ListType::Map(&["name"])
    );
    assert_eq!(
        list_type(pod, &["spec", "topologySpreadConstraints"]),
        ListType::Map(&["topologyKey", "whenUnsatisfiable"])
    );
    assert_eq!(
        list_type(pod, &["status", "conditions"]),
        ListType::Map(&["type"])
    );
    assert_eq!(list_type(pod, &pt), ListType::Atomic);
    assert_eq!(
        list_type(svc, &["spec", "ports"]),
        ListType::Map(&["port", "protocol"])
    );
    assert_eq!(list_type(role, &["rules"]), ListType::Atomic);
    assert_eq!(list_type(cr, &["metadata", "finalizers"]), ListType::Set);
    assert_eq!(
        list_type(cr, &["metadata", "ownerReferences"]),
        ListType::Map(&["uid"])
    );
    assert_eq!(list_type(cr, &["status", "conditions"]), ListType::Atomic);
    assert_eq!(
        list_type(cr, &["spec", "template", "spec", "containers"]),
        ListType::Atomic
    );
}
