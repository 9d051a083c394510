//! `flotilla` (no subcommand): the console. Loads theme and keymap before taking the terminal, starts
//! one watch session per context, and runs the event loop until the user quits or SIGTERM arrives.

use super::config::Config;
use crate::cluster::{
    Clients, Contexts, EventWatch, KubeconfigSource, ObjectEvent, SessionOptions, SessionSet,
};
use crate::model::row::RowKey;
use crate::model::time::now_unix;
use crate::model::tree::{HealthTree, ObjectRef};
use crate::tui::app::object_ref;
use crate::tui::clipboard;
use crate::tui::keymap::config_dir;
use crate::tui::report_view::{ReportData, ReportRequest};
use crate::tui::{App, Effect, Event, Keymap, Settings, Theme, ViewKind, view};
use crate::views::diff::DiffReport;
use crate::views::diff::live::LiveClient;
use crate::views::images::decisions::image_decisions;
use crate::views::{self, DesiredSource, Fetched};
use anyhow::{Context as _, Result};
use crossterm::event::Event as TermEvent;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::collections::HashMap;
use std::io::Stdout;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// Arguments of the console.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Kubeconfig file (default: KUBECONFIG, several files merged like kubectl, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch this context (repeatable; default: every context of the kubeconfig).
    #[arg(long = "context", value_name = "NAME")]
    pub contexts: Vec<String>,
    /// Watch every context (the default; overrides --context).
    #[arg(long)]
    pub all_contexts: bool,
    /// Watch one namespace.
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// Watch all namespaces (the default).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Refuse every change to the clusters.
    #[arg(long)]
    pub readonly: bool,
    /// The view to open: all, failing, suspended, events, or a kind name or alias (ks, gr, hr, app,
    /// ...). Default: `defaultView` in config.yaml, else all.
    #[arg(short = 'c', long = "command", value_name = "VIEW")]
    pub view: Option<String>,
    /// Theme: default, light, high-contrast, dracula, or a file in ~/.config/flotilla/themes/.
    /// Default: `theme` in config.yaml, else default.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Keymap: default, vim, or a file in ~/.config/flotilla/keymaps/. Default: `keymap` in
    /// config.yaml, else default.
    #[arg(long, value_name = "NAME")]
    pub keymap: Option<String>,
}

/// What an embedding command (the demo) adds to the console: the in-process reconciler's counters
/// for the header, and extra `:` commands.
#[derive(Clone, Default)]
pub struct Extras {
    /// Reads (queued, in flight) of the in-process reconciler.
    pub reconciler: Option<Arc<dyn Fn() -> (usize, usize) + Send + Sync>>,
    /// `:WORD ...` commands: the word and the handler (the whole command line in, the line to show
    /// or the error out).
    pub commands: Vec<(String, CommandHandler)>,
    /// The in-process controller's data directory (artifacts under `<dir>/<context>/artifacts`),
    /// where the diff view reads the desired state from.
    pub data_dir: Option<PathBuf>,
}

/// The console's view fetchers: the `cluster::views` functions over one cached reader per
/// context (its discovery cache survives the tree's refreshes).
#[derive(Clone)]
pub struct ConsoleViews {
    clients: Clients,
    live: Arc<std::sync::Mutex<HashMap<String, LiveClient>>>,
    data_dir: Option<PathBuf>,
}

impl ConsoleViews {
    /// Fetchers over `clients`; diffs read artifacts from `data_dir` when given, else download them.
    pub fn new(clients: Clients, data_dir: Option<PathBuf>) -> ConsoleViews {
        ConsoleViews {
            clients,
            live: Arc::default(),
            data_dir,
        }
    }

    async fn live(&self, context: &str) -> Result<LiveClient, String> {
        if let Some(l) = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(context)
        {
            return Ok(l.clone());
        }
        let client = self
            .clients
            .client(context)
            .await
            .map_err(|e| e.to_string())?;
        let live = LiveClient::new(client);
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(context.to_string(), live.clone());
        Ok(live)
    }

    /// The identity of an object at the version its context serves (GitOps kinds), else as given.
    fn served(&self, context: &str, mut object: ObjectRef) -> ObjectRef {
        if let Some(v) = self.clients.served_version(context, &object.kind)
            && crate::model::lookup(&object.kind).is_some_and(|k| k.group == object.group)
        {
            object.version = v;
        }
        object
    }

