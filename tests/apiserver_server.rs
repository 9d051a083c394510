//! The multi-cluster `Server`: isolated clusters, the kubeconfig it writes, the HTTP fault endpoint
//! and shutdown.

use crate::common;

use std::time::Duration;

use common::{PATIENCE, TcpServer, configmap, raw};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchParams};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_of_one_server_are_isolated() {
    let s = TcpServer::start_many(&["dev", "staging"], common::quiet_options()).await;
    let names: Vec<_> = s
        .server
        .clusters()
        .iter()
        .map(|c| c.cluster.name().to_string())
        .collect();
    assert_eq!(names, ["dev", "staging"]);
    let dev: Api<ConfigMap> = Api::default_namespaced(s.client_for("dev").await);
    let staging: Api<ConfigMap> = Api::default_namespaced(s.client_for("staging").await);
    let count_before = s.server.clusters()[1].cluster.object_count();
    dev.create(&PostParams::default(), &configmap("only-in-dev", &[], &[]))
        .await
        .unwrap();
    assert!(dev.get_opt("only-in-dev").await.unwrap().is_some());
    assert!(
        staging.get_opt("only-in-dev").await.unwrap().is_none(),
        "staging must not see dev's object"
    );
    assert_eq!(s.server.clusters()[1].cluster.object_count(), count_before);
    assert_eq!(
        s.server.clusters()[0].cluster.object_count(),
        count_before + 1,
        "dev's count grew by one"
    );
    // Same name, different objects.
    staging
        .create(
            &PostParams::default(),
            &configmap("only-in-dev", &[], &[("from", "staging")]),
        )
        .await
        .unwrap();
    let d = dev.get("only-in-dev").await.unwrap();
    let st = staging.get("only-in-dev").await.unwrap();
    assert_ne!(d.metadata.uid, st.metadata.uid);
    assert!(d.data.unwrap_or_default().is_empty());
    // Faults are per cluster too.
    s.server.clusters()[0]
        .cluster
        .faults()
        .fail_next(1, 500, None);
    staging
        .get("only-in-dev")
        .await
        .expect("staging unaffected by dev's fault");
    assert!(
        dev.get("only-in-dev").await.is_err(),
        "dev's next request fails"
    );
    // And the in-process routers agree.
    let in_proc = kube::Client::new(s.server.clusters()[1].cluster.router(), "default");
    let st2 = Api::<ConfigMap>::default_namespaced(in_proc)
        .get("only-in-dev")
        .await
        .unwrap();
    assert_eq!(st2.metadata.uid, st.metadata.uid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_has_one_context_per_cluster() {
    let s = TcpServer::start_many(&["dev", "staging", "production"], common::quiet_options()).await;
    let kc: Value = serde_saphyr::from_str(&s.server.kubeconfig()).expect("kubeconfig is YAML");
    assert_eq!(kc["kind"], "Config");
    assert_eq!(kc["current-context"], "dev");
    let mut ports = std::collections::BTreeSet::new();
    for rc in s.server.clusters() {
        let name = rc.cluster.name();
        assert!(rc.addr.ip().is_loopback(), "{}", rc.addr);
        assert!(
            ports.insert(rc.addr.port()),
            "each cluster has its own port"
        );
        assert_eq!(rc.url(), format!("http://127.0.0.1:{}", rc.addr.port()));
        let find = |list: &str| {
            kc[list]
                .as_array()
                .and_then(|a| a.iter().find(|e| e["name"] == name).cloned())
                .unwrap_or_else(|| panic!("no {list} entry named {name}: {kc}"))
        };
        let ctx = find("contexts");
        assert_eq!(ctx["context"]["cluster"], name);
        assert_eq!(ctx["context"]["user"], name);
        assert_eq!(ctx["context"]["namespace"], "default");
        // The server URL may carry a path (the implementation puts the token there for kubectl).
        let server = find("clusters")["cluster"]["server"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            server.starts_with(&rc.url()),
            "{server} is not under {}",
            rc.url()
        );
        assert_eq!(find("users")["user"]["token"], rc.token.as_str());
        assert!(rc.token.len() >= 16, "token is random and long enough");
    }
    let tokens: std::collections::BTreeSet<_> = s
        .server
        .clusters()
        .iter()
        .map(|c| c.token.clone())
        .collect();
    assert_eq!(tokens.len(), 3, "a token per cluster");
    // The written file equals kubeconfig() and is private.
    assert_eq!(
        std::fs::read_to_string(&s.kubeconfig).unwrap(),
        s.server.kubeconfig()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&s.kubeconfig)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // Rewriting over an existing file works (atomic replace).
    s.server.write_kubeconfig(&s.kubeconfig).unwrap();
    // Every context works with kube-rs.
    for name in ["dev", "staging", "production"] {
        let client = s.client_for(name).await;
        let v = client.apiserver_version().await.expect("version");
        assert_eq!(v.major, "1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_fault_endpoint_over_http() {
    let s = TcpServer::start(common::quiet_options()).await;
    // kube's TCP stack retries 429 by default; turn that off to see the injected answers.
    let client = s.client_without_retry().await;
    let post = |body: &'static str| {
        let client = client.clone();
        async move {
            raw(
                &client,
                "POST",
                "/flotilla/admin/faults",
                Some("application/json"),
                body.as_bytes().to_vec(),
            )
            .await
        }
    };
    let r = post(r#"{"failNext":{"count":2,"status":429,"retryAfterSeconds":1}}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ok"], true);
    for _ in 0..2 {
        let r = raw(
            &client,
            "GET",
            "/api/v1/namespaces/default/configmaps",
            None,
            vec![],
        )
        .await;
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["code"], 429, "{}", r.text());
        assert_eq!(
            r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1"),
            "429 carries Retry-After"
        );
    }
    let r = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "only two requests fail");

    // closeWatches ends an open watch cleanly.
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let r = post(r#"{"closeWatches":true}"#).await;
    assert_eq!(r.status, 200);
    let end = tokio::time::timeout(PATIENCE, async {
        while let Some(ev) = stream.next().await {
            ev.expect("clean end, no error");
        }
    })
    .await;
    assert!(end.is_ok(), "watch stream ended after closeWatches");

    // compactHistory: a watch from an old RV gets an ERROR 410 event inside a 200 response.
    let cm = api
        .create(&PostParams::default(), &configmap("c1", &[], &[]))
        .await
        .unwrap();
    let old_rv = cm.metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &configmap("c2", &[], &[]))
        .await
        .unwrap();
    let r = post(r#"{"compactHistory":true,"latencyMs":0}"#).await;
    assert_eq!(r.status, 200);
    let mut stream = api
        .watch(&WatchParams::default(), &old_rv)
        .await
        .expect("200 response")
        .boxed();
    let first = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("an event")
        .expect("not ended");
    match first {
        Ok(kube::api::WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 410),
        other => panic!("expected ERROR 410, got {other:?}"),
    }

    let r = post(r#"{"bogus":1"#).await;
    assert_eq!(r.status, 400, "malformed fault request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_watches_and_closes_ports() {
    let s = TcpServer::start_many(&["dev", "staging"], common::quiet_options()).await;
    let client = s.client().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let addrs: Vec<_> = s.server.clusters().iter().map(|c| c.addr).collect();
    let TcpServer { server, dir, .. } = s;
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("shutdown completes with an open watch");
    let ended = tokio::time::timeout(PATIENCE, async {
        while let Some(ev) = stream.next().await {
            if ev.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the open watch ends on shutdown");
    for addr in addrs {
        let connect =
            tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
                .await;
        assert!(
            matches!(connect, Ok(Err(_))),
            "{addr} still accepts connections"
        );
    }
    drop(dir);
}
