//! Bucket sources against a real S3 server (`moto_server`, installed by `.ci/run`; skipped with a
//! printed reason when absent) with IAM authentication on: the bundled controller lists and
//! downloads under `prefix`, honours the bucket's `.sourceignore`, computes the index revision,
//! stores the artifact a Kustomization applies; an object change gives a new revision; wrong keys,
//! a missing Secret and an unreachable endpoint fail with Flux's reasons and keep the last artifact.

use crate::common;

use common::{PATIENCE, in_process, quiet_options, wait_until};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::controllers::source::bucket::index_revision;
use flotilla::controllers::source::bucket::s3::{self, Keys};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NS: &str = "flux-system";

/// A moto S3 server with IAM authentication enforced after the setup calls; killed on drop.
struct Moto {
    child: Child,
    port: u16,
    access_key: String,
    secret_key: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn xml_tag(body: &str, tag: &str) -> String {
    body.split_once(&format!("<{tag}>"))
        .and_then(|(_, r)| r.split_once(&format!("</{tag}>")))
        .map(|(v, _)| v.to_string())
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
}

/// Starts moto and creates an IAM user allowed s3:* with an access key (the only calls moto lets
/// through unauthenticated: `INITIAL_NO_AUTH_ACTION_COUNT=3`). `None` when moto is not installed.
async fn start_moto() -> Option<Moto> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipping: moto_server is not available ({e}); .ci/run installs it");
            return None;
        }
    };
    let mut moto = Moto {
        child,
        port,
        access_key: String::new(),
        secret_key: String::new(),
    };
    wait_until("moto_server listening", PATIENCE, || async {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    })
    .await;
    let http = reqwest::Client::new();
    // moto routes by the credential scope of the Authorization header; unsigned during setup.
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDSETUP/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00";
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let mut answer = String::new();
    for form in [
        vec![("Action", "CreateUser"), ("UserName", "flux")],
        vec![
            ("Action", "PutUserPolicy"),
            ("UserName", "flux"),
            ("PolicyName", "s3"),
            ("PolicyDocument", policy),
        ],
        vec![("Action", "CreateAccessKey"), ("UserName", "flux")],
    ] {
        let mut form = form;
        form.push(("Version", "2010-05-08"));
        let resp = http
            .post(format!("http://127.0.0.1:{port}/"))
            .header("Authorization", auth)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(
                reqwest::Url::parse_with_params("http://form.invalid/", &form)
                    .expect("form")
                    .query()
                    .unwrap_or("")
                    .to_string(),
            )
            .send()
            .await
            .expect("IAM call");
        assert!(
            resp.status().is_success(),
            "IAM {form:?}: {}",
            resp.status()
        );
        answer = resp.text().await.expect("IAM body");
    }
    moto.access_key = xml_tag(&answer, "AccessKeyId");
    moto.secret_key = xml_tag(&answer, "SecretAccessKey");
    Some(moto)
}

