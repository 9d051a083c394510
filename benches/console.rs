//! Console benchmark (numbers in BENCHMARKS.md, "Console").
//!
//! Setup: an `App` holding 10,000 rows over 3 contexts (Kustomizations, GitRepositories, HelmReleases
//! and Argo CD Applications; one in ten failing, one in twenty suspended), drawn on a 200×50 ratatui
//! `TestBackend` (no terminal I/O, so the figure is the console's own cost).
//!
//! Criterion benchmarks:
//! - `console_frame/update_render_all`: one watch update (a changed row) applied with `App::update`,
//!   the view refreshed (cache rebuilt, since the store changed) and the full frame rendered.
//! - `console_frame/render_only`: rendering an unchanged frame (the cache is fresh).
//! - `console_frame/update_render_failing_sorted`: as the first, on `:failing` sorted by name.
//! - `console_filter/keystroke`: one character typed into the `/` filter line (the regex filter is
//!   recompiled and applied to all 10,000 rows), then the frame rendered.
//! - `console_filter/fuzzy_keystroke`: the same with a `-f` fuzzy filter.
//!
//! `expect()` here is only on fixture setup and TestBackend drawing: a benchmark whose fixture cannot be
//! built or drawn measures nothing, so it stops with the message instead of reporting a number.

use criterion::{Criterion, black_box};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flotilla::cluster::{ContextState, Update};
use flotilla::model::Row;
use flotilla::tui::{App, Event, Keymap, Settings, Theme, ViewKind, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

const ROWS: usize = 10_000;
const CONTEXTS: [&str; 3] = ["dev", "staging", "production"];
const NOW: i64 = 1_767_232_800;

fn object(i: usize) -> Value {
    let ns = format!("team-{}", i % 40);
    let name = format!("app-{i:05}");
    let ready = if i % 10 == 3 { "False" } else { "True" };
    let message = if ready == "True" {
        "Applied revision: main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b".to_string()
    } else {
        format!("kustomize build failed: accumulating resources from 'app-{i}': missing")
    };
    let cond = json!([{"type": "Ready", "status": ready, "reason": "R", "message": message,
                       "lastTransitionTime": "2026-01-01T00:30:00Z"}]);
    let meta = json!({"name": name, "namespace": ns, "generation": 1,
                      "creationTimestamp": "2026-01-01T00:00:00Z"});
    match i % 4 {
        0 => {
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": meta,
            "spec": {"interval": "10m", "path": "./apps", "suspend": i.is_multiple_of(20),
                     "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
            "status": {"observedGeneration": 1, "lastAppliedRevision": "main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
                       "conditions": cond}})
        }
        1 => {
            json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": meta,
            "spec": {"interval": "1m", "url": "https://example.com/fleet.git", "ref": {"branch": "main"}},
            "status": {"observedGeneration": 1, "artifact": {"revision": "main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"},
                       "conditions": cond}})
        }
        2 => {
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": meta,
            "spec": {"interval": "5m", "chart": {"spec": {"chart": "podinfo", "version": "6.x",
                     "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}},
            "status": {"observedGeneration": 1, "conditions": cond}})
        }
        _ => json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
            "spec": {"project": "default", "source": {"repoURL": "https://example.com/apps.git"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
                     "syncPolicy": {"automated": {"prune": true}}},
            "status": {"sync": {"status": "Synced"}, "health": {"status": if ready == "True" {"Healthy"} else {"Degraded"}}}}),
    }
}

fn row(i: usize) -> Row {
    let context = CONTEXTS[i % CONTEXTS.len()];
    // Construction cannot fail: every object above is a registry kind.
    Row::from_object(context, &object(i)).expect("a GitOps object")
}

fn console() -> App {
    let contexts: Vec<String> = CONTEXTS.iter().map(|c| c.to_string()).collect();
    let mut app = App::new(
        Settings::default(),
        Keymap::builtin_default(),
        Theme::builtin_default(),
        &contexts,
        ViewKind::All,
    );
    app.update(Event::Tick(NOW));
    app.update(Event::Resize(200, 50));
    for c in CONTEXTS {
        app.update(Event::Cluster(Update::Context {
            context: c.into(),
            state: ContextState::Live,
        }));
    }
    for i in 0..ROWS {
        app.update(Event::Cluster(Update::Upsert(Box::new(row(i)))));
    }
    app.refresh_view();
    app
}

fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn bench_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("console_frame");
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("test backend");
    let changed: Vec<Row> = (0..64).map(|i| row(i * 97)).collect();

    let mut app = console();
    let mut n = 0usize;
    group.bench_function("update_render_all", |b| {
        b.iter(|| {
            n += 1;
            let r = changed[n % changed.len()].clone();
            app.update(Event::Cluster(Update::Upsert(Box::new(r))));
            app.refresh_view();
            term.draw(|f| view::render(&app, f)).expect("draw");
        })
    });
    group.bench_function("render_only", |b| {
        b.iter(|| {
            term.draw(|f| view::render(black_box(&app), f))
                .expect("draw");
        })
    });

    let mut failing = console();
    for c in ":failing\nN".chars() {
        let ev = if c == '\n' {
            Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
        } else {
            key(c)
        };
        failing.update(ev);
    }
    group.bench_function("update_render_failing_sorted", |b| {
        b.iter(|| {
            n += 1;
            let r = changed[n % changed.len()].clone();
            failing.update(Event::Cluster(Update::Upsert(Box::new(r))));
            failing.refresh_view();
            term.draw(|f| view::render(&failing, f)).expect("draw");
        })
    });
    group.finish();
}

fn bench_filter(c: &mut Criterion) {
    let mut group = c.benchmark_group("console_filter");
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("test backend");
    for (name, prefix) in [("keystroke", ""), ("fuzzy_keystroke", "-f ")] {
        let mut app = console();
        app.update(key('/'));
        for ch in prefix.chars() {
            app.update(key(ch));
        }
        // Alternate between typing a character and deleting it, so every iteration is one keystroke
        // that changes the filter over all 10,000 rows.
        let mut typed = false;
        group.bench_function(name, |b| {
            b.iter(|| {
                let ev = if typed {
                    Event::Key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE))
                } else {
                    key('7')
                };
                typed = !typed;
                app.update(ev);
                term.draw(|f| view::render(&app, f)).expect("draw");
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_frame(&mut c);
    bench_filter(&mut c);
    c.final_summary();
}
