//! The console beyond the table: detail view, `:events`, `:ctx`, `:ns` and favourites, actions (delete,
//! HelmRelease force/reset, Argo CD), per-context read-only, reconcile progress, bulk results, copy,
//! fuzzy and label filters, and the cached row list. Key sequences drive `App::update`; screens are
//! rendered with ratatui's TestBackend and snapshot-tested with insta.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flotilla::cluster::{Action, ContextState, ObjectEvent, Update};
use flotilla::model::Row;
use flotilla::model::row::RowKey;
use flotilla::tui::{App, Effect, Event, Focus, Keymap, Settings, Theme, ViewKind, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// 2026-01-01T02:00:00Z.
const NOW: i64 = 1_767_229_200 + 3600;

fn ks(name: &str, ns: &str, ready: &str, message: &str) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns, "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"interval": "10m", "path": "./apps", "prune": true,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"observedGeneration": 1, "lastAppliedRevision": "main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
                   "conditions": [{"type": "Ready", "status": ready, "reason": if ready == "True" {"ReconciliationSucceeded"} else {"BuildFailed"},
                                   "message": message, "lastTransitionTime": "2026-01-01T00:30:00Z"}]}
    })
}

fn hr(name: &str, ns: &str) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": ns, "generation": 2,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"interval": "5m", "chart": {"spec": {"chart": "podinfo", "version": "6.x",
                 "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}},
        "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True",
                   "reason": "UpgradeSucceeded", "message": "Helm upgrade succeeded",
                   "lastTransitionTime": "2026-01-01T00:40:00Z"}]}
    })
}

fn app_obj(name: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"project": "default", "source": {"repoURL": "https://example.com/apps.git", "path": "guestbook"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
                 "syncPolicy": {"automated": {"prune": true}}},
        "status": {"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"},
                   "reconciledAt": "2026-01-01T00:50:00Z"}
    })
}

fn upsert(context: &str, obj: &Value) -> Event {
    Event::Cluster(Update::Upsert(Box::new(
        Row::from_object(context, obj).unwrap(),
    )))
}

fn live(context: &str) -> Event {
    Event::Cluster(Update::Context {
        context: context.into(),
        state: ContextState::Live,
    })
}

fn console(settings: Settings) -> App {
    let names = vec!["dev".to_string(), "prod".to_string()];
    let mut app = App::new(
        settings,
        Keymap::builtin_default(),
        Theme::builtin_default(),
        &names,
        ViewKind::All,
    );
    app.update(Event::Tick(NOW));
    for e in [
        live("dev"),
        live("prod"),
        upsert(
            "dev",
            &ks(
                "apps",
                "flux-system",
                "True",
                "Applied revision: main@sha1:1a2b3c4",
            ),
        ),
        upsert(
            "dev",
            &ks(
                "infra",
                "flux-system",
                "False",
                "kustomize build failed: accumulating resources",
            ),
        ),
        upsert("dev", &hr("podinfo", "web")),
        upsert(
            "prod",
            &ks(
                "apps",
                "flux-system",
                "True",
                "Applied revision: main@sha1:1a2b3c4",
            ),
        ),
        upsert("prod", &app_obj("guestbook")),
    ] {
        app.update(e);
    }
    app
}

fn seeded() -> App {
    console(Settings::default())
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render(app, f)).unwrap();
    format!("{}", t.backend())
}

fn press(app: &mut App, code: KeyCode, mods: KeyModifiers) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(code, mods)))
}

fn typed(app: &mut App, s: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for c in s.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            c => KeyCode::Char(c),
        };
        out.extend(press(app, code, KeyModifiers::NONE));
    }
    out
}

fn names(app: &App) -> Vec<String> {
    app.visible_rows()
        .iter()
        .map(|r| format!("{}/{}", r.context, r.name))
        .collect()
}

/// Moves the selection to the row named `context/name`.
fn select(app: &mut App, context: &str, name: &str) {
    typed(app, "g");
    for _ in 0..20 {
        let k = app.selected_key().unwrap();
        if k.context == context && k.name == name {
            return;
        }
        typed(app, "j");
    }
    panic!("no row {context}/{name}: {:?}", names(app));
}

fn event(
    context: &str,
    uid: &str,
    name: &str,
    type_: &str,
    reason: &str,
    message: &str,
    at: &str,
) -> ObjectEvent {
    ObjectEvent::from_value(
        context,
        &json!({"metadata": {"uid": uid},
                "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                   "namespace": "flux-system", "name": name},
                "type": type_, "reason": reason, "message": message, "count": 2, "lastTimestamp": at}),
    )
    .unwrap()
}

