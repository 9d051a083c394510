//! The workload simulator: makes Deployments, StatefulSets, DaemonSets roll out, Jobs complete,
//! LoadBalancer Services get an address and PVCs bind, by acting as a client of the cluster's own API.
//!
//! API contract: [`SimulatorOptions`], [`run`], and the pure [`simulate`] step it is built on.
//!
//! Model: when an object's generation (or, for kinds without one, its spec) is first seen, a clock starts.
//! Until `rollout_delay` has passed the status shows a rollout in progress; afterwards it is converged. A
//! container image whose tag contains `broken` never becomes ready; a Deployment then reports
//! `Progressing=False, reason ProgressDeadlineExceeded` once the progress deadline passes. The deadline is
//! `min(spec.progressDeadlineSeconds (default 600 s), max(3 × rollout_delay, 1 s))`: far shorter than a
//! real cluster's, so demos and tests show the failure quickly. Once an object's status is converged (or
//! failed) for its generation it is left alone, so a restarted simulator never rewinds a rollout.

use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Tuning for the simulator.
#[derive(Debug, Clone)]
pub struct SimulatorOptions {
    /// How long after a spec change a rollout takes to converge (default 2 s).
    pub rollout_delay: Duration,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        SimulatorOptions {
            rollout_delay: Duration::from_secs(2),
        }
    }
}

/// What the simulator wants written for one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to do now.
    Idle,
    /// Write this `status` (through the status subresource).
    SetStatus(Value),
    /// Look at the object again after this long.
    RecheckAfter(Duration),
}

/// Shortest simulated progress deadline (keeps `rollout_delay = 0` from failing instantly).
const MIN_PROGRESS_DEADLINE: Duration = Duration::from_secs(1);
/// Kubernetes' default `spec.progressDeadlineSeconds`.
const DEFAULT_PROGRESS_DEADLINE_SECS: u64 = 600;
/// Upper bound on replica counts read from specs (keeps arithmetic small on absurd input).
const MAX_REPLICAS: i64 = 1_000_000;
/// Alphabet of generated hashes (pod-template-hash, controller revisions), as Kubernetes uses.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Condition timestamp fields a controller maintains (ignored when comparing statuses).
const CONDITION_TIME_FIELDS: [&str; 3] = ["lastTransitionTime", "lastUpdateTime", "lastProbeTime"];
/// Top-level status timestamps (ignored when comparing statuses).
const STATUS_TIME_FIELDS: [&str; 2] = ["startTime", "completionTime"];

/// Decides the next step for `object` given how long ago its current generation was first seen.
pub fn simulate(object: &Value, since_generation: Duration, opts: &SimulatorOptions) -> Vec<Step> {
    simulate_at(object, since_generation, opts, &now_rfc3339())
}

/// [`simulate`] with an explicit clock (`now`, RFC 3339, stamped on new conditions and Job times).
/// Timestamps never influence decisions, only what gets written.
pub fn simulate_at(
    object: &Value,
    since_generation: Duration,
    opts: &SimulatorOptions,
    now: &str,
) -> Vec<Step> {
    let is_deleting = object
        .get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|t| !t.is_null());
    if is_deleting {
        return vec![Step::Idle];
    }
    let current = object.get("status").unwrap_or(&Value::Null);
    let Some(plan) = plan_for(object, current, opts, now) else {
        return vec![Step::Idle];
    };
    if without_times(current) == without_times(&plan.terminal) {
        return vec![Step::Idle];
    }
    let converged = plan.settle_after.is_some_and(|at| since_generation >= at);
    let desired = if converged {
        plan.terminal
    } else {
        plan.interim
    };
    let desired = stamp_times(desired, current, now);
    let mut steps = Vec::new();
    if without_times(current) != without_times(&desired) {
        steps.push(Step::SetStatus(desired));
    }
    if let Some(at) = plan.settle_after
        && !converged
    {
        steps.push(Step::RecheckAfter(at.saturating_sub(since_generation)));
    }
    if steps.is_empty() {
        steps.push(Step::Idle);
    }
    steps
}

/// The merge patch body (`{"status": …}`) turning `old` status into `new`: keys `new` lacks become `null`
/// so stale fields (e.g. `unavailableReplicas`) are removed.
pub fn status_merge_patch(old: &Value, new: &Value) -> Value {
    json!({ "status": merge_diff(old, new) })
}

