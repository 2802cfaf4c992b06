//! `kube-sandbox --listen 127.0.0.1:0 --kubeconfig <path>`: serve a sandbox until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kube_sandbox::{Authorization, Config, Sandbox};

/// An in-memory Kubernetes API server for tests. It serves HTTPS with a certificate of its own
/// (in the kubeconfig it writes, with an administrator token) and listens on loopback unless
/// told otherwise.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write a kubeconfig pointing at the server.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Allow a non-loopback listen address (under always-allow, anyone who can reach it can
    /// do anything).
    #[arg(long)]
    insecure_listen_anywhere: bool,
    /// How requests are authorized: `always-allow`, or `rbac` (bearer tokens, Roles and
    /// bindings, as on a cluster).
    #[arg(long, default_value = "always-allow")]
    authorization: Authorization,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let sandbox = Sandbox::start(Config {
        listen: args.listen,
        kubeconfig: Some(args.kubeconfig),
        insecure_listen_anywhere: args.insecure_listen_anywhere,
        authorization: args.authorization,
        ..Config::default()
    })
    .await
    .context("starting kube-sandbox")?;
    println!("{}", sandbox.url());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = terminate.recv() => {}
    }
    drop(sandbox);
    Ok(())
}