#[test]
fn detail_view_fetches_object_and_events_then_shows_conditions_spec_and_events() {
    let mut app = seeded();
    select(&mut app, "dev", "infra");
    let fx = typed(&mut app, "\n");
    let key = app.selected_key().unwrap();
    assert_eq!(
        fx,
        [Effect::Fetch(key.clone()), Effect::FetchEvents(key.clone())]
    );
    let loading = screen(&app, 100, 24);
    assert!(loading.contains("loading…"), "{loading}");
    let mut obj = ks(
        "infra",
        "flux-system",
        "False",
        "kustomize build failed: accumulating resources",
    );
    obj["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "Stalled", "status": "True", "reason": "BuildFailed",
                     "message": "kustomize build failed", "lastTransitionTime": "2026-01-01T00:30:00Z"}));
    app.update(Event::Fetched {
        key: key.clone(),
        result: Ok(obj),
    });
    app.update(Event::EventsFetched {
        key: key.clone(),
        result: Ok(vec![
            event(
                "dev",
                "e1",
                "infra",
                "Warning",
                "BuildFailed",
                "kustomize build failed: accumulating resources",
                "2026-01-01T00:55:00Z",
            ),
            event(
                "dev",
                "e0",
                "infra",
                "Normal",
                "ReconciliationSucceeded",
                "Applied revision main@sha1:0000000",
                "2026-01-01T00:20:00Z",
            ),
        ]),
    });
    insta::assert_snapshot!(screen(&app, 100, 24));
    // Copy in the detail view copies context/namespace/name; Esc returns to the table.
    assert_eq!(
        typed(&mut app, "c"),
        [Effect::Copy {
            text: "dev/flux-system/infra".into(),
            what: "dev/flux-system/infra".into()
        }]
    );
    typed(&mut app, "\x1b");
    assert!(matches!(app.focus, Focus::Table));
}

#[test]
fn detail_view_shows_fetch_errors_and_survives_a_malformed_object() {
    let mut app = seeded();
    let fx = typed(&mut app, "\n");
    let Effect::Fetch(key) = fx[0].clone() else {
        panic!("{fx:?}")
    };
    app.update(Event::Fetched {
        key: key.clone(),
        result: Ok(json!([1, {"status": 3}])),
    });
    app.update(Event::EventsFetched {
        key,
        result: Err("events is forbidden".into()),
    });
    let s = screen(&app, 80, 24);
    assert!(s.contains("(none)"), "{s}");
    assert!(s.contains("cannot list events: events is forbidden"), "{s}");
    // Scrolling far past the end stays on screen.
    for _ in 0..50 {
        typed(&mut app, "j");
    }
    assert!(screen(&app, 80, 24).contains("Events"));
}

#[test]
fn events_view_watches_once_and_lists_newest_first_with_filter() {
    let mut app = seeded();
    assert_eq!(typed(&mut app, ":events\n"), [Effect::WatchEvents]);
    assert!(screen(&app, 80, 10).contains("no Events about GitOps objects yet"));
    for e in [
        event(
            "dev",
            "a",
            "infra",
            "Warning",
            "BuildFailed",
            "kustomize build failed",
            "2026-01-01T00:55:00Z",
        ),
        event(
            "prod",
            "b",
            "apps",
            "Normal",
            "ReconciliationSucceeded",
            "Applied revision main@sha1:1a2b3c4",
            "2026-01-01T00:58:00Z",
        ),
        event(
            "dev",
            "c",
            "apps",
            "Normal",
            "Progressing",
            "Health check passed",
            "2026-01-01T00:10:00Z",
        ),
    ] {
        app.update(Event::ObjectEvent(e));
    }
    // The same Event seen again replaces the old copy.
    app.update(Event::ObjectEvent(event(
        "dev",
        "a",
        "infra",
        "Warning",
        "BuildFailed",
        "kustomize build failed (again)",
        "2026-01-01T00:59:00Z",
    )));
    insta::assert_snapshot!(screen(&app, 120, 10));
    assert_eq!(app.events.items.len(), 3);
    typed(&mut app, "/warn\n");
    let s = screen(&app, 120, 10);
    assert!(s.contains("events(1)"), "{s}");
    // Enter opens the detail of the Event's object.
    let fx = typed(&mut app, "\n");
    assert!(
        matches!(&fx[..], [Effect::Fetch(k), Effect::FetchEvents(_)] if k.name == "infra" && k.kind == "Kustomization"),
        "{fx:?}"
    );
    typed(&mut app, "\x1b\x1b\x1b");
    assert_eq!(app.table.kind, ViewKind::All);
    // Back on :events: no second watch.
    assert!(typed(&mut app, ":events\n").is_empty());
}

