//! Table of ImagePolicy selections: ranges, prereleases, `v` prefixes, invalid tags, filterTags
//! extract, alphabetical/numerical orders and error kinds.

use flotilla::controllers::image::policy::{
    CompiledPolicy, FilterTags, PolicyChoice, PolicyError, PolicySpec, SortOrder, TagFate,
};

#[derive(Debug)]
enum Want {
    Tag(&'static str),
    Invalid,
    NoCandidate,
    NotNumeric,
}

fn semver(range: &str) -> PolicyChoice {
    PolicyChoice::SemVer {
        range: range.to_string(),
    }
}
fn alpha(order: SortOrder) -> PolicyChoice {
    PolicyChoice::Alphabetical { order }
}
fn num(order: SortOrder) -> PolicyChoice {
    PolicyChoice::Numerical { order }
}

struct Case {
    name: &'static str,
    choice: PolicyChoice,
    filter: Option<(&'static str, &'static str)>,
    tags: &'static [&'static str],
    want: Want,
}

fn case(
    name: &'static str,
    choice: PolicyChoice,
    tags: &'static [&'static str],
    want: Want,
) -> Case {
    Case {
        name,
        choice,
        filter: None,
        tags,
        want,
    }
}

fn filtered(
    name: &'static str,
    choice: PolicyChoice,
    pattern: &'static str,
    extract: &'static str,
    tags: &'static [&'static str],
    want: Want,
) -> Case {
    Case {
        name,
        choice,
        filter: Some((pattern, extract)),
        tags,
        want,
    }
}

