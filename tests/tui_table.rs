//! The console's table view: whole-screen snapshots (TestBackend + insta) and key sequences on
//! `App::update`, with rows built from realistic objects and a fixed clock.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flotilla::cluster::{Action, ContextState, Update};
use flotilla::model::Row;
use flotilla::tui::{App, Effect, Event, Focus, Keymap, Settings, Theme, ViewKind, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

/// 2026-01-01T00:00:00Z plus an hour.
const NOW: i64 = 1_767_229_200 + 3600;

fn ks(name: &str, ns: &str, ready: &str, message: &str, suspend: bool) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns, "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"interval": "10m", "path": "./apps", "suspend": suspend,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"observedGeneration": 1, "lastAppliedRevision": "main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
                   "conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": message,
                                   "lastTransitionTime": "2026-01-01T00:30:00Z"}]}
    })
}

fn git(name: &str, ns: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ns, "generation": 1,
                     "creationTimestamp": "2025-12-31T00:00:00Z"},
        "spec": {"interval": "1m", "url": "https://example.com/fleet.git", "ref": {"branch": "main"}},
        "status": {"observedGeneration": 1, "artifact": {"revision": "main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                                   "message": "stored artifact for revision 'main@sha1:1a2b3c4'",
                                   "lastTransitionTime": "2026-01-01T00:10:00Z"}]}
    })
}

fn row(context: &str, obj: Value) -> Update {
    Update::Upsert(Box::new(Row::from_object(context, &obj).unwrap()))
}

fn app_with(contexts: &[&str], readonly: bool) -> App {
    let names: Vec<String> = contexts.iter().map(|c| c.to_string()).collect();
    let mut app = App::new(
        Settings {
            readonly,
            ..Settings::default()
        },
        Keymap::builtin_default(),
        Theme::builtin_default(),
        &names,
        ViewKind::All,
    );
    app.update(Event::Tick(NOW));
    app
}

fn seeded(readonly: bool) -> App {
    let mut app = app_with(&["dev", "prod"], readonly);
    for c in ["dev", "prod"] {
        app.update(Event::Cluster(Update::Context {
            context: c.into(),
            state: ContextState::Live,
        }));
    }
    for u in [
        row(
            "dev",
            ks(
                "apps",
                "flux-system",
                "True",
                "Applied revision: main@sha1:1a2b3c4",
                false,
            ),
        ),
        row(
            "dev",
            ks(
                "infra",
                "flux-system",
                "False",
                "kustomize build failed: missing resource",
                false,
            ),
        ),
        row("dev", git("flux-system", "flux-system")),
        row(
            "prod",
            ks(
                "apps",
                "flux-system",
                "True",
                "Applied revision: main@sha1:1a2b3c4",
                true,
            ),
        ),
        row("prod", git("flux-system", "flux-system")),
    ] {
        app.update(Event::Cluster(u));
    }
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render(app, f)).unwrap();
    format!("{}", t.backend())
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, s: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for c in s.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            c => KeyCode::Char(c),
        };
        out.extend(key(app, code));
    }
    out
}

fn names(app: &App) -> Vec<String> {
    app.visible_rows()
        .iter()
        .map(|r| format!("{}/{}/{}", r.context, r.kind.kind, r.name))
        .collect()
}

#[test]
fn snapshot_all_view_wide() {
    insta::assert_snapshot!(screen(&seeded(false), 140, 12));
}

#[test]
fn snapshot_all_view_80x24() {
    insta::assert_snapshot!(screen(&seeded(true), 80, 24));
}

#[test]
fn snapshot_kind_view_shows_kind_cells() {
    let mut app = seeded(false);
    typed(&mut app, ":ks\n");
    insta::assert_snapshot!(screen(&app, 120, 10));
}

#[test]
fn snapshot_empty_and_connecting() {
    let app = app_with(&["dev"], false);
    insta::assert_snapshot!(screen(&app, 80, 8));
}

#[test]
fn snapshot_stale_and_forbidden_contexts() {
    let mut app = seeded(false);
    app.update(Event::Cluster(Update::Context {
        context: "prod".into(),
        state: ContextState::Stale {
            since: NOW - 300,
            message: "connection refused".into(),
        },
    }));
    app.update(Event::Cluster(Update::Context {
        context: "dev".into(),
        state: ContextState::Forbidden {
            message: "kustomizations is forbidden".into(),
        },
    }));
    insta::assert_snapshot!(screen(&app, 100, 10));
    let mut empty = app_with(&["locked"], false);
    empty.update(Event::Cluster(Update::Context {
        context: "locked".into(),
        state: ContextState::Forbidden {
            message: "User \"bob\" cannot list kustomizations".into(),
        },
    }));
    let s = screen(&empty, 80, 8);
    assert!(s.contains("locked: forbidden"), "{s}");
}

#[test]
fn snapshot_help_lists_active_bindings() {
    let mut app = seeded(false);
    typed(&mut app, "?");
    assert!(matches!(app.focus, Focus::Help(_)));
    insta::assert_snapshot!(screen(&app, 80, 24));
    typed(&mut app, "x");
    assert!(matches!(app.focus, Focus::Table));
}

#[test]
fn filter_regex_and_inversion() {
    let mut app = seeded(false);
    typed(&mut app, "/^inf\n");
    assert_eq!(names(&app), ["dev/Kustomization/infra"]);
    // Reopening the filter line starts from the current filter; Esc there clears it.
    typed(&mut app, "/\x1b/!^apps$\n");
    assert_eq!(
        names(&app),
        [
            "dev/GitRepository/flux-system",
            "dev/Kustomization/infra",
            "prod/GitRepository/flux-system"
        ]
    );
    typed(&mut app, "/\x1b/prod\n");
    assert_eq!(names(&app).len(), 2);
    // Esc clears the filter.
    key(&mut app, KeyCode::Esc);
    assert_eq!(names(&app).len(), 5);
    // An invalid regex is taken literally.
    typed(&mut app, "/\x1b/[\n");
    assert!(names(&app).is_empty());
    assert!(screen(&app, 80, 10).contains("no rows match the filter"));
}