impl Moto {
    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn keys(&self) -> Keys {
        Keys {
            access: self.access_key.clone(),
            secret: self.secret_key.clone(),
        }
    }
    /// A request signed with SigV4 in the Authorization header, as S3 clients send it.
    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let hash = format!("{:x}", sha2::Sha256::digest(body.as_bytes()));
        let endpoint = self.endpoint();
        let target = s3::Request {
            method,
            host: &endpoint,
            path,
            query,
            payload_sha256: &hash,
        };
        let headers = s3::sign(&target, "us-east-1", &self.keys(), jiff::Timestamp::now());
        let qs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", s3::uri_encode(k, false), s3::uri_encode(v, false)))
            .collect();
        let url = format!("http://{}{path}?{}", self.endpoint(), qs.join("&"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = reqwest::Client::new()
            .request(method, url)
            .header("Content-Length", body.len().to_string())
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.expect("S3 request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }
    async fn create_bucket(&self, name: &str) {
        let (status, body) = self.send("PUT", &format!("/{name}/"), &[], "").await;
        assert!(
            (200..300).contains(&status),
            "create bucket: {status} {body}"
        );
    }
    async fn put(&self, bucket: &str, key: &str, body: &str) {
        let path = format!("/{bucket}/{}", s3::uri_encode(key, true));
        let (status, text) = self.send("PUT", &path, &[], body).await;
        assert!((200..300).contains(&status), "put {key}: {status} {text}");
    }
    /// key → etag of every object, as the server lists them.
    async fn etags(&self, bucket: &str) -> BTreeMap<String, String> {
        let (status, body) = self
            .send("GET", &format!("/{bucket}/"), &[("list-type", "2")], "")
            .await;
        assert_eq!(status, 200, "{body}");
        s3::parse_list(&body)
            .expect("listing")
            .0
            .into_iter()
            .map(|o| (o.key, o.etag))
            .collect()
    }
}

fn api(c: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(c.clone(), NS, &ar)
}
fn bucket_api(c: &kube::Client) -> Api<DynamicObject> {
    api(c, "source.toolkit.fluxcd.io", "Bucket", "buckets")
}
fn ks_api(c: &kube::Client) -> Api<DynamicObject> {
    api(
        c,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    )
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .map(|o| serde_json::to_value(o).expect("json"))
}

fn ready(obj: &Value) -> Option<(String, String, String)> {
    let c = obj
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
        c["message"].as_str().unwrap_or("").to_string(),
    ))
}

async fn wait_for(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(&format!("{name}: {what}"), PATIENCE * 2, || async {
        let o = get(api, name).await?;
        pred(&o).then_some(o)
    })
    .await
}

fn reason_is(o: &Value, status: &str, reason: &str) -> bool {
    ready(o).is_some_and(|(s, r, _)| s == status && r == reason)
}

fn revision(o: &Value) -> String {
    o.pointer("/status/artifact/revision")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The prefix has no `/`: moto's IAM check re-signs query values decoded, so a `%2F` in a signed
/// query never verifies there (boto3's own requests fail the same way); real S3 accepts it.
fn bucket_obj(name: &str, endpoint: &str, secret: Option<&str>) -> Value {
    let mut spec = json!({
        "interval": "1h", "provider": "generic", "bucketName": "manifests",
        "endpoint": endpoint, "insecure": true, "prefix": "apps", "timeout": "5s",
    });
    if let Some(s) = secret {
        spec["secretRef"] = json!({"name": s});
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

async fn poke(client: &kube::Client, name: &str, token: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    bucket_api(client)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("poke");
}

async fn keys_secret(client: &kube::Client, access: &str, secret: &str) {
    let s: Secret = serde_json::from_value(json!({
        "metadata": {"name": "s3-keys", "namespace": NS},
        "stringData": {"accesskey": access, "secretkey": secret},
    }))
    .unwrap();
    let api = Api::<Secret>::namespaced(client.clone(), NS);
    let params = PatchParams::apply("bucket-test").force();
    api.patch("s3-keys", &params, &Patch::Apply(&s))
        .await
        .expect("secret");
}

fn config_map_yaml(message: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-bucket\n  namespace: flux-system\ndata:\n  message: {message}\n"
    )
}

#[tokio::test]
async fn buckets_fetch_ignore_and_apply_and_fail_with_flux_reasons() {
    let Some(moto) = start_moto().await else {
        return;
    };
    moto.create_bucket("manifests").await;
    moto.put("manifests", "apps/config.yaml", &config_map_yaml("one"))
        .await;
    moto.put("manifests", "apps/README.md", "not a manifest\n")
        .await;
    moto.put("manifests", "other/elsewhere.yaml", "kind: Nothing\n")
        .await;
    moto.put("manifests", ".sourceignore", "*.md\n").await;

    let (_cluster, client) = in_process(quiet_options());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    keys_secret(&client, &moto.access_key, &moto.secret_key).await;
    create(
        &bucket_api(&client),
        bucket_obj("apps", &moto.endpoint(), Some("s3-keys")),
    )
    .await;
    create(
        &ks_api(&client),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "from-bucket", "namespace": NS},
               "spec": {"interval": "1h", "path": "./apps", "prune": true,
                        "sourceRef": {"kind": "Bucket", "name": "apps"}}}),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: data.path().to_path_buf(),
        shutdown_grace: Duration::from_secs(10),
        ..ControllerOptions::default()
    };
    let controller = Controller::start(vec![("test".to_string(), client.clone())], &opts);

