//! `flotilla demo`: three embedded clusters, a demo Git repository and registry, the bundled
//! reconciler, and the console on top (or headless, for kubectl and tests).

use crate::demo::{Demo, DemoOptions};
use anyhow::{Context as _, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `flotilla demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla demo
      the console on dev, staging and production, reconciled by flotilla itself
  flotilla demo --headless --kubeconfig-out /tmp/demo.kubeconfig
      no console: attach with `kubectl --kubeconfig /tmp/demo.kubeconfig --context staging get ks -A`
  flotilla demo --speed 5
      new image tags five times as often
  flotilla demo --data-dir ./demo-data
      keep the Git repository, artifacts and kubeconfig after exit (and reuse them next time)

Needs nothing but this binary: no Docker, no kubectl, no network. Ctrl-C (or quitting the
console) stops everything and removes the temporary data unless --data-dir was given.")]
pub struct Args {
    /// Run everything but the console; print the kubeconfig path and wait for Ctrl-C/SIGTERM.
    #[arg(long)]
    pub headless: bool,
    /// Write the kubeconfig here (default: <data dir>/kubeconfig).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Keep the demo's data here (default: a temporary directory removed on exit).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Time multiplier for the simulated CI: tags are published N times as often.
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    pub speed: f64,
}

/// Runs the demo; exit code 2 when it cannot start, 1 when the console fails.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flotilla-demo")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flotilla demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let headless = args.headless;
    let opts = DemoOptions {
        kubeconfig_out: args.kubeconfig_out,
        data_dir: args.data_dir,
        speed: args.speed,
        ..DemoOptions::default()
    };
    let demo = match runtime.block_on(Demo::start(opts)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("flotilla demo: {e}");
            return ExitCode::from(2);
        }
    };
    let code = if headless {
        let stop = {
            let _entered = runtime.enter();
            match super::signals::StopSignals::install() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("flotilla demo: {e:#}");
                    runtime.block_on(demo.shutdown());
                    return ExitCode::FAILURE;
                }
            }
        };
        println!("{}", demo.kubeconfig_path().display());
        eprintln!(
            "flotilla demo: clusters dev, staging and production are up; kubeconfig above, data in {}. Ctrl-C stops.",
            demo.data_dir().display()
        );
        if let Some(addr) = demo.storage_addr() {
            eprintln!("flotilla demo: artifacts served on http://{addr}/<cluster>/");
        }
        runtime.block_on(stop.wait());
        eprintln!("flotilla demo: stopping");
        ExitCode::SUCCESS
    } else {
        // The console builds its own runtime on this thread; the demo keeps running on the
        // worker threads of `runtime` meanwhile.
        match console_args(&demo) {
            Ok(a) => crate::cli::console::run_with(a, console_extras(&demo)),
            Err(e) => {
                eprintln!("flotilla demo: {e:#}");
                ExitCode::FAILURE
            }
        }
    };
    runtime.block_on(demo.shutdown());
    code
}

/// The demo's additions to the console: the in-process reconciler's queue in the header, and
/// `:demo commit` / `:demo publish`.
fn console_extras(demo: &Demo) -> crate::cli::console::Extras {
    let stats = demo.stats();
    let handle = demo.handle();
    let run: crate::cli::console::CommandHandler = std::sync::Arc::new(move |words: String| {
        let handle = handle.clone();
        Box::pin(async move {
            handle
                .run_command(&words)
                .await
                .map_err(|e| format!(":demo {words}: {e}"))
        })
    });
    crate::cli::console::Extras {
        reconciler: Some(std::sync::Arc::new(move || {
            (stats.queue_len(), stats.in_flight())
        })),
        commands: vec![("demo".to_string(), run)],
        data_dir: Some(demo.data_dir().join("controller")),
    }
}

/// The console's arguments for the demo's kubeconfig (every context, all namespaces).
fn console_args(demo: &Demo) -> Result<crate::cli::console::Args> {
    let kubeconfig = std::path::absolute(demo.kubeconfig_path())
        .context("cannot resolve the kubeconfig path")?;
    Ok(crate::cli::console::Args {
        kubeconfig: Some(kubeconfig),
        ..crate::cli::console::Args::default()
    })
}