/// A JSON merge patch from `old` to `new` (objects recurse; everything else is replaced).
fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, v) in n {
                let patched = match o.get(k) {
                    Some(ov) => merge_diff(ov, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), patched);
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

/// What a controller would write for one object: `interim` while a rollout is under way, `terminal` once
/// done (or failed); `settle_after` is when `terminal` applies (`None` = never, e.g. a broken image).
struct Plan {
    interim: Value,
    terminal: Value,
    settle_after: Option<Duration>,
}

impl Plan {
    /// A status that applies right away.
    fn immediate(status: Value) -> Plan {
        Plan {
            interim: status.clone(),
            terminal: status,
            settle_after: Some(Duration::ZERO),
        }
    }
}

/// Dispatches on `apiVersion` + `kind`; `None` for kinds the simulator leaves alone.
fn plan_for(object: &Value, current: &Value, opts: &SimulatorOptions, now: &str) -> Option<Plan> {
    let api_version = object.get("apiVersion").and_then(Value::as_str)?;
    let kind = object.get("kind").and_then(Value::as_str)?;
    match (api_version, kind) {
        ("apps/v1", "Deployment") => Some(deployment(object, current, opts)),
        ("apps/v1", "StatefulSet") => Some(stateful_set(object, current, opts)),
        ("apps/v1", "DaemonSet") => Some(daemon_set(object, opts)),
        ("batch/v1", "Job") => job(object, current, opts, now),
        ("v1", "Service") => service(object, current, opts),
        ("v1", "PersistentVolumeClaim") => Some(pvc(object, current, opts)),
        ("v1", "Namespace") => Some(Plan::immediate(json!({"phase": "Active"}))),
        _ => None,
    }
}

/// `metadata.name`, or `""`.
fn name_of(object: &Value) -> &str {
    object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.generation`, if present and an integer.
fn generation_of(object: &Value) -> Option<i64> {
    object
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
}

/// An integer field, clamped to `0..=MAX_REPLICAS`, or `default` when absent or not an integer.
fn count(v: Option<&Value>, default: i64) -> i64 {
    v.and_then(Value::as_i64)
        .unwrap_or(default)
        .clamp(0, MAX_REPLICAS)
}

/// Inserts `key: n` unless `n` is zero (Go's `omitempty`).
fn put_nonzero(m: &mut Map<String, Value>, key: &str, n: i64) {
    if n != 0 {
        m.insert(key.into(), json!(n));
    }
}

/// Inserts `observedGeneration` when the object has a generation.
fn put_generation(m: &mut Map<String, Value>, object: &Value) {
    if let Some(g) = generation_of(object) {
        m.insert("observedGeneration".into(), json!(g));
    }
}

/// A condition without timestamps (added by [`stamp_times`]).
fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message})
}

/// Whether any (init) container of a pod template uses an image whose tag contains `broken`.
pub fn template_is_broken(template: Option<&Value>) -> bool {
    let Some(spec) = template.and_then(|t| t.get("spec")) else {
        return false;
    };
    ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .any(|image| image_tag(image).contains("broken"))
}

/// The tag of an image reference (`""` when untagged): after the last `:` of the last path segment,
/// ignoring any `@digest`.
fn image_tag(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or("");
    let last_segment = without_digest.rsplit('/').next().unwrap_or("");
    match last_segment.rsplit_once(':') {
        Some((_, tag)) => tag,
        None => "",
    }
}

/// A stable 10-character hash of a JSON value in Kubernetes' safe alphabet (like a pod-template-hash).
fn safe_hash(v: Option<&Value>) -> String {
    let text = v.map(Value::to_string).unwrap_or_default();
    // FNV-1a: tiny, deterministic across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let base = SAFE_ALPHABET.len() as u64;
    (0..10)
        .map(|_| {
            // The modulo keeps the index below the alphabet length, so indexing cannot fail.
            let c = SAFE_ALPHABET[(h % base) as usize];
            h /= base;
            char::from(c)
        })
        .collect()
}

/// Resolves an int-or-percent rollout parameter against `total` (percentages round up or down).
fn int_or_percent(v: Option<&Value>, default_percent: i64, total: i64, round_up: bool) -> i64 {
    let percent = |p: i64| {
        let scaled = total.saturating_mul(p);
        if round_up {
            (scaled + 99) / 100
        } else {
            scaled / 100
        }
    };
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0).clamp(0, MAX_REPLICAS),
        Some(Value::String(s)) => match s.strip_suffix('%').map(str::parse::<i64>) {
            Some(Ok(p)) => percent(p.clamp(0, 100)),
            _ => percent(default_percent),
        },
        _ => percent(default_percent),
    }
}

/// How long a broken rollout waits before reporting `ProgressDeadlineExceeded` (see the module docs).
pub fn progress_deadline(object: &Value, opts: &SimulatorOptions) -> Duration {
    let spec_secs = object
        .get("spec")
        .and_then(|s| s.get("progressDeadlineSeconds"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECS);
    let snappy = opts
        .rollout_delay
        .saturating_mul(3)
        .max(MIN_PROGRESS_DEADLINE);
    Duration::from_secs(spec_secs).min(snappy)
}

/// Deployment status as the deployment controller writes it.
fn deployment(object: &Value, current: &Value, opts: &SimulatorOptions) -> Plan {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let template = spec.get("template");
    let replicas = count(spec.get("replicas"), 1);
    let rs = format!("{}-{}", name_of(object), safe_hash(template));
    let broken = replicas > 0 && template_is_broken(template);
    let recreate = spec
        .get("strategy")
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        == Some("Recreate");
    let rolling = spec.get("strategy").and_then(|s| s.get("rollingUpdate"));
    let (max_surge, max_unavailable) = if recreate {
        (0, 0)
    } else {
        let surge = int_or_percent(rolling.and_then(|r| r.get("maxSurge")), 25, replicas, true);
        let unavailable = int_or_percent(
            rolling.and_then(|r| r.get("maxUnavailable")),
            25,
            replicas,
            false,
        );
        // Kubernetes forces progress when both are zero.
        if surge == 0 && unavailable == 0 {
            (0, 1)
        } else {
            (surge, unavailable)
        }
    };
    let min_available = (replicas - max_unavailable).max(0);
    let available_condition = |available: i64| {
        if available >= min_available {
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        }
    };
    // Pods of the previous ReplicaSet stay available during a rolling update (not with Recreate).
    let old_available = if recreate {
        0
    } else {
        count(current.get("availableReplicas"), 0).min(replicas)
    };
    let (total, updated) = if old_available == 0 {
        (replicas, replicas)
    } else {
        let updated = replicas.min(max_surge.max(1));
        (old_available + updated, updated)
    };
    let mut progress = Map::new();
    put_generation(&mut progress, object);
    put_nonzero(&mut progress, "replicas", total);
    put_nonzero(&mut progress, "updatedReplicas", updated);
    put_nonzero(&mut progress, "readyReplicas", old_available);
    put_nonzero(&mut progress, "availableReplicas", old_available);
    put_nonzero(
        &mut progress,
        "unavailableReplicas",
        replicas - old_available,
    );

    let names_this_rs = current
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"))
        .filter_map(|c| c.get("message").and_then(Value::as_str))
        .any(|m| m.contains(&format!("\"{rs}\"")));
    let progressing = if names_this_rs {
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{rs}\" is progressing."),
        )
    } else {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set \"{rs}\""),
        )
    };
    let mut interim = progress.clone();
    interim.insert(
        "conditions".into(),
        json!([available_condition(old_available), progressing]),
    );

    if broken {
        let mut failed = progress;
        failed.insert(
            "conditions".into(),
            json!([
                available_condition(old_available),
                condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    &format!("ReplicaSet \"{rs}\" has timed out progressing."),
                )
            ]),
        );
        return Plan {
            interim: Value::Object(interim),
            terminal: Value::Object(failed),
            settle_after: Some(progress_deadline(object, opts)),
        };
    }
    let mut done = Map::new();
    put_generation(&mut done, object);
    for key in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        put_nonzero(&mut done, key, replicas);
    }
    done.insert(
        "conditions".into(),
        json!([
            available_condition(replicas),
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{rs}\" has successfully progressed."),
            )
        ]),
    );
    Plan {
        interim: Value::Object(interim),
        terminal: Value::Object(done),
        settle_after: Some(if replicas == 0 {
            Duration::ZERO
        } else {
            opts.rollout_delay
        }),
    }
}

/// StatefulSet status as the statefulset controller writes it.
fn stateful_set(object: &Value, current: &Value, opts: &SimulatorOptions) -> Plan {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let template = spec.get("template");
    let replicas = count(spec.get("replicas"), 1);
    let revision = format!("{}-{}", name_of(object), safe_hash(template));
    let broken = replicas > 0 && template_is_broken(template);
    let old_ready = count(current.get("readyReplicas"), 0).min(replicas);
    let current_revision = match current.get("currentRevision").and_then(Value::as_str) {
        Some(r) if old_ready > 0 => r.to_string(),
        _ => revision.clone(),
    };
    let build = |ready: i64, current_replicas: i64, updated: i64, current_rev: &str| {
        let mut m = Map::new();
        put_generation(&mut m, object);
        m.insert("replicas".into(), json!(replicas));
        put_nonzero(&mut m, "readyReplicas", ready);
        put_nonzero(&mut m, "currentReplicas", current_replicas);
        put_nonzero(&mut m, "updatedReplicas", updated);
        m.insert("availableReplicas".into(), json!(ready));
        m.insert("currentRevision".into(), json!(current_rev));
        m.insert("updateRevision".into(), json!(revision));
        m.insert("collisionCount".into(), json!(0));
        Value::Object(m)
    };
    let updated = if current_revision == revision {
        old_ready
    } else {
        0
    };
    let interim = build(old_ready, old_ready, updated, &current_revision);
    let terminal = build(replicas, replicas, replicas, &revision);
    Plan {
        interim,
        terminal,
        settle_after: match (broken, replicas) {
            (true, _) => None,
            (false, 0) => Some(Duration::ZERO),
            (false, _) => Some(opts.rollout_delay),
        },
    }
}

/// DaemonSet status on a one-node cluster.
fn daemon_set(object: &Value, opts: &SimulatorOptions) -> Plan {
    let broken = template_is_broken(object.get("spec").and_then(|s| s.get("template")));
    let build = |ready: i64| {
        let mut m = Map::new();
        put_generation(&mut m, object);
        m.insert("currentNumberScheduled".into(), json!(1));
        m.insert("numberMisscheduled".into(), json!(0));
        m.insert("desiredNumberScheduled".into(), json!(1));
        m.insert("numberReady".into(), json!(ready));
        m.insert("updatedNumberScheduled".into(), json!(1));
        put_nonzero(&mut m, "numberAvailable", ready);
        put_nonzero(&mut m, "numberUnavailable", 1 - ready);
        Value::Object(m)
    };
    Plan {
        interim: build(0),
        terminal: build(1),
        settle_after: if broken {
            None
        } else {
            Some(opts.rollout_delay)
        },
    }
}

/// Job status as the job controller writes it; finished Jobs are never touched again.
fn job(object: &Value, current: &Value, opts: &SimulatorOptions, now: &str) -> Option<Plan> {
    let finished = current
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            matches!(
                c.get("type").and_then(Value::as_str),
                Some("Complete" | "Failed")
            ) && c.get("status").and_then(Value::as_str) == Some("True")
        });
    if finished {
        return None;
    }
    let spec = object.get("spec").unwrap_or(&Value::Null);
    if spec.get("suspend").and_then(Value::as_bool) == Some(true) {
        return Some(Plan::immediate(json!({
            "conditions": [condition("Suspended", "True", "JobSuspended", "Job suspended")]
        })));
    }
    let completions = count(spec.get("completions"), 1);
    let parallelism = count(spec.get("parallelism"), 1);
    let started = current
        .get("startTime")
        .and_then(Value::as_str)
        .unwrap_or(now);
    let mut running = Map::new();
    running.insert("startTime".into(), json!(started));
    put_nonzero(&mut running, "active", parallelism.min(completions));
    running.insert("ready".into(), json!(0));
    running.insert("terminating".into(), json!(0));
    running.insert("uncountedTerminatedPods".into(), json!({}));
    let message = "Reached expected number of succeeded pods";
    let mut done = running.clone();
    done.remove("active");
    done.insert("completionTime".into(), json!(now));
    put_nonzero(&mut done, "succeeded", completions);
    done.insert(
        "conditions".into(),
        json!([
            condition("SuccessCriteriaMet", "True", "CompletionsReached", message),
            condition("Complete", "True", "CompletionsReached", message)
        ]),
    );
    let broken = completions > 0 && template_is_broken(spec.get("template"));
    Some(Plan {
        interim: Value::Object(running),
        terminal: Value::Object(done),
        settle_after: match (broken, completions) {
            (true, _) => None,
            (false, 0) => Some(Duration::ZERO),
            (false, _) => Some(opts.rollout_delay),
        },
    })
}

/// LoadBalancer Services get a loopback ingress address; other types lose a stale one.
fn service(object: &Value, current: &Value, opts: &SimulatorOptions) -> Option<Plan> {
    let is_lb = object
        .get("spec")
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        == Some("LoadBalancer");
    let has_ingress = current
        .get("loadBalancer")
        .and_then(|l| l.get("ingress"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !is_lb {
        return has_ingress.then(|| Plan::immediate(json!({"loadBalancer": {}})));
    }
    let namespace = object
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let key = Value::String(format!("{namespace}/{}", name_of(object)));
    // 127.0.0.2..=254: stable per Service, distinct for most Services.
    let octet = 2 + safe_hash(Some(&key)).bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % 253;
    Some(Plan {
        interim: json!({"loadBalancer": {}}),
        terminal: json!({"loadBalancer": {"ingress": [{"ip": format!("127.0.0.{octet}"), "ipMode": "VIP"}]}}),
        settle_after: Some(if has_ingress {
            Duration::ZERO
        } else {
            opts.rollout_delay
        }),
    })
}

/// PVCs bind after the delay with the requested size and access modes; a bound claim stays bound.
fn pvc(object: &Value, current: &Value, opts: &SimulatorOptions) -> Plan {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let mut bound = Map::new();
    bound.insert("phase".into(), json!("Bound"));
    if let Some(modes) = spec.get("accessModes").filter(|m| m.is_array()) {
        bound.insert("accessModes".into(), modes.clone());
    }
    if let Some(size) = spec
        .get("resources")
        .and_then(|r| r.get("requests"))
        .and_then(|r| r.get("storage"))
        .filter(|s| s.is_string())
    {
        bound.insert("capacity".into(), json!({ "storage": size }));
    }
    let already_bound = current.get("phase").and_then(Value::as_str) == Some("Bound");
    Plan {
        interim: json!({"phase": "Pending"}),
        terminal: Value::Object(bound),
        settle_after: Some(if already_bound {
            Duration::ZERO
        } else {
            opts.rollout_delay
        }),
    }
}

/// A copy of a status without the timestamps controllers maintain, for comparisons.
fn without_times(status: &Value) -> Value {
    let mut s = status.clone();
    if let Value::Object(m) = &mut s {
        for k in STATUS_TIME_FIELDS {
            m.remove(k);
        }
        if let Some(Value::Array(conds)) = m.get_mut("conditions") {
            for c in conds.iter_mut() {
                if let Value::Object(cm) = c {
                    for k in CONDITION_TIME_FIELDS {
                        cm.remove(k);
                    }
                }
            }
        }
    }
    s
}

/// Adds condition timestamps as a controller would: `lastTransitionTime` kept while the condition's
/// status is unchanged, `lastUpdateTime` (Deployments) kept while reason and message are unchanged,
/// `lastProbeTime` (Jobs) set when the condition is new; otherwise `now`.
fn stamp_times(mut desired: Value, current: &Value, now: &str) -> Value {
    let old_conditions: Vec<&Value> = current
        .get("conditions")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(Value::Array(conds)) = desired.get_mut("conditions") {
        for c in conds.iter_mut() {
            let type_ = text(c, "type");
            let old = old_conditions
                .iter()
                .find(|o| text(o, "type") == type_)
                .copied();
            let same_status = old.is_some_and(|o| text(o, "status") == text(c, "status"));
            let same_text = same_status
                && old.is_some_and(|o| {
                    text(o, "reason") == text(c, "reason")
                        && text(o, "message") == text(c, "message")
                });
            let keep = |field: &str, keep_old: bool| -> Value {
                match old.and_then(|o| o.get(field)).filter(|_| keep_old) {
                    Some(v) if v.is_string() => v.clone(),
                    _ => json!(now),
                }
            };
            let transition = keep("lastTransitionTime", same_status);
            let is_job = matches!(
                type_.as_deref(),
                Some("Complete" | "Failed" | "SuccessCriteriaMet" | "Suspended")
            );
            let extra = if is_job {
                ("lastProbeTime", keep("lastProbeTime", same_text))
            } else {
                ("lastUpdateTime", keep("lastUpdateTime", same_text))
            };
            if let Value::Object(m) = c {
                m.insert(extra.0.into(), extra.1);
                m.insert("lastTransitionTime".into(), transition);
            }
        }
    }
    desired
}

/// The current time in RFC 3339 with second precision (`2026-11-27T09:53:07Z`).
fn now_rfc3339() -> String {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Most objects tracked at once (oldest are forgotten beyond this).
const MAX_TRACKED: usize = 50_000;
/// Most status writes per object generation (guards against a write loop if the server rewrites status).
const MAX_WRITES_PER_GENERATION: u32 = 20;

/// What [`Tracker`] asks the I/O loop to do.
#[derive(Debug, Clone, PartialEq)]
struct PatchRequest {
    kind: usize,
    namespace: Option<String>,
    name: String,
    patch: Value,
}

/// One watched object.
#[derive(Debug)]
struct Entry {
    kind: usize,
    fingerprint: String,
    first_seen: std::time::Instant,
    due: Option<std::time::Instant>,
    object: Value,
    writes: u32,
}

/// The simulator's memory, free of I/O: which generation of which object was first seen when.
#[derive(Debug, Default)]
struct Tracker {
    entries: HashMap<String, Entry>,
    /// Per watched kind: keys seen since the last watcher `Init` (a relist), to drop vanished objects.
    relisting: HashMap<usize, HashSet<String>>,
}

/// The key of an object: its uid, or `kind/namespace/name` without one.
fn object_key(kind: usize, object: &Value) -> String {
    let meta = object.get("metadata");
    match meta.and_then(|m| m.get("uid")).and_then(Value::as_str) {
        Some(uid) => uid.to_string(),
        None => {
            let ns = meta
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("{kind}/{ns}/{}", name_of(object))
        }
    }
}

/// What restarts the rollout clock: the generation, or the spec for kinds without one.
fn fingerprint(object: &Value) -> String {
    match generation_of(object) {
        Some(g) => format!("g{g}"),
        None => format!("s{}", safe_hash(object.get("spec"))),
    }
}

impl Tracker {
    /// Records an object from the watch and decides what to write now.
    fn observe(
        &mut self,
        kind: usize,
        object: Value,
        now: std::time::Instant,
        opts: &SimulatorOptions,
    ) -> Option<PatchRequest> {
        let key = object_key(kind, &object);
        if let Some(seen) = self.relisting.get_mut(&kind) {
            seen.insert(key.clone());
        }
        let print = fingerprint(&object);
        match self.entries.get_mut(&key) {
            Some(e) => {
                if e.fingerprint != print {
                    e.fingerprint = print;
                    e.first_seen = now;
                    e.writes = 0;
                }
                e.object = object;
            }
            None => {
                if self.entries.len() >= MAX_TRACKED {
                    self.evict_oldest();
                }
                self.entries.insert(
                    key.clone(),
                    Entry {
                        kind,
                        fingerprint: print,
                        first_seen: now,
                        due: None,
                        object,
                        writes: 0,
                    },
                );
            }
        }
        self.step(&key, now, opts)
    }

    /// Forgets a deleted object.
    fn forget(&mut self, kind: usize, object: &Value) {
        self.entries.remove(&object_key(kind, object));
    }

    /// A relist of `kind` started.
    fn relist_started(&mut self, kind: usize) {
        self.relisting.insert(kind, HashSet::new());
    }

    /// A relist of `kind` finished: objects of that kind it did not mention are gone.
    fn relist_done(&mut self, kind: usize) {
        if let Some(seen) = self.relisting.remove(&kind) {
            self.entries
                .retain(|k, e| e.kind != kind || seen.contains(k));
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.first_seen)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.entries.remove(&k);
        }
    }

    /// The earliest pending recheck.
    fn next_due(&self) -> Option<std::time::Instant> {
        self.entries.values().filter_map(|e| e.due).min()
    }

    /// Runs every recheck that is due.
    fn due_steps(&mut self, now: std::time::Instant, opts: &SimulatorOptions) -> Vec<PatchRequest> {
        let due: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.due.is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        due.iter().filter_map(|k| self.step(k, now, opts)).collect()
    }

    /// Simulates one tracked object and records its next recheck.
    fn step(
        &mut self,
        key: &str,
        now: std::time::Instant,
        opts: &SimulatorOptions,
    ) -> Option<PatchRequest> {
        let e = self.entries.get_mut(key)?;
        e.due = None;
        let since = now.saturating_duration_since(e.first_seen);
        let mut request = None;
        for step in simulate(&e.object, since, opts) {
            match step {
                Step::Idle => {}
                Step::RecheckAfter(d) => e.due = now.checked_add(d),
                Step::SetStatus(status) => {
                    if e.writes >= MAX_WRITES_PER_GENERATION {
                        continue;
                    }
                    e.writes += 1;
                    let old = e.object.get("status").unwrap_or(&Value::Null);
                    let meta = e.object.get("metadata");
                    request = Some(PatchRequest {
                        kind: e.kind,
                        namespace: meta
                            .and_then(|m| m.get("namespace"))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        name: name_of(&e.object).to_string(),
                        patch: status_merge_patch(old, &status),
                    });
                }
            }
        }
        request
    }
}

/// The kinds the simulator watches.
fn watched_kinds() -> Vec<kube::core::ApiResource> {
    use k8s_openapi::api::{apps, batch, core};
    use kube::core::ApiResource;
    vec![
        ApiResource::erase::<apps::v1::Deployment>(&()),
        ApiResource::erase::<apps::v1::StatefulSet>(&()),
        ApiResource::erase::<apps::v1::DaemonSet>(&()),
        ApiResource::erase::<batch::v1::Job>(&()),
        ApiResource::erase::<core::v1::Service>(&()),
        ApiResource::erase::<core::v1::PersistentVolumeClaim>(&()),
    ]
}

/// A watched object as JSON, with `apiVersion`/`kind` filled in when the server left them out.
fn object_json(obj: &kube::core::DynamicObject, ar: &kube::core::ApiResource) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.entry("apiVersion")
            .or_insert_with(|| json!(ar.api_version));
        m.entry("kind").or_insert_with(|| json!(ar.kind));
    }
    v
}

/// How long one status write may take before it is abandoned.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the simulator against a cluster through `client` until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    opts: SimulatorOptions,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    use futures::StreamExt;
    use kube::api::{Api, Patch, PatchParams};
    use kube::core::DynamicObject;
    use kube::runtime::{WatchStreamExt, watcher};

    let kinds = watched_kinds();
    let streams = kinds.iter().enumerate().map(|(i, ar)| {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        watcher(api, watcher::Config::default())
            .default_backoff()
            .map(move |event| (i, event))
            .boxed()
    });
    let mut events = futures::stream::select_all(streams);
    let mut tracker = Tracker::default();
    let params = PatchParams {
        field_manager: Some("flotilla-simulator".into()),
        ..PatchParams::default()
    };
    let shutdown = shutdown;
    tokio::pin!(shutdown);
    loop {
        let due = tracker.next_due();
        let wake = async move {
            match due {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        let mut requests = Vec::new();
        tokio::select! {
            _ = &mut shutdown => break,
            event = events.next() => {
                let Some((kind, event)) = event else { break };
                let Some(ar) = kinds.get(kind) else { continue };
                let now = std::time::Instant::now();
                match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                        requests.extend(tracker.observe(kind, object_json(&o, ar), now, &opts));
                    }
                    Ok(watcher::Event::Delete(o)) => tracker.forget(kind, &object_json(&o, ar)),
                    Ok(watcher::Event::Init) => tracker.relist_started(kind),
                    Ok(watcher::Event::InitDone) => tracker.relist_done(kind),
                    Err(e) => tracing::debug!(kind = %ar.kind, error = %e, "simulator watch error"),
                }
            }
            _ = wake => requests.extend(tracker.due_steps(std::time::Instant::now(), &opts)),
        }
        for r in requests {
            let Some(ar) = kinds.get(r.kind) else {
                continue;
            };
            let api: Api<DynamicObject> = match &r.namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
                None => Api::all_with(client.clone(), ar),
            };
            let patch = Patch::Merge(&r.patch);
            let write = api.patch_status(&r.name, &params, &patch);
            match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                Ok(Ok(_)) => {
                    tracing::debug!(kind = %ar.kind, name = %r.name, "simulator wrote status")
                }
                Ok(Err(e)) => {
                    tracing::debug!(kind = %ar.kind, name = %r.name, error = %e, "simulator status write failed")
                }
                Err(_) => {
                    tracing::debug!(kind = %ar.kind, name = %r.name, "simulator status write timed out")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
