//! The properties the Helm fuzz targets check: a render of fuzzer-built input returns (output or an
//! error) without a panic, a stack overflow, a hang or unbounded memory. The engine's limits
//! (`flotilla::helm::Limits`) are set tight here so that a finding is a missing limit, not a slow
//! but bounded input. Findings are kept as unit tests in `src/helm/tests.rs` (`fuzz_regressions`).

use flotilla::helm::{self, Limits, TemplateOptions};

/// Separates the parts of a `helm_values` input; never part of UTF-8 text.
pub const SEPARATOR: u8 = 0xFF;

const CHART_YAML: &str = "apiVersion: v2\nname: fz\nversion: 0.1.0\n";

/// Values the template target renders with: every value kind, nesting, a global.
const VALUES: &str = "\
name: web
replicas: 3
ratio: 0.5
big: 1000000
on: true
empty: \"\"
nothing: null
list: [a, b, c]
nested:
  map: {k: v, n: 1}
  list: [{x: 1}, {y: [2, 3]}]
text: |
  line one
  line two
global:
  region: eu
";

const HELPERS: &str = "\
{{- define \"fz.name\" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}
{{- define \"fz.labels\" -}}
app: {{ include \"fz.name\" . }}
{{- end -}}
{{- define \"fz.self\" -}}{{ include \"fz.self\" . }}{{- end -}}
";

/// Tight limits: a render may do 200,000 steps and build values up to 1 MiB.
pub fn limits() -> Limits {
    Limits {
        max_steps: 200_000,
        max_value_bytes: 1 << 20,
        max_value_depth: 200,
        slow_crypto: false,
    }
}

fn file(path: &str, text: &[u8]) -> (String, Vec<u8>) {
    (path.to_string(), text.to_vec())
}

/// `helm_template`: the input is a template file rendered with fixed values and helpers.
pub fn template(data: &[u8]) {
    if std::str::from_utf8(data).is_err() {
        return;
    }
    let files = vec![
        file("Chart.yaml", CHART_YAML.as_bytes()),
        file("values.yaml", VALUES.as_bytes()),
        file("templates/_helpers.tpl", HELPERS.as_bytes()),
        file("templates/fuzz.yaml", data),
        file("files/a.txt", b"alpha\nbeta\n"),
    ];
    let opts = TemplateOptions {
        release_name: "rel".into(),
        limits: limits(),
        ..TemplateOptions::default()
    };
    let _ = helm::template_files(files, &opts);
}

/// `helm_values`: parts separated by 0xFF: the chart's values.yaml, a subchart's values.yaml,
/// then command-line values, each prefixed by a byte choosing the flag (`--set`, `--set-string`,
/// `--set-json`, `--set-literal`). Rendered as `toYaml .Values` in both charts.
pub fn values(data: &[u8]) {
    let mut parts = data.split(|&b| b == SEPARATOR);
    let parent = parts.next().unwrap_or_default();
    let sub = parts.next().unwrap_or_default();
    let mut opts = TemplateOptions {
        release_name: "rel".into(),
        limits: limits(),
        ..TemplateOptions::default()
    };
    for p in parts {
        let Some((&kind, expr)) = p.split_first() else {
            continue;
        };
        let Ok(expr) = std::str::from_utf8(expr) else {
            return;
        };
        let list = match kind % 4 {
            0 => &mut opts.set,
            1 => &mut opts.set_string,
            2 => &mut opts.set_json,
            _ => &mut opts.set_literal,
        };
        list.push(expr.to_string());
    }
    let chart = "apiVersion: v2\nname: fz\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  condition: sub.enabled\n  import-values:\n  - child: exported\n    parent: imported\n";
    let files = vec![
        file("Chart.yaml", chart.as_bytes()),
        file("values.yaml", parent),
        file("templates/all.yaml", b"{{ toYaml .Values }}\n"),
        file("charts/sub/Chart.yaml", b"apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
        file("charts/sub/values.yaml", sub),
        file("charts/sub/templates/all.yaml", b"{{ toJson .Values }}\n"),
    ];
    let _ = helm::template_files(files, &opts);
}
