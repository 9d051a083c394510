use super::*;

fn t(s: &str) -> TemplateValue {
    TemplateValue::Text(s.to_string())
}

fn change(old: &str, new: &str) -> TemplateValue {
    TemplateValue::Struct {
        fields: vec![
            ("OldValue".into(), t(old)),
            ("NewValue".into(), t(new)),
            ("Setter".into(), t("ns:app")),
        ],
        display: String::new(),
    }
}

fn data() -> TemplateValue {
    let object = TemplateValue::Struct {
        fields: vec![("Kind".into(), t("Deployment")), ("Name".into(), t("web"))],
        display: "{{apps/v1 Deployment} {web ns}}".into(),
    };
    let changes = TemplateValue::List(vec![change("app:1.0.0", "app:1.0.1")]);
    TemplateValue::Struct {
        fields: vec![
            (
                "AutomationObject".into(),
                TemplateValue::Struct {
                    fields: vec![("Name".into(), t("auto")), ("Namespace".into(), t("ns"))],
                    display: "ns/auto".into(),
                },
            ),
            (
                "Changed".into(),
                TemplateValue::Struct {
                    fields: vec![
                        (
                            "FileChanges".into(),
                            TemplateValue::Map(vec![(
                                t("deploy.yaml"),
                                TemplateValue::Map(vec![(object.clone(), changes.clone())]),
                            )]),
                        ),
                        (
                            "Objects".into(),
                            TemplateValue::Map(vec![(object, changes.clone())]),
                        ),
                        ("Changes".into(), changes),
                    ],
                    display: String::new(),
                },
            ),
            (
                "Values".into(),
                TemplateValue::Map(vec![(t("cluster"), t("prod-eu"))]),
            ),
        ],
        display: String::new(),
    }
}

fn render(src: &str) -> Result<String, TemplateError> {
    MessageTemplate::parse(src)?.render(&data())
}

#[test]
fn flux_documented_template_renders() {
    let src = "Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
";
    // `{{ end -}}` trims every following whitespace byte, so "Objects:" follows directly, as in Go.
    assert_eq!(
        render(src).expect("renders"),
        "Automated image update

Automation name: ns/auto

Files:
- deploy.yaml
Objects:
- Deployment web
  Changes:
    - app:1.0.0 -> app:1.0.1
"
    );
}

#[test]
fn fields_values_if_else_with_and_len() {
    assert_eq!(
        render("cluster {{ .Values.cluster }}, missing {{ .Values.nope }}").expect("ok"),
        "cluster prod-eu, missing <no value>"
    );
    assert_eq!(
        render("{{ if .Values.nope }}a{{ else if .Values.cluster }}b{{ else }}c{{ end }}")
            .expect("ok"),
        "b"
    );
    assert_eq!(
        render("{{ with .AutomationObject }}{{ .Namespace }}/{{ .Name }}{{ end }}").expect("ok"),
        "ns/auto"
    );
    assert_eq!(
        render("{{ len .Changed.Changes }} change(s){{ range .Changed.Changes }}: {{ .NewValue }}{{ end }}")
            .expect("ok"),
        "1 change(s): app:1.0.1"
    );
    assert_eq!(
        render("{{ range .Values.nope }}x{{ else }}none{{ end }}").expect("ok"),
        "none"
    );
    assert_eq!(
        render("{{/* a comment */}}x {{- \" y\" }}").expect("ok"),
        "x y"
    );
    assert_eq!(render("{{ $.AutomationObject.Name }}").expect("ok"), "auto");
}

#[test]
fn removed_fields_are_reported_as_such() {
    for src in [
        "{{ .Updated.Images }}",
        "{{ range .Changed.ImageResult }}{{ end }}",
    ] {
        let err = render(src).expect_err(src);
        assert_eq!(err.kind, TemplateErrorKind::RemovedField, "{src}");
        assert_eq!(err.reason(), "RemovedTemplateField");
    }
}

#[test]
fn unsupported_and_malformed_templates_are_clear_errors() {
    let cases = [
        (
            "{{ .Values.cluster | upper }}",
            TemplateErrorKind::Unsupported,
        ),
        (
            "{{ printf \"%s\" .Values.cluster }}",
            TemplateErrorKind::Unsupported,
        ),
        ("{{ $x := .Values }}", TemplateErrorKind::Unsupported),
        ("{{ template \"x\" }}", TemplateErrorKind::Unsupported),
        ("{{ if .Values }}", TemplateErrorKind::Syntax),
        ("{{ end }}", TemplateErrorKind::Syntax),
        ("{{ .Values", TemplateErrorKind::Syntax),
        ("{{ }}", TemplateErrorKind::Syntax),
        ("{{ \"unterminated }}", TemplateErrorKind::Syntax),
        ("{{ .Bad..Path }}", TemplateErrorKind::Syntax),
        ("{{ .Nope }}", TemplateErrorKind::Execution),
        (
            "{{ .AutomationObject.Name.Deeper }}",
            TemplateErrorKind::Execution,
        ),
        (
            "{{ range .AutomationObject.Name }}{{ end }}",
            TemplateErrorKind::Execution,
        ),
        ("{{ $undefined }}", TemplateErrorKind::Execution),
    ];
    for (src, kind) in cases {
        let err = render(src).expect_err(src);
        assert_eq!(err.kind, kind, "{src}: {err}");
        assert!(!err.message.is_empty());
    }
    let err = render("{{ .Values.cluster | upper }}").expect_err("pipe");
    assert!(err.message.contains("pipelines"), "{err}");
}

#[test]
fn deep_nesting_and_junk_never_panic() {
    let deep = "{{ if . }}".repeat(1000) + &"{{ end }}".repeat(1000);
    assert!(render(&deep).is_err());
    for junk in [
        "{{",
        "}}",
        "{{-",
        "{{--}}",
        "{{/*",
        "{{ \u{1F600} }}",
        "{{ range $a, $b, $c := . }}{{ end }}",
        "{{`x",
    ] {
        let _ = render(junk);
    }
    assert_eq!(
        render("plain text, no actions").expect("ok"),
        "plain text, no actions"
    );
    assert_eq!(render("}} stray").expect("ok"), "}} stray");
}
