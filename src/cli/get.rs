//! `flotilla get`: the console's Rows, listed once, for scripts and CI.
//!
//! Listing goes through the watch layer's one-shot path ([`Clients::list_rows`]: discovery of the
//! served versions, one list per kind, the same Row conversion), so `get` and the console always agree.

use crate::cluster::{Clients, ClusterError, ContextListing, Contexts, KubeconfigSource};
use crate::model::age::human_duration;
use crate::model::conditions::format_time;
use crate::model::health::Health;
use crate::model::kinds::{KINDS, KindInfo, lookup};
use crate::model::row::Row;
use crate::model::selector::LabelSelector;
use crate::tui::table::parse_selector;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "Examples:
  flotilla get                                   # every GitOps object of every context
  flotilla get ks --context prod -n flux-system  # Kustomizations of one context and namespace
  flotilla get hr podinfo -A                     # the HelmRelease `podinfo` wherever it is
  flotilla get all -l app=web -o json | jq '.items[] | select(.ready != \"True\")'
  flotilla get ks --fail-on-not-ready            # CI gate: exit 1 while any Kustomization fails

Kinds: all (default), ks, gr, oci, hrepo, hc, bucket, hr, ir, ip, iua, alert, provider, receiver,
app, appset, appproj, or any kind name, plural or short name.
Namespaces: all by default (like the console); -n NS for one.
Output is sorted by context, kind, namespace and name.

Exit status: 0 listed; 1 with --fail-on-not-ready when a listed object is failing (as in the
console's :failing view: Ready=False, stalled, or Argo CD degraded/out of sync with an error);
2 on errors: unknown kind, unknown context, unusable kubeconfig, an unreachable or refusing cluster
(named on stderr; the other contexts are still printed), or a NAME found in no context.";

/// Output formats of `flotilla get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns with a header.
    Table,
    /// `{"items": [...]}`.
    Json,
    /// `items:` as YAML.
    Yaml,
}

/// Arguments of `flotilla get`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// `all`, or a kind name or alias (ks, gr, hr, app, ...).
    #[arg(value_name = "KIND", default_value = "all")]
    pub kind: String,
    /// Only objects with this name.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, several files merged like kubectl, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// List this context (repeatable; default: every context of the kubeconfig).
    #[arg(long = "context", value_name = "NAME")]
    pub contexts: Vec<String>,
    /// List one namespace.
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// List all namespaces (the default).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only objects whose labels match (`k=v`, `k!=v`, `k`, `!k`, comma-separated; like kubectl).
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Exit 1 when any listed object is failing.
    #[arg(long)]
    pub fail_on_not_ready: bool,
}

/// One listed object, as `-o json` and `-o yaml` print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Kubeconfig context.
    pub context: String,
    /// Kind.
    pub kind: String,
    /// `group/version` it was read as.
    pub api_version: String,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// READY: `True`, `False` or `Unknown`.
    pub ready: String,
    /// The console's verdict: `Ready`, `Failing`, `Progressing`, `Suspended`, `Unknown`.
    pub health: String,
    /// The Ready condition's reason (Flux) or Argo CD's error condition / health.
    pub reason: String,
    /// The status message.
    pub message: String,
    /// The revision in use.
    pub revision: String,
    /// Suspended (Flux) or auto-sync off (Argo CD).
    pub suspended: bool,
    /// When suspension was written (RFC 3339), when known.
    pub suspended_since: Option<String>,
    /// How long it has been suspended, as kubectl prints ages, when known.
    pub suspended_for: Option<String>,
    /// `metadata.creationTimestamp` (RFC 3339).
    pub created: Option<String>,
    /// Age of the object, as kubectl prints it (`5m12s`).
    pub age: Option<String>,
    /// Last reconcile (RFC 3339).
    pub last_reconcile: Option<String>,
    /// Time since the last reconcile, as kubectl prints ages.
    pub last_reconcile_age: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ItemList<'a> {
    items: &'a [Item],
}

fn rfc3339(ts: Option<i64>) -> Option<String> {
    ts.and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(format_time)
}

fn age_at(now: i64, ts: Option<i64>) -> Option<String> {
    ts.map(|t| human_duration(Duration::from_secs(now.saturating_sub(t).max(0) as u64)))
}

