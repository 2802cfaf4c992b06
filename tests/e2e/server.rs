//! The API server a test runs against: kube-sandbox (in this process, the default) or a real
//! kube-apiserver with etcd, built from their Go modules by `tests/cluster/build.sh`. One switch
//! chooses: `SFB_DR_TEST_SERVER=kube-apiserver` (with `SFB_DR_CLUSTER_BIN` naming the built
//! binaries' folder, else `build.sh` finds or builds them). The same test code runs on both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kube::Client;
use kube_sandbox::{Sandbox, Verb};

/// The environment variable that picks the server.
pub const SWITCH: &str = "SFB_DR_TEST_SERVER";
/// Its value for the real control plane.
pub const REAL: &str = "kube-apiserver";

/// Whether this run is against the real control plane.
pub fn real() -> bool {
    std::env::var(SWITCH).is_ok_and(|v| v == REAL)
}

/// One API server for one test.
pub enum Server {
    Sandbox(Sandbox),
    Real(Real),
}

/// A kube-apiserver and its etcd, started by `tests/cluster/start.sh`, killed on drop.
pub struct Real {
    dir: PathBuf,
    kubeconfig: PathBuf,
    finalizer: Option<tokio::task::AbortHandle>,
}

impl Drop for Real {
    fn drop(&mut self) {
        if let Some(task) = self.finalizer.take() {
            task.abort();
        }
        // Nothing of a test's cluster is worth a graceful stop: kill both, remove the folder.
        for pid in ["kube-apiserver.pid", "etcd.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(pid)) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", pid.trim()])
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Real {
    /// The administrator's kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Compacts etcd's history up to its current revision, as its periodic compaction would:
    /// older resourceVersions are gone from then on (watches and continue tokens get 410).
    pub async fn compact(&self) {
        let url = std::fs::read_to_string(self.dir.join("etcd.url")).expect("etcd.url");
        let url = url.trim();
        let http = reqwest::Client::new();
        let range: serde_json::Value = http
            .post(format!("{url}/v3/kv/range"))
            .body(r#"{"key":"AA=="}"#)
            .send()
            .await
            .expect("etcd answers")
            .json()
            .await
            .expect("etcd's range answer");
        let revision = range["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse::<i64>().ok())
            .expect("etcd's current revision");
        let done = http
            .post(format!("{url}/v3/kv/compaction"))
            .body(serde_json::json!({"revision": revision, "physical": true}).to_string())
            .send()
            .await
            .expect("etcd compacts");
        assert!(
            done.status().is_success(),
            "etcd compaction: {}",
            done.status()
        );
    }

    /// Starts a control plane: etcd, then kube-apiserver on 127.0.0.1, RBAC, an admin kubeconfig.
    pub async fn start() -> Real {
        Real::start_with("").await
    }

    /// As [`Real::start`], with more kube-apiserver flags (space-separated).
    pub async fn start_with(apiserver_args: &str) -> Real {
        let mut command = tokio::process::Command::new("tests/cluster/start.sh");
        command.env("SFBDR_CLUSTER_APISERVER_ARGS", apiserver_args);
        // Killed by a SIGKILL of this test process, Drop never runs: start.sh's watcher then
        // stops the control plane.
        command.env("SFBDR_CLUSTER_OWNER", std::process::id().to_string());
        if let Some(bin) = std::env::var_os("SFB_DR_CLUSTER_BIN") {
            command.arg(bin);
        }
        let out = command
            .stderr(std::process::Stdio::piped())
            .output()
            .await
            .expect("tests/cluster/start.sh runs");
        assert!(
            out.status.success(),
            "the real control plane did not start (Go is needed for the real-server suites):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let kubeconfig = PathBuf::from(stdout.lines().last().expect("the kubeconfig path").trim());
        let dir = kubeconfig.parent().expect("the state folder").to_owned();
        Real {
            dir,
            kubeconfig,
            finalizer: None,
        }
    }
}

/// The one part of kube-controller-manager the tests need, as they run none: a deleted
/// namespace is finalized (its `kubernetes` finalizer removed), so `kubectl delete namespace`
/// and `kubectl delete -k deploy/` end as on a cluster. Unlike the namespace controller it does
/// not delete what the namespace still holds; the tests' deletions have removed it by then.
async fn finalize_deleted_namespaces(client: Client) {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::Namespace;
    use kube::runtime::watcher;
    let api: kube::Api<Namespace> = kube::Api::all(client);
    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    while let Some(event) = events.next().await {
        let (Ok(watcher::Event::Apply(ns)) | Ok(watcher::Event::InitApply(ns))) = event else {
            continue;
        };
        if ns.metadata.deletion_timestamp.is_none() {
            continue;
        }
        let name = ns.metadata.name.clone().unwrap_or_default();
        let mut body = ns.clone();
        if let Some(spec) = body.spec.as_mut() {
            spec.finalizers = Some(Vec::new());
        }
        let _ = api
            .replace_subresource("finalize", &name, &Default::default(), &body)
            .await;
    }
}

/// A request the server refused, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub code: u16,
    pub method: String,
    /// `plural` or `plural/subresource`.
    pub resource: String,
}

/// Where the refusals one kind of client met are collected.
pub type Denials = Arc<Mutex<Vec<Denial>>>;

impl Server {
    /// The server this run's switch picks, with kube-sandbox configured by `config`.
    pub async fn start(config: kube_sandbox::Config) -> Server {
        if real() {
            let mut real = Real::start().await;
            let client = Client::try_from(config_from(&real.kubeconfig).await).expect("a client");
            real.finalizer = Some(tokio::spawn(finalize_deleted_namespaces(client)).abort_handle());
            Server::Real(real)
        } else {
            Server::Sandbox(Sandbox::start(config).await.expect("kube-sandbox starts"))
        }
    }

    /// kube-sandbox itself, for the suites that inject API faults into it (the fault campaign):
    /// they run on kube-sandbox only, which `.ci/run` keeps them to.
    pub fn sandbox(&self) -> &Sandbox {
        match self {
            Server::Sandbox(s) => s,
            Server::Real(_) => panic!(
                "this suite injects API faults into kube-sandbox; run it without {SWITCH}={REAL}"
            ),
        }
    }

    /// The administrator's kubeconfig.
    pub fn kubeconfig_path(&self) -> &Path {
        match self {
            Server::Sandbox(s) => s.kubeconfig_path(),
            Server::Real(r) => &r.kubeconfig,
        }
    }

    /// A client as the administrator.
    pub async fn client(&self) -> Client {
        match self {
            Server::Sandbox(s) => s.client().expect("a client"),
            Server::Real(_) => {
                let config = self.config().await;
                Client::try_from(config).expect("a client")
            }
        }
    }

    async fn config(&self) -> kube::Config {
        config_from(self.kubeconfig_path()).await
    }

    /// A token of the ServiceAccount `namespace/name`.
    pub async fn token_for(&self, namespace: &str, name: &str, kubectl: &super::Env) -> String {
        match self {
            Server::Sandbox(s) => s.token_for(namespace, name).expect("a token"),
            Server::Real(_) => kubectl
                .kubectl(&["create", "token", name, "-n", namespace])
                .await
                .ok()
                .trim()
                .to_owned(),
        }
    }

    /// A client presenting `token` in `namespace`, whose 403s and 401s go to `denials`.
    pub async fn client_with_token(
        &self,
        token: &str,
        namespace: &str,
        denials: Denials,
    ) -> Client {
        let mut config = self.config().await;
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.to_owned().into()),
            ..Default::default()
        };
        config.default_namespace = namespace.to_owned();
        kube::client::ClientBuilder::try_from(config)
            .expect("a client builder")
            .with_layer(&super::held::Refusals(denials))
            .build()
    }

    /// Writes of any `/status` so far (PUT, PATCH or server-side apply), per `VERB resource`:
    /// from kube-sandbox's counters, or from kube-apiserver's `apiserver_request_total`.
    pub async fn status_writes(&self) -> BTreeMap<String, u64> {
        match self {
            Server::Sandbox(s) => s
                .request_counts()
                .into_iter()
                .filter(|((verb, resource), _)| {
                    matches!(verb, Verb::Update | Verb::Patch) && resource.ends_with("/status")
                })
                .map(|((verb, resource), n)| (format!("{verb:?} {resource}"), n))
                .collect(),
            Server::Real(_) => {
                let client = self.client().await;
                let request = http::Request::get("/metrics")
                    .body(Vec::new())
                    .expect("a request");
                let text = client.request_text(request).await.expect("/metrics");
                status_writes_in(&text)
            }
        }
    }
}

/// The client configuration of the kubeconfig at `path`.
async fn config_from(path: &Path) -> kube::Config {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("a kubeconfig");
    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("a client configuration")
}

/// The status writes in kube-apiserver's metrics text.
fn status_writes_in(text: &str) -> BTreeMap<String, u64> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("the API server's metrics parse");
    let mut out = BTreeMap::new();
    for s in scrape
        .samples
        .iter()
        .filter(|s| s.metric == "apiserver_request_total")
    {
        let label = |l: &str| s.labels.get(l).unwrap_or("").to_owned();
        if label("subresource") != "status"
            || !matches!(label("verb").as_str(), "PATCH" | "UPDATE" | "APPLY")
        {
            continue;
        }
        let n = match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v as u64,
            _ => 0,
        };
        *out.entry(format!("{} {}/status", label("verb"), label("resource")))
            .or_insert(0) += n;
    }
    out
}
