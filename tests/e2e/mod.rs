//! The end-to-end harness: kube-sandbox (a Kubernetes API in this process), a simulated SfB
//! deployment served over HTTP, the operator, and the real kubectl, as a user would drive them.
//! Every wait polls a condition under a deadline; nothing sleeps a fixed time.
#![allow(dead_code)] // Each test crate uses a different subset.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use kube_sandbox::Config;
use server::Server;
use sfb_dr::controller::{self, DriverSource, LeaseConfig, Operator};
use sfb_dr::model::{Action, ObservedTopology};
use sfb_dr::simulator::{self, AuditEntry, Deployment, Fault, Outcome, Simulator};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

pub mod held;
pub mod server;

/// The real kubectl.
pub const KUBECTL: &str = "/usr/bin/kubectl";
/// How long one kubectl run may take.
pub const KUBECTL_DEADLINE: Duration = Duration::from_secs(60);
/// How long a deployment may take to converge in these tests (the simulator runs 10 000 times
/// faster than real time, so a whole site failover takes well under a second of work).
pub const CONVERGE: Duration = Duration::from_secs(90);
/// The simulator's speed-up in these tests.
pub const TIME_SCALE: f64 = 10_000.0;

/// The namespace of the example deployment.
pub const NS: &str = "sfb-contoso";

