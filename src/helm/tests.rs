//! Unit tests of the engine on malformed input: clear errors naming file, line (and column when
//! executing), never a panic.

use super::exec::Templates;
use super::strvals;
use super::value::Value;
use std::collections::BTreeMap;

fn render(text: &str, values: &str) -> Result<String, String> {
    let mut t = Templates::default();
    t.add("c/templates/t.yaml", text)
        .map_err(|e| e.to_string())?;
    let vals = super::yaml::parse_yaml(values).map_err(|e| e.to_string())?;
    let mut root = BTreeMap::new();
    root.insert("Values".to_string(), vals);
    t.execute("c/templates/t.yaml", &Value::map_from(root))
}

#[test]
fn parse_errors_name_file_and_line() {
    let cases = [
        (
            "a\n{{ .Values.x }",
            "template: c/templates/t.yaml:2: unexpected \"}\" in operand",
        ),
        (
            "{{ if .x }}\nno end\n",
            "template: c/templates/t.yaml:3: unexpected EOF",
        ),
        (
            "x\n\n{{ nosuch 1 }}",
            "template: c/templates/t.yaml:3: function \"nosuch\" not defined",
        ),
        (
            "{{ $y }}",
            "template: c/templates/t.yaml:1: undefined variable \"$y\"",
        ),
        (
            "{{ \"open }}",
            "template: c/templates/t.yaml:1: unterminated quoted string",
        ),
        (
            "{{/* never closed ",
            "template: c/templates/t.yaml:1: unclosed comment",
        ),
        (
            "{{ end }}",
            "template: c/templates/t.yaml:1: unexpected {{end}}",
        ),
        (
            "{{ break }}",
            "template: c/templates/t.yaml:1: {{break}} outside {{range}}",
        ),
        (
            "{{ 1x2 }}",
            "template: c/templates/t.yaml:1: bad number syntax: \"1x2\"",
        ),
        ("{{ .a", "template: c/templates/t.yaml:1: unclosed action"),
    ];
    for (text, want) in cases {
        assert_eq!(render(text, "").unwrap_err(), want, "{text:?}");
    }
}

#[test]
fn exec_errors_name_file_line_and_column() {
    let err = render("a: 1\nb: {{ .Values.a.b }}\n", "x: 1").unwrap_err();
    assert_eq!(
        err,
        "template: c/templates/t.yaml:2:13: executing \"c/templates/t.yaml\" at <.Values.a.b>: nil pointer evaluating interface {}.b"
    );
    let err = render("{{ index .Values.l 5 }}", "l: [1]").unwrap_err();
    assert!(
        err.contains("t.yaml:1:3") && err.contains("index out of range: 5"),
        "{err}"
    );
    let err = render("{{ upper }}", "").unwrap_err();
    assert!(
        err.contains("wrong number of args for upper: want 1 got 0"),
        "{err}"
    );
    let err = render("{{ eq .Values.f 1 }}", "f: 1").unwrap_err();
    assert!(err.contains("incompatible types for comparison"), "{err}");
    let err = render("{{ required \"need x\" .Values.x }}", "a: 1").unwrap_err();
    assert!(err.contains("HELM[need x]HELM"), "{err}");
}

#[test]
fn include_recursion_is_capped() {
    let out = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(|| {
            render(
                "{{ define \"r\" }}{{ include \"r\" . }}{{ end }}{{ include \"r\" . }}",
                "",
            )
        })
        .expect("thread starts")
        .join()
        .expect("no panic");
    let err = out.unwrap_err();
    assert!(
        err.ends_with(
            "rendering template has a nested reference name: r: unable to execute template"
        ),
        "{}",
        &err[err.len() - 200..]
    );
}

#[test]
fn malformed_values_and_set_are_errors() {
    assert!(render("x", "a: [unclosed").is_err());
    assert!(render("x", "a: b: c").is_err());
    for bad in [
        "a",
        "a,b=1",
        "a[x]=1",
        "a[-1]=2",
        "a[1",
        "a={1,2",
        "a[99999999]=1",
    ] {
        let mut m = BTreeMap::new();
        assert!(strvals::parse_into(bad, &mut m, false).is_err(), "{bad}");
    }
}

