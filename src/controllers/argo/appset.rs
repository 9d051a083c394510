//! ApplicationSet with the list generator: parameters from `generators[].list.elements`, the
//! `template` rendered with fasttemplate (`{{key}}`) or, with `goTemplate: true`, the `{{.key}}`
//! path subset, and the generated Applications created, updated and deleted as
//! `syncPolicy.applicationsSync` allows (`create-only`, `create-update`, `create-delete`, default
//! `sync`). Generated Applications carry an owner reference to their set.

use futures::future::BoxFuture;
use jiff::Timestamp;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

use super::status::{StatusWriter, stamp};
use crate::model::kinds::KindInfo;
use crate::runtime::reconcile::kind_info;
use crate::runtime::{Next, Outcome, Reconciler, UnknownKind, merge_diff};

/// How often a set is generated again without a change (Argo: `requeueAfterSeconds`, 3 min).
const REQUEUE: Duration = Duration::from_secs(180);

struct Inner {
    client: kube::Client,
    kind: &'static KindInfo,
    writer: StatusWriter,
}

/// Argo CD's ApplicationSet controller (list generator).
pub struct ApplicationSetReconciler {
    inner: Arc<Inner>,
}

impl ApplicationSetReconciler {
    /// A reconciler over `client`.
    pub fn new(client: kube::Client) -> Result<ApplicationSetReconciler, UnknownKind> {
        Ok(ApplicationSetReconciler {
            inner: Arc::new(Inner {
                kind: kind_info("argoproj.io", "ApplicationSet")?,
                client,
                writer: StatusWriter::default(),
            }),
        })
    }
}

impl Reconciler for ApplicationSetReconciler {
    fn kind(&self) -> &'static KindInfo {
        self.inner.kind
    }
    fn version(&self) -> &'static str {
        "v1alpha1"
    }
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.run(obj).await })
    }
    fn finalize(&self, _obj: Value) -> BoxFuture<'static, ()> {
        // Generated Applications are owned (ownerReferences): the garbage collector removes them.
        Box::pin(async {})
    }
    fn finalizer(&self) -> Option<&'static str> {
        // Argo CD's controllers add no finalizer of their own.
        None
    }
}

/// The parameter sets of the generators.
fn parameters(spec: &Value) -> Result<Vec<Map<String, Value>>, String> {
    let mut out = Vec::new();
    for g in spec
        .get("generators")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(list) = g.get("list") else {
            let name = g
                .as_object()
                .and_then(|m| m.keys().next().cloned())
                .unwrap_or_default();
            return Err(format!(
                "generator {name} is not supported by flotilla yet (only list)"
            ));
        };
        for e in list
            .get("elements")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match e {
                Value::Object(m) => out.push(m.clone()),
                _ => return Err("list generator elements must be objects".into()),
            }
        }
    }
    Ok(out)
}

fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Replaces `{{ key }}` (fasttemplate) or `{{ .a.b }}` (Go template paths) in every string.
fn render(v: &Value, params: &Map<String, Value>, go: bool) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(render_str(s, params, go)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|i| render(i, params, go))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                out.insert(render_str(k, params, go)?, render(val, params, go)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn render_str(s: &str, params: &Map<String, Value>, go: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let expr = after[..end].trim();
        let value = if go {
            let path = expr
                .strip_prefix('.')
                .ok_or_else(|| format!("template: unsupported Go template expression {{{{{expr}}}}} (flotilla supports {{{{.path}}}})"))?;
            let mut cur: Option<&Value> = None;
            for (i, seg) in path.split('.').enumerate() {
                cur = if i == 0 {
                    params.get(seg)
                } else {
                    cur.and_then(|c| c.get(seg))
                };
            }
            match cur {
                Some(v) => param_text(v),
                None => return Err(format!("template: map has no entry for key \"{path}\"")),
            }
        } else {
            // fasttemplate leaves unknown keys as they are.
            match params.get(expr) {
                Some(v) => param_text(v),
                None => format!("{{{{{}}}}}", &after[..end]),
            }
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn app_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn set_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "ApplicationSet"),
        "applicationsets",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

impl Inner {
    async fn run(&self, obj: Value) -> Outcome {
        let s = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (name, ns, uid) = (
            s("/metadata/name"),
            s("/metadata/namespace"),
            s("/metadata/uid"),
        );
        let result = self.generate(&obj, &name, &ns, &uid).await;
        let now = stamp(Timestamp::now());
        let conditions = match &result {
            Ok(n) => json!([
                {"type": "ErrorOccurred", "status": "False", "reason": "ApplicationSetUpToDate",
                 "message": "All applications have been generated successfully", "lastTransitionTime": now},
                {"type": "ParametersGenerated", "status": "True", "reason": "ParametersGenerated",
                 "message": "Successfully generated parameters for all Applications", "lastTransitionTime": now},
                {"type": "ResourcesUpToDate", "status": "True", "reason": "ApplicationSetUpToDate",
                 "message": format!("All applications have been generated successfully ({n})"), "lastTransitionTime": now},
            ]),
            Err(e) => json!([
                {"type": "ErrorOccurred", "status": "True", "reason": "ApplicationGenerationFromParamsError",
                 "message": e, "lastTransitionTime": now},
                {"type": "ParametersGenerated", "status": "False", "reason": "ErrorOccurred",
                 "message": e, "lastTransitionTime": now},
                {"type": "ResourcesUpToDate", "status": "False", "reason": "ErrorOccurred",
                 "message": e, "lastTransitionTime": now},
            ]),
        };
        // Keep transition times of unchanged conditions.
        let old = obj
            .pointer("/status/conditions")
            .cloned()
            .unwrap_or(json!([]));
        let conditions: Vec<Value> = conditions
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let same = old.as_array().into_iter().flatten().find(|o| {
                    o["type"] == c["type"]
                        && o["status"] == c["status"]
                        && o["message"] == c["message"]
                });
                same.cloned().unwrap_or_else(|| c.clone())
            })
            .collect();
        let mut status = obj
            .get("status")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        status["conditions"] = json!(conditions);
        if let Err(e) = self
            .writer
            .write(&set_api(&self.client, &ns), &obj, &status, None)
            .await
        {
            return Outcome::new(Next::Backoff(REQUEUE), format!("status write failed: {e}"));
        }
        match result {
            Ok(n) => Outcome::new(Next::After(REQUEUE), format!("{n} applications generated")),
            Err(e) => Outcome::new(Next::Backoff(REQUEUE), e),
        }
    }

    /// Generates, then creates/updates/deletes the Applications; returns how many exist.
    async fn generate(
        &self,
        obj: &Value,
        name: &str,
        ns: &str,
        uid: &str,
    ) -> Result<usize, String> {
        let spec = obj.get("spec").cloned().unwrap_or(json!({}));
        let go = spec
            .get("goTemplate")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let template = spec
            .get("template")
            .cloned()
            .ok_or("spec.template is required")?;
        let policy = spec
            .pointer("/syncPolicy/applicationsSync")
            .and_then(Value::as_str)
            .unwrap_or("sync");
        let (may_update, may_delete) = match policy {
            "create-only" => (false, false),
            "create-update" => (true, false),
            "create-delete" => (false, true),
            _ => (true, true),
        };
        let owner = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true});
        let mut desired: Vec<Value> = Vec::new();
        for p in parameters(&spec)? {
            let t = render(&template, &p, go)?;
            let app_name = t
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if app_name.is_empty() {
                return Err("application name is empty after rendering the template".into());
            }
            if desired
                .iter()
                .any(|d| d["metadata"]["name"] == app_name.as_str())
            {
                return Err(format!(
                    "ApplicationSet {name} contains applications with duplicate name: {app_name}"
                ));
            }
            let mut md = t.get("metadata").cloned().unwrap_or(json!({}));
            md["namespace"] = json!(ns);
            md["ownerReferences"] = json!([owner]);
            desired.push(
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": md, "spec": t.get("spec").cloned().unwrap_or(json!({}))}),
            );
        }
        let api = app_api(&self.client, ns);
        let existing: Vec<Value> = api
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("cannot list Applications: {e}"))?
            .items
            .into_iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .filter(|a| {
                a.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|o| o.iter().any(|r| r["uid"] == uid))
            })
            .collect();
        for d in &desired {
            let app_name = d["metadata"]["name"].as_str().unwrap_or("");
            match existing.iter().find(|e| e["metadata"]["name"] == app_name) {
                None => {
                    let o: DynamicObject =
                        serde_json::from_value(d.clone()).map_err(|e| e.to_string())?;
                    api.create(&PostParams::default(), &o)
                        .await
                        .map_err(|e| format!("failed to create Application {app_name}: {e}"))?;
                }
                Some(live) if may_update => {
                    let mut patch = json!({});
                    if let Some(diff) = merge_diff(&live["spec"], &d["spec"]) {
                        patch["spec"] = diff;
                    }
                    for key in ["labels", "annotations"] {
                        // Template keys win; keys others added (e.g. refresh) stay.
                        if let Some(m) = d["metadata"].get(key).and_then(Value::as_object)
                            && m.iter()
                                .any(|(k, v)| live["metadata"][key].get(k) != Some(v))
                        {
                            patch["metadata"][key] = json!(m);
                        }
                    }
                    if patch.as_object().is_some_and(|m| !m.is_empty()) {
                        api.patch(app_name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                            .map_err(|e| format!("failed to update Application {app_name}: {e}"))?;
                    }
                }
                Some(_) => {}
            }
        }
        if may_delete {
            for e in &existing {
                let n = e["metadata"]["name"].as_str().unwrap_or("");
                if !desired.iter().any(|d| d["metadata"]["name"] == n) {
                    api.delete(n, &Default::default())
                        .await
                        .map_err(|err| format!("failed to delete Application {n}: {err}"))?;
                }
            }
        }
        Ok(desired.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fasttemplate_and_go_paths() {
        let p: Map<String, Value> =
            serde_json::from_value(json!({"cluster": "dev", "n": 3, "meta": {"region": "eu"}}))
                .unwrap();
        assert_eq!(
            render_str("{{cluster}}-{{ n }}-{{other}}", &p, false).unwrap(),
            "dev-3-{{other}}"
        );
        assert_eq!(
            render_str("{{.cluster}}/{{ .meta.region }}", &p, true).unwrap(),
            "dev/eu"
        );
        assert!(
            render_str("{{.missing}}", &p, true)
                .unwrap_err()
                .contains("missing")
        );
        assert!(
            parameters(&json!({"generators": [{"git": {}}]}))
                .unwrap_err()
                .contains("git")
        );
    }
}
