//! `flotilla helm history NAME -n NS`: a release's revisions read from Helm's release storage on
//! the cluster, printed like `helm history` (table, JSON or YAML).

use anyhow::Result;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

use super::connect::{block_on, connect};
use crate::controllers::helmrelease::Storage;
use crate::helm::gotime::GoTime;
use crate::helm::release::Release;

/// Output formats of `helm history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    /// Columns like `helm history`.
    Table,
    /// A JSON array.
    Json,
    /// A YAML sequence.
    Yaml,
}

/// Arguments of `flotilla helm history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The release name.
    #[arg(value_name = "RELEASE")]
    pub name: String,
    /// The release's storage namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Most revisions to show (the newest ones).
    #[arg(long, default_value_t = 256)]
    pub max: usize,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: HistoryFormat,
}

/// Runs `flotilla helm history`: exit 0 printed, 1 unknown release, 2 error.
pub fn run(args: HistoryArgs) -> ExitCode {
    block_on("helm history", history(args))
}

async fn history(args: HistoryArgs) -> Result<ExitCode> {
    let (_, client) = connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let mut revisions = Storage::new(client, &args.namespace)
        .history(&args.name)
        .await?;
    if revisions.is_empty() {
        eprintln!("Error: release: not found");
        return Ok(ExitCode::from(1));
    }
    if revisions.len() > args.max {
        revisions.drain(..revisions.len() - args.max);
    }
    print!("{}", render(&revisions, args.output));
    Ok(ExitCode::SUCCESS)
}

/// Go's `time.ANSIC` of a stored timestamp, as `helm history` prints UPDATED.
fn ansic(ts: &str) -> String {
    GoTime::parse("2006-01-02T15:04:05.999999999Z07:00", ts)
        .map(|t| t.format("Mon Jan _2 15:04:05 2006"))
        .unwrap_or_else(|_| ts.to_string())
}

/// Cuts a cell to helm's table width (60) with "...".
fn truncate(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX - 3).collect();
    out.push_str("...");
    out
}

/// The history in `format`.
pub fn render(revisions: &[Release], format: HistoryFormat) -> String {
    let rows: Vec<Value> = revisions
        .iter()
        .map(|r| {
            json!({
                "revision": r.version,
                "updated": r.info.last_deployed,
                "status": r.info.status.as_str(),
                "chart": r.chart_label(),
                "app_version": r.chart_meta("appVersion"),
                "description": r.info.description,
            })
        })
        .collect();
    match format {
        HistoryFormat::Json => format!("{}\n", Value::Array(rows)),
        HistoryFormat::Yaml => crate::helm::yaml::to_yaml(&crate::helm::value::Value::from_json(
            &Value::Array(rows),
            true,
        )),
        HistoryFormat::Table => {
            let mut table: Vec<Vec<String>> = vec![
                [
                    "REVISION",
                    "UPDATED",
                    "STATUS",
                    "CHART",
                    "APP VERSION",
                    "DESCRIPTION",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ];
            for r in revisions {
                table.push(vec![
                    r.version.to_string(),
                    ansic(&r.info.last_deployed),
                    r.info.status.as_str().to_string(),
                    truncate(&r.chart_label()),
                    truncate(r.chart_meta("appVersion")),
                    truncate(&r.info.description),
                ]);
            }
            let mut widths = [0usize; 6];
            for row in &table {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let mut out = String::new();
            for row in &table {
                let cells: Vec<String> = row
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                out.push_str(&cells.join("\t"));
                out.push('\n');
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::release::Status;

    #[test]
    fn history_prints_like_helm() {
        let mut r = Release {
            name: "web".into(),
            version: 1,
            chart: json!({"metadata": {"name": "tiny", "version": "0.1.0", "appVersion": "1.0.0"}}),
            ..Release::default()
        };
        r.info.last_deployed = "2026-12-07T21:05:02.5Z".into();
        r.info.status = Status::Superseded;
        r.info.description = "Install complete".into();
        let table = render(std::slice::from_ref(&r), HistoryFormat::Table);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0].split('\t').map(str::trim).collect::<Vec<_>>(),
            [
                "REVISION",
                "UPDATED",
                "STATUS",
                "CHART",
                "APP VERSION",
                "DESCRIPTION"
            ]
        );
        assert!(lines[1].contains("Mon Dec  7 21:05:02 2026"), "{table}");
        assert!(lines[1].contains("tiny-0.1.0"));
        let json: Value = serde_json::from_str(&render(&[r.clone()], HistoryFormat::Json)).unwrap();
        assert_eq!(json[0]["status"], "superseded");
        assert_eq!(json[0]["app_version"], "1.0.0");
        let yaml = render(&[r], HistoryFormat::Yaml);
        assert!(yaml.starts_with("- app_version: 1.0.0\n"), "{yaml}");
        assert_eq!(truncate(&"x".repeat(70)).len(), 60);
    }
}