#[test]
fn garbage_templates_never_panic() {
    const PIECES: &[&str] = &[
        "{{", "}}", "{{-", "-}}", " ", "(", ")", "|", "$x", "$", ":=", "=", ".a", ".", "\"s\"",
        "`r`", "'c'", "'\\é'", "if", "else", "end", "range", "with", "define", "template", "block",
        "break", "continue", "nil", "true", "1", "-2.5e3", "0x1F", "/*", "*/", "é", "\n", ",",
        "and", "or", "printf", "\"%d\"", "include", "tpl", "index", "len", "\\",
    ];
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..3000 {
        let mut text = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = (seed % 14) as usize + 1;
        for k in 0..n {
            let r = seed.rotate_left(k as u32 * 5) as usize;
            text.push_str(PIECES[r % PIECES.len()]);
        }
        let _ = render(&text, "a: 1\nl: [1, 2]\nm: {k: v}");
    }
}

/// Renders `text` as the `helm_template` fuzz target does: a chart in memory, the fuzz limits.
fn render_limited(text: &str) -> Result<String, String> {
    let files = vec![
        (
            "Chart.yaml".to_string(),
            b"apiVersion: v2\nname: fz\nversion: 0.1.0\n".to_vec(),
        ),
        (
            "values.yaml".to_string(),
            b"list: [a, b]\nm: {k: v}\n".to_vec(),
        ),
        ("templates/t.yaml".to_string(), text.as_bytes().to_vec()),
    ];
    let opts = super::TemplateOptions {
        release_name: "rel".into(),
        limits: super::Limits {
            max_steps: 200_000,
            max_value_bytes: 1 << 20,
            max_value_depth: 200,
            slow_crypto: false,
        },
        ..super::TemplateOptions::default()
    };
    super::template_files(files, &opts).map_err(|e| e.to_string())
}

/// Inputs that could hang the renderer or exhaust memory end in an error naming the limit
/// (regressions for the `helm_template` fuzz target; each input written down small).
#[test]
fn fuzz_regressions_limits() {
    let cases = [
        // A map that holds itself has no bottom: printing, toYaml, toJson, deepCopy.
        (
            "{{ $m := dict }}{{ $_ := set $m \"a\" $m }}{{ toYaml $m }}",
            "nested deeper",
        ),
        (
            "{{ $m := dict }}{{ $_ := set $m \"a\" $m }}{{ $m }}",
            "nested deeper",
        ),
        (
            "{{ $m := dict }}{{ $_ := set $m \"a\" $m }}{{ toJson $m }}",
            "nested deeper",
        ),
        (
            "{{ $m := dict }}{{ $_ := set $m \"a\" $m }}{{ deepCopy $m }}",
            "nested deeper",
        ),
        // Doubling a string or list grows past the size limit.
        (
            "{{ $s := \"xxxxxxxx\" }}{{ range until 30 }}{{ $s = print $s $s }}{{ end }}",
            "bytes",
        ),
        ("{{ repeat 1000000 \"abcdefgh\" }}", "bytes"),
        ("{{ indent 100000000 \"a\" }}", "bytes"),
        ("{{ randAlphaNum 100000000 }}", "bytes"),
        ("{{ range 100000000000 }}{{ end }}", "bytes"),
        // Long loops spend the step budget.
        (
            "{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}{{ end }}",
            "steps",
        ),
        // Sharing one list many times makes toYaml's output exponential in the steps.
        (
            "{{ $l := list \"xxxxxxxxxxxxxxxx\" }}{{ range until 40 }}{{ $l = list $l $l }}{{ end }}{{ toYaml $l }}",
            "",
        ),
        // Key generation is disabled under the fuzz limits.
        ("{{ genPrivateKey \"rsa\" }}", "disabled"),
    ];
    for (text, want) in cases {
        let err = render_limited(text).expect_err(text);
        assert!(err.contains(want), "{text}: {err}");
    }
    // Ordinary templates stay well inside the limits.
    let out =
        render_limited("m:\n{{ toYaml .Values.m | indent 2 }}\nl: {{ join \",\" .Values.list }}\n")
            .unwrap();
    assert!(out.contains("m:\n  k: v\nl: a,b"), "{out}");
}