#[test]
fn context_picker_toggles_and_picks_contexts() {
    let mut app = seeded();
    typed(&mut app, ":ctx\n");
    assert!(matches!(app.focus, Focus::Contexts(_)));
    insta::assert_snapshot!(screen(&app, 100, 12));
    // space hides dev.
    typed(&mut app, " ");
    assert!(
        names(&app).iter().all(|n| n.starts_with("prod/")),
        "{:?}",
        names(&app)
    );
    typed(&mut app, "a");
    assert_eq!(names(&app).len(), 5);
    // enter on prod shows only prod.
    typed(&mut app, "j\n");
    assert!(matches!(app.focus, Focus::Table));
    assert_eq!(names(&app), ["prod/guestbook", "prod/apps"]);
    assert!(screen(&app, 100, 12).contains("hidden: dev"));
    typed(&mut app, ":ctx all\n");
    assert_eq!(names(&app).len(), 5);
    typed(&mut app, ":ctx dev\n");
    assert_eq!(names(&app).len(), 3);
    typed(&mut app, ":ctx nope\n");
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("nope"))
    );
}

#[test]
fn namespace_command_picker_and_favourites() {
    let mut app = console(Settings {
        favourites: vec!["all".into(), "web".into()],
        ..Settings::default()
    });
    typed(&mut app, ":ns web\n");
    assert_eq!(names(&app), ["dev/podinfo"]);
    assert!(screen(&app, 100, 8).contains("ns web"));
    typed(&mut app, "0");
    assert_eq!(names(&app).len(), 5);
    typed(&mut app, "1");
    assert_eq!(names(&app), ["dev/podinfo"]);
    typed(&mut app, "7");
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("favourite 7"))
    );
    typed(&mut app, ":ns\n");
    let Focus::Namespaces(p) = &app.focus else {
        panic!()
    };
    assert_eq!(p.items, ["all", "argocd", "flux-system", "web"]);
    assert_eq!(p.selected, 3);
    insta::assert_snapshot!(screen(&app, 80, 12));
    typed(&mut app, "kk\n");
    assert_eq!(names(&app), ["prod/guestbook"]);
    typed(&mut app, ":ns all\n");
    assert_eq!(names(&app).len(), 5);
}

#[test]
fn delete_and_kind_actions_go_through_confirmation() {
    let mut app = seeded();
    select(&mut app, "dev", "podinfo");
    assert!(press(&mut app, KeyCode::Char('d'), KeyModifiers::CONTROL).is_empty());
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("delete 1 object(s)? This cannot be undone."),
        "{s}"
    );
    let fx = typed(&mut app, "y");
    assert!(
        matches!(&fx[..], [Effect::Apply { action: Action::Delete, targets }] if targets[0].name == "podinfo")
    );
    for (k, action) in [("F", Action::HelmForce), ("X", Action::HelmReset)] {
        typed(&mut app, k);
        let fx = typed(&mut app, "\n");
        assert!(
            matches!(&fx[..], [Effect::Apply { action: a, .. }] if *a == action),
            "{k}: {fx:?}"
        );
    }
    select(&mut app, "prod", "guestbook");
    for (k, action) in [("f", Action::Refresh), ("H", Action::HardRefresh)] {
        typed(&mut app, k);
        let fx = typed(&mut app, "y");
        assert!(
            matches!(&fx[..], [Effect::Apply { action: a, .. }] if *a == action),
            "{k}: {fx:?}"
        );
    }
    press(&mut app, KeyCode::Char('s'), KeyModifiers::CONTROL);
    let fx = typed(&mut app, "y");
    assert!(
        matches!(
            &fx[..],
            [Effect::Apply {
                action: Action::Sync { prune: false },
                ..
            }]
        ),
        "{fx:?}"
    );
}

#[test]
fn per_context_readonly_refuses_mutations_there_only() {
    let mut app = console(Settings {
        readonly_contexts: BTreeSet::from(["prod".to_string()]),
        ..Settings::default()
    });
    select(&mut app, "prod", "apps");
    for k in ["s", "R", "f"] {
        assert!(typed(&mut app, k).is_empty());
        assert!(matches!(app.focus, Focus::Table));
        let f = app.flash.clone().unwrap();
        assert!(
            f.error && f.text.contains("context prod is read-only"),
            "{f:?}"
        );
    }
    assert!(press(&mut app, KeyCode::Char('d'), KeyModifiers::CONTROL).is_empty());
    assert!(matches!(app.focus, Focus::Table));
    // Refused from the detail view, the detail view stays open.
    typed(&mut app, "\n");
    assert!(typed(&mut app, "s").is_empty());
    assert!(matches!(app.focus, Focus::Detail(_)));
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("context prod is read-only"))
    );
    typed(&mut app, "\x1b");
    // A bulk action touching prod is refused as a whole.
    select(&mut app, "dev", "apps");
    typed(&mut app, " ");
    select(&mut app, "prod", "apps");
    typed(&mut app, " s");
    assert!(matches!(app.focus, Focus::Table));
    // dev alone is allowed.
    typed(&mut app, "\x1b\x1b");
    select(&mut app, "dev", "apps");
    typed(&mut app, "s");
    assert!(matches!(app.focus, Focus::Confirm(_)));
    assert!(screen(&app, 100, 12).contains("prod(ro)"));
}

