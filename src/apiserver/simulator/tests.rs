//! Timelines for the pure simulator and its tracker.

use super::*;

const NOW: &str = "2026-01-01T00:00:00Z";
const LATER: &str = "2026-01-01T00:05:00Z";

fn opts() -> SimulatorOptions {
    SimulatorOptions::default()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn deployment(generation: i64, replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-web", "generation": generation},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}
    })
}

/// The status a step list writes, if any.
fn written(steps: &[Step]) -> Option<Value> {
    steps.iter().find_map(|s| match s {
        Step::SetStatus(v) => Some(v.clone()),
        _ => None,
    })
}

fn recheck(steps: &[Step]) -> Option<Duration> {
    steps.iter().find_map(|s| match s {
        Step::RecheckAfter(d) => Some(*d),
        _ => None,
    })
}

fn cond<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// Applies a step's status to the object, as the server would.
fn with_status(mut object: Value, status: Value) -> Value {
    object["status"] = status;
    object
}

#[test]
fn deployment_rolls_out_after_the_delay() {
    let d = deployment(1, 3, "nginx:1.27");
    let steps = simulate_at(&d, secs(0), &opts(), NOW);
    let s = written(&steps).expect("progress status");
    assert_eq!(recheck(&steps), Some(secs(2)));
    assert_eq!(s["observedGeneration"], 1);
    assert_eq!(s["replicas"], 3);
    assert_eq!(s["updatedReplicas"], 3);
    assert_eq!(s["unavailableReplicas"], 3);
    assert!(s.get("readyReplicas").is_none() && s.get("availableReplicas").is_none());
    assert_eq!(cond(&s, "Available")["status"], "False");
    assert_eq!(
        cond(&s, "Available")["reason"],
        "MinimumReplicasUnavailable"
    );
    assert_eq!(cond(&s, "Progressing")["reason"], "NewReplicaSetCreated");
    assert_eq!(cond(&s, "Progressing")["lastTransitionTime"], NOW);
    assert_eq!(cond(&s, "Progressing")["lastUpdateTime"], NOW);

    // The controller then reports the ReplicaSet as progressing, and after that has nothing to write.
    let d = with_status(d, s);
    let steps = simulate_at(&d, secs(1), &opts(), LATER);
    let s = written(&steps).expect("ReplicaSetUpdated");
    assert_eq!(cond(&s, "Progressing")["reason"], "ReplicaSetUpdated");
    assert_eq!(
        cond(&s, "Progressing")["lastTransitionTime"],
        NOW,
        "status unchanged"
    );
    assert_eq!(
        cond(&s, "Progressing")["lastUpdateTime"],
        LATER,
        "reason changed"
    );
    assert_eq!(recheck(&steps), Some(secs(1)));
    let d = with_status(d, s);
    let steps = simulate_at(&d, secs(1), &opts(), LATER);
    assert_eq!(steps, vec![Step::RecheckAfter(secs(1))]);

    // Converged.
    let steps = simulate_at(&d, secs(2), &opts(), LATER);
    let s = written(&steps).expect("converged");
    assert_eq!(recheck(&steps), None);
    for k in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        assert_eq!(s[k], 3, "{k}");
    }
    assert!(s.get("unavailableReplicas").is_none());
    assert_eq!(cond(&s, "Available")["status"], "True");
    assert_eq!(cond(&s, "Available")["reason"], "MinimumReplicasAvailable");
    assert_eq!(cond(&s, "Available")["lastTransitionTime"], LATER);
    assert_eq!(cond(&s, "Progressing")["reason"], "NewReplicaSetAvailable");
    assert_eq!(cond(&s, "Progressing")["status"], "True");

    // Once converged, nothing more — even for a restarted simulator whose clock says 0.
    let d = with_status(d, s.clone());
    assert_eq!(simulate_at(&d, secs(100), &opts(), LATER), vec![Step::Idle]);
    assert_eq!(simulate_at(&d, secs(0), &opts(), LATER), vec![Step::Idle]);
    // The merge patch removes the stale unavailableReplicas.
    let old = json!({"unavailableReplicas": 3, "replicas": 3});
    assert_eq!(
        status_merge_patch(&old, &s)["status"]["unavailableReplicas"],
        Value::Null
    );
}

