//! Command-line parsing and the commands that need no Kubernetes API (docs/cli.md).

mod listen;
mod live;
mod mermaid;
mod plan;
pub mod plugin;
mod run;
mod sandbox;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use sfb_dr::manifest;
use sfb_dr::simulator::{self, Deployment, Simulator};

/// Declarative disaster recovery for Skype for Business Server.
#[derive(Parser, Debug)]
#[command(name = "sfb-dr", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the operator against a cluster: watch the resources, plan, execute, report.
    Run(run::RunArgs),
    /// The embedded default: a Kubernetes API, a simulated SfB deployment and the operator.
    Sandbox(sandbox::SandboxArgs),
    /// Print every CRD as YAML (what crds/ holds).
    Crd,
    /// Plan offline from manifests and an observed topology.
    Plan {
        /// Manifest files or directories (.yaml, .yml, .json), or - for standard input; repeatable.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        /// The observed topology (JSON or YAML), as a driver or the simulator reports it, or -
        /// for standard input.
        #[arg(
            long,
            required_unless_present = "kubeconfig",
            conflicts_with = "kubeconfig"
        )]
        observed: Option<PathBuf>,
        /// Plan against the live deployment instead: the observation and ledger the operator
        /// published in this cluster (the namespace from --namespace, else the manifests').
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Plan the deployment of this namespace when the manifests hold several.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
        /// With `-o powershell`: add -WhatIf to every state-changing cmdlet of the runbook.
        #[arg(long = "whatif")]
        what_if: bool,
        /// Exit 0 when there is nothing to do, 3 when there are steps to run, 4 when something is
        /// blocked (4 wins over 3); bad input stays 2.
        #[arg(long = "detailed-exitcode")]
        detailed_exitcode: bool,
    },
    /// Serve a simulated SfB deployment over HTTP.
    Simulator {
        /// Initial state, in the observed-topology format.
        #[arg(long)]
        topology: PathBuf,
        /// HOST:PORT to listen on (a loopback address such as 127.0.0.1:7070 or
        /// localhost:7070); port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: String,
        /// Listen on an address other than loopback. The simulator has no authentication:
        /// anyone who reaches it can fail pools over and inject faults.
        #[arg(long = "insecure-listen-anywhere")]
        insecure_listen_anywhere: bool,
        /// Divide every simulated latency by this (1 = real time).
        #[arg(long, default_value_t = 1.0, value_parser = positive_scale)]
        time_scale: f64,
        /// Seed for latency jitter; the same seed and commands give the same run.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// Output formats of `sfb-dr plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A numbered list a person can follow.
    Text,
    /// The plan format (docs/plan-format.md).
    Json,
    /// A commented PowerShell runbook an admin can review or run by hand.
    Powershell,
    /// The dependency graph as a Mermaid flowchart, for a pull-request comment.
    Mermaid,
}

pub(crate) fn positive_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s} is not a positive number")),
    }
}

/// How a command failed: bad input (exit 2, one line each) or anything else.
pub enum Failure {
    BadInput(Vec<String>),
    Other(anyhow::Error),
    /// Not a failure: `plan --detailed-exitcode` printed its plan and reports what it found
    /// through this exit code (3: steps to run, 4: something blocked).
    Findings(u8),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<manifest::ManifestError> for Failure {
    fn from(e: manifest::ManifestError) -> Self {
        Failure::BadInput(vec![e.to_string()])
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Crd => {
            let yaml = sfb_dr::api::crds_yaml().context("rendering the CRDs")?;
            print!("{yaml}");
            Ok(())
        }
        Command::Plan {
            files,
            observed,
            kubeconfig,
            namespace,
            output,
            what_if,
            detailed_exitcode,
        } => {
            let source = match (&observed, &kubeconfig) {
                (Some(path), _) => plan::Source::File(path),
                (None, Some(k)) => plan::Source::Live(k),
                (None, None) => {
                    return Err(Failure::BadInput(vec![
                        "give --observed <file> or --kubeconfig <file>".into(),
                    ]))
                }
            };
            let request = plan::Request {
                files: &files,
                source,
                namespace: namespace.as_deref(),
                output,
                what_if,
            };
            let (text, findings) = plan::run(&request)?;
            print!("{text}");
            match findings.exit_code() {
                Some(code) if detailed_exitcode => Err(Failure::Findings(code)),
                _ => Ok(()),
            }
        }
        Command::Simulator {
            topology,
            listen,
            insecure_listen_anywhere,
            time_scale,
            seed,
        } => {
            let listen = listen::addresses(&listen, insecure_listen_anywhere)
                .map_err(|e| Failure::BadInput(vec![e]))?;
            let observed = manifest::load_observed(&topology)?;
            let deployment = Deployment::new(observed).map_err(|e| {
                Failure::BadInput(vec![format!(
                    "{}: observed topology: {e}",
                    topology.display()
                )])
            })?;
            let sim = Arc::new(Simulator::new(
                deployment,
                simulator::Config { time_scale, seed },
            ));
            serve_simulator(sim, listen).map_err(Failure::Other)
        }
    }
}

fn serve_simulator(sim: Arc<Simulator>, listen: Vec<std::net::SocketAddr>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen[..])
            .await
            .with_context(|| format!("cannot listen on {}", listen::describe(&listen)))?;
        let addr = listener.local_addr()?;
        println!("listening on http://{addr}");
        use std::io::Write;
        std::io::stdout().flush()?;
        axum::serve(listener, simulator::server::router(sim))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving the simulator")
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
