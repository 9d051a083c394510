//! `flotilla diff hr NAME`: what reconciling a HelmRelease would change now: its chart (the
//! artifact the controller fetched) rendered with the values composed as the reconciler composes
//! them, dry-run with server-side apply and compared with the live objects; objects of the
//! deployed release the chart no longer renders show as deletions. Same output and masking as
//! `flotilla diff ks`.

use anyhow::Result;
use std::process::ExitCode;

use super::connect::{Format, connect, default_data_dir, gitops_ref};
use super::diff::Args;
use crate::views::diff::{self, live::LiveClient};
use crate::views::helm_release::helm_release_diff;

/// Runs the HelmRelease diff: exit 0 no change, 1 changes, 2 error.
pub async fn run(args: Args) -> Result<ExitCode> {
    if args.path.is_some() {
        anyhow::bail!(
            "--path applies to Kustomizations only; a HelmRelease diff renders its chart"
        );
    }
    let (context, client) = connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let live = LiveClient::new(client);
    let target = gitops_ref("HelmRelease", &args.namespace, &args.name)?;
    let data_dir = args.data_dir.clone().or_else(default_data_dir);
    let report = helm_release_diff(&live, &target, data_dir.as_deref(), &context).await?;
    match args.output {
        Format::Text => print!("{}", diff::render_text(&report)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "summary": report.summary(),
                "objects": report.objects,
                "errors": report.errors,
            }))?
        ),
    }
    Ok(if !report.errors.is_empty() {
        ExitCode::from(2)
    } else if report.has_changes() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