#[test]
fn reconcile_shows_progress_until_last_handled_catches_up() {
    let mut app = seeded();
    select(&mut app, "dev", "apps");
    typed(&mut app, "R");
    let fx = typed(&mut app, "y");
    let [Effect::Apply { targets, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    let key = targets[0].clone();
    assert!(app.pending.contains_key(&key));
    app.update(Event::ActionDone {
        key: key.clone(),
        action: "reconcile",
        result: Ok(()),
    });
    app.update(Event::Tick(NOW + 3));
    let s = screen(&app, 140, 12);
    assert!(s.contains("⟳ reconcile requested 3s ago"), "{s}");
    assert!(s.contains("reconciling 1"), "{s}");
    // An update that has not caught up keeps the marker; one with a newer lastHandledReconcileAt clears it.
    app.update(upsert(
        "dev",
        &ks(
            "apps",
            "flux-system",
            "True",
            "Applied revision: main@sha1:1a2b3c4",
        ),
    ));
    assert!(app.pending.contains_key(&key));
    let mut done = ks(
        "apps",
        "flux-system",
        "True",
        "Applied revision: main@sha1:1a2b3c4",
    );
    let token = format!("{}", jiff::Timestamp::from_second(NOW + 2).unwrap());
    done["status"]["lastHandledReconcileAt"] = json!(token);
    app.update(upsert("dev", &done));
    assert!(!app.pending.contains_key(&key));
    // A request that never lands times out with a flash.
    select(&mut app, "dev", "infra");
    typed(&mut app, "Ry");
    assert_eq!(app.pending.len(), 1);
    app.update(Event::Tick(NOW + 200));
    assert!(app.pending.is_empty());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("no reconcile seen"))
    );
    // A failed request clears its marker at once.
    typed(&mut app, "Ry");
    let k = app.pending.keys().next().cloned().unwrap();
    app.update(Event::ActionDone {
        key: k,
        action: "reconcile",
        result: Err("forbidden".into()),
    });
    assert!(app.pending.is_empty());
}