    /// The health tree of a Kustomization, HelmRelease or Application row, with read failures.
    pub async fn health_tree(&self, key: &RowKey) -> Result<Fetched<HealthTree>, String> {
        let live = self.live(&key.context).await?;
        let target = self.served(&key.context, object_ref(key));
        let local = views::LocalData {
            context: key.context.clone(),
            data_dir: self.data_dir.clone(),
        };
        views::health_tree(&live, &target, &local)
            .await
            .map_err(|e| e.to_string())
    }

    /// The diff of a Kustomization row.
    pub async fn diff(&self, key: &RowKey) -> Result<DiffReport, String> {
        let live = self.live(&key.context).await?;
        let target = self.served(&key.context, object_ref(key));
        let source = DesiredSource::Artifact {
            data_dir: self.data_dir.clone(),
            context: key.context.clone(),
        };
        views::kustomization_diff(&live, &target, &source)
            .await
            .map_err(|e| e.to_string())
    }

    /// A report: dependsOn, trace or image decisions.
    pub async fn report(&self, request: &ReportRequest) -> Result<ReportData, String> {
        match request {
            ReportRequest::DependsOn(key) => {
                let live = self.live(&key.context).await?;
                let target = self.served(&key.context, object_ref(key));
                views::depends_on(&live, &target)
                    .await
                    .map(|v| ReportData::DependsOn(Box::new(v)))
                    .map_err(|e| e.to_string())
            }
            ReportRequest::Trace { context, object } => {
                let live = self.live(context).await?;
                let target = self.served(context, object.clone());
                views::trace_object(&live, &target)
                    .await
                    .map(ReportData::Trace)
                    .map_err(|e| e.to_string())
            }
            ReportRequest::Images(target) => image_decisions(&self.clients, target)
                .await
                .map(|d| ReportData::Images(Box::new(d)))
                .map_err(|e| e.to_string()),
        }
    }
}

/// Runs one extension command.
pub type CommandHandler = Arc<
    dyn Fn(String) -> futures::future::BoxFuture<'static, Result<String, String>> + Send + Sync,
>;

/// Parses a view name as `-c` and `:` accept it.
pub fn parse_view(name: &str) -> Option<ViewKind> {
    ViewKind::parse(name)
}

/// Runs the console; exit code 2 for unusable configuration, 1 for runtime failures.
pub fn run(args: Args) -> ExitCode {
    run_with(args, Extras::default())
}