/// What a kubectl run printed.
#[derive(Debug)]
pub struct Ran {
    pub success: bool,
    /// The exit code (`None` when a signal ended it).
    pub exit: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// stdout, or a panic with kubectl's output.
    pub fn ok(self) -> String {
        assert!(
            self.success,
            "kubectl failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// stderr of a run that must fail.
    pub fn failed(self) -> String {
        assert!(
            !self.success,
            "kubectl unexpectedly succeeded: {}",
            self.stdout
        );
        self.stderr
    }
}

/// A sandbox, a simulator, kubectl bound to both, and the operators a test starts.
pub struct Env {
    /// kube-sandbox, or the real control plane when `SFB_DR_TEST_SERVER=kube-apiserver`.
    pub server: Server,
    pub client: Client,
    pub sim: Arc<Simulator>,
    pub sim_url: String,
    cache: TempDir,
}

impl Env {
    /// A sandbox with the CRDs installed (through kubectl, from crds/) and a simulator of
    /// `observed`.
    pub async fn start(observed: ObservedTopology) -> Env {
        Env::start_scaled(observed, TIME_SCALE).await
    }

    /// As [`Env::start`], with the simulator's latencies divided by `time_scale`.
    pub async fn start_scaled(observed: ObservedTopology, time_scale: f64) -> Env {
        Env::start_with(observed, time_scale, Config::default()).await
    }

    /// As [`Env::start`], with a sandbox that authorizes every request by RBAC, as a cluster does
    /// (kubectl here is the admin; an operator needs a ServiceAccount's token).
    pub async fn start_rbac(observed: ObservedTopology) -> Env {
        let config = Config {
            authorization: kube_sandbox::Authorization::Rbac,
            ..Config::default()
        };
        Env::start_with(observed, TIME_SCALE, config).await
    }

    async fn start_with(observed: ObservedTopology, time_scale: f64, config: Config) -> Env {
        // RUST_LOG=sfb_dr=debug shows what the operator does; silent otherwise.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let server = Server::start(config).await;
        let client = server.client().await;
        let sim = Arc::new(Simulator::new(
            Deployment::new(observed).expect("a consistent observed topology"),
            simulator::Config {
                time_scale,
                seed: 11,
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let sim_url = format!("http://{}", listener.local_addr().expect("addr"));
        let router = simulator::server::router(Arc::clone(&sim));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let env = Env {
            server,
            client,
            sim,
            sim_url,
            cache: TempDir::new().expect("a cache dir"),
        };
        env.kubectl(&["apply", "-f", "crds/"]).await.ok();
        // On kube-apiserver a CRD's status has no conditions for a moment after its creation,
        // and kubectl 1.32's wait fails on it ("accessor error: <nil>") rather than waiting.
        let e = &env;
        eventually("the CRDs are established", CONVERGE, || async move {
            let ran = e
                .kubectl(&[
                    "wait",
                    "--for=condition=Established",
                    "crd",
                    "--all",
                    "--timeout=30s",
                ])
                .await;
            if ran.success {
                Ok(())
            } else {
                Err(ran.stderr)
            }
        })
        .await;
        env
    }

    /// The example deployment as `examples/topology.json` describes it.
    pub async fn contoso() -> Env {
        let observed =
            sfb_dr::manifest::load_observed(std::path::Path::new("examples/topology.json"))
                .expect("examples/topology.json");
        Env::start(observed).await
    }

    /// `examples/contoso.yaml` with the Topology pointed at this simulator, applied.
    pub async fn apply_contoso(&self) {
        self.kubectl(&["create", "namespace", NS]).await.ok();
        self.apply(&self.contoso_yaml()).await;
    }

    /// `examples/contoso.yaml` with one attempt a step, applied and Ready, and the next pool
    /// failover set to fail: the first failover of a site change is out of attempts at once.
    pub async fn apply_contoso_whose_next_failover_fails(&self) {
        self.kubectl(&["create", "namespace", NS]).await.ok();
        self.apply(&self.contoso_yaml().replace(
            "maxParallelSteps: 4",
            "maxParallelSteps: 4\n  maxAttempts: 1",
        ))
        .await;
        self.wait_all_ready().await;
        self.fault(Fault::FailNext {
            action: sfb_dr::model::ActionKind::FailOverPool,
            count: 1,
        });
    }

    /// `examples/contoso.yaml`, pointed at this simulator.
    pub fn contoso_yaml(&self) -> String {
        std::fs::read_to_string("examples/contoso.yaml")
            .expect("examples/contoso.yaml")
            .replace("http://127.0.0.1:7070", &self.sim_url)
    }

    /// Runs kubectl against the sandbox with its own discovery cache.
    pub async fn kubectl(&self, args: &[&str]) -> Ran {
        self.kubectl_with_input(args, None).await
    }

    /// Runs kubectl with `input` on its standard input.
    pub async fn kubectl_with_input(&self, args: &[&str], input: Option<&str>) -> Ran {
        run_kubectl(
            self.server.kubeconfig_path(),
            self.cache.path(),
            args,
            input,
        )
        .await
    }

    /// `kubectl apply -f -` of some YAML, which must succeed.
    pub async fn apply(&self, yaml: &str) {
        self.kubectl_with_input(&["apply", "-f", "-"], Some(yaml))
            .await
            .ok();
    }

    /// `kubectl wait --for=condition=Ready` on `what` (such as `topology/contoso`).
    pub async fn wait_ready(&self, what: &str) {
        let timeout = format!("--timeout={}s", CONVERGE.as_secs());
        self.kubectl(&["wait", "-n", NS, "--for=condition=Ready", what, &timeout])
            .await
            .ok();
    }

    /// `kubectl wait --for=condition=Ready --all` on each of the four kinds.
    pub async fn wait_all_ready(&self) {
        let timeout = format!("--timeout={}s", CONVERGE.as_secs());
        for kind in [
            "sites",
            "poolpairs",
            "centralmanagementstores",
            "topologies",
        ] {
            self.kubectl(&[
                "wait",
                "-n",
                NS,
                "--for=condition=Ready",
                kind,
                "--all",
                &timeout,
            ])
            .await
            .ok();
        }
    }

    /// A field of an object through `kubectl get -o jsonpath`.
    pub async fn jsonpath(&self, what: &str, path: &str) -> String {
        self.kubectl(&["get", "-n", NS, what, "-o", &format!("jsonpath={path}")])
            .await
            .ok()
    }

    /// The operator configuration for this sandbox (drivers from each Topology's spec).
    pub fn operator_config(&self, instance: &str) -> controller::Config {
        controller::Config {
            client: self.client.clone(),
            namespace: None,
            metrics_addr: Some(([127, 0, 0, 1], 0).into()),
            election: None,
            drivers: DriverSource::FromSpec,
            instance: instance.into(),
            simulator_step_timeout: None,
        }
    }

    /// Starts an operator (no leader election: the only replica).
    pub async fn operator(&self) -> Operator {
        controller::start(self.operator_config("test-operator"))
            .await
            .expect("the operator starts")
    }

    /// Starts an operator that campaigns for a 3-second Lease `sfb-dr-leader` in `default`.
    pub async fn leader_elected_operator(&self, identity: &str) -> Operator {
        let mut config = self.operator_config(identity);
        config.election = Some(LeaseConfig {
            seconds: 3,
            ..LeaseConfig::new("sfb-dr-leader", "default", identity)
        });
        controller::start(config)
            .await
            .expect("the operator starts")
    }

    /// The simulator's audit log.
    pub fn audit(&self) -> Vec<AuditEntry> {
        self.sim.audit()
    }

    /// Injects a simulator fault.
    pub fn fault(&self, fault: Fault) {
        self.sim.inject(&fault).expect("the fault applies");
    }

    /// Status writes of sfb-dr's kinds so far (PUT, PATCH or apply of their `/status`), counted
    /// by the server.
    pub async fn status_writes(&self) -> u64 {
        let ours = [
            "topologies/",
            "sites/",
            "poolpairs/",
            "centralmanagementstores/",
        ];
        self.server
            .status_writes()
            .await
            .iter()
            .filter(|(k, _)| {
                k.split_once(' ')
                    .is_some_and(|(_, r)| ours.iter().any(|o| r.starts_with(o)))
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// `kubectl annotate --overwrite` on the example Topology.
    pub async fn annotate_topology(&self, annotation: &str) {
        self.kubectl(&[
            "annotate",
            "-n",
            NS,
            "topology",
            "contoso",
            annotation,
            "--overwrite",
        ])
        .await
        .ok();
    }

    /// Who holds the Lease `sfb-dr-leader` in `default` (empty when nobody does).
    pub async fn lease_holder(&self) -> String {
        self.kubectl(&[
            "get",
            "lease",
            "sfb-dr-leader",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .await
        .stdout
    }

    /// Patches a Site's `spec.active` with kubectl, as the on-call admin would.
    pub async fn set_site_active(&self, site: &str, active: bool) {
        let patch = format!("{{\"spec\":{{\"active\":{active}}}}}");
        self.kubectl(&[
            "patch", "-n", NS, "site", site, "--type", "merge", "-p", &patch,
        ])
        .await
        .ok();
    }
}

/// Runs the real kubectl with `kubeconfig` and its own discovery `cache`, `input` on its
/// standard input, under `KUBECTL_DEADLINE`.
pub async fn run_kubectl<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(
    kubeconfig: &std::path::Path,
    cache: &std::path::Path,
    args: &[S],
    input: Option<&str>,
) -> Ran {
    let mut command = tokio::process::Command::new(KUBECTL);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("kubectl runs");
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).await.expect("write stdin");
        drop(stdin);
    }
    let out = tokio::time::timeout(KUBECTL_DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?}: nothing after {KUBECTL_DEADLINE:?}"))
        .expect("kubectl ends");
    Ran {
        success: out.status.success(),
        exit: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Polls `check` every 50 ms until it holds, or panics with `what` and the last thing `check`
/// said after `deadline`.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let end = Instant::now() + deadline;
    loop {
        let last = match check().await {
            Ok(()) => return,
            Err(last) => last,
        };
        assert!(
            Instant::now() < end,
            "{what}: not true after {deadline:?}; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs one README line through `sh` in `dir`, as a user at a checkout would, with `vars` set;
/// panics with its output unless it succeeds within `deadline`. Returns its standard output.
pub async fn sh_line(
    line: &str,
    dir: &std::path::Path,
    vars: &[(&str, &std::ffi::OsStr)],
    deadline: Duration,
) -> String {
    let mut command = tokio::process::Command::new("sh");
    command.arg("-c").arg(line).current_dir(dir);
    for (name, value) in vars {
        command.env(name, value);
    }
    let out = tokio::time::timeout(deadline, command.output())
        .await
        .unwrap_or_else(|_| panic!("{line}: no end after {deadline:?}"))
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{line}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `Ok` when `seen` equals `wanted`, else what was seen.
pub fn expect_eq(seen: &str, wanted: &str) -> Result<(), String> {
    if seen == wanted {
        Ok(())
    } else {
        Err(format!("{seen:?}, not {wanted:?}"))
    }
}

/// Asserts the audit log holds no refusal, and no command run twice under any key or twice
/// with the same effect.
pub fn assert_clean(audit: &[AuditEntry]) {
    let refused: Vec<&AuditEntry> = audit
        .iter()
        .filter(|a| a.outcome == Outcome::Refused)
        .collect();
    assert!(refused.is_empty(), "the simulator refused: {refused:#?}");
    let mut keys: Vec<&str> = audit.iter().filter_map(|a| a.key.as_deref()).collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n, "a key ran twice: {audit:#?}");
}

/// The index in the audit of the first succeeded command equal to `action`.
pub fn position(audit: &[AuditEntry], action: &Action) -> usize {
    audit
        .iter()
        .position(|a| a.outcome == Outcome::Succeeded && a.command == *action)
        .unwrap_or_else(|| panic!("{action} never succeeded: {audit:#?}"))
}

/// The path of the freshly built `sfb-dr` binary.
pub fn sfb_dr_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sfb-dr"))
}

/// `examples/topology.json`.
pub fn contoso_observed() -> ObservedTopology {
    sfb_dr::manifest::load_observed(std::path::Path::new("examples/topology.json"))
        .expect("examples/topology.json")
}

/// The commands that succeeded, each with how many times it did.
pub fn executions(audit: &[AuditEntry]) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for a in audit.iter().filter(|a| a.outcome == Outcome::Succeeded) {
        *counts.entry(a.command.to_string()).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// A GET of `url`: the status code and the body.
pub async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the operator answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// `sfbdr_reconciles_total` in a scrape of `/metrics`: summed over every result, or for one.
pub fn reconciles(metrics: &str, result: Option<&str>) -> f64 {
    let scrape =
        prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == "sfbdr_reconciles_total")
        .filter(|s| result.is_none_or(|r| s.labels.get("result") == Some(r)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// `sfbdr_reconciles_total` of a running operator, as [`reconciles`] counts it.
pub async fn operator_reconciles(operator: &Operator, result: Option<&str>) -> f64 {
    let addr = operator.metrics_addr().expect("metrics served");
    reconciles(&get(&format!("http://{addr}/metrics")).await.1, result)
}
