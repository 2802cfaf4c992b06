//! Shared test fixtures: a sandbox per test, a kubectl bound to it with a fresh cache, a small
//! made-up CRD (`widgets.sandbox.test`) and polling with a deadline instead of sleeps.
#![allow(dead_code)] // Each test crate uses a different subset.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube_sandbox::{Config, Sandbox};
use serde_json::json;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The real kubectl these tests drive.
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// How long any one kubectl run, or any one read from a running kubectl, may take: a kubectl
/// that goes silent fails its test instead of hanging the suite.
pub const KUBECTL_DEADLINE: Duration = Duration::from_secs(60);

/// Awaits `future`, failing the test with `what` if it takes longer than `deadline`.
pub async fn in_time<T>(what: &str, deadline: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(deadline, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after {deadline:?}"))
}

/// A Widget CRD exercising what the issue asks for: printer columns (with a filter), short
/// names, categories, status and scale subresources, schema bounds and enums, defaults, a CEL rule
/// and a CEL transition rule, conditions as a list-map, and a selectable field.
pub const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.sandbox.test
spec:
  group: sandbox.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    selectableFields:
    - jsonPath: .spec.color
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            x-kubernetes-validations:
            - rule: "self.size <= 10 || self.color == 'red'"
              message: "widgets larger than 10 must be red"
            properties:
              size: {type: integer, minimum: 1, maximum: 100}
              replicas: {type: integer, minimum: 0}
              color: {type: string, enum: [red, blue], default: blue}
              target:
                type: string
                x-kubernetes-validations:
                - {rule: "self == oldSelf", message: "target is immutable"}
          status:
            type: object
            properties:
              observedGeneration: {type: integer}
              replicas: {type: integer}
              conditions:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [type]
                items:
                  type: object
                  required: [type, status]
                  properties:
                    type: {type: string}
                    status: {type: string}
                    observedGeneration: {type: integer}
                    reason: {type: string}
                    message: {type: string}
"#;

/// A Widget manifest in the default namespace.
pub fn widget(name: &str, size: u32) -> String {
    format!("apiVersion: sandbox.test/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n  size: {size}\n  target: t1\n")
}

/// Starts a sandbox on a free loopback port.
pub async fn sandbox() -> Sandbox {
    Sandbox::start(Config::default())
        .await
        .expect("the sandbox starts on loopback")
}

/// Starts a sandbox that authorizes with RBAC, as a cluster does.
pub async fn rbac_sandbox() -> Sandbox {
    Sandbox::start(Config {
        authorization: kube_sandbox::Authorization::Rbac,
        ..Config::default()
    })
    .await
    .expect("the sandbox starts on loopback")
}

/// What a kubectl run printed and whether it succeeded.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status was zero.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// Panics with kubectl's output unless it succeeded, and returns stdout.
    pub fn ok(self) -> String {
        assert!(
            self.success,
            "kubectl failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Panics unless kubectl failed, and returns stderr.
    pub fn failed(self) -> String {
        assert!(
            !self.success,
            "kubectl unexpectedly succeeded:\n{}",
            self.stdout
        );
        self.stderr
    }
}

/// kubectl bound to one sandbox, with its own discovery cache and scratch directory.
pub struct Kubectl {
    kubeconfig: PathBuf,
    cache: TempDir,
    scratch: TempDir,
}

impl Kubectl {
    /// A kubectl for `sandbox` with a fresh `--cache-dir`.
    pub fn new(sandbox: &Sandbox) -> Self {
        Kubectl {
            kubeconfig: sandbox.kubeconfig_path().to_path_buf(),
            cache: tempfile::tempdir().expect("a cache dir"),
            scratch: tempfile::tempdir().expect("a scratch dir"),
        }
    }

    /// A kubectl for `sandbox` presenting `token` (as `user`, in `namespace`), with its own
    /// kubeconfig and cache.
    pub fn with_token(sandbox: &Sandbox, user: &str, token: &str, namespace: &str) -> Self {
        let scratch = tempfile::tempdir().expect("a scratch dir");
        let kubeconfig = scratch.path().join("token.kubeconfig");
        sandbox
            .write_kubeconfig(&kubeconfig, user, token, namespace)
            .expect("the kubeconfig is written");
        Kubectl {
            kubeconfig,
            cache: tempfile::tempdir().expect("a cache dir"),
            scratch,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(KUBECTL);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .env_remove("KUBECONFIG")
            .current_dir(self.scratch.path())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl to completion (killing it if it overruns `KUBECTL_DEADLINE`).
    pub async fn run(&self, args: &[&str]) -> Outcome {
        let what = format!("kubectl {}", args.join(" "));
        let output = in_time(&what, KUBECTL_DEADLINE, self.command(args).output())
            .await
            .expect("kubectl runs");
        Outcome {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts kubectl for long-running commands such as `get -w`; every read from it has a
    /// deadline.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        let stdout = child.stdout.take().expect("piped stdout");
        Running {
            child,
            stdout: BufReader::new(stdout).lines(),
            what: format!("kubectl {}", args.join(" ")),
            deadline: KUBECTL_DEADLINE,
        }
    }

    /// Writes `content` into the scratch directory and returns its path.
    pub fn write(&self, name: &str, content: &str) -> String {
        let path = self.scratch.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("scratch subdirectory");
        }
        std::fs::write(&path, content).expect("scratch file");
        path.display().to_string()
    }

    /// `kubectl apply -f` of a manifest, with extra flags.
    pub async fn apply(&self, manifest: &str, extra: &[&str]) -> Outcome {
        let path = self.write("manifest.yaml", manifest);
        let mut args = vec!["apply", "-f", path.as_str()];
        args.extend_from_slice(extra);
        self.run(&args).await
    }

    /// Installs the Widget CRD and waits until it is served.
    pub async fn install_widgets(&self) {
        self.apply(WIDGET_CRD, &[]).await.ok();
        self.run(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.sandbox.test",
            "--timeout=10s",
        ])
        .await
        .ok();
    }
}

/// A kubectl still running, read line by line, each read under a deadline.
pub struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    what: String,
    deadline: Duration,
}

impl Running {
    /// Uses `deadline` instead of `KUBECTL_DEADLINE` for each read.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The next line kubectl prints, `None` once its stdout closes; fails the test if kubectl
    /// prints nothing within the deadline.
    pub async fn next_line(&mut self) -> Option<String> {
        let what = format!("the next line from {}", self.what);
        in_time(&what, self.deadline, self.stdout.next_line())
            .await
            .expect("kubectl's stdout is readable")
    }

    /// Waits for kubectl to exit and returns what it printed from now on.
    pub async fn finish(mut self) -> Outcome {
        let what = format!("{} to finish", self.what);
        let mut stderr_pipe = self.child.stderr.take();
        let outcome = async {
            let mut stdout = String::new();
            let read_stdout = async {
                while let Ok(Some(line)) = self.stdout.next_line().await {
                    stdout.push_str(&line);
                    stdout.push('\n');
                }
            };
            let mut stderr = String::new();
            let read_stderr = async {
                if let Some(pipe) = stderr_pipe.as_mut() {
                    let _ = pipe.read_to_string(&mut stderr).await;
                }
            };
            tokio::join!(read_stdout, read_stderr);
            let status = self.child.wait().await.expect("kubectl exits");
            Outcome {
                success: status.success(),
                stdout,
                stderr,
            }
        };
        in_time(&what, self.deadline, outcome).await
    }

    /// Stops kubectl.
    pub async fn stop(mut self) {
        self.child.kill().await.expect("kubectl stops");
    }
}

/// Polls `check` until it holds or `within` passes, then panics naming `what`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A ConfigMap with one `value` entry.
pub fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"value": value}}))
        .expect("a configmap")
}

/// Installs the Widget CRD through kube-rs, waits until established, and returns the API.
pub async fn widgets(sb: &Sandbox) -> Api<DynamicObject> {
    let client = sb.client().expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_yaml::from_str(WIDGET_CRD).expect("the CRD parses");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("the CRD is created");
    let established = await_condition(
        crds,
        "widgets.sandbox.test",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(10), established)
        .await
        .expect("established in time")
        .expect("no watch error");
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("sandbox.test", "v1", "Widget"));
    Api::namespaced_with(client, "default", &resource)
}

/// A Widget as a kube-rs dynamic object.
pub fn widget_object(name: &str, size: u32) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "sandbox.test/v1", "kind": "Widget",
        "metadata": {"name": name}, "spec": {"size": size},
    }))
    .expect("a widget")
}
