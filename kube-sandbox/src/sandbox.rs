//! The handle a test holds: start a sandbox on loopback, point clients at it, observe and
//! perturb its traffic. Dropping the handle stops the server and ends its watches.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api_error::ApiError;
use crate::cluster::Cluster;
use crate::identity::ADMIN;
use crate::kubeconfig::{self, KubeconfigError};
use crate::rbac::Authorization;
use crate::server;
use crate::tls::{self, Certificates, TlsError, TlsListener};
use crate::token_request;
use crate::traffic::{Denial, Verb};

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where to write the kubeconfig; `None` writes it into a temporary directory the sandbox owns.
    pub kubeconfig: Option<PathBuf>,
    /// Allow a non-loopback address. The server speaks plain HTTP and, under
    /// `Authorization::AlwaysAllow`, lets anonymous requests do anything.
    pub insecure_listen_anywhere: bool,
    /// How requests are authorized: everything allowed (the default), or RBAC as on a cluster.
    pub authorization: Authorization,
    /// How many bytes of changes (as JSON) the watch history keeps; a watch resuming from a
    /// version older than that gets 410 Gone, as from a compacted etcd. Default 32 MiB.
    pub history_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig: None,
            insecure_listen_anywhere: false,
            authorization: Authorization::AlwaysAllow,
            history_bytes: crate::store::HISTORY_BYTES,
        }
    }
}

/// Starting or using a sandbox failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused because the address is reachable from other machines.
    #[error("refusing to listen on {0}: the sandbox is for tests (plain-text admin token, self-made certificates, anonymous access under always-allow); use a loopback address or pass --insecure-listen-anywhere")]
    NotLoopback(SocketAddr),
    /// The listener could not be bound.
    #[error("could not listen on {address}: {source}")]
    Bind {
        /// The requested address.
        address: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// A ServiceAccount token could not be issued (the ServiceAccount does not exist).
    #[error("could not issue a token for the ServiceAccount {namespace}/{name}: {reason}")]
    Token {
        /// The ServiceAccount's namespace.
        namespace: String,
        /// The ServiceAccount's name.
        name: String,
        /// Why not.
        reason: String,
    },
    /// The certificates for HTTPS could not be made.
    #[error(transparent)]
    Tls(#[from] TlsError),
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
    certificates: Certificates,
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
        let url = format!("https://{address}");
        let certificates = tls::certificates(address.ip())?;
        let (temp_dir, kubeconfig) = match config.kubeconfig {
            Some(path) => (None, path),
            None => {
                let dir = tempfile::tempdir().map_err(Error::TempDir)?;
                let path = dir.path().join("kubeconfig");
                (Some(dir), path)
            }
        };
        let cluster = Arc::new(Cluster::new(config.authorization));
        cluster.set_history_limit(config.history_bytes);
        crate::controllers::spawn(&cluster);
        let admin_token = cluster.lock().tokens.admin().to_string();
        kubeconfig::write(
            &kubeconfig,
            &url,
            &certificates.ca_pem,
            ADMIN,
            &admin_token,
            "default",
        )?;
        let router = server::router(cluster.clone(), address.to_string());
        let (shutdown, signal) = oneshot::channel::<()>();
        let listener = TlsListener::new(listener, &certificates).map_err(|source| Error::Bind {
            address: config.listen,
            source,
        })?;
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
            certificates,
            kubeconfig,
            _temp_dir: temp_dir,
            shutdown: Some(shutdown),
        })
    }

    /// The base URL, such as `https://127.0.0.1:40123`.
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

    /// A kube client for this sandbox as the administrator (`system:masters`), with `default`
    /// as its namespace.
    pub fn client(&self) -> Result<kube::Client, Error> {
        self.client_with_token(&self.admin_token(), "default")
    }

    /// A kube client presenting `token` (none when empty: an anonymous client), with
    /// `namespace` as its default namespace.
    pub fn client_with_token(&self, token: &str, namespace: &str) -> Result<kube::Client, Error> {
        let fail = |reason: String| Error::Client {
            url: self.url.clone(),
            reason,
        };
        let uri = self.url.parse().map_err(|e| fail(format!("{e}")))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = namespace.to_string();
        config.root_cert = Some(vec![self.certificates.ca_der.clone()]);
        if !token.is_empty() {
            config.auth_info.token = Some(token.to_string().into());
        }
        kube::Client::try_from(config).map_err(|e| fail(e.to_string()))
    }

    /// The administrator's bearer token, the one in the written kubeconfig.
    pub fn admin_token(&self) -> String {
        self.cluster.lock().tokens.admin().to_string()
    }

    /// Mints a token for the ServiceAccount `namespace/name`, as the TokenRequest API (and
    /// `kubectl create token`) does: valid for an hour, and only while that ServiceAccount
    /// exists.
    pub fn token_for(&self, namespace: &str, name: &str) -> Result<String, Error> {
        let mut state = self.cluster.lock();
        token_request::issue(
            &mut state,
            namespace,
            name,
            token_request::DEFAULT_EXPIRATION_SECONDS,
        )
        .map(|(token, _)| token)
        .map_err(|e: ApiError| Error::Token {
            namespace: namespace.into(),
            name: name.into(),
            reason: e.to_string(),
        })
    }

    /// Writes a kubeconfig for this sandbox presenting `token` (as the user `user`, with
    /// `namespace` as the default namespace) to `path`, for `kubectl --kubeconfig`.
    pub fn write_kubeconfig(
        &self,
        path: &Path,
        user: &str,
        token: &str,
        namespace: &str,
    ) -> Result<(), Error> {
        Ok(kubeconfig::write(
            path,
            &self.url,
            &self.certificates.ca_pem,
            user,
            token,
            namespace,
        )?)
    }

    /// The certificate authority the sandbox's HTTPS certificate is signed by, PEM, for
    /// clients other than kubectl and the clients this handle builds.
    pub fn certificate_authority(&self) -> &str {
        &self.certificates.ca_pem
    }

    /// How many requests matched `verb` on `resource` (plural; `plural/status` for status),
    /// those refused with 401 or 403 included.
    pub fn request_count(&self, verb: Verb, resource: &str) -> u64 {
        self.cluster.traffic.count(verb, resource)
    }

    /// Every request refused with 401 or 403 so far, oldest first.
    pub fn denials(&self) -> Vec<Denial> {
        self.cluster.traffic.denials()
    }

    /// How many requests for `verb` on `resource` (`plural` or `plural/subresource`) were
    /// refused with 401 or 403.
    pub fn denial_count(&self, verb: Verb, resource: &str) -> u64 {
        let count = self
            .cluster
            .traffic
            .denials()
            .iter()
            .filter(|d| d.verb == verb.as_str() && d.resource == resource)
            .count();
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    /// Every request counter, keyed by verb and resource.
    pub fn request_counts(&self) -> BTreeMap<(Verb, String), u64> {
        self.cluster.traffic.counts()
    }

    /// Makes the next `n` authorized requests matching `verb` on `resource` fail with HTTP
    /// `status` (409, 429 with `Retry-After`, 500, ...), as a `metav1.Status` of that code.
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