#[test]
fn bulk_results_are_counted_in_one_flash() {
    let mut app = seeded();
    typed(&mut app, ":ks\n   ");
    assert_eq!(app.marks.len(), 3);
    let fx = typed(&mut app, "sy");
    let [Effect::Apply { targets, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    let targets = targets.clone();
    app.update(Event::ActionDone {
        key: targets[0].clone(),
        action: "suspend",
        result: Ok(()),
    });
    assert_eq!(app.flash.clone().unwrap().text, "suspend: 1/3 done");
    app.update(Event::ActionDone {
        key: targets[1].clone(),
        action: "suspend",
        result: Err("409 conflict".into()),
    });
    app.update(Event::ActionDone {
        key: targets[2].clone(),
        action: "suspend",
        result: Ok(()),
    });
    let f = app.flash.clone().unwrap();
    assert!(f.error, "{f:?}");
    assert!(
        f.text
            .starts_with("suspend: 2/3 done, 1 failed; first: suspend Kustomization"),
        "{f:?}"
    );
}

#[test]
fn confirmation_lists_every_target_and_scrolls() {
    let mut app = seeded();
    typed(&mut app, "     ");
    assert_eq!(app.marks.len(), 5);
    typed(&mut app, "R");
    let s = screen(&app, 80, 24);
    for m in [
        "dev Kustomization flux-system/apps",
        "dev HelmRelease web/podinfo",
        "prod Application argocd/guestbook",
    ] {
        assert!(s.contains(m), "{m}: {s}");
    }
    let small = screen(&app, 80, 10);
    assert!(small.contains("more (j/k scroll)"), "{small}");
    typed(&mut app, "jjjj");
    let scrolled = screen(&app, 80, 10);
    assert!(scrolled.contains("above"), "{scrolled}");
    insta::assert_snapshot!(scrolled);
}

#[test]
fn copy_name_and_masked_yaml() {
    let mut app = seeded();
    select(&mut app, "dev", "apps");
    // `c` copies what is unambiguous over several clusters, `C` the name alone.
    assert_eq!(
        typed(&mut app, "c"),
        [Effect::Copy {
            text: "dev/flux-system/apps".into(),
            what: "dev/flux-system/apps".into()
        }]
    );
    assert_eq!(
        typed(&mut app, "C"),
        [Effect::Copy {
            text: "apps".into(),
            what: "name apps".into()
        }]
    );
    app.update(Event::Copied(Ok("name apps via OSC 52".into())));
    assert_eq!(
        app.flash.clone().unwrap().text,
        "copied name apps via OSC 52"
    );
    let fx = typed(&mut app, "y");
    let [Effect::Fetch(k)] = &fx[..] else {
        panic!()
    };
    // Nothing to copy while loading.
    assert!(typed(&mut app, "c").is_empty());
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "managedFields": [{}]},
                        "data": {"token": "c2VjcmV0"}});
    app.update(Event::Fetched {
        key: k.clone(),
        result: Ok(secret),
    });
    let fx = typed(&mut app, "c");
    let [Effect::Copy { text, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    assert!(
        text.contains("kind: Secret") && text.contains("token:"),
        "{text}"
    );
    assert!(
        !text.contains("c2VjcmV0") && !text.contains("managedFields"),
        "{text}"
    );
    app.update(Event::Copied(Err("no terminal".into())));
    assert!(app.flash.clone().unwrap().error);
}

#[test]
fn fuzzy_and_label_filters() {
    let mut app = seeded();
    typed(&mut app, "/-f pdnf\n");
    assert_eq!(names(&app), ["dev/podinfo"]);
    typed(&mut app, "/\x1b/!-f pdnf\n");
    assert_eq!(names(&app).len(), 4);
    // Seeded rows carry no labels: a label filter matches nothing, and its inverse everything.
    typed(&mut app, "/\x1b/-l app=web\n");
    assert!(
        app.flash.as_ref().is_none_or(|f| !f.error),
        "{:?}",
        app.flash
    );
    assert!(names(&app).is_empty());
    typed(&mut app, "/\x1b/!-l app=web\n");
    assert_eq!(names(&app).len(), 5);
    typed(&mut app, "/\x1b/-l =x\n");
    assert!(
        app.flash
            .clone()
            .unwrap()
            .text
            .contains("expected key=value")
    );
    assert_eq!(names(&app).len(), 5, "a malformed selector filters nothing");
}

fn labelled(mut obj: Value, labels: Value) -> Value {
    obj["metadata"]["labels"] = labels;
    obj
}

#[test]
fn label_filters_select_rows_by_metadata_labels() {
    let mut app = seeded();
    for e in [
        upsert(
            "dev",
            &labelled(
                ks("web-a", "web", "True", "ok"),
                json!({"app": "web", "tier": "front"}),
            ),
        ),
        upsert(
            "prod",
            &labelled(
                ks("web-b", "web", "True", "ok"),
                json!({"app": "web", "tier": "back"}),
            ),
        ),
        upsert(
            "prod",
            &labelled(hr("db", "data"), json!({"app": "db", "tier": "back"})),
        ),
        upsert(
            "dev",
            &labelled(
                app_obj("argo-web"),
                json!({"app.kubernetes.io/part-of": "web"}),
            ),
        ),
    ] {
        app.update(e);
    }
    app.refresh_view();
    typed(&mut app, "/-l app=web\n");
    assert_eq!(names(&app), ["dev/web-a", "prod/web-b"]);
    typed(&mut app, "/\x1b/-l tier=back\n");
    assert_eq!(names(&app), ["prod/db", "prod/web-b"]);
    typed(&mut app, "/\x1b/-l app==web,tier!=back\n");
    assert_eq!(names(&app), ["dev/web-a"]);
    typed(&mut app, "/\x1b/-l tier\n");
    assert_eq!(names(&app).len(), 3);
    typed(&mut app, "/\x1b/-l app.kubernetes.io/part-of=web\n");
    assert_eq!(names(&app), ["dev/argo-web"]);
    // `!key`: objects without the label (the 5 seeded rows and the Argo CD app).
    typed(&mut app, "/\x1b/-l !tier\n");
    assert_eq!(names(&app).len(), 6);
    // `key!=value` admits objects without the key, as kubectl does.
    typed(&mut app, "/\x1b/-l app!=web\n");
    assert_eq!(names(&app).len(), 7);
    // A leading `!` inverts the whole filter.
    typed(&mut app, "/\x1b/!-l app=web\n");
    assert_eq!(names(&app).len(), 7);
    // The label filter combines with the view.
    typed(&mut app, "\x1b:hr\n/-l tier=back\n");
    assert_eq!(names(&app), ["prod/db"]);
    // Labels follow live updates.
    app.update(upsert(
        "prod",
        &labelled(hr("db", "data"), json!({"app": "db", "tier": "front"})),
    ));
    app.refresh_view();
    assert!(names(&app).is_empty());
}

#[test]
fn cached_rows_follow_every_change() {
    let mut app = seeded();
    typed(&mut app, "/^apps\n");
    assert_eq!(names(&app), ["dev/apps", "prod/apps"]);
    assert!(app.table.is_fresh(&app.store, &app.scope));
    app.update(upsert("prod", &ks("apps-2", "flux-system", "True", "ok")));
    // Cluster updates only invalidate; the answer is still right before the refresh.
    assert!(!app.table.is_fresh(&app.store, &app.scope));
    assert_eq!(names(&app), ["dev/apps", "prod/apps", "prod/apps-2"]);
    app.refresh_view();
    assert!(app.table.is_fresh(&app.store, &app.scope));
    app.update(Event::Cluster(Update::Remove(RowKey {
        context: "dev".into(),
        kind: "Kustomization",
        namespace: "flux-system".into(),
        name: "apps".into(),
    })));
    app.update(Event::Cluster(Update::Resync {
        context: "prod".into(),
        kind: "Kustomization",
        rows: vec![],
    }));
    app.refresh_view();
    assert!(names(&app).is_empty());
    typed(&mut app, "\x1b");
    assert_eq!(names(&app), ["dev/podinfo", "dev/infra", "prod/guestbook"]);
    typed(&mut app, "N");
    assert_eq!(names(&app), ["prod/guestbook", "dev/infra", "dev/podinfo"]);
}

#[test]
fn vim_keymap_and_dracula_theme_load() {
    let km = Keymap::load("vim", None).unwrap();
    let mut app = seeded();
    app.keymap = km;
    app.theme = Theme::load("dracula", None, false).unwrap();
    typed(&mut app, "D");
    assert!(matches!(&app.focus, Focus::Confirm(c) if c.action == Action::Delete));
    typed(&mut app, "n");
    assert!(screen(&app, 80, 24).contains("delete: cancelled"));
}

#[test]
fn yaml_view_searches_and_steps_through_matches() {
    let mut app = seeded();
    select(&mut app, "dev", "infra");
    let fx = typed(&mut app, "y");
    let [Effect::Fetch(k)] = &fx[..] else {
        panic!("{fx:?}")
    };
    app.update(Event::Fetched {
        key: k.clone(),
        result: Ok(ks(
            "infra",
            "flux-system",
            "False",
            "kustomize build failed",
        )),
    });
    typed(&mut app, "/FLUX-SYS");
    assert!(screen(&app, 80, 24).contains("/FLUX-SYS█"));
    typed(&mut app, "\n");
    let Focus::Yaml(y) = &app.focus else { panic!() };
    let first = y.scroll;
    assert!(y.lines[first].contains("flux-system"), "{:?}", y.lines);
    // n goes to the next match (not N-sort: the YAML view takes it), N back.
    typed(&mut app, "n");
    let Focus::Yaml(y) = &app.focus else { panic!() };
    assert!(y.scroll != first && y.lines[y.scroll].contains("flux-system"));
    typed(&mut app, "N");
    let Focus::Yaml(y) = &app.focus else { panic!() };
    assert_eq!(y.scroll, first);
    insta::assert_snapshot!(screen(&app, 80, 24));
    typed(&mut app, "/zzz\n");
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("not found: zzz"))
    );
    // Esc closes the view.
    typed(&mut app, "\x1b");
    assert!(matches!(app.focus, Focus::Table));
}