impl Item {
    /// The printable form of a row, with ages relative to `now` (unix seconds).
    pub fn from_row(row: &Row, now: i64) -> Item {
        Item {
            context: row.context.clone(),
            kind: row.kind.kind.to_string(),
            api_version: format!("{}/{}", row.kind.group, row.version),
            namespace: row.namespace.clone(),
            name: row.name.clone(),
            ready: row.ready.as_str().to_string(),
            health: row.health.as_str().to_string(),
            reason: row.reason.clone(),
            message: row.message.clone(),
            revision: row.revision.clone(),
            suspended: row.suspended,
            suspended_since: rfc3339(row.suspended_since),
            suspended_for: age_at(now, row.suspended_since),
            created: rfc3339(row.created),
            age: age_at(now, row.created),
            last_reconcile: rfc3339(row.last_reconcile),
            last_reconcile_age: age_at(now, row.last_reconcile),
            labels: row
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// Whether a row counts as failing for `--fail-on-not-ready` (the console's `:failing` view).
pub fn is_failing(row: &Row) -> bool {
    row.health == Health::Failing
}

/// Resolves the KIND argument: `None` for `all`.
pub fn parse_kind(name: &str) -> Result<Option<&'static KindInfo>, String> {
    if matches!(name, "all" | "gitops") {
        return Ok(None);
    }
    lookup(name).map(Some).ok_or_else(|| {
        let known: Vec<&str> = KINDS
            .iter()
            .map(|k| {
                // The shortest name a user may type (`ks`, `gr`, `hrepo`), as the console lists them.
                k.aliases
                    .iter()
                    .chain(k.short_names)
                    .copied()
                    .min_by_key(|n| n.len())
                    .unwrap_or(k.singular)
            })
            .collect();
        format!(
            "unknown kind {name:?}; use all or one of: {}",
            known.join(", ")
        )
    })
}

/// Keeps the rows `get` prints and sorts them by context, kind, namespace and name.
pub fn select_rows(
    mut rows: Vec<Row>,
    name: Option<&str>,
    selector: Option<&LabelSelector>,
) -> Vec<Row> {
    rows.retain(|r| {
        name.is_none_or(|n| r.name == n) && selector.is_none_or(|s| r.labels.satisfy(s))
    });
    rows.sort_by(|a, b| {
        (&a.context, a.kind.kind, &a.namespace, &a.name).cmp(&(
            &b.context,
            b.kind.kind,
            &b.namespace,
            &b.name,
        ))
    });
    rows
}

/// One line of a table cell: control characters (newlines in multi-line messages) become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The aligned table, header first; MESSAGE (often long) is last and unpadded.
pub fn render_table(items: &[Item]) -> String {
    let header = [
        "CONTEXT",
        "KIND",
        "NAMESPACE",
        "NAME",
        "READY",
        "REASON",
        "REVISION",
        "SUSPENDED",
        "AGE",
        "RECONCILED",
        "MESSAGE",
    ];
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let lines: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let or_dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    one_line(s)
                }
            };
            vec![
                i.context.clone(),
                i.kind.clone(),
                or_dash(&i.namespace),
                i.name.clone(),
                i.ready.clone(),
                or_dash(&i.reason),
                or_dash(&i.revision),
                match (i.suspended, &i.suspended_for) {
                    (false, _) => "-".into(),
                    (true, Some(age)) => format!("yes {age}"),
                    (true, None) => "yes".into(),
                },
                dash(&i.age),
                dash(&i.last_reconcile_age),
                one_line(&i.message),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for line in std::iter::once(&header).chain(&lines) {
        let last = line.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, w)) in line.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// Renders the items in `format`.
pub fn render(items: &[Item], format: OutputFormat) -> Result<String, String> {
    match format {
        OutputFormat::Table => Ok(render_table(items)),
        OutputFormat::Json => serde_json::to_string_pretty(&ItemList { items })
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| format!("cannot render JSON: {e}")),
        OutputFormat::Yaml => serde_saphyr::to_string(&ItemList { items })
            .map_err(|e| format!("cannot render YAML: {e}")),
    }
}

