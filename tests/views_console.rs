//! The console's view fetchers (`ConsoleViews`, what the runtime runs for `t`, `x`, `D`, `T`)
//! against the embedded API server reconciled by the bundled controller: the tree's root cause is
//! the broken Deployment, the diff reads the controller's artifact (or says why it cannot), the
//! dependsOn report names the blocker and the trace of a plain Deployment finds its Kustomization.

use crate::views_e2e::{CONTEXT, Env, create, deployment, ks_api, kustomization};

use crate::common::gitrepo::{Repo, have_git};
use flotilla::cli::console::ConsoleViews;
use flotilla::cluster::{Clients, Contexts, KubeconfigSource};
use flotilla::model::row::RowKey;
use flotilla::model::tree::ObjectRef;
use flotilla::tui::report_view::{ReportData, ReportRequest};
use serde_json::json;

fn row(name: &str) -> RowKey {
    RowKey {
        context: CONTEXT.into(),
        kind: "Kustomization",
        namespace: "default".into(),
        name: name.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_views_find_the_broken_deployment_and_the_blocker() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "app/web.yaml",
        &deployment("web", "registry.local/web:v2-broken"),
    );
    repo.write("app/api.yaml", &deployment("api", "registry.local/api:v1"));
    repo.commit("broken web");
    let mut env = Env::start(&repo).await;
    let c = env.client.clone();
    create(
        &ks_api(&c),
        kustomization("apps", "./app", json!({"wait": true})),
    )
    .await;
    create(
        &ks_api(&c),
        kustomization("top", "./app", json!({"dependsOn": [{"name": "apps"}]})),
    )
    .await;
    env.wait_ready("apps", "False", "HealthCheckFailed").await;
    env.wait_ready("top", "False", "DependencyNotReady").await;

    let contexts =
        Contexts::load(&KubeconfigSource::from_env(Some(&env.kubeconfig)).unwrap()).unwrap();
    let clients = Clients::new(contexts);
    let views = ConsoleViews::new(clients.clone(), Some(env.data_dir().to_path_buf()));

    let fetched = views.health_tree(&row("apps")).await.expect("tree");
    assert!(fetched.warnings.is_empty(), "{:?}", fetched.warnings);
    let rc = fetched.value.root_cause.clone().expect("root cause");
    assert_eq!(rc.object.display(), "Deployment/apps/web");
    assert!(
        rc.message.contains("has timed out progressing"),
        "{}",
        rc.message
    );

    // The desired state from the controller's artifact: the broken image is what Git says.
    let report = views.diff(&row("apps")).await.expect("diff");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(!report.has_changes(), "{:?}", report.summary());
    // Without the data directory the artifact URL is the in-cluster one: a clear error.
    let remote = ConsoleViews::new(clients, None);
    let err = remote.diff(&row("apps")).await.expect_err("unreachable");
    assert!(
        err.contains("is not reachable from here") && err.contains("use flotilla diff --path"),
        "{err}"
    );

    let request = ReportRequest::DependsOn(row("top"));
    let Ok(ReportData::DependsOn(view)) = views.report(&request).await else {
        panic!("dependsOn report")
    };
    let blocker = view.blocked_by.clone().expect("blocked");
    assert_eq!(blocker.object.name, "apps");
    assert_eq!(blocker.reason, "HealthCheckFailed");

    let request = ReportRequest::Trace {
        context: CONTEXT.into(),
        object: ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: "apps".into(),
            name: "web".into(),
        },
    };
    let Ok(ReportData::Trace(trace)) = views.report(&request).await else {
        panic!("trace report")
    };
    assert!(trace.managed);
    assert!(
        trace.blocks[1]
            .fields
            .contains(&("Kustomization".to_string(), "apps".to_string())),
        "{trace:?}"
    );

    // A HelmRelease: its chart source and the objects carrying its owner labels.
    let hr_api = kube::Api::<kube::api::DynamicObject>::namespaced_with(
        c.clone(),
        "default",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
            "helmreleases",
        ),
    );
    create(
        &hr_api,
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "web", "namespace": "default"},
               "spec": {"interval": "5m", "suspend": true,
                        "chart": {"spec": {"chart": "podinfo", "version": "6.x",
                        "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}}),
    )
    .await;
    let cm_api = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(c.clone(), "apps");
    for (name, owner) in [("web-config", "web"), ("other-config", "other")] {
        let cm = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "apps",
            "labels": {"helm.toolkit.fluxcd.io/name": owner, "helm.toolkit.fluxcd.io/namespace": "default"}},
            "data": {"a": "b"}}))
        .unwrap();
        cm_api
            .create(&kube::api::PostParams::default(), &cm)
            .await
            .expect("configmap");
    }
    let key = RowKey {
        kind: "HelmRelease",
        ..row("web")
    };
    let fetched = views.health_tree(&key).await.expect("helm release tree");
    let text = flotilla::model::tree::render_text(&fetched.value);
    assert!(
        text.contains("HelmRepository/default/charts NotFound"),
        "{text}"
    );
    assert!(
        text.contains("HelmRelease/default/web") && text.contains("chart podinfo@6.x"),
        "{text}"
    );
    assert!(text.contains("ConfigMap/apps/web-config"), "{text}");
    assert!(!text.contains("other-config"), "{text}");
    // `flotilla tree hr` prints the same tree.
    let (code, out, err) = env.flotilla(&["tree", "hr", "web", "-n", "default"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, text);
    let (code, _, err) = env
        .flotilla(&["tree", "hr", "missing", "-n", "default"])
        .await;
    assert_eq!(code, 2);
    assert!(err.contains("missing"), "{err}");
    env.stop().await;
}