#[test]
fn generation_bump_restarts_the_rollout() {
    let d = deployment(1, 2, "nginx:1.27");
    let s = written(&simulate_at(&d, secs(5), &opts(), NOW)).expect("converged");
    let mut d = with_status(d, s);
    d["metadata"]["generation"] = json!(2);
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    let steps = simulate_at(&d, secs(0), &opts(), LATER);
    let s = written(&steps).expect("rolling update");
    assert_eq!(s["observedGeneration"], 2);
    // Old pods stay available while a surge pod rolls out.
    assert_eq!(s["availableReplicas"], 2);
    assert_eq!(s["updatedReplicas"], 1);
    assert_eq!(s["replicas"], 3);
    assert!(s.get("unavailableReplicas").is_none());
    assert_eq!(cond(&s, "Available")["status"], "True");
    assert_eq!(
        cond(&s, "Available")["lastTransitionTime"],
        NOW,
        "kept: still True"
    );
    assert_eq!(cond(&s, "Progressing")["reason"], "NewReplicaSetCreated");
    assert_eq!(recheck(&steps), Some(secs(2)));
    let d = with_status(d, s);
    let s = written(&simulate_at(&d, secs(2), &opts(), LATER)).expect("converged again");
    assert_eq!(s["observedGeneration"], 2);
    assert_eq!(s["updatedReplicas"], 2);
}

#[test]
fn broken_image_exceeds_the_progress_deadline() {
    let d = deployment(1, 1, "registry.local:5000/app:v2-broken");
    assert_eq!(progress_deadline(&d, &opts()), secs(6));
    let steps = simulate_at(&d, secs(3), &opts(), NOW);
    let s = written(&steps).expect("progressing");
    assert_eq!(recheck(&steps), Some(secs(3)));
    assert_eq!(cond(&s, "Progressing")["status"], "True");
    let d = with_status(d, s);
    let steps = simulate_at(&d, secs(6), &opts(), LATER);
    let s = written(&steps).expect("failed");
    assert!(s.get("readyReplicas").is_none(), "never ready");
    assert_eq!(s["unavailableReplicas"], 1);
    assert_eq!(cond(&s, "Progressing")["status"], "False");
    assert_eq!(
        cond(&s, "Progressing")["reason"],
        "ProgressDeadlineExceeded"
    );
    assert_eq!(
        cond(&s, "Available")["reason"],
        "MinimumReplicasUnavailable"
    );
    let d = with_status(d, s);
    assert_eq!(simulate_at(&d, secs(60), &opts(), LATER), vec![Step::Idle]);
    assert_eq!(
        simulate_at(&d, secs(0), &opts(), LATER),
        vec![Step::Idle],
        "failure is sticky"
    );

    // A short spec deadline wins; a zero delay still waits a second.
    let mut d = deployment(1, 1, "app:broken");
    d["spec"]["progressDeadlineSeconds"] = json!(2);
    assert_eq!(progress_deadline(&d, &opts()), secs(2));
    let fast = SimulatorOptions {
        rollout_delay: Duration::ZERO,
    };
    assert_eq!(
        progress_deadline(&deployment(1, 1, "a:broken"), &fast),
        secs(1)
    );
    // Only the tag counts.
    assert!(!template_is_broken(Some(
        &json!({"spec": {"containers": [{"image": "broken/app:v1"}]}})
    )));
    assert!(template_is_broken(Some(
        &json!({"spec": {"initContainers": [{"image": "app:broken@sha256:ab"}]}})
    )));
    assert!(!template_is_broken(Some(
        &json!({"spec": {"containers": [{"image": "app@sha256:broken"}]}})
    )));
}

#[test]
fn scale_to_zero_converges_at_once() {
    let d = deployment(3, 0, "app:broken");
    let steps = simulate_at(&d, secs(0), &opts(), NOW);
    let s = written(&steps).expect("status");
    assert_eq!(recheck(&steps), None);
    assert_eq!(s["observedGeneration"], 3);
    assert!(s.get("replicas").is_none() && s.get("availableReplicas").is_none());
    assert_eq!(cond(&s, "Available")["status"], "True");
    assert_eq!(cond(&s, "Progressing")["reason"], "NewReplicaSetAvailable");
}

#[test]
fn recreate_strategy_drops_old_pods() {
    let mut d = deployment(1, 2, "app:1");
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    let s = written(&simulate_at(&d, secs(9), &opts(), NOW)).expect("converged");
    let mut d = with_status(d, s);
    d["metadata"]["generation"] = json!(2);
    let s = written(&simulate_at(&d, secs(0), &opts(), NOW)).expect("progress");
    assert!(s.get("availableReplicas").is_none());
    assert_eq!(cond(&s, "Available")["status"], "False");
}