/// Runs `flotilla get`.
pub fn run(args: Args) -> ExitCode {
    let usage = |msg: String| {
        eprintln!("flotilla get: {msg}");
        ExitCode::from(2)
    };
    let kind = match parse_kind(&args.kind) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let selector = match args.selector.as_deref().map(parse_selector).transpose() {
        Ok(s) => s,
        Err(e) => return usage(e.to_string()),
    };
    let contexts = match KubeconfigSource::from_env(args.kubeconfig.as_deref())
        .and_then(|source| Contexts::load(&source))
    {
        Ok(c) => c,
        Err(e) => return usage(e.to_string()),
    };
    let mut errors: Vec<String> = Vec::new();
    let selected: Vec<String> = if args.contexts.is_empty() {
        contexts.names()
    } else {
        let mut out = Vec::new();
        for name in &args.contexts {
            match contexts.select(std::slice::from_ref(name)) {
                Ok(found) if !out.contains(name) => out.extend(found),
                Ok(_) => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        out
    };
    if selected.is_empty() && errors.is_empty() {
        errors.push(format!(
            "the kubeconfig has no contexts ({:?})",
            contexts.files()
        ));
    }
    let namespace = if args.all_namespaces {
        None
    } else {
        args.namespace.clone()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage(format!("cannot start the async runtime: {e}")),
    };
    let clients = Clients::new(contexts);
    let listings = runtime.block_on(list_all(&clients, &selected, namespace.as_deref(), kind));
    let mut rows = Vec::new();
    for listing in listings {
        errors.extend(listing.errors.iter().map(ClusterError::to_string));
        rows.extend(listing.rows);
    }
    let rows = select_rows(rows, args.name.as_deref(), selector.as_ref());
    if let Some(name) = &args.name
        && rows.is_empty()
    {
        errors.push(format!(
            "{} {name:?} not found in {} (namespace {})",
            kind.map_or("object", |k| k.kind),
            if selected.len() == 1 {
                format!("context {}", selected[0])
            } else {
                format!("contexts {}", selected.join(", "))
            },
            namespace.as_deref().unwrap_or("any"),
        ));
    }
    let now = jiff::Timestamp::now().as_second();
    let items: Vec<Item> = rows.iter().map(|r| Item::from_row(r, now)).collect();
    let failing = rows.iter().any(is_failing);
    if !(items.is_empty() && args.output == OutputFormat::Table) {
        match render(&items, args.output) {
            Ok(text) => {
                let mut out = std::io::stdout().lock();
                // A closed pipe (`| head`) is not an error worth reporting.
                let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
            }
            Err(e) => errors.push(e),
        }
    } else if args.name.is_none() && errors.is_empty() {
        eprintln!("No GitOps objects found.");
    }
    for e in &errors {
        eprintln!("flotilla get: {e}");
    }
    if !errors.is_empty() {
        ExitCode::from(2)
    } else if args.fail_on_not_ready && failing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn list_all(
    clients: &Clients,
    contexts: &[String],
    namespace: Option<&str>,
    kind: Option<&'static KindInfo>,
) -> Vec<ContextListing> {
    futures::future::join_all(
        contexts
            .iter()
            .map(|c| clients.list_rows(c, namespace, kind)),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(context: &str, kind: &str, ns: &str, name: &str, ready: &str) -> Row {
        let (api, spec) = match kind {
            "HelmRelease" => ("helm.toolkit.fluxcd.io/v2", json!({"interval": "5m"})),
            _ => (
                "kustomize.toolkit.fluxcd.io/v1",
                json!({"path": "./apps", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}),
            ),
        };
        let obj = json!({"apiVersion": api, "kind": kind,
            "metadata": {"name": name, "namespace": ns, "generation": 1,
                         "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": name}},
            "spec": spec,
            "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": ready,
                "reason": if ready == "True" {"ReconciliationSucceeded"} else {"BuildFailed"},
                "message": "line one\nline two", "lastTransitionTime": "2026-01-01T00:30:00Z"}]}});
        Row::from_object(context, &obj).expect("registry kind")
    }

    #[test]
    fn kinds_parse_with_console_aliases() {
        assert_eq!(parse_kind("all").unwrap(), None);
        assert_eq!(parse_kind("ks").unwrap().unwrap().kind, "Kustomization");
        assert_eq!(parse_kind("hr").unwrap().unwrap().kind, "HelmRelease");
        assert_eq!(parse_kind("app").unwrap().unwrap().kind, "Application");
        assert_eq!(
            parse_kind("GitRepository").unwrap().unwrap().kind,
            "GitRepository"
        );
        let e = parse_kind("pods").unwrap_err();
        assert!(e.contains("\"pods\"") && e.contains("ks"), "{e}");
    }

    #[test]
    fn rows_are_filtered_and_sorted_by_context_kind_namespace_name() {
        let rows = vec![
            row("prod", "Kustomization", "b", "x", "True"),
            row("dev", "Kustomization", "a", "y", "True"),
            row("dev", "HelmRelease", "z", "x", "False"),
            row("dev", "Kustomization", "a", "x", "True"),
        ];
        let keys = |rows: &[Row]| -> Vec<String> {
            rows.iter()
                .map(|r| format!("{}/{}/{}/{}", r.context, r.kind.kind, r.namespace, r.name))
                .collect()
        };
        let all = select_rows(rows.clone(), None, None);
        assert_eq!(
            keys(&all),
            [
                "dev/HelmRelease/z/x",
                "dev/Kustomization/a/x",
                "dev/Kustomization/a/y",
                "prod/Kustomization/b/x"
            ]
        );
        let named = select_rows(rows.clone(), Some("x"), None);
        assert_eq!(named.len(), 3);
        let sel = parse_selector("app=y").unwrap();
        assert_eq!(
            keys(&select_rows(rows, None, Some(&sel))),
            ["dev/Kustomization/a/y"]
        );
        assert!(all.iter().filter(|r| is_failing(r)).count() == 1);
    }

    #[test]
    fn table_aligns_columns_and_keeps_messages_on_one_line() {
        let now = crate::model::conditions::parse_time("2026-01-01T01:00:00Z").unwrap();
        let items: Vec<Item> = [
            row("dev", "Kustomization", "flux-system", "apps", "True"),
            row("production", "HelmRelease", "web", "podinfo", "False"),
        ]
        .iter()
        .map(|r| Item::from_row(r, now))
        .collect();
        let text = render_table(&items);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("CONTEXT     KIND           NAMESPACE    NAME"),
            "{text}"
        );
        assert!(lines[0].ends_with("MESSAGE"));
        let col = |line: &str, title: &str| line.find(title);
        let at = col(lines[0], "READY").unwrap();
        assert_eq!(&lines[1][at..at + 4], "True");
        assert_eq!(&lines[2][at..at + 5], "False");
        assert!(lines[2].contains("BuildFailed"));
        assert!(
            lines[1].contains(" 60m ") && lines[1].contains(" 30m "),
            "{text}"
        );
        assert!(lines[1].ends_with("line one line two"));
        assert_eq!(render_table(&[]).lines().count(), 1);
    }

    #[test]
    fn json_and_yaml_carry_every_field() {
        let now = crate::model::conditions::parse_time("2026-01-01T01:00:00Z").unwrap();
        let items = vec![Item::from_row(
            &row("dev", "Kustomization", "flux-system", "apps", "False"),
            now,
        )];
        let v: serde_json::Value =
            serde_json::from_str(&render(&items, OutputFormat::Json).unwrap()).unwrap();
        let item = &v["items"][0];
        assert_eq!(item["context"], "dev");
        assert_eq!(item["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(item["ready"], "False");
        assert_eq!(item["health"], "Failing");
        assert_eq!(item["reason"], "BuildFailed");
        assert_eq!(item["message"], "line one\nline two");
        assert_eq!(item["created"], "2026-01-01T00:00:00Z");
        assert_eq!(item["age"], "60m");
        assert_eq!(item["lastReconcile"], "2026-01-01T00:30:00Z");
        assert_eq!(item["suspended"], false);
        assert_eq!(item["labels"]["app"], "apps");
        let yaml = render(&items, OutputFormat::Yaml).unwrap();
        let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, v);
        let empty: serde_json::Value =
            serde_json::from_str(&render(&[], OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(empty, json!({"items": []}));
    }
}
