//! A kube-runtime `watcher` (with `.default_backoff()`) survives the server closing watches,
//! history compaction and a burst of 500s, and ends up with exactly the store's state: no lost update.
//! Each check runs in-process and over TCP.

use crate::common;

use std::time::Duration;

use common::{Env, TrackedWatch, configmap};
use flotilla::apiserver::ClusterOptions;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

fn options() -> ClusterOptions {
    common::quiet_options()
}

both_transports!(options;
    survives_closed_watches_without_losing_updates,
    compaction_relists_once_without_hot_loop,
    survives_five_500s_with_backoff,
);

const SUITE: &str = "suite=faults";

fn selector() -> ListParams {
    ListParams::default().labels(SUITE)
}

fn start_watch(env: &Env) -> TrackedWatch {
    let api: Api<ConfigMap> = Api::default_namespaced(env.traced.clone());
    TrackedWatch::start(api, watcher::Config::default().labels(SUITE), true)
}

async fn seed(api: &Api<ConfigMap>, n: usize) {
    for i in 0..n {
        api.create(
            &PostParams::default(),
            &configmap(&format!("f-{i}"), &[("suite", "faults")], &[("v", "0")]),
        )
        .await
        .expect("seed object");
    }
}

/// Retries a write while the server answers with injected 5xx (or 429); returns how many attempts
/// failed that way.
async fn retrying<T, F, Fut>(mut write: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    for failed in 0..50 {
        match write().await {
            Ok(_) => return failed,
            Err(kube::Error::Api(s)) if s.code >= 500 || s.code == 429 => continue,
            Err(e) => panic!("write failed with a non-injected error: {e:?}"),
        }
    }
    panic!("write kept failing")
}

async fn survives_closed_watches_without_losing_updates(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    seed(&api, 4).await;
    let tracked = start_watch(&env);
    tracked.wait_ready().await;
    let faults = env.cluster.faults();
    for round in 1..=5 {
        faults.close_watches();
        // Writes race the watcher's reconnect; none may be lost.
        api.patch(
            &format!("f-{}", round % 4),
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": round.to_string()}})),
        )
        .await
        .unwrap();
        api.create(
            &PostParams::default(),
            &configmap(&format!("g-{round}"), &[("suite", "faults")], &[]),
        )
        .await
        .unwrap();
        if round % 2 == 0 {
            api.delete(&format!("g-{}", round - 1), &DeleteParams::default())
                .await
                .unwrap();
        }
    }
    tracked.wait_matches_store(&api, &selector()).await;
    assert_eq!(
        tracked.inits(),
        1,
        "a cleanly closed watch resumes without re-listing"
    );
}

async fn compaction_relists_once_without_hot_loop(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    seed(&api, 3).await;
    let tracked = start_watch(&env);
    tracked.wait_ready().await;
    // The initial list is done, but the watch that follows it may still be on its way to the
    // server, where close_watches would miss it (it would then see every change live and never
    // get the 410). A change reaching the cache proves the watch is open.
    api.patch(
        "f-2",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "watched"}})),
    )
    .await
    .unwrap();
    tracked.wait_matches_store(&api, &selector()).await;
    let faults = env.cluster.faults();

    env.log.hold_watches();
    let before = env.log.len();
    faults.close_watches();
    api.patch(
        "f-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "1"}})),
    )
    .await
    .unwrap();
    api.delete("f-1", &DeleteParams::default()).await.unwrap();
    api.create(
        &PostParams::default(),
        &configmap("f-new", &[("suite", "faults")], &[]),
    )
    .await
    .unwrap();
    faults.compact_history();
    env.log.release_watches();

    tracked.wait_matches_store(&api, &selector()).await;
    assert_eq!(
        tracked.inits(),
        2,
        "the watch from a compacted RV must get ERROR 410 and re-list exactly once"
    );
    let settled = env.log.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let extra = env.log.since(settled);
    assert!(
        extra.len() <= 2,
        "watcher keeps hammering the server: {extra:#?}"
    );
    let after = env.log.since(before);
    let lists = after.iter().filter(|r| r.is_list_of("configmaps")).count();
    let watches = after.iter().filter(|r| r.is_watch_of("configmaps")).count();
    assert_eq!(lists, 1, "one re-list: {after:#?}");
    assert!(
        watches <= 3,
        "few watch requests, saw {watches}: {after:#?}"
    );
    assert!(
        after.iter().all(|r| r.status < 400),
        "410 must come as an ERROR event in a 200 stream: {after:#?}"
    );
}