fn cases() -> Vec<Case> {
    use SortOrder::{Asc, Desc};
    use Want::*;
    vec![
        // Flux's own semver tests.
        case(
            "flux valid format",
            semver("1.0.x"),
            &["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"],
            Tag("1.0.1"),
        ),
        case(
            "flux v prefix",
            semver("1.0.x"),
            &["v1.2.3", "v1.0.0", "v0.1.0"],
            Tag("v1.0.0"),
        ),
        case(
            "flux invalid prefix",
            semver("1.0.x"),
            &["b1.2.3", "b1.0.0", "b0.1.0"],
            NoCandidate,
        ),
        case("flux empty list", semver("1.0.x"), &[], NoCandidate),
        case(
            "flux non-matching",
            semver("1.0.x"),
            &["1.2.0"],
            NoCandidate,
        ),
        // Tag parsing.
        case(
            "two parts rejected",
            semver(">=1.0.0"),
            &["1.2", "v1", "1.0.0"],
            Tag("1.0.0"),
        ),
        case(
            "only short tags",
            semver(">=1.0.0"),
            &["1.2", "v3"],
            NoCandidate,
        ),
        case(
            "four parts rejected",
            semver("*"),
            &["1.2.3.4", "1.2.3"],
            Tag("1.2.3"),
        ),
        case(
            "leading zeros coerced",
            semver(">=1.0.0"),
            &["01.02.03", "1.2.2"],
            Tag("01.02.03"),
        ),
        case(
            "uppercase V rejected",
            semver("*"),
            &["V2.0.0", "1.0.0"],
            Tag("1.0.0"),
        ),
        case(
            "overflow rejected",
            semver("*"),
            &["99999999999999999999.0.0", "1.0.0"],
            Tag("1.0.0"),
        ),
        case(
            "minor-only prerelease tag",
            semver(">=1.2.0-0"),
            &["1.2-rc.1", "1.1.0"],
            Tag("1.2-rc.1"),
        ),
        case(
            "prerelease leading zero invalid",
            semver(">=1.0.0-0"),
            &["1.0.0-01", "1.0.0-1"],
            Tag("1.0.0-1"),
        ),
        case(
            "latest and sha tags ignored",
            semver(">=0.1.0"),
            &["sha-1a2b3c", "latest", "0.2.0", "main"],
            Tag("0.2.0"),
        ),
        // Ties and ordering.
        case(
            "tie keeps first (v first)",
            semver(">=1.0.0"),
            &["v1.2.4", "1.2.4"],
            Tag("v1.2.4"),
        ),
        case(
            "tie keeps first (plain first)",
            semver(">=1.0.0"),
            &["1.2.4", "v1.2.4"],
            Tag("1.2.4"),
        ),
        case(
            "build metadata ignored",
            semver("*"),
            &["1.2.3+build.2", "1.2.3+build.10"],
            Tag("1.2.3+build.2"),
        ),
        case(
            "prerelease ascii order",
            semver(">=1.0.0-0"),
            &["1.0.0-BETA", "1.0.0-alpha"],
            Tag("1.0.0-alpha"),
        ),
        case(
            "prerelease numeric order",
            semver(">=1.0.0-0"),
            &["1.0.0-rc.9", "1.0.0-rc.10"],
            Tag("1.0.0-rc.10"),
        ),
        case(
            "release beats its prerelease",
            semver(">=1.0.0-0"),
            &["1.0.0-rc.1", "1.0.0"],
            Tag("1.0.0"),
        ),
        // Prerelease opt-in.
        case(
            "star excludes prereleases",
            semver("*"),
            &["1.2.3-rc.1", "1.2.2"],
            Tag("1.2.2"),
        ),
        case(
            "-0 idiom includes prereleases",
            semver(">=1.2.3-0"),
            &["1.2.4-rc.1", "1.2.3"],
            Tag("1.2.4-rc.1"),
        ),
        case(
            "prerelease opt-in covers the AND group",
            semver(">=1.0.0-0 <2.0.0"),
            &["1.5.0-beta", "1.4.0"],
            Tag("1.5.0-beta"),
        ),
        case(
            "opt-in is per OR group",
            semver(">=1.0.0-0 <2.0.0 || >=3.0.0"),
            &["3.1.0-rc.1", "1.0.0"],
            Tag("1.0.0"),
        ),
        // Operators.
        case(
            "caret major",
            semver("^1.2.3"),
            &["2.0.0", "1.9.9", "1.2.2"],
            Tag("1.9.9"),
        ),
        case(
            "caret zero minor",
            semver("^0.2.3"),
            &["0.3.0", "0.2.9", "0.2.2"],
            Tag("0.2.9"),
        ),
        case(
            "caret zero zero",
            semver("^0.0.3"),
            &["0.0.4", "0.0.3"],
            Tag("0.0.3"),
        ),
        case(
            "tilde patch",
            semver("~1.2.3"),
            &["1.3.0", "1.2.9"],
            Tag("1.2.9"),
        ),
        case(
            "tilde major",
            semver("~1"),
            &["2.0.0", "1.9.0"],
            Tag("1.9.0"),
        ),
        case(
            "tilde arrow",
            semver("~>1.2"),
            &["1.3.0", "1.2.5"],
            Tag("1.2.5"),
        ),
        case(
            "hyphen range",
            semver("1.2 - 1.4.5"),
            &["1.4.6", "1.4.5", "1.1.0"],
            Tag("1.4.5"),
        ),
        case(
            "hyphen without spaces is a prerelease",
            semver("1.2-1.4.5"),
            &["1.4.5", "1.2.7"],
            Tag("1.2.7"),
        ),
        case(
            "not equal",
            semver("!=1.2.3"),
            &["1.2.3", "1.2.2"],
            Tag("1.2.2"),
        ),
        case(
            "not equal wildcard",
            semver("!=1.2.x"),
            &["1.2.9", "1.3.0", "1.1.0"],
            Tag("1.3.0"),
        ),
        case(
            "dirty greater and less-equal",
            semver(">1.0 <=2.0"),
            &["2.1.0", "2.0.5", "1.1.0", "1.0.5"],
            Tag("2.0.5"),
        ),
        case(
            "comma AND",
            semver(">=1.0.0, <2.0.0"),
            &["2.0.0", "1.5.0"],
            Tag("1.5.0"),
        ),
        case(
            "space after operator",
            semver(">= 1.2.3"),
            &["1.2.3", "1.2.2"],
            Tag("1.2.3"),
        ),
        case(
            "v prefix in range",
            semver("v1.x"),
            &["v2.0.0", "v1.3.0", "1.4.0"],
            Tag("1.4.0"),
        ),
        case(
            "uppercase X wildcard",
            semver("1.2.X"),
            &["1.3.0", "1.2.8"],
            Tag("1.2.8"),
        ),
        case(
            "OR of exact versions",
            semver("1.0.0 || 3.0.0"),
            &["3.0.0", "2.0.0", "1.0.0"],
            Tag("3.0.0"),
        ),
        case(
            "equals exact",
            semver("=1.2.3"),
            &["1.2.4", "1.2.3", "v1.2.3"],
            Tag("1.2.3"),
        ),
        // Invalid ranges.
        case("invalid 1x", semver("1x"), &["1.0.0"], Invalid),
        case("invalid x1", semver("x1"), &["1.0.0"], Invalid),
        case("invalid empty", semver(""), &["1.0.0"], Invalid),
        case(
            "invalid trailing letters",
            semver("1.0.0p"),
            &["1.0.0"],
            Invalid,
        ),
        case("invalid negative", semver("-1"), &["1.0.0"], Invalid),
        case("invalid word", semver("a"), &["1.0.0"], Invalid),
        case(
            "invalid empty OR branch",
            semver("1.2.3 ||"),
            &["1.2.3"],
            Invalid,
        ),
        case(
            "invalid pipe in number",
            semver("1|2.3"),
            &["1.2.3"],
            Invalid,
        ),
        // Alphabetical.
        case(
            "alphabetical asc",
            alpha(Asc),
            &["RELEASE.2023-01-01", "RELEASE.2024-01-01"],
            Tag("RELEASE.2024-01-01"),
        ),
        case(
            "alphabetical desc",
            alpha(Desc),
            &["RELEASE.2023-01-01", "RELEASE.2024-01-01"],
            Tag("RELEASE.2023-01-01"),
        ),
        case(
            "alphabetical is byte order",
            alpha(Asc),
            &["B", "a", "Z"],
            Tag("a"),
        ),
        case("alphabetical empty", alpha(Asc), &[], NoCandidate),
        // Numerical.
        case("numerical asc", num(Asc), &["1.5", "10", "9.99"], Tag("10")),
        case(
            "numerical desc",
            num(Desc),
            &["1.5", "10", "9.99"],
            Tag("1.5"),
        ),
        case(
            "numerical equal: later wins",
            num(Asc),
            &["1.0", "1"],
            Tag("1"),
        ),
        case(
            "numerical non-number fails",
            num(Asc),
            &["1", "2", "latest"],
            NotNumeric,
        ),
        case(
            "numerical exponent and sign",
            num(Asc),
            &["-3", "2e2", "150"],
            Tag("2e2"),
        ),
        // filterTags.
        filtered(
            "extract timestamp numerical asc",
            num(Asc),
            r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$",
            "$ts",
            &["main-abc-100", "main-def-200", "dev-abc-300", "main-zzz-5"],
            Tag("main-def-200"),
        ),
        filtered(
            "extract timestamp numerical desc",
            num(Desc),
            r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$",
            "${ts}",
            &["main-abc-100", "main-def-200", "dev-abc-300"],
            Tag("main-abc-100"),
        ),
        filtered(
            "filter makes numerical valid",
            num(Asc),
            r"^\d+$",
            "",
            &["12", "latest", "7"],
            Tag("12"),
        ),
        filtered(
            "extract semver suffix",
            semver(">=1.0.0"),
            r"^v?(?P<v>[0-9]+\.[0-9]+\.[0-9]+)-debian$",
            "$v",
            &["1.2.0-debian", "1.3.0-alpine", "1.1.0-debian"],
            Tag("1.2.0-debian"),
        ),
        filtered(
            "numbered group",
            semver("^2"),
            r"^app-(.+)$",
            "$1",
            &["app-2.1.0", "app-3.0.0", "2.9.0"],
            Tag("app-2.1.0"),
        ),
        filtered(
            "pattern is unanchored",
            alpha(Asc),
            "main",
            "",
            &["x-main-1", "dev-2", "main-0"],
            Tag("x-main-1"),
        ),
        filtered(
            "duplicates keep the last tag",
            alpha(Asc),
            r"^(\d+)\.\d+$",
            "$1",
            &["5.1", "5.2", "4.9"],
            Tag("5.2"),
        ),
        filtered(
            "filter matches nothing",
            semver("*"),
            "^nomatch",
            "",
            &["1.0.0"],
            NoCandidate,
        ),
        filtered("invalid regex", semver("*"), "(", "", &["1.0.0"], Invalid),
        filtered(
            "invalid regex repetition",
            alpha(Asc),
            "a{2,1}",
            "",
            &["aa"],
            Invalid,
        ),
    ]
}

