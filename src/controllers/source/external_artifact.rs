//! ExternalArtifact (`source.toolkit.fluxcd.io/v1`): an artifact another controller produces
//! (here the ArtifactGenerator). Nothing reconciles it; the runtime only watches it so that a
//! Kustomization reading from it runs when its artifact changes ([`ExternalArtifactWatch`]). The
//! producer writes it with [`upsert`] and removes it with [`delete`].

use futures::future::BoxFuture;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::model::kinds::{EXTERNAL_ARTIFACT, KindInfo};
use crate::runtime::{Next, Outcome, Reconciler, dynamic_api};

/// The runtime's view of ExternalArtifacts: watched for their artifact, never run.
pub struct ExternalArtifactWatch;

impl Reconciler for ExternalArtifactWatch {
    fn kind(&self) -> &'static KindInfo {
        EXTERNAL_ARTIFACT
    }
    fn reconcile(&self, _obj: Value) -> BoxFuture<'static, Outcome> {
        Box::pin(async { Outcome::new(Next::Wait, "ExternalArtifact is written by its producer") })
    }
    fn finalize(&self, _obj: Value) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
    fn signal(&self, obj: &Value) -> Option<String> {
        let a = obj.pointer("/status/artifact")?;
        Some(format!(
            "{}|{}",
            a.get("revision").and_then(Value::as_str).unwrap_or(""),
            a.get("digest").and_then(Value::as_str).unwrap_or("")
        ))
    }
    fn watch_only(&self) -> bool {
        true
    }
}

/// The producer recorded in `spec.sourceRef`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    /// `apiVersion` of the producer.
    pub api_version: String,
    /// Its Kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its uid (owner reference), if known.
    pub uid: Option<String>,
}

fn api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    dynamic_api(client, EXTERNAL_ARTIFACT, "v1", Some(ns))
}

/// Why writing an ExternalArtifact failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The object exists and belongs to another producer.
    #[error("ExternalArtifact '{namespace}/{name}' already exists and is owned by {owner}")]
    Foreign {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Its current `spec.sourceRef` (kind/namespace/name).
        owner: String,
    },
    /// The API call failed.
    #[error("cannot write ExternalArtifact '{namespace}/{name}': {message}")]
    Api {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API error.
        message: String,
    },
}

fn source_ref_text(obj: &Value) -> Option<String> {
    let r = obj.pointer("/spec/sourceRef")?;
    let t = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or("");
    Some(format!("{}/{}/{}", t("kind"), t("namespace"), t("name")))
}

/// Creates or updates `ns/name` with `spec.sourceRef` → `producer`, then writes its status:
/// `artifact` and `Ready=True`. Refuses an object another producer owns.
pub async fn upsert(
    client: &kube::Client,
    ns: &str,
    name: &str,
    producer: &Producer,
    artifact: Value,
) -> Result<(), WriteError> {
    let api = api(client, ns);
    let api_err = |e: kube::Error| WriteError::Api {
        namespace: ns.to_string(),
        name: name.to_string(),
        message: e.to_string(),
    };
    let source_ref = json!({
        "apiVersion": producer.api_version,
        "kind": producer.kind,
        "name": producer.name,
        "namespace": producer.namespace,
    });
    let current = api.get_opt(name).await.map_err(api_err)?;
    let current = current.map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
    let generation = match &current {
        Some(obj) => {
            let want = format!("{}/{}/{}", producer.kind, producer.namespace, producer.name);
            let have = source_ref_text(obj).unwrap_or_default();
            if have != want {
                return Err(WriteError::Foreign {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    owner: have,
                });
            }
            obj.pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        }
        None => {
            let mut meta = json!({
                "name": name,
                "namespace": ns,
                "labels": {
                    "app.kubernetes.io/managed-by": "flotilla",
                    "source.extensions.fluxcd.io/generator": producer.name,
                },
            });
            if let Some(uid) = &producer.uid {
                meta["ownerReferences"] = json!([{
                    "apiVersion": producer.api_version,
                    "kind": producer.kind,
                    "name": producer.name,
                    "uid": uid,
                    "controller": true,
                    "blockOwnerDeletion": true,
                }]);
            }
            let obj = json!({
                "apiVersion": EXTERNAL_ARTIFACT.api_version(),
                "kind": "ExternalArtifact",
                "metadata": meta,
                "spec": {"sourceRef": source_ref},
            });
            let obj: DynamicObject = serde_json::from_value(obj).map_err(|e| WriteError::Api {
                namespace: ns.to_string(),
                name: name.to_string(),
                message: e.to_string(),
            })?;
            let created = api
                .create(&PostParams::default(), &obj)
                .await
                .map_err(api_err)?;
            created.metadata.generation.unwrap_or(1)
        }
    };
    let unchanged = current.as_ref().is_some_and(|o| {
        o.pointer("/status/artifact") == Some(&artifact)
            && crate::model::conditions::is_true(o, crate::model::conditions::READY)
    });
    if unchanged {
        return Ok(());
    }
    let revision = artifact
        .get("revision")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let now = jiff::Timestamp::now();
    let now = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    let status = json!({"status": {
        "artifact": artifact,
        "observedGeneration": generation,
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "Succeeded",
            "message": format!("Artifact is ready for revision '{revision}'"),
            "lastTransitionTime": now.to_string(),
            "observedGeneration": generation,
        }],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(api_err)?;
    Ok(())
}

/// Deletes `ns/name` (absent is fine).
pub async fn delete(client: &kube::Client, ns: &str, name: &str) -> Result<(), WriteError> {
    match api(client, ns).delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(WriteError::Api {
            namespace: ns.to_string(),
            name: name.to_string(),
            message: e.to_string(),
        }),
    }
}