#[test]
fn every_overlay_renders_at_80x24_and_on_tiny_terminals() {
    let mut app = seeded();
    let mut shots = Vec::new();
    typed(&mut app, "\n");
    shots.push(screen(&app, 80, 24));
    typed(&mut app, "\x1b:events\n");
    app.update(Event::ObjectEvent(event(
        "prod",
        "x",
        "apps",
        "Warning",
        "HealthCheckFailed",
        "timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']",
        "2026-01-01T01:59:00Z",
    )));
    shots.push(screen(&app, 80, 24));
    typed(&mut app, "\x1b:ctx\n");
    shots.push(screen(&app, 80, 24));
    insta::assert_snapshot!(shots.join("\n"));
    // Nothing panics on absurdly small terminals, whatever is open.
    for keys in ["", "\n", "?", ":ctx\n", ":ns\n", "s", "y", ":events\n"] {
        let mut app = seeded();
        typed(&mut app, keys);
        for (w, h) in [(1, 1), (10, 3), (20, 5), (200, 2)] {
            let _ = screen(&app, w, h);
        }
    }
}

#[test]
fn random_key_storms_never_panic() {
    // A fixed-seed xorshift, so a failure reproduces.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let specials = [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::Backspace,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
    ];
    for round in 0..20 {
        let mut app = console(Settings {
            readonly_contexts: BTreeSet::from(["prod".to_string()]),
            favourites: vec!["all".into(), "web".into()],
            ..Settings::default()
        });
        for step in 0..400 {
            let r = next();
            let code = if r % 4 == 0 {
                specials[(r >> 8) as usize % specials.len()]
            } else {
                KeyCode::Char(char::from(b' ' + ((r >> 16) % 95) as u8))
            };
            let mods = if (r >> 32) % 13 == 0 {
                KeyModifiers::CONTROL
            } else {
                KeyModifiers::NONE
            };
            for fx in app.update(Event::Key(KeyEvent::new(code, mods))) {
                // Answer fetches with junk and successes alike.
                match fx {
                    Effect::Fetch(key) => {
                        let result = if r % 3 == 0 {
                            Err("boom".to_string())
                        } else {
                            Ok(
                                json!({"spec": [r], "status": {"conditions": [{"type": 1}, {"type": "Ready"}]}}),
                            )
                        };
                        app.update(Event::Fetched { key, result });
                    }
                    Effect::FetchEvents(key) => {
                        app.update(Event::EventsFetched {
                            key,
                            result: Ok(vec![]),
                        });
                    }
                    Effect::Apply { targets, action } => {
                        for key in targets {
                            app.update(Event::ActionDone {
                                key,
                                action: action.name(),
                                result: Err("nope".into()),
                            });
                        }
                    }
                    Effect::Quit => app = seeded(),
                    _ => {}
                }
            }
            if step % 50 == 0 {
                app.update(Event::Tick(NOW + step));
                app.update(upsert(
                    "dev",
                    &ks(&format!("n{round}-{step}"), "flux-system", "False", "x"),
                ));
            }
            if step % 37 == 0 {
                let w = 1 + (r % 160) as u16;
                let h = 1 + ((r >> 8) % 40) as u16;
                app.update(Event::Resize(w, h));
                let _ = screen(&app, w, h);
            }
        }
        let _ = screen(&app, 80, 24);
    }
}