#[test]
fn statefulset_timeline() {
    let sts = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "generation": 1},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "postgres:16"}]}}}
    });
    let steps = simulate_at(&sts, secs(0), &opts(), NOW);
    let s = written(&steps).expect("progress");
    assert_eq!(s["replicas"], 2);
    assert_eq!(s["availableReplicas"], 0);
    assert!(s.get("readyReplicas").is_none());
    assert_eq!(s["currentRevision"], s["updateRevision"]);
    assert!(
        s["updateRevision"]
            .as_str()
            .is_some_and(|r| r.starts_with("db-") && r.len() == 13)
    );
    let sts = with_status(sts, s);
    let s = written(&simulate_at(&sts, secs(2), &opts(), NOW)).expect("done");
    for k in [
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
        "availableReplicas",
    ] {
        assert_eq!(s[k], 2, "{k}");
    }
    let mut sts = with_status(sts, s);
    assert_eq!(simulate_at(&sts, secs(0), &opts(), NOW), vec![Step::Idle]);
    // A template change: the old revision stays current until the update finishes.
    sts["metadata"]["generation"] = json!(2);
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17-broken");
    let steps = simulate_at(&sts, secs(100), &opts(), NOW);
    let s = written(&steps).expect("stuck update");
    assert_eq!(recheck(&steps), None, "broken never settles");
    assert_ne!(s["currentRevision"], s["updateRevision"]);
    assert!(s.get("updatedReplicas").is_none());
}

#[test]
fn daemonset_timeline() {
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "generation": 4},
                    "spec": {"template": {"spec": {"containers": [{"image": "agent:1"}]}}}});
    let s = written(&simulate_at(&ds, secs(0), &opts(), NOW)).expect("progress");
    assert_eq!(s["desiredNumberScheduled"], 1);
    assert_eq!(s["numberReady"], 0);
    assert_eq!(s["numberUnavailable"], 1);
    let ds = with_status(ds, s);
    let s = written(&simulate_at(&ds, secs(2), &opts(), NOW)).expect("done");
    assert_eq!(s["numberReady"], 1);
    assert_eq!(s["numberAvailable"], 1);
    assert_eq!(s["updatedNumberScheduled"], 1);
    assert_eq!(s["observedGeneration"], 4);
    assert!(s.get("numberUnavailable").is_none());
}

#[test]
fn job_completes_once() {
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "generation": 1},
                     "spec": {"completions": 2, "parallelism": 1, "template": {"spec": {"containers": [{"image": "m:1"}]}}}});
    let steps = simulate_at(&job, secs(0), &opts(), NOW);
    let s = written(&steps).expect("running");
    assert_eq!(s["active"], 1);
    assert_eq!(s["startTime"], NOW);
    let job = with_status(job, s);
    let s = written(&simulate_at(&job, secs(2), &opts(), LATER)).expect("complete");
    assert_eq!(s["succeeded"], 2);
    assert_eq!(s["startTime"], NOW, "start time kept");
    assert_eq!(s["completionTime"], LATER);
    assert!(s.get("active").is_none());
    assert_eq!(cond(&s, "Complete")["status"], "True");
    assert_eq!(cond(&s, "Complete")["lastProbeTime"], LATER);
    assert_eq!(
        cond(&s, "SuccessCriteriaMet")["reason"],
        "CompletionsReached"
    );
    let job = with_status(job, s);
    assert_eq!(simulate_at(&job, secs(0), &opts(), LATER), vec![Step::Idle]);

    let suspended = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "s"}, "spec": {"suspend": true}});
    let s = written(&simulate_at(&suspended, secs(0), &opts(), NOW)).expect("suspended");
    assert_eq!(cond(&s, "Suspended")["reason"], "JobSuspended");
}

#[test]
fn services_pvcs_and_namespaces() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                     "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
    let steps = simulate_at(&svc, secs(0), &opts(), NOW);
    assert_eq!(steps, vec![Step::RecheckAfter(secs(2))]);
    let s = written(&simulate_at(&svc, secs(2), &opts(), NOW)).expect("ingress");
    let ip = s["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(ip.starts_with("127.0.0."), "{ip}");
    let octet: u32 = ip
        .rsplit('.')
        .next()
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    assert!((2..=254).contains(&octet));
    // Switching away from LoadBalancer clears the address.
    let mut svc = with_status(svc, s);
    assert_eq!(simulate_at(&svc, secs(0), &opts(), NOW), vec![Step::Idle]);
    svc["spec"]["type"] = json!("ClusterIP");
    let s = written(&simulate_at(&svc, secs(0), &opts(), NOW)).expect("cleared");
    assert_eq!(s, json!({"loadBalancer": {}}));
    assert_eq!(
        status_merge_patch(&svc["status"], &s),
        json!({"status": {"loadBalancer": {"ingress": null}}})
    );
    let plain =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {}});
    assert_eq!(simulate_at(&plain, secs(9), &opts(), NOW), vec![Step::Idle]);

    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    let s = written(&simulate_at(&pvc, secs(0), &opts(), NOW)).expect("pending");
    assert_eq!(s["phase"], "Pending");
    let s = written(&simulate_at(&pvc, secs(2), &opts(), NOW)).expect("bound");
    assert_eq!(
        s,
        json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}})
    );
    // A bound claim never goes back to Pending (e.g. after a resize or a simulator restart).
    let mut pvc = with_status(pvc, s);
    pvc["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
    let s = written(&simulate_at(&pvc, secs(0), &opts(), NOW)).expect("resized");
    assert_eq!(s["capacity"]["storage"], "2Gi");

    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
    assert_eq!(
        written(&simulate_at(&ns, secs(0), &opts(), NOW)),
        Some(json!({"phase": "Active"}))
    );
    let ns = with_status(ns, json!({"phase": "Active"}));
    assert_eq!(simulate_at(&ns, secs(0), &opts(), NOW), vec![Step::Idle]);
}