/// [`run`] with what an embedding command adds (see [`Extras`]).
pub fn run_with(args: Args, extras: Extras) -> ExitCode {
    let dir = config_dir();
    let config = match Config::load(dir.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flotilla: config: {e}");
            return ExitCode::from(2);
        }
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme_name = args
        .theme
        .clone()
        .or_else(|| config.theme.clone())
        .unwrap_or_else(|| "default".into());
    let keymap_name = args
        .keymap
        .clone()
        .or_else(|| config.keymap.clone())
        .unwrap_or_else(|| "default".into());
    let view_name = args
        .view
        .clone()
        .or_else(|| config.default_view.clone())
        .unwrap_or_else(|| "all".into());
    let theme = match Theme::load(&theme_name, dir.as_deref(), no_color) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("flotilla: theme: {e}");
            return ExitCode::from(2);
        }
    };
    let keymap = match Keymap::load(&keymap_name, dir.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("flotilla: keymap: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(view) = parse_view(&view_name) else {
        eprintln!(
            "flotilla: -c {view_name}: unknown view; use all, failing, suspended, events or a kind (ks, gr, hr, app, ...)"
        );
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flotilla: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(console(args, config, theme, keymap, view, extras)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flotilla: {e:#}");
            ExitCode::FAILURE
        }
    }
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Puts the terminal back as it was (raw mode off, main screen, cursor shown).
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

fn take_terminal() -> Result<Term> {
    // Restore on panic before the default hook prints, so the message lands on a sane screen.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode().context("cannot switch the terminal to raw mode")?;
    execute!(std::io::stdout(), EnterAlternateScreen)
        .context("cannot enter the alternate screen")?;
    Terminal::new(CrosstermBackend::new(std::io::stdout())).context("cannot set up the terminal")
}

async fn console(
    args: Args,
    config: Config,
    theme: Theme,
    keymap: Keymap,
    view: ViewKind,
    extras: Extras,
) -> Result<()> {
    let source = KubeconfigSource::from_env(args.kubeconfig.as_deref())?;
    let contexts = Contexts::load(&source)?;
    let named = if args.all_contexts {
        Vec::new()
    } else {
        args.contexts.clone()
    };
    let selected = contexts.select(&named)?;
    if selected.is_empty() {
        anyhow::bail!("the kubeconfig has no contexts ({:?})", contexts.files());
    }
    let namespace = if args.all_namespaces {
        None
    } else {
        args.namespace.clone()
    };
    let clients = Clients::new(contexts);
    let (update_tx, mut updates) = unbounded_channel();
    let sessions = SessionSet::start(
        &clients,
        &selected,
        SessionOptions {
            namespace: namespace.clone(),
            ..SessionOptions::default()
        },
        update_tx,
    )?;
    let mut app = App::new(
        Settings {
            readonly: args.readonly || config.readonly,
            namespace: namespace.clone(),
            readonly_contexts: config.readonly_contexts.clone(),
            favourites: config.favourites.clone(),
        },
        keymap,
        theme,
        &selected,
        view,
    );
    app.extensions = extras.commands.iter().map(|(w, _)| w.clone()).collect();
    if let Some(read) = &extras.reconciler {
        let (queued, in_flight) = read();
        app.update(Event::Reconciler { queued, in_flight });
    }
    app.update(Event::Tick(now_unix()));
    let start = app.start_effects();

    let mut terminal = take_terminal()?;
    let mut runtime = Runtime {
        views: ConsoleViews::new(clients.clone(), extras.data_dir.clone()),
        clients: clients.clone(),
        contexts: selected.clone(),
        namespace,
        events: None,
        clipboard: None,
        clipboard_env: clipboard::Environment::from_env(),
        extras,
    };
    let result = event_loop(&mut terminal, &mut app, &mut runtime, &mut updates, start).await;
    restore_terminal();
    sessions.shutdown().await;
    result
}

/// Reads terminal events on a plain thread (crossterm's read blocks) and forwards them.
fn spawn_input(tx: UnboundedSender<Event>) {
    std::thread::spawn(move || {
        loop {
            let ev = match crossterm::event::read() {
                Ok(TermEvent::Key(k)) if k.kind != crossterm::event::KeyEventKind::Release => {
                    Event::Key(k)
                }
                Ok(TermEvent::Resize(w, h)) => Event::Resize(w, h),
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.send(ev).is_err() {
                return;
            }
        }
    });
}

/// What the event loop needs to run effects.
struct Runtime {
    clients: Clients,
    /// The view fetchers.
    views: ConsoleViews,
    contexts: Vec<String>,
    namespace: Option<String>,
    /// The `:events` watch, started on first use.
    events: Option<EventWatch>,
    /// The system clipboard, kept alive once opened (X11 serves copies from its owner).
    clipboard: Option<arboard::Clipboard>,
    clipboard_env: clipboard::Environment,
    /// The embedding command's additions.
    extras: Extras,
}

impl Runtime {
    /// Runs one effect; returns true when the console must quit.
    fn run(
        &mut self,
        effect: Effect,
        tx: &UnboundedSender<Event>,
        object_events: &UnboundedSender<ObjectEvent>,
    ) -> bool {
        match effect {
            Effect::Quit => return true,
            Effect::Fetch(key) => {
                let clients = self.clients.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = clients
                        .fetch_object(&key.context, key.kind, &key.namespace, &key.name)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Event::Fetched { key, result });
                });
            }
            Effect::FetchEvents(key) => {
                let clients = self.clients.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = clients
                        .events_for(&key.context, key.kind, &key.namespace, &key.name)
                        .await
                        .map(|evs| {
                            evs.iter()
                                .filter_map(|e| ObjectEvent::from_value(&key.context, e))
                                .collect()
                        })
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Event::EventsFetched { key, result });
                });
            }
            Effect::FetchTree(key) => {
                let views = self.views.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = views.health_tree(&key).await.map(Box::new);
                    let _ = tx.send(Event::TreeFetched { key, result });
                });
            }
            Effect::FetchDiff(key) => {
                let views = self.views.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = views.diff(&key).await;
                    let _ = tx.send(Event::DiffFetched { key, result });
                });
            }
            Effect::FetchReport(request) => {
                let views = self.views.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = views.report(&request).await;
                    let _ = tx.send(Event::ReportFetched { request, result });
                });
            }
            Effect::WatchEvents => {
                if self.events.is_none() {
                    match EventWatch::start(
                        &self.clients,
                        &self.contexts,
                        self.namespace.clone(),
                        object_events.clone(),
                    ) {
                        Ok(w) => self.events = Some(w),
                        Err(e) => tracing::warn!("cannot watch events: {e}"),
                    }
                }
            }
            Effect::Apply { targets, action } => {
                for key in targets {
                    let clients = self.clients.clone();
                    let action = action.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let result = clients
                            .apply_action(&key, &action)
                            .await
                            .map_err(|e| e.to_string());
                        let _ = tx.send(Event::ActionDone {
                            key,
                            action: action.name(),
                            result,
                        });
                    });
                }
            }
            Effect::Extension(line) => {
                let word = line.split_whitespace().next().unwrap_or("").to_string();
                let rest = line[word.len()..].trim().to_string();
                let handler = self
                    .extras
                    .commands
                    .iter()
                    .find(|(w, _)| *w == word)
                    .map(|(_, h)| Arc::clone(h));
                let tx = tx.clone();
                match handler {
                    Some(h) => {
                        tokio::spawn(async move {
                            let _ = tx.send(Event::CommandDone(h(rest).await));
                        });
                    }
                    None => {
                        let _ =
                            tx.send(Event::CommandDone(Err(format!(":{word}: unknown command"))));
                    }
                }
            }
            Effect::Copy { text, what } => {
                let env = self.clipboard_env;
                let result = clipboard::copy(
                    &text,
                    clipboard::choose(env),
                    env,
                    &mut self.clipboard,
                    |seq| {
                        use std::io::Write;
                        let mut out = std::io::stdout();
                        out.write_all(seq.as_bytes())?;
                        out.flush()
                    },
                )
                .map_err(|e| format!("{what}: {e}"));
                let _ = tx.send(Event::Copied(result.map(|how| format!("{what} via {how}"))));
            }
        }
        false
    }
}

