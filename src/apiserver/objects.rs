//! The write pipeline (§A6, §A9, §A11): create, update, patch, apply, status writes, delete with
//! finalizers, ownerReference garbage collection and namespace cascades. Runs under the state lock.

use super::State;
use super::errors::{ApiError, Target};
use super::managed_fields::{self, ApplyError, ListTypes, Writer};
use super::registry::ResourceDef;
use super::store::Stored;
use super::type_check;
use crate::model::validation;
use crate::patch::{self, ListType, PatchError, TypeMeta};
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::sync::Arc;

/// Who writes and how (from the request's query and headers).
#[derive(Debug, Clone)]
pub struct WriteOpts {
    /// Field manager.
    pub manager: String,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The request's `group/version`.
    pub api_version: String,
    /// Write through the `/status` subresource.
    pub status: bool,
    /// `force` (apply only).
    pub force: bool,
    /// Now, RFC 3339 seconds.
    pub now: String,
}

/// The patch flavours (by Content-Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`.
    Apply,
}

/// `DeleteOptions` that matter here.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `propagationPolicy == Orphan`.
    pub orphan: bool,
    /// `dryRun` contains `All`.
    pub dry_run: bool,
}

/// What a DELETE did.
#[derive(Debug)]
pub enum Deleted {
    /// The object is gone; its last state.
    Gone(Value),
    /// The object is waiting on finalizers; its current state.
    Pending(Value),
}

/// The current time, RFC 3339 UTC with second precision.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

struct DefListTypes<'a>(&'a ResourceDef);

impl ListTypes for DefListTypes<'_> {
    fn list_type(&self, path: &[&str]) -> ListType {
        self.0.list_type(path)
    }
}

fn target<'a>(def: &'a ResourceDef, name: &'a str) -> Target<'a> {
    Target {
        plural: &def.plural,
        group: &def.group,
        name,
    }
}

fn md(v: &Value) -> Option<&Map<String, Value>> {
    v.get("metadata").and_then(Value::as_object)
}

fn md_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    match v.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        // Just made sure it is an object; unreachable.
        None => unreachable_metadata(),
    }
}

#[cold]
fn unreachable_metadata() -> ! {
    // `v["metadata"] = json!({})` on an object always leaves an object there.
    unreachable!("metadata was just set to an object")
}

fn md_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    md(v).and_then(|m| m.get(key)).and_then(Value::as_str)
}