#[test]
fn deleting_and_unknown_objects_are_left_alone() {
    let mut d = deployment(1, 1, "a:1");
    d["metadata"]["deletionTimestamp"] = json!(NOW);
    assert_eq!(simulate_at(&d, secs(9), &opts(), NOW), vec![Step::Idle]);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(simulate_at(&cm, secs(9), &opts(), NOW), vec![Step::Idle]);
}

#[test]
fn arbitrary_json_never_panics() {
    let shapes = [
        json!(null),
        json!(42),
        json!("Deployment"),
        json!([]),
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": 5, "spec": "x", "status": []}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": "1", "name": 3},
               "spec": {"replicas": -5, "strategy": {"rollingUpdate": {"maxSurge": "abc%", "maxUnavailable": -1}},
                        "template": {"spec": {"containers": [7, {"image": 3}, {"image": ":"}]}}},
               "status": {"conditions": [1, {"type": 2}, {"type": "Progressing", "message": 4}],
                          "availableReplicas": "many"}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": i64::MAX},
               "spec": {"replicas": u64::MAX, "progressDeadlineSeconds": u64::MAX,
                        "strategy": {"rollingUpdate": {"maxSurge": "1000%", "maxUnavailable": "-5%"}}}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": 1.5}, "status": {"currentRevision": 1}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": null}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"completions": "x", "suspend": "yes"},
               "status": {"conditions": "done", "startTime": 5}}),
        json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": 1}, "status": {"loadBalancer": {"ingress": "x"}}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": {"accessModes": "RWO", "resources": 1}}),
        json!({"apiVersion": 1, "kind": ["x"]}),
    ];
    for o in &shapes {
        for since in [secs(0), secs(1), secs(10_000), Duration::MAX] {
            for o2 in [
                SimulatorOptions::default(),
                SimulatorOptions {
                    rollout_delay: Duration::MAX,
                },
            ] {
                let _ = simulate_at(o, since, &o2, NOW);
            }
        }
        let _ = simulate(o, secs(1), &opts());
    }
}

#[test]
fn tracker_restarts_the_clock_per_generation_and_caps_writes() {
    let start = std::time::Instant::now();
    let mut t = Tracker::default();
    let d = deployment(1, 1, "a:1");
    let r = t
        .observe(0, d.clone(), start, &opts())
        .expect("progress write");
    assert_eq!(r.namespace.as_deref(), Some("default"));
    assert_eq!(r.name, "web");
    assert_eq!(r.patch["status"]["observedGeneration"], 1);
    assert_eq!(t.next_due(), start.checked_add(secs(2)));
    // Nothing due yet; at the deadline the converged status is written.
    assert!(t.due_steps(start + secs(1), &opts()).is_empty());
    let writes = t.due_steps(start + secs(2), &opts());
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].patch["status"]["availableReplicas"], 1);
    assert_eq!(t.next_due(), None);

    // A new generation restarts the clock.
    let mut d2 = d.clone();
    d2["metadata"]["generation"] = json!(2);
    let later = start + secs(30);
    let r = t.observe(0, d2, later, &opts()).expect("new rollout");
    assert_eq!(r.patch["status"]["observedGeneration"], 2);
    assert_eq!(t.next_due(), later.checked_add(secs(2)));

    // Without the status ever being stored, writes stop at the cap.
    let mut n = 0;
    for i in 0..100 {
        if t.observe(
            0,
            deployment(2, 1, "a:1"),
            later + Duration::from_millis(i),
            &opts(),
        )
        .is_some()
        {
            n += 1;
        }
    }
    assert!(n < MAX_WRITES_PER_GENERATION as usize);

    // Deletes and relists forget objects.
    t.forget(0, &d);
    assert!(t.entries.is_empty());
    t.observe(0, deployment(1, 1, "a:1"), start, &opts());
    t.relist_started(0);
    t.relist_done(0);
    assert!(t.entries.is_empty());
}

#[test]
fn run_future_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: T) {}
    // Compile-time check only: the closure is never called (no cluster in unit tests).
    let _check = |c: kube::Client| assert_send(run(c, SimulatorOptions::default(), async {}));
}
