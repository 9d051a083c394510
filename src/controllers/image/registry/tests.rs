use super::*;
use serde_json::json;

#[test]
fn canonical_names_follow_docker_hub_rules() {
    let cases = [
        ("alpine", "index.docker.io/library/alpine"),
        (
            "stefanprodan/podinfo",
            "index.docker.io/stefanprodan/podinfo",
        ),
        ("docker.io/alpine", "index.docker.io/library/alpine"),
        ("docker.io/fluxcd/flux", "index.docker.io/fluxcd/flux"),
        (
            "ghcr.io/fluxcd/source-controller",
            "ghcr.io/fluxcd/source-controller",
        ),
        ("localhost/app", "localhost/app"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app"),
    ];
    for (image, canonical) in cases {
        let name = ImageName::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"));
        assert_eq!(name.canonical(), canonical, "{image}");
    }
}

#[test]
fn image_with_scheme_tag_digest_or_upper_case_is_invalid() {
    for image in [
        "",
        "https://ghcr.io/app",
        "ghcr.io/app:1.0",
        "alpine:latest",
        "ghcr.io/app@sha256:abcd",
        "ghcr.io/App",
        "ghcr.io//app",
        "ghcr.io/app/",
    ] {
        let err = ImageName::parse(image).expect_err(image);
        assert_eq!(err.reason(), "ImageURLInvalid", "{image}");
    }
    // A port is not a tag.
    assert!(ImageName::parse("registry.local:5000/app").is_ok());
}

#[test]
fn scheme_is_http_for_insecure_and_loopback() {
    let name = |s: &str| ImageName::parse(s).expect("valid");
    assert_eq!(name("ghcr.io/a").scheme(false), "https");
    assert_eq!(name("ghcr.io/a").scheme(true), "http");
    assert_eq!(name("127.0.0.1:5000/a").scheme(false), "http");
    assert_eq!(name("localhost:5000/a").scheme(false), "http");
    assert_eq!(name("172.20.0.1:5000/a").scheme(false), "http");
    assert_eq!(name("172.40.0.1:5000/a").scheme(false), "https");
}

fn secret_data(config: &Value) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(config.to_string());
    json!({ ".dockerconfigjson": encoded })
}

#[test]
fn docker_config_credentials_by_host() {
    let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cret");
    let config = json!({"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "127.0.0.1:5000": {"username": "alice", "password": "pw"},
    }});
    let data = secret_data(&config);
    let hub = credentials_from_secret_data(&data, DOCKER_HUB)
        .expect("valid")
        .expect("entry");
    assert_eq!(
        (hub.username.as_str(), hub.password.as_str()),
        ("bob", "s3cret")
    );
    let local = credentials_from_secret_data(&data, "127.0.0.1:5000")
        .expect("valid")
        .expect("entry");
    assert_eq!(local.username, "alice");
    assert_eq!(
        credentials_from_secret_data(&data, "ghcr.io").expect("valid"),
        None
    );
    // The password never shows in debug output.
    assert!(!format!("{local:?}").contains("pw"));
}

#[test]
fn malformed_docker_configs_are_errors_not_panics() {
    let cases = [
        json!({}),
        json!({".dockerconfigjson": "%%%"}),
        json!({".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode("not json")}),
        secret_data(&json!({"auths": []})),
        secret_data(&json!({"auths": {"h": {}}})),
        secret_data(&json!({"auths": {"h": {"auth": "%%"}}})),
        secret_data(
            &json!({"auths": {"h": {"auth": base64::engine::general_purpose::STANDARD.encode("nocolon")}}}),
        ),
    ];
    for data in cases {
        let err = credentials_from_secret_data(&data, "h").expect_err("invalid");
        assert_eq!(err.reason(), "AuthenticationFailed", "{data}");
    }
}

#[test]
fn challenges_parse_with_quotes_and_commas() {
    let (scheme, params) = parse_challenge(
        r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
    );
    assert_eq!(scheme, "bearer");
    assert_eq!(
        params,
        vec![
            (
                "realm".to_string(),
                "https://auth.example/token".to_string()
            ),
            ("service".to_string(), "registry.example".to_string()),
            ("scope".to_string(), "repository:a/b:pull,push".to_string()),
        ]
    );
    let (scheme, params) = parse_challenge(r#"Basic realm="Registry Realm""#);
    assert_eq!(scheme, "basic");
    assert_eq!(params[0].1, "Registry Realm");
    // Garbage does not panic.
    for junk in [
        "",
        "Bearer",
        "Bearer realm=\"unterminated",
        "Bearer ===,,,\"",
        "\u{1F600}=\u{1F600}",
    ] {
        let _ = parse_challenge(junk);
    }
}

#[test]
fn link_header_next_target() {
    assert_eq!(
        next_link(r#"</v2/app/tags/list?last=b&n=2>; rel="next""#).as_deref(),
        Some("/v2/app/tags/list?last=b&n=2")
    );
    assert_eq!(next_link(r#"<https://x/y>; rel="prev""#), None);
    assert_eq!(next_link("garbage"), None);
}

#[test]
fn tag_pages_parse_and_reject_malformed_json() {
    let mut tags = Vec::new();
    parse_tag_page(br#"{"name":"a","tags":["1.0.0","1.0.1"]}"#, "u", &mut tags).expect("valid");
    parse_tag_page(br#"{"name":"a","tags":null}"#, "u", &mut tags).expect("null tags");
    assert_eq!(tags, ["1.0.0", "1.0.1"]);
    for body in [
        &b"{"[..],
        b"[]",
        b"{\"tags\": \"1.0\"}",
        b"{\"tags\": [1, 2]}",
        b"\xff\xfe",
        b"",
    ] {
        let err = parse_tag_page(body, "u", &mut tags).expect_err("malformed");
        assert_eq!(err.reason(), "ReadOperationFailed");
        assert!(
            err.to_string().contains("malformed response from u"),
            "{err}"
        );
    }
    // Deep nesting is an error, not a stack overflow.
    let deep = format!(
        "{{\"tags\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(parse_tag_page(deep.as_bytes(), "u", &mut tags).is_err());
}

#[test]
fn retry_after_reads_seconds_and_defaults() {
    let mut headers = reqwest::header::HeaderMap::new();
    assert_eq!(retry_after(&headers), Duration::from_secs(60));
    headers.insert(reqwest::header::RETRY_AFTER, "7".parse().expect("header"));
    assert_eq!(retry_after(&headers), Duration::from_secs(7));
    headers.insert(
        reqwest::header::RETRY_AFTER,
        "99999999999".parse().expect("header"),
    );
    assert_eq!(retry_after(&headers), Duration::from_secs(24 * 3600));
    headers.insert(
        reqwest::header::RETRY_AFTER,
        "soon".parse().expect("header"),
    );
    assert_eq!(retry_after(&headers), Duration::from_secs(60));
}