fn finalizers(v: &Value) -> Vec<Value> {
    md(v)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Whether anything outside `metadata` (and `status` when `skip_status`) differs.
fn spec_changed(old: &Value, new: &Value, skip_status: bool) -> bool {
    let skip =
        |k: &str| matches!(k, "metadata" | "apiVersion" | "kind") || (skip_status && k == "status");
    let empty = Map::new();
    let a = old.as_object().unwrap_or(&empty);
    let b = new.as_object().unwrap_or(&empty);
    a.iter()
        .filter(|(k, _)| !skip(k))
        .any(|(k, v)| b.get(k) != Some(v))
        || b.iter()
            .filter(|(k, _)| !skip(k))
            .any(|(k, _)| !a.contains_key(k))
}

/// Equality ignoring `managedFields[].time` (no-op detection).
fn same_object(a: &Value, b: &Value) -> bool {
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    if ao.len() != bo.len() {
        return false;
    }
    for (k, av) in ao {
        let Some(bv) = bo.get(k) else { return false };
        if k == "metadata" {
            let strip = |m: &Value| {
                let mut m = m.clone();
                if let Some(mf) = m.get_mut("managedFields").and_then(Value::as_array_mut) {
                    for e in mf {
                        if let Some(o) = e.as_object_mut() {
                            o.remove("time");
                        }
                    }
                }
                m
            };
            if strip(av) != strip(bv) {
                return false;
            }
        } else if av != bv {
            return false;
        }
    }
    true
}

fn validation_error(def: &ResourceDef, name: &str, field: &str, msg: String) -> ApiError {
    ApiError::invalid(
        &def.kind,
        &def.group,
        name,
        &[(field, "FieldValueInvalid", msg)],
    )
}

/// Kind-specific defaults applied on every write of the main resource.
fn apply_defaults(def: &ResourceDef, obj: &mut Value, name: &str) {
    if def.custom {
        return;
    }
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Namespace") => {
            let m = md_mut(obj);
            if !m.get("labels").is_some_and(Value::is_object) {
                m.insert("labels".into(), json!({}));
            }
            if let Some(l) = m.get_mut("labels").and_then(Value::as_object_mut) {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if obj.pointer("/spec/finalizers").is_none() {
                if !obj.get("spec").is_some_and(Value::is_object) {
                    obj["spec"] = json!({});
                }
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
        }
        ("", "Service") => {
            if !obj.get("spec").is_some_and(Value::is_object) {
                obj["spec"] = json!({});
            }
            let spec = &mut obj["spec"];
            if spec.get("type").is_none() {
                spec["type"] = json!("ClusterIP");
            }
            if spec.get("clusterIP").is_none() && spec["type"] != "ExternalName" {
                let ip = format!(
                    "10.96.{}.{}",
                    rand::random::<u8>(),
                    rand::random::<u8>().max(1)
                );
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
        }
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet")
            if obj.get("spec").is_some_and(Value::is_object)
                && obj["spec"].get("replicas").is_none() =>
        {
            obj["spec"]["replicas"] = json!(1);
        }
        _ => {}
    }
}

fn parse_rv(s: &str) -> Option<u64> {
    s.parse().ok()
}

impl State {
    /// Seeds an object at startup (namespaces, CRDs).
    pub(crate) fn seed(&mut self, key: &str, body: Value) -> Result<Value, ApiError> {
        let def = self
            .registry
            .by_key(key)
            .ok_or_else(|| ApiError::internal(format!("no resource {key}")))?;
        let w = WriteOpts {
            manager: "flotilla".into(),
            dry_run: false,
            api_version: def.storage_api_version(),
            status: false,
            force: false,
            now: now_rfc3339(),
        };
        self.create(&def, "", body, &w)
    }

    fn writer<'a>(&self, w: &'a WriteOpts) -> Writer<'a> {
        Writer {
            manager: &w.manager,
            api_version: &w.api_version,
            subresource: w.status.then_some("status"),
            now: &w.now,
        }
    }

    /// Checks the namespace of a new object exists and is not terminating.
    fn check_namespace(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<(), ApiError> {
        if !def.namespaced {
            return Ok(());
        }
        let Some(nsobj) = self.store.get("/namespaces", "", ns) else {
            return Err(ApiError::namespace_not_found(ns));
        };
        if nsobj.meta.deleting {
            return Err(ApiError::forbidden(format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                target(def, name).qualified()
            ))
            .with_details(json!({"name": name, "kind": def.plural, "causes": [{
                "reason": "NamespaceTerminating",
                "message": format!("namespace {ns} is being terminated"),
                "field": "metadata.namespace"}]})));
        }
        Ok(())
    }

    /// Checks and normalizes apiVersion/kind of a body against the resource; sets them to storage.
    fn normalize_type(&self, def: &ResourceDef, body: &mut Value) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(format!(
                "the body of the request must be a JSON object describing a {}",
                def.kind
            )));
        }
        if let Some(kind) = body.get("kind").and_then(Value::as_str)
            && !kind.is_empty()
            && kind != def.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                def.kind
            )));
        }
        if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
            && !av.is_empty()
        {
            let (g, v) = av.rsplit_once('/').unwrap_or(("", av));
            if g != def.group || def.version(v).is_none() {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({})",
                    def.storage_api_version()
                )));
            }
        }
        body["apiVersion"] = json!(def.storage_api_version());
        body["kind"] = json!(def.kind);
        Ok(())
    }

    /// POST: creates an object.
    pub(crate) fn create(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        mut body: Value,
        w: &WriteOpts,
    ) -> Result<Value, ApiError> {
        self.normalize_type(def, &mut body)?;
        type_check::check_object(def, &body)?;
        let m = md_mut(&mut body);
        if def.namespaced {
            match m.get("namespace").and_then(Value::as_str) {
                Some(bns) if !bns.is_empty() && bns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    m.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            m.remove("namespace");
        }
        let mut name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            let prefix = m
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &def.kind,
                    &def.group,
                    "",
                    &[(
                        "metadata.name",
                        "FieldValueRequired",
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
            for _ in 0..8 {
                name = validation::generate_name(&prefix);
                if self.store.get(&def.key(), ns, &name).is_none() {
                    break;
                }
            }
            m.insert("name".into(), json!(name));
        }
        let is_ns = def.key() == "/namespaces";
        if let Err(msg) = validation::validate_name(&name, is_ns) {
            return Err(validation_error(
                def,
                &name,
                "metadata.name",
                format!("Invalid value: \"{name}\": {msg}"),
            ));
        }
        self.check_namespace(def, ns, &name)?;
        if self.store.get(&def.key(), ns, &name).is_some() {
            return Err(ApiError::already_exists(target(def, &name)));
        }
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
            "managedFields",
        ] {
            m.remove(k);
        }
        if def.has_status {
            body.as_object_mut().map(|o| o.remove("status"));
        }
        self.insert_new(def, ns, &name, body, w, true)
    }

    /// Stores a brand-new object (after create checks); `record` = record managedFields here.
    fn insert_new(
        &mut self,
        def: &Arc<ResourceDef>,
        _ns: &str,
        name: &str,
        mut body: Value,
        w: &WriteOpts,
        record: bool,
    ) -> Result<Value, ApiError> {
        apply_defaults(def, &mut body, name);
        if def.key() == "/namespaces" {
            body["status"] = json!({"phase": "Active"});
        }
        if def.key() == "apiextensions.k8s.io/customresourcedefinitions" {
            self.registry.prepare_crd(&mut body, None, &w.now)?;
        }
        {
            let m = md_mut(&mut body);
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(w.now));
            if def.tracks_generation {
                m.insert("generation".into(), json!(1));
            }
        }
        if record {
            managed_fields::record_update(None, &mut body, &self.writer(w), &DefListTypes(def));
        }
        if w.dry_run {
            return Ok(body);
        }
        if def.key() == "apiextensions.k8s.io/customresourcedefinitions" {
            self.registry.register_crd(&body)?;
        }
        let rv = self.store.next_rv();
        md_mut(&mut body).insert("resourceVersion".into(), json!(rv.to_string()));
        self.store.put(&def.key(), &body);
        Ok(body)
    }

    fn existing(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Stored, ApiError> {
        self.store
            .get(&def.key(), ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(target(def, name)))
    }

    /// PUT (main resource or `/status`).
    pub(crate) fn update(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        mut body: Value,
        w: &WriteOpts,
    ) -> Result<Value, ApiError> {
        self.normalize_type(def, &mut body)?;
        type_check::check_object(def, &body)?;
        let stored = self.existing(def, ns, name)?;
        let old = stored.value();
        if let Some(bname) = md_str(&body, "name")
            && bname != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({bname}) does not match the name on the URL ({name})"
            )));
        }
        if def.namespaced
            && let Some(bns) = md_str(&body, "namespace")
            && !bns.is_empty()
            && bns != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        match md_str(&body, "resourceVersion").filter(|s| !s.is_empty()) {
            Some(rv) if parse_rv(rv) != Some(stored.meta.rv) => {
                return Err(ApiError::conflict(target(def, name)));
            }
            Some(_) => {}
            None if def.custom => {
                return Err(validation_error(
                    def,
                    name,
                    "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update".into(),
                ));
            }
            None => {}
        }
        if md(&body).and_then(|m| m.get("managedFields")).is_none()
            && let Some(mf) = md(&old).and_then(|m| m.get("managedFields"))
        {
            md_mut(&mut body).insert("managedFields".into(), mf.clone());
        }
        let new = if w.status {
            status_only(&old, &body)
        } else {
            body
        };
        self.commit_update(def, ns, name, &stored, old, new, w, true)
    }

    /// PATCH with any of the four patch types.
    pub(crate) fn patch(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        kind: PatchKind,
        patch_body: &Value,
        w: &WriteOpts,
    ) -> Result<(Value, bool), ApiError> {
        if kind == PatchKind::Apply {
            return self.apply(def, ns, name, patch_body.clone(), w);
        }
        if w.force {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                &[(
                    "force",
                    "FieldValueForbidden",
                    "Forbidden: may not be specified for non-apply patch".into(),
                )],
            ));
        }
        let stored = self.existing(def, ns, name)?;
        let old = stored.value();
        let mut patched = old.clone();
        let result = match kind {
            PatchKind::Merge => {
                if !patch_body.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                patch::merge_patch(&mut patched, patch_body);
                Ok(())
            }
            PatchKind::Json => patch::json_patch(&mut patched, patch_body),
            PatchKind::Strategic => {
                if def.custom {
                    return Err(ApiError::unsupported_media(true));
                }
                let av = def.storage_api_version();
                patch::strategic_merge(
                    &old,
                    patch_body,
                    TypeMeta {
                        api_version: &av,
                        kind: &def.kind,
                    },
                )
                .map(|v| patched = v)
            }
            PatchKind::Apply => Ok(()),
        };
        match result {
            Ok(()) => {}
            Err(PatchError::TestFailed(m)) | Err(PatchError::PathNotFound(m)) => {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {m}"),
                ));
            }
            Err(PatchError::Invalid(m)) => {
                return Err(ApiError::bad_request(format!("invalid patch: {m}")));
            }
            Err(PatchError::Unsupported(what)) => {
                return Err(ApiError::internal(format!("{what} is not supported yet")));
            }
        }
        if !patched.is_object() {
            return Err(ApiError::bad_request("the patch must leave a JSON object"));
        }
        // metadata.resourceVersion left in the patched object is a precondition.
        if let Some(rv) = md_str(&patched, "resourceVersion")
            && !rv.is_empty()
            && parse_rv(rv) != Some(stored.meta.rv)
        {
            return Err(ApiError::conflict(target(def, name)));
        }
        patched["apiVersion"] = json!(def.storage_api_version());
        patched["kind"] = json!(def.kind);
        type_check::check_object(def, &patched)?;
        let new = if w.status {
            status_only(&old, &patched)
        } else {
            patched
        };
        self.commit_update(def, ns, name, &stored, old, new, w, true)
            .map(|v| (v, false))
    }

    /// Server-side apply (§A10). Returns the object and whether it was created.
    fn apply(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        mut applied: Value,
        w: &WriteOpts,
    ) -> Result<(Value, bool), ApiError> {
        if w.manager.is_empty() {
            return Err(ApiError::new(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            )
            .with_details(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{
                "reason": "FieldValueRequired", "message": "Required value: is required for apply patch",
                "field": "fieldManager"}]})));
        }
        if !applied.is_object() {
            return Err(ApiError::bad_request("an apply patch must be an object"));
        }
        let av = applied
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = applied.get("kind").and_then(Value::as_str).unwrap_or("");
        if av != w.api_version {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                w.api_version
            )));
        }
        if kind != def.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                def.kind
            )));
        }
        if md_str(&applied, "name") != Some(name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                md_str(&applied, "name").unwrap_or("")
            )));
        }
        if def.namespaced
            && let Some(bns) = md_str(&applied, "namespace")
            && !bns.is_empty()
            && bns != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if md(&applied)
            .and_then(|m| m.get("managedFields"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let stored = self.store.get(&def.key(), ns, name).cloned();
        let precondition = md_str(&applied, "resourceVersion").map(str::to_string);
        if let Some(rv) = precondition.filter(|s| !s.is_empty()) {
            let current = stored.as_ref().map(|s| s.meta.rv);
            if current.is_none() || parse_rv(&rv) != current {
                return Err(ApiError::conflict(target(def, name)));
            }
        }
        {
            let m = md_mut(&mut applied);
            m.remove("resourceVersion");
            if def.namespaced {
                m.insert("namespace".into(), json!(ns));
            }
        }
        applied["apiVersion"] = json!(def.storage_api_version());
        if w.status {
            let keep: Map<String, Value> = applied
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| {
                            matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            applied = Value::Object(keep);
            if let Some(m) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
                m.retain(|k, _| matches!(k.as_str(), "name" | "namespace"));
            }
        } else if def.has_status {
            applied.as_object_mut().map(|o| o.remove("status"));
        }
        if stored.is_none() {
            if w.status {
                return Err(ApiError::not_found(target(def, name)));
            }
            if let Err(msg) = validation::validate_name(name, def.key() == "/namespaces") {
                return Err(validation_error(
                    def,
                    name,
                    "metadata.name",
                    format!("Invalid value: \"{name}\": {msg}"),
                ));
            }
            self.check_namespace(def, ns, name)?;
        }
        // The apply configuration is decoded as the kind first, like the real server does.
        type_check::check_object(def, &applied)?;
        let old = stored.as_ref().map(Stored::value);
        let result = managed_fields::server_side_apply(
            old.as_ref(),
            &applied,
            &self.writer(w),
            w.force,
            &DefListTypes(def),
        );
        let new = match result {
            Ok(v) => v,
            Err(ApplyError::Conflicts(c)) => return Err(conflict_error(def, name, &c)),
            Err(ApplyError::Invalid(m)) => {
                return Err(ApiError::new(422, "Invalid", m));
            }
        };
        type_check::check_object(def, &new)?;
        match (stored, old) {
            (Some(stored), Some(old)) => {
                let new = if w.status {
                    let mut s = status_only(&old, &new);
                    if let Some(mf) = md(&new).and_then(|m| m.get("managedFields")) {
                        md_mut(&mut s).insert("managedFields".into(), mf.clone());
                    }
                    s
                } else {
                    new
                };
                self.commit_update(def, ns, name, &stored, old, new, w, false)
                    .map(|v| (v, false))
            }
            _ => {
                let mut new = new;
                for k in [
                    "uid",
                    "creationTimestamp",
                    "generation",
                    "deletionTimestamp",
                ] {
                    md_mut(&mut new).remove(k);
                }
                self.insert_new(def, ns, name, new, w, false)
                    .map(|v| (v, true))
            }
        }
    }

    /// The common tail of PUT/PATCH/apply: carry immutable fields, enforce deletion rules, bump
    /// generation, record ownership, detect no-ops, store.
    #[allow(clippy::too_many_arguments)]
    fn commit_update(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        stored: &Stored,
        old: Value,
        mut new: Value,
        w: &WriteOpts,
        record: bool,
    ) -> Result<Value, ApiError> {
        {
            let om = md(&old).cloned().unwrap_or_default();
            let m = md_mut(&mut new);
            m.insert("name".into(), json!(name));
            if def.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ] {
                match om.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
            m.remove("selfLink");
        }
        if !w.status {
            if def.has_status {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        new.as_object_mut().map(|o| o.remove("status"));
                    }
                }
            }
            apply_defaults(def, &mut new, name);
            if def.key() == "apiextensions.k8s.io/customresourcedefinitions" {
                self.registry.prepare_crd(&mut new, Some(&old), &w.now)?;
            }
        }
        if stored.meta.deleting {
            let before = finalizers(&old);
            if finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(validation_error(
                    def,
                    name,
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted"
                        .into(),
                ));
            }
        }
        if !w.status && def.tracks_generation && spec_changed(&old, &new, def.has_status) {
            let g = md(&old)
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            md_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        if record {
            managed_fields::record_update(
                Some(&old),
                &mut new,
                &self.writer(w),
                &DefListTypes(def),
            );
        }
        if same_object(&old, &new) {
            return Ok(old);
        }
        if stored.meta.deleting && finalizers(&new).is_empty() {
            if w.dry_run {
                return Ok(new);
            }
            self.remove_object(def, new.clone());
            return Ok(new);
        }
        if w.dry_run {
            return Ok(new);
        }
        if def.key() == "apiextensions.k8s.io/customresourcedefinitions" {
            self.registry.register_crd(&new)?;
        }
        let rv = self.store.next_rv();
        md_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        self.store.put(&def.key(), &new);
        Ok(new)
    }

    /// DELETE of one object.
    pub(crate) fn delete(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Deleted, ApiError> {
        let stored = self.existing(def, ns, name)?;
        if let Some(uid) = &opts.uid
            && *uid != stored.meta.uid
        {
            return Err(ApiError::conflict_because(
                target(def, name),
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    stored.meta.uid
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && parse_rv(rv) != Some(stored.meta.rv)
        {
            return Err(ApiError::conflict_because(
                target(def, name),
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    stored.meta.rv
                ),
            ));
        }
        let is_ns = def.key() == "/namespaces";
        if is_ns && matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            ))
            .with_details(json!({"name": name, "kind": "namespaces"})));
        }
        let mut obj = stored.value();
        if is_ns || !finalizers(&obj).is_empty() {
            if stored.meta.deleting {
                return Ok(Deleted::Pending(obj));
            }
            let now = super::objects::now_rfc3339();
            {
                let m = md_mut(&mut obj);
                m.insert("deletionTimestamp".into(), json!(now));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                if let Some(g) = m.get("generation").and_then(Value::as_i64) {
                    m.insert("generation".into(), json!(g + 1));
                }
            }
            if is_ns {
                obj["status"] = json!({"phase": "Terminating"});
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(obj));
            }
            let rv = self.store.next_rv();
            md_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
            self.store.put(&def.key(), &obj);
            if is_ns {
                self.empty_namespace(name);
                if self.store.get("/namespaces", "", name).is_none() {
                    return Ok(Deleted::Gone(obj));
                }
            }
            return Ok(Deleted::Pending(obj));
        }
        if opts.dry_run {
            return Ok(Deleted::Gone(obj));
        }
        let last = self.remove_object_with(def, obj, !opts.orphan);
        Ok(Deleted::Gone(last))
    }

    /// Removes a stored object for good, then cascades (GC, CRD cleanup, namespace completion).
    fn remove_object(&mut self, def: &Arc<ResourceDef>, obj: Value) -> Value {
        self.remove_object_with(def, obj, true)
    }

    fn remove_object_with(&mut self, def: &Arc<ResourceDef>, obj: Value, gc: bool) -> Value {
        let mut queue: VecDeque<(Arc<ResourceDef>, Value, bool)> = VecDeque::new();
        queue.push_back((def.clone(), obj, gc));
        let mut first: Option<Value> = None;
        while let Some((def, mut obj, gc)) = queue.pop_front() {
            let rv = self.store.next_rv();
            md_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
            let Some(removed) = self.store.remove(&def.key(), &obj) else {
                continue;
            };
            if first.is_none() {
                first = Some(obj.clone());
            }
            if def.key() == "apiextensions.k8s.io/customresourcedefinitions" {
                let key = format!(
                    "{}/{}",
                    obj.pointer("/spec/group")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    obj.pointer("/spec/names/plural")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                );
                self.store.drop_resource(&key);
                self.registry.unregister(&key);
            }
            let ns = removed.meta.namespace.clone();
            if !ns.is_empty()
                && self
                    .store
                    .get("/namespaces", "", &ns)
                    .is_some_and(|n| n.meta.deleting)
                && self.store.in_namespace(&ns).is_empty()
                && let Some(nsdef) = self.registry.by_key("/namespaces")
                && let Some(nsobj) = self.store.get("/namespaces", "", &ns)
            {
                queue.push_back((nsdef, nsobj.value(), true));
            }
            if !gc {
                continue;
            }
            for (res, dep) in self.store.dependents_of(&removed.meta.uid) {
                let orphaned = dep
                    .meta
                    .owner_uids
                    .iter()
                    .all(|u| *u == removed.meta.uid || !self.store.uid_exists(u));
                if !orphaned {
                    continue;
                }
                let Some(ddef) = self.registry.by_key(&res) else {
                    continue;
                };
                let dobj = dep.value();
                if !finalizers(&dobj).is_empty() {
                    if !dep.meta.deleting {
                        let mut d = dobj;
                        let m = md_mut(&mut d);
                        m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                        m.insert("deletionGracePeriodSeconds".into(), json!(0));
                        let rv = self.store.next_rv();
                        md_mut(&mut d).insert("resourceVersion".into(), json!(rv.to_string()));
                        self.store.put(&res, &d);
                    }
                    continue;
                }
                queue.push_back((ddef, dobj, true));
            }
        }
        first.unwrap_or(Value::Null)
    }

    /// Deletes every object in a terminating namespace, then the namespace if it is empty.
    fn empty_namespace(&mut self, ns: &str) {
        let contents = self.store.in_namespace(ns);
        for (res, obj) in contents {
            let Some(def) = self.registry.by_key(&res) else {
                continue;
            };
            // Objects may already be gone through GC of an earlier one.
            if self.store.get(&res, ns, &obj.meta.name).is_none() {
                continue;
            }
            let _ = self.delete(&def, ns, &obj.meta.name, &DeleteOpts::default());
        }
        if self.store.in_namespace(ns).is_empty()
            && let Some(nsdef) = self.registry.by_key("/namespaces")
            && let Some(nsobj) = self.store.get("/namespaces", "", ns)
        {
            let v = nsobj.value();
            self.remove_object(&nsdef, v);
        }
    }
}

