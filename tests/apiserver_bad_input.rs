//! Bad input gets the right `Status` error (kube-wire.md §A14), never a 5xx. The random-input run
//! lives in apiserver_fuzz.rs.

use crate::common;

use common::{RawResponse, TcpServer, raw, raw_router};
use flotilla::apiserver::Cluster;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn cluster() -> Cluster {
    Cluster::new(common::quiet_options()).expect("cluster")
}

async fn send(
    cluster: &Cluster,
    method: &str,
    path: &str,
    ct: Option<&str>,
    body: &[u8],
) -> RawResponse {
    let mut headers = vec![("accept", "application/json")];
    if let Some(ct) = ct {
        headers.push(("content-type", ct));
    }
    raw_router(&cluster.router(), method, path, &headers, body.to_vec()).await
}

/// Asserts an error response: the HTTP status, and a `Status` body with the same `code` and `reason`.
fn assert_status(resp: &RawResponse, code: u16, reason: &str) -> Value {
    let body = resp.json();
    assert_eq!(resp.status, code, "HTTP status; body: {}", resp.text());
    assert_eq!(
        body["kind"],
        "Status",
        "error body must be a Status: {}",
        resp.text()
    );
    assert_eq!(body["apiVersion"], "v1", "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(
        body["code"], code,
        "Status.code must equal the HTTP status: {body}"
    );
    assert_eq!(body["reason"], reason, "{body}");
    assert!(
        resp.content_type.starts_with("application/json"),
        "content type {}",
        resp.content_type
    );
    body
}

fn cm_body(name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"}, "data": {"a": "1"}}))
    .unwrap()
}

#[tokio::test]
async fn malformed_json_bodies_are_400() {
    let c = cluster();
    let ct = Some("application/json");
    for body in [
        &b"{\"apiVersion\": \"v1\", \"kind\":"[..],
        b"not json",
        b"",
        b"[1,2",
        b"{\"metadata\": 5",
    ] {
        let r = send(&c, "POST", CMS, ct, body).await;
        assert_status(&r, 400, "BadRequest");
    }
    send(&c, "POST", CMS, ct, &cm_body("ok")).await;
    let r = send(&c, "PUT", &format!("{CMS}/ok"), ct, b"{\"kind\": ").await;
    assert_status(&r, 400, "BadRequest");
    for patch_ct in [
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
    ] {
        let r = send(
            &c,
            "PATCH",
            &format!("{CMS}/ok"),
            Some(patch_ct),
            b"{\"data\": {",
        )
        .await;
        assert_status(&r, 400, "BadRequest");
    }
    // A JSON patch that is valid JSON but not a list of operations.
    let r = send(
        &c,
        "PATCH",
        &format!("{CMS}/ok"),
        Some("application/json-patch+json"),
        b"{\"op\": \"add\"}",
    )
    .await;
    assert!(
        r.status == 400 || r.status == 422,
        "got {} {}",
        r.status,
        r.text()
    );
    // The object is untouched.
    let got = send(&c, "GET", &format!("{CMS}/ok"), None, b"").await;
    assert_eq!(got.json()["data"]["a"], "1");
}

#[tokio::test]
async fn malformed_yaml_apply_body_is_400() {
    let c = cluster();
    let ct = Some("application/apply-patch+yaml");
    let path = format!("{CMS}/y?fieldManager=test");
    for body in [
        &b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y\n"[..],
        b"metadata:\n  name: y\n bad-indent: [",
        b"- just\n- a list\n",
        b"\"a scalar\"",
        b"{\"apiVersion\": \"v1\", ",
    ] {
        let r = send(&c, "PATCH", &path, ct, body).await;
        assert_status(&r, 400, "BadRequest");
    }
    let missing = send(&c, "GET", &format!("{CMS}/y"), None, b"").await;
    assert_eq!(missing.status, 404, "nothing was created");
}

