//! A realistic Flux repository (clusters/production → apps/production overlaying apps/base) run
//! through overlay → build → substitute → stages → inventory → prune planning.

use flotilla::apply::inventory::{Inventory, InventoryEntry};
use flotilla::apply::policy::ApplyAction;
use flotilla::apply::prune::{ChangeSetEntry, SuccessfulApply, stale_objects};
use flotilla::apply::stages::StageKind;
use flotilla::controllers::kustomization::stages::prepare_apply;
use flotilla::controllers::kustomization::{overlay, spec, substitute};
use flotilla::kustomize::yaml::parse_documents;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn flux_repo(root: &Path) {
    write(
        root,
        "clusters/production/apps.yaml",
        r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m0s
  retryInterval: 1m
  path: ./apps/production
  prune: true
  wait: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  images:
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.5.4
  commonMetadata:
    labels:
      app.kubernetes.io/part-of: apps
  postBuild:
    substitute:
      cluster_name: production
    substituteFrom:
    - kind: ConfigMap
      name: cluster-vars
"#,
    );
    write(
        root,
        "clusters/production/infrastructure.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: infrastructure\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./infrastructure\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
    );
    write(
        root,
        "apps/base/podinfo/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: podinfo\nresources:\n- namespace.yaml\n- rbac.yaml\n- deployment.yaml\n- service.yaml\n",
    );
    write(
        root,
        "apps/base/podinfo/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n",
    );
    write(
        root,
        "apps/base/podinfo/rbac.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: podinfo:reader\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n",
    );
    write(
        root,
        "apps/base/podinfo/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: ${replicas:=1}
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.0.0
        env:
        - name: CLUSTER
          value: ${cluster_name}
        - name: LITERAL
          value: $${not_a_var}
        ports:
        - containerPort: 9898
          name: http
"#,
    );
    write(
        root,
        "apps/base/podinfo/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\nspec:\n  selector:\n    app: podinfo\n  ports:\n  - name: http\n    port: 9898\n",
    );
    write(
        root,
        "apps/production/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../base/podinfo\npatches:\n- path: podinfo-patch.yaml\n  target:\n    kind: Deployment\n    name: podinfo\n",
    );
    write(
        root,
        "apps/production/podinfo-patch.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  annotations:\n    environment: ${cluster_name}\n",
    );
}

#[test]
fn production_apps_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    flux_repo(repo);

    let ks_text = fs::read_to_string(repo.join("clusters/production/apps.yaml")).unwrap();
    let ks = parse_documents(&ks_text).unwrap().remove(0);
    let spec = spec::parse_kustomization(&ks).unwrap();
    assert_eq!(spec.timeout.as_secs(), 570);

    // Overlay + build.
    let built = overlay::build_manifests(repo, &spec).unwrap();
    assert_eq!(built.len(), 4);

    // Substitution: inline var wins over the ConfigMap; `replicas` becomes an integer.
    let cluster_vars = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cluster-vars", "namespace": "flux-system"},
        "data": {"replicas": "3", "cluster_name": "overridden"}});
    let pb = spec.post_build.as_ref().unwrap();
    let vars = substitute::collect_variables(pb, &[Some(&cluster_vars)]).unwrap();
    let objects = substitute::substitute_all(built, Some(pb), &vars, true).unwrap();

    let deploy = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deploy["metadata"]["namespace"], "podinfo");
    assert_eq!(deploy["spec"]["replicas"], json!(3));
    assert_eq!(
        deploy["metadata"]["annotations"]["environment"],
        "production"
    );
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/stefanprodan/podinfo:6.5.4");
    assert_eq!(container["env"][0]["value"], "production");
    assert_eq!(container["env"][1]["value"], "${not_a_var}");

    // Apply preparation: stages, owner labels, commonMetadata, normalisation.
    let stages = prepare_apply(
        objects,
        "apps",
        "flux-system",
        spec.common_metadata.as_ref(),
        &[],
    );
    let kinds: Vec<(StageKind, Vec<&str>)> = stages
        .iter()
        .map(|s| {
            (
                s.kind,
                s.objects
                    .iter()
                    .map(|o| o["kind"].as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                StageKind::ClusterDefinitions,
                vec!["Namespace", "ClusterRole"]
            ),
            (StageKind::Rest, vec!["Service", "Deployment"]),
        ]
    );
    assert!(stages[0].wait && !stages[1].wait);
    for s in &stages {
        for o in &s.objects {
            let labels = &o["metadata"]["labels"];
            assert_eq!(labels["kustomize.toolkit.fluxcd.io/name"], "apps");
            assert_eq!(
                labels["kustomize.toolkit.fluxcd.io/namespace"],
                "flux-system"
            );
            assert_eq!(labels["app.kubernetes.io/part-of"], "apps");
        }
    }
    let svc = &stages[1].objects[0];
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");

    // Inventory in change-set order, byte-exact ids.
    let applied: Vec<&Value> = stages.iter().flat_map(|s| s.objects.iter()).collect();
    let inventory = Inventory::from_objects(applied.iter().copied());
    assert_eq!(
        inventory.to_value(),
        json!({"entries": [
            {"id": "_podinfo__Namespace", "v": "v1"},
            {"id": "_podinfo__reader_rbac.authorization.k8s.io_ClusterRole", "v": "v1"},
            {"id": "podinfo_podinfo__Service", "v": "v1"},
            {"id": "podinfo_podinfo_apps_Deployment", "v": "v1"},
        ]})
    );

    // A previous run also applied a HorizontalPodAutoscaler: it is now stale.
    let mut old = inventory.clone();
    old.push(InventoryEntry::of(
        &json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "podinfo", "namespace": "podinfo"}}),
    ));
    let apply = SuccessfulApply::new(
        inventory
            .entries
            .iter()
            .map(|e| ChangeSetEntry {
                entry: e.clone(),
                action: ApplyAction::Created,
            })
            .collect(),
    );
    let stale = stale_objects(&old, &apply, spec.prune);
    assert_eq!(stale.len(), 1);
    assert_eq!(
        stale[0].object.id(),
        "podinfo_podinfo_autoscaling_HorizontalPodAutoscaler"
    );
    assert_eq!(stale[0].api_version(), "autoscaling/v2");
}

#[test]
fn strict_substitution_failure_is_reported_per_object() {
    let dir = tempfile::tempdir().unwrap();
    flux_repo(dir.path());
    let ks_text = fs::read_to_string(dir.path().join("clusters/production/apps.yaml")).unwrap();
    let spec = spec::parse_kustomization(&parse_documents(&ks_text).unwrap().remove(0)).unwrap();
    let built = overlay::build_manifests(dir.path(), &spec).unwrap();
    // Without the inline var, ${cluster_name} is unset.
    let vars = [("replicas".to_string(), "2".to_string())]
        .into_iter()
        .collect();
    let err = substitute::substitute_all(built, spec.post_build.as_ref(), &vars, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "post build failed for 'podinfo': envsubst error: variable substitution failed: variable not set (strict mode): \"cluster_name\""
    );
}

#[test]
fn cluster_directory_without_kustomization_is_generated() {
    let dir = tempfile::tempdir().unwrap();
    flux_repo(dir.path());
    let spec = spec::parse_spec(
        &json!({"interval": "10m", "path": "./clusters/production", "prune": true,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}),
        "flux-system",
    )
    .unwrap();
    let objs = overlay::build_manifests(dir.path(), &spec).unwrap();
    let names: Vec<&str> = objs
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["apps", "infrastructure"]);
}
