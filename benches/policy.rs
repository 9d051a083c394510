//! ImagePolicy evaluation over 10,000 tags (issue target: semver with a filter under 5 ms median).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use flotilla::controllers::image::policy::{
    CompiledPolicy, FilterTags, PolicyChoice, PolicySpec, SortOrder,
};

/// A registry-like mix: releases, prereleases, variants, branch builds and junk, stored descending.
fn tags() -> Vec<String> {
    let mut tags = Vec::with_capacity(10_000);
    let mut i = 0u32;
    while tags.len() < 10_000 {
        let (major, minor, patch) = (i % 7, (i / 7) % 40, i / 280);
        match i % 5 {
            0 => tags.push(format!("v{major}.{minor}.{patch}")),
            1 => tags.push(format!("{major}.{minor}.{patch}-rc.{}", i % 11)),
            2 => tags.push(format!("{major}.{minor}.{patch}-alpine")),
            3 => tags.push(format!(
                "main-{:07x}-{}",
                i.wrapping_mul(2_654_435_761),
                1_700_000_000 + i
            )),
            _ => tags.push(format!("{major}.{minor}.{patch}")),
        }
        i += 1;
    }
    tags.sort_by(|a, b| b.cmp(a));
    tags
}

fn bench(c: &mut Criterion) {
    let tags = tags();
    let semver_filtered = CompiledPolicy::compile(&PolicySpec {
        choice: PolicyChoice::SemVer {
            range: ">=1.0.0 <6.0.0".to_string(),
        },
        filter: Some(FilterTags {
            pattern: r"^v?(?P<version>[0-9]+\.[0-9]+\.[0-9]+)(-rc\.[0-9]+)?$".to_string(),
            extract: "$version".to_string(),
        }),
    })
    .expect("valid policy");
    let semver_pattern_only = CompiledPolicy::compile(&PolicySpec {
        choice: PolicyChoice::SemVer {
            range: "^2.x || ~5.3".to_string(),
        },
        filter: Some(FilterTags {
            pattern: r"^v?[0-9]".to_string(),
            extract: String::new(),
        }),
    })
    .expect("valid policy");
    let numerical = CompiledPolicy::compile(&PolicySpec {
        choice: PolicyChoice::Numerical {
            order: SortOrder::Asc,
        },
        filter: Some(FilterTags {
            pattern: r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$".to_string(),
            extract: "$ts".to_string(),
        }),
    })
    .expect("valid policy");

    c.bench_function("semver_filter_extract_10k", |b| {
        b.iter(|| semver_filtered.latest(black_box(&tags)))
    });
    c.bench_function("semver_filter_10k", |b| {
        b.iter(|| semver_pattern_only.latest(black_box(&tags)))
    });
    c.bench_function("numerical_extract_10k", |b| {
        b.iter(|| numerical.latest(black_box(&tags)))
    });
    c.bench_function("semver_explain_10k", |b| {
        b.iter(|| semver_filtered.explain(black_box(&tags)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