#[test]
fn sync_command_carries_prune() {
    let mut app = seeded();
    select(&mut app, "prod", "guestbook");
    typed(&mut app, ":sync prune\n");
    let s = screen(&app, 80, 24);
    assert!(s.contains("sync 1 object(s)?"), "{s}");
    let fx = typed(&mut app, "y");
    assert!(
        matches!(&fx[..], [Effect::Apply { action: Action::Sync { prune: true }, targets }] if targets[0].name == "guestbook"),
        "{fx:?}"
    );
    typed(&mut app, ":sync\n");
    let fx = typed(&mut app, "y");
    assert!(
        matches!(
            &fx[..],
            [Effect::Apply {
                action: Action::Sync { prune: false },
                ..
            }]
        ),
        "{fx:?}"
    );
    assert!(typed(&mut app, ":sync hard\n").is_empty());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("unknown option"))
    );
}

#[test]
fn the_in_process_reconciler_shows_in_the_header_and_extension_commands_run() {
    let mut app = seeded();
    assert!(
        !screen(&app, 120, 24).contains("reconciler"),
        "no reconciler segment without one"
    );
    app.update(Event::Reconciler {
        queued: 2,
        in_flight: 1,
    });
    let s = screen(&app, 120, 24);
    assert!(s.contains("reconciler 1 running 2 queued"), "{s}");

    // Without the extension the word is not a command.
    let effects = typed(&mut app, ":demo commit\n");
    assert!(!effects.iter().any(|e| matches!(e, Effect::Extension(_))));
    // With it, the whole line goes to the runtime, and its answer is flashed.
    app.extensions = vec!["demo".to_string()];
    let effects = typed(&mut app, ":demo commit\n");
    assert_eq!(effects, vec![Effect::Extension("demo commit".into())]);
    app.update(Event::CommandDone(Ok(
        "demo: committed abc1234 \"scale podinfo\"".into(),
    )));
    assert!(screen(&app, 120, 24).contains("demo: committed abc1234"));
    app.update(Event::CommandDone(Err(
        ":demo nope: unknown demo command".into()
    )));
    let flash = app.flash.clone().unwrap();
    assert!(flash.error && flash.text.contains("unknown demo command"));
}

#[test]
fn filters_match_the_whole_row_and_prompts_clear_like_a_shell() {
    let mut app = seeded();
    // Terms are ANDed over the row as shown: context and name together, the READY cell.
    typed(&mut app, "/prod apps\n");
    assert_eq!(names(&app), ["prod/apps"]);
    // Reopening `/` edits the current filter; Ctrl-U clears the line.
    typed(&mut app, "/");
    let Focus::Prompt(p) = &app.focus else {
        panic!("{:?}", app.focus)
    };
    assert_eq!(p.input, "prod apps");
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, "False\n");
    assert_eq!(names(&app), ["dev/infra"]);
    // Ctrl-W deletes the last word; a regex spans cells (`dev` context … `web` namespace).
    typed(&mut app, "/");
    press(&mut app, KeyCode::Char('w'), KeyModifiers::CONTROL);
    typed(&mut app, "dev.*web\n");
    assert_eq!(names(&app), ["dev/podinfo"]);
    // `-f` is fuzzy within any cell: the chart column, the message.
    typed(&mut app, "/");
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, "-f accres\n");
    assert_eq!(
        names(&app),
        ["dev/infra"],
        "fuzzy in 'accumulating resources'"
    );
    typed(&mut app, "/");
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, "!True\n");
    assert_eq!(names(&app), ["dev/infra"], "inverted");
    typed(&mut app, "/");
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, "\n");
    assert_eq!(names(&app).len(), 5);
}