/// `old` with `status` taken from `new` (writes through the status subresource).
fn status_only(old: &Value, new: &Value) -> Value {
    let mut out = old.clone();
    match new.get("status") {
        Some(s) => out["status"] = s.clone(),
        None => {
            out.as_object_mut().map(|o| o.remove("status"));
        }
    }
    out
}

/// The 409 for server-side apply conflicts (§A14).
fn conflict_error(
    def: &ResourceDef,
    name: &str,
    conflicts: &[managed_fields::Conflict],
) -> ApiError {
    let who = |c: &managed_fields::Conflict| {
        let mut s = format!("\"{}\"", c.manager);
        if c.operation == "Update" {
            s.push_str(&format!(" using {}", c.api_version));
        }
        if let Some(sub) = &c.subresource {
            s.push_str(&format!(" with subresource \"{sub}\""));
        }
        s
    };
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            who(&conflicts[0]),
            conflicts[0].field
        )
    } else {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for c in conflicts {
            let w = who(c);
            match groups.iter_mut().find(|(g, _)| *g == w) {
                Some((_, fields)) => fields.push(&c.field),
                None => groups.push((w, vec![&c.field])),
            }
        }
        let parts: Vec<String> = groups
            .iter()
            .map(|(w, fields)| {
                let lines: Vec<String> = fields.iter().map(|f| format!("- {f}")).collect();
                format!("conflicts with {w}:\n{}", lines.join("\n"))
            })
            .collect();
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            parts.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", who(c)), "field": c.field}))
        .collect();
    let mut details = json!({"name": name, "kind": def.plural, "causes": causes});
    if !def.group.is_empty() {
        details["group"] = json!(def.group);
    }
    ApiError::new(409, "Conflict", message).with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_change_ignores_metadata_and_status() {
        let a = json!({"metadata":{"labels":{"a":"1"}},"spec":{"x":1},"status":{"s":1}});
        let b = json!({"metadata":{"labels":{"a":"2"}},"spec":{"x":1},"status":{"s":2}});
        assert!(!spec_changed(&a, &b, true));
        assert!(spec_changed(&a, &b, false));
        let c = json!({"metadata":{},"spec":{"x":2}});
        assert!(spec_changed(&a, &c, true));
    }

    #[test]
    fn managed_field_times_do_not_count_as_changes() {
        let a = json!({"metadata":{"managedFields":[{"manager":"m","time":"t1"}]},"data":{}});
        let b = json!({"metadata":{"managedFields":[{"manager":"m","time":"t2"}]},"data":{}});
        assert!(same_object(&a, &b));
        let c = json!({"metadata":{"managedFields":[{"manager":"n","time":"t2"}]},"data":{}});
        assert!(!same_object(&a, &c));
    }
}
