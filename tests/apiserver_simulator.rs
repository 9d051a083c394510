//! The workload simulator: Deployments become Available, a `broken` image never does, Jobs complete.
//! Uses a short rollout delay and generous polling; never asserts timings.

use crate::common;

use std::time::Duration;

use common::{PATIENCE, wait_until};
use flotilla::apiserver::ClusterOptions;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn simulated() -> ClusterOptions {
    ClusterOptions {
        simulate: true,
        rollout_delay: Duration::from_millis(200),
        ..ClusterOptions::default()
    }
}

fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "main", "image": image}]}}
        }
    }))
    .expect("valid deployment")
}

fn condition<'a>(
    d: &'a Deployment,
    type_: &str,
) -> Option<&'a k8s_openapi::api::apps::v1::DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

async fn wait_available(api: &Api<Deployment>, name: &str, replicas: i32) -> Deployment {
    wait_until(
        &format!("deployment {name} Available with {replicas} ready"),
        PATIENCE * 2,
        || async {
            let d = api.get(name).await.ok()?;
            let s = d.status.as_ref()?;
            let available = condition(&d, "Available").is_some_and(|c| c.status == "True");
            let done = s.ready_replicas.unwrap_or(0) == replicas
                && s.available_replicas.unwrap_or(0) == replicas
                && s.updated_replicas.unwrap_or(0) == replicas
                && s.observed_generation == d.metadata.generation;
            (available && done).then_some(d)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_becomes_available_and_follows_scaling() {
    let cluster = flotilla::apiserver::Cluster::new(simulated()).expect("cluster");
    let client = Client::new(cluster.router(), "default");
    let api: Api<Deployment> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &deployment("web", "nginx:1.27", 3))
        .await
        .expect("created");
    let d = wait_available(&api, "web", 3).await;
    let progressing = condition(&d, "Progressing").expect("Progressing condition");
    assert_eq!(progressing.status, "True");
    assert_eq!(d.status.unwrap().replicas, Some(3));

    // A spec change rolls out again and converges on the new replica count.
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .expect("scaled");
    wait_available(&api, "web", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_image_ends_with_progress_deadline_exceeded() {
    let cluster = flotilla::apiserver::Cluster::new(simulated()).expect("cluster");
    let client = Client::new(cluster.router(), "default");
    let api: Api<Deployment> = Api::default_namespaced(client);
    api.create(
        &PostParams::default(),
        &deployment("bad", "registry.example/app:broken-1", 2),
    )
    .await
    .expect("created");
    let d = wait_until(
        "Progressing=False ProgressDeadlineExceeded",
        PATIENCE * 2,
        || async {
            let d = api.get("bad").await.ok()?;
            condition(&d, "Progressing")
                .is_some_and(|c| {
                    c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
                })
                .then_some(d)
        },
    )
    .await;
    let s = d.status.clone().unwrap();
    assert!(
        s.ready_replicas.unwrap_or(0) < 2,
        "a broken rollout must not report all replicas ready: {s:?}"
    );
    assert!(
        condition(&d, "Available")
            .is_none_or(|c| c.status != "True" || s.available_replicas.unwrap_or(0) < 2),
        "broken deployment must not be fully available: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_completes() {
    let cluster = flotilla::apiserver::Cluster::new(simulated()).expect("cluster");
    let client = Client::new(cluster.router(), "default");
    let api: Api<Job> = Api::default_namespaced(client);
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "default"},
        "spec": {"completions": 1, "backoffLimit": 0,
                 "template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "m", "image": "busybox:1", "command": ["true"]}]}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &job)
        .await
        .expect("created");
    let done = wait_until("job Complete", PATIENCE * 2, || async {
        let j = api.get("migrate").await.ok()?;
        let s = j.status.clone()?;
        s.conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")
            .then_some(j)
    })
    .await;
    let s = done.status.unwrap();
    assert_eq!(s.succeeded, Some(1));
    assert!(s.completion_time.is_some(), "completionTime set");
    // kube-runtime's own condition agrees.
    use kube::runtime::wait::{Condition, conditions::is_job_completed};
    let j = api.get("migrate").await.unwrap();
    assert!(is_job_completed().matches_object(Some(&j)));
}
