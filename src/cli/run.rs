//! `sfb-dr run`: the operator against a cluster (the current kubeconfig, `--kubeconfig`, or the
//! in-cluster service account).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};

use sfb_dr::controller::{self, DriverSource, LeaseConfig};

use super::Failure;

/// Flags of `sfb-dr run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The kubeconfig to use; default: $KUBECONFIG, ~/.kube/config, or the in-cluster account.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Watch only this namespace; default: every namespace.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Where to serve /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Take a Lease so that only one replica acts (true or false).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub leader_election: bool,
    /// The Lease's name.
    #[arg(long, default_value = "sfb-dr-leader")]
    pub lease_name: String,
    /// The Lease's namespace; default: $POD_NAMESPACE, else the kubeconfig's namespace.
    #[arg(long)]
    pub lease_namespace: Option<String>,
    /// Log lines as text or as JSON objects.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs to standard error, filtered by `RUST_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or a container's log stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The kubeconfig at `path`; an error names the flag and the file, on one line.
pub fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, Failure> {
    let bad = |why: String| {
        let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
        Failure::BadInput(vec![format!("--kubeconfig {}: {why}", path.display())])
    };
    // Reading it first gives a plain "No such file" for a missing one; `read_from` then parses
    // it and makes its relative paths (certificates, token files) relative to its folder.
    std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    Kubeconfig::read_from(path)
        .map_err(|e| bad(format!("not a usable kubeconfig: {}", with_causes(&e))))
}

/// An error with the causes beneath it, each said once: "client error (Connect)" means little
/// until "tcp connect error: Connection refused" follows it.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut why = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !why.contains(&text) {
            why.push_str(&format!(": {text}"));
        }
        source = s.source();
    }
    why
}

/// The server URL of the kubeconfig's current context, for messages.
pub fn server_of(path: &Path) -> Option<String> {
    let file = Kubeconfig::read_from(path).ok()?;
    let context = file.current_context.as_deref()?;
    let cluster = file
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .cluster
        .clone();
    file.clusters
        .iter()
        .find(|c| c.name == cluster)?
        .cluster
        .as_ref()?
        .server
        .clone()
}

/// A kube client from a kubeconfig file, or the default chain.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, Failure> {
    let config = match kubeconfig {
        Some(path) => {
            let file = read_kubeconfig(path)?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| {
                    Failure::BadInput(vec![format!("--kubeconfig {}: {e}", path.display())])
                })?
        }
        // Said as the plugin says it, and as bad input (exit 2): nothing was tried yet.
        None => kube::Config::infer().await.map_err(|e| {
            let why = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            Failure::BadInput(vec![format!(
                "no usable kubeconfig (set KUBECONFIG, pass --kubeconfig, or run in a cluster): {why}"
            )])
        })?,
    };
    kube::Client::try_from(config)
        .context("building the Kubernetes client")
        .map_err(Failure::Other)
}

/// This replica's name: the pod's, else the host's with the process id.
pub fn identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME") {
        if !pod.is_empty() {
            return pod;
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sfb-dr".into());
    format!("{host}-{}", std::process::id())
}

/// A Kubernetes name (RFC 1123 label, as namespaces are; Lease names as DNS subdomains).
fn check_name(flag: &str, value: &str, subdomain: bool) -> Result<(), Failure> {
    use sfb_dr::api::names;
    let (ok, rule) = if subdomain {
        (names::is_subdomain(value), names::SUBDOMAIN_RULE)
    } else {
        (names::is_label(value), names::LABEL_RULE)
    };
    if ok {
        Ok(())
    } else {
        Err(Failure::BadInput(vec![format!(
            "{flag} {value:?}: not a Kubernetes name ({rule})"
        )]))
    }
}

/// Runs the operator until SIGTERM or Ctrl-C.
pub fn run(args: RunArgs) -> Result<(), Failure> {
    if let Some(ns) = &args.namespace {
        check_name("--namespace", ns, false)?;
    }
    if let Some(ns) = &args.lease_namespace {
        check_name("--lease-namespace", ns, false)?;
    }
    check_name("--lease-name", &args.lease_name, true)?;
    init_logging(args.log_format);
    let runtime = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .map_err(Failure::Other)?;
    runtime.block_on(async move {
        let client = client(args.kubeconfig.as_deref()).await?;
        let election = if args.leader_election {
            let namespace = args
                .lease_namespace
                .clone()
                .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|n| !n.is_empty()))
                .unwrap_or_else(|| client.default_namespace().to_owned());
            Some(LeaseConfig::new(&args.lease_name, &namespace, &identity()))
        } else {
            None
        };
        let config = controller::Config {
            client,
            namespace: args.namespace.clone(),
            metrics_addr: Some(args.metrics_addr),
            election,
            drivers: DriverSource::FromSpec,
            instance: identity(),
            simulator_step_timeout: None,
        };
        tracing::info!(namespace = ?args.namespace, leader_election = args.leader_election, "starting the operator");
        controller::run(config, super::shutdown_signal())
            .await
            .map_err(|e| Failure::Other(e.into()))
    })
}