async fn event_loop(
    terminal: &mut Term,
    app: &mut App,
    runtime: &mut Runtime,
    updates: &mut tokio::sync::mpsc::UnboundedReceiver<crate::cluster::Update>,
    start: Vec<Effect>,
) -> Result<()> {
    let (tx, mut events) = unbounded_channel();
    let (object_tx, mut object_events) = unbounded_channel();
    spawn_input(tx.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    if let Ok(size) = terminal.size() {
        app.update(Event::Resize(size.width, size.height));
    }
    for effect in start {
        if runtime.run(effect, &tx, &object_tx) {
            return Ok(());
        }
    }
    loop {
        app.refresh_view();
        terminal
            .draw(|f| view::render(app, f))
            .context("cannot draw")?;
        let first = tokio::select! {
            Some(u) = updates.recv() => Event::Cluster(u),
            Some(e) = events.recv() => e,
            Some(e) = object_events.recv() => Event::ObjectEvent(e),
            _ = tick.tick() => {
                if let Some(read) = &runtime.extras.reconciler {
                    let (queued, in_flight) = read();
                    app.update(Event::Reconciler { queued, in_flight });
                }
                Event::Tick(now_unix())
            }
            _ = sigterm.recv() => return Ok(()),
        };
        let mut batch = vec![first];
        // Drain what is already queued so a burst of updates costs one frame.
        while let Ok(u) = updates.try_recv() {
            batch.push(Event::Cluster(u));
            if batch.len() > 4096 {
                break;
            }
        }
        while let Ok(e) = object_events.try_recv() {
            batch.push(Event::ObjectEvent(e));
            if batch.len() > 8192 {
                break;
            }
        }
        while let Ok(e) = events.try_recv() {
            batch.push(e);
        }
        for ev in batch {
            for effect in app.update(ev) {
                if runtime.run(effect, &tx, &object_tx) {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_parse_like_the_prompt() {
        assert_eq!(parse_view("all"), Some(ViewKind::All));
        assert_eq!(parse_view("failing"), Some(ViewKind::Failing));
        assert!(matches!(parse_view("ks"), Some(ViewKind::Kind(k)) if k.kind == "Kustomization"));
        assert!(matches!(parse_view("app"), Some(ViewKind::Kind(k)) if k.kind == "Application"));
        assert_eq!(parse_view("pods"), None);
        assert_eq!(parse_view("events"), Some(ViewKind::Events));
    }
}