async fn survives_five_500s_with_backoff(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    seed(&api, 3).await;
    let tracked = start_watch(&env);
    tracked.wait_ready().await;
    let faults = env.cluster.faults();

    let before = env.log.len();
    faults.fail_next(5, 500, None);
    faults.close_watches();
    // Let the watcher run into at least one injected failure before writing.
    let log = env.log.clone();
    common::wait_until(
        "the watcher to hit an injected 500",
        common::PATIENCE,
        || {
            let log = log.clone();
            async move {
                log.since(before)
                    .iter()
                    .any(|r| r.status == 500)
                    .then_some(())
            }
        },
    )
    .await;
    // Writes during the fault window (they may meet injected 500s too and retry).
    let mut writer_failures = 0;
    for i in 0..3 {
        let name = format!("f-{i}");
        writer_failures += retrying(|| {
            let (api, name) = (api.clone(), name.clone());
            async move {
                api.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"v": "during"}})),
                )
                .await
            }
        })
        .await;
    }
    writer_failures += retrying(|| {
        let api = api.clone();
        async move {
            api.create(
                &PostParams::default(),
                &configmap("f-during", &[("suite", "faults")], &[]),
            )
            .await
        }
    })
    .await;
    writer_failures += retrying(|| {
        let api = api.clone();
        async move { api.delete("f-2", &DeleteParams::default()).await }
    })
    .await;

    tracked.wait_matches_store(&api, &selector()).await;
    let watcher_failures = env
        .log
        .since(before)
        .iter()
        .filter(|r| r.status == 500)
        .count();
    assert!(watcher_failures >= 1);
    assert_eq!(
        watcher_failures + writer_failures,
        5,
        "exactly five requests fail (watcher saw {watcher_failures}, writer {writer_failures})"
    );
    assert!(
        tracked.tracker.lock().unwrap().errors >= 1,
        "the watcher surfaced the failures as errors"
    );
}

/// A watcher that stops reading must not block writers; once it falls behind the server's buffers it
/// gets an ERROR 410 (then a kube-runtime watcher would re-list).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_watch_does_not_block_writers_and_expires() {
    use futures::StreamExt;
    let (cluster, client) = common::in_process(common::quiet_options());
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(
        &PostParams::default(),
        &configmap("hot", &[], &[("n", "0")]),
    )
    .await
    .unwrap();
    let mut stalled = api
        .watch(&kube::api::WatchParams::default(), "0")
        .await
        .expect("watch opens")
        .boxed();
    // Far more changes than any sane per-watch buffer; written straight into the router.
    let router = cluster.router();
    let writes = tokio::time::timeout(common::PATIENCE * 4, async {
        for i in 0..10_000 {
            let body = format!("{{\"data\":{{\"n\":\"{i}\"}}}}");
            let r = common::raw_router(
                &router,
                "PATCH",
                "/api/v1/namespaces/default/configmaps/hot",
                &[("content-type", "application/merge-patch+json")],
                body.into_bytes(),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
    })
    .await;
    assert!(
        writes.is_ok(),
        "writers were blocked by a watch that stopped reading"
    );
    // Now drain: the stream must end in an ERROR 410 (or Status error), not silently skip events.
    let mut last_n: i64 = -1;
    let mut skipped = false;
    let mut expired = false;
    while let Some(ev) = tokio::time::timeout(common::PATIENCE, stalled.next())
        .await
        .expect("the stalled watch either delivers or ends")
    {
        match ev {
            Ok(kube::api::WatchEvent::Added(o)) | Ok(kube::api::WatchEvent::Modified(o)) => {
                let n: i64 = o.data.unwrap_or_default()["n"].parse().unwrap();
                if last_n >= 0 && n != last_n + 1 {
                    skipped = true;
                }
                last_n = n;
            }
            Ok(kube::api::WatchEvent::Error(e)) => {
                assert_eq!(e.code, 410, "{e:?}");
                expired = true;
                break;
            }
            Err(kube::Error::Api(s)) if s.code == 410 => {
                expired = true;
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("unexpected watch error {e:?}"),
        }
        if last_n == 9_999 {
            break;
        }
    }
    eprintln!("stalled watch: last n {last_n}, expired {expired}");
    assert!(!skipped, "a watch must never silently skip events");
    assert!(
        expired || last_n == 9_999,
        "the stalled watch neither caught up nor expired (last n = {last_n})"
    );
}
