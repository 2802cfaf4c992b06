//! deploy/ against an API server (kube-sandbox) with the real kubectl: `kubectl apply -k
//! deploy/` installs every object and a second apply changes nothing; the README's install,
//! upgrade and uninstall commands run verbatim, and its Secret checks answer as it says under
//! RBAC; and the operator, started with the
//! Deployment's own arguments and environment, takes the Lease in its namespace, becomes
//! ready, and stops within the Deployment's grace period on SIGTERM.

mod e2e;
mod kustomize;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use e2e::{eventually, Env, CONVERGE, NS};
use serde_json::Value;
use tokio::process::Command;

/// `kubectl get` of each object the base renders, which must all exist (or all be gone).
async fn assert_installed(env: &Env, objects: &[Value], installed: bool) {
    for o in objects {
        let kind = o["kind"].as_str().expect("kind");
        let name = o["metadata"]["name"].as_str().expect("name");
        let group = o["apiVersion"]
            .as_str()
            .and_then(|v| v.split_once('/').map(|(g, _)| g))
            .unwrap_or("");
        let resource = if group.is_empty() {
            kind.to_lowercase()
        } else {
            format!("{}.{group}", kind.to_lowercase())
        };
        let mut args = vec!["get", resource.as_str(), name];
        if let Some(ns) = o["metadata"]["namespace"].as_str() {
            args.extend(["-n", ns]);
        }
        let ran = env.kubectl(&args).await;
        assert_eq!(
            ran.success, installed,
            "kubectl get {resource} {name}: {}",
            ran.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_k_deploy_installs_every_object_and_a_second_apply_changes_nothing() {
    let env = Env::contoso().await;
    let objects = kustomize::build("deploy");
    let first = env.kubectl(&["apply", "-k", "deploy/"]).await.ok();
    assert_eq!(first.lines().count(), objects.len(), "{first}");
    assert!(first.lines().all(|l| l.ends_with(" created")), "{first}");
    assert_installed(&env, &objects, true).await;
    let version = || async {
        env.kubectl(&[
            "get",
            "pdb",
            "sfb-dr",
            "-n",
            "sfb-dr-system",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .await
        .ok()
    };
    let before = version().await;
    let second = env.kubectl(&["apply", "-k", "deploy/"]).await.ok();
    // kubectl always re-sends a PodDisruptionBudget's selector (its patch strategy is
    // "replace"), so it says "configured"; the server keeps the object as it was.
    assert!(
        second
            .lines()
            .all(|l| l.ends_with(" unchanged")
                || l == "poddisruptionbudget.policy/sfb-dr configured"),
        "a second apply changes nothing:\n{second}"
    );
    assert_eq!(
        version().await,
        before,
        "the PodDisruptionBudget did not change"
    );
    // Each topology namespace's Role for the driver's Secret, and the plan reader.
    env.kubectl(&["create", "namespace", NS]).await.ok();
    for example in [
        "deploy/examples/powershell-credentials-rbac.yaml",
        "deploy/examples/plan-reader-rbac.yaml",
    ] {
        env.kubectl(&["apply", "-f", example]).await.ok();
    }
    // Deleting the namespace takes what is in it, hence --ignore-not-found, as the README has it.
    env.kubectl(&["delete", "-k", "deploy/", "--ignore-not-found"])
        .await
        .ok();
    assert_installed(&env, &objects, false).await;
}

/// The lines of every `sh` block between `heading` and the next heading of its level or above.
fn readme_section(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let level = heading.split(' ').next().unwrap_or_default().len();
    let after = readme
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README lost its {heading:?} section"))
        .1;
    let end = after
        .lines()
        .position(|l| {
            let hashes = l.len() - l.trim_start_matches('#').len();
            hashes > 0 && hashes <= level && l[hashes..].starts_with(' ')
        })
        .unwrap_or(usize::MAX);
    let section: Vec<&str> = after.lines().take(end).collect();
    let mut out = vec![];
    let mut inside = false;
    for line in section {
        match (inside, line.trim()) {
            (false, "```sh") => inside = true,
            (true, "```") => inside = false,
            (true, l) => out.push(l.to_owned()),
            _ => {}
        }
    }
    assert!(!out.is_empty(), "no commands under {heading}");
    out
}

/// README lines that need what only a real cluster has, with why; each must be in the README.
const NEEDS_A_CLUSTER: [(&str, &str); 4] = [
    ("rollout status", "nothing runs Deployments on kube-sandbox"),
    (
        "get lease sfb-dr-leader",
        "no operator pod runs to take the Lease",
    ),
    (
        "auth can-i get secret",
        "it runs under RBAC in the_readme_secret_checks_answer_as_it_says_under_rbac",
    ),
    (
        "auth can-i list secrets",
        "it runs under RBAC in the_readme_secret_checks_answer_as_it_says_under_rbac",
    ),
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

/// Runs one README line through sh in `root`, as a user at a checkout would.
async fn sh(env: &Env, root: &Path, home: &Path, line: &str, image: &str) -> String {
    e2e::sh_line(
        line,
        root,
        &[
            ("HOME", home.as_os_str()),
            ("KUBECONFIG", env.server.kubeconfig_path().as_os_str()),
            ("IMAGE", std::ffi::OsStr::new(image)),
        ],
        e2e::KUBECTL_DEADLINE,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_install_upgrade_and_uninstall_run_verbatim_against_an_api_server() {
    let env = Env::contoso().await;
    let root = tempfile::tempdir().expect("a checkout");
    for dir in ["crds", "deploy", "examples"] {
        copy_dir(Path::new(dir), &root.path().join(dir));
    }
    let home = tempfile::tempdir().expect("a home for kubectl's cache");
    let image = "registry.example.com/platform/sfb-dr:0.1.0";
    let mut skipped = vec![];
    let mut run = |lines: Vec<String>| {
        lines
            .into_iter()
            .filter(|line| {
                let skip = NEEDS_A_CLUSTER
                    .iter()
                    .any(|(needle, _)| line.contains(needle));
                if skip {
                    skipped.push(line.clone());
                }
                !skip
            })
            .collect::<Vec<_>>()
    };
    let install = run(readme_section("### Install"));
    let secret = run(readme_section("### Install")
        .into_iter()
        .filter(|l| l.contains("deploy/examples/"))
        .collect());
    assert_eq!(secret.len(), 1, "the Secret Role's apply: {secret:?}");
    let upgrade = run(readme_section("### Upgrade"));
    let uninstall = run(readme_section("### Uninstall"));
    for (needle, why) in NEEDS_A_CLUSTER {
        assert!(
            skipped.iter().any(|l| l.contains(needle)),
            "the README no longer runs `{needle}` (skipped here because {why})"
        );
    }

    // Install: the CRDs, the base for a local image, then the same with $IMAGE swapped in.
    env.kubectl(&["create", "namespace", NS]).await.ok();
    for line in &install {
        sh(&env, root.path(), home.path(), line, image).await;
    }
    let pulled = env
        .kubectl(&[
            "get",
            "deployment",
            "sfb-dr",
            "-n",
            "sfb-dr-system",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await
        .ok();
    assert_eq!(pulled, image, "the README's image line swaps in $IMAGE");
    env.kubectl(&["get", "role", "sfb-dr-credentials", "-n", NS])
        .await
        .ok();

    // Upgrade, with a deployment to pause and resume.
    env.apply(&env.contoso_yaml()).await;
    for line in &upgrade {
        sh(&env, root.path(), home.path(), line, image).await;
    }
    assert_eq!(
        env.jsonpath("topology/contoso", "{.spec.paused}").await,
        "false"
    );

    // Uninstall: everything goes, after a backup that holds the deployment's resources.
    for line in &uninstall {
        sh(&env, root.path(), home.path(), line, image).await;
    }
    let backup = std::fs::read_to_string(root.path().join("sfbdr-backup.yaml")).expect("backup");
    for name in [
        "kind: Topology",
        "name: contoso",
        "kind: PoolPair",
        "name: redmond",
    ] {
        assert!(backup.contains(name), "the backup lacks {name}");
    }
    assert_installed(&env, &kustomize::build("deploy"), false).await;
    let crds = env.kubectl(&["get", "crd", "-o", "name"]).await.ok();
    assert!(!crds.contains("sfbdr.io"), "{crds}");
}

/// Who holds the operator's Lease in `namespace` (empty when nobody does), if it exists.
async fn lease_holder(env: &Env, namespace: &str) -> Option<String> {
    let ran = env
        .kubectl(&[
            "get",
            "lease",
            "sfb-dr-leader",
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .await;
    ran.success.then_some(ran.stdout)
}

/// What the operator wrote on standard error, once it has ended.
async fn read_all(child: &mut tokio::process::Child) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut text).await;
    }
    text
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn http_status(url: &str) -> Result<u16, String> {
    reqwest::get(url)
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_runs_with_the_deployments_arguments_and_stops_within_its_grace_period() {
    let env = Env::contoso().await;
    env.kubectl(&["apply", "-k", "deploy/"]).await.ok();
    env.apply_contoso().await;
    let objects = kustomize::build("deploy");
    let pod = &kustomize::find(&objects, "Deployment", "sfb-dr")["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let namespace = "sfb-dr-system";
    let pod_name = "sfb-dr-5d8f7c9b4-x2x7q";
    let port = free_port();
    // The kubelet's work: the downward API's values, and $(VAR) expanded in the args. Off the
    // cluster, the kubeconfig stands in for the service account and loopback for 0.0.0.0.
    let mut command = Command::new(e2e::sfb_dr_binary());
    for arg in kustomize::strings(&container["args"]) {
        let arg = arg.replace("$(POD_NAMESPACE)", namespace);
        match arg.strip_prefix("--metrics-addr=") {
            Some(addr) => {
                assert_eq!(addr, "0.0.0.0:8080");
                command.arg(format!("--metrics-addr=127.0.0.1:{port}"));
            }
            None => {
                command.arg(arg);
            }
        }
    }
    for var in container["env"].as_array().expect("env") {
        let name = var["name"].as_str().expect("name");
        let value = match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            Some("metadata.name") => pod_name.to_owned(),
            Some("metadata.namespace") => namespace.to_owned(),
            Some(other) => panic!("{name}: no stand-in for {other}"),
            None => var["value"].as_str().expect("a value").to_owned(),
        };
        command.env(name, value);
    }
    let tmp = tempfile::tempdir().expect("the pod's /tmp");
    let mut child = command
        .arg("--kubeconfig")
        .arg(env.server.kubeconfig_path())
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sfb-dr runs");

    let base = format!("http://127.0.0.1:{port}");
    eventually(
        "the Lease in sfb-dr-system names the pod",
        CONVERGE,
        || async {
            let holder = lease_holder(&env, namespace).await.unwrap_or_default();
            e2e::expect_eq(&holder, pod_name)
        },
    )
    .await;
    for (path, what) in [("/healthz", "liveness"), ("/readyz", "readiness")] {
        let url = format!("{base}{path}");
        let deadline = Instant::now() + CONVERGE;
        loop {
            let seen = http_status(&url).await;
            if seen == Ok(200) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.start_kill();
                let log = read_all(&mut child).await;
                panic!("{what}: {url} answers {seen:?} after {CONVERGE:?}; the operator logged:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    env.wait_all_ready().await;

    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    let pid = child.id().expect("running").to_string();
    let stopped = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(grace), child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!("still running {grace} s after SIGTERM: the kubelet would kill it")
        })
        .expect("waits");
    let stderr = read_all(&mut child).await;
    assert!(status.success(), "a clean exit: {stderr}");
    assert!(stopped.elapsed() < Duration::from_secs(grace));
    let holder = lease_holder(&env, namespace)
        .await
        .expect("the Lease stays");
    assert_eq!(holder, "", "the Lease is released for the other replica");
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| {
            panic!("--log-format=json wrote a line that is not JSON ({e}): {line}")
        });
    }
}

/// Runs kubectl against `sandbox` as its administrator; (success, stdout, stderr).
async fn kubectl_admin(
    sandbox: &kube_sandbox::Sandbox,
    cache: &Path,
    args: &[&str],
) -> (bool, String, String) {
    let out = tokio::time::timeout(
        e2e::KUBECTL_DEADLINE,
        Command::new(e2e::KUBECTL)
            .arg("--kubeconfig")
            .arg(sandbox.kubeconfig_path())
            .arg("--cache-dir")
            .arg(cache)
            .args(args)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("kubectl {args:?}: no end"))
    .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_secret_checks_answer_as_it_says_under_rbac() {
    let sandbox = kube_sandbox::Sandbox::start(kube_sandbox::Config {
        authorization: kube_sandbox::Authorization::Rbac,
        ..kube_sandbox::Config::default()
    })
    .await
    .expect("kube-sandbox starts");
    let cache = tempfile::tempdir().expect("a cache");
    for args in [
        &["apply", "-f", "crds/"][..],
        &["apply", "-k", "deploy/"],
        &["create", "namespace", NS],
    ] {
        let (ok, _, err) = kubectl_admin(&sandbox, cache.path(), args).await;
        assert!(ok, "kubectl {args:?}: {err}");
    }
    let checks: Vec<String> = readme_section("### Install")
        .into_iter()
        .filter(|l| l.contains("auth can-i"))
        .collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    let ask = |line: &str| {
        let args: Vec<String> = line.split_whitespace().skip(1).map(str::to_owned).collect();
        let sandbox = &sandbox;
        let cache = cache.path().to_owned();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kubectl_admin(sandbox, &cache, &args).await
        }
    };
    // Before the Role, the operator may read no Secret at all.
    for line in &checks {
        assert_eq!(ask(line).await.1, "no", "{line}");
    }
    let (ok, _, err) = kubectl_admin(
        &sandbox,
        cache.path(),
        &[
            "apply",
            "-f",
            "deploy/examples/powershell-credentials-rbac.yaml",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, answer, _) = ask(&checks[0]).await;
    assert!(ok && answer == "yes", "{}: {answer}", checks[0]);
    let (ok, answer, _) = ask(&checks[1]).await;
    assert!(!ok && answer == "no", "{}: {answer}", checks[1]);
    // Nor another Secret of that namespace, nor any Secret elsewhere.
    let who = "--as=system:serviceaccount:sfb-dr-system:sfb-dr";
    for args in [
        &["auth", "can-i", "get", "secret/other", "-n", NS, who][..],
        &["auth", "can-i", "get", "secrets", "-A", who],
        &["auth", "can-i", "watch", "secrets", "-A", who],
    ] {
        let (_, answer, _) = kubectl_admin(&sandbox, cache.path(), args).await;
        assert_eq!(answer, "no", "{args:?}");
    }
}
