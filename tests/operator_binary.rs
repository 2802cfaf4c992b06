//! The `sfb-dr` binary as people run it: `sfb-dr run` against a cluster (here kube-sandbox),
//! stopped with SIGTERM or killed with SIGKILL, `sfb-dr sandbox --drill`, and the help.

mod e2e;

use std::process::Stdio;
use std::time::Duration;

use e2e::{assert_clean, contoso_observed, eventually, executions, Env, CONVERGE, NS};
use sfb_dr::api::{StepState, Topology};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

fn run_operator(env: &Env, extra: &[&str]) -> Child {
    Command::new(e2e::sfb_dr_binary())
        .arg("run")
        .arg("--kubeconfig")
        .arg(env.server.kubeconfig_path())
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sfb-dr runs")
}

fn signal(child: &Child, signal: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

async fn exit(mut child: Child, limit: Duration) -> (i32, String) {
    let mut stderr = child.stderr.take().expect("stderr");
    let status = tokio::time::timeout(limit, child.wait())
        .await
        .unwrap_or_else(|_| panic!("sfb-dr did not exit within {limit:?}"))
        .expect("waits");
    let mut text = String::new();
    let _ = stderr.read_to_string(&mut text).await;
    (status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_says_how_to_install_missing_crds() {
    let sandbox = kube_sandbox::Sandbox::start(kube_sandbox::Config::default())
        .await
        .expect("starts");
    let child = Command::new(e2e::sfb_dr_binary())
        .args([
            "run",
            "--leader-election=false",
            "--metrics-addr",
            "127.0.0.1:0",
            "--kubeconfig",
        ])
        .arg(sandbox.kubeconfig_path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("runs");
    let (code, stderr) = exit(child, CONVERGE).await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("topologies.sfbdr.io is not installed")
            && stderr.contains("kubectl apply -f crds/"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_operates_logs_json_and_stops_on_sigterm_releasing_its_lease() {
    let env = Env::contoso().await;
    let child = run_operator(
        &env,
        &["--lease-namespace", "default", "--log-format", "json"],
    );
    env.apply_contoso().await;
    env.wait_all_ready().await;
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    assert_clean(&env.audit());
    assert_eq!(env.audit().len(), 5);
    assert!(
        !env.lease_holder().await.is_empty(),
        "the operator took the lease"
    );

    signal(&child, "-TERM");
    let (code, stderr) = exit(child, Duration::from_secs(20)).await;
    assert_eq!(code, 0, "a clean exit on SIGTERM: {stderr}");
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert_eq!(env.lease_holder().await, "", "the lease is released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_killed_mid_step_is_settled_by_its_successor() {
    let env = Env::start_scaled(contoso_observed(), 1000.0).await;
    let first = run_operator(&env, &["--leader-election=false"]);
    env.apply_contoso().await;
    env.wait_all_ready().await;
    env.set_site_active("redmond", false).await;
    let client = env.client.clone();
    eventually("a step is Running", CONVERGE, || {
        let api: kube::Api<Topology> = kube::Api::namespaced(client.clone(), NS);
        async move {
            let t = api.get("contoso").await.map_err(|e| e.to_string())?;
            let running = t
                .status
                .and_then(|s| s.plan)
                .is_some_and(|p| p.steps.iter().any(|s| s.state == StepState::Running));
            if running {
                Ok(())
            } else {
                Err("no step Running".into())
            }
        }
    })
    .await;
    signal(&first, "-KILL");
    let _ = exit(first, Duration::from_secs(10)).await;
    let second = run_operator(&env, &["--leader-election=false"]);
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    let runs = executions(&audit);
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert!(runs.iter().all(|(_, n)| *n == 1), "each ran once: {runs:?}");
    signal(&second, "-TERM");
    let (code, _) = exit(second, Duration::from_secs(20)).await;
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_status_or_events() {
    const MARKER: &str = "NOT-FOR-ANY-LOG-3f9a";
    let env = Env::contoso().await;
    let child = run_operator(&env, &["--leader-election=false"]);
    env.kubectl(&["create", "namespace", NS]).await.ok();
    let key = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{MARKER}\n-----END OPENSSH PRIVATE KEY-----\n"
    );
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sfb-mgmt-ssh", "namespace": NS},
        "stringData": {"ssh-privatekey": key, "known_hosts": format!("sfbmgmt.invalid ssh-ed25519 {MARKER}\n")}
    });
    env.apply(&secret.to_string()).await;
    let powershell = env.contoso_yaml().replace(
        &format!("simulator:\n      url: \"{}\"", env.sim_url),
        "powershell:\n      host: sfbmgmt.invalid\n      user: svc-sfbdr\n      credentialsSecretRef: {name: sfb-mgmt-ssh}",
    );
    assert!(
        powershell.contains("sfbmgmt.invalid"),
        "the driver was replaced"
    );
    env.apply(&powershell).await;
    let e = &env;
    eventually(
        "the failed observation is reported",
        CONVERGE,
        || async move {
            let reason = e
                .jsonpath(
                    "topology/contoso",
                    "{.status.conditions[?(@.type==\"Ready\")].reason}",
                )
                .await;
            e2e::expect_eq(&reason, "ObserveFailed")
        },
    )
    .await;
    let status = env
        .kubectl(&["get", "topology", "contoso", "-n", NS, "-o", "yaml"])
        .await
        .ok();
    let events = env
        .kubectl(&["get", "events", "-n", NS, "-o", "yaml"])
        .await
        .ok();
    signal(&child, "-TERM");
    let (_, logs) = exit(child, Duration::from_secs(20)).await;
    for (what, text) in [("status", &status), ("events", &events), ("logs", &logs)] {
        assert!(
            !text.contains(MARKER),
            "the Secret leaked into {what}:\n{text}"
        );
    }
    assert!(
        status.contains("sfbmgmt.invalid"),
        "the status says what failed:\n{status}"
    );
}

#[test]
fn the_drill_runs_a_site_failover_and_failback_and_passes() {
    let dir = tempfile::tempdir().expect("a directory");
    let out = std::process::Command::new(e2e::sfb_dr_binary())
        .args(["sandbox", "--drill", "--time-scale", "1000", "--dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("drill: PASSED"), "{stdout}");
    assert!(stdout.contains("refusals          0"), "{stdout}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("sandbox.json")).expect("sandbox.json"),
    )
    .expect("JSON");
    for field in ["kubeconfig", "apiServer", "simulator"] {
        assert!(
            state[field].is_string(),
            "sandbox.json has {field}: {state}"
        );
    }
}

/// Planning rule 11 in a drill: the federation routes leave redmond with it and come back
/// before its pool fails back, the drill confirming each person's step as a person would.
#[test]
fn the_federation_drill_moves_both_routes_out_and_back_and_passes() {
    let stdout = passed_drill("topology-federation.json", "federation.yaml");
    // Out with the site, then back before pool1 fails back.
    for (from, to) in [
        ("edge1.fabrikam.com", "edge2.fabrikam.com"),
        ("edge2.fabrikam.com", "edge1.fabrikam.com"),
    ] {
        let sip = format!(
            "confirmed by the drill, as a person would after: by hand, in Topology Builder: clear \
             \"Enable federation for this Edge pool (Port 5061)\" on {from}, select it on {to}"
        );
        assert!(stdout.contains(&sip), "the SIP route to {to}: {stdout}");
        let xmpp = format!("Succeeded point the XMPP federation route at Edge pool {to}");
        assert!(stdout.contains(&xmpp), "the XMPP route to {to}: {stdout}");
    }
}

/// Planning rule 12 in a drill: the Persistent Chat pool fails over to dublin with redmond and
/// back, the drill doing and confirming each SQL Server step as a person would, and every
/// cmdlet running in its order.
#[test]
fn the_persistent_chat_drill_fails_the_pool_over_and_back_and_passes() {
    let stdout = passed_drill("topology-persistent-chat.json", "persistent-chat.yaml");
    let at = |what: &str| {
        stdout
            .find(what)
            .unwrap_or_else(|| panic!("{what:?} missing: {stdout}"))
    };
    let order = [
        "confirmed by the drill, as a person would after: by hand, in SQL Server Management \
         Studio on the instance that holds Persistent Chat pool pchat.litware.com's backup mgc \
         database",
        "Succeeded put Persistent Chat pool pchat.litware.com in state FailedOver",
        "Succeeded make pc3.litware.com, pc4.litware.com the active servers",
        "Succeeded clear Persistent Chat pool pchat.litware.com's active servers",
        "confirmed by the drill, as a person would after: by hand, in SQL Server Management \
         Studio, for Persistent Chat pool pchat.litware.com",
        "Succeeded put Persistent Chat pool pchat.litware.com in state Normal",
        "Succeeded make pc1.litware.com, pc2.litware.com the active servers",
    ];
    for pair in order.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{:?} before {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// The output of `sfb-dr sandbox --drill` on a topology and manifests of `examples/drills/`,
/// once it has passed with no refusal.
fn passed_drill(topology: &str, manifests: &str) -> String {
    let out = std::process::Command::new(e2e::sfb_dr_binary())
        .args(["sandbox", "--drill", "--time-scale", "1000", "--topology"])
        .arg(format!("examples/drills/{topology}"))
        .arg("--manifests")
        .arg(format!("examples/drills/{manifests}"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("drill: PASSED"), "{stdout}");
    assert!(stdout.contains("refusals          0"), "{stdout}");
    stdout
}

#[test]
fn the_help_names_only_commands_that_exist() {
    let help = std::process::Command::new(e2e::sfb_dr_binary())
        .arg("--help")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["run", "sandbox", "crd", "plan", "simulator"] {
        assert!(
            text.contains(&format!("  {command}")),
            "{command} missing:\n{text}"
        );
        let sub = std::process::Command::new(e2e::sfb_dr_binary())
            .args([command, "--help"])
            .output()
            .expect("runs");
        assert!(sub.status.success(), "{command} --help");
    }
}

/// The lines of the first `sh` block after `heading` in the README.
fn readme_block(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let after = readme
        .split_once(heading)
        .unwrap_or_else(|| panic!("the README lost its {heading:?} section"))
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .expect("an sh block");
    block.lines().map(str::to_owned).collect()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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

/// The README's set-up command, then its quick start line by line, verbatim, as a new user would
/// run them (the debug build stands in for `cargo run --release --`).
/// Waits until a started `sfb-dr sandbox` has written its `sandbox.json` at `state`.
async fn wrote_state(state: &std::path::Path) {
    eventually("the sandbox writes sandbox.json", CONVERGE, || async move {
        if state.exists() {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_runs_verbatim() {
    let setup = readme_block("## Set-up");
    assert_eq!(
        setup[0], "cargo run --release -- sandbox",
        "the README's first command"
    );
    let root = tempfile::tempdir().expect("a directory");
    copy_dir(
        std::path::Path::new("examples"),
        &root.path().join("examples"),
    );
    let mut sandbox = Command::new(e2e::sfb_dr_binary())
        .arg("sandbox")
        .current_dir(root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the sandbox starts");
    wrote_state(&root.path().join(".sfb-dr/sandbox.json")).await;
    let home = tempfile::tempdir().expect("a home for kubectl's cache");
    for line in readme_block("## Quick start") {
        let kubeconfig = root.path().join(".sfb-dr/kubeconfig");
        let stdout = e2e::sh_line(
            &line,
            root.path(),
            &[
                ("HOME", home.path().as_os_str()),
                ("KUBECONFIG", kubeconfig.as_os_str()),
            ],
            Duration::from_secs(180),
        )
        .await;
        if line.starts_with("kubectl get poolpairs") {
            let table = &stdout;
            assert!(
                table.contains(
                    "pool1.contoso.com   pool2.contoso.com   pool2.contoso.com   pool2.contoso.com"
                ),
                "pool1's users are served by pool2:\n{table}"
            );
        }
        if line.contains(".status.history") {
            let history = &stdout;
            assert_eq!(history.matches("Succeeded").count(), 2, "{history}");
        }
    }
    signal(&sandbox, "-INT");
    let status = tokio::time::timeout(Duration::from_secs(20), sandbox.wait())
        .await
        .expect("the sandbox stops on Ctrl-C")
        .expect("waits");
    assert!(status.success());
    let mut banner = String::new();
    let _ = sandbox
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut banner)
        .await;
    assert!(
        banner.contains("export KUBECONFIG="),
        "the banner shows what to try:\n{banner}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_applies_a_gitops_folder_as_kubectl_would() {
    // A GitOps folder: the namespace, the driver's Secret and its Role beside the sfb-dr
    // objects, and a kind this server does not serve.
    let root = tempfile::tempdir().expect("a directory");
    let folder = root.path().join("gitops");
    std::fs::create_dir(&folder).expect("mkdir");
    let files = [
        ("00-namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sfb-contoso\n  labels: {team: voice}\n".to_owned()),
        ("10-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sfb-dr-ssh\n  namespace: sfb-contoso\nstringData:\n  privateKey: not-a-real-key-2718\n".to_owned()),
        ("20-role.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: sfb-dr-secrets\n  namespace: sfb-contoso\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get]\n".to_owned()),
        ("30-monitor.yaml", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: sfb-dr\n  namespace: sfb-contoso\nspec: {}\n".to_owned()),
        ("50-contoso.yaml", std::fs::read_to_string("examples/contoso.yaml").expect("read")),
    ];
    for (name, text) in &files {
        std::fs::write(folder.join(name), text).expect("write");
    }
    let dir = root.path().join("state");
    let errors = std::fs::File::create(root.path().join("stderr")).expect("a file");
    let mut sandbox = Command::new(e2e::sfb_dr_binary())
        .args([
            "sandbox",
            "--no-operator",
            "--topology",
            "examples/topology.json",
            "--manifests",
        ])
        .arg(&folder)
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(errors)
        .kill_on_drop(true)
        .spawn()
        .expect("the sandbox starts");
    wrote_state(&dir.join("sandbox.json")).await;
    let home = tempfile::tempdir().expect("a home for kubectl's cache");
    let kubeconfig = dir.join("kubeconfig");
    let vars = [
        ("HOME", home.path().as_os_str()),
        ("KUBECONFIG", kubeconfig.as_os_str()),
    ];
    let got = e2e::sh_line(
        "kubectl get -n sfb-contoso secret/sfb-dr-ssh role/sfb-dr-secrets topology/contoso -o name",
        root.path(),
        &vars,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        [
            "secret/sfb-dr-ssh",
            "role.rbac.authorization.k8s.io/sfb-dr-secrets",
            "topology.sfbdr.io/contoso"
        ],
        "{got}"
    );
    let label = e2e::sh_line(
        "kubectl get namespace sfb-contoso -o jsonpath={.metadata.labels.team}",
        root.path(),
        &vars,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(label, "voice", "the Namespace is applied as written");
    signal(&sandbox, "-INT");
    let status = tokio::time::timeout(Duration::from_secs(20), sandbox.wait())
        .await
        .expect("the sandbox stops on Ctrl-C")
        .expect("waits");
    assert!(status.success());
    let said = std::fs::read_to_string(root.path().join("stderr")).expect("stderr");
    let notes: Vec<&str> = said.lines().filter(|l| l.contains("not applied")).collect();
    assert_eq!(notes.len(), 1, "{said}");
    assert!(
        notes[0].contains("30-monitor.yaml: ServiceMonitor sfb-dr not applied"),
        "{said}"
    );
    assert!(notes[0].contains("monitoring.coreos.com/v1"), "{said}");
    assert!(!said.contains("not-a-real-key"), "{said}");
}