#[tokio::test]
async fn unknown_resources_are_404() {
    let c = cluster();
    for (method, path) in [
        ("GET", "/api/v1/namespaces/default/foos"),
        ("GET", "/api/v1/foos"),
        ("GET", "/apis/nope.example.dev/v1/things"),
        ("GET", "/apis/apps/v1/namespaces/default/gizmos/x"),
        ("GET", "/apis/kustomize.toolkit.fluxcd.io/v9/kustomizations"),
        ("POST", "/api/v1/namespaces/default/foos"),
        (
            "DELETE",
            "/apis/nope.example.dev/v1/namespaces/default/things/x",
        ),
    ] {
        let body: &[u8] = if method == "POST" { b"{}" } else { b"" };
        let r = send(&c, method, path, Some("application/json"), body).await;
        assert_status(&r, 404, "NotFound");
    }
    let r = send(&c, "GET", &format!("{CMS}/nothing-here"), None, b"").await;
    let body = assert_status(&r, 404, "NotFound");
    assert_eq!(body["message"], "configmaps \"nothing-here\" not found");
    assert_eq!(body["details"]["name"], "nothing-here");
    assert_eq!(body["details"]["kind"], "configmaps");
    let no_ns = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let r = send(
        &c,
        "POST",
        "/api/v1/namespaces/nope/configmaps",
        Some("application/json"),
        no_ns.to_string().as_bytes(),
    )
    .await;
    let body = assert_status(&r, 404, "NotFound");
    assert_eq!(body["message"], "namespaces \"nope\" not found");
}

#[tokio::test]
async fn protobuf_and_other_media_types_are_415() {
    let c = cluster();
    for ct in ["application/vnd.kubernetes.protobuf", "application/cbor"] {
        let r = send(&c, "POST", CMS, Some(ct), b"\x0a\x02v1").await;
        assert_status(&r, 415, "UnsupportedMediaType");
    }
    send(&c, "POST", CMS, Some("application/json"), &cm_body("m")).await;
    let r = send(
        &c,
        "PATCH",
        &format!("{CMS}/m"),
        Some("application/vnd.kubernetes.protobuf"),
        b"\x0a",
    )
    .await;
    assert_status(&r, 415, "UnsupportedMediaType");
    // Strategic merge patch is for built-in kinds only.
    let ks = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/default/kustomizations";
    let obj = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "k"}, "spec": {"path": "./"}});
    let r = send(
        &c,
        "POST",
        ks,
        Some("application/json"),
        obj.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        &c,
        "PATCH",
        &format!("{ks}/k"),
        Some("application/strategic-merge-patch+json"),
        b"{\"spec\":{}}",
    )
    .await;
    assert_status(&r, 415, "UnsupportedMediaType");
}

