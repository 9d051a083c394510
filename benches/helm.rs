//! `helm template` of a large chart with the native engine: a chart generated here in the shape of
//! kube-prometheus-stack (160 templates across a parent and four subcharts, shared `_helpers.tpl`
//! partials called through `include`, `tpl` over values strings, `toYaml | nindent` of nested
//! values, `range` over maps, `.Files.Get` of dashboard JSON, globals and conditions). When
//! `FLOTILLA_BENCH_KPS` names a local kube-prometheus-stack checkout (dependencies vendored in
//! `charts/`), it is rendered too; otherwise that case is skipped.

use criterion::{Criterion, criterion_group, criterion_main};
use flotilla::helm::{self, TemplateOptions};
use std::fmt::Write as _;
use std::path::Path;

const HELPERS: &str = r#"{{- define "CHART.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "CHART.fullname" -}}
{{- printf "%s-%s" .Release.Name (include "CHART.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "CHART.labels" -}}
app.kubernetes.io/name: {{ include "CHART.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
{{- define "CHART.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
"#;

const TEMPLATE: &str = r#"{{- if .Values.components.cNUM.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "CHART.fullname" . }}-cNUM
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "CHART.labels" . | nindent 4 }}
  annotations:
    checksum/config: {{ toYaml .Values.components.cNUM | sha256sum }}
spec:
  replicas: {{ .Values.components.cNUM.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ include "CHART.name" . }}
  template:
    metadata:
      labels:
        {{- include "CHART.labels" . | nindent 8 }}
    spec:
      containers:
        - name: cNUM
          image: {{ include "CHART.image" . }}
          args:
          {{- range $k, $v := .Values.components.cNUM.args }}
            - --{{ $k }}={{ tpl (toString $v) $ }}
          {{- end }}
          resources:
            {{- toYaml .Values.components.cNUM.resources | nindent 12 }}
          env:
          {{- range .Values.env }}
            - name: {{ .name | upper | quote }}
              value: {{ tpl .value $ | quote }}
          {{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "CHART.fullname" . }}-cNUM-dashboard
  labels:
    {{- include "CHART.labels" . | nindent 4 }}
data:
  dashboard.json: |-
{{ .Files.Get "files/dashboard.json" | indent 4 }}
  rules.yaml: |-
    {{- toYaml .Values.rules | nindent 4 }}
{{- end }}
"#;

fn values(components: usize) -> String {
    let mut v = String::from(
        "nameOverride: \"\"\ncommonLabels:\n  team: observability\n  tier: monitoring\nimage:\n  registry: quay.io\n  repository: example/app\n  tag: \"\"\nenv:\n",
    );
    for i in 0..6 {
        let _ = writeln!(
            v,
            "  - name: var{i}\n    value: \"{{{{ .Release.Name }}}}-{i}\""
        );
    }
    v.push_str("rules:\n");
    for i in 0..20 {
        let _ = writeln!(
            v,
            "  - alert: Alert{i}\n    expr: rate(errors_total{{job=\"x\"}}[5m]) > {i}\n    for: 10m\n    labels: {{severity: warning}}\n    annotations:\n      summary: \"alert {i} fired\""
        );
    }
    v.push_str("components:\n");
    for i in 0..components {
        let _ = writeln!(
            v,
            "  c{i}:\n    enabled: true\n    replicas: {}\n    args:\n      retention: 10d\n      log.level: info\n      web.external-url: \"http://{{{{ .Release.Name }}}}.example\"\n    resources:\n      limits: {{cpu: 200m, memory: 256Mi}}\n      requests: {{cpu: 100m, memory: 128Mi}}",
            1 + i % 3
        );
    }
    v
}

fn write_chart(dir: &Path, name: &str, templates: usize, subcharts: &[(&str, usize)]) {
    let t = dir.join("templates");
    std::fs::create_dir_all(&t).expect("mkdir");
    let mut chart = format!("apiVersion: v2\nname: {name}\nversion: 1.2.3\nappVersion: v0.80.0\n");
    if !subcharts.is_empty() {
        chart.push_str("dependencies:\n");
        for (sub, _) in subcharts {
            let _ = writeln!(
                chart,
                "  - name: {sub}\n    version: 1.2.3\n    condition: {sub}.enabled"
            );
        }
    }
    std::fs::write(dir.join("Chart.yaml"), chart).expect("write");
    let mut vals = values(templates);
    vals.push_str("global:\n  imageRegistry: \"\"\n");
    for (sub, _) in subcharts {
        let _ = writeln!(vals, "{sub}:\n  enabled: true");
    }
    std::fs::write(dir.join("values.yaml"), vals).expect("write");
    std::fs::write(t.join("_helpers.tpl"), HELPERS.replace("CHART", name)).expect("write");
    for i in 0..templates {
        std::fs::write(
            t.join(format!("component-{i:03}.yaml")),
            TEMPLATE
                .replace("CHART", name)
                .replace("NUM", &i.to_string()),
        )
        .expect("write");
    }
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    let mut dash = String::from("{\n  \"panels\": [\n");
    for i in 0..60 {
        let _ = writeln!(
            dash,
            "    {{\"id\": {i}, \"title\": \"panel {i}\", \"expr\": \"sum(rate(x[5m]))\"}},"
        );
    }
    dash.push_str("    {}\n  ]\n}\n");
    std::fs::write(files.join("dashboard.json"), dash).expect("write");
    for (sub, n) in subcharts {
        write_chart(&dir.join("charts").join(sub), sub, *n, &[]);
    }
}

fn bench(c: &mut Criterion) {
    let root = tempfile::tempdir().expect("temp dir");
    let chart = root.path().join("kps-shaped");
    write_chart(
        &chart,
        "kps",
        100,
        &[("grafana", 24), ("ksm", 14), ("nodeexp", 12), ("crds", 10)],
    );
    let opts = TemplateOptions {
        release_name: "rel".into(),
        ..TemplateOptions::default()
    };
    let out = helm::template(&chart, &opts).expect("render");
    assert!(
        out.matches("kind: Deployment").count() >= 160,
        "every template renders"
    );
    let mut g = c.benchmark_group("helm");
    g.sample_size(20);
    g.bench_function("template_kps_shaped_160", |b| {
        b.iter(|| helm::template(&chart, &opts).expect("render"))
    });
    if let Some(kps) = std::env::var_os("FLOTILLA_BENCH_KPS").map(std::path::PathBuf::from) {
        if kps.join("Chart.yaml").is_file() {
            g.bench_function("template_kube_prometheus_stack", |b| {
                b.iter(|| helm::template(&kps, &opts).expect("render"))
            });
        } else {
            eprintln!(
                "FLOTILLA_BENCH_KPS: no Chart.yaml in {}; skipped",
                kps.display()
            );
        }
    } else {
        eprintln!("FLOTILLA_BENCH_KPS unset: the local kube-prometheus-stack case is skipped");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