#[test]
fn sort_by_name_and_status_flips_on_repeat() {
    let mut app = seeded(false);
    typed(&mut app, "S");
    assert_eq!(names(&app)[0], "dev/Kustomization/infra");
    typed(&mut app, "N");
    assert_eq!(
        names(&app)[..2],
        ["dev/Kustomization/apps", "prod/Kustomization/apps"]
    );
    typed(&mut app, "N");
    assert_eq!(names(&app)[0], "dev/Kustomization/infra");
    typed(&mut app, "A");
    // Newest first: the Kustomizations were created after the GitRepositories.
    assert!(names(&app)[0].contains("Kustomization"));
}

#[test]
fn views_switch_with_the_prompt_and_esc_goes_back() {
    let mut app = seeded(false);
    typed(&mut app, ":gr\n");
    assert_eq!(app.table.kind.title(), "gitrepositories");
    assert_eq!(names(&app).len(), 2);
    typed(&mut app, ":failing\n");
    assert_eq!(names(&app), ["dev/Kustomization/infra"]);
    typed(&mut app, ":susp\t\n");
    assert_eq!(names(&app), ["prod/Kustomization/apps"]);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.table.kind.title(), "failing");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.table.kind, ViewKind::All);
    typed(&mut app, ":pods\n");
    assert!(app.flash.as_ref().is_some_and(|f| f.error));
    assert_eq!(app.table.kind, ViewKind::All);
}

#[test]
fn navigation_moves_the_selection() {
    let mut app = seeded(false);
    let first = app.selected_key().unwrap();
    typed(&mut app, "jj");
    assert_ne!(app.selected_key(), Some(first.clone()));
    typed(&mut app, "G");
    // Store order: context, kind, namespace, name.
    assert_eq!(app.selected_key().unwrap().name, "apps");
    assert_eq!(app.selected_key().unwrap().context, "prod");
    typed(&mut app, "g");
    assert_eq!(app.selected_key(), Some(first));
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected_key().unwrap().context, "prod");
}

#[test]
fn quit_by_prompt_and_ctrl_c() {
    let mut app = seeded(false);
    assert_eq!(typed(&mut app, ":q\n"), [Effect::Quit]);
    let mut app = seeded(false);
    let fx = app.update(Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(fx, [Effect::Quit]);
}

#[test]
fn readonly_refuses_every_action() {
    let mut app = seeded(true);
    for k in ["s", "r", "R", "W"] {
        assert!(typed(&mut app, k).is_empty());
        assert!(matches!(app.focus, Focus::Table));
        let flash = app.flash.clone().unwrap();
        assert!(
            flash.error && flash.text.starts_with("read-only"),
            "{flash:?}"
        );
    }
}

#[test]
fn marks_make_a_bulk_action_after_confirmation() {
    let mut app = seeded(false);
    typed(&mut app, ":ks\n");
    typed(&mut app, "  ");
    assert_eq!(app.marks.len(), 2);
    assert!(typed(&mut app, "s").is_empty());
    let s = screen(&app, 80, 24);
    assert!(s.contains("suspend 2 object(s)?"), "{s}");
    assert!(s.contains("dev Kustomization flux-system/apps"), "{s}");
    let fx = typed(&mut app, "y");
    let [Effect::Apply { targets, action }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(*action, Action::Suspend);
    assert_eq!(targets.len(), 2);
    assert!(app.marks.is_empty());
    // n cancels.
    typed(&mut app, "R");
    assert!(typed(&mut app, "n").is_empty());
    assert!(matches!(app.focus, Focus::Table));
}

#[test]
fn remapped_keymap_drives_update() {
    let mut km = Keymap::builtin_default();
    // `z` is free; `x` would clash with `diff` (a key means one command per scope).
    km.overlay("test", "table:\n  down: [n]\n  suspend: [z]\n")
        .unwrap();
    let mut app = seeded(false);
    app.keymap = km;
    let first = app.selected_key();
    typed(&mut app, "j");
    assert_eq!(app.selected_key(), first);
    typed(&mut app, "n");
    assert_ne!(app.selected_key(), first);
    typed(&mut app, "z");
    assert!(matches!(app.focus, Focus::Confirm(_)));
}

#[test]
fn empty_live_views_say_why() {
    let mut app = app_with(&["dev"], false);
    app.update(Event::Cluster(Update::Context {
        context: "dev".into(),
        state: ContextState::Live,
    }));
    assert!(screen(&app, 80, 8).contains("no GitOps objects in any context"));
    typed(&mut app, ":failing\n");
    assert!(screen(&app, 80, 8).contains("nothing is failing"));
}

#[test]
fn yaml_view_fetches_then_shows_the_object_without_managed_fields() {
    let mut app = seeded(false);
    let fx = typed(&mut app, "y");
    let [Effect::Fetch(k)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    let mut obj = ks("apps", "flux-system", "True", "ok", false);
    obj["metadata"]["managedFields"] = json!([{"manager": "kubectl"}]);
    app.update(Event::Fetched {
        key: k.clone(),
        result: Ok(obj),
    });
    let s = screen(&app, 80, 24);
    assert!(s.contains("kind: Kustomization"), "{s}");
    assert!(!s.contains("managedFields"), "{s}");
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.focus, Focus::Table));
}
