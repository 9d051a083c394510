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