#[tokio::test]
async fn body_over_three_mib_is_413() {
    let c = cluster();
    let big = "x".repeat(3 * 1024 * 1024 + 1024);
    let body = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "big"}, "data": {"blob": big}}))
    .unwrap();
    let r = send(&c, "POST", CMS, Some("application/json"), &body).await;
    assert_eq!(
        r.status,
        413,
        "{}",
        String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
    );
    let r = send(
        &c,
        "PATCH",
        &format!("{CMS}/big?fieldManager=t"),
        Some("application/apply-patch+yaml"),
        &body,
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        send(&c, "GET", &format!("{CMS}/big"), None, b"")
            .await
            .status,
        404
    );
    // Just under the limit is fine.
    let ok = "y".repeat(1024 * 1024);
    let body = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "onemib"}, "data": {"blob": ok}}))
    .unwrap();
    assert_eq!(
        send(&c, "POST", CMS, Some("application/json"), &body)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn invalid_names_are_422() {
    let c = cluster();
    let r = send(
        &c,
        "POST",
        CMS,
        Some("application/json"),
        &cm_body("Bad_Name"),
    )
    .await;
    let body = assert_status(&r, 422, "Invalid");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{msg}"
    );
    assert_eq!(
        body["details"]["kind"], "ConfigMap",
        "details.kind is the Kind: {body}"
    );
    assert_eq!(body["details"]["name"], "Bad_Name");
    let causes = body["details"]["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        causes
            .iter()
            .any(|c| c["field"] == "metadata.name" && c["reason"] == "FieldValueInvalid"),
        "{body}"
    );
    for bad in ["-leading", "trailing-", &"a".repeat(254), "UPPER", "sp ace"] {
        let r = send(&c, "POST", CMS, Some("application/json"), &cm_body(bad)).await;
        assert_status(&r, 422, "Invalid");
    }
    // Namespaces are DNS-1123 labels: no dots, at most 63 characters.
    for bad in ["with.dot", &"n".repeat(64)] {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": bad}});
        let r = send(
            &c,
            "POST",
            "/api/v1/namespaces",
            Some("application/json"),
            ns.to_string().as_bytes(),
        )
        .await;
        assert_status(&r, 422, "Invalid");
    }
    // Valid subdomain names with dots are fine for other kinds.
    assert_eq!(
        send(
            &c,
            "POST",
            CMS,
            Some("application/json"),
            &cm_body("a.b-c.d")
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn wrong_resource_version_on_update_is_409() {
    let c = cluster();
    let created = send(&c, "POST", CMS, Some("application/json"), &cm_body("rv")).await;
    assert_eq!(created.status, 201);
    let mut obj = created.json();
    let rv = common::rv_of(&obj);
    obj["data"]["a"] = json!("2");
    let ok = send(
        &c,
        "PUT",
        &format!("{CMS}/rv"),
        Some("application/json"),
        obj.to_string().as_bytes(),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    // The same (now stale) resourceVersion again.
    obj["data"]["a"] = json!("3");
    let r = send(
        &c,
        "PUT",
        &format!("{CMS}/rv"),
        Some("application/json"),
        obj.to_string().as_bytes(),
    )
    .await;
    let body = assert_status(&r, 409, "Conflict");
    assert_eq!(
        body["message"],
        "Operation cannot be fulfilled on configmaps \"rv\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // A resourceVersion inside a patch body is a precondition too.
    let p = json!({"metadata": {"resourceVersion": rv.to_string()}, "data": {"a": "4"}});
    let r = send(
        &c,
        "PATCH",
        &format!("{CMS}/rv"),
        Some("application/merge-patch+json"),
        p.to_string().as_bytes(),
    )
    .await;
    assert_status(&r, 409, "Conflict");
    // A delete precondition on a wrong resourceVersion.
    let d = json!({"preconditions": {"resourceVersion": rv.to_string()}});
    let r = send(
        &c,
        "DELETE",
        &format!("{CMS}/rv"),
        Some("application/json"),
        d.to_string().as_bytes(),
    )
    .await;
    assert_status(&r, 409, "Conflict");
    let now = send(&c, "GET", &format!("{CMS}/rv"), None, b"")
        .await
        .json();
    assert_eq!(now["data"]["a"], "2");
}

#[tokio::test]
async fn other_write_errors_follow_the_status_table() {
    let c = cluster();
    assert_eq!(
        send(&c, "POST", CMS, Some("application/json"), &cm_body("dup"))
            .await
            .status,
        201
    );
    let r = send(&c, "POST", CMS, Some("application/json"), &cm_body("dup")).await;
    let body = assert_status(&r, 409, "AlreadyExists");
    assert_eq!(body["message"], "configmaps \"dup\" already exists");
    // Namespace in the body must match the URL.
    let wrong_ns = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w", "namespace": "kube-system"}});
    let r = send(
        &c,
        "POST",
        CMS,
        Some("application/json"),
        wrong_ns.to_string().as_bytes(),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    // Apply needs a field manager; force only on apply.
    let r = send(
        &c,
        "PATCH",
        &format!("{CMS}/dup"),
        Some("application/apply-patch+yaml"),
        &cm_body("dup"),
    )
    .await;
    let body = assert_status(&r, 422, "Invalid");
    assert_eq!(body["details"]["kind"], "PatchOptions", "{body}");
    let r = send(
        &c,
        "PATCH",
        &format!("{CMS}/dup?force=true"),
        Some("application/merge-patch+json"),
        b"{}",
    )
    .await;
    assert_status(&r, 422, "Invalid");
    // Non-apply patches do not create.
    let r = send(
        &c,
        "PATCH",
        &format!("{CMS}/absent"),
        Some("application/merge-patch+json"),
        b"{\"data\":{}}",
    )
    .await;
    assert_status(&r, 404, "NotFound");
    // Unsupported field selector.
    let r = send(
        &c,
        "GET",
        &format!("{CMS}?fieldSelector=spec.x%3Dy"),
        None,
        b"",
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    // Broken label selector.
    let r = send(
        &c,
        "GET",
        &format!("{CMS}?labelSelector=a%20in%20(b"),
        None,
        b"",
    )
    .await;
    assert_status(&r, 400, "BadRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_token_is_401_over_tcp() {
    let server = TcpServer::start(common::quiet_options()).await;
    let url = server.server.clusters()[0].url();
    let anonymous = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let r = raw(&anonymous, "GET", "/api/v1/namespaces", None, vec![]).await;
    assert_status(&r, 401, "Unauthorized");
    let mut cfg = kube::Config::new(url.parse().unwrap());
    cfg.auth_info.token = Some("not-the-token".to_string().into());
    let wrong = kube::Client::try_from(cfg).unwrap();
    let r = raw(&wrong, "GET", "/api/v1/namespaces", None, vec![]).await;
    assert_status(&r, 401, "Unauthorized");
    let r = raw(
        &wrong,
        "POST",
        "/flotilla/admin/faults",
        Some("application/json"),
        b"{\"closeWatches\":true}".to_vec(),
    )
    .await;
    assert_eq!(r.status, 401, "the admin endpoint needs the token too");
    let good = server.client().await;
    let r = raw(&good, "GET", "/api/v1/namespaces", None, vec![]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The in-process router has no authentication.
    let r = raw_router(
        &server.cluster().router(),
        "GET",
        "/api/v1/namespaces",
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    // The authenticated router built by hand behaves like the TCP one.
    let r = raw_router(
        &server.cluster().http_router("sesame"),
        "GET",
        "/api/v1/namespaces",
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = raw_router(
        &server.cluster().http_router("sesame"),
        "GET",
        "/api/v1/namespaces",
        &[("authorization", "Bearer sesame")],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn deeply_nested_bodies_are_rejected_without_crashing() {
    let c = cluster();
    send(&c, "POST", CMS, Some("application/json"), &cm_body("deep")).await;
    let depth = 100_000;
    let json_deep = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"deep\"}},\"data\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let yaml_flow = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let mut yaml_block =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n");
    for i in 0..5_000 {
        yaml_block.push_str(&" ".repeat(2 * (i + 1)));
        yaml_block.push_str("a:\n");
    }
    let json_patch_deep = format!(
        "[{{\"op\":\"add\",\"path\":\"/data/x\",\"value\":{}{}}}]",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let cases: Vec<(&str, String, &str, Vec<u8>)> = vec![
        (
            "POST",
            CMS.to_string(),
            "application/json",
            json_deep.clone().into_bytes(),
        ),
        (
            "PUT",
            format!("{CMS}/deep"),
            "application/json",
            json_deep.clone().into_bytes(),
        ),
        (
            "PATCH",
            format!("{CMS}/deep"),
            "application/merge-patch+json",
            json_deep.clone().into_bytes(),
        ),
        (
            "PATCH",
            format!("{CMS}/deep"),
            "application/strategic-merge-patch+json",
            json_deep.into_bytes(),
        ),
        (
            "PATCH",
            format!("{CMS}/deep"),
            "application/json-patch+json",
            json_patch_deep.into_bytes(),
        ),
        (
            "PATCH",
            format!("{CMS}/deep?fieldManager=t"),
            "application/apply-patch+yaml",
            yaml_flow.into_bytes(),
        ),
        (
            "PATCH",
            format!("{CMS}/deep?fieldManager=t"),
            "application/apply-patch+yaml",
            yaml_block.into_bytes(),
        ),
    ];
    for (method, path, ct, body) in cases {
        let r = send(&c, method, &path, Some(ct), &body).await;
        assert!(
            (400..500).contains(&r.status),
            "{method} {path} ({ct}) with a deeply nested body: {} {}",
            r.status,
            r.text()
        );
    }
    let r = send(&c, "GET", &format!("{CMS}/deep"), None, b"").await;
    assert_eq!(r.json()["data"]["a"], "1", "object untouched");
}

#[tokio::test]
async fn custom_resource_write_rules() {
    let c = cluster();
    let ks = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/default/kustomizations";
    let obj = |name: &str| {
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name}, "spec": {"path": "./"}})
    };
    // Missing namespace.
    let r = send(
        &c,
        "POST",
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/ghost/kustomizations",
        Some("application/json"),
        obj("a").to_string().as_bytes(),
    )
    .await;
    let body = assert_status(&r, 404, "NotFound");
    assert_eq!(body["message"], "namespaces \"ghost\" not found");
    // Wrong kind for the URL.
    let mut wrong = obj("b");
    wrong["kind"] = json!("HelmRelease");
    let r = send(
        &c,
        "POST",
        ks,
        Some("application/json"),
        wrong.to_string().as_bytes(),
    )
    .await;
    assert!(
        r.status == 400 || r.status == 422,
        "{} {}",
        r.status,
        r.text()
    );
    let r = send(
        &c,
        "POST",
        ks,
        Some("application/json"),
        obj("k").to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201);
    // PUT without resourceVersion: allowed for built-ins, 422 for custom resources.
    let r = send(
        &c,
        "PUT",
        &format!("{ks}/k"),
        Some("application/json"),
        obj("k").to_string().as_bytes(),
    )
    .await;
    let body = assert_status(&r, 422, "Invalid");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("metadata.resourceVersion"),
        "{body}"
    );
    let r = send(
        &c,
        "POST",
        CMS,
        Some("application/json"),
        &cm_body("unconditional"),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = send(
        &c,
        "PUT",
        &format!("{CMS}/unconditional"),
        Some("application/json"),
        &cm_body("unconditional"),
    )
    .await;
    assert_eq!(
        r.status,
        200,
        "built-ins allow an unconditional update: {}",
        r.text()
    );
    // Name in the body must match the URL.
    let r = send(
        &c,
        "PUT",
        &format!("{ks}/k"),
        Some("application/json"),
        obj("other").to_string().as_bytes(),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    // Apply body must match the URL's kind and name.
    let r = send(
        &c,
        "PATCH",
        &format!("{ks}/k?fieldManager=t"),
        Some("application/apply-patch+yaml"),
        obj("other").to_string().as_bytes(),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    // managedFields in an apply body is refused.
    let mut with_mf = obj("k");
    with_mf["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Apply"}]);
    let r = send(
        &c,
        "PATCH",
        &format!("{ks}/k?fieldManager=t"),
        Some("application/apply-patch+yaml"),
        with_mf.to_string().as_bytes(),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrongly_typed_fields_are_rejected_so_typed_clients_keep_working() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use kube::api::{Api, ListParams};
    let c = cluster();
    let cm = |name: &str, metadata_extra: Value, data: Value| {
        let mut meta = json!({"name": name});
        if let (Some(m), Some(extra)) = (meta.as_object_mut(), metadata_extra.as_object()) {
            m.extend(extra.clone());
        }
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    };
    let deploy = |name: &str, replicas: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    };
    let deps = "/apis/apps/v1/namespaces/default/deployments";
    let ks = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/default/kustomizations";
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "ConfigMap data value is a number",
            CMS,
            cm("t1", json!({}), json!({"k": 5})),
        ),
        (
            "labels is a list",
            CMS,
            cm("t2", json!({"labels": ["a"]}), json!({})),
        ),
        (
            "label value is a number",
            CMS,
            cm("t3", json!({"labels": {"a": 1}}), json!({})),
        ),
        (
            "annotations is a string",
            CMS,
            cm("t4", json!({"annotations": "x"}), json!({})),
        ),
        (
            "finalizers is a map",
            CMS,
            cm("t5", json!({"finalizers": {"a": "b"}}), json!({})),
        ),
        (
            "finalizers holds a number",
            CMS,
            cm("t6", json!({"finalizers": [1]}), json!({})),
        ),
        (
            "generateName is a bool",
            CMS,
            cm("t7", json!({"generateName": false}), json!({})),
        ),
        (
            "ownerReferences is a map",
            CMS,
            cm("t8", json!({"ownerReferences": {"uid": "x"}}), json!({})),
        ),
        ("replicas is a string", deps, deploy("d1", json!("three"))),
        (
            "replicas overflows int32",
            deps,
            deploy("d2", json!(99_999_999_999_i64)),
        ),
        (
            "CR finalizers is a map",
            ks,
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "k1", "finalizers": {"$patch": "x"}}, "spec": {}}),
        ),
        (
            "CR labels is a number",
            ks,
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "k2", "labels": 7}, "spec": {}}),
        ),
        (
            "Namespace spec.finalizers is a string",
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n1"}, "spec": {"finalizers": "kubernetes"}}),
        ),
    ];
    let mut accepted = Vec::new();
    for (why, path, body) in &cases {
        let r = send(
            &c,
            "POST",
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
        .await;
        assert!(r.status < 500, "{why}: {} {}", r.status, r.text());
        if r.status < 300 {
            accepted.push(format!("{why}: stored as {}", r.text()));
        }
    }
    // Patches can smuggle wrong types in too.
    send(&c, "POST", CMS, Some("application/json"), &cm_body("good")).await;
    for (why, ct, patch) in [
        (
            "merge patch sets data value to a list",
            "application/merge-patch+json",
            json!({"data": {"k": [1]}}),
        ),
        (
            "merge patch sets finalizers to a string",
            "application/merge-patch+json",
            json!({"metadata": {"finalizers": "x"}}),
        ),
        (
            "JSON patch sets labels to a number",
            "application/json-patch+json",
            json!([{"op": "add", "path": "/metadata/labels", "value": 3}]),
        ),
    ] {
        let r = send(
            &c,
            "PATCH",
            &format!("{CMS}/good"),
            Some(ct),
            patch.to_string().as_bytes(),
        )
        .await;
        assert!(r.status < 500, "{why}: {} {}", r.status, r.text());
        if r.status < 300 {
            accepted.push(format!("{why}: stored as {}", r.text()));
        }
    }
    let client = kube::Client::new(c.router(), "default");
    let typed = [
        Api::<ConfigMap>::all(client.clone())
            .list(&ListParams::default())
            .await
            .err()
            .map(|e| format!("ConfigMap list: {e}")),
        Api::<Deployment>::all(client.clone())
            .list(&ListParams::default())
            .await
            .err()
            .map(|e| format!("Deployment list: {e}")),
        Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await
            .err()
            .map(|e| format!("Namespace list: {e}")),
        Api::<kube::api::DynamicObject>::all_with(
            client,
            &kube::api::ApiResource::from_gvk_with_plural(
                &kube::api::GroupVersionKind::gvk(
                    "kustomize.toolkit.fluxcd.io",
                    "v1",
                    "Kustomization",
                ),
                "kustomizations",
            ),
        )
        .list(&ListParams::default())
        .await
        .err()
        .map(|e| format!("Kustomization list: {e}")),
    ];
    let broken: Vec<String> = typed.into_iter().flatten().collect();
    assert!(
        accepted.is_empty() && broken.is_empty(),
        "wrongly typed fields were accepted:\n{}\ntyped lists now failing:\n{}",
        accepted.join("\n"),
        broken.join("\n")
    );
}