fn compile(c: &Case) -> Result<CompiledPolicy, PolicyError> {
    CompiledPolicy::compile(&PolicySpec {
        choice: c.choice.clone(),
        filter: c.filter.map(|(pattern, extract)| FilterTags {
            pattern: pattern.to_string(),
            extract: extract.to_string(),
        }),
    })
}

#[test]
fn policy_table() {
    let all = cases();
    assert!(all.len() >= 40);
    let mut failures = Vec::new();
    for c in &all {
        let outcome = compile(c).and_then(|p| p.latest(c.tags));
        let ok = match (&c.want, &outcome) {
            (Want::Tag(t), Ok(sel)) => sel.tag == *t,
            (Want::Invalid, Err(e)) => e.is_stalled() && e.reason() == "InvalidPolicy",
            (Want::NoCandidate, Err(PolicyError::NoCandidate { .. })) => true,
            (Want::NotNumeric, Err(PolicyError::InvalidNumeric { .. })) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: want {:?}, got {:?}", c.name, c.want, outcome));
        }
        // The explanation must agree with `latest`.
        if let Ok(policy) = compile(c) {
            let explanation = policy.explain(c.tags);
            assert_eq!(explanation.tags.len(), c.tags.len(), "{}", c.name);
            let chosen: Vec<_> = explanation
                .tags
                .iter()
                .filter(|t| t.fate == TagFate::Chosen)
                .map(|t| t.tag.clone())
                .collect();
            assert_eq!(
                chosen.first().cloned(),
                outcome.as_ref().ok().map(|s| s.tag.clone()),
                "{}",
                c.name
            );
            assert_eq!(
                explanation.chosen,
                outcome.as_ref().ok().map(|s| s.tag.clone())
            );
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

#[test]
fn no_candidate_message_counts_scanned_and_filtered() {
    let spec = PolicySpec {
        choice: semver(">=2.0.0"),
        filter: Some(FilterTags {
            pattern: "^v".to_string(),
            extract: String::new(),
        }),
    };
    let err = CompiledPolicy::compile(&spec)
        .unwrap()
        .latest(&["v1.0.0", "v1.1.0", "latest", "v-next"])
        .unwrap_err();
    assert_eq!(err.reason(), "Failure");
    assert_eq!(
        err.to_string(),
        "unable to determine latest version from provided list (scanned 4 tags, 3 matched \
         filterTags.pattern, 2 parsed as versions, none satisfied semver range '>=2.0.0')"
    );
    let empty = CompiledPolicy::compile(&spec)
        .unwrap()
        .latest(&["latest"])
        .unwrap_err();
    assert_eq!(
        empty.to_string(),
        "version list argument cannot be empty (scanned 1 tag, 0 matched filterTags.pattern)"
    );
}

#[test]
fn error_messages_follow_flux() {
    let bad_range = CompiledPolicy::compile(&PolicySpec {
        choice: semver("1x"),
        filter: None,
    })
    .unwrap_err();
    assert_eq!(
        bad_range.to_string(),
        "invalid policy: improper constraint: \"1x\""
    );
    let numeric = CompiledPolicy::compile(&PolicySpec {
        choice: num(SortOrder::Asc),
        filter: None,
    })
    .unwrap()
    .latest(&["1", "abc"])
    .unwrap_err();
    assert_eq!(
        numeric.to_string(),
        "failed to parse invalid numeric value 'abc'"
    );
    let bad_regex = CompiledPolicy::compile(&PolicySpec {
        choice: num(SortOrder::Asc),
        filter: Some(FilterTags {
            pattern: "(".into(),
            extract: String::new(),
        }),
    })
    .unwrap_err();
    assert!(
        bad_regex
            .to_string()
            .starts_with("failed to filter tags: invalid regular expression pattern '(':"),
        "{bad_regex}"
    );
}

#[test]
fn explanation_records_each_fate() {
    let spec = PolicySpec {
        choice: semver("^1"),
        filter: Some(FilterTags {
            pattern: r"^(?:v)?(?P<v>.*)-(?:\d)$".to_string(),
            extract: "$v".to_string(),
        }),
    };
    let tags = [
        "v1.2.0-1", "1.2.0-2", "2.0.0-1", "banana-1", "1.1.0-1", "nodash",
    ];
    let exp = CompiledPolicy::compile(&spec).unwrap().explain(&tags);
    let fates: Vec<_> = exp.tags.iter().map(|t| t.fate).collect();
    assert_eq!(
        fates,
        vec![
            TagFate::Duplicate,
            TagFate::Chosen,
            TagFate::OutOfRange,
            TagFate::NotAVersion,
            TagFate::Candidate,
            TagFate::FilteredOut,
        ]
    );
    assert_eq!(exp.tags[1].extracted.as_deref(), Some("1.2.0"));
    assert_eq!(
        exp.tags[0].detail.as_deref(),
        Some("same value as '1.2.0-2'")
    );
    let text = exp.to_string();
    assert!(text.contains("TAG"), "{text}");
    assert!(text.contains("chosen: 1.2.0-2"), "{text}");
    let json = serde_json::to_value(&exp).unwrap();
    assert_eq!(json["tags"][2]["fate"], "OutOfRange");
    assert_eq!(json["chosen"], "1.2.0-2");
}

#[test]
fn spec_json_is_read_like_flux() {
    let spec = PolicySpec::from_spec_json(&serde_json::json!({
        "policy": {"alphabetical": {"order": "DESC"}, "numerical": {}},
        "filterTags": {"pattern": "^a"}
    }))
    .unwrap();
    assert_eq!(spec.choice, alpha(SortOrder::Desc));
    assert_eq!(spec.filter.unwrap().pattern, "^a");
    let numerical =
        PolicySpec::from_spec_json(&serde_json::json!({"policy": {"numerical": {}}})).unwrap();
    assert_eq!(numerical.choice, num(SortOrder::Asc));
    let none = PolicySpec::from_spec_json(&serde_json::json!({"policy": {}})).unwrap_err();
    assert!(none.is_stalled());
    let bad_order =
        PolicySpec::from_spec_json(&serde_json::json!({"policy": {"numerical": {"order": "up"}}}))
            .unwrap_err();
    assert_eq!(
        bad_order.to_string(),
        "invalid policy: invalid order argument provided: 'UP', must be one of: ASC, DESC"
    );
    let wrong_type =
        PolicySpec::from_spec_json(&serde_json::json!({"policy": {"semver": {"range": 5}}}))
            .unwrap_err();
    assert!(wrong_type.is_stalled());
}

#[test]
fn hostile_inputs_do_not_panic() {
    let long = "9".repeat(10_000);
    let weird = [
        "",
        ".",
        "..",
        "v",
        "v.",
        "1..2",
        "1.2.",
        "-",
        "+",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-a..b",
        "\u{0}",
        "é.é.é",
        "1.2.3-é",
        &long,
        "1.2.3-99999999999999999999999",
        "..1",
    ];
    let ranges = [
        "",
        "||",
        "|| ||",
        "- -",
        "1 - ",
        " - 2",
        ">",
        "~",
        "^",
        "!=",
        "*.*.*",
        "x.x.x-0",
        "1.2.3 - 4.5.6 - 7",
        "> 1 < 2 , 3",
        "\u{b}1.0.0",
        "=1.0.0+build",
        ">=1.0.0-0.-.x",
        &long,
    ];
    for range in ranges {
        if let Ok(p) = CompiledPolicy::compile(&PolicySpec {
            choice: semver(range),
            filter: None,
        }) {
            let _ = p.latest(&weird);
            let _ = p.explain(&weird).to_string();
        }
    }
    for order in [SortOrder::Asc, SortOrder::Desc] {
        for choice in [alpha(order), num(order)] {
            let p = CompiledPolicy::compile(&PolicySpec {
                choice,
                filter: Some(FilterTags {
                    pattern: "(.*)".into(),
                    extract: "${1}$".into(),
                }),
            })
            .unwrap();
            let _ = p.latest(&weird);
            let _ = p.explain(&weird).to_string();
        }
    }
}