#[test]
fn failing_view_and_header_counts_follow_the_scope() {
    let mut app = seeded();
    // An Application that is out of sync but healthy: READY False, so it is in `:failing`.
    let mut drifted = app_obj("drifted");
    drifted["status"]["sync"]["status"] = json!("OutOfSync");
    app.update(upsert("prod", &drifted));
    typed(&mut app, ":failing\n");
    let mut failing = names(&app);
    failing.sort();
    assert_eq!(failing, ["dev/infra", "prod/drifted"]);
    typed(&mut app, ":all\n");
    let c = app.counts();
    assert_eq!(c.total, 6);
    assert_eq!(
        c.ready + c.failing + c.suspended + c.progressing + c.unknown,
        c.total
    );
    // `:ctx prod` narrows the header as well as the table.
    typed(&mut app, ":ctx prod\n");
    app.refresh_view();
    let c = app.counts();
    assert_eq!(c.total, names(&app).len());
    assert_eq!(c.total, 3);
    let header = screen(&app, 120, 8);
    assert!(header.contains("unknown "), "{header}");
    typed(&mut app, ":ctx all\n");
    app.refresh_view();
    assert_eq!(app.counts().total, 6);
}

#[test]
fn flash_messages_expire_and_long_ones_keep_their_end() {
    let mut app = seeded();
    typed(&mut app, ":ctx nope\n");
    assert!(app.flash.as_ref().is_some_and(|f| f.error));
    // The next key retires it.
    typed(&mut app, "j");
    assert_eq!(app.flash, None);
    // A key bound to nothing says so (and how to find the keys).
    typed(&mut app, "%");
    let f = app.flash.clone().unwrap();
    assert!(
        !f.error && f.text.contains("% does nothing here (? lists the keys)"),
        "{f:?}"
    );
    typed(&mut app, "j");
    // Left alone, an error goes after a few seconds (a notice sooner).
    typed(&mut app, ":ctx nope\n");
    app.update(Event::Tick(NOW + 3));
    assert!(app.flash.is_some(), "still shown after 3 s");
    app.update(Event::Tick(NOW + 30));
    assert_eq!(app.flash, None);
    // A long message loses its middle, not its end.
    typed(&mut app, &format!(":{}\n", "x".repeat(300)));
    let shown = screen(&app, 80, 24);
    assert!(shown.contains("unknown command \"xx"), "{shown}");
    assert!(shown.contains("x…x"), "{shown}");
    assert!(shown.contains(":help lists keys)"), "{shown}");
}

#[test]
fn overlays_wrap_and_scroll_sideways_to_show_the_end_of_long_lines() {
    let mut app = seeded();
    select(&mut app, "dev", "infra");
    let fx = typed(&mut app, "y");
    let [Effect::Fetch(k)] = &fx[..] else {
        panic!("{fx:?}")
    };
    let message = format!(
        "{} stalled: [Deployment/checkout/checkout]",
        "a".repeat(260)
    );
    app.update(Event::Fetched {
        key: k.clone(),
        result: Ok(ks("infra", "flux-system", "False", &message)),
    });
    let cut = screen(&app, 80, 40);
    assert!(!cut.contains("Deployment/checkout"), "{cut}");
    // `w` wraps: the end of the 300-character message is on screen.
    typed(&mut app, "w");
    let wrapped = screen(&app, 80, 40);
    assert!(wrapped.contains("[wrap]"), "{wrapped}");
    assert!(wrapped.contains("checkout/checkout]"), "{wrapped}");
    // Unwrapped, → scrolls sideways until the end shows, ← comes back.
    typed(&mut app, "w");
    for _ in 0..16 {
        press(&mut app, KeyCode::Right, KeyModifiers::NONE);
    }
    let scrolled = screen(&app, 80, 40);
    assert!(scrolled.contains("checkout/checkout]"), "{scrolled}");
    for _ in 0..16 {
        press(&mut app, KeyCode::Left, KeyModifiers::NONE);
    }
    assert_eq!(screen(&app, 80, 40), cut);
}
