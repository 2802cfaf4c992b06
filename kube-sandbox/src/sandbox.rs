//! The handle a test holds: start a sandbox on loopback, point clients at it, observe and
//! perturb its traffic. Dropping the handle stops the server and ends its watches.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cluster::Cluster;
use crate::kubeconfig::{self, KubeconfigError};
use crate::server;
use crate::traffic::Verb;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where to write the kubeconfig; `None` writes it into a temporary directory the sandbox owns.
    pub kubeconfig: Option<PathBuf>,
    /// Allow a non-loopback address. There is no authentication, so this exposes everything.
    pub insecure_listen_anywhere: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig: None,
            insecure_listen_anywhere: false,
        }
    }
}

/// Starting or using a sandbox failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused because the address is reachable from other machines.
    #[error("refusing to listen on {0}: the sandbox has no authentication; use a loopback address or pass --insecure-listen-anywhere")]
    NotLoopback(SocketAddr),
    /// The listener could not be bound.
    #[error("could not listen on {address}: {source}")]
    Bind {
        /// The requested address.
        address: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The temporary directory for the kubeconfig could not be created.
    #[error("could not create a temporary directory for the kubeconfig: {0}")]
    TempDir(std::io::Error),
    /// The kubeconfig could not be written.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// A kube client could not be built for the sandbox's URL.
    #[error("could not build a kube client for {url}: {reason}")]
    Client {
        /// The sandbox URL.
        url: String,
        /// Why it failed.
        reason: String,
    },
}

/// A running sandbox.
#[derive(Debug)]
pub struct Sandbox {
    cluster: Arc<Cluster>,
    address: SocketAddr,
    url: String,
    kubeconfig: PathBuf,
    _temp_dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Sandbox {
    /// Binds the listener, writes the kubeconfig and starts serving in the background.
    pub async fn start(config: Config) -> Result<Sandbox, Error> {
        if !config.listen.ip().is_loopback() && !config.insecure_listen_anywhere {
            return Err(Error::NotLoopback(config.listen));
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                address: config.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| Error::Bind {
            address: config.listen,
            source,
        })?;
        let url = format!("http://{address}");
        let (temp_dir, kubeconfig) = match config.kubeconfig {
            Some(path) => (None, path),
            None => {
                let dir = tempfile::tempdir().map_err(Error::TempDir)?;
                let path = dir.path().join("kubeconfig");
                (Some(dir), path)
            }
        };
        kubeconfig::write(&kubeconfig, &url)?;
        let cluster = Arc::new(Cluster::default());
        let router = server::router(cluster.clone(), address.to_string());
        let (shutdown, signal) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serving = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = signal.await;
            });
            if let Err(error) = serving.await {
                tracing::error!(%error, "kube-sandbox server stopped");
            }
        });
        Ok(Sandbox {
            cluster,
            address,
            url,
            kubeconfig,
            _temp_dir: temp_dir,
            shutdown: Some(shutdown),
        })
    }

    /// The base URL, such as `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The kubeconfig file pointing at this sandbox (namespace `default`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client for this sandbox, with `default` as its namespace.
    pub fn client(&self) -> Result<kube::Client, Error> {
        let fail = |reason: String| Error::Client {
            url: self.url.clone(),
            reason,
        };
        let uri = self.url.parse().map_err(|e| fail(format!("{e}")))?;
        let config = kube::Config::new(uri);
        kube::Client::try_from(config).map_err(|e| fail(e.to_string()))
    }

    /// How many requests matched `verb` on `resource` (plural; `plural/status` for status).
    pub fn request_count(&self, verb: Verb, resource: &str) -> u64 {
        self.cluster.traffic.count(verb, resource)
    }

    /// Every request counter, keyed by verb and resource.
    pub fn request_counts(&self) -> BTreeMap<(Verb, String), u64> {
        self.cluster.traffic.counts()
    }

    /// Makes the next `n` requests matching `verb` on `resource` fail with HTTP `status`.
    pub fn fail_next(&self, verb: Verb, resource: &str, n: u32, status: u16) {
        self.cluster.traffic.fail_next(verb, resource, n, status);
    }

    /// Ends every open watch; clients must re-establish them.
    pub fn drop_watches(&self) {
        self.cluster.drop_watches();
    }

    /// Forgets the change history: watches resuming from an older resourceVersion get 410 Gone.
    pub fn compact(&self) {
        self.cluster.compact();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.cluster.drop_watches();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