    let b = wait_for(&bucket_api(&client), "apps", "Ready", |o| {
        reason_is(o, "True", "Succeeded")
    })
    .await;
    // The revision is the index of the kept keys only: under the prefix, not ignored.
    let etags = moto.etags("manifests").await;
    let kept: BTreeMap<String, String> = etags
        .iter()
        .filter(|(k, _)| k.as_str() == "apps/config.yaml")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(kept.len(), 1, "{etags:?}");
    assert_eq!(revision(&b), index_revision(&kept));
    let store =
        flotilla::controllers::source::SourceStorage::new(data.path(), "test").artifact_store();
    let path = b["status"]["artifact"]["path"].as_str().unwrap();
    let bytes = std::fs::read(store.path_of(path).unwrap()).expect("archive");
    let mut files: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]))
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.header().entry_type().is_file())
        .map(|e| e.path().unwrap().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(files, ["apps/config.yaml"]);

    // A Kustomization from the Bucket applies.
    wait_for(&ks_api(&client), "from-bucket", "applied", |o| {
        reason_is(o, "True", "ReconciliationSucceeded")
            && o["status"]["lastAppliedRevision"] == revision(&b).as_str()
    })
    .await;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), NS);
    let cm = cms.get("from-bucket").await.expect("cm");
    assert_eq!(cm.data.unwrap()["message"], "one");

    // An object change → a new revision → applied.
    moto.put("manifests", "apps/config.yaml", &config_map_yaml("two"))
        .await;
    poke(&client, "apps", "1").await;
    let b2 = wait_for(&bucket_api(&client), "apps", "new revision", |o| {
        reason_is(o, "True", "Succeeded") && revision(o) != revision(&b)
    })
    .await;
    wait_until(
        "ConfigMap updated from the bucket",
        PATIENCE * 2,
        || async {
            let cm = cms.get("from-bucket").await.ok()?;
            (cm.data?.get("message")? == "two").then_some(())
        },
    )
    .await;

    // Wrong keys: BucketOperationFailed naming authentication; the artifact stays.
    keys_secret(&client, &moto.access_key, "not-the-secret").await;
    poke(&client, "apps", "2").await;
    let bad = wait_for(&bucket_api(&client), "apps", "auth failure", |o| {
        reason_is(o, "False", "BucketOperationFailed")
    })
    .await;
    let msg = ready(&bad).unwrap().2;
    assert!(msg.contains("authentication failed"), "{msg}");
    assert!(!msg.contains("not-the-secret"), "a secret leaked: {msg}");
    assert_eq!(revision(&bad), revision(&b2), "the last artifact stays");

    // A missing Secret: AuthenticationFailed.
    create(
        &bucket_api(&client),
        bucket_obj("nokeys", &moto.endpoint(), Some("absent")),
    )
    .await;
    let o = wait_for(
        &bucket_api(&client),
        "nokeys",
        "AuthenticationFailed",
        |o| reason_is(o, "False", "AuthenticationFailed"),
    )
    .await;
    assert!(ready(&o).unwrap().2.contains("absent"), "{o:#}");

    // An unreachable endpoint: BucketOperationFailed.
    let closed = free_port();
    create(
        &bucket_api(&client),
        bucket_obj("down", &format!("127.0.0.1:{closed}"), Some("s3-keys")),
    )
    .await;
    let o = wait_for(&bucket_api(&client), "down", "unreachable", |o| {
        reason_is(o, "False", "BucketOperationFailed")
    })
    .await;
    assert!(ready(&o).unwrap().2.contains("manifests"), "{o:#}");
    controller.shutdown().await;
}
